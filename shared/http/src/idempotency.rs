//! `Idempotency-Key`: the same key with the same body replays the first successful answer;
//! the same key with another body is refused. Keys are kept (at least) 24 hours.

use std::future::Future;

use axum::{
    extract::FromRequestParts,
    http::request::Parts,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode};
use paspor_domain::{
    Error,
    store::{Cond, Item, Key},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};

pub const KEEP_SECS: i64 = 24 * 3600;

/// The request's `Idempotency-Key`, if it sent one (1–255 visible characters).
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(raw) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        match raw.to_str() {
            Ok(k) if (1..=255).contains(&k.len()) => Ok(Self(Some(k.to_owned()))),
            _ => Err(ApiError::from(Error::invalid(
                "Idempotency-Key",
                "Idempotency-Key harus 1–255 karakter.",
                "The Idempotency-Key must be 1–255 characters.",
            ))),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    fingerprint: String,
    status: u16,
    body: Value,
    ttl: i64,
}

fn fingerprint(scope: &str, request: &impl Serialize) -> String {
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update(b"\n");
    h.update(serde_json::to_vec(request).unwrap_or_default());
    hex::encode(h.finalize())
}

fn replay(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, axum::Json(stored.body)).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// Runs `f` once per (account, key): a repeat with the same request replays the stored
/// answer; a repeat with another request is `422 idempotency_key_reused`. Only successful
/// answers are stored: a refused request changed nothing, so running it again is safe.
pub async fn once<F, Fut>(
    state: &AppState,
    account_id: &str,
    key: IdempotencyKey,
    scope: &str,
    request: &impl Serialize,
    f: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let Some(key) = key.0 else {
        let (status, body) = f().await?;
        return Ok((status, axum::Json(body)).into_response());
    };
    let table = &state.ports.table;
    let record_key = Key::new(format!("IDEM#{account_id}#{key}"), scope.to_owned());
    let print = fingerprint(scope, request);
    if let Some(item) = table.get(&record_key).await.map_err(Error::from)? {
        let stored: Stored = item.record().map_err(Error::from)?;
        if stored.fingerprint != print {
            return Err(Error::IdempotencyKeyReused.into());
        }
        return Ok(replay(stored));
    }
    let (status, body) = f().await?;
    let stored = Stored {
        fingerprint: print,
        status: status.as_u16(),
        body: body.clone(),
        ttl: state.ports.clock.now().timestamp() + KEEP_SECS,
    };
    let item = Item::from_record(record_key.clone(), &stored).map_err(Error::from)?;
    if let Err(e) = table.put(item, Some(Cond::NotExists)).await {
        // A parallel request with the same key stored first; its answer is the one to give.
        tracing::info!(error = %e, "idempotency record not stored");
        if let Some(item) = table.get(&record_key).await.map_err(Error::from)? {
            let winner: Stored = item.record().map_err(Error::from)?;
            if winner.fingerprint == stored.fingerprint {
                return Ok(replay(winner));
            }
        }
    }
    Ok((status, axum::Json(body)).into_response())
}
