//! The bank's pages, in Spanish, without JavaScript: the home page with **Abrir cuenta con
//! Llave** (a POST form: a pushed request, then the person goes to llave), the callback
//! (the code exchanged, the ID token, the consent artefact, the shared data and each
//! record's seal verified), the account page ("Cuenta abierta", what the bank received and
//! whether each seal verified), **Consultar de nuevo** (another fetch, and the grant's
//! state as grant management reads it), and `POST /demo/banco/avisos`, where llave's
//! signed state notices arrive.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use p256::ecdsa::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::fapi::{self, Shared};
use super::verify::{self, Expect};
use super::{APPLICATION_SECONDS, Application, Bank, CLIENT_ID, SITE};
use crate::AppState;
use crate::crypto::{now, random_token};
use crate::demo_sites::session::{self, Purpose, Visitor};
use crate::web::error::PageError;
use crate::web::page::{Chrome, render};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/demo/banco/", get(home))
        .route("/demo/banco/abrir", post(open))
        .route("/demo/banco/callback", get(callback))
        .route("/demo/banco/consultar", post(fetch_again))
        .route("/demo/banco/avisos", post(notice))
        .route("/demo/banco/salir", post(leave))
}

const BASE: &str = "/demo/banco";

/// The bank's cookie: which application is this browser's, and the CSRF token of its forms.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Visit {
    id: String,
    csrf: String,
    exp: i64,
}

impl Visit {
    fn new() -> Visit {
        Visit { id: random_token(), csrf: random_token(), exp: now() + APPLICATION_SECONDS }
    }

    fn csrf_matches(&self, submitted: &str) -> bool {
        !submitted.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(submitted.as_bytes()))
    }
}

/// An account opened: what the bank keeps (the token and what it needs to use it) and what
/// it shows.
pub(crate) struct Account {
    access_token: String,
    /// The person's pairwise identifier for the bank (the ID token's and artefact's `sub`).
    sub: String,
    grant_id: String,
    artefact_id: String,
    /// The consent artefact as llave signed it: the bank's proof of the person's consent.
    artefact: String,
    purpose: String,
    items: Vec<String>,
    expires: String,
    name: String,
    /// What the first fetch brought.
    first: Fetched,
    /// What "Consultar de nuevo" brought last, and the grant's state then.
    again: Option<Fetched>,
    grant_state: Option<String>,
}

/// How one fetch of the shared data went.
#[derive(Clone, Default)]
struct Fetched {
    delivery: Option<Delivery>,
    refusal: Option<Refusal>,
    /// Something did not verify or llave did not answer: said plainly, never hidden.
    failure: Option<String>,
}

#[derive(Clone)]
struct Delivery {
    name: String,
    curp: String,
    birthdate: String,
    records: Vec<ShownRecord>,
}

#[derive(Clone)]
struct ShownRecord {
    kind: String,
    address: String,
    holder: String,
    valid_until: String,
    /// The sealer's name when the seal verified; otherwise why not.
    sealed_by: Option<String>,
    seal_problem: Option<String>,
}

#[derive(Clone)]
struct Refusal {
    code: String,
    explanation: String,
    /// Llave's own words (`error_description`), when it gave any.
    description: String,
}

/// What a refusal means, for the bank's staff and the applicant.
fn explain(code: &str) -> String {
    match code {
        "consent_revoked" => "La persona revocó su permiso: ya no podemos consultar sus datos.",
        "consent_paused" => "La persona pausó su permiso: no podemos consultar sus datos hasta que lo reanude.",
        "consent_expired" => "El permiso venció: para consultar de nuevo habría que pedirlo otra vez.",
        "fetch_limit_reached" => "El permiso deja consultar los datos solo las veces acordadas, y ya las usamos.",
        "not_covered" => "Pedimos datos que el permiso no cubre.",
        "invalid_token" => "Llave ya no acepta nuestro acceso: la persona revocó el permiso, o este venció.",
        _ => "Llave no dio más detalles.",
    }
    .to_string()
}

/// An item of the contract's vocabulary in words.
fn item_label(item: &str) -> String {
    match item {
        "name" => "nombre".to_string(),
        "curp" => "CURP".to_string(),
        "birthdate" => "fecha de nacimiento".to_string(),
        "email" => "correo electrónico".to_string(),
        "record:proof_of_residence" => "comprobante de domicilio".to_string(),
        other => other.strip_prefix("record:").unwrap_or(other).replace('_', " "),
    }
}

fn state_label(state: &str) -> String {
    match state {
        "ACTIVE" => "activo",
        "PAUSED" => "en pausa",
        "REVOKED" => "revocado",
        "EXPIRED" => "vencido",
        other => other,
    }
    .to_string()
}

/// What a notice says, in words.
fn notice_text(state: &str) -> String {
    match state {
        "ACTIVE" => "el permiso está activo.".to_string(),
        "PAUSED" => "la persona pausó su permiso.".to_string(),
        "REVOKED" => "la persona revocó su permiso.".to_string(),
        other => format!("el permiso cambió a {other}."),
    }
}

#[derive(Template)]
#[template(path = "demo_sites/banco.html")]
struct BankPage {
    entity: &'static str,
    theme: &'static str,
    base: &'static str,
    /// For the layout's header: the applicant once the account is open.
    visitor: Option<Visitor>,
    csrf: String,
    problem: Option<String>,
    account: Option<AccountView>,
}

/// The account as the page shows it.
struct AccountView {
    grant_id: String,
    artefact_id: String,
    artefact: String,
    purpose: String,
    items: String,
    expires: String,
    first: Fetched,
    again: Option<Fetched>,
    grant_state: Option<String>,
    notice: Option<String>,
}

impl BankPage {
    fn new(csrf: &str) -> BankPage {
        BankPage {
            entity: SITE.entity_name,
            theme: "banco",
            base: BASE,
            visitor: None,
            csrf: csrf.to_string(),
            problem: None,
            account: None,
        }
    }

    fn problem(csrf: &str, problem: &str) -> BankPage {
        BankPage { problem: Some(problem.to_string()), ..BankPage::new(csrf) }
    }
}

/// The bank, or llave's 404 page where `llave demo` did not make it.
async fn the_bank(app: &AppState, c: &Chrome) -> Result<Bank, Response> {
    match super::bank(app).await {
        Ok(Some(bank)) => Ok(bank),
        Ok(None) => Err(PageError::not_found(c.lang).into_response()),
        Err(error) => Err(PageError::internal(c.lang, error).into_response()),
    }
}

fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

fn visit(app: &AppState, bank: &Bank, headers: &HeaderMap) -> Option<Visit> {
    session::get(&bank.live, app.cookie_policy(), headers, Purpose::Visitor)
}

fn set_visit(app: &AppState, bank: &Bank, visit: &Visit) -> String {
    session::set(&bank.live, app.cookie_policy(), Purpose::Visitor, visit, APPLICATION_SECONDS)
}

/// The visit a POSTed form of the bank's belongs to (its CSRF token matches), or the page
/// saying the form expired.
fn posted_visit(
    app: &AppState,
    bank: &Bank,
    headers: &HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Visit, Box<Response>> {
    let submitted = form.map(|f| f.0.csrf_token).unwrap_or_default();
    let current = visit(app, bank, headers);
    match current.clone().filter(|v| v.csrf_matches(&submitted)) {
        Some(visit) => Ok(visit),
        None => Err(Box::new(expired_form(app, bank, current))),
    }
}

/// A form without this visit's CSRF token: refused. The visit stays as it was (a forged
/// form cannot reset it); a browser without one gets one, to try again.
fn expired_form(app: &AppState, bank: &Bank, current: Option<Visit>) -> Response {
    let (visit, cookie) = match current {
        Some(visit) => (visit, None),
        None => {
            let visit = Visit::new();
            let cookie = set_visit(app, bank, &visit);
            (visit, Some(cookie))
        }
    };
    let page = BankPage::problem(&visit.csrf, "El formulario expiró. Vuelve a intentarlo.");
    with_cookie(render(StatusCode::FORBIDDEN, &page), cookie)
}

fn see_home() -> Response {
    Redirect::to(&format!("{BASE}/")).into_response()
}

async fn home(State(app): State<AppState>, c: Chrome, headers: HeaderMap) -> Response {
    let bank = match the_bank(&app, &c).await {
        Ok(bank) => bank,
        Err(response) => return response,
    };
    let (visit, cookie) = match visit(&app, &bank, &headers) {
        Some(visit) => (visit, None),
        None => {
            let visit = Visit::new();
            let cookie = set_visit(&app, &bank, &visit);
            (visit, Some(cookie))
        }
    };
    let mut page = BankPage::new(&visit.csrf);
    let opened = super::with_application(&visit.id, |application| {
        application.account.as_ref().map(|account| {
            let view = AccountView {
                grant_id: account.grant_id.clone(),
                artefact_id: account.artefact_id.clone(),
                artefact: account.artefact.clone(),
                purpose: account.purpose.clone(),
                items: account.items.iter().map(|item| item_label(item)).collect::<Vec<_>>().join(", "),
                // The date of the RFC 3339 instant: what the person agreed to.
                expires: account.expires.get(..10).unwrap_or(&account.expires).to_string(),
                first: account.first.clone(),
                again: account.again.clone(),
                grant_state: account.grant_state.clone(),
                notice: None,
            };
            (view, account.name.clone())
        })
    });
    if let Some(Some((mut view, name))) = opened {
        view.notice = super::last_notice(&view.grant_id).map(|n| notice_text(&n.state));
        page.visitor = Some(Visitor { sub: String::new(), name, csrf: visit.csrf.clone(), exp: visit.exp });
        page.account = Some(view);
    }
    with_cookie(render(StatusCode::OK, &page), cookie)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenForm {
    csrf_token: String,
}

/// "Abrir cuenta con Llave": a DPoP key for this applicant, the pushed request, and off to
/// llave with its reference.
async fn open(
    State(app): State<AppState>,
    c: Chrome,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let bank = match the_bank(&app, &c).await {
        Ok(bank) => bank,
        Err(response) => return response,
    };
    let visit = match posted_visit(&app, &bank, &headers, form) {
        Ok(visit) => visit,
        Err(response) => return *response,
    };
    let dpop = SigningKey::random(&mut rand_core::OsRng);
    match fapi::push(&app.http, &bank, &dpop).await {
        Ok((pending, request_uri)) => {
            let application =
                Application { expires: now() + APPLICATION_SECONDS, dpop, pending: Some(pending), account: None };
            super::put_application(&visit.id, application);
            Redirect::to(&fapi::authorize_url(&bank, &request_uri)).into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "the demo bank's pushed authorization request failed");
            // A demo for developers: what llave answered is worth reading.
            let page = BankPage::problem(&visit.csrf, &format!("Llave no aceptó nuestra solicitud ({error})."));
            render(StatusCode::BAD_GATEWAY, &page)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CallbackQuery {
    code: String,
    state: String,
    iss: Option<String>,
    error: Option<String>,
}

/// Back from llave: `state` and `iss` (RFC 9207) first, then the code, the tokens, the
/// artefact and the data; the account page follows.
async fn callback(
    State(app): State<AppState>,
    c: Chrome,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let bank = match the_bank(&app, &c).await {
        Ok(bank) => bank,
        Err(response) => return response,
    };
    let query = query.map(|q| q.0).unwrap_or_default();
    let Some(visit) = visit(&app, &bank, &headers) else {
        let visit = Visit::new();
        let page = BankPage::problem(&visit.csrf, "La sesión expiró. Vuelve a intentarlo.");
        return with_cookie(render(StatusCode::BAD_REQUEST, &page), Some(set_visit(&app, &bank, &visit)));
    };
    // The request in flight, spent now whatever happens: a code comes back once.
    let in_flight = super::with_application(&visit.id, |a| {
        let already_open = a.account.is_some();
        (a.pending.take(), a.dpop.clone(), already_open)
    });
    let (pending, dpop) = match in_flight {
        Some((Some(pending), dpop, _)) if bool::from(pending.state.as_bytes().ct_eq(query.state.as_bytes())) => {
            (pending, dpop)
        }
        // A reload of a callback already used, with the account open: the account page.
        Some((_, _, true)) => return see_home(),
        _ => {
            let page = BankPage::problem(&visit.csrf, "La sesión expiró. Vuelve a intentarlo.");
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
    // RFC 9207 §2.4 (FAPI 2.0 §5.3.3.2): the answer must name our issuer.
    if query.iss.as_deref() != Some(bank.issuer()) {
        let page = BankPage::problem(&visit.csrf, "La respuesta no viene de Llave: no la usamos.");
        return render(StatusCode::BAD_REQUEST, &page);
    }
    if let Some(error) = query.error.as_deref().or(query.code.is_empty().then_some("")) {
        let problem = if error == "access_denied" {
            "No nos diste permiso de consultar tus datos en Llave, así que no abrimos la cuenta. Puedes intentarlo de nuevo."
        } else {
            "No se completó la solicitud en Llave. Puedes intentarlo de nuevo."
        };
        return render(StatusCode::OK, &BankPage::problem(&visit.csrf, problem));
    }
    match open_account(&app, &bank, &dpop, &pending, &query.code).await {
        Ok(account) => {
            super::with_application(&visit.id, |a| a.account = Some(account));
            see_home()
        }
        Err(error) => {
            tracing::warn!(%error, "the demo bank could not open the account");
            let page = BankPage::problem(
                &visit.csrf,
                &format!("No pudimos abrir la cuenta con lo que respondió Llave: {error}"),
            );
            render(StatusCode::BAD_GATEWAY, &page)
        }
    }
}

/// The code exchanged, and everything checked before the bank believes it: the ID token
/// (ours, with our nonce), the consent artefact (signed by llave, for us, this grant and
/// purpose), then the first fetch.
async fn open_account(
    app: &AppState,
    bank: &Bank,
    dpop: &SigningKey,
    pending: &super::Pending,
    code: &str,
) -> Result<Account, String> {
    let tokens = fapi::exchange(&app.http, bank, dpop, pending, code).await.map_err(|e| e.to_string())?;
    let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    let jwks = fapi::hub_jwks(&app.http, bank).await.map_err(|e| e.to_string())?;
    let issuer = bank.issuer();
    let id_token = verify::hub_jws(
        &text(&tokens, "id_token"),
        &jwks,
        &Expect { typ: None, issuer, audience: CLIENT_ID, expires: true },
    )
    .map_err(|e| format!("el ID token no es válido ({e})"))?;
    if text(&id_token, "nonce") != pending.nonce {
        return Err("el ID token no trae nuestro nonce".into());
    }
    let sub = text(&id_token, "sub");
    let artefact_jws = text(&tokens, "consent_artefact");
    let artefact = verify::hub_jws(
        &artefact_jws,
        &jwks,
        &Expect { typ: Some(verify::ARTEFACT_TYP), issuer, audience: CLIENT_ID, expires: false },
    )
    .map_err(|e| format!("el comprobante del permiso no es válido ({e})"))?;
    let grant_id = text(&tokens, "grant_id");
    if grant_id.is_empty() || text(&artefact, "grant_id") != grant_id {
        return Err("el comprobante del permiso es de otra autorización".into());
    }
    if text(&artefact, "sub") != sub {
        return Err("el comprobante del permiso es de otra persona".into());
    }
    if text(&artefact, "purpose") != super::PURPOSE {
        return Err("el comprobante del permiso es para otro propósito".into());
    }
    // The token answer's granted details name the same artefact (RFC 9396 §7).
    let granted = tokens.pointer("/authorization_details/0/consent_artefact_id").and_then(Value::as_str);
    if granted != artefact.get("jti").and_then(Value::as_str) {
        return Err("los detalles autorizados no nombran el comprobante del permiso".into());
    }
    let access_token = text(&tokens, "access_token");
    let artefact_id = text(&artefact, "jti");
    let items: Vec<String> = artefact
        .get("items")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let purpose = crate::third_parties::purpose(super::PURPOSE).map(|p| p.title).unwrap_or(super::PURPOSE).to_string();
    let kept = Kept { token: &access_token, dpop, sub: &sub, artefact_id: &artefact_id, grant_id: &grant_id };
    let first = fetch(app, bank, &kept, &jwks).await;
    let name = first.delivery.as_ref().map(|d| d.name.clone()).unwrap_or_default();
    Ok(Account {
        access_token,
        sub,
        grant_id,
        artefact_id,
        artefact: artefact_jws,
        purpose,
        items,
        expires: text(&artefact, "expires"),
        name,
        first,
        again: None,
        grant_state: None,
    })
}

/// What the bank kept of a consent to fetch with it: the DPoP-bound token and its key, and
/// what the answer must name.
#[derive(Clone, Copy)]
struct Kept<'a> {
    token: &'a str,
    dpop: &'a SigningKey,
    sub: &'a str,
    artefact_id: &'a str,
    grant_id: &'a str,
}

/// One fetch of the shared data, verified: the answer signed by llave for us and this
/// artefact; each record's seal by its holder, chained to llave's root.
async fn fetch(app: &AppState, bank: &Bank, kept: &Kept<'_>, jwks: &jsonwebtoken::jwk::JwkSet) -> Fetched {
    let Kept { token, dpop, sub, artefact_id, grant_id } = *kept;
    let failed = |why: String| Fetched { failure: Some(why), ..Fetched::default() };
    let jws = match fapi::shared_data(&app.http, bank, token, dpop).await {
        Ok(Shared::Data(jws)) => jws,
        Ok(Shared::Refused { error, description }) => {
            let refusal = Refusal { explanation: explain(&error), code: error, description };
            return Fetched { refusal: Some(refusal), ..Fetched::default() };
        }
        Err(error) => return failed(format!("Llave no respondió como esperábamos: {error}")),
    };
    let expect =
        Expect { typ: Some(verify::SHARED_DATA_TYP), issuer: bank.issuer(), audience: CLIENT_ID, expires: false };
    let data = match verify::hub_jws(&jws, jwks, &expect) {
        Ok(data) => data,
        Err(why) => return failed(format!("Los datos recibidos no tienen una firma válida de Llave ({why}).")),
    };
    let text = |v: &Value, pointer: &str| v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string();
    if text(&data, "/consent_artefact_id") != artefact_id || text(&data, "/grant_id") != grant_id {
        return failed("Los datos recibidos no son de este permiso.".into());
    }
    if text(&data, "/sub") != sub {
        return failed("Los datos recibidos son de otra persona.".into());
    }
    let root = match fapi::root_pem(&app.http, bank)
        .await
        .map_err(|e| e.to_string())
        .and_then(|pem| verify::root_certificate(&pem).map_err(|e| e.to_string()))
    {
        Ok(root) => Some(root),
        Err(error) => {
            tracing::warn!(%error, "the demo bank could not read llave's root certificate");
            None
        }
    };
    let records = data
        .get("records")
        .and_then(Value::as_array)
        .map(|records| records.iter().map(|record| show_record(record, root.as_ref(), sub, artefact_id)).collect())
        .unwrap_or_default();
    let name = match data.pointer("/claims/name") {
        Some(Value::String(name)) => name.clone(),
        Some(other @ Value::Object(_)) => other.to_string(),
        _ => String::new(),
    };
    Fetched {
        delivery: Some(Delivery {
            name,
            curp: text(&data, "/claims/curp"),
            birthdate: text(&data, "/claims/birthdate"),
            records,
        }),
        ..Fetched::default()
    }
}

/// A record as the page shows it: the address from its attributes, who holds it, and its
/// seal verified (or why not).
fn show_record(record: &Value, root: Option<&x509_cert::Certificate>, sub: &str, artefact_id: &str) -> ShownRecord {
    let text = |pointer: &str| record.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string();
    let (sealed_by, seal_problem) = match root {
        None => (None, Some("No pudimos obtener el certificado raíz de Llave para verificar el sello.".to_string())),
        Some(root) => match verify::seal(&text("/seal"), root, now())
            .and_then(|sealed| verify::seal_matches(record, &sealed, sub, artefact_id).map(|()| sealed))
        {
            Ok(sealed) => (Some(sealed.sealer), None),
            Err(why) => (None, Some(format!("El sello no se pudo verificar: {why}."))),
        },
    };
    ShownRecord {
        kind: if text("/kind") == "proof_of_residence" { "Comprobante de domicilio".into() } else { text("/kind") },
        address: address(record.get("attributes").unwrap_or(&Value::Null)),
        holder: text("/holder/name"),
        valid_until: record.get("valid_until").and_then(Value::as_str).unwrap_or("sin fecha").to_string(),
        sealed_by,
        seal_problem,
    }
}

/// An address from a record's attributes (the Alcaldía's Spanish names, or the contract's
/// English ones); any other attributes as `name: value`.
fn address(attributes: &Value) -> String {
    let get = |names: &[&str]| {
        names.iter().find_map(|n| attributes.get(*n).and_then(Value::as_str)).map(str::trim).unwrap_or_default()
    };
    let mut parts = Vec::new();
    let street = get(&["calle", "street"]);
    if !street.is_empty() {
        parts.push(street.to_string());
    }
    let colonia = get(&["colonia"]);
    if !colonia.is_empty() {
        parts.push(format!("col. {colonia}"));
    }
    let postal = get(&["codigo_postal", "postal_code"]);
    if !postal.is_empty() {
        parts.push(format!("C.P. {postal}"));
    }
    let alcaldia = get(&["alcaldia"]);
    if !alcaldia.is_empty() {
        parts.push(format!("Alcaldía {alcaldia}"));
    }
    let state = get(&["entidad_federativa"]);
    if !state.is_empty() {
        parts.push(state.to_string());
    }
    if parts.is_empty()
        && let Some(object) = attributes.as_object()
    {
        parts = object
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
            .collect();
    }
    parts.join(", ")
}

/// "Consultar de nuevo": another fetch with the kept token, and the grant's state.
async fn fetch_again(
    State(app): State<AppState>,
    c: Chrome,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let bank = match the_bank(&app, &c).await {
        Ok(bank) => bank,
        Err(response) => return response,
    };
    let visit = match posted_visit(&app, &bank, &headers, form) {
        Ok(visit) => visit,
        Err(response) => return *response,
    };
    let kept = super::with_application(&visit.id, |a| {
        a.account.as_ref().map(|account| {
            let ids = (account.sub.clone(), account.grant_id.clone(), account.artefact_id.clone());
            (account.access_token.clone(), a.dpop.clone(), ids)
        })
    })
    .flatten();
    let Some((token, dpop, (sub, grant_id, artefact_id))) = kept else {
        let page = BankPage::problem(&visit.csrf, "No hay una cuenta abierta en esta sesión.");
        return render(StatusCode::BAD_REQUEST, &page);
    };
    let again = match fapi::hub_jwks(&app.http, &bank).await {
        Ok(jwks) => {
            let kept = Kept { token: &token, dpop: &dpop, sub: &sub, artefact_id: &artefact_id, grant_id: &grant_id };
            fetch(&app, &bank, &kept, &jwks).await
        }
        Err(error) => Fetched { failure: Some(format!("Llave no respondió: {error}")), ..Fetched::default() },
    };
    let grant_state = match fapi::grant_state(&app.http, &bank, &dpop, &grant_id).await {
        Ok(Ok(state)) => Some(state_label(&state)),
        Ok(Err(error)) => Some(format!("Llave no nos lo dijo ({error})")),
        Err(error) => {
            tracing::warn!(%error, "the demo bank could not read the grant");
            Some("Llave no nos lo dijo".to_string())
        }
    };
    super::with_application(&visit.id, |a| {
        if let Some(account) = a.account.as_mut() {
            account.again = Some(again);
            account.grant_state = grant_state;
        }
    });
    see_home()
}

/// `POST /demo/banco/avisos`: a state notice signed by llave; kept (the last per grant)
/// when it verifies. 204, or 400 for anything else.
async fn notice(State(app): State<AppState>, c: Chrome, body: Bytes) -> Response {
    let bank = match the_bank(&app, &c).await {
        Ok(bank) => bank,
        Err(response) => return response,
    };
    let Ok(body) = std::str::from_utf8(&body) else { return StatusCode::BAD_REQUEST.into_response() };
    let jwks = match fapi::hub_jwks(&app.http, &bank).await {
        Ok(jwks) => jwks,
        Err(error) => {
            tracing::warn!(%error, "the demo bank could not read llave's keys for a notice");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    match verify::notice(body, &jwks, bank.issuer(), CLIENT_ID) {
        Ok(notice) => {
            super::keep_notice(notice);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(why) => {
            tracing::warn!(%why, "the demo bank refused a notice");
            (StatusCode::BAD_REQUEST, "invalid notice").into_response()
        }
    }
}

/// Leaves the bank's site: the application is forgotten.
async fn leave(
    State(app): State<AppState>,
    c: Chrome,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let bank = match the_bank(&app, &c).await {
        Ok(bank) => bank,
        Err(response) => return response,
    };
    let submitted = form.map(|f| f.0.csrf_token).unwrap_or_default();
    match visit(&app, &bank, &headers) {
        Some(visit) if visit.csrf_matches(&submitted) => {
            super::forget_application(&visit.id);
            let clear = session::clear(&bank.live, app.cookie_policy(), Purpose::Visitor);
            with_cookie(see_home(), Some(clear))
        }
        current => expired_form(&app, &bank, current),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_address_reads_from_either_vocabulary() {
        let alcaldia = json!({ "calle": "Lerma 71", "colonia": "Cuauhtémoc", "codigo_postal": "06500",
            "alcaldia": "Cuauhtémoc", "entidad_federativa": "Ciudad de México" });
        assert_eq!(address(&alcaldia), "Lerma 71, col. Cuauhtémoc, C.P. 06500, Alcaldía Cuauhtémoc, Ciudad de México");
        let contract = json!({ "street": "Lerma 71", "postal_code": "06500" });
        assert_eq!(address(&contract), "Lerma 71, C.P. 06500");
        assert_eq!(address(&json!({ "otro": "x" })), "otro: x");
        assert_eq!(address(&Value::Null), "");
    }

    #[test]
    fn every_refusal_of_the_contract_is_explained() {
        for code in [
            "consent_revoked",
            "consent_paused",
            "consent_expired",
            "fetch_limit_reached",
            "not_covered",
            "invalid_token",
        ] {
            assert_ne!(explain(code), explain("something else"), "{code}");
        }
    }
}
