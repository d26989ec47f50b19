//! The web edge: the one route table, the middleware every response passes through
//! (security headers, CSRF cookie, body limit, tracing), health endpoints, the language
//! switch and the development outbox.

pub mod client;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod form;
pub mod nul;
pub mod page;
pub mod redirect;
pub mod session;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::AppState;
use crate::i18n::{LANG_COOKIE, Lang};
use error::PageError;
use page::{Chrome, render};

/// Every route of the application.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    // The largest form or JSON body any route accepts (the records API's, with a file in it);
    // multipart documents are not scanned.
    let max_scan = max_body.max(state.config.records.max_file_bytes / 3 * 4 + 128 * 1024);
    Router::new()
        .merge(crate::accounts::routes::routes())
        .merge(crate::assurance::routes::routes())
        .merge(crate::signature::routes::routes())
        .merge(crate::signature::api::routes())
        .merge(crate::records::api::routes(state.config.records.max_file_bytes))
        .merge(crate::records::file::routes())
        .merge(crate::records::arco::routes())
        .merge(crate::signature::pages::routes(state.config.signature.max_document_bytes))
        .merge(crate::oidc::routes())
        .merge(crate::catalog::routes::routes())
        .merge(crate::catalog::edit::routes())
        .merge(crate::demo_sites::routes())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/lang/{code}", get(switch_language))
        .route("/dev/outbox", get(dev_outbox))
        .route("/static/llave.css", get(stylesheet))
        .route("/static/passkeys.js", get(passkeys_script))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), csrf::csrf_cookie))
        .layer(middleware::from_fn(move |request, next| nul::refuse_nul(max_scan, request, next)))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(headers::security_headers))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

pub mod headers;

/// The one script: WebAuthn ceremonies for the passkey buttons.
async fn passkeys_script() -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        include_str!("../../static/passkeys.js"),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers.
async fn readyz(State(app): State<AppState>) -> Response {
    match app.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NextPath {
    next: String,
}

/// The visible language switch: remembers the choice for a year and goes back.
async fn switch_language(
    State(app): State<AppState>,
    Path(code): Path<String>,
    form::PageQuery(query): form::PageQuery<NextPath>,
) -> Response {
    let lang = Lang::parse(&code).unwrap_or_default();
    let next = redirect::local_path(&query.next).unwrap_or_else(|| "/".to_string());
    let mut response = redirect::see_other(&next);
    let secure = if app.cookie_policy().secure { "; Secure" } else { "" };
    let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax{secure}", lang.code());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        include_str!("../../static/llave.css"),
    )
        .into_response()
}

async fn not_found(c: Chrome) -> PageError {
    PageError::not_found(c.lang)
}

#[derive(Template)]
#[template(path = "dev/outbox.html")]
struct OutboxPage {
    c: Chrome,
    messages: Vec<OutboxMessage>,
}

struct OutboxMessage {
    name: String,
    text: String,
}

/// Development only (file mailer, loopback issuer): the newest 20 messages of the outbox,
/// so someone trying llave on their machine can follow the e-mail links.
async fn dev_outbox(State(app): State<AppState>, c: Chrome) -> Result<Response, PageError> {
    if !app.dev_outbox_enabled() {
        return Err(PageError::not_found(c.lang));
    }
    let dir = app.config.outbox_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".eml") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort_unstable_by(|a, b| b.cmp(a));
    let messages = names
        .into_iter()
        .take(20)
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
            OutboxMessage { name, text }
        })
        .collect();
    Ok(render(StatusCode::OK, &OutboxPage { c, messages }))
}
