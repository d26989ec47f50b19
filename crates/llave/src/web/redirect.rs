//! Where llave sends a browser next. Every `next`-like value that came from outside (a query
//! parameter, a form field, a value kept in a session row) goes through [`local_path`], the one
//! checked function: it accepts only a path on this site and gives it back in a form that is a
//! valid `Location` header, so it can neither become an open redirect nor a 500.
//!
//! Browsers are lenient with what follows `Location:` (WHATWG URL parsing): they drop tabs and
//! newlines anywhere (`/\t/evil.example` becomes `//evil.example`, another host), read `\` as `/`
//! in http(s) URLs, and trim leading and trailing spaces and control characters. So the rule is
//! strict rather than clever: a path starts with one `/`, its second character is neither `/` nor
//! `\`, and it holds no control character, space or backslash at all (percent-encoded characters
//! are kept encoded, never decoded, so `%2F%2F` stays harmless text).

use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The longest path llave will send a browser back to.
const MAX_PATH: usize = 4096;

/// `text` as a same-origin path to redirect to, or `None` when it is anything else.
/// Non-ASCII characters (a search for "México") are percent-encoded (UTF-8), so the result is
/// always a valid header value.
pub fn local_path(text: &str) -> Option<String> {
    let mut chars = text.chars();
    if chars.next() != Some('/') || matches!(chars.next(), Some('/' | '\\')) || text.len() > MAX_PATH {
        return None;
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
        return None;
    }
    let mut path = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            path.push(c);
        } else {
            let mut buffer = [0u8; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                path.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    Some(path)
}

/// A local path to return to after sign-in; anything else becomes `/account`.
pub fn safe_next(next: Option<&str>) -> String {
    next.and_then(local_path).unwrap_or_else(|| "/account".to_string())
}

/// A 303 See Other to `location`. Unlike `axum::response::Redirect`, a location that is not a
/// valid header value (it can only have come from outside) answers 400, never 500.
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(LOCATION, value)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// The redirect URIs of the client an `/authorize?…` path is for, so that a sign-in page on
/// the way there may be submitted towards them (see `web::headers::allow_form_targets`).
pub async fn redirect_uris_for_next(app: &crate::AppState, next: &str) -> Vec<String> {
    let Some(query) = next.strip_prefix("/authorize?") else { return Vec::new() };
    let Some(client_id) = url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "client_id").map(|(_, v)| v)
    else {
        return Vec::new();
    };
    match app.store.client_by_id(&client_id).await {
        Ok(Some(client)) if client.disabled_at.is_none() => client.redirect_uris,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{local_path, safe_next};

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/account")), "/account");
        assert_eq!(safe_next(Some("/tramites?q=agua&p=2#x")), "/tramites?q=agua&p=2#x");
        assert_eq!(safe_next(Some("//evil.example")), "/account");
        assert_eq!(safe_next(Some("/\\evil.example")), "/account");
        assert_eq!(safe_next(Some("https://evil.example")), "/account");
        assert_eq!(safe_next(Some("")), "/account");
        assert_eq!(safe_next(None), "/account");
    }

    #[test]
    fn characters_browsers_drop_or_rewrite_are_refused() {
        // Chromium strips tab and newline: `/\t/evil.example/x` would be `//evil.example/x`.
        for hostile in [
            "/\t/evil.example/x",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/ /evil.example",
            "/\u{7f}",
            "/\0",
            "/a\\b",
            "/\u{85}x",
            "/\u{2028}x",
            "/\u{a0}/evil.example",
        ] {
            assert_eq!(local_path(hostile), None, "{hostile:?}");
        }
    }

    #[test]
    fn non_ascii_is_percent_encoded_into_a_valid_header() {
        let path = local_path("/tramites?q=México").unwrap();
        assert_eq!(path, "/tramites?q=M%C3%A9xico");
        assert!(axum::http::HeaderValue::from_str(&path).is_ok());
    }

    #[test]
    fn percent_encoded_slashes_stay_encoded() {
        assert_eq!(local_path("/%2F%2Fevil.example").as_deref(), Some("/%2F%2Fevil.example"));
    }

    #[test]
    fn overlong_paths_are_refused() {
        assert_eq!(local_path(&format!("/{}", "a".repeat(5000))), None);
    }
}
