//! Starting and ending server-side sessions. The cookie holds a random token; the
//! database holds its hash, the methods used, the client and both expiries.

use super::Actor;
use crate::Services;
use crate::crypto::{now, random_id, random_token, token_hash};
use crate::store::{AccountId, EventKind, SessionStart, StoreError};

/// Opens a session and returns the token for the cookie.
pub async fn start(app: &Services, account: AccountId, methods: &str, actor: &Actor) -> Result<String, StoreError> {
    start_with(app, account, methods, None, actor).await
}

/// Opens a session; `reproved_at` when the sign-in itself re-proved the person (level 3).
pub async fn start_with(
    app: &Services,
    account: AccountId,
    methods: &str,
    reproved_at: Option<i64>,
    actor: &Actor,
) -> Result<String, StoreError> {
    let token = random_token();
    let now = now();
    let start = SessionStart {
        id: random_id(),
        token_hash: token_hash(&token),
        account_id: account,
        auth_methods: methods.to_string(),
        absolute_expires_at: now + app.config.session.absolute_hours * 3600,
        client_address: actor.address.clone(),
        user_agent: actor.user_agent.clone(),
        reproved_at,
    };
    app.store.create_session(&start, now).await?;
    app.store.record_event(EventKind::SignIn, Some(account), &actor.address, &actor.user_agent, methods, now).await?;
    Ok(token)
}

/// Ends one of the account's sessions (sign-out, or "end" on the account page).
pub async fn end(
    app: &Services,
    account: AccountId,
    session_id: &str,
    kind: EventKind,
    actor: &Actor,
) -> Result<bool, StoreError> {
    let now = now();
    let reason = match kind {
        EventKind::SignOut => "sign_out",
        _ => "ended_by_person",
    };
    let ended = app.store.end_session(account, session_id, reason, now).await?;
    if ended {
        app.store.record_event(kind, Some(account), &actor.address, &actor.user_agent, session_id, now).await?;
    }
    Ok(ended)
}
