//! Authorization request parameters an entity may send (claims, ui_locales, login_hint),
//! UserInfo by POST, and what expires: codes, access tokens, refresh tokens, pushed
//! requests.

use axum::http::StatusCode;
use openidconnect::{AuthorizationCode, OAuth2TokenResponse};

use super::support::*;
use crate::both_backends;
use crate::support::*;

async fn token(base: &str, entity: &Entity, fields: &[(&str, &str)]) -> (u16, serde_json::Value) {
    post_form(base, "/token", fields, Some((&entity.client_id, &entity.client_secret))).await
}

both_backends! {
    async fn essential_claims_are_asked_for_and_delivered(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (person, mut browser) = signed_in_person(&app, 601).await;
        // Only `openid` as scope; the e-mail and the birth date asked for as claims.
        let started = start(&agua, &[]);
        let claims = r#"{"userinfo":{"email":{"essential":true}},"id_token":{"birthdate":null}}"#;
        let path = format!("{}&claims={}", started.path, urlencode(claims));
        let consent = browser.get(&path).await;
        assert_eq!(consent.status, StatusCode::OK);
        assert!(consent.body.contains("tu correo electrónico"), "the consent names the e-mail: {}", consent.body);
        assert!(consent.body.contains("tu nombre y tu fecha de nacimiento"));
        let params = authorize(&mut browser, &path).await;
        let tokens = agua.rp.exchange_code(AuthorizationCode::new(params["code"].clone())).unwrap()
            .set_pkce_verifier(started.verifier).request_async(&http()).await.unwrap();
        let id_token = jwt_payload(&openidconnect::TokenResponse::id_token(&tokens).unwrap().to_string());
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
        let path = format!("{}&ui_locales=en-US%20es&login_hint={}", started.path, urlencode("ana@example.mx"));
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
        let mut claims = jwt_payload(access);
        claims["exp"] = serde_json::json!(llave::crypto::now() - 5);
        let ring = app.state.keys.ring(&app.state.store).await.unwrap();
        let key = ring.signing(jwt_header(access)["alg"].as_str().unwrap()).unwrap();
        let expired = key.sign_jwt("at+jwt", &claims).unwrap();
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
        let response = browser.get(&format!("/authorize?client_id={}&request_uri={}", agua.client_id, urlencode(pushed["request_uri"].as_str().unwrap()))).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert!(response.location().is_none());
        app.finish().await;
    }
}

both_backends! {
    async fn a_refresh_may_narrow_the_scope_for_that_answer_only(backend: Backend) {
        let (app, base) = TestApp::builder(backend).config(|c| c.oidc.access_token_seconds = 120).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 603).await;
        let started = start(&agua, &["email", "profile", "offline_access"]);
        let params = authorize(&mut browser, &started.path).await;
        let verifier = started.verifier.secret().clone();
        let (_, tokens) = token(&base, &agua, &[("grant_type", "authorization_code"), ("code", &params["code"]), ("redirect_uri", REDIRECT), ("code_verifier", &verifier)]).await;
        let (status, narrow) = token(&base, &agua, &[("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap()), ("scope", "openid email")]).await;
        assert_eq!(status, 200, "{narrow}");
        assert_eq!(narrow["scope"], "email openid");
        assert_eq!(jwt_payload(narrow["access_token"].as_str().unwrap())["scope"], "email openid");
        let access = jwt_payload(narrow["access_token"].as_str().unwrap());
        assert_eq!(access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(), 120, "the configured lifetime");
        assert_eq!(narrow["expires_in"], 120);
        let userinfo: serde_json::Value = http().get(format!("{base}/userinfo")).bearer_auth(narrow["access_token"].as_str().unwrap())
            .send().await.unwrap().json().await.unwrap();
        assert!(userinfo.get("email").is_some());
        assert!(userinfo.get("given_name").is_none(), "profile was left out of this token: {userinfo}");
        // The rotated refresh token still carries the whole grant.
        let (_, full) = token(&base, &agua, &[("grant_type", "refresh_token"), ("refresh_token", narrow["refresh_token"].as_str().unwrap())]).await;
        assert_eq!(full["scope"], "email offline_access openid profile");
        let (status, body) = token(&base, &agua, &[("grant_type", "refresh_token"), ("refresh_token", full["refresh_token"].as_str().unwrap()), ("scope", "openid phone")]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
        app.finish().await;
    }
}

both_backends! {
    async fn cross_site_posts_are_repeated_as_gets_to_find_the_session(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let mut no_cookie = app.client();
        let started = start(&agua, &["email"]);
        let query = started.path.strip_prefix("/authorize?").unwrap().to_string();
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let response = no_cookie.post("/authorize", &fields).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        let location = response.location().unwrap().to_string();
        assert!(location.starts_with("/authorize?"), "{location}");
        let again: Vec<(String, String)> = url::form_urlencoded::parse(location.strip_prefix("/authorize?").unwrap().as_bytes()).into_owned().collect();
        assert_eq!(again.len(), fields.len());
        let response = no_cookie.post("/logout", &[("client_id", agua.client_id.as_str()), ("state", "s")]).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert!(response.location().unwrap().starts_with("/logout?"));
        app.finish().await;
    }
}

both_backends! {
    async fn odd_requests_and_disabled_clients_are_refused(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let otra = entity(&app, &base, "otra", false).await;
        let (_, mut browser) = signed_in_person(&app, 604).await;
        // An acr llave does not know is never "reached".
        let response = browser.get(&format!("{}&acr_values=foo", start(&agua, &[]).path)).await;
        assert_eq!(callback_params(response.location().unwrap())["error"], "unmet_authentication_requirements");
        // Discovery and keys are public and cacheable; pages are not.
        let discovery = http().get(format!("{base}/.well-known/openid-configuration")).send().await.unwrap();
        assert!(discovery.headers()["cache-control"].to_str().unwrap().starts_with("public"));
        let jwks = http().get(format!("{base}/jwks")).send().await.unwrap();
        assert!(jwks.headers()["cache-control"].to_str().unwrap().starts_with("public"));
        assert_eq!(browser.get("/account").await.headers["cache-control"], "no-store");

        let started = start(&agua, &[]);
        let params = authorize(&mut browser, &started.path).await;
        let verifier = started.verifier.secret().clone();
        let (_, tokens) = token(&base, &agua, &[("grant_type", "authorization_code"), ("code", &params["code"]), ("redirect_uri", REDIRECT), ("code_verifier", &verifier)]).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        // A logout whose client_id is not the hint's audience.
        let response = browser.get(&format!("/logout?id_token_hint={id_token}&client_id={}", otra.client_id)).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert_eq!(browser.get("/account").await.status, StatusCode::OK, "still signed in");
        // A disabled client's tokens stop working at once.
        let access = tokens["access_token"].as_str().unwrap();
        assert_eq!(http().get(format!("{base}/userinfo")).bearer_auth(access).send().await.unwrap().status().as_u16(), 200);
        llave::admin::entity::disable_client(&app.state.store, &agua.client_id).await.unwrap();
        assert_eq!(http().get(format!("{base}/userinfo")).bearer_auth(access).send().await.unwrap().status().as_u16(), 401);
        app.finish().await;
    }
}

both_backends! {
    async fn purging_forgets_expired_records_but_not_what_a_person_is_shown(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 605).await;
        let started = start(&agua, &["email", "offline_access"]);
        let params = authorize(&mut browser, &started.path).await;
        let verifier = started.verifier.secret().clone();
        let (status, _) = token(&base, &agua, &[("grant_type", "authorization_code"), ("code", &params["code"]), ("redirect_uri", REDIRECT), ("code_verifier", &verifier)]).await;
        assert_eq!(status, 200);
        let now = llave::crypto::now();
        // Nothing is due yet.
        let purged = app.state.store.purge_expired(now, 900).await.unwrap();
        assert!(purged.iter().all(|(_, n)| *n == 0), "{purged:?}");
        // Forty days on, every code and token record has gone.
        let purged = app.state.store.purge_expired(now + 40 * 86400, 900).await.unwrap();
        let count = |table: &str| purged.iter().find(|(t, _)| *t == table).unwrap().1;
        assert_eq!(count("authorization_codes"), 1);
        assert_eq!(count("access_tokens"), 1);
        assert_eq!(count("refresh_tokens"), 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM access_tokens").await, 0);
        // Grants, consents, sessions and events stay: the account page still shows the site.
        assert_eq!(app.count("SELECT COUNT(*) FROM grants").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM consents").await, 1);
        assert!(browser.get("/account").await.body.contains("Entidad agua"));
        app.finish().await;
    }
}

both_backends! {
    async fn one_refresh_token_raced_twice_wins_once_and_ends_the_family(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 606).await;
        let started = start(&agua, &["offline_access"]);
        let params = authorize(&mut browser, &started.path).await;
        let verifier = started.verifier.secret().clone();
        let (_, tokens) = token(&base, &agua, &[("grant_type", "authorization_code"), ("code", &params["code"]), ("redirect_uri", REDIRECT), ("code_verifier", &verifier)]).await;
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let (base, id, secret, refresh) = (base.clone(), agua.client_id.clone(), agua.client_secret.clone(), refresh.to_string());
                tokio::spawn(async move {
                    let response = http().post(format!("{base}/token")).basic_auth(id, Some(secret))
                        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())]).send().await.unwrap();
                    (response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap_or_default())
                })
            })
            .collect();
        let mut answers = Vec::new();
        for racer in racers {
            answers.push(racer.await.unwrap());
        }
        let winners: Vec<&serde_json::Value> = answers.iter().filter(|(status, _)| *status == 200).map(|(_, body)| body).collect();
        assert_eq!(winners.len(), 1, "{answers:?}");
        assert!(answers.iter().filter(|(status, _)| *status != 200).all(|(_, body)| body["error"] == "invalid_grant"));
        // The race is a reuse: the winner's new refresh token is dead too.
        let (_, body) = token(&base, &agua, &[("grant_type", "refresh_token"), ("refresh_token", winners[0]["refresh_token"].as_str().unwrap())]).await;
        assert_eq!(body["error"], "invalid_grant");
        app.finish().await;
    }
}

both_backends! {
    async fn the_strictest_acr_requirement_wins(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let agua = entity(&app, &base, "agua", false).await;
        let (_, mut browser) = signed_in_person(&app, 611).await;
        authorize(&mut browser, &start(&agua, &[]).path).await;
        let essential3 = urlencode(r#"{"id_token":{"acr":{"essential":true,"values":["urn:llave:loa:3"]}}}"#);
        // acr_values=loa:1 does not lower an essential loa:3 asked in `claims`.
        let path = format!("{}&claims={essential3}&acr_values=urn%3Allave%3Aloa%3A1", start(&agua, &[]).path);
        let response = browser.get(&path).await;
        assert_eq!(callback_params(response.location().unwrap())["error"], "unmet_authentication_requirements");
        let request = path.split_once('?').unwrap().1;
        let token = input_value(&browser.get("/account").await.body, "csrf_token").unwrap();
        let answer = browser.post("/authorize/consent", &[("csrf_token", &token), ("request", request), ("decision", "allow")]).await;
        assert_eq!(callback_params(answer.location().unwrap())["error"], "unmet_authentication_requirements");
        // Nor the other way round.
        let path = format!("{}&claims={essential3}", start(&agua, &[]).path).replace("loa%3A3", "loa%3A1");
        let path = format!("{path}&acr_values=urn%3Allave%3Aloa%3A3");
        let response = browser.get(&path).await;
        assert_eq!(callback_params(response.location().unwrap())["error"], "unmet_authentication_requirements");
        // One requirement is met by any of the values it accepts.
        let either = urlencode(r#"{"id_token":{"acr":{"essential":true,"values":["urn:llave:loa:3","urn:llave:loa:1"]}}}"#);
        let params = authorize(&mut browser, &format!("{}&claims={either}&acr_values=urn%3Allave%3Aloa%3A1", start(&agua, &[]).path)).await;
        assert!(params.contains_key("code"), "{params:?}");
        app.finish().await;
    }
}
