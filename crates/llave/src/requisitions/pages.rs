//! `/requisiciones`: one page for the three roles, each section shown to who holds it — a
//! requester files for their authority and downloads, once, an approved package, then
//! attests; an approver sees what awaits approval with Aprobar and Rechazar; hub staff (and
//! approvers) see the overdue attestations flagged. Plain POST forms with the CSRF token, no
//! JavaScript; refusals are error pages in the person's language. The rules are in `rules`
//! and the acts in the module; this is the HTTP edge.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::rules::{FilingInput, Refusal};
use super::{RequisitionError, Roles};
use crate::AppState;
use crate::calendar::{city_date, format_date, format_time};
use crate::catalog::model::{REQUIREMENT_KINDS, kind_name};
use crate::store::requisitions::{Requisition, Status};
use crate::web::error::{PageError, PageResult};
use crate::web::form::{CsrfForm, PageQuery};
use crate::web::page::{Chrome, FieldErrors, render};
use crate::web::session::SignedIn;

pub const PATH: &str = "/requisiciones";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(show).post(file))
        .route("/requisiciones/{id}/aprobar", post(approve))
        .route("/requisiciones/{id}/rechazar", post(reject))
        .route("/requisiciones/{id}/paquete", post(package))
        .route("/requisiciones/{id}/constancia", post(attest))
}

/// A requisition as the page shows it.
pub struct Item {
    pub id: String,
    pub authority: String,
    pub person: String,
    pub kinds: String,
    pub dates: String,
    pub citation: String,
    pub justification: String,
    pub status: String,
    pub approvals: String,
    pub nondisclosure: String,
    pub due: Option<String>,
    pub delivered: Option<String>,
    pub attested: Option<String>,
    pub overdue: bool,
    /// Why this person may not approve it, if they may not.
    pub not_yours: Option<String>,
    pub may_download: bool,
    pub may_attest: bool,
}

/// The filing form's values, as typed: the authority filed for, and the filing itself.
#[derive(Default)]
pub struct Form {
    pub authority: String,
    pub filing: FilingInput,
}

#[derive(Template)]
#[template(path = "requisitions/page.html")]
struct Page {
    c: Chrome,
    roles: Roles,
    authorities: Vec<(String, String)>,
    kinds: Vec<(&'static str, String)>,
    form: Form,
    errors: FieldErrors,
    /// The order field's hint, naming the longest order.
    order_hint: String,
    filed: Vec<Item>,
    pending: Vec<Item>,
    overdue: Vec<Item>,
    notice: Option<String>,
    /// A problem with one requisition's form: its id, field and message.
    item_error: Option<(String, &'static str, String)>,
}

impl Page {
    fn kind_checked(&self, code: &str) -> bool {
        self.form.filing.kinds.iter().any(|k| k == code)
    }

    fn item_error(&self, id: &str, field: &str) -> Option<&str> {
        self.item_error.as_ref().filter(|(i, f, _)| i == id && *f == field).map(|(_, _, m)| m.as_str())
    }
}

fn refused(c: &Chrome, e: RequisitionError) -> PageError {
    match e {
        RequisitionError::Refused(refusal) => PageError::new(
            StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN),
            c.lang,
            "requisition-refused-title",
            refusal.key(),
        ),
        other => PageError::internal(c.lang, other),
    }
}

/// Someone with a requisition role who used a second factor in this session.
async fn staff(app: &AppState, c: &Chrome, s: &SignedIn) -> Result<Roles, PageError> {
    let roles = super::roles(app, s.account.id).await.map_err(|e| PageError::internal(c.lang, e))?;
    if !roles.any() {
        return Err(PageError::new(StatusCode::FORBIDDEN, c.lang, "error-forbidden-title", "requisitions-not-staff"));
    }
    if !crate::assurance::staff::second_factor_used(&s.session) {
        return Err(PageError::new(StatusCode::FORBIDDEN, c.lang, "staff-factor-title", "staff-factor-enrol"));
    }
    Ok(roles)
}

async fn item(app: &AppState, c: &Chrome, me: i64, r: &Requisition, now: i64) -> Result<Item, PageError> {
    let internal = |e| PageError::internal(c.lang, e);
    let authority = app.store.requesting_authority(&r.authority_slug).await.map_err(internal)?;
    let person = app.store.account_by_id(crate::store::AccountId(r.account_id)).await.map_err(internal)?;
    let approvals = [r.first_approver_id, r.second_approver_id].iter().flatten().count();
    let not_yours = match super::rules::may_approve(r, me) {
        Err(Refusal::OwnRequisition) => Some(c.t("requisitions-own")),
        Err(Refusal::ApprovedAlready) => Some(c.t("requisitions-your-approval")),
        _ => None,
    };
    Ok(Item {
        id: r.id.clone(),
        authority: authority.map(|a| a.name).unwrap_or_else(|| r.authority_slug.clone()),
        person: person.map(|p| p.curp).unwrap_or_default(),
        kinds: r.kinds.iter().map(|k| kind_name(c.lang, k)).collect::<Vec<_>>().join(", "),
        dates: format!("{} – {}", r.date_from, r.date_to),
        citation: super::citation(r),
        justification: r.justification.clone(),
        status: c.t(&format!("requisitions-status-{}", r.status.as_str())),
        approvals: c.t_with("requisitions-approvals", &[("count", approvals.to_string())]),
        nondisclosure: match r.nondisclosure_until {
            Some(until) if until > now => format_date(city_date(until)),
            _ => c.t("requisitions-nondisclosure-none"),
        },
        due: r.attestation_due.map(format_time),
        delivered: r.delivered_at.map(format_time),
        attested: r.attestation.as_ref().map(|a| {
            format!(
                "{} · {}",
                c.t(&format!("requisitions-attestation-{a}")),
                r.attestation_basis.clone().unwrap_or_default()
            )
        }),
        overdue: super::rules::overdue(r, now),
        not_yours,
        may_download: r.status == Status::Approved && r.delivered_at.is_none(),
        may_attest: r.delivered_at.is_some() && r.attested_at.is_none(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Notice {
    hecho: String,
}

/// What this rendering shows besides the lists: the form as typed and its problems, a
/// notice, one requisition's form problem.
#[derive(Default)]
struct Shown {
    form: Form,
    errors: FieldErrors,
    notice: Option<String>,
    item_error: Option<(String, &'static str, String)>,
}

async fn render_page(app: &AppState, c: Chrome, s: &SignedIn, roles: Roles, shown: Shown) -> PageResult {
    let Shown { form, errors, notice, item_error } = shown;
    let internal = |e| PageError::internal(c.lang, e);
    let now = app.clock.now();
    let me = s.account.id.0;
    let mut authorities = Vec::new();
    let (mut filed, mut pending, mut overdue) = (Vec::new(), Vec::new(), Vec::new());
    for slug in &roles.requester_of {
        if let Some(a) = app.store.requesting_authority(slug).await.map_err(internal)? {
            authorities.push((a.slug, a.name));
        }
        for r in app.store.requisitions_of_authority(slug).await.map_err(internal)? {
            filed.push(item(app, &c, me, &r, now).await?);
        }
    }
    if roles.approver {
        for r in app.store.requisitions_awaiting_approval().await.map_err(internal)? {
            if r.status == Status::Pending {
                pending.push(item(app, &c, me, &r, now).await?);
            }
        }
    }
    if roles.approver || roles.hub_staff {
        for r in app.store.overdue_requisitions(now).await.map_err(internal)? {
            overdue.push(item(app, &c, me, &r, now).await?);
        }
    }
    let kinds = REQUIREMENT_KINDS.iter().map(|(code, ..)| (*code, kind_name(c.lang, code))).collect();
    let status = if errors.is_empty() && item_error.is_none() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let c = c.signed_in();
    let order_hint =
        super::message(c.lang, "field-nondisclosure-until-hint", app.config.requisitions.max_nondisclosure_days);
    let page =
        Page { c, roles, authorities, kinds, form, errors, order_hint, filed, pending, overdue, notice, item_error };
    Ok(render(status, &page))
}

async fn show(State(app): State<AppState>, c: Chrome, s: SignedIn, PageQuery(q): PageQuery<Notice>) -> PageResult {
    let roles = staff(&app, &c, &s).await?;
    let notice = match q.hecho.as_str() {
        "presentada" => Some(c.t("requisitions-saved-filed")),
        "aprobada" => Some(c.t("requisitions-saved-approved")),
        "rechazada" => Some(c.t("requisitions-saved-rejected")),
        "constancia" => Some(c.t("requisitions-saved-attested")),
        _ => None,
    };
    render_page(&app, c, &s, roles, Shown { notice, ..Shown::default() }).await
}

/// The filing form: repeated `kinds` checkboxes, so read as pairs.
async fn file(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Response {
    let roles = match staff(&app, &c, &s).await {
        Ok(roles) => roles,
        Err(e) => return e.into_response(),
    };
    let mut form = Form::default();
    for (name, value) in pairs {
        match name.as_str() {
            "authority" => form.authority = value,
            "curp" => form.filing.curp = value,
            "kinds" => form.filing.kinds.push(value),
            "date_from" => form.filing.date_from = value,
            "date_to" => form.filing.date_to = value,
            "law" => form.filing.law = value,
            "article" => form.filing.article = value,
            "case_number" => form.filing.case_number = value,
            "justification" => form.filing.justification = value,
            "nondisclosure_until" => form.filing.nondisclosure_until = value,
            _ => {}
        }
    }
    if form.authority.is_empty() && roles.requester_of.len() == 1 {
        form.authority = roles.requester_of[0].clone();
    }
    match super::file(&app, &s.account, &form.authority, &form.filing).await {
        Ok(_) => Redirect::to(&format!("{PATH}?hecho=presentada")).into_response(),
        Err(RequisitionError::Invalid(problems)) => {
            let mut errors = FieldErrors::default();
            for (field, key) in problems {
                errors.add(field, super::message(c.lang, key, app.config.requisitions.max_nondisclosure_days));
            }
            render_page(&app, c, &s, roles, Shown { form, errors, ..Shown::default() }).await.into_response()
        }
        Err(e) => refused(&c, e).into_response(),
    }
}

async fn approve(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Vec<(String, String)>>,
) -> PageResult {
    staff(&app, &c, &s).await?;
    super::approve(&app, &s.account, &id).await.map_err(|e| refused(&c, e))?;
    Ok(Redirect::to(&format!("{PATH}?hecho=aprobada")).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RejectForm {
    reason: String,
}

async fn reject(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<RejectForm>,
) -> PageResult {
    let roles = staff(&app, &c, &s).await?;
    match super::reject(&app, &s.account, &id, &form.reason).await {
        Ok(()) => Ok(Redirect::to(&format!("{PATH}?hecho=rechazada")).into_response()),
        Err(RequisitionError::Invalid(problems)) => {
            let message = problems.first().map(|(_, key)| c.t(key)).unwrap_or_default();
            let item_error = Some((id, "reason", message));
            render_page(&app, c, &s, roles, Shown { item_error, ..Shown::default() }).await
        }
        Err(e) => Err(refused(&c, e)),
    }
}

async fn package(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<Vec<(String, String)>>,
) -> Response {
    if let Err(e) = staff(&app, &c, &s).await {
        return e.into_response();
    }
    match super::download(&app, &s.account, &id).await {
        Ok(bytes) => super::api::package_bytes(&id, bytes),
        Err(e) => refused(&c, e).into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AttestForm {
    attestation: String,
    basis: String,
}

async fn attest(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<AttestForm>,
) -> PageResult {
    let roles = staff(&app, &c, &s).await?;
    match super::attest(&app, &s.account, &id, &form.attestation, &form.basis).await {
        Ok(()) => Ok(Redirect::to(&format!("{PATH}?hecho=constancia")).into_response()),
        Err(RequisitionError::Invalid(problems)) => {
            let (field, key) = problems.first().copied().unwrap_or(("basis", "requisition-error-basis"));
            let item_error = Some((id, field, c.t(key)));
            render_page(&app, c, &s, roles, Shown { item_error, ..Shown::default() }).await
        }
        Err(e) => Err(refused(&c, e)),
    }
}
