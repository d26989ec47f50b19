//! One-time e-mail links: confirming the address (valid 24 hours) and resetting the
//! password (valid 30 minutes). The link carries 256 random bits; the database keeps
//! their hash. A reset ends every session and spends every other reset link.

use super::password::check_new_password;
use super::{Actor, Problem};
use crate::Services;
use crate::crypto::{now, random_token, token_hash};
use crate::i18n::Lang;
use crate::mail::{MailError, OutgoingMail};
use crate::store::email_tokens::LinkState;
use crate::store::{Account, AccountId, Event, EventKind, StoreError, TokenPurpose, Tx};

const CONFIRM_VALID_SECONDS: i64 = 24 * 3600;
const RESET_VALID_SECONDS: i64 = 30 * 60;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Hash(#[from] super::password::HashError),
}

async fn issue_link(
    tx: &mut Tx,
    account: AccountId,
    email: &str,
    purpose: TokenPurpose,
    valid_for: i64,
) -> Result<String, StoreError> {
    let token = random_token();
    let now = tx.at();
    tx.create_email_token(&token_hash(&token), account, purpose, email, now, now + valid_for).await?;
    Ok(token)
}

/// Tells the owner of an account that someone tried to sign up with its CURP or e-mail.
/// The sign-up page answers as if the account were new, so it reveals nothing; the person
/// who owns the data hears about it here.
pub async fn send_signup_attempt_notice(app: &Services, tx: &mut Tx, email: &str, lang: Lang) -> Result<(), LinkError> {
    let issuer = app.config.issuer();
    let mail = OutgoingMail {
        to: email.to_string(),
        subject: lang.t("mail-signup-attempt-subject"),
        body: lang.t_with(
            "mail-signup-attempt-body",
            &[("signin", format!("{issuer}/signin")), ("reset", format!("{issuer}/password/forgot"))],
        ),
        message_id: None,
    };
    super::mail_jobs::queue_mail(tx, &mail, lang).await?;
    Ok(())
}

/// Issues an e-mail confirmation link and queues the mail that carries it, in `tx`.
pub async fn send_confirmation(
    app: &Services,
    tx: &mut Tx,
    account: AccountId,
    email: &str,
    lang: Lang,
) -> Result<(), LinkError> {
    let token = issue_link(tx, account, email, TokenPurpose::ConfirmEmail, CONFIRM_VALID_SECONDS).await?;
    let link = format!("{}/confirm?token={token}", app.config.issuer());
    let mail = OutgoingMail {
        to: email.to_string(),
        subject: lang.t("mail-confirm-subject"),
        body: lang.t_with("mail-confirm-body", &[("link", link)]),
        message_id: None,
    };
    super::mail_jobs::queue_mail(tx, &mail, lang).await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed,
    /// The link was fine but the address had been confirmed already, or changed.
    AlreadyConfirmed,
    Refused(LinkState),
}

pub async fn confirm_email(app: &Services, token: &str, actor: &Actor) -> Result<Confirmation, StoreError> {
    let mut tx = app.store.begin_act("email_confirmed").await?;
    let now = tx.at();
    let confirmation = match tx.use_email_token(&token_hash(token), TokenPurpose::ConfirmEmail, now).await? {
        Ok(link) => {
            if tx.confirm_email(link.account_id, &link.email, now).await? {
                let event = Event::security(
                    EventKind::EmailConfirmed,
                    Some(link.account_id),
                    &actor.address,
                    &actor.user_agent,
                    "",
                );
                tx.event(event);
                Confirmation::Confirmed
            } else {
                Confirmation::AlreadyConfirmed
            }
        }
        Err(state) => Confirmation::Refused(state),
    };
    tx.commit().await?;
    Ok(confirmation)
}

/// Sends a reset link if `identifier` (CURP or e-mail) names an account, at most
/// `RESET_MAILS_PER_HOUR` an hour to one person. Run by the mail worker (`mail_jobs`), off
/// the request path: the form answers the same, as fast, whether or not the account exists.
pub async fn request_reset(app: &Services, identifier: &str, actor: &Actor, lang: Lang) -> Result<(), LinkError> {
    let Some(account) = super::signin::find_account(app, identifier).await? else {
        return Ok(());
    };
    if account.email.is_empty() {
        // Opened at the counter without e-mail: access is restored at the counter.
        return Ok(());
    }
    let now = now();
    let sent = app.store.throttle_record_failure(&format!("reset-mail:{}", account.id.0), now, now - 3600).await?;
    if sent > super::mail_jobs::RESET_MAILS_PER_HOUR {
        tracing::info!(account = account.id.0, "password reset mail not sent: too many this hour");
        return Ok(());
    }
    send_reset_link(app, &account, actor, lang).await
}

/// Issues a reset link for `account` and queues the mail that carries it (the officer's
/// recovery in person sends one without the hourly limit).
pub async fn send_reset_link(app: &Services, account: &Account, actor: &Actor, lang: Lang) -> Result<(), LinkError> {
    let mut tx = app.store.begin_act("password_reset_requested").await?;
    let token =
        issue_link(&mut tx, account.id, &account.email, TokenPurpose::ResetPassword, RESET_VALID_SECONDS).await?;
    tx.event(Event::security(
        EventKind::PasswordResetRequested,
        Some(account.id),
        &actor.address,
        &actor.user_agent,
        "",
    ));
    let link = format!("{}/password/reset?token={token}", app.config.issuer());
    let mail = OutgoingMail {
        to: account.email.clone(),
        subject: lang.t("mail-reset-subject"),
        body: lang.t_with("mail-reset-body", &[("link", link)]),
        message_id: None,
    };
    super::mail_jobs::queue_mail(&mut tx, &mail, lang).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether a reset link can still be used (to show the form or an error page).
pub async fn check_reset_link(app: &Services, token: &str) -> Result<Result<(), LinkState>, StoreError> {
    Ok(app.store.peek_email_token(&token_hash(token), TokenPurpose::ResetPassword, now()).await?.map(|_| ()))
}

#[derive(Debug)]
pub enum ResetOutcome {
    /// `lowered`: the reset suspended the verified identity (level 2) until a passkey or
    /// a new verification restores it.
    Done {
        lowered: bool,
    },
    Invalid(Vec<Problem>),
    Refused(LinkState),
}

/// Sets a new password through a reset link: the policy is checked before the link is
/// spent, so a refused password does not burn the link.
pub async fn reset_password(
    app: &crate::AppState,
    token: &str,
    new_password: &str,
    actor: &Actor,
) -> Result<ResetOutcome, LinkError> {
    let hash = token_hash(token);
    let link = match app.store.peek_email_token(&hash, TokenPurpose::ResetPassword, now()).await? {
        Ok(link) => link,
        Err(state) => return Ok(ResetOutcome::Refused(state)),
    };
    let Some(account) = app.store.account_by_id(link.account_id).await? else {
        return Ok(ResetOutcome::Refused(LinkState::Unknown));
    };
    let personal =
        [account.curp.as_str(), account.given_names.as_str(), account.first_surname.as_str(), account.email.as_str()];
    if let Err(problem) = check_new_password(new_password, &personal) {
        return Ok(ResetOutcome::Invalid(vec![Problem::new("password", problem.message_key())]));
    }
    let password_hash = app.passwords.hash(new_password).await?;
    // One act: the link is spent, the password set, the other reset links and every session
    // end, and the event's reactions pause the verified level (and with it the signature).
    let mut tx = app.store.begin_act("password_reset").await?;
    let now = tx.at();
    // Spend the link now; if another request spent it meanwhile, this one loses.
    if let Err(state) = tx.use_email_token(&hash, TokenPurpose::ResetPassword, now).await? {
        return Ok(ResetOutcome::Refused(state));
    }
    tx.set_password(account.id, &password_hash, now).await?;
    tx.revoke_email_tokens(account.id, TokenPurpose::ResetPassword, now).await?;
    super::sessions::end_all_in(&mut tx, account.id, None, "password_reset", actor).await?;
    tx.event(Event::security(EventKind::PasswordReset, Some(account.id), &actor.address, &actor.user_agent, ""));
    let events = tx.commit().await?;
    let lowered = events.iter().any(|e| e.kind == EventKind::AssuranceLowered);
    Ok(ResetOutcome::Done { lowered })
}
