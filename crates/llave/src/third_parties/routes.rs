//! The published purposes as open data: `GET /datos/propositos.json`.

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/datos/propositos.json", get(purposes))
}

/// The purpose codes with their Spanish title and description, as `llave third-party
/// purposes --json` prints them.
async fn purposes() -> Response {
    let mut response = Json(super::PURPOSES).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}
