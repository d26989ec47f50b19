//! The published log (C2SP `tlog-tiles` under `/audit/`), cacheable by shared caches, and a
//! person's proofs.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /audit/checkpoint` | the newest signed checkpoint (`text/plain`, not cached) |
//! | `GET /audit/key` | the log's verifier key, as Go's `sumdb/note` reads it |
//! | `GET /audit/tile/<L>/<N>[.p/<W>]` | a tile of hashes (full: `immutable`) |
//! | `GET /audit/tile/entries/<N>[.p/<W>]` | an entry bundle |
//! | `GET /audit/proof/{event}` | a C2SP `tlog-proof` of one of the signed-in person's events |

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tlog::tiles::Tile;

use crate::AppState;
use crate::web::session::SignedIn;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit/checkpoint", get(checkpoint))
        .route("/audit/key", get(verifier_key))
        .route("/audit/tile/{*path}", get(tile))
        .route("/audit/proof/{event}", get(proof))
}

/// Full tiles never change: a year, immutable. Partial ones are replaced by wider ones.
const FULL: &str = "public, max-age=31536000, immutable";
const PARTIAL: &str = "public, max-age=60";

fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "audit log unavailable");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, [(CACHE_CONTROL, "no-store")], format!("{what}\n")).into_response()
}

async fn checkpoint(State(app): State<AppState>) -> Response {
    match app.store.audit_latest_checkpoint().await {
        Ok(Some(checkpoint)) => {
            // The witnesses' cosignatures follow the log's own signature.
            let cosignatures = match app.store.audit_cosignatures(checkpoint.size).await {
                Ok(lines) => lines.concat(),
                Err(error) => return internal(error),
            };
            let note = checkpoint.note + &cosignatures;
            ([(CONTENT_TYPE, "text/plain; charset=utf-8"), (CACHE_CONTROL, "no-cache")], note).into_response()
        }
        Ok(None) => not_found("no checkpoint yet"),
        Err(error) => internal(error),
    }
}

async fn verifier_key(State(app): State<AppState>) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; charset=utf-8"), (CACHE_CONTROL, "public, max-age=3600")],
        format!("{}\n", app.audit.verifier_key()),
    )
        .into_response()
}

async fn tile(State(app): State<AppState>, Path(path): Path<String>) -> Response {
    let Some(wanted) = Tile::parse(&format!("tile/{path}")) else {
        return not_found("no such tile");
    };
    let size = match app.store.audit_latest_checkpoint().await {
        Ok(Some(checkpoint)) => checkpoint.size as u64,
        Ok(None) => 0,
        Err(error) => return internal(error),
    };
    // Served only as far as a signed checkpoint covers.
    match Tile::for_size(wanted.level, wanted.index, size) {
        Some(available) if available.width >= wanted.width => {}
        _ => return not_found("no such tile"),
    }
    let body = match wanted.level {
        Some(level) => {
            app.store.audit_hashes(level, wanted.start(), wanted.width).await.map(|h| tlog::tiles::tile_bytes(&h))
        }
        None => app
            .store
            .audit_entries(wanted.start(), wanted.width)
            .await
            .map(|entries| tlog::tiles::bundle(entries.iter().map(Vec::as_slice))),
    };
    match body {
        Ok(body) => {
            let cache = if wanted.width == tlog::merkle::TILE_WIDTH { FULL } else { PARTIAL };
            ([(CONTENT_TYPE, "application/octet-stream"), (CACHE_CONTROL, cache)], body).into_response()
        }
        Err(error) => internal(error),
    }
}

/// A proof of one of the person's own events; another's (or an unknown one) is a 404 alike.
async fn proof(State(app): State<AppState>, s: SignedIn, Path(event): Path<String>) -> Response {
    let Ok(event) = event.trim_end_matches(".tlog-proof").parse::<i64>() else {
        return not_found("no such event");
    };
    match app.store.event_account(event).await {
        Ok(Some(Some(account))) if account == s.account.id.0 => {}
        Ok(_) => return not_found("no such event"),
        Err(error) => return internal(error),
    }
    match super::prove(&app.store, &app.audit, event).await {
        Ok(proof) => (
            [
                (CONTENT_TYPE, "text/plain; charset=utf-8"),
                (CACHE_CONTROL, "no-store"),
                (CONTENT_DISPOSITION, &format!("attachment; filename=\"evento-{event}.tlog-proof\"")),
            ],
            proof.text(),
        )
            .into_response(),
        Err(error) => internal(error),
    }
}
