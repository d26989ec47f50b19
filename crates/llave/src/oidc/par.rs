//! Pushed authorization requests (RFC 9126): the client sends the request's parameters
//! straight to llave, authenticated, and gets a `request_uri` to send the browser with.
//! The request is validated when pushed and again when used.
//!
//! A signed request object (RFC 9101, JAR) may stand for the parameters (`request`), and a
//! client registered `--require-jar` must send one (FAPI 2.0 Message Signing). A DPoP proof
//! at this endpoint, or `dpop_jkt`, binds the code to a key (RFC 9449 §10).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use oidc::authorize::{ClientPolicy, Params, Rejection};
use oidc::{ErrorCode, OAuthError, RedirectUri};
use serde_json::json;

use super::token::{Failure, answer, authenticated_client, internal};
use crate::AppState;
use crate::crypto::random_token;
use crate::store::entities::ClientRecord;

pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a `request_uri` lives: under FAPI 2.0's 600 seconds, and long enough for a
/// person to sign in (a second factor included) and read a third party's request for data
/// item by item before answering; it is used once either way.
pub const PAR_SECONDS: i64 = 300;
const _: () = assert!(PAR_SECONDS < oidc::fapi::REQUEST_URI_MAX_SECONDS);
/// RFC 9101 §10.8: the `typ` of a request object.
pub const REQUEST_OBJECT_TYP: &str = "oauth-authz-req+jwt";

/// Parameters that authenticate the client rather than describe the request.
fn is_credential(name: &str) -> bool {
    matches!(name, "client_secret" | "client_assertion" | "client_assertion_type")
}

async fn push_inner(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, Failure> {
    let pairs = super::form_pairs(body)?;
    let params = Params::from_pairs(pairs.clone())?;
    let client = authenticated_client(app, headers, &params, "par").await?;
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request("request_uri cannot be pushed").into());
    }
    let require_jar = client.third_party.as_ref().is_some_and(|t| t.require_jar);
    // RFC 9101 §5: with a request object, its claims are the request; outside it only the
    // client's credentials and `client_id` count.
    let request: Vec<(String, String)> = match params.get("request") {
        Some(object) => request_object(app, &client, object)?,
        None if require_jar => {
            return Err(OAuthError::invalid_request("this client must send a signed request object (request)").into());
        }
        None => pairs.into_iter().filter(|(k, _)| !is_credential(k)).collect(),
    };
    // The parameters stored are the authorization request's alone, without credentials.
    let mut stored: Vec<(String, String)> = request
        .into_iter()
        .filter(|(k, _)| !is_credential(k) && k != "client_id")
        .chain(std::iter::once(("client_id".to_string(), client.client_id.clone())))
        .fold(Vec::new(), |mut acc, (k, v)| {
            if !acc.iter().any(|(existing, _): &(String, String)| *existing == k) {
                acc.push((k, v));
            }
            acc
        });
    bind_to_key(app, headers, &mut stored).await?;
    let uris: Vec<RedirectUri> = client.redirect_uris.iter().filter_map(|u| RedirectUri::parse(u).ok()).collect();
    let policy = ClientPolicy { client_id: &client.client_id, redirect_uris: &uris, require_par: client.require_par };
    let check = Params::from_pairs(stored.clone())?;
    if let Err(rejection) = oidc::authorize::validate(&check, &policy, true) {
        let error = match rejection {
            Rejection::NoRedirect(error) | Rejection::Redirect { error, .. } => error,
        };
        return Err(error.into());
    }
    // A third party's data-sharing details are checked when pushed, not first at the
    // browser's visit.
    let extras = super::authorize::Extras::of(&check);
    if let Err(error) = super::authorize::asked_sharing(app, &client, &extras).await.map_err(internal)? {
        return Err(error.into());
    }
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", random_token());
    // The injectable clock: a test sees a request_uri expire without waiting.
    let now = app.clock.now();
    let serialized = serde_urlencoded::to_string(&stored).map_err(internal)?;
    app.store
        .insert_pushed_request(&request_uri, &client.client_id, &serialized, now, now + PAR_SECONDS)
        .await
        .map_err(internal)?;
    Ok(json!({ "request_uri": request_uri, "expires_in": PAR_SECONDS }))
}

/// RFC 9449 §10: `dpop_jkt`, or the key of a DPoP proof sent here, binds the code; both
/// must name the same key.
async fn bind_to_key(app: &AppState, headers: &HeaderMap, stored: &mut Vec<(String, String)>) -> Result<(), Failure> {
    let asked = stored.iter().find(|(k, _)| k == "dpop_jkt").map(|(_, v)| v.clone());
    if let Some(jkt) = &asked
        && (jkt.len() != 43 || !jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        return Err(OAuthError::invalid_request("dpop_jkt must be a base64url SHA-256 JWK thumbprint").into());
    }
    let header = super::dpop::proof_header(headers).map_err(|e| e.to_oauth())?;
    let Some(proof) = header else { return Ok(()) };
    let needs = super::dpop::Needs::default();
    let verified = match super::dpop::accept(app, proof, "POST", "/par", needs).await {
        Ok(verified) => verified,
        Err(super::dpop::Refused::Proof(error)) => return Err(error.to_oauth().into()),
        Err(super::dpop::Refused::Store(error)) => return Err(internal(error)),
    };
    match asked {
        Some(jkt) if jkt != verified.jkt => {
            Err(OAuthError::new(ErrorCode::InvalidDpopProof, "dpop_jkt is not the thumbprint of the DPoP proof's key")
                .into())
        }
        Some(_) => Ok(()),
        None => {
            stored.push(("dpop_jkt".into(), verified.jkt));
            Ok(())
        }
    }
}

/// A signed request object (RFC 9101): `typ` oauth-authz-req+jwt, signed with a key the
/// client registered (a FAPI client: PS256, ES256 or EdDSA), its claims checked by
/// `oidc::fapi::check_request_object`; its parameters, as pairs.
fn request_object(app: &AppState, client: &ClientRecord, object: &str) -> Result<Vec<(String, String)>, Failure> {
    let invalid = |why: &str| Failure::OAuth(OAuthError::new(ErrorCode::InvalidRequestObject, why));
    let header = jsonwebtoken::decode_header(object).map_err(|_| invalid("the request object is not a signed JWT"))?;
    if header.typ.as_deref() != Some(REQUEST_OBJECT_TYP) {
        return Err(invalid("the request object's typ must be oauth-authz-req+jwt"));
    }
    let alg = super::clients::alg_name(header.alg);
    let allowed: &[&str] = if client.fapi { &oidc::fapi::ALGORITHMS } else { &["RS256", "PS256", "ES256", "EdDSA"] };
    if !allowed.contains(&alg) {
        return Err(invalid("the request object's alg is not allowed (PS256, ES256 or EdDSA)"));
    }
    let Some(jwks) = client.jwks.as_deref().and_then(|j| serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(j).ok())
    else {
        return Err(invalid("the client registered no keys to verify a request object with"));
    };
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims::<&str>(&[]);
    let claims = jwks
        .keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .filter_map(|jwk| jsonwebtoken::DecodingKey::from_jwk(jwk).ok())
        .find_map(|key| jsonwebtoken::decode::<serde_json::Value>(object, &key, &validation).ok())
        .map(|data| data.claims)
        .ok_or_else(|| invalid("the request object's signature does not verify with the client's keys"))?;
    oidc::fapi::check_request_object(&claims, &app.config.issuer(), &client.client_id, app.clock.now())?;
    Ok(oidc::fapi::request_object_params(&claims))
}

pub async fn push(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let mut response = answer(push_inner(&app, &headers, &body).await);
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::CREATED;
    }
    response
}
