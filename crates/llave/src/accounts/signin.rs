//! Sign-in by CURP or e-mail and password, with the same answer and similar work for an
//! unknown account and a wrong password, so neither the message nor the timing tells them
//! apart. Guessing is slowed, never locked out (NIST SP 800-63B §5.2.2, finding 13.9):
//! after a few free failures per identifier, per account and per client address, each
//! further attempt must wait a delay that doubles with every failure, and is refused
//! unchecked ("wait N seconds") until then. A browser holding the person's device cookie
//! (`device`) has a budget of its own instead, so nobody elsewhere can keep the person out.

use curp::Curp;

use super::Actor;
use super::Problem;
use super::device::Device;
use super::password::{HashError, check_new_password};
use crate::Services;
use crate::crypto::now;
use crate::store::{Account, Event, EventKind, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

#[derive(Debug)]
pub enum SignInOutcome {
    Success(Box<Account>),
    /// Unknown identifier or wrong password: one answer for both.
    Invalid,
    /// Too many failures for this identifier, from this address or this device: try
    /// again after this many seconds. The password was not checked.
    Throttled(i64),
}

/// The first delay after the free failures, doubled with each further failure.
const FIRST_DELAY_SECONDS: i64 = 2;
/// The longest delay between two checked attempts.
const MAX_DELAY_SECONDS: i64 = 15 * 60;

/// Seconds to wait before the next checked attempt, for a counter with `failures`, the
/// last at `last_failure`, of which `free` cost nothing.
pub fn wait_seconds(failures: i64, last_failure: i64, free: i64, now: i64) -> i64 {
    if failures < free {
        return 0;
    }
    let doublings = (failures - free).clamp(0, 20) as u32;
    let delay = (FIRST_DELAY_SECONDS << doublings).min(MAX_DELAY_SECONDS);
    (last_failure + delay - now).max(0)
}

/// The account a CURP or an e-mail address names.
pub async fn find_account(app: &Services, identifier: &str) -> Result<Option<Account>, StoreError> {
    let identifier = identifier.trim();
    if identifier.contains('@') {
        app.store.account_by_email(&identifier.to_lowercase()).await
    } else {
        match Curp::parse(identifier) {
            Ok(curp) => app.store.account_by_curp(curp.as_str()).await,
            Err(_) => Ok(None),
        }
    }
}

/// The throttling key of an identifier: the same for any spelling of it.
fn identifier_key(identifier: &str) -> String {
    let identifier: String = identifier.trim().chars().take(300).collect();
    if identifier.contains('@') {
        format!("id:{}", identifier.to_lowercase())
    } else {
        format!("id:{}", identifier.to_uppercase())
    }
}

fn address_key(actor: &Actor) -> String {
    format!("ip:{}", actor.address)
}

/// Checks a password, throttled; `device` is the browser's verified device cookie.
pub async fn authenticate(
    app: &Services,
    identifier: &str,
    password: &str,
    actor: &Actor,
    device: Option<&Device>,
) -> Result<SignInOutcome, SignInError> {
    let now = now();
    let policy = &app.config.throttle;
    let forget_before = now - policy.window_minutes * 60;
    let account = find_account(app, identifier).await?;
    let account_id = account.as_ref().map(|a| a.id);
    // A device the person signed in from before is throttled on its own. Anyone else
    // counts per identifier as typed (an unknown one is slowed like a known one, so the
    // answer reveals nothing), per account (CURP and e-mail share one budget) and per
    // client address.
    let keys = match device.filter(|d| Some(d.account) == account_id) {
        Some(device) => vec![(device.throttle_key(), policy.account_failures)],
        None => {
            let mut keys = vec![(identifier_key(identifier), policy.account_failures)];
            if let Some(id) = account_id {
                keys.push((format!("account:{}", id.0), policy.account_failures));
            }
            keys.push((address_key(actor), policy.address_failures));
            keys
        }
    };

    // Every counter in one read; those that exist (even forgotten ones) are cleared on success.
    let names: Vec<&str> = keys.iter().map(|(key, _)| key.as_str()).collect();
    let counters = app.store.throttle_sliding(&names).await?;
    let mut wait = 0;
    for (key, failures, last) in &counters {
        if *last > forget_before
            && let Some((_, free)) = keys.iter().find(|(k, _)| k == key)
        {
            wait = wait.max(wait_seconds(*failures, *last, *free, now));
        }
    }
    if wait > 0 {
        // Nothing changes but the record of the refusal.
        app.store.record("sign_in_throttled", actor.event(EventKind::Throttled, account_id, "")).await?;
        return Ok(SignInOutcome::Throttled(wait));
    }

    let password = if password.chars().count() > super::password::MAX_LENGTH { "" } else { password };
    let stored = account.as_ref().map(|a| a.password_hash.as_str());
    let matched = app.passwords.verify(stored, password).await?;

    match account {
        Some(account) if matched => {
            // Hashed before the act, which does no slow work while it holds the write lock.
            let rehashed = match app.passwords.needs_rehash(&account.password_hash) {
                true => Some(app.passwords.hash(password).await?),
                false => None,
            };
            // The session and its `sign_in` event are the caller's act (or the second
            // step's); this one only resets the counters and upgrades the hash, and is not
            // begun when there is neither (the usual sign-in: no counter, a current hash).
            // The address budget is not reset: one success must not launder many failures.
            let to_clear: Vec<&str> =
                counters.iter().map(|(key, _, _)| key.as_str()).filter(|key| !key.starts_with("ip:")).collect();
            if !to_clear.is_empty() || rehashed.is_some() {
                let mut tx = app.store.begin_act("password_checked").await?;
                for key in to_clear {
                    tx.throttle_clear(key).await?;
                }
                if let Some(rehashed) = rehashed {
                    tx.set_password_hash_only(account.id, &rehashed).await?;
                }
                tx.commit().await?;
            }
            Ok(SignInOutcome::Success(Box::new(account)))
        }
        _ => {
            // One act: every counter moved and the failure (and the slowing) recorded.
            let mut tx = app.store.begin_act("sign_in_failed").await?;
            let mut slowed_from_now = false;
            for (key, free) in &keys {
                let failures = tx.throttle_slide(key, now, forget_before).await?;
                slowed_from_now |= failures == *free && !key.starts_with("ip:");
            }
            tx.event(actor.event(EventKind::SignInFailed, account_id, ""));
            if slowed_from_now {
                // The event keeps its old name: from here on, guesses are slowed.
                tx.event(actor.event(EventKind::Lockout, account_id, ""));
            }
            tx.commit().await?;
            Ok(SignInOutcome::Invalid)
        }
    }
}

#[derive(Debug)]
pub enum ChangeOutcome {
    Changed,
    Invalid(Vec<Problem>),
    Throttled,
}

/// Changes the password of a signed-in person: the current password is required (and
/// throttled like a sign-in); every other session ends.
pub async fn change_password(
    app: &crate::AppState,
    account: &Account,
    keep_session: &str,
    current: &str,
    new_password: &str,
    actor: &Actor,
) -> Result<ChangeOutcome, SignInError> {
    let personal =
        [account.curp.as_str(), account.given_names.as_str(), account.first_surname.as_str(), account.email.as_str()];
    if let Err(problem) = check_new_password(new_password, &personal) {
        return Ok(ChangeOutcome::Invalid(vec![Problem::new("new_password", problem.message_key())]));
    }
    match authenticate(app, &account.curp, current, actor, None).await? {
        SignInOutcome::Success(_) => {}
        SignInOutcome::Invalid => {
            return Ok(ChangeOutcome::Invalid(vec![Problem::new("current_password", "password-current-wrong")]));
        }
        SignInOutcome::Throttled(_) => return Ok(ChangeOutcome::Throttled),
    }
    let hash = app.passwords.hash(new_password).await?;
    // One act: the password, the end of every other session (their reactions tell the
    // entities) and the event.
    let mut tx = app.store.begin_act("password_changed").await?;
    let now = tx.at();
    tx.set_password(account.id, &hash, now).await?;
    super::sessions::end_all_in(&mut tx, account.id, Some(keep_session), "password_changed", actor).await?;
    tx.event(Event::security(EventKind::PasswordChanged, Some(account.id), &actor.address, &actor.user_agent, ""));
    tx.commit().await?;
    Ok(ChangeOutcome::Changed)
}

#[cfg(test)]
mod tests {
    use super::{identifier_key, wait_seconds};

    #[test]
    fn delays_start_after_the_free_failures_and_double() {
        assert_eq!(wait_seconds(4, 100, 5, 100), 0);
        assert_eq!(wait_seconds(5, 100, 5, 100), 2);
        assert_eq!(wait_seconds(6, 100, 5, 100), 4);
        assert_eq!(wait_seconds(7, 100, 5, 101), 7);
        assert_eq!(wait_seconds(7, 100, 5, 108), 0, "waited enough");
        assert_eq!(wait_seconds(60, 100, 5, 100), 15 * 60, "capped");
    }

    #[test]
    fn one_key_per_identifier_however_typed() {
        assert_eq!(identifier_key(" gomc800101hdfrrl09 "), identifier_key("GOMC800101HDFRRL09"));
        assert_eq!(identifier_key("Ana@Example.mx"), identifier_key("ana@example.MX"));
    }
}
