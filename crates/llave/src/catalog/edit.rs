//! Editing the catalog through web pages: catalog editors of an entity edit that entity's
//! procedures, hub staff edit all and see the simplification report. Every save is checked
//! like an imported row and recorded in the procedure's history with who made it.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::model::{
    Channels, Cost, LEVELS, LegalBasis, Procedure, REQUIREMENT_KINDS, Requirement, STATUSES, Variant, kind_name,
};
use crate::AppState;
use crate::store::roles::HUB;
use crate::web::error::{PageError, PageResult};
use crate::web::form::CsrfForm;
use crate::web::page::{Chrome, FieldErrors, render};
use crate::web::session::SignedIn;

/// A legal-basis line's fourth part when the law allows reusing records without consent.
const REUSE_MARK: &str = "reuse";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/catalogo/editar", get(list))
        .route("/catalogo/editar/nuevo", get(new_form).post(create))
        .route("/catalogo/editar/{slug}", get(edit_form).post(update))
        .route("/catalogo/reporte", get(report_page))
        .route("/catalogo/reporte.json", get(report_json))
        .merge(super::legal_review::routes())
}

/// What the signed-in person may edit.
struct Permissions {
    hub: bool,
    entities: Vec<String>,
}

impl Permissions {
    fn may_edit(&self, entity: &str) -> bool {
        self.hub || self.entities.iter().any(|e| e == entity)
    }
}

async fn permissions(app: &AppState, c: &Chrome, s: &SignedIn) -> Result<Permissions, PageError> {
    let roles = app.store.roles_of(s.account.id).await.map_err(|e| PageError::internal(c.lang, e))?;
    let hub = roles.iter().any(|(role, scope)| role == "hub_staff" && scope == HUB);
    let entities = roles.into_iter().filter(|(role, _)| role == "catalog_editor").map(|(_, scope)| scope).collect();
    let permissions = Permissions { hub, entities };
    if !permissions.hub && permissions.entities.is_empty() {
        return Err(forbidden(c));
    }
    // Staff edit what every entity relies on: only with a second factor (finding 13.14).
    if !crate::assurance::staff::second_factor_used(&s.session) {
        return Err(PageError::new(StatusCode::FORBIDDEN, c.lang, "staff-factor-title", "staff-factor-enrol"));
    }
    Ok(permissions)
}

fn forbidden(c: &Chrome) -> PageError {
    PageError::new(StatusCode::FORBIDDEN, c.lang, "error-forbidden-title", "error-forbidden")
}

#[derive(Template)]
#[template(path = "catalog/edit_list.html")]
struct ListPage {
    c: Chrome,
    rows: Vec<(String, String, String, String)>,
    hub: bool,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Notice {
    saved: Option<String>,
}

async fn list(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    crate::web::form::PageQuery(query): crate::web::form::PageQuery<Notice>,
) -> PageResult {
    let c = c.signed_in();
    let permissions = permissions(&app, &c, &s).await?;
    let procedures = app.store.all_procedures().await.map_err(|e| PageError::internal(c.lang, e))?;
    let rows = procedures
        .into_iter()
        .filter(|p| permissions.may_edit(&p.entity))
        .map(|p| (p.slug, p.name, p.entity, p.status))
        .collect();
    let notice = query.saved.map(|slug| c.t_with("catalog-edit-saved", &[("slug", slug)]));
    Ok(render(StatusCode::OK, &ListPage { c, rows, hub: permissions.hub, notice }))
}

/// The form's fields, all text: lists one item per line, parts separated by `|`.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct ProcedureForm {
    slug: String,
    entity: String,
    name: String,
    description: String,
    who_may_apply: String,
    requirements: String,
    legal_basis: String,
    steps: String,
    response_deadline: String,
    validity: String,
    cost_kind: String,
    cost_mxn: String,
    cost_rule: String,
    variants: String,
    online_url: String,
    offices: String,
    level: String,
    yearly_volume: String,
    tags: String,
    synonyms: String,
    status: String,
    result_kind: String,
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

fn parts(line: &str) -> Vec<String> {
    line.split('|').map(|p| p.trim().to_string()).collect()
}

impl ProcedureForm {
    fn from_procedure(p: &Procedure) -> ProcedureForm {
        let (cost_kind, cost_mxn, cost_rule) = match &p.cost {
            Cost::Free => ("free", String::new(), String::new()),
            Cost::Amount { mxn } => ("amount", format!("{mxn:.2}"), String::new()),
            Cost::Rule { text } => ("rule", String::new(), text.clone()),
        };
        ProcedureForm {
            slug: p.slug.clone(),
            entity: p.entity.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            who_may_apply: p.who_may_apply.clone(),
            requirements: p
                .requirements
                .iter()
                .map(|r| format!("{} | {} | {}", r.kind, r.stage, r.description))
                .collect::<Vec<_>>()
                .join("\n"),
            legal_basis: p
                .legal_basis
                .iter()
                .map(|b| {
                    format!(
                        "{} | {} | {}{}",
                        b.law,
                        b.article.clone().unwrap_or_default(),
                        b.url.clone().unwrap_or_default(),
                        if b.allows_reuse { format!(" | {REUSE_MARK}") } else { String::new() }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"),
            steps: p.steps.join("\n"),
            response_deadline: p.response_deadline.clone(),
            validity: p.validity.clone().unwrap_or_default(),
            cost_kind: cost_kind.into(),
            cost_mxn,
            cost_rule,
            variants: p.variants.iter().map(|v| format!("{} | {}", v.code, v.name)).collect::<Vec<_>>().join("\n"),
            online_url: p.channels.online_url.clone().unwrap_or_default(),
            offices: p.channels.offices.join("\n"),
            level: p.level.clone(),
            yearly_volume: p.yearly_volume.to_string(),
            tags: p.tags.join(", "),
            synonyms: p.synonyms.join(", "),
            status: p.status.clone(),
            result_kind: p.result_kind.clone().unwrap_or_default(),
        }
    }

    /// The procedure the form describes, or what is wrong with it, by field.
    fn to_procedure(&self, c: &Chrome) -> Result<Procedure, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut requirements = Vec::new();
        for line in lines(&self.requirements) {
            match parts(line).as_slice() {
                [kind, stage, description] => requirements.push(Requirement {
                    kind: kind.clone(),
                    stage: stage.clone(),
                    description: description.clone(),
                }),
                _ => errors.add("requirements", c.t_with("catalog-edit-line", &[("line", line.to_string())])),
            }
        }
        let mut legal_basis = Vec::new();
        for line in lines(&self.legal_basis) {
            let p = parts(line);
            let some = |s: Option<&String>| s.filter(|s| !s.is_empty()).cloned();
            legal_basis.push(LegalBasis {
                law: p[0].clone(),
                article: some(p.get(1)),
                url: some(p.get(2)),
                allows_reuse: p.get(3).is_some_and(|m| m == REUSE_MARK),
            });
        }
        let mut variants = Vec::new();
        for line in lines(&self.variants) {
            match parts(line).as_slice() {
                [code, name] => variants.push(Variant { code: code.clone(), name: name.clone() }),
                _ => errors.add("variants", c.t_with("catalog-edit-line", &[("line", line.to_string())])),
            }
        }
        let cost = match self.cost_kind.as_str() {
            "free" => Cost::Free,
            "rule" => Cost::Rule { text: self.cost_rule.trim().to_string() },
            _ => match self.cost_mxn.trim().replace(',', "").trim_start_matches('$').parse::<f64>() {
                Ok(mxn) => Cost::Amount { mxn },
                Err(_) => {
                    errors.add("cost_mxn", c.t("catalog-edit-number"));
                    Cost::Free
                }
            },
        };
        let yearly_volume = match self.yearly_volume.trim().replace([',', ' '], "").parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                errors.add("yearly_volume", c.t("catalog-edit-number"));
                0
            }
        };
        let optional = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let procedure = Procedure {
            slug: self.slug.trim().to_string(),
            entity: self.entity.trim().to_string(),
            name: self.name.trim().to_string(),
            description: self.description.trim().to_string(),
            who_may_apply: self.who_may_apply.trim().to_string(),
            requirements,
            legal_basis,
            steps: lines(&self.steps).map(str::to_string).collect(),
            response_deadline: self.response_deadline.trim().to_string(),
            validity: optional(&self.validity),
            cost,
            variants,
            channels: Channels {
                online_url: optional(&self.online_url),
                offices: lines(&self.offices).map(str::to_string).collect(),
            },
            level: self.level.trim().to_string(),
            yearly_volume,
            tags: self.tags.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect(),
            synonyms: self.synonyms.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect(),
            status: self.status.trim().to_string(),
            result_kind: optional(&self.result_kind),
        };
        for problem in procedure.problems() {
            let field = field_of(&problem);
            errors.add(field, in_words(c, field, &problem));
        }
        if errors.is_empty() { Ok(procedure) } else { Err(errors) }
    }
}

/// A model problem (developer's English, as `llave catalog import` prints it with the
/// line) as the editor's page says it: the field's label and how to fix it, in the page's
/// language.
fn in_words(c: &Chrome, field: &str, problem: &str) -> String {
    let label_key = match field {
        "slug" => "catalog-edit-slug",
        "name" => "catalog-edit-name",
        "description" => "catalog-edit-description",
        "who_may_apply" => "catalog-who",
        "requirements" => "catalog-requirements",
        "legal_basis" => "catalog-legal-basis",
        "steps" => "catalog-steps",
        "response_deadline" => "catalog-deadline",
        "validity" => "catalog-validity",
        "cost_mxn" => "catalog-edit-cost-amount",
        "cost_rule" => "catalog-edit-cost-rule",
        "variants" => "catalog-variants",
        "online_url" => "catalog-edit-online-url",
        "offices" => "catalog-offices",
        "level" => "catalog-level",
        "yearly_volume" => "catalog-edit-volume",
        "tags" => "catalog-edit-tags",
        "synonyms" => "catalog-edit-synonyms",
        "status" => "catalog-edit-status",
        "result_kind" => "catalog-edit-result-kind",
        _ => "catalog-edit-name",
    };
    let label = c.t(label_key);
    let key = if field == "slug" {
        "catalog-problem-slug"
    } else if problem.starts_with("channels needs") {
        "catalog-problem-channels"
    } else if problem.contains(" is empty") {
        "catalog-problem-empty"
    } else if problem.contains(" is longer than ") {
        "catalog-problem-long"
    } else if problem.contains("control characters") {
        "catalog-problem-control"
    } else if problem.contains("is not an http(s) URL") {
        "catalog-problem-url"
    } else if problem.contains("must be zero or more") {
        "catalog-problem-negative"
    } else if problem.contains("is not a known requirement kind") {
        "catalog-problem-kind"
    } else {
        "catalog-problem-choice"
    };
    let max = problem
        .split(" is longer than ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_default()
        .to_string();
    c.t_with(key, &[("field", label), ("max", max)])
}

/// The form field a model problem is about.
fn field_of(problem: &str) -> &'static str {
    const FIELDS: &[(&str, &str)] = &[
        ("slug", "slug"),
        ("name", "name"),
        ("description", "description"),
        ("who_may_apply", "who_may_apply"),
        ("requirements", "requirements"),
        ("legal_basis", "legal_basis"),
        ("steps", "steps"),
        ("response_deadline", "response_deadline"),
        ("validity", "validity"),
        ("cost.mxn", "cost_mxn"),
        ("cost.text", "cost_rule"),
        ("variants", "variants"),
        ("channels.online_url", "online_url"),
        ("channels.offices", "offices"),
        ("channels", "online_url"),
        ("level", "level"),
        ("yearly_volume", "yearly_volume"),
        ("tags", "tags"),
        ("synonyms", "synonyms"),
        ("status", "status"),
        ("result_kind", "result_kind"),
    ];
    FIELDS.iter().find(|(prefix, _)| problem.starts_with(prefix)).map(|(_, field)| *field).unwrap_or("name")
}

#[derive(Template)]
#[template(path = "catalog/edit.html")]
struct EditPage {
    c: Chrome,
    form: ProcedureForm,
    errors: FieldErrors,
    creating: bool,
    entities: Vec<(String, String)>,
    kinds: Vec<(String, String)>,
    levels: Vec<String>,
    statuses: Vec<String>,
    history: Vec<(String, String, String)>,
    /// Bases marked for reuse without consent: citation, state, approvals, decisions.
    reuse_bases: Vec<(String, String, String, Vec<String>)>,
}

/// The stored procedure's reuse bases and their review, as the edit page shows them.
async fn reuse_bases(
    app: &AppState,
    c: &Chrome,
    slug: &str,
) -> Result<Vec<(String, String, String, Vec<String>)>, PageError> {
    let internal = |e| PageError::internal(c.lang, e);
    let procedures = app.store.all_procedures().await.map_err(internal)?;
    let Some(procedure) = procedures.iter().find(|p| p.slug == slug) else { return Ok(Vec::new()) };
    let reviews = app.store.legal_basis_reviews().await.map_err(internal)?;
    Ok(super::review::reviewed(procedure, &reviews)
        .iter()
        .map(|basis| {
            let (state, approvals, decisions) = super::legal_review::describe(c, basis);
            (basis.citation(), state, approvals, decisions)
        })
        .collect())
}

async fn edit_page(
    app: &AppState,
    c: Chrome,
    permissions: &Permissions,
    form: ProcedureForm,
    errors: FieldErrors,
    creating: bool,
    status: StatusCode,
) -> PageResult {
    let entities = app
        .store
        .list_entities()
        .await
        .map_err(|e| PageError::internal(c.lang, e))?
        .into_iter()
        .filter(|e| permissions.may_edit(&e.slug))
        .map(|e| (e.slug, e.name))
        .collect();
    let kinds = REQUIREMENT_KINDS.iter().map(|(code, _, _, _)| (code.to_string(), kind_name(c.lang, code))).collect();
    let history = if creating {
        Vec::new()
    } else {
        app.store
            .procedure_history(&form.slug, 20)
            .await
            .map_err(|e| PageError::internal(c.lang, e))?
            .into_iter()
            .map(|(at, actor, change)| (crate::calendar::format_time(at), actor, change))
            .collect()
    };
    let reuse_bases = if creating { Vec::new() } else { reuse_bases(app, &c, &form.slug).await? };
    let page = EditPage {
        reuse_bases,
        c,
        form,
        errors,
        creating,
        entities,
        kinds,
        levels: LEVELS.iter().map(|l| l.to_string()).collect(),
        statuses: STATUSES.iter().map(|s| s.to_string()).collect(),
        history,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewQuery {
    entidad: Option<String>,
}

async fn new_form(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    crate::web::form::PageQuery(query): crate::web::form::PageQuery<NewQuery>,
) -> PageResult {
    let c = c.signed_in();
    let permissions = permissions(&app, &c, &s).await?;
    let form = ProcedureForm {
        entity: query.entidad.unwrap_or_else(|| permissions.entities.first().cloned().unwrap_or_default()),
        cost_kind: "free".into(),
        level: "urn:llave:loa:1".into(),
        status: "draft".into(),
        yearly_volume: "0".into(),
        ..ProcedureForm::default()
    };
    edit_page(&app, c, &permissions, form, FieldErrors::default(), true, StatusCode::OK).await
}

async fn edit_form(State(app): State<AppState>, c: Chrome, s: SignedIn, Path(slug): Path<String>) -> PageResult {
    let c = c.signed_in();
    let permissions = permissions(&app, &c, &s).await?;
    let procedures = app.store.all_procedures().await.map_err(|e| PageError::internal(c.lang, e))?;
    let Some(procedure) = procedures.into_iter().find(|p| p.slug == slug) else {
        return Err(PageError::not_found(c.lang));
    };
    if !permissions.may_edit(&procedure.entity) {
        return Err(forbidden(&c));
    }
    let form = ProcedureForm::from_procedure(&procedure);
    edit_page(&app, c, &permissions, form, FieldErrors::default(), false, StatusCode::OK).await
}

async fn create(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    CsrfForm(form): CsrfForm<ProcedureForm>,
) -> PageResult {
    save(app, c.signed_in(), s, None, form).await
}

async fn update(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    Path(slug): Path<String>,
    CsrfForm(form): CsrfForm<ProcedureForm>,
) -> PageResult {
    save(app, c.signed_in(), s, Some(slug), form).await
}

/// Checks and writes one procedure: the person must be allowed to edit the entity it was
/// under and the one it goes to; the slug of an existing procedure does not change.
async fn save(app: AppState, c: Chrome, s: SignedIn, slug: Option<String>, mut form: ProcedureForm) -> PageResult {
    let permissions = permissions(&app, &c, &s).await?;
    let internal = |e| PageError::internal(c.lang, e);
    let stored = app.store.procedure_names().await.map_err(internal)?;
    let creating = slug.is_none();
    if let Some(slug) = &slug {
        let Some((_, entity, _)) = stored.iter().find(|(s, _, _)| s == slug) else {
            return Err(PageError::not_found(c.lang));
        };
        if !permissions.may_edit(entity) {
            return Err(forbidden(&c));
        }
        form.slug = slug.clone();
    }
    if !permissions.may_edit(form.entity.trim()) {
        return Err(forbidden(&c));
    }
    let mut procedure = match form.to_procedure(&c) {
        Ok(procedure) => procedure,
        Err(errors) => {
            return edit_page(&app, c, &permissions, form, errors, creating, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let mut errors = FieldErrors::default();
    if creating && stored.iter().any(|(s, _, _)| *s == procedure.slug) {
        errors.add("slug", c.t("catalog-edit-slug-taken"));
    }
    if super::name_taken(&stored, &procedure).is_some() {
        errors.add("name", c.t("catalog-edit-name-taken"));
    }
    let Some(entity) = app.store.entity_by_slug(&procedure.entity).await.map_err(internal)? else {
        return Err(forbidden(&c));
    };
    if !errors.is_empty() {
        return edit_page(&app, c, &permissions, form, errors, creating, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    procedure.slug = procedure.slug.trim().to_string();
    let actor = format!("account:{}", s.account.id.0);
    app.store
        .import_catalog(std::slice::from_ref(&procedure), &[entity.id], None, &actor, crate::crypto::now())
        .await
        .map_err(internal)?;
    Ok(Redirect::to(&format!("/catalogo/editar?saved={}", procedure.slug)).into_response())
}

#[derive(Template)]
#[template(path = "catalog/report.html")]
struct ReportPage {
    c: Chrome,
    total: String,
    rows: Vec<(String, String, String, String, Vec<String>)>,
}

async fn hub_only(app: &AppState, c: &Chrome, s: &SignedIn) -> Result<(), PageError> {
    if permissions(app, c, s).await?.hub { Ok(()) } else { Err(forbidden(c)) }
}

async fn report_page(State(app): State<AppState>, c: Chrome, s: SignedIn) -> PageResult {
    let c = c.signed_in();
    hub_only(&app, &c, &s).await?;
    let report = super::report(&app.store).await.map_err(|e| PageError::internal(c.lang, e))?;
    let count = |value: f64| super::report::format_count_in(c.lang, value);
    let total = c.t_with("catalog-report-total", &[("hours", count(report.total_hours_saved_per_year))]);
    let rows = report
        .procedures
        .iter()
        .map(|p| {
            let mut suggestions: Vec<String> = p.suggestions.iter().map(super::report::Suggestion::describe).collect();
            for basis in &p.reuse_bases {
                let (state, approvals, decisions) = super::legal_review::describe(&c, basis);
                let mut line =
                    format!("{}: {} · {state} · {approvals}", c.t("catalog-edit-reuse-bases"), basis.citation());
                for decision in decisions {
                    line.push_str(&format!(" · {decision}"));
                }
                suggestions.push(line);
            }
            let hours = c.t_with("catalog-report-hours", &[("hours", count(p.hours_saved_per_year))]);
            (p.name.clone(), p.entity.clone(), count(p.yearly_volume as f64), hours, suggestions)
        })
        .collect();
    Ok(render(StatusCode::OK, &ReportPage { c, total, rows }))
}

async fn report_json(State(app): State<AppState>, c: Chrome, s: SignedIn) -> Response {
    if let Err(error) = hub_only(&app, &c, &s).await {
        return error.into_response();
    }
    match super::report(&app.store).await {
        Ok(report) => Json(report).into_response(),
        Err(error) => PageError::internal(c.lang, error).into_response(),
    }
}
