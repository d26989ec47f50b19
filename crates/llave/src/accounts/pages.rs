//! The account pages' templates (under `templates/accounts/`) and the values they show.

use askama::Template;

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
