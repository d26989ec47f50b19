//! Privileged roles need a second factor (finding 13.14, NIST SP 800-63B AAL2): officers
//! change people's level of assurance and restore their access, hub staff edit what every
//! entity relies on. A session whose sign-in used the password alone is sent to sign in
//! again with the second factor, or told to set one up first.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::AppState;
use crate::store::SessionRecord;
use crate::web::error::PageError;
use crate::web::page::Chrome;
use crate::web::session::SignedIn;

/// Whether the session's sign-in used two kinds of factor (RFC 8176 `mfa`): a password
/// and a TOTP code or recovery code, or a passkey with user verification.
pub fn second_factor_used(session: &SessionRecord) -> bool {
    session.auth_methods.split(' ').any(|method| method == "mfa")
}

/// `Ok` when the signed-in person may act with a privileged role now; otherwise the
/// answer: sign in again (to come back to `back`) if they have a second factor, or a
/// page telling them to set one up.
pub async fn require_second_factor(app: &AppState, c: &Chrome, s: &SignedIn, back: &str) -> Result<(), Response> {
    if second_factor_used(&s.session) {
        return Ok(());
    }
    let factors = super::security::Factors::of(app, &s.account)
        .await
        .map_err(|e| PageError::internal(c.lang, e).into_response())?;
    if factors.count() > 0 {
        let query = serde_urlencoded::to_string([("next", back), ("reauth", "1")]).unwrap_or_default();
        return Err(Redirect::to(&format!("/signin?{query}")).into_response());
    }
    Err(PageError::new(StatusCode::FORBIDDEN, c.lang, "staff-factor-title", "staff-factor-enrol").into_response())
}
