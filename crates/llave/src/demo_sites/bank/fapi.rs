//! The bank as a FAPI 2.0 client of llave, over HTTP and nothing else (the contract of
//! issue 17): client assertions (`private_key_jwt`, RFC 7523, `aud` the issuer), DPoP proofs
//! (RFC 9449, retried once with the server's nonce when asked), the pushed authorization
//! request (RFC 9126) with PKCE and the `data_sharing` details (RFC 9396), the token request,
//! `GET /api/shared-data`, and grant management's `GET /grants/{id}`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Bank, CLIENT_ID, KEY_ID, PURPOSE, Pending, public_jwk, redirect_uri};
use crate::crypto::{now, random_id, random_token};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// What the bank asks for: who the person is, and where they live, from whoever holds it.
pub const ITEMS: [&str; 4] = ["name", "curp", "birthdate", "record:proof_of_residence"];
/// The bank may use the consent for 30 days.
const CONSENT_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum FapiError {
    #[error("llave did not answer: {0}")]
    Http(#[from] reqwest::Error),
    #[error("llave refused ({status}): {body}")]
    Refused { status: StatusCode, body: String },
    #[error("llave's answer is not acceptable: {0}")]
    Unacceptable(String),
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A compact JWS (ES256) by `key`.
fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// RFC 7523 §3 with FAPI 2.0 §5.3.2.1: `aud` is the issuer identifier, one string.
fn client_assertion(bank: &Bank) -> String {
    let now = now();
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": KEY_ID });
    let claims = json!({ "iss": CLIENT_ID, "sub": CLIENT_ID, "aud": bank.issuer(), "jti": random_id(),
        "iat": now, "exp": now + 60 });
    sign(&bank.key, &header, &claims)
}

fn credentials(bank: &Bank) -> [(String, String); 2] {
    [("client_assertion_type".into(), ASSERTION_TYPE.into()), ("client_assertion".into(), client_assertion(bank))]
}

/// A DPoP proof (RFC 9449 §4.2) by `key` for this request, for `token` when one is sent.
fn proof(key: &SigningKey, method: &str, url: &str, nonce: Option<&str>, token: Option<&str>) -> String {
    let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key, None) });
    let mut claims = json!({ "jti": random_id(), "htm": method, "htu": url, "iat": now() });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(token) = token {
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
    }
    sign(key, &header, &claims)
}

/// RFC 7638: the thumbprint a code is bound to at PAR (`dpop_jkt`).
pub fn thumbprint(key: &SigningKey) -> String {
    let jwk = public_jwk(key, None);
    let member = |name: &str| jwk[name].as_str().unwrap_or_default().to_string();
    let canonical = json!({ "crv": member("crv"), "kty": member("kty"), "x": member("x"), "y": member("y") });
    // serde_json writes object members in sorted order (no preserve_order): RFC 7638's form.
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// The `authorization_details` of the contract: the account-opening request.
pub fn details(now: i64) -> Value {
    let expires = jiff::Timestamp::from_second(now + CONSENT_DAYS * 86_400)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    json!([{ "type": "data_sharing", "purpose": PURPOSE, "items": ITEMS, "fetch": "once", "data_life": "P5Y",
        "expires": expires }])
}

async fn refused(response: reqwest::Response) -> FapiError {
    FapiError::Refused { status: response.status(), body: response.text().await.unwrap_or_default() }
}

/// A new authorization request in flight, and the pushed request's `request_uri`; the
/// person goes to [`authorize_url`] with it.
pub async fn push(http: &reqwest::Client, bank: &Bank, dpop: &SigningKey) -> Result<(Pending, String), FapiError> {
    let pending = Pending { state: random_token(), nonce: random_token(), verifier: random_token() };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.verifier.as_bytes()));
    let mut form: Vec<(String, String)> = [
        ("response_type", "code".to_string()),
        ("client_id", CLIENT_ID.to_string()),
        ("redirect_uri", redirect_uri(bank.issuer())),
        ("scope", "openid".to_string()),
        ("state", pending.state.clone()),
        ("nonce", pending.nonce.clone()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".to_string()),
        ("dpop_jkt", thumbprint(dpop)),
        ("authorization_details", details(now()).to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    form.extend(credentials(bank));
    let response = http.post(format!("{}/par", bank.issuer())).form(&form).send().await?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    let answer: Value = response.json().await?;
    let request_uri = answer
        .get("request_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| FapiError::Unacceptable("the pushed request has no request_uri".into()))?;
    Ok((pending, request_uri.to_string()))
}

/// Where the person's browser goes: only the client id and the pushed request's reference
/// (FAPI 2.0 §5.3.2.2).
pub fn authorize_url(bank: &Bank, request_uri: &str) -> String {
    let query =
        serde_urlencoded::to_string([("client_id", CLIENT_ID), ("request_uri", request_uri)]).unwrap_or_default();
    format!("{}/authorize?{query}", bank.issuer())
}

/// Whether a refusal asks for the server's DPoP nonce (RFC 9449 §8, §9): the nonce to retry
/// with.
fn nonce_asked(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> Option<String> {
    let asked = matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED)
        && (body.contains("use_dpop_nonce")
            || headers
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("use_dpop_nonce")));
    asked.then(|| headers.get("DPoP-Nonce").and_then(|v| v.to_str().ok()).map(str::to_string)).flatten()
}

/// A token request (client assertion and DPoP proof), retried once with the server's nonce
/// when it answers `use_dpop_nonce`.
async fn token_request(
    http: &reqwest::Client,
    bank: &Bank,
    dpop: &SigningKey,
    grant: &[(&str, &str)],
) -> Result<Value, FapiError> {
    let url = format!("{}/token", bank.issuer());
    let mut nonce: Option<String> = None;
    for attempt in 0..2 {
        let mut form: Vec<(String, String)> = grant.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        form.extend(credentials(bank));
        let response = http
            .post(&url)
            .header("DPoP", proof(dpop, "POST", &url, nonce.as_deref(), None))
            .form(&form)
            .send()
            .await?;
        let (status, headers) = (response.status(), response.headers().clone());
        if status.is_success() {
            return Ok(response.json().await?);
        }
        let body = response.text().await.unwrap_or_default();
        match nonce_asked(status, &headers, &body) {
            Some(given) if attempt == 0 => nonce = Some(given),
            _ => return Err(FapiError::Refused { status, body }),
        }
    }
    Err(FapiError::Unacceptable("the token endpoint kept asking for a DPoP nonce".into()))
}

/// The token answer for the authorization code, DPoP-bound to the applicant's key.
pub async fn exchange(
    http: &reqwest::Client,
    bank: &Bank,
    dpop: &SigningKey,
    pending: &Pending,
    code: &str,
) -> Result<Value, FapiError> {
    let redirect = redirect_uri(bank.issuer());
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", pending.verifier.as_str()),
    ];
    let tokens = token_request(http, bank, dpop, &grant).await?;
    if !tokens.get("token_type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case("DPoP")) {
        return Err(FapiError::Unacceptable("the access token is not DPoP-bound".into()));
    }
    Ok(tokens)
}

pub async fn hub_jwks(http: &reqwest::Client, bank: &Bank) -> Result<JwkSet, FapiError> {
    let response = http.get(format!("{}/jwks", bank.issuer())).send().await?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    Ok(response.json().await?)
}

pub async fn root_pem(http: &reqwest::Client, bank: &Bank) -> Result<String, FapiError> {
    let response = http.get(format!("{}/pki/root.pem", bank.issuer())).send().await?;
    if !response.status().is_success() {
        return Err(refused(response).await);
    }
    Ok(response.text().await?)
}

/// How a resource request with a DPoP-bound token went.
pub enum Resource {
    Ok(reqwest::Response),
    /// 401, 403 or 404: the `error` code (`invalid_token`, `consent_revoked`…) and its
    /// description.
    Refused {
        error: String,
        description: String,
    },
}

/// A request to a resource of llave with the token and a proof by its key, retried once
/// with the nonce if llave asks for one.
async fn resource(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    dpop: &SigningKey,
) -> Result<Resource, FapiError> {
    let mut nonce: Option<String> = None;
    for attempt in 0..2 {
        let response = http
            .request(method.clone(), url)
            .header(reqwest::header::AUTHORIZATION, format!("DPoP {token}"))
            .header("DPoP", proof(dpop, method.as_str(), url, nonce.as_deref(), Some(token)))
            .send()
            .await?;
        let (status, headers) = (response.status(), response.headers().clone());
        if status.is_success() {
            return Ok(Resource::Ok(response));
        }
        let body = response.text().await.unwrap_or_default();
        if let Some(given) = nonce_asked(status, &headers, &body)
            && attempt == 0
        {
            nonce = Some(given);
            continue;
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) {
            let answer: Value = serde_json::from_str(&body).unwrap_or_default();
            // A 401 may carry its error only in WWW-Authenticate (RFC 6750 §3).
            let challenge = headers.get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
            let error = answer
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| challenge_error(challenge))
                .unwrap_or_else(|| status.as_u16().to_string());
            let description = answer.get("error_description").and_then(Value::as_str).unwrap_or_default().to_string();
            return Ok(Resource::Refused { error, description });
        }
        return Err(FapiError::Refused { status, body });
    }
    Err(FapiError::Unacceptable("llave kept asking for a DPoP nonce".into()))
}

/// `error="…"` in a `WWW-Authenticate` challenge.
fn challenge_error(challenge: &str) -> Option<String> {
    let start = challenge.find("error=\"")? + "error=\"".len();
    let rest = &challenge[start..];
    Some(rest[..rest.find('"')?].to_string())
}

/// What `GET /api/shared-data` answered.
pub enum Shared {
    /// The signed data (a compact JWS, not yet verified).
    Data(String),
    /// 401 or 403: the `error` code and llave's description of it.
    Refused { error: String, description: String },
}

pub async fn shared_data(
    http: &reqwest::Client,
    bank: &Bank,
    token: &str,
    dpop: &SigningKey,
) -> Result<Shared, FapiError> {
    let url = format!("{}/api/shared-data", bank.issuer());
    match resource(http, reqwest::Method::GET, &url, token, dpop).await? {
        Resource::Ok(response) => Ok(Shared::Data(response.text().await?.trim().to_string())),
        Resource::Refused { error, description } => Ok(Shared::Refused { error, description }),
    }
}

/// The grant's state as grant management reads it (`GET /grants/{id}` with a
/// client-credentials token carrying `grant_management_query`): the `state`, or why not.
pub async fn grant_state(
    http: &reqwest::Client,
    bank: &Bank,
    dpop: &SigningKey,
    grant_id: &str,
) -> Result<Result<String, String>, FapiError> {
    let tokens =
        token_request(http, bank, dpop, &[("grant_type", "client_credentials"), ("scope", "grant_management_query")])
            .await?;
    let Some(token) = tokens.get("access_token").and_then(Value::as_str) else {
        return Err(FapiError::Unacceptable("the client-credentials answer has no access_token".into()));
    };
    let segment: String = url::form_urlencoded::byte_serialize(grant_id.as_bytes()).collect();
    let url = format!("{}/grants/{segment}", bank.issuer());
    match resource(http, reqwest::Method::GET, &url, token, dpop).await? {
        Resource::Ok(response) => {
            let grant: Value = response.json().await?;
            Ok(Ok(grant.get("state").and_then(Value::as_str).unwrap_or("desconocido").to_string()))
        }
        Resource::Refused { error, .. } => Ok(Err(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_is_rfc_7638s_as_llave_computes_it() {
        let key = SigningKey::random(&mut rand_core::OsRng);
        assert_eq!(Some(thumbprint(&key)), ::oidc::dpop::thumbprint(&public_jwk(&key, Some("k"))));
    }

    #[test]
    fn a_proof_verifies_as_llave_checks_it() {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let url = "https://llave.example/api/shared-data";
        let proof = proof(&key, "GET", url, None, Some("token"));
        let expected = ::oidc::dpop::Expected {
            method: "GET",
            url,
            now: now(),
            nonce_key: None,
            jkt: Some(&thumbprint(&key)),
            access_token: Some("token"),
        };
        ::oidc::dpop::verify(&proof, &expected).unwrap();
    }

    #[test]
    fn the_details_ask_what_the_contract_says() {
        let details = details(1_767_225_600); // 2026-01-01T00:00:00Z
        assert_eq!(details[0]["type"], "data_sharing");
        assert_eq!(details[0]["expires"], "2026-01-31T00:00:00Z");
        assert_eq!(details[0]["items"], json!(ITEMS));
    }

    #[test]
    fn a_challenge_names_its_error() {
        assert_eq!(challenge_error(r#"DPoP error="invalid_token", algs="ES256""#).as_deref(), Some("invalid_token"));
        assert_eq!(challenge_error("DPoP"), None);
        assert_eq!(challenge_error(r#"DPoP error="unterminated"#), None);
    }
}
