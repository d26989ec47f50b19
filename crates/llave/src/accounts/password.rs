//! Passwords, per NIST SP 800-63B §3.1.1: at least 8 characters, up to 256, any characters
//! (compared exactly as typed), no composition
//! rules, refused when common (a blocklist) or built from the person's own data (CURP,
//! names, e-mail). Stored as Argon2id with OWASP's parameters, hashed on the blocking pool
//! with a bounded number at once so a burst of sign-ins cannot exhaust memory.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 256;

/// Why a new password is refused; each has its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    Empty,
    TooShort,
    TooLong,
    Common,
    PersonalData,
}

impl PasswordProblem {
    pub fn message_key(self) -> &'static str {
        match self {
            PasswordProblem::Empty => "password-empty",
            PasswordProblem::TooShort => "password-too-short",
            PasswordProblem::TooLong => "password-too-long",
            PasswordProblem::Common => "password-common",
            PasswordProblem::PersonalData => "password-personal",
        }
    }
}

fn blocklist() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common-passwords.txt").lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect()
    })
}

/// Checks a new password; `personal` holds the person's CURP, names and e-mail.
pub fn check_new_password(password: &str, personal: &[&str]) -> Result<(), PasswordProblem> {
    let length = password.chars().count();
    if length == 0 {
        return Err(PasswordProblem::Empty);
    }
    if length < MIN_LENGTH {
        return Err(PasswordProblem::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PasswordProblem::TooLong);
    }
    let lowered = password.to_lowercase();
    if blocklist().contains(lowered.as_str()) {
        return Err(PasswordProblem::Common);
    }
    // A common password with a digit or two appended ("password12") is no better.
    let stem = lowered.trim_end_matches(|c: char| c.is_ascii_digit() || c == '!');
    if stem.len() >= 6 && blocklist().contains(stem) {
        return Err(PasswordProblem::Common);
    }
    let compact: String = lowered.chars().filter(|c| c.is_alphanumeric()).collect();
    for item in personal {
        let item: String = item.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect();
        if item.chars().count() >= 4 && (compact.contains(&item) || (compact.len() >= 4 && item.contains(&compact))) {
            return Err(PasswordProblem::PersonalData);
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Argon2id hashing and verification with bounded concurrency.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    /// Verified against when the account does not exist, so an unknown account costs the
    /// same time as a wrong password.
    dummy_hash: Arc<OnceLock<String>>,
}

impl Passwords {
    pub fn new(config: &PasswordConfig) -> Result<Passwords, HashError> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
            .map_err(|e| HashError::Hash(e.to_string()))?;
        let permits = config
            .max_concurrent_hashes
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
            .max(1);
        Ok(Passwords { params, permits: Arc::new(Semaphore::new(permits)), dummy_hash: Arc::new(OnceLock::new()) })
    }

    fn hasher(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// The PHC string (`$argon2id$v=19$m=…`) for a password.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let _permit = self.permits.acquire().await.map_err(|e| HashError::Hash(e.to_string()))?;
        let params = self.params.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || hash_blocking(params, &password))
            .await
            .map_err(|e| HashError::Hash(e.to_string()))?
    }

    /// True if `password` matches `stored`. `stored` None means "no such account": the
    /// work is done anyway against a dummy hash and the answer is false.
    pub async fn verify(&self, stored: Option<&str>, password: &str) -> Result<bool, HashError> {
        let exists = stored.is_some();
        let stored = match stored {
            Some(hash) => hash.to_string(),
            None => self.dummy().await?,
        };
        let _permit = self.permits.acquire().await.map_err(|e| HashError::Hash(e.to_string()))?;
        let password = password.to_string();
        let matched = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&stored)
                .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .map_err(|e| HashError::Hash(e.to_string()))?;
        Ok(exists && matched)
    }

    /// True when a stored hash was made with other parameters and should be replaced.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        match PasswordHash::new(stored) {
            Ok(parsed) => Params::try_from(&parsed)
                .map(|p| {
                    (p.m_cost(), p.t_cost(), p.p_cost())
                        != (self.params.m_cost(), self.params.t_cost(), self.params.p_cost())
                })
                .unwrap_or(true),
            Err(_) => true,
        }
    }

    async fn dummy(&self) -> Result<String, HashError> {
        if let Some(hash) = self.dummy_hash.get() {
            return Ok(hash.clone());
        }
        let hash = self.hash("llave dummy password for timing").await?;
        Ok(self.dummy_hash.get_or_init(|| hash).clone())
    }
}

fn hash_blocking(params: Params, password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| HashError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Hash(e.to_string()))?;
    Passwords::hasher(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

/// Hashes with the given parameters on this thread (the benchmark's baseline).
pub fn hash_once(config: &PasswordConfig, password: &str) -> Result<String, HashError> {
    let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
        .map_err(|e| HashError::Hash(e.to_string()))?;
    hash_blocking(params, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules_follow_nist() {
        assert_eq!(check_new_password("", &[]), Err(PasswordProblem::Empty));
        assert_eq!(check_new_password("abc1234", &[]), Err(PasswordProblem::TooShort));
        assert_eq!(check_new_password(&"x".repeat(257), &[]), Err(PasswordProblem::TooLong));
        // No composition rules: lower-case words are fine when long and uncommon.
        assert_eq!(check_new_password("nopal tranvía azul", &[]), Ok(()));
        // Length counts characters, not bytes.
        assert_eq!(check_new_password("ñññññññ", &[]), Err(PasswordProblem::TooShort));
    }

    #[test]
    fn common_passwords_are_refused() {
        assert_eq!(check_new_password("password", &[]), Err(PasswordProblem::Common));
        assert_eq!(check_new_password("PassWord", &[]), Err(PasswordProblem::Common));
        assert_eq!(check_new_password("12345678", &[]), Err(PasswordProblem::Common));
        assert_eq!(check_new_password("contraseña", &[]), Err(PasswordProblem::Common));
        assert_eq!(check_new_password("iloveyou12", &[]), Err(PasswordProblem::Common));
    }

    #[test]
    fn personal_data_is_refused() {
        let personal = ["GOMC800101HDFRRL09", "Carlos", "carlos@example.com"];
        assert_eq!(check_new_password("GOMC800101HDFRRL09", &personal), Err(PasswordProblem::PersonalData));
        assert_eq!(check_new_password("carlos@example.com", &personal), Err(PasswordProblem::PersonalData));
        assert_eq!(check_new_password("soy carlos y ya", &personal), Err(PasswordProblem::PersonalData));
    }

    #[tokio::test]
    async fn hashes_verify_and_fail_on_wrong_password() {
        let config = PasswordConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..PasswordConfig::default() };
        let passwords = Passwords::new(&config).unwrap();
        let hash = passwords.hash("nopal tranvía azul").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(passwords.verify(Some(&hash), "nopal tranvía azul").await.unwrap());
        assert!(!passwords.verify(Some(&hash), "nopal tranvia azul").await.unwrap());
        assert!(!passwords.verify(None, "nopal tranvía azul").await.unwrap());
        assert!(!passwords.verify(Some("not a hash"), "x").await.unwrap());
        assert!(!passwords.needs_rehash(&hash));
        let other = Passwords::new(&PasswordConfig::default()).unwrap();
        assert!(other.needs_rehash(&hash));
    }
}
