//! The local server's keys: generated once, kept in the data directory (mode 0600), so
//! tokens stay valid across a restart.

use std::path::Path;

use paspor_domain::Secrets;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::EmbeddedError;

#[derive(Serialize, Deserialize)]
struct Stored {
    token_key: String,
    otp_key: String,
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
    let stored: Stored = match std::fs::read(&path) {
        Ok(raw) => serde_json::from_slice(&raw)
            .map_err(|e| EmbeddedError::Other(format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let stored = Stored {
                token_key: random_hex(),
                otp_key: random_hex(),
                upload_key: random_hex(),
            };
            let raw = serde_json::to_vec_pretty(&stored)
                .map_err(|e| EmbeddedError::Other(e.to_string()))?;
            write_private(&path, &raw)?;
            stored
        }
        Err(e) => return Err(e.into()),
    };
    let decode = |s: &str| {
        hex::decode(s).map_err(|e| EmbeddedError::Other(format!("{}: {e}", path.display())))
    };
    let secrets = Secrets {
        token_key: decode(&stored.token_key)?,
        otp_key: decode(&stored.otp_key)?,
        webhook_secrets,
    };
    Ok((secrets, decode(&stored.upload_key)?))
}

#[cfg(unix)]
pub(super) fn write_private(path: &Path, raw: &[u8]) -> Result<(), EmbeddedError> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(raw)?;
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn write_private(path: &Path, raw: &[u8]) -> Result<(), EmbeddedError> {
    Ok(std::fs::write(path, raw)?)
}
