//! The two receivers of what leaves llave through the outbox, each counting what it got by
//! message id (duplicates are counted, not hidden): a tiny SMTP sink that accepts every
//! message and keeps its `Message-ID`, and an entity's back-channel logout endpoint that
//! keeps every logout token's `jti` and `sid`. Both run in the test process, so they stay up
//! while llave is killed and restarted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Message ids received, with how many times each came.
#[derive(Default)]
pub struct Received {
    pub times: HashMap<String, u32>,
    /// For logout tokens: the session (`sid`) each `jti` was about.
    pub sessions: HashMap<String, String>,
}

pub type Shared = Arc<Mutex<Received>>;

fn note(received: &Shared, id: String, session: Option<String>) {
    let mut received = received.lock().expect("receiver ledger");
    *received.times.entry(id.clone()).or_default() += 1;
    if let Some(session) = session {
        received.sessions.insert(id, session);
    }
}

/// An SMTP server that accepts every message (RFC 5321's minimal command set) and notes its
/// `Message-ID: <ID@llave.outbox>` once the final `.` has arrived — before answering 250,
/// so a sender killed between the two delivers again and the duplicate is counted.
pub async fn smtp_sink() -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the SMTP sink");
    let url = format!("smtp://{}", listener.local_addr().expect("sink address"));
    let received = Shared::default();
    let ledger = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                // A connection cut by a killed llave simply ends here.
                let _ = smtp_session(socket, &ledger).await;
            });
        }
    });
    (url, received)
}

async fn smtp_session(socket: tokio::net::TcpStream, ledger: &Shared) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 crash-test sink ESMTP\r\n").await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_ascii_uppercase();
        let answer: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
            // llave's mail is UTF-8 (Spanish): the sink takes 8-bit bodies (RFC 6152).
            b"250-crash-test sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if command.starts_with("DATA") {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let message = read_data(&mut lines).await?;
            if let Some(id) = message_id(&message) {
                note(ledger, id, None);
            }
            b"250 queued\r\n"
        } else if command.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            // MAIL, RCPT, RSET, NOOP: all accepted.
            b"250 ok\r\n"
        };
        write.write_all(answer).await?;
    }
}

/// The message up to the line holding a single `.` (RFC 5321 §4.5.2).
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut R) -> std::io::Result<String> {
    let mut message = String::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed in DATA"));
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim_end_matches(['\r', '\n']) == "." {
            return Ok(message);
        }
        message.push_str(&text);
    }
}

/// The outbox message id of a mail: `Message-ID: <ID@llave.outbox>`.
fn message_id(message: &str) -> Option<String> {
    message.lines().take_while(|line| !line.trim().is_empty()).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.eq_ignore_ascii_case("message-id") {
            return None;
        }
        let value = value.trim().trim_start_matches('<');
        value.split_once("@llave.outbox").map(|(id, _)| id.to_string())
    })
}

/// An entity's back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0 §2.5):
/// notes each logout token's `jti` and `sid` (the token is not verified: this receiver
/// counts deliveries; the OIDC tests check the tokens). Returns its URL.
pub async fn backchannel_listener() -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the back-channel listener");
    let address: SocketAddr = listener.local_addr().expect("listener address");
    let received = Shared::default();
    let router = axum::Router::new().route("/backchannel", axum::routing::post(logout)).with_state(received.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{address}/backchannel"), received)
}

async fn logout(State(ledger): State<Shared>, Form(form): Form<HashMap<String, String>>) -> StatusCode {
    let Some(claims) = form.get("logout_token").and_then(|token| jwt_claims(token)) else {
        return StatusCode::BAD_REQUEST;
    };
    let Some(jti) = claims["jti"].as_str() else { return StatusCode::BAD_REQUEST };
    note(&ledger, jti.to_string(), claims["sid"].as_str().map(str::to_string));
    StatusCode::OK
}

/// A JWT's claims, unverified.
pub fn jwt_claims(jwt: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}
