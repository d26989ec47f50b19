//! Server-side sessions. The cookie carries a random secret; only its SHA-256 is stored,
//! so a copy of the database does not hand out live sessions.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{AccountId, Store, StoreResult};

#[derive(Debug, Clone)]
pub struct SessionStart {
    pub id: String,
    pub token_hash: String,
    pub account_id: AccountId,
    pub auth_methods: String,
    pub absolute_expires_at: i64,
    pub client_address: String,
    pub user_agent: String,
    /// Set when the sign-in itself re-proved the person (a qualifying passkey).
    pub reproved_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: String,
    pub account_id: AccountId,
    pub auth_methods: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub absolute_expires_at: i64,
    pub ended_at: Option<i64>,
    pub client_address: String,
    pub user_agent: String,
    /// When this session last re-proved the person (level 3), if it did.
    pub reproved_at: Option<i64>,
}

macro_rules! select_session {
    ($condition:literal) => {
        concat!(
            "SELECT id, account_id, auth_methods, created_at, last_seen_at, absolute_expires_at, ",
            "ended_at, client_address, user_agent, reproved_at FROM sessions WHERE ",
            $condition
        )
    };
}

fn session_from_row(row: &AnyRow) -> Result<SessionRecord, sqlx::Error> {
    Ok(SessionRecord {
        id: row.try_get("id")?,
        account_id: AccountId(row.try_get("account_id")?),
        auth_methods: row.try_get("auth_methods")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        absolute_expires_at: row.try_get("absolute_expires_at")?,
        ended_at: row.try_get("ended_at")?,
        client_address: row.try_get("client_address")?,
        user_agent: row.try_get("user_agent")?,
        reproved_at: row.try_get("reproved_at")?,
    })
}

impl Store {
    /// The session for a cookie, if it has not ended (expiry is judged by the caller).
    pub async fn session_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(select_session!("token_hash = $1 AND ended_at IS NULL"))
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    pub async fn touch_session(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Sessions of an account that have not been ended, newest first.
    pub async fn open_sessions(&self, account: AccountId) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query(select_session!("account_id = $1 AND ended_at IS NULL ORDER BY created_at DESC, id"))
            .bind(account.0)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(session_from_row).collect::<Result<_, _>>()?)
    }

    /// Adds methods to a session's `amr` and, for a re-proof, marks when it happened.
    pub async fn step_up_session(&self, id: &str, auth_methods: &str, reproved_at: Option<i64>) -> StoreResult<()> {
        let mut conn = self.pool().acquire().await?;
        step_up_session_on(&mut conn, id, auth_methods, reproved_at).await
    }
}

impl super::Tx {
    pub async fn create_session(&mut self, start: &SessionStart, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, account_id, auth_methods, created_at, \
             last_seen_at, absolute_expires_at, client_address, user_agent, reproved_at) \
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9)",
        )
        .bind(&start.id)
        .bind(&start.token_hash)
        .bind(start.account_id.0)
        .bind(&start.auth_methods)
        .bind(now)
        .bind(start.absolute_expires_at)
        .bind(&start.client_address)
        .bind(&start.user_agent)
        .bind(start.reproved_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Ends one session of this account; false if it was not open or not theirs.
    pub async fn end_session(&mut self, account: AccountId, id: &str, reason: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET ended_at = $1, ended_reason = $2 \
             WHERE id = $3 AND account_id = $4 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(id)
        .bind(account.0)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends every open session of the account except `keep`; returns the ids it ended.
    pub async fn end_other_sessions(
        &mut self,
        account: AccountId,
        keep: Option<&str>,
        reason: &str,
        now: i64,
    ) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "UPDATE sessions SET ended_at = $1, ended_reason = $2 \
             WHERE account_id = $3 AND ended_at IS NULL AND id <> $4 RETURNING id",
        )
        .bind(now)
        .bind(reason)
        .bind(account.0)
        .bind(keep.unwrap_or(""))
        .fetch_all(self.conn())
        .await?;
        Ok(rows.iter().map(|row| row.try_get("id")).collect::<Result<_, _>>()?)
    }
}

impl super::Tx {
    /// Adds methods to a session's `amr` and, for a re-proof, marks when it happened.
    pub async fn step_up_session(&mut self, id: &str, auth_methods: &str, reproved_at: Option<i64>) -> StoreResult<()> {
        step_up_session_on(self.conn(), id, auth_methods, reproved_at).await
    }
}

async fn step_up_session_on(
    conn: &mut AnyConnection,
    id: &str,
    auth_methods: &str,
    reproved_at: Option<i64>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE sessions SET auth_methods = $1, reproved_at = COALESCE($2, reproved_at) \
         WHERE id = $3 AND ended_at IS NULL",
    )
    .bind(auth_methods)
    .bind(reproved_at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
