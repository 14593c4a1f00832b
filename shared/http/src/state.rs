//! The state every router shares, built once per process (per cold start on Lambda).

use std::{sync::Arc, time::Duration};

use paspor_domain::{
    Ports, Secrets,
    accounts::{Accounts, AccountsConfig},
    applications::Applications,
    booking::{Booking, BookingConfig},
    operations::Operations,
    payments::Payments,
    ratelimit::{
        DEFAULT_ADDRESS_PER_MINUTE, DEFAULT_EMAIL_ADDRESS_PER_MINUTE, RateLimitConfig, RateLimiter,
    },
};

/// Policy knobs, from flags locally and from the environment on Lambda.
#[derive(Debug, Clone)]
pub struct Settings {
    pub booking: BookingConfig,
    /// The local server's operator token; on AWS operators sign requests with IAM instead.
    pub ops_token: Option<String>,
    /// Per-address and per-account rate limits (`PASPOR_RATE_LIMITS=off` turns them off,
    /// for the contract fuzzer and load benchmarks that come from one address on purpose).
    pub rate_limits: bool,
    /// Requests a minute from one client address to one family of routes
    /// (`PASPOR_ADDRESS_LIMIT_PER_MINUTE`): an abuse ceiling, sized in SECURITY.md.
    pub address_limit_per_minute: i64,
    /// The same for the routes that send email, lower
    /// (`PASPOR_EMAIL_ADDRESS_LIMIT_PER_MINUTE`).
    pub email_address_limit_per_minute: i64,
    /// Days an application's stored objects are kept after it ends, or after a draft was
    /// last touched (`PASPOR_DOCUMENT_RETENTION_DAYS`).
    pub document_retention_days: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            booking: BookingConfig::default(),
            ops_token: None,
            rate_limits: true,
            address_limit_per_minute: DEFAULT_ADDRESS_PER_MINUTE,
            email_address_limit_per_minute: DEFAULT_EMAIL_ADDRESS_PER_MINUTE,
            document_retention_days: paspor_domain::applications::DEFAULT_DOCUMENT_RETENTION_DAYS,
        }
    }
}

impl Settings {
    /// `PASPOR_PAYMENT_TTL_SECS`, `PASPOR_AVAILABILITY_TTL_MS`, `PASPOR_RATE_LIMITS` and
    /// `PASPOR_ADDRESS_LIMIT_PER_MINUTE`, where set.
    pub fn from_env() -> Self {
        let mut s = Self::default();
        let num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        if let Some(secs) = num("PASPOR_PAYMENT_TTL_SECS") {
            s.booking.payment_ttl_secs = i64::try_from(secs).unwrap_or(i64::MAX);
        }
        if let Some(ms) = num("PASPOR_AVAILABILITY_TTL_MS") {
            s.booking.availability_ttl = Duration::from_millis(ms);
        }
        if let Some(days) = num("PASPOR_DOCUMENT_RETENTION_DAYS") {
            s.document_retention_days = i64::try_from(days).unwrap_or(i64::MAX);
        }
        if let Some(n) = num("PASPOR_ADDRESS_LIMIT_PER_MINUTE") {
            s.address_limit_per_minute = i64::try_from(n).unwrap_or(i64::MAX);
        }
        if let Some(n) = num("PASPOR_EMAIL_ADDRESS_LIMIT_PER_MINUTE") {
            s.email_address_limit_per_minute = i64::try_from(n).unwrap_or(i64::MAX);
        }
        s.rate_limits = rate_limits_on(std::env::var("PASPOR_RATE_LIMITS").ok().as_deref());
        s
    }
}

/// Rate limits are on unless explicitly turned off.
pub fn rate_limits_on(setting: Option<&str>) -> bool {
    !matches!(setting.map(str::trim), Some("off" | "false" | "0"))
}

#[derive(Clone)]
pub struct AppState {
    pub ports: Ports,
    pub accounts: Arc<Accounts>,
    pub applications: Arc<Applications>,
    pub booking: Arc<Booking>,
    pub payments: Arc<Payments>,
    /// The payment channels' webhook secrets (several during a rotation).
    pub webhook_secrets: Arc<Vec<Vec<u8>>>,
    pub operations: Arc<Operations>,
    pub ops_token: Option<Arc<str>>,
    pub limits: Arc<RateLimiter>,
    /// The table as it seals personal data, for the re-seal after a NIK-key rotation.
    pub sealed: Arc<paspor_domain::sealed::SealedTable>,
}

impl AppState {
    pub fn new(ports: Ports, secrets: &Secrets, mut settings: Settings) -> Self {
        // Knobs from the environment or flags, bounded so no deadline arithmetic overflows:
        // a billing payable for at most a week, documents kept at most ten years.
        settings.booking.payment_ttl_secs =
            settings.booking.payment_ttl_secs.clamp(1, 7 * 24 * 3600);
        settings.document_retention_days = settings.document_retention_days.clamp(0, 3650);
        // Personal data is sealed on its way into the table, whatever the backend.
        let (ports, sealed) = paspor_domain::sealed::seal_keeping(&ports, secrets);
        let applications = Arc::new(
            Applications::new(ports.clone(), secrets)
                .with_document_retention_days(settings.document_retention_days),
        );
        let booking = Arc::new(Booking::new(
            ports.clone(),
            applications.clone(),
            settings.booking,
        ));
        Self {
            accounts: Arc::new(Accounts::new(
                ports.clone(),
                secrets,
                AccountsConfig::default(),
            )),
            operations: Arc::new(Operations::new(
                ports.clone(),
                applications.clone(),
                booking.clone(),
            )),
            ops_token: settings.ops_token.filter(|t| !t.is_empty()).map(Arc::from),
            limits: Arc::new(RateLimiter::new(
                ports.clone(),
                secrets,
                RateLimitConfig {
                    enabled: settings.rate_limits,
                    address_per_minute: settings.address_limit_per_minute,
                    email_address_per_minute: settings.email_address_limit_per_minute,
                },
            )),
            booking,
            payments: Arc::new(Payments::new(ports.clone(), applications.clone())),
            webhook_secrets: Arc::new(secrets.webhook_secrets.clone()),
            applications,
            ports,
            sealed,
        }
    }
}
