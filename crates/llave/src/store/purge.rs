//! Forgetting what has expired: one-time codes (activation codes among them), token records, spent assertion ids, pushed
//! requests, e-mail links and throttle windows. Nothing a person may be shown (sessions,
//! grants, consents, security events) is deleted here. `llave serve` runs this every
//! `PURGE_EVERY`; `llave purge` runs it once.

use super::{Store, StoreResult};

/// How long a used or expired row is kept before it is deleted.
const KEEP_SECONDS: i64 = 24 * 3600;

impl Store {
    /// Deletes expired rows; returns how many went from each table.
    pub async fn purge_expired(&self, now: i64, throttle_window_seconds: i64) -> StoreResult<Vec<(&'static str, u64)>> {
        let before = now - KEEP_SECONDS;
        let statements: [(&'static str, &'static str, i64); 13] = [
            ("authorization_codes", "DELETE FROM authorization_codes WHERE expires_at < $1", before),
            ("access_tokens", "DELETE FROM access_tokens WHERE expires_at < $1", now),
            // Used refresh tokens stay until they expire: a reuse must still be recognised.
            ("refresh_tokens", "DELETE FROM refresh_tokens WHERE expires_at < $1", now),
            ("used_jtis", "DELETE FROM used_jtis WHERE expires_at < $1", now),
            ("pushed_requests", "DELETE FROM pushed_requests WHERE expires_at < $1", now),
            ("email_tokens", "DELETE FROM email_tokens WHERE expires_at < $1", before),
            ("activation_codes", "DELETE FROM activation_codes WHERE expires_at < $1", before),
            ("throttle", "DELETE FROM throttle WHERE window_start < $1", now - throttle_window_seconds),
            ("webauthn_ceremonies", "DELETE FROM webauthn_ceremonies WHERE expires_at < $1", now),
            ("pending_signins", "DELETE FROM pending_signins WHERE expires_at < $1", now),
            // Read grants: the access log keeps what each one allowed.
            ("record_grants", "DELETE FROM record_grants WHERE expires_at < $1", before),
            // Acts and requests that were never signed; signed ones stay with their signature.
            ("signing_acts", "DELETE FROM signing_acts WHERE expires_at < $1 AND signature_id IS NULL", before),
            (
                "signature_requests",
                "DELETE FROM signature_requests WHERE expires_at < $1 AND signature_id IS NULL",
                before,
            ),
        ];
        let mut purged = Vec::with_capacity(statements.len());
        for (table, statement, cutoff) in statements {
            let done = sqlx::query(statement).bind(cutoff).execute(self.pool()).await?;
            purged.push((table, done.rows_affected()));
        }
        Ok(purged)
    }
}
