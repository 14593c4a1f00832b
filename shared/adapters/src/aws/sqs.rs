//! The job queue on SQS: one message per job; the worker Lambda consumes it with partial
//! batch failures, and a dead-letter queue catches what keeps failing. The draw's batches
//! have a queue of their own.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use paspor_domain::jobs::{Job, JobQueue, QueueError, QueueName};

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
    /// Where the jobs of another queue go; a queue not named here is the jobs queue.
    others: Vec<(QueueName, String)>,
}

impl SqsQueue {
    pub fn new(
        sdk: &aws_config::SdkConfig,
        endpoint: Option<&str>,
        url: String,
        others: impl IntoIterator<Item = (QueueName, Option<String>)>,
    ) -> Self {
        let mut conf = aws_sdk_sqs::config::Builder::from(sdk);
        if let Some(e) = endpoint {
            conf = conf.endpoint_url(e);
        }
        Self {
            client: Client::from_conf(conf.build()),
            url,
            others: others
                .into_iter()
                .filter_map(|(name, url)| Some((name, url?)))
                .collect(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[async_trait]
impl JobQueue for SqsQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError(e.to_string()))?;
        let name = job.queue();
        let url = self
            .others
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&self.url, |(_, url)| url);
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                QueueError(format!(
                    "SendMessage: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ))
            })?;
        Ok(())
    }
}
