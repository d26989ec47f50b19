//! Single sign-on, with the `openidconnect` crate playing the entity's website and the
//! in-process `Client` playing the person's browser.

mod code_flow;
mod endpoints;
mod examples;
mod fresh_signin;
mod negative;
mod parameters;
pub mod support;
