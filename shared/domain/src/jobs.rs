//! Work that may happen a moment later, carried by a queue (SQS on AWS, a durable table
//! locally) to the worker.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::mail::Lang;

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
    /// Storage holds a new object (the local upload target says so; on AWS, S3's own
    /// object-created event arrives instead): check it as `complete` would.
    ObjectStored { key: String },
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

#[derive(Debug, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(pub String);

#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError>;
}
