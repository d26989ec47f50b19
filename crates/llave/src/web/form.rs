//! `CsrfForm<T>`: the only way a handler reads a submitted form. It refuses a body over
//! the size limit (413), a missing or wrong CSRF token (403) and a body that is not a form
//! (400), each with a page in the person's language; only then it hands over `T`.
//! Form structs default every field, so a missing field becomes a field error, not a 400.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::i18n::Lang;
use crate::web::csrf::CsrfToken;
use crate::web::error::PageError;

pub struct CsrfForm<T>(pub T);

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenOnly {
    csrf_token: String,
}

impl<S, T> FromRequest<S> for CsrfForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let lang = Lang::from_request_parts(&mut parts, state).await.unwrap_or_default();
        let expected = parts.extensions.get::<CsrfToken>().cloned();
        let request = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                PageError::new(StatusCode::PAYLOAD_TOO_LARGE, lang, "error-too-large-title", "error-too-large")
            } else {
                PageError::new(StatusCode::BAD_REQUEST, lang, "error-bad-request-title", "error-bad-request")
            }
        })?;
        let token: TokenOnly = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        match expected {
            Some(expected) if !token.csrf_token.is_empty() && expected.matches(&token.csrf_token) => {}
            _ => return Err(PageError::csrf(lang)),
        }
        // NUL never gets this far: `web::nul` refuses it for every request.
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            PageError::new(StatusCode::BAD_REQUEST, lang, "error-bad-request-title", "error-bad-request")
        })?;
        Ok(CsrfForm(form))
    }
}

/// `PageQuery<T>`: the query string as `T`, or a "bad request" page in the person's
/// language (axum's own `Query` answers in plain English text).
pub struct PageQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for PageQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        if let Ok(value) = serde_urlencoded::from_str(query) {
            return Ok(PageQuery(value));
        }
        let lang = Lang::from_request_parts(parts, state).await.unwrap_or_default();
        Err(PageError::new(StatusCode::BAD_REQUEST, lang, "error-bad-request-title", "error-bad-request"))
    }
}
