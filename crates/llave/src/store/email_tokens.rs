//! One-time e-mail links (confirmation, password reset). Only the SHA-256 of the link's
//! token is stored; a link is spent by one conditional `UPDATE`, so two clicks racing
//! each other spend it once.

use sqlx::{AnyConnection, Row};

use super::{AccountId, Store, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    ConfirmEmail,
    ResetPassword,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::ConfirmEmail => "confirm_email",
            TokenPurpose::ResetPassword => "reset_password",
        }
    }
}

/// What a valid link names.
#[derive(Debug, Clone)]
pub struct EmailToken {
    pub account_id: AccountId,
    pub email: String,
}

/// Why a link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Unknown,
    Used,
    Expired,
}

impl Store {
    /// Looks at a link without spending it (to show the reset form).
    pub async fn peek_email_token(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: i64,
    ) -> StoreResult<Result<EmailToken, LinkState>> {
        let row = sqlx::query(
            "SELECT account_id, email FROM email_tokens \
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(row) => {
                Ok(Ok(EmailToken { account_id: AccountId(row.try_get("account_id")?), email: row.try_get("email")? }))
            }
            None => Ok(Err(self.email_token_state(token_hash, purpose, now).await?)),
        }
    }

    async fn email_token_state(&self, token_hash: &str, purpose: TokenPurpose, now: i64) -> StoreResult<LinkState> {
        let mut conn = self.pool().acquire().await?;
        email_token_state_on(&mut conn, token_hash, purpose, now).await
    }
}

impl super::Tx {
    pub async fn email_token_state(
        &mut self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: i64,
    ) -> StoreResult<LinkState> {
        email_token_state_on(self.conn(), token_hash, purpose, now).await
    }

    pub async fn create_email_token(
        &mut self,
        token_hash: &str,
        account: AccountId,
        purpose: TokenPurpose,
        email: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, account_id, purpose, email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(account.0)
        .bind(purpose.as_str())
        .bind(email)
        .bind(now)
        .bind(expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl super::Tx {
    /// Spends the link if it is unused and unexpired.
    pub async fn use_email_token(
        &mut self,
        token_hash: &str,
        purpose: TokenPurpose,
        now: i64,
    ) -> StoreResult<Result<EmailToken, LinkState>> {
        let row = sqlx::query(
            "UPDATE email_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING account_id, email",
        )
        .bind(now)
        .bind(token_hash)
        .bind(purpose.as_str())
        .fetch_optional(self.conn())
        .await?;
        match row {
            Some(row) => {
                Ok(Ok(EmailToken { account_id: AccountId(row.try_get("account_id")?), email: row.try_get("email")? }))
            }
            None => Ok(Err(self.email_token_state(token_hash, purpose, now).await?)),
        }
    }

    /// Spends every unused link of this purpose (after a password change, say).
    pub async fn revoke_email_tokens(
        &mut self,
        account: AccountId,
        purpose: TokenPurpose,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE email_tokens SET used_at = $1 WHERE account_id = $2 AND purpose = $3 AND used_at IS NULL")
            .bind(now)
            .bind(account.0)
            .bind(purpose.as_str())
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

async fn email_token_state_on(
    conn: &mut AnyConnection,
    token_hash: &str,
    purpose: TokenPurpose,
    now: i64,
) -> StoreResult<LinkState> {
    let row = sqlx::query("SELECT used_at, expires_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2")
        .bind(token_hash)
        .bind(purpose.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(LinkState::Unknown);
    };
    let used_at: Option<i64> = row.try_get("used_at")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    Ok(if used_at.is_some() {
        LinkState::Used
    } else if expires_at <= now {
        LinkState::Expired
    } else {
        LinkState::Unknown
    })
}
