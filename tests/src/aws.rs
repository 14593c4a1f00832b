//! The AWS backend against the local stand-ins that `scripts/test` starts: DynamoDB Local
//! for the table, moto for SQS and SES. Each fixture gets its own table and queue.

use std::sync::Arc;

use paspor_adapters::{
    aws::{AwsSettings, DynamoTable, S3Documents, ports_with_clock},
    embedded::OffsetClock,
};
use paspor_domain::jobs::Job;

use crate::fixture::Fixture;

fn endpoint(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: the AWS conformance tests need the stand-ins that scripts/test starts")
    })
}

/// The SDK's timeouts against the stand-ins: the production connect timeout, ten times the
/// production wait for each attempt.
fn standin_timeouts() -> aws_config::timeout::TimeoutConfig {
    use paspor_adapters::aws::{ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, MAX_ATTEMPTS, MAX_BACKOFF};
    let attempt = ATTEMPT_TIMEOUT * 10;
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt)
        .operation_timeout(attempt * MAX_ATTEMPTS + MAX_BACKOFF * (MAX_ATTEMPTS - 1))
        .build()
}

/// A fresh table and queue on the stand-ins. The guard keeps the clock's file.
pub async fn fixture() -> (Fixture, tempfile::TempDir) {
    let dynamodb = endpoint("PASPOR_TEST_DYNAMODB_ENDPOINT");
    let sqs = endpoint("PASPOR_TEST_SQS_ENDPOINT");
    let ses = endpoint("PASPOR_TEST_SES_ENDPOINT");
    let s3 = endpoint("PASPOR_TEST_S3_ENDPOINT");
    // The Lambda functions' retries, with a longer wait for each attempt: DynamoDB Local on
    // two shared cores is not DynamoDB, and one of 120 transactions in flight at once can take
    // longer than the second a function gives an attempt (the rush tests failed on that, not
    // on a wrong answer). The budget itself is tested in `paspor_lambda::budget` and on the
    // stack, which runs the functions with the production timeouts.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(paspor_adapters::aws::retry_config())
        .timeout_config(standin_timeouts())
        .load()
        .await;
    let run = ulid::Ulid::new().to_string().to_lowercase();

    let sqs_client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .endpoint_url(&sqs)
            .build(),
    );
    let mut urls = Vec::new();
    for name in ["jobs", "draw", "draw-mail"] {
        urls.push(
            sqs_client
                .create_queue()
                .queue_name(format!("paspor-{name}-{run}"))
                .send()
                .await
                .expect("create queue")
                .queue_url
                .expect("queue url"),
        );
    }
    let (queue_url, draw_queue_url, draw_mail_queue_url) =
        (urls[0].clone(), urls[1].clone(), urls[2].clone());

    let mail_from = "no-reply@paspor.test".to_owned();
    let ses_client = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&sdk)
            .endpoint_url(&ses)
            .build(),
    );
    ses_client
        .create_email_identity()
        .email_identity(&mail_from)
        .send()
        .await
        .expect("verify SES identity");

    let settings = AwsSettings {
        table: format!("paspor-{run}"),
        jobs_queue_url: queue_url,
        draw_queue_url: Some(draw_queue_url),
        draw_mail_queue_url: Some(draw_mail_queue_url),
        mail_from,
        documents_bucket: format!("paspor-docs-{run}"),
        dynamodb_endpoint: Some(dynamodb.clone()),
        sqs_endpoint: Some(sqs),
        ses_endpoint: Some(ses.clone()),
        s3_endpoint: Some(s3.clone()),
    };
    S3Documents::new(&sdk, Some(&s3), settings.documents_bucket.clone())
        .create_bucket()
        .await
        .expect("create bucket");
    DynamoTable::new(&sdk, Some(&dynamodb), settings.table.clone())
        .create()
        .await
        .expect("create table");

    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(OffsetClock::open(dir.path().join("clock")).expect("clock"));
    let ports = ports_with_clock(&sdk, &settings, clock.clone());

    let drain_client = sqs_client.clone();
    let fixture = Fixture {
        name: "aws",
        ports,
        clock,
        drain_jobs: Arc::new(move || {
            let (client, urls) = (drain_client.clone(), urls.clone());
            Box::pin(async move {
                let mut jobs: Vec<Job> = Vec::new();
                // The jobs, the draw's batches, its emails: every queue the worker consumes.
                for url in &urls {
                    loop {
                        let out = client
                            .receive_message()
                            .queue_url(url)
                            .max_number_of_messages(10)
                            .send()
                            .await
                            .expect("receive");
                        let messages = out.messages.unwrap_or_default();
                        if messages.is_empty() {
                            break;
                        }
                        for m in messages {
                            jobs.push(
                                serde_json::from_str(m.body().unwrap_or_default())
                                    .expect("job json"),
                            );
                            client
                                .delete_message()
                                .queue_url(url)
                                .receipt_handle(m.receipt_handle().unwrap_or_default())
                                .send()
                                .await
                                .expect("delete");
                        }
                    }
                }
                jobs
            })
        }),
        sent_mail: Arc::new(move || {
            let ses = ses.clone();
            Box::pin(async move { moto_sent_mail(&ses).await })
        }),
        submit_form: Arc::new(|form, bytes| Box::pin(crate::fixture::post_form(form, bytes))),
    };
    (fixture, dir)
}

/// The emails moto's SES has accepted, from its inspection endpoint.
async fn moto_sent_mail(endpoint: &str) -> Vec<(String, String, String)> {
    let data: serde_json::Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
        .await
        .expect("moto data")
        .json()
        .await
        .expect("moto json");
    let mut out = Vec::new();
    let sent = data
        .pointer("/ses/Message")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    for m in sent {
        let to = m
            .pointer("/destinations/ToAddresses/0")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let subject = m
            .get("subject")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let body = m
            .get("body")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        out.push((to, subject, body));
    }
    out
}
