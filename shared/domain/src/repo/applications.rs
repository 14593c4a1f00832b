//! The writes that recur around an application: saving it under the version it was read
//! at, its NIK's one active application, its billing's indexes, its purge entry.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::{
    model::application::Application,
    repo::keys,
    store::{Cond, Item, StoreError, Update, Write},
};

/// `next` stored only if the application is still at `read_version` (optimistic
/// concurrency: a concurrent change makes this write's condition fail).
pub fn save(next: &Application, read_version: u64) -> Result<Write, StoreError> {
    Ok(Write::Put {
        item: Item::from_record(keys::application(&next.application_id), next)?,
        cond: Some(Cond::eq("version", read_version)),
    })
}

/// A place won in a release, paid: counted on one of the release's shard counters (beside
/// its entries' counts), in the payment's own transaction, so the operators' `paid` is a
/// sum of 32 items, not a read of every winner. Spread by application, so a rush of
/// payments does not contend for one item.
pub fn count_paid(release_id: &str, application_id: &str) -> Write {
    Write::Update {
        key: keys::entry_counter(release_id, keys::entry_shard(application_id)),
        update: Update::new().add("paid", 1),
        cond: None,
    }
}

/// The NIK taken as this application's active one: free, or already this application's.
pub fn take_nik(nik_ref: &str, application_id: &str) -> Result<Write, StoreError> {
    Ok(Write::Put {
        item: Item::from_record(
            keys::active_nik(nik_ref),
            &json!({"application_id": application_id}),
        )?,
        cond: Some(Cond::Any(vec![
            Cond::NotExists,
            Cond::eq("application_id", application_id),
        ])),
    })
}

/// The NIK taken by a new application, only if no application holds it.
pub fn take_nik_if_free(nik_ref: &str, application_id: &str) -> Result<Write, StoreError> {
    Ok(Write::Put {
        item: Item::from_record(
            keys::active_nik(nik_ref),
            &json!({"application_id": application_id}),
        )?,
        cond: Some(Cond::NotExists),
    })
}

/// The NIK free for a new application, only if this application still holds it.
pub fn release_nik(nik_ref: &str, application_id: &str) -> Write {
    Write::Delete {
        key: keys::active_nik(nik_ref),
        cond: Some(Cond::eq("application_id", application_id)),
    }
}

/// A billing code's index to its application; a code already in use fails the write.
pub fn billing_index(code: &str, application_id: &str) -> Result<Write, StoreError> {
    Ok(Write::Put {
        item: Item::from_record(
            keys::billing(code),
            &json!({"application_id": application_id}),
        )?,
        cond: Some(Cond::NotExists),
    })
}

/// An unpaid billing in the sweeper's hour of its deadline.
pub fn expiry_entry(
    expires_at: DateTime<Utc>,
    application_id: &str,
    code: &str,
) -> Result<Write, StoreError> {
    Ok(Write::Put {
        item: Item::from_record(
            keys::expiry(expires_at, application_id),
            &json!({"application_id": application_id, "billing_code": code}),
        )?,
        cond: None,
    })
}

/// The billing's expiry entry gone (paid, or expired).
pub fn drop_expiry(expires_at: DateTime<Utc>, application_id: &str) -> Write {
    Write::Delete {
        key: keys::expiry(expires_at, application_id),
        cond: None,
    }
}

/// A look at the application's stored objects once `due` has come.
pub fn purge_entry(application_id: &str, due: DateTime<Utc>) -> Result<Write, StoreError> {
    Ok(Write::Put {
        item: Item::from_record(
            keys::purge(due, application_id),
            &json!({"application_id": application_id, "due_ms": due.timestamp_millis()}),
        )?,
        cond: None,
    })
}
