//! Secrets from SSM Parameter Store (SecureString), read at each cold start and again every
//! few minutes (`paspor_lambda::SECRETS_REFRESH`), so a rotation reaches warm instances.

use paspor_domain::Secrets;

/// Reads `<prefix>/token-key`, `<prefix>/otp-key`, `<prefix>/nik-key`,
/// `<prefix>/nik-lock-key` and `<prefix>/webhook-secrets` in one call: keys as text (hex or base64, comma separated
/// where several are valid during a rotation), each at least 32 bytes, or the start fails.
pub async fn load_secrets(sdk: &aws_config::SdkConfig, prefix: &str) -> Result<Secrets, String> {
    load_secrets_from(sdk, None, prefix).await
}

/// [`load_secrets`] from another SSM endpoint (a stand-in).
pub async fn load_secrets_from(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    prefix: &str,
) -> Result<Secrets, String> {
    SsmSecrets::new(sdk, endpoint, prefix).load().await
}

/// Where a function's secrets are, kept to read them again after a rotation.
#[derive(Clone, Debug)]
pub struct SsmSecrets {
    client: aws_sdk_ssm::Client,
    prefix: String,
}

impl SsmSecrets {
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>, prefix: &str) -> Self {
        let mut conf = aws_sdk_ssm::config::Builder::from(sdk);
        if let Some(url) = endpoint {
            conf = conf.endpoint_url(url);
        }
        Self {
            client: aws_sdk_ssm::Client::from_conf(conf.build()),
            prefix: prefix.to_owned(),
        }
    }

    /// The secrets as they are now, checked as [`load_secrets`] says.
    pub async fn load(&self) -> Result<Secrets, String> {
        let prefix = &self.prefix;
        let names = [
            "token-key",
            "otp-key",
            "nik-key",
            "nik-lock-key",
            "webhook-secrets",
        ]
        .map(|n| format!("{prefix}/{n}"));
        let out = self
            .client
            .get_parameters()
            .set_names(Some(names.to_vec()))
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetParameters: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(e)
                )
            })?;
        let value = |name: &str| {
            out.parameters()
                .iter()
                .find(|p| p.name() == Some(name))
                .and_then(|p| p.value())
                .map(str::to_owned)
                .ok_or_else(|| format!("SSM parameter {name} is missing"))
        };
        let webhook_secrets = value(&names[4])?
            .split(',')
            .map(|s| s.trim().as_bytes().to_vec())
            .filter(|s| !s.is_empty())
            .collect();
        Secrets::from_text(
            &value(&names[0])?,
            &value(&names[1])?,
            &value(&names[2])?,
            &value(&names[3])?,
            webhook_secrets,
        )
    }
}
