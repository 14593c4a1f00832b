//! The deployed shape of Paspor, run on this machine with no AWS account.
//!
//! `infra/template.yaml` is the one source: the functions, their environment and roles,
//! the HTTP API's routes, the queues and their event source mappings, the schedule. Each
//! function's binary runs under an emulated Lambda Runtime API ([`runtime`]), behind an
//! emulated HTTP API ([`apigw`]), on the AWS stand-ins ([`standins`]), and every AWS request
//! it makes is checked against its role ([`proxy`], [`iam`]).

pub mod apigw;
pub mod events;
pub mod iam;
pub mod proxy;
pub mod resources;
pub mod runtime;
pub mod s3cors;
pub mod seed;
pub mod sigv4;
pub mod standins;
pub mod template;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use rand::RngCore as _;

use crate::template::{ACCOUNT, REGION, Template};

/// The stack's command line: the same as `paspor-local`'s where they overlap.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "paspor-stack",
    about = "The Paspor stack as deployed, on this machine"
)]
pub struct Config {
    /// Where the HTTP API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// The table, the documents, the outbox and the logs live here.
    #[arg(long, default_value = ".paspor-stack")]
    pub data_dir: PathBuf,
    /// Seed data ("demo": the real offices and 30 days of quota, through the operators'
    /// routes, signed).
    #[arg(long)]
    pub seed: Option<String>,
    /// The SAM template.
    #[arg(long, default_value = "infra/template.yaml")]
    pub template: PathBuf,
    /// Where the functions' binaries are (`cargo build --bins`).
    #[arg(long, default_value = "target/debug")]
    pub bin_dir: PathBuf,
    /// A template parameter (`Name=Value`), as `sam deploy --parameter-overrides`.
    #[arg(long = "parameter", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String)>,
    /// An extra variable for every function (`NAME=VALUE`), as set in the Lambda console:
    /// e.g. `RUST_LOG=debug`. The template's own environment is what the tests run on.
    #[arg(long = "function-env", value_parser = parse_parameter)]
    pub function_env: Vec<(String, String)>,
    /// The payment channels' webhook secrets (comma separated), stored as the
    /// webhook-secrets parameter.
    #[arg(long, env = "PASPOR_WEBHOOK_SECRET")]
    pub webhook_secret: Option<String>,
    /// How long a booking may stay unpaid, for every function (the template says 7200).
    #[arg(long, env = "PASPOR_PAYMENT_TTL_SECS")]
    pub payment_ttl_secs: Option<u64>,
    /// How often the scheduled functions run (the template's rate otherwise).
    #[arg(long, env = "PASPOR_SWEEP_SECS")]
    pub sweep_secs: Option<u64>,
    /// How soon a failed SQS message is delivered again (AWS: the visibility timeout).
    #[arg(long, env = "PASPOR_STACK_REDELIVERY_SECS", default_value_t = 2)]
    pub redelivery_secs: u64,
}

fn parse_parameter(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s}: expected Name=Value"))
}

/// The operators' IAM user, whose credentials the stack hands out.
pub const OPERATOR_ARN: &str = "arn:aws:iam::123456789012:user/paspor-operator";

#[derive(serde::Serialize, serde::Deserialize)]
struct OpsCredentials {
    access_key_id: String,
    secret_access_key: String,
    region: String,
}

fn secret() -> String {
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The operators' credentials under the data directory, made at the first start.
fn ops_credentials(data_dir: &Path) -> Result<OpsCredentials> {
    let path = data_dir.join("ops-credentials.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return serde_json::from_str(&text).context("ops-credentials.json");
    }
    let creds = OpsCredentials {
        access_key_id: "AKIAOPERATOR00000001".into(),
        secret_access_key: secret(),
        region: REGION.into(),
    };
    std::fs::write(&path, serde_json::to_string_pretty(&creds)?)?;
    Ok(creds)
}

/// A function's own credentials: the proxy knows the caller by its access key.
fn function_key(binary: &str) -> String {
    let tag: String = binary
        .to_uppercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("AKIAFN{tag:0<14}")
}

pub async fn run(config: Config) -> Result<()> {
    std::fs::create_dir_all(config.data_dir.join("outbox"))?;
    std::fs::create_dir_all(config.data_dir.join("logs"))?;
    let data_dir = config.data_dir.canonicalize()?;
    let overrides: BTreeMap<String, String> = config.parameters.iter().cloned().collect();
    let template = Template::load(&config.template, &overrides)?;
    let function_secret = secret();
    let mut identities: Vec<(String, String)> = vec![(
        resources::ADMIN_KEY.to_owned(),
        resources::ADMIN_SECRET.to_owned(),
    )];

    // The functions are known before their resources exist: read them once to name keys.
    let names = template.resource_types();
    let binaries: Vec<String> = {
        let mut probe = template::Physical::default();
        for (logical, _) in &names {
            probe.refs.insert(logical.clone(), String::new());
            for attr in ["Arn", "QueueName"] {
                probe
                    .attrs
                    .insert(format!("{logical}.{attr}"), String::new());
            }
        }
        template
            .functions(&probe)?
            .into_iter()
            .map(|f| f.binary)
            .collect()
    };
    for b in &binaries {
        identities.push((function_key(b), function_secret.clone()));
    }
    for b in &binaries {
        let path = config.bin_dir.join(b);
        if !path.is_file() {
            bail!(
                "{} is missing: build the functions first (scripts/stack does)",
                path.display()
            );
        }
    }

    let mut standins = standins::Standins::start(&data_dir, &identities).await?;
    let outcome = serve(&config, &data_dir, &template, &standins, &function_secret).await;
    standins.stop(Duration::from_secs(5)).await;
    outcome
}

async fn serve(
    config: &Config,
    data_dir: &Path,
    template: &Template,
    standins: &standins::Standins,
    function_secret: &str,
) -> Result<()> {
    let clients = resources::Clients::new(&standins.dynamodb, &standins.s3, &standins.moto);
    let physical = resources::create(template, &clients).await?;
    let functions = template.functions(&physical)?;
    let globals_env = functions.first().map(|f| f.env.clone()).unwrap_or_default();
    let prefix = globals_env
        .get("PASPOR_SSM_PREFIX")
        .cloned()
        .context("PASPOR_SSM_PREFIX")?;
    let webhook = config.webhook_secret.clone().unwrap_or_else(secret);
    resources::put_secrets(&clients, &prefix, data_dir, &webhook).await?;
    if let Some(from) = globals_env.get("PASPOR_MAIL_FROM") {
        resources::verify_sender(&clients, from).await?;
    }
    let ops = ops_credentials(data_dir)?;

    // Every AWS request of every function goes through the role check.
    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let proxy_url = format!("http://{}", proxy_listener.local_addr()?);
    let api_listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .with_context(|| format!("bind {}", config.addr))?;
    let api_addr = api_listener.local_addr()?;

    let mut instances = BTreeMap::new();
    let mut identities = std::collections::HashMap::new();
    for f in &functions {
        let key = function_key(&f.binary);
        let fname = format!("paspor-{}-{}", template.stage(), f.logical);
        let mut env = f.env.clone();
        if let Some(ttl) = config.payment_ttl_secs {
            env.insert("PASPOR_PAYMENT_TTL_SECS".into(), ttl.to_string());
        }
        env.extend(config.function_env.iter().cloned());
        if env.contains_key("PASPOR_UPLOAD_ORIGIN") {
            // The page may send documents to the S3 stand-in's address instead of S3's.
            env.insert("PASPOR_UPLOAD_ORIGIN".into(), proxy_url.clone());
        }
        for var in ["DYNAMODB", "S3", "SQS", "SES", "SSM"] {
            env.insert(format!("PASPOR_{var}_ENDPOINT"), proxy_url.clone());
        }
        for (k, v) in [
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", key.clone()),
            ("AWS_SECRET_ACCESS_KEY", function_secret.to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", fname.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{fname}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "stack".to_owned()),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
            ("_HANDLER", "bootstrap".to_owned()),
            ("TZ", ":UTC".to_owned()),
        ] {
            env.insert(k.to_owned(), v);
        }
        let instance = runtime::Instance::new(
            &fname,
            config.bin_dir.canonicalize()?.join(&f.binary),
            env,
            Duration::from_secs(f.timeout_secs),
            data_dir.join("logs").join(format!("{}.log", f.binary)),
        )
        .await?;
        identities.insert(
            key,
            proxy::Identity {
                function: f.binary.clone(),
                role_arn: format!(
                    "arn:aws:sts::{ACCOUNT}:assumed-role/{}Role/{fname}",
                    f.logical
                ),
                policy: iam::Policy::from_statements(&f.statements)
                    .with_context(|| format!("{}: its role's policy", f.logical))?,
            },
        );
        instances.insert(f.logical.clone(), (f.clone(), instance));
    }

    // S3's notifications: each new object under a configured prefix, to its queue.
    let mut notify = vec![];
    for bucket in template.buckets(&physical)? {
        let name = physical.refs[&bucket.logical].clone();
        for (queue, key_prefix) in &bucket.notifications {
            let url = physical
                .refs
                .get(queue)
                .cloned()
                .context("notification queue")?;
            notify.push((name.clone(), key_prefix.clone(), url));
        }
    }
    let sqs = clients.sqs.clone();
    let on_object_created: Arc<dyn Fn(proxy::ObjectCreated) + Send + Sync> = Arc::new(move |o| {
        for (bucket, key_prefix, url) in &notify {
            if &o.bucket == bucket && o.key.starts_with(key_prefix.as_str()) {
                let message = events::object_created(&o.bucket, &o.key, o.size, &o.etag);
                let (sqs, url) = (sqs.clone(), url.clone());
                tokio::spawn(async move {
                    if let Err(e) = sqs
                        .send_message()
                        .queue_url(url)
                        .message_body(message.to_string())
                        .send()
                        .await
                    {
                        eprintln!(
                            "paspor-stack: S3 notification: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        );
                    }
                });
            }
        }
    });
    let proxy = Arc::new(proxy::Proxy::new(proxy::ProxyConfig {
        region: REGION.to_owned(),
        account: ACCOUNT.to_owned(),
        upstreams: proxy::Upstreams {
            dynamodb: standins.dynamodb.clone(),
            s3: standins.s3.clone(),
            sqs: standins.moto.clone(),
            ses: standins.moto.clone(),
            ssm: standins.moto.clone(),
        },
        identities,
        outbox: data_dir.join("outbox"),
        on_object_created,
    })?);
    let cors = s3cors::Rules(
        template
            .buckets(&physical)?
            .into_iter()
            .flat_map(|b| b.cors)
            .collect(),
    );
    tokio::spawn(proxy::serve(proxy_listener, proxy.clone(), cors));

    // The HTTP API.
    let api_def = template.api(&physical)?;
    let mut routes = vec![];
    for (f, instance) in instances.values() {
        for r in &f.http {
            routes.push(apigw::Route {
                method: r.method.clone(),
                path: r.path.clone(),
                iam: r.iam,
                function: instance.clone(),
            });
        }
    }
    let (ops_key, ops_secret) = (ops.access_key_id.clone(), ops.secret_access_key.clone());
    let api = Arc::new(apigw::Api {
        api_id: physical
            .refs
            .get(&api_def.logical)
            .cloned()
            .unwrap_or_default(),
        stage: api_def.stage.clone(),
        routes,
        cors: api_def.cors.clone(),
        verify_iam: Box::new(move |method, path, query, headers, body| {
            let request = sigv4::Incoming {
                method: method.as_str(),
                path,
                query,
                headers,
                body,
            };
            let verified = sigv4::verify(
                &request,
                "execute-api",
                REGION,
                |k| (k == ops_key).then(|| ops_secret.clone()),
                chrono::Utc::now(),
            )
            .map_err(|e| e.to_string())?;
            Ok(apigw::IamCaller {
                access_key: verified.access_key_id,
                user_arn: OPERATOR_ARN.to_owned(),
                user_id: "AIDAPASPOROPERATOR01".to_owned(),
            })
        }),
        requests: 0.into(),
        trace: Default::default(),
    });
    tokio::spawn(apigw::serve(api_listener, api.clone()));
    let base = if api_def.stage == "$default" {
        format!("http://{api_addr}")
    } else {
        format!("http://{api_addr}/{}", api_def.stage)
    };

    // Every function answers before the stack says it is listening: one cold start each.
    warm_up(&instances).await?;

    // The worker's queues and the schedules; stopped before the stand-ins they read.
    let mut tasks = tokio::task::JoinSet::new();
    for (f, instance) in instances.values() {
        for m in &f.sqs {
            let url = physical
                .refs
                .get(&m.queue_logical)
                .cloned()
                .context("mapped queue")?;
            let arn = events::queue_arn(&clients.sqs, &url).await?;
            tasks.spawn(events::poll(
                clients.sqs.clone(),
                events::Mapping {
                    queue_url: url,
                    queue_arn: arn,
                    batch_size: m.batch_size,
                    report_failures: m.report_failures,
                    redelivery: Duration::from_secs(config.redelivery_secs),
                },
                instance.clone(),
            ));
        }
        if let Some(secs) = f.schedule_secs {
            let every = Duration::from_secs(config.sweep_secs.unwrap_or(secs).max(1));
            let arn = format!(
                "arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{}",
                f.logical
            );
            tasks.spawn(events::schedule(instance.clone(), every, arn));
        }
    }

    if let Some(seed) = &config.seed {
        match seed.as_str() {
            "demo" => seed::demo(&base, &ops, &template_root(&config.template)?).await?,
            other => bail!("unknown seed {other} (demo is the one)"),
        }
    }

    let mut record = serde_json::json!({"stack": std::process::id(), "url": base});
    for (name, pid) in standins.pids() {
        record[name] = pid.into();
    }
    std::fs::write(data_dir.join("stack.json"), record.to_string())?;
    println!("paspor-stack listening on {base}");

    shutdown().await;
    tasks.abort_all();
    let trace: Vec<String> = proxy
        .trace()
        .iter()
        .filter_map(|t| serde_json::to_string(t).ok())
        .collect();
    std::fs::write(data_dir.join("aws-requests.jsonl"), trace.join("\n"))?;
    let http: Vec<String> = api
        .trace
        .lock()
        .map(|t| t.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    std::fs::write(data_dir.join("http-requests.jsonl"), http.join("\n"))?;
    eprintln!(
        "role check: every AWS request of every function against its role in the template\n{}",
        proxy.report()
    );
    eprintln!(
        "paspor-stack: {} HTTP requests; invocations (cold starts): {}",
        api.requests.load(std::sync::atomic::Ordering::Relaxed),
        instances
            .values()
            .map(|(f, i)| format!(
                "{} {} ({})",
                f.binary,
                i.invocations.load(std::sync::atomic::Ordering::Relaxed),
                i.cold_starts.load(std::sync::atomic::Ordering::Relaxed)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (_, instance) in instances.values() {
        instance.stop().await;
    }
    Ok(())
}

fn template_root(template: &Path) -> Result<PathBuf> {
    let dir = template.canonicalize()?;
    dir.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .context("the template is not in <repo>/infra/")
}

/// Starts every HTTP function with a request API Gateway would route nowhere in the
/// functions' routers, so each cold start (and its init error, if any) happens now.
async fn warm_up(
    instances: &BTreeMap<String, (template::Function, Arc<runtime::Instance>)>,
) -> Result<()> {
    let mut failures = vec![];
    for (f, instance) in instances.values() {
        if f.http.is_empty() {
            continue;
        }
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "GET /_stack/warm-up", "rawPath": "/_stack/warm-up",
            "rawQueryString": "", "headers": {"host": "localhost"}, "isBase64Encoded": false,
            "requestContext": {"accountId": ACCOUNT, "apiId": "stack", "domainName": "localhost",
                "http": {"method": "GET", "path": "/_stack/warm-up", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "paspor-stack"},
                "requestId": "warm-up", "routeKey": "GET /_stack/warm-up", "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0},
        });
        if let Err(e) = instance.invoke(event.to_string().into_bytes()).await {
            failures.push(format!("{}: {e}", f.binary));
        }
    }
    if !failures.is_empty() {
        bail!("functions failed to start:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
