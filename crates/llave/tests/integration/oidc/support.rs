//! An entity integrating with llave the way an entity would: discovery, then the code flow
//! with PKCE through `openidconnect`.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};

use crate::support::*;

pub type Rp =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

pub const REDIRECT: &str = "http://127.0.0.1:9/callback";

pub fn http() -> reqwest12::Client {
    reqwest12::Client::builder().redirect(reqwest12::redirect::Policy::none()).build().unwrap()
}

/// An entity with one confidential client, registered as an operator would.
pub struct Entity {
    pub client_id: String,
    pub client_secret: String,
    pub rp: Rp,
}

pub async fn entity(app: &TestApp, base: &str, slug: &str, allow_curp: bool) -> Entity {
    let new = llave::oidc::clients::NewClient {
        name: format!("Portal de {slug}"),
        redirect_uris: vec![REDIRECT.into()],
        allowed_claims: if allow_curp { vec!["curp".into()] } else { vec![] },
        ..Default::default()
    };
    entity_with(app, base, slug, new).await
}

/// A confidential client registered with everything `new` says (under entity `slug`).
pub async fn entity_with(app: &TestApp, base: &str, slug: &str, new: llave::oidc::clients::NewClient) -> Entity {
    let (registered, rp) = register(app, base, slug, new).await;
    Entity { client_id: registered.client_id, client_secret: registered.client_secret.expect("a secret"), rp }
}

/// Registers a client of entity `slug` (made if missing) as an operator would, and sees it
/// through discovery as the entity would.
pub async fn register(
    app: &TestApp,
    base: &str,
    slug: &str,
    new: llave::oidc::clients::NewClient,
) -> (llave::oidc::clients::Registered, Rp) {
    if app.state.store.entity_by_slug(slug).await.unwrap().is_none() {
        llave::admin::entity::add_entity(&app.state, slug, &format!("Entidad {slug}")).await.unwrap();
    }
    let new = llave::oidc::clients::NewClient { entity: slug.into(), ..new };
    let registered = llave::admin::entity::add_client(&app.state.store, &new).await.unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(base.to_string()).unwrap(), &http()).await.unwrap();
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.client_id.clone()),
        registered.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(new.redirect_uris[0].clone()).unwrap());
    (registered, rp)
}

/// A form POSTed to `base` + `path`, with Basic credentials if given: status and JSON body.
pub async fn post_form(
    base: &str,
    path: &str,
    fields: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, serde_json::Value) {
    let mut request = http().post(format!("{base}{path}")).form(fields);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(serde_json::Value::Null))
}

/// A JWT's claims, unverified.
pub fn jwt_payload(jwt: &str) -> serde_json::Value {
    jwt_part(jwt, 1)
}

/// A JWT's header, unverified.
pub fn jwt_header(jwt: &str) -> serde_json::Value {
    jwt_part(jwt, 0)
}

fn jwt_part(jwt: &str, n: usize) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').nth(n).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A value for a query string.
pub fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub struct Started {
    pub path: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// The entity's "sign in with Llave" link: the path and query the browser opens.
pub fn start(entity: &Entity, scopes: &[&str]) -> Started {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = entity
        .rp
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new(scope.to_string()));
    }
    let (url, state, nonce) = request.url();
    Started { path: local(url.as_str()), state, nonce, verifier }
}

/// The path-and-query of an absolute URL on the test server.
pub fn local(url: &str) -> String {
    let parsed = url::Url::parse(url).unwrap();
    match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    }
}

/// Query parameters of a redirect to the entity.
pub fn callback_params(location: &str) -> std::collections::HashMap<String, String> {
    assert!(location.starts_with(REDIRECT), "not a redirect to the client: {location}");
    url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

/// Follows the browser from the authorization request to the code: consent if asked.
pub async fn authorize(browser: &mut Client, path: &str) -> std::collections::HashMap<String, String> {
    let response = browser.get(path).await;
    let location = if response.status == axum::http::StatusCode::OK && response.body.contains("name=\"decision\"") {
        let request = input_value(&response.body, "request").unwrap();
        let token = input_value(&response.body, "csrf_token").unwrap();
        let answer = browser
            .post("/authorize/consent", &[("csrf_token", &token), ("request", &request), ("decision", "allow")])
            .await;
        assert_eq!(answer.status, axum::http::StatusCode::SEE_OTHER, "{}", answer.body);
        answer.location().unwrap().to_string()
    } else {
        assert_eq!(response.status, axum::http::StatusCode::SEE_OTHER, "{}", response.body);
        response.location().unwrap().to_string()
    };
    callback_params(&location)
}

/// A confirmed person signed in to llave in `browser`.
pub async fn signed_in_person(app: &TestApp, seed: u64) -> (Person, Client) {
    let person = Person::synthetic(seed);
    sign_up_and_confirm(app, &person).await;
    let mut browser = app.client();
    assert_eq!(browser.sign_in(&person.curp, &person.password).await.status, axum::http::StatusCode::SEE_OTHER);
    (person, browser)
}

/// A back-end access token of `entity` with `scope` (client credentials).
pub async fn service_token(base: &str, entity: &Entity, scope: &str) -> String {
    let (status, body) = post_form(
        base,
        "/token",
        &[("grant_type", "client_credentials"), ("scope", scope)],
        Some((&entity.client_id, &entity.client_secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

/// A JSON API call with an optional bearer token: status and JSON body (`Null` if none).
pub async fn api_call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let method = reqwest12::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http().request(method, format!("{base}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(serde_json::Value::Null))
}
