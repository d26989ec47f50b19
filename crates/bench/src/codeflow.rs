//! Refresh tokens from llave the way an entity gets them: a person signs in (CSRF form),
//! the entity sends them to `/authorize` with PKCE S256, they agree on the consent page
//! (once; llave remembers it), and the entity trades the code at `/token`.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{StatusCode, Url};

use crate::server::User;

/// The registered client the flow runs for.
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
}

/// What a browser sees of an answer: status, `Location`, body.
pub(crate) type Page = (StatusCode, Option<String>, String);

/// A browser without JavaScript: follows nothing by itself, keeps cookies.
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn remember(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            if let Some((name, value)) = value.split(';').next().and_then(|pair| pair.split_once('=')) {
                if value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    pub(crate) async fn get(&mut self, url: &str) -> Result<Page, String> {
        let response = self
            .http
            .get(url)
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        self.finish(response).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Result<Page, String> {
        let url = format!("{}{path}", self.base);
        let response = self
            .http
            .post(&url)
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .map_err(|e| format!("POST {path}: {e}"))?;
        self.finish(response).await
    }

    async fn finish(&mut self, response: reqwest::Response) -> Result<Page, String> {
        self.remember(&response);
        let status = response.status();
        let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = response.text().await.map_err(|e| format!("reading a page: {e}"))?;
        Ok((status, location, body))
    }
}

/// Signs `user` in once, then runs the code flow `count` times; one refresh token each.
pub async fn refresh_tokens(base: &str, client: &Client<'_>, user: &User, count: usize) -> Result<Vec<String>, String> {
    let mut browser = signed_in(base, user).await?;
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let (status, answer) = one_code_flow(&mut browser, client).await?;
        let token = answer["refresh_token"].as_str().map(str::to_string).ok_or_else(|| {
            format!("POST /token (authorization_code) answered {status} without a refresh token: {answer}")
        })?;
        tokens.push(token);
    }
    Ok(tokens)
}

/// A browser with `user` signed in (the CSRF form of `/signin`).
pub(crate) async fn signed_in(base: &str, user: &User) -> Result<Browser, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut browser = Browser { http, base: base.to_string(), cookies: BTreeMap::new() };

    let (_, _, page) = browser.get(&format!("{base}/signin")).await?;
    let csrf = input_value(&page, "csrf_token").ok_or("the sign-in page has no csrf_token field")?;
    let form = [("csrf_token", csrf.as_str()), ("identifier", &user.curp), ("password", &user.password), ("next", "/")];
    let (status, _, _) = browser.post("/signin", &form).await?;
    if status != StatusCode::SEE_OTHER || !browser.cookies.contains_key("llave_session") {
        return Err(format!("POST /signin answered {status} without a session"));
    }
    Ok(browser)
}

/// One code flow of a confidential client (`client_secret_basic`, PKCE S256), from the
/// authorization request to the token endpoint's answer (its status and JSON).
pub(crate) async fn one_code_flow(
    browser: &mut Browser,
    client: &Client<'_>,
) -> Result<(StatusCode, serde_json::Value), String> {
    let verifier = llave::crypto::random_token();
    // RFC 7636 §4.2: S256 is BASE64URL(SHA256(verifier)), which is what token_hash computes.
    let challenge = llave::crypto::token_hash(&verifier);
    let state = llave::crypto::random_id();
    let nonce = llave::crypto::random_id();
    let authorize = Url::parse_with_params(
        &format!("{}/authorize", browser.base),
        [
            ("response_type", "code"),
            ("client_id", client.id),
            ("redirect_uri", client.redirect_uri),
            ("scope", client.scope),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .map_err(|e| format!("authorization URL: {e}"))?;
    let (status, location, page) = browser.get(authorize.as_str()).await?;
    let location = if status == StatusCode::OK && page.contains("name=\"decision\"") {
        let request = input_value(&page, "request").ok_or("the consent page has no request field")?;
        let csrf = input_value(&page, "csrf_token").ok_or("the consent page has no csrf_token field")?;
        let form = [("csrf_token", csrf.as_str()), ("request", request.as_str()), ("decision", "allow")];
        let (status, location, page) = browser.post("/authorize/consent", &form).await?;
        location.ok_or_else(|| format!("POST /authorize/consent answered {status} without a redirect: {page}"))?
    } else {
        location.ok_or_else(|| format!("GET /authorize answered {status} without a redirect: {page}"))?
    };
    let callback = Url::parse(&location).map_err(|e| format!("redirect {location:?}: {e}"))?;
    let params: BTreeMap<String, String> = callback.query_pairs().into_owned().collect();
    if params.get("state") != Some(&state) {
        return Err(format!("the redirect to the client lost the state: {location}"));
    }
    let code = params.get("code").ok_or_else(|| format!("no code in the redirect: {location}"))?;

    let response = browser
        .http
        .post(format!("{}/token", browser.base))
        .basic_auth(client.id, Some(client.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", client.redirect_uri),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .map_err(|e| format!("POST /token: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("POST /token: {e}"))?;
    let answer: serde_json::Value =
        serde_json::from_str(&body).map_err(|_| format!("POST /token answered {status}: {body}"))?;
    if status != StatusCode::OK {
        return Err(format!("POST /token (authorization_code) answered {status}: {body}"));
    }
    Ok((status, answer))
}

/// The value of `<input … name="NAME" value="…">`, HTML entities decoded.
pub(crate) fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    let raw = &html[start..start + end];
    // The ampersand last, so "&amp;lt;" stays "&lt;".
    let entities = [
        ("&#34;", "\""),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&#60;", "<"),
        ("&lt;", "<"),
        ("&#62;", ">"),
        ("&gt;", ">"),
        ("&#38;", "&"),
        ("&amp;", "&"),
    ];
    Some(entities.iter().fold(raw.to_string(), |text, (entity, plain)| text.replace(entity, plain)))
}

#[cfg(test)]
mod tests {
    use super::input_value;

    #[test]
    fn input_values_are_unescaped() {
        let html = r#"<input type="hidden" name="request" value="a=1&#38;b=2&amp;c=&#34;x&#34;">"#;
        assert_eq!(input_value(html, "request").as_deref(), Some("a=1&b=2&c=\"x\""));
        assert_eq!(input_value(html, "other"), None);
    }
}
