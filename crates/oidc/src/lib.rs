//! The OpenID Connect protocol engine of llave: pure functions over plain data, no HTTP
//! framework and no SQL. It validates authorization requests (an ordered list of small
//! checks, each testable alone), decides the token endpoint's grants over stored snapshots
//! (`grants`: one file per grant type), verifies PKCE, computes pairwise subjects, and names
//! every error exactly as RFC 6749, RFC 7009, RFC 7662 and OpenID Connect Core spell it.
//! The server (`crates/llave/src/oidc`) does the I/O around it.

pub mod authorize;
pub mod dpop;
pub mod errors;
pub mod fapi;
pub mod grants;
pub mod pkce;
pub mod redirect_uri;
pub mod scope;
pub mod subject;

pub use errors::{ErrorCode, OAuthError};
pub use redirect_uri::RedirectUri;
pub use scope::Scope;
