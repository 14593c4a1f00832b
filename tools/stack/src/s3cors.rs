//! The bucket's CORS rules from the template, applied where S3 applies them: in front of
//! storage. SeaweedFS refuses `PutBucketCors`, and a browser uploading a document to the
//! bucket (another origin than the API) needs S3's answer to its preflight and an
//! `Access-Control-Allow-Origin` on the upload's answer. Only browsers send `Origin`; the
//! functions' SDK calls pass through untouched.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::Value;

/// Every CORS rule of every bucket of the template (one bucket here).
#[derive(Debug, Clone, Default)]
pub struct Rules(pub Vec<Value>);

/// A rule's list; a `CommaDelimitedList` parameter may arrive as its text (`"*"`).
fn list(rule: &Value, field: &str) -> Vec<String> {
    match &rule[field] {
        Value::String(text) => text.split(',').map(|s| s.trim().to_owned()).collect(),
        other => other
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
    }
}

impl Rules {
    /// The first rule that allows `origin` and `method`, as S3 picks it.
    fn matching(&self, origin: &str, method: &str) -> Option<&Value> {
        self.0.iter().find(|rule| {
            list(rule, "AllowedOrigins")
                .iter()
                .any(|o| o == "*" || o == origin)
                && list(rule, "AllowedMethods").iter().any(|m| m == method)
        })
    }
}

fn allow(response: &mut Response, origin: &str, rule: &Value) {
    let h = response.headers_mut();
    let origin = if list(rule, "AllowedOrigins").iter().any(|o| o == "*") {
        "*"
    } else {
        origin
    };
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
}

/// The middleware: a preflight is answered here; any other request with an `Origin` is
/// forwarded and its answer given the rule's headers (or none, as S3 does, when no rule
/// allows it).
pub async fn apply(State(rules): State<Arc<Rules>>, request: Request, next: Next) -> Response {
    let Some(origin) = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(request).await;
    };
    if request.method() == Method::OPTIONS {
        let wanted = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| m.to_str().ok())
            .unwrap_or_default();
        let Some(rule) = rules.matching(&origin, wanted) else {
            return (
                StatusCode::FORBIDDEN,
                "CORSResponse: This CORS request is not allowed.",
            )
                .into_response();
        };
        let mut response = StatusCode::OK.into_response();
        allow(&mut response, &origin, rule);
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(wanted) {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        if let Some(asked) = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        if let Some(age) = rule["MaxAge"].as_i64()
            && let Ok(v) = HeaderValue::from_str(&age.to_string())
        {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, v);
        }
        return response;
    }
    let method = request.method().as_str().to_owned();
    let mut response = next.run(request).await;
    if let Some(rule) = rules.matching(&origin, &method) {
        allow(&mut response, &origin, rule);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rule_matches_its_origins_and_methods() {
        let rules = Rules(vec![
            json!({"AllowedOrigins": ["https://paspor.imigrasi.go.id"], "AllowedMethods": ["POST"]}),
        ]);
        assert!(
            rules
                .matching("https://paspor.imigrasi.go.id", "POST")
                .is_some()
        );
        assert!(rules.matching("https://calo.example", "POST").is_none());
        assert!(
            rules
                .matching("https://paspor.imigrasi.go.id", "DELETE")
                .is_none()
        );
        let any = Rules(vec![
            json!({"AllowedOrigins": ["*"], "AllowedMethods": ["POST"]}),
        ]);
        assert!(any.matching("http://127.0.0.1:1", "POST").is_some());
    }
}
