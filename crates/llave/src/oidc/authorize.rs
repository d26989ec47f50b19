//! The authorization endpoint (GET and POST), the consent page and the answer to the
//! client (`query` redirect or `form_post`). An unknown client or an unregistered
//! redirect URI gets an error page and no redirect (RFC 6749 §4.1.2.1); every other error
//! goes back to the client with `state` and `iss` (RFC 9207).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use oidc::authorize::{AuthorizationRequest, ClientPolicy, Params, Prompt, Rejection, ResponseMode};
use oidc::{ErrorCode, OAuthError, RedirectUri};

use super::tokens::CODE_SECONDS;
use crate::AppState;
use crate::crypto::{now, random_id, random_token, token_hash};
use crate::i18n::Lang;
use crate::store::entities::ClientRecord;
use crate::store::oidc::CodeRecord;
use crate::web::error::{PageError, PageResult};
use crate::web::form::CsrfForm;
use crate::web::page::{Chrome, render};
use crate::web::session::SignedIn;

use super::fresh::{self, REAUTH_PARAM};
use crate::consent::words::consent_items;

fn pairs_from_query(query: Option<&str>) -> Result<Vec<(String, String)>, OAuthError> {
    super::form_pairs(query.unwrap_or("").as_bytes())
}

pub async fn authorize_get(
    State(app): State<AppState>,
    c: Chrome,
    signed_in: Option<SignedIn>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let pairs = pairs_from_query(query.as_deref()).map_err(|_| bad_request_page(c.lang))?;
    with_ui_locales(&app, &headers, &pairs, authorize(app.clone(), c, signed_in, pairs.clone()).await)
}

pub async fn authorize_post(
    State(app): State<AppState>,
    c: Chrome,
    signed_in: Option<SignedIn>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let pairs = super::form_pairs(&body).map_err(|_| bad_request_page(c.lang))?;
    if signed_in.is_none() {
        // A POST from the entity's site is cross-site, so the SameSite=Lax session cookie
        // did not come with it; the same request as a top-level GET brings it.
        return Ok(super::same_request_as_get("/authorize", &pairs));
    }
    with_ui_locales(&app, &headers, &pairs, authorize(app.clone(), c, signed_in, pairs.clone()).await)
}

/// `ui_locales` (OIDC Core §3.1.2.1) holds for the pages that follow too (sign-in, consent),
/// for this browser session, unless the person chose a language with the visible switch.
fn with_ui_locales(app: &AppState, headers: &HeaderMap, pairs: &[(String, String)], result: PageResult) -> PageResult {
    let mut response = result?;
    let chosen = crate::web::cookies::get(headers, crate::i18n::LANG_COOKIE).is_some();
    let asked = pairs.iter().find(|(k, _)| k == "ui_locales").and_then(|(_, v)| v.split(' ').find_map(Lang::parse));
    if let (false, Some(lang)) = (chosen, asked) {
        let secure = if app.cookie_policy().secure { "; Secure" } else { "" };
        let cookie = format!("{}={}; Path=/; SameSite=Lax{secure}", crate::i18n::LANG_COOKIE, lang.code());
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(axum::http::header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

fn bad_request_page(lang: Lang) -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, lang, "oidc-error-title", "oidc-error-request")
}

/// Loads the client and validates the request; an error that may not be redirected
/// becomes a page.
/// A checked authorization request: the client, the request, the parameters as received
/// (with `request_uri` when pushed), and what it asks beyond OpenID Connect (from the pushed
/// request when there is one).
type Validated = (ClientRecord, AuthorizationRequest, Vec<(String, String)>, Extras);

/// What a request asks beyond OpenID Connect: RFC 9396 `authorization_details`, and Grant
/// Management's `grant_management_action` and `grant_id`.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    pub details: Option<String>,
    pub grant_action: Option<String>,
    pub grant_id: Option<String>,
}

impl Extras {
    pub fn of(params: &Params) -> Extras {
        Extras {
            details: params.get("authorization_details").map(str::to_string),
            grant_action: params.get("grant_management_action").map(str::to_string),
            grant_id: params.get("grant_id").map(str::to_string),
        }
    }
}

async fn validated(
    app: &AppState,
    lang: Lang,
    pairs: Vec<(String, String)>,
) -> Result<Validated, Result<Response, PageError>> {
    let params = Params::from_pairs(pairs.clone()).map_err(|_| Err(bad_request_page(lang)))?;
    let client_id = params.get("client_id").unwrap_or("").to_string();
    let client = match app.store.client_by_id(&client_id).await {
        Ok(Some(client)) if client.disabled_at.is_none() => client,
        Ok(_) => {
            return Err(Err(PageError::new(StatusCode::BAD_REQUEST, lang, "oidc-error-title", "oidc-error-client")));
        }
        Err(error) => return Err(Err(PageError::internal(lang, error))),
    };
    // RFC 9126 §4: with a request_uri, the pushed parameters are the request.
    let (params, from_par) = match params.get("request_uri") {
        Some(request_uri) => {
            let refused =
                || Err(PageError::new(StatusCode::BAD_REQUEST, lang, "oidc-error-title", "oidc-error-request-uri"));
            if !request_uri.starts_with(super::par::REQUEST_URI_PREFIX) {
                return Err(refused());
            }
            // The injectable clock: a test sees a request_uri expire without waiting.
            let stored = match app.store.pushed_request(request_uri, &client.client_id, app.clock.now()).await {
                Ok(Some(stored)) => stored,
                Ok(None) => return Err(refused()),
                Err(error) => return Err(Err(PageError::internal(lang, error))),
            };
            let pushed = super::form_pairs(stored.as_bytes()).and_then(Params::from_pairs).map_err(|_| refused())?;
            (pushed, true)
        }
        None => (params, false),
    };
    let uris: Vec<RedirectUri> = client.redirect_uris.iter().filter_map(|u| RedirectUri::parse(u).ok()).collect();
    let policy = ClientPolicy { client_id: &client.client_id, redirect_uris: &uris, require_par: client.require_par };
    let extras = Extras::of(&params);
    match oidc::authorize::validate(&params, &policy, from_par) {
        Ok(request) => Ok((client, request, pairs, extras)),
        Err(Rejection::NoRedirect(_)) => {
            Err(Err(PageError::new(StatusCode::BAD_REQUEST, lang, "oidc-error-title", "oidc-error-redirect-uri")))
        }
        Err(Rejection::Redirect { redirect_uri, response_mode, state, error }) => {
            Err(Ok(respond(app, &redirect_uri, response_mode, state.as_deref(), Err(&error), lang)))
        }
    }
}

fn authorize_url(pairs: &[(String, String)], marker: Option<String>) -> String {
    let mut pairs: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != REAUTH_PARAM).cloned().collect();
    if let Some(marker) = marker {
        pairs.push((REAUTH_PARAM.into(), marker));
    }
    format!("/authorize?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
}

/// Step 1, checked wherever a code is issued (OIDC Core §3.1.2.1, finding 13.4): who is
/// it, and did they sign in for this request when it asks for `prompt=login` or a
/// `max_age`? `Some(answer)` sends the person to sign in (again), or tells the client
/// `login_required` when it asked for `prompt=none`.
fn sign_in_answer(
    app: &AppState,
    request: &AuthorizationRequest,
    pairs: &[(String, String)],
    signed_in: Option<&SignedIn>,
    lang: Lang,
) -> Option<Response> {
    let prompt_none = request.prompt.contains(&Prompt::None);
    let login_required = |description: &str| {
        let error = OAuthError::new(ErrorCode::LoginRequired, description);
        respond(app, &request.redirect_uri, request.response_mode, request.state.as_deref(), Err(&error), lang)
    };
    let now = now();
    let asks_fresh = request.prompt.contains(&Prompt::Login) || request.max_age.is_some();
    let Some(signed_in) = signed_in else {
        if prompt_none {
            return Some(login_required("nobody is signed in"));
        }
        // The sign-in about to happen is the fresh one this request asks for.
        let marker = asks_fresh.then(|| fresh::mint(&app.csrf_key, now, None, &request.client_id, pairs));
        let next = authorize_url(pairs, marker);
        return Some(Redirect::to(&signin_url(&next, request.login_hint.as_deref(), false)).into_response());
    };
    let session = fresh::Session { id: &signed_in.session.id, auth_time: signed_in.session.created_at };
    let fresh = fresh::proves_fresh_sign_in(&app.csrf_key, pairs, &request.client_id, &session, now);
    if !oidc::authorize::needs_fresh_sign_in(request, session.auth_time, now, fresh) {
        return None;
    }
    if prompt_none {
        return Some(login_required("a fresh sign-in is required"));
    }
    let marker = fresh::mint(&app.csrf_key, now, Some(&signed_in.session.id), &request.client_id, pairs);
    let next = authorize_url(pairs, Some(marker));
    Some(Redirect::to(&signin_url(&next, None, true)).into_response())
}

/// Marks a request the person turned back from on the step-up page.
pub const STEPUP_PARAM: &str = "llave_stepup";

/// The level a request insists on, if above what this session reaches now: `Some(need)`,
/// with `need = 4` for `acr` values llave does not define (nothing reaches them). Every
/// requirement holds at once: the strictest wins (finding 13.10a).
fn unmet_level(app: &AppState, request: &AuthorizationRequest, signed_in: &SignedIn, now: i64) -> Option<u8> {
    let requirements = oidc::authorize::acr_requirements(request);
    let need = crate::assurance::required_level(&requirements)?;
    let level = crate::assurance::session_level(app, &signed_in.account, &signed_in.session, now);
    (need > level).then_some(need)
}

async fn authorize(
    app: AppState,
    mut c: Chrome,
    signed_in: Option<SignedIn>,
    pairs: Vec<(String, String)>,
) -> PageResult {
    let (client, request, pairs, extras) = match validated(&app, c.lang, pairs).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    if let Some(lang) = request.ui_locales.as_deref().and_then(|l| l.split(' ').find_map(Lang::parse)) {
        c.lang = lang;
    }
    let back = |error: OAuthError| {
        Ok(respond(&app, &request.redirect_uri, request.response_mode, request.state.as_deref(), Err(&error), c.lang))
    };
    let prompt_none = request.prompt.contains(&Prompt::None);
    let sharing = match asked_sharing(&app, &client, &extras).await.map_err(|e| PageError::internal(c.lang, e))? {
        Ok(sharing) => sharing,
        Err(error) => return back(error),
    };
    // A third party's details are data sharing, checked above; an entity's are reuse.
    let details = if client.third_party.is_some() { None } else { extras.details.clone() };
    let requested = requested_reuse(&app, details.as_deref(), &client).await;
    let reuse = match requested.map_err(|e| PageError::internal(c.lang, e))? {
        Ok(reuse) => reuse,
        Err(description) => return back(OAuthError::new(ErrorCode::InvalidAuthorizationDetails, description)),
    };

    // 1. Who is it? Sign in, or sign in again when the client asks for a fresh sign-in.
    if let Some(answer) = sign_in_answer(&app, &request, &pairs, signed_in.as_ref(), c.lang) {
        return Ok(answer);
    }
    let Some(signed_in) = signed_in else {
        return Err(PageError::internal(c.lang, "no session after the sign-in check"));
    };
    let now = now();

    // 2. Is the level of assurance enough? If not, step the person up first (a passkey,
    //    a remote verification), or tell the client it cannot be reached now.
    if let Some(need) = unmet_level(&app, &request, &signed_in, now) {
        let cancelled = pairs.iter().any(|(k, v)| k == STEPUP_PARAM && v == "cancel");
        let ways = if need <= 3 && !prompt_none && !cancelled {
            crate::assurance::security::ways_to_reach(&app, &signed_in, need)
                .await
                .map_err(|e| PageError::internal(c.lang, e))?
        } else {
            None
        };
        if ways.is_none() {
            return back(OAuthError::new(
                ErrorCode::UnmetAuthenticationRequirements,
                "the requested level of assurance cannot be reached now",
            ));
        }
        let here: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != STEPUP_PARAM).cloned().collect();
        let next = format!("/authorize?{}", serde_urlencoded::to_string(&here).unwrap_or_default());
        return Ok(Redirect::to(&crate::assurance::security::stepup_url(need, &next)).into_response());
    }
    let achieved =
        crate::assurance::acr(crate::assurance::session_level(&app, &signed_in.account, &signed_in.session, now));

    // 3. A third party asking for data: the person decides on this request, item by item,
    //    every time (each consent is an artefact of its own).
    if let Some(asked) = &sharing {
        if let Err(error) = grant_is_theirs(&app, &client, asked, signed_in.account.id.0).await {
            return back(error);
        }
        if prompt_none {
            return back(OAuthError::new(ErrorCode::ConsentRequired, "the person has not agreed yet"));
        }
        let sources = crate::consent::artefacts::sources(&app, signed_in.account.id.0, &asked.sharing)
            .await
            .map_err(|e| PageError::internal(c.lang, e))?;
        return Ok(share_page(c.signed_in(), &client, asked, &sources, &pairs, None));
    }

    // 4. Has the person agreed to share this with this entity, and to let it reuse what
    //    other entities hold, where it asked to?
    let consented = app
        .store
        .consented_scope(signed_in.account.id, &client.client_id)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?
        .is_some_and(|stored| request.scope.is_subset_of(&oidc::Scope::from_stored(&stored)));
    let offers = crate::consent::reuse::offers(&app, signed_in.account.id.0, &client, &reuse)
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    if !consented || !offers.is_empty() || request.prompt.contains(&Prompt::Consent) {
        if prompt_none {
            return back(OAuthError::new(ErrorCode::ConsentRequired, "the person has not agreed yet"));
        }
        return Ok(consent_page(c.signed_in(), &client, &request, &pairs, &offers));
    }
    issue_code(&app, &client, &request, &signed_in, (achieved, None), c.lang, &pairs).await
}

fn signin_url(next: &str, login_hint: Option<&str>, reauth: bool) -> String {
    let mut pairs = vec![("next", next)];
    if let Some(hint) = login_hint {
        pairs.push(("login_hint", hint));
    }
    if reauth {
        pairs.push(("reauth", "1"));
    }
    format!("/signin?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
}

async fn issue_code(
    app: &AppState,
    client: &ClientRecord,
    request: &AuthorizationRequest,
    signed_in: &SignedIn,
    (acr, sharing): (&str, Option<String>),
    lang: Lang,
    pairs: &[(String, String)],
) -> PageResult {
    // Whatever led here (the request, the consent form), the fresh sign-in it asks for
    // must have happened.
    if let Some(answer) = sign_in_answer(app, request, pairs, Some(signed_in), lang) {
        return Ok(answer);
    }
    // A pushed request produces one code (RFC 9126 §2.2); the key it named binds the code
    // (RFC 9449 §10).
    let mut dpop_jkt = pairs.iter().find_map(|(k, v)| (k == "dpop_jkt").then(|| v.clone()));
    if let Some((_, request_uri)) = pairs.iter().find(|(k, _)| k == "request_uri") {
        let Some(pushed) =
            app.store.spend_pushed_request(request_uri).await.map_err(|e| PageError::internal(lang, e))?
        else {
            return Err(PageError::new(StatusCode::BAD_REQUEST, lang, "oidc-error-title", "oidc-error-request-uri"));
        };
        dpop_jkt = super::form_pairs(pushed.as_bytes())
            .unwrap_or_default()
            .into_iter()
            .find_map(|(k, v)| (k == "dpop_jkt").then_some(v));
    }
    let code = random_token();
    let now = now();
    let record = CodeRecord {
        client_id: client.client_id.clone(),
        account_id: signed_in.account.id,
        session_id: signed_in.session.id.clone(),
        redirect_uri: request.redirect_uri.as_str().to_string(),
        code_challenge: request.code_challenge.as_str().to_string(),
        scope: request.scope.to_string(),
        nonce: request.nonce.clone(),
        claims: request.claims.as_ref().map(|c| c.to_string()),
        acr: acr.to_string(),
        amr: signed_in.session.auth_methods.clone(),
        auth_time: signed_in.session.created_at,
        dpop_jkt,
        sharing,
    };
    // The entity will know the person by this `sub`: remember it, so the entity can name
    // them with it in the records API.
    let sub = crate::oidc::tokens::subject(app, client, signed_in.account.id.0);
    if let Some(entity_id) = client.entity_id {
        app.store
            .remember_subject(entity_id, &sub, signed_in.account.id.0)
            .await
            .map_err(|e| PageError::internal(lang, e))?;
    }
    app.store
        .insert_code(&token_hash(&code), &record, now, now + CODE_SECONDS)
        .await
        .map_err(|e| PageError::internal(lang, e))?;
    Ok(respond(app, &request.redirect_uri, request.response_mode, request.state.as_deref(), Ok(&code), lang))
}

#[derive(Template)]
#[template(path = "oidc/form_post.html")]
struct FormPostPage {
    lang: Lang,
    action: String,
    fields: Vec<(String, String)>,
    nonce: String,
}

/// The answer to the client: a code, or an error, with `state` and `iss`.
fn respond(
    app: &AppState,
    redirect_uri: &RedirectUri,
    mode: ResponseMode,
    state: Option<&str>,
    outcome: Result<&str, &OAuthError>,
    lang: Lang,
) -> Response {
    let issuer = app.config.issuer();
    let mut fields: Vec<(&str, &str)> = match outcome {
        Ok(code) => vec![("code", code)],
        Err(error) => vec![("error", error.code.as_str()), ("error_description", error.description.as_str())],
    };
    if let Some(state) = state {
        fields.push(("state", state));
    }
    fields.push(("iss", issuer.as_str()));
    match mode {
        ResponseMode::Query => Redirect::to(&redirect_uri.with_params(&fields)).into_response(),
        ResponseMode::FormPost => {
            let nonce = random_id();
            let page = FormPostPage {
                lang,
                action: redirect_uri.as_str().to_string(),
                fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                nonce: nonce.clone(),
            };
            let mut response = render(StatusCode::OK, &page);
            let origin = url_origin(redirect_uri.as_str());
            let csp = format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
            );
            if let Ok(value) = HeaderValue::from_str(&csp) {
                response.headers_mut().insert(CONTENT_SECURITY_POLICY, value);
            }
            response
        }
    }
}

fn url_origin(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(url) => url.origin().ascii_serialization(),
        Err(_) => "'none'".into(),
    }
}

#[derive(Template)]
#[template(path = "oidc/consent.html")]
struct ConsentPage {
    c: Chrome,
    entity: String,
    client: String,
    items: Vec<String>,
    /// Records of other entities the client asks to reuse: (checkbox value, sentence).
    reuse: Vec<(String, String)>,
    request: String,
}

fn consent_page(
    c: Chrome,
    client: &ClientRecord,
    request: &AuthorizationRequest,
    pairs: &[(String, String)],
    offers: &[crate::consent::reuse::Offer],
) -> Response {
    let items = consent_items(&c, request.scope.iter(), &client.allowed_claims);
    let reuse = offers
        .iter()
        .map(|o| {
            let sentence = c.t_with(
                "consent-reuse-item",
                &[
                    ("entity", client.entity_name.clone()),
                    ("kind", crate::catalog::model::kind_name(c.lang, &o.kind)),
                    ("holder", o.holder_name.clone()),
                    ("procedure", o.procedure_name.clone()),
                ],
            );
            (o.key(), sentence)
        })
        .collect();
    let page = ConsentPage {
        c,
        entity: client.entity_name.clone(),
        client: client.name.clone(),
        items,
        reuse,
        request: serde_urlencoded::to_string(pairs).unwrap_or_default(),
    };
    let mut response = render(StatusCode::OK, &page);
    crate::web::headers::allow_form_targets(&mut response, client.redirect_uris.iter().map(String::as_str));
    response
}

/// The person's answer on the consent page; the request is validated again from scratch.
/// Fields: `request`, `decision` (`allow` or not), and one `reuse` per ticked record.
pub async fn consent(
    State(app): State<AppState>,
    c: Chrome,
    signed_in: SignedIn,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> PageResult {
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("");
    let chosen: Vec<String> = fields.iter().filter(|(k, _)| k == "reuse").map(|(_, v)| v.clone()).collect();
    let pairs = pairs_from_query(Some(field("request"))).map_err(|_| bad_request_page(c.lang))?;
    let (client, request, pairs, extras) = match validated(&app, c.lang, pairs).await {
        Ok(ok) => ok,
        Err(answer) => return answer,
    };
    let details = if client.third_party.is_some() { None } else { extras.details.clone() };
    let lang = c.lang;
    let back = |error: OAuthError| {
        Ok(respond(&app, &request.redirect_uri, request.response_mode, request.state.as_deref(), Err(&error), lang))
    };
    if field("decision") != "allow" {
        return back(OAuthError::new(ErrorCode::AccessDenied, "the person did not agree"));
    }
    // A third party's request: what the person ticked becomes what the code carries, for
    // the token endpoint to make the consent artefact of.
    let sharing = match asked_sharing(&app, &client, &extras).await.map_err(|e| PageError::internal(c.lang, e))? {
        Ok(sharing) => sharing,
        Err(error) => return back(error),
    };
    let granted = match &sharing {
        Some(asked) => {
            if let Err(error) = grant_is_theirs(&app, &client, asked, signed_in.account.id.0).await {
                return back(error);
            }
            let ticked: Vec<String> = fields.iter().filter(|(k, _)| k == "item").map(|(_, v)| v.clone()).collect();
            let sources = crate::consent::artefacts::sources(&app, signed_in.account.id.0, &asked.sharing)
                .await
                .map_err(|e| PageError::internal(c.lang, e))?;
            let Some(allowed) = crate::consent::sharing::allow(&asked.sharing, &ticked, &sources) else {
                let problem = c.t("share-none-ticked");
                let mut page = share_page(c.signed_in(), &client, asked, &sources, &pairs, Some(problem));
                *page.status_mut() = StatusCode::BAD_REQUEST;
                return Ok(page);
            };
            let sources = sources.into_iter().filter(|(item, _)| allowed.items.contains(item)).collect();
            let granted = crate::consent::sharing::Granted {
                sharing: allowed,
                sources,
                action: asked.action,
                grant_id: asked.grant_id.clone(),
            };
            Some(serde_json::to_string(&granted).map_err(|e| PageError::internal(c.lang, e))?)
        }
        None => None,
    };
    app.store
        .save_consent(signed_in.account.id, &client.client_id, &request.scope.to_string(), now())
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    if !chosen.is_empty() {
        // Offers are worked out again: only what would be asked now can be agreed to.
        let requested = requested_reuse(&app, details.as_deref(), &client).await;
        let reuse = requested.map_err(|e| PageError::internal(c.lang, e))?.unwrap_or_default();
        let offers = crate::consent::reuse::offers(&app, signed_in.account.id.0, &client, &reuse)
            .await
            .map_err(|e| PageError::internal(c.lang, e))?;
        crate::consent::reuse::accept(&app, signed_in.account.id.0, &client, &offers, &chosen)
            .await
            .map_err(|e| PageError::internal(c.lang, e))?;
    }
    let now = now();
    if unmet_level(&app, &request, &signed_in, now).is_some() {
        return back(OAuthError::new(ErrorCode::UnmetAuthenticationRequirements, "the requested level is not reached"));
    }
    let acr = crate::assurance::acr(crate::assurance::session_level(&app, &signed_in.account, &signed_in.session, now));
    issue_code(&app, &client, &request, &signed_in, (acr, granted), c.lang, &pairs).await
}

/// The request's reuse details, checked against the published catalog (read only when there
/// are details).
async fn requested_reuse(
    app: &AppState,
    details: Option<&str>,
    client: &ClientRecord,
) -> crate::store::StoreResult<Result<Vec<crate::consent::reuse::Requested>, String>> {
    if details.is_none() {
        return Ok(Ok(Vec::new()));
    }
    let catalog = app.catalog.published(&app.store).await?;
    let facts = |slug: &str| {
        catalog.by_slug(slug).map(|p| crate::consent::reuse::ProcedureFacts {
            name: p.name.clone(),
            entity: p.entity.clone(),
            kinds: p.requirements.iter().map(|r| r.kind.clone()).collect(),
            by_law: catalog.reuse_basis(p).is_some(),
        })
    };
    Ok(crate::consent::reuse::requested(details, client, facts))
}

/// A third party's request for data, checked: what it asks, who asks, and what Grant
/// Management should do with an existing grant.
#[derive(Debug, Clone)]
pub struct AskedSharing {
    pub sharing: crate::consent::sharing::Sharing,
    pub organisation: crate::store::third_parties::ThirdParty,
    pub action: crate::consent::sharing::Action,
    pub grant_id: Option<String>,
}

/// A third party's `data_sharing` details and Grant Management parameters, checked against
/// its registered purposes and the catalog's kinds (`Ok(Ok(None))` for an entity's client,
/// or a third party's request without details). `Err` inside: the error for the client.
pub async fn asked_sharing(
    app: &AppState,
    client: &ClientRecord,
    extras: &Extras,
) -> crate::store::StoreResult<Result<Option<AskedSharing>, OAuthError>> {
    let Some(third_party) = &client.third_party else { return Ok(Ok(None)) };
    let Some(details) = extras.details.as_deref() else {
        if extras.grant_action.is_some() || extras.grant_id.is_some() {
            return Ok(Err(OAuthError::invalid_request("grant management needs data_sharing authorization_details")));
        }
        return Ok(Ok(None));
    };
    let Some(organisation) = app.store.third_party_by_slug(&client.entity_slug).await? else {
        return Err(crate::store::StoreError::Data(format!("third party {} is missing", third_party.third_party_id)));
    };
    let asked = crate::consent::sharing::requested(
        Some(details),
        &organisation.purposes,
        crate::catalog::model::is_kind,
        app.clock.now(),
    );
    let sharing = match asked {
        Ok(Some(sharing)) => sharing,
        Ok(None) => return Ok(Ok(None)),
        Err(description) => return Ok(Err(OAuthError::new(ErrorCode::InvalidAuthorizationDetails, description))),
    };
    let parsed = crate::consent::sharing::Action::parse(extras.grant_action.as_deref(), extras.grant_id.as_deref());
    let (action, grant_id) = match parsed {
        Ok(parsed) => parsed,
        Err(description) => return Ok(Err(OAuthError::invalid_request(description))),
    };
    Ok(Ok(Some(AskedSharing { sharing, organisation, action, grant_id })))
}

/// Grant Management merge or replace: the grant must be this client's, this person's, and
/// not revoked (`invalid_grant_id` otherwise).
async fn grant_is_theirs(
    app: &AppState,
    client: &ClientRecord,
    asked: &AskedSharing,
    account_id: i64,
) -> Result<(), OAuthError> {
    let Some(grant_id) = &asked.grant_id else { return Ok(()) };
    let unknown =
        || OAuthError::new(ErrorCode::InvalidGrantId, "grant_id is not a grant of this client for this person");
    let artefact = app.store.current_artefact_of_grant(grant_id).await.map_err(|_| unknown())?.ok_or_else(unknown)?;
    let state = crate::consent::sharing::State::at(&artefact.state, artefact.expires_at, app.clock.now());
    if artefact.client_id != client.client_id
        || artefact.account_id != account_id
        || state == crate::consent::sharing::State::Revoked
    {
        return Err(unknown());
    }
    Ok(())
}

/// One item on the page: its checkbox value, its words, and whether it can be ticked.
pub struct ShareItem {
    pub value: String,
    pub words: String,
    pub available: bool,
}

#[derive(Template)]
#[template(path = "oidc/share.html")]
struct SharePage {
    c: Chrome,
    organisation: String,
    tax_id: String,
    purpose_title: String,
    purpose_description: String,
    client: String,
    items: Vec<ShareItem>,
    frequency: String,
    keep: String,
    until: String,
    request: String,
    problem: Option<String>,
}

/// The consent page of a third party's request: who asks (legal name and tax id), for
/// what, each item and where it comes from (nothing ticked), how often, how long, until
/// when.
fn share_page(
    c: Chrome,
    client: &ClientRecord,
    asked: &AskedSharing,
    sources: &std::collections::BTreeMap<String, crate::consent::sharing::Source>,
    pairs: &[(String, String)],
    problem: Option<String>,
) -> Response {
    use crate::consent::words::{duration_words, frequency_words, sharing_item};
    let purpose = crate::consent::sharing::purpose(&asked.sharing.purpose);
    let items = asked
        .sharing
        .items
        .iter()
        .map(|item| {
            let source = sources.get(item);
            let available = !item.starts_with(crate::consent::sharing::RECORD_PREFIX) || source.is_some();
            ShareItem { value: item.clone(), words: sharing_item(&c, item, source), available }
        })
        .collect();
    let keep = crate::consent::sharing::duration(&asked.sharing.data_life, "data_life")
        .map(|span| duration_words(&c, span))
        .unwrap_or_else(|_| asked.sharing.data_life.clone());
    let until = asked.sharing.expires_at().map(crate::calendar::format_time).unwrap_or_default();
    let page = SharePage {
        organisation: asked.organisation.legal_name.clone(),
        tax_id: asked.organisation.tax_id.clone(),
        purpose_title: purpose.map(|p| p.title.to_string()).unwrap_or_else(|| asked.sharing.purpose.clone()),
        purpose_description: purpose.map(|p| p.description.to_string()).unwrap_or_default(),
        client: client.name.clone(),
        items,
        frequency: frequency_words(&c, &asked.sharing),
        keep,
        until,
        request: serde_urlencoded::to_string(pairs).unwrap_or_default(),
        problem,
        c,
    };
    let mut response = render(StatusCode::OK, &page);
    crate::web::headers::allow_form_targets(&mut response, client.redirect_uris.iter().map(String::as_str));
    response
}
