//! Personal data sealed at rest, field by field: every attribute named `nik`, at any depth
//! of any item, is stored as AES-256-GCM ciphertext and opened again on the way out. The
//! services never see the difference; a table dump, a backup or an operator browsing the
//! table in the console sees no NIK. (Uniqueness never needed the clear NIK: its lock is
//! keyed by a keyed hash, [`crate::applications::Applications::nik_ref`].)
//!
//! The keys are the deployment's NIK keys ([`Secrets::nik_keys`]), a secret of their own:
//! the newest seals, and each sealed value names its key by a short fingerprint, so a
//! rotation (a new key in front) keeps every stored NIK readable, and every write seals
//! under the newest key again. [`SealedTable::stale`] tells which items still need a
//! re-seal before an old key may go. Values sealed before NIK keys existed (`v1`, under a
//! key derived from the OTP key) still open.

use std::sync::Arc;

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, OsRng, rand_core::RngCore},
};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::{
    Ports, Secrets,
    store::{Attrs, Cond, Item, Key, StoreError, Table, Update, Write},
};

/// Attributes sealed wherever they appear: NIKs, and a release's seed (secret until its
/// draw: whoever read it from the table or a backup could steer their own entry).
const SEALED_FIELDS: [&str; 2] = ["nik", "seed"];
/// What every sealed value starts with, whatever its version.
const PREFIX: &str = "sealed:";
const V1: &str = "sealed:v1:";
const V2: &str = "sealed:v2:";

/// The services' ports with the table sealing personal data.
pub fn seal(ports: &Ports, secrets: &Secrets) -> Ports {
    seal_keeping(ports, secrets).0
}

/// [`seal`], keeping the sealed table itself for maintenance ([`SealedTable::reseal_page`]).
pub fn seal_keeping(ports: &Ports, secrets: &Secrets) -> (Ports, Arc<SealedTable>) {
    let table = Arc::new(SealedTable::new(ports.table.clone(), secrets));
    let mut sealed = ports.clone();
    sealed.table = table.clone();
    (sealed, table)
}

/// What one page of a re-seal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResealPage {
    pub checked: usize,
    pub resealed: usize,
    /// Where the next page starts; `None` once the whole table was read.
    pub next: Option<Key>,
}

pub struct SealedTable {
    inner: Arc<dyn Table>,
    /// (fingerprint, cipher), newest first.
    keys: Vec<(String, Aes256Gcm)>,
    /// Opens `v1` values, sealed under a key derived from the OTP key.
    legacy: Aes256Gcm,
}

/// A key's name in the values it seals: 8 hex digits of its SHA-256, which tell keys apart
/// and say nothing about them.
fn fingerprint(key: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&Sha256::digest(key)[..4])
}

impl SealedTable {
    pub fn new(inner: Arc<dyn Table>, secrets: &Secrets) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secrets.otp_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"paspor personal data at rest v1");
        let legacy = Aes256Gcm::new(&mac.finalize().into_bytes());
        let keys = secrets
            .nik_keys
            .iter()
            .map(|k| {
                // AES-256 takes exactly 32 bytes: a longer key is hashed down.
                use sha2::Digest;
                let key = Sha256::digest(k);
                (fingerprint(k), Aes256Gcm::new(&key))
            })
            .collect();
        Self {
            inner,
            keys,
            legacy,
        }
    }

    fn seal_value(&self, field: &str, clear: &str) -> Result<String, StoreError> {
        let (kid, cipher) = self
            .keys
            .first()
            .ok_or_else(|| StoreError::Corrupt("no NIK key".into()))?;
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let payload = aes_gcm::aead::Payload {
            msg: clear.as_bytes(),
            aad: field.as_bytes(),
        };
        let sealed = cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| StoreError::Corrupt("sealing failed".into()))?;
        Ok(format!(
            "{V2}{kid}:{}{}",
            hex::encode(nonce),
            hex::encode(sealed)
        ))
    }

    /// The cipher a stored value was sealed with and its hex payload; `None` for a clear
    /// value (written before sealing existed: read as it is; the next write seals it).
    fn cipher_of<'a>(&self, stored: &'a str) -> Result<Option<(&Aes256Gcm, &'a str)>, StoreError> {
        if let Some(rest) = stored.strip_prefix(V2) {
            let (kid, hexed) = rest
                .split_once(':')
                .ok_or_else(|| StoreError::Corrupt("sealed field".into()))?;
            let (_, cipher) = self.keys.iter().find(|(k, _)| k == kid).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "sealed under NIK key {kid}, which is not configured"
                ))
            })?;
            return Ok(Some((cipher, hexed)));
        }
        Ok(stored.strip_prefix(V1).map(|hexed| (&self.legacy, hexed)))
    }

    fn open_value(&self, field: &str, stored: &str) -> Result<String, StoreError> {
        let Some((cipher, hexed)) = self.cipher_of(stored)? else {
            return Ok(stored.to_owned());
        };
        let raw = hex::decode(hexed).map_err(|_| StoreError::Corrupt("sealed field".into()))?;
        if raw.len() < 12 {
            return Err(StoreError::Corrupt("sealed field".into()));
        }
        let (nonce, sealed) = raw.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| StoreError::Corrupt("sealed field".into()))?;
        let payload = aes_gcm::aead::Payload {
            msg: sealed,
            aad: field.as_bytes(),
        };
        let clear = cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| StoreError::Corrupt("sealed field does not open".into()))?;
        String::from_utf8(clear).map_err(|_| StoreError::Corrupt("sealed field".into()))
    }

    /// Whether an item as stored holds a personal value that is clear or sealed under any
    /// key but the newest: the item to re-seal (read it and write it back) before the old
    /// key is removed.
    pub fn stale(&self, attrs: &Attrs) -> bool {
        let newest = self.keys.first().map(|(k, _)| format!("{V2}{k}:"));
        let stale = std::sync::atomic::AtomicBool::new(false);
        let mut copy = attrs.clone();
        let _ = self.walk_attrs(&mut copy, &|_, _, stored| {
            if newest.as_deref().is_none_or(|n| !stored.starts_with(n)) {
                stale.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(stored.to_owned())
        });
        stale.into_inner()
    }

    /// Re-seals one page of the table (`limit` items after `after`): every item whose
    /// personal values are clear or sealed under an older key is written back sealed under
    /// the newest, on condition that it did not change since it was read (every attribute
    /// but nulls as read; an item changed meanwhile was written through this table, so it
    /// is sealed anew already). Run page after page until `next` is `None`; then an old key
    /// may be removed.
    pub async fn reseal_page(
        &self,
        after: Option<&Key>,
        limit: usize,
    ) -> Result<ResealPage, StoreError> {
        let items = self.inner.scan(after, limit.max(1)).await?;
        let next = (items.len() >= limit.max(1))
            .then(|| items.last().map(|i| i.key.clone()))
            .flatten();
        let mut page = ResealPage {
            checked: items.len(),
            resealed: 0,
            next,
        };
        for raw in items {
            if !self.stale(&raw.attrs) {
                continue;
            }
            let unchanged = Cond::All(
                raw.attrs
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| Cond::Eq(k.clone(), v.clone()))
                    .collect(),
            );
            let mut attrs = raw.attrs.clone();
            self.open_attrs(&mut attrs)?;
            self.seal_attrs(&mut attrs)?;
            let item = Item {
                key: raw.key,
                attrs,
            };
            match self.inner.put(item, Some(unchanged)).await {
                Ok(()) => page.resealed += 1,
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(page)
    }

    fn walk(
        &self,
        value: &mut Value,
        f: &dyn Fn(&Self, &str, &str) -> Result<String, StoreError>,
    ) -> Result<(), StoreError> {
        match value {
            Value::Object(map) => self.walk_attrs(map, f),
            Value::Array(items) => items.iter_mut().try_for_each(|v| self.walk(v, f)),
            _ => Ok(()),
        }
    }

    fn walk_attrs(
        &self,
        attrs: &mut Attrs,
        f: &dyn Fn(&Self, &str, &str) -> Result<String, StoreError>,
    ) -> Result<(), StoreError> {
        for (name, value) in attrs.iter_mut() {
            match value {
                Value::String(s) if SEALED_FIELDS.contains(&name.as_str()) => {
                    *s = f(self, name, s)?;
                }
                other => self.walk(other, f)?,
            }
        }
        Ok(())
    }

    fn seal_attrs(&self, attrs: &mut Attrs) -> Result<(), StoreError> {
        self.walk_attrs(attrs, &|this, field, clear| {
            if clear.starts_with(PREFIX) {
                Ok(clear.to_owned())
            } else {
                this.seal_value(field, clear)
            }
        })
    }

    fn open_attrs(&self, attrs: &mut Attrs) -> Result<(), StoreError> {
        self.walk_attrs(attrs, &|this, field, stored| this.open_value(field, stored))
    }

    fn seal_item(&self, mut item: Item) -> Result<Item, StoreError> {
        self.seal_attrs(&mut item.attrs)?;
        Ok(item)
    }

    fn seal_update(&self, mut update: Update) -> Result<Update, StoreError> {
        self.seal_attrs(&mut update.set)?;
        Ok(update)
    }
}

#[async_trait]
impl Table for SealedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let mut item = self.inner.get(key).await?;
        if let Some(item) = item.as_mut() {
            self.open_attrs(&mut item.attrs)?;
        }
        Ok(item)
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        self.inner.put(self.seal_item(item)?, cond).await
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        cond: Option<Cond>,
    ) -> Result<Attrs, StoreError> {
        let mut attrs = self
            .inner
            .update(key, self.seal_update(update)?, cond)
            .await?;
        self.open_attrs(&mut attrs)?;
        Ok(attrs)
    }

    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        self.inner.delete(key, cond).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let writes = writes
            .into_iter()
            .map(|w| {
                Ok(match w {
                    Write::Put { item, cond } => Write::Put {
                        item: self.seal_item(item)?,
                        cond,
                    },
                    Write::Update { key, update, cond } => Write::Update {
                        key,
                        update: self.seal_update(update)?,
                        cond,
                    },
                    other => other,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.inner.transact(writes).await
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<Vec<Item>, StoreError> {
        let mut items = self.inner.scan(after, limit).await?;
        for item in &mut items {
            self.open_attrs(&mut item.attrs)?;
        }
        Ok(items)
    }

    async fn query_from(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = self.inner.query_from(pk, sk_prefix, after, limit).await?;
        for item in &mut items {
            self.open_attrs(&mut item.attrs)?;
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secrets(nik_keys: &[&[u8]]) -> Secrets {
        Secrets {
            token_keys: vec![b"t".to_vec()],
            otp_key: b"o".to_vec(),
            nik_keys: nik_keys.iter().map(|k| k.to_vec()).collect(),
            nik_lock_key: b"l".to_vec(),
            webhook_secrets: vec![],
        }
    }

    fn table() -> SealedTable {
        table_with(&[b"nik-key-2"])
    }

    fn table_with(nik_keys: &[&[u8]]) -> SealedTable {
        struct Nothing;
        #[async_trait]
        impl Table for Nothing {
            async fn get(&self, _: &Key) -> Result<Option<Item>, StoreError> {
                Ok(None)
            }
            async fn put(&self, _: Item, _: Option<Cond>) -> Result<(), StoreError> {
                Ok(())
            }
            async fn update(
                &self,
                _: &Key,
                _: Update,
                _: Option<Cond>,
            ) -> Result<Attrs, StoreError> {
                Ok(Attrs::new())
            }
            async fn delete(&self, _: &Key, _: Option<Cond>) -> Result<(), StoreError> {
                Ok(())
            }
            async fn transact(&self, _: Vec<Write>) -> Result<(), StoreError> {
                Ok(())
            }
            async fn scan(&self, _: Option<&Key>, _: usize) -> Result<Vec<Item>, StoreError> {
                Ok(vec![])
            }
            async fn query_from(
                &self,
                _: &str,
                _: &str,
                _: Option<&str>,
                _: usize,
            ) -> Result<Vec<Item>, StoreError> {
                Ok(vec![])
            }
        }
        SealedTable::new(Arc::new(Nothing), &secrets(nik_keys))
    }

    #[test]
    fn niks_are_sealed_at_any_depth_and_open_again() {
        let t = table();
        let clear = json!({"nik": "3171014506900007", "applicant": {"nik": "3171014506900007", "full_name": "Sari"}, "n": 1});
        let mut attrs = clear.as_object().cloned().expect("object");
        t.seal_attrs(&mut attrs).expect("seal");
        let stored = Value::Object(attrs.clone()).to_string();
        assert!(!stored.contains("3171014506900007"), "{stored}");
        assert!(stored.contains("Sari") && stored.contains(PREFIX));
        // Sealing twice does not double-seal; two seals of one NIK differ (random nonce).
        let mut again = attrs.clone();
        t.seal_attrs(&mut again).expect("seal");
        assert_eq!(again, attrs);
        assert_ne!(attrs["nik"], attrs["applicant"]["nik"]);
        t.open_attrs(&mut attrs).expect("open");
        assert_eq!(Value::Object(attrs), clear);
        let seed = "aa".repeat(32);
        let mut release = json!({"seed": seed, "seed_sha256": "x"})
            .as_object()
            .cloned()
            .expect("object");
        t.seal_attrs(&mut release).expect("seal");
        assert!(!Value::Object(release.clone()).to_string().contains(&seed));
        t.open_attrs(&mut release).expect("open");
        assert_eq!(release["seed"], seed.as_str());
    }

    #[test]
    fn tampering_is_detected_and_old_clear_values_still_read() {
        let t = table();
        let sealed = t.seal_value("nik", "3171014506900007").expect("seal");
        let mut bytes = sealed.into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(bytes).expect("utf8");
        assert!(t.open_value("nik", &tampered).is_err());
        assert_eq!(
            t.open_value("nik", "3171014506900007").expect("legacy"),
            "3171014506900007"
        );
    }

    #[test]
    fn a_rotation_keeps_every_nik_readable_and_says_what_to_reseal() {
        let old = table_with(&[b"nik-key-1"]);
        let rotating = table_with(&[b"nik-key-2", b"nik-key-1"]);
        let rotated = table_with(&[b"nik-key-2"]);
        let before = old.seal_value("nik", "3171014506900007").expect("seal");
        assert_eq!(
            rotating.open_value("nik", &before).expect("open"),
            "3171014506900007"
        );
        let during = rotating
            .seal_value("nik", "3171014506900007")
            .expect("seal");
        assert_eq!(
            rotated.open_value("nik", &during).expect("open"),
            "3171014506900007"
        );
        // Without its key a value does not open, and the error names the key.
        let e = rotated
            .open_value("nik", &before)
            .expect_err("old key gone");
        assert!(e.to_string().contains("not configured"), "{e}");
        let attrs = |v: &str| {
            json!({"applicant": {"nik": v}})
                .as_object()
                .cloned()
                .expect("obj")
        };
        assert!(rotating.stale(&attrs(&before)));
        assert!(!rotating.stale(&attrs(&during)));
        assert!(rotating.stale(&attrs("3171014506900007")));
        // A value sealed before NIK keys existed (v1, from the OTP key) still opens.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"o").expect("hmac");
        mac.update(b"paspor personal data at rest v1");
        let v1 = Aes256Gcm::new(&mac.finalize().into_bytes());
        let payload = aes_gcm::aead::Payload {
            msg: b"3171014506900007".as_slice(),
            aad: b"nik".as_slice(),
        };
        let sealed = v1
            .encrypt(&Nonce::from([0u8; 12]), payload)
            .expect("encrypt");
        let stored = format!("{V1}{}{}", hex::encode([0u8; 12]), hex::encode(sealed));
        assert_eq!(
            rotated.open_value("nik", &stored).expect("v1"),
            "3171014506900007"
        );
    }
}
