//! The outbox (migration 0012): what leaves the process — mail, back-channel logout
//! deliveries, future webhooks — is a row written in the act's transaction ([`Tx::enqueue`])
//! and delivered by a worker (`crate::outbox`). So a crash between the commit and the
//! delivery loses nothing, and a slow receiver slows no request.
//!
//! Any node's worker may deliver; a claim is a lease (`claimed_until`): a worker that dies
//! mid-delivery leaves the row to be claimed again once the lease ends. On PostgreSQL the
//! claim skips rows another node is claiming (`FOR UPDATE SKIP LOCKED`); on SQLite the one
//! writer makes the claim's single `UPDATE` exclusive. Delivery is at least once: a worker
//! that delivered and died before marking the row done delivers it again after the lease.
//! Every message carries a `message_id` that stays the same across attempts (the mail's
//! `Message-ID`, the logout token's `jti`), so receivers deduplicate.

use sqlx::Row;

use super::{Backend, Store, StoreResult, Tx};

/// One message to deliver: its kind (`mail`, `password_reset`, `backchannel_logout`), its
/// JSON payload and the language to write in.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    pub id: i64,
    pub message_id: String,
    pub kind: String,
    pub payload: String,
    pub lang: String,
    /// Including this one.
    pub attempts: i64,
}

impl Tx {
    /// Queues a message, delivered once the act commits; returns its message id.
    pub async fn enqueue(&mut self, kind: &str, payload: &str, lang: &str) -> StoreResult<String> {
        let message_id = crate::crypto::random_id();
        let (act, at) = (self.id().to_string(), self.at());
        sqlx::query(
            "INSERT INTO outbox (message_id, act_id, kind, payload, lang, created_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&message_id)
        .bind(act)
        .bind(kind)
        .bind(payload)
        .bind(lang)
        .bind(at)
        .execute(self.conn())
        .await?;
        self.queued_one();
        Ok(message_id)
    }
}

impl Store {
    /// Claims the oldest due message for `lease` seconds, in one statement.
    pub async fn claim_outbox(&self, now: i64, lease: i64) -> StoreResult<Option<OutboxMessage>> {
        // PostgreSQL: two nodes claiming at once take different rows instead of one waiting
        // for the other's lock and then finding the lease taken.
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let statement = format!(
            "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM outbox WHERE done_at IS NULL AND next_attempt_at <= $2 \
                         AND (claimed_until IS NULL OR claimed_until < $2) ORDER BY id LIMIT 1 {lock}) \
               AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until < $2) \
             RETURNING id, message_id, kind, payload, lang, attempts"
        );
        let row =
            sqlx::query(sqlx::AssertSqlSafe(statement)).bind(now + lease).bind(now).fetch_optional(self.pool()).await?;
        row.map(|row| {
            Ok(OutboxMessage {
                id: row.try_get("id")?,
                message_id: row.try_get("message_id")?,
                kind: row.try_get("kind")?,
                payload: row.try_get("payload")?,
                lang: row.try_get("lang")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .transpose()
    }

    /// Delivered (or nothing to deliver): the payload, which may hold a link, is emptied.
    pub async fn outbox_done(&self, id: i64, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE outbox SET done_at = $1, payload = '', claimed_until = NULL WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Not delivered this time: tried again at `next_attempt_at`.
    pub async fn outbox_failed(&self, id: i64, next_attempt_at: i64, error: &str) -> StoreResult<()> {
        let error: String = error.chars().take(500).collect();
        sqlx::query("UPDATE outbox SET next_attempt_at = $1, claimed_until = NULL, last_error = $2 WHERE id = $3")
            .bind(next_attempt_at)
            .bind(error)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// For the metrics: how many messages are not delivered yet, and when the oldest of
    /// them was queued.
    pub async fn outbox_depth(&self) -> StoreResult<(i64, Option<i64>)> {
        let row = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE done_at IS NULL")
            .fetch_one(self.pool())
            .await?;
        Ok((row.try_get("n")?, row.try_get("oldest")?))
    }

    /// Messages not delivered yet.
    pub async fn outbox_pending(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE done_at IS NULL").fetch_one(self.pool()).await?;
        Ok(row.try_get("n")?)
    }

    /// Messages never tried yet or being tried right now (a test waits for none to be left).
    pub async fn outbox_unsettled(&self) -> StoreResult<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM outbox WHERE done_at IS NULL AND (attempts = 0 OR claimed_until IS NOT NULL)",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }
}
