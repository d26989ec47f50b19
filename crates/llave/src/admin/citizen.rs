//! `llave citizen add` (service centres, tests) and `llave citizen show`.

use serde::Serialize;

use crate::Services;
use crate::accounts::signup::{self, Origin, SignupError, SignupInput};
use crate::accounts::{Actor, Problem};
use crate::i18n::Lang;
use crate::store::Account;

/// What `citizen show --json` prints (never the password hash).
#[derive(Debug, Serialize)]
pub struct CitizenView {
    pub id: i64,
    pub curp: String,
    pub given_names: String,
    pub first_surname: String,
    pub second_surname: Option<String>,
    pub birth_date: String,
    pub sex: String,
    pub state: String,
    pub email: String,
    pub email_confirmed: bool,
    pub created_at: i64,
    pub created_by: String,
    pub assurance_level: &'static str,
}

impl From<&Account> for CitizenView {
    fn from(account: &Account) -> CitizenView {
        CitizenView {
            id: account.id.0,
            curp: account.curp.clone(),
            given_names: account.given_names.clone(),
            first_surname: account.first_surname.clone(),
            second_surname: account.second_surname.clone(),
            birth_date: account.birth_date.clone(),
            sex: account.sex.clone(),
            state: account.birth_state.clone(),
            email: account.email.clone(),
            email_confirmed: account.email_confirmed_at.is_some(),
            created_at: account.created_at,
            created_by: account.created_by.clone(),
            // Level 1 needs a confirmed e-mail; below it the account only exists.
            assurance_level: match crate::assurance::account_level(account) {
                0 => "none",
                level => crate::assurance::acr(level),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CitizenError {
    #[error("{}", describe(.0))]
    Invalid(Vec<Problem>),
    #[error("no account has the CURP {0}")]
    NotFound(String),
    #[error("{0}")]
    Other(String),
}

fn describe(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("{}: {}", p.field, Lang::En.t_with(p.key, &p.args))).collect::<Vec<_>>().join("\n")
}

pub async fn add(app: &Services, input: &SignupInput, email_confirmed: bool) -> Result<CitizenView, CitizenError> {
    let registered = signup::register(app, input, Origin::Operator { email_confirmed }, &Actor::cli(), Lang::Es)
        .await
        .map_err(|e| match e {
            SignupError::Invalid(problems) => CitizenError::Invalid(problems),
            other => CitizenError::Other(other.to_string()),
        })?;
    let account = app
        .store
        .account_by_id(registered.account_id)
        .await
        .map_err(|e| CitizenError::Other(e.to_string()))?
        .ok_or_else(|| CitizenError::NotFound(registered.curp.to_string()))?;
    Ok(CitizenView::from(&account))
}

pub async fn show(app: &Services, curp: &str) -> Result<CitizenView, CitizenError> {
    let parsed = curp::Curp::parse(curp)
        .map_err(|e| CitizenError::Invalid(vec![crate::accounts::input::curp_problem("curp", &e)]))?;
    let account = app
        .store
        .account_by_curp(parsed.as_str())
        .await
        .map_err(|e| CitizenError::Other(e.to_string()))?
        .ok_or_else(|| CitizenError::NotFound(parsed.to_string()))?;
    Ok(CitizenView::from(&account))
}

impl CitizenView {
    /// The human-readable form printed without `--json`.
    pub fn to_text(&self) -> String {
        let second = self.second_surname.as_deref().map(|s| format!(" {s}")).unwrap_or_default();
        format!(
            "CURP:        {}\nName:        {} {}{}\nBirth date:  {}\nSex:         {}\nState:       {}\nE-mail:      {} ({})\nLevel:       {}\nCreated:     {} by {}\n",
            self.curp,
            self.given_names,
            self.first_surname,
            second,
            self.birth_date,
            self.sex,
            self.state,
            self.email,
            if self.email_confirmed { "confirmed" } else { "not confirmed" },
            self.assurance_level,
            crate::calendar::format_time(self.created_at),
            self.created_by,
        )
    }
}
