//! Secrets from SSM Parameter Store (SecureString), read once per cold start.

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
    let mut conf = aws_sdk_ssm::config::Builder::from(sdk);
    if let Some(url) = endpoint {
        conf = conf.endpoint_url(url);
    }
    let client = aws_sdk_ssm::Client::from_conf(conf.build());
    let names = [
        "token-key",
        "otp-key",
        "nik-key",
        "nik-lock-key",
        "webhook-secrets",
    ]
    .map(|n| format!("{prefix}/{n}"));
    let out = client
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
