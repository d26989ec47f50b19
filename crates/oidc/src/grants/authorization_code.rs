//! The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9700 §4.5): the
//! code is exchanged once, by the client it was issued to, with the redirect URI of the
//! authorization request and the PKCE verifier of its challenge. The decision works on what
//! the store's one-time spend returned (see [`super`] for why the spend stays there).

use super::{Decision, Holder, Refusal, RevokeReason, Spent, check_holder};
use crate::authorize::Params;
use crate::errors::OAuthError;
use crate::pkce::CodeChallenge;
use crate::scope::Scope;

/// The request's parameters for this grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// RFC 6749 §4.1.3: `code` is required; the rest is checked against the stored code.
    pub fn from_params(params: &'a Params) -> Result<Request<'a>, OAuthError> {
        let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        Ok(Request { code, redirect_uri: params.get("redirect_uri"), code_verifier: params.get("code_verifier") })
    }
}

/// The stored code as the spend returned it, and whether its person still has an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredCode<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub scope: &'a str,
    pub holder: Holder,
}

/// What to issue for the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// The scope the person consented to at the authorization request.
    pub scope: Scope,
    /// OIDC Core §11: a refresh token only for `offline_access`, which the person consented to.
    pub refresh_token: bool,
}

/// Decides the exchange of a code presented by `client_id`.
pub fn decide(spent: Spent<StoredCode<'_>>, client_id: &str, request: &Request<'_>) -> Decision<Issue> {
    let code = check_spent(spent)?;
    check_client(&code, client_id)?;
    check_redirect_uri(&code, request)?;
    check_code_verifier(&code, request)?;
    check_holder(code.holder)?;
    let scope = Scope::from_stored(code.scope);
    Ok(Issue { refresh_token: scope.contains("offline_access"), scope })
}

/// RFC 6749 §4.1.2: a code works once; RFC 9700 §4.5: a second use revokes what the first
/// issued. An unknown or expired code is `invalid_grant` (§5.2).
fn check_spent(spent: Spent<StoredCode<'_>>) -> Result<StoredCode<'_>, Refusal> {
    match spent {
        Spent::Fresh(code) => Ok(code),
        Spent::Replayed(grant) => {
            let error = OAuthError::invalid_grant("the code was already used");
            Err(match grant {
                Some(grant) => Refusal::revoking(&grant, RevokeReason::CodeReplay, error),
                // The first use has not recorded its grant yet (or failed): nothing to revoke.
                None => error.into(),
            })
        }
        Spent::Unknown => Err(OAuthError::invalid_grant("the code is invalid or expired").into()),
    }
}

/// RFC 6749 §4.1.3: the code was issued to the authenticated client.
fn check_client(code: &StoredCode<'_>, client_id: &str) -> Result<(), Refusal> {
    if code.client_id != client_id {
        return Err(OAuthError::invalid_grant("the code was issued to another client").into());
    }
    Ok(())
}

/// RFC 6749 §4.1.3: `redirect_uri` is identical to the authorization request's (exact
/// string comparison, RFC 9700 §4.1.3).
fn check_redirect_uri(code: &StoredCode<'_>, request: &Request<'_>) -> Result<(), Refusal> {
    if request.redirect_uri != Some(code.redirect_uri) {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request").into());
    }
    Ok(())
}

/// RFC 7636 §4.6: the verifier hashes (S256) to the stored challenge; llave requires PKCE,
/// so a missing verifier is refused too (RFC 9700 §2.1.1).
fn check_code_verifier(code: &StoredCode<'_>, request: &Request<'_>) -> Result<(), Refusal> {
    let verifier = request.code_verifier.ok_or_else(|| OAuthError::invalid_grant("code_verifier is required"))?;
    if !CodeChallenge::from_stored(code.code_challenge.to_string()).verify(verifier) {
        return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::ErrorCode;
    use crate::grants::Revocation;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const REDIRECT: &str = "https://agua.example/callback";

    fn code(scope: &str) -> StoredCode<'_> {
        StoredCode {
            client_id: "agua-web",
            redirect_uri: REDIRECT,
            code_challenge: CHALLENGE,
            scope,
            holder: Holder::Person,
        }
    }

    fn request() -> Request<'static> {
        Request { code: "the-code", redirect_uri: Some(REDIRECT), code_verifier: Some(VERIFIER) }
    }

    fn refused(decision: Decision<Issue>) -> Refusal {
        decision.expect_err("the exchange is refused")
    }

    #[test]
    fn a_fresh_code_with_every_parameter_right_issues_its_scope() {
        let issue = decide(Spent::Fresh(code("openid profile")), "agua-web", &request()).unwrap();
        assert_eq!(issue.scope.to_string(), "openid profile");
        assert!(!issue.refresh_token);
    }

    #[test]
    fn offline_access_brings_a_refresh_token() {
        let issue = decide(Spent::Fresh(code("openid offline_access")), "agua-web", &request()).unwrap();
        assert!(issue.refresh_token);
    }

    #[test]
    fn a_replayed_code_revokes_what_its_first_use_issued() {
        let refusal = refused(decide(Spent::Replayed(Some("grant-1".into())), "agua-web", &request()));
        assert_eq!(refusal.error, OAuthError::invalid_grant("the code was already used"));
        assert_eq!(refusal.revoke, Some(Revocation { grant_id: "grant-1".into(), reason: RevokeReason::CodeReplay }));
    }

    #[test]
    fn a_replayed_code_whose_first_use_issued_nothing_revokes_nothing() {
        let refusal = refused(decide(Spent::Replayed(None), "agua-web", &request()));
        assert_eq!(refusal.error, OAuthError::invalid_grant("the code was already used"));
        assert_eq!(refusal.revoke, None);
    }

    #[test]
    fn an_unknown_or_expired_code_is_an_invalid_grant() {
        // The store's spend refuses an expired code (`expires_at > now` in its UPDATE).
        let refusal = refused(decide(Spent::Unknown, "agua-web", &request()));
        assert_eq!(refusal.error, OAuthError::invalid_grant("the code is invalid or expired"));
        assert_eq!(refusal.revoke, None);
    }

    #[test]
    fn a_code_of_another_client_is_refused_without_revoking() {
        let refusal = refused(decide(Spent::Fresh(code("openid")), "transito-web", &request()));
        assert_eq!(refusal.error, OAuthError::invalid_grant("the code was issued to another client"));
        assert_eq!(refusal.revoke, None);
    }

    #[test]
    fn a_different_or_missing_redirect_uri_is_refused() {
        let expected = OAuthError::invalid_grant("redirect_uri does not match the authorization request");
        for redirect_uri in [Some("https://agua.example/callback/"), Some("https://evil.example/callback"), None] {
            let request = Request { redirect_uri, ..request() };
            assert_eq!(refused(decide(Spent::Fresh(code("openid")), "agua-web", &request)).error, expected);
        }
    }

    #[test]
    fn a_missing_code_verifier_is_refused() {
        let request = Request { code_verifier: None, ..request() };
        let refusal = refused(decide(Spent::Fresh(code("openid")), "agua-web", &request));
        assert_eq!(refusal.error, OAuthError::invalid_grant("code_verifier is required"));
    }

    #[test]
    fn a_wrong_code_verifier_is_refused() {
        let expected = OAuthError::invalid_grant("code_verifier does not match the code_challenge");
        for verifier in ["dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK", "short", CHALLENGE] {
            let request = Request { code_verifier: Some(verifier), ..request() };
            assert_eq!(refused(decide(Spent::Fresh(code("openid")), "agua-web", &request)).error, expected);
        }
    }

    #[test]
    fn a_code_of_a_deleted_account_is_refused() {
        let gone = StoredCode { holder: Holder::PersonGone, ..code("openid") };
        let refusal = refused(decide(Spent::Fresh(gone), "agua-web", &request()));
        assert_eq!(refusal.error, OAuthError::invalid_grant("the account no longer exists"));
    }

    #[test]
    fn the_checks_run_in_order_client_redirect_verifier_account() {
        // Everything wrong at once: the first check in the chain answers.
        let gone = StoredCode { holder: Holder::PersonGone, ..code("openid") };
        let bad = Request { code: "c", redirect_uri: None, code_verifier: None };
        let error = refused(decide(Spent::Fresh(gone), "other", &bad)).error;
        assert_eq!(error.description, "the code was issued to another client");
        let error = refused(decide(Spent::Fresh(gone), "agua-web", &bad)).error;
        assert_eq!(error.description, "redirect_uri does not match the authorization request");
        let error = refused(decide(Spent::Fresh(gone), "agua-web", &Request { redirect_uri: Some(REDIRECT), ..bad }));
        assert_eq!(error.error.description, "code_verifier is required");
    }

    #[test]
    fn the_code_parameter_is_required() {
        let empty = Params::from_pairs(vec![("grant_type".into(), "authorization_code".into())]).unwrap();
        let error = Request::from_params(&empty).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidRequest);
        let given =
            Params::from_pairs(vec![("code".into(), "abc".into()), ("redirect_uri".into(), REDIRECT.into())]).unwrap();
        let request = Request::from_params(&given).unwrap();
        assert_eq!(request, Request { code: "abc", redirect_uri: Some(REDIRECT), code_verifier: None });
    }
}
