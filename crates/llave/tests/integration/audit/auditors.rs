//! Auditors read the events by person, entity, officer, kind and time on a page and as
//! JSON; every read is itself an event (about the person read), and so in the log.

use axum::http::StatusCode;

use crate::both_backends;
use crate::support::{Client, Person, TestApp, enrol_totp, llave, sign_up_and_confirm};

/// A person granted `auditor`, signed in with a second factor.
async fn auditor(app: &TestApp, seed: u64) -> (Client, Person) {
    let person = Person::synthetic(seed);
    sign_up_and_confirm(app, &person).await;
    let out = llave(app, &["staff", "grant", "--curp", &person.curp, "--role", "auditor", "--json"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut browser = app.client();
    assert_eq!(browser.sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
    let refused = browser.get("/auditoria").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "password alone is not enough");
    assert!(refused.body.contains("segundo factor"), "{}", refused.body);
    let (_, codes) = enrol_totp(&mut browser).await;
    let fields = [("identifier", person.curp.as_str()), ("password", &person.password), ("next", "/auditoria")];
    assert_eq!(browser.submit("/signin?reauth=1", "/signin", &fields).await.location(), Some("/signin/second"));
    let second = browser.submit("/signin/second", "/signin/second", &[("recovery_code", &codes[0])]).await;
    assert_eq!(second.location(), Some("/auditoria"));
    (browser, person)
}

both_backends! {
    async fn auditors_read_events_by_person_kind_and_time_and_each_read_is_logged(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(9170);
        sign_up_and_confirm(&app, &person).await;
        let mut someone = app.client();
        someone.sign_in(&person.curp, &person.password).await;
        let (mut browser, auditor_person) = auditor(&app, 9171).await;

        let page = browser.get(&format!("/auditoria?curp={}", person.curp)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("sign_up") && page.body.contains("sign_in"), "{}", page.body);
        let json = browser.get(&format!("/auditoria/eventos.json?curp={}&tipo=sign_in", person.curp)).await;
        assert_eq!(json.status, StatusCode::OK, "{}", json.body);
        let found: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        let events = found["events"].as_array().unwrap();
        assert!(!events.is_empty() && events.iter().all(|e| e["kind"] == "sign_in"), "{found}");
        // A time range before everything: nothing.
        let old = browser.get(&format!("/auditoria/eventos.json?curp={}&desde=2001-01-01&hasta=2001-12-31", person.curp)).await;
        let old: serde_json::Value = serde_json::from_str(&old.body).unwrap();
        assert_eq!(old["events"].as_array().unwrap().len(), 0);
        // By actor: the auditor's own reads so far.
        let reads = browser.get(&format!("/auditoria/eventos.json?actor={}&tipo=auditor_read", auditor_person.curp)).await;
        let reads: serde_json::Value = serde_json::from_str(&reads.body).unwrap();
        assert_eq!(reads["events"].as_array().unwrap().len(), 3, "{reads}");
        assert_eq!(reads["events"][0]["actor"]["kind"], "auditor");
        // Bad input: a clear 400.
        assert_eq!(browser.get("/auditoria?desde=ayer").await.status, StatusCode::BAD_REQUEST);
        assert_eq!(browser.get("/auditoria/eventos.json?entidad=nadie").await.status, StatusCode::BAD_REQUEST);

        // Each read is an event about the person read, by the auditor, in the log.
        let account: i64 = sqlx::query_scalar("SELECT id FROM accounts WHERE curp = $1")
            .bind(&person.curp)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
        let logged: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE kind = 'auditor_read' AND account_id = $1 AND actor_kind = 'auditor' AND actor = $2",
        )
        .bind(account)
        .bind(&auditor_person.curp)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
        assert_eq!(logged, 3, "the page read, the JSON read and the empty range read");
        let read_event: i64 = sqlx::query_scalar("SELECT MAX(id) FROM events WHERE kind = 'auditor_read'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
        crate::audit::sequence(&app).await;
        assert!(app.state.store.audit_leaf_of_event(read_event).await.unwrap().is_some());

        // Not an auditor: refused.
        let mut plain = app.client();
        plain.sign_in(&person.curp, &person.password).await;
        assert_eq!(plain.get("/auditoria").await.status, StatusCode::FORBIDDEN);
        assert_eq!(plain.get("/auditoria/eventos.json").await.status, StatusCode::FORBIDDEN);
    }
}
