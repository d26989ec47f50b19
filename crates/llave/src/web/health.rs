//! The health endpoints a load balancer and an orchestrator ask: `/healthz` (the process
//! serves HTTP) and `/readyz` (this node can answer requests: the database answers, its
//! migrations are the ones this binary carries, the token-signing keys load, and the
//! key-encryption key is the one the database's data is sealed under). A node that is not
//! ready answers 503 with a JSON body naming each check that failed.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::AppState;

/// The longest any one check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn healthz() -> &'static str {
    "ok"
}

/// What `/readyz` answers.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The checks that failed, by name.
    pub not_ready: Vec<&'static str>,
    /// Every check, by name: `ok`, or what is wrong.
    pub checks: BTreeMap<&'static str, String>,
}

pub async fn readyz(State(app): State<AppState>) -> Response {
    let readiness = readiness(&app).await;
    let status = if readiness.not_ready.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if status != StatusCode::OK {
        tracing::warn!(not_ready = ?readiness.not_ready, "not ready");
    }
    (status, Json(readiness)).into_response()
}

/// Runs every check (each bounded by [`CHECK_TIMEOUT`]).
pub async fn readiness(app: &AppState) -> Readiness {
    let mut checks = BTreeMap::new();
    checks.insert("database", check(async { app.store.ping().await.map_err(|e| e.to_string()) }).await);
    checks.insert(
        "migrations",
        check(async {
            let status = app.store.migration_status().await.map_err(|e| e.to_string())?;
            if status.missing.is_empty() {
                Ok(())
            } else {
                Err(format!("the database lacks migrations {:?} of this binary: run `llave migrate`", status.missing))
            }
        })
        .await,
    );
    checks.insert(
        "keys",
        check(async {
            let ring = app.keys.ring(&app.store).await.map_err(|e| e.to_string())?;
            match crate::keys::ALGORITHMS.iter().find(|alg| ring.signing(alg).is_none()) {
                Some(alg) => Err(format!("no current {alg} signing key")),
                None => Ok(()),
            }
        })
        .await,
    );
    checks.insert(
        "kek",
        check(async {
            match app.keystore.matches_database(&app.store).await {
                Ok(true) => Ok(()),
                Ok(false) => Err("the key-encryption key is not the one the database records".to_string()),
                Err(error) => Err(error.to_string()),
            }
        })
        .await,
    );
    let not_ready = checks.iter().filter(|(_, v)| v.as_str() != "ok").map(|(k, _)| *k).collect();
    let status = if checks.values().all(|v| v == "ok") { "ready" } else { "not_ready" };
    Readiness { status, not_ready, checks }
}

async fn check(work: impl Future<Output = Result<(), String>>) -> String {
    match tokio::time::timeout(CHECK_TIMEOUT, work).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(problem)) => problem,
        Err(_) => format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
    }
}
