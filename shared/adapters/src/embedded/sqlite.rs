//! The table port on SQLite: conditions are evaluated inside an immediate transaction on
//! one connection, so they are as atomic as DynamoDB's.
//!
//! Expired items (`store`'s time to live) stay in the database until a write replaces or
//! deletes them; every read below leaves them out, so they are absent all the same.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use paspor_domain::{
    clock::Clock,
    store::{
        Attrs, Cond, Item, Key, StoreError, Table, Update, Write, apply_update, check_key,
        check_pk, expired, holds,
    },
};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::EmbeddedError;

#[derive(Clone)]
pub struct SqliteTable {
    conn: Arc<Mutex<Connection>>,
    /// What "now" is for expiry: the services' clock, so a moved clock expires items too.
    clock: Arc<dyn Clock>,
}

pub(crate) fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    // WAL with synchronous=NORMAL survives a crash of the process (the case that matters
    // for a local server); FULL would only add power-loss safety at a large cost.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl SqliteTable {
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<Self, EmbeddedError> {
        let conn = open_connection(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS items (
                pk TEXT NOT NULL,
                sk TEXT NOT NULL,
                attrs TEXT NOT NULL,
                PRIMARY KEY (pk, sk)
            ) WITHOUT ROWID;",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            clock,
        })
    }

    /// Runs `f` in an immediate transaction on a blocking thread, with the time (epoch
    /// seconds) that decides expiry.
    async fn with_tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        let now = self.clock.now().timestamp();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .map_err(|_| unavailable("connection poisoned"))?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let out = f(&tx, now)?;
            tx.commit().map_err(unavailable)?;
            Ok(out)
        })
        .await
        .map_err(unavailable)?
    }
}

/// The item's attributes, `None` when it is absent or expired.
fn read(tx: &Transaction<'_>, key: &Key, now: i64) -> Result<Option<Attrs>, StoreError> {
    let raw: Option<String> = tx
        .query_row(
            "SELECT attrs FROM items WHERE pk = ?1 AND sk = ?2",
            params![key.pk, key.sk],
            |row| row.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    let attrs: Option<Attrs> = raw
        .map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()?;
    Ok(attrs.filter(|a| !expired(a, now)))
}

fn store(tx: &Transaction<'_>, key: &Key, attrs: &Attrs) -> Result<(), StoreError> {
    let body = serde_json::to_string(attrs).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO items (pk, sk, attrs) VALUES (?1, ?2, ?3)
         ON CONFLICT (pk, sk) DO UPDATE SET attrs = excluded.attrs",
        params![key.pk, key.sk, body],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn remove(tx: &Transaction<'_>, key: &Key) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
        params![key.pk, key.sk],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn check(
    cond: Option<&Cond>,
    current: Option<&Attrs>,
    index: Option<usize>,
) -> Result<(), StoreError> {
    match cond {
        Some(c) if !holds(c, current) => Err(StoreError::ConditionFailed { index }),
        _ => Ok(()),
    }
}

fn write_key(w: &Write) -> &Key {
    match w {
        Write::Put { item, .. } => &item.key,
        Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => key,
    }
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        check_key(key)?;
        let key = key.clone();
        self.with_tx(move |tx, now| Ok(read(tx, &key, now)?.map(|attrs| Item { key, attrs })))
            .await
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        check_key(&item.key)?;
        self.with_tx(move |tx, now| {
            check(cond.as_ref(), read(tx, &item.key, now)?.as_ref(), None)?;
            store(tx, &item.key, &item.attrs)
        })
        .await
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        cond: Option<Cond>,
    ) -> Result<Attrs, StoreError> {
        check_key(key)?;
        let key = key.clone();
        self.with_tx(move |tx, now| {
            let current = read(tx, &key, now)?;
            check(cond.as_ref(), current.as_ref(), None)?;
            let next = apply_update(current, &update);
            store(tx, &key, &next)?;
            Ok(next)
        })
        .await
    }

    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        check_key(key)?;
        let key = key.clone();
        self.with_tx(move |tx, now| {
            check(cond.as_ref(), read(tx, &key, now)?.as_ref(), None)?;
            remove(tx, &key)
        })
        .await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.len() > 100 {
            return Err(StoreError::Unavailable(
                "more than 100 writes in a transaction".into(),
            ));
        }
        writes.iter().try_for_each(|w| check_key(write_key(w)))?;
        let mut seen = std::collections::HashSet::new();
        if !writes.iter().all(|w| seen.insert(write_key(w).clone())) {
            return Err(StoreError::Unavailable(
                "two writes to one item in a transaction".into(),
            ));
        }
        self.with_tx(move |tx, now| {
            // Every condition is checked against the state before the transaction, as
            // DynamoDB does; the transaction is rolled back (dropped) on any failure.
            for (i, w) in writes.iter().enumerate() {
                let current = read(tx, write_key(w), now)?;
                let cond = match w {
                    Write::Put { cond, .. }
                    | Write::Update { cond, .. }
                    | Write::Delete { cond, .. } => cond.as_ref(),
                    Write::Check { cond, .. } => Some(cond),
                };
                check(cond, current.as_ref(), Some(i))?;
            }
            for w in writes {
                match w {
                    Write::Put { item, .. } => store(tx, &item.key, &item.attrs)?,
                    Write::Update { key, update, .. } => {
                        let next = apply_update(read(tx, &key, now)?, &update);
                        store(tx, &key, &next)?;
                    }
                    Write::Delete { key, .. } => remove(tx, &key)?,
                    Write::Check { .. } => {}
                }
            }
            Ok(())
        })
        .await
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<Vec<Item>, StoreError> {
        let (pk, sk) = match after {
            Some(k) => (Some(k.pk.clone()), k.sk.clone()),
            None => (None, String::new()),
        };
        self.with_tx(move |tx, now| {
            // No LIMIT: rows are stepped through lazily until `limit` live ones are found.
            let mut stmt = tx
                .prepare_cached(
                    "SELECT pk, sk, attrs FROM items
                     WHERE ?1 IS NULL OR pk > ?1 OR (pk = ?1 AND sk > ?2)
                     ORDER BY pk, sk",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![pk, sk], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })
                .map_err(unavailable)?;
            let mut items = Vec::new();
            for row in rows {
                if items.len() >= limit {
                    break;
                }
                let (pk, sk, raw) = row.map_err(unavailable)?;
                let attrs: Attrs =
                    serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if expired(&attrs, now) {
                    continue;
                }
                items.push(Item {
                    key: Key::new(pk, sk),
                    attrs,
                });
            }
            Ok(items)
        })
        .await
    }

    async fn query_from(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        check_pk(pk)?;
        let pk = pk.to_owned();
        let prefix = sk_prefix.to_owned();
        let after = after.map(str::to_owned);
        self.with_tx(move |tx, now| {
            // No LIMIT, as in `scan`: the page holds `limit` live items.
            let mut stmt = tx
                .prepare_cached(
                    "SELECT sk, attrs FROM items WHERE pk = ?1 AND substr(sk, 1, ?3) = ?2
                     AND (?4 IS NULL OR sk > ?4) ORDER BY sk",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(
                    params![pk, prefix, prefix.chars().count() as i64, after],
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
                )
                .map_err(unavailable)?;
            let mut items = Vec::new();
            for row in rows {
                if items.len() >= limit {
                    break;
                }
                let (sk, raw) = row.map_err(unavailable)?;
                let attrs: Attrs =
                    serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                if expired(&attrs, now) {
                    continue;
                }
                items.push(Item {
                    key: Key::new(pk.clone(), sk),
                    attrs,
                });
            }
            Ok(items)
        })
        .await
    }
}
