//! The consent repository (the `consent` capability's storage): the person's consents to
//! sign-in clients (`consents`: a client may receive these scopes) and their standing
//! consents to reuse (`reuse_consents`: entity A may read kind K held by B for procedure P).
//! One place for both kinds, ready for third parties' consents.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AccountId, Store, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReuseConsent {
    pub id: String,
    pub account_id: i64,
    pub reader_entity_id: i64,
    pub procedure: String,
    pub kind: String,
    pub holder_entity_id: i64,
    pub granted_at: i64,
    pub withdrawn_at: Option<i64>,
}

fn consent(row: &AnyRow) -> Result<ReuseConsent, sqlx::Error> {
    Ok(ReuseConsent {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        reader_entity_id: row.try_get("reader_entity_id")?,
        procedure: row.try_get("procedure_slug")?,
        kind: row.try_get("kind")?,
        holder_entity_id: row.try_get("holder_entity_id")?,
        granted_at: row.try_get("granted_at")?,
        withdrawn_at: row.try_get("withdrawn_at")?,
    })
}

impl Store {
    pub async fn consented_scope(&self, account: AccountId, client_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT scope FROM consents WHERE account_id = $1 AND client_id = $2")
            .bind(account.0)
            .bind(client_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("scope")?),
            None => None,
        })
    }

    pub async fn save_consent(&self, account: AccountId, client_id: &str, scope: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consents (account_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, client_id) DO UPDATE SET scope = $3, granted_at = $4",
        )
        .bind(account.0)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn add_reuse_consent(&self, c: &ReuseConsent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO reuse_consents (id, account_id, reader_entity_id, procedure_slug, kind, holder_entity_id, \
             granted_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&c.id)
        .bind(c.account_id)
        .bind(c.reader_entity_id)
        .bind(&c.procedure)
        .bind(&c.kind)
        .bind(c.holder_entity_id)
        .bind(c.granted_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Standing consents for a reader, procedure and kind.
    pub async fn reuse_consents_for(
        &self,
        account_id: i64,
        reader_entity_id: i64,
        procedure: &str,
        kind: &str,
    ) -> StoreResult<Vec<ReuseConsent>> {
        let rows = sqlx::query(
            "SELECT id, account_id, reader_entity_id, procedure_slug, kind, holder_entity_id, granted_at, withdrawn_at \
             FROM reuse_consents WHERE account_id = $1 AND reader_entity_id = $2 AND procedure_slug = $3 \
             AND kind = $4 AND withdrawn_at IS NULL ORDER BY granted_at DESC",
        )
        .bind(account_id)
        .bind(reader_entity_id)
        .bind(procedure)
        .bind(kind)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(consent).collect::<Result<_, _>>()?)
    }

    /// Every consent a person gave, newest first (withdrawn ones too).
    pub async fn reuse_consents_of(&self, account_id: i64) -> StoreResult<Vec<ReuseConsent>> {
        let rows = sqlx::query(
            "SELECT id, account_id, reader_entity_id, procedure_slug, kind, holder_entity_id, granted_at, withdrawn_at \
             FROM reuse_consents WHERE account_id = $1 ORDER BY granted_at DESC, id",
        )
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(consent).collect::<Result<_, _>>()?)
    }

    /// Whether a consent exists and has not been withdrawn.
    pub async fn reuse_consent_stands(&self, id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 FROM reuse_consents WHERE id = $1 AND withdrawn_at IS NULL")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }
}

impl super::Tx {
    /// Withdraws the person's consent for a client and revokes every grant the client holds
    /// for them (its tokens stop working at once); false when there was nothing to withdraw.
    pub async fn withdraw_consent(&mut self, account: AccountId, client_id: &str, now: i64) -> StoreResult<bool> {
        let deleted = sqlx::query("DELETE FROM consents WHERE account_id = $1 AND client_id = $2")
            .bind(account.0)
            .bind(client_id)
            .execute(self.conn())
            .await?
            .rows_affected();
        let revoked = sqlx::query(
            "UPDATE grants SET revoked_at = $1, revoked_reason = 'consent_withdrawn' \
             WHERE account_id = $2 AND client_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(account.0)
        .bind(client_id)
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(deleted + revoked > 0)
    }

    /// Withdraws one of the person's standing consents to reuse; false when it is not
    /// theirs, unknown or already withdrawn.
    pub async fn withdraw_reuse_consent(&mut self, account_id: i64, id: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE reuse_consents SET withdrawn_at = $1 WHERE id = $2 AND account_id = $3 AND withdrawn_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(account_id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
