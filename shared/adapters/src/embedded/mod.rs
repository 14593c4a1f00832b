//! The embedded backend: one SQLite database (items and the job queue) in the data
//! directory, an outbox folder for emails, and a clock that `/_local/clock` can move.
//! Everything survives a restart.

mod clock;
mod documents;
mod local_credentials;
mod outbox;
mod queue;
mod secrets;
mod sqlite;

use std::{path::Path, sync::Arc};

pub use clock::{AdvanceError, MAX_OFFSET_SECS, OffsetClock};
pub use documents::{
    DOWNLOAD_PATH, DiskDocuments, DownloadQuery, LocalPolicy, PolicyError, UPLOAD_PATH,
};
pub use local_credentials::{
    LOCAL_CREDENTIALS_FILE, LocalCredentials, load_or_create_local_credentials,
};
pub use outbox::OutboxMailer;
pub use queue::{ClaimedJob, SqliteQueue};
pub use secrets::load_or_create_secrets;
pub use sqlite::SqliteTable;

use paspor_domain::{Ports, Secrets};

/// Everything `paspor-local` runs on, opened from one data directory.
pub struct Embedded {
    pub table: Arc<SqliteTable>,
    pub queue: Arc<SqliteQueue>,
    pub mailer: Arc<OutboxMailer>,
    pub documents: Arc<DiskDocuments>,
    pub clock: Arc<OffsetClock>,
    pub secrets: Secrets,
}

impl Embedded {
    /// Opens (or creates) everything in `data_dir`; `webhook_secrets` come from the
    /// server's configuration, the other keys are generated once and kept there.
    pub fn open(data_dir: &Path, webhook_secrets: Vec<Vec<u8>>) -> Result<Self, EmbeddedError> {
        std::fs::create_dir_all(data_dir)?;
        let db = data_dir.join("paspor.sqlite3");
        let clock = Arc::new(OffsetClock::open(data_dir.join("clock-offset"))?);
        let (secrets, upload_key) = load_or_create_secrets(data_dir, webhook_secrets)?;
        Ok(Self {
            table: Arc::new(SqliteTable::open(&db, clock.clone())?),
            queue: Arc::new(SqliteQueue::open(&db)?),
            mailer: Arc::new(OutboxMailer::new(data_dir.join("outbox"))?),
            documents: Arc::new(DiskDocuments::new(data_dir.join("documents"), upload_key)?),
            clock,
            secrets,
        })
    }

    pub fn ports(&self) -> Ports {
        Ports {
            table: self.table.clone(),
            queue: self.queue.clone(),
            mailer: self.mailer.clone(),
            documents: self.documents.clone(),
            clock: self.clock.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Other(String),
}
