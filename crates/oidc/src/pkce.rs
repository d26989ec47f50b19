//! PKCE (RFC 7636), S256 only: `plain` is refused (RFC 9700 §2.1.1).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::errors::OAuthError;

/// A validated `code_challenge` with method S256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

fn is_unreserved(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl CodeChallenge {
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<CodeChallenge, OAuthError> {
        let Some(challenge) = challenge.filter(|c| !c.is_empty()) else {
            return Err(OAuthError::invalid_request("code_challenge is required (PKCE with S256)"));
        };
        match method {
            Some("S256") => {}
            Some("plain") | None => {
                return Err(OAuthError::invalid_request("code_challenge_method must be S256"));
            }
            Some(_) => {
                return Err(OAuthError::invalid_request("unsupported code_challenge_method"));
            }
        }
        // base64url of a SHA-256: 43 characters.
        if challenge.len() != 43 || !is_unreserved(challenge) {
            return Err(OAuthError::invalid_request("code_challenge is not a base64url SHA-256"));
        }
        Ok(CodeChallenge(challenge.to_string()))
    }

    /// Rebuilds a stored challenge (already validated when it was stored).
    pub fn from_stored(challenge: String) -> CodeChallenge {
        CodeChallenge(challenge)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge, verifier 43–128 unreserved
    /// characters.
    pub fn verify(&self, verifier: &str) -> bool {
        if !(43..=128).contains(&verifier.len()) || !is_unreserved(verifier) {
            return false;
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        bool::from(computed.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b_example() {
        let challenge =
            CodeChallenge::parse(Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), Some("S256")).unwrap();
        assert!(challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!challenge.verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
        assert!(!challenge.verify("short"));
    }

    #[test]
    fn plain_and_missing_are_refused() {
        assert!(CodeChallenge::parse(None, Some("S256")).is_err());
        assert!(CodeChallenge::parse(Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), Some("plain")).is_err());
        assert!(CodeChallenge::parse(Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"), None).is_err());
        assert!(CodeChallenge::parse(Some("too-short"), Some("S256")).is_err());
    }
}
