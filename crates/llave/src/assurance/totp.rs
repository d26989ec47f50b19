//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of clock skew) and
//! single-use recovery codes. The secret is sealed under the key-encryption key; a code is
//! accepted once (a later step only); failures are throttled per account like passwords.

use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::record;
use crate::Services;
use crate::accounts::Actor;
use crate::crypto::now;
use crate::store::{Account, AccountId, EventKind, StoreError};

const PURPOSE: &str = "totp-secret";
const STEP: i64 = 30;
/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;
/// Unambiguous characters for recovery codes (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the TOTP secret cannot be opened: {0}")]
    Sealed(#[from] crate::keystore::KeyStoreError),
    #[error("the TOTP secret is invalid: {0}")]
    Secret(String),
}

fn totp(secret: Vec<u8>, account: &Account) -> Result<Totp, TotpError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP as u64)
        .with_secret(secret)
        .with_issuer(Some("Llave"))
        .with_account_name(account.curp.as_str())
        .build()
        .map_err(|e| TotpError::Secret(e.to_string()))
}

/// What the enrolment page shows: the QR code (SVG, made here) and the key to type.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub qr_svg: String,
    pub manual_key: String,
    /// The `otpauth://` address, for setting the app up on the phone that shows the page.
    pub otpauth_url: String,
}

/// Starts an enrolment with a fresh secret; false if the account already has TOTP.
pub async fn begin(app: &Services, account: &Account) -> Result<bool, TotpError> {
    let mut secret = vec![0u8; 20];
    getrandom::fill(&mut secret).expect("the operating system's random source is available");
    let sealed = app.keystore.seal(PURPOSE, &secret);
    Ok(app.store.begin_totp(account.id, &sealed, now()).await?)
}

/// The enrolment in progress, if there is one.
pub async fn enrolment(app: &Services, account: &Account) -> Result<Option<Enrolment>, TotpError> {
    let Some(factor) = app.store.totp_factor(account.id).await? else {
        return Ok(None);
    };
    if factor.confirmed_at.is_some() {
        return Ok(None);
    }
    let secret = app.keystore.open(PURPOSE, &factor.secret_sealed)?;
    let totp = totp(secret.clone(), account)?;
    let url = totp.to_url().map_err(|e| TotpError::Secret(e.to_string()))?;
    let qr_svg = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| TotpError::Secret(e.to_string()))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let base32 = Secret::from(secret).to_base32();
    let manual_key = base32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>();
    Ok(Some(Enrolment { qr_svg, manual_key: manual_key.join(" "), otpauth_url: url }))
}

/// Whether the account has a confirmed TOTP factor.
pub async fn enabled(app: &Services, account: AccountId) -> Result<bool, StoreError> {
    Ok(app.store.totp_factor(account).await?.is_some_and(|f| f.confirmed_at.is_some()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Accepted,
    Wrong,
    Throttled,
}

fn throttle_key(account: AccountId) -> String {
    format!("otp:{}", account.0)
}

/// Checks a TOTP code (confirming an enrolment in progress) or, if `recovery` is set, a
/// recovery code. Both share one failure budget per account.
pub async fn check(
    app: &Services,
    account: &Account,
    code: &str,
    recovery: bool,
    actor: &Actor,
) -> Result<Check, TotpError> {
    let now = now();
    let policy = &app.config.throttle;
    let window_opened_after = now - policy.window_minutes * 60;
    let key = throttle_key(account.id);
    if app.store.throttle_failures(&key, window_opened_after).await? >= policy.account_failures {
        record(app, EventKind::Throttled, account.id, actor, "second factor", now).await?;
        return Ok(Check::Throttled);
    }
    let accepted = if recovery {
        recovery_matches(app, account.id, code, now).await?
    } else {
        totp_matches(app, account, code, now).await?
    };
    if accepted {
        app.store.throttle_clear(&key).await?;
        if recovery {
            record(app, EventKind::RecoveryCodeUsed, account.id, actor, "", now).await?;
        }
        return Ok(Check::Accepted);
    }
    let failures = app.store.throttle_record_failure(&key, now, window_opened_after).await?;
    record(app, EventKind::SecondFactorFailed, account.id, actor, if recovery { "recovery code" } else { "totp" }, now)
        .await?;
    if failures >= policy.account_failures {
        record(app, EventKind::Lockout, account.id, actor, "second factor", now).await?;
    }
    Ok(Check::Wrong)
}

async fn totp_matches(app: &Services, account: &Account, code: &str, now: i64) -> Result<bool, TotpError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(false);
    }
    let Some(factor) = app.store.totp_factor(account.id).await? else {
        return Ok(false);
    };
    let totp = totp(app.keystore.open(PURPOSE, &factor.secret_sealed)?, account)?;
    let Some(step) = totp.check(&code, now.max(0) as u64) else {
        return Ok(false);
    };
    // One use per step, and never an earlier step than one already used.
    Ok(app.store.use_totp_step(account.id, step as i64, now).await?)
}

/// A recovery code as stored: keyed with the KEK and bound to the account.
fn recovery_hash(app: &Services, account: AccountId, code: &str) -> String {
    app.keystore.keyed_hash("recovery-code", format!("{}:{code}", account.0).as_bytes())
}

fn normalize_recovery(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

async fn recovery_matches(app: &Services, account: AccountId, code: &str, now: i64) -> Result<bool, StoreError> {
    let code = normalize_recovery(code);
    if code.len() != 10 {
        return Ok(false);
    }
    app.store.use_recovery_code(account, &recovery_hash(app, account, &code), now).await
}

/// Makes a new set of recovery codes (the old ones stop working) and returns them, to be
/// shown once.
pub async fn new_recovery_codes(app: &Services, account: AccountId, actor: &Actor) -> Result<Vec<String>, StoreError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; 10];
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
        // 31 symbols: the modulo bias is below 1% and 10 symbols still carry > 49 bits.
        let code: String = bytes.iter().map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char).collect();
        hashes.push(recovery_hash(app, account, &code));
        codes.push(format!("{}-{}", &code[..5], &code[5..]));
    }
    let now = now();
    app.store.replace_recovery_codes(account, &hashes, now).await?;
    record(app, EventKind::RecoveryCodesCreated, account, actor, "", now).await?;
    Ok(codes)
}
