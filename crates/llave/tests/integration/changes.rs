//! Every change is one act (issue 15): for each change that used to write its record in a
//! statement of its own — second factors, sign-in and second-factor counters, staff roles,
//! registrations, an entity's records — the change and its events are in one act, and an
//! act whose event cannot be written leaves no change behind. To make an act fail at its
//! very end, a test installs a trigger that refuses events of one kind (`refuse_events`):
//! the commit writes the events last, so everything before them must roll back.

use llave::accounts::Actor;
use llave::store::{AccountId, Store, Tx};
use serde_json::json;
use sqlx::Row;

use crate::both_backends;
use crate::support::*;

/// The events of every act named `name`, oldest act first: the kinds of each, in order.
pub async fn acts_named(store: &Store, name: &str) -> Vec<Vec<String>> {
    let rows = sqlx::query(
        "SELECT a.id, e.kind FROM acts a JOIN events e ON e.act_id = a.id WHERE a.name = $1 ORDER BY a.id, e.seq",
    )
    .bind(name)
    .fetch_all(store.pool())
    .await
    .unwrap();
    let mut acts: Vec<(String, Vec<String>)> = Vec::new();
    for row in rows {
        let (id, kind): (String, String) = (row.try_get("id").unwrap(), row.try_get("kind").unwrap());
        match acts.last_mut() {
            Some((last, kinds)) if *last == id => kinds.push(kind),
            _ => acts.push((id, vec![kind])),
        }
    }
    acts.into_iter().map(|(_, kinds)| kinds).collect()
}

/// How many rows a query counts, with one text parameter.
async fn count_where(store: &Store, sql: &'static str, value: &str) -> i64 {
    sqlx::query(sql).bind(value).fetch_one(store.pool()).await.unwrap().try_get::<i64, _>(0).unwrap()
}

/// Makes the database refuse events of `kind` from now on (a trigger), so an act that
/// writes one fails at its commit.
async fn refuse_events(app: &TestApp, backend: Backend, kind: &str) {
    let store = &app.state.store;
    let name = format!("refuse_{kind}");
    match backend {
        Backend::Sqlite => {
            let sql = format!(
                "CREATE TRIGGER {name} BEFORE INSERT ON events WHEN NEW.kind = '{kind}' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(store.pool()).await.unwrap();
        }
        Backend::Postgres => {
            let function = format!(
                "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.kind = '{kind}' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$"
            );
            sqlx::query(sqlx::AssertSqlSafe(function)).execute(store.pool()).await.unwrap();
            let trigger =
                format!("CREATE TRIGGER {name} BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION {name}()");
            sqlx::query(sqlx::AssertSqlSafe(trigger)).execute(store.pool()).await.unwrap();
        }
    }
}

async fn allow_events(app: &TestApp, backend: Backend, kind: &str) {
    let sql = match backend {
        Backend::Sqlite => format!("DROP TRIGGER refuse_{kind}"),
        Backend::Postgres => format!("DROP TRIGGER refuse_{kind} ON events"),
    };
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(app.state.store.pool()).await.unwrap();
}

fn actor() -> Actor {
    Actor { address: "203.0.113.20".into(), user_agent: "test".into() }
}

async fn person(app: &TestApp, seed: u64) -> (Person, llave::store::Account) {
    let person = Person::synthetic(seed);
    sign_up_and_confirm(app, &person).await;
    let account = app.state.store.account_by_curp(&person.curp).await.unwrap().unwrap();
    (person, account)
}

both_backends! {
    async fn totp_and_recovery_codes_change_with_their_events(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (person, account) = person(&app, 9101).await;
        let store = &app.state.store;
        let id = account.id.0.to_string();
        let mut browser = app.client();
        browser.sign_in(&person.curp, &person.password).await;

        // A wrong code at the enrolment: the failure counted and recorded, nothing enabled.
        browser.submit("/account", "/account/totp/begin", &[]).await;
        let page = browser.get("/account/totp").await;
        let csrf = input_value(&page.body, "csrf_token").unwrap();
        browser.post("/account/totp/confirm", &[("csrf_token", &csrf), ("code", "000000")]).await;
        assert_eq!(acts_named(store, "totp_confirm").await, [vec!["second_factor_failed".to_string()]]);
        assert_eq!(count_where(store, "SELECT COUNT(*) FROM throttle WHERE key = 'otp:' || $1", &id).await, 1);
        assert_eq!(count_where(store, "SELECT COUNT(*) FROM totp_factors WHERE confirmed_at IS NOT NULL AND account_id = CAST($1 AS BIGINT)", &id).await, 0);

        // An act whose event cannot be written enables nothing and makes no codes.
        refuse_events(&app, backend, "totp_enabled").await;
        let authenticator = authenticator(&page.body);
        let code = authenticator.generate(unix_now()).to_string();
        let failed = browser.post("/account/totp/confirm", &[("csrf_token", &csrf), ("code", &code)]).await;
        assert_eq!(failed.status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(count_where(store, "SELECT COUNT(*) FROM totp_factors WHERE confirmed_at IS NOT NULL AND account_id = CAST($1 AS BIGINT)", &id).await, 0);
        assert_eq!(count_where(store, "SELECT COUNT(*) FROM recovery_codes WHERE account_id = CAST($1 AS BIGINT)", &id).await, 0);
        assert_eq!(count_where(store, "SELECT COUNT(*) FROM throttle WHERE key = 'otp:' || $1", &id).await, 1, "the counter not cleared either");
        allow_events(&app, backend, "totp_enabled").await;

        // Confirmed: the factor, its event and the first codes with theirs, in one act.
        let code = authenticator.generate(unix_now() + 30).to_string();
        let confirmed = browser.post("/account/totp/confirm", &[("csrf_token", &csrf), ("code", &code)]).await;
        assert_eq!(confirmed.status, axum::http::StatusCode::OK, "{}", confirmed.body);
        let acts = acts_named(store, "totp_confirm").await;
        assert_eq!(acts.last().unwrap(), &["totp_enabled", "recovery_codes_created"]);
        assert_eq!(count_where(store, "SELECT COUNT(*) FROM recovery_codes WHERE account_id = CAST($1 AS BIGINT)", &id).await, 10);
        assert_eq!(count_where(store, "SELECT COUNT(*) FROM throttle WHERE key = 'otp:' || $1", &id).await, 0, "cleared in the act");

        // New recovery codes: one act; refused, the old codes stand.
        let before: Vec<String> = sqlx::query("SELECT code_hash FROM recovery_codes WHERE account_id = $1 ORDER BY code_hash")
            .bind(account.id.0).fetch_all(store.pool()).await.unwrap().iter().map(|r| r.try_get(0).unwrap()).collect();
        refuse_events(&app, backend, "recovery_codes_created").await;
        assert!(llave::assurance::totp::new_recovery_codes(&app.state, account.id, &actor()).await.is_err());
        let after: Vec<String> = sqlx::query("SELECT code_hash FROM recovery_codes WHERE account_id = $1 ORDER BY code_hash")
            .bind(account.id.0).fetch_all(store.pool()).await.unwrap().iter().map(|r| r.try_get(0).unwrap()).collect();
        assert_eq!(before, after);
        allow_events(&app, backend, "recovery_codes_created").await;
        let codes = llave::assurance::totp::new_recovery_codes(&app.state, account.id, &actor()).await.unwrap();
        assert_eq!(codes.len(), 10);
        assert_eq!(acts_named(store, "recovery_codes_created").await, [vec!["recovery_codes_created".to_string()]]);

        // Removed: one act; refused, the factor stays.
        refuse_events(&app, backend, "totp_removed").await;
        assert!(llave::assurance::totp::remove(store, account.id, &actor()).await.is_err());
        assert!(llave::assurance::totp::enabled(&app.state, account.id).await.unwrap());
        allow_events(&app, backend, "totp_removed").await;
        assert!(llave::assurance::totp::remove(store, account.id, &actor()).await.unwrap());
        assert!(!llave::assurance::totp::remove(store, account.id, &actor()).await.unwrap(), "once");
        assert_eq!(acts_named(store, "totp_removed").await, [vec!["totp_removed".to_string()]]);
        assert!(!llave::assurance::totp::enabled(&app.state, account.id).await.unwrap());
        app.finish().await;
    }
}

both_backends! {
    async fn second_factor_failures_count_and_record_in_one_act(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (person, account) = person(&app, 9102).await;
        let store = &app.state.store;
        let mut browser = app.client();
        browser.sign_in(&person.curp, &person.password).await;
        enrol_totp(&mut browser).await;
        let account = store.account_by_id(account.id).await.unwrap().unwrap();
        let key = format!("otp:{}", account.id.0);
        let failures = "SELECT COALESCE(MAX(failures), 0) FROM throttle WHERE key = $1";

        // Refused at the commit: the failure is not counted either.
        refuse_events(&app, backend, "second_factor_failed").await;
        assert!(llave::assurance::totp::check(&app.state, &account, "000000", false, &actor()).await.is_err());
        assert_eq!(count_where(store, failures, &key).await, 0);
        allow_events(&app, backend, "second_factor_failed").await;

        let policy = app.state.config.throttle.account_failures;
        for _ in 0..policy {
            let check = llave::assurance::totp::check(&app.state, &account, "000000", false, &actor()).await.unwrap();
            assert_eq!(check, llave::assurance::totp::Check::Wrong);
        }
        assert_eq!(count_where(store, failures, &key).await, policy);
        let acts = acts_named(store, "second_factor").await;
        assert_eq!(acts.len() as i64, policy, "one act per failure");
        assert!(acts[..acts.len() - 1].iter().all(|kinds| kinds == &["second_factor_failed"]));
        assert_eq!(acts.last().unwrap(), &["second_factor_failed", "lockout"], "the lockout with the failure that caused it");
        let throttled = llave::assurance::totp::check(&app.state, &account, "000000", false, &actor()).await.unwrap();
        assert_eq!(throttled, llave::assurance::totp::Check::Throttled);
        assert_eq!(acts_named(store, "second_factor").await.last().unwrap(), &["throttled"]);
        app.finish().await;
    }
}

both_backends! {
    async fn sign_in_failures_move_their_counters_and_record_in_one_act(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (person, account) = person(&app, 9103).await;
        let store = &app.state.store;
        let failures = "SELECT COALESCE(MAX(failures), 0) FROM throttle WHERE key = $1";
        let key = format!("account:{}", account.id.0);
        let wrong = |app: &TestApp| {
            let state = app.state.clone();
            let curp = person.curp.clone();
            async move { llave::accounts::signin::authenticate(&state, &curp, "not the password", &actor(), None).await }
        };

        // Refused at the commit: no counter moved.
        refuse_events(&app, backend, "sign_in_failed").await;
        assert!(wrong(&app).await.is_err());
        assert_eq!(count_where(store, failures, &key).await, 0);
        assert_eq!(count_where(store, "SELECT COUNT(*) FROM throttle WHERE key = $1", "ip:203.0.113.20").await, 0);
        allow_events(&app, backend, "sign_in_failed").await;

        let free = app.state.config.throttle.account_failures;
        for _ in 0..free {
            assert!(matches!(wrong(&app).await.unwrap(), llave::accounts::signin::SignInOutcome::Invalid));
        }
        assert_eq!(count_where(store, failures, &key).await, free);
        let acts = acts_named(store, "sign_in_failed").await;
        assert_eq!(acts.len() as i64, free);
        assert_eq!(acts.last().unwrap(), &["sign_in_failed", "lockout"], "slowed from the failure that spent the free ones");
        // From here on a guess is refused unchecked: an act of its one event.
        assert!(matches!(wrong(&app).await.unwrap(), llave::accounts::signin::SignInOutcome::Throttled(_)));
        assert_eq!(acts_named(store, "sign_in_throttled").await, [vec!["throttled".to_string()]]);
        assert_eq!(count_where(store, failures, &key).await, free, "a refused guess is not counted");
        app.finish().await;
    }
}

/// A passkey as the registration would store it (the credential itself is not used here).
async fn stored_passkey(store: &Store, account: AccountId, id: &str) {
    let record = llave::store::assurance::PasskeyRecord {
        id: id.into(),
        account_id: account,
        credential_id: format!("credential-{id}"),
        name: "Teléfono".into(),
        passkey: "{}".into(),
        created_at: llave::crypto::now(),
        last_used_at: None,
        verified_at_enrolment: None,
    };
    store.act("test_passkey", async |tx: &mut Tx| tx.insert_passkey(&record).await).await.unwrap();
}

both_backends! {
    async fn passkeys_are_renamed_and_removed_with_their_events(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (_, account) = person(&app, 9104).await;
        let store = &app.state.store;
        stored_passkey(store, account.id, "pk1").await;
        let name_of = "SELECT COUNT(*) FROM passkeys WHERE name = $1";

        refuse_events(&app, backend, "passkey_renamed").await;
        assert!(llave::assurance::passkeys::rename(store, account.id, "pk1", "Llave USB", &actor()).await.is_err());
        assert_eq!(count_where(store, name_of, "Teléfono").await, 1, "the name unchanged");
        allow_events(&app, backend, "passkey_renamed").await;
        assert!(llave::assurance::passkeys::rename(store, account.id, "pk1", "Llave USB", &actor()).await.unwrap());
        assert!(!llave::assurance::passkeys::rename(store, account.id, "otra", "Nada", &actor()).await.unwrap());
        assert_eq!(count_where(store, name_of, "Llave USB").await, 1);
        assert_eq!(acts_named(store, "passkey_renamed").await, [vec!["passkey_renamed".to_string()]], "none for a passkey not found");

        let key = store.passkeys(account.id).await.unwrap().remove(0);
        refuse_events(&app, backend, "passkey_removed").await;
        assert!(llave::assurance::passkeys::remove(store, account.id, &key, &actor()).await.is_err());
        assert_eq!(store.passkey_count(account.id).await.unwrap(), 1, "the passkey stays");
        allow_events(&app, backend, "passkey_removed").await;
        assert!(llave::assurance::passkeys::remove(store, account.id, &key, &actor()).await.unwrap());
        assert!(!llave::assurance::passkeys::remove(store, account.id, &key, &actor()).await.unwrap());
        assert_eq!(store.passkey_count(account.id).await.unwrap(), 0);
        assert_eq!(acts_named(store, "passkey_removed").await, [vec!["passkey_removed".to_string()]]);
        app.finish().await;
    }
}

both_backends! {
    async fn staff_roles_are_granted_and_revoked_with_their_events(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (person, account) = person(&app, 9105).await;
        let store = &app.state.store;
        let held = "SELECT COUNT(*) FROM staff_roles WHERE role = $1";

        refuse_events(&app, backend, "role_granted").await;
        assert!(llave::admin::staff::grant(store, account.id, "officer", "*", "cli").await.is_err());
        assert_eq!(count_where(store, held, "officer").await, 0);
        allow_events(&app, backend, "role_granted").await;

        // The command line: the role and its event in one act; a second grant changes nothing.
        let grant = ["staff", "grant", "--curp", person.curp.as_str(), "--role", "officer", "--json"];
        assert_eq!(json_of(&llave(&app, &grant, None))["result"], "granted");
        assert_eq!(json_of(&llave(&app, &grant, None))["result"], "already held");
        assert_eq!(count_where(store, held, "officer").await, 1);
        assert_eq!(acts_named(store, "role_granted").await, [vec!["role_granted".to_string()]]);
        let event = sqlx::query("SELECT account_id, actor_kind, actor, detail FROM events WHERE kind = 'role_granted'")
            .fetch_one(store.pool()).await.unwrap();
        assert_eq!(event.try_get::<i64, _>("account_id").unwrap(), account.id.0);
        assert_eq!(event.try_get::<String, _>("actor_kind").unwrap(), "system");
        assert_eq!(event.try_get::<String, _>("actor").unwrap(), "cli");
        assert_eq!(event.try_get::<String, _>("detail").unwrap(), "role=officer scope=*");

        let revoke = ["staff", "revoke", "--curp", person.curp.as_str(), "--role", "officer", "--json"];
        refuse_events(&app, backend, "role_revoked").await;
        assert!(!llave(&app, &revoke, None).status.success());
        assert_eq!(count_where(store, held, "officer").await, 1, "still held");
        allow_events(&app, backend, "role_revoked").await;
        assert_eq!(json_of(&llave(&app, &revoke, None))["result"], "revoked");
        assert_eq!(json_of(&llave(&app, &revoke, None))["result"], "not held");
        assert_eq!(count_where(store, held, "officer").await, 0);
        assert_eq!(acts_named(store, "role_revoked").await, [vec!["role_revoked".to_string()]]);
        app.finish().await;
    }
}

both_backends! {
    async fn entities_and_clients_are_registered_with_their_events(backend: Backend) {
        let app = TestApp::new(backend).await;
        let store = &app.state.store;
        refuse_events(&app, backend, "entity_registered").await;
        assert!(llave::admin::entity::add_entity(&app.state, "agua", "Sistema de Aguas").await.is_err());
        assert!(store.entity_by_slug("agua").await.unwrap().is_none());
        allow_events(&app, backend, "entity_registered").await;
        llave::admin::entity::add_entity(&app.state, "agua", "Sistema de Aguas").await.unwrap();
        assert_eq!(acts_named(store, "entity_registered").await, [vec!["entity_registered".to_string()]]);

        let new = llave::oidc::clients::NewClient {
            entity: "agua".into(),
            name: "Portal".into(),
            redirect_uris: vec!["https://agua.example/cb".into()],
            ..Default::default()
        };
        refuse_events(&app, backend, "client_registered").await;
        assert!(llave::admin::entity::add_client(store, &new).await.is_err());
        assert!(store.list_clients(Some("agua")).await.unwrap().is_empty());
        allow_events(&app, backend, "client_registered").await;
        let client = llave::admin::entity::add_client(store, &new).await.unwrap();
        assert_eq!(acts_named(store, "client_registered").await, [vec!["client_registered".to_string()]]);

        refuse_events(&app, backend, "client_disabled").await;
        assert!(llave::admin::entity::disable_client(store, &client.client_id).await.is_err());
        assert!(store.client_by_id(&client.client_id).await.unwrap().unwrap().disabled_at.is_none());
        allow_events(&app, backend, "client_disabled").await;
        assert!(llave::admin::entity::disable_client(store, &client.client_id).await.unwrap().disabled);
        llave::admin::entity::disable_client(store, &client.client_id).await.unwrap();
        assert_eq!(acts_named(store, "client_disabled").await, [vec!["client_disabled".to_string()]], "once");
        app.finish().await;
    }
}

/// An entity whose clients may name people by CURP, with a catalog procedure, and its client.
async fn holder(app: &TestApp) -> llave::store::entities::ClientRecord {
    llave::admin::entity::add_entity(&app.state, "alcaldia", "Alcaldía").await.unwrap();
    let new = llave::oidc::clients::NewClient {
        entity: "alcaldia".into(),
        name: "Ventanilla".into(),
        redirect_uris: vec!["https://alcaldia.example/cb".into()],
        allowed_claims: vec!["curp".into()],
        ..Default::default()
    };
    let registered = llave::admin::entity::add_client(&app.state.store, &new).await.unwrap();
    app.state.store.client_by_id(&registered.client_id).await.unwrap().unwrap()
}

fn record_input(curp: Option<&str>, address: &str, version: Option<i64>) -> llave::records::RecordInput {
    let mut input = json!({"kind": "proof_of_residence", "attributes": {"address": address}});
    if let Some(curp) = curp {
        input["curp"] = json!(curp);
    }
    if let Some(version) = version {
        input["version"] = json!(version);
    }
    serde_json::from_value(input).unwrap()
}

both_backends! {
    async fn an_entitys_record_writes_are_acts_ordered_against_its_own_store(backend: Backend) {
        let app = TestApp::new(backend).await;
        let (person, account) = person(&app, 9106).await;
        let client = holder(&app).await;
        let store = &app.state.store;
        let records = "SELECT COUNT(*) FROM record_index WHERE account_id = CAST($1 AS BIGINT)";
        let id = account.id.0.to_string();

        // Stored: the spoke's row first, then the locator and its event in one act. If the act
        // fails the spoke's row is taken back out: nothing is found, nothing was recorded.
        refuse_events(&app, backend, "record_stored").await;
        assert!(llave::records::create(&app.state, &client, &record_input(Some(&person.curp), "Calle 1", None)).await.is_err());
        assert_eq!(count_where(store, records, &id).await, 0);
        let spoke = app.state.spokes.get(&app.state, client.entity_id.unwrap()).await.unwrap();
        assert!(spoke.about(account.id.0).await.unwrap().is_empty(), "no stray row in the entity's store");
        allow_events(&app, backend, "record_stored").await;
        let opened = llave::records::create(&app.state, &client, &record_input(Some(&person.curp), "Calle 1", None)).await.unwrap();
        let record_id = opened.locator.record_id.clone();
        assert_eq!(acts_named(store, "record_stored").await, [vec!["record_stored".to_string()]]);
        let event = sqlx::query("SELECT account_id, actor_kind, actor, record_id, holder_entity_id, detail FROM events WHERE kind = 'record_stored'")
            .fetch_one(store.pool()).await.unwrap();
        assert_eq!(event.try_get::<i64, _>("account_id").unwrap(), account.id.0);
        assert_eq!(event.try_get::<String, _>("actor_kind").unwrap(), "entity");
        assert_eq!(event.try_get::<String, _>("actor").unwrap(), client.client_id);
        assert_eq!(event.try_get::<String, _>("record_id").unwrap(), record_id);
        assert_eq!(event.try_get::<i64, _>("holder_entity_id").unwrap(), client.entity_id.unwrap());
        assert_eq!(event.try_get::<String, _>("detail").unwrap(), "version=1");

        // Updated: the spoke's version first, then the locator and its event in one act. A
        // failed act leaves the locator at version 1 and version 2 unseen (taken back out
        // here; after a crash, left beyond the locator); the next update writes it again.
        refuse_events(&app, backend, "record_updated").await;
        assert!(llave::records::update(&app.state, &client, &record_id, &record_input(None, "Calle 2", Some(1))).await.is_err());
        let read = llave::records::read_own(&app.state, &client, &record_id, None).await.unwrap();
        assert_eq!((read.locator.version, read.version.content.attributes["address"].as_str()), (1, Some("Calle 1")));
        assert!(llave::records::read_own(&app.state, &client, &record_id, Some(2)).await.is_err(), "version 2 is not vouched for");
        allow_events(&app, backend, "record_updated").await;
        let updated = llave::records::update(&app.state, &client, &record_id, &record_input(None, "Calle 3", Some(1))).await.unwrap();
        assert_eq!((updated.locator.version, updated.version.content.attributes["address"].as_str()), (2, Some("Calle 3")));
        assert_eq!(acts_named(store, "record_updated").await, [vec!["record_updated".to_string()]]);

        // Withdrawn: the hub's act first, then the spoke's mark. A crash between them (here:
        // the act done by hand, the mark not) leaves the record withdrawn with its event; the
        // entity, unanswered, asks again and the mark is made, with no second event.
        store.act("record_withdrawn", async |tx: &mut Tx| {
            tx.withdraw_record(&record_id, tx.at()).await?;
            tx.event(llave::store::Event::security(llave::store::EventKind::RecordWithdrawn, Some(account.id), "", "", "version=2"));
            Ok::<_, llave::store::StoreError>(())
        }).await.unwrap();
        let marked = "SELECT COUNT(*) FROM record_index WHERE record_id = $1 AND withdrawn_at IS NOT NULL";
        assert_eq!(count_where(store, marked, &record_id).await, 1);
        let again = llave::records::withdraw(&app.state, &client, &record_id, Some("baja")).await.unwrap();
        assert!(again.locator.withdrawn_at.is_some());
        assert!(again.version.withdrawn_at.is_some(), "the spoke's version marked on the retry");
        assert_eq!(acts_named(store, "record_withdrawn").await.len(), 1, "no second event");
        app.finish().await;
    }
}

both_backends! {
    async fn a_read_grant_is_issued_with_its_event(backend: Backend) {
        let w = crate::records::world(backend).await;
        let (person, mut browser) = crate::oidc::support::signed_in_person(&w.app, 9107).await;
        let stored = w.residence_at_b(&person.curp).await;
        let record = stored["record_id"].as_str().unwrap().to_string();
        let lookups = w.token(&w.a, "lookups").await;
        let (_, sub) = w.sign_in_to_a(&mut browser, "licencia", true).await;
        let store = &w.app.state.store;
        let grants = "SELECT COUNT(*) FROM record_grants WHERE record_id = $1";

        // Refused at the commit: no grant, and the entity gets no token.
        refuse_events(&w.app, backend, "record_grant_issued").await;
        let (status, _) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        assert_eq!(status, 500);
        assert_eq!(count_where(store, grants, &record).await, 0);
        allow_events(&w.app, backend, "record_grant_issued").await;

        let (status, found) = w.lookup(&lookups, json!({"sub": sub}), "licencia", "proof_of_residence").await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(count_where(store, grants, &record).await, 1);
        assert_eq!(acts_named(store, "record_grant").await, [vec!["record_grant_issued".to_string()]]);
        let event = sqlx::query("SELECT actor, basis, record_id, procedure_slug FROM events WHERE kind = 'record_grant_issued'")
            .fetch_one(store.pool()).await.unwrap();
        assert_eq!(event.try_get::<String, _>("actor").unwrap(), w.a.client_id);
        assert!(event.try_get::<String, _>("basis").unwrap().starts_with("consent "));
        assert_eq!(event.try_get::<String, _>("record_id").unwrap(), record);
        assert_eq!(event.try_get::<String, _>("procedure_slug").unwrap(), "licencia");
        w.app.finish().await;
    }
}
