//! The table port: a small typed subset of DynamoDB's semantics (get, conditional put,
//! update and delete, all-or-nothing transactions, query by key prefix).
//!
//! Every repository is written once above this port; it has exactly two implementations,
//! embedded (SQLite) and DynamoDB, and one conformance suite holds them to the same
//! behaviour, conditional failures included.
//!
//! # Time to live
//!
//! An item whose [`TTL_ATTR`] attribute is a number of epoch seconds no later than now is
//! expired, and the port treats it as absent everywhere: `get` answers `None`,
//! `query_from` and `scan` skip it, every condition sees no item (`NotExists` holds,
//! `Exists` and `Eq` fail), and an update starts from no item (an `add` counts from 0, no
//! stale attribute survives). DynamoDB deletes expired items itself, but lazily (up to days
//! late), and the embedded table never does; so both adapters apply the rule on every call,
//! against the clock they were built with (the one the services read). A `ttl` that is not
//! a number never expires, as in DynamoDB.

use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

/// An item's attributes other than its key.
pub type Attrs = Map<String, Value>;

/// The attribute DynamoDB's time to live reads (the template's `TimeToLiveSpecification`).
pub const TTL_ATTR: &str = "ttl";

/// Whether the item's time to live has passed at `now_secs` (epoch seconds): see the
/// module's rule.
pub fn expired(attrs: &Attrs, now_secs: i64) -> bool {
    match attrs.get(TTL_ATTR) {
        Some(Value::Number(n)) => match n.as_i64() {
            Some(ttl) => ttl <= now_secs,
            // A fraction or a number past i64 (compared as DynamoDB compares numbers).
            None => n.as_f64().is_some_and(|ttl| ttl <= now_secs as f64),
        },
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: Key,
    pub attrs: Attrs,
}

impl Item {
    /// Builds an item from any serialisable record (it must serialise to a JSON object).
    pub fn from_record<T: Serialize>(key: Key, record: &T) -> Result<Self, StoreError> {
        match serde_json::to_value(record) {
            Ok(Value::Object(attrs)) => Ok(Self { key, attrs }),
            Ok(_) => Err(StoreError::Corrupt("record is not an object".into())),
            Err(e) => Err(StoreError::Corrupt(e.to_string())),
        }
    }

    pub fn record<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        serde_json::from_value(Value::Object(self.attrs.clone()))
            .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", self.key.pk, self.key.sk)))
    }
}

/// A condition on the item a write touches, evaluated atomically with the write.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// The item exists.
    Exists,
    /// The item does not exist.
    NotExists,
    /// The attribute exists and equals the value.
    Eq(String, Value),
    /// Both attributes are numbers and the first is smaller than the second.
    LessThan(String, String),
    /// The attribute is a number smaller than the value.
    LessThanValue(String, i64),
    /// The attribute is a number no smaller than the value.
    AtLeastValue(String, i64),
    All(Vec<Cond>),
    /// At least one holds.
    Any(Vec<Cond>),
}

impl Cond {
    pub fn eq(attr: &str, value: impl Into<Value>) -> Self {
        Self::Eq(attr.to_owned(), value.into())
    }
}

/// Changes to one item's attributes; the item is created if it does not exist.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub set: Attrs,
    /// Adds to a number attribute (absent counts as 0).
    pub add: Vec<(String, i64)>,
    pub remove: Vec<String>,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, attr: &str, value: impl Into<Value>) -> Self {
        self.set.insert(attr.to_owned(), value.into());
        self
    }

    pub fn add(mut self, attr: &str, by: i64) -> Self {
        self.add.push((attr.to_owned(), by));
        self
    }

    pub fn remove(mut self, attr: &str) -> Self {
        self.remove.push(attr.to_owned());
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put {
        item: Item,
        cond: Option<Cond>,
    },
    Update {
        key: Key,
        update: Update,
        cond: Option<Cond>,
    },
    Delete {
        key: Key,
        cond: Option<Cond>,
    },
    /// Only checks a condition (inside a transaction).
    Check {
        key: Key,
        cond: Cond,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StoreError {
    /// A condition did not hold; nothing was written. In a transaction, `index` names the
    /// first write whose condition failed.
    #[error("condition failed (write {index:?})")]
    ConditionFailed { index: Option<usize> },
    /// The store pushed back (throttling, transaction conflict): retrying later may work.
    #[error("store busy: {0}")]
    Busy(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A request the store refuses as malformed (a key over its limits): a bug upstream,
    /// since the services bound every input that becomes part of a key.
    #[error("invalid request to the store: {0}")]
    Invalid(String),
}

/// DynamoDB's limits on a key: a partition key of 1–2,048 bytes, a sort key of 1–1,024.
/// Both backends refuse a key outside them alike, before any I/O.
pub const MAX_PK_BYTES: usize = 2048;
pub const MAX_SK_BYTES: usize = 1024;

pub fn check_key(key: &Key) -> Result<(), StoreError> {
    check_pk(&key.pk)?;
    if key.sk.is_empty() || key.sk.len() > MAX_SK_BYTES {
        return Err(StoreError::Invalid(format!(
            "sort key of {} bytes (1 to {MAX_SK_BYTES})",
            key.sk.len()
        )));
    }
    Ok(())
}

pub fn check_pk(pk: &str) -> Result<(), StoreError> {
    if pk.is_empty() || pk.len() > MAX_PK_BYTES {
        return Err(StoreError::Invalid(format!(
            "partition key of {} bytes (1 to {MAX_PK_BYTES})",
            pk.len()
        )));
    }
    Ok(())
}

/// A caller's record of the answer it gives for an effect (an `Idempotency-Key`'s replay),
/// built from the effect's result and written in the same transaction as the effect: the
/// two are stored together or not at all, so a lost answer can always be given again.
pub type Receipt<'a, T> = &'a (dyn Fn(&T) -> Result<Option<Write>, StoreError> + Send + Sync);

/// For callers with nothing to record.
pub fn no_receipt<T>(_: &T) -> Result<Option<Write>, StoreError> {
    Ok(None)
}

#[async_trait]
pub trait Table: Send + Sync {
    /// A strongly consistent read.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError>;

    /// Applies the update and answers the item's attributes after it.
    async fn update(
        &self,
        key: &Key,
        update: Update,
        cond: Option<Cond>,
    ) -> Result<Attrs, StoreError>;

    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError>;

    /// All writes or none; at most 100 writes, each to a different item.
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// The items of one partition whose sort key starts with `sk_prefix` and comes after
    /// `after` (a page's last sort key, to read the next page), in sort-key order, at most
    /// `limit`.
    async fn query_from(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError>;

    /// Every item of the table, in the store's own order, at most `limit` after the key
    /// `after` (the last of the previous page). For maintenance that must see every item
    /// (a re-seal after a key rotation), never for a request's own work.
    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<Vec<Item>, StoreError>;

    /// The first page: [`Self::query_from`] from the start.
    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.query_from(pk, sk_prefix, None, limit).await
    }
}

/// Every item of a partition (under a prefix), read `page` at a time: for listings with
/// no natural bound (a day's schedule, an audit trail), which a single capped query would
/// silently cut.
pub async fn query_all(
    table: &dyn Table,
    pk: &str,
    sk_prefix: &str,
    page: usize,
) -> Result<Vec<Item>, StoreError> {
    let mut all: Vec<Item> = Vec::new();
    loop {
        let after = all.last().map(|i| i.key.sk.clone());
        let items = table
            .query_from(pk, sk_prefix, after.as_deref(), page.max(1))
            .await?;
        let full = items.len() >= page.max(1);
        all.extend(items);
        if !full {
            return Ok(all);
        }
    }
}

/// Evaluates a condition against the current attributes of an item (`None`: absent).
/// The embedded backend uses this; DynamoDB evaluates the same conditions itself.
pub fn holds(cond: &Cond, current: Option<&Attrs>) -> bool {
    match cond {
        Cond::Exists => current.is_some(),
        Cond::NotExists => current.is_none(),
        Cond::Eq(attr, value) => current.and_then(|a| a.get(attr)) == Some(value),
        Cond::LessThan(a, b) => {
            let num = |name: &str| current.and_then(|c| c.get(name)).and_then(Value::as_f64);
            matches!((num(a), num(b)), (Some(x), Some(y)) if x < y)
        }
        Cond::LessThanValue(a, v) => current
            .and_then(|c| c.get(a))
            .and_then(Value::as_i64)
            .is_some_and(|x| x < *v),
        Cond::AtLeastValue(a, v) => current
            .and_then(|c| c.get(a))
            .and_then(Value::as_i64)
            .is_some_and(|x| x >= *v),
        Cond::All(conds) => conds.iter().all(|c| holds(c, current)),
        Cond::Any(conds) => conds.iter().any(|c| holds(c, current)),
    }
}

/// Applies an update to attributes (the embedded backend's half of DynamoDB's UpdateItem).
pub fn apply_update(current: Option<Attrs>, update: &Update) -> Attrs {
    let mut attrs = current.unwrap_or_default();
    for (k, v) in &update.set {
        attrs.insert(k.clone(), v.clone());
    }
    for (k, by) in &update.add {
        let now = attrs.get(k).and_then(Value::as_i64).unwrap_or(0);
        attrs.insert(k.clone(), Value::from(now + by));
    }
    for k in &update.remove {
        attrs.remove(k);
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Attrs {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn conditions() {
        let a = attrs(json!({"count": 3, "capacity": 4, "status": "x"}));
        assert!(holds(&Cond::Exists, Some(&a)));
        assert!(!holds(&Cond::Exists, None));
        assert!(holds(&Cond::NotExists, None));
        assert!(holds(&Cond::eq("status", "x"), Some(&a)));
        assert!(!holds(&Cond::eq("status", "y"), Some(&a)));
        assert!(!holds(&Cond::eq("status", "x"), None));
        assert!(holds(
            &Cond::LessThan("count".into(), "capacity".into()),
            Some(&a)
        ));
        assert!(!holds(
            &Cond::LessThan("capacity".into(), "count".into()),
            Some(&a)
        ));
        assert!(!holds(
            &Cond::LessThan("count".into(), "missing".into()),
            Some(&a)
        ));
        assert!(holds(&Cond::LessThanValue("count".into(), 4), Some(&a)));
        assert!(!holds(&Cond::LessThanValue("count".into(), 3), Some(&a)));
        assert!(holds(&Cond::AtLeastValue("count".into(), 3), Some(&a)));
        assert!(!holds(&Cond::AtLeastValue("count".into(), 4), Some(&a)));
        assert!(!holds(&Cond::AtLeastValue("missing".into(), 0), Some(&a)));
        assert!(!holds(
            &Cond::All(vec![Cond::Exists, Cond::eq("status", "y")]),
            Some(&a)
        ));
        let room = Cond::Any(vec![
            Cond::NotExists,
            Cond::LessThanValue("count".into(), 5),
        ]);
        assert!(holds(&room, None));
        assert!(holds(&room, Some(&a)));
        assert!(!holds(
            &Cond::Any(vec![Cond::NotExists, Cond::eq("status", "y")]),
            Some(&a)
        ));
    }

    #[test]
    fn expiry() {
        let at = |ttl: Value| attrs(json!({ "ttl": ttl, "n": 1 }));
        assert!(expired(&at(json!(100)), 100), "due this second");
        assert!(expired(&at(json!(99)), 100));
        assert!(!expired(&at(json!(101)), 100));
        assert!(expired(&at(json!(99.5)), 100));
        assert!(!expired(&at(json!(100.5)), 100));
        assert!(!expired(&at(json!(u64::MAX)), 100));
        assert!(!expired(&at(json!("99")), 100), "a string never expires");
        assert!(!expired(&at(Value::Null), 100));
        assert!(!expired(&attrs(json!({"n": 1})), i64::MAX));
    }

    #[test]
    fn updates() {
        let a = attrs(json!({"count": 3, "gone": true}));
        let u = Update::new()
            .set("s", "v")
            .add("count", 2)
            .add("fresh", 1)
            .remove("gone");
        assert_eq!(
            apply_update(Some(a), &u),
            attrs(json!({"count": 5, "fresh": 1, "s": "v"}))
        );
    }
}
