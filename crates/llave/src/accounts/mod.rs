//! Citizen accounts keyed by the CURP: sign-up (with the CURP's own rules and, when one
//! is configured, the population registry), e-mail confirmation, sign-in with throttling,
//! server-side sessions, password change and reset. The core functions here take plain
//! data and return outcomes; `routes.rs` is the HTTP edge and `pages.rs` the templates.

pub mod device;
pub mod input;
pub mod links;
pub mod mail_jobs;
pub mod pages;
pub mod password;
pub mod routes;
pub mod sessions;
pub mod signin;
pub mod signup;

use crate::store::{AccountId, Event, EventKind};

/// One thing wrong with submitted data: the field, the message key and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: &'static str,
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Problem {
    pub fn new(field: &'static str, key: &'static str) -> Problem {
        Problem { field, key, args: Vec::new() }
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Problem {
        self.args.push((name, value.to_string()));
        self
    }
}

/// The messages of `problems`, by field, in the page's language.
pub fn field_errors(c: &crate::web::page::Chrome, problems: &[Problem]) -> crate::web::page::FieldErrors {
    let mut errors = crate::web::page::FieldErrors::default();
    for problem in problems {
        errors.add(problem.field, c.t_with(problem.key, &problem.args));
    }
    errors
}

/// What sign-in asks after a right password, before it opens a session: `Ok(Some(page))` to
/// ask for more (a second factor), `Ok(None)` to open the session at once. The composition
/// root gives it (`Services::second_step`): the second factors are assurance's, which builds
/// on accounts, so accounts cannot call it by name.
pub type SecondStep = for<'a> fn(
    &'a crate::AppState,
    &'a crate::store::Account,
    &'a str,
) -> std::pin::Pin<
    Box<dyn Future<Output = Result<Option<axum::response::Response>, crate::web::error::PageError>> + Send + 'a>,
>;

/// Who started an action, for the event log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub address: String,
    pub user_agent: String,
}

impl Actor {
    /// An operator at the command line.
    pub fn cli() -> Actor {
        Actor { address: "cli".into(), user_agent: "llave-cli".into() }
    }

    /// A security event of `kind` about `account`, from this browser.
    pub fn event(&self, kind: EventKind, account: Option<AccountId>, detail: &str) -> Event {
        Event::security(kind, account, &self.address, &self.user_agent, detail)
    }
}

impl From<&crate::web::client::ClientMeta> for Actor {
    fn from(client: &crate::web::client::ClientMeta) -> Actor {
        Actor { address: client.address.clone(), user_agent: client.user_agent.clone() }
    }
}
