//! Registering third parties and their clients with the CLI, and the published purposes.

use axum::http::StatusCode;
use serde_json::json;

use super::support::*;
use crate::both_backends;
use crate::support::*;

both_backends! {
    async fn third_parties_are_registered_with_published_purposes(backend: Backend) {
        let app = TestApp::new(backend).await;
        let added = json_of(&llave(&app, &["third-party", "add", "--slug", "banco-ejemplo",
            "--legal-name", "Banco del Ejemplo, S.A.", "--tax-id", "BEJ990101AB1",
            "--purposes", "apertura_cuenta,credito", "--json"], None));
        assert_eq!(added["slug"], "banco-ejemplo");
        assert_eq!(added["legal_name"], "Banco del Ejemplo, S.A.");
        assert_eq!(added["tax_id"], "BEJ990101AB1");
        assert_eq!(added["purposes"], json!(["apertura_cuenta", "credito"]));
        let listed = json_of(&llave(&app, &["third-party", "list", "--json"], None));
        assert_eq!(listed[0]["slug"], "banco-ejemplo");
        assert_eq!(app.count("SELECT COUNT(*) FROM events WHERE kind = 'third_party_registered'").await, 1);

        // Unknown purposes, a bad RFC and a taken slug are refused, with a clear message.
        let unknown = llave(&app, &["third-party", "add", "--slug", "casino", "--legal-name", "Casino",
            "--tax-id", "CAS990101AB1", "--purposes", "apuestas"], None);
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("apuestas"));
        let bad_rfc = llave(&app, &["third-party", "add", "--slug", "otro", "--legal-name", "Otro",
            "--tax-id", "NOT-AN-RFC", "--purposes", "credito"], None);
        assert!(!bad_rfc.status.success());
        let taken = llave(&app, &["third-party", "add", "--slug", "banco-ejemplo", "--legal-name", "Otro",
            "--tax-id", "OTR990101AB1", "--purposes", "credito"], None);
        assert!(!taken.status.success());
        assert_eq!(json_of(&llave(&app, &["third-party", "list", "--json"], None)).as_array().unwrap().len(), 1);

        // The purposes: the CLI and the open data say the same, in Spanish.
        let purposes = json_of(&llave(&app, &["third-party", "purposes", "--json"], None));
        let account = purposes.as_array().unwrap().iter().find(|p| p["code"] == "apertura_cuenta").unwrap();
        assert_eq!(account["title"], "Abrir una cuenta bancaria");
        assert!(account["description"].as_str().unwrap().len() > 20);
        let open = app.client().get("/datos/propositos.json").await;
        assert_eq!(open.status, StatusCode::OK);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&open.body).unwrap(), purposes);
        app.finish().await;
    }
}

both_backends! {
    async fn third_party_clients_are_confidential_fapi_clients(backend: Backend) {
        let app = TestApp::new(backend).await;
        third_party(&app, "banco").await;
        let key = Key::es256("k1");
        let jwks_file = app.dir.path().join("banco.jwks.json");
        std::fs::write(&jwks_file, json!({ "keys": [key.jwk] }).to_string()).unwrap();
        let jwks = jwks_file.to_str().unwrap();
        let base = ["client", "add", "--third-party", "banco", "--name", "Banca en línea", "--jwks-file", jwks,
            "--redirect-uri", "https://banco.example/callback"];
        let with = |extra: &[&'static str]| -> Vec<String> {
            base.iter().chain(extra.iter()).map(|s| s.to_string()).collect()
        };
        let run = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            llave(&app, &args, None)
        };
        let added = json_of(&run(with(&["--notify-uri", "https://banco.example/avisos", "--require-jar", "--json"])));
        assert_eq!(added["third_party"], "banco");
        assert_eq!(added["token_endpoint_auth_method"], "private_key_jwt");
        assert_eq!(added["fapi"], true);
        assert_eq!(added["require_pushed_authorization_requests"], true);
        assert_eq!(added["require_signed_request_object"], true);
        assert_eq!(added["notify_uri"], "https://banco.example/avisos");
        assert!(added.get("client_secret").is_none(), "no secret for a third party's client");
        let client_id = added["client_id"].as_str().unwrap();
        let shown = json_of(&llave(&app, &["client", "show", client_id, "--json"], None));
        assert_eq!((shown["fapi"].clone(), shown["third_party"].clone(), shown["entity"].clone()), (json!(true), json!(true), json!("banco")));
        let stored = app.state.store.client_by_id(client_id).await.unwrap().unwrap();
        assert!(stored.fapi && stored.require_par && stored.entity_id.is_none());
        assert_eq!(stored.id_token_alg, "ES256");

        // Public, secrets, RS256 tokens, a JWKS with a private key, an unknown third party:
        // refused with a clear error.
        for (extra, says) in [
            (vec!["--public"], "confidential"),
            (vec!["--auth-method", "client_secret_basic"], "private_key_jwt"),
            (vec!["--id-token-alg", "RS256"], "RS256"),
        ] {
            let refused = run(with(&extra));
            assert!(!refused.status.success(), "{extra:?}");
            assert!(String::from_utf8_lossy(&refused.stderr).contains(says), "{}", String::from_utf8_lossy(&refused.stderr));
        }
        let mut private = key.jwk.clone();
        private["d"] = json!("c2VjcmV0");
        std::fs::write(&jwks_file, json!({ "keys": [private] }).to_string()).unwrap();
        assert!(!run(with(&[])).status.success());
        let unknown = llave(&app, &["client", "add", "--third-party", "nadie", "--name", "X", "--jwks-file", jwks,
            "--redirect-uri", "https://x.example/cb"], None);
        assert!(!unknown.status.success());
        // --entity and --third-party together, and --require-jar for an entity, are refused.
        let both = llave(&app, &["client", "add", "--entity", "x", "--third-party", "banco", "--name", "X",
            "--redirect-uri", "https://x.example/cb"], None);
        assert!(!both.status.success());
        app.finish().await;
    }
}

both_backends! {
    async fn clients_registered_before_0020_keep_their_rows_and_references(backend: Backend) {
        use sqlx::Row;
        let fresh = FreshDatabase::new(backend).await;
        let all: Vec<sqlx::migrate::Migration> = fresh.store.backend().migrator().iter().cloned().collect();
        let before: Vec<sqlx::migrate::Migration> = all.iter().filter(|m| m.version < 20).cloned().collect();
        sqlx::migrate::Migrator::with_migrations(before).run(fresh.store.pool()).await.expect("up to 0019");
        let pool = fresh.store.pool();
        sqlx::query("INSERT INTO entities (slug, name, created_at) VALUES ('agua', 'Sistema de Aguas', 1)").execute(pool).await.unwrap();
        sqlx::query(
            "INSERT INTO clients (client_id, entity_id, name, auth_method, redirect_uris, post_logout_redirect_uris, \
             allowed_claims, id_token_alg, require_par, created_at) \
             SELECT 'c-old', id, 'Portal', 'client_secret_basic', '[\"https://agua.example/cb\"]', '[]', '[]', 'RS256', 0, 1 \
             FROM entities WHERE slug = 'agua'",
        ).execute(pool).await.unwrap();
        sqlx::query("INSERT INTO grants (id, client_id, scope, acr, amr, auth_time, created_at) VALUES ('g1', 'c-old', 'lookups', '', '', 1, 1)")
            .execute(pool).await.unwrap();
        sqlx::query("INSERT INTO pushed_requests (request_uri, client_id, params, created_at, expires_at) VALUES ('u1', 'c-old', 'x=1', 1, 2)")
            .execute(pool).await.unwrap();

        fresh.store.migrate().await.expect("0020 applies over rows");

        let client = fresh.store.client_by_id("c-old").await.unwrap().expect("the client is kept");
        assert!(client.entity_id.is_some() && client.third_party.is_none() && !client.fapi);
        assert_eq!((client.entity_slug.as_str(), client.access_token_alg.as_str()), ("agua", "RS256"));
        assert!(fresh.store.grant_by_id("g1").await.unwrap().is_some());
        assert_eq!(fresh.count("SELECT COUNT(*) FROM pushed_requests WHERE client_id = 'c-old'").await, 1);
        if backend == Backend::Sqlite {
            let broken = sqlx::query("PRAGMA foreign_key_check").fetch_all(pool).await.unwrap();
            assert!(broken.is_empty(), "every reference still resolves");
            let on: i64 = sqlx::query("PRAGMA foreign_keys").fetch_one(pool).await.unwrap().get(0);
            assert_eq!(on, 1, "foreign keys are on again");
        }
        // A client belongs to an entity or to a third party: neither, or both, is refused.
        let orphan = sqlx::query(
            "INSERT INTO clients (client_id, name, auth_method, redirect_uris, post_logout_redirect_uris, \
             allowed_claims, id_token_alg, require_par, created_at) VALUES ('c-x', 'X', 'none', '[]', '[]', '[]', 'ES256', 0, 1)",
        ).execute(pool).await;
        assert!(orphan.is_err());
        fresh.finish().await;
    }
}
