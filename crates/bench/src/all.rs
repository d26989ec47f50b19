//! `llave-bench all --json FILE`: every benchmark, one after the other, each run as this
//! same binary with `--json`, gathered in one JSON document. `llave-bench compare OLD NEW`:
//! each figure's change between two such documents, regressions over 10 % flagged (exit
//! status 1 when there is one), so a baseline kept in docs/bench can be checked against.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct AllArgs {
    /// Where to write the JSON document.
    #[arg(long)]
    json: PathBuf,
    /// The llave binary to run.
    #[arg(long, default_value = "target/release/llave")]
    llave: PathBuf,
    /// Databases, repeatable: `sqlite`, `postgres://…` (a fresh schema each time).
    #[arg(long = "database", default_values = ["sqlite", "postgres://postgres@127.0.0.1:5432/test"])]
    databases: Vec<String>,
    /// Length of each load, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Records of the records benchmark (1,000,000 is the target's size; loading them takes
    /// minutes, most of it on SQLite).
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Entries of the audit log's in-memory verification.
    #[arg(long, default_value_t = 10_000_000)]
    entries: u64,
    /// Measure llave alone (no node `oidc-provider` beside it).
    #[arg(long)]
    skip_reference: bool,
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The older document (e.g. docs/bench/baseline.json).
    old: PathBuf,
    /// The newer document.
    new: PathBuf,
    /// A change for the worse beyond this many percent is a regression.
    #[arg(long, default_value_t = 10.0)]
    threshold: f64,
}

pub async fn all(args: AllArgs) -> ExitCode {
    let llave = args.llave.display().to_string();
    let seconds = args.seconds.to_string();
    let databases: Vec<String> = args.databases.iter().flat_map(|d| ["--database".to_string(), d.clone()]).collect();
    let with = |fixed: &[&str], extra: &[String]| -> Vec<String> {
        let mut all: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
        all.extend_from_slice(extra);
        all
    };
    let mut runs: Vec<(String, Vec<String>)> = Vec::new();
    for database in &args.databases {
        let mut signin = with(&["signin", "--llave", &llave, "--seconds", &seconds], &[]);
        if database != "sqlite" {
            signin.extend(["--database".to_string(), database.clone()]);
        }
        let name = if database == "sqlite" { "signin_sqlite" } else { "signin_postgres" };
        runs.push((name.into(), signin));
    }
    for alg in ["ES256", "RS256"] {
        let mut oidc = with(&["oidc", "--llave", &llave, "--seconds", &seconds, "--alg", alg], &databases);
        if args.skip_reference {
            oidc.push("--skip-reference".into());
        }
        runs.push((format!("oidc_{}", alg.to_lowercase()), oidc));
    }
    runs.push(("catalog".into(), with(&["catalog", "--llave", &llave, "--seconds", &seconds], &databases)));
    runs.push(("signature".into(), with(&["signature", "--llave", &llave, "--seconds", &seconds], &databases)));
    let records = args.records.to_string();
    runs.push((
        "records".into(),
        with(&["records", "--llave", &llave, "--seconds", &seconds, "--records", &records], &databases),
    ));
    runs.push(("sharing".into(), with(&["sharing", "--llave", &llave, "--seconds", &seconds], &databases)));
    let entries = args.entries.to_string();
    runs.push(("audit".into(), with(&["audit", "--entries", &entries], &databases)));

    let me = match std::env::current_exe() {
        Ok(me) => me,
        Err(error) => {
            eprintln!("llave-bench all: cannot find its own binary: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut results = serde_json::Map::new();
    let mut failed = Vec::new();
    for (name, run) in runs {
        eprintln!("llave-bench all: {name}: llave-bench {} --json", run.join(" "));
        let output = tokio::process::Command::new(&me)
            .args(&run)
            .arg("--json")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .output()
            .await;
        let value = match output {
            Ok(output) if output.status.success() => {
                let text = String::from_utf8_lossy(&output.stdout);
                match text.lines().rev().find_map(|line| serde_json::from_str::<Value>(line).ok()) {
                    Some(value) => value,
                    None => json!({ "error": "no JSON in its output" }),
                }
            }
            Ok(output) => json!({ "error": format!("exited with {}", output.status) }),
            Err(error) => json!({ "error": error.to_string() }),
        };
        if value.get("error").is_some() {
            failed.push(name.clone());
        }
        results.insert(name, value);
    }
    let document = json!({
        "llave_bench": env!("CARGO_PKG_VERSION"),
        "at_unix": llave::crypto::now(),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "seconds": args.seconds,
        "records": args.records,
        "benchmarks": Value::Object(results),
    });
    let text = match serde_json::to_string_pretty(&document) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("llave-bench all: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = std::fs::write(&args.json, text + "\n") {
        eprintln!("llave-bench all: cannot write {}: {error}", args.json.display());
        return ExitCode::FAILURE;
    }
    eprintln!("llave-bench all: wrote {}", args.json.display());
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("llave-bench all: failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

/// Whether a larger value of the figure named `key` is better, worse, or not a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Higher,
    Lower,
}

fn direction(key: &str) -> Option<Direction> {
    const SETTINGS: [&str; 14] = [
        "cpus",
        "workers",
        "seconds",
        "records",
        "stores",
        "per_person",
        "acts",
        "concurrency",
        "entries",
        "users",
        "hash_threads",
        "backlog_events",
        "verify_entries",
        "seconds_per_load",
    ];
    if SETTINGS.contains(&key) || key.starts_with("argon2_") || key == "ok" {
        return None;
    }
    if key.contains("per_s") || key.contains("ratio") || key.contains("throughput") {
        return Some(Direction::Higher);
    }
    let lower = ["_ms", "ms_per", "rss", "mib", "kib", "cpu", "failed", "load_seconds", "bytes", "hashes"];
    lower.iter().any(|part| key.contains(part)).then_some(Direction::Lower)
}

/// Every number of `value` by its path (array elements named by their `backend` when they
/// have one, so runs on several databases line up).
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, f64>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                flatten(&format!("{prefix}{}{key}", if prefix.is_empty() { "" } else { "." }), value, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let name = item.get("backend").and_then(Value::as_str).map_or_else(|| i.to_string(), str::to_string);
                flatten(&format!("{prefix}[{name}]"), item, out);
            }
        }
        Value::Number(number) => {
            if let Some(number) = number.as_f64() {
                out.insert(prefix.to_string(), number);
            }
        }
        _ => {}
    }
}

/// The figures both documents have, with their change: `(path, old, new, change %, regression)`.
fn changes(old: &Value, new: &Value, threshold: f64) -> Vec<(String, f64, f64, f64, bool)> {
    let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &old["benchmarks"], &mut before);
    flatten("", &new["benchmarks"], &mut after);
    let mut rows = Vec::new();
    for (path, old) in before {
        let Some(&new) = after.get(&path) else { continue };
        let key = path.rsplit('.').next().unwrap_or(&path);
        let Some(direction) = direction(key) else { continue };
        let change =
            if old == 0.0 { if new == 0.0 { 0.0 } else { f64::INFINITY } } else { (new - old) / old.abs() * 100.0 };
        let worse = match direction {
            Direction::Higher => -change,
            Direction::Lower => change,
        };
        // A count of failures going from 0 to 1 is a regression whatever the percentage.
        let regression = worse > threshold || (key.contains("failed") && new > old);
        rows.push((path, old, new, change, regression));
    }
    rows
}

pub fn compare(args: CompareArgs) -> ExitCode {
    let read = |path: &PathBuf| -> Result<Value, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
    };
    let (old, new) = match (read(&args.old), read(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("llave-bench compare: {error}");
            return ExitCode::FAILURE;
        }
    };
    let rows = changes(&old, &new, args.threshold);
    let width = rows.iter().map(|row| row.0.len()).max().unwrap_or(0);
    for (path, old, new, change, regression) in &rows {
        println!(
            "{path:<width$}  {old:>12.2} → {new:>12.2}  {change:>+8.1} %{}",
            if *regression { "  REGRESSION" } else { "" }
        );
    }
    let regressions = rows.iter().filter(|row| row.4).count();
    println!("{} figures compared, {regressions} regressions over {} %", rows.len(), args.threshold);
    if regressions > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_down_and_latency_up_are_regressions_settings_are_not_figures() {
        let old = json!({"benchmarks": {
            "oidc": {"backends": [{"backend": "sqlite", "cc": {"per_s": 1000.0, "p99_ms": 10.0}}]},
            "signin_sqlite": {"ratio": 0.9, "workers": 8, "failed": 0, "server_peak_rss_mib": 50.0},
        }});
        let new = json!({"benchmarks": {
            "oidc": {"backends": [{"backend": "sqlite", "cc": {"per_s": 850.0, "p99_ms": 10.5}}]},
            "signin_sqlite": {"ratio": 0.95, "workers": 16, "failed": 1, "server_peak_rss_mib": 40.0},
        }});
        let rows = changes(&old, &new, 10.0);
        let find = |path: &str| rows.iter().find(|row| row.0 == path).unwrap_or_else(|| panic!("{path}: {rows:?}"));
        assert!(find("oidc.backends[sqlite].cc.per_s").4, "15 % fewer per second");
        assert!(!find("oidc.backends[sqlite].cc.p99_ms").4, "5 % slower is within 10 %");
        assert!(!find("signin_sqlite.ratio").4, "a higher ratio is better");
        assert!(find("signin_sqlite.failed").4, "a new failure");
        assert!(!find("signin_sqlite.server_peak_rss_mib").4, "less memory is better");
        assert!(rows.iter().all(|row| row.0 != "signin_sqlite.workers"), "settings are not compared");
    }
}
