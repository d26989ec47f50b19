//! The whole file to download: JSON (for machines and for moving it elsewhere) and a
//! standalone HTML document to read or print; and a record's attached file, for its person.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::CitizenFile;
use super::pages::{FileView, view};
use crate::AppState;
use crate::records::api::version_json;
use crate::web::error::{PageError, PageResult};
use crate::web::form::PageQuery;
use crate::web::page::Chrome;
use crate::web::session::SignedIn;

/// Where the person downloads a version's file.
fn file_url(base: &str, record_id: &str, version: i64) -> String {
    format!("{base}/expediente/registros/{record_id}/archivo?version={version}")
}

/// The file as JSON: everything in it, file contents by URL.
pub fn to_json(app: &AppState, file: &CitizenFile) -> Value {
    let base = app.config.issuer();
    let a = &file.account;
    let records: Vec<Value> = file
        .holders
        .iter()
        .flat_map(|h| h.records.iter().map(move |r| (h, r)))
        .map(|(h, r)| {
            let l = &r.locator;
            let versions: Vec<Value> = r
                .versions
                .iter()
                .map(|v| {
                    let mut value = version_json(v);
                    if let Some(file) = value.get_mut("file").and_then(Value::as_object_mut) {
                        file.insert("url".into(), json!(file_url(&base, &l.record_id, v.version)));
                    }
                    value
                })
                .collect();
            json!({
                "record_id": l.record_id,
                "entity": h.entity.slug,
                "entity_name": h.entity.name,
                "kind": l.kind,
                "procedure": l.procedure,
                "current_version": l.version,
                "valid_from": l.valid_from,
                "valid_until": l.valid_until,
                "created_at": l.created_at,
                "updated_at": l.updated_at,
                "withdrawn_at": l.withdrawn_at,
                "versions": versions,
            })
        })
        .collect();
    let accesses: Vec<Value> = file
        .accesses
        .iter()
        .map(|x| {
            json!({
                "at": x.at,
                "record_id": x.record_id,
                "kind": x.record_id.as_deref().and_then(|id| file.record(id)).map(|r| r.locator.kind.clone()),
                "holder_entity": file.entity_slug(x.holder_entity_id),
                "reader_kind": x.reader_kind,
                "reader_entity": file.entity_slug(x.reader_entity_id),
                "reader_entity_name": x.reader_entity_id.map(|id| file.entity_name(Some(id))),
                "reader": x.reader,
                "procedure": x.procedure,
                "purpose": x.purpose,
                "legal_basis": x.legal_basis,
                "outcome": x.outcome,
                "detail": x.detail,
            })
        })
        .collect();
    let consents: Vec<Value> = file
        .consents
        .iter()
        .map(|x| {
            json!({
                "id": x.id,
                "reader_entity": file.entity_slug(Some(x.reader_entity_id)),
                "reader_entity_name": file.entity_name(Some(x.reader_entity_id)),
                "procedure": x.procedure,
                "kind": x.kind,
                "holder_entity": file.entity_slug(Some(x.holder_entity_id)),
                "holder_entity_name": file.entity_name(Some(x.holder_entity_id)),
                "granted_at": x.granted_at,
                "withdrawn_at": x.withdrawn_at,
            })
        })
        .collect();
    let signatures: Vec<Value> = file
        .signatures
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "document_name": s.document_name,
                "document_sha256": s.document_sha256,
                "source": s.source,
                "entity": s.entity_slug,
                "certificate_serial": s.certificate_serial,
                "created_at": s.created_at,
            })
        })
        .collect();
    let signed_in: Vec<Value> = file
        .connections
        .iter()
        .map(|x| {
            json!({
                "entity_name": x.entity_name,
                "client_id": x.client_id,
                "client_name": x.client_name,
                "consented_scope": x.consented_scope,
                "consented_at": x.consented_at,
                "last_sign_in": x.last_sign_in,
            })
        })
        .collect();
    let arco: Vec<Value> = file
        .arco
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "record_id": r.record_id,
                "kind": r.kind,
                "entity": file.entity_slug(Some(r.entity_id)),
                "entity_name": file.entity_name(Some(r.entity_id)),
                "right": r.right,
                "message": r.message,
                "filed_at": r.filed_at,
                "due_date": r.due_date,
                "status": r.status,
                "answer": r.answer,
                "answered_at": r.answered_at,
            })
        })
        .collect();
    // Only the requisitions the person may be told about (the order ended, or there was none).
    let requisitions: Vec<Value> = file
        .requisitions
        .iter()
        .map(|(r, authority)| {
            json!({
                "id": r.id,
                "authority": r.authority_slug,
                "authority_name": authority.as_ref().map(|a| a.name.clone()),
                "law": r.law,
                "article": r.article,
                "case_number": r.case_number,
                "kinds": r.kinds,
                "date_from": r.date_from,
                "date_to": r.date_to,
                "status": r.status,
                "filed_at": r.filed_at,
                "delivered_at": r.delivered_at,
                "delivered_records": r.delivered_records,
            })
        })
        .collect();
    json!({
        "generated_at": file.generated_at,
        "person": {
            "curp": a.curp,
            "given_names": a.given_names,
            "first_surname": a.first_surname,
            "second_surname": a.second_surname,
            "birth_date": a.birth_date,
            "email": a.email,
        },
        "records": records,
        "accesses": accesses,
        "consents": consents,
        "signatures": signatures,
        "entities_signed_in": signed_in,
        "arco_requests": arco,
        "requisitions": requisitions,
    })
}

fn attachment(mut response: Response, content_type: &str, name: &str) -> Response {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '_' }).collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\"")) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn export_name(file: &CitizenFile, extension: &str) -> String {
    let date = crate::calendar::format_date(crate::calendar::city_date(file.generated_at));
    format!("expediente-{}-{date}.{extension}", file.account.curp)
}

pub async fn json(State(app): State<AppState>, c: Chrome, s: SignedIn) -> PageResult {
    let file = super::gather(&app, &s.account).await.map_err(|e| PageError::internal(c.lang, e))?;
    let body = serde_json::to_vec_pretty(&to_json(&app, &file)).map_err(|e| PageError::internal(c.lang, e))?;
    Ok(attachment(body.into_response(), "application/json", &export_name(&file, "json")))
}

#[derive(Template)]
#[template(path = "records/file_export.html")]
struct ExportDocument {
    c: Chrome,
    f: FileView,
    printable: bool,
}

pub async fn html(State(app): State<AppState>, c: Chrome, s: SignedIn) -> PageResult {
    let file = super::gather(&app, &s.account).await.map_err(|e| PageError::internal(c.lang, e))?;
    let f = view(&app, &c, &file);
    let document = ExportDocument { c: c.signed_in(), f, printable: true };
    let body = document.render().map_err(|e| PageError::internal(document.c.lang, e))?;
    Ok(attachment(body.into_response(), "text/html; charset=utf-8", &export_name(&file, "html")))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct VersionQuery {
    version: Option<i64>,
}

/// A record's file, only for the person the record is about; anyone else gets "not found".
pub async fn record_file(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    Path(id): Path<String>,
    PageQuery(q): PageQuery<VersionQuery>,
) -> PageResult {
    let internal = |e| PageError::internal(c.lang, e);
    let locator = app.store.record_locator(&id).await.map_err(internal)?;
    let Some(locator) = locator.filter(|l| l.account_id == s.account.id.0) else {
        return Err(PageError::not_found(c.lang));
    };
    let Some(version) = super::super::located_version(&app, &locator, q.version).await.map_err(internal)? else {
        return Err(PageError::not_found(c.lang));
    };
    let spoke = app.spokes.get(&app, locator.entity_id).await.map_err(internal)?;
    let (Some(info), Some(bytes)) = (version.file, spoke.file(&id, version.version).await.map_err(internal)?) else {
        return Err(PageError::not_found(c.lang));
    };
    Ok(attachment(bytes.into_response(), &info.content_type, &info.name))
}
