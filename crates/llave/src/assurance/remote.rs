//! Identity verification by a remote provider over HTTP (protocol in docs/verification.md):
//!
//! 1. llave starts a session: `POST start_url` with `{session_id, curp, purpose,
//!    callback_url, return_url}` and the API key as a bearer token; the provider answers
//!    `{redirect_url}` and llave sends the person there.
//! 2. The provider verifies the person and `POST`s the result to `callback_url`: a compact
//!    JWS (`application/jose`) over `{iss, aud, iat, exp, jti, session_id, curp, result,
//!    method, document_kind, document_number}`, signed with a key it publishes at
//!    `jwks_url`. llave accepts it once, for a session it started, for that session's
//!    person's CURP; anything else is refused and recorded.
//! 3. The provider sends the person back to `return_url`.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

use crate::accounts::Actor;
use crate::config::{Config, RemoteProviderConfig};
use crate::crypto::{now, random_token};
use crate::store::assurance::{NewVerification, VerificationSession};
use crate::store::{Account, Event, EventKind, SessionRecord, StoreError};
use crate::{AppState, Services};

/// Remote verifications a person may start within the throttling window.
const STARTS_PER_WINDOW: i64 = 5;
/// How long a person has to finish a remote verification.
pub const SESSION_SECONDS: i64 = 30 * 60;
/// How old (by `iat`) a signed result may be when it arrives.
const RESULT_MAX_AGE: i64 = 10 * 60;
/// How long the provider's key set is trusted before it is fetched again.
const JWKS_TTL: Duration = Duration::from_secs(300);

pub struct Provider {
    pub config: RemoteProviderConfig,
    jwks: RwLock<Option<(Instant, JwkSet)>>,
}

/// An unknown `kid` refetches the key set at most this often: the callback is open to
/// anyone, who must not be able to make llave hammer the provider.
const JWKS_REFETCH_AFTER: Duration = Duration::from_secs(60);

impl Provider {
    /// The configured provider, or the reference provider when it is served and no other
    /// is configured.
    pub fn configured(config: &Config, reference: Option<&super::reference::Reference>) -> Option<Provider> {
        let config = match (&config.assurance.remote, reference) {
            (Some(remote), _) => remote.clone(),
            (None, Some(reference)) => reference.provider_config(),
            (None, None) => return None,
        };
        Some(Provider { config, jwks: RwLock::new(None) })
    }

    async fn key_set(&self, http: &reqwest::Client, refresh: bool) -> Result<JwkSet, RemoteError> {
        if let Some((at, set)) = self.jwks.read().await.as_ref() {
            let fresh_enough = if refresh { JWKS_REFETCH_AFTER } else { JWKS_TTL };
            if at.elapsed() < fresh_enough {
                return Ok(set.clone());
            }
        }
        let response = http
            .get(&self.config.jwks_url)
            .send()
            .await
            .map_err(|e| RemoteError::Provider(format!("key set unreachable: {e}")))?;
        if !response.status().is_success() {
            return Err(RemoteError::Provider(format!("key set answered {}", response.status())));
        }
        let set: JwkSet =
            response.json().await.map_err(|e| RemoteError::Provider(format!("key set unreadable: {e}")))?;
        *self.jwks.write().await = Some((Instant::now(), set.clone()));
        Ok(set)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no remote verification provider is configured")]
    NotConfigured,
    #[error("too many verifications started; try later")]
    TooMany,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the verification provider failed: {0}")]
    Provider(String),
}

/// Why a callback was refused; each is answered with its own status and recorded.
#[derive(Debug, thiserror::Error)]
pub enum CallbackRefusal {
    #[error("the result is not a valid signed result of the configured provider: {0}")]
    BadSignature(String),
    #[error("the result names no verification session llave started")]
    UnknownSession,
    #[error("the result is for another CURP than the session's person")]
    CurpMismatch,
    #[error("a result for this session was already received, or the session expired")]
    Replay,
}

/// Starts a remote verification for the signed-in person; returns where to send them.
pub async fn start(
    app: &Services,
    account: &Account,
    session: &SessionRecord,
    purpose: &str,
    return_to: &str,
    actor: &Actor,
) -> Result<String, RemoteError> {
    let provider = app.verifier.as_ref().ok_or(RemoteError::NotConfigured)?;
    let now = now();
    // Providers bill per session: a few per person per throttling window.
    let key = format!("verify-start:{}", account.id.0);
    let window_opened_after = now - app.config.throttle.window_minutes * 60;
    if app.store.throttle_failures(&key, window_opened_after).await? >= STARTS_PER_WINDOW {
        return Err(RemoteError::TooMany);
    }
    let id = random_token();
    let started = VerificationSession {
        id: id.clone(),
        account_id: account.id,
        session_id: session.id.clone(),
        purpose: purpose.to_string(),
        provider: provider.config.name.clone(),
        return_to: return_to.to_string(),
        created_at: now,
        expires_at: now + SESSION_SECONDS,
        completed_at: None,
        result: None,
    };
    // One act, before the provider is asked (its callback may come at once): the start
    // counted, the session opened and `verification_started`. A provider that then cannot
    // be reached leaves the session to expire unanswered.
    let mut tx = app.store.begin_act("verification_started").await?;
    tx.throttle_record_failure(&key, now, window_opened_after).await?;
    tx.create_verification_session(&started).await?;
    let detail = format!("provider={} purpose={purpose}", provider.config.name);
    tx.event(actor.event(EventKind::VerificationStarted, Some(account.id), &detail));
    tx.commit().await?;
    let issuer = app.config.issuer();
    let body = serde_json::json!({
        "session_id": id,
        "curp": account.curp,
        "purpose": purpose,
        "callback_url": format!("{issuer}/verificacion/callback"),
        "return_url": format!("{issuer}/verificacion/regreso?session={id}"),
    });
    let response = app
        .http
        .post(&provider.config.start_url)
        .bearer_auth(&provider.config.api_key)
        .json(&body)
        .send()
        .await
        .map_err(|e| RemoteError::Provider(format!("unreachable: {e}")))?;
    if !response.status().is_success() {
        return Err(RemoteError::Provider(format!("start answered {}", response.status())));
    }
    #[derive(Deserialize)]
    struct Started {
        redirect_url: String,
    }
    let started: Started = response.json().await.map_err(|e| RemoteError::Provider(format!("unreadable: {e}")))?;
    match url::Url::parse(&started.redirect_url) {
        Ok(url) if matches!(url.scheme(), "https" | "http") => {}
        _ => return Err(RemoteError::Provider("redirect_url is not an http(s) URL".into())),
    }
    Ok(started.redirect_url)
}

/// The claims of a signed result.
#[derive(Debug, Deserialize)]
pub struct ResultClaims {
    /// Required: a result is only good for a few minutes after it was signed.
    pub iat: i64,
    pub session_id: String,
    pub curp: String,
    /// `verified` or `rejected`.
    pub result: String,
    /// RFC 8176 method the provider used (`face`, …).
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub document_kind: String,
    #[serde(default)]
    pub document_number: String,
}

/// What a valid callback did.
#[derive(Debug, PartialEq, Eq)]
pub enum CallbackOutcome {
    Verified,
    Rejected,
}

/// Accepts a provider's signed result, once.
pub async fn callback(app: &AppState, jws: &str) -> Result<Result<CallbackOutcome, CallbackRefusal>, RemoteError> {
    let provider = app.verifier.as_ref().ok_or(RemoteError::NotConfigured)?;
    let claims = match verify(app, provider, jws.trim()).await? {
        Ok(claims) => claims,
        Err(refusal) => {
            tracing::warn!(%refusal, "verification result refused");
            return Ok(Err(refusal));
        }
    };
    let actor = Actor { address: "provider".into(), user_agent: provider.config.name.clone() };
    let Some(session) = app.store.verification_session(&claims.session_id).await? else {
        return Ok(Err(CallbackRefusal::UnknownSession));
    };
    let now = now();
    let Some(account) = app.store.account_by_id(session.account_id).await? else {
        return Ok(Err(CallbackRefusal::UnknownSession));
    };
    let refused = |detail: &str| actor.event(EventKind::VerificationRefused, Some(account.id), detail);
    if claims.curp != account.curp {
        // A result about someone else ends this session: nothing later can be trusted.
        // One act: the session closed and the refusal.
        let mut tx = app.store.begin_act("verification_refused").await?;
        tx.complete_verification_session(&session.id, "refused", now).await?;
        tx.event(refused("result for another CURP"));
        tx.commit().await?;
        return Ok(Err(CallbackRefusal::CurpMismatch));
    }
    let verified = claims.result == "verified";
    // Read before the act: an act reads and writes only through its transaction.
    let open = if verified { app.store.open_sessions(account.id).await? } else { Vec::new() };
    // One act: the session's result, and what follows from it (the refusal, or the
    // verification with its step-up).
    let mut tx = app.store.begin_act("verification_result").await?;
    if !tx.complete_verification_session(&session.id, if verified { "verified" } else { "rejected" }, now).await? {
        tx.event(refused("result replayed or late"));
        tx.commit().await?;
        return Ok(Err(CallbackRefusal::Replay));
    }
    if !verified {
        tx.event(refused("provider rejected the person"));
        tx.commit().await?;
        return Ok(Ok(CallbackOutcome::Rejected));
    }
    let verification = NewVerification {
        account: account.id,
        purpose: &session.purpose,
        method: "remote",
        verifier: &provider.config.name,
        officer: None,
        document_kind: &claims.document_kind,
        document_number: &claims.document_number,
        reference: &session.id,
    };
    tx.record_verification(&verification, now).await?;
    let detail = format!("provider={} purpose={}", provider.config.name, session.purpose);
    tx.event(Event::security(
        EventKind::IdentityVerified,
        Some(account.id),
        &actor.address,
        &actor.user_agent,
        &detail,
    ));
    // A fresh remote verification proves the person at this moment, whatever it was
    // started for: the session that started it reaches level 3 for the re-proof window.
    {
        // Only biometric methods of RFC 8176 pass through to `amr`.
        let method = match claims.method.as_str() {
            known @ ("face" | "fpt" | "iris" | "retina" | "vbm") => known,
            _ => "face",
        };
        if let Some(s) = open.iter().find(|s| s.id == session.session_id) {
            let methods = super::with_methods(&s.auth_methods, &[method]);
            tx.step_up_session(&s.id, &methods, Some(now)).await?;
            let detail = format!("method={method}");
            tx.event(Event::security(
                EventKind::SteppedUp,
                Some(account.id),
                &actor.address,
                &actor.user_agent,
                &detail,
            ));
        }
    }
    tx.commit().await?;
    Ok(Ok(CallbackOutcome::Verified))
}

async fn verify(
    app: &Services,
    provider: &Provider,
    jws: &str,
) -> Result<Result<ResultClaims, CallbackRefusal>, RemoteError> {
    let bad = |why: &str| Ok(Err(CallbackRefusal::BadSignature(why.to_string())));
    let Ok(header) = jsonwebtoken::decode_header(jws) else {
        return bad("not a compact JWS");
    };
    if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256 | Algorithm::EdDSA | Algorithm::PS256) {
        return bad("algorithm not accepted");
    }
    let Some(kid) = header.kid.as_deref() else {
        return bad("no kid");
    };
    let mut set = provider.key_set(&app.http, false).await?;
    if set.find(kid).is_none() {
        // The provider may have rotated its keys.
        set = provider.key_set(&app.http, true).await?;
    }
    let Some(jwk) = set.find(kid) else {
        return bad("unknown kid");
    };
    let Ok(key) = DecodingKey::from_jwk(jwk) else {
        return bad("unusable key");
    };
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[provider.config.issuer.as_str()]);
    validation.set_audience(&[app.config.issuer()]);
    validation.set_required_spec_claims(&["iss", "aud", "exp", "iat"]);
    validation.leeway = 30;
    match jsonwebtoken::decode::<ResultClaims>(jws, &key, &validation) {
        Ok(data) if (now() - RESULT_MAX_AGE..=now() + 30).contains(&data.claims.iat) => Ok(Ok(data.claims)),
        Ok(_) => bad("iat is too old or in the future"),
        Err(error) => bad(&error.to_string()),
    }
}
