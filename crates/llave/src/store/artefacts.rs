//! Consent artefacts (the consent repository's third kind, `consent_artefacts`, migration
//! 0021): what a person allowed a third party, as the hub signed it, its state and its
//! uses. Changes happen inside acts ([`super::Tx`]), beside their events; every conditional
//! `UPDATE` reports whether it applied, so two requests racing on one artefact (two fetches
//! of a `once` consent, a pause and a revoke) cannot both win.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreResult};

/// One artefact, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artefact {
    pub id: String,
    /// The Grant Management grant (stable across merge and replace).
    pub grant_id: String,
    /// The grant whose tokens the artefact covers.
    pub token_grant_id: String,
    pub client_id: String,
    pub account_id: i64,
    /// The person's pairwise identifier for the client.
    pub subject: String,
    pub purpose: String,
    /// The granted details (`consent::sharing::Granted`), JSON.
    pub details: String,
    pub jws: String,
    /// ACTIVE, PAUSED or REVOKED.
    pub state: String,
    pub expires_at: i64,
    pub created_at: i64,
    pub state_at: i64,
    pub superseded_by: Option<String>,
    pub fetches: i64,
    pub refusals: i64,
    pub last_fetch_at: Option<i64>,
    /// The hub key that signed it, and until when it stays published for it.
    pub kid: String,
    pub proof_until: i64,
}

const COLUMNS: &str = "SELECT a.id, a.grant_id, a.token_grant_id, a.client_id, a.account_id, a.subject, a.purpose, \
     a.details, a.jws, a.state, a.expires_at, a.created_at, a.state_at, a.superseded_by, a.fetches, a.refusals, \
     a.last_fetch_at, a.kid, a.proof_until FROM consent_artefacts a";

fn artefact(row: &AnyRow) -> Result<Artefact, sqlx::Error> {
    Ok(Artefact {
        id: row.try_get("id")?,
        grant_id: row.try_get("grant_id")?,
        token_grant_id: row.try_get("token_grant_id")?,
        client_id: row.try_get("client_id")?,
        account_id: row.try_get("account_id")?,
        subject: row.try_get("subject")?,
        purpose: row.try_get("purpose")?,
        details: row.try_get("details")?,
        jws: row.try_get("jws")?,
        state: row.try_get("state")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        state_at: row.try_get("state_at")?,
        superseded_by: row.try_get("superseded_by")?,
        fetches: row.try_get("fetches")?,
        refusals: row.try_get("refusals")?,
        last_fetch_at: row.try_get("last_fetch_at")?,
        kid: row.try_get("kid")?,
        proof_until: row.try_get("proof_until")?,
    })
}

impl Store {
    pub async fn artefact_by_id(&self, id: &str) -> StoreResult<Option<Artefact>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE a.id = $1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(artefact).transpose()?)
    }

    /// The person's artefacts that stand for their grant (not superseded), newest first.
    pub async fn artefacts_of(&self, account_id: i64) -> StoreResult<Vec<Artefact>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} WHERE a.account_id = $1 AND a.superseded_by IS NULL ORDER BY a.created_at DESC, a.id"
        )))
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(artefact).collect::<Result<_, _>>()?)
    }

    /// The artefact that stands for a Grant Management grant.
    pub async fn current_artefact_of_grant(&self, grant_id: &str) -> StoreResult<Option<Artefact>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} WHERE a.grant_id = $1 AND a.superseded_by IS NULL ORDER BY a.created_at DESC LIMIT 1"
        )))
        .bind(grant_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(artefact).transpose()?)
    }

    /// The artefact whose tokens include the access token `jti`, whatever its grant's state
    /// (a refusal is logged against it even when its tokens were revoked).
    pub async fn artefact_of_access_token(&self, jti: &str) -> StoreResult<Option<Artefact>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} JOIN access_tokens t ON t.grant_id = a.token_grant_id WHERE t.jti = $1 \
             ORDER BY a.created_at DESC LIMIT 1"
        )))
        .bind(jti)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(artefact).transpose()?)
    }

    /// The artefact covering a token grant's tokens (the latest, if one replaced another).
    pub async fn artefact_of_token_grant(&self, token_grant_id: &str) -> StoreResult<Option<Artefact>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} WHERE a.token_grant_id = $1 ORDER BY a.created_at DESC LIMIT 1"
        )))
        .bind(token_grant_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(artefact).transpose()?)
    }
}

impl super::Tx {
    pub async fn insert_artefact(&mut self, a: &Artefact) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consent_artefacts (id, grant_id, token_grant_id, client_id, account_id, subject, purpose, \
             details, jws, state, expires_at, created_at, state_at, superseded_by, fetches, refusals, last_fetch_at, \
             kid, proof_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(&a.id)
        .bind(&a.grant_id)
        .bind(&a.token_grant_id)
        .bind(&a.client_id)
        .bind(a.account_id)
        .bind(&a.subject)
        .bind(&a.purpose)
        .bind(&a.details)
        .bind(&a.jws)
        .bind(&a.state)
        .bind(a.expires_at)
        .bind(a.created_at)
        .bind(a.state_at)
        .bind(a.superseded_by.as_deref())
        .bind(a.fetches)
        .bind(a.refusals)
        .bind(a.last_fetch_at)
        .bind(&a.kid)
        .bind(a.proof_until)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Marks an artefact replaced by another (Grant Management merge or replace) and revokes
    /// it; false if it was superseded already (a concurrent merge won).
    pub async fn supersede_artefact(&mut self, old: &str, new: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE consent_artefacts SET superseded_by = $1, state = 'REVOKED', state_at = $2 \
             WHERE id = $3 AND superseded_by IS NULL",
        )
        .bind(new)
        .bind(now)
        .bind(old)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves an artefact from `from` to `to`; false if it was not in `from` any more.
    pub async fn set_artefact_state(&mut self, id: &str, from: &str, to: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE consent_artefacts SET state = $1, state_at = $2 WHERE id = $3 AND state = $4 AND superseded_by IS NULL",
        )
        .bind(to)
        .bind(now)
        .bind(id)
        .bind(from)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Counts a fetch: only if the artefact is still active and nobody counted one since it
    /// was read with `seen` fetches (a `once` consent is fetched once, however many ask).
    pub async fn count_fetch(&mut self, id: &str, seen: i64, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE consent_artefacts SET fetches = fetches + 1, last_fetch_at = $1 \
             WHERE id = $2 AND fetches = $3 AND state = 'ACTIVE' AND superseded_by IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(seen)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn count_refusal(&mut self, id: &str) -> StoreResult<()> {
        sqlx::query("UPDATE consent_artefacts SET refusals = refusals + 1 WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Revokes a token grant (its access and refresh tokens stop working at once).
    pub async fn revoke_token_grant(&mut self, id: &str, reason: &str, now: i64) -> StoreResult<()> {
        super::oidc::revoke_grant_on(self.conn(), id, reason, now).await
    }
}
