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
pub mod telemetry;

pub use extract::{Auth, ClientIp, IamCaller, Json, Operator};
pub use lang::RequestLang;
pub use problem::{ApiError, render_problems};
pub use routes::Routes;
pub use state::{AppState, Settings};

use axum::{Router, extract::DefaultBodyLimit, middleware};

/// Largest request body accepted by any JSON route. Files never pass through here.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Finishes a set of routes: a problem+json answer for unknown routes and every error, a
/// body limit, and the state.
pub fn app(routes: Routes, state: AppState) -> Router {
    routes
        .into_router()
        .fallback(|| async { ApiError::not_found() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(limit_headers))
        .layer(middleware::from_fn(render_problems))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(access_log))
        .with_state(state)
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
    use axum::response::IntoResponse;
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        return ApiError::new(
            http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "Header permintaan terlalu besar.",
            "The request headers are too large.",
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
