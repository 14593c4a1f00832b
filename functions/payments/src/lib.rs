//! The `payments` function: the signed webhook payment channels (banks, ATMs, the post
//! office, Indomaret, marketplaces) call when an applicant pays a billing code.

use axum::{extract::State, http::HeaderMap, response::IntoResponse};
use bytes::Bytes;
use paspor_domain::text;
use paspor_domain::{
    Error,
    payments::{self, Notification},
};
use paspor_http::{ApiError, AppState, Routes};
use serde_json::json;

pub fn routes() -> Routes {
    Routes::new().post("/v1/payments/notifications", notification)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The signature covers the raw body, so it is checked before the body is even parsed.
async fn notification(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let now = state.ports.clock.now();
    payments::verify_signature(
        &state.webhook_secrets,
        header(&headers, "x-paspor-timestamp"),
        header(&headers, "x-paspor-signature"),
        &body,
        now,
    )?;
    let n: Notification = serde_json::from_slice(&body).map_err(|e| {
        ApiError::from(Error::invalid("body", text::NOTIFICATION_BODY_INVALID))
            .with("reason", e.to_string())
    })?;
    let (outcome, late) = state.payments.notify(&n).await?;
    if late {
        paspor_http::metrics::count("LatePayments", 1.0);
    }
    let metric = match outcome {
        payments::Outcome::Accepted => "Payments",
        payments::Outcome::RecordedForRefund => "PaymentRefunds",
        payments::Outcome::Duplicate => "DuplicatePayments",
    };
    paspor_http::metrics::count(metric, 1.0);
    tracing::info!(transaction = %n.transaction_id, ?outcome, channel = ?n.channel, "payment notification");
    Ok(axum::Json(json!({ "result": outcome })))
}
