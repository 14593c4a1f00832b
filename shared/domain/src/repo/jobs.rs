//! What a job leaves behind so that a redelivery of it does nothing.

use serde_json::json;

use super::keys;
use crate::store::{Item, StoreError, TTL_ATTR};

/// How long a done job is remembered: longer than any queue keeps a message.
pub const DONE_KEEP_SECS: i64 = 14 * 24 * 3600;

/// The marker that job `id` is done, expiring [`DONE_KEEP_SECS`] after `now_secs`.
pub fn done(id: &str, now_secs: i64) -> Result<Item, StoreError> {
    Item::from_record(
        keys::job_done(id),
        &json!({ TTL_ATTR: now_secs + DONE_KEEP_SECS }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_expires_after_the_queues_keep_their_messages() {
        let item = done("j1", 100).expect("marker");
        assert_eq!(item.key, keys::job_done("j1"));
        assert_eq!(item.attrs[TTL_ATTR], 100 + DONE_KEEP_SECS);
    }
}
