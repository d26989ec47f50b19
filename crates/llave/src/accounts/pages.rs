//! The account pages' templates (under `templates/accounts/`) and the values they show.

use askama::Template;

use crate::calendar::format_time;
use crate::store::{Account, SessionRecord};
use crate::web::page::{Chrome, FieldErrors};

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub c: Chrome,
    pub name: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts/signup.html")]
pub struct SignupPage {
    pub c: Chrome,
    pub errors: FieldErrors,
    pub curp: String,
    pub given_names: String,
    pub first_surname: String,
    pub second_surname: String,
    pub birth_date: String,
    pub email: String,
}

#[derive(Template)]
#[template(path = "accounts/signin.html")]
pub struct SigninPage {
    pub c: Chrome,
    /// Offer "sign in with a passkey" (llave is reached at a domain name).
    pub passkeys: bool,
    pub errors: FieldErrors,
    pub identifier: String,
    pub next: String,
    pub notice: Option<String>,
}

/// A page with a heading, a message and a link onwards.
#[derive(Template)]
#[template(path = "accounts/message.html")]
pub struct MessagePage {
    pub c: Chrome,
    pub title: String,
    pub message: String,
    pub link_href: String,
    pub link_text: String,
}

#[derive(Template)]
#[template(path = "accounts/account.html")]
pub struct AccountPage {
    pub c: Chrome,
    pub account: Account,
    pub curp_state: String,
    pub sessions: Vec<SessionRow>,
    pub connections: Vec<ConnectionRow>,
    pub security: crate::assurance::security::SecurityView,
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
    pub fn new(record: &SessionRecord, current_id: &str) -> SessionRow {
        SessionRow {
            id: record.id.clone(),
            current: record.id == current_id,
            started: format_time(record.created_at),
            last_seen: format_time(record.last_seen_at),
            address: record.client_address.clone(),
            user_agent: record.user_agent.clone(),
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

#[derive(Template)]
#[template(path = "accounts/forgot.html")]
pub struct ForgotPage {
    pub c: Chrome,
    pub errors: FieldErrors,
    pub identifier: String,
}

#[derive(Template)]
#[template(path = "accounts/reset.html")]
pub struct ResetPage {
    pub c: Chrome,
    pub errors: FieldErrors,
    pub token: String,
}
