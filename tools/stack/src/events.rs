//! The asynchronous wiring, as AWS does it: an SQS event source mapping per queue the
//! worker consumes (batch size and `ReportBatchItemFailures` from the template; a failed
//! message stays for redelivery and the queue's redrive policy moves it to its dead-letter
//! queue after `maxReceiveCount`), the bucket's `s3:ObjectCreated:*` notifications, and an
//! EventBridge schedule.

use std::{sync::Arc, time::Duration};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};

use crate::{
    runtime::Instance,
    template::{ACCOUNT, REGION},
};

pub struct Mapping {
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: usize,
    pub report_failures: bool,
    /// How soon a failed message is visible again. AWS waits the queue's visibility
    /// timeout (minutes); the stack shortens it so a test sees the redelivery.
    pub redelivery: Duration,
}

/// Polls one queue for ever, invoking `function` with each batch.
pub async fn poll(sqs: aws_sdk_sqs::Client, mapping: Mapping, function: Arc<Instance>) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&mapping.queue_url)
            .max_number_of_messages(mapping.batch_size.clamp(1, 10) as i32)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                eprintln!(
                    "paspor-stack: receive from {}: {}",
                    mapping.queue_url,
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                    .collect();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": mapping.queue_arn,
                    "awsRegion": REGION,
                })
            })
            .collect();
        let event = json!({ "Records": records });
        let failed: Vec<String> = match function.invoke(event.to_string().into_bytes()).await {
            Ok(answer) if mapping.report_failures => {
                let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
                match answer.get("batchItemFailures").and_then(Value::as_array) {
                    Some(list) => list
                        .iter()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                        .collect(),
                    // An answer Lambda cannot read fails the whole batch.
                    None if answer.is_null() => all_ids(&messages),
                    None => vec![],
                }
            }
            Ok(_) => vec![],
            Err(failure) => {
                eprintln!("paspor-stack: {} failed a batch: {failure}", function.name);
                all_ids(&messages)
            }
        };
        for m in &messages {
            let (Some(id), Some(handle)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            let outcome = if failed.iter().any(|f| f == id) {
                sqs.change_message_visibility()
                    .queue_url(&mapping.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(mapping.redelivery.as_secs() as i32)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            } else {
                sqs.delete_message()
                    .queue_url(&mapping.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
            };
            if let Err(e) = outcome {
                eprintln!("paspor-stack: settle message {id}: {e}");
            }
        }
    }
}

fn all_ids(messages: &[aws_sdk_sqs::types::Message]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m.message_id().map(str::to_owned))
        .collect()
}

/// The message S3 sends a queue for a new object.
pub fn object_created(bucket: &str, key: &str, size: u64, etag: &str) -> Value {
    let now = chrono::Utc::now();
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:STACK"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": ulid::Ulid::new().to_string()},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "stack",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": ACCOUNT}, "arn": format!("arn:aws:s3:::{bucket}")},
            // S3 URL-encodes the key in events (a space is '+').
            "object": {"key": s3_event_key(key), "size": size, "eTag": etag.trim_matches('"'),
                       "sequencer": format!("{:016X}", now.timestamp_nanos_opt().unwrap_or(0))},
        },
    }]})
}

fn s3_event_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b' ' => "+".to_owned(),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Invokes `function` every `every` with the event EventBridge Scheduler sends.
pub async fn schedule(function: Arc<Instance>, every: Duration, schedule_arn: String) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let event = json!({
            "version": "0",
            "id": ulid::Ulid::new().to_string(),
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "account": ACCOUNT,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": REGION,
            "resources": [schedule_arn],
            "detail": {},
        });
        if let Err(failure) = function.invoke(event.to_string().into_bytes()).await {
            eprintln!(
                "paspor-stack: scheduled {} failed: {failure}",
                function.name
            );
        }
    }
}

/// The queue attributes an event source mapping needs to name the queue.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{url} has no QueueArn"))
}
