use axum::http::StatusCode;

use llave::store::{AccountId, Event, EventKind};

use super::{events, key_file, sequence, text, verify};
use crate::both_backends;
use crate::support::{Backend, TestApp};

both_backends! {
    async fn every_event_becomes_a_leaf_and_the_log_verifies(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        events(&app, 1, 300).await;
        let size = sequence(&app).await;
        let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(app.state.store.pool()).await.unwrap();
        assert_eq!(size as i64, logged, "every event is a leaf");
        assert!(size >= 300);

        let client = reqwest::Client::new();
        let checkpoint = client.get(format!("{base}/audit/checkpoint")).send().await.unwrap().text().await.unwrap();
        let origin = base.trim_start_matches("http://").to_string() + "/audit";
        assert!(checkpoint.starts_with(&format!("{origin}\n{size}\n")), "{checkpoint}");
        assert!(checkpoint.contains(&format!("\n\n\u{2014} {origin} ")), "{checkpoint}");
        let key = client.get(format!("{base}/audit/key")).send().await.unwrap().text().await.unwrap();
        assert!(key.starts_with(&format!("{origin}+")), "{key}");
        let cli_key = crate::support::llave(&app, &["audit", "key"], None);
        assert_eq!(String::from_utf8_lossy(&cli_key.stdout), key);

        // A full tile: 256 hashes, immutable; the partial one after it short-lived.
        let full = client.get(format!("{base}/audit/tile/0/000")).send().await.unwrap();
        assert_eq!(full.status(), StatusCode::OK);
        assert_eq!(full.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(full.bytes().await.unwrap().len(), 256 * 32);
        let width = size - 256;
        let partial = client.get(format!("{base}/audit/tile/0/001.p/{width}")).send().await.unwrap();
        assert_eq!(partial.status(), StatusCode::OK);
        assert!(!partial.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        assert_eq!(partial.bytes().await.unwrap().len() as u64, width * 32);
        let bundle = client.get(format!("{base}/audit/tile/entries/000")).send().await.unwrap().bytes().await.unwrap();
        let entries = tlog::tiles::parse_bundle(&bundle).unwrap();
        assert_eq!(entries.len(), 256);
        let first = String::from_utf8(entries[0].clone()).unwrap();
        assert!(first.starts_with("{\"account\":") && first.ends_with("\"v\":1}"), "{first}");
        assert!(!first.contains("203.0.113.1"), "no address in the public log: {first}");
        for missing in ["tile/0/001", "tile/1/000", "tile/0/002.p/1", "tile/0/1", "tile/entries/001"] {
            let response = client.get(format!("{base}/audit/{missing}")).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        }

        // llave audit verify: with the key file, saving the checkpoint; then --since it.
        let key = key_file(&app);
        let saved = app.dir.path().join("checkpoint.txt");
        let out = verify(&["--url", &base, "--key", key.to_str().unwrap(), "--save", saved.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains(&format!("{size} entries")), "{}", text(&out));
        assert_eq!(std::fs::read_to_string(&saved).unwrap(), checkpoint);
        events(&app, 2, 5).await;
        let grown = sequence(&app).await;
        let out = verify(&["--url", &base, "--since", saved.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}", text(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["size"], grown);
        assert_eq!(json["consistent_with"], size);
        // The operator's mode: every row against its leaf.
        let out = verify(&["--url", &base, "--database", &app.database_url]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains(&format!("{grown} event rows match")), "{}", text(&out));
    }
}

both_backends! {
    async fn a_wrong_key_fails_verification(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        events(&app, 1, 3).await;
        sequence(&app).await;
        let other = tlog::note::NoteSigner::new(app.state.audit.origin(), ed25519_dalek::SigningKey::from_bytes(&[5; 32]));
        let path = app.dir.path().join("other.vkey");
        std::fs::write(&path, other.verifier_key()).unwrap();
        let out = verify(&["--url", &base, "--key", path.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(text(&out).contains("not validly signed"), "{}", text(&out));
    }
}

/// An act (PostgreSQL) that has written its row and one event, with `tx` as the event's
/// transaction (`NULL`: none named), left open; and the event's id.
async fn open_act_with_an_event(app: &TestApp, tx: &str) -> (llave::store::Tx, i64) {
    let mut act = app.state.store.begin_act("early").await.unwrap();
    sqlx::query("INSERT INTO acts (id, name, at, events) VALUES ('early-act', 'early', 0, 1)")
        .execute(act.conn())
        .await
        .unwrap();
    let id: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "INSERT INTO events (act_id, seq, at, kind, outcome, actor_kind, actor, purpose, client_address, user_agent, tx) \
         VALUES ('early-act', 0, 0, 'sign_in', 'ok', 'person', '', '', '', '', {tx}) RETURNING id"
    )))
    .fetch_one(act.conn())
    .await
    .unwrap();
    (act, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_committers_are_logged_after_the_acts_that_committed_first() {
    // PostgreSQL only: on SQLite acts commit one at a time, in id order.
    let app = TestApp::new(Backend::Postgres).await;
    events(&app, 1, 2).await;
    // An act takes its event id, and commits after a later act did.
    let (early, early_id) = open_act_with_an_event(&app, "NULL").await;
    events(&app, 1, 1).await;
    let before = sequence(&app).await;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(app.state.store.pool()).await.unwrap();
    assert_eq!(before as i64, rows, "everything committed is logged; the open act is not");
    early.commit().await.unwrap();
    let after = sequence(&app).await;
    assert_eq!(after, before + 1, "the late committer is found although later ids are logged");
    let (idx, _) = app.state.store.audit_leaf_of_event(early_id).await.unwrap().expect("a leaf");
    assert_eq!(idx as u64, before, "appended in commit order: after the act that committed first");
    let higher: i64 = sqlx::query_scalar("SELECT MAX(event_id) FROM audit_leaves WHERE idx < $1")
        .bind(idx)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert!(higher > early_id);
}

both_backends! {
    async fn a_person_gets_a_proof_of_their_own_events_only(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = crate::support::Person::synthetic(9160);
        crate::support::sign_up_and_confirm(&app, &person).await;
        let mut client = app.client();
        client.sign_in(&person.email, &person.password).await;
        let account: i64 = sqlx::query_scalar("SELECT id FROM accounts WHERE email = $1")
            .bind(&person.email)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
        let own: i64 = sqlx::query_scalar("SELECT MAX(id) FROM events WHERE account_id = $1")
            .bind(account)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
        let response = client.get(&format!("/audit/proof/{own}")).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let proof = tlog::proof::TlogProof::parse(&response.body).expect("a tlog-proof");
        let verifier = tlog::note::NoteVerifier::parse(&app.state.audit.verifier_key()).unwrap();
        let checkpoint = tlog::note::Checkpoint::open(&proof.checkpoint, &verifier).unwrap();
        let leaf = tlog::leaf_hash(proof.extra.as_deref().unwrap());
        tlog::merkle::verify_inclusion(&leaf, proof.index, checkpoint.size, &proof.proof, &checkpoint.root).unwrap();
        // Someone else's event, and no session at all.
        super::events(&app, account + 1000, 1).await;
        let other: i64 = sqlx::query_scalar("SELECT MAX(id) FROM events").fetch_one(app.state.store.pool()).await.unwrap();
        assert_eq!(client.get(&format!("/audit/proof/{other}")).await.status, StatusCode::NOT_FOUND);
        assert_ne!(app.client().get(&format!("/audit/proof/{own}")).await.status, StatusCode::OK);
        // The CLI proves any event, with the same index.
        let out = crate::support::llave(&app, &["audit", "prove", &own.to_string()], None);
        assert!(out.status.success(), "{}", super::text(&out));
        let cli = tlog::proof::TlogProof::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert_eq!(cli.index, proof.index);
    }
}

both_backends! {
    async fn the_log_key_can_live_on_a_pkcs11_token(backend: Backend) {
        // `audit.key_on_token`: the log's Ed25519 key is made on the token of
        // `signature.pkcs11` on first use and signs there; the same key on every later run;
        // the checkpoints it signs verify under the key `audit key` prints, not the file's.
        let token = crate::signature::SoftHsmStore::new();
        let app = TestApp::builder(backend).without_background_sequencer().build().await;
        let on_token = |args: &[&str]| {
            let mut command = token.llave(&app);
            command.env("LLAVE_AUDIT__KEY_ON_TOKEN", "true").args(args);
            command
        };
        let first = on_token(&["audit", "key"]).output().await.unwrap();
        assert!(first.status.success(), "{}", text(&first));
        let token_key = String::from_utf8_lossy(&first.stdout).trim().to_string();
        let again = on_token(&["audit", "key"]).output().await.unwrap();
        assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), token_key, "one key on the token, found again");
        assert_ne!(token_key, app.state.audit.verifier_key().trim(), "not the key file's");

        events(&app, 1, 5).await;
        let event: i64 = sqlx::query_scalar("SELECT MAX(id) FROM events").fetch_one(app.state.store.pool()).await.unwrap();
        let out = on_token(&["audit", "prove", &event.to_string()]).output().await.unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let proof = tlog::proof::TlogProof::parse(&String::from_utf8_lossy(&out.stdout)).expect("a tlog-proof");
        let verifier = tlog::note::NoteVerifier::parse(&token_key).unwrap();
        let checkpoint = tlog::note::Checkpoint::open(&proof.checkpoint, &verifier).expect("signed on the token");
        assert!(checkpoint.size >= 5);
        let file_key = tlog::note::NoteVerifier::parse(app.state.audit.verifier_key().trim()).unwrap();
        assert!(tlog::note::Checkpoint::open(&proof.checkpoint, &file_key).is_err());

        // Without a token configured, key_on_token is refused with a clear error.
        let mut command = token.llave(&app);
        command
            .env_remove("LLAVE_SIGNATURE__PKCS11__MODULE")
            .env_remove("LLAVE_SIGNATURE__PKCS11__TOKEN_LABEL")
            .env_remove("LLAVE_SIGNATURE__PKCS11__PIN")
            .env("LLAVE_AUDIT__KEY_ON_TOKEN", "true").args(["audit", "key"]);
        let out = command.output().await.unwrap();
        assert!(!out.status.success());
        assert!(text(&out).contains("signature.pkcs11"), "{}", text(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_committer_is_found_behind_the_transaction_horizon() {
    // PostgreSQL only: the horizon is the oldest transaction still running when a run begins.
    let app = TestApp::new(Backend::Postgres).await;
    events(&app, 1, 2).await;
    sequence(&app).await;
    // An act writes its event as every act does (naming its transaction), and stays open
    // while later acts commit and runs move the horizon up.
    let (mut early, early_id) = open_act_with_an_event(&app, "pg_current_xact_id()::text::bigint").await;
    for _ in 0..3 {
        events(&app, 1, 2).await;
        sequence(&app).await;
    }
    let horizon: i64 =
        sqlx::query_scalar("SELECT tx_horizon FROM audit_state").fetch_one(app.state.store.pool()).await.unwrap();
    let early_tx: i64 =
        sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint").fetch_one(early.conn()).await.unwrap();
    assert!(horizon > 0 && horizon <= early_tx, "the horizon ({horizon}) stops at the open act ({early_tx})");
    let logged: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(app.state.store.pool()).await.unwrap();
    early.commit().await.unwrap();
    let size = sequence(&app).await;
    assert_eq!(size as i64, logged + 1, "the late committer is appended");
    assert!(app.state.store.audit_leaf_of_event(early_id).await.unwrap().is_some());
    // Every event carries its transaction on PostgreSQL: acts, and token answers' one statement.
    let untagged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE tx IS NULL")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(untagged, 0);
    app.finish().await;
}

both_backends! {
    async fn runs_end_and_sign_while_acts_keep_committing(backend: Backend) {
        let app = TestApp::new(backend).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut writers = Vec::new();
        for w in 0..4 {
            let store = app.state.store.clone();
            let stop = stop.clone();
            writers.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let event = Event::security(EventKind::SignIn, Some(AccountId(w)), "203.0.113.1", "test", &format!("{i}"));
                    store.record("sign_in", event).await.unwrap();
                    i += 1;
                }
            }));
        }
        // Each run appends what had committed when it began, commits and signs, although the
        // writers never pause (a run that chased them would not end while they write).
        let mut sizes = Vec::new();
        for _ in 0..3 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let run = tokio::time::timeout(std::time::Duration::from_secs(60), sequence(&app)).await;
            sizes.push(run.expect("a run ends while acts keep committing"));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for writer in writers {
            writer.await.unwrap();
        }
        assert!(sizes.windows(2).all(|pair| pair[0] < pair[1]), "each run signed a bigger checkpoint: {sizes:?}");
        let size = sequence(&app).await;
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events").fetch_one(app.state.store.pool()).await.unwrap();
        assert_eq!(size as i64, rows, "every event is in the log once the writers stop");
        app.finish().await;
    }
}
