//! The rest of the protocol surface, each seen from the entity's side: client credentials,
//! introspection and revocation, private_key_jwt, pushed authorization requests, ES256
//! and EdDSA ID tokens, form_post, RP-initiated and back-channel logout, and consent
//! withdrawn from the account page.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::CoreJwsSigningAlgorithm;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse, Scope, TokenResponse};

use super::support::*;
use crate::both_backends;
use crate::support::*;

fn new_client(redirect: &str) -> llave::oidc::clients::NewClient {
    llave::oidc::clients::NewClient {
        name: "Portal".into(),
        redirect_uris: vec![redirect.into()],
        ..Default::default()
    }
}

both_backends! {
    async fn back_ends_get_service_tokens_that_introspect_and_revoke(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let otra = entity(&app, &base, "otra", false).await;

        let tokens = agua.rp.exchange_client_credentials().unwrap()
            .add_scope(Scope::new("records:read".into()))
            .request_async(&http()).await.expect("client_credentials");
        let access = tokens.access_token().secret().clone();
        assert!(tokens.refresh_token().is_none(), "no refresh token for a back end");
        assert_eq!(jwt_header(&access)["typ"], "at+jwt");
        let claims = jwt_payload(&access);
        assert_eq!(claims["client_id"], agua.client_id.as_str());
        assert_eq!(claims["sub"], agua.client_id.as_str(), "RFC 9068: sub is the client itself");
        assert_eq!(claims["scope"], "records:read");

        let creds = Some((agua.client_id.as_str(), agua.client_secret.as_str()));
        let (status, seen) = post_form(&base, "/introspect", &[("token", &access)], creds).await;
        assert_eq!(status, 200);
        assert_eq!(seen["active"], true, "{seen}");
        assert_eq!(seen["scope"], "records:read");
        assert_eq!(seen["client_id"], agua.client_id.as_str());
        // Another client learns nothing about it.
        let (_, other) = post_form(&base, "/introspect", &[("token", &access)], Some((&otra.client_id, &otra.client_secret))).await;
        assert_eq!(other, serde_json::json!({ "active": false }));
        // Nor does anybody without credentials.
        let (status, anonymous) = post_form(&base, "/introspect", &[("token", &access)], None).await;
        assert_eq!(status, 401);
        assert_eq!(anonymous["error"], "invalid_client");

        // Another client cannot revoke it (200 regardless, RFC 7009 §2.2) …
        let (status, _) = post_form(&base, "/revoke", &[("token", &access)], Some((&otra.client_id, &otra.client_secret))).await;
        assert_eq!(status, 200);
        assert_eq!(post_form(&base, "/introspect", &[("token", &access)], creds).await.1["active"], true);
        // … its own client can.
        let (status, _) = post_form(&base, "/revoke", &[("token", &access), ("token_type_hint", "access_token")], creds).await;
        assert_eq!(status, 200);
        assert_eq!(post_form(&base, "/introspect", &[("token", &access)], creds).await.1["active"], false);
        let (status, _) = post_form(&base, "/revoke", &[("token", "not-a-token")], creds).await;
        assert_eq!(status, 200, "an unknown token is not an error");

        // Person scopes, unknown scopes and wrong secrets are refused as RFC 6749 says.
        let (status, body) = post_form(&base, "/token", &[("grant_type", "client_credentials"), ("scope", "openid email")], creds).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
        let (status, body) = post_form(&base, "/token", &[("grant_type", "client_credentials")], Some((&agua.client_id, "wrong"))).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
        app.finish().await;
    }
}

both_backends! {
    async fn a_public_client_cannot_use_client_credentials(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let (public, _) = register(&app, &base, "movil", llave::oidc::clients::NewClient { public: true, ..new_client(REDIRECT) }).await;
        assert!(public.client_secret.is_none());
        let (status, body) = post_form(&base, "/token", &[("grant_type", "client_credentials"), ("client_id", &public.client_id)], None).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "unauthorized_client");
        let (status, body) = post_form(&base, "/introspect", &[("token", "x"), ("client_id", &public.client_id)], None).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "public clients cannot introspect");
        app.finish().await;
    }
}

both_backends! {
    async fn person_tokens_introspect_and_revoking_the_refresh_token_ends_the_grant(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 501).await;
        let started = start(&agua, &["email", "offline_access"]);
        let params = authorize(&mut browser, &started.path).await;
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
            .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        let access = tokens.access_token().secret().clone();
        let refresh = tokens.refresh_token().unwrap().secret().clone();
        let sub = tokens.id_token().unwrap().claims(&agua.rp.id_token_verifier(), &started.nonce).unwrap().subject().to_string();
        let creds = Some((agua.client_id.as_str(), agua.client_secret.as_str()));

        let (_, seen) = post_form(&base, "/introspect", &[("token", &access)], creds).await;
        assert_eq!(seen["active"], true);
        assert_eq!(seen["sub"], sub.as_str());
        assert_eq!(seen["acr"], "urn:llave:loa:1");
        let (_, seen) = post_form(&base, "/introspect", &[("token", &refresh), ("token_type_hint", "refresh_token")], creds).await;
        assert_eq!(seen["active"], true);
        assert_eq!(seen["sub"], sub.as_str());

        let (status, _) = post_form(&base, "/revoke", &[("token", &refresh), ("token_type_hint", "refresh_token")], creds).await;
        assert_eq!(status, 200);
        let (_, seen) = post_form(&base, "/introspect", &[("token", &refresh)], creds).await;
        assert_eq!(seen["active"], false);
        let (_, seen) = post_form(&base, "/introspect", &[("token", &access)], creds).await;
        assert_eq!(seen["active"], false, "revoking the refresh token ends its access tokens too");
        let (_, body) = post_form(&base, "/token", &[("grant_type", "refresh_token"), ("refresh_token", &refresh)], creds).await;
        assert_eq!(body["error"], "invalid_grant");
        let userinfo = http().get(format!("{base}/userinfo")).bearer_auth(&access).send().await.unwrap();
        assert_eq!(userinfo.status().as_u16(), 401);
        assert!(userinfo.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
        app.finish().await;
    }
}

/// An ES256 key pair for a private_key_jwt client: the private key in PEM and its JWKS.
fn client_key(kid: &str) -> (jsonwebtoken::EncodingKey, String) {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let point = secret.public_key().to_encoded_point(false);
    let jwks = serde_json::json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    }]});
    (jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(), jwks.to_string())
}

fn assertion(key: &jsonwebtoken::EncodingKey, kid: &str, client_id: &str, aud: &str, jti: &str) -> String {
    let now = llave::crypto::now();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(kid.into());
    let claims =
        serde_json::json!({ "iss": client_id, "sub": client_id, "aud": aud, "jti": jti, "iat": now, "exp": now + 60 });
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

both_backends! {
    async fn private_key_jwt_authenticates_once_per_assertion(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let (key, jwks) = client_key("k1");
        let (registered, _) = register(&app, &base, "finanzas", llave::oidc::clients::NewClient {
            auth_method: Some("private_key_jwt".into()), jwks: Some(jwks), ..new_client(REDIRECT)
        }).await;
        assert!(registered.client_secret.is_none(), "no secret for a private_key_jwt client");
        let id = registered.client_id.as_str();
        let token_url = format!("{base}/token");
        let grant = async |assertion: String| {
            post_form(&base, "/token", &[
                ("grant_type", "client_credentials"), ("scope", "lookups"),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", &assertion),
            ], None).await
        };

        let first = assertion(&key, "k1", id, &token_url, "jti-1");
        let (status, body) = grant(first.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(jwt_payload(body["access_token"].as_str().unwrap())["client_id"], id);
        // The same assertion again: its jti is spent.
        let (status, body) = grant(first).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{body}");
        // The issuer is an accepted audience too.
        let (status, body) = grant(assertion(&key, "k1", id, &base, "jti-2")).await;
        assert_eq!(status, 200, "{body}");
        // A key the client did not register, another audience, a tampered signature: refused.
        let (stranger, _) = client_key("k1");
        let (status, _) = grant(assertion(&stranger, "k1", id, &token_url, "jti-3")).await;
        assert_eq!(status, 401);
        let (status, _) = grant(assertion(&key, "k1", id, "https://elsewhere.example/token", "jti-4")).await;
        assert_eq!(status, 401);
        let mut tampered = assertion(&key, "k1", id, &token_url, "jti-5");
        tampered.push('A');
        let (status, _) = grant(tampered).await;
        assert_eq!(status, 401);
        // And a secret is no way in for it.
        let (status, _) = post_form(&base, "/token", &[("grant_type", "client_credentials")], Some((id, "anything"))).await;
        assert_eq!(status, 401);
        app.finish().await;
    }
}

both_backends! {
    async fn pushed_requests_work_once_and_can_be_required(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity_with(&app, &base, "movilidad", llave::oidc::clients::NewClient {
            require_par: true, ..new_client(REDIRECT)
        }).await;
        let creds = Some((agua.client_id.as_str(), agua.client_secret.as_str()));
        let (_, mut browser) = signed_in_person(&app, 502).await;

        // Without PAR this client is refused, back at its own redirect URI.
        let started = start(&agua, &["email"]);
        let response = browser.get(&started.path).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        let back = callback_params(response.location().unwrap());
        assert_eq!(back["error"], "invalid_request", "{back:?}");

        // Pushed: the same parameters, authenticated, in the back channel.
        let query: Vec<(String, String)> = url::Url::parse(&format!("http://x{}", started.path)).unwrap().query_pairs().into_owned().collect();
        let fields: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let response = http().post(format!("{base}/par")).form(&fields).basic_auth(&agua.client_id, Some(&agua.client_secret)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let pushed: serde_json::Value = response.json().await.unwrap();
        let request_uri = pushed["request_uri"].as_str().unwrap().to_string();
        assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
        assert!(pushed["expires_in"].as_i64().unwrap() > 0);

        let front = format!("/authorize?client_id={}&request_uri={}", agua.client_id, urlencode(&request_uri));
        let params = authorize(&mut browser, &front).await;
        assert_eq!(params["state"], started.state.secret().as_str());
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
            .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        tokens.id_token().unwrap().claims(&agua.rp.id_token_verifier(), &started.nonce).expect("valid ID token");

        // A request_uri works once, only for its client.
        let again = browser.get(&front).await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
        assert!(again.location().is_none());
        let (_, other) = register(&app, &base, "otra", new_client(REDIRECT)).await;
        let foreign = format!("/authorize?client_id={}&request_uri={}", other.client_id().as_str(), urlencode(&request_uri));
        assert_eq!(browser.get(&foreign).await.status, StatusCode::BAD_REQUEST);
        // Pushing without credentials, or pushing a request_uri, is refused.
        let (status, body) = post_form(&base, "/par", &fields, None).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        let (status, body) = post_form(&base, "/par", &[("response_type", "code"), ("request_uri", &request_uri)], creds).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
        // A pushed request is checked when pushed.
        let bad: Vec<(&str, &str)> = fields.iter().map(|&(k, v)| if k == "redirect_uri" { (k, "http://127.0.0.1:9/other") } else { (k, v) }).collect();
        let (status, _) = post_form(&base, "/par", &bad, creds).await;
        assert_eq!(status, 400);
        app.finish().await;
    }
}

both_backends! {
    async fn id_tokens_can_be_signed_es256_or_eddsa_per_client(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let (_, mut browser) = signed_in_person(&app, 503).await;
        for (alg, expected) in [("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256), ("EdDSA", CoreJwsSigningAlgorithm::EdDsa)] {
            let client = entity_with(&app, &base, &alg.to_lowercase(), llave::oidc::clients::NewClient {
                id_token_alg: Some(alg.into()), ..new_client(REDIRECT)
            }).await;
            let started = start(&client, &[]);
            let params = authorize(&mut browser, &started.path).await;
            let tokens = client.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
                .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
            let id_token = tokens.id_token().unwrap();
            assert_eq!(jwt_header(&id_token.to_string())["alg"], alg);
            let verifier = client.rp.id_token_verifier().set_allowed_algs(vec![expected]);
            id_token.claims(&verifier, &started.nonce).unwrap_or_else(|e| panic!("{alg} ID token: {e}"));
            // The key that signed it is the one published for that algorithm.
            let kid = jwt_header(&id_token.to_string())["kid"].as_str().unwrap().to_string();
            let jwks: serde_json::Value = http().get(format!("{base}/jwks")).send().await.unwrap().json().await.unwrap();
            let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("published");
            assert_eq!(key["alg"], alg);
        }
        app.finish().await;
    }
}

both_backends! {
    async fn tokens_are_es256_by_default_and_per_client_otherwise(backend: Backend) {
        // Issue 19: a new client gets ES256 access and ID tokens (FAPI 2.0 excludes RS256);
        // `--access-token-alg` / `--id-token-alg` keep RS256 (or EdDSA) for older libraries.
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let (_, mut browser) = signed_in_person(&app, 507).await;
        let jwks: serde_json::Value = http().get(format!("{base}/jwks")).send().await.unwrap().json().await.unwrap();
        let published = |token: &str| {
            let header = jwt_header(token);
            let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).cloned();
            (header["alg"].as_str().unwrap().to_string(), key.expect("signed by a published key")["alg"].clone())
        };
        let cases = [
            (None, None, "ES256", "ES256"),
            (Some("RS256"), Some("RS256"), "RS256", "RS256"),
            (Some("EdDSA"), Some("RS256"), "EdDSA", "RS256"),
        ];
        for (n, (access_alg, id_alg, access_expected, id_expected)) in cases.into_iter().enumerate() {
            let client = entity_with(&app, &base, &format!("ent{n}"), llave::oidc::clients::NewClient {
                access_token_alg: access_alg.map(str::to_string),
                id_token_alg: id_alg.map(str::to_string),
                ..new_client(REDIRECT)
            }).await;
            let view = crate::support::llave(&app, &["client", "show", &client.client_id, "--json"], None);
            let view = json_of(&view);
            assert_eq!(view["access_token_signed_response_alg"], access_expected);
            assert_eq!(view["id_token_signed_response_alg"], id_expected);

            let started = start(&client, &[]);
            let params = authorize(&mut browser, &started.path).await;
            let tokens = client.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
                .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
            // The library verifies the ID token with the algorithms discovery announces.
            let id_token = tokens.id_token().unwrap();
            id_token.claims(&client.rp.id_token_verifier(), &started.nonce).unwrap_or_else(|e| panic!("{id_expected}: {e}"));
            let (alg, key_alg) = published(&id_token.to_string());
            assert_eq!((alg.as_str(), key_alg.as_str()), (id_expected, Some(id_expected)));
            let access = tokens.access_token().secret().clone();
            let (alg, key_alg) = published(&access);
            assert_eq!((alg.as_str(), key_alg.as_str()), (access_expected, Some(access_expected)));
            // And llave accepts its own token whatever the algorithm.
            let creds = Some((client.client_id.as_str(), client.client_secret.as_str()));
            assert_eq!(post_form(&base, "/introspect", &[("token", &access)], creds).await.1["active"], true);
            let userinfo = http().get(format!("{base}/userinfo")).bearer_auth(&access).send().await.unwrap();
            assert_eq!(userinfo.status(), 200);
        }
        // An unknown algorithm is refused at registration.
        let out = crate::support::llave(&app, &["client", "add", "--entity", "ent0", "--name", "X",
            "--redirect-uri", REDIRECT, "--access-token-alg", "HS256"], None);
        assert!(!out.status.success());
        app.finish().await;
    }
}

both_backends! {
    async fn form_post_answers_with_a_self_submitting_form(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 504).await;
        // Consent first, so the answer comes straight back.
        let first = start(&agua, &["email"]);
        authorize(&mut browser, &first.path).await;

        let started = start(&agua, &["email"]);
        let response = browser.get(&format!("{}&response_mode=form_post", started.path)).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert!(response.body.contains(&format!("action=\"{REDIRECT}\"")), "{}", response.body);
        assert!(response.body.contains("method=\"post\""));
        assert_eq!(input_value(&response.body, "state").as_deref(), Some(started.state.secret().as_str()));
        let code = input_value(&response.body, "code").expect("the code in the form");
        assert_eq!(input_value(&response.body, "iss").as_deref(), Some(base.as_str()));
        // The page may post only to the client and run only its own script.
        let csp = response.headers.get("content-security-policy").unwrap().to_str().unwrap().to_string();
        assert!(csp.contains("form-action http://127.0.0.1:9"), "{csp}");
        assert!(csp.contains("'nonce-"), "{csp}");
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(code)).unwrap()
            .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        assert!(tokens.id_token().is_some());
        app.finish().await;
    }
}

/// A stand-in for an entity's back-channel logout endpoint: every form it receives.
async fn logout_listener() -> (String, tokio::sync::mpsc::UnboundedReceiver<HashMap<String, String>>) {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let route = axum::routing::post(move |axum::extract::Form(form): axum::extract::Form<HashMap<String, String>>| {
        let sender = sender.clone();
        async move {
            let _ = sender.send(form);
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/backchannel", route)).await });
    (format!("http://{address}/backchannel"), receiver)
}

/// Verifies a logout token as an entity must (Back-Channel Logout 1.0 §2.6).
async fn verify_logout_token(base: &str, client_id: &str, token: &str) -> serde_json::Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet =
        http().get(format!("{base}/jwks")).send().await.unwrap().json().await.unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the logout token's key is published");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[base]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("a valid logout token");
    let claims = data.claims;
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
    assert!(claims["jti"].is_string());
    claims
}

both_backends! {
    async fn signing_out_at_an_entity_ends_the_session_and_tells_every_entity(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let (listener, mut received) = logout_listener().await;
        let agua = entity_with(&app, &base, "agua", llave::oidc::clients::NewClient {
            post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
            backchannel_logout_uri: Some(listener.clone()),
            ..new_client(REDIRECT)
        }).await;
        let registro = entity_with(&app, &base, "registro", llave::oidc::clients::NewClient {
            backchannel_logout_uri: Some(listener),
            ..new_client(REDIRECT)
        }).await;
        let (_, mut browser) = signed_in_person(&app, 505).await;

        let mut sign_in_to = async |rp: &Entity| {
            let started = start(rp, &["offline_access"]);
            let params = authorize(&mut browser, &started.path).await;
            let tokens = rp.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
                .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
            let id_token = tokens.id_token().unwrap().to_string();
            (id_token, tokens.refresh_token().unwrap().secret().clone())
        };
        let (agua_id_token, agua_refresh) = sign_in_to(&agua).await;
        let (registro_id_token, _) = sign_in_to(&registro).await;

        // Signing out at agua with its ID token as the hint: no question asked, back to agua.
        let path = format!("/logout?id_token_hint={agua_id_token}&post_logout_redirect_uri={}&state=adios", urlencode("http://127.0.0.1:9/bye"));
        let response = browser.get(&path).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        assert_eq!(response.location(), Some("http://127.0.0.1:9/bye?state=adios"));
        assert_eq!(browser.get("/account").await.status, StatusCode::SEE_OTHER, "signed out of llave");

        // Both entities are told, each with a token for its own audience and subject.
        let mut told = HashMap::new();
        for _ in 0..2 {
            let form = tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("a logout token").unwrap();
            let token = form["logout_token"].clone();
            let aud = jwt_payload(&token)["aud"].as_str().unwrap().to_string();
            told.insert(aud, token);
        }
        for (client_id, id_token) in [(&agua.client_id, &agua_id_token), (&registro.client_id, &registro_id_token)] {
            let claims = verify_logout_token(&base, client_id, &told[client_id.as_str()]).await;
            assert_eq!(claims["sub"], jwt_payload(id_token)["sub"]);
            assert_eq!(claims["sid"], jwt_payload(id_token)["sid"]);
        }
        // Recorded as delivered, and the session's refresh tokens are dead.
        for _ in 0..50 {
            if app.count("SELECT COUNT(*) FROM logout_deliveries WHERE delivered_at IS NOT NULL").await == 2 { break }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(app.count("SELECT COUNT(*) FROM logout_deliveries WHERE delivered_at IS NOT NULL").await, 2);
        let (_, body) = post_form(&base, "/token", &[("grant_type", "refresh_token"), ("refresh_token", &agua_refresh)], Some((&agua.client_id, &agua.client_secret))).await;
        assert_eq!(body["error"], "invalid_grant");
        app.finish().await;
    }
}

both_backends! {
    async fn logout_without_a_matching_hint_asks_first_and_never_redirects_anywhere(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let (registered, rp) = register(&app, &base, "agua", llave::oidc::clients::NewClient {
            post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
            ..new_client(REDIRECT)
        }).await;
        let (_, mut browser) = signed_in_person(&app, 506).await;

        // An unregistered post-logout address is an error page, not a redirect.
        let path = format!("/logout?client_id={}&post_logout_redirect_uri={}", registered.client_id, urlencode("https://evil.example/"));
        let response = browser.get(&path).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert!(response.location().is_none());
        // A forged hint likewise.
        let response = browser.get("/logout?id_token_hint=eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.").await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);

        // Without a hint, the person confirms on a page (CSRF-protected) before anything ends.
        let path = format!("/logout?client_id={}&post_logout_redirect_uri={}&state=s1", rp.client_id().as_str(), urlencode("http://127.0.0.1:9/bye"));
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(browser.get("/account").await.status, StatusCode::OK, "still signed in");
        let request = input_value(&page.body, "request").unwrap();
        let forged = browser.post("/logout/confirm", &[("csrf_token", "forged"), ("request", &request)]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let token = input_value(&page.body, "csrf_token").unwrap();
        let done = browser.post("/logout/confirm", &[("csrf_token", &token), ("request", &request)]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER);
        assert_eq!(done.location(), Some("http://127.0.0.1:9/bye?state=s1"));
        assert_eq!(browser.get("/account").await.status, StatusCode::SEE_OTHER);
        app.finish().await;
    }
}

both_backends! {
    async fn the_account_page_lists_entities_and_withdrawing_consent_ends_their_access(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 507).await;
        let started = start(&agua, &["email", "offline_access"]);
        let params = authorize(&mut browser, &started.path).await;
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
            .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        let refresh = tokens.refresh_token().unwrap().clone();

        let page = browser.get("/account").await;
        assert!(page.body.contains("Entidad agua"), "{}", page.body);
        assert!(page.body.contains("Portal de agua"));
        assert!(page.body.contains("tu correo electrónico"), "what it receives, in words");
        assert!(page.body.contains("Retirar permiso"));

        // A forged form changes nothing.
        let forged = browser.post("/account/consents/withdraw", &[("csrf_token", "x"), ("client_id", &agua.client_id)]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(agua.rp.exchange_refresh_token(&refresh).unwrap().request_async(&http()).await.is_ok());
        let page = browser.get("/account").await;
        let rotated = {
            // The refresh above rotated the token; take the family's newest from a fresh exchange.
            let started = start(&agua, &["email", "offline_access"]);
            let params = authorize(&mut browser, &started.path).await;
            agua.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
                .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap()
        };

        let token = input_value(&page.body, "csrf_token").unwrap();
        let done = browser.post("/account/consents/withdraw", &[("csrf_token", &token), ("client_id", &agua.client_id)]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER);
        let page = browser.get(done.location().unwrap()).await;
        assert!(page.body.contains("Retiraste el permiso"), "{}", page.body);
        assert!(!page.body.contains("Retirar permiso"));
        let refused = agua.rp.exchange_refresh_token(rotated.refresh_token().unwrap()).unwrap().request_async(&http()).await;
        assert!(format!("{refused:?}").contains("invalid_grant"), "{refused:?}");
        let userinfo = http().get(format!("{base}/userinfo")).bearer_auth(rotated.access_token().secret()).send().await.unwrap();
        assert_eq!(userinfo.status().as_u16(), 401);
        // The next sign-in at agua asks again.
        let again = browser.get(&start(&agua, &["email"]).path).await;
        assert_eq!(again.status, StatusCode::OK);
        assert!(again.body.contains("name=\"decision\""));
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'consent_withdrawn'").await, 1);
        app.finish().await;
    }
}
