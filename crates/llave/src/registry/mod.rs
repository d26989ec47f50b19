//! The population registry: "does this CURP exist, and whose is it?" One interface, two
//! adapters: a local JSON file (demos, tests, a city's own extract) and an HTTP client
//! for a registry web service (contract in docs/registry.md). With none configured,
//! sign-up checks the CURP's own rules alone.

mod file;
mod http;

pub use file::FileRegistry;
pub use http::HttpRegistry;

use async_trait::async_trait;
use curp::{Curp, Person};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the registry could not be reached: {0}")]
    Unavailable(String),
    #[error("the registry answered something unexpected: {0}")]
    BadAnswer(String),
    #[error("the registry configuration is invalid: {0}")]
    Config(String),
}

#[async_trait]
pub trait PopulationRegistry: Send + Sync {
    /// The registered person with this CURP, or None if the registry does not know it.
    async fn lookup(&self, curp: &Curp) -> Result<Option<Person>, RegistryError>;
}

/// Opens the registry named by the configuration: `file:PATH` or an http(s) URL.
pub fn open(spec: &str) -> Result<Box<dyn PopulationRegistry>, RegistryError> {
    if let Some(path) = spec.strip_prefix("file:") {
        Ok(Box::new(FileRegistry::load(std::path::Path::new(path))?))
    } else if spec.starts_with("http://") || spec.starts_with("https://") {
        Ok(Box::new(HttpRegistry::new(spec)?))
    } else {
        Err(RegistryError::Config(format!("expected file:PATH or an http(s) URL, got {spec:?}")))
    }
}

/// A person as the registry contract writes them (JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RegistryRecord {
    pub curp: String,
    pub given_names: String,
    pub first_surname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_surname: Option<String>,
    /// `YYYY-MM-DD`
    pub birth_date: String,
    /// `H`, `M` or `X`
    pub sex: String,
    /// Two-letter state code, `NE` for born abroad.
    pub state: String,
}

impl RegistryRecord {
    pub fn from_person(curp: &Curp, person: &Person) -> RegistryRecord {
        RegistryRecord {
            curp: curp.as_str().to_string(),
            given_names: person.given_names.clone(),
            first_surname: person.first_surname.clone(),
            second_surname: person.second_surname.clone(),
            birth_date: person.birth_date.to_string(),
            sex: person.sex.as_char().to_string(),
            state: person.state.code().to_string(),
        }
    }

    pub fn to_person(&self) -> Result<Person, RegistryError> {
        let bad = |what: &str| RegistryError::BadAnswer(format!("invalid {what} for a registry record"));
        Ok(Person {
            given_names: self.given_names.clone(),
            first_surname: self.first_surname.clone(),
            second_surname: self.second_surname.clone().filter(|s| !s.trim().is_empty()),
            birth_date: curp::Date::parse_iso(&self.birth_date).ok_or_else(|| bad("birth_date"))?,
            sex: curp::Sex::parse(&self.sex).ok_or_else(|| bad("sex"))?,
            state: curp::State::parse(&self.state).ok_or_else(|| bad("state"))?,
        })
    }
}

/// Names compared the way registries write them: case, accents and spacing ignored.
pub fn same_name(a: &str, b: &str) -> bool {
    fold(a) == fold(b)
}

fn fold(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' | 'Á' | 'À' | 'Ä' | 'Â' => 'A',
            'é' | 'è' | 'ë' | 'ê' | 'É' | 'È' | 'Ë' | 'Ê' => 'E',
            'í' | 'ì' | 'ï' | 'î' | 'Í' | 'Ì' | 'Ï' | 'Î' => 'I',
            'ó' | 'ò' | 'ö' | 'ô' | 'Ó' | 'Ò' | 'Ö' | 'Ô' => 'O',
            'ú' | 'ù' | 'ü' | 'û' | 'Ú' | 'Ù' | 'Ü' | 'Û' => 'U',
            'ñ' => 'Ñ',
            other => other.to_uppercase().next().unwrap_or(other),
        })
        .collect()
}

/// Which declared fields disagree with the registry's record.
pub fn disagreements(declared: &Person, registered: &Person) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if !same_name(&declared.given_names, &registered.given_names) {
        fields.push("given_names");
    }
    if !same_name(&declared.first_surname, &registered.first_surname) {
        fields.push("first_surname");
    }
    let second = |p: &Person| p.second_surname.clone().unwrap_or_default();
    if !same_name(&second(declared), &second(registered)) {
        fields.push("second_surname");
    }
    if declared.birth_date != registered.birth_date {
        fields.push("birth_date");
    }
    // Sex and state come from the CURP itself on the sign-up page, so a disagreement there
    // is the CURP's.
    if declared.sex != registered.sex || declared.state != registered.state {
        fields.push("curp");
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_accents_or_case() {
        assert!(same_name("José  Núñez", "JOSE NUÑEZ"));
        assert!(!same_name("José Nuñez", "José Munoz"));
    }
}
