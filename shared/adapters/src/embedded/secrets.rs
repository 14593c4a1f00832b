//! The local server's keys: generated once, kept in the data directory (mode 0600), so
//! tokens stay valid across a restart.

use std::path::Path;

use paspor_domain::Secrets;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::EmbeddedError;

/// Every key as text (hex), as SSM holds them on AWS; read by [`Secrets::from_text`].
#[derive(Serialize, Deserialize)]
struct Stored {
    token_key: String,
    otp_key: String,
    /// Seals NIKs at rest; folders made before it existed get one on their next start.
    #[serde(default)]
    nik_key: Option<String>,
    /// Names the NIK locks. A folder from before it existed named them with its OTP key,
    /// which it keeps doing, so the locks of its applications in progress are still found.
    #[serde(default)]
    nik_lock_key: Option<String>,
    /// Signs the local upload target's forms (S3 signs with AWS credentials instead).
    upload_key: String,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Loads the keys from `secrets.json` in the data directory, creating it on first start.
/// Webhook secrets come from the caller's configuration.
pub fn load_or_create_secrets(
    data_dir: &Path,
    webhook_secrets: Vec<Vec<u8>>,
) -> Result<(Secrets, Vec<u8>), EmbeddedError> {
    let path = data_dir.join("secrets.json");
    let bad = |e: String| EmbeddedError::Other(format!("{}: {e}", path.display()));
    let mut stored: Stored = match std::fs::read(&path) {
        Ok(raw) => serde_json::from_slice(&raw).map_err(|e| bad(e.to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let stored = Stored {
                token_key: random_hex(),
                otp_key: random_hex(),
                nik_key: Some(random_hex()),
                nik_lock_key: Some(random_hex()),
                upload_key: random_hex(),
            };
            write_private(&path, &to_json(&stored)?, true)?;
            stored
        }
        Err(e) => return Err(e.into()),
    };
    if stored.nik_key.is_none() || stored.nik_lock_key.is_none() {
        stored.nik_key.get_or_insert_with(random_hex);
        stored
            .nik_lock_key
            .get_or_insert_with(|| stored.otp_key.clone());
        write_private(&path, &to_json(&stored)?, false)?;
    }
    let secrets = Secrets::from_text(
        &stored.token_key,
        &stored.otp_key,
        stored.nik_key.as_deref().unwrap_or_default(),
        stored.nik_lock_key.as_deref().unwrap_or_default(),
        webhook_secrets,
    )
    .map_err(bad)?;
    let upload_key = paspor_domain::ports::parse_keys("upload_key", &stored.upload_key)
        .map_err(bad)?
        .swap_remove(0);
    Ok((secrets, upload_key))
}

fn to_json(stored: &Stored) -> Result<Vec<u8>, EmbeddedError> {
    serde_json::to_vec_pretty(stored).map_err(|e| EmbeddedError::Other(e.to_string()))
}

/// Writes the keys readable by their owner only: a new file, or (`new` false) a complete
/// replacement renamed over the old one, so a crash never leaves half a file.
#[cfg(unix)]
pub(super) fn write_private(path: &Path, raw: &[u8], new: bool) -> Result<(), EmbeddedError> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let target = if new {
        path.to_path_buf()
    } else {
        path.with_extension("json.new")
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(new)
        .mode(0o600)
        .open(&target)?;
    f.write_all(raw)?;
    f.sync_all()?;
    if !new {
        std::fs::rename(&target, path)?;
    }
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn write_private(path: &Path, raw: &[u8], _new: bool) -> Result<(), EmbeddedError> {
    Ok(std::fs::write(path, raw)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_text_and_a_short_one_is_refused_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, _) = load_or_create_secrets(dir.path(), vec![]).expect("create");
        assert_eq!(first.token_keys.len(), 1);
        assert_eq!(first.token_keys[0].len(), 32);
        let (again, _) = load_or_create_secrets(dir.path(), vec![]).expect("reload");
        assert_eq!(again.token_keys, first.token_keys);
        assert_eq!(again.nik_keys, first.nik_keys);
        // A key of 16 bytes (or a 1-2 byte fragment) never verifies anything: start fails.
        let path = dir.path().join("secrets.json");
        let mut stored: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        stored["token_key"] = serde_json::json!(format!("{},{}", "ab".repeat(32), "cd".repeat(16)));
        std::fs::write(&path, stored.to_string()).expect("write");
        let e = load_or_create_secrets(dir.path(), vec![]).expect_err("short key");
        assert!(e.to_string().contains("16 bytes"), "{e}");
    }

    /// A random key whose bytes hold 0x2C (`,`) once split into fragments, each of which
    /// verified tokens: one byte is forged in 256 tries.
    #[test]
    fn a_key_holding_a_comma_byte_is_one_key() {
        use paspor_domain::tokens::{Claims, TokenKeys};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.json");
        let key = format!("01{}", "2c".repeat(31));
        let stored = serde_json::json!({"token_key": key, "otp_key": "22".repeat(32), "nik_key": "44".repeat(32), "upload_key": "33".repeat(32)});
        std::fs::write(&path, stored.to_string()).expect("write");
        let (secrets, _) = load_or_create_secrets(dir.path(), vec![]).expect("load");
        let genuine = TokenKeys::new(&secrets.token_keys);
        let claims = Claims {
            sub: "acc".into(),
            sid: "s".into(),
            iat_ms: 0,
            exp: i64::MAX / 1000,
            typ: "access".into(),
        };
        let forged = TokenKeys::new(&[vec![0x01]]).issue(&claims).expect("issue");
        assert_eq!(genuine.verify(&forged, 0), None);
        let real = genuine.issue(&claims).expect("issue");
        assert_eq!(genuine.verify(&real, 0), Some(claims));
    }

    #[test]
    fn a_folder_from_before_nik_keys_gets_one_and_keeps_its_other_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.json");
        let old = serde_json::json!({"token_key": "11".repeat(32), "otp_key": "22".repeat(32), "upload_key": "33".repeat(32)});
        std::fs::write(&path, old.to_string()).expect("write");
        let (secrets, upload) = load_or_create_secrets(dir.path(), vec![]).expect("load");
        assert_eq!(secrets.token_keys, vec![vec![0x11; 32]]);
        assert_eq!(upload, vec![0x33; 32]);
        let (reloaded, _) = load_or_create_secrets(dir.path(), vec![]).expect("reload");
        assert_eq!(reloaded.nik_keys, secrets.nik_keys);
        // Its NIK locks keep the names its OTP key gave them (as before NIK keys existed).
        assert_eq!(reloaded.nik_lock_key, vec![0x22; 32]);
        assert_eq!(secrets.otp_key, vec![0x22; 32]);
    }
}
