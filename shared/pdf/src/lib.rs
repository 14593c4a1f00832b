//! The billing invoice (what to pay, where, by when) and, once paid, the receipt with the
//! QR code the office scans at check-in. Plain PDF with the standard Helvetica font, so
//! any reader (and `pdftotext`) shows it; nothing to embed, nothing to fetch.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use qrcode::{Color, QrCode};

/// Everything printed on the document.
#[derive(Debug, Clone)]
pub struct BillingDocument {
    pub billing_code: String,
    pub amount_idr: i64,
    /// Deadline, already formatted in the office's time (e.g. "25-11-2026 14:05 WIB").
    pub deadline: String,
    pub applicant: String,
    pub application_id: String,
    pub office: String,
    pub office_address: String,
    /// Appointment day and hour, formatted, or a note that none is booked yet.
    pub appointment: String,
    /// `Some(paid at, formatted)` for the receipt.
    pub paid_at: Option<String>,
}

/// Bumped whenever [`render`] draws differently, so documents stored by an older layout are
/// not served again.
const LAYOUT: u8 = 1;

impl BillingDocument {
    /// A SHA-256 digest (hex) of everything the document shows: equal digests render the
    /// same PDF, so a stored rendering is reused only while nothing on it has changed.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update([LAYOUT]);
        // Each field length-prefixed, so no two different documents hash the same bytes.
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(self.billing_code.as_bytes());
        field(&self.amount_idr.to_be_bytes());
        field(self.deadline.as_bytes());
        field(self.applicant.as_bytes());
        field(self.application_id.as_bytes());
        field(self.office.as_bytes());
        field(self.office_address.as_bytes());
        field(self.appointment.as_bytes());
        match &self.paid_at {
            Some(at) => {
                field(b"paid");
                field(at.as_bytes());
            }
            None => field(b"unpaid"),
        }
        format!("{:x}", h.finalize())
    }
}

/// Rupiah with dots between thousands: "Rp650.000".
pub fn rupiah(amount: i64) -> String {
    let digits = amount.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    format!("{}Rp{out}", if amount < 0 { "-" } else { "" })
}

/// Helvetica's standard encoding covers ASCII; anything else is replaced, never dropped
/// silently into garbage.
fn ascii(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c as u8
            } else {
                b'?'
            }
        })
        .collect()
}

const CHANNELS: [&str; 7] = [
    "Teller bank / Bank teller",
    "ATM",
    "Kantor Pos / Post office",
    "Indomaret",
    "Tokopedia",
    "Bukalapak",
    "Mobile banking",
];

/// Renders the invoice, or the receipt when `paid_at` is set.
pub fn render(doc: &BillingDocument) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let (catalog, tree, page_id, font, bold, content_id) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
        Ref::new(6),
    );
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page_id]).count(1);
    let mut page = pdf.page(page_id);
    page.media_box(Rect::new(0.0, 0.0, 595.0, 842.0));
    page.parent(tree);
    page.contents(content_id);
    page.resources()
        .fonts()
        .pair(Name(b"F1"), font)
        .pair(Name(b"F2"), bold);
    page.finish();
    pdf.type1_font(font).base_font(Name(b"Helvetica"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold"));

    let mut c = Content::new();
    let mut y = 790.0;
    let mut line = |c: &mut Content, text: &str, size: f32, bold: bool, gap: f32| {
        c.begin_text();
        c.set_font(Name(if bold { b"F2" } else { b"F1" }), size);
        c.next_line(56.0, y);
        let bytes = ascii(text);
        c.show(Str(&bytes));
        c.end_text();
        y -= gap;
    };
    let receipt = doc.paid_at.is_some();
    let title = if receipt {
        "BUKTI PEMBAYARAN / RECEIPT"
    } else {
        "TAGIHAN PEMBAYARAN PASPOR / PASSPORT BILLING"
    };
    line(
        &mut c,
        "Direktorat Jenderal Imigrasi - Paspor",
        11.0,
        false,
        22.0,
    );
    line(&mut c, title, 16.0, true, 34.0);
    line(&mut c, "Kode billing / Billing code", 10.0, false, 18.0);
    line(&mut c, &doc.billing_code, 22.0, true, 32.0);
    line(
        &mut c,
        &format!("Jumlah / Amount: {}", rupiah(doc.amount_idr)),
        13.0,
        true,
        26.0,
    );
    match &doc.paid_at {
        Some(paid) => line(
            &mut c,
            &format!("Dibayar / Paid: {paid}"),
            12.0,
            false,
            26.0,
        ),
        None => line(
            &mut c,
            &format!("Bayar sebelum / Pay before: {}", doc.deadline),
            12.0,
            true,
            26.0,
        ),
    }
    line(
        &mut c,
        &format!("Pemohon / Applicant: {}", doc.applicant),
        12.0,
        false,
        18.0,
    );
    line(
        &mut c,
        &format!("Permohonan / Application: {}", doc.application_id),
        10.0,
        false,
        18.0,
    );
    line(
        &mut c,
        &format!("Kantor / Office: {}", doc.office),
        12.0,
        false,
        18.0,
    );
    line(&mut c, &doc.office_address, 10.0, false, 18.0);
    line(
        &mut c,
        &format!("Jadwal / Appointment: {}", doc.appointment),
        12.0,
        true,
        30.0,
    );
    if receipt {
        line(
            &mut c,
            "Tunjukkan kode QR ini kepada petugas saat kedatangan.",
            11.0,
            false,
            16.0,
        );
        line(
            &mut c,
            "Show this QR code to the officer when you arrive.",
            11.0,
            false,
            16.0,
        );
        draw_qr(&mut c, &doc.application_id, 56.0, y - 190.0, 180.0);
    } else {
        line(
            &mut c,
            "Bayar di salah satu kanal berikut / Pay at any of these channels:",
            11.0,
            false,
            18.0,
        );
        for channel in CHANNELS {
            line(&mut c, &format!("- {channel}"), 11.0, false, 16.0);
        }
        line(&mut c, "", 11.0, false, 8.0);
        line(
            &mut c,
            "Tagihan yang tidak dibayar sebelum batas waktu akan batal dan kuota dilepas.",
            10.0,
            false,
            14.0,
        );
        line(
            &mut c,
            "An unpaid billing lapses at the deadline and the place returns to the quota.",
            10.0,
            false,
            14.0,
        );
    }
    pdf.stream(content_id, &c.finish());
    pdf.finish()
}

/// The QR code as filled squares (no image needed): it carries the application id the
/// office's scanner looks up for check-in.
fn draw_qr(c: &mut Content, data: &str, x: f32, y: f32, size: f32) {
    let Ok(code) = QrCode::new(data.as_bytes()) else {
        return;
    };
    let width = code.width();
    let quiet = 4.0;
    let module = size / (width as f32 + 2.0 * quiet);
    c.set_fill_gray(0.0);
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == Color::Dark {
            let (col, row) = ((i % width) as f32, (i / width) as f32);
            c.rect(
                x + (quiet + col) * module,
                y + size - (quiet + row + 1.0) * module,
                module,
                module,
            );
        }
    }
    c.fill_nonzero();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(paid: bool) -> BillingDocument {
        BillingDocument {
            billing_code: "820260000012343".into(),
            amount_idr: 650_000,
            deadline: "25-11-2026 14:05 WIB".into(),
            applicant: "Siti Aminah".into(),
            application_id: "01JDEMO".into(),
            office: "Kantor Imigrasi Kelas I TPI Bandung".into(),
            office_address: "Jl. Surapati No. 82".into(),
            appointment: "27-11-2026 09:00 WIB".into(),
            paid_at: paid.then(|| "25-11-2026 13:00 WIB".into()),
        }
    }

    #[test]
    fn the_digest_follows_every_field() {
        let base = doc(true);
        assert_eq!(base.digest(), doc(true).digest());
        assert_eq!(base.digest().len(), 64);
        let changes: [fn(&mut BillingDocument); 9] = [
            |d| d.billing_code.push('0'),
            |d| d.amount_idr += 1,
            |d| d.deadline.push('x'),
            |d| d.applicant.push('x'),
            |d| d.application_id.push('x'),
            |d| d.office.push('x'),
            |d| d.office_address.push('x'),
            |d| d.appointment = "27-11-2026 10:00 WIB".into(),
            |d| d.paid_at = None,
        ];
        for change in changes {
            let mut other = base.clone();
            change(&mut other);
            assert_ne!(base.digest(), other.digest(), "{other:?}");
        }
        // Moving text from one field to the next is a change too.
        let mut shifted = base.clone();
        shifted.office.push_str(&shifted.office_address.clone());
        shifted.office_address.clear();
        assert_ne!(base.digest(), shifted.digest());
    }

    #[test]
    fn money() {
        assert_eq!(rupiah(650_000), "Rp650.000");
        assert_eq!(rupiah(2_650_000), "Rp2.650.000");
        assert_eq!(rupiah(950), "Rp950");
    }

    #[test]
    fn renders_pdfs() {
        for paid in [false, true] {
            let bytes = render(&doc(paid));
            assert!(bytes.starts_with(b"%PDF-"));
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                text.contains("820260000012343"),
                "the code is in the page's text"
            );
            assert_eq!(text.contains("RECEIPT"), paid);
        }
    }
}
