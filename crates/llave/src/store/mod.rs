//! Storage: one interface, [`Store`], over two backends, SQLite (the embedded default) and
//! PostgreSQL (production). Both speak the same SQL through sqlx's `Any` driver: queries are
//! written once in the common dialect (`$N` placeholders, `ON CONFLICT`, `RETURNING`), and
//! each backend has its own migrations, numbered in step, under `migrations/sqlite` and
//! `migrations/postgres`. Where the dialects differ, the difference lives in [`Backend`].
//!
//! Each capability's queries sit in a file of their own (`accounts.rs`, `sessions.rs`, …),
//! as methods on `Store`. Uniqueness that matters (one account per CURP, one use per
//! e-mail link) is a database constraint or a single conditional `UPDATE`, never a
//! check-then-write.

mod accounts;
pub mod act;
pub mod arco;
pub mod assurance;
pub mod catalog;
pub mod email_tokens;
pub mod entities;
mod events;
pub mod oidc;
pub mod outbox;
mod purge;
pub mod records;
pub mod roles;
mod secrets;
mod sessions;
pub mod signatures;
mod throttle;

pub use accounts::{Account, AccountId, NewAccount};
pub use act::{Reactor, Tx};
pub use email_tokens::TokenPurpose;
pub use events::{ActorKind, Event, EventKind, Outcome, SecurityEvent};
pub use sessions::{SessionRecord, SessionStart};

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlSafeStr};

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

    fn migrations(self) -> &'static [(i64, &'static str, &'static str)] {
        match self {
            Backend::Sqlite => &[
                (1, "accounts", include_str!("../../migrations/sqlite/0001_accounts.sql")),
                (2, "oidc", include_str!("../../migrations/sqlite/0002_oidc.sql")),
                (3, "oidc_sessions", include_str!("../../migrations/sqlite/0003_oidc_sessions.sql")),
                (4, "catalog", include_str!("../../migrations/sqlite/0004_catalog.sql")),
                (5, "staff_roles", include_str!("../../migrations/sqlite/0005_staff_roles.sql")),
                (6, "assurance", include_str!("../../migrations/sqlite/0006_assurance.sql")),
                (7, "signatures", include_str!("../../migrations/sqlite/0007_signatures.sql")),
                (8, "records", include_str!("../../migrations/sqlite/0008_records.sql")),
                (9, "legal_basis_reviews", include_str!("../../migrations/sqlite/0009_legal_basis_reviews.sql")),
                (10, "passkey_order", include_str!("../../migrations/sqlite/0010_passkey_order.sql")),
                (11, "mail_queue", include_str!("../../migrations/sqlite/0011_mail_queue.sql")),
                (12, "events_outbox", include_str!("../../migrations/sqlite/0012_events_outbox.sql")),
            ],
            Backend::Postgres => &[
                (1, "accounts", include_str!("../../migrations/postgres/0001_accounts.sql")),
                (2, "oidc", include_str!("../../migrations/postgres/0002_oidc.sql")),
                (3, "oidc_sessions", include_str!("../../migrations/postgres/0003_oidc_sessions.sql")),
                (4, "catalog", include_str!("../../migrations/postgres/0004_catalog.sql")),
                (5, "staff_roles", include_str!("../../migrations/postgres/0005_staff_roles.sql")),
                (6, "assurance", include_str!("../../migrations/postgres/0006_assurance.sql")),
                (7, "signatures", include_str!("../../migrations/postgres/0007_signatures.sql")),
                (8, "records", include_str!("../../migrations/postgres/0008_records.sql")),
                (9, "legal_basis_reviews", include_str!("../../migrations/postgres/0009_legal_basis_reviews.sql")),
                (10, "passkey_order", include_str!("../../migrations/postgres/0010_passkey_order.sql")),
                (11, "mail_queue", include_str!("../../migrations/postgres/0011_mail_queue.sql")),
                (12, "events_outbox", include_str!("../../migrations/postgres/0012_events_outbox.sql")),
            ],
        }
    }
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
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data does not parse: {0}")]
    Data(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    wiring: std::sync::Arc<act::Wiring>,
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
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits; it persists in the file.
            // synchronous stays FULL (the default), so an acknowledged write survives a crash.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        Ok(Store { pool, backend, wiring: Default::default() })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool, for administrative tools and tests that need raw SQL.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies every migration not yet applied; returns how many versions exist.
    pub async fn migrate(&self) -> StoreResult<usize> {
        let migrations: Vec<Migration> = self
            .backend
            .migrations()
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(*version, Cow::Borrowed(*description), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect();
        let count = migrations.len();
        Migrator::with_migrations(migrations).run(&self.pool).await?;
        Ok(count)
    }

    /// For `/readyz`: the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
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
    StoreError::Database(error)
}
