//! Mail leaves through a queue (`store::mail_queue`), never from the request path: a request
//! writes one row and answers, and a worker delivers. So a slow or unreachable mail server
//! never slows a page, a crash between the answer and the delivery loses nothing (an
//! unfinished claim is taken again when its lease ends, by any node), and — what the
//! password-reset form needs — the answer costs the same whether or not an account exists:
//! the request only queues the identifier; the worker looks it up.
//!
//! Jobs: `mail` sends a prepared message; `password_reset` resolves the identifier, throttles
//! per person (`RESET_MAILS_PER_HOUR`) and sends a reset link.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Actor;
use crate::crypto::now;
use crate::i18n::Lang;
use crate::mail::OutgoingMail;
use crate::store::StoreError;
use crate::store::mail_queue::QueuedMail;
use crate::{AppState, Services};

const JOB_MAIL: &str = "mail";
const JOB_PASSWORD_RESET: &str = "password_reset";
/// How long a worker holds a claimed job before another may take it.
const LEASE_SECONDS: i64 = 120;
/// A job that fails is tried again after 30 s, 1 min, 2 min … up to an hour, for two days.
const MAX_ATTEMPTS: i64 = 40;
/// Reset mails one person receives at most per hour, whoever asks.
pub const RESET_MAILS_PER_HOUR: i64 = 3;

#[derive(Serialize, Deserialize)]
struct ResetJob {
    identifier: String,
    address: String,
    user_agent: String,
}

#[derive(Serialize, Deserialize)]
struct MailJob {
    to: String,
    subject: String,
    body: String,
}

/// Queues `mail`, to be sent by the worker.
pub async fn queue_mail(app: &Services, mail: &OutgoingMail, lang: Lang) -> Result<(), StoreError> {
    let job = MailJob { to: mail.to.clone(), subject: mail.subject.clone(), body: mail.body.clone() };
    let payload = serde_json::to_string(&job).map_err(|e| StoreError::Data(e.to_string()))?;
    app.store.enqueue_mail(JOB_MAIL, &payload, lang.code(), now()).await?;
    app.mail_wake.notify_one();
    Ok(())
}

/// Queues a password reset for whatever account `identifier` names (or none).
pub async fn queue_reset(app: &Services, identifier: &str, actor: &Actor, lang: Lang) -> Result<(), StoreError> {
    let job = ResetJob {
        identifier: identifier.to_string(),
        address: actor.address.clone(),
        user_agent: actor.user_agent.clone(),
    };
    let payload = serde_json::to_string(&job).map_err(|e| StoreError::Data(e.to_string()))?;
    app.store.enqueue_mail(JOB_PASSWORD_RESET, &payload, lang.code(), now()).await?;
    app.mail_wake.notify_one();
    Ok(())
}

/// Starts the worker of this process. It stops by itself once the services are gone.
pub fn spawn_worker(app: &AppState) {
    let weak = Arc::downgrade(&app.0);
    let wake = app.mail_wake.clone();
    tokio::spawn(async move {
        loop {
            if !deliver_due(&weak).await {
                return;
            }
            // Woken at once by a new job of this process; every few seconds for the others'
            // and for retries.
            let _ = tokio::time::timeout(Duration::from_secs(2), wake.notified()).await;
        }
    });
}

/// Delivers every due job; `false` once the services are gone (the process is ending).
async fn deliver_due(weak: &Weak<Services>) -> bool {
    loop {
        let Some(app) = weak.upgrade() else { return false };
        if app.store.pool().is_closed() {
            return false;
        }
        let job = match app.store.claim_mail(now(), LEASE_SECONDS).await {
            Ok(Some(job)) => job,
            Ok(None) => return true,
            Err(error) => {
                if !app.store.pool().is_closed() {
                    tracing::warn!(%error, "cannot read the mail queue");
                }
                return true;
            }
        };
        let outcome = run(&app, &job).await;
        let written = match outcome {
            Ok(()) => app.store.mail_done(job.id, now()).await,
            Err(cause) if job.attempts >= MAX_ATTEMPTS => {
                tracing::error!(job = job.id, %cause, "giving up on a queued mail");
                app.store.mail_done(job.id, now()).await
            }
            Err(cause) => {
                let backoff = (30_i64 << (job.attempts - 1).clamp(0, 7)).min(3600);
                tracing::warn!(job = job.id, attempts = job.attempts, %cause, "queued mail not delivered; will retry");
                app.store.mail_failed(job.id, now() + backoff, &cause).await
            }
        };
        if let Err(error) = written {
            tracing::warn!(%error, job = job.id, "cannot update the mail queue");
            return true;
        }
    }
}

async fn run(app: &Services, job: &QueuedMail) -> Result<(), String> {
    let lang = Lang::parse(&job.lang).unwrap_or_default();
    match job.job.as_str() {
        JOB_MAIL => {
            let mail: MailJob = serde_json::from_str(&job.payload).map_err(|e| e.to_string())?;
            let mail = OutgoingMail { to: mail.to, subject: mail.subject, body: mail.body };
            app.mailer.send(&mail).await.map_err(|e| crate::mail::loggable(&e).to_string())
        }
        JOB_PASSWORD_RESET => {
            let reset: ResetJob = serde_json::from_str(&job.payload).map_err(|e| e.to_string())?;
            let actor = Actor { address: reset.address, user_agent: reset.user_agent };
            super::links::request_reset(app, &reset.identifier, &actor, lang)
                .await
                .map_err(|e| crate::mail::loggable(&e).to_string())
        }
        other => {
            tracing::error!(job = other, "unknown job in the mail queue");
            Ok(())
        }
    }
}
