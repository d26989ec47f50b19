//! Authorization request parameters an entity may send (claims, ui_locales, login_hint),
//! UserInfo by POST, and what expires: codes, access tokens, refresh tokens, pushed
//! requests.

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse};

use super::support::*;
use crate::both_backends;
use crate::support::*;

fn payload(jwt: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

async fn token(base: &str, entity: &Entity, fields: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let response = http()
        .post(format!("{base}/token"))
        .basic_auth(&entity.client_id, Some(&entity.client_secret))
        .form(fields)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

both_backends! {
    async fn essential_claims_are_asked_for_and_delivered(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (person, mut browser) = signed_in_person(&app, 601).await;
        // Only `openid` as scope; the e-mail and the birth date asked for as claims.
        let started = start(&agua, &[]);
        let claims = r#"{"userinfo":{"email":{"essential":true}},"id_token":{"birthdate":null}}"#;
        let path = format!("{}&claims={}", started.path, encode(claims));
        let consent = browser.get(&path).await;
        assert_eq!(consent.status, StatusCode::OK);
        assert!(consent.body.contains("tu correo electrónico"), "the consent names the e-mail: {}", consent.body);
        assert!(consent.body.contains("tu nombre y tu fecha de nacimiento"));
        let params = authorize(&mut browser, &path).await;
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
            .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        let id_token = payload(&openidconnect::TokenResponse::id_token(&tokens).unwrap().to_string());
        assert_eq!(id_token["birthdate"], person.birth_date.as_str());
        // UserInfo by POST (OIDC Core §5.3.1), the token in the header.
        let userinfo: serde_json::Value = http().post(format!("{base}/userinfo"))
            .bearer_auth(tokens.access_token().secret()).send().await.unwrap().json().await.unwrap();
        assert_eq!(userinfo["email"], person.email.as_str());
        assert_eq!(userinfo["sub"], id_token["sub"]);
        // A malformed claims parameter goes back to the client as invalid_request.
        let bad = browser.get(&format!("{}&claims=%5B1%5D", start(&agua, &[]).path)).await;
        assert_eq!(callback_params(bad.location().unwrap())["error"], "invalid_request");
        app.finish().await;
    }
}

both_backends! {
    async fn ui_locales_and_login_hint_shape_the_sign_in_page(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let mut browser = app.client();
        let started = start(&agua, &["email"]);
        let path = format!("{}&ui_locales=en-US%20es&login_hint={}", started.path, encode("ana@example.mx"));
        let response = browser.get(&path).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        let signin = browser.get(response.location().unwrap()).await;
        assert!(signin.body.contains("Sign in"), "the sign-in page in English: {}", signin.body);
        assert!(signin.body.contains(r#"name="identifier" type="text" value="ana@example.mx""#), "{}", signin.body);
        // A language the person chose with the switch wins over ui_locales.
        let mut chooser = app.client();
        chooser.get("/lang/es?next=/").await;
        let response = chooser.get(&path).await;
        let signin = chooser.get(response.location().unwrap()).await;
        assert!(signin.body.contains("Iniciar sesión"), "{}", signin.body);
        app.finish().await;
    }
}

both_backends! {
    async fn expired_codes_tokens_and_pushed_requests_are_refused(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 602).await;

        // A code past its lifetime.
        let started = start(&agua, &["offline_access"]);
        let params = authorize(&mut browser, &started.path).await;
        sqlx::query("UPDATE authorization_codes SET expires_at = 0").execute(app.state.store.pool()).await.unwrap();
        let verifier = started.verifier.secret().clone();
        let (status, body) = token(&base, &agua, &[("grant_type", "authorization_code"), ("code", &params["code"]), ("redirect_uri", REDIRECT), ("code_verifier", &verifier)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

        // Tokens from a fresh code; then their time runs out.
        let started = start(&agua, &["offline_access"]);
        let params = authorize(&mut browser, &started.path).await;
        let verifier = started.verifier.secret().clone();
        let (status, tokens) = token(&base, &agua, &[("grant_type", "authorization_code"), ("code", &params["code"]), ("redirect_uri", REDIRECT), ("code_verifier", &verifier)]).await;
        assert_eq!(status, 200, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();

        // An access token whose `exp` has passed, correctly signed by llave's own key.
        let mut claims = payload(access);
        claims["exp"] = serde_json::json!(llave::crypto::now() - 5);
        let ring = app.state.keys.ring(&app.state.store).await.unwrap();
        let key = ring.signing("RS256").unwrap();
        let mut header = jsonwebtoken::Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some("at+jwt".into());
        let expired = jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap();
        let userinfo = http().get(format!("{base}/userinfo")).bearer_auth(&expired).send().await.unwrap();
        assert_eq!(userinfo.status().as_u16(), 401);
        let (_, seen) = {
            let response = http().post(format!("{base}/introspect")).basic_auth(&agua.client_id, Some(&agua.client_secret))
                .form(&[("token", expired.as_str())]).send().await.unwrap();
            (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
        };
        assert_eq!(seen["active"], false);
        // The real token, once the server's record of it has expired.
        sqlx::query("UPDATE access_tokens SET expires_at = 0").execute(app.state.store.pool()).await.unwrap();
        let userinfo = http().get(format!("{base}/userinfo")).bearer_auth(access).send().await.unwrap();
        assert_eq!(userinfo.status().as_u16(), 401);
        // A refresh token past its lifetime.
        sqlx::query("UPDATE refresh_tokens SET expires_at = 0").execute(app.state.store.pool()).await.unwrap();
        let (status, body) = token(&base, &agua, &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

        // A pushed request past its lifetime: an error page, never a redirect.
        let started = start(&agua, &[]);
        let query: Vec<(String, String)> = url::Url::parse(&format!("http://x{}", started.path)).unwrap().query_pairs().into_owned().collect();
        let pushed: serde_json::Value = http().post(format!("{base}/par")).basic_auth(&agua.client_id, Some(&agua.client_secret))
            .form(&query).send().await.unwrap().json().await.unwrap();
        sqlx::query("UPDATE pushed_requests SET expires_at = 0").execute(app.state.store.pool()).await.unwrap();
        let response = browser.get(&format!("/authorize?client_id={}&request_uri={}", agua.client_id, encode(pushed["request_uri"].as_str().unwrap()))).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert!(response.location().is_none());
        app.finish().await;
    }
}
