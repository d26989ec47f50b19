//! The HTTP side of the metrics: the middleware that counts and times every request by its
//! route's pattern (axum's `MatchedPath`, never the path itself, which may hold an id), and
//! the router of the separate metrics listener (`metrics_listen`), which serves `/metrics`
//! and nothing else: the main listener never answers it.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::metrics::{self, Snapshot};

/// Counts and times the request under its route's pattern.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or("unmatched");
    metrics::http_request(route, method, response.status().as_u16(), started.elapsed());
    response
}

/// A method as a label: the ones llave serves, anything else as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The router of the metrics listener.
pub fn router(app: AppState) -> Router {
    Router::new().route("/metrics", get(scrape)).with_state(app)
}

/// The text format, with the database's figures read now.
async fn scrape(State(app): State<AppState>) -> Response {
    let now = crate::crypto::now();
    let pool = app.store.pool();
    let outbox = match app.store.outbox_depth().await {
        Ok((depth, oldest)) => Some((depth, oldest.map_or(0, |at| now - at))),
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot read the outbox");
            None
        }
    };
    let checkpoint = match app.store.audit_latest_checkpoint().await {
        Ok(latest) => Some(latest.map_or((0, 0), |c| (c.size, now - c.at))),
        Err(error) => {
            tracing::warn!(%error, "metrics: cannot read the audit log");
            None
        }
    };
    let snapshot = Snapshot {
        pool_size: pool.size(),
        pool_idle: pool.num_idle(),
        pool_max: pool.options().get_max_connections(),
        outbox,
        checkpoint,
    };
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(metrics::CONTENT_TYPE)),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        metrics::render(&snapshot),
    )
        .into_response()
}
