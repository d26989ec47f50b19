//! Sharing with third parties (issue 17, items 3 to 6): the consent page and its artefact,
//! the fetch of shared data with the holder's seal, pause, resume and revoke from the
//! person's file with signed notices to the bank, Grant Management, and what is refused.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::support::*;
use crate::both_backends;
use crate::oidc::support::{REDIRECT, callback_params, jwt_header, jwt_payload};
use crate::records::{ADDRESS, World, world};
use crate::support::*;

/// The request: name, CURP, birth date and a proof of residence, `fetch` as given,
/// kept five years, valid 30 days.
fn details(app: &TestApp, fetch: Value) -> String {
    details_for(app, fetch, 30)
}

fn details_for(app: &TestApp, fetch: Value, days: i64) -> String {
    let expires = jiff::Timestamp::from_second(now(app) + days * 86_400).unwrap().to_string();
    json!([{
        "type": "data_sharing", "purpose": "apertura_cuenta",
        "items": ["name", "curp", "birthdate", "record:proof_of_residence"],
        "fetch": fetch, "data_life": "P5Y", "expires": expires,
    }])
    .to_string()
}

/// A person with a proof of residence at the Alcaldía (B), signed in to llave.
async fn person_with_residence(w: &World, seed: u64) -> (Person, Client) {
    let (person, browser) = crate::oidc::support::signed_in_person(&w.app, seed).await;
    w.residence_at_b(&person.curp).await;
    (person, browser)
}

/// What a bank's back end holds after the flow.
struct Shared {
    dpop: Key,
    access: String,
    refresh: String,
    grant_id: String,
    artefact: String,
    tokens: Value,
}

/// PAR with these extra parameters, the share page, the person ticks `ticked`, the code,
/// the token with DPoP: what the bank holds.
async fn share(app: &TestApp, bank: &Bank, browser: &mut Client, extra: &[(&str, &str)], ticked: &[&str]) -> Shared {
    let dpop = Key::es256("dpop");
    let mut request = request(bank, "openid offline_access");
    request.params.push(("dpop_jkt".into(), dpop.thumbprint()));
    request.params.extend(fields(extra));
    let request_uri = pushed(app, bank, &request.params).await;
    let page = browser.get(&front(bank, &request_uri)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("name=\"item\""), "the share page: {}", page.body);
    assert!(!page.body.contains("checked"), "nothing is ticked beforehand");
    let csrf = input_value(&page.body, "csrf_token").unwrap();
    let held = input_value(&page.body, "request").unwrap();
    let mut form = vec![("csrf_token", csrf.as_str()), ("request", held.as_str()), ("decision", "allow")];
    form.extend(ticked.iter().map(|item| ("item", *item)));
    let answer = browser.post("/authorize/consent", &form).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let params = callback_params(answer.location().unwrap());
    assert_eq!(params["iss"], app.state.config.issuer());
    let issued = token(app, bank, &code_grant(&params["code"], &request), &dpop).await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let tokens = json(&issued);
    Shared {
        access: tokens["access_token"].as_str().unwrap().to_string(),
        refresh: tokens["refresh_token"].as_str().unwrap_or("").to_string(),
        grant_id: tokens["grant_id"].as_str().expect("grant_id in the token response").to_string(),
        artefact: tokens["consent_artefact"].as_str().expect("consent_artefact in the token response").to_string(),
        dpop,
        tokens,
    }
}

/// `GET /api/shared-data` with the DPoP scheme and a fresh proof.
async fn fetch(app: &TestApp, shared: &Shared) -> Response {
    let mut client = app.client();
    client.extra_headers = vec![
        ("Authorization".into(), format!("DPoP {}", shared.access)),
        ("DPoP".into(), Proof::new(app, &shared.dpop, "GET", "/api/shared-data").for_token(&shared.access).jwt()),
    ];
    client.get("/api/shared-data").await
}

/// Verifies a JWS of the hub with a key of its JWKS (as a bank would) and checks its `typ`.
async fn verified_by_hub(app: &TestApp, jws: &str, typ: &str) -> Value {
    let header = jsonwebtoken::decode_header(jws).unwrap();
    assert_eq!(header.typ.as_deref(), Some(typ));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&app.client().get("/jwks").await.body).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the kid is in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims::<&str>(&[]);
    jsonwebtoken::decode::<Value>(jws, &key, &validation).expect("the hub's signature verifies").claims
}

/// Verifies an entity's seal: the signature by the leaf of `x5c`, and the chain to the
/// hub's root with OpenSSL. The sealed payload.
fn verified_seal(seal: &str, root_pem: &str, dir: &std::path::Path) -> Value {
    use p256::ecdsa::signature::Verifier;
    use x509_cert::der::{Decode, Encode};
    let header = jwt_header(seal);
    assert_eq!(header["typ"], "llave-seal+jwt");
    let chain: Vec<Vec<u8>> =
        header["x5c"].as_array().unwrap().iter().map(|c| STANDARD.decode(c.as_str().unwrap()).unwrap()).collect();
    let leaf = x509_cert::Certificate::from_der(&chain[0]).unwrap();
    let point = leaf.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
    let (signed, signature) = seal.rsplit_once('.').unwrap();
    let signature = p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    key.verify(signed.as_bytes(), &signature).expect("the seal verifies with its certificate");
    let pem =
        |der: &[u8]| format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", STANDARD.encode(der));
    std::fs::write(dir.join("root.pem"), root_pem).unwrap();
    std::fs::write(dir.join("issuing.pem"), pem(&chain[1])).unwrap();
    std::fs::write(dir.join("leaf.pem"), pem(&leaf.to_der().unwrap())).unwrap();
    let verified = std::process::Command::new("openssl")
        .args(["verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "leaf.pem"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(verified.status.success(), "openssl: {}", String::from_utf8_lossy(&verified.stderr));
    jwt_payload(seal)
}

/// How many events of `kind` are about the artefact.
async fn events(app: &TestApp, kind: &str, artefact: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) FROM events WHERE kind = $1 AND detail LIKE $2")
        .bind(kind)
        .bind(format!("artefact={artefact}%"))
        .fetch_one(app.state.store.pool())
        .await
        .unwrap()
        .get::<i64, _>(0)
}

both_backends! {
    async fn a_consent_artefact_a_sealed_fetch_and_the_persons_file(backend: Backend) {
        let w = world(backend).await;
        let app = &w.app;
        let root_pem = llave::signature::init(&app.state).await.unwrap().root_pem;
        let bank = bank(app).await;
        let (person, mut browser) = person_with_residence(&w, 1801).await;
        let asked = details(app, json!("once"));

        // The page names the organisation, the purpose, each item and its source.
        let dpop = Key::es256("dpop");
        let mut request = request(&bank, "openid");
        request.params.push(("dpop_jkt".into(), dpop.thumbprint()));
        request.params.push(("authorization_details".into(), asked.clone()));
        let page = browser.get(&front(&bank, &pushed(app, &bank, &request.params).await)).await;
        for words in ["Banco del Ejemplo, S.A.", "BEJ990101AB1", "Abrir una cuenta bancaria", "Tu CURP",
            "Tu comprobante de domicilio, que tiene", "Una sola vez", "5 años"] {
            assert!(page.body.contains(words), "{words:?} on the page: {}", page.body);
        }

        let shared = share(app, &bank, &mut browser, &[("authorization_details", &asked)],
            &["name", "curp", "record:proof_of_residence"]).await;
        // The granted details are what the person ticked (not the birth date).
        let granted = &shared.tokens["authorization_details"][0];
        assert_eq!(granted["items"], json!(["name", "curp", "record:proof_of_residence"]));
        assert_eq!(granted["type"], "data_sharing");

        // The artefact: signed by the hub, every field the person saw.
        let artefact = verified_by_hub(app, &shared.artefact, "consent-artefact+jwt").await;
        assert_eq!(artefact["aud"], bank.client_id.as_str());
        assert_eq!(artefact["grant_id"], shared.grant_id.as_str());
        assert_eq!(artefact["purpose"], "apertura_cuenta");
        assert_eq!(artefact["items"], granted["items"]);
        assert_eq!(artefact["fetch"], "once");
        assert_eq!(artefact["data_life"], "P5Y");
        assert_eq!(artefact["third_party"]["tax_id"], "BEJ990101AB1");
        assert_eq!(artefact["sources"]["record:proof_of_residence"]["entity"], "alcaldia");
        let id_token = shared.tokens["id_token"].as_str().unwrap();
        assert_eq!(artefact["sub"], jwt_payload(id_token)["sub"], "the person's pairwise identifier");
        let artefact_id = artefact["jti"].as_str().unwrap().to_string();
        assert_eq!(granted["consent_artefact_id"], artefact_id.as_str());

        // The fetch: a JWS of the hub naming the artefact, the record sealed by its holder.
        let fetched = fetch(app, &shared).await;
        assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.body);
        assert_eq!(fetched.headers["content-type"], "application/jwt");
        let data = verified_by_hub(app, &fetched.body, "shared-data+jwt").await;
        assert_eq!(data["consent_artefact_id"], artefact_id.as_str());
        assert_eq!(data["claims"]["curp"], person.curp.as_str());
        assert!(data["claims"]["name"].is_string());
        assert!(data["claims"].get("birthdate").is_none(), "not allowed, not sent");
        let record = &data["records"][0];
        assert_eq!(record["attributes"]["address"], ADDRESS);
        assert_eq!(record["holder"]["slug"], "alcaldia");
        let dir = tempfile::tempdir().unwrap();
        let sealed = verified_seal(record["seal"].as_str().unwrap(), &root_pem, dir.path());
        assert_eq!(sealed["attributes"], record["attributes"]);
        assert_eq!(sealed["consent_artefact_id"], artefact_id.as_str());
        assert_eq!(sealed["record_id"], record["record_id"]);

        // Once means once.
        let again = fetch(app, &shared).await;
        assert_eq!(again.status, StatusCode::FORBIDDEN, "{}", again.body);
        assert_eq!(error_of(&again), "fetch_limit_reached");
        assert_eq!(events(app, "shared_data_fetched", &artefact_id).await, 1);
        assert_eq!(events(app, "shared_data_refused", &artefact_id).await, 1);
        assert_eq!(events(app, "sharing_consent_given", &artefact_id).await, 1);

        // The person's file: the company, the state, the fetch and the refusal, the read.
        let file = browser.get("/expediente").await;
        for words in ["Permisos a empresas", "Banco del Ejemplo, S.A.", "Activo", "Consultas: 1",
            "Consultas rechazadas: 1", "Consultó tus datos", "ya había consultado lo que el permiso deja",
            "Descargar comprobante", ">Pausar<", ">Revocar<"] {
            assert!(file.body.contains(words), "{words:?} in the file");
        }
        let receipt = browser.get(&format!("/expediente/permisos-empresas/{artefact_id}/comprobante")).await;
        assert_eq!(receipt.status, StatusCode::OK);
        assert_eq!(json(&receipt)["consent_artefact"], shared.artefact.as_str());
        assert_eq!(json(&receipt)["state"], "ACTIVE");
        // Someone else's receipt is not found.
        let (_, mut stranger) = crate::oidc::support::signed_in_person(app, 1802).await;
        let theirs = stranger.get(&format!("/expediente/permisos-empresas/{artefact_id}/comprobante")).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND);
        w.app.finish().await;
    }
}

/// A bank whose client is told of changes at a listener of the test's own; the notices it
/// received.
async fn notified_bank(app: &TestApp) -> (Bank, Arc<Mutex<Vec<String>>>) {
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = received.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/avisos",
        axum::routing::post(move |body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    if app.state.store.third_party_by_slug("banco").await.unwrap().is_none() {
        third_party(app, "banco").await;
    }
    let key = Key::es256("banco-1");
    let new = llave::oidc::clients::NewClient {
        third_party: Some("banco".into()),
        name: "Banca en línea".into(),
        redirect_uris: vec![REDIRECT.into()],
        jwks: Some(json!({ "keys": [key.jwk.clone()] }).to_string()),
        notify_uri: Some(format!("http://{address}/avisos")),
        ..Default::default()
    };
    let registered = llave::admin::entity::add_client(&app.state.store, &new).await.unwrap();
    (Bank { client_id: registered.client_id, key, issuer: app.state.config.issuer() }, received)
}

/// Waits for the outbox to deliver `n` notices (the worker runs beside the test).
async fn notices(app: &TestApp, received: &Arc<Mutex<Vec<String>>>, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        if received.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), n, "notices received: {bodies:?}");
    let mut out = Vec::new();
    for body in bodies {
        out.push(verified_by_hub(app, &body, "consent-state+jwt").await);
    }
    out
}

/// The person's button on their file for the artefact.
async fn press(browser: &mut Client, artefact: &str, action: &str) -> Response {
    let file = browser.get("/expediente").await;
    let csrf = input_value(&file.body, "csrf_token").unwrap();
    browser.post(&format!("/expediente/permisos-empresas/{artefact}/{action}"), &[("csrf_token", &csrf)]).await
}

both_backends! {
    async fn pause_resume_and_revoke_are_the_persons_and_the_bank_is_told(backend: Backend) {
        let w = world(backend).await;
        let app = &w.app;
        llave::signature::init(&app.state).await.unwrap();
        let (bank, received) = notified_bank(app).await;
        let (_, mut browser) = person_with_residence(&w, 1803).await;
        let asked = details_for(app, json!({ "every": "P1M" }), 90);
        let shared = share(app, &bank, &mut browser, &[("authorization_details", &asked)], &["name", "record:proof_of_residence"]).await;
        let artefact_id = jwt_payload(&shared.artefact)["jti"].as_str().unwrap().to_string();
        assert_eq!(fetch(app, &shared).await.status, StatusCode::OK);

        // Paused: nothing comes out, and the bank is told.
        assert_eq!(press(&mut browser, &artefact_id, "pausar").await.status, StatusCode::SEE_OTHER);
        let paused = fetch(app, &shared).await;
        assert_eq!((paused.status, error_of(&paused)), (StatusCode::FORBIDDEN, "consent_paused".to_string()));
        assert!(browser.get("/expediente").await.body.contains("En pausa"));
        // Pausing twice changes nothing.
        assert_eq!(press(&mut browser, &artefact_id, "pausar").await.status, StatusCode::CONFLICT);

        // Resumed: monthly, so not before a month after the last fetch.
        assert_eq!(press(&mut browser, &artefact_id, "reanudar").await.status, StatusCode::SEE_OTHER);
        let early = fetch(app, &shared).await;
        assert_eq!(error_of(&early), "fetch_limit_reached");
        app.clock().advance(std::time::Duration::from_secs(32 * 86_400));
        let monthly = fetch(app, &shared).await;
        assert_eq!(monthly.status, StatusCode::OK, "{}", monthly.body);

        // Revoked: the tokens end at once, the refusal is still the artefact's, and the
        // refresh token is dead too.
        assert_eq!(press(&mut browser, &artefact_id, "revocar").await.status, StatusCode::SEE_OTHER);
        let revoked = fetch(app, &shared).await;
        assert_eq!((revoked.status, error_of(&revoked)), (StatusCode::UNAUTHORIZED, "invalid_token".to_string()));
        let refresh = token(app, &bank, &[("grant_type", "refresh_token"), ("refresh_token", &shared.refresh)], &shared.dpop).await;
        assert_eq!(error_of(&refresh), "invalid_grant", "{}", refresh.body);
        assert_eq!(press(&mut browser, &artefact_id, "reanudar").await.status, StatusCode::CONFLICT);
        assert_eq!(events(app, "shared_data_refused", &artefact_id).await, 3, "paused, too early, revoked");
        assert_eq!(events(app, "shared_data_fetched", &artefact_id).await, 2);
        assert!(browser.get("/expediente").await.body.contains("Revocado"));

        // The bank heard of each change, signed by the hub.
        let heard = notices(app, &received, 3).await;
        let states: Vec<&str> = heard.iter().map(|n| n["state"].as_str().unwrap()).collect();
        assert_eq!(states, ["PAUSED", "ACTIVE", "REVOKED"]);
        assert!(heard.iter().all(|n| n["grant_id"] == shared.grant_id.as_str() && n["aud"] == bank.client_id.as_str()));
        w.app.finish().await;
    }
}

both_backends! {
    async fn an_expired_consent_yields_nothing(backend: Backend) {
        let w = world(backend).await;
        let app = &w.app;
        llave::signature::init(&app.state).await.unwrap();
        let bank = bank(app).await;
        let (_, mut browser) = person_with_residence(&w, 1804).await;
        let asked = details(app, json!({ "every": "P1D" }));
        let shared = share(app, &bank, &mut browser, &[("authorization_details", &asked)], &["curp"]).await;
        app.clock().advance(std::time::Duration::from_secs(31 * 86_400));
        let expired = fetch(app, &shared).await;
        assert_eq!((expired.status, error_of(&expired)), (StatusCode::FORBIDDEN, "consent_expired".to_string()));
        assert!(browser.get("/expediente").await.body.contains("Vencido"));
        w.app.finish().await;
    }
}

/// A DPoP-bound client-credentials token of the bank with Grant Management's scopes.
async fn management_token(app: &TestApp, bank: &Bank, dpop: &Key) -> String {
    let scope = "grant_management_query grant_management_revoke";
    let issued = token(app, bank, &[("grant_type", "client_credentials"), ("scope", scope)], dpop).await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    json(&issued)["access_token"].as_str().unwrap().to_string()
}

async fn manage(app: &TestApp, method: &str, grant_id: &str, token: &str, dpop: &Key) -> Response {
    let path = format!("/grants/{grant_id}");
    let mut client = app.client();
    client.extra_headers = vec![
        ("Authorization".into(), format!("DPoP {token}")),
        ("DPoP".into(), Proof::new(app, dpop, method, &path).for_token(token).jwt()),
    ];
    client.request(method, &path, None).await
}

both_backends! {
    async fn grant_management_reads_and_revokes_the_banks_own_grants(backend: Backend) {
        let w = world(backend).await;
        let app = &w.app;
        llave::signature::init(&app.state).await.unwrap();
        let bank = bank(app).await;
        let (_, mut browser) = person_with_residence(&w, 1805).await;
        let asked = details(app, json!("once"));
        let shared = share(app, &bank, &mut browser, &[("authorization_details", &asked)], &["curp"]).await;
        let dpop = Key::es256("gm");
        let token = management_token(app, &bank, &dpop).await;

        let read = manage(app, "GET", &shared.grant_id, &token, &dpop).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        let grant = json(&read);
        assert_eq!(grant["state"], "ACTIVE");
        assert_eq!(grant["consent_artefact"], shared.artefact.as_str());
        assert_eq!(grant["authorization_details"][0]["items"], json!(["curp"]));

        // Another third party's client cannot see it.
        let other = bank_with(app, Key::es256("otro-1"), false).await;
        let other_token = management_token(app, &other, &dpop).await;
        let hidden = manage(app, "GET", &shared.grant_id, &other_token, &dpop).await;
        assert_eq!((hidden.status, error_of(&hidden)), (StatusCode::NOT_FOUND, "invalid_grant".to_string()));
        // The person's access token is not a management token.
        let wrong = manage(app, "GET", &shared.grant_id, &shared.access, &shared.dpop).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);

        // The bank revokes: its tokens end, the state says so.
        let deleted = manage(app, "DELETE", &shared.grant_id, &token, &dpop).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
        assert_eq!(json(&manage(app, "GET", &shared.grant_id, &token, &dpop).await)["state"], "REVOKED");
        assert_eq!(fetch(app, &shared).await.status, StatusCode::UNAUTHORIZED);

        // An entity's back end cannot have Grant Management's scopes, nor a bank an entity's.
        let refused = token_with_scope(app, &bank, "records:read", &dpop).await;
        assert_eq!(error_of(&refused), "invalid_scope");
        let (status, _) = crate::oidc::support::post_form(&w.base, "/token",
            &[("grant_type", "client_credentials"), ("scope", "grant_management_query")],
            Some((&w.a.client_id, &w.a.client_secret))).await;
        assert_eq!(status, 400);
        w.app.finish().await;
    }
}

async fn token_with_scope(app: &TestApp, bank: &Bank, scope: &str, dpop: &Key) -> Response {
    token(app, bank, &[("grant_type", "client_credentials"), ("scope", scope)], dpop).await
}

both_backends! {
    async fn a_merge_keeps_the_grant_and_ends_the_tokens_it_replaces(backend: Backend) {
        let w = world(backend).await;
        let app = &w.app;
        llave::signature::init(&app.state).await.unwrap();
        let bank = bank(app).await;
        let (_, mut browser) = person_with_residence(&w, 1806).await;
        let asked = details(app, json!({ "every": "P1M" }));
        let first = share(app, &bank, &mut browser, &[("authorization_details", &asked)], &["curp"]).await;
        let merge = [("authorization_details", asked.as_str()), ("grant_management_action", "merge"),
            ("grant_id", first.grant_id.as_str())];
        let second = share(app, &bank, &mut browser, &merge, &["name"]).await;
        assert_eq!(second.grant_id, first.grant_id, "the same grant");
        assert_eq!(second.tokens["authorization_details"][0]["items"], json!(["curp", "name"]));
        assert_eq!(fetch(app, &first).await.status, StatusCode::UNAUTHORIZED, "the merged grant's old tokens end");
        assert_eq!(fetch(app, &second).await.status, StatusCode::OK);
        // Replace: only the new items.
        let replace = [("authorization_details", asked.as_str()), ("grant_management_action", "replace"),
            ("grant_id", first.grant_id.as_str())];
        let third = share(app, &bank, &mut browser, &replace, &["record:proof_of_residence"]).await;
        assert_eq!(third.tokens["authorization_details"][0]["items"], json!(["record:proof_of_residence"]));
        // A grant that is not the bank's for this person cannot be merged.
        let (_, mut stranger) = person_with_residence(&w, 1807).await;
        let mut request = request(&bank, "openid");
        request.params.extend(fields(&merge));
        let request_uri = pushed(app, &bank, &request.params).await;
        let answer = stranger.get(&front(&bank, &request_uri)).await;
        assert_eq!(callback_params(answer.location().unwrap())["error"], "invalid_grant_id");
        w.app.finish().await;
    }
}

both_backends! {
    async fn bad_requests_and_refusals_on_the_share_page(backend: Backend) {
        let w = world(backend).await;
        let app = &w.app;
        let bank = bank(app).await;
        let good = details(app, json!("once"));
        let cases = [
            (good.replace("apertura_cuenta", "credito"), "invalid_authorization_details"),
            (good.replace("\"curp\"", "\"salary\""), "invalid_authorization_details"),
            (good.replace("data_sharing", "record_reuse"), "invalid_authorization_details"),
            (good.replace("P5Y", "five years"), "invalid_authorization_details"),
        ];
        for (asked, error) in cases {
            let mut request = request(&bank, "openid");
            request.params.push(("authorization_details".into(), asked.clone()));
            let pushed = push(app, &bank, &request.params, None).await;
            assert_eq!((pushed.status, error_of(&pushed)), (StatusCode::BAD_REQUEST, error.to_string()), "{asked}");
        }
        let mut request = request(&bank, "openid");
        request.params.extend(fields(&[("authorization_details", &good), ("grant_management_action", "merge")]));
        assert_eq!(error_of(&push(app, &bank, &request.params, None).await), "invalid_request");

        // Nothing ticked: the page again, with the reason; "No permitir": access_denied.
        let (_, mut browser) = person_with_residence(&w, 1808).await;
        let mut request = crate::fapi::support::request(&bank, "openid");
        request.params.push(("authorization_details".into(), good.clone()));
        let page = browser.get(&front(&bank, &pushed(app, &bank, &request.params).await)).await;
        let csrf = input_value(&page.body, "csrf_token").unwrap();
        let held = input_value(&page.body, "request").unwrap();
        let none = browser.post("/authorize/consent", &[("csrf_token", &csrf), ("request", &held), ("decision", "allow")]).await;
        assert_eq!(none.status, StatusCode::BAD_REQUEST);
        assert!(none.body.contains("Marca al menos un dato"), "{}", none.body);
        let csrf = input_value(&none.body, "csrf_token").unwrap();
        let denied = browser
            .post("/authorize/consent", &[("csrf_token", &csrf), ("request", &held), ("decision", "deny"), ("item", "curp")])
            .await;
        assert_eq!(callback_params(denied.location().unwrap())["error"], "access_denied");
        // A bearer token, or no token, at the shared-data API: invalid_token.
        let mut client = app.client();
        assert_eq!(client.get("/api/shared-data").await.status, StatusCode::UNAUTHORIZED);
        client.extra_headers = vec![("Authorization".into(), "Bearer x".into())];
        assert_eq!(client.get("/api/shared-data").await.status, StatusCode::UNAUTHORIZED);
        w.app.finish().await;
    }
}

both_backends! {
    async fn the_key_that_signed_an_artefact_stays_published_while_it_serves_as_proof(backend: Backend) {
        let w = world(backend).await;
        let app = &w.app;
        let bank = bank(app).await;
        let (_, mut browser) = person_with_residence(&w, 1809).await;
        let asked = details(app, json!("once"));
        let shared = share(app, &bank, &mut browser, &[("authorization_details", &asked)], &["curp"]).await;
        let kid = jwt_header(&shared.artefact)["kid"].as_str().unwrap().to_string();
        let access_kid = jwt_header(&shared.access)["kid"].as_str().unwrap().to_string();
        // A rotation, then a day and more: retired keys leave the JWKS after 24 hours …
        llave::keys::rotate(&app.state.store).await.unwrap();
        sqlx::query("UPDATE signing_keys SET retired_at = retired_at - 3 * 86400 WHERE retired_at IS NOT NULL")
            .execute(app.state.store.pool())
            .await
            .unwrap();
        app.state.keys.invalidate();
        let jwks: Value = serde_json::from_str(&app.client().get("/jwks").await.body).unwrap();
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        // … but the one that signed an artefact stays, so the bank and the person can still
        // check it; the RS256 and EdDSA keys of the same rotation, which signed none, left.
        assert!(kids.contains(&kid.as_str()), "{kids:?}");
        assert_eq!(kids.len(), 4, "three current keys and the artefact's: {kids:?}");
        assert_eq!(access_kid, kid, "access tokens are ES256 too: the same key");
        verified_by_hub(app, &shared.artefact, "consent-artefact+jwt").await;
        w.app.finish().await;
    }
}
