//! What every page shares: the language, the CSRF token for its forms, the path (for the
//! language switch) and whether someone is signed in. Rendering happens here, once.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};

use crate::i18n::Lang;
use crate::web::csrf::CsrfToken;

#[derive(Debug, Clone)]
pub struct Chrome {
    pub lang: Lang,
    pub csrf: String,
    pub path: String,
    pub signed_in: bool,
}

impl Chrome {
    pub fn t(&self, key: &str) -> String {
        self.lang.t(key)
    }

    pub fn t_with(&self, key: &str, args: &[(&'static str, String)]) -> String {
        self.lang.t_with(key, args)
    }

    /// The label of the form field `field` (message `field-<name>`, `_` written `-`), for
    /// an error summary that names the field each message is about.
    pub fn field_label(&self, field: &str) -> Option<String> {
        self.lang.try_t(&format!("field-{}", field.replace('_', "-")))
    }

    pub fn signed_in(mut self) -> Chrome {
        self.signed_in = true;
        self
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Chrome {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let lang = Lang::from_request_parts(parts, state).await?;
        let csrf = parts.extensions.get::<CsrfToken>().map(|t| t.0.clone()).unwrap_or_default();
        let path = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        Ok(Chrome { lang, csrf, path, signed_in: false })
    }
}

/// Renders a page with a status; a template failure is logged and shown as a plain 500.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Field errors of a form: listed at the top of the page and shown next to each field.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors {
    pub items: Vec<FieldError>,
}

#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldErrors {
    pub fn add(&mut self, field: &'static str, message: String) {
        self.items.push(FieldError { field, message });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The first message for `field`, if any.
    pub fn of(&self, field: &str) -> Option<&str> {
        self.items.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }
}
