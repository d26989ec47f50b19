use axum::http::StatusCode;
use openidconnect::core::CoreUserInfoClaims;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, RefreshToken, TokenResponse};

use super::support::*;
use crate::both_backends;
use crate::support::*;

both_backends! {
    async fn an_entity_signs_a_person_in_with_discovery_alone(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (person, mut browser) = signed_in_person(&app, 301).await;

        let started = start(&agua, &["profile", "email"]);
        let params = authorize(&mut browser, &started.path).await;
        assert_eq!(params.get("state").map(String::as_str), Some(started.state.secret().as_str()));
        assert_eq!(params.get("iss").map(String::as_str), Some(base.as_str()));
        let code = params.get("code").expect("a code").clone();

        let tokens = agua
            .rp
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(started.verifier)
            .request_async(&http())
            .await
            .unwrap();
        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token.claims(&agua.rp.id_token_verifier(), &started.nonce).expect("a valid ID token");
        assert_eq!(claims.issuer().as_str(), base);
        assert_eq!(claims.email().map(|e| e.as_str()), Some(person.email.as_str()));
        assert_eq!(claims.email_verified(), Some(true));
        assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("urn:llave:loa:1"));
        let raw = jwt_payload(&id_token.to_string());
        assert_eq!(raw["amr"], serde_json::json!(["pwd"]));
        assert!(raw.get("curp").is_none(), "no curp for a client not allowed to have it");
        assert_eq!(raw["sid"].as_str().map(str::len), Some(22));
        assert!(tokens.refresh_token().is_none(), "no refresh token without offline_access");

        let userinfo: CoreUserInfoClaims = agua
            .rp
            .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
            .unwrap()
            .request_async(&http())
            .await
            .expect("userinfo");
        assert_eq!(userinfo.email().map(|e| e.as_str()), Some(person.email.as_str()));
        assert_eq!(userinfo.given_name().and_then(|n| n.get(None)).map(|n| n.as_str()), Some(person.given_names.as_str()));
        app.finish().await;
    }
}

both_backends! {
    async fn two_entities_see_different_stable_subjects_without_a_second_password(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let agua_movil = entity(&app, &base, "agua", false).await;
        let registro = entity(&app, &base, "registro-civil", true).await;
        let (person, mut browser) = signed_in_person(&app, 302).await;

        let mut subject_of = async |rp: &Entity| {
            let started = start(rp, &[]);
            let params = authorize(&mut browser, &started.path).await;
            let tokens = rp.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
                .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
            let id_token = tokens.id_token().unwrap();
            id_token.claims(&rp.rp.id_token_verifier(), &started.nonce).expect("valid ID token");
            // The raw payload: the library's typed claims drop llave's own `curp` claim.
            jwt_payload(&id_token.to_string())
        };
        let first = subject_of(&agua).await;
        let again = subject_of(&agua).await;
        let same_entity = subject_of(&agua_movil).await;
        let other = subject_of(&registro).await;
        assert_eq!(first["sub"], again["sub"], "stable");
        assert_eq!(first["sub"], same_entity["sub"], "one sub per entity");
        assert_ne!(first["sub"], other["sub"], "pairwise across entities");
        assert_eq!(other["curp"], person.curp.as_str(), "curp only for the allowed client");
        assert!(first.get("curp").is_none());
        // The second and third sign-ins asked nothing: no sign-in page was shown.
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn refresh_tokens_rotate_and_reuse_revokes_the_family(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 303).await;
        let started = start(&agua, &["email", "offline_access"]);
        let params = authorize(&mut browser, &started.path).await;
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
            .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        let first_refresh = tokens.refresh_token().unwrap().clone();

        let rotated = agua.rp.exchange_refresh_token(&first_refresh).unwrap().request_async(&http()).await.unwrap();
        let second_refresh = rotated.refresh_token().unwrap().clone();
        assert_ne!(first_refresh.secret(), second_refresh.secret());
        assert!(rotated.id_token().is_some());

        // The old one again: refused, and the whole family ends with it.
        let reuse = agua.rp.exchange_refresh_token(&first_refresh).unwrap().request_async(&http()).await;
        assert!(format!("{reuse:?}").contains("invalid_grant"), "{reuse:?}");
        let after = agua.rp.exchange_refresh_token(&second_refresh).unwrap().request_async(&http()).await;
        assert!(format!("{after:?}").contains("invalid_grant"), "{after:?}");
        let userinfo = agua.rp.user_info(rotated.access_token().clone(), None).unwrap()
            .request_async::<openidconnect::EmptyAdditionalClaims, _, openidconnect::core::CoreGenderClaim>(&http()).await;
        assert!(userinfo.is_err(), "access tokens of a revoked family stop working");
        let unknown = agua.rp.exchange_refresh_token(&RefreshToken::new("made-up".into())).unwrap().request_async(&http()).await;
        assert!(format!("{unknown:?}").contains("invalid_grant"));
        app.finish().await;
    }
}

both_backends! {
    async fn consent_is_asked_once_and_can_be_refused(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 304).await;

        let started = start(&agua, &["profile"]);
        let page = browser.get(&started.path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Entidad agua quiere usar tu cuenta Llave"), "{}", page.body);
        assert!(page.body.contains("tu nombre y tu fecha de nacimiento"));
        let request = input_value(&page.body, "request").unwrap();
        let token = input_value(&page.body, "csrf_token").unwrap();
        let denied = browser.post("/authorize/consent", &[("csrf_token", &token), ("request", &request), ("decision", "deny")]).await;
        let params = callback_params(denied.location().unwrap());
        assert_eq!(params["error"], "access_denied");
        assert_eq!(params["state"], started.state.secret().as_str());

        authorize(&mut browser, &start(&agua, &["profile"]).path).await;
        // Remembered: the same scopes go straight back with a code.
        let again = browser.get(&start(&agua, &["profile"]).path).await;
        assert_eq!(again.status, StatusCode::SEE_OTHER);
        assert!(callback_params(again.location().unwrap()).contains_key("code"));
        // More data than agreed: asked again.
        let more = browser.get(&start(&agua, &["profile", "email"]).path).await;
        assert_eq!(more.status, StatusCode::OK);
        app.finish().await;
    }
}

both_backends! {
    async fn a_person_not_signed_in_is_sent_to_sign_in_and_back(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let person = Person::synthetic(305);
        sign_up_and_confirm(&app, &person).await;
        let mut browser = app.client();
        let started = start(&agua, &[]);
        let first = browser.get(&started.path).await;
        assert_eq!(first.status, StatusCode::SEE_OTHER);
        let signin = first.location().unwrap().to_string();
        assert!(signin.starts_with("/signin?next=%2Fauthorize"), "{signin}");
        let html = browser.get(&signin).await.body;
        let next = input_value(&html, "next").unwrap();
        let token = input_value(&html, "csrf_token").unwrap();
        let signed = browser.post("/signin", &[("csrf_token", &token), ("identifier", &person.email), ("password", &person.password), ("next", &next)]).await;
        assert_eq!(signed.location(), Some(next.as_str()));
        let params = authorize(&mut browser, &next).await;
        assert!(params.contains_key("code"));
        app.finish().await;
    }
}

both_backends! {
    async fn prompt_login_and_max_age_ask_for_a_fresh_sign_in(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (person, mut browser) = signed_in_person(&app, 306).await;
        authorize(&mut browser, &start(&agua, &[]).path).await;

        let started = start(&agua, &[]);
        let path = format!("{}&prompt=login", started.path);
        let response = browser.get(&path).await;
        let signin = response.location().unwrap().to_string();
        assert!(signin.contains("reauth=1"), "{signin}");
        let html = browser.get(&signin).await.body;
        assert!(html.contains("inicies sesión de nuevo"));
        let next = input_value(&html, "next").unwrap();
        let token = input_value(&html, "csrf_token").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let signed = browser.post("/signin", &[("csrf_token", &token), ("identifier", &person.curp), ("password", &person.password), ("next", &next)]).await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER);
        let params = authorize(&mut browser, signed.location().unwrap()).await;
        assert!(params.contains_key("code"), "{params:?}");

        // A forged marker does not count as a fresh sign-in.
        let forged = format!("{}&prompt=login&llave_reauth=1.AAAA", start(&agua, &[]).path);
        assert!(browser.get(&forged).await.location().unwrap().starts_with("/signin"));
        // max_age=0 after a moment: sign in again.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let aged = format!("{}&max_age=0", start(&agua, &[]).path);
        assert!(browser.get(&aged).await.location().unwrap().starts_with("/signin"));
        app.finish().await;
    }
}
