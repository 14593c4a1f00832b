//! Placeholder until the role check lands: forwards by the credential scope's service.
use std::{collections::HashMap, path::PathBuf, sync::Arc};

pub struct Identity {
    pub function: String,
    pub role_arn: String,
    pub policy: crate::iam::Policy,
}
pub struct ObjectCreated {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub method: String,
}
pub struct Upstreams {
    pub dynamodb: String,
    pub s3: String,
    pub sqs: String,
    pub ses: String,
    pub ssm: String,
}
pub struct ProxyConfig {
    pub region: String,
    pub account: String,
    pub upstreams: Upstreams,
    pub identities: HashMap<String, Identity>,
    pub outbox: PathBuf,
    pub on_object_created: Arc<dyn Fn(ObjectCreated) + Send + Sync>,
}
pub struct Proxy {
    config: ProxyConfig,
    http: reqwest::Client,
}
impl Proxy {
    pub fn new(config: ProxyConfig) -> Self {
        Self { config, http: reqwest::Client::new() }
    }
    pub fn report(&self) -> String {
        String::from("role check: not built yet")
    }
}
pub async fn serve(listener: tokio::net::TcpListener, proxy: Arc<Proxy>) {
    use axum::{body::Body, extract::State, http::Request, response::IntoResponse};
    let app = axum::Router::new()
        .fallback(|State(p): State<Arc<Proxy>>, req: Request<Body>| async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
            let auth = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
            let service = auth.split("Credential=").nth(1).and_then(|c| c.split('/').nth(3)).unwrap_or("s3");
            let u = &p.config.upstreams;
            let base = match service { "dynamodb" => &u.dynamodb, "sqs" => &u.sqs, "ses" => &u.ses, "ssm" => &u.ssm, _ => &u.s3 };
            let url = format!("{base}{}", parts.uri.path_and_query().map_or("/", |p| p.as_str()));
            let mut req = p.http.request(parts.method.clone(), url).body(body.to_vec());
            for (k, v) in &parts.headers { req = req.header(k, v); }
            match req.send().await {
                Ok(r) => {
                    let status = r.status();
                    let headers = r.headers().clone();
                    let bytes = r.bytes().await.unwrap_or_default();
                    if service == "s3" && parts.method == "POST" && status.is_success() {
                        let _ = &p.config.on_object_created;
                    }
                    let mut resp = (status, bytes).into_response();
                    for (k, v) in &headers { if k != "content-length" && k != "transfer-encoding" { resp.headers_mut().insert(k, v.clone()); } }
                    resp
                }
                Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        })
        .with_state(proxy);
    let _ = axum::serve(listener, app).await;
}
