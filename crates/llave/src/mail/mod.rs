//! Outgoing e-mail: one interface, two transports. SMTP (the `lettre` crate) in
//! production; by default, for development, each message is written as an `.eml` file
//! to `DATA_DIR/outbox/`. Bodies are plain UTF-8 text sent as 8bit, so links stay whole.

mod file;
mod smtp;

pub use file::FileMailer;
pub use smtp::SmtpMailer;

use async_trait::async_trait;
use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, SinglePart};

#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The outbox message id, the same on every attempt: sent as the `Message-ID`, so a
    /// receiver that gets the message twice (at-least-once delivery) can tell.
    pub message_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address: {0}")]
    Address(String),
    #[error("message could not be built: {0}")]
    Build(String),
    #[error("message could not be sent: {0}")]
    Send(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

fn build(from: &str, mail: &OutgoingMail) -> Result<Message, MailError> {
    let from: Mailbox = from.parse().map_err(|e: lettre::address::AddressError| MailError::Address(e.to_string()))?;
    let to: Mailbox = mail.to.parse().map_err(|e: lettre::address::AddressError| MailError::Address(e.to_string()))?;
    let mut builder = Message::builder().from(from).to(to).subject(mail.subject.clone());
    if let Some(id) = &mail.message_id {
        builder = builder.message_id(Some(format!("<{id}@llave.outbox>")));
    }
    builder
        .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(body(&mail.body)))
        .map_err(|e| MailError::Build(e.to_string()))
}

/// The body as 8bit UTF-8 (RFC 6152) when every line fits SMTP's 998-byte limit, so the
/// one-time links stay whole and readable; otherwise whatever encoding lettre picks.
/// (lettre's own 8bit check stops at 76 characters, which a link with its token exceeds.)
fn body(text: &str) -> Body {
    let crlf = text.replace("\r\n", "\n").replace('\r', "\n").replace('\n', "\r\n");
    let fits = crlf.split("\r\n").all(|line| line.len() <= 998) && !crlf.contains('\0');
    if fits {
        Body::dangerous_pre_encoded(crlf.into_bytes(), ContentTransferEncoding::EightBit)
    } else {
        Body::new(text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_on_one_line_in_8bit() {
        let link = format!("https://llave.cdmx.gob.mx/confirm?token={}", "x".repeat(43));
        let mail = OutgoingMail {
            to: "ana@example.mx".into(),
            subject: "Confirmación".into(),
            body: format!("Hola:\n\n{link}\n"),
            message_id: Some("m1".into()),
        };
        let text = String::from_utf8(build("Llave <no-reply@example.mx>", &mail).unwrap().formatted()).unwrap();
        assert!(text.contains("Content-Transfer-Encoding: 8bit"), "{text}");
        assert!(text.contains(&link));
        assert!(text.contains("Message-ID: <m1@llave.outbox>"), "{text}");
    }

    #[test]
    fn absurdly_long_lines_fall_back_to_an_encoding() {
        let mail =
            OutgoingMail {
                to: "ana@example.mx".into(), subject: "x".into(), body: "ñ".repeat(2000), message_id: None
            };
        let text = String::from_utf8(build("Llave <no-reply@example.mx>", &mail).unwrap().formatted()).unwrap();
        assert!(!text.contains("Content-Transfer-Encoding: 8bit"));
    }
}

/// A mail error as it may be logged: an SMTP server's answer often quotes the recipient
/// (`550 <ana@example.mx>: no such user`), and addresses are personal data.
pub fn loggable(error: &impl std::fmt::Display) -> String {
    error
        .to_string()
        .split(' ')
        .map(|word| if word.contains('@') { "<address>" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod loggable_tests {
    #[test]
    fn addresses_are_blanked() {
        assert_eq!(
            super::loggable(&"permanent error (550): 5.1.1 <ana@example.mx>: Recipient address rejected"),
            "permanent error (550): 5.1.1 <address> Recipient address rejected"
        );
    }
}
