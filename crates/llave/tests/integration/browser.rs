//! What a person does on the pages, in a real browser: `tests/browser/signup_signin.mjs`
//! (playwright-core driving Debian's Chromium, JavaScript disabled) against llave served on
//! a real port. Needs `npm ci --prefix tests/browser` and `/usr/bin/chromium`; `.ci/run`
//! installs both, and without them the test fails saying so rather than skipping.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::both_backends;
use crate::support::{Person, TestApp};

/// Generous: two browsers (one per backend) may share two cores with a debug build.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);
const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Fails (never skips) when what the browser test needs is not installed.
fn require_browser_tooling(dir: &Path) {
    assert!(
        dir.join("node_modules/playwright-core/package.json").is_file(),
        "playwright-core is not installed in {}: run `npm ci --prefix tests/browser` from the workspace root \
         (.ci/run does it)",
        dir.display()
    );
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run `apt-get install -y chromium chromium-driver` (.ci/run does it)"
    );
}

both_backends! {
    async fn a_new_person_signs_up_confirms_signs_in_and_out_in_a_browser(backend: Backend) {
        let dir = browser_tests_dir();
        require_browser_tooling(&dir);
        let (app, base) = TestApp::builder(backend).serve_as_issuer().await;
        let person = Person::synthetic(7101);

        let mut command = tokio::process::Command::new("node");
        command
            .arg(dir.join("signup_signin.mjs"))
            .current_dir(&dir)
            .env("BASE_URL", &base)
            .env("OUTBOX", app.outbox())
            .env("CHROMIUM", CHROMIUM)
            .env("CURP", &person.curp)
            .env("GIVEN_NAMES", &person.given_names)
            .env("FIRST_SURNAME", &person.first_surname)
            .env("SECOND_SURNAME", &person.second_surname)
            .env("BIRTH_DATE", &person.birth_date)
            .env("EMAIL", &person.email)
            .env("SECOND_EMAIL", format!("otra.{}", person.email))
            .env("PASSWORD", &person.password)
            .kill_on_drop(true);
        let output = match tokio::time::timeout(SCRIPT_TIMEOUT, command.output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(error)) => panic!("could not run `node` (Node.js 20 must be on PATH): {error}"),
            Err(_) => panic!("the browser script did not finish within {SCRIPT_TIMEOUT:?}"),
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!("{stdout}");
        assert!(
            output.status.success(),
            "browser script failed ({}) against {base}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
            output.status
        );

        // What the browser did is in the database: one account, and the refused second
        // sign-up left nothing behind.
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE email_confirmed_at IS NOT NULL").await, 1);
        app.finish().await;
    }
}
