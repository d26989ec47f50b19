//! Officers at service centres: look a person up by CURP, record the official ID they
//! checked and mark the identity verified (level 2), or restore access for a person who
//! lost every factor (the factors go, the sessions end, a reset link goes to the person's
//! e-mail, or, for a person without e-mail, a printed activation code: `activation`).
//! Officers hold the `officer` role, at an office; they cannot act on their own account;
//! every act is recorded with the officer's CURP, name and office (`Desk`), which the
//! person reads as "con ayuda de <name>, <office>". Opening accounts: `counter`.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use curp::Curp;
use serde::Deserialize;

use super::{DOCUMENT_KINDS, account_level, document_label_key};
use crate::AppState;
use crate::accounts::Actor;
use crate::store::assurance::NewVerification;
use crate::store::{Account, AccountId, ActorKind, Event, EventKind, Tx};
use crate::web::client::ClientMeta;
use crate::web::error::{PageError, PageResult};
use crate::web::form::{CsrfForm, PageQuery};
use crate::web::page::{Chrome, FieldErrors, render};
use crate::web::session::SignedIn;

pub const ROLE: &str = "officer";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oficina", get(home))
        .route("/oficina/persona", get(search).post(person))
        .route("/oficina/verificar", post(verify))
        .route("/oficina/recuperar", post(recover))
        .route("/oficina/revocar-firma", post(revoke_signature))
}

/// The officer at the desk: who acts, as the person will read it.
pub struct Desk {
    pub officer: AccountId,
    pub curp: String,
    pub name: String,
    pub office: Option<String>,
}

impl Desk {
    /// The detail of an act: the officer's CURP (for the audit), `extra` (what was checked),
    /// their name and office (for the person).
    pub fn detail(&self, extra: &str) -> String {
        crate::web::words::assisted_detail(&self.curp, extra, &self.name, self.office.as_deref())
    }

    /// An event of an act at the desk about `account`: by staff (the officer's CURP, as the
    /// auditors' `actor` filter finds it), from the desk's browser.
    pub fn event(&self, kind: EventKind, account: AccountId, actor: &Actor, detail: &str) -> Event {
        Event {
            actor_kind: ActorKind::Staff,
            actor: self.curp.clone(),
            ..Event::security(kind, Some(account), &actor.address, &actor.user_agent, detail)
        }
    }
}

/// The officer role, in a session signed in with a second factor (finding 13.14): the
/// desk; otherwise the answer to send.
pub async fn require_officer(app: &AppState, c: &Chrome, s: &SignedIn) -> Result<Desk, Response> {
    let internal = |e| PageError::internal(c.lang, e).into_response();
    let roles = app.store.roles_of(s.account.id).await.map_err(internal)?;
    if !roles.iter().any(|(role, scope)| role == ROLE && scope == crate::store::roles::HUB) {
        let error = PageError::new(StatusCode::FORBIDDEN, c.lang, "officer-forbidden-title", "officer-forbidden");
        return Err(error.into_response());
    }
    super::staff::require_second_factor(app, c, s, "/oficina").await?;
    let office = app.store.office_of(s.account.id, ROLE, crate::store::roles::HUB).await.map_err(internal)?;
    Ok(Desk {
        officer: s.account.id,
        curp: s.account.curp.clone(),
        name: format!("{} {}", s.account.given_names, s.account.first_surname),
        office,
    })
}

#[derive(Template)]
#[template(path = "assurance/officer.html")]
struct OfficerPage {
    c: Chrome,
    errors: FieldErrors,
    query: String,
    person: Option<PersonView>,
    notice: Option<String>,
    documents: Vec<(&'static str, String, bool)>,
    document_number: String,
}

struct PersonView {
    curp: String,
    name: String,
    email: String,
    level: u8,
    lowered: bool,
    yourself: bool,
    factors: String,
    verifications: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PersonQuery {
    curp: String,
}

async fn home(State(app): State<AppState>, c: Chrome, s: SignedIn) -> PageResult {
    if let Err(answer) = require_officer(&app, &c, &s).await {
        return Ok(answer);
    }
    page(&app, c, &s, None, FieldErrors::default(), "", None, ("", ""), StatusCode::OK).await
}

#[allow(clippy::too_many_arguments)]
async fn page(
    app: &AppState,
    c: Chrome,
    s: &SignedIn,
    person: Option<&Account>,
    errors: FieldErrors,
    query: &str,
    notice: Option<String>,
    document: (&str, &str),
    status: StatusCode,
) -> PageResult {
    let internal = |e| PageError::internal(c.lang, e);
    let person = match person {
        Some(account) => {
            let factors = super::security::Factors::of(app, account).await.map_err(internal)?;
            let verifications = app.store.verifications(account.id).await.map_err(internal)?;
            let verifications = verifications
                .iter()
                .map(|v| {
                    format!(
                        "{} · {} · {} · {} {}",
                        crate::calendar::format_time(v.verified_at),
                        c.t(&format!("verification-purpose-{}", v.purpose)),
                        v.verifier,
                        c.t(document_label_key(&v.document_kind)),
                        super::masked_document(&v.document_number)
                    )
                })
                .collect();
            Some(PersonView {
                curp: account.curp.clone(),
                name: format!(
                    "{} {} {}",
                    account.given_names,
                    account.first_surname,
                    account.second_surname.as_deref().unwrap_or("")
                )
                .trim()
                .to_string(),
                email: account.email.clone(),
                level: account_level(account),
                lowered: account.identity_lowered_at.is_some(),
                yourself: account.id == s.account.id,
                factors: c.t_with(
                    "officer-factors",
                    &[
                        ("totp", if factors.totp { c.t("yes") } else { c.t("no") }),
                        ("passkeys", factors.passkeys.to_string()),
                        ("codes", factors.recovery_codes.to_string()),
                    ],
                ),
                verifications,
            })
        }
        None => None,
    };
    let documents = DOCUMENT_KINDS.iter().map(|(kind, key)| (*kind, c.t(key), *kind == document.0)).collect();
    let page = OfficerPage {
        c: c.signed_in(),
        errors,
        query: query.chars().take(40).collect(),
        person,
        notice,
        documents,
        document_number: document.1.chars().take(40).collect(),
    };
    Ok(render(status, &page))
}

async fn find(app: &AppState, c: &Chrome, curp: &str) -> Result<Option<Account>, PageError> {
    match Curp::parse(curp.trim()) {
        Ok(curp) => app.store.account_by_curp(curp.as_str()).await.map_err(|e| PageError::internal(c.lang, e)),
        Err(_) => Ok(None),
    }
}

fn officer_actor(client: &ClientMeta) -> Actor {
    Actor::from(client)
}

/// The search form only: a link (from any site) looks nobody up and records nothing
/// (finding 13.10b); the look-up is the form's POST.
async fn search(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    PageQuery(query): PageQuery<PersonQuery>,
) -> PageResult {
    if let Err(answer) = require_officer(&app, &c, &s).await {
        return Ok(answer);
    }
    page(&app, c, &s, None, FieldErrors::default(), &query.curp, None, ("", ""), StatusCode::OK).await
}

/// Looks a person up (a POST with the CSRF token), recording the look-up against them.
async fn person(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(query): CsrfForm<PersonQuery>,
) -> PageResult {
    let desk = match require_officer(&app, &c, &s).await {
        Ok(desk) => desk,
        Err(answer) => return Ok(answer),
    };
    let Some(account) = find(&app, &c, &query.curp).await? else {
        let mut errors = FieldErrors::default();
        errors.add("curp", c.t("officer-not-found"));
        return page(&app, c, &s, None, errors, &query.curp, None, ("", ""), StatusCode::NOT_FOUND).await;
    };
    let actor = officer_actor(&client);
    let event = desk.event(EventKind::OfficerLookup, account.id, &actor, &desk.detail(""));
    app.store.record(EventKind::OfficerLookup.as_str(), event).await.map_err(|e| PageError::internal(c.lang, e))?;
    page(&app, c, &s, Some(&account), FieldErrors::default(), &account.curp, None, ("", ""), StatusCode::OK).await
}

/// After an act: the person's page again, with what was done (the act itself is the
/// record; no look-up is added).
async fn done(app: &AppState, c: Chrome, s: &SignedIn, account: &Account, what: &str) -> PageResult {
    let notice = match what {
        "verified" => c.t("officer-verified"),
        "recovered" => c.t("officer-recovered"),
        _ => c.t("officer-revoked"),
    };
    let account = app.store.account_by_id(account.id).await.map_err(|e| PageError::internal(c.lang, e))?;
    let Some(account) = account else { return Err(PageError::not_found(c.lang)) };
    page(app, c, s, Some(&account), FieldErrors::default(), &account.curp, Some(notice), ("", ""), StatusCode::OK).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActForm {
    curp: String,
    document_kind: String,
    document_number: String,
    checked: String,
}

/// Checks an officer's act; the person and the cleaned document number, or the page with
/// the problems.
async fn checked_act(
    app: &AppState,
    c: &Chrome,
    s: &SignedIn,
    form: &ActForm,
) -> Result<Result<(Account, String, Desk), Response>, PageError> {
    let desk = match require_officer(app, c, s).await {
        Ok(desk) => desk,
        Err(answer) => return Ok(Err(answer)),
    };
    let Some(account) = find(app, c, &form.curp).await? else {
        let mut errors = FieldErrors::default();
        errors.add("curp", c.t("officer-not-found"));
        return Ok(
            Err(page(app, c.clone(), s, None, errors, &form.curp, None, ("", ""), StatusCode::NOT_FOUND).await?),
        );
    };
    let mut errors = FieldErrors::default();
    if account.id == s.account.id {
        errors.add("document_number", c.t("officer-not-yourself"));
    }
    // The same check as when opening an account at the counter.
    let number = super::counter::checked_document(&form.document_kind, &form.document_number, &form.checked)
        .unwrap_or_else(|problems| {
            problems.iter().for_each(|p| errors.add(p.field, c.t(p.key)));
            String::new()
        });
    if !errors.is_empty() {
        let status = if account.id == s.account.id { StatusCode::FORBIDDEN } else { StatusCode::UNPROCESSABLE_ENTITY };
        let document = (form.document_kind.as_str(), form.document_number.as_str());
        return Ok(Err(page(app, c.clone(), s, Some(&account), errors, &account.curp, None, document, status).await?));
    }
    Ok(Ok((account, number, desk)))
}

async fn verify(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<ActForm>,
) -> PageResult {
    let (account, number, desk) = match checked_act(&app, &c, &s, &form).await? {
        Ok(ok) => ok,
        Err(response) => return Ok(response),
    };
    let internal = |e| PageError::internal(c.lang, e);
    let act = InPerson { desk: &desk, officer: &s.account, person: &account, form: &form, number: &number };
    let mut tx = app.store.begin_act("identity_verified").await.map_err(internal)?;
    act.record(&mut tx, "verify", EventKind::IdentityVerified, &officer_actor(&client)).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    done(&app, c, &s, &account, "verified").await
}

/// An identity check an officer made in person, as recorded for either act.
struct InPerson<'a> {
    desk: &'a Desk,
    officer: &'a Account,
    person: &'a Account,
    form: &'a ActForm,
    number: &'a str,
}

impl InPerson<'_> {
    /// Records the verification (raising the level) and the event naming the officer.
    async fn record(
        &self,
        tx: &mut Tx,
        purpose: &str,
        kind: EventKind,
        actor: &Actor,
    ) -> Result<(), crate::store::StoreError> {
        let now = tx.at();
        let verification = NewVerification {
            account: self.person.id,
            purpose,
            method: "officer",
            verifier: &self.officer.curp,
            officer: Some(self.officer.id),
            document_kind: &self.form.document_kind,
            document_number: self.number,
            reference: "in person",
        };
        tx.record_verification(&verification, now).await?;
        let detail = self.desk.detail(&format!("document={}", self.form.document_kind));
        tx.event(self.desk.event(kind, self.person.id, actor, &detail));
        Ok(())
    }
}

async fn recover(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<ActForm>,
) -> PageResult {
    let (account, number, desk) = match checked_act(&app, &c, &s, &form).await? {
        Ok(ok) => ok,
        Err(response) => return Ok(response),
    };
    let internal = |e| PageError::internal(c.lang, e);
    let actor = officer_actor(&client);
    // Without e-mail, a printed activation code instead of the link; the old password goes
    // too (whoever else knew it must not keep the account). Hashed before the act.
    let without_email = account.email.is_empty();
    let unknown_password = match without_email {
        true => {
            Some(app.passwords.hash(&crate::crypto::random_token()).await.map_err(|e| PageError::internal(c.lang, e))?)
        }
        false => None,
    };
    // One act: the factors go, the verification naming the officer is recorded, the reset
    // link is queued (or the code issued); the event's reactions end every session (telling
    // the entities) and revoke the signing certificate — whoever held the lost factors may
    // have held it too.
    let mut tx = app.store.begin_act("access_recovered").await.map_err(internal)?;
    tx.remove_all_factors(account.id).await.map_err(internal)?;
    let act = InPerson { desk: &desk, officer: &s.account, person: &account, form: &form, number: &number };
    act.record(&mut tx, "recovery", EventKind::AccessRecovered, &actor).await.map_err(internal)?;
    let issued = match unknown_password {
        Some(hash) => {
            let now = tx.at();
            tx.set_password(account.id, &hash, now).await.map_err(internal)?;
            let code = super::activation::new_code();
            Some(super::activation::issue(&mut tx, &desk, account.id, code, &actor).await.map_err(internal)?)
        }
        None => {
            crate::accounts::mail_jobs::queue_recovery_reset(&mut tx, account.id, &actor, c.lang)
                .await
                .map_err(internal)?;
            None
        }
    };
    tx.commit().await.map_err(internal)?;
    match issued {
        Some(issued) => Ok(super::counter::sheet(&app, c, &desk, &account, Some(issued), "counter-recovered-code")),
        None => done(&app, c, &s, &account, "recovered").await,
    }
}

/// The person asks at the desk: their signing certificates are revoked (the CRL lists them).
async fn revoke_signature(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<ActForm>,
) -> PageResult {
    let (account, _, _) = match checked_act(&app, &c, &s, &form).await? {
        Ok(ok) => ok,
        Err(response) => return Ok(response),
    };
    // The desk records the request; the signature capability's reaction revokes, in the same
    // act (crate::reactions).
    let reason = format!("officer_{}", s.account.curp);
    let actor = officer_actor(&client);
    let asked = Event::security(
        EventKind::SignatureRevocationAsked,
        Some(account.id),
        &actor.address,
        &actor.user_agent,
        &reason,
    );
    app.store.record("signature_revocation_asked", asked).await.map_err(|e| PageError::internal(c.lang, e))?;
    done(&app, c, &s, &account, "revoked").await
}
