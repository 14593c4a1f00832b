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

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    Error, Ports,
    applications::{
        Application, Applications, Billing, BillingStatus, BookingInfo, Status, active_nik_key,
        application_key,
    },
    jobs::Notice,
    offices::{Office, distance_km},
    store::{Cond, Item, Key, Receipt, StoreError, Update, Write, no_receipt},
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

fn office_key(id: &str) -> Key {
    Key::new("OFFICES", id)
}
fn slot_pk(office_id: &str, date: NaiveDate) -> String {
    format!("SLOT#{office_id}#{date}")
}
pub fn slot_key(office_id: &str, date: NaiveDate, time: &str) -> Key {
    Key::new(slot_pk(office_id, date), time)
}
pub fn billing_key(code: &str) -> Key {
    Key::new(format!("BILL#{code}"), "BILL")
}
pub fn schedule_key(office_id: &str, date: NaiveDate, time: &str, application_id: &str) -> Key {
    Key::new(
        format!("SCHED#{office_id}#{date}"),
        format!("{time}#{application_id}"),
    )
}
/// Unpaid billings by the hour they expire in, for the sweeper.
pub fn expiry_key(expires_at: DateTime<Utc>, application_id: &str) -> Key {
    Key::new(
        format!("EXPIRES#{}", expires_at.format("%Y-%m-%dT%H")),
        format!("{}#{application_id}", expires_at.timestamp_millis()),
    )
}

/// The writes that give a booked place back: the slot's count, and the day's schedule.
pub fn release_place(b: &BookingInfo, application_id: &str) -> [Write; 2] {
    [
        Write::Update {
            key: slot_key(&b.office_id, b.date, &b.time),
            update: Update::new().add("taken", -1),
            cond: Some(Cond::Exists),
        },
        Write::Delete {
            key: schedule_key(&b.office_id, b.date, &b.time, application_id),
            cond: None,
        },
    ]
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
                Item::from_record(office_key(&office.office_id), office)?,
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
                Item::from_record(office_key(&office.office_id), office)?,
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
        let office: Office = match self.ports.table.get(&office_key(id)).await? {
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
        let items = self.ports.table.query("OFFICES", "", 10_000).await?;
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
                    let key = slot_key(office_id, day, time);
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
            let pk = slot_pk(office_id, *day);
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
        let key = slot_key(&office.office_id, date, time);
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
            let paid_without_place = app.status == Status::Paid && app.booking.is_none();
            if !(matches!(app.status, Status::Submitted | Status::Expired) || paid_without_place) {
                return Err(Error::InvalidState {
                    id: "Pemesanan hanya untuk permohonan yang sudah diajukan dan belum memiliki jadwal.",
                    en: "Only a submitted application without a booking can be booked.",
                });
            }
            if !office.passport_types.contains(&app.passport_type) {
                return Err(Error::PassportTypeNotOffered);
            }
            let slot = self.check_bookable(&office, date, time).await?;
            let now = self.ports.clock.now();
            let mut next = app.clone();
            next.booking = Some(BookingInfo { office_id: office.office_id.clone(), date, time: time.to_owned() });
            let mut writes = vec![Write::Update {
                key: slot.clone(),
                update: Update::new().add("taken", 1),
                cond: Some(Cond::LessThan("taken".into(), "capacity".into())),
            }];
            let mut extra = Vec::new();
            // A late payment whose place was gone: the booking costs nothing more.
            if !paid_without_place {
                let billing = Billing {
                    billing_code: new_billing_code(),
                    amount_idr: app.fee_idr,
                    status: BillingStatus::Unpaid,
                    expires_at: now + TimeDelta::seconds(self.config.payment_ttl_secs),
                    paid_at: None,
                };
                extra.push(Write::Put {
                    item: Item::from_record(billing_key(&billing.billing_code), &json!({"application_id": id}))?,
                    cond: Some(Cond::NotExists),
                });
                extra.push(Write::Put {
                    item: Item::from_record(expiry_key(billing.expires_at, id), &json!({"application_id": id, "billing_code": billing.billing_code}))?,
                    cond: None,
                });
                if app.status == Status::Expired {
                    // The NIK was freed when the billing expired; take it back.
                    let nik = active_nik_key(&self.applications.nik_ref(&app.applicant.nik));
                    extra.push(Write::Put {
                        item: Item::from_record(nik, &json!({"application_id": id}))?,
                        cond: Some(Cond::Any(vec![Cond::NotExists, Cond::eq("application_id", id)])),
                    });
                }
                next.billing = Some(billing);
                next.set_status(Status::AwaitingPayment, now);
            }
            next.version += 1;
            writes.push(Write::Put {
                item: Item::from_record(application_key(id), &next)?,
                cond: Some(Cond::eq("version", app.version)),
            });
            writes.push(Write::Put {
                item: Item::from_record(schedule_key(&office.office_id, date, time, id), &json!({"application_id": id}))?,
                cond: None,
            });
            let nik_index = writes.len() + extra.len() - 1;
            let has_nik = app.status == Status::Expired && !paid_without_place;
            writes.extend(extra);
            let receipt_at = writes.len();
            writes.extend(receipt(&next)?);
            match self.ports.table.transact(writes).await {
                Ok(()) => {
                    self.forget_cached(&office.office_id);
                    if let Some(b) = &next.billing
                        && !paid_without_place
                    {
                        let tz = office.timezone.offset();
                        let notice = Notice::BookingMade {
                            application_id: id.to_owned(),
                            billing_code: b.billing_code.clone(),
                            amount_idr: b.amount_idr,
                            deadline: b.expires_at.with_timezone(&tz).format("%d-%m-%Y %H:%M").to_string(),
                            appointment: format!("{date} {time}"),
                        };
                        crate::payments::notify(&self.ports, account_id, notice).await;
                    }
                    Ok(next)
                }
                Err(StoreError::ConditionFailed { index: Some(0) }) => {
                    self.mark_full(&slot, true);
                    Err(Error::SlotFull)
                }
                Err(StoreError::ConditionFailed { index: Some(i) }) if has_nik && i == nik_index => Err(Error::ActiveApplicationExists),
                Err(StoreError::ConditionFailed { index: Some(i) }) if i == receipt_at => Err(receipt_lost()),
                // The application changed meanwhile, or a billing code collided: again.
                Err(StoreError::ConditionFailed { .. }) => Err(Error::Conflict),
                Err(e) => Err(e.into()),
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
            let (Status::Paid, Some(booking)) = (app.status, app.booking.clone()) else {
                return Err(Error::InvalidState {
                    id: "Jadwal hanya dapat diubah setelah dibayar.",
                    en: "Only a paid booking can be rescheduled.",
                });
            };
            if app.reschedules >= 1 {
                return Err(Error::RescheduleLimit);
            }
            let office = self.office(&booking.office_id).await?;
            if office.timezone.today(self.ports.clock.now()) >= booking.date {
                return Err(Error::InvalidState {
                    id: "Jadwal hanya dapat diubah paling lambat sehari sebelum hari kedatangan.",
                    en: "A booking can be rescheduled at the latest the day before it.",
                });
            }
            if booking.date == date && booking.time == time {
                return Err(Error::invalid(
                    "date",
                    "Itu jadwal yang sama.",
                    "That is the same slot.",
                ));
            }
            let new_slot = self.check_bookable(&office, date, time).await?;
            let old_slot = slot_key(&office.office_id, booking.date, &booking.time);
            let mut next = app.clone();
            next.booking = Some(BookingInfo {
                office_id: office.office_id.clone(),
                date,
                time: time.to_owned(),
            });
            next.reschedules += 1;
            next.version += 1;
            let mut writes = vec![
                Write::Update {
                    key: new_slot.clone(),
                    update: Update::new().add("taken", 1),
                    cond: Some(Cond::LessThan("taken".into(), "capacity".into())),
                },
                Write::Update {
                    key: old_slot.clone(),
                    update: Update::new().add("taken", -1),
                    cond: Some(Cond::Exists),
                },
                Write::Put {
                    item: Item::from_record(application_key(id), &next)?,
                    cond: Some(Cond::eq("version", app.version)),
                },
                Write::Delete {
                    key: schedule_key(&office.office_id, booking.date, &booking.time, id),
                    cond: None,
                },
                Write::Put {
                    item: Item::from_record(
                        schedule_key(&office.office_id, date, time, id),
                        &json!({"application_id": id}),
                    )?,
                    cond: None,
                },
            ];
            let receipt_at = writes.len();
            writes.extend(receipt(&next)?);
            match self.ports.table.transact(writes).await {
                Ok(()) => {
                    self.mark_full(&old_slot, false);
                    self.forget_cached(&office.office_id);
                    crate::payments::notify(
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
                Err(StoreError::ConditionFailed { index: Some(0) }) => {
                    self.mark_full(&new_slot, true);
                    Err(Error::SlotFull)
                }
                Err(StoreError::ConditionFailed { index: Some(i) }) if i == receipt_at => {
                    Err(receipt_lost())
                }
                Err(StoreError::ConditionFailed { .. }) => Err(Error::Conflict),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// `DELETE …/booking`: the place returns to the quota at once; the NIK is free again.
    pub async fn cancel(&self, account_id: &str, id: &str) -> Result<Application, Error> {
        retrying(|| async {
            let app = self.applications.get(account_id, id).await?;
            let cancellable = matches!(app.status, Status::AwaitingPayment | Status::Paid);
            if !cancellable {
                return Err(Error::InvalidState {
                    id: "Hanya pemesanan yang belum check-in yang dapat dibatalkan.",
                    en: "Only a booking not yet checked in can be cancelled.",
                });
            }
            let now = self.ports.clock.now();
            let mut next = app.clone();
            next.set_status(Status::Cancelled, now);
            next.version += 1;
            let mut writes = vec![
                Write::Put {
                    item: Item::from_record(application_key(id), &next)?,
                    cond: Some(Cond::eq("version", app.version)),
                },
                self.applications.release_nik(&app),
                self.applications.purge_entry(id, now)?,
            ];
            if let Some(b) = &app.booking {
                writes.extend(release_place(b, id));
            }
            match self.ports.table.transact(writes).await {
                Ok(()) => {
                    if let Some(b) = &app.booking {
                        self.mark_full(&slot_key(&b.office_id, b.date, &b.time), false);
                        self.forget_cached(&b.office_id);
                    }
                    crate::payments::notify(
                        &self.ports,
                        account_id,
                        Notice::Cancelled {
                            application_id: id.to_owned(),
                        },
                    )
                    .await;
                    Ok(next)
                }
                Err(StoreError::ConditionFailed { .. }) => Err(Error::Conflict),
                Err(e) => Err(e.into()),
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

/// The caller's claim on its answer is gone (another request with the same
/// `Idempotency-Key` took it over): nothing was written, and that request answers.
pub fn receipt_lost() -> Error {
    Error::IdempotencyInProgress {
        retry_after_secs: 1,
    }
}

/// Most tries of one [`retrying`] loop.
pub const RETRY_TRIES: u32 = 6;

/// No new try is begun once this long has passed since the first: with the SDK's own
/// bounded retries under each call (`paspor_adapters::aws`), a throttled booking answers
/// its 503 well inside the request's budget (`paspor_lambda::budget`) instead of using it up.
pub const RETRY_WINDOW: Duration = Duration::from_secs(3);

/// Runs `f` again when a concurrent change won (`Conflict`) or the store pushed back
/// (`Busy`), with a short jittered pause; after a few tries, or once [`RETRY_WINDOW`] has
/// passed, the caller is told to come back (`503` with `Retry-After`) rather than left
/// hanging.
pub async fn retrying<T, F, Fut>(f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    retrying_within(RETRY_WINDOW, f).await
}

/// [`retrying`] with another window (tests).
pub async fn retrying_within<T, F, Fut>(window: Duration, mut f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let started = tokio::time::Instant::now();
    for attempt in 0..RETRY_TRIES {
        match f().await {
            Err(Error::Conflict | Error::Busy { .. })
                if attempt + 1 < RETRY_TRIES && started.elapsed() < window =>
            {
                let base = 5u64 << attempt.min(4);
                let jitter = rand::rngs::OsRng.gen_range(0..=base);
                tokio::time::sleep(Duration::from_millis(base + jitter)).await;
            }
            Err(Error::Conflict) => {
                return Err(Error::Busy {
                    retry_after_secs: 1,
                });
            }
            other => return other,
        }
    }
    Err(Error::Busy {
        retry_after_secs: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_retry_loop_stops_at_its_window() {
        let tries = std::sync::atomic::AtomicU32::new(0);
        let outcome: Result<(), Error> = retrying_within(Duration::from_millis(100), || async {
            tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // A store that takes 60 ms to push back.
            tokio::time::sleep(Duration::from_millis(60)).await;
            Err(Error::Busy {
                retry_after_secs: 1,
            })
        })
        .await;
        assert!(matches!(outcome, Err(Error::Busy { .. })));
        let tries = tries.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            tries <= 3,
            "{tries} tries in a 100 ms window of 60 ms tries"
        );
    }

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
