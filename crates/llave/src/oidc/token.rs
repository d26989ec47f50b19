//! The token endpoint (RFC 6749 §3.2): client authentication, then the grant. The rules
//! of each grant live in the protocol engine (`oidc::grants`: `authorization_code`,
//! `refresh_token`, `client_credentials`), pure decisions over snapshots; this module
//! extracts the request, reads the snapshots, calls the decision, writes what it says
//! (revoke a family, record what is issued) and renders the answer.
//!
//! The one-time use of a code or a refresh token stays a single conditional `UPDATE` in
//! the store (`use_code`, `record_issue`): only the database can tell two concurrent
//! requests apart. The code's decision judges what that `UPDATE` returned (fresh, replayed
//! or unknown); a refresh token is read first, judged, and spent with its replacement, and
//! losing that race is judged by `refresh_token::lost_race`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA};
use axum::response::{IntoResponse, Json, Response};
use oidc::OAuthError;
use oidc::authorize::Params;
use oidc::dpop::Verified;
use oidc::grants::{GrantType, Holder, Refusal, authorization_code, client_credentials, refresh_token};

use super::clients::{self, AuthError, Presented};
use super::tokens::{self, TokenResponse};
use super::{json_error, server_error};
use crate::AppState;
use crate::crypto::{now, random_id, token_hash};
use crate::store::entities::ClientRecord;
use crate::store::oidc::{GrantRecord, Spent};

/// Scopes an entity's back end may ask for with its own credentials.
pub use oidc::grants::client_credentials::SERVICE_SCOPES;

pub async fn token(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&app, &headers, &body).await {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
            // RFC 9449 §8.2: the nonce for the next request, saving it a round trip.
            if headers.contains_key("dpop") {
                response = super::dpop::with_nonce(&app, response);
            }
            response
        }
        // RFC 9449 §8: the nonce to retry with.
        Err(Failure::OAuth(error)) if error.code == oidc::ErrorCode::UseDpopNonce => {
            super::dpop::with_nonce(&app, json_error(&error))
        }
        Err(Failure::OAuth(error)) => json_error(&error),
        Err(Failure::Internal(cause)) => server_error(cause),
    }
}

pub enum Failure {
    OAuth(OAuthError),
    Internal(String),
}

impl From<OAuthError> for Failure {
    fn from(error: OAuthError) -> Failure {
        Failure::OAuth(error)
    }
}

pub fn internal(error: impl std::fmt::Display) -> Failure {
    Failure::Internal(error.to_string())
}

async fn handle(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<TokenResponse, Failure> {
    let params = Params::from_pairs(super::form_pairs(body)?)?;
    let client = authenticated_client(app, headers, &params, "token").await?;
    let grant_type = GrantType::from_params(&params)?;
    let proof = token_proof(app, headers, &client).await?;
    let proof = proof.as_ref();
    let (grant_type, answer) = match grant_type {
        GrantType::AuthorizationCode => ("authorization_code", authorization_code(app, &client, &params, proof).await),
        GrantType::RefreshToken => ("refresh_token", refresh_token(app, &client, &params, proof).await),
        GrantType::ClientCredentials => ("client_credentials", client_credentials(app, &client, &params, proof).await),
    };
    crate::metrics::token_grant(grant_type, answer.is_ok());
    answer
}

/// The request's DPoP proof (RFC 9449 §5), verified with the server's current nonce and
/// spent: required of a FAPI client (FAPI 2.0 §5.3.2.1: sender-constrained tokens), used
/// by any client that sends one. Whether its key is the one a code or a grant is bound to
/// is the grant's to check.
async fn token_proof(app: &AppState, headers: &HeaderMap, client: &ClientRecord) -> Result<Option<Verified>, Failure> {
    let header = super::dpop::proof_header(headers).map_err(|e| e.to_oauth())?;
    let Some(proof) = header else {
        if client.fapi {
            return Err(oidc::dpop::DpopError::Missing.to_oauth().into());
        }
        return Ok(None);
    };
    let needs = super::dpop::Needs { nonce: true, ..Default::default() };
    match super::dpop::accept(app, proof, "POST", "/token", needs).await {
        Ok(verified) => Ok(Some(verified)),
        Err(super::dpop::Refused::Proof(error)) => Err(error.to_oauth().into()),
        Err(super::dpop::Refused::Store(error)) => Err(internal(error)),
    }
}

/// RFC 9449 §10 (a code bound by `dpop_jkt`) and §5 (a refresh token bound to a key): the
/// proof must be by that key.
fn proof_matches(bound: Option<&str>, proof: Option<&Verified>) -> Result<(), Failure> {
    match (bound, proof) {
        (None, _) => Ok(()),
        (Some(jkt), Some(proof)) if proof.jkt == jkt => Ok(()),
        (Some(_), Some(_)) => {
            Err(oidc::dpop::DpopError::Invalid("the DPoP proof is signed by another key than the one bound".into())
                .to_oauth()
                .into())
        }
        (Some(_), None) => Err(oidc::dpop::DpopError::Missing.to_oauth().into()),
    }
}

/// Does what a refusal says (revoke the family first, when a credential was copied) and
/// turns it into the error to answer with.
async fn refuse(app: &AppState, refusal: Refusal, now: i64) -> Failure {
    if let Some(revocation) = refusal.revoke
        && let Err(error) = app.store.revoke_grant(&revocation.grant_id, revocation.reason.as_str(), now).await
    {
        return internal(error);
    }
    Failure::OAuth(refusal.error)
}

fn holder(account_id: Option<crate::store::AccountId>, account: Option<&crate::store::Account>) -> Holder {
    match (account_id, account) {
        (None, _) => Holder::Service,
        (Some(_), Some(_)) => Holder::Person,
        (Some(_), None) => Holder::PersonGone,
    }
}

async fn authorization_code(
    app: &AppState,
    client: &ClientRecord,
    params: &Params,
    proof: Option<&Verified>,
) -> Result<TokenResponse, Failure> {
    let request = authorization_code::Request::from_params(params)?;
    let code_hash = token_hash(request.code);
    // The injectable clock: a test sees a code expire without waiting its lifetime.
    let now = app.clock.now();
    let spent = app.store.use_code(&code_hash, now).await.map_err(internal)?;
    let account = match &spent {
        Spent::Fresh(record) => app.store.account_by_id(record.account_id).await.map_err(internal)?,
        _ => None,
    };
    let stored = spent.as_ref().map(|record| authorization_code::StoredCode {
        client_id: &record.client_id,
        redirect_uri: &record.redirect_uri,
        code_challenge: &record.code_challenge,
        scope: &record.scope,
        holder: holder(Some(record.account_id), account.as_ref()),
    });
    let issue = match authorization_code::decide(stored, &client.client_id, &request) {
        Ok(issue) => issue,
        Err(refusal) => return Err(refuse(app, refusal, now).await),
    };
    // The decision issues only for a fresh code whose person has an account.
    let (Spent::Fresh(record), Some(account)) = (spent, account) else {
        return Err(internal("a code decided fresh was not"));
    };
    proof_matches(record.dpop_jkt.as_deref(), proof)?;
    let grant = GrantRecord {
        id: random_id(),
        client_id: client.client_id.clone(),
        account_id: Some(account.id),
        session_id: Some(record.session_id.clone()),
        scope: issue.scope.to_string(),
        claims: record.claims.clone(),
        acr: record.acr.clone(),
        amr: record.amr.clone(),
        auth_time: record.auth_time,
        revoked_at: None,
        dpop_jkt: proof.map(|p| p.jkt.clone()),
    };
    // What the person allowed a third party becomes a consent artefact, written with the
    // grant it covers.
    let artefact = match (&record.sharing, &client.third_party) {
        (Some(granted), Some(_)) => {
            let sub = tokens::subject(app, client, account.id.0);
            match crate::consent::artefacts::prepare(app, client, account.id.0, &sub, &grant.id, granted).await {
                Ok(prepared) => Some(prepared),
                Err(crate::consent::artefacts::PrepareError::UnknownGrant) => {
                    return Err(OAuthError::new(
                        oidc::ErrorCode::InvalidGrantId,
                        "the grant to merge or replace stands no more",
                    )
                    .into());
                }
                Err(crate::consent::artefacts::PrepareError::Internal(cause)) => return Err(internal(cause)),
            }
        }
        _ => None,
    };
    let also = tokens::Also {
        new_grant: true,
        from_code: Some(&code_hash),
        jkt: grant.dpop_jkt.as_deref(),
        artefact: artefact.as_ref().map(|a| &a.write),
        ..Default::default()
    };
    let mut response =
        tokens::issue(app, client, &grant, Some(&account), record.nonce.as_deref(), issue.refresh_token, also)
            .await
            .map_err(internal)?;
    if let Some(artefact) = artefact {
        response.grant_id = Some(artefact.grant_id);
        response.consent_artefact = Some(artefact.jws);
        response.authorization_details = Some(artefact.details);
    }
    Ok(response)
}

async fn refresh_token(
    app: &AppState,
    client: &ClientRecord,
    params: &Params,
    proof: Option<&Verified>,
) -> Result<TokenResponse, Failure> {
    let request = refresh_token::Request::from_params(params)?;
    let now = now();
    let presented = token_hash(request.refresh_token);
    let token = app.store.refresh_token_by_hash(&presented).await.map_err(internal)?;
    let grant = match &token {
        Some(token) => app.store.grant_by_id(&token.grant_id).await.map_err(internal)?,
        None => None,
    };
    let account_id = grant.as_ref().and_then(|g| g.account_id);
    let account = match account_id {
        Some(id) => app.store.account_by_id(id).await.map_err(internal)?,
        None => None,
    };
    let stored_token = token.as_ref().map(|t| refresh_token::StoredToken {
        grant_id: &t.grant_id,
        used_at: t.used_at,
        expires_at: t.expires_at,
    });
    let stored_grant = grant.as_ref().map(|g| refresh_token::StoredGrant {
        client_id: &g.client_id,
        scope: &g.scope,
        revoked: g.revoked_at.is_some(),
        holder: holder(account_id, account.as_ref()),
    });
    let issue = match refresh_token::decide(stored_token, stored_grant, &client.client_id, &request, now) {
        Ok(issue) => issue,
        Err(refusal) => return Err(refuse(app, refusal, now).await),
    };
    let Some(grant) = grant else { return Err(internal("a refresh decided without its grant")) };
    proof_matches(grant.dpop_jkt.as_deref(), proof)?;
    // A narrower scope applies to the tokens of this answer; the grant, and so the new
    // refresh token, keep the original (RFC 6749 §6).
    let mut issued = grant.clone();
    if let Some(narrowed) = issue.narrowed {
        issued.scope = narrowed.to_string();
    }
    // Tokens of a bound grant stay bound to its key; a proof binds this answer's access token.
    let jkt = grant.dpop_jkt.as_deref().or(proof.map(|p| p.jkt.as_str()));
    let also = tokens::Also { spend_refresh: Some(&presented), jkt, ..Default::default() };
    match tokens::issue(app, client, &issued, account.as_ref(), None, true, also).await {
        Ok(response) => Ok(response),
        Err(tokens::TokenError::AlreadySpent) => Err(refuse(app, refresh_token::lost_race(&grant.id), now).await),
        Err(error) => Err(internal(error)),
    }
}

/// Authenticates the client of a request to `endpoint` (token, par, introspect, revoke).
pub async fn authenticated_client(
    app: &AppState,
    headers: &HeaderMap,
    params: &Params,
    endpoint: &str,
) -> Result<ClientRecord, Failure> {
    let basic = match headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(header) => Some(
            clients::parse_basic(header).ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?,
        ),
        None => None,
    };
    let presented = Presented {
        basic,
        client_id: params.get("client_id").map(str::to_string),
        client_secret: params.get("client_secret").map(str::to_string),
        assertion_type: params.get("client_assertion_type").map(str::to_string),
        assertion: params.get("client_assertion").map(str::to_string),
    };
    let issuer = app.config.issuer();
    let audiences = [format!("{issuer}/{endpoint}"), format!("{issuer}/token")];
    match clients::authenticate(&app.store, &presented, &audiences, &issuer).await {
        Ok(client) => Ok(client),
        Err(AuthError::OAuth(error)) => Err(error.into()),
        Err(AuthError::Store(error)) => Err(internal(error)),
    }
}

/// Turns a handler's outcome into the JSON answer.
pub fn answer<T: serde::Serialize>(outcome: Result<T, Failure>) -> Response {
    match outcome {
        Ok(body) => {
            let mut response = Json(body).into_response();
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(Failure::OAuth(error)) => json_error(&error),
        Err(Failure::Internal(cause)) => server_error(cause),
    }
}

/// RFC 6749 §4.4: an entity's back end, acting for itself.
async fn client_credentials(
    app: &AppState,
    client: &ClientRecord,
    params: &Params,
    proof: Option<&Verified>,
) -> Result<TokenResponse, Failure> {
    let kind = match client.auth_method.as_str() {
        "none" => client_credentials::ClientKind::Public,
        _ => client_credentials::ClientKind::Confidential,
    };
    let now = now();
    let available = match client.third_party {
        Some(_) => client_credentials::GRANT_MANAGEMENT_SCOPES,
        None => client_credentials::SERVICE_SCOPES,
    };
    let issue = match client_credentials::decide_within(kind, params.get("scope"), available) {
        Ok(issue) => issue,
        Err(refusal) => return Err(refuse(app, refusal, now).await),
    };
    let grant = GrantRecord {
        id: random_id(),
        client_id: client.client_id.clone(),
        account_id: None,
        session_id: None,
        scope: issue.scope,
        claims: None,
        acr: String::new(),
        amr: String::new(),
        auth_time: now,
        revoked_at: None,
        dpop_jkt: proof.map(|p| p.jkt.clone()),
    };
    let also = tokens::Also { new_grant: true, jkt: grant.dpop_jkt.as_deref(), ..Default::default() };
    tokens::issue(app, client, &grant, None, None, false, also).await.map_err(internal)
}
