//! The whole FAPI 2.0 flow of a third party's client: PAR with private_key_jwt, PKCE and
//! `dpop_jkt`; the person's consent; `iss` in the answer; the token with a DPoP proof and
//! the server's nonce; userinfo with the DPoP scheme; introspection; a refresh with DPoP.

use axum::http::StatusCode;
use serde_json::json;

use super::support::*;
use crate::both_backends;
use crate::support::*;

both_backends! {
    async fn happy_flow(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let dpop = Key::es256("dpop");
        let mut request = request(&bank, "openid profile offline_access");
        request.params.push(("dpop_jkt".into(), dpop.thumbprint()));
        let params = code_for(&app, &bank, 1701, &request).await;
        // RFC 9207: the issuer in the answer.
        assert_eq!(params["iss"], app.state.config.issuer());
        assert_eq!(params["state"], request.state);
        let code = params["code"].clone();

        // Without the nonce the token endpoint asks for it (RFC 9449 §8) …
        let first = Proof::new(&app, &dpop, "POST", "/token").jwt();
        let asked = token_with(&app, &bank, &code_grant(&code, &request), Some(first)).await;
        assert_eq!(asked.status, StatusCode::BAD_REQUEST, "{}", asked.body);
        assert_eq!(error_of(&asked), "use_dpop_nonce");
        let nonce = asked.headers.get("dpop-nonce").expect("a DPoP-Nonce header").to_str().unwrap().to_string();
        // … and with it, issues tokens bound to the proof's key.
        let mut retry = Proof::new(&app, &dpop, "POST", "/token");
        retry.nonce = Some(nonce);
        let issued = token_with(&app, &bank, &code_grant(&code, &request), Some(retry.jwt())).await;
        assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
        assert!(issued.headers.contains_key("dpop-nonce"), "the next nonce comes with the answer");
        let tokens = json(&issued);
        assert_eq!(tokens["token_type"], "DPoP");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        let claims = crate::oidc::support::jwt_payload(&access);
        assert_eq!(claims["cnf"]["jkt"], dpop.thumbprint());
        assert_eq!(crate::oidc::support::jwt_header(&access)["alg"], "ES256");
        let id_token = tokens["id_token"].as_str().unwrap();
        assert_eq!(crate::oidc::support::jwt_header(id_token)["alg"], "ES256");
        assert_eq!(crate::oidc::support::jwt_payload(id_token)["aud"], bank.client_id.as_str());

        // Userinfo with the DPoP scheme and a proof carrying the token's hash.
        let mut browser = app.client();
        browser.extra_headers = vec![
            ("Authorization".into(), format!("DPoP {access}")),
            ("DPoP".into(), Proof::new(&app, &dpop, "GET", "/userinfo").for_token(&access).jwt()),
        ];
        let info = browser.get("/userinfo").await;
        assert_eq!(info.status, StatusCode::OK, "{}", info.body);
        assert_eq!(json(&info)["sub"], claims["sub"]);
        assert!(json(&info)["given_name"].is_string());

        // Introspection tells the type and the key.
        let mut body = fields(&[("token", &access)]);
        body.extend(Bank::credentials(&bank.assertion(&app)));
        let seen = json(&post(&mut app.client(), "/introspect", &body, &[]).await);
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["token_type"], "DPoP");
        assert_eq!(seen["cnf"], json!({ "jkt": dpop.thumbprint() }));

        // A refresh, with a proof by the same key, gives tokens bound to it again.
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let refreshed = token(&app, &bank, &[("grant_type", "refresh_token"), ("refresh_token", refresh)], &dpop).await;
        assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
        assert_eq!(json(&refreshed)["token_type"], "DPoP");
        let again = json(&refreshed)["access_token"].as_str().unwrap().to_string();
        assert_eq!(crate::oidc::support::jwt_payload(&again)["cnf"]["jkt"], dpop.thumbprint());
        app.finish().await;
    }
}

both_backends! {
    async fn a_dpop_proof_at_par_binds_the_code_and_ps256_assertions_work(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank_with(&app, Key::rsa("rsa-1"), false).await;
        let dpop = Key::es256("dpop");
        let request = request(&bank, "openid");
        // RFC 9449 §10.1: the proof's key at PAR binds the code, without dpop_jkt.
        let pushed = push(&app, &bank, &request.params, Some(Proof::new(&app, &dpop, "POST", "/par").jwt())).await;
        assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
        let request_uri = json(&pushed)["request_uri"].as_str().unwrap().to_string();
        let (_, mut browser) = crate::oidc::support::signed_in_person(&app, 1702).await;
        let params = crate::oidc::support::authorize(&mut browser, &front(&bank, &request_uri)).await;
        let other = Key::es256("other");
        let refused = token(&app, &bank, &code_grant(&params["code"], &request), &other).await;
        assert_eq!((refused.status, error_of(&refused)), (StatusCode::BAD_REQUEST, "invalid_dpop_proof".to_string()));

        // dpop_jkt and a proof by another key at PAR disagree: refused.
        let mut mismatched = crate::fapi::support::request(&bank, "openid");
        mismatched.params.push(("dpop_jkt".into(), other.thumbprint()));
        let response = push(&app, &bank, &mismatched.params, Some(Proof::new(&app, &dpop, "POST", "/par").jwt())).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.body);
        assert_eq!(error_of(&response), "invalid_dpop_proof");
        app.finish().await;
    }
}

both_backends! {
    async fn signed_request_objects_are_accepted_at_par_and_required_where_registered(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank_with(&app, Key::es256("k1"), true).await;
        let request = request(&bank, "openid");
        // ensure-unsigned-request-at-par-endpoint-fails
        let unsigned = push(&app, &bank, &request.params, None).await;
        assert_eq!((unsigned.status, error_of(&unsigned)), (StatusCode::BAD_REQUEST, "invalid_request".to_string()));

        let object = |typ: &str, key: &Key, changes: serde_json::Value| {
            let now = now(&app);
            let mut claims = json!({ "iss": bank.client_id, "aud": bank.issuer, "exp": now + 300, "nbf": now,
                "iat": now, "jti": llave::crypto::random_id() });
            for (k, v) in &request.params {
                claims[k] = json!(v);
            }
            for (k, v) in changes.as_object().unwrap() {
                claims[k] = v.clone();
            }
            key.sign(json!({ "alg": "ES256", "typ": typ, "kid": "k1" }), &claims)
        };
        let send = async |jwt: String| {
            let params = fields(&[("client_id", &bank.client_id), ("request", &jwt)]);
            push(&app, &bank, &params, None).await
        };
        let accepted = send(object("oauth-authz-req+jwt", &bank.key, json!({}))).await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
        let request_uri = json(&accepted)["request_uri"].as_str().unwrap().to_string();
        let (_, mut browser) = crate::oidc::support::signed_in_person(&app, 1703).await;
        let params = crate::oidc::support::authorize(&mut browser, &front(&bank, &request_uri)).await;
        assert_eq!(params["state"], request.state, "the request object's parameters are the request");

        for (jwt, why) in [
            (object("JWT", &bank.key, json!({})), "typ"),
            (object("oauth-authz-req+jwt", &Key::es256("k1"), json!({})), "another key"),
            (object("oauth-authz-req+jwt", &bank.key, json!({ "aud": "https://elsewhere.example" })), "aud"),
            (object("oauth-authz-req+jwt", &bank.key, json!({ "exp": now(&app) - 1 })), "expired"),
            (object("oauth-authz-req+jwt", &bank.key, json!({ "nbf": now(&app) + 120 })), "nbf ahead"),
        ] {
            let refused = send(jwt).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{why}: {}", refused.body);
            assert_eq!(error_of(&refused), "invalid_request_object", "{why}");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn discovery_advertises_dpop_request_objects_and_iss(backend: Backend) {
        let app = TestApp::new(backend).await;
        let response = app.client().get("/.well-known/openid-configuration").await;
        let metadata = json(&response);
        assert_eq!(metadata["dpop_signing_alg_values_supported"], json!(["PS256", "ES256", "EdDSA"]));
        assert_eq!(metadata["request_object_signing_alg_values_supported"], json!(["PS256", "ES256", "EdDSA"]));
        assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
        // Required per client (every third party's), not of every client.
        assert_eq!(metadata["require_pushed_authorization_requests"], false);
        assert_eq!(metadata["response_types_supported"], json!(["code"]));
        assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
        // Sharing with third parties: their details type, Grant Management, the data API.
        let issuer = app.state.config.issuer();
        assert_eq!(metadata["authorization_details_types_supported"], json!(["record_reuse", "data_sharing"]));
        assert_eq!(metadata["grant_management_endpoint"], format!("{issuer}/grants"));
        assert_eq!(metadata["grant_management_actions_supported"], json!(["create", "merge", "replace"]));
        assert_eq!(metadata["shared_data_endpoint"], format!("{issuer}/api/shared-data"));
        app.finish().await;
    }
}
