//! A database that fails over (issue 18, item 2): what llave answers while the database is
//! unavailable — a 503 with `Retry-After`, OAuth's `temporarily_unavailable` on the protocol
//! endpoints and a page in the person's language elsewhere, never a 500 and never a success
//! for a write that did not commit — how its pool recovers when its connections are cut, and
//! the read-mostly answers a replica gives (`--database-replica`; PostgreSQL only).
//! The whole cluster (Patroni, etcd, HAProxy, three nodes, `kill -9` of the primary) is
//! `scripts/cluster-test`.

use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use llave::store::Store;

use crate::both_backends;
use crate::support::{Backend, Person, TestApp, postgres_base_url};

fn assert_unavailable_page(response: &crate::support::Response, text: &str) {
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE, "{}", response.body);
    assert_eq!(response.headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("5"));
    assert!(response.body.contains(text), "{}", response.body);
}

fn assert_temporarily_unavailable(response: &crate::support::Response) {
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE, "{}", response.body);
    assert_eq!(response.headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("5"));
    let error: serde_json::Value = serde_json::from_str(&response.body).expect("an OAuth error object");
    assert_eq!(error["error"], "temporarily_unavailable", "{error}");
}

both_backends! {
    async fn a_database_that_is_gone_answers_503_with_retry_after(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut client = app.client();
        let person = Person::synthetic(18_001);
        let sign_in = [("identifier", person.curp.as_str()), ("password", person.password.as_str()), ("next", "/")];
        // Every connection gone, as when the primary died under the pool.
        app.state.store.pool().close().await;

        // A page, in the person's language (the sign-in form is served without the database;
        // its POST needs it).
        assert_unavailable_page(&client.submit("/signin", "/signin", &sign_in).await, "Servicio no disponible");
        client.accept_language = Some("en".into());
        assert_unavailable_page(&client.submit("/signin", "/signin", &sign_in).await, "Service unavailable");
        // The protocol endpoints: RFC 6749's temporarily_unavailable, for a read and a write.
        assert_temporarily_unavailable(&client.get("/jwks").await);
        let token = client
            .post("/token", &[("grant_type", "client_credentials"), ("client_id", "portal"), ("client_secret", "x")])
            .await;
        assert_temporarily_unavailable(&token);
        // Not a database matter: still the page it always was.
        assert_eq!(client.get("/no-such-page").await.status, StatusCode::NOT_FOUND);
    }
}

/// A role of the test's own whose sessions can be made read-only and cut, as when the
/// primary a node was connected to comes back as a standby.
struct Role {
    name: String,
}

impl Role {
    async fn create() -> Role {
        let name = format!("llave_t_{}", llave::crypto::random_id().to_lowercase().replace(['-', '_'], "x"));
        let admin = Store::connect(&postgres_base_url()).await.expect("PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE ROLE {name} LOGIN SUPERUSER")))
            .execute(admin.pool())
            .await
            .unwrap();
        admin.close().await;
        Role { name }
    }

    /// Every later session of the role is read-only; its current ones are cut.
    async fn make_read_only_and_cut(&self) {
        let admin = Store::connect(&postgres_base_url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("ALTER ROLE {} SET default_transaction_read_only = on", self.name)))
            .execute(admin.pool())
            .await
            .unwrap();
        self.cut(&admin).await;
        admin.close().await;
    }

    async fn cut_sessions(&self) {
        let admin = Store::connect(&postgres_base_url()).await.unwrap();
        self.cut(&admin).await;
        admin.close().await;
    }

    async fn cut(&self, admin: &Store) {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(&self.name)
            .execute(admin.pool())
            .await
            .unwrap();
    }

    async fn drop(self) {
        let admin = Store::connect(&postgres_base_url()).await.unwrap();
        self.cut(&admin).await;
        for sql in [format!("DROP OWNED BY {} CASCADE", self.name), format!("DROP ROLE {}", self.name)] {
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(admin.pool()).await;
        }
        admin.close().await;
    }
}

/// A TestApp on PostgreSQL whose connections are `role`'s.
async fn app_as(role: &Role) -> TestApp {
    let app = TestApp::builder(Backend::Postgres).build().await;
    let schema = app.schema.clone().expect("a PostgreSQL schema");
    let url = app.database_url.replacen("://postgres@", &format!("://{}@", role.name), 1);
    assert_ne!(url, app.database_url, "LLAVE_TEST_POSTGRES_URL must connect as user postgres for this test");
    let admin = Store::connect(&postgres_base_url()).await.unwrap();
    for sql in [
        format!("GRANT ALL ON SCHEMA {schema} TO {}", role.name),
        format!("GRANT ALL ON ALL TABLES IN SCHEMA {schema} TO {}", role.name),
        format!("GRANT ALL ON ALL SEQUENCES IN SCHEMA {schema} TO {}", role.name),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(admin.pool()).await.unwrap();
    }
    admin.close().await;
    let config = app.state.config.clone();
    app.state.store.close().await;
    let store = Store::connect(&url).await.expect("connect as the role");
    let state = llave::services(config, store).await.expect("services");
    let router = llave::app::router(state.clone());
    TestApp { state, router, ..app }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_replaces_connections_cut_under_it() {
    let role = Role::create().await;
    let app = app_as(&role).await;
    let mut client = app.client();
    assert_eq!(client.get("/tramites").await.status, StatusCode::OK);
    // Every server connection ends (a failover, a restart): the next request opens new ones.
    role.cut_sessions().await;
    assert_eq!(client.get("/tramites").await.status, StatusCode::OK);
    assert_eq!(client.get("/jwks").await.status, StatusCode::OK);
    app.finish().await;
    role.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_refused_by_a_read_only_server_is_a_503_and_nothing_is_saved() {
    let role = Role::create().await;
    let app = app_as(&role).await;
    let mut client = app.client();
    let person = Person::synthetic(18_002);
    let signup = client.get("/signup").await;
    assert_eq!(signup.status, StatusCode::OK);
    // The server this node reaches is now a standby: reads pass, writes are refused.
    role.make_read_only_and_cut().await;
    let token = crate::support::input_value(&signup.body, "csrf_token").expect("a CSRF token");
    let mut fields = vec![("csrf_token", token.as_str())];
    fields.extend(person.signup_fields());
    let response = client.post("/signup", &fields).await;
    assert_unavailable_page(&response, "Servicio no disponible");
    assert!(!response.body.contains(&person.email), "no sign-up confirmation: {}", response.body);
    assert_eq!(client.get("/tramites").await.status, StatusCode::OK, "reads still pass");
    let admin = Store::connect(&app.database_url).await.unwrap();
    let accounts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(admin.pool()).await.unwrap();
    assert_eq!(accounts, 0, "the refused sign-up left nothing");
    admin.close().await;
    app.finish().await;
    role.drop().await;
}

/// The kids of a JWKS answer.
fn kids(body: &str) -> Vec<String> {
    let jwks: serde_json::Value = serde_json::from_str(body).expect("a JWKS");
    let mut kids: Vec<String> =
        jwks["keys"].as_array().expect("keys").iter().filter_map(|k| k["kid"].as_str().map(str::to_string)).collect();
    kids.sort();
    kids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_mostly_answers_come_from_the_replica_and_from_the_primary_when_it_is_down() {
    // The "replica": another database with keys of its own, so an answer tells where it came from.
    let replica = TestApp::new(Backend::Postgres).await;
    let replica_kids = kids(&replica.client().get("/jwks").await.body);
    assert!(!replica_kids.is_empty());

    let with_replica = |url: String| {
        let kek = replica.state.config.kek_file();
        TestApp::builder(Backend::Postgres).config(move |c| {
            c.database_replica = Some(url);
            // A replica holds the primary's data, sealed under the same key-encryption key.
            c.kek_file = Some(kek);
        })
    };
    let app = with_replica(replica.database_url.clone()).build().await;
    // The builder connects without the replica (as `llave::start` would with it): attach it.
    let mut store = app.state.store.clone();
    store.attach_replica(&replica.database_url).expect("a PostgreSQL replica");
    assert!(store.has_replica());
    let config = app.state.config.clone();
    let state = llave::services(config.clone(), store).await.expect("services");
    let router = llave::app::router(state.clone());
    let app = TestApp { state, router, ..app };
    assert_eq!(kids(&app.client().get("/jwks").await.body), replica_kids, "JWKS from the replica");
    assert_eq!(app.client().get("/tramites").await.status, StatusCode::OK);

    // A replica that is down: the primary answers.
    let down = "postgres://postgres@127.0.0.1:1/test".to_string();
    let primary = with_replica(down.clone()).build().await;
    let mut store = primary.state.store.clone();
    store.attach_replica(&down).expect("a PostgreSQL replica");
    let state = llave::services(primary.state.config.clone(), store).await.expect("services");
    let router = llave::app::router(state.clone());
    let primary = TestApp { state, router, ..primary };
    let answer = primary.client().get("/jwks").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_ne!(kids(&answer.body), replica_kids);
    assert_eq!(primary.client().get("/api/catalog/procedures").await.status, StatusCode::OK);

    primary.finish().await;
    app.finish().await;
    replica.finish().await;
}

#[tokio::test]
async fn a_replica_is_refused_with_sqlite_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = llave::config::Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        database_replica: Some("postgres://postgres@127.0.0.1:5432/test".into()),
        ..Default::default()
    };
    let error = llave::Config::load(None, &overrides).expect_err("refused").to_string();
    assert!(error.contains("--database-replica") && error.contains("SQLite"), "{error}");

    // A PostgreSQL database with a replica that is not PostgreSQL is refused too.
    let overrides = llave::config::Overrides {
        data_dir: Some(dir.path().to_path_buf()),
        database_url: Some("postgres://postgres@127.0.0.1:5432/test".into()),
        database_replica: Some("sqlite://replica.db".into()),
        ..Default::default()
    };
    let error = llave::Config::load(None, &overrides).expect_err("refused").to_string();
    assert!(error.contains("postgres://"), "{error}");

    // And the store itself refuses, whatever built its configuration.
    let mut store = Store::connect(&format!("sqlite://{}", dir.path().join("llave.db").display())).await.unwrap();
    assert!(store.attach_replica("postgres://postgres@127.0.0.1:5432/test").is_err());
    store.close().await;
}

#[tokio::test]
async fn the_cli_refuses_a_replica_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_llave"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--database-replica", "postgres://postgres@127.0.0.1:5432/test"])
        .env_remove("LLAVE_DATABASE_URL")
        .env_remove("LLAVE_DATABASE_REPLICA")
        .output()
        .expect("llave binary");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs a PostgreSQL"), "{stderr}");
}
