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
use paspor_domain::{
    Error,
    mail::Lang,
    text::{self, Text},
};
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
    /// An answer whose detail is one of the service's sentences ([`text`]).
    pub fn new(status: StatusCode, code: &'static str, text: Text) -> Self {
        Self::worded(status, code, text.id, text.en)
    }

    /// An answer whose detail carries a value (the parser's own words, say).
    pub fn worded(
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
        Self::new(StatusCode::NOT_FOUND, "not_found", text::NOT_FOUND)
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", text::UNAUTHORIZED)
    }

    pub fn invalid_body(en: String) -> Self {
        // The parser's words say where the body went wrong.
        let said = text::BODY_NOT_JSON;
        Self::worded(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            said.id,
            Cow::Owned(format!("{}: {en}", said.en.trim_end_matches('.'))),
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
            .map(|e| json!({"field": e.field, "message": e.text.get(lang)}))
            .collect(),
    )
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let code = e.code();
        match e {
            Error::Invalid(errors) => {
                let mut err = Self::new(S::BAD_REQUEST, code, text::FIELDS_INVALID);
                // Both languages are kept; the body is rendered in one of them.
                err.extra
                    .insert("errors".into(), field_errors(&errors, Lang::Id));
                err.extra
                    .insert("errors_en".into(), field_errors(&errors, Lang::En));
                err
            }
            Error::EmailTaken => Self::new(S::CONFLICT, code, text::EMAIL_TAKEN),
            Error::InvalidOtp { attempts_left } => {
                Self::new(S::BAD_REQUEST, code, text::INVALID_OTP)
                    .with("attempts_left", attempts_left)
            }
            Error::OtpExpired => Self::new(S::BAD_REQUEST, code, text::OTP_EXPIRED),
            Error::OtpLocked => Self::new(S::TOO_MANY_REQUESTS, code, text::OTP_LOCKED)
                .retry_after(paspor_domain::otp::COOLDOWN_SECS as u64),
            Error::OtpCooldown { retry_after_secs } => {
                Self::new(S::TOO_MANY_REQUESTS, code, text::OTP_COOLDOWN)
                    .retry_after(retry_after_secs)
            }
            Error::InvalidCredentials => {
                Self::new(S::UNAUTHORIZED, code, text::INVALID_CREDENTIALS)
            }
            Error::AccountUnverified => Self::new(S::FORBIDDEN, code, text::ACCOUNT_UNVERIFIED),
            Error::TooManyAttempts { retry_after_secs } => {
                Self::new(S::TOO_MANY_REQUESTS, code, text::TOO_MANY_ATTEMPTS)
                    .retry_after(retry_after_secs)
            }
            Error::Unauthorized => Self::unauthorized(),
            Error::NotFound => Self::not_found(),
            Error::InvalidNik(text) => Self::new(S::BAD_REQUEST, code, text)
                .with("errors", json!([{"field": "nik", "message": text.id}]))
                .with("errors_en", json!([{"field": "nik", "message": text.en}])),
            Error::ApplicantExists => Self::new(S::CONFLICT, code, text::APPLICANT_EXISTS),
            Error::ApplicantLimit => Self::new(S::CONFLICT, code, text::APPLICANT_LIMIT),
            Error::ActiveApplicationExists => {
                Self::new(S::CONFLICT, code, text::ACTIVE_APPLICATION_EXISTS)
            }
            Error::DocumentNotRequired => {
                Self::new(S::BAD_REQUEST, code, text::DOCUMENT_NOT_REQUIRED)
            }
            Error::UnsupportedContentType => {
                Self::new(S::BAD_REQUEST, code, text::UNSUPPORTED_CONTENT_TYPE)
            }
            Error::DocumentTooLarge => {
                Self::new(S::PAYLOAD_TOO_LARGE, code, text::DOCUMENT_TOO_LARGE)
            }
            Error::InvalidState(text) => Self::new(S::CONFLICT, code, text),
            Error::UploadMissing => Self::new(S::CONFLICT, code, text::UPLOAD_MISSING),
            Error::UploadRejected { reason } => {
                Self::new(S::UNPROCESSABLE_ENTITY, code, text::UPLOAD_REJECTED)
                    .with("reason", reason)
            }
            Error::DocumentsMissing { kinds } => {
                Self::new(S::CONFLICT, code, text::DOCUMENTS_MISSING).with("kinds", kinds)
            }
            Error::SlotFull => Self::new(S::CONFLICT, code, text::SLOT_FULL),
            Error::PlacesShort { short } => {
                Self::new(S::CONFLICT, code, text::PLACES_SHORT).with("places_short", short)
            }
            Error::PassportTypeNotOffered => {
                Self::new(S::CONFLICT, code, text::PASSPORT_TYPE_NOT_OFFERED)
            }
            Error::DateNotBookable => Self::new(S::BAD_REQUEST, code, text::DATE_NOT_BOOKABLE),
            Error::RescheduleLimit => Self::new(S::CONFLICT, code, text::RESCHEDULE_LIMIT),
            Error::CapacityBelowBooked => Self::new(S::CONFLICT, code, text::CAPACITY_BELOW_BOOKED),
            Error::InvalidSignature => Self::new(S::UNAUTHORIZED, code, text::INVALID_SIGNATURE),
            Error::UnknownBillingCode => Self::new(S::NOT_FOUND, code, text::UNKNOWN_BILLING_CODE),
            Error::AmountMismatch { expected } => {
                Self::new(S::UNPROCESSABLE_ENTITY, code, text::AMOUNT_MISMATCH)
                    .with("expected_amount_idr", expected)
            }
            Error::NotBookedToday => Self::new(S::CONFLICT, code, text::NOT_BOOKED_TODAY),
            Error::Forbidden => Self::new(S::FORBIDDEN, code, text::FORBIDDEN),
            Error::IdempotencyKeyReused => {
                Self::new(S::UNPROCESSABLE_ENTITY, code, text::IDEMPOTENCY_KEY_REUSED)
            }
            Error::IdempotencyInProgress { retry_after_secs } => {
                Self::new(S::CONFLICT, code, text::IDEMPOTENCY_IN_PROGRESS)
                    .retry_after(retry_after_secs)
            }
            Error::Conflict => Self::new(S::CONFLICT, code, text::CONFLICT),
            Error::OfMember {
                application_id,
                error,
            } => Self::from(*error).with("application_id", application_id),
            Error::RateLimited { retry_after_secs } => {
                Self::new(S::TOO_MANY_REQUESTS, code, text::RATE_LIMITED)
                    .retry_after(retry_after_secs)
            }
            Error::Busy { retry_after_secs } => {
                Self::new(S::SERVICE_UNAVAILABLE, code, text::SERVICE_BUSY)
                    .retry_after(retry_after_secs)
            }
            Error::HeldForRelease => Self::new(S::CONFLICT, code, text::HELD_FOR_RELEASE),
            Error::ReleaseStarted => Self::new(S::CONFLICT, code, text::RELEASE_STARTED),
            Error::QuotaExists => Self::new(S::CONFLICT, code, text::QUOTA_EXISTS),
            Error::EntryWindowClosed => Self::new(S::CONFLICT, code, text::ENTRY_WINDOW_CLOSED),
            Error::AlreadyEntered => Self::new(S::CONFLICT, code, text::ALREADY_ENTERED),
            Error::NotDrawn => Self::new(S::CONFLICT, code, text::NOT_DRAWN),
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
            text::INTERNAL_ERROR,
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
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::new(status, "method_not_allowed", text::METHOD_NOT_ALLOWED)
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(status, "payload_too_large", text::PAYLOAD_TOO_LARGE)
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "unsupported_media_type",
            text::UNSUPPORTED_MEDIA_TYPE,
        ),
        StatusCode::NOT_FOUND => ApiError::not_found(),
        s if s.is_server_error() => ApiError::internal(),
        s => ApiError::new(s, "invalid_request", text::REQUEST_INVALID),
    };
    let (parts, _) = response.into_parts();
    let mut fresh = problem.respond(lang);
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        fresh.headers_mut().insert(header::ALLOW, allow.clone());
    }
    fresh
}
