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
    /// The queue of the token answers' group commit (`store::oidc`), started on first use.
    pub issue_queue: OnceLock<tokio::sync::mpsc::Sender<super::oidc::IssueJob>>,
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

/// An act's id: the time in microseconds (hex, fixed width) then 128 random bits, so ids
/// sort by time and each new `acts` row lands at the end of its primary-key index instead
/// of at a random page (a random key costs a page split now and then on every insert).
fn act_id() -> String {
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
        self.conn.commit().await?;
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
            sqlx::query("INSERT INTO acts (id, name, at, events) VALUES ($1, $2, $3, $4)")
                .bind(&self.id)
                .bind(self.name)
                .bind(self.at)
                .bind(self.events.len() as i64)
                .execute(&mut *self.conn)
                .await?;
            for (seq, event) in self.events.iter().enumerate() {
                super::events::insert(&mut self.conn, &self.id, seq as i64, event).await?;
            }
            self.wrote_events = true;
        }
        Ok(std::mem::take(&mut self.events))
    }
}
