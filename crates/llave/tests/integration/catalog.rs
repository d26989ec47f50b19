//! The catalog's import and export: every row checked before anything is written, the
//! line of each bad row, round trips, and open-data CSV a spreadsheet reads cleanly.

use crate::both_backends;
use crate::support::*;

fn procedure(slug: &str, entity: &str, name: &str) -> serde_json::Value {
    serde_json::json!({
        "slug": slug, "entity": entity, "name": name,
        "description": "Permiso para conducir automóviles particulares en la Ciudad de México.",
        "who_may_apply": "Personas mayores de 18 años.",
        "requirements": [
            {"kind": "official_id", "description": "INE o pasaporte vigente", "stage": "application"},
            {"kind": "proof_of_residence", "description": "No mayor a tres meses", "stage": "application"},
            {"kind": "payment_receipt", "description": "Pago de derechos", "stage": "delivery"}
        ],
        "legal_basis": [{"law": "Reglamento de Tránsito de la Ciudad de México", "article": "58", "url": "https://data.consejeria.cdmx.gob.mx/reglamento"}],
        "steps": ["Agenda una cita", "Acude con tus documentos"],
        "response_deadline": "Inmediato",
        "validity": "3 años",
        "cost": {"kind": "amount", "mxn": 1000.5},
        "variants": [{"code": "A", "name": "Automovilista"}],
        "channels": {"online_url": "https://licencias.semovi.cdmx.gob.mx/", "offices": ["Módulo Insurgentes"]},
        "level": "urn:llave:loa:2",
        "yearly_volume": 600000,
        "tags": ["movilidad"],
        "status": "published"
    })
}

/// A catalog file with one procedure per line, as `llave catalog export` writes it.
fn file(procedures: &[serde_json::Value], equivalences: &[serde_json::Value]) -> String {
    let rows: Vec<String> = procedures.iter().map(|p| p.to_string()).collect();
    let eqs: Vec<String> = equivalences.iter().map(|e| e.to_string()).collect();
    format!("{{\"procedures\": [\n{}\n],\n\"equivalences\": [\n{}\n]}}\n", rows.join(",\n"), eqs.join(",\n"))
}

async fn with_entities(app: &TestApp) {
    llave::admin::entity::add_entity(&app.state, "semovi", "Secretaría de Movilidad").await.unwrap();
    llave::admin::entity::add_entity(&app.state, "sacmex", "Sistema de Aguas").await.unwrap();
}

both_backends! {
    async fn a_catalog_imports_exports_and_imports_again_unchanged(backend: Backend) {
        let app = TestApp::new(backend).await;
        with_entities(&app).await;
        let mut agua = procedure("pago-agua", "sacmex", "Pago de derechos por suministro de agua");
        agua["cost"] = serde_json::json!({"kind": "rule", "text": "=Según consumo bimestral"});
        agua["requirements"] = serde_json::json!([]);
        agua["yearly_volume"] = serde_json::json!(2_400_000);
        agua["description"] = serde_json::json!("<script>alert(1)</script> Paga tu boleta de agua, \"en línea\"");
        let text = file(
            &[procedure("licencia-a", "semovi", "Licencia de conducir tipo A"), agua],
            &[serde_json::json!({"kind": "proof_of_residence", "accepted_kind": "voter_card", "note": "La INE con domicilio sirve como comprobante"})],
        );
        let counts = llave::catalog::import(&app.state.store, &text, "test", 1).await.unwrap();
        assert_eq!((counts.created, counts.updated, counts.equivalences), (2, 0, 1));
        assert_eq!(app.count("SELECT COUNT(*) FROM procedure_requirements").await, 3);
        assert_eq!(app.count("SELECT COUNT(*) FROM procedure_history").await, 2);
        // One act: each procedure created and the equivalences replaced are its events.
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM events e JOIN acts a ON a.id = e.act_id \
                 WHERE a.name = 'catalog_import' AND e.kind = 'catalog_changed' AND e.actor = 'test'"
            )
            .await,
            3
        );
        assert_eq!(app.count("SELECT COUNT(*) FROM acts WHERE name = 'catalog_import'").await, 1);

        let exported = llave::catalog::export_json(&app.state.store).await.unwrap();
        let again = llave::catalog::import(&app.state.store, &exported, "test", 2).await.unwrap();
        assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 2), "a round trip changes nothing");
        assert_eq!(llave::catalog::export_json(&app.state.store).await.unwrap(), exported);

        // A change is an update, with its history.
        let changed = exported.replace("\"yearly_volume\":600000", "\"yearly_volume\":650000");
        let counts = llave::catalog::import(&app.state.store, &changed, "editor", 3).await.unwrap();
        assert_eq!((counts.created, counts.updated, counts.unchanged), (0, 1, 1));
        assert_eq!(app.count("SELECT COUNT(*) FROM procedure_history").await, 3);
        assert_eq!(app.count("SELECT COUNT(*) FROM procedure_requirements").await, 3, "requirements replaced, not added");
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM events WHERE kind = 'catalog_changed' AND procedure_slug = 'licencia-a' \
                 AND detail = 'updated' AND actor = 'editor'"
            )
            .await,
            1,
            "an unchanged import wrote no event; the update wrote one"
        );

        let csv = llave::catalog::export_csv(&app.state.store).await.unwrap();
        assert!(csv.starts_with("\u{feff}slug,entity,name,description,"), "{csv}");
        let mut reader = csv::Reader::from_reader(csv.trim_start_matches('\u{feff}').as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        let agua = rows.iter().find(|r| &r[0] == "pago-agua").unwrap();
        assert_eq!(&agua[11], "'=Según consumo bimestral", "formula-like text is defused");
        assert_eq!(&agua[3], "<script>alert(1)</script> Paga tu boleta de agua, \"en línea\"");
        let licencia = rows.iter().find(|r| &r[0] == "licencia-a").unwrap();
        assert_eq!(&licencia[10], "1000.50");
        assert!(licencia[5].contains("official_id: INE o pasaporte vigente (application)"));
        assert_eq!(&licencia[16], "650000");
        app.finish().await;
    }
}

both_backends! {
    async fn every_bad_row_is_reported_with_its_line_and_nothing_is_written(backend: Backend) {
        let app = TestApp::new(backend).await;
        with_entities(&app).await;
        let good = procedure("licencia-a", "semovi", "Licencia de conducir tipo A");
        let mut unknown_kind = procedure("licencia-b", "semovi", "Licencia tipo B");
        unknown_kind["requirements"][0]["kind"] = serde_json::json!("passport_photo");
        let unknown_entity = procedure("predial", "finanzas", "Pago del predial");
        let mut negative = procedure("licencia-c", "semovi", "Licencia tipo C");
        negative["cost"] = serde_json::json!({"kind": "amount", "mxn": -10});
        let mut broken_url = procedure("licencia-d", "semovi", "Licencia tipo D");
        broken_url["channels"]["online_url"] = serde_json::json!("licencias semovi");
        let duplicate_name = procedure("licencia-a-bis", "semovi", "LICENCIA DE CONDUCIR TIPO A");
        let mut wrong_column = procedure("licencia-e", "semovi", "Licencia tipo E");
        wrong_column["precio"] = serde_json::json!(5);
        let text = file(
            &[good, unknown_kind, unknown_entity, negative, broken_url, duplicate_name, wrong_column],
            &[serde_json::json!({"kind": "proof_of_residence", "accepted_kind": "selfie", "note": "x"})],
        );
        let Err(llave::catalog::ImportError::Rows(rows)) = llave::catalog::import(&app.state.store, &text, "test", 1).await else {
            panic!("a bad file was accepted");
        };
        let at = |line: usize| rows.iter().find(|r| r.line == line).unwrap_or_else(|| panic!("no error on line {line}: {rows:?}")).reasons.join("; ");
        assert_eq!(rows.len(), 7, "{rows:?}");
        assert!(at(3).contains("passport_photo"), "{}", at(3));
        assert!(at(4).contains("entity \"finanzas\" does not exist"), "{}", at(4));
        assert!(at(5).contains("cost.mxn -10"), "{}", at(5));
        assert!(at(6).contains("channels.online_url"), "{}", at(6));
        assert!(at(7).contains("already has a procedure named"), "{}", at(7));
        assert!(at(8).contains("precio"), "{}", at(8));
        assert!(at(11).contains("selfie"), "{}", at(11));
        assert_eq!(app.count("SELECT COUNT(*) FROM procedures").await, 0, "nothing partially imported");
        assert_eq!(app.count("SELECT COUNT(*) FROM requirement_equivalences").await, 0);

        // Not a catalog at all.
        for bad in ["", "[]", "{\"procedures\": 5}", "{\"procedures\": [], \"extra\": 1}"] {
            assert!(matches!(llave::catalog::import(&app.state.store, bad, "test", 1).await, Err(llave::catalog::ImportError::Format(_))), "{bad}");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn the_catalog_commands_import_and_export(backend: Backend) {
        let app = TestApp::new(backend).await;
        with_entities(&app).await;
        let path = app.dir.path().join("catalogo.json");
        std::fs::write(&path, file(&[procedure("licencia-a", "semovi", "Licencia de conducir tipo A")], &[])).unwrap();
        let counts = json_of(&llave(&app, &["catalog", "import", path.to_str().unwrap(), "--json"], None));
        assert_eq!(counts["created"], 1);

        let bad = app.dir.path().join("malo.json");
        std::fs::write(&bad, file(&[procedure("x", "nadie", "Algo")], &[])).unwrap();
        let out = llave(&app, &["catalog", "import", bad.to_str().unwrap()], None);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("malo.json: line 2 (procedures[0]): entity \"nadie\" does not exist"), "{stderr}");
        assert!(stderr.contains("nothing was imported"), "{stderr}");

        let exported = json_of(&llave(&app, &["catalog", "export"], None));
        assert_eq!(exported["procedures"][0]["slug"], "licencia-a");
        let csv = llave(&app, &["catalog", "export", "--format", "csv"], None);
        assert!(csv.status.success());
        assert!(String::from_utf8_lossy(&csv.stdout).contains("Licencia de conducir tipo A"));
        app.finish().await;
    }
}

both_backends! {
    async fn anyone_finds_a_procedure_and_what_to_bring_without_an_account(backend: Backend) {
        let app = TestApp::new(backend).await;
        with_entities(&app).await;
        let mut agua = procedure("pago-agua", "sacmex", "Pago de derechos por suministro de agua");
        agua["tags"] = serde_json::json!(["agua", "pagos"]);
        agua["description"] = serde_json::json!("<b>Paga</b> tu boleta bimestral");
        agua["cost"] = serde_json::json!({"kind": "free"});
        let mut draft = procedure("borrador", "semovi", "Permiso en preparación");
        draft["status"] = serde_json::json!("draft");
        let text = file(&[procedure("licencia-a", "semovi", "Licencia de conducir tipo A"), agua, draft], &[]);
        llave::catalog::import(&app.state.store, &text, "test", 1).await.unwrap();
        let mut browser = app.client();

        // One search from the home page.
        let home = browser.get("/").await;
        assert!(home.body.contains("action=\"/tramites\""));
        let found = browser.get("/tramites?q=licencias").await;
        assert_eq!(found.status, axum::http::StatusCode::OK);
        assert!(found.body.contains("href=\"/tramites/licencia-a\""), "{}", found.body);
        assert!(!found.body.contains("pago-agua"));
        let water = browser.get("/tramites?q=tramite%20agua").await;
        assert!(water.body.contains("href=\"/tramites/pago-agua\""));
        // Browse by topic and by entity; drafts are nowhere.
        assert!(browser.get("/tramites?tema=pagos").await.body.contains("pago-agua"));
        let by_entity = browser.get("/tramites?entidad=semovi").await.body;
        assert!(by_entity.contains("licencia-a") && !by_entity.contains("pago-agua"));
        assert!(!browser.get("/tramites").await.body.contains("borrador"));
        assert_eq!(browser.get("/tramites/borrador").await.status, axum::http::StatusCode::NOT_FOUND);

        // The procedure's page: what to bring, cost, level, where to start.
        let page = browser.get("/tramites/licencia-a").await;
        assert_eq!(page.status, axum::http::StatusCode::OK);
        for expected in ["Identificación oficial", "INE o pasaporte vigente", "Comprobante de domicilio", "$1,000.50 MXN",
            "Llave Verificada (identidad comprobada)", "Verifica tu identidad", "href=\"https://licencias.semovi.cdmx.gob.mx/\"", "Módulo Insurgentes",
            "Reglamento de Tránsito de la Ciudad de México", "al solicitar"] {
            assert!(page.body.contains(expected), "{expected} missing");
        }
        let water = browser.get("/tramites/pago-agua").await;
        assert!(!water.body.contains("<b>Paga</b>"), "HTML in text is escaped");
        assert!(water.body.contains("Paga") && water.body.contains("tu boleta bimestral"));
        assert!(water.body.contains("Gratuito"));
        let mut english = app.client();
        english.accept_language = Some("en".into());
        let english = english.get("/tramites/pago-agua").await.body;
        assert!(english.contains("What you need") && english.contains("Free"));

        // The same data as JSON, and open data at stable URLs.
        let api: serde_json::Value = serde_json::from_str(&browser.get("/api/catalog/procedures?q=licencia").await.body).unwrap();
        assert_eq!(api["procedures"][0]["slug"], "licencia-a");
        let one: serde_json::Value = serde_json::from_str(&browser.get("/api/catalog/procedures/licencia-a").await.body).unwrap();
        assert_eq!(one["requirements"].as_array().unwrap().len(), 3);
        assert_eq!(browser.get("/api/catalog/procedures/borrador").await.status, axum::http::StatusCode::NOT_FOUND);
        let csv = browser.get("/datos/catalogo.csv").await;
        assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
        assert!(csv.body.contains("licencia-a") && !csv.body.contains("borrador"));
        let json: serde_json::Value = serde_json::from_str(&browser.get("/datos/catalogo.json").await.body).unwrap();
        assert_eq!(json["procedures"].as_array().unwrap().len(), 2);

        // An editor's change shows at once.
        let exported = llave::catalog::export_json(&app.state.store).await.unwrap();
        let changed = exported.replace("INE o pasaporte vigente", "Pasaporte o cédula profesional");
        llave::catalog::import(&app.state.store, &changed, "editor", 1).await.unwrap();
        assert!(browser.get("/tramites/licencia-a").await.body.contains("Pasaporte o cédula profesional"));
        app.finish().await;
    }
}

both_backends! {
    async fn the_simplification_report_reflects_an_editors_change(backend: Backend) {
        let app = TestApp::new(backend).await;
        with_entities(&app).await;
        let text = file(
            &[procedure("licencia-a", "semovi", "Licencia de conducir tipo A")],
            &[serde_json::json!({"kind": "proof_of_residence", "accepted_kind": "voter_card", "note": "INE con domicilio"})],
        );
        llave::catalog::import(&app.state.store, &text, "test", 1).await.unwrap();
        let before = json_of(&llave(&app, &["catalog", "report", "--json"], None));
        let first = &before["procedures"][0];
        assert_eq!(first["slug"], "licencia-a");
        let kinds: Vec<&str> = first["suggestions"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["satisfied_by_llave", "asked_late"], "{first}");

        // The editor adds the voter card: proof of residence becomes redundant.
        let mut changed = procedure("licencia-a", "semovi", "Licencia de conducir tipo A");
        changed["requirements"].as_array_mut().unwrap().push(serde_json::json!({"kind": "voter_card", "description": "INE", "stage": "application"}));
        llave::catalog::import(&app.state.store, &file(&[changed], &[serde_json::json!({"kind": "proof_of_residence", "accepted_kind": "voter_card", "note": "INE con domicilio"})]), "editor", 2).await.unwrap();
        let after = llave::catalog::report(&app.state.store).await.unwrap();
        let text = after.to_text();
        assert!(text.contains("drop proof_of_residence: voter_card, also asked, is accepted for it"), "{text}");
        assert!(after.total_hours_saved_per_year > before["total_hours_saved_per_year"].as_f64().unwrap());
        app.finish().await;
    }
}

/// A confirmed person signed in, with `roles` granted through the command line.
pub async fn staff(app: &TestApp, seed: u64, roles: &[&[&str]]) -> Client {
    let person = Person::synthetic(seed);
    sign_up_and_confirm(app, &person).await;
    for role in roles {
        let mut args = vec!["staff", "grant", "--curp", person.curp.as_str(), "--json"];
        args.extend_from_slice(role);
        let out = llave(app, &args, None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut browser = app.client();
    assert_eq!(browser.sign_in(&person.curp, &person.password).await.status, axum::http::StatusCode::SEE_OTHER);
    // Staff pages need a session signed in with a second factor: the catalog editing pages,
    // or the legal review page for someone who only reviews.
    let edits = roles.iter().any(|r| r.contains(&"catalog-editor") || r.contains(&"hub-staff"));
    let home = if edits { "/catalogo/editar" } else { "/catalogo/revision-legal" };
    if !roles.is_empty() {
        let refused = browser.get(home).await;
        assert_eq!(refused.status, axum::http::StatusCode::FORBIDDEN, "password alone is not enough");
        assert!(refused.body.contains("segundo factor"));
        let (_, codes) = enrol_totp(&mut browser).await;
        let fields = [("identifier", person.curp.as_str()), ("password", &person.password), ("next", home)];
        assert_eq!(browser.submit("/signin?reauth=1", "/signin", &fields).await.location(), Some("/signin/second"));
        let second = browser.submit("/signin/second", "/signin/second", &[("recovery_code", &codes[0])]).await;
        assert_eq!(second.location(), Some(home));
    }
    browser
}

both_backends! {
    async fn editors_change_their_entitys_procedures_and_only_those(backend: Backend) {
        let app = TestApp::new(backend).await;
        with_entities(&app).await;
        let text = file(&[procedure("licencia-a", "semovi", "Licencia de conducir tipo A"), procedure("pago-agua", "sacmex", "Pago de agua")], &[]);
        llave::catalog::import(&app.state.store, &text, "test", 1).await.unwrap();
        let mut editor = staff(&app, 801, &[&["--role", "catalog-editor", "--entity", "semovi"]]).await;

        // The list shows only semovi's procedures; another entity's edit page is forbidden.
        let list = editor.get("/catalogo/editar").await;
        assert_eq!(list.status, axum::http::StatusCode::OK);
        assert!(list.body.contains("/catalogo/editar/licencia-a") && !list.body.contains("pago-agua"));
        assert_eq!(editor.get("/catalogo/editar/pago-agua").await.status, axum::http::StatusCode::FORBIDDEN);
        assert_eq!(editor.get("/catalogo/reporte").await.status, axum::http::StatusCode::FORBIDDEN, "hub staff only");

        // Change a requirement through the form.
        let page = editor.get("/catalogo/editar/licencia-a").await;
        let requirements = "official_id | application | INE o pasaporte vigente\nvoter_card | application | Credencial para votar";
        let mut fields = form_fields(&page.body);
        set(&mut fields, "requirements", requirements);
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let saved = editor.post("/catalogo/editar/licencia-a", &borrowed).await;
        assert_eq!(saved.status, axum::http::StatusCode::SEE_OTHER, "{}", saved.body);
        let public = app.client().get("/tramites/licencia-a").await.body;
        assert!(public.contains("Credencial para votar") && !public.contains("No mayor a tres meses"));
        let history = editor.get("/catalogo/editar/licencia-a").await.body;
        assert!(history.contains("account:"), "the change is recorded with who made it");

        // A bad value: the form comes back with the error, what was typed kept, nothing saved.
        set(&mut fields, "requirements", "passport_photo | application | Foto");
        set(&mut fields, "yearly_volume", "mucho");
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let refused = editor.post("/catalogo/editar/licencia-a", &borrowed).await;
        assert_eq!(refused.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("passport_photo"), "{}", refused.body);
        assert!(refused.body.contains("Escribe un número."));
        // In the page's words, naming the field, the title saying so, the field marked.
        assert!(refused.body.contains("Qué necesitas: usa uno de los tipos de requisito de la lista de abajo."), "{}", refused.body);
        assert!(!refused.body.contains("is not a known requirement kind"), "no developer English: {}", refused.body);
        assert!(refused.body.contains("<title>Error: "), "{}", refused.body);
        assert!(refused.body.contains("aria-invalid=\"true\" aria-describedby=\"requirements-error"), "{}", refused.body);
        assert!(app.client().get("/tramites/licencia-a").await.body.contains("Credencial para votar"));
        // Moving it to another entity, or posting without the CSRF token: refused.
        set(&mut fields, "requirements", requirements);
        set(&mut fields, "yearly_volume", "10");
        set(&mut fields, "entity", "sacmex");
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(editor.post("/catalogo/editar/licencia-a", &borrowed).await.status, axum::http::StatusCode::FORBIDDEN);
        set(&mut fields, "entity", "semovi");
        set(&mut fields, "csrf_token", "forged");
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(editor.post("/catalogo/editar/licencia-a", &borrowed).await.status, axum::http::StatusCode::FORBIDDEN);

        // A person without a role, and nobody signed in, cannot edit.
        let mut citizen = staff(&app, 802, &[]).await;
        assert_eq!(citizen.get("/catalogo/editar").await.status, axum::http::StatusCode::FORBIDDEN);
        assert_eq!(app.client().get("/catalogo/editar").await.status, axum::http::StatusCode::SEE_OTHER);
        app.finish().await;
    }
}

both_backends! {
    async fn hub_staff_create_procedures_anywhere_and_read_the_report(backend: Backend) {
        let app = TestApp::new(backend).await;
        with_entities(&app).await;
        let mut hub = staff(&app, 803, &[&["--role", "hub-staff"]]).await;
        let page = hub.get("/catalogo/editar/nuevo?entidad=sacmex").await;
        assert_eq!(page.status, axum::http::StatusCode::OK);
        let mut fields = form_fields(&page.body);
        for (name, value) in [
            ("slug", "reconexion-agua"), ("entity", "sacmex"), ("name", "Reconexión del servicio de agua"),
            ("description", "Pide que vuelvan a conectar tu toma."), ("who_may_apply", "Titulares de la cuenta."),
            ("requirements", "curp | application | CURP del titular\npayment_receipt | review | Pago del adeudo"),
            ("response_deadline", "5 días hábiles"), ("cost_kind", "amount"), ("cost_mxn", "350"),
            ("online_url", "https://www.sacmex.cdmx.gob.mx/reconexion"), ("level", "urn:llave:loa:1"),
            ("yearly_volume", "40,000"), ("tags", "agua, pagos"), ("status", "published"),
        ] {
            set(&mut fields, name, value);
        }
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let saved = hub.post("/catalogo/editar/nuevo", &borrowed).await;
        assert_eq!(saved.status, axum::http::StatusCode::SEE_OTHER, "{}", saved.body);
        assert!(app.client().get("/tramites?q=reconexion").await.body.contains("/tramites/reconexion-agua"));
        // The same slug again is refused on the form.
        let again = hub.post("/catalogo/editar/nuevo", &borrowed).await;
        assert_eq!(again.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);

        let report = hub.get("/catalogo/reporte").await;
        assert_eq!(report.status, axum::http::StatusCode::OK);
        assert!(report.body.contains("Reconexión del servicio de agua"));
        // Thousands grouped on the page; no "-0" for a procedure with nothing to gain.
        assert!(report.body.contains("40,000") && !report.body.contains("-0 "), "{}", report.body);
        assert!(report.body.contains("drop curp: Llave already has it"));
        assert!(report.body.contains("ask payment_receipt with the application, not at review"));
        let json: serde_json::Value = serde_json::from_str(&hub.get("/catalogo/reporte.json").await.body).unwrap();
        assert_eq!(json["procedures"][0]["yearly_volume"], 40000);
        // Roles are listed and can be taken away.
        let listed = llave(&app, &["staff", "list", "--json"], None);
        assert!(String::from_utf8_lossy(&listed.stdout).contains("hub_staff"));
        let bad = llave(&app, &["staff", "grant", "--curp", "XXXX000000HDFXXX00", "--role", "hub-staff"], None);
        assert!(!bad.status.success());
        app.finish().await;
    }
}

/// Every named input, select and textarea of a page's first form, as a browser would send.
pub fn form_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(" name=\"") {
        let tag_start = rest[..at].rfind('<').unwrap_or(0);
        let tag = &rest[tag_start..];
        let name_start = at + " name=\"".len();
        let name_end = rest[name_start..].find('"').map(|e| name_start + e).unwrap_or(name_start);
        let name = rest[name_start..name_end].to_string();
        let value = if tag.starts_with("<textarea") {
            let open_end = tag.find('>').unwrap() + 1;
            let close = tag.find("</textarea>").unwrap();
            unescape(&tag[open_end..close])
        } else if tag.starts_with("<select") {
            let close = tag.find("</select>").unwrap();
            let select = &tag[..close];
            select
                .split("<option value=\"")
                .skip(1)
                .find(|o| o.contains("selected"))
                .or_else(|| select.split("<option value=\"").nth(1))
                .and_then(|o| o.split('"').next())
                .map(unescape)
                .unwrap_or_default()
        } else {
            let tag_end = tag.find('>').unwrap_or(tag.len());
            tag[..tag_end].split(" value=\"").nth(1).and_then(|v| v.split('"').next()).map(unescape).unwrap_or_default()
        };
        if !tag.starts_with("<button") && !fields.iter().any(|(n, _)| *n == name) {
            fields.push((name, value));
        }
        rest = &rest[name_end..];
    }
    fields
}

pub fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    match fields.iter_mut().find(|(n, _)| n == name) {
        Some(field) => field.1 = value.to_string(),
        None => fields.push((name.to_string(), value.to_string())),
    }
}

both_backends! {
    async fn the_demo_catalog_has_forty_procedures_across_eight_entities(backend: Backend) {
        let app = TestApp::new(backend).await;
        let demo = llave(&app, &["demo", "--json"], None);
        assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
        let out = llave(&app, &["catalog", "export", "--format", "csv"], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        let entity = reader.headers().unwrap().iter().position(|h| h == "entity").unwrap();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let entities: std::collections::BTreeSet<String> = rows.iter().map(|r| r[entity].to_string()).collect();
        assert!(rows.len() >= 40, "{} procedures", rows.len());
        assert!(entities.len() >= 8, "{entities:?}");

        // Its reuse bases load pending: an import never approves one.
        let report = llave::catalog::report(&app.state.store).await.unwrap();
        let bases: Vec<_> = report.procedures.iter().flat_map(|p| &p.reuse_bases).collect();
        assert!(!bases.is_empty());
        assert!(bases.iter().all(|b| b.state == llave::catalog::review::BasisState::Pending), "{bases:?}");
        let text = report.to_text();
        assert!(!text.contains("-0") && text.contains("2,800,000 applications a year"), "{text}");
        app.finish().await;
    }
}
