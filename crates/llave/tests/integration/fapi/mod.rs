//! Third parties and the FAPI 2.0 Security Profile (issue 17): registration through the
//! CLI, the full flow (PAR, private_key_jwt, PKCE, DPoP, code, token, userinfo, refresh),
//! and negative tests named after the OpenID FAPI 2.0 conformance plan's modules
//! (`fapi2-security-profile-final-…`, e.g. `ensure-unsigned-authorization-request-without-
//! using-par-fails` → `ensure_unsigned_authorization_request_without_using_par_fails`).

mod flow;
mod negative;
mod node;
mod registry;
mod sharing;
pub mod support;
