//! Ending sessions across entities. RP-initiated logout (OpenID Connect RP-Initiated
//! Logout 1.0) at `/logout`, and back-channel logout (OpenID Connect Back-Channel Logout
//! 1.0): when a llave session ends, every client it signed in to that registered a
//! `backchannel_logout_uri` receives a signed logout token; each delivery is recorded and
//! retried. The session's grants are revoked, so its refresh tokens stop working too.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect};
use jsonwebtoken::Validation;
use oidc::RedirectUri;
use oidc::authorize::Params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::accounts::{Actor, sessions};
use crate::crypto::{now, random_id};
use crate::store::{EventKind, StoreError, Tx};
use crate::web::client::ClientMeta;
use crate::web::csrf::RotateCsrf;
use crate::web::error::{PageError, PageResult};
use crate::web::form::CsrfForm;
use crate::web::page::{Chrome, render};
use crate::web::session::{SESSION_COOKIE, SignedIn};
use crate::{AppState, Services};

const LOGOUT_TOKEN_SECONDS: i64 = 120;
/// The outbox kind of a back-channel logout delivery.
pub const BACKCHANNEL_LOGOUT: &str = "backchannel_logout";

/// One back-channel logout to deliver (the outbox payload).
#[derive(Serialize, Deserialize)]
struct Delivery {
    delivery: String,
    client_id: String,
    account_id: i64,
    session_id: String,
    uri: String,
}

/// The reaction to a llave session's end, whoever ended it (sign-out, the account page,
/// expiry, a password reset, an officer's recovery), in the act that ended it: the
/// session's grants are revoked (its refresh tokens stop working) and every client it
/// signed in to that registered a `backchannel_logout_uri` gets a logout token through the
/// outbox — recorded, retried with back-off, delivered even if this process dies now.
pub async fn on_session_ended(tx: &mut Tx, session_id: &str) -> Result<(), StoreError> {
    let now = tx.at();
    let clients = tx.session_clients(session_id).await?;
    tx.revoke_session_grants(session_id, now).await?;
    for client in clients {
        let Some(uri) = client.backchannel_logout_uri else { continue };
        let delivery = random_id();
        tx.insert_logout_delivery(&delivery, &client.client_id, session_id, &uri, now).await?;
        let job = Delivery {
            delivery,
            client_id: client.client_id,
            account_id: client.account_id.0,
            session_id: session_id.to_string(),
            uri,
        };
        let payload = serde_json::to_string(&job).map_err(|e| StoreError::Data(e.to_string()))?;
        tx.enqueue(BACKCHANNEL_LOGOUT, &payload, "").await?;
    }
    Ok(())
}

/// The logout token of one delivery. Its `jti` is the outbox message id, the same on every
/// attempt, so a client that receives it twice (at-least-once delivery) can tell.
async fn logout_token(app: &Services, job: &Delivery, jti: &str) -> Option<String> {
    let client = app.store.client_by_id(&job.client_id).await.ok()??;
    let ring = app.keys.ring(&app.store).await.ok()?;
    let key = ring.signing(&client.id_token_alg).or(ring.signing("RS256"))?;
    let now = now();
    let claims = json!({
        "iss": app.config.issuer(), "aud": job.client_id, "iat": now, "exp": now + LOGOUT_TOKEN_SECONDS,
        "jti": jti, "sub": super::tokens::subject(app, &client, job.account_id), "sid": job.session_id,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    key.sign_jwt("logout+jwt", &claims).ok()
}

/// One attempt at delivering a queued back-channel logout (the outbox worker calls this):
/// POSTs the logout token and records the attempt. `Err` asks the worker to retry later.
pub async fn deliver(app: &Services, message_id: &str, payload: &str) -> Result<(), String> {
    let job: Delivery = serde_json::from_str(payload).map_err(|e| e.to_string())?;
    let Some(token) = logout_token(app, &job, message_id).await else {
        // The client or the keys are gone: nothing will ever be delivered.
        let _ = app.store.record_logout_attempt(&job.delivery, "no token", None).await;
        return Ok(());
    };
    let outcome = app.http.post(&job.uri).form(&[("logout_token", token.as_str())]).send().await;
    let (status, delivered) = match &outcome {
        Ok(response) if response.status().is_success() => (response.status().as_u16().to_string(), Some(now())),
        Ok(response) => (response.status().as_u16().to_string(), None),
        Err(error) => (format!("error: {}", if error.is_timeout() { "timeout" } else { "unreachable" }), None),
    };
    if let Err(error) = app.store.record_logout_attempt(&job.delivery, &status, delivered).await {
        tracing::error!(%error, "cannot record a logout attempt");
    }
    match delivered {
        Some(_) => Ok(()),
        None => Err(format!("back-channel logout to {} not delivered: {status}", job.client_id)),
    }
}

#[derive(Template)]
#[template(path = "oidc/logout.html")]
struct LogoutPage {
    c: Chrome,
    request: String,
}

/// What an RP-initiated logout request asks for, once checked.
struct LogoutRequest {
    hint_sid: Option<String>,
    redirect: Option<(RedirectUri, Option<String>)>,
}

async fn check_request(
    app: &AppState,
    lang: crate::i18n::Lang,
    pairs: &[(String, String)],
) -> Result<LogoutRequest, PageError> {
    let bad = || PageError::new(StatusCode::BAD_REQUEST, lang, "oidc-error-title", "oidc-error-logout");
    let params = Params::from_pairs(pairs.to_vec()).map_err(|_| bad())?;
    let hint = match params.get("id_token_hint") {
        Some(token) => Some(verify_hint(app, token).await.ok_or_else(bad)?),
        None => None,
    };
    // With both, they must name the same client (RP-Initiated Logout 1.0 §2).
    if let (Some(client_id), Some((aud, _))) = (params.get("client_id"), &hint)
        && client_id != aud
    {
        return Err(bad());
    }
    let client_id = params.get("client_id").map(str::to_string).or_else(|| hint.as_ref().map(|(aud, _)| aud.clone()));
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            // Only to an address registered by the client that asks (exact match).
            let client_id = client_id.ok_or_else(bad)?;
            let client =
                app.store.client_by_id(&client_id).await.map_err(|e| PageError::internal(lang, e))?.ok_or_else(bad)?;
            if !client.post_logout_redirect_uris.iter().any(|registered| registered == uri) {
                return Err(bad());
            }
            Some((RedirectUri::parse(uri).map_err(|_| bad())?, params.get("state").map(str::to_string)))
        }
    };
    Ok(LogoutRequest { hint_sid: hint.and_then(|(_, sid)| sid), redirect })
}

/// An ID token llave issued (expired or not): its audience and `sid`.
async fn verify_hint(app: &AppState, token: &str) -> Option<(String, Option<String>)> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    let ring = app.keys.ring(&app.store).await.ok()?;
    let key = ring.by_kid(header.kid.as_deref()?)?;
    let mut validation = Validation::new(key.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims::<&str>(&[]);
    validation.set_issuer(&[app.config.issuer()]);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation).ok()?;
    let aud = data.claims.get("aud")?.as_str()?.to_string();
    Some((aud, data.claims.get("sid").and_then(|s| s.as_str()).map(str::to_string)))
}

async fn end_session(
    app: AppState,
    c: Chrome,
    client: ClientMeta,
    signed_in: Option<SignedIn>,
    pairs: Vec<(String, String)>,
) -> PageResult {
    let request = check_request(&app, c.lang, &pairs).await?;
    match signed_in {
        // The client proved which session it means: end it without asking.
        Some(s) if request.hint_sid.as_deref() == Some(s.session.id.as_str()) => {
            finish(&app, c, &client, Some(s), request).await
        }
        Some(_) => {
            let page =
                LogoutPage { request: serde_urlencoded::to_string(&pairs).unwrap_or_default(), c: c.signed_in() };
            let mut response = render(StatusCode::OK, &page);
            if let Some((uri, _)) = &request.redirect {
                crate::web::headers::allow_form_targets(&mut response, [uri.as_str()]);
            }
            Ok(response)
        }
        None => finish(&app, c, &client, None, request).await,
    }
}

async fn finish(
    app: &AppState,
    c: Chrome,
    client: &ClientMeta,
    signed_in: Option<SignedIn>,
    request: LogoutRequest,
) -> PageResult {
    if let Some(s) = signed_in {
        sessions::end(app, s.account.id, &s.session.id, EventKind::SignOut, &Actor::from(client))
            .await
            .map_err(|e| PageError::internal(c.lang, e))?;
    }
    let mut response = match request.redirect {
        Some((uri, state)) => {
            let params: Vec<(&str, &str)> = state.as_deref().map(|s| vec![("state", s)]).unwrap_or_default();
            Redirect::to(&uri.with_params(&params)).into_response()
        }
        None => Redirect::to("/signin?signed_out=1").into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&app.cookie_policy().clear(SESSION_COOKIE)) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response.extensions_mut().insert(RotateCsrf);
    Ok(response)
}

pub async fn end_session_get(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    signed_in: Option<SignedIn>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let pairs = super::form_pairs(query.unwrap_or_default().as_bytes())
        .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, c.lang, "oidc-error-title", "oidc-error-logout"))?;
    end_session(app, c, client, signed_in, pairs).await
}

pub async fn end_session_post(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    signed_in: Option<SignedIn>,
    body: Bytes,
) -> PageResult {
    let pairs = super::form_pairs(&body)
        .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, c.lang, "oidc-error-title", "oidc-error-logout"))?;
    if signed_in.is_none() {
        // Cross-site POSTs carry no SameSite=Lax cookie: ask again as a top-level GET.
        return Ok(super::same_request_as_get("/logout", &pairs));
    }
    end_session(app, c, client, signed_in, pairs).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    request: String,
}

/// The person confirmed "sign out" on the logout page.
pub async fn confirm(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    signed_in: Option<SignedIn>,
    CsrfForm(form): CsrfForm<ConfirmForm>,
) -> PageResult {
    let pairs = super::form_pairs(form.request.as_bytes())
        .map_err(|_| PageError::new(StatusCode::BAD_REQUEST, c.lang, "oidc-error-title", "oidc-error-logout"))?;
    let request = check_request(&app, c.lang, &pairs).await?;
    finish(&app, c, &client, signed_in, request).await
}
