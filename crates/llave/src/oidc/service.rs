//! Bearer authentication of entities' back ends on llave's APIs: a `client_credentials`
//! access token (the entity acting for itself, never for a person), from a client that is
//! not disabled, holding the scope the endpoint needs. Errors follow RFC 6750 §3.

use axum::Json;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::store::entities::ClientRecord;

/// A JSON error body `{error, error_description}` with its status.
pub fn api_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": description }))).into_response()
}

/// Why a caller was turned away: `Unauthenticated` and `Unavailable` carry the answer;
/// `MissingScope` names the client, so the endpoint can log the attempt first.
pub enum Denied {
    Answer(Response),
    MissingScope(Box<ClientRecord>, Response),
}

impl Denied {
    pub fn into_response(self) -> Response {
        match self {
            Denied::Answer(response) | Denied::MissingScope(_, response) => response,
        }
    }
}

fn unauthorized(description: &str) -> Response {
    let mut response = api_error(StatusCode::UNAUTHORIZED, "invalid_token", description);
    response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
    response
}

fn unavailable() -> Response {
    api_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again")
}

/// The entity's client behind the request's bearer token, if it holds `scope`.
pub async fn client_with_scope(app: &AppState, headers: &HeaderMap, scope: &str) -> Result<ClientRecord, Denied> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| Denied::Answer(unauthorized("a bearer access token is required")))?;
    let (claims, grant) = match crate::oidc::tokens::verify_access_token(app, token.trim()).await {
        Ok(found) => found,
        Err(crate::oidc::tokens::TokenCheck::Invalid(_)) => {
            return Err(Denied::Answer(unauthorized("the access token is invalid or expired")));
        }
        Err(crate::oidc::tokens::TokenCheck::Internal(error)) => {
            tracing::error!(%error, "cannot check an access token");
            return Err(Denied::Answer(unavailable()));
        }
    };
    let client = match app.store.recent_client(&grant.client_id).await {
        Ok(Some(client)) if client.disabled_at.is_none() => client,
        Ok(_) => return Err(Denied::Answer(unauthorized("the client is disabled"))),
        Err(error) => {
            tracing::error!(%error, "cannot load a client");
            return Err(Denied::Answer(unavailable()));
        }
    };
    let granted = claims.get("scope").and_then(|s| s.as_str()).unwrap_or("");
    if grant.account_id.is_some() || !granted.split(' ').any(|s| s == scope) {
        let mut response = api_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            &format!("a client_credentials token with the {scope} scope is required"),
        );
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"")) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        return Err(Denied::MissingScope(Box::new(client), response));
    }
    Ok(client)
}
