//! `llave-bench signin`: drives password sign-ins against a llave server running in a
//! second process, then measures raw Argon2id hashes per second on the same machine with the
//! same parameters. Sign-ins per raw hash is the figure: how close the whole web path (two
//! HTTP requests, CSRF, throttle checks, the database, a session) comes to the hash alone.
//! See docs/bench/README.md.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use llave::config::PasswordConfig;
use reqwest::header::{COOKIE, SET_COOKIE};

use crate::load;
use crate::report::round2;
use crate::server::{self, Llave, User};

/// Sign-ins per second against llave, next to raw Argon2id hashes per second.
#[derive(clap::Args)]
pub struct Args {
    /// The llave binary to run.
    #[arg(long, default_value = "target/release/llave")]
    llave: PathBuf,
    /// Concurrent sign-in workers.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Length of each measurement, in seconds.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Accounts to create and sign in as, in turn.
    #[arg(long, default_value_t = 8)]
    users: usize,
    /// Port the server listens on (127.0.0.1).
    #[arg(long, default_value_t = 18090)]
    port: u16,
    /// sqlite (a fresh file, the default), sqlite://PATH, or postgres://… (a fresh schema there, dropped after).
    #[arg(long)]
    database: Option<String>,
    /// Print the report as one JSON line.
    #[arg(long)]
    json: bool,
}

pub async fn main(args: Args) -> ExitCode {
    if args.concurrency == 0 || args.users == 0 || args.seconds == 0 {
        eprintln!("llave-bench: --concurrency, --users and --seconds must be at least 1");
        return ExitCode::FAILURE;
    }
    let data_dir = std::env::temp_dir().join(format!("llave-bench-{}", std::process::id()));
    let result = run(&args, &data_dir).await;
    let _ = std::fs::remove_dir_all(&data_dir);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("llave-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args, data_dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    // A PostgreSQL database gets a fresh schema, dropped afterwards.
    let choice = crate::database::Choice::parse(args.database.as_deref().unwrap_or("sqlite"))?;
    let prepared = crate::database::prepare(&choice, 0).await?;
    let outcome = measure(args, data_dir, prepared.url.clone()).await;
    prepared.discard().await?;
    outcome
}

async fn measure(args: &Args, data_dir: &std::path::Path, database: Option<String>) -> Result<(), String> {
    let llave = Llave { binary: args.llave.clone(), data_dir: data_dir.to_path_buf(), database };
    llave.init().await?;
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let users = Arc::new(llave.add_users(args.users, seed).await?);

    let mut child = llave.serve(args.port)?;
    let base = format!("http://127.0.0.1:{}", args.port);
    let load = match server::wait_ready(&mut child, &base, &llave.log_path()).await {
        Ok(()) => drive(&base, users, args.concurrency, args.seconds).await,
        Err(error) => {
            server::stop(&mut child).await;
            return Err(error);
        }
    };
    let peak_kib = child.id().and_then(server::peak_rss_kib);
    server::stop(&mut child).await;
    let load = load?;

    let password = PasswordConfig::default();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (hashes, hash_elapsed) = hash_rate(&password, threads, args.seconds)?;

    let signins_per_s = load.per_second();
    let hashes_per_s = hashes as f64 / hash_elapsed.as_secs_f64();
    let ratio = if hashes_per_s > 0.0 { signins_per_s / hashes_per_s } else { 0.0 };
    // Whole milliseconds, as this report has always printed them.
    let p50 = load.percentile_ms(0.50).floor() as u64;
    let p99 = load.percentile_ms(0.99).floor() as u64;
    let backend = match &args.database {
        Some(url) if !url.starts_with("sqlite:") => "postgres",
        _ => "sqlite",
    };
    let peak_mib = peak_kib.map(|k| k as f64 / 1024.0);
    let params = format!(
        "m={} KiB, t={}, p={}",
        password.argon2_memory_kib, password.argon2_iterations, password.argon2_parallelism
    );
    if args.json {
        let report = serde_json::json!({
            "backend": backend, "workers": args.concurrency, "seconds": args.seconds,
            "cpus": threads, "users": args.users,
            "signins_per_s": round2(signins_per_s), "ok": load.ok, "failed": load.failed,
            "first_failure": load.first_failure,
            "p50_ms": p50, "p99_ms": p99,
            "hashes_per_s": round2(hashes_per_s), "hash_threads": threads,
            "argon2_memory_kib": password.argon2_memory_kib,
            "argon2_iterations": password.argon2_iterations,
            "argon2_parallelism": password.argon2_parallelism,
            "ratio": round2(ratio),
            "server_peak_rss_mib": peak_mib.map(round2),
        });
        println!("{report}");
    } else {
        println!(
            "llave sign-in benchmark ({backend}, {} workers, {} s, {threads} CPUs)",
            args.concurrency, args.seconds
        );
        println!(
            "sign-ins/s:        {signins_per_s:.1}   ({} ok, {} failed; p50 {p50} ms, p99 {p99} ms)",
            load.ok, load.failed
        );
        println!("argon2id hashes/s: {hashes_per_s:.1}   ({params}, {threads} threads)");
        println!("ratio:             {ratio:.2}   (sign-ins per raw hash)");
        match peak_mib {
            Some(mib) => println!("server peak RSS:   {mib:.1} MiB"),
            None => println!("server peak RSS:   unknown (no /proc/PID/status)"),
        }
        if let Some(why) = &load.first_failure {
            println!("first failure:     {why}");
        }
    }
    Ok(())
}

/// Runs `concurrency` workers until `seconds` have passed; each signs in as the users in
/// turn, alternating CURP and e-mail as the identifier.
async fn drive(base: &str, users: Arc<Vec<User>>, concurrency: usize, seconds: u64) -> Result<load::Stats, String> {
    let mut workers = Vec::with_capacity(concurrency);
    for turn in 0..concurrency {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        workers.push((client, turn));
    }
    let base = base.to_string();
    load::run(workers, seconds, move |(client, turn)| {
        let (base, users) = (base.clone(), Arc::clone(&users));
        async move {
            let user = &users[turn % users.len()];
            let identifier = if turn % 2 == 0 { &user.curp } else { &user.email };
            let outcome = sign_in(&client, &base, identifier, &user.password).await.map_err(load::Failure::new);
            ((client, turn + 1), outcome)
        }
    })
    .await
}

/// One sign-in as a fresh browser: the form (CSRF cookie and token), then the POST.
async fn sign_in(client: &reqwest::Client, base: &str, identifier: &str, password: &str) -> Result<(), String> {
    let form = client.get(format!("{base}/signin")).send().await.map_err(|e| format!("GET /signin: {e}"))?;
    let csrf_cookie = cookie(&form, "llave_csrf").ok_or("GET /signin set no llave_csrf cookie")?;
    let html = form.text().await.map_err(|e| format!("GET /signin: {e}"))?;
    let token = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("the sign-in page has no csrf_token field")?;
    let response = client
        .post(format!("{base}/signin"))
        .header(COOKIE, format!("llave_csrf={csrf_cookie}"))
        .form(&[("csrf_token", token), ("identifier", identifier), ("password", password), ("next", "/account")])
        .send()
        .await
        .map_err(|e| format!("POST /signin: {e}"))?;
    let status = response.status();
    if status == reqwest::StatusCode::SEE_OTHER && cookie(&response, "llave_session").is_some() {
        Ok(())
    } else {
        Err(format!("POST /signin answered {status} without a session"))
    }
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next()?.split_once('='))
        .find(|(key, value)| *key == name && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// Argon2id hashes with `config` on `threads` OS threads for `seconds`.
fn hash_rate(config: &PasswordConfig, threads: usize, seconds: u64) -> Result<(u64, Duration), String> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let counts: Vec<Result<u64, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut count = 0;
                    while Instant::now() < deadline {
                        llave::accounts::password::hash_once(config, "bench llave nopal").map_err(|e| e.to_string())?;
                        count += 1;
                    }
                    Ok(count)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a hashing thread panicked".into()))).collect()
    });
    let elapsed = started.elapsed();
    let total = counts.into_iter().sum::<Result<u64, String>>()?;
    Ok((total, elapsed))
}
