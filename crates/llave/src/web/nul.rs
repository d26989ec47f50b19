//! The one place where NUL is refused. No identifier, name, code, token or address llave
//! knows holds the character U+0000, and PostgreSQL cannot store it in text (a query binding
//! one fails with an error, and each such request would write an error line to the log), so a
//! request that carries one anywhere a handler could read it — the path, the query, a header
//! (including the client id and secret inside `Authorization: Basic`, which RFC 6749 §2.3.1
//! form-encodes), a form field, a JSON string — is answered 400 before any handler runs: an
//! OAuth-style JSON error on the protocol endpoints and the APIs, a page in the person's
//! language elsewhere.
//!
//! Multipart bodies (documents to sign or verify) are binary by nature and pass; their text
//! fields are read by handlers that bind nothing of them to a query.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::i18n::Lang;
use crate::web::error::PageError;

/// Paths whose callers are programs: they get a JSON error, not a page.
const PROGRAM_PATHS: &[&str] = &["/token", "/introspect", "/revoke", "/par", "/userinfo", "/api/"];

/// Middleware: refuses NUL anywhere in the request (see the module documentation).
/// `max_scan` bounds how much of a form or JSON body is read to look (the largest body any
/// route accepts); a bigger one is refused 413 as its route would.
pub async fn refuse_nul(max_scan: usize, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    // No identifier in a path holds NUL: such a path names nothing.
    if percent_decoded_has_nul(parts.uri.path().as_bytes()) {
        return refusal(&mut parts, StatusCode::NOT_FOUND).await;
    }
    if parts_hold_nul(&parts.uri, &parts.headers) {
        return refusal(&mut parts, StatusCode::BAD_REQUEST).await;
    }
    let kind = BodyKind::of(&parts.headers);
    if kind == BodyKind::Unread {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let bytes = match to_bytes(body, max_scan).await {
        Ok(bytes) => bytes,
        Err(_) => return refusal(&mut parts, StatusCode::PAYLOAD_TOO_LARGE).await,
    };
    let nul = match kind {
        BodyKind::Form => form_holds_nul(&bytes),
        _ => bytes.contains(&0) || escaped_nul(&bytes),
    };
    if nul {
        return refusal(&mut parts, StatusCode::BAD_REQUEST).await;
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

#[derive(Debug, PartialEq, Eq)]
enum BodyKind {
    /// `application/x-www-form-urlencoded`: its decoded fields are checked.
    Form,
    /// JSON, text or no declared type: its bytes are checked (a JSON NUL is `\u0000`).
    Text,
    /// Multipart (binary documents) or a request without a body.
    Unread,
}

impl BodyKind {
    fn of(headers: &HeaderMap) -> BodyKind {
        let declared = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let length = headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
        if declared.starts_with("multipart/") || length == Some("0") {
            BodyKind::Unread
        } else if declared.starts_with("application/x-www-form-urlencoded") {
            BodyKind::Form
        } else {
            BodyKind::Text
        }
    }
}

/// NUL in the percent-decoded path or query, or in a header (decoded where it is encoded).
pub fn parts_hold_nul(uri: &Uri, headers: &HeaderMap) -> bool {
    let path = uri.path().as_bytes();
    if percent_decoded_has_nul(path) {
        return true;
    }
    if uri.query().is_some_and(|q| form_holds_nul(q.as_bytes())) {
        return true;
    }
    headers.iter().any(|(name, value)| {
        value.as_bytes().contains(&0) || (name == AUTHORIZATION && basic_credentials_hold_nul(value.as_bytes()))
    })
}

/// `%00` anywhere (a path is not form-encoded: `+` is a plus there).
fn percent_decoded_has_nul(bytes: &[u8]) -> bool {
    bytes.contains(&0) || bytes.windows(3).any(|w| w.eq_ignore_ascii_case(b"%00"))
}

fn form_holds_nul(bytes: &[u8]) -> bool {
    url::form_urlencoded::parse(bytes).any(|(k, v)| k.contains('\0') || v.contains('\0'))
}

/// `Basic base64(id:secret)`, each part form-encoded (RFC 6749 §2.3.1).
fn basic_credentials_hold_nul(value: &[u8]) -> bool {
    let Some(encoded) = value.get(..6).filter(|p| p.eq_ignore_ascii_case(b"basic ")).map(|_| &value[6..]) else {
        return false;
    };
    match STANDARD.decode(encoded.trim_ascii()) {
        Ok(decoded) => decoded.contains(&0) || form_holds_nul(&decoded),
        Err(_) => false,
    }
}

/// `\u0000` in a JSON text (a raw NUL byte is not JSON at all).
pub fn escaped_nul(body: &[u8]) -> bool {
    body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
}

async fn refusal(parts: &mut axum::http::request::Parts, status: StatusCode) -> Response {
    let path = parts.uri.path();
    let program = PROGRAM_PATHS.iter().any(|p| if p.ends_with('/') { path.starts_with(p) } else { path == *p });
    if program {
        let (error, description) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => ("invalid_request", "the body is too large"),
            StatusCode::NOT_FOUND => ("not_found", "nothing has that name"),
            _ => ("invalid_request", "NUL characters are not accepted"),
        };
        let body = serde_json::json!({ "error": error, "error_description": description });
        return (status, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    }
    let lang = Lang::from_request_parts(parts, &()).await.unwrap_or_default();
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => PageError::new(status, lang, "error-too-large-title", "error-too-large"),
        StatusCode::NOT_FOUND => PageError::not_found(lang),
        _ => PageError::new(status, lang, "error-bad-request-title", "error-bad-request"),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn nul_in_path_or_query_is_found() {
        let none = HeaderMap::new();
        assert!(parts_hold_nul(&"/records/a%00b".parse().unwrap(), &none));
        assert!(parts_hold_nul(&"/verificacion/regreso?session=%00".parse().unwrap(), &none));
        assert!(parts_hold_nul(&"/x?a%00=1".parse().unwrap(), &none));
        assert!(!parts_hold_nul(&"/tramites?q=agua%20potable".parse().unwrap(), &none));
        assert!(!parts_hold_nul(&"/x?q=%ff%fe".parse().unwrap(), &none));
    }

    #[test]
    fn nul_inside_basic_credentials_is_found() {
        let uri: Uri = "/token".parse().unwrap();
        let raw = format!("Basic {}", STANDARD.encode(b"a\0b:s"));
        let encoded = format!("Basic {}", STANDARD.encode(b"a%00b:s"));
        let fine = format!("Basic {}", STANDARD.encode(b"client:secret"));
        assert!(parts_hold_nul(&uri, &headers(&[("authorization", &raw)])));
        assert!(parts_hold_nul(&uri, &headers(&[("authorization", &encoded)])));
        assert!(!parts_hold_nul(&uri, &headers(&[("authorization", &fine)])));
        assert!(!parts_hold_nul(&uri, &headers(&[("authorization", "Basic !!!not base64")])));
    }

    #[test]
    fn bodies_are_read_by_their_kind() {
        assert!(form_holds_nul(b"a=1&b=x%00y"));
        assert!(!form_holds_nul(b"a=1&b=%ff"));
        assert!(escaped_nul(br#"{"kind":"a\u0000b"}"#));
        assert!(!escaped_nul(br#"{"kind":"a"}"#));
        assert_eq!(BodyKind::of(&headers(&[("content-type", "multipart/form-data; boundary=x")])), BodyKind::Unread);
        assert_eq!(BodyKind::of(&headers(&[("content-type", "application/x-www-form-urlencoded")])), BodyKind::Form);
        assert_eq!(BodyKind::of(&headers(&[("content-type", "application/json")])), BodyKind::Text);
    }
}
