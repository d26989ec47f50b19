//! WebAuthn passkeys (through `webauthn-rs`): register several, sign in with one (the
//! browser offers the person's discoverable credentials), and re-prove the person for
//! level 3. Every ceremony's server-side state sits in the database for five minutes and
//! is taken once, so any node can finish what another started and nothing is replayed.
//! User verification is always required.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::Services;
use crate::accounts::Actor;
use crate::crypto::{now, random_id};
use crate::store::assurance::PasskeyRecord;
use crate::store::{Account, AccountId, Event, EventKind, Store, StoreError, Tx};

const CEREMONY_SECONDS: i64 = 300;
/// Longest passkey name kept.
pub const NAME_MAX: usize = 60;

#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("passkeys need llave to be reached at a domain name (https, or http://localhost)")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the passkey ceremony expired or was already used")]
    Expired,
    #[error("the browser's answer is malformed: {0}")]
    Malformed(String),
    #[error("the passkey was refused: {0}")]
    Refused(String),
    #[error("this passkey is not registered here")]
    Unknown,
    #[error("this passkey is already registered")]
    Duplicate,
    #[error("stored passkey state is unreadable: {0}")]
    State(String),
}

/// The relying party for the issuer's host, or `None` when it is an IP address (browsers
/// refuse those as relying-party ids).
pub fn relying_party(issuer: &str) -> Option<Webauthn> {
    let url = Url::parse(issuer).ok()?;
    let host = match url.host()? {
        url::Host::Domain(host) => host.to_string(),
        _ => return None,
    };
    WebauthnBuilder::new(&host, &url).ok()?.rp_name("Llave").build().ok()
}

fn webauthn(app: &Services) -> Result<&Webauthn, PasskeyError> {
    app.webauthn.as_ref().ok_or(PasskeyError::Unavailable)
}

/// The opaque user handle stored in the person's authenticators: derived from the account
/// id with the server's subject key, so it reveals neither the CURP nor the id.
pub fn user_handle(app: &Services, account: AccountId) -> Uuid {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&app.subject_key).expect("any key length");
    mac.update(format!("llave webauthn user v1:{}", account.0).as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

fn credential_key(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(value).map_err(|e| PasskeyError::State(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(text).map_err(|e| PasskeyError::State(e.to_string()))
}

/// Starts registering a passkey for a signed-in person: the options for
/// `navigator.credentials.create()` and the ceremony id to send back.
pub async fn begin_registration(app: &Services, account: &Account) -> Result<(String, Value), PasskeyError> {
    let webauthn = webauthn(app)?;
    let existing = app.store.passkeys(account.id).await?;
    let exclude = existing.iter().filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok()).collect::<Vec<_>>();
    let display = format!("{} {}", account.given_names, account.first_surname);
    let (mut options, state) = webauthn
        .start_passkey_registration(user_handle(app, account.id), &account.curp, &display, Some(exclude))
        .map_err(|e| PasskeyError::Refused(e.to_string()))?;
    // A discoverable credential, so the person can sign in without typing anything.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
    }
    let ceremony = random_id();
    app.store.begin_ceremony(&ceremony, Some(account.id), "register", &json(&state)?, now() + CEREMONY_SECONDS).await?;
    Ok((ceremony, serde_json::to_value(options).map_err(|e| PasskeyError::State(e.to_string()))?))
}

/// Finishes a registration with the browser's answer.
pub async fn finish_registration(
    app: &Services,
    account: &Account,
    ceremony: &str,
    credential: &str,
    name: &str,
    actor: &Actor,
) -> Result<PasskeyRecord, PasskeyError> {
    let webauthn = webauthn(app)?;
    let now = now();
    let state =
        app.store.take_ceremony(ceremony, Some(account.id), "register", now).await?.ok_or(PasskeyError::Expired)?;
    let state: PasskeyRegistration = parse(&state)?;
    let credential: RegisterPublicKeyCredential =
        serde_json::from_str(credential).map_err(|e| PasskeyError::Malformed(e.to_string()))?;
    let passkey =
        webauthn.finish_passkey_registration(&credential, &state).map_err(|e| PasskeyError::Refused(e.to_string()))?;
    let name: String = name.trim().chars().filter(|c| !c.is_control()).take(NAME_MAX).collect();
    let record = PasskeyRecord {
        id: random_id(),
        account_id: account.id,
        credential_id: credential_key(passkey.cred_id().as_ref()),
        name: if name.is_empty() { "Llave de acceso".into() } else { name },
        passkey: json(&passkey)?,
        created_at: now,
        last_used_at: None,
        verified_at_enrolment: None,
    };
    // One act: the passkey and its event.
    let mut tx = app.store.begin_act("passkey_added").await?;
    match tx.insert_passkey(&record).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(PasskeyError::Duplicate),
        Err(error) => return Err(error.into()),
    }
    let detail = format!("passkey={}", record.name);
    tx.event(Event::security(EventKind::PasskeyAdded, Some(account.id), &actor.address, &actor.user_agent, &detail));
    tx.commit().await?;
    Ok(record)
}

/// Which passkeys an authentication may use.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    /// Sign-in without a password: any discoverable passkey.
    SignIn,
    /// The second step of a password sign-in: any passkey of this account.
    SecondStep(AccountId),
    /// Re-proof for level 3 (or lifting a suspended level 2): passkeys of this account
    /// enrolled at or after `since`, and before `until` if set (the suspension).
    Reproof(AccountId, i64, Option<i64>),
}

impl Purpose {
    fn kind(self) -> &'static str {
        match self {
            Purpose::SignIn => "signin",
            Purpose::SecondStep(_) => "second",
            Purpose::Reproof(..) => "reproof",
        }
    }

    fn account(self) -> Option<AccountId> {
        match self {
            Purpose::SignIn => None,
            Purpose::SecondStep(account) | Purpose::Reproof(account, ..) => Some(account),
        }
    }
}

/// Whether `passkey` was enrolled after the identity verification of `verified` (finding
/// 13.18). Not judged by the times (whole seconds, which tie): the passkey records the
/// verification the account stood at when it was inserted, so it counts exactly when that
/// verification is this one (or a later period's, which cannot come before it).
pub fn enrolled_after(passkey: &PasskeyRecord, verified: i64) -> bool {
    passkey.verified_at_enrolment.is_some_and(|seen| seen >= verified)
}

/// The passkeys of an account that may re-prove it: enrolled after `since` (strictly)
/// and before `until`.
pub async fn usable(
    app: &Services,
    account: AccountId,
    since: Option<i64>,
    until: Option<i64>,
) -> Result<Vec<PasskeyRecord>, StoreError> {
    let all = app.store.passkeys(account).await?;
    Ok(all
        .into_iter()
        .filter(|p| {
            since.is_none_or(|since| enrolled_after(p, since)) && until.is_none_or(|until| p.created_at < until)
        })
        .collect())
}

/// Starts an authentication: the options for `navigator.credentials.get()` and the
/// ceremony id.
pub async fn begin_authentication(app: &Services, purpose: Purpose) -> Result<(String, Value), PasskeyError> {
    let webauthn = webauthn(app)?;
    let (options, state) = match purpose {
        Purpose::SignIn => {
            let (mut options, state) =
                webauthn.start_discoverable_authentication().map_err(|e| PasskeyError::Refused(e.to_string()))?;
            // Asked for with a button, not offered in the username field.
            options.mediation = None;
            (options, json(&state)?)
        }
        Purpose::SecondStep(account) | Purpose::Reproof(account, ..) => {
            let (since, until) = match purpose {
                Purpose::Reproof(_, since, until) => (Some(since), until),
                _ => (None, None),
            };
            let keys = usable(app, account, since, until).await?;
            let passkeys = keys.iter().map(|p| parse::<Passkey>(&p.passkey)).collect::<Result<Vec<_>, _>>()?;
            if passkeys.is_empty() {
                return Err(PasskeyError::Unknown);
            }
            let (options, state) =
                webauthn.start_passkey_authentication(&passkeys).map_err(|e| PasskeyError::Refused(e.to_string()))?;
            (options, json(&state)?)
        }
    };
    let ceremony = random_id();
    app.store.begin_ceremony(&ceremony, purpose.account(), purpose.kind(), &state, now() + CEREMONY_SECONDS).await?;
    Ok((ceremony, serde_json::to_value(options).map_err(|e| PasskeyError::State(e.to_string()))?))
}

/// A passkey authentication that succeeded.
#[derive(Debug, Clone)]
pub struct Proof {
    pub account: AccountId,
    pub passkey: PasskeyRecord,
    /// `hwk` (device-bound) or `swk` (synced), and `user` (verified).
    pub methods: [&'static str; 2],
}

/// Finishes an authentication started with `purpose`.
pub async fn finish_authentication(
    app: &Services,
    purpose: Purpose,
    ceremony: &str,
    credential: &str,
) -> Result<Proof, PasskeyError> {
    let webauthn = webauthn(app)?;
    let now = now();
    let state = app
        .store
        .take_ceremony(ceremony, purpose.account(), purpose.kind(), now)
        .await?
        .ok_or(PasskeyError::Expired)?;
    let credential: PublicKeyCredential =
        serde_json::from_str(credential).map_err(|e| PasskeyError::Malformed(e.to_string()))?;
    let record = app
        .store
        .passkey_by_credential(&credential_key(credential.get_credential_id()))
        .await?
        .ok_or(PasskeyError::Unknown)?;
    if purpose.account().is_some_and(|account| account != record.account_id) {
        return Err(PasskeyError::Unknown);
    }
    if let Purpose::Reproof(_, since, until) = purpose
        && (!enrolled_after(&record, since) || until.is_some_and(|until| record.created_at >= until))
    {
        return Err(PasskeyError::Unknown);
    }
    let mut passkey: Passkey = parse(&record.passkey)?;
    let result = match purpose {
        Purpose::SignIn => {
            let (handle, _) = webauthn
                .identify_discoverable_authentication(&credential)
                .map_err(|e| PasskeyError::Refused(e.to_string()))?;
            if handle != user_handle(app, record.account_id) {
                return Err(PasskeyError::Unknown);
            }
            let state: DiscoverableAuthentication = parse(&state)?;
            webauthn.finish_discoverable_authentication_v2(&credential, state, &passkey)
        }
        _ => {
            let state: PasskeyAuthentication = parse(&state)?;
            webauthn.finish_passkey_authentication(&credential, &state)
        }
    }
    .map_err(|e| PasskeyError::Refused(e.to_string()))?;
    if !result.user_verified() {
        return Err(PasskeyError::Refused("the authenticator did not verify the person".into()));
    }
    passkey.update_credential(&result);
    app.store.passkey_used(&record.id, &json(&passkey)?, now).await?;
    let held = if result.backup_eligible() { "swk" } else { "hwk" };
    Ok(Proof { account: record.account_id, passkey: record, methods: [held, "user"] })
}

/// Renames one of the person's passkeys, as one act with `passkey_renamed`; false if the
/// name is empty or the passkey is not theirs.
pub async fn rename(
    store: &Store,
    account: AccountId,
    id: &str,
    name: &str,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let name: String = name.trim().chars().filter(|c| !c.is_control()).take(NAME_MAX).collect();
    if name.is_empty() {
        return Ok(false);
    }
    store
        .act("passkey_renamed", async |tx: &mut Tx| {
            let renamed = tx.rename_passkey(account, id, &name).await?;
            if renamed {
                tx.event(actor.event(EventKind::PasskeyRenamed, Some(account), &format!("passkey={name}")));
            }
            Ok(renamed)
        })
        .await
}

/// Removes one of the person's passkeys, as one act with `passkey_removed`; false if it
/// was already gone.
pub async fn remove(
    store: &Store,
    account: AccountId,
    passkey: &PasskeyRecord,
    actor: &Actor,
) -> Result<bool, StoreError> {
    store
        .act("passkey_removed", async |tx: &mut Tx| {
            let removed = tx.remove_passkey(account, &passkey.id).await?;
            if removed {
                tx.event(actor.event(EventKind::PasskeyRemoved, Some(account), &format!("passkey={}", passkey.name)));
            }
            Ok(removed)
        })
        .await
}
