//! One entity's store: the only place its records' contents live. On PostgreSQL it is a
//! schema of its own (`llave_entity_<slug>`, or `<schema>_e_<slug>` when llave itself runs in
//! a schema other than `public`); on SQLite a database file of its own
//! (`DATA_DIR/entities/<slug>.db`). Contents (the attributes, the file and its name) are
//! sealed with the entity's data key, AES-256-GCM, the record id and version bound in as
//! associated data; the kind, procedure, validity and digests stay readable, because the
//! hub answers look-ups with them.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::keystore::KeyStore;
use crate::store::availability::is_unavailable;
use crate::store::{Backend, Store, StoreError, StoreResult};

/// Whether a store location is a PostgreSQL server of the entity's own (`llave entity add
/// --store postgres://…`, `llave entity set-store`) rather than the hub's database.
pub fn is_server_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// The schema an entity's records take in a PostgreSQL server of its own.
fn own_server_schema(slug: &str) -> String {
    format!("llave_entity_{}", slug.replace('-', "_"))
}

/// Where a new entity's store goes, as kept in `entity_stores.location`.
pub async fn location_for(store: &Store, slug: &str) -> StoreResult<String> {
    match store.backend() {
        Backend::Sqlite => Ok(format!("entities/{slug}.db")),
        Backend::Postgres => {
            let current: String =
                sqlx::query("SELECT current_schema()::text").fetch_one(store.pool()).await?.try_get(0)?;
            let name = slug.replace('-', "_");
            let schema =
                if current == "public" { format!("llave_entity_{name}") } else { format!("{current}_e_{name}") };
            if schema.len() > 63 {
                return Err(StoreError::Data(format!("the schema name {schema} is longer than PostgreSQL allows")));
            }
            Ok(schema)
        }
    }
}

/// What a record's sealed content holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Content {
    pub attributes: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

/// A stored file's description (its bytes are loaded only when asked for).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileInfo {
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

/// One version of a record, opened.
#[derive(Debug, Clone)]
pub struct Version {
    pub record_id: String,
    pub version: i64,
    pub account_id: i64,
    pub kind: String,
    pub procedure: Option<String>,
    pub content: Content,
    pub file: Option<FileInfo>,
    pub sha256: String,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub written_by: String,
    pub created_at: i64,
    pub withdrawn_at: Option<i64>,
    pub withdraw_reason: Option<String>,
}

/// A version to write.
pub struct NewVersion<'a> {
    pub record_id: &'a str,
    pub version: i64,
    pub account_id: i64,
    pub kind: &'a str,
    pub procedure: Option<&'a str>,
    pub content: &'a Content,
    /// (content type, bytes)
    pub file: Option<(&'a str, &'a [u8])>,
    pub file_sha256: Option<&'a str>,
    pub sha256: &'a str,
    pub valid_from: Option<&'a str>,
    pub valid_until: Option<&'a str>,
    pub written_by: &'a str,
    pub now: i64,
}

pub struct Spoke {
    pub entity_id: i64,
    pub slug: String,
    pub location: String,
    pool: AnyPool,
    /// `records` in the entity's own SQLite file, `"schema".records` on PostgreSQL.
    table: String,
    key: KeyStore,
    /// On a PostgreSQL server of the entity's own: the pool is the spoke's, not the hub's.
    own_server: bool,
}

impl std::fmt::Debug for Spoke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A server URL may hold a password: never printed.
        let location = if self.own_server { "(its own server)" } else { self.location.as_str() };
        f.debug_struct("Spoke").field("slug", &self.slug).field("location", &location).finish_non_exhaustive()
    }
}

const COLUMNS: &str = "record_id, version, account_id, kind, procedure_slug, content, file_type, file_size, \
                       file_sha256, sha256, valid_from, valid_until, written_by, created_at, withdrawn_at, \
                       withdraw_reason";

impl Spoke {
    /// Opens (creating if needed) the store at `location`, with the entity's data key.
    pub async fn open(
        hub: &Store,
        data_dir: &std::path::Path,
        entity_id: i64,
        slug: &str,
        location: &str,
        data_key: &[u8],
    ) -> StoreResult<Spoke> {
        let key = KeyStore::from_bytes(data_key).ok_or_else(|| StoreError::Corrupt("an entity data key".into()))?;
        let own_server = is_server_url(location);
        let (pool, table, int) = match hub.backend() {
            _ if own_server => {
                // A server of its own may be down while the hub works: fail fast (3 s), and
                // check each connection before use so the pool recovers when it is back.
                let options = AnyConnectOptions::from_str(location)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(3))
                    .test_before_acquire(true)
                    .connect_lazy_with(options);
                let schema = own_server_schema(slug);
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")))
                    .execute(&pool)
                    .await
                    .map_err(|e| {
                        if is_unavailable(&e) {
                            StoreError::StoreUnavailable(slug.to_string())
                        } else {
                            StoreError::from(e)
                        }
                    })?;
                (pool, format!("\"{schema}\".records"), "BIGINT")
            }
            Backend::Sqlite => {
                let path = data_dir.join(location);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| StoreError::Data(format!("{}: {e}", parent.display())))?;
                }
                let options = AnyConnectOptions::from_str(&format!("sqlite://{}?mode=rwc", path.display()))?;
                let pool = AnyPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
                (pool, "records".to_string(), "INTEGER")
            }
            Backend::Postgres => {
                let pool = hub.pool().clone();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{location}\"")))
                    .execute(&pool)
                    .await?;
                (pool, format!("\"{location}\".records"), "BIGINT")
            }
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                record_id TEXT NOT NULL,
                version {int} NOT NULL,
                account_id {int} NOT NULL,
                kind TEXT NOT NULL,
                procedure_slug TEXT,
                content TEXT NOT NULL,
                file TEXT,
                file_type TEXT,
                file_size {int},
                file_sha256 TEXT,
                sha256 TEXT NOT NULL,
                valid_from TEXT,
                valid_until TEXT,
                written_by TEXT NOT NULL,
                created_at {int} NOT NULL,
                withdrawn_at {int},
                withdraw_reason TEXT,
                PRIMARY KEY (record_id, version)
            )"
        )))
        .execute(&pool)
        .await?;
        Ok(Spoke { entity_id, slug: slug.to_string(), location: location.to_string(), pool, table, key, own_server })
    }

    /// A query's error: [`StoreError::StoreUnavailable`] when this entity's store cannot
    /// answer (its own server down), so only this entity's reads fail — and not noted as the
    /// hub's database being unavailable.
    fn failed(&self, error: sqlx::Error) -> StoreError {
        if is_unavailable(&error) { StoreError::StoreUnavailable(self.slug.clone()) } else { StoreError::from(error) }
    }

    fn purpose(record_id: &str, version: i64, part: &str) -> String {
        format!("record:{record_id}:{version}:{part}")
    }

    /// Writes one version; `Conflict("version")` if that version exists already.
    pub async fn insert(&self, new: &NewVersion<'_>) -> StoreResult<()> {
        let content = serde_json::to_vec(new.content).map_err(|e| StoreError::Data(e.to_string()))?;
        let sealed = self.key.seal(&Self::purpose(new.record_id, new.version, "content"), &content);
        let file = new.file.map(|(_, bytes)| self.key.seal(&Self::purpose(new.record_id, new.version, "file"), bytes));
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {} (record_id, version, account_id, kind, procedure_slug, content, file, file_type, \
             file_size, file_sha256, sha256, valid_from, valid_until, written_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            self.table
        )))
        .bind(new.record_id)
        .bind(new.version)
        .bind(new.account_id)
        .bind(new.kind)
        .bind(new.procedure)
        .bind(sealed)
        .bind(file)
        .bind(new.file.map(|(t, _)| t))
        .bind(new.file.map(|(_, b)| b.len() as i64))
        .bind(new.file_sha256)
        .bind(new.sha256)
        .bind(new.valid_from)
        .bind(new.valid_until)
        .bind(new.written_by)
        .bind(new.now)
        .execute(&self.pool)
        .await
        .map_err(|e| if is_unavailable(&e) { self.failed(e) } else { crate::store::conflict_or(e, |_| "version") })?;
        Ok(())
    }

    /// Removes a version written a moment ago whose index entry could not be written.
    pub async fn remove(&self, record_id: &str, version: i64) -> StoreResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {} WHERE record_id = $1 AND version = $2", self.table)))
            .bind(record_id)
            .bind(version)
            .execute(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(())
    }

    fn version_from_row(&self, row: &AnyRow) -> StoreResult<Version> {
        let record_id: String = row.try_get("record_id")?;
        let version: i64 = row.try_get("version")?;
        let sealed: String = row.try_get("content")?;
        let plain = self
            .key
            .open(&Self::purpose(&record_id, version, "content"), &sealed)
            .map_err(|e| StoreError::Corrupt(format!("record {record_id} v{version}: {e}")))?;
        let content: Content = serde_json::from_slice(&plain).map_err(|e| StoreError::Data(e.to_string()))?;
        let file_type: Option<String> = row.try_get("file_type")?;
        let file = match file_type {
            Some(content_type) => Some(FileInfo {
                name: content.file_name.clone().unwrap_or_else(|| "file".into()),
                content_type,
                size: row.try_get::<Option<i64>, _>("file_size")?.unwrap_or(0),
                sha256: row.try_get::<Option<String>, _>("file_sha256")?.unwrap_or_default(),
            }),
            None => None,
        };
        Ok(Version {
            record_id,
            version,
            account_id: row.try_get("account_id")?,
            kind: row.try_get("kind")?,
            procedure: row.try_get("procedure_slug")?,
            content,
            file,
            sha256: row.try_get("sha256")?,
            valid_from: row.try_get("valid_from")?,
            valid_until: row.try_get("valid_until")?,
            written_by: row.try_get("written_by")?,
            created_at: row.try_get("created_at")?,
            withdrawn_at: row.try_get("withdrawn_at")?,
            withdraw_reason: row.try_get("withdraw_reason")?,
        })
    }

    pub async fn version(&self, record_id: &str, version: i64) -> StoreResult<Option<Version>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM {} WHERE record_id = $1 AND version = $2",
            self.table
        )))
        .bind(record_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        row.as_ref().map(|r| self.version_from_row(r)).transpose()
    }

    /// Every version of a record, oldest first.
    pub async fn history(&self, record_id: &str) -> StoreResult<Vec<Version>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM {} WHERE record_id = $1 ORDER BY version",
            self.table
        )))
        .bind(record_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        rows.iter().map(|r| self.version_from_row(r)).collect()
    }

    /// Every version of every record about a person, oldest first (the citizen file).
    pub async fn about(&self, account_id: i64) -> StoreResult<Vec<Version>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM {} WHERE account_id = $1 ORDER BY record_id, version",
            self.table
        )))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        rows.iter().map(|r| self.version_from_row(r)).collect()
    }

    /// The file of a version, opened.
    pub async fn file(&self, record_id: &str, version: i64) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT file FROM {} WHERE record_id = $1 AND version = $2",
            self.table
        )))
        .bind(record_id)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        let Some(sealed) = row.map(|r| r.try_get::<Option<String>, _>("file")).transpose()?.flatten() else {
            return Ok(None);
        };
        let bytes = self
            .key
            .open(&Self::purpose(record_id, version, "file"), &sealed)
            .map_err(|e| StoreError::Corrupt(format!("record {record_id} v{version} file: {e}")))?;
        Ok(Some(bytes))
    }

    /// Marks the given version withdrawn.
    pub async fn withdraw(&self, record_id: &str, version: i64, reason: Option<&str>, now: i64) -> StoreResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET withdrawn_at = $1, withdraw_reason = $2 \
             WHERE record_id = $3 AND version = $4 AND withdrawn_at IS NULL",
            self.table
        )))
        .bind(now)
        .bind(reason)
        .bind(record_id)
        .bind(version)
        .execute(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        Ok(())
    }

    /// Every stored row's sealed columns and record id, for tests and audits that check
    /// where contents live (a plain dump of the table, nothing opened).
    pub async fn raw_rows(&self) -> StoreResult<Vec<(String, String, Option<String>)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT record_id, content, file FROM {}", self.table)))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect()
    }

    /// How many versions the store holds.
    pub async fn count(&self) -> StoreResult<i64> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", self.table)))
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(row.try_get(0)?)
    }

    /// Writes many versions without files in one transaction, a few hundred per statement
    /// (bulk loads: a migration from an entity's old system, the benchmark).
    pub async fn insert_many(&self, versions: &[NewVersion<'_>]) -> StoreResult<()> {
        const COLUMNS: usize = 11;
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        for chunk in versions.chunks(500) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|r| {
                    let at = r * COLUMNS;
                    format!("({})", (1..=COLUMNS).map(|c| format!("${}", at + c)).collect::<Vec<_>>().join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO {} (record_id, version, account_id, kind, procedure_slug, content, sha256, valid_from, \
                 valid_until, written_by, created_at) VALUES {}",
                self.table,
                rows.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for new in chunk {
                let content = serde_json::to_vec(new.content).map_err(|e| StoreError::Data(e.to_string()))?;
                let sealed = self.key.seal(&Self::purpose(new.record_id, new.version, "content"), &content);
                query = query
                    .bind(new.record_id.to_string())
                    .bind(new.version)
                    .bind(new.account_id)
                    .bind(new.kind.to_string())
                    .bind(new.procedure.map(str::to_string))
                    .bind(sealed)
                    .bind(new.sha256.to_string())
                    .bind(new.valid_from.map(str::to_string))
                    .bind(new.valid_until.map(str::to_string))
                    .bind(new.written_by.to_string())
                    .bind(new.now);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn close(&self, backend: Backend) {
        if backend == Backend::Sqlite || self.own_server {
            self.pool.close().await;
        }
    }
}

/// `base64(bytes)`, for files in JSON.
pub fn encode_file(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
