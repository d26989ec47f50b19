//! The audit log's tables (migration 0015, docs/audit.md): leaves, the stored hashes of the
//! tiles above level 0, signed checkpoints and the sequencer's floor. The audit capability
//! owns what goes in them (the entry encoding, the tree, the signatures); here are the
//! queries, each written once for both backends, most over a connection so the sequencer
//! runs them inside its one transaction.
//!
//! One sequencer at a time across nodes: [`Store::begin_audit`] takes a transaction-scoped
//! advisory lock on PostgreSQL, the single write lock on SQLite.

use sqlx::{Any, AnyConnection, Row, Transaction};

use super::{Backend, Store, StoreError, StoreResult};

/// The advisory lock of the sequencer (PostgreSQL): any fixed number, the same on every node.
const SEQUENCER_LOCK: i64 = 0x6c6c_6176_6561_7564; // "llaveaud"

/// How long the barrier may hold new acts back, in milliseconds (PostgreSQL).
pub const BARRIER_WAIT: u64 = 50;

/// An event row as stored, every column the audit entry encodes, as text where the typed
/// event has an enum (a tampered row must still be read, to be found different).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: i64,
    pub act_id: String,
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub outcome: String,
    pub account_id: Option<i64>,
    pub actor_kind: String,
    pub actor: String,
    pub actor_entity_id: Option<i64>,
    pub basis: Option<String>,
    pub record_id: Option<String>,
    pub holder_entity_id: Option<i64>,
    pub procedure_slug: Option<String>,
    pub purpose: String,
    pub detail: Option<String>,
}

const EVENT_COLUMNS: &str = "id, act_id, seq, at, kind, outcome, account_id, actor_kind, actor, actor_entity_id, \
     basis, record_id, holder_entity_id, procedure_slug, purpose, detail";

fn stored_event(row: &sqlx::any::AnyRow) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        id: row.try_get("id")?,
        act_id: row.try_get("act_id")?,
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        kind: row.try_get("kind")?,
        outcome: row.try_get("outcome")?,
        account_id: row.try_get("account_id")?,
        actor_kind: row.try_get("actor_kind")?,
        actor: row.try_get("actor")?,
        actor_entity_id: row.try_get("actor_entity_id")?,
        basis: row.try_get("basis")?,
        record_id: row.try_get("record_id")?,
        holder_entity_id: row.try_get("holder_entity_id")?,
        procedure_slug: row.try_get("procedure_slug")?,
        purpose: row.try_get("purpose")?,
        detail: row.try_get("detail")?,
    })
}

fn hash_of(bytes: Vec<u8>) -> StoreResult<[u8; 32]> {
    bytes.try_into().map_err(|_| StoreError::Corrupt("an audit hash is not 32 bytes".into()))
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    pub size: i64,
    pub root_hash: [u8; 32],
    pub note: String,
    pub event_floor: i64,
    pub at: i64,
}

fn stored_checkpoint(row: &sqlx::any::AnyRow) -> StoreResult<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: row.try_get("size")?,
        root_hash: hash_of(row.try_get("root_hash")?)?,
        note: row.try_get("note")?,
        event_floor: row.try_get("event_floor")?,
        at: row.try_get("at")?,
    })
}

impl Store {
    /// The highest event id at or below which every event has committed and no other will
    /// ever be written; `None` if that cannot be known at once. On SQLite acts commit one at
    /// a time in id order, so it is the highest id. On PostgreSQL ids are taken at insert and
    /// acts commit out of order: `LOCK TABLE … IN SHARE MODE` waits until every transaction
    /// that inserted events has ended (later ids are higher). New acts queue behind the lock
    /// request, so it waits [`BARRIER_WAIT`] at most, then gives up (until the next run).
    pub async fn audit_barrier(&self) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL lock_timeout = '{BARRIER_WAIT}ms'")))
                .execute(&mut *tx)
                .await?;
            if let Err(error) = sqlx::query("LOCK TABLE events IN SHARE MODE").execute(&mut *tx).await {
                if let sqlx::Error::Database(db) = &error
                    && db.code().as_deref() == Some("55P03")
                {
                    return Ok(None);
                }
                return Err(error.into());
            }
        }
        let highest = highest_event(&mut tx).await?;
        tx.commit().await?;
        Ok(Some(highest))
    }

    /// The sequencer's transaction: one sequencer at a time, across every node.
    pub async fn begin_audit(&self) -> StoreResult<Transaction<'static, Any>> {
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(SEQUENCER_LOCK).execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// A server secret, read only (`None` if it was never made): for tools that must not
    /// create one, such as `llave audit verify --database`.
    pub async fn existing_server_secret(&self, name: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    pub async fn audit_latest_checkpoint(&self) -> StoreResult<Option<StoredCheckpoint>> {
        let mut conn = self.pool().acquire().await?;
        latest_checkpoint(&mut conn).await
    }

    pub async fn audit_checkpoint(&self, size: i64) -> StoreResult<Option<StoredCheckpoint>> {
        let row = sqlx::query("SELECT * FROM audit_checkpoints WHERE size = $1")
            .bind(size)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(stored_checkpoint).transpose()
    }

    pub async fn audit_hashes(&self, level: u32, start: u64, count: u64) -> StoreResult<Vec<[u8; 32]>> {
        let mut conn = self.pool().acquire().await?;
        hashes(&mut conn, level, start, count).await
    }

    /// Entries `start .. start + count`, in order.
    pub async fn audit_entries(&self, start: u64, count: u64) -> StoreResult<Vec<Vec<u8>>> {
        let rows = sqlx::query("SELECT entry FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx")
            .bind(start as i64)
            .bind((start + count) as i64)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| r.try_get("entry").map_err(Into::into)).collect()
    }

    /// The leaf of an event: its index and entry.
    pub async fn audit_leaf_of_event(&self, event_id: i64) -> StoreResult<Option<(i64, Vec<u8>)>> {
        let row = sqlx::query("SELECT idx, entry FROM audit_leaves WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| Ok::<_, sqlx::Error>((r.try_get("idx")?, r.try_get("entry")?))).transpose()?)
    }

    /// Event rows with `lo ≤ id ≤ hi`.
    pub async fn stored_events(&self, lo: i64, hi: i64) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE id >= $1 AND id <= $2 ORDER BY id"
        )))
        .bind(lo)
        .bind(hi)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(stored_event).collect::<Result<_, _>>().map_err(Into::into)
    }

    /// Ids of the events with `id ≤ floor`, ascending.
    pub async fn event_ids_up_to(&self, floor: i64) -> StoreResult<Vec<i64>> {
        let rows =
            sqlx::query("SELECT id FROM events WHERE id <= $1 ORDER BY id").bind(floor).fetch_all(self.pool()).await?;
        rows.iter().map(|r| r.try_get("id").map_err(Into::into)).collect()
    }

    /// Witnesses' cosignature lines of the checkpoint of `size`.
    pub async fn audit_cosignatures(&self, size: i64) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT lines FROM audit_cosignatures WHERE size = $1 ORDER BY witness")
            .bind(size)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|r| r.try_get("lines").map_err(Into::into)).collect()
    }

    /// Keeps a witness's cosignature of the checkpoint of `size` (the first one given).
    pub async fn add_audit_cosignature(&self, size: i64, witness: &str, lines: &str, at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_cosignatures (size, witness, lines, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (size, witness) DO NOTHING",
        )
        .bind(size)
        .bind(witness)
        .bind(lines)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A person's newest events: id, time, kind (for the proofs their file links to).
    pub async fn logged_events_of(&self, account_id: i64, limit: i64) -> StoreResult<Vec<LoggedEvent>> {
        // A requisition's events wait for the end of its non-disclosure order: the file shows
        // the requisition itself then (from the requisitions table).
        let rows = sqlx::query(
            "SELECT id, at, kind, detail FROM events WHERE account_id = $1 AND kind NOT LIKE 'requisition%' \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(account_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LoggedEvent {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    kind: r.try_get("kind")?,
                    detail: r.try_get::<Option<String>, _>("detail")?.unwrap_or_default(),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// The account an event is about.
    pub async fn event_account(&self, event_id: i64) -> StoreResult<Option<Option<i64>>> {
        let row = sqlx::query("SELECT account_id FROM events WHERE id = $1")
            .bind(event_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.try_get("account_id")).transpose()?)
    }
}

/// One of a person's events as their file lists it (each has a proof in the audit log).
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub detail: String,
}

/// What an auditor asks for: every condition given must hold.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// About this person (account id).
    pub account: Option<i64>,
    /// Acting or holding: this entity (id).
    pub entity: Option<i64>,
    /// By this actor (an officer's or staff member's CURP, a client id).
    pub actor: Option<String>,
    pub kind: Option<String>,
    /// Unix seconds, `from` included, `to` excluded.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Events matching `filter`, newest first, at most `limit`.
pub async fn find_events(conn: &mut AnyConnection, filter: &EventFilter, limit: i64) -> StoreResult<Vec<StoredEvent>> {
    let mut conditions = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if filter.account.is_some() {
        conditions.push(format!("account_id = {}", next()));
    }
    if filter.entity.is_some() {
        let p = next();
        conditions.push(format!("(actor_entity_id = {p} OR holder_entity_id = {p})"));
    }
    if filter.actor.is_some() {
        conditions.push(format!("actor = {}", next()));
    }
    if filter.kind.is_some() {
        conditions.push(format!("kind = {}", next()));
    }
    if filter.from.is_some() {
        conditions.push(format!("at >= {}", next()));
    }
    if filter.to.is_some() {
        conditions.push(format!("at < {}", next()));
    }
    let limit_param = next();
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events {} {} ORDER BY id DESC LIMIT {limit_param}",
        if conditions.is_empty() { "" } else { "WHERE" },
        conditions.join(" AND ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(account) = filter.account {
        query = query.bind(account);
    }
    if let Some(entity) = filter.entity {
        query = query.bind(entity);
    }
    if let Some(actor) = &filter.actor {
        query = query.bind(actor.clone());
    }
    if let Some(kind) = &filter.kind {
        query = query.bind(kind.clone());
    }
    if let Some(from) = filter.from {
        query = query.bind(from);
    }
    if let Some(to) = filter.to {
        query = query.bind(to);
    }
    let rows = query.bind(limit).fetch_all(conn).await?;
    rows.iter().map(stored_event).collect::<Result<_, _>>().map_err(Into::into)
}

pub async fn floor(conn: &mut AnyConnection) -> StoreResult<i64> {
    Ok(sqlx::query("SELECT event_floor FROM audit_state WHERE name = 'sequencer'")
        .fetch_one(conn)
        .await?
        .try_get("event_floor")?)
}

pub async fn set_floor(conn: &mut AnyConnection, floor: i64) -> StoreResult<()> {
    sqlx::query("UPDATE audit_state SET event_floor = $1 WHERE name = 'sequencer' AND event_floor < $1")
        .bind(floor)
        .execute(conn)
        .await?;
    Ok(())
}

/// PostgreSQL's transaction horizon for the sequencer: every event inserted by a transaction
/// below it is in the log (0: none known yet).
pub async fn tx_horizon(conn: &mut AnyConnection) -> StoreResult<i64> {
    Ok(sqlx::query("SELECT tx_horizon FROM audit_state WHERE name = 'sequencer'")
        .fetch_one(conn)
        .await?
        .try_get("tx_horizon")?)
}

/// The oldest transaction still running (PostgreSQL): every transaction below it has ended,
/// so its events, if it committed, are visible to the statements that follow.
pub async fn oldest_running_tx(conn: &mut AnyConnection) -> StoreResult<i64> {
    Ok(sqlx::query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS h")
        .fetch_one(conn)
        .await?
        .try_get("h")?)
}

/// The highest event id committed so far (0 for none).
pub async fn highest_event(conn: &mut AnyConnection) -> StoreResult<i64> {
    let highest: Option<i64> = sqlx::query("SELECT MAX(id) AS m FROM events").fetch_one(conn).await?.try_get("m")?;
    Ok(highest.unwrap_or(0))
}

pub async fn set_tx_horizon(conn: &mut AnyConnection, horizon: i64) -> StoreResult<()> {
    sqlx::query("UPDATE audit_state SET tx_horizon = $1 WHERE name = 'sequencer' AND tx_horizon < $1")
        .bind(horizon)
        .execute(conn)
        .await?;
    Ok(())
}

/// How many leaves the log has.
pub async fn size(conn: &mut AnyConnection) -> StoreResult<u64> {
    let n: Option<i64> = sqlx::query("SELECT MAX(idx) AS m FROM audit_leaves").fetch_one(conn).await?.try_get("m")?;
    Ok(n.map_or(0, |n| n as u64 + 1))
}

/// Up to `limit` events above `floor` and at most `ceiling` that are not in the log yet, in
/// id order, of transactions at or above `horizon` or naming none (on SQLite, and before
/// PostgreSQL's first horizon, 0, that is every event): the others are in the log already.
/// The candidates are gathered first (through `events_by_tx` once there is a horizon), so a
/// run costs what is new, not everything above an id floor a busy database does not let it
/// raise.
pub async fn unlogged(
    conn: &mut AnyConnection,
    (floor, ceiling): (i64, i64),
    horizon: i64,
    limit: i64,
) -> StoreResult<Vec<StoredEvent>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH recent AS MATERIALIZED (SELECT {EVENT_COLUMNS} FROM events \
           WHERE (tx >= $3 OR tx IS NULL) AND id > $1 AND id <= $2) \
         SELECT {EVENT_COLUMNS} FROM recent e \
         WHERE NOT EXISTS (SELECT 1 FROM audit_leaves l WHERE l.event_id = e.id) ORDER BY id LIMIT $4"
    )))
    .bind(floor)
    .bind(ceiling)
    .bind(horizon)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(stored_event).collect::<Result<_, _>>().map_err(Into::into)
}

/// A leaf to append: its index, its event, its hash and the entry hashed.
pub struct NewLeaf {
    pub idx: u64,
    pub event_id: i64,
    pub leaf: [u8; 32],
    pub entry: Vec<u8>,
}

/// Leaves written by one statement at most.
const LEAVES_PER_STATEMENT: usize = 256;

/// Appends leaves, many to a statement.
pub async fn insert_leaves(conn: &mut AnyConnection, leaves: &[NewLeaf]) -> StoreResult<()> {
    for chunk in leaves.chunks(LEAVES_PER_STATEMENT) {
        let mut sql = String::from("INSERT INTO audit_leaves (idx, event_id, leaf_hash, entry) VALUES ");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            let n = 4 * i;
            sql.push_str(&format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4));
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for leaf in chunk {
            query = query.bind(leaf.idx as i64).bind(leaf.event_id).bind(leaf.leaf.to_vec()).bind(&leaf.entry[..]);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

pub async fn insert_hash(conn: &mut AnyConnection, level: u32, idx: u64, hash: &[u8; 32]) -> StoreResult<()> {
    sqlx::query("INSERT INTO audit_hashes (level, idx, hash) VALUES ($1, $2, $3)")
        .bind(level as i64)
        .bind(idx as i64)
        .bind(hash.to_vec())
        .execute(conn)
        .await?;
    Ok(())
}

/// Stored hashes `start .. start + count` of `level` (0: the leaf hashes); fewer if the
/// log has fewer.
pub async fn hashes(conn: &mut AnyConnection, level: u32, start: u64, count: u64) -> StoreResult<Vec<[u8; 32]>> {
    let rows = if level == 0 {
        sqlx::query("SELECT leaf_hash AS hash FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx")
            .bind(start as i64)
            .bind((start + count) as i64)
            .fetch_all(conn)
            .await?
    } else {
        sqlx::query("SELECT hash FROM audit_hashes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx")
            .bind(level as i64)
            .bind(start as i64)
            .bind((start + count) as i64)
            .fetch_all(conn)
            .await?
    };
    rows.into_iter().map(|r| hash_of(r.try_get("hash")?)).collect()
}

pub async fn insert_checkpoint(conn: &mut AnyConnection, checkpoint: &StoredCheckpoint) -> StoreResult<()> {
    sqlx::query("INSERT INTO audit_checkpoints (size, root_hash, note, event_floor, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(checkpoint.size)
        .bind(checkpoint.root_hash.to_vec())
        .bind(&checkpoint.note)
        .bind(checkpoint.event_floor)
        .bind(checkpoint.at)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn latest_checkpoint(conn: &mut AnyConnection) -> StoreResult<Option<StoredCheckpoint>> {
    let row = sqlx::query("SELECT * FROM audit_checkpoints ORDER BY size DESC LIMIT 1").fetch_optional(conn).await?;
    row.as_ref().map(stored_checkpoint).transpose()
}
