//! A government entity's website that signs people in with Llave: axum for the web,
//! [`openidconnect`](https://docs.rs/openidconnect/4) for OpenID Connect (discovery, the
//! authorization code flow with PKCE, ID token validation, UserInfo).
//!
//! Three pages: `/` with a "Sign in with Llave" link, `/login` that sends the browser to
//! Llave, and the callback (the path of `REDIRECT_URI`, e.g. `/callback`) that Llave sends
//! it back to, which greets the person by name.
//!
//! ```sh
//! LLAVE_ISSUER=https://llave.example.gob.mx CLIENT_ID=… CLIENT_SECRET=… \
//!     REDIRECT_URI=http://127.0.0.1:3000/callback LISTEN=127.0.0.1:3000 cargo run
//! ```
//!
//! As a program of its own (this file as `src/main.rs`), it needs:
//!
//! ```toml
//! [dependencies]
//! axum = "0.8"
//! openidconnect = "4" # its default features bring reqwest with rustls, for an https issuer
//! tokio = { version = "1", features = ["macros", "rt-multi-thread", "net"] }
//! ```
//!
//! llave's integration tests compile this very file and run it against a real llave
//! (`crates/llave/tests/integration/oidc/examples.rs`), so it keeps working.

use std::collections::HashMap;
use std::error::Error;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::url::{Host, Url};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse, reqwest,
};

/// What the entity was given when its client was registered, and where it listens.
pub struct Config {
    /// Llave's issuer URL, e.g. `https://llave.example.gob.mx`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The callback registered for the client, e.g. `https://pagos.example.gob.mx/callback`.
    pub redirect_uri: String,
    pub listen: SocketAddr,
}

impl Config {
    /// From `LLAVE_ISSUER`, `CLIENT_ID`, `CLIENT_SECRET`, `REDIRECT_URI` and `LISTEN`.
    pub fn from_env() -> Result<Config, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
        Ok(Config {
            issuer: var("LLAVE_ISSUER")?,
            client_id: var("CLIENT_ID")?,
            client_secret: var("CLIENT_SECRET")?,
            redirect_uri: var("REDIRECT_URI")?,
            listen: var("LISTEN")?.parse().map_err(|e| format!("LISTEN: {e}"))?,
        })
    }
}

/// The client type `from_provider_metadata` gives: the authorization endpoint is always
/// set; the token and UserInfo endpoints are set when discovery announced them.
type LlaveClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// The cookie that ties a sign-in to the browser that started it (it holds the `state`).
const LOGIN_COOKIE: &str = "entity_login";
/// How long a person has to get through Llave's pages before the sign-in must restart.
const LOGIN_LIFETIME: Duration = Duration::from_secs(600);
/// Sign-ins started and not finished that this process remembers, at most.
const MAX_PENDING: usize = 10_000;

/// A sign-in on its way through Llave: what the callback needs to finish it.
struct Pending {
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    started: Instant,
}

struct Entity {
    oidc: LlaveClient,
    http: reqwest::Client,
    issuer: String,
    secure_cookie: bool,
    /// Keyed by `state`. A site with several processes keeps this in its session store.
    pending: Mutex<HashMap<String, Pending>>,
}

/// The entity's web app, after discovering Llave's endpoints and keys at
/// `{issuer}/.well-known/openid-configuration`.
pub async fn app(config: Config) -> Result<Router, String> {
    let issuer = Url::parse(&config.issuer).map_err(|e| format!("LLAVE_ISSUER: {e}"))?;
    let redirect = Url::parse(&config.redirect_uri).map_err(|e| format!("REDIRECT_URI: {e}"))?;
    // Tokens and personal data travel over these: plain http only on this machine.
    for (name, url) in [("LLAVE_ISSUER", &issuer), ("REDIRECT_URI", &redirect)] {
        if url.scheme() != "https" && !is_loopback(url) {
            return Err(format!("{name} must be https (http only for 127.0.0.1, [::1] or localhost): {url}"));
        }
    }
    if matches!(redirect.path(), "/" | "/login") {
        return Err(format!("REDIRECT_URI: its path must not be / or /login, the other pages: {redirect}"));
    }
    // openidconnect's advice: no redirects, so discovery cannot be sent elsewhere (SSRF).
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("HTTP client: {}", chain(&e)))?;
    let issuer_url = IssuerUrl::new(config.issuer.clone()).map_err(|e| format!("LLAVE_ISSUER: {e}"))?;
    let metadata = CoreProviderMetadata::discover_async(issuer_url, &http)
        .await
        .map_err(|e| format!("discovery at {}: {}", config.issuer, chain(&e)))?;
    let oidc = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id),
        Some(ClientSecret::new(config.client_secret)),
    )
    .set_redirect_uri(RedirectUrl::from_url(redirect.clone()));
    let entity = Entity {
        oidc,
        http,
        issuer: config.issuer,
        secure_cookie: redirect.scheme() == "https",
        pending: Mutex::new(HashMap::new()),
    };
    Ok(Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route(redirect.path(), get(callback))
        .with_state(Arc::new(entity)))
}

/// What `main` does: read the configuration, discover Llave, serve.
#[allow(dead_code)] // llave's tests call `app` with a configuration of their own
pub async fn run() -> Result<(), String> {
    let config = Config::from_env()?;
    let listen = config.listen;
    let router = app(config).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("listen on {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| format!("listen on {listen}: {e}"))?;
    println!("listening on http://{address}");
    axum::serve(listener, router).await.map_err(|e| format!("serve: {e}"))
}

#[allow(dead_code)] // llave's tests include this file as a module: they have a main of their own
#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn home() -> Html<String> {
    Html(page("<p><a href=\"/login\">Sign in with Llave</a></p>"))
}

/// Sends the browser to Llave's authorization endpoint.
async fn login(State(entity): State<Arc<Entity>>) -> Response {
    // PKCE S256 (RFC 7636): only this process knows the verifier, so a stolen code is useless.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = entity
        .oidc
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    {
        let mut pending = entity.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.retain(|_, p| p.started.elapsed() < LOGIN_LIFETIME);
        if pending.len() >= MAX_PENDING {
            return failure(StatusCode::SERVICE_UNAVAILABLE, "Too many sign-ins at once; try again in a minute.");
        }
        pending.insert(state.secret().clone(), Pending { nonce, verifier, started: Instant::now() });
    }
    // SameSite=Lax: the cookie comes back on the top-level redirect from Llave.
    let mut cookie = format!(
        "{LOGIN_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        state.secret(),
        LOGIN_LIFETIME.as_secs()
    );
    if entity.secure_cookie {
        cookie.push_str("; Secure");
    }
    ([(header::SET_COOKIE, cookie)], Redirect::to(url.as_str())).into_response()
}

/// Llave's answer to the authorization request (RFC 6749 §4.1.2).
async fn callback(
    State(entity): State<Arc<Entity>>,
    headers: HeaderMap,
    Query(answer): Query<HashMap<String, String>>,
) -> Response {
    // RFC 9207: Llave names itself in `iss` (its discovery document says so); an answer
    // without it, or from another server, is refused.
    if answer.get("iss") != Some(&entity.issuer) {
        return failure(StatusCode::BAD_REQUEST, "This answer does not come from Llave.");
    }
    // The state must be the one this browser's cookie holds (no sign-in started by someone
    // else, CSRF), and it works once.
    let Some(state) = answer.get("state").filter(|state| cookie(&headers, LOGIN_COOKIE) == Some(state.as_str())) else {
        return failure(StatusCode::BAD_REQUEST, "This sign-in was not started here; please start again.");
    };
    let pending = entity.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(state);
    let Some(pending) = pending.filter(|p| p.started.elapsed() < LOGIN_LIFETIME) else {
        return failure(StatusCode::BAD_REQUEST, "This sign-in has expired; please start again.");
    };
    if let Some(error) = answer.get("error") {
        // e.g. access_denied: the person said no on Llave's consent page.
        return failure(StatusCode::FORBIDDEN, &format!("Llave did not sign you in ({error})."));
    }
    let Some(code) = answer.get("code") else {
        return failure(StatusCode::BAD_REQUEST, "Llave's answer has no code.");
    };
    match finish(&entity, code, pending).await {
        Ok((name, sub)) => {
            // A real site would start its own session for `sub` here and redirect.
            let body = format!(
                "<h1>Hello, {}</h1><p>Your identifier at this entity (<code>sub</code>): <code id=\"sub\">{}</code></p>",
                escape(&name),
                escape(&sub)
            );
            let clear = format!("{LOGIN_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
            ([(header::SET_COOKIE, clear)], Html(page(&body))).into_response()
        }
        Err(error) => {
            eprintln!("sign-in failed: {error}");
            failure(StatusCode::BAD_GATEWAY, "The sign-in could not be completed; please start again.")
        }
    }
}

/// Exchanges the code, validates the ID token and asks UserInfo: the person's given name
/// and `sub` (pairwise: the same person has a different `sub` at every entity).
async fn finish(entity: &Entity, code: &str, pending: Pending) -> Result<(String, String), String> {
    let tokens = entity
        .oidc
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| format!("token endpoint: {e}"))?
        .set_pkce_verifier(pending.verifier)
        .request_async(&entity.http)
        .await
        .map_err(|e| format!("token request: {}", chain(&e)))?;
    let id_token = tokens.id_token().ok_or("the token response has no ID token")?;
    // Signature (RS256, Llave's default; see `set_allowed_algs` for a client registered with
    // --id-token-alg), issuer, audience, expiry, and the nonce of this sign-in.
    let verifier = entity.oidc.id_token_verifier();
    let claims = id_token.claims(&verifier, &pending.nonce).map_err(|e| format!("ID token: {e}"))?;
    if let Some(expected) = claims.access_token_hash() {
        let algorithm = id_token.signing_alg().map_err(|e| format!("ID token: {e}"))?;
        let key = id_token.signing_key(&verifier).map_err(|e| format!("ID token: {e}"))?;
        let actual =
            AccessTokenHash::from_token(tokens.access_token(), algorithm, key).map_err(|e| format!("at_hash: {e}"))?;
        if actual != *expected {
            return Err("the access token does not match the ID token's at_hash".into());
        }
    }
    // UserInfo must speak of the same subject as the ID token (OIDC Core §5.3.2).
    let userinfo: CoreUserInfoClaims = entity
        .oidc
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .map_err(|e| format!("UserInfo endpoint: {e}"))?
        .request_async(&entity.http)
        .await
        .map_err(|e| format!("UserInfo: {}", chain(&e)))?;
    let name = userinfo
        .given_name()
        .and_then(|name| name.get(None))
        .map(|name| name.to_string())
        .ok_or("UserInfo has no given_name (scope profile)")?;
    Ok((name, claims.subject().to_string()))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

/// The value of cookie `name` in the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

fn failure(status: StatusCode, message: &str) -> Response {
    let body = format!("<p>{}</p><p><a href=\"/\">Back</a></p>", escape(message));
    (status, Html(page(&body))).into_response()
}

fn page(body: &str) -> String {
    format!("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Example entity</title>{body}</html>")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// An error and its causes, on one line (reqwest hides the useful part in the source).
fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
