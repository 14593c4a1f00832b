//! Documents on S3. The upload form is S3's presigned POST, whose policy S3 enforces itself:
//! the exact key, the declared content type, and a `content-length-range` that refuses a
//! larger file. The Rust SDK has no POST presigner, so the policy is signed here with
//! aws-sigv4 — locally, with the function's own credentials, no network call.

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::{Client, error::ProvideErrorMetadata};
use base64::Engine;
use chrono::SecondsFormat;
use paspor_domain::documents::{DocumentStore, Download, StorageError, UploadForm, UploadPolicy};
use serde_json::json;

/// The pace a large upload is given time for: 4 MB/s, far under what one Lambda connection
/// to S3 in its region carries.
const LARGE_PUT_BYTES_PER_SEC: u64 = 4_000_000;

#[derive(Clone, Debug)]
pub struct S3Documents {
    client: Client,
    bucket: String,
    region: String,
    form_url: String,
    credentials: Option<SharedCredentialsProvider>,
}

fn storage(e: impl std::fmt::Display) -> StorageError {
    StorageError(e.to_string())
}

impl S3Documents {
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>, bucket: String) -> Self {
        let mut conf = aws_sdk_s3::config::Builder::from(sdk);
        if let Some(url) = endpoint {
            // Stand-ins (SeaweedFS) serve buckets by path, not by host name.
            conf = conf.endpoint_url(url).force_path_style(true);
        }
        let region = sdk
            .region()
            .map(ToString::to_string)
            .unwrap_or_else(|| "ap-southeast-3".into());
        let form_url = match endpoint {
            Some(url) => format!("{}/{bucket}", url.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        };
        Self {
            client: Client::from_conf(conf.build()),
            bucket,
            region,
            form_url,
            credentials: sdk.credentials_provider(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the bucket (for the stand-ins; on AWS the template owns it). Outside
    /// us-east-1, S3 wants the region as a location constraint.
    pub async fn create_bucket(&self) -> Result<(), StorageError> {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        let config = CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
            .build();
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .create_bucket_configuration(config)
            .send()
            .await
            .map_err(|e| storage(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// One page of keys under `prefix` (at most 1000, S3's page), and the token for the
    /// next page if there is one.
    async fn page(
        &self,
        prefix: &str,
        token: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), StorageError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| storage(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let keys = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        let next = out
            .is_truncated()
            .unwrap_or(false)
            .then(|| out.next_continuation_token().map(str::to_owned))
            .flatten();
        Ok((keys, next))
    }
}

#[async_trait]
impl DocumentStore for S3Documents {
    async fn presign_upload(&self, p: &UploadPolicy) -> Result<UploadForm, StorageError> {
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| storage("no AWS credentials"))?;
        let creds = provider.provide_credentials().await.map_err(storage)?;
        let amz_date = p.now.format("%Y%m%dT%H%M%SZ").to_string();
        let credential = format!(
            "{}/{}/{}/s3/aws4_request",
            creds.access_key_id(),
            p.now.format("%Y%m%d"),
            self.region
        );
        let mut conditions = vec![
            json!({"bucket": self.bucket}),
            json!({"key": p.key}),
            json!({"Content-Type": p.content_type.mime()}),
            json!(["content-length-range", 1, p.max_bytes]),
            json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}),
            json!({"x-amz-credential": credential}),
            json!({"x-amz-date": amz_date}),
        ];
        if let Some(token) = creds.session_token() {
            conditions.push(json!({"x-amz-security-token": token}));
        }
        let policy = json!({
            "expiration": p.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "conditions": conditions,
        });
        let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let signing_key = aws_sigv4::sign::v4::generate_signing_key(
            creds.secret_access_key(),
            p.now.into(),
            &self.region,
            "s3",
        );
        let signature =
            aws_sigv4::sign::v4::calculate_signature(signing_key, policy_b64.as_bytes());
        let mut fields: std::collections::BTreeMap<String, String> = [
            ("key", p.key.clone()),
            ("Content-Type", p.content_type.mime().to_owned()),
            ("policy", policy_b64),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_owned()),
            ("x-amz-credential", credential),
            ("x-amz-date", amz_date),
            ("x-amz-signature", signature),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(token) = creds.session_token() {
            fields.insert("x-amz-security-token".into(), token.to_owned());
        }
        Ok(UploadForm {
            method: "POST",
            url: self.form_url.clone(),
            fields,
            expires_at: p.expires_at,
        })
    }

    async fn presign_download(&self, d: &Download) -> Result<String, StorageError> {
        use aws_sdk_s3::presigning::PresigningConfig;
        let lifetime = (d.expires_at - d.now).to_std().map_err(storage)?;
        let config = PresigningConfig::builder()
            .start_time(d.now.into())
            .expires_in(lifetime)
            .build()
            .map_err(storage)?;
        let mut get = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&d.key)
            .response_content_type(d.content_type);
        if d.gzip {
            get = get.response_content_encoding("gzip");
        }
        if d.immutable {
            get = get.response_cache_control(Download::CACHE_IMMUTABLE);
        }
        let signed = get
            .presigned(config)
            .await
            .map_err(|e| storage(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(signed.uri().to_owned())
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(e)
                if e.as_service_error().is_some_and(|s| s.is_not_found())
                    || e.code() == Some("NotFound") =>
            {
                Ok(None)
            }
            Err(e) => Err(storage(aws_sdk_s3::error::DisplayErrorContext(e))),
        }
    }

    async fn read_head(&self, key: &str, n: u64) -> Result<Vec<u8>, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", n.saturating_sub(1)))
            .send()
            .await
            .map_err(|e| storage(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let bytes = out.body.collect().await.map_err(storage)?.into_bytes();
        Ok(bytes.iter().take(n as usize).copied().collect())
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StorageError> {
        // The request path's 1 s attempt fits an invoice (kilobytes); a draw's result
        // (~30 MB at national scale, the sweeper's) gets a second per 4 MB on top of it.
        let extra = bytes.len() as u64 / LARGE_PUT_BYTES_PER_SEC;
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into());
        let put = if extra == 0 {
            put.send().await
        } else {
            let attempt = super::ATTEMPT_TIMEOUT + std::time::Duration::from_secs(extra);
            let timeouts = aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(super::CONNECT_TIMEOUT)
                .operation_attempt_timeout(attempt)
                .operation_timeout(attempt * super::MAX_ATTEMPTS)
                .build();
            put.customize()
                .config_override(aws_sdk_s3::config::Builder::new().timeout_config(timeouts))
                .send()
                .await
        };
        put.map_err(|e| storage(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.body
                    .collect()
                    .await
                    .map_err(storage)?
                    .into_bytes()
                    .to_vec(),
            )),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(storage(aws_sdk_s3::error::DisplayErrorContext(e))),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let (page, next) = self.page(prefix, token).await?;
            keys.extend(page);
            match next {
                Some(t) => token = Some(t),
                None => return Ok(keys),
            }
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        let mut deleted = 0;
        // A page holds at most 1000 keys, DeleteObjects' limit. Deleted keys leave the
        // listing, so the first page is asked for again until it comes back empty.
        loop {
            let (keys, _) = self.page(prefix, None).await?;
            if keys.is_empty() {
                return Ok(deleted);
            }
            let objects = keys
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build().map_err(storage))
                .collect::<Result<Vec<_>, _>>()?;
            let batch = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(storage)?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(batch)
                .send()
                .await
                .map_err(|e| storage(aws_sdk_s3::error::DisplayErrorContext(e)))?;
            if let Some(e) = out.errors().first() {
                return Err(storage(format!(
                    "{} of {} objects not deleted: {}",
                    out.errors().len(),
                    keys.len(),
                    e.code().unwrap_or("error")
                )));
            }
            deleted += keys.len() as u64;
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| storage(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }
}
