//! A registry read from a JSON file: an array of records (see docs/registry.md).
//! `llave demo` writes one into the data directory.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;
use curp::{Curp, Person};

use super::{PopulationRegistry, RegistryError, RegistryRecord};

pub struct FileRegistry {
    people: HashMap<String, Person>,
}

impl FileRegistry {
    pub fn load(path: &Path) -> Result<FileRegistry, RegistryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RegistryError::Config(format!("cannot read {}: {e}", path.display())))?;
        let records: Vec<RegistryRecord> = serde_json::from_str(&text)
            .map_err(|e| RegistryError::Config(format!("{} is not a registry file: {e}", path.display())))?;
        FileRegistry::from_records(&records)
    }

    pub fn from_records(records: &[RegistryRecord]) -> Result<FileRegistry, RegistryError> {
        let mut people = HashMap::with_capacity(records.len());
        for record in records {
            let curp = Curp::parse(&record.curp)
                .map_err(|e| RegistryError::Config(format!("registry record {}: {e}", record.curp)))?;
            people.insert(curp.as_str().to_string(), record.to_person()?);
        }
        Ok(FileRegistry { people })
    }

    /// Writes records as a registry file.
    pub fn write(path: &Path, records: &[RegistryRecord]) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(records).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }
}

#[async_trait]
impl PopulationRegistry for FileRegistry {
    async fn lookup(&self, curp: &Curp) -> Result<Option<Person>, RegistryError> {
        Ok(self.people.get(curp.as_str()).cloned())
    }
}
