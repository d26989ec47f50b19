//! The append-only security event log: sign-up, sign-in, failures, lockouts, password
//! changes and resets, sessions ended. The database refuses updates and deletes (triggers
//! in the migrations).

use sqlx::Row;

use super::{AccountId, Store, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    SignUp,
    EmailConfirmed,
    SignIn,
    SignInFailed,
    Lockout,
    Throttled,
    SignOut,
    SessionEnded,
    PasswordChanged,
    PasswordResetRequested,
    PasswordReset,
    ConsentWithdrawn,
    TotpEnabled,
    TotpRemoved,
    RecoveryCodesCreated,
    RecoveryCodeUsed,
    SecondFactorFailed,
    PasskeyAdded,
    PasskeyRenamed,
    PasskeyRemoved,
    IdentityVerified,
    AssuranceLowered,
    AssuranceRestored,
    SteppedUp,
    VerificationStarted,
    VerificationRefused,
    AccessRecovered,
    OfficerLookup,
    CertificateIssued,
    CertificateRevoked,
    DocumentSigned,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SignUp => "sign_up",
            EventKind::EmailConfirmed => "email_confirmed",
            EventKind::SignIn => "sign_in",
            EventKind::SignInFailed => "sign_in_failed",
            EventKind::Lockout => "lockout",
            EventKind::Throttled => "throttled",
            EventKind::SignOut => "sign_out",
            EventKind::SessionEnded => "session_ended",
            EventKind::PasswordChanged => "password_changed",
            EventKind::PasswordResetRequested => "password_reset_requested",
            EventKind::PasswordReset => "password_reset",
            EventKind::ConsentWithdrawn => "consent_withdrawn",
            EventKind::TotpEnabled => "totp_enabled",
            EventKind::TotpRemoved => "totp_removed",
            EventKind::RecoveryCodesCreated => "recovery_codes_created",
            EventKind::RecoveryCodeUsed => "recovery_code_used",
            EventKind::SecondFactorFailed => "second_factor_failed",
            EventKind::PasskeyAdded => "passkey_added",
            EventKind::PasskeyRenamed => "passkey_renamed",
            EventKind::PasskeyRemoved => "passkey_removed",
            EventKind::IdentityVerified => "identity_verified",
            EventKind::AssuranceLowered => "assurance_lowered",
            EventKind::AssuranceRestored => "assurance_restored",
            EventKind::SteppedUp => "stepped_up",
            EventKind::VerificationStarted => "verification_started",
            EventKind::VerificationRefused => "verification_refused",
            EventKind::AccessRecovered => "access_recovered",
            EventKind::OfficerLookup => "officer_lookup",
            EventKind::CertificateIssued => "certificate_issued",
            EventKind::CertificateRevoked => "certificate_revoked",
            EventKind::DocumentSigned => "document_signed",
        }
    }
}

/// One entry; `detail` never holds a secret (see docs/LOGGING.md).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecurityEvent {
    pub at: i64,
    pub kind: String,
    pub account_id: Option<i64>,
    pub client_address: String,
    pub user_agent: String,
    pub detail: String,
}

impl Store {
    pub async fn record_event(
        &self,
        kind: EventKind,
        account: Option<AccountId>,
        client_address: &str,
        user_agent: &str,
        detail: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO security_events (at, kind, account_id, client_address, user_agent, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now)
        .bind(kind.as_str())
        .bind(account.map(|a| a.0))
        .bind(client_address)
        .bind(user_agent)
        .bind(detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Newest first.
    pub async fn events_for_account(&self, account: AccountId, limit: i64) -> StoreResult<Vec<SecurityEvent>> {
        let rows = sqlx::query(
            "SELECT at, kind, account_id, client_address, user_agent, detail FROM security_events \
             WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(account.0)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SecurityEvent {
                    at: row.try_get("at")?,
                    kind: row.try_get("kind")?,
                    account_id: row.try_get("account_id")?,
                    client_address: row.try_get("client_address")?,
                    user_agent: row.try_get("user_agent")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }
}
