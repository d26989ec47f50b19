//! Levels of assurance: TOTP and recovery codes (codes computed by `totp-rs`), officers
//! verifying people, step-up for `acr_values`, the remote provider's signed callbacks
//! (forged, replayed, for another CURP), and the level lost with a password reset.

use axum::http::StatusCode;
use openidconnect::{AuthorizationCode, TokenResponse};

use crate::both_backends;
use crate::oidc::support::*;
use crate::support::*;

both_backends! {
    async fn totp_and_recovery_codes_guard_the_sign_in(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (person, mut browser) = signed_in_person(&app, 501).await;
        let (totp, codes) = enrol_totp(&mut browser).await;
        assert!(browser.get("/account").await.body.contains("Te quedan 10 códigos sin usar"));

        // The password alone no longer opens a session.
        let mut other = app.client();
        let answer = other.sign_in(&person.curp, &person.password).await;
        assert_eq!(answer.location(), Some("/signin/second"));
        assert!(!other.cookies.keys().any(|k| k.contains("session")), "no session before the second factor");
        let second = other.get("/signin/second").await;
        assert_eq!(second.status, StatusCode::OK);
        let token = input_value(&second.body, "csrf_token").unwrap();
        let wrong = other.post("/signin/second", &[("csrf_token", &token), ("code", "000000")]).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        // The enrolment used this step's code; the next step's is accepted once.
        let code = totp.generate(unix_now() + 30).to_string();
        let right = other.post("/signin/second", &[("csrf_token", &token), ("code", &code)]).await;
        assert_eq!(right.location(), Some("/account"), "{}", right.body);
        assert_eq!(other.get("/account").await.status, StatusCode::OK);
        let methods = app.count("SELECT COUNT(*) FROM sessions WHERE auth_methods = 'pwd otp mfa'").await;
        assert_eq!(methods, 1);

        // A replayed code is refused.
        let mut third = app.client();
        third.sign_in(&person.curp, &person.password).await;
        let token = input_value(&third.get("/signin/second").await.body, "csrf_token").unwrap();
        let replay = third.post("/signin/second", &[("csrf_token", &token), ("code", &code)]).await;
        assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "a code works once");

        // A recovery code works once.
        let used = third.post("/signin/second", &[("csrf_token", &token), ("recovery_code", &codes[0].to_lowercase())]).await;
        assert_eq!(used.location(), Some("/account"), "{}", used.body);
        let mut fourth = app.client();
        fourth.sign_in(&person.curp, &person.password).await;
        let token = input_value(&fourth.get("/signin/second").await.body, "csrf_token").unwrap();
        let again = fourth.post("/signin/second", &[("csrf_token", &token), ("recovery_code", &codes[0])]).await;
        assert_eq!(again.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.count("SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NULL").await, 9);
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'totp_enabled'").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'recovery_code_used'").await, 1);
        // Each check of the second step is one act with what it counted and recorded.
        let checks = crate::changes::acts_named(&app.state.store, "second_factor").await;
        let failed = vec!["second_factor_failed".to_string()];
        assert_eq!(checks, [failed.clone(), failed.clone(), vec!["recovery_code_used".to_string()], failed]);
        // The secret is sealed, never stored as typed into the app.
        assert_eq!(app.count("SELECT COUNT(*) FROM totp_factors WHERE secret_sealed LIKE 'v1.%'").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn guessing_totp_codes_is_throttled(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (person, mut browser) = signed_in_person(&app, 502).await;
        let (totp, _) = enrol_totp(&mut browser).await;
        let mut attacker = app.client_from("203.0.113.9");
        attacker.sign_in(&person.curp, &person.password).await;
        let token = input_value(&attacker.get("/signin/second").await.body, "csrf_token").unwrap();
        for guess in ["111111", "222222", "333333", "444444", "555555"] {
            let answer = attacker.post("/signin/second", &[("csrf_token", &token), ("code", guess)]).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        }
        let code = totp.generate(unix_now() + 30).to_string();
        let blocked = attacker.post("/signin/second", &[("csrf_token", &token), ("code", &code)]).await;
        assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "even the right code waits");
        assert!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'lockout'").await >= 1);
        app.finish().await;
    }
}

/// An officer (a person holding the role) signed in with a second factor.
async fn officer(app: &TestApp, seed: u64) -> (Person, Client) {
    let (person, mut browser) = signed_in_person(app, seed).await;
    let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
    llave::admin::staff::grant(&app.state.store, account.id, "officer", "*", "test").await.unwrap();
    let (_, codes) = enrol_totp(&mut browser).await;
    sign_in_with_recovery_code(&mut browser, &person, &codes[0]).await;
    (person, browser)
}

/// Signs in again with the password and, as the second step, a recovery code.
async fn sign_in_with_recovery_code(browser: &mut Client, person: &Person, code: &str) {
    let fields = [("identifier", person.curp.as_str()), ("password", &person.password), ("next", "/account")];
    let first = browser.submit("/signin?reauth=1", "/signin", &fields).await;
    assert_eq!(first.location(), Some("/signin/second"));
    let second = browser.submit("/signin/second", "/signin/second", &[("recovery_code", code)]).await;
    assert_eq!(second.status, StatusCode::SEE_OTHER, "{}", second.body);
}

both_backends! {
    async fn an_officer_needs_a_second_factor_at_the_desk(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (officer, mut desk) = signed_in_person(&app, 1401).await;
        let account = app.state.store.account_by_curp(&officer.curp).await.unwrap().unwrap();
        llave::admin::staff::grant(&app.state.store, account.id, "officer", "*", "test").await.unwrap();
        let person = Person::synthetic(1402);
        sign_up_and_confirm(&app, &person).await;

        // Password only, no factor yet: told to set one up, and nothing is done.
        let home = desk.get("/oficina").await;
        assert_eq!(home.status, StatusCode::FORBIDDEN);
        assert!(home.body.contains("segundo factor"), "{}", home.body);
        assert_eq!(desk.get(&format!("/oficina/persona?curp={}", person.curp)).await.status, StatusCode::FORBIDDEN);
        let token = input_value(&desk.get("/account").await.body, "csrf_token").unwrap();
        let act = [("csrf_token", token.as_str()), ("curp", &person.curp), ("document_kind", "ine"), ("document_number", "IDMEX123456"), ("checked", "yes")];
        assert_eq!(desk.post("/oficina/verificar", &act).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.count("SELECT COUNT(*) FROM identity_verifications").await, 0);

        // A factor set up, but this session signed in with the password alone: sign in again.
        let (_, codes) = enrol_totp(&mut desk).await;
        let again = desk.get("/oficina").await;
        assert!(again.location().unwrap_or_default().starts_with("/signin?"), "{:?}", again.location());
        assert!(again.location().unwrap().contains("reauth=1"));
        assert_eq!(desk.post("/oficina/verificar", &act).await.status, StatusCode::SEE_OTHER);
        assert_eq!(app.count("SELECT COUNT(*) FROM identity_verifications").await, 0, "the act was not done");

        // Signed in with the second factor: the desk works.
        sign_in_with_recovery_code(&mut desk, &officer, &codes[0]).await;
        assert_eq!(desk.get("/oficina").await.status, StatusCode::OK);
        let done = officer_act(&mut desk, "/oficina/verificar", &person.curp, "IDMEX123456").await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM identity_verifications").await, 1);
        app.finish().await;
    }
}

async fn officer_act(officer: &mut Client, action: &str, curp: &str, number: &str) -> Response {
    let page = format!("/oficina/persona?curp={curp}");
    officer
        .submit(
            &page,
            action,
            &[("curp", curp), ("document_kind", "ine"), ("document_number", number), ("checked", "yes")],
        )
        .await
}

both_backends! {
    async fn an_officer_verifies_a_person_and_entities_get_level_two(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (person, mut browser) = signed_in_person(&app, 511).await;
        let (officer_person, mut desk) = officer(&app, 512).await;

        // Level 2 asked before verification, with no remote provider: not reachable now.
        let started = start(&agua, &["profile"]);
        let params = authorize(&mut browser, &format!("{}&acr_values=urn%3Allave%3Aloa%3A2", started.path)).await;
        assert_eq!(params["error"], "unmet_authentication_requirements");

        // Only officers see the desk; officers cannot verify themselves.
        assert_eq!(browser.get("/oficina").await.status, StatusCode::FORBIDDEN);
        let own = officer_act(&mut desk, "/oficina/verificar", &officer_person.curp, "OWN12345").await;
        assert_eq!(own.status, StatusCode::FORBIDDEN);
        let unchecked = desk
            .submit(&format!("/oficina/persona?curp={}", person.curp), "/oficina/verificar",
                &[("curp", &person.curp), ("document_kind", "ine"), ("document_number", "ABC12345")])
            .await;
        assert_eq!(unchecked.status, StatusCode::UNPROCESSABLE_ENTITY, "the document must be checked in person");
        let done = officer_act(&mut desk, "/oficina/verificar", &person.curp, "IDMEX1234567").await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert!(done.body.contains("Nivel 2") && done.body.contains("Identidad verificada y registrada"));

        let account_page = browser.get("/account").await.body;
        assert!(account_page.contains("Nivel 2: Llave Verificada"), "the person sees the level");
        assert!(account_page.contains(&officer_person.curp), "and who verified them");
        assert!(account_page.contains("••••••••4567"), "the document masked");

        let started = start(&agua, &["profile"]);
        let params = authorize(&mut browser, &format!("{}&acr_values=urn%3Allave%3Aloa%3A2", started.path)).await;
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
            .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        let claims = jwt_payload(&tokens.id_token().unwrap().to_string());
        assert_eq!(claims["acr"], "urn:llave:loa:2");

        // Level 3 needs a re-proof this person cannot give here (no passkey, no provider).
        let started = start(&agua, &["profile"]);
        let params = authorize(&mut browser, &format!("{}&acr_values=urn%3Allave%3Aloa%3A3", started.path)).await;
        assert_eq!(params["error"], "unmet_authentication_requirements");

        // An essential acr in `claims` insists the same way.
        let started = start(&agua, &["profile"]);
        let claims = urlencode(r#"{"id_token":{"acr":{"essential":true,"values":["urn:llave:loa:3"]}}}"#);
        let params = authorize(&mut browser, &format!("{}&claims={claims}", started.path)).await;
        assert_eq!(params["error"], "unmet_authentication_requirements");

        let verified = app.count("SELECT COUNT(*) FROM identity_verifications WHERE method = 'officer'").await;
        assert_eq!(verified, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'identity_verified'").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn a_reset_by_email_lowers_the_level_and_an_officer_restores_access(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (person, mut browser) = signed_in_person(&app, 521).await;
        let (_, mut desk) = officer(&app, 522).await;
        enrol_totp(&mut browser).await;
        officer_act(&mut desk, "/oficina/verificar", &person.curp, "IDMEX7654321").await;

        // Removing the last factor of a verified account needs the password again.
        let refused = browser.submit("/account", "/account/totp/remove", &[("password", "")]).await;
        assert_eq!(refused.location(), Some("/account?error=fresh_auth_needed#security"));
        assert_eq!(app.count("SELECT COUNT(*) FROM totp_factors").await, 2, "the person's and the officer's");

        // Reset by e-mail: level 1 until restored, and the person is told.
        let mut anyone = app.client();
        anyone.submit("/password/forgot", "/password/forgot", &[("identifier", &person.curp)]).await;
        let link = app.last_link("/password/reset?token=");
        let reset = anyone.submit(&link, "/password/reset", &[("token", link.split("token=").nth(1).unwrap()), ("password", "otra frase muy larga 2026")]).await;
        assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
        assert!(reset.body.contains("en pausa"), "the person is told: {}", reset.body);
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
        assert_eq!(llave::assurance::account_level(&account), 1);

        // An officer restores access in person: factors gone, sessions ended, a link sent;
        // that reset does not lower the level again.
        let recovered = officer_act(&mut desk, "/oficina/recuperar", &person.curp, "IDMEX7654321").await;
        assert_eq!(recovered.status, StatusCode::OK, "{}", recovered.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM totp_factors").await, 1, "the officer's own");
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'access_recovered'").await, 1);
        let link = app.last_link("/password/reset?token=");
        let mut person_again = app.client();
        let reset = person_again.submit(&link, "/password/reset", &[("token", link.split("token=").nth(1).unwrap()), ("password", "una tercera frase larga")]).await;
        assert_eq!(reset.status, StatusCode::OK);
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
        assert_eq!(llave::assurance::account_level(&account), 2, "verified in person just now");
        let mut signed = app.client();
        assert_eq!(signed.sign_in(&person.curp, "una tercera frase larga").await.location(), Some("/account"));
        let started = start(&agua, &["profile"]);
        let params = authorize(&mut signed, &format!("{}&acr_values=urn%3Allave%3Aloa%3A2", started.path)).await;
        assert!(params.contains_key("code"), "{params:?}");
        app.finish().await;
    }
}

both_backends! {
    async fn a_remote_reproof_gives_level_three_for_a_short_while_only(backend: Backend) {
        let (app, base) = TestApp::builder(backend).config(|c| c.assurance.reference_provider = true).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (person, mut browser) = signed_in_person(&app, 531).await;
        let (_, mut desk) = officer(&app, 532).await;
        officer_act(&mut desk, "/oficina/verificar", &person.curp, "IDMEX1111222").await;

        let started = start(&agua, &["profile"]);
        let path = format!("{}&acr_values=urn%3Allave%3Aloa%3A3", started.path);
        let first = browser.get(&path).await;
        let stepup = first.location().expect("sent to step up").to_string();
        assert!(stepup.starts_with("/nivel?need=3"), "{stepup}");
        let page = browser.get(&stepup).await;
        assert!(page.body.contains("Proveedor de referencia"), "{}", page.body);
        let next = input_value(&page.body, "next").unwrap();
        let token = input_value(&page.body, "csrf_token").unwrap();
        let go = browser.post("/verificacion/iniciar", &[("csrf_token", &token), ("purpose", "reproof"), ("next", &next)]).await;
        assert_eq!(go.status, StatusCode::OK, "{}", go.body);
        let provider_page = local(&continue_link(&go.body));
        let decided = browser.submit(&provider_page, &provider_page, &[("decision", "approve"), ("document_kind", "ine"), ("document_number", "IDMEX1111222")]).await;
        let back = local(decided.location().unwrap());
        assert!(back.starts_with("/verificacion/regreso"), "{back}");
        let returned = browser.get(&back).await;
        assert_eq!(returned.location(), Some(next.as_str()), "{}", returned.body);
        let params = authorize(&mut browser, &next).await;
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
            .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        let claims = jwt_payload(&tokens.id_token().unwrap().to_string());
        assert_eq!(claims["acr"], "urn:llave:loa:3");
        assert!(claims["amr"].as_array().unwrap().contains(&serde_json::json!("face")), "{claims}");

        // Eleven minutes later the re-proof is stale: step up again, never a stale level 3.
        sqlx::query("UPDATE sessions SET reproved_at = reproved_at - 660").execute(app.state.store.pool()).await.unwrap();
        let started = start(&agua, &["profile"]);
        let again = browser.get(&format!("{}&acr_values=urn%3Allave%3Aloa%3A3", started.path)).await;
        assert!(again.location().unwrap().starts_with("/nivel?need=3"));
        // With prompt=none the entity hears it cannot be had silently; cancelling says the same.
        let started = start(&agua, &["profile"]);
        let silent = authorize(&mut browser, &format!("{}&acr_values=urn%3Allave%3Aloa%3A3&prompt=none", started.path)).await;
        assert_eq!(silent["error"], "unmet_authentication_requirements");
        app.finish().await;
    }
}

/// A verification provider played by the test: its start endpoint records the sessions
/// llave opens; its key set is whatever the test publishes.
struct FakeProvider {
    base: String,
    sessions: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    key: llave::keys::LoadedKey,
}

async fn fake_provider() -> FakeProvider {
    use axum::routing::{get, post};
    let record = llave::keys::generate("ES256").unwrap();
    let key = llave::keys::load(&record).unwrap();
    let jwks = serde_json::json!({ "keys": [key.jwk.clone()] });
    let sessions = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = sessions.clone();
    let router = axum::Router::new().route("/jwks.json", get(move || async move { axum::Json(jwks) })).route(
        "/sessions",
        post(move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<serde_json::Value>| async move {
            assert_eq!(headers.get("authorization").unwrap(), "Bearer proveedor-secreto");
            seen.lock().unwrap().push(body);
            axum::Json(serde_json::json!({ "redirect_url": "https://proveedor.example/verificar" }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    FakeProvider { base, sessions, key }
}

both_backends! {
    async fn forged_replayed_and_misdirected_provider_results_are_refused(backend: Backend) {
        let provider = fake_provider().await;
        let provider_base = provider.base.clone();
        let (app, base) = TestApp::builder(backend)
            .config(move |c| {
                c.assurance.remote = Some(llave::config::RemoteProviderConfig {
                    name: "Biometría de prueba".into(),
                    issuer: "https://proveedor.example".into(),
                    start_url: format!("{provider_base}/sessions"),
                    jwks_url: format!("{provider_base}/jwks.json"),
                    api_key: "proveedor-secreto".into(),
                })
            })
            .serve_as_issuer()
            .await;
        let (person, mut browser) = signed_in_person(&app, 541).await;
        start_verification(&mut browser).await;
        let session = provider.sessions.lock().unwrap()[0].clone();
        assert_eq!(session["curp"], person.curp);
        assert_eq!(session["callback_url"], format!("{base}/verificacion/callback"));
        let session_id = session["session_id"].as_str().unwrap().to_string();

        let now = unix_now() as i64;
        let claims = |session_id: &str, curp: &str| serde_json::json!({
            "iss": "https://proveedor.example", "aud": base, "iat": now, "exp": now + 300, "jti": llave::crypto::random_id(),
            "session_id": session_id, "curp": curp, "result": "verified", "method": "face",
            "document_kind": "ine", "document_number": "IDMEX5550001",
        });
        let callback = |jws: String| {
            let url = format!("{base}/verificacion/callback");
            async move {
                let response = http().post(url).header("content-type", "application/jose").body(jws).send().await.unwrap();
                (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap_or_default())
            }
        };

        // Signed by someone else's key under the provider's key id.
        let impostor = llave::keys::load(&llave::keys::generate("ES256").unwrap()).unwrap();
        let mut forged_key = impostor;
        forged_key.kid = provider.key.kid.clone();
        let forged = forged_key.sign_jwt("JWT", &claims(&session_id, &person.curp)).unwrap();
        assert_eq!(callback(forged).await.0, 401);
        // Tampered payload.
        let good = provider.key.sign_jwt("JWT", &claims(&session_id, &person.curp)).unwrap();
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        parts[1] = base64url(&serde_json::to_vec(&claims(&session_id, "XEXX010101HNEXXXA4")).unwrap());
        assert_eq!(callback(parts.join(".")).await.0, 401);
        // Signed long ago: refused like a bad signature.
        let mut stale = claims(&session_id, &person.curp);
        stale["iat"] = serde_json::json!(now - 3600);
        assert_eq!(callback(provider.key.sign_jwt("JWT", &stale).unwrap()).await.0, 401);
        // Unknown session.
        assert_eq!(callback(provider.key.sign_jwt("JWT", &claims("no-such-session", &person.curp)).unwrap()).await.0, 404);
        assert_eq!(llave::assurance::account_level(&app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap()), 1);

        // The genuine result, once.
        let (status, body) = callback(good.clone()).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = callback(good).await;
        assert_eq!((status, body["error"].as_str()), (409, Some("replayed")));
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
        assert_eq!(llave::assurance::account_level(&account), 2);

        // A result for another CURP ends that session without verifying anyone.
        start_verification(&mut browser).await;
        let second = provider.sessions.lock().unwrap()[1]["session_id"].as_str().unwrap().to_string();
        let other = Person::synthetic(542);
        let (status, body) = callback(provider.key.sign_jwt("JWT", &claims(&second, &other.curp)).unwrap()).await;
        assert_eq!((status, body["error"].as_str()), (422, Some("curp_mismatch")));
        let (status, _) = callback(provider.key.sign_jwt("JWT", &claims(&second, &person.curp)).unwrap()).await;
        assert_eq!(status, 409, "the session is spent");
        assert_eq!(app.count("SELECT COUNT(*) FROM identity_verifications").await, 1);
        assert!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'verification_refused'").await >= 2);
        // Each session opened with its event; each result in one act with what it changed:
        // the verification and the step-up of the session that started it, a replay's
        // refusal, the mismatch that closed the second session.
        let store = &app.state.store;
        let one = |kinds: &[&str]| kinds.iter().map(|k| k.to_string()).collect::<Vec<_>>();
        assert_eq!(crate::changes::acts_named(store, "verification_started").await, [one(&["verification_started"]), one(&["verification_started"])]);
        assert_eq!(app.count("SELECT COUNT(*) FROM verification_sessions").await, 2);
        assert_eq!(
            crate::changes::acts_named(store, "verification_result").await,
            [one(&["identity_verified", "stepped_up"]), one(&["verification_refused"]), one(&["verification_refused"])]
        );
        assert_eq!(crate::changes::acts_named(store, "verification_refused").await, [one(&["verification_refused"])]);
        assert_eq!(app.count("SELECT COUNT(*) FROM verification_sessions WHERE result = 'refused'").await, 1);
        app.finish().await;
    }
}

async fn start_verification(browser: &mut Client) {
    let answer =
        browser.submit("/account", "/verificacion/iniciar", &[("purpose", "verify"), ("next", "/account")]).await;
    assert_eq!(continue_link(&answer.body), "https://proveedor.example/verificar", "the person is told where they go");
}

/// The "continue to the provider" link of the page llave shows before sending the person away.
fn continue_link(page: &str) -> String {
    let marker = "id=\"continue\" href=\"";
    let start = page.find(marker).expect("a link to the provider") + marker.len();
    unescape(page[start..].split('"').next().unwrap())
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

both_backends! {
    async fn passkey_ceremonies_refuse_forgeries_replays_and_cross_site_posts(backend: Backend) {
        // Passkeys exist only where the issuer is a domain name.
        let at_ip = TestApp::new(backend).await;
        let mut browser = at_ip.client();
        let refused = browser.submit("/signin", "/signin/passkey/begin", &[]).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
        assert!(refused.body.contains("error"));
        at_ip.finish().await;

        let app = TestApp::builder(backend).config(|c| c.issuer = Some("http://localhost:8080".into())).build().await;
        let mut browser = app.client();
        let begun = browser.submit("/signin", "/signin/passkey/begin", &[]).await;
        assert_eq!(begun.status, StatusCode::OK, "{}", begun.body);
        let begun: serde_json::Value = serde_json::from_str(&begun.body).unwrap();
        let ceremony = begun["ceremony"].as_str().unwrap().to_string();
        assert_eq!(begun["options"]["publicKey"]["rpId"], "localhost");
        assert_eq!(begun["options"]["publicKey"]["userVerification"], "required");

        // Without the CSRF token: refused before anything happens.
        let cross_site = browser.post("/signin/passkey/finish", &[("ceremony", &ceremony), ("credential", "{}")]).await;
        assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
        // A made-up credential: refused, and the ceremony is spent.
        let token = input_value(&browser.get("/signin").await.body, "csrf_token").unwrap();
        let forged = serde_json::json!({
            "id": "AAAA", "rawId": "AAAA", "type": "public-key", "extensions": {},
            "response": { "authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": null }
        })
        .to_string();
        let answer = browser.post("/signin/passkey/finish", &[("csrf_token", &token), ("ceremony", &ceremony), ("credential", &forged)]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
        let again = browser.post("/signin/passkey/finish", &[("csrf_token", &token), ("ceremony", &ceremony), ("credential", &forged)]).await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST);
        assert!(again.body.contains("expir"), "a ceremony is used once: {}", again.body);
        let garbage = browser.post("/signin/passkey/finish", &[("csrf_token", &token), ("ceremony", "x"), ("credential", "not json")]).await;
        assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
        assert!(!browser.cookies.keys().any(|k| k.contains("session")));

        // Registration needs a session; another person's ceremony is not yours.
        let anonymous = browser.submit("/signin", "/account/passkeys/begin", &[]).await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
        let (_, mut alice) = signed_in_person(&app, 551).await;
        let (_, mut bob) = signed_in_person(&app, 552).await;
        let alice_begun = alice.submit("/account", "/account/passkeys/begin", &[]).await;
        let alice_ceremony: serde_json::Value = serde_json::from_str(&alice_begun.body).unwrap();
        assert_eq!(alice_ceremony["options"]["publicKey"]["authenticatorSelection"]["residentKey"], "required");
        let stolen = bob
            .submit("/account", "/account/passkeys/finish", &[("ceremony", alice_ceremony["ceremony"].as_str().unwrap()), ("credential", "{}"), ("name", "x")])
            .await;
        assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
        assert_eq!(app.count("SELECT COUNT(*) FROM passkeys").await, 0);
        app.finish().await;
    }
}

both_backends! {
    async fn the_last_factor_of_a_verified_account_goes_with_the_password(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (person, mut browser) = signed_in_person(&app, 561).await;
        let (_, mut desk) = officer(&app, 562).await;
        enrol_totp(&mut browser).await;
        officer_act(&mut desk, "/oficina/verificar", &person.curp, "IDMEX9990001").await;
        let wrong = browser.submit("/account", "/account/totp/remove", &[("password", "no es la contraseña")]).await;
        assert_eq!(wrong.location(), Some("/account?error=fresh_auth_needed#security"));
        let page = browser.get("/account?error=fresh_auth_needed").await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        let removed = browser.submit("/account", "/account/totp/remove", &[("password", &person.password)]).await;
        assert_eq!(removed.location(), Some("/account?notice=totp_removed"));
        assert_eq!(app.count("SELECT COUNT(*) FROM totp_factors").await, 1, "the officer's own");
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'totp_removed'").await, 1);
        // Without a factor, the password alone signs in again.
        let mut again = app.client();
        assert_eq!(again.sign_in(&person.curp, &person.password).await.location(), Some("/account"));
        app.finish().await;
    }
}

both_backends! {
    async fn a_passkey_made_in_the_second_of_the_verification_proves_level_three_only_if_made_after_it(backend: Backend) {
        use llave::store::AccountId;
        use llave::store::assurance::{NewVerification, PasskeyRecord};
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(1801);
        sign_up_and_confirm(&app, &person).await;
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
        let at = llave::crypto::now();
        let passkey = |id: &str| PasskeyRecord {
            id: id.into(),
            account_id: account.id,
            credential_id: format!("cred-{id}"),
            name: id.into(),
            passkey: "{}".into(),
            // Every one in the same second as the verification: the times cannot tell.
            created_at: at,
            last_used_at: None,
            verified_at_enrolment: None,
        };
        // Enrolled first, verified next, both within one second.
        let mut tx = app.state.store.begin_act("test").await.unwrap();
        tx.insert_passkey(&passkey("before")).await.unwrap();
        tx.commit().await.unwrap();
        let verification = NewVerification {
            account: account.id, purpose: "verify", method: "in_person", verifier: "oficina", officer: None::<AccountId>,
            document_kind: "ine", document_number: "ABC123", reference: "",
        };
        app.state.store.record_verification(&verification, at).await.unwrap();
        let account = app.state.store.account_by_id(account.id).await.unwrap().unwrap();
        assert_eq!(account.identity_verified_at, Some(at));
        let usable = llave::assurance::passkeys::usable(&app.state, account.id, account.identity_verified_at, None).await.unwrap();
        assert!(usable.is_empty(), "a passkey enrolled before the verification proved level 3: {usable:?}");
        // Enrolled right after it, still in the same second: it counts.
        let mut tx = app.state.store.begin_act("test").await.unwrap();
        tx.insert_passkey(&passkey("after")).await.unwrap();
        tx.commit().await.unwrap();
        let usable = llave::assurance::passkeys::usable(&app.state, account.id, account.identity_verified_at, None).await.unwrap();
        assert_eq!(usable.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["after"]);
        app.finish().await;
    }
}

both_backends! {
    async fn a_link_looks_nobody_up_at_the_desk(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (_, mut desk) = officer(&app, 1011).await;
        let person = Person::synthetic(1012);
        sign_up_and_confirm(&app, &person).await;
        let lookups = "SELECT COUNT(*) FROM security_events WHERE kind = 'officer_lookup'";

        // A link planted by another site: the search form, no person, nothing recorded.
        let linked = desk.get(&format!("/oficina/persona?curp={}", person.curp)).await;
        assert_eq!(linked.status, StatusCode::OK);
        assert!(!linked.body.contains(&person.email), "no result on a GET");
        assert!(linked.body.contains("method=\"post\" action=\"/oficina/persona\""));
        // A cross-site POST carries no CSRF token.
        let forged = desk.post("/oficina/persona", &[("curp", person.curp.as_str())]).await;
        assert_ne!(forged.status, StatusCode::OK);
        assert_eq!(app.count(lookups).await, 0);

        // The officer's own search: the person, and the look-up recorded.
        let found = desk.submit("/oficina", "/oficina/persona", &[("curp", &person.curp)]).await;
        assert_eq!(found.status, StatusCode::OK);
        assert!(found.body.contains(&person.email));
        assert_eq!(app.count(lookups).await, 1);
        app.finish().await;
    }
}
