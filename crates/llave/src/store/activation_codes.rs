//! Activation codes (migration 0016): the one-time code an officer prints for a person who
//! is present, with which they choose their password at `/activar`. Only the SHA-256 of
//! the code is stored; a code is spent by one conditional `UPDATE`, so two attempts racing
//! each other spend it once. Issuing a new code for an account spends the old ones.

use sqlx::Row;

use super::{AccountId, Store, StoreResult, Tx};

/// Why a code cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeState {
    Unknown,
    Used,
    Expired,
}

impl Store {
    /// Why `code_hash` cannot be used for `account`: used, expired, or unknown.
    pub async fn activation_code_state(&self, account: AccountId, code_hash: &str, now: i64) -> StoreResult<CodeState> {
        let row =
            sqlx::query("SELECT used_at, expires_at FROM activation_codes WHERE code_hash = $1 AND account_id = $2")
                .bind(code_hash)
                .bind(account.0)
                .fetch_optional(self.pool())
                .await?;
        let Some(row) = row else { return Ok(CodeState::Unknown) };
        let used_at: Option<i64> = row.try_get("used_at")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        Ok(if used_at.is_some() {
            CodeState::Used
        } else if expires_at <= now {
            CodeState::Expired
        } else {
            CodeState::Unknown
        })
    }
}

impl Store {
    /// The officer who issued `code_hash` for `account`, if it is unused and unexpired
    /// (looked at, not spent).
    pub async fn activation_code_officer(
        &self,
        account: AccountId,
        code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<AccountId>> {
        let row = sqlx::query(
            "SELECT officer_id FROM activation_codes \
             WHERE code_hash = $1 AND account_id = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(code_hash)
        .bind(account.0)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|row| row.try_get("officer_id").map(AccountId)).transpose()?)
    }
}

impl Tx {
    /// Stores a new code for `account` issued by `officer`, spending any earlier unused one.
    pub async fn create_activation_code(
        &mut self,
        code_hash: &str,
        account: AccountId,
        officer: AccountId,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE activation_codes SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(account.0)
            .execute(self.conn())
            .await?;
        sqlx::query(
            "INSERT INTO activation_codes (code_hash, account_id, officer_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(code_hash)
        .bind(account.0)
        .bind(officer.0)
        .bind(now)
        .bind(expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Spends the code if it is `account`'s, unused and unexpired; returns the officer who
    /// issued it.
    pub async fn use_activation_code(
        &mut self,
        account: AccountId,
        code_hash: &str,
        now: i64,
    ) -> StoreResult<Option<AccountId>> {
        let row = sqlx::query(
            "UPDATE activation_codes SET used_at = $1 \
             WHERE code_hash = $2 AND account_id = $3 AND used_at IS NULL AND expires_at > $1 \
             RETURNING officer_id",
        )
        .bind(now)
        .bind(code_hash)
        .bind(account.0)
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(|row| row.try_get("officer_id").map(AccountId)).transpose()?)
    }
}
