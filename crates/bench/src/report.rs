//! The `oidc` report: per database, llave next to oidc-provider for each load, the ratios
//! (llave / reference) and the target check: at least 3× the reference's token throughput
//! (both grants) at under a third of its peak memory. As a table, or as one JSON object.

use serde_json::{Value, json};

use crate::load::Stats;

/// The loads, in the order they run.
pub const LOADS: [&str; 3] = ["refresh_token", "client_credentials", "discovery_jwks"];
/// The loads the throughput target is about.
const TOKEN_LOADS: [usize; 2] = [0, 1];
const THROUGHPUT_TARGET: f64 = 3.0;
const MEMORY_TARGET: f64 = 1.0 / 3.0;

pub struct Environment {
    pub cpus: usize,
    pub cpu_model: String,
    pub node: Option<String>,
    pub oidc_provider: Option<String>,
    pub workers: usize,
    pub seconds: u64,
    /// What both servers signed tokens with.
    pub alg: String,
}

/// One provider under the three loads: each load's figures with the server's CPU seconds.
pub struct Measured {
    pub loads: [(Stats, Option<f64>); 3],
    /// CPU seconds every PostgreSQL process on the machine spent during each load (near zero
    /// for a server that does not use it).
    pub database_cpu: [f64; 3],
    pub peak_rss_kib: Option<u64>,
}

pub struct Comparison {
    pub backend: &'static str,
    pub llave: Measured,
    pub reference: Option<Measured>,
}

impl Measured {
    fn peak_mib(&self) -> Option<f64> {
        self.peak_rss_kib.map(|kib| kib as f64 / 1024.0)
    }

    /// PostgreSQL's CPU milliseconds per successful request.
    fn database_ms_per_request(&self, load: usize) -> Option<f64> {
        let ok = self.loads[load].0.ok;
        (ok > 0).then(|| self.database_cpu[load] * 1000.0 / ok as f64)
    }

    /// Server CPU milliseconds per successful request.
    fn cpu_ms_per_request(&self, load: usize) -> Option<f64> {
        let (stats, cpu) = &self.loads[load];
        cpu.filter(|_| stats.ok > 0).map(|seconds| seconds * 1000.0 / stats.ok as f64)
    }
}

impl Comparison {
    fn throughput_ratio(&self, load: usize) -> Option<f64> {
        let reference = self.reference.as_ref()?.loads[load].0.per_second();
        (reference > 0.0).then(|| self.llave.loads[load].0.per_second() / reference)
    }

    fn memory_ratio(&self) -> Option<f64> {
        let reference = self.reference.as_ref()?.peak_mib()?;
        Some(self.llave.peak_mib()? / reference)
    }

    fn throughput_met(&self) -> Option<bool> {
        let ratios: Option<Vec<f64>> = TOKEN_LOADS.iter().map(|&load| self.throughput_ratio(load)).collect();
        ratios.map(|ratios| ratios.iter().all(|&r| r >= THROUGHPUT_TARGET))
    }

    fn memory_met(&self) -> Option<bool> {
        self.memory_ratio().map(|ratio| ratio < MEMORY_TARGET)
    }
}

pub fn print_header(env: &Environment) {
    let reference = match (&env.oidc_provider, &env.node) {
        (Some(version), Some(node)) => format!("oidc-provider {version} on Node.js {node}"),
        _ => "no reference".to_string(),
    };
    println!(
        "llave-bench oidc: {} workers, {} s per load, tokens {}, {} CPUs ({}); reference: {reference}",
        env.workers, env.seconds, env.alg, env.cpus, env.cpu_model
    );
}

fn cells(stats: &Stats, cpu_ms: Option<f64>) -> String {
    format!(
        "{:>9.1} {:>7.2} {:>7.2} {:>5} {:>7}",
        stats.per_second(),
        stats.percentile_ms(0.50),
        stats.percentile_ms(0.99),
        stats.failed,
        cpu_ms.map_or_else(|| "?".to_string(), |ms| format!("{ms:.2}"))
    )
}

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |r| format!("{r:.2}x"))
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "unknown",
    }
}

pub fn print_comparison(c: &Comparison) {
    let blank = format!("{:>9} {:>7} {:>7} {:>5} {:>7}", "", "", "", "", "");
    println!();
    println!("{:<20} | {:<39} | {:<39} |", c.backend, "llave", "oidc-provider (in memory)");
    let columns = format!("{:>9} {:>7} {:>7} {:>5} {:>7}", "req/s", "p50 ms", "p99 ms", "fail", "CPU ms");
    println!("{:<20} | {columns} | {columns} | ratio", "load");
    for (load, name) in LOADS.iter().enumerate() {
        let (stats, _) = &c.llave.loads[load];
        let reference = match &c.reference {
            Some(r) => cells(&r.loads[load].0, r.cpu_ms_per_request(load)),
            None => blank.clone(),
        };
        let llave = cells(stats, c.llave.cpu_ms_per_request(load));
        println!("{name:<20} | {llave} | {reference} | {}", ratio(c.throughput_ratio(load)));
    }
    let mib = |m: Option<&Measured>| match m {
        Some(m) => m.peak_mib().map_or_else(|| "?".into(), |v| format!("{v:.1}")),
        None => String::new(),
    };
    println!(
        "{:<20} | {:>9} {:>29} | {:>9} {:>29} | {}",
        "peak RSS (MiB)",
        mib(Some(&c.llave)),
        "",
        mib(c.reference.as_ref()),
        "",
        ratio(c.memory_ratio())
    );
    println!("(CPU ms: the server's user + system CPU time, all threads, per successful request)");
    if c.backend == "postgres" {
        let ms = |load: usize| c.llave.database_ms_per_request(load).map_or_else(|| "?".into(), |v| format!("{v:.2}"));
        println!(
            "PostgreSQL's own CPU ms per llave request (all its processes): refresh_token {}, client_credentials {}, discovery_jwks {}",
            ms(0),
            ms(1),
            ms(2)
        );
    }
    if c.reference.is_some() {
        println!(
            "target: token throughput >= 3x (refresh_token {}, client_credentials {}): {}; peak memory < 1/3 ({}): {}",
            ratio(c.throughput_ratio(0)),
            ratio(c.throughput_ratio(1)),
            verdict(c.throughput_met()),
            ratio(c.memory_ratio()),
            verdict(c.memory_met())
        );
    }
    let sides = [("llave", Some(&c.llave)), ("oidc-provider", c.reference.as_ref())];
    for (side, measured) in sides {
        for (load, name) in LOADS.iter().enumerate() {
            if let Some(why) = measured.and_then(|m| m.loads[load].0.first_failure.as_deref()) {
                println!("first failure ({side}, {name}): {why}");
            }
        }
    }
}

pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn side_json(m: &Measured) -> Value {
    let mut loads = serde_json::Map::new();
    for (load, name) in LOADS.iter().enumerate() {
        let (stats, cpu) = &m.loads[load];
        loads.insert(
            name.to_string(),
            json!({
                "requests_per_s": round2(stats.per_second()),
                "ok": stats.ok,
                "failed": stats.failed,
                "first_failure": stats.first_failure,
                "p50_ms": round2(stats.percentile_ms(0.50)),
                "p99_ms": round2(stats.percentile_ms(0.99)),
                "server_cpu_s": cpu.map(round2),
                "server_cpu_ms_per_request": m.cpu_ms_per_request(load).map(round2),
                "database_cpu_ms_per_request": m.database_ms_per_request(load).map(round2),
            }),
        );
    }
    json!({ "loads": loads, "peak_rss_mib": m.peak_mib().map(round2) })
}

pub fn json(env: &Environment, comparisons: &[Comparison]) -> Value {
    let backends: Vec<Value> = comparisons
        .iter()
        .map(|c| {
            let mut ratios = serde_json::Map::new();
            for (load, name) in LOADS.iter().enumerate() {
                ratios.insert(format!("{name}_throughput"), json!(c.throughput_ratio(load).map(round2)));
            }
            ratios.insert("peak_rss".into(), json!(c.memory_ratio().map(|r| (r * 1000.0).round() / 1000.0)));
            json!({
                "backend": c.backend,
                "llave": side_json(&c.llave),
                "oidc_provider": c.reference.as_ref().map(side_json),
                "ratios": ratios,
                "target": {
                    "token_throughput_at_least_3x": c.throughput_met(),
                    "peak_memory_under_one_third": c.memory_met(),
                },
            })
        })
        .collect();
    json!({
        "workers": env.workers,
        "seconds_per_load": env.seconds,
        "alg": env.alg,
        "cpus": env.cpus,
        "cpu_model": env.cpu_model,
        "node": env.node,
        "oidc_provider": env.oidc_provider,
        "reference_storage": "in-memory (oidc-provider's default adapter)",
        "backends": backends,
    })
}
