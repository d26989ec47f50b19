//! The person's account page (`/account`), composed above the capabilities whose parts it
//! shows: the account and its sessions (accounts), the second factors and the level
//! (assurance), the sites that receive the person's data (consent). It sits beside the
//! composition roots, so no capability imports another for it; its forms that change one
//! capability's data call that capability's core and come back here.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::AppState;
use crate::accounts::signin::{self, ChangeOutcome};
use crate::accounts::{self, Actor};
use crate::calendar::format_time;
use crate::store::{Account, SessionRecord};
use crate::web::client::ClientMeta;
use crate::web::error::{PageError, PageResult};
use crate::web::form::{CsrfForm, PageQuery};
use crate::web::page::{Chrome, FieldErrors, render};
use crate::web::session::SignedIn;
use crate::{assurance, consent};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(account))
        .route("/account/password", post(change_password))
        .route("/account/consents/withdraw", post(withdraw_consent))
}

#[derive(Template)]
#[template(path = "accounts/account.html")]
pub struct AccountPage {
    pub c: Chrome,
    pub account: Account,
    pub curp_state: String,
    pub sessions: Vec<SessionRow>,
    pub connections: Vec<ConnectionRow>,
    pub security: assurance::security::SecurityView,
    pub errors: FieldErrors,
    pub notice: Option<String>,
}

pub struct SessionRow {
    pub id: String,
    pub current: bool,
    pub started: String,
    pub last_seen: String,
    pub address: String,
    pub user_agent: String,
}

impl SessionRow {
    pub fn new(c: &Chrome, record: &SessionRecord, current_id: &str) -> SessionRow {
        SessionRow {
            id: record.id.clone(),
            current: record.id == current_id,
            started: format_time(record.created_at),
            last_seen: format_time(record.last_seen_at),
            address: record.client_address.clone(),
            user_agent: crate::web::words::device(c.lang, &record.user_agent),
        }
    }
}

/// A site the person signed in to or shared data with, and what it receives.
pub struct ConnectionRow {
    pub client_id: String,
    pub client: String,
    pub entity: String,
    pub receives: Vec<String>,
    pub consented: bool,
    pub since: String,
    pub last_sign_in: String,
}

async fn account_page(
    app: &AppState,
    c: Chrome,
    s: &SignedIn,
    errors: FieldErrors,
    notice: Option<String>,
    status: StatusCode,
) -> PageResult {
    let records = app.store.open_sessions(s.account.id).await.map_err(|e| PageError::internal(c.lang, e))?;
    let sessions = records.iter().map(|r| SessionRow::new(&c, r, &s.session.id)).collect();
    let curp_state = curp::State::parse(&s.account.birth_state).map(|st| st.name().to_string()).unwrap_or_default();
    let connections = app
        .store
        .account_connections(s.account.id)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?
        .into_iter()
        .map(|connection| {
            let scope = connection.consented_scope.as_deref().unwrap_or("");
            ConnectionRow {
                receives: consent::words::consent_items(&c, scope.split(' '), &connection.allowed_claims),
                consented: connection.consented_scope.is_some(),
                since: connection.consented_at.map(format_time).unwrap_or_default(),
                last_sign_in: connection.last_sign_in.map(format_time).unwrap_or_default(),
                client_id: connection.client_id,
                client: connection.client_name,
                entity: connection.entity_name,
            }
        })
        .collect();
    let security = assurance::security::security_view(app, &c, s).await.map_err(|e| PageError::internal(c.lang, e))?;
    let page = AccountPage {
        c: c.signed_in(),
        account: s.account.clone(),
        curp_state,
        sessions,
        connections,
        security,
        errors,
        notice,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NoticeQuery {
    notice: Option<String>,
    error: Option<String>,
}

async fn account(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    PageQuery(query): PageQuery<NoticeQuery>,
) -> PageResult {
    let notice = match query.notice.as_deref() {
        Some("password_changed") => Some(c.t("password-changed")),
        Some("session_ended") => Some(c.t("session-ended")),
        Some("confirmation_sent") => Some(c.t("confirmation-resent")),
        Some("consent_withdrawn") => Some(c.t("consent-withdrawn")),
        Some(key @ ("passkey_added" | "passkey_removed" | "passkey_renamed" | "totp_removed" | "totp_enabled")) => {
            Some(c.t(&format!("notice-{}", key.replace('_', "-"))))
        }
        _ => None,
    };
    let mut errors = FieldErrors::default();
    if let Some(key @ ("fresh_auth_needed" | "factor_first" | "passkey_name" | "passkey_unknown")) =
        query.error.as_deref()
    {
        errors.add("security", c.t(&format!("error-{}", key.replace('_', "-"))));
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    account_page(&app, c, &s, errors, notice, status).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WithdrawConsentForm {
    client_id: String,
}

/// Withdraws the consent given to a site: it has to ask again, and every token it holds
/// for the person stops working at once.
async fn withdraw_consent(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<WithdrawConsentForm>,
) -> PageResult {
    // One act: the consent, the client's grants and the event (consent capability).
    let which = consent::Withdraw::SignIn(&form.client_id);
    consent::withdraw(&app, s.account.id, which, &Actor::from(&client))
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    Ok(Redirect::to("/account?notice=consent_withdrawn").into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChangePasswordForm {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<ChangePasswordForm>,
) -> PageResult {
    let actor = Actor::from(&client);
    let outcome =
        signin::change_password(&app, &s.account, &s.session.id, &form.current_password, &form.new_password, &actor)
            .await
            .map_err(|e| PageError::internal(c.lang, e))?;
    match outcome {
        ChangeOutcome::Changed => Ok(Redirect::to("/account?notice=password_changed").into_response()),
        ChangeOutcome::Invalid(problems) => {
            let errors = accounts::field_errors(&c, &problems);
            account_page(&app, c, &s, errors, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        ChangeOutcome::Throttled => {
            let mut errors = FieldErrors::default();
            errors.add("current_password", c.t("signin-throttled"));
            account_page(&app, c, &s, errors, None, StatusCode::TOO_MANY_REQUESTS).await
        }
    }
}
