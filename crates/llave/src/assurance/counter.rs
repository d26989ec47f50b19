//! Help at the counter (issue 14, item 11): an officer opens an account for a person who
//! is present (`/oficina/abrir`), identity checked as for level 2. The person types their
//! password on the officer's screen, or takes a printed one-time activation code valid
//! 72 hours (`activation`), with which they choose it at `/activar`. Either way the answer
//! is the sheet: one printable page in plain Spanish with their CURP, how to sign in and
//! how to get help. E-mail is optional: a person without one is not left out. Every act
//! names the officer and their office ("con ayuda de <name>, <office>").

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::DOCUMENT_KINDS;
use super::activation::{self, Issued};
use super::officer::{Desk, require_officer};
use crate::AppState;
use crate::accounts::signup::{self, Origin, PasswordChoice, SignupError, SignupInput};
use crate::accounts::{Actor, Problem, field_errors, links};
use crate::i18n::Lang;
use crate::store::assurance::NewVerification;
use crate::store::{AccountId, EventKind, NewAccount, StoreError};
use crate::web::client::ClientMeta;
use crate::web::error::{PageError, PageResult};
use crate::web::form::CsrfForm;
use crate::web::page::{Chrome, FieldErrors, render};
use crate::web::session::SignedIn;

pub fn routes() -> Router<AppState> {
    Router::new().route("/oficina/abrir", get(open_form).post(open_submit))
}

/// What the officer submits, as typed.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct OpenForm {
    curp: String,
    given_names: String,
    first_surname: String,
    second_surname: String,
    birth_date: String,
    email: String,
    document_kind: String,
    document_number: String,
    checked: String,
    /// `password` (typed now, twice) or `code` (a printed activation code).
    how: String,
    password: String,
    password_confirm: String,
}

#[derive(Template)]
#[template(path = "assurance/counter_open.html")]
struct OpenPage {
    c: Chrome,
    errors: FieldErrors,
    form: OpenForm,
    documents: Vec<(&'static str, String, bool)>,
}

fn open_page(c: Chrome, errors: FieldErrors, form: OpenForm, status: StatusCode) -> Response {
    let documents = DOCUMENT_KINDS.iter().map(|(kind, key)| (*kind, c.t(key), *kind == form.document_kind)).collect();
    let form = OpenForm { password: String::new(), password_confirm: String::new(), ..form };
    render(status, &OpenPage { c: c.signed_in(), errors, form, documents })
}

async fn open_form(State(app): State<AppState>, c: Chrome, s: SignedIn) -> PageResult {
    if let Err(answer) = require_officer(&app, &c, &s).await {
        return Ok(answer);
    }
    let form = OpenForm { how: "code".into(), ..OpenForm::default() };
    Ok(open_page(c, FieldErrors::default(), form, StatusCode::OK))
}

/// The sheet the person takes home: their CURP, how to sign in (and, with a code, how to
/// activate the account and until when), how to get help, and who helped them.
#[derive(Template)]
#[template(path = "assurance/counter_sheet.html")]
pub struct SheetPage {
    pub c: Chrome,
    pub name: String,
    pub curp: String,
    pub signin_address: String,
    pub activate_address: String,
    pub code: Option<String>,
    pub expires: String,
    pub helped_by: String,
    pub notice: String,
}

/// The sheet, after opening an account or restoring access.
pub fn sheet(
    app: &AppState,
    c: Chrome,
    desk: &Desk,
    person: &crate::store::Account,
    issued: Option<Issued>,
    notice: &str,
) -> Response {
    // The sheet is in plain Spanish, whatever language the desk's screen is in.
    let c = Chrome { lang: crate::i18n::Lang::Es, ..c };
    let issuer = app.config.issuer();
    let page = SheetPage {
        name: person.full_name(),
        curp: person.curp.clone(),
        signin_address: format!("{issuer}/signin"),
        activate_address: format!("{issuer}/activar"),
        expires: issued.as_ref().map(|i| crate::calendar::format_time(i.expires_at)).unwrap_or_default(),
        code: issued.map(|i| i.code),
        helped_by: match &desk.office {
            Some(office) => {
                c.t_with("counter-sheet-helped-at", &[("name", desk.name.clone()), ("office", office.clone())])
            }
            None => c.t_with("counter-sheet-helped", &[("name", desk.name.clone())]),
        },
        notice: c.t(notice),
        c: c.signed_in(),
    };
    render(StatusCode::OK, &page)
}

/// The identity document the officer checked: its cleaned number, or the problems.
pub fn checked_document(kind: &str, number: &str, checked: &str) -> Result<String, Vec<Problem>> {
    let number: String =
        number.chars().filter(|ch| ch.is_ascii_alphanumeric()).map(|ch| ch.to_ascii_uppercase()).collect();
    let mut problems = Vec::new();
    if !DOCUMENT_KINDS.iter().any(|(k, _)| *k == kind) {
        problems.push(Problem::new("document_kind", "field-required"));
    }
    if !(4..=30).contains(&number.len()) {
        problems.push(Problem::new("document_number", "officer-document-number"));
    }
    if checked != "yes" {
        problems.push(Problem::new("checked", "officer-must-check"));
    }
    if problems.is_empty() { Ok(number) } else { Err(problems) }
}

async fn open_submit(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<OpenForm>,
) -> PageResult {
    let desk = match require_officer(&app, &c, &s).await {
        Ok(desk) => desk,
        Err(answer) => return Ok(answer),
    };
    // Every problem at once: the document, the choice, the person's data.
    let mut problems = Vec::new();
    let number = checked_document(&form.document_kind, &form.document_number, &form.checked)
        .map_err(|found| problems.extend(found))
        .ok();
    let choice = match form.how.as_str() {
        "password" => Some(PasswordChoice::Now),
        "code" => Some(PasswordChoice::ActivationCode),
        _ => {
            problems.push(Problem::new("how", "counter-how-required"));
            None
        }
    };
    if choice == Some(PasswordChoice::Now) && form.password != form.password_confirm {
        problems.push(Problem::new("password_confirm", "password-confirm-mismatch"));
    }
    let input = SignupInput {
        curp: form.curp.clone(),
        given_names: form.given_names.clone(),
        first_surname: form.first_surname.clone(),
        second_surname: form.second_surname.clone(),
        birth_date: form.birth_date.clone(),
        email: form.email.clone(),
        password: form.password.clone(),
        ..SignupInput::default()
    };
    let new = match signup::prepare_at_counter(&app, &input, choice.unwrap_or(PasswordChoice::ActivationCode)).await {
        Ok(new) => Some(new),
        Err(SignupError::Invalid(found)) => {
            problems.extend(found);
            None
        }
        Err(SignupError::RegistryUnavailable(_)) => {
            problems.push(Problem::new("curp", "registry-unavailable"));
            None
        }
        Err(error) => return Err(PageError::internal(c.lang, error)),
    };
    let (Some(new), Some(number), Some(choice), true) = (new, number, choice, problems.is_empty()) else {
        let errors = field_errors(&c, &problems);
        return Ok(open_page(c, errors, form, StatusCode::UNPROCESSABLE_ENTITY));
    };

    let document = CheckedDocument { kind: &form.document_kind, number: &number };
    let code = (choice == PasswordChoice::ActivationCode).then(activation::new_code);
    match open_account(&app, &desk, &new, &document, code, &Actor::from(&client), c.lang).await {
        Ok((account, issued)) => opened(&app, c, &desk, account, issued).await,
        Err(SignupError::Invalid(found)) => {
            let errors = field_errors(&c, &found);
            Ok(open_page(c, errors, form, StatusCode::CONFLICT))
        }
        Err(error) => Err(PageError::internal(c.lang, error)),
    }
}

/// The identity document an officer checked in person.
pub struct CheckedDocument<'a> {
    pub kind: &'a str,
    /// Cleaned by [`checked_document`].
    pub number: &'a str,
}

/// Opens `new` in one act: the account, the in-person verification (level 2), the events
/// naming the officer, the activation code if there is one, the confirmation link if an
/// address was given. A CURP or an address that has an account: `SignupError::Invalid`.
pub async fn open_account(
    app: &AppState,
    desk: &Desk,
    new: &NewAccount,
    document: &CheckedDocument<'_>,
    code: Option<String>,
    actor: &Actor,
    lang: Lang,
) -> Result<(AccountId, Option<Issued>), SignupError> {
    let mut tx = app.store.begin_act("account_opened_at_counter").await.map_err(SignupError::Store)?;
    let now = tx.at();
    let account = match tx.create_account(new, now).await {
        Ok(id) => id,
        Err(error) => {
            // A refused INSERT ends the transaction on PostgreSQL: what follows is a new act.
            drop(tx);
            let origin = Origin::Operator { email_confirmed: false };
            return Err(signup::refused(app, new, origin, lang, error).await);
        }
    };
    let verification = NewVerification {
        account,
        purpose: "verify",
        method: "officer",
        verifier: &desk.curp,
        officer: Some(desk.officer),
        document_kind: document.kind,
        document_number: document.number,
        reference: "in person",
    };
    tx.record_verification(&verification, now).await.map_err(SignupError::Store)?;
    let detail = desk.detail(&format!("document={}", document.kind));
    tx.event(desk.event(EventKind::AccountOpenedAtCounter, account, actor, &detail));
    tx.event(desk.event(EventKind::IdentityVerified, account, actor, &detail));
    let issued = match code {
        Some(code) => Some(activation::issue(&mut tx, desk, account, code, actor).await.map_err(SignupError::Store)?),
        None => None,
    };
    if !new.email.is_empty() {
        links::send_confirmation(app, &mut tx, account, &new.email, lang).await.map_err(|e| match e {
            links::LinkError::Store(e) => SignupError::Store(e),
            other => SignupError::Store(StoreError::Data(crate::mail::loggable(&other).to_string())),
        })?;
    }
    tx.commit().await.map_err(SignupError::Store)?;
    Ok((account, issued))
}

async fn opened(app: &AppState, c: Chrome, desk: &Desk, account: AccountId, issued: Option<Issued>) -> PageResult {
    let person = app.store.account_by_id(account).await.map_err(|e| PageError::internal(c.lang, e))?;
    let Some(person) = person else { return Err(PageError::not_found(c.lang)) };
    let notice = if issued.is_some() { "counter-opened-code" } else { "counter-opened-password" };
    Ok(sheet(app, c, desk, &person, issued, notice))
}
