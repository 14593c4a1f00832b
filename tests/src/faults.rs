//! Faults injected at the adapter boundary: decorators around a backend's real ports that
//! throttle, conflict, fail or "crash" on command, so a test can show what the services do
//! when DynamoDB, S3, SQS or SES misbehave. The real adapter stays underneath, so whatever
//! does get written is really written.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering},
};

use async_trait::async_trait;
use paspor_domain::{
    Ports,
    documents::{DocumentStore, Download, StorageError, UploadForm, UploadPolicy},
    jobs::{Job, JobQueue, QueueError},
    mail::{Email, MailError, Mailer},
    store::{Attrs, Cond, Item, Key, StoreError, Table, Update, Write},
};

/// What to break next. Every knob starts harmless.
#[derive(Default)]
pub struct Faults {
    /// The next N transactions answer `Busy` (throttling or a transaction conflict).
    pub busy_transactions: AtomicU32,
    /// The next N table reads (gets and queries) answer `Busy`.
    pub busy_reads: AtomicU32,
    /// After this many more successful writes (puts, updates, deletes, transactions,
    /// enqueues), the process "dies": every later write fails. Negative: never.
    pub crash_after_writes: AtomicI64,
    /// After this many more successful writes, the next one write fails (`Unavailable`)
    /// and the rest go through. Negative: never.
    pub fail_one_after_writes: AtomicI64,
    /// The store answers with an internal error carrying text no client may see.
    pub table_broken: AtomicBool,
    /// Storage refuses every request.
    pub storage_down: AtomicBool,
    /// Storage answers every request this many milliseconds late.
    pub storage_delay_ms: AtomicU32,
    /// The mail service refuses every email.
    pub mail_down: AtomicBool,
    /// The queue refuses every message (the table still works).
    pub queue_down: AtomicBool,
    /// Transactions attempted, failed ones included.
    pub transactions: AtomicU32,
    /// Writes that went through to the real backend.
    pub writes: AtomicU32,
}

/// Text an adapter error may carry (an AWS request id, an SQL statement): it must stay in
/// the logs and never reach a client.
pub const SECRET_DETAIL: &str =
    "arn:aws:dynamodb:ap-southeast-3:123456789012:table/paspor SELECT attrs FROM items";

impl Faults {
    pub fn new() -> Arc<Self> {
        let f = Self::default();
        f.crash_after_writes.store(-1, Ordering::SeqCst);
        f.fail_one_after_writes.store(-1, Ordering::SeqCst);
        Arc::new(f)
    }

    /// Wraps every port of `ports` (the clock is left alone).
    pub fn wrap(self: &Arc<Self>, ports: &Ports) -> Ports {
        Ports {
            table: Arc::new(FaultyTable {
                inner: ports.table.clone(),
                faults: self.clone(),
            }),
            queue: Arc::new(FaultyQueue {
                inner: ports.queue.clone(),
                faults: self.clone(),
            }),
            mailer: Arc::new(FaultyMailer {
                inner: ports.mailer.clone(),
                faults: self.clone(),
            }),
            documents: Arc::new(FaultyDocuments {
                inner: ports.documents.clone(),
                faults: self.clone(),
            }),
            clock: ports.clock.clone(),
        }
    }

    /// "Dies" after `n` more writes.
    pub fn crash_after(&self, n: i64) {
        self.crash_after_writes.store(n, Ordering::SeqCst);
    }

    /// Fails the one write after `n` more (a throttled or timed-out request); the others
    /// go through.
    pub fn fail_one_after(&self, n: i64) {
        self.fail_one_after_writes.store(n, Ordering::SeqCst);
    }

    /// Takes one from a counter if it is above zero.
    fn take(counter: &AtomicU32) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn before_write(&self) -> Result<(), String> {
        if self.table_broken.load(Ordering::SeqCst) {
            return Err(SECRET_DETAIL.to_owned());
        }
        let dead = self
            .crash_after_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                n if n > 0 => Some(n - 1),
                _ => None,
            })
            .is_err();
        if dead && self.crash_after_writes.load(Ordering::SeqCst) == 0 {
            return Err("the process died".to_owned());
        }
        // Counts down to 0, fails that one write, then stays at -1.
        let before =
            self.fail_one_after_writes
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n >= 0).then(|| n - 1)
                });
        if before == Ok(0) {
            return Err("one write failed".to_owned());
        }
        Ok(())
    }
}

struct FaultyTable {
    inner: Arc<dyn Table>,
    faults: Arc<Faults>,
}

impl FaultyTable {
    fn write(&self) -> Result<(), StoreError> {
        self.faults.before_write().map_err(StoreError::Unavailable)
    }

    fn wrote<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if r.is_ok() {
            self.faults.writes.fetch_add(1, Ordering::SeqCst);
        }
        r
    }
}

#[async_trait]
impl Table for FaultyTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        if Faults::take(&self.faults.busy_reads) {
            return Err(StoreError::Busy(
                "ProvisionedThroughputExceededException".into(),
            ));
        }
        if self.faults.table_broken.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(SECRET_DETAIL.into()));
        }
        self.inner.get(key).await
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        self.write()?;
        let r = self.inner.put(item, cond).await;
        self.wrote(r)
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        cond: Option<Cond>,
    ) -> Result<Attrs, StoreError> {
        self.write()?;
        let r = self.inner.update(key, update, cond).await;
        self.wrote(r)
    }

    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        self.write()?;
        let r = self.inner.delete(key, cond).await;
        self.wrote(r)
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.faults.transactions.fetch_add(1, Ordering::SeqCst);
        if Faults::take(&self.faults.busy_transactions) {
            // DynamoDB: TransactionCanceledException with a TransactionConflict reason, or
            // throttling; the adapter maps both to Busy.
            return Err(StoreError::Busy("TransactionConflict".into()));
        }
        self.write()?;
        let r = self.inner.transact(writes).await;
        self.wrote(r)
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<Vec<Item>, StoreError> {
        if Faults::take(&self.faults.busy_reads) {
            return Err(StoreError::Busy(
                "ProvisionedThroughputExceededException".into(),
            ));
        }
        self.inner.scan(after, limit).await
    }

    async fn query_from(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        if Faults::take(&self.faults.busy_reads) {
            return Err(StoreError::Busy(
                "ProvisionedThroughputExceededException".into(),
            ));
        }
        if self.faults.table_broken.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(SECRET_DETAIL.into()));
        }
        self.inner.query_from(pk, sk_prefix, after, limit).await
    }
}

struct FaultyQueue {
    inner: Arc<dyn JobQueue>,
    faults: Arc<Faults>,
}

#[async_trait]
impl JobQueue for FaultyQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        if self.faults.queue_down.load(Ordering::SeqCst) {
            return Err(QueueError(format!("ServiceUnavailable: {SECRET_DETAIL}")));
        }
        self.faults.before_write().map_err(QueueError)?;
        self.inner.enqueue(job).await
    }
}

struct FaultyMailer {
    inner: Arc<dyn Mailer>,
    faults: Arc<Faults>,
}

#[async_trait]
impl Mailer for FaultyMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        if self.faults.mail_down.load(Ordering::SeqCst) {
            return Err(MailError(
                "Throttling: Maximum sending rate exceeded.".into(),
            ));
        }
        self.inner.send(email).await
    }
}

struct FaultyDocuments {
    inner: Arc<dyn DocumentStore>,
    faults: Arc<Faults>,
}

impl FaultyDocuments {
    async fn check(&self) -> Result<(), StorageError> {
        let delay = self.faults.storage_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(u64::from(delay))).await;
        }
        if self.faults.storage_down.load(Ordering::SeqCst) {
            return Err(StorageError(format!("SlowDown: {SECRET_DETAIL}")));
        }
        Ok(())
    }
}

#[async_trait]
impl DocumentStore for FaultyDocuments {
    async fn presign_upload(&self, policy: &UploadPolicy) -> Result<UploadForm, StorageError> {
        self.check().await?;
        self.inner.presign_upload(policy).await
    }

    async fn presign_download(&self, download: &Download) -> Result<String, StorageError> {
        self.check().await?;
        self.inner.presign_download(download).await
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        self.check().await?;
        self.inner.size(key).await
    }

    async fn read_head(&self, key: &str, n: u64) -> Result<Vec<u8>, StorageError> {
        self.check().await?;
        self.inner.read_head(key, n).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.check().await?;
        self.inner.delete(key).await
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StorageError> {
        self.check().await?;
        self.inner.put(key, bytes, content_type).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.check().await?;
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.check().await?;
        self.inner.list(prefix).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        self.check().await?;
        self.inner.delete_prefix(prefix).await
    }
}
