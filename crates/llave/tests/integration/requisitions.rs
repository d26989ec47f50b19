//! Accountable requisitions (issue 16): an authority's requester files with a 30-day
//! non-disclosure order, two different approvers approve (the same one cannot twice, the
//! requester never), the authority downloads once a package OpenSSL decrypts with the
//! authority's key and verifies against the hub's root, the person's file shows the
//! requisition only once the order ends (the injectable clock), and a missed destruction
//! attestation is flagged on the API and in `llave requisitions report`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::*;

/// The authority's RSA key and self-signed encryption certificate, made by OpenSSL.
pub fn authority_certificate(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    certificate_with(dir, name, &["-newkey", "rsa:2048"])
}

/// The same with an EC key on P-256.
pub fn ec_authority_certificate(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    certificate_with(dir, name, &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
}

fn certificate_with(dir: &Path, name: &str, key_args: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
    let (key, cert) = (dir.join(format!("{name}-key.pem")), dir.join(format!("{name}-cert.pem")));
    let made = Command::new("openssl")
        .args(["req", "-x509"])
        .args(key_args)
        .args(["-nodes", "-days", "365", "-subj"])
        .arg(format!("/CN={name}/O=Autoridad de prueba"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    (key, cert)
}

/// Registers an authority with `llave authority add`.
pub fn add_authority(app: &TestApp, slug: &str, cert: &Path) -> std::process::Output {
    llave(
        app,
        &[
            "authority",
            "add",
            "--slug",
            slug,
            "--name",
            &format!("Fiscalía {slug}"),
            "--mandate",
            "Código Nacional de Procedimientos Penales, art. 252",
            "--certificate",
            cert.to_str().unwrap(),
            "--json",
        ],
        None,
    )
}

/// A person holding the roles `grants` (each the arguments after `staff grant --curp X`),
/// signed in with a second factor, as an in-process browser.
pub async fn staff(app: &TestApp, seed: u64, grants: &[&[&str]]) -> (Client, Person) {
    let person = Person::synthetic(seed);
    sign_up_and_confirm(app, &person).await;
    for grant in grants {
        let mut args = vec!["staff", "grant", "--curp", person.curp.as_str()];
        args.extend_from_slice(grant);
        let out = llave(app, &args, None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut browser = app.client();
    assert_eq!(browser.sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
    let (_, codes) = enrol_totp(&mut browser).await;
    let fields = [("identifier", person.curp.as_str()), ("password", &person.password), ("next", "/account")];
    assert_eq!(browser.submit("/signin?reauth=1", "/signin", &fields).await.location(), Some("/signin/second"));
    let second = browser.submit("/signin/second", "/signin/second", &[("recovery_code", &codes[0])]).await;
    assert_eq!(second.location(), Some("/account"));
    (browser, person)
}

/// A JSON API call: status and body (`null` when the body is not JSON).
pub async fn api(browser: &mut Client, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let response = match body {
        Some(body) => {
            browser.request_typed(method, path, Some(body.to_string().into_bytes()), "application/json").await
        }
        None => browser.request(method, path, None).await,
    };
    (response.status, serde_json::from_str(&response.body).unwrap_or(Value::Null))
}

/// The city's date `days` from now on the app's clock.
pub fn day_after(app: &TestApp, days: i64) -> String {
    llave::calendar::format_date(llave::calendar::city_date(app.clock().now() + days * 86_400))
}

pub fn filing(authority: &str, curp: &str, nondisclosure_until: &str) -> Value {
    json!({
        "authority": authority,
        "curp": curp,
        "kinds": ["proof_of_residence"],
        "date_from": "2020-01-01",
        "date_to": "2099-12-31",
        "law": "Código Nacional de Procedimientos Penales",
        "article": "Art. 252, fracción III",
        "case_number": "CI-FIPE/77/2026",
        "justification": "Investigación de un fraude inmobiliario: domicilio declarado por la persona.",
        "nondisclosure_until": nondisclosure_until,
    })
}

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed")
}

both_backends! {
    async fn a_requisition_needs_two_approvals_is_delivered_once_sealed_and_encrypted_and_the_person_is_told_when_the_order_ends(backend: Backend) {
        // Attestations fall due 20 days after approval: past due once the 30-day order ends.
        let world = crate::records::world_with(TestApp::builder(backend).config(|c| c.requisitions.attestation_days = 20)).await;
        let app = &world.app;
        llave::signature::init(&app.state).await.unwrap();
        let person = Person::synthetic(9301);
        sign_up_and_confirm(app, &person).await;
        world.residence_at_b(&person.curp).await;

        let work = tempfile::tempdir().unwrap();
        let (key, cert) = authority_certificate(work.path(), "fiscalia");
        let added = json_of(&add_authority(app, "fiscalia", &cert));
        assert_eq!(added["key_algorithm"], "rsa");
        let again = add_authority(app, "fiscalia", &cert);
        assert!(!again.status.success(), "a second authority with the same slug is refused");
        assert!(String::from_utf8_lossy(&again.stderr).contains("registered already"));
        let listed = json_of(&llave(app, &["authority", "list", "--json"], None));
        assert_eq!(listed["authorities"][0]["slug"], "fiscalia");

        let (mut requester, _) = staff(app, 9302, &[&["--role", "requester", "--authority", "fiscalia"]]).await;
        let (mut a, _) = staff(app, 9303, &[&["--role", "requisition-approver"]]).await;
        let (mut b, _) = staff(app, 9304, &[&["--role", "requisition-approver"]]).await;
        // Someone who both files and approves may still not approve what they filed.
        let (mut both, _) = staff(
            app,
            9305,
            &[&["--role", "requester", "--authority", "fiscalia"], &["--role", "requisition-approver"]],
        )
        .await;

        // Filed with a 30-day non-disclosure order.
        let order_end = day_after(app, 30);
        let (status, filed) = api(&mut requester, "POST", "/api/requisitions", Some(filing("fiscalia", &person.curp, &order_end))).await;
        assert_eq!(status, StatusCode::CREATED, "{filed}");
        let id = filed["id"].as_str().unwrap().to_string();
        assert_eq!(filed["status"], "pending");
        let (status, own) = api(&mut both, "POST", "/api/requisitions", Some(filing("fiscalia", &person.curp, &order_end))).await;
        assert_eq!(status, StatusCode::CREATED, "{own}");
        let (status, refused) = api(&mut both, "POST", &format!("/api/requisitions/{}/approve", own["id"].as_str().unwrap()), None).await;
        assert_eq!((status, refused["error"].as_str()), (StatusCode::FORBIDDEN, Some("own_requisition")));

        // Nothing is delivered before both approvals.
        let path = format!("/api/requisitions/{id}");
        let (status, early) = api(&mut requester, "GET", &format!("{path}/package"), None).await;
        assert_eq!((status, early["error"].as_str()), (StatusCode::CONFLICT, Some("not_approved")));
        // The requester is no approver.
        let (status, _) = api(&mut requester, "POST", &format!("{path}/approve"), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let (status, first) = api(&mut a, "POST", &format!("{path}/approve"), None).await;
        assert_eq!((status, first["approval"].as_i64()), (StatusCode::OK, Some(1)), "{first}");
        let (status, twice) = api(&mut a, "POST", &format!("{path}/approve"), None).await;
        assert_eq!((status, twice["error"].as_str()), (StatusCode::CONFLICT, Some("approved_already")), "A cannot approve again");
        let (status, _) = api(&mut requester, "GET", &format!("{path}/package"), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "one approval is not enough");
        let (status, second) = api(&mut b, "POST", &format!("{path}/approve"), None).await;
        assert_eq!((status, second["approval"].as_i64()), (StatusCode::OK, Some(2)), "{second}");
        let (_, shown) = api(&mut requester, "GET", &path, None).await;
        assert_eq!(shown["status"], "approved");
        assert!(shown["attestation_due"].as_i64().is_some());

        // Delivered once: the package decrypts with the authority's key, its seal verifies
        // against the hub's root, and it holds the record.
        // A link followed from another site cannot spend the one download.
        requester.extra_headers.push(("sec-fetch-site".into(), "cross-site".into()));
        assert_eq!(requester.request("GET", &format!("{path}/package"), None).await.status, StatusCode::FORBIDDEN);
        requester.extra_headers.pop();
        let package = requester.request("GET", &format!("{path}/package"), None).await;
        assert_eq!(package.status, StatusCode::OK, "{}", package.body);
        let (status, again) = api(&mut requester, "GET", &format!("{path}/package"), None).await;
        assert_eq!((status, again["error"].as_str()), (StatusCode::CONFLICT, Some("delivered_already")));
        std::fs::write(work.path().join("package.p7m"), &package.bytes).unwrap();
        let decrypted = openssl(work.path(), &[
            "cms", "-decrypt", "-inform", "DER", "-in", "package.p7m", "-recip", cert.to_str().unwrap(),
            "-inkey", key.to_str().unwrap(), "-out", "sealed.p7m",
        ]);
        assert!(decrypted.status.success(), "openssl cms -decrypt: {}", String::from_utf8_lossy(&decrypted.stderr));
        let root = llave::signature::init(&app.state).await.unwrap().root_pem;
        std::fs::write(work.path().join("hub-ca.pem"), root).unwrap();
        let verified = openssl(work.path(), &[
            "cms", "-verify", "-inform", "DER", "-in", "sealed.p7m", "-CAfile", "hub-ca.pem", "-out", "records.json",
        ]);
        assert!(verified.status.success(), "openssl cms -verify: {}", String::from_utf8_lossy(&verified.stderr));
        let records: Value = serde_json::from_slice(&std::fs::read(work.path().join("records.json")).unwrap()).unwrap();
        assert_eq!(records["requisition"], id.as_str());
        assert_eq!(records["person"]["curp"], person.curp.as_str());
        assert_eq!(records["records"][0]["kind"], "proof_of_residence");
        assert_eq!(records["records"][0]["versions"][0]["attributes"]["address"], crate::records::ADDRESS);
        // The hub keeps no copy: only the package's hash and which records went.
        let delivered: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind = 'requisition_delivered'")
            .fetch_one(app.state.store.pool()).await.unwrap();
        assert_eq!(delivered, 1, "the download is an event");

        // The person's file does not show it while the order runs (nor its events)...
        let mut citizen = app.client();
        citizen.sign_in(&person.curp, &person.password).await;
        let file = citizen.get("/expediente").await;
        assert_eq!(file.status, StatusCode::OK);
        assert!(!file.body.contains("CI-FIPE/77/2026"), "hidden during the order");
        assert!(!file.body.contains("Fiscalía fiscalia"));
        let security = citizen.get("/account").await;
        assert!(!security.body.to_lowercase().contains("requisición"), "no trace on the account page either");
        // ...but the log has it from the start.
        let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE kind LIKE 'requisition%'")
            .fetch_one(app.state.store.pool()).await.unwrap();
        assert!(logged >= 4, "filed, two approvals, delivered: {logged}");
        let filed_event: i64 = sqlx::query_scalar("SELECT MIN(id) FROM events WHERE kind = 'requisition_filed'")
            .fetch_one(app.state.store.pool()).await.unwrap();
        crate::audit::sequence(app).await;
        assert!(app.state.store.audit_leaf_of_event(filed_event).await.unwrap().is_some(), "a leaf of the public log");

        // After 31 days it does, with what was delivered and when.
        app.clock().advance(Duration::from_secs(31 * 86_400));
        let file = citizen.get("/expediente").await;
        assert!(file.body.contains("CI-FIPE/77/2026"), "told when the order ends");
        assert!(file.body.contains("Fiscalía fiscalia"));
        assert!(file.body.contains("Código Nacional de Procedimientos Penales"));
        assert!(file.body.contains("Qué se entregó"), "what was delivered, and when");
        let export: Value = serde_json::from_str(&citizen.get("/expediente.json").await.body).unwrap();
        assert_eq!(export["requisitions"][0]["case_number"], "CI-FIPE/77/2026", "in the export too");

        // The attestation was due 20 days after approval: flagged on the API and in the report.
        let (_, listed) = api(&mut a, "GET", "/api/requisitions", None).await;
        let overdue: Vec<&str> = listed["overdue"].as_array().unwrap().iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(overdue, vec![id.as_str()], "{listed}");
        let page = a.get("/requisiciones").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Vencida: la autoridad no ha dado constancia de destrucción"), "flagged on the staff page");
        let as_of = day_after(app, 0);
        let report = json_of(&llave(app, &["requisitions", "report", "--as-of", &as_of, "--json"], None));
        assert_eq!(report["overdue"], 1, "{report}");
        let text = llave(app, &["requisitions", "report", "--as-of", &as_of], None);
        assert!(String::from_utf8_lossy(&text.stdout).contains("OVERDUE"));
        // Once attested, no longer overdue; and only once.
        let attestation = json!({"attestation": "destroyed", "basis": "Borrado seguro el día de la audiencia"});
        let (status, _) = api(&mut requester, "POST", &format!("{path}/attestation"), Some(attestation.clone())).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = api(&mut requester, "POST", &format!("{path}/attestation"), Some(attestation)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let report = json_of(&llave(app, &["requisitions", "report", "--as-of", &as_of, "--json"], None));
        assert_eq!(report["overdue"], 0, "{report}");
        world.app.finish().await;
    }
}

both_backends! {
    async fn requisitions_refuse_other_authorities_rejected_ones_and_orders_past_the_maximum(backend: Backend) {
        let app = TestApp::new(backend).await;
        llave::signature::init(&app.state).await.unwrap();
        let person = Person::synthetic(9311);
        sign_up_and_confirm(&app, &person).await;
        let work = tempfile::tempdir().unwrap();
        let (_, cert) = authority_certificate(work.path(), "fiscalia");
        json_of(&add_authority(&app, "fiscalia", &cert));
        json_of(&add_authority(&app, "sat", &cert));
        // Not a certificate, or a bad slug: refused with the reason, nothing registered.
        let not_cert = work.path().join("not.pem");
        std::fs::write(&not_cert, "hola").unwrap();
        let refused = add_authority(&app, "otra", &not_cert);
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("not an X.509 certificate"));
        let refused = add_authority(&app, "Con Espacios", &cert);
        assert!(!refused.status.success());
        assert_eq!(json_of(&llave(&app, &["authority", "list", "--json"], None))["authorities"].as_array().unwrap().len(), 2);
        // A requester needs an authority that exists; an unknown role scope is refused.
        let nobody = llave(&app, &["staff", "grant", "--curp", &person.curp, "--role", "requester", "--authority", "nadie"], None);
        assert!(!nobody.status.success());
        let no_scope = llave(&app, &["staff", "grant", "--curp", &person.curp, "--role", "requester"], None);
        assert!(!no_scope.status.success());

        let (mut requester, _) = staff(&app, 9312, &[&["--role", "requester", "--authority", "fiscalia"]]).await;
        let (mut other, _) = staff(&app, 9313, &[&["--role", "requester", "--authority", "sat"]]).await;
        let (mut a, _) = staff(&app, 9314, &[&["--role", "requisition-approver"]]).await;

        // Another authority's requester can neither file for it nor see or download its requisitions.
        let (status, refused) = api(&mut other, "POST", "/api/requisitions", Some(filing("fiscalia", &person.curp, ""))).await;
        assert_eq!((status, refused["error"].as_str()), (StatusCode::FORBIDDEN, Some("not_requester")));
        // Orders longer than requisitions.max_nondisclosure_days (180) are refused, tied to the field.
        let (status, long) = api(&mut requester, "POST", "/api/requisitions", Some(filing("fiscalia", &person.curp, &day_after(&app, 181)))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{long}");
        assert!(long["fields"]["nondisclosure_until"].as_str().unwrap().contains("180"), "{long}");
        let (status, _) = api(&mut requester, "POST", "/api/requisitions", Some(json!({"authority": "fiscalia"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, filed) = api(&mut requester, "POST", "/api/requisitions", Some(filing("fiscalia", &person.curp, &day_after(&app, 180)))).await;
        assert_eq!(status, StatusCode::CREATED, "{filed}");
        let path = format!("/api/requisitions/{}", filed["id"].as_str().unwrap());
        assert_eq!(api(&mut other, "GET", &path, None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(api(&mut other, "GET", &format!("{path}/package"), None).await.0, StatusCode::FORBIDDEN);

        // A rejection needs reasons; a rejected requisition is never delivered nor approved.
        let (status, _) = api(&mut a, "POST", &format!("{path}/reject"), Some(json!({"reason": " "}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = api(&mut a, "POST", &format!("{path}/reject"), Some(json!({"reason": "Sin orden judicial"}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, refused) = api(&mut requester, "GET", &format!("{path}/package"), None).await;
        assert_eq!((status, refused["error"].as_str()), (StatusCode::CONFLICT, Some("not_approved")));
        let (status, refused) = api(&mut a, "POST", &format!("{path}/approve"), None).await;
        assert_eq!((status, refused["error"].as_str()), (StatusCode::CONFLICT, Some("not_pending")));

        // Without a second factor, nothing.
        let mut plain = app.client();
        plain.sign_in(&person.curp, &person.password).await;
        assert_eq!(api(&mut plain, "GET", "/api/requisitions", None).await.0, StatusCode::FORBIDDEN);
        app.finish().await;
    }
}

both_backends! {
    async fn extending_a_non_disclosure_order_needs_two_new_approvals_and_is_logged(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(9321);
        sign_up_and_confirm(&app, &person).await;
        let work = tempfile::tempdir().unwrap();
        let (_, cert) = authority_certificate(work.path(), "fiscalia");
        json_of(&add_authority(&app, "fiscalia", &cert));
        let (mut requester, _) = staff(&app, 9322, &[&["--role", "requester", "--authority", "fiscalia"]]).await;
        let (mut a, _) = staff(&app, 9323, &[&["--role", "requisition-approver"]]).await;
        let (mut b, _) = staff(&app, 9324, &[&["--role", "requisition-approver"]]).await;
        let (_, filed) = api(&mut requester, "POST", "/api/requisitions", Some(filing("fiscalia", &person.curp, &day_after(&app, 10)))).await;
        let path = format!("/api/requisitions/{}", filed["id"].as_str().unwrap());
        // Nothing to extend before it is approved.
        let (status, _) = api(&mut requester, "POST", &format!("{path}/extension"), Some(json!({"until": day_after(&app, 60)}))).await;
        assert_eq!(status, StatusCode::CONFLICT);
        api(&mut a, "POST", &format!("{path}/approve"), None).await;
        api(&mut b, "POST", &format!("{path}/approve"), None).await;
        // Too far, or not later than the current end: refused.
        let (status, _) = api(&mut requester, "POST", &format!("{path}/extension"), Some(json!({"until": day_after(&app, 200)}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = api(&mut requester, "POST", &format!("{path}/extension"), Some(json!({"until": day_after(&app, 5)}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, asked) = api(&mut requester, "POST", &format!("{path}/extension"), Some(json!({"until": day_after(&app, 60)}))).await;
        assert_eq!(status, StatusCode::OK, "{asked}");
        // Two new approvals, by two different approvers, never the requester.
        assert_eq!(api(&mut requester, "POST", &format!("{path}/extension/approve"), None).await.0, StatusCode::FORBIDDEN);
        let (_, first) = api(&mut a, "POST", &format!("{path}/extension/approve"), None).await;
        assert_eq!(first["approval"], 1);
        let (status, again) = api(&mut a, "POST", &format!("{path}/extension/approve"), None).await;
        assert_eq!((status, again["error"].as_str()), (StatusCode::CONFLICT, Some("approved_already")));
        let (_, second) = api(&mut b, "POST", &format!("{path}/extension/approve"), None).await;
        assert_eq!(second["approval"], 2);
        let (_, shown) = api(&mut requester, "GET", &path, None).await;
        assert_eq!(shown["nondisclosure_until"], asked["extension_until"], "the new end is in effect");
        assert!(shown["extension_until"].is_null());
        let logged: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE kind IN ('requisition_extension_asked', 'requisition_extended')",
        )
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
        assert_eq!(logged, 3, "asked, and its two approvals");
        // The person is not told when the first order would have ended, but when the new one does.
        let mut citizen = app.client();
        citizen.sign_in(&person.curp, &person.password).await;
        app.clock().advance(Duration::from_secs(11 * 86_400));
        assert!(!citizen.get("/expediente").await.body.contains("CI-FIPE/77/2026"));
        app.clock().advance(Duration::from_secs(50 * 86_400));
        assert!(citizen.get("/expediente").await.body.contains("CI-FIPE/77/2026"));
        app.finish().await;
    }
}

/// Packages reach authorities with RSA and with EC (P-256) certificates: OpenSSL decrypts
/// both with the authority's key (key transport, and RFC 5753 key agreement).
#[test]
fn packages_encrypt_to_rsa_and_ec_certificates_and_openssl_decrypts_them() {
    let work = tempfile::tempdir().unwrap();
    let content = "el documento sellado, tal cual".as_bytes();
    for (name, (key, cert)) in
        [("rsa", authority_certificate(work.path(), "rsa")), ("ec", ec_authority_certificate(work.path(), "ec"))]
    {
        let pem = std::fs::read(&cert).unwrap();
        let (_, algorithm) = llave::requisitions::authorities::parse_certificate(&pem).unwrap();
        assert_eq!(algorithm, name);
        let authority = llave::store::requisitions::Authority {
            slug: name.into(),
            name: name.into(),
            mandate: "Ley".into(),
            certificate_pem: String::from_utf8(pem).unwrap(),
            key_algorithm: algorithm.into(),
            created_at: 0,
        };
        let package = llave::requisitions::package::encrypt(&authority, content).unwrap();
        let file = work.path().join(format!("{name}.p7m"));
        std::fs::write(&file, package).unwrap();
        let out = work.path().join(format!("{name}.out"));
        let decrypted = openssl(
            work.path(),
            &[
                "cms",
                "-decrypt",
                "-inform",
                "DER",
                "-in",
                file.to_str().unwrap(),
                "-recip",
                cert.to_str().unwrap(),
                "-inkey",
                key.to_str().unwrap(),
                "-out",
                out.to_str().unwrap(),
            ],
        );
        assert!(decrypted.status.success(), "{name}: {}", String::from_utf8_lossy(&decrypted.stderr));
        assert_eq!(std::fs::read(&out).unwrap(), content, "{name}");
    }
    // Not a certificate, or a key of neither kind: refused with the reason.
    assert!(
        llave::requisitions::authorities::parse_certificate(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
        .is_err()
    );
}

both_backends! {
    async fn the_requisitions_page_files_rejects_delivers_and_attests_with_errors_tied_to_their_fields(backend: Backend) {
        let app = TestApp::new(backend).await;
        llave::signature::init(&app.state).await.unwrap();
        let person = Person::synthetic(9331);
        sign_up_and_confirm(&app, &person).await;
        let work = tempfile::tempdir().unwrap();
        let (_, cert) = authority_certificate(work.path(), "fiscalia");
        json_of(&add_authority(&app, "fiscalia", &cert));
        let (mut requester, _) = staff(&app, 9332, &[&["--role", "requester", "--authority", "fiscalia"]]).await;
        let (mut a, _) = staff(&app, 9333, &[&["--role", "requisition-approver"]]).await;
        let (mut b, _) = staff(&app, 9334, &[&["--role", "requisition-approver"]]).await;

        // Filing with problems: 400, each message by its field, the values kept.
        let bad = requester.submit("/requisiciones", "/requisiciones", &[("curp", "NOT-A-CURP"), ("law", "Ley X")]).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.body.contains("id=\"curp-error\"") && bad.body.contains("aria-invalid=\"true\""), "{}", bad.body);
        assert!(bad.body.contains("id=\"kinds-error\"") && bad.body.contains("value=\"Ley X\""));
        let fields = |case: &'static str| {
            vec![
                ("curp", person.curp.clone()),
                ("kinds", "proof_of_residence".to_string()),
                ("kinds", "official_id".to_string()),
                ("date_from", "2020-01-01".to_string()),
                ("date_to", "2099-12-31".to_string()),
                ("law", "Ley de Amparo".to_string()),
                ("article", "Art. 121".to_string()),
                ("case_number", case.to_string()),
                ("justification", "Un juicio de amparo necesita el domicilio de la persona.".to_string()),
            ]
        };
        for case in ["AMP-1/2026", "AMP-2/2026"] {
            let owned = fields(case);
            let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let filed = requester.submit("/requisiciones", "/requisiciones", &borrowed).await;
            assert_eq!(filed.location(), Some("/requisiciones?hecho=presentada"), "{}", filed.body);
        }
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM requisitions ORDER BY case_number")
            .fetch_all(app.state.store.pool())
            .await
            .unwrap();
        let stored = app.state.store.requisition(&ids[0]).await.unwrap().unwrap();
        assert_eq!(stored.kinds, vec!["official_id".to_string(), "proof_of_residence".to_string()], "both boxes ticked");

        // A rejection without reasons: the reason field says why; with them, rejected.
        let empty = a.submit("/requisiciones", &format!("/requisiciones/{}/rechazar", ids[1]), &[("reason", "")]).await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST);
        assert!(empty.body.contains(&format!("id=\"reason-{}-error\"", ids[1])), "{}", empty.body);
        let rejected = a.submit("/requisiciones", &format!("/requisiciones/{}/rechazar", ids[1]), &[("reason", "Sin fundamento")]).await;
        assert_eq!(rejected.location(), Some("/requisiciones?hecho=rechazada"));
        let refused = requester.submit("/requisiciones", &format!("/requisiciones/{}/paquete", ids[1]), &[]).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "a rejected requisition is never delivered");
        assert!(refused.body.contains("no se entrega nada"), "{}", refused.body);

        // Two approvals on the page, then the download button answers the package, once.
        for approver in [&mut a, &mut b] {
            let done = approver.submit("/requisiciones", &format!("/requisiciones/{}/aprobar", ids[0]), &[]).await;
            assert_eq!(done.location(), Some("/requisiciones?hecho=aprobada"));
        }
        let page = requester.get("/requisiciones").await;
        assert!(page.body.contains("Descargar el paquete"));
        let package = requester.submit("/requisiciones", &format!("/requisiciones/{}/paquete", ids[0]), &[]).await;
        assert_eq!(package.status, StatusCode::OK);
        assert!(package.headers["content-type"].to_str().unwrap().starts_with("application/pkcs7-mime"));
        let again = requester.submit("/requisiciones", &format!("/requisiciones/{}/paquete", ids[0]), &[]).await;
        assert_eq!(again.status, StatusCode::CONFLICT);

        // The attestation: a basis is required, tied to its field; then recorded.
        let missing = requester
            .submit("/requisiciones", &format!("/requisiciones/{}/constancia", ids[0]), &[("attestation", "destroyed"), ("basis", "")])
            .await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert!(missing.body.contains(&format!("id=\"basis-{}-error\"", ids[0])), "{}", missing.body);
        let attested = requester
            .submit("/requisiciones", &format!("/requisiciones/{}/constancia", ids[0]), &[("attestation", "retained"), ("basis", "Art. 90: juicio en curso")])
            .await;
        assert_eq!(attested.location(), Some("/requisiciones?hecho=constancia"));
        assert!(requester.get("/requisiciones").await.body.contains("Art. 90: juicio en curso"));

        // Someone without a requisition role: a page that says so.
        let mut plain = app.client();
        plain.sign_in(&person.curp, &person.password).await;
        let page = plain.get("/requisiciones").await;
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.body.contains("no tiene un papel en las requisiciones"), "{}", page.body);
        app.finish().await;
    }
}

both_backends! {
    async fn two_approvers_approving_at_once_give_the_two_approvals(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(9341);
        sign_up_and_confirm(&app, &person).await;
        let work = tempfile::tempdir().unwrap();
        let (_, cert) = authority_certificate(work.path(), "fiscalia");
        json_of(&add_authority(&app, "fiscalia", &cert));
        let (mut requester, _) = staff(&app, 9342, &[&["--role", "requester", "--authority", "fiscalia"]]).await;
        let (mut a, _) = staff(&app, 9343, &[&["--role", "requisition-approver"]]).await;
        let (mut b, _) = staff(&app, 9344, &[&["--role", "requisition-approver"]]).await;
        for round in 0..3 {
            let (_, filed) = api(&mut requester, "POST", "/api/requisitions", Some(filing("fiscalia", &person.curp, ""))).await;
            let path = format!("/api/requisitions/{}/approve", filed["id"].as_str().unwrap());
            let ((sa, ja), (sb, jb)) = tokio::join!(api(&mut a, "POST", &path, None), api(&mut b, "POST", &path, None));
            assert_eq!((sa, sb), (StatusCode::OK, StatusCode::OK), "round {round}: {ja} {jb}");
            let mut stages = [ja["approval"].as_i64(), jb["approval"].as_i64()];
            stages.sort();
            assert_eq!(stages, [Some(1), Some(2)], "round {round}");
            let (_, shown) = api(&mut requester, "GET", &format!("/api/requisitions/{}", filed["id"].as_str().unwrap()), None).await;
            assert_eq!(shown["status"], "approved");
        }
        app.finish().await;
    }
}
