//! The domain's one error type. Each variant has a stable machine code; the HTTP layer maps
//! it to a status and a sentence in the caller's language.

use crate::store::StoreError;

/// One invalid field, with a sentence in Indonesian and in English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub id: &'static str,
    pub en: &'static str,
}

impl FieldError {
    pub fn new(field: &str, id: &'static str, en: &'static str) -> Self {
        Self {
            field: field.to_owned(),
            id,
            en,
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
    /// The store pushed back; the client should retry after a moment.
    #[error("busy")]
    Busy { retry_after_secs: u64 },
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
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
            Self::Busy { .. } => "service_busy",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn invalid(field: &str, id: &'static str, en: &'static str) -> Self {
        Self::Invalid(vec![FieldError::new(field, id, en)])
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
