use axum::http::StatusCode;

use crate::both_backends;
use crate::support::*;

both_backends! {
    async fn a_person_signs_up_and_gets_a_confirmation_link(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(11);
        let mut client = app.client();
        let response = client.submit("/signup", "/signup", &person.signup_fields()).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert!(response.body.contains("Revisa tu correo"));
        let mails = app.mails();
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains(&format!("To: {}", person.email)), "{}", mails[0]);
        assert!(mails[0].contains("http://127.0.0.1:8080/confirm?token="));
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE email_confirmed_at IS NULL").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn a_second_account_for_the_same_curp_is_not_made_and_the_page_does_not_say_so(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(12);
        sign_up_and_confirm(&app, &person).await;
        let mails_before = app.mails().len();
        let mut again = Person::synthetic(12);
        again.email = "otra@example.mx".into();
        let response = app.client().submit("/signup", "/signup", &again.signup_fields()).await;
        // Exactly what a new account gets (with the typed address): no enumeration.
        let fresh = Person::synthetic(112);
        let new_account = app.client().submit("/signup", "/signup", &fresh.signup_fields()).await;
        assert_eq!(response.status, new_account.status);
        let main = |body: &str, email: &str| body[body.find("<main").unwrap()..].replace(email, "EMAIL");
        assert_eq!(main(&response.body, &again.email), main(&new_account.body, &fresh.email));
        assert!(!response.body.contains("Ya existe"), "{}", response.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 2);
        // The owner of the CURP hears about it, at their own address; the typed one gets nothing.
        let mails = app.mails();
        let notices: Vec<_> = mails[mails_before..].iter().filter(|m| m.contains("Alguien intentó crear una cuenta")).collect();
        assert_eq!(notices.len(), 1, "{mails:#?}");
        assert!(notices[0].contains(&format!("To: {}", person.email)), "{}", notices[0]);
        assert!(!mails.iter().any(|m| m.contains("To: otra@example.mx")));
        app.finish().await;
    }
}

both_backends! {
    async fn concurrent_sign_ups_with_one_curp_create_one_account(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut handles = Vec::new();
        for n in 0..6 {
            let state = app.state.clone();
            let mut input = Person::synthetic(13).signup_input();
            input.email = format!("carrera{n}@example.mx");
            handles.push(tokio::spawn(async move {
                llave::accounts::signup::register(
                    &state,
                    &input,
                    llave::accounts::signup::Origin::SelfService,
                    &llave::accounts::Actor::cli(),
                    llave::i18n::Lang::Es,
                )
                .await
            }));
        }
        let mut created = 0;
        for handle in handles {
            match handle.await.unwrap() {
                Ok(_) => created += 1,
                Err(llave::accounts::signup::SignupError::AlreadyRegistered) => {}
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert_eq!(created, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn bad_curps_get_precise_errors_and_keep_what_was_typed(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(14);
        let mut wrong_digit = person.curp.clone();
        let last = wrong_digit.pop().unwrap();
        wrong_digit.push(if last == '0' { '1' } else { '0' });
        let mut bad_state = person.curp.clone();
        bad_state.replace_range(11..13, "ZZ");
        let mut bad_date = person.curp.clone();
        bad_date.replace_range(6..8, "13");
        let cases = [
            ("ABC", "La CURP tiene 18 caracteres; escribiste 3"),
            (wrong_digit.as_str(), "El dígito verificador"),
            (bad_state.as_str(), "no es una clave de entidad federativa"),
            (bad_date.as_str(), "La fecha de nacimiento dentro de la CURP no existe"),
            ("' OR 1=1; --", "La CURP tiene 18 caracteres"),
        ];
        for (curp, expected) in cases {
            let mut fields = person.signup_fields();
            fields[0] = ("curp", curp);
            let response = app.client().submit("/signup", "/signup", &fields).await;
            assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{curp}");
            assert!(response.body.contains(expected), "{curp}: {}", response.body);
            assert!(response.body.contains("class=\"error-summary\""));
            // What was typed stays (escaped), the password never comes back.
            assert!(response.body.contains(&person.given_names), "names kept");
            assert!(!response.body.contains(&person.password));
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 0);
        app.finish().await;
    }
}

both_backends! {
    async fn lower_case_curp_with_spaces_is_accepted(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(15);
        let typed = format!("  {}  ", person.curp.to_lowercase());
        let mut fields = person.signup_fields();
        fields[0] = ("curp", typed.as_str());
        let response = app.client().submit("/signup", "/signup", &fields).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let view = llave::admin::citizen::show(&app.state, &person.curp).await.unwrap();
        assert_eq!(view.curp, person.curp);
        app.finish().await;
    }
}

both_backends! {
    async fn names_and_dates_that_do_not_fit_the_curp_are_refused(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(16);
        let mut fields = person.signup_fields();
        fields[4] = ("birth_date", "1999-02-30");
        let response = app.client().submit("/signup", "/signup", &fields).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.body.contains("Escribe una fecha real"), "{}", response.body);

        let mut fields = person.signup_fields();
        fields[1] = ("given_names", "Zacarías");
        fields[2] = ("first_surname", "Ñúñez");
        let response = app.client().submit("/signup", "/signup", &fields).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.body.contains("no corresponden a la CURP"), "{}", response.body);
        assert!(response.body.contains("Ñúñez"), "accented input kept");
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 0);
        app.finish().await;
    }
}

both_backends! {
    async fn hostile_and_oversized_fields_are_refused_without_writing(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(17);
        let long = "a".repeat(500);
        let script = "<script>alert(1)</script>";
        let cases: Vec<(usize, &str, &str)> = vec![
            (1, long.as_str(), "Es demasiado largo"),
            (1, "Robert'); DROP TABLE accounts;--", "Usa solo letras"),
            (2, script, "Usa solo letras"),
            (5, "no-es-correo", "Escribe un correo electrónico válido"),
            (6, "password", "muy común"),
            (6, "corta", "al menos 8 caracteres"),
        ];
        for (index, value, expected) in cases {
            let mut fields = person.signup_fields();
            fields[index].1 = value;
            let response = app.client().submit("/signup", "/signup", &fields).await;
            assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{value}");
            assert!(response.body.contains(expected), "{value}: {}", response.body);
            assert!(!response.body.contains(script), "input is escaped");
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 0);
        app.finish().await;
    }
}

both_backends! {
    async fn the_same_email_cannot_open_two_accounts(backend: Backend) {
        let app = TestApp::new(backend).await;
        let first = Person::synthetic(18);
        sign_up_and_confirm(&app, &first).await;
        let mut second = Person::synthetic(19);
        second.email = first.email.to_uppercase();
        let response = app.client().submit("/signup", "/signup", &second.signup_fields()).await;
        assert_eq!(response.status, StatusCode::OK);
        assert!(response.body.contains("Revisa tu correo"), "{}", response.body);
        assert!(!response.body.contains("Ya hay una cuenta con este correo"));
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 1);
        let mails = app.mails();
        assert!(mails.last().unwrap().contains("Alguien intentó crear una cuenta"), "{mails:#?}");
        assert!(mails.last().unwrap().contains(&format!("To: {}", first.email)));
        app.finish().await;
    }
}
