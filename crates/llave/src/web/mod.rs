//! Web plumbing: the middleware every response passes through (security headers, CSRF
//! cookie, NUL refusal), sessions, forms, pages and errors, and the routes of its own
//! (`routes`: health endpoints, the language switch, static files, the development outbox).
//! The application's route table is `crate::app`, a composition root.

pub mod client;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod form;
pub mod health;
pub mod lang;
pub mod metrics;
pub mod nul;
pub mod page;
pub mod redirect;
pub mod request_id;
pub mod session;
pub mod unavailable;
pub mod words;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::AppState;
use crate::i18n::{LANG_COOKIE, Lang};
use error::PageError;
use page::{Chrome, render};

pub mod headers;

/// The routes web plumbing serves itself; `app::router` merges them and sets `not_found`
/// as the fallback.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/lang/{code}", get(switch_language))
        .route("/dev/outbox", get(dev_outbox))
        .route("/static/llave.css", get(stylesheet))
        .route("/static/passkeys.js", get(passkeys_script))
}

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

/// The page for a path no route serves.
pub async fn not_found(c: Chrome) -> PageError {
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
