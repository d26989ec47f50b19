//! The requisitions as JSON, for an authority's case system and the hub's tools: the same
//! acts as the pages, authenticated like the auditors' API (the session of a signed-in
//! staff member who used a second factor). Errors are `{"error": code, "description": …}`
//! in the session's language.
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /api/requisitions` | any of the roles | `filed` (the requester's authorities'), `awaiting_approval`, `overdue` |
//! | `POST /api/requisitions` | requester | file one (`authority` and the filing's fields) → 201 |
//! | `GET /api/requisitions/{id}` | its requester, approvers, hub staff | one requisition |
//! | `POST /api/requisitions/{id}/approve` | approver | an approval (`approval`: 1 or 2) |
//! | `POST /api/requisitions/{id}/reject` | approver | `{"reason"}` |
//! | `GET /api/requisitions/{id}/package` | its requester | the package (DER), once |
//! | `POST /api/requisitions/{id}/attestation` | its requester | `{"attestation": "destroyed"\|"retained", "basis"}` |
//! | `POST /api/requisitions/{id}/extension` | its requester | `{"until": "YYYY-MM-DD"}` |
//! | `POST /api/requisitions/{id}/extension/approve` | approver | an approval of the extension |

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::rules::{FilingInput, Refusal};
use super::{RequisitionError, Roles};
use crate::AppState;
use crate::i18n::Lang;
use crate::store::requisitions::Requisition;
use crate::web::session::SignedIn;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/requisitions", get(list).post(file))
        .route("/api/requisitions/{id}", get(show))
        .route("/api/requisitions/{id}/approve", post(approve))
        .route("/api/requisitions/{id}/reject", post(reject))
        .route("/api/requisitions/{id}/package", get(package))
        .route("/api/requisitions/{id}/attestation", post(attest))
        .route("/api/requisitions/{id}/extension", post(extend))
        .route("/api/requisitions/{id}/extension/approve", post(approve_extension))
}

fn error(status: StatusCode, code: &str, description: String) -> Response {
    (status, [(CACHE_CONTROL, "no-store")], Json(serde_json::json!({"error": code, "description": description})))
        .into_response()
}

/// The error as JSON in `lang` (`max_days`: the longest order, for the messages that say it).
pub fn answer(lang: Lang, e: RequisitionError) -> Response {
    answer_with(lang, e, 0)
}

fn answer_with(lang: Lang, e: RequisitionError, max_days: i64) -> Response {
    match e {
        RequisitionError::Refused(refusal) => error(
            StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN),
            refusal.code(),
            lang.t(refusal.key()),
        ),
        RequisitionError::Invalid(problems) => {
            let fields: serde_json::Map<String, serde_json::Value> = problems
                .iter()
                .map(|(field, key)| (field.to_string(), super::message(lang, key, max_days).into()))
                .collect();
            (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({
                    "error": "invalid_request",
                    "description": lang.t("requisition-error-fields"),
                    "fields": fields,
                })),
            )
                .into_response()
        }
        other => {
            tracing::error!(error = %other, "requisition failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", lang.t("error-internal"))
        }
    }
}

/// A staff member with a requisition role who used a second factor in this session.
async fn staff(app: &AppState, lang: Lang, s: &SignedIn) -> Result<Roles, Response> {
    let roles = super::roles(app, s.account.id).await.map_err(|e| answer(lang, e.into()))?;
    if !roles.any() {
        return Err(error(StatusCode::FORBIDDEN, "forbidden", lang.t("error-forbidden")));
    }
    // As for the auditors: what reaches people's records is privileged, a second factor first.
    if !crate::assurance::staff::second_factor_used(&s.session) {
        return Err(error(StatusCode::FORBIDDEN, "second_factor_required", lang.t("staff-factor-enrol")));
    }
    Ok(roles)
}

async fn list(State(app): State<AppState>, lang: Lang, s: SignedIn) -> Response {
    let roles = match staff(&app, lang, &s).await {
        Ok(roles) => roles,
        Err(response) => return response,
    };
    let result = async {
        let mut filed: Vec<Requisition> = Vec::new();
        for authority in &roles.requester_of {
            filed.extend(app.store.requisitions_of_authority(authority).await?);
        }
        let awaiting = if roles.approver { app.store.requisitions_awaiting_approval().await? } else { Vec::new() };
        let overdue = if roles.hub_staff || roles.approver {
            app.store.overdue_requisitions(app.clock.now()).await?
        } else {
            Vec::new()
        };
        Ok::<_, crate::store::StoreError>(serde_json::json!({
            "filed": filed, "awaiting_approval": awaiting, "overdue": overdue,
        }))
    }
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => answer(lang, e.into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FileBody {
    authority: String,
    #[serde(flatten)]
    filing: FilingInput,
}

async fn file(State(app): State<AppState>, lang: Lang, s: SignedIn, body: Option<Json<FileBody>>) -> Response {
    if let Err(response) = staff(&app, lang, &s).await {
        return response;
    }
    let Some(Json(body)) = body else {
        return error(StatusCode::BAD_REQUEST, "invalid_request", lang.t("error-bad-request"));
    };
    match super::file(&app, &s.account, &body.authority, &body.filing).await {
        Ok(r) => (StatusCode::CREATED, Json(r)).into_response(),
        Err(e) => answer_with(lang, e, app.config.requisitions.max_nondisclosure_days),
    }
}

async fn show(State(app): State<AppState>, lang: Lang, s: SignedIn, Path(id): Path<String>) -> Response {
    let roles = match staff(&app, lang, &s).await {
        Ok(roles) => roles,
        Err(response) => return response,
    };
    match app.store.requisition(&id).await {
        Ok(Some(r)) if roles.approver || roles.hub_staff || roles.requests_for(&r.authority_slug) => {
            Json(r).into_response()
        }
        Ok(Some(_)) => answer(lang, Refusal::NotRequester.into()),
        Ok(None) => answer(lang, Refusal::UnknownRequisition.into()),
        Err(e) => answer(lang, e.into()),
    }
}

async fn approve(State(app): State<AppState>, lang: Lang, s: SignedIn, Path(id): Path<String>) -> Response {
    if let Err(response) = staff(&app, lang, &s).await {
        return response;
    }
    match super::approve(&app, &s.account, &id).await {
        Ok(stage) => Json(serde_json::json!({"id": id, "approval": stage.number()})).into_response(),
        Err(e) => answer(lang, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Reason {
    reason: String,
}

async fn reject(
    State(app): State<AppState>,
    lang: Lang,
    s: SignedIn,
    Path(id): Path<String>,
    body: Option<Json<Reason>>,
) -> Response {
    if let Err(response) = staff(&app, lang, &s).await {
        return response;
    }
    let reason = body.map(|Json(b)| b.reason).unwrap_or_default();
    match super::reject(&app, &s.account, &id, &reason).await {
        Ok(()) => Json(serde_json::json!({"id": id, "status": "rejected"})).into_response(),
        Err(e) => answer(lang, e),
    }
}

/// The package as a download (also what the page's button answers).
pub fn package_bytes(id: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (CONTENT_TYPE, "application/pkcs7-mime; smime-type=enveloped-data".to_string()),
            (CACHE_CONTROL, "no-store".to_string()),
            (CONTENT_DISPOSITION, format!("attachment; filename=\"requisicion-{id}.p7m\"")),
        ],
        bytes,
    )
        .into_response()
}

async fn package(
    State(app): State<AppState>,
    lang: Lang,
    s: SignedIn,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Err(response) = staff(&app, lang, &s).await {
        return response;
    }
    // A GET that spends the one download: never on a link followed from another site (the
    // session cookie is SameSite=Lax, which top-level navigations still carry).
    if headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site") {
        return error(StatusCode::FORBIDDEN, "cross_site", lang.t("error-forbidden"));
    }
    match super::download(&app, &s.account, &id).await {
        Ok(bytes) => package_bytes(&id, bytes),
        Err(e) => answer(lang, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AttestationBody {
    attestation: String,
    basis: String,
}

async fn attest(
    State(app): State<AppState>,
    lang: Lang,
    s: SignedIn,
    Path(id): Path<String>,
    body: Option<Json<AttestationBody>>,
) -> Response {
    if let Err(response) = staff(&app, lang, &s).await {
        return response;
    }
    let body = body.map(|Json(b)| b).unwrap_or_default();
    match super::attest(&app, &s.account, &id, &body.attestation, &body.basis).await {
        Ok(()) => Json(serde_json::json!({"id": id, "attestation": body.attestation.trim()})).into_response(),
        Err(e) => answer(lang, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ExtensionBody {
    until: String,
}

async fn extend(
    State(app): State<AppState>,
    lang: Lang,
    s: SignedIn,
    Path(id): Path<String>,
    body: Option<Json<ExtensionBody>>,
) -> Response {
    if let Err(response) = staff(&app, lang, &s).await {
        return response;
    }
    let until = body.map(|Json(b)| b.until).unwrap_or_default();
    match super::ask_extension(&app, &s.account, &id, &until).await {
        Ok(until) => Json(serde_json::json!({"id": id, "extension_until": until})).into_response(),
        Err(e) => answer_with(lang, e, app.config.requisitions.max_nondisclosure_days),
    }
}

async fn approve_extension(State(app): State<AppState>, lang: Lang, s: SignedIn, Path(id): Path<String>) -> Response {
    if let Err(response) = staff(&app, lang, &s).await {
        return response;
    }
    match super::approve_extension(&app, &s.account, &id).await {
        Ok(stage) => Json(serde_json::json!({"id": id, "approval": stage.number()})).into_response(),
        Err(e) => answer(lang, e),
    }
}
