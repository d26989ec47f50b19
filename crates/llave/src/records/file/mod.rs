//! The citizen file (`/expediente`): everything llave and the entities hold about the
//! signed-in person — records grouped by holding entity with their history, every access
//! to them, every consent to reuse (withdrawable), every signature, the entities signed in
//! to and the ARCO requests — as a page, a JSON export and a printable HTML document. The
//! person reading their own records is not a third-party access and is not logged.
//!
//! | | |
//! |---|---|
//! | `GET /expediente` | the page |
//! | `GET /expediente.json`, `GET /expediente.html` | the whole file, to download |
//! | `GET /expediente/registros/{id}/archivo[?version=N]` | a record's file (own records only) |
//! | `POST /expediente/permisos/{id}/retirar` | withdraw a consent to reuse |
//! | `POST /expediente/arco` | file an ARCO request about a record |

mod export;
mod pages;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use super::spoke::Version;
use crate::store::StoreError;
use crate::store::arco::ArcoRequest;
use crate::store::entities::Entity;
use crate::store::oidc::Connection;
use crate::store::records::{Access, Locator, ReuseConsent};
use crate::store::requisitions::{Authority, Requisition};
use crate::store::signatures::SignatureRecord;
use crate::store::{Account, StoreResult};
use crate::{AppState, Services};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/expediente", get(pages::show))
        .route("/expediente.json", get(export::json))
        .route("/expediente.html", get(export::html))
        .route("/expediente/registros/{id}/archivo", get(export::record_file))
        .route("/expediente/permisos/{id}/retirar", post(pages::withdraw_consent))
        .route("/expediente/permisos-empresas/{id}/comprobante", get(pages::company_receipt))
        .route("/expediente/permisos-empresas/{id}/{accion}", post(pages::change_company))
        .route("/expediente/arco", post(pages::file_arco))
}

/// One record with every version, oldest first.
pub struct FileRecord {
    pub locator: Locator,
    pub versions: Vec<Version>,
}

/// The records one entity holds about the person.
pub struct Holder {
    pub entity: Entity,
    pub records: Vec<FileRecord>,
    /// Its store (a server of its own) did not answer: the records are listed from the hub's
    /// index, without their contents.
    pub unavailable: bool,
}

/// How many of the person's newest events the file lists with their audit-log proofs.
pub const EVENTS_SHOWN: i64 = 50;

/// The person's whole file, gathered at `generated_at`.
pub struct CitizenFile {
    pub account: Account,
    pub holders: Vec<Holder>,
    pub accesses: Vec<Access>,
    /// The person's newest events: each has a proof in the audit log.
    pub events: Vec<crate::store::audit::LoggedEvent>,
    pub consents: Vec<ReuseConsent>,
    /// What the person allowed third parties (companies), standing artefacts first.
    pub sharing: Vec<crate::consent::artefacts::Shown>,
    pub signatures: Vec<SignatureRecord>,
    pub connections: Vec<Connection>,
    pub arco: Vec<ArcoRequest>,
    /// Authorities' requisitions of the person's records whose non-disclosure order (if
    /// any) has ended, with their authority.
    pub requisitions: Vec<(Requisition, Option<Authority>)>,
    pub entities: HashMap<i64, Entity>,
    pub catalog: Arc<crate::catalog::Published>,
    pub generated_at: i64,
}

impl CitizenFile {
    pub fn entity_name(&self, id: Option<i64>) -> String {
        id.and_then(|id| self.entities.get(&id)).map(|e| e.name.clone()).unwrap_or_default()
    }

    pub fn entity_slug(&self, id: Option<i64>) -> Option<String> {
        id.and_then(|id| self.entities.get(&id)).map(|e| e.slug.clone())
    }

    /// A procedure's name in the catalog, else its slug.
    pub fn procedure_name(&self, slug: &str) -> String {
        self.catalog.by_slug(slug).map(|p| p.name.clone()).unwrap_or_else(|| slug.to_string())
    }

    pub fn record(&self, record_id: &str) -> Option<&FileRecord> {
        self.holders.iter().flat_map(|h| &h.records).find(|r| r.locator.record_id == record_id)
    }
}

/// Gathers the person's file: locators from the hub, contents from each holder's store.
pub async fn gather(app: &Services, account: &Account) -> StoreResult<CitizenFile> {
    let account_id = account.id.0;
    let entities: HashMap<i64, Entity> = app.store.list_entities().await?.into_iter().map(|e| (e.id, e)).collect();
    let mut holders: Vec<Holder> = Vec::new();
    for locator in app.store.records_about(account_id).await? {
        match holders.last_mut() {
            Some(holder) if holder.entity.id == locator.entity_id => {
                holder.records.push(FileRecord { locator, versions: Vec::new() })
            }
            _ => {
                let entity = entities.get(&locator.entity_id).cloned().unwrap_or(Entity {
                    id: locator.entity_id,
                    slug: String::new(),
                    name: String::new(),
                    created_at: 0,
                });
                holders.push(Holder {
                    entity,
                    records: vec![FileRecord { locator, versions: Vec::new() }],
                    unavailable: false,
                });
            }
        }
    }
    for holder in &mut holders {
        // Issue 18: an entity's store that is down leaves the rest of the file whole.
        let about = match app.spokes.get(app, holder.entity.id).await {
            Ok(spoke) => spoke.about(account_id).await,
            Err(error) => Err(error),
        };
        let about = match about {
            Ok(versions) => versions,
            Err(StoreError::StoreUnavailable(_)) => {
                holder.unavailable = true;
                continue;
            }
            Err(error) => return Err(error),
        };
        let mut by_record: HashMap<String, Vec<Version>> = HashMap::new();
        for version in about {
            by_record.entry(version.record_id.clone()).or_default().push(version);
        }
        for record in &mut holder.records {
            let mut versions = by_record.remove(&record.locator.record_id).unwrap_or_default();
            versions.retain(|v| super::vouched(&record.locator, v.version));
            versions.sort_by_key(|v| v.version);
            record.versions = versions;
        }
    }
    // Told at once, or when the non-disclosure order ends (the injectable clock decides).
    let now = app.clock.now();
    let mut requisitions = Vec::new();
    for r in app.store.requisitions_about(account_id).await?.into_iter().filter(|r| r.disclosed_at(now)) {
        let authority = app.store.requesting_authority(&r.authority_slug).await?;
        requisitions.push((r, authority));
    }
    Ok(CitizenFile {
        account: account.clone(),
        requisitions,
        holders,
        accesses: app.store.accesses_about(account_id).await?,
        events: app.store.logged_events_of(account_id, EVENTS_SHOWN).await?,
        consents: app.store.reuse_consents_of(account_id).await?,
        sharing: crate::consent::artefacts::of_person(app, account_id).await?,
        signatures: app.store.signatures_of(account.id).await?,
        connections: app.store.account_connections(account.id).await?,
        arco: app.store.arco_requests_of(account_id).await?,
        entities,
        catalog: app.catalog.published(&app.store).await?,
        generated_at: crate::crypto::now(),
    })
}
