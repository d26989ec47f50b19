//! The accounts' messages in the outbox (`store::outbox`, delivered by `crate::outbox`): mail
//! never leaves from the request path. A request writes one outbox row in its act and
//! answers; the worker delivers. So a slow or unreachable mail server never slows a page, a
//! crash between the answer and the delivery loses nothing, and — what the password-reset
//! form needs — the answer costs the same whether or not an account exists: the request
//! only queues the identifier; the worker looks it up.
//!
//! Kinds: `mail` sends a prepared message; `password_reset` resolves the identifier,
//! throttles per person (`RESET_MAILS_PER_HOUR`) and sends a reset link; `recovery_reset`
//! sends a reset link after an officer's recovery in person, without the hourly limit.

use serde::{Deserialize, Serialize};

use super::Actor;
use crate::Services;
use crate::i18n::Lang;
use crate::mail::OutgoingMail;
use crate::store::{AccountId, StoreError, Tx};

pub const MAIL: &str = "mail";
pub const PASSWORD_RESET: &str = "password_reset";
pub const RECOVERY_RESET: &str = "recovery_reset";
/// Reset mails one person receives at most per hour, whoever asks.
pub const RESET_MAILS_PER_HOUR: i64 = 3;

#[derive(Serialize, Deserialize)]
struct ResetJob {
    identifier: String,
    address: String,
    user_agent: String,
}

#[derive(Serialize, Deserialize)]
struct RecoveryJob {
    account_id: i64,
    address: String,
    user_agent: String,
}

#[derive(Serialize, Deserialize)]
struct MailJob {
    to: String,
    subject: String,
    body: String,
}

fn payload(job: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(job).map_err(|e| StoreError::Data(e.to_string()))
}

/// Queues `mail` in the act, to be sent once it commits. A mail to nobody (an account
/// opened at the counter without e-mail) is not queued.
pub async fn queue_mail(tx: &mut Tx, mail: &OutgoingMail, lang: Lang) -> Result<(), StoreError> {
    if mail.to.trim().is_empty() {
        return Ok(());
    }
    let job = MailJob { to: mail.to.clone(), subject: mail.subject.clone(), body: mail.body.clone() };
    tx.enqueue(MAIL, &payload(&job)?, lang.code()).await?;
    Ok(())
}

/// Queues a password reset for whatever account `identifier` names (or none), as an act of
/// its own.
pub async fn queue_reset(app: &Services, identifier: &str, actor: &Actor, lang: Lang) -> Result<(), StoreError> {
    let job = ResetJob {
        identifier: identifier.to_string(),
        address: actor.address.clone(),
        user_agent: actor.user_agent.clone(),
    };
    let mut tx = app.store.begin_act("password_reset_asked").await?;
    tx.enqueue(PASSWORD_RESET, &payload(&job)?, lang.code()).await?;
    tx.commit().await?;
    Ok(())
}

/// Queues the reset link an officer's recovery in person sends, in the recovery's act.
pub async fn queue_recovery_reset(
    tx: &mut Tx,
    account: AccountId,
    actor: &Actor,
    lang: Lang,
) -> Result<(), StoreError> {
    let job =
        RecoveryJob { account_id: account.0, address: actor.address.clone(), user_agent: actor.user_agent.clone() };
    tx.enqueue(RECOVERY_RESET, &payload(&job)?, lang.code()).await?;
    Ok(())
}

/// Delivers one of the accounts' outbox messages; `Err` asks the worker to retry later.
pub async fn deliver(app: &Services, kind: &str, message_id: &str, payload: &str, lang: Lang) -> Result<(), String> {
    match kind {
        MAIL => {
            let mail: MailJob = serde_json::from_str(payload).map_err(|e| e.to_string())?;
            let mail = OutgoingMail {
                to: mail.to,
                subject: mail.subject,
                body: mail.body,
                message_id: Some(message_id.into()),
            };
            app.mailer.send(&mail).await.map_err(|e| crate::mail::loggable(&e).to_string())
        }
        PASSWORD_RESET => {
            let reset: ResetJob = serde_json::from_str(payload).map_err(|e| e.to_string())?;
            let actor = Actor { address: reset.address, user_agent: reset.user_agent };
            super::links::request_reset(app, &reset.identifier, &actor, lang)
                .await
                .map_err(|e| crate::mail::loggable(&e).to_string())
        }
        RECOVERY_RESET => {
            let job: RecoveryJob = serde_json::from_str(payload).map_err(|e| e.to_string())?;
            let actor = Actor { address: job.address, user_agent: job.user_agent };
            let Some(account) = app.store.account_by_id(AccountId(job.account_id)).await.map_err(|e| e.to_string())?
            else {
                return Ok(());
            };
            super::links::send_reset_link(app, &account, &actor, lang)
                .await
                .map_err(|e| crate::mail::loggable(&e).to_string())
        }
        other => Err(format!("not an accounts message: {other}")),
    }
}
