//! The local mailer: every email becomes an `.eml` file in `<data-dir>/outbox/`, readable
//! by any mail client and by the tests.

use std::path::PathBuf;

use async_trait::async_trait;
use mail_builder::MessageBuilder;
use paspor_domain::mail::{Email, MailError, Mailer};

use super::EmbeddedError;

pub const FROM: &str = "Paspor <no-reply@paspor.local>";

#[derive(Debug)]
pub struct OutboxMailer {
    dir: PathBuf,
}

impl OutboxMailer {
    pub fn new(dir: PathBuf) -> Result<Self, EmbeddedError> {
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = MessageBuilder::new()
            .from(FROM)
            .to(email.to.as_str())
            .subject(email.subject.as_str())
            .text_body(email.text.as_str())
            .write_to_string()
            .map_err(|e| MailError(e.to_string()))?;
        // Written under a temporary name and renamed, so a reader never sees half a file.
        let name = ulid::Ulid::new().to_string();
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let path = self.dir.join(format!("{name}.eml"));
        tokio::fs::write(&tmp, message)
            .await
            .map_err(|e| MailError(e.to_string()))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| MailError(e.to_string()))
    }
}
