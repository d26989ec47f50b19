//! Failure counters for throttling, shared by every server node through the database.
//! A counter counts failures in a fixed window that opens at the first failure.

use sqlx::Row;

use super::{Store, StoreResult};

impl Store {
    /// Failures counted for `key` in the window that is still open at `now`.
    pub async fn throttle_failures(&self, key: &str, window_opened_after: i64) -> StoreResult<i64> {
        let row = sqlx::query("SELECT failures FROM throttle WHERE key = $1 AND window_start > $2")
            .bind(key)
            .bind(window_opened_after)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get("failures")?,
            None => 0,
        })
    }

    /// Counts one failure; a window older than `window_opened_after` starts over.
    /// Returns the count in the current window.
    pub async fn throttle_record_failure(&self, key: &str, now: i64, window_opened_after: i64) -> StoreResult<i64> {
        let row = sqlx::query(
            "INSERT INTO throttle (key, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN throttle.window_start > $3 THEN throttle.failures + 1 ELSE 1 END, \
               window_start = CASE WHEN throttle.window_start > $3 THEN throttle.window_start ELSE $2 END \
             RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .bind(window_opened_after)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("failures")?)
    }

    pub async fn throttle_clear(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM throttle WHERE key = $1").bind(key).execute(self.pool()).await?;
        Ok(())
    }
}
