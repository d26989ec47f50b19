//! Ending sessions across entities. RP-initiated logout (OpenID Connect RP-Initiated
//! Logout 1.0) at `/logout`, and back-channel logout (OpenID Connect Back-Channel Logout
//! 1.0): when a llave session ends, every client it signed in to that registered a
//! `backchannel_logout_uri` receives a signed logout token; each delivery is recorded and
//! retried. The session's grants are revoked, so its refresh tokens stop working too.

use std::time::Duration;

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
use serde::Deserialize;
use serde_json::json;

use crate::accounts::{Actor, sessions};
use crate::crypto::{now, random_id};
use crate::store::EventKind;
use crate::web::client::ClientMeta;
use crate::web::csrf::RotateCsrf;
use crate::web::error::{PageError, PageResult};
use crate::web::form::CsrfForm;
use crate::web::page::{Chrome, render};
use crate::web::session::{SESSION_COOKIE, SignedIn};
use crate::{AppState, Services};

const LOGOUT_TOKEN_SECONDS: i64 = 120;
const DELIVERY_ATTEMPTS: u32 = 3;

/// Everything that must happen when a llave session ends, whoever ends it.
pub async fn session_ended(app: &AppState, session_id: &str) {
    let now = now();
    let clients = match app.store.session_clients(session_id).await {
        Ok(clients) => clients,
        Err(error) => {
            tracing::error!(%error, "cannot list the clients of an ended session");
            return;
        }
    };
    if let Err(error) = app.store.revoke_session_grants(session_id, now).await {
        tracing::error!(%error, "cannot revoke the grants of an ended session");
    }
    for client in clients {
        let Some(uri) = client.backchannel_logout_uri.clone() else { continue };
        let delivery = random_id();
        if let Err(error) = app.store.insert_logout_delivery(&delivery, &client.client_id, session_id, &uri, now).await
        {
            tracing::error!(%error, "cannot record a logout delivery");
            continue;
        }
        let app = app.clone();
        let session_id = session_id.to_string();
        tokio::spawn(async move {
            deliver(&app, &delivery, &client.client_id, client.account_id.0, &session_id, &uri).await;
        });
    }
}

async fn logout_token(app: &Services, client_id: &str, account_id: i64, session_id: &str) -> Option<String> {
    let client = app.store.client_by_id(client_id).await.ok()??;
    let ring = app.keys.ring(&app.store).await.ok()?;
    let key = ring.signing(&client.id_token_alg).or(ring.signing("RS256"))?;
    let now = now();
    let claims = json!({
        "iss": app.config.issuer(), "aud": client_id, "iat": now, "exp": now + LOGOUT_TOKEN_SECONDS,
        "jti": random_id(), "sub": super::tokens::subject(app, &client, account_id), "sid": session_id,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    key.sign_jwt("logout+jwt", &claims).ok()
}

/// POSTs the logout token, retrying with back-off; every attempt is recorded.
async fn deliver(app: &AppState, delivery: &str, client_id: &str, account_id: i64, session_id: &str, uri: &str) {
    let Some(token) = logout_token(app, client_id, account_id, session_id).await else {
        let _ = app.store.record_logout_attempt(delivery, "no token", None).await;
        return;
    };
    for attempt in 0..DELIVERY_ATTEMPTS {
        let outcome = app.http.post(uri).form(&[("logout_token", token.as_str())]).send().await;
        let (status, delivered) = match &outcome {
            Ok(response) if response.status().is_success() => (response.status().as_u16().to_string(), Some(now())),
            Ok(response) => (response.status().as_u16().to_string(), None),
            Err(error) => (format!("error: {}", if error.is_timeout() { "timeout" } else { "unreachable" }), None),
        };
        if let Err(error) = app.store.record_logout_attempt(delivery, &status, delivered).await {
            tracing::error!(%error, "cannot record a logout attempt");
        }
        if delivered.is_some() {
            return;
        }
        tracing::warn!(client_id, %status, attempt, "back-channel logout not delivered");
        if attempt + 1 < DELIVERY_ATTEMPTS {
            // 1 s, then 4 s.
            tokio::time::sleep(Duration::from_secs(1 << (2 * attempt))).await;
        }
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
        session_ended(app, &s.session.id).await;
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
