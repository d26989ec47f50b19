//! `llave-bench oidc`: for each database, llave serves on a loopback port; one refresh token
//! per worker comes from the real code flow, then three loads run in turn: the
//! `refresh_token` grant (each worker presents the token the previous call returned), the
//! `client_credentials` grant, and discovery + JWKS. The reference provider `oidc-provider`
//! runs next, with the same loads, workers and duration. Peak memory is the server's `VmHWM`
//! read just before it is stopped; CPU time is read from `/proc` around each load.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::process::Child;

use crate::codeflow;
use crate::database::{self, Choice};
use crate::load::{self, Failure};
use crate::reference::Reference;
use crate::report::{self, Comparison, Environment, Measured};
use crate::server::{self, Llave};

const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
/// What the person agrees to; llave issues a refresh token with every code.
const USER_SCOPE: &str = "openid email offline_access";

/// Token endpoint and discovery/JWKS throughput and peak memory, llave next to oidc-provider.
#[derive(clap::Args)]
pub struct Args {
    /// The llave binary to run.
    #[arg(long, default_value = "target/release/llave")]
    llave: PathBuf,
    /// A database to run llave on, repeatable: `sqlite` (a fresh file), `sqlite://PATH`, or
    /// `postgres://…` (a fresh schema in that database, dropped afterwards).
    #[arg(long = "database", default_values = ["sqlite", "postgres://postgres@127.0.0.1:5432/test"])]
    databases: Vec<String>,
    /// Directory of the reference provider (server.mjs, node_modules).
    #[arg(long, default_value = "bench/oidc-provider")]
    reference_dir: PathBuf,
    /// The Node.js binary for the reference.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// Measure llave alone.
    #[arg(long)]
    skip_reference: bool,
    /// Length of each load, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent workers, each with its own connection (and refresh token).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Port llave listens on (127.0.0.1); the reference gets the next one.
    #[arg(long, default_value_t = 18290)]
    port: u16,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// What both servers sign access and ID tokens with (llave's client is registered with
    /// it; the reference is started with it): ES256 (llave's default) or RS256.
    #[arg(long, default_value = "ES256", value_parser = ["ES256", "RS256"])]
    alg: String,
}

pub async fn main(args: Args) -> ExitCode {
    match run(&args).await {
        Ok(comparisons) => {
            let failed: u64 = comparisons.iter().map(Comparison::failures).sum();
            if failed > 0 {
                eprintln!("llave-bench: {failed} requests failed (see first_failure)");
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("llave-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<Vec<Comparison>, String> {
    if args.concurrency == 0 || args.seconds == 0 {
        return Err("--concurrency and --seconds must be at least 1".into());
    }
    let choices = args.databases.iter().map(|d| Choice::parse(d)).collect::<Result<Vec<_>, _>>()?;
    let reference = Reference { node: args.node.clone(), dir: args.reference_dir.clone() };
    let reference_version = if args.skip_reference { None } else { Some(reference.installed_version()?) };
    let environment = Environment {
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: cpu_model(),
        node: if args.skip_reference { None } else { Some(reference.node_version().await) },
        oidc_provider: reference_version,
        workers: args.concurrency,
        seconds: args.seconds,
        alg: args.alg.clone(),
    };
    let ticks = server::clock_ticks_per_second().await;
    if !args.json {
        report::print_header(&environment);
    }
    let mut comparisons = Vec::new();
    for (run, choice) in choices.iter().enumerate() {
        let work = std::env::temp_dir().join(format!("llave-bench-oidc-{}-{run}", std::process::id()));
        std::fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let llave = measure_llave(args, choice, run, &work, ticks).await;
        let reference = match (&llave, args.skip_reference) {
            (Ok(_), false) => Some(measure_reference(args, &reference, &work, ticks).await),
            _ => None,
        };
        let _ = std::fs::remove_dir_all(&work);
        let comparison = Comparison { backend: choice.backend(), llave: llave?, reference: reference.transpose()? };
        if !args.json {
            report::print_comparison(&comparison);
        }
        comparisons.push(comparison);
    }
    if args.json {
        println!("{}", report::json(&environment, &comparisons));
    }
    Ok(comparisons)
}

/// One provider under load: where its token endpoint and discovery document are.
struct Endpoint {
    token: String,
    discovery: String,
    client_id: String,
    client_secret: String,
    service_scope: String,
}

async fn measure_llave(args: &Args, choice: &Choice, run: usize, work: &Path, ticks: u64) -> Result<Measured, String> {
    let prepared = database::prepare(choice, run).await?;
    let llave = Llave { binary: args.llave.clone(), data_dir: work.join("llave"), database: prepared.url.clone() };
    let outcome = async {
        llave.init().await?;
        // A slug of its own, so a `sqlite://PATH` used before still takes the entity.
        let slug = format!("bench-{}-{run}", std::process::id());
        llave.cli_json(&["entity", "add", "--slug", &slug, "--name", "Bench"]).await?;
        let client = llave
            .cli_json(&[
                "client",
                "add",
                "--entity",
                &slug,
                "--name",
                "Bench portal",
                "--redirect-uri",
                REDIRECT_URI,
                "--access-token-alg",
                &args.alg,
                "--id-token-alg",
                &args.alg,
            ])
            .await?;
        let text = |key: &str| client[key].as_str().map(str::to_string).ok_or(format!("client add printed no {key}"));
        let (client_id, client_secret) = (text("client_id")?, text("client_secret")?);
        let seed = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        let person = llave.add_users(1, seed).await?.pop().ok_or("citizen add made nobody")?;

        let mut child = llave.serve(args.port)?;
        let base = format!("http://127.0.0.1:{}", args.port);
        let measured = async {
            server::wait_ready(&mut child, &base, &llave.log_path()).await?;
            let flow = codeflow::Client {
                id: &client_id,
                secret: &client_secret,
                redirect_uri: REDIRECT_URI,
                scope: USER_SCOPE,
            };
            let tokens = codeflow::refresh_tokens(&base, &flow, &person, args.concurrency).await?;
            let service_scope = llave::oidc::token::SERVICE_SCOPES.join(" ");
            let endpoint = discover(&base, client_id.clone(), client_secret.clone(), service_scope).await?;
            measure(&child, endpoint, tokens, args.seconds, ticks).await
        }
        .await;
        server::stop(&mut child).await;
        measured.map_err(|why| {
            let log = std::fs::read_to_string(llave.log_path()).unwrap_or_default();
            format!("llave ({}): {why}\nserver log (tail):\n{}", choice.backend(), tail(&log, 20))
        })
    }
    .await;
    let discarded = prepared.discard().await;
    let measured = outcome?;
    discarded?;
    Ok(measured)
}

async fn measure_reference(args: &Args, reference: &Reference, work: &Path, ticks: u64) -> Result<Measured, String> {
    let port = args.port.checked_add(1).ok_or("--port must leave room for the reference on the next port")?;
    let log = work.join("reference.log");
    let (mut child, seeded) = reference.start(port, args.concurrency, &args.alg, &log).await?;
    let base = format!("http://127.0.0.1:{port}");
    let measured = async {
        let endpoint = discover(&base, seeded.client_id, seeded.client_secret, seeded.service_scope).await?;
        measure(&child, endpoint, seeded.refresh_tokens, args.seconds, ticks).await
    }
    .await;
    server::stop(&mut child).await;
    measured.map_err(|why| {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        format!("oidc-provider: {why}\nreference log (tail):\n{}", tail(&log, 20))
    })
}

/// The token endpoint, from the discovery document as a client would find it.
async fn discover(
    base: &str,
    client_id: String,
    client_secret: String,
    service_scope: String,
) -> Result<Endpoint, String> {
    let discovery = format!("{base}/.well-known/openid-configuration");
    let metadata = get_json(&reqwest::Client::new(), &discovery).await?;
    let token = metadata["token_endpoint"].as_str().ok_or("the discovery document has no token_endpoint")?;
    Ok(Endpoint { token: token.to_string(), discovery, client_id, client_secret, service_scope })
}

/// The three loads against a running server, then its peak memory.
async fn measure(
    server: &Child,
    endpoint: Endpoint,
    refresh_tokens: Vec<String>,
    seconds: u64,
    ticks: u64,
) -> Result<Measured, String> {
    let pid = server.id().ok_or("the server is not running")?;
    let endpoint = Arc::new(endpoint);
    let workers = |tokens: Vec<String>| -> Result<Vec<Worker>, String> {
        tokens
            .into_iter()
            .map(|refresh_token| {
                let http = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(30))
                    .build()
                    .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
                Ok(Worker { http, endpoint: Arc::clone(&endpoint), refresh_token, jwks_uri: None, turn: 0 })
            })
            .collect()
    };
    let cpu = |before: Option<u64>| {
        let after = server::cpu_ticks(pid)?;
        Some(after.saturating_sub(before?) as f64 / ticks as f64)
    };
    let database_cpu = |before: u64| (server::database_cpu_ticks().saturating_sub(before)) as f64 / ticks as f64;
    let count = refresh_tokens.len();

    let (before, database) = (server::cpu_ticks(pid), server::database_cpu_ticks());
    let refresh = load::run(workers(refresh_tokens)?, seconds, refresh_step).await?;
    let (refresh_cpu, refresh_database) = (cpu(before), database_cpu(database));

    let (before, database) = (server::cpu_ticks(pid), server::database_cpu_ticks());
    let credentials = load::run(workers(vec![String::new(); count])?, seconds, client_credentials_step).await?;
    let (credentials_cpu, credentials_database) = (cpu(before), database_cpu(database));

    let (before, database) = (server::cpu_ticks(pid), server::database_cpu_ticks());
    let discovery = load::run(workers(vec![String::new(); count])?, seconds, discovery_step).await?;
    let (discovery_cpu, discovery_database) = (cpu(before), database_cpu(database));

    Ok(Measured {
        loads: [(refresh, refresh_cpu), (credentials, credentials_cpu), (discovery, discovery_cpu)],
        database_cpu: [refresh_database, credentials_database, discovery_database],
        peak_rss_kib: server::peak_rss_kib(pid),
    })
}

/// A worker: its own connection; its refresh token (rotated on every use); the JWKS URI
/// from the last discovery document it read.
struct Worker {
    http: reqwest::Client,
    endpoint: Arc<Endpoint>,
    refresh_token: String,
    jwks_uri: Option<String>,
    turn: u64,
}

async fn refresh_step(mut worker: Worker) -> (Worker, Result<(), Failure>) {
    let form = [("grant_type", "refresh_token"), ("refresh_token", worker.refresh_token.as_str())];
    let outcome = match token_request(&worker, &form).await {
        Ok(answer) => match (answer["access_token"].as_str(), answer["refresh_token"].as_str()) {
            (Some(_), Some(next)) => {
                worker.refresh_token = next.to_string();
                Ok(())
            }
            _ => Err(Failure::fatal(format!("refresh_token: no access or refresh token in {answer}"))),
        },
        // A lost rotation breaks the chain: this worker cannot go on.
        Err(why) => Err(Failure::fatal(format!("refresh_token: {why}"))),
    };
    (worker, outcome)
}

async fn client_credentials_step(worker: Worker) -> (Worker, Result<(), Failure>) {
    let scope = worker.endpoint.service_scope.clone();
    let form = [("grant_type", "client_credentials"), ("scope", scope.as_str())];
    let outcome = match token_request(&worker, &form).await {
        Ok(answer) if answer["access_token"].is_string() => Ok(()),
        Ok(answer) => Err(Failure::new(format!("client_credentials: no access token in {answer}"))),
        Err(why) => Err(Failure::new(format!("client_credentials: {why}"))),
    };
    (worker, outcome)
}

/// Discovery document and JWKS in turn, as a client starting up reads them.
async fn discovery_step(mut worker: Worker) -> (Worker, Result<(), Failure>) {
    let outcome = match worker.jwks_uri.clone().filter(|_| worker.turn % 2 == 1) {
        None => match get_json(&worker.http, &worker.endpoint.discovery).await {
            Ok(metadata) => match metadata["jwks_uri"].as_str() {
                Some(uri) => {
                    worker.jwks_uri = Some(uri.to_string());
                    Ok(())
                }
                None => Err(Failure::new("discovery: no jwks_uri")),
            },
            Err(why) => Err(Failure::new(format!("discovery: {why}"))),
        },
        Some(uri) => match get_json(&worker.http, &uri).await {
            Ok(jwks) if jwks["keys"].as_array().is_some_and(|keys| !keys.is_empty()) => Ok(()),
            Ok(_) => Err(Failure::new("jwks: no keys")),
            Err(why) => Err(Failure::new(format!("jwks: {why}"))),
        },
    };
    worker.turn += 1;
    (worker, outcome)
}

/// A token request with client_secret_basic; the JSON answer of a 200.
async fn token_request(worker: &Worker, form: &[(&str, &str)]) -> Result<serde_json::Value, String> {
    let endpoint = &worker.endpoint;
    let response = worker
        .http
        .post(&endpoint.token)
        .basic_auth(&endpoint.client_id, Some(&endpoint.client_secret))
        .form(form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("{status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{status} with a body that is not JSON ({e}): {body}"))
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<serde_json::Value, String> {
    let response = http.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!("GET {url}: {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {url}: not JSON ({e})"))
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info.lines().find_map(|line| line.strip_prefix("model name")?.split_once(':').map(|(_, m)| m.trim()));
    model.unwrap_or("unknown").to_string()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Comparison {
    fn failures(&self) -> u64 {
        let side = |m: &Measured| m.loads.iter().map(|(stats, _)| stats.failed).sum::<u64>();
        side(&self.llave) + self.reference.as_ref().map_or(0, side)
    }
}
