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

/// Keys that sign and hash. On AWS they come from SSM Parameter Store; the local server
/// generates its own once and keeps them in its data directory.
#[derive(Clone)]
pub struct Secrets {
    /// Signs access tokens (HMAC-SHA256).
    pub token_key: Vec<u8>,
    /// Keys the OTP hashes, so a leaked table reveals no code.
    pub otp_key: Vec<u8>,
    /// Payment channels' webhook secrets; several are valid at once during a rotation.
    pub webhook_secrets: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}
