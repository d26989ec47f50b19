//! Sign-up: the CURP's own rules, its consistency with the declared name and birth date,
//! the population registry when one is configured, the password policy, then one
//! `INSERT` that the database refuses for a CURP already taken (so two concurrent
//! sign-ups with one CURP make one account). A confirmation link goes out by e-mail.

use curp::{Curp, Mismatch, Person};

use super::input::{Email, Name, curp_problem};
use super::password::check_new_password;
use super::{Actor, Problem, links};
use crate::Services;
use crate::i18n::Lang;
use crate::store::{AccountId, Event, EventKind, NewAccount, StoreError};

/// What a person (or an operator) submits, as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct SignupInput {
    pub curp: String,
    pub given_names: String,
    pub first_surname: String,
    pub second_surname: String,
    pub birth_date: String,
    /// Optional: taken from the CURP when empty (the web form does not ask).
    pub sex: String,
    /// Optional: taken from the CURP when empty.
    pub state: String,
    pub email: String,
    pub password: String,
}

impl SignupInput {
    /// The sign-up of a synthetic person (`curp::Synth`): demo data and benchmarks.
    pub fn synthetic(curp: &curp::Curp, person: &curp::Person, email: String, password: String) -> SignupInput {
        SignupInput {
            curp: curp.to_string(),
            given_names: person.given_names.clone(),
            first_surname: person.first_surname.clone(),
            second_surname: person.second_surname.clone().unwrap_or_default(),
            birth_date: person.birth_date.to_string(),
            sex: person.sex.as_char().to_string(),
            state: person.state.code().to_string(),
            email,
            password,
        }
    }
}

/// How the account comes to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The person, on the sign-up page; the e-mail must be confirmed by link.
    SelfService,
    /// An operator at a service centre; `email_confirmed` says whether the address was
    /// checked there.
    Operator { email_confirmed: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("the submitted data has problems")]
    Invalid(Vec<Problem>),
    #[error("the population registry is unavailable: {0}")]
    RegistryUnavailable(String),
    /// Self-service sign-up with a CURP or an e-mail that already has an account: the page
    /// answers exactly as for a new account (no enumeration) and the owner gets a notice.
    #[error("an account already holds this CURP or e-mail")]
    AlreadyRegistered,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Hash(#[from] super::password::HashError),
}

#[derive(Debug, Clone)]
pub struct Registered {
    pub account_id: AccountId,
    pub curp: Curp,
    /// False when the confirmation e-mail could not be sent (the account exists anyway;
    /// the account page offers to send it again).
    pub confirmation_sent: bool,
}

struct Valid {
    curp: Curp,
    person: Person,
    /// `None` only where the e-mail is optional and none was given.
    email: Option<Email>,
}

/// How the password of a new account is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordChoice {
    /// Typed now (the sign-up form; the officer's screen, by the person).
    Now,
    /// Chosen later with a one-time activation code printed at the counter.
    ActivationCode,
}

/// Whether the new account must have an e-mail address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EmailNeed {
    Required,
    /// At the counter: a person without e-mail is not left out.
    Optional,
}

/// Checks everything that needs no I/O; returns every problem at once.
fn validate(input: &SignupInput) -> Result<Valid, Vec<Problem>> {
    validate_with(input, EmailNeed::Required, PasswordChoice::Now)
}

fn validate_with(input: &SignupInput, email_need: EmailNeed, password: PasswordChoice) -> Result<Valid, Vec<Problem>> {
    let mut problems = Vec::new();
    let curp = Curp::parse(&input.curp).map_err(|e| problems.push(curp_problem("curp", &e))).ok();
    let given = Name::parse("given_names", &input.given_names).map_err(|p| problems.push(p)).ok();
    let first = Name::parse("first_surname", &input.first_surname).map_err(|p| problems.push(p)).ok();
    let second = if input.second_surname.trim().is_empty() {
        Some(None)
    } else {
        Name::parse("second_surname", &input.second_surname).map(Some).map_err(|p| problems.push(p)).ok()
    };
    let birth_date = match input.birth_date.trim() {
        "" => {
            problems.push(Problem::new("birth_date", "field-required"));
            None
        }
        text => curp::Date::parse_iso(text).or_else(|| {
            problems.push(Problem::new("birth_date", "birth-date-invalid"));
            None
        }),
    };
    let sex = match input.sex.trim() {
        "" => curp.as_ref().map(Curp::sex),
        text => curp::Sex::parse(text).or_else(|| {
            problems.push(Problem::new("sex", "sex-invalid"));
            None
        }),
    };
    let state = match input.state.trim() {
        "" => curp.as_ref().map(Curp::state),
        text => curp::State::parse(text).or_else(|| {
            problems.push(Problem::new("state", "state-invalid"));
            None
        }),
    };
    let email = match (email_need, input.email.trim()) {
        (EmailNeed::Optional, "") => Some(None),
        _ => Email::parse("email", &input.email).map(Some).map_err(|p| problems.push(p)).ok(),
    };

    let personal: Vec<&str> =
        [input.curp.trim(), input.given_names.as_str(), input.first_surname.as_str(), input.email.as_str()]
            .into_iter()
            .chain(input.email.split('@').next())
            .collect();
    if password == PasswordChoice::Now
        && let Err(problem) = check_new_password(&input.password, &personal)
    {
        problems.push(Problem::new("password", problem.message_key()));
    }

    let (Some(curp), Some(given), Some(first), Some(second), Some(birth_date), Some(sex), Some(state), Some(email)) =
        (curp, given, first, second, birth_date, sex, state, email)
    else {
        return Err(problems);
    };
    let person = Person {
        given_names: given.as_str().to_string(),
        first_surname: first.as_str().to_string(),
        second_surname: second.map(|n| n.as_str().to_string()),
        birth_date,
        sex,
        state,
    };
    if let Err(mismatches) = curp::check_consistency(&curp, &person) {
        problems.extend(mismatches.iter().map(mismatch_problem));
    }
    if problems.is_empty() { Ok(Valid { curp, person, email }) } else { Err(problems) }
}

fn mismatch_problem(mismatch: &Mismatch) -> Problem {
    match mismatch {
        Mismatch::NameLetters { expected, found } => {
            Problem::new("curp", "curp-mismatch-names").with("expected", expected).with("found", found)
        }
        Mismatch::InternalConsonants { expected, found } => {
            Problem::new("curp", "curp-mismatch-consonants").with("expected", expected).with("found", found)
        }
        Mismatch::BirthDate => Problem::new("birth_date", "curp-mismatch-birth-date"),
        Mismatch::Sex => Problem::new("sex", "curp-mismatch-sex"),
        Mismatch::State => Problem::new("state", "curp-mismatch-state"),
    }
}

/// Creates the account, or says precisely why not.
pub async fn register(
    app: &Services,
    input: &SignupInput,
    origin: Origin,
    actor: &Actor,
    lang: Lang,
) -> Result<Registered, SignupError> {
    let valid = validate(input).map_err(SignupError::Invalid)?;
    let Some(email) = valid.email.clone() else {
        return Err(SignupError::Invalid(vec![Problem::new("email", "field-required")]));
    };

    check_registry(app, &valid).await?;

    let password_hash = app.passwords.hash(&input.password).await?;
    let email_confirmed = matches!(origin, Origin::Operator { email_confirmed: true });
    let new = NewAccount {
        curp: valid.curp.as_str().to_string(),
        given_names: valid.person.given_names.clone(),
        first_surname: valid.person.first_surname.clone(),
        second_surname: valid.person.second_surname.clone(),
        birth_date: valid.person.birth_date.to_string(),
        sex: valid.person.sex.as_char().to_string(),
        birth_state: valid.person.state.code().to_string(),
        email: email.as_str().to_string(),
        email_normalized: email.normalized().to_string(),
        email_confirmed,
        password_hash,
        created_by: match origin {
            Origin::SelfService => "self".into(),
            Origin::Operator { .. } => "operator".into(),
        },
    };
    // One act: the account, its sign-up event, the confirmation link and its mail.
    let mut tx = app.store.begin_act("sign_up").await.map_err(SignupError::Store)?;
    let now = tx.at();
    let created = tx.create_account(&new, now).await;
    let account_id = match created {
        Ok(id) => id,
        Err(error) => {
            // A refused INSERT ends the transaction on PostgreSQL: what follows is a new act.
            drop(tx);
            return Err(refused(app, &new, origin, lang, error).await);
        }
    };
    tx.event(Event::security(EventKind::SignUp, Some(account_id), &actor.address, &actor.user_agent, &new.created_by));
    if !email_confirmed {
        links::send_confirmation(app, &mut tx, account_id, email.as_str(), lang).await.map_err(|e| match e {
            links::LinkError::Store(e) => SignupError::Store(e),
            other => SignupError::Store(StoreError::Data(crate::mail::loggable(&other).to_string())),
        })?;
    }
    tx.commit().await.map_err(SignupError::Store)?;
    Ok(Registered { account_id, curp: valid.curp, confirmation_sent: true })
}

/// The population registry, when one is configured, knows the CURP and agrees with the data.
async fn check_registry(app: &Services, valid: &Valid) -> Result<(), SignupError> {
    if let Some(registry) = &app.registry {
        match registry.lookup(&valid.curp).await {
            Ok(Some(registered)) => {
                let fields = crate::registry::disagreements(&valid.person, &registered);
                if !fields.is_empty() {
                    return Err(SignupError::Invalid(
                        fields.into_iter().map(|f| Problem::new(f, "registry-mismatch")).collect(),
                    ));
                }
            }
            Ok(None) => {
                return Err(SignupError::Invalid(vec![Problem::new("curp", "registry-unknown-curp")]));
            }
            Err(error) => return Err(SignupError::RegistryUnavailable(error.to_string())),
        }
    }

    Ok(())
}

/// An account an officer opens for a person who is present (`assurance::counter`): the
/// checks of sign-up, but the e-mail may be left empty (the account then has none: its
/// normalized address is the placeholder `no-email:<CURP>`, never shown nor mailed to) and
/// the password may be left to an activation code (the account gets a random password
/// nobody knows until the code is used). The caller inserts it in its act
/// (`Tx::create_account`, then [`refused`] for a conflict).
pub async fn prepare_at_counter(
    app: &Services,
    input: &SignupInput,
    password: PasswordChoice,
) -> Result<NewAccount, SignupError> {
    let valid = validate_with(input, EmailNeed::Optional, password).map_err(SignupError::Invalid)?;
    check_registry(app, &valid).await?;
    let password_hash = match password {
        PasswordChoice::Now => app.passwords.hash(&input.password).await?,
        PasswordChoice::ActivationCode => app.passwords.hash(&crate::crypto::random_token()).await?,
    };
    let (email, email_normalized) = match &valid.email {
        Some(email) => (email.as_str().to_string(), email.normalized().to_string()),
        None => (String::new(), format!("{NO_EMAIL_PREFIX}{}", valid.curp.as_str())),
    };
    Ok(NewAccount {
        curp: valid.curp.as_str().to_string(),
        given_names: valid.person.given_names.clone(),
        first_surname: valid.person.first_surname.clone(),
        second_surname: valid.person.second_surname.clone(),
        birth_date: valid.person.birth_date.to_string(),
        sex: valid.person.sex.as_char().to_string(),
        birth_state: valid.person.state.code().to_string(),
        email,
        email_normalized,
        email_confirmed: false,
        password_hash,
        created_by: OPENED_AT_COUNTER.into(),
    })
}

/// `accounts.created_by` of an account an officer opened at the counter.
pub const OPENED_AT_COUNTER: &str = "counter";

/// The normalized address of an account without e-mail: unique per CURP, and no address
/// anyone can type (it has no `@`).
pub const NO_EMAIL_PREFIX: &str = "no-email:";

/// Tells whoever holds the CURP, and whoever holds the address, that someone tried to sign
/// up with their data (one act, one mail each).
async fn notify_owners(app: &Services, new: &NewAccount, lang: Lang) -> Result<(), links::LinkError> {
    let mut owners = Vec::new();
    for identifier in [new.curp.as_str(), new.email_normalized.as_str()] {
        if let Some(owner) = super::signin::find_account(app, identifier).await?
            && !owners.contains(&owner.email)
        {
            owners.push(owner.email);
        }
    }
    let mut tx = app.store.begin_act("sign_up_attempt_notice").await?;
    for owner in owners {
        links::send_signup_attempt_notice(app, &mut tx, &owner, lang).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Why the account was not created: the CURP or the e-mail has an account already (in
/// self-service the page answers as if it were new, and the owners hear about it), or the
/// database failed.
pub async fn refused(app: &Services, new: &NewAccount, origin: Origin, lang: Lang, error: StoreError) -> SignupError {
    match error {
        StoreError::Conflict(_) if origin == Origin::SelfService => {
            // Whoever holds the CURP, and whoever holds the address, hears about it.
            if let Err(error) = notify_owners(app, new, lang).await {
                tracing::warn!(error = %crate::mail::loggable(&error), "sign-up attempt notice not queued");
            }
            tracing::info!("self-service sign-up with a CURP or e-mail that has an account");
            SignupError::AlreadyRegistered
        }
        StoreError::Conflict("curp") => SignupError::Invalid(vec![Problem::new("curp", "curp-taken")]),
        StoreError::Conflict(_) => {
            // Both may be taken; the CURP is what the person must hear about first.
            let curp_taken = match app.store.account_by_curp(&new.curp).await {
                Ok(found) => found.is_some(),
                Err(error) => return SignupError::Store(error),
            };
            let problem =
                if curp_taken { Problem::new("curp", "curp-taken") } else { Problem::new("email", "email-taken") };
            SignupError::Invalid(vec![problem])
        }
        error => SignupError::Store(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_input() -> SignupInput {
        let mut synth = curp::Synth::new(7);
        let person = synth.person();
        let curp = synth.curp(&person);
        SignupInput {
            curp: curp.as_str().to_lowercase(),
            given_names: person.given_names,
            first_surname: person.first_surname,
            second_surname: person.second_surname.unwrap_or_default(),
            birth_date: person.birth_date.to_string(),
            email: "persona@example.mx".into(),
            password: "nopal tranvía azul".into(),
            ..SignupInput::default()
        }
    }

    #[test]
    fn a_consistent_person_validates() {
        assert!(validate(&valid_input()).is_ok());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let input = SignupInput { curp: "XXXX".into(), password: "123".into(), ..SignupInput::default() };
        let problems = validate(&input).err().unwrap();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        for field in ["curp", "given_names", "first_surname", "birth_date", "email", "password"] {
            assert!(fields.contains(&field), "{field} missing from {fields:?}");
        }
    }

    #[test]
    fn at_the_counter_the_email_may_be_left_out_and_the_password_may_wait_for_a_code() {
        let input = SignupInput { email: String::new(), password: String::new(), ..valid_input() };
        let problems = validate(&input).err().unwrap();
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert!(fields.contains(&"email") && fields.contains(&"password"), "{fields:?}");
        let valid = validate_with(&input, EmailNeed::Optional, PasswordChoice::ActivationCode).unwrap();
        assert!(valid.email.is_none());
        let problems = validate_with(&input, EmailNeed::Optional, PasswordChoice::Now).err().unwrap();
        assert_eq!(problems.iter().map(|p| p.field).collect::<Vec<_>>(), ["password"]);
        let bad = SignupInput { email: "no-at-sign".into(), ..input };
        let problems = validate_with(&bad, EmailNeed::Optional, PasswordChoice::ActivationCode).err().unwrap();
        assert_eq!(problems[0].key, "email-invalid");
    }

    #[test]
    fn a_wrong_birth_date_is_a_mismatch() {
        let mut input = valid_input();
        input.birth_date = "1901-01-01".into();
        let problems = validate(&input).err().unwrap();
        assert_eq!(problems[0].key, "curp-mismatch-birth-date");
    }

    #[test]
    fn other_names_do_not_fit_the_curp() {
        let mut input = valid_input();
        input.first_surname = "Zzyzx".into();
        input.given_names = "Quetzalcóatl".into();
        let problems = validate(&input).err().unwrap();
        assert!(problems.iter().any(|p| p.key == "curp-mismatch-names"), "{problems:?}");
    }
}
