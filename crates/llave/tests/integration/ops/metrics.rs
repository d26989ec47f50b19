//! `/metrics`: served on its own listener only, in the Prometheus text format (parsed here
//! by the `prometheus-parse` crate), with the families and labels operators graph, and
//! counts that move with traffic.

use axum::http::StatusCode;
use base64::Engine;
use llave::oidc::clients::NewClient;
use prometheus_parse::{Sample, Scrape, Value};

use crate::both_backends;
use crate::support::*;

/// Scrapes the metrics router of `app` (what the metrics listener serves).
async fn scrape(app: &TestApp) -> (String, Scrape) {
    let mut client = Client::new(llave::web::metrics::router(app.state.clone()), "127.0.0.1");
    let answer = client.get("/metrics").await;
    assert_eq!(answer.status, StatusCode::OK);
    let content_type = answer.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let scrape = Scrape::parse(answer.body.lines().map(|l| Ok(l.to_string()))).expect("the Prometheus text format");
    (answer.body, scrape)
}

fn value(sample: &Sample) -> f64 {
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
        Value::Summary(_) => f64::NAN,
    }
}

/// The sum of the samples of `metric` whose labels include every pair of `labels`.
fn total(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(value)
        .sum()
}

fn has(scrape: &Scrape, metric: &str) -> bool {
    scrape.samples.iter().any(|s| s.metric == metric)
}

both_backends! {
    async fn metrics_count_requests_sign_ins_and_grants_on_their_own_listener(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut client = app.client();
        // Not on the main listener.
        assert_eq!(client.get("/metrics").await.status, StatusCode::NOT_FOUND);
        let (_, before) = scrape(&app).await;

        let person = Person::synthetic(1801);
        sign_up_and_confirm(&app, &person).await;
        assert_eq!(app.client().sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        app.client().sign_in(&person.curp, "no es la contraseña").await;
        // A path with an id in it is counted under its route's pattern, never the path.
        client.get("/no-such-page/secret-path-7f3a").await;
        llave::admin::entity::add_entity(&app.state, "tesoreria", "Tesorería").await.unwrap();
        let new = NewClient {
            entity: "tesoreria".into(),
            name: "Back end".into(),
            redirect_uris: vec!["https://tesoreria.example/cb".into()],
            ..Default::default()
        };
        let registered = llave::admin::entity::add_client(&app.state.store, &new).await.unwrap();
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", registered.client_id, registered.client_secret.clone().unwrap()));
        let auth = format!("Basic {basic}");
        let issued = client
            .request_with_header("POST", "/token", ("authorization", &auth), b"grant_type=client_credentials".to_vec())
            .await;
        assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
        let refused = client
            .request_with_header("POST", "/token", ("authorization", &auth), b"grant_type=refresh_token&refresh_token=x".to_vec())
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        crate::audit::sequence(&app).await;

        let (text, after) = scrape(&app).await;
        let moved = |metric: &str, labels: &[(&str, &str)]| total(&after, metric, labels) - total(&before, metric, labels);
        assert!(moved("llave_http_requests_total", &[("route", "/signin"), ("method", "POST"), ("status", "303")]) >= 1.0, "{text}");
        assert!(moved("llave_http_requests_total", &[("route", "/token"), ("status", "200")]) >= 1.0, "{text}");
        assert!(moved("llave_http_requests_total", &[("route", "unmatched"), ("status", "404")]) >= 1.0, "{text}");
        assert!(moved("llave_http_request_duration_seconds", &[("route", "/signin"), ("method", "POST")]) >= 1.0, "{text}");
        assert!(!text.contains("secret-path-7f3a"), "a raw path became a label:\n{text}");
        assert!(moved("llave_sign_ins_total", &[("outcome", "success")]) >= 1.0, "{text}");
        assert!(moved("llave_sign_ins_total", &[("outcome", "invalid")]) >= 1.0, "{text}");
        assert!(moved("llave_token_grants_total", &[("grant_type", "client_credentials"), ("outcome", "issued")]) >= 1.0);
        assert!(moved("llave_token_grants_total", &[("grant_type", "refresh_token"), ("outcome", "refused")]) >= 1.0);
        assert!(moved("llave_audit_checkpoints_total", &[]) >= 1.0, "{text}");
        assert!(moved("llave_db_acquire_seconds_count", &[]) >= 1.0, "{text}");
        // Read from the database at scrape time.
        assert!(total(&after, "llave_audit_log_entries", &[]) >= 1.0, "{text}");
        assert!(total(&after, "llave_db_pool_max_connections", &[]) >= 1.0, "{text}");
        assert!(total(&after, "llave_db_pool_connections", &[]) >= 1.0, "{text}");
        for family in [
            "llave_outbox_undelivered",
            "llave_outbox_oldest_age_seconds",
            "llave_db_pool_idle_connections",
            "llave_argon2_waiting",
            "llave_argon2_in_progress",
            "llave_audit_checkpoint_age_seconds",
        ] {
            assert!(has(&after, family), "{family} in\n{text}");
        }
        for (family, kind) in [
            ("llave_http_requests_total", "counter"),
            ("llave_http_request_duration_seconds", "histogram"),
            ("llave_sign_ins_total", "counter"),
            ("llave_token_grants_total", "counter"),
            ("llave_outbox_undelivered", "gauge"),
        ] {
            assert!(text.contains(&format!("# TYPE {family} {kind}")), "{family} is a {kind}");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn the_outbox_depth_and_age_are_read_from_the_database(backend: Backend) {
        let app = TestApp::new(backend).await;
        // A message that cannot be delivered yet, queued a minute ago.
        let now = llave::crypto::now();
        sqlx::query(
            "INSERT INTO outbox (message_id, act_id, kind, payload, lang, created_at, next_attempt_at) \
             VALUES ('m-metrics', 'a-metrics', 'mail', '{}', 'es', $1, $2)",
        )
        .bind(now - 60)
        .bind(now + 3600)
        .execute(app.state.store.pool())
        .await
        .unwrap();
        let (text, scrape) = scrape(&app).await;
        assert_eq!(total(&scrape, "llave_outbox_undelivered", &[]), 1.0, "{text}");
        assert!(total(&scrape, "llave_outbox_oldest_age_seconds", &[]) >= 60.0, "{text}");
        app.finish().await;
    }
}
