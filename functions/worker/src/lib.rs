//! The worker: runs one queued job. On Lambda it consumes SQS batches; in `paspor-local`
//! it is a task over the embedded queue. Every job is safe to run twice, because both
//! queues deliver at least once.

use paspor_domain::{
    Ports,
    jobs::Job,
    mail,
    store::{Cond, Item, Key, StoreError},
};
use serde_json::json;

#[derive(Clone)]
pub struct Worker {
    ports: Ports,
}

#[derive(Debug)]
pub enum JobError {
    /// The message is not a job this worker knows: retrying will not help.
    Malformed(String),
    /// Something failed that may work next time (the queue retries, then dead-letters).
    Retry(String),
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed job: {e}"),
            Self::Retry(e) => write!(f, "job failed: {e}"),
        }
    }
}

/// Marks a job as done, so a redelivery does nothing.
fn done_key(id: &str) -> Key {
    Key::new(format!("JOB#{id}"), "DONE")
}

impl Worker {
    pub fn new(ports: Ports) -> Self {
        Self { ports }
    }

    pub async fn handle(&self, body: &str) -> Result<(), JobError> {
        let job: Job =
            serde_json::from_str(body).map_err(|e| JobError::Malformed(e.to_string()))?;
        match job {
            Job::SendEmail {
                id,
                to,
                lang,
                message,
            } => {
                let table = &self.ports.table;
                let key = done_key(&id);
                if table.get(&key).await.map_err(retry)?.is_some() {
                    tracing::info!(job = %id, "email already sent; redelivery ignored");
                    return Ok(());
                }
                let email = mail::render(&to, lang, &message);
                self.ports
                    .mailer
                    .send(&email)
                    .await
                    .map_err(|e| JobError::Retry(e.to_string()))?;
                let ttl = self.ports.clock.now().timestamp() + 14 * 24 * 3600;
                let marker = Item::from_record(key, &json!({"ttl": ttl})).map_err(retry)?;
                match table.put(marker, Some(Cond::NotExists)).await {
                    Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
                    Err(e) => Err(retry(e)),
                }
            }
        }
    }
}

fn retry(e: StoreError) -> JobError {
    JobError::Retry(e.to_string())
}

impl std::error::Error for JobError {}
