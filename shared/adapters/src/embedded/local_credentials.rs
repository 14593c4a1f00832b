//! The local server's operator token and payment webhook secret: generated once per data
//! directory and kept in `local-credentials.json` (mode 0600), so no two folders share a
//! credential and none is a public string. Flags and environment variables still override.
//! (A file of its own beside `secrets.json`: these are shared with people and scripts,
//! the keys there never leave the server.)

use std::path::{Path, PathBuf};

use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{EmbeddedError, secrets::write_private};

pub const LOCAL_CREDENTIALS_FILE: &str = "local-credentials.json";

#[derive(Clone, Serialize, Deserialize)]
pub struct LocalCredentials {
    /// The operators' bearer token for `/v1/ops/`.
    pub ops_token: String,
    /// Signs the payment channel's notifications.
    pub webhook_secret: String,
}

impl std::fmt::Debug for LocalCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalCredentials { .. }")
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Loads the credentials from the data directory, creating them on first start; answers
/// them and the file's path (to tell people where to look, never what is inside).
pub fn load_or_create_local_credentials(
    data_dir: &Path,
) -> Result<(LocalCredentials, PathBuf), EmbeddedError> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(LOCAL_CREDENTIALS_FILE);
    let credentials = match std::fs::read(&path) {
        Ok(raw) => serde_json::from_slice(&raw)
            .map_err(|e| EmbeddedError::Other(format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fresh = LocalCredentials {
                ops_token: random_token(),
                webhook_secret: random_token(),
            };
            let raw = serde_json::to_vec_pretty(&fresh)
                .map_err(|e| EmbeddedError::Other(e.to_string()))?;
            write_private(&path, &raw, true)?;
            fresh
        }
        Err(e) => return Err(e.into()),
    };
    Ok((credentials, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_per_folder_and_kept() {
        let (a, b) = (
            tempfile::tempdir().expect("tempdir"),
            tempfile::tempdir().expect("tempdir"),
        );
        let (first, path) = load_or_create_local_credentials(a.path()).expect("create");
        let (again, _) = load_or_create_local_credentials(a.path()).expect("load");
        let (other, _) = load_or_create_local_credentials(b.path()).expect("create");
        assert_eq!(first.ops_token, again.ops_token);
        assert_eq!(first.webhook_secret, again.webhook_secret);
        assert_ne!(first.ops_token, other.ops_token);
        assert_ne!(first.ops_token, first.webhook_secret);
        assert!(first.ops_token.len() >= 64);
        for public in ["local-ops-token", "local-webhook-secret"] {
            assert_ne!(first.ops_token, public);
            assert_ne!(first.webhook_secret, public);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
    }
}
