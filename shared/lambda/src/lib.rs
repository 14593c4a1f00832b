//! Runs Paspor on AWS Lambda: an HTTP function serves its router through `lambda_http`; the
//! worker consumes SQS batches and reports partial failures, so one bad message is retried
//! (and finally dead-lettered) alone.
//!
//! Every HTTP function goes through [`Edge`]: the stage taken off the path, API Gateway's
//! request id on every log line, the caller and address API Gateway saw, the request's
//! deadline ([`budget`]), and the state rebuilt when the secrets change ([`Refreshing`]).

pub mod budget;
mod refresh;

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_http::{RequestExt, request::RequestContext, tower::ServiceExt};
use lambda_runtime::{LambdaEvent, service_fn};
use paspor_domain::{Ports, Secrets};
use paspor_http::{AppState, Routes, Settings, telemetry};
use tracing::Instrument;

pub use refresh::{Refreshing, SECRETS_REFRESH, SecretsSource};

pub type Error = lambda_http::Error;

/// Ports and secrets for this cold start.
pub async fn from_env() -> Result<(Ports, Secrets), Error> {
    let (ports, secrets, _) = from_env_refreshable().await?;
    Ok((ports, secrets))
}

/// [`from_env`], with the source to read the secrets again from.
pub async fn from_env_refreshable() -> Result<(Ports, Secrets, SecretsSource), Error> {
    telemetry::init(true);
    let (ports, secrets, ssm) = paspor_adapters::aws::from_env_with_source()
        .await
        .map_err(Error::from)?;
    let source: SecretsSource = Arc::new(move || {
        let ssm = ssm.clone();
        Box::pin(async move { ssm.load().await })
    });
    Ok((ports, secrets, source))
}

/// Serves one function's routes on Lambda behind API Gateway (HTTP API).
pub async fn run_http(routes: Routes) -> Result<(), Error> {
    let (ports, secrets, source) = from_env_refreshable().await?;
    let edge = Edge::new(
        routes,
        ports,
        secrets,
        Settings::from_env(),
        source,
        SECRETS_REFRESH,
    );
    lambda_http::run(lambda_http::service_fn(move |request| {
        let edge = edge.clone();
        async move { Ok::<_, Infallible>(edge.serve(request).await) }
    }))
    .await
}

/// What [`run_http`] serves: a function's router over a state that follows the secrets,
/// behind what API Gateway's events need.
#[derive(Clone)]
pub struct Edge {
    app: Arc<Refreshing<axum::Router>>,
}

impl Edge {
    /// The router as `paspor_http::app` builds it (the same as `paspor-local`'s), rebuilt
    /// over a fresh state when a refresh (every `refresh_every`) finds other secrets.
    pub fn new(
        routes: Routes,
        ports: Ports,
        secrets: Secrets,
        settings: Settings,
        source: SecretsSource,
        refresh_every: Duration,
    ) -> Self {
        let build = move |secrets: &Secrets| {
            paspor_http::app(
                routes.clone(),
                AppState::new(ports.clone(), secrets, settings.clone()),
            )
        };
        Self {
            app: Arc::new(Refreshing::new(secrets, source, refresh_every, build)),
        }
    }

    /// Answers one request as lambda_http hands it over.
    pub async fn serve(&self, request: lambda_http::Request) -> axum::response::Response {
        // The id API Gateway logs as `$context.requestId`, so one request can be followed
        // from its access log into the function's.
        let request_id = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
            _ => None,
        };
        let span =
            tracing::info_span!("request", request_id = request_id.as_deref().unwrap_or("-"));
        async move {
            let mut request = paspor_apigw::at_stage_root(request);
            let due = budget::deadline(&request);
            request.extensions_mut().insert(paspor_http::Deadline(due));
            with_caller(&mut request);
            let app = self.app.get().await;
            match app.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
        .instrument(span)
        .await
    }
}

/// Passes on the caller API Gateway authenticated with IAM (only the `/v1/ops/` routes use
/// the IAM authorizer, so only they ever carry one), and the client's address.
fn with_caller(request: &mut lambda_http::Request) {
    let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else {
        return;
    };
    let arn = ctx
        .authorizer
        .as_ref()
        .and_then(|a| a.iam.as_ref())
        .and_then(|iam| iam.user_arn.clone());
    // The address API Gateway saw, for the per-address rate limits.
    let source_ip = ctx.http.source_ip.clone();
    if let Some(arn) = arn {
        request.extensions_mut().insert(paspor_http::IamCaller(arn));
    }
    if let Some(ip) = source_ip {
        request.extensions_mut().insert(paspor_http::ClientIp(ip));
    }
}

/// Consumes SQS batches: `handle` gets each message body; a failed message is reported
/// back to SQS alone ([`batch`]).
pub async fn run_sqs<F, Fut>(handle: F) -> Result<(), Error>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let handle = &handle;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(batch(event.payload, handle).await)
    }))
    .await
}

/// Runs one SQS batch through `handle`, message by message, and answers the ids of the
/// messages that failed: SQS deletes the rest and delivers only those again (the event
/// source mapping reports batch item failures), so one bad message never repeats the others.
pub async fn batch<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut failures = Vec::new();
    for record in event.records {
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
    response
}

/// Runs `job` on every scheduled invocation (EventBridge), with the same state the HTTP
/// functions build, following the secrets as they do.
pub async fn run_scheduled<F, Fut>(job: F) -> Result<(), Error>
where
    F: Fn(AppState) -> Fut,
    Fut: Future<Output = Result<String, paspor_domain::Error>>,
{
    let (ports, secrets, source) = from_env_refreshable().await?;
    let settings = Settings::from_env();
    let state = Refreshing::new(secrets, source, SECRETS_REFRESH, move |s: &Secrets| {
        AppState::new(ports.clone(), s, settings.clone())
    });
    let (job, state) = (&job, &state);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let summary = job(state.get().await)
                .await
                .map_err(|e| Error::from(e.to_string()))?;
            tracing::info!(%summary, "scheduled run");
            Ok::<_, Error>(serde_json::json!({ "summary": summary }))
        },
    ))
    .await
}
