//! Why a string is not a valid CURP.

/// What [`Curp::parse`](crate::Curp::parse) found wrong, reported for the
/// first problem in this order: emptiness, length, each position from 1 to
/// 18, the calendar date, the state code, and last the check digit.
///
/// Positions are 1-based, as in RENAPO's documents. The server localises by
/// variant; the `Display` text is plain English for logs and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurpError {
    /// Nothing but whitespace.
    #[error("the CURP is empty")]
    Empty,
    /// Not 18 characters once surrounding whitespace is removed.
    #[error("a CURP has 18 characters, but this one has {found}")]
    Length {
        /// Number of characters (not bytes) after trimming.
        found: usize,
    },
    /// A character that cannot appear at that position at all: a digit
    /// where a letter goes or the reverse, punctuation, `Ñ` (names write it
    /// as `X`), or any non-ASCII character.
    #[error("character {position} ({found:?}) is not allowed there: {}", expected_at(*position))]
    Alphabet {
        /// 1-based position.
        position: usize,
        /// The offending character, after upper-casing.
        found: char,
    },
    /// A letter in positions 1-4 that the name rules cannot produce:
    /// position 2 is the first inner vowel of the first surname, or `X`.
    #[error("{}", name_letters_message(*position))]
    NameLetters {
        /// 1-based position (1-4).
        position: usize,
    },
    /// A vowel in positions 14-16, which hold the first inner consonant of
    /// each name part (or `X`).
    #[error("character {position} must be a consonant (the first inner consonant of a name) or X")]
    InternalConsonants {
        /// 1-based position (14-16).
        position: usize,
    },
    /// Positions 5-10 with the century from position 17 do not form a real
    /// calendar date.
    #[error("the birth date {year:04}-{month:02}-{day:02} does not exist")]
    Date {
        /// Full year: 19YY when position 17 is a digit, 20YY when a letter.
        year: i32,
        /// Month as written (may be out of range).
        month: u32,
        /// Day as written (may be out of range).
        day: u32,
    },
    /// Position 11 is not `H`, `M` or `X`.
    #[error("character 11 must be the sex, H (hombre), M (mujer) or X (non-binary), not {found:?}")]
    Sex {
        /// The character found.
        found: char,
    },
    /// Positions 12-13 are not one of the 32 state codes nor `NE`.
    #[error("{found:?} is not a Mexican state code nor NE (born abroad)")]
    State {
        /// The two characters found.
        found: String,
    },
    /// Position 17 is neither a digit nor a letter.
    #[error("character 17 must be a digit (born before 2000) or a letter (born in 2000 or later), not {found:?}")]
    Differentiator {
        /// The character found.
        found: char,
    },
    /// The check digit does not match the first 17 characters: most often
    /// a typing mistake somewhere in the CURP.
    #[error("the check digit should be {expected}, not {found:?}: the CURP is probably mistyped")]
    CheckDigit {
        /// What the first 17 characters give.
        expected: u8,
        /// What position 18 holds.
        found: char,
    },
}

/// What belongs at a position, for [`CurpError::Alphabet`] messages.
fn expected_at(position: usize) -> &'static str {
    match position {
        1..=4 => "positions 1-4 are letters A-Z from the name (Ñ is written X)",
        5..=10 => "positions 5-10 are the birth date as digits YYMMDD",
        14..=16 => "positions 14-16 are consonants from the name (Ñ is written X)",
        18 => "position 18 is the check digit 0-9",
        _ => "a CURP uses only the letters A-Z and the digits 0-9",
    }
}

fn name_letters_message(position: usize) -> String {
    if position == 2 {
        "character 2 must be a vowel (the first inner vowel of the first surname) or X".to_owned()
    } else {
        format!("character {position} must be a letter from the name")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well() {
        assert_eq!(CurpError::Empty.to_string(), "the CURP is empty");
        assert_eq!(CurpError::Length { found: 17 }.to_string(), "a CURP has 18 characters, but this one has 17");
        assert_eq!(
            CurpError::Alphabet { position: 5, found: 'O' }.to_string(),
            "character 5 ('O') is not allowed there: positions 5-10 are the birth date as digits YYMMDD"
        );
        assert_eq!(
            CurpError::Date { year: 1999, month: 2, day: 30 }.to_string(),
            "the birth date 1999-02-30 does not exist"
        );
        assert_eq!(
            CurpError::CheckDigit { expected: 9, found: '8' }.to_string(),
            "the check digit should be 9, not '8': the CURP is probably mistyped"
        );
        assert_eq!(
            CurpError::State { found: "ZZ".into() }.to_string(),
            "\"ZZ\" is not a Mexican state code nor NE (born abroad)"
        );
        assert!(CurpError::NameLetters { position: 2 }.to_string().contains("vowel"));
    }
}
