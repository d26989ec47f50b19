//! The language of a request: the `llave_lang` cookie set by the visible switch, else the
//! best `Accept-Language` match (`i18n::Lang::negotiate`). Reading it is web plumbing, so
//! `i18n` stays below `web`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::i18n::{LANG_COOKIE, Lang};

impl Lang {
    /// The language a request asks for (cookie, then `Accept-Language`).
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Lang {
        let cookie = super::cookies::get(headers, LANG_COOKIE);
        let accept = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        Lang::negotiate(cookie.as_deref(), accept)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let cookie = super::cookies::get(&parts.headers, LANG_COOKIE);
        let accept = parts.headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        Ok(Lang::negotiate(cookie.as_deref(), accept))
    }
}
