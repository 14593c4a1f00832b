//! Work that may happen a moment later, carried by a queue (SQS on AWS, a durable table
//! locally) to the worker.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::lang::Lang;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// An email; `id` makes a redelivered job send it once.
    SendEmail {
        id: String,
        to: String,
        lang: Lang,
        message: Message,
    },
    /// Tells an account's holder what happened to an application, by email.
    Notify {
        id: String,
        account_id: String,
        notice: Notice,
        /// Told by a draw: a million at once go on the draw's queue, so no sign-up's code
        /// waits behind them.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        from_draw: bool,
    },
    /// Storage holds a new object (the local upload target says so; on AWS, S3's own
    /// object-created event arrives instead): check it as `complete` would.
    ObjectStored { key: String },
    /// A share of a draw's outcomes, applied by the worker; the draw fans out in these.
    ApplyDraw(crate::releases::DrawBatch),
}

/// Which queue carries a job. The draw's batches go apart from the mail, so a draw of a
/// million entries neither waits behind nor delays a sign-up's code, and has its own limits
/// and alarms; where there is one queue (locally), both are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueName {
    Jobs,
    Draw,
}

impl Job {
    pub fn queue(&self) -> QueueName {
        match self {
            Self::ApplyDraw(_)
            | Self::Notify {
                from_draw: true, ..
            } => QueueName::Draw,
            _ => QueueName::Jobs,
        }
    }
}

/// What an email says; the worker renders it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum Message {
    Otp {
        code: String,
        purpose: crate::otp::Purpose,
        full_name: String,
        valid_minutes: u32,
    },
}

/// What happened to an application, with what the email needs to say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notice {
    BookingMade {
        application_id: String,
        billing_code: String,
        amount_idr: i64,
        deadline: String,
        appointment: String,
    },
    PaymentReceived {
        application_id: String,
        billing_code: String,
        appointment: Option<String>,
    },
    Expired {
        application_id: String,
        billing_code: String,
    },
    Rescheduled {
        application_id: String,
        appointment: String,
    },
    Cancelled {
        application_id: String,
    },
    /// An entry in a release's draw, made or changed.
    Entered {
        release_id: String,
        entry_id: String,
        draw_at: String,
    },
    /// What the draw gave an entry (a win's billings follow, one email each).
    Drawn {
        release_id: String,
        position: usize,
        appointment: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(pub String);

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError>;
}
