//! The signed-in person, from the session cookie. `MaybeSession` for pages anyone may see,
//! `SignedIn` for pages that need an account (others are sent to the sign-in page and
//! brought back afterwards). Idle and absolute expiry are enforced here, on every request.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use crate::AppState;
use crate::crypto::{now, token_hash};
use crate::i18n::Lang;
use crate::store::{Account, Event, EventKind, SessionRecord, StoreError, Tx};
use crate::web::cookies;
use crate::web::error::PageError;

pub const SESSION_COOKIE: &str = "llave_session";

/// Don't write `last_seen_at` more often than this (seconds).
const TOUCH_EVERY: i64 = 60;

#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: SessionRecord,
    pub account: Account,
}

async fn load(parts: &Parts, state: &AppState) -> Result<Option<SignedIn>, PageError> {
    let lang = Lang::from_headers(&parts.headers);
    let Some(token) = cookies::get(&parts.headers, &state.cookie_policy().name(SESSION_COOKIE)) else {
        return Ok(None);
    };
    let internal = |e| PageError::internal(lang, e);
    let Some(session) = state.store.session_by_token_hash(&token_hash(&token)).await.map_err(internal)? else {
        return Ok(None);
    };
    let now = now();
    let idle_limit = state.config.session.idle_minutes * 60;
    if now >= session.absolute_expires_at || now - session.last_seen_at >= idle_limit {
        // Whoever ends it first records it; the event's reactions tell the entities, once.
        let account = session.account_id;
        state
            .store
            .act("session_expired", async |tx: &mut Tx| {
                if tx.end_session(account, &session.id, "expired", now).await? {
                    tx.event(Event::security(EventKind::SessionExpired, Some(account), "", "", &session.id));
                }
                Ok::<_, StoreError>(())
            })
            .await
            .map_err(internal)?;
        return Ok(None);
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        state.store.touch_session(&session.id, now).await.map_err(internal)?;
    }
    let Some(account) = state.store.account_by_id(session.account_id).await.map_err(internal)? else {
        return Ok(None);
    };
    Ok(Some(SignedIn { session, account }))
}

impl OptionalFromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        load(parts, state).await
    }
}

/// Rejection for `SignedIn`: go sign in, then come back here.
pub enum SignInFirst {
    Redirect(String),
    Error(PageError),
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        match self {
            SignInFirst::Redirect(to) => Redirect::to(&to).into_response(),
            SignInFirst::Error(error) => error.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = SignInFirst;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match load(parts, state).await {
            Ok(Some(signed_in)) => Ok(signed_in),
            Ok(None) => {
                let back = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let next: String = form_urlencoded_component(back);
                Err(SignInFirst::Redirect(format!("/signin?next={next}")))
            }
            Err(error) => Err(SignInFirst::Error(error)),
        }
    }
}

fn form_urlencoded_component(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).map(|s| s.trim_start_matches('=').to_string()).unwrap_or_default()
}

pub use super::redirect::safe_next;
