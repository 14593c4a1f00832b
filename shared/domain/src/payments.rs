//! Payments that are never lost: the signed webhook from payment channels, late payments,
//! refunds to record, and the expiry of unpaid billings.
//!
//! Every notification is recorded (`PAYMENT#<transaction_id>`) in the same transaction that
//! changes the application, and only then acknowledged: a replay finds the record and
//! changes nothing; a crash before the commit leaves nothing half-done and the channel
//! retries. Expiry and payment both write the application under its version, so when they
//! race exactly one wins, and the loser takes the late-payment path.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};

use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::{
    Error, Ports,
    applications::{Application, Applications, Status},
    jobs::{Job, Notice},
    repo::keys,
    repo::tx::Failed,
    retry::retrying,
    store::{Item, Key},
    transitions::{self, Decision, PayGuard, Payment, RefundGuard},
};

/// How far a notification's timestamp may be from the clock.
pub const TOLERANCE_SECS: i64 = 300;

pub use crate::model::payment::*;
use crate::{model::ids::BillingCode, text};

/// Checks `X-Paspor-Signature: v1=<hex HMAC-SHA256(secret, timestamp "." body)>` against
/// every configured secret (several during a rotation), in constant time, and the
/// timestamp against the one clock.
pub fn verify_signature(
    secrets: &[Vec<u8>],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Error::InvalidSignature)?;
    // abs_diff: a timestamp of i64::MIN must not overflow.
    if now.timestamp().abs_diff(ts) > TOLERANCE_SECS.unsigned_abs() {
        return Err(Error::InvalidSignature);
    }
    let given = signature
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("v1="))
        .filter_map(|hex_sig| hex::decode(hex_sig).ok())
        .collect::<Vec<_>>();
    let ok = secrets.iter().any(|secret| {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        mac.update(timestamp.trim().as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        given
            .iter()
            .any(|g| bool::from(g.as_slice().ct_eq(&expected[..])))
    });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidSignature)
    }
}

/// The signature a channel sends (for tests, demos and the channels' own tooling).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

pub struct Payments {
    ports: Ports,
    applications: Arc<Applications>,
    /// Expiry entries read at a time: a bucket holds any number, read page by page.
    page_size: usize,
}

/// Expiry entries read at a time by default.
pub const SWEEP_PAGE: usize = 1000;

impl Payments {
    pub fn new(ports: Ports, applications: Arc<Applications>) -> Self {
        Self {
            ports,
            applications,
            page_size: SWEEP_PAGE,
        }
    }

    /// Reads expiry entries `n` at a time (a test shows paging with a small `n`).
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// `POST /v1/payments/notifications` once the signature is checked. Answers the outcome,
    /// and whether an accepted payment came after its billing's deadline.
    pub async fn notify(&self, n: &Notification) -> Result<(Outcome, bool), Error> {
        // Part of a key: bounded first (a channel's ids are short printable text).
        let id_ok = (1..=128).contains(&n.transaction_id.len())
            && n.transaction_id.bytes().all(|b| b.is_ascii_graphic());
        if !id_ok {
            return Err(Error::invalid("transaction_id", text::TRANSACTION_ID_FORM));
        }
        if let Some(seen) = self
            .ports
            .table
            .get(&keys::payment(&n.transaction_id))
            .await?
        {
            let seen: PaymentRecord = seen.record()?;
            if seen.outcome == Outcome::Accepted {
                // The first delivery may have died between recording the payment and
                // queuing its email: queue it again under the same id; the worker sends
                // it once.
                let app = self.applications.load(&seen.application_id).await?;
                self.paid_notice(&app, n).await?;
            }
            return Ok((Outcome::Duplicate, false));
        }
        // A code whose check digit is wrong was never issued: no read for it.
        let code = BillingCode::parse(&n.billing_code).map_err(|_| Error::UnknownBillingCode)?;
        let index = self
            .ports
            .table
            .get(&keys::billing(&code))
            .await?
            .ok_or(Error::UnknownBillingCode)?;
        let application_id = index
            .attrs
            .get("application_id")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let outcome = retrying(|| self.apply(n, &application_id)).await?;
        let mut late = false;
        if outcome == Outcome::Accepted {
            let app = self.applications.load(&application_id).await?;
            late = app
                .billing
                .as_ref()
                .is_some_and(|b| b.paid_at.is_some_and(|paid| paid > b.expires_at))
                || app.timeline.iter().any(|t| t.status == Status::Expired);
            self.paid_notice(&app, n).await?;
        }
        Ok((outcome, late))
    }

    /// Queues the "payment received" email. Its id comes from the transaction, so however
    /// many deliveries queue it, one email goes out; a queue failure fails the delivery
    /// (`503`), and the channel's redelivery queues it again.
    async fn paid_notice(&self, app: &Application, n: &Notification) -> Result<(), Error> {
        let job = Job::Notify {
            id: format!("paid-{}", n.transaction_id),
            account_id: app.account_id.clone(),
            notice: Notice::PaymentReceived {
                application_id: app.application_id.clone(),
                billing_code: n.billing_code.clone(),
                appointment: app
                    .booking
                    .as_ref()
                    .map(|b| format!("{} {}", b.date, b.time)),
            },
            from_draw: false,
        };
        self.ports.queue.enqueue(&job).await.map_err(|e| {
            tracing::warn!(error = %e, "payment email not queued; the delivery fails so the channel retries");
            Error::Busy {
                retry_after_secs: 1,
            }
        })
    }

    async fn apply(&self, n: &Notification, application_id: &str) -> Result<Outcome, Error> {
        let app = self.applications.load(application_id).await?;
        let ctx = self.applications.context(&app, self.ports.clock.now());
        match transitions::pay(&app, n, &ctx)? {
            Payment::Apply(decision) => self.commit(n, &app, *decision).await,
            Payment::Late {
                with_place,
                without_place,
            } => {
                // The lapsed place if its slot still has room, else paid without a place.
                if let Some(decision) = with_place {
                    match self.commit(n, &app, *decision).await {
                        Err(Error::SlotFull) => {}
                        other => return other,
                    }
                }
                self.commit(n, &app, *without_place).await
            }
            Payment::Refund(reason) => self.record_for_refund(n, &app, reason).await,
        }
    }

    async fn record_for_refund(
        &self,
        n: &Notification,
        app: &Application,
        reason: &str,
    ) -> Result<Outcome, Error> {
        let now = self.ports.clock.now();
        let tx = transitions::refund(&app.application_id, n, reason, now)?;
        match tx.commit(self.ports.table.as_ref()).await {
            Ok(()) => {
                tracing::warn!(transaction = %n.transaction_id, reason, "payment recorded for refund");
                Ok(Outcome::RecordedForRefund)
            }
            Err(Failed::Guard(RefundGuard::Recorded)) => Ok(Outcome::Duplicate),
            Err(Failed::Unnamed) => Err(Error::Internal("refund: a condition failed".into())),
            Err(Failed::Store(e)) => Err(e.into()),
        }
    }

    /// Commits a payment's decision: the payment recorded with the application's new state.
    async fn commit(
        &self,
        n: &Notification,
        app: &Application,
        decision: Decision<PayGuard>,
    ) -> Result<Outcome, Error> {
        match decision.tx.commit(self.ports.table.as_ref()).await {
            Ok(()) => Ok(Outcome::Accepted),
            Err(Failed::Guard(PayGuard::Recorded)) => Ok(Outcome::Duplicate),
            Err(Failed::Guard(PayGuard::Version)) => Err(Error::Conflict),
            Err(Failed::Guard(PayGuard::Nik)) => {
                // The NIK went to another application meanwhile: keep the money for refund.
                self.record_for_refund(n, app, "NIK has another active application")
                    .await
            }
            Err(Failed::Guard(PayGuard::Slot) | Failed::Unnamed) => Err(Error::SlotFull),
            Err(Failed::Store(e)) => Err(e.into()),
        }
    }

    /// Late and duplicate payments awaiting refund, oldest first.
    pub async fn exceptions(&self) -> Result<Vec<PaymentRecord>, Error> {
        let items = crate::store::query_all(
            self.ports.table.as_ref(),
            keys::PAYMENT_EXCEPTIONS,
            "",
            1000,
        )
        .await?;
        items
            .iter()
            .map(|i| i.record().map_err(Error::from))
            .collect()
    }

    /// Expires every unpaid billing past its deadline: the place returns to the quota, the
    /// NIK is free, the application is `expired`. Answers how many expired.
    pub async fn sweep(&self) -> Result<u32, Error> {
        let now = self.ports.clock.now();
        let table = &self.ports.table;
        let watermark_key = keys::sweeper_watermark();
        let from = match table.get(&watermark_key).await? {
            Some(item) => item
                .attrs
                .get("hour")
                .and_then(|v| v.as_str())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.with_timezone(&Utc)),
            None => None,
        }
        .unwrap_or(now - TimeDelta::hours(48));
        // Buckets are whole hours: start at the top of the first one.
        let from = from
            - TimeDelta::seconds(from.timestamp().rem_euclid(3600))
            - TimeDelta::nanoseconds(i64::from(from.timestamp_subsec_nanos()));
        let mut expired = 0;
        let mut hour = from;
        // The first hour that still holds entries (not yet due, or failed): the next sweep
        // starts there.
        let mut first_incomplete = None;
        while hour <= now {
            let bucket = keys::expiry_hour(hour);
            let mut bucket_done = true;
            // Page through the whole bucket: an hour may hold any number of expiries.
            let mut after: Option<String> = None;
            loop {
                let items = table
                    .query_from(&bucket, "", after.as_deref(), self.page_size)
                    .await?;
                let full = items.len() >= self.page_size;
                after = items.last().map(|i| i.key.sk.clone());
                for item in items {
                    let due = item
                        .key
                        .sk
                        .split('#')
                        .next()
                        .and_then(|ms| ms.parse::<i64>().ok())
                        .unwrap_or(i64::MAX);
                    if due > now.timestamp_millis() {
                        bucket_done = false;
                        continue;
                    }
                    let id = item
                        .attrs
                        .get("application_id")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned();
                    match retrying(|| self.expire(&id, &item.key)).await {
                        Ok(true) => expired += 1,
                        Ok(false) => {}
                        Err(e) => {
                            tracing::error!(application = %id, error = %e, "expiry failed; retried on the next sweep");
                            bucket_done = false;
                        }
                    }
                }
                if !full {
                    break;
                }
            }
            if !bucket_done && first_incomplete.is_none() {
                first_incomplete = Some(hour);
            }
            hour += TimeDelta::hours(1);
        }
        let mark = first_incomplete.unwrap_or(now) - TimeDelta::hours(1);
        table
            .put(
                Item::from_record(watermark_key, &json!({"hour": mark.to_rfc3339()}))?,
                None,
            )
            .await?;
        Ok(expired)
    }

    /// Expires one application if it is still unpaid past its deadline.
    async fn expire(&self, id: &str, entry: &Key) -> Result<bool, Error> {
        let app = match self.applications.load(id).await {
            Ok(app) => app,
            Err(Error::NotFound) => {
                self.ports.table.delete(entry, None).await?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let ctx = self.applications.context(&app, self.ports.clock.now());
        let Some(Decision { next, tx }) = transitions::expire(&app, entry, &ctx)? else {
            self.ports.table.delete(entry, None).await?;
            return Ok(false);
        };
        match tx.commit(self.ports.table.as_ref()).await {
            Ok(()) => {
                let code = app.billing.map(|b| b.billing_code).unwrap_or_default();
                self.notice(
                    &next,
                    Notice::Expired {
                        application_id: id.to_owned(),
                        billing_code: code,
                    },
                )
                .await;
                Ok(true)
            }
            Err(Failed::Guard(()) | Failed::Unnamed) => Err(Error::Conflict),
            Err(Failed::Store(e)) => Err(e.into()),
        }
    }

    async fn notice(&self, app: &Application, notice: Notice) {
        crate::notify::notify(&self.ports, &app.account_id, notice).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let now = Utc::now();
        let ts = now.timestamp();
        let body = br#"{"transaction_id":"t1"}"#;
        let sig = sign(b"secret-a", ts, body);
        let secrets = vec![b"secret-b".to_vec(), b"secret-a".to_vec()];
        assert!(
            verify_signature(&secrets, &ts.to_string(), &sig, body, now).is_ok(),
            "any valid secret"
        );
        assert!(verify_signature(&secrets[..1], &ts.to_string(), &sig, body, now).is_err());
        assert!(
            verify_signature(&secrets, &ts.to_string(), &sig, b"{}", now).is_err(),
            "body tampered"
        );
        assert!(
            verify_signature(&secrets, &(ts + 1).to_string(), &sig, body, now).is_err(),
            "timestamp tampered"
        );
        let old = now + TimeDelta::seconds(301);
        assert!(
            verify_signature(&secrets, &ts.to_string(), &sig, body, old).is_err(),
            "too old"
        );
        let edge = now + TimeDelta::seconds(300);
        assert!(verify_signature(&secrets, &ts.to_string(), &sig, body, edge).is_ok());
        assert!(verify_signature(&secrets, "abc", &sig, body, now).is_err());
        assert!(verify_signature(&secrets, &ts.to_string(), "v1=zz", body, now).is_err());
    }
}
