//! What assurance tells the rest of llave about a person's security: the second factors an
//! account has (`Factors`), whether sign-in needs a second step, the ways to reach a level
//! (step-up), and the account page's security section (`security_view`). The model other
//! capabilities use; the HTTP edge is `routes.rs`.

use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};

use super::{passkeys, session_level, totp};
use crate::AppState;
use crate::calendar::format_time;
use crate::crypto::{now, random_token, token_hash};
use crate::store::Account;
use crate::web::error::PageError;
use crate::web::page::Chrome;
use crate::web::session::SignedIn;

/// The cookie of a sign-in whose password was right, waiting for its second factor.
pub const PENDING_COOKIE: &str = "llave_pending";
const PENDING_SECONDS: i64 = 300;

/// The second factors an account has.
#[derive(Debug, Clone, Default)]
pub struct Factors {
    pub totp: bool,
    pub passkeys: usize,
    pub recovery_codes: i64,
}

impl Factors {
    pub async fn of(app: &AppState, account: &Account) -> Result<Factors, crate::store::StoreError> {
        Ok(Factors {
            totp: totp::enabled(app, account.id).await?,
            passkeys: usize::try_from(app.store.passkey_count(account.id).await?).unwrap_or(0),
            recovery_codes: app.store.recovery_codes_left(account.id).await?,
        })
    }

    /// Whether the person can prove themselves with a passkey here (they have one, and
    /// llave is reached at a domain name).
    pub fn passkeys_usable(&self, app: &AppState) -> bool {
        self.passkeys > 0 && app.webauthn.is_some()
    }

    /// Factors that sign a person in (recovery codes only stand in for them).
    pub fn count(&self) -> usize {
        usize::from(self.totp) + self.passkeys
    }
}

/// Removing the last factor of a verified account asks for the password again.
pub fn needs_password_to_remove(account: &Account, factors: &Factors) -> bool {
    account.identity_verified_at.is_some() && factors.count() <= 1
}

/// After a right password: asks for the second factor if the account has one. Returns
/// the response to send, or `None` to open the session at once.
pub async fn second_step(app: &AppState, account: &Account, next: &str) -> Result<Option<Response>, PageError> {
    let lang = crate::i18n::Lang::default();
    let factors = Factors::of(app, account).await.map_err(|e| PageError::internal(lang, e))?;
    if factors.count() == 0 {
        return Ok(None);
    }
    let token = random_token();
    let now = now();
    app.store
        .create_pending_signin(&token_hash(&token), account.id, next, now, now + PENDING_SECONDS)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    let mut response = Redirect::to("/signin/second").into_response();
    let cookie = app.cookie_policy().set(PENDING_COOKIE, &token, Some(PENDING_SECONDS), "Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    Ok(Some(response))
}

/// Where the person goes to reach `need` from the authorization request `next`.
pub fn stepup_url(need: u8, next: &str) -> String {
    format!(
        "/nivel?{}",
        serde_urlencoded::to_string([("need", need.to_string().as_str()), ("next", next)]).unwrap_or_default()
    )
}

/// The ways this person can reach `need` now, in this browser; `None` if there is none.
pub async fn ways_to_reach(
    app: &AppState,
    s: &SignedIn,
    need: u8,
) -> Result<Option<(bool, Option<String>)>, crate::store::StoreError> {
    let account = &s.account;
    let remote = app.verifier.as_ref().map(|p| p.config.name.clone());
    if super::account_level(account) == 0 {
        return Ok(None);
    }
    let passkey = if app.webauthn.is_none() {
        false
    } else if super::identity_verified(account) {
        // Level 3: a passkey enrolled after the verification re-proves the person.
        need >= 3 && !passkeys::usable(app, account.id, account.identity_verified_at, None).await?.is_empty()
    } else if let (Some(verified), Some(lowered)) = (account.identity_verified_at, account.identity_lowered_at) {
        // A suspended level 2 comes back with a passkey enrolled while it stood.
        !passkeys::usable(app, account.id, Some(verified), Some(lowered)).await?.is_empty()
    } else {
        false
    };
    Ok((passkey || remote.is_some()).then_some((passkey, remote)))
}

pub struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub created: String,
    pub last_used: String,
}

pub struct EventRow {
    pub at: String,
    pub what: String,
    pub detail: String,
}

/// What the account page shows about levels, factors and the security history.
pub struct SecurityView {
    pub level: u8,
    pub level_name: String,
    pub verification: Option<String>,
    pub lowered: bool,
    pub totp: bool,
    pub codes_left: i64,
    pub codes_left_text: String,
    pub passkeys: Vec<PasskeyRow>,
    pub passkeys_available: bool,
    pub remote: Option<String>,
    pub password_to_remove: bool,
    pub events: Vec<EventRow>,
}

pub async fn security_view(app: &AppState, c: &Chrome, s: &SignedIn) -> Result<SecurityView, crate::store::StoreError> {
    let account = &s.account;
    let level = session_level(app, account, &s.session, now());
    let factors = Factors::of(app, account).await?;
    let verification = app.store.verifications(account.id).await?.into_iter().next().map(|v| {
        c.t_with(
            "security-verified-how",
            &[
                ("when", format_time(v.verified_at)),
                ("how", c.t(&format!("verification-method-{}", v.method))),
                ("who", v.verifier.clone()),
                (
                    "document",
                    format!(
                        "{} {}",
                        c.t(super::document_label_key(&v.document_kind)),
                        super::masked_document(&v.document_number)
                    ),
                ),
            ],
        )
    });
    let passkeys = app
        .store
        .passkeys(account.id)
        .await?
        .into_iter()
        .map(|p| PasskeyRow {
            id: p.id,
            name: p.name,
            created: format_time(p.created_at),
            last_used: p.last_used_at.map(format_time).unwrap_or_else(|| c.t("never")),
        })
        .collect();
    let events = app
        .store
        .events_for_account(account.id, 40)
        .await?
        .into_iter()
        .map(|e| EventRow {
            at: format_time(e.at),
            what: c.t(&format!("event-{}", e.kind)),
            detail: crate::web::words::event_detail(c.lang, &e.kind, &e.detail),
        })
        .collect();
    Ok(SecurityView {
        level,
        level_name: c.t(&format!("level-{level}")),
        verification,
        lowered: account.identity_lowered_at.is_some(),
        totp: factors.totp,
        codes_left: factors.recovery_codes,
        codes_left_text: c.t_with("codes-left", &[("count", factors.recovery_codes.to_string())]),
        passkeys,
        passkeys_available: app.webauthn.is_some(),
        remote: app.verifier.as_ref().map(|p| p.config.name.clone()),
        password_to_remove: needs_password_to_remove(account, &factors),
        events,
    })
}
