//! Finding 13.4: `prompt=login` and `max_age` hold wherever a code is issued, and the
//! re-authentication marker proves a fresh sign-in for one request, in one session, for
//! a few minutes only.

use axum::http::StatusCode;
use openidconnect::{AuthorizationCode, TokenResponse};

use super::support::*;
use crate::both_backends;
use crate::support::*;

/// The query of an authorization request path (what the consent form carries).
fn query_of(path: &str) -> String {
    path.split_once('?').map(|(_, q)| q.to_string()).unwrap_or_default()
}

/// The ID token's `auth_time` for a code of `started`.
async fn auth_time(rp: &Entity, started: Started, code: &str) -> i64 {
    let tokens = rp
        .rp
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .unwrap()
        .set_pkce_verifier(started.verifier)
        .request_async(&http())
        .await
        .unwrap();
    jwt_payload(&tokens.id_token().unwrap().to_string())["auth_time"].as_i64().expect("auth_time")
}

both_backends! {
    async fn the_consent_form_cannot_skip_a_fresh_sign_in(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 321).await;
        authorize(&mut browser, &start(&agua, &[]).path).await;
        std::thread::sleep(std::time::Duration::from_millis(2100));

        let token = input_value(&browser.get("/account").await.body, "csrf_token").unwrap();
        for extra in ["&prompt=login", "&max_age=1"] {
            let request = format!("{}{extra}", query_of(&start(&agua, &[]).path));
            let answer = browser
                .post("/authorize/consent", &[("csrf_token", &token), ("request", &request), ("decision", "allow")])
                .await;
            let location = answer.location().unwrap_or_default().to_string();
            assert!(location.starts_with("/signin?"), "{extra}: {} {location}", answer.status);
            assert!(location.contains("reauth=1"), "{location}");
        }
        // prompt=none cannot sign in again: login_required goes back to the entity.
        let request = format!("{}&max_age=1&prompt=none", query_of(&start(&agua, &[]).path));
        let answer = browser
            .post("/authorize/consent", &[("csrf_token", &token), ("request", &request), ("decision", "allow")])
            .await;
        assert_eq!(callback_params(answer.location().unwrap())["error"], "login_required");
        assert_eq!(app.count("SELECT COUNT(*) FROM authorization_codes").await, 1, "only the first code");
        app.finish().await;
    }
}

both_backends! {
    async fn a_captured_marker_does_not_count_for_another_request(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (person, mut browser) = signed_in_person(&app, 322).await;
        authorize(&mut browser, &start(&agua, &[]).path).await;

        // A marker minted for one request, after a real fresh sign-in.
        let first = browser.get(&format!("{}&prompt=login", start(&agua, &[]).path)).await;
        let signin = first.location().unwrap().to_string();
        let html = browser.get(&signin).await.body;
        let next = input_value(&html, "next").unwrap();
        let marker = url::Url::parse(&format!("http://x{next}")).unwrap().query_pairs()
            .find(|(k, _)| k == "llave_reauth").map(|(_, v)| v.into_owned()).expect("a marker");
        let token = input_value(&html, "csrf_token").unwrap();
        let signed = browser.post("/signin", &[("csrf_token", &token), ("identifier", &person.curp), ("password", &person.password), ("next", &next)]).await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER);
        assert!(authorize(&mut browser, signed.location().unwrap()).await.contains_key("code"));

        // The same marker on a later request: a fresh sign-in is asked again.
        std::thread::sleep(std::time::Duration::from_millis(2100));
        for extra in ["&max_age=1", "&prompt=login"] {
            let later = format!("{}{extra}&llave_reauth={}", start(&agua, &[]).path, urlencode(&marker));
            let answer = browser.get(&later).await;
            assert!(answer.location().unwrap_or_default().starts_with("/signin?"), "{extra}: {:?}", answer.location());
            // … and through the consent form.
            let token = input_value(&browser.get("/account").await.body, "csrf_token").unwrap();
            let answer = browser
                .post("/authorize/consent", &[("csrf_token", &token), ("request", &query_of(&later)), ("decision", "allow")])
                .await;
            assert!(answer.location().unwrap_or_default().starts_with("/signin?"), "{extra}: {:?}", answer.location());
        }
        // The marker of this very request, but in the old session (before signing in
        // again): no fresh sign-in happened.
        let started = start(&agua, &[]);
        let asked = browser.get(&format!("{}&prompt=login", started.path)).await;
        let next = url::Url::parse(&format!("http://x{}", asked.location().unwrap())).unwrap().query_pairs()
            .find(|(k, _)| k == "next").map(|(_, v)| v.into_owned()).unwrap();
        assert!(browser.get(&next).await.location().unwrap_or_default().starts_with("/signin?"));
        app.finish().await;
    }
}

both_backends! {
    async fn prompt_login_and_max_age_give_a_code_with_a_fresh_auth_time(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (person, mut browser) = signed_in_person(&app, 323).await;
        let started = start(&agua, &[]);
        let params = authorize(&mut browser, &started.path).await;
        let old = auth_time(&agua, started, &params["code"]).await;
        std::thread::sleep(std::time::Duration::from_millis(2100));

        for extra in ["&prompt=login", "&max_age=1"] {
            let started = start(&agua, &[]);
            let asked = browser.get(&format!("{}{extra}", started.path)).await;
            let html = browser.get(asked.location().unwrap()).await.body;
            let next = input_value(&html, "next").unwrap();
            let token = input_value(&html, "csrf_token").unwrap();
            let signed = browser.post("/signin", &[("csrf_token", &token), ("identifier", &person.curp), ("password", &person.password), ("next", &next)]).await;
            assert_eq!(signed.status, StatusCode::SEE_OTHER);
            let params = authorize(&mut browser, signed.location().unwrap()).await;
            let fresh = auth_time(&agua, started, params.get("code").expect("a code")).await;
            assert!(fresh > old, "{extra}: auth_time {fresh} after {old}");
            std::thread::sleep(std::time::Duration::from_millis(2100));
        }
        // Not signed in at all: one sign-in is enough for prompt=login.
        let mut other = app.client();
        let started = start(&agua, &[]);
        let asked = other.get(&format!("{}&prompt=login", started.path)).await;
        let html = other.get(asked.location().unwrap()).await.body;
        let next = input_value(&html, "next").unwrap();
        let token = input_value(&html, "csrf_token").unwrap();
        let signed = other.post("/signin", &[("csrf_token", &token), ("identifier", &person.curp), ("password", &person.password), ("next", &next)]).await;
        assert!(authorize(&mut other, signed.location().unwrap()).await.contains_key("code"));
        app.finish().await;
    }
}
