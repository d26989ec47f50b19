//! `llave-bench signature`: an entity's seals (`POST /api/seals`: a CAdES signature made
//! with the entity's key, sealed under the KEK) and public verifications
//! (`POST /api/signatures/verify`: chain, signature, digest and the CRL, signed afresh each
//! time), per second and latency percentiles, against `llave serve` in a child process.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use crate::database::{self, Choice};
use crate::load::{self, Failure, Stats};
use crate::server::{self, Llave};

#[derive(Parser)]
pub struct Args {
    /// The llave binary to run.
    #[arg(long, default_value = "target/release/llave")]
    llave: std::path::PathBuf,
    /// sqlite (a fresh file), sqlite://PATH or postgres://… (a fresh schema there); repeatable.
    #[arg(long = "database", default_values_t = ["sqlite".to_string(), "postgres://postgres@127.0.0.1:5432/test".to_string()])]
    databases: Vec<String>,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 18391)]
    port: u16,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

struct Outcome {
    backend: &'static str,
    seals: Stats,
    verifications: Stats,
    peak_mib: Option<f64>,
}

pub async fn main(args: Args) -> ExitCode {
    let args = &args;
    let Some(outcomes) = database::each(&args.databases, "signature", |choice, dir, url| async move {
        measure(args, &choice, &dir, url).await
    })
    .await
    else {
        return ExitCode::FAILURE;
    };
    if args.json {
        let backends: Vec<_> = outcomes
            .iter()
            .map(|o| {
                serde_json::json!({
                    "backend": o.backend,
                    "seals": o.seals.json(),
                    "verifications": o.verifications.json(),
                    "peak_rss_mib": o.peak_mib.map(crate::report::round2),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "workers": args.concurrency, "seconds": args.seconds, "backends": backends })
        );
        return ExitCode::SUCCESS;
    }
    println!("llave-bench signature: {} workers, {} s per load", args.concurrency, args.seconds);
    for o in &outcomes {
        for (what, stats) in [("seals", &o.seals), ("verifications", &o.verifications)] {
            println!(
                "{:<9} {:<14} {:>8.1}/s  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} ok, {} failed){}",
                o.backend,
                what,
                stats.per_second(),
                stats.percentile_ms(0.50),
                stats.percentile_ms(0.99),
                stats.ok,
                stats.failed,
                stats.first_failure.as_deref().map(|f| format!(" first failure: {f}")).unwrap_or_default()
            );
        }
        println!(
            "{:<9} server peak RSS {}",
            o.backend,
            o.peak_mib.map(|m| format!("{m:.1} MiB")).unwrap_or_else(|| "?".into())
        );
    }
    ExitCode::SUCCESS
}

/// A multipart body with the document and its signature.
fn multipart(document: &[u8], signature: &[u8]) -> (String, Vec<u8>) {
    let boundary = "llave-bench-7f3a9c";
    let mut body = Vec::new();
    for (name, bytes) in [("document", document), ("signature", signature)] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn sha256_hex(bytes: &[u8]) -> String {
    llave::signature::cms::hex(&llave::signature::cms::sha256(bytes))
}

async fn measure(args: &Args, choice: &Choice, dir: &Path, database: Option<String>) -> Result<Outcome, String> {
    let llave = Llave { binary: args.llave.clone(), data_dir: dir.to_path_buf(), database };
    llave.init().await?;
    llave.cli_json(&["pki", "init"]).await?;
    llave.cli_json(&["entity", "add", "--slug", "bench", "--name", "Dependencia de prueba"]).await?;
    let client = llave
        .cli_json(&[
            "client",
            "add",
            "--entity",
            "bench",
            "--name",
            "Sellos",
            "--redirect-uri",
            "https://bench.example/cb",
        ])
        .await?;
    let (client_id, secret) = (
        client["client_id"].as_str().unwrap_or_default().to_string(),
        client["client_secret"].as_str().unwrap_or_default().to_string(),
    );
    let mut child = llave.serve(args.port)?;
    let base = format!("http://127.0.0.1:{}", args.port);
    if let Err(error) = server::wait_ready(&mut child, &base, &llave.log_path()).await {
        server::stop(&mut child).await;
        return Err(error);
    }
    let result = load_both(args, &base, &client_id, &secret).await;
    let peak_mib = child.id().and_then(server::peak_rss_kib).map(|k| k as f64 / 1024.0);
    server::stop(&mut child).await;
    let (seals, verifications) = result?;
    Ok(Outcome { backend: choice.backend(), seals, verifications, peak_mib })
}

async fn load_both(args: &Args, base: &str, client_id: &str, secret: &str) -> Result<(Stats, Stats), String> {
    let http = reqwest::Client::new();
    let token = server::service_token(&http, base, client_id, secret, "signatures").await?;

    // Seals: each of a different document.
    let states: Vec<(reqwest::Client, usize)> = (0..args.concurrency).map(|n| (http.clone(), n * 1_000_000)).collect();
    let (seal_url, seal_token) = (format!("{base}/api/seals"), token.clone());
    let seals = load::run(states, args.seconds, move |(client, n)| {
        let (url, token) = (seal_url.clone(), seal_token.clone());
        async move {
            let document = format!("documento {n}");
            let body = format!(
                "{{\"document_name\":\"doc-{n}.pdf\",\"document_sha256\":\"{}\"}}",
                sha256_hex(document.as_bytes())
            );
            let outcome = match client
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(response) if response.status().as_u16() == 201 => Ok(()),
                Ok(response) => Err(Failure::new(format!("seal answered {}", response.status()))),
                Err(e) => Err(Failure::new(e.to_string())),
            };
            ((client, n + 1), outcome)
        }
    })
    .await?;

    // Verifications of one sealed document.
    let document = b"documento verificado".to_vec();
    let sealed: serde_json::Value = http
        .post(format!("{base}/api/seals"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(format!("{{\"document_name\":\"v.pdf\",\"document_sha256\":\"{}\"}}", sha256_hex(&document)))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let signature = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        sealed["signature"].as_str().unwrap_or_default(),
    )
    .map_err(|e| format!("the seal is not base64: {e}"))?;
    let (content_type, body) = multipart(&document, &signature);
    let states: Vec<reqwest::Client> = (0..args.concurrency).map(|_| http.clone()).collect();
    let verify_url = format!("{base}/api/signatures/verify");
    let verifications = load::run(states, args.seconds, move |client| {
        let (url, content_type, body) = (verify_url.clone(), content_type.clone(), body.clone());
        async move {
            let outcome = match client.post(&url).header("content-type", content_type).body(body).send().await {
                Ok(response) if response.status().is_success() => match response.json::<serde_json::Value>().await {
                    Ok(v) if v["status"] == "valid" => Ok(()),
                    Ok(v) => Err(Failure::new(format!("verdict {v}"))),
                    Err(e) => Err(Failure::new(e.to_string())),
                },
                Ok(response) => Err(Failure::new(format!("verify answered {}", response.status()))),
                Err(e) => Err(Failure::new(e.to_string())),
            };
            (client, outcome)
        }
    })
    .await?;
    Ok((seals, verifications))
}
