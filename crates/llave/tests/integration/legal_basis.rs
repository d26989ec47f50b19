//! Finding 13.1: a legal basis that allows reuse without consent is the hub's decision. An
//! entity's catalog editor marks it; it takes effect only once legal reviewers approve it
//! on `/catalogo/revision-legal` (two for sensitive kinds, never an editor of the entity);
//! until then look-ups and reads need the person's consent.

use axum::http::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::catalog::{form_fields, set, staff};
use crate::records::world;
use crate::support::*;

const REVIEW: &str = "/catalogo/revision-legal";

/// The fingerprint the review page would post for the procedure's first reuse basis.
async fn fingerprint(app: &TestApp, slug: &str) -> String {
    let procedures = app.state.store.all_procedures().await.unwrap();
    let procedure = procedures.iter().find(|p| p.slug == slug).unwrap();
    let basis = procedure.legal_basis.iter().find(|b| b.allows_reuse).unwrap();
    llave::catalog::review::fingerprint(procedure, basis)
}

/// A reviewer decides (`approved` or `rejected`) on the procedure's current reuse basis.
async fn decide(app: &TestApp, browser: &mut Client, slug: &str, decision: &str) -> Response {
    let print = fingerprint(app, slug).await;
    browser.submit(REVIEW, REVIEW, &[("procedure", slug), ("fingerprint", &print), ("decision", decision)]).await
}

/// A legal reviewer (made for the purpose) approves the procedure's reuse basis, as on the
/// review page: for tests whose subject is what an approved basis allows.
pub async fn approve_reuse(app: &TestApp, slug: &str) {
    let reviewer = Person::synthetic(990_001);
    let store = &app.state.store;
    if store.account_by_curp(&reviewer.curp).await.unwrap().is_none() {
        sign_up_and_confirm(app, &reviewer).await;
    }
    let account = store.account_by_curp(&reviewer.curp).await.unwrap().unwrap().id;
    llave::admin::staff::grant(store, account, llave::catalog::review::ROLE, "*", "test").await.unwrap();
    let procedures = store.all_procedures().await.unwrap();
    let procedure = procedures.iter().find(|p| p.slug == slug).unwrap();
    let basis = procedure.legal_basis.iter().find(|b| b.allows_reuse).unwrap();
    let review = llave::catalog::review::Review {
        procedure: slug.into(),
        fingerprint: llave::catalog::review::fingerprint(procedure, basis),
        reviewer_account_id: account.0,
        decision: llave::catalog::review::Decision::Approved,
        at: llave::crypto::now(),
    };
    let citation = llave::catalog::review::citation(&basis.law, basis.article.as_deref());
    assert!(store.decide_legal_basis(slug, &review, &citation).await.unwrap());
}

both_backends! {
    async fn a_reuse_basis_an_editor_wrote_needs_a_legal_reviewers_approval(backend: Backend) {
        let w = world(backend).await;
        let (person, mut browser) = crate::oidc::support::signed_in_person(&w.app, 7301).await;
        let stored = w.residence_at_b(&person.curp).await;
        let record = stored["record_id"].as_str().unwrap().to_string();
        let lookups = w.token(&w.a, "lookups").await;

        // The attack: semovi's `permiso` carries `allows_reuse`, but nobody reviewed it. The
        // sign-in asks the person's consent as for any other procedure…
        let (page, sub) = w.sign_in_to_a(&mut browser, "permiso", true).await;
        assert!(page.contains("name=\"reuse\""), "a pending basis spares no consent: {page}");
        let (status, found) = w.lookup(&lookups, json!({"sub": sub}), "permiso", "proof_of_residence").await;
        assert_eq!((status, found["basis"].as_str()), (200, Some("consent")), "{found}");
        // …and once the person withdraws it, the entity reads nothing, law or no law.
        let account = w.account_id(&person.curp).await;
        let consent = w.app.state.store.reuse_consents_of(account).await.unwrap().remove(0);
        let which = llave::consent::Withdraw::Reuse(&consent.id);
        let actor = llave::accounts::Actor::cli();
        assert!(llave::consent::withdraw(&w.app.state, llave::store::AccountId(account), which, &actor).await.unwrap());
        let (status, body) = w.lookup(&lookups, json!({"sub": sub}), "permiso", "proof_of_residence").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("consent_required")), "{body}");
        let (status, body) = w.read(&lookups, &record, found["grant"].as_str().unwrap(), "permiso").await;
        assert_eq!(status, 403, "{body}");

        // An editor of semovi who is also a legal reviewer cannot approve semovi's basis; a
        // person without the role cannot open the page.
        let mut editor = staff(&w.app, 7302, &[&["--role", "catalog-editor", "--entity", "semovi"], &["--role", "legal-reviewer"]]).await;
        let page = editor.get(REVIEW).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Pendiente de revisión legal") && page.body.contains("Ley de permiso, Art. 1"), "{}", page.body);
        assert!(page.body.contains("Editas el catálogo de esta dependencia"), "{}", page.body);
        let refused = decide(&w.app, &mut editor, "permiso", "approved").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert_eq!(staff(&w.app, 7303, &[]).await.get(REVIEW).await.status, StatusCode::FORBIDDEN);
        let (status, _) = w.lookup(&lookups, json!({"sub": sub}), "permiso", "proof_of_residence").await;
        assert_eq!(status, 403, "still pending");

        // Without the CSRF token, or with a basis that changed since: refused.
        let mut reviewer = staff(&w.app, 7304, &[&["--role", "legal-reviewer"]]).await;
        let print = fingerprint(&w.app, "permiso").await;
        let forged = reviewer.post(REVIEW, &[("csrf_token", "x"), ("procedure", "permiso"), ("fingerprint", &print), ("decision", "approved")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let stale = reviewer.submit(REVIEW, REVIEW, &[("procedure", "permiso"), ("fingerprint", "[]"), ("decision", "approved")]).await;
        assert_eq!(stale.status, StatusCode::CONFLICT);

        // A legal reviewer approves: now the law spares the consent, and names itself.
        let approved = decide(&w.app, &mut reviewer, "permiso", "approved").await;
        assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
        // The decision and its event are one act; the refused and forged tries wrote none.
        assert_eq!(
            w.app
                .count(
                    "SELECT COUNT(*) FROM events e JOIN acts a ON a.id = e.act_id WHERE a.name = 'legal_basis_decision' \
                     AND e.kind = 'legal_basis_decided' AND e.procedure_slug = 'permiso' AND e.actor_kind = 'staff'"
                )
                .await,
            1
        );
        let page = reviewer.get(approved.location().unwrap()).await.body;
        assert!(page.contains("Aprobado") && page.contains("1 de 1 aprobaciones"), "{page}");
        let (status, found) = w.lookup(&lookups, json!({"sub": sub}), "permiso", "proof_of_residence").await;
        assert_eq!(status, 200, "{found}");
        assert_eq!((found["basis"].as_str(), found["legal_basis"].as_str()), (Some("legal_basis"), Some("Ley de permiso, Art. 1")));
        let (status, read) = w.read(&lookups, &record, found["grant"].as_str().unwrap(), "permiso").await;
        assert_eq!(status, 200, "{read}");

        // The edit page, the history and the report show the decision and who made it.
        let mut semovi = staff(&w.app, 7305, &[&["--role", "catalog-editor", "--entity", "semovi"]]).await;
        let edit = semovi.get("/catalogo/editar/permiso").await.body;
        assert!(edit.contains("Reutilización sin consentimiento") && edit.contains("<strong>Aprobado</strong>"), "{edit}");
        assert!(edit.contains("legal-basis-approved: Ley de permiso, Art. 1"), "{edit}");
        let report = llave(&w.app, &["catalog", "report"], None);
        let text = String::from_utf8_lossy(&report.stdout);
        assert!(text.contains("reuse without consent under Ley de permiso, Art. 1: approved (1 of 1 approvals; approved by account:"), "{text}");

        // The editor changes the article: pending again, consent needed again; a grant
        // given under the old text reads nothing.
        let (_, found) = w.lookup(&lookups, json!({"sub": sub}), "permiso", "proof_of_residence").await;
        let mut fields = form_fields(&edit);
        set(&mut fields, "legal_basis", "Ley de permiso | Art. 2 | | reuse");
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(semovi.post("/catalogo/editar/permiso", &borrowed).await.status, StatusCode::SEE_OTHER);
        let (status, body) = w.lookup(&lookups, json!({"sub": sub}), "permiso", "proof_of_residence").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("consent_required")), "{body}");
        let (status, body) = w.read(&lookups, &record, found["grant"].as_str().unwrap(), "permiso").await;
        assert_eq!(status, 403, "{body}");
        assert!(semovi.get("/catalogo/editar/permiso").await.body.contains("Pendiente de revisión legal"));

        // A rejection keeps it off, and shows as such.
        assert_eq!(decide(&w.app, &mut reviewer, "permiso", "rejected").await.status, StatusCode::SEE_OTHER);
        let (status, _) = w.lookup(&lookups, json!({"sub": sub}), "permiso", "proof_of_residence").await;
        assert_eq!(status, 403);
        let report = llave::catalog::report(&w.app.state.store).await.unwrap();
        assert!(report.to_text().contains("Ley de permiso, Art. 2: rejected (0 of 1 approvals; rejected by account:"), "{}", report.to_text());
        let mut hub = staff(&w.app, 7306, &[&["--role", "hub-staff"]]).await;
        let page = hub.get("/catalogo/reporte").await.body;
        assert!(page.contains("Ley de permiso, Art. 2 · Rechazado · 0 de 1 aprobaciones · Rechazó · account:"), "{page}");
        assert!(hub.get("/catalogo/editar").await.body.contains("href=\"/catalogo/revision-legal\""));
        w.app.finish().await;
    }
}

both_backends! {
    async fn a_sensitive_kind_needs_two_reviewers_and_an_import_cannot_approve(backend: Backend) {
        let w = world(backend).await;
        let (_, mut browser) = crate::oidc::support::signed_in_person(&w.app, 7311).await;
        let (_, sub) = w.sign_in_to_a(&mut browser, "licencia", false).await;
        // An import that claims its basis is approved is refused whole; one that marks reuse
        // for a medical certificate loads it pending.
        let smuggled = json!({"procedures": [{
            "slug": "apto-medico", "entity": "semovi", "name": "Apto médico", "description": "Prueba.",
            "who_may_apply": "Cualquiera.", "requirements": [{"kind": "medical_certificate", "description": "Certificado", "stage": "application"}],
            "legal_basis": [{"law": "Ley de salud", "article": "Art. 9", "allows_reuse": true, "approved": true}],
            "steps": ["Solicita"], "response_deadline": "Inmediato", "cost": {"kind": "free"},
            "channels": {"offices": ["Oficina"]}, "level": "urn:llave:loa:1", "yearly_volume": 5, "tags": [], "status": "published"}]});
        assert!(llave::catalog::import(&w.app.state.store, &smuggled.to_string(), "test", 1).await.is_err());
        let mut honest = smuggled.clone();
        honest["procedures"][0]["legal_basis"][0].as_object_mut().unwrap().remove("approved");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalogo.json");
        std::fs::write(&path, honest.to_string()).unwrap();
        let out = llave(&w.app, &["catalog", "import", path.to_str().unwrap()], None);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = llave::catalog::report(&w.app.state.store).await.unwrap().to_text();
        assert!(text.contains("Ley de salud, Art. 9: pending (0 of 2 approvals)"), "{text}");

        let lookups = w.token(&w.a, "lookups").await;
        let mut first = staff(&w.app, 7312, &[&["--role", "legal-reviewer"]]).await;
        assert_eq!(decide(&w.app, &mut first, "apto-medico", "approved").await.status, StatusCode::SEE_OTHER);
        // The same reviewer twice is still one approval.
        assert_eq!(decide(&w.app, &mut first, "apto-medico", "approved").await.status, StatusCode::SEE_OTHER);
        let page = first.get(REVIEW).await.body;
        assert!(page.contains("1 de 2 aprobaciones") && page.contains("dato sensible"), "{page}");
        first.get("/lang/en?next=/catalogo/revision-legal").await;
        let page = first.get(REVIEW).await.body;
        assert!(page.contains("Pending legal review") && page.contains("1 of 2 approvals") && page.contains("Medical certificate (sensitive data)"), "{page}");
        let (status, body) = w.lookup(&lookups, json!({"sub": sub}), "apto-medico", "medical_certificate").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("consent_required")), "{body}");
        let mut second = staff(&w.app, 7313, &[&["--role", "legal-reviewer"]]).await;
        assert_eq!(decide(&w.app, &mut second, "apto-medico", "approved").await.status, StatusCode::SEE_OTHER);
        let (status, body) = w.lookup(&lookups, json!({"sub": sub}), "apto-medico", "medical_certificate").await;
        assert_eq!((status, body), (200, json!({"found": false})), "answered under the approved basis");
        w.app.finish().await;
    }
}
