//! Electronic signatures: the PKI made by `llave pki init`, CAdES detached signatures that
//! OpenSSL verifies with nothing but the root certificate, OpenSSL signatures that llave
//! verifies, and each bad case with its own verdict.

use std::path::Path;
use std::process::Command;

use llave::accounts::Actor;
use llave::signature::cms::{self, Status};
use llave::store::assurance::NewVerification;

use crate::both_backends;
use crate::support::*;

fn openssl(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed")
}

fn ok(output: &std::process::Output) -> bool {
    output.status.success()
}

/// A person whose identity an officer verified (the signature tests, and any node's).
pub(crate) async fn verified_person(app: &TestApp, seed: u64) -> (Person, llave::store::Account) {
    let person = Person::synthetic(seed);
    sign_up_and_confirm(app, &person).await;
    let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
    let verification = NewVerification {
        account: account.id,
        purpose: "verify",
        method: "officer",
        verifier: "XEXX010101HNEXXXA4",
        officer: None,
        document_kind: "ine",
        document_number: "IDMEX0000001",
        reference: "in person",
    };
    app.state.store.record_verification(&verification, llave::crypto::now() - 5).await.unwrap();
    let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
    (person, account)
}

fn verify_cli(app: &TestApp, args: &[&str]) -> (bool, serde_json::Value) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = llave(app, &all, None);
    let verdict =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), verdict)
}

both_backends! {
    async fn openssl_and_llave_verify_each_others_signatures(backend: Backend) {
        let app = TestApp::new(backend).await;
        let init = json_of(&llave(&app, &["pki", "init", "--json"], None));
        assert_eq!(init["created"], true);
        let again = json_of(&llave(&app, &["pki", "init", "--json"], None));
        assert_eq!(again["created"], false, "init is done once");
        assert_eq!(again["root_pem"], init["root_pem"]);
        let root_file = init["root_file"].as_str().unwrap().to_string();

        let (person, account) = verified_person(&app, 601).await;
        let work = tempfile::tempdir().unwrap();
        let dir = work.path();
        let document = b"Constancia de residencia\nFolio 123\n".to_vec();
        std::fs::write(dir.join("doc.txt"), &document).unwrap();
        let (record, p7s) = llave::signature::sign_as_person(
            &app.state, &account, "constancia.txt", &cms::sha256(&document), "person", None, &Actor::cli(),
        ).await.unwrap();
        std::fs::write(dir.join("doc.txt.p7s"), &p7s).unwrap();
        assert_eq!(record.document_sha256, cms::hex(&cms::sha256(&document)));

        // OpenSSL alone, with the root certificate, accepts it; it is CAdES (signing-certificate-v2).
        let verified = openssl(&["cms", "-verify", "-binary", "-content", "doc.txt", "-inform", "DER", "-in", "doc.txt.p7s",
            "-CAfile", &root_file, "-purpose", "any", "-out", "/dev/null"], dir);
        assert!(ok(&verified), "{}", String::from_utf8_lossy(&verified.stderr));
        let printed = openssl(&["cms", "-cmsout", "-print", "-inform", "DER", "-in", "doc.txt.p7s"], dir);
        let printed = String::from_utf8_lossy(&printed.stdout);
        assert!(printed.contains("signingCertificateV2") || printed.contains("1.2.840.113549.1.9.16.2.47"), "{printed}");
        assert!(printed.contains("signingTime"), "{printed}");
        let cert = openssl(&["cms", "-verify", "-binary", "-content", "doc.txt", "-inform", "DER", "-in", "doc.txt.p7s",
            "-CAfile", &root_file, "-purpose", "any", "-out", "/dev/null", "-signer", "signer.pem"], dir);
        assert!(ok(&cert));
        let subject = openssl(&["x509", "-in", "signer.pem", "-noout", "-subject", "-ext", "keyUsage", "-nameopt", "RFC2253"], dir);
        let subject = String::from_utf8_lossy(&subject.stdout);
        assert!(subject.contains(&format!("serialNumber={}", person.curp)), "{subject}");
        assert!(subject.contains("Digital Signature") && subject.contains("Non Repudiation"), "{subject}");

        // llave verifies it too, offline with the root file or with the installation.
        let (valid, verdict) = verify_cli(&app, &[dir.join("doc.txt").to_str().unwrap(), dir.join("doc.txt.p7s").to_str().unwrap()]);
        assert!(valid, "{verdict}");
        assert_eq!(verdict["status"], "valid");
        assert_eq!(verdict["signer"]["serial_number"], person.curp.as_str());
        assert_eq!(verdict["crl_checked"], true);
        assert_eq!(verdict["certificate_valid_then"], true);

        // A changed byte: OpenSSL refuses, llave says the document changed.
        let mut changed = document.clone();
        changed[5] ^= 1;
        std::fs::write(dir.join("changed.txt"), &changed).unwrap();
        let refused = openssl(&["cms", "-verify", "-binary", "-content", "changed.txt", "-inform", "DER", "-in", "doc.txt.p7s",
            "-CAfile", &root_file, "-purpose", "any", "-out", "/dev/null"], dir);
        assert!(!ok(&refused));
        let (valid, verdict) = verify_cli(&app, &[dir.join("changed.txt").to_str().unwrap(), dir.join("doc.txt.p7s").to_str().unwrap(), "--root", &root_file]);
        assert!(!valid);
        assert_eq!(verdict["status"], "document_changed");
        // A damaged signature.
        let mut damaged = p7s.clone();
        let at = damaged.len() - 10;
        damaged[at] ^= 0x55;
        let verdict = cms::verify(&document, &damaged, &llave::signature::root(&app.state).await.unwrap(), None, llave::crypto::now());
        assert!(matches!(verdict.status, Status::SignatureInvalid | Status::Malformed), "{verdict:?}");

        // OpenSSL signs with the certificate llave issued (its key taken out for the test):
        // llave accepts the signature, with the root alone.
        let stored = app.state.store.current_person_certificate(account.id, llave::crypto::now()).await.unwrap().unwrap();
        let key = llave::signature::pki::open_key(&app.state.keystore, &format!("signing-key:{}", stored.serial), &stored.key_sealed).unwrap();
        let key_pem = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, p256::pkcs8::LineEnding::LF).unwrap();
        std::fs::write(dir.join("key.pem"), key_pem.as_bytes()).unwrap();
        std::fs::write(dir.join("cert.pem"), &stored.certificate).unwrap();
        std::fs::write(dir.join("issuing.pem"), app.state.store.authority("issuing").await.unwrap().unwrap().certificate_pem).unwrap();
        let signed = openssl(&["cms", "-sign", "-binary", "-in", "doc.txt", "-signer", "cert.pem", "-inkey", "key.pem",
            "-certfile", "issuing.pem", "-md", "sha256", "-cades", "-outform", "DER", "-out", "openssl.p7s"], dir);
        assert!(ok(&signed), "{}", String::from_utf8_lossy(&signed.stderr));
        let (valid, verdict) = verify_cli(&app, &[dir.join("doc.txt").to_str().unwrap(), dir.join("openssl.p7s").to_str().unwrap(), "--root", &root_file]);
        assert!(valid, "{verdict}");
        assert_eq!(verdict["signer"]["serial_number"], person.curp.as_str());
        assert_eq!(verdict["crl_checked"], false, "no CRL given");

        // Another installation's root: not a chain to trust.
        let other = TestApp::new(backend).await;
        let other_root = json_of(&llave(&other, &["pki", "init", "--json"], None))["root_file"].as_str().unwrap().to_string();
        let (valid, verdict) = verify_cli(&app, &[dir.join("doc.txt").to_str().unwrap(), dir.join("doc.txt.p7s").to_str().unwrap(), "--root", &other_root]);
        assert!(!valid);
        assert_eq!(verdict["status"], "untrusted_chain");
        other.finish().await;

        // OpenSSL checks the CRL too (given with the root in -CAfile): not revoked yet.
        let crl_check = |dir: &Path, crl: &[u8]| {
            std::fs::write(dir.join("crl.der"), crl).unwrap();
            assert!(ok(&openssl(&["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"], dir)));
            let mut both = std::fs::read(&root_file).unwrap();
            both.extend(std::fs::read(dir.join("crl.pem")).unwrap());
            std::fs::write(dir.join("root_and_crl.pem"), both).unwrap();
            openssl(&["cms", "-verify", "-binary", "-content", "doc.txt", "-inform", "DER", "-in", "doc.txt.p7s",
                "-CAfile", "root_and_crl.pem", "-purpose", "any", "-crl_check", "-out", "/dev/null"], dir)
        };
        let checked = crl_check(dir, &llave::signature::crl(&app.state).await.unwrap());
        assert!(ok(&checked), "{}", String::from_utf8_lossy(&checked.stderr));

        // Revoked after signing: valid then, revoked now; the CRL says so to OpenSSL too.
        let revoked = llave::signature::revoke_person(&app.state, &account, "person_asked", &Actor::cli()).await.unwrap();
        assert_eq!(revoked, vec![stored.serial.clone()]);
        // Time passes between the signature and the revocation (a same-second revocation
        // counts against the signature).
        sqlx::query("UPDATE certificates SET revoked_at = revoked_at + 2").execute(app.state.store.pool()).await.unwrap();
        let (valid, verdict) = verify_cli(&app, &[dir.join("doc.txt").to_str().unwrap(), dir.join("doc.txt.p7s").to_str().unwrap()]);
        assert!(valid, "signed before the revocation: {verdict}");
        assert!(verdict["revoked_at"].is_i64());
        let refused = crl_check(dir, &llave::signature::crl(&app.state).await.unwrap());
        assert!(!ok(&refused));
        assert!(String::from_utf8_lossy(&refused.stderr).contains("revoked"), "OpenSSL sees the revocation: {}", String::from_utf8_lossy(&refused.stderr));
        // Signed with the revoked certificate afterwards: revoked.
        let certificate = llave::signature::pki::parse_certificate(stored.certificate.as_bytes()).unwrap();
        let crl = cms::parse_crl(&llave::signature::crl(&app.state).await.unwrap());
        let root = llave::signature::root(&app.state).await.unwrap();
        let issuing = app.state.store.authority("issuing").await.unwrap().unwrap();
        let issuing = llave::signature::pki::parse_certificate(issuing.certificate_pem.as_bytes()).unwrap();
        let late = cms::sign_detached(&cms::sha256(&document), &certificate, &[&issuing], &key, llave::crypto::now() + 60).unwrap();
        assert_eq!(cms::verify(&document, &late, &root, crl.as_ref(), llave::crypto::now()).status, Status::Revoked);
        // Signed when the certificate had expired: its own verdict.
        let after_expiry = stored.not_after + 3600;
        let expired = cms::sign_detached(&cms::sha256(&document), &certificate, &[&issuing], &key, after_expiry).unwrap();
        assert_eq!(cms::verify(&document, &expired, &root, None, after_expiry).status, Status::CertificateExpired);

        // Every signature and certificate is in the person's history.
        assert_eq!(app.count("SELECT COUNT(*) FROM signatures").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'document_signed'").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'certificate_revoked'").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn only_verified_people_get_a_signature(backend: Backend) {
        let app = TestApp::new(backend).await;
        llave::signature::init(&app.state).await.unwrap();
        let person = Person::synthetic(611);
        sign_up_and_confirm(&app, &person).await;
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
        let refused = llave::signature::sign_as_person(&app.state, &account, "x", &[0; 32], "person", None, &Actor::cli()).await;
        assert!(matches!(refused, Err(llave::signature::SignatureError::NotVerified)));
        assert_eq!(app.count("SELECT COUNT(*) FROM certificates").await, 0);

        // The PKI's public addresses.
        let mut browser = app.client();
        let root = browser.get("/pki/root.pem").await;
        assert!(root.body.starts_with("-----BEGIN CERTIFICATE-----"));
        let crl = browser.get("/pki/crl").await;
        assert_eq!(crl.headers["content-type"], "application/pkix-crl");
        app.finish().await;
    }
}

both_backends! {
    async fn a_person_signs_on_the_pages_and_anyone_verifies(backend: Backend) {
        use axum::http::StatusCode;
        let app = TestApp::new(backend).await;
        llave::signature::init(&app.state).await.unwrap();
        let (person, _) = verified_person(&app, 621).await;
        let mut browser = app.client();
        browser.sign_in(&person.curp, &person.password).await;
        let (totp, _) = enrol_totp(&mut browser).await;

        let document = b"%PDF-1.4 solicitud de licencia\n".to_vec();
        let page = browser.get("/firma").await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = input_value(&page.body, "csrf_token").unwrap();
        // Without the CSRF token: refused.
        let forged = browser.post_multipart("/firma/documento", &[], &[("document", "solicitud.pdf", &document)]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let uploaded = browser.post_multipart("/firma/documento", &[("csrf_token", &csrf)], &[("document", "solicitud.pdf", &document)]).await;
        let act = uploaded.location().expect("to the confirmation").to_string();
        let confirm = browser.get(&act).await;
        assert!(confirm.body.contains("solicitud.pdf"));
        let fingerprint = cms::hex(&cms::sha256(&document));
        assert!(confirm.body.contains(&fingerprint), "the fingerprint is shown");
        let token = input_value(&confirm.body, "csrf_token").unwrap();

        // Fresh authentication in the act: the password and the app's code.
        let code = totp.generate(unix_now() + 30).to_string();
        let no_password = browser.post(&act, &[("csrf_token", &token), ("password", "no es"), ("code", &code)]).await;
        assert_eq!(no_password.status, StatusCode::UNAUTHORIZED);
        let no_code = browser.post(&act, &[("csrf_token", &token), ("password", &person.password), ("code", "000000")]).await;
        assert_eq!(no_code.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.count("SELECT COUNT(*) FROM signatures").await, 0, "nothing signed without fresh authentication");
        let signed = browser.post(&act, &[("csrf_token", &token), ("password", &person.password), ("code", &code)]).await;
        let done = signed.location().expect("signed").to_string();
        let id = done.split("firmado=").nth(1).unwrap().split('#').next().unwrap().to_string();
        let again = browser.post(&act, &[("csrf_token", &token), ("password", &person.password), ("code", &totp.generate(unix_now() + 60).to_string())]).await;
        assert_eq!(again.status, StatusCode::GONE, "one act, one signature");

        let download = browser.get(&format!("/firma/firmas/{id}.p7s")).await;
        assert_eq!(download.status, StatusCode::OK);
        assert!(download.headers["content-disposition"].to_str().unwrap().contains("solicitud.pdf.p7s"));
        let p7s = download.bytes.clone();
        let history = browser.get("/firma").await.body;
        assert!(history.contains(&fingerprint) && history.contains("solicitud.pdf"), "the act is in the person's history");
        let mut stranger = app.client();
        let (other, _) = verified_person(&app, 622).await;
        stranger.sign_in(&other.curp, &other.password).await;
        assert_eq!(stranger.get(&format!("/firma/firmas/{id}.p7s")).await.status, StatusCode::NOT_FOUND);

        // OpenSSL verifies it with the root certificate alone.
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("doc.pdf"), &document).unwrap();
        std::fs::write(work.path().join("doc.pdf.p7s"), &p7s).unwrap();
        std::fs::write(work.path().join("root.pem"), browser.get("/pki/root.pem").await.body).unwrap();
        let verified = openssl(&["cms", "-verify", "-binary", "-content", "doc.pdf", "-inform", "DER", "-in", "doc.pdf.p7s",
            "-CAfile", "root.pem", "-purpose", "any", "-out", "/dev/null"], work.path());
        assert!(ok(&verified), "{}", String::from_utf8_lossy(&verified.stderr));

        // The API and the public page, for anyone.
        let mut anyone = app.client();
        let api = anyone.post_multipart("/api/signatures/verify", &[], &[("document", "doc.pdf", &document), ("signature", "doc.pdf.p7s", &p7s)]).await;
        let verdict: serde_json::Value = serde_json::from_str(&api.body).unwrap();
        assert_eq!(verdict["status"], "valid", "{verdict}");
        assert_eq!(verdict["signer"]["serial_number"], person.curp.as_str());
        let mut changed = document.clone();
        changed.push(b' ');
        let api = anyone.post_multipart("/api/signatures/verify", &[], &[("document", "doc.pdf", &changed), ("signature", "doc.pdf.p7s", &p7s)]).await;
        assert_eq!(serde_json::from_str::<serde_json::Value>(&api.body).unwrap()["status"], "document_changed");
        let missing = anyone.post_multipart("/api/signatures/verify", &[], &[("document", "doc.pdf", &document)]).await;
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);

        let form = anyone.get("/verificar").await;
        let csrf = input_value(&form.body, "csrf_token").unwrap();
        let page = anyone.post_multipart("/verificar", &[("csrf_token", &csrf)], &[("document", "doc.pdf", &document), ("signature", "doc.pdf.p7s", &p7s)]).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Firma válida"), "{}", page.body);
        let masked = format!("{}{}{}", &person.curp[..4], "•".repeat(12), &person.curp[16..]);
        assert!(page.body.contains(&masked), "the CURP masked but for 4 and 2");
        assert!(!page.body.contains(&person.curp), "never the whole CURP");

        // The person revokes: the page says since when.
        browser.submit("/firma", "/firma/revocar", &[]).await;
        let page = anyone.post_multipart("/verificar", &[("csrf_token", &csrf)], &[("document", "doc.pdf", &document), ("signature", "doc.pdf.p7s", &p7s)]).await;
        assert!(page.body.contains("sí, desde"), "{}", page.body);

        // Someone not verified cannot start a signature.
        let (_, mut unverified) = {
            let p = Person::synthetic(623);
            sign_up_and_confirm(&app, &p).await;
            let mut b = app.client();
            b.sign_in(&p.curp, &p.password).await;
            (p, b)
        };
        let csrf = input_value(&unverified.get("/firma").await.body, "csrf_token").unwrap();
        let refused = unverified.post_multipart("/firma/documento", &[("csrf_token", &csrf)], &[("document", "x.pdf", b"x")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        app.finish().await;
    }
}

async fn api(base: &str, path: &str, token: Option<&str>, body: serde_json::Value) -> (u16, serde_json::Value) {
    let mut request = crate::oidc::support::http().post(format!("{base}{path}")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(serde_json::Value::Null))
}

both_backends! {
    async fn an_entity_seals_and_asks_a_person_to_sign_and_another_verifies_with_openssl(backend: Backend) {
        use axum::http::StatusCode;
        use base64::Engine;
        use crate::oidc::support::{REDIRECT, callback_params, entity};
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        llave::signature::init(&app.state).await.unwrap();
        let semovi = entity(&app, &base, "semovi", false).await;
        let token = crate::oidc::support::service_token(&base, &semovi, "signatures").await;
        let document = b"Licencia de conducir tipo A, folio 998877\n".to_vec();
        let sha = cms::hex(&cms::sha256(&document));

        // Without a token, or without the scope: refused.
        let (status, _) = api(&base, "/api/seals", None, serde_json::json!({})).await;
        assert_eq!(status, 401);
        let other_scope = crate::oidc::support::service_token(&base, &semovi, "lookups").await;
        let (status, body) = api(&base, "/api/seals", Some(&other_scope), serde_json::json!({"document_name": "x", "document_sha256": sha})).await;
        assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")));
        let (status, _) = api(&base, "/api/seals", Some(&token), serde_json::json!({"document_name": "x", "document_sha256": "zz"})).await;
        assert_eq!(status, 400);

        // The entity seals what it issues.
        let (status, sealed) = api(&base, "/api/seals", Some(&token), serde_json::json!({"document_name": "licencia.pdf", "document_sha256": sha})).await;
        assert_eq!(status, 201, "{sealed}");
        let p7s = base64::engine::general_purpose::STANDARD.decode(sealed["signature"].as_str().unwrap()).unwrap();
        let verdict = llave::signature::verify_here(&app.state, &cms::sha256(&document), &p7s).await.unwrap();
        assert_eq!(verdict.status, Status::Valid);
        assert_eq!(verdict.signer.as_ref().unwrap().serial_number, "semovi");
        assert_eq!(verdict.signer.as_ref().unwrap().organizational_unit, "Sello de entidad");
        let jws_header = crate::oidc::support::jwt_header(sealed["jws"].as_str().unwrap());
        assert_eq!(jws_header["alg"], "ES256");
        assert_eq!(jws_header["x5c"].as_array().unwrap().len(), 2);

        // The entity asks a verified person to sign a document it issued to them.
        let (person, _) = verified_person(&app, 631).await;
        let mut browser = app.client();
        browser.sign_in(&person.curp, &person.password).await;
        let (totp, _) = enrol_totp(&mut browser).await;
        let (status, _) = api(&base, "/api/signature-requests", Some(&token), serde_json::json!({
            "document_name": "licencia.pdf", "document_sha256": sha, "summary": "Acuse de tu licencia",
            "redirect_uri": "https://evil.example/cb", "state": "s1"})).await;
        assert_eq!(status, 400, "only a registered redirect URI");
        let (status, created) = api(&base, "/api/signature-requests", Some(&token), serde_json::json!({
            "document_name": "licencia.pdf", "document_sha256": sha,
            "summary": "Firma el acuse de recibo de tu licencia de conducir", "redirect_uri": REDIRECT, "state": "s1"})).await;
        assert_eq!(status, 201, "{created}");
        let sign_path = crate::oidc::support::local(created["sign_url"].as_str().unwrap());
        let page = browser.get(&sign_path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Entidad semovi") && page.body.contains("Firma el acuse de recibo"), "{}", page.body);
        assert!(page.body.contains(&sha));
        let csrf = input_value(&page.body, "csrf_token").unwrap();
        let wrong = browser.post(&sign_path, &[("csrf_token", &csrf), ("decision", "sign"), ("password", &person.password), ("code", "123456")]).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "no signature without fresh authentication");
        let code = totp.generate(unix_now() + 30).to_string();
        let signed = browser.post(&sign_path, &[("csrf_token", &csrf), ("decision", "sign"), ("password", &person.password), ("code", &code)]).await;
        let back = callback_params(signed.location().expect("back to the entity"));
        assert_eq!(back["state"], "s1");
        let (status, result) = api(&base, "/api/signature-requests/exchange", Some(&token), serde_json::json!({"code": back["code"]})).await;
        assert_eq!(status, 200, "{result}");
        let (status, again) = api(&base, "/api/signature-requests/exchange", Some(&token), serde_json::json!({"code": back["code"]})).await;
        assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")), "a code works once");
        assert_eq!(browser.get(&sign_path).await.status, StatusCode::GONE, "a request is answered once");

        // A second entity verifies the person's signature with nothing but OpenSSL and the root.
        let signature = base64::engine::general_purpose::STANDARD.decode(result["signature"].as_str().unwrap()).unwrap();
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("licencia.pdf"), &document).unwrap();
        std::fs::write(work.path().join("licencia.pdf.p7s"), &signature).unwrap();
        std::fs::write(work.path().join("root.pem"), browser.get("/pki/root.pem").await.body).unwrap();
        let verified = openssl(&["cms", "-verify", "-binary", "-content", "licencia.pdf", "-inform", "DER", "-in", "licencia.pdf.p7s",
            "-CAfile", "root.pem", "-purpose", "any", "-out", "/dev/null", "-signer", "signer.pem"], work.path());
        assert!(ok(&verified), "{}", String::from_utf8_lossy(&verified.stderr));
        let subject = openssl(&["x509", "-in", "signer.pem", "-noout", "-subject", "-nameopt", "RFC2253"], work.path());
        assert!(String::from_utf8_lossy(&subject.stdout).contains(&person.curp));
        // Anyone with the llave binary verifies it offline, root and CRL fetched from the hub;
        // it names the person who signed, not whoever presents it.
        let verify = llave(&app, &["verify", work.path().join("licencia.pdf").to_str().unwrap(),
            work.path().join("licencia.pdf.p7s").to_str().unwrap(), "--root", &format!("{base}/pki/root.pem"),
            "--crl", &format!("{base}/pki/crl"), "--json"], None);
        let verdict = json_of(&verify);
        assert_eq!(verdict["status"], "valid");
        assert_eq!(verdict["crl_checked"], true);
        assert_eq!(verdict["signer"]["serial_number"], person.curp.as_str());
        assert_ne!(verdict["signer"]["serial_number"], Person::synthetic(632).curp.as_str());
        // The person sees the act in their history.
        let history = browser.get("/firma").await.body;
        assert!(history.contains("licencia.pdf") && history.contains("a petición de una entidad"), "{history}");

        // The entity learns who signed, as it knows them.
        let client = app.state.store.client_by_id(&semovi.client_id).await.unwrap().unwrap();
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
        let sub = llave::oidc::tokens::subject(&app.state, &client, account.id.0);
        assert_eq!(result["sub"], sub.as_str());
        // A request addressed to someone else cannot be answered by this person.
        let (_, addressed) = api(&base, "/api/signature-requests", Some(&token), serde_json::json!({
            "document_name": "ajeno.pdf", "document_sha256": sha, "summary": "Para otra persona",
            "redirect_uri": REDIRECT, "sub": "otra-persona"})).await;
        let path = crate::oidc::support::local(addressed["sign_url"].as_str().unwrap());
        assert_eq!(browser.get(&path).await.status, StatusCode::FORBIDDEN);
        let (_, mine) = api(&base, "/api/signature-requests", Some(&token), serde_json::json!({
            "document_name": "mio.pdf", "document_sha256": sha, "summary": "Para ti", "redirect_uri": REDIRECT, "sub": sub})).await;
        let path = crate::oidc::support::local(mine["sign_url"].as_str().unwrap());
        assert_eq!(browser.get(&path).await.status, StatusCode::OK);

        // A refusal goes back as access_denied.
        let (_, refused) = api(&base, "/api/signature-requests", Some(&token), serde_json::json!({
            "document_name": "otro.pdf", "document_sha256": sha, "summary": "Otro", "redirect_uri": REDIRECT})).await;
        let path = crate::oidc::support::local(refused["sign_url"].as_str().unwrap());
        let answer = browser.submit(&path, &path, &[("decision", "refuse")]).await;
        assert_eq!(callback_params(answer.location().unwrap())["error"], "access_denied");
        app.finish().await;
    }
}

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A SoftHSM store of the test's own: a configuration file and a token directory in a
/// temporary directory, with one fresh token. SoftHSM reads `SOFTHSM2_CONF` when the module
/// is initialised; with the one system-wide store, the SQLite and PostgreSQL variants
/// initialised tokens at once and sometimes broke each other's ("Could not get info about
/// the token in slot …"). The store goes with the temporary directory.
pub(crate) struct SoftHsmStore {
    dir: tempfile::TempDir,
    label: String,
}

impl SoftHsmStore {
    pub(crate) fn new() -> SoftHsmStore {
        assert!(
            Path::new(SOFTHSM).is_file(),
            "{SOFTHSM} is missing: run `apt-get install -y softhsm2` (.ci/run does it)"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tokens")).unwrap();
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        let store = SoftHsmStore { dir, label: "llave-test".into() };
        let made = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", &store.label, "--pin", "1234", "--so-pin", "12345678"])
            .env("SOFTHSM2_CONF", store.conf())
            .output()
            .expect("softhsm2-util");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        store
    }

    fn conf(&self) -> std::path::PathBuf {
        self.dir.path().join("softhsm2.conf")
    }
}

impl SoftHsmStore {
    /// A `llave` command on the test app's data directory and database, with the CA keys
    /// on this store's token: `SOFTHSM2_CONF` names it, so only that process loads the
    /// module with it (this test binary's environment stays as it is).
    pub(crate) fn llave(&self, app: &TestApp) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_llave"));
        // llave refuses LLAVE_* variables it does not know (the tests' own): only these.
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("LLAVE_")) {
            command.env_remove(name);
        }
        command
            .arg("--data-dir")
            .arg(app.dir.path().join("data"))
            .arg("--database")
            .arg(&app.database_url)
            .env("SOFTHSM2_CONF", self.conf())
            .env("LLAVE_SIGNATURE__PKCS11__MODULE", SOFTHSM)
            .env("LLAVE_SIGNATURE__PKCS11__TOKEN_LABEL", &self.label)
            .env("LLAVE_SIGNATURE__PKCS11__PIN", "1234")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }
}

both_backends! {
    async fn the_ca_keys_live_on_a_pkcs11_token(backend: Backend) {
        use base64::Engine;
        use crate::oidc::support::{REDIRECT, post_form};
        // The real binary, as an operator runs it: `llave pki init` makes both CA keys on a
        // token of the test's own SoftHSM store, then `llave serve` seals a document for an
        // entity with a certificate the token's issuing key signed, and publishes a CRL the
        // token signed; OpenSSL checks both against the root.
        let token = SoftHsmStore::new();
        let app = TestApp::new(backend).await;
        let init = token.llave(&app).args(["pki", "init", "--json"]).output().await.unwrap();
        let init = json_of(&init);
        assert_eq!(init["created"], true);
        for name in ["root", "issuing"] {
            let stored = app.state.store.authority(name).await.unwrap().unwrap();
            assert!(stored.key_sealed.starts_with("pkcs11:id="), "the {name} key stays on the token: {}", stored.key_sealed);
        }
        llave::admin::entity::add_entity(&app.state, "semovi", "Secretaría de Movilidad").await.unwrap();
        let new = llave::oidc::clients::NewClient {
            entity: "semovi".into(),
            name: "Sellos de Semovi".into(),
            redirect_uris: vec![REDIRECT.into()],
            ..Default::default()
        };
        let client = llave::admin::entity::add_client(&app.state.store, &new).await.unwrap();
        let secret = client.client_secret.clone().unwrap();

        // A free port, found by binding it and letting it go for llave to take.
        let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let base = format!("http://{listen}");
        let log = app.dir.path().join("serve.log");
        let mut server = token
            .llave(&app)
            .args(["serve", "--listen", &listen.to_string(), "--issuer", &base])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let http = crate::oidc::support::http();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = server.try_wait() {
                panic!("llave serve exited ({status}): {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "llave serve not ready: {}", std::fs::read_to_string(&log).unwrap_or_default());
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }

        let (status, body) = post_form(&base, "/token", &[("grant_type", "client_credentials"), ("scope", "signatures")],
            Some((&client.client_id, &secret))).await;
        assert_eq!(status, 200, "{body}");
        let access_token = body["access_token"].as_str().unwrap();
        let document = b"Licencia sellada con llaves en un HSM\n".to_vec();
        let (status, sealed) = api(&base, "/api/seals", Some(access_token), serde_json::json!({
            "document_name": "licencia.txt", "document_sha256": cms::hex(&cms::sha256(&document))})).await;
        assert_eq!(status, 201, "{sealed}");
        let p7s = base64::engine::general_purpose::STANDARD.decode(sealed["signature"].as_str().unwrap()).unwrap();
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("licencia.txt"), &document).unwrap();
        std::fs::write(work.path().join("licencia.txt.p7s"), &p7s).unwrap();
        let root = http.get(format!("{base}/pki/root.pem")).send().await.unwrap().text().await.unwrap();
        assert_eq!(root, init["root_pem"].as_str().unwrap(), "the root pki init made on the token");
        std::fs::write(work.path().join("root.pem"), &root).unwrap();
        let issuing = http.get(format!("{base}/pki/issuing.pem")).send().await.unwrap().text().await.unwrap();
        std::fs::write(work.path().join("issuing.pem"), &issuing).unwrap();
        let verified = openssl(&["cms", "-verify", "-binary", "-content", "licencia.txt", "-inform", "DER",
            "-in", "licencia.txt.p7s", "-CAfile", "root.pem", "-purpose", "any", "-out", "/dev/null",
            "-signer", "seal.pem"], work.path());
        assert!(ok(&verified), "{}", String::from_utf8_lossy(&verified.stderr));
        // The seal's certificate was signed by the issuing key on the token, whose own
        // certificate the root key on the token signed.
        let chain = openssl(&["verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "-purpose", "any", "seal.pem"], work.path());
        assert!(ok(&chain), "{}{}", String::from_utf8_lossy(&chain.stdout), String::from_utf8_lossy(&chain.stderr));
        let subject = openssl(&["x509", "-in", "seal.pem", "-noout", "-subject", "-nameopt", "RFC2253"], work.path());
        assert!(String::from_utf8_lossy(&subject.stdout).contains("semovi"), "{}", String::from_utf8_lossy(&subject.stdout));
        // The CRL, signed on the token too, checks out against the issuing CA.
        let crl = http.get(format!("{base}/pki/crl")).send().await.unwrap().bytes().await.unwrap();
        std::fs::write(work.path().join("issuing.crl"), &crl).unwrap();
        let form = if crl.starts_with(b"-----") { "PEM" } else { "DER" };
        let checked = openssl(&["crl", "-in", "issuing.crl", "-inform", form, "-CAfile", "issuing.pem", "-noout"], work.path());
        assert!(ok(&checked), "{}", String::from_utf8_lossy(&checked.stderr));
        assert!(String::from_utf8_lossy(&checked.stderr).contains("verify OK")
            || String::from_utf8_lossy(&checked.stdout).contains("verify OK"), "{}", String::from_utf8_lossy(&checked.stderr));

        server.kill().await.unwrap();
        app.finish().await;
    }
}

both_backends! {
    async fn documents_over_the_limit_are_refused_whole(backend: Backend) {
        use axum::http::StatusCode;
        let app = TestApp::builder(backend).config(|c| c.signature.max_document_bytes = 1000).build().await;
        llave::signature::init(&app.state).await.unwrap();
        let (person, _) = verified_person(&app, 651).await;
        let mut browser = app.client();
        browser.sign_in(&person.curp, &person.password).await;
        let csrf = input_value(&browser.get("/firma").await.body, "csrf_token").unwrap();
        let big = vec![b'x'; 2000];
        let refused = browser.post_multipart("/firma/documento", &[("csrf_token", &csrf)], &[("document", "big.pdf", &big)]).await;
        assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
        let api = browser.post_multipart("/api/signatures/verify", &[], &[("document", "big.pdf", &big), ("signature", "s.p7s", b"x")]).await;
        assert_eq!(api.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(app.count("SELECT COUNT(*) FROM signing_acts").await, 0);
        let fits = browser.post_multipart("/firma/documento", &[("csrf_token", &csrf)], &[("document", "ok.pdf", &big[..900])]).await;
        assert_eq!(fits.status, StatusCode::SEE_OTHER);
        app.finish().await;
    }
}

both_backends! {
    async fn a_changed_document_is_told_apart_from_the_certificates_validity(backend: Backend) {
        use axum::http::StatusCode;
        let app = TestApp::new(backend).await;
        json_of(&llave(&app, &["pki", "init", "--json"], None));
        let (person, account) = verified_person(&app, 631).await;
        let document = b"Constancia de no adeudo\nFolio 77\n".to_vec();
        let (_, p7s) = llave::signature::sign_as_person(
            &app.state, &account, "constancia.txt", &cms::sha256(&document), "person", None, &Actor::cli(),
        ).await.unwrap();
        let work = tempfile::tempdir().unwrap();
        let (changed_file, p7s_file) = (work.path().join("changed.txt"), work.path().join("doc.txt.p7s"));
        let mut changed = document.clone();
        changed[3] ^= 1;
        std::fs::write(&changed_file, &changed).unwrap();
        std::fs::write(&p7s_file, &p7s).unwrap();
        let files = [changed_file.to_str().unwrap(), p7s_file.to_str().unwrap()];

        // The CLI: the document changed; the certificate was valid when it signed all the same.
        let (valid, verdict) = verify_cli(&app, &files);
        assert!(!valid);
        assert_eq!(verdict["status"], "document_changed");
        assert_eq!(verdict["document_unchanged"], false, "{verdict}");
        assert_eq!(verdict["certificate_valid_then"], true, "{verdict}");
        assert_eq!(verdict["signer"]["serial_number"], person.curp.as_str());
        let text = llave(&app, &["verify", files[0], files[1]], None);
        assert!(!text.status.success());
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("Document:    changed after signing"), "{text}");
        assert!(text.contains("Valid then:  yes"), "{text}");
        // Unchanged, both say so.
        std::fs::write(&changed_file, &document).unwrap();
        let (valid, verdict) = verify_cli(&app, &files);
        assert!(valid, "{verdict}");
        assert_eq!((verdict["document_unchanged"].clone(), verdict["certificate_valid_then"].clone()), (true.into(), true.into()));

        // The page: each line says only what was checked.
        let mut anyone = app.client();
        let form = anyone.get("/verificar").await;
        let csrf = input_value(&form.body, "csrf_token").unwrap();
        let page = anyone.post_multipart("/verificar", &[("csrf_token", &csrf)],
            &[("document", "doc.txt", &changed), ("signature", "doc.txt.p7s", &p7s)]).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("El documento cambió"), "{}", page.body);
        assert!(page.body.contains("<dt>Certificado válido al firmar</dt><dd id=\"valid-then\">sí</dd>"), "{}", page.body);
        assert!(page.body.contains("<dd id=\"document-unchanged\">no: cambió después de firmarse</dd>"), "{}", page.body);
        // A damaged signature checks neither: the page does not guess.
        let mut damaged = p7s.clone();
        let at = damaged.len() - 10;
        damaged[at] ^= 0x55;
        let page = anyone.post_multipart("/verificar", &[("csrf_token", &csrf)],
            &[("document", "doc.txt", &document), ("signature", "doc.txt.p7s", &damaged)]).await;
        assert!(page.body.contains("<dd id=\"valid-then\">no verificado</dd>"), "{}", page.body);
        app.finish().await;
    }
}
