//! The ports on AWS: DynamoDB (the table), SQS (the job queue), SES (email) and SSM
//! Parameter Store (secrets). Clients are built once per cold start.

mod dynamodb;
mod s3;
mod secrets;
mod ses;
mod sqs;

use std::{sync::Arc, time::Duration};

use aws_credential_types::provider::SharedCredentialsProvider;

pub use dynamodb::DynamoTable;
pub use s3::S3Documents;
pub use secrets::{SsmSecrets, load_secrets, load_secrets_from};
pub use ses::SesMailer;
pub use sqs::SqsQueue;

use paspor_domain::{
    Ports,
    clock::{Clock, SystemClock},
    jobs::QueueName,
};

/// Where each resource is, read from the environment the SAM template sets.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub table: String,
    pub jobs_queue_url: String,
    /// The draw's batches (`QueueName::Draw`) and its emails (`QueueName::DrawMail`);
    /// `None`: they go with the other jobs.
    pub draw_queue_url: Option<String>,
    pub draw_mail_queue_url: Option<String>,
    pub mail_from: String,
    pub documents_bucket: String,
    /// Endpoint overrides for the local stand-ins (DynamoDB Local, moto); `None` on AWS.
    pub dynamodb_endpoint: Option<String>,
    pub sqs_endpoint: Option<String>,
    pub ses_endpoint: Option<String>,
    pub s3_endpoint: Option<String>,
}

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
}

impl AwsSettings {
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            table: var("PASPOR_TABLE")?,
            jobs_queue_url: var("PASPOR_JOBS_QUEUE_URL")?,
            draw_queue_url: std::env::var("PASPOR_DRAW_QUEUE_URL").ok(),
            draw_mail_queue_url: std::env::var("PASPOR_DRAW_MAIL_QUEUE_URL").ok(),
            mail_from: var("PASPOR_MAIL_FROM")?,
            documents_bucket: var("PASPOR_DOCUMENTS_BUCKET")?,
            dynamodb_endpoint: std::env::var("PASPOR_DYNAMODB_ENDPOINT").ok(),
            sqs_endpoint: std::env::var("PASPOR_SQS_ENDPOINT").ok(),
            ses_endpoint: std::env::var("PASPOR_SES_ENDPOINT").ok(),
            s3_endpoint: std::env::var("PASPOR_S3_ENDPOINT").ok(),
        })
    }
}

/// Builds every port from one SDK configuration, on the wall clock.
pub fn ports_with(sdk: &aws_config::SdkConfig, settings: &AwsSettings) -> Ports {
    ports_with_clock(sdk, settings, Arc::new(SystemClock))
}

/// [`ports_with`] on another clock (a test's), which the table's expiry reads too.
pub fn ports_with_clock(
    sdk: &aws_config::SdkConfig,
    settings: &AwsSettings,
    clock: Arc<dyn Clock>,
) -> Ports {
    let sdk = sdk.clone();
    Ports {
        table: Arc::new(
            DynamoTable::new(
                &sdk,
                settings.dynamodb_endpoint.as_deref(),
                settings.table.clone(),
            )
            .with_clock(clock.clone()),
        ),
        queue: Arc::new(SqsQueue::new(
            &sdk,
            settings.sqs_endpoint.as_deref(),
            settings.jobs_queue_url.clone(),
            [
                (QueueName::Draw, settings.draw_queue_url.clone()),
                (QueueName::DrawMail, settings.draw_mail_queue_url.clone()),
            ],
        )),
        mailer: Arc::new(SesMailer::new(
            &sdk,
            settings.ses_endpoint.as_deref(),
            settings.mail_from.clone(),
        )),
        documents: Arc::new(S3Documents::new(
            &sdk,
            settings.s3_endpoint.as_deref(),
            settings.documents_bucket.clone(),
        )),
        clock,
    }
}

/// Longest wait for a TCP connection to an AWS endpoint (in-region: normally a millisecond).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest one attempt of an SDK call may take, connection and TLS included. DynamoDB, SQS,
/// SSM and SES answer in milliseconds to tens of milliseconds; an attempt taking a second
/// is lost, and a second attempt on another connection usually is not.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts of one SDK call (the standard strategy's default is 3). Few: the domain's own
/// retry loop (`paspor_domain::booking::retrying`) runs above these.
pub const MAX_ATTEMPTS: u32 = 2;
/// First and largest pause between two attempts (jittered below it).
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(25);
pub const MAX_BACKOFF: Duration = Duration::from_millis(100);
/// Longest one SDK call may take, every attempt and pause included:
/// `MAX_ATTEMPTS × ATTEMPT_TIMEOUT + (MAX_ATTEMPTS − 1) × MAX_BACKOFF` = 2.1 s.
pub const OPERATION_TIMEOUT: Duration = ATTEMPT_TIMEOUT
    .saturating_mul(MAX_ATTEMPTS)
    .saturating_add(MAX_BACKOFF.saturating_mul(MAX_ATTEMPTS - 1));

/// The SDK's retries: [`MAX_ATTEMPTS`] attempts, pauses of at most [`MAX_BACKOFF`].
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// The SDK's timeouts: connect, each attempt, the whole call.
pub fn timeout_config() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The SDK configuration on Lambda, built directly rather than by `aws_config::load`: the
/// region and the function role's credentials are in the environment Lambda sets, so the
/// default chain (profile files, SSO, STS web identity, IMDS) is dead weight -- about a
/// megabyte of binary and file reads at every cold start. One HTTPS client (rustls on
/// ring, which is smaller than aws-lc) is shared by every SDK client. Every call is bounded
/// by the timeouts and attempts above (the request's whole budget is in `paspor_lambda`).
pub fn lambda_sdk_config() -> Result<aws_config::SdkConfig, String> {
    use aws_config::{
        BehaviorVersion, Region, environment::EnvironmentVariableCredentialsProvider,
    };
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let region = var("AWS_REGION")?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    Ok(aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(http)
        .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().ok_or("no async sleep")?)
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .build())
}

/// Everything a Lambda function needs, read once per cold start: the ports from the
/// environment and the secrets from SSM (`PASPOR_SSM_PREFIX`; `PASPOR_SSM_ENDPOINT`
/// points at a stand-in).
pub async fn from_env() -> Result<(Ports, paspor_domain::Secrets), String> {
    let (ports, secrets, _) = from_env_with_source().await?;
    Ok((ports, secrets))
}

/// [`from_env`], with where the secrets came from, to read them again (a rotation).
pub async fn from_env_with_source() -> Result<(Ports, paspor_domain::Secrets, SsmSecrets), String> {
    let settings = AwsSettings::from_env()?;
    let sdk = lambda_sdk_config()?;
    let prefix = var("PASPOR_SSM_PREFIX")?;
    let ssm_endpoint = std::env::var("PASPOR_SSM_ENDPOINT").ok();
    let source = SsmSecrets::new(&sdk, ssm_endpoint.as_deref(), &prefix);
    let secrets = source.load().await?;
    Ok((ports_with(&sdk, &settings), secrets, source))
}
