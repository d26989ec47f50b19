//! The llave under test: accounts, entities and clients made with its CLI, the server run
//! as a child process, its readiness awaited and its peak memory and CPU time read from
//! `/proc` before it is stopped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt as _;
use tokio::process::{Child, Command};

/// A person the bench signs in as.
pub struct User {
    pub curp: String,
    pub email: String,
    pub password: String,
}

/// Where and how to run `llave`.
pub struct Llave {
    pub binary: PathBuf,
    pub data_dir: PathBuf,
    pub database: Option<String>,
}

impl Llave {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--data-dir").arg(&self.data_dir);
        if let Some(url) = &self.database {
            command.arg("--database").arg(url);
        }
        command.env("LLAVE_LOG", "warn").kill_on_drop(true);
        command
    }

    /// Creates `count` accounts with confirmed e-mail through `llave citizen add`. The
    /// people come from `curp::Synth`, seeded per run so a shared PostgreSQL can be reused.
    pub async fn add_users(&self, count: usize, seed: u64) -> Result<Vec<User>, String> {
        let mut synth = curp::Synth::new(seed);
        let mut users = Vec::with_capacity(count);
        for n in 0..count {
            let person = synth.person();
            let curp = synth.curp(&person).as_str().to_string();
            let email = format!("user{n}.{:x}@bench.localhost", seed & 0xffff_ffff);
            let password = format!("bench llave nopal {n}");
            let mut command = self.command();
            command
                .args(["citizen", "add", "--curp", &curp])
                .args(["--given-names", &person.given_names])
                .args(["--first-surname", &person.first_surname]);
            if let Some(second) = &person.second_surname {
                command.args(["--second-surname", second]);
            }
            command
                .args(["--birth-date", &person.birth_date.to_string()])
                .args(["--sex", &person.sex.as_char().to_string()])
                .args(["--state", person.state.code()])
                .args(["--email", &email])
                .args(["--password-stdin", "--email-confirmed", "--json"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = command.spawn().map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(format!("{password}\n").as_bytes())
                    .await
                    .map_err(|e| format!("cannot write the password to llave: {e}"))?;
            }
            let output = child.wait_with_output().await.map_err(|e| format!("llave citizen add: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "llave citizen add {curp} failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            users.push(User { curp, email, password });
        }
        Ok(users)
    }

    /// `llave init`: the data directory and its database (the other commands create none).
    pub async fn init(&self) -> Result<(), String> {
        self.cli_json(&["init"]).await.map(|_| ())
    }

    /// Runs `llave ARGS --json` and parses what it prints.
    pub async fn cli_json(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let output = self
            .command()
            .args(args)
            .arg("--json")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        if !output.status.success() {
            return Err(format!(
                "llave {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("llave {} printed no JSON: {e}", args.first().copied().unwrap_or_default()))
    }

    /// Starts `llave serve` on `port`, its log in `DATA_DIR/server.log`.
    pub fn serve(&self, port: u16) -> Result<Child, String> {
        let log_path = self.log_path();
        let log = std::fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        self.command()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))
    }

    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("server.log")
    }
}

/// Waits up to 30 s for `GET /readyz` to answer 200; fails early if the server exits.
pub async fn wait_ready(child: &mut Child, base: &str, log: &Path) -> Result<(), String> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let failure = |why: String| {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        format!("{why}\nserver log:\n{}", log.trim())
    };
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(failure(format!("llave serve exited at start ({status})")));
        }
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status() == reqwest::StatusCode::OK
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(failure(format!("{base}/readyz did not answer 200 in 30 s")))
}

/// Peak resident set size (`VmHWM`) of a live process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User plus system CPU time a live process has used so far, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // proc(5): the fields after "(comm)" start at field 3; utime and stime are 14 and 15.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// CPU time (user + system, clock ticks) of every PostgreSQL process on this machine (`comm`
/// `postgres`: the postmaster, the backends, the WAL writer and checkpointer): what the
/// database spends for a load when it runs here. Backends that exit during a load are not
/// counted (llave's pool keeps its connections).
pub fn database_cpu_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres"))
        .filter_map(cpu_ticks)
        .sum()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless built otherwise).
pub async fn clock_ticks_per_second() -> u64 {
    let output = Command::new("getconf").arg("CLK_TCK").output().await.ok();
    output.and_then(|o| String::from_utf8(o.stdout).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(100)
}

/// SIGTERM (graceful shutdown), then a kill if it has not exited after 10 s.
pub async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// An access token of a client's own (`client_credentials`) with `scope`.
pub async fn service_token(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> Result<String, String> {
    let answer: serde_json::Value = http
        .post(format!("{base}/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    answer["access_token"].as_str().map(str::to_string).ok_or_else(|| format!("no access token: {answer}"))
}
