//! `LLAVE_*` environment variables as a configuration source. figment's own `Env` provider
//! guesses each value's type from its text, so `LLAVE_SIGNATURE__PKCS11__PIN=1234` became
//! the number 1234 and a string setting refused it. Here a scalar value stays the text it
//! was given; the numeric and boolean settings are read from that text when the
//! configuration is extracted (`Figment::extract_lossy`). Lists and tables written inline
//! (`LLAVE_RECORDS__HOLIDAYS=[2026-12-24]`) are still parsed.

use figment::Figment;
use figment::providers::{Env, Serialized};
use figment::value::Value;

/// The variables' names that are not configuration keys: the config file's path, the log
/// filter, the test suite's settings.
fn is_setting(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    !matches!(key.as_str(), "config" | "log") && !key.starts_with("test_")
}

/// Merges every `LLAVE_*` setting (nested keys with `__`) into `figment`.
pub(super) fn merge(mut figment: Figment) -> Figment {
    let env = Env::prefixed("LLAVE_").filter(|key| is_setting(key.as_str())).split("__");
    for (key, text) in env.iter() {
        figment = figment.merge(Serialized::default(key.as_str(), as_value(&text)));
    }
    figment
}

/// Text as text; only a list or a table is read as structured data.
fn as_value(text: &str) -> Value {
    match text.parse::<Value>() {
        Ok(value @ (Value::Array(..) | Value::Dict(..))) => value,
        _ => Value::from(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, Overrides};

    /// Every string setting docs/operators.md documents as an environment variable.
    const STRING_SETTINGS: &[&str] = &[
        "LLAVE_DATABASE_URL",
        "LLAVE_ISSUER",
        "LLAVE_DATA_DIR",
        "LLAVE_KEK_FILE",
        "LLAVE_REGISTRY",
        "LLAVE_TIME_ZONE",
        "LLAVE_MAIL__SMTP_URL",
        "LLAVE_MAIL__FROM",
        "LLAVE_SIGNATURE__HUB_NAME",
        "LLAVE_SIGNATURE__PKCS11__MODULE",
        "LLAVE_SIGNATURE__PKCS11__TOKEN_LABEL",
        "LLAVE_SIGNATURE__PKCS11__PIN",
        "LLAVE_ASSURANCE__REMOTE__NAME",
        "LLAVE_ASSURANCE__REMOTE__ISSUER",
        "LLAVE_ASSURANCE__REMOTE__API_KEY",
    ];

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn string_settings_take_digits_only_values_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            for (n, name) in STRING_SETTINGS.iter().enumerate() {
                jail.set_env(name, format!("0{}", 1234 + n));
            }
            // The two URLs must be https; they are strings all the same.
            jail.set_env("LLAVE_ASSURANCE__REMOTE__START_URL", "https://verifica.example/sessions");
            jail.set_env("LLAVE_ASSURANCE__REMOTE__JWKS_URL", "https://verifica.example/jwks.json");
            let config = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            let value = |name: &str| format!("0{}", 1234 + STRING_SETTINGS.iter().position(|n| *n == name).unwrap());
            assert_eq!(config.database_url.as_deref(), Some(value("LLAVE_DATABASE_URL").as_str()));
            assert_eq!(config.issuer.as_deref(), Some(value("LLAVE_ISSUER").as_str()));
            assert_eq!(config.data_dir, Path::new(&value("LLAVE_DATA_DIR")));
            assert_eq!(config.kek_file.as_deref(), Some(Path::new(&value("LLAVE_KEK_FILE"))));
            assert_eq!(config.registry.as_deref(), Some(value("LLAVE_REGISTRY").as_str()));
            assert_eq!(config.mail.smtp_url.as_deref(), Some(value("LLAVE_MAIL__SMTP_URL").as_str()));
            assert_eq!(config.mail.from, value("LLAVE_MAIL__FROM"));
            assert_eq!(config.signature.hub_name, value("LLAVE_SIGNATURE__HUB_NAME"));
            let pkcs11 = config.signature.pkcs11.expect("the token's settings");
            assert_eq!(pkcs11.module, Path::new(&value("LLAVE_SIGNATURE__PKCS11__MODULE")));
            assert_eq!(pkcs11.token_label, value("LLAVE_SIGNATURE__PKCS11__TOKEN_LABEL"));
            assert_eq!(pkcs11.pin, value("LLAVE_SIGNATURE__PKCS11__PIN"), "the leading zero is kept");
            let remote = config.assurance.remote.expect("the provider's settings");
            assert_eq!(remote.name, value("LLAVE_ASSURANCE__REMOTE__NAME"));
            assert_eq!(remote.issuer, value("LLAVE_ASSURANCE__REMOTE__ISSUER"));
            assert_eq!(remote.api_key, value("LLAVE_ASSURANCE__REMOTE__API_KEY"));
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn no_documented_variable_is_refused_for_being_digits_where_text_is_expected() {
        let documented: std::collections::BTreeSet<String> = include_str!("../../../../docs/operators.md")
            .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .filter(|word| word.starts_with("LLAVE_") && !word.ends_with('_'))
            .map(str::to_string)
            .collect();
        assert!(documented.len() > 30, "{documented:?}");
        for name in STRING_SETTINGS {
            assert!(documented.contains(*name), "{name} is documented in docs/operators.md");
        }
        for name in &documented {
            figment::Jail::expect_with(|jail| {
                jail.set_env(name, "0123");
                if let Err(error) = Config::load(None, &Overrides::default()) {
                    let error = error.to_string();
                    assert!(!error.contains("expected a string"), "{name}=0123: {error}");
                }
                Ok(())
            });
        }
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn numbers_flags_and_lists_are_still_read_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LLAVE_SIGNATURE__PKCS11__PIN", "1234");
            jail.set_env("LLAVE_SIGNATURE__PKCS11__MODULE", "/usr/lib/softhsm/libsofthsm2.so");
            jail.set_env("LLAVE_SIGNATURE__PKCS11__TOKEN_LABEL", "llave");
            jail.set_env("LLAVE_SESSION__IDLE_MINUTES", "7");
            jail.set_env("LLAVE_PASSWORD__MAX_CONCURRENT_HASHES", "3");
            jail.set_env("LLAVE_TRUST_FORWARDED_FOR", "true");
            jail.set_env("LLAVE_RECORDS__HOLIDAYS", "[\"2026-12-24\", \"2026-12-31\"]");
            let config = Config::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.signature.pkcs11.map(|p| p.pin).as_deref(), Some("1234"));
            assert_eq!(config.session.idle_minutes, 7);
            assert_eq!(config.password.max_concurrent_hashes, Some(3));
            assert!(config.trust_forwarded_for);
            assert_eq!(config.records.holidays, ["2026-12-24", "2026-12-31"]);
            jail.set_env("LLAVE_SESSION__IDLE_MINUTES", "seven");
            assert!(Config::load(None, &Overrides::default()).is_err(), "a number setting still wants a number");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn the_database_replica_is_a_setting_that_needs_postgres() {
        // A file, not variables: other tests load the configuration from the environment
        // at the same time.
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "pg.toml",
                "database_url = \"postgres://db.example/llave\"\ndatabase_replica = \"postgres://replica.example/llave\"",
            )?;
            let config = Config::load(Some(Path::new("pg.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(config.database_replica.as_deref(), Some("postgres://replica.example/llave"));
            jail.create_file("lite.toml", "database_replica = \"postgres://replica.example/llave\"")?;
            let error = Config::load(Some(Path::new("lite.toml")), &Overrides::default())
                .expect_err("refused with SQLite")
                .to_string();
            assert!(error.contains("LLAVE_DATABASE_REPLICA") && error.contains("SQLite"), "{error}");
            Ok(())
        });
    }
}
