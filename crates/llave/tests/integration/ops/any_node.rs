//! Any node answers any step of any flow (issue 18, item 1): three nodes on one database
//! (PostgreSQL: one schema; SQLite: one file), sharing the cluster's secrets, and each step
//! of a sign-in, a code flow, a signature and a record read sent to the next node in turn.
//!
//! Node A is the `TestApp` (on a real port, its issuer); B and C are started on the same
//! database with `llave::start`, given the same configuration and the same key-encryption
//! key file (and audit log key file) — on PostgreSQL each with its own data directory, on
//! SQLite in the one data directory beside the database file, as processes on one machine
//! would. People sign up before B and C start: the file outbox is per node.

use axum::http::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::oidc::support::{REDIRECT, api_call, callback_params, http, jwt_header, post_form, start};
use crate::records::{ADDRESS, PDF, World, world};
use crate::support::*;

/// The three nodes: A (the world's app), B and C; each one's router and base URL.
struct Nodes {
    others: Vec<llave::AppState>,
    routers: [axum::Router; 3],
    bases: [String; 3],
}

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

impl Nodes {
    /// Starts B and C on A's database, with A's configuration and secrets files, each on a
    /// port of its own.
    async fn start(w: &World) -> Nodes {
        let a = &w.app.state.config;
        let mut others = Vec::new();
        let mut routers = vec![w.app.router.clone()];
        let mut bases = vec![w.base.clone()];
        for name in ["node-b", "node-c"] {
            let mut config = a.clone();
            config.kek_file = Some(a.kek_file());
            config.audit.key_file = Some(a.audit_key_file());
            if w.app.backend == Backend::Postgres {
                config.data_dir = w.app.dir.path().join(name);
            }
            let state = llave::start(config).await.unwrap_or_else(|e| panic!("{name} starts: {e}"));
            let router = llave::app::router(state.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            bases.push(format!("http://{}", listener.local_addr().unwrap()));
            let served = router.clone();
            tokio::spawn(async move {
                let _ =
                    axum::serve(listener, served.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
            });
            routers.push(router);
            others.push(state);
        }
        Nodes {
            others,
            routers: routers.try_into().expect("three routers"),
            bases: bases.try_into().expect("three bases"),
        }
    }

    fn router(&self, node: usize) -> &axum::Router {
        &self.routers[node]
    }

    fn base(&self, node: usize) -> &str {
        &self.bases[node]
    }

    async fn finish(self, w: World) {
        for state in &self.others {
            state.spokes.close(state.store.backend()).await;
            state.store.close().await;
        }
        w.app.state.spokes.close(w.app.state.store.backend()).await;
        w.app.finish().await;
    }
}

both_backends! {
    /// The sign-in page (and its CSRF cookie) from A, the credentials to B, the account
    /// page with the session cookie from C.
    async fn a_sign_in_across_three_nodes(backend: Backend) {
        let w = world(backend).await;
        let person = Person::synthetic(18_001);
        sign_up_and_confirm(&w.app, &person).await;
        let nodes = Nodes::start(&w).await;

        let mut browser = w.app.client();
        let page = browser.at(nodes.router(A)).get("/signin").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = input_value(&page.body, "csrf_token").expect("a CSRF token");
        let signed_in = browser
            .at(nodes.router(B))
            .post("/signin", &[("csrf_token", &csrf), ("identifier", &person.curp), ("password", &person.password), ("next", "/account")])
            .await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
        assert_eq!(signed_in.location(), Some("/account"));
        let account = browser.at(nodes.router(C)).get("/account").await;
        assert_eq!(account.status, StatusCode::OK, "{}", account.body);
        assert!(account.body.contains(&person.given_names), "the person's own page");
        // A stranger without the cookie is sent to sign in, whichever node answers.
        let mut stranger = w.app.client();
        let refused = stranger.at(nodes.router(B)).get("/account").await;
        assert_eq!(refused.status, StatusCode::SEE_OTHER);
        nodes.finish(w).await;
    }
}

both_backends! {
    /// /authorize at A, consent at B, /token at C, /userinfo at A, refresh at B,
    /// introspection at C.
    async fn a_code_flow_across_three_nodes(backend: Backend) {
        let w = world(backend).await;
        let person = Person::synthetic(18_002);
        sign_up_and_confirm(&w.app, &person).await;
        let nodes = Nodes::start(&w).await;
        let mut browser = w.app.client();
        let signed_in = browser.at(nodes.router(C)).sign_in(&person.curp, &person.password).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);

        let started = start(&w.a, &["email", "offline_access"]);
        let page = browser.at(nodes.router(A)).get(&started.path).await;
        assert_eq!(page.status, StatusCode::OK, "the consent page: {}", page.body);
        let request = input_value(&page.body, "request").expect("the request on the consent page");
        let csrf = input_value(&page.body, "csrf_token").unwrap();
        let answer = browser
            .at(nodes.router(B))
            .post("/authorize/consent", &[("csrf_token", &csrf), ("request", &request), ("decision", "allow")])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let params = callback_params(answer.location().unwrap());
        assert_eq!(params["state"], *started.state.secret());

        let creds = Some((w.a.client_id.as_str(), w.a.client_secret.as_str()));
        let (status, tokens) = post_form(nodes.base(C), "/token", &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", started.verifier.secret()),
        ], creds).await;
        assert_eq!(status, 200, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        let refresh = tokens["refresh_token"].as_str().expect("a refresh token").to_string();
        // The ID token is signed with a key every node publishes.
        let kid = jwt_header(tokens["id_token"].as_str().unwrap())["kid"].as_str().unwrap().to_string();
        for node in [A, B, C] {
            let (status, jwks) = api_call(nodes.base(node), "GET", "/jwks", None, None).await;
            assert_eq!(status, 200);
            assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str()), "{jwks}");
        }

        let userinfo = http().get(format!("{}/userinfo", nodes.base(A))).bearer_auth(&access).send().await.unwrap();
        assert_eq!(userinfo.status().as_u16(), 200);
        let claims: serde_json::Value = userinfo.json().await.unwrap();
        assert_eq!(claims["email"], person.email.as_str(), "{claims}");

        let (status, refreshed) = post_form(nodes.base(B), "/token", &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
        ], creds).await;
        assert_eq!(status, 200, "{refreshed}");
        let new_access = refreshed["access_token"].as_str().unwrap().to_string();
        assert_ne!(refreshed["refresh_token"].as_str(), Some(refresh.as_str()), "rotated");

        let (status, seen) = post_form(nodes.base(C), "/introspect", &[("token", &new_access)], creds).await;
        assert_eq!(status, 200, "{seen}");
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["client_id"], w.a.client_id.as_str());
        // The rotated-out refresh token is spent on every node.
        let (status, reused) = post_form(nodes.base(A), "/token", &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
        ], creds).await;
        assert_eq!((status, reused["error"].as_str()), (400, Some("invalid_grant")), "{reused}");
        nodes.finish(w).await;
    }
}

both_backends! {
    /// A verified person's certificate issued and the document signed on the pages, each
    /// step at the next node; the signature downloaded from one node and verified through
    /// `POST /api/signatures/verify` at another.
    async fn a_signature_across_three_nodes(backend: Backend) {
        let w = world(backend).await;
        llave::signature::init(&w.app.state).await.unwrap();
        let person = crate::signature::verified_person(&w.app, 18_003).await.0;
        let nodes = Nodes::start(&w).await;
        let mut browser = w.app.client();
        let signed_in = browser.at(nodes.router(B)).sign_in(&person.curp, &person.password).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
        let (totp, _) = enrol_totp(browser.at(nodes.router(C))).await;

        let document = b"%PDF-1.4 solicitud firmada en tres nodos\n".to_vec();
        let page = browser.at(nodes.router(A)).get("/firma").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = input_value(&page.body, "csrf_token").unwrap();
        let uploaded = browser
            .at(nodes.router(B))
            .post_multipart("/firma/documento", &[("csrf_token", &csrf)], &[("document", "solicitud.pdf", &document)])
            .await;
        let act = uploaded.location().unwrap_or_else(|| panic!("to the confirmation: {}", uploaded.body)).to_string();
        let confirm = browser.at(nodes.router(C)).get(&act).await;
        assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
        let fingerprint = llave::signature::cms::hex(&llave::signature::cms::sha256(&document));
        assert!(confirm.body.contains(&fingerprint), "the fingerprint is shown");
        let token = input_value(&confirm.body, "csrf_token").unwrap();
        let code = totp.generate(unix_now() + 30).to_string();
        let signed = browser
            .at(nodes.router(A))
            .post(&act, &[("csrf_token", &token), ("password", &person.password), ("code", &code)])
            .await;
        let done = signed.location().unwrap_or_else(|| panic!("signed: {} {}", signed.status, signed.body)).to_string();
        let id = done.split("firmado=").nth(1).unwrap().split('#').next().unwrap().to_string();
        let download = browser.at(nodes.router(B)).get(&format!("/firma/firmas/{id}.p7s")).await;
        assert_eq!(download.status, StatusCode::OK);
        let p7s = download.bytes.clone();

        let mut anyone = w.app.client();
        let api = anyone
            .at(nodes.router(C))
            .post_multipart("/api/signatures/verify", &[], &[("document", "doc.pdf", &document), ("signature", "doc.pdf.p7s", &p7s)])
            .await;
        assert_eq!(api.status, StatusCode::OK, "{}", api.body);
        let verdict: serde_json::Value = serde_json::from_str(&api.body).unwrap();
        assert_eq!(verdict["status"], "valid", "{verdict}");
        assert_eq!(verdict["signer"]["serial_number"], person.curp.as_str());
        // The same root and CRL from every node.
        let root = anyone.at(nodes.router(A)).get("/pki/root.pem").await.body;
        assert!(root.starts_with("-----BEGIN CERTIFICATE-----"));
        for node in [B, C] {
            assert_eq!(anyone.at(nodes.router(node)).get("/pki/root.pem").await.body, root);
        }
        // A changed document: told apart at another node too.
        let mut changed = document.clone();
        changed.push(b' ');
        let api = anyone
            .at(nodes.router(A))
            .post_multipart("/api/signatures/verify", &[], &[("document", "doc.pdf", &changed), ("signature", "doc.pdf.p7s", &p7s)])
            .await;
        assert_eq!(serde_json::from_str::<serde_json::Value>(&api.body).unwrap()["status"], "document_changed");
        nodes.finish(w).await;
    }
}

both_backends! {
    /// An entity writes a record at A (its token from C); the person consents to its reuse
    /// at B; another entity looks it up at B (its token from A) and reads it through the
    /// grant at C; the spent grant is refused at A and B.
    async fn a_record_read_across_three_nodes(backend: Backend) {
        use base64::Engine;
        let w = world(backend).await;
        let (person, mut browser) = crate::oidc::support::signed_in_person(&w.app, 18_004).await;
        let nodes = Nodes::start(&w).await;

        let write = crate::oidc::support::service_token(nodes.base(C), &w.b, "records:write").await;
        let (status, stored) = api_call(nodes.base(A), "POST", "/api/records", Some(&write), Some(json!({
            "curp": person.curp, "kind": "proof_of_residence", "procedure": "constancia",
            "attributes": {"address": ADDRESS, "postal_code": "06000"},
            "valid_from": "2026-01-01", "valid_until": "2099-12-31",
            "file": {"name": "constancia.pdf", "content_type": "application/pdf",
                     "content_base64": base64::engine::general_purpose::STANDARD.encode(PDF)},
        }))).await;
        assert_eq!(status, 201, "{stored}");
        let record = stored["record_id"].as_str().unwrap().to_string();
        // The person signs in to the other entity and consents to the reuse (at B).
        let (_, sub) = w.sign_in_to_a(browser.at(nodes.router(B)), "licencia", true).await;

        let lookups = crate::oidc::support::service_token(nodes.base(A), &w.a, "lookups").await;
        let (status, found) = api_call(nodes.base(B), "POST", "/api/lookups", Some(&lookups), Some(json!({
            "sub": sub, "procedure": "licencia", "kind": "proof_of_residence",
        }))).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["found"], true, "{found}");
        assert_eq!(found["locator"]["record_id"], record.as_str());
        let grant = found["grant"].as_str().unwrap().to_string();

        let read = |node: usize| {
            let (base, lookups, record, grant) = (nodes.base(node).to_string(), lookups.clone(), record.clone(), grant.clone());
            async move {
                api_call(&base, "POST", &format!("/api/records/{record}/read"), Some(&lookups),
                    Some(json!({"grant": grant, "procedure": "licencia"}))).await
            }
        };
        let (status, contents) = read(C).await;
        assert_eq!(status, 200, "{contents}");
        assert_eq!(contents["attributes"]["address"], ADDRESS);
        let file = base64::engine::general_purpose::STANDARD
            .decode(contents["file"]["content_base64"].as_str().unwrap()).unwrap();
        assert_eq!(file, PDF);
        // The grant is spent on every node.
        for node in [A, B] {
            let (status, body) = read(node).await;
            assert_eq!(status, 403, "{body}");
            assert!(body["error_description"].as_str().unwrap().contains("already used"), "{body}");
        }
        let account = w.account_id(&person.curp).await;
        let log = w.app.state.store.accesses_about(account).await.unwrap();
        assert_eq!(log.iter().filter(|a| a.outcome == "read").count(), 1, "{log:?}");
        nodes.finish(w).await;
    }
}
