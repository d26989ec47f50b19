//! Passwords, per NIST SP 800-63B §3.1.1: at least 8 characters, up to 256, any characters
//! (compared exactly as typed), no composition
//! rules, refused when common (a blocklist) or built from the person's own data (CURP,
//! names, e-mail). Stored as Argon2id with OWASP's parameters, hashed on the blocking pool
//! with a bounded number at once so a burst of sign-ins cannot exhaust memory.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    /// Argon2 working memory (19 MiB each by default), reused: at most one per permit is
    /// ever allocated. Allocating it per hash made the C allocator keep freed blocks in
    /// per-thread arenas, and a server under sign-in load grew to hundreds of MiB.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Passwords {
    pub fn new(config: &PasswordConfig) -> Result<Passwords, HashError> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
            .map_err(|e| HashError::Hash(e.to_string()))?;
        let permits = config
            .max_concurrent_hashes
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
            .max(1);
        Ok(Passwords {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            dummy_hash: Arc::new(OnceLock::new()),
            memory: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Runs `work` on a blocking thread with working memory for `params`, under a permit.
    async fn with_memory<T: Send + 'static>(
        &self,
        params: Params,
        work: impl FnOnce(&Params, &mut [Block]) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let mut queued = crate::metrics::HashInQueue::waiting();
        let _permit = self.permits.acquire().await.map_err(|e| HashError::Hash(e.to_string()))?;
        queued.running();
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let taken = pool.lock().ok().and_then(|mut free| {
                let at = free.iter().position(|m| m.len() == params.block_count())?;
                Some(free.swap_remove(at))
            });
            let mut memory = taken.unwrap_or_else(|| vec![Block::default(); params.block_count()]);
            let result = work(&params, &mut memory);
            if let Ok(mut free) = pool.lock() {
                free.push(memory);
            }
            result
        })
        .await
        .map_err(|e| HashError::Hash(e.to_string()))
    }

    /// The PHC string (`$argon2id$v=19$m=…`) for a password.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_string();
        self.with_memory(self.params.clone(), move |params, memory| hash_with(params, &password, memory)).await?
    }

    /// True if `password` matches `stored`. `stored` None means "no such account": the
    /// work is done anyway against a dummy hash and the answer is false.
    pub async fn verify(&self, stored: Option<&str>, password: &str) -> Result<bool, HashError> {
        let exists = stored.is_some();
        let stored = match stored {
            Some(hash) => hash.to_string(),
            None => self.dummy().await?,
        };
        // The stored hash's own parameters (an old hash still verifies after a change).
        let params = PasswordHash::new(&stored)
            .ok()
            .and_then(|parsed| Params::try_from(&parsed).ok())
            .unwrap_or_else(|| self.params.clone());
        let password = password.to_string();
        let matched =
            self.with_memory(params, move |params, memory| matches(&stored, params, &password, memory)).await?;
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

fn argon2id(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

/// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) for `password`, in `memory`.
fn hash_with(params: &Params, password: &str, memory: &mut [Block]) -> Result<String, HashError> {
    let fail = |e: &dyn std::fmt::Display| HashError::Hash(e.to_string());
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| fail(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2id(params)
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
        .map_err(|e| fail(&e))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// True if `password` hashes to `stored` (an Argon2id PHC string), compared in constant time.
fn matches(stored: &str, params: &Params, password: &str, memory: &mut [Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return false };
    if parsed.algorithm != Algorithm::Argon2id.ident() || parsed.version != Some(Version::V0x13.into()) {
        return false;
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    if argon2id(params).hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory).is_err() {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// Hashes with the given parameters on this thread (the benchmark's baseline).
pub fn hash_once(config: &PasswordConfig, password: &str) -> Result<String, HashError> {
    let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
        .map_err(|e| HashError::Hash(e.to_string()))?;
    let mut memory = vec![Block::default(); params.block_count()];
    hash_with(&params, password, &mut memory)
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
    async fn hashes_are_standard_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let config = PasswordConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..PasswordConfig::default() };
        let passwords = Passwords::new(&config).unwrap();
        // Ours, checked by the reference implementation.
        let ours = passwords.hash("una frase larga").await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"una frase larga", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"otra frase", &parsed).is_err());
        // The reference's, with other parameters, checked by ours.
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params::new(2048, 2, 1, None).unwrap();
        let theirs = argon2id(&params).hash_password(b"una frase larga", &salt).unwrap().to_string();
        assert!(passwords.verify(Some(&theirs), "una frase larga").await.unwrap());
        assert!(!passwords.verify(Some(&theirs), "una frase largA").await.unwrap());
        assert!(passwords.needs_rehash(&theirs));
        // Garbage and other algorithms never match.
        assert!(!passwords.verify(Some("not a hash"), "x").await.unwrap());
        let argon2i = theirs.replace("$argon2id$", "$argon2i$");
        assert!(!passwords.verify(Some(&argon2i), "una frase larga").await.unwrap());
        // The working memory is reused, not piled up.
        for _ in 0..5 {
            passwords.hash("una frase larga").await.unwrap();
        }
        assert!(passwords.memory.lock().unwrap().len() <= 3);
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
