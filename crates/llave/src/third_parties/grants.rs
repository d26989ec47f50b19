//! OAuth 2.0 Grant Management for third parties: `GET /grants/{grant_id}` reads what a
//! person's consent lets the third party have and in which state, `DELETE /grants/{grant_id}`
//! revokes it (its tokens end at once). Both take a DPoP-bound client-credentials token
//! of the third party's client, with `grant_management_query` or `grant_management_revoke`.

use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use crate::AppState;
use crate::consent::artefacts::{self, By};
use crate::consent::sharing::{Change, Granted, State as ArtefactState};
use crate::oidc::dpop::{self, Presented};
use crate::store::artefacts::Artefact;

pub const QUERY_SCOPE: &str = "grant_management_query";
pub const REVOKE_SCOPE: &str = "grant_management_revoke";

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({ "error": code, "error_description": description }))).into_response()
}

/// The client's own grant, read with a token carrying `scope`; or the answer to give.
async fn authorised(
    app: &AppState,
    headers: &HeaderMap,
    method: &str,
    grant_id: &str,
    scope: &str,
) -> Result<(String, Artefact), Response> {
    let token = match dpop::presented(headers) {
        Some(Presented::Dpop(token)) => token,
        _ => return Err(dpop::resource_refusal("invalid_token", "a DPoP-bound access token is required")),
    };
    let path = format!("/grants/{grant_id}");
    let (claims, grant) = dpop::verify_presented(app, headers, Presented::Dpop(token), method, &path).await?;
    let scopes = claims.get("scope").and_then(Value::as_str).unwrap_or("");
    if grant.account_id.is_some() || !scopes.split(' ').any(|s| s == scope) {
        return Err(error(StatusCode::FORBIDDEN, "insufficient_scope", &format!("the token must carry {scope}")));
    }
    let unknown = || error(StatusCode::NOT_FOUND, "invalid_grant", "no grant of this client has that id");
    match app.store.current_artefact_of_grant(grant_id).await {
        Ok(Some(artefact)) if artefact.client_id == grant.client_id => Ok((grant.client_id, artefact)),
        Ok(_) => Err(unknown()),
        Err(cause) => {
            tracing::error!(%cause, "grant management");
            Err(error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the hub could not answer"))
        }
    }
}

/// The grant as Grant Management shows it: state, scopes, the granted details and the
/// artefact, with its uses.
pub fn describe(artefact: &Artefact, now: i64) -> Value {
    let granted: Option<Granted> = serde_json::from_str(&artefact.details).ok();
    let details = granted.map(|g| artefacts::granted_details(&g.sharing, &artefact.id)).unwrap_or(json!([]));
    json!({
        "grant_id": artefact.grant_id,
        "state": ArtefactState::at(&artefact.state, artefact.expires_at, now).as_str(),
        "scopes": [{ "scope": "openid" }],
        "authorization_details": details,
        "consent_artefact": artefact.jws,
        "consent_artefact_id": artefact.id,
        "fetches": artefact.fetches,
        "refusals": artefact.refusals,
        "last_fetch_at": artefact.last_fetch_at,
        "created_at": artefact.created_at,
        "expires": artefact.expires_at,
    })
}

pub async fn query(State(app): State<AppState>, headers: HeaderMap, Path(grant_id): Path<String>) -> Response {
    match authorised(&app, &headers, "GET", &grant_id, QUERY_SCOPE).await {
        Ok((_, artefact)) => {
            let mut response = Json(describe(&artefact, app.clock.now())).into_response();
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(response) => response,
    }
}

pub async fn revoke(State(app): State<AppState>, headers: HeaderMap, Path(grant_id): Path<String>) -> Response {
    let (client_id, artefact) = match authorised(&app, &headers, "DELETE", &grant_id, REVOKE_SCOPE).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match artefacts::change(&app, &artefact.id, Change::Revoke, By::ThirdParty(&client_id)).await {
        // Revoked now, or already (or expired): either way nothing stands.
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(cause) => {
            tracing::error!(%cause, "grant management revoke");
            error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the hub could not answer")
        }
    }
}
