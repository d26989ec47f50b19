//! The FAPI 2.0 flow driven by a certified relying-party library: npm `openid-client` v6
//! (`docs/examples/node/third-party.mjs`) against a real llave, with PAR, private_key_jwt,
//! PKCE, DPoP (nonce retry included), and JAR for a client registered `--require-jar`; then
//! a bank asking for data with `data_sharing` details, whose consent artefact and shared
//! data the script verifies with npm `jose` against the JWKS. The person's browser in
//! between is the in-process client.
//!
//! Needs `npm ci --prefix docs/examples/node` (`.ci/run` does it); without it the test
//! fails saying so rather than skipping.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::support::*;
use crate::both_backends;
use crate::oidc::support::{REDIRECT, authorize, local, signed_in_person};
use crate::support::*;

const STEP_TIMEOUT: Duration = Duration::from_secs(60);

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/node")
}

/// Runs the script for `bank` (a JAR client or not) with a person (`seed`) agreeing in the
/// browser; what it printed as its result.
async fn run_node(app: &TestApp, base: &str, bank: &Bank, seed: u64, jar: bool, share: &str) -> serde_json::Value {
    let dir = node_dir();
    assert!(
        dir.join("node_modules/openid-client/package.json").is_file(),
        "openid-client is not installed in {}: run `npm ci --prefix docs/examples/node` (.ci/run does it)",
        dir.display()
    );
    let mut node = tokio::process::Command::new("node")
        .arg(dir.join("third-party.mjs"))
        .current_dir(&dir)
        .env("LLAVE_ISSUER", base)
        .env("CLIENT_ID", &bank.client_id)
        .env("CLIENT_KEY", bank.key.private_jwk.to_string())
        .env("REDIRECT_URI", REDIRECT)
        .env("USE_JAR", if jar { "1" } else { "0" })
        .env("SHARE", share)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("could not run `node` (Node.js 20 must be on PATH): {e}"));
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut next = async |prefix: &str| -> String {
        let line = tokio::time::timeout(STEP_TIMEOUT, lines.next_line()).await;
        match line {
            Ok(Ok(Some(line))) if line.starts_with(prefix) => line[prefix.len()..].to_string(),
            other => panic!("expected `{prefix}…` from the node script, got {other:?} (its stderr is above)"),
        }
    };
    let authorization_url = next("authorize ").await;
    let (_, mut browser) = signed_in_person(app, seed).await;
    let params = if share.is_empty() {
        authorize(&mut browser, &local(&authorization_url)).await
    } else {
        tick_everything(&mut browser, &local(&authorization_url)).await
    };
    assert_eq!(params["iss"], base, "RFC 9207: the issuer in the answer");
    let callback = format!("{REDIRECT}?{}", serde_urlencoded::to_string(&params).unwrap());
    let mut stdin = node.stdin.take().unwrap();
    stdin.write_all(format!("{callback}\n").as_bytes()).await.unwrap();
    drop(stdin);
    let result = next("result ").await;
    let status = tokio::time::timeout(STEP_TIMEOUT, node.wait()).await.expect("node ends").unwrap();
    assert!(status.success(), "the node script failed: {status}");
    serde_json::from_str(&result).unwrap()
}

/// The share page: every item the person can tick, ticked, and "Permitir".
async fn tick_everything(browser: &mut Client, path: &str) -> std::collections::HashMap<String, String> {
    let page = browser.get(path).await;
    assert_eq!(page.status, axum::http::StatusCode::OK, "{}", page.body);
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let request = input_value(&page.body, "request").unwrap();
    let items: Vec<String> = page
        .body
        .split("name=\"item\" value=\"")
        .skip(1)
        .filter(|rest| !rest.split('>').next().unwrap_or("").contains("disabled"))
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect();
    assert!(!items.is_empty(), "items to tick: {}", page.body);
    let mut form = vec![("csrf_token", csrf.as_str()), ("request", request.as_str()), ("decision", "allow")];
    form.extend(items.iter().map(|item| ("item", item.as_str())));
    let answer = browser.post("/authorize/consent", &form).await;
    assert_eq!(answer.status, axum::http::StatusCode::SEE_OTHER, "{}", answer.body);
    crate::oidc::support::callback_params(answer.location().unwrap())
}

both_backends! {
    async fn openid_client_asks_for_data_and_jose_verifies_the_artefact_and_the_data(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let bank = bank_with(&app, Key::es256("banco-1903"), false).await;
        let result = run_node(&app, &base, &bank, 1903, false, "name,curp,birthdate").await;
        let artefact = &result["artefact"];
        assert_eq!(artefact["aud"], bank.client_id.as_str(), "{result}");
        assert_eq!(artefact["items"], serde_json::json!(["name", "curp", "birthdate"]));
        assert_eq!(artefact["grant_id"], result["grant_id"]);
        assert_eq!(artefact["sub"], result["sub"], "the artefact names the person as the ID token does");
        let shared = &result["shared"];
        assert_eq!(shared["consent_artefact_id"], artefact["jti"]);
        assert_eq!(shared["claims"]["curp"].as_str().map(str::len), Some(18));
        assert!(shared["claims"]["birthdate"].is_string());
        app.finish().await;
    }
}

both_backends! {
    async fn openid_client_drives_the_whole_fapi_flow(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        for (seed, jar) in [(1901, false), (1902, true)] {
            let bank = bank_with(&app, Key::es256(&format!("banco-{seed}")), jar).await;
            let result = run_node(&app, &base, &bank, seed, jar, "").await;
            assert_eq!(result["token_type"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("dpop"), "{result}");
            assert_eq!(result["refreshed_token_type"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("dpop"));
            assert_eq!(result["sub"], result["userinfo_sub"]);
            assert!(result["given_name"].is_string());
            let access = result["access_token"].as_str().unwrap();
            let claims = crate::oidc::support::jwt_payload(access);
            assert_eq!(claims["client_id"], bank.client_id.as_str());
            assert!(claims["cnf"]["jkt"].is_string(), "a DPoP-bound token");
            let refreshed = crate::oidc::support::jwt_payload(result["refreshed_access_token"].as_str().unwrap());
            assert_eq!(refreshed["cnf"], claims["cnf"], "the refresh is bound to the same key");
        }
        app.finish().await;
    }
}
