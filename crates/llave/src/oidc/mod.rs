//! Single sign-on: llave as an OpenID Connect provider for every entity's website. The
//! protocol rules live in the `oidc` crate; this module does the I/O around them: the
//! endpoints (`discovery`, `authorize`, `token`, `userinfo`), client registration and
//! authentication (`clients`), signing keys (`keys`) and tokens (`tokens`).

pub mod authorize;
pub mod clients;
pub mod discovery;
pub mod dpop;
pub mod fresh;
pub mod introspection;
pub mod logout;
pub mod par;
pub mod routes;
pub mod service;
pub mod token;
pub mod tokens;
pub mod userinfo;

use axum::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use oidc::{ErrorCode, OAuthError};

/// A JSON error as RFC 6749 §5.2 prescribes: status, no caching, and for a failed client
/// authentication or a bad bearer token the `WWW-Authenticate` challenge.
pub fn json_error(error: &OAuthError) -> Response {
    let status = StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, Json(error)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    match error.code {
        ErrorCode::InvalidClient => {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"llave\""));
        }
        ErrorCode::InvalidToken => {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
        }
        _ => {}
    }
    response
}

pub fn server_error(cause: impl std::fmt::Display) -> Response {
    tracing::error!(%cause, "OIDC endpoint failed");
    json_error(&OAuthError::new(ErrorCode::ServerError, "internal error"))
}

/// Form pairs of a body, or `invalid_request` for a body that is not a form.
pub fn form_pairs(bytes: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(bytes).map_err(|_| OAuthError::invalid_request("the body is not a form"))?;
    Ok(pairs)
}

/// A 303 to `path` with `pairs` as its query: a POSTed request repeated as a GET.
pub fn same_request_as_get(path: &str, pairs: &[(String, String)]) -> Response {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    axum::response::Redirect::to(&format!("{path}?{query}")).into_response()
}
