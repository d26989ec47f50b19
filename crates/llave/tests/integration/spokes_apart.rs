//! Spokes apart (issue 18, item 3): an entity's records on a PostgreSQL server of its own
//! (`llave entity add --store`, `llave entity set-store`). That server going down fails that
//! entity's records only — `503 store_unavailable` with `Retry-After` in the API, a notice on
//! the person's file, which still shows everything else — and they come back with it. The
//! "server" is the test PostgreSQL behind a TCP proxy the test can cut.

use std::net::SocketAddr;

use axum::http::StatusCode;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::oidc::support::{api_call, entity, signed_in_person};
use crate::records::{ADDRESS, world};
use crate::support::{Backend, postgres_base_url};

/// A TCP proxy to the test PostgreSQL: `stop` closes the port and every connection through it.
struct Proxy {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(address: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(address).await.expect("a loopback port");
        let address = listener.local_addr().unwrap();
        let upstream = postgres_address();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy { address, task }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@{}/test", self.address)
    }

    /// The server is down: the port refuses, the open connections are cut.
    async fn stop(self) -> SocketAddr {
        self.task.abort();
        let _ = self.task.await;
        self.address
    }
}

/// Where the test PostgreSQL listens (host:port of `postgres_base_url`).
fn postgres_address() -> SocketAddr {
    let url = postgres_base_url();
    let host = url.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("127.0.0.1:5432");
    host.parse().unwrap_or_else(|_| "127.0.0.1:5432".parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_store_on_its_own_server_that_is_down_fails_only_its_records() {
    let w = world(Backend::Postgres).await;
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap()).await;
    // A slug of its own: its schema goes into the shared test database.
    let slug = format!("remota-{}", &llave::crypto::random_id().to_lowercase().replace(['-', '_'], "x")[..8]);
    let schema = format!("llave_entity_{}", slug.replace('-', "_"));
    let d = entity(&w.app, &w.base, &slug, true).await;

    // Moved to the server of its own while empty; refused where no PostgreSQL answers.
    let nowhere = "postgres://postgres@127.0.0.1:1/test";
    assert!(llave::admin::entity::set_entity_store(&w.app.state, &slug, nowhere).await.is_err());
    assert!(llave::admin::entity::set_entity_store(&w.app.state, &slug, "sqlite://x.db").await.is_err());
    let moved = llave::admin::entity::set_entity_store(&w.app.state, &slug, &proxy.url()).await.expect("moved");
    assert_eq!(moved.records, 0);

    let (person, mut browser) = signed_in_person(&w.app, 18_003).await;
    w.residence_at_b(&person.curp).await;
    let d_write = crate::oidc::support::service_token(&w.base, &d, "records:write records:read").await;
    let (status, stored) = api_call(
        &w.base,
        "POST",
        "/api/records",
        Some(&d_write),
        Some(json!({"curp": person.curp, "kind": "other", "attributes": {"folio": "R-18"}})),
    )
    .await;
    assert_eq!(status, 201, "{stored}");
    let id = stored["record_id"].as_str().unwrap().to_string();
    // The contents are on the entity's server, in its schema there.
    let direct = sqlx::AnyPool::connect(&postgres_base_url()).await.unwrap();
    let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{schema}\".records")))
        .fetch_one(&direct)
        .await
        .unwrap();
    assert_eq!(rows, 1);

    // Its server goes down.
    let address = proxy.stop().await;
    let (status, body) = api_call(&w.base, "GET", &format!("/api/records/{id}"), Some(&d_write), None).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("store_unavailable")), "{body}");
    assert!(body["error_description"].as_str().unwrap().contains(&slug), "{body}");
    let raw = reqwest12::Client::new()
        .get(format!("{}/api/records/{id}", w.base))
        .bearer_auth(&d_write)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["retry-after"], "5");
    // The rest of llave works: the other entity's records, the person's file.
    let b_read = crate::oidc::support::service_token(&w.base, &w.b, "records:read").await;
    let (status, list) =
        api_call(&w.base, "GET", &format!("/api/records?curp={}", person.curp), Some(&b_read), None).await;
    assert_eq!(status, 200, "{list}");
    let file = browser.get("/expediente").await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.body);
    assert!(file.body.contains(ADDRESS), "the hub-stored record is shown whole");
    assert!(file.body.contains("no responde en este momento"), "{}", file.body);
    assert!(!file.body.contains("R-18"));

    // Back up: the same pool reconnects.
    let proxy = Proxy::start(address).await;
    let (status, body) = api_call(&w.base, "GET", &format!("/api/records/{id}"), Some(&d_write), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["attributes"]["folio"], "R-18");
    let file = browser.get("/expediente").await;
    assert!(file.body.contains("R-18") && !file.body.contains("no responde en este momento"));

    // A move to a server whose store holds fewer records than the current one is refused.
    let empty = format!("llave_t_{}", &llave::crypto::random_id().to_lowercase().replace(['-', '_'], "x")[..10]);
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {empty}"))).execute(&direct).await.unwrap();
    let elsewhere = format!("postgres://postgres@{}/{empty}", postgres_address());
    let refused = llave::admin::entity::set_entity_store(&w.app.state, &slug, &elsewhere).await;
    let message = refused.expect_err("fewer records there").to_string();
    assert!(message.contains("holds 0 record versions") && message.contains("copy"), "{message}");
    let (status, _) = api_call(&w.base, "GET", &format!("/api/records/{id}"), Some(&d_write), None).await;
    assert_eq!(status, 200, "still read where it was");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {empty} WITH (FORCE)"))).execute(&direct).await.unwrap();

    proxy.stop().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")))
        .execute(&direct)
        .await
        .unwrap();
    direct.close().await;
    w.app.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_store_url_must_be_a_postgres_server_that_answers() {
    let app = crate::support::TestApp::new(Backend::Sqlite).await;
    let refused = llave::admin::entity::add_entity_with_store(&app.state, "agua", "Aguas", Some("sqlite://x.db")).await;
    assert!(refused.unwrap_err().to_string().contains("postgres://"));
    let down = "postgres://postgres@127.0.0.1:1/test";
    let refused = llave::admin::entity::add_entity_with_store(&app.state, "agua", "Aguas", Some(down)).await;
    assert!(refused.unwrap_err().to_string().contains("does not answer"));
    assert!(app.state.store.entity_by_slug("agua").await.unwrap().is_none(), "nothing registered");
    app.finish().await;
}
