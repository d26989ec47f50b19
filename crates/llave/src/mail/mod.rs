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
use lettre::message::{Mailbox, SinglePart};

#[derive(Debug, Clone)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub body: String,
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
    Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone())
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .header(ContentTransferEncoding::EightBit)
                .body(mail.body.clone()),
        )
        .map_err(|e| MailError::Build(e.to_string()))
}
