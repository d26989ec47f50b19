//! The one consent page, `/permisos`: everything the person allowed — which sites receive
//! what at sign-in, and which entity may reuse which record for which procedure — each with
//! its "Retirar permiso" button.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Consent, Withdraw};
use crate::AppState;
use crate::accounts::Actor;
use crate::calendar::format_time;
use crate::catalog::model::kind_name;
use crate::web::client::ClientMeta;
use crate::web::error::{PageError, PageResult};
use crate::web::form::{CsrfForm, PageQuery};
use crate::web::page::{Chrome, render};
use crate::web::session::SignedIn;

pub fn routes() -> Router<AppState> {
    Router::new().route("/permisos", get(show)).route("/permisos/retirar", post(withdraw))
}

/// A sign-in consent as the page shows it.
struct SignInView {
    client_id: String,
    site: String,
    receives: Vec<String>,
    since: String,
}

/// A reuse consent as the page shows it.
struct ReuseView {
    id: String,
    reader: String,
    kind: String,
    holder: String,
    procedure: String,
    since: String,
    withdrawn: Option<String>,
}

#[derive(Template)]
#[template(path = "consent/list.html")]
struct ConsentPage {
    c: Chrome,
    notice: Option<String>,
    problem: Option<String>,
    sign_in: Vec<SignInView>,
    reuse: Vec<ReuseView>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NoticeQuery {
    aviso: Option<String>,
}

async fn show(State(app): State<AppState>, c: Chrome, s: SignedIn, PageQuery(q): PageQuery<NoticeQuery>) -> PageResult {
    let notice = (q.aviso.as_deref() == Some("retirado")).then(|| c.t("consents-withdrawn"));
    page(&app, c, &s, StatusCode::OK, notice, None).await
}

async fn page(
    app: &AppState,
    c: Chrome,
    s: &SignedIn,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
) -> PageResult {
    let internal = |e| PageError::internal(c.lang, e);
    let consents = super::of_person(app, s.account.id).await.map_err(internal)?;
    let catalog = app.catalog.published(&app.store).await.map_err(internal)?;
    let mut entity_names = std::collections::HashMap::new();
    for entity in app.store.list_entities().await.map_err(internal)? {
        entity_names.insert(entity.id, entity.name);
    }
    let entity = |id: i64| entity_names.get(&id).cloned().unwrap_or_else(|| "—".into());
    let (mut sign_in, mut reuse) = (Vec::new(), Vec::new());
    for consent in consents {
        match consent {
            Consent::SignIn { client_id, client_name, entity_name, scope, allowed_claims, granted_at } => {
                sign_in.push(SignInView {
                    site: format!("{entity_name} — {client_name}"),
                    receives: super::words::consent_items(&c, scope.split(' '), &allowed_claims),
                    since: format_time(granted_at),
                    client_id,
                })
            }
            Consent::Reuse { id, reader_entity_id, holder_entity_id, procedure, kind, granted_at, withdrawn_at } => {
                reuse.push(ReuseView {
                    id,
                    reader: entity(reader_entity_id),
                    kind: kind_name(c.lang, &kind),
                    holder: entity(holder_entity_id),
                    procedure: catalog.by_slug(&procedure).map(|p| p.name.clone()).unwrap_or(procedure),
                    since: format_time(granted_at),
                    withdrawn: withdrawn_at.map(format_time),
                })
            }
        }
    }
    let c = c.signed_in();
    Ok(render(status, &ConsentPage { c, notice, problem, sign_in, reuse }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WithdrawForm {
    /// `sign_in` (then `id` is the client id) or `reuse` (the consent's id).
    kind: String,
    id: String,
}

async fn withdraw(
    State(app): State<AppState>,
    c: Chrome,
    client: ClientMeta,
    s: SignedIn,
    CsrfForm(form): CsrfForm<WithdrawForm>,
) -> PageResult {
    let which = match form.kind.as_str() {
        "sign_in" => Withdraw::SignIn(&form.id),
        "reuse" => Withdraw::Reuse(&form.id),
        _ => {
            let problem = Some(c.t("consents-not-withdrawn"));
            return page(&app, c, &s, StatusCode::BAD_REQUEST, None, problem).await;
        }
    };
    let withdrawn = super::withdraw(&app, s.account.id, which, &Actor::from(&client))
        .await
        .map_err(|e| PageError::internal(c.lang, e))?;
    if withdrawn {
        return Ok(Redirect::to("/permisos?aviso=retirado").into_response());
    }
    // Not theirs, unknown or already withdrawn: nothing changed, and the page says so.
    let problem = Some(c.t("consents-not-withdrawn"));
    page(&app, c, &s, StatusCode::NOT_FOUND, None, problem).await
}
