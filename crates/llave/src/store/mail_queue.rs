//! The mail queue (migration 0011): rows a request writes and a worker on any node claims,
//! delivers and marks done. A claim is a lease: a worker that dies mid-delivery leaves the
//! row to be taken again once `claimed_until` passes.

use sqlx::Row;

use super::{Store, StoreResult};

/// One queued job: what to do (`job`), its JSON payload and the language to write in.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: i64,
    pub job: String,
    pub payload: String,
    pub lang: String,
    pub attempts: i64,
}

impl Store {
    pub async fn enqueue_mail(&self, job: &str, payload: &str, lang: &str, now: i64) -> StoreResult<i64> {
        let row = sqlx::query(
            "INSERT INTO mail_queue (job, payload, lang, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $4) \
             RETURNING id",
        )
        .bind(job)
        .bind(payload)
        .bind(lang)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("id")?)
    }

    /// Claims the oldest due job for `lease` seconds, in one statement (two workers never
    /// claim the same row: the second UPDATE finds the lease taken).
    pub async fn claim_mail(&self, now: i64, lease: i64) -> StoreResult<Option<QueuedMail>> {
        let row = sqlx::query(
            "UPDATE mail_queue SET claimed_until = $1, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM mail_queue WHERE done_at IS NULL AND next_attempt_at <= $2 \
                         AND (claimed_until IS NULL OR claimed_until < $2) ORDER BY id LIMIT 1) \
               AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until < $2) \
             RETURNING id, job, payload, lang, attempts",
        )
        .bind(now + lease)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(QueuedMail {
                id: row.try_get("id")?,
                job: row.try_get("job")?,
                payload: row.try_get("payload")?,
                lang: row.try_get("lang")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .transpose()
    }

    /// Done (sent, or nothing to send): the payload, which may hold a link, is emptied.
    pub async fn mail_done(&self, id: i64, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE mail_queue SET done_at = $1, payload = '', claimed_until = NULL WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Failed this time: tried again at `next_attempt_at`.
    pub async fn mail_failed(&self, id: i64, next_attempt_at: i64, error: &str) -> StoreResult<()> {
        let error: String = error.chars().take(500).collect();
        sqlx::query("UPDATE mail_queue SET next_attempt_at = $1, claimed_until = NULL, last_error = $2 WHERE id = $3")
            .bind(next_attempt_at)
            .bind(error)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Jobs not done yet.
    pub async fn mail_pending(&self) -> StoreResult<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM mail_queue WHERE done_at IS NULL").fetch_one(self.pool()).await?;
        Ok(row.try_get("n")?)
    }

    /// Jobs never tried yet or being tried right now (a test waits for none to be left).
    pub async fn mail_unsettled(&self) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM mail_queue WHERE done_at IS NULL AND (attempts = 0 OR claimed_until IS NOT NULL)",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }
}
