//! A demo site as llave's client, over HTTP like any entity's site: the authorization code
//! flow with PKCE (S256), `state` and `nonce`, the ID token checked against the JWKS; then
//! `client_credentials` tokens for the records API (store a record, look one up, read it
//! with the grant).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Live;
use super::session::{LOGIN_SECONDS, Login};
use crate::crypto::{now, random_token};

#[derive(Debug, thiserror::Error)]
pub enum RpError {
    #[error("llave did not answer: {0}")]
    Http(#[from] reqwest::Error),
    #[error("llave refused ({status}): {body}")]
    Refused { status: StatusCode, body: String },
    #[error("the ID token is not acceptable: {0}")]
    IdToken(String),
}

/// Where to send the person to sign in, and what to remember until they come back. With
/// `reuse`, the request asks (RFC 9396 `authorization_details`) for consent to reuse a kind
/// of record for a procedure.
pub fn authorization_url(live: &Live, reuse: Option<(&str, &str)>) -> (String, Login) {
    let login =
        Login { state: random_token(), nonce: random_token(), verifier: random_token(), exp: now() + LOGIN_SECONDS };
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(login.verifier.as_bytes()));
    let redirect_uri = live.site.redirect_uri(&live.issuer);
    let mut pairs = vec![
        ("response_type", "code".to_string()),
        ("client_id", live.client_id.clone()),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile".to_string()),
        ("state", login.state.clone()),
        ("nonce", login.nonce.clone()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256".to_string()),
    ];
    if let Some((procedure, kind)) = reuse {
        let details = json!([{ "type": crate::consent::reuse::DETAILS_TYPE, "procedure": procedure, "kinds": [kind] }]);
        pairs.push(("authorization_details", details.to_string()));
    }
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    (format!("{}/authorize?{query}", live.issuer), login)
}

/// The person who signed in, as the ID token names them.
pub struct Person {
    pub sub: String,
    pub name: String,
}

async fn json_answer(response: reqwest::Response) -> Result<Value, RpError> {
    let status = response.status();
    if status.is_success() {
        Ok(response.json().await?)
    } else {
        Err(RpError::Refused { status, body: response.text().await.unwrap_or_default() })
    }
}

/// Exchanges the code (with the PKCE verifier) and checks the ID token: signed by a key of
/// llave's JWKS, issued by llave to this client, not expired, with our nonce.
pub async fn finish(http: &reqwest::Client, live: &Live, login: &Login, code: &str) -> Result<Person, RpError> {
    let redirect_uri = live.site.redirect_uri(&live.issuer);
    let tokens = json_answer(
        http.post(format!("{}/token", live.issuer))
            .basic_auth(&live.client_id, Some(&live.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri.as_str()),
                ("code_verifier", login.verifier.as_str()),
            ])
            .send()
            .await?,
    )
    .await?;
    let id_token =
        tokens.get("id_token").and_then(Value::as_str).ok_or_else(|| RpError::IdToken("no id_token".into()))?;
    let jwks: jsonwebtoken::jwk::JwkSet = http.get(format!("{}/jwks", live.issuer)).send().await?.json().await?;
    let header = jsonwebtoken::decode_header(id_token).map_err(|e| RpError::IdToken(e.to_string()))?;
    // The client registered RS256: nothing else is accepted.
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return Err(RpError::IdToken(format!("signed with {:?}", header.alg)));
    }
    let jwk = jwks
        .keys
        .iter()
        .find(|k| header.kid.is_some() && k.common.key_id == header.kid)
        .ok_or_else(|| RpError::IdToken("no key of the JWKS signed it".into()))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| RpError::IdToken(e.to_string()))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[live.client_id.as_str()]);
    validation.set_issuer(&[live.issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    let claims =
        jsonwebtoken::decode::<Value>(id_token, &key, &validation).map_err(|e| RpError::IdToken(e.to_string()))?.claims;
    if claims.get("nonce").and_then(Value::as_str) != Some(login.nonce.as_str()) {
        return Err(RpError::IdToken("the nonce is not ours".into()));
    }
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_string();
    let name = claims.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(Person { sub, name })
}

/// A token for the site's back end (`client_credentials`).
async fn service_token(http: &reqwest::Client, live: &Live, scope: &str) -> Result<String, RpError> {
    let answer = json_answer(
        http.post(format!("{}/token", live.issuer))
            .basic_auth(&live.client_id, Some(&live.secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await?,
    )
    .await?;
    answer
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| RpError::Refused { status: StatusCode::OK, body: "no access_token".into() })
}

/// `POST /api/records`: stores a record about the person in the site's entity's store.
pub async fn store_record(http: &reqwest::Client, live: &Live, record: &Value) -> Result<Value, RpError> {
    let token = service_token(http, live, crate::records::SCOPE_WRITE).await?;
    json_answer(http.post(format!("{}/api/records", live.issuer)).bearer_auth(token).json(record).send().await?).await
}

/// What a look-up answered.
pub enum Lookup {
    /// Found, and read once with the grant: the holder's name and the record as read.
    Read { holder: String, record: Value },
    /// The person has no such record anywhere.
    NotFound,
    /// The person has not consented to the reuse.
    ConsentRequired,
}

/// `POST /api/lookups` for the person and, when found, `POST /api/records/{id}/read` with
/// the grant it gave.
pub async fn look_up_and_read(
    http: &reqwest::Client,
    live: &Live,
    sub: &str,
    procedure: &str,
    kind: &str,
) -> Result<Lookup, RpError> {
    let token = service_token(http, live, crate::records::SCOPE_LOOKUPS).await?;
    let response = http
        .post(format!("{}/api/lookups", live.issuer))
        .bearer_auth(&token)
        .json(&json!({ "sub": sub, "procedure": procedure, "kind": kind }))
        .send()
        .await?;
    if response.status() == StatusCode::FORBIDDEN {
        let body: Value = response.json().await.unwrap_or_default();
        if body.get("error").and_then(Value::as_str) == Some("consent_required") {
            return Ok(Lookup::ConsentRequired);
        }
        return Err(RpError::Refused { status: StatusCode::FORBIDDEN, body: body.to_string() });
    }
    let found = json_answer(response).await?;
    if found.get("found").and_then(Value::as_bool) != Some(true) {
        return Ok(Lookup::NotFound);
    }
    let field = |path: &[&str]| {
        path.iter().try_fold(&found, |v, k| v.get(*k)).and_then(Value::as_str).unwrap_or_default().to_string()
    };
    let (record_id, grant, holder) =
        (field(&["locator", "record_id"]), field(&["grant"]), field(&["locator", "entity_name"]));
    let record = json_answer(
        http.post(format!("{}/api/records/{record_id}/read", live.issuer))
            .bearer_auth(&token)
            .json(&json!({ "grant": grant, "procedure": procedure }))
            .send()
            .await?,
    )
    .await?;
    Ok(Lookup::Read { holder, record })
}
