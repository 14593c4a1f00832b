//! One bounded time budget per HTTP request.
//!
//! The arithmetic. An SDK call (DynamoDB, SQS, SES, SSM, S3) connects within 0.5 s, gives
//! an attempt 1 s and makes 2 attempts with at most 0.1 s between them, so it ends within
//! `OPERATION_TIMEOUT` = 2 × 1 + 0.1 = 2.1 s (`paspor_adapters::aws`). The domain's retry
//! loop (`paspor_domain::booking::retrying`, once 6 tries × the SDK's 3 attempts = 18 calls
//! for one throttled booking) now makes at most 6 × 2 = 12 attempts and begins no try after
//! `RETRY_WINDOW` = 3 s: DynamoDB answers a throttle in milliseconds, so a throttled
//! booking (3 s, plus one last try of 4 calls, each 2 quick answers and a 0.1 s pause)
//! answers its own 503 `Retry-After` in about 4 s. A store that hangs instead costs each call
//! its full 2.1 s, so a route of several calls in a row is bounded by the edge: every request
//! answers by [`REQUEST_BUDGET`] = 8 s (503 `service_busy`, `Retry-After`), or
//! [`DEADLINE_MARGIN`] before the invocation's own deadline if that comes first. The
//! secrets refresh (one SSM call, at most every 5 minutes) runs inside that budget. That
//! leaves 2 s of the function's 10 s `Timeout` for lambda_http to send the answer, and
//! API Gateway's 30 s integration limit is never reached.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_http::RequestExt;
use tokio::time::Instant;

/// The functions' `Timeout` (`infra/template.yaml`, Globals).
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);
/// API Gateway HTTP API's integration timeout.
pub const API_GATEWAY_LIMIT: Duration = Duration::from_secs(30);
/// Every request answers within this, counted from when the function got it.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(8);
/// Kept before the invocation's deadline to send the answer back through the Runtime API.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1000);

/// When this request's answer is due: [`REQUEST_BUDGET`] from now, or earlier when the
/// invocation's deadline (a shorter `Timeout`) says so.
pub fn deadline(request: &lambda_http::Request) -> Instant {
    let mut budget = REQUEST_BUDGET;
    if let Some(ctx) = request.lambda_context_ref() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let left = Duration::from_millis(ctx.deadline.saturating_sub(now_ms));
        budget = budget.min(left.saturating_sub(DEADLINE_MARGIN));
    }
    Instant::now() + budget
}

#[cfg(test)]
mod tests {
    use super::*;
    use paspor_adapters::aws::{
        ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, MAX_ATTEMPTS, MAX_BACKOFF, OPERATION_TIMEOUT,
    };
    use paspor_domain::booking::{RETRY_TRIES, RETRY_WINDOW};

    /// Sequential SDK calls in one booking try: the application, the slot, the transaction,
    /// and one to spare.
    const CALLS_PER_BOOKING_TRY: u32 = 4;
    /// How long DynamoDB takes to answer a throttle: an assumption, generous.
    const THROTTLE_ANSWER: Duration = Duration::from_millis(100);

    #[test]
    fn the_worst_case_fits_the_function_timeout() {
        assert!(CONNECT_TIMEOUT < ATTEMPT_TIMEOUT);
        assert_eq!(
            OPERATION_TIMEOUT,
            ATTEMPT_TIMEOUT * MAX_ATTEMPTS + MAX_BACKOFF * (MAX_ATTEMPTS - 1)
        );
        assert_eq!(OPERATION_TIMEOUT, Duration::from_millis(2100));
        // At most 12 attempts for one throttled booking, where there were 18.
        const { assert!(RETRY_TRIES * MAX_ATTEMPTS <= 12) };
        // A throttled booking answers the domain's own 503, before the edge's.
        let throttled_call = THROTTLE_ANSWER * MAX_ATTEMPTS + MAX_BACKOFF * (MAX_ATTEMPTS - 1);
        let throttled_booking = RETRY_WINDOW + throttled_call * CALLS_PER_BOOKING_TRY;
        assert!(throttled_booking < REQUEST_BUDGET, "{throttled_booking:?}");
        // A refresh of the secrets and a route's first call, both hanging, still fit.
        assert!(OPERATION_TIMEOUT * 2 < REQUEST_BUDGET);
        // The edge answers, then lambda_http has its margin, before Lambda or API Gateway
        // would cut the request off.
        assert!(REQUEST_BUDGET + DEADLINE_MARGIN <= FUNCTION_TIMEOUT);
        assert!(FUNCTION_TIMEOUT < API_GATEWAY_LIMIT);
    }

    #[test]
    fn a_shorter_invocation_deadline_wins() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .expect("clock");
        let mut ctx = lambda_http::Context::default();
        ctx.deadline = now_ms + 3000;
        let request = lambda_http::Request::default().with_lambda_context(ctx);
        let left = deadline(&request) - Instant::now();
        assert!(
            left <= Duration::from_millis(2000) && left > Duration::from_millis(1500),
            "{left:?}"
        );
        let left = deadline(&lambda_http::Request::default()) - Instant::now();
        assert!(
            left > REQUEST_BUDGET - Duration::from_millis(500),
            "{left:?}"
        );
    }
}
