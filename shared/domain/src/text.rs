//! Every sentence the service answers a request with, in Indonesian and in English, in
//! one place. (Emails, whose sentences carry the application's values, are `mail.rs`.)

use crate::lang::Lang;

/// One sentence in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub id: &'static str,
    pub en: &'static str,
}

impl Text {
    pub const fn new(id: &'static str, en: &'static str) -> Self {
        Self { id, en }
    }

    pub fn get(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Id => self.id,
            Lang::En => self.en,
        }
    }
}

// ------------------------------------------------------------------ identifiers

pub const OFFICE_ID_FORM: Text = Text::new(
    "ID kantor: 1–64 huruf, angka, tanda hubung atau garis bawah.",
    "An office id is 1–64 letters, digits, hyphens or underscores.",
);
pub const SLOT_TIME_FORM: Text = Text::new(
    "Jam harus berformat HH:00, misalnya 08:00.",
    "The time must be HH:00, e.g. 08:00.",
);
pub const BILLING_CODE_FORM: Text = Text::new(
    "Kode billing terdiri dari 15 digit.",
    "A billing code has 15 digits.",
);
pub const EMAIL_INVALID: Text = Text::new(
    "Alamat email tidak valid.",
    "The email address is not valid.",
);

pub const NIK_NOT_SIXTEEN_DIGITS: Text =
    Text::new("NIK harus 16 digit angka.", "The NIK must be 16 digits.");
pub const NIK_PROVINCE: Text = Text::new(
    "Kode provinsi pada NIK tidak dikenal.",
    "The NIK's province code is unknown.",
);
pub const NIK_BIRTH_DATE: Text = Text::new(
    "Tanggal lahir pada NIK tidak sesuai dengan tanggal lahir dan jenis kelamin.",
    "The NIK's date part does not match the birth date and sex.",
);
pub const NIK_SERIAL: Text = Text::new(
    "Nomor urut NIK tidak boleh 0000.",
    "The NIK's serial must not be 0000.",
);

// ------------------------------------------------------------------ the request

pub const BODY_NOT_JSON: Text = Text::new(
    "Isi permintaan bukan JSON yang sah.",
    "The request body is not valid JSON.",
);

// ------------------------------------------------------------------ quota and booking

pub const CAPACITY_RANGE: Text = Text::new(
    "Kapasitas 0 sampai 10000.",
    "A capacity is from 0 to 10000.",
);
pub const AVAILABILITY_RANGE: Text = Text::new(
    "Rentang tanggal paling lama 31 hari, dan `to` tidak sebelum `from`.",
    "The range is at most 31 days, and `to` is not before `from`.",
);
pub const GROUP_SIZE: Text = Text::new(
    "Pilih 2 sampai 5 permohonan yang berbeda.",
    "Choose 2 to 5 different applications.",
);
pub const PLACES_SHORT: Text = Text::new(
    "Kuota jam ini tidak cukup untuk seluruh keluarga; tidak ada yang dipesan. Pilih jam atau hari lain.",
    "This hour has too few places for the whole family; nothing was booked. Choose another hour or day.",
);
pub const NO_SUCH_OFFICE: Text = Text::new(
    "Kantor imigrasi tidak ditemukan.",
    "No such immigration office.",
);

// ------------------------------------------------------------------ the rest, by where they are said

pub const HEADERS_TOO_LARGE: Text = Text::new(
    "Header permintaan terlalu besar.",
    "The request headers are too large.",
);
pub const UNSUPPORTED_MEDIA_TYPE: Text = Text::new(
    "Kirim isi permintaan sebagai application/json.",
    "Send the request body as application/json.",
);
pub const PAYLOAD_TOO_LARGE: Text = Text::new(
    "Isi permintaan terlalu besar.",
    "The request body is too large.",
);
pub const FIELDS_INVALID: Text =
    Text::new("Ada isian yang tidak valid.", "Some fields are not valid.");
pub const NOT_FOUND: Text = Text::new("Tidak ditemukan.", "Not found.");
pub const UNAUTHORIZED: Text = Text::new(
    "Silakan masuk terlebih dahulu; token tidak ada, kedaluwarsa, atau tidak sah.",
    "Please sign in: the token is missing, expired or invalid.",
);
pub const EMAIL_TAKEN: Text = Text::new(
    "Email ini sudah terdaftar. Silakan masuk atau atur ulang kata sandi.",
    "This email is already registered. Sign in or reset the password.",
);
pub const INVALID_OTP: Text = Text::new("Kode OTP salah.", "The OTP code is wrong.");
pub const OTP_EXPIRED: Text = Text::new(
    "Kode OTP sudah kedaluwarsa atau sudah dipakai. Minta kode baru.",
    "The OTP code has expired or was used. Request a new one.",
);
pub const OTP_LOCKED: Text = Text::new(
    "Terlalu banyak kode salah. Minta kode baru.",
    "Too many wrong codes. Request a new code.",
);
pub const OTP_COOLDOWN: Text = Text::new(
    "Kode baru baru saja dikirim. Tunggu sebentar sebelum meminta lagi.",
    "A code was sent recently. Wait before asking again.",
);
pub const INVALID_CREDENTIALS: Text = Text::new(
    "Email atau kata sandi salah.",
    "The email or password is wrong.",
);
pub const ACCOUNT_UNVERIFIED: Text = Text::new(
    "Akun belum diverifikasi. Masukkan kode OTP dari email Anda.",
    "The account is not verified yet. Enter the OTP code from your email.",
);
pub const TOO_MANY_ATTEMPTS: Text = Text::new(
    "Terlalu banyak percobaan masuk yang gagal. Coba lagi nanti.",
    "Too many failed sign-ins. Try again later.",
);
pub const APPLICANT_EXISTS: Text = Text::new(
    "Pemohon dengan NIK ini sudah ada di akun Anda.",
    "An applicant with this NIK is already on your account.",
);
pub const APPLICANT_LIMIT: Text = Text::new(
    "Satu akun paling banyak memiliki 5 pemohon.",
    "An account holds at most 5 applicants.",
);
pub const ACTIVE_APPLICATION_EXISTS: Text = Text::new(
    "NIK ini sudah memiliki permohonan yang sedang berjalan.",
    "This NIK already has an application in progress.",
);
pub const DOCUMENT_NOT_REQUIRED: Text = Text::new(
    "Dokumen ini tidak diperlukan untuk permohonan ini.",
    "This document is not required for this application.",
);
pub const UNSUPPORTED_CONTENT_TYPE: Text = Text::new(
    "Unggah berkas JPEG, PNG, atau PDF.",
    "Upload a JPEG, PNG or PDF file.",
);
pub const DOCUMENT_TOO_LARGE: Text =
    Text::new("Berkas paling besar 2 MiB.", "A file may be at most 2 MiB.");
pub const UPLOAD_MISSING: Text = Text::new(
    "Berkas belum diterima penyimpanan. Unggah dulu, lalu coba lagi.",
    "Storage has not received the file yet. Upload it, then try again.",
);
pub const UPLOAD_REJECTED: Text = Text::new(
    "Berkas ditolak: isinya tidak sesuai jenisnya atau ukurannya tidak sah. Unggah ulang.",
    "The file was refused: its content does not match its type, or its size is wrong. Upload it again.",
);
pub const DOCUMENTS_MISSING: Text = Text::new(
    "Masih ada dokumen yang belum diunggah.",
    "Some documents have not been uploaded yet.",
);
pub const SLOT_FULL: Text = Text::new(
    "Kuota jam ini sudah penuh. Pilih jam atau hari lain.",
    "This hour is fully booked. Choose another hour or day.",
);
pub const PASSPORT_TYPE_NOT_OFFERED: Text = Text::new(
    "Kantor ini tidak melayani jenis paspor tersebut. Pilih kantor lain.",
    "This office does not issue that passport type. Choose another office.",
);
pub const DATE_NOT_BOOKABLE: Text = Text::new(
    "Tanggal ini tidak dapat dipesan: pilih mulai besok, pada hari yang kuotanya sudah dibuka.",
    "This date cannot be booked: choose from tomorrow, on a day whose quota is open.",
);
pub const RESCHEDULE_LIMIT: Text = Text::new(
    "Jadwal hanya dapat diubah satu kali.",
    "A booking can be rescheduled only once.",
);
pub const CAPACITY_BELOW_BOOKED: Text = Text::new(
    "Kapasitas tidak boleh di bawah jumlah yang sudah dipesan.",
    "A capacity cannot go below what is already booked.",
);
pub const INVALID_SIGNATURE: Text = Text::new(
    "Tanda tangan notifikasi tidak sah atau waktunya di luar 300 detik.",
    "The notification's signature is invalid, or its timestamp is more than 300 s away.",
);
pub const UNKNOWN_BILLING_CODE: Text =
    Text::new("Kode billing tidak dikenal.", "Unknown billing code.");
pub const AMOUNT_MISMATCH: Text = Text::new(
    "Jumlah pembayaran tidak sesuai tagihan.",
    "The amount paid does not match the billing.",
);
pub const NOT_BOOKED_TODAY: Text = Text::new(
    "Jadwal permohonan ini bukan hari ini di kantor ini.",
    "This application is not booked for today at this office.",
);
pub const FORBIDDEN: Text = Text::new(
    "Anda tidak berwenang untuk tindakan ini.",
    "You are not allowed to do this.",
);
pub const IDEMPOTENCY_KEY_REUSED: Text = Text::new(
    "Idempotency-Key ini sudah dipakai untuk permintaan lain.",
    "This Idempotency-Key was used for a different request.",
);
pub const IDEMPOTENCY_IN_PROGRESS: Text = Text::new(
    "Permintaan pertama dengan Idempotency-Key ini masih diproses. Tunggu sebentar, lalu kirim ulang untuk mendapat jawabannya.",
    "The first request with this Idempotency-Key is still being processed. Wait a moment, then send it again for its answer.",
);
pub const CONFLICT: Text = Text::new(
    "Data berubah saat diproses. Coba lagi.",
    "The data changed meanwhile. Try again.",
);
pub const RATE_LIMITED: Text = Text::new(
    "Terlalu banyak permintaan dari Anda. Tunggu sebentar, lalu coba lagi.",
    "Too many requests from you. Wait a moment, then try again.",
);
pub const SERVICE_BUSY: Text = Text::new(
    "Layanan sedang sibuk. Coba lagi sebentar lagi.",
    "The service is busy. Try again in a moment.",
);
pub const INTERNAL_ERROR: Text = Text::new(
    "Terjadi kesalahan pada server. Coba lagi.",
    "Something went wrong on our side. Please try again.",
);
pub const METHOD_NOT_ALLOWED: Text = Text::new(
    "Metode HTTP ini tidak didukung untuk alamat ini.",
    "This HTTP method is not supported here.",
);
pub const REQUEST_INVALID: Text = Text::new("Permintaan tidak valid.", "The request is not valid.");
pub const IDEMPOTENCY_KEY_FORM: Text = Text::new(
    "Idempotency-Key harus 1–255 karakter.",
    "The Idempotency-Key must be 1–255 characters.",
);
pub const BOOK_NEEDS_SUBMITTED: Text = Text::new(
    "Pemesanan hanya untuk permohonan yang sudah diajukan dan belum memiliki jadwal.",
    "Only a submitted application without a booking can be booked.",
);
pub const RESCHEDULE_NEEDS_PAID: Text = Text::new(
    "Jadwal hanya dapat diubah setelah dibayar.",
    "Only a paid booking can be rescheduled.",
);
pub const RESCHEDULE_TOO_LATE: Text = Text::new(
    "Jadwal hanya dapat diubah paling lambat sehari sebelum hari kedatangan.",
    "A booking can be rescheduled at the latest the day before it.",
);
pub const SAME_SLOT: Text = Text::new("Itu jadwal yang sama.", "That is the same slot.");
pub const CANCEL_NEEDS_NOT_CHECKED_IN: Text = Text::new(
    "Hanya pemesanan yang belum check-in yang dapat dibatalkan.",
    "Only a booking not yet checked in can be cancelled.",
);
pub const TRANSACTION_ID_FORM: Text = Text::new(
    "transaction_id: 1–128 karakter tampak.",
    "transaction_id: 1–128 visible characters.",
);
pub const REASON_REQUIRED: Text = Text::new(
    "Alasan wajib diisi, paling panjang 500 karakter.",
    "A reason is required, at most 500 characters.",
);
pub const DELIVERY_ADDRESS_REQUIRED: Text = Text::new(
    "Alamat pengiriman wajib diisi untuk pengiriman pos.",
    "An address is required for delivery by post.",
);
pub const NO_BOOKING: Text = Text::new(
    "Permohonan ini tidak memiliki jadwal.",
    "This application has no booking.",
);
pub const CHECK_IN_NEEDS_PAID: Text = Text::new(
    "Hanya permohonan yang sudah dibayar yang dapat check-in.",
    "Only a paid application can check in.",
);
pub const DECISION_NEEDS_CHECK_IN: Text = Text::new(
    "Keputusan hanya setelah check-in.",
    "A decision comes only after check-in.",
);
pub const DATE_OUT_OF_RANGE: Text = Text::new(
    "Tanggal di luar rentang layanan (1900-01-01 sampai 2199-12-31).",
    "The date is outside the service's range (1900-01-01 to 2199-12-31).",
);
pub const PHONE_FORM: Text = Text::new(
    "Nomor ponsel harus nomor Indonesia, diawali +62 atau 08.",
    "The phone must be an Indonesian mobile number starting with +62 or 08.",
);
pub const PASSWORD_TOO_SHORT: Text = Text::new(
    "Kata sandi minimal 8 karakter.",
    "The password must have at least 8 characters.",
);
pub const PASSWORD_TOO_LONG: Text = Text::new(
    "Kata sandi maksimal 128 karakter.",
    "The password must have at most 128 characters.",
);
pub const PASSWORD_IS_EMAIL: Text = Text::new(
    "Kata sandi tidak boleh sama dengan email.",
    "The password must not be the email address.",
);
pub const NAME_REQUIRED: Text = Text::new(
    "Nama wajib diisi, paling panjang 100 karakter.",
    "The name is required, at most 100 characters.",
);
pub const OTP_CODE_FORM: Text = Text::new("Kode harus 6 digit.", "The code must be 6 digits.");
pub const BIRTH_DATE_IN_FUTURE: Text = Text::new(
    "Tanggal lahir tidak boleh di masa depan.",
    "The birth date cannot be in the future.",
);
pub const COUNTRY_CODE_FORM: Text = Text::new(
    "Negara tujuan harus kode ISO 3166-1 alpha-2, misalnya JP.",
    "The destination must be an ISO 3166-1 alpha-2 code, e.g. JP.",
);
pub const NO_SUCH_APPLICANT: Text = Text::new(
    "Pemohon tidak ditemukan pada akun ini.",
    "No such applicant on this account.",
);
pub const FILE_EMPTY: Text = Text::new(
    "Ukuran berkas harus lebih dari 0 byte.",
    "The file size must be more than 0 bytes.",
);
pub const UPLOAD_NEEDS_DRAFT: Text = Text::new(
    "Dokumen hanya dapat diunggah selama permohonan masih draf.",
    "Documents can only be uploaded to a draft.",
);
pub const SUBMIT_NEEDS_DRAFT: Text = Text::new(
    "Hanya permohonan draf yang dapat diajukan.",
    "Only a draft can be submitted.",
);
pub const COORDINATE_INVALID: Text =
    Text::new("Koordinat tidak valid.", "The coordinate is not valid.");
pub const LAT_LON_TOGETHER: Text = Text::new(
    "Kirim lat dan lon bersama-sama.",
    "Send lat and lon together.",
);
pub const OFFICES_LIMIT_RANGE: Text =
    Text::new("limit harus 1 sampai 200.", "limit must be 1 to 200.");
pub const DATE_FORM: Text = Text::new(
    "Tanggal harus berformat YYYY-MM-DD.",
    "The date must be YYYY-MM-DD.",
);
pub const COORDINATES_INVALID: Text =
    Text::new("Koordinat tidak valid.", "The coordinates are not valid.");
pub const OFFICE_NAME_AND_TYPES_REQUIRED: Text = Text::new(
    "Nama dan jenis paspor wajib diisi.",
    "A name and at least one passport type are required.",
);
pub const QUOTA_RANGE: Text = Text::new(
    "Rentang paling lama 366 hari, dan `to` tidak sebelum `from`.",
    "The range is at most 366 days, and `to` is not before `from`.",
);
pub const QUOTA_SLOTS_FORM: Text = Text::new(
    "Slot berformat \"HH:00\": kapasitas 0 sampai 10000.",
    "Slots are \"HH:00\": capacity from 0 to 10000.",
);
pub const DATE_REQUIRED: Text = Text::new(
    "Tanggal wajib, berformat YYYY-MM-DD.",
    "A date is required, as YYYY-MM-DD.",
);
pub const BODY_INVALID: Text = Text::new(
    "Badan permintaan tidak valid.",
    "The request body is not valid.",
);
pub const BODY_NOT_OBJECT: Text = Text::new(
    "Badan permintaan harus objek JSON.",
    "The request body must be a JSON object.",
);
pub const PAGE_LIMIT_RANGE: Text = Text::new("limit 1 sampai 1000.", "limit is 1 to 1000.");
pub const PAGE_AFTER_FORM: Text = Text::new(
    "after harus nilai next dari halaman sebelumnya.",
    "after must be the previous page's next.",
);
pub const FILE_SIZE_FORM: Text = Text::new(
    "Ukuran berkas harus bilangan bulat (byte).",
    "The file size must be a whole number of bytes.",
);
pub const NOTIFICATION_BODY_INVALID: Text = Text::new(
    "Isi notifikasi tidak valid.",
    "The notification body is not valid.",
);
pub const CLOCK_FORWARD_ONLY: Text = Text::new(
    "Jam hanya bisa dimajukan, paling jauh sekitar 100 tahun.",
    "The clock only moves forward, at most about 100 years.",
);

// ------------------------------------------------------------------ the local upload form (S3's stand-in)

pub const UPLOAD_FORM_MALFORMED: Text = Text::new(
    "Formulir unggahan tidak sah.",
    "The upload form is malformed.",
);
pub const UPLOAD_FORM_EXPIRED: Text = Text::new(
    "Formulir unggahan sudah kedaluwarsa. Minta yang baru.",
    "The upload form has expired. Request a new one.",
);
pub const UPLOAD_FORM_SIGNATURE: Text = Text::new(
    "Tanda tangan formulir unggahan tidak sah.",
    "The upload form's signature is invalid.",
);
pub const DOWNLOAD_LINK_EXPIRED: Text = Text::new(
    "Tautan unduhan sudah kedaluwarsa. Buka lagi dari alamat aslinya.",
    "The download link has expired. Open it again from its original address.",
);
pub const DOWNLOAD_LINK_SIGNATURE: Text = Text::new(
    "Tanda tangan tautan unduhan tidak sah.",
    "The download link's signature is invalid.",
);
pub const UPLOAD_FORM_POLICY: Text = Text::new(
    "Isian formulir tidak sesuai kebijakannya.",
    "The form's fields do not match its policy.",
);
pub const FILE_LARGER_THAN_DECLARED: Text = Text::new(
    "Berkas lebih besar dari yang dinyatakan.",
    "The file is larger than declared.",
);
pub const FILE_IS_EMPTY: Text = Text::new("Berkas kosong.", "The file is empty.");

// ------------------------------------------------------------------ fair release

pub const HELD_FOR_RELEASE: Text = Text::new(
    "Kuota jam ini dibagikan lewat undian, bukan siapa cepat: daftar undiannya.",
    "This hour's places are given out by a draw, not first-come: enter the draw.",
);
pub const RELEASE_STARTED: Text = Text::new(
    "Rilis kuota ini sudah dibuka untuk pendaftaran dan tidak dapat diubah lagi.",
    "This release's entry window has opened; it can no longer be changed.",
);
pub const QUOTA_EXISTS: Text = Text::new(
    "Salah satu jam rilis ini sudah memiliki kuota.",
    "One of this release's hours already has quota.",
);
pub const ENTRY_WINDOW_CLOSED: Text = Text::new(
    "Pendaftaran undian tidak sedang dibuka.",
    "The draw's entry window is not open.",
);
pub const ALREADY_ENTERED: Text = Text::new(
    "Permohonan ini sudah terdaftar pada undian lain yang belum diundi.",
    "This application is already in another release's draw, not drawn yet.",
);
pub const NOT_DRAWN: Text = Text::new(
    "Undian ini belum dilaksanakan.",
    "This release has not been drawn yet.",
);
pub const RELEASE_TIMES: Text = Text::new(
    "Waktu harus berurutan: pendaftaran dibuka < ditutup <= undian.",
    "The times must be in order: entry opens < closes <= draw.",
);
pub const RELEASE_AFTER_DRAW: Text = Text::new(
    "Hari pertama rilis harus setelah hari undian.",
    "The release's first day must come after the day of the draw.",
);
pub const RELEASE_OFFICES: Text = Text::new(
    "Sebutkan 1–50 kantor yang berbeda.",
    "Name 1–50 distinct offices.",
);
pub const RELEASE_PAYMENT_HOURS: Text =
    Text::new("Batas bayar 1–168 jam.", "Payment hours are 1–168.");
pub const RELEASE_TOO_BIG: Text = Text::new(
    "Rilis terlalu besar: paling banyak 100.000 jam kuota.",
    "The release is too big: at most 100,000 slots.",
);
pub const ENTRY_APPLICATIONS: Text = Text::new(
    "Sebutkan 1–5 permohonan yang berbeda.",
    "Name 1–5 distinct applications.",
);
pub const ENTRY_CHOICES: Text = Text::new(
    "Pilih 1–5 jam berbeda dari rilis ini.",
    "Choose 1–5 distinct hours of this release.",
);
pub const ENTRY_NEEDS_UNBOOKED: Text = Text::new(
    "Hanya permohonan yang sudah diajukan dan belum memesan jadwal yang dapat ikut undian.",
    "Only submitted applications without a booking can enter a draw.",
);
pub const IN_A_DRAW: Text = Text::new(
    "Permohonan ini sedang ikut undian: tunggu hasilnya.",
    "This application is in a draw: wait for its result.",
);
