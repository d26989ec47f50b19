//! The reference verification provider: the remote protocol's other side, served by llave
//! itself under `/referencia/verificacion` when `assurance.reference_provider` is set, for
//! development, demos and tests. It "verifies" whoever presses its button (a real vendor
//! compares a face with an official ID) and signs the result with its own ES256 key, which
//! it publishes like any provider. Its sessions live in memory: one node only.

use std::collections::HashMap;
use std::sync::Mutex;

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::config::RemoteProviderConfig;
use crate::crypto::{now, random_id, random_token};
use crate::keys::LoadedKey;
use crate::store::{Store, StoreError};
use crate::web::error::{PageError, PageResult};
use crate::web::form::CsrfForm;
use crate::web::page::{Chrome, render};

pub const PATH: &str = "/referencia/verificacion";

struct Pending {
    session_id: String,
    curp: String,
    purpose: String,
    callback_url: String,
    return_url: String,
    expires_at: i64,
}

pub struct Reference {
    issuer: String,
    api_key: String,
    key: LoadedKey,
    sessions: Mutex<HashMap<String, Pending>>,
}

impl Reference {
    /// Loads (or creates, once for all nodes) the provider's key and API key.
    pub async fn start(store: &Store, llave_issuer: &str) -> Result<Reference, StoreError> {
        let fresh = crate::keys::generate("ES256").map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let fresh = json!({ "kid": fresh.kid, "pem": fresh.private_pem, "jwk": fresh.public_jwk }).to_string();
        let stored = store.server_secret("reference_provider_key", &fresh, now()).await?;
        let stored: serde_json::Value =
            serde_json::from_str(&stored).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let record = crate::store::oidc::KeyRecord {
            kid: stored["kid"].as_str().unwrap_or_default().to_string(),
            alg: "ES256".into(),
            private_pem: stored["pem"].as_str().unwrap_or_default().to_string(),
            public_jwk: stored["jwk"].as_str().unwrap_or_default().to_string(),
            created_at: 0,
            retired_at: None,
        };
        let key = crate::keys::load(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let api_key = store.server_secret("reference_provider_api_key", &random_token(), now()).await?;
        Ok(Reference { issuer: format!("{llave_issuer}{PATH}"), api_key, key, sessions: Mutex::new(HashMap::new()) })
    }

    /// The provider as llave's remote verifier sees it.
    pub fn provider_config(&self) -> RemoteProviderConfig {
        RemoteProviderConfig {
            name: "Proveedor de referencia".into(),
            issuer: self.issuer.clone(),
            start_url: format!("{}/sessions", self.issuer),
            jwks_url: format!("{}/jwks.json", self.issuer),
            api_key: self.api_key.clone(),
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/referencia/verificacion/jwks.json", get(jwks))
        .route("/referencia/verificacion/sessions", post(create_session))
        .route("/referencia/verificacion/s/{id}", get(session_page).post(decide))
}

fn reference(app: &AppState) -> Option<&Reference> {
    app.reference.as_ref()
}

async fn jwks(State(app): State<AppState>) -> Response {
    match reference(&app) {
        Some(reference) => Json(json!({ "keys": [reference.key.jwk] })).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct Start {
    session_id: String,
    curp: String,
    purpose: String,
    callback_url: String,
    return_url: String,
}

async fn create_session(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let Some(reference) = reference(&app) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), reference.api_key.as_bytes())) {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid api key" }))).into_response();
    }
    let Ok(start) = serde_json::from_slice::<Start>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "malformed request" }))).into_response();
    };
    let id = random_id();
    let pending = Pending {
        session_id: start.session_id,
        curp: start.curp,
        purpose: start.purpose,
        callback_url: start.callback_url,
        return_url: start.return_url,
        expires_at: now() + super::remote::SESSION_SECONDS,
    };
    if let Ok(mut sessions) = reference.sessions.lock() {
        let now = now();
        sessions.retain(|_, s| s.expires_at > now);
        sessions.insert(id.clone(), pending);
    }
    Json(json!({ "redirect_url": format!("{}/s/{id}", reference.issuer) })).into_response()
}

#[derive(Template)]
#[template(path = "assurance/reference.html")]
struct ReferencePage {
    c: Chrome,
    id: String,
    curp: String,
    reproof: bool,
}

async fn session_page(State(app): State<AppState>, c: Chrome, Path(id): Path<String>) -> PageResult {
    let reference = reference(&app).ok_or_else(|| PageError::not_found(c.lang))?;
    let found = reference.sessions.lock().ok().and_then(|s| s.get(&id).map(|p| (p.curp.clone(), p.purpose.clone())));
    let Some((curp, purpose)) = found else {
        return Err(PageError::not_found(c.lang));
    };
    Ok(render(StatusCode::OK, &ReferencePage { c, id, curp, reproof: purpose == "reproof" }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Decision {
    decision: String,
    document_kind: String,
    document_number: String,
}

/// Signs the result, delivers it to llave's callback, and sends the person back.
async fn decide(
    State(app): State<AppState>,
    c: Chrome,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Decision>,
) -> PageResult {
    let reference = reference(&app).ok_or_else(|| PageError::not_found(c.lang))?;
    let Some(pending) = reference.sessions.lock().ok().and_then(|mut s| s.remove(&id)) else {
        return Err(PageError::not_found(c.lang));
    };
    let now = now();
    let claims = json!({
        "iss": reference.issuer,
        "aud": app.config.issuer(),
        "iat": now,
        "exp": now + 300,
        "jti": random_id(),
        "session_id": pending.session_id,
        "curp": pending.curp,
        "result": if form.decision == "approve" { "verified" } else { "rejected" },
        "method": "face",
        "document_kind": form.document_kind.chars().take(40).collect::<String>(),
        "document_number": form.document_number.chars().take(40).collect::<String>(),
    });
    let jws = reference.key.sign_jwt("JWT", &claims).map_err(|e| PageError::internal(c.lang, e))?;
    let delivered = app
        .http
        .post(&pending.callback_url)
        .header(axum::http::header::CONTENT_TYPE, "application/jose")
        .body(jws)
        .send()
        .await;
    match delivered {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => tracing::warn!(status = %response.status(), "llave refused the reference provider's result"),
        Err(error) => tracing::warn!(%error, "cannot deliver the reference provider's result"),
    }
    Ok(crate::web::redirect::see_other(&pending.return_url))
}
