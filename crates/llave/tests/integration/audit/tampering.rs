//! Tampering is found: an attacker with the database (who disables the append-only guards,
//! as anyone with its owner's password can) changes, deletes, reorders or inserts an event
//! row → `llave audit verify --database` names the first bad index; a restore of an earlier
//! backup → `verify --since` finds the log shrank, then forked.

use super::{events, sequence, text, verify};
use crate::both_backends;
use crate::support::{Backend, TestApp};

/// Runs `statements` as an attacker: the append-only triggers off first.
async fn attack(app: &TestApp, statements: &[String]) {
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    let mut all: Vec<String> = match app.backend {
        Backend::Sqlite => {
            ["events_no_update", "events_no_delete", "audit_leaves_no_delete", "audit_checkpoints_no_delete"]
                .iter()
                .map(|t| format!("DROP TRIGGER IF EXISTS {t}"))
                .collect()
        }
        Backend::Postgres => vec!["SET session_replication_role = replica".into()],
    };
    all.extend_from_slice(statements);
    if app.backend == Backend::Postgres {
        all.push("RESET session_replication_role".into());
    }
    for statement in all {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// The event id of leaf `idx`.
async fn event_of(app: &TestApp, idx: i64) -> i64 {
    sqlx::query_scalar("SELECT event_id FROM audit_leaves WHERE idx = $1")
        .bind(idx)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap()
}

/// A log of 10 events, with a gap of ids between the 5th and the 6th; verified clean. No
/// background sequencer: it would log the attacker's inserted rows (or sign a checkpoint
/// over the changed ones) behind the test's back, whenever a loaded machine let it run.
async fn logged(backend: Backend) -> (TestApp, String) {
    let (app, base) = TestApp::builder(backend).without_background_sequencer().serve_as_issuer().await;
    events(&app, 1, 5).await;
    let gap = match backend {
        Backend::Sqlite => "UPDATE sqlite_sequence SET seq = seq + 10 WHERE name = 'events'",
        Backend::Postgres => "SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT MAX(id) FROM events) + 10)",
    };
    sqlx::query(gap).execute(app.state.store.pool()).await.unwrap();
    events(&app, 1, 5).await;
    assert_eq!(sequence(&app).await, 10);
    let out = verify(&["--url", &base, "--database", &app.database_url]);
    assert!(out.status.success(), "{}", text(&out));
    (app, base)
}

fn fails_at(base: &str, app: &TestApp, index: u64) {
    let out = verify(&["--url", base, "--database", &app.database_url]);
    assert!(!out.status.success(), "tampering went unnoticed: {}", text(&out));
    assert!(text(&out).contains(&format!("first bad index {index} ")), "{}", text(&out));
}

both_backends! {
    async fn a_changed_event_is_found(backend: Backend) {
        let (app, base) = logged(backend).await;
        let id = event_of(&app, 4).await;
        attack(&app, &[format!("UPDATE events SET detail = 'forged' WHERE id = {id}")]).await;
        fails_at(&base, &app, 4);
    }
}

both_backends! {
    async fn a_deleted_event_is_found(backend: Backend) {
        let (app, base) = logged(backend).await;
        let id = event_of(&app, 6).await;
        attack(&app, &[format!("DELETE FROM events WHERE id = {id}")]).await;
        fails_at(&base, &app, 6);
    }
}

both_backends! {
    async fn reordered_events_are_found(backend: Backend) {
        let (app, base) = logged(backend).await;
        let (a, b) = (event_of(&app, 2).await, event_of(&app, 3).await);
        // The two rows exchange places: each takes the other's act, position and content.
        attack(
            &app,
            &[
                format!("UPDATE events SET act_id = (SELECT act_id FROM events WHERE id = {b}), detail = 'swap' WHERE id = {a}"),
                format!("UPDATE events SET act_id = (SELECT act_id FROM acts WHERE id IN (SELECT act_id FROM events WHERE id = {a})) WHERE id = {b}"),
                format!("UPDATE events SET detail = 'event 3' WHERE id = {a}"),
                format!("UPDATE events SET detail = 'event 2' WHERE id = {b}"),
            ],
        )
        .await;
        fails_at(&base, &app, 2);
    }
}

both_backends! {
    async fn an_inserted_event_is_found(backend: Backend) {
        let (app, base) = logged(backend).await;
        // Into the gap of ids between the 5th and the 6th event: it claims to be older.
        let (fifth, act) = (event_of(&app, 4).await, "(SELECT act_id FROM events ORDER BY id LIMIT 1)");
        let overriding = if backend == Backend::Postgres { "OVERRIDING SYSTEM VALUE" } else { "" };
        attack(
            &app,
            &[format!(
                "INSERT INTO events (id, act_id, seq, at, kind, outcome, actor_kind, actor, purpose, client_address, user_agent) \
                 {overriding} VALUES ({}, {act}, 9, 0, 'sign_in', 'ok', 'person', '', '', '', '')",
                fifth + 3
            )],
        )
        .await;
        fails_at(&base, &app, 5);
    }
}

both_backends! {
    async fn a_restored_backup_is_found_by_verify_since(backend: Backend) {
        let (app, base) = logged(backend).await;
        let key = crate::audit::key_file(&app);
        let saved = app.dir.path().join("saved.checkpoint");
        let (key, saved_path) = (key.to_str().unwrap(), saved.to_str().unwrap());
        let out = verify(&["--url", &base, "--key", key, "--save", saved_path]);
        assert!(out.status.success(), "{}", text(&out));
        // The database goes back to its state at 5 events (a backup taken then).
        let fifth = event_of(&app, 4).await;
        attack(
            &app,
            &[
                "DELETE FROM audit_checkpoints WHERE size > 5".into(),
                "DELETE FROM audit_leaves WHERE idx >= 5".into(),
                format!("DELETE FROM events WHERE id > {fifth}"),
                format!("UPDATE audit_state SET event_floor = {fifth}"),
            ],
        )
        .await;
        let out = verify(&["--url", &base, "--key", key, "--since", saved_path]);
        assert!(!out.status.success());
        assert!(text(&out).contains("the log shrank"), "{}", text(&out));
        // It grows past its old size again, with other events: a fork.
        events(&app, 2, 8).await;
        assert_eq!(sequence(&app).await, 13);
        let out = verify(&["--url", &base, "--key", key, "--since", saved_path]);
        assert!(!out.status.success());
        assert!(text(&out).contains("forked"), "{}", text(&out));
        // On its own, the restored log is a valid log: only the saved checkpoint tells.
        let out = verify(&["--url", &base, "--key", key]);
        assert!(out.status.success(), "{}", text(&out));
    }
}
