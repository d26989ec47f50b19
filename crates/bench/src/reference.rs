//! The reference provider: node-oidc-provider run by `bench/oidc-provider/server.mjs` as a
//! child process (one Node.js process, its default). The script seeds one grant and refresh
//! token per worker through the provider's own models and prints them, with the client's
//! credentials, as one JSON line once it listens.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Where and how to run the reference.
pub struct Reference {
    pub node: PathBuf,
    pub dir: PathBuf,
}

/// What `server.mjs` printed when it was ready.
pub struct Seeded {
    pub client_id: String,
    pub client_secret: String,
    pub service_scope: String,
    pub refresh_tokens: Vec<String>,
}

impl Reference {
    /// `oidc-provider`'s version as installed, or an error saying how to install it.
    pub fn installed_version(&self) -> Result<String, String> {
        let manifest = self.dir.join("node_modules/oidc-provider/package.json");
        let text = std::fs::read_to_string(&manifest).map_err(|_| {
            format!(
                "{} is missing: run `npm ci --prefix {}` first (or pass --skip-reference)",
                manifest.display(),
                self.dir.display()
            )
        })?;
        let manifest: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        Ok(manifest["version"].as_str().unwrap_or("unknown").to_string())
    }

    pub async fn node_version(&self) -> String {
        let output = Command::new(&self.node).arg("--version").output().await.ok();
        output.and_then(|o| String::from_utf8(o.stdout).ok()).map_or_else(|| "unknown".into(), |v| v.trim().into())
    }

    /// Starts `node server.mjs` on `port`, its stderr in `log`; waits up to 60 s for its
    /// ready line.
    pub async fn start(
        &self,
        port: u16,
        refresh_tokens: usize,
        alg: &str,
        log: &Path,
    ) -> Result<(Child, Seeded), String> {
        let log_file = std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let mut child = Command::new(&self.node)
            .arg("server.mjs")
            .args(["--port", &port.to_string(), "--refresh-tokens", &refresh_tokens.to_string(), "--alg", alg])
            .current_dir(&self.dir)
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.node.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout from node")?;
        let failure = |why: String| {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            format!("{why}\nreference log:\n{}", log.trim())
        };
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                    && value["ready"] == true
                {
                    return Some(value);
                }
            }
            None
        })
        .await;
        let ready = match ready {
            Ok(Some(ready)) => ready,
            Ok(None) => return Err(failure("the reference exited before it was ready".into())),
            Err(_) => return Err(failure("the reference was not ready in 60 s".into())),
        };
        // Keep reading (and dropping) stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let text =
            |key: &str| ready[key].as_str().map(str::to_string).ok_or_else(|| format!("ready line without {key}"));
        let seeded = Seeded {
            client_id: text("client_id")?,
            client_secret: text("client_secret")?,
            service_scope: text("service_scope")?,
            refresh_tokens: ready["refresh_tokens"]
                .as_array()
                .map(|tokens| tokens.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        };
        if seeded.refresh_tokens.len() != refresh_tokens {
            return Err(format!(
                "the reference seeded {} refresh tokens, not {refresh_tokens}",
                seeded.refresh_tokens.len()
            ));
        }
        Ok((child, seeded))
    }
}
