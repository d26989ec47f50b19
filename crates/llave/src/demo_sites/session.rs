//! A demo site's own cookies, as a small outside site would keep them: the sign-in in
//! progress (state, nonce, PKCE verifier) and the visitor once signed in (their pairwise
//! `sub`, their name, the CSRF token of the site's forms). Each is JSON signed with
//! HMAC-SHA256 under the sites' key, bound to its site and purpose, with an expiry.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use super::Live;
use crate::web::cookies::{self, CookiePolicy};

/// A sign-in in progress lasts this long.
pub const LOGIN_SECONDS: i64 = 10 * 60;
/// A visit to a demo site lasts this long.
pub const VISIT_SECONDS: i64 = 60 * 60;

/// What the site remembers between sending the person to llave and their return.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Login {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub exp: i64,
}

/// Who is using the site.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Visitor {
    pub sub: String,
    pub name: String,
    pub csrf: String,
    pub exp: i64,
}

impl Visitor {
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        !submitted.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(submitted.as_bytes()))
    }
}

#[derive(Clone, Copy)]
pub enum Purpose {
    Login,
    Visitor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Visitor => "visitor",
        }
    }
}

fn cookie_name(live: &Live, purpose: Purpose) -> String {
    format!("demo_{}_{}", live.site.slug.replace('-', "_"), purpose.as_str())
}

fn mac(live: &Live, purpose: Purpose, payload: &str) -> Vec<u8> {
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&live.cookie_key).expect("HMAC takes any key length");
    mac.update(format!("llave demo site v1:{}:{}:", live.site.slug, purpose.as_str()).as_bytes());
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A `Set-Cookie` value holding `value`, signed, for `max_age` seconds.
pub fn set<T: Serialize>(live: &Live, policy: CookiePolicy, purpose: Purpose, value: &T, max_age: i64) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default());
    let signature = URL_SAFE_NO_PAD.encode(mac(live, purpose, &payload));
    policy.set(&cookie_name(live, purpose), &format!("{payload}.{signature}"), Some(max_age), "Lax")
}

pub fn clear(live: &Live, policy: CookiePolicy, purpose: Purpose) -> String {
    policy.clear(&cookie_name(live, purpose))
}

/// The cookie's value if it is there, signed by us for this site and purpose, and not
/// expired (`exp` in the value).
pub fn get<T: DeserializeOwned>(live: &Live, policy: CookiePolicy, headers: &HeaderMap, purpose: Purpose) -> Option<T> {
    let text = cookies::get(headers, &policy.name(&cookie_name(live, purpose)))?;
    let (payload, signature) = text.split_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    if !bool::from(mac(live, purpose, payload).ct_eq(&signature)) {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    if json.get("exp").and_then(serde_json::Value::as_i64).is_none_or(|exp| exp <= crate::crypto::now()) {
        return None;
    }
    serde_json::from_value(json).ok()
}
