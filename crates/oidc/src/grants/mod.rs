//! The token endpoint's grants (RFC 6749 §3.2), one file each: `authorization_code`
//! (§4.1.3), `refresh_token` (§6) and `client_credentials` (§4.4). Each is a pure decision
//! over snapshots of what the store holds (the code, the refresh token and its grant, the
//! client, the request's parameters, `now`), an ordered chain of small checks with one RFC
//! error each, as in [`crate::authorize`]. The server reads the snapshots, calls the
//! decision, writes what it says and renders the answer.
//!
//! One thing stays in the store: spending a code is one conditional `UPDATE … RETURNING`
//! (`used_at IS NULL AND expires_at > now`), and so is spending a refresh token when its
//! replacement is recorded. Only the database can tell two concurrent requests apart; a
//! decision over a snapshot read before cannot. So the decision works on what that
//! `UPDATE` returned ([`Spent`]: fresh, replayed or unknown), and the refresh-token grant
//! has a second, separate rule for losing the race after the decision
//! ([`refresh_token::lost_race`]).

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use crate::authorize::Params;
use crate::errors::{ErrorCode, OAuthError};

/// How spending a one-time credential (an authorization code) went, as the store's
/// conditional `UPDATE` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spent<T> {
    /// This request spent it: here is what it was.
    Fresh(T),
    /// Already used: a replay. Carries the grant the first use made, to revoke it.
    Replayed(Option<String>),
    /// Never issued, or expired.
    Unknown,
}

impl<T> Spent<T> {
    pub fn as_ref(&self) -> Spent<&T> {
        match self {
            Spent::Fresh(value) => Spent::Fresh(value),
            Spent::Replayed(grant) => Spent::Replayed(grant.clone()),
            Spent::Unknown => Spent::Unknown,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Spent<U> {
        match self {
            Spent::Fresh(value) => Spent::Fresh(f(value)),
            Spent::Replayed(grant) => Spent::Replayed(grant),
            Spent::Unknown => Spent::Unknown,
        }
    }
}

/// The grant types the token endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    /// RFC 6749 §5.2: a missing `grant_type` is `invalid_request`, one we do not serve is
    /// `unsupported_grant_type`.
    pub fn from_params(params: &Params) -> Result<GrantType, OAuthError> {
        match params.get("grant_type") {
            Some("authorization_code") => Ok(GrantType::AuthorizationCode),
            Some("refresh_token") => Ok(GrantType::RefreshToken),
            Some("client_credentials") => Ok(GrantType::ClientCredentials),
            Some(_) => Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type")),
            None => Err(OAuthError::invalid_request("grant_type is required")),
        }
    }
}

/// Why a grant (and every token it issued) is revoked; the store records the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// RFC 9700 §4.5: a code used twice revokes what its first use issued.
    CodeReplay,
    /// RFC 9700 §4.14.2: a spent refresh token presented again was copied; end the family.
    RefreshTokenReuse,
    /// A refresh token presented by a client it was not issued to was stolen.
    RefreshTokenWrongClient,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::CodeReplay => "code_replay",
            RevokeReason::RefreshTokenReuse => "refresh_token_reuse",
            RevokeReason::RefreshTokenWrongClient => "refresh_token_wrong_client",
        }
    }
}

/// A grant to revoke, with all its tokens (the refresh-token family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub grant_id: String,
    pub reason: RevokeReason,
}

/// A refused token request: the error to answer with and, when the request shows a
/// credential was copied, the grant to revoke first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: OAuthError,
    pub revoke: Option<Revocation>,
}

impl Refusal {
    /// Refuses and revokes `grant_id` for `reason`.
    pub fn revoking(grant_id: &str, reason: RevokeReason, error: OAuthError) -> Refusal {
        Refusal { error, revoke: Some(Revocation { grant_id: grant_id.to_string(), reason }) }
    }
}

impl From<OAuthError> for Refusal {
    fn from(error: OAuthError) -> Refusal {
        Refusal { error, revoke: None }
    }
}

/// What a grant decides: what to issue, or the refusal.
pub type Decision<T> = Result<T, Refusal>;

/// The person a grant is for, as read when the request came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A back end acting for itself (client credentials): no person.
    Service,
    /// The person's account exists.
    Person,
    /// The account was deleted since the grant was made.
    PersonGone,
}

/// RFC 6749 §4.1.3 / §6: the grant's tokens go to a person who still has an account.
fn check_holder(holder: Holder) -> Result<(), Refusal> {
    match holder {
        Holder::PersonGone => Err(OAuthError::invalid_grant("the account no longer exists").into()),
        Holder::Service | Holder::Person => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap()
    }

    #[test]
    fn the_three_grant_types_are_served() {
        let cases = [
            ("authorization_code", GrantType::AuthorizationCode),
            ("refresh_token", GrantType::RefreshToken),
            ("client_credentials", GrantType::ClientCredentials),
        ];
        for (name, expected) in cases {
            assert_eq!(GrantType::from_params(&params(&[("grant_type", name)])), Ok(expected));
        }
    }

    #[test]
    fn a_missing_grant_type_is_an_invalid_request() {
        let error = GrantType::from_params(&params(&[])).unwrap_err();
        assert_eq!(error, OAuthError::invalid_request("grant_type is required"));
        // An empty value counts as absent (RFC 6749 §3.1).
        assert_eq!(GrantType::from_params(&params(&[("grant_type", "")])).unwrap_err(), error);
    }

    #[test]
    fn another_grant_type_is_unsupported() {
        for name in ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "AUTHORIZATION_CODE"] {
            let error = GrantType::from_params(&params(&[("grant_type", name)])).unwrap_err();
            assert_eq!(error.code, ErrorCode::UnsupportedGrantType, "{name}");
        }
    }

    #[test]
    fn revoke_reasons_keep_their_stored_names() {
        assert_eq!(RevokeReason::CodeReplay.as_str(), "code_replay");
        assert_eq!(RevokeReason::RefreshTokenReuse.as_str(), "refresh_token_reuse");
        assert_eq!(RevokeReason::RefreshTokenWrongClient.as_str(), "refresh_token_wrong_client");
    }

    #[test]
    fn a_deleted_account_gets_no_tokens() {
        assert_eq!(check_holder(Holder::PersonGone).unwrap_err().error.code, ErrorCode::InvalidGrant);
        assert!(check_holder(Holder::Person).is_ok());
        assert!(check_holder(Holder::Service).is_ok());
    }
}
