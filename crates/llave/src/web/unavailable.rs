//! The answer when the database is unavailable (a failover, a lost connection; see
//! `store::availability`): `503 Service Unavailable` with `Retry-After`, as OAuth's
//! `temporarily_unavailable` JSON error on the protocol endpoints and the APIs, and as a page
//! in the person's language elsewhere — never the generic 500, which says nothing of trying
//! again. A read (`GET`, `HEAD`: nothing in llave changes state on them that a second run
//! would duplicate) is run once more before giving up, after a short pause, on a connection
//! the pool has checked (`store::pool_options`); a write is never repeated here, since only
//! the handler knows whether it is idempotent.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::i18n::Lang;
use crate::store::availability;
use crate::web::error::PageError;

/// Seconds a client is told to wait: about what a Patroni failover takes.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// Pause before the one retry of a read.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Middleware: see the module documentation.
pub async fn unavailable_as_503(request: Request, next: Next) -> Response {
    let retryable = matches!(*request.method(), Method::GET | Method::HEAD);
    let (parts, body) = request.into_parts();
    let again = retryable.then(|| parts.clone());
    let lang = Lang::from_headers(&parts.headers);
    let (response, unavailable) = availability::watch(next.clone().run(Request::from_parts(parts, body))).await;
    // Only the generic 500: a handler's own 503 (an entity's store down) says more already.
    if !(unavailable && response.status() == StatusCode::INTERNAL_SERVER_ERROR) {
        return response;
    }
    let response = match again {
        Some(parts) => {
            tokio::time::sleep(RETRY_PAUSE).await;
            let (response, unavailable) =
                availability::watch(next.run(Request::from_parts(parts, Body::empty()))).await;
            if !(unavailable && response.status() == StatusCode::INTERNAL_SERVER_ERROR) {
                return response;
            }
            response
        }
        None => response,
    };
    answer(&response, lang)
}

/// The 503 in the form the failed answer had: JSON for a program, a page for a person.
fn answer(failed: &Response, lang: Lang) -> Response {
    let json = failed
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut response = if json {
        let body = serde_json::json!({
            "error": "temporarily_unavailable",
            "error_description": "the database is unavailable for a moment; try again",
        });
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-store")],
            body.to_string(),
        )
            .into_response()
    } else {
        PageError::new(StatusCode::SERVICE_UNAVAILABLE, lang, "error-unavailable-title", "error-unavailable")
            .into_response()
    };
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}
