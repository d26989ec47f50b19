//! The example entities of `docs/examples/` (Rust and Node.js), each run against a real
//! llave the way an entity runs it, with a person going through the pages in between: the
//! example's `/login`, llave's sign-in and consent pages, the example's callback.
//!
//! The Node.js example needs `npm ci --prefix docs/examples/node` (`.ci/run` does it);
//! without it the test fails saying so rather than skipping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use url::Url;

use crate::both_backends;
use crate::support::*;

// The very file the documentation shows.
#[path = "../../../../../docs/examples/rust/entity.rs"]
mod example;

/// Any one request, and the Node.js example's start (discovery included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

fn node_example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/node")
}

/// The entity of the examples, with a confidential client whose redirect URI is
/// `redirect_uri`: `(client_id, client_secret)`.
async fn register(app: &TestApp, redirect_uri: &str) -> (String, String) {
    llave::admin::entity::add_entity(&app.state, "ejemplo", "Entidad de ejemplo").await.unwrap();
    let new = llave::oidc::clients::NewClient {
        entity: "ejemplo".into(),
        name: "Portal de ejemplo".into(),
        redirect_uris: vec![redirect_uri.into()],
        ..Default::default()
    };
    let registered = llave::admin::entity::add_client(&app.state.store, &new).await.unwrap();
    let secret = registered.client_secret.expect("a confidential client has a secret");
    (registered.client_id, secret)
}

/// A page as the browser got it.
struct Page {
    url: Url,
    status: u16,
    location: Option<Url>,
    body: String,
}

impl Page {
    /// Where a redirect sends the browser.
    fn redirect(&self) -> Url {
        assert!(
            (300..400).contains(&self.status),
            "{} answered {}, not a redirect: {}",
            self.url,
            self.status,
            self.body
        );
        self.location.clone().unwrap_or_else(|| panic!("{} redirects without a Location", self.url))
    }

    fn input(&self, name: &str) -> String {
        input_value(&self.body, name).unwrap_or_else(|| panic!("no {name} on {}: {}", self.url, self.body))
    }
}

/// The person's browser over real connections to the example and to llave. One cookie jar
/// for 127.0.0.1, as in a browser (cookies do not tell ports apart); redirects are followed
/// by the test, one hop at a time, so each hop is checked.
struct Browser {
    http: reqwest12::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new() -> Browser {
        let http = reqwest12::Client::builder()
            .redirect(reqwest12::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap();
        Browser { http, cookies: HashMap::new() }
    }

    async fn get(&mut self, url: &Url) -> Page {
        self.send(self.http.get(url.clone()), url).await
    }

    async fn post(&mut self, url: &Url, form: &[(&str, &str)]) -> Page {
        self.send(self.http.post(url.clone()).form(form), url).await
    }

    async fn send(&mut self, mut request: reqwest12::RequestBuilder, url: &Url) -> Page {
        if !self.cookies.is_empty() {
            let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            request = request.header(reqwest12::header::COOKIE, cookie);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        for cookie in response.headers().get_all(reqwest12::header::SET_COOKIE) {
            let cookie = cookie.to_str().unwrap_or("");
            let pair = cookie.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest12::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| url.join(v).unwrap_or_else(|e| panic!("{url} redirects to {v:?}: {e}")));
        let body = response.text().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        Page { url: url.clone(), status, location, body }
    }
}

/// The example's `/login`: a redirect to llave's authorization endpoint, code flow with
/// PKCE S256, state and nonce.
async fn start_at_example(browser: &mut Browser, example: &Url, llave: &Url) -> Url {
    let authorize = browser.get(&example.join("/login").unwrap()).await.redirect();
    assert_eq!(authorize.origin(), llave.origin(), "{authorize}");
    assert_eq!(authorize.path(), "/authorize");
    let query: HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query.get("response_type").map(String::as_str), Some("code"), "{authorize}");
    assert_eq!(query.get("code_challenge_method").map(String::as_str), Some("S256"), "{authorize}");
    assert!(["state", "nonce", "code_challenge"].iter().all(|k| query.contains_key(*k)), "{authorize}");
    assert!(query["scope"].split(' ').any(|s| s == "openid"), "{authorize}");
    authorize
}

/// Llave's consent page at `authorize`, answered with `decision`: where llave sends the
/// browser back to, the example's callback.
async fn answer_consent(browser: &mut Browser, authorize: &Url, decision: &str, example: &Url) -> Url {
    let consent = browser.get(authorize).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.body.contains("Entidad de ejemplo"), "{}", consent.body);
    let (csrf_token, request) = (consent.input("csrf_token"), consent.input("request"));
    let answer = [("csrf_token", csrf_token.as_str()), ("request", request.as_str()), ("decision", decision)];
    let callback = browser.post(&authorize.join("/authorize/consent").unwrap(), &answer).await.redirect();
    assert_eq!(callback.origin(), example.origin(), "{callback}");
    callback
}

/// A person (signed up, not signed in) goes from the example's home page through llave's
/// sign-in page to its consent page, and says no: the example says llave did not sign
/// them in. Again, and yes: returns the example's last page. Opened again, the callback
/// is refused: it works once.
async fn sign_in_through(example: &Url, llave: &Url, person: &Person) -> Page {
    let mut browser = Browser::new();
    let home = browser.get(example).await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("href=\"/login\">Sign in with Llave</a>"), "{}", home.body);

    // Not signed in to llave: its sign-in page, then back to the authorization request.
    let authorize = start_at_example(&mut browser, example, llave).await;
    let signin = browser.get(&authorize).await.redirect();
    assert_eq!(signin.path(), "/signin", "{signin}");
    let form = browser.get(&signin).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let (csrf_token, next) = (form.input("csrf_token"), form.input("next"));
    let signed_in = browser
        .post(
            &llave.join("/signin").unwrap(),
            &[
                ("csrf_token", &csrf_token),
                ("identifier", &person.curp),
                ("password", &person.password),
                ("next", &next),
            ],
        )
        .await
        .redirect();
    assert_eq!(signed_in.path(), "/authorize", "{signed_in}");

    let refused = answer_consent(&mut browser, &signed_in, "deny", example).await;
    assert!(refused.query_pairs().any(|(k, v)| k == "error" && v == "access_denied"), "{refused}");
    let page = browser.get(&refused).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("Llave did not sign you in (access_denied)"), "{}", page.body);

    // Signed in to llave already: straight to its consent page.
    let authorize = start_at_example(&mut browser, example, llave).await;
    let callback = answer_consent(&mut browser, &authorize, "allow", example).await;
    assert!(callback.query_pairs().any(|(k, _)| k == "code"), "{callback}");
    let done = browser.get(&callback).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, 400, "a callback works once: {}", replay.body);
    assert!(!replay.body.contains("Hello"), "{}", replay.body);
    done
}

/// The example greets the person by the given name llave released, and shows the pairwise
/// `sub` llave computes for this entity.
async fn assert_greets(app: &TestApp, client_id: &str, person: &Person, page: &Page) {
    assert!(page.body.contains(&format!("<h1>Hello, {}</h1>", person.given_names)), "{}", page.body);
    let client = app.state.store.client_by_id(client_id).await.unwrap().unwrap();
    let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
    let sub = llave::oidc::tokens::subject(&app.state, &client, account.id.0);
    assert!(page.body.contains(&format!("<code id=\"sub\">{sub}</code>")), "sub {sub} not in {}", page.body);
}

both_backends! {
    async fn the_rust_example_signs_a_person_in_through_llave(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let person = Person::synthetic(501);
        sign_up_and_confirm(&app, &person).await;
        // Bound now and kept: the redirect URI names this port.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = listener.local_addr().unwrap();
        let redirect_uri = format!("http://{listen}/callback");
        let (client_id, client_secret) = register(&app, &redirect_uri).await;

        let config = example::Config {
            issuer: base.clone(),
            client_id: client_id.clone(),
            client_secret,
            redirect_uri,
            listen,
        };
        let router = example::app(config).await.expect("the example discovers llave");
        tokio::spawn(async move { axum::serve(listener, router).await });

        let example = Url::parse(&format!("http://{listen}/")).unwrap();
        let page = sign_in_through(&example, &Url::parse(&base).unwrap(), &person).await;
        assert_greets(&app, &client_id, &person, &page).await;
        app.finish().await;
    }
}

both_backends! {
    async fn the_node_example_signs_a_person_in_through_llave(backend: Backend) {
        let dir = node_example_dir();
        assert!(
            dir.join("node_modules/openid-client/package.json").is_file(),
            "openid-client is not installed in {}: run `npm ci --prefix docs/examples/node` from the workspace \
             root (.ci/run does it)",
            dir.display()
        );
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let person = Person::synthetic(502);
        sign_up_and_confirm(&app, &person).await;
        // A free port for node: found by binding it, then let go for node to take (another
        // process could take it in between; unlikely on a loopback port just handed out).
        let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let redirect_uri = format!("http://{listen}/callback");
        let (client_id, client_secret) = register(&app, &redirect_uri).await;

        let mut node = tokio::process::Command::new("node")
            .arg(dir.join("entity.mjs"))
            .current_dir(&dir)
            .env("LLAVE_ISSUER", &base)
            .env("CLIENT_ID", &client_id)
            .env("CLIENT_SECRET", &client_secret)
            .env("REDIRECT_URI", &redirect_uri)
            .env("LISTEN", listen.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not run `node` (Node.js 20 must be on PATH): {e}"));
        let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(STARTUP_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                println!("node: {line}");
                if line.starts_with("listening on ") {
                    return Ok(Some(line));
                }
            }
            Ok::<_, std::io::Error>(None)
        })
        .await;
        match ready {
            Ok(Ok(Some(line))) => assert_eq!(line, format!("listening on http://{listen}")),
            Ok(Ok(None)) => panic!("the node example ended before listening ({:?}); its stderr is above", node.wait().await),
            Ok(Err(error)) => panic!("reading the node example's output: {error}"),
            Err(_) => panic!("the node example did not listen within {STARTUP_TIMEOUT:?}"),
        }
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                println!("node: {line}");
            }
        });

        let example = Url::parse(&format!("http://{listen}/")).unwrap();
        let page = sign_in_through(&example, &Url::parse(&base).unwrap(), &person).await;
        assert_greets(&app, &client_id, &person, &page).await;
        node.kill().await.unwrap();
        app.finish().await;
    }
}
