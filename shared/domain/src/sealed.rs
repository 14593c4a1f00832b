//! Personal data sealed at rest, field by field: every attribute named `nik`, at any depth
//! of any item, is stored as AES-256-GCM ciphertext and opened again on the way out. The
//! services never see the difference; a table dump, a backup or an operator browsing the
//! table in the console sees no NIK. (Uniqueness never needed the clear NIK: its lock is
//! keyed by a keyed hash, [`crate::applications::Applications::nik_ref`].)
//!
//! The key is derived from the deployment's secrets with HMAC-SHA256 under its own label,
//! so it needs no parameter of its own and differs from every other key.

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

/// Attributes sealed wherever they appear.
const SEALED_FIELDS: [&str; 1] = ["nik"];
const PREFIX: &str = "sealed:v1:";

/// The services' ports with the table sealing personal data.
pub fn seal(ports: &Ports, secrets: &Secrets) -> Ports {
    let mut sealed = ports.clone();
    sealed.table = Arc::new(SealedTable::new(ports.table.clone(), secrets));
    sealed
}

pub struct SealedTable {
    inner: Arc<dyn Table>,
    cipher: Aes256Gcm,
}

impl SealedTable {
    pub fn new(inner: Arc<dyn Table>, secrets: &Secrets) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&secrets.otp_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"paspor personal data at rest v1");
        let key = mac.finalize().into_bytes();
        Self {
            inner,
            cipher: Aes256Gcm::new(&key),
        }
    }

    fn seal_value(&self, field: &str, clear: &str) -> Result<String, StoreError> {
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let payload = aes_gcm::aead::Payload {
            msg: clear.as_bytes(),
            aad: field.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| StoreError::Corrupt("sealing failed".into()))?;
        Ok(format!(
            "{PREFIX}{}{}",
            hex::encode(nonce),
            hex::encode(sealed)
        ))
    }

    fn open_value(&self, field: &str, stored: &str) -> Result<String, StoreError> {
        let Some(hexed) = stored.strip_prefix(PREFIX) else {
            // Written before sealing existed: read as it is; the next write seals it.
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
        let clear = self
            .cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| StoreError::Corrupt("sealed field does not open".into()))?;
        String::from_utf8(clear).map_err(|_| StoreError::Corrupt("sealed field".into()))
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

    async fn query(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = self.inner.query(pk, sk_prefix, limit).await?;
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

    fn table() -> SealedTable {
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
            async fn query(&self, _: &str, _: &str, _: usize) -> Result<Vec<Item>, StoreError> {
                Ok(vec![])
            }
        }
        let secrets = Secrets {
            token_key: b"t".to_vec(),
            otp_key: b"o".to_vec(),
            webhook_secrets: vec![],
        };
        SealedTable::new(Arc::new(Nothing), &secrets)
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
}
