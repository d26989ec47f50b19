//! The demo's story, hub and spokes, end to end in a real browser
//! (`tests/browser/demo_story.mjs`): after `llave demo`'s seeding, a demo person gets a
//! proof of residence at the Alcaldía Cuauhtémoc's demo site, applies for a driver's
//! licence at Semovi's, refuses the reuse once and allows it the second time, and Semovi
//! shows the address it read from the Alcaldía. Then, here: the read is in the person's
//! access log, and the address is nowhere but sealed in the Alcaldía's own store.

use crate::both_backends;
use crate::browser::{browser_tests_dir, require_browser_tooling, run_script};
use crate::support::TestApp;

/// ASCII, so it can be looked for in raw database files.
const STREET: &str = "Calle Lerma 71 interior 4";
const COLONIA: &str = "Cuauhtemoc";
const POSTAL_CODE: &str = "06500";

/// How many rows of the hub's tables (and of every entity's store) hold `needle` in clear:
/// SQLite, the bytes of every database file; PostgreSQL, every row of every table of the
/// test's schema and of its entities' schemas, as text.
async fn rows_in_clear(app: &TestApp, needle: &str) -> usize {
    use sqlx::Row;
    match app.backend {
        crate::support::Backend::Sqlite => {
            let mut found = 0;
            let mut dirs = vec![app.dir.path().to_path_buf()];
            while let Some(dir) = dirs.pop() {
                for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        dirs.push(path);
                    } else if std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle.as_bytes()) {
                        println!("{needle:?} is in {}", path.display());
                        found += 1;
                    }
                }
            }
            found
        }
        crate::support::Backend::Postgres => {
            let pool = app.state.store.pool();
            let tables = sqlx::query(
                "SELECT table_schema::text, table_name::text FROM information_schema.tables \
                 WHERE table_type = 'BASE TABLE' \
                 AND (table_schema = current_schema() OR table_schema LIKE current_schema() || '\\_e\\_%')",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            assert!(tables.len() > 20, "the hub's tables are listed");
            let mut found = 0;
            for table in tables {
                let (schema, name): (String, String) = (table.get(0), table.get(1));
                let count: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM \"{schema}\".\"{name}\" t WHERE CAST(t AS TEXT) LIKE $1"
                )))
                .bind(format!("%{needle}%"))
                .fetch_one(pool)
                .await
                .unwrap()
                .get(0);
                if count > 0 {
                    println!("{needle:?} is in {schema}.{name}");
                }
                found += count as usize;
            }
            found
        }
    }
}

both_backends! {
    async fn the_demo_story_runs_end_to_end_in_a_browser(backend: Backend) {
        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        // The demo sites answer in development mode only.
        let (app, base) = TestApp::builder(backend).config(|c| c.dev.enabled = true).serve_as_localhost().await;
        let report = llave::admin::demo::run(&app.state).await.expect("the demo data");
        assert_eq!(report.sites.len(), 2);
        assert!(report.to_text(&base).contains(&format!("{base}/demo/semovi/")));
        let person = &report.people[0];

        run_script(&dir, "demo_story.mjs", &base, &[
            ("CURP", person.curp.clone()),
            ("PASSWORD", person.password.clone()),
            ("STREET", STREET.into()),
            ("COLONIA", COLONIA.into()),
            ("POSTAL_CODE", POSTAL_CODE.into()),
        ]).await;

        let store = &app.state.store;
        let account = store.account_by_curp(&person.curp).await.unwrap().unwrap().id.0;
        let alcaldia = store.entity_by_slug("alcaldia-cuauhtemoc").await.unwrap().unwrap();
        let semovi = store.entity_by_slug("semovi").await.unwrap().unwrap();

        // The person's access log: Semovi's look-up refused without consent, then one read,
        // by Semovi, of the Alcaldía's record, for the licence.
        let accesses = store.accesses_about(account).await.unwrap();
        let reads: Vec<_> = accesses.iter().filter(|a| a.outcome == "read").collect();
        assert_eq!(reads.len(), 1, "{accesses:?}");
        assert_eq!(reads[0].reader_entity_id, Some(semovi.id));
        assert_eq!(reads[0].holder_entity_id, Some(alcaldia.id));
        assert_eq!(reads[0].procedure.as_deref(), Some("licencia-de-conducir"));
        assert!(
            accesses.iter().any(|a| a.outcome == "refused"
                && a.reader_entity_id == Some(semovi.id)
                && a.detail.as_deref().is_some_and(|d| d.starts_with("consent_required"))),
            "the look-up without consent is logged: {accesses:?}"
        );
        let consents = store.reuse_consents_of(account).await.unwrap();
        assert_eq!(consents.len(), 1, "one standing consent, given the second time");
        assert_eq!((consents[0].reader_entity_id, consents[0].holder_entity_id), (semovi.id, alcaldia.id));

        // The record lives in the Alcaldía's store only, sealed; Semovi's store is empty and
        // no table of the hub holds the address.
        let holder = app.state.spokes.get(&app.state, alcaldia.id).await.unwrap();
        assert_eq!(holder.count().await.unwrap(), 1);
        for (_, content, _) in holder.raw_rows().await.unwrap() {
            assert!(!content.contains(STREET) && !content.contains(POSTAL_CODE), "sealed: {content}");
        }
        let reader = app.state.spokes.get(&app.state, semovi.id).await.unwrap();
        assert_eq!(reader.count().await.unwrap(), 0);
        assert!(rows_in_clear(&app, &person.curp).await > 0, "the search finds what the hub does keep in clear");
        assert_eq!(rows_in_clear(&app, STREET).await, 0, "the address is nowhere in clear");
        app.finish().await;
    }
}

both_backends! {
    async fn without_the_demo_there_are_no_demo_sites(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut client = app.client();
        for path in ["/demo/semovi/", "/demo/alcaldia-cuauhtemoc/", "/demo/semovi/entrar", "/demo/semovi/callback?code=x&state=y"] {
            assert_eq!(client.get(path).await.status, axum::http::StatusCode::NOT_FOUND, "{path}");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn development_pages_answer_only_in_dev_mode_whatever_the_issuer(backend: Backend) {
        use axum::http::StatusCode;
        let pages = ["/dev/outbox", "/demo/semovi/", "/demo/alcaldia-cuauhtemoc/"];
        // An issuer that merely starts like a loopback one, or is one: without dev mode, 404.
        for issuer in ["http://localhostx.example.gob.mx", "http://localhost:8080", "http://127.0.0.1:8080"] {
            let app = TestApp::builder(backend).config(|c| c.issuer = Some(issuer.into())).build().await;
            llave::admin::demo::run(&app.state).await.expect("the demo data");
            let mut client = app.client();
            for path in pages {
                assert_eq!(client.get(path).await.status, StatusCode::NOT_FOUND, "{issuer}{path} without --dev");
            }
            app.finish().await;
        }
        // Dev mode on a loopback address: served.
        let app = TestApp::builder(backend)
            .config(|c| {
                c.issuer = Some("http://localhost:8080".into());
                c.dev.enabled = true;
            })
            .build()
            .await;
        llave::admin::demo::run(&app.state).await.expect("the demo data");
        let mut client = app.client();
        for path in pages {
            assert_eq!(client.get(path).await.status, StatusCode::OK, "{path} with --dev");
        }
        app.finish().await;
    }
}

both_backends! {
    async fn reloading_a_demo_sites_callback_keeps_the_person_signed_in(backend: Backend) {
        use axum::http::StatusCode;
        let (app, base) = TestApp::builder(backend).config(|c| c.dev.enabled = true).serve_as_localhost().await;
        let report = llave::admin::demo::run(&app.state).await.expect("the demo data");
        let person = &report.people[0];
        let mut browser = app.client();
        assert_eq!(browser.sign_in(&person.curp, &person.password).await.status, StatusCode::SEE_OTHER);
        let local = |url: &str| {
            let url = url::Url::parse(url).unwrap();
            format!("{}?{}", url.path(), url.query().unwrap_or(""))
        };
        // Semovi's sign-in: to llave, consent, back to Semovi's callback.
        let to_llave = browser.get("/demo/semovi/entrar").await;
        assert_eq!(to_llave.status, StatusCode::SEE_OTHER);
        let consent = browser.get(&local(to_llave.location().unwrap())).await;
        let request = crate::support::input_value(&consent.body, "request").expect("the consent page");
        let token = crate::support::input_value(&consent.body, "csrf_token").unwrap();
        let back = browser.post("/authorize/consent", &[("csrf_token", &token), ("request", &request), ("decision", "allow")]).await;
        assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
        let callback = local(back.location().unwrap());
        assert!(callback.starts_with("/demo/semovi/callback?"), "{callback} ({base})");
        let first = browser.get(&callback).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert!(!first.body.contains("La sesión expiró"));
        // The reload: the code and state are spent, the person is still signed in.
        let reload = browser.get(&callback).await;
        assert!(!reload.body.contains("La sesión expiró"), "{}", reload.body);
        assert_eq!(reload.status, StatusCode::SEE_OTHER, "{}", reload.body);
        assert_eq!(reload.location(), Some("/demo/semovi/"));
        let home = browser.get("/demo/semovi/").await;
        assert!(home.body.contains("/demo/semovi/salir"), "signed in: {}", home.body);
        // Without a visit of the site, a stale callback still says the sign-in expired.
        let mut stranger = app.client();
        assert!(stranger.get(&callback).await.body.contains("La sesión expiró"));
        app.finish().await;
    }
}
