//! Server-wide secrets shared by every node (the CSRF and subject keys, the audit log's
//! pseudonym key) and the key-encryption key's fingerprint. Created once; the first node to
//! create one wins and every node reads the same value.

use sqlx::Row;

use super::{Store, StoreResult};

impl Store {
    /// The secret called `name`, created from `fresh` if it does not exist yet.
    pub async fn server_secret(&self, name: &str, fresh: &str, now: i64) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .bind(now)
        .execute(self.pool())
        .await?;
        let row =
            sqlx::query("SELECT value FROM server_secrets WHERE name = $1").bind(name).fetch_one(self.pool()).await?;
        Ok(row.try_get("value")?)
    }
}
