use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use llave::registry::{FileRegistry, RegistryRecord};

use crate::both_backends;
use crate::support::*;

fn record(person: &Person) -> RegistryRecord {
    RegistryRecord {
        curp: person.curp.clone(),
        given_names: person.given_names.to_uppercase(),
        first_surname: person.first_surname.to_uppercase(),
        second_surname: Some(person.second_surname.clone()).filter(|s| !s.is_empty()),
        birth_date: person.birth_date.clone(),
        sex: person.sex.clone(),
        state: person.state.clone(),
    }
}

both_backends! {
    async fn a_file_registry_refuses_unknown_curps_and_other_names(backend: Backend) {
        let known = Person::synthetic(61);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registry.json");
        // The registry knows a further given name: the CURP's letters stay the same.
        let mut registered = record(&known);
        registered.given_names = format!("{} Segundo", known.given_names);
        FileRegistry::write(&file, &[registered.clone()]).unwrap();
        let spec = format!("file:{}", file.display());
        let app = TestApp::builder(backend).config(|c| c.registry = Some(spec)).build().await;

        let unknown = app.client().submit("/signup", "/signup", &Person::synthetic(62).signup_fields()).await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(unknown.body.contains("El Registro de Población no tiene esta CURP"));

        let mismatch = app.client().submit("/signup", "/signup", &known.signup_fields()).await;
        assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", mismatch.body);
        assert!(mismatch.body.contains("no coincide con el Registro de Población"));

        // Declared the registry's way (accents and case aside), the sign-up goes through.
        let declared = format!("{} segundo", known.given_names.to_lowercase());
        let mut fields = known.signup_fields();
        fields[1] = ("given_names", declared.as_str());
        let matching = app.client().submit("/signup", "/signup", &fields).await;
        assert_eq!(matching.status, StatusCode::OK, "{}", matching.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 1);
        app.finish().await;
    }
}

/// A stand-in for the national registry's web service (outside the city's control), speaking
/// the contract in docs/registry.md.
async fn registry_service(records: Vec<RegistryRecord>) -> String {
    let router = axum::Router::new().route(
        "/curp/{curp}",
        get(move |axum::extract::Path(curp): axum::extract::Path<String>| {
            let found = records.iter().find(|r| r.curp == curp).cloned();
            async move {
                match found {
                    Some(record) => axum::Json(record).into_response(),
                    None => (StatusCode::NOT_FOUND, "unknown").into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

both_backends! {
    async fn an_http_registry_is_asked_for_each_sign_up(backend: Backend) {
        let known = Person::synthetic(63);
        let base = registry_service(vec![record(&known)]).await;
        let app = TestApp::builder(backend).config(|c| c.registry = Some(base)).build().await;
        let unknown = app.client().submit("/signup", "/signup", &Person::synthetic(64).signup_fields()).await;
        assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(unknown.body.contains("El Registro de Población no tiene esta CURP"));
        let ok = app.client().submit("/signup", "/signup", &known.signup_fields()).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        app.finish().await;
    }
}

both_backends! {
    async fn an_unreachable_registry_lets_nobody_in_unchecked(backend: Backend) {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let app = TestApp::builder(backend).config(|c| c.registry = Some(format!("http://{closed}"))).build().await;
        let response = app.client().submit("/signup", "/signup", &Person::synthetic(65).signup_fields()).await;
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.body.contains("No pudimos consultar el Registro de Población"));
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 0);
        app.finish().await;
    }
}
