//! CSRF protection for every form: a signed double-submit token (OWASP CSRF cheat sheet).
//! The cookie holds a pre-session id the server issued and signed (`random.mac`, in a
//! `__Host-` cookie when served over HTTPS, so no other origin can plant one); forms carry
//! HMAC-SHA256(key, pre-session id), so a token belongs to one pre-session and cannot be
//! forged without the server key. A cookie value the server did not sign is never used: a
//! new pre-session replaces it. Sign-in and sign-out rotate the pre-session, so a token
//! from before (finding 13.10c: login CSRF) is refused after.

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

fn mac(key: &[u8], label: &[u8], value: &str) -> String {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(label);
    mac.update(value.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The form token of a pre-session.
fn sign(key: &[u8], pre_session: &str) -> String {
    mac(key, b"llave csrf v2:", pre_session)
}

/// A new pre-session id, signed by the server.
fn new_pre_session(key: &[u8]) -> String {
    let id = random_token();
    let signature = mac(key, b"llave pre-session v1:", &id);
    format!("{id}.{signature}")
}

/// Whether a cookie value is a pre-session this server issued.
fn issued_here(key: &[u8], value: &str) -> bool {
    match value.split_once('.') {
        Some((id, signature)) if id.len() == 43 => {
            bool::from(mac(key, b"llave pre-session v1:", id).as_bytes().ct_eq(signature.as_bytes()))
        }
        _ => false,
    }
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
    let existing = cookies::get(request.headers(), &policy.name(COOKIE)).filter(|v| issued_here(&state.csrf_key, v));
    let (value, fresh) = match existing {
        Some(value) => (value, false),
        None => (new_pre_session(&state.csrf_key), true),
    };
    request.extensions_mut().insert(CsrfToken(sign(&state.csrf_key, &value)));
    let mut response = next.run(request).await;
    let rotate = response.extensions().get::<RotateCsrf>().is_some();
    if fresh || rotate {
        let value = if rotate { new_pre_session(&state.csrf_key) } else { value };
        if let Ok(header) = HeaderValue::from_str(&policy.set(COOKIE, &value, None, "Lax")) {
            response.headers_mut().append(SET_COOKIE, header);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pre_sessions_issued_here_are_used() {
        let value = new_pre_session(b"key");
        assert!(issued_here(b"key", &value));
        assert!(!issued_here(b"other", &value));
        assert!(!issued_here(b"key", &random_token()), "a value someone made up");
        assert!(!issued_here(b"key", &format!("{}.{}", random_token(), "x")));
        assert_ne!(sign(b"key", &value), sign(b"key", &new_pre_session(b"key")));
    }
}
