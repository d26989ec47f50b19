//! The records API entities' back ends call with a `client_credentials` token (documented
//! in `/api/openapi.json` and docs/records.md):
//!
//! | | scope |
//! |---|---|
//! | `POST /api/records` store a record about a person | `records:write` |
//! | `GET /api/records?sub=…` (or `curp=`) the entity's records about a person | `records:read` |
//! | `GET /api/records/{id}[?version=N]` one of its records | `records:read` |
//! | `GET /api/records/{id}/versions` every version | `records:read` |
//! | `GET /api/records/{id}/file[?version=N]` the attached file | `records:read` |
//! | `PUT /api/records/{id}` a new version | `records:write` |
//! | `DELETE /api/records/{id}` withdraw it | `records:write` |
//! | `POST /api/lookups` does the person have kind K anywhere, for procedure P? | `lookups` |
//! | `POST /api/records/{id}/read` read another entity's record with a grant | `lookups` |
//!
//! Errors are `{error, error_description}` with the HTTP status that fits.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::spoke::{Version, encode_file};
use super::{Failure, Opened, PersonRef, RecordInput};
use crate::AppState;
use crate::oidc::service::{Denied, api_error, client_with_scope};
use crate::store::entities::ClientRecord;
use crate::store::records::Locator;

pub fn routes(max_file_bytes: usize) -> Router<AppState> {
    let writes = Router::new()
        .route("/api/records", post(create).get(list))
        .route("/api/records/{id}", get(read).put(update).delete(withdraw))
        .layer(DefaultBodyLimit::max(max_file_bytes / 3 * 4 + 128 * 1024));
    Router::new()
        .route("/api/records/{id}/versions", get(versions))
        .route("/api/records/{id}/file", get(file))
        .route("/api/records/{id}/read", post(read_shared))
        .route("/api/lookups", post(lookup))
        .route("/api/openapi.json", get(openapi))
        .route("/openapi.json", get(openapi))
        .merge(writes)
}

/// The OpenAPI document of the entity API, with this installation's URLs.
async fn openapi(State(app): State<AppState>) -> Response {
    let mut doc: Value = match serde_json::from_str(include_str!("../../static/openapi.json")) {
        Ok(doc) => doc,
        Err(error) => return failure(Failure::Internal(error.to_string())),
    };
    let issuer = app.config.issuer();
    doc["servers"] = json!([{ "url": issuer }]);
    doc["components"]["securitySchemes"]["clientCredentials"]["flows"]["clientCredentials"]["tokenUrl"] =
        json!(format!("{issuer}/token"));
    Json(doc).into_response()
}

pub(crate) fn failure(f: Failure) -> Response {
    match f {
        Failure::Refused { status, code, description } => {
            let mut response = api_error(status, code, &description);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    HeaderValue::from(crate::web::unavailable::RETRY_AFTER_SECONDS),
                );
            }
            response
        }
        Failure::Internal(cause) => {
            tracing::error!(%cause, "records or ARCO API failed");
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal error")
        }
    }
}

pub(crate) fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The caller's client with `scope`; a missing scope is logged against the record named.
async fn caller(
    app: &AppState,
    headers: &HeaderMap,
    scope: &str,
    record: Option<&str>,
) -> Result<ClientRecord, Response> {
    match client_with_scope(app, headers, scope).await {
        Ok(client) => Ok(client),
        Err(Denied::MissingScope(client, response)) => {
            let locator = match record {
                Some(id) => app.store.record_locator(id).await.ok().flatten(),
                None => None,
            };
            super::log_refusal(
                app,
                &client,
                locator.as_ref(),
                None,
                "insufficient_scope",
                &format!("the token lacks the {scope} scope"),
            )
            .await;
            Err(response)
        }
        Err(denied) => Err(denied.into_response()),
    }
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("the body does not fit: {e}"))
}

pub(crate) fn bad_body(description: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn file_json(version: &Version) -> Value {
    match &version.file {
        Some(f) => json!({ "name": f.name, "content_type": f.content_type, "size": f.size, "sha256": f.sha256 }),
        None => Value::Null,
    }
}

/// A version as its holder sees it.
pub fn version_json(version: &Version) -> Value {
    json!({
        "version": version.version,
        "kind": version.kind,
        "procedure": version.procedure,
        "attributes": version.content.attributes,
        "file": file_json(version),
        "sha256": version.sha256,
        "valid_from": version.valid_from,
        "valid_until": version.valid_until,
        "written_by": version.written_by,
        "created_at": version.created_at,
        "withdrawn_at": version.withdrawn_at,
        "withdraw_reason": version.withdraw_reason,
    })
}

fn record_json(app: &AppState, client: &ClientRecord, opened: &Opened) -> Value {
    let l = &opened.locator;
    let mut body = version_json(&opened.version);
    body["record_id"] = json!(l.record_id);
    body["entity"] = json!(client.entity_slug);
    body["current_version"] = json!(l.version);
    body["sub"] = json!(crate::oidc::tokens::subject(app, client, l.account_id));
    body["created_at"] = json!(l.created_at);
    body["updated_at"] = json!(l.updated_at);
    body["withdrawn_at"] = json!(l.withdrawn_at);
    body
}

fn locator_json(l: &Locator, entity_slug: &str, entity_name: &str) -> Value {
    json!({
        "entity": entity_slug,
        "entity_name": entity_name,
        "record_id": l.record_id,
        "kind": l.kind,
        "version": l.version,
        "valid_from": l.valid_from,
        "valid_until": l.valid_until,
        "updated_at": l.updated_at,
    })
}

async fn create(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let client = match caller(&app, &headers, super::SCOPE_WRITE, None).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let input: RecordInput = match json_body(&body) {
        Ok(input) => input,
        Err(description) => return bad_body(&description),
    };
    if input.version.is_some() || input.remove_file {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "version and remove_file are for updates");
    }
    match super::create(&app, &client, &input).await {
        Ok(opened) => no_store((StatusCode::CREATED, Json(record_json(&app, &client, &opened))).into_response()),
        Err(f) => failure(f),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VersionQuery {
    version: Option<i64>,
}

async fn read(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<VersionQuery>, QueryRejection>,
) -> Response {
    let client = match caller(&app, &headers, super::SCOPE_READ, Some(&id)).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let Ok(Query(query)) = query else { return bad_body("version must be a whole number") };
    match super::read_own(&app, &client, &id, query.version).await {
        Ok(opened) => no_store(Json(record_json(&app, &client, &opened)).into_response()),
        Err(f) => failure(f),
    }
}

async fn versions(State(app): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let client = match caller(&app, &headers, super::SCOPE_READ, Some(&id)).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    match super::history_own(&app, &client, &id).await {
        Ok((locator, history)) => no_store(
            Json(json!({
                "record_id": locator.record_id,
                "current_version": locator.version,
                "withdrawn_at": locator.withdrawn_at,
                "versions": history.iter().map(version_json).collect::<Vec<_>>(),
            }))
            .into_response(),
        ),
        Err(f) => failure(f),
    }
}

async fn file(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<VersionQuery>, QueryRejection>,
) -> Response {
    let client = match caller(&app, &headers, super::SCOPE_READ, Some(&id)).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let Ok(Query(query)) = query else { return bad_body("version must be a whole number") };
    match super::file_own(&app, &client, &id, query.version).await {
        Ok((info, bytes)) => {
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&info.content_type) {
                headers.insert(CONTENT_TYPE, value);
            }
            let ascii: String =
                info.name.chars().map(|c| if c.is_ascii_graphic() && c != '"' { c } else { '_' }).collect();
            if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")) {
                headers.insert(CONTENT_DISPOSITION, value);
            }
            no_store(response)
        }
        Err(f) => failure(f),
    }
}

async fn update(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let client = match caller(&app, &headers, super::SCOPE_WRITE, Some(&id)).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let input: RecordInput = match json_body(&body) {
        Ok(input) => input,
        Err(description) => return bad_body(&description),
    };
    match super::update(&app, &client, &id, &input).await {
        Ok(opened) => no_store(Json(record_json(&app, &client, &opened)).into_response()),
        Err(f) => failure(f),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct WithdrawInput {
    reason: Option<String>,
}

async fn withdraw(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let client = match caller(&app, &headers, super::SCOPE_WRITE, Some(&id)).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let input: WithdrawInput = if body.is_empty() {
        WithdrawInput::default()
    } else {
        match json_body(&body) {
            Ok(input) => input,
            Err(description) => return bad_body(&description),
        }
    };
    match super::withdraw(&app, &client, &id, input.reason.as_deref()).await {
        Ok(opened) => no_store(Json(record_json(&app, &client, &opened)).into_response()),
        Err(f) => failure(f),
    }
}

async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    person: Result<Query<PersonRef>, QueryRejection>,
) -> Response {
    let client = match caller(&app, &headers, super::SCOPE_READ, None).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let Ok(Query(person)) = person else { return bad_body("the query string does not fit: sub or curp") };
    let account = match super::resolve_person(&app, &client, &person).await {
        Ok(account) => account,
        Err(f) => return failure(f),
    };
    let entity_id = match super::calling_entity(&client) {
        Ok(entity_id) => entity_id,
        Err(f) => return failure(f),
    };
    match app.store.entity_records_about(entity_id, account).await {
        Ok(locators) => no_store(
            Json(json!({
                "records": locators
                    .iter()
                    .map(|l| {
                        let mut value = locator_json(l, &client.entity_slug, &client.entity_name);
                        value["procedure"] = json!(l.procedure);
                        value["withdrawn_at"] = json!(l.withdrawn_at);
                        value
                    })
                    .collect::<Vec<_>>()
            }))
            .into_response(),
        ),
        Err(error) => failure(error.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupInput {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    curp: Option<String>,
    procedure: String,
    kind: String,
}

async fn lookup(State(app): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let client = match caller(&app, &headers, super::SCOPE_LOOKUPS, None).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let input: LookupInput = match json_body(&body) {
        Ok(input) => input,
        Err(description) => return bad_body(&description),
    };
    let person = PersonRef { sub: input.sub, curp: input.curp };
    match super::lookup(&app, &client, &person, &input.procedure, &input.kind).await {
        Ok(Some(found)) => no_store(
            Json(json!({
                "found": true,
                "locator": locator_json(&found.locator, &found.holder.slug, &found.holder.name),
                "grant": found.grant,
                "grant_expires_at": found.expires_at,
                "expires_in": (found.expires_at - crate::crypto::now()).max(0),
                "procedure": input.procedure.trim(),
                "basis": found.basis,
                "legal_basis": found.legal_basis,
                "read_url": format!("{}/api/records/{}/read", app.config.issuer(), found.locator.record_id),
            }))
            .into_response(),
        ),
        Ok(None) => no_store(Json(json!({ "found": false })).into_response()),
        Err(f) => failure(f),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedReadInput {
    grant: String,
    procedure: String,
}

async fn read_shared(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let client = match caller(&app, &headers, super::SCOPE_LOOKUPS, Some(&id)).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let input: SharedReadInput = match json_body(&body) {
        Ok(input) => input,
        Err(description) => return bad_body(&description),
    };
    match super::read_with_grant(&app, &client, &id, &input.grant, &input.procedure).await {
        Ok(shared) => {
            let mut body = version_json(&shared.version);
            body["record_id"] = json!(shared.locator.record_id);
            body["entity"] = json!(shared.holder.slug);
            body["entity_name"] = json!(shared.holder.name);
            body["procedure_read_for"] = json!(input.procedure.trim());
            body["basis"] = json!(shared.basis);
            body["legal_basis"] = json!(shared.legal_basis);
            if let (Some(bytes), Some(file)) = (&shared.file, body.get_mut("file").and_then(Value::as_object_mut)) {
                file.insert("content_base64".into(), json!(encode_file(bytes)));
            }
            body.as_object_mut().map(|o| o.remove("written_by"));
            no_store(Json(body).into_response())
        }
        Err(f) => failure(f),
    }
}
