use axum::http::StatusCode;

use crate::both_backends;
use crate::support::*;

both_backends! {
    async fn a_confirmed_person_signs_in_by_curp_or_email_and_out(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(21);
        sign_up_and_confirm(&app, &person).await;

        let mut client = app.client();
        let response = client.sign_in(&person.curp.to_lowercase(), &person.password).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert_eq!(response.location(), Some("/account"));
        let cookie = response.set_cookies().into_iter().find(|c| c.starts_with("llave_session=")).unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        let account = client.get("/account").await;
        assert_eq!(account.status, StatusCode::OK);
        assert!(account.body.contains(&person.curp));
        assert!(account.body.contains("esta sesión"));

        let signout = client.submit("/account", "/signout", &[]).await;
        assert_eq!(signout.status, StatusCode::SEE_OTHER);
        let after = client.get("/account").await;
        assert_eq!(after.status, StatusCode::SEE_OTHER);
        assert_eq!(after.location(), Some("/signin?next=%2Faccount"));

        let mut by_email = app.client();
        let response = by_email.sign_in(&person.email.to_uppercase(), &person.password).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        app.finish().await;
    }
}

both_backends! {
    async fn unknown_account_and_wrong_password_get_the_same_answer(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(22);
        sign_up_and_confirm(&app, &person).await;
        let wrong = app.client().sign_in(&person.curp, "not the password at all").await;
        let unknown = app.client().sign_in(&Person::synthetic(23).curp, "not the password at all").await;
        let not_a_curp = app.client().sign_in("nadie@example.mx", "not the password at all").await;
        for response in [&wrong, &unknown, &not_a_curp] {
            assert_eq!(response.status, StatusCode::UNAUTHORIZED);
            assert!(response.body.contains("La CURP, el correo o la contraseña no son correctos"));
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'sign_in_failed'").await, 3);
        app.finish().await;
    }
}

/// The seconds a throttled answer asks to wait (its `Retry-After`).
fn wait_of(response: &Response) -> i64 {
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS, "{}", response.body);
    response.headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Retry-After")
}

/// Moves every throttling counter `seconds` into the past, as if time had passed.
async fn let_time_pass(app: &TestApp, seconds: i64) {
    sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE throttle SET window_start = window_start - {seconds}")))
        .execute(app.state.store.pool())
        .await
        .unwrap();
}

both_backends! {
    async fn repeated_failures_slow_guessing_with_growing_delays(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(24);
        sign_up_and_confirm(&app, &person).await;
        for _ in 0..5 {
            let response = app.client().sign_in(&person.curp, "wrong password here").await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        }
        // Slowed, even with the right password, and told how long to wait.
        let slowed = app.client().sign_in(&person.curp, &person.password).await;
        let first = wait_of(&slowed);
        assert!(first > 0);
        assert!(slowed.body.contains(&format!("Espera {first} segundos")), "{}", slowed.body);
        // After the wait, one more guess is checked; the next wait is longer.
        let_time_pass(&app, first).await;
        assert_eq!(app.client().sign_in(&person.curp, "wrong password again").await.status, StatusCode::UNAUTHORIZED);
        let second = wait_of(&app.client().sign_in(&person.curp, "wrong password again").await);
        assert!(second > first, "delays grow: {first} then {second}");
        // After waiting, the right password gets through.
        let_time_pass(&app, second).await;
        assert_eq!(app.client().sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        // An unknown identifier is slowed the same way, so throttling reveals nothing.
        let stranger = Person::synthetic(25).curp;
        for _ in 0..5 {
            app.client().sign_in(&stranger, "wrong password here").await;
        }
        let stranger_wait = wait_of(&app.client().sign_in(&stranger, "x").await);
        // The same first delay (2 s); each was read in whichever second it fell, so they may
        // differ by one.
        assert!((stranger_wait - first).abs() <= 1, "{stranger_wait} against {first}");
        assert!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'throttled'").await >= 3);
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'sign_in_failed'").await, 11);
        app.finish().await;
    }
}

both_backends! {
    async fn an_attacker_cannot_keep_a_person_out_of_a_device_they_used_before(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(31);
        sign_up_and_confirm(&app, &person).await;
        let mut phone = app.client_from("198.51.100.20");
        let first = phone.sign_in(&person.curp, &person.password).await;
        let device = first.set_cookies().into_iter().find(|c| c.starts_with("llave_device=")).expect("a device cookie");
        assert!(device.contains("HttpOnly") && device.contains("SameSite=Strict") && device.contains("Max-Age="), "{device}");
        phone.submit("/account", "/signout", &[]).await;

        let mut attacker = app.client_from("192.0.2.66");
        for _ in 0..20 {
            let response = attacker.sign_in(&person.curp, "a guess of the attacker").await;
            assert!(matches!(response.status, StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS));
        }
        wait_of(&attacker.sign_in(&person.curp, &person.password).await);
        // From the phone, signed in before: the right password gets through at once.
        let back = phone.sign_in(&person.curp, &person.password).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        // A forged or altered device cookie is just an unknown device.
        let mut forger = app.client_from("192.0.2.67");
        let value = phone.cookies["llave_device"].clone();
        let (head, _) = value.rsplit_once('.').unwrap();
        forger.cookies.insert("llave_device".into(), format!("{head}.AAAA"));
        wait_of(&forger.sign_in(&person.curp, &person.password).await);
        // The device has its own budget: guessing from it is slowed too.
        phone.submit("/account", "/signout", &[]).await;
        for _ in 0..5 {
            assert_eq!(phone.sign_in(&person.curp, "not it").await.status, StatusCode::UNAUTHORIZED);
        }
        wait_of(&phone.sign_in(&person.curp, &person.password).await);
        app.finish().await;
    }
}

both_backends! {
    async fn one_address_trying_many_accounts_is_throttled(backend: Backend) {
        let app = TestApp::builder(backend).config(|c| c.throttle.address_failures = 3).build().await;
        let person = Person::synthetic(26);
        sign_up_and_confirm(&app, &person).await;
        for n in 0..3 {
            let response = app.client_from("198.51.100.7").sign_in(&format!("x{n}@example.mx"), "wrong password").await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        }
        let throttled = app.client_from("198.51.100.7").sign_in(&person.curp, &person.password).await;
        assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
        let elsewhere = app.client_from("198.51.100.8").sign_in(&person.curp, &person.password).await;
        assert_eq!(elsewhere.status, StatusCode::SEE_OTHER);
        app.finish().await;
    }
}

both_backends! {
    async fn a_password_change_needs_the_current_one_and_ends_other_sessions(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(27);
        sign_up_and_confirm(&app, &person).await;
        let mut phone = app.client();
        phone.sign_in(&person.curp, &person.password).await;
        let mut laptop = app.client();
        laptop.sign_in(&person.curp, &person.password).await;

        let refused = laptop
            .submit("/account", "/account/password", &[("current_password", "not it at all"), ("new_password", "otra frase segura 2026")])
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("La contraseña actual no es correcta"));
        let weak = laptop
            .submit("/account", "/account/password", &[("current_password", &person.password), ("new_password", "12345678")])
            .await;
        assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);

        let changed = laptop
            .submit("/account", "/account/password", &[("current_password", &person.password), ("new_password", "otra frase segura 2026")])
            .await;
        assert_eq!(changed.status, StatusCode::SEE_OTHER);
        assert_eq!(laptop.get("/account").await.status, StatusCode::OK);
        assert_eq!(phone.get("/account").await.status, StatusCode::SEE_OTHER, "other session ended");
        assert_eq!(app.client().sign_in(&person.curp, &person.password).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.client().sign_in(&person.curp, "otra frase segura 2026").await.status, StatusCode::SEE_OTHER);
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'password_changed'").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn next_after_sign_in_never_leaves_the_site(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(28);
        sign_up_and_confirm(&app, &person).await;
        let mut client = app.client();
        let response = client
            .submit("/signin", "/signin", &[("identifier", &person.curp), ("password", &person.password), ("next", "//evil.example/")])
            .await;
        assert_eq!(response.location(), Some("/account"));
        app.finish().await;
    }
}

both_backends! {
    async fn curp_and_email_share_one_failure_budget(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(29);
        sign_up_and_confirm(&app, &person).await;
        for n in 0..5 {
            let identifier = if n % 2 == 0 { person.curp.as_str() } else { person.email.as_str() };
            assert_eq!(app.client().sign_in(identifier, "wrong password here").await.status, StatusCode::UNAUTHORIZED);
        }
        let locked = app.client().sign_in(&person.email, &person.password).await;
        assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
        app.finish().await;
    }
}

both_backends! {
    async fn a_successful_sign_in_resets_the_failure_count(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(30);
        sign_up_and_confirm(&app, &person).await;
        for _ in 0..4 {
            app.client().sign_in(&person.curp, "wrong password here").await;
        }
        assert_eq!(app.client().sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        for _ in 0..4 {
            app.client().sign_in(&person.curp, "wrong password here").await;
        }
        assert_eq!(app.client().sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        app.finish().await;
    }
}

both_backends! {
    async fn a_success_clears_the_persons_counters_and_keeps_the_addresss(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(33);
        sign_up_and_confirm(&app, &person).await;
        let counters = "SELECT COUNT(*) FROM throttle WHERE key LIKE 'id:%' OR key LIKE 'account:%'";
        let address = "SELECT COUNT(*) FROM throttle WHERE key LIKE 'ip:%'";
        // Two wrong guesses (under the budget): counters per identifier, account and address.
        for _ in 0..2 {
            assert_eq!(app.client().sign_in(&person.curp, "not the password").await.status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(app.count(counters).await, 2, "the identifier's and the account's counters");
        assert_eq!(app.count(address).await, 1);
        // The right password clears the person's counters, read in one query; the address's
        // stays (one success must not launder many failures).
        assert_eq!(app.client().sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        assert_eq!(app.count(counters).await, 0);
        assert_eq!(app.count(address).await, 1);
        // A counter forgotten long ago (outside the window) is cleared too, not left behind.
        assert_eq!(app.client().sign_in(&person.email, "not the password").await.status, StatusCode::UNAUTHORIZED);
        sqlx::query("UPDATE throttle SET window_start = window_start - 86400")
            .execute(app.state.store.pool())
            .await
            .unwrap();
        assert_eq!(app.count(counters).await, 2);
        assert_eq!(app.client().sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        assert_eq!(
            app.count("SELECT COUNT(*) FROM throttle WHERE key LIKE 'account:%'").await,
            0,
            "the account's counter, set through the e-mail, cleared by a sign-in with the CURP"
        );
        // With no counter at all, a sign-in still works (no clearing act is begun).
        assert_eq!(app.client().sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        app.finish().await;
    }
}
