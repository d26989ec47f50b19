//! The consent capability's one page, `/permisos`: both kinds of consent a person gave,
//! each withdrawable there, as one act with its event; nobody withdraws another's.

use axum::http::StatusCode;
use llave::store::records::ReuseConsent;

use crate::both_backends;
use crate::support::*;

both_backends! {
    async fn one_page_lists_every_consent_and_withdraws_each(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(8801);
        let other = Person::synthetic(8802);
        sign_up_and_confirm(&app, &person).await;
        sign_up_and_confirm(&app, &other).await;
        let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap().id;
        let agua = llave::admin::entity::add_entity(&app.state, "agua", "Sistema de Aguas").await.unwrap();
        let semovi = llave::admin::entity::add_entity(&app.state, "semovi", "Secretaría de Movilidad").await.unwrap();
        let client = llave::admin::entity::add_client(&app.state.store, &llave::oidc::clients::NewClient {
            entity: "agua".into(),
            name: "Pagos en línea".into(),
            redirect_uris: vec!["https://agua.example/callback".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        let now = llave::crypto::now();
        app.state.store.save_consent(account, &client.client_id, "openid email", now).await.unwrap();
        app.state
            .store
            .add_reuse_consent(&ReuseConsent {
                id: "permiso-1".into(),
                account_id: account.0,
                reader_entity_id: semovi.id,
                procedure: "licencia".into(),
                kind: "proof_of_residence".into(),
                holder_entity_id: agua.id,
                granted_at: now,
                withdrawn_at: None,
            })
            .await
            .unwrap();

        let mut browser = app.client();
        browser.sign_in(&person.curp, &person.password).await;
        let page = browser.get("/permisos").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Tus permisos"), "{}", page.body);
        assert!(page.body.contains("Sistema de Aguas — Pagos en línea"), "the sign-in consent is listed");
        assert!(page.body.contains("Secretaría de Movilidad"), "the reuse consent names its reader");
        assert!(page.body.contains("Comprobante de domicilio"), "and the kind in words");

        // Someone else cannot withdraw them, and a form without its CSRF token changes nothing.
        let mut intruder = app.client();
        intruder.sign_in(&other.curp, &other.password).await;
        let refused = intruder.submit("/permisos", "/permisos/retirar", &[("kind", "reuse"), ("id", "permiso-1")]).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
        let forged = browser.post("/permisos/retirar", &[("kind", "sign_in"), ("id", &client.client_id)]).await;
        assert_ne!(forged.status, StatusCode::SEE_OTHER);
        let odd = browser.submit("/permisos", "/permisos/retirar", &[("kind", "otro"), ("id", "x")]).await;
        assert_eq!(odd.status, StatusCode::BAD_REQUEST);
        assert_eq!(app.count("SELECT COUNT(*) FROM consents").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM reuse_consents WHERE withdrawn_at IS NULL").await, 1);

        // The person withdraws both, each one act with its event.
        let done = browser.submit("/permisos", "/permisos/retirar", &[("kind", "sign_in"), ("id", &client.client_id)]).await;
        assert_eq!((done.status, done.location()), (StatusCode::SEE_OTHER, Some("/permisos?aviso=retirado")));
        let done = browser.submit("/permisos", "/permisos/retirar", &[("kind", "reuse"), ("id", "permiso-1")]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER);
        assert_eq!(app.count("SELECT COUNT(*) FROM consents").await, 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM reuse_consents WHERE withdrawn_at IS NULL").await, 0);
        assert_eq!(app.count("SELECT COUNT(*) FROM events WHERE kind = 'consent_withdrawn'").await, 2);
        let page = browser.get("/permisos").await;
        assert!(page.body.contains("Ningún sitio tiene tu permiso"), "{}", page.body);
        assert!(page.body.contains("Retirado el"), "a withdrawn reuse consent stays listed, as withdrawn");
        // Withdrawing again finds nothing.
        let again = browser.submit("/permisos", "/permisos/retirar", &[("kind", "reuse"), ("id", "permiso-1")]).await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
        app.finish().await;
    }
}
