//! Registering clients (`llave client add`) and authenticating them at the token
//! endpoint: `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523,
//! each assertion's `jti` usable once) and `none` for public clients. A client uses only
//! the method it registered (RFC 9700 §2.5).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use oidc::{OAuthError, RedirectUri};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::crypto::{now, random_id, random_token};
use crate::store::entities::ClientRecord;
use crate::store::{Event, EventKind, Store, StoreError, Tx};

pub const AUTH_METHODS: [&str; 4] = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What `llave client add` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub entity: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub public: bool,
    pub auth_method: Option<String>,
    pub jwks: Option<String>,
    pub allowed_claims: Vec<String>,
    pub id_token_alg: Option<String>,
    /// Access token signing algorithm; default ES256.
    pub access_token_alg: Option<String>,
    pub require_par: bool,
    /// A third party's client (its slug) instead of an entity's: held to FAPI 2.0.
    pub third_party: Option<String>,
    /// Where a third party is notified (consent revoked, paused…).
    pub notify_uri: Option<String>,
    /// Its authorization requests must be signed request objects (RFC 9101).
    pub require_jar: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no entity has the slug {0:?}")]
    UnknownEntity(String),
    #[error("no third party has the slug {0:?}")]
    UnknownThirdParty(String),
    #[error("redirect URI {0:?}: {1}")]
    RedirectUri(String, oidc::redirect_uri::RedirectUriError),
    #[error("at least one --redirect-uri is required")]
    NoRedirectUri,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The registered client and, for a confidential one, its secret (shown once).
#[derive(Debug, serde::Serialize)]
pub struct Registered {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub third_party: Option<String>,
    pub name: String,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_uri: Option<String>,
    pub require_pushed_authorization_requests: bool,
    pub require_signed_request_object: bool,
    /// Held to the FAPI 2.0 Security Profile.
    pub fapi: bool,
}

pub fn secret_hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

fn validate_uri(uri: &str) -> Result<String, ClientError> {
    RedirectUri::parse(uri).map(|u| u.as_str().to_string()).map_err(|e| ClientError::RedirectUri(uri.to_string(), e))
}

/// Writes a client's registration with its `client_registered` event, in an act; `by`:
/// who registered it (`cli`, `demo`).
pub async fn register_in(tx: &mut Tx, record: &ClientRecord, by: &str) -> Result<(), StoreError> {
    tx.create_client(record).await?;
    let detail = match &record.third_party {
        Some(_) => {
            format!("third_party={} client={} auth={} fapi", record.entity_slug, record.client_id, record.auth_method)
        }
        None => format!("entity={} client={} auth={}", record.entity_slug, record.client_id, record.auth_method),
    };
    tx.event(Event::system(EventKind::ClientRegistered, None, by, &detail));
    Ok(())
}

/// Who a new client belongs to.
enum Owner {
    Entity(crate::store::entities::Entity),
    ThirdParty(crate::store::third_parties::ThirdParty),
}

/// Registers a client of an entity or of a third party (`llave client add`), as one act.
/// A third party's client is held to FAPI 2.0 (finding: third parties are outside
/// government): confidential, `private_key_jwt` with a JWKS of public keys, pushed
/// requests, ES256 or EdDSA tokens.
pub async fn register(store: &Store, new: &NewClient) -> Result<Registered, ClientError> {
    let owner = match (&new.third_party, new.entity.is_empty()) {
        (Some(_), false) => {
            return Err(ClientError::Invalid("give --entity or --third-party, not both".into()));
        }
        (Some(slug), true) => Owner::ThirdParty(
            store.third_party_by_slug(slug).await?.ok_or_else(|| ClientError::UnknownThirdParty(slug.clone()))?,
        ),
        (None, _) => Owner::Entity(
            store.entity_by_slug(&new.entity).await?.ok_or_else(|| ClientError::UnknownEntity(new.entity.clone()))?,
        ),
    };
    let fapi = matches!(owner, Owner::ThirdParty(_));
    if new.name.trim().is_empty() || new.name.chars().count() > 200 {
        return Err(ClientError::Invalid("--name must have 1 to 200 characters".into()));
    }
    if new.redirect_uris.is_empty() {
        return Err(ClientError::NoRedirectUri);
    }
    let redirect_uris = new.redirect_uris.iter().map(|u| validate_uri(u)).collect::<Result<Vec<_>, _>>()?;
    let post_logout = new.post_logout_redirect_uris.iter().map(|u| validate_uri(u)).collect::<Result<Vec<_>, _>>()?;
    let backchannel = new.backchannel_logout_uri.as_deref().map(validate_uri).transpose()?;
    if !fapi && (new.notify_uri.is_some() || new.require_jar) {
        return Err(ClientError::Invalid("--notify-uri and --require-jar are for a --third-party client".into()));
    }
    let notify_uri = new.notify_uri.as_deref().map(validate_uri).transpose()?;
    let auth_method = if fapi {
        fapi_auth_method(new)?
    } else {
        match (&new.auth_method, new.public) {
            (Some(method), true) if method != "none" => {
                return Err(ClientError::Invalid("a --public client authenticates with none".into()));
            }
            (_, true) => "none".to_string(),
            (Some(method), false) if AUTH_METHODS.contains(&method.as_str()) && method != "none" => method.clone(),
            (Some(method), false) => {
                return Err(ClientError::Invalid(format!("unsupported --auth-method {method}")));
            }
            (None, false) => "client_secret_basic".to_string(),
        }
    };
    if auth_method == "private_key_jwt" && new.jwks.is_none() {
        return Err(ClientError::Invalid("private_key_jwt needs --jwks-file".into()));
    }
    if let Some(jwks) = &new.jwks {
        check_jwks(jwks, fapi)?;
    }
    for claim in &new.allowed_claims {
        if claim != "curp" {
            return Err(ClientError::Invalid(format!("unknown --allow-claim {claim} (known: curp)")));
        }
    }
    let id_token_alg = token_alg(new.id_token_alg.as_deref(), "ID token", fapi)?;
    let access_token_alg = token_alg(new.access_token_alg.as_deref(), "access token", fapi)?;
    let secret = matches!(auth_method.as_str(), "client_secret_basic" | "client_secret_post").then(random_token);
    let (entity_id, owner_slug, owner_name, third_party) = match &owner {
        Owner::Entity(entity) => (Some(entity.id), entity.slug.clone(), entity.name.clone(), None),
        Owner::ThirdParty(third) => (
            None,
            third.slug.clone(),
            third.legal_name.clone(),
            Some(crate::store::entities::ThirdPartyClient {
                third_party_id: third.id,
                notify_uri: notify_uri.clone(),
                require_jar: new.require_jar,
            }),
        ),
    };
    let record = ClientRecord {
        // Never starting with '-', so `llave client show ID` cannot mistake it for a flag.
        client_id: format!("c{}", random_id()),
        entity_id,
        entity_slug: owner_slug.clone(),
        entity_name: owner_name,
        name: new.name.trim().to_string(),
        secret_hash: secret.as_deref().map(secret_hash),
        auth_method: auth_method.clone(),
        redirect_uris: redirect_uris.clone(),
        post_logout_redirect_uris: post_logout,
        backchannel_logout_uri: backchannel,
        jwks: new.jwks.clone(),
        allowed_claims: new.allowed_claims.clone(),
        id_token_alg,
        access_token_alg,
        // FAPI 2.0 §5.3.2.2: pushed authorization requests only.
        require_par: new.require_par || fapi,
        created_at: now(),
        disabled_at: None,
        third_party,
        fapi,
    };
    store.act("client_registered", async |tx: &mut Tx| register_in(tx, &record, "cli").await).await?;
    Ok(Registered {
        client_id: record.client_id,
        client_secret: secret,
        entity: (!fapi).then(|| owner_slug.clone()),
        third_party: fapi.then_some(owner_slug),
        name: record.name,
        token_endpoint_auth_method: auth_method,
        redirect_uris,
        notify_uri,
        require_pushed_authorization_requests: record.require_par,
        require_signed_request_object: new.require_jar,
        fapi,
    })
}

/// FAPI 2.0 §5.3.3.4 (client authentication: `private_key_jwt` or MTLS; llave has no
/// MTLS): a third party's client is confidential and signs its assertions.
fn fapi_auth_method(new: &NewClient) -> Result<String, ClientError> {
    if new.public {
        return Err(ClientError::Invalid(
            "a third party's client is confidential: --public is refused (FAPI 2.0 allows confidential clients only)"
                .into(),
        ));
    }
    match new.auth_method.as_deref() {
        None | Some("private_key_jwt") => {}
        Some(other) => {
            return Err(ClientError::Invalid(format!(
                "a third party's client authenticates with private_key_jwt only, not {other} (no client secrets)"
            )));
        }
    }
    if new.jwks.is_none() {
        return Err(ClientError::Invalid("a third party's client needs --jwks-file (its public keys)".into()));
    }
    Ok("private_key_jwt".into())
}

/// A JWKS as registered: an object with a `keys` array; for a third party's client, public
/// keys only (no private member) and at least one key of PS256, ES256 or EdDSA.
fn check_jwks(jwks: &str, fapi: bool) -> Result<(), ClientError> {
    let parsed: serde_json::Value =
        serde_json::from_str(jwks).map_err(|e| ClientError::Invalid(format!("the JWKS is not JSON: {e}")))?;
    let Some(keys) = parsed.get("keys").and_then(|k| k.as_array()) else {
        return Err(ClientError::Invalid("the JWKS must be an object with a keys array".into()));
    };
    if !fapi {
        return Ok(());
    }
    if keys.iter().any(|k| ["d", "p", "q", "dp", "dq", "qi", "k"].iter().any(|m| k.get(m).is_some())) {
        return Err(ClientError::Invalid("the JWKS holds a private key: register public keys only".into()));
    }
    let usable = keys.iter().any(|k| {
        serde_json::from_value::<jsonwebtoken::jwk::Jwk>(k.clone())
            .ok()
            .is_some_and(|jwk| jsonwebtoken::DecodingKey::from_jwk(&jwk).is_ok())
    });
    if !usable {
        return Err(ClientError::Invalid("the JWKS has no usable key (EC P-256, Ed25519 or RSA for PS256)".into()));
    }
    Ok(())
}

/// A token signing algorithm: ES256 by default; FAPI 2.0 §5.4.1 excludes RS256 for a third
/// party's client.
fn token_alg(asked: Option<&str>, what: &str, fapi: bool) -> Result<String, ClientError> {
    let alg = asked.unwrap_or(crate::keys::DEFAULT_ALGORITHM).to_string();
    if !crate::keys::ALGORITHMS.contains(&alg.as_str()) {
        return Err(ClientError::Invalid(format!("unsupported {what} algorithm {alg} (RS256, ES256 or EdDSA)")));
    }
    if fapi && !FAPI_ALGORITHMS.contains(&alg.as_str()) {
        return Err(ClientError::Invalid(format!("a third party's {what} algorithm is ES256 or EdDSA, not {alg}")));
    }
    Ok(alg)
}

/// FAPI 2.0 §5.4.1: the algorithms allowed for a third party's JWTs (client assertions,
/// request objects, DPoP proofs, and the tokens llave signs for it; llave has no PS256
/// signing key, so it signs theirs with ES256 or EdDSA).
pub const FAPI_ALGORITHMS: [&str; 3] = ["PS256", "ES256", "EdDSA"];

/// The credentials a token-endpoint request presents.
#[derive(Debug, Default, Clone)]
pub struct Presented {
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
}

/// Decodes `Authorization: Basic` (RFC 6749 §2.3.1: both parts form-urlencoded).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let encoded = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |s: &str| form_urlencoded_decode(s);
    Some((decode(id)?, decode(secret)?))
}

fn form_urlencoded_decode(text: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={text}")).ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

fn client_error() -> OAuthError {
    OAuthError::invalid_client("client authentication failed")
}

/// Authenticates the client; every failure is the same `invalid_client`.
pub async fn authenticate(
    store: &Store,
    presented: &Presented,
    endpoints: &[String],
    issuer: &str,
) -> Result<ClientRecord, AuthError> {
    let claimed = presented
        .basic
        .as_ref()
        .map(|(id, _)| id.clone())
        .or_else(|| presented.client_id.clone())
        .or_else(|| presented.assertion.as_deref().and_then(unverified_issuer));
    let Some(client_id) = claimed else {
        return Err(AuthError::OAuth(client_error()));
    };
    let Some(client) = store.client_by_id(&client_id).await? else {
        return Err(AuthError::OAuth(client_error()));
    };
    if client.disabled_at.is_some() {
        return Err(AuthError::OAuth(client_error()));
    }
    if presented.client_id.as_deref().is_some_and(|id| id != client.client_id) {
        return Err(AuthError::OAuth(client_error()));
    }
    let ok = match client.auth_method.as_str() {
        "client_secret_basic" => match &presented.basic {
            Some((_, secret)) => secret_matches(&client, secret),
            None => false,
        },
        "client_secret_post" => {
            presented.basic.is_none()
                && presented.client_secret.as_deref().is_some_and(|secret| secret_matches(&client, secret))
        }
        "private_key_jwt" => {
            presented.basic.is_none()
                && presented.assertion_type.as_deref() == Some(ASSERTION_TYPE)
                && match presented.assertion.as_deref() {
                    Some(assertion) => verify_assertion(store, &client, assertion, endpoints, issuer).await?,
                    None => false,
                }
        }
        "none" => presented.basic.is_none() && presented.client_secret.is_none() && presented.assertion.is_none(),
        _ => false,
    };
    if ok { Ok(client) } else { Err(AuthError::OAuth(client_error())) }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    OAuth(OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn secret_matches(client: &ClientRecord, secret: &str) -> bool {
    match &client.secret_hash {
        Some(stored) => bool::from(secret_hash(secret).as_bytes().ct_eq(stored.as_bytes())),
        None => false,
    }
}

/// What a client id can be: 1–255 characters, none of them a control character.
fn plausible_client_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && !id.chars().any(char::is_control)
}

fn unverified_issuer(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    // The claimed issuer is looked up before anything is verified: only a plausible client
    // id may reach the query (a NUL, say, would fail in PostgreSQL as a server error).
    claims.get("iss")?.as_str().filter(|iss| plausible_client_id(iss)).map(str::to_string)
}

/// RFC 7523 §3: iss = sub = client_id, aud names this server, exp in the future, jti once.
/// A FAPI client (FAPI 2.0 §5.3.2.1 and §5.4.1) also: alg PS256, ES256 or EdDSA; `aud` the
/// issuer identifier as one string (not the token endpoint, not an array); `iat` and `nbf`
/// not a minute or more in the future (`oidc::fapi`).
async fn verify_assertion(
    store: &Store,
    client: &ClientRecord,
    assertion: &str,
    endpoints: &[String],
    issuer: &str,
) -> Result<bool, StoreError> {
    let Some(jwks) = client.jwks.as_deref().and_then(|j| serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(j).ok())
    else {
        return Ok(false);
    };
    let Ok(header) = jsonwebtoken::decode_header(assertion) else {
        return Ok(false);
    };
    let allowed: &[&str] = if client.fapi { &FAPI_ALGORITHMS } else { &["RS256", "ES256", "EdDSA", "PS256"] };
    if !allowed.contains(&alg_name(header.alg)) {
        return Ok(false);
    }
    let candidates: Vec<&jsonwebtoken::jwk::Jwk> =
        jwks.keys.iter().filter(|k| header.kid.is_none() || k.common.key_id == header.kid).collect();
    let now = now();
    for jwk in candidates {
        let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(jwk) else {
            continue;
        };
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        if client.fapi {
            // Checked below on the raw claim: only the issuer, as a single string.
            validation.validate_aud = false;
        } else {
            let mut audiences: Vec<&str> = endpoints.iter().map(String::as_str).collect();
            audiences.push(issuer);
            validation.set_audience(&audiences);
        }
        validation.set_issuer(&[client.client_id.as_str()]);
        validation.sub = Some(client.client_id.clone());
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 30;
        let Ok(data) = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation) else {
            continue;
        };
        if client.fapi && !oidc::fapi::assertion_claims_ok(&data.claims, issuer, now) {
            return Ok(false);
        }
        let Some(jti) = data.claims.get("jti").and_then(|j| j.as_str()) else {
            return Ok(false);
        };
        let exp = data.claims.get("exp").and_then(|e| e.as_i64()).unwrap_or(0);
        if exp > now + 600 {
            return Ok(false);
        }
        return store.spend_jti(&format!("{}:{jti}", client.client_id), exp + 60).await;
    }
    Ok(false)
}

/// The JOSE name of a signing algorithm.
pub fn alg_name(alg: jsonwebtoken::Algorithm) -> &'static str {
    use jsonwebtoken::Algorithm::*;
    match alg {
        HS256 => "HS256",
        HS384 => "HS384",
        HS512 => "HS512",
        ES256 => "ES256",
        ES384 => "ES384",
        RS256 => "RS256",
        RS384 => "RS384",
        RS512 => "RS512",
        PS256 => "PS256",
        PS384 => "PS384",
        PS512 => "PS512",
        EdDSA => "EdDSA",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("agua%3Aweb:s%2Bcr%20t"));
        assert_eq!(parse_basic(&header), Some(("agua:web".into(), "s+cr t".into())));
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
