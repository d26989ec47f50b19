//! UserInfo (OIDC Core §5.3), GET and POST, with a bearer access token (RFC 6750: the
//! `Authorization` header, or `access_token` in a POSTed form), or a DPoP-bound one with
//! its proof (RFC 9449 §7).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Json, Response};
use oidc::{ErrorCode, OAuthError, Scope};

use super::{dpop, tokens};
use super::{json_error, server_error};
use crate::AppState;

pub async fn userinfo(
    State(app): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let from_header = dpop::presented(&headers);
    let from_body = super::form_pairs(&body)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "access_token").map(|(_, v)| v));
    let token = match (from_header, from_body) {
        (Some(token), None) => token,
        (None, Some(token)) => dpop::Presented::Bearer(token),
        (Some(_), Some(_)) => {
            return json_error(&OAuthError::invalid_request("the token was sent twice"));
        }
        (None, None) => {
            return json_error(&OAuthError::new(ErrorCode::InvalidToken, "a bearer token is required"));
        }
    };
    let (claims, grant) = match dpop::verify_presented(&app, &headers, token, method.as_str(), "/userinfo").await {
        Ok(ok) => ok,
        Err(response) => return response,
    };
    // The token's own scope: a refresh may have narrowed it below the grant's (RFC 6749 §6).
    let scope = Scope::from_stored(claims.get("scope").and_then(|s| s.as_str()).unwrap_or(""));
    let Some(account_id) = grant.account_id.filter(|_| scope.contains("openid")) else {
        return json_error(&OAuthError::new(ErrorCode::InvalidToken, "the token is not for a person"));
    };
    let client = match app.store.client_by_id(&grant.client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return json_error(&OAuthError::new(ErrorCode::InvalidToken, "unknown client")),
        Err(error) => return server_error(error),
    };
    match app.store.account_by_id(account_id).await {
        Ok(Some(account)) => Json(tokens::user_claims(&app, &client, &account, &scope)).into_response(),
        Ok(None) => json_error(&OAuthError::new(ErrorCode::InvalidToken, "the account no longer exists")),
        Err(error) => server_error(error),
    }
}
