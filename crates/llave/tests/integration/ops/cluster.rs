//! What every node of a cluster must share: the key-encryption key (a node without it, or
//! with another, refuses to start), and the token-signing keys (made once however many
//! nodes start together).

use std::collections::BTreeMap;

use llave::config::Config;

use crate::both_backends;
use crate::support::*;

/// Another node's configuration: the same database, its own data directory and KEK file.
fn node(app: &TestApp, kek_file: std::path::PathBuf) -> Config {
    let mut config = app.state.config.clone();
    config.data_dir = app.dir.path().join("other-node");
    config.kek_file = Some(kek_file);
    config
}

both_backends! {
    async fn a_node_without_the_clusters_key_encryption_key_refuses_to_start(backend: Backend) {
        let app = TestApp::new(backend).await;
        let kek = std::fs::read_to_string(app.state.config.kek_file()).unwrap();

        // No file: the database already records a KEK, so no new one is made.
        let missing = app.dir.path().join("elsewhere/kek.key");
        let error = llave::start(node(&app, missing.clone())).await.err().expect("refused without the file");
        let text = error.to_string();
        assert!(text.contains(&missing.display().to_string()) && text.contains("missing"), "{text}");
        assert!(text.contains("kek_file") && text.contains("LLAVE_KEK_FILE"), "{text}");
        assert!(!missing.exists(), "no key was made");

        // Another key in the file.
        let other = app.dir.path().join("other.key");
        std::fs::write(&other, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
        let text = llave::start(node(&app, other.clone())).await.err().expect("refused with another key").to_string();
        assert!(text.contains(&other.display().to_string()) && text.contains("another key"), "{text}");

        // The same key, copied: the node starts.
        let copy = app.dir.path().join("copy.key");
        std::fs::write(&copy, &kek).unwrap();
        let second = llave::start(node(&app, copy.clone())).await.expect("the same key starts");
        second.store.close().await;

        // A database used before fingerprints were recorded: a missing file is refused too,
        // and the right file has its fingerprint recorded.
        let pool = app.state.store.pool();
        sqlx::query("DELETE FROM server_secrets WHERE name = 'kek_fingerprint'").execute(pool).await.unwrap();
        let text = llave::start(node(&app, missing.clone())).await.err().expect("refused").to_string();
        assert!(text.contains("missing") && text.contains(&missing.display().to_string()), "{text}");
        let third = llave::start(node(&app, copy)).await.expect("the right key starts");
        third.store.close().await;
        assert_eq!(app.count("SELECT COUNT(*) FROM server_secrets WHERE name = 'kek_fingerprint'").await, 1);
        app.finish().await;
    }
}

/// Three nodes start at once on an empty PostgreSQL schema and each asks for its keys at
/// once: one current key per algorithm, and the same JWKS from all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_starting_together_make_one_signing_key_per_algorithm() {
    let database = FreshDatabase::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let config = |n: usize| Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        issuer: Some("http://127.0.0.1:8080".into()),
        database_url: Some(database.url.clone()),
        data_dir: dir.path().join(format!("node-{n}")),
        // The one KEK every node is given (here made by whichever node starts first).
        kek_file: Some(dir.path().join("kek.key")),
        ..Config::default()
    };
    let (a, b, c) = tokio::join!(llave::start(config(1)), llave::start(config(2)), llave::start(config(3)));
    let nodes = [a.expect("node 1"), b.expect("node 2"), c.expect("node 3")];
    let (x, y, z) = tokio::join!(
        nodes[0].keys.ring(&nodes[0].store),
        nodes[1].keys.ring(&nodes[1].store),
        nodes[2].keys.ring(&nodes[2].store)
    );
    let jwks = [x.unwrap().jwks(), y.unwrap().jwks(), z.unwrap().jwks()];
    assert_eq!(jwks[0]["keys"].as_array().unwrap().len(), 3, "{}", jwks[0]);
    assert!(jwks.iter().all(|set| *set == jwks[0]), "{jwks:?}");
    // What each node publishes at /jwks, too.
    let mut published = Vec::new();
    for state in &nodes {
        let router = llave::app::router(state.clone());
        let mut client = Client::new(router, "203.0.113.10");
        let answer = client.get("/jwks").await;
        assert_eq!(answer.status, axum::http::StatusCode::OK, "{}", answer.body);
        published.push(answer.body);
    }
    assert!(published.iter().all(|set| *set == published[0]), "{published:?}");
    use sqlx::Row;
    let rows = sqlx::query("SELECT alg, COUNT(*) AS n FROM signing_keys WHERE retired_at IS NULL GROUP BY alg")
        .fetch_all(database.store.pool())
        .await
        .unwrap();
    let current: BTreeMap<String, i64> = rows.iter().map(|r| (r.get("alg"), r.get("n"))).collect();
    assert_eq!(current, BTreeMap::from([("EdDSA".into(), 1), ("ES256".into(), 1), ("RS256".into(), 1)]));
    assert_eq!(database.count("SELECT COUNT(*) FROM signing_keys").await, 3, "no node kept a key of its own");
    for state in &nodes {
        state.store.close().await;
    }
    database.finish().await;
}

both_backends! {
    async fn the_purge_runs_on_one_node_per_round(backend: Backend) {
        let app = TestApp::new(backend).await;
        let now = llave::crypto::now();
        // Two nodes tick at once: one purges, the other skips the round.
        let first = llave::purge_if_due(&app.state, "node-a", now).await.unwrap();
        let second = llave::purge_if_due(&app.state, "node-b", now).await.unwrap();
        assert!(first.is_some() && second.is_none(), "{first:?} {second:?}");
        // Within the round, not even the node that purged purges again.
        assert!(llave::purge_if_due(&app.state, "node-a", now + 600).await.unwrap().is_none());
        // The next round: whichever node ticks first.
        let next = now + llave::PURGE_EVERY.as_secs() as i64;
        assert!(llave::purge_if_due(&app.state, "node-b", next).await.unwrap().is_some());
        assert!(llave::purge_if_due(&app.state, "node-a", next).await.unwrap().is_none());
        app.finish().await;
    }
}
