//! The one composition root: every service built over the same ports, the table sealing
//! personal data. The HTTP state (`paspor_http::AppState`) and the worker both start
//! here, so neither can forget the sealing or bound a knob differently.

use std::sync::Arc;

use crate::{
    Ports, Secrets,
    accounts::{Accounts, AccountsConfig},
    applications::{Applications, DEFAULT_DOCUMENT_RETENTION_DAYS},
    booking::{Booking, BookingConfig},
    operations::Operations,
    payments::Payments,
    quota::Quota,
    ratelimit::{RateLimitConfig, RateLimiter},
    releases::Releases,
    sealed::{self, SealedTable},
};

/// The longest a billing may stay payable: a week.
pub const MAX_PAYMENT_TTL_SECS: i64 = 7 * 24 * 3600;
/// The longest stored objects may be kept: ten years.
pub const MAX_DOCUMENT_RETENTION_DAYS: i64 = 3650;

/// The policy knobs the services take, from flags locally and from the environment on
/// Lambda; out-of-range values are bounded by [`Services::new`].
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    pub booking: BookingConfig,
    pub accounts: AccountsConfig,
    /// Per-address and per-account rate limits.
    pub rate_limits: RateLimitConfig,
    /// Days an application's stored objects are kept after it ends, or after a draft was
    /// last touched.
    pub document_retention_days: i64,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        Self {
            booking: BookingConfig::default(),
            accounts: AccountsConfig::default(),
            rate_limits: RateLimitConfig::default(),
            document_retention_days: DEFAULT_DOCUMENT_RETENTION_DAYS,
        }
    }
}

/// Every service, sharing one set of ports.
#[derive(Clone)]
pub struct Services {
    /// The ports the services were built over: the table seals personal data.
    pub ports: Ports,
    /// The sealing table itself, for the re-seal after a NIK-key rotation.
    pub sealed: Arc<SealedTable>,
    pub accounts: Arc<Accounts>,
    pub applications: Arc<Applications>,
    pub quota: Arc<Quota>,
    pub booking: Arc<Booking>,
    pub payments: Arc<Payments>,
    pub operations: Arc<Operations>,
    pub releases: Arc<Releases>,
    pub limits: Arc<RateLimiter>,
}

impl ServicesConfig {
    /// The knobs within their bounds, so no deadline arithmetic overflows whatever a flag
    /// or variable said: a billing payable for 1 s to a week, objects kept 0 to 3650 days.
    pub fn bounded(mut self) -> Self {
        self.booking.payment_ttl_secs =
            self.booking.payment_ttl_secs.clamp(1, MAX_PAYMENT_TTL_SECS);
        self.document_retention_days = self
            .document_retention_days
            .clamp(0, MAX_DOCUMENT_RETENTION_DAYS);
        self
    }
}

impl Services {
    pub fn new(ports: Ports, secrets: &Secrets, config: ServicesConfig) -> Self {
        let config = config.bounded();
        // Personal data is sealed on its way into the table, whatever the backend.
        let (ports, sealed) = sealed::seal_keeping(&ports, secrets);
        let applications = Arc::new(
            Applications::new(ports.clone(), secrets)
                .with_document_retention_days(config.document_retention_days),
        );
        let quota = Arc::new(Quota::new(ports.clone(), config.booking.clone()));
        let booking = Arc::new(Booking::new(
            ports.clone(),
            applications.clone(),
            quota.clone(),
            config.booking,
        ));
        Self {
            accounts: Arc::new(Accounts::new(ports.clone(), secrets, config.accounts)),
            operations: Arc::new(Operations::new(
                ports.clone(),
                applications.clone(),
                quota.clone(),
            )),
            payments: Arc::new(Payments::new(ports.clone(), applications.clone())),
            releases: Arc::new(Releases::new(
                ports.clone(),
                applications.clone(),
                quota.clone(),
            )),
            limits: Arc::new(RateLimiter::new(ports.clone(), secrets, config.rate_limits)),
            booking,
            quota,
            applications,
            sealed,
            ports,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_out_of_range_are_bounded() {
        let mut high = ServicesConfig::default();
        high.booking.payment_ttl_secs = i64::MAX;
        high.document_retention_days = i64::MAX;
        let high = high.bounded();
        assert_eq!(high.booking.payment_ttl_secs, MAX_PAYMENT_TTL_SECS);
        assert_eq!(high.document_retention_days, MAX_DOCUMENT_RETENTION_DAYS);

        let mut low = ServicesConfig::default();
        low.booking.payment_ttl_secs = 0;
        low.document_retention_days = -1;
        let low = low.bounded();
        assert_eq!(low.booking.payment_ttl_secs, 1);
        assert_eq!(low.document_retention_days, 0);
    }

    #[test]
    fn defaults_are_within_bounds() {
        let config = ServicesConfig::default();
        let bounded = config.clone().bounded();
        assert_eq!(
            (
                config.booking.payment_ttl_secs,
                config.document_retention_days
            ),
            (
                bounded.booking.payment_ttl_secs,
                bounded.document_retention_days
            )
        );
    }
}
