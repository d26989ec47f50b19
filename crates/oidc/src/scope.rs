//! Scopes: a set of space-separated tokens (RFC 6749 §3.3), in a stable order.

use std::collections::BTreeSet;

use crate::errors::{ErrorCode, OAuthError};

/// The scopes llave understands.
pub const SUPPORTED: &[&str] = &["openid", "profile", "email", "phone", "offline_access", "curp"];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    /// Parses a request's scope; unknown scopes are an `invalid_scope` error.
    pub fn parse(text: &str) -> Result<Scope, OAuthError> {
        let mut set = BTreeSet::new();
        for token in text.split(' ').filter(|t| !t.is_empty()) {
            if !token.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
                return Err(OAuthError::new(ErrorCode::InvalidScope, "malformed scope"));
            }
            if !SUPPORTED.contains(&token) {
                return Err(OAuthError::new(ErrorCode::InvalidScope, format!("unknown scope {token}")));
            }
            set.insert(token.to_string());
        }
        Ok(Scope(set))
    }

    /// Rebuilds a stored scope without re-validating.
    pub fn from_stored(text: &str) -> Scope {
        Scope(text.split(' ').filter(|t| !t.is_empty()).map(str::to_string).collect())
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn without(&self, token: &str) -> Scope {
        Scope(self.0.iter().filter(|t| *t != token).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.iter().cloned().collect::<Vec<_>>().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_a_sorted_set() {
        let scope = Scope::parse("profile openid  email openid").unwrap();
        assert_eq!(scope.to_string(), "email openid profile");
        assert!(scope.contains("openid"));
        assert_eq!(Scope::parse("openid admin").unwrap_err().code, ErrorCode::InvalidScope);
        assert!(Scope::parse("openid\"x").is_err());
    }
}
