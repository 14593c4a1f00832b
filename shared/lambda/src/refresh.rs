//! Secrets that follow a rotation: read at the cold start, then again at most every
//! [`SECRETS_REFRESH`]; when they changed, what was built from them is built again.
//!
//! Without this a warm instance keeps its cold start's keys for hours: after a rotation
//! puts a new token key first, new instances sign tokens the warm ones cannot verify (401),
//! and NIKs sealed under a new key cannot be opened by them. README, "Rotating secrets".

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use paspor_domain::Secrets;
use tokio::{sync::Mutex, time::Instant};

/// How stale an instance's secrets may be. A rotation waits longer than this between its
/// steps (README, "Rotating secrets"); one SSM call per instance per interval costs nothing.
pub const SECRETS_REFRESH: Duration = Duration::from_secs(5 * 60);

/// Reads the secrets as they are now (SSM on Lambda; a fake in tests).
pub type SecretsSource =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Secrets, String>> + Send>> + Send + Sync>;

type Build<T> = Box<dyn Fn(&Secrets) -> T + Send + Sync>;

/// A value built from the secrets (a router over its state, a state, the worker).
pub struct Refreshing<T> {
    current: RwLock<(Secrets, T)>,
    build: Build<T>,
    source: SecretsSource,
    every: Duration,
    /// When the next read is due; locked by the one caller doing it.
    due: Mutex<Instant>,
}

impl<T: Clone> Refreshing<T> {
    pub fn new(
        secrets: Secrets,
        source: SecretsSource,
        every: Duration,
        build: impl Fn(&Secrets) -> T + Send + Sync + 'static,
    ) -> Self {
        let value = build(&secrets);
        Self {
            current: RwLock::new((secrets, value)),
            build: Box::new(build),
            source,
            every,
            due: Mutex::new(Instant::now() + every),
        }
    }

    /// The value for this request, after reading the secrets again if that is due. The
    /// read happens in the request (bounded by the SDK's timeouts and inside the request's
    /// budget), so no request is ever served with secrets older than the interval; on
    /// Lambda a background timer would sleep through the time the instance is frozen.
    pub async fn get(&self) -> T {
        self.refresh_if_due().await;
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone()
    }

    async fn refresh_if_due(&self) {
        // One caller reads; concurrent ones go on with the secrets in use.
        let Ok(mut due) = self.due.try_lock() else {
            return;
        };
        if Instant::now() < *due {
            return;
        }
        // Failed or not, the next read is an interval away: SSM down must not cost every
        // request a call.
        *due = Instant::now() + self.every;
        match (self.source)().await {
            Ok(fresh) => {
                let unchanged = self.current.read().map(|c| c.0 == fresh).unwrap_or(false);
                if !unchanged {
                    let value = (self.build)(&fresh);
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) = (fresh, value);
                    tracing::info!("secrets changed: state rebuilt with the new ones");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "secrets refresh failed; keeping the ones in use");
            }
        }
    }
}
