//! The HTTP edge of assurance: second factors on the account page, the second step of
//! sign-in, passkey ceremonies (JSON for the page's script), step-up before an entity gets
//! its answer, and the remote verification's callback and return page.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::passkeys::{self, PasskeyError, Purpose};
use super::security::{Factors, PENDING_COOKIE, needs_password_to_remove, ways_to_reach};
use super::session_level;
use super::totp::{self, Check};
use crate::AppState;
use crate::accounts::Actor;
use crate::accounts::sessions;
use crate::accounts::signin::{self, SignInOutcome};
use crate::crypto::{now, token_hash};
use crate::store::{Account, EventKind, Tx};
use crate::web::client::ClientMeta;
use crate::web::cookies;
use crate::web::csrf::RotateCsrf;
use crate::web::error::{PageError, PageResult};
use crate::web::form::{CsrfForm, PageQuery};
use crate::web::page::{Chrome, FieldErrors, render};
use crate::web::session::{SESSION_COOKIE, SignedIn, safe_next};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/totp", get(totp_page))
        .route("/account/totp/begin", post(totp_begin))
        .route("/account/totp/confirm", post(totp_confirm))
        .route("/account/totp/remove", post(totp_remove))
        .route("/account/recovery-codes", post(recovery_codes))
        .route("/account/passkeys/begin", post(passkey_register_begin))
        .route("/account/passkeys/finish", post(passkey_register_finish))
        .route("/account/passkeys/rename", post(passkey_rename))
        .route("/account/passkeys/remove", post(passkey_remove))
        .route("/signin/second", get(second_page).post(second_submit))
        .route("/signin/second/passkey/begin", post(second_passkey_begin))
        .route("/signin/second/passkey/finish", post(second_passkey_finish))
        .route("/signin/passkey/begin", post(signin_passkey_begin))
        .route("/signin/passkey/finish", post(signin_passkey_finish))
        .route("/nivel", get(stepup_page))
        .route("/nivel/passkey/begin", post(reproof_passkey_begin))
        .route("/nivel/passkey/finish", post(reproof_passkey_finish))
        .route("/verificacion/iniciar", post(remote_start))
        .route("/verificacion/callback", post(remote_callback))
        .route("/verificacion/regreso", get(remote_return))
        .merge(super::officer::routes())
        .merge(super::counter::routes())
        .merge(super::activation::routes())
        .merge(super::reference::routes())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Empty {}

async fn fresh_password(app: &AppState, account: &Account, password: &str, actor: &Actor) -> Result<bool, PageError> {
    if password.is_empty() {
        return Ok(false);
    }
    let outcome = signin::authenticate(app, &account.curp, password, actor, None)
        .await
        .map_err(|e| PageError::internal(crate::i18n::Lang::default(), e))?;
    Ok(matches!(outcome, SignInOutcome::Success(_)))
}

fn to_account(notice: &str) -> Response {
    Redirect::to(&format!("/account?notice={notice}")).into_response()
}

fn account_error(notice: &str) -> Response {
    Redirect::to(&format!("/account?error={notice}#security")).into_response()
}

// ----- TOTP -----

#[derive(Template)]
#[template(path = "assurance/totp.html")]
struct TotpPage {
    c: Chrome,
    errors: FieldErrors,
    qr_svg: String,
    manual_key: String,
    otpauth_url: String,
}

async fn totp_begin(State(app): State<AppState>, c: Chrome, s: SignedIn, CsrfForm(_): CsrfForm<Empty>) -> PageResult {
    totp::begin(&app, &s.account).await.map_err(|e| PageError::internal(c.lang, e))?;
    Ok(Redirect::to("/account/totp").into_response())
}

async fn totp_page(State(app): State<AppState>, c: Chrome, s: SignedIn) -> PageResult {
    enrolment_page(&app, c, &s, FieldErrors::default(), StatusCode::OK).await
}

async fn enrolment_page(
    app: &AppState,
    c: Chrome,
    s: &SignedIn,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let Some(enrolment) = totp::enrolment(app, &s.account).await.map_err(|e| PageError::internal(c.lang, e))? else {
        return Ok(Redirect::to("/account#security").into_response());
    };
    let page = TotpPage {
        c: c.signed_in(),
        errors,
        qr_svg: enrolment.qr_svg,
        manual_key: enrolment.manual_key,
        otpauth_url: enrolment.otpauth_url,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeForm {
    code: String,
}

#[derive(Template)]
#[template(path = "assurance/codes.html")]
struct CodesPage {
    c: Chrome,
    codes: Vec<String>,
}

async fn totp_confirm(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> PageResult {
    let actor = Actor::from(&client);
    let internal = |e| PageError::internal(c.lang, e);
    if totp::enabled(&app, s.account.id).await.map_err(internal)? {
        return Ok(to_account("totp_enabled"));
    }
    let (check, codes) =
        totp::confirm(&app, &s.account, &form.code, &actor).await.map_err(|e| PageError::internal(c.lang, e))?;
    match check {
        Check::Accepted => Ok(render(StatusCode::OK, &CodesPage { c: c.signed_in(), codes })),
        Check::Wrong => {
            let mut errors = FieldErrors::default();
            errors.add("code", c.t("totp-wrong"));
            enrolment_page(&app, c, &s, errors, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Check::Throttled => {
            let mut errors = FieldErrors::default();
            errors.add("code", c.t("signin-throttled"));
            enrolment_page(&app, c, &s, errors, StatusCode::TOO_MANY_REQUESTS).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RemoveForm {
    id: String,
    password: String,
}

async fn totp_remove(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<RemoveForm>,
) -> PageResult {
    let actor = Actor::from(&client);
    let internal = |e| PageError::internal(c.lang, e);
    let factors = Factors::of(&app, &s.account).await.map_err(internal)?;
    if factors.totp
        && needs_password_to_remove(&s.account, &factors)
        && !fresh_password(&app, &s.account, &form.password, &actor).await?
    {
        return Ok(account_error("fresh_auth_needed"));
    }
    totp::remove(&app.store, s.account.id, &actor).await.map_err(internal)?;
    Ok(to_account("totp_removed"))
}

async fn recovery_codes(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(_): CsrfForm<Empty>,
) -> PageResult {
    let internal = |e| PageError::internal(c.lang, e);
    if Factors::of(&app, &s.account).await.map_err(internal)?.count() == 0 {
        return Ok(account_error("factor_first"));
    }
    let codes = totp::new_recovery_codes(&app, s.account.id, &Actor::from(&client)).await.map_err(internal)?;
    Ok(render(StatusCode::OK, &CodesPage { c: c.signed_in(), codes }))
}

// ----- passkeys: JSON for the page's script -----

fn ceremony_json(result: Result<(String, serde_json::Value), PasskeyError>, c: &Chrome) -> Response {
    match result {
        Ok((ceremony, options)) => Json(json!({ "ceremony": ceremony, "options": options })).into_response(),
        Err(error) => passkey_error(error, c),
    }
}

fn passkey_error(error: PasskeyError, c: &Chrome) -> Response {
    let (status, key) = match &error {
        PasskeyError::Unavailable => (StatusCode::NOT_FOUND, "passkey-unavailable"),
        PasskeyError::Store(_) | PasskeyError::State(_) => {
            tracing::error!(%error, "passkey ceremony failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "error-internal")
        }
        PasskeyError::Expired => (StatusCode::BAD_REQUEST, "passkey-expired"),
        PasskeyError::Duplicate => (StatusCode::CONFLICT, "passkey-duplicate"),
        PasskeyError::Malformed(_) | PasskeyError::Refused(_) | PasskeyError::Unknown => {
            tracing::info!(%error, "passkey refused");
            (StatusCode::BAD_REQUEST, "passkey-refused")
        }
    };
    (status, Json(json!({ "error": c.t(key) }))).into_response()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FinishForm {
    ceremony: String,
    credential: String,
    name: String,
    next: String,
}

async fn passkey_register_begin(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    ceremony_json(passkeys::begin_registration(&app, &s.account).await, &c)
}

async fn passkey_register_finish(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<FinishForm>,
) -> Response {
    let actor = Actor::from(&client);
    match passkeys::finish_registration(&app, &s.account, &form.ceremony, &form.credential, &form.name, &actor).await {
        Ok(_) => Json(json!({ "redirect": "/account?notice=passkey_added#security" })).into_response(),
        Err(error) => passkey_error(error, &c),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RenameForm {
    id: String,
    name: String,
}

async fn passkey_rename(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<RenameForm>,
) -> PageResult {
    let renamed = passkeys::rename(&app.store, s.account.id, &form.id, &form.name, &Actor::from(&client))
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    Ok(if renamed { to_account("passkey_renamed") } else { account_error("passkey_name") })
}

async fn passkey_remove(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<RemoveForm>,
) -> PageResult {
    let actor = Actor::from(&client);
    let internal = |e| PageError::internal(c.lang, e);
    let factors = Factors::of(&app, &s.account).await.map_err(internal)?;
    if needs_password_to_remove(&s.account, &factors)
        && !fresh_password(&app, &s.account, &form.password, &actor).await?
    {
        return Ok(account_error("fresh_auth_needed"));
    }
    let keys = app.store.passkeys(s.account.id).await.map_err(internal)?;
    let Some(key) = keys.iter().find(|k| k.id == form.id) else {
        return Ok(account_error("passkey_unknown"));
    };
    passkeys::remove(&app.store, s.account.id, key, &actor).await.map_err(internal)?;
    Ok(to_account("passkey_removed"))
}

// ----- sign-in: the second step, and passkeys -----

struct Pending {
    token_hash: String,
    account: Account,
    next: String,
}

async fn pending(app: &AppState, headers: &HeaderMap, lang: crate::i18n::Lang) -> Result<Option<Pending>, PageError> {
    let Some(token) = cookies::get(headers, &app.cookie_policy().name(PENDING_COOKIE)) else {
        return Ok(None);
    };
    let hash = token_hash(&token);
    let internal = |e| PageError::internal(lang, e);
    let Some(signin) = app.store.pending_signin(&hash, now()).await.map_err(internal)? else {
        return Ok(None);
    };
    let Some(account) = app.store.account_by_id(signin.account_id).await.map_err(internal)? else {
        return Ok(None);
    };
    Ok(Some(Pending { token_hash: hash, account, next: signin.next }))
}

#[derive(Template)]
#[template(path = "assurance/second.html")]
struct SecondPage {
    c: Chrome,
    errors: FieldErrors,
    totp: bool,
    passkeys: bool,
    recovery: bool,
}

async fn second_page(State(app): State<AppState>, c: Chrome, headers: HeaderMap) -> PageResult {
    let Some(pending) = pending(&app, &headers, c.lang).await? else {
        return Ok(Redirect::to("/signin").into_response());
    };
    second_form(&app, c, &pending, FieldErrors::default(), StatusCode::OK).await
}

async fn second_form(
    app: &AppState,
    c: Chrome,
    pending: &Pending,
    errors: FieldErrors,
    status: StatusCode,
) -> PageResult {
    let account = &pending.account;
    let factors = Factors::of(app, account).await.map_err(|e| PageError::internal(c.lang, e))?;
    let page = SecondPage {
        c,
        errors,
        totp: factors.totp,
        passkeys: factors.passkeys_usable(app),
        recovery: factors.recovery_codes > 0,
    };
    // The code's form may end, through redirects, at the entity that asked for the sign-in.
    let targets = crate::web::redirect::redirect_uris_for_next(app, &pending.next).await;
    let mut response = render(status, &page);
    crate::web::headers::allow_form_targets(&mut response, targets.iter().map(String::as_str));
    Ok(response)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SecondForm {
    code: String,
    recovery_code: String,
}

/// Opens the session after the second step (or a passkey sign-in), in `tx`, the sign-in's
/// act (with what the passkey proved, if one was used), and commits it: replaces any
/// session this browser had, sets the cookie, forgets the pending sign-in.
#[allow(clippy::too_many_arguments)]
async fn open_session(
    app: &AppState,
    mut tx: Tx,
    previous: Option<SignedIn>,
    account: &Account,
    methods: &str,
    reproved_at: Option<i64>,
    actor: &Actor,
    mut response: Response,
) -> Result<Response, crate::store::StoreError> {
    if let Some(previous) = previous {
        sessions::end_in(&mut tx, previous.account.id, &previous.session.id, EventKind::SignOut, actor).await?;
    }
    let lifetime = app.config.session.absolute_hours * 3600;
    let token = sessions::start_in(&mut tx, lifetime, account.id, methods, reproved_at, actor).await?;
    tx.commit().await?;
    let policy = app.cookie_policy();
    for cookie in [policy.set(SESSION_COOKIE, &token, None, "Lax"), policy.clear(PENDING_COOKIE)] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response.extensions_mut().insert(RotateCsrf);
    Ok(response)
}

async fn second_submit(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    headers: HeaderMap,
    previous: Option<SignedIn>,
    CsrfForm(form): CsrfForm<SecondForm>,
) -> PageResult {
    let Some(pending) = pending(&app, &headers, c.lang).await? else {
        return Ok(Redirect::to("/signin").into_response());
    };
    let actor = Actor::from(&client);
    let recovery = form.code.trim().is_empty() && !form.recovery_code.trim().is_empty();
    let (code, field) = if recovery { (&form.recovery_code, "recovery_code") } else { (&form.code, "code") };
    let check = totp::check(&app, &pending.account, code, recovery, &actor)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    match check {
        Check::Accepted => {
            let internal = |e| PageError::internal(c.lang, e);
            if !app.store.finish_pending_signin(&pending.token_hash).await.map_err(internal)? {
                return Ok(Redirect::to("/signin").into_response());
            }
            let next = safe_next(Some(&pending.next));
            let response = Redirect::to(&next).into_response();
            let tx = app.store.begin_act("sign_in").await.map_err(internal)?;
            open_session(&app, tx, previous, &pending.account, "pwd otp mfa", None, &actor, response)
                .await
                .map_err(internal)
        }
        Check::Wrong | Check::Throttled => {
            let mut errors = FieldErrors::default();
            let (status, key) = if check == Check::Wrong {
                (StatusCode::UNAUTHORIZED, if recovery { "recovery-wrong" } else { "totp-wrong" })
            } else {
                (StatusCode::TOO_MANY_REQUESTS, "signin-throttled")
            };
            errors.add(field, c.t(key));
            second_form(&app, c, &pending, errors, status).await
        }
    }
}

async fn second_passkey_begin(
    State(app): State<AppState>,
    c: Chrome,
    headers: HeaderMap,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response, PageError> {
    let Some(pending) = pending(&app, &headers, c.lang).await? else {
        return Ok(passkey_error(PasskeyError::Expired, &c));
    };
    Ok(ceremony_json(passkeys::begin_authentication(&app, Purpose::SecondStep(pending.account.id)).await, &c))
}

async fn second_passkey_finish(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    headers: HeaderMap,
    previous: Option<SignedIn>,
    CsrfForm(form): CsrfForm<FinishForm>,
) -> Result<Response, PageError> {
    let Some(pending) = pending(&app, &headers, c.lang).await? else {
        return Ok(passkey_error(PasskeyError::Expired, &c));
    };
    let purpose = Purpose::SecondStep(pending.account.id);
    let proof = match passkeys::finish_authentication(&app, purpose, &form.ceremony, &form.credential).await {
        Ok(proof) => proof,
        Err(error) => return Ok(passkey_error(error, &c)),
    };
    let internal = |e| PageError::internal(c.lang, e);
    if !app.store.finish_pending_signin(&pending.token_hash).await.map_err(internal)? {
        return Ok(passkey_error(PasskeyError::Expired, &c));
    }
    let actor = Actor::from(&client);
    let mut tx = app.store.begin_act("sign_in").await.map_err(internal)?;
    let (account, reproved_at) = after_passkey(&mut tx, &pending.account, &proof, &actor).await.map_err(internal)?;
    let methods = super::with_methods("pwd", &proof.methods);
    let next = safe_next(Some(&pending.next));
    let response = Json(json!({ "redirect": next })).into_response();
    open_session(&app, tx, previous, &account, &methods, reproved_at, &actor, response).await.map_err(internal)
}

/// What a passkey proves beyond signing in, written in the act that uses it (the sign-in,
/// or the step-up of the session): it lifts a suspension of level 2 when it was enrolled
/// while the identity stood verified, and it re-proves a verified person (level 3) when it
/// was enrolled after the verification.
async fn after_passkey(
    tx: &mut Tx,
    account: &Account,
    proof: &passkeys::Proof,
    actor: &Actor,
) -> Result<(Account, Option<i64>), crate::store::StoreError> {
    let now = tx.at();
    let created = proof.passkey.created_at;
    let detail = format!("passkey={}", proof.passkey.name);
    let mut account = account.clone();
    if let (Some(verified), Some(lowered)) = (account.identity_verified_at, account.identity_lowered_at)
        && passkeys::enrolled_after(&proof.passkey, verified)
        && created < lowered
        && tx.restore_assurance(account.id).await?
    {
        tx.event(actor.event(EventKind::AssuranceRestored, Some(account.id), &detail));
        account.identity_lowered_at = None;
    }
    let reproves = super::identity_verified(&account)
        && account.identity_verified_at.is_some_and(|v| passkeys::enrolled_after(&proof.passkey, v));
    if reproves {
        tx.event(actor.event(EventKind::SteppedUp, Some(account.id), &detail));
    }
    Ok((account, reproves.then_some(now)))
}

async fn signin_passkey_begin(State(app): State<AppState>, c: Chrome, CsrfForm(_): CsrfForm<Empty>) -> Response {
    ceremony_json(passkeys::begin_authentication(&app, Purpose::SignIn).await, &c)
}

async fn signin_passkey_finish(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    previous: Option<SignedIn>,
    CsrfForm(form): CsrfForm<FinishForm>,
) -> Result<Response, PageError> {
    let proof = match passkeys::finish_authentication(&app, Purpose::SignIn, &form.ceremony, &form.credential).await {
        Ok(proof) => proof,
        Err(error) => return Ok(passkey_error(error, &c)),
    };
    let internal = |e| PageError::internal(c.lang, e);
    let Some(account) = app.store.account_by_id(proof.account).await.map_err(internal)? else {
        return Ok(passkey_error(PasskeyError::Unknown, &c));
    };
    let actor = Actor::from(&client);
    let mut tx = app.store.begin_act("sign_in").await.map_err(internal)?;
    let (account, reproved_at) = after_passkey(&mut tx, &account, &proof, &actor).await.map_err(internal)?;
    let methods = super::with_methods("", &proof.methods);
    let next = safe_next(Some(&form.next));
    let response = Json(json!({ "redirect": next })).into_response();
    open_session(&app, tx, previous, &account, &methods, reproved_at, &actor, response).await.map_err(internal)
}

// ----- step-up before answering an entity -----

#[derive(Deserialize, Default)]
#[serde(default)]
struct StepUpQuery {
    need: u8,
    next: String,
}

#[derive(Template)]
#[template(path = "assurance/stepup.html")]
struct StepUpPage {
    c: Chrome,
    explain: String,
    need: u8,
    level: u8,
    next: String,
    cancel: String,
    passkey: bool,
    remote: Option<String>,
    lowered: bool,
}

async fn stepup_page(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    PageQuery(query): PageQuery<StepUpQuery>,
) -> PageResult {
    let next = safe_next(Some(&query.next));
    if !next.starts_with("/authorize?") {
        return Ok(Redirect::to("/account").into_response());
    }
    let need = query.need.clamp(2, 3);
    let level = session_level(&app, &s.account, &s.session, now());
    if level >= need {
        return Ok(Redirect::to(&next).into_response());
    }
    let ways = ways_to_reach(&app, &s, need).await.map_err(|e| PageError::internal(c.lang, e))?;
    let (passkey, remote) = ways.unwrap_or((false, None));
    let cancel = format!("{next}&llave_stepup=cancel");
    let lowered = s.account.identity_lowered_at.is_some();
    let explain = c.t_with("stepup-explain", &[("need", need.to_string()), ("level", level.to_string())]);
    let remote = remote.map(|provider| c.t_with("stepup-remote-explain", &[("provider", provider)]));
    let page = StepUpPage { c: c.signed_in(), explain, need, level, next, cancel, passkey, remote, lowered };
    Ok(render(StatusCode::OK, &page))
}

async fn reproof_passkey_begin(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    CsrfForm(_): CsrfForm<Empty>,
) -> Response {
    let Some(since) = s.account.identity_verified_at else {
        return passkey_error(PasskeyError::Unknown, &c);
    };
    let purpose = Purpose::Reproof(s.account.id, since, s.account.identity_lowered_at);
    ceremony_json(passkeys::begin_authentication(&app, purpose).await, &c)
}

async fn reproof_passkey_finish(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<FinishForm>,
) -> Result<Response, PageError> {
    let Some(since) = s.account.identity_verified_at else {
        return Ok(passkey_error(PasskeyError::Unknown, &c));
    };
    let purpose = Purpose::Reproof(s.account.id, since, s.account.identity_lowered_at);
    let proof = match passkeys::finish_authentication(&app, purpose, &form.ceremony, &form.credential).await {
        Ok(proof) => proof,
        Err(error) => return Ok(passkey_error(error, &c)),
    };
    let actor = Actor::from(&client);
    let internal = |e| PageError::internal(c.lang, e);
    // One act: what the passkey proved and the session's new methods and level.
    let mut tx = app.store.begin_act("stepped_up").await.map_err(internal)?;
    let (_, reproved_at) = after_passkey(&mut tx, &s.account, &proof, &actor).await.map_err(internal)?;
    let methods = super::with_methods(&s.session.auth_methods, &proof.methods);
    tx.step_up_session(&s.session.id, &methods, reproved_at).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    let next = safe_next(Some(&form.next));
    Ok(Json(json!({ "redirect": next })).into_response())
}

// ----- remote verification -----

#[derive(Template)]
#[template(path = "assurance/leaving.html")]
struct LeavingPage {
    c: Chrome,
    explain: String,
    url: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RemoteStartForm {
    purpose: String,
    next: String,
}

async fn remote_start(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<RemoteStartForm>,
) -> PageResult {
    // Re-proof is for a verified person; anyone else is verified first.
    let purpose = if form.purpose == "reproof" && super::identity_verified(&s.account) { "reproof" } else { "verify" };
    let next = safe_next(Some(&form.next));
    match super::remote::start(&app, &s.account, &s.session, purpose, &next, &Actor::from(&client)).await {
        // A link, not a redirect: the person sees they are leaving llave, and the page's
        // `form-action 'self'` does not have to allow the provider's address.
        Ok(url) => {
            let provider = app.verifier.as_ref().map(|p| p.config.name.clone()).unwrap_or_default();
            let explain = c.t_with("leaving-explain", &[("provider", provider)]);
            Ok(render(StatusCode::OK, &LeavingPage { c: c.signed_in(), explain, url }))
        }
        Err(super::remote::RemoteError::NotConfigured) => Err(PageError::not_found(c.lang)),
        Err(super::remote::RemoteError::TooMany) => Err(PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            c.lang,
            "verification-unavailable-title",
            "signin-throttled",
        )),
        Err(error) => {
            tracing::warn!(%error, "remote verification could not start");
            Err(PageError::new(
                StatusCode::BAD_GATEWAY,
                c.lang,
                "verification-unavailable-title",
                "verification-unavailable",
            ))
        }
    }
}

/// The provider's signed result (`application/jose`, or a form/JSON field `result`).
async fn remote_callback(State(app): State<AppState>, body: axum::body::Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let jws = if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
        value.get("result").and_then(|v| v.as_str()).unwrap_or("").to_string()
    } else if text.starts_with("result=") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&text).unwrap_or_default();
        pairs.into_iter().find(|(k, _)| k == "result").map(|(_, v)| v).unwrap_or_default()
    } else {
        text.trim().to_string()
    };
    use super::remote::CallbackRefusal::*;
    match super::remote::callback(&app, &jws).await {
        Ok(Ok(outcome)) => {
            Json(json!({ "status": "accepted", "result": format!("{outcome:?}").to_lowercase() })).into_response()
        }
        Ok(Err(refusal)) => {
            let (status, code) = match refusal {
                BadSignature(_) => (StatusCode::UNAUTHORIZED, "invalid_signature"),
                UnknownSession => (StatusCode::NOT_FOUND, "unknown_session"),
                CurpMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "curp_mismatch"),
                Replay => (StatusCode::CONFLICT, "replayed"),
            };
            (status, Json(json!({ "error": code, "error_description": refusal.to_string() }))).into_response()
        }
        Err(super::remote::RemoteError::NotConfigured) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::error!(%error, "verification callback failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": "server_error" }))).into_response()
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReturnQuery {
    session: String,
}

#[derive(Template)]
#[template(path = "assurance/verification.html")]
struct VerificationPage {
    c: Chrome,
    state: &'static str,
    again: String,
}

async fn remote_return(
    State(app): State<AppState>,
    c: Chrome,
    s: SignedIn,
    PageQuery(query): PageQuery<ReturnQuery>,
) -> PageResult {
    let session = app.store.verification_session(&query.session).await.map_err(|e| PageError::internal(c.lang, e))?;
    let Some(session) = session.filter(|v| v.account_id == s.account.id) else {
        return Err(PageError::not_found(c.lang));
    };
    let state = match session.result.as_deref() {
        Some("verified") => return Ok(Redirect::to(&safe_next(Some(&session.return_to))).into_response()),
        Some(_) => "failed",
        None if session.expires_at <= now() => "failed",
        None => "pending",
    };
    let again = format!(
        "/verificacion/regreso?{}",
        serde_urlencoded::to_string([("session", &session.id)]).unwrap_or_default()
    );
    Ok(render(StatusCode::OK, &VerificationPage { c: c.signed_in(), state, again }))
}
