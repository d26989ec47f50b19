//! What a person does on the pages, in a real browser: `tests/browser/signup_signin.mjs`
//! (playwright-core driving Debian's Chromium, JavaScript disabled) against llave served on
//! a real port. Needs `npm ci --prefix tests/browser` and `/usr/bin/chromium`; `.ci/run`
//! installs both, and without them the test fails saying so rather than skipping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::both_backends;
use crate::support::{Person, TestApp, enrol_totp, sign_up_and_confirm};

/// Generous: two browsers (one per backend) may share two cores with a debug build.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);
const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) fn browser_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Fails (never skips) when what the browser test needs is not installed.
pub(crate) fn require_browser_tooling(dir: &Path) {
    assert!(
        dir.join("node_modules/playwright-core/package.json").is_file(),
        "playwright-core is not installed in {}: run `npm ci --prefix tests/browser` from the workspace root \
         (.ci/run does it)",
        dir.display()
    );
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run `apt-get install -y chromium chromium-driver` (.ci/run does it)"
    );
}

/// Runs a browser script with `BASE_URL` and `vars`; fails the test with its output unless
/// it exits 0.
pub(crate) async fn run_script(dir: &Path, script: &str, base: &str, vars: &[(&str, String)]) {
    let mut command = tokio::process::Command::new("node");
    command.arg(dir.join(script)).current_dir(dir).env("BASE_URL", base).env("CHROMIUM", CHROMIUM).kill_on_drop(true);
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = match tokio::time::timeout(SCRIPT_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => panic!("could not run `node` (Node.js 20 must be on PATH): {error}"),
        Err(_) => panic!("the browser script {script} did not finish within {SCRIPT_TIMEOUT:?}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "browser script {script} failed ({}) against {base}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
}

both_backends! {
    async fn a_new_person_signs_up_confirms_signs_in_and_out_in_a_browser(backend: Backend) {
        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        // Development mode: the script reads the confirmation link from /dev/outbox.
        let (app, base) = TestApp::builder(backend).config(|c| c.dev.enabled = true).serve_as_issuer().await;
        let person = Person::synthetic(7101);

        let person_env = [
            ("OUTBOX", app.outbox().display().to_string()),
            ("CURP", person.curp.clone()),
            ("GIVEN_NAMES", person.given_names.clone()),
            ("FIRST_SURNAME", person.first_surname.clone()),
            ("SECOND_SURNAME", person.second_surname.clone()),
            ("BIRTH_DATE", person.birth_date.clone()),
            ("EMAIL", person.email.clone()),
            ("SECOND_EMAIL", format!("otra.{}", person.email)),
            ("PASSWORD", person.password.clone()),
        ];
        run_script(&dir, "signup_signin.mjs", &base, &person_env).await;

        // What the browser did is in the database: one account, and the refused second
        // sign-up left nothing behind.
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE email_confirmed_at IS NOT NULL").await, 1);
        app.finish().await;
    }
}

/// A stand-in for an entity's website: answers `/callback` (GET and POST) and `/bye` with a
/// page titled "Entidad de prueba" and hands every request it got to the test.
async fn entity_site() -> (String, tokio::sync::mpsc::UnboundedReceiver<(String, String, HashMap<String, String>)>) {
    use axum::extract::{Form, Query};
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let page = axum::response::Html("<!doctype html><title>Entidad</title><h1>Entidad de prueba</h1>");
    let got = move |method: &'static str, path: &'static str| {
        let sender = sender.clone();
        move |params: HashMap<String, String>| {
            let _ = sender.send((method.to_string(), path.to_string(), params));
            page
        }
    };
    let (get_callback, post_callback, bye) = (got("GET", "/callback"), got("POST", "/callback"), got("GET", "/bye"));
    let router = axum::Router::new()
        .route(
            "/callback",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| async move { get_callback(q) })
                .post(move |Form(f): Form<HashMap<String, String>>| async move { post_callback(f) }),
        )
        .route("/bye", axum::routing::get(move |Query(q): Query<HashMap<String, String>>| async move { bye(q) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}"), receiver)
}

both_backends! {
    async fn a_person_signs_in_to_an_entity_through_the_real_pages(backend: Backend) {
        use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
        use openidconnect::{AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse};

        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let (site, mut received) = entity_site().await;
        let person = Person::synthetic(7201);
        sign_up_and_confirm(&app, &person).await;
        llave::admin::entity::add_entity(&app.state, "agua", "Sistema de Aguas").await.unwrap();
        let registered = llave::admin::entity::add_client(&app.state.store, &llave::oidc::clients::NewClient {
            entity: "agua".into(),
            name: "Pagos en línea".into(),
            redirect_uris: vec![format!("{site}/callback")],
            post_logout_redirect_uris: vec![format!("{site}/bye")],
            ..Default::default()
        }).await.unwrap();
        let http = reqwest12::Client::builder().redirect(reqwest12::redirect::Policy::none()).build().unwrap();
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(base.clone()).unwrap(), &http).await.unwrap();
        let rp = CoreClient::from_provider_metadata(metadata, ClientId::new(registered.client_id.clone()), registered.client_secret.clone().map(ClientSecret::new))
            .set_redirect_uri(RedirectUrl::new(format!("{site}/callback")).unwrap());
        let request = || {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let (url, state, nonce) = rp
                .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
                .add_scope(Scope::new("email".into()))
                .set_pkce_challenge(challenge)
                .url();
            (url.to_string(), state, nonce, verifier)
        };
        let (authorize_url, state, nonce, verifier) = request();
        let (form_post_base, form_post_state, form_post_nonce, form_post_verifier) = request();
        let (again_url, again_state, again_nonce, again_verifier) = request();

        run_script(&dir, "oidc_flow.mjs", &base, &[
            ("AUTHORIZE_URL", authorize_url),
            ("FORM_POST_URL", format!("{form_post_base}&response_mode=form_post")),
            ("LOGOUT_URL", format!("{base}/logout?client_id={}&post_logout_redirect_uri={site}/bye&state=adios", registered.client_id)),
            ("AGAIN_URL", again_url),
            ("ENTITY_NAME", "Sistema de Aguas".into()),
            ("CURP", person.curp.clone()),
            ("PASSWORD", person.password.clone()),
        ]).await;

        // What the entity received: a code by redirect, a code by form_post, the way back
        // after signing out, and a code after signing in again.
        let mut got = Vec::new();
        while let Ok(request) = received.try_recv() {
            got.push(request);
        }
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[2].1, "/bye");
        assert_eq!(got[2].2["state"], "adios");
        let codes = [&got[0], &got[1], &got[3]];
        for ((method, path, params), (expected_method, state, nonce, verifier)) in codes.into_iter().zip([
            ("GET", state, nonce, verifier),
            ("POST", form_post_state, form_post_nonce, form_post_verifier),
            ("GET", again_state, again_nonce, again_verifier),
        ]) {
            assert_eq!((method.as_str(), path.as_str()), (expected_method, "/callback"));
            assert_eq!(params["state"], *state.secret());
            assert_eq!(params["iss"], base);
            let tokens = rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
                .set_pkce_verifier(verifier).request_async(&http).await.expect("the code works");
            let claims = tokens.id_token().unwrap().claims(&rp.id_token_verifier(), &nonce).expect("a valid ID token");
            assert_eq!(claims.email().map(|e| e.as_str()), Some(person.email.as_str()));
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM consents").await, 0, "withdrawn in the browser");
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions WHERE ended_at IS NOT NULL").await, 1, "signed out once");
        app.finish().await;
    }
}

both_backends! {
    async fn anyone_finds_a_procedure_in_the_catalog_in_a_browser(backend: Backend) {
        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        llave::admin::demo::run(&app.state).await.expect("demo data with its catalog");
        run_script(&dir, "catalog.mjs", &base, &[]).await;
        app.finish().await;
    }
}

both_backends! {
    async fn a_person_reaches_level_three_with_an_officer_and_a_passkey_in_a_browser(backend: Backend) {
        use openidconnect::core::CoreAuthenticationFlow;
        use openidconnect::{AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, TokenResponse};

        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        // Passkeys need a domain name: llave answers at http://localhost:PORT.
        let (app, base) = TestApp::builder(backend).serve_as_localhost().await;
        let (site, mut received) = entity_site().await;
        let person = Person::synthetic(7301);
        let officer = Person::synthetic(7302);
        sign_up_and_confirm(&app, &officer).await;
        let officer_account = app.state.store.account_by_curp(&officer.curp).await.unwrap().unwrap();
        llave::admin::staff::grant(&app.state.store, officer_account.id, "officer", "*", "test").await.unwrap();
        // Officers act with a second factor: TOTP on, and a recovery code for the desk's sign-in.
        let mut officer_setup = app.client();
        officer_setup.sign_in(&officer.curp, &officer.password).await;
        let (_, officer_codes) = enrol_totp(&mut officer_setup).await;
        let (_, rp) = crate::oidc::support::register(&app, &base, "semovi", llave::oidc::clients::NewClient {
            name: "Licencias".into(),
            redirect_uris: vec![format!("{site}/callback")],
            ..Default::default()
        }).await;
        let http = crate::oidc::support::http();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _state, nonce) = rp
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_auth_context_value(openidconnect::AuthenticationContextClass::new("urn:llave:loa:3".into()))
            .set_pkce_challenge(challenge)
            .url();

        run_script(&dir, "passkeys.mjs", &base, &[
            ("OUTBOX", app.outbox().display().to_string()),
            ("CURP", person.curp.clone()),
            ("GIVEN_NAMES", person.given_names.clone()),
            ("FIRST_SURNAME", person.first_surname.clone()),
            ("SECOND_SURNAME", person.second_surname.clone()),
            ("BIRTH_DATE", person.birth_date.clone()),
            ("EMAIL", person.email.clone()),
            ("PASSWORD", person.password.clone()),
            ("OFFICER_CURP", officer.curp.clone()),
            ("OFFICER_PASSWORD", officer.password.clone()),
            ("OFFICER_RECOVERY_CODE", officer_codes[0].clone()),
            ("AUTHORIZE_URL", url.to_string()),
            ("ENTITY_NAME", "Entidad semovi".into()),
        ]).await;

        // The entity got a code whose ID token says level 3, proven by the passkey.
        let (_, path, params) = received.try_recv().expect("the entity got an answer");
        assert_eq!(path, "/callback");
        let tokens = rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
            .set_pkce_verifier(verifier).request_async(&http).await.expect("the code works");
        let claims = tokens.id_token().unwrap().claims(&rp.id_token_verifier(), &nonce).expect("a valid ID token");
        assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("urn:llave:loa:3"));
        let amr: Vec<String> = claims.auth_method_refs().unwrap().iter().map(|m| m.to_string()).collect();
        assert!(amr.contains(&"user".to_string()) && amr.contains(&"mfa".to_string()), "{amr:?}");
        for sql in [
            "SELECT COUNT(*) FROM security_events WHERE kind = 'identity_verified'",
            "SELECT COUNT(*) FROM security_events WHERE kind = 'passkey_added'",
            "SELECT COUNT(*) FROM security_events WHERE kind = 'stepped_up'",
        ] {
            assert!(app.count(sql).await >= 1, "in the event log: {sql}");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn a_verified_person_signs_on_the_pages_with_a_passkey_in_a_browser(backend: Backend) {
        use base64::Engine;
        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        let (app, base) = TestApp::builder(backend).serve_as_localhost().await;
        let (site, mut received) = entity_site().await;
        llave::signature::init(&app.state).await.unwrap();
        let person = Person::synthetic(7401);
        sign_up_and_confirm(&app, &person).await;
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
        let verification = llave::store::assurance::NewVerification {
            account: account.id, purpose: "verify", method: "officer", verifier: "XEXX010101HNEXXXA4", officer: None,
            document_kind: "ine", document_number: "IDMEX0000002", reference: "in person",
        };
        app.state.store.record_verification(&verification, llave::crypto::now() - 5).await.unwrap();
        llave::admin::entity::add_entity(&app.state, "finanzas", "Secretaría de Finanzas").await.unwrap();
        let registered = llave::admin::entity::add_client(&app.state.store, &llave::oidc::clients::NewClient {
            entity: "finanzas".into(),
            name: "Trámites".into(),
            redirect_uris: vec![format!("{site}/callback")],
            ..Default::default()
        }).await.unwrap();
        let http = reqwest12::Client::new();
        let token: serde_json::Value = http.post(format!("{base}/token"))
            .basic_auth(&registered.client_id, registered.client_secret.as_deref())
            .form(&[("grant_type", "client_credentials"), ("scope", "signatures")])
            .send().await.unwrap().json().await.unwrap();
        let token = token["access_token"].as_str().unwrap().to_string();
        let work = tempfile::tempdir().unwrap();
        let document = b"%PDF-1.4\nContrato de prueba\n".to_vec();
        std::fs::write(work.path().join("contrato.pdf"), &document).unwrap();
        let digest = llave::signature::cms::hex(&llave::signature::cms::sha256(&document));
        let created: serde_json::Value = http.post(format!("{base}/api/signature-requests")).bearer_auth(&token)
            .json(&serde_json::json!({"document_name": "contrato.pdf", "document_sha256": digest,
                "summary": "Firma tu contrato", "redirect_uri": format!("{site}/callback"), "state": "xyz"}))
            .send().await.unwrap().json().await.unwrap();

        run_script(&dir, "signing.mjs", &base, &[
            ("CURP", person.curp.clone()),
            ("PASSWORD", person.password.clone()),
            ("DOCUMENT", work.path().join("contrato.pdf").display().to_string()),
            ("OUT_P7S", work.path().join("contrato.pdf.p7s").display().to_string()),
            ("SIGN_URL", created["sign_url"].as_str().unwrap().to_string()),
            ("ENTITY_NAME", "Secretaría de Finanzas".into()),
        ]).await;

        // What the browser downloaded, and what the entity got, verify with OpenSSL alone.
        let root = app.state.store.authority("root").await.unwrap().unwrap().certificate_pem;
        std::fs::write(work.path().join("root.pem"), root).unwrap();
        let (_, _, params) = received.try_recv().expect("the entity got the person back");
        assert_eq!(params["state"], "xyz");
        let result: serde_json::Value = http.post(format!("{base}/api/signature-requests/exchange")).bearer_auth(&token)
            .json(&serde_json::json!({"code": params["code"]})).send().await.unwrap().json().await.unwrap();
        let p7s = base64::engine::general_purpose::STANDARD.decode(result["signature"].as_str().unwrap()).unwrap();
        std::fs::write(work.path().join("entity.p7s"), p7s).unwrap();
        for signature in ["contrato.pdf.p7s", "entity.p7s"] {
            let out = std::process::Command::new("openssl")
                .args(["cms", "-verify", "-binary", "-content", "contrato.pdf", "-inform", "DER", "-in", signature,
                    "-CAfile", "root.pem", "-purpose", "any", "-out", "/dev/null"])
                .current_dir(work.path()).output().unwrap();
            assert!(out.status.success(), "{signature}: {}", String::from_utf8_lossy(&out.stderr));
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM signatures").await, 2);
        app.finish().await;
    }
}

both_backends! {
    async fn a_person_resets_a_forgotten_password_with_javascript_off(backend: Backend) {
        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        let (app, base) = TestApp::builder(backend).config(|c| c.dev.enabled = true).serve_as_localhost().await;
        let report = llave::admin::demo::run(&app.state).await.expect("the demo data");
        let person = &report.people[0];
        let new_password = "una contraseña nueva y larga 2026";
        run_script(&dir, "reset_nojs.mjs", &base, &[("CURP", person.curp.clone()), ("NEW_PASSWORD", new_password.into())])
            .await;
        // The old password no longer opens the account; the new one does.
        let mut client = app.client();
        assert_ne!(client.sign_in(&person.curp, &person.password).await.location(), Some("/account"));
        assert_eq!(client.sign_in(&person.curp, new_password).await.location(), Some("/account"));
        app.finish().await;
    }
}

both_backends! {
    async fn a_requisition_is_filed_and_approved_by_two_different_approvers_in_a_browser(backend: Backend) {
        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        // The authority must attest destruction 20 days after the second approval.
        let (app, base) = TestApp::builder(backend).config(|c| c.requisitions.attestation_days = 20).serve_as_issuer().await;
        let person = Person::synthetic(7601);
        sign_up_and_confirm(&app, &person).await;
        let work = tempfile::tempdir().unwrap();
        let (key, cert) = crate::requisitions::authority_certificate(work.path(), "fiscalia");
        crate::support::json_of(&crate::requisitions::add_authority(&app, "fiscalia", &cert));
        // The hub's certification authorities, whose seal signs the package.
        let root = llave::signature::init(&app.state).await.unwrap().root_pem;
        let package = work.path().join("package.p7m");
        let mut vars: Vec<(String, String)> = vec![
            ("PERSON_CURP".into(), person.curp.clone()),
            ("ORDER_END".into(), crate::requisitions::day_after(&app, 30)),
            ("PACKAGE_FILE".into(), package.display().to_string()),
        ];
        let mut approver_a = None;
        for (name, seed, role) in [
            ("REQUESTER", 7602, ["--role", "requester", "--authority", "fiscalia"].as_slice()),
            ("APPROVER_A", 7603, ["--role", "requisition-approver"].as_slice()),
            ("APPROVER_B", 7604, ["--role", "requisition-approver"].as_slice()),
        ] {
            let staff = Person::synthetic(seed);
            sign_up_and_confirm(&app, &staff).await;
            let mut args = vec!["staff", "grant", "--curp", staff.curp.as_str(), "--json"];
            args.extend_from_slice(role);
            crate::support::json_of(&crate::support::llave(&app, &args, None));
            let mut setup = app.client();
            setup.sign_in(&staff.curp, &staff.password).await;
            let (_, codes) = enrol_totp(&mut setup).await;
            vars.push((format!("{name}_CURP"), staff.curp.clone()));
            vars.push((format!("{name}_PASSWORD"), staff.password.clone()));
            // One unused recovery code per sign-in.
            vars.push((format!("{name}_CODE"), codes[0].clone()));
            vars.push((format!("{name}_CODE_2"), codes[1].clone()));
            if name == "APPROVER_A" {
                approver_a = Some((staff.curp.clone(), staff.password.clone(), codes[2].clone()));
            }
        }
        let vars: Vec<(&str, String)> = vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        run_script(&dir, "requisition.mjs", &base, &vars).await;
        let approvals: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'requisition_approved'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
        assert_eq!(approvals, 2, "two approvals, A's second refused");

        // The authority opens what the browser downloaded: OpenSSL decrypts it with the
        // authority's key and verifies the hub's seal against the hub's root.
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl").args(args).current_dir(work.path()).output().expect("openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        openssl(&["cms", "-decrypt", "-inform", "DER", "-in", "package.p7m", "-recip", cert.to_str().unwrap(),
            "-inkey", key.to_str().unwrap(), "-out", "sealed.p7m"]);
        std::fs::write(work.path().join("hub-ca.pem"), &root).unwrap();
        openssl(&["cms", "-verify", "-inform", "DER", "-in", "sealed.p7m", "-CAfile", "hub-ca.pem", "-out", "records.json"]);
        let records: serde_json::Value =
            serde_json::from_slice(&std::fs::read(work.path().join("records.json")).unwrap()).unwrap();
        assert_eq!(records["person"]["curp"], person.curp.as_str());

        // The person's file does not show it during the 30-day order; 31 days later it does,
        // and the attestation, due 20 days after approval, is flagged on the staff page.
        let after = |expect: &str, approver: bool| {
            let mut vars = vec![
                ("PERSON_CURP", person.curp.clone()),
                ("PERSON_PASSWORD", person.password.clone()),
                ("EXPECT", expect.to_string()),
                ("CASE_NUMBER", "CI-NAV/30/2026".to_string()),
            ];
            if approver && let Some((curp, password, code)) = &approver_a {
                vars.extend([("APPROVER_CURP", curp.clone()), ("APPROVER_PASSWORD", password.clone()), ("APPROVER_CODE", code.clone())]);
            }
            vars
        };
        run_script(&dir, "requisition_after.mjs", &base, &after("hidden", false)).await;
        app.clock().advance(std::time::Duration::from_secs(31 * 86_400));
        run_script(&dir, "requisition_after.mjs", &base, &after("shown", true)).await;
        app.finish().await;
    }
}

both_backends! {
    async fn an_officer_opens_an_account_at_the_counter_and_the_person_activates_it_on_a_phone(backend: Backend) {
        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        let (app, base) = TestApp::builder(backend).serve_as_localhost().await;
        let officer = Person::synthetic(9101);
        let person = Person::synthetic(9102);
        sign_up_and_confirm(&app, &officer).await;
        let officer_account = app.state.store.account_by_curp(&officer.curp).await.unwrap().unwrap();
        let office = "Oficina Tlalpan";
        llave::admin::staff::grant_at_office(&app.state.store, officer_account.id, "officer", "*", Some(office), "test")
            .await
            .unwrap();
        let mut officer_setup = app.client();
        officer_setup.sign_in(&officer.curp, &officer.password).await;
        let (_, officer_codes) = enrol_totp(&mut officer_setup).await;
        let password = "la frase de mi colonia 2026";
        run_script(&dir, "counter.mjs", &base, &[
            ("OFFICER_CURP", officer.curp.clone()),
            ("OFFICER_PASSWORD", officer.password.clone()),
            ("OFFICER_RECOVERY_CODE", officer_codes[0].clone()),
            ("OFFICER_NAME", format!("{} {}", officer.given_names, officer.first_surname)),
            ("OFFICE", office.into()),
            ("CURP", person.curp.clone()),
            ("GIVEN_NAMES", person.given_names.clone()),
            ("FIRST_SURNAME", person.first_surname.clone()),
            ("SECOND_SURNAME", person.second_surname.clone()),
            ("BIRTH_DATE", person.birth_date.clone()),
            ("PASSWORD", password.into()),
        ]).await;

        // One account, without e-mail, at level 2, its code spent; the acts are events.
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().expect("the account");
        assert!(account.email.is_empty());
        assert_eq!(llave::assurance::account_level(&account), 2);
        assert_eq!(app.count("SELECT COUNT(*) FROM activation_codes WHERE used_at IS NOT NULL").await, 1);
        for kind in ["account_opened_at_counter", "activation_code_issued", "account_activated"] {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = $1 AND account_id = $2")
                .bind(kind).bind(account.id.0).fetch_one(app.state.store.pool()).await.unwrap();
            assert_eq!(n, 1, "{kind}");
        }
        let mut client = app.client();
        assert_eq!(client.sign_in(&person.curp, password).await.location(), Some("/account"));
        app.finish().await;
    }
}
