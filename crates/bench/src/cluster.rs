//! `llave-bench cluster-load`: the closed-loop load of `scripts/cluster-test` (issue 18,
//! item 5), run through the load balancer in front of several llave nodes while the script
//! injects faults. Each worker, as one person, repeats a cycle: a password sign-in (a
//! session), a code flow with PKCE (a consent the first time, then an authorization code
//! traded for tokens), two token refreshes, and an entity's back end writing a record, a
//! new version of it and reading it back. A failed request ends the cycle; the next one
//! starts again from the sign-in.
//!
//! Every write llave acknowledged is remembered: sessions (their cookie's hash), refresh
//! tokens (their hash), access tokens (their `jti`), consents, record versions. When the
//! script creates the `--stop` file the load ends, and each is looked up in the database
//! (through the balancer, on whichever server is primary by then): an acknowledged write
//! that is not there is a **lost** write, and any makes the command fail.
//!
//! The script appends a line `UNIX_MS NAME` to `--faults` as it starts each fault. The
//! report gives, per fault (from its start to the next one's): requests, failed requests,
//! seconds from the fault to the last failure (how long until the error rate was back to
//! zero) and the acknowledged writes of that window that were lost. `--progress` holds
//! `OK FAILED` (requests so far), for the script to wait on load without fixed sleeps.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

use crate::server::{Llave, User};

#[derive(Parser)]
pub struct Args {
    /// The llave binary (for `entity add`, `client add`, `citizen add`).
    #[arg(long, default_value = "target/debug/llave")]
    llave: PathBuf,
    /// A data directory for those commands (the KEK and audit key come from LLAVE_* variables).
    #[arg(long)]
    data_dir: PathBuf,
    /// The database, through the balancer (postgres://…).
    #[arg(long)]
    database: String,
    /// The entity's records on a PostgreSQL server of their own (`llave entity add --store`);
    /// the record versions are checked there.
    #[arg(long)]
    spoke_store: Option<String>,
    /// The llave nodes' balancer, e.g. http://127.0.0.1:25510.
    #[arg(long)]
    base: String,
    /// Workers (people), each one request at a time.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Fault markers appended by the script: `UNIX_MS NAME` per line.
    #[arg(long)]
    faults: PathBuf,
    /// Written every 200 ms: `OK FAILED`.
    #[arg(long)]
    progress: PathBuf,
    /// The load ends when this file exists.
    #[arg(long)]
    stop: PathBuf,
    /// The load ends after this long even without --stop.
    #[arg(long, default_value_t = 600)]
    max_seconds: u64,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

const ENTITY: &str = "cluster-test";
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
const SCOPE: &str = "openid email offline_access";

/// One request's outcome, at the time it ended.
struct Outcome {
    at_ms: u64,
    ok: bool,
}

/// A write llave acknowledged, and when.
#[derive(Debug, Clone)]
enum Ack {
    Session { token_hash: String },
    RefreshToken { token_hash: String },
    AccessToken { jti: String },
    Consent { curp: String, client_id: String },
    RecordVersion { record_id: String, version: i64 },
}

impl Ack {
    fn kind(&self) -> &'static str {
        match self {
            Ack::Session { .. } => "sessions",
            Ack::RefreshToken { .. } | Ack::AccessToken { .. } => "tokens",
            Ack::Consent { .. } => "consents",
            Ack::RecordVersion { .. } => "record versions",
        }
    }
}

#[derive(Default)]
struct Journal {
    outcomes: Mutex<Vec<Outcome>>,
    acks: Mutex<Vec<(u64, Ack)>>,
    ok: AtomicU64,
    failed: AtomicU64,
    first_failures: Mutex<Vec<String>>,
}

impl Journal {
    fn request(&self, ok: bool, why: impl FnOnce() -> String) {
        let at_ms = now_ms();
        if let Ok(mut outcomes) = self.outcomes.lock() {
            outcomes.push(Outcome { at_ms, ok });
        }
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = self.first_failures.lock()
                && first.len() < 12
            {
                first.push(why());
            }
        }
    }

    /// An answer that came (and counted as a request) but not in the form the flow expects.
    fn unexpected(&self, why: String) {
        self.request(false, || why);
    }

    fn ack(&self, ack: Ack) {
        if let Ok(mut acks) = self.acks.lock() {
            acks.push((now_ms(), ack));
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub async fn main(args: Args) -> ExitCode {
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(why) => {
            eprintln!("llave-bench cluster-load: {why}");
            ExitCode::FAILURE
        }
    }
}

struct Setup {
    client_id: String,
    client_secret: String,
    users: Vec<User>,
}

async fn setup(args: &Args) -> Result<Setup, String> {
    let llave =
        Llave { binary: args.llave.clone(), data_dir: args.data_dir.clone(), database: Some(args.database.clone()) };
    let mut add = vec!["entity", "add", "--slug", ENTITY, "--name", "Prueba de clúster"];
    if let Some(url) = &args.spoke_store {
        add.extend(["--store", url.as_str()]);
    }
    llave.cli_json(&add).await?;
    let client = llave
        .cli_json(&["client", "add", "--entity", ENTITY, "--name", "Portal de prueba", "--redirect-uri", REDIRECT_URI])
        .await?;
    let text = |key: &str| client[key].as_str().map(str::to_string).ok_or(format!("client add printed no {key}"));
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let users = llave.add_users(args.workers, seed).await?;
    Ok(Setup { client_id: text("client_id")?, client_secret: text("client_secret")?, users })
}

async fn run(args: Args) -> Result<bool, String> {
    let setup = setup(&args).await?;
    let journal = Arc::new(Journal::default());
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let started_ms = now_ms();
    let mut workers = Vec::new();
    for user in setup.users {
        let worker = Worker {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(15))
                .build()
                .map_err(|e| format!("cannot build an HTTP client: {e}"))?,
            base: args.base.trim_end_matches('/').to_string(),
            client_id: setup.client_id.clone(),
            client_secret: setup.client_secret.clone(),
            user,
            cookies: BTreeMap::new(),
            service_token: None,
            journal: journal.clone(),
            consented: false,
            sub: None,
        };
        let stop = args.stop.clone();
        workers.push(tokio::spawn(async move { worker.run(&stop, deadline).await }));
    }
    let progress = {
        let journal = journal.clone();
        let path = args.progress.clone();
        tokio::spawn(async move {
            loop {
                let line =
                    format!("{} {}\n", journal.ok.load(Ordering::Relaxed), journal.failed.load(Ordering::Relaxed));
                let partial = path.with_extension("partial");
                if std::fs::write(&partial, line).is_ok() {
                    let _ = std::fs::rename(&partial, &path);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    for worker in workers {
        let _ = worker.await;
    }
    progress.abort();
    let ended_ms = now_ms();

    let faults = read_faults(&args.faults, started_ms, ended_ms);
    let acks: Vec<(u64, Ack)> = journal.acks.lock().map(|a| a.clone()).unwrap_or_default();
    let lost = check(&args.database, args.spoke_store.as_deref(), &acks).await?;
    let outcomes = std::mem::take(&mut *journal.outcomes.lock().map_err(|_| "journal poisoned")?);
    let report = report(&faults, &outcomes, &acks, &lost, ended_ms);
    print_report(&report, &journal);
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_string()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(lost.is_empty() && !acks.is_empty())
}

/// The fault windows: a "steady" one from the start, then one per marker, each until the next.
fn read_faults(path: &std::path::Path, started_ms: u64, ended_ms: u64) -> Vec<(String, u64, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut marks: Vec<(u64, String)> = vec![(started_ms, "steady load (no fault)".to_string())];
    for line in text.lines() {
        if let Some((at, name)) = line.split_once(' ')
            && let Ok(at) = at.trim().parse::<u64>()
        {
            marks.push((at, name.trim().to_string()));
        }
    }
    marks.sort_by_key(|(at, _)| *at);
    let ends: Vec<u64> = marks.iter().skip(1).map(|(at, _)| *at).chain([ended_ms]).collect();
    marks.into_iter().zip(ends).map(|((start, name), end)| (name, start, end)).collect()
}

/// Looks every acknowledged write up in the database; returns the missing ones.
async fn check(database: &str, spoke: Option<&str>, acks: &[(u64, Ack)]) -> Result<Vec<(u64, Ack)>, String> {
    sqlx::any::install_default_drivers();
    let pool = connect(database).await?;
    let spoke_pool = match spoke {
        Some(url) => Some(connect(url).await?),
        None => None,
    };
    let records = format!("\"llave_entity_{}\".records", ENTITY.replace('-', "_"));
    let mut lost = Vec::new();
    for (at, ack) in acks {
        let query = match ack {
            Ack::Session { token_hash } => {
                sqlx::query("SELECT 1 FROM sessions WHERE token_hash = $1").bind(token_hash.clone())
            }
            Ack::RefreshToken { token_hash } => {
                sqlx::query("SELECT 1 FROM refresh_tokens WHERE token_hash = $1").bind(token_hash.clone())
            }
            Ack::AccessToken { jti } => sqlx::query("SELECT 1 FROM access_tokens WHERE jti = $1").bind(jti.clone()),
            Ack::Consent { curp, client_id } => sqlx::query(
                "SELECT 1 FROM consents c JOIN accounts a ON a.id = c.account_id WHERE a.curp = $1 AND c.client_id = $2",
            )
            .bind(curp.clone())
            .bind(client_id.clone()),
            Ack::RecordVersion { record_id, version } => {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT 1 FROM {records} WHERE record_id = $1 AND version = $2")))
                    .bind(record_id.clone())
                    .bind(*version)
            }
        };
        let on = match (ack, &spoke_pool) {
            (Ack::RecordVersion { .. }, Some(spoke)) => spoke,
            _ => &pool,
        };
        let found = query.fetch_optional(on).await.map_err(|e| format!("looking up {ack:?}: {e}"))?;
        if found.is_none() {
            lost.push((*at, ack.clone()));
        }
    }
    pool.close().await;
    if let Some(spoke) = spoke_pool {
        spoke.close().await;
    }
    Ok(lost)
}

/// A pool on `url`, tried for a minute (the balancer may still be moving to a new primary).
async fn connect(url: &str) -> Result<sqlx::AnyPool, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match sqlx::AnyPool::connect(url).await {
            Ok(pool) => match sqlx::query("SELECT 1").execute(&pool).await {
                Ok(_) => return Ok(pool),
                Err(e) if Instant::now() > deadline => return Err(format!("the database does not answer: {e}")),
                Err(_) => {}
            },
            Err(e) if Instant::now() > deadline => return Err(format!("cannot reach the database: {e}")),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn report(
    faults: &[(String, u64, u64)],
    outcomes: &[Outcome],
    acks: &[(u64, Ack)],
    lost: &[(u64, Ack)],
    ended_ms: u64,
) -> Value {
    let within = |at: u64, start: u64, end: u64| at >= start && (at < end || (end == ended_ms && at <= end));
    let rows: Vec<Value> = faults
        .iter()
        .map(|(name, start, end)| {
            let window: Vec<&Outcome> = outcomes.iter().filter(|o| within(o.at_ms, *start, *end)).collect();
            let failed: Vec<u64> = window.iter().filter(|o| !o.ok).map(|o| o.at_ms).collect();
            let back_to_zero = failed.iter().max().map(|last| (*last - start) as f64 / 1000.0).unwrap_or(0.0);
            json!({
                "fault": name,
                "seconds": (*end - *start) as f64 / 1000.0,
                "requests": window.len(),
                "failed": failed.len(),
                "seconds_until_no_errors": (back_to_zero * 10.0).round() / 10.0,
                "acknowledged_writes": acks.iter().filter(|(at, _)| within(*at, *start, *end)).count(),
                "acknowledged_writes_lost": lost.iter().filter(|(at, _)| within(*at, *start, *end)).count(),
            })
        })
        .collect();
    let mut by_kind: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (_, ack) in acks {
        by_kind.entry(ack.kind()).or_default().0 += 1;
    }
    for (_, ack) in lost {
        by_kind.entry(ack.kind()).or_default().1 += 1;
    }
    json!({
        "faults": rows,
        "acknowledged": by_kind.iter().map(|(k, (n, l))| json!({"kind": k, "checked": n, "lost": l})).collect::<Vec<_>>(),
        "acknowledged_writes": acks.len(),
        "acknowledged_writes_lost": lost.len(),
        "lost": lost.iter().take(20).map(|(_, a)| format!("{a:?}")).collect::<Vec<_>>(),
    })
}

fn print_report(report: &Value, journal: &Journal) {
    println!(
        "\n{:<54} {:>8} {:>8} {:>8} {:>18} {:>10} {:>10}",
        "fault", "seconds", "requests", "failed", "s until no errors", "acked", "acked lost"
    );
    for row in report["faults"].as_array().into_iter().flatten() {
        println!(
            "{:<54} {:>8.1} {:>8} {:>8} {:>18.1} {:>10} {:>10}",
            row["fault"].as_str().unwrap_or_default(),
            row["seconds"].as_f64().unwrap_or_default(),
            row["requests"].as_u64().unwrap_or_default(),
            row["failed"].as_u64().unwrap_or_default(),
            row["seconds_until_no_errors"].as_f64().unwrap_or_default(),
            row["acknowledged_writes"].as_u64().unwrap_or_default(),
            row["acknowledged_writes_lost"].as_u64().unwrap_or_default(),
        );
    }
    for kind in report["acknowledged"].as_array().into_iter().flatten() {
        println!(
            "acknowledged {:<16} checked in the database: {:>6}, lost: {}",
            kind["kind"].as_str().unwrap_or_default(),
            kind["checked"].as_u64().unwrap_or_default(),
            kind["lost"].as_u64().unwrap_or_default()
        );
    }
    println!("acknowledged writes lost: {} of {}", report["acknowledged_writes_lost"], report["acknowledged_writes"]);
    for lost in report["lost"].as_array().into_iter().flatten() {
        println!("  lost: {}", lost.as_str().unwrap_or_default());
    }
    if let Ok(first) = journal.first_failures.lock()
        && !first.is_empty()
    {
        println!("first failed requests:");
        for why in first.iter() {
            println!("  {why}");
        }
    }
}

/// One person's browser and their entity's back end.
struct Worker {
    http: reqwest::Client,
    base: String,
    client_id: String,
    client_secret: String,
    user: User,
    cookies: BTreeMap<String, String>,
    service_token: Option<String>,
    journal: Arc<Journal>,
    consented: bool,
    /// The person's pairwise `sub` for the entity, from an ID token (the records API's name for them).
    sub: Option<String>,
}

/// What a browser sees of an answer: status, `Location`, body.
type Page = (StatusCode, Option<String>, String);

impl Worker {
    async fn run(mut self, stop: &std::path::Path, deadline: Instant) {
        let mut n = 0u64;
        while !stop.exists() && Instant::now() < deadline {
            n += 1;
            if self.cycle(n).await.is_err() {
                // A failed request: start over (fresh cookies), after a moment, as a person would.
                self.cookies.clear();
                self.service_token = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    async fn cycle(&mut self, n: u64) -> Result<(), ()> {
        self.cookies.clear();
        let (_, _, page) = self.get("/signin", &[StatusCode::OK]).await?;
        let csrf = self.expect(crate::codeflow::input_value(&page, "csrf_token"), "no csrf_token on /signin")?;
        let (user, password) = (self.user.curp.clone(), self.user.password.clone());
        let form = [("csrf_token", csrf.as_str()), ("identifier", &user), ("password", &password), ("next", "/")];
        self.post_form("/signin", &form, &[StatusCode::SEE_OTHER]).await?;
        let session = self.expect(self.cookies.get("llave_session").cloned(), "POST /signin set no session cookie")?;
        self.journal.ack(Ack::Session { token_hash: llave::crypto::token_hash(&session) });

        let mut refresh = self.code_flow().await?;
        for _ in 0..2 {
            refresh = self.refresh(&refresh).await?;
        }
        self.records(n).await
    }

    async fn code_flow(&mut self) -> Result<String, ()> {
        let verifier = llave::crypto::random_token();
        let challenge = llave::crypto::token_hash(&verifier);
        let state = llave::crypto::random_id();
        let authorize = Url::parse_with_params(
            &format!("{}/authorize", self.base),
            [
                ("response_type", "code"),
                ("client_id", self.client_id.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("scope", SCOPE),
                ("state", &state),
                ("nonce", &llave::crypto::random_id()),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .map_err(|_| ())?;
        let path = format!("/authorize?{}", authorize.query().unwrap_or_default());
        let (status, location, page) =
            self.get(&path, &[StatusCode::OK, StatusCode::SEE_OTHER, StatusCode::FOUND]).await?;
        let location = if status == StatusCode::OK {
            let request =
                self.expect(crate::codeflow::input_value(&page, "request"), "no request on the consent page")?;
            let csrf =
                self.expect(crate::codeflow::input_value(&page, "csrf_token"), "no csrf_token on the consent page")?;
            let form = [("csrf_token", csrf.as_str()), ("request", request.as_str()), ("decision", "allow")];
            let (_, location, _) =
                self.post_form("/authorize/consent", &form, &[StatusCode::SEE_OTHER, StatusCode::FOUND]).await?;
            if !self.consented {
                self.consented = true;
                self.journal.ack(Ack::Consent { curp: self.user.curp.clone(), client_id: self.client_id.clone() });
            }
            self.expect(location, "POST /authorize/consent redirected nowhere")?
        } else {
            self.expect(location, "GET /authorize redirected nowhere")?
        };
        let callback = self.expect(Url::parse(&location).ok(), &format!("a redirect to {location}"))?;
        let params: BTreeMap<String, String> = callback.query_pairs().into_owned().collect();
        let code = self.expect(params.get("code").cloned(), &format!("no code in the redirect to {location}"))?;
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ])
        .await
    }

    async fn refresh(&mut self, token: &str) -> Result<String, ()> {
        self.token(&[("grant_type", "refresh_token"), ("refresh_token", token)]).await
    }

    /// A user token request; acknowledges its refresh and access tokens.
    async fn token(&mut self, form: &[(&str, &str)]) -> Result<String, ()> {
        let request = self
            .http
            .post(format!("{}/token", self.base))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(form);
        let answer = self.json(request, "POST /token", StatusCode::OK).await?;
        let refresh = self.expect(answer["refresh_token"].as_str(), "POST /token gave no refresh token")?.to_string();
        self.journal.ack(Ack::RefreshToken { token_hash: llave::crypto::token_hash(&refresh) });
        if let Some(sub) = answer["id_token"].as_str().and_then(|t| claim(t, "sub")) {
            self.sub = Some(sub);
        }
        if let Some(jti) = answer["access_token"].as_str().and_then(|t| claim(t, "jti")) {
            self.journal.ack(Ack::AccessToken { jti });
        }
        Ok(refresh)
    }

    /// The entity's back end: a record, a second version, a read.
    async fn records(&mut self, n: u64) -> Result<(), ()> {
        let token = match &self.service_token {
            Some(token) => token.clone(),
            None => {
                let request = self
                    .http
                    .post(format!("{}/token", self.base))
                    .basic_auth(&self.client_id, Some(&self.client_secret))
                    .form(&[("grant_type", "client_credentials"), ("scope", "records:read records:write")]);
                let answer = self.json(request, "POST /token (client_credentials)", StatusCode::OK).await?;
                let token =
                    self.expect(answer["access_token"].as_str(), "client_credentials gave no token")?.to_string();
                self.service_token = Some(token.clone());
                token
            }
        };
        let sub = self.expect(self.sub.clone(), "no sub from an ID token")?;
        let body = json!({ "sub": sub, "kind": "other", "attributes": { "cycle": n } });
        let request = self
            .http
            .post(format!("{}/api/records", self.base))
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let created = self.json(request, "POST /api/records", StatusCode::CREATED).await?;
        let id = self.expect(created["record_id"].as_str(), "POST /api/records gave no record_id")?.to_string();
        self.journal.ack(Ack::RecordVersion {
            record_id: id.clone(),
            version: self.expect(created["version"].as_i64(), "no version")?,
        });
        let body = json!({ "kind": "other", "attributes": { "cycle": n, "updated": true } });
        let request = self
            .http
            .put(format!("{}/api/records/{id}", self.base))
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let updated = self.json(request, "PUT /api/records/{id}", StatusCode::OK).await?;
        self.journal.ack(Ack::RecordVersion {
            record_id: id.clone(),
            version: self.expect(updated["version"].as_i64(), "no version")?,
        });
        let request = self.http.get(format!("{}/api/records/{id}", self.base)).bearer_auth(&token);
        let read = self.json(request, "GET /api/records/{id}", StatusCode::OK).await?;
        if read["attributes"]["updated"] != json!(true) {
            self.journal.request(false, || format!("GET /api/records/{id} read an old version: {read}"));
            return Err(());
        }
        Ok(())
    }

    async fn json(&self, request: reqwest::RequestBuilder, what: &str, expected: StatusCode) -> Result<Value, ()> {
        let result = async {
            let response = request.send().await.map_err(|e| format!("{what}: {e}"))?;
            let status = response.status();
            let body = response.text().await.map_err(|e| format!("{what}: {e}"))?;
            if status != expected {
                return Err(format!("{what} answered {status}: {}", body.chars().take(200).collect::<String>()));
            }
            serde_json::from_str::<Value>(&body).map_err(|e| format!("{what}: {e}"))
        }
        .await;
        self.journal.request(result.is_ok(), || result.as_ref().err().cloned().unwrap_or_default());
        result.map_err(|_| ())
    }

    async fn get(&mut self, path: &str, expected: &[StatusCode]) -> Result<Page, ()> {
        let request = self.http.get(format!("{}{path}", self.base)).header(COOKIE, self.cookie_header());
        self.page(request, &format!("GET {}", path.split('?').next().unwrap_or(path)), expected).await
    }

    async fn post_form(&mut self, path: &str, form: &[(&str, &str)], expected: &[StatusCode]) -> Result<Page, ()> {
        let request = self.http.post(format!("{}{path}", self.base)).header(COOKIE, self.cookie_header()).form(form);
        self.page(request, &format!("POST {path}"), expected).await
    }

    async fn page(
        &mut self,
        request: reqwest::RequestBuilder,
        what: &str,
        expected: &[StatusCode],
    ) -> Result<Page, ()> {
        let result = async {
            let response = request.send().await.map_err(|e| format!("{what}: {e}"))?;
            for value in response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
                if let Some((name, value)) = value.split(';').next().and_then(|pair| pair.split_once('=')) {
                    if value.is_empty() {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_string(), value.to_string());
                    }
                }
            }
            let status = response.status();
            let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
            let body = response.text().await.map_err(|e| format!("{what}: {e}"))?;
            if !expected.contains(&status) {
                return Err(format!("{what} answered {status}: {}", body.chars().take(200).collect::<String>()));
            }
            Ok((status, location, body))
        }
        .await;
        self.journal.request(result.is_ok(), || result.as_ref().err().cloned().unwrap_or_default());
        result.map_err(|_| ())
    }

    fn expect<T>(&self, value: Option<T>, why: &str) -> Result<T, ()> {
        value.ok_or_else(|| self.journal.unexpected(why.to_string()))
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// A claim of a JWT (its signature is not checked here: the claim is only read).
fn claim(token: &str, name: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims[name].as_str().map(str::to_string)
}
