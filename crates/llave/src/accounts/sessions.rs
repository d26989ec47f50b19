//! Starting and ending server-side sessions. The cookie holds a random token; the
//! database holds its hash, the methods used, the client and both expiries.

use super::Actor;
use crate::Services;
use crate::crypto::{random_id, random_token, token_hash};
use crate::store::{AccountId, Event, EventKind, SessionStart, StoreError, Tx};

/// Opens a session and returns the token for the cookie.
pub async fn start(app: &Services, account: AccountId, methods: &str, actor: &Actor) -> Result<String, StoreError> {
    start_with(app, account, methods, None, actor).await
}

/// Opens a session as an act of its own; `reproved_at` when the sign-in itself re-proved
/// the person (level 3).
pub async fn start_with(
    app: &Services,
    account: AccountId,
    methods: &str,
    reproved_at: Option<i64>,
    actor: &Actor,
) -> Result<String, StoreError> {
    let lifetime = app.config.session.absolute_hours * 3600;
    let mut tx = app.store.begin_act("sign_in").await?;
    let token = start_in(&mut tx, lifetime, account, methods, reproved_at, actor).await?;
    tx.commit().await?;
    Ok(token)
}

/// Opens a session within an act (with its `sign_in` event), ending at the latest
/// `lifetime` seconds from now; returns the token for the cookie.
pub async fn start_in(
    tx: &mut Tx,
    lifetime: i64,
    account: AccountId,
    methods: &str,
    reproved_at: Option<i64>,
    actor: &Actor,
) -> Result<String, StoreError> {
    let token = random_token();
    let now = tx.at();
    let start = SessionStart {
        id: random_id(),
        token_hash: token_hash(&token),
        account_id: account,
        auth_methods: methods.to_string(),
        absolute_expires_at: now + lifetime,
        client_address: actor.address.clone(),
        user_agent: actor.user_agent.clone(),
        reproved_at,
    };
    tx.create_session(&start, now).await?;
    tx.event(Event::security(EventKind::SignIn, Some(account), &actor.address, &actor.user_agent, methods));
    Ok(token)
}

/// Ends one of the account's sessions (sign-out, or "end" on the account page). The
/// event's reactions revoke the session's grants and tell the entities (back-channel logout).
pub async fn end(
    app: &Services,
    account: AccountId,
    session_id: &str,
    kind: EventKind,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let mut tx = app.store.begin_act("end_session").await?;
    let ended = end_in(&mut tx, account, session_id, kind, actor).await?;
    tx.commit().await?;
    Ok(ended)
}

/// Ends a session within an act; whoever ends it first records it (and so tells the
/// entities, once).
pub async fn end_in(
    tx: &mut Tx,
    account: AccountId,
    session_id: &str,
    kind: EventKind,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let reason = match kind {
        EventKind::SignOut => "sign_out",
        EventKind::SessionExpired => "expired",
        _ => "ended_by_person",
    };
    let now = tx.at();
    let ended = tx.end_session(account, session_id, reason, now).await?;
    if ended {
        tx.event(Event::security(kind, Some(account), &actor.address, &actor.user_agent, session_id));
    }
    Ok(ended)
}

/// Ends every open session of the account but `keep`, within an act: one `session_ended`
/// event each (their reactions tell the entities). Returns how many ended.
pub async fn end_all_in(
    tx: &mut Tx,
    account: AccountId,
    keep: Option<&str>,
    reason: &str,
    actor: &Actor,
) -> Result<usize, StoreError> {
    let now = tx.at();
    let ended = tx.end_other_sessions(account, keep, reason, now).await?;
    for session in &ended {
        tx.event(Event::security(EventKind::SessionEnded, Some(account), &actor.address, &actor.user_agent, session));
    }
    Ok(ended.len())
}
