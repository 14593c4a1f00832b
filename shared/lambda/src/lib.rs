//! Runs Paspor on AWS Lambda: an HTTP function serves its router through `lambda_http`; the
//! worker consumes SQS batches and reports partial failures, so one bad message is retried
//! (and finally dead-lettered) alone.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use paspor_domain::{Ports, Secrets};
use paspor_http::{AppState, Routes, Settings, telemetry};

pub type Error = lambda_http::Error;

/// Ports and secrets for this cold start.
pub async fn from_env() -> Result<(Ports, Secrets), Error> {
    telemetry::init(true);
    paspor_adapters::aws::from_env().await.map_err(Error::from)
}

/// Serves one function's routes on Lambda behind API Gateway (HTTP API).
pub async fn run_http(routes: Routes) -> Result<(), Error> {
    let (ports, secrets) = from_env().await?;
    let app = paspor_http::app(routes, AppState::new(ports, &secrets, Settings::from_env()));
    lambda_http::run(app.layer(axum::middleware::from_fn(iam_caller))).await
}

/// Consumes SQS batches: `handle` gets each message body; a failed message is reported
/// back to SQS alone.
pub async fn run_sqs<F, Fut>(handle: F) -> Result<(), Error>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let handle = &handle;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let mut failures = Vec::new();
        for record in event.payload.records {
            let id = record.message_id.clone().unwrap_or_default();
            let outcome = handle(record.body.unwrap_or_default()).await;
            if let Err(error) = outcome {
                tracing::warn!(message_id = %id, %error, "job failed; SQS will redeliver it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failures.push(failure);
            }
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures;
        Ok::<_, Error>(response)
    }))
    .await
}

/// Runs `job` on every scheduled invocation (EventBridge), with the same state the HTTP
/// functions build.
pub async fn run_scheduled<F, Fut>(job: F) -> Result<(), Error>
where
    F: Fn(AppState) -> Fut,
    Fut: Future<Output = Result<String, paspor_domain::Error>>,
{
    let (ports, secrets) = from_env().await?;
    let state = AppState::new(ports, &secrets, Settings::from_env());
    let (job, state) = (&job, &state);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let summary = job(state.clone())
                .await
                .map_err(|e| Error::from(e.to_string()))?;
            tracing::info!(%summary, "scheduled run");
            Ok::<_, Error>(serde_json::json!({ "summary": summary }))
        },
    ))
    .await
}

/// Passes on the caller API Gateway authenticated with IAM (only the `/v1/ops/` routes use
/// the IAM authorizer, so only they ever carry one), and the client's address.
async fn iam_caller(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use lambda_http::RequestExt;
    let arn = request
        .request_context_ref()
        .and_then(|ctx| ctx.authorizer())
        .and_then(|a| a.iam.as_ref())
        .and_then(|iam| iam.user_arn.clone());
    if let Some(arn) = arn {
        request.extensions_mut().insert(paspor_http::IamCaller(arn));
    }
    // The address API Gateway saw, for the per-address rate limits.
    let source_ip = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    };
    if let Some(ip) = source_ip {
        request.extensions_mut().insert(paspor_http::ClientIp(ip));
    }
    next.run(request).await
}
