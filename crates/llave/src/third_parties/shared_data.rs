//! `GET /api/shared-data`: what a person's consent artefact lets a third party fetch, now.
//! A DPoP-bound access token from the code flow names the artefact (through its grant); the
//! fetch decision (`consent::sharing::fetch`) checks state, coverage and frequency; the
//! identity claims come from the person's account and each record from its holder's store
//! through the hub (the hub keeps no copy), sealed by the holding entity so the third party
//! can prove later where it came from. The answer is a JWS the hub signs (ES256, `typ`
//! `shared-data+jwt`) naming the artefact. Every fetch and every refusal is counted on the
//! artefact and is an event in the person's file.

use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Map, Value, json};

use crate::consent::artefacts::{self, Delivered};
use crate::consent::sharing::{self, FetchFacts, Granted, Refusal, State as ArtefactState};
use crate::oidc::dpop::{self, Presented};
use crate::store::artefacts::Artefact;
use crate::store::{AccountId, StoreError};
use crate::{AppState, Services};

/// Where the endpoint is, for the DPoP proof's `htu`.
pub const PATH: &str = "/api/shared-data";
/// The JOSE `typ` of the answer.
pub const TYP: &str = "shared-data+jwt";

fn forbidden(refusal: &Refusal) -> Response {
    let body = json!({ "error": refusal.code(), "error_description": refusal.description() });
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

fn unavailable(description: &str) -> Response {
    let body = json!({ "error": "temporarily_unavailable", "error_description": description });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

fn internal(cause: impl std::fmt::Display) -> Response {
    tracing::error!(%cause, "shared data");
    let body = json!({ "error": "server_error", "error_description": "the hub could not answer" });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// The items asked for with `?items=a,b` (all the artefact covers without it).
fn asked_items(query: Option<&str>) -> Option<Vec<String>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or("")).ok()?;
    let items = pairs.into_iter().find(|(k, _)| k == "items")?.1;
    Some(items.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_string).collect())
}

pub async fn shared_data(State(app): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let token = match dpop::presented(&headers) {
        Some(Presented::Dpop(token)) => token,
        Some(Presented::Bearer(_)) => {
            return dpop::resource_refusal(
                "invalid_token",
                "shared data needs a DPoP-bound access token (DPoP scheme)",
            );
        }
        None => return dpop::resource_refusal("invalid_token", "a DPoP-bound access token is required"),
    };
    let (_, grant) = match dpop::verify_presented(&app, &headers, Presented::Dpop(token.clone()), "GET", PATH).await {
        Ok(found) => found,
        Err(response) => {
            log_revoked(&app, &token).await;
            return response;
        }
    };
    let artefact = match app.store.artefact_of_token_grant(&grant.id).await {
        Ok(Some(artefact)) if artefact.client_id == grant.client_id => artefact,
        Ok(_) => return forbidden(&Refusal::NotCovered("a consent artefact".into())),
        Err(error) => return store_failure(error),
    };
    let granted: Granted = match serde_json::from_str(&artefact.details) {
        Ok(granted) => granted,
        Err(error) => return internal(error),
    };
    let frequency = match granted.sharing.frequency() {
        Ok(frequency) => frequency,
        Err(error) => return internal(error),
    };
    let asked = asked_items(query.as_deref());
    let facts = FetchFacts {
        stored_state: &artefact.state,
        expires_at: artefact.expires_at,
        frequency: &frequency,
        fetches: artefact.fetches,
        last_fetch_at: artefact.last_fetch_at,
        covered: &granted.sharing.items,
        asked: asked.as_deref(),
        now: app.clock.now(),
    };
    let items = match sharing::fetch(&facts) {
        Ok(items) => items,
        Err(refusal) => return refuse(&app, &artefact, refusal).await,
    };
    match deliver(&app, &artefact, &granted, &items).await {
        Ok(Some(jws)) => {
            let mut response = jws.into_response();
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/jwt"));
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        // Someone fetched (or the person paused) between the read and the count.
        Ok(None) => {
            let state = app.store.artefact_by_id(&artefact.id).await.ok().flatten();
            let refusal = match state.map(|a| ArtefactState::at(&a.state, a.expires_at, app.clock.now())) {
                Some(ArtefactState::Paused) => Refusal::Paused,
                Some(ArtefactState::Revoked) => Refusal::Revoked,
                Some(ArtefactState::Expired) => Refusal::Expired,
                _ => Refusal::TooFrequent,
            };
            refuse(&app, &artefact, refusal).await
        }
        Err(Failure::Unavailable(what)) => unavailable(&what),
        Err(Failure::Internal(cause)) => internal(cause),
    }
}

fn store_failure(error: StoreError) -> Response {
    match error {
        StoreError::StoreUnavailable(_) => unavailable("a store did not answer"),
        other => internal(other),
    }
}

async fn refuse(app: &Services, artefact: &Artefact, refusal: Refusal) -> Response {
    if let Err(error) = artefacts::record_refusal(app, artefact, &refusal).await {
        return store_failure(error);
    }
    forbidden(&refusal)
}

/// A refused token that this hub signed for a revoked consent: the refusal is the
/// artefact's too (counted, and an event), though the answer stays `invalid_token`.
async fn log_revoked(app: &Services, token: &str) {
    let Some(claims) = crate::oidc::tokens::signed_claims(app, token).await else { return };
    let Some(jti) = claims.get("jti").and_then(Value::as_str) else { return };
    let Ok(Some(artefact)) = app.store.artefact_of_access_token(jti).await else { return };
    let client_ok = claims.get("client_id").and_then(Value::as_str) == Some(artefact.client_id.as_str());
    let revoked = ArtefactState::at(&artefact.state, artefact.expires_at, app.clock.now()) == ArtefactState::Revoked;
    if client_ok
        && revoked
        && let Err(error) = artefacts::record_refusal(app, &artefact, &Refusal::Revoked).await
    {
        tracing::error!(%error, "cannot record a refused fetch");
    }
}

enum Failure {
    Unavailable(String),
    Internal(String),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        match error {
            StoreError::StoreUnavailable(what) => Failure::Unavailable(what),
            other => Failure::Internal(other.to_string()),
        }
    }
}

/// Reads what `items` name, seals each record by its holder, counts the fetch (one act
/// with its events) and signs the answer. `Ok(None)`: the count did not apply (a
/// concurrent fetch or change); nothing was delivered.
async fn deliver(
    app: &Services,
    artefact: &Artefact,
    granted: &Granted,
    items: &[String],
) -> Result<Option<String>, Failure> {
    let account = app
        .store
        .account_by_id(AccountId(artefact.account_id))
        .await?
        .ok_or_else(|| Failure::Internal("the person's account is gone".into()))?;
    let mut claims = Map::new();
    for item in items.iter().filter(|i| !i.starts_with(sharing::RECORD_PREFIX)) {
        match item.as_str() {
            "name" => {
                claims.insert("name".into(), json!(account.full_name()));
            }
            "curp" => {
                claims.insert("curp".into(), json!(account.curp));
            }
            "birthdate" => {
                claims.insert("birthdate".into(), json!(account.birth_date));
            }
            "email" if !account.email.is_empty() => {
                claims.insert("email".into(), json!(account.email));
                claims.insert("email_verified".into(), json!(account.email_confirmed_at.is_some()));
            }
            _ => {}
        }
    }
    let now = app.clock.now();
    let today = crate::calendar::format_date(crate::calendar::city_date(now));
    let mut records = Vec::new();
    let mut delivered = Vec::new();
    let mut unavailable = Vec::new();
    for item in items.iter().filter(|i| i.starts_with(sharing::RECORD_PREFIX)) {
        let kind = &item[sharing::RECORD_PREFIX.len()..];
        let Some(source) = granted.sources.get(item) else {
            unavailable.push(item.clone());
            continue;
        };
        let found = app.store.records_of_kind(artefact.account_id, kind, Some(source.entity_id)).await?;
        let Some(locator) = found.into_iter().find(|l| l.in_force(&today)) else {
            unavailable.push(item.clone());
            continue;
        };
        let Some(version) = crate::records::located_version(app, &locator, None).await? else {
            unavailable.push(item.clone());
            continue;
        };
        let holder = json!({ "slug": source.entity, "name": source.name });
        let sealed = json!({
            "record_id": locator.record_id,
            "version": version.version,
            "kind": kind,
            "holder": holder,
            "attributes": version.content.attributes,
            "valid_from": version.valid_from,
            "valid_until": version.valid_until,
            "file": version.file.as_ref().map(|f| json!({ "name": f.name, "sha256": version.sha256 })),
            "sub": artefact.subject,
            "consent_artefact_id": artefact.id,
            "iat": now,
        });
        let seal = match crate::signature::seal_data(app, &source.entity, &source.name, &sealed).await {
            Ok(seal) => seal,
            Err(crate::signature::SignatureError::Pki(crate::signature::pki::PkiError::NotInitialised)) => {
                return Err(Failure::Unavailable("the hub's PKI is not initialised".into()));
            }
            Err(error) => return Err(Failure::Internal(error.to_string())),
        };
        let mut record = sealed;
        if let Some(object) = record.as_object_mut() {
            object.remove("sub");
            object.remove("consent_artefact_id");
            object.remove("iat");
            object.insert("item".into(), json!(item));
            object.insert("seal".into(), json!(seal));
        }
        records.push(record);
        delivered.push(Delivered {
            record_id: locator.record_id.clone(),
            holder_entity_id: locator.entity_id,
            kind: kind.to_string(),
        });
    }
    let legal_name = match app.store.client_by_id(&artefact.client_id).await? {
        Some(client) => client.entity_name,
        None => artefact.client_id.clone(),
    };
    if !artefacts::record_fetch(app, artefact, &legal_name, items, &delivered).await? {
        return Ok(None);
    }
    let answer = json!({
        "iss": app.config.issuer(),
        "aud": artefact.client_id,
        "sub": artefact.subject,
        "iat": now,
        "jti": crate::crypto::random_id(),
        "consent_artefact_id": artefact.id,
        "grant_id": artefact.grant_id,
        "claims": claims,
        "records": records,
        "unavailable": unavailable,
    });
    artefacts::sign(app, TYP, &answer).await.map(Some).map_err(Failure::Internal)
}
