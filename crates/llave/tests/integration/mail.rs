//! E-mail through a real SMTP server: Python's `aiosmtpd` listening on a local port and
//! delivering into a maildir (`pip install aiosmtpd`; `.ci/run` installs it). And when the
//! SMTP server cannot be reached, sign-up still creates the account and says the mail
//! could not be sent.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::both_backends;
use crate::support::{Person, TestApp, find_link};

const PYTHON: &str = "python3";

/// An `aiosmtpd` server storing every message it receives in a maildir. Killed on drop,
/// so a failing test leaves no server behind.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    fn start() -> SmtpServer {
        let import = Command::new(PYTHON).args(["-c", "import aiosmtpd"]).output();
        match import {
            Ok(output) if output.status.success() => {}
            Ok(_) => panic!("Python's aiosmtpd is not installed: run `pip install aiosmtpd` (.ci/run does it)"),
            Err(error) => {
                panic!("could not run {PYTHON} (needed for the aiosmtpd SMTP server): {error}")
            }
        }
        let maildir = tempfile::tempdir().expect("temporary maildir");
        let port = free_port();
        let child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("Maildir"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python3 -m aiosmtpd");
        let mut server = SmtpServer { child, port, maildir };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!("aiosmtpd exited ({status}) before listening on port {}:\n{stderr}", self.port);
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on port {} within 20 s", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages delivered so far (waits up to 10 s for the first one).
    fn messages(&self) -> Vec<String> {
        let new = self.maildir.path().join("Maildir/new");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let files: Vec<PathBuf> = std::fs::read_dir(&new)
                .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            if !files.is_empty() || Instant::now() > deadline {
                return files.iter().map(|p| read_lossy(p)).collect();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).expect("read a delivered message")).into_owned()
}

/// A port nothing listens on (bound by the OS, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// The value of a header (first occurrence, unfolded), from a raw message.
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let head = message.split("\r\n\r\n").next().unwrap_or(message);
    let head = head.split("\n\n").next().unwrap_or(head);
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

both_backends! {
    async fn sign_up_sends_the_confirmation_through_smtp(backend: Backend) {
        let smtp = SmtpServer::start();
        let url = smtp.url();
        let app = TestApp::builder(backend).config(|c| c.mail.smtp_url = Some(url)).build().await;
        let person = Person::synthetic(7201);

        let mut client = app.client();
        let response = client.submit("/signup", "/signup", &person.signup_fields()).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert!(response.body.contains("Revisa tu correo"), "{}", response.body);
        assert!(!response.body.contains("no pudimos enviar"), "{}", response.body);

        let messages = smtp.messages();
        assert_eq!(messages.len(), 1, "one message delivered: {messages:#?}");
        let message = &messages[0];
        let to = header(message, "To").unwrap_or_else(|| panic!("no To header:\n{message}"));
        assert!(to.contains(&person.email), "To: {to}");
        let recipients = header(message, "X-RcptTo").unwrap_or_else(|| panic!("no envelope recipient:\n{message}"));
        assert!(recipients.contains(&person.email), "envelope recipients: {recipients}");
        assert_eq!(header(message, "Subject"), Some("Confirma tu correo de Llave"), "{message}");
        assert!(header(message, "From").is_some_and(|from| from.contains("no-reply@llave.localhost")), "{message}");
        // Nothing went to the file outbox: SMTP replaced it.
        assert!(app.mails().is_empty(), "outbox: {:#?}", app.mails());

        let link = find_link(message, "/confirm?token=").unwrap_or_else(|| panic!("no confirmation link:\n{message}"));
        assert!(message.contains(&format!("http://127.0.0.1:8080{link}")), "the link is under the issuer:\n{message}");
        let confirmed = client.get(&link).await;
        assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
        assert!(confirmed.body.contains("Correo confirmado"), "{}", confirmed.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE email_confirmed_at IS NOT NULL").await, 1);
        app.finish().await;
    }
}

both_backends! {
    async fn sign_up_without_a_reachable_smtp_server_still_creates_the_account_and_keeps_the_mail(backend: Backend) {
        let port = free_port();
        let url = format!("smtp://127.0.0.1:{port}");
        let app = TestApp::builder(backend).config(|c| c.mail.smtp_url = Some(url)).build().await;
        let person = Person::synthetic(7202);

        // The answer does not wait for the mail server: the mail is queued.
        let mut client = app.client();
        let response = client.submit("/signup", "/signup", &person.signup_fields()).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert!(response.body.contains("Revisa tu correo"), "{}", response.body);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts").await, 1);
        assert_eq!(app.count("SELECT COUNT(*) FROM accounts WHERE email_confirmed_at IS NOT NULL").await, 0);
        assert!(app.mails().is_empty(), "outbox: {:#?}", app.mails());
        // Tried once, failed, and kept for a later attempt: nothing is lost.
        assert_eq!(app.count("SELECT COUNT(*) FROM outbox WHERE done_at IS NULL AND last_error IS NOT NULL").await, 1);
        app.finish().await;
    }
}
