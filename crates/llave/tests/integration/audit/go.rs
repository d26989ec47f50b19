//! The outside verifier: a Go program using only golang.org/x/mod/sumdb/note and
//! sumdb/tlog (Debian's golang-go and golang-golang-x-mod-dev, built offline in GOPATH
//! mode) verifies llave's checkpoint signature, an inclusion proof of a chosen event and a
//! consistency proof between two checkpoints.

use super::{events, key_file, sequence};
use crate::support::{Backend, TestApp};

/// Builds tests/audit-go once per test run (into the test's directory).
fn build(dir: &std::path::Path) -> std::path::PathBuf {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/audit-go/main.go");
    let binary = dir.join("audit-go");
    let out = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&binary)
        .arg(&source)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", dir.join("go-cache"))
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .output()
        .expect("go (Debian package golang-go; .ci/run installs it)");
    assert!(out.status.success(), "go build: {}", String::from_utf8_lossy(&out.stderr));
    binary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_sumdb_tlog_verifies_the_checkpoint_an_inclusion_and_a_consistency_proof() {
    let (app, base) = TestApp::builder(Backend::Sqlite).serve_as_issuer().await;
    let binary = build(app.dir.path());
    events(&app, 1, 70).await;
    sequence(&app).await;
    let old = app.dir.path().join("old.checkpoint");
    std::fs::write(&old, app.state.store.audit_latest_checkpoint().await.unwrap().unwrap().note).unwrap();
    // Enough to need a level-1 tile: more than 256 entries.
    events(&app, 2, 400).await;
    let size = sequence(&app).await;
    let chosen: i64 = sqlx::query_scalar("SELECT id FROM events WHERE account_id = 2 ORDER BY id LIMIT 1 OFFSET 123")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let out = crate::support::llave(&app, &["audit", "prove", &chosen.to_string()], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let proof = app.dir.path().join("event.tlog-proof");
    std::fs::write(&proof, &out.stdout).unwrap();

    let key = key_file(&app);
    let run = |proof: &std::path::Path| {
        std::process::Command::new(&binary)
            .args(["-url", &base, "-key", key.to_str().unwrap(), "-proof"])
            .arg(proof)
            .arg("-old")
            .arg(&old)
            .output()
            .unwrap()
    };
    let out = run(&proof);
    let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains(&format!("{size} entries, signature and tiles verified")), "{said}");
    assert!(said.contains("inclusion: entry"), "{said}");
    assert!(said.contains(&format!("consistency: the tree of 70 entries is a prefix of the tree of {size}")), "{said}");

    // A forged proof (another entry) is refused by the same independent code.
    let text = String::from_utf8(std::fs::read(&proof).unwrap()).unwrap();
    let mut forged = tlog::proof::TlogProof::parse(&text).unwrap();
    forged.extra = Some(b"{\"forged\":true}".to_vec());
    let forged_path = app.dir.path().join("forged.tlog-proof");
    std::fs::write(&forged_path, forged.text()).unwrap();
    let out = run(&forged_path);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("inclusion proof"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
