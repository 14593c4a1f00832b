//! Offices and their quota: the records, the caches that carry a rush of readers, and
//! what may be booked. A slot (office, day, hour) is one item with `capacity` and
//! `taken` (`repo::places`); booking takes its places (`booking.rs`).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use serde::Serialize;

use crate::{
    Error, Ports,
    model::ids::{OfficeId, SlotTime},
    model::{
        application::Application,
        lane::{Lane, lanes_for},
    },
    offices::{Office, TimeZone, distance_km},
    repo::{
        keys,
        places::{self, Capacity, LaneCount},
    },
    retry::RETRY_TRIES,
    store::{Cond, Item, Key, StoreError},
    text, validate,
};

/// At most this many days in one availability answer.
pub const MAX_AVAILABILITY_DAYS: i64 = 31;
/// The most places one slot may have.
pub const MAX_CAPACITY: i64 = 10_000;
/// How long a billing stays payable unless configured (`PASPOR_PAYMENT_TTL_SECS`).
pub const DEFAULT_PAYMENT_TTL_SECS: i64 = 7200;
/// How long an availability answer is served from memory unless configured
/// (`PASPOR_AVAILABILITY_TTL_MS`).
pub const DEFAULT_AVAILABILITY_TTL_MS: u64 = 2000;

/// The knobs of quota and booking (one set: `ServicesConfig::booking`).
#[derive(Debug, Clone)]
pub struct BookingConfig {
    /// How long a billing stays payable.
    pub payment_ttl_secs: i64,
    /// How long an availability answer (and an office record) is served from memory.
    pub availability_ttl: Duration,
    /// How long a slot found full is answered full without reading it again.
    pub known_full_ttl: Duration,
}

impl Default for BookingConfig {
    fn default() -> Self {
        Self {
            payment_ttl_secs: DEFAULT_PAYMENT_TTL_SECS,
            availability_ttl: Duration::from_millis(DEFAULT_AVAILABILITY_TTL_MS),
            known_full_ttl: Duration::from_secs(2),
        }
    }
}

/// An office as listed, with its distance from the caller when known.
#[derive(Debug, Clone, Serialize)]
pub struct ListedOffice {
    #[serde(flatten)]
    pub office: Office,
    pub distance_km: Option<f64>,
}

/// Capacity and remaining places per day and hour, as `GET …/availability` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Availability {
    pub office_id: String,
    pub timezone: TimeZone,
    /// Only the days with quota, in order.
    pub days: Vec<DayAvailability>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayAvailability {
    pub date: NaiveDate,
    pub slots: Vec<SlotAvailability>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotAvailability {
    pub time: String,
    pub capacity: i64,
    pub remaining: i64,
    /// Each lane of a slot with lanes; absent for a one-number slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lanes: Option<BTreeMap<Lane, LaneCount>>,
    /// The release whose draw holds these places (not bookable first-come).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_id: Option<String>,
}

impl Availability {
    /// The same days as `application` sees them: each slot's `remaining` is what it could
    /// take there (its own lanes only).
    pub fn for_application(&self, application: &Application) -> Self {
        let mut mine = self.clone();
        for day in &mut mine.days {
            let wants = lanes_for(application, day.date);
            for slot in &mut day.slots {
                if let Some(lanes) = &slot.lanes {
                    slot.remaining = wants
                        .iter()
                        .map(|l| lanes.get(l).map_or(0, |c| c.remaining.max(0)))
                        .sum();
                }
            }
        }
        mine
    }
}

/// (office, from, to) of an availability answer.
type AvailabilityRange = (String, NaiveDate, NaiveDate);

/// Offices, their quota, and the memory that keeps a rush off the table.
pub struct Quota {
    ports: Ports,
    config: BookingConfig,
    availability_cache: Mutex<HashMap<AvailabilityRange, (Instant, Arc<Availability>)>>,
    /// Offices change a few times a year, yet every booking attempt needs one: read at most
    /// once per `availability_ttl` per instance (a quarter of a rush attempt's reads).
    office_cache: Mutex<HashMap<String, (Instant, Office)>>,
    /// Slots (a lane of one, or its pool: `None`) found full a moment ago.
    known_full: Mutex<HashMap<(Key, Option<Lane>), Instant>>,
}

impl Quota {
    pub fn new(ports: Ports, config: BookingConfig) -> Self {
        Self {
            ports,
            config,
            availability_cache: Mutex::new(HashMap::new()),
            office_cache: Mutex::new(HashMap::new()),
            known_full: Mutex::new(HashMap::new()),
        }
    }

    // ------------------------------------------------------------------ offices

    pub async fn put_office(&self, office: &Office) -> Result<(), Error> {
        self.forget_office(&office.office_id);
        self.ports
            .table
            .put(
                Item::from_record(keys::office(&office.office_id), office)?,
                None,
            )
            .await?;
        Ok(())
    }

    /// Adds an office only if it is not there yet (the seed never overwrites).
    pub async fn add_office_if_missing(&self, office: &Office) -> Result<bool, Error> {
        match self
            .ports
            .table
            .put(
                Item::from_record(keys::office(&office.office_id), office)?,
                Some(Cond::NotExists),
            )
            .await
        {
            Ok(()) => {
                self.forget_office(&office.office_id);
                Ok(true)
            }
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// An office by id; an id that cannot name one is not found.
    pub async fn office(&self, id: &str) -> Result<Office, Error> {
        let Ok(id) = OfficeId::parse(id) else {
            return Err(Error::NotFound);
        };
        if let Ok(cache) = self.office_cache.lock()
            && let Some((at, office)) = cache.get(id.as_str())
            && at.elapsed() < self.config.availability_ttl
        {
            return Ok(office.clone());
        }
        let office: Office = match self.ports.table.get(&keys::office(id.as_str())).await? {
            Some(item) => item.record()?,
            None => return Err(Error::NotFound),
        };
        if let Ok(mut cache) = self.office_cache.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(id.as_str().to_owned(), (Instant::now(), office.clone()));
        }
        Ok(office)
    }

    fn forget_office(&self, id: &str) {
        if let Ok(mut cache) = self.office_cache.lock() {
            cache.remove(id);
        }
    }

    /// Offices nearest first (great-circle distance), or by name without a position.
    pub async fn offices(
        &self,
        near: Option<(f64, f64)>,
        limit: usize,
    ) -> Result<Vec<ListedOffice>, Error> {
        let items = self.ports.table.query(keys::OFFICES, "", 10_000).await?;
        let mut listed: Vec<ListedOffice> = items
            .iter()
            .map(|i| i.record::<Office>())
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|office| ListedOffice {
                distance_km: near.map(|(lat, lon)| {
                    (distance_km(lat, lon, office.lat, office.lon) * 10.0).round() / 10.0
                }),
                office,
            })
            .collect();
        match near {
            Some(_) => listed.sort_by(|a, b| {
                a.distance_km
                    .unwrap_or(0.0)
                    .total_cmp(&b.distance_km.unwrap_or(0.0))
            }),
            None => listed.sort_by(|a, b| a.office.name.cmp(&b.office.name)),
        }
        listed.truncate(limit);
        Ok(listed)
    }

    // ------------------------------------------------------------------ quota

    /// Opens (or changes) quota for a range of days: `slots` maps an hour (`HH:00`) to its
    /// capacity, a number or lanes. Weekends stay closed unless `include_weekends`. With
    /// `only_missing`, slots that exist are left as they are (the seed); otherwise a
    /// capacity may not go below what is booked, in all nor in a lane. Answers how many
    /// slots were written.
    pub async fn open_quota<C: Clone + Into<Capacity>>(
        &self,
        office_id: &str,
        from: NaiveDate,
        to: NaiveDate,
        slots: &BTreeMap<String, C>,
        include_weekends: bool,
        only_missing: bool,
    ) -> Result<u32, Error> {
        let (from, to) = (validate::date("from", from)?, validate::date("to", to)?);
        let slots = slots
            .iter()
            .map(|(time, capacity)| {
                let capacity: Capacity = capacity.clone().into();
                if !capacity.within(MAX_CAPACITY) {
                    return Err(Error::invalid("slots", text::CAPACITY_RANGE));
                }
                let time = SlotTime::parse("slots", time).map_err(|e| Error::Invalid(vec![e]))?;
                Ok((time, capacity))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        self.office(office_id).await?;
        let mut written = 0;
        for day in from.iter_days().take_while(|d| *d <= to) {
            let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            if include_weekends || !weekend {
                for (time, capacity) in &slots {
                    let key = keys::slot(office_id, day, time.as_str());
                    if self.open_slot(&key, capacity, only_missing).await? {
                        written += 1;
                    }
                }
            }
        }
        self.changed(office_id);
        Ok(written)
    }

    /// Gives one slot its capacity; answers whether it wrote. The write is conditioned on
    /// the slot as read, so a booking in between makes it read and try again.
    async fn open_slot(
        &self,
        key: &Key,
        capacity: &Capacity,
        only_missing: bool,
    ) -> Result<bool, Error> {
        for _ in 0..RETRY_TRIES {
            let current = if only_missing {
                None
            } else {
                self.ports
                    .table
                    .get(key)
                    .await?
                    .map(|item| places::Slot::of(&item))
                    .transpose()?
            };
            if current.as_ref().is_some_and(|s| s.release.is_some()) {
                return Err(Error::HeldForRelease);
            }
            let (update, cond) = match places::open_slot(current.as_ref(), capacity) {
                places::Opening::Write(update, cond) => (update, cond),
                places::Opening::BelowBooked => return Err(Error::CapacityBelowBooked),
            };
            match self.ports.table.update(key, update, Some(cond)).await {
                Ok(_) => return Ok(true),
                Err(StoreError::ConditionFailed { .. }) if only_missing => return Ok(false),
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict)
    }

    /// A place came back: its lane (or pool) is no longer known full, and the office's
    /// availability is read afresh.
    pub(crate) fn freed(&self, place: &crate::model::application::BookingInfo) {
        let key = keys::slot(&place.office_id, place.date, &place.time);
        self.mark_full(&key, place.lane, false);
        self.mark_full(&key, None, false);
        self.changed(&place.office_id);
    }

    /// Forgets the office's cached availability after its places changed.
    pub(crate) fn changed(&self, office_id: &str) {
        if let Ok(mut cache) = self.availability_cache.lock() {
            cache.retain(|(office, _, _), _| office != office_id);
        }
    }

    /// Capacity and remaining places per day and hour. The hottest read of the service:
    /// answered from memory for a moment, so a rush of readers costs almost nothing.
    pub async fn availability(
        &self,
        office_id: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Arc<Availability>, Error> {
        let from = from.map(|d| validate::date("from", d)).transpose()?;
        let to = to.map(|d| validate::date("to", d)).transpose()?;
        let office = self.office(office_id).await?;
        let today = office.timezone.today(self.ports.clock.now());
        let from = from.unwrap_or(today);
        let to = to.unwrap_or_else(|| from + TimeDelta::days(MAX_AVAILABILITY_DAYS - 1));
        if to < from || (to - from).num_days() >= MAX_AVAILABILITY_DAYS {
            return Err(Error::invalid("to", text::AVAILABILITY_RANGE));
        }
        let cache_key = (office_id.to_owned(), from, to);
        if let Ok(cache) = self.availability_cache.lock()
            && let Some((at, value)) = cache.get(&cache_key)
            && at.elapsed() < self.config.availability_ttl
        {
            return Ok(value.clone());
        }
        let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, day) in days.iter().enumerate() {
            let table = self.ports.table.clone();
            let pk = keys::slot_day(office_id, *day);
            tasks.spawn(async move { (i, table.query(&pk, "", 48).await) });
        }
        let mut per_day: Vec<Option<DayAvailability>> = vec![None; days.len()];
        while let Some(joined) = tasks.join_next().await {
            let (i, items) = joined.map_err(|e| Error::Internal(e.to_string()))?;
            let slots: Vec<SlotAvailability> = items?
                .iter()
                .filter_map(|item| {
                    let slot = places::Slot::of(item).ok()?;
                    Some(SlotAvailability {
                        time: item.key.sk.clone(),
                        capacity: slot.capacity,
                        remaining: slot.remaining(),
                        lanes: slot.laned().then(|| slot.lanes.clone()),
                        release_id: slot.release.clone(),
                    })
                })
                .collect();
            if !slots.is_empty() {
                per_day[i] = Some(DayAvailability {
                    date: days[i],
                    slots,
                });
            }
        }
        let value = Arc::new(Availability {
            office_id: office.office_id,
            timezone: office.timezone,
            days: per_day.into_iter().flatten().collect(),
        });
        if let Ok(mut cache) = self.availability_cache.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(cache_key, (Instant::now(), value.clone()));
        }
        Ok(value)
    }

    // ------------------------------------------------------------------ what may be booked

    fn known_full(&self, key: &Key, lane: Option<Lane>) -> bool {
        self.known_full
            .lock()
            .map(|m| {
                m.get(&(key.clone(), lane))
                    .is_some_and(|at| at.elapsed() < self.config.known_full_ttl)
            })
            .unwrap_or(false)
    }

    /// Remembers for a moment that a slot's lane (or its pool: `None`) is full, or forgets
    /// it (a place came back).
    pub(crate) fn mark_full(&self, key: &Key, lane: Option<Lane>, full: bool) {
        if let Ok(mut m) = self.known_full.lock() {
            if full {
                if m.len() > 100_000 {
                    m.clear();
                }
                m.insert((key.clone(), lane), Instant::now());
            } else {
                m.remove(&(key.clone(), lane));
            }
        }
    }

    /// Checks that a day and hour can be booked at an office now by someone who may take
    /// `wants` (its lanes, in order), without writing; answers the slot's key and the slot
    /// as read, its lanes known full a moment ago counted as full.
    pub(crate) async fn bookable(
        &self,
        office: &Office,
        date: NaiveDate,
        time: &str,
        wants: &[Lane],
    ) -> Result<(Key, places::Slot), Error> {
        validate::date("date", date)?;
        let time = SlotTime::parse("time", time).map_err(|e| Error::Invalid(vec![e]))?;
        let today = office.timezone.today(self.ports.clock.now());
        if date <= today {
            return Err(Error::DateNotBookable);
        }
        let key = keys::slot(&office.office_id, date, time.as_str());
        let all_lanes_full =
            !wants.is_empty() && wants.iter().all(|&l| self.known_full(&key, Some(l)));
        if self.known_full(&key, None) || all_lanes_full {
            return Err(Error::SlotFull);
        }
        let mut slot = match self.ports.table.get(&key).await? {
            Some(item) => places::Slot::of(&item)?,
            None => return Err(Error::DateNotBookable),
        };
        if slot.release.is_some() {
            return Err(Error::HeldForRelease);
        }
        if slot.laned() {
            for (&lane, count) in &mut slot.lanes {
                if count.remaining <= 0 {
                    self.mark_full(&key, Some(lane), true);
                } else if self.known_full(&key, Some(lane)) {
                    count.remaining = 0;
                }
            }
            // Every lane full: the next attempt of any kind is answered without a read.
            if slot.full() {
                self.mark_full(&key, None, true);
            }
        } else if slot.full() {
            self.mark_full(&key, None, true);
            return Err(Error::SlotFull);
        }
        Ok((key, slot))
    }
}
