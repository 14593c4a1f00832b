//! What officers and the people who run Paspor do: the day's schedule at an office,
//! check-in on the booked day, the decision and delivery, and an audit trail of every
//! operator action (who, when, what, the status before and after).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    Error, Ports,
    applications::{Application, Applications, DocumentState, Status},
    passport::PassportType,
    quota::Quota,
    repo::keys,
    store::{Cond, Item, Key, StoreError, Write},
    text,
};

/// One booking on an office's day, as the officers see it: the NIK masked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Visit {
    pub application_id: String,
    pub time: Option<String>,
    pub status: Status,
    pub applicant: VisitingApplicant,
    pub passport_type: PassportType,
    pub express: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitingApplicant {
    pub full_name: String,
    /// All but the region and the last two digits hidden.
    pub nik: String,
    pub birth_date: NaiveDate,
}

impl Visit {
    fn of(app: Application) -> Self {
        Self {
            time: app.booking.as_ref().map(|b| b.time.clone()),
            status: app.status,
            applicant: VisitingApplicant {
                nik: crate::nik::masked(&app.applicant.nik),
                full_name: app.applicant.full_name,
                birth_date: app.applicant.birth_date,
            },
            passport_type: app.passport_type,
            express: app.express,
            application_id: app.application_id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Pickup,
    Post,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: String,
    pub delivery: Delivery,
    pub address: Option<String>,
}

/// One operator action, as kept in the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub operator: String,
    pub action: String,
    pub subject: String,
    pub before: Option<Status>,
    pub after: Option<Status>,
    pub details: Value,
}

pub fn audit_key(subject: &str, at: DateTime<Utc>) -> Key {
    keys::audit(subject, at, &ulid::Ulid::new().to_string())
}

pub struct Operations {
    ports: Ports,
    applications: Arc<Applications>,
    quota: Arc<Quota>,
}

/// How many days back a purge looks, so a sweeper that was down catches up.
const PURGE_LOOKBACK_DAYS: i64 = 14;

/// Purge entries read at once; a day with more is read again until none is due.
const PURGE_PAGE: usize = 1000;

impl Operations {
    pub fn new(ports: Ports, applications: Arc<Applications>, quota: Arc<Quota>) -> Self {
        Self {
            ports,
            applications,
            quota,
        }
    }

    /// Deletes every stored object of the applications whose retention has passed: ended
    /// (decided, cancelled, expired) that long ago, or drafts untouched that long. An entry
    /// that comes due for an application still in use moves to one retention after its last
    /// change. Each step is safe to repeat, so a crash midway is finished by the next run.
    /// Answers how many applications lost their objects.
    pub async fn purge_documents(&self) -> Result<u32, Error> {
        let now = self.ports.clock.now();
        let mut purged = 0;
        for back in (0..=PURGE_LOOKBACK_DAYS).rev() {
            let day = now - chrono::TimeDelta::days(back);
            let pk = keys::purge_day(day);
            // Page by page after the last entry seen: an entry that fails (a storage outage,
            // a record that does not open) is logged and left for the next run, and never
            // holds up the entries after it.
            let mut after: Option<String> = None;
            loop {
                let items = self
                    .ports
                    .table
                    .query_from(&pk, "", after.as_deref(), PURGE_PAGE)
                    .await?;
                let full = items.len() >= PURGE_PAGE;
                after = items.last().map(|i| i.key.sk.clone());
                for item in items {
                    let due = item
                        .attrs
                        .get("due_ms")
                        .and_then(Value::as_i64)
                        .unwrap_or_default();
                    if due > now.timestamp_millis() {
                        continue;
                    }
                    // Entries from before the id was an attribute had it as the sort key.
                    let id = item
                        .attrs
                        .get("application_id")
                        .and_then(Value::as_str)
                        .unwrap_or(&item.key.sk)
                        .to_owned();
                    match self.purge_one(&id, &item.key, now).await {
                        Ok(done) => purged += u32::from(done),
                        Err(e) => {
                            tracing::error!(application = %id, error = %e, "purge failed; the next run retries");
                        }
                    }
                }
                if !full {
                    break;
                }
            }
        }
        Ok(purged)
    }

    /// Handles one due purge entry: deletes the application's objects if its retention has
    /// passed (answers true), or moves the entry to when it will have.
    async fn purge_one(&self, id: &str, entry: &Key, now: DateTime<Utc>) -> Result<bool, Error> {
        let retention = self.applications.document_retention();
        let app = match self.applications.load(id).await {
            Ok(app) => Some(app),
            Err(Error::NotFound) => None,
            Err(e) => return Err(e),
        };
        if let Some(app) = &app {
            let due = app.last_changed() + retention;
            let over = !app.status.is_active() || app.status == Status::Draft;
            if !over || due > now {
                // In use (an expired application booked again, too), or changed since the
                // entry was written: look again one retention after its last change.
                let later = if due > now { due } else { now + retention };
                self.move_purge(id, entry, later, now).await?;
                return Ok(false);
            }
        }
        for prefix in crate::documents::application_prefixes(id) {
            self.ports
                .documents
                .delete_prefix(&prefix)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "stored objects not deleted; the next purge retries");
                    Error::Busy {
                        retry_after_secs: 60,
                    }
                })?;
        }
        let mut draft = false;
        if app.is_some() {
            self.applications
                .change(None, id, |app, _| {
                    draft = app.status == Status::Draft;
                    for doc in app.documents.values_mut() {
                        if draft {
                            // Uploaded no more: the applicant uploads again to go on.
                            *doc = DocumentState::default();
                        } else {
                            doc.key = None;
                            doc.pending = None;
                        }
                    }
                    Ok(())
                })
                .await?;
        }
        if draft {
            // A draft may be taken up again and left again: keep looking.
            self.move_purge(id, entry, now + retention, now).await?;
        } else {
            self.ports.table.delete(entry, None).await?;
        }
        tracing::info!(
            draft,
            "stored objects of an application deleted after retention"
        );
        Ok(true)
    }

    /// Replaces a purge entry by one due at `due`, atomically. Never due before the next
    /// run, so one run ends whatever the retention.
    async fn move_purge(
        &self,
        id: &str,
        entry: &Key,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let due = due.max(now + chrono::TimeDelta::minutes(1));
        let next = self.applications.purge_entry_at(id, due)?;
        let same = matches!(&next, Write::Put { item, .. } if item.key == *entry);
        let mut writes = vec![next];
        if !same {
            writes.push(Write::Delete {
                key: entry.clone(),
                cond: None,
            });
        }
        self.ports.table.transact(writes).await?;
        Ok(())
    }

    /// Records an action that changed no application (an office, its quota).
    pub async fn audit(
        &self,
        operator: &str,
        action: &str,
        subject: &str,
        details: Value,
    ) -> Result<(), Error> {
        let now = self.ports.clock.now();
        let entry = AuditEntry {
            at: now,
            operator: operator.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            before: None,
            after: None,
            details,
        };
        self.ports
            .table
            .put(Item::from_record(audit_key(subject, now), &entry)?, None)
            .await?;
        Ok(())
    }

    pub async fn audit_trail(&self, subject: &str) -> Result<Vec<AuditEntry>, Error> {
        let items = crate::store::query_all(
            self.ports.table.as_ref(),
            &keys::audit_trail(subject),
            "",
            1000,
        )
        .await?;
        items
            .iter()
            .map(|i| i.record().map_err(Error::from))
            .collect()
    }

    /// Changes an application and records the action in its audit trail, atomically.
    async fn act(
        &self,
        operator: &str,
        action: &str,
        id: &str,
        details: Value,
        f: impl Fn(&mut Application, DateTime<Utc>) -> Result<Vec<Write>, Error>,
    ) -> Result<Application, Error> {
        crate::retry::retrying(|| async {
            let app = self.applications.load(id).await?;
            let now = self.ports.clock.now();
            let mut next = app.clone();
            let extra = f(&mut next, now)?;
            next.version = app.version + 1;
            let entry = AuditEntry {
                at: now,
                operator: operator.to_owned(),
                action: action.to_owned(),
                subject: id.to_owned(),
                before: Some(app.status),
                after: Some(next.status),
                details: details.clone(),
            };
            let mut writes = vec![
                crate::repo::applications::save(&next, app.version)?,
                Write::Put {
                    item: Item::from_record(audit_key(id, now), &entry)?,
                    cond: Some(Cond::NotExists),
                },
            ];
            writes.extend(extra);
            match self.ports.table.transact(writes).await {
                Ok(()) => Ok(next),
                Err(StoreError::ConditionFailed { .. }) => Err(Error::Conflict),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Check-in: paid, and the booked day is today at the office (the receipt's QR code
    /// carries the application id).
    /// Check-in on the booked day. For a place in the priority lane the officer says whether
    /// the reason held (`priority_verified`); the visit goes ahead either way, and the
    /// audit trail keeps what was said.
    pub async fn check_in(
        &self,
        operator: &str,
        id: &str,
        priority_verified: Option<bool>,
    ) -> Result<Application, Error> {
        let app = self.applications.load(id).await?;
        let Some(booking) = app.booking.clone() else {
            return Err(Error::InvalidState(text::NO_BOOKING));
        };
        let office = self.quota.office(&booking.office_id).await?;
        let today = office.timezone.today(self.ports.clock.now());
        let mut details = json!({"office_id": booking.office_id});
        if let Some(lane) = booking.lane {
            details["lane"] = json!(lane);
        }
        if let Some(verified) = priority_verified {
            details["priority_verified"] = json!(verified);
        }
        self.act(operator, "check_in", id, details, |next, now| {
            if next.status != Status::Paid {
                return Err(Error::InvalidState(text::CHECK_IN_NEEDS_PAID));
            }
            if booking.date != today {
                return Err(Error::NotBookedToday);
            }
            next.set_status(Status::CheckedIn, now);
            Ok(vec![])
        })
        .await
    }

    /// The officer's decision; a decided application frees its NIK for a new one.
    pub async fn decide(
        &self,
        operator: &str,
        id: &str,
        decision: &Decision,
    ) -> Result<Application, Error> {
        if decision.reason.trim().is_empty() || decision.reason.chars().count() > 500 {
            return Err(Error::invalid("reason", text::REASON_REQUIRED));
        }
        if decision.delivery == Delivery::Post
            && decision
                .address
                .as_deref()
                .is_none_or(|a| a.trim().is_empty())
        {
            return Err(Error::invalid("address", text::DELIVERY_ADDRESS_REQUIRED));
        }
        let details = serde_json::to_value(decision).map_err(|e| Error::Internal(e.to_string()))?;
        self.act(operator, "decision", id, details, |next, now| {
            if next.status != Status::CheckedIn {
                return Err(Error::InvalidState(text::DECISION_NEEDS_CHECK_IN));
            }
            let status = match decision.outcome {
                Outcome::Approved => Status::Approved,
                Outcome::Rejected => Status::Rejected,
            };
            next.set_status(status, now);
            Ok(vec![
                self.applications.release_nik(next),
                self.applications.purge_entry(id, now)?,
            ])
        })
        .await
    }

    /// The day's bookings at an office, with applicant, time and status.
    pub async fn schedule(
        &self,
        office_id: &str,
        date: chrono::NaiveDate,
    ) -> Result<Vec<Visit>, Error> {
        crate::validate::date("date", date)?;
        self.quota.office(office_id).await?;
        let items = crate::store::query_all(
            self.ports.table.as_ref(),
            &keys::schedule_day(office_id, date),
            "",
            1000,
        )
        .await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let id = item
                .attrs
                .get("application_id")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let Ok(app) = self.applications.load(id).await else {
                continue;
            };
            out.push(Visit::of(app));
        }
        Ok(out)
    }
}
