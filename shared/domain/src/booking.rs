//! Offices, quota and booking: the heart of Paspor.
//!
//! A slot (office, day, hour) is one item with `capacity` and `taken`. Booking takes a
//! place with one transaction: `taken + 1` under the condition `taken < capacity`, the
//! application's new state under its version, the billing code's index and the day's
//! schedule entry. Concurrent bookings can never oversell, and a retry can never book
//! twice. A slot known to be full is answered without a write; a store that pushes back is
//! retried briefly with jitter, then answered `503` with `Retry-After`. See
//! `docs/booking.md` for the design under a national rush.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    Error, Ports,
    applications::{Application, Applications, Billing, BillingStatus, BookingInfo},
    jobs::Notice,
    offices::{Office, distance_km},
    repo::{keys, tx::Failed},
    store::{Cond, Item, Key, Receipt, StoreError, Update, no_receipt},
    transitions::{self, BookGuard, Decision, RescheduleGuard},
    validate,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SlotRecord {
    capacity: i64,
    taken: i64,
}

/// A 15-digit billing code: 14 random digits and a Luhn check digit, so a mistyped code
/// is caught before it reaches the database.
pub fn new_billing_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let mut digits: Vec<u32> = (0..14)
        .map(|i| {
            if i == 0 {
                rng.gen_range(1..10)
            } else {
                rng.gen_range(0..10)
            }
        })
        .collect();
    digits.push(luhn_digit(&digits));
    digits
        .iter()
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect()
}

fn luhn_digit(digits: &[u32]) -> u32 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

pub fn valid_billing_code(code: &str) -> bool {
    let digits: Option<Vec<u32>> = code.chars().map(|c| c.to_digit(10)).collect();
    match digits {
        Some(d) if d.len() == 15 => luhn_digit(&d[..14]) == d[14],
        _ => false,
    }
}

/// `HH:MM` on the hour, 00:00 to 23:00.
pub fn valid_slot_time(t: &str) -> bool {
    t.len() == 5
        && t.ends_with(":00")
        && t[..2].parse::<u32>().is_ok_and(|h| h < 24)
        && t[..2].chars().all(|c| c.is_ascii_digit())
}

/// (office, from, to) of an availability answer.
type AvailabilityRange = (String, NaiveDate, NaiveDate);

/// Offices, quota, booking, reschedule and cancellation.
pub struct Booking {
    ports: Ports,
    applications: Arc<Applications>,
    config: BookingConfig,
    availability_cache: Mutex<HashMap<AvailabilityRange, (Instant, Arc<Value>)>>,
    /// Offices change a few times a year, yet every booking attempt needs one: read at most
    /// once per `availability_ttl` per instance (a quarter of a rush attempt's reads).
    office_cache: Mutex<HashMap<String, (Instant, Office)>>,
    known_full: Mutex<HashMap<Key, Instant>>,
}

/// An office as listed, with its distance from the caller when known.
#[derive(Debug, Clone, Serialize)]
pub struct ListedOffice {
    #[serde(flatten)]
    pub office: Office,
    pub distance_km: Option<f64>,
}

impl Booking {
    pub fn new(ports: Ports, applications: Arc<Applications>, config: BookingConfig) -> Self {
        Self {
            ports,
            applications,
            config,
            availability_cache: Mutex::new(HashMap::new()),
            office_cache: Mutex::new(HashMap::new()),
            known_full: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &BookingConfig {
        &self.config
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

    pub async fn office(&self, id: &str) -> Result<Office, Error> {
        if !validate::is_id(id) {
            return Err(Error::NotFound);
        }
        if let Ok(cache) = self.office_cache.lock()
            && let Some((at, office)) = cache.get(id)
            && at.elapsed() < self.config.availability_ttl
        {
            return Ok(office.clone());
        }
        let office: Office = match self.ports.table.get(&keys::office(id)).await? {
            Some(item) => item.record()?,
            None => return Err(Error::NotFound),
        };
        if let Ok(mut cache) = self.office_cache.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(id.to_owned(), (Instant::now(), office.clone()));
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
    /// capacity. Weekends stay closed unless `include_weekends`. With `only_missing`, slots
    /// that exist are left as they are (the seed); otherwise a capacity may not go below
    /// what is booked. Answers how many slots were written.
    pub async fn open_quota(
        &self,
        office_id: &str,
        from: NaiveDate,
        to: NaiveDate,
        slots: &BTreeMap<String, i64>,
        include_weekends: bool,
        only_missing: bool,
    ) -> Result<u32, Error> {
        let (from, to) = (validate::date("from", from)?, validate::date("to", to)?);
        if slots.values().any(|c| !(0..=MAX_CAPACITY).contains(c)) {
            return Err(Error::invalid(
                "slots",
                "Kapasitas 0 sampai 10000.",
                "A capacity is from 0 to 10000.",
            ));
        }
        self.office(office_id).await?;
        let mut written = 0;
        for day in from.iter_days().take_while(|d| *d <= to) {
            let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            if include_weekends || !weekend {
                for (time, capacity) in slots {
                    let key = keys::slot(office_id, day, time);
                    let update = Update::new().set("capacity", *capacity).add("taken", 0);
                    let cond = if only_missing {
                        Cond::NotExists
                    } else {
                        Cond::Any(vec![
                            Cond::NotExists,
                            Cond::LessThanValue("taken".into(), capacity + 1),
                        ])
                    };
                    match self.ports.table.update(&key, update, Some(cond)).await {
                        Ok(_) => written += 1,
                        Err(StoreError::ConditionFailed { .. }) if only_missing => {}
                        Err(StoreError::ConditionFailed { .. }) => {
                            return Err(Error::CapacityBelowBooked);
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        self.forget_cached(office_id);
        Ok(written)
    }

    fn forget_cached(&self, office_id: &str) {
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
    ) -> Result<Arc<Value>, Error> {
        let from = from.map(|d| validate::date("from", d)).transpose()?;
        let to = to.map(|d| validate::date("to", d)).transpose()?;
        let office = self.office(office_id).await?;
        let today = office.timezone.today(self.ports.clock.now());
        let from = from.unwrap_or(today);
        let to = to.unwrap_or_else(|| from + TimeDelta::days(MAX_AVAILABILITY_DAYS - 1));
        if to < from || (to - from).num_days() >= MAX_AVAILABILITY_DAYS {
            return Err(Error::invalid(
                "to",
                "Rentang tanggal paling lama 31 hari, dan `to` tidak sebelum `from`.",
                "The range is at most 31 days, and `to` is not before `from`.",
            ));
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
        let mut per_day: Vec<Option<Value>> = vec![None; days.len()];
        while let Some(joined) = tasks.join_next().await {
            let (i, items) = joined.map_err(|e| Error::Internal(e.to_string()))?;
            let slots: Vec<Value> = items?
                .iter()
                .filter_map(|item| {
                    let slot: SlotRecord = item.record().ok()?;
                    Some(json!({"time": item.key.sk, "capacity": slot.capacity, "remaining": (slot.capacity - slot.taken).max(0)}))
                })
                .collect();
            if !slots.is_empty() {
                per_day[i] = Some(json!({"date": days[i], "slots": slots}));
            }
        }
        let value = Arc::new(json!({
            "office_id": office.office_id,
            "timezone": office.timezone,
            "days": per_day.into_iter().flatten().collect::<Vec<_>>(),
        }));
        if let Ok(mut cache) = self.availability_cache.lock() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(cache_key, (Instant::now(), value.clone()));
        }
        Ok(value)
    }

    fn known_full(&self, key: &Key) -> bool {
        self.known_full
            .lock()
            .map(|m| {
                m.get(key)
                    .is_some_and(|at| at.elapsed() < self.config.known_full_ttl)
            })
            .unwrap_or(false)
    }

    fn mark_full(&self, key: &Key, full: bool) {
        if let Ok(mut m) = self.known_full.lock() {
            if full {
                if m.len() > 100_000 {
                    m.clear();
                }
                m.insert(key.clone(), Instant::now());
            } else {
                m.remove(key);
            }
        }
    }

    /// Reads a slot; `None` when no quota was opened for it.
    async fn slot(&self, key: &Key) -> Result<Option<SlotRecord>, Error> {
        match self.ports.table.get(key).await? {
            Some(item) => Ok(Some(item.record()?)),
            None => Ok(None),
        }
    }

    /// Checks that a day and hour can be booked at an office now, without writing.
    async fn check_bookable(
        &self,
        office: &Office,
        date: NaiveDate,
        time: &str,
    ) -> Result<Key, Error> {
        validate::date("date", date)?;
        if !valid_slot_time(time) {
            return Err(Error::invalid(
                "time",
                "Jam harus berformat HH:00, misalnya 08:00.",
                "The time must be HH:00, e.g. 08:00.",
            ));
        }
        let today = office.timezone.today(self.ports.clock.now());
        if date <= today {
            return Err(Error::DateNotBookable);
        }
        let key = keys::slot(&office.office_id, date, time);
        if self.known_full(&key) {
            return Err(Error::SlotFull);
        }
        match self.slot(&key).await? {
            None => Err(Error::DateNotBookable),
            Some(s) if s.taken >= s.capacity => {
                self.mark_full(&key, true);
                Err(Error::SlotFull)
            }
            Some(_) => Ok(key),
        }
    }

    // ------------------------------------------------------------------ booking

    /// `POST …/booking`: takes a place and issues the billing, in one transaction.
    pub async fn book(
        &self,
        account_id: &str,
        id: &str,
        office_id: &str,
        date: NaiveDate,
        time: &str,
    ) -> Result<Application, Error> {
        self.book_with(account_id, id, office_id, date, time, &no_receipt)
            .await
    }

    /// [`Self::book`], recording the caller's answer in the same transaction.
    pub async fn book_with(
        &self,
        account_id: &str,
        id: &str,
        office_id: &str,
        date: NaiveDate,
        time: &str,
        receipt: Receipt<'_, Application>,
    ) -> Result<Application, Error> {
        let office = match self.office(office_id).await {
            Err(Error::NotFound) => {
                return Err(Error::invalid(
                    "office_id",
                    "Kantor imigrasi tidak ditemukan.",
                    "No such immigration office.",
                ));
            }
            other => other?,
        };
        retrying(|| async {
            let app = self.applications.get(account_id, id).await?;
            transitions::may_book(&app, &office)?;
            let slot = self.check_bookable(&office, date, time).await?;
            let ctx = self.applications.context(&app, self.ports.clock.now());
            let place = BookingInfo {
                office_id: office.office_id.clone(),
                date,
                time: time.to_owned(),
            };
            let ttl = TimeDelta::seconds(self.config.payment_ttl_secs);
            let Decision { next, mut tx } =
                transitions::book(&app, place, new_billing_code(), ttl, &ctx)?;
            tx.guarded_opt(BookGuard::Receipt, receipt(&next)?);
            match tx.commit(self.ports.table.as_ref()).await {
                Ok(()) => {
                    self.forget_cached(&office.office_id);
                    if !transitions::paid_without_place(&app)
                        && let Some(b) = &next.billing
                    {
                        let tz = office.timezone.offset();
                        let deadline = b.expires_at.with_timezone(&tz);
                        let notice = Notice::BookingMade {
                            application_id: id.to_owned(),
                            billing_code: b.billing_code.clone(),
                            amount_idr: b.amount_idr,
                            deadline: deadline.format("%d-%m-%Y %H:%M").to_string(),
                            appointment: format!("{date} {time}"),
                        };
                        crate::notify::notify(&self.ports, account_id, notice).await;
                    }
                    Ok(next)
                }
                Err(Failed::Guard(BookGuard::Slot)) => {
                    self.mark_full(&slot, true);
                    Err(Error::SlotFull)
                }
                Err(Failed::Guard(BookGuard::Nik)) => Err(Error::ActiveApplicationExists),
                Err(Failed::Guard(BookGuard::Receipt)) => Err(Error::receipt_lost()),
                // The application changed meanwhile, or a billing code collided: again.
                Err(Failed::Guard(BookGuard::Version) | Failed::Unnamed) => Err(Error::Conflict),
                Err(Failed::Store(e)) => Err(e.into()),
            }
        })
        .await
    }

    /// `PUT …/booking`: once, paid, same office, until the end of the day before.
    pub async fn reschedule(
        &self,
        account_id: &str,
        id: &str,
        date: NaiveDate,
        time: &str,
    ) -> Result<Application, Error> {
        self.reschedule_with(account_id, id, date, time, &no_receipt)
            .await
    }

    /// [`Self::reschedule`], recording the caller's answer in the same transaction.
    pub async fn reschedule_with(
        &self,
        account_id: &str,
        id: &str,
        date: NaiveDate,
        time: &str,
        receipt: Receipt<'_, Application>,
    ) -> Result<Application, Error> {
        retrying(|| async {
            let app = self.applications.get(account_id, id).await?;
            let booking = transitions::reschedulable(&app)?;
            let office = self.office(&booking.office_id).await?;
            let today = office.timezone.today(self.ports.clock.now());
            transitions::may_move(&booking, today, date, time)?;
            let new_slot = self.check_bookable(&office, date, time).await?;
            let old_slot = keys::slot(&office.office_id, booking.date, &booking.time);
            let to = BookingInfo {
                office_id: office.office_id.clone(),
                date,
                time: time.to_owned(),
            };
            let Decision { next, mut tx } = transitions::reschedule(&app, to)?;
            tx.guarded_opt(RescheduleGuard::Receipt, receipt(&next)?);
            match tx.commit(self.ports.table.as_ref()).await {
                Ok(()) => {
                    self.mark_full(&old_slot, false);
                    self.forget_cached(&office.office_id);
                    crate::notify::notify(
                        &self.ports,
                        account_id,
                        Notice::Rescheduled {
                            application_id: id.to_owned(),
                            appointment: format!("{date} {time}"),
                        },
                    )
                    .await;
                    Ok(next)
                }
                Err(Failed::Guard(RescheduleGuard::Slot)) => {
                    self.mark_full(&new_slot, true);
                    Err(Error::SlotFull)
                }
                Err(Failed::Guard(RescheduleGuard::Receipt)) => Err(Error::receipt_lost()),
                Err(Failed::Guard(RescheduleGuard::Version) | Failed::Unnamed) => {
                    Err(Error::Conflict)
                }
                Err(Failed::Store(e)) => Err(e.into()),
            }
        })
        .await
    }

    /// `DELETE …/booking`: the place returns to the quota at once; the NIK is free again.
    pub async fn cancel(&self, account_id: &str, id: &str) -> Result<Application, Error> {
        retrying(|| async {
            let app = self.applications.get(account_id, id).await?;
            let ctx = self.applications.context(&app, self.ports.clock.now());
            let Decision { next, tx } = transitions::cancel(&app, &ctx)?;
            match tx.commit(self.ports.table.as_ref()).await {
                Ok(()) => {
                    if let Some(b) = &app.booking {
                        self.mark_full(&keys::slot(&b.office_id, b.date, &b.time), false);
                        self.forget_cached(&b.office_id);
                    }
                    crate::notify::notify(
                        &self.ports,
                        account_id,
                        Notice::Cancelled {
                            application_id: id.to_owned(),
                        },
                    )
                    .await;
                    Ok(next)
                }
                Err(Failed::Guard(()) | Failed::Unnamed) => Err(Error::Conflict),
                Err(Failed::Store(e)) => Err(e.into()),
            }
        })
        .await
    }

    /// `GET …/billing`: an unpaid billing past its deadline reads as expired even before
    /// the sweeper has run.
    pub async fn billing(&self, account_id: &str, id: &str) -> Result<Billing, Error> {
        let app = self.applications.get(account_id, id).await?;
        let mut billing = app.billing.ok_or(Error::NotFound)?;
        if billing.status == BillingStatus::Unpaid && billing.expires_at <= self.ports.clock.now() {
            billing.status = BillingStatus::Expired;
        }
        Ok(billing)
    }
}

pub use crate::retry::{RETRY_TRIES, RETRY_WINDOW, retrying, retrying_within};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_codes() {
        for _ in 0..500 {
            let code = new_billing_code();
            assert_eq!(code.len(), 15);
            assert!(valid_billing_code(&code), "{code}");
            let mut wrong: Vec<char> = code.chars().collect();
            wrong[3] = if wrong[3] == '1' { '2' } else { '1' };
            assert!(!valid_billing_code(&wrong.iter().collect::<String>()));
        }
        assert!(!valid_billing_code("12345"));
        // The classic Luhn example, 79927398713.
        assert_eq!(luhn_digit(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1]), 3);
    }

    #[test]
    fn slot_times() {
        assert!(valid_slot_time("08:00") && valid_slot_time("15:00") && valid_slot_time("00:00"));
        assert!(
            !valid_slot_time("8:00")
                && !valid_slot_time("08:30")
                && !valid_slot_time("24:00")
                && !valid_slot_time("ab:00")
        );
    }
}
