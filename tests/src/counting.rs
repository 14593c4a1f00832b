//! Counting decorators around the domain's ports: every request a service makes to
//! DynamoDB, SQS, SES and S3 is tallied, with DynamoDB's billed units computed as AWS bills
//! them (strongly consistent reads: 1 read unit per 4 KB; writes: 1 write unit per 1 KB of
//! the larger of the item before and after; transactions: twice that per item). Used by the
//! cost test to state what one application's journey asks of AWS.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use paspor_domain::{
    Ports,
    documents::{DocumentStore, Download, StorageError, UploadForm, UploadPolicy},
    jobs::{Job, JobQueue, QueueError},
    mail::{Email, MailError, Mailer},
    store::{Attrs, Cond, Item, Key, StoreError, Table, Update, Write},
};
use serde_json::Value;

/// What the decorators saw: requests per `"Service Operation"`, and DynamoDB's units.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub requests: BTreeMap<String, u64>,
    /// Read request units (all reads are strongly consistent).
    pub read_units: u64,
    /// Write request units, transactions counted twice.
    pub write_units: u64,
    /// SQS bills per 64 KB chunk of a message.
    pub sqs_chunks: u64,
    /// SES bills per recipient.
    pub emails: u64,
    /// Bytes written to S3 by the server itself (invoices, receipts).
    pub s3_bytes_put: u64,
}

#[derive(Debug, Default)]
pub struct Ledger(Mutex<Tally>);

impl Ledger {
    fn record(&self, op: &str, f: impl FnOnce(&mut Tally)) {
        let mut t = self.0.lock().expect("ledger lock");
        *t.requests.entry(op.to_owned()).or_default() += 1;
        f(&mut t);
    }

    pub fn snapshot(&self) -> Tally {
        self.0.lock().expect("ledger lock").clone()
    }

    /// Forgets everything counted so far (after a test's setup).
    pub fn reset(&self) {
        *self.0.lock().expect("ledger lock") = Tally::default();
    }
}

/// The ports with every outside call counted in `ledger`.
pub fn counted(ports: Ports, ledger: Arc<Ledger>) -> Ports {
    Ports {
        table: Arc::new(CountingTable {
            inner: ports.table,
            ledger: ledger.clone(),
        }),
        queue: Arc::new(CountingQueue {
            inner: ports.queue,
            ledger: ledger.clone(),
        }),
        mailer: Arc::new(CountingMailer {
            inner: ports.mailer,
            ledger: ledger.clone(),
        }),
        documents: Arc::new(CountingDocuments {
            inner: ports.documents,
            ledger,
        }),
        clock: ports.clock,
    }
}

/// DynamoDB's size of a number: about one byte per two significant digits, plus one.
fn number_size(n: &serde_json::Number) -> u64 {
    let digits = n
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>();
    let significant = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .len()
        .max(1) as u64;
    significant.div_ceil(2) + 1
}

/// DynamoDB's size of an attribute value (its documented rules; lists and maps carry 3
/// bytes of overhead plus 1 per element).
fn value_size(v: &Value) -> u64 {
    match v {
        Value::Null | Value::Bool(_) => 1,
        Value::Number(n) => number_size(n),
        Value::String(s) => s.len() as u64,
        Value::Array(items) => 3 + items.iter().map(|i| value_size(i) + 1).sum::<u64>(),
        Value::Object(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() as u64 + value_size(v) + 1)
                .sum::<u64>()
        }
    }
}

/// An item's size as DynamoDB measures it: names plus values, the key included.
pub fn item_size(key: &Key, attrs: &Attrs) -> u64 {
    let key_size = 2 + key.pk.len() as u64 + 2 + key.sk.len() as u64;
    key_size
        + attrs
            .iter()
            .map(|(k, v)| k.len() as u64 + value_size(v))
            .sum::<u64>()
}

fn write_units(before: u64, after: u64) -> u64 {
    before.max(after).div_ceil(1024).max(1)
}

fn read_units(bytes: u64) -> u64 {
    bytes.div_ceil(4096).max(1)
}

struct CountingTable {
    inner: Arc<dyn Table>,
    ledger: Arc<Ledger>,
}

impl CountingTable {
    /// The item's current size, read through the inner table without counting (it is
    /// what DynamoDB itself knows when it bills a write).
    async fn size_now(&self, key: &Key) -> u64 {
        match self.inner.get(key).await {
            Ok(Some(item)) => item_size(&item.key, &item.attrs),
            _ => 0,
        }
    }
}

fn write_key(w: &Write) -> &Key {
    match w {
        Write::Put { item, .. } => &item.key,
        Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => key,
    }
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self.inner.get(key).await;
        let size = match &out {
            Ok(Some(item)) => item_size(&item.key, &item.attrs),
            _ => 0,
        };
        self.ledger
            .record("DynamoDB GetItem", |t| t.read_units += read_units(size));
        out
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        let before = self.size_now(&item.key).await;
        let after = item_size(&item.key, &item.attrs);
        let out = self.inner.put(item, cond).await;
        self.ledger.record("DynamoDB PutItem", |t| {
            t.write_units += write_units(before, after)
        });
        out
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        cond: Option<Cond>,
    ) -> Result<Attrs, StoreError> {
        let before = self.size_now(key).await;
        let out = self.inner.update(key, update, cond).await;
        let after = match &out {
            Ok(attrs) => item_size(key, attrs),
            Err(_) => 0,
        };
        self.ledger.record("DynamoDB UpdateItem", |t| {
            t.write_units += write_units(before, after)
        });
        out
    }

    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        let before = self.size_now(key).await;
        let out = self.inner.delete(key, cond).await;
        self.ledger.record("DynamoDB DeleteItem", |t| {
            t.write_units += write_units(before, 0)
        });
        out
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let keys: Vec<Key> = writes.iter().map(|w| write_key(w).clone()).collect();
        let mut before = Vec::new();
        for k in &keys {
            before.push(self.size_now(k).await);
        }
        let out = self.inner.transact(writes).await;
        let mut units = 0;
        for (k, b) in keys.iter().zip(before) {
            // A condition check is billed like a write of its item, twice as every
            // transactional item is.
            units += 2 * write_units(b, self.size_now(k).await);
        }
        self.ledger.record("DynamoDB TransactWriteItems", |t| {
            t.write_units += units;
            *t.requests
                .entry("DynamoDB TransactWriteItems (items)".into())
                .or_default() += keys.len() as u64;
        });
        out
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<Vec<Item>, StoreError> {
        let out = self.inner.scan(after, limit).await;
        let bytes = match &out {
            Ok(items) => items.iter().map(|i| item_size(&i.key, &i.attrs)).sum(),
            Err(_) => 0,
        };
        self.ledger
            .record("DynamoDB Scan", |t| t.read_units += read_units(bytes));
        out
    }

    async fn query_from(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let out = self.inner.query_from(pk, sk_prefix, after, limit).await;
        let bytes = match &out {
            Ok(items) => items.iter().map(|i| item_size(&i.key, &i.attrs)).sum(),
            Err(_) => 0,
        };
        self.ledger
            .record("DynamoDB Query", |t| t.read_units += read_units(bytes));
        out
    }
}

struct CountingQueue {
    inner: Arc<dyn JobQueue>,
    ledger: Arc<Ledger>,
}

#[async_trait]
impl JobQueue for CountingQueue {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let bytes = serde_json::to_vec(job).map(|b| b.len()).unwrap_or(0) as u64;
        self.ledger.record("SQS SendMessage", |t| {
            t.sqs_chunks += bytes.div_ceil(64 * 1024).max(1)
        });
        self.inner.enqueue(job).await
    }
}

struct CountingMailer {
    inner: Arc<dyn Mailer>,
    ledger: Arc<Ledger>,
}

#[async_trait]
impl Mailer for CountingMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.ledger.record("SES SendEmail", |t| t.emails += 1);
        self.inner.send(email).await
    }
}

struct CountingDocuments {
    inner: Arc<dyn DocumentStore>,
    ledger: Arc<Ledger>,
}

#[async_trait]
impl DocumentStore for CountingDocuments {
    async fn presign_upload(&self, policy: &UploadPolicy) -> Result<UploadForm, StorageError> {
        // Signed locally: no request, but counted so a change to a network call shows.
        self.ledger.record("S3 presign (local, free)", |_| {});
        self.inner.presign_upload(policy).await
    }

    async fn presign_download(&self, download: &Download) -> Result<String, StorageError> {
        // Signed locally, like the upload form.
        self.ledger.record("S3 presign (local, free)", |_| {});
        self.inner.presign_download(download).await
    }

    async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        self.ledger.record("S3 HeadObject", |_| {});
        self.inner.size(key).await
    }

    async fn read_head(&self, key: &str, n: u64) -> Result<Vec<u8>, StorageError> {
        self.ledger.record("S3 GetObject", |_| {});
        self.inner.read_head(key, n).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.ledger.record("S3 DeleteObject", |_| {});
        self.inner.delete(key).await
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StorageError> {
        let len = bytes.len() as u64;
        self.ledger
            .record("S3 PutObject", |t| t.s3_bytes_put += len);
        self.inner.put(key, bytes, content_type).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.ledger.record("S3 GetObject", |_| {});
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        // One request per 1000 keys; an application stores a handful.
        self.ledger.record("S3 ListObjectsV2", |_| {});
        self.inner.list(prefix).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        // A listing, then one DeleteObjects per 1000 keys if any were found.
        self.ledger
            .record("S3 ListObjectsV2 + DeleteObjects", |_| {});
        self.inner.delete_prefix(prefix).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_follow_dynamodb_rules() {
        let key = Key::new("SLOT#makassar#2026-12-01", "10:00");
        // pk(2)+24, sk(2)+5
        assert_eq!(item_size(&key, &Attrs::new()), 33);
        let attrs = json!({"taken": 100, "capacity": 100, "name": "Siti", "ok": true})
            .as_object()
            .cloned()
            .expect("object");
        // taken: 5+2, capacity: 8+2, name: 4+4, ok: 2+1
        assert_eq!(item_size(&key, &attrs), 33 + 7 + 10 + 8 + 3);
        assert_eq!(value_size(&json!([1, "ab"])), 3 + (2 + 1) + (2 + 1));
        assert_eq!(write_units(0, 1024), 1);
        assert_eq!(write_units(1025, 10), 2);
        assert_eq!(read_units(0), 1);
        assert_eq!(read_units(4097), 2);
    }
}
