//! The HTTP API: each request matched to the template's routes and handed to its function
//! as the payload format 2.0 event API Gateway builds; the function's answer turned back
//! into HTTP as API Gateway does. API Gateway's own answers (404 for an unknown route, 403
//! for a bad signature on an `AWS_IAM` route, 413, 500, 503) have its bodies, not
//! problem+json.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::runtime::{Failure, Instance};

/// API Gateway's payload limit for HTTP APIs.
pub const MAX_BODY: usize = 10 * 1024 * 1024;
/// Lambda's limit on a synchronous answer.
const MAX_ANSWER: usize = 6 * 1024 * 1024;

pub struct Route {
    pub method: String,
    pub path: String,
    pub iam: bool,
    pub function: Arc<Instance>,
}

/// Checks a request's SigV4 signature; answers the caller's IAM identity.
pub type VerifyIam =
    dyn Fn(&Method, &str, &str, &HeaderMap, &[u8]) -> Result<IamCaller, String> + Send + Sync;

#[derive(Debug, Clone)]
pub struct IamCaller {
    pub access_key: String,
    pub user_arn: String,
    pub user_id: String,
}

pub struct Api {
    pub api_id: String,
    pub stage: String,
    pub routes: Vec<Route>,
    pub cors: Option<Value>,
    pub verify_iam: Box<VerifyIam>,
    pub requests: std::sync::atomic::AtomicU64,
    /// Each routed request, timed (`http-requests.jsonl` when the stack stops).
    pub trace: std::sync::Mutex<Vec<Value>>,
}

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "message": text }).to_string(),
    )
        .into_response()
}

/// `{param}` matches one segment, `{proxy+}` the rest (at least one segment).
fn matches(template: &str, path: &str) -> Option<Map<String, Value>> {
    let mut params = Map::new();
    let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (i, seg) in t.iter().enumerate() {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            let rest = p.get(i..)?.join("/");
            if rest.is_empty() {
                return None;
            }
            params.insert(name.to_owned(), Value::String(percent_decode(&rest)));
            return Some(params);
        }
        let actual = p.get(i)?;
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if actual.is_empty() {
                return None;
            }
            params.insert(name.to_owned(), Value::String(percent_decode(actual)));
        } else if seg != actual {
            return None;
        }
    }
    (t.len() == p.len()).then_some(params)
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| char::from(b).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// API Gateway passes text bodies as they are and everything else base64-encoded.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return true };
    let ct = ct.to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("javascript")
}

impl Api {
    fn allowed_origin(&self, origin: &str) -> Option<String> {
        let cors = self.cors.as_ref()?;
        let origins = cors["AllowOrigins"].as_array()?;
        origins
            .iter()
            .filter_map(Value::as_str)
            .find(|o| *o == "*" || *o == origin)
            .map(|o| {
                if o == "*" {
                    "*".to_owned()
                } else {
                    origin.to_owned()
                }
            })
    }

    fn list(&self, key: &str) -> String {
        self.cors
            .as_ref()
            .and_then(|c| c[key].as_array())
            .map(|v| {
                v.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    }

    /// A CORS preflight, answered by API Gateway itself when CORS is configured.
    fn preflight(&self, headers: &HeaderMap) -> Option<Response> {
        self.cors.as_ref()?;
        let origin = headers.get("origin")?.to_str().ok()?;
        headers.get("access-control-request-method")?;
        let mut response = StatusCode::NO_CONTENT.into_response();
        if let Some(allowed) = self.allowed_origin(origin) {
            let h = response.headers_mut();
            let max_age = self
                .cors
                .as_ref()
                .and_then(|c| c["MaxAge"].as_u64())
                .unwrap_or(0);
            for (k, v) in [
                ("access-control-allow-origin", allowed),
                ("access-control-allow-methods", self.list("AllowMethods")),
                ("access-control-allow-headers", self.list("AllowHeaders")),
                ("access-control-max-age", max_age.to_string()),
            ] {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    h.insert(k, v);
                }
            }
        }
        Some(response)
    }

    pub async fn handle(self: Arc<Self>, peer: SocketAddr, request: Request<Body>) -> Response {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request_id = format!("{}=", &ulid::Ulid::new().to_string()[..14]);
        let start = chrono::Utc::now().timestamp_micros();
        let (method, path) = (
            request.method().to_string(),
            request.uri().path().to_owned(),
        );
        let mut response = self.serve(peer, request, &request_id).await;
        if let Ok(mut trace) = self.trace.lock() {
            let route = self.routes.iter().find(|r| {
                r.method == method
                    && path
                        .strip_prefix(&format!("/{}", self.stage))
                        .is_some_and(|p| matches(&r.path, p).is_some())
            });
            trace.push(json!({
                "route": route.map(|r| format!("{} {}", r.method, r.path)),
                "status": response.status().as_u16(),
                "start_us": start,
                "end_us": chrono::Utc::now().timestamp_micros(),
            }));
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("apigw-requestid", v);
        }
        response
    }

    async fn serve(&self, peer: SocketAddr, request: Request<Body>, request_id: &str) -> Response {
        let (parts, body) = request.into_parts();
        let raw_path = parts.uri.path().to_owned();
        let raw_query = parts.uri.query().unwrap_or("").to_owned();
        if parts.method == Method::OPTIONS
            && let Some(r) = self.preflight(&parts.headers)
        {
            return r;
        }
        // With a named stage, the stage is the path's first segment.
        let route_path = if self.stage == "$default" {
            raw_path.clone()
        } else {
            let prefix = format!("/{}", self.stage);
            match raw_path.strip_prefix(&prefix) {
                Some("") => "/".to_owned(),
                Some(rest) if rest.starts_with('/') => rest.to_owned(),
                _ => return message(StatusCode::NOT_FOUND, "Not Found"),
            }
        };
        let decoded_path = percent_decode(&route_path);
        let found = self
            .routes
            .iter()
            .find_map(|r| {
                (r.path != crate::template::DEFAULT_ROUTE
                    && (r.method == parts.method.as_str() || r.method == "ANY"))
                    .then(|| matches(&r.path, &route_path).map(|p| (r, p)))
                    .flatten()
            })
            .or_else(|| {
                // What no route matches goes to `$default`, when the API has one.
                self.routes
                    .iter()
                    .find(|r| r.path == crate::template::DEFAULT_ROUTE)
                    .map(|r| (r, Map::new()))
            });
        let Some((route, path_params)) = found else {
            return message(StatusCode::NOT_FOUND, "Not Found");
        };
        let body = match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(b) => b,
            Err(_) => return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        };
        let caller = if route.iam {
            match (self.verify_iam)(&parts.method, &raw_path, &raw_query, &parts.headers, &body) {
                Ok(c) => Some(c),
                Err(_) => return message(StatusCode::FORBIDDEN, "Forbidden"),
            }
        } else {
            None
        };
        let event = self.event(
            &parts.method,
            &parts.headers,
            &raw_path,
            &decoded_path,
            &raw_query,
            route,
            path_params,
            &body,
            peer,
            request_id,
            caller.as_ref(),
        );
        let origin = parts
            .headers
            .get("origin")
            .and_then(|o| o.to_str().ok())
            .and_then(|o| self.allowed_origin(o));
        let mut response = match route.function.invoke(event.to_string().into_bytes()).await {
            Ok(answer) => to_http(&answer),
            Err(Failure::Timeout) => {
                message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            }
            Err(failure) => {
                eprintln!("paspor-stack: {} {}: {failure}", route.method, route.path);
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        };
        if self.cors.is_some() {
            // API Gateway replaces whatever CORS headers the integration returns.
            let h = response.headers_mut();
            for k in [
                "access-control-allow-origin",
                "access-control-expose-headers",
                "access-control-allow-credentials",
            ] {
                h.remove(k);
            }
            if let Some(allowed) = origin {
                if let Ok(v) = HeaderValue::from_str(&allowed) {
                    h.insert("access-control-allow-origin", v);
                }
                if let Ok(v) = HeaderValue::from_str(&self.list("ExposeHeaders")) {
                    h.insert("access-control-expose-headers", v);
                }
            }
        }
        response
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        method: &Method,
        headers: &HeaderMap,
        raw_path: &str,
        decoded_path: &str,
        raw_query: &str,
        route: &Route,
        path_params: Map<String, Value>,
        body: &Bytes,
        peer: SocketAddr,
        request_id: &str,
        caller: Option<&IamCaller>,
    ) -> Value {
        let mut event_headers = Map::new();
        let mut cookies = vec![];
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if name == "cookie" {
                cookies.extend(
                    value
                        .split(';')
                        .map(|c| c.trim().to_owned())
                        .filter(|c| !c.is_empty()),
                );
                continue;
            }
            match event_headers.get_mut(name.as_str()) {
                Some(Value::String(existing)) => {
                    existing.push(',');
                    existing.push_str(&value);
                }
                _ => {
                    event_headers.insert(name.as_str().to_owned(), Value::String(value));
                }
            }
        }
        let source_ip = peer.ip().to_string();
        // API Gateway appends the client's address to what the client sent.
        let forwarded = match event_headers.get("x-forwarded-for").and_then(Value::as_str) {
            Some(f) => format!("{f}, {source_ip}"),
            None => source_ip.clone(),
        };
        event_headers.insert("x-forwarded-for".into(), forwarded.into());
        event_headers.insert("x-forwarded-proto".into(), "https".into());
        event_headers.insert("x-forwarded-port".into(), "443".into());
        event_headers.insert(
            "x-amzn-trace-id".into(),
            format!(
                "Root=1-{:x}-{}",
                chrono::Utc::now().timestamp(),
                request_id.trim_end_matches('=')
            )
            .into(),
        );
        let host = event_headers
            .get("host")
            .and_then(Value::as_str)
            .unwrap_or("localhost")
            .to_owned();
        let mut query = Map::new();
        for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (k, v) = (form_decode(k), form_decode(v));
            match query.get_mut(&k) {
                Some(Value::String(existing)) => {
                    existing.push(',');
                    existing.push_str(&v);
                }
                _ => {
                    query.insert(k, Value::String(v));
                }
            }
        }
        let route_key = if route.path == crate::template::DEFAULT_ROUTE {
            route.path.clone()
        } else {
            format!("{} {}", route.method, route.path)
        };
        let now = chrono::Utc::now();
        let mut context = json!({
            "accountId": crate::template::ACCOUNT,
            "apiId": self.api_id,
            "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or(""),
            "http": {
                "method": method.as_str(),
                "path": decoded_path_with_stage(&self.stage, decoded_path, raw_path),
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": self.stage,
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        });
        if let Some(c) = caller {
            context["authorizer"] = json!({ "iam": {
                "accessKey": c.access_key,
                "accountId": crate::template::ACCOUNT,
                "callerId": c.user_id,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": c.user_arn,
                "userId": c.user_id,
            }});
        }
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
        let mut event = json!({
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": event_headers,
            "requestContext": context,
            "isBase64Encoded": false,
        });
        if !cookies.is_empty() {
            event["cookies"] = json!(cookies);
        }
        if !query.is_empty() {
            event["queryStringParameters"] = query.into();
        }
        if !path_params.is_empty() {
            event["pathParameters"] = path_params.into();
        }
        if !body.is_empty() {
            match std::str::from_utf8(body) {
                Ok(text) if is_text(content_type) => event["body"] = text.into(),
                _ => {
                    event["body"] = base64::engine::general_purpose::STANDARD
                        .encode(body)
                        .into();
                    event["isBase64Encoded"] = true.into();
                }
            }
        }
        event
    }
}

fn decoded_path_with_stage(stage: &str, decoded: &str, raw: &str) -> String {
    if stage == "$default" {
        decoded.to_owned()
    } else if raw == format!("/{stage}") {
        raw.to_owned()
    } else {
        format!("/{stage}{decoded}")
    }
}

fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

/// A function's payload 2.0 answer as HTTP. An answer API Gateway cannot read is its 500.
fn to_http(answer: &[u8]) -> Response {
    if answer.len() > MAX_ANSWER {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    let Ok(value) = serde_json::from_slice::<Value>(answer) else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    // An answer without statusCode is taken as a JSON body with 200.
    let Some(status) = value.get("statusCode").and_then(Value::as_u64) else {
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            answer.to_vec(),
        )
            .into_response();
    };
    let Ok(status) = StatusCode::from_u16(status as u16) else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let body = match value.get("body").and_then(Value::as_str) {
        None => vec![],
        Some(text) if value["isBase64Encoded"].as_bool() == Some(true) => {
            match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(b) => b,
                Err(_) => {
                    return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
                }
            }
        }
        Some(text) => text.as_bytes().to_vec(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    for key in ["multiValueHeaders", "headers"] {
        if let Some(map) = value[key].as_object() {
            for (name, v) in map {
                let values: Vec<&str> = match v {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                    continue;
                };
                if key == "headers" {
                    h.remove(&name);
                }
                for v in values {
                    if let Ok(v) = HeaderValue::from_str(v) {
                        h.append(&name, v);
                    }
                }
            }
        }
    }
    for cookie in value["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Ok(v) = HeaderValue::from_str(cookie) {
            h.append("set-cookie", v);
        }
    }
    response
}

/// Serves the API on `listener` until the process stops.
pub async fn serve(listener: tokio::net::TcpListener, api: Arc<Api>) -> std::io::Result<()> {
    let app = axum::Router::new().fallback(
        |State(api): State<Arc<Api>>,
         ConnectInfo(peer): ConnectInfo<SocketAddr>,
         request: Request<Body>| async move { api.handle(peer, request).await },
    );
    axum::serve(
        listener,
        app.with_state(api)
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates() {
        let p = matches(
            "/v1/applications/{id}/booking",
            "/v1/applications/app%201/booking",
        )
        .expect("match");
        assert_eq!(p["id"], "app 1");
        assert!(matches("/v1/applications/{id}", "/v1/applications/a/booking").is_none());
        assert!(matches("/v1/applications/{id}", "/v1/applications/").is_none());
        let p = matches("/assets/{proxy+}", "/assets/js/app.js").expect("proxy");
        assert_eq!(p["proxy"], "js/app.js");
        assert!(matches("/assets/{proxy+}", "/assets").is_none());
        assert!(matches("/", "/").is_some());
    }

    #[test]
    fn answers_as_api_gateway() {
        let r = to_http(br#"{"statusCode":201,"headers":{"content-type":"application/json"},"multiValueHeaders":{},"body":"e30=","isBase64Encoded":true,"cookies":["a=b"]}"#);
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["set-cookie"], "a=b");
        assert_eq!(to_http(b"not json").status(), 500);
    }
}
