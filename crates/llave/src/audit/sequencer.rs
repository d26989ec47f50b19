//! The sequencer: appends every committed event not yet in the log as the next leaf, stores
//! the tile hashes that completes, and signs a checkpoint of the new size — one transaction,
//! one sequencer at a time across nodes ([`Store::begin_audit`]).
//!
//! "In commit order": on PostgreSQL an event's id is taken at insert and acts commit out of
//! id order, so the sequencer does not take `id > last`. It keeps a floor: every event with
//! an id at or below it is in the log. Each run first takes a barrier
//! ([`Store::audit_barrier`]: every transaction that inserted events has ended; later ids are
//! higher), then appends every event above the floor that has no leaf yet — late committers
//! included — and raises the floor to the barrier. A run whose barrier could not be taken at
//! once (acts in flight on PostgreSQL) appends what is committed and leaves the floor.
//!
//! Every server runs [`spawn`]: it sequences when an act of this process commits (at most
//! every [`MIN_INTERVAL`]) and every `audit.checkpoint_seconds` for the other nodes' acts,
//! so a checkpoint follows new events within that time.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::AnyConnection;
use tlog::merkle::{Hash, ProofError, Recorder, Source, TILE_WIDTH, leaf_hash, reduce};
use tlog::note::Checkpoint;
use tlog::tiles::stored_count;

use super::{AuditError, Log, entry};
use crate::store::audit::{self as queries, StoredCheckpoint};
use crate::store::{Backend, Store};

/// Events read per query while appending.
const BATCH: i64 = 2000;
/// Runs woken by commits are at least this far apart (events gather meanwhile): each run
/// takes the write lock (SQLite) or a barrier that holds new acts back (PostgreSQL), so a
/// run per second costs acts a few percent where one per 200 ms cost 20–25 % of the records
/// exchange (docs/bench). A checkpoint still follows new events within about a second.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Appends what is new; signs a checkpoint if the tree grew (or has none yet). Returns the
/// newest checkpoint.
pub async fn sequence(store: &Store, log: &Log) -> Result<StoredCheckpoint, AuditError> {
    let barrier = store.audit_barrier().await?;
    let mut tx = store.begin_audit().await?;
    let conn: &mut AnyConnection = &mut tx;
    let floor = queries::floor(conn).await?;
    // PostgreSQL: the transactions below `running` have ended, so once this run has appended
    // every event it reads, every event of theirs is in the log and the horizon moves up to
    // it. Read before the events, whose statements see everything those transactions wrote.
    let (horizon, running) = match store.backend() {
        Backend::Postgres => (queries::tx_horizon(conn).await?, Some(queries::oldest_running_tx(conn).await?)),
        Backend::Sqlite => (0, None),
    };
    // A run appends what had committed when it began, read after `running`, so it holds every
    // event of the transactions below it. Events committing meanwhile are the next run's: on
    // PostgreSQL acts keep committing during a run, and a run that chased them would not end
    // (nor commit, nor sign a checkpoint) while the load lasts.
    let ceiling = queries::highest_event(conn).await?;
    let mut size = queries::size(conn).await?;
    let latest = queries::latest_checkpoint(conn).await?;
    let mut levels = Pending::load(conn, size).await?;
    loop {
        let events = queries::unlogged(conn, (floor, ceiling), horizon, BATCH).await?;
        if events.is_empty() {
            break;
        }
        let mut leaves = Vec::with_capacity(events.len());
        for event in events {
            let entry = entry::encode(&event, &log.pseudonyms);
            let leaf = leaf_hash(&entry);
            levels.push(conn, leaf).await?;
            leaves.push(queries::NewLeaf { idx: size, event_id: event.id, leaf, entry });
            size += 1;
        }
        queries::insert_leaves(conn, &leaves).await?;
    }
    let floor = barrier.map_or(floor, |barrier| barrier.max(floor));
    queries::set_floor(conn, floor).await?;
    if let Some(running) = running {
        queries::set_tx_horizon(conn, running).await?;
    }
    let mut signed = false;
    let checkpoint = match latest {
        Some(latest) if latest.size as u64 == size => latest,
        _ => {
            let root = with_hashes(conn, |source| tlog::merkle::tree_hash(source, size)).await?;
            let text = Checkpoint { origin: log.origin().to_string(), size, root, extensions: Vec::new() }.text();
            let stored = StoredCheckpoint {
                size: size as i64,
                root_hash: root,
                note: log.signer.sign(&text).map_err(AuditError::Sign)?,
                event_floor: floor,
                at: crate::crypto::now(),
            };
            queries::insert_checkpoint(conn, &stored).await?;
            signed = true;
            stored
        }
    };
    tx.commit().await.map_err(crate::store::StoreError::from)?;
    if signed {
        crate::metrics::checkpoint_signed();
    }
    Ok(checkpoint)
}

/// The incomplete tile of every level, and how many hashes each level has.
struct Pending {
    tiles: Vec<Vec<Hash>>,
    counts: Vec<u64>,
}

impl Pending {
    async fn load(conn: &mut AnyConnection, size: u64) -> Result<Pending, AuditError> {
        let mut pending = Pending { tiles: Vec::new(), counts: Vec::new() };
        let mut level = 0;
        loop {
            let count = stored_count(level, size);
            let partial = count % TILE_WIDTH;
            let tile = queries::hashes(conn, level, count - partial, partial).await?;
            if tile.len() as u64 != partial {
                return Err(ProofError::Missing { level, index: count - partial }.into());
            }
            pending.tiles.push(tile);
            pending.counts.push(count);
            if count < TILE_WIDTH {
                return Ok(pending);
            }
            level += 1;
        }
    }

    /// A new leaf: the level hashes it completes are stored.
    async fn push(&mut self, conn: &mut AnyConnection, leaf: Hash) -> Result<(), AuditError> {
        let mut hash = leaf;
        let mut level = 0usize;
        loop {
            if self.tiles.len() == level {
                self.tiles.push(Vec::new());
                self.counts.push(0);
            }
            if level > 0 {
                queries::insert_hash(conn, level as u32, self.counts[level], &hash).await?;
            }
            self.counts[level] += 1;
            self.tiles[level].push(hash);
            if (self.tiles[level].len() as u64) < TILE_WIDTH {
                return Ok(());
            }
            hash = reduce(std::mem::take(&mut self.tiles[level]));
            level += 1;
        }
    }
}

/// Stored hashes fetched ahead of a computation.
#[derive(Default)]
pub struct Fetched(std::collections::HashMap<(u32, u64), Hash>);

impl Source for Fetched {
    fn hashes(&mut self, level: u32, start: u64, count: u64) -> Result<Vec<Hash>, ProofError> {
        (start..start + count)
            .map(|index| self.0.get(&(level, index)).copied().ok_or(ProofError::Missing { level, index }))
            .collect()
    }
}

/// Runs `compute` over the stored hashes: once to learn which it needs, then over those.
pub async fn with_hashes<T>(
    conn: &mut AnyConnection,
    compute: impl Fn(&mut dyn Source) -> Result<T, ProofError>,
) -> Result<T, AuditError> {
    let mut recorder = Recorder::default();
    compute(&mut recorder)?;
    let mut fetched = Fetched::default();
    for (level, start, count) in recorder.asked {
        if (start..start + count).all(|i| fetched.0.contains_key(&(level, i))) {
            continue;
        }
        let hashes = queries::hashes(conn, level, start, count).await?;
        for (i, hash) in hashes.into_iter().enumerate() {
            fetched.0.insert((level, start + i as u64), hash);
        }
    }
    Ok(compute(&mut fetched)?)
}

/// Starts the sequencer of this process; it stops once the services are gone.
pub fn spawn(app: &crate::AppState) {
    let weak: Weak<crate::Services> = Arc::downgrade(&app.0);
    let every = Duration::from_secs(app.config.audit.checkpoint_seconds.max(1) as u64);
    tokio::spawn(async move {
        loop {
            let Some(app) = weak.upgrade() else { return };
            if app.store.pool().is_closed() {
                return;
            }
            match sequence(&app.store, &app.audit).await {
                Ok(checkpoint) => super::witnesses::submit_all(&app, &checkpoint).await,
                Err(error) if !app.store.pool().is_closed() => {
                    tracing::warn!(%error, "the audit log's sequencer failed; it will try again")
                }
                Err(_) => {}
            }
            let store = app.store.clone();
            drop(app);
            tokio::time::sleep(MIN_INTERVAL).await;
            let _ = tokio::time::timeout(every, store.audit_wake().notified()).await;
        }
    });
}
