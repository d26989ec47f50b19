//! Help at the counter (issue 14, item 11): an officer opens an account for a person who is
//! present (password typed at the desk, or a printed activation code), the code works once
//! and expires, guesses are throttled, duplicates and non-officers are refused, access is
//! restored for a person without e-mail, and every assisted act reads "con ayuda de <name>,
//! <office>" in the person's activity and file.

use axum::http::StatusCode;

use crate::both_backends;
use crate::oidc::support::signed_in_person;
use crate::support::*;

const OFFICE: &str = "Oficina Tlalpan";

/// An officer at `OFFICE` (granted through the command line), signed in with a second factor.
async fn officer(app: &TestApp, seed: u64) -> (Person, Client) {
    let (person, mut desk) = signed_in_person(app, seed).await;
    let granted = json_of(&llave(
        app,
        &["staff", "grant", "--curp", &person.curp, "--role", "officer", "--office", OFFICE, "--json"],
        None,
    ));
    assert_eq!(granted["result"], "granted");
    let listed = json_of(&llave(app, &["staff", "list", "--json"], None));
    let row = listed.as_array().unwrap().iter().find(|r| r["curp"] == person.curp.as_str()).unwrap();
    assert_eq!(row["office"], OFFICE);
    let (_, codes) = enrol_totp(&mut desk).await;
    let fields = [("identifier", person.curp.as_str()), ("password", &person.password), ("next", "/oficina")];
    let first = desk.submit("/signin?reauth=1", "/signin", &fields).await;
    assert_eq!(first.location(), Some("/signin/second"));
    let second = desk.submit("/signin/second", "/signin/second", &[("recovery_code", &codes[0])]).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER, "{}", second.body);
    (person, desk)
}

/// The officer's form for `person`, without e-mail; `how` is `code` or `password`.
fn open_fields<'a>(person: &'a Person, how: &'a str, password: &'a str, confirm: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("curp", person.curp.as_str()),
        ("given_names", person.given_names.as_str()),
        ("first_surname", person.first_surname.as_str()),
        ("second_surname", person.second_surname.as_str()),
        ("birth_date", person.birth_date.as_str()),
        ("email", ""),
        ("document_kind", "ine"),
        ("document_number", "IDMEX2233445566"),
        ("checked", "yes"),
        ("how", how),
        ("password", password),
        ("password_confirm", confirm),
    ]
}

/// The activation code printed on the sheet.
fn printed_code(sheet: &str) -> String {
    let start = sheet.find("id=\"sheet-code\"").expect("a code on the sheet");
    let rest = &sheet[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest.find('<').unwrap();
    rest[open..close].trim().to_string()
}

async fn activate(browser: &mut Client, curp: &str, code: &str, password: &str) -> Response {
    let fields = [("curp", curp), ("code", code), ("password", password), ("password_confirm", password)];
    browser.submit("/activar", "/activar", &fields).await
}

fn officer_name(officer: &Person) -> String {
    format!("{} {}", officer.given_names, officer.first_surname)
}

both_backends! {
    async fn an_officer_opens_an_account_whose_password_the_person_types_at_the_desk(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (officer_person, mut desk) = officer(&app, 8101).await;
        let person = Person::synthetic(8102);
        let mails_before = app.mails().len();

        // Two different passwords: told so, and nothing is created.
        let other = "otra frase distinta 99";
        let refused = desk.submit("/oficina/abrir", "/oficina/abrir", &open_fields(&person, "password", &person.password, other)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("Las dos contraseñas no son iguales"), "{}", refused.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE created_by = 'counter'").await, 0);

        let fields = open_fields(&person, "password", &person.password, &person.password);
        let sheet = desk.submit("/oficina/abrir", "/oficina/abrir", &fields).await;
        assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.body);
        assert!(sheet.body.contains("Tu cuenta Llave CDMX") && sheet.body.contains(&person.curp), "the sheet");
        assert!(!sheet.body.contains("id=\"sheet-code\""), "no code when the password was typed");
        assert!(sheet.body.contains(&format!("Te atendió {}, {OFFICE}", officer_name(&officer_person))));

        // No e-mail: nothing is mailed, and the person signs in with CURP and password at level 2.
        app.settle_mail().await;
        assert_eq!(app.mails().len(), mails_before, "no mail for a person without e-mail");
        let mut browser = app.client();
        assert_eq!(browser.sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        let account = browser.get("/account").await.body;
        assert!(account.contains("Nivel 2: Llave Verificada"), "{account}");
        assert!(account.contains("Sin correo electrónico"));
        let helped = format!("Con ayuda de {}, {OFFICE}", officer_name(&officer_person));
        assert!(account.contains(&helped), "the activity names who helped: {account}");
        assert!(account.contains("Cuenta abierta en un módulo de atención"));
        // A reset asked by CURP answers as always and mails nothing: there is no address.
        let mut stranger = app.client();
        let asked = stranger.submit("/password/forgot", "/password/forgot", &[("identifier", &person.curp)]).await;
        assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
        app.settle_mail().await;
        assert_eq!(app.mails().len(), mails_before, "still no mail");
        let file = browser.get("/expediente").await;
        assert!(file.body.contains(&helped), "and so does the file: {}", file.body);

        for sql in [
            "SELECT COUNT(*) FROM events WHERE kind = 'account_opened_at_counter' AND actor_kind = 'staff'",
            "SELECT COUNT(*) FROM events WHERE kind = 'identity_verified'",
            "SELECT COUNT(*) FROM identity_verifications WHERE method = 'officer' AND document_number = 'IDMEX2233445566'",
        ] {
            assert_eq!(app.count(sql).await, 1, "{sql}");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM activation_codes").await, 0);
        app.finish().await;
    }
}

both_backends! {
    async fn an_activation_code_works_once_and_signs_the_person_in(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (officer_person, mut desk) = officer(&app, 8201).await;
        let person = Person::synthetic(8202);
        let sheet = desk.submit("/oficina/abrir", "/oficina/abrir", &open_fields(&person, "code", "", "")).await;
        assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.body);
        let code = printed_code(&sheet.body);
        assert_eq!(code.len(), 14, "{code}");
        assert!(sheet.body.contains("/activar"));
        assert_eq!(app.count("SELECT COUNT(*) FROM activation_codes WHERE used_at IS NULL").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM events WHERE kind = 'activation_code_issued'").await, 1);

        // Wrong code: refused; a weak password: refused without spending the code.
        let mut browser = app.client();
        let wrong = activate(&mut browser, &person.curp, "AAAA-BBBB-CCCC", &person.password).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("no son correctos"), "{}", wrong.body);
        let weak = activate(&mut browser, &person.curp, &code, "123").await;
        assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.count("SELECT COUNT(*) FROM activation_codes WHERE used_at IS NULL").await, 1);

        // Typed in lower case with spaces: the same code.
        let typed = code.replace('-', " ").to_lowercase();
        let done = activate(&mut browser, &person.curp, &typed, &person.password).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location(), Some("/account"));
        let account = browser.get("/account").await.body;
        assert!(account.contains("Nivel 2: Llave Verificada"), "{account}");
        assert!(account.contains(&format!("Con ayuda de {}, {OFFICE}", officer_name(&officer_person))));
        assert!(account.contains("Cuenta activada con código"));

        // Once only.
        let mut again = app.client();
        let reused = activate(&mut again, &person.curp, &code, "otra frase larga 123").await;
        assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
        assert!(reused.body.contains("ya se usó"), "{}", reused.body);
        assert_eq!(again.sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        assert_eq!(app.count("SELECT COUNT(*) FROM events WHERE kind = 'account_activated'").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn an_expired_activation_code_is_refused_and_purged(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (_, mut desk) = officer(&app, 8301).await;
        let person = Person::synthetic(8302);
        let sheet = desk.submit("/oficina/abrir", "/oficina/abrir", &open_fields(&person, "code", "", "")).await;
        let code = printed_code(&sheet.body);
        let now = llave::crypto::now();
        // Issued for 72 hours.
        assert_eq!(app.count("SELECT COUNT(*) FROM activation_codes WHERE expires_at - created_at = 259200").await, 1);
        sqlx::query("UPDATE activation_codes SET expires_at = $1").bind(now - 1).execute(app.state.store.pool()).await.unwrap();
        let mut browser = app.client();
        let expired = activate(&mut browser, &person.curp, &code, &person.password).await;
        assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
        assert!(expired.body.contains("venció"), "{}", expired.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions WHERE account_id = (SELECT id FROM accounts WHERE created_by = 'counter')").await, 0);
        let purged = app.state.store.purge_expired(now + 2 * 86400, 900).await.unwrap();
        assert!(purged.contains(&("activation_codes", 1)), "{purged:?}");
        app.finish().await;
    }
}

both_backends! {
    async fn guessing_activation_codes_is_throttled(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (_, mut desk) = officer(&app, 8401).await;
        let person = Person::synthetic(8402);
        let sheet = desk.submit("/oficina/abrir", "/oficina/abrir", &open_fields(&person, "code", "", "")).await;
        let code = printed_code(&sheet.body);
        let mut attacker = app.client_from("203.0.113.7");
        for guess in ["AAAA-AAAA-AAAA", "BBBB-BBBB-BBBB", "CCCC-CCCC-CCCC", "DDDD-DDDD-DDDD", "EEEE-EEEE-EEEE"] {
            assert_eq!(activate(&mut attacker, &person.curp, guess, &person.password).await.status, StatusCode::UNAUTHORIZED);
        }
        let blocked = activate(&mut attacker, &person.curp, &code, &person.password).await;
        assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "even the right code waits");
        assert_eq!(app.count("SELECT COUNT(*) FROM activation_codes WHERE used_at IS NULL").await, 1, "not spent");
        app.finish().await;
    }
}

both_backends! {
    async fn the_counter_refuses_a_taken_curp_people_without_the_role_and_forged_forms(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (_, mut desk) = officer(&app, 8501).await;
        let (existing, mut citizen) = signed_in_person(&app, 8502).await;

        let taken = desk.submit("/oficina/abrir", "/oficina/abrir", &open_fields(&existing, "code", "", "")).await;
        assert_eq!(taken.status, StatusCode::CONFLICT);
        assert!(taken.body.contains("Ya existe una cuenta Llave con esta CURP"), "{}", taken.body);

        let newcomer = Person::synthetic(8503);
        let unchecked: Vec<_> = open_fields(&newcomer, "code", "", "")
            .into_iter().filter(|(name, _)| *name != "checked").collect();
        let refused = desk.submit("/oficina/abrir", "/oficina/abrir", &unchecked).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("Confirma que revisaste el documento en persona"));

        // A citizen without the role: forbidden, the form and the act.
        assert_eq!(citizen.get("/oficina/abrir").await.status, StatusCode::FORBIDDEN);
        let stranger = Person::synthetic(8504);
        let forbidden = citizen.submit("/account", "/oficina/abrir", &open_fields(&stranger, "code", "", "")).await;
        assert_eq!(forbidden.status, StatusCode::FORBIDDEN);

        // The officer's own session, but no CSRF token: refused.
        let mut forged = vec![("csrf_token", "forged")];
        forged.extend(open_fields(&stranger, "code", "", ""));
        let answer = desk.post("/oficina/abrir", &forged).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE created_by = 'counter'").await, 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM events WHERE kind = 'account_opened_at_counter'").await, 0);
        app.finish().await;
    }
}

both_backends! {
    async fn an_officer_restores_access_for_a_person_without_email_with_a_new_code(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (officer_person, mut desk) = officer(&app, 8601).await;
        let person = Person::synthetic(8602);
        let fields = open_fields(&person, "password", &person.password, &person.password);
        assert_eq!(desk.submit("/oficina/abrir", "/oficina/abrir", &fields).await.status, StatusCode::OK);

        let page = format!("/oficina/persona?curp={}", person.curp);
        let act = [("curp", person.curp.as_str()), ("document_kind", "passport"), ("document_number", "G12345678"), ("checked", "yes")];
        let sheet = desk.submit(&page, "/oficina/recuperar", &act).await;
        assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.body);
        let code = printed_code(&sheet.body);

        // The old password is gone with the factors; the new code lets the person choose one.
        let mut browser = app.client();
        assert_eq!(browser.sign_in(&person.curp, &person.password).await.status, StatusCode::UNAUTHORIZED);
        let chosen = "mi nueva frase del mercado 7";
        let done = activate(&mut browser, &person.curp, &code, chosen).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        let account = browser.get("/account").await.body;
        assert!(account.contains("Acceso recuperado en un módulo"), "{account}");
        assert!(account.contains(&format!("Con ayuda de {}, {OFFICE}", officer_name(&officer_person))));
        assert_eq!(app.count("SELECT COUNT(*) FROM events WHERE kind = 'access_recovered'").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM events WHERE kind = 'activation_code_issued'").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn an_account_opened_at_the_counter_with_an_email_is_verified_at_once_and_the_address_confirmed_by_link(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (officer_person, mut desk) = officer(&app, 8701).await;
        let person = Person::synthetic(8702);
        let mut fields = open_fields(&person, "code", "", "");
        fields.retain(|(name, _)| *name != "email");
        fields.push(("email", person.email.as_str()));
        let sheet = desk.submit("/oficina/abrir", "/oficina/abrir", &fields).await;
        assert_eq!(sheet.status, StatusCode::OK, "{}", sheet.body);
        let code = printed_code(&sheet.body);
        app.settle_mail().await;
        let link = app.last_link("/confirm?token=");
        assert!(!link.is_empty(), "a confirmation link went to the address given");

        // Level 2 from the start, before the address is confirmed.
        let mut browser = app.client();
        assert_eq!(activate(&mut browser, &person.curp, &code, &person.password).await.status, StatusCode::SEE_OTHER);
        let account = browser.get("/account").await.body;
        assert!(account.contains("Nivel 2: Llave Verificada"), "{account}");
        assert!(account.contains(&person.email));
        assert!(account.contains(&format!("Con ayuda de {}, {OFFICE}", officer_name(&officer_person))));

        // The officer's look-up of the person names them too, as the auditors' actor.
        let page = format!("/oficina/persona?curp={}", person.curp);
        assert_eq!(desk.submit(&page, "/oficina/persona", &[("curp", &person.curp)]).await.status, StatusCode::OK);
        let by_officer: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE actor_kind = 'staff' AND actor = $1 AND kind IN \
             ('account_opened_at_counter', 'identity_verified', 'activation_code_issued', 'officer_lookup')",
        )
        .bind(&officer_person.curp)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
        assert_eq!(by_officer, 4);
        app.finish().await;
    }
}
