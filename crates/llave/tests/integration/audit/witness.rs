//! A witness run as a second process (`llave witness serve`) cosigns the hub's checkpoints,
//! which the hub publishes; a forged split view (another checkpoint of a size already
//! cosigned, validly signed with the log's key) is refused and reported by the witness, and
//! found by `llave audit verify --since`.

use std::io::BufRead;

use tlog::witness::CosignerKey;

use super::{events, text, verify};
use crate::support::{Backend, TestApp};

struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn llave_bin(args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_llave"));
    command.args(args).env_remove("LLAVE_DATABASE_URL").env_remove("LLAVE_DATA_DIR").current_dir(std::env::temp_dir());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_process_cosigns_and_refuses_a_split_view() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("witness");
    let name = "auditoria.example/witness";
    let out = llave_bin(&["witness", "key", "--name", name, "--state-dir", state.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let witness_key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let witness_url = format!("http://127.0.0.1:{port}");
    let (app, base) = TestApp::builder(Backend::Sqlite)
        .config(|c| {
            c.audit.witnesses =
                vec![llave::config::WitnessConfig { url: witness_url.clone(), key: witness_key.clone() }]
        })
        .without_background_sequencer()
        .serve_as_issuer()
        .await;
    let mut child = llave_bin(&[
        "witness",
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--name",
        name,
        "--state-dir",
        state.to_str().unwrap(),
        "--log",
        &app.state.audit.verifier_key(),
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let _witness = Running(child);
    assert!(first.contains("listening on"), "{first}");

    // The hub submits; the witness cosigns; the hub publishes the cosigned checkpoint.
    events(&app, 1, 20).await;
    let checkpoint = llave::audit::sequencer::sequence(&app.state.store, &app.state.audit).await.unwrap();
    llave::audit::witnesses::submit_all(&app.state, &checkpoint).await;
    let http = reqwest::Client::new();
    let published = http.get(format!("{base}/audit/checkpoint")).send().await.unwrap().text().await.unwrap();
    let key = CosignerKey::parse(&witness_key).unwrap();
    let body = tlog::note::Note::parse(&checkpoint.note).unwrap().text;
    assert_eq!(key.valid_lines(&body, &published).len(), 1, "{published}");
    // It grows: the next one is cosigned through a consistency proof.
    events(&app, 1, 300).await;
    let grown = llave::audit::sequencer::sequence(&app.state.store, &app.state.audit).await.unwrap();
    llave::audit::witnesses::submit_all(&app.state, &grown).await;
    let published = http.get(format!("{base}/audit/checkpoint")).send().await.unwrap().text().await.unwrap();
    let body = tlog::note::Note::parse(&grown.note).unwrap().text;
    assert_eq!(key.valid_lines(&body, &published).len(), 1, "{published}");
    // verify still accepts the checkpoint with its cosignature.
    let saved = dir.path().join("saved.checkpoint");
    let out = verify(&["--url", &base, "--save", saved.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    // A stale size: 409 with the witness's size.
    let add = format!("{witness_url}/add-checkpoint");
    let stale = http.post(&add).body(tlog::witness::request(0, &[], &grown.note)).send().await.unwrap();
    assert_eq!(stale.status().as_u16(), 409);
    assert_eq!(stale.headers()["content-type"], "text/x.tlog.size");
    assert_eq!(stale.text().await.unwrap(), format!("{}\n", grown.size));

    // A split view: the log's key signs another tree of the same size.
    let log_key = llave::audit::key::open_file(&app.state.config.audit_key_file()).unwrap();
    let signer = tlog::note::NoteSigner::new(app.state.audit.origin(), log_key);
    let forged = signer
        .sign(
            &tlog::note::Checkpoint {
                origin: app.state.audit.origin().into(),
                size: grown.size as u64,
                root: [7; 32],
                extensions: vec![],
            }
            .text(),
        )
        .unwrap();
    let refused = http.post(&add).body(tlog::witness::request(grown.size as u64, &[], &forged)).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 422);
    let report = http.get(format!("{witness_url}/misbehaviour")).send().await.unwrap().text().await.unwrap();
    assert!(report.contains("split view") && report.contains(&format!("size {}", grown.size)), "{report}");
    // A bad consistency proof: 422 too.
    events(&app, 1, 3).await;
    let next = llave::audit::sequencer::sequence(&app.state.store, &app.state.audit).await.unwrap();
    let bad =
        http.post(&add).body(tlog::witness::request(grown.size as u64, &[[1; 32]], &next.note)).send().await.unwrap();
    assert_eq!(bad.status().as_u16(), 422);

    // verify --since: the forged checkpoint against the hub's of the same size is a split view.
    let forged_file = dir.path().join("forged.checkpoint");
    std::fs::write(&forged_file, &forged).unwrap();
    let hub_now = grown.size; // the hub is at `next` now: grow the forged one to compare sizes
    let _ = hub_now;
    let same_size = signer
        .sign(
            &tlog::note::Checkpoint {
                origin: app.state.audit.origin().into(),
                size: next.size as u64,
                root: [9; 32],
                extensions: vec![],
            }
            .text(),
        )
        .unwrap();
    std::fs::write(&forged_file, &same_size).unwrap();
    let out = verify(&["--url", &base, "--since", forged_file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("split view"), "{}", text(&out));
}
