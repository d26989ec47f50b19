//! Sex (CURP position 11).

use std::fmt;

/// The sex recorded in a CURP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sex {
    /// *Hombre* (man).
    H,
    /// *Mujer* (woman).
    M,
    /// Non-binary: RENAPO has issued CURPs with `X` since 2023.
    X,
}

impl Sex {
    /// Parses `"H"`, `"M"` or `"X"`; lower case and surrounding whitespace
    /// are accepted.
    ///
    /// ```
    /// use curp::Sex;
    /// assert_eq!(Sex::parse("m"), Some(Sex::M));
    /// assert_eq!(Sex::parse("F"), None);
    /// ```
    #[must_use]
    pub fn parse(text: &str) -> Option<Sex> {
        let mut chars = text.trim().chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Sex::from_char(c.to_ascii_uppercase()),
            _ => None,
        }
    }

    /// The letter written in the CURP.
    #[must_use]
    pub fn as_char(self) -> char {
        match self {
            Sex::H => 'H',
            Sex::M => 'M',
            Sex::X => 'X',
        }
    }

    pub(crate) fn from_char(c: char) -> Option<Sex> {
        match c {
            'H' => Some(Sex::H),
            'M' => Some(Sex::M),
            'X' => Some(Sex::X),
            _ => None,
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(Sex::parse("H"), Some(Sex::H));
        assert_eq!(Sex::parse(" x "), Some(Sex::X));
        assert_eq!(Sex::parse("HM"), None);
        assert_eq!(Sex::parse(""), None);
        assert_eq!(Sex::parse("F"), None);
        for s in [Sex::H, Sex::M, Sex::X] {
            assert_eq!(Sex::parse(&s.to_string()), Some(s));
        }
    }
}
