//! Discovery (OpenID Connect Discovery 1.0 §3) and the JWKS (RFC 7517).

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::server_error;
use crate::AppState;

pub fn metadata(issuer: &str) -> serde_json::Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "pushed_authorization_request_endpoint": format!("{issuer}/par"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "require_pushed_authorization_requests": false,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "userinfo_signing_alg_values_supported": ["none"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": oidc::scope::SUPPORTED,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
            "name", "given_name", "family_name", "birthdate", "email", "email_verified", "curp"],
        "acr_values_supported": ["urn:llave:loa:1", "urn:llave:loa:2", "urn:llave:loa:3"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["es-MX", "en"],
        "claims_locales_supported": ["es-MX", "en"],
        "claims_parameter_supported": true,
        // Signed request objects (RFC 9101) at the PAR endpoint only.
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "request_object_signing_alg_values_supported": oidc::fapi::ALGORITHMS,
        "authorization_response_iss_parameter_supported": true,
        // RFC 9449 §5.1; required of third parties' clients (FAPI 2.0), per client, as are
        // pushed requests: `require_pushed_authorization_requests` stays false for the rest.
        "dpop_signing_alg_values_supported": oidc::dpop::ALGORITHMS,
        // RFC 9396: an entity's reuse of records, a third party's data sharing.
        "authorization_details_types_supported": ["record_reuse", "data_sharing"],
        // OAuth 2.0 Grant Management, for third parties' grants (docs/third-parties.md).
        "grant_management_endpoint": format!("{issuer}/grants"),
        "grant_management_actions_supported": ["create", "merge", "replace"],
        "grant_management_action_required": false,
        "shared_data_endpoint": format!("{issuer}/api/shared-data"),
    })
}

pub async fn configuration(State(app): State<AppState>) -> Response {
    let mut response = Json(metadata(&app.config.issuer())).into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

pub async fn jwks(State(app): State<AppState>) -> Response {
    // Read-mostly: from the replica when there is one (`--database-replica`).
    let keys = &app.keys;
    match app.store.read_mostly(|store| async move { keys.ring(&store).await }).await {
        Ok(ring) => {
            let mut response = Json(ring.jwks()).into_response();
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
            response
        }
        Err(error) => server_error(error),
    }
}
