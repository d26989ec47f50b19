//! Errors a person sees: one page in their language with a status, a title and a message.
//! Capabilities turn their own errors into a `PageError`; a storage failure is logged with
//! its cause and shown as a generic "try again" page (the cause may hold personal data).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::i18n::Lang;
use crate::web::page::render;

#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub lang: Lang,
    pub title_key: &'static str,
    pub message_key: &'static str,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    lang: Lang,
    status: u16,
    title: String,
    message: String,
}

impl PageError {
    pub fn new(status: StatusCode, lang: Lang, title_key: &'static str, message_key: &'static str) -> PageError {
        PageError { status, lang, title_key, message_key }
    }

    pub fn internal(lang: Lang, error: impl std::fmt::Display) -> PageError {
        tracing::error!(%error, "request failed");
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, lang, "error-internal-title", "error-internal")
    }

    pub fn not_found(lang: Lang) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, lang, "error-not-found-title", "error-not-found")
    }

    pub fn csrf(lang: Lang) -> PageError {
        PageError::new(StatusCode::FORBIDDEN, lang, "error-csrf-title", "error-csrf")
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            lang: self.lang,
            status: self.status.as_u16(),
            title: self.lang.t(self.title_key),
            message: self.lang.t(self.message_key),
        };
        render(self.status, &page)
    }
}

/// A handler's result: a response or an error page.
pub type PageResult = Result<Response, PageError>;
