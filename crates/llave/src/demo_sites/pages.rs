//! The demo sites' pages. The Alcaldía's: sign in with Llave, ask for a proof of residence
//! (an address), get it. Semovi's: apply for a driver's licence, sign in with Llave asking
//! to reuse a proof of residence, and see it read from the Alcaldía's store, or be asked to
//! upload one when the person did not consent or has none.

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::rp::{self, Lookup};
use super::session::{self, Login, Purpose, VISIT_SECONDS, Visitor};
use super::{ALCALDIA, LICENCE_PROCEDURE, Live, RESIDENCE_KIND, RESIDENCE_PROCEDURE, SEMOVI};
use crate::AppState;
use crate::calendar;
use crate::crypto::{now, random_token};
use crate::web::error::PageError;
use crate::web::page::{Chrome, render};

/// `/demo/semovi` → `/demo/semovi/`; a slug no path can hold (a newline, DEL) is simply not found.
async fn add_slash(c: Chrome, Path(slug): Path<String>) -> Response {
    match crate::web::redirect::local_path(&format!("/demo/{slug}/")) {
        Some(path) => crate::web::redirect::see_other(&path),
        None => crate::web::error::PageError::not_found(c.lang).into_response(),
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(super::bank::routes())
        .route("/demo/sitio.css", get(stylesheet))
        .route("/demo/{slug}", get(add_slash))
        .route("/demo/{slug}/", get(home))
        .route("/demo/{slug}/entrar", get(sign_in))
        .route("/demo/{slug}/callback", get(callback))
        .route("/demo/{slug}/constancia", post(issue_proof_of_residence))
        .route("/demo/{slug}/salir", post(sign_out))
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")),
            (CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        include_str!("../../static/demo-sites.css"),
    )
        .into_response()
}

/// The site, or llave's 404 page where `llave demo` did not make it.
async fn site(app: &AppState, slug: &str, c: &Chrome) -> Result<Live, Response> {
    match super::live(app, slug).await {
        Ok(Some(live)) => Ok(live),
        Ok(None) => Err(PageError::not_found(c.lang).into_response()),
        Err(error) => Err(PageError::internal(c.lang, error).into_response()),
    }
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

fn base(live: &Live) -> String {
    format!("/demo/{}", live.site.slug)
}

#[derive(Template)]
#[template(path = "demo_sites/alcaldia.html")]
struct AlcaldiaPage {
    entity: &'static str,
    theme: &'static str,
    base: String,
    visitor: Option<Visitor>,
    issued: Option<Issued>,
    problem: Option<String>,
    calle: String,
    colonia: String,
    codigo_postal: String,
}

struct Issued {
    record_id: String,
    address: String,
    valid_until: String,
}

impl AlcaldiaPage {
    fn new(live: &Live, visitor: Option<Visitor>) -> AlcaldiaPage {
        AlcaldiaPage {
            entity: ALCALDIA.entity_name,
            theme: "alcaldia",
            base: base(live),
            visitor,
            issued: None,
            problem: None,
            calle: String::new(),
            colonia: String::new(),
            codigo_postal: String::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "demo_sites/semovi.html")]
struct SemoviPage {
    entity: &'static str,
    theme: &'static str,
    base: String,
    visitor: Option<Visitor>,
    outcome: Option<Outcome>,
    problem: Option<String>,
}

/// How an application for a licence went.
enum Outcome {
    /// The proof of residence was read from its holder.
    Reused { holder: String, address: String, valid_until: String, record_id: String },
    /// The person did not let Semovi reuse it.
    NoConsent,
    /// Nobody holds one.
    NotFound,
    /// The person turned back at llave.
    Cancelled,
}

impl SemoviPage {
    fn new(live: &Live, visitor: Option<Visitor>, outcome: Option<Outcome>) -> SemoviPage {
        SemoviPage { entity: SEMOVI.entity_name, theme: "semovi", base: base(live), visitor, outcome, problem: None }
    }
}

fn visitor(app: &AppState, live: &Live, headers: &HeaderMap) -> Option<Visitor> {
    session::get(live, app.cookie_policy(), headers, Purpose::Visitor)
}

async fn home(State(app): State<AppState>, Path(slug): Path<String>, c: Chrome, headers: HeaderMap) -> Response {
    let live = match site(&app, &slug, &c).await {
        Ok(live) => live,
        Err(response) => return response,
    };
    let visitor = visitor(&app, &live, &headers);
    if live.site.slug == ALCALDIA.slug {
        render(StatusCode::OK, &AlcaldiaPage::new(&live, visitor))
    } else {
        render(StatusCode::OK, &SemoviPage::new(&live, visitor, None))
    }
}

/// Off to llave; Semovi asks to reuse a proof of residence for the licence.
async fn sign_in(State(app): State<AppState>, Path(slug): Path<String>, c: Chrome) -> Response {
    let live = match site(&app, &slug, &c).await {
        Ok(live) => live,
        Err(response) => return response,
    };
    let reuse = (live.site.slug == SEMOVI.slug).then_some((LICENCE_PROCEDURE, RESIDENCE_KIND));
    let (url, login) = rp::authorization_url(&live, reuse);
    let cookie = session::set(&live, app.cookie_policy(), Purpose::Login, &login, session::LOGIN_SECONDS);
    with_cookies(Redirect::to(&url).into_response(), &[cookie])
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CallbackQuery {
    code: String,
    state: String,
    iss: Option<String>,
    error: Option<String>,
}

/// A failure page of the site (it is the site's problem, not the person's).
fn problem_page(live: &Live, status: StatusCode, visitor: Option<Visitor>, problem: &str) -> Response {
    if live.site.slug == ALCALDIA.slug {
        let page = AlcaldiaPage { problem: Some(problem.to_string()), ..AlcaldiaPage::new(live, visitor) };
        render(status, &page)
    } else {
        let page = SemoviPage { problem: Some(problem.to_string()), ..SemoviPage::new(live, visitor, None) };
        render(status, &page)
    }
}

/// Back from llave: check `state` and `iss` (RFC 9207), exchange the code, check the ID
/// token; the Alcaldía then shows its form, Semovi looks the proof of residence up.
async fn callback(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    c: Chrome,
    headers: HeaderMap,
    query: Result<axum::extract::Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let live = match site(&app, &slug, &c).await {
        Ok(live) => live,
        Err(response) => return response,
    };
    let policy = app.cookie_policy();
    let clear = session::clear(&live, policy, Purpose::Login);
    let query = query.map(|q| q.0).unwrap_or_default();
    let login: Option<Login> = session::get(&live, policy, &headers, Purpose::Login);
    let Some(login) = login.filter(|l| bool::from(l.state.as_bytes().ct_eq(query.state.as_bytes()))) else {
        // A reload of a callback already used (its sign-in is spent): whoever is signed in
        // here stays so, and sees the site's page rather than an expired session.
        if visitor(&app, &live, &headers).is_some() {
            return with_cookies(Redirect::to(&format!("{}/", base(&live))).into_response(), &[clear]);
        }
        let page = problem_page(&live, StatusCode::BAD_REQUEST, None, "La sesión expiró. Vuelve a intentarlo.");
        return with_cookies(page, &[clear]);
    };
    if query.iss.as_deref().is_some_and(|iss| iss != live.issuer) {
        let page = problem_page(&live, StatusCode::BAD_REQUEST, None, "La respuesta no viene de Llave.");
        return with_cookies(page, &[clear]);
    }
    if query.error.is_some() || query.code.is_empty() {
        let page = if live.site.slug == SEMOVI.slug {
            render(StatusCode::OK, &SemoviPage::new(&live, None, Some(Outcome::Cancelled)))
        } else {
            problem_page(&live, StatusCode::OK, None, "No iniciaste sesión con Llave.")
        };
        return with_cookies(page, &[clear]);
    }
    let person = match rp::finish(&app.http, &live, &login, &query.code).await {
        Ok(person) => person,
        Err(error) => {
            tracing::warn!(%error, site = live.site.slug, "demo site sign-in failed");
            let page = problem_page(
                &live,
                StatusCode::BAD_GATEWAY,
                None,
                "No pudimos completar el inicio de sesión con Llave.",
            );
            return with_cookies(page, &[clear]);
        }
    };
    let visitor = Visitor { sub: person.sub, name: person.name, csrf: random_token(), exp: now() + VISIT_SECONDS };
    let remember = session::set(&live, policy, Purpose::Visitor, &visitor, VISIT_SECONDS);
    if live.site.slug == ALCALDIA.slug {
        return with_cookies(Redirect::to(&format!("{}/", base(&live))).into_response(), &[clear, remember]);
    }
    let page = match rp::look_up_and_read(&app.http, &live, &visitor.sub, LICENCE_PROCEDURE, RESIDENCE_KIND).await {
        Ok(Lookup::Read { holder, record }) => {
            let attribute = |name: &str| record["attributes"][name].as_str().unwrap_or_default().to_string();
            let address =
                format!("{}, col. {}, C.P. {}", attribute("calle"), attribute("colonia"), attribute("codigo_postal"));
            let outcome = Outcome::Reused {
                holder,
                address,
                valid_until: record["valid_until"].as_str().unwrap_or("sin fecha").to_string(),
                record_id: record["record_id"].as_str().unwrap_or_default().to_string(),
            };
            render(StatusCode::OK, &SemoviPage::new(&live, Some(visitor), Some(outcome)))
        }
        Ok(Lookup::ConsentRequired) => {
            render(StatusCode::OK, &SemoviPage::new(&live, Some(visitor), Some(Outcome::NoConsent)))
        }
        Ok(Lookup::NotFound) => render(StatusCode::OK, &SemoviPage::new(&live, Some(visitor), Some(Outcome::NotFound))),
        Err(error) => {
            tracing::warn!(%error, "the demo site could not look the proof of residence up");
            problem_page(
                &live,
                StatusCode::BAD_GATEWAY,
                Some(visitor),
                "No pudimos consultar tu comprobante de domicilio. Intenta más tarde.",
            )
        }
    };
    with_cookies(page, &[clear, remember])
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AddressForm {
    csrf_token: String,
    calle: String,
    colonia: String,
    codigo_postal: String,
}

/// What is wrong with the address, in words.
fn address_problem(form: &AddressForm) -> Option<&'static str> {
    let (calle, colonia, cp) = (form.calle.trim(), form.colonia.trim(), form.codigo_postal.trim());
    let clean = |s: &str| !s.chars().any(char::is_control);
    if calle.is_empty() || calle.chars().count() > 200 || !clean(calle) {
        Some("Escribe la calle y el número (hasta 200 caracteres).")
    } else if colonia.is_empty() || colonia.chars().count() > 100 || !clean(colonia) {
        Some("Escribe la colonia (hasta 100 caracteres).")
    } else if cp.len() != 5 || !cp.bytes().all(|b| b.is_ascii_digit()) {
        Some("El código postal tiene cinco dígitos.")
    } else {
        None
    }
}

/// The Alcaldía stores the proof of residence in its own store, valid for a year.
async fn issue_proof_of_residence(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    c: Chrome,
    headers: HeaderMap,
    form: Result<Form<AddressForm>, FormRejection>,
) -> Response {
    let live = match site(&app, &slug, &c).await {
        Ok(live) if live.site.slug == ALCALDIA.slug => live,
        Ok(_) => return PageError::not_found(c.lang).into_response(),
        Err(response) => return response,
    };
    let form = form.map(|f| f.0).unwrap_or_default();
    let Some(visitor) = visitor(&app, &live, &headers) else {
        return problem_page(
            &live,
            StatusCode::FORBIDDEN,
            None,
            "Inicia sesión con Llave para solicitar tu constancia.",
        );
    };
    if !visitor.csrf_matches(&form.csrf_token) {
        return problem_page(&live, StatusCode::FORBIDDEN, Some(visitor), "El formulario expiró. Vuelve a enviarlo.");
    }
    if let Some(problem) = address_problem(&form) {
        let page = AlcaldiaPage {
            problem: Some(problem.to_string()),
            calle: form.calle.clone(),
            colonia: form.colonia.clone(),
            codigo_postal: form.codigo_postal.clone(),
            ..AlcaldiaPage::new(&live, Some(visitor))
        };
        return render(StatusCode::BAD_REQUEST, &page);
    }
    let today = calendar::city_date(now());
    let next_year = today
        .replace_year(today.year() + 1)
        .or_else(|_| today.replace_day(28).and_then(|d| d.replace_year(today.year() + 1)))
        .unwrap_or(today);
    let (calle, colonia, cp) = (form.calle.trim(), form.colonia.trim(), form.codigo_postal.trim());
    let record = json!({
        "sub": visitor.sub,
        "kind": RESIDENCE_KIND,
        "procedure": RESIDENCE_PROCEDURE,
        "valid_from": calendar::format_date(today),
        "valid_until": calendar::format_date(next_year),
        "attributes": {
            "nombre": visitor.name,
            "calle": calle,
            "colonia": colonia,
            "codigo_postal": cp,
            "alcaldia": "Cuauhtémoc",
            "entidad_federativa": "Ciudad de México",
        },
    });
    match rp::store_record(&app.http, &live, &record).await {
        Ok(stored) => {
            let issued = Issued {
                record_id: stored["record_id"].as_str().unwrap_or_default().to_string(),
                address: format!("{calle}, col. {colonia}, C.P. {cp}, Alcaldía Cuauhtémoc, Ciudad de México"),
                valid_until: stored["valid_until"].as_str().unwrap_or("sin fecha").to_string(),
            };
            render(StatusCode::OK, &AlcaldiaPage { issued: Some(issued), ..AlcaldiaPage::new(&live, Some(visitor)) })
        }
        Err(error) => {
            tracing::warn!(%error, "the demo site could not store the proof of residence");
            problem_page(
                &live,
                StatusCode::BAD_GATEWAY,
                Some(visitor),
                "No pudimos emitir tu constancia. Intenta más tarde.",
            )
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenForm {
    csrf_token: String,
}

/// Leaves the site (not llave: the person stays signed in there).
async fn sign_out(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    c: Chrome,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let live = match site(&app, &slug, &c).await {
        Ok(live) => live,
        Err(response) => return response,
    };
    let submitted = form.map(|f| f.0.csrf_token).unwrap_or_default();
    match visitor(&app, &live, &headers) {
        Some(visitor) if visitor.csrf_matches(&submitted) => {
            let clear = session::clear(&live, app.cookie_policy(), Purpose::Visitor);
            with_cookies(Redirect::to(&format!("{}/", base(&live))).into_response(), &[clear])
        }
        visitor => problem_page(&live, StatusCode::FORBIDDEN, visitor, "El formulario expiró. Vuelve a intentarlo."),
    }
}
