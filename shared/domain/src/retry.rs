//! The crate's one retry loop: a concurrent change that won, or a store that pushed back,
//! is tried again briefly with jitter, then answered `503` with `Retry-After`.

use std::time::Duration;

use rand::Rng;

use crate::Error;

/// Most tries of one [`retrying`] loop.
pub const RETRY_TRIES: u32 = 6;

/// No new try is begun once this long has passed since the first: with the SDK's own
/// bounded retries under each call (`paspor_adapters::aws`), a throttled booking answers
/// its 503 well inside the request's budget (`paspor_lambda::budget`) instead of using it up.
pub const RETRY_WINDOW: Duration = Duration::from_secs(3);

/// Runs `f` again when a concurrent change won (`Conflict`) or the store pushed back
/// (`Busy`), with a short jittered pause; after a few tries, or once [`RETRY_WINDOW`] has
/// passed, the caller is told to come back (`503` with `Retry-After`) rather than left
/// hanging.
pub async fn retrying<T, F, Fut>(f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    retrying_within(RETRY_WINDOW, f).await
}

/// [`retrying`] with another window (tests).
pub async fn retrying_within<T, F, Fut>(window: Duration, mut f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let started = tokio::time::Instant::now();
    for attempt in 0..RETRY_TRIES {
        match f().await {
            Err(Error::Conflict | Error::Busy { .. })
                if attempt + 1 < RETRY_TRIES && started.elapsed() < window =>
            {
                let base = 5u64 << attempt.min(4);
                let jitter = rand::rngs::OsRng.gen_range(0..=base);
                tokio::time::sleep(Duration::from_millis(base + jitter)).await;
            }
            Err(Error::Conflict) => {
                return Err(Error::Busy {
                    retry_after_secs: 1,
                });
            }
            other => return other,
        }
    }
    Err(Error::Busy {
        retry_after_secs: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_retry_loop_stops_at_its_window() {
        let tries = std::sync::atomic::AtomicU32::new(0);
        let outcome: Result<(), Error> = retrying_within(Duration::from_millis(100), || async {
            tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // A store that takes 60 ms to push back.
            tokio::time::sleep(Duration::from_millis(60)).await;
            Err(Error::Busy {
                retry_after_secs: 1,
            })
        })
        .await;
        assert!(matches!(outcome, Err(Error::Busy { .. })));
        let tries = tries.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            tries <= 3,
            "{tries} tries in a 100 ms window of 60 ms tries"
        );
    }
}
