//! One-time codes: 6 random digits, bound to an email and a purpose, stored only as a
//! keyed hash, valid 10 minutes, single use, void after 5 wrong tries.

use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const VALID_SECS: i64 = 10 * 60;
pub const MAX_ATTEMPTS: u32 = 5;
/// A new code at most every 60 s per email…
pub const COOLDOWN_SECS: i64 = 60;
/// …and at most 10 an hour.
pub const PER_HOUR: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Signup,
    PasswordReset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::PasswordReset => "password_reset",
        }
    }
}

pub fn generate() -> String {
    format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32))
}

/// HMAC-SHA256(key, purpose | email | code): the code is worthless without the key, and a
/// code for one email or purpose does not fit another.
pub fn hash(key: &[u8], email: &str, purpose: Purpose, code: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(purpose.as_str().as_bytes());
    mac.update(b"|");
    mac.update(email.as_bytes());
    mac.update(b"|");
    mac.update(code.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub fn matches(key: &[u8], email: &str, purpose: Purpose, code: &str, stored: &str) -> bool {
    let given = hash(key, email, purpose, code.trim());
    given.as_bytes().ct_eq(stored.as_bytes()).into()
}

/// The limits on sending codes to one email, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendWindow {
    pub last_sent_ms: i64,
    pub window_start_ms: i64,
    pub window_count: u32,
}

impl SendWindow {
    /// The window after sending one more code at `now_ms`, or the seconds to wait.
    pub fn claim(&self, now_ms: i64) -> Result<SendWindow, u64> {
        let since_last = now_ms - self.last_sent_ms;
        if self.last_sent_ms > 0 && since_last < COOLDOWN_SECS * 1000 {
            return Err(ceil_secs(COOLDOWN_SECS * 1000 - since_last));
        }
        let hour = 3_600_000;
        let (start, count) = if now_ms - self.window_start_ms >= hour {
            (now_ms, 0)
        } else {
            (self.window_start_ms, self.window_count)
        };
        if count >= PER_HOUR {
            return Err(ceil_secs(start + hour - now_ms));
        }
        Ok(SendWindow {
            last_sent_ms: now_ms,
            window_start_ms: start,
            window_count: count + 1,
        })
    }
}

fn ceil_secs(ms: i64) -> u64 {
    u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = generate();
            assert_eq!(c.len(), 6);
            assert!(c.chars().all(|d| d.is_ascii_digit()));
        }
    }

    #[test]
    fn hash_is_keyed_and_bound() {
        let h = hash(b"k1", "a@b.co", Purpose::Signup, "123456");
        assert!(!h.contains("123456"));
        assert!(matches(b"k1", "a@b.co", Purpose::Signup, "123456", &h));
        assert!(!matches(b"k2", "a@b.co", Purpose::Signup, "123456", &h));
        assert!(!matches(b"k1", "c@b.co", Purpose::Signup, "123456", &h));
        assert!(!matches(
            b"k1",
            "a@b.co",
            Purpose::PasswordReset,
            "123456",
            &h
        ));
        assert!(!matches(b"k1", "a@b.co", Purpose::Signup, "123457", &h));
    }

    #[test]
    fn send_window() {
        let w = SendWindow::default();
        let t0 = 1_000_000_000;
        let w = w.claim(t0).expect("first send");
        assert_eq!(w.claim(t0 + 30_000), Err(30));
        let mut w = w.claim(t0 + 60_000).expect("after cooldown");
        for i in 2..10 {
            w = w.claim(t0 + i * 60_000).expect("within the hour");
        }
        assert_eq!(w.window_count, 10);
        // The 11th within the same hour waits for the window to end.
        assert_eq!(w.claim(t0 + 10 * 60_000), Err(50 * 60));
        assert!(w.claim(t0 + 3_600_000).is_ok());
    }
}
