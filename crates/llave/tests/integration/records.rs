//! Hub and spokes through the real API: an entity stores a record about a person in its
//! own store, another entity looks it up for one of its procedures (with the person's
//! consent given at sign-in, or a legal basis), reads it once through a grant, and every
//! refusal and read lands in the access log. The record's contents are in the holder's
//! store only, sealed.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::oidc::support::{Entity, api_call, callback_params, entity, post_form, service_token, start};
use crate::support::*;

pub const ADDRESS: &str = "Calle Falsa 123, colonia Centro";
/// The smallest thing that passes for a PDF.
pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

pub fn procedure(slug: &str, entity: &str, kinds: &[&str], allows_reuse: bool, result_kind: Option<&str>) -> Value {
    json!({
        "slug": slug, "entity": entity, "name": format!("Trámite {slug}"),
        "description": "Un trámite de prueba.", "who_may_apply": "Cualquier persona.",
        "requirements": kinds.iter().map(|k| json!({"kind": k, "description": "original", "stage": "application"})).collect::<Vec<_>>(),
        "legal_basis": [{"law": format!("Ley de {slug}"), "article": "Art. 1", "allows_reuse": allows_reuse}],
        "steps": ["Solicita"], "response_deadline": "10 días hábiles",
        "cost": {"kind": "free"}, "channels": {"offices": ["Oficina central"]}, "level": "urn:llave:loa:1",
        "yearly_volume": 10, "tags": [], "status": "published", "result_kind": result_kind,
    })
}

/// Two entities, B (`alcaldia`, names people by CURP) and A (`semovi`), a third (`otra`),
/// and a catalog: B's `constancia` gives a proof of residence; A's `licencia` asks for one
/// (consent needed) and A's `permiso` too, under a law that allows reuse without consent.
pub struct World {
    pub app: TestApp,
    pub base: String,
    pub b: Entity,
    pub a: Entity,
    pub c: Entity,
}

pub async fn world(backend: Backend) -> World {
    world_with(TestApp::builder(backend)).await
}

pub async fn world_with(builder: TestAppBuilder) -> World {
    let (app, base) = builder.serve_as_issuer().await;
    let b = entity(&app, &base, "alcaldia", true).await;
    let a = entity(&app, &base, "semovi", false).await;
    let c = entity(&app, &base, "otra", false).await;
    let catalog = json!({"procedures": [
        procedure("constancia", "alcaldia", &["official_id"], false, Some("proof_of_residence")),
        procedure("licencia", "semovi", &["official_id", "proof_of_residence"], false, None),
        procedure("permiso", "semovi", &["proof_of_residence"], true, None),
        procedure("otro-tramite", "otra", &["proof_of_residence"], false, None),
    ]});
    llave::catalog::import(&app.state.store, &catalog.to_string(), "test", llave::crypto::now()).await.unwrap();
    World { app, base, b, a, c }
}

impl World {
    pub async fn token(&self, entity: &Entity, scope: &str) -> String {
        service_token(&self.base, entity, scope).await
    }

    /// B stores a proof of residence about the person with this CURP.
    pub async fn residence_at_b(&self, curp: &str) -> Value {
        let token = self.token(&self.b, "records:write").await;
        use base64::Engine;
        let (status, body) = api_call(
            &self.base,
            "POST",
            "/api/records",
            Some(&token),
            Some(json!({
                "curp": curp, "kind": "proof_of_residence", "procedure": "constancia",
                "attributes": {"address": ADDRESS, "postal_code": "06000"},
                "valid_from": "2026-01-01", "valid_until": "2099-12-31",
                "file": {"name": "constancia.pdf", "content_type": "application/pdf",
                         "content_base64": base64::engine::general_purpose::STANDARD.encode(PDF)},
            })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// The person signs in to A with a request to reuse `kinds` for `procedure`; on the
    /// consent page they allow (ticking every reuse offered) or not. Returns the page's
    /// text and the `sub` A receives.
    pub async fn sign_in_to_a(&self, browser: &mut Client, procedure: &str, allow_reuse: bool) -> (String, String) {
        let started = start(&self.a, &["openid"]);
        let details = json!([{"type": "record_reuse", "procedure": procedure, "kinds": ["proof_of_residence"]}]);
        let path =
            format!("{}&authorization_details={}", started.path, crate::oidc::support::urlencode(&details.to_string()));
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let request = input_value(&page.body, "request").unwrap();
        let token = input_value(&page.body, "csrf_token").unwrap();
        let mut fields = vec![("csrf_token", token.as_str()), ("request", request.as_str()), ("decision", "allow")];
        let reuse = input_value(&page.body, "reuse");
        if allow_reuse && let Some(value) = reuse.as_deref() {
            fields.push(("reuse", value));
        }
        let answer = browser.post("/authorize/consent", &fields).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let params = callback_params(answer.location().unwrap());
        let (status, tokens) = post_form(
            &self.base,
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", crate::oidc::support::REDIRECT),
                ("code_verifier", started.verifier.secret()),
            ],
            Some((&self.a.client_id, &self.a.client_secret)),
        )
        .await;
        assert_eq!(status, 200, "{tokens}");
        let claims = crate::oidc::support::jwt_payload(tokens["id_token"].as_str().unwrap());
        (page.body, claims["sub"].as_str().unwrap().to_string())
    }

    pub async fn lookup(&self, token: &str, who: Value, procedure: &str, kind: &str) -> (u16, Value) {
        let mut body = json!({"procedure": procedure, "kind": kind});
        for (k, v) in who.as_object().unwrap() {
            body[k] = v.clone();
        }
        api_call(&self.base, "POST", "/api/lookups", Some(token), Some(body)).await
    }

    pub async fn read(&self, token: &str, record: &str, grant: &str, procedure: &str) -> (u16, Value) {
        api_call(
            &self.base,
            "POST",
            &format!("/api/records/{record}/read"),
            Some(token),
            Some(json!({"grant": grant, "procedure": procedure})),
        )
        .await
    }

    pub async fn entity_id(&self, slug: &str) -> i64 {
        self.app.state.store.entity_by_slug(slug).await.unwrap().unwrap().id
    }

    pub async fn account_id(&self, curp: &str) -> i64 {
        self.app.state.store.account_by_curp(curp).await.unwrap().unwrap().id.0
    }
}

both_backends! {
    async fn a_record_given_to_b_is_read_by_a_once_with_consent_and_logged(backend: Backend) {
        let w = world(backend).await;
        let (person, mut browser) = crate::oidc::support::signed_in_person(&w.app, 7001).await;
        let stored = w.residence_at_b(&person.curp).await;
        let record = stored["record_id"].as_str().unwrap().to_string();
        assert_eq!(stored["version"], 1);
        assert_eq!(stored["kind"], "proof_of_residence");
        assert_eq!(stored["file"]["sha256"], llave::records::hex_sha256(PDF));
        let attributes = serde_json::to_vec(&stored["attributes"]).unwrap();
        assert_eq!(stored["sha256"], llave::records::hex_sha256(&attributes));

        // Signing in to A with a reuse request: the consent page names B, K and P.
        let (page, sub) = w.sign_in_to_a(&mut browser, "licencia", true).await;
        assert!(page.contains("Entidad alcaldia"), "{page}");
        assert!(page.contains("Comprobante de domicilio"), "{page}");
        assert!(page.contains("Trámite licencia"), "{page}");

        let lookups = w.token(&w.a, "lookups").await;
        let (status, found) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["found"], true);
        assert_eq!(found["locator"]["entity"], "alcaldia");
        assert_eq!(found["locator"]["record_id"], record.as_str());
        assert_eq!(found["basis"], "consent");
        assert!(found.get("attributes").is_none() && !found.to_string().contains(ADDRESS), "a locator, never contents");
        let grant = found["grant"].as_str().unwrap().to_string();

        // The wrong procedure, the wrong record, the wrong entity: refused, grant kept.
        let (status, body) = w.read(&lookups, &record, &grant, "permiso").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("invalid_grant")), "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("another procedure"));
        let other = w.residence_at_b(&crate::oidc::support::signed_in_person(&w.app, 7002).await.0.curp).await;
        let (status, body) = w.read(&lookups, other["record_id"].as_str().unwrap(), &grant, "licencia").await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("another record"));
        let c_lookups = w.token(&w.c, "lookups").await;
        let (status, body) = w.read(&c_lookups, &record, &grant, "licencia").await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("another entity"));
        let records_read = w.token(&w.a, "records:read").await;
        let (status, body) = w.read(&records_read, &record, &grant, "licencia").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")), "{body}");

        // The right read: contents and the file, once.
        let (status, read) = w.read(&lookups, &record, &grant, "licencia").await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(read["attributes"]["address"], ADDRESS);
        assert_eq!(read["entity"], "alcaldia");
        use base64::Engine;
        let file = base64::engine::general_purpose::STANDARD.decode(read["file"]["content_base64"].as_str().unwrap()).unwrap();
        assert_eq!(file, PDF);
        let (status, body) = w.read(&lookups, &record, &grant, "licencia").await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("already used"));

        // An expired grant.
        let (_, again) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        sqlx::query("UPDATE record_grants SET expires_at = expires_at - 100000 WHERE spent_at IS NULL")
            .execute(w.app.state.store.pool()).await.unwrap();
        let (status, body) = w.read(&lookups, &record, again["grant"].as_str().unwrap(), "licencia").await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("expired"));

        // The access log: one read, by A, for licencia, on consent; and the refusals.
        let log = w.app.state.store.accesses_about(w.account_id(&person.curp).await).await.unwrap();
        let reads: Vec<_> = log.iter().filter(|a| a.outcome == "read").collect();
        assert_eq!(reads.len(), 1, "{log:?}");
        assert_eq!(reads[0].record_id.as_deref(), Some(record.as_str()));
        assert_eq!(reads[0].reader_entity_id, Some(w.entity_id("semovi").await));
        assert_eq!(reads[0].procedure.as_deref(), Some("licencia"));
        assert!(reads[0].legal_basis.as_deref().unwrap().starts_with("consent "));
        let refusals = log.iter().filter(|a| a.outcome == "refused").count();
        assert!(refusals >= 5, "{log:?}");
        w.app.finish().await;
    }
}

both_backends! {
    async fn lookups_are_answered_only_within_the_catalog_and_with_consent_or_a_legal_basis(backend: Backend) {
        let w = world(backend).await;
        let (person, mut browser) = crate::oidc::support::signed_in_person(&w.app, 7011).await;
        w.residence_at_b(&person.curp).await;
        let lookups = w.token(&w.a, "lookups").await;

        // Signed in to A, but the reuse box left unticked: no consent.
        let (_, sub) = w.sign_in_to_a(&mut browser, "licencia", false).await;
        let (status, body) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("consent_required")), "{body}");
        // A kind the catalog does not list for the procedure; another entity's procedure;
        // a procedure not in the catalog; a person A does not know; CURP without the right.
        let (status, body) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "marriage_certificate").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("kind_not_required")), "{body}");
        let (status, body) = w.lookup(&lookups, json!({"sub": sub}), "constancia", "official_id").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("not_your_procedure")), "{body}");
        let (status, body) = w.lookup(&lookups, json!({"sub": sub}), "no-existe", "official_id").await;
        assert_eq!((status, body["error"].as_str()), (404, Some("unknown_procedure")), "{body}");
        let (status, body) = w.lookup(&lookups, json!({"sub": "nadie"}), "licencia", "proof_of_residence").await;
        assert_eq!((status, body["error"].as_str()), (404, Some("unknown_person")), "{body}");
        let (status, body) = w.lookup(&lookups, json!({"curp": person.curp}), "licencia", "proof_of_residence").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("curp_not_allowed")), "{body}");
        let (status, body) = w.lookup(&w.token(&w.a, "records:read").await, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")), "{body}");

        // A law that allows reuse, once a legal reviewer approved it (legal_basis.rs):
        // answered without consent, the basis named.
        crate::legal_basis::approve_reuse(&w.app, "permiso").await;
        let (status, found) = w.lookup(&lookups, json!({"sub": sub}), "permiso", "proof_of_residence").await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["basis"], "legal_basis");
        assert_eq!(found["legal_basis"], "Ley de permiso, Art. 1");
        let (status, read) = w.read(&lookups, found["locator"]["record_id"].as_str().unwrap(), found["grant"].as_str().unwrap(), "permiso").await;
        assert_eq!(status, 200, "{read}");

        // Consent given on a later sign-in: the page asks again, and now it is answered.
        let (page, _) = w.sign_in_to_a(&mut browser, "licencia", true).await;
        assert!(page.contains("name=\"reuse\""), "{page}");
        let (status, found) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        assert_eq!(status, 200, "{found}");
        // …and not asked a third time: the consent stands.
        let started = start(&w.a, &["openid"]);
        let details = json!([{"type": "record_reuse", "procedure": "licencia", "kinds": ["proof_of_residence"]}]);
        let again = browser.get(&format!("{}&authorization_details={}", started.path, crate::oidc::support::urlencode(&details.to_string()))).await;
        assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);

        // Bad authorization details go back to the entity as invalid_authorization_details.
        let started = start(&w.a, &["openid"]);
        for bad in [json!([{"type": "record_reuse", "procedure": "constancia", "kinds": ["official_id"]}]), json!([{"type": "other"}]), json!("x")] {
            let answer = browser.get(&format!("{}&authorization_details={}", started.path, crate::oidc::support::urlencode(&bad.to_string()))).await;
            let params = callback_params(answer.location().unwrap());
            assert_eq!(params["error"], "invalid_authorization_details", "{bad}");
        }

        // A person with no such record: nothing found (after consent, through the legal basis).
        let (_, mut other_browser) = crate::oidc::support::signed_in_person(&w.app, 7012).await;
        let (_, other_sub) = w.sign_in_to_a(&mut other_browser, "permiso", true).await;
        let (status, body) = w.lookup(&lookups, json!({"sub": other_sub}), "permiso", "proof_of_residence").await;
        assert_eq!((status, body), (200, json!({"found": false})));
        w.app.finish().await;
    }
}

both_backends! {
    async fn an_entity_updates_and_withdraws_its_own_records_only(backend: Backend) {
        let w = world(backend).await;
        let (person, mut browser) = crate::oidc::support::signed_in_person(&w.app, 7021).await;
        let stored = w.residence_at_b(&person.curp).await;
        let id = stored["record_id"].as_str().unwrap().to_string();
        let write = w.token(&w.b, "records:write").await;
        let read = w.token(&w.b, "records:read").await;

        // A new version; the file carried over; old versions kept.
        let (status, v2) = api_call(&w.base, "PUT", &format!("/api/records/{id}"), Some(&write),
            Some(json!({"version": 1, "attributes": {"address": "Avenida Siempre Viva 742"}, "valid_until": "2099-01-01"}))).await;
        assert_eq!(status, 200, "{v2}");
        assert_eq!(v2["version"], 2);
        assert_eq!(v2["file"]["name"], "constancia.pdf");
        let (status, conflict) = api_call(&w.base, "PUT", &format!("/api/records/{id}"), Some(&write),
            Some(json!({"version": 1, "attributes": {"address": "x"}}))).await;
        assert_eq!((status, conflict["error"].as_str()), (409, Some("version_conflict")), "{conflict}");
        let (status, history) = api_call(&w.base, "GET", &format!("/api/records/{id}/versions"), Some(&read), None).await;
        assert_eq!(status, 200, "{history}");
        assert_eq!(history["versions"].as_array().unwrap().len(), 2);
        assert_eq!(history["versions"][0]["attributes"]["address"], ADDRESS);
        let (_, old) = api_call(&w.base, "GET", &format!("/api/records/{id}?version=1"), Some(&read), None).await;
        assert_eq!(old["attributes"]["address"], ADDRESS);
        let file = reqwest12::Client::new().get(format!("{}/api/records/{id}/file", w.base)).bearer_auth(&read).send().await.unwrap();
        assert_eq!(file.headers()["content-type"], "application/pdf");
        assert_eq!(file.bytes().await.unwrap().as_ref(), PDF);
        let (status, list) = api_call(&w.base, "GET", &format!("/api/records?curp={}", person.curp), Some(&read), None).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["records"].as_array().unwrap().len(), 1);

        // Another entity: not its record, and the attempt is logged against the record.
        let a_read = w.token(&w.a, "records:read").await;
        let (status, body) = api_call(&w.base, "GET", &format!("/api/records/{id}"), Some(&a_read), None).await;
        assert_eq!((status, body["error"].as_str()), (403, Some("not_your_record")), "{body}");
        let a_write = w.token(&w.a, "records:write").await;
        let (status, _) = api_call(&w.base, "DELETE", &format!("/api/records/{id}"), Some(&a_write), None).await;
        assert_eq!(status, 403);
        // The wrong scope, no token.
        let (status, body) = api_call(&w.base, "PUT", &format!("/api/records/{id}"), Some(&read), Some(json!({"attributes": {}}))).await;
        assert_eq!((status, body["error"].as_str()), (403, Some("insufficient_scope")), "{body}");
        let (status, _) = api_call(&w.base, "GET", &format!("/api/records/{id}"), None, None).await;
        assert_eq!(status, 401);
        let log = w.app.state.store.accesses_of_record(&id).await.unwrap();
        assert!(log.iter().any(|a| a.detail.as_deref().unwrap_or("").starts_with("not_your_record")), "{log:?}");
        assert!(log.iter().any(|a| a.detail.as_deref().unwrap_or("").starts_with("insufficient_scope")), "{log:?}");
        assert!(log.iter().all(|a| a.outcome == "refused"));

        // Withdrawn: look-ups stop finding it, a grant given before cannot read it.
        let (_, sub) = w.sign_in_to_a(&mut browser, "licencia", true).await;
        let lookups = w.token(&w.a, "lookups").await;
        let (_, found) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        let (status, gone) = api_call(&w.base, "DELETE", &format!("/api/records/{id}"), Some(&write), Some(json!({"reason": "emitida por error"}))).await;
        assert_eq!(status, 200, "{gone}");
        assert!(gone["withdrawn_at"].is_i64());
        assert_eq!(gone["withdraw_reason"], "emitida por error");
        let (status, body) = w.read(&lookups, &id, found["grant"].as_str().unwrap(), "licencia").await;
        assert_eq!((status, body["error"].as_str()), (410, Some("withdrawn")), "{body}");
        let (_, none) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        assert_eq!(none, json!({"found": false}));
        let (status, body) = api_call(&w.base, "PUT", &format!("/api/records/{id}"), Some(&write), Some(json!({"attributes": {}}))).await;
        assert_eq!((status, body["error"].as_str()), (409, Some("withdrawn")), "{body}");
        w.app.finish().await;
    }
}

both_backends! {
    async fn bad_records_are_refused_and_nothing_is_written(backend: Backend) {
        let w = world_with(TestApp::builder(backend).config(|c| c.records.max_file_bytes = 2048)).await;
        let (person, _) = crate::oidc::support::signed_in_person(&w.app, 7031).await;
        let write = w.token(&w.b, "records:write").await;
        use base64::Engine;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut big = PDF.to_vec();
        big.resize(3000, b' ');
        let cases = [
            (json!({"curp": person.curp, "kind": "passport", "attributes": {}}), 400, "invalid_request"),
            (json!({"curp": person.curp, "kind": "proof_of_residence", "attributes": [1]}), 400, "invalid_request"),
            (json!({"curp": person.curp, "kind": "proof_of_residence", "attributes": {}, "valid_until": "2026-02-30"}), 400, "invalid_request"),
            (json!({"curp": person.curp, "kind": "proof_of_residence", "attributes": {}, "valid_from": "2027-01-01", "valid_until": "2026-01-01"}), 400, "invalid_request"),
            (json!({"curp": person.curp, "kind": "proof_of_residence", "attributes": {}, "procedure": "licencia"}), 400, "invalid_request"),
            (json!({"curp": person.curp, "kind": "proof_of_residence", "attributes": {}, "file": {"name": "a.txt", "content_type": "text/plain", "content_base64": b64(b"hola")}}), 415, "unsupported_file"),
            (json!({"curp": person.curp, "kind": "proof_of_residence", "attributes": {}, "file": {"name": "a.png", "content_type": "image/png", "content_base64": b64(PDF)}}), 400, "invalid_request"),
            (json!({"curp": person.curp, "kind": "proof_of_residence", "attributes": {}, "file": {"name": "a.pdf", "content_type": "application/pdf", "content_base64": b64(&big)}}), 413, "file_too_large"),
            (json!({"curp": "XEXX010101HNEXXXA4", "kind": "proof_of_residence", "attributes": {}}), 404, "unknown_person"),
            (json!({"kind": "proof_of_residence", "attributes": {}}), 400, "invalid_request"),
            (json!({"curp": person.curp, "kind": "proof_of_residence", "attributes": {}, "unknown": 1}), 400, "invalid_request"),
        ];
        for (body, status, error) in cases {
            let (got, answer) = api_call(&w.base, "POST", "/api/records", Some(&write), Some(body.clone())).await;
            assert_eq!((got, answer["error"].as_str()), (status, Some(error)), "{body} → {answer}");
        }
        let not_json = reqwest12::Client::new().post(format!("{}/api/records", w.base)).bearer_auth(&write)
            .body("{not json").send().await.unwrap();
        assert_eq!(not_json.status().as_u16(), 400);
        assert_eq!(w.app.count("SELECT COUNT(*) FROM record_index").await, 0);
        let spoke = w.app.state.spokes.get(&w.app.state, w.entity_id("alcaldia").await).await.unwrap();
        assert_eq!(spoke.count().await.unwrap(), 0);
        w.app.finish().await;
    }
}

both_backends! {
    async fn contents_live_in_the_holders_store_only_and_sealed(backend: Backend) {
        let w = world(backend).await;
        let (person, mut browser) = crate::oidc::support::signed_in_person(&w.app, 7041).await;
        let stored = w.residence_at_b(&person.curp).await;
        let (_, sub) = w.sign_in_to_a(&mut browser, "licencia", true).await;
        let lookups = w.token(&w.a, "lookups").await;
        let (_, found) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        let (status, _) = w.read(&lookups, stored["record_id"].as_str().unwrap(), found["grant"].as_str().unwrap(), "licencia").await;
        assert_eq!(status, 200);

        // Every entity's store: B holds one sealed row; A and the third hold none.
        for (slug, rows) in [("alcaldia", 1), ("semovi", 0), ("otra", 0)] {
            let spoke = w.app.state.spokes.get(&w.app.state, w.entity_id(slug).await).await.unwrap();
            let raw = spoke.raw_rows().await.unwrap();
            assert_eq!(raw.len(), rows, "{slug}");
            for (_, content, file) in raw {
                assert!(content.starts_with("v1.") && !content.contains("Falsa"));
                assert!(file.unwrap().starts_with("v1."));
            }
        }
        // Nothing readable anywhere: every table of every store, searched for the address.
        let needle = "Falsa";
        match backend {
            Backend::Sqlite => {
                let mut files = vec![];
                for dir in [w.app.dir.path().to_path_buf(), w.app.state.config.data_dir.join("entities")] {
                    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                        if entry.path().is_file() { files.push(entry.path()); }
                    }
                }
                assert!(files.iter().any(|f| f.to_string_lossy().contains("alcaldia.db")), "{files:?}");
                for file in files {
                    let bytes = std::fs::read(&file).unwrap();
                    assert!(!bytes.windows(needle.len()).any(|w| w == needle.as_bytes()), "{} holds the address", file.display());
                }
            }
            Backend::Postgres => {
                use sqlx::Row;
                let schema = w.app.schema.clone().unwrap();
                let columns = sqlx::query("SELECT table_schema::text, table_name::text, column_name::text FROM information_schema.columns \
                    WHERE (table_schema = $1 OR table_schema LIKE $2) AND data_type = 'text'")
                    .bind(&schema).bind(format!("{schema}_e_%"))
                    .fetch_all(w.app.state.store.pool()).await.unwrap();
                let schemas: std::collections::BTreeSet<String> = columns.iter().map(|r| r.get::<String, _>(0)).collect();
                assert_eq!(schemas.len(), 4, "the hub's schema and one per entity: {schemas:?}");
                for row in columns {
                    let (s, t, c): (String, String, String) = (row.get(0), row.get(1), row.get(2));
                    let hits: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{s}\".\"{t}\" WHERE \"{c}\" LIKE '%{needle}%'")))
                        .fetch_one(w.app.state.store.pool()).await.unwrap().get(0);
                    assert_eq!(hits, 0, "{s}.{t}.{c} holds the address");
                }
            }
        }
        w.app.finish().await;
    }
}

// The CLI: `llave record show` reads as hub staff, with a purpose and a legal basis, and
// the read is logged for the person to see.
both_backends! {
    async fn staff_reads_are_logged(backend: Backend) {
        let w = world(backend).await;
        let (person, _) = crate::oidc::support::signed_in_person(&w.app, 7051).await;
        let stored = w.residence_at_b(&person.curp).await;
        let id = stored["record_id"].as_str().unwrap();
        let refused = llave(&w.app, &["record", "show", id], None);
        assert!(!refused.status.success(), "a purpose and a legal basis are required");
        let output = llave(
            &w.app,
            &[
                "record",
                "show",
                id,
                "--by",
                "Auditoría interna",
                "--as",
                "auditor",
                "--purpose",
                "Revisión anual",
                "--legal-basis",
                "LGPDPPSO art. 89",
                "--json",
            ],
            None,
        );
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let shown = json_of(&output);
        assert_eq!(shown["versions"][0]["attributes"]["address"], ADDRESS);
        let log = w.app.state.store.accesses_about(w.account_id(&person.curp).await).await.unwrap();
        assert!(
            log.iter().any(|a| a.reader_kind == "auditor"
                && a.reader == "Auditoría interna"
                && a.outcome == "read"
                && a.purpose == "Revisión anual"
                && a.legal_basis.as_deref() == Some("LGPDPPSO art. 89")),
            "{log:?}"
        );
        w.app.finish().await;
    }
}

/// The OpenAPI document names every entity endpoint, and each is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_served_api() {
    let (app, base) = TestApp::builder(Backend::Sqlite).serve_as_issuer().await;
    let (status, doc) = api_call(&base, "GET", "/api/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(doc["servers"][0]["url"], base.as_str());
    assert_eq!(api_call(&base, "GET", "/openapi.json", None, None).await.1, doc, "also at the root");
    let paths = doc["paths"].as_object().unwrap();
    for path in ["/api/records", "/api/records/{id}", "/api/lookups", "/api/records/{id}/read", "/api/arco-requests"] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "x");
            let (status, _) = api_call(&base, &method.to_uppercase(), &concrete, None, None).await;
            assert!(status != 404 && status != 405, "{method} {path} is documented but not served ({status})");
        }
    }
    app.finish().await;
}

both_backends! {
    async fn a_reuse_request_pushed_with_par_is_asked_on_the_consent_page(backend: Backend) {
        let w = world(backend).await;
        let (person, mut browser) = crate::oidc::support::signed_in_person(&w.app, 7061).await;
        w.residence_at_b(&person.curp).await;
        let started = start(&w.a, &["openid"]);
        let details = json!([{"type": "record_reuse", "procedure": "licencia", "kinds": ["proof_of_residence"]}]).to_string();
        let mut fields: Vec<(String, String)> =
            url::Url::parse(&format!("http://x{}", started.path)).unwrap().query_pairs().into_owned().collect();
        fields.push(("authorization_details".into(), details));
        let pushed: Value = crate::oidc::support::http().post(format!("{}/par", w.base)).form(&fields)
            .basic_auth(&w.a.client_id, Some(&w.a.client_secret)).send().await.unwrap().json().await.unwrap();
        let request_uri = pushed["request_uri"].as_str().expect("pushed");
        let front = format!("/authorize?client_id={}&request_uri={}", w.a.client_id, crate::oidc::support::urlencode(request_uri));
        let page = browser.get(&front).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("name=\"reuse\"") && page.body.contains("Entidad alcaldia"), "{}", page.body);
        w.app.finish().await;
    }
}

both_backends! {
    async fn withdrawn_consents_stray_versions_and_nul_characters_are_handled(backend: Backend) {
        let w = world(backend).await;
        let (person, mut browser) = crate::oidc::support::signed_in_person(&w.app, 7071).await;
        let stored = w.residence_at_b(&person.curp).await;
        let id = stored["record_id"].as_str().unwrap().to_string();
        let (_, sub) = w.sign_in_to_a(&mut browser, "licencia", true).await;
        let lookups = w.token(&w.a, "lookups").await;

        // A grant given under a consent the person then withdraws reads nothing.
        let (_, found) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        let account = w.account_id(&person.curp).await;
        let consents = w.app.state.store.reuse_consents_of(account).await.unwrap();
        assert_eq!(consents.len(), 1);
        // A second consent for the same reuse (a double submit) adds nothing.
        w.app.state.store.add_reuse_consent(&llave::store::records::ReuseConsent { id: "otro".into(), ..consents[0].clone() }).await.unwrap();
        assert_eq!(w.app.state.store.reuse_consents_of(account).await.unwrap().len(), 1);
        let which = llave::consent::Withdraw::Reuse(&consents[0].id);
        let actor = llave::accounts::Actor::cli();
        assert!(llave::consent::withdraw(&w.app.state, llave::store::AccountId(account), which, &actor).await.unwrap());
        let (status, body) = w.read(&lookups, &id, found["grant"].as_str().unwrap(), "licencia").await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("withdrew the consent"), "{body}");

        // A version left in B's store by an update that could not be indexed is replaced by
        // the next update, and never shown.
        let spoke = w.app.state.spokes.get(&w.app.state, w.entity_id("alcaldia").await).await.unwrap();
        let content = llave::records::spoke::Content { attributes: json!({"address": "huérfana"}), file_name: None };
        spoke.insert(&llave::records::spoke::NewVersion {
            record_id: &id, version: 2, account_id: account, kind: "proof_of_residence", procedure: None,
            content: &content, file: None, file_sha256: None, sha256: "x", valid_from: None, valid_until: None,
            written_by: "x", now: 1,
        }).await.unwrap();
        let read = w.token(&w.b, "records:read").await;
        let (status, _) = api_call(&w.base, "GET", &format!("/api/records/{id}?version=2"), Some(&read), None).await;
        assert_eq!(status, 404, "a version the index does not know");
        let (_, history) = api_call(&w.base, "GET", &format!("/api/records/{id}/versions"), Some(&read), None).await;
        assert_eq!(history["versions"].as_array().unwrap().len(), 1);
        let write = w.token(&w.b, "records:write").await;
        let (status, v2) = api_call(&w.base, "PUT", &format!("/api/records/{id}"), Some(&write), Some(json!({"attributes": {"address": "nueva"}}))).await;
        assert_eq!(status, 200, "{v2}");
        assert_eq!((v2["version"].as_i64(), v2["attributes"]["address"].as_str()), (Some(2), Some("nueva")));

        // NUL characters: a clear 400 or 404, never a database error.
        let (status, body) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence\u{0}").await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
        let (status, body) = api_call(&w.base, "GET", &format!("/api/records?sub={}", "%00"), Some(&read), None).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
        let (status, _) = api_call(&w.base, "GET", "/api/records/a%00b", Some(&read), None).await;
        assert_eq!(status, 404);
        // A query string that does not parse: 401 without a token, a JSON 400 with one.
        let (status, _) = api_call(&w.base, "GET", &format!("/api/records/{id}?version=abc"), None, None).await;
        assert_eq!(status, 401);
        let (status, body) = api_call(&w.base, "GET", &format!("/api/records/{id}?version=abc"), Some(&read), None).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");

        // The same kind twice in authorization_details is refused.
        let started = start(&w.a, &["openid"]);
        let twice = json!([{"type": "record_reuse", "procedure": "licencia", "kinds": ["proof_of_residence", "proof_of_residence"]}]);
        let answer = browser.get(&format!("{}&authorization_details={}", started.path, crate::oidc::support::urlencode(&twice.to_string()))).await;
        assert_eq!(callback_params(answer.location().unwrap())["error"], "invalid_authorization_details");
        w.app.finish().await;
    }
}

both_backends! {
    async fn reads_at_once_outnumbering_the_pool_all_succeed(backend: Backend) {
        // More concurrent reads than the SQLite pool has connections (8): each read is an act,
        // and an act takes no second connection, so none waits for one the queued acts hold.
        let w = world(backend).await;
        let (person, mut browser) = crate::oidc::support::signed_in_person(&w.app, 7301).await;
        let record = w.residence_at_b(&person.curp).await["record_id"].as_str().unwrap().to_string();
        let (_, sub) = w.sign_in_to_a(&mut browser, "licencia", true).await;
        let lookups = w.token(&w.a, "lookups").await;
        let mut grants = Vec::new();
        for _ in 0..24 {
            let (status, found) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
            assert_eq!(status, 200, "{found}");
            grants.push(found["grant"].as_str().unwrap().to_string());
        }
        let mut reads = tokio::task::JoinSet::new();
        for grant in grants {
            let (base, token, record) = (w.base.clone(), lookups.clone(), record.clone());
            reads.spawn(async move {
                let body = json!({"grant": grant, "procedure": "licencia"});
                api_call(&base, "POST", &format!("/api/records/{record}/read"), Some(&token), Some(body)).await
            });
        }
        let started = std::time::Instant::now();
        while let Some(answer) = reads.join_next().await {
            let (status, body) = answer.unwrap();
            assert_eq!(status, 200, "{body}");
        }
        let read_events = w.app.count("SELECT COUNT(*) FROM record_access WHERE outcome = 'read'").await;
        assert_eq!(read_events, 24);
        // Not a timing assertion on speed: a read stuck behind the pool waits out the 5 s busy
        // timeout and fails; this only names the symptom if one slips through.
        println!("24 concurrent reads in {:?}", started.elapsed());
        w.app.finish().await;
    }
}
