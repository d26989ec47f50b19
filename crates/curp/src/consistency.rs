//! Does a CURP fit the person who presents it? And the reverse: the CURP a
//! person's declared data produce.
//!
//! Only what the rules make computable is compared: name letters
//! (positions 1-4), birth date (5-10 with the century from 17), sex (11),
//! state (12-13) and inner consonants (14-16). The differentiator
//! (position 17) is assigned by RENAPO to tell namesakes apart and cannot
//! be derived from a person's data.

use std::fmt;

use crate::Curp;
use crate::check_digit::check_digit;
use crate::date::{Date, days_in_month};
use crate::name::NameParts;
use crate::sex::Sex;
use crate::state::State;

/// What a person declares about themselves, as on a birth certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Given name or names, e.g. `"María Guadalupe"`.
    pub given_names: String,
    /// First (traditionally the father's) surname, e.g. `"de la Cruz"`.
    pub first_surname: String,
    /// Second surname; `None` or blank when there is none (the CURP then
    /// has `X` in positions 3 and 15).
    pub second_surname: Option<String>,
    /// Date of birth.
    pub birth_date: Date,
    /// Sex.
    pub sex: Sex,
    /// Place of birth.
    pub state: State,
}

impl Person {
    fn name_parts(&self) -> NameParts {
        NameParts::new(&self.first_surname, self.second_surname.as_deref(), &self.given_names)
    }
}

/// One way a CURP disagrees with a person's declared data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// Positions 1-4 are not what the name rules give for the declared
    /// names.
    NameLetters {
        /// What the declared names give.
        expected: String,
        /// What the CURP has.
        found: String,
    },
    /// The CURP's birth date is not the declared one.
    BirthDate,
    /// The CURP's sex is not the declared one.
    Sex,
    /// The CURP's place of birth is not the declared one.
    State,
    /// Positions 14-16 are not what the name rules give.
    InternalConsonants {
        /// What the declared names give.
        expected: String,
        /// What the CURP has.
        found: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::NameLetters { expected, found } => {
                write!(f, "the CURP starts with {found} but the declared names give {expected}")
            }
            Mismatch::BirthDate => f.write_str("the CURP's birth date is not the declared one"),
            Mismatch::Sex => f.write_str("the CURP's sex is not the declared one"),
            Mismatch::State => f.write_str("the CURP's place of birth is not the declared state"),
            Mismatch::InternalConsonants { expected, found } => {
                write!(f, "the CURP's name consonants are {found} but the declared names give {expected}")
            }
        }
    }
}

/// CURP positions 1-4 for a person: first letter and first inner vowel of
/// the first surname, first letter of the second surname (`X` if none),
/// first letter of the given name (the second one after MARÍA or JOSÉ),
/// with the inconvenient-word rule applied. Always 4 characters.
#[must_use]
pub fn expected_name_letters(person: &Person) -> String {
    person.name_parts().letters()
}

/// CURP positions 14-16 for a person: the first inner consonant of the
/// first surname, the second surname and the given name (`X` where there
/// is none; `Ñ` is written `X`). Always 3 characters.
#[must_use]
pub fn expected_internal_consonants(person: &Person) -> String {
    person.name_parts().consonants()
}

/// Compares a CURP with a person's declared data and returns every
/// mismatch found, in position order.
///
/// # Errors
///
/// The list of [`Mismatch`]es, never empty, when anything disagrees.
pub fn check_consistency(curp: &Curp, person: &Person) -> Result<(), Vec<Mismatch>> {
    let mut mismatches = Vec::new();
    let parts = person.name_parts();
    let letters = parts.letters();
    if curp.name_letters() != letters {
        mismatches.push(Mismatch::NameLetters { expected: letters, found: curp.name_letters().to_owned() });
    }
    if curp.birth_date() != person.birth_date {
        mismatches.push(Mismatch::BirthDate);
    }
    if curp.sex() != person.sex {
        mismatches.push(Mismatch::Sex);
    }
    if curp.state() != person.state {
        mismatches.push(Mismatch::State);
    }
    let consonants = parts.consonants();
    if curp.internal_consonants() != consonants {
        mismatches
            .push(Mismatch::InternalConsonants { expected: consonants, found: curp.internal_consonants().to_owned() });
    }
    if mismatches.is_empty() { Ok(()) } else { Err(mismatches) }
}

/// Builds the valid CURP a person's data give, with the given
/// differentiator and a computed check digit.
///
/// The differentiator must be a digit for people born before 2000 and a
/// letter from 2000 on (that is how the century is told); one that does not
/// suit the birth year is replaced by the first that does (`0` or `A`).
///
/// A CURP can only express births from 1900 to 2099. For other years the
/// last two digits are written with the century rule applied to
/// `year >= 2000`, and a 29 February that does not exist in the century
/// the CURP implies (e.g. 1600 read as 1900) is written as the 28th; the
/// result is still a valid CURP, but its birth date will not match.
/// Likewise a hand-built `Date` with an out-of-range month or day is
/// clamped. This function never panics.
#[must_use]
pub fn curp_for(person: &Person, differentiator: char) -> Curp {
    let parts = person.name_parts();
    let Date { year, month, day } = person.birth_date;
    let modern = year >= 2000;
    let yy = year.rem_euclid(100);
    let encoded_year = if modern { 2000 + yy } else { 1900 + yy };
    let month = month.clamp(1, 12);
    let day = day.clamp(1, days_in_month(encoded_year, month));

    let differentiator = differentiator.to_ascii_uppercase();
    let differentiator = match (modern, differentiator) {
        (true, c) if c.is_ascii_uppercase() => c,
        (true, _) => 'A',
        (false, c) if c.is_ascii_digit() => c,
        (false, _) => '0',
    };

    let mut text = format!(
        "{}{yy:02}{month:02}{day:02}{}{}{}{differentiator}",
        parts.letters(),
        person.sex.as_char(),
        person.state.code(),
        parts.consonants(),
    );
    // Every character above comes from A-Z or 0-9, so the dictionary
    // lookup cannot fail; 0 is only a placeholder for the impossible case.
    let check = check_digit(&text).unwrap_or(0);
    text.push(char::from(b'0' + check));

    Curp::from_trusted(text, Date { year: encoded_year, month, day }, person.sex, person.state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(given: &str, first: &str, second: Option<&str>, date: (i32, u32, u32)) -> Person {
        Person {
            given_names: given.into(),
            first_surname: first.into(),
            second_surname: second.map(Into::into),
            birth_date: Date::new(date.0, date.1, date.2).unwrap(),
            sex: Sex::M,
            state: State::CiudadDeMexico,
        }
    }

    #[test]
    fn builds_a_valid_curp() {
        let p = person("María Guadalupe", "de la Cruz", Some("Núñez"), (1987, 4, 9));
        let curp = curp_for(&p, '3');
        assert_eq!(curp.as_str(), Curp::parse(curp.as_str()).unwrap().as_str());
        assert_eq!(&curp.as_str()[..16], "CUNG870409MDFRXD");
        assert_eq!(curp.differentiator(), '3');
        assert_eq!(check_consistency(&curp, &p), Ok(()));
    }

    #[test]
    fn differentiator_follows_the_century() {
        let old = person("Ana", "Ruiz", None, (1999, 12, 31));
        assert_eq!(curp_for(&old, 'B').differentiator(), '0');
        assert_eq!(curp_for(&old, '7').differentiator(), '7');
        let new = person("Ana", "Ruiz", None, (2000, 2, 29));
        assert_eq!(curp_for(&new, '7').differentiator(), 'A');
        assert_eq!(curp_for(&new, 'q').differentiator(), 'Q');
        assert_eq!(curp_for(&new, 'Ñ').differentiator(), 'A');
        assert_eq!(curp_for(&new, 'q').birth_date(), new.birth_date);
    }

    #[test]
    fn reports_every_mismatch() {
        let p = person("Juan", "Pérez", Some("López"), (1990, 1, 15));
        let curp = curp_for(&p, '0');
        let other = Person {
            given_names: "Pedro".into(),
            first_surname: "Pérez".into(),
            second_surname: Some("López".into()),
            birth_date: Date::new(1990, 1, 16).unwrap(),
            sex: Sex::H,
            state: State::Jalisco,
        };
        assert_eq!(
            check_consistency(&curp, &other),
            Err(vec![
                Mismatch::NameLetters { expected: "PELP".into(), found: "PELJ".into() },
                Mismatch::BirthDate,
                Mismatch::Sex,
                Mismatch::State,
                Mismatch::InternalConsonants { expected: "RPD".into(), found: "RPN".into() },
            ])
        );
    }

    #[test]
    fn odd_people_never_panic() {
        let mut p = person("", "", None, (1600, 2, 29));
        p.birth_date = Date { year: i32::MIN, month: 99, day: 0 };
        for d in ['0', 'A', 'ñ', '💥'] {
            let curp = curp_for(&p, d);
            assert!(Curp::parse(curp.as_str()).is_ok(), "{curp}");
        }
        let p = person("José", "Lütke-Ábrego", Some("O'Neil"), (1600, 2, 29));
        let curp = curp_for(&p, '0');
        assert_eq!(&curp.as_str()[4..10], "000228");
        assert!(Curp::parse(curp.as_str()).is_ok());
        let p = person("名", "山田", Some("Ωμέγα"), (2010, 1, 1));
        assert!(Curp::parse(curp_for(&p, 'Z').as_str()).is_ok());
    }
}
