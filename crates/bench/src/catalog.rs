//! `llave-bench catalog`: catalog search latency and throughput over a synthetic catalog
//! (10,000 procedures by default), against `llave serve` in a child process, on each
//! database asked for. The catalog is loaded with `llave catalog import` (timed too); the
//! load is `GET /api/catalog/procedures?q=…` with a rotating set of Spanish queries.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::database::{self, Choice};
use crate::load::{self, Failure};
use crate::server::{self, Llave};

#[derive(Parser)]
pub struct Args {
    /// The llave binary to run.
    #[arg(long, default_value = "target/release/llave")]
    llave: std::path::PathBuf,
    /// sqlite (a fresh file), sqlite://PATH or postgres://… (a fresh schema there); repeatable.
    #[arg(long = "database", default_values_t = ["sqlite".to_string(), "postgres://postgres@127.0.0.1:5432/test".to_string()])]
    databases: Vec<String>,
    /// Procedures in the synthetic catalog.
    #[arg(long, default_value_t = 10_000)]
    procedures: usize,
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 18390)]
    port: u16,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

const ACTIONS: &[&str] = &[
    "Licencia",
    "Permiso",
    "Constancia",
    "Pago",
    "Registro",
    "Certificado",
    "Renovación",
    "Reposición",
    "Solicitud",
    "Inscripción",
];
const OBJECTS: &[(&str, &str)] = &[
    ("de conducir", "movilidad"),
    ("de construcción", "vivienda"),
    ("de uso de suelo", "vivienda"),
    ("de suministro de agua", "agua"),
    ("del impuesto predial", "pagos"),
    ("de nacimiento", "registro civil"),
    ("de matrimonio", "registro civil"),
    ("de establecimiento mercantil", "negocios"),
    ("de vehículo", "movilidad"),
    ("de programa social", "apoyos"),
    ("de beca escolar", "educación"),
    ("de salud", "salud"),
];
/// Queries people type: plurals, missing accents, generic words.
pub const QUERIES: &[&str] = &[
    "licencias de conducir",
    "tramite agua",
    "permiso construccion",
    "acta de nacimiento",
    "pago predial",
    "constancia",
    "renovacion licencia",
    "registro vehiculo",
    "becas",
    "establecimientos mercantiles",
];

/// A catalog file of `count` procedures over `entities` bodies (`ent-0` …).
fn synthetic(count: usize, entities: usize) -> String {
    let mut rows = Vec::with_capacity(count);
    for n in 0..count {
        let action = ACTIONS[n % ACTIONS.len()];
        let (object, tag) = OBJECTS[(n / ACTIONS.len()) % OBJECTS.len()];
        let name = format!("{action} {object} {n}");
        rows.push(serde_json::json!({
            "slug": format!("tramite-{n}"),
            "entity": format!("ent-{}", n % entities),
            "name": name,
            "description": format!("{action} {object} para personas que viven en la Ciudad de México. Trámite número {n}."),
            "who_may_apply": "Personas mayores de edad.",
            "requirements": [
                {"kind": "official_id", "description": "Identificación oficial vigente", "stage": "application"},
                {"kind": "proof_of_residence", "description": "Comprobante de domicilio reciente", "stage": "application"}
            ],
            "legal_basis": [{"law": "Ley de Procedimiento Administrativo", "article": format!("Artículo {}", n % 200)}],
            "steps": ["Solicita", "Recibe"],
            "response_deadline": "10 días hábiles",
            "cost": {"kind": "amount", "mxn": (n % 2000) as f64},
            "channels": {"online_url": format!("https://ent-{}.cdmx.gob.mx/tramites/{n}", n % entities)},
            "level": "urn:llave:loa:1",
            "yearly_volume": (n * 37) % 100_000,
            "tags": [tag],
            "status": "published"
        }).to_string());
    }
    format!("{{\"procedures\": [\n{}\n]}}\n", rows.join(",\n"))
}

struct Outcome {
    backend: &'static str,
    import: Duration,
    first_query: Duration,
    stats: load::Stats,
    peak_mib: Option<f64>,
}

pub async fn main(args: Args) -> ExitCode {
    let args = &args;
    let Some(outcomes) = database::each(&args.databases, "catalog", |choice, dir, url| async move {
        measure(args, &choice, &dir, url).await
    })
    .await
    else {
        return ExitCode::FAILURE;
    };
    report(args, &outcomes);
    ExitCode::SUCCESS
}

async fn measure(args: &Args, choice: &Choice, dir: &Path, database: Option<String>) -> Result<Outcome, String> {
    let llave = Llave { binary: args.llave.clone(), data_dir: dir.to_path_buf(), database };
    llave.init().await?;
    let entities = 20;
    for n in 0..entities {
        llave
            .cli_json(&["entity", "add", "--slug", &format!("ent-{n}"), "--name", &format!("Dependencia {n}")])
            .await?;
    }
    let file = dir.join("catalogo.json");
    std::fs::write(&file, synthetic(args.procedures, entities))
        .map_err(|e| format!("cannot write the catalog: {e}"))?;
    let started = Instant::now();
    let counts = llave.cli_json(&["catalog", "import", &file.display().to_string()]).await?;
    let import = started.elapsed();
    if counts["created"].as_u64() != Some(args.procedures as u64) {
        return Err(format!("the import created {counts}"));
    }

    let mut child = llave.serve(args.port)?;
    let base = format!("http://127.0.0.1:{}", args.port);
    if let Err(error) = server::wait_ready(&mut child, &base, &llave.log_path()).await {
        server::stop(&mut child).await;
        return Err(error);
    }
    let client = reqwest::Client::new();
    let url = |q: &str| format!("{base}/api/catalog/procedures?q={}", q.replace(' ', "+"));
    let began = Instant::now();
    let first = client.get(url(QUERIES[0])).send().await.map_err(|e| e.to_string())?;
    let first_query = began.elapsed();
    if !first.status().is_success() {
        server::stop(&mut child).await;
        return Err(format!("the first search answered {}", first.status()));
    }
    let states: Vec<(reqwest::Client, usize)> = (0..args.concurrency).map(|n| (client.clone(), n)).collect();
    let base_for_load = base.clone();
    let stats = load::run(states, args.seconds, move |(client, turn)| {
        let query = QUERIES[turn % QUERIES.len()];
        let url = format!("{base_for_load}/api/catalog/procedures?q={}", query.replace(' ', "+"));
        async move {
            let outcome = match client.get(&url).send().await {
                Ok(response) if response.status().is_success() => match response.json::<serde_json::Value>().await {
                    Ok(body) if body["procedures"].as_array().is_some_and(|a| !a.is_empty()) => Ok(()),
                    Ok(body) => Err(Failure::new(format!("{query:?} found nothing: {body}"))),
                    Err(e) => Err(Failure::new(e.to_string())),
                },
                Ok(response) => Err(Failure::new(format!("{query:?} answered {}", response.status()))),
                Err(e) => Err(Failure::new(e.to_string())),
            };
            ((client, turn + 1), outcome)
        }
    })
    .await;
    let peak_mib = child.id().and_then(server::peak_rss_kib).map(|k| k as f64 / 1024.0);
    server::stop(&mut child).await;
    Ok(Outcome { backend: choice.backend(), import, first_query, stats: stats?, peak_mib })
}

fn report(args: &Args, outcomes: &[Outcome]) {
    if args.json {
        let runs: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|o| {
                serde_json::json!({
                    "backend": o.backend, "procedures": args.procedures, "import_s": o.import.as_secs_f64(),
                    "first_query_ms": o.first_query.as_secs_f64() * 1000.0,
                    "searches_per_s": o.stats.per_second(), "ok": o.stats.ok, "failed": o.stats.failed,
                    "first_failure": o.stats.first_failure,
                    "p50_ms": o.stats.percentile_ms(0.50), "p99_ms": o.stats.percentile_ms(0.99),
                    "peak_rss_mib": o.peak_mib,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "runs": runs }));
        return;
    }
    println!(
        "llave-bench catalog: {} procedures, {} workers, {} s, queries: {}",
        args.procedures,
        args.concurrency,
        args.seconds,
        QUERIES.join(" / ")
    );
    for o in outcomes {
        println!(
            "{:<9} import {:.1} s | first search (index build) {:.0} ms | {:.0} searches/s, p50 {:.2} ms, p99 {:.2} ms, {} failed | peak RSS {}",
            o.backend,
            o.import.as_secs_f64(),
            o.first_query.as_secs_f64() * 1000.0,
            o.stats.per_second(),
            o.stats.percentile_ms(0.50),
            o.stats.percentile_ms(0.99),
            o.stats.failed,
            o.peak_mib.map(|m| format!("{m:.1} MiB")).unwrap_or_else(|| "?".into())
        );
        if let Some(why) = &o.stats.first_failure {
            println!("          first failure: {why}");
        }
    }
}
