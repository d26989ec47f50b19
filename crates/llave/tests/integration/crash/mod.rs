//! The crash test of issue 15: "a crash loses no acknowledged write". The real `llave serve`
//! runs under a mixed load (sign-ins, authorization code + PKCE and refresh at /token, record
//! writes, look-ups and reads through the entity API, sign-outs that send back-channel
//! logouts, sign-ups and password resets that send mail) and is killed with SIGKILL at
//! moments chosen by a seeded generator (`CRASH_TEST_SEED` repeats a schedule,
//! `CRASH_TEST_KILLS` sets how many kills; 25 by default, per backend), then restarted on
//! the same database. At the end llave runs once more until the outbox has drained, and the
//! database must show (`checks`): every act whole, every answer a client received backed by
//! its change and its events, and every outbox message received by its receiver — at least
//! once, deduplicated by message id (duplicates are allowed and printed: delivery is at
//! least once, receivers deduplicate; see `crate::outbox` in llave).
//!
//! The randomness decides only when llave dies, never the verdict; every wait is bounded and
//! says what it waited for.

mod checks;
mod load;
mod receivers;
mod tokens;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llave::oidc::clients::NewClient;
use llave::store::Store;

use crate::both_backends;
use crate::support::{Backend, Person, TestApp};
use load::{Journey, Load, World};

both_backends! {
    async fn answered_acts_and_outbox_messages_survive_sigkill(backend: Backend) {
        crash_test(backend).await;
    }
}

/// splitmix64: a small seeded generator, so a failing schedule can be replayed.
struct Schedule(u64);

impl Schedule {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

/// `CRASH_TEST_SEED` when set (to repeat a schedule), else the time.
fn seed() -> u64 {
    env_number("CRASH_TEST_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    })
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// A free port below the ephemeral range (32768–60999 on Linux), so no outgoing connection
/// of another test takes it while llave is down between a kill and its restart.
fn fixed_port(schedule: &mut Schedule) -> u16 {
    for _ in 0..200 {
        let port = schedule.between(20_000, 32_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000 after 200 tries");
}

/// One `llave serve` process; killed (SIGKILL) when dropped, so a failing test leaves none.
struct Server {
    child: Child,
}

struct Install {
    database_url: String,
    data_dir: PathBuf,
    log: PathBuf,
    port: u16,
    smtp_url: String,
}

impl Install {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Starts `llave serve` on the same database, data directory and port, and waits (up to
    /// 60 s) until /readyz answers 200.
    async fn start(&self) -> Server {
        let log = File::options().create(true).append(true).open(&self.log).expect("server log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_llave"));
        // llave refuses LLAVE_* variables it does not know (the tests' own, such as
        // LLAVE_TEST_POSTGRES_URL): it gets only the ones set here.
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("LLAVE_")) {
            command.env_remove(name);
        }
        let child = command
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--database")
            .arg(&self.database_url)
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port), "--issuer", &self.base()])
            .env("LLAVE_MAIL__SMTP_URL", &self.smtp_url)
            // Access tokens outlive the test, so the janitor each start runs keeps them all.
            .env("LLAVE_OIDC__ACCESS_TOKEN_SECONDS", "3600")
            // A message claimed by a killed process is taken again after 20 s, not 120.
            .env("LLAVE_OUTBOX__LEASE_SECONDS", "20")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start llave serve");
        let mut server = Server { child };
        let http = reqwest12::Client::builder().timeout(Duration::from_secs(5)).build().expect("HTTP client");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("llave serve exited ({status}) before it was ready; its log:\n{}", self.log_tail());
            }
            let ready = http.get(format!("{}/readyz", self.base())).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(Instant::now() < deadline, "llave serve not ready within 60 s; its log:\n{}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Server {
    /// SIGKILL (what `Child::kill` sends on Unix): no shutdown, no flush, no goodbye.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn crash_test(backend: Backend) {
    let seed = seed();
    let kills = env_number("CRASH_TEST_KILLS").unwrap_or(25);
    println!("crash test ({backend:?}): seed {seed} (CRASH_TEST_SEED={seed} repeats the schedule), {kills} kills");
    let mut schedule = Schedule(seed);
    let (smtp_url, mail) = receivers::smtp_sink().await;
    let (backchannel, logouts) = receivers::backchannel_listener().await;
    let port = fixed_port(&mut schedule);
    let base = format!("http://127.0.0.1:{port}");

    let app = TestApp::builder(backend)
        .config(|c| {
            c.issuer = Some(base.clone());
            c.mail.smtp_url = Some(smtp_url.clone());
        })
        .build()
        .await;
    let world = Arc::new(setup(&app, &base, &backchannel).await);
    // The in-process worker delivers the set-up's mail, then stops with its pool: from here
    // on only the killed and restarted processes deliver.
    app.settle_mail().await;
    app.state.store.close().await;
    let install = Install {
        database_url: app.database_url.clone(),
        data_dir: app.dir.path().join("data"),
        log: app.dir.path().join("serve.log"),
        port,
        smtp_url,
    };

    let load = Arc::new(Load {
        world,
        ledger: Arc::new(Mutex::new(load::Ledger::default())),
        stop: Arc::new(AtomicBool::new(false)),
        next_seed: Arc::new(AtomicU64::new(850_000)),
    });
    let journeys = [Journey::Citizen, Journey::Citizen, Journey::Citizen, Journey::Mail, Journey::Records];
    let tasks: Vec<_> = journeys.iter().enumerate().map(|(n, j)| tokio::spawn(load.clone().run(*j, n))).collect();

    let started = Instant::now();
    for kill in 1..=kills {
        let server = install.start().await;
        let wait = schedule.between(100, 1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill();
        println!("crash test: kill {kill}/{kills} after {wait} ms up");
    }
    load.stop.store(true, Ordering::SeqCst);
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("a load task did not stop within 120 s")
            .expect("a load task panicked");
    }
    println!("crash test: {kills} kills in {:?}", started.elapsed());

    // Once more, until the outbox has drained: a message claimed by a killed process waits
    // for its lease (20 s here) to end.
    let server = install.start().await;
    let store = Store::connect(&install.database_url).await.expect("connect to check");
    let drained = Instant::now();
    loop {
        let pending = store.outbox_pending().await.expect("count the outbox");
        if pending == 0 {
            break;
        }
        assert!(
            drained.elapsed() < Duration::from_secs(300),
            "{pending} outbox messages still undelivered after 300 s; llave's log:\n{}",
            install.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("crash test: outbox drained in {:?}", drained.elapsed());
    server.kill();

    let ledger = std::mem::take(&mut *load.ledger.lock().expect("ledger"));
    println!(
        "crash test: answers received: {} sign-ins, {} sign-outs, {} token answers, {} sign-ups, {} resets asked, \
         {} records written, {} reads",
        ledger.sign_ins.len(),
        ledger.sign_outs.len(),
        ledger.tokens.len(),
        ledger.sign_ups.len(),
        ledger.resets_asked,
        ledger.records_written.len(),
        ledger.reads.len(),
    );
    // Refusals are not the verdict (a throttled reset is llave doing its job), but they are
    // shown by step and status, with the first answer's start.
    let mut refused: std::collections::BTreeMap<(&str, u16), (usize, &str)> = Default::default();
    for (step, status, body) in &ledger.unexpected {
        refused.entry((step.as_str(), *status)).or_insert((0, body.as_str())).0 += 1;
    }
    for ((step, status), (times, body)) in refused {
        let start: String = body.chars().take(160).collect();
        println!("crash test: {times} × {step} answered {status}: {start:?}");
    }
    // The load did its work: a test where nothing was answered would prove nothing.
    for (what, answered) in [
        ("sign-ins", ledger.sign_ins.len()),
        ("sign-outs", ledger.sign_outs.len()),
        ("token answers", ledger.tokens.len()),
        ("sign-ups", ledger.sign_ups.len()),
        ("record reads", ledger.reads.len()),
    ] {
        assert!(answered > 0, "no {what} were answered under load");
    }
    checks::print_signing_keys(&store).await;
    checks::acts_are_whole(&store).await;
    // Every receiver is done: the outbox has drained and llave is gone.
    let mail = std::mem::take(&mut *mail.lock().expect("mail ledger"));
    let logouts = std::mem::take(&mut *logouts.lock().expect("logout ledger"));
    checks::outbox_reached_receivers(&store, &mail, &logouts, &ledger).await;
    checks::answers_are_backed(&store, &ledger).await;
    store.close().await;
    app.finish().await;
}

/// Three entities: `alcaldia` (B) holds proofs of residence, `semovi` (A) may reuse them for
/// `permiso` under an approved legal basis, `portal` signs people in and listens for
/// back-channel logouts. Six people signed up, and a legal reviewer.
async fn setup(app: &TestApp, base: &str, backchannel: &str) -> World {
    let store = &app.state.store;
    for slug in ["alcaldia", "semovi", "portal"] {
        llave::admin::entity::add_entity(&app.state, slug, &format!("Entidad {slug}")).await.expect("add entity");
    }
    let client = |entity: &str, claims: Vec<String>, logout: Option<String>| NewClient {
        entity: entity.into(),
        name: format!("Cliente de {entity}"),
        redirect_uris: vec![load::REDIRECT.into()],
        allowed_claims: claims,
        backchannel_logout_uri: logout,
        ..Default::default()
    };
    let mut credentials = Vec::new();
    for new in [
        client("alcaldia", vec!["curp".into()], None),
        client("semovi", vec!["curp".into()], None),
        client("portal", vec![], Some(backchannel.to_string())),
    ] {
        let registered = llave::admin::entity::add_client(store, &new).await.expect("add client");
        credentials.push((registered.client_id, registered.client_secret.expect("a confidential client")));
    }
    let catalog = serde_json::json!({"procedures": [
        crate::records::procedure("constancia", "alcaldia", &["official_id"], false, Some("proof_of_residence")),
        crate::records::procedure("permiso", "semovi", &["proof_of_residence"], true, None),
    ]});
    llave::catalog::import(store, &catalog.to_string(), "test", llave::crypto::now()).await.expect("catalog");

    let mut people = Vec::new();
    for seed in 810_001..=810_006 {
        let person = Person::synthetic(seed);
        sign_up(app, &person).await;
        people.push((person.curp, person.email, person.password));
    }
    approve_reuse(app, "permiso").await;
    let mut credentials = credentials.into_iter();
    let mut next = || credentials.next().expect("three clients");
    let (holder, reader, portal) = (next(), next(), next());
    World { base: base.to_string(), portal, holder, reader, people }
}

async fn sign_up(app: &TestApp, person: &Person) {
    let response = app.client().submit("/signup", "/signup", &person.signup_fields()).await;
    assert_eq!(response.status, axum::http::StatusCode::OK, "{}", response.body);
}

/// A legal reviewer approves the reuse basis of `slug` (as `crate::legal_basis::approve_reuse`,
/// without confirming the reviewer's e-mail: mail goes to the SMTP sink here).
async fn approve_reuse(app: &TestApp, slug: &str) {
    let reviewer = Person::synthetic(810_100);
    sign_up(app, &reviewer).await;
    let store = &app.state.store;
    let account = store.account_by_curp(&reviewer.curp).await.expect("reviewer").expect("reviewer account").id;
    llave::admin::staff::grant(store, account, llave::catalog::review::ROLE, "*", "test")
        .await
        .expect("grant the role");
    let procedures = store.all_procedures().await.expect("procedures");
    let procedure = procedures.iter().find(|p| p.slug == slug).expect("the procedure");
    let basis = procedure.legal_basis.iter().find(|b| b.allows_reuse).expect("a reuse basis");
    let review = llave::catalog::review::Review {
        procedure: slug.into(),
        fingerprint: llave::catalog::review::fingerprint(procedure, basis),
        reviewer_account_id: account.0,
        decision: llave::catalog::review::Decision::Approved,
        at: llave::crypto::now(),
    };
    let citation = llave::catalog::review::citation(&basis.law, basis.article.as_deref());
    // One act, IMMEDIATE on SQLite: it waits for the outbox worker's claims, never fails on them.
    assert!(store.decide_legal_basis(slug, &review, &citation).await.expect("approve the basis"), "{slug} exists");
}
