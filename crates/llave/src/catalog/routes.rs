//! The catalog's public face: pages anyone can read without an account, the same data as
//! JSON, and open-data downloads at stable URLs. Only published procedures are shown.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Deserialize;

use super::model::{Cost, Procedure, kind_name};
use crate::AppState;
use crate::web::error::{PageError, PageResult};
use crate::web::form::PageQuery;
use crate::web::page::{Chrome, render};
use crate::web::session::SignedIn;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tramites", get(list))
        .route("/tramites/{slug}", get(show))
        .route("/api/catalog/procedures", get(api_list))
        .route("/api/catalog/procedures/{slug}", get(api_show))
        .route("/datos/catalogo.json", get(open_json))
        .route("/datos/catalogo.csv", get(open_csv))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    q: Option<String>,
    tema: Option<String>,
    entidad: Option<String>,
}

pub struct Row {
    pub slug: String,
    pub name: String,
    pub entity: String,
    pub online: bool,
}

#[derive(Template)]
#[template(path = "catalog/list.html")]
struct ListPage {
    c: Chrome,
    query: String,
    heading: String,
    rows: Vec<Row>,
    topics: Vec<(String, usize)>,
    entities: Vec<(String, String, usize)>,
    searched: bool,
}

const PAGE_SIZE: usize = 50;

/// The procedures a list query selects, best first.
fn select<'a>(published: &'a super::Published, query: &ListQuery) -> Vec<&'a Procedure> {
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let mut chosen: Vec<&Procedure> = match q {
        Some(q) => {
            published.index.search(q, PAGE_SIZE * 4).into_iter().map(|(doc, _)| &published.procedures[doc]).collect()
        }
        None => {
            let mut all: Vec<&Procedure> = published.procedures.iter().collect();
            all.sort_by_key(|p| std::cmp::Reverse(p.yearly_volume));
            all
        }
    };
    if let Some(tema) = query.tema.as_deref().filter(|t| !t.is_empty()) {
        chosen.retain(|p| p.tags.iter().any(|t| t == tema));
    }
    if let Some(entidad) = query.entidad.as_deref().filter(|e| !e.is_empty()) {
        chosen.retain(|p| p.entity == entidad);
    }
    chosen.truncate(PAGE_SIZE);
    chosen
}

async fn list(
    State(app): State<AppState>,
    c: Chrome,
    signed_in: Option<SignedIn>,
    PageQuery(query): PageQuery<ListQuery>,
) -> PageResult {
    let c = if signed_in.is_some() { c.signed_in() } else { c };
    let published = public_catalog(&app).await.map_err(|e| PageError::internal(c.lang, e))?;
    let rows = select(&published, &query)
        .into_iter()
        .map(|p| Row {
            slug: p.slug.clone(),
            name: p.name.clone(),
            entity: published.entities.get(&p.entity).cloned().unwrap_or_else(|| p.entity.clone()),
            online: p.channels.online_url.is_some(),
        })
        .collect();
    let mut topics: std::collections::BTreeMap<String, usize> = Default::default();
    let mut entities: std::collections::BTreeMap<String, usize> = Default::default();
    for p in &published.procedures {
        for tag in &p.tags {
            *topics.entry(tag.clone()).or_default() += 1;
        }
        *entities.entry(p.entity.clone()).or_default() += 1;
    }
    let entities = entities
        .into_iter()
        .map(|(slug, n)| (published.entities.get(&slug).cloned().unwrap_or_else(|| slug.clone()), slug, n))
        .collect();
    let query_text: String = query.q.clone().unwrap_or_default().chars().take(200).collect();
    let searched = !query_text.trim().is_empty() || query.tema.is_some() || query.entidad.is_some();
    let heading = if !query_text.trim().is_empty() {
        c.t_with("catalog-results-for", &[("query", query_text.clone())])
    } else if let Some(tema) = &query.tema {
        c.t_with("catalog-topic", &[("topic", tema.clone())])
    } else if let Some(entidad) = &query.entidad {
        published.entities.get(entidad).cloned().unwrap_or_else(|| entidad.clone())
    } else {
        c.t("catalog-most-requested")
    };
    let page =
        ListPage { c, query: query_text, heading, rows, topics: topics.into_iter().collect(), entities, searched };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "catalog/procedure.html")]
struct ProcedurePage {
    c: Chrome,
    p: Procedure,
    entity: String,
    requirements: Vec<(String, String, String)>,
    cost: String,
    level: String,
    /// How a person reaches that level.
    level_how: String,
}

async fn show(
    State(app): State<AppState>,
    c: Chrome,
    signed_in: Option<SignedIn>,
    Path(slug): Path<String>,
) -> PageResult {
    let c = if signed_in.is_some() { c.signed_in() } else { c };
    let published = public_catalog(&app).await.map_err(|e| PageError::internal(c.lang, e))?;
    let Some(p) = published.by_slug(&slug) else { return Err(PageError::not_found(c.lang)) };
    let requirements = p
        .requirements
        .iter()
        .map(|r| (kind_name(c.lang, &r.kind), r.description.clone(), c.t(&format!("catalog-stage-{}", r.stage))))
        .collect();
    let cost = match &p.cost {
        Cost::Free => c.t("catalog-free"),
        Cost::Amount { mxn } => super::model::pesos(*mxn),
        Cost::Rule { text } => text.clone(),
    };
    let n = p.level.rsplit(':').next().unwrap_or("1");
    let level = c.t(&format!("catalog-level-{n}"));
    let level_how = c.t(&format!("catalog-level-how-{n}"));
    let page = ProcedurePage {
        entity: published.entities.get(&p.entity).cloned().unwrap_or_else(|| p.entity.clone()),
        p: p.clone(),
        requirements,
        cost,
        level,
        level_how,
        c,
    };
    Ok(render(StatusCode::OK, &page))
}

/// The published catalog, read from the replica when there is one (`--database-replica`):
/// the public catalog is read-mostly, and a lag of a moment behind the primary is harmless.
async fn public_catalog(app: &AppState) -> Result<std::sync::Arc<super::Published>, crate::store::StoreError> {
    app.store.read_mostly(|store| async move { app.catalog.published(&store).await }).await
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (status, Json(serde_json::json!({ "error": error }))).into_response()
}

/// The JSON answer when the catalog cannot be read: logged, and a plain 500.
fn unavailable(error: crate::store::StoreError) -> Response {
    tracing::error!(%error, "catalog unavailable");
    json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

async fn api_list(State(app): State<AppState>, PageQuery(query): PageQuery<ListQuery>) -> Response {
    let published = match public_catalog(&app).await {
        Ok(published) => published,
        Err(error) => return unavailable(error),
    };
    let issuer = app.config.issuer();
    let items: Vec<serde_json::Value> = select(&published, &query)
        .into_iter()
        .map(|p| {
            serde_json::json!({
                "slug": p.slug, "entity": p.entity, "name": p.name, "level": p.level,
                "online_url": p.channels.online_url, "url": format!("{issuer}/tramites/{}", p.slug),
            })
        })
        .collect();
    Json(serde_json::json!({ "procedures": items })).into_response()
}

async fn api_show(State(app): State<AppState>, Path(slug): Path<String>) -> Response {
    match public_catalog(&app).await {
        Ok(published) => match published.by_slug(&slug) {
            Some(p) => Json(p).into_response(),
            None => json_error(StatusCode::NOT_FOUND, "no published procedure has this slug"),
        },
        Err(error) => unavailable(error),
    }
}

fn download(body: String, content_type: &'static str, filename: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_DISPOSITION, HeaderValue::from_static(filename));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

async fn open_json(State(app): State<AppState>) -> Response {
    match super::export_json_published(&app.store).await {
        Ok(body) => download(body, "application/json", "inline; filename=\"catalogo.json\""),
        Err(error) => unavailable(error),
    }
}

async fn open_csv(State(app): State<AppState>) -> Response {
    match super::export_csv_published(&app.store).await {
        Ok(body) => download(body, "text/csv; charset=utf-8", "attachment; filename=\"catalogo.csv\""),
        Err(error) => unavailable(error),
    }
}
