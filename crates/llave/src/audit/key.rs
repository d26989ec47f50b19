//! The log's Ed25519 signing key: a file (base64 of the 32-byte seed, mode 0600), made on
//! first use ([`crate::keystore::ed25519_key_file`]). Every node of an installation needs
//! the same file; losing it means a new key, which verifiers must be told about
//! (docs/operators.md, "The audit log").

use std::path::Path;

use ed25519_dalek::SigningKey;

use super::AuditError;

pub fn open_file(path: &Path) -> Result<SigningKey, AuditError> {
    crate::keystore::ed25519_key_file(path).map_err(|e| AuditError::Key(path.display().to_string(), e.to_string()))
}
