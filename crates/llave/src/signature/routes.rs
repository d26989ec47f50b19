//! Public PKI addresses: the root and issuing CA certificates and the CRL.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/pki/root.pem", get(root_pem))
        .route("/pki/issuing.pem", get(issuing_pem))
        .route("/pki/crl", get(crl))
}

fn unavailable(error: super::SignatureError) -> Response {
    match error {
        super::SignatureError::Pki(super::pki::PkiError::NotInitialised) => {
            (StatusCode::NOT_FOUND, "the PKI is not initialised: llave pki init\n").into_response()
        }
        error => {
            tracing::error!(%error, "PKI unavailable");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn certificate(app: &AppState, name: &str) -> Response {
    match app.store.authority(name).await {
        Ok(Some(stored)) => (
            [(CONTENT_TYPE, "application/x-pem-file"), (CACHE_CONTROL, "public, max-age=3600")],
            stored.certificate_pem,
        )
            .into_response(),
        Ok(None) => unavailable(super::pki::PkiError::NotInitialised.into()),
        Err(error) => unavailable(error.into()),
    }
}

async fn root_pem(State(app): State<AppState>) -> Response {
    certificate(&app, "root").await
}

async fn issuing_pem(State(app): State<AppState>) -> Response {
    certificate(&app, "issuing").await
}

/// The CRL, DER (RFC 5280), signed afresh on each request (it changes on revocation).
async fn crl(State(app): State<AppState>) -> Response {
    match super::crl(&app).await {
        Ok(der) => ([(CONTENT_TYPE, "application/pkix-crl"), (CACHE_CONTROL, "no-cache")], der).into_response(),
        Err(error) => unavailable(error),
    }
}
