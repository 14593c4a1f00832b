//! What every function's router shares: problem+json errors in the caller's language,
//! the JSON and bearer-token extractors, the application state and tracing set-up.
//!
//! A function exposes its routes as a `Router<AppState>`; [`app`] turns routes into the
//! finished service — the same on Lambda, in `paspor-local` and in tests.

mod extract;
pub mod idempotency;
mod lang;
pub mod metrics;
mod problem;
mod routes;
pub mod state;
mod sweep;
pub mod telemetry;

pub use extract::{Auth, ClientIp, IamCaller, Json, Operator};
pub use lang::RequestLang;
pub use problem::{ApiError, render_problems};
pub use routes::{Routes, contract};
pub use state::{AppState, Settings};
pub use sweep::sweep;

use axum::{Router, extract::DefaultBodyLimit, middleware, response::IntoResponse};
use paspor_domain::text;
use tower_http::catch_panic::CatchPanicLayer;

/// Largest request body accepted by any JSON route. Files never pass through here.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Finishes a set of routes: a problem+json answer for unknown routes, every error and a
/// panic, a body limit, the request's deadline, and the state.
pub fn app(routes: Routes, state: AppState) -> Router {
    routes
        .into_router()
        .fallback(|| async { ApiError::not_found() })
        // Innermost, so a panicking handler's 500 is rendered, logged and given the security
        // headers like any other answer; the release profile unwinds, so the process lives on.
        .layer(CatchPanicLayer::custom(panicked))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(limit_headers))
        .layer(middleware::from_fn(deadline))
        .layer(middleware::from_fn(render_problems))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

/// What a panicking handler answers: the generic 500. The panic's message was already
/// written by the panic hook; it is not repeated here, nor told to the client.
fn panicked(_payload: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    tracing::error!("a handler panicked; answered 500");
    ApiError::internal().into_response()
}

/// When a request's answer is due. The Lambda adapter sets it (from the request budget and
/// the invocation's own deadline); a request still running then answers 503 `service_busy`
/// with `Retry-After`, rather than being killed by the Lambda timeout, which API Gateway
/// turns into a bare 500. Without it (the local server) nothing is cut short.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(pub tokio::time::Instant);

async fn deadline(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let Some(Deadline(at)) = request.extensions().get::<Deadline>().copied() else {
        return next.run(request).await;
    };
    match tokio::time::timeout_at(at, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("request over its time budget; answered 503");
            ApiError::from(paspor_domain::Error::Busy {
                retry_after_secs: 1,
            })
            .into_response()
        }
    }
}

/// One line per request: the route's template (never the raw path or query, which carry
/// ids and search terms), the status and the time taken. Bodies and headers are never
/// logged: they carry passwords, OTPs, NIKs and tokens.
async fn access_log(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let response = next.run(request).await;
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// Largest total of request header names and values. API Gateway allows 10 KiB; the local
/// server holds to about the same, so an app never works locally and fails on AWS.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

async fn limit_headers(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        return ApiError::new(
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            text::HEADERS_TOO_LARGE,
        )
        .into_response();
    }
    next.run(request).await
}

/// Headers every API answer carries: nothing is sniffed, framed or cached unless a route
/// says so (availability does), and browsers keep to HTTPS.
async fn security_headers(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use http::{HeaderValue, header};
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000; includeSubDomains"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn test_app() -> (Router, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend =
            paspor_adapters::embedded::Embedded::open(dir.path(), vec![]).expect("backend");
        let routes = Routes::new()
            .get("/v1/ok", || async { "ok" })
            .get("/v1/boom", || async {
                if true {
                    panic!("a bug in a handler");
                }
                "unreachable"
            })
            .get("/v1/slow", || async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                "late"
            });
        let state = AppState::new(backend.ports(), &backend.secrets, Settings::default());
        (app(routes, state), dir)
    }

    async fn send(
        app: &Router,
        request: Request<axum::body::Body>,
    ) -> (StatusCode, String, String) {
        let response = app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let kind = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, kind, String::from_utf8_lossy(&body).into_owned())
    }

    fn get(path: &str) -> Request<axum::body::Body> {
        Request::get(path)
            .body(axum::body::Body::empty())
            .expect("request")
    }

    #[tokio::test]
    async fn a_panic_answers_problem_json_and_the_next_request_is_served() {
        let (app, _dir) = test_app();
        let (status, kind, body) = send(&app, get("/v1/boom")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert_eq!(kind, problem::PROBLEM_JSON, "{body}");
        assert!(body.contains("\"code\":\"internal_error\""), "{body}");
        assert!(!body.contains("a bug in a handler"), "{body}");
        let (status, _, body) = send(&app, get("/v1/ok")).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_answers_503_problem_json() {
        let (app, _dir) = test_app();
        let mut request = get("/v1/slow");
        let due = tokio::time::Instant::now() + std::time::Duration::from_millis(50);
        request.extensions_mut().insert(Deadline(due));
        let started = std::time::Instant::now();
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .map(|v| v.as_bytes()),
            Some(problem::PROBLEM_JSON.as_bytes())
        );
        // Without a deadline (the local server) a route is not cut short.
        let (status, _, _) = send(&app, get("/v1/ok")).await;
        assert_eq!(status, StatusCode::OK);
    }
}
