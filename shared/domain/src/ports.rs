//! Everything a service needs from the outside world, built once per process.

use std::sync::Arc;

use crate::{clock::Clock, documents::DocumentStore, jobs::JobQueue, mail::Mailer, store::Table};

#[derive(Clone)]
pub struct Ports {
    pub table: Arc<dyn Table>,
    pub queue: Arc<dyn JobQueue>,
    pub mailer: Arc<dyn Mailer>,
    pub documents: Arc<dyn DocumentStore>,
    pub clock: Arc<dyn Clock>,
}

/// Keys that sign, hash and seal. On AWS they come from SSM Parameter Store; the local
/// server generates its own once and keeps them in its data directory. Both store them as
/// text (hex or base64, comma separated where several are valid at once) and read them with
/// [`Secrets::from_text`], which refuses a key shorter than [`MIN_KEY_BYTES`].
/// Compared (not in constant time: both sides are ours) to see whether a refresh changed them.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    /// Sign access tokens (HMAC-SHA256), newest first: the newest signs, every one verifies.
    pub token_keys: Vec<Vec<u8>>,
    /// Keys the OTP hashes, so a leaked table reveals no code.
    pub otp_key: Vec<u8>,
    /// Seal NIKs at rest (AES-256-GCM), newest first: the newest seals, each sealed value
    /// names the key that opens it.
    pub nik_keys: Vec<Vec<u8>>,
    /// Names the one-NIK-one-application locks (a keyed hash of the NIK). Never rotated:
    /// the locks of the applications in progress are found by it.
    pub nik_lock_key: Vec<u8>,
    /// Payment channels' webhook secrets; several are valid at once during a rotation.
    pub webhook_secrets: Vec<Vec<u8>>,
}

/// The shortest key accepted: 256 bits.
pub const MIN_KEY_BYTES: usize = 32;

impl Secrets {
    /// The keys as stored (text), checked: every key decodes and is long enough.
    pub fn from_text(
        token_keys: &str,
        otp_key: &str,
        nik_keys: &str,
        nik_lock_key: &str,
        webhook_secrets: Vec<Vec<u8>>,
    ) -> Result<Self, String> {
        Ok(Self {
            token_keys: parse_keys("token-key", token_keys)?,
            otp_key: one_key("otp-key", otp_key)?,
            nik_keys: parse_keys("nik-key", nik_keys)?,
            nik_lock_key: one_key("nik-lock-key", nik_lock_key)?,
            webhook_secrets,
        })
    }
}

/// Exactly one key, as [`parse_keys`] reads it.
pub fn one_key(name: &str, text: &str) -> Result<Vec<u8>, String> {
    let mut keys = parse_keys(name, text)?;
    if keys.len() != 1 {
        return Err(format!("{name}: exactly one key"));
    }
    Ok(keys.swap_remove(0))
}

/// Comma-separated keys, each hex or (standard, padded) base64, each at least
/// [`MIN_KEY_BYTES`] once decoded. The separator is text, so no key's bytes can split it.
pub fn parse_keys(name: &str, text: &str) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine;
    let keys = text
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
        .map(|(i, k)| {
            let bytes = if k.len() % 2 == 0 && k.bytes().all(|b| b.is_ascii_hexdigit()) {
                hex::decode(k).map_err(|e| e.to_string())
            } else {
                base64::engine::general_purpose::STANDARD
                    .decode(k)
                    .map_err(|e| e.to_string())
            }
            .map_err(|e| format!("{name}: key {} is neither hex nor base64 ({e})", i + 1))?;
            if bytes.len() < MIN_KEY_BYTES {
                return Err(format!(
                    "{name}: key {} has {} bytes; at least {MIN_KEY_BYTES} are needed",
                    i + 1,
                    bytes.len()
                ));
            }
            Ok(bytes)
        })
        .collect::<Result<Vec<_>, String>>()?;
    if keys.is_empty() {
        return Err(format!("{name}: no key"));
    }
    Ok(keys)
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_text_and_long_enough() {
        let a = "ab".repeat(32);
        let b = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 48]);
        let keys = parse_keys("k", &format!(" {a} ,{b}")).expect("two keys");
        assert_eq!(keys, vec![vec![0xab; 32], vec![7u8; 48]]);
        // A raw key whose bytes hold a comma is not text: refused, never split.
        assert!(parse_keys("k", "\u{1}\u{2},\u{3}").is_err());
        let short = "ab".repeat(31);
        let e = parse_keys("token-key", &format!("{a},{short}")).expect_err("short");
        assert!(e.contains("token-key") && e.contains("31 bytes"), "{e}");
        assert!(parse_keys("k", " , ").is_err());
        assert!(parse_keys("k", "not a key!").is_err());
        assert!(Secrets::from_text(&a, &format!("{a},{a}"), &a, &a, vec![]).is_err());
        assert!(Secrets::from_text(&a, &a, &a, &format!("{a},{a}"), vec![]).is_err());
        assert!(Secrets::from_text(&a, &a, &a, &a, vec![]).is_ok());
    }
}
