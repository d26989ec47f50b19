//! The development mailer: every message becomes `DATA_DIR/outbox/<time>-<id>.eml`.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{MailError, Mailer, OutgoingMail, build};

pub struct FileMailer {
    dir: PathBuf,
    from: String,
}

impl FileMailer {
    pub fn new(dir: PathBuf, from: &str) -> std::io::Result<FileMailer> {
        std::fs::create_dir_all(&dir)?;
        Ok(FileMailer { dir, from: from.to_string() })
    }
}

/// The file an earlier delivery of message `id` was written to.
fn first_copy(dir: &std::path::Path, id: &str) -> Option<String> {
    let suffix = format!("-{id}.eml");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .find(|name| name.ends_with(&suffix) && !name.starts_with('.'))
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build(&self.from, mail)?;
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        // A message delivered again (at least once) replaces its first copy.
        let name = match &mail.message_id {
            Some(id) if id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => {
                match first_copy(&self.dir, id) {
                    Some(existing) => existing,
                    None => format!("{nanos}-{id}.eml"),
                }
            }
            _ => format!("{nanos}-{}.eml", crate::crypto::random_id()),
        };
        // Write then rename, so a reader never sees half a message.
        let partial = self.dir.join(format!(".{name}.partial"));
        tokio::fs::write(&partial, message.formatted()).await.map_err(|e| MailError::Send(e.to_string()))?;
        tokio::fs::rename(&partial, self.dir.join(name)).await.map_err(|e| MailError::Send(e.to_string()))
    }
}
