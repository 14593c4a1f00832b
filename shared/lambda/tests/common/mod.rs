//! What the edge tests share: the router they serve, API Gateway's events, the edge.
// Each test binary uses a part of these.
#![allow(dead_code)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::http::Uri;
use http_body_util::BodyExt;
use paspor_domain::Secrets;
use paspor_http::{Auth, ClientIp, IamCaller, Routes, Settings};
use paspor_lambda::{Edge, SecretsSource};
use paspor_tests::fixture::{Fixture, test_secrets};

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/v1/echo",
            |uri: Uri, ClientIp(ip): ClientIp, caller: Option<axum::Extension<IamCaller>>| async move {
                let caller = caller.map(|c| c.0.0.clone()).unwrap_or_default();
                let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or_default();
                format!("{path} {ip} {caller}")
            },
        )
        .get("/v1/whoami", |Auth(who): Auth| async move { who.account_id })
}

/// A fake SSM: what it answers can be changed, or made to fail.
pub fn source(now: Arc<Mutex<Result<Secrets, String>>>) -> SecretsSource {
    Arc::new(move || {
        let answer = now.lock().expect("lock").clone();
        Box::pin(async move { answer })
    })
}

pub fn edge(f: &Fixture, secrets: Secrets, src: SecretsSource, every: Duration) -> Edge {
    Edge::new(
        routes(),
        f.ports.clone(),
        secrets,
        Settings::default(),
        src,
        every,
    )
}

/// An HTTP API event as API Gateway sends it (payload format 2.0).
pub fn event(stage: &str, path: &str, query: &str, headers: serde_json::Value) -> String {
    let raw_path = if stage == "$default" {
        path.to_owned()
    } else {
        format!("/{stage}{path}")
    };
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("GET {path}"),
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.ap-southeast-3.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": "GET",
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "Ab3dEfGhIjKlMnO=",
            "routeKey": format!("GET {path}"),
            "stage": stage,
            "time": "02/Dec/2026:01:00:00 +0000",
            "timeEpoch": 1796173200000i64
        },
        "isBase64Encoded": false
    })
    .to_string()
}

pub async fn answer(edge: &Edge, event: &str) -> (u16, String) {
    let request = lambda_http::request::from_str(event).expect("a payload 2.0 event");
    let response = edge.serve(request).await;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

pub fn plain() -> serde_json::Value {
    serde_json::json!({ "host": "abc123.execute-api.ap-southeast-3.amazonaws.com" })
}

pub fn never(secrets: Secrets) -> SecretsSource {
    source(Arc::new(Mutex::new(Ok(secrets))))
}

/// An edge whose secrets never change, as most tests need.
pub fn settled(f: &Fixture) -> Edge {
    edge(
        f,
        test_secrets(),
        never(test_secrets()),
        Duration::from_secs(300),
    )
}
