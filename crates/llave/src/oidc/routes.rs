//! The OpenID Connect provider's endpoints (one file per endpoint, in this folder).

use axum::Router;
use axum::routing::{get, post};

use super::{authorize, discovery, introspection, logout, par, token, userinfo};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::configuration))
        .route("/jwks", get(discovery::jwks))
        .route("/authorize", get(authorize::authorize_get).post(authorize::authorize_post))
        .route("/authorize/consent", post(authorize::consent))
        .route("/token", post(token::token))
        .route("/userinfo", get(userinfo::userinfo).post(userinfo::userinfo))
        .route("/introspect", post(introspection::introspect))
        .route("/revoke", post(introspection::revoke))
        .route("/par", post(par::push))
        .route("/logout", get(logout::end_session_get).post(logout::end_session_post))
        .route("/logout/confirm", post(logout::confirm))
}
