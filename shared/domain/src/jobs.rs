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
        /// Told by a draw: a million at once go on a queue of their own, so no sign-up's
        /// code waits behind them, nor a draw's batch.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        from_draw: bool,
    },
    /// Storage holds a new object (the local upload target says so; on AWS, S3's own
    /// object-created event arrives instead): check it as `complete` would.
    ObjectStored { key: String },
    /// A share of a draw's outcomes, applied by the worker; the draw fans out in these.
    ApplyDraw(crate::releases::DrawBatch),
}

/// Which queue carries a job. A draw of a million entries queues 10,000 batches and then
/// 1.2 million emails: each on a queue of its own, with its own pace and alarms, so neither
/// waits behind the other nor delays a sign-up's code. Where there is one queue (locally),
/// all are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueName {
    Jobs,
    Draw,
    DrawMail,
}

impl Job {
    pub fn queue(&self) -> QueueName {
        match self {
            Self::ApplyDraw(_) => QueueName::Draw,
            Self::Notify {
                from_draw: true, ..
            } => QueueName::DrawMail,
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
