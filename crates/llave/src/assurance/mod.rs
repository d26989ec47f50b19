//! Levels of assurance. An account whose e-mail is confirmed is at level 1; one whose
//! identity was verified (in person by an officer, or by a remote provider) at level 2,
//! unless a password reset by e-mail suspended it; a session of a level-2 account that
//! re-proved the person within the last few minutes (a passkey enrolled after the
//! verification, or a fresh remote re-verification) at level 3. `acr` carries the level,
//! `amr` (RFC 8176) the methods.
//!
//! Second factors: TOTP with recovery codes (`totp`), WebAuthn passkeys (`passkeys`).
//! Help at the counter: accounts opened by officers for people who are present (`counter`),
//! printed activation codes (`activation`).
//! Identity verification: officers at service centres (`officer`) and a remote provider
//! over HTTP with signed results (`remote`, and `reference`, the provider for development).

pub mod activation;
pub mod counter;
pub mod officer;
pub mod passkeys;
pub mod reference;
pub mod remote;
pub mod routes;
pub mod security;
pub mod staff;
pub mod totp;

use crate::Services;
use crate::accounts::Actor;
use crate::store::{Account, AccountId, Event, EventKind, SessionRecord, StoreError, Tx};

pub const LOA_PREFIX: &str = "urn:llave:loa:";

/// `urn:llave:loa:N`.
pub fn acr(level: u8) -> &'static str {
    match level {
        0 => "urn:llave:loa:0",
        1 => "urn:llave:loa:1",
        2 => "urn:llave:loa:2",
        _ => "urn:llave:loa:3",
    }
}

/// The level an `acr` value names; `None` for values llave does not define.
pub fn level_of(acr: &str) -> Option<u8> {
    match acr.strip_prefix(LOA_PREFIX)? {
        "1" => Some(1),
        "2" => Some(2),
        "3" => Some(3),
        _ => None,
    }
}

/// The level a request needs (finding 13.10a): each requirement (a list of `acr` values,
/// any one of which meets it) needs the lowest level it accepts, a value llave does not
/// define needs 4 (nothing reaches it), and the strictest requirement wins. `None` if
/// nothing is required.
pub fn required_level(requirements: &[Vec<String>]) -> Option<u8> {
    requirements.iter().map(|values| values.iter().map(|v| level_of(v).unwrap_or(4)).min().unwrap_or(4)).max()
}

/// Whether the account's identity stands verified (level 2 is not suspended).
pub fn identity_verified(account: &Account) -> bool {
    account.identity_verified_at.is_some() && account.identity_lowered_at.is_none()
}

/// The level an account holds, whatever the session. An account an officer opened at the
/// counter may have no address to confirm, or one not confirmed yet: the identity the
/// officer checked in person stands for it.
pub fn account_level(account: &Account) -> u8 {
    let opened_at_counter = account.created_by == crate::accounts::signup::OPENED_AT_COUNTER;
    let contact = account.email_confirmed_at.is_some() || (opened_at_counter && account.identity_verified_at.is_some());
    match (contact, identity_verified(account)) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    }
}

/// The level this session reaches now.
pub fn session_level(app: &Services, account: &Account, session: &SessionRecord, now: i64) -> u8 {
    let base = account_level(account);
    let window = app.config.assurance.reproof_minutes * 60;
    let reproved = session.reproved_at.is_some_and(|at| at <= now && now - at <= window);
    if base >= 2 && reproved { 3 } else { base }
}

/// `existing` methods plus `added`, each once, with `mfa` when two kinds of factor are
/// present (something known, something held, something the person is).
pub fn with_methods(existing: &str, added: &[&str]) -> String {
    let mut methods: Vec<&str> = existing.split(' ').filter(|m| !m.is_empty() && *m != "mfa").collect();
    for method in added {
        if *method != "mfa" && !methods.contains(method) {
            methods.push(method);
        }
    }
    let knows = methods.contains(&"pwd");
    let holds = methods.iter().any(|m| matches!(*m, "otp" | "hwk" | "swk"));
    let is = methods.iter().any(|m| matches!(*m, "user" | "face" | "fpt" | "iris" | "retina" | "vbm"));
    if [knows, holds, is].iter().filter(|x| **x).count() >= 2 {
        methods.push("mfa");
    }
    methods.join(" ")
}

/// Records an assurance event that is nothing but its record (a look-up, a refusal) as an
/// act of its own. A change records its event in its own act instead (`tx.event`).
pub async fn record(
    app: &Services,
    kind: EventKind,
    account: AccountId,
    actor: &Actor,
    detail: &str,
) -> Result<(), StoreError> {
    app.store.record(kind.as_str(), actor.event(kind, Some(account), detail)).await
}

/// How long after an officer's recovery in person the password reset it sent keeps the
/// verified level (the reset link's own validity, 30 minutes).
pub const RECOVERY_RESET_WINDOW_SECONDS: i64 = 30 * 60;

/// The reaction to a password reset: whoever reads the person's e-mail can reset the
/// password, and that must not carry the verified identity along — the level is paused
/// (`assurance_lowered`, whose own reaction revokes the signing certificate). Not after an
/// officer's recovery in person, which sent the reset link.
pub async fn on_password_reset(tx: &mut Tx, account: AccountId, actor: &Actor) -> Result<(), StoreError> {
    let now = tx.at();
    let recovered_in_person = tx
        .verifications(account)
        .await?
        .first()
        .is_some_and(|v| v.purpose == "recovery" && now - v.verified_at <= RECOVERY_RESET_WINDOW_SECONDS);
    if !recovered_in_person && tx.lower_assurance(account, now).await? {
        tx.event(Event::security(
            EventKind::AssuranceLowered,
            Some(account),
            &actor.address,
            &actor.user_agent,
            "password reset",
        ));
    }
    Ok(())
}

/// A document number as shown outside the officer's page: the last four characters.
pub fn masked_document(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let keep = chars.len().min(4);
    let hidden = chars.len() - keep;
    format!("{}{}", "•".repeat(hidden.min(8)), chars[hidden..].iter().collect::<String>())
}

/// The official identity documents an officer or a provider may have checked.
pub const DOCUMENT_KINDS: [(&str, &str); 5] = [
    ("ine", "document-ine"),
    ("passport", "document-passport"),
    ("professional_id", "document-professional-id"),
    ("military_id", "document-military-id"),
    ("residence_card", "document-residence-card"),
];

pub fn document_label_key(kind: &str) -> &'static str {
    DOCUMENT_KINDS.iter().find(|(k, _)| *k == kind).map(|(_, key)| *key).unwrap_or("document-other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_kept_once_and_mfa_follows_two_kinds() {
        assert_eq!(with_methods("pwd", &[]), "pwd");
        assert_eq!(with_methods("pwd", &["otp"]), "pwd otp mfa");
        assert_eq!(with_methods("pwd otp mfa", &["otp"]), "pwd otp mfa");
        assert_eq!(with_methods("", &["hwk", "user"]), "hwk user mfa");
        assert_eq!(with_methods("pwd", &["face"]), "pwd face mfa");
        assert_eq!(with_methods("", &["face"]), "face");
        assert_eq!(with_methods("pwd", &["iris"]), "pwd iris mfa");
    }

    #[test]
    fn levels_are_named_by_urn() {
        assert_eq!(level_of(acr(3)), Some(3));
        assert_eq!(level_of("urn:llave:loa:9"), None);
        assert_eq!(level_of("urn:other:2"), None);
    }

    #[test]
    fn the_strictest_requirement_wins() {
        let list = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        assert_eq!(required_level(&[]), None);
        assert_eq!(required_level(&[list(&["urn:llave:loa:1"]), list(&["urn:llave:loa:3"])]), Some(3));
        assert_eq!(required_level(&[list(&["urn:llave:loa:3"]), list(&["urn:llave:loa:1"])]), Some(3));
        assert_eq!(required_level(&[list(&["urn:llave:loa:3", "urn:llave:loa:1"])]), Some(1));
        assert_eq!(required_level(&[list(&["foo"]), list(&["urn:llave:loa:1"])]), Some(4));
    }

    #[test]
    fn document_numbers_are_masked() {
        assert_eq!(masked_document("ABCD123456"), "••••••3456");
        assert_eq!(masked_document("12"), "12");
    }
}
