//! `Idempotency-Key`: the same key with the same body replays the first successful answer;
//! the same key with another body is refused. Keys are kept (at least) 24 hours.
//!
//! The key is claimed before the request runs, and the answer is recorded in the same
//! transaction as the effect it answers for (a [`Receipt`]): if the effect happened, its
//! answer is stored, however the first request ended (a Lambda timeout, a crash, a lost
//! connection). A duplicate that arrives while the first still runs is told to come back
//! (`409 idempotency_in_progress`, `Retry-After`); a claim left by a request that died
//! before its effect is taken over once its lease has passed, and the effect's transaction
//! holds only under the claim that wrote it, so two requests never both take effect.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    extract::FromRequestParts,
    http::request::Parts,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode};
use paspor_domain::{
    Error,
    store::{Cond, Item, Key, StoreError, Write},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};
use paspor_domain::text;

pub const KEEP_SECS: i64 = 24 * 3600;
/// How long a claim holds before another request may take it over: longer than any request
/// runs (the functions' timeout is 10 s).
pub const LEASE_SECS: i64 = 30;

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
                text::IDEMPOTENCY_KEY_FORM,
            ))),
        }
    }
}

/// The key's record: a claim while the first request runs, its answer once it is recorded.
#[derive(Serialize, Deserialize)]
struct Stored {
    fingerprint: String,
    #[serde(default)]
    claim: String,
    #[serde(default)]
    claimed_at_ms: i64,
    /// True while the first request runs (a condition can test it; an answer has none).
    #[serde(default)]
    running: bool,
    /// The answer's status; absent while the first request runs.
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
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

fn replay(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// What a request holding a claim writes to record its answer, in the effect's own
/// transaction ([`paspor_domain::store::Receipt`]). Without a key it records nothing.
#[derive(Clone)]
pub struct Receipt {
    claimed: Option<Arc<Claimed>>,
}

struct Claimed {
    key: Key,
    fingerprint: String,
    claim: String,
    claimed_at_ms: i64,
    ttl: i64,
    recorded: AtomicBool,
}

impl Receipt {
    /// The write that stores `body` as the answer, valid only under this request's claim.
    pub fn write(&self, status: StatusCode, body: Value) -> Result<Option<Write>, StoreError> {
        let Some(c) = &self.claimed else {
            return Ok(None);
        };
        let stored = Stored {
            fingerprint: c.fingerprint.clone(),
            claim: c.claim.clone(),
            claimed_at_ms: c.claimed_at_ms,
            running: false,
            status: Some(status.as_u16()),
            body,
            ttl: c.ttl,
        };
        c.recorded.store(true, Ordering::SeqCst);
        Ok(Some(Write::Put {
            item: Item::from_record(c.key.clone(), &stored)?,
            cond: Some(Cond::eq("claim", c.claim.as_str())),
        }))
    }
}

/// Runs `f` once per (account, key): a repeat with the same request replays the stored
/// answer; a repeat with another request is `422 idempotency_key_reused`; a repeat while
/// the first runs is `409 idempotency_in_progress`. `f` hands the [`Receipt`] to the
/// effect's transaction; an answer it did not record there is stored after it. Only
/// successful answers are kept: a refused request changed nothing, so it may run again.
pub async fn once<F, Fut>(
    state: &AppState,
    account_id: &str,
    key: IdempotencyKey,
    scope: &str,
    request: &impl Serialize,
    f: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(Receipt) -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let Some(key) = key.0 else {
        let (status, body) = f(Receipt { claimed: None }).await?;
        return Ok((status, axum::Json(body)).into_response());
    };
    let table = &state.ports.table;
    // The scope holds a path id of any length: its digest keeps the sort key bounded.
    let record_key = paspor_domain::repo::keys::idempotency(
        account_id,
        &key,
        &hex::encode(Sha256::digest(scope.as_bytes())),
    );
    let print = fingerprint(scope, request);
    let now_ms = state.ports.clock.now_ms();
    let claimed = Arc::new(Claimed {
        key: record_key.clone(),
        fingerprint: print.clone(),
        claim: ulid::Ulid::new().to_string(),
        claimed_at_ms: now_ms,
        ttl: now_ms / 1000 + KEEP_SECS,
        recorded: AtomicBool::new(false),
    });
    let claim = Stored {
        fingerprint: print.clone(),
        claim: claimed.claim.clone(),
        claimed_at_ms: now_ms,
        running: true,
        status: None,
        body: Value::Null,
        ttl: claimed.ttl,
    };
    let claim_item = Item::from_record(record_key.clone(), &claim).map_err(Error::from)?;
    // Claim the key: a new record, or one whose holder died before its effect.
    let mut taken = false;
    for _ in 0..3 {
        let cond = match table.get(&record_key).await.map_err(Error::from)? {
            None => Cond::NotExists,
            Some(item) => {
                let stored: Stored = item.record().map_err(Error::from)?;
                if stored.fingerprint != print {
                    return Err(Error::IdempotencyKeyReused.into());
                }
                if let Some(status) = stored.status {
                    return Ok(replay(status, stored.body));
                }
                let held_ms = now_ms - stored.claimed_at_ms;
                if held_ms < LEASE_SECS * 1000 {
                    let left = (LEASE_SECS * 1000 - held_ms + 999) / 1000;
                    return Err(Error::IdempotencyInProgress {
                        retry_after_secs: left.clamp(1, LEASE_SECS) as u64,
                    }
                    .into());
                }
                // Still the dead claim, still running: an answer recorded meanwhile stays.
                Cond::All(vec![
                    Cond::eq("claim", stored.claim.as_str()),
                    Cond::eq("running", true),
                ])
            }
        };
        match table.put(claim_item.clone(), Some(cond)).await {
            Ok(()) => {
                taken = true;
                break;
            }
            // Another request claimed or answered meanwhile: read again.
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(Error::from(e).into()),
        }
    }
    if !taken {
        return Err(Error::IdempotencyInProgress {
            retry_after_secs: 1,
        }
        .into());
    }
    let receipt = Receipt {
        claimed: Some(claimed.clone()),
    };
    // Only a claim still running: an effect whose outcome was unknown to us (a timeout
    // after the commit) may have recorded its answer, which must stay.
    let mine = Some(Cond::All(vec![
        Cond::eq("claim", claimed.claim.as_str()),
        Cond::eq("running", true),
    ]));
    match f(receipt.clone()).await {
        Ok((status, body)) => {
            if !claimed.recorded.load(Ordering::SeqCst) {
                // An effect that took no receipt: its answer is stored after it.
                let write = receipt.write(status, body.clone()).map_err(Error::from)?;
                if let Some(Write::Put { item, cond }) = write
                    && let Err(e) = table.put(item, cond).await
                {
                    tracing::warn!(error = %e, "idempotency answer not stored");
                }
            }
            Ok((status, axum::Json(body)).into_response())
        }
        Err(e) => {
            // Nothing happened, as far as this request knows: free the key for a retry (its
            // lease frees it otherwise). If the claim is no longer running, the effect did
            // happen (a commit whose answer was lost on the way back): that answer is given.
            match table.delete(&record_key, mine).await {
                Ok(()) => Err(e),
                Err(StoreError::ConditionFailed { .. }) => {
                    match table
                        .get(&record_key)
                        .await
                        .map(|item| item.map(|i| i.record::<Stored>()))
                    {
                        Ok(Some(Ok(stored))) if stored.fingerprint == print => {
                            match stored.status {
                                Some(status) => Ok(replay(status, stored.body)),
                                None => Err(e),
                            }
                        }
                        _ => Err(e),
                    }
                }
                Err(release) => {
                    tracing::info!(error = %release, "idempotency claim not released");
                    Err(e)
                }
            }
        }
    }
}
