//! `llave-bench audit`: what the tamper-evident log costs and how fast it is checked.
//!
//! In process, on each `--database`: acts of one event per second without the log and
//! with the sequencer running beside them (the cost target: under 10 %), the time to
//! sequence a backlog and sign its checkpoint, a person's proof (time and size), and
//! `llave audit verify` over HTTP (entries per second). Then, with no database, the
//! verifier's own work at `--entries` (10 M by default): hashing every entry into the
//! tree's levels and the root — what `verify` does per entry once the bytes arrived.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use llave::store::{AccountId, Event, EventKind};

#[derive(clap::Args)]
pub struct Args {
    /// sqlite (a fresh file), sqlite://PATH or postgres://… (a fresh schema); repeat for several.
    #[arg(long = "database", default_values_t = [String::from("sqlite")])]
    databases: Vec<String>,
    /// Acts per measurement (one event each).
    #[arg(long, default_value_t = 4000)]
    acts: usize,
    /// Acts in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Entries of the in-memory verification (0: skip it).
    #[arg(long, default_value_t = 10_000_000)]
    entries: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn main(args: Args) -> ExitCode {
    let per_database = crate::database::each(&args.databases, "audit", |choice, dir, url| {
        let args = &args;
        async move {
            let (text, mut figures) = measure(args, &dir, url).await?;
            if !args.json {
                println!("{} {}", choice.backend(), text);
            }
            figures["backend"] = serde_json::json!(choice.backend());
            Ok(figures)
        }
    })
    .await;
    let Some(backends) = per_database else {
        return ExitCode::FAILURE;
    };
    let memory = (args.entries > 0).then(|| in_memory(args.entries, !args.json));
    if args.json {
        let report = serde_json::json!({
            "acts": args.acts, "concurrency": args.concurrency, "backends": backends, "in_memory": memory,
        });
        println!("{report}");
    }
    ExitCode::SUCCESS
}

async fn acts(app: &llave::AppState, n: usize, concurrency: usize) -> Result<f64, String> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let store = app.store.clone();
        let count = n / concurrency;
        tasks.spawn(async move {
            for i in 0..count {
                let event = Event::security(
                    EventKind::SignIn,
                    Some(AccountId((worker * 1000 + i % 1000) as i64)),
                    "",
                    "",
                    "bench",
                );
                store.record("sign_in", event).await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    Ok((n / concurrency * concurrency) as f64 / started.elapsed().as_secs_f64())
}

async fn measure(
    args: &Args,
    dir: &std::path::Path,
    url: Option<String>,
) -> Result<(String, serde_json::Value), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr().map_err(|e| e.to_string())?.port());
    let config = llave::Config {
        data_dir: dir.to_path_buf(),
        database_url: url,
        issuer: Some(base.clone()),
        ..llave::Config::default()
    };
    // `start` runs no sequencer: the first measurement is without the log.
    let app = llave::start(config).await.map_err(|e| e.to_string())?;
    let warm = acts(&app, args.concurrency * 50, args.concurrency).await?;
    let _ = warm;
    let without = acts(&app, args.acts, args.concurrency).await?;
    // The backlog: every event so far, sequenced and signed at once.
    let backlog: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(app.store.pool())
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    llave::audit::sequencer::sequence(&app.store, &app.audit).await.map_err(|e| e.to_string())?;
    let backlog_time = started.elapsed();
    // With the sequencer running beside the acts, as in `serve`.
    llave::audit::sequencer::spawn(&app);
    let with = acts(&app, args.acts, args.concurrency).await?;
    let started = Instant::now();
    let checkpoint = llave::audit::sequencer::sequence(&app.store, &app.audit).await.map_err(|e| e.to_string())?;
    let catch_up = started.elapsed();
    let started = Instant::now();
    let idle = llave::audit::sequencer::sequence(&app.store, &app.audit).await.map_err(|e| e.to_string())?;
    let idle_time = started.elapsed();
    let _ = idle;
    // A proof of an event in the middle.
    let middle = (checkpoint.size / 2).max(1);
    let event: i64 = sqlx::query_scalar("SELECT event_id FROM audit_leaves WHERE idx = $1")
        .bind(middle)
        .fetch_one(app.store.pool())
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let proof = llave::audit::prove(&app.store, &app.audit, event).await.map_err(|e| e.to_string())?;
    let proof_time = started.elapsed();
    let proof_bytes = proof.text().len();
    // verify over HTTP.
    let router = llave::app::router(app.clone());
    let server = tokio::spawn(async move {
        let _ = axum_serve(listener, router).await;
    });
    let http = reqwest::Client::new();
    let started = Instant::now();
    let request = llave::audit::verify::Request { url: &base, key: None, since: None, database: None };
    let verified = llave::audit::verify::verify(&http, request).await.map_err(|e| e.to_string())?;
    let verify_time = started.elapsed();
    server.abort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let r = crate::report::round2;
    let figures = serde_json::json!({
        "acts_per_s_without_log": r(without),
        "acts_per_s_with_sequencer": r(with),
        "backlog_events": backlog,
        "backlog_sequenced_ms": r(ms(backlog_time)),
        "idle_run_ms": r(ms(idle_time)),
        "proof_hashes": proof.proof.len(),
        "proof_bytes": proof_bytes,
        "proof_ms": r(ms(proof_time)),
        "verify_entries": verified.size,
        "verify_entries_per_s": r(verified.size as f64 / verify_time.as_secs_f64()),
    });
    let text = format!(
        "acts/s without the log {without:.0}, with the sequencer running {with:.0} ({:+.1} %); \
         sequencing a backlog of {backlog} events + checkpoint {:.0} ms ({:.0} events/s); catch-up after the run {:.0} ms; \
         a run with nothing new {:.1} ms; tree {} entries; proof of index {middle}: {} hashes, {proof_bytes} bytes, {:.1} ms \
         (including a sequencer run); verify over HTTP {} entries in {:.0} ms ({:.0} entries/s)",
        (with - without) / without * 100.0,
        ms(backlog_time),
        backlog as f64 / backlog_time.as_secs_f64(),
        ms(catch_up),
        ms(idle_time),
        checkpoint.size,
        proof.proof.len(),
        ms(proof_time),
        verified.size,
        ms(verify_time),
        verified.size as f64 / verify_time.as_secs_f64(),
    );
    Ok((text, figures))
}

async fn axum_serve(listener: tokio::net::TcpListener, router: axum::Router) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
}

/// The verifier's work per entry, at `n` entries: leaf hashes (of entries as large as
/// llave's, ~420 bytes), the stored levels, the root; then an inclusion and a consistency
/// proof from those levels.
fn in_memory(n: u64, print: bool) -> serde_json::Value {
    let entry = vec![b'x'; 420];
    let started = Instant::now();
    let mut levels = tlog::merkle::Levels::default();
    levels.0.push(Vec::with_capacity(n as usize));
    for i in 0..n {
        let mut e = entry.clone();
        e[..8].copy_from_slice(&i.to_be_bytes());
        levels.push(tlog::leaf_hash(&e));
    }
    let hashed = started.elapsed();
    let started = Instant::now();
    let root = tlog::merkle::tree_hash(&mut levels, n).expect("the levels are complete");
    let root_time = started.elapsed();
    let started = Instant::now();
    let proof = tlog::merkle::inclusion_proof(&mut levels, n / 3, n).expect("in range");
    let proof_time = started.elapsed();
    tlog::merkle::verify_inclusion(&levels.0[0][(n / 3) as usize], n / 3, n, &proof, &root).expect("valid");
    let mut recorder = tlog::merkle::Recorder::default();
    let _ = tlog::merkle::tree_hash(&mut recorder, n);
    let stored: u64 = recorder.asked.iter().map(|(_, _, count)| count).sum();
    let r = crate::report::round2;
    let figures = serde_json::json!({
        "entries": n,
        "hash_entries_per_s": r(n as f64 / hashed.as_secs_f64()),
        "root_ms": r(root_time.as_secs_f64() * 1000.0),
        "proof_hashes": proof.len(),
        "proof_ms": r(proof_time.as_secs_f64() * 1000.0),
    });
    if print {
        println!(
            "in memory, {n} entries: hashing every entry into the levels {:.1} s ({:.0} entries/s), root {:.2} ms from {stored} stored \
         hashes in {} reads (what a checkpoint reads at this size), inclusion proof {} hashes in {:.2} ms",
            hashed.as_secs_f64(),
            n as f64 / hashed.as_secs_f64(),
            root_time.as_secs_f64() * 1000.0,
            recorder.asked.len(),
            proof.len(),
            proof_time.as_secs_f64() * 1000.0,
        );
    }
    figures
}
