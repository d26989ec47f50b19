//! Auditors (role `auditor`, `llave staff grant --role auditor`): the comptroller's office
//! or legal affairs read the events by person (CURP), entity, officer (or any actor), kind
//! and time range — on a page (`GET /auditoria`) and as JSON (`GET /auditoria/eventos.json`,
//! the same parameters), with the session of a signed-in auditor who used a second factor.
//! They never change anything, and every read is itself an act with an `auditor_read` event
//! (on the person's record when the read was about one), so it is in the log too.
//!
//! Query parameters (all optional): `curp`, `entidad` (an entity's slug), `actor` (an
//! officer's or staff member's CURP, a client id), `tipo` (an event kind), `desde` and
//! `hasta` (`YYYY-MM-DD`, Mexico City days, both included).

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::AppState;
use crate::store::audit::{EventFilter, StoredEvent, find_events};
use crate::store::roles::HUB;
use crate::store::{ActorKind, Event, EventKind, Outcome, StoreError};
use crate::web::error::{PageError, PageResult};
use crate::web::form::PageQuery;
use crate::web::page::{Chrome, render};
use crate::web::session::SignedIn;

pub const ROLE: &str = "auditor";
/// Most events one read returns.
pub const LIMIT: i64 = 500;

pub fn routes() -> Router<AppState> {
    Router::new().route("/auditoria", get(page)).route("/auditoria/eventos.json", get(json))
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct Query {
    pub curp: String,
    pub entidad: String,
    pub actor: String,
    pub tipo: String,
    pub desde: String,
    pub hasta: String,
}

/// Why a query cannot be answered (the message key).
#[derive(Debug)]
enum Bad {
    Curp,
    Entity,
    Kind,
    Date,
}

impl Bad {
    fn key(&self) -> &'static str {
        match self {
            Bad::Curp => "auditor-bad-curp",
            Bad::Entity => "auditor-bad-entity",
            Bad::Kind => "auditor-bad-kind",
            Bad::Date => "auditor-bad-date",
        }
    }
}

/// Mexico City is at UTC−6 all year (no daylight saving time since 2022).
const CITY_OFFSET: i64 = -6 * 3600;

fn day_start(text: &str) -> Result<Option<i64>, Bad> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let date = crate::calendar::parse_date(text.trim()).ok_or(Bad::Date)?;
    Ok(Some(date.midnight().assume_utc().unix_timestamp() - CITY_OFFSET))
}

async fn filter(app: &AppState, q: &Query) -> Result<Result<EventFilter, Bad>, StoreError> {
    let mut filter = EventFilter::default();
    let curp = q.curp.trim().to_uppercase();
    if !curp.is_empty() {
        match app.store.account_by_curp(&curp).await? {
            Some(account) => filter.account = Some(account.id.0),
            None => return Ok(Err(Bad::Curp)),
        }
    }
    if !q.entidad.trim().is_empty() {
        match app.store.entity_by_slug(q.entidad.trim()).await? {
            Some(entity) => filter.entity = Some(entity.id),
            None => return Ok(Err(Bad::Entity)),
        }
    }
    let actor = q.actor.trim();
    filter.actor = (!actor.is_empty()).then(|| actor.to_string());
    let kind = q.tipo.trim();
    if !kind.is_empty() {
        if kind.len() > 40 || !kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Ok(Err(Bad::Kind));
        }
        filter.kind = Some(kind.to_string());
    }
    match (day_start(&q.desde), day_start(&q.hasta)) {
        (Ok(from), Ok(to)) => {
            filter.from = from;
            filter.to = to.map(|t| t + 24 * 3600);
        }
        _ => return Ok(Err(Bad::Date)),
    }
    Ok(Ok(filter))
}

/// The filters, for the event's detail (no CURP: the person is the event's account).
fn summary(q: &Query, found: usize) -> String {
    let mut parts = Vec::new();
    for (name, value) in
        [("entidad", &q.entidad), ("actor", &q.actor), ("tipo", &q.tipo), ("desde", &q.desde), ("hasta", &q.hasta)]
    {
        if !value.trim().is_empty() {
            parts.push(format!("{name}={}", value.trim()));
        }
    }
    if !q.curp.trim().is_empty() {
        parts.push("persona".into());
    }
    parts.push(format!("resultados={found}"));
    parts.join(" ")
}

/// The read, as an act: the events found and the `auditor_read` event, together.
async fn read(
    app: &AppState,
    auditor: &SignedIn,
    q: &Query,
    filter: &EventFilter,
) -> Result<Vec<StoredEvent>, StoreError> {
    app.store
        .act("auditor_read", async |tx| {
            let events = find_events(tx.conn(), filter, LIMIT).await?;
            tx.event(Event {
                at: 0,
                kind: EventKind::AuditorRead,
                outcome: Outcome::Read,
                account: filter.account.map(crate::store::AccountId),
                actor_kind: ActorKind::Auditor,
                actor: auditor.account.curp.clone(),
                actor_entity_id: None,
                basis: None,
                record_id: None,
                holder_entity_id: filter.entity,
                procedure: None,
                purpose: String::new(),
                client_address: String::new(),
                user_agent: String::new(),
                detail: Some(summary(q, events.len())),
            });
            Ok::<_, StoreError>(events)
        })
        .await
}

/// An auditor who used a second factor in this session, or a refusal.
async fn auditor(app: &AppState, c: &Chrome, s: &SignedIn) -> Result<(), PageError> {
    let roles = app.store.roles_of(s.account.id).await.map_err(|e| PageError::internal(c.lang, e))?;
    if !roles.iter().any(|(role, scope)| role == ROLE && scope == HUB) {
        return Err(PageError::new(StatusCode::FORBIDDEN, c.lang, "auditor-refused-title", "error-forbidden"));
    }
    // Reading everyone's trail is privileged: a second factor first, as for other staff.
    if !crate::assurance::staff::second_factor_used(&s.session) {
        return Err(PageError::new(StatusCode::FORBIDDEN, c.lang, "staff-factor-title", "staff-factor-enrol"));
    }
    Ok(())
}

pub struct Row {
    pub id: i64,
    pub when: String,
    pub kind: String,
    pub outcome: String,
    pub account: String,
    pub actor: String,
    pub entity: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit/auditor.html")]
struct AuditorPage {
    c: Chrome,
    q: Query,
    rows: Vec<Row>,
    searched: bool,
    error: Option<String>,
}

fn searched(q: &Query) -> bool {
    [&q.curp, &q.entidad, &q.actor, &q.tipo, &q.desde, &q.hasta].iter().any(|v| !v.trim().is_empty())
}

async fn page(State(app): State<AppState>, c: Chrome, s: SignedIn, PageQuery(q): PageQuery<Query>) -> PageResult {
    let c = c.signed_in();
    auditor(&app, &c, &s).await?;
    let internal = |e| PageError::internal(c.lang, e);
    let (mut rows, mut error) = (Vec::new(), None);
    if searched(&q) {
        match filter(&app, &q).await.map_err(internal)? {
            Ok(filter) => {
                rows = read(&app, &s, &q, &filter)
                    .await
                    .map_err(internal)?
                    .into_iter()
                    .map(|e| Row {
                        id: e.id,
                        when: crate::calendar::format_time(e.at),
                        kind: e.kind,
                        outcome: e.outcome,
                        account: e.account_id.map(|a| a.to_string()).unwrap_or_default(),
                        actor: format!("{} {}", e.actor_kind, e.actor).trim().to_string(),
                        entity: e.actor_entity_id.or(e.holder_entity_id).map(|a| a.to_string()).unwrap_or_default(),
                        detail: e.detail.unwrap_or_default(),
                    })
                    .collect();
            }
            Err(bad) => error = Some(c.t(bad.key())),
        }
    }
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let searched = searched(&q);
    Ok(render(status, &AuditorPage { c, q, rows, searched, error }))
}

async fn json(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    PageQuery(q): PageQuery<Query>,
) -> Result<Response, PageError> {
    auditor(&app, &c, &s).await?;
    let internal = |e| PageError::internal(c.lang, e);
    let filter = match filter(&app, &q).await.map_err(internal)? {
        Ok(filter) => filter,
        Err(bad) => {
            return Ok((
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": bad.key(), "description": c.t(bad.key())})),
            )
                .into_response());
        }
    };
    let events = read(&app, &s, &q, &filter).await.map_err(internal)?;
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id, "act": e.act_id, "seq": e.seq, "at": e.at, "kind": e.kind, "outcome": e.outcome,
                "account_id": e.account_id,
                "actor": {"kind": e.actor_kind, "id": e.actor, "entity_id": e.actor_entity_id},
                "basis": e.basis, "record_id": e.record_id, "holder_entity_id": e.holder_entity_id,
                "procedure": e.procedure_slug, "purpose": e.purpose, "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({"events": events, "limit": LIMIT})).into_response())
}
