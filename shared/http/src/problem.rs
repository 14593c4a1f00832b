//! RFC 9457 problem details with a stable `code`, and `detail` in the caller's language.
//!
//! A handler answers an [`ApiError`]; [`render_problems`] writes its body in the language
//! the request asked for, and turns any other error answer (an unknown route, a wrong
//! method, a body over the limit) into a problem too, so no client ever sees a bare error.

use std::borrow::Cow;

use axum::{
    extract::Request,
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use paspor_domain::{Error, mail::Lang};
use serde_json::{Map, Value, json};

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub id: Cow<'static, str>,
    pub en: Cow<'static, str>,
    /// Members beyond the standard ones (`errors`, `attempts_left`, …).
    pub extra: Map<String, Value>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        id: impl Into<Cow<'static, str>>,
        en: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            id: id.into(),
            en: en.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Tidak ditemukan.",
            "Not found.",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Silakan masuk terlebih dahulu; token tidak ada, kedaluwarsa, atau tidak sah.",
            "Please sign in: the token is missing, expired or invalid.",
        )
    }

    pub fn invalid_body(en: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Isi permintaan bukan JSON yang sah.",
            Cow::Owned(format!("The request body is not valid JSON: {en}")),
        )
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    pub fn body(&self, lang: Lang) -> Value {
        let detail = match lang {
            Lang::Id => &self.id,
            Lang::En => &self.en,
        };
        let mut body = json!({
            "type": format!("https://paspor.go.id/problems/{}", self.code.replace('_', "-")),
            "title": self.title(),
            "status": self.status.as_u16(),
            "detail": detail,
            "code": self.code,
        });
        if let Value::Object(map) = &mut body {
            for (k, v) in &self.extra {
                match (k.as_str(), lang, self.extra.get("errors_en")) {
                    ("errors_en", _, _) => {}
                    ("errors", Lang::En, Some(en)) => {
                        map.insert(k.clone(), en.clone());
                    }
                    _ => {
                        map.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        body
    }

    fn respond(&self, lang: Lang) -> Response {
        let mut response = (
            self.status,
            serde_json::to_vec(&self.body(lang)).unwrap_or_default(),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(match lang {
                Lang::Id => "id",
                Lang::En => "en",
            }),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Rendered in the default language; `render_problems` re-renders it if the
        // request asked for another.
        let mut response = self.respond(Lang::Id);
        response.extensions_mut().insert(self);
        response
    }
}

fn field_errors(errors: &[paspor_domain::FieldError], lang: Lang) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| json!({"field": e.field, "message": match lang { Lang::Id => e.id, Lang::En => e.en }}))
            .collect(),
    )
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let code = e.code();
        match e {
            Error::Invalid(errors) => {
                let mut err = Self::new(
                    S::BAD_REQUEST,
                    code,
                    "Ada isian yang tidak valid.",
                    "Some fields are not valid.",
                );
                // Both languages are kept; the body is rendered in one of them.
                err.extra
                    .insert("errors".into(), field_errors(&errors, Lang::Id));
                err.extra
                    .insert("errors_en".into(), field_errors(&errors, Lang::En));
                err
            }
            Error::EmailTaken => Self::new(
                S::CONFLICT,
                code,
                "Email ini sudah terdaftar. Silakan masuk atau atur ulang kata sandi.",
                "This email is already registered. Sign in or reset the password.",
            ),
            Error::InvalidOtp { attempts_left } => Self::new(
                S::BAD_REQUEST,
                code,
                "Kode OTP salah.",
                "The OTP code is wrong.",
            )
            .with("attempts_left", attempts_left),
            Error::OtpExpired => Self::new(
                S::BAD_REQUEST,
                code,
                "Kode OTP sudah kedaluwarsa atau sudah dipakai. Minta kode baru.",
                "The OTP code has expired or was used. Request a new one.",
            ),
            Error::OtpLocked => Self::new(
                S::TOO_MANY_REQUESTS,
                code,
                "Terlalu banyak kode salah. Minta kode baru.",
                "Too many wrong codes. Request a new code.",
            )
            .retry_after(paspor_domain::otp::COOLDOWN_SECS as u64),
            Error::OtpCooldown { retry_after_secs } => Self::new(
                S::TOO_MANY_REQUESTS,
                code,
                "Kode baru baru saja dikirim. Tunggu sebentar sebelum meminta lagi.",
                "A code was sent recently. Wait before asking again.",
            )
            .retry_after(retry_after_secs),
            Error::InvalidCredentials => Self::new(
                S::UNAUTHORIZED,
                code,
                "Email atau kata sandi salah.",
                "The email or password is wrong.",
            ),
            Error::AccountUnverified => Self::new(
                S::FORBIDDEN,
                code,
                "Akun belum diverifikasi. Masukkan kode OTP dari email Anda.",
                "The account is not verified yet. Enter the OTP code from your email.",
            ),
            Error::TooManyAttempts { retry_after_secs } => Self::new(
                S::TOO_MANY_REQUESTS,
                code,
                "Terlalu banyak percobaan masuk yang gagal. Coba lagi nanti.",
                "Too many failed sign-ins. Try again later.",
            )
            .retry_after(retry_after_secs),
            Error::Unauthorized => Self::unauthorized(),
            Error::NotFound => Self::not_found(),
            Error::InvalidNik { id, en } => Self::new(S::BAD_REQUEST, code, id, en)
                .with("errors", json!([{"field": "nik", "message": id}]))
                .with("errors_en", json!([{"field": "nik", "message": en}])),
            Error::ApplicantExists => Self::new(S::CONFLICT, code, "Pemohon dengan NIK ini sudah ada di akun Anda.", "An applicant with this NIK is already on your account."),
            Error::ApplicantLimit => Self::new(S::CONFLICT, code, "Satu akun paling banyak memiliki 5 pemohon.", "An account holds at most 5 applicants."),
            Error::ActiveApplicationExists => Self::new(S::CONFLICT, code, "NIK ini sudah memiliki permohonan yang sedang berjalan.", "This NIK already has an application in progress."),
            Error::DocumentNotRequired => Self::new(S::BAD_REQUEST, code, "Dokumen ini tidak diperlukan untuk permohonan ini.", "This document is not required for this application."),
            Error::UnsupportedContentType => Self::new(S::BAD_REQUEST, code, "Unggah berkas JPEG, PNG, atau PDF.", "Upload a JPEG, PNG or PDF file."),
            Error::DocumentTooLarge => Self::new(S::PAYLOAD_TOO_LARGE, code, "Berkas paling besar 2 MiB.", "A file may be at most 2 MiB."),
            Error::InvalidState { id, en } => Self::new(S::CONFLICT, code, id, en),
            Error::UploadMissing => Self::new(S::CONFLICT, code, "Berkas belum diterima penyimpanan. Unggah dulu, lalu coba lagi.", "Storage has not received the file yet. Upload it, then try again."),
            Error::UploadRejected { reason } => Self::new(S::UNPROCESSABLE_ENTITY, code, "Berkas ditolak: isinya tidak sesuai jenisnya atau ukurannya tidak sah. Unggah ulang.", "The file was refused: its content does not match its type, or its size is wrong. Upload it again.").with("reason", reason),
            Error::DocumentsMissing { kinds } => Self::new(S::CONFLICT, code, "Masih ada dokumen yang belum diunggah.", "Some documents have not been uploaded yet.").with("kinds", kinds),
            Error::SlotFull => Self::new(S::CONFLICT, code, "Kuota jam ini sudah penuh. Pilih jam atau hari lain.", "This hour is fully booked. Choose another hour or day."),
            Error::PassportTypeNotOffered => Self::new(S::CONFLICT, code, "Kantor ini tidak melayani jenis paspor tersebut. Pilih kantor lain.", "This office does not issue that passport type. Choose another office."),
            Error::DateNotBookable => Self::new(S::BAD_REQUEST, code, "Tanggal ini tidak dapat dipesan: pilih mulai besok, pada hari yang kuotanya sudah dibuka.", "This date cannot be booked: choose from tomorrow, on a day whose quota is open."),
            Error::RescheduleLimit => Self::new(S::CONFLICT, code, "Jadwal hanya dapat diubah satu kali.", "A booking can be rescheduled only once."),
            Error::CapacityBelowBooked => Self::new(S::CONFLICT, code, "Kapasitas tidak boleh di bawah jumlah yang sudah dipesan.", "A capacity cannot go below what is already booked."),
            Error::InvalidSignature => Self::new(S::UNAUTHORIZED, code, "Tanda tangan notifikasi tidak sah atau waktunya di luar 300 detik.", "The notification's signature is invalid, or its timestamp is more than 300 s away."),
            Error::UnknownBillingCode => Self::new(S::NOT_FOUND, code, "Kode billing tidak dikenal.", "Unknown billing code."),
            Error::AmountMismatch { expected } => Self::new(S::UNPROCESSABLE_ENTITY, code, "Jumlah pembayaran tidak sesuai tagihan.", "The amount paid does not match the billing.").with("expected_amount_idr", expected),
            Error::NotBookedToday => Self::new(S::CONFLICT, code, "Jadwal permohonan ini bukan hari ini di kantor ini.", "This application is not booked for today at this office."),
            Error::Forbidden => Self::new(S::FORBIDDEN, code, "Anda tidak berwenang untuk tindakan ini.", "You are not allowed to do this."),
            Error::IdempotencyKeyReused => Self::new(S::UNPROCESSABLE_ENTITY, code, "Idempotency-Key ini sudah dipakai untuk permintaan lain.", "This Idempotency-Key was used for a different request."),
            Error::IdempotencyInProgress { retry_after_secs } => Self::new(S::CONFLICT, code, "Permintaan pertama dengan Idempotency-Key ini masih diproses. Tunggu sebentar, lalu kirim ulang untuk mendapat jawabannya.", "The first request with this Idempotency-Key is still being processed. Wait a moment, then send it again for its answer.").retry_after(retry_after_secs),
            Error::Conflict => Self::new(S::CONFLICT, code, "Data berubah saat diproses. Coba lagi.", "The data changed meanwhile. Try again."),
            Error::RateLimited { retry_after_secs } => Self::new(
                S::TOO_MANY_REQUESTS,
                code,
                "Terlalu banyak permintaan dari Anda. Tunggu sebentar, lalu coba lagi.",
                "Too many requests from you. Wait a moment, then try again.",
            )
            .retry_after(retry_after_secs),
            Error::Busy { retry_after_secs } => Self::new(
                S::SERVICE_UNAVAILABLE,
                code,
                "Layanan sedang sibuk. Coba lagi sebentar lagi.",
                "The service is busy. Try again in a moment.",
            )
            .retry_after(retry_after_secs),
            Error::Internal(detail) => {
                // Logged with its chain; the client learns nothing of the internals.
                tracing::error!(error = %detail, "internal error");
                Self::internal()
            }
        }
    }
}

impl ApiError {
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Terjadi kesalahan pada server. Coba lagi.",
            "Something went wrong on our side. Please try again.",
        )
    }
}

/// Renders every error answer as problem+json in the request's language.
pub async fn render_problems(request: Request, next: Next) -> Response {
    let lang = crate::lang::from_headers(request.headers());
    let response = next.run(request).await;
    if let Some(problem) = response.extensions().get::<ApiError>().cloned() {
        return problem.respond(lang);
    }
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // An error answered by the framework itself (wrong method, body too large, …).
    let problem = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            "Metode HTTP ini tidak didukung untuk alamat ini.",
            "This HTTP method is not supported here.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "payload_too_large",
            "Isi permintaan terlalu besar.",
            "The request body is too large.",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "unsupported_media_type",
            "Kirim isi permintaan sebagai application/json.",
            "Send the request body as application/json.",
        ),
        StatusCode::NOT_FOUND => ApiError::not_found(),
        s if s.is_server_error() => ApiError::internal(),
        s => ApiError::new(
            s,
            "invalid_request",
            "Permintaan tidak valid.",
            "The request is not valid.",
        ),
    };
    let (parts, _) = response.into_parts();
    let mut fresh = problem.respond(lang);
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        fresh.headers_mut().insert(header::ALLOW, allow.clone());
    }
    fresh
}
