//! Token introspection (RFC 7662) and revocation (RFC 7009). A client sees and revokes
//! only tokens issued to itself; anything else is simply "not active" (RFC 7662 §2.2),
//! and revocation answers 200 whatever the token (RFC 7009 §2.2).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use oidc::OAuthError;
use oidc::authorize::Params;
use serde_json::{Value, json};

use super::token::{Failure, answer, authenticated_client, internal};
use super::tokens::{self, TokenCheck};
use crate::AppState;
use crate::crypto::{now, token_hash};
use crate::store::entities::ClientRecord;

enum Found {
    Access { claims: Value, jti: String },
    Refresh { grant_id: String, expires_at: i64 },
    Nothing,
}

async fn find(app: &AppState, token: &str, hint: Option<&str>) -> Result<Found, Failure> {
    let access_first = hint != Some("refresh_token");
    for kind in if access_first { ["access", "refresh"] } else { ["refresh", "access"] } {
        if kind == "access" {
            match tokens::verify_access_token(app, token).await {
                Ok((claims, grant)) if grant.revoked_at.is_none() => {
                    let jti = claims.get("jti").and_then(|j| j.as_str()).unwrap_or_default().to_string();
                    return Ok(Found::Access { claims, jti });
                }
                Ok(_) | Err(TokenCheck::Invalid(_)) => {}
                Err(TokenCheck::Internal(error)) => return Err(internal(error)),
            }
        } else if let Some((grant_id, expires_at)) =
            app.store.refresh_token_grant(&token_hash(token), now()).await.map_err(internal)?
        {
            return Ok(Found::Refresh { grant_id, expires_at });
        }
    }
    Ok(Found::Nothing)
}

fn inactive() -> Value {
    json!({ "active": false })
}

async fn introspect_inner(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, Failure> {
    let params = Params::from_pairs(super::form_pairs(body)?)?;
    let client = authenticated_client(app, headers, &params, "introspect").await?;
    if client.auth_method == "none" {
        // RFC 7662 §2.1: the caller must prove who it is; a public client cannot.
        return Err(OAuthError::invalid_client("public clients cannot introspect tokens").into());
    }
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok(match find(app, token, params.get("token_type_hint")).await? {
        Found::Access { claims, .. } if claims["client_id"] == client.client_id.as_str() => {
            // RFC 9449 §6.2: a bound token's key, and its type.
            let token_type = if claims.get("cnf").is_some() { "DPoP" } else { "Bearer" };
            let mut answer = json!({ "active": true, "token_type": token_type });
            for name in ["scope", "client_id", "sub", "exp", "iat", "iss", "aud", "jti", "acr", "auth_time", "cnf"] {
                if let Some(value) = claims.get(name) {
                    answer[name] = value.clone();
                }
            }
            answer
        }
        Found::Refresh { grant_id, expires_at } => match app.store.grant_by_id(&grant_id).await.map_err(internal)? {
            Some(grant) if grant.client_id == client.client_id && grant.revoked_at.is_none() => {
                let sub = match grant.account_id {
                    Some(account) => tokens::subject(app, &client, account.0),
                    None => client.client_id.clone(),
                };
                json!({ "active": true, "token_type": "refresh_token", "scope": grant.scope, "client_id": client.client_id,
                    "sub": sub, "exp": expires_at, "iss": app.config.issuer() })
            }
            _ => inactive(),
        },
        _ => inactive(),
    })
}

pub async fn introspect(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    answer(introspect_inner(&app, &headers, &body).await)
}

async fn revoke_inner(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), Failure> {
    let params = Params::from_pairs(super::form_pairs(body)?)?;
    let client: ClientRecord = authenticated_client(app, headers, &params, "revoke").await?;
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    match find(app, token, params.get("token_type_hint")).await? {
        Found::Access { claims, jti } if claims["client_id"] == client.client_id.as_str() => {
            app.store.revoke_access_token(&jti).await.map_err(internal)?;
        }
        Found::Refresh { grant_id, .. } => {
            // Revoking a refresh token ends its grant, and with it the access tokens.
            if let Some(grant) = app.store.grant_by_id(&grant_id).await.map_err(internal)?
                && grant.client_id == client.client_id
            {
                app.store.revoke_grant(&grant.id, "revoked_by_client", now()).await.map_err(internal)?;
            }
        }
        _ => {}
    }
    Ok(())
}

pub async fn revoke(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match revoke_inner(&app, &headers, &body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(failure) => answer::<()>(Err(failure)),
    }
}
