//! RFC 9700 §4 and RFC 6749: what must be refused, and how.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, PkceCodeVerifier, TokenResponse};

use super::support::*;
use crate::both_backends;
use crate::support::*;

async fn token_request(base: &str, fields: &[(&str, &str)], basic: Option<(&str, &str)>) -> (u16, serde_json::Value) {
    post_form(base, "/token", fields, basic).await
}

async fn code_for(app: &TestApp, browser: &mut Client, rp: &Entity) -> (String, Started) {
    let started = start(rp, &["email", "offline_access"]);
    let params = authorize(browser, &started.path).await;
    let _ = app;
    (params["code"].clone(), started)
}

both_backends! {
    async fn a_code_works_once_and_a_replay_revokes_what_it_issued(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 401).await;
        let (code, started) = code_for(&app, &mut browser, &agua).await;
        let verifier = started.verifier.secret().clone();
        let fields = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", REDIRECT), ("code_verifier", verifier.as_str())];
        let (status, first) = token_request(&base, &fields, Some((&agua.client_id, &agua.client_secret))).await;
        assert_eq!(status, 200, "{first}");
        let (status, second) = token_request(&base, &fields, Some((&agua.client_id, &agua.client_secret))).await;
        assert_eq!(status, 400);
        assert_eq!(second["error"], "invalid_grant");
        // The tokens the first exchange issued no longer work.
        let access = first["access_token"].as_str().unwrap();
        let userinfo = http().get(format!("{base}/userinfo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(userinfo.status().as_u16(), 401);
        let refresh = first["refresh_token"].as_str().unwrap();
        let (_, refreshed) = token_request(&base, &[("grant_type", "refresh_token"), ("refresh_token", refresh)], Some((&agua.client_id, &agua.client_secret))).await;
        assert_eq!(refreshed["error"], "invalid_grant");
        app.finish().await;
    }
}

both_backends! {
    async fn pkce_redirect_uri_and_client_are_checked_at_the_token_endpoint(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let otra = entity(&app, &base, "otra", false).await;
        let (_, mut browser) = signed_in_person(&app, 402).await;
        let creds = Some((agua.client_id.as_str(), agua.client_secret.as_str()));

        let (code, _) = code_for(&app, &mut browser, &agua).await;
        let wrong_verifier = PkceCodeVerifier::new("a".repeat(43));
        let (_, body) = token_request(&base, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", wrong_verifier.secret())], creds).await;
        assert_eq!(body["error"], "invalid_grant");

        let (code, started) = code_for(&app, &mut browser, &agua).await;
        let (_, body) = token_request(&base, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)], creds).await;
        assert_eq!(body["error"], "invalid_grant", "no verifier");
        let _ = started;

        let (code, started) = code_for(&app, &mut browser, &agua).await;
        let (_, body) = token_request(&base, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", "http://127.0.0.1:9/other"), ("code_verifier", started.verifier.secret())], creds).await;
        assert_eq!(body["error"], "invalid_grant", "redirect_uri altered");

        // A code issued to one client is worthless to another.
        let (code, started) = code_for(&app, &mut browser, &agua).await;
        let (_, body) = token_request(&base, &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT), ("code_verifier", started.verifier.secret())], Some((&otra.client_id, &otra.client_secret))).await;
        assert_eq!(body["error"], "invalid_grant");

        // A wrong secret, an unknown client, a secret sent the wrong way: invalid_client, 401.
        let (status, body) = token_request(&base, &[("grant_type", "authorization_code"), ("code", "x")], Some((&agua.client_id, "wrong"))).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        let (status, _) = token_request(&base, &[("grant_type", "authorization_code"), ("code", "x")], Some(("nobody", "x"))).await;
        assert_eq!(status, 401);
        let (status, _) = token_request(&base, &[("grant_type", "authorization_code"), ("client_id", &agua.client_id), ("client_secret", &agua.client_secret)], None).await;
        assert_eq!(status, 401, "client_secret_basic client may not use client_secret_post");
        let (_, body) = token_request(&base, &[("grant_type", "password")], creds).await;
        assert_eq!(body["error"], "unsupported_grant_type");
        let (_, body) = token_request(&base, &[("grant_type", "authorization_code"), ("grant_type", "refresh_token")], creds).await;
        assert_eq!(body["error"], "invalid_request");
        app.finish().await;
    }
}

both_backends! {
    async fn bad_client_or_redirect_uri_never_redirects(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 403).await;
        let path = start(&agua, &[]).path;
        let evil = path.replace("127.0.0.1%3A9%2Fcallback", "evil.example%2Fcallback");
        assert_ne!(path, evil);
        let response = browser.get(&evil).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert!(response.location().is_none());
        assert!(response.body.contains("no tiene registrada"));
        let unknown = path.replace(&agua.client_id, "unknown-client");
        let response = browser.get(&unknown).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert!(response.body.contains("no está registrado"));
        // A suspended client signs nobody in.
        llave::admin::entity::disable_client(&app.state.store, &agua.client_id).await.unwrap();
        assert_eq!(browser.get(&path).await.status, StatusCode::BAD_REQUEST);
        app.finish().await;
    }
}

both_backends! {
    async fn protocol_errors_go_back_to_the_client_with_state(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let mut stranger = app.client();
        let started = start(&agua, &[]);
        let none = stranger.get(&format!("{}&prompt=none", started.path)).await;
        let params = callback_params(none.location().unwrap());
        assert_eq!(params["error"], "login_required");
        assert_eq!(params["state"], started.state.secret().as_str());
        assert_eq!(params["iss"], base);

        let plain = started.path.replace("code_challenge_method=S256", "code_challenge_method=plain");
        let params = callback_params(stranger.get(&plain).await.location().unwrap());
        assert_eq!(params["error"], "invalid_request");
        let without_pkce: String = started.path.split('&').filter(|p| !p.starts_with("code_challenge")).collect::<Vec<_>>().join("&");
        let params = callback_params(stranger.get(&without_pkce).await.location().unwrap());
        assert_eq!(params["error"], "invalid_request");
        let token_flow = started.path.replace("response_type=code", "response_type=token");
        assert_eq!(callback_params(stranger.get(&token_flow).await.location().unwrap())["error"], "unsupported_response_type");

        // Signed in but not yet agreed, with prompt=none: consent_required.
        let (_, mut browser) = signed_in_person(&app, 404).await;
        let params = callback_params(browser.get(&format!("{}&prompt=none", start(&agua, &[]).path)).await.location().unwrap());
        assert_eq!(params["error"], "consent_required");
        // Asking for a level this account has not reached.
        let params = callback_params(browser.get(&format!("{}&acr_values=urn%3Allave%3Aloa%3A2", start(&agua, &[]).path)).await.location().unwrap());
        assert_eq!(params["error"], "unmet_authentication_requirements");
        app.finish().await;
    }
}

both_backends! {
    async fn tampered_and_unsigned_tokens_are_refused(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 405).await;
        let (code, started) = code_for(&app, &mut browser, &agua).await;
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(code)).unwrap().set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        let access = tokens.access_token().secret().clone();
        let userinfo = |token: String| {
            let base = base.clone();
            async move { http().get(format!("{base}/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16() }
        };
        assert_eq!(userinfo(access.clone()).await, 200);

        let parts: Vec<&str> = access.split('.').collect();
        let mut claims = jwt_payload(&access);
        claims["sub"] = serde_json::json!("someone-else");
        let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
        assert_eq!(userinfo(tampered).await, 401);
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
        assert_eq!(userinfo(format!("{none_header}.{}.", parts[1])).await, 401);
        assert_eq!(userinfo("not-a-jwt".into()).await, 401);
        let response = http().get(format!("{base}/userinfo")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        assert!(response.headers().get("www-authenticate").is_some());
        // The ID token is not an access token.
        let id_token = tokens.id_token().unwrap().to_string();
        assert_eq!(userinfo(id_token).await, 401);
        app.finish().await;
    }
}

both_backends! {
    async fn rotated_keys_stay_published_and_old_tokens_still_verify(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 406).await;
        let (code, started) = code_for(&app, &mut browser, &agua).await;
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(code)).unwrap().set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        let before: serde_json::Value = http().get(format!("{base}/jwks")).send().await.unwrap().json().await.unwrap();
        llave::keys::rotate(&app.state.store).await.unwrap();
        app.state.keys.invalidate();
        let after: serde_json::Value = http().get(format!("{base}/jwks")).send().await.unwrap().json().await.unwrap();
        let kids = |v: &serde_json::Value| v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(kids(&after).len(), kids(&before).len() * 2);
        assert!(kids(&before).iter().all(|k| kids(&after).contains(k)));
        let status = http().get(format!("{base}/userinfo")).bearer_auth(tokens.access_token().secret()).send().await.unwrap().status();
        assert_eq!(status.as_u16(), 200);
        app.finish().await;
    }
}
