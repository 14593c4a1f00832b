//! What an API Gateway (HTTP API, payload format 2.0) event needs before a router sees it.
//! Shared by every function's Lambda edge (`paspor-lambda`) and the web client's (`paspor-web`,
//! which has no AWS SDK and so does not use `paspor-lambda`).

use lambda_http::{RequestExt, request::RequestContext};

/// The path as the routers know it. With a named stage, API Gateway's `rawPath` starts
/// with `/{stage}` and lambda_http keeps it there (it even adds it when a custom domain's
/// mapping left it out); the routers serve `/v1/...` whatever the stage, so it goes.
/// `$default` has no prefix. (`AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` would only stop
/// lambda_http adding one, not remove API Gateway's, and is one setting to forget.)
pub fn at_stage_root(mut request: lambda_http::Request) -> lambda_http::Request {
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") else {
        return request;
    };
    let uri = request.uri();
    let prefix = format!("/{stage}");
    let rest = match uri.path().strip_prefix(&prefix) {
        // API Gateway's `/{stage}` (no slash), to which lambda_http added the stage again.
        Some("") => "/",
        Some(rest) if rest == prefix => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => return request,
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(uri) = lambda_http::http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stage: &str, raw_path: &str) -> lambda_http::Request {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": "a=1",
            "headers": {"host": "abc123.execute-api.ap-southeast-3.amazonaws.com"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "abc123",
                "domainName": "abc123.execute-api.ap-southeast-3.amazonaws.com",
                "http": {"method": "GET", "path": raw_path, "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.9", "userAgent": "curl/8.5.0"},
                "requestId": "id", "routeKey": "$default", "stage": stage,
                "time": "02/Dec/2026:01:00:00 +0000", "timeEpoch": 1796173200000i64
            },
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).expect("a payload 2.0 event")
    }

    fn path(stage: &str, raw_path: &str) -> String {
        let r = at_stage_root(event(stage, raw_path));
        r.uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn the_stage_is_taken_off_the_path() {
        assert_eq!(path("dev", "/dev/v1/offices"), "/v1/offices?a=1");
        assert_eq!(path("dev", "/dev/"), "/?a=1");
        assert_eq!(path("dev", "/dev"), "/?a=1");
        assert_eq!(path("prod", "/prod/assets/app.js"), "/assets/app.js?a=1");
        // `$default` has no prefix; a path that only starts like the stage keeps it.
        assert_eq!(path("$default", "/v1/offices"), "/v1/offices?a=1");
        assert_eq!(path("dev", "/devices/1"), "/devices/1?a=1");
    }
}
