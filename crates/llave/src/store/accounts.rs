//! Accounts: one per CURP (constraint `accounts_curp_unique`), one per e-mail address.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreResult, conflict_or};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AccountId(pub i64);

/// What a new account is made of; the fields have been validated by `accounts::signup`.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub curp: String,
    pub given_names: String,
    pub first_surname: String,
    pub second_surname: Option<String>,
    pub birth_date: String,
    pub sex: String,
    pub birth_state: String,
    pub email: String,
    pub email_normalized: String,
    pub email_confirmed: bool,
    pub password_hash: String,
    pub created_by: String,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub curp: String,
    pub given_names: String,
    pub first_surname: String,
    pub second_surname: Option<String>,
    pub birth_date: String,
    pub sex: String,
    pub birth_state: String,
    pub email: String,
    pub email_confirmed_at: Option<i64>,
    pub password_hash: String,
    pub password_changed_at: i64,
    pub created_at: i64,
    pub created_by: String,
    /// When the identity was last verified (level 2), if ever.
    pub identity_verified_at: Option<i64>,
    /// When a password reset by e-mail suspended level 2, until restored.
    pub identity_lowered_at: Option<i64>,
}

impl Account {
    /// The person's name as one line: given names and surnames.
    pub fn full_name(&self) -> String {
        [self.given_names.as_str(), self.first_surname.as_str(), self.second_surname.as_deref().unwrap_or("")]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `SELECT` of every account column with the given condition.
macro_rules! select_account {
    ($condition:literal) => {
        concat!(
            "SELECT id, curp, given_names, first_surname, second_surname, birth_date, sex, ",
            "birth_state, email, email_confirmed_at, password_hash, password_changed_at, ",
            "created_at, created_by, identity_verified_at, identity_lowered_at FROM accounts WHERE ",
            $condition
        )
    };
}

fn account_from_row(row: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: AccountId(row.try_get("id")?),
        curp: row.try_get("curp")?,
        given_names: row.try_get("given_names")?,
        first_surname: row.try_get("first_surname")?,
        second_surname: row.try_get("second_surname")?,
        birth_date: row.try_get("birth_date")?,
        sex: row.try_get("sex")?,
        birth_state: row.try_get("birth_state")?,
        email: row.try_get("email")?,
        email_confirmed_at: row.try_get("email_confirmed_at")?,
        password_hash: row.try_get("password_hash")?,
        password_changed_at: row.try_get("password_changed_at")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        identity_verified_at: row.try_get("identity_verified_at")?,
        identity_lowered_at: row.try_get("identity_lowered_at")?,
    })
}

impl Store {
    pub async fn account_by_id(&self, id: AccountId) -> StoreResult<Option<Account>> {
        let row = sqlx::query(select_account!("id = $1")).bind(id.0).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(account_from_row).transpose()?)
    }

    pub async fn account_by_curp(&self, curp: &str) -> StoreResult<Option<Account>> {
        let row = sqlx::query(select_account!("curp = $1")).bind(curp).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(account_from_row).transpose()?)
    }

    pub async fn account_by_email(&self, email_normalized: &str) -> StoreResult<Option<Account>> {
        let row = sqlx::query(select_account!("email_normalized = $1"))
            .bind(email_normalized)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(account_from_row).transpose()?)
    }

    pub async fn count_accounts(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM accounts").fetch_one(self.pool()).await?;
        Ok(row.try_get("n")?)
    }
}

impl super::Tx {
    /// Replaces the hash of the same password (new Argon2 parameters): no change the
    /// person made, so no event of its own.
    pub async fn set_password_hash_only(&mut self, id: AccountId, password_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id.0)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn set_password(&mut self, id: AccountId, password_hash: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
            .bind(password_hash)
            .bind(now)
            .bind(id.0)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl super::Tx {
    /// Marks the address confirmed if it is still the one the link was sent to.
    pub async fn confirm_email(&mut self, id: AccountId, email: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE accounts SET email_confirmed_at = $1 \
             WHERE id = $2 AND email = $3 AND email_confirmed_at IS NULL",
        )
        .bind(now)
        .bind(id.0)
        .bind(email)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl super::Tx {
    /// Inserts the account, or fails with `Conflict("curp")` / `Conflict("email")`.
    pub async fn create_account(&mut self, new: &NewAccount, now: i64) -> StoreResult<AccountId> {
        let confirmed_at = new.email_confirmed.then_some(now);
        let row = sqlx::query(
            "INSERT INTO accounts (curp, given_names, first_surname, second_surname, birth_date, \
             sex, birth_state, email, email_normalized, email_confirmed_at, password_hash, \
             password_changed_at, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) RETURNING id",
        )
        .bind(&new.curp)
        .bind(&new.given_names)
        .bind(&new.first_surname)
        .bind(new.second_surname.as_deref())
        .bind(&new.birth_date)
        .bind(&new.sex)
        .bind(&new.birth_state)
        .bind(&new.email)
        .bind(&new.email_normalized)
        .bind(confirmed_at)
        .bind(&new.password_hash)
        .bind(now)
        .bind(&new.created_by)
        .fetch_one(self.conn())
        .await
        .map_err(|e| conflict_or(e, |hint| if hint.contains("curp") { "curp" } else { "email" }))?;
        Ok(AccountId(row.try_get("id")?))
    }
}
