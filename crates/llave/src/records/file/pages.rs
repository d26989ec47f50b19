//! The file as a page (and as the printable document `export` sends): what the person reads,
//! in their language, with the forms to withdraw a consent and to file an ARCO request.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;
use serde_json::Value;

use super::CitizenFile;
use crate::AppState;
use crate::calendar::format_time;
use crate::catalog::model::kind_name;
use crate::records::arco::{self, FilingError};
use crate::web::error::{PageError, PageResult};
use crate::web::form::{CsrfForm, PageQuery};
use crate::web::page::{Chrome, render};
use crate::web::session::SignedIn;

pub struct VersionView {
    pub version: i64,
    pub when: String,
    pub attributes: Vec<(String, String)>,
    pub file_name: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

pub struct RecordView {
    pub id: String,
    pub kind: String,
    pub procedure: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub version: i64,
    pub updated: String,
    pub withdrawn: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub file_name: Option<String>,
    pub history: Vec<VersionView>,
    pub history_label: String,
}

pub struct HolderView {
    pub name: String,
    pub records: Vec<RecordView>,
    /// Its store did not answer: the contents are missing for now.
    pub unavailable: bool,
}

pub struct AccessView {
    pub when: String,
    pub who: String,
    pub record: String,
    pub procedure: String,
    pub purpose: String,
    pub legal_basis: String,
    pub outcome: String,
    pub refused: bool,
}

pub struct ConsentView {
    pub id: String,
    pub reader: String,
    pub kind: String,
    pub holder: String,
    pub procedure: String,
    pub since: String,
    pub withdrawn: Option<String>,
}

/// A company's permission (a consent artefact), as the person reads it.
pub struct CompanyView {
    pub id: String,
    pub name: String,
    pub tax_id: String,
    pub purpose: String,
    /// `active`, `paused`, `revoked`, `expired`.
    pub state: &'static str,
    pub state_words: String,
    pub items: Vec<String>,
    pub terms: Vec<String>,
    pub fetches: String,
    pub last_fetch: Option<String>,
    pub refusals: Option<String>,
    /// The fetches and refusals among the person's newest events: (when, what).
    pub history: Vec<(String, String)>,
}

pub struct SignatureView {
    pub when: String,
    pub name: String,
    pub sha256: String,
    pub how: String,
}

pub struct ConnectionView {
    pub entity: String,
    pub client: String,
    pub last_sign_in: String,
    pub consented_since: String,
}

pub struct ArcoView {
    pub record: String,
    pub holder: String,
    pub right: String,
    pub message: String,
    pub filed: String,
    pub due: String,
    pub days_left: Option<String>,
    pub status: String,
    pub answer: Option<String>,
    pub answered: String,
}

/// An authority's requisition of the person's records, once the person may be told.
pub struct RequisitionView {
    pub authority: String,
    pub legal_basis: String,
    pub case_number: String,
    pub filed: String,
    pub status: String,
    /// What was delivered (kinds and holders), and when; `None` before a delivery.
    pub delivered: Option<(String, String)>,
}

pub struct EventView {
    pub id: i64,
    pub when: String,
    pub what: String,
}

/// Everything the page and the printable document show.
pub struct FileView {
    pub person: String,
    pub curp: String,
    pub email: String,
    pub generated: String,
    pub holders: Vec<HolderView>,
    pub accesses: Vec<AccessView>,
    /// The person's events, each with its proof in the audit log (`/audit/proof/{id}`).
    pub events: Vec<EventView>,
    pub consents: Vec<ConsentView>,
    pub companies: Vec<CompanyView>,
    pub signatures: Vec<SignatureView>,
    pub connections: Vec<ConnectionView>,
    pub arco: Vec<ArcoView>,
    pub requisitions: Vec<RequisitionView>,
    pub rights: Vec<(&'static str, String)>,
}

/// An attributes object as label/value lines, values that are not text as JSON. A key is
/// shown by its label (`attribute-codigo-postal` = "Código postal"), or as words when it
/// has none (`numero_de_cuenta` → "Numero de cuenta").
fn attribute_lines(c: &Chrome, attributes: &Value) -> Vec<(String, String)> {
    match attributes {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (attribute_label(c, k), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![(String::new(), other.to_string())],
    }
}

fn attribute_label(c: &Chrome, key: &str) -> String {
    c.lang.try_t(&format!("attribute-{}", key.replace('_', "-"))).unwrap_or_else(|| {
        let words = key.replace(['_', '-'], " ");
        let mut chars = words.trim().chars();
        chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
    })
}

/// A read's basis in words: the law as cited, or "your permission of <date>" for a consent.
fn basis_words(c: &Chrome, file: &CitizenFile, basis: Option<&str>) -> String {
    match basis.and_then(|b| b.strip_prefix("consent ")) {
        Some(id) => match file.consents.iter().find(|x| x.id == id.trim()) {
            Some(consent) => c.t_with(
                "file-basis-consent-of",
                &[("when", crate::calendar::format_date(crate::calendar::city_date(consent.granted_at)))],
            ),
            None => c.t("file-basis-consent"),
        },
        None => dash(basis),
    }
}

fn dash(text: Option<&str>) -> String {
    text.filter(|t| !t.is_empty()).map(str::to_string).unwrap_or_else(|| "—".into())
}

pub fn view(app: &AppState, c: &Chrome, file: &CitizenFile) -> FileView {
    let a = &file.account;
    let person = a.full_name();
    let holders = file
        .holders
        .iter()
        .map(|h| HolderView {
            unavailable: h.unavailable,
            name: if h.entity.name.is_empty() { h.entity.slug.clone() } else { h.entity.name.clone() },
            records: h
                .records
                .iter()
                .map(|r| {
                    let l = &r.locator;
                    let current = r.versions.iter().find(|v| v.version == l.version).or(r.versions.last());
                    RecordView {
                        id: l.record_id.clone(),
                        kind: kind_name(c.lang, &l.kind),
                        procedure: l.procedure.as_deref().map(|p| file.procedure_name(p)),
                        valid_from: l.valid_from.clone(),
                        valid_until: l.valid_until.clone(),
                        version: l.version,
                        updated: format_time(l.updated_at),
                        withdrawn: l.withdrawn_at.map(format_time),
                        attributes: current.map(|v| attribute_lines(c, &v.content.attributes)).unwrap_or_default(),
                        file_name: current.and_then(|v| v.file.as_ref().map(|f| f.name.clone())),
                        history_label: if r.versions.len() == 1 {
                            c.t("file-history-one")
                        } else {
                            c.t_with("file-history", &[("count", r.versions.len().to_string())])
                        },
                        history: r
                            .versions
                            .iter()
                            .map(|v| VersionView {
                                version: v.version,
                                when: format_time(v.created_at),
                                attributes: attribute_lines(c, &v.content.attributes),
                                file_name: v.file.as_ref().map(|f| f.name.clone()),
                                valid_from: v.valid_from.clone(),
                                valid_until: v.valid_until.clone(),
                            })
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect();
    let record_label = |record_id: Option<&str>| match record_id.and_then(|id| file.record(id)) {
        Some(r) => format!("{} ({})", kind_name(c.lang, &r.locator.kind), file.entity_name(Some(r.locator.entity_id))),
        None => "—".into(),
    };
    let accesses = file
        .accesses
        .iter()
        .map(|x| AccessView {
            when: format_time(x.at),
            who: match x.reader_kind.as_str() {
                "entity" => {
                    let name = file.entity_name(x.reader_entity_id);
                    if name.is_empty() { x.reader.clone() } else { name }
                }
                "third_party" => {
                    let company = file.sharing.iter().find(|s| s.artefact.client_id == x.reader);
                    company.map(|s| s.legal_name.clone()).unwrap_or_else(|| x.reader.clone())
                }
                kind => c.t_with(&format!("file-reader-{kind}"), &[("name", x.reader.clone())]),
            },
            record: record_label(x.record_id.as_deref()),
            procedure: x.procedure.as_deref().map(|p| file.procedure_name(p)).unwrap_or_else(|| "—".into()),
            purpose: shown_purpose(c, file, &x.purpose),
            legal_basis: basis_words(c, file, x.legal_basis.as_deref()),
            outcome: c.t(if x.outcome == "read" { "file-outcome-read" } else { "file-outcome-refused" }),
            refused: x.outcome != "read",
        })
        .collect();
    let consents = file
        .consents
        .iter()
        .map(|x| ConsentView {
            id: x.id.clone(),
            reader: file.entity_name(Some(x.reader_entity_id)),
            kind: kind_name(c.lang, &x.kind),
            holder: file.entity_name(Some(x.holder_entity_id)),
            procedure: file.procedure_name(&x.procedure),
            since: format_time(x.granted_at),
            withdrawn: x.withdrawn_at.map(|t| c.t_with("file-consent-withdrawn-on", &[("when", format_time(t))])),
        })
        .collect();
    let signatures = file
        .signatures
        .iter()
        .map(|s| SignatureView {
            when: format_time(s.created_at),
            name: s.document_name.clone(),
            sha256: s.document_sha256.clone(),
            how: c.t(&format!("sign-source-{}", s.source)),
        })
        .collect();
    let connections = file
        .connections
        .iter()
        .map(|x| ConnectionView {
            entity: x.entity_name.clone(),
            client: x.client_name.clone(),
            last_sign_in: x.last_sign_in.map(format_time).unwrap_or_else(|| "—".into()),
            consented_since: x.consented_at.map(format_time).unwrap_or_else(|| "—".into()),
        })
        .collect();
    let arco = file
        .arco
        .iter()
        .map(|r| ArcoView {
            record: r.record_id.as_deref().map(|id| record_label(Some(id))).unwrap_or_else(|| "—".into()),
            holder: file.entity_name(Some(r.entity_id)),
            right: c.t(&format!("arco-right-{}", r.right)),
            message: r.message.clone(),
            filed: format_time(r.filed_at),
            due: r.due_date.clone(),
            days_left: arco::deadline(app, r)
                .map(|(left, _)| c.t_with("arco-days-left", &[("days", left.max(0).to_string())])),
            status: c.t(&format!("arco-status-{}", r.status)),
            answer: r.answer.clone(),
            answered: r.answered_at.map(format_time).unwrap_or_default(),
        })
        .collect();
    let events = file
        .events
        .iter()
        .map(|e| {
            let what = c.t(&format!("event-{}", e.kind));
            // An act at the counter names who helped: "… · Con ayuda de <name>, <office>".
            let what = match crate::web::words::assisted(c.lang, &e.detail) {
                Some(helped) => format!("{what} · {helped}"),
                None => what,
            };
            EventView { id: e.id, when: format_time(e.at), what }
        })
        .collect();
    let requisitions = file
        .requisitions
        .iter()
        .map(|(r, authority)| {
            let delivered = r.delivered_at.map(|at| {
                let what: Vec<String> = r
                    .delivered_records
                    .iter()
                    .map(|id| match file.record(id) {
                        Some(found) => format!(
                            "{} ({})",
                            kind_name(c.lang, &found.locator.kind),
                            file.entity_name(Some(found.locator.entity_id))
                        ),
                        None => id.clone(),
                    })
                    .collect();
                let what = if what.is_empty() { c.t("file-requisition-nothing") } else { what.join(", ") };
                (what, format_time(at))
            });
            RequisitionView {
                authority: authority.as_ref().map(|a| a.name.clone()).unwrap_or_else(|| r.authority_slug.clone()),
                legal_basis: format!("{}, {}", r.law, r.article),
                case_number: r.case_number.clone(),
                filed: format_time(r.filed_at),
                status: c.t(&format!("file-requisition-{}", r.status.as_str())),
                delivered,
            }
        })
        .collect();
    let companies = file.sharing.iter().map(|s| company_view(c, file, s)).collect();
    FileView {
        companies,
        requisitions,
        events,
        person,
        curp: a.curp.clone(),
        email: a.email.clone(),
        generated: format_time(file.generated_at),
        holders,
        accesses,
        consents,
        signatures,
        connections,
        arco,
        rights: arco::RIGHTS.iter().map(|r| (*r, c.t(&format!("arco-right-{r}")))).collect(),
    }
}

#[derive(Template)]
#[template(path = "records/file.html")]
struct FilePage {
    c: Chrome,
    f: FileView,
    printable: bool,
    notice: Option<String>,
    problem: Option<String>,
}

async fn page(
    app: &AppState,
    c: Chrome,
    s: &SignedIn,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
) -> PageResult {
    let file = super::gather(app, &s.account).await.map_err(|e| PageError::internal(c.lang, e))?;
    let f = view(app, &c, &file);
    Ok(render(status, &FilePage { c: c.signed_in(), f, printable: false, notice, problem }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeQuery {
    aviso: Option<String>,
}

pub async fn show(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    PageQuery(q): PageQuery<NoticeQuery>,
) -> PageResult {
    let notice = match q.aviso.as_deref() {
        Some("permiso-retirado") => Some(c.t("file-consent-withdrawn")),
        Some("permiso-empresa") => Some(c.t("file-company-changed")),
        Some("arco-presentada") => Some(c.t("arco-filed")),
        _ => None,
    };
    page(&app, c, &s, StatusCode::OK, notice, None).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Empty {}

pub async fn withdraw_consent(
    State(app): State<AppState>,
    c: Chrome,
    client: crate::web::client::ClientMeta,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    let actor = crate::accounts::Actor::from(&client);
    let withdrawn = crate::consent::withdraw(&app, s.account.id, crate::consent::Withdraw::Reuse(&id), &actor)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    if withdrawn {
        return Ok(Redirect::to("/expediente?aviso=permiso-retirado#permisos").into_response());
    }
    // Not theirs, unknown or already withdrawn: nothing changed, and the page says so.
    let problem = Some(c.t("file-consent-not-withdrawn"));
    page(&app, c, &s, StatusCode::NOT_FOUND, None, problem).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ArcoForm {
    record_id: String,
    right: String,
    message: String,
}

pub async fn file_arco(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    CsrfForm(form): CsrfForm<ArcoForm>,
) -> PageResult {
    let filed = arco::file_request(&app, s.account.id.0, &form.record_id, form.right.trim(), &form.message)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    let problem = match filed {
        Ok(_) => return Ok(Redirect::to("/expediente?aviso=arco-presentada#arco").into_response()),
        Err(FilingError::NotYourRecord) => return Err(PageError::not_found(c.lang)),
        Err(FilingError::UnknownRight) => c.t("arco-error-right"),
        Err(FilingError::EmptyMessage) => c.t("arco-error-message"),
        Err(FilingError::MessageTooLong) => {
            c.t_with("arco-error-too-long", &[("max", arco::MAX_MESSAGE_CHARS.to_string())])
        }
    };
    page(&app, c, &s, StatusCode::BAD_REQUEST, None, Some(problem)).await
}

fn company_view(c: &Chrome, file: &CitizenFile, s: &crate::consent::artefacts::Shown) -> CompanyView {
    use crate::consent::sharing::State;
    use crate::consent::words::{duration_words, frequency_words, sharing_item};
    let a = &s.artefact;
    let state = match s.state {
        State::Active => "active",
        State::Paused => "paused",
        State::Revoked => "revoked",
        State::Expired => "expired",
    };
    let (items, terms) = match &s.granted {
        Some(g) => {
            let items = g.sharing.items.iter().map(|i| sharing_item(c, i, g.sources.get(i))).collect();
            let mut terms = vec![frequency_words(c, &g.sharing)];
            if let Ok(span) = crate::consent::sharing::duration(&g.sharing.data_life, "data_life") {
                terms.push(c.t_with("file-company-keep", &[("period", duration_words(c, span))]));
            }
            terms.push(c.t_with("file-company-until", &[("when", format_time(a.expires_at))]));
            (items, terms)
        }
        None => (Vec::new(), Vec::new()),
    };
    let marker = format!("artefact={} ", a.id);
    let history = file
        .events
        .iter()
        .filter(|e| e.detail.starts_with(&marker))
        .filter_map(|e| match e.kind.as_str() {
            "shared_data_fetched" => Some((format_time(e.at), c.t("file-company-fetched"))),
            "shared_data_refused" => {
                let reason = e.detail.split(' ').find_map(|w| w.strip_prefix("reason=")).unwrap_or("");
                let why = c.t(&format!("file-company-refusal-{reason}"));
                Some((format_time(e.at), c.t_with("file-company-refused", &[("reason", why)])))
            }
            _ => None,
        })
        .collect();
    CompanyView {
        id: a.id.clone(),
        name: s.legal_name.clone(),
        tax_id: s.tax_id.clone(),
        purpose: crate::consent::artefacts::purpose_title(&a.purpose),
        state,
        state_words: c.t(&format!("file-company-state-{state}")),
        items,
        terms,
        fetches: c.t_with("file-company-fetches", &[("count", a.fetches.to_string())]),
        last_fetch: a.last_fetch_at.map(|at| c.t_with("file-company-last", &[("when", format_time(at))])),
        refusals: (a.refusals > 0).then(|| c.t_with("file-company-refusals", &[("count", a.refusals.to_string())])),
        history,
    }
}

/// Pauses, resumes or revokes a company's permission (`accion`: pausar, reanudar, revocar).
pub async fn change_company(
    State(app): State<AppState>,
    c: Chrome,
    client: crate::web::client::ClientMeta,
    s: SignedIn,
    Path((id, action)): Path<(String, String)>,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    let Some(change) = crate::consent::sharing::Change::parse(&action) else {
        return Err(PageError::not_found(c.lang));
    };
    let actor = crate::accounts::Actor::from(&client);
    let by = crate::consent::artefacts::By::Person(s.account.id, &actor);
    let changed =
        crate::consent::artefacts::change(&app, &id, change, by).await.map_err(|e| PageError::internal(c.lang, e))?;
    if changed.is_some() {
        return Ok(Redirect::to("/expediente?aviso=permiso-empresa#empresas").into_response());
    }
    let problem = Some(c.t("file-company-not-changed"));
    page(&app, c, &s, StatusCode::CONFLICT, None, problem).await
}

/// The receipt of a company's permission: the signed artefact and what it says, as JSON.
pub async fn company_receipt(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    Path(id): Path<String>,
) -> PageResult {
    let receipt = crate::consent::artefacts::receipt(&app, s.account.id, &id)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    let Some(receipt) = receipt else { return Err(PageError::not_found(c.lang)) };
    let body = serde_json::to_string_pretty(&receipt).map_err(|e| PageError::internal(c.lang, e))?;
    let disposition = format!("attachment; filename=\"permiso-{id}.json\"");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    if let Ok(value) = axum::http::HeaderValue::from_str(&disposition) {
        headers.insert(axum::http::header::CONTENT_DISPOSITION, value);
    }
    headers.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The purpose of an access in the person's language, from validated parts only: a look-up
/// names a kind of the vocabulary (or "an unknown kind") and a procedure of the catalog.
fn shown_purpose(c: &Chrome, file: &super::CitizenFile, purpose: &str) -> String {
    if purpose == "entity API" {
        return c.t("file-purpose-entity-api");
    }
    if let Some((kind, procedure)) = purpose.strip_prefix("look-up of ").and_then(|rest| rest.split_once(" for ")) {
        let kind =
            if crate::catalog::model::is_kind(kind) { kind_name(c.lang, kind) } else { c.t("file-unknown-kind") };
        return c.t_with("file-purpose-lookup", &[("kind", kind), ("procedure", file.procedure_name(procedure))]);
    }
    // Reads carry the procedure's name; staff reads the purpose staff gave. Capped either way.
    purpose.chars().take(200).collect()
}
