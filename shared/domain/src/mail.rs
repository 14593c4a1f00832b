//! Emails: what they say (rendered here, in Indonesian with an English line) and the
//! port that sends them (SES on AWS, an outbox folder locally).

use async_trait::async_trait;

use crate::{jobs::Message, otp::Purpose};

pub use crate::lang::Lang;

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

/// Renders a notice about an application.
pub fn render_notice(to: &str, full_name: &str, notice: &crate::jobs::Notice) -> Email {
    use crate::jobs::Notice as N;
    let (subject, id, en) = match notice {
        N::BookingMade {
            application_id,
            billing_code,
            amount_idr,
            deadline,
            appointment,
        } => (
            format!("Kode billing {billing_code} - bayar sebelum {deadline}"),
            format!(
                "Jadwal Anda {appointment} untuk permohonan {application_id} sudah dipesan. Bayar Rp{amount_idr} dengan kode billing {billing_code} sebelum {deadline} di bank, ATM, kantor pos, Indomaret, atau marketplace. Jika tidak dibayar, kuota dilepas."
            ),
            format!(
                "Your appointment {appointment} for application {application_id} is booked. Pay IDR {amount_idr} with billing code {billing_code} before {deadline}; unpaid, the place is released."
            ),
        ),
        N::PaymentReceived {
            application_id,
            billing_code,
            appointment,
        } => {
            let (when_id, when_en) = match appointment {
                Some(a) => (
                    format!(
                        "Datang ke kantor pada {a} dengan dokumen asli dan bukti pembayaran (kode QR)."
                    ),
                    format!(
                        "Come to the office on {a} with the originals and the receipt (QR code)."
                    ),
                ),
                None => (
                    "Kuota asal sudah penuh: pilih jadwal baru tanpa membayar lagi.".to_owned(),
                    "The original place was gone: book any open slot without paying again."
                        .to_owned(),
                ),
            };
            (
                format!("Pembayaran diterima - {billing_code}"),
                format!(
                    "Pembayaran untuk permohonan {application_id} (kode billing {billing_code}) sudah kami terima. {when_id}"
                ),
                format!(
                    "We received the payment for application {application_id} (billing code {billing_code}). {when_en}"
                ),
            )
        }
        N::Expired {
            application_id,
            billing_code,
        } => (
            format!("Kode billing {billing_code} kedaluwarsa"),
            format!(
                "Kode billing {billing_code} untuk permohonan {application_id} tidak dibayar tepat waktu; kuota telah dilepas. Anda dapat memesan jadwal lagi."
            ),
            format!(
                "Billing code {billing_code} for application {application_id} was not paid in time and the place was released. You may book again."
            ),
        ),
        N::Rescheduled {
            application_id,
            appointment,
        } => (
            "Jadwal kedatangan diubah".to_owned(),
            format!("Jadwal permohonan {application_id} diubah menjadi {appointment}."),
            format!("The appointment for application {application_id} is now {appointment}."),
        ),
        N::Cancelled { application_id } => (
            "Permohonan dibatalkan".to_owned(),
            format!("Permohonan {application_id} dibatalkan dan kuotanya dikembalikan."),
            format!(
                "Application {application_id} was cancelled and its place returned to the quota."
            ),
        ),
        N::Entered {
            release_id,
            entry_id,
            draw_at,
        } => (
            format!("Anda terdaftar dalam undian {release_id}"),
            format!(
                "Pendaftaran {entry_id} untuk undian kuota {release_id} kami terima. Undian dilaksanakan {draw_at}; waktu mendaftar tidak memengaruhi peluang. Hasilnya kami kirim lewat email."
            ),
            format!(
                "Entry {entry_id} in the quota draw {release_id} is received. The draw is at {draw_at}; when you entered does not change your chances. The result comes by email."
            ),
        ),
        N::Drawn {
            release_id,
            position,
            appointment: Some(appointment),
        } => (
            format!("Hasil undian {release_id}: Anda mendapat jadwal"),
            format!(
                "Nomor urut Anda {position}: Anda mendapat jadwal {appointment}. Kode billing tiap permohonan menyusul dalam email tersendiri; bayar sebelum batas waktunya."
            ),
            format!(
                "Your position is {position}: you won the appointment {appointment}. Each application's billing code follows in its own email; pay before its deadline."
            ),
        ),
        N::Drawn {
            release_id,
            position,
            appointment: None,
        } => (
            format!("Hasil undian {release_id}: daftar tunggu"),
            format!(
                "Nomor urut Anda {position}: belum ada jadwal yang cocok dengan pilihan Anda. Anda berada di daftar tunggu."
            ),
            format!(
                "Your position is {position}: none of your choices had room. You are on the waitlist."
            ),
        ),
    };
    Email {
        to: to.to_owned(),
        subject,
        text: format!(
            "Halo {full_name},\n\n{id}\n\nEnglish: {en}\n\nPaspor - Direktorat Jenderal Imigrasi\n"
        ),
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
