//! Negative tests named after the OpenID FAPI 2.0 Security Profile (final) conformance
//! plan's modules (`fapi2-security-profile-final-<name>`), each for a third party's client.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use super::support::*;
use crate::both_backends;
use crate::oidc::support::{REDIRECT, authorize, signed_in_person};
use crate::support::*;

fn refused_with(response: &Response, status: StatusCode, error: &str) {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(error_of(response), error, "{}", response.body);
}

both_backends! {
    async fn ensure_unsigned_authorization_request_without_using_par_fails(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let request = request(&bank, "openid");
        let (_, mut browser) = signed_in_person(&app, 1801).await;
        let query = serde_urlencoded::to_string(&request.params).unwrap();
        let response = browser.get(&format!("/authorize?{query}")).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        let back = callback(response.location().unwrap());
        assert_eq!(back["error"], "invalid_request", "{back:?}");
        // iss-in-authorization-response: errors carry the issuer too (RFC 9207).
        assert_eq!(back["iss"], app.state.config.issuer());
        assert!(!back.contains_key("code"));
        app.finish().await;
    }
}

both_backends! {
    async fn par_attempt_reuse_request_uri(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let request = request(&bank, "openid");
        let request_uri = pushed(&app, &bank, &request.params).await;
        let (_, mut browser) = signed_in_person(&app, 1802).await;
        let params = authorize(&mut browser, &front(&bank, &request_uri)).await;
        assert!(params.contains_key("code"));
        let again = browser.get(&front(&bank, &request_uri)).await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
        assert!(again.location().is_none());
        app.finish().await;
    }
}

both_backends! {
    async fn par_attempt_to_use_expired_request_uri(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let request = request(&bank, "openid");
        let response = push(&app, &bank, &request.params, None).await;
        let lifetime = json(&response)["expires_in"].as_i64().unwrap();
        assert!(lifetime > 0 && lifetime < 600, "FAPI 2.0: under 600 seconds");
        let request_uri = json(&response)["request_uri"].as_str().unwrap().to_string();
        let (_, mut browser) = signed_in_person(&app, 1803).await;
        app.clock().advance(Duration::from_secs(lifetime as u64 + 1));
        let expired = browser.get(&front(&bank, &request_uri)).await;
        assert_eq!(expired.status, StatusCode::BAD_REQUEST, "{}", expired.body);
        assert!(expired.location().is_none());
        app.finish().await;
    }
}

both_backends! {
    async fn par_ensure_pkce_required_and_plain_pkce_rejected(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let request = request(&bank, "openid");
        let without: Vec<(String, String)> =
            request.params.iter().filter(|(k, _)| !k.starts_with("code_challenge")).cloned().collect();
        refused_with(&push(&app, &bank, &without, None).await, StatusCode::BAD_REQUEST, "invalid_request");
        let plain: Vec<(String, String)> = request
            .params
            .iter()
            .map(|(k, v)| if k == "code_challenge_method" { (k.clone(), "plain".into()) } else { (k.clone(), v.clone()) })
            .collect();
        refused_with(&push(&app, &bank, &plain, None).await, StatusCode::BAD_REQUEST, "invalid_request");
        // ensure-response-type-token-fails: no implicit or hybrid flows.
        for response_type in ["token", "code id_token"] {
            let other: Vec<(String, String)> = request
                .params
                .iter()
                .map(|(k, v)| if k == "response_type" { (k.clone(), response_type.into()) } else { (k.clone(), v.clone()) })
                .collect();
            refused_with(&push(&app, &bank, &other, None).await, StatusCode::BAD_REQUEST, "unsupported_response_type");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn ensure_holder_of_key_required(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let dpop = Key::es256("dpop");
        let request = request(&bank, "openid");
        let params = code_for(&app, &bank, 1804, &request).await;
        // No DPoP proof: a third party's client gets no bearer token.
        let response = token_with(&app, &bank, &code_grant(&params["code"], &request), None).await;
        refused_with(&response, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
        // The code was not spent by the refusal: with a proof it works.
        let issued = token(&app, &bank, &code_grant(&params["code"], &request), &dpop).await;
        assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
        app.finish().await;
    }
}

both_backends! {
    async fn dpop_negative_tests(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let dpop = Key::es256("dpop");
        let request = request(&bank, "openid");
        let params = code_for(&app, &bank, 1805, &request).await;
        let grant = code_grant(&params["code"], &request);
        let proof = || Proof::new(&app, &dpop, "POST", "/token").with_nonce(&app);

        let mut wrong_htm = proof();
        wrong_htm.method = "GET";
        let mut wrong_htu = proof();
        wrong_htu.url = format!("{}/userinfo", app.state.config.issuer());
        let mut old = proof();
        old.iat -= 120;
        let mut ahead = proof();
        ahead.iat += 60;
        for (what, bad) in [("htm", wrong_htm), ("htu", wrong_htu), ("iat two minutes ago", old), ("iat a minute ahead", ahead)] {
            let response = token_with(&app, &bank, &grant, Some(bad.jwt())).await;
            assert_eq!(error_of(&response), "invalid_dpop_proof", "{what}: {}", response.body);
        }
        // A proof 10 seconds ahead, and one with a query in htu, are fine; replayed, refused.
        let mut skewed = proof();
        skewed.iat += 10;
        skewed.url = format!("{}/token?x=1", app.state.config.issuer());
        let good = skewed.jwt();
        let issued = token_with(&app, &bank, &grant, Some(good.clone())).await;
        assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
        let refresh_free = token_with(&app, &bank, &[("grant_type", "client_credentials")], Some(good)).await;
        refused_with(&refresh_free, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
        app.finish().await;
    }
}

both_backends! {
    async fn ensure_token_endpoint_fails_with_mismatched_dpop_proof_jkt(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let bound = Key::es256("bound");
        let other = Key::es256("other");
        let mut request = request(&bank, "openid offline_access");
        request.params.push(("dpop_jkt".into(), bound.thumbprint()));
        let params = code_for(&app, &bank, 1806, &request).await;
        let response = token(&app, &bank, &code_grant(&params["code"], &request), &other).await;
        refused_with(&response, StatusCode::BAD_REQUEST, "invalid_dpop_proof");

        // A refresh token bound to one key cannot be used with a proof by another.
        let request = crate::fapi::support::request(&bank, "openid offline_access");
        let params = code_for(&app, &bank, 1807, &request).await;
        let issued = json(&token(&app, &bank, &code_grant(&params["code"], &request), &bound).await);
        let refresh = issued["refresh_token"].as_str().unwrap();
        let stolen = token(&app, &bank, &[("grant_type", "refresh_token"), ("refresh_token", refresh)], &other).await;
        refused_with(&stolen, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
        app.finish().await;
    }
}

both_backends! {
    async fn ensure_dpop_bound_access_token_used_as_bearer_fails(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let dpop = Key::es256("dpop");
        let request = request(&bank, "openid");
        let params = code_for(&app, &bank, 1808, &request).await;
        let tokens = json(&token(&app, &bank, &code_grant(&params["code"], &request), &dpop).await);
        let access = tokens["access_token"].as_str().unwrap().to_string();

        let mut client = app.client();
        client.extra_headers = vec![("Authorization".into(), format!("Bearer {access}"))];
        let bearer = client.get("/userinfo").await;
        refused_with(&bearer, StatusCode::UNAUTHORIZED, "invalid_token");
        // The DPoP scheme without a proof, with a proof by another key, without ath, replayed.
        let other = Key::es256("other");
        let good = Proof::new(&app, &dpop, "GET", "/userinfo").for_token(&access).jwt();
        for (what, proof) in [
            ("no proof", None),
            ("another key", Some(Proof::new(&app, &other, "GET", "/userinfo").for_token(&access).jwt())),
            ("no ath", Some(Proof::new(&app, &dpop, "GET", "/userinfo").jwt())),
            ("first use", Some(good.clone())),
            ("replayed", Some(good)),
        ] {
            let mut client = app.client();
            client.extra_headers = vec![("Authorization".into(), format!("DPoP {access}"))];
            if let Some(proof) = proof {
                client.extra_headers.push(("DPoP".into(), proof));
            }
            let response = client.get("/userinfo").await;
            if what == "first use" {
                assert_eq!(response.status, StatusCode::OK, "{}", response.body);
                continue;
            }
            refused_with(&response, StatusCode::UNAUTHORIZED, "invalid_dpop_proof");
            let challenge = response.headers.get("www-authenticate").unwrap().to_str().unwrap();
            assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn ensure_signed_client_assertion_with_rs256_or_none_fails(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut bank = bank_with(&app, Key::rsa("rsa-1"), false).await;
        let request = request(&bank, "openid");
        // PS256 with the registered RSA key is fine …
        assert_eq!(push(&app, &bank, &request.params, None).await.status, StatusCode::CREATED);
        // … RS256 with the same key is not (FAPI 2.0 §5.4.1).
        bank.key.alg = jsonwebtoken::Algorithm::RS256;
        refused_with(&push(&app, &bank, &request.params, None).await, StatusCode::UNAUTHORIZED, "invalid_client");
        // Nor is an unsigned assertion.
        let now = now(&app);
        let claims = json!({ "iss": bank.client_id, "sub": bank.client_id, "aud": bank.issuer, "jti": "none-1",
            "iat": now, "exp": now + 60 });
        use base64::Engine;
        let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let unsigned = format!("{}.{}.", b64(json!({ "alg": "none", "typ": "JWT" })), b64(claims));
        let mut body = request.params.clone();
        body.extend(Bank::credentials(&unsigned));
        refused_with(&post(&mut app.client(), "/par", &body, &[]).await, StatusCode::UNAUTHORIZED, "invalid_client");
        app.finish().await;
    }
}

both_backends! {
    async fn par_token_endpoint_as_audience_fails_and_array_audience_fails(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let request = request(&bank, "openid");
        let token_url = format!("{}/token", bank.issuer);
        let par_url = format!("{}/par", bank.issuer);
        for aud in [json!(token_url), json!(par_url), json!([bank.issuer.clone()]), json!([bank.issuer.clone(), token_url])] {
            let mut body = request.params.clone();
            body.extend(Bank::credentials(&bank.assertion_with(&app, json!({ "aud": aud }))));
            let response = post(&mut app.client(), "/par", &body, &[]).await;
            refused_with(&response, StatusCode::UNAUTHORIZED, "invalid_client");
        }
        // The same assertion twice: its jti is spent.
        let once = bank.assertion(&app);
        let mut body = request.params.clone();
        body.extend(Bank::credentials(&once));
        assert_eq!(post(&mut app.client(), "/par", &body, &[]).await.status, StatusCode::CREATED);
        refused_with(&post(&mut app.client(), "/par", &body, &[]).await, StatusCode::UNAUTHORIZED, "invalid_client");
        app.finish().await;
    }
}

both_backends! {
    async fn par_ensure_jwt_client_assertion_with_iat_nbf_in_the_future(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let request = request(&bank, "openid");
        let now = llave::crypto::now();
        let send = async |changes: serde_json::Value| {
            let mut body = request.params.clone();
            body.extend(Bank::credentials(&bank.assertion_with(&app, changes)));
            post(&mut app.client(), "/par", &body, &[]).await
        };
        // 8 seconds ahead: accepted (…-with-iat-nbf-8-seconds-in-the-future-is-accepted).
        let accepted = send(json!({ "iat": now + 8, "nbf": now + 8, "exp": now + 68 })).await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
        // 60 seconds or more ahead: refused (…-over-60-seconds-in-the-future-fails).
        for claim in ["iat", "nbf"] {
            let refused = send(json!({ claim: now + 70, "exp": now + 130 })).await;
            refused_with(&refused, StatusCode::UNAUTHORIZED, "invalid_client");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn attempt_to_use_expired_auth_code(backend: Backend) {
        let app = TestApp::new(backend).await;
        let bank = bank(&app).await;
        let dpop = Key::es256("dpop");
        let request = request(&bank, "openid");
        let params = code_for(&app, &bank, 1809, &request).await;
        // FAPI 2.0: a code lives at most 60 seconds.
        app.clock().advance(Duration::from_secs(61));
        let response = token(&app, &bank, &code_grant(&params["code"], &request), &dpop).await;
        refused_with(&response, StatusCode::BAD_REQUEST, "invalid_grant");
        app.finish().await;
    }
}

both_backends! {
    async fn government_clients_keep_working_without_fapi(backend: Backend) {
        let app = TestApp::new(backend).await;
        llave::admin::entity::add_entity(&app.state, "agua", "Sistema de Aguas").await.unwrap();
        let new = llave::oidc::clients::NewClient {
            entity: "agua".into(),
            name: "Portal".into(),
            redirect_uris: vec![REDIRECT.into()],
            ..Default::default()
        };
        let registered = llave::admin::entity::add_client(&app.state.store, &new).await.unwrap();
        assert!(!registered.fapi && registered.client_secret.is_some());
        // Plain parameters at /authorize, a bearer token, no DPoP: as before.
        let secret = registered.client_secret.unwrap();
        let (_, mut browser) = signed_in_person(&app, 1810).await;
        let bank_like = Bank { client_id: registered.client_id.clone(), key: Key::es256("unused"), issuer: String::new() };
        let request = crate::fapi::support::request(&bank_like, "openid");
        let query = serde_urlencoded::to_string(&request.params).unwrap();
        let params = authorize(&mut browser, &format!("/authorize?{query}")).await;
        let mut client = app.client();
        let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{}:{secret}", registered.client_id));
        client.extra_headers = vec![("Authorization".into(), format!("Basic {basic}"))];
        let body = serde_urlencoded::to_string(code_grant(&params["code"], &request)).unwrap();
        let response = client.request("POST", "/token", Some(body.into_bytes())).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(json(&response)["token_type"], "Bearer");
        app.finish().await;
    }
}

both_backends! {
    async fn a_dpop_proof_used_at_one_node_is_refused_at_another_and_nonces_work_on_both(backend: Backend) {
        let app = TestApp::new(backend).await;
        // A second node: another llave over the same database.
        let store = llave::store::Store::connect(&app.database_url).await.unwrap();
        let other = llave::assemble(app.state.config.clone(), store).await.unwrap();
        let mut second = Client::new(llave::app::router(other.clone()), "203.0.113.11");
        let bank = bank(&app).await;
        let dpop = Key::es256("dpop");
        // The nonce the first node hands out is good at the second.
        let mut proof = Proof::new(&app, &dpop, "POST", "/token");
        proof.nonce = Some(llave::oidc::dpop::current_nonce(&app.state));
        let proof = proof.jwt();
        let grant = [("grant_type", "client_credentials")];
        let mut body = fields(&grant);
        body.extend(Bank::credentials(&bank.assertion(&app)));
        let first = post(&mut second, "/token", &body, &[("DPoP", proof.clone())]).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(json(&first)["token_type"], "DPoP");
        // The same proof at the first node: its jti is spent in the shared database.
        let replayed = token_with(&app, &bank, &grant, Some(proof)).await;
        refused_with(&replayed, StatusCode::BAD_REQUEST, "invalid_dpop_proof");
        other.store.close().await;
        app.finish().await;
    }
}
