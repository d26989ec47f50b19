//! Acts: every change is one transaction that writes the change, its typed events and its
//! outbox messages together (migration 0012). A request handler (or a CLI command) opens an
//! act with [`Store::act`] or [`Store::begin_act`], hands the [`Tx`] to the capability's
//! core, and commits; until the commit nothing of it is visible, and a crash or an error
//! before it leaves nothing behind — neither the change nor its record.
//!
//! At commit, in this order and still inside the transaction:
//! 1. the *local reactions* run ([`Reactor`], wired in `crate::reactions`): consequences in
//!    other capabilities (a password reset ends the sessions, an ended session revokes its
//!    grants and queues back-channel logouts) are written in the same transaction, and may
//!    write events of their own, which react in turn;
//! 2. the act's row (`acts`: id, name, time, how many events) and its events are written;
//! 3. the transaction commits; if it wrote outbox rows, the outbox worker of this process is
//!    woken (workers of other nodes find them on their next poll).
//!
//! On SQLite an act begins `IMMEDIATE`: it takes the single write lock at its start, so two
//! acts never both read and then fail to write (SQLite's answer to a lock upgrade under WAL).
//! Inside an act, every write goes through the `Tx`: a write through the pool would wait for
//! the lock the act holds.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use sqlx::{Any, AnyConnection, Transaction};

use super::events::Event;
use super::{Backend, Store, StoreError, StoreResult};

/// Consequences of events in other capabilities, run inside the act that wrote the event.
pub trait Reactor: Send + Sync {
    fn react<'a>(
        &'a self,
        tx: &'a mut Tx,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = StoreResult<()>> + Send + 'a>>;
}

/// The reactor and the outbox wake-up shared by every clone of a [`Store`].
#[derive(Default)]
pub(crate) struct Wiring {
    pub reactor: OnceLock<Arc<dyn Reactor>>,
    pub outbox_wake: tokio::sync::Notify,
    pub audit_wake: tokio::sync::Notify,
    /// The queue of [`Store::grouped_act`]'s group commit (SQLite), started on first use.
    pub group_queue: OnceLock<tokio::sync::mpsc::Sender<GroupJob>>,
    /// How many acts of this process changed the catalog or the entities (the catalog's
    /// in-memory copy is rebuilt at once when this moves; see `catalog::Cache`).
    pub catalog_changes: std::sync::atomic::AtomicU64,
    /// Entities read so far, by id: an entity's row never changes once written.
    pub entities: std::sync::RwLock<std::collections::HashMap<i64, super::entities::Entity>>,
    /// Clients recently read for the entity API, by id, with when they were read (see
    /// [`Store::recent_client`]); emptied by every act of this process that changes a client.
    pub clients:
        std::sync::RwLock<std::collections::HashMap<String, (std::time::Instant, super::entities::ClientRecord)>>,
}

/// Reactions that write events that react again must come to an end: an act that grows
/// past this many events is a bug, and is rolled back.
const MAX_EVENTS: usize = 10_000;

/// One act in progress: a transaction, the events written so far, and whether it queued
/// anything for the outbox. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    conn: Transaction<'static, Any>,
    backend: Backend,
    wiring: Arc<Wiring>,
    id: String,
    name: &'static str,
    at: i64,
    events: Vec<Event>,
    queued: usize,
    /// Whether an act of this transaction wrote events (several acts share one transaction
    /// in a group commit).
    wrote_events: bool,
    /// Whether an earlier act of this transaction changed the catalog or the entities.
    catalog_changed: bool,
    /// Whether an earlier act of this transaction changed a client.
    client_changed: bool,
}

impl Store {
    /// Begins an act named `name` (what the act is: `sign_in`, `record_read`, …).
    pub async fn begin_act(&self, name: &'static str) -> StoreResult<Tx> {
        let conn = self.begin_write().await?;
        Ok(Tx {
            conn,
            backend: self.backend,
            wiring: self.wiring.clone(),
            id: act_id(),
            name,
            at: crate::crypto::now(),
            events: Vec::new(),
            queued: 0,
            wrote_events: false,
            catalog_changed: false,
            client_changed: false,
        })
    }

    /// A plain write transaction (for a repository method's own statements): `IMMEDIATE` on
    /// SQLite, like an act, so a transaction that reads before it writes never fails to
    /// take the write lock another one took meanwhile.
    pub async fn begin_write(&self) -> StoreResult<Transaction<'static, Any>> {
        let asked = std::time::Instant::now();
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        crate::metrics::db_acquired(asked.elapsed());
        Ok(tx)
    }

    /// Runs `body` as one act: committed if it returns `Ok`, rolled back if it returns `Err`.
    pub async fn act<T, E>(&self, name: &'static str, body: impl AsyncFnOnce(&mut Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut tx = self.begin_act(name).await?;
        let value = body(&mut tx).await?;
        tx.commit().await?;
        Ok(value)
    }

    /// Wires the reactions of the capabilities (once, at start-up).
    pub fn set_reactor(&self, reactor: Arc<dyn Reactor>) {
        let _ = self.wiring.reactor.set(reactor);
    }

    /// How many acts of this process changed the catalog or the entities so far.
    pub fn catalog_changes(&self) -> u64 {
        self.wiring.catalog_changes.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Woken whenever an act that queued outbox messages commits in this process.
    pub fn outbox_wake(&self) -> &tokio::sync::Notify {
        &self.wiring.outbox_wake
    }

    /// Woken whenever an act that wrote events commits in this process (the audit log's
    /// sequencer appends them).
    pub fn audit_wake(&self) -> &tokio::sync::Notify {
        &self.wiring.audit_wake
    }

    /// An act of one event, for changes that are nothing but their record.
    pub async fn record(&self, name: &'static str, event: Event) -> StoreResult<()> {
        let mut tx = self.begin_act(name).await?;
        tx.event(event);
        tx.commit().await?;
        Ok(())
    }
}

/// The writes of an act that may share its transaction with other acts
/// ([`Store::grouped_act`]). It returns whether it changed anything: `false` only when it
/// wrote nothing (a conditional `UPDATE` that matched no row), and then the act leaves no
/// record either. It may run twice (alone after a group's transaction failed), each time
/// in a fresh transaction.
pub type GroupedWrite =
    Arc<dyn for<'t> Fn(&'t mut Tx) -> Pin<Box<dyn Future<Output = StoreResult<bool>> + Send + 't>> + Send + Sync>;

/// An act waiting for its group commit.
pub struct GroupJob {
    name: &'static str,
    write: GroupedWrite,
    reply: tokio::sync::oneshot::Sender<StoreResult<bool>>,
}

/// Acts written in one transaction by the group committer, at most.
pub const GROUP: usize = 128;

impl Store {
    /// Runs `write` as one act named `name` and returns after it committed (or did not:
    /// `Ok(false)`, nothing written, when `write` changed nothing; `Err`, nothing written,
    /// when it failed).
    ///
    /// Group commit: on SQLite, which commits one transaction at a time with an fsync each
    /// (and makes the others wait in its busy handler), the acts that arrive together are
    /// written by one committer task in one transaction and one fsync, each act with its
    /// own row and events. PostgreSQL groups the WAL flushes of concurrent commits itself:
    /// there each act is its own transaction.
    pub async fn grouped_act(&self, name: &'static str, write: GroupedWrite) -> StoreResult<bool> {
        if self.backend == Backend::Postgres {
            return self.act_alone(name, &write).await;
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = GroupJob { name, write, reply };
        match self.group_queue().send(job).await {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(StoreError::Data("the group committer stopped".into()))),
            // The committer is gone (the runtime is shutting down): write it alone.
            Err(tokio::sync::mpsc::error::SendError(job)) => self.act_alone(job.name, &job.write).await,
        }
    }

    fn group_queue(&self) -> &tokio::sync::mpsc::Sender<GroupJob> {
        self.wiring.group_queue.get_or_init(|| {
            let (sender, receiver) = tokio::sync::mpsc::channel(4 * GROUP);
            tokio::spawn(commit_groups(self.clone(), receiver));
            sender
        })
    }

    async fn act_alone(&self, name: &'static str, write: &GroupedWrite) -> StoreResult<bool> {
        let mut act = self.begin_act(name).await?;
        if !write(&mut act).await? {
            // Dropped, the act rolls back.
            return Ok(false);
        }
        act.commit().await?;
        Ok(true)
    }

    async fn acts_together(&self, jobs: &[GroupJob]) -> StoreResult<Vec<bool>> {
        let mut act = self.begin_act(jobs[0].name).await?;
        let mut outcomes = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            if i > 0 {
                act.next_act(job.name).await?;
            }
            let wrote = (job.write)(&mut act).await?;
            if !wrote {
                act.discard_events();
            }
            outcomes.push(wrote);
        }
        act.commit().await?;
        Ok(outcomes)
    }
}

/// The group committer: takes what is queued (up to [`GROUP`]), writes it in one
/// transaction, answers each. If that transaction fails, each act is tried alone, so one
/// bad act fails only its own request.
async fn commit_groups(store: Store, mut queue: tokio::sync::mpsc::Receiver<GroupJob>) {
    loop {
        let mut jobs = Vec::new();
        let Some(first) = queue.recv().await else { return };
        jobs.push(first);
        while jobs.len() < GROUP {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        if jobs.len() > 1 {
            match store.acts_together(&jobs).await {
                Ok(outcomes) => {
                    for (job, wrote) in jobs.into_iter().zip(outcomes) {
                        let _ = job.reply.send(Ok(wrote));
                    }
                    continue;
                }
                Err(error) => tracing::warn!(%error, acts = jobs.len(), "group commit failed: each act alone"),
            }
        }
        for job in jobs {
            let outcome = store.act_alone(job.name, &job.write).await;
            let _ = job.reply.send(outcome);
        }
    }
}

/// Whether an event of `kind` changes what the catalog's in-memory copy holds.
fn changes_catalog(kind: super::events::EventKind) -> bool {
    use super::events::EventKind;
    matches!(kind, EventKind::CatalogChanged | EventKind::LegalBasisDecided | EventKind::EntityRegistered)
}

/// Whether an event of `kind` changes a client's registration.
fn changes_client(kind: super::events::EventKind) -> bool {
    use super::events::EventKind;
    matches!(kind, EventKind::ClientRegistered | EventKind::ClientChanged | EventKind::ClientDisabled)
}

/// An act's id: the time in microseconds (hex, fixed width) then 128 random bits, so ids
/// sort by time and each new `acts` row lands at the end of its primary-key index instead
/// of at a random page (a random key costs a page split now and then on every insert).
pub(super) fn act_id() -> String {
    let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
    format!("{micros:014x}-{}", crate::crypto::random_id())
}

impl Tx {
    /// The connection, for the repository methods that take the act.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The act's id (written with each of its events and outbox messages).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The act's time: one clock reading for the whole act.
    pub fn at(&self) -> i64 {
        self.at
    }

    /// Records an event of this act; written at commit, after the reactions to it.
    pub fn event(&mut self, mut event: Event) {
        event.at = self.at;
        self.events.push(event);
    }

    /// The events recorded so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub(crate) fn queued_one(&mut self) {
        self.queued += 1;
    }

    /// Runs the reactions, writes the act and its events, commits, wakes the outbox worker.
    /// Returns every event the act wrote, its reactions' included.
    pub async fn commit(mut self) -> StoreResult<Vec<Event>> {
        let events = self.write_act().await?;
        let queued = self.queued;
        let wrote_events = self.wrote_events;
        let wiring = self.wiring.clone();
        let catalog_changed = self.catalog_changed || events.iter().any(|e| changes_catalog(e.kind));
        let client_changed = self.client_changed || events.iter().any(|e| changes_client(e.kind));
        self.conn.commit().await?;
        if client_changed && let Ok(mut clients) = wiring.clients.write() {
            clients.clear();
        }
        if catalog_changed {
            wiring.catalog_changes.fetch_add(1, std::sync::atomic::Ordering::Release);
        }
        if queued > 0 {
            wiring.outbox_wake.notify_one();
        }
        if wrote_events {
            wiring.audit_wake.notify_one();
        }
        Ok(events)
    }

    /// Group commit: writes this act (reactions, its row, its events) and begins another
    /// act named `name` in the same transaction; [`Tx::commit`] commits them all. Returns
    /// the events of the act written.
    pub(crate) async fn next_act(&mut self, name: &'static str) -> StoreResult<Vec<Event>> {
        let events = self.write_act().await?;
        self.catalog_changed |= events.iter().any(|e| changes_catalog(e.kind));
        self.client_changed |= events.iter().any(|e| changes_client(e.kind));
        self.id = act_id();
        self.name = name;
        self.at = crate::crypto::now();
        Ok(events)
    }

    /// Forgets the events of the act in progress (an act of a group that turned out to
    /// change nothing: it must leave no record either).
    pub(crate) fn discard_events(&mut self) {
        self.events.clear();
    }

    /// The reactions, then the act's row and its events, still inside the transaction.
    async fn write_act(&mut self) -> StoreResult<Vec<Event>> {
        let reactor = self.wiring.reactor.get().cloned();
        if let Some(reactor) = reactor {
            let mut reacted = 0;
            while reacted < self.events.len() {
                if self.events.len() > MAX_EVENTS {
                    return Err(StoreError::Data(format!("act {} wrote more than {MAX_EVENTS} events", self.name)));
                }
                let event = self.events[reacted].clone();
                reacted += 1;
                reactor.react(self, &event).await?;
            }
        }
        if !self.events.is_empty() {
            super::events::insert_act(&mut self.conn, self.backend, (&self.id, self.name, self.at), &self.events)
                .await?;
            self.wrote_events = true;
        }
        Ok(std::mem::take(&mut self.events))
    }
}
