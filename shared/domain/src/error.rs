//! The domain's one error type. Each variant has a stable machine code; the HTTP layer maps
//! it to a status and a sentence in the caller's language.

use crate::{store::StoreError, text::Text};

/// One invalid field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub text: Text,
}

impl FieldError {
    pub fn new(field: &str, text: Text) -> Self {
        Self {
            field: field.to_owned(),
            text,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error("email taken")]
    EmailTaken,
    #[error("invalid otp")]
    InvalidOtp { attempts_left: u32 },
    #[error("otp expired")]
    OtpExpired,
    #[error("otp locked")]
    OtpLocked,
    #[error("otp cooldown")]
    OtpCooldown { retry_after_secs: u64 },
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account unverified")]
    AccountUnverified,
    #[error("too many attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("unauthorized")]
    Unauthorized,
    #[error("not found")]
    NotFound,
    #[error("invalid nik")]
    InvalidNik(Text),
    #[error("applicant exists")]
    ApplicantExists,
    #[error("applicant limit")]
    ApplicantLimit,
    #[error("active application exists")]
    ActiveApplicationExists,
    #[error("document not required")]
    DocumentNotRequired,
    #[error("unsupported content type")]
    UnsupportedContentType,
    #[error("document too large")]
    DocumentTooLarge,
    #[error("invalid state")]
    InvalidState(Text),
    #[error("upload missing")]
    UploadMissing,
    #[error("upload rejected: {reason}")]
    UploadRejected { reason: &'static str },
    #[error("documents missing")]
    DocumentsMissing { kinds: Vec<&'static str> },
    #[error("slot full")]
    SlotFull,
    /// A family found too few places: `short` of them would have none; nothing was taken.
    #[error("slot full for {short} of the group")]
    PlacesShort { short: usize },
    #[error("passport type not offered")]
    PassportTypeNotOffered,
    #[error("date not bookable")]
    DateNotBookable,
    #[error("reschedule limit")]
    RescheduleLimit,
    #[error("capacity below booked")]
    CapacityBelowBooked,
    #[error("invalid signature")]
    InvalidSignature,
    #[error("unknown billing code")]
    UnknownBillingCode,
    #[error("amount mismatch")]
    AmountMismatch { expected: i64 },
    #[error("not booked today")]
    NotBookedToday,
    #[error("forbidden")]
    Forbidden,
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still running.
    #[error("idempotency key in use")]
    IdempotencyInProgress { retry_after_secs: u64 },
    /// A concurrent change won; the caller re-reads and tries again.
    #[error("conflict")]
    Conflict,
    /// A rate limit's window is spent for this client or account.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The store pushed back; the client should retry after a moment.
    #[error("busy")]
    Busy { retry_after_secs: u64 },
    /// One application of a family booking was refused: which, and why.
    #[error("application {application_id}: {error}")]
    OfMember {
        application_id: String,
        error: Box<Error>,
    },
    /// The slot's places are held for a release's draw.
    #[error("held for a release")]
    HeldForRelease,
    #[error("release started")]
    ReleaseStarted,
    #[error("quota exists")]
    QuotaExists,
    #[error("entry window closed")]
    EntryWindowClosed,
    #[error("already entered")]
    AlreadyEntered,
    #[error("not drawn")]
    NotDrawn,
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// The caller's claim on its answer is gone (another request with the same
    /// `Idempotency-Key` took it over): nothing was written, and that request answers.
    pub fn receipt_lost() -> Self {
        Self::IdempotencyInProgress {
            retry_after_secs: 1,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_request",
            Self::EmailTaken => "email_taken",
            Self::InvalidOtp { .. } => "invalid_otp",
            Self::OtpExpired => "otp_expired",
            Self::OtpLocked => "otp_locked",
            Self::OtpCooldown { .. } => "otp_cooldown",
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountUnverified => "account_unverified",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::InvalidNik(_) => "invalid_nik",
            Self::ApplicantExists => "applicant_exists",
            Self::ApplicantLimit => "applicant_limit",
            Self::ActiveApplicationExists => "active_application_exists",
            Self::DocumentNotRequired => "document_not_required",
            Self::UnsupportedContentType => "unsupported_content_type",
            Self::DocumentTooLarge => "document_too_large",
            Self::InvalidState(_) => "invalid_state",
            Self::UploadMissing => "upload_missing",
            Self::UploadRejected { .. } => "upload_rejected",
            Self::DocumentsMissing { .. } => "documents_missing",
            Self::SlotFull | Self::PlacesShort { .. } => "slot_full",
            Self::PassportTypeNotOffered => "passport_type_not_offered",
            Self::DateNotBookable => "date_not_bookable",
            Self::RescheduleLimit => "reschedule_limit",
            Self::CapacityBelowBooked => "capacity_below_booked",
            Self::InvalidSignature => "invalid_signature",
            Self::UnknownBillingCode => "unknown_billing_code",
            Self::AmountMismatch { .. } => "amount_mismatch",
            Self::NotBookedToday => "not_booked_today",
            Self::Forbidden => "forbidden",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyInProgress { .. } => "idempotency_in_progress",
            Self::Conflict => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::Busy { .. } => "service_busy",
            Self::OfMember { error, .. } => error.code(),
            Self::HeldForRelease => "held_for_release",
            Self::ReleaseStarted => "release_started",
            Self::QuotaExists => "quota_exists",
            Self::EntryWindowClosed => "entry_window_closed",
            Self::AlreadyEntered => "already_entered",
            Self::NotDrawn => "not_drawn",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn invalid(field: &str, text: Text) -> Self {
        Self::Invalid(vec![FieldError::new(field, text)])
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Busy(_) => Self::Busy {
                retry_after_secs: 1,
            },
            other => Self::Internal(other.to_string()),
        }
    }
}
