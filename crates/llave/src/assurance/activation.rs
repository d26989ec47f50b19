//! Activation codes (issue 14, item 11): a one-time code an officer prints for a person who
//! is present (when opening their account, or restoring access for a person without
//! e-mail), valid 72 hours. At `/activar` the person types their CURP, the code and the
//! password they choose, and is signed in. The code is random (60 bits, in an alphabet
//! without look-alike characters), shown once on the sheet and stored hashed; it is spent by
//! one conditional `UPDATE`; wrong guesses are throttled per CURP and per address, like
//! sign-in.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::officer::Desk;
use crate::AppState;
use crate::accounts::password::check_new_password;
use crate::accounts::{Actor, sessions};
use crate::crypto::token_hash;
use crate::store::activation_codes::CodeState;
use crate::store::{AccountId, EventKind, StoreError, Tx};
use crate::web::client::ClientMeta;
use crate::web::csrf::RotateCsrf;
use crate::web::error::{PageError, PageResult};
use crate::web::form::CsrfForm;
use crate::web::page::{Chrome, FieldErrors, render};
use crate::web::session::{SESSION_COOKIE, SignedIn};

/// How long a printed code can be used.
pub const VALID_SECONDS: i64 = 72 * 3600;
/// Capital letters and digits a person will not confuse on paper (no 0/O, 1/I): 32, so
/// each random byte picks one without bias.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 12;

pub fn routes() -> Router<AppState> {
    Router::new().route("/activar", get(form).post(submit))
}

/// A code just issued: shown once, on the sheet.
pub struct Issued {
    pub code: String,
    pub expires_at: i64,
}

/// A new random code, grouped for reading aloud: `ABCD-EFGH-JKMN`.
pub fn new_code() -> String {
    let mut bytes = [0u8; CODE_LENGTH];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let letters: Vec<char> = bytes.iter().map(|b| ALPHABET[usize::from(*b) % 32] as char).collect();
    letters.chunks(4).map(|group| group.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// A code as typed (any case, with or without dashes or spaces), as stored: its hash.
pub fn code_hash(typed: &str) -> String {
    let normalized: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    token_hash(&normalized)
}

/// Stores `code` for `account` (spending any earlier one) with its event, in the act.
pub async fn issue(
    tx: &mut Tx,
    desk: &Desk,
    account: AccountId,
    code: String,
    actor: &Actor,
) -> Result<Issued, StoreError> {
    let now = tx.at();
    let expires_at = now + VALID_SECONDS;
    tx.create_activation_code(&code_hash(&code), account, desk.officer, now, expires_at).await?;
    tx.event(desk.event(EventKind::ActivationCodeIssued, account, actor, &desk.detail("")));
    Ok(Issued { code, expires_at })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActivateForm {
    curp: String,
    code: String,
    password: String,
    password_confirm: String,
}

#[derive(Template)]
#[template(path = "assurance/activate.html")]
struct ActivatePage {
    c: Chrome,
    errors: FieldErrors,
    curp: String,
}

fn page(c: Chrome, errors: FieldErrors, curp: &str, status: StatusCode) -> Response {
    render(status, &ActivatePage { c, errors, curp: curp.chars().take(18).collect() })
}

async fn form(c: Chrome, signed_in: Option<SignedIn>) -> Response {
    if signed_in.is_some() {
        return Redirect::to("/account").into_response();
    }
    page(c, FieldErrors::default(), "", StatusCode::OK)
}

/// Throttling keys: per CURP as typed and per client address.
fn keys(app: &AppState, curp: &str, actor: &Actor) -> [(String, i64); 2] {
    let policy = &app.config.throttle;
    [
        (format!("activate:{}", curp.trim().to_uppercase()), policy.account_failures),
        (format!("activate-ip:{}", actor.address), policy.address_failures),
    ]
}

async fn submit(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    CsrfForm(form): CsrfForm<ActivateForm>,
) -> PageResult {
    let internal = |e| PageError::internal(c.lang, e);
    let actor = Actor::from(&client);
    let curp: String = form.curp.trim().chars().take(40).collect();
    let now = crate::crypto::now();
    let window_opened_after = now - app.config.throttle.window_minutes * 60;
    let keys = keys(&app, &curp, &actor);
    for (key, limit) in &keys {
        if app.store.throttle_failures(key, window_opened_after).await.map_err(internal)? >= *limit {
            let mut errors = FieldErrors::default();
            errors.add("code", c.t("signin-throttled"));
            let mut response = page(c, errors, &curp, StatusCode::TOO_MANY_REQUESTS);
            let wait = app.config.throttle.window_minutes * 60;
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(wait));
            return Ok(response);
        }
    }
    let mut errors = FieldErrors::default();
    for (field, value) in [("curp", &form.curp), ("code", &form.code), ("password", &form.password)] {
        if value.trim().is_empty() {
            errors.add(field, c.t("field-required"));
        }
    }
    if !errors.is_empty() {
        return Ok(page(c, errors, &curp, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let account = crate::accounts::signin::find_account(&app, &curp).await.map_err(internal)?;
    let hash = code_hash(&form.code);
    // The code first (so a wrong one says nothing about the password rules), without
    // spending it: it is spent with the new password, in one act.
    let officer = match &account {
        Some(account) => app.store.activation_code_officer(account.id, &hash, now).await.map_err(internal)?,
        None => None,
    };
    let (Some(account), Some(officer)) = (account, officer) else {
        return refused(&app, c, &curp, &keys, &actor, &hash, now).await;
    };
    let personal = [account.curp.as_str(), account.given_names.as_str(), account.first_surname.as_str()];
    if let Err(problem) = check_new_password(&form.password, &personal) {
        errors.add("password", c.t(problem.message_key()));
    } else if form.password != form.password_confirm {
        errors.add("password_confirm", c.t("password-confirm-mismatch"));
    }
    if !errors.is_empty() {
        return Ok(page(c, errors, &curp, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let desk = desk_of(&app, officer).await.map_err(internal)?;
    let password_hash = app.passwords.hash(&form.password).await.map_err(|e| PageError::internal(c.lang, e))?;

    let mut tx = app.store.begin_act("account_activated").await.map_err(internal)?;
    let now = tx.at();
    if tx.use_activation_code(account.id, &hash, now).await.map_err(internal)?.is_none() {
        // Spent by a request racing this one.
        drop(tx);
        return refused(&app, c, &curp, &keys, &actor, &hash, now).await;
    }
    tx.set_password(account.id, &password_hash, now).await.map_err(internal)?;
    for (key, _) in keys.iter().filter(|(key, _)| !key.starts_with("activate-ip:")) {
        tx.throttle_clear(key).await.map_err(internal)?;
    }
    tx.event(desk.event(EventKind::AccountActivated, account.id, &actor, &desk.detail("")));
    let lifetime = app.config.session.absolute_hours * 3600;
    let token = sessions::start_in(&mut tx, lifetime, account.id, "pwd", None, &actor).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    signed_in(&app, &token)
}

fn signed_in(app: &AppState, token: &str) -> PageResult {
    let cookie = app.cookie_policy().set(SESSION_COOKIE, token, None, "Lax");
    let mut response = Redirect::to("/account").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response.extensions_mut().insert(RotateCsrf);
    Ok(response)
}

/// The officer who issued a code, as the person will read them.
async fn desk_of(app: &AppState, officer: AccountId) -> Result<Desk, StoreError> {
    let account = app.store.account_by_id(officer).await?;
    let office = app.store.office_of(officer, super::officer::ROLE, crate::store::roles::HUB).await?;
    let (curp, name) = match account {
        Some(a) => (a.curp.clone(), format!("{} {}", a.given_names, a.first_surname)),
        None => (String::new(), String::new()),
    };
    Ok(Desk { officer, curp, name, office })
}

/// A wrong CURP or code, or one used or expired: counted against the CURP and the address,
/// and told in words the person can act on.
async fn refused(
    app: &AppState,
    c: Chrome,
    curp: &str,
    keys: &[(String, i64); 2],
    actor: &Actor,
    hash: &str,
    now: i64,
) -> PageResult {
    let internal = |e| PageError::internal(c.lang, e);
    let window_opened_after = now - app.config.throttle.window_minutes * 60;
    for (key, _) in keys {
        app.store.throttle_record_failure(key, now, window_opened_after).await.map_err(internal)?;
    }
    let account = crate::accounts::signin::find_account(app, curp).await.map_err(internal)?;
    let state = match &account {
        Some(account) => app.store.activation_code_state(account.id, hash, now).await.map_err(internal)?,
        None => CodeState::Unknown,
    };
    if let Some(account) = &account {
        let event = actor.event(EventKind::SignInFailed, Some(account.id), "activation code");
        app.store.record("activation_refused", event).await.map_err(internal)?;
    }
    let key = match state {
        CodeState::Unknown => "activate-invalid",
        CodeState::Used => "activate-used",
        CodeState::Expired => "activate-expired",
    };
    let mut errors = FieldErrors::default();
    errors.add("code", c.t(key));
    Ok(page(c, errors, curp, StatusCode::UNAUTHORIZED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_and_typed_any_way() {
        let code = new_code();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        assert_ne!(code, new_code());
        let typed = code.replace('-', " ").to_lowercase();
        assert_eq!(code_hash(&typed), code_hash(&code));
        assert_ne!(code_hash("AAAA-AAAA-AAAA"), code_hash("AAAA-AAAA-AAAB"));
    }
}
