//! `/healthz` and `/readyz`: each readiness check, and a 503 naming what is not ready.

use axum::http::StatusCode;

use crate::both_backends;
use crate::support::*;

fn json(response: &Response) -> serde_json::Value {
    serde_json::from_str(&response.body).unwrap_or_else(|e| panic!("{e}: {}", response.body))
}

both_backends! {
    async fn readiness_names_each_check_that_fails(backend: Backend) {
        let app = TestApp::new(backend).await;
        let pool = app.state.store.pool();
        let mut client = app.client();
        assert_eq!(client.get("/healthz").await.body, "ok");
        let ready = client.get("/readyz").await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
        let body = json(&ready);
        assert_eq!(body["status"], "ready");
        assert_eq!(body["not_ready"], serde_json::json!([]));
        for check in ["database", "migrations", "keys", "kek"] {
            assert_eq!(body["checks"][check], "ok", "{check}: {body}");
        }

        // A migration of this binary that the database has not applied.
        let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(pool).await.unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET success = FALSE WHERE version = $1").bind(newest).execute(pool).await.unwrap();
        let missing = client.get("/readyz").await;
        assert_eq!(missing.status, StatusCode::SERVICE_UNAVAILABLE);
        let body = json(&missing);
        assert_eq!(body["status"], "not_ready");
        assert_eq!(body["not_ready"], serde_json::json!(["migrations"]), "{body}");
        assert!(body["checks"]["migrations"].as_str().unwrap().contains(&newest.to_string()), "{body}");
        sqlx::query("UPDATE _sqlx_migrations SET success = TRUE WHERE version = $1").bind(newest).execute(pool).await.unwrap();
        assert_eq!(client.get("/readyz").await.status, StatusCode::OK);

        // The database records another key-encryption key.
        let recorded: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = 'kek_fingerprint'")
            .fetch_one(pool).await.unwrap();
        sqlx::query("UPDATE server_secrets SET value = 'v1.another' WHERE name = 'kek_fingerprint'").execute(pool).await.unwrap();
        let body = json(&client.get("/readyz").await);
        assert_eq!(body["not_ready"], serde_json::json!(["kek"]), "{body}");
        sqlx::query("UPDATE server_secrets SET value = $1 WHERE name = 'kek_fingerprint'").bind(&recorded).execute(pool).await.unwrap();

        // Signing keys that cannot be loaded.
        sqlx::query("UPDATE signing_keys SET private_pem = 'damaged'").execute(pool).await.unwrap();
        app.state.keys.invalidate();
        let damaged = client.get("/readyz").await;
        assert_eq!(damaged.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json(&damaged)["not_ready"], serde_json::json!(["keys"]), "{}", damaged.body);

        // The database gone.
        app.state.store.close().await;
        let gone = client.get("/readyz").await;
        assert_eq!(gone.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(json(&gone)["not_ready"].as_array().unwrap().contains(&"database".into()), "{}", gone.body);
        assert_eq!(client.get("/healthz").await.status, StatusCode::OK, "alive all the same");
        app.finish().await;
    }
}
