//! The template's resources created on the stand-ins as the template defines them: the
//! table with its key schema and TTL, the bucket with its CORS rules, the queues with their
//! redrive policies, the SES identity mail is sent from, the SSM parameters the functions
//! read.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use aws_sdk_dynamodb::types as ddb;
use rand::RngCore as _;

use crate::template::{ACCOUNT, Physical, REGION, Template};

/// The stack's own credentials on the stand-ins (creating resources, the event sources).
pub const ADMIN_KEY: &str = "AKIASTACKADMIN000000";
pub const ADMIN_SECRET: &str = "stack-admin-secret-not-a-secret";

pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub ses: aws_sdk_sesv2::Client,
}

impl Clients {
    pub fn new(dynamodb: &str, s3: &str, moto: &str) -> Self {
        let creds = aws_sdk_dynamodb::config::Credentials::new(
            ADMIN_KEY,
            ADMIN_SECRET,
            None,
            None,
            "stack",
        );
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                creds,
            ))
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .endpoint_url(dynamodb)
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&sdk)
                    .endpoint_url(s3)
                    .force_path_style(true)
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&sdk)
                    .endpoint_url(moto)
                    .build(),
            ),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(&sdk)
                    .endpoint_url(moto)
                    .build(),
            ),
            ses: aws_sdk_sesv2::Client::from_conf(
                aws_sdk_sesv2::config::Builder::from(&sdk)
                    .endpoint_url(moto)
                    .build(),
            ),
        }
    }
}

/// Names every resource: what `!Ref` and `!GetAtt` answer for it here.
pub async fn create(template: &Template, clients: &Clients) -> Result<Physical> {
    let stage = template.stage().to_owned();
    let mut physical = Physical::default();
    let name = |logical: &str| format!("paspor-{stage}-{logical}");

    // Queues first: their URLs are `!Ref`'s answer, and the redrive targets must exist.
    let queues = template.queues()?;
    let mut ordered: Vec<_> = queues.iter().filter(|q| q.redrive.is_none()).collect();
    ordered.extend(queues.iter().filter(|q| q.redrive.is_some()));
    for queue in ordered {
        let qname = name(&queue.logical);
        let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{qname}");
        let mut attrs = BTreeMap::new();
        if let Some(v) = queue.visibility_secs {
            attrs.insert(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                v.to_string(),
            );
        }
        if let Some(v) = queue.retention_secs {
            attrs.insert(
                aws_sdk_sqs::types::QueueAttributeName::MessageRetentionPeriod,
                v.to_string(),
            );
        }
        if let Some((dlq, max)) = &queue.redrive {
            let target = physical
                .attrs
                .get(&format!("{dlq}.Arn"))
                .with_context(|| format!("{}: dead-letter queue {dlq} unknown", queue.logical))?;
            attrs.insert(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": target, "maxReceiveCount": max})
                    .to_string(),
            );
        }
        let url = clients
            .sqs
            .create_queue()
            .queue_name(&qname)
            .set_attributes(Some(attrs.into_iter().collect()))
            .send()
            .await
            .with_context(|| format!("create queue {qname}"))?
            .queue_url
            .context("queue url")?;
        physical.refs.insert(queue.logical.clone(), url);
        physical.attrs.insert(format!("{}.Arn", queue.logical), arn);
        physical
            .attrs
            .insert(format!("{}.QueueName", queue.logical), qname);
    }

    for table in template.tables()? {
        let tname = name(&table.logical);
        create_table(clients, &tname, &table.keys).await?;
        if let Some(attr) = &table.ttl_attribute {
            clients
                .dynamodb
                .update_time_to_live()
                .table_name(&tname)
                .time_to_live_specification(
                    ddb::TimeToLiveSpecification::builder()
                        .attribute_name(attr)
                        .enabled(true)
                        .build()?,
                )
                .send()
                .await
                .map(|_| ())
                .or_else(|e| {
                    // Already enabled, from an earlier start on the same data.
                    let text = format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e));
                    if text.contains("already enabled") {
                        Ok(())
                    } else {
                        Err(anyhow::anyhow!(text))
                    }
                })
                .context("enable TTL")?;
        }
        physical.attrs.insert(
            format!("{}.Arn", table.logical),
            format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{tname}"),
        );
        physical.refs.insert(table.logical, tname);
    }

    // The API's id, the functions' names and whatever else `!Ref` may name.
    let api_id = "stackapi01".to_owned();
    for (logical, _) in template.resource_types() {
        physical.refs.entry(logical.clone()).or_insert_with(|| {
            if logical == "HttpApi" {
                api_id.clone()
            } else {
                name(&logical)
            }
        });
        physical
            .attrs
            .entry(format!("{logical}.Arn"))
            .or_insert_with(|| {
                format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:resource/{logical}")
            });
    }

    // Buckets are named by the template (`BucketName`); their CORS rules and notifications
    // resolve against the names above.
    for (logical, bucket_name) in template.bucket_names(&physical)? {
        physical.attrs.insert(
            format!("{logical}.Arn"),
            format!("arn:aws:s3:::{bucket_name}"),
        );
        physical.refs.insert(logical, bucket_name);
    }
    for bucket in template.buckets(&physical)? {
        let bname = physical.refs[&bucket.logical].clone();
        create_bucket(clients, &bname).await?;
        if !bucket.cors.is_empty() {
            put_cors(clients, &bname, &bucket.cors).await?;
        }
    }
    Ok(physical)
}

async fn create_table(
    clients: &Clients,
    name: &str,
    keys: &[(String, String, String)],
) -> Result<()> {
    let mut req = clients
        .dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(ddb::BillingMode::PayPerRequest);
    for (attr, kind, ty) in keys {
        req = req
            .attribute_definitions(
                ddb::AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ddb::ScalarAttributeType::from(ty.as_str()))
                    .build()?,
            )
            .key_schema(
                ddb::KeySchemaElement::builder()
                    .attribute_name(attr)
                    .key_type(ddb::KeyType::from(kind.as_str()))
                    .build()?,
            );
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) if format!("{e:?}").contains("ResourceInUseException") => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "{}",
            aws_sdk_dynamodb::error::DisplayErrorContext(e)
        ))
        .with_context(|| format!("create table {name}")),
    }
}

/// SeaweedFS answers before its volume server has joined: retry until a bucket can be
/// created and written.
async fn create_bucket(clients: &Clients, name: &str) -> Result<()> {
    let mut last = String::new();
    for _ in 0..300 {
        let created = clients.s3.create_bucket().bucket(name).send().await;
        let ok = match created {
            Ok(_) => true,
            Err(e) => {
                last = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e));
                last.contains("BucketAlreadyOwnedByYou") || last.contains("BucketAlreadyExists")
            }
        };
        if ok {
            let probe = clients
                .s3
                .put_object()
                .bucket(name)
                .key("stack-probe")
                .body(b"probe".to_vec().into())
                .send()
                .await;
            match probe {
                Ok(_) => {
                    clients
                        .s3
                        .delete_object()
                        .bucket(name)
                        .key("stack-probe")
                        .send()
                        .await?;
                    return Ok(());
                }
                Err(e) => last = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)),
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    bail!("bucket {name} could not be created: {last}")
}

async fn put_cors(clients: &Clients, bucket: &str, rules: &[serde_json::Value]) -> Result<()> {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let list = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let mut config = CorsConfiguration::builder();
    for rule in rules {
        config = config.cors_rules(
            CorsRule::builder()
                .set_allowed_methods(Some(list(&rule["AllowedMethods"])))
                .set_allowed_origins(Some(list(&rule["AllowedOrigins"])))
                .set_allowed_headers(Some(list(&rule["AllowedHeaders"])))
                .set_max_age_seconds(rule["MaxAge"].as_i64().map(|v| v as i32))
                .build()?,
        );
    }
    let put = clients
        .s3
        .put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(config.build()?)
        .send()
        .await;
    if let Err(e) = put {
        // Not every SeaweedFS release keeps CORS rules; the browser test shows the result.
        eprintln!(
            "paspor-stack: the S3 stand-in refused the bucket's CORS rules: {}",
            aws_sdk_s3::error::DisplayErrorContext(e)
        );
    }
    Ok(())
}

/// The secrets the functions read from SSM, kept under the data directory so tokens and
/// sealed values survive a restart; the webhook secrets come from `PASPOR_WEBHOOK_SECRET`.
pub async fn put_secrets(
    clients: &Clients,
    prefix: &str,
    data_dir: &std::path::Path,
    webhook_secrets: &str,
) -> Result<()> {
    let path = data_dir.join("stack-secrets.json");
    let mut stored: BTreeMap<String, String> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).context("stack-secrets.json")?,
        Err(_) => BTreeMap::new(),
    };
    for key in ["token-key", "otp-key", "nik-key", "nik-lock-key"] {
        stored.entry(key.to_owned()).or_insert_with(|| {
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        });
    }
    std::fs::write(&path, serde_json::to_string_pretty(&stored)?)?;
    stored.insert("webhook-secrets".into(), webhook_secrets.to_owned());
    for (key, value) in stored {
        clients
            .ssm
            .put_parameter()
            .name(format!("{prefix}/{key}"))
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_ssm::error::DisplayErrorContext(e)))
            .with_context(|| format!("put SSM parameter {prefix}/{key}"))?;
    }
    Ok(())
}

/// SES sends only from verified identities.
pub async fn verify_sender(clients: &Clients, address: &str) -> Result<()> {
    clients
        .ses
        .create_email_identity()
        .email_identity(address)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sesv2::error::DisplayErrorContext(e)))
        .with_context(|| format!("verify SES identity {address}"))?;
    Ok(())
}
