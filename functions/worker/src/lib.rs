//! The worker: runs one queued job. On Lambda it consumes SQS batches; in `paspor-local`
//! it is a task over the embedded queue. Every job is safe to run twice, because both
//! queues deliver at least once.

use std::sync::Arc;

use paspor_domain::{
    Ports, Secrets, Services, ServicesConfig,
    accounts::Accounts,
    applications::Applications,
    jobs::Job,
    mail,
    releases::Releases,
    store::{Cond, StoreError},
};
use serde_json::Value;

#[derive(Clone)]
pub struct Worker {
    ports: Ports,
    applications: Arc<Applications>,
    accounts: Arc<Accounts>,
    releases: Arc<Releases>,
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

impl std::error::Error for JobError {}

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(e.to_string())
}

/// S3 event keys are URL-encoded, spaces as `+`.
fn s3_key(raw: &str) -> String {
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

impl Worker {
    /// The worker over [`Services::new`], as the HTTP state is built: no job reads a
    /// configured knob, so the defaults serve.
    pub fn new(ports: Ports, secrets: &Secrets) -> Self {
        let services = Services::new(ports, secrets, ServicesConfig::default());
        Self {
            applications: services.applications,
            accounts: services.accounts,
            releases: services.releases,
            ports: services.ports,
        }
    }

    /// Runs one message: a job of ours, or S3's own object-created notification.
    pub async fn handle(&self, body: &str) -> Result<(), JobError> {
        let value: Value =
            serde_json::from_str(body).map_err(|e| JobError::Malformed(e.to_string()))?;
        if let Some(records) = value.get("Records").and_then(Value::as_array) {
            for record in records {
                if let Some(key) = record.pointer("/s3/object/key").and_then(Value::as_str) {
                    self.object_stored(&s3_key(key)).await?;
                }
            }
            return Ok(());
        }
        if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
            return Ok(());
        }
        let job: Job =
            serde_json::from_value(value).map_err(|e| JobError::Malformed(e.to_string()))?;
        match job {
            Job::ObjectStored { key } => self.object_stored(&key).await,
            // A failed batch comes back (SQS), then dead-letters; the draw queues it again
            // if it stays missing.
            Job::ApplyDraw(batch) => self.releases.apply_batch(&batch).await.map_err(retry),
            Job::SendEmail {
                id,
                to,
                lang,
                message,
            } => self.send_once(&id, mail::render(&to, lang, &message)).await,
            Job::Notify {
                id,
                account_id,
                notice,
                ..
            } => {
                let Some((to, name)) = self.accounts.contact(&account_id).await.map_err(retry)?
                else {
                    return Ok(());
                };
                self.send_once(&id, mail::render_notice(&to, &name, &notice))
                    .await
            }
        }
    }

    /// Sends an email unless this job already did (queues deliver at least once).
    async fn send_once(&self, id: &str, email: mail::Email) -> Result<(), JobError> {
        let table = &self.ports.table;
        let now = self.ports.clock.now().timestamp();
        let marker = paspor_domain::repo::jobs::done(id, now).map_err(retry)?;
        if table.get(&marker.key).await.map_err(retry)?.is_some() {
            tracing::info!(job = %id, "email already sent; redelivery ignored");
            return Ok(());
        }
        self.ports.mailer.send(&email).await.map_err(retry)?;
        match table.put(marker, Some(Cond::NotExists)).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(retry(e)),
        }
    }

    async fn object_stored(&self, key: &str) -> Result<(), JobError> {
        self.applications.object_stored(key).await.map_err(retry)
    }
}
