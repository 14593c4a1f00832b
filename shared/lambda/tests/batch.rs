//! The worker's SQS batches: a failed message is reported alone, by its id, in the answer
//! SQS reads (`batchItemFailures`), so only it is delivered again.

use std::sync::Mutex;

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::{Value, json};

/// A batch as SQS hands it to the function: (message id, body) per record.
fn event(messages: &[(&str, &str)]) -> SqsEvent {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:ap-southeast-3:123456789012:paspor-jobs",
                "awsRegion": "ap-southeast-3"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
}

/// Runs a batch with a handler that fails the bodies saying "fail"; answers the response
/// as SQS reads it and the bodies handled, in order.
async fn run(messages: &[(&str, &str)]) -> (Value, Vec<String>) {
    let seen = Mutex::new(Vec::new());
    let response = paspor_lambda::batch(event(messages), |body: String| {
        seen.lock().expect("lock").push(body.clone());
        async move {
            if body == "fail" {
                Err("no such job".to_owned())
            } else {
                Ok(())
            }
        }
    })
    .await;
    let wire = serde_json::to_value(&response).expect("json");
    (wire, seen.into_inner().expect("lock"))
}

#[tokio::test]
async fn only_the_failed_message_is_reported() {
    let (wire, seen) = run(&[("m-1", "first"), ("m-2", "fail"), ("m-3", "third")]).await;
    assert_eq!(
        wire["batchItemFailures"],
        json!([{ "itemIdentifier": "m-2" }]),
        "{wire}"
    );
    // The failure stopped nothing: the message after it was handled too.
    assert_eq!(seen, ["first", "fail", "third"]);
}

#[tokio::test]
async fn a_good_batch_reports_no_failure() {
    let (wire, seen) = run(&[("m-1", "first"), ("m-2", "second"), ("m-3", "third")]).await;
    assert_eq!(wire["batchItemFailures"], json!([]), "{wire}");
    assert_eq!(seen.len(), 3);
}
