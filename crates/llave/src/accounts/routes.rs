//! The HTTP edge of accounts: extract, call the core, render. Every form goes through
//! `CsrfForm`; every page is rendered in the person's language.

use axum::Router;
use axum::extract::State;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::links::{self, Confirmation, ResetOutcome};
use super::pages::*;
use super::signin::{self, SignInOutcome};
use super::signup::{self, Origin, SignupError, SignupInput};
use super::{Actor, device, sessions};
use crate::AppState;
use crate::metrics::SignIn;
use crate::store::EventKind;
use crate::store::email_tokens::LinkState;
use crate::web::client::ClientMeta;
use crate::web::csrf::RotateCsrf;
use crate::web::error::{PageError, PageResult};
use crate::web::form::{CsrfForm, PageQuery};
use crate::web::headers::allow_form_targets;
use crate::web::page::{Chrome, FieldErrors, render};
use crate::web::session::{SESSION_COOKIE, SignedIn, safe_next};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signup", get(signup_form).post(signup_submit))
        .route("/signin", get(signin_form).post(signin_submit))
        .route("/signout", post(signout))
        .route("/confirm", get(confirm))
        .route("/account/sessions/end", post(end_session))
        .route("/account/confirm/resend", post(resend_confirmation))
        .route("/password/forgot", get(forgot_form).post(forgot_submit))
        .route("/password/reset", get(reset_form).post(reset_submit))
}

fn message(c: Chrome, status: StatusCode, title: &str, text: String, href: &str, link: &str) -> Response {
    let page = MessagePage { title: c.t(title), message: text, link_href: href.to_string(), link_text: c.t(link), c };
    render(status, &page)
}

async fn home(c: Chrome, signed_in: Option<SignedIn>) -> Response {
    let name = signed_in.as_ref().map(|s| s.account.given_names.clone());
    let c = if signed_in.is_some() { c.signed_in() } else { c };
    render(StatusCode::OK, &HomePage { c, name })
}

// ----- sign-up -----

async fn signup_form(c: Chrome, signed_in: Option<SignedIn>) -> Response {
    if signed_in.is_some() {
        return Redirect::to("/account").into_response();
    }
    render(StatusCode::OK, &signup_page(c, FieldErrors::default(), &SignupInput::default()))
}

fn signup_page(c: Chrome, errors: FieldErrors, input: &SignupInput) -> SignupPage {
    SignupPage {
        c,
        errors,
        curp: input.curp.chars().take(40).collect(),
        given_names: input.given_names.chars().take(200).collect(),
        first_surname: input.first_surname.chars().take(200).collect(),
        second_surname: input.second_surname.chars().take(200).collect(),
        birth_date: input.birth_date.chars().take(20).collect(),
        email: input.email.chars().take(300).collect(),
    }
}

async fn signup_submit(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    CsrfForm(mut input): CsrfForm<SignupInput>,
) -> PageResult {
    // The web form never sets these: they come from the CURP.
    input.sex.clear();
    input.state.clear();
    match signup::register(&app, &input, Origin::SelfService, &Actor::from(&client), c.lang).await {
        // The same answer whether the account is new or the CURP or e-mail already had one
        // (its owner gets a notice by mail): the page never tells who has an account.
        Ok(_) | Err(SignupError::AlreadyRegistered) => {
            let text = c.t_with("signup-done-check-mail", &[("email", input.email.trim().to_string())]);
            Ok(message(c, StatusCode::OK, "signup-done-title", text, "/signin", "signin-button"))
        }
        Err(SignupError::Invalid(problems)) => {
            let errors = super::field_errors(&c, &problems);
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &signup_page(c, errors, &input)))
        }
        Err(SignupError::RegistryUnavailable(cause)) => {
            tracing::warn!(%cause, "population registry unavailable");
            let mut errors = FieldErrors::default();
            errors.add("curp", c.t("registry-unavailable"));
            Ok(render(StatusCode::SERVICE_UNAVAILABLE, &signup_page(c, errors, &input)))
        }
        Err(error) => Err(PageError::internal(c.lang, error)),
    }
}

// ----- sign-in and out -----

#[derive(Deserialize, Default)]
#[serde(default)]
struct NextQuery {
    next: Option<String>,
    signed_out: Option<String>,
    /// Set by the authorization endpoint when an entity asks for a fresh sign-in.
    reauth: Option<String>,
    login_hint: Option<String>,
}

async fn signin_form(
    State(app): State<AppState>,
    c: Chrome,
    signed_in: Option<SignedIn>,
    PageQuery(query): PageQuery<NextQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    let reauth = query.reauth.is_some();
    if signed_in.is_some() && !reauth {
        return Redirect::to(&next).into_response();
    }
    let notice = if reauth { Some(c.t("signin-again")) } else { query.signed_out.is_some().then(|| c.t("signed-out")) };
    let identifier = match (&signed_in, &query.login_hint) {
        (Some(s), _) => s.account.curp.clone(),
        (None, Some(hint)) => hint.chars().take(300).collect(),
        (None, None) => String::new(),
    };
    let c = if signed_in.is_some() { c.signed_in() } else { c };
    let targets = crate::web::redirect::redirect_uris_for_next(&app, &next).await;
    let page =
        SigninPage { c, passkeys: app.webauthn.is_some(), errors: FieldErrors::default(), identifier, next, notice };
    let mut response = render(StatusCode::OK, &page);
    allow_form_targets(&mut response, targets.iter().map(String::as_str));
    response
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SigninForm {
    identifier: String,
    password: String,
    next: String,
}

async fn signin_submit(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    headers: HeaderMap,
    previous: Option<SignedIn>,
    CsrfForm(form): CsrfForm<SigninForm>,
) -> PageResult {
    let next = safe_next(Some(&form.next));
    let identifier: String = form.identifier.trim().chars().take(300).collect();
    let targets = crate::web::redirect::redirect_uris_for_next(&app, &next).await;
    let refuse = |c: Chrome, status: StatusCode, text: Option<String>, key: &str| {
        let mut errors = FieldErrors::default();
        errors.add("identifier", text.unwrap_or_else(|| c.t(key)));
        let page = SigninPage {
            c,
            passkeys: app.webauthn.is_some(),
            errors,
            identifier: identifier.clone(),
            next: next.clone(),
            notice: None,
        };
        let mut response = render(status, &page);
        allow_form_targets(&mut response, targets.iter().map(String::as_str));
        response
    };
    if identifier.is_empty() || form.password.is_empty() {
        crate::metrics::sign_in(SignIn::Incomplete);
        return Ok(refuse(c, StatusCode::UNPROCESSABLE_ENTITY, None, "signin-missing"));
    }
    let actor = Actor::from(&client);
    let now = crate::crypto::now();
    let device_cookie = crate::web::cookies::get(&headers, &app.cookie_policy().name(device::DEVICE_COOKIE));
    let device = device_cookie.and_then(|value| device::verify(&app.csrf_key, &value, now));
    let outcome = signin::authenticate(&app, &identifier, &form.password, &actor, device.as_ref())
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    match outcome {
        SignInOutcome::Success(account) => {
            // This browser is now a device the person used: set at each right password.
            let value = device::issue(&app.csrf_key, account.id, now);
            let cookie = app.cookie_policy().set(device::DEVICE_COOKIE, &value, Some(device::DEVICE_SECONDS), "Strict");
            let device_header = HeaderValue::from_str(&cookie).ok();
            if let Some(mut response) = (app.second_step)(&app, &account, &next).await? {
                crate::metrics::sign_in(SignIn::SecondStep);
                response.headers_mut().extend(device_header.map(|v| (SET_COOKIE, v)));
                return Ok(response);
            }
            // A fresh sign-in replaces the session this browser had.
            if let Some(previous) = previous {
                sessions::end(&app, previous.account.id, &previous.session.id, EventKind::SignOut, &actor)
                    .await
                    .map_err(|e| PageError::internal(c.lang, e))?;
            }
            let token =
                sessions::start(&app, account.id, "pwd", &actor).await.map_err(|e| PageError::internal(c.lang, e))?;
            let cookie = app.cookie_policy().set(SESSION_COOKIE, &token, None, "Lax");
            let mut response = Redirect::to(&next).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(SET_COOKIE, value);
            }
            response.headers_mut().extend(device_header.map(|v| (SET_COOKIE, v)));
            response.extensions_mut().insert(RotateCsrf);
            crate::metrics::sign_in(SignIn::Success);
            Ok(response)
        }
        SignInOutcome::Invalid => {
            crate::metrics::sign_in(SignIn::Invalid);
            Ok(refuse(c, StatusCode::UNAUTHORIZED, None, "signin-invalid"))
        }
        SignInOutcome::Throttled(seconds) => {
            crate::metrics::sign_in(SignIn::Throttled);
            let text = c.t_with("signin-wait", &[("seconds", seconds.to_string())]);
            let mut response = refuse(c, StatusCode::TOO_MANY_REQUESTS, Some(text), "signin-throttled");
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
            Ok(response)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Empty {}

async fn signout(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    signed_in: Option<SignedIn>,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    if let Some(s) = signed_in {
        sessions::end(&app, s.account.id, &s.session.id, EventKind::SignOut, &Actor::from(&client))
            .await
            .map_err(|e| PageError::internal(c.lang, e))?;
    }
    let mut response = Redirect::to("/signin?signed_out=1").into_response();
    if let Ok(value) = HeaderValue::from_str(&app.cookie_policy().clear(SESSION_COOKIE)) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response.extensions_mut().insert(RotateCsrf);
    Ok(response)
}

// ----- e-mail confirmation -----

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenQuery {
    token: String,
}

fn link_refused(c: Chrome, state: LinkState) -> Response {
    let key = match state {
        LinkState::Used => "link-used",
        LinkState::Expired => "link-expired",
        LinkState::Unknown => "link-unknown",
    };
    let text = c.t(key);
    message(c, StatusCode::GONE, "link-refused-title", text, "/", "home-link")
}

async fn confirm(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    PageQuery(query): PageQuery<TokenQuery>,
) -> PageResult {
    if query.token.is_empty() || query.token.len() > 100 {
        return Ok(link_refused(c, LinkState::Unknown));
    }
    let outcome = links::confirm_email(&app, &query.token, &Actor::from(&client))
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    Ok(match outcome {
        Confirmation::Confirmed => {
            let text = c.t("confirm-done");
            message(c, StatusCode::OK, "confirm-done-title", text, "/signin", "signin-button")
        }
        Confirmation::AlreadyConfirmed => {
            let text = c.t("confirm-already");
            message(c, StatusCode::OK, "confirm-done-title", text, "/signin", "signin-button")
        }
        Confirmation::Refused(state) => link_refused(c, state),
    })
}

// ----- account page forms (the page itself is composed in `crate::account_page`) -----

#[derive(Deserialize, Default)]
#[serde(default)]
struct EndSessionForm {
    session_id: String,
}

async fn end_session(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<EndSessionForm>,
) -> PageResult {
    let actor = Actor::from(&client);
    // The event's reactions tell the entities the session signed in to.
    sessions::end(&app, s.account.id, &form.session_id, EventKind::SessionEnded, &actor)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    if form.session_id == s.session.id {
        let mut response = Redirect::to("/signin?signed_out=1").into_response();
        if let Ok(value) = HeaderValue::from_str(&app.cookie_policy().clear(SESSION_COOKIE)) {
            response.headers_mut().append(SET_COOKIE, value);
        }
        return Ok(response);
    }
    Ok(Redirect::to("/account?notice=session_ended").into_response())
}

async fn resend_confirmation(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    if s.account.email_confirmed_at.is_none() {
        let internal = |e: links::LinkError| PageError::internal(c.lang, crate::mail::loggable(&e));
        let mut tx = app.store.begin_act("confirmation_resent").await.map_err(|e| internal(e.into()))?;
        links::send_confirmation(&app, &mut tx, s.account.id, &s.account.email, c.lang).await.map_err(internal)?;
        tx.commit().await.map_err(|e| internal(e.into()))?;
    }
    Ok(Redirect::to("/account?notice=confirmation_sent").into_response())
}

// ----- password reset -----

/// Reset requests one address may make per hour, for any identifiers.
const RESET_REQUESTS_PER_ADDRESS_HOUR: i64 = 10;

async fn forgot_form(c: Chrome) -> Response {
    render(StatusCode::OK, &ForgotPage { c, errors: FieldErrors::default(), identifier: String::new() })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ForgotForm {
    identifier: String,
}

async fn forgot_submit(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> PageResult {
    let identifier: String = form.identifier.trim().chars().take(300).collect();
    if identifier.is_empty() {
        let mut errors = FieldErrors::default();
        errors.add("identifier", c.t("field-required"));
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &ForgotPage { c, errors, identifier }));
    }
    // Throttled per address here (the same for any identifier) and per person by the worker.
    let now = crate::crypto::now();
    let asked = app
        .store
        .throttle_record_failure(&format!("reset-address:{}", client.address), now, now - 3600)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    if asked > RESET_REQUESTS_PER_ADDRESS_HOUR {
        let mut errors = FieldErrors::default();
        errors.add("identifier", c.t("forgot-throttled"));
        return Ok(render(StatusCode::TOO_MANY_REQUESTS, &ForgotPage { c, errors, identifier }));
    }
    // Only queued: the worker looks the identifier up, so the answer takes the same time
    // whether or not the account exists.
    crate::accounts::mail_jobs::queue_reset(&app, &identifier, &Actor::from(&client), c.lang)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    let text = c.t("forgot-done");
    Ok(message(c, StatusCode::OK, "forgot-done-title", text, "/signin", "signin-button"))
}

async fn reset_form(State(app): State<AppState>, c: Chrome, PageQuery(query): PageQuery<TokenQuery>) -> PageResult {
    if query.token.is_empty() || query.token.len() > 100 {
        return Ok(link_refused(c, LinkState::Unknown));
    }
    match links::check_reset_link(&app, &query.token).await.map_err(|e| PageError::internal(c.lang, e))? {
        Ok(()) => Ok(render(StatusCode::OK, &ResetPage { c, errors: FieldErrors::default(), token: query.token })),
        Err(state) => Ok(link_refused(c, state)),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetForm {
    token: String,
    password: String,
}

async fn reset_submit(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> PageResult {
    if form.token.is_empty() || form.token.len() > 100 {
        return Ok(link_refused(c, LinkState::Unknown));
    }
    let outcome = links::reset_password(&app, &form.token, &form.password, &Actor::from(&client))
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    Ok(match outcome {
        ResetOutcome::Done { lowered } => {
            let text =
                if lowered { format!("{} {}", c.t("reset-done"), c.t("reset-lowered")) } else { c.t("reset-done") };
            message(c, StatusCode::OK, "reset-done-title", text, "/signin", "signin-button")
        }
        ResetOutcome::Invalid(problems) => {
            let errors = super::field_errors(&c, &problems);
            render(StatusCode::UNPROCESSABLE_ENTITY, &ResetPage { c, errors, token: form.token })
        }
        ResetOutcome::Refused(state) => link_refused(c, state),
    })
}
