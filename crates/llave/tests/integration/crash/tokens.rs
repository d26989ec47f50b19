//! Issue 19's durability check of the token answers' group commit: under `client_credentials`
//! load from twelve concurrent clients, `llave serve` is killed with SIGKILL four times and
//! restarted; afterwards every access token a client received is known to llave
//! (introspection answers `active: true`). An answer leaves only after the transaction that
//! holds it committed, so no received token can be lost with the group it was written in.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llave::oidc::clients::NewClient;

use super::{Install, Schedule, fixed_port, seed};
use crate::both_backends;
use crate::support::TestApp;

const WORKERS: usize = 12;
const KILLS: u64 = 4;

both_backends! {
    async fn every_token_received_survives_sigkill(backend: Backend) {
        let seed = seed();
        println!("token crash test ({backend:?}): seed {seed} (CRASH_TEST_SEED repeats it)");
        let mut schedule = Schedule(seed);
        let port = fixed_port(&mut schedule);
        let base = format!("http://127.0.0.1:{port}");
        let app = TestApp::builder(backend).config(|c| c.issuer = Some(base.clone())).build().await;
        llave::admin::entity::add_entity(&app.state, "tesoreria", "Tesorería").await.unwrap();
        let new = NewClient {
            entity: "tesoreria".into(),
            name: "Back end de Tesorería".into(),
            redirect_uris: vec!["https://tesoreria.example/cb".into()],
            ..Default::default()
        };
        let client = llave::admin::entity::add_client(&app.state.store, &new).await.unwrap();
        let credentials = (client.client_id.clone(), client.client_secret.clone().unwrap());
        app.state.store.close().await;
        let install = Install {
            database_url: app.database_url.clone(),
            data_dir: app.dir.path().join("data"),
            log: app.dir.path().join("serve.log"),
            port,
            smtp_url: "smtp://127.0.0.1:9".into(),
        };

        let received = Arc::new(Mutex::new(Vec::<String>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let http = reqwest12::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (http, base, received, stop) = (http.clone(), base.clone(), received.clone(), stop.clone());
                let (id, secret) = credentials.clone();
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let answer = http
                            .post(format!("{base}/token"))
                            .basic_auth(&id, Some(&secret))
                            .form(&[("grant_type", "client_credentials")])
                            .send()
                            .await;
                        let Ok(answer) = answer else {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        };
                        if answer.status() != 200 {
                            continue;
                        }
                        // A body cut by the kill is not a token received.
                        let Ok(body) = answer.json::<serde_json::Value>().await else { continue };
                        if let Some(token) = body["access_token"].as_str() {
                            received.lock().unwrap().push(token.to_string());
                        }
                    }
                })
            })
            .collect();

        for kill in 1..=KILLS {
            let server = install.start().await;
            // Killed under load: once this run has answered some tokens (however slow the
            // machine), then at a random moment.
            let before = received.lock().unwrap().len();
            let loaded = tokio::time::timeout(Duration::from_secs(60), async {
                while received.lock().unwrap().len() < before + 10 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            });
            assert!(loaded.await.is_ok(), "no tokens answered within 60 s; llave's log:\n{}", install.log_tail());
            let wait = schedule.between(0, 400);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            server.kill();
            println!("token crash test: kill {kill}/{KILLS}, {wait} ms after the tenth token of the run");
        }
        stop.store(true, Ordering::SeqCst);
        for worker in workers {
            tokio::time::timeout(Duration::from_secs(60), worker).await.expect("a worker stopped").unwrap();
        }
        let tokens = std::mem::take(&mut *received.lock().unwrap());
        println!("token crash test: {} tokens received", tokens.len());
        assert!(tokens.len() >= 10 * KILLS as usize, "the load did its work: only {} tokens", tokens.len());

        let server = install.start().await;
        let mut lost = Vec::new();
        for chunk in tokens.chunks(16) {
            let mut checks = tokio::task::JoinSet::new();
            for token in chunk {
                let (http, token) = (http.clone(), token.clone());
                let (id, secret) = credentials.clone();
                let url = format!("{base}/introspect");
                checks.spawn(async move {
                    let answer = http.post(url).basic_auth(&id, Some(&secret)).form(&[("token", token.as_str())]).send().await;
                    let body: serde_json::Value = answer.expect("introspection answers").json().await.expect("JSON");
                    (token, body["active"] == true)
                });
            }
            while let Some(checked) = checks.join_next().await {
                let (token, active) = checked.unwrap();
                if !active {
                    lost.push(token);
                }
            }
        }
        server.kill();
        assert!(lost.is_empty(), "{} of {} received tokens are unknown after the kills: {:?}", lost.len(), tokens.len(), &lost[..lost.len().min(3)]);
        app.finish().await;
    }
}
