//! The catalog's storage: procedures (a JSON document each, with the columns queries need),
//! their requirements as rows, declared equivalences, and every change's history. It lives
//! with the catalog (its types are the catalog's model) as methods on the shared [`Store`].
//! Every change is one act with its events: `catalog_changed` per procedure created or
//! updated, `legal_basis_decided` per reviewer's decision.

use sqlx::Row;

use super::model::{Equivalence, Procedure};
use super::review::{Decision, Review};
use crate::store::{ActorKind, Event, EventKind, Outcome};
use crate::store::{Store, StoreError, StoreResult};

/// What an import changed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub equivalences: u64,
}

impl Store {
    /// Writes a whole validated catalog in one transaction: each procedure is created or
    /// replaced (by slug), with a history entry for what changed; the equivalences replace
    /// the declared ones. `entity_ids` gives each procedure's entity id, in order.
    pub async fn import_catalog(
        &self,
        procedures: &[Procedure],
        entity_ids: &[i64],
        equivalences: Option<&[Equivalence]>,
        actor: &str,
        now: i64,
    ) -> StoreResult<ImportCounts> {
        let mut counts = ImportCounts::default();
        let mut tx = self.begin_act("catalog_import").await?;
        for (procedure, entity_id) in procedures.iter().zip(entity_ids) {
            let document = serde_json::to_string(procedure).map_err(|e| StoreError::Data(e.to_string()))?;
            let existing = sqlx::query("SELECT id, document FROM procedures WHERE slug = $1")
                .bind(&procedure.slug)
                .fetch_optional(tx.conn())
                .await?;
            let (id, change) = match existing {
                Some(row) if row.try_get::<String, _>("document")? == document => {
                    counts.unchanged += 1;
                    continue;
                }
                Some(row) => {
                    let id: i64 = row.try_get("id")?;
                    sqlx::query(
                        "UPDATE procedures SET entity_id = $1, name = $2, status = $3, loa = $4, yearly_volume = $5, \
                         document = $6, updated_at = $7 WHERE id = $8",
                    )
                    .bind(entity_id)
                    .bind(&procedure.name)
                    .bind(&procedure.status)
                    .bind(&procedure.level)
                    .bind(procedure.yearly_volume)
                    .bind(&document)
                    .bind(now)
                    .bind(id)
                    .execute(tx.conn())
                    .await?;
                    sqlx::query("DELETE FROM procedure_requirements WHERE procedure_id = $1")
                        .bind(id)
                        .execute(tx.conn())
                        .await?;
                    counts.updated += 1;
                    (id, "updated")
                }
                None => {
                    let row = sqlx::query(
                        "INSERT INTO procedures (slug, entity_id, name, status, loa, yearly_volume, document, \
                         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
                    )
                    .bind(&procedure.slug)
                    .bind(entity_id)
                    .bind(&procedure.name)
                    .bind(&procedure.status)
                    .bind(&procedure.level)
                    .bind(procedure.yearly_volume)
                    .bind(&document)
                    .bind(now)
                    .fetch_one(tx.conn())
                    .await?;
                    counts.created += 1;
                    (row.try_get("id")?, "created")
                }
            };
            for (position, requirement) in procedure.requirements.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO procedure_requirements (procedure_id, position, kind, stage) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(position as i64)
                .bind(&requirement.kind)
                .bind(&requirement.stage)
                .execute(tx.conn())
                .await?;
            }
            sqlx::query("INSERT INTO procedure_history (procedure_id, at, actor, change) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(now)
                .bind(actor)
                .bind(serde_json::json!({ "change": change, "document": procedure }).to_string())
                .execute(tx.conn())
                .await?;
            tx.event(catalog_event(EventKind::CatalogChanged, actor, &procedure.slug, change));
        }
        // `None` (one procedure saved from its edit page) leaves the equivalences alone.
        if let Some(equivalences) = equivalences {
            let before = sqlx::query("SELECT kind, accepted_kind, note FROM requirement_equivalences")
                .fetch_all(tx.conn())
                .await?
                .iter()
                .map(|row| Ok((row.try_get("kind")?, row.try_get("accepted_kind")?, row.try_get("note")?)))
                .collect::<Result<std::collections::BTreeSet<(String, String, String)>, sqlx::Error>>()?;
            let after: std::collections::BTreeSet<(String, String, String)> =
                equivalences.iter().map(|e| (e.kind.clone(), e.accepted_kind.clone(), e.note.clone())).collect();
            if before != after {
                tx.event(catalog_event(EventKind::CatalogChanged, actor, "", "equivalences"));
            }
            sqlx::query("DELETE FROM requirement_equivalences").execute(tx.conn()).await?;
        }
        for equivalence in equivalences.unwrap_or_default() {
            sqlx::query("INSERT INTO requirement_equivalences (kind, accepted_kind, note) VALUES ($1, $2, $3)")
                .bind(&equivalence.kind)
                .bind(&equivalence.accepted_kind)
                .bind(&equivalence.note)
                .execute(tx.conn())
                .await?;
            counts.equivalences += 1;
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// Every procedure, by entity slug and name.
    pub async fn all_procedures(&self) -> StoreResult<Vec<Procedure>> {
        let rows = sqlx::query(
            "SELECT p.document FROM procedures p JOIN entities e ON e.id = p.entity_id ORDER BY e.slug, p.name, p.slug",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let document: String = row.try_get("document")?;
                serde_json::from_str(&document).map_err(|e| StoreError::Data(e.to_string()))
            })
            .collect()
    }

    /// The `(entity slug, name)` taken by each stored slug, to refuse duplicates by row.
    pub async fn procedure_names(&self) -> StoreResult<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT p.slug, e.slug AS entity, p.name FROM procedures p JOIN entities e ON e.id = p.entity_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("slug")?, row.try_get("entity")?, row.try_get("name")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// The newest `limit` changes of a procedure: when, who, and `created` or `updated`.
    pub async fn procedure_history(&self, slug: &str, limit: i64) -> StoreResult<Vec<(i64, String, String)>> {
        let rows = sqlx::query(
            "SELECT h.at, h.actor, h.change FROM procedure_history h JOIN procedures p ON p.id = h.procedure_id \
             WHERE p.slug = $1 ORDER BY h.id DESC LIMIT $2",
        )
        .bind(slug)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let change: String = row.try_get("change")?;
                let what = serde_json::from_str::<serde_json::Value>(&change)
                    .ok()
                    .and_then(|v| {
                        let what = v["change"].as_str()?;
                        // A legal reviewer's decision names the basis it was on.
                        Some(match v["basis"].as_str() {
                            Some(basis) => format!("{what}: {basis}"),
                            None => what.to_string(),
                        })
                    })
                    .unwrap_or_default();
                Ok((row.try_get("at")?, row.try_get("actor")?, what))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    pub async fn equivalences(&self) -> StoreResult<Vec<Equivalence>> {
        let rows =
            sqlx::query("SELECT kind, accepted_kind, note FROM requirement_equivalences ORDER BY kind, accepted_kind")
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|row| {
                Ok(Equivalence {
                    kind: row.try_get("kind")?,
                    accepted_kind: row.try_get("accepted_kind")?,
                    note: row.try_get("note")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}

impl Store {
    /// Changes whenever the catalog does: a cheap check before reusing a built index.
    /// Every change writes a history row (procedures are never deleted), so the newest
    /// history id moves with every change; one primary-key lookup.
    pub async fn catalog_stamp(&self) -> StoreResult<(i64, i64)> {
        let row =
            sqlx::query("SELECT COALESCE(MAX(id), 0) AS at FROM procedure_history").fetch_one(self.pool()).await?;
        Ok((0, row.try_get("at")?))
    }
}

impl Store {
    /// Every legal reviewer's decision, on every procedure (a short list: one row per
    /// reviewer and basis text).
    pub async fn legal_basis_reviews(&self) -> StoreResult<Vec<Review>> {
        let rows = sqlx::query(
            "SELECT p.slug, r.fingerprint, r.reviewer_account_id, r.decision, r.at FROM legal_basis_reviews r \
             JOIN procedures p ON p.id = r.procedure_id ORDER BY r.at, r.id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let decision: String = row.try_get("decision")?;
                Ok(Review {
                    procedure: row.try_get("slug")?,
                    fingerprint: row.try_get("fingerprint")?,
                    reviewer_account_id: row.try_get("reviewer_account_id")?,
                    decision: Decision::parse(&decision)
                        .ok_or_else(|| StoreError::Corrupt(format!("legal basis decision {decision:?}")))?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }

    /// Records a reviewer's decision on one text of a procedure's basis (replacing their
    /// earlier one on the same text) and a history entry naming the basis, in one
    /// transaction. False when no procedure has the slug.
    pub async fn decide_legal_basis(&self, slug: &str, review: &Review, citation: &str) -> StoreResult<bool> {
        let mut tx = self.begin_act("legal_basis_decision").await?;
        let Some(row) =
            sqlx::query("SELECT id FROM procedures WHERE slug = $1").bind(slug).fetch_optional(tx.conn()).await?
        else {
            return Ok(false);
        };
        let id: i64 = row.try_get("id")?;
        sqlx::query(
            "INSERT INTO legal_basis_reviews (procedure_id, fingerprint, reviewer_account_id, decision, at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (procedure_id, fingerprint, reviewer_account_id) \
             DO UPDATE SET decision = excluded.decision, at = excluded.at",
        )
        .bind(id)
        .bind(&review.fingerprint)
        .bind(review.reviewer_account_id)
        .bind(review.decision.as_str())
        .bind(review.at)
        .execute(tx.conn())
        .await?;
        let change = format!("legal-basis-{}", review.decision.as_str());
        sqlx::query("INSERT INTO procedure_history (procedure_id, at, actor, change) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(review.at)
            .bind(review.reviewer())
            .bind(
                serde_json::json!({ "change": change, "basis": citation, "fingerprint": review.fingerprint })
                    .to_string(),
            )
            .execute(tx.conn())
            .await?;
        tx.event(catalog_event(
            EventKind::LegalBasisDecided,
            &review.reviewer(),
            slug,
            &format!("{change}: {citation}"),
        ));
        tx.commit().await?;
        Ok(true)
    }

    /// Who saved a version of the procedure (history actors of its creations and updates).
    pub async fn procedure_editors(&self, slug: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT h.actor, h.change FROM procedure_history h JOIN procedures p ON p.id = h.procedure_id \
             WHERE p.slug = $1",
        )
        .bind(slug)
        .fetch_all(self.pool())
        .await?;
        let mut editors = Vec::new();
        for row in &rows {
            let change: String = row.try_get("change")?;
            let saved = serde_json::from_str::<serde_json::Value>(&change)
                .ok()
                .is_some_and(|v| matches!(v["change"].as_str(), Some("created" | "updated")));
            let actor: String = row.try_get("actor")?;
            if saved && !editors.contains(&actor) {
                editors.push(actor);
            }
        }
        Ok(editors)
    }
}

/// The event of a catalog change by `actor` (`account:N` for staff, else the command line
/// or the demo loader) on the procedure `slug`.
fn catalog_event(kind: EventKind, actor: &str, slug: &str, detail: &str) -> Event {
    let staff = actor.starts_with("account:");
    Event {
        actor_kind: if staff { ActorKind::Staff } else { ActorKind::System },
        actor: actor.to_string(),
        procedure: (!slug.is_empty()).then(|| slug.to_string()),
        outcome: Outcome::Ok,
        ..Event::security(kind, None, "", "", detail)
    }
}
