//! A registry web service: `GET {base}/curp/{CURP}` answers 200 with a JSON record or 404
//! (docs/registry.md). Anything else, or no answer within 5 seconds, is "unavailable":
//! sign-up then asks the person to try later rather than letting an unchecked CURP in.

use std::time::Duration;

use async_trait::async_trait;
use curp::{Curp, Person};

use super::{PopulationRegistry, RegistryError, RegistryRecord};

pub struct HttpRegistry {
    base: String,
    client: reqwest::Client,
}

impl HttpRegistry {
    pub fn new(base: &str) -> Result<HttpRegistry, RegistryError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| RegistryError::Config(e.to_string()))?;
        Ok(HttpRegistry { base: base.trim_end_matches('/').to_string(), client })
    }
}

#[async_trait]
impl PopulationRegistry for HttpRegistry {
    async fn lookup(&self, curp: &Curp) -> Result<Option<Person>, RegistryError> {
        let url = format!("{}/curp/{}", self.base, curp.as_str());
        let response = self
            .client
            .get(&url)
            .send()
            .await // Without the URL: it holds the CURP, and this error is logged.
            .map_err(|e| RegistryError::Unavailable(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200 => {
                let record: RegistryRecord =
                    response.json().await.map_err(|e| RegistryError::BadAnswer(e.without_url().to_string()))?;
                if record.curp.trim().to_ascii_uppercase() != curp.as_str() {
                    return Err(RegistryError::BadAnswer("the record is for another CURP".into()));
                }
                Ok(Some(record.to_person()?))
            }
            404 => Ok(None),
            status => Err(RegistryError::Unavailable(format!("status {status}"))),
        }
    }
}
