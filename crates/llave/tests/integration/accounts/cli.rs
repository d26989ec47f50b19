//! The `llave` binary itself: `citizen add|show`, `demo`, `migrate`, with `--json`.

use std::process::Command;

use crate::both_backends;
use crate::support::*;

fn add_args(person: &Person) -> Vec<String> {
    let mut args: Vec<String> = ["citizen", "add", "--curp", &person.curp, "--given-names", &person.given_names]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--first-surname", &person.first_surname].map(String::from));
    if !person.second_surname.is_empty() {
        args.extend(["--second-surname", &person.second_surname].map(String::from));
    }
    args.extend(
        ["--birth-date", &person.birth_date, "--sex", &person.sex, "--state", &person.state, "--email", &person.email]
            .map(String::from),
    );
    args.extend(["--password-stdin", "--json"].map(String::from));
    args
}

both_backends! {
    async fn citizen_add_and_show_print_json(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(71);
        let args = add_args(&person);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let added = llave(&app, &args, Some(&format!("{}\n", person.password)));
        assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
        let json: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
        assert_eq!(json["curp"], person.curp.as_str());
        assert_eq!(json["email_confirmed"], false);
        assert!(json.get("password_hash").is_none());

        let shown = llave(&app, &["citizen", "show", &person.curp.to_lowercase(), "--json"], None);
        assert!(shown.status.success());
        let json: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(json["given_names"], person.given_names.as_str());

        // The same CURP again: a clear error on stderr, a non-zero exit, no second account.
        let again = llave(&app, &args, Some(&format!("{}\n", person.password)));
        assert!(!again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("There is already a Llave account for this CURP"));
        assert!(again.stdout.is_empty());

        let unknown = llave(&app, &["citizen", "show", &Person::synthetic(72).curp, "--json"], None);
        assert!(!unknown.status.success());
        assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account has the CURP"));
        let bad = llave(&app, &["citizen", "show", "NOT-A-CURP"], None);
        assert!(!bad.status.success());

        // The account signs in through the pages with the password given on stdin.
        let mut client = app.client();
        assert_eq!(client.sign_in(&person.curp, &person.password).await.status, axum::http::StatusCode::SEE_OTHER);
        app.finish().await;
    }
}

both_backends! {
    async fn citizen_add_refuses_inconsistent_data(backend: Backend) {
        let app = TestApp::new(backend).await;
        let mut person = Person::synthetic(73);
        person.sex = if person.sex == "H" { "M".into() } else { "H".into() };
        let args = add_args(&person);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = llave(&app, &args, Some(&person.password));
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("The sex does not match the CURP"));
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 0);
        app.finish().await;
    }
}

both_backends! {
    async fn demo_is_idempotent_and_its_people_sign_in(backend: Backend) {
        let app = TestApp::new(backend).await;
        let first = llave(&app, &["demo", "--json"], None);
        assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
        let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
        let people = report["people"].as_array().unwrap();
        assert!(people.len() >= 3);
        assert!(people.iter().all(|p| p["created"] == true));
        let second = llave(&app, &["demo", "--json"], None);
        let again: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
        assert!(again["people"].as_array().unwrap().iter().all(|p| p["created"] == false));
        let procedures = report["catalog"]["created"].as_u64().unwrap();
        assert!(procedures >= 40, "the demo catalog: {procedures} procedures");
        assert_eq!(again["catalog"]["created"], 0);
        assert_eq!(again["catalog"]["unchanged"], procedures);
        // The two demo entity sites and the demo bank: the same clients, whatever the
        // number of runs.
        assert_eq!(again["sites"], report["sites"]);
        assert_eq!(report["sites"].as_array().unwrap().len(), 2);
        assert_eq!(again["bank"], report["bank"]);
        assert_eq!(report["bank"]["client_id"], "demo-banco-del-ejemplo");
        assert_eq!(app.count("SELECT COUNT(*) FROM clients WHERE client_id LIKE 'demo-%'").await, 3);
        assert_eq!(app.count("SELECT COUNT(*) FROM third_parties").await, 1);
        assert!(app.client().get("/tramites?q=licencias").await.body.contains("/tramites/licencia-de-conducir"));
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, people.len() as i64);

        let curp = people[0]["curp"].as_str().unwrap();
        let password = people[0]["password"].as_str().unwrap();
        assert_eq!(app.client().sign_in(curp, password).await.status, axum::http::StatusCode::SEE_OTHER);
        // The registry file written by demo holds people who can still sign up.
        assert!(!report["unclaimed"].as_array().unwrap().is_empty());
        app.finish().await;
    }
}

both_backends! {
    async fn migrate_is_repeatable(backend: Backend) {
        let app = TestApp::new(backend).await;
        for _ in 0..2 {
            let out = llave(&app, &["migrate"], None);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert!(String::from_utf8_lossy(&out.stdout).contains("database is at migration"));
        }
        app.finish().await;
    }
}

#[test]
fn a_bad_database_url_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_llave"))
        .args(["--database", "mysql://x", "migrate"])
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:// or postgres://"));
    assert!(!empty.path().join("llave-data").exists(), "nothing is made for a database that cannot be used");
}

both_backends! {
    async fn entities_and_clients_are_managed_from_the_command_line(backend: Backend) {
        let app = TestApp::new(backend).await;
        let entity = json_of(&llave(&app, &["entity", "add", "--slug", "semovi", "--name", "Secretaría de Movilidad", "--json"], None));
        assert_eq!(entity["slug"], "semovi");
        assert_eq!(entity["name"], "Secretaría de Movilidad");
        let again = llave(&app, &["entity", "add", "--slug", "semovi", "--name", "Otra", "--json"], None);
        assert!(!again.status.success(), "a slug is unique");
        assert!(String::from_utf8_lossy(&again.stderr).starts_with("llave: "));
        let list = json_of(&llave(&app, &["entity", "list", "--json"], None));
        assert_eq!(list.as_array().unwrap().len(), 1);

        let confidential = json_of(&llave(&app, &[
            "client", "add", "--entity", "semovi", "--name", "Licencias", "--redirect-uri", "https://licencias.semovi.cdmx.gob.mx/cb",
            "--redirect-uri", "http://127.0.0.1:8000/cb", "--post-logout-redirect-uri", "https://licencias.semovi.cdmx.gob.mx/",
            "--backchannel-logout-uri", "https://licencias.semovi.cdmx.gob.mx/logout", "--allow-claim", "curp", "--json",
        ], None));
        let client_id = confidential["client_id"].as_str().unwrap().to_string();
        let secret = confidential["client_secret"].as_str().expect("a secret, shown once");
        assert!(secret.len() >= 32);
        assert_eq!(confidential["token_endpoint_auth_method"], "client_secret_basic");
        // Stored only as a hash.
        let stored: String = sqlx::query_scalar("SELECT secret_hash FROM clients WHERE client_id = $1")
            .bind(&client_id).fetch_one(app.state.store.pool()).await.unwrap();
        assert!(!stored.contains(secret));
        let shown = json_of(&llave(&app, &["client", "show", &client_id, "--json"], None));
        assert!(shown.get("client_secret").is_none(), "never shown again");
        assert_eq!(shown["allowed_claims"], serde_json::json!(["curp"]));
        assert_eq!(shown["redirect_uris"].as_array().unwrap().len(), 2);

        let public = json_of(&llave(&app, &["client", "add", "--entity", "semovi", "--name", "App", "--redirect-uri", "http://localhost:7000/cb", "--public", "--json"], None));
        assert!(public.get("client_secret").is_none());
        assert_eq!(public["token_endpoint_auth_method"], "none");
        let jwks = app.dir.path().join("jwks.json");
        std::fs::write(&jwks, r#"{"keys":[{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","kid":"1"}]}"#).unwrap();
        let keyed = json_of(&llave(&app, &["client", "add", "--entity", "semovi", "--name", "Back end", "--redirect-uri", "https://x.semovi.cdmx.gob.mx/cb",
            "--auth-method", "private_key_jwt", "--jwks-file", jwks.to_str().unwrap(), "--id-token-alg", "ES256", "--require-par", "--json"], None));
        assert_eq!(keyed["token_endpoint_auth_method"], "private_key_jwt");
        let keyed = json_of(&llave(&app, &["client", "show", keyed["client_id"].as_str().unwrap(), "--json"], None));
        assert_eq!(keyed["id_token_signed_response_alg"], "ES256");
        assert_eq!(keyed["require_pushed_authorization_requests"], true);

        // Refused: plain http off loopback, a fragment, an unknown entity, an unknown method.
        for bad in [
            vec!["--entity", "semovi", "--redirect-uri", "http://licencias.semovi.cdmx.gob.mx/cb"],
            vec!["--entity", "semovi", "--redirect-uri", "https://licencias.semovi.cdmx.gob.mx/cb#x"],
            vec!["--entity", "nadie", "--redirect-uri", "https://licencias.semovi.cdmx.gob.mx/cb"],
            vec!["--entity", "semovi", "--redirect-uri", "https://a.cdmx.gob.mx/cb", "--auth-method", "client_secret_jwt"],
            vec!["--entity", "semovi", "--redirect-uri", "https://a.cdmx.gob.mx/cb", "--auth-method", "private_key_jwt"],
        ] {
            let mut args = vec!["client", "add", "--name", "X", "--json"];
            args.extend(bad.iter().copied());
            let output = llave(&app, &args, None);
            assert!(!output.status.success(), "{bad:?} was accepted");
            assert!(String::from_utf8_lossy(&output.stderr).starts_with("llave: "), "{bad:?}");
        }
        let clients = json_of(&llave(&app, &["client", "list", "--entity", "semovi", "--json"], None));
        assert_eq!(clients.as_array().unwrap().len(), 3, "nothing half-written by the refusals");

        let disabled = json_of(&llave(&app, &["client", "disable", &client_id, "--json"], None));
        assert_eq!(disabled["disabled"], true);
        let rotated = json_of(&llave(&app, &["keys", "rotate", "--json"], None));
        assert!(rotated.to_string().contains("RS256"), "{rotated}");
        let purged = json_of(&llave(&app, &["purge", "--json"], None));
        assert_eq!(purged["access_tokens"], 0);
        app.finish().await;
    }
}

/// The binary run in `dir` with no llave settings from the environment.
fn llave_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_llave"))
        .args(args)
        .current_dir(dir)
        .env_remove("LLAVE_DATA_DIR")
        .env_remove("LLAVE_DATABASE_URL")
        .env_remove("LLAVE_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn only_init_demo_migrate_and_serve_make_a_data_directory() {
    let empty = tempfile::tempdir().unwrap();
    let data = empty.path().join("llave-data");
    let files = tempfile::tempdir().unwrap();
    let (document, signature) = (files.path().join("a.txt"), files.path().join("a.txt.p7s"));
    std::fs::write(&document, "a").unwrap();
    std::fs::write(&signature, "b").unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["citizen", "show", "GOMC800101HDFMRR09"],
        vec![
            "citizen",
            "add",
            "--curp",
            "GOMC800101HDFMRR09",
            "--given-names",
            "Carlos",
            "--first-surname",
            "Gómez",
            "--birth-date",
            "1980-01-01",
            "--sex",
            "H",
            "--state",
            "DF",
            "--email",
            "c@example.com",
            "--password-stdin",
        ],
        vec!["entity", "list"],
        vec!["entity", "add", "--slug", "semovi", "--name", "Semovi"],
        vec!["client", "list"],
        vec!["staff", "list"],
        vec!["catalog", "export"],
        vec!["catalog", "report"],
        vec!["keys", "rotate"],
        vec!["purge"],
        vec!["pki", "init"],
        vec!["record", "show", "x", "--by", "a", "--purpose", "b", "--legal-basis", "c"],
        vec!["verify", document.to_str().unwrap(), signature.to_str().unwrap()],
    ];
    for args in commands {
        let out = llave_in(empty.path(), &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("no llave data at {}", data.display())) && stderr.contains("llave init"),
            "{args:?}: {stderr}"
        );
        assert!(!data.exists(), "{args:?} made {}", data.display());
    }
}

#[test]
fn init_makes_the_data_directory_that_the_other_commands_use() {
    let empty = tempfile::tempdir().unwrap();
    let data = empty.path().join("llave-data");
    let made = llave_in(empty.path(), &["init"]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let said = String::from_utf8_lossy(&made.stdout);
    assert!(
        said.contains(&data.display().to_string()) && said.contains("llave.toml") && said.contains("llave.db"),
        "{said}"
    );
    assert!(data.join("llave.toml").is_file() && data.join("llave.db").is_file());
    let unknown = llave_in(empty.path(), &["citizen", "show", &Person::synthetic(72).curp]);
    let said = String::from_utf8_lossy(&unknown.stderr);
    assert!(said.contains("no account has the CURP"), "the data is found: {said}");
    let again = llave_in(empty.path(), &["init"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already"), "a second init changes nothing");
    // From another folder, --data-dir finds it.
    let elsewhere = tempfile::tempdir().unwrap();
    let listed = llave_in(elsewhere.path(), &["--data-dir", data.to_str().unwrap(), "entity", "list"]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(!elsewhere.path().join("llave-data").exists());
}

both_backends! {
    async fn the_demo_registry_is_configured_for_serve_and_lists_only_the_unclaimed(backend: Backend) {
        let app = TestApp::new(backend).await;
        let report = json_of(&llave(&app, &["demo", "--json"], None));
        let unclaimed = report["unclaimed"].as_array().unwrap().clone();
        assert!(unclaimed.len() >= 2);
        // The data directory's configuration names the registry: `serve` reads it from there.
        let data = app.dir.path().join("data");
        let overrides = llave::config::Overrides { data_dir: Some(data.clone()), ..Default::default() };
        let config = llave::config::Config::load(None, &overrides).unwrap();
        let registry = config.registry.clone().expect("llave demo configured its registry");
        assert_eq!(registry, format!("file:{}", std::path::absolute(data.join("registry.json")).unwrap().display()));
        let served = TestApp::builder(backend).config(|c| c.registry = Some(registry.clone())).build().await;
        let invented = served.client().submit("/signup", "/signup", &Person::synthetic(881).signup_fields()).await;
        assert_eq!(invented.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert!(invented.body.contains("El Registro de Población no tiene esta CURP"), "{}", invented.body);
        served.finish().await;

        // One of the unclaimed people gets an account: the next run no longer lists them.
        let person = &unclaimed[0];
        let field = |name: &str| person[name].as_str().unwrap_or("").to_string();
        let mut args = vec!["citizen".to_string(), "add".into()];
        for (flag, name) in [("--curp", "curp"), ("--given-names", "given_names"), ("--first-surname", "first_surname"),
            ("--second-surname", "second_surname"), ("--birth-date", "birth_date"), ("--sex", "sex"), ("--state", "state")] {
            args.extend([flag.to_string(), field(name)]);
        }
        args.extend(["--email".into(), "unclaimed@example.com".into(), "--password-stdin".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let added = llave(&app, &args, Some("una clave bastante larga 1\n"));
        assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
        let again = json_of(&llave(&app, &["demo", "--json"], None));
        let listed: Vec<&str> = again["unclaimed"].as_array().unwrap().iter().map(|r| r["curp"].as_str().unwrap()).collect();
        assert_eq!(listed.len(), unclaimed.len() - 1, "{listed:?}");
        assert!(!listed.contains(&field("curp").as_str()));
        app.finish().await;
    }
}

#[test]
fn dev_mode_is_refused_off_loopback() {
    let empty = tempfile::tempdir().unwrap();
    let refused =
        llave_in(empty.path(), &["serve", "--listen", "0.0.0.0", "--issuer", "http://localhost:8080", "--dev"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--dev") && stderr.contains("loopback") && stderr.contains("0.0.0.0:8080"), "{stderr}");
    // The same from the environment and from the data directory's configuration.
    let from_env = Command::new(env!("CARGO_BIN_EXE_llave"))
        .args(["serve", "--listen", "[::]:8080"])
        .current_dir(empty.path())
        .env("LLAVE_DEV__ENABLED", "true")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&from_env.stderr).contains("loopback"),
        "{}",
        String::from_utf8_lossy(&from_env.stderr)
    );
    assert!(!empty.path().join("llave-data").exists(), "refused before anything is made");
    let init = llave_in(empty.path(), &["init"]);
    assert!(init.status.success());
    let config = empty.path().join("llave-data/llave.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("listen = \"192.0.2.1:8080\"\n{text}\n[dev]\nenabled = true\n")).unwrap();
    let from_file = llave_in(empty.path(), &["serve"]);
    assert!(
        String::from_utf8_lossy(&from_file.stderr).contains("loopback"),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    // llave demo prints the command that serves it.
    let demo = llave_in(empty.path(), &["--data-dir", "demo-data", "demo"]);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    assert!(
        String::from_utf8_lossy(&demo.stdout).contains("llave --data-dir demo-data serve --dev"),
        "{}",
        String::from_utf8_lossy(&demo.stdout)
    );
}
