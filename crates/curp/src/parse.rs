//! Turning untrusted text into a [`Curp`](crate::Curp): normalisation, then
//! validation in a fixed order so each kind of mistake gets one precise
//! error (see [`CurpError`]).
//!
//! Layout (RENAPO, *Instructivo normativo para la asignación de la CURP*):
//!
//! | positions | content                                                |
//! |-----------|--------------------------------------------------------|
//! | 1-4       | name letters; 2 is a vowel or `X`                      |
//! | 5-10      | birth date `YYMMDD`                                    |
//! | 11        | sex `H`, `M` or `X`                                    |
//! | 12-13     | state code or `NE`                                     |
//! | 14-16     | inner consonants of the names, or `X`                  |
//! | 17        | differentiator: digit before 2000, letter from 2000 on |
//! | 18        | check digit                                            |

use crate::check_digit::check_digit;
use crate::date::{Date, digits};
use crate::error::CurpError;
use crate::name::{is_consonant, is_vowel};
use crate::sex::Sex;
use crate::state::State;

/// The parts of a CURP that have a type of their own, decoded once.
pub(crate) struct Parsed {
    pub(crate) text: String,
    pub(crate) birth_date: Date,
    pub(crate) sex: Sex,
    pub(crate) state: State,
}

/// Upper-cases one character without changing the character count, so
/// positions in errors match what the user typed. ASCII and `ñ` are what
/// matter; other characters are upper-cased only when that gives a single
/// character (for readable errors) and are refused later anyway.
fn upper(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Checks one character against what its 1-based position allows.
fn check_position(position: usize, c: char, chars: &[char]) -> Result<(), CurpError> {
    let alphabet = || CurpError::Alphabet { position, found: c };
    // Ñ is in the check-digit dictionary but never in a CURP: the name
    // rules write it as X. Refuse it by name wherever it appears.
    if c == 'Ñ' {
        return Err(alphabet());
    }
    match position {
        2 if c.is_ascii_uppercase() && !(is_vowel(c) || c == 'X') => Err(CurpError::NameLetters { position }),
        1..=4 if !c.is_ascii_uppercase() => Err(alphabet()),
        5..=10 | 18 if !c.is_ascii_digit() => Err(alphabet()),
        11 if Sex::from_char(c).is_none() => Err(CurpError::Sex { found: c }),
        12 | 13 if !c.is_ascii_uppercase() => {
            Err(CurpError::State { found: chars.get(11..13).unwrap_or_default().iter().collect() })
        }
        14..=16 if !c.is_ascii_uppercase() => Err(alphabet()),
        14..=16 if !(is_consonant(c) || c == 'X') => Err(CurpError::InternalConsonants { position }),
        17 if !(c.is_ascii_uppercase() || c.is_ascii_digit()) => Err(CurpError::Differentiator { found: c }),
        _ => Ok(()),
    }
}

/// Validates `input` as a CURP. See [`CurpError`] for the order of checks.
pub(crate) fn parse(input: &str) -> Result<Parsed, CurpError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(CurpError::Empty);
    }
    // Count before collecting so a huge input costs one pass and no
    // allocation.
    let found = trimmed.chars().count();
    if found != 18 {
        return Err(CurpError::Length { found });
    }
    let chars: Vec<char> = trimmed.chars().map(upper).collect();
    for (i, &c) in chars.iter().enumerate() {
        check_position(i + 1, c, &chars)?;
    }
    // Every character is now ASCII (Ñ and everything else non-ASCII was
    // refused above), so byte offsets below are character offsets.
    let text: String = chars.iter().collect();
    let bytes = text.as_bytes();

    // Positions 5-10 are YYMMDD; the century is not written, but the
    // differentiator (position 17) is a digit for people born before 2000
    // and a letter from 2000 on, which fixes it.
    let yy = digits(&bytes[4..6]).unwrap_or(0);
    let month = digits(&bytes[6..8]).unwrap_or(0);
    let day = digits(&bytes[8..10]).unwrap_or(0);
    let century = if bytes[16].is_ascii_digit() { 1900 } else { 2000 };
    let year = century + i32::try_from(yy).unwrap_or(0);
    let birth_date = Date::new(year, month, day).ok_or(CurpError::Date { year, month, day })?;

    let code = &text[11..13];
    let state = State::parse(code).ok_or_else(|| CurpError::State { found: code.to_owned() })?;

    let sex = Sex::from_char(chars[10]).ok_or(CurpError::Sex { found: chars[10] })?;

    // Last, so that a CURP whose only fault is the check digit says so.
    let expected = check_digit(&text[..17]).unwrap_or(u8::MAX);
    let found_check = chars[17];
    if u32::from(expected) != found_check.to_digit(10).unwrap_or(u32::MAX) {
        return Err(CurpError::CheckDigit { expected, found: found_check });
    }

    Ok(Parsed { text, birth_date, sex, state })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &str) -> CurpError {
        match parse(input) {
            Ok(_) => panic!("{input:?} should be refused"),
            Err(e) => e,
        }
    }

    #[test]
    fn accepts_published_example() {
        let p = parse("BOXW310820HNERXN09").unwrap();
        assert_eq!(p.text, "BOXW310820HNERXN09");
        assert_eq!(p.birth_date, Date::new(1931, 8, 20).unwrap());
        assert_eq!(p.sex, Sex::H);
        assert_eq!(p.state, State::NacidoEnElExtranjero);
    }

    #[test]
    fn empty_and_length() {
        assert_eq!(err(""), CurpError::Empty);
        assert_eq!(err(" \t\n "), CurpError::Empty);
        assert_eq!(err("BOXW310820HNERXN0"), CurpError::Length { found: 17 });
        assert_eq!(err("BOXW310820HNERXN091"), CurpError::Length { found: 19 });
        // Characters, not bytes: 18 accented letters are 36 bytes.
        assert_eq!(err(&"É".repeat(19)), CurpError::Length { found: 19 });
    }

    #[test]
    fn per_position_errors() {
        assert_eq!(err("1OXW310820HNERXN09"), CurpError::Alphabet { position: 1, found: '1' });
        assert_eq!(err("BBXW310820HNERXN09"), CurpError::NameLetters { position: 2 });
        assert_eq!(err("BOXÑ310820HNERXN09"), CurpError::Alphabet { position: 4, found: 'Ñ' });
        assert_eq!(err("BOXW3I0820HNERXN09"), CurpError::Alphabet { position: 6, found: 'I' });
        assert_eq!(err("BOXW310820FNERXN09"), CurpError::Sex { found: 'F' });
        assert_eq!(err("BOXW310820HN3RXN09"), CurpError::State { found: "N3".into() });
        assert_eq!(err("BOXW310820HNEAXN09"), CurpError::InternalConsonants { position: 14 });
        assert_eq!(err("BOXW310820HNER2N09"), CurpError::Alphabet { position: 15, found: '2' });
        assert_eq!(err("BOXW310820HNERXN-9"), CurpError::Differentiator { found: '-' });
        assert_eq!(err("BOXW310820HNERXN0A"), CurpError::Alphabet { position: 18, found: 'A' });
    }

    #[test]
    fn first_error_wins() {
        // Position 1 is checked before the bad sex at 11.
        assert_eq!(err("1OXW310820ZNERXN09"), CurpError::Alphabet { position: 1, found: '1' });
    }
}
