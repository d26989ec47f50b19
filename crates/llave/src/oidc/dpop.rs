//! DPoP at llave's endpoints (RFC 9449), around the pure check in `oidc::dpop`: the one
//! `DPoP` header of a request, the server nonce key (derived from a server-wide secret, so
//! every node makes and accepts the same nonces), each proof's `jti` spent once in the
//! database (`used_jtis`, beside client assertions': every node shares it, `purge` clears
//! it), and the answers: `use_dpop_nonce` with a `DPoP-Nonce` header at the token endpoint,
//! `WWW-Authenticate: DPoP …` at the resource endpoints.

use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use hmac::{KeyInit, Mac};
use oidc::dpop::{DpopError, Expected, Verified};
use serde_json::json;

use crate::Services;
use crate::store::StoreError;

/// The response header carrying a fresh nonce (RFC 9449 §8).
pub const NONCE_HEADER: &str = "dpop-nonce";

/// How long a proof's `jti` is remembered: longer than a proof is accepted.
const JTI_SECONDS: i64 = oidc::dpop::MAX_AGE_SECONDS + oidc::dpop::MAX_FUTURE_SECONDS + 60;

/// The key nonces are made with: an HMAC of a fixed label under the CSRF key, a server-wide
/// secret every node reads from the database.
pub fn nonce_key(app: &Services) -> Vec<u8> {
    match <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&app.csrf_key) {
        Ok(mut mac) => {
            mac.update(b"llave dpop nonce key");
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => app.csrf_key.clone(),
    }
}

/// The nonce to hand out now.
pub fn current_nonce(app: &Services) -> String {
    oidc::dpop::nonce(&nonce_key(app), app.clock.now())
}

/// The request's proof: `None` without a `DPoP` header; more than one is an error (RFC
/// 9449 §4.3 item 1).
pub fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, DpopError> {
    let mut values = headers.get_all("dpop").iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => {
            value.to_str().map(Some).map_err(|_| DpopError::Invalid("the DPoP header is not text".into()))
        }
        (Some(_), Some(_)) => Err(DpopError::Invalid("one DPoP header only".into())),
    }
}

/// Why a proof could not be accepted.
#[derive(Debug)]
pub enum Refused {
    Proof(DpopError),
    Store(StoreError),
}

impl From<DpopError> for Refused {
    fn from(error: DpopError) -> Refused {
        Refused::Proof(error)
    }
}

/// What a proof at `path` must match, beyond method and URL.
#[derive(Debug, Default, Clone, Copy)]
pub struct Needs<'a> {
    pub nonce: bool,
    pub jkt: Option<&'a str>,
    pub access_token: Option<&'a str>,
}

/// Verifies `proof` for a request `method path` and spends its `jti`: a replayed proof is
/// refused.
pub async fn accept(
    app: &Services,
    proof: &str,
    method: &str,
    path: &str,
    needs: Needs<'_>,
) -> Result<Verified, Refused> {
    let url = format!("{}{path}", app.config.issuer());
    let key = nonce_key(app);
    let expected = Expected {
        method,
        url: &url,
        now: app.clock.now(),
        nonce_key: needs.nonce.then_some(key.as_slice()),
        jkt: needs.jkt,
        access_token: needs.access_token,
    };
    let verified = oidc::dpop::verify(proof, &expected)?;
    let key = format!("dpop:{}:{}", verified.jkt, verified.jti);
    if !app.store.spend_jti(&key, app.clock.now() + JTI_SECONDS).await.map_err(Refused::Store)? {
        return Err(Refused::Proof(DpopError::Invalid("the DPoP proof was used before".into())));
    }
    Ok(verified)
}

/// A resource endpoint's refusal (RFC 9449 §7.1): 401 with a `DPoP` challenge.
pub fn resource_refusal(error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    let algs = oidc::dpop::ALGORITHMS.join(" ");
    let challenge = format!("DPoP error=\"{error}\", algs=\"{algs}\"");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// Adds a fresh nonce to a response.
pub fn with_nonce(app: &Services, mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&current_nonce(app)) {
        response.headers_mut().insert(NONCE_HEADER, value);
    }
    response
}

/// How a request presented its access token.
pub enum Presented {
    /// `Authorization: Bearer …` (or a form's `access_token`, RFC 6750 §2.2).
    Bearer(String),
    /// `Authorization: DPoP …` (RFC 9449 §7.1).
    Dpop(String),
}

/// The access token of a request's `Authorization` header, by scheme (case-insensitive).
pub fn presented(headers: &HeaderMap) -> Option<Presented> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim().to_string();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(Presented::Bearer(token))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Some(Presented::Dpop(token))
    } else {
        None
    }
}

/// A presented access token checked as RFC 9449 §7 says: a token bound to a key (`cnf.jkt`)
/// only with the DPoP scheme and a proof by that key for this request, carrying the
/// token's hash (`ath`); an unbound token only as a bearer token. The token's claims and
/// grant, or the 401 to answer.
pub async fn verify_presented(
    app: &Services,
    headers: &HeaderMap,
    token: Presented,
    method: &str,
    path: &str,
) -> Result<(serde_json::Value, crate::store::oidc::GrantRecord), Response> {
    let (token, dpop) = match token {
        Presented::Bearer(token) => (token, false),
        Presented::Dpop(token) => (token, true),
    };
    let (claims, grant) = match super::tokens::verify_access_token(app, &token).await {
        Ok(found) => found,
        Err(super::tokens::TokenCheck::Invalid(error)) if dpop => {
            return Err(resource_refusal("invalid_token", &error.description));
        }
        Err(super::tokens::TokenCheck::Invalid(error)) => return Err(super::json_error(&error)),
        Err(super::tokens::TokenCheck::Internal(cause)) => return Err(super::server_error(cause)),
    };
    let bound = claims.get("cnf").and_then(|c| c.get("jkt")).and_then(|j| j.as_str()).map(str::to_string);
    match (dpop, bound) {
        (false, None) => Ok((claims, grant)),
        (false, Some(_)) => {
            Err(resource_refusal("invalid_token", "a DPoP-bound access token must be sent with the DPoP scheme"))
        }
        (true, None) => Err(resource_refusal("invalid_token", "the access token is not DPoP-bound")),
        (true, Some(jkt)) => {
            let proof = match proof_header(headers) {
                Ok(Some(proof)) => proof,
                Ok(None) => return Err(resource_refusal("invalid_dpop_proof", "a DPoP proof is required")),
                Err(error) => return Err(resource_refusal("invalid_dpop_proof", &error.to_oauth().description)),
            };
            let needs = Needs { nonce: false, jkt: Some(&jkt), access_token: Some(&token) };
            match accept(app, proof, method, path, needs).await {
                Ok(_) => Ok((claims, grant)),
                Err(Refused::Proof(error)) => {
                    Err(resource_refusal("invalid_dpop_proof", &error.to_oauth().description))
                }
                Err(Refused::Store(error)) => Err(super::server_error(error)),
            }
        }
    }
}
