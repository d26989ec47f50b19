//! The tamper-evident audit log (issue 16): sequencing, tiles, checkpoints, proofs,
//! `llave audit verify`, tampering found, and an outside verifier (Go's sumdb/tlog).

mod auditors;
mod go;
mod log;
mod tampering;
mod witness;

use llave::store::{AccountId, Event, EventKind};

use crate::support::TestApp;

/// `n` events about account `account`, one act each.
pub async fn events(app: &TestApp, account: i64, n: usize) {
    for i in 0..n {
        let event =
            Event::security(EventKind::SignIn, Some(AccountId(account)), "203.0.113.1", "test", &format!("event {i}"));
        app.state.store.record("sign_in", event).await.unwrap();
    }
}

/// Brings the log up to date; returns its size.
pub async fn sequence(app: &TestApp) -> u64 {
    llave::audit::sequencer::sequence(&app.state.store, &app.state.audit).await.unwrap().size as u64
}

/// `llave audit verify` (no data directory, no installation) with `args`.
pub fn verify(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_llave"))
        .args(["audit", "verify"])
        .args(args)
        .env_remove("LLAVE_DATABASE_URL")
        .env_remove("LLAVE_DATA_DIR")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("llave binary")
}

pub fn text(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The verifier key, in a file.
pub fn key_file(app: &TestApp) -> std::path::PathBuf {
    let path = app.dir.path().join("audit.vkey");
    std::fs::write(&path, format!("{}\n", app.state.audit.verifier_key())).unwrap();
    path
}
