//! DPoP, Demonstrating Proof of Possession (RFC 9449), as a pure check: is this `DPoP`
//! header a proof, by the key it carries, of this request (method, URL), made now, with the
//! server's current nonce when one is required, by the key a code or token is bound to,
//! and for the access token presented with it? The caller spends the returned `jti` once
//! (in the database, so every node shares it) and binds what it issues to the returned
//! thumbprint (RFC 7638).
//!
//! Server nonces (RFC 9449 §8) are stateless: an HMAC of a time window under a server key,
//! valid in its window and the next, so any node accepts a nonce another node gave.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{ErrorCode, OAuthError};

/// RFC 9449 §4.2 `typ`.
pub const TYP: &str = "dpop+jwt";
/// The algorithms llave accepts for proofs (FAPI 2.0 §5.4.1), advertised as
/// `dpop_signing_alg_values_supported`.
pub const ALGORITHMS: [&str; 3] = ["PS256", "ES256", "EdDSA"];
/// A proof made up to this long ago is fresh (RFC 9449 §11.1: a short window).
pub const MAX_AGE_SECONDS: i64 = 60;
/// A proof made up to this far in the future (clock skew) is accepted.
pub const MAX_FUTURE_SECONDS: i64 = 10;
/// A nonce's time window; a nonce is good in its window and the next.
pub const NONCE_WINDOW_SECONDS: i64 = 60;

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpopError {
    /// No proof where one is required.
    Missing,
    /// Malformed, badly signed, for another request, stale, replayed, or by another key.
    Invalid(String),
    /// The proof lacks the current server nonce: answer `use_dpop_nonce` with a fresh one.
    UseNonce,
}

impl DpopError {
    fn invalid(why: &str) -> DpopError {
        DpopError::Invalid(why.to_string())
    }

    /// The error as the token endpoint answers it (RFC 9449 §5 and §8).
    pub fn to_oauth(&self) -> OAuthError {
        match self {
            DpopError::Missing => OAuthError::new(ErrorCode::InvalidDpopProof, "a DPoP proof is required"),
            DpopError::Invalid(why) => OAuthError::new(ErrorCode::InvalidDpopProof, why),
            DpopError::UseNonce => {
                OAuthError::new(ErrorCode::UseDpopNonce, "the DPoP proof must carry the nonce in DPoP-Nonce")
            }
        }
    }
}

/// What a request must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The request's method (`htm`).
    pub method: &'a str,
    /// The request's URL (`htu`, compared without query and fragment).
    pub url: &'a str,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// The server's nonce key, when the proof must carry a current nonce.
    pub nonce_key: Option<&'a [u8]>,
    /// The thumbprint the code or token is bound to, when it is.
    pub jkt: Option<&'a str>,
    /// The access token presented with the proof (its hash must be the `ath`).
    pub access_token: Option<&'a str>,
}

/// A verified proof: the key's thumbprint and the proof's `jti` (to spend once) and `iat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

fn decode_part(part: &str) -> Option<Value> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// Members of a JWK that only a private key has.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

/// Verifies a proof against what the request must match.
pub fn verify(proof: &str, expected: &Expected) -> Result<Verified, DpopError> {
    let mut parts = proof.split('.');
    let (Some(header), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(DpopError::invalid("the DPoP proof is not a JWS"));
    };
    let header = decode_part(header).ok_or_else(|| DpopError::invalid("the DPoP proof's header is not JSON"))?;
    if header.get("typ").and_then(Value::as_str) != Some(TYP) {
        return Err(DpopError::invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !ALGORITHMS.contains(&alg) {
        return Err(DpopError::invalid("the DPoP proof's alg must be PS256, ES256 or EdDSA"));
    }
    let Some(jwk) = header.get("jwk").filter(|j| j.is_object()) else {
        return Err(DpopError::invalid("the DPoP proof's header has no jwk"));
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.get(m).is_some()) {
        return Err(DpopError::invalid("the DPoP proof's jwk must be a public key"));
    }
    let jkt = thumbprint(jwk).ok_or_else(|| DpopError::invalid("the DPoP proof's jwk is not a usable key"))?;
    let claims = verify_signature(proof, alg, jwk)?;

    let jti = claims.get("jti").and_then(Value::as_str).unwrap_or("");
    if jti.is_empty() || jti.len() > 256 {
        return Err(DpopError::invalid("the DPoP proof needs a jti"));
    }
    if claims.get("htm").and_then(Value::as_str) != Some(expected.method) {
        return Err(DpopError::invalid("the DPoP proof's htm is not this request's method"));
    }
    let htu = claims.get("htu").and_then(Value::as_str).unwrap_or("");
    if !same_target(htu, expected.url) {
        return Err(DpopError::invalid("the DPoP proof's htu is not this request's URL"));
    }
    let Some(iat) = claims.get("iat").and_then(Value::as_i64) else {
        return Err(DpopError::invalid("the DPoP proof needs an iat"));
    };
    if iat > expected.now + MAX_FUTURE_SECONDS || iat < expected.now - MAX_AGE_SECONDS {
        return Err(DpopError::invalid("the DPoP proof's iat is outside the accepted window"));
    }
    if let Some(key) = expected.nonce_key {
        match claims.get("nonce").and_then(Value::as_str) {
            Some(nonce) if nonce_is_current(key, nonce, expected.now) => {}
            _ => return Err(DpopError::UseNonce),
        }
    }
    if let Some(bound) = expected.jkt
        && bound != jkt
    {
        return Err(DpopError::invalid("the DPoP proof is signed by another key than the one bound"));
    }
    match (expected.access_token, claims.get("ath").and_then(Value::as_str)) {
        (Some(token), Some(ath)) if ath == access_token_hash(token) => {}
        (Some(_), _) => return Err(DpopError::invalid("the DPoP proof's ath is not the access token's hash")),
        (None, _) => {}
    }
    Ok(Verified { jkt, jti: jti.to_string(), iat })
}

fn verify_signature(proof: &str, alg: &str, jwk: &Value) -> Result<Value, DpopError> {
    let bad_key = || DpopError::invalid("the DPoP proof's jwk is not a usable key");
    let algorithm: jsonwebtoken::Algorithm = alg.parse().map_err(|_| bad_key())?;
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).map_err(|_| bad_key())?;
    let key_fits = matches!(
        (algorithm, &parsed.algorithm),
        (jsonwebtoken::Algorithm::PS256, jsonwebtoken::jwk::AlgorithmParameters::RSA(_))
            | (jsonwebtoken::Algorithm::ES256, jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_))
            | (jsonwebtoken::Algorithm::EdDSA, jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_))
    );
    if !key_fits {
        return Err(bad_key());
    }
    let key = jsonwebtoken::DecodingKey::from_jwk(&parsed).map_err(|_| bad_key())?;
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims::<&str>(&[]);
    jsonwebtoken::decode::<Value>(proof, &key, &validation)
        .map(|data| data.claims)
        .map_err(|_| DpopError::invalid("the DPoP proof's signature does not verify"))
}

/// RFC 9449 §4.3 item 9: `htu` and the request's URL, compared without query and
/// fragment, after URL normalisation (scheme and host case, default port).
fn same_target(htu: &str, url: &str) -> bool {
    let strip = |text: &str| {
        url::Url::parse(text).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        })
    };
    match (strip(htu), strip(url)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The JWK SHA-256 thumbprint (RFC 7638) of a public key, base64url: the required members
/// in lexicographic order, no white space.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str).map(|v| serde_json::to_string(v).ok());
    let canonical = match jwk.get("kty").and_then(Value::as_str)? {
        "EC" => format!(r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#, member("crv")??, member("x")??, member("y")??),
        "OKP" => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, member("crv")??, member("x")??),
        "RSA" => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, member("e")??, member("n")??),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

/// RFC 9449 §4.2 `ath`: the base64url SHA-256 of the access token.
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// The nonce of the window holding `now`, under `key`.
pub fn nonce(key: &[u8], now: i64) -> String {
    nonce_of_window(key, now.div_euclid(NONCE_WINDOW_SECONDS))
}

fn nonce_of_window(key: &[u8], window: i64) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else { return String::new() };
    mac.update(b"llave dpop nonce ");
    mac.update(&window.to_be_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Is `nonce` the nonce of this window or of the one before?
pub fn nonce_is_current(key: &[u8], nonce: &str, now: i64) -> bool {
    use subtle::ConstantTimeEq;
    let window = now.div_euclid(NONCE_WINDOW_SECONDS);
    [window, window - 1].iter().any(|w| bool::from(nonce_of_window(key, *w).as_bytes().ct_eq(nonce.as_bytes())))
}

#[cfg(test)]
#[path = "dpop_tests.rs"]
mod tests;
