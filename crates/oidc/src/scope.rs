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

    /// Adds the scopes that carry the individual claims a `claims` request parameter asks
    /// for (OIDC Core §5.5), in its `id_token` or `userinfo` member: asking for `email`
    /// there is asking for the `email` scope's data, and the person consents to it as such.
    /// Claims llave does not hold are ignored, essential or not (§5.5.1).
    pub fn with_claims_of(mut self, claims: Option<&serde_json::Value>) -> Scope {
        let Some(claims) = claims else { return self };
        for member in ["id_token", "userinfo"] {
            let Some(requested) = claims.get(member).and_then(|m| m.as_object()) else { continue };
            for name in requested.keys() {
                if let Some(scope) = scope_of_claim(name) {
                    self.0.insert(scope.to_string());
                }
            }
        }
        self
    }
}

/// The standard scope whose data a claim is (OIDC Core §5.4).
pub fn scope_of_claim(claim: &str) -> Option<&'static str> {
    match claim {
        "name" | "given_name" | "family_name" | "middle_name" | "nickname" | "preferred_username" | "profile"
        | "picture" | "website" | "gender" | "birthdate" | "zoneinfo" | "locale" | "updated_at" => Some("profile"),
        "email" | "email_verified" => Some("email"),
        "phone_number" | "phone_number_verified" => Some("phone"),
        _ => None,
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
    fn claims_requests_bring_their_scopes() {
        let claims = serde_json::json!({
            "userinfo": { "email": { "essential": true }, "unknown_claim": null },
            "id_token": { "birthdate": null, "acr": { "essential": true } },
        });
        let scope = Scope::parse("openid").unwrap().with_claims_of(Some(&claims));
        assert_eq!(scope.to_string(), "email openid profile");
        assert_eq!(Scope::parse("openid").unwrap().with_claims_of(None).to_string(), "openid");
        let odd = serde_json::json!({ "userinfo": "email", "id_token": [1] });
        assert_eq!(Scope::parse("openid").unwrap().with_claims_of(Some(&odd)).to_string(), "openid");
    }

    #[test]
    fn scopes_are_a_sorted_set() {
        let scope = Scope::parse("profile openid  email openid").unwrap();
        assert_eq!(scope.to_string(), "email openid profile");
        assert!(scope.contains("openid"));
        assert_eq!(Scope::parse("openid admin").unwrap_err().code, ErrorCode::InvalidScope);
        assert!(Scope::parse("openid\"x").is_err());
    }
}
