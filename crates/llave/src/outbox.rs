//! The outbox worker: delivers what acts queued (`store::outbox`) — mail, password-reset
//! jobs, back-channel logouts — with retries and back-off. Every node runs one; claims are
//! leases, so any node may deliver a message and two never hold it at once. Delivery is at
//! least once (a node that dies after delivering and before marking the message done
//! leaves it to be delivered again when the lease ends); each message carries a stable id
//! for receivers to deduplicate (docs/ARCHITECTURE.md).
//!
//! Like `crate::reactions`, this is where capabilities meet: it hands each kind of message to
//! the capability that owns it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::crypto::now;
use crate::i18n::Lang;
use crate::store::outbox::OutboxMessage;
use crate::{AppState, Services};

/// Starts the worker of this process. It stops by itself once the services are gone.
pub fn spawn_worker(app: &AppState) {
    let weak = Arc::downgrade(&app.0);
    tokio::spawn(async move {
        loop {
            if !deliver_due(&weak).await {
                return;
            }
            let Some(store) = weak.upgrade().map(|app| app.store.clone()) else { return };
            // Woken at once when an act of this process queues a message; every second
            // for the other nodes' messages and for retries.
            let _ = tokio::time::timeout(Duration::from_secs(1), store.outbox_wake().notified()).await;
        }
    });
}

/// Delivers every due message; `false` once the services are gone (the process is ending).
async fn deliver_due(weak: &Weak<Services>) -> bool {
    loop {
        let Some(app) = weak.upgrade() else { return false };
        if app.store.pool().is_closed() {
            return false;
        }
        let message = match app.store.claim_outbox(now(), app.config.outbox.lease_seconds).await {
            Ok(Some(message)) => message,
            Ok(None) => return true,
            Err(error) => {
                if !app.store.pool().is_closed() {
                    tracing::warn!(%error, "cannot read the outbox");
                }
                return true;
            }
        };
        let outcome = deliver(&app, &message).await;
        let policy = Retry::of(&message.kind);
        let written = match outcome {
            Ok(()) => app.store.outbox_done(message.id, now()).await,
            Err(cause) if message.attempts >= policy.attempts => {
                tracing::error!(message = message.id, kind = message.kind, %cause, "giving up on an outbox message");
                app.store.outbox_done(message.id, now()).await
            }
            Err(cause) => {
                let wait = policy.wait_after(message.attempts);
                tracing::warn!(message = message.id, kind = message.kind, attempts = message.attempts, %cause,
                    "outbox message not delivered; will retry");
                app.store.outbox_failed(message.id, now() + wait, &cause).await
            }
        };
        if let Err(error) = written {
            tracing::warn!(%error, message = message.id, "cannot update the outbox");
            return true;
        }
    }
}

async fn deliver(app: &Services, message: &OutboxMessage) -> Result<(), String> {
    let lang = Lang::parse(&message.lang).unwrap_or_default();
    match message.kind.as_str() {
        crate::oidc::logout::BACKCHANNEL_LOGOUT => {
            crate::oidc::logout::deliver(app, &message.message_id, &message.payload).await
        }
        crate::consent::artefacts::NOTICE => {
            crate::consent::artefacts::deliver_notice(app, &message.message_id, &message.payload).await
        }
        kind @ (crate::accounts::mail_jobs::MAIL
        | crate::accounts::mail_jobs::PASSWORD_RESET
        | crate::accounts::mail_jobs::RECOVERY_RESET) => {
            crate::accounts::mail_jobs::deliver(app, kind, &message.message_id, &message.payload, lang).await
        }
        other => {
            tracing::error!(kind = other, "unknown kind of outbox message");
            Ok(())
        }
    }
}

/// How often and how long a kind of message is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retry {
    /// The first wait, in seconds; each later wait is `factor` times the one before.
    first: i64,
    factor: i64,
    /// The longest wait.
    most: i64,
    /// Attempts before giving up.
    attempts: i64,
}

impl Retry {
    fn of(kind: &str) -> Retry {
        match kind {
            // A relying party's logout endpoint: 1 s, 4 s, 16 s … up to 10 min, for about 1.5 h.
            crate::oidc::logout::BACKCHANNEL_LOGOUT => Retry { first: 1, factor: 4, most: 600, attempts: 12 },
            // A third party's notification endpoint: the same, a little longer (about 5 h).
            crate::consent::artefacts::NOTICE => Retry { first: 1, factor: 4, most: 1800, attempts: 14 },
            // Mail: 30 s, 1 min, 2 min … up to an hour, for about two days.
            _ => Retry { first: 30, factor: 2, most: 3600, attempts: 40 },
        }
    }

    /// The wait after the `attempts`-th failed attempt (1 for the first).
    fn wait_after(self, attempts: i64) -> i64 {
        let mut wait = self.first;
        for _ in 1..attempts.max(1) {
            wait = wait.saturating_mul(self.factor);
            if wait >= self.most {
                return self.most;
            }
        }
        wait.min(self.most)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_their_ceiling() {
        let logout = Retry::of(crate::oidc::logout::BACKCHANNEL_LOGOUT);
        assert_eq!([1, 2, 3, 4, 5, 6].map(|n| logout.wait_after(n)), [1, 4, 16, 64, 256, 600]);
        assert_eq!(logout.wait_after(100), 600);
        let mail = Retry::of(crate::accounts::mail_jobs::MAIL);
        assert_eq!([1, 2, 3, 8, 9, 40].map(|n| mail.wait_after(n)), [30, 60, 120, 3600, 3600, 3600]);
    }
}
