//! The demo seed through the operators' routes, signed with SigV4 as `scripts/seed aws`
//! signs them: the real offices (shared/domain/src/offices.json), quota from tomorrow for
//! 30 days, 08:00 to 15:00, 20 places an hour, and the one upcoming release by draw.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// SigV4 headers (service `execute-api`) for one request: what an operator's client adds.
/// The signature covers `host` and `content-type: application/json`, which the caller sends.
pub fn sign(
    method: &str,
    url: &str,
    body: &[u8],
    access_key: &str,
    secret_key: &str,
    region: &str,
) -> Result<Vec<(String, String)>> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity =
        aws_credential_types::Credentials::new(access_key, secret_key, None, None, "stack").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()?
        .into();
    let host = reqwest::Url::parse(url)?;
    let host = match host.port() {
        Some(port) => format!("{}:{port}", host.host_str().unwrap_or_default()),
        None => host.host_str().unwrap_or_default().to_owned(),
    };
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/json"),
    ];
    let signable =
        SignableRequest::new(method, url, headers.into_iter(), SignableBody::Bytes(body))?;
    let (instructions, _) = sign(signable, &params)?.into_parts();
    let (signed, _) = instructions.into_parts();
    Ok(signed
        .into_iter()
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect())
}

pub(crate) async fn demo(base: &str, ops: &crate::OpsCredentials, root: &Path) -> Result<()> {
    let offices: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(root.join("shared/domain/src/offices.json"))
            .context("read offices.json")?,
    )?;
    let http = reqwest::Client::new();
    let (mut opened, total) = (0, offices.len());
    for (n, office) in offices.iter().enumerate() {
        let id = office["office_id"].as_str().context("office_id")?;
        let mut fields = office.clone();
        if let Some(map) = fields.as_object_mut() {
            map.remove("office_id");
        }
        // Tomorrow at the office, as paspor-local seeds: from 17:00 UTC an office in
        // Indonesia is a day ahead of UTC, and a quota opened from UTC's tomorrow would
        // open today there, which cannot be booked.
        let zone: paspor_domain::offices::TimeZone =
            serde_json::from_value(office["timezone"].clone()).context("timezone")?;
        let tomorrow = zone.today(chrono::Utc::now()) + chrono::TimeDelta::days(1);
        let mut puts = vec![(format!("/v1/ops/offices/{id}"), fields)];
        for (from, to, slots) in paspor_domain::offices::demo_quota_runs(id, tomorrow, 30) {
            let quota = json!({"from": from.to_string(), "to": to.to_string(), "slots": slots});
            puts.push((format!("/v1/ops/offices/{id}/quota"), quota));
        }
        for (path, body) in puts {
            let answer = put_signed(&http, base, ops, &path, &body).await?;
            opened += answer["slots_written"].as_i64().unwrap_or(0);
        }
        if (n + 1) % 20 == 0 || n + 1 == total {
            eprintln!("paspor-stack: seed demo {}/{total} offices", n + 1);
        }
    }
    // The one upcoming release by draw, as paspor-local seeds it; kept if already there.
    let (release_id, spec) = paspor_domain::releases::demo_release(chrono::Utc::now());
    let path = format!("/v1/releases/{release_id}");
    let release = if http
        .get(format!("{base}{path}"))
        .send()
        .await?
        .status()
        .is_success()
    {
        "kept"
    } else {
        let body = serde_json::to_value(&spec)?;
        put_signed(
            &http,
            base,
            ops,
            &format!("/v1/ops/releases/{release_id}"),
            &body,
        )
        .await?;
        "added"
    };
    println!(
        "seed demo: {total} offices, {opened} hourly slots opened, release {release_id} {release}"
    );
    Ok(())
}

/// An operator's PUT, signed; its answer, or why it failed.
async fn put_signed(
    http: &reqwest::Client,
    base: &str,
    ops: &crate::OpsCredentials,
    path: &str,
    body: &Value,
) -> Result<Value> {
    let url = format!("{base}{path}");
    let raw = serde_json::to_vec(body)?;
    let mut req = http
        .put(&url)
        .header("content-type", "application/json")
        .body(raw.clone());
    for (k, v) in sign(
        "PUT",
        &url,
        &raw,
        &ops.access_key_id,
        &ops.secret_access_key,
        &ops.region,
    )? {
        req = req.header(k, v);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("seed: PUT {path}: {status} {answer}");
    }
    Ok(answer)
}
