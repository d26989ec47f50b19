//! Storage: one interface, [`Store`], over two backends, SQLite (the embedded default) and
//! PostgreSQL (production). Both speak the same SQL through sqlx's `Any` driver: queries are
//! written once in the common dialect (`$N` placeholders, `ON CONFLICT`, `RETURNING`). Where
//! the dialects differ, the difference lives in [`Backend`] or in the migrations.
//!
//! Migrations: each backend has its own, numbered in step, under `migrations/sqlite` and
//! `migrations/postgres`, embedded at build time by `sqlx::migrate!` (a file named
//! `NNNN_description.sql` in the folder is a migration; nothing else lists it). [`Store::migrate`]
//! applies the pending ones and records each in `_sqlx_migrations` with the SHA-384 of its SQL.
//! They are expand/contract: an applied migration's file is never edited (every deployed
//! database holds its checksum and sqlx refuses to start on a mismatch); a change, a fix of
//! drift between the dialects included, is a new file in both folders. The integration test
//! `store_schema` migrates both backends and compares their schemas, so the dialects cannot
//! drift apart unnoticed.
//!
//! Each capability's queries sit in a file of their own (`accounts.rs`, `sessions.rs`, …),
//! as methods on `Store`. Uniqueness that matters (one account per CURP, one use per
//! e-mail link) is a database constraint or a single conditional `UPDATE`, never a
//! check-then-write.

mod accounts;
pub mod act;
pub mod activation_codes;
pub mod arco;
pub mod artefacts;
pub mod assurance;
pub mod audit;
pub mod availability;
pub mod consent;
pub mod email_tokens;
pub mod entities;
mod events;
mod jobs;
pub mod oidc;
pub mod outbox;
mod purge;
pub mod records;
pub mod requisitions;
pub mod roles;
mod secrets;
mod sessions;
pub mod signatures;
pub mod third_parties;
mod throttle;

pub use accounts::{Account, AccountId, NewAccount};
pub use act::{Reactor, Tx};
pub use email_tokens::TokenPurpose;
pub use events::{ActorKind, Event, EventKind, Outcome, SecurityEvent};
pub use sessions::{SessionRecord, SessionStart};

use std::str::FromStr;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The backend's migrations, embedded at build time from `migrations/<backend>/`: a
    /// file there is a migration (`NNNN_description.sql`), nothing else lists it.
    /// Migrations a newer node applied that this binary does not carry are left alone
    /// (`ignore_missing`): expand/contract keeps a node of the previous version working on
    /// the expanded schema, also when it restarts during a rolling upgrade.
    pub fn migrator(self) -> &'static Migrator {
        fn tolerant(mut migrator: Migrator) -> Migrator {
            migrator.set_ignore_missing(true);
            migrator
        }
        static SQLITE: std::sync::LazyLock<Migrator> =
            std::sync::LazyLock::new(|| tolerant(sqlx_macros::migrate!("./migrations/sqlite")));
        static POSTGRES: std::sync::LazyLock<Migrator> =
            std::sync::LazyLock::new(|| tolerant(sqlx_macros::migrate!("./migrations/postgres")));
        match self {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        }
    }
}

/// Whether a slug — the name of an entity, a third party or a requesting authority in URLs,
/// commands and the store — is usable: 2 to 40 lower-case letters, digits and hyphens, not
/// starting or ending with a hyphen.
pub fn valid_slug(slug: &str) -> bool {
    (2..=40).contains(&slug.len())
        && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database URL must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("a record with the same {0} already exists")]
    Conflict(&'static str),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data does not parse: {0}")]
    Data(String),
    #[error(
        "a database replica (--database-replica, LLAVE_DATABASE_REPLICA, database_replica) needs PostgreSQL: \
         both the database and the replica must be postgres:// URLs (SQLite has no replicas)"
    )]
    ReplicaNeedsPostgres,
    #[error("the records store of the entity {0} is unavailable")]
    StoreUnavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        // A failover's errors are noted for the request, which answers 503 (`availability`).
        availability::note(&error);
        StoreError::Database(error)
    }
}

impl StoreError {
    /// The database could not answer (a failover, a lost connection): try again later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Database(error) if availability::is_unavailable(error))
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    wiring: std::sync::Arc<act::Wiring>,
    /// A PostgreSQL replica for read-mostly answers (`--database-replica`), if configured.
    replica: Option<AnyPool>,
}

impl Store {
    /// Connects; a SQLite file (and its directory) is created if missing.
    pub async fn connect(url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_creating_file(url),
            Backend::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = pool_options(backend).connect_with(options).await?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits; it persists in the file.
            // synchronous stays FULL (the default), so an acknowledged write survives a crash.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        Ok(Store { pool, backend, wiring: Default::default(), replica: None })
    }

    /// Adds a PostgreSQL replica (a hot standby) for read-mostly answers: discovery's keys,
    /// the public catalog. The pool connects on first use, so a replica that is down delays
    /// nothing at start; [`Store::read_mostly`] falls back to the primary when it fails.
    /// Refused unless both the database and the replica are PostgreSQL.
    pub fn attach_replica(&mut self, url: &str) -> StoreResult<()> {
        if self.backend != Backend::Postgres || Backend::from_url(url)? != Backend::Postgres {
            return Err(StoreError::ReplicaNeedsPostgres);
        }
        let options = AnyConnectOptions::from_str(url)?;
        self.replica = Some(pool_options(Backend::Postgres).connect_lazy_with(options));
        Ok(())
    }

    /// Whether read-mostly answers come from a replica.
    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// Runs a read-mostly `read` on the replica when there is one, and on the primary when
    /// there is none or the replica failed (down, lagging behind a key that must exist, …).
    /// Only for reads: a replica refuses writes.
    pub async fn read_mostly<T, E, F, Fut>(&self, read: F) -> Result<T, E>
    where
        F: Fn(Store) -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        if let Some(replica) = &self.replica {
            let view =
                Store { pool: replica.clone(), backend: self.backend, wiring: self.wiring.clone(), replica: None };
            match read(view).await {
                Ok(answer) => return Ok(answer),
                Err(error) => tracing::warn!(%error, "the replica failed a read; the primary answers it"),
            }
        }
        read(self.clone()).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for administrative tools and tests that need raw SQL.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies every migration not yet applied; returns how many versions exist.
    ///
    /// sqlx refuses to start if an applied migration's file changed (its SHA-384 checksum is
    /// recorded in `_sqlx_migrations`): migrations are expand/contract, a change is a new file.
    /// Migrations this binary does not carry, applied by a newer node, are left alone (see
    /// [`Backend::migrator`]).
    pub async fn migrate(&self) -> StoreResult<usize> {
        let migrator = self.backend.migrator();
        migrator.run(&self.pool).await?;
        Ok(migrator.iter().count())
    }

    /// For `/readyz`: the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// For `/readyz`: the migrations this binary carries that the database has not applied
    /// (empty when current), and how many the database has applied that this binary does not
    /// know (a newer node migrated it: expand/contract keeps this node working).
    pub async fn migration_status(&self) -> StoreResult<MigrationStatus> {
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
            .fetch_all(&self.pool)
            .await?;
        let known: Vec<i64> = self
            .backend
            .migrator()
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        Ok(MigrationStatus {
            missing: known.iter().copied().filter(|v| !applied.contains(v)).collect(),
            unknown: applied.iter().filter(|v| !known.contains(v)).count(),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
        if let Some(replica) = &self.replica {
            replica.close().await;
        }
    }
}

/// The pool's settings. After a failover every pooled connection points at a server that is
/// gone. sqlx pings each connection as it is released to the pool and drops it if the ping
/// fails; on PostgreSQL a connection that then sat idle for more than
/// [`PING_IF_IDLE_FOR`] is pinged again before it is handed out, so the connections HAProxy
/// cut while they were idle are replaced by new ones to the new primary. A connection in
/// steady use (back in the pool less than a tenth of a second ago) is not pinged twice: that
/// ping was a round trip per query (issue 19). If the server went away in that tenth of a
/// second, the request that meets it is answered 503 (a read is first run once more, 200 ms
/// later, on a connection pinged by then: `web::unavailable`) and the connection is dropped
/// at its release. A SQLite file does not fail over: no ping. The acquire timeout bounds how
/// long a request waits for a connection before answering 503; `max_lifetime` and
/// `idle_timeout` retire connections that a load balancer may have cut quietly.
fn pool_options(backend: Backend) -> AnyPoolOptions {
    let options = AnyPoolOptions::new()
        .max_connections(match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        })
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(5))
        .max_lifetime(Duration::from_secs(30 * 60))
        .idle_timeout(Duration::from_secs(10 * 60));
    match backend {
        Backend::Sqlite => options,
        Backend::Postgres => options.before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE_FOR {
                    use sqlx::Connection;
                    connection.ping().await?;
                }
                Ok(true)
            })
        }),
    }
}

/// How long a pooled PostgreSQL connection may sit idle before it is pinged again on acquire.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_millis(100);

/// What [`Store::migration_status`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions this binary carries that the database has not applied.
    pub missing: Vec<i64>,
    /// Versions the database has applied that this binary does not carry.
    pub unknown: usize,
}

/// `sqlite://path` → `sqlite://path?mode=rwc`, creating the parent directory.
fn sqlite_url_creating_file(url: &str) -> String {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if !path.is_empty()
        && path != ":memory:"
        && let Some(parent) = std::path::Path::new(path).parent()
    {
        let _ = std::fs::create_dir_all(parent);
    }
    if url.contains('?') { url.to_string() } else { format!("{url}?mode=rwc") }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] naming the field.
pub(crate) fn conflict_or(error: sqlx::Error, what: impl Fn(&str) -> &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        // PostgreSQL names the constraint; SQLite puts "table.column" in the message.
        let hint = db.constraint().map(str::to_string).unwrap_or_else(|| db.message().to_string());
        return StoreError::Conflict(what(&hint));
    }
    StoreError::from(error)
}
