//! The real `llave serve` as a child process: request ids and JSON log lines, the metrics
//! listener, and a graceful shutdown on SIGTERM — requests in flight finish, new
//! connections are refused, and the process exits 0.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::both_backends;
use crate::support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Node {
    child: Child,
    port: u16,
    metrics_port: u16,
    log: PathBuf,
}

impl Node {
    /// `llave serve` on the test app's database and data directory, logging JSON into a file,
    /// with the metrics listener on a port of its own; waits (up to 60 s) until it is ready.
    async fn start(app: &TestApp) -> Node {
        let (port, metrics_port) = (free_port(), free_port());
        let log = app.dir.path().join("serve.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_llave"));
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("LLAVE_")) {
            command.env_remove(name);
        }
        command
            .arg("--data-dir")
            .arg(app.dir.path().join("data"))
            .arg("--database")
            .arg(&app.database_url)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--issuer", &format!("http://127.0.0.1:{port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}"), "--shutdown-timeout", "30"])
            .env("LLAVE_LOG_FORMAT", "json")
            // tower-http's "finished processing request" line, written inside the request's span.
            .env("LLAVE_LOG", "info,sqlx=warn,tower_http=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        let mut node = Node { child: command.spawn().expect("start llave serve"), port, metrics_port, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("llave serve exited ({status}) before it was ready:\n{}", node.log_text());
            }
            if reqwest12::get(node.url("/readyz")).await.is_ok_and(|r| r.status().is_success()) {
                return node;
            }
            assert!(Instant::now() < deadline, "not ready within 60 s:\n{}", node.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines.
    fn log_lines(&self) -> Vec<serde_json::Value> {
        self.log_text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: not JSON: {l}")))
            .collect()
    }

    fn terminate(&self) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success());
    }
}

/// The `request_id` of the spans a JSON log line was written in.
fn request_ids(line: &serde_json::Value) -> Vec<String> {
    let spans = line["spans"].as_array().cloned().unwrap_or_default();
    spans.iter().chain([&line["span"]]).filter_map(|s| s["request_id"].as_str().map(str::to_string)).collect()
}

both_backends! {
    async fn every_request_has_an_id_in_its_answer_and_its_json_log_lines(backend: Backend) {
        let app = TestApp::new(backend).await;
        app.state.store.close().await;
        let node = Node::start(&app).await;
        let http = reqwest12::Client::new();
        // A well-formed incoming id is kept.
        let answer = http.get(node.url("/signin")).header("X-Request-Id", "lb-7:abc.123").send().await.unwrap();
        assert_eq!(answer.headers()["x-request-id"], "lb-7:abc.123");
        // None, or a malformed one: a new id.
        let made = http.get(node.url("/signin")).send().await.unwrap();
        let made = made.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(made.len() >= 16, "{made}");
        let replaced = http.get(node.url("/healthz")).header("X-Request-Id", "bad id \"quoted\"").send().await.unwrap();
        let replaced = replaced.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(replaced != "bad id \"quoted\"" && replaced != made && !replaced.contains(' '), "{replaced}");
        // The metrics listener serves /metrics; the main listener does not.
        let metrics = reqwest12::get(format!("http://127.0.0.1:{}/metrics", node.metrics_port)).await.unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(metrics.text().await.unwrap().contains("llave_http_requests_total{"));
        assert_eq!(reqwest12::get(node.url("/metrics")).await.unwrap().status(), 404);

        node.terminate();
        let mut node = node;
        let status = tokio::time::timeout(Duration::from_secs(30), node.child.wait()).await.expect("exits").unwrap();
        assert!(status.success(), "{status}");
        let lines = node.log_lines();
        let with = |id: &str| lines.iter().filter(|l| request_ids(l).iter().any(|r| r == id)).count();
        assert!(with("lb-7:abc.123") >= 1, "no log line carries the incoming id:\n{}", node.log_text());
        assert!(with(&made) >= 1, "no log line carries the generated id:\n{}", node.log_text());
        assert!(lines.iter().any(|l| l["fields"]["message"] == "llave listening"), "{}", node.log_text());
        app.finish().await;
    }
}

both_backends! {
    async fn sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_0(backend: Backend) {
        let app = TestApp::new(backend).await;
        let person = Person::synthetic(1802);
        sign_up_and_confirm(&app, &person).await;
        app.state.store.close().await;
        let node = Node::start(&app).await;

        // The sign-in form's CSRF cookie and token.
        let page = reqwest12::get(node.url("/signin")).await.unwrap();
        let cookie = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.contains("llave_csrf="))
            .and_then(|c| c.split(';').next())
            .expect("a CSRF cookie")
            .to_string();
        let token = input_value(&page.text().await.unwrap(), "csrf_token").expect("a CSRF token");
        let body = serde_urlencoded::to_string([
            ("csrf_token", token.as_str()),
            ("identifier", person.curp.as_str()),
            ("password", person.password.as_str()),
            ("next", "/account"),
        ])
        .unwrap();

        // Three sign-ins in flight: each sent its head with `Expect: 100-continue` and was
        // told to go on, which llave does only once a handler reads the body.
        let mut in_flight = Vec::new();
        for _ in 0..3 {
            let mut stream = TcpStream::connect(("127.0.0.1", node.port)).await.unwrap();
            let head = format!(
                "POST /signin HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Cookie: {cookie}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
                node.port,
                body.len()
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut seen = Vec::new();
            let mut buffer = [0u8; 256];
            while !String::from_utf8_lossy(&seen).contains("\r\n\r\n") {
                let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buffer)).await.unwrap().unwrap();
                assert!(n > 0, "closed before 100 Continue");
                seen.extend_from_slice(&buffer[..n]);
            }
            assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 100 Continue"), "{}", String::from_utf8_lossy(&seen));
            in_flight.push(stream);
        }

        node.terminate();
        // New connections are refused once the signal is handled (a connection made before
        // that is closed unanswered; keep trying, for at most 20 s).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match TcpStream::connect(("127.0.0.1", node.port)).await {
                Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => break,
                _ => {
                    assert!(Instant::now() < deadline, "still accepting 20 s after SIGTERM");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        // The requests in flight finish, each with its answer: signed in.
        for mut stream in in_flight {
            stream.write_all(body.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
            assert!(answer.contains("llave_session="), "{answer}");
        }
        let mut node = node;
        let status = tokio::time::timeout(Duration::from_secs(30), node.child.wait()).await.expect("exits").unwrap();
        assert_eq!(status.code(), Some(0), "{}", node.log_text());
        assert!(node.log_text().contains("every request in flight finished"), "{}", node.log_text());
        app.finish().await;
    }
}

both_backends! {
    async fn serve_without_the_kek_file_exits_naming_the_file_and_the_setting(backend: Backend) {
        let app = TestApp::new(backend).await;
        app.state.store.close().await;
        let missing = app.dir.path().join("nowhere/kek.key");
        let mut command = Command::new(env!("CARGO_BIN_EXE_llave"));
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("LLAVE_")) {
            command.env_remove(name);
        }
        let out = command
            .arg("--data-dir")
            .arg(app.dir.path().join("data"))
            .arg("--database")
            .arg(&app.database_url)
            .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
            .env("LLAVE_KEK_FILE", &missing)
            .stdin(Stdio::null())
            .output();
        let out = tokio::time::timeout(Duration::from_secs(60), out).await.expect("exits").unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(&missing.display().to_string()) && stderr.contains("missing"), "{stderr}");
        assert!(stderr.contains("LLAVE_KEK_FILE"), "{stderr}");
        assert!(!missing.exists(), "no key was made");
        app.finish().await;
    }
}
