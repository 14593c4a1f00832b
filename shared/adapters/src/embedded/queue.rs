//! A durable job queue in SQLite with SQS's shape: a claimed job is invisible for a while
//! and comes back if it is not acknowledged; after a few failures it goes to a
//! dead-letter table instead of being lost.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use paspor_domain::jobs::{Job, JobQueue, QueueError};
use rusqlite::{Connection, OptionalExtension, params};

use super::{EmbeddedError, sqlite::open_connection};

/// How long a claimed job stays invisible before another worker may take it.
const VISIBILITY_MS: i64 = 30_000;
/// Deliveries before a job is moved to the dead letters.
pub const MAX_RECEIVES: i64 = 5;

pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
}

#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub body: String,
    pub receives: i64,
}

fn queue_error(e: impl std::fmt::Display) -> QueueError {
    QueueError(e.to_string())
}

impl SqliteQueue {
    pub fn open(path: &Path) -> Result<Self, EmbeddedError> {
        let conn = open_connection(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                body TEXT NOT NULL,
                visible_at_ms INTEGER NOT NULL,
                receives INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX IF NOT EXISTS jobs_visible ON jobs (visible_at_ms);
            CREATE TABLE IF NOT EXISTS dead_jobs (
                id INTEGER PRIMARY KEY,
                body TEXT NOT NULL,
                receives INTEGER NOT NULL,
                last_error TEXT NOT NULL,
                died_at_ms INTEGER NOT NULL
            );",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, i64) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, QueueError> {
        let conn = self.conn.clone();
        // The real time, not the movable clock: visibility is about this process's retries,
        // and jumping the clock must not make in-flight jobs reappear twice.
        let now = chrono::Utc::now().timestamp_millis();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .map_err(|_| queue_error("queue connection poisoned"))?;
            f(&mut conn, now).map_err(queue_error)
        })
        .await
        .map_err(queue_error)?
    }

    /// Takes the oldest visible job and hides it for a while.
    pub async fn claim(&self) -> Result<Option<ClaimedJob>, QueueError> {
        self.run(|conn, now| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let job = tx
                .query_row(
                    "UPDATE jobs SET visible_at_ms = ?1, receives = receives + 1
                     WHERE id = (SELECT id FROM jobs WHERE visible_at_ms <= ?2 ORDER BY id LIMIT 1)
                     RETURNING id, body, receives",
                    params![now + VISIBILITY_MS, now],
                    |r| {
                        Ok(ClaimedJob {
                            id: r.get(0)?,
                            body: r.get(1)?,
                            receives: r.get(2)?,
                        })
                    },
                )
                .optional()?;
            tx.commit()?;
            Ok(job)
        })
        .await
    }

    /// The job is done: it leaves the queue.
    pub async fn ack(&self, id: i64) -> Result<(), QueueError> {
        self.run(move |conn, _| {
            conn.execute("DELETE FROM jobs WHERE id = ?1", params![id])
                .map(|_| ())
        })
        .await
    }

    /// The job failed: it comes back after a back-off, or goes to the dead letters once it
    /// has been received too often.
    pub async fn fail(&self, job: &ClaimedJob, error: &str) -> Result<(), QueueError> {
        if job.receives >= MAX_RECEIVES {
            return self.bury(job, error).await;
        }
        let (id, receives) = (job.id, job.receives);
        self.run(move |conn, now| {
            let backoff = 1000 * (1i64 << receives.clamp(0, 6));
            conn.execute(
                "UPDATE jobs SET visible_at_ms = ?2 WHERE id = ?1",
                params![id, now + backoff],
            )
            .map(|_| ())
        })
        .await
    }

    /// Moves a job to the dead letters (SQS's redrive to a DLQ), where operators see it.
    pub async fn bury(&self, job: &ClaimedJob, error: &str) -> Result<(), QueueError> {
        let (id, error) = (job.id, error.to_owned());
        self.run(move |conn, now| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT OR REPLACE INTO dead_jobs (id, body, receives, last_error, died_at_ms)
                 SELECT id, body, receives, ?2, ?3 FROM jobs WHERE id = ?1",
                params![id, error, now],
            )?;
            tx.execute("DELETE FROM jobs WHERE id = ?1", params![id])?;
            tx.commit()
        })
        .await
    }

    /// Jobs waiting (visible or not) and dead letters, for tests and operators.
    pub async fn depth(&self) -> Result<(i64, i64), QueueError> {
        self.run(|conn, _| {
            let live = conn.query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))?;
            let dead = conn.query_row("SELECT count(*) FROM dead_jobs", [], |r| r.get(0))?;
            Ok((live, dead))
        })
        .await
    }
}

#[async_trait]
impl JobQueue for SqliteQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(queue_error)?;
        self.run(move |conn, now| {
            conn.execute(
                "INSERT INTO jobs (body, visible_at_ms) VALUES (?1, ?2)",
                params![body, now],
            )
            .map(|_| ())
        })
        .await
    }
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteQueue")
    }
}
