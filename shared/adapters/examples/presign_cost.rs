//! Measures what one S3 presigned POST costs the `uploads` function: pure local signing
//! (aws-sigv4 over the policy) with the SDK's credentials, no network call. Run with
//! `AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… cargo run -p paspor-adapters --features aws --example presign_cost`.

use std::time::Instant;

use chrono::{TimeDelta, Utc};
use paspor_adapters::aws::S3Documents;
use paspor_domain::documents::{ContentType, DocumentStore, UploadPolicy};

#[tokio::main]
async fn main() {
    let sdk = aws_config::load_from_env().await;
    // An endpoint that does not exist: a network call would fail or hang, so a fast run
    // proves there is none.
    let store = S3Documents::new(&sdk, Some("http://127.0.0.1:9"), "paspor-documents".into());
    let now = Utc::now();
    let n = 20_000;
    let start = Instant::now();
    for i in 0..n {
        let policy = UploadPolicy {
            key: format!("documents/01JBENCH/ktp/{i}"),
            content_type: ContentType::Jpeg,
            max_bytes: 150_000,
            now,
            expires_at: now + TimeDelta::minutes(15),
        };
        if let Err(e) = store.presign_upload(&policy).await {
            eprintln!("presign failed: {e}");
            std::process::exit(1);
        }
    }
    let per = start.elapsed().as_secs_f64() / f64::from(n);
    println!(
        "{n} S3 presigned POST policies: {:.1} µs each, {:.0} per second on one core",
        per * 1e6,
        1.0 / per
    );
}
