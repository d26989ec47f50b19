//! Parsing what people type into validated values: names and e-mail addresses. Past this
//! point nothing re-checks a string.

use super::Problem;

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_CHARS: usize = 254;

/// A personal name or surname: letters (any alphabet, accents, Ñ), spaces, apostrophes,
/// hyphens and periods; 1 to 100 characters; inner spaces collapsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(field: &'static str, input: &str) -> Result<Name, Problem> {
        let collapsed = input.split_whitespace().collect::<Vec<_>>().join(" ");
        if collapsed.is_empty() {
            return Err(Problem::new(field, "field-required"));
        }
        if collapsed.chars().count() > MAX_NAME_CHARS {
            return Err(Problem::new(field, "field-too-long").with("max", MAX_NAME_CHARS));
        }
        if !collapsed.chars().any(char::is_alphabetic)
            || collapsed.chars().any(|c| !(c.is_alphabetic() || matches!(c, ' ' | '\'' | '-' | '.' | '´')))
        {
            return Err(Problem::new(field, "name-invalid"));
        }
        Ok(Name(collapsed))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address (RFC 5321 size limits, syntax checked by `lettre`); compared
/// case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    address: String,
    normalized: String,
}

impl Email {
    pub fn parse(field: &'static str, input: &str) -> Result<Email, Problem> {
        let address = input.trim();
        if address.is_empty() {
            return Err(Problem::new(field, "field-required"));
        }
        if address.chars().count() > MAX_EMAIL_CHARS {
            return Err(Problem::new(field, "field-too-long").with("max", MAX_EMAIL_CHARS));
        }
        match address.parse::<lettre::Address>() {
            Ok(_) => Ok(Email { address: address.to_string(), normalized: address.to_lowercase() }),
            Err(_) => Err(Problem::new(field, "email-invalid")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.address
    }

    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// The message key (and arguments) for a CURP the rules refuse.
pub fn curp_problem(field: &'static str, error: &curp::CurpError) -> Problem {
    use curp::CurpError as E;
    match error {
        E::Empty => Problem::new(field, "field-required"),
        E::Length { found } => Problem::new(field, "curp-length").with("found", found),
        E::Alphabet { position, found } => {
            Problem::new(field, "curp-alphabet").with("position", position).with("found", found)
        }
        E::NameLetters { position } => Problem::new(field, "curp-name-letters").with("position", position),
        E::InternalConsonants { position } => {
            Problem::new(field, "curp-internal-consonants").with("position", position)
        }
        E::Date { .. } => Problem::new(field, "curp-date"),
        E::Sex { found } => Problem::new(field, "curp-sex").with("found", found),
        E::State { found } => Problem::new(field, "curp-state").with("found", found),
        E::Differentiator { found } => Problem::new(field, "curp-differentiator").with("found", found),
        E::CheckDigit { .. } => Problem::new(field, "curp-check-digit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_accents_and_particles() {
        assert_eq!(Name::parse("n", "  María   de los Ángeles ").unwrap().as_str(), "María de los Ángeles");
        assert_eq!(Name::parse("n", "O'Connor-Núñez").unwrap().as_str(), "O'Connor-Núñez");
        assert_eq!(Name::parse("n", "").unwrap_err().key, "field-required");
        assert_eq!(Name::parse("n", "Robert'); DROP TABLE accounts;--").unwrap_err().key, "name-invalid");
        assert_eq!(Name::parse("n", &"a".repeat(101)).unwrap_err().key, "field-too-long");
        assert_eq!(Name::parse("n", "R2D2").unwrap_err().key, "name-invalid");
    }

    #[test]
    fn emails_are_checked_and_normalised() {
        let email = Email::parse("e", " Ana.Lopez@Example.MX ").unwrap();
        assert_eq!(email.as_str(), "Ana.Lopez@Example.MX");
        assert_eq!(email.normalized(), "ana.lopez@example.mx");
        assert_eq!(Email::parse("e", "no-at-sign").unwrap_err().key, "email-invalid");
        assert_eq!(Email::parse("e", "a@b c").unwrap_err().key, "email-invalid");
    }
}
