//! Storage guarantees that hold on both backends.

use llave::store::{EventKind, Store};

use crate::both_backends;
use crate::support::*;

both_backends! {
    async fn the_security_event_log_is_append_only(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(81);
        sign_up_and_confirm(&app, &person).await;
        app.client().sign_in(&person.curp, &person.password).await;
        let kinds: Vec<String> = app
            .state
            .store
            .events_for_account(app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap().id, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["sign_in", "email_confirmed", "sign_up"]);
        let pool = app.state.store.pool();
        assert!(sqlx::query("UPDATE security_events SET kind = 'x'").execute(pool).await.is_err());
        assert!(sqlx::query("DELETE FROM security_events").execute(pool).await.is_err());
        assert_eq!(app.count("SELECT COUNT(*) FROM security_events").await, 3);
        app.finish().await;
    }
}

both_backends! {
    async fn events_keep_address_and_user_agent(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(82);
        sign_up_and_confirm(&app, &person).await;
        let mut client = app.client_from("192.0.2.44");
        client.user_agent = "Navegador de prueba".into();
        client.sign_in(&person.curp, "equivocada del todo").await;
        let row = sqlx::query("SELECT client_address, user_agent FROM security_events WHERE kind = 'sign_in_failed'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
        use sqlx::Row;
        assert_eq!(row.get::<String, _>("client_address"), "192.0.2.44");
        assert_eq!(row.get::<String, _>("user_agent"), "Navegador de prueba");
        let _ = EventKind::SignIn;
        app.finish().await;
    }
}

both_backends! {
    async fn migrations_apply_once_and_reconnecting_keeps_the_data(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(83);
        sign_up_and_confirm(&app, &person).await;
        let again = Store::connect(&app.database_url).await.unwrap();
        again.migrate().await.unwrap();
        assert_eq!(again.count_accounts().await.unwrap(), 1);
        again.close().await;
        app.finish().await;
    }
}
