//! The token endpoint (RFC 6749 §3.2): client authentication, then the grant.
//! - `authorization_code`: the code works once; a second use revokes what the first
//!   issued (RFC 9700 §4.5); PKCE S256 is checked and the redirect URI must match.
//! - `refresh_token`: rotated on every use; presenting a spent one revokes the whole
//!   family (RFC 9700 §4.14.2).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA};
use axum::response::{IntoResponse, Json, Response};
use oidc::authorize::Params;
use oidc::pkce::CodeChallenge;
use oidc::{ErrorCode, OAuthError};

use super::clients::{self, AuthError, Presented};
use super::tokens::{self, TokenResponse};
use super::{json_error, server_error};
use crate::AppState;
use crate::crypto::{now, random_id, token_hash};
use crate::store::entities::ClientRecord;
use crate::store::oidc::{GrantRecord, Spent};

pub async fn token(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&app, &headers, &body).await {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
            response
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
    match params.get("grant_type") {
        Some("authorization_code") => authorization_code(app, &client, &params).await,
        Some("refresh_token") => refresh_token(app, &client, &params).await,
        Some("client_credentials") => client_credentials(app, &client, &params).await,
        Some(_) => Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "unsupported grant_type").into()),
        None => Err(OAuthError::invalid_request("grant_type is required").into()),
    }
}

async fn authorization_code(app: &AppState, client: &ClientRecord, params: &Params) -> Result<TokenResponse, Failure> {
    let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let code_hash = token_hash(code);
    let now = now();
    let record = match app.store.use_code(&code_hash, now).await.map_err(internal)? {
        Spent::Fresh(record) => record,
        Spent::Replayed(grant) => {
            // RFC 6749 §4.1.2: a code used twice revokes what it issued.
            if let Some(grant) = grant {
                app.store.revoke_grant(&grant, "code_replay", now).await.map_err(internal)?;
            }
            return Err(OAuthError::invalid_grant("the code was already used").into());
        }
        Spent::Unknown => {
            return Err(OAuthError::invalid_grant("the code is invalid or expired").into());
        }
    };
    if record.client_id != client.client_id {
        return Err(OAuthError::invalid_grant("the code was issued to another client").into());
    }
    if params.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request").into());
    }
    let verifier = params.get("code_verifier").ok_or_else(|| OAuthError::invalid_grant("code_verifier is required"))?;
    if !CodeChallenge::from_stored(record.code_challenge.clone()).verify(verifier) {
        return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge").into());
    }
    let account = app
        .store
        .account_by_id(record.account_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| OAuthError::invalid_grant("the account no longer exists"))?;
    let grant = GrantRecord {
        id: random_id(),
        client_id: client.client_id.clone(),
        account_id: Some(account.id),
        session_id: Some(record.session_id.clone()),
        scope: record.scope.clone(),
        claims: record.claims.clone(),
        acr: record.acr.clone(),
        amr: record.amr.clone(),
        auth_time: record.auth_time,
        revoked_at: None,
    };
    // Refresh tokens only for offline access (OIDC Core §11), which the person consented to.
    let offline = oidc::Scope::from_stored(&grant.scope).contains("offline_access");
    let also = tokens::Also { new_grant: true, from_code: Some(&code_hash), ..Default::default() };
    tokens::issue(app, client, &grant, Some(&account), record.nonce.as_deref(), offline, also).await.map_err(internal)
}

async fn refresh_token(app: &AppState, client: &ClientRecord, params: &Params) -> Result<TokenResponse, Failure> {
    let token = params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let now = now();
    let presented = token_hash(token);
    let grant_id = match app.store.refresh_token_state(&presented, now).await.map_err(internal)? {
        Spent::Fresh(grant_id) => grant_id,
        Spent::Replayed(grant) => {
            // A refresh token presented twice was stolen or copied: end the whole family.
            if let Some(grant) = grant {
                app.store.revoke_grant(&grant, "refresh_token_reuse", now).await.map_err(internal)?;
            }
            return Err(OAuthError::invalid_grant("the refresh token was already used").into());
        }
        Spent::Unknown => {
            return Err(OAuthError::invalid_grant("the refresh token is invalid or expired").into());
        }
    };
    let grant = app.store.grant_by_id(&grant_id).await.map_err(internal)?;
    let Some(grant) = grant.filter(|g| g.revoked_at.is_none()) else {
        return Err(OAuthError::invalid_grant("the refresh token was revoked").into());
    };
    if grant.client_id != client.client_id {
        // Spent by the wrong client: treat as theft.
        app.store.revoke_grant(&grant.id, "refresh_token_wrong_client", now).await.map_err(internal)?;
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client").into());
    }
    // A narrower scope applies to the tokens of this answer; the grant, and so the new
    // refresh token, keep the original (RFC 6749 §6).
    let mut issued = grant.clone();
    if let Some(scope) = params.get("scope") {
        let asked = oidc::Scope::parse(scope)?;
        if !asked.is_subset_of(&oidc::Scope::from_stored(&grant.scope)) {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "scope exceeds the original grant").into());
        }
        issued.scope = asked.to_string();
    }
    let account = match grant.account_id {
        Some(id) => Some(
            app.store
                .account_by_id(id)
                .await
                .map_err(internal)?
                .ok_or_else(|| OAuthError::invalid_grant("the account no longer exists"))?,
        ),
        None => None,
    };
    let also = tokens::Also { spend_refresh: Some(&presented), ..Default::default() };
    match tokens::issue(app, client, &issued, account.as_ref(), None, true, also).await {
        Ok(response) => Ok(response),
        Err(tokens::TokenError::AlreadySpent) => {
            // Two requests with one refresh token: one of them is not the client's.
            app.store.revoke_grant(&grant.id, "refresh_token_reuse", now).await.map_err(internal)?;
            Err(OAuthError::invalid_grant("the refresh token was already used").into())
        }
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

/// Scopes an entity's back end may ask for with its own credentials.
pub const SERVICE_SCOPES: &[&str] = &["records:read", "records:write", "lookups", "signatures", "catalog:write"];

/// RFC 6749 §4.4: an entity's back end, acting for itself.
async fn client_credentials(app: &AppState, client: &ClientRecord, params: &Params) -> Result<TokenResponse, Failure> {
    if client.auth_method == "none" {
        return Err(
            OAuthError::new(ErrorCode::UnauthorizedClient, "a public client cannot use client_credentials").into()
        );
    }
    let mut scopes: Vec<&str> = params.get("scope").unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    if let Some(unknown) = scopes.iter().find(|s| !SERVICE_SCOPES.contains(s)) {
        return Err(
            OAuthError::new(ErrorCode::InvalidScope, format!("scope {unknown} is not available to back ends")).into()
        );
    }
    let now = now();
    let grant = GrantRecord {
        id: random_id(),
        client_id: client.client_id.clone(),
        account_id: None,
        session_id: None,
        scope: scopes.join(" "),
        claims: None,
        acr: String::new(),
        amr: String::new(),
        auth_time: now,
        revoked_at: None,
    };
    let also = tokens::Also { new_grant: true, ..Default::default() };
    tokens::issue(app, client, &grant, None, None, false, also).await.map_err(internal)
}
