use axum::http::StatusCode;
use llave::crypto::{now, token_hash};
use llave::store::TokenPurpose;

use crate::both_backends;
use crate::support::*;

both_backends! {
    async fn a_confirmation_link_works_once(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(41);
        let mut client = app.client();
        client.submit("/signup", "/signup", &person.signup_fields()).await;
        let link = app.last_link("/confirm?token=");
        let first = client.get(&link).await;
        assert_eq!(first.status, StatusCode::OK);
        assert!(first.body.contains("Correo confirmado"));
        let replay = client.get(&link).await;
        assert_eq!(replay.status, StatusCode::GONE);
        assert!(replay.body.contains("Este enlace ya se usó"));
        let tampered = client.get(&format!("{}x", link)).await;
        assert_eq!(tampered.status, StatusCode::GONE);
        assert!(tampered.body.contains("no es válido"));
        assert_eq!(client.get("/confirm").await.status, StatusCode::GONE);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE email_confirmed_at IS NOT NULL").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn an_expired_link_is_refused(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(42);
        sign_up_and_confirm(&app, &person).await;
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
        let token = "expired-token-for-the-test";
        let then = now() - 7200;
        let mut tx = app.state.store.begin_act("test").await.unwrap();
        tx.create_email_token(&token_hash(token), account.id, TokenPurpose::ResetPassword, &account.email, then, then + 60)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let response = app.client().get(&format!("/password/reset?token={token}")).await;
        assert_eq!(response.status, StatusCode::GONE);
        assert!(response.body.contains("Este enlace ya venció"));
        app.finish().await;
    }
}

both_backends! {
    async fn a_password_reset_link_sets_a_new_password_once_and_ends_sessions(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(43);
        sign_up_and_confirm(&app, &person).await;
        let mut old_device = app.client();
        old_device.sign_in(&person.curp, &person.password).await;

        let mut client = app.client();
        let asked = client.submit("/password/forgot", "/password/forgot", &[("identifier", &person.email)]).await;
        assert_eq!(asked.status, StatusCode::OK);
        let link = app.last_link("/password/reset?token=");
        let form = client.get(&link).await;
        assert_eq!(form.status, StatusCode::OK);
        let token = input_value(&form.body, "token").unwrap();
        let csrf = input_value(&form.body, "csrf_token").unwrap();

        // A refused password does not spend the link.
        let weak = client.post("/password/reset", &[("csrf_token", &csrf), ("token", &token), ("password", "qwertyuiop")]).await;
        assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
        let done = client
            .post("/password/reset", &[("csrf_token", &csrf), ("token", &token), ("password", "mi nueva frase larga")])
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        let replay = client
            .post("/password/reset", &[("csrf_token", &csrf), ("token", &token), ("password", "otra frase distinta")])
            .await;
        assert_eq!(replay.status, StatusCode::GONE);

        assert_eq!(old_device.get("/account").await.status, StatusCode::SEE_OTHER);
        assert_eq!(app.client().sign_in(&person.curp, &person.password).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.client().sign_in(&person.curp, "mi nueva frase larga").await.status, StatusCode::SEE_OTHER);
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'password_reset'").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn the_forgot_form_does_not_reveal_who_has_an_account(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(44);
        sign_up_and_confirm(&app, &person).await;
        let mails_before = app.mails().len();
        let known = app.client().submit("/password/forgot", "/password/forgot", &[("identifier", &person.curp)]).await;
        let unknown = app.client().submit("/password/forgot", "/password/forgot", &[("identifier", "nadie@example.mx")]).await;
        assert_eq!(known.status, unknown.status);
        let main = |body: &str| body[body.find("<main").unwrap()..].to_string();
        assert_eq!(main(&known.body), main(&unknown.body));
        assert_eq!(app.mails().len(), mails_before + 1);
        app.finish().await;
    }
}

both_backends! {
    async fn reset_requests_cost_the_same_and_are_throttled_per_person_and_address(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(45);
        sign_up_and_confirm(&app, &person).await;
        let mails_before = app.mails().len();
        // The request only queues the identifier, known or not: the same one row either way,
        // and the same answer.
        let known = app.client_from("198.51.100.1").submit("/password/forgot", "/password/forgot", &[("identifier", &person.curp)]).await;
        let unknown = app.client_from("198.51.100.2").submit("/password/forgot", "/password/forgot", &[("identifier", "AAAA000101HDFAAA09")]).await;
        assert_eq!((known.status, unknown.status), (StatusCode::OK, StatusCode::OK));
        assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'password_reset'").await, 2);
        // Fifteen requests from fifteen addresses: the person gets three mails an hour, no more.
        for n in 3..16 {
            let answer = app.client_from(&format!("198.51.100.{n}")).submit("/password/forgot", "/password/forgot", &[("identifier", &person.email)]).await;
            assert_eq!(answer.status, StatusCode::OK);
        }
        let resets = app.mails()[mails_before..].iter().filter(|m| m.contains("/password/reset?token=")).count();
        assert_eq!(resets, llave::accounts::mail_jobs::RESET_MAILS_PER_HOUR as usize);
        // One address asking for many identifiers is slowed down too, whoever they name.
        let mut statuses = Vec::new();
        for n in 0..12 {
            let answer = app.client_from("198.51.100.200").submit("/password/forgot", "/password/forgot", &[("identifier", &format!("nadie{n}@example.mx"))]).await;
            statuses.push(answer.status);
        }
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 10, "{statuses:?}");
        assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
        app.finish().await;
    }
}
