//! The state every router shares, built once per process (per cold start on Lambda).

use std::{sync::Arc, time::Duration};

use paspor_domain::{Ports, Secrets, Services, ServicesConfig};

/// Policy knobs, from flags locally and from the environment on Lambda.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// What the services take (bounded where they are built, [`Services::new`]).
    pub services: ServicesConfig,
    /// The local server's operator token; on AWS operators sign requests with IAM instead.
    pub ops_token: Option<String>,
}

impl Settings {
    /// Each knob from its variable, where set:
    /// - `PASPOR_PAYMENT_TTL_SECS`: how long a billing stays payable;
    /// - `PASPOR_AVAILABILITY_TTL_MS`: how long an availability answer is served from memory;
    /// - `PASPOR_DOCUMENT_RETENTION_DAYS`: days an application's stored objects are kept
    ///   after it ends, or after a draft was last touched;
    /// - `PASPOR_RATE_LIMITS=off` turns the per-address and per-account limits off (for
    ///   the contract fuzzer and load benchmarks that come from one address on purpose);
    /// - `PASPOR_ADDRESS_LIMIT_PER_MINUTE`: requests a minute from one client address to
    ///   one family of routes, an abuse ceiling sized in SECURITY.md;
    /// - `PASPOR_EMAIL_ADDRESS_LIMIT_PER_MINUTE`: the same for the routes that send email.
    pub fn from_env() -> Self {
        let mut s = Self::default();
        let c = &mut s.services;
        let num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        if let Some(secs) = num("PASPOR_PAYMENT_TTL_SECS") {
            c.booking.payment_ttl_secs = i64::try_from(secs).unwrap_or(i64::MAX);
        }
        if let Some(ms) = num("PASPOR_AVAILABILITY_TTL_MS") {
            c.booking.availability_ttl = Duration::from_millis(ms);
        }
        if let Some(days) = num("PASPOR_DOCUMENT_RETENTION_DAYS") {
            c.document_retention_days = i64::try_from(days).unwrap_or(i64::MAX);
        }
        if let Some(n) = num("PASPOR_ADDRESS_LIMIT_PER_MINUTE") {
            c.rate_limits.address_per_minute = i64::try_from(n).unwrap_or(i64::MAX);
        }
        if let Some(n) = num("PASPOR_EMAIL_ADDRESS_LIMIT_PER_MINUTE") {
            c.rate_limits.email_address_per_minute = i64::try_from(n).unwrap_or(i64::MAX);
        }
        c.rate_limits.enabled = rate_limits_on(std::env::var("PASPOR_RATE_LIMITS").ok().as_deref());
        s
    }
}

/// Rate limits are on unless explicitly turned off.
pub fn rate_limits_on(setting: Option<&str>) -> bool {
    !matches!(setting.map(str::trim), Some("off" | "false" | "0"))
}

/// What every handler reads: the services, and the two things only the edge needs.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    /// The payment channels' webhook secrets (several during a rotation).
    pub webhook_secrets: Arc<Vec<Vec<u8>>>,
    pub ops_token: Option<Arc<str>>,
}

impl AppState {
    pub fn new(ports: Ports, secrets: &Secrets, settings: Settings) -> Self {
        Self {
            services: Services::new(ports, secrets, settings.services),
            webhook_secrets: Arc::new(secrets.webhook_secrets.clone()),
            ops_token: settings.ops_token.filter(|t| !t.is_empty()).map(Arc::from),
        }
    }
}

/// `state.booking`, `state.ports`, …: a handler reaches the services directly.
impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
