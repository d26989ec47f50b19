//! The demo bank, "Banco del Ejemplo" (issue 17 item 7): a third party outside government
//! that opens an account for a person with the data the government already holds, by the
//! person's consent. Served by llave under `/demo/banco/` in development mode only, where
//! `llave demo` registered it, like the entity sites beside it; but it stands for a bank's
//! own back end, so it is a real FAPI 2.0 client of llave that talks to it over HTTP only
//! (the contract of issue 17): pushed requests and token requests authenticated with
//! `private_key_jwt`, PKCE, DPoP-bound tokens, and every answer verified before it is
//! believed (`verify`).
//!
//! `register` is `llave demo`'s part: the third party, its client with a fixed id, and the
//! client's ES256 key, made once and kept among the server's secrets (where the site finds
//! its private half; the registered JWKS has the public half). `fapi` is the client,
//! `pages` the site. What the bank learns about an applicant (the access token, the DPoP
//! key, the grant, what it received) it keeps in its own memory, keyed by its cookie, as a
//! bank's back end keeps its sessions: nothing of it is written to llave's store.

mod fapi;
mod pages;
mod verify;

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde_json::{Value, json};

use super::{Live, Site};
use crate::Services;
use crate::crypto::{now, random_token};
use crate::store::entities::{ClientRecord, ThirdPartyClient};
use crate::store::{Event, EventKind, StoreError, StoreResult, Tx};

pub use pages::routes;

/// The bank's site: `/demo/banco/`. Its cookies are signed like the entity sites' (the
/// slug keeps them apart).
pub const SITE: Site =
    Site { slug: "banco", entity_name: "Banco del Ejemplo", client_name: "Banca en línea del Banco del Ejemplo" };

/// The third party as the contract registers it.
pub const THIRD_PARTY_SLUG: &str = "banco-del-ejemplo";
pub const LEGAL_NAME: &str = "Banco del Ejemplo, S.A. de C.V.";
pub const TAX_ID: &str = "BEJ990101AB1";
pub const PURPOSE: &str = "apertura_cuenta";
/// Fixed, so a second `llave demo` finds the client again.
pub const CLIENT_ID: &str = "demo-banco-del-ejemplo";
/// The `kid` of the client's signing key in its registered JWKS.
pub const KEY_ID: &str = "banco-1";
const KEY_SECRET: &str = "demo_bank_client_key";

pub fn redirect_uri(issuer: &str) -> String {
    format!("{issuer}/demo/{}/callback", SITE.slug)
}

pub fn notify_uri(issuer: &str) -> String {
    format!("{issuer}/demo/{}/avisos", SITE.slug)
}

pub fn url(issuer: &str) -> String {
    format!("{issuer}/demo/{}/", SITE.slug)
}

/// An ES256 key's public JWK (RFC 7517), with `kid` when given.
fn public_jwk(key: &SigningKey, kid: Option<&str>) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    let coordinate = |c: Option<&p256::FieldBytes>| c.map(|c| URL_SAFE_NO_PAD.encode(c)).unwrap_or_default();
    let mut jwk = json!({ "kty": "EC", "crv": "P-256", "x": coordinate(point.x()), "y": coordinate(point.y()) });
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!("ES256");
    }
    jwk
}

/// The client's signing key: made on first use, kept among the server's secrets (PKCS#8
/// PEM) so every later run and every node finds the same one.
async fn client_key(app: &Services) -> StoreResult<SigningKey> {
    let fresh = SigningKey::random(&mut rand_core::OsRng)
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| StoreError::Data(format!("the demo bank's key cannot be encoded: {e}")))?;
    let pem = app.store.server_secret(KEY_SECRET, &fresh, now()).await?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| StoreError::Data(format!("the demo bank's stored key is unusable: {e}")))
}

/// Registers the bank (the third party and its FAPI client) or brings it up to date (the
/// redirect and notify URIs follow the issuer; the JWKS follows the kept key): `llave demo`
/// calls it. Answers the site's address.
pub async fn register(app: &Services) -> StoreResult<String> {
    let issuer = app.config.issuer();
    let third_party = match app.store.third_party_by_slug(THIRD_PARTY_SLUG).await? {
        Some(third_party) => third_party,
        None => {
            let new = crate::third_parties::NewThirdParty {
                slug: THIRD_PARTY_SLUG.into(),
                legal_name: LEGAL_NAME.into(),
                tax_id: TAX_ID.into(),
                purposes: vec![PURPOSE.into()],
            };
            match crate::third_parties::register(&app.store, &new, "demo").await {
                Ok(third_party) => third_party,
                // Another process registered it meanwhile.
                Err(crate::third_parties::ThirdPartyError::Exists(_)) => {
                    app.store.third_party_by_slug(THIRD_PARTY_SLUG).await?.ok_or_else(|| {
                        StoreError::Data("the demo bank's third party vanished while it was registered".into())
                    })?
                }
                Err(error) => return Err(StoreError::Data(error.to_string())),
            }
        }
    };
    let key = client_key(app).await?;
    let jwks = json!({ "keys": [public_jwk(&key, Some(KEY_ID))] }).to_string();
    let redirect_uris = vec![redirect_uri(&issuer)];
    let notify = notify_uri(&issuer);
    match app.store.client_by_id(CLIENT_ID).await? {
        Some(client) => {
            let notify_changed =
                client.third_party.as_ref().and_then(|t| t.notify_uri.as_deref()) != Some(notify.as_str());
            if client.redirect_uris != redirect_uris || notify_changed || client.jwks.as_deref() != Some(&jwks) {
                app.store
                    .act("client_changed", async |tx: &mut Tx| {
                        let mut changed = Vec::new();
                        if client.redirect_uris != redirect_uris
                            && tx.set_client_redirect_uris(CLIENT_ID, &redirect_uris).await?
                        {
                            changed.push("redirect_uris");
                        }
                        if notify_changed && tx.set_client_notify_uri(CLIENT_ID, Some(&notify)).await? {
                            changed.push("notify_uri");
                        }
                        if client.jwks.as_deref() != Some(&jwks) && tx.set_client_jwks(CLIENT_ID, &jwks).await? {
                            changed.push("jwks");
                        }
                        if !changed.is_empty() {
                            let detail = format!("client={CLIENT_ID} {}", changed.join(" "));
                            tx.event(Event::system(EventKind::ClientChanged, None, "demo", &detail));
                        }
                        Ok::<_, StoreError>(())
                    })
                    .await?;
            }
        }
        None => {
            let record = ClientRecord {
                client_id: CLIENT_ID.into(),
                entity_id: None,
                entity_slug: third_party.slug.clone(),
                entity_name: third_party.legal_name.clone(),
                name: SITE.client_name.into(),
                secret_hash: None,
                auth_method: "private_key_jwt".into(),
                redirect_uris,
                post_logout_redirect_uris: Vec::new(),
                backchannel_logout_uri: None,
                jwks: Some(jwks),
                allowed_claims: Vec::new(),
                // FAPI 2.0 §5.4.1: no RS256 for a third party's tokens.
                id_token_alg: "ES256".into(),
                access_token_alg: "ES256".into(),
                require_par: true,
                created_at: now(),
                disabled_at: None,
                third_party: Some(ThirdPartyClient {
                    third_party_id: third_party.id,
                    notify_uri: Some(notify),
                    require_jar: false,
                }),
                fapi: true,
            };
            app.store
                .act("client_registered", async |tx: &mut Tx| {
                    crate::oidc::clients::register_in(tx, &record, "demo").await
                })
                .await?;
        }
    }
    Ok(url(&issuer))
}

/// The bank when it can serve: development mode, its client registered and enabled.
pub(crate) struct Bank {
    /// The site's identity and cookie key (its `secret` is unused: the bank has none).
    pub live: Live,
    /// Signs the client's assertions.
    pub key: SigningKey,
}

impl Bank {
    pub fn issuer(&self) -> &str {
        &self.live.issuer
    }
}

pub(crate) async fn bank(app: &Services) -> StoreResult<Option<Bank>> {
    let issuer = app.config.issuer();
    // As the entity sites: only ever in development mode (see `super::live`).
    if !app.config.dev.enabled {
        return Ok(None);
    }
    match app.store.client_by_id(CLIENT_ID).await? {
        Some(client) if client.disabled_at.is_none() && client.redirect_uris.contains(&redirect_uri(&issuer)) => {}
        _ => return Ok(None),
    }
    let key = client_key(app).await?;
    let cookie_key = app.store.server_secret("demo_sites_cookie_key", &random_token(), now()).await?;
    let live = Live {
        site: &SITE,
        client_id: CLIENT_ID.into(),
        secret: String::new(),
        issuer,
        cookie_key: cookie_key.into_bytes(),
    };
    Ok(Some(Bank { live, key }))
}

/// An application for an account, from the press of "Abrir cuenta con Llave" on: kept in
/// the bank's memory under the id its cookie holds.
pub(crate) struct Application {
    pub expires: i64,
    /// The DPoP key made for this applicant: their tokens are bound to it.
    pub dpop: SigningKey,
    /// The authorization request in flight (until the callback).
    pub pending: Option<Pending>,
    /// The account opened, once the data came.
    pub account: Option<pages::Account>,
}

pub(crate) struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// An application lasts this long in the bank's memory.
pub const APPLICATION_SECONDS: i64 = 60 * 60;
/// At most this many applications at once (the demo's memory is bounded; the oldest go).
const MAX_APPLICATIONS: usize = 1000;
/// At most this many grants' notices remembered.
const MAX_NOTICES: usize = 1000;

static APPLICATIONS: LazyLock<Mutex<HashMap<String, Application>>> = LazyLock::new(Default::default);
static NOTICES: LazyLock<Mutex<HashMap<String, verify::Notice>>> = LazyLock::new(Default::default);

/// Runs `f` on the applications (a poisoned lock still holds usable data: each change is
/// one insert or one field).
fn applications<T>(f: impl FnOnce(&mut HashMap<String, Application>) -> T) -> T {
    let mut map = APPLICATIONS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut map)
}

pub(crate) fn put_application(id: &str, application: Application) {
    applications(|map| {
        let now = now();
        map.retain(|_, a| a.expires > now);
        while map.len() >= MAX_APPLICATIONS {
            let Some(oldest) = map.iter().min_by_key(|(_, a)| a.expires).map(|(id, _)| id.clone()) else { break };
            map.remove(&oldest);
        }
        map.insert(id.to_string(), application);
    });
}

/// Runs `f` on the application with this id, if it is there and current.
pub(crate) fn with_application<T>(id: &str, f: impl FnOnce(&mut Application) -> T) -> Option<T> {
    applications(|map| map.get_mut(id).filter(|a| a.expires > now()).map(f))
}

pub(crate) fn forget_application(id: &str) {
    applications(|map| map.remove(id));
}

pub(crate) fn keep_notice(notice: verify::Notice) {
    let mut map = NOTICES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // The last notice per grant: an older one arriving late does not replace a newer one.
    if map.get(&notice.grant_id).is_some_and(|kept| kept.iat > notice.iat) {
        return;
    }
    if map.len() >= MAX_NOTICES && !map.contains_key(&notice.grant_id) {
        let Some(oldest) = map.iter().min_by_key(|(_, n)| n.iat).map(|(id, _)| id.clone()) else { return };
        map.remove(&oldest);
    }
    map.insert(notice.grant_id.clone(), notice);
}

pub(crate) fn last_notice(grant_id: &str) -> Option<verify::Notice> {
    NOTICES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(grant_id).cloned()
}
