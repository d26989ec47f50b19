//! Pushed authorization requests (RFC 9126): the client sends the request's parameters
//! straight to llave, authenticated, and gets a `request_uri` to send the browser with.
//! The request is validated when pushed and again when used.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use oidc::authorize::{ClientPolicy, Params, Rejection};
use oidc::{OAuthError, RedirectUri};
use serde_json::json;

use super::token::{Failure, answer, authenticated_client, internal};
use crate::AppState;
use crate::crypto::{now, random_token};

pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
pub const PAR_SECONDS: i64 = 60;

async fn push_inner(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, Failure> {
    let pairs = super::form_pairs(body)?;
    let params = Params::from_pairs(pairs.clone())?;
    let client = authenticated_client(app, headers, &params, "par").await?;
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request("request_uri cannot be pushed").into());
    }
    // The parameters stored are the authorization request's alone, without credentials.
    let stored: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "client_secret" | "client_assertion" | "client_assertion_type"))
        .chain(std::iter::once(("client_id".to_string(), client.client_id.clone())))
        .fold(Vec::new(), |mut acc, (k, v)| {
            if !acc.iter().any(|(existing, _): &(String, String)| *existing == k) {
                acc.push((k, v));
            }
            acc
        });
    let uris: Vec<RedirectUri> = client.redirect_uris.iter().filter_map(|u| RedirectUri::parse(u).ok()).collect();
    let policy = ClientPolicy { client_id: &client.client_id, redirect_uris: &uris, require_par: client.require_par };
    let check = Params::from_pairs(stored.clone())?;
    if let Err(rejection) = oidc::authorize::validate(&check, &policy, true) {
        let error = match rejection {
            Rejection::NoRedirect(error) | Rejection::Redirect { error, .. } => error,
        };
        return Err(error.into());
    }
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", random_token());
    let now = now();
    let serialized = serde_urlencoded::to_string(&stored).map_err(internal)?;
    app.store
        .insert_pushed_request(&request_uri, &client.client_id, &serialized, now, now + PAR_SECONDS)
        .await
        .map_err(internal)?;
    Ok(json!({ "request_uri": request_uri, "expires_in": PAR_SECONDS }))
}

pub async fn push(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let mut response = answer(push_inner(&app, &headers, &body).await);
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::CREATED;
    }
    response
}
