//! Fair release: quota gathered for a draw instead of raced for (API.md, "Fair release").
//!
//! A release holds its slots (each marked with its id, so first-come booking refuses them),
//! gathers entries while its window is open, and is drawn by the scheduled side of the
//! system (the sweeper's run): at `entry_closes_at` the window is shut shard by shard and
//! the entries' digest is published; at `draw_at` the order and every outcome are computed
//! by `draw.rs` from the seed, the digest, the entries and the slots — all fixed by then —
//! and applied entry by entry. Each entry's outcome is written in the same transaction as
//! its bookings, under the entry's version, so a draw that crashes and starts again computes
//! the same outcomes and books nothing twice; the slots' own conditions make overselling
//! impossible even then.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    Error, Ports,
    applications::{Applications, storage_unavailable},
    booking::of_member,
    documents::{self, Download},
    draw::{self, DrawEntry, SlotRef},
    jobs::{Job, Notice},
    model::{
        application::{Application, BookingInfo, FromRelease, Status},
        ids::{OfficeId, SlotTime, is_id},
        lane::{Lane, lanes_for},
    },
    quota::{MAX_CAPACITY, Quota},
    repo::{
        applications as rows, keys,
        places::{self, Capacity},
        tx::{Failed, Tx},
    },
    retry::retrying,
    store::{Cond, Item, Key, StoreError, Table, Update, Write, query_all},
    text, transitions, validate,
};

pub const DEFAULT_PAYMENT_HOURS: i64 = 24;
pub const MAX_PAYMENT_HOURS: i64 = 168;
pub const MAX_RELEASE_OFFICES: usize = 50;
/// The most slots one release holds (a few hundred offices, a month, their hours).
pub const MAX_RELEASE_SLOTS: usize = 100_000;
pub const MAX_ENTRY_APPLICATIONS: usize = 5;
pub const MAX_CHOICES: usize = 5;
/// How many writes of a draw (or of holding a release's slots) run at once.
const CONCURRENCY: usize = 16;
/// How many shards of a release's entries are read at once.
const ENTRY_READS: usize = 8;
/// What the draw's emails are about, in their ids: the draw's outcome, or a place from
/// the waitlist.
const DRAWN: &str = "drawn";
const PROMOTED: &str = "promoted";
/// How many outcomes one batch of the draw carries: a message of about 15 KB (SQS takes
/// 256 KiB), a few seconds of a worker's time.
pub const DRAW_BATCH: usize = 100;
/// A draw none of whose missing batches was applied for this long queues them again (a lost
/// message, one dead-lettered and fixed); a draw still progressing is left to go on.
const REQUEUE_AFTER_MINUTES: i64 = 15;

/// Where a release is in its life; `open` and `closed` as answered also read the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Scheduled,
    /// The window is shut and the digest published.
    Closed,
    /// The outcomes are being applied (`drawn_at` is fixed).
    Drawing,
    Drawn,
}

/// What an operator gives a release.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    pub office_ids: Vec<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub slots: BTreeMap<String, Capacity>,
    #[serde(default)]
    pub include_weekends: bool,
    pub entry_opens_at: DateTime<Utc>,
    pub entry_closes_at: DateTime<Utc>,
    pub draw_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_hours: Option<i64>,
}

/// A release as stored. `seed` is secret until the draw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub release_id: String,
    pub office_ids: Vec<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub slots: BTreeMap<String, Capacity>,
    pub include_weekends: bool,
    pub entry_opens_at: DateTime<Utc>,
    pub entry_closes_at: DateTime<Utc>,
    pub draw_at: DateTime<Utc>,
    pub payment_hours: i64,
    seed: String,
    pub seed_sha256: String,
    pub phase: Phase,
    #[serde(default)]
    pub entries_digest: Option<String>,
    #[serde(default)]
    pub drawn_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub won: Option<u64>,
    #[serde(default)]
    pub waitlisted: Option<u64>,
    /// The draw's fan-out, once queued.
    #[serde(default)]
    pub plan: Option<Plan>,
    /// Slots this release held that a change no longer names, not yet given back (a write
    /// failed): the next change or the sweeper's next run gives them back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropping: Vec<SlotRef>,
    /// The stamp of the change that stored this release: it held every slot the release
    /// names, and none of `dropping` was held after it (`places::HELD_AT`).
    #[serde(default)]
    pub held_at: i64,
    pub version: u64,
}

/// How a draw was fanned out: its batches, when they were queued, what they give.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub batches: u32,
    /// When the batches were queued, or last seen progressing.
    pub queued_at: DateTime<Utc>,
    /// How many were applied when last looked at.
    #[serde(default)]
    pub applied: usize,
    pub won: u64,
    pub waitlisted: u64,
}

/// One share of a draw's outcomes, carried by the draw queue to the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrawBatch {
    pub release_id: String,
    /// Its number, from 0: marked once applied.
    pub batch: u32,
    pub outcomes: Vec<draw::Drawn>,
}

/// The draw's outcomes cut into batches of about `size`, the same way each time it is
/// computed: the winners slot by slot (a slot's bookings in one batch where it fits, so
/// batches seldom contend for one slot's item), then the waitlisted in draw order.
pub fn batches_of(drawn: Vec<draw::Drawn>, size: usize) -> Vec<Vec<draw::Drawn>> {
    let size = size.max(1);
    let (mut won, waitlisted): (Vec<_>, Vec<_>) = drawn.into_iter().partition(|d| d.won.is_some());
    won.sort_by(|a, b| {
        let slot = |d: &draw::Drawn| d.won.as_ref().map(|(s, _)| s.clone());
        slot(a).cmp(&slot(b)).then(a.position.cmp(&b.position))
    });
    let mut out: Vec<Vec<draw::Drawn>> = Vec::new();
    let mut current: Vec<draw::Drawn> = Vec::new();
    let mut rest = won.into_iter().peekable();
    while let Some(first) = rest.next() {
        let slot = first.won.as_ref().map(|(s, _)| s.clone());
        let mut group = vec![first];
        while let Some(next) = rest.next_if(|d| d.won.as_ref().map(|(s, _)| s) == slot.as_ref()) {
            group.push(next);
        }
        if current.len() + group.len() > size && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        for d in group {
            if current.len() == size {
                out.push(std::mem::take(&mut current));
            }
            current.push(d);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    let mut waitlisted = waitlisted;
    waitlisted.sort_by_key(|d| d.position);
    out.extend(waitlisted.chunks(size).map(<[_]>::to_vec));
    out
}

impl Release {
    /// A release as `spec` says, before its window opens.
    fn scheduled(
        release_id: &str,
        spec: ReleaseSpec,
        payment_hours: i64,
        seed: String,
        seed_sha256: String,
        version: u64,
    ) -> Self {
        Self {
            release_id: release_id.to_owned(),
            office_ids: spec.office_ids,
            from: spec.from,
            to: spec.to,
            slots: spec.slots,
            include_weekends: spec.include_weekends,
            entry_opens_at: spec.entry_opens_at,
            entry_closes_at: spec.entry_closes_at,
            draw_at: spec.draw_at,
            payment_hours,
            seed,
            seed_sha256,
            phase: Phase::Scheduled,
            entries_digest: None,
            drawn_at: None,
            won: None,
            waitlisted: None,
            plan: None,
            dropping: Vec::new(),
            held_at: 0,
            version,
        }
    }

    /// `scheduled`, `open`, `closed` or `drawn`, at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        match self.phase {
            Phase::Drawn => "drawn",
            Phase::Closed | Phase::Drawing => "closed",
            Phase::Scheduled if now < self.entry_opens_at => "scheduled",
            Phase::Scheduled if now < self.entry_closes_at => "open",
            Phase::Scheduled => "closed",
        }
    }

    fn window_open(&self, now: DateTime<Utc>) -> bool {
        self.phase == Phase::Scheduled && self.entry_opens_at <= now && now < self.entry_closes_at
    }

    /// Whether the release holds `slot`: what [`Self::held_slots`] lists, without building
    /// the list (an entry checks its choices on every request; a release holds thousands).
    pub fn holds(&self, slot: &SlotRef) -> bool {
        self.office_ids.contains(&slot.office_id)
            && self.slots.contains_key(&slot.time)
            && self.holds_day(slot.date)
    }

    fn holds_day(&self, day: NaiveDate) -> bool {
        self.from <= day
            && day <= self.to
            && (self.include_weekends || !matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
    }

    /// Every slot the release holds, with its capacity.
    pub fn held_slots(&self) -> BTreeMap<SlotRef, Capacity> {
        let days: Vec<NaiveDate> = self
            .from
            .iter_days()
            .take_while(|d| *d <= self.to)
            .filter(|d| self.holds_day(*d))
            .collect();
        let mut out = BTreeMap::new();
        for office_id in &self.office_ids {
            for date in &days {
                for (time, capacity) in &self.slots {
                    out.insert(
                        SlotRef {
                            office_id: office_id.clone(),
                            date: *date,
                            time: time.clone(),
                        },
                        capacity.clone(),
                    );
                }
            }
        }
        out
    }

    fn seed_bytes(&self) -> Result<draw::Seed, Error> {
        hex::decode(&self.seed)
            .ok()
            .and_then(|b| <draw::Seed>::try_from(b.as_slice()).ok())
            .ok_or_else(|| Error::Internal(format!("release {}: seed", self.release_id)))
    }

    /// The operators' item: the public one with the slots it holds.
    pub fn ops_view(&self, now: DateTime<Utc>) -> Value {
        let mut v = self.public(now);
        v["slots"] = json!(self.slots);
        v["include_weekends"] = json!(self.include_weekends);
        v
    }

    /// The public item (`GET /v1/releases…`): never the seed before the draw.
    pub fn public(&self, now: DateTime<Utc>) -> Value {
        let mut v = json!({
            "release_id": self.release_id,
            "office_ids": self.office_ids,
            "from": self.from,
            "to": self.to,
            "entry_opens_at": self.entry_opens_at,
            "entry_closes_at": self.entry_closes_at,
            "draw_at": self.draw_at,
            "payment_hours": self.payment_hours,
            "status": self.status(now),
            "seed_sha256": self.seed_sha256,
        });
        if let Some(d) = &self.entries_digest {
            v["entries_digest"] = json!(d);
        }
        if let Some(d) = &self.drawn_at
            && self.phase == Phase::Drawn
        {
            v["drawn_at"] = json!(d);
        }
        v
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Won,
    Waitlisted,
}

/// An entry as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub entry_id: String,
    pub release_id: String,
    pub account_id: String,
    pub application_ids: Vec<String>,
    pub choices: Vec<SlotRef>,
    /// Each application's lanes, in order, on the release's first day.
    pub needs: Vec<Vec<Lane>>,
    pub entered_at: DateTime<Utc>,
    pub version: u64,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub position: Option<usize>,
    #[serde(default)]
    pub slot: Option<SlotRef>,
    /// A waitlisted entry's place from the waitlist (the draw's outcome stays as drawn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted: Option<SlotRef>,
}

/// An entry's id alone, as closing reads it.
#[derive(Deserialize)]
struct EntryId {
    entry_id: String,
}

/// Counts for the operators' view.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub entries: i64,
    pub applications: i64,
    pub places: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub won: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waitlisted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid: Option<u64>,
}

/// The conditions of an entry's write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryGuard {
    /// The window was shut.
    Window,
    /// The entry (or the account's claim on one) changed meanwhile.
    Entry,
    /// An application changed meanwhile.
    Application,
}

/// How booking an entry went.
enum Booked {
    Yes(Vec<Application>),
    /// Its outcome was applied before (a restart, a second runner).
    AlreadyDone,
    /// From the waitlist: the slot has no room for it now.
    NoFit,
}

/// The entry stored as `next`, only if still at `read_version`.
fn entry_write(next: &Entry, read_version: u64) -> Result<Write, StoreError> {
    Ok(Write::Put {
        item: Item::from_record(keys::entry(&next.release_id, &next.entry_id), next)?,
        cond: Some(Cond::eq("version", read_version)),
    })
}

/// The conditions of applying one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApplyGuard {
    /// The outcome is already applied (a restart, or a second runner).
    Done,
    Group(transitions::GroupGuard),
}

/// The demo seed's one upcoming release, as `demo_release.json` says it relative to the
/// seed's moment (the same file `scripts/seed` reads for a deployed stack): Jakarta Selatan
/// and Bandung, a week of days past the seed's 30 days of quota, its window opening a day
/// from `now` for two days, drawn an hour after it closes.
pub fn demo_release(now: DateTime<Utc>) -> (String, ReleaseSpec) {
    #[derive(Deserialize)]
    struct Demo {
        release_id: String,
        office_ids: Vec<String>,
        first_day_after_days: i64,
        days: i64,
        slots: BTreeMap<String, Capacity>,
        include_weekends: bool,
        opens_after_hours: i64,
        open_for_hours: i64,
        drawn_after_close_minutes: i64,
    }
    let demo: Demo = serde_json::from_str(include_str!("demo_release.json"))
        .unwrap_or_else(|e| unreachable!("demo_release.json: {e}"));
    let first = (now + TimeDelta::days(demo.first_day_after_days)).date_naive();
    let opens = now + TimeDelta::hours(demo.opens_after_hours);
    let closes = opens + TimeDelta::hours(demo.open_for_hours);
    let spec = ReleaseSpec {
        office_ids: demo.office_ids,
        from: first,
        to: first + TimeDelta::days(demo.days - 1),
        slots: demo.slots,
        include_weekends: demo.include_weekends,
        entry_opens_at: opens,
        entry_closes_at: closes,
        draw_at: closes + TimeDelta::minutes(demo.drawn_after_close_minutes),
        payment_hours: None,
    };
    (demo.release_id, spec)
}

/// Whether `release_id` is still to be drawn: an application entered in it books nothing
/// first-come and enters no other draw until then.
pub async fn undrawn(table: &dyn Table, release_id: &str) -> Result<bool, Error> {
    match table.get(&keys::release(release_id)).await? {
        // Held while the batches run too (minutes at scale): a winner whose batch had not
        // run yet would otherwise book elsewhere and lose its win to first-come.
        Some(item) => Ok(matches!(
            item.record::<Release>()?.phase,
            Phase::Scheduled | Phase::Closed | Phase::Drawing
        )),
        None => Ok(false),
    }
}

pub struct Releases {
    ports: Ports,
    applications: Arc<Applications>,
    quota: Arc<Quota>,
}

impl Releases {
    pub fn new(ports: Ports, applications: Arc<Applications>, quota: Arc<Quota>) -> Self {
        Self {
            ports,
            applications,
            quota,
        }
    }

    fn table(&self) -> &dyn Table {
        self.ports.table.as_ref()
    }

    pub async fn get(&self, release_id: &str) -> Result<Release, Error> {
        if !is_id(release_id) {
            return Err(Error::NotFound);
        }
        match self.table().get(&keys::release(release_id)).await? {
            Some(item) => Ok(item.record()?),
            None => Err(Error::NotFound),
        }
    }

    /// Gives back slots a change stamped `stamp` (or earlier) held for `release_id`; one a
    /// later change held meanwhile stays. Answers those not given back (a write failed),
    /// each logged.
    async fn give_back(&self, release_id: &str, slots: &[SlotRef], stamp: i64) -> Vec<SlotRef> {
        let undo: Vec<Write> = slots
            .iter()
            .map(|s| places::drop_held(slot_key(s), release_id, stamp))
            .collect();
        let mut left = Vec::new();
        for (s, r) in slots.iter().zip(self.write_all(undo).await) {
            match r {
                Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => {
                    tracing::error!(release = release_id, slot = ?s, error = %e, "a slot held for a release not given back");
                    left.push(s.clone());
                }
            }
        }
        left
    }

    /// Gives back the slots a stored release no longer names, then stores it without
    /// them; those not given back stay for the next try.
    async fn drop_stale(&self, mut release: Release) -> Result<Release, Error> {
        let left = self
            .give_back(&release.release_id, &release.dropping, release.held_at)
            .await;
        if left.len() == release.dropping.len() {
            return Ok(release);
        }
        let read = release.version;
        release.dropping = left;
        release.version += 1;
        self.save(&release, read).await?;
        Ok(release)
    }

    pub async fn list(&self) -> Result<Vec<Release>, Error> {
        query_all(self.table(), keys::RELEASES, "", 100)
            .await?
            .iter()
            .map(|i| i.record().map_err(Error::from))
            .collect()
    }

    // ------------------------------------------------------------------ operators

    /// `PUT /v1/ops/releases/{id}`: creates the release, or changes it before its window
    /// opens; answers it and whether it is new. Its slots are held first, so a release
    /// never exists without its places (a crash in between leaves held slots that the
    /// same PUT, repeated, adopts).
    pub async fn put(&self, release_id: &str, spec: ReleaseSpec) -> Result<(Release, bool), Error> {
        if !is_id(release_id) {
            return Err(Error::invalid("release_id", text::OFFICE_ID_FORM));
        }
        let now = self.ports.clock.now();
        let existing = match self.get(release_id).await {
            Ok(r) => Some(r),
            Err(Error::NotFound) => None,
            Err(e) => return Err(e),
        };
        if let Some(r) = &existing
            && (r.phase != Phase::Scheduled || now >= r.entry_opens_at)
        {
            return Err(Error::ReleaseStarted);
        }
        let mut release = self.validated(release_id, spec, existing.as_ref()).await?;
        // The shards' window flags first (again on every PUT: a crash may have left some
        // out), so no entry of a stored release ever finds its shard missing.
        for shard in 0..keys::ENTRY_SHARDS {
            let counter = Update::new()
                .set("open", true)
                .add("entries", 0)
                .add("applications", 0);
            self.table()
                .update(&keys::entry_counter(release_id, shard), counter, None)
                .await?;
        }
        let held = release.held_slots();
        // The slots the release held before this call (read once: a release may hold
        // 100,000); what it no longer names is given back once the change is stored.
        let before = existing
            .as_ref()
            .map(Release::held_slots)
            .unwrap_or_default();
        let gone: BTreeSet<SlotRef> = before
            .keys()
            .chain(existing.iter().flat_map(|r| &r.dropping))
            .filter(|s| !held.contains_key(*s))
            .cloned()
            .collect();
        // Hold the new slots; on a conflict or a failure give back what this call held.
        // Microseconds: later than any change before it.
        let stamp = now.timestamp_micros();
        release.held_at = stamp;
        let writes = held
            .iter()
            .map(|(s, c)| places::hold_slot(slot_key(s), c, release_id, stamp))
            .collect::<Result<Vec<_>, _>>()?;
        let results = self.write_all(writes).await;
        if results.iter().any(Result::is_err) {
            let mut undo = Vec::new();
            let mut taken = false;
            for ((s, _), r) in held.iter().zip(&results) {
                match r {
                    Err(StoreError::ConditionFailed { .. }) => taken = true,
                    // Held, or perhaps held (a timeout may have written it): given back
                    // unless the release held it before.
                    Ok(()) | Err(_) if !before.contains_key(s) => undo.push(s.clone()),
                    Ok(()) | Err(_) => {}
                }
            }
            self.give_back(release_id, &undo, stamp).await;
            return Err(if taken {
                Error::QuotaExists
            } else {
                Error::Busy {
                    retry_after_secs: 1,
                }
            });
        }
        let cond = match &existing {
            None => Cond::NotExists,
            Some(r) => Cond::All(vec![
                Cond::eq("version", r.version),
                Cond::eq("phase", "scheduled"),
            ]),
        };
        release.dropping = gone.iter().cloned().collect();
        let stored = self
            .table()
            .put(
                Item::from_record(keys::release(release_id), &release)?,
                Some(cond),
            )
            .await;
        if let Err(e) = stored {
            // Not changed: what this call held and the release as stored does not name
            // goes back (a concurrent change that won keeps its own).
            let kept = match self.get(release_id).await {
                Ok(r) => r.held_slots(),
                Err(_) => before.clone(),
            };
            let undo: Vec<SlotRef> = held
                .keys()
                .filter(|s| !before.contains_key(*s) && !kept.contains_key(*s))
                .cloned()
                .collect();
            self.give_back(release_id, &undo, stamp).await;
            return Err(match e {
                StoreError::ConditionFailed { .. } => Error::Conflict,
                e => e.into(),
            });
        }
        if !release.dropping.is_empty() {
            // The change is stored: what is not given back now, the sweeper gives back.
            match self.drop_stale(release.clone()).await {
                Ok(r) => release = r,
                Err(e) => {
                    tracing::warn!(release = release_id, error = %e, "dropped slots left for the sweeper")
                }
            }
        }
        for office in &release.office_ids {
            self.quota.changed(office);
        }
        Ok((release, existing.is_none()))
    }

    async fn validated(
        &self,
        release_id: &str,
        spec: ReleaseSpec,
        existing: Option<&Release>,
    ) -> Result<Release, Error> {
        let offices: BTreeSet<&String> = spec.office_ids.iter().collect();
        if spec.office_ids.is_empty()
            || spec.office_ids.len() > MAX_RELEASE_OFFICES
            || offices.len() != spec.office_ids.len()
        {
            return Err(Error::invalid("office_ids", text::RELEASE_OFFICES));
        }
        for office in &spec.office_ids {
            OfficeId::parse(office)
                .map_err(|_| Error::invalid("office_ids", text::OFFICE_ID_FORM))?;
            match self.quota.office(office).await {
                Err(Error::NotFound) => {
                    return Err(Error::invalid("office_ids", text::NO_SUCH_OFFICE));
                }
                other => other?,
            };
        }
        let (from, to) = (
            validate::date("from", spec.from)?,
            validate::date("to", spec.to)?,
        );
        if to < from || (to - from).num_days() > 366 {
            return Err(Error::invalid("to", text::QUOTA_RANGE));
        }
        if spec.slots.is_empty() {
            return Err(Error::invalid("slots", text::CAPACITY_RANGE));
        }
        for (time, capacity) in &spec.slots {
            SlotTime::parse("slots", time).map_err(|e| Error::Invalid(vec![e]))?;
            if !capacity.within(MAX_CAPACITY) {
                return Err(Error::invalid("slots", text::CAPACITY_RANGE));
            }
        }
        if !(spec.entry_opens_at < spec.entry_closes_at && spec.entry_closes_at <= spec.draw_at) {
            return Err(Error::invalid("entry_closes_at", text::RELEASE_TIMES));
        }
        // Winners are booked from the day after the draw, as booking is from tomorrow (in
        // the easternmost office's time, UTC+9).
        let draw_day = spec
            .draw_at
            .checked_add_signed(TimeDelta::hours(9))
            .map(|t| t.date_naive());
        if draw_day.is_none_or(|d| from <= d) {
            return Err(Error::invalid("from", text::RELEASE_AFTER_DRAW));
        }
        let payment_hours = spec.payment_hours.unwrap_or(DEFAULT_PAYMENT_HOURS);
        if !(1..=MAX_PAYMENT_HOURS).contains(&payment_hours) {
            return Err(Error::invalid("payment_hours", text::RELEASE_PAYMENT_HOURS));
        }
        // A changed release keeps its committed seed: its hash was already published.
        let seed = match existing {
            Some(r) => r.seed.clone(),
            None => hex::encode(draw::new_seed()),
        };
        let seed_sha256 = match existing {
            Some(r) => r.seed_sha256.clone(),
            None => {
                let bytes: draw::Seed = hex::decode(&seed)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| Error::Internal("seed".into()))?;
                draw::seed_sha256(&bytes)
            }
        };
        let spec = ReleaseSpec { from, to, ..spec };
        let version = existing.map_or(0, |r| r.version + 1);
        let release =
            Release::scheduled(release_id, spec, payment_hours, seed, seed_sha256, version);
        if release.held_slots().len() > MAX_RELEASE_SLOTS {
            return Err(Error::invalid("slots", text::RELEASE_TOO_BIG));
        }
        Ok(release)
    }

    /// `GET /v1/ops/releases/{id}`'s counts.
    pub async fn counts(&self, release: &Release) -> Result<Counts, Error> {
        let mut counts = Counts::default();
        let mut paid = 0;
        for shard in 0..keys::ENTRY_SHARDS {
            let key = keys::entry_counter(&release.release_id, shard);
            if let Some(item) = self.table().get(&key).await? {
                let n = |a: &str| item.attrs.get(a).and_then(Value::as_i64).unwrap_or(0);
                counts.entries += n("entries");
                counts.applications += n("applications");
                paid += n("paid");
            }
        }
        counts.places = release
            .held_slots()
            .values()
            .map(|c| match c {
                Capacity::Pool(n) => *n,
                Capacity::Lanes(l) => l.values().sum(),
            })
            .sum();
        if release.phase == Phase::Drawn {
            counts.won = release.won;
            counts.waitlisted = release.waitlisted;
            counts.paid = Some(u64::try_from(paid).unwrap_or(0));
        }
        Ok(counts)
    }

    // ------------------------------------------------------------------ entries

    /// `PUT /v1/releases/{id}/entry`: this account's entry, new or changed; answers it and
    /// whether it is new.
    pub async fn enter(
        &self,
        account_id: &str,
        release_id: &str,
        application_ids: &[String],
        choices: &[SlotRef],
    ) -> Result<(Entry, bool), Error> {
        let release = self.get(release_id).await?;
        if !release.window_open(self.ports.clock.now()) {
            return Err(Error::EntryWindowClosed);
        }
        let distinct: BTreeSet<&String> = application_ids.iter().collect();
        if application_ids.is_empty()
            || application_ids.len() > MAX_ENTRY_APPLICATIONS
            || distinct.len() != application_ids.len()
        {
            return Err(Error::invalid("application_ids", text::ENTRY_APPLICATIONS));
        }
        let chosen: BTreeSet<&SlotRef> = choices.iter().collect();
        if choices.is_empty()
            || choices.len() > MAX_CHOICES
            || chosen.len() != choices.len()
            || choices.iter().any(|c| !release.holds(c))
        {
            return Err(Error::invalid("choices", text::ENTRY_CHOICES));
        }
        let outcome = retrying(|| async {
            let existing = self.own_entry(account_id, release_id).await?;
            let mut apps = Vec::with_capacity(application_ids.len());
            for id in application_ids {
                apps.push(self.applications.get(account_id, id).await?);
            }
            for app in &apps {
                self.may_enter(app, release_id)
                    .await
                    .map_err(|e| of_member(app, e))?;
            }
            for office_id in choices
                .iter()
                .map(|c| &c.office_id)
                .collect::<BTreeSet<_>>()
            {
                let office = self.quota.office(office_id).await?;
                for app in &apps {
                    if !office.passport_types.contains(&app.passport_type) {
                        return Err(of_member(app, Error::PassportTypeNotOffered));
                    }
                }
            }
            let mut removed = Vec::new();
            if let Some(e) = &existing {
                for id in e.application_ids.iter().filter(|id| !distinct.contains(id)) {
                    removed.push(self.applications.get(account_id, id).await?);
                }
            }
            let now = self.ports.clock.now();
            let entry = Entry {
                entry_id: existing
                    .as_ref()
                    .map_or_else(|| ulid::Ulid::new().to_string(), |e| e.entry_id.clone()),
                release_id: release_id.to_owned(),
                account_id: account_id.to_owned(),
                application_ids: application_ids.to_vec(),
                choices: choices.to_vec(),
                needs: apps.iter().map(|a| lanes_for(a, release.from)).collect(),
                entered_at: existing.as_ref().map_or(now, |e| e.entered_at),
                version: existing.as_ref().map_or(0, |e| e.version + 1),
                outcome: None,
                position: None,
                slot: None,
                promoted: None,
            };
            let new_apps = apps.len() as i64;
            let old_apps = existing
                .as_ref()
                .map_or(0, |e| e.application_ids.len() as i64);
            let mut tx = Tx::new();
            tx.guarded(
                EntryGuard::Window,
                counter(
                    release_id,
                    &entry.entry_id,
                    i64::from(existing.is_none()),
                    new_apps - old_apps,
                ),
            );
            let entry_cond = match &existing {
                None => Cond::NotExists,
                Some(e) => Cond::eq("version", e.version),
            };
            tx.guarded(
                EntryGuard::Entry,
                Write::Put {
                    item: Item::from_record(keys::entry(release_id, &entry.entry_id), &entry)?,
                    cond: Some(entry_cond),
                },
            );
            if existing.is_none() {
                tx.guarded(
                    EntryGuard::Entry,
                    Write::Put {
                        item: Item::from_record(
                            keys::account_entry(account_id, release_id),
                            &json!({"entry_id": entry.entry_id}),
                        )?,
                        cond: Some(Cond::NotExists),
                    },
                );
            }
            for app in &apps {
                tx.guarded(EntryGuard::Application, marked(app, Some(release_id), now)?);
            }
            for app in &removed {
                tx.guarded(EntryGuard::Application, marked(app, None, now)?);
            }
            match tx.commit(self.table()).await {
                Ok(()) => Ok((entry, existing.is_none())),
                Err(Failed::Guard(EntryGuard::Window)) => Err(Error::EntryWindowClosed),
                Err(Failed::Guard(_) | Failed::Unnamed) => Err(Error::Conflict),
                Err(Failed::Store(e)) => Err(e.into()),
            }
        })
        .await?;
        crate::notify::notify(
            &self.ports,
            account_id,
            Notice::Entered {
                release_id: release_id.to_owned(),
                entry_id: outcome.0.entry_id.clone(),
                draw_at: release.draw_at.to_rfc3339(),
            },
        )
        .await;
        Ok(outcome)
    }

    async fn may_enter(&self, app: &Application, release_id: &str) -> Result<(), Error> {
        // Submitted only: an expired application gave its NIK up, and the same person may
        // hold it in another application (another chance) that the draw could not book.
        if app.status != Status::Submitted || app.booking.is_some() {
            return Err(Error::InvalidState(text::ENTRY_NEEDS_UNBOOKED));
        }
        if let Some(other) = &app.entered_release
            && other != release_id
            && undrawn(self.table(), other).await?
        {
            return Err(Error::AlreadyEntered);
        }
        Ok(())
    }

    async fn own_entry(&self, account_id: &str, release_id: &str) -> Result<Option<Entry>, Error> {
        let Some(pointer) = self
            .table()
            .get(&keys::account_entry(account_id, release_id))
            .await?
        else {
            return Ok(None);
        };
        let Some(entry_id) = pointer.attrs.get("entry_id").and_then(Value::as_str) else {
            return Err(StoreError::Corrupt("entry pointer".into()).into());
        };
        match self.table().get(&keys::entry(release_id, entry_id)).await? {
            Some(item) => Ok(Some(item.record()?)),
            None => Ok(None),
        }
    }

    /// `GET /v1/releases/{id}/entry`: the entry, and after the draw its outcome with the
    /// won bookings.
    pub async fn entry(&self, account_id: &str, release_id: &str) -> Result<Value, Error> {
        if !is_id(release_id) {
            return Err(Error::NotFound);
        }
        let entry = self
            .own_entry(account_id, release_id)
            .await?
            .ok_or(Error::NotFound)?;
        let mut v = json!({
            "entry_id": entry.entry_id,
            "release_id": entry.release_id,
            "status": "entered",
            "application_ids": entry.application_ids,
            "choices": entry.choices,
            "entered_at": entry.entered_at,
        });
        if let (Some(drawn), Some(position)) = (entry.outcome, entry.position) {
            // A place from the waitlist is a win too; the draw's own outcome stays public.
            let outcome = if entry.promoted.is_some() {
                v["from_waitlist"] = json!(true);
                Outcome::Won
            } else {
                drawn
            };
            v["outcome"] = json!(outcome);
            v["position"] = json!(position);
            if outcome == Outcome::Won {
                let mut items = Vec::new();
                for id in &entry.application_ids {
                    let app = self.applications.load(id).await?;
                    if app.account_id != account_id {
                        continue;
                    }
                    items.push(json!({
                        "application_id": app.application_id,
                        "status": app.status,
                        "booking": app.booking,
                        "billing": app.billing.as_ref().map(|b| json!({
                            "billing_code": b.billing_code,
                            "amount_idr": b.amount_idr,
                            "expires_at": b.expires_at,
                            "status": b.status,
                        })),
                    }));
                }
                v["booking"] = json!({"slot": entry.promoted.as_ref().or(entry.slot.as_ref()), "items": items});
            }
        }
        Ok(v)
    }

    /// `DELETE /v1/releases/{id}/entry`: withdrawn, only while the window is open.
    pub async fn withdraw(&self, account_id: &str, release_id: &str) -> Result<(), Error> {
        let release = self.get(release_id).await?;
        if !release.window_open(self.ports.clock.now()) {
            return Err(Error::EntryWindowClosed);
        }
        retrying(|| async {
            let entry = self
                .own_entry(account_id, release_id)
                .await?
                .ok_or(Error::NotFound)?;
            let now = self.ports.clock.now();
            let mut tx = Tx::new();
            tx.guarded(
                EntryGuard::Window,
                counter(
                    release_id,
                    &entry.entry_id,
                    -1,
                    -(entry.application_ids.len() as i64),
                ),
            )
            .guarded(
                EntryGuard::Entry,
                Write::Delete {
                    key: keys::entry(release_id, &entry.entry_id),
                    cond: Some(Cond::eq("version", entry.version)),
                },
            )
            .write(Write::Delete {
                key: keys::account_entry(account_id, release_id),
                cond: None,
            });
            for id in &entry.application_ids {
                let app = self.applications.get(account_id, id).await?;
                if app.entered_release.as_deref() == Some(release_id) {
                    tx.guarded(EntryGuard::Application, marked(&app, None, now)?);
                }
            }
            match tx.commit(self.table()).await {
                Ok(()) => Ok(()),
                Err(Failed::Guard(EntryGuard::Window)) => Err(Error::EntryWindowClosed),
                Err(Failed::Guard(_) | Failed::Unnamed) => Err(Error::Conflict),
                Err(Failed::Store(e)) => Err(e.into()),
            }
        })
        .await
    }

    /// Every entry of a release, from all its shards.
    pub async fn entries(&self, release_id: &str) -> Result<Vec<Entry>, Error> {
        self.entries_as(release_id).await
    }

    /// Every entry of a release as `T`, which reads only the fields it names (the draw
    /// needs an entry's id, needs and choices; closing, its id).
    async fn entries_as<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        release_id: &str,
    ) -> Result<Vec<T>, Error> {
        // A few shards at a time, each turned into records as soon as it is read: a shard
        // of a million-entry release is ~31,000 items, and the raw items of all 32 at once
        // would not fit the sweeper's memory.
        let mut all = Vec::new();
        let shards: Vec<u8> = (0..keys::ENTRY_SHARDS).collect();
        for chunk in shards.chunks(ENTRY_READS) {
            let mut reads = tokio::task::JoinSet::new();
            for shard in chunk {
                let table = self.ports.table.clone();
                let pk = keys::entries(release_id, *shard);
                reads.spawn(async move {
                    let items = query_all(table.as_ref(), &pk, "", 1000).await?;
                    items
                        .iter()
                        .map(|item| item.record::<T>().map_err(Error::from))
                        .collect::<Result<Vec<T>, Error>>()
                });
            }
            while let Some(joined) = reads.join_next().await {
                all.extend(joined.map_err(|e| Error::Internal(e.to_string()))??);
            }
        }
        Ok(all)
    }

    // ------------------------------------------------------------------ the draw

    /// The scheduled side: shuts the windows that have closed and draws the releases whose
    /// time has come. Answers how many steps it took. Safe to run again at any time.
    pub async fn run(&self) -> Result<u32, Error> {
        let now = self.ports.clock.now();
        let (mut steps, mut failed) = (0, None);
        for release in self.list().await? {
            // One release that fails does not hold the others back.
            match self.step(release, now, &mut steps).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(error = %e, "release step failed; the next run goes on");
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(steps),
        }
    }

    async fn step(
        &self,
        mut release: Release,
        now: DateTime<Utc>,
        steps: &mut u32,
    ) -> Result<(), Error> {
        if !release.dropping.is_empty() {
            release = self.drop_stale(release).await?;
        }
        if release.phase == Phase::Scheduled && now >= release.entry_closes_at {
            release = self.close(release).await?;
            *steps += 1;
        }
        if matches!(release.phase, Phase::Closed | Phase::Drawing) && now >= release.draw_at {
            *steps += self.draw(release).await?;
        } else if release.phase == Phase::Drawn {
            *steps += self.waitlist(&release).await?;
        }
        Ok(())
    }

    /// Shuts the window on every shard (after which no entry can be written), then
    /// publishes the digest of the entries, which are now fixed.
    async fn close(&self, mut release: Release) -> Result<Release, Error> {
        for shard in 0..keys::ENTRY_SHARDS {
            self.table()
                .update(
                    &keys::entry_counter(&release.release_id, shard),
                    Update::new().set("open", false),
                    None,
                )
                .await?;
        }
        let entries: Vec<EntryId> = self.entries_as(&release.release_id).await?;
        let read = release.version;
        release.entries_digest = Some(draw::entries_digest(
            entries.iter().map(|e| e.entry_id.as_str()),
        ));
        release.phase = Phase::Closed;
        release.version += 1;
        self.save(&release, read).await?;
        tracing::info!(release = %release.release_id, entries = entries.len(), "entry window closed");
        Ok(release)
    }

    async fn save(&self, release: &Release, read_version: u64) -> Result<(), Error> {
        let item = Item::from_record(keys::release(&release.release_id), release)?;
        match self
            .table()
            .put(item, Some(Cond::eq("version", read_version)))
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { .. }) => Err(Error::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// Fixes `drawn_at`, then fans the outcomes out in batches for the worker (once, and
    /// again for the batches not applied if the draw stalls); once every batch is applied,
    /// the rest of the slots opens first-come and the release is drawn. Answers its steps.
    async fn draw(&self, mut release: Release) -> Result<u32, Error> {
        if release.phase == Phase::Closed {
            let read = release.version;
            release.phase = Phase::Drawing;
            release.drawn_at = Some(self.ports.clock.now());
            release.version += 1;
            self.save(&release, read).await?;
        }
        let done = self.batches_done(&release.release_id).await?;
        if let Some(plan) = &release.plan
            && done.len() >= plan.batches as usize
        {
            return self.finish(release).await.map(|()| 1);
        }
        let now = self.ports.clock.now();
        if let Some(plan) = &mut release.plan {
            if done.len() > plan.applied {
                // Progress: the batches are being applied, however slowly (a throttled
                // table); the wait for a missing one starts again.
                let read = release.version;
                plan.applied = done.len();
                plan.queued_at = now;
                release.version += 1;
                self.save(&release, read).await?;
                return Ok(0);
            }
            if now - plan.queued_at < TimeDelta::minutes(REQUEUE_AFTER_MINUTES) {
                return Ok(0);
            }
            tracing::warn!(release = %release.release_id, applied = done.len(), batches = plan.batches, "no batch applied for 15 minutes: queuing the missing ones again");
        }
        let queued = self.queue_batches(&mut release, &done).await?;
        if queued == 0 {
            // Nothing was entered (or everything is applied): nothing to wait for.
            return self.finish(release).await.map(|()| 1);
        }
        Ok(1)
    }

    /// Computes the draw and queues each batch not applied yet; records the plan. Answers
    /// how many batches it queued.
    async fn queue_batches(
        &self,
        release: &mut Release,
        done: &BTreeSet<u32>,
    ) -> Result<usize, Error> {
        let (wanted, drawn) = self.computed(release).await?;
        if !self.is_published(release).await? {
            self.publish(release, &wanted, &drawn).await?;
        }
        drop(wanted);
        let won = drawn.iter().filter(|d| d.won.is_some()).count() as u64;
        let waitlisted = drawn.len() as u64 - won;
        let batches = batches_of(drawn, DRAW_BATCH);
        let total =
            u32::try_from(batches.len()).map_err(|_| Error::Internal("too many batches".into()))?;
        let jobs: Vec<Job> = batches
            .into_iter()
            .zip(0u32..)
            .filter(|(_, batch)| !done.contains(batch))
            .map(|(outcomes, batch)| {
                Job::ApplyDraw(DrawBatch {
                    release_id: release.release_id.clone(),
                    batch,
                    outcomes,
                })
            })
            .collect();
        tracing::info!(release = %release.release_id, entries = won + waitlisted, won, batches = total, queued = jobs.len(), "drawing");
        for chunk in jobs.chunks(CONCURRENCY) {
            let mut set = tokio::task::JoinSet::new();
            for job in chunk {
                let (queue, job) = (self.ports.queue.clone(), job.clone());
                set.spawn(async move { queue.enqueue(&job).await });
            }
            while let Some(joined) = set.join_next().await {
                joined
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .map_err(|e| Error::Internal(e.to_string()))?;
            }
        }
        let read = release.version;
        release.plan = Some(Plan {
            batches: total,
            queued_at: self.ports.clock.now(),
            applied: done.len(),
            won,
            waitlisted,
        });
        release.version += 1;
        self.save(release, read).await?;
        Ok(jobs.len())
    }

    /// The draw of a closed release, from its stored entries (checked against the digest
    /// published at close): the entries as the draw sees them, and every outcome.
    async fn computed(
        &self,
        release: &Release,
    ) -> Result<(Vec<DrawEntry>, Vec<draw::Drawn>), Error> {
        let digest = release
            .entries_digest
            .clone()
            .ok_or_else(|| Error::Internal("a closed release without its digest".into()))?;
        let wanted: Vec<DrawEntry> = self.entries_as(&release.release_id).await?;
        if draw::entries_digest(wanted.iter().map(|e| e.entry_id.as_str())) != digest {
            return Err(Error::Internal(format!(
                "release {}: the entries changed after the window closed",
                release.release_id
            )));
        }
        let drawn = draw::draw(
            &release.seed_bytes()?,
            &digest,
            &release.held_slots(),
            &wanted,
        );
        Ok((wanted, drawn))
    }

    /// The batches of a release's draw applied so far.
    async fn batches_done(&self, release_id: &str) -> Result<BTreeSet<u32>, Error> {
        let marks = query_all(
            self.table(),
            &keys::release_items(release_id),
            keys::DRAW_BATCHES,
            1000,
        )
        .await?;
        Ok(marks
            .iter()
            .filter_map(|m| m.key.sk.strip_prefix(keys::DRAW_BATCHES)?.parse().ok())
            .collect())
    }

    /// The worker's share of a draw: applies a batch's outcomes (one slot's bookings one
    /// after another, so batches rarely contend for a slot; the rest at once), then marks the
    /// batch applied. Safe to run twice or after a crash: each outcome is applied once,
    /// under its entry's version.
    pub async fn apply_batch(&self, batch: &DrawBatch) -> Result<(), Error> {
        let release = self.get(&batch.release_id).await?;
        match release.phase {
            Phase::Drawing => {}
            // A redelivery after the draw ended.
            Phase::Drawn => return Ok(()),
            Phase::Scheduled | Phase::Closed => {
                return Err(Error::Internal(format!(
                    "release {}: a batch before the draw",
                    release.release_id
                )));
            }
        }
        let mark = keys::draw_batch(&release.release_id, batch.batch);
        if self.table().get(&mark).await?.is_some() {
            return Ok(());
        }
        let mut by_slot: BTreeMap<&SlotRef, Vec<draw::Drawn>> = BTreeMap::new();
        let mut groups: Vec<Vec<draw::Drawn>> = Vec::new();
        for d in &batch.outcomes {
            match &d.won {
                Some((slot, _)) => by_slot.entry(slot).or_default().push(d.clone()),
                None => groups.push(vec![d.clone()]),
            }
        }
        groups.extend(by_slot.into_values());
        for chunk in groups.chunks(CONCURRENCY) {
            let mut set = tokio::task::JoinSet::new();
            for group in chunk {
                let (this, release, group) = (self.clone_parts(), release.clone(), group.clone());
                set.spawn(async move {
                    for d in &group {
                        this.apply_one(&release, d).await?;
                    }
                    Ok::<(), Error>(())
                });
            }
            // Every task runs to its end (one that committed still tells its emails); the
            // first failure fails the batch, which comes back.
            let mut failed = None;
            while let Some(joined) = set.join_next().await {
                let outcome = joined.map_err(|e| Error::Internal(e.to_string())).flatten();
                if let Err(e) = outcome {
                    failed.get_or_insert(e);
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
        }
        let item = Item::from_record(mark, &json!({"outcomes": batch.outcomes.len()}))?;
        self.table().put(item, None).await?;
        Ok(())
    }

    async fn apply_one(&self, release: &Release, d: &draw::Drawn) -> Result<(), Error> {
        let key = keys::entry(&release.release_id, &d.entry_id);
        let Some(stored) = self.table().get(&key).await? else {
            return Err(Error::Internal(format!(
                "release {}: entry {} of the draw is missing",
                release.release_id, d.entry_id
            )));
        };
        let entry: Entry = stored.record()?;
        if entry.outcome.is_some() {
            return self.retold(&entry).await;
        }
        // A batch only ever gives an entry one of its own choices, a lane per application.
        if let Some((slot, lanes)) = &d.won
            && (!entry.choices.contains(slot) || lanes.len() != entry.application_ids.len())
        {
            return Err(Error::Internal(format!(
                "release {}: entry {} given a place it did not choose",
                release.release_id, d.entry_id
            )));
        }
        self.apply(release, &entry, d).await
    }

    /// Every batch is applied: whatever is left of the slots is bookable first-come, and
    /// the release is drawn.
    async fn finish(&self, mut release: Release) -> Result<(), Error> {
        // Drawn means published: a plan queued before results were written (or a write
        // lost) is published now, from the same entries.
        if !self.is_published(&release).await? {
            let (wanted, drawn) = self.computed(&release).await?;
            self.publish(&release, &wanted, &drawn).await?;
        }
        let unhold = release
            .held_slots()
            .keys()
            .map(|s| places::unhold(slot_key(s), &release.release_id))
            .collect();
        for r in self.write_all(unhold).await {
            match r {
                Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let read = release.version;
        let plan = release.plan.clone();
        release.phase = Phase::Drawn;
        release.won = Some(plan.as_ref().map_or(0, |p| p.won));
        release.waitlisted = Some(plan.as_ref().map_or(0, |p| p.waitlisted));
        release.version += 1;
        self.save(&release, read).await?;
        for office in &release.office_ids {
            self.quota.changed(office);
        }
        tracing::info!(release = %release.release_id, won = ?release.won, waitlisted = ?release.waitlisted, "drawn");
        Ok(())
    }

    fn clone_parts(&self) -> Self {
        Self {
            ports: self.ports.clone(),
            applications: self.applications.clone(),
            quota: self.quota.clone(),
        }
    }

    /// One entry's outcome, with its bookings and billings for a win, in one transaction
    /// under the entry's version: applied once, however often the draw starts. A
    /// waitlisted entry is filed under each of its choices, in draw order.
    async fn apply(&self, release: &Release, entry: &Entry, d: &draw::Drawn) -> Result<(), Error> {
        // Winners pay for `payment_hours` from the draw; an outcome applied much later (a
        // draw that stalled) counts them from now, so no billing is born expired.
        let drawn_at = release.drawn_at.unwrap_or(release.draw_at);
        let now = self.ports.clock.now();
        let billed_at = if now - drawn_at > TimeDelta::hours(1) {
            now
        } else {
            drawn_at
        };
        let mut done = entry.clone();
        done.version += 1;
        done.position = Some(d.position);
        let Some((slot, lanes)) = &d.won else {
            done.outcome = Some(Outcome::Waitlisted);
            let mut tx: Tx<ApplyGuard> = Tx::new();
            tx.guarded(ApplyGuard::Done, entry_write(&done, entry.version)?);
            for choice in &entry.choices {
                tx.write(Write::Put {
                    item: Item::from_record(
                        keys::waiting(
                            &entry.release_id,
                            &choice.office_id,
                            choice.date,
                            &choice.time,
                            d.position,
                        ),
                        &json!({"entry_id": entry.entry_id}),
                    )?,
                    cond: None,
                });
            }
            return match tx.commit(self.table()).await {
                Ok(()) => self.told(entry, d.position, None, DRAWN).await,
                Err(Failed::Guard(_) | Failed::Unnamed) => Ok(()),
                Err(Failed::Store(e)) => Err(e.into()),
            };
        };
        done.outcome = Some(Outcome::Won);
        done.slot = Some(slot.clone());
        let booked = self
            .book_entry(
                release,
                entry,
                done,
                slot,
                Some(lanes),
                billed_at,
                Vec::new(),
            )
            .await?;
        if let Booked::Yes(apps) = booked {
            self.told(entry, d.position, Some(slot), DRAWN).await?;
            self.billed(entry, slot, &apps, DRAWN).await?;
        }
        Ok(())
    }

    /// Books what is left of an entry into `slot` with the entry's new record `done`, in
    /// one transaction under the entry's version: in `lanes` as the draw gave them, or
    /// (`None`, from the waitlist) as the slot's room now allows. Billed from `billed_at`.
    #[allow(clippy::too_many_arguments)]
    async fn book_entry(
        &self,
        release: &Release,
        entry: &Entry,
        done: Entry,
        slot: &SlotRef,
        lanes: Option<&Vec<Option<Lane>>>,
        billed_at: DateTime<Utc>,
        also: Vec<Write>,
    ) -> Result<Booked, Error> {
        let group_id = (entry.application_ids.len() > 1).then(|| ulid::Ulid::new().to_string());
        retrying(|| async {
            let mut apps = Vec::with_capacity(entry.application_ids.len());
            let mut needs = Vec::with_capacity(entry.application_ids.len());
            let mut drawn_lanes = Vec::with_capacity(entry.application_ids.len());
            for (i, id) in entry.application_ids.iter().enumerate() {
                let app = self.applications.load(id).await?;
                // Entered applications book nothing else; one that ended or booked
                // elsewhere meanwhile is left out, and its place opens first-come.
                if app.status == Status::Submitted && app.booking.is_none() {
                    let mut unmarked = app;
                    unmarked.entered_release = None;
                    apps.push(unmarked);
                    needs.push(entry.needs.get(i).cloned().unwrap_or_default());
                    drawn_lanes.push(lanes.and_then(|l| l.get(i).copied()).flatten());
                }
            }
            let key = slot_key(slot);
            let (their_lanes, pool) = match lanes {
                Some(_) => {
                    // Every day of the release has the same hours.
                    let pool = match release.slots.get(&slot.time) {
                        Some(Capacity::Pool(n)) => *n,
                        _ => 0,
                    };
                    (drawn_lanes, pool)
                }
                None => {
                    let Some(item) = self.table().get(&key).await? else {
                        return Ok(Booked::NoFit);
                    };
                    let read = places::Slot::of(&item)?;
                    match places::assign(&read, &needs) {
                        Ok(l) => (l, read.capacity),
                        Err(_) => return Ok(Booked::NoFit),
                    }
                }
            };
            let mut tx = Tx::new();
            tx.guarded(ApplyGuard::Done, entry_write(&done, entry.version)?)
                .writes(also.iter().cloned());
            let mut next = Vec::new();
            if !apps.is_empty() {
                let members = apps
                    .iter()
                    .map(|app| transitions::Member {
                        app,
                        ctx: self.applications.context(app, billed_at),
                        billing_code: crate::model::ids::BillingCode::generate().into_string(),
                    })
                    .collect();
                let place = BookingInfo {
                    office_id: slot.office_id.clone(),
                    date: slot.date,
                    time: slot.time.clone(),
                    lane: None,
                    group_id: group_id.clone(),
                    release: Some(FromRelease {
                        release_id: release.release_id.clone(),
                        first_day: release.from,
                    }),
                };
                let decision = transitions::book_group(
                    members,
                    key,
                    &place,
                    &their_lanes,
                    pool,
                    TimeDelta::hours(release.payment_hours),
                )?;
                for (guard, write) in decision.tx.entries().iter().cloned() {
                    match guard {
                        Some(g) => tx.guarded(ApplyGuard::Group(g), write),
                        None => tx.write(write),
                    };
                }
                next = decision.next;
            }
            match tx.commit(self.table()).await {
                Ok(()) => Ok(Booked::Yes(next)),
                Err(Failed::Guard(ApplyGuard::Done)) => Ok(Booked::AlreadyDone),
                Err(Failed::Guard(ApplyGuard::Group(transitions::GroupGuard::Slot)))
                    if lanes.is_some() =>
                {
                    Err(Error::Internal(format!(
                        "entry {}: the slot has fewer places than the draw gave out",
                        entry.entry_id
                    )))
                }
                Err(Failed::Guard(_) | Failed::Unnamed) => Err(Error::Conflict),
                Err(Failed::Store(e)) => Err(e.into()),
            }
        })
        .await
    }

    /// Tells each booked application its billing.
    /// Each winning application's billing, told by email (`occasion`: the draw, or the
    /// waitlist).
    async fn billed(
        &self,
        entry: &Entry,
        slot: &SlotRef,
        apps: &[Application],
        occasion: &str,
    ) -> Result<(), Error> {
        self.quota.changed(&slot.office_id);
        let office = self.quota.office(&slot.office_id).await?;
        for app in apps {
            if let Some(b) = &app.billing {
                let deadline = b.expires_at.with_timezone(&office.timezone.offset());
                crate::notify::notify_from_draw(
                    &self.ports,
                    format!(
                        "{occasion}-bill-{}-{}",
                        entry.release_id, app.application_id
                    ),
                    &entry.account_id,
                    Notice::BookingMade {
                        application_id: app.application_id.clone(),
                        billing_code: b.billing_code.clone(),
                        amount_idr: b.amount_idr,
                        deadline: deadline.format("%d-%m-%Y %H:%M").to_string(),
                        appointment: format!("{} {}", slot.date, slot.time),
                    },
                )
                .await
                .map_err(|e| Error::Internal(format!("a draw's email not queued: {e}")))?;
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ the waitlist

    /// Places that came back before the release's first day, offered in draw order to the
    /// waitlisted entries that chose their slot (each fitting whole, as in the draw), then
    /// opened first-come. Answers how many entries got a place.
    async fn waitlist(&self, release: &Release) -> Result<u32, Error> {
        let rid = &release.release_id;
        let mut promoted = 0;
        for marker in query_all(self.table(), &keys::returned_places(rid), "", 100).await? {
            let mut parts = marker.key.sk.splitn(3, '#');
            let (Some(office_id), Some(date), Some(time)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(date) = date.parse::<NaiveDate>() else {
                continue;
            };
            let slot = SlotRef {
                office_id: office_id.to_owned(),
                date,
                time: time.to_owned(),
            };
            let waiting = query_all(
                self.table(),
                &keys::waitlist(rid, office_id, date, time),
                "",
                100,
            )
            .await?;
            for item in waiting {
                let Some(entry_id) = item.attrs.get("entry_id").and_then(Value::as_str) else {
                    continue;
                };
                let Some(stored) = self.table().get(&keys::entry(rid, entry_id)).await? else {
                    continue;
                };
                let entry: Entry = stored.record()?;
                if entry.promoted.is_some() {
                    continue;
                }
                let mut done = entry.clone();
                done.version += 1;
                done.promoted = Some(slot.clone());
                // Off every waitlist it was on.
                let off: Vec<Write> = entry
                    .choices
                    .iter()
                    .filter_map(|c| {
                        Some(Write::Delete {
                            key: keys::waiting(rid, &c.office_id, c.date, &c.time, entry.position?),
                            cond: None,
                        })
                    })
                    .collect();
                let now = self.ports.clock.now();
                if let Booked::Yes(apps) = self
                    .book_entry(release, &entry, done, &slot, None, now, off)
                    .await?
                {
                    promoted += 1;
                    let position = entry.position.unwrap_or(0);
                    self.told(&entry, position, Some(&slot), PROMOTED).await?;
                    self.billed(&entry, &slot, &apps, PROMOTED).await?;
                }
            }
            // What no one waiting could take is first-come now and the work is done, in
            // one transaction: a place that came back meanwhile changed the note, and the
            // next run offers it to the waitlist first.
            let by = marker.attrs.get(places::RETURNED_BY);
            let done = places::waitlist_done(slot_key(&slot), marker.key.clone(), rid, by);
            match self.table().transact(done).await {
                Ok(()) => {}
                // The note changed: a place came back during this pass.
                Err(StoreError::ConditionFailed { index: Some(1) }) => continue,
                // The slot was no longer held (a pass that died after opening it): only
                // the note is left to clear, if it is still the one read.
                Err(StoreError::ConditionFailed { .. }) => {
                    let clear = places::note_cleared(marker.key.clone(), by);
                    match write_one(self.table(), clear).await {
                        Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
            self.quota.changed(&slot.office_id);
        }
        Ok(promoted)
    }

    /// The entry's outcome, told by email once (`occasion`: the draw, or the waitlist).
    async fn told(
        &self,
        entry: &Entry,
        position: usize,
        slot: Option<&SlotRef>,
        occasion: &str,
    ) -> Result<(), Error> {
        let notice = Notice::Drawn {
            release_id: entry.release_id.clone(),
            position,
            appointment: slot.map(|s| format!("{} {} ({})", s.date, s.time, s.office_id)),
        };
        let id = format!("{occasion}-{}-{}", entry.release_id, entry.entry_id);
        crate::notify::notify_from_draw(&self.ports, id, &entry.account_id, notice)
            .await
            .map_err(|e| Error::Internal(format!("a draw's email not queued: {e}")))
    }

    /// An outcome applied before (a batch redelivered, a worker that died after committing
    /// it): told again, since its emails may not have been queued; the ids keep them to one
    /// each.
    async fn retold(&self, entry: &Entry) -> Result<(), Error> {
        let position = entry.position.unwrap_or(0);
        match (&entry.outcome, &entry.slot) {
            (Some(Outcome::Won), Some(slot)) => {
                self.told(entry, position, Some(slot), DRAWN).await?;
                let mut apps = Vec::with_capacity(entry.application_ids.len());
                for id in &entry.application_ids {
                    apps.push(self.applications.load(id).await?);
                }
                self.billed(entry, slot, &apps, DRAWN).await
            }
            (Some(Outcome::Waitlisted), _) => self.told(entry, position, None, DRAWN).await,
            _ => Ok(()),
        }
    }

    async fn is_published(&self, release: &Release) -> Result<bool, Error> {
        let key = documents::result_key(&release.release_id, &release.seed_sha256);
        let size = self.ports.documents.size(&key).await;
        Ok(size.map_err(storage_unavailable)?.is_some())
    }

    /// Writes the published result, as the draw is computed (the only time all of it is in
    /// memory): a million entries make ~330 MB of JSON, ~29 MB gzipped, more than a function
    /// can answer (6 MB) or build per request. The draw is fixed by then (seed, digest,
    /// entries, slots, `drawn_at`), so a second write is the same document.
    async fn publish(
        &self,
        release: &Release,
        wanted: &[DrawEntry],
        drawn: &[draw::Drawn],
    ) -> Result<(), Error> {
        let header = draw::Header {
            release_id: &release.release_id,
            seed: &release.seed,
            seed_sha256: &release.seed_sha256,
            entries_digest: release.entries_digest.as_deref().unwrap_or_default(),
            drawn_at: release.drawn_at,
        };
        let bytes = draw::result_document(&header, &release.held_slots(), wanted, drawn)
            .map_err(|e| Error::Internal(format!("result document: {e}")))?;
        tracing::info!(release = %release.release_id, bytes = bytes.len(), "result published");
        let key = documents::result_key(&release.release_id, &release.seed_sha256);
        self.ports
            .documents
            .put(&key, bytes, "application/gzip")
            .await
            .map_err(storage_unavailable)
    }

    /// `GET /v1/releases/{id}/result`: a short-lived link to the published document
    /// (S3's presigned GET on AWS), which storage answers as gzip-encoded JSON.
    pub async fn result(&self, release_id: &str) -> Result<String, Error> {
        let release = self.get(release_id).await?;
        if release.phase != Phase::Drawn {
            return Err(Error::NotDrawn);
        }
        let now = self.ports.clock.now();
        let download = Download {
            key: documents::result_key(&release.release_id, &release.seed_sha256),
            content_type: "application/json",
            gzip: true,
            immutable: true,
            now,
            expires_at: now + TimeDelta::seconds(documents::RESULT_URL_SECS),
        };
        self.ports
            .documents
            .presign_download(&download)
            .await
            .map_err(storage_unavailable)
    }

    /// Single writes, `CONCURRENCY` at a time; each one's result, in order.
    async fn write_all(&self, writes: Vec<Write>) -> Vec<Result<(), StoreError>> {
        let mut out = Vec::with_capacity(writes.len());
        for chunk in writes.chunks(CONCURRENCY) {
            let mut set = tokio::task::JoinSet::new();
            for (i, write) in chunk.iter().cloned().enumerate() {
                let table = self.ports.table.clone();
                set.spawn(async move { (i, write_one(table.as_ref(), write).await) });
            }
            let mut results: Vec<Option<Result<(), StoreError>>> =
                (0..chunk.len()).map(|_| None).collect();
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok((i, r)) => results[i] = Some(r),
                    Err(e) => tracing::error!(error = %e, "write task"),
                }
            }
            out.extend(
                results
                    .into_iter()
                    .map(|r| r.unwrap_or_else(|| Err(StoreError::Unavailable("task".into())))),
            );
        }
        out
    }
}

fn slot_key(s: &SlotRef) -> Key {
    keys::slot(&s.office_id, s.date, &s.time)
}

async fn write_one(table: &dyn Table, write: Write) -> Result<(), StoreError> {
    match write {
        Write::Put { item, cond } => table.put(item, cond).await,
        Write::Update { key, update, cond } => table.update(&key, update, cond).await.map(|_| ()),
        Write::Delete { key, cond } => table.delete(&key, cond).await,
        check @ Write::Check { .. } => table.transact(vec![check]).await,
    }
}

/// The entry's shard counter, changed only while the window is open on it.
fn counter(release_id: &str, entry_id: &str, entries: i64, applications: i64) -> Write {
    Write::Update {
        key: keys::entry_counter(release_id, keys::entry_shard(entry_id)),
        update: Update::new()
            .add("entries", entries)
            .add("applications", applications),
        cond: Some(Cond::eq("open", true)),
    }
}

/// The application marked as entered in a release (or no longer), under its version.
fn marked(
    app: &Application,
    release_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Write, StoreError> {
    let mut next = app.clone();
    next.entered_release = release_id.map(str::to_owned);
    next.version += 1;
    next.updated_at = Some(now);
    rows::save(&next, app.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_release_is_a_week_past_the_seeds_quota_drawn_after_its_window() {
        let now: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().expect("time");
        let (id, spec) = demo_release(now);
        assert_eq!(id, "rilis-demo");
        assert_eq!(spec.office_ids, ["jakarta-selatan", "bandung"]);
        assert_eq!(spec.from, NaiveDate::from_ymd_opt(2027, 1, 7).expect("day"));
        assert_eq!(spec.to - spec.from, TimeDelta::days(6));
        assert_eq!(spec.entry_opens_at, now + TimeDelta::days(1));
        assert_eq!(spec.entry_closes_at, now + TimeDelta::days(3));
        assert_eq!(spec.draw_at, spec.entry_closes_at + TimeDelta::hours(1));
        assert_eq!(spec.slots.len(), 4);
    }

    fn drawn(n: usize, slots: usize, every_nth_waits: usize) -> Vec<draw::Drawn> {
        let day = NaiveDate::from_ymd_opt(2027, 1, 4).expect("day");
        (1..=n)
            .map(|position| draw::Drawn {
                entry_id: format!("e{position:05}"),
                position,
                won: (position % every_nth_waits != 0).then(|| {
                    let slot = SlotRef {
                        office_id: format!("o{}", position % slots),
                        date: day,
                        time: "09:00".into(),
                    };
                    (slot, vec![None])
                }),
            })
            .collect()
    }

    #[test]
    fn every_outcome_is_in_one_batch_and_a_slot_stays_together() {
        let all = drawn(1_000, 37, 4);
        let batches = batches_of(all.clone(), 100);
        let mut seen: Vec<&str> = batches
            .iter()
            .flatten()
            .map(|d| d.entry_id.as_str())
            .collect();
        seen.sort_unstable();
        let mut expected: Vec<&str> = all.iter().map(|d| d.entry_id.as_str()).collect();
        expected.sort_unstable();
        assert_eq!(seen, expected, "each outcome once");
        assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 100));
        // 750 winners over 37 slots of about 20 each: no slot is cut in two.
        let mut batch_of_slot: BTreeMap<SlotRef, BTreeSet<usize>> = BTreeMap::new();
        for (i, b) in batches.iter().enumerate() {
            for d in b {
                if let Some((s, _)) = &d.won {
                    batch_of_slot.entry(s.clone()).or_default().insert(i);
                }
            }
        }
        assert_eq!(batch_of_slot.len(), 37);
        assert!(batch_of_slot.values().all(|b| b.len() == 1));
        // The waitlisted follow, in draw order.
        let waiting: Vec<usize> = batches
            .iter()
            .flatten()
            .filter(|d| d.won.is_none())
            .map(|d| d.position)
            .collect();
        assert_eq!(waiting.len(), 250);
        assert!(waiting.windows(2).all(|w| w[0] < w[1]));
        // Computed again (a restarted draw), the same batches.
        assert_eq!(
            batches_of(all.iter().rev().cloned().collect(), 100),
            batches
        );
    }

    #[test]
    fn holds_is_held_slots_without_the_list() {
        let day = NaiveDate::from_ymd_opt(2027, 1, 1).expect("a Friday");
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let release = |include_weekends| {
            let spec = ReleaseSpec {
                office_ids: vec!["makassar".into(), "bandung".into()],
                from: day,
                to: day + TimeDelta::days(3),
                slots: BTreeMap::from([
                    ("09:00".to_owned(), Capacity::Pool(2)),
                    ("10:00".to_owned(), Capacity::Pool(3)),
                ]),
                include_weekends,
                entry_opens_at: at,
                entry_closes_at: at,
                draw_at: at,
                payment_hours: None,
            };
            Release::scheduled("r1", spec, 24, String::new(), String::new(), 0)
        };
        for weekends in [false, true] {
            let r = release(weekends);
            let held = r.held_slots();
            assert_eq!(held.len(), if weekends { 16 } else { 8 });
            for office in ["makassar", "bandung", "medan"] {
                for d in -1..5 {
                    for time in ["09:00", "10:00", "11:00"] {
                        let slot = SlotRef {
                            office_id: office.into(),
                            date: day + TimeDelta::days(d),
                            time: time.into(),
                        };
                        assert_eq!(r.holds(&slot), held.contains_key(&slot), "{slot:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_slot_larger_than_a_batch_is_cut_at_the_size() {
        let batches = batches_of(drawn(250, 1, usize::MAX), 100);
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert!(batches_of(Vec::new(), 100).is_empty());
    }

    #[test]
    fn a_batch_survives_the_queue() {
        let batch = DrawBatch {
            release_id: "r1".into(),
            batch: 7,
            outcomes: drawn(3, 2, 3),
        };
        let job = Job::ApplyDraw(batch.clone());
        assert_eq!(job.queue(), crate::jobs::QueueName::Draw);
        let text = serde_json::to_string(&job).expect("json");
        assert!(text.contains(r#""kind":"apply_draw""#), "{text}");
        assert_eq!(serde_json::from_str::<Job>(&text).expect("back"), job);
        // What a draw tells goes on its own queue; every other email with the jobs, as
        // before (a job queued before the draw's queues existed reads the same).
        let notice = |from_draw| Job::Notify {
            id: "n1".into(),
            account_id: "a1".into(),
            notice: Notice::Cancelled {
                application_id: "p1".into(),
            },
            from_draw,
        };
        assert_eq!(notice(true).queue(), crate::jobs::QueueName::DrawMail);
        assert_eq!(notice(false).queue(), crate::jobs::QueueName::Jobs);
        let plain = serde_json::to_string(&notice(false)).expect("json");
        assert!(!plain.contains("from_draw"), "{plain}");
        assert_eq!(
            serde_json::from_str::<Job>(&plain).expect("back"),
            notice(false)
        );
        // A full batch stays far under SQS's 256 KiB.
        let full = serde_json::to_string(&Job::ApplyDraw(DrawBatch {
            outcomes: drawn(DRAW_BATCH, DRAW_BATCH, usize::MAX),
            ..batch
        }))
        .expect("json");
        assert!(full.len() < 32 * 1024, "{} bytes", full.len());
    }
}
