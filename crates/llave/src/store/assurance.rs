//! Levels of assurance: identity verifications, second factors (TOTP, recovery codes,
//! passkeys), WebAuthn ceremonies, sign-ins waiting for their second step and remote
//! verification sessions. Every single-use thing is spent by one conditional `UPDATE` or
//! `DELETE … RETURNING`, never a check-then-write.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{AccountId, Store, StoreResult};

/// How an identity was verified, as recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    pub id: i64,
    /// `verify`, `reproof` or `recovery`.
    pub purpose: String,
    /// `officer` or `remote`.
    pub method: String,
    /// The officer's CURP, or the provider's name.
    pub verifier: String,
    pub document_kind: String,
    pub document_number: String,
    /// The provider's session id, or the service centre's note.
    pub reference: String,
    pub verified_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewVerification<'a> {
    pub account: AccountId,
    pub purpose: &'a str,
    pub method: &'a str,
    pub verifier: &'a str,
    pub officer: Option<AccountId>,
    pub document_kind: &'a str,
    pub document_number: &'a str,
    pub reference: &'a str,
}

#[derive(Debug, Clone)]
pub struct TotpFactor {
    pub secret_sealed: String,
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
}

#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub id: String,
    pub account_id: AccountId,
    pub credential_id: String,
    pub name: String,
    pub passkey: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// The account's `identity_verified_at` when this passkey was enrolled, if the identity
    /// then stood verified (not suspended); set by `insert_passkey` itself, never by the caller.
    pub verified_at_enrolment: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct PendingSignin {
    pub account_id: AccountId,
    pub next: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct VerificationSession {
    pub id: String,
    pub account_id: AccountId,
    pub session_id: String,
    pub purpose: String,
    pub provider: String,
    pub return_to: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
    pub result: Option<String>,
}

fn passkey_from_row(row: &AnyRow) -> Result<PasskeyRecord, sqlx::Error> {
    Ok(PasskeyRecord {
        id: row.try_get("id")?,
        account_id: AccountId(row.try_get("account_id")?),
        credential_id: row.try_get("credential_id")?,
        name: row.try_get("name")?,
        passkey: row.try_get("passkey")?,
        created_at: row.try_get("created_at")?,
        verified_at_enrolment: row.try_get("verified_at_enrolment")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

fn verification_session_from_row(row: &AnyRow) -> Result<VerificationSession, sqlx::Error> {
    Ok(VerificationSession {
        id: row.try_get("id")?,
        account_id: AccountId(row.try_get("account_id")?),
        session_id: row.try_get("session_id")?,
        purpose: row.try_get("purpose")?,
        provider: row.try_get("provider")?,
        return_to: row.try_get("return_to")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        completed_at: row.try_get("completed_at")?,
        result: row.try_get("result")?,
    })
}

const SELECT_PASSKEY: &str = "SELECT id, account_id, credential_id, name, passkey, created_at, last_used_at, verified_at_enrolment \
     FROM passkeys WHERE ";

impl Store {
    // ----- identity verification -----

    /// Records a verification and raises the account to level 2 (clearing a suspension),
    /// in one transaction.
    pub async fn record_verification(&self, new: &NewVerification<'_>, now: i64) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let id = record_verification_on(&mut tx, new, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Verifications of an account, newest first.
    pub async fn verifications(&self, account: AccountId) -> StoreResult<Vec<Verification>> {
        let mut conn = self.pool().acquire().await?;
        verifications_on(&mut conn, account).await
    }

    // ----- TOTP -----

    pub async fn totp_factor(&self, account: AccountId) -> StoreResult<Option<TotpFactor>> {
        totp_factor_on(&mut *self.pool().acquire().await?, account).await
    }

    /// Starts (or restarts) an enrolment that is not confirmed yet. A confirmed factor is
    /// left alone: it has to be removed first.
    pub async fn begin_totp(&self, account: AccountId, secret_sealed: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO totp_factors (account_id, secret_sealed, confirmed_at, last_step, created_at) \
             VALUES ($1, $2, NULL, 0, $3) \
             ON CONFLICT (account_id) DO UPDATE SET secret_sealed = $2, created_at = $3 \
             WHERE totp_factors.confirmed_at IS NULL",
        )
        .bind(account.0)
        .bind(secret_sealed)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // ----- recovery codes -----

    pub async fn recovery_codes_left(&self, account: AccountId) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL")
            .bind(account.0)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    // ----- passkeys -----

    pub async fn passkeys(&self, account: AccountId) -> StoreResult<Vec<PasskeyRecord>> {
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT_PASSKEY} account_id = $1 ORDER BY created_at, id")))
                .bind(account.0)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.iter().map(passkey_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn passkey_count(&self, account: AccountId) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM passkeys WHERE account_id = $1")
            .bind(account.0)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn passkey_by_credential(&self, credential_id: &str) -> StoreResult<Option<PasskeyRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT_PASSKEY} credential_id = $1")))
            .bind(credential_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(passkey_from_row).transpose()?)
    }

    /// After a sign-in with it: the updated credential (counter) and the time.
    pub async fn passkey_used(&self, id: &str, passkey: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE passkeys SET passkey = $1, last_used_at = $2 WHERE id = $3")
            .bind(passkey)
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    // ----- WebAuthn ceremonies -----

    pub async fn begin_ceremony(
        &self,
        id: &str,
        account: Option<AccountId>,
        kind: &str,
        state: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id, account_id, kind, state, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(account.map(|a| a.0))
        .bind(kind)
        .bind(state)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes a ceremony's state, once, if it is of this kind, for this account, and alive.
    pub async fn take_ceremony(
        &self,
        id: &str,
        account: Option<AccountId>,
        kind: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query(
            "DELETE FROM webauthn_ceremonies WHERE id = $1 AND kind = $2 AND expires_at > $3 \
             AND COALESCE(account_id, -1) = $4 RETURNING state",
        )
        .bind(id)
        .bind(kind)
        .bind(now)
        .bind(account.map(|a| a.0).unwrap_or(-1))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|row| row.try_get("state")).transpose()?)
    }

    // ----- sign-ins waiting for their second step -----

    pub async fn create_pending_signin(
        &self,
        token_hash: &str,
        account: AccountId,
        next: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO pending_signins (token_hash, account_id, next, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(account.0)
        .bind(next)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn pending_signin(&self, token_hash: &str, now: i64) -> StoreResult<Option<PendingSignin>> {
        let row = sqlx::query(
            "SELECT account_id, next, created_at FROM pending_signins WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        row.map(|row| {
            Ok(PendingSignin {
                account_id: AccountId(row.try_get("account_id")?),
                next: row.try_get("next")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| e.into())
    }

    /// Spends a pending sign-in; false if another request already did.
    pub async fn finish_pending_signin(&self, token_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM pending_signins WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    // ----- remote verification sessions -----

    pub async fn verification_session(&self, id: &str) -> StoreResult<Option<VerificationSession>> {
        let row = sqlx::query(
            "SELECT id, account_id, session_id, purpose, provider, return_to, created_at, expires_at, \
             completed_at, result FROM verification_sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(verification_session_from_row).transpose()?)
    }
}

impl super::Tx {
    /// Records a verification and raises the account to level 2 (clearing a suspension),
    /// in one transaction.
    pub async fn record_verification(&mut self, new: &NewVerification<'_>, now: i64) -> StoreResult<i64> {
        record_verification_on(self.conn(), new, now).await
    }

    /// Verifications of an account, newest first.
    pub async fn verifications(&mut self, account: AccountId) -> StoreResult<Vec<Verification>> {
        verifications_on(self.conn(), account).await
    }
}

impl super::Tx {
    /// Suspends level 2 (after a password reset by e-mail); false if it was not held.
    pub async fn lower_assurance(&mut self, account: AccountId, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE accounts SET identity_lowered_at = $1 \
             WHERE id = $2 AND identity_verified_at IS NOT NULL AND identity_lowered_at IS NULL",
        )
        .bind(now)
        .bind(account.0)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes every second factor of an account (recovery at a service centre), in the act.
    pub async fn remove_all_factors(&mut self, account: AccountId) -> StoreResult<()> {
        for table in ["totp_factors", "recovery_codes", "passkeys"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE account_id = $1")))
                .bind(account.0)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }
}

impl super::Tx {
    pub async fn insert_passkey(&mut self, record: &PasskeyRecord) -> StoreResult<()> {
        sqlx::query(
            // The order against the verification is read in this very statement, so it
            // cannot tie or race (finding 13.18).
            "INSERT INTO passkeys (id, account_id, credential_id, name, passkey, created_at, verified_at_enrolment) \
             SELECT $1, $2, $3, $4, $5, $6, \
                    CASE WHEN identity_lowered_at IS NULL THEN identity_verified_at END \
             FROM accounts WHERE id = $2",
        )
        .bind(&record.id)
        .bind(record.account_id.0)
        .bind(&record.credential_id)
        .bind(&record.name)
        .bind(&record.passkey)
        .bind(record.created_at)
        .execute(self.conn())
        .await
        .map_err(|e| super::conflict_or(e, |_| "credential_id"))?;
        Ok(())
    }
}

/// Second factors and their changes, in the act that records them.
impl super::Tx {
    /// The account's TOTP factor, read in the act that checks a code.
    pub async fn totp_factor(&mut self, account: AccountId) -> StoreResult<Option<TotpFactor>> {
        totp_factor_on(self.conn(), account).await
    }

    /// Accepts the code of time step `step` once: later steps only, so a code cannot be
    /// replayed. Confirms a pending enrolment. False if the step was already used.
    pub async fn use_totp_step(&mut self, account: AccountId, step: i64, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE totp_factors SET last_step = $1, confirmed_at = COALESCE(confirmed_at, $2) \
             WHERE account_id = $3 AND last_step < $1",
        )
        .bind(step)
        .bind(now)
        .bind(account.0)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn remove_totp(&mut self, account: AccountId) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM totp_factors WHERE account_id = $1").bind(account.0).execute(self.conn()).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces every recovery code of the account with these (hashes).
    pub async fn replace_recovery_codes(&mut self, account: AccountId, hashes: &[String], now: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1").bind(account.0).execute(self.conn()).await?;
        for hash in hashes {
            sqlx::query("INSERT INTO recovery_codes (account_id, code_hash, created_at) VALUES ($1, $2, $3)")
                .bind(account.0)
                .bind(hash)
                .bind(now)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Spends a recovery code; false if it is unknown or was used.
    pub async fn use_recovery_code(&mut self, account: AccountId, hash: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE account_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(account.0)
        .bind(hash)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn rename_passkey(&mut self, account: AccountId, id: &str, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE passkeys SET name = $1 WHERE id = $2 AND account_id = $3")
            .bind(name)
            .bind(id)
            .bind(account.0)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn remove_passkey(&mut self, account: AccountId, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account.0)
            .execute(self.conn())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Lifts a suspension of level 2; false if there was none.
    pub async fn restore_assurance(&mut self, account: AccountId) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE accounts SET identity_lowered_at = NULL WHERE id = $1 AND identity_lowered_at IS NOT NULL",
        )
        .bind(account.0)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn create_verification_session(&mut self, session: &VerificationSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO verification_sessions (id, account_id, session_id, purpose, provider, return_to, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&session.id)
        .bind(session.account_id.0)
        .bind(&session.session_id)
        .bind(&session.purpose)
        .bind(&session.provider)
        .bind(&session.return_to)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Records a session's result, once: false if it already had one or has expired.
    pub async fn complete_verification_session(&mut self, id: &str, result: &str, now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE verification_sessions SET completed_at = $1, result = $2 \
             WHERE id = $3 AND completed_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(result)
        .bind(id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

async fn totp_factor_on(conn: &mut AnyConnection, account: AccountId) -> StoreResult<Option<TotpFactor>> {
    let row = sqlx::query("SELECT secret_sealed, confirmed_at, last_step FROM totp_factors WHERE account_id = $1")
        .bind(account.0)
        .fetch_optional(conn)
        .await?;
    row.map(|row| {
        Ok(TotpFactor {
            secret_sealed: row.try_get("secret_sealed")?,
            confirmed_at: row.try_get("confirmed_at")?,
            last_step: row.try_get("last_step")?,
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}

async fn verifications_on(conn: &mut AnyConnection, account: AccountId) -> StoreResult<Vec<Verification>> {
    let rows = sqlx::query(
        "SELECT id, purpose, method, verifier, document_kind, document_number, reference, verified_at \
         FROM identity_verifications WHERE account_id = $1 ORDER BY verified_at DESC, id DESC",
    )
    .bind(account.0)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Verification {
                id: row.try_get("id")?,
                purpose: row.try_get("purpose")?,
                method: row.try_get("method")?,
                verifier: row.try_get("verifier")?,
                document_kind: row.try_get("document_kind")?,
                document_number: row.try_get("document_number")?,
                reference: row.try_get("reference")?,
                verified_at: row.try_get("verified_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Inserts the verification and raises the account to level 2, on a connection inside a
/// transaction (an act, or `Store::record_verification`'s own).
async fn record_verification_on(conn: &mut AnyConnection, new: &NewVerification<'_>, now: i64) -> StoreResult<i64> {
    let row = sqlx::query(
        "INSERT INTO identity_verifications (account_id, purpose, method, verifier, officer_account_id, \
         document_kind, document_number, reference, verified_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(new.account.0)
    .bind(new.purpose)
    .bind(new.method)
    .bind(new.verifier)
    .bind(new.officer.map(|a| a.0))
    .bind(new.document_kind)
    .bind(new.document_number)
    .bind(new.reference)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = row.try_get("id")?;
    // A first verification, or one that lifts a suspension, starts a new period: only
    // passkeys enrolled from then on re-prove the person. A re-proof keeps the period.
    sqlx::query(
        "UPDATE accounts SET identity_verified_at = CASE WHEN identity_verified_at IS NULL \
         OR identity_lowered_at IS NOT NULL THEN $1 ELSE identity_verified_at END, \
         identity_lowered_at = NULL WHERE id = $2",
    )
    .bind(now)
    .bind(new.account.0)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}
