//! The demo bank (issue 17 item 7): `llave demo` registers "Banco del Ejemplo" as a third
//! party with a FAPI 2.0 client, and serves its site under `/demo/banco/`. End to end in a
//! real browser (`tests/browser/bank_story.mjs`): a person with a proof of residence at the
//! Alcaldía opens an account at the bank through llave's consent page, the bank shows what it
//! received with the seal verified, the person revokes the consent from their file, and the
//! bank's next fetch is refused. Beside it: the registration is idempotent and follows the
//! issuer, the site exists only where `llave demo` made it, and the notices endpoint takes
//! only what llave signed.

use axum::http::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::browser::{browser_tests_dir, require_browser_tooling, run_script};
use crate::support::TestApp;

const CLIENT_ID: &str = "demo-banco-del-ejemplo";

/// Presses "Consultar de nuevo" and answers the bank's page that follows.
async fn fetch_again(browser: &mut crate::support::Client, csrf: &str) -> String {
    let answer = browser.post("/demo/banco/consultar", &[("csrf_token", csrf)]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    browser.get("/demo/banco/").await.body
}

both_backends! {
    async fn the_bank_story_runs_end_to_end_in_a_browser(backend: Backend) {
        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        let (app, base) = TestApp::builder(backend).config(|c| c.dev.enabled = true).serve_as_localhost().await;
        let report = llave::admin::demo::run(&app.state).await.expect("the demo data");
        assert_eq!(report.bank.url, format!("{base}/demo/banco/"));
        assert!(report.to_text(&base).contains(&format!("{base}/demo/banco/")));
        let person = &report.people[0];

        run_script(&dir, "bank_story.mjs", &base, &[
            ("CURP", person.curp.clone()),
            ("PASSWORD", person.password.clone()),
            ("STREET", "Calle Lerma 71 interior 4".into()),
            ("COLONIA", "Cuauhtemoc".into()),
            ("POSTAL_CODE", "06500".into()),
        ]).await;

        // The consent's artefact counts one fetch and one refusal (the fetch after the
        // revocation), and the person's events record them.
        let store = &app.state.store;
        let account = store.account_by_curp(&person.curp).await.unwrap().unwrap().id;
        let artefacts = store.artefacts_of(account.0).await.unwrap();
        assert_eq!(artefacts.len(), 1, "{artefacts:?}");
        let artefact = &artefacts[0];
        assert_eq!(artefact.client_id, CLIENT_ID);
        assert_eq!(artefact.state.to_ascii_uppercase(), "REVOKED");
        assert_eq!((artefact.fetches, artefact.refusals), (1, 1), "{artefact:?}");
        let events = store.events_for_account(account, 500).await.unwrap();
        let of = |kind: &str| {
            events.iter().filter(|e| e.kind == kind && e.detail.contains(&artefact.id)).count()
        };
        assert_eq!(of("sharing_consent_given"), 1, "{events:#?}");
        assert_eq!(of("shared_data_fetched"), 1, "{events:#?}");
        assert_eq!(of("shared_data_refused"), 1, "{events:#?}");
        assert!(
            events.iter().any(|e| e.kind == "shared_data_refused" && e.detail.contains("reason=revoked")),
            "{events:#?}"
        );
        app.finish().await;
    }
}

both_backends! {
    async fn llave_demo_registers_the_bank_once_and_follows_the_issuer(backend: Backend) {
        let app = TestApp::builder(backend)
            .config(|c| {
                c.issuer = Some("http://localhost:8080".into());
                c.dev.enabled = true;
            })
            .build()
            .await;
        let first = llave::admin::demo::run(&app.state).await.expect("the demo data");
        assert_eq!(first.bank.client_id, CLIENT_ID);
        let store = &app.state.store;
        let third_party = store.third_party_by_slug("banco-del-ejemplo").await.unwrap().expect("the third party");
        assert_eq!(third_party.legal_name, "Banco del Ejemplo, S.A. de C.V.");
        assert_eq!(third_party.tax_id, "BEJ990101AB1");
        assert_eq!(third_party.purposes, vec!["apertura_cuenta".to_string()]);
        let client = store.client_by_id(CLIENT_ID).await.unwrap().expect("the bank's client");
        assert!(client.fapi);
        assert_eq!(client.auth_method, "private_key_jwt");
        assert_eq!(client.name, "Banca en línea del Banco del Ejemplo");
        assert_eq!(client.redirect_uris, vec!["http://localhost:8080/demo/banco/callback".to_string()]);
        let notify = client.third_party.as_ref().and_then(|t| t.notify_uri.clone());
        assert_eq!(notify.as_deref(), Some("http://localhost:8080/demo/banco/avisos"));
        // The JWKS holds the public half only, under kid banco-1.
        let jwks: serde_json::Value = serde_json::from_str(client.jwks.as_deref().unwrap()).unwrap();
        assert_eq!(jwks["keys"][0]["kid"], "banco-1");
        assert_eq!(jwks["keys"][0]["crv"], "P-256");
        assert!(jwks["keys"][0].get("d").is_none(), "no private member: {jwks}");

        // Again: the same third party, client and key.
        llave::admin::demo::run(&app.state).await.expect("the demo data again");
        let again = store.client_by_id(CLIENT_ID).await.unwrap().unwrap();
        assert_eq!(again.jwks, client.jwks, "the key is kept");
        assert_eq!(store.third_party_by_slug("banco-del-ejemplo").await.unwrap().unwrap().id, third_party.id);
        app.finish().await;

        // Another issuer over the same database: the URIs follow it, the key stays.
        let moved = TestApp::builder(backend)
            .config(|c| {
                c.issuer = Some("http://127.0.0.1:9090".into());
                c.dev.enabled = true;
            })
            .build()
            .await;
        llave::admin::demo::run(&moved.state).await.expect("the demo data");
        let client = moved.state.store.client_by_id(CLIENT_ID).await.unwrap().unwrap();
        assert_eq!(client.redirect_uris, vec!["http://127.0.0.1:9090/demo/banco/callback".to_string()]);
        let notify = client.third_party.as_ref().and_then(|t| t.notify_uri.clone());
        assert_eq!(notify.as_deref(), Some("http://127.0.0.1:9090/demo/banco/avisos"));
        moved.finish().await;
    }
}

both_backends! {
    async fn the_bank_exists_only_where_llave_demo_made_it_in_dev_mode(backend: Backend) {
        // No demo: no bank.
        let app = TestApp::builder(backend).config(|c| c.dev.enabled = true).build().await;
        let mut client = app.client();
        for path in ["/demo/banco/", "/demo/banco/callback?code=x&state=y&iss=z"] {
            assert_eq!(client.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(client.request("POST", "/demo/banco/avisos", Some(b"x".to_vec())).await.status, StatusCode::NOT_FOUND);
        app.finish().await;
        // The demo, without dev mode: no bank either.
        let app = TestApp::builder(backend).config(|c| c.issuer = Some("http://localhost:8080".into())).build().await;
        llave::admin::demo::run(&app.state).await.expect("the demo data");
        assert_eq!(app.client().get("/demo/banco/").await.status, StatusCode::NOT_FOUND);
        app.finish().await;
    }
}

both_backends! {
    async fn the_banks_forms_need_its_csrf_token_and_its_callback_its_state(backend: Backend) {
        let (app, base) = TestApp::builder(backend).config(|c| c.dev.enabled = true).serve_as_localhost().await;
        llave::admin::demo::run(&app.state).await.expect("the demo data");
        let mut browser = app.client();
        let home = browser.get("/demo/banco/").await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(home.body.contains("Abrir cuenta con Llave"), "{}", home.body);
        let token = crate::support::input_value(&home.body, "csrf_token").expect("the form's CSRF token");
        // Without the token, or with another: refused, and nothing is pushed.
        for bad in ["", "not-the-token"] {
            let refused = browser.post("/demo/banco/abrir", &[("csrf_token", bad)]).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{bad:?}");
        }
        let refused = browser.post("/demo/banco/consultar", &[("csrf_token", "x")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        // A callback the bank did not start: refused before anything is exchanged.
        let stranger = browser.get("/demo/banco/callback?code=abc&state=forged&iss=x").await;
        assert_eq!(stranger.status, StatusCode::BAD_REQUEST);
        assert!(stranger.body.contains("La sesión expiró"), "{}", stranger.body);
        // With the token: the request is pushed (PAR, private_key_jwt) and the browser goes
        // to llave with only the client id and the request's reference.
        let pushed = browser.post("/demo/banco/abrir", &[("csrf_token", &token)]).await;
        assert_eq!(pushed.status, StatusCode::SEE_OTHER, "{}", pushed.body);
        let to = pushed.location().unwrap().to_string();
        let prefix = format!("{base}/authorize?client_id={CLIENT_ID}&request_uri=urn");
        assert!(to.starts_with(&prefix), "{to}");
        // A callback whose state is not the one pushed: refused, the request spent.
        let forged = browser.get("/demo/banco/callback?code=abc&state=forged&iss=x").await;
        assert_eq!(forged.status, StatusCode::BAD_REQUEST);
        app.finish().await;
    }
}

both_backends! {
    async fn the_bank_takes_only_notices_llave_signed(backend: Backend) {
        let (app, base) = TestApp::builder(backend).config(|c| c.dev.enabled = true).serve_as_localhost().await;
        llave::admin::demo::run(&app.state).await.expect("the demo data");
        let ring = app.state.keys.ring(&app.state.store).await.unwrap();
        let key = ring.signing("ES256").expect("an ES256 key");
        let claims = json!({ "iss": base, "aud": CLIENT_ID, "jti": "n-1", "iat": llave::crypto::now(),
            "grant_id": "g-1", "consent_artefact_id": "a-1", "state": "REVOKED" });
        let good = key.sign_jwt("consent-state+jwt", &claims).unwrap();
        let post = |body: String| {
            let mut client = app.client();
            async move {
                client.request_typed("POST", "/demo/banco/avisos", Some(body.into_bytes()), "application/jwt").await.status
            }
        };
        assert_eq!(post(good.clone()).await, StatusCode::NO_CONTENT);
        // Its payload changed: the signature no longer holds.
        let parts: Vec<&str> = good.split('.').collect();
        let mut changed = claims.clone();
        changed["state"] = json!("ACTIVE");
        use base64::Engine;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(changed.to_string());
        assert_eq!(post(format!("{}.{payload}.{}", parts[0], parts[2])).await, StatusCode::BAD_REQUEST);
        // For another client, of another type, or not a JWS at all.
        let mut other = claims.clone();
        other["aud"] = json!("someone-else");
        assert_eq!(post(key.sign_jwt("consent-state+jwt", &other).unwrap()).await, StatusCode::BAD_REQUEST);
        assert_eq!(post(key.sign_jwt("consent-artefact+jwt", &claims).unwrap()).await, StatusCode::BAD_REQUEST);
        for garbage in ["", "x", "a.b.c"] {
            assert_eq!(post(garbage.to_string()).await, StatusCode::BAD_REQUEST, "{garbage:?}");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn the_bank_answers_hostile_input_without_a_server_error(backend: Backend) {
        let (app, _base) = TestApp::builder(backend).config(|c| c.dev.enabled = true).serve_as_localhost().await;
        llave::admin::demo::run(&app.state).await.expect("the demo data");
        let mut browser = app.client();
        browser.get("/demo/banco/").await;
        for path in [
            "/demo/banco/callback",
            "/demo/banco/callback?code=%00&state=%FF&iss=%0a",
            "/demo/banco/callback?error=access_denied",
            "/demo/banco/callback?code=a&code=b&state=c",
            "/demo/banco",
        ] {
            let response = browser.get(path).await;
            assert!(!response.status.is_server_error(), "{path}: {}", response.status);
        }
        for (path, body) in [
            ("/demo/banco/abrir", b"csrf_token=%00%FF".to_vec()),
            ("/demo/banco/consultar", vec![0xff, 0xfe, 0x00]),
            ("/demo/banco/salir", b"%%%".to_vec()),
            ("/demo/banco/avisos", vec![0xff, 0xfe, 0x00]),
            ("/demo/banco/avisos", "a.b.c".repeat(10_000).into_bytes()),
        ] {
            let response = browser.request("POST", path, Some(body)).await;
            assert!(!response.status.is_server_error(), "{path}: {}", response.status);
        }
        // Cookies the bank did not sign are no visit.
        let mut forged = app.client();
        forged.extra_headers.push(("Cookie".into(), "demo_banco_visitor=%00.%FF; demo_banco_visitor=x.y".into()));
        let response = forged.get("/demo/banco/").await;
        assert_eq!(response.status, StatusCode::OK);
        app.finish().await;
    }
}

both_backends! {
    async fn the_bank_explains_each_refusal_and_shows_llaves_notice(backend: Backend) {
        let (app, base) = TestApp::builder(backend).config(|c| c.dev.enabled = true).serve_as_localhost().await;
        let report = llave::admin::demo::run(&app.state).await.expect("the demo data");
        let person = &report.people[0];
        let local = |url: &str| url.strip_prefix(base.as_str()).unwrap_or(url).to_string();
        let mut browser = app.client();
        assert_eq!(browser.sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);

        // Open an account allowing the name and the CURP only.
        let home = browser.get("/demo/banco/").await;
        let csrf = crate::support::input_value(&home.body, "csrf_token").unwrap();
        let to_llave = browser.post("/demo/banco/abrir", &[("csrf_token", &csrf)]).await;
        assert_eq!(to_llave.status, StatusCode::SEE_OTHER, "{}", to_llave.body);
        let consent = browser.get(&local(to_llave.location().unwrap())).await;
        assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
        let request = crate::support::input_value(&consent.body, "request").expect("the consent page");
        let token = crate::support::input_value(&consent.body, "csrf_token").unwrap();
        let back = browser
            .post("/authorize/consent", &[
                ("csrf_token", token.as_str()),
                ("request", request.as_str()),
                ("item", "name"),
                ("item", "curp"),
                ("decision", "allow"),
            ])
            .await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        let callback = browser.get(&local(back.location().unwrap())).await;
        assert_eq!(callback.status, StatusCode::SEE_OTHER, "{}", callback.body);
        assert_eq!(callback.location(), Some("/demo/banco/"));
        let opened = browser.get("/demo/banco/").await.body;
        assert!(opened.contains("Cuenta abierta") && opened.contains(&person.curp), "{opened}");
        assert!(!opened.contains("Sello de"), "no record was allowed: {opened}");
        // A reload of the spent callback shows the account again.
        let reload = browser.get(&local(back.location().unwrap())).await;
        assert_eq!(reload.location(), Some("/demo/banco/"));

        // "once": the second fetch is refused, and said so.
        let page = fetch_again(&mut browser, &csrf).await;
        assert!(page.contains("Llave rechazó la consulta") && page.contains("fetch_limit_reached"), "{page}");
        assert!(page.contains("Estado del permiso en Llave: activo"), "{page}");

        // Paused by the person: refused as paused, and llave's notice reaches the bank.
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap().id;
        let artefact = app.state.store.artefacts_of(account.0).await.unwrap().remove(0);
        let file = browser.get("/expediente").await;
        let file_csrf = crate::support::input_value(&file.body, "csrf_token").unwrap();
        let paused = browser
            .post(&format!("/expediente/permisos-empresas/{}/pausar", artefact.id), &[("csrf_token", &file_csrf)])
            .await;
        assert!(paused.status.is_redirection() || paused.status.is_success(), "{}", paused.body);
        app.settle_mail().await;
        let page = fetch_again(&mut browser, &csrf).await;
        assert!(page.contains("consent_paused") && page.contains("pausó su permiso"), "{page}");
        assert!(page.contains("Estado del permiso en Llave: en pausa"), "{page}");
        assert!(page.contains("Llave nos avisó: la persona pausó su permiso."), "{page}");
        app.finish().await;
    }
}
