//! The data directory's own settings file, `DATA_DIR/llave.toml`: written by `llave init`
//! (every key commented out) and by `llave demo` (the demo population registry), read by
//! every command below the `--config` file, the environment and the flags. It lets the
//! README's `llave demo && llave serve --dev` give a server that checks the demo registry.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};

/// The settings file's name inside the data directory.
pub const FILE_NAME: &str = "llave.toml";

/// What `llave init` writes: where the settings are documented, and the sections an
/// operator usually sets, commented out.
pub const TEMPLATE: &str = "\
# llave's settings for this data directory. Every key, its default and its environment
# variable (LLAVE_KEY, or LLAVE_SECTION__KEY inside a section) are in docs/operators.md;
# `llave serve --help` lists the sections. A --config file, LLAVE_* variables and flags
# take precedence over this file.

# listen = \"127.0.0.1:8080\"
# issuer = \"https://llave.example.gob.mx\"
# registry = \"file:/etc/llave/registry.json\"
# metrics_listen = \"127.0.0.1:9100\"   # Prometheus /metrics on its own address

# [mail]                       # unset: mail is written to DATA_DIR/outbox/
# smtp_url = \"smtp://mail.example.gob.mx:587?tls=required\"
# from = \"Llave <no-reply@llave.example.gob.mx>\"

# [signature.pkcs11]           # the CA keys on a PKCS#11 token (an HSM)
# module = \"/usr/lib/softhsm/libsofthsm2.so\"
# token_label = \"llave\"
# pin = \"…\"                  # better in LLAVE_SIGNATURE__PKCS11__PIN

# [assurance.remote]           # a remote identity verification provider
# name = \"Verifica Ejemplo\"
# issuer = \"https://verifica.example.com\"
# start_url = \"https://api.verifica.example.com/llave/sessions\"
# jwks_url = \"https://api.verifica.example.com/llave/jwks.json\"
# api_key = \"…\"

# [dev]                        # the development outbox and demo sites; loopback only
# enabled = false
";

pub fn file(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// How `set_registry` left the data directory's settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "registry")]
pub enum RegistrySetting {
    /// The file now names the registry.
    Written,
    /// It already did.
    Unchanged,
    /// It names another registry, which stays.
    Other(String),
}

/// Names `spec` as the population registry in `DATA_DIR/llave.toml`, unless the file
/// already names one. A top-level key goes before any `[section]`, so it is put first.
pub fn set_registry(data_dir: &Path, spec: &str) -> std::io::Result<RegistrySetting> {
    let path = file(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error),
    };
    let current = Figment::from(Toml::string(&text)).extract_inner::<String>("registry").ok();
    match current {
        Some(current) if current == spec => Ok(RegistrySetting::Unchanged),
        Some(current) => Ok(RegistrySetting::Other(current)),
        None => {
            let quoted = serde_json::to_string(spec).map_err(std::io::Error::other)?;
            let line = format!("# The demo population registry, written by `llave demo`.\nregistry = {quoted}\n\n");
            std::fs::write(&path, format!("{line}{text}"))?;
            Ok(RegistrySetting::Written)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_goes_before_any_section_and_is_kept_once_set() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(file(dir.path()), format!("{TEMPLATE}[session]\nidle_minutes = 5\n")).unwrap();
        assert_eq!(set_registry(dir.path(), "file:/tmp/r \"1\".json").unwrap(), RegistrySetting::Written);
        assert_eq!(set_registry(dir.path(), "file:/tmp/r \"1\".json").unwrap(), RegistrySetting::Unchanged);
        assert_eq!(
            set_registry(dir.path(), "file:/other.json").unwrap(),
            RegistrySetting::Other("file:/tmp/r \"1\".json".into())
        );
        let text = std::fs::read_to_string(file(dir.path())).unwrap();
        let figment = Figment::from(Toml::string(&text));
        assert_eq!(figment.extract_inner::<i64>("session.idle_minutes").unwrap(), 5);
    }
}
