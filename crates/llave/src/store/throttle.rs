//! Failure counters for throttling, shared by every server node through the database.
//! Two kinds share the table under different keys: fixed-window counters (a window that
//! opens at the first failure: `throttle_failures`, `throttle_record_failure`), and
//! sliding counters for growing delays, whose `window_start` is the last failure and
//! which are forgotten after a quiet window (`throttle_sliding`, `throttle_slide`).
//!
//! A counter that goes with an event (a failed sign-in, a wrong second factor) is counted
//! in the act that writes the event: the `Tx` methods. The `Store` ones serve the counters
//! that are nothing but a rate limit. Both call the same query, on a pool connection or on
//! the act's.

use sqlx::{AnyConnection, Row};

use super::{Store, StoreResult, Tx};

impl Store {
    /// Failures counted for `key` in the window that is still open at `now`.
    pub async fn throttle_failures(&self, key: &str, window_opened_after: i64) -> StoreResult<i64> {
        failures_on(&mut *self.pool().acquire().await?, key, window_opened_after).await
    }

    /// Counts one failure; a window older than `window_opened_after` starts over.
    /// Returns the count in the current window.
    pub async fn throttle_record_failure(&self, key: &str, now: i64, window_opened_after: i64) -> StoreResult<i64> {
        record_failure_on(&mut *self.pool().acquire().await?, key, now, window_opened_after).await
    }

    /// Sliding counters, one query for all of them: for each key that has a row, its
    /// failures and the time of the last one (also when it has been quiet long enough to be
    /// forgotten: the caller judges the window, and knows which rows exist to clear).
    pub async fn throttle_sliding(&self, keys: &[&str]) -> StoreResult<Vec<(String, i64, i64)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        let sql =
            format!("SELECT key, failures, window_start FROM throttle WHERE key IN ({})", placeholders.join(", "));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for key in keys {
            query = query.bind(*key);
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("key")?, row.try_get("failures")?, row.try_get("window_start")?)))
            .collect()
    }
}

impl Tx {
    /// [`Store::throttle_failures`], in the act.
    pub async fn throttle_failures(&mut self, key: &str, window_opened_after: i64) -> StoreResult<i64> {
        failures_on(self.conn(), key, window_opened_after).await
    }

    /// [`Store::throttle_record_failure`], in the act.
    pub async fn throttle_record_failure(&mut self, key: &str, now: i64, window_opened_after: i64) -> StoreResult<i64> {
        record_failure_on(self.conn(), key, now, window_opened_after).await
    }

    pub async fn throttle_clear(&mut self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM throttle WHERE key = $1").bind(key).execute(self.conn()).await?;
        Ok(())
    }

    /// Counts one failure on a sliding counter at `now` (starting over if it was quiet
    /// since `forget_before`); returns the count.
    pub async fn throttle_slide(&mut self, key: &str, now: i64, forget_before: i64) -> StoreResult<i64> {
        let row = sqlx::query(
            "INSERT INTO throttle (key, failures, window_start) VALUES ($1, 1, $2) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN throttle.window_start > $3 THEN throttle.failures + 1 ELSE 1 END, \
               window_start = $2 \
             RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .bind(forget_before)
        .fetch_one(self.conn())
        .await?;
        Ok(row.try_get("failures")?)
    }
}

async fn failures_on(conn: &mut AnyConnection, key: &str, window_opened_after: i64) -> StoreResult<i64> {
    let row = sqlx::query("SELECT failures FROM throttle WHERE key = $1 AND window_start > $2")
        .bind(key)
        .bind(window_opened_after)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(row) => row.try_get("failures")?,
        None => 0,
    })
}

async fn record_failure_on(
    conn: &mut AnyConnection,
    key: &str,
    now: i64,
    window_opened_after: i64,
) -> StoreResult<i64> {
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
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("failures")?)
}
