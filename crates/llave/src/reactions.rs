//! Reactions: the consequences one capability's events have in another, run inside the act
//! that wrote the event (see `store::act`). This module and the outbox worker
//! (`crate::outbox`) are where the capabilities meet; no capability calls another's
//! handlers to make a consequence happen, and none imports this module.
//!
//! | event | reaction |
//! | --- | --- |
//! | `sign_out`, `session_ended`, `session_expired` | oidc: the session's grants are revoked; back-channel logouts queued in the outbox |
//! | `access_recovered` (officer) | accounts: every session ends; signature: the signing certificates are revoked |
//! | `password_reset` | assurance: the verified level is paused, unless an officer's recovery led to it |
//! | `assurance_lowered` | signature: the signing certificates are revoked (only verified people sign) |
//! | `signature_revocation_asked` (officer desk) | signature: the signing certificates are revoked, for the reason given |

use std::future::Future;
use std::pin::Pin;

use crate::store::{Event, EventKind, Reactor, StoreError, Tx};

pub struct Reactions;

impl Reactor for Reactions {
    fn react<'a>(
        &'a self,
        tx: &'a mut Tx,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>> {
        Box::pin(react(tx, event))
    }
}

async fn react(tx: &mut Tx, event: &Event) -> Result<(), StoreError> {
    if let Some(session) = event.ended_session() {
        crate::oidc::logout::on_session_ended(tx, session).await?;
    }
    let Some(account) = event.account else { return Ok(()) };
    match event.kind {
        EventKind::AccessRecovered => {
            crate::accounts::sessions::end_all_in(tx, account, None, "access_recovered", &actor(event)).await?;
            crate::signature::revoke_in(tx, account, "access_recovered", &actor(event)).await?;
        }
        EventKind::PasswordReset => crate::assurance::on_password_reset(tx, account, &actor(event)).await?,
        EventKind::AssuranceLowered => {
            crate::signature::revoke_in(tx, account, "assurance_lost", &actor(event)).await?;
        }
        EventKind::SignatureRevocationAsked => {
            let reason = event.detail.as_deref().unwrap_or("asked");
            crate::signature::revoke_in(tx, account, reason, &actor(event)).await?;
        }
        _ => {}
    }
    Ok(())
}

/// The consequences are recorded as done from where the cause came from.
fn actor(event: &Event) -> crate::accounts::Actor {
    crate::accounts::Actor { address: event.client_address.clone(), user_agent: event.user_agent.clone() }
}
