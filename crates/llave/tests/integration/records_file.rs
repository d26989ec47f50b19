//! The citizen file: a person sees and exports every record entities hold about them (with
//! history) and every access to them, withdraws consents, files ARCO requests that reach
//! only the holding entity with a business-day deadline; nobody sees another person's file.

use axum::http::StatusCode;
use llave::calendar::{Calendar, city_date, format_date};
use serde_json::{Value, json};

use crate::both_backends;
use crate::oidc::support::{Entity, entity, signed_in_person};
use crate::support::*;

/// A tiny but real PDF, as entities attach them.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

/// A back-end access token of `entity` with `scope`.
async fn token(base: &str, entity: &Entity, scope: &str) -> String {
    crate::oidc::support::service_token(base, entity, scope).await
}

/// An API call with a bearer token: status and JSON body.
async fn api(base: &str, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    crate::oidc::support::api_call(base, method, path, Some(token), body).await
}

/// Procedure `licencia-a` of semovi, which requires a proof of residence; its legal basis
/// lets semovi reuse one another entity holds without consent when `reuse_by_law`.
async fn catalog(app: &TestApp, reuse_by_law: bool) {
    let procedure = json!({
        "slug": "licencia-a", "entity": "semovi", "name": "Licencia de conducir tipo A",
        "description": "Permiso para conducir automóviles particulares en la Ciudad de México.",
        "who_may_apply": "Personas mayores de 18 años.",
        "requirements": [
            {"kind": "proof_of_residence", "description": "No mayor a tres meses", "stage": "application"}
        ],
        "legal_basis": [{"law": "Reglamento de Tránsito de la Ciudad de México", "article": "58", "allows_reuse": reuse_by_law}],
        "steps": ["Agenda una cita"],
        "response_deadline": "Inmediato",
        "validity": "3 años",
        "cost": {"kind": "amount", "mxn": 1000.5},
        "variants": [],
        "channels": {"online_url": "https://licencias.semovi.cdmx.gob.mx/", "offices": []},
        "level": "urn:llave:loa:2",
        "yearly_volume": 600000,
        "tags": [],
        "status": "published"
    });
    let text = format!("{{\"procedures\": [\n{procedure}\n]}}\n");
    llave::catalog::import(&app.state.store, &text, "test", 1).await.unwrap();
    if reuse_by_law {
        crate::legal_basis::approve_reuse(app, "licencia-a").await;
    }
}

/// Two entities whose clients may name people by CURP: semovi (reads) and sacmex (holds).
async fn entities(app: &TestApp, base: &str) -> (Entity, Entity) {
    (entity(app, base, "semovi", true).await, entity(app, base, "sacmex", true).await)
}

/// Stores a proof of residence about `curp` in sacmex's store: the record id.
async fn residence(base: &str, sacmex: &Entity, curp: &str, street: &str) -> String {
    use base64::Engine;
    let write = token(base, sacmex, "records:write").await;
    let body = json!({
        "curp": curp, "kind": "proof_of_residence",
        "attributes": {"domicilio": street, "colonia": "Centro"},
        "valid_until": "2027-12-31",
        "file": {"name": "boleta.pdf", "content_type": "application/pdf",
                 "content_base64": base64::engine::general_purpose::STANDARD.encode(PDF)},
    });
    let (status, record) = api(base, "POST", "/api/records", &write, Some(body)).await;
    assert_eq!(status, 201, "{record}");
    record["record_id"].as_str().unwrap().to_string()
}

async fn account_id(app: &TestApp, curp: &str) -> i64 {
    app.state.store.account_by_curp(curp).await.unwrap().unwrap().id.0
}

both_backends! {
    async fn the_file_and_its_export_hold_every_record_with_history_and_every_access(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let (semovi, sacmex) = entities(&app, &base).await;
        catalog(&app, true).await;
        let (person, mut browser) = signed_in_person(&app, 11).await;
        let (other, mut stranger) = signed_in_person(&app, 12).await;
        let me = account_id(&app, &person.curp).await;

        // sacmex stores a proof of residence, then a second version; semovi an id of its own.
        let record = residence(&base, &sacmex, &person.curp, "Calle Uno 1").await;
        let write = token(&base, &sacmex, "records:write").await;
        let (status, updated) = api(&base, "PUT", &format!("/api/records/{record}"), &write,
            Some(json!({"attributes": {"domicilio": "Calle Dos 2", "colonia": "Roma"}}))).await;
        assert_eq!((status, updated["version"].as_i64()), (200, Some(2)), "{updated}");
        let semovi_write = token(&base, &semovi, "records:write").await;
        let (status, own) = api(&base, "POST", "/api/records", &semovi_write,
            Some(json!({"curp": person.curp, "kind": "official_id", "attributes": {"folio": "A-123"}}))).await;
        assert_eq!(status, 201, "{own}");
        let own = own["record_id"].as_str().unwrap().to_string();
        // The other person has a record of their own.
        let theirs = residence(&base, &sacmex, &other.curp, "Avenida Ajena 9").await;

        // semovi reuses sacmex's record on its legal basis: one read, then a refused replay.
        let lookups = token(&base, &semovi, "lookups").await;
        let (status, found) = api(&base, "POST", "/api/lookups", &lookups,
            Some(json!({"curp": person.curp, "procedure": "licencia-a", "kind": "proof_of_residence"}))).await;
        assert_eq!((status, found["found"].as_bool()), (200, Some(true)), "{found}");
        let grant = found["grant"].as_str().unwrap();
        let read = json!({"grant": grant, "procedure": "licencia-a"});
        let (status, shared) = api(&base, "POST", &format!("/api/records/{record}/read"), &lookups, Some(read.clone())).await;
        assert_eq!(status, 200, "{shared}");
        let (status, _) = api(&base, "POST", &format!("/api/records/{record}/read"), &lookups, Some(read)).await;
        assert_eq!(status, 403);
        let logged = app.state.store.accesses_about(me).await.unwrap();
        assert_eq!(logged.iter().filter(|a| a.outcome == "read").count(), 1);
        assert!(logged.iter().any(|a| a.outcome == "refused"));

        // The page: records grouped by entity, current values, history, accesses.
        let page = browser.get("/expediente").await;
        assert_eq!(page.status, StatusCode::OK);
        let html = unescape(&page.body);
        assert!(html.contains("<h1>Mi expediente</h1>"), "{html}");
        for expected in ["Entidad sacmex", "Entidad semovi", "Calle Dos 2", "Calle Uno 1", "A-123", "boleta.pdf",
            "Licencia de conducir tipo A", "Consultado", "Rechazado", "Reglamento de Tránsito de la Ciudad de México, 58",
            "Ejercer derechos ARCO", &format!("/expediente/registros/{record}/archivo")] {
            assert!(html.contains(expected), "{expected} missing from the file");
        }
        assert!(!html.contains("Avenida Ajena"));
        // Keys in words: "Colonia" (a label), "Domicilio" (a key without one, as words).
        assert!(html.contains("<dt>Colonia</dt>") && html.contains("<dt>Domicilio</dt>"), "{html}");
        assert!(!html.contains("<dt>colonia</dt>"), "{html}");
        // Grouped: sacmex's heading, then its record; semovi's, then its own.
        let sacmex_at = html.find("<h3>Entidad sacmex</h3>").unwrap();
        let semovi_at = html.find("<h3>Entidad semovi</h3>").unwrap();
        let record_at = html.find(&format!("id=\"registro-{record}\"")).unwrap();
        let own_at = html.find(&format!("id=\"registro-{own}\"")).unwrap();
        if sacmex_at < semovi_at {
            assert!(sacmex_at < record_at && record_at < semovi_at && semovi_at < own_at);
        } else {
            assert!(semovi_at < own_at && own_at < sacmex_at && sacmex_at < record_at);
        }

        // The JSON export: every record with every version, every access.
        let export = browser.get("/expediente.json").await;
        assert_eq!(export.status, StatusCode::OK);
        assert!(export.headers["content-disposition"].to_str().unwrap().starts_with("attachment;"));
        assert_eq!(export.headers["cache-control"], "no-store");
        assert!(export.headers["content-type"].to_str().unwrap().starts_with("application/json"));
        let file: Value = serde_json::from_slice(&export.bytes).unwrap();
        assert_eq!(file["person"]["curp"], person.curp.as_str());
        let records = file["records"].as_array().unwrap();
        let indexed = app.state.store.records_about(me).await.unwrap();
        assert_eq!(records.len(), indexed.len());
        assert_eq!(records.len(), 2);
        let residence_json = records.iter().find(|r| r["record_id"] == record.as_str()).unwrap();
        assert_eq!(residence_json["entity"], "sacmex");
        assert_eq!(residence_json["current_version"], 2);
        let versions = residence_json["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[0]["attributes"]["domicilio"], "Calle Uno 1");
        assert_eq!(versions[1]["attributes"]["domicilio"], "Calle Dos 2");
        assert_eq!(versions[1]["file"]["name"], "boleta.pdf");
        assert!(versions[1]["file"]["url"].as_str().unwrap().ends_with(&format!("/expediente/registros/{record}/archivo?version=2")));
        assert!(versions[1]["file"].get("content_base64").is_none());
        assert!(records.iter().any(|r| r["record_id"] == own.as_str() && r["entity"] == "semovi"));
        let accesses = file["accesses"].as_array().unwrap();
        assert_eq!(accesses.len(), logged.len());
        let read_access = accesses.iter().find(|a| a["outcome"] == "read").unwrap();
        assert_eq!(read_access["record_id"], record.as_str());
        assert_eq!(read_access["reader_entity"], "semovi");
        assert_eq!(read_access["holder_entity"], "sacmex");
        assert_eq!(read_access["procedure"], "licencia-a");
        assert!(accesses.iter().any(|a| a["outcome"] == "refused" && a["reader_entity"] == "semovi"));
        for section in ["consents", "signatures", "entities_signed_in", "arco_requests"] {
            assert!(file[section].is_array(), "{section}");
        }
        assert!(file["generated_at"].as_i64().unwrap() > 0);

        // The printable document, and the record's file.
        let printable = browser.get("/expediente.html").await;
        assert_eq!(printable.status, StatusCode::OK);
        assert!(printable.headers["content-disposition"].to_str().unwrap().starts_with("attachment;"));
        assert!(printable.body.contains("Calle Dos 2") && !printable.body.contains("<form"));
        let download = browser.get(&format!("/expediente/registros/{record}/archivo")).await;
        assert_eq!((download.status, download.bytes.as_slice()), (StatusCode::OK, PDF));
        let first = browser.get(&format!("/expediente/registros/{record}/archivo?version=1")).await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(browser.get(&format!("/expediente/registros/{own}/archivo")).await.status, StatusCode::NOT_FOUND);
        // Reading one's own file is no third-party access.
        assert_eq!(app.state.store.accesses_about(me).await.unwrap().len(), logged.len());

        // Another person sees none of it, and cannot download it.
        let theirs_page = unescape(&stranger.get("/expediente").await.body);
        assert!(theirs_page.contains("Avenida Ajena 9") && !theirs_page.contains("Calle Dos 2") && !theirs_page.contains("A-123"));
        assert_eq!(stranger.get(&format!("/expediente/registros/{record}/archivo")).await.status, StatusCode::NOT_FOUND);
        let their_export: Value = serde_json::from_slice(&stranger.get("/expediente.json").await.bytes).unwrap();
        assert_eq!(their_export["records"].as_array().unwrap().len(), 1);
        assert_eq!(their_export["records"][0]["record_id"], theirs.as_str());
        assert!(their_export["accesses"].as_array().unwrap().is_empty());
        // Nor can someone signed out.
        let mut nobody = app.client();
        assert_ne!(nobody.get("/expediente").await.status, StatusCode::OK);
        assert_ne!(nobody.get("/expediente.json").await.status, StatusCode::OK);
        assert_ne!(nobody.get(&format!("/expediente/registros/{record}/archivo")).await.status, StatusCode::OK);

        // In English too.
        browser.accept_language = Some("en".into());
        browser.cookies.remove("llave_lang");
        let english = browser.get("/expediente").await.body;
        assert!(english.contains("My file") && english.contains("Records by entity"), "{english}");
        app.finish().await;
    }
}

both_backends! {
    async fn a_withdrawn_consent_stops_lookups_and_nobody_else_can_withdraw_it(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let (semovi, sacmex) = entities(&app, &base).await;
        catalog(&app, false).await;
        let (person, mut browser) = signed_in_person(&app, 21).await;
        let (_, mut stranger) = signed_in_person(&app, 22).await;
        residence(&base, &sacmex, &person.curp, "Calle Uno 1").await;
        let semovi_id = app.state.store.entity_by_slug("semovi").await.unwrap().unwrap().id;
        let sacmex_id = app.state.store.entity_by_slug("sacmex").await.unwrap().unwrap().id;
        let consent = llave::store::records::ReuseConsent {
            id: "consent-test-1".into(),
            account_id: account_id(&app, &person.curp).await,
            reader_entity_id: semovi_id,
            procedure: "licencia-a".into(),
            kind: "proof_of_residence".into(),
            holder_entity_id: sacmex_id,
            granted_at: unix_now() as i64,
            withdrawn_at: None,
        };
        app.state.store.add_reuse_consent(&consent).await.unwrap();
        let lookups = token(&base, &semovi, "lookups").await;
        let ask = json!({"curp": person.curp, "procedure": "licencia-a", "kind": "proof_of_residence"});
        let (status, found) = api(&base, "POST", "/api/lookups", &lookups, Some(ask.clone())).await;
        assert_eq!((status, found["found"].as_bool()), (200, Some(true)), "{found}");

        // The consent is on the person's file, with its button.
        let page = unescape(&browser.get("/expediente").await.body);
        assert!(page.contains("Retirar permiso") && page.contains("/expediente/permisos/consent-test-1/retirar"));
        assert!(!unescape(&stranger.get("/expediente").await.body).contains("consent-test-1"));

        // Someone else cannot withdraw it: nothing changes, and the page says so.
        let refused = stranger.submit("/expediente", "/expediente/permisos/consent-test-1/retirar", &[]).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
        assert!(unescape(&refused.body).contains("No encontramos ese permiso"));
        let (status, _) = api(&base, "POST", "/api/lookups", &lookups, Some(ask.clone())).await;
        assert_eq!(status, 200);
        // Without the CSRF token, neither can the person.
        assert_eq!(browser.post("/expediente/permisos/consent-test-1/retirar", &[]).await.status, StatusCode::FORBIDDEN);

        // The person withdraws it; look-ups then need consent again.
        let done = browser.submit("/expediente", "/expediente/permisos/consent-test-1/retirar", &[]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER);
        let after = unescape(&browser.get(done.location().unwrap()).await.body);
        assert!(after.contains("Retiraste el permiso") && after.contains("Retirado el"));
        assert!(!after.contains("/expediente/permisos/consent-test-1/retirar"));
        let (status, refused) = api(&base, "POST", "/api/lookups", &lookups, Some(ask)).await;
        assert_eq!((status, refused["error"].as_str()), (403, Some("consent_required")));
        let export: Value = serde_json::from_slice(&browser.get("/expediente.json").await.bytes).unwrap();
        assert!(export["consents"][0]["withdrawn_at"].is_i64());
        // Withdrawing it again changes nothing.
        let again = browser.submit("/expediente", "/expediente/permisos/consent-test-1/retirar", &[]).await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
        app.finish().await;
    }
}

both_backends! {
    async fn arco_requests_get_a_business_day_deadline_and_reach_only_the_holding_entity(backend: Backend) {
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let (semovi, sacmex) = entities(&app, &base).await;
        let (person, mut browser) = signed_in_person(&app, 31).await;
        let (_, mut stranger) = signed_in_person(&app, 32).await;
        let me = account_id(&app, &person.curp).await;
        let record = residence(&base, &sacmex, &person.curp, "Calle Uno 1").await;

        // Not on someone else's record, nor without a message or a right.
        let refused = stranger.submit("/expediente", "/expediente/arco",
            &[("record_id", &record), ("right", "cancellation"), ("message", "Bórrenlo")]).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
        let empty = browser.submit("/expediente", "/expediente/arco",
            &[("record_id", &record), ("right", "rectification"), ("message", "  ")]).await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST);
        let wrong = browser.submit("/expediente", "/expediente/arco",
            &[("record_id", &record), ("right", "deletion"), ("message", "x")]).await;
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
        let long = "a".repeat(2001);
        let too_long = browser.submit("/expediente", "/expediente/arco",
            &[("record_id", &record), ("right", "access"), ("message", &long)]).await;
        assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
        assert_eq!(app.count("SELECT COUNT(*) FROM arco_requests").await, 0);

        // The person files a rectification: due 20 business days after the day it is filed.
        let before = unix_now() as i64;
        let filed = browser.submit("/expediente", "/expediente/arco",
            &[("record_id", &record), ("right", "rectification"), ("message", "Mi domicilio cambió a Calle Dos 2")]).await;
        assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
        let after = unix_now() as i64;
        let stored = app.state.store.arco_requests_of(me).await.unwrap();
        assert_eq!(stored.len(), 1);
        let request = &stored[0];
        assert!(request.filed_at >= before && request.filed_at <= after);
        let calendar = Calendar::new(&[]);
        let due = calendar.add_business_days(city_date(request.filed_at), 20);
        assert_eq!(request.due_date, format_date(due));
        assert_eq!((request.status.as_str(), request.right.as_str()), ("pending", "rectification"));
        let location = filed.location().unwrap().to_string();
        assert!(location.starts_with("/expediente?"), "{location}");
        let page = unescape(&browser.get(&location).await.body);
        assert!(page.contains("Enviamos tu solicitud ARCO") && page.contains(&request.due_date) && page.contains("En trámite"));

        // sacmex's queue shows it with its deadline; semovi's does not.
        let read = token(&base, &sacmex, "records:read").await;
        let (status, queue) = api(&base, "GET", "/api/arco-requests", &read, None).await;
        assert_eq!(status, 200, "{queue}");
        let listed = &queue["requests"].as_array().unwrap()[0];
        assert_eq!(queue["requests"].as_array().unwrap().len(), 1);
        assert_eq!(listed["id"], request.id.as_str());
        assert_eq!(listed["record_id"], record.as_str());
        assert_eq!(listed["kind"], "proof_of_residence");
        assert_eq!(listed["right"], "rectification");
        assert_eq!(listed["due_date"], request.due_date.as_str());
        let today = city_date(unix_now() as i64);
        assert_eq!(listed["business_days_left"].as_i64(), Some(calendar.business_days_between(today, due)));
        assert_eq!(listed["overdue"], false);
        assert_eq!(listed["status"], "pending");
        assert_eq!(listed["sub"], oidc::subject::pairwise_sub(&app.state.subject_key, "sacmex", me).as_str());
        let semovi_read = token(&base, &semovi, "records:read").await;
        let (status, none) = api(&base, "GET", "/api/arco-requests", &semovi_read, None).await;
        assert_eq!((status, none["requests"].as_array().map(Vec::len)), (200, Some(0)));

        // Only the holder answers, once, with records:write.
        let answer_path = format!("/api/arco-requests/{}/answer", request.id);
        let answer = json!({"answer": "Actualizamos tu domicilio.", "status": "answered"});
        let semovi_write = token(&base, &semovi, "records:write").await;
        let (status, _) = api(&base, "POST", &answer_path, &semovi_write, Some(answer.clone())).await;
        assert_eq!(status, 404);
        let (status, _) = api(&base, "POST", &answer_path, &read, Some(answer.clone())).await;
        assert_eq!(status, 403);
        let write = token(&base, &sacmex, "records:write").await;
        let (status, _) = api(&base, "POST", &answer_path, &write, Some(json!({"answer": "x", "status": "maybe"}))).await;
        assert_eq!(status, 400);
        let (status, answered) = api(&base, "POST", &answer_path, &write, Some(answer.clone())).await;
        assert_eq!(status, 200, "{answered}");
        assert_eq!((answered["status"].as_str(), answered["answer"].as_str()), (Some("answered"), Some("Actualizamos tu domicilio.")));
        assert!(answered["business_days_left"].is_null());
        let (status, again) = api(&base, "POST", &answer_path, &write, Some(answer)).await;
        assert_eq!((status, again["error"].as_str()), (409, Some("already_answered")));
        let (status, _) = api(&base, "POST", "/api/arco-requests/no-such-request/answer", &write,
            Some(json!({"answer": "x", "status": "rejected"}))).await;
        assert_eq!(status, 404);

        // The person sees the answer; nobody else does.
        let page = unescape(&browser.get("/expediente").await.body);
        assert!(page.contains("Actualizamos tu domicilio.") && page.contains("Respondida"));
        let export: Value = serde_json::from_slice(&browser.get("/expediente.json").await.bytes).unwrap();
        assert_eq!(export["arco_requests"][0]["status"], "answered");
        assert_eq!(export["arco_requests"][0]["due_date"], request.due_date.as_str());
        assert!(!unescape(&stranger.get("/expediente").await.body).contains("Actualizamos tu domicilio"));
        app.finish().await;
    }
}
