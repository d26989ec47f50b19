//! The legal reviewers' page, `/catalogo/revision-legal`: every legal basis that would let an
//! entity reuse records without consent, pending first, each with Approve and Reject (plain
//! POST forms with the CSRF token). The rules are in `review`; this is the HTTP edge.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use serde::Deserialize;

use super::model::{is_sensitive, kind_name};
use super::review::{self, BasisState, Decision, Refusal, Review, ReviewedBasis};
use crate::AppState;
use crate::store::roles::HUB;
use crate::web::error::{PageError, PageResult};
use crate::web::form::{CsrfForm, PageQuery};
use crate::web::page::{Chrome, render};
use crate::web::session::SignedIn;

pub const PATH: &str = "/catalogo/revision-legal";

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(list).post(decide))
}

/// A basis as the page shows it, in the person's language.
pub struct Item {
    pub procedure: String,
    pub procedure_name: String,
    pub entity: String,
    pub citation: String,
    pub url: Option<String>,
    /// Kind names, "(sensitive)" marked.
    pub kinds: Vec<String>,
    pub fingerprint: String,
    pub state: String,
    pub approvals: String,
    /// "approved · account:7 · 2026-12-02 10:00"
    pub decisions: Vec<String>,
    pub pending: bool,
    /// Why this person may not decide on it, if they may not.
    pub not_yours: Option<String>,
}

/// A basis's state and decisions in `c`'s language (also on the edit page and the report).
pub fn describe(c: &Chrome, basis: &ReviewedBasis) -> (String, String, Vec<String>) {
    let state = c.t(&format!("legal-review-state-{}", basis.state.as_str()));
    let approvals = c.t_with(
        "legal-review-approvals",
        &[("approvals", basis.approvals.to_string()), ("required", basis.required.to_string())],
    );
    let decisions = basis
        .reviews
        .iter()
        .map(|r: &Review| {
            format!(
                "{} · {} · {}",
                c.t(&format!("legal-review-decision-{}", r.decision.as_str())),
                r.reviewer(),
                crate::calendar::format_time(r.at)
            )
        })
        .collect();
    (state, approvals, decisions)
}

#[derive(Template)]
#[template(path = "catalog/legal_review.html")]
struct ReviewPage {
    c: Chrome,
    items: Vec<Item>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Notice {
    decidido: Option<String>,
}

fn forbidden(c: &Chrome, refusal: Refusal) -> PageError {
    let (status, message) = match refusal {
        Refusal::NotReviewer => (StatusCode::FORBIDDEN, "error-forbidden"),
        Refusal::EditorOfEntity => (StatusCode::FORBIDDEN, "legal-review-refused-editor"),
        Refusal::EditedIt => (StatusCode::FORBIDDEN, "legal-review-refused-edited"),
        Refusal::Changed => (StatusCode::CONFLICT, "legal-review-refused-changed"),
    };
    PageError::new(status, c.lang, "legal-review-refused-title", message)
}

async fn reviewer_roles(app: &AppState, c: &Chrome, s: &SignedIn) -> Result<Vec<(String, String)>, PageError> {
    let roles = app.store.roles_of(s.account.id).await.map_err(|e| PageError::internal(c.lang, e))?;
    if roles.iter().any(|(role, scope)| role == review::ROLE && scope == HUB) {
        // Deciding what the law lets entities read is privileged: a second factor first
        // (finding 13.14, NIST SP 800-63B AAL2).
        if !crate::assurance::staff::second_factor_used(&s.session) {
            return Err(PageError::new(StatusCode::FORBIDDEN, c.lang, "staff-factor-title", "staff-factor-enrol"));
        }
        Ok(roles)
    } else {
        Err(forbidden(c, Refusal::NotReviewer))
    }
}

async fn list(State(app): State<AppState>, c: Chrome, s: SignedIn, PageQuery(query): PageQuery<Notice>) -> PageResult {
    let c = c.signed_in();
    let roles = reviewer_roles(&app, &c, &s).await?;
    let internal = |e| PageError::internal(c.lang, e);
    let procedures = app.store.all_procedures().await.map_err(internal)?;
    let reviews = app.store.legal_basis_reviews().await.map_err(internal)?;
    let mut items = Vec::new();
    for procedure in procedures.iter().filter(|p| p.status != "retired") {
        for basis in review::reviewed(procedure, &reviews) {
            let editors = app.store.procedure_editors(&procedure.slug).await.map_err(internal)?;
            let not_yours = match review::may_decide(&roles, s.account.id.0, &editors, procedure, &basis.fingerprint) {
                Ok(()) => None,
                Err(Refusal::EditorOfEntity) => Some(c.t("legal-review-refused-editor")),
                Err(_) => Some(c.t("legal-review-refused-edited")),
            };
            let (state, approvals, decisions) = describe(&c, &basis);
            let kinds = basis
                .kinds
                .iter()
                .map(|k| {
                    let name = kind_name(c.lang, k);
                    if is_sensitive(k) { format!("{name} ({})", c.t("legal-review-sensitive")) } else { name }
                })
                .collect();
            items.push(Item {
                procedure: basis.procedure.clone(),
                procedure_name: basis.procedure_name.clone(),
                entity: basis.entity.clone(),
                citation: basis.citation(),
                url: basis.url.clone(),
                kinds,
                fingerprint: basis.fingerprint.clone(),
                state,
                approvals,
                decisions,
                pending: basis.state == BasisState::Pending,
                not_yours,
            });
        }
    }
    // Pending first; then as the catalog lists them.
    items.sort_by_key(|i| !i.pending);
    let notice = query.decidido.map(|slug| c.t_with("legal-review-saved", &[("slug", slug)]));
    Ok(render(StatusCode::OK, &ReviewPage { c, items, notice }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DecisionForm {
    procedure: String,
    fingerprint: String,
    decision: String,
}

async fn decide(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    CsrfForm(form): CsrfForm<DecisionForm>,
) -> PageResult {
    let c = c.signed_in();
    let roles = reviewer_roles(&app, &c, &s).await?;
    let internal = |e| PageError::internal(c.lang, e);
    let Some(decision) = Decision::parse(form.decision.trim()) else {
        return Err(PageError::new(StatusCode::BAD_REQUEST, c.lang, "error-bad-request-title", "error-bad-request"));
    };
    let procedures = app.store.all_procedures().await.map_err(internal)?;
    let Some(procedure) = procedures.iter().find(|p| p.slug == form.procedure.trim()) else {
        return Err(PageError::not_found(c.lang));
    };
    let editors = app.store.procedure_editors(&procedure.slug).await.map_err(internal)?;
    review::may_decide(&roles, s.account.id.0, &editors, procedure, &form.fingerprint)
        .map_err(|refusal| forbidden(&c, refusal))?;
    let citation = procedure
        .legal_basis
        .iter()
        .find(|b| b.allows_reuse && review::fingerprint(procedure, b) == form.fingerprint)
        .map(|b| review::citation(&b.law, b.article.as_deref()))
        .unwrap_or_default();
    let decided = Review {
        procedure: procedure.slug.clone(),
        fingerprint: form.fingerprint.clone(),
        reviewer_account_id: s.account.id.0,
        decision,
        at: crate::crypto::now(),
    };
    app.store.decide_legal_basis(&procedure.slug, &decided, &citation).await.map_err(internal)?;
    Ok(Redirect::to(&format!("{PATH}?decidido={}", procedure.slug)).into_response())
}
