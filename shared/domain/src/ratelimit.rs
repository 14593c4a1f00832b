//! Rate limits per client address and per account, kept in the table so every Lambda
//! instance counts against the same budget.
//!
//! A fixed window per (rule, subject): one conditional increment, created on first use and
//! forgotten by the table's TTL. The increment is refused once the window's budget is
//! spent, so a refused request writes nothing and costs one failed condition.

use chrono::{DateTime, Utc};

use crate::{
    Error, Ports,
    store::{Cond, Key, StoreError, Update},
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

/// The budgets, generous enough for many people behind one carrier-grade NAT (common on
/// Indonesian mobile networks) and tight enough to stop a script.
pub mod rules {
    use super::Rule;
    pub const SIGN_UP_PER_IP: Rule = Rule::new("signup-ip", 30, 600);
    pub const SIGN_IN_PER_IP: Rule = Rule::new("signin-ip", 60, 60);
    pub const SIGN_IN_PER_ACCOUNT: Rule = Rule::new("signin-account", 20, 600);
    pub const OTP_PER_IP: Rule = Rule::new("otp-ip", 30, 60);
    pub const BOOKING_PER_IP: Rule = Rule::new("booking-ip", 120, 60);
    pub const BOOKING_PER_ACCOUNT: Rule = Rule::new("booking-account", 30, 60);
}

pub struct RateLimiter {
    ports: Ports,
    enabled: bool,
}

impl RateLimiter {
    pub fn new(ports: Ports, enabled: bool) -> Self {
        Self { ports, enabled }
    }

    /// Counts one request of `subject` under `rule`; `RateLimited` once the window is spent.
    pub async fn hit(&self, rule: Rule, subject: &str) -> Result<(), Error> {
        if !self.enabled {
            return Ok(());
        }
        let now = self.ports.clock.now();
        let (key, window_end) = window(rule, subject, now);
        let update = Update::new()
            .add("n", 1)
            // Read by DynamoDB's TTL; the embedded table ignores it (windows are tiny).
            .set("ttl", window_end + 60);
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

/// The window's item and the second it ends.
fn window(rule: Rule, subject: &str, now: DateTime<Utc>) -> (Key, i64) {
    let start = now.timestamp().div_euclid(rule.window_secs) * rule.window_secs;
    (
        Key::new(format!("RATE#{}#{subject}", rule.name), start.to_string()),
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
}
