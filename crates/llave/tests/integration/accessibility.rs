//! Pages for everyone (issue 14), in a real browser: `tests/browser/page_audit.mjs` visits
//! every page state a person meets (signed out and signed in, forms with and without
//! errors; the counter's open-account form, its sheet and `/activar`), in Spanish and in
//! English, on the demo's data, and checks each with axe-core
//! (no violation of WCAG 2.2 A/AA or best practice), for reflow at 320 px, for controls at
//! least 44 px tall and for a focus ring of at least 3:1.

use crate::both_backends;
use crate::browser::{browser_tests_dir, require_browser_tooling, run_script};
use crate::support::{Person, TestApp, enrol_totp};

both_backends! {
    async fn every_page_state_passes_axe_reflows_at_320_px_and_has_big_controls_and_visible_focus(backend: Backend) {
        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        assert!(
            dir.join("node_modules/axe-core/axe.min.js").is_file(),
            "axe-core is not installed in {}: run `npm ci --prefix tests/browser` (.ci/run does it)",
            dir.display()
        );
        let (app, base) = TestApp::builder(backend).config(|c| c.dev.enabled = true).serve_as_localhost().await;
        let report = llave::admin::demo::run(&app.state).await.expect("the demo data");
        let person = &report.people[0];
        let officer = report.people.iter().find(|p| p.curp == report.officer).expect("the demo's officer");
        // The officer desk asks its staff for a second factor: an authenticator app, whose
        // recovery codes the script gives (one per language).
        // The officer also files and approves requisitions: one filed, about the person, told
        // at once (so the person's file shows it too).
        let work = tempfile::tempdir().unwrap();
        let (_, cert) = crate::requisitions::authority_certificate(work.path(), "fiscalia");
        crate::support::json_of(&crate::requisitions::add_authority(&app, "fiscalia", &cert));
        let staff = app.state.store.account_by_curp(&officer.curp).await.unwrap().unwrap();
        llave::admin::staff::grant(&app.state.store, staff.id, "requester", "fiscalia", "test").await.unwrap();
        llave::admin::staff::grant(&app.state.store, staff.id, "requisition_approver", "*", "test").await.unwrap();
        let input: llave::requisitions::rules::FilingInput =
            serde_json::from_value(crate::requisitions::filing("fiscalia", &person.curp, "")).unwrap();
        llave::requisitions::file(&app.state, &staff, "fiscalia", &input).await.expect("a requisition");
        let mut desk = app.client();
        desk.sign_in(&officer.curp, &officer.password).await;
        let (_, codes) = enrol_totp(&mut desk).await;
        // Two people without an account, for whom the officer opens one (the sheet's state).
        let counter_people: Vec<serde_json::Value> = [9901, 9902]
            .map(|seed| {
                let p = Person::synthetic(seed);
                serde_json::json!({
                    "curp": p.curp, "given_names": p.given_names, "first_surname": p.first_surname,
                    "second_surname": p.second_surname, "birth_date": p.birth_date,
                })
            })
            .into();
        let counter_people = serde_json::Value::Array(counter_people);
        run_script(&dir, "page_audit.mjs", &base, &[
            ("CURP", person.curp.clone()),
            ("PASSWORD", person.password.clone()),
            ("OFFICER_CURP", officer.curp.clone()),
            ("OFFICER_PASSWORD", officer.password.clone()),
            ("OFFICER_CODES", codes[..2].join(",")),
            ("COUNTER_PEOPLE", counter_people.to_string()),
        ])
        .await;
        app.finish().await;
    }
}
