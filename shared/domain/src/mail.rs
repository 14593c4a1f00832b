//! Emails: what they say (rendered here, in Indonesian with an English line) and the
//! port that sends them (SES on AWS, an outbox folder locally).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{jobs::Message, otp::Purpose};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Id,
    En,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("mail: {0}")]
pub struct MailError(pub String);

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}

/// Renders a message. Indonesian comes first, an English line follows, whatever `lang`
/// says, so a reader of either understands; `lang` only orders the subject.
pub fn render(to: &str, lang: Lang, message: &Message) -> Email {
    match message {
        Message::Otp {
            code,
            purpose,
            full_name,
            valid_minutes,
        } => {
            let (id_what, en_what) = match purpose {
                Purpose::Signup => ("verifikasi akun Paspor", "to verify your Paspor account"),
                Purpose::PasswordReset => (
                    "mengatur ulang kata sandi Paspor",
                    "to reset your Paspor password",
                ),
            };
            let subject = match lang {
                Lang::Id => format!("Kode {code} untuk {id_what}"),
                Lang::En => format!("Code {code} {en_what}"),
            };
            let text = format!(
                "Halo {full_name},\n\n\
                 Kode Anda untuk {id_what}: {code}\n\
                 Kode berlaku {valid_minutes} menit dan hanya dapat dipakai sekali. \
                 Jangan berikan kode ini kepada siapa pun, termasuk petugas.\n\n\
                 English: your code {en_what} is {code}. It is valid for {valid_minutes} minutes, \
                 once. Never share it with anyone.\n\n\
                 Paspor — Direktorat Jenderal Imigrasi\n"
            );
            Email {
                to: to.to_owned(),
                subject,
                text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otp_email_in_both_languages() {
        let m = Message::Otp {
            code: "123456".into(),
            purpose: Purpose::Signup,
            full_name: "Siti Aminah".into(),
            valid_minutes: 10,
        };
        let e = render("siti@example.com", Lang::Id, &m);
        assert_eq!(e.to, "siti@example.com");
        assert!(e.subject.starts_with("Kode 123456"));
        assert!(e.text.contains("Halo Siti Aminah"));
        assert!(e.text.contains("English: your code to verify"));
        assert!(
            render("x@y.co", Lang::En, &m)
                .subject
                .starts_with("Code 123456")
        );
    }
}
