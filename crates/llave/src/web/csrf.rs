//! CSRF protection for every form: a signed double-submit token (OWASP CSRF cheat sheet).
//! A random value lives in an `HttpOnly` cookie; forms carry HMAC-SHA256(key, value), so a
//! token cannot be forged without the server key even by someone who can plant cookies.
//! The value is replaced at sign-in.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::crypto::random_token;
use crate::web::cookies;

const COOKIE: &str = "llave_csrf";

/// The token forms must echo back, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

impl CsrfToken {
    pub fn matches(&self, submitted: &str) -> bool {
        bool::from(self.0.as_bytes().ct_eq(submitted.as_bytes()))
    }
}

/// Put into a response's extensions to replace the CSRF cookie (after sign-in).
#[derive(Debug, Clone, Copy)]
pub struct RotateCsrf;

fn sign(key: &[u8], value: &str) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"llave csrf v1:");
    mac.update(value.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Endpoints for programs, not people (every `/api/` path among them): no forms, so no
/// CSRF cookie to set.
fn for_programs(path: &str) -> bool {
    matches!(
        path,
        "/token"
            | "/introspect"
            | "/revoke"
            | "/par"
            | "/userinfo"
            | "/jwks"
            | "/healthz"
            | "/readyz"
            | "/verificacion/callback"
            | "/referencia/verificacion/sessions"
            | "/referencia/verificacion/jwks.json"
            | "/openapi.json"
    ) || path.starts_with("/api/")
        || path.starts_with("/.well-known/")
        || path.starts_with("/pki/")
}

pub async fn csrf_cookie(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if for_programs(request.uri().path()) {
        return next.run(request).await;
    }
    let policy = state.cookie_policy();
    let existing = cookies::get(request.headers(), &policy.name(COOKIE)).filter(|v| v.len() == 43);
    let (value, fresh) = match existing {
        Some(value) => (value, false),
        None => (random_token(), true),
    };
    request.extensions_mut().insert(CsrfToken(sign(&state.csrf_key, &value)));
    let mut response = next.run(request).await;
    let rotate = response.extensions().get::<RotateCsrf>().is_some();
    if fresh || rotate {
        let value = if rotate { random_token() } else { value };
        if let Ok(header) = HeaderValue::from_str(&policy.set(COOKIE, &value, None, "Lax")) {
            response.headers_mut().append(SET_COOKIE, header);
        }
    }
    response
}
