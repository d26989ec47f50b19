//! The key store: what holds the hub's key-encryption key (KEK) and seals secrets under it
//! (TOTP secrets now; people's signing keys and entities' data keys later). Sealing is
//! AES-256-GCM with a fresh 96-bit nonce and the secret's purpose as associated data, so a
//! sealed value cannot be moved to another use. This implementation keeps the KEK in a file
//! readable by llave alone; every node of one installation needs the same file.
//!
//! The database remembers which KEK its data is sealed under: the first node to start
//! records the KEK's fingerprint (a keyed hash under a key derived from the KEK, so it says
//! nothing about the key), and every later start compares ([`KeyStore::open_shared`]). A
//! node whose KEK file is missing, or holds another key, refuses to start instead of
//! making a new key and sealing new data under it.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("cannot read or create the key-encryption key file {0}: {1}")]
    File(String, std::io::Error),
    #[error("the key-encryption key file {0} does not hold a base64 32-byte key")]
    BadKey(String),
    #[error("a sealed value was made with another key-encryption key ({0})")]
    OtherKey(String),
    #[error("a sealed value is damaged or belongs to another purpose")]
    Damaged,
    #[error(
        "the key-encryption key file {0} is missing, but this database's data is sealed under a key-encryption \
         key (recorded when it was first started): copy that file from another node or a backup to {0}, or point \
         the setting `kek_file` (LLAVE_KEK_FILE) at it; llave will not make a new one"
    )]
    Missing(String),
    #[error(
        "the key-encryption key file {0} holds another key than the one this database's data is sealed under \
         (its fingerprint differs from the one recorded when the database was first started): give every node \
         the same file, named by the setting `kek_file` (LLAVE_KEK_FILE)"
    )]
    Mismatch(String),
    #[error(
        "the key-encryption key file {0} is missing and this database was used before its key's fingerprint was \
         recorded: copy the file from the node that made it to {0}, or point the setting `kek_file` \
         (LLAVE_KEK_FILE) at it; llave will not make a new one"
    )]
    Unrecorded(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the Ed25519 key file {0}: {1}")]
    Ed25519(String, String),
}

/// Seals and opens secrets under the key-encryption key.
pub struct KeyStore {
    key: LessSafeKey,
    /// HMAC key derived from the KEK, for values kept only as a keyed hash.
    mac_key: ring::hmac::Key,
    /// Names the KEK in sealed values (first 8 bytes of its SHA-256), so a value sealed
    /// under another KEK is recognised as such.
    kid: String,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Reads the KEK from `path`, creating it (mode 0600) with 256 random bits if missing.
    pub fn open_file(path: &Path) -> Result<KeyStore, KeyStoreError> {
        let shown = path.display().to_string();
        let text = read_or_create(path, || {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
            tracing::info!(path = %shown, "created a new key-encryption key");
            Ok(format!("{}\n", STANDARD.encode(key)))
        })
        .map_err(|e| KeyStoreError::File(shown.clone(), e))?;
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyStoreError::BadKey(shown.clone()))?;
        KeyStore::from_bytes(&bytes).ok_or(KeyStoreError::BadKey(shown))
    }

    /// Opens the KEK in `path` for the database of `store`, checking it against the
    /// fingerprint the database recorded when it was first started; records it if none is
    /// recorded yet. A missing file is made only for a database no node has started on.
    pub async fn open_shared(path: &Path, store: &crate::store::Store) -> Result<KeyStore, KeyStoreError> {
        let shown = path.display().to_string();
        let recorded = store.existing_server_secret(FINGERPRINT).await?;
        let exists = path.try_exists().map_err(|e| KeyStoreError::File(shown.clone(), e))?;
        if !exists {
            if recorded.is_some() {
                return Err(KeyStoreError::Missing(shown));
            }
            // Databases started before fingerprints were recorded: the CSRF key is made at
            // every node's first start, after the fingerprint is recorded — so the fingerprint
            // is read again after the CSRF key: a node that started together with this one
            // may have made the file, the fingerprint and the CSRF key since the first read.
            if store.existing_server_secret("csrf_key").await?.is_some()
                && store.existing_server_secret(FINGERPRINT).await?.is_none()
            {
                return Err(KeyStoreError::Unrecorded(shown));
            }
        }
        let keystore = KeyStore::open_file(path)?;
        let mine = keystore.fingerprint();
        let recorded = match recorded {
            Some(recorded) => recorded,
            // Two nodes starting together on a new database: the first to record wins.
            None => store.server_secret(FINGERPRINT, &mine, crate::crypto::now()).await?,
        };
        if !bool::from(subtle::ConstantTimeEq::ct_eq(recorded.as_bytes(), mine.as_bytes())) {
            return Err(KeyStoreError::Mismatch(shown));
        }
        Ok(keystore)
    }

    /// Whether the database still records this KEK's fingerprint (for `/readyz`).
    pub async fn matches_database(&self, store: &crate::store::Store) -> Result<bool, KeyStoreError> {
        Ok(store.existing_server_secret(FINGERPRINT).await?.is_some_and(|recorded| recorded == self.fingerprint()))
    }

    /// Names this KEK without revealing anything of it: a keyed hash under a key derived
    /// from it.
    pub fn fingerprint(&self) -> String {
        format!("v1.{}", self.keyed_hash("kek fingerprint", b""))
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<KeyStore> {
        if bytes.len() != 32 {
            return None;
        }
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).ok()?);
        let kid = hex8(&Sha256::digest(bytes));
        let derived = Sha256::new().chain_update(b"llave keyed hash v1").chain_update(bytes).finalize();
        let mac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &derived);
        Some(KeyStore { key, mac_key, kid })
    }

    /// `v1.KID.base64url(nonce ‖ ciphertext ‖ tag)`.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the operating system's random source is available");
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(purpose.as_bytes()), &mut buffer)
            .expect("AES-GCM seals any input shorter than 64 GiB");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&buffer);
        format!("v1.{}.{}", self.kid, URL_SAFE_NO_PAD.encode(sealed))
    }

    /// A keyed hash of `data` for `purpose`: what the database keeps of low-entropy secrets
    /// (recovery codes), so a copy of the database alone cannot be searched for them.
    pub fn keyed_hash(&self, purpose: &str, data: &[u8]) -> String {
        let mut context = ring::hmac::Context::with_key(&self.mac_key);
        context.update(purpose.as_bytes());
        context.update(&[0]);
        context.update(data);
        URL_SAFE_NO_PAD.encode(context.sign().as_ref())
    }

    pub fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, KeyStoreError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(kid), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyStoreError::Damaged);
        };
        if kid != self.kid {
            return Err(KeyStoreError::OtherKey(kid.to_string()));
        }
        let bytes = URL_SAFE_NO_PAD.decode(data).map_err(|_| KeyStoreError::Damaged)?;
        if bytes.len() < 12 + 16 {
            return Err(KeyStoreError::Damaged);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyStoreError::Damaged)?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut buffer)
            .map_err(|_| KeyStoreError::Damaged)?;
        Ok(plain.to_vec())
    }
}

/// An Ed25519 signing key kept in a file (base64 of its 32-byte seed, mode 0600), made on
/// first use: the audit log's key, a witness's key.
pub fn ed25519_key_file(path: &Path) -> Result<SigningKey, KeyStoreError> {
    let shown = path.display().to_string();
    let error = |message: String| KeyStoreError::Ed25519(shown.clone(), message);
    let text = read_or_create(path, || {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
        tracing::info!(path = %shown, "created an Ed25519 signing key");
        Ok(format!("{}\n", STANDARD.encode(seed)))
    })
    .map_err(|e| error(e.to_string()))?;
    let seed = STANDARD.decode(text.trim()).map_err(|_| error("is not base64".into()))?;
    let seed: [u8; 32] = seed.try_into().map_err(|_| error("does not hold a 32-byte Ed25519 seed".into()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The row of `server_secrets` holding the KEK's fingerprint.
const FINGERPRINT: &str = "kek_fingerprint";

fn hex8(digest: &[u8]) -> String {
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The text of the key file at `path`, made with `make` (mode 0600) if there is none. The
/// file appears whole or not at all (written aside, then linked into place), so nodes or
/// commands starting together on one data directory all read the one key that won.
fn read_or_create(path: &Path, make: impl FnOnce() -> std::io::Result<String>) -> std::io::Result<String> {
    use std::io::Write;
    match std::fs::read_to_string(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    let text = make()?;
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let aside = parent.join(format!(".{}.{}", crate::crypto::random_id(), std::process::id()));
    let written = options.open(&aside).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&aside, path));
    let _ = std::fs::remove_file(&aside);
    match linked {
        Ok(()) => Ok(text),
        // Another process made it first: its key is the one.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(path),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_purpose_and_key() {
        let store = KeyStore::from_bytes(&[7u8; 32]).unwrap();
        let sealed = store.seal("totp", b"secret");
        assert_eq!(store.open("totp", &sealed).unwrap(), b"secret");
        assert!(matches!(store.open("signing", &sealed), Err(KeyStoreError::Damaged)));
        let other = KeyStore::from_bytes(&[8u8; 32]).unwrap();
        assert!(matches!(other.open("totp", &sealed), Err(KeyStoreError::OtherKey(_))));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(store.open("totp", &tampered).is_err());
        assert_ne!(store.seal("totp", b"secret"), sealed, "a fresh nonce every time");
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.key");
        let first = KeyStore::open_file(&path).unwrap();
        let second = KeyStore::open_file(&path).unwrap();
        assert_eq!(first.kid, second.kid);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "short").unwrap();
        assert!(matches!(KeyStore::open_file(&path), Err(KeyStoreError::BadKey(_))));
    }
}
