//! The log's Ed25519 signing key: a file (base64 of the 32-byte seed, mode 0600), made on
//! first use ([`crate::keystore::ed25519_key_file`]), or, with `audit.key_on_token`, a key
//! pair on the PKCS#11 token of `signature.pkcs11` (labelled [`TOKEN_LABEL`], made there on
//! first use, never leaving it), like the CA keys. Every node of an installation needs the
//! same file or token; losing it means a new key, which verifiers must be told about
//! (docs/operators.md, "The audit log").

use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::SigningKey;

use super::AuditError;
use crate::hsm::Hsm;

/// The label of the log's key pair on a PKCS#11 token.
pub const TOKEN_LABEL: &str = "llave-audit-log";

pub fn open_file(path: &Path) -> Result<SigningKey, AuditError> {
    crate::keystore::ed25519_key_file(path).map_err(|e| AuditError::Key(path.display().to_string(), e.to_string()))
}

/// The log's key on a token: signs there; its public half read once.
pub struct TokenKey {
    hsm: Arc<Hsm>,
    public: [u8; 32],
}

impl TokenKey {
    /// The token's key labelled [`TOKEN_LABEL`], made if the token has none.
    pub fn open(hsm: Arc<Hsm>) -> Result<TokenKey, AuditError> {
        let public = hsm
            .ed25519_key(TOKEN_LABEL)
            .map_err(|e| AuditError::Key(format!("{TOKEN_LABEL:?} on the PKCS#11 token"), e.to_string()))?;
        Ok(TokenKey { hsm, public })
    }
}

impl tlog::note::Ed25519Key for TokenKey {
    fn public(&self) -> [u8; 32] {
        self.public
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], String> {
        self.hsm.sign_ed25519(TOKEN_LABEL, message).map_err(|e| e.to_string())
    }
}
