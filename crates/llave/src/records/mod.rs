//! Hub and spokes. Each entity owns the records people give it, kept in a store of its own
//! (`spoke`), sealed with its own data key. The hub keeps only locators: who, which kind,
//! which version, valid when. When entity A needs what a person gave entity B, the hub
//! does not copy it: a look-up answers with B's locator and a grant — one read, by A, for
//! one procedure, within minutes — and A reads the record from B's store through the hub.
//! Every read by anyone but the owner, and every refusal, is in the access log the person
//! sees in their file.
//!
//! This module is the rules; `api` is the HTTP face for entities, `file` the person's.

pub mod api;
pub mod arco;
pub mod decision;
pub mod file;
pub mod spoke;

use std::collections::HashMap;
use std::sync::Arc;

use crate::calendar;

use axum::http::StatusCode;
use sha2::{Digest, Sha256};

use crate::Services;
use crate::crypto::{now, random_id, random_token, token_hash};
use crate::store::entities::{ClientRecord, Entity};
use crate::store::records::{Access, Grant, Locator};
use crate::store::{AccountId, ActorKind, Event, EventKind, StoreError, StoreResult, Tx};
use spoke::{Content, NewVersion, Spoke, Version};

pub const SCOPE_WRITE: &str = "records:write";
pub const SCOPE_READ: &str = "records:read";
pub const SCOPE_LOOKUPS: &str = "lookups";

/// Largest attributes object, serialised.
const MAX_ATTRIBUTES_BYTES: usize = 64 * 1024;

/// The open entity stores, by entity id.
#[derive(Default)]
pub struct Spokes {
    open: tokio::sync::RwLock<HashMap<i64, Arc<Spoke>>>,
}

impl Spokes {
    /// The entity's store, opened (and created, the first time) on demand.
    pub async fn get(&self, app: &Services, entity_id: i64) -> StoreResult<Arc<Spoke>> {
        if let Some(spoke) = self.open.read().await.get(&entity_id) {
            return Ok(spoke.clone());
        }
        let entity = app
            .store
            .entity_by_id(entity_id)
            .await?
            .ok_or_else(|| StoreError::Data(format!("no entity has the id {entity_id}")))?;
        provision(app, &entity).await
    }

    /// Forgets an opened store (after `llave entity set-store` moved it).
    pub async fn forget(&self, entity_id: i64, backend: crate::store::Backend) {
        if let Some(spoke) = self.open.write().await.remove(&entity_id) {
            spoke.close(backend).await;
        }
    }

    /// Closes every open store (SQLite files).
    pub async fn close(&self, backend: crate::store::Backend) {
        for spoke in self.open.write().await.drain().map(|(_, s)| s) {
            spoke.close(backend).await;
        }
    }
}

/// Creates the entity's store and data key if it has none yet, and opens it. `llave entity
/// add` calls it; so does the first use of an entity added before stores existed.
pub async fn provision(app: &Services, entity: &Entity) -> StoreResult<Arc<Spoke>> {
    provision_at(app, entity, None).await
}

/// [`provision`], with the store on a PostgreSQL server of the entity's own (`server`, a
/// `postgres://` URL) when it has none yet; otherwise where `location_for` puts it.
pub async fn provision_at(app: &Services, entity: &Entity, server: Option<&str>) -> StoreResult<Arc<Spoke>> {
    let mut open = app.spokes.open.write().await;
    if let Some(spoke) = open.get(&entity.id) {
        return Ok(spoke.clone());
    }
    let (location, sealed) = match app.store.entity_store(entity.id).await? {
        Some(found) => found,
        None => {
            let location = match server {
                Some(url) => url.to_string(),
                None => spoke::location_for(&app.store, &entity.slug).await?,
            };
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).expect("the operating system's random source is available");
            let sealed = app.keystore.seal(&data_key_purpose(&entity.slug), &key);
            app.store.add_entity_store(entity.id, &location, &sealed, now()).await?
        }
    };
    let key = app
        .keystore
        .open(&data_key_purpose(&entity.slug), &sealed)
        .map_err(|e| StoreError::Corrupt(format!("the data key of {}: {e}", entity.slug)))?;
    let spoke =
        Arc::new(Spoke::open(&app.store, &app.config.data_dir, entity.id, &entity.slug, &location, &key).await?);
    open.insert(entity.id, spoke.clone());
    Ok(spoke)
}

/// Opens the entity's store at another location, with its data key (`llave entity set-store`).
pub async fn open_at(app: &Services, entity: &Entity, location: &str) -> StoreResult<Spoke> {
    let (_, sealed) = app
        .store
        .entity_store(entity.id)
        .await?
        .ok_or_else(|| StoreError::Data(format!("the entity {} has no store yet", entity.slug)))?;
    let key = app
        .keystore
        .open(&data_key_purpose(&entity.slug), &sealed)
        .map_err(|e| StoreError::Corrupt(format!("the data key of {}: {e}", entity.slug)))?;
    Spoke::open(&app.store, &app.config.data_dir, entity.id, &entity.slug, location, &key).await
}

fn data_key_purpose(slug: &str) -> String {
    format!("entity-data-key:{slug}")
}

/// Why something was not done: a refusal the caller can act on, or a fault of ours.
#[derive(Debug)]
pub enum Failure {
    Refused { status: StatusCode, code: &'static str, description: String },
    Internal(String),
}

impl Failure {
    pub fn refused(status: StatusCode, code: &'static str, description: impl Into<String>) -> Failure {
        Failure::Refused { status, code, description: description.into() }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        match error {
            // Issue 18: a spoke that is down fails its own entity's records, nothing else.
            StoreError::StoreUnavailable(slug) => Failure::refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("the records store of the entity {slug} is unavailable for now; try again later"),
            ),
            error => Failure::Internal(error.to_string()),
        }
    }
}

pub type Outcome<T> = Result<T, Failure>;

/// The entity of the calling client. The entity APIs serve entities' clients only: a third
/// party's client (which has no entity) is refused.
pub fn calling_entity(client: &ClientRecord) -> Outcome<i64> {
    client.entity_id.ok_or_else(|| {
        Failure::refused(StatusCode::FORBIDDEN, "unauthorized_client", "the entity APIs are for entities' clients")
    })
}

/// How an entity names a person: the pairwise `sub` it received at sign-in, or the CURP
/// when one of its clients may receive the `curp` claim.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct PersonRef {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub curp: Option<String>,
}

/// The person's account id, as the calling entity may name them.
pub async fn resolve_person(app: &Services, client: &ClientRecord, person: &PersonRef) -> Outcome<i64> {
    let unknown = || Failure::refused(StatusCode::NOT_FOUND, "unknown_person", "no person is known by that identifier");
    match (person.sub.as_deref(), person.curp.as_deref()) {
        (Some(sub), None) => {
            app.store.account_for_subject(calling_entity(client)?, sub.trim()).await?.ok_or_else(unknown)
        }
        (None, Some(curp)) => {
            let entity_clients = app.store.list_clients(Some(&client.entity_slug)).await?;
            if !entity_clients.iter().any(|c| c.allowed_claims.iter().any(|claim| claim == "curp")) {
                return Err(Failure::refused(
                    StatusCode::FORBIDDEN,
                    "curp_not_allowed",
                    "this entity may not name people by CURP; use the sub it received",
                ));
            }
            let curp = curp.trim().to_ascii_uppercase();
            if let Some(account) = app.store.account_by_curp(&curp).await? {
                return Ok(account.id.0);
            }
            // The answer says who has no account: rationed per client, and logged (without
            // the CURP, which is personal data).
            let now = now();
            let key = format!("unknown-person:{}", client.client_id);
            let count = app.store.throttle_record_failure(&key, now, now - 3600).await?;
            tracing::info!(client = %client.client_id, count, "an entity named by CURP a person with no account");
            if count > app.config.records.unknown_person_per_hour {
                return Err(Failure::refused(
                    StatusCode::TOO_MANY_REQUESTS,
                    "slow_down",
                    "too many look-ups of people without an account this hour; try again later",
                ));
            }
            Err(unknown())
        }
        _ => Err(Failure::refused(StatusCode::BAD_REQUEST, "invalid_request", "give exactly one of sub and curp")),
    }
}

/// A file attached to a record, as sent (base64).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInput {
    pub name: String,
    pub content_type: String,
    pub content_base64: String,
}

/// What an entity sends to store a record or a new version of it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub curp: Option<String>,
    /// Required to create; a new version keeps the kind.
    #[serde(default)]
    pub kind: Option<String>,
    pub attributes: serde_json::Value,
    #[serde(default)]
    pub file: Option<FileInput>,
    /// A new version without a `file` keeps the previous one unless this is true.
    #[serde(default)]
    pub remove_file: bool,
    #[serde(default)]
    pub procedure: Option<String>,
    #[serde(default)]
    pub valid_from: Option<String>,
    #[serde(default)]
    pub valid_until: Option<String>,
    /// For an update: the version it replaces (optimistic concurrency).
    #[serde(default)]
    pub version: Option<i64>,
}

fn bad(description: impl Into<String>) -> Failure {
    Failure::refused(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// The file's type, recognised from its first bytes.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

struct CheckedFile {
    name: String,
    content_type: &'static str,
    bytes: Vec<u8>,
    sha256: String,
}

fn check_file(app: &Services, file: &FileInput) -> Outcome<CheckedFile> {
    use base64::Engine;
    let limit = app.config.records.max_file_bytes;
    if file.content_base64.len() > limit / 3 * 4 + 8 {
        return Err(Failure::refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            format!("files are limited to {limit} bytes"),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(file.content_base64.trim())
        .map_err(|_| bad("file.content_base64 is not base64"))?;
    if bytes.len() > limit {
        return Err(Failure::refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            format!("files are limited to {limit} bytes"),
        ));
    }
    let Some(sniffed) = sniff(&bytes) else {
        return Err(Failure::refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file",
            "a file must be a PDF, PNG, JPEG or WebP",
        ));
    };
    if file.content_type.trim() != sniffed {
        return Err(bad(format!("file.content_type says {:?} but the file is {sniffed}", file.content_type)));
    }
    let name: String = file.name.chars().filter(|c| !c.is_control() && *c != '/' && *c != '\\').take(200).collect();
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(bad("file.name is required"));
    }
    Ok(CheckedFile { name, content_type: sniffed, sha256: hex_sha256(&bytes), bytes })
}

/// Checks a procedure an entity names as a record's source: one of its own, in the
/// published catalog.
async fn own_procedure(app: &Services, client: &ClientRecord, slug: Option<&str>) -> Outcome<Option<String>> {
    let Some(slug) = slug.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    let published = app.catalog.published(&app.store).await?;
    match published.by_slug(slug) {
        Some(p) if p.entity == client.entity_slug => Ok(Some(slug.to_string())),
        Some(_) => Err(bad(format!("procedure {slug:?} belongs to another entity"))),
        None => Err(bad(format!("procedure {slug:?} is not in the published catalog"))),
    }
}

fn check_validity(from: Option<&str>, until: Option<&str>) -> Outcome<(Option<String>, Option<String>)> {
    let parse = |field: &str, value: Option<&str>| -> Outcome<Option<String>> {
        match value.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(text) => calendar::parse_date(text)
                .map(|d| Some(calendar::format_date(d)))
                .ok_or_else(|| bad(format!("{field} must be a date, YYYY-MM-DD"))),
        }
    };
    let from = parse("valid_from", from)?;
    let until = parse("valid_until", until)?;
    if let (Some(f), Some(u)) = (&from, &until)
        && u < f
    {
        return Err(bad("valid_until is before valid_from"));
    }
    Ok((from, until))
}

fn check_attributes(value: &serde_json::Value) -> Outcome<Vec<u8>> {
    if !value.is_object() {
        return Err(bad("attributes must be a JSON object"));
    }
    let bytes = serde_json::to_vec(value).map_err(|e| Failure::Internal(e.to_string()))?;
    if bytes.len() > MAX_ATTRIBUTES_BYTES {
        return Err(Failure::refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "attributes_too_large",
            format!("attributes are limited to {MAX_ATTRIBUTES_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// A record as its holder sees it: the locator and the version's contents.
pub struct Opened {
    pub locator: Locator,
    pub version: Version,
}

/// Stores a new record about a person in the calling entity's store.
pub async fn create(app: &Services, client: &ClientRecord, input: &RecordInput) -> Outcome<Opened> {
    let kind = input.kind.as_deref().map(str::trim).unwrap_or("");
    if !crate::catalog::model::is_kind(kind) {
        return Err(bad(format!("kind {kind:?} is not in the catalog's requirement vocabulary")));
    }
    let attributes = check_attributes(&input.attributes)?;
    let (valid_from, valid_until) = check_validity(input.valid_from.as_deref(), input.valid_until.as_deref())?;
    let file = input.file.as_ref().map(|f| check_file(app, f)).transpose()?;
    let procedure = own_procedure(app, client, input.procedure.as_deref()).await?;
    let account_id =
        resolve_person(app, client, &PersonRef { sub: input.sub.clone(), curp: input.curp.clone() }).await?;
    let spoke = app.spokes.get(app, calling_entity(client)?).await?;
    let record_id = random_id();
    let now = now();
    let content = Content { attributes: input.attributes.clone(), file_name: file.as_ref().map(|f| f.name.clone()) };
    let sha256 = hex_sha256(&attributes);
    spoke
        .insert(&NewVersion {
            record_id: &record_id,
            version: 1,
            account_id,
            kind,
            procedure: procedure.as_deref(),
            content: &content,
            file: file.as_ref().map(|f| (f.content_type, f.bytes.as_slice())),
            file_sha256: file.as_ref().map(|f| f.sha256.as_str()),
            sha256: &sha256,
            valid_from: valid_from.as_deref(),
            valid_until: valid_until.as_deref(),
            written_by: &client.client_id,
            now,
        })
        .await?;
    let locator = Locator {
        record_id: record_id.clone(),
        entity_id: calling_entity(client)?,
        account_id,
        kind: kind.to_string(),
        procedure,
        version: 1,
        valid_from,
        valid_until,
        created_at: now,
        updated_at: now,
        withdrawn_at: None,
    };
    // The spoke's row first, then the hub's act (the locator and `record_stored`): the two
    // stores share no transaction, and in this order a crash between them leaves only a
    // version no locator vouches for (never shown, never answered as stored), not an
    // acknowledged record without its event.
    let indexed = app
        .store
        .act("record_stored", async |tx: &mut Tx| {
            tx.index_record(&locator).await?;
            tx.event(record_event(EventKind::RecordStored, client, &locator));
            Ok::<_, StoreError>(())
        })
        .await;
    if let Err(error) = indexed {
        // Without its locator the record would be invisible: take it back out.
        if let Err(undo) = spoke.remove(&record_id, 1).await {
            tracing::error!(%undo, record_id, "cannot remove an unindexed record");
        }
        return Err(error.into());
    }
    let version = spoke.version(&record_id, 1).await?.ok_or_else(|| Failure::Internal("written version".into()))?;
    Ok(Opened { locator, version })
}

/// The calling entity's own record (refused, and logged, for another entity's).
pub async fn own_record(app: &Services, client: &ClientRecord, record_id: &str) -> Outcome<Locator> {
    let Some(locator) = app.store.record_locator(record_id).await? else {
        return Err(Failure::refused(StatusCode::NOT_FOUND, "not_found", "no record has that id"));
    };
    if Some(locator.entity_id) != client.entity_id {
        let description = "the record belongs to another entity; ask for it with a look-up";
        log_refusal(app, client, Some(&locator), None, "not_your_record", description).await;
        return Err(Failure::refused(StatusCode::FORBIDDEN, "not_your_record", description));
    }
    Ok(locator)
}

/// Reads the calling entity's own record: the current version, or the one asked for.
pub async fn read_own(app: &Services, client: &ClientRecord, record_id: &str, version: Option<i64>) -> Outcome<Opened> {
    let locator = own_record(app, client, record_id).await?;
    let wanted = version.unwrap_or(locator.version);
    let version = located_version(app, &locator, Some(wanted)).await?.ok_or_else(|| {
        Failure::refused(StatusCode::NOT_FOUND, "not_found", format!("the record has no version {wanted}"))
    })?;
    Ok(Opened { locator, version })
}

/// Every version of the calling entity's own record, oldest first.
pub async fn history_own(app: &Services, client: &ClientRecord, record_id: &str) -> Outcome<(Locator, Vec<Version>)> {
    let locator = own_record(app, client, record_id).await?;
    let history = located_history(app, &locator).await?;
    Ok((locator, history))
}

/// Whether the index vouches for a version: it is at most the located one. A version beyond
/// it is what an update that could not be indexed left in the store, and is never shown.
pub fn vouched(locator: &Locator, version: i64) -> bool {
    (1..=locator.version).contains(&version)
}

/// A version of a located record, opened: `wanted`, or the current one.
pub async fn located_version(app: &Services, locator: &Locator, wanted: Option<i64>) -> StoreResult<Option<Version>> {
    let wanted = wanted.unwrap_or(locator.version);
    if !vouched(locator, wanted) {
        return Ok(None);
    }
    app.spokes.get(app, locator.entity_id).await?.version(&locator.record_id, wanted).await
}

/// Every version of a located record the index vouches for, oldest first.
pub async fn located_history(app: &Services, locator: &Locator) -> StoreResult<Vec<Version>> {
    let mut history = app.spokes.get(app, locator.entity_id).await?.history(&locator.record_id).await?;
    history.retain(|v| vouched(locator, v.version));
    Ok(history)
}

/// The file of the calling entity's own record.
pub async fn file_own(
    app: &Services,
    client: &ClientRecord,
    record_id: &str,
    version: Option<i64>,
) -> Outcome<(spoke::FileInfo, Vec<u8>)> {
    let opened = read_own(app, client, record_id, version).await?;
    let spoke = app.spokes.get(app, opened.locator.entity_id).await?;
    match (opened.version.file, spoke.file(record_id, opened.version.version).await?) {
        (Some(info), Some(bytes)) => Ok((info, bytes)),
        _ => Err(Failure::refused(StatusCode::NOT_FOUND, "no_file", "this version of the record has no file")),
    }
}

/// Writes a new version of the calling entity's own record; old versions stay.
pub async fn update(app: &Services, client: &ClientRecord, record_id: &str, input: &RecordInput) -> Outcome<Opened> {
    if input.sub.is_some() || input.curp.is_some() {
        return Err(bad("a record's person cannot change; store a new record instead"));
    }
    let locator = own_record(app, client, record_id).await?;
    if locator.withdrawn_at.is_some() {
        return Err(Failure::refused(StatusCode::CONFLICT, "withdrawn", "the record was withdrawn"));
    }
    if let Some(kind) = input.kind.as_deref()
        && kind != locator.kind
    {
        return Err(bad("a record's kind cannot change; store a new record instead"));
    }
    if let Some(expected) = input.version
        && expected != locator.version
    {
        return Err(Failure::refused(
            StatusCode::CONFLICT,
            "version_conflict",
            format!("the record is at version {}, not {expected}", locator.version),
        ));
    }
    let attributes = check_attributes(&input.attributes)?;
    let (valid_from, valid_until) = check_validity(input.valid_from.as_deref(), input.valid_until.as_deref())?;
    let new_file = input.file.as_ref().map(|f| check_file(app, f)).transpose()?;
    let procedure = match input.procedure.as_deref() {
        Some(p) => own_procedure(app, client, Some(p)).await?,
        None => locator.procedure.clone(),
    };
    let spoke = app.spokes.get(app, calling_entity(client)?).await?;
    let current = spoke
        .version(record_id, locator.version)
        .await?
        .ok_or_else(|| Failure::Internal(format!("record {record_id} lacks its current version")))?;
    // The file: the new one, none, or the previous one carried over.
    let kept = match (&new_file, input.remove_file, &current.file) {
        (None, false, Some(info)) => spoke.file(record_id, current.version).await?.map(|bytes| (info.clone(), bytes)),
        _ => None,
    };
    let file: Option<(String, &str, &[u8], String)> = match (&new_file, &kept) {
        (Some(f), _) => Some((f.name.clone(), f.content_type, f.bytes.as_slice(), f.sha256.clone())),
        (None, Some((info, bytes))) => {
            Some((info.name.clone(), info.content_type.as_str(), bytes.as_slice(), info.sha256.clone()))
        }
        _ => None,
    };
    let next = locator.version + 1;
    let now = now();
    let content = Content { attributes: input.attributes.clone(), file_name: file.as_ref().map(|f| f.0.clone()) };
    let sha256 = hex_sha256(&attributes);
    let new_version = NewVersion {
        record_id,
        version: next,
        account_id: locator.account_id,
        kind: &locator.kind,
        procedure: procedure.as_deref(),
        content: &content,
        file: file.as_ref().map(|f| (f.1, f.2)),
        file_sha256: file.as_ref().map(|f| f.3.as_str()),
        sha256: &sha256,
        valid_from: valid_from.as_deref(),
        valid_until: valid_until.as_deref(),
        written_by: &client.client_id,
        now,
    };
    match spoke.insert(&new_version).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            // Either another update is under way, or an earlier one wrote this version and
            // could not index it (and could not take it back). The index decides: if it
            // still stands at the version this update replaces, the row is a stray.
            let still = app.store.record_locator(record_id).await?.map(|l| l.version);
            if still != Some(locator.version) {
                return Err(Failure::refused(StatusCode::CONFLICT, "version_conflict", "another update came first"));
            }
            spoke.remove(record_id, next).await?;
            spoke.insert(&new_version).await.map_err(|e| match e {
                StoreError::Conflict(_) => {
                    Failure::refused(StatusCode::CONFLICT, "version_conflict", "another update came first")
                }
                other => other.into(),
            })?;
        }
        Err(error) => return Err(error.into()),
    }
    let advanced = Locator { version: next, procedure, valid_from, valid_until, updated_at: now, ..locator.clone() };
    // As in `create`: the spoke's version first, then the hub's act (the locator moved and
    // `record_updated`); a crash between them leaves a version beyond the locator, never
    // shown, which the next update replaces.
    let moved = app
        .store
        .act("record_updated", async |tx: &mut Tx| {
            let moved = tx.advance_record(&advanced, locator.version).await?;
            if moved {
                tx.event(record_event(EventKind::RecordUpdated, client, &advanced));
            }
            Ok::<_, StoreError>(moved)
        })
        .await;
    let moved = match moved {
        Ok(moved) => moved,
        Err(error) => {
            let _ = spoke.remove(record_id, next).await;
            return Err(error.into());
        }
    };
    if !moved {
        let _ = spoke.remove(record_id, next).await;
        let withdrawn = app.store.record_locator(record_id).await?.is_some_and(|l| l.withdrawn_at.is_some());
        if withdrawn {
            return Err(Failure::refused(StatusCode::CONFLICT, "withdrawn", "the record was withdrawn"));
        }
        return Err(Failure::refused(StatusCode::CONFLICT, "version_conflict", "the record changed meanwhile"));
    }
    let version = spoke.version(record_id, next).await?.ok_or_else(|| Failure::Internal("written version".into()))?;
    Ok(Opened { locator: advanced, version })
}

/// Withdraws the calling entity's own record: look-ups stop finding it; its history stays.
pub async fn withdraw(app: &Services, client: &ClientRecord, record_id: &str, reason: Option<&str>) -> Outcome<Opened> {
    let locator = own_record(app, client, record_id).await?;
    let now = now();
    let reason = reason.map(|r| r.chars().filter(|c| !c.is_control()).take(500).collect::<String>());
    // The hub's act first (the index withdrawn and `record_withdrawn`), then the spoke's
    // mark, which is idempotent: a crash between them leaves the record withdrawn, with its
    // event, and the entity, not yet answered, asks again and gets the mark made.
    if locator.withdrawn_at.is_none() {
        app.store
            .act("record_withdrawn", async |tx: &mut Tx| {
                if tx.withdraw_record(record_id, now).await? {
                    tx.event(record_event(EventKind::RecordWithdrawn, client, &locator));
                }
                Ok::<_, StoreError>(())
            })
            .await?;
    }
    // The index now says withdrawn, and at which version: mark that version in the store
    // (again, harmlessly, if an earlier withdrawal got only this far).
    if let Some(current) = app.store.record_locator(record_id).await? {
        let spoke = app.spokes.get(app, calling_entity(client)?).await?;
        let at = current.withdrawn_at.unwrap_or(now);
        spoke.withdraw(record_id, current.version, reason.as_deref(), at).await?;
    }
    read_own(app, client, record_id, None).await
}

/// What a look-up answers when the person has such a record and the reader may know it.
pub struct Found {
    pub locator: Locator,
    pub holder: Entity,
    pub grant: String,
    pub expires_at: i64,
    pub basis: String,
    pub legal_basis: Option<String>,
}

/// "For procedure P, does this person have a record of kind K anywhere?" Answered only for
/// the reader's own procedure, a kind the catalog lists for it, and with the person's
/// standing consent or a legal basis that allows reuse. `Ok(None)`: no such record.
pub async fn lookup(
    app: &Services,
    client: &ClientRecord,
    person: &PersonRef,
    procedure: &str,
    kind: &str,
) -> Outcome<Option<Found>> {
    let published = app.catalog.published(&app.store).await?;
    let Some(p) = published.by_slug(procedure.trim()) else {
        return Err(Failure::refused(
            StatusCode::NOT_FOUND,
            "unknown_procedure",
            format!("procedure {procedure:?} is not in the published catalog"),
        ));
    };
    let account_id = resolve_person(app, client, person).await?;
    // What the person's file shows was validated: the kind only if the vocabulary knows it
    // (an entity could otherwise write any text, of any length, into the person's file).
    let shown_kind = shown_value(kind, crate::catalog::model::is_kind(kind), "kind");
    let refuse = |code: &'static str, description: String, status: StatusCode| async move {
        let access = Access {
            account_id: Some(account_id),
            procedure: Some(p.slug.clone()),
            purpose: format!("look-up of {shown_kind} for {}", p.slug),
            detail: Some(code.to_string()),
            ..refusal_base(client)
        };
        if let Err(error) = app.store.record("record_access", access.event()).await {
            tracing::error!(%error, "cannot log a refused look-up");
        }
        Err::<Option<Found>, Failure>(Failure::refused(status, code, description))
    };
    // The snapshots the decision takes: the basis reviewers approved (catalog::review) and
    // the person's standing consents.
    let law = published.reuse_basis(p).map(|b| b.citation());
    let consents = app.store.reuse_consents_for(account_id, calling_entity(client)?, &p.slug, kind).await?;
    let required_kinds: Vec<&str> = p.requirements.iter().map(|r| r.kind.as_str()).collect();
    let facts = decision::Lookup {
        procedure: &p.slug,
        run_by: &p.entity,
        required_kinds: &required_kinds,
        reader: &client.entity_slug,
        kind,
        approved_basis: law.as_deref(),
        consents: &consents,
    };
    let allowed = match decision::lookup(&facts) {
        Ok(allowed) => allowed,
        Err(refused) => return refuse(refused.code, refused.description, StatusCode::FORBIDDEN).await,
    };
    // Where the person's records of the kind may be: anywhere under the law, at the
    // consented holders otherwise.
    let found = match &allowed {
        decision::Allowed::LegalBasis(_) => app.store.records_of_kind(account_id, kind, None).await?,
        decision::Allowed::Consent(consents) => {
            let mut found = Vec::new();
            for consent in consents.iter() {
                found.extend(app.store.records_of_kind(account_id, kind, Some(consent.holder_entity_id)).await?);
            }
            found
        }
    };
    let today = calendar::format_date(calendar::city_date(now()));
    let basis = allowed.basis().as_str();
    let Some(decision::Chosen { locator, consent_id }) =
        decision::choose(&allowed, calling_entity(client)?, found, &today)
    else {
        return Ok(None);
    };
    let holder = app
        .store
        .entity_by_id(locator.entity_id)
        .await?
        .ok_or_else(|| Failure::Internal(format!("entity {} is missing", locator.entity_id)))?;
    let token = random_token();
    let now = now();
    let expires_at = now + app.config.records.grant_seconds;
    let grant = Grant {
        id: random_id(),
        record_id: locator.record_id.clone(),
        account_id,
        reader_entity_id: calling_entity(client)?,
        reader_client_id: client.client_id.clone(),
        procedure: p.slug.clone(),
        basis: basis.to_string(),
        consent_id,
        legal_basis: law.clone(),
        created_at: now,
        expires_at,
        spent_at: None,
    };
    // One act: the grant and its event (the person sees who may read what, for which
    // procedure, on what basis, before the read itself is logged).
    let issued = Event {
        actor_kind: ActorKind::Entity,
        actor: client.client_id.clone(),
        actor_entity_id: client.entity_id,
        basis: grant.legal_basis.clone().or_else(|| grant.consent_id.as_ref().map(|id| format!("consent {id}"))),
        record_id: Some(grant.record_id.clone()),
        holder_entity_id: Some(locator.entity_id),
        procedure: Some(grant.procedure.clone()),
        purpose: p.name.clone(),
        ..Event::security(
            EventKind::RecordGrantIssued,
            Some(AccountId(account_id)),
            "",
            "",
            &format!("grant {} ({basis}) expires_at={expires_at}", grant.id),
        )
    };
    let written = Arc::new((grant, token_hash(&token), issued));
    app.store
        .grouped_act(
            "record_grant",
            Arc::new(move |tx: &mut Tx| {
                let written = written.clone();
                Box::pin(async move {
                    let (grant, hash, issued) = &*written;
                    tx.add_grant(grant, hash).await?;
                    tx.event(issued.clone());
                    Ok(true)
                })
            }),
        )
        .await?;
    Ok(Some(Found { locator, holder, grant: token, expires_at, basis: basis.into(), legal_basis: law }))
}

/// What an entity did to its own record, as an event: about the person, by the entity's
/// client, on the record it holds.
fn record_event(kind: EventKind, client: &ClientRecord, locator: &Locator) -> Event {
    Event {
        actor_kind: ActorKind::Entity,
        actor: client.client_id.clone(),
        actor_entity_id: client.entity_id,
        record_id: Some(locator.record_id.clone()),
        holder_entity_id: Some(locator.entity_id),
        procedure: locator.procedure.clone(),
        ..Event::security(kind, Some(AccountId(locator.account_id)), "", "", &format!("version={}", locator.version))
    }
}

fn refusal_base(client: &ClientRecord) -> Access {
    Access {
        at: now(),
        reader_kind: "entity".into(),
        reader_entity_id: client.entity_id,
        reader: client.client_id.clone(),
        outcome: "refused".into(),
        ..Access::default()
    }
}

/// The text an entity sent, for the person's file: itself if it passed validation, else
/// `unknown` — the raw value, truncated, goes to the operator log only.
fn shown_value(raw: &str, valid: bool, what: &'static str) -> String {
    if valid {
        return raw.to_string();
    }
    let truncated: String = raw.chars().take(80).collect();
    tracing::info!(what, value = %truncated.escape_debug(), "an entity sent a value that is not in the vocabulary");
    "unknown".to_string()
}

/// Logs a refused attempt on a record (or on no record in particular). The procedure is kept
/// only if it is in the published catalog, and the detail is the error code alone: the
/// person's file never shows text an entity made up.
pub async fn log_refusal(
    app: &Services,
    client: &ClientRecord,
    locator: Option<&Locator>,
    procedure: Option<&str>,
    code: &str,
    description: &str,
) {
    let procedure = match procedure {
        Some(slug) => match app.catalog.published(&app.store).await {
            Ok(catalog) if catalog.by_slug(slug).is_some() => Some(slug.to_string()),
            Ok(_) => {
                shown_value(slug, false, "procedure");
                None
            }
            Err(error) => {
                tracing::error!(%error, "cannot read the catalog to log a refusal");
                None
            }
        },
        None => None,
    };
    tracing::info!(code, description, "refused an entity's request");
    let access = Access {
        account_id: locator.map(|l| l.account_id),
        record_id: locator.map(|l| l.record_id.clone()),
        holder_entity_id: locator.map(|l| l.entity_id),
        procedure,
        purpose: "entity API".into(),
        detail: Some(code.to_string()),
        ..refusal_base(client)
    };
    if let Err(error) = app.store.record("record_access", access.event()).await {
        tracing::error!(%error, "cannot log a refusal");
    }
}

/// What a grant read gives: the record's locator, its holder, the current version and file.
pub struct Shared {
    pub locator: Locator,
    pub holder: Entity,
    pub version: Version,
    pub file: Option<Vec<u8>>,
    pub basis: String,
    pub legal_basis: Option<String>,
}

/// Reads another entity's record through a grant, which is then spent.
pub async fn read_with_grant(
    app: &Services,
    client: &ClientRecord,
    record_id: &str,
    grant_token: &str,
    procedure: &str,
) -> Outcome<Shared> {
    let locator = app.store.record_locator(record_id).await?;
    let grant = app.store.grant_by_token_hash(&token_hash(grant_token.trim())).await?;
    let now = now();
    // What the grant's basis rests on today, read only for a grant of that basis.
    let basis = grant.as_ref().and_then(|g| decision::Basis::parse(&g.basis));
    let consent_stands = match (&grant, basis) {
        (Some(g), Some(decision::Basis::Consent)) => consent_stands(app, g).await?,
        _ => false,
    };
    let approved_basis = match (&grant, basis) {
        (Some(g), Some(decision::Basis::LegalBasis)) => approved_basis(app, &g.procedure).await?,
        _ => None,
    };
    let problem = decision::grant_problem(&decision::GrantRead {
        grant: grant.as_ref(),
        record_exists: locator.is_some(),
        reader_entity_id: calling_entity(client)?,
        record_id,
        procedure: procedure.trim(),
        now,
        consent_stands,
        approved_basis: approved_basis.as_deref(),
    });
    // The contents are read before the grant is spent: a failure here leaves it usable.
    let loaded = match (problem, &locator) {
        (None, Some(l)) if l.withdrawn_at.is_none() => {
            let version = located_version(app, l, None)
                .await?
                .ok_or_else(|| Failure::Internal(format!("record {record_id} lacks its current version")))?;
            let file = match version.file {
                Some(_) => app.spokes.get(app, l.entity_id).await?.file(record_id, version.version).await?,
                None => None,
            };
            Some((version, file))
        }
        _ => None,
    };
    // What the answer and the log line need, read before the act: an act reads and writes
    // only through its transaction (on SQLite a second connection taken inside it can wait
    // behind the acts queued for the write lock, which hold the pool).
    let named = match (problem, &grant, &locator) {
        (None, Some(g), Some(l)) => {
            let holder = app
                .store
                .entity_by_id(l.entity_id)
                .await?
                .ok_or_else(|| Failure::Internal(format!("entity {} is missing", l.entity_id)))?;
            let procedure_name = app
                .catalog
                .published(&app.store)
                .await?
                .by_slug(&g.procedure)
                .map(|p| p.name.clone())
                .unwrap_or_else(|| g.procedure.clone());
            Some((holder, procedure_name))
        }
        _ => None,
    };
    // One act: the grant is spent and the read logged together — a read is never unlogged,
    // and a log line never describes a read that did not happen. What is not read falls
    // through to the refusal, logged against the grant and the record.
    let (grant, locator) = match (problem, grant, locator, named) {
        (None, Some(grant), Some(locator), Some((holder, procedure_name))) => {
            let mut access = Access {
                at: now,
                account_id: Some(locator.account_id),
                record_id: Some(locator.record_id.clone()),
                holder_entity_id: Some(locator.entity_id),
                reader_kind: "entity".into(),
                reader_entity_id: client.entity_id,
                reader: client.client_id.clone(),
                procedure: Some(grant.procedure.clone()),
                purpose: procedure_name,
                legal_basis: grant
                    .legal_basis
                    .clone()
                    .or_else(|| grant.consent_id.as_ref().map(|id| format!("consent {id}"))),
                outcome: "read".into(),
                detail: Some(format!("grant {} ({})", grant.id, grant.basis)),
            };
            if locator.withdrawn_at.is_some() {
                access.outcome = "refused".into();
                access.detail = Some("withdrawn: the holder withdrew the record".into());
            }
            let written = Arc::new((grant.id.clone(), access));
            let spent = app
                .store
                .grouped_act(
                    "record_read",
                    Arc::new(move |tx: &mut Tx| {
                        let written = written.clone();
                        Box::pin(async move {
                            let (grant_id, access) = &*written;
                            if !tx.spend_grant(grant_id, now).await? {
                                return Ok(false);
                            }
                            tx.log_access(access);
                            Ok(true)
                        })
                    }),
                )
                .await?;
            if spent {
                // Committed before the contents leave: an unlogged read never happens.
                if locator.withdrawn_at.is_some() {
                    return Err(Failure::refused(StatusCode::GONE, "withdrawn", "the holder withdrew the record"));
                }
                let (version, file) = loaded.ok_or_else(|| Failure::Internal("the record was not loaded".into()))?;
                return Ok(Shared {
                    locator,
                    holder,
                    version,
                    file,
                    basis: grant.basis,
                    legal_basis: grant.legal_basis,
                });
            }
            (Some(grant), Some(locator))
        }
        (_, grant, locator, _) => (grant, locator),
    };
    let description = problem.unwrap_or("the grant was already used");
    // Logged against the record the grant is for (the person sees it), else the one named.
    let logged = match &grant {
        Some(g) if g.record_id != record_id => app.store.record_locator(&g.record_id).await.ok().flatten().or(locator),
        _ => locator,
    };
    log_refusal(app, client, logged.as_ref(), Some(procedure.trim()), "invalid_grant", description).await;
    Err(Failure::refused(StatusCode::FORBIDDEN, "invalid_grant", description))
}

/// A read by hub staff or an auditor (`llave record show`): always with a purpose and a
/// legal basis, always logged.
pub async fn read_as_staff(
    app: &Services,
    record_id: &str,
    reader_kind: &str,
    reader: &str,
    purpose: &str,
    legal_basis: &str,
) -> Outcome<(Locator, Vec<Version>)> {
    let locator = app
        .store
        .record_locator(record_id)
        .await?
        .ok_or_else(|| Failure::refused(StatusCode::NOT_FOUND, "not_found", "no record has that id"))?;
    let access = Access {
        at: now(),
        account_id: Some(locator.account_id),
        record_id: Some(locator.record_id.clone()),
        holder_entity_id: Some(locator.entity_id),
        reader_kind: reader_kind.into(),
        reader_entity_id: None,
        reader: reader.into(),
        procedure: None,
        purpose: purpose.into(),
        legal_basis: Some(legal_basis.into()),
        outcome: "read".into(),
        detail: None,
    };
    app.store.record("record_access", access.event()).await?;
    let history = located_history(app, &locator).await?;
    Ok((locator, history))
}

/// The citation of the basis legal reviewers approve for reuse in a procedure today.
async fn approved_basis(app: &Services, procedure: &str) -> StoreResult<Option<String>> {
    let published = app.catalog.published(&app.store).await?;
    Ok(published.by_slug(procedure).and_then(|p| published.reuse_basis(p)).map(|b| b.citation()))
}

/// Whether the consent a grant was given under still stands.
async fn consent_stands(app: &Services, grant: &Grant) -> StoreResult<bool> {
    match grant.consent_id.as_deref() {
        Some(id) => app.store.reuse_consent_stands(id).await,
        None => Ok(false),
    }
}
