//! The `refresh_token` grant (RFC 6749 §6, RFC 9700 §4.14.2): refresh tokens rotate on
//! every use, so a spent one presented again was copied and ends its whole family (the
//! grant and every token it issued). A refresh token works only for the client it was
//! issued to, and may ask for a narrower scope, never a wider one.
//!
//! Reading the token is not spending it: the store spends it in the same transaction that
//! records its replacement, with a conditional `UPDATE`. If that `UPDATE` finds it spent, a
//! concurrent request won the race with the same token, and [`lost_race`] decides.

use super::{Decision, Holder, Refusal, RevokeReason, check_holder};
use crate::authorize::Params;
use crate::errors::{ErrorCode, OAuthError};
use crate::scope::Scope;

/// The request's parameters for this grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub refresh_token: &'a str,
    pub scope: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// RFC 6749 §6: `refresh_token` is required, `scope` optional.
    pub fn from_params(params: &'a Params) -> Result<Request<'a>, OAuthError> {
        let refresh_token =
            params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        Ok(Request { refresh_token, scope: params.get("scope") })
    }
}

/// The presented refresh token as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredToken<'a> {
    pub grant_id: &'a str,
    pub used_at: Option<i64>,
    pub expires_at: i64,
}

/// The grant (the family) the token belongs to, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredGrant<'a> {
    pub client_id: &'a str,
    pub scope: &'a str,
    pub revoked: bool,
    pub holder: Holder,
}

/// What to issue for the refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// RFC 6749 §6: a narrower scope asked for this answer's tokens; `None` keeps the
    /// grant's. The grant, and so the new refresh token, keep the original either way.
    pub narrowed: Option<Scope>,
}

/// Decides a refresh presented by `client_id` at `now`: `token` and `grant` as read
/// (`None`: nothing stored under that token, or no such grant).
pub fn decide(
    token: Option<StoredToken<'_>>,
    grant: Option<StoredGrant<'_>>,
    client_id: &str,
    request: &Request<'_>,
    now: i64,
) -> Decision<Issue> {
    let token = check_token(token, now)?;
    let grant = check_grant_live(grant)?;
    check_client(token, &grant, client_id)?;
    let narrowed = check_scope(&grant, request)?;
    check_holder(grant.holder)?;
    Ok(Issue { narrowed })
}

/// The store found the token spent when it came to spend it: two requests raced with one
/// refresh token, and one of them is not the client's (RFC 9700 §4.14.2).
pub fn lost_race(grant_id: &str) -> Refusal {
    Refusal::revoking(grant_id, RevokeReason::RefreshTokenReuse, already_used())
}

fn already_used() -> OAuthError {
    OAuthError::invalid_grant("the refresh token was already used")
}

/// RFC 9700 §4.14.2: a rotated (spent) token presented again revokes the family; an unknown
/// or expired one is `invalid_grant` (RFC 6749 §5.2). A spent token counts as reuse even
/// after it expired.
fn check_token(token: Option<StoredToken<'_>>, now: i64) -> Result<StoredToken<'_>, Refusal> {
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid or expired").into();
    let token = token.ok_or_else(invalid)?;
    if token.used_at.is_some() {
        return Err(Refusal::revoking(token.grant_id, RevokeReason::RefreshTokenReuse, already_used()));
    }
    if token.expires_at <= now {
        return Err(invalid());
    }
    Ok(token)
}

/// RFC 7009 §2.1: a revoked grant's refresh tokens are dead.
fn check_grant_live(grant: Option<StoredGrant<'_>>) -> Result<StoredGrant<'_>, Refusal> {
    grant.filter(|g| !g.revoked).ok_or_else(|| OAuthError::invalid_grant("the refresh token was revoked").into())
}

/// RFC 6749 §6: the token was issued to the authenticated client. Another client holding
/// it stole it: end the family.
fn check_client(token: StoredToken<'_>, grant: &StoredGrant<'_>, client_id: &str) -> Result<(), Refusal> {
    if grant.client_id != client_id {
        let error = OAuthError::invalid_grant("the refresh token was issued to another client");
        return Err(Refusal::revoking(token.grant_id, RevokeReason::RefreshTokenWrongClient, error));
    }
    Ok(())
}

/// RFC 6749 §6: the scope asked for must not include any scope not originally granted.
fn check_scope(grant: &StoredGrant<'_>, request: &Request<'_>) -> Result<Option<Scope>, Refusal> {
    let Some(asked) = request.scope else { return Ok(None) };
    let asked = Scope::parse(asked)?;
    if !asked.is_subset_of(&Scope::from_stored(grant.scope)) {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "scope exceeds the original grant").into());
    }
    Ok(Some(asked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grants::Revocation;

    const NOW: i64 = 1_700_000_000;

    fn token() -> StoredToken<'static> {
        StoredToken { grant_id: "grant-1", used_at: None, expires_at: NOW + 86_400 }
    }

    fn grant() -> StoredGrant<'static> {
        StoredGrant {
            client_id: "agua-web",
            scope: "email offline_access openid",
            revoked: false,
            holder: Holder::Person,
        }
    }

    fn request(scope: Option<&'static str>) -> Request<'static> {
        Request { refresh_token: "the-token", scope }
    }

    fn decide_with(
        token: Option<StoredToken>,
        grant: Option<StoredGrant>,
        client: &str,
        scope: Option<&str>,
    ) -> Decision<Issue> {
        decide(token, grant, client, &Request { refresh_token: "the-token", scope }, NOW)
    }

    fn revocation(reason: RevokeReason) -> Option<Revocation> {
        Some(Revocation { grant_id: "grant-1".into(), reason })
    }

    #[test]
    fn a_live_token_of_the_client_issues_with_the_grant_scope() {
        let issue = decide(Some(token()), Some(grant()), "agua-web", &request(None), NOW).unwrap();
        assert_eq!(issue, Issue { narrowed: None });
    }

    #[test]
    fn an_unknown_token_is_an_invalid_grant() {
        let refusal = decide_with(None, None, "agua-web", None).unwrap_err();
        assert_eq!(refusal.error, OAuthError::invalid_grant("the refresh token is invalid or expired"));
        assert_eq!(refusal.revoke, None);
    }

    #[test]
    fn an_expired_token_is_an_invalid_grant() {
        let expired = StoredToken { expires_at: NOW, ..token() };
        let refusal = decide_with(Some(expired), Some(grant()), "agua-web", None).unwrap_err();
        assert_eq!(refusal.error, OAuthError::invalid_grant("the refresh token is invalid or expired"));
        assert_eq!(refusal.revoke, None);
        // One second before it expires, it still works.
        let live = StoredToken { expires_at: NOW + 1, ..token() };
        assert!(decide_with(Some(live), Some(grant()), "agua-web", None).is_ok());
    }

    #[test]
    fn a_spent_token_presented_again_revokes_the_family() {
        let spent = StoredToken { used_at: Some(NOW - 10), ..token() };
        let refusal = decide_with(Some(spent), Some(grant()), "agua-web", None).unwrap_err();
        assert_eq!(refusal.error, OAuthError::invalid_grant("the refresh token was already used"));
        assert_eq!(refusal.revoke, revocation(RevokeReason::RefreshTokenReuse));
        // Also once expired, and whatever the grant's state: reuse is theft either way.
        let spent_and_expired = StoredToken { used_at: Some(NOW - 10), expires_at: NOW - 1, ..token() };
        let refusal = decide_with(Some(spent_and_expired), None, "other", None).unwrap_err();
        assert_eq!(refusal.revoke, revocation(RevokeReason::RefreshTokenReuse));
    }

    #[test]
    fn a_token_of_a_revoked_or_missing_grant_is_refused() {
        let revoked = StoredGrant { revoked: true, ..grant() };
        for grant in [Some(revoked), None] {
            let refusal = decide_with(Some(token()), grant, "agua-web", None).unwrap_err();
            assert_eq!(refusal.error, OAuthError::invalid_grant("the refresh token was revoked"));
            assert_eq!(refusal.revoke, None);
        }
    }

    #[test]
    fn a_token_presented_by_another_client_revokes_the_family() {
        let refusal = decide_with(Some(token()), Some(grant()), "transito-web", None).unwrap_err();
        assert_eq!(refusal.error, OAuthError::invalid_grant("the refresh token was issued to another client"));
        assert_eq!(refusal.revoke, revocation(RevokeReason::RefreshTokenWrongClient));
    }

    #[test]
    fn a_narrower_scope_is_allowed_for_this_answer() {
        let issue = decide_with(Some(token()), Some(grant()), "agua-web", Some("openid")).unwrap();
        assert_eq!(issue.narrowed.map(|s| s.to_string()), Some("openid".into()));
        // The same scope, in another order, is not wider.
        let issue = decide_with(Some(token()), Some(grant()), "agua-web", Some("openid offline_access email")).unwrap();
        assert_eq!(issue.narrowed.map(|s| s.to_string()), Some("email offline_access openid".into()));
    }

    #[test]
    fn a_wider_scope_is_refused() {
        let refusal = decide_with(Some(token()), Some(grant()), "agua-web", Some("openid profile")).unwrap_err();
        assert_eq!(refusal.error, OAuthError::new(ErrorCode::InvalidScope, "scope exceeds the original grant"));
        assert_eq!(refusal.revoke, None);
    }

    #[test]
    fn an_unknown_scope_is_an_invalid_scope() {
        let refusal = decide_with(Some(token()), Some(grant()), "agua-web", Some("openid admin")).unwrap_err();
        assert_eq!(refusal.error.code, ErrorCode::InvalidScope);
        assert_eq!(refusal.error.description, "unknown scope admin");
    }

    #[test]
    fn a_token_of_a_deleted_account_is_refused() {
        let gone = StoredGrant { holder: Holder::PersonGone, ..grant() };
        let refusal = decide_with(Some(token()), Some(gone), "agua-web", None).unwrap_err();
        assert_eq!(refusal.error, OAuthError::invalid_grant("the account no longer exists"));
        // The client and the scope are checked first.
        let refusal = decide_with(Some(token()), Some(gone), "agua-web", Some("profile")).unwrap_err();
        assert_eq!(refusal.error.code, ErrorCode::InvalidScope);
    }

    #[test]
    fn losing_the_race_for_a_token_revokes_the_family() {
        let refusal = lost_race("grant-1");
        assert_eq!(refusal.error, OAuthError::invalid_grant("the refresh token was already used"));
        assert_eq!(refusal.revoke, revocation(RevokeReason::RefreshTokenReuse));
    }

    #[test]
    fn the_refresh_token_parameter_is_required() {
        let empty = Params::from_pairs(vec![("scope".into(), "openid".into())]).unwrap();
        assert_eq!(Request::from_params(&empty).unwrap_err(), OAuthError::invalid_request("refresh_token is required"));
        let given = Params::from_pairs(vec![("refresh_token".into(), "t".into())]).unwrap();
        assert_eq!(Request::from_params(&given).unwrap(), Request { refresh_token: "t", scope: None });
    }
}
