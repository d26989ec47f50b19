//! Staff roles held by accounts: `hub_staff`, `catalog_editor` (per entity), `officer` and
//! `legal_reviewer` (see `catalog::review`).

use sqlx::Row;

use super::{AccountId, Store, StoreResult, Tx};

/// The whole hub, as a role's scope.
pub const HUB: &str = "*";
/// Decides on legal bases that would allow reuse without consent (scope: the hub).
pub const LEGAL_REVIEWER: &str = "legal_reviewer";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoleGrant {
    pub account_id: i64,
    pub curp: String,
    pub role: String,
    /// An entity slug, or `*` for the whole hub.
    pub scope: String,
    pub granted_at: i64,
    pub granted_by: String,
    /// The office an officer works at (`--office`), named in what the people they help read.
    pub office: Option<String>,
}

impl Store {
    /// `(role, scope)` pairs an account holds.
    pub async fn roles_of(&self, account: AccountId) -> StoreResult<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT role, scope FROM staff_roles WHERE account_id = $1 ORDER BY role, scope")
            .bind(account.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("role")?, row.try_get("scope")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// The office recorded with an account's `role` over `scope`, if any.
    pub async fn office_of(&self, account: AccountId, role: &str, scope: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT office FROM staff_roles WHERE account_id = $1 AND role = $2 AND scope = $3")
            .bind(account.0)
            .bind(role)
            .bind(scope)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => row.try_get("office")?,
            None => None,
        })
    }

    pub async fn list_roles(&self) -> StoreResult<Vec<RoleGrant>> {
        let rows = sqlx::query(
            "SELECT r.account_id, a.curp, r.role, r.scope, r.granted_at, r.granted_by, r.office FROM staff_roles r \
             JOIN accounts a ON a.id = r.account_id ORDER BY r.role, r.scope, a.curp",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RoleGrant {
                    account_id: row.try_get("account_id")?,
                    curp: row.try_get("curp")?,
                    role: row.try_get("role")?,
                    scope: row.try_get("scope")?,
                    granted_at: row.try_get("granted_at")?,
                    granted_by: row.try_get("granted_by")?,
                    office: row.try_get("office")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}

/// Role changes, in the act that records them (`role_granted`, `role_revoked`).
impl Tx {
    /// Grants a role; false if the account already held it.
    pub async fn grant_role(
        &mut self,
        account: AccountId,
        role: &str,
        scope: &str,
        by: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO staff_roles (account_id, role, scope, granted_at, granted_by) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, role, scope) DO NOTHING",
        )
        .bind(account.0)
        .bind(role)
        .bind(scope)
        .bind(now)
        .bind(by)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the office of a role held; false if the role is not held or already has
    /// that office.
    pub async fn set_role_office(
        &mut self,
        account: AccountId,
        role: &str,
        scope: &str,
        office: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE staff_roles SET office = $1 \
             WHERE account_id = $2 AND role = $3 AND scope = $4 AND (office IS NULL OR office <> $1)",
        )
        .bind(office)
        .bind(account.0)
        .bind(role)
        .bind(scope)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn revoke_role(&mut self, account: AccountId, role: &str, scope: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM staff_roles WHERE account_id = $1 AND role = $2 AND scope = $3")
            .bind(account.0)
            .bind(role)
            .bind(scope)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
