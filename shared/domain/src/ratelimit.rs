//! Rate limits per account (and login) and per client address, kept in the table so every
//! Lambda instance counts against the same budget.
//!
//! A fixed window per (rule, subject): one conditional increment, created on first use and
//! forgotten by the table's TTL. The increment is refused once the window's budget is
//! spent, so a refused request writes nothing and costs one failed condition.
//!
//! Per account and per login are the guard that stops a script. Per address is only an
//! abuse ceiling: many thousands of people share one public address behind a mobile
//! carrier's NAT, so its budget is sized from their peak (SECURITY.md, "Rate limits") and
//! spread over shards, so that one address is not one hot item. Floods from one address
//! are the edge's job (API Gateway's throttling, see the template), where they cost no
//! writes.
//!
//! Subjects are stored as a keyed hash: the table holds no client address or email.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use crate::{
    Error, Ports, Secrets,
    store::{Cond, Key, StoreError, TTL_ATTR, Update},
};

/// A budget: at most `limit` requests per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub limit: i64,
    pub window_secs: i64,
}

impl Rule {
    pub const fn new(name: &'static str, limit: i64, window_secs: i64) -> Self {
        Self {
            name,
            limit,
            window_secs,
        }
    }
}

/// A per-address ceiling on one family of routes; its budget is the deployment's
/// [`RateLimitConfig::address_per_minute`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRule {
    pub name: &'static str,
    /// Each request sends an email (and hashes a password): held to the lower
    /// [`RateLimitConfig::email_address_per_minute`], which guards the mail service's
    /// quota and reputation.
    pub sends_email: bool,
}

/// Requests a minute from one public address to one family of routes before it is refused
/// (SECURITY.md, "Rate limits", has the reasoning).
pub const DEFAULT_ADDRESS_PER_MINUTE: i64 = 3000;
/// The same for the routes that send email (sign-up and the code routes).
pub const DEFAULT_EMAIL_ADDRESS_PER_MINUTE: i64 = 300;
const ADDRESS_WINDOW_SECS: i64 = 60;
/// At most this many items per address and window; a request counts in one at random.
const ADDRESS_SHARDS: i64 = 10;
/// Ceilings too small to share out stay in fewer shards (exact, as the tests' are).
const MIN_PER_SHARD: i64 = 100;

/// The budgets per account and login: what one person does, with room to spare.
pub mod rules {
    use super::{AddressRule, Rule};
    pub const SIGN_IN_PER_ACCOUNT: Rule = Rule::new("signin-account", 20, 600);
    pub const BOOKING_PER_ACCOUNT: Rule = Rule::new("booking-account", 30, 60);
    pub const SIGN_UP_PER_IP: AddressRule = AddressRule {
        name: "signup-ip",
        sends_email: true,
    };
    pub const SIGN_IN_PER_IP: AddressRule = AddressRule {
        name: "signin-ip",
        sends_email: false,
    };
    pub const OTP_PER_IP: AddressRule = AddressRule {
        name: "otp-ip",
        sends_email: true,
    };
    pub const BOOKING_PER_IP: AddressRule = AddressRule {
        name: "booking-ip",
        sends_email: false,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Off only for the contract fuzzer and load benchmarks, which come from one address.
    pub enabled: bool,
    pub address_per_minute: i64,
    pub email_address_per_minute: i64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            address_per_minute: DEFAULT_ADDRESS_PER_MINUTE,
            email_address_per_minute: DEFAULT_EMAIL_ADDRESS_PER_MINUTE,
        }
    }
}

/// Keyed hashes of subjects (128 bits, hex): stable per deployment, telling nothing of
/// the address or login they stand for.
struct Subjects {
    key: Vec<u8>,
}

impl Subjects {
    fn new(secrets: &Secrets) -> Self {
        // Its own key, derived under its own label (as the sealing key is): no new secret.
        Self {
            key: hmac(&secrets.otp_key, b"paspor rate-limit subjects v1")[..].to_vec(),
        }
    }

    fn hash(&self, subject: &str) -> String {
        hex::encode(&hmac(&self.key, subject.as_bytes())[..16])
    }
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

pub struct RateLimiter {
    ports: Ports,
    config: RateLimitConfig,
    subjects: Subjects,
}

impl RateLimiter {
    pub fn new(ports: Ports, secrets: &Secrets, config: RateLimitConfig) -> Self {
        Self {
            ports,
            config,
            subjects: Subjects::new(secrets),
        }
    }

    /// Counts one request of `subject` (an account or a login) under `rule`;
    /// `RateLimited` once the window is spent.
    pub async fn hit(&self, rule: Rule, subject: &str) -> Result<(), Error> {
        if !self.config.enabled {
            return Ok(());
        }
        self.count(rule, &self.subjects.hash(subject)).await
    }

    /// Counts one request from the client address `ip` under the deployment's per-address
    /// ceiling, in one of the address's shards.
    pub async fn hit_address(&self, rule: AddressRule, ip: &str) -> Result<(), Error> {
        if !self.config.enabled {
            return Ok(());
        }
        let ceiling = if rule.sends_email {
            self.config.email_address_per_minute
        } else {
            self.config.address_per_minute
        };
        let (shards, per_shard) = shares(ceiling);
        let shard = rand::rngs::OsRng.gen_range(0..shards);
        let subject = format!("{}#{shard}", self.subjects.hash(ip));
        self.count(
            Rule::new(rule.name, per_shard, ADDRESS_WINDOW_SECS),
            &subject,
        )
        .await
    }

    async fn count(&self, rule: Rule, subject: &str) -> Result<(), Error> {
        let now = self.ports.clock.now();
        let (key, window_end) = window(rule, subject, now);
        let update = Update::new()
            .add("n", 1)
            // Absent on both backends past it (the port's time to live); a window's count
            // never needs it, each window being its own key.
            .set(TTL_ATTR, window_end + 60);
        let cond = Cond::Any(vec![
            Cond::NotExists,
            Cond::LessThanValue("n".into(), rule.limit),
        ]);
        match self.ports.table.update(&key, update, Some(cond)).await {
            Ok(_) => Ok(()),
            Err(StoreError::ConditionFailed { .. }) => {
                tracing::warn!(rule = rule.name, "rate limited");
                Err(Error::RateLimited {
                    retry_after_secs: (window_end - now.timestamp()).max(1) as u64,
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// How many shards a per-address ceiling is spread over, and each one's budget (their sum
/// never exceeds the ceiling).
fn shares(ceiling: i64) -> (i64, i64) {
    let ceiling = ceiling.max(1);
    let shards = (ceiling / MIN_PER_SHARD).clamp(1, ADDRESS_SHARDS);
    (shards, ceiling / shards)
}

/// The window's item and the second it ends.
fn window(rule: Rule, subject: &str, now: DateTime<Utc>) -> (Key, i64) {
    let start = now.timestamp().div_euclid(rule.window_secs) * rule.window_secs;
    (
        crate::repo::keys::rate_window(rule.name, subject, start),
        start + rule.window_secs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn windows_align_and_end() {
        let rule = Rule::new("r", 1, 60);
        let at = |s| Utc.timestamp_opt(s, 0).single().expect("time");
        let (k1, end1) = window(rule, "x", at(120));
        let (k2, end2) = window(rule, "x", at(179));
        let (k3, _) = window(rule, "x", at(180));
        assert_eq!(k1, k2);
        assert_eq!(end1, 180);
        assert_eq!(end2, 180);
        assert_ne!(k1, k3);
        assert_eq!(k1.pk, "RATE#r#x");
    }

    #[test]
    fn address_ceilings_spread_over_shards() {
        assert_eq!(shares(DEFAULT_ADDRESS_PER_MINUTE), (10, 300));
        assert_eq!(shares(30), (1, 30));
        assert_eq!(shares(250), (2, 125));
        assert_eq!(shares(0), (1, 1));
        for ceiling in [1, 99, 101, 999, 3001, 1_000_000] {
            let (n, each) = shares(ceiling);
            assert!(n * each <= ceiling && ceiling - n * each < n, "{ceiling}");
        }
    }

    fn secrets(otp_key: &[u8]) -> Secrets {
        Secrets {
            token_keys: vec![b"token-key".to_vec()],
            otp_key: otp_key.to_vec(),
            nik_keys: vec![b"nik-key".to_vec()],
            nik_lock_key: b"nik-lock-key".to_vec(),
            webhook_secrets: vec![],
        }
    }

    #[test]
    fn window_keys_hold_no_address_or_login() {
        let subjects = Subjects::new(&secrets(b"otp-key-of-this-deployment"));
        let now = Utc.timestamp_opt(1_800_000_000, 0).single().expect("time");
        for clear in ["203.0.113.7", "2001:db8::1", "siti@example.com"] {
            let hashed = subjects.hash(clear);
            let (key, _) = window(
                Rule::new(rules::BOOKING_PER_IP.name, 300, 60),
                &format!("{hashed}#3"),
                now,
            );
            for part in [&key.pk, &key.sk] {
                assert!(!part.contains(clear), "{part}");
            }
            assert_eq!(hashed.len(), 32);
            // Stable within a deployment (one budget), different in another.
            assert_eq!(hashed, subjects.hash(clear));
            assert_ne!(hashed, Subjects::new(&secrets(b"elsewhere")).hash(clear));
        }
        assert_ne!(subjects.hash("203.0.113.7"), subjects.hash("203.0.113.8"));
    }
}
