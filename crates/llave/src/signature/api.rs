//! What entities' back ends call, with a `client_credentials` access token holding the
//! `signatures` scope:
//!
//! - `POST /api/seals` seals a document the entity issues (`{document_name,
//!   document_sha256}`) and answers the `.p7s` (base64) and its JWS form;
//! - `POST /api/signature-requests` asks a person to sign (`{document_name,
//!   document_sha256, summary, redirect_uri, state}`): the answer's `sign_url` is where the
//!   entity sends the person; after signing (or refusing) llave sends them to `redirect_uri`
//!   with a one-time `code` (or `error=access_denied`) and the `state`;
//! - `POST /api/signature-requests/exchange` (`{code}`) gives the entity the signature, once.
//!
//! The person's page is `/firma/solicitud/{id}`: who asks, the summary, the document's name
//! and fingerprint, and a fresh authentication before anything is signed.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::accounts::Actor;
use crate::crypto::{now, random_id, random_token, token_hash};
use crate::oidc::service::api_error;
use crate::store::entities::ClientRecord;
use crate::store::signatures::SignatureRequest;
use crate::web::client::ClientMeta;
use crate::web::error::{PageError, PageResult};
use crate::web::form::CsrfForm;
use crate::web::page::{Chrome, FieldErrors, render};
use crate::web::session::SignedIn;

pub const SCOPE: &str = "signatures";
/// How long a person has to answer a signature request.
const REQUEST_SECONDS: i64 = 30 * 60;
/// How long the entity has to exchange the code.
const CODE_SECONDS: i64 = 5 * 60;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/seals", post(seal))
        .route("/api/signature-requests", post(create_request))
        .route("/api/signature-requests/exchange", post(exchange))
        .route("/firma/solicitud/{id}", get(request_page).post(request_answer))
        .route("/firma/solicitud/{id}/passkey/begin", post(request_passkey_begin))
        .route("/firma/solicitud/{id}/passkey/finish", post(request_passkey_finish))
}

/// The entity's client behind a bearer token with the `signatures` scope.
async fn service_client(app: &AppState, headers: &HeaderMap) -> Result<ClientRecord, Response> {
    crate::oidc::service::client_with_scope(app, headers, SCOPE).await.map_err(|denied| denied.into_response())
}

fn signature_json(record: &crate::store::signatures::SignatureRecord) -> serde_json::Value {
    json!({
        "signature_id": record.id,
        "signature": record.signature,
        "signature_format": "application/pkcs7-signature (detached CMS, CAdES-B), base64",
        "jws": record.jws,
        "certificate_serial": record.certificate_serial,
        "document_name": record.document_name,
        "document_sha256": record.document_sha256,
        "signed_at": record.created_at,
    })
}

fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n').take(max).collect::<String>().trim().to_string()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SealRequest {
    document_name: String,
    document_sha256: String,
}

async fn seal(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let client = match service_client(&app, &headers).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let Ok(request) = serde_json::from_slice::<SealRequest>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "a JSON object is expected");
    };
    let Some(digest) = super::parse_sha256(&request.document_sha256) else {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "document_sha256 must be 64 hex digits");
    };
    let name = clean(&request.document_name, 200);
    if name.is_empty() {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "document_name is required");
    }
    match super::seal(&app, &client.entity_slug, &client.entity_name, &client.client_id, &name, &digest).await {
        Ok((record, _)) => (StatusCode::CREATED, Json(signature_json(&record))).into_response(),
        Err(super::SignatureError::Pki(super::pki::PkiError::NotInitialised)) => {
            api_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "the hub's PKI is not initialised")
        }
        Err(error) => {
            tracing::error!(%error, "seal failed");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the seal could not be made")
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewRequest {
    document_name: String,
    document_sha256: String,
    summary: String,
    redirect_uri: String,
    state: Option<String>,
    /// The person who must sign: the `sub` this entity knows them by. Anyone signed in
    /// may answer a request without it.
    sub: Option<String>,
}

async fn create_request(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let client = match service_client(&app, &headers).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let Ok(new) = serde_json::from_slice::<NewRequest>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "a JSON object is expected");
    };
    let Some(digest) = super::parse_sha256(&new.document_sha256) else {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "document_sha256 must be 64 hex digits");
    };
    let (name, summary) = (clean(&new.document_name, 200), clean(&new.summary, 1000));
    if name.is_empty() || summary.is_empty() {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "document_name and summary are required");
    }
    // Exactly one of the client's registered redirect URIs (RFC 9700 §4.1.3).
    if !client.redirect_uris.contains(&new.redirect_uri) {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri is not registered for this client");
    }
    match app.store.authority("issuing").await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the hub's PKI is not initialised",
            );
        }
        Err(error) => {
            tracing::error!(%error, "cannot read the PKI");
            return api_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again");
        }
    }
    let now = now();
    let request = SignatureRequest {
        id: random_id(),
        client_id: client.client_id.clone(),
        document_name: name,
        document_sha256: super::cms::hex(&digest),
        summary,
        redirect_uri: new.redirect_uri,
        state: new.state.map(|s| clean(&s, 500)),
        subject: new.sub.map(|s| clean(&s, 200)).filter(|s| !s.is_empty()),
        expires_at: now + REQUEST_SECONDS,
        account_id: None,
        signature_id: None,
        outcome: None,
    };
    if let Err(error) = app.store.create_signature_request(&request, now).await {
        tracing::error!(%error, "cannot store a signature request");
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again");
    }
    let sign_url = format!("{}/firma/solicitud/{}", app.config.issuer(), request.id);
    (StatusCode::CREATED, Json(json!({ "id": request.id, "sign_url": sign_url, "expires_at": request.expires_at })))
        .into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ExchangeRequest {
    code: String,
}

async fn exchange(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let client = match service_client(&app, &headers).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let Ok(request) = serde_json::from_slice::<ExchangeRequest>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "a JSON object is expected");
    };
    let spent = app.store.exchange_signature_code(&token_hash(request.code.trim()), &client.client_id, now()).await;
    let found = match spent {
        Ok(Some(found)) => found,
        Ok(None) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the code is unknown, used, expired or another client's",
            );
        }
        Err(error) => {
            tracing::error!(%error, "cannot exchange a signature code");
            return api_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again");
        }
    };
    let Some(signature_id) = found.signature_id.as_deref() else {
        return api_error(StatusCode::BAD_REQUEST, "access_denied", "the person did not sign");
    };
    match app.store.signature_record(signature_id).await {
        Ok(Some(record)) => {
            let mut body = signature_json(&record);
            body["request_id"] = json!(found.id);
            // Who signed, as this entity knows them.
            if let Some(account) = found.account_id {
                body["sub"] = json!(crate::oidc::tokens::subject(&app, &client, account.0));
            }
            Json(body).into_response()
        }
        Ok(None) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the signature is missing"),
        Err(error) => {
            tracing::error!(%error, "cannot load a signature");
            api_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "try again")
        }
    }
}

// ----- the person's page -----

#[derive(Template)]
#[template(path = "signature/request.html")]
struct RequestPage {
    c: Chrome,
    errors: FieldErrors,
    id: String,
    /// Where the fresh-authentication form goes.
    action: String,
    entity: String,
    summary: String,
    name: String,
    sha256: String,
    totp: bool,
    passkeys: bool,
    verified: bool,
}

struct Live {
    request: SignatureRequest,
    client: ClientRecord,
}

async fn live_request(app: &AppState, c: &Chrome, id: &str) -> Result<Live, PageError> {
    let internal = |e: crate::store::StoreError| PageError::internal(c.lang, e);
    let Some(request) = app.store.signature_request(id).await.map_err(internal)? else {
        return Err(PageError::not_found(c.lang));
    };
    if request.outcome.is_some() || request.expires_at <= now() {
        return Err(PageError::new(StatusCode::GONE, c.lang, "sign-act-gone-title", "sign-act-gone"));
    }
    match app.store.client_by_id(&request.client_id).await.map_err(internal)? {
        Some(client) if client.disabled_at.is_none() => Ok(Live { request, client }),
        _ => Err(PageError::not_found(c.lang)),
    }
}

async fn page(
    app: &AppState,
    c: Chrome,
    s: &SignedIn,
    live: &Live,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let factors =
        crate::assurance::security::Factors::of(app, &s.account).await.map_err(|e| PageError::internal(c.lang, e))?;
    let page = RequestPage {
        c: c.signed_in(),
        errors,
        id: live.request.id.clone(),
        action: format!("/firma/solicitud/{}", live.request.id),
        entity: live.client.entity_name.clone(),
        summary: live.request.summary.clone(),
        name: live.request.document_name.clone(),
        sha256: live.request.document_sha256.clone(),
        totp: factors.totp,
        passkeys: factors.passkeys_usable(app),
        verified: crate::assurance::identity_verified(&s.account),
    };
    let mut response = render(status, &page);
    // The answer goes back to the entity's registered address.
    crate::web::headers::allow_form_targets(&mut response, std::iter::once(live.request.redirect_uri.as_str()));
    Ok(response)
}

/// A request addressed to someone else is refused to this person.
fn addressed_to(app: &AppState, c: &Chrome, s: &SignedIn, live: &Live) -> Result<(), PageError> {
    match &live.request.subject {
        Some(sub) if *sub != crate::oidc::tokens::subject(app, &live.client, s.account.id.0) => {
            Err(PageError::new(StatusCode::FORBIDDEN, c.lang, "request-not-yours-title", "request-not-yours"))
        }
        _ => Ok(()),
    }
}

async fn request_page(State(app): State<AppState>, c: Chrome, s: SignedIn, Path(id): Path<String>) -> PageResult {
    let live = live_request(&app, &c, &id).await?;
    addressed_to(&app, &c, &s, &live)?;
    page(&app, c, &s, &live, FieldErrors::default(), StatusCode::OK).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AnswerForm {
    decision: String,
    password: String,
    code: String,
}

/// Signs (or records the refusal), makes the entity's one-time code, and the address the
/// person goes back to.
async fn answer(
    app: &AppState,
    c: &Chrome,
    s: &SignedIn,
    live: &Live,
    sign: bool,
    actor: &Actor,
) -> Result<String, PageError> {
    let internal = |e: &dyn std::fmt::Display| PageError::internal(c.lang, e);
    let digest =
        super::parse_sha256(&live.request.document_sha256).ok_or_else(|| internal(&"a stored digest is not hex"))?;
    let code = random_token();
    let now = now();
    let signature_id = sign.then(random_id);
    let outcome = if sign { "signed" } else { "refused" };
    let claimed = app
        .store
        .answer_signature_request(
            &live.request.id,
            s.account.id,
            outcome,
            signature_id.as_deref(),
            &token_hash(&code),
            now + CODE_SECONDS,
            now,
        )
        .await
        .map_err(|e| internal(&e))?;
    if !claimed {
        return Err(PageError::new(StatusCode::GONE, c.lang, "sign-act-gone-title", "sign-act-gone"));
    }
    let mut params: Vec<(&str, &str)> = Vec::new();
    if let Some(id) = &signature_id {
        let signed = super::sign_with_id(
            app,
            id,
            &s.account,
            &live.request.document_name,
            &digest,
            "request",
            Some(&live.client.client_id),
            actor,
        )
        .await;
        if let Err(error) = signed {
            // Nothing was signed: the request stays open.
            app.store
                .release_signature_request(&live.request.id, &token_hash(&code))
                .await
                .map_err(|e| internal(&e))?;
            return Err(internal(&error));
        }
        params.push(("code", &code));
    } else {
        params.push(("error", "access_denied"));
    }
    if let Some(state) = &live.request.state {
        params.push(("state", state));
    }
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    let sep = if live.request.redirect_uri.contains('?') { '&' } else { '?' };
    Ok(format!("{}{sep}{query}", live.request.redirect_uri))
}

async fn request_answer(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<AnswerForm>,
) -> PageResult {
    let live = live_request(&app, &c, &id).await?;
    addressed_to(&app, &c, &s, &live)?;
    let actor = Actor::from(&client);
    if form.decision == "refuse" {
        let to = answer(&app, &c, &s, &live, false, &actor).await?;
        return Ok(Redirect::to(&to).into_response());
    }
    if !crate::assurance::identity_verified(&s.account) {
        return page(&app, c, &s, &live, FieldErrors::default(), StatusCode::FORBIDDEN).await;
    }
    let errors = super::pages::fresh_authentication(&app, &c, &s.account, &form.password, &form.code, &actor).await?;
    if !errors.is_empty() {
        return page(&app, c, &s, &live, errors, StatusCode::UNAUTHORIZED).await;
    }
    let to = answer(&app, &c, &s, &live, true, &actor).await?;
    Ok(Redirect::to(&to).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Empty {}

async fn request_passkey_begin(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    if let Err(error) = live_request(&app, &c, &id).await {
        return error.into_response();
    }
    super::pages::passkey_begin(&app, &c, &s.account).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasskeyForm {
    ceremony: String,
    credential: String,
}

async fn request_passkey_finish(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<PasskeyForm>,
) -> Response {
    let live = match live_request(&app, &c, &id).await {
        Ok(live) => live,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = addressed_to(&app, &c, &s, &live) {
        return error.into_response();
    }
    if !crate::assurance::identity_verified(&s.account) {
        return (StatusCode::FORBIDDEN, Json(json!({ "error": c.t("sign-needs-verification") }))).into_response();
    }
    if let Err(refusal) = super::pages::passkey_proof(&app, &c, &s.account, &form.ceremony, &form.credential).await {
        return refusal;
    }
    match answer(&app, &c, &s, &live, true, &Actor::from(&client)).await {
        Ok(to) => Json(json!({ "redirect": to })).into_response(),
        Err(error) => error.into_response(),
    }
}
