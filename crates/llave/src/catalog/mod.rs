//! The catalog of procedures and services (RETyS): what each procedure needs and where to
//! do it. This module moves the whole catalog in and out (`llave catalog import|export`);
//! the file format is the JSON of `model`:
//!
//! ```json
//! {"procedures": [
//! {"slug": "licencia-a", "entity": "semovi", "name": "Licencia de conducir tipo A", …},
//! …],
//! "equivalences": [{"kind": "proof_of_residence", "accepted_kind": "voter_card", "note": "…"}]}
//! ```
//!
//! An import checks every row first and writes nothing unless all are good; each bad row
//! is reported with the line it starts on and every reason.

pub mod edit;
pub mod legal_review;
pub mod model;
pub mod report;
pub mod review;
pub mod routes;
pub mod search;
pub mod storage;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::store::Store;
use model::{Equivalence, Procedure};
use storage::ImportCounts;

/// The published catalog as the public pages and API see it, with its search index;
/// rebuilt when the catalog changes (checked with one cheap query at most every
/// [`FRESH_FOR`], and at once after a change made by this process).
pub struct Published {
    pub procedures: Vec<Procedure>,
    /// entity slug → name
    pub entities: HashMap<String, String>,
    pub index: search::Index,
    /// Legal reviewers' decisions, which say whether a basis allowing reuse is in effect.
    pub reviews: Vec<review::Review>,
}

impl Published {
    pub fn by_slug(&self, slug: &str) -> Option<&Procedure> {
        self.procedures.iter().find(|p| p.slug == slug)
    }

    /// The procedure's basis that lets its entity reuse records without consent: only one
    /// legal reviewers approved (`review`).
    pub fn reuse_basis(&self, procedure: &Procedure) -> Option<review::ReviewedBasis> {
        review::effective(procedure, &self.reviews)
    }
}

/// The catalog's change stamp (procedure count, newest update) when an index was built.
type Stamp = (i64, i64);

/// How long the in-memory catalog is answered without asking the database whether it
/// changed. Changes made by this process are seen at once (every act that changes the
/// catalog or the entities moves [`Store::catalog_changes`]); changes made by another node
/// of a cluster are seen within this time.
pub const FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(1);

struct Built {
    stamp: Stamp,
    /// When the stamp was last compared with the database's.
    checked: std::time::Instant,
    /// [`Store::catalog_changes`] when it was.
    local_changes: u64,
    published: Arc<Published>,
}

/// The published catalog held in memory, rebuilt when the catalog changes.
#[derive(Default)]
pub struct Cache {
    built: RwLock<Option<Built>>,
}

impl Cache {
    pub async fn published(&self, store: &Store) -> Result<Arc<Published>, crate::store::StoreError> {
        let local_changes = store.catalog_changes();
        if let Ok(guard) = self.built.read()
            && let Some(built) = guard.as_ref()
            && built.local_changes == local_changes
            && built.checked.elapsed() < FRESH_FOR
        {
            return Ok(built.published.clone());
        }
        let stamp = store.catalog_stamp().await?;
        let checked = std::time::Instant::now();
        if let Ok(mut guard) = self.built.write()
            && let Some(built) = guard.as_mut()
            && built.stamp == stamp
        {
            built.checked = checked;
            built.local_changes = local_changes;
            return Ok(built.published.clone());
        }
        let procedures: Vec<Procedure> =
            store.all_procedures().await?.into_iter().filter(|p| p.status == "published").collect();
        let entities: HashMap<String, String> =
            store.list_entities().await?.into_iter().map(|e| (e.slug, e.name)).collect();
        let index = search::Index::build(&procedures, &entities);
        // Each decision writes a history row, so the stamp moves with the reviews too.
        let reviews = store.legal_basis_reviews().await?;
        let published = Arc::new(Published { procedures, entities, index, reviews });
        if let Ok(mut guard) = self.built.write() {
            *guard = Some(Built { stamp, checked, local_changes, published: published.clone() });
        }
        Ok(published)
    }
}

/// One refused row of an import file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// The line of the file the row starts on (1-based).
    pub line: usize,
    /// "procedures[N]" or "equivalences[N]".
    pub row: String,
    pub reasons: Vec<String>,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} ({}): {}", self.line, self.row, self.reasons.join("; "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is not a catalog: {0}")]
    Format(String),
    #[error("{} bad row(s); nothing was imported", .0.len())]
    Rows(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile<'a> {
    #[serde(borrow)]
    procedures: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    equivalences: Vec<&'a RawValue>,
}

/// The 1-based line on which `part` (a slice of `whole`) starts.
fn line_of(whole: &str, part: &str) -> usize {
    let offset = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize).min(whole.len());
    whole[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

/// The slug of another stored procedure of the same entity with the same name (names
/// compare case-insensitively), given `Store::procedure_names`.
pub fn name_taken<'a>(stored: &'a [(String, String, String)], procedure: &Procedure) -> Option<&'a str> {
    let name = procedure.name.to_lowercase();
    stored
        .iter()
        .find(|(slug, entity, other)| {
            *slug != procedure.slug && *entity == procedure.entity && other.to_lowercase() == name
        })
        .map(|(slug, _, _)| slug.as_str())
}

/// Checks a catalog file against itself and the database; writes it only if every row is
/// good, in one transaction.
pub async fn import(store: &Store, text: &str, actor: &str, now: i64) -> Result<ImportCounts, ImportError> {
    let file: RawFile = serde_json::from_str(text).map_err(|e| ImportError::Format(e.to_string()))?;
    let entities: HashMap<String, i64> =
        store.list_entities().await?.into_iter().map(|e| (e.slug.clone(), e.id)).collect();
    // Names already taken in the database, by slug, so a row may keep its own name.
    let stored = store.procedure_names().await?;
    let mut errors = Vec::new();
    let mut procedures = Vec::new();
    let mut entity_ids = Vec::new();
    let mut slugs_seen: HashMap<String, usize> = HashMap::new();
    let mut names_seen: HashMap<(String, String), usize> = HashMap::new();
    for (n, raw) in file.procedures.iter().enumerate() {
        let line = line_of(text, raw.get());
        let row = format!("procedures[{n}]");
        let procedure: Procedure = match serde_json::from_str(raw.get()) {
            Ok(procedure) => procedure,
            Err(error) => {
                errors.push(RowError { line, row, reasons: vec![error.to_string()] });
                continue;
            }
        };
        let mut reasons = procedure.problems();
        match entities.get(&procedure.entity) {
            Some(id) => entity_ids.push(*id),
            None => reasons.push(format!("entity {:?} does not exist (llave entity add)", procedure.entity)),
        }
        if let Some(first) = slugs_seen.insert(procedure.slug.clone(), line) {
            reasons.push(format!("slug {:?} is also used on line {first}", procedure.slug));
        }
        let name_key = (procedure.entity.clone(), procedure.name.to_lowercase());
        if let Some(first) = names_seen.insert(name_key, line) {
            reasons.push(format!(
                "{} already has a procedure named {:?} on line {first}",
                procedure.entity, procedure.name
            ));
        }
        if let Some(slug) = name_taken(&stored, &procedure) {
            reasons
                .push(format!("{} already has a procedure named {:?} (slug {slug})", procedure.entity, procedure.name));
        }
        if reasons.is_empty() {
            procedures.push(procedure);
        } else {
            errors.push(RowError { line, row, reasons });
        }
    }
    let mut equivalences = Vec::new();
    for (n, raw) in file.equivalences.iter().enumerate() {
        let line = line_of(text, raw.get());
        let row = format!("equivalences[{n}]");
        match serde_json::from_str::<Equivalence>(raw.get()) {
            Ok(equivalence) => {
                let reasons = equivalence.problems();
                if reasons.is_empty() {
                    equivalences.push(equivalence);
                } else {
                    errors.push(RowError { line, row, reasons });
                }
            }
            Err(error) => errors.push(RowError { line, row, reasons: vec![error.to_string()] }),
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Rows(errors));
    }
    Ok(store.import_catalog(&procedures, &entity_ids, Some(&equivalences), actor, now).await?)
}

/// The whole catalog as an import file: one procedure per line.
pub async fn export_json(store: &Store) -> Result<String, crate::store::StoreError> {
    json_of(store, false).await
}

/// The published procedures in the same format (the open-data download).
pub async fn export_json_published(store: &Store) -> Result<String, crate::store::StoreError> {
    json_of(store, true).await
}

async fn procedures_of(store: &Store, published_only: bool) -> Result<Vec<Procedure>, crate::store::StoreError> {
    let mut procedures = store.all_procedures().await?;
    if published_only {
        procedures.retain(|p| p.status == "published");
    }
    Ok(procedures)
}

async fn json_of(store: &Store, published_only: bool) -> Result<String, crate::store::StoreError> {
    let data = |e: serde_json::Error| crate::store::StoreError::Data(e.to_string());
    let procedures = procedures_of(store, published_only).await?;
    let equivalences = store.equivalences().await?;
    let mut out = String::from("{\"procedures\": [\n");
    for (n, procedure) in procedures.iter().enumerate() {
        out.push_str(&serde_json::to_string(procedure).map_err(data)?);
        out.push_str(if n + 1 < procedures.len() { ",\n" } else { "\n" });
    }
    out.push_str("],\n\"equivalences\": [\n");
    for (n, equivalence) in equivalences.iter().enumerate() {
        out.push_str(&serde_json::to_string(equivalence).map_err(data)?);
        out.push_str(if n + 1 < equivalences.len() { ",\n" } else { "\n" });
    }
    out.push_str("]}\n");
    Ok(out)
}

/// The simplification report over the stored catalog.
pub async fn report(store: &Store) -> Result<report::Report, crate::store::StoreError> {
    Ok(report::build(&store.all_procedures().await?, &store.equivalences().await?, &store.legal_basis_reviews().await?))
}

/// The open-data columns of the CSV form, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "slug",
    "entity",
    "name",
    "description",
    "who_may_apply",
    "requirements",
    "legal_basis",
    "steps",
    "response_deadline",
    "validity",
    "cost_mxn",
    "cost_rule",
    "variants",
    "online_url",
    "offices",
    "level",
    "yearly_volume",
    "tags",
    "status",
    "result_kind",
];

/// A cell a spreadsheet shows as text: one starting like a formula gets a leading `'`.
fn cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_string() }
}

/// The catalog as CSV (RFC 4180, UTF-8 with a byte-order mark so spreadsheets read the
/// accents), one procedure per row, lists joined with " | ".
pub async fn export_csv(store: &Store) -> Result<String, crate::store::StoreError> {
    csv_of(store, false).await
}

/// The published procedures as CSV (the open-data download).
pub async fn export_csv_published(store: &Store) -> Result<String, crate::store::StoreError> {
    csv_of(store, true).await
}

async fn csv_of(store: &Store, published_only: bool) -> Result<String, crate::store::StoreError> {
    let procedures = procedures_of(store, published_only).await?;
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let fail = |e: csv::Error| crate::store::StoreError::Data(e.to_string());
    writer.write_record(CSV_COLUMNS).map_err(fail)?;
    for p in &procedures {
        let requirements: Vec<String> =
            p.requirements.iter().map(|r| format!("{}: {} ({})", r.kind, r.description, r.stage)).collect();
        let legal: Vec<String> = p
            .legal_basis
            .iter()
            .map(|b| {
                [Some(b.law.as_str()), b.article.as_deref(), b.url.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        let (mxn, rule) = match &p.cost {
            model::Cost::Free => ("0".to_string(), String::new()),
            model::Cost::Amount { mxn } => (format!("{mxn:.2}"), String::new()),
            model::Cost::Rule { text } => (String::new(), text.clone()),
        };
        let variants: Vec<String> = p.variants.iter().map(|v| format!("{}: {}", v.code, v.name)).collect();
        let row = [
            p.slug.clone(),
            p.entity.clone(),
            p.name.clone(),
            p.description.clone(),
            p.who_may_apply.clone(),
            requirements.join(" | "),
            legal.join(" | "),
            p.steps.join(" | "),
            p.response_deadline.clone(),
            p.validity.clone().unwrap_or_default(),
            mxn,
            rule,
            variants.join(" | "),
            p.channels.online_url.clone().unwrap_or_default(),
            p.channels.offices.join(" | "),
            p.level.clone(),
            p.yearly_volume.to_string(),
            p.tags.join(" | "),
            p.status.clone(),
            p.result_kind.clone().unwrap_or_default(),
        ];
        writer.write_record(row.iter().map(|v| cell(v))).map_err(fail)?;
    }
    let bytes = writer.into_inner().map_err(|e| crate::store::StoreError::Data(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| crate::store::StoreError::Data(e.to_string()))?;
    Ok(format!("\u{feff}{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_from_the_slice() {
        let text = "{\n\"a\": [\n1,\n2]}";
        let file: serde_json::Value = serde_json::from_str(text).unwrap();
        assert!(file.is_object());
        let at = text.find('2').unwrap();
        assert_eq!(line_of(text, &text[at..]), 4);
    }

    #[test]
    fn formula_like_cells_are_defused() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-5"), "'-5");
        assert_eq!(cell("Licencia"), "Licencia");
    }
}
