//! The log's Ed25519 signing key: a file (base64 of the 32-byte seed, mode 0600), made on
//! first use. Every node of an installation needs the same file; losing it means a new
//! key, which verifiers must be told about (docs/operators.md, "Audit log key").

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;

use super::AuditError;

pub fn open_file(path: &Path) -> Result<SigningKey, AuditError> {
    let shown = path.display().to_string();
    let error = |message: String| AuditError::Key(shown.clone(), message);
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| error(e.to_string()))?;
            let text = format!("{}\n", STANDARD.encode(seed));
            crate::keystore::write_private(path, &text).map_err(|e| error(e.to_string()))?;
            tracing::info!(path = %shown, "created the audit log's signing key");
            text
        }
        Err(e) => return Err(error(e.to_string())),
    };
    let seed = STANDARD.decode(text.trim()).map_err(|_| error("is not base64".into()))?;
    let seed: [u8; 32] = seed.try_into().map_err(|_| error("does not hold a 32-byte Ed25519 seed".into()))?;
    Ok(SigningKey::from_bytes(&seed))
}
