//! The published purposes as open data (`GET /datos/propositos.json`), the shared-data API
//! (`GET /api/shared-data`) and Grant Management (`GET` and `DELETE /grants/{grant_id}`).

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/datos/propositos.json", get(purposes))
        .route(super::shared_data::PATH, get(super::shared_data::shared_data))
        .route("/grants/{grant_id}", get(super::grants::query).delete(super::grants::revoke))
}

/// The purpose codes with their Spanish title and description, as `llave third-party
/// purposes --json` prints them.
async fn purposes() -> Response {
    let mut response = Json(super::PURPOSES).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}
