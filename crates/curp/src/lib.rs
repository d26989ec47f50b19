//! Mexico's CURP (*Clave Única de Registro de Población*), the 18-character
//! population registry code every resident has.
//!
//! This crate is for systems that key people by CURP and must not trust
//! what they are typed: it parses and validates a CURP (shape, real birth
//! date, state code, check digit), exposes what the code says about its
//! holder, checks it against the data a person declares (names, birth
//! date, sex, state) with RENAPO's name rules, builds the CURP a person's
//! data give, and generates realistic synthetic people for tests and
//! demos.
//!
//! The rules follow RENAPO's *Instructivo normativo para la asignación de
//! la Clave Única de Registro de Población* (DOF 18/10/2021).
//!
//! It is a pure library: no I/O, and no input makes it panic.
//!
//! ```
//! use curp::{Curp, CurpError, State};
//!
//! let curp = Curp::parse(" boxw310820hnerxn09 ")?;
//! assert_eq!(curp.as_str(), "BOXW310820HNERXN09");
//! assert_eq!(curp.birth_date().to_string(), "1931-08-20");
//! assert_eq!(curp.state(), State::NacidoEnElExtranjero);
//! assert_eq!(format!("{curp:?}"), "Curp(\"BOXW************09\")");
//!
//! assert_eq!(
//!     Curp::parse("BOXW310820HNERXN08"),
//!     Err(CurpError::CheckDigit { expected: 9, found: '8' })
//! );
//! # Ok::<(), CurpError>(())
//! ```

mod check_digit;
mod consistency;
mod date;
mod error;
mod name;
mod parse;
mod sex;
mod state;
pub mod synth;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

pub use check_digit::check_digit;
pub use consistency::{
    Mismatch, Person, check_consistency, curp_for, expected_internal_consonants, expected_name_letters,
};
pub use date::Date;
pub use error::CurpError;
pub use sex::Sex;
pub use state::State;
pub use synth::Synth;

/// A valid CURP: always 18 upper-case ASCII characters that pass every
/// check in [`Curp::parse`].
///
/// CURPs are personal data: `Debug` prints the [masked](Curp::masked) form
/// so that logs of structures holding one do not leak it. `Display` prints
/// it in full.
#[derive(Clone)]
pub struct Curp {
    text: String,
    // Decoded once at parse time; all are functions of `text`, which alone
    // decides equality, order and hashing.
    birth_date: Date,
    sex: Sex,
    state: State,
}

impl Curp {
    /// Validates and normalises a CURP.
    ///
    /// Surrounding whitespace is removed and letters are upper-cased
    /// (`ñ` too, though `Ñ` is then refused: CURPs write it as `X`). Errors
    /// come in a fixed order, first one wins: [`CurpError::Empty`],
    /// [`CurpError::Length`], then each position 1 to 18 for the kind of
    /// character it holds, then the calendar date, the state code, and the
    /// check digit last.
    ///
    /// # Errors
    ///
    /// A [`CurpError`] naming the first problem found.
    pub fn parse(input: &str) -> Result<Curp, CurpError> {
        parse::parse(input).map(|p| Curp { text: p.text, birth_date: p.birth_date, sex: p.sex, state: p.state })
    }

    /// For [`curp_for`], which builds every part valid by construction.
    pub(crate) fn from_trusted(text: String, birth_date: Date, sex: Sex, state: State) -> Curp {
        Curp { text, birth_date, sex, state }
    }

    /// Characters `start..end` (0-based); all ASCII, so byte offsets are
    /// character offsets.
    fn part(&self, start: usize, end: usize) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn char_at(&self, index: usize) -> char {
        self.text.as_bytes().get(index).map_or('0', |&b| char::from(b))
    }

    /// The whole normalised CURP.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Positions 1-4, the letters from the holder's names.
    #[must_use]
    pub fn name_letters(&self) -> &str {
        self.part(0, 4)
    }

    /// Birth date: positions 5-10 (`YYMMDD`), in 19YY when the
    /// differentiator is a digit and 20YY when it is a letter.
    #[must_use]
    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// Position 11.
    #[must_use]
    pub fn sex(&self) -> Sex {
        self.sex
    }

    /// Positions 12-13, place of birth.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// Positions 14-16, the first inner consonants of the first surname,
    /// second surname and given name.
    #[must_use]
    pub fn internal_consonants(&self) -> &str {
        self.part(13, 16)
    }

    /// Position 17, assigned by RENAPO to tell namesakes apart: a digit for
    /// people born before 2000, a letter from 2000 on.
    #[must_use]
    pub fn differentiator(&self) -> char {
        self.char_at(16)
    }

    /// Position 18, the check digit (0-9).
    #[must_use]
    pub fn check_digit(&self) -> u8 {
        self.text.as_bytes().get(17).map_or(0, |b| b.wrapping_sub(b'0'))
    }

    /// The CURP with everything but the name letters and the last two
    /// characters hidden: 4 visible, 12 `*`, 2 visible, e.g.
    /// `"BOXW************09"`. Enough for a person to recognise their own
    /// CURP on screen, not enough to reveal their birth date or state.
    #[must_use]
    pub fn masked(&self) -> String {
        format!("{}{}{}", self.part(0, 4), "*".repeat(12), self.part(16, 18))
    }
}

impl fmt::Display for Curp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Masked: a CURP reveals name initials, birth date, sex and birthplace.
impl fmt::Debug for Curp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Curp").field(&self.masked()).finish()
    }
}

impl PartialEq for Curp {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Curp {}

impl Hash for Curp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for Curp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Curp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl FromStr for Curp {
    type Err = CurpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Curp::parse(s)
    }
}

impl AsRef<str> for Curp {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let curp = Curp::parse("TUAZ040213MCLRLFA7").unwrap();
        assert_eq!(curp.name_letters(), "TUAZ");
        assert_eq!(curp.birth_date(), Date::new(2004, 2, 13).unwrap());
        assert_eq!(curp.sex(), Sex::M);
        assert_eq!(curp.state(), State::Coahuila);
        assert_eq!(curp.internal_consonants(), "RLF");
        assert_eq!(curp.differentiator(), 'A');
        assert_eq!(curp.check_digit(), 7);
        assert_eq!(curp.masked(), "TUAZ************A7");
        assert_eq!(curp.masked().len(), 18);
        assert_eq!(curp.to_string(), "TUAZ040213MCLRLFA7");
        assert_eq!(format!("{curp:?}"), "Curp(\"TUAZ************A7\")");
        assert_eq!("TUAZ040213MCLRLFA7".parse::<Curp>(), Ok(curp));
    }

    #[test]
    fn normalises_case_and_whitespace() {
        let curp = Curp::parse("\t tuaz040213mclrlfa7 \n").unwrap();
        assert_eq!(curp.as_str(), "TUAZ040213MCLRLFA7");
        assert_eq!(Curp::parse("TuAz040213mClRlFa7"), Ok(curp));
    }
}
