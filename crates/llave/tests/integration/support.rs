//! Test harness: `TestApp` builds a real llave over a fresh database (a SQLite file in a
//! temporary directory, or a PostgreSQL schema of its own in database `test`), and
//! `Client` drives its router in-process, keeping cookies like a browser. `serve()` puts
//! it on a real port for outside clients (a browser, the CLI).
//!
//! `both_backends!` writes a test once and runs it against SQLite and PostgreSQL.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use llave::config::Config;
use llave::store::Store;
use llave::{AppState, services};
use tower::ServiceExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs the body once per backend, each as its own test.
#[macro_export]
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident: Backend) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($backend: $crate::support::Backend) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { run($crate::support::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { run($crate::support::Backend::Postgres).await }
        }
    };
}

pub fn postgres_base_url() -> String {
    std::env::var("LLAVE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

pub struct TestApp {
    pub state: AppState,
    pub router: axum::Router,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub backend: Backend,
    pub schema: Option<String>,
}

pub struct TestAppBuilder {
    backend: Backend,
    config: Config,
    /// Run the audit log's sequencer in the background, as a server does (the default).
    sequencer: bool,
}

/// `LLAVE_TEST_LOG=debug cargo nextest run … --no-capture` shows the server's log.
fn log_if_asked() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("LLAVE_TEST_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        }
    });
}

impl TestAppBuilder {
    /// No background sequencer: the test sequences the audit log itself, so nothing submits
    /// checkpoints to witnesses behind its back.
    pub fn without_background_sequencer(mut self) -> Self {
        self.sequencer = false;
        self
    }

    pub fn config(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    pub async fn build(self) -> TestApp {
        log_if_asked();
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config = self.config;
        config.data_dir = dir.path().join("data");
        std::fs::create_dir_all(&config.data_dir).unwrap();
        let (database_url, schema) = match self.backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("llave.db").display()), None),
            Backend::Postgres => {
                let (url, schema) = fresh_postgres_schema().await;
                (url, Some(schema))
            }
        };
        config.database_url = Some(database_url.clone());
        let store = Store::connect(&database_url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let state = if self.sequencer { services(config, store).await } else { llave::assemble(config, store).await }
            .expect("services");
        let router = llave::app::router(state.clone());
        TestApp { state, router, dir, database_url, backend: self.backend, schema }
    }
}

impl TestAppBuilder {
    /// llave on a real port, its issuer set to the address it listens on (so links in
    /// mails and OIDC discovery lead back to it). The port is bound before the app is
    /// built and stays bound, so no other process can take it in between.
    pub async fn serve_as_issuer(self) -> (TestApp, String) {
        self.serve_at("127.0.0.1").await
    }

    /// `serve_as_issuer` with the issuer at `http://localhost:PORT`: WebAuthn (passkeys)
    /// refuses IP addresses as relying-party ids.
    pub async fn serve_as_localhost(self) -> (TestApp, String) {
        self.serve_at("localhost").await
    }

    async fn serve_at(self, host: &str) -> (TestApp, String) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let base = format!("http://{host}:{}", listener.local_addr().expect("local address").port());
        let app = self.config(|c| c.issuer = Some(base.clone())).build().await;
        listener.set_nonblocking(true).expect("non-blocking listener");
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let router = app.router.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        (app, base)
    }
}

impl TestApp {
    pub fn builder(backend: Backend) -> TestAppBuilder {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            issuer: Some("http://127.0.0.1:8080".into()),
            ..Config::default()
        };
        TestAppBuilder { backend, config, sequencer: true }
    }

    pub async fn new(backend: Backend) -> TestApp {
        TestApp::builder(backend).build().await
    }

    pub fn client(&self) -> Client {
        Client::new(self.router.clone(), "203.0.113.10")
    }

    /// The app's injectable clock: `app.clock().advance(Duration)` moves what the
    /// requisition rules see as now (non-disclosure ends, attestation deadlines).
    pub fn clock(&self) -> &llave::clock::Clock {
        &self.state.clock
    }

    pub fn client_from(&self, address: &str) -> Client {
        Client::new(self.router.clone(), address)
    }

    pub fn outbox(&self) -> PathBuf {
        self.state.config.outbox_dir()
    }

    /// Waits (up to 20 s) until the mail worker has tried every queued job: mail leaves
    /// through a queue, after the request that queued it has answered.
    pub async fn settle_mail(&self) {
        for _ in 0..2000 {
            if self.state.store.outbox_unsettled().await.unwrap_or(0) == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the outbox did not settle in 20 s");
    }

    /// Messages in the outbox, oldest first (once the mail queue has settled).
    pub fn mails(&self) -> Vec<String> {
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(self.settle_mail()));
        let mut names: Vec<_> = std::fs::read_dir(self.outbox())
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }

    /// The newest link in the outbox starting with `prefix` (e.g. "/confirm?token=").
    pub fn last_link(&self, prefix: &str) -> String {
        self.mails()
            .iter()
            .rev()
            .find_map(|m| find_link(m, prefix))
            .unwrap_or_else(|| panic!("no {prefix} link in the outbox"))
    }

    /// Serves the app on a real port; returns its base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        format!("http://{addr}")
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        use sqlx::Row;
        sqlx::query(sql).fetch_one(self.state.store.pool()).await.unwrap().try_get::<i64, _>(0).unwrap()
    }

    /// Drops the PostgreSQL schema (the SQLite file goes with the temporary directory).
    pub async fn finish(self) {
        self.state.store.close().await;
        if let Some(schema) = &self.schema
            && let Ok(admin) = Store::connect(&postgres_base_url()).await
        {
            let _ =
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(admin.pool()).await;
            // The entities' stores: a schema each, named after the test's.
            let stores: Vec<String> =
                sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname::text, $1)")
                    .bind(format!("{schema}_e_"))
                    .fetch_all(admin.pool())
                    .await
                    .unwrap_or_default();
            for store in stores {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA \"{store}\" CASCADE")))
                    .execute(admin.pool())
                    .await;
            }
            admin.close().await;
        }
    }
}

/// The path-and-query of the first `http…{prefix}…` link in a text, as a local path.
pub fn find_link(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)?;
    let rest = &text[start..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// The value of `<input name="NAME" … value="…">` in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(unescape(&html[start..start + end]))
}

/// What a browser makes of an HTML-escaped attribute value.
pub fn unescape(text: &str) -> String {
    [
        ("&#38;", "&"),
        ("&amp;", "&"),
        ("&#34;", "\""),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&#60;", "<"),
        ("&lt;", "<"),
        ("&#62;", ">"),
        ("&gt;", ">"),
    ]
    .iter()
    .fold(text.to_string(), |acc, (from, to)| acc.replace(from, to))
}

pub struct Response {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
    pub bytes: Vec<u8>,
}

impl Response {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    }
}

/// An in-process browser: keeps cookies, sends forms, sets the client address.
pub struct Client {
    router: axum::Router,
    pub cookies: HashMap<String, String>,
    pub address: SocketAddr,
    pub accept_language: Option<String>,
    pub user_agent: String,
    /// Sent with every request (name, value).
    pub extra_headers: Vec<(String, String)>,
}

impl Client {
    pub fn new(router: axum::Router, ip: &str) -> Client {
        Client {
            router,
            cookies: HashMap::new(),
            address: SocketAddr::new(ip.parse().unwrap(), 50000),
            accept_language: None,
            user_agent: "llave-test".into(),
            extra_headers: Vec::new(),
        }
    }

    /// The same browser (its cookies and address) sending its next requests to another
    /// node's router, as a load balancer may.
    pub fn at(&mut self, router: &axum::Router) -> &mut Client {
        self.router = router.clone();
        self
    }

    pub async fn request(&mut self, method: &str, path: &str, body: Option<Vec<u8>>) -> Response {
        self.request_typed(method, path, body, "application/x-www-form-urlencoded").await
    }

    /// A `multipart/form-data` POST: text fields and files `(field, file name, bytes)`.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Response {
        let boundary = "llave-test-boundary-7f3a9c";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        for (name, file, bytes) in files {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        self.request_typed("POST", path, Some(body), &format!("multipart/form-data; boundary={boundary}")).await
    }

    pub async fn request_typed(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Response {
        let mut builder = Request::builder().method(method).uri(path).header(header::USER_AGENT, &self.user_agent);
        if !self.cookies.is_empty() {
            let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            builder = builder.header(header::COOKIE, cookie);
        }
        if let Some(lang) = &self.accept_language {
            builder = builder.header(header::ACCEPT_LANGUAGE, lang);
        }
        for (name, value) in &self.extra_headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = match body {
            Some(bytes) => builder.header(header::CONTENT_TYPE, content_type).body(Body::from(bytes)),
            None => builder.body(Body::empty()),
        };
        let mut request = request.unwrap();
        request.extensions_mut().insert(ConnectInfo(self.address));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 10 << 20).await.unwrap();
        let response =
            Response { status, headers, body: String::from_utf8_lossy(&bytes).into_owned(), bytes: bytes.to_vec() };
        for cookie in response.set_cookies() {
            let pair = cookie.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
        response
    }

    /// A form POST (or any method) with one more header, e.g. `Authorization`.
    pub async fn request_with_header(
        &mut self,
        method: &str,
        path: &str,
        (name, value): (&str, &str),
        body: Vec<u8>,
    ) -> Response {
        self.extra_headers.push((name.to_string(), value.to_string()));
        let response = self.request(method, path, Some(body)).await;
        self.extra_headers.pop();
        response
    }

    pub async fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, None).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let body = serde_urlencoded::to_string(fields).unwrap();
        self.request("POST", path, Some(body.into_bytes())).await
    }

    /// Opens `page`, takes its CSRF token and posts `fields` with it to `action`.
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let html = self.get(page).await.body;
        let token = input_value(&html, "csrf_token").unwrap_or_else(|| panic!("no CSRF token on {page}"));
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    pub async fn sign_in(&mut self, identifier: &str, password: &str) -> Response {
        self.submit("/signin", "/signin", &[("identifier", identifier), ("password", password), ("next", "/account")])
            .await
    }
}

/// A valid synthetic person with sign-up fields.
pub struct Person {
    pub curp: String,
    pub given_names: String,
    pub first_surname: String,
    pub second_surname: String,
    pub birth_date: String,
    pub sex: String,
    pub state: String,
    pub email: String,
    pub password: String,
}

impl Person {
    pub fn synthetic(seed: u64) -> Person {
        let mut synth = curp::Synth::new(seed);
        let person = synth.person();
        let curp = synth.curp(&person);
        Person {
            curp: curp.to_string(),
            given_names: person.given_names.clone(),
            first_surname: person.first_surname.clone(),
            second_surname: person.second_surname.clone().unwrap_or_default(),
            birth_date: person.birth_date.to_string(),
            sex: person.sex.as_char().to_string(),
            state: person.state.code().to_string(),
            email: format!("persona{seed}@example.mx"),
            password: format!("tranvía nopal {seed} azul"),
        }
    }

    pub fn signup_fields(&self) -> Vec<(&str, &str)> {
        vec![
            ("curp", self.curp.as_str()),
            ("given_names", self.given_names.as_str()),
            ("first_surname", self.first_surname.as_str()),
            ("second_surname", self.second_surname.as_str()),
            ("birth_date", self.birth_date.as_str()),
            ("email", self.email.as_str()),
            ("password", self.password.as_str()),
        ]
    }

    pub fn signup_input(&self) -> llave::accounts::signup::SignupInput {
        llave::accounts::signup::SignupInput {
            curp: self.curp.clone(),
            given_names: self.given_names.clone(),
            first_surname: self.first_surname.clone(),
            second_surname: self.second_surname.clone(),
            birth_date: self.birth_date.clone(),
            sex: String::new(),
            state: String::new(),
            email: self.email.clone(),
            password: self.password.clone(),
        }
    }
}

/// Signs a person up through the page and confirms the e-mail through the outbox link.
pub async fn sign_up_and_confirm(app: &TestApp, person: &Person) {
    let mut client = app.client();
    let response = client.submit("/signup", "/signup", &person.signup_fields()).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let link = app.last_link("/confirm?token=");
    let confirmed = client.get(&link).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
}

/// Runs the `llave` binary on the test app's data directory and database, with `stdin`.
pub fn llave(app: &TestApp, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_llave"))
        .arg("--data-dir")
        .arg(app.dir.path().join("data"))
        .arg("--database")
        .arg(&app.database_url)
        .args(args)
        .env_remove("LLAVE_DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("llave binary");
    if let Some(text) = stdin {
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// The one JSON object a successful `--json` command printed.
pub fn json_of(output: &std::process::Output) -> serde_json::Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

/// A TOTP app holding the key the enrolment page shows.
pub fn authenticator(page: &str) -> totp_rs::Totp {
    let start = page.find("id=\"manual-key\">").expect("the manual key on the page") + "id=\"manual-key\">".len();
    let key: String = page[start..].split('<').next().unwrap().chars().filter(|c| !c.is_whitespace()).collect();
    let secret = totp_rs::Secret::try_from_base32(&key).expect("a base32 key");
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_account_name("test")
        .build()
        .unwrap()
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Turns TOTP on for the signed-in person; the app and the recovery codes.
pub async fn enrol_totp(browser: &mut Client) -> (totp_rs::Totp, Vec<String>) {
    let begun = browser.submit("/account", "/account/totp/begin", &[]).await;
    assert_eq!(begun.location(), Some("/account/totp"));
    let page = browser.get("/account/totp").await;
    assert!(page.body.contains("<svg"), "a QR code drawn by the server");
    let app = authenticator(&page.body);
    let code = app.generate(unix_now()).to_string();
    let token = input_value(&page.body, "csrf_token").unwrap();
    let confirmed = browser.post("/account/totp/confirm", &[("csrf_token", &token), ("code", &code)]).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let codes: Vec<String> =
        confirmed.body.split("<code>").skip(1).map(|part| part.split('<').next().unwrap().to_string()).collect();
    assert_eq!(codes.len(), 10, "ten recovery codes shown once");
    (app, codes)
}

/// An empty database of its own, with no llave services on it (a SQLite file in a temporary
/// directory, or a PostgreSQL schema in database `test`); `url` lets a test open a second
/// `Store` on it, as a second node would.
pub struct FreshDatabase {
    pub store: Store,
    pub url: String,
    pub schema: Option<String>,
    _dir: tempfile::TempDir,
}

/// A new, empty schema of its own on the test PostgreSQL server, and the URL that makes it
/// the connection's search path: every test that needs a PostgreSQL database starts here.
async fn fresh_postgres_schema() -> (String, String) {
    let schema = format!("llave_t_{}", llave::crypto::random_id().to_lowercase().replace(['-', '_'], "x"));
    let admin = Store::connect(&postgres_base_url()).await.expect("PostgreSQL at 127.0.0.1:5432 (database test)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(admin.pool()).await.unwrap();
    admin.close().await;
    let sep = if postgres_base_url().contains('?') { '&' } else { '?' };
    (format!("{}{sep}options=-c%20search_path%3D{schema}", postgres_base_url()), schema)
}

impl FreshDatabase {
    pub async fn new(backend: Backend) -> FreshDatabase {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (url, schema) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("llave.db").display()), None),
            Backend::Postgres => {
                let (url, schema) = fresh_postgres_schema().await;
                (url, Some(schema))
            }
        };
        let store = Store::connect(&url).await.expect("connect");
        FreshDatabase { store, url, schema, _dir: dir }
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        use sqlx::Row;
        sqlx::query(sql).fetch_one(self.store.pool()).await.unwrap().try_get::<i64, _>(0).unwrap()
    }

    /// Closes the store and drops the PostgreSQL schema.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some(schema) = &self.schema
            && let Ok(admin) = Store::connect(&postgres_base_url()).await
        {
            let _ =
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(admin.pool()).await;
            admin.close().await;
        }
    }
}
