//! The `client_credentials` grant (RFC 6749 §4.4): an entity's back end acting for itself,
//! with only the service scopes a back end may hold — never a person's data.

use super::Decision;
use crate::errors::{ErrorCode, OAuthError};

/// Scopes an entity's back end may ask for with its own credentials.
pub const SERVICE_SCOPES: &[&str] = &["records:read", "records:write", "lookups", "signatures", "catalog:write"];

/// Scopes a third party's back end may ask for with its own credentials: OAuth 2.0 Grant
/// Management's, to read and revoke the grants people gave it.
pub const GRANT_MANAGEMENT_SCOPES: &[&str] = &["grant_management_query", "grant_management_revoke"];

/// How the client authenticated, as far as this grant cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Authenticated with a secret or a signed assertion.
    Confidential,
    /// `token_endpoint_auth_method=none`: it holds no credentials.
    Public,
}

/// What to issue: an access token with these scopes (sorted, each once, space-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub scope: String,
}

/// Decides an entity's back end's request for `scope` (the parameter as sent, if any).
pub fn decide(client: ClientKind, scope: Option<&str>) -> Decision<Issue> {
    decide_within(client, scope, SERVICE_SCOPES)
}

/// Decides a back end's request for `scope` among the scopes its kind of client may hold
/// ([`SERVICE_SCOPES`] for an entity's, [`GRANT_MANAGEMENT_SCOPES`] for a third party's).
pub fn decide_within(client: ClientKind, scope: Option<&str>, available: &[&str]) -> Decision<Issue> {
    check_confidential(client)?;
    Ok(Issue { scope: check_scopes(scope.unwrap_or(""), available)? })
}

/// RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential
/// clients."
fn check_confidential(client: ClientKind) -> Result<(), OAuthError> {
    match client {
        ClientKind::Confidential => Ok(()),
        ClientKind::Public => {
            Err(OAuthError::new(ErrorCode::UnauthorizedClient, "a public client cannot use client_credentials"))
        }
    }
}

/// RFC 6749 §3.3: the server may refuse scopes; a back end gets only those `available`.
fn check_scopes(scope: &str, available: &[&str]) -> Result<String, OAuthError> {
    let mut scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    if let Some(unknown) = scopes.iter().find(|s| !available.contains(s)) {
        return Err(OAuthError::new(ErrorCode::InvalidScope, format!("scope {unknown} is not available to back ends")));
    }
    Ok(scopes.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_third_partys_back_end_gets_grant_management_scopes_and_no_service_scope() {
        let both = "grant_management_revoke grant_management_query";
        let issue = decide_within(ClientKind::Confidential, Some(both), GRANT_MANAGEMENT_SCOPES).unwrap();
        assert_eq!(issue.scope, "grant_management_query grant_management_revoke");
        let refusal = decide_within(ClientKind::Confidential, Some("records:read"), GRANT_MANAGEMENT_SCOPES);
        assert_eq!(refusal.unwrap_err().error.code, ErrorCode::InvalidScope);
        assert!(decide(ClientKind::Confidential, Some("grant_management_query")).is_err());
    }

    #[test]
    fn a_confidential_client_gets_its_service_scopes_sorted_once_each() {
        let issue = decide(ClientKind::Confidential, Some("lookups records:read  lookups")).unwrap();
        assert_eq!(issue.scope, "lookups records:read");
    }

    #[test]
    fn every_service_scope_is_available() {
        let issue = decide(ClientKind::Confidential, Some(&SERVICE_SCOPES.join(" "))).unwrap();
        assert_eq!(issue.scope, "catalog:write lookups records:read records:write signatures");
    }

    #[test]
    fn no_scope_gives_a_token_without_scopes() {
        assert_eq!(decide(ClientKind::Confidential, None).unwrap().scope, "");
        assert_eq!(decide(ClientKind::Confidential, Some("  ")).unwrap().scope, "");
    }

    #[test]
    fn a_public_client_cannot_use_client_credentials() {
        let refusal = decide(ClientKind::Public, Some("lookups")).unwrap_err();
        assert_eq!(
            refusal.error,
            OAuthError::new(ErrorCode::UnauthorizedClient, "a public client cannot use client_credentials")
        );
        assert_eq!(refusal.revoke, None);
    }

    #[test]
    fn a_scope_not_allowed_to_back_ends_is_refused() {
        for (scope, named) in [("openid", "openid"), ("lookups email", "email"), ("records:delete", "records:delete")] {
            let refusal = decide(ClientKind::Confidential, Some(scope)).unwrap_err();
            assert_eq!(
                refusal.error,
                OAuthError::new(ErrorCode::InvalidScope, format!("scope {named} is not available to back ends")),
            );
        }
    }
}
