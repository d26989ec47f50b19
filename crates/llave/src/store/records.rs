//! The hub's side of entity records: where each entity's store is, the locator index (no
//! contents), the subjects entities know people by, consents to reuse, read grants, the
//! append-only access log and ARCO requests.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreResult, conflict_or};

pub use super::consent::ReuseConsent;

/// A record's locator: everything the hub knows about it without opening it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Locator {
    pub record_id: String,
    pub entity_id: i64,
    pub account_id: i64,
    pub kind: String,
    pub procedure: Option<String>,
    pub version: i64,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub withdrawn_at: Option<i64>,
}

impl Locator {
    /// Whether the record is in force on `today` (`YYYY-MM-DD`, the city's date): not
    /// withdrawn, and within its validity.
    pub fn in_force(&self, today: &str) -> bool {
        self.withdrawn_at.is_none()
            && self.valid_from.as_deref().is_none_or(|f| f <= today)
            && self.valid_until.as_deref().is_none_or(|u| u >= today)
    }
}

fn locator(row: &AnyRow) -> Result<Locator, sqlx::Error> {
    Ok(Locator {
        record_id: row.try_get("record_id")?,
        entity_id: row.try_get("entity_id")?,
        account_id: row.try_get("account_id")?,
        kind: row.try_get("kind")?,
        procedure: row.try_get("procedure_slug")?,
        version: row.try_get("version")?,
        valid_from: row.try_get("valid_from")?,
        valid_until: row.try_get("valid_until")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        withdrawn_at: row.try_get("withdrawn_at")?,
    })
}

const LOCATOR: &str = "SELECT record_id, entity_id, account_id, kind, procedure_slug, version, valid_from, \
                       valid_until, created_at, updated_at, withdrawn_at FROM record_index ";

/// A single-use read grant as stored (the token only as its hash).
#[derive(Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub record_id: String,
    pub account_id: i64,
    pub reader_entity_id: i64,
    pub reader_client_id: String,
    pub procedure: String,
    /// `consent` or `legal_basis`.
    pub basis: String,
    pub consent_id: Option<String>,
    pub legal_basis: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub spent_at: Option<i64>,
}

/// One line of the access log.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Access {
    pub at: i64,
    pub account_id: Option<i64>,
    pub record_id: Option<String>,
    pub holder_entity_id: Option<i64>,
    /// `entity`, `staff` or `auditor`.
    pub reader_kind: String,
    pub reader_entity_id: Option<i64>,
    /// A client id, or the staff member's CURP or name.
    pub reader: String,
    pub procedure: Option<String>,
    pub purpose: String,
    pub legal_basis: Option<String>,
    /// `read` or `refused`.
    pub outcome: String,
    /// Why it was refused, or how it was allowed.
    pub detail: Option<String>,
}

impl Access {
    /// The access as an event of the act that made it.
    pub fn event(&self) -> super::Event {
        super::Event {
            at: self.at,
            kind: super::EventKind::RecordAccess,
            outcome: super::Outcome::parse(&self.outcome).unwrap_or(super::Outcome::Refused),
            account: self.account_id.map(super::AccountId),
            actor_kind: super::ActorKind::parse(&self.reader_kind).unwrap_or(super::ActorKind::Entity),
            actor: self.reader.clone(),
            actor_entity_id: self.reader_entity_id,
            basis: self.legal_basis.clone(),
            record_id: self.record_id.clone(),
            holder_entity_id: self.holder_entity_id,
            procedure: self.procedure.clone(),
            purpose: self.purpose.clone(),
            client_address: String::new(),
            user_agent: String::new(),
            detail: self.detail.clone(),
        }
    }
}

fn access(row: &AnyRow) -> Result<Access, sqlx::Error> {
    Ok(Access {
        at: row.try_get("at")?,
        account_id: row.try_get("account_id")?,
        record_id: row.try_get("record_id")?,
        holder_entity_id: row.try_get("holder_entity_id")?,
        reader_kind: row.try_get("reader_kind")?,
        reader_entity_id: row.try_get("reader_entity_id")?,
        reader: row.try_get("reader")?,
        procedure: row.try_get("procedure_slug")?,
        purpose: row.try_get("purpose")?,
        legal_basis: row.try_get("legal_basis")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
    })
}

impl super::Tx {
    /// Points an entity at its store's new location (`llave entity set-store`), in the act
    /// `entity_store_moved`.
    pub async fn move_entity_store(&mut self, entity_id: i64, location: &str) -> StoreResult<bool> {
        let moved = sqlx::query("UPDATE entity_stores SET location = $1 WHERE entity_id = $2")
            .bind(location)
            .bind(entity_id)
            .execute(self.conn())
            .await?;
        Ok(moved.rows_affected() == 1)
    }
}

impl Store {
    /// The entity's store location and sealed data key, if it has a store.
    pub async fn entity_store(&self, entity_id: i64) -> StoreResult<Option<(String, String)>> {
        let row = sqlx::query("SELECT location, data_key_sealed FROM entity_stores WHERE entity_id = $1")
            .bind(entity_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?))).transpose()?)
    }

    /// Records an entity's store; the first writer wins (returns what is stored).
    pub async fn add_entity_store(
        &self,
        entity_id: i64,
        location: &str,
        data_key_sealed: &str,
        now: i64,
    ) -> StoreResult<(String, String)> {
        sqlx::query(
            "INSERT INTO entity_stores (entity_id, location, data_key_sealed, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (entity_id) DO NOTHING",
        )
        .bind(entity_id)
        .bind(location)
        .bind(data_key_sealed)
        .bind(now)
        .execute(self.pool())
        .await?;
        self.entity_store(entity_id).await?.ok_or_else(|| super::StoreError::Data("entity store row vanished".into()))
    }

    /// Remembers the pairwise `sub` an entity knows a person by.
    pub async fn remember_subject(&self, entity_id: i64, sub: &str, account_id: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO entity_subjects (entity_id, sub, account_id) VALUES ($1, $2, $3) \
             ON CONFLICT (entity_id, sub) DO NOTHING",
        )
        .bind(entity_id)
        .bind(sub)
        .bind(account_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn account_for_subject(&self, entity_id: i64, sub: &str) -> StoreResult<Option<i64>> {
        let row = sqlx::query("SELECT account_id FROM entity_subjects WHERE entity_id = $1 AND sub = $2")
            .bind(entity_id)
            .bind(sub)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Indexes many records in one transaction, a few hundred per statement (bulk loads).
    pub async fn index_many(&self, locators: &[Locator]) -> StoreResult<()> {
        const COLUMNS: usize = 10;
        let mut tx = self.begin_write().await?;
        for chunk in locators.chunks(500) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let at = r * COLUMNS;
                    format!("({})", (1..=COLUMNS).map(|c| format!("${}", at + c)).collect::<Vec<_>>().join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO record_index (record_id, entity_id, account_id, kind, procedure_slug, version, \
                 valid_from, valid_until, created_at, updated_at) VALUES {}",
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for l in chunk {
                query = query
                    .bind(l.record_id.clone())
                    .bind(l.entity_id)
                    .bind(l.account_id)
                    .bind(l.kind.clone())
                    .bind(l.procedure.clone())
                    .bind(l.version)
                    .bind(l.valid_from.clone())
                    .bind(l.valid_until.clone())
                    .bind(l.created_at)
                    .bind(l.updated_at);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Remembers many `(sub, account)` pairs of one entity (bulk loads).
    pub async fn remember_subjects(&self, entity_id: i64, pairs: &[(String, i64)]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for chunk in pairs.chunks(1000) {
            let rows: Vec<String> =
                (0..chunk.len()).map(|r| format!("(${}, ${}, ${})", 3 * r + 1, 3 * r + 2, 3 * r + 3)).collect();
            let sql = format!(
                "INSERT INTO entity_subjects (entity_id, sub, account_id) VALUES {} ON CONFLICT (entity_id, sub) DO NOTHING",
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (sub, account) in chunk {
                query = query.bind(entity_id).bind(sub.clone()).bind(*account);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn record_locator(&self, record_id: &str) -> StoreResult<Option<Locator>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{LOCATOR} WHERE record_id = $1")))
            .bind(record_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(locator).transpose()?)
    }

    /// A person's records that are in force (not withdrawn), of one kind, newest first;
    /// limited to one holder when given.
    pub async fn records_of_kind(&self, account_id: i64, kind: &str, holder: Option<i64>) -> StoreResult<Vec<Locator>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{LOCATOR} WHERE account_id = $1 AND kind = $2 AND withdrawn_at IS NULL AND ($3 = 0 OR entity_id = $3) \
             ORDER BY updated_at DESC, record_id"
        )))
        .bind(account_id)
        .bind(kind)
        .bind(holder.unwrap_or(0))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(locator).collect::<Result<_, _>>()?)
    }

    /// Every record about a person, by holder then age.
    pub async fn records_about(&self, account_id: i64) -> StoreResult<Vec<Locator>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{LOCATOR} WHERE account_id = $1 ORDER BY entity_id, created_at, record_id"
        )))
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(locator).collect::<Result<_, _>>()?)
    }

    /// An entity's records about a person, newest first.
    pub async fn entity_records_about(&self, entity_id: i64, account_id: i64) -> StoreResult<Vec<Locator>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{LOCATOR} WHERE entity_id = $1 AND account_id = $2 ORDER BY updated_at DESC, record_id"
        )))
        .bind(entity_id)
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(locator).collect::<Result<_, _>>()?)
    }

    pub async fn grant_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<Grant>> {
        let row = sqlx::query(
            "SELECT id, record_id, account_id, reader_entity_id, reader_client_id, procedure_slug, basis, consent_id, \
             legal_basis, created_at, expires_at, spent_at FROM record_grants WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(Grant {
            id: r.try_get("id")?,
            record_id: r.try_get("record_id")?,
            account_id: r.try_get("account_id")?,
            reader_entity_id: r.try_get("reader_entity_id")?,
            reader_client_id: r.try_get("reader_client_id")?,
            procedure: r.try_get("procedure_slug")?,
            basis: r.try_get("basis")?,
            consent_id: r.try_get("consent_id")?,
            legal_basis: r.try_get("legal_basis")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            spent_at: r.try_get("spent_at")?,
        }))
    }

    /// The access log about a person, newest first.
    pub async fn accesses_about(&self, account_id: i64) -> StoreResult<Vec<Access>> {
        let rows = sqlx::query(
            "SELECT at, account_id, record_id, holder_entity_id, reader_kind, reader_entity_id, reader, procedure_slug, \
             purpose, legal_basis, outcome, detail FROM record_access WHERE account_id = $1 ORDER BY at DESC, id DESC",
        )
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(access).collect::<Result<_, _>>()?)
    }

    /// The access log of one record, newest first.
    pub async fn accesses_of_record(&self, record_id: &str) -> StoreResult<Vec<Access>> {
        let rows = sqlx::query(
            "SELECT at, account_id, record_id, holder_entity_id, reader_kind, reader_entity_id, reader, procedure_slug, \
             purpose, legal_basis, outcome, detail FROM record_access WHERE record_id = $1 ORDER BY at DESC, id DESC",
        )
        .bind(record_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(access).collect::<Result<_, _>>()?)
    }
}

/// The index's changes and the read grants, in the act that records them (`record_stored`,
/// `record_updated`, `record_withdrawn`, `record_grant_issued`).
impl super::Tx {
    pub async fn add_grant(&mut self, g: &Grant, token_hash: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO record_grants (id, token_hash, record_id, account_id, reader_entity_id, reader_client_id, \
             procedure_slug, basis, consent_id, legal_basis, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&g.id)
        .bind(token_hash)
        .bind(&g.record_id)
        .bind(g.account_id)
        .bind(g.reader_entity_id)
        .bind(&g.reader_client_id)
        .bind(&g.procedure)
        .bind(&g.basis)
        .bind(g.consent_id.as_deref())
        .bind(g.legal_basis.as_deref())
        .bind(g.created_at)
        .bind(g.expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn index_record(&mut self, l: &Locator) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO record_index (record_id, entity_id, account_id, kind, procedure_slug, version, valid_from, \
             valid_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&l.record_id)
        .bind(l.entity_id)
        .bind(l.account_id)
        .bind(&l.kind)
        .bind(l.procedure.as_deref())
        .bind(l.version)
        .bind(l.valid_from.as_deref())
        .bind(l.valid_until.as_deref())
        .bind(l.created_at)
        .bind(l.updated_at)
        .execute(self.conn())
        .await
        .map_err(|e| conflict_or(e, |_| "record_id"))?;
        Ok(())
    }

    /// Moves the index to a new version, if it is still at `from` and not withdrawn.
    pub async fn advance_record(&mut self, l: &Locator, from: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE record_index SET version = $1, procedure_slug = $2, valid_from = $3, valid_until = $4, \
             updated_at = $5 WHERE record_id = $6 AND version = $7 AND withdrawn_at IS NULL",
        )
        .bind(l.version)
        .bind(l.procedure.as_deref())
        .bind(l.valid_from.as_deref())
        .bind(l.valid_until.as_deref())
        .bind(l.updated_at)
        .bind(&l.record_id)
        .bind(from)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn withdraw_record(&mut self, record_id: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE record_index SET withdrawn_at = $1, updated_at = $1 WHERE record_id = $2 AND withdrawn_at IS NULL",
        )
        .bind(now)
        .bind(record_id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl super::Tx {
    /// Spends a grant: true for the one caller that got it while it was live.
    pub async fn spend_grant(&mut self, id: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE record_grants SET spent_at = $1 WHERE id = $2 AND spent_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Logs an access (a read, a look-up, a refusal) as an event of this act.
    pub fn log_access(&mut self, a: &Access) {
        self.event(a.event());
    }
}
