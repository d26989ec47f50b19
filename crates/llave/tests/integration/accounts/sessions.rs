use axum::http::StatusCode;

use crate::both_backends;
use crate::support::*;

both_backends! {
    async fn the_account_page_lists_sessions_and_ends_any_of_them(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(31);
        sign_up_and_confirm(&app, &person).await;
        let mut phone = app.client_from("198.51.100.20");
        phone.user_agent = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
                            Chrome/130.0.0.0 Mobile Safari/537.36"
            .into();
        phone.sign_in(&person.curp, &person.password).await;
        let mut laptop = app.client_from("198.51.100.21");
        laptop.sign_in(&person.curp, &person.password).await;

        let page = laptop.get("/account").await.body;
        // The device in words, not the raw User-Agent.
        assert!(page.contains("198.51.100.20") && page.contains("Chrome en un teléfono Android"), "{page}");
        assert!(!page.contains("AppleWebKit"), "{page}");
        assert_eq!(page.matches("name=\"session_id\"").count(), 2);
        // The phone's session is the row that shows its address.
        let row = &page[page.find("198.51.100.20").unwrap()..];
        let phone_session = input_value(row, "session_id").unwrap();
        let token = input_value(&page, "csrf_token").unwrap();
        let ended = laptop.post("/account/sessions/end", &[("csrf_token", &token), ("session_id", &phone_session)]).await;
        assert_eq!(ended.status, StatusCode::SEE_OTHER);
        assert_eq!(phone.get("/account").await.status, StatusCode::SEE_OTHER);
        assert_eq!(laptop.get("/account").await.status, StatusCode::OK);
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events WHERE kind = 'session_ended'").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn a_person_cannot_end_someone_elses_session(backend: Backend) {
        let app = TestApp::new(backend).await;
        let ana = Person::synthetic(32);
        let beto = Person::synthetic(33);
        sign_up_and_confirm(&app, &ana).await;
        sign_up_and_confirm(&app, &beto).await;
        let mut ana_client = app.client();
        ana_client.sign_in(&ana.curp, &ana.password).await;
        let mut beto_client = app.client();
        beto_client.sign_in(&beto.curp, &beto.password).await;
        let beto_page = beto_client.get("/account").await.body;
        let beto_session = input_value(&beto_page, "session_id").unwrap();
        ana_client.submit("/account", "/account/sessions/end", &[("session_id", &beto_session)]).await;
        assert_eq!(beto_client.get("/account").await.status, StatusCode::OK);
        app.finish().await;
    }
}

both_backends! {
    async fn idle_sessions_expire(backend: Backend) {
        let app = TestApp::builder(backend).config(|c| c.session.idle_minutes = 0).build().await;
        let person = Person::synthetic(34);
        sign_up_and_confirm(&app, &person).await;
        let mut client = app.client();
        assert_eq!(client.sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        assert_eq!(client.get("/account").await.status, StatusCode::SEE_OTHER);
        assert_eq!(app.count("SELECT COUNT(*) FROM sessions WHERE ended_reason = 'expired'").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn absolute_expiry_ends_a_session_in_use(backend: Backend) {
        let app = TestApp::builder(backend).config(|c| c.session.absolute_hours = 0).build().await;
        let person = Person::synthetic(35);
        sign_up_and_confirm(&app, &person).await;
        let mut client = app.client();
        client.sign_in(&person.curp, &person.password).await;
        assert_eq!(client.get("/account").await.status, StatusCode::SEE_OTHER);
        app.finish().await;
    }
}

both_backends! {
    async fn a_stolen_looking_cookie_is_not_a_session(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut client = app.client();
        client.cookies.insert("llave_session".into(), "forged-token-value".into());
        let response = client.get("/account").await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        app.finish().await;
    }
}
