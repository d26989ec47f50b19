//! Every request's id: taken from an incoming `X-Request-Id` when it is well formed (a load
//! balancer's or a client's, so one id follows a request across systems), generated
//! otherwise; carried in the `request` span every log line of the request is written in
//! (the span `TraceLayer` opens, made by [`span`]), and returned in the `X-Request-Id`
//! response header.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request, for handlers that want to show or pass it on.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// An incoming id is kept if it is 1 to 128 characters of letters, digits and `-_.:`:
/// nothing that could forge a log line or carry much data.
pub fn well_formed(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map(str::to_string)
        .unwrap_or_else(crate::crypto::random_id);
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// The span of a request: its id, method and route pattern (never the path or the query,
/// which may carry codes and tokens). At `info`, so the default filter keeps its fields.
pub fn span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let id = request.extensions().get::<RequestId>().map_or("", |id| id.0.as_str());
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
    tracing::info_span!("request", request_id = %id, method = %request.method(), route = %route)
}

#[cfg(test)]
mod tests {
    use super::well_formed;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(well_formed("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert!(well_formed("lb-01:req.42_x"));
        for bad in ["", "a b", "x\ny", "ü", "a\"b", &"a".repeat(129)] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}
