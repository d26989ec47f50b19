//! The route table: every capability's routes and web plumbing's own, under the middleware
//! every response passes through. A composition root (docs/ARCHITECTURE.md, "Modules and
//! their layers"): it imports every capability's routes and nothing imports it but `lib.rs`.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;

use crate::AppState;
use crate::web;

/// Every route of the application.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    // The largest form or JSON body any route accepts (the records API's, with a file in it);
    // multipart documents are not scanned.
    let max_scan = max_body.max(state.config.records.max_file_bytes / 3 * 4 + 128 * 1024);
    Router::new()
        .merge(crate::accounts::routes::routes())
        .merge(crate::account_page::routes())
        .merge(crate::assurance::routes::routes())
        .merge(crate::signature::routes::routes())
        .merge(crate::signature::api::routes())
        .merge(crate::records::api::routes(state.config.records.max_file_bytes))
        .merge(crate::records::file::routes())
        .merge(crate::consent::routes::routes())
        .merge(crate::records::arco::routes())
        .merge(crate::signature::pages::routes(state.config.signature.max_document_bytes))
        .merge(crate::oidc::routes::routes())
        .merge(crate::catalog::routes::routes())
        .merge(crate::third_parties::routes::routes())
        .merge(crate::catalog::edit::routes())
        .merge(crate::demo_sites::routes())
        .merge(crate::audit::routes::routes())
        .merge(crate::audit::auditors::routes())
        .merge(crate::requisitions::api::routes())
        .merge(crate::requisitions::pages::routes())
        .merge(web::routes())
        .fallback(web::not_found)
        .layer(middleware::from_fn(web::unavailable::unavailable_as_503))
        .layer(middleware::from_fn_with_state(state.clone(), web::csrf::csrf_cookie))
        .layer(middleware::from_fn(move |request, next| web::nul::refuse_nul(max_scan, request, next)))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(web::headers::security_headers))
        .layer(middleware::from_fn(web::metrics::track))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(web::request_id::span))
        .layer(middleware::from_fn(web::request_id::assign))
        .with_state(state)
}
