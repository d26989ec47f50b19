//! Issuing and checking tokens. Access tokens are JWTs per RFC 9068 (`typ: at+jwt`, five
//! minutes), each recorded by `jti` so revoking its grant ends it at once; refresh tokens
//! are opaque, hashed at rest and rotated on every use; ID tokens carry the pairwise
//! `sub`, `acr`, `amr`, `auth_time`, `nonce`, `sid` and `at_hash`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use oidc::{ErrorCode, OAuthError, Scope};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};

use crate::Services;
use crate::crypto::{now, random_id, random_token, token_hash};
use crate::keys::KeyError;
use crate::store::entities::ClientRecord;
use crate::store::oidc::{GrantRecord, IssueWrite};
use crate::store::{Account, StoreError};

/// How long a code lives: FAPI 2.0's at most 60 seconds, for every client.
pub const CODE_SECONDS: i64 = oidc::fapi::CODE_SECONDS;

/// What else the transaction that records a token answer does.
#[derive(Debug, Default, Clone, Copy)]
pub struct Also<'a> {
    /// Spend this refresh token (its hash): the answer replaces it.
    pub spend_refresh: Option<&'a str>,
    /// The grant is new: insert it.
    pub new_grant: bool,
    /// The grant comes from this authorization code (its hash): link them.
    pub from_code: Option<&'a str>,
    /// Bind the access token to this JWK thumbprint (RFC 9449 §6: `cnf.jkt`, `token_type`
    /// DPoP).
    pub jkt: Option<&'a str>,
    /// Write this consent artefact with the grant (a third party's code exchange).
    pub artefact: Option<&'a crate::store::oidc::ArtefactWrite>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The refresh token this answer was to replace was spent by a concurrent request.
    #[error("the refresh token was already used")]
    AlreadySpent,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("signing failed: {0}")]
    Sign(String),
}

#[derive(Debug, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
    /// Grant Management: the grant this answer belongs to (a third party's consent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    /// The consent artefact the hub signed for what the person allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_artefact: Option<String>,
    /// RFC 9396 §7: the authorization details granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<serde_json::Value>,
}

/// The `sub` an entity's clients see for a person.
pub fn subject(app: &Services, client: &ClientRecord, account_id: i64) -> String {
    oidc::subject::pairwise_sub(&app.subject_key, &client.sector(), account_id)
}

/// The person's claims a client may see, for the scopes granted.
pub fn user_claims(app: &Services, client: &ClientRecord, account: &Account, scope: &Scope) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(subject(app, client, account.id.0)));
    if scope.contains("profile") {
        let family = match &account.second_surname {
            Some(second) => format!("{} {second}", account.first_surname),
            None => account.first_surname.clone(),
        };
        claims.insert("name".into(), json!(format!("{} {family}", account.given_names)));
        claims.insert("given_name".into(), json!(account.given_names));
        claims.insert("family_name".into(), json!(family));
        claims.insert("birthdate".into(), json!(account.birth_date));
    }
    if scope.contains("email") && !account.email.is_empty() {
        claims.insert("email".into(), json!(account.email));
        claims.insert("email_verified".into(), json!(account.email_confirmed_at.is_some()));
    }
    // The CURP identifies a person across every entity: only clients registered for it.
    if client.allowed_claims.iter().any(|c| c == "curp") {
        claims.insert("curp".into(), json!(account.curp));
    }
    claims
}

fn half_hash(alg: Algorithm, token: &str) -> String {
    // OIDC Core §3.1.3.6: the left half of the hash the signing algorithm uses.
    let digest: Vec<u8> = match alg {
        Algorithm::EdDSA => Sha512::digest(token.as_bytes()).to_vec(),
        _ => Sha256::digest(token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

fn sign(claims: &Value, key: &crate::keys::LoadedKey, typ: &str) -> Result<String, TokenError> {
    key.sign_jwt(typ, claims).map_err(TokenError::Sign)
}

/// Issues an access token (and a rotated refresh token, and an ID token when asked) for
/// a grant.
pub async fn issue(
    app: &Services,
    client: &ClientRecord,
    grant: &GrantRecord,
    account: Option<&Account>,
    nonce: Option<&str>,
    with_refresh: bool,
    also: Also<'_>,
) -> Result<TokenResponse, TokenError> {
    let now = now();
    let issuer = app.config.issuer();
    let access_seconds = i64::from(app.config.oidc.access_token_seconds);
    let ring = app.keys.ring(&app.store).await?;
    let access_key = ring
        .signing(&client.access_token_alg)
        .ok_or_else(|| TokenError::Sign(format!("no {} key", client.access_token_alg)))?;
    let jti = random_id();
    let sub = match account {
        Some(account) => subject(app, client, account.id.0),
        None => client.client_id.clone(),
    };
    let mut access_claims = json!({
        "iss": issuer, "sub": sub, "aud": issuer, "client_id": client.client_id,
        "iat": now, "exp": now + access_seconds, "jti": jti, "scope": grant.scope,
    });
    if account.is_some() {
        access_claims["auth_time"] = json!(grant.auth_time);
        access_claims["acr"] = json!(grant.acr);
    }
    if let Some(jkt) = also.jkt {
        access_claims["cnf"] = json!({ "jkt": jkt });
    }
    let access_token = sign(&access_claims, access_key, "at+jwt")?;
    let refresh_token = with_refresh.then(random_token);

    let scope = Scope::from_stored(&grant.scope);
    let id_token = match account {
        Some(account) if scope.contains("openid") => {
            let key = ring
                .signing(&client.id_token_alg)
                // FAPI 2.0 §5.4.1: never RS256 for a third party's client.
                .or_else(|| if client.fapi { None } else { ring.signing("RS256") })
                .ok_or_else(|| TokenError::Sign("no key".into()))?;
            let mut claims = user_claims(app, client, account, &scope);
            claims.insert("iss".into(), json!(issuer));
            claims.insert("aud".into(), json!(client.client_id));
            claims.insert("azp".into(), json!(client.client_id));
            claims.insert("iat".into(), json!(now));
            claims.insert("exp".into(), json!(now + i64::from(app.config.oidc.id_token_seconds)));
            claims.insert("auth_time".into(), json!(grant.auth_time));
            claims.insert("acr".into(), json!(grant.acr));
            claims.insert("amr".into(), json!(grant.amr.split(' ').filter(|m| !m.is_empty()).collect::<Vec<_>>()));
            claims.insert("at_hash".into(), json!(half_hash(key.alg, &access_token)));
            if let Some(session) = &grant.session_id {
                claims.insert("sid".into(), json!(session));
            }
            if let Some(nonce) = nonce {
                claims.insert("nonce".into(), json!(nonce));
            }
            Some(sign(&Value::Object(claims), key, "JWT")?)
        }
        _ => None,
    };
    // Everything this answer issues, and the refresh token it spends, in one transaction.
    let write = IssueWrite {
        client_id: client.client_id.clone(),
        entity_id: client.entity_id,
        account: grant.account_id,
        grant_id: grant.id.clone(),
        access_jti: jti,
        access_expires_at: now + access_seconds,
        refresh_hash: refresh_token.as_deref().map(token_hash),
        refresh_expires_at: now + i64::from(app.config.oidc.refresh_token_days) * 86400,
        spend_refresh: also.spend_refresh.map(str::to_string),
        new_grant: also.new_grant.then(|| grant.clone()),
        from_code: also.from_code.map(str::to_string),
        artefact: also.artefact.cloned(),
    };
    if !app.store.record_issue(write, now).await? {
        return Err(TokenError::AlreadySpent);
    }
    Ok(TokenResponse {
        access_token,
        token_type: if also.jkt.is_some() { "DPoP" } else { "Bearer" },
        expires_in: access_seconds,
        refresh_token,
        id_token,
        scope: grant.scope.clone(),
        grant_id: None,
        consent_artefact: None,
        authorization_details: None,
    })
}

/// Checks an access token: signature by one of our keys, `typ`, issuer, expiry, and that
/// its grant is still live (RFC 6750 §3.1 `invalid_token` otherwise).
pub async fn verify_access_token(app: &Services, token: &str) -> Result<(Value, GrantRecord), TokenCheck> {
    let invalid =
        || TokenCheck::Invalid(OAuthError::new(ErrorCode::InvalidToken, "the access token is invalid or expired"));
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(invalid());
    }
    let ring = app.keys.ring(&app.store).await.map_err(TokenCheck::Internal)?;
    let key = header.kid.as_deref().and_then(|kid| ring.by_kid(kid)).ok_or_else(invalid)?;
    if key.alg != header.alg {
        return Err(invalid());
    }
    let claims = key.verify_jwt(token).ok_or_else(invalid)?;
    let issuer = app.config.issuer();
    let audience_ok = match &claims["aud"] {
        Value::String(aud) => *aud == issuer,
        Value::Array(auds) => auds.iter().any(|a| a.as_str() == Some(issuer.as_str())),
        _ => false,
    };
    let live = claims["exp"].as_i64().is_some_and(|exp| exp >= now());
    if claims["iss"].as_str() != Some(issuer.as_str()) || !audience_ok || !live {
        return Err(invalid());
    }
    let jti = claims.get("jti").and_then(|j| j.as_str()).ok_or_else(invalid)?;
    let grant = app
        .store
        .access_token_grant(jti, now())
        .await
        .map_err(|e| TokenCheck::Internal(KeyError::Store(e)))?
        .ok_or_else(invalid)?;
    Ok((claims, grant))
}

#[derive(Debug)]
pub enum TokenCheck {
    Invalid(OAuthError),
    Internal(KeyError),
}

/// The claims of an access token this hub signed (signature, `typ` and issuer checked),
/// live or not: to tell what a refused token was for (a revoked consent's fetch is logged
/// against its artefact), never to accept one.
pub async fn signed_claims(app: &Services, token: &str) -> Option<Value> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.typ.as_deref() != Some("at+jwt") {
        return None;
    }
    let ring = app.keys.ring(&app.store).await.ok()?;
    let key = ring.by_kid(header.kid.as_deref()?)?;
    if key.alg != header.alg {
        return None;
    }
    let claims = key.verify_jwt(token)?;
    (claims["iss"].as_str() == Some(app.config.issuer().as_str())).then_some(claims)
}
