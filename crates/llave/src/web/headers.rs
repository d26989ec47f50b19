//! Headers on every response: a strict Content-Security-Policy with
//! `frame-ancestors 'none'`, no sniffing, no referrer (reset links carry tokens), and no
//! caching of pages that may show personal data.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn security_headers(request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A handler that needs a narrower exception (the form_post page: its one script and the
    // client's origin as form action) sets its own policy; everyone else gets this one.
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !is_static {
        // Pages may show personal data: never cached, unless the handler says otherwise
        // (discovery and the JWKS are public and cacheable).
        headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    }
    response
}

/// Widens `form-action` on one page to the given origins, for a form whose submission ends
/// in a redirect to another site (Chromium applies `form-action` to the redirects that
/// follow a submission): the consent page and a sign-in on the way to a client, whose
/// answer goes to the client's redirect URI; the logout question, to the client's
/// post-logout address. Only http(s) origins of parsed URLs are added.
pub fn allow_form_targets<'a>(response: &mut Response, uris: impl IntoIterator<Item = &'a str>) {
    let mut origins: Vec<String> = uris
        .into_iter()
        .filter_map(|uri| url::Url::parse(uri).ok())
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .map(|url| url.origin().ascii_serialization())
        .collect();
    origins.sort();
    origins.dedup();
    if origins.is_empty() {
        return;
    }
    let policy =
        CONTENT_SECURITY_POLICY.replace("form-action 'self'", &format!("form-action 'self' {}", origins.join(" ")));
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn form_targets_widen_only_form_action_and_only_with_origins() {
        let mut response = "page".into_response();
        allow_form_targets(
            &mut response,
            ["https://agua.cdmx.gob.mx/callback?x=1", "https://agua.cdmx.gob.mx/other", "javascript:alert(1)", "nope"],
        );
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_string();
        assert!(policy.contains("form-action 'self' https://agua.cdmx.gob.mx;"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(!policy.contains("javascript"));
        let mut untouched = "page".into_response();
        allow_form_targets(&mut untouched, ["nope"]);
        assert!(untouched.headers().get(header::CONTENT_SECURITY_POLICY).is_none());
    }
}
