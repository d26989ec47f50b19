use axum::http::StatusCode;

use crate::both_backends;
use crate::support::*;

both_backends! {
    async fn every_response_carries_the_security_headers(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut client = app.client();
        for path in ["/", "/signin", "/signup", "/no-such-page", "/healthz", "/account"] {
            let response = client.get(path).await;
            let csp = response.headers.get("content-security-policy").unwrap().to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{path}");
            assert!(csp.contains("default-src 'none'"), "{path}");
            assert_eq!(response.headers.get("x-frame-options").unwrap(), "DENY");
        }
        let missing = client.get("/no-such-page").await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.body.contains("Página no encontrada"));
        app.finish().await;
    }
}

both_backends! {
    async fn forms_without_a_valid_csrf_token_are_refused(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(51);
        let mut client = app.client();
        client.get("/signup").await;
        let missing = client.post("/signup", &person.signup_fields()).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN);
        assert!(missing.body.contains("El formulario venció"));
        let mut fields = person.signup_fields();
        fields.push(("csrf_token", "forged"));
        let forged = client.post("/signup", &fields).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        // A token from another browser does not fit this browser's cookie.
        let other_token = input_value(&app.client().get("/signup").await.body, "csrf_token").unwrap();
        let mut fields = person.signup_fields();
        fields.push(("csrf_token", other_token.as_str()));
        assert_eq!(client.post("/signup", &fields).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 0);
        app.finish().await;
    }
}

both_backends! {
    async fn oversized_bodies_are_refused_with_a_page(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut client = app.client();
        client.get("/signup").await;
        let body = format!("curp={}", "A".repeat(200 * 1024));
        let response = client.request("POST", "/signup", Some(body.into_bytes())).await;
        assert_eq!(response.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(response.body.contains("Demasiados datos"));
        app.finish().await;
    }
}

both_backends! {
    async fn pages_speak_english_when_asked(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut client = app.client();
        let spanish = client.get("/signin").await.body;
        assert!(spanish.contains("<html lang=\"es-MX\">"));
        assert!(spanish.contains(">Iniciar sesión</button>"));
        client.accept_language = Some("en-US,en;q=0.9".into());
        let english = client.get("/signin").await.body;
        assert!(english.contains("<html lang=\"en\">"));
        assert!(english.contains(">Sign in</button>"));
        assert!(client.get("/signup").await.body.contains(">Create account</button>"));

        let mut switcher = app.client();
        let switched = switcher.get("/lang/en?next=/signup").await;
        assert_eq!(switched.location(), Some("/signup"));
        assert!(switcher.get("/signup").await.body.contains(">Create account</button>"));
        assert_eq!(switcher.get("/lang/es?next=//evil.example").await.location(), Some("/"));
        assert!(switcher.get("/signup").await.body.contains(">Crear cuenta</button>"));
        app.finish().await;
    }
}

both_backends! {
    async fn every_form_field_has_a_label(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut client = app.client();
        for path in ["/signup", "/signin", "/password/forgot"] {
            let html = client.get(path).await.body;
            for input in html.split("<input").skip(1) {
                if input.contains("type=\"hidden\"") {
                    continue;
                }
                let id = input.split("id=\"").nth(1).unwrap().split('"').next().unwrap();
                assert!(html.contains(&format!("<label for=\"{id}\">")), "{path}: no label for {id}");
            }
            // At most the passkey script, which only adds a button: every form works without it.
            let scripts: Vec<&str> = html.split("<script").skip(1).collect();
            assert!(scripts.iter().all(|s| s.starts_with(" src=\"/static/passkeys.js\" defer>")), "{path}: {scripts:?}");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn https_issuers_get_secure_host_cookies(backend: Backend) {
        let app = TestApp::builder(backend).config(|c| c.issuer = Some("https://llave.example.gob.mx".into())).build().await;
        let person = Person::synthetic(52);
        sign_up_and_confirm(&app, &person).await;
        let mut client = app.client();
        let page = client.get("/signin").await;
        let csrf = page.set_cookies().into_iter().find(|c| c.starts_with("__Host-llave_csrf=")).unwrap();
        assert!(csrf.contains("Secure") && csrf.contains("HttpOnly"), "{csrf}");
        let signed_in = client.sign_in(&person.curp, &person.password).await;
        let session = signed_in.set_cookies().into_iter().find(|c| c.starts_with("__Host-llave_session=")).unwrap();
        assert!(session.contains("; Secure") && session.contains("SameSite=Lax") && session.contains("HttpOnly"));
        assert_eq!(client.get("/account").await.status, StatusCode::OK);
        // The development outbox exists only in development mode.
        assert_eq!(client.get("/dev/outbox").await.status, StatusCode::NOT_FOUND);
        app.finish().await;
    }
}

both_backends! {
    async fn health_and_readiness_answer(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut client = app.client();
        assert_eq!(client.get("/healthz").await.status, StatusCode::OK);
        assert!(client.get("/readyz").await.body.contains(r#""status":"ready""#));
        app.state.store.close().await;
        assert_eq!(client.get("/readyz").await.status, StatusCode::SERVICE_UNAVAILABLE);
        app.finish().await;
    }
}

both_backends! {
    async fn the_dev_outbox_shows_the_links(backend: Backend) {
        let app = TestApp::builder(backend).config(|c| c.dev.enabled = true).build().await;
        let person = Person::synthetic(53);
        let mut client = app.client();
        client.submit("/signup", "/signup", &person.signup_fields()).await;
        app.settle_mail().await;
        let outbox = client.get("/dev/outbox").await;
        assert_eq!(outbox.status, StatusCode::OK);
        assert!(outbox.body.contains("/confirm?token="));
        app.finish().await;
    }
}

both_backends! {
    async fn garbage_in_any_form_or_query_never_breaks_the_server(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(54);
        sign_up_and_confirm(&app, &person).await;
        let mut client = app.client();
        client.sign_in(&person.curp, &person.password).await;
        let nasty = [
            "", "\u{0}", "%", "%ZZ", "'; DROP TABLE accounts; --", "\u{202e}ñÑáé", "🦀🦀🦀", "a=b&c", "<svg onload=alert(1)>",
            "ＧＯＭＣ８００１０１", "x".repeat(5000).leak(),
        ];
        let forms: [(&str, &str, &[&str]); 7] = [
            ("/signup", "/signup", &["curp", "given_names", "first_surname", "second_surname", "birth_date", "email", "password"]),
            ("/signin", "/signin", &["identifier", "password", "next"]),
            ("/password/forgot", "/password/forgot", &["identifier"]),
            ("/account", "/account/password", &["current_password", "new_password"]),
            ("/account", "/account/sessions/end", &["session_id"]),
            ("/account", "/password/reset", &["token", "password"]),
            ("/account", "/account/confirm/resend", &["x"]),
        ];
        for (page, action, fields) in forms {
            for value in nasty {
                let filled: Vec<(&str, &str)> = fields.iter().map(|f| (*f, value)).collect();
                // Signed in, /signup and /signin redirect: take the token from a page that has one.
                let page = if page == "/account" { page } else { "/password/forgot" };
                let response = client.submit(page, action, &filled).await;
                assert!(response.status.as_u16() < 500, "{action} with {value:?}: {}", response.status);
            }
        }
        for path in ["/confirm?token=%ZZ&token=2", "/password/reset?token=a&token=b", "/signin?next=%00", "/lang/%F0?next=%0d%0aX:1", "/account?notice=%"] {
            let response = client.get(path).await;
            assert!(response.status.as_u16() < 500, "{path}: {}", response.status);
        }
        let raw = client.request("POST", "/signin", Some(vec![0xff, 0xfe, 0x00, b'=', b'&'])).await;
        assert!(raw.status.as_u16() < 500);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 1);
        // Still signed in and working afterwards.
        assert_eq!(client.get("/account").await.status, StatusCode::OK);
        app.finish().await;
    }
}

both_backends! {
    async fn a_csrf_token_belongs_to_one_pre_session_that_sign_in_ends(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(1003);
        sign_up_and_confirm(&app, &person).await;
        let fields = |token: &str| vec![("csrf_token", token.to_string()), ("identifier", person.curp.clone()), ("password", person.password.clone()), ("next", "/account".to_string())];
        let post = async |client: &mut Client, token: &str| {
            let fields = fields(token);
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            client.post("/signin", &fields).await
        };

        // A cookie value someone made up is never used: the server issues its own.
        let mut victim = app.client();
        victim.cookies.insert("llave_csrf".into(), "A".repeat(43));
        let page = victim.get("/signin").await;
        assert!(page.set_cookies().iter().any(|c| c.starts_with("llave_csrf=") && !c.starts_with(&format!("llave_csrf={}", "A".repeat(43)))));
        assert_ne!(victim.cookies["llave_csrf"], "A".repeat(43));

        // A token minted for the attacker's pre-session is refused with the victim's cookie.
        let mut attacker = app.client_from("192.0.2.9");
        let attackers_token = input_value(&attacker.get("/signin").await.body, "csrf_token").unwrap();
        let refused = post(&mut victim, &attackers_token).await;
        assert!(refused.status.is_client_error(), "{}", refused.status);

        // After sign-in, the token of the pre-session is no longer valid.
        let token = input_value(&victim.get("/signin").await.body, "csrf_token").unwrap();
        assert_eq!(post(&mut victim, &token).await.status, StatusCode::SEE_OTHER);
        let old = victim.post("/account/sessions/end", &[("csrf_token", token.as_str()), ("session", "x")]).await;
        assert!(old.status.is_client_error(), "{}", old.status);
        app.finish().await;
    }
}
