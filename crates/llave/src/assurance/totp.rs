//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of clock skew) and
//! single-use recovery codes. The secret is sealed under the key-encryption key; a code is
//! accepted once (a later step only); failures are throttled per account like passwords.

use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::Services;
use crate::accounts::Actor;
use crate::config::ThrottleConfig;
use crate::crypto::now;
use crate::keystore::KeyStore;
use crate::store::{Account, AccountId, EventKind, Store, StoreError, Tx};

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

/// What checking a code needs besides the act: the key store that opens the TOTP secret
/// and keys the recovery codes, and the throttling policy.
#[derive(Clone, Copy)]
pub struct Checker<'a> {
    pub keystore: &'a KeyStore,
    pub policy: &'a ThrottleConfig,
}

impl<'a> Checker<'a> {
    pub fn of(app: &'a Services) -> Checker<'a> {
        Checker { keystore: &app.keystore, policy: &app.config.throttle }
    }
}

/// Checks a TOTP code (confirming an enrolment in progress) or, if `recovery` is set, a
/// recovery code, as one act: the code spent or the failure counted, with its events.
pub async fn check(
    app: &Services,
    account: &Account,
    code: &str,
    recovery: bool,
    actor: &Actor,
) -> Result<Check, TotpError> {
    let mut tx = app.store.begin_act("second_factor").await?;
    let check = check_in(&mut tx, Checker::of(app), account, code, recovery, actor).await?;
    tx.commit().await?;
    Ok(check)
}

/// Checks a code within an act, which the caller commits whatever the answer (a failure
/// counts, and is recorded). TOTP and recovery codes share one failure budget per account.
pub async fn check_in(
    tx: &mut Tx,
    checker: Checker<'_>,
    account: &Account,
    code: &str,
    recovery: bool,
    actor: &Actor,
) -> Result<Check, TotpError> {
    let now = tx.at();
    let policy = checker.policy;
    let window_opened_after = now - policy.window_minutes * 60;
    let key = throttle_key(account.id);
    if tx.throttle_failures(&key, window_opened_after).await? >= policy.account_failures {
        tx.event(actor.event(EventKind::Throttled, Some(account.id), "second factor"));
        return Ok(Check::Throttled);
    }
    let accepted = if recovery {
        recovery_matches(tx, checker.keystore, account.id, code, now).await?
    } else {
        totp_matches(tx, checker.keystore, account, code, now).await?
    };
    if accepted {
        tx.throttle_clear(&key).await?;
        if recovery {
            tx.event(actor.event(EventKind::RecoveryCodeUsed, Some(account.id), ""));
        }
        return Ok(Check::Accepted);
    }
    let failures = tx.throttle_record_failure(&key, now, window_opened_after).await?;
    let what = if recovery { "recovery code" } else { "totp" };
    tx.event(actor.event(EventKind::SecondFactorFailed, Some(account.id), what));
    if failures >= policy.account_failures {
        tx.event(actor.event(EventKind::Lockout, Some(account.id), "second factor"));
    }
    Ok(Check::Wrong)
}

async fn totp_matches(
    tx: &mut Tx,
    keystore: &KeyStore,
    account: &Account,
    code: &str,
    now: i64,
) -> Result<bool, TotpError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(false);
    }
    let Some(factor) = tx.totp_factor(account.id).await? else {
        return Ok(false);
    };
    let totp = totp(keystore.open(PURPOSE, &factor.secret_sealed)?, account)?;
    let Some(step) = totp.check(&code, now.max(0) as u64) else {
        return Ok(false);
    };
    // One use per step, and never an earlier step than one already used.
    Ok(tx.use_totp_step(account.id, step as i64, now).await?)
}

/// Confirms a TOTP enrolment in progress with a code from the app, as one act: the factor
/// confirmed, `totp_enabled`, and a first set of recovery codes (returned, to be shown
/// once) with `recovery_codes_created`. A wrong code counts as a failure, as at sign-in.
pub async fn confirm(
    app: &Services,
    account: &Account,
    code: &str,
    actor: &Actor,
) -> Result<(Check, Vec<String>), TotpError> {
    let mut tx = app.store.begin_act("totp_confirm").await?;
    let check = check_in(&mut tx, Checker::of(app), account, code, false, actor).await?;
    let mut codes = Vec::new();
    if check == Check::Accepted {
        tx.event(actor.event(EventKind::TotpEnabled, Some(account.id), ""));
        codes = new_recovery_codes_in(&mut tx, &app.keystore, account.id, actor).await?;
    }
    tx.commit().await?;
    Ok((check, codes))
}

/// Removes the account's TOTP factor, as one act with `totp_removed`; false if it had none.
pub async fn remove(store: &Store, account: AccountId, actor: &Actor) -> Result<bool, StoreError> {
    store
        .act("totp_removed", async |tx: &mut Tx| {
            let removed = tx.remove_totp(account).await?;
            if removed {
                tx.event(actor.event(EventKind::TotpRemoved, Some(account), ""));
            }
            Ok(removed)
        })
        .await
}

/// A recovery code as stored: keyed with the KEK and bound to the account.
fn recovery_hash(keystore: &KeyStore, account: AccountId, code: &str) -> String {
    keystore.keyed_hash("recovery-code", format!("{}:{code}", account.0).as_bytes())
}

fn normalize_recovery(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

async fn recovery_matches(
    tx: &mut Tx,
    keystore: &KeyStore,
    account: AccountId,
    code: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let code = normalize_recovery(code);
    if code.len() != 10 {
        return Ok(false);
    }
    tx.use_recovery_code(account, &recovery_hash(keystore, account, &code), now).await
}

/// Makes a new set of recovery codes (the old ones stop working), as one act with
/// `recovery_codes_created`, and returns them, to be shown once.
pub async fn new_recovery_codes(app: &Services, account: AccountId, actor: &Actor) -> Result<Vec<String>, StoreError> {
    app.store
        .act("recovery_codes_created", async |tx: &mut Tx| {
            new_recovery_codes_in(tx, &app.keystore, account, actor).await
        })
        .await
}

/// [`new_recovery_codes`] within an act.
pub async fn new_recovery_codes_in(
    tx: &mut Tx,
    keystore: &KeyStore,
    account: AccountId,
    actor: &Actor,
) -> Result<Vec<String>, StoreError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; 10];
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
        // 31 symbols: the modulo bias is below 1% and 10 symbols still carry > 49 bits.
        let code: String = bytes.iter().map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char).collect();
        hashes.push(recovery_hash(keystore, account, &code));
        codes.push(format!("{}-{}", &code[..5], &code[5..]));
    }
    let now = tx.at();
    tx.replace_recovery_codes(account, &hashes, now).await?;
    tx.event(actor.event(EventKind::RecoveryCodesCreated, Some(account), ""));
    Ok(codes)
}
