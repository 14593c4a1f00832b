//! The rules of an application's life, decided without a database: each transition takes
//! the application as read (and what else it needs to know) and answers the application as
//! it will be, with the transaction that makes it so and the names of its conditions. The
//! services read, call one of these, commit, and turn a failed guard into an answer.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::text;
use crate::{
    Error,
    model::{
        application::{Application, Billing, BillingStatus, BookingInfo, Status},
        lane::Lane,
        payment::{Notification, Outcome, PaymentRecord},
    },
    offices::Office,
    repo::{applications as rows, keys, places, tx::Tx},
    store::{Cond, Item, Key, StoreError, Write},
};

/// What a transition needs to know besides the application.
#[derive(Debug, Clone)]
pub struct Context {
    pub now: DateTime<Utc>,
    /// The keyed hash of the applicant's NIK: its key in the table.
    pub nik_ref: String,
    /// How long the stored objects stay once the application ended.
    pub retention: TimeDelta,
}

/// The application as it will be, and the transaction that makes it so.
#[derive(Debug, Clone)]
pub struct Decision<G> {
    pub next: Application,
    pub tx: Tx<G>,
}

// ------------------------------------------------------------------ book

/// The conditions of a booking, by what their failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookGuard {
    /// The slot has no room left.
    Slot,
    /// The application changed since it was read (or, unnamed, a billing code collided).
    Version,
    /// The NIK went to another application while this one was expired.
    Nik,
    /// The caller's claim on its answer was taken over.
    Receipt,
}

/// A late payment found its place gone: the next booking costs nothing more.
pub fn paid_without_place(app: &Application) -> bool {
    app.status == Status::Paid && app.booking.is_none()
}

/// Whether this application may be booked at this office at all.
pub fn may_book(app: &Application, office: &Office) -> Result<(), Error> {
    let bookable = matches!(app.status, Status::Submitted | Status::Expired);
    if !(bookable || paid_without_place(app)) {
        return Err(Error::InvalidState(text::BOOK_NEEDS_SUBMITTED));
    }
    if !office.passport_types.contains(&app.passport_type) {
        return Err(Error::PassportTypeNotOffered);
    }
    Ok(())
}

/// Takes `place` and, unless the application is already paid, issues a billing with
/// `billing_code`, payable for `payment_ttl`. [`may_book`] has said yes.
pub fn book(
    app: &Application,
    place: BookingInfo,
    billing_code: String,
    payment_ttl: TimeDelta,
    ctx: &Context,
) -> Result<Decision<BookGuard>, Error> {
    let mut tx = Tx::new();
    tx.guarded(BookGuard::Slot, places::take_slot(&place));
    let next = booked_in(
        &mut tx,
        app,
        place,
        billing_code,
        payment_ttl,
        ctx,
        (BookGuard::Version, BookGuard::Nik),
    )?;
    Ok(Decision { next, tx })
}

/// The application with its place and billing, and the writes that record them (all but
/// the slot's): saved under its version, on the schedule, its billing indexed and due
/// to expire, its NIK taken back if it had lapsed. `guards` name the version's and the
/// NIK's conditions.
fn booked_in<G: Copy>(
    tx: &mut Tx<G>,
    app: &Application,
    place: BookingInfo,
    billing_code: String,
    payment_ttl: TimeDelta,
    ctx: &Context,
    (version, nik): (G, G),
) -> Result<Application, Error> {
    let id = app.application_id.as_str();
    let billing = (!paid_without_place(app)).then(|| Billing {
        billing_code,
        amount_idr: app.fee_idr,
        status: BillingStatus::Unpaid,
        expires_at: ctx.now + payment_ttl,
        paid_at: None,
    });
    let mut next = app.clone();
    next.booking = Some(place.clone());
    if let Some(b) = &billing {
        next.billing = Some(b.clone());
        next.set_status(Status::AwaitingPayment, ctx.now);
    }
    next.version += 1;
    tx.guarded(version, rows::save(&next, app.version)?)
        .write(places::schedule(&place, id)?);
    if let Some(b) = &billing {
        // A colliding code fails unnamed: tried again with another.
        tx.write(rows::billing_index(&b.billing_code, id)?)
            .write(rows::expiry_entry(b.expires_at, id, &b.billing_code)?);
        if app.status == Status::Expired {
            // The NIK was freed when the billing expired; take it back.
            tx.guarded(nik, rows::take_nik(&ctx.nik_ref, id)?);
        }
    }
    Ok(next)
}

// ------------------------------------------------------------------ a family

/// The conditions of a family's booking; `Version` and `Nik` name the application by its
/// position in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupGuard {
    /// The slot no longer has the places (in the lanes) the group was given.
    Slot,
    Version(usize),
    Nik(usize),
    Receipt,
}

/// The family as it will be, and the one transaction that makes it so.
#[derive(Debug, Clone)]
pub struct GroupDecision {
    pub next: Vec<Application>,
    pub tx: Tx<GroupGuard>,
}

/// One member of a family booking: the application as read, and its context.
pub struct Member<'a> {
    pub app: &'a Application,
    pub ctx: Context,
    pub billing_code: String,
}

/// Books a family into one slot in one transaction: each member in its own lane
/// (`lanes`, in order; all `None` in a one-number slot), each with its own billing, the
/// same deadline. The slot is one write for all, so the group is taken whole or not at
/// all. `pool` is the one-number slot's capacity as read. [`may_book`] said yes to each.
pub fn book_group(
    members: Vec<Member<'_>>,
    slot: Key,
    place: &BookingInfo,
    lanes: &[Option<Lane>],
    pool: i64,
    payment_ttl: TimeDelta,
) -> Result<GroupDecision, Error> {
    let mut tx = Tx::new();
    let n = i64::try_from(members.len()).unwrap_or(i64::MAX);
    tx.guarded(
        GroupGuard::Slot,
        places::take_places(slot, n, &places::per_lane(lanes), pool),
    );
    let mut booked = Vec::with_capacity(members.len());
    for (i, m) in members.into_iter().enumerate() {
        let mut own = place.clone();
        own.lane = lanes.get(i).copied().flatten();
        booked.push(booked_in(
            &mut tx,
            m.app,
            own,
            m.billing_code,
            payment_ttl,
            &m.ctx,
            (GroupGuard::Version(i), GroupGuard::Nik(i)),
        )?);
    }
    Ok(GroupDecision { next: booked, tx })
}

// ------------------------------------------------------------------ reschedule

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RescheduleGuard {
    /// The new slot has no room left.
    Slot,
    Version,
    Receipt,
}

/// The booking a reschedule would move: only a paid one, and only once.
pub fn reschedulable(app: &Application) -> Result<BookingInfo, Error> {
    let (Status::Paid, Some(booking)) = (app.status, app.booking.clone()) else {
        return Err(Error::InvalidState(text::RESCHEDULE_NEEDS_PAID));
    };
    if app.reschedules >= 1 {
        return Err(Error::RescheduleLimit);
    }
    Ok(booking)
}

/// Whether `current` may move to `date` at `time`, `today` at its office.
pub fn may_move(
    current: &BookingInfo,
    today: NaiveDate,
    date: NaiveDate,
    time: &str,
) -> Result<(), Error> {
    if today >= current.date {
        return Err(Error::InvalidState(text::RESCHEDULE_TOO_LATE));
    }
    if current.date == date && current.time == time {
        return Err(Error::invalid("date", text::SAME_SLOT));
    }
    Ok(())
}

/// Moves the booking to `to`: the new place taken, the old one given back (to its
/// release's waitlist first, if a draw gave it and the release's first day is after
/// `today`, UTC's).
pub fn reschedule(
    app: &Application,
    to: BookingInfo,
    today: NaiveDate,
) -> Result<Decision<RescheduleGuard>, Error> {
    let id = app.application_id.as_str();
    let from = reschedulable(app)?;
    let mut next = app.clone();
    next.booking = Some(to.clone());
    next.reschedules += 1;
    next.version += 1;
    let mut tx = Tx::new();
    tx.guarded(RescheduleGuard::Slot, places::take_slot(&to))
        .writes(places::release(&from, id, today))
        .guarded(RescheduleGuard::Version, rows::save(&next, app.version)?)
        .write(places::schedule(&to, id)?);
    Ok(Decision { next, tx })
}

/// Moves a family together to one new slot: `tos` are the new places, in the members'
/// order (each in its lane; `pool` is the new one-number slot's capacity as read). The
/// new slot is one write for all, and so is each old slot the members leave.
pub fn reschedule_group(
    apps: &[Application],
    tos: Vec<BookingInfo>,
    new_slot: Key,
    pool: i64,
    today: NaiveDate,
) -> Result<GroupDecision, Error> {
    let mut tx = Tx::new();
    let lanes: Vec<Option<Lane>> = tos.iter().map(|t| t.lane).collect();
    let n = i64::try_from(tos.len()).unwrap_or(i64::MAX);
    tx.guarded(
        GroupGuard::Slot,
        places::take_places(new_slot, n, &places::per_lane(&lanes), pool),
    );
    // Each old slot: its lanes given back, and one of its places (they share a release)
    // with the member who held it.
    type Left = (Vec<Option<Lane>>, BookingInfo, String);
    let mut left: std::collections::BTreeMap<(String, String), Left> =
        std::collections::BTreeMap::new();
    let mut moved = Vec::with_capacity(apps.len());
    for (i, (app, to)) in apps.iter().zip(tos).enumerate() {
        let id = app.application_id.as_str();
        let from = reschedulable(app)?;
        let old = keys::slot(&from.office_id, from.date, &from.time);
        left.entry((old.pk, old.sk))
            .or_insert_with(|| (Vec::new(), from.clone(), id.to_owned()))
            .0
            .push(from.lane);
        let mut next = app.clone();
        next.booking = Some(to.clone());
        next.reschedules += 1;
        next.version += 1;
        tx.guarded(GroupGuard::Version(i), rows::save(&next, app.version)?)
            .write(places::unschedule(&from, id))
            .write(places::schedule(&to, id)?);
        moved.push(next);
    }
    for ((pk, sk), (lanes, from, by)) in left {
        let n = i64::try_from(lanes.len()).unwrap_or(i64::MAX);
        let mut slot = places::release_places(Key::new(pk, sk), n, &places::per_lane(&lanes));
        if let Some(note) = places::held_for_waitlist(&mut slot, &from, &by, today) {
            tx.write(note);
        }
        tx.write(slot);
    }
    Ok(GroupDecision { next: moved, tx })
}

// ------------------------------------------------------------------ cancel and expire

/// Cancels a booking not yet checked in: the place back to the quota, the NIK free, the
/// files due for deletion one retention later. Any failed condition is a concurrent change.
pub fn cancel(app: &Application, ctx: &Context) -> Result<Decision<()>, Error> {
    if !matches!(app.status, Status::AwaitingPayment | Status::Paid) {
        return Err(Error::InvalidState(text::CANCEL_NEEDS_NOT_CHECKED_IN));
    }
    let mut next = app.clone();
    next.set_status(Status::Cancelled, ctx.now);
    next.version += 1;
    let mut tx = ended(app, &next, ctx)?;
    if let Some(b) = &app.booking {
        tx.writes(places::release(
            b,
            &app.application_id,
            ctx.now.date_naive(),
        ));
    }
    Ok(Decision { next, tx })
}

/// The writes of every ending: the application saved, its NIK free, its purge scheduled.
fn ended(app: &Application, next: &Application, ctx: &Context) -> Result<Tx<()>, Error> {
    let id = app.application_id.as_str();
    let mut tx = Tx::new();
    tx.write(rows::save(next, app.version)?)
        .write(rows::release_nik(&ctx.nik_ref, id))
        .write(rows::purge_entry(id, ctx.now + ctx.retention)?);
    Ok(tx)
}

/// Expires an application whose billing is unpaid past its deadline, found through its
/// expiry `entry`: the place it held is remembered (a late payment takes it back if it
/// can) and given back. `None`: the entry is stale (paid, rebooked, already expired) and
/// only needs deleting.
pub fn expire(
    app: &Application,
    entry: &Key,
    ctx: &Context,
) -> Result<Option<Decision<()>>, Error> {
    let id = app.application_id.as_str();
    let due = app.billing.as_ref().is_some_and(|b| {
        b.status == BillingStatus::Unpaid
            && b.expires_at <= ctx.now
            && keys::expiry(b.expires_at, id) == *entry
    });
    if app.status != Status::AwaitingPayment || !due {
        return Ok(None);
    }
    let mut next = app.clone();
    if let Some(b) = next.billing.as_mut() {
        b.status = BillingStatus::Expired;
    }
    next.lapsed_booking = next.booking.take();
    next.set_status(Status::Expired, ctx.now);
    next.version += 1;
    let mut tx = Tx::new();
    tx.write(rows::save(&next, app.version)?)
        .write(Write::Delete {
            key: entry.clone(),
            cond: None,
        })
        .write(rows::release_nik(&ctx.nik_ref, id))
        .write(rows::purge_entry(id, ctx.now + ctx.retention)?);
    if let Some(b) = &app.booking {
        tx.writes(places::release(b, id, ctx.now.date_naive()));
    }
    Ok(Some(Decision { next, tx }))
}

// ------------------------------------------------------------------ pay and refund

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayGuard {
    /// The notification was recorded already: a replay.
    Recorded,
    Version,
    /// The NIK went to another application while this one was expired.
    Nik,
    /// The lapsed place's slot is full now.
    Slot,
}

/// What a payment does to an application.
#[derive(Debug, Clone)]
pub enum Payment {
    /// On time, or late while the place was still held: paid.
    Apply(Box<Decision<PayGuard>>),
    /// After the billing expired: paid with the lapsed place back if its slot has room
    /// (`with_place`, tried first), else paid without a place (its next booking is free).
    Late {
        with_place: Option<Box<Decision<PayGuard>>>,
        without_place: Box<Decision<PayGuard>>,
    },
    /// Money that cannot be applied, recorded for a refund, for this reason.
    Refund(&'static str),
}

/// Decides a payment channel's notification `n` for the application its code names.
pub fn pay(app: &Application, n: &Notification, ctx: &Context) -> Result<Payment, Error> {
    let Some(billing) = app
        .billing
        .as_ref()
        .filter(|b| b.billing_code == n.billing_code)
    else {
        // The application moved on to a newer billing: this code's money is refunded.
        return Ok(Payment::Refund("superseded billing"));
    };
    if n.amount_idr != billing.amount_idr {
        return Err(Error::AmountMismatch {
            expected: billing.amount_idr,
        });
    }
    let id = app.application_id.as_str();
    match (app.status, billing.status) {
        (Status::AwaitingPayment, BillingStatus::Unpaid) => {
            let next = paid(app, n, ctx.now);
            let mut tx = recorded(app, &next, n, ctx.now)?;
            tx.write(rows::drop_expiry(billing.expires_at, id));
            Ok(Payment::Apply(Box::new(Decision { next, tx })))
        }
        (Status::Expired, _) => {
            let next = paid(app, n, ctx.now);
            let take_nik = rows::take_nik(&ctx.nik_ref, id)?;
            let with_place = match &app.lapsed_booking {
                Some(place) => {
                    let mut next = next.clone();
                    next.booking = Some(place.clone());
                    next.lapsed_booking = None;
                    let mut tx = recorded(app, &next, n, ctx.now)?;
                    tx.guarded(PayGuard::Nik, take_nik.clone())
                        .guarded(PayGuard::Slot, places::take_slot(place))
                        .write(places::schedule(place, id)?);
                    Some(Box::new(Decision { next, tx }))
                }
                None => None,
            };
            let mut next = next;
            next.booking = None;
            next.lapsed_booking = None;
            let mut tx = recorded(app, &next, n, ctx.now)?;
            tx.guarded(PayGuard::Nik, take_nik);
            Ok(Payment::Late {
                with_place,
                without_place: Box::new(Decision { next, tx }),
            })
        }
        (Status::Cancelled, _) => Ok(Payment::Refund("application cancelled")),
        _ => Ok(Payment::Refund("billing already paid")),
    }
}

fn paid(app: &Application, n: &Notification, now: DateTime<Utc>) -> Application {
    let mut next = app.clone();
    if let Some(b) = next.billing.as_mut() {
        b.status = BillingStatus::Paid;
        b.paid_at = Some(n.paid_at);
    }
    next.set_status(Status::Paid, now);
    next.version = app.version + 1;
    next
}

/// The payment recorded (a replay fails [`PayGuard::Recorded`]) with the application's
/// new state.
fn recorded(
    app: &Application,
    next: &Application,
    n: &Notification,
    now: DateTime<Utc>,
) -> Result<Tx<PayGuard>, StoreError> {
    let record = PaymentRecord {
        notification: n.clone(),
        application_id: app.application_id.clone(),
        received_at: now,
        outcome: Outcome::Accepted,
        reason: None,
    };
    let mut tx = Tx::new();
    tx.guarded(PayGuard::Recorded, payment_record(&record)?)
        .guarded(PayGuard::Version, rows::save(next, app.version)?);
    if let Some(from) = next.booking.as_ref().and_then(|b| b.release.as_ref()) {
        tx.write(rows::count_paid(&from.release_id, &next.application_id));
    }
    Ok(tx)
}

fn payment_record(record: &PaymentRecord) -> Result<Write, StoreError> {
    Ok(Write::Put {
        item: Item::from_record(keys::payment(&record.notification.transaction_id), record)?,
        cond: Some(Cond::NotExists),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundGuard {
    /// The notification was recorded already: a replay.
    Recorded,
}

/// Records `n`'s money for a refund, and lists it among the exceptions operators see.
pub fn refund(
    application_id: &str,
    n: &Notification,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Tx<RefundGuard>, StoreError> {
    let record = PaymentRecord {
        notification: n.clone(),
        application_id: application_id.to_owned(),
        received_at: now,
        outcome: Outcome::RecordedForRefund,
        reason: Some(reason.to_owned()),
    };
    let mut tx = Tx::new();
    tx.guarded(RefundGuard::Recorded, payment_record(&record)?)
        .write(Write::Put {
            item: Item::from_record(keys::payment_exception(now, &n.transaction_id), &record)?,
            cond: None,
        });
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::{
        model::{
            application::{ApplicantSnapshot, TimelineEntry},
            lane::{Lane, PriorityReason, lanes_for},
            payment::Channel,
        },
        nik::Sex,
        offices::TimeZone as OfficeZone,
        passport::{ApplicationType, PassportType, Purpose},
        store::Update,
    };

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0)
            .single()
            .expect("time")
    }

    fn ctx() -> Context {
        Context {
            now: now(),
            nik_ref: "n1".into(),
            retention: TimeDelta::days(30),
        }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).expect("date")
    }

    fn place(d: u32, time: &str) -> BookingInfo {
        BookingInfo {
            office_id: "makassar".into(),
            date: day(d),
            time: time.into(),
            lane: None,
            group_id: None,
            release: None,
        }
    }

    fn application(status: Status) -> Application {
        Application {
            application_id: "a1".into(),
            account_id: "u1".into(),
            applicant: ApplicantSnapshot {
                applicant_id: "p1".into(),
                nik: "7371010101900001".into(),
                full_name: "Siti".into(),
                birth_date: NaiveDate::from_ymd_opt(1990, 1, 1).expect("date"),
                sex: Sex::Female,
            },
            passport_type: PassportType::Regular,
            application_type: ApplicationType::New,
            purpose: Purpose::Tourism,
            express: false,
            priority_reason: None,
            destination_country: "JP".into(),
            validity_years: 10,
            fee_idr: 350_000,
            documents: BTreeMap::new(),
            status,
            timeline: vec![TimelineEntry {
                status,
                at: now() - TimeDelta::days(1),
            }],
            created_at: now() - TimeDelta::days(1),
            version: 7,
            booking: None,
            billing: None,
            reschedules: 0,
            lapsed_booking: None,
            updated_at: None,
            entered_release: None,
        }
    }

    fn billing(status: BillingStatus, expires_at: DateTime<Utc>) -> Billing {
        Billing {
            billing_code: "123456789012347".into(),
            amount_idr: 350_000,
            status,
            expires_at,
            paid_at: None,
        }
    }

    /// Booked at Makassar on 10 December, 08:00, billed until `expires_at`.
    fn booked(expires_at: DateTime<Utc>) -> Application {
        let mut app = application(Status::AwaitingPayment);
        app.booking = Some(place(10, "08:00"));
        app.billing = Some(billing(BillingStatus::Unpaid, expires_at));
        app
    }

    fn paid_booking() -> Application {
        let mut app = booked(now() + TimeDelta::hours(1));
        app.status = Status::Paid;
        if let Some(b) = app.billing.as_mut() {
            b.status = BillingStatus::Paid;
        }
        app
    }

    fn office(types: Vec<PassportType>) -> Office {
        Office {
            office_id: "makassar".into(),
            name: "Kantor Imigrasi Makassar".into(),
            address: "Jl. Perintis Kemerdekaan".into(),
            city: "Makassar".into(),
            lat: -5.1,
            lon: 119.4,
            timezone: OfficeZone::Wita,
            passport_types: types,
        }
    }

    fn notification(code: &str, amount_idr: i64) -> Notification {
        Notification {
            transaction_id: "t1".into(),
            billing_code: code.into(),
            amount_idr,
            paid_at: now() - TimeDelta::minutes(5),
            channel: Channel::Atm,
        }
    }

    /// A transaction as lines: guard, operation, key.
    fn shape<G: std::fmt::Debug + Copy>(tx: &Tx<G>) -> Vec<String> {
        tx.entries()
            .iter()
            .map(|(guard, write)| {
                let (op, key) = match write {
                    Write::Put { item, .. } => ("put", &item.key),
                    Write::Update { key, .. } => ("update", key),
                    Write::Delete { key, .. } => ("delete", key),
                    Write::Check { key, .. } => ("check", key),
                };
                let guard = guard.map_or("-".to_owned(), |g| format!("{g:?}"));
                format!("{guard} {op} {} | {}", key.pk, key.sk)
            })
            .collect()
    }

    fn cond_of(write: Option<&Write>) -> Option<Cond> {
        match write? {
            Write::Put { cond, .. } | Write::Update { cond, .. } | Write::Delete { cond, .. } => {
                cond.clone()
            }
            Write::Check { cond, .. } => Some(cond.clone()),
        }
    }

    fn saved_version<G: Copy + PartialEq>(tx: &Tx<G>, guard: G) -> Option<Cond> {
        cond_of(tx.guard(guard))
    }

    fn taken_once() -> Update {
        Update::new().add("taken", 1)
    }

    // ---------------------------------------------------------------- book

    #[test]
    fn booking_a_submitted_application_takes_the_place_and_bills_it() {
        let app = application(Status::Submitted);
        let d = book(
            &app,
            place(10, "08:00"),
            "123456789012347".into(),
            TimeDelta::hours(2),
            &ctx(),
        )
        .expect("decision");
        assert_eq!(d.next.status, Status::AwaitingPayment);
        assert_eq!(d.next.booking, Some(place(10, "08:00")));
        assert_eq!(d.next.version, 8);
        let b = d.next.billing.as_ref().expect("billing");
        assert_eq!(
            (b.amount_idr, b.status, b.expires_at),
            (350_000, BillingStatus::Unpaid, now() + TimeDelta::hours(2))
        );
        assert_eq!(
            shape(&d.tx),
            [
                "Slot update SLOT#makassar#2026-12-10 | 08:00",
                "Version put APP#a1 | APP",
                "- put SCHED#makassar#2026-12-10 | 08:00#a1",
                "- put BILL#123456789012347 | BILL",
                "- put EXPIRES#2026-12-01T05 | 1796101200000#a1",
            ]
        );
        assert_eq!(
            d.tx.guard(BookGuard::Slot),
            Some(&Write::Update {
                key: keys::slot("makassar", day(10), "08:00"),
                update: taken_once(),
                cond: Some(Cond::LessThan("taken".into(), "capacity".into())),
            })
        );
        assert_eq!(
            saved_version(&d.tx, BookGuard::Version),
            Some(Cond::eq("version", 7))
        );
    }

    #[test]
    fn booking_an_expired_application_takes_its_nik_back() {
        let mut app = application(Status::Expired);
        app.billing = Some(billing(BillingStatus::Expired, now() - TimeDelta::hours(1)));
        let d = book(
            &app,
            place(11, "09:00"),
            "987654321098766".into(),
            TimeDelta::hours(2),
            &ctx(),
        )
        .expect("decision");
        assert_eq!(d.next.status, Status::AwaitingPayment);
        assert_eq!(
            d.next.billing.as_ref().map(|b| b.billing_code.as_str()),
            Some("987654321098766")
        );
        assert_eq!(
            shape(&d.tx).last().map(String::as_str),
            Some("Nik put NIK#n1 | ACTIVE")
        );
        assert_eq!(
            cond_of(d.tx.guard(BookGuard::Nik)),
            Some(Cond::Any(vec![
                Cond::NotExists,
                Cond::eq("application_id", "a1")
            ]))
        );
    }

    #[test]
    fn booking_after_a_late_payment_without_a_place_costs_nothing_more() {
        let mut app = application(Status::Paid);
        app.billing = Some(billing(BillingStatus::Paid, now() - TimeDelta::hours(1)));
        assert!(paid_without_place(&app));
        let d = book(
            &app,
            place(12, "10:00"),
            "987654321098766".into(),
            TimeDelta::hours(2),
            &ctx(),
        )
        .expect("decision");
        assert_eq!(d.next.status, Status::Paid);
        assert_eq!(d.next.billing, app.billing, "the paid billing stays");
        assert_eq!(
            shape(&d.tx),
            [
                "Slot update SLOT#makassar#2026-12-12 | 10:00",
                "Version put APP#a1 | APP",
                "- put SCHED#makassar#2026-12-12 | 10:00#a1",
            ]
        );
    }

    #[test]
    fn only_a_submitted_application_at_an_office_of_its_passport_may_book() {
        let open = office(vec![PassportType::Regular]);
        assert!(may_book(&application(Status::Submitted), &open).is_ok());
        assert!(may_book(&application(Status::Expired), &open).is_ok());
        for status in [Status::Draft, Status::AwaitingPayment, Status::Cancelled] {
            assert!(
                matches!(
                    may_book(&application(status), &open),
                    Err(Error::InvalidState(_))
                ),
                "{status:?}"
            );
        }
        assert!(matches!(
            may_book(&paid_booking(), &open),
            Err(Error::InvalidState(_))
        ));
        assert!(matches!(
            may_book(
                &application(Status::Submitted),
                &office(vec![PassportType::Electronic])
            ),
            Err(Error::PassportTypeNotOffered)
        ));
    }

    // ---------------------------------------------------------------- reschedule

    #[test]
    fn rescheduling_takes_the_new_place_and_gives_the_old_back() {
        let app = paid_booking();
        let d = reschedule(&app, place(15, "13:00"), day(1)).expect("decision");
        assert_eq!(d.next.booking, Some(place(15, "13:00")));
        assert_eq!((d.next.reschedules, d.next.version), (1, 8));
        assert_eq!(d.next.status, Status::Paid);
        assert_eq!(
            shape(&d.tx),
            [
                "Slot update SLOT#makassar#2026-12-15 | 13:00",
                "- update SLOT#makassar#2026-12-10 | 08:00",
                "- delete SCHED#makassar#2026-12-10 | 08:00#a1",
                "Version put APP#a1 | APP",
                "- put SCHED#makassar#2026-12-15 | 13:00#a1",
            ]
        );
        assert_eq!(
            d.tx.entries()[1].1,
            Write::Update {
                key: keys::slot("makassar", day(10), "08:00"),
                update: Update::new().add("taken", -1),
                cond: Some(Cond::Exists),
            }
        );
    }

    #[test]
    fn a_place_a_draw_gave_moved_away_goes_back_to_its_waitlist_until_the_first_day() {
        use crate::model::application::FromRelease;
        let mut app = paid_booking();
        let mut won = place(10, "08:00");
        won.release = Some(FromRelease {
            release_id: "rilis".into(),
            first_day: day(10),
        });
        app.booking = Some(won);
        let before = reschedule(&app, place(15, "13:00"), day(9)).expect("decision");
        assert_eq!(
            shape(&before.tx)[1..3],
            [
                "- put RETURNED#rilis | makassar#2026-12-10#08:00",
                "- update SLOT#makassar#2026-12-10 | 08:00",
            ]
        );
        let Write::Update { update, .. } = &before.tx.entries()[2].1 else {
            panic!("the old slot's update");
        };
        assert_eq!(update.set.get("release"), Some(&json!("rilis")));
        // From the release's first day, a place moved away is first-come.
        let on = reschedule(&app, place(15, "13:00"), day(10)).expect("decision");
        assert!(!shape(&on.tx).iter().any(|w| w.contains("RETURNED")));
    }

    #[test]
    fn a_family_moved_from_a_drawn_place_gives_it_back_to_the_waitlist_once() {
        use crate::model::application::FromRelease;
        let won = BookingInfo {
            group_id: Some("g1".into()),
            release: Some(FromRelease {
                release_id: "rilis".into(),
                first_day: day(10),
            }),
            ..place(10, "08:00")
        };
        let apps: Vec<Application> = ["a1", "a2"]
            .iter()
            .map(|id| {
                let mut app = paid_booking();
                app.application_id = (*id).into();
                app.booking = Some(won.clone());
                app
            })
            .collect();
        let to = BookingInfo {
            group_id: Some("g1".into()),
            ..place(15, "13:00")
        };
        let d = reschedule_group(
            &apps,
            vec![to.clone(), to],
            keys::slot("makassar", day(15), "13:00"),
            10,
            day(9),
        )
        .expect("decision");
        let shape = shape(&d.tx);
        assert_eq!(
            shape
                .iter()
                .filter(|w| w.contains("RETURNED#rilis"))
                .count(),
            1,
            "{shape:?}"
        );
        let old =
            d.tx.entries()
                .iter()
                .find_map(|(_, w)| match w {
                    Write::Update { key, update, .. }
                        if *key == keys::slot("makassar", day(10), "08:00") =>
                    {
                        Some(update.clone())
                    }
                    _ => None,
                })
                .expect("the old slot given back");
        assert!(old.add.contains(&("taken".to_owned(), -2)), "{old:?}");
        assert_eq!(old.set.get("release"), Some(&json!("rilis")));
    }

    #[test]
    fn only_a_paid_booking_moves_once_and_before_its_day() {
        assert!(matches!(
            reschedulable(&booked(now() + TimeDelta::hours(1))),
            Err(Error::InvalidState(_))
        ));
        let mut moved = paid_booking();
        moved.reschedules = 1;
        assert!(matches!(reschedulable(&moved), Err(Error::RescheduleLimit)));
        let current = reschedulable(&paid_booking()).expect("reschedulable");
        assert!(may_move(&current, day(9), day(15), "13:00").is_ok());
        assert!(matches!(
            may_move(&current, day(10), day(15), "13:00"),
            Err(Error::InvalidState(_))
        ));
        assert!(matches!(
            may_move(&current, day(9), day(10), "08:00"),
            Err(Error::Invalid(_))
        ));
    }

    // ---------------------------------------------------------------- cancel

    #[test]
    fn cancelling_gives_the_place_and_the_nik_back_and_schedules_the_purge() {
        let d = cancel(&paid_booking(), &ctx()).expect("decision");
        assert_eq!(d.next.status, Status::Cancelled);
        assert_eq!(d.next.version, 8);
        assert_eq!(
            shape(&d.tx),
            [
                "- put APP#a1 | APP",
                "- delete NIK#n1 | ACTIVE",
                "- put PURGE#2026-12-31 | 1798686000000#a1",
                "- update SLOT#makassar#2026-12-10 | 08:00",
                "- delete SCHED#makassar#2026-12-10 | 08:00#a1",
            ]
        );
        assert_eq!(
            cond_of(d.tx.entries().get(1).map(|(_, w)| w)),
            Some(Cond::eq("application_id", "a1")),
            "the NIK is freed only if this application holds it"
        );
        for status in [Status::Submitted, Status::CheckedIn, Status::Expired] {
            assert!(
                matches!(
                    cancel(&application(status), &ctx()),
                    Err(Error::InvalidState(_))
                ),
                "{status:?}"
            );
        }
    }

    // ---------------------------------------------------------------- lanes

    /// The update a transaction makes to the slot, by guard or position.
    fn slot_update<G: Copy>(tx: &Tx<G>) -> Option<(Update, Option<Cond>)> {
        tx.entries().iter().find_map(|(_, w)| match w {
            Write::Update { key, update, cond } if key.pk.starts_with("SLOT#") => {
                Some((update.clone(), cond.clone()))
            }
            _ => None,
        })
    }

    fn in_lane(mut p: BookingInfo, lane: Lane) -> BookingInfo {
        p.lane = Some(lane);
        p
    }

    #[test]
    fn a_place_in_a_lane_is_taken_from_that_lane_and_every_way_back_returns_it_there() {
        let app = application(Status::Submitted);
        let placed = in_lane(place(10, "08:00"), Lane::Priority);
        let d = book(
            &app,
            placed.clone(),
            "123456789012347".into(),
            TimeDelta::hours(2),
            &ctx(),
        )
        .expect("decision");
        assert_eq!(d.next.booking, Some(placed.clone()));
        assert_eq!(
            slot_update(&d.tx),
            Some((
                Update::new().add("taken", 1).add("room_priority", -1),
                Some(Cond::All(vec![Cond::AtLeastValue(
                    "room_priority".into(),
                    1
                )]))
            )),
            "the lane's room, never the pool"
        );
        let back = (
            Update::new().add("taken", -1).add("room_priority", 1),
            Some(Cond::Exists),
        );
        // Cancelled, or expired: the place goes back to the priority lane.
        let mut paid = paid_booking();
        paid.booking = Some(placed.clone());
        let cancelled = cancel(&paid, &ctx()).expect("cancel");
        assert_eq!(slot_update(&cancelled.tx), Some(back.clone()));
        let mut unpaid = booked(now() - TimeDelta::minutes(1));
        unpaid.booking = Some(placed.clone());
        let due = unpaid
            .billing
            .as_ref()
            .map(|b| b.expires_at)
            .expect("billing");
        let expired = expire(&unpaid, &keys::expiry(due, "a1"), &ctx())
            .expect("expire")
            .expect("due");
        assert_eq!(slot_update(&expired.tx), Some(back.clone()));
        assert_eq!(expired.next.lapsed_booking, Some(placed.clone()));
        // Paid late: taken again in the same lane, or not at all.
        let mut late = expired_with_lapsed_place();
        late.lapsed_booking = Some(placed);
        let Payment::Late {
            with_place: Some(with_place),
            ..
        } = pay(&late, &notification("123456789012347", 350_000), &ctx()).expect("pay")
        else {
            panic!("late, with a place to try");
        };
        assert_eq!(
            slot_update(&with_place.tx).map(|(u, _)| u),
            Some(Update::new().add("taken", 1).add("room_priority", -1))
        );
    }

    #[test]
    fn a_reschedule_takes_the_new_lane_and_returns_the_old_one() {
        let mut app = paid_booking();
        app.booking = Some(in_lane(place(10, "08:00"), Lane::Regular));
        let d = reschedule(&app, in_lane(place(11, "09:00"), Lane::Priority), day(1))
            .expect("decision");
        let slots: Vec<Update> =
            d.tx.entries()
                .iter()
                .filter_map(|(_, w)| match w {
                    Write::Update { key, update, .. } if key.pk.starts_with("SLOT#") => {
                        Some(update.clone())
                    }
                    _ => None,
                })
                .collect();
        assert_eq!(
            slots,
            [
                Update::new().add("taken", 1).add("room_priority", -1),
                Update::new().add("taken", -1).add("room_regular", 1),
            ]
        );
    }

    #[test]
    fn lanes_follow_type_express_and_priority_on_the_appointment_day() {
        let mut app = application(Status::Submitted);
        // Born 1990-01-01: 36 on the day, no reason declared.
        assert_eq!(lanes_for(&app, day(10)), [Lane::Regular]);
        app.passport_type = PassportType::Electronic;
        assert_eq!(lanes_for(&app, day(10)), [Lane::Electronic]);
        app.priority_reason = Some(PriorityReason::Pregnant);
        assert_eq!(lanes_for(&app, day(10)), [Lane::Priority, Lane::Electronic]);
        app.express = true;
        assert_eq!(
            lanes_for(&app, day(10)),
            [Lane::Express],
            "express only there"
        );
        // Sixty on the appointment day, not before.
        let mut elder = application(Status::Submitted);
        elder.applicant.birth_date = day(10) - TimeDelta::days(365 * 60 + 15);
        assert_eq!(lanes_for(&elder, day(10)), [Lane::Priority, Lane::Regular]);
        elder.applicant.birth_date = NaiveDate::from_ymd_opt(1966, 12, 11).expect("date");
        assert_eq!(
            lanes_for(&elder, day(10)),
            [Lane::Regular],
            "59 on 2026-12-10"
        );
        let mut child = application(Status::Submitted);
        child.applicant.birth_date = NaiveDate::from_ymd_opt(2021, 12, 11).expect("date");
        assert_eq!(
            lanes_for(&child, day(10)),
            [Lane::Priority, Lane::Regular],
            "4"
        );
    }

    // ---------------------------------------------------------------- expire

    #[test]
    fn an_unpaid_billing_past_its_deadline_expires_and_remembers_its_place() {
        let deadline = now() - TimeDelta::minutes(1);
        let app = booked(deadline);
        let entry = keys::expiry(deadline, "a1");
        let d = expire(&app, &entry, &ctx())
            .expect("decision")
            .expect("due");
        assert_eq!(d.next.status, Status::Expired);
        assert_eq!(d.next.booking, None);
        assert_eq!(d.next.lapsed_booking, Some(place(10, "08:00")));
        assert_eq!(
            d.next.billing.as_ref().map(|b| b.status),
            Some(BillingStatus::Expired)
        );
        assert_eq!(
            shape(&d.tx),
            [
                "- put APP#a1 | APP".to_owned(),
                format!("- delete {} | {}", entry.pk, entry.sk),
                "- delete NIK#n1 | ACTIVE".to_owned(),
                "- put PURGE#2026-12-31 | 1798686000000#a1".to_owned(),
                "- update SLOT#makassar#2026-12-10 | 08:00".to_owned(),
                "- delete SCHED#makassar#2026-12-10 | 08:00#a1".to_owned(),
            ]
        );
    }

    #[test]
    fn a_billing_not_yet_due_paid_or_rebilled_does_not_expire() {
        let later = now() + TimeDelta::minutes(1);
        let app = booked(later);
        assert!(
            expire(&app, &keys::expiry(later, "a1"), &ctx())
                .expect("decision")
                .is_none(),
            "not yet due"
        );
        let earlier = now() - TimeDelta::minutes(1);
        let app = booked(earlier);
        let stale = keys::expiry(earlier - TimeDelta::hours(2), "a1");
        assert!(
            expire(&app, &stale, &ctx()).expect("decision").is_none(),
            "an entry of an older billing"
        );
        let mut paid = paid_booking();
        paid.billing = Some(billing(BillingStatus::Paid, earlier));
        assert!(
            expire(&paid, &keys::expiry(earlier, "a1"), &ctx())
                .expect("decision")
                .is_none(),
            "paid"
        );
    }

    // ---------------------------------------------------------------- pay

    #[test]
    fn a_payment_on_time_pays_and_drops_the_expiry_entry() {
        let deadline = now() + TimeDelta::hours(1);
        let app = booked(deadline);
        let n = notification("123456789012347", 350_000);
        let Payment::Apply(d) = pay(&app, &n, &ctx()).expect("decision") else {
            panic!("applied");
        };
        assert_eq!(d.next.status, Status::Paid);
        assert_eq!(d.next.version, 8);
        let b = d.next.billing.as_ref().expect("billing");
        assert_eq!(
            (b.status, b.paid_at),
            (BillingStatus::Paid, Some(n.paid_at))
        );
        let entry = keys::expiry(deadline, "a1");
        assert_eq!(
            shape(&d.tx),
            [
                "Recorded put PAYMENT#t1 | PAYMENT".to_owned(),
                "Version put APP#a1 | APP".to_owned(),
                format!("- delete {} | {}", entry.pk, entry.sk),
            ]
        );
        assert_eq!(
            cond_of(d.tx.guard(PayGuard::Recorded)),
            Some(Cond::NotExists)
        );
        let Some(Write::Put { item, .. }) = d.tx.guard(PayGuard::Recorded) else {
            panic!("a put");
        };
        assert_eq!(item.attrs["outcome"], json!("accepted"));
    }

    fn expired_with_lapsed_place() -> Application {
        let mut app = booked(now() - TimeDelta::hours(1));
        app.status = Status::Expired;
        app.lapsed_booking = app.booking.take();
        if let Some(b) = app.billing.as_mut() {
            b.status = BillingStatus::Expired;
        }
        app
    }

    #[test]
    fn a_late_payment_takes_its_place_back_while_the_slot_has_room() {
        let app = expired_with_lapsed_place();
        let n = notification("123456789012347", 350_000);
        let Payment::Late {
            with_place: Some(with_place),
            without_place,
        } = pay(&app, &n, &ctx()).expect("decision")
        else {
            panic!("late, with a place to try");
        };
        assert_eq!(with_place.next.status, Status::Paid);
        assert_eq!(with_place.next.booking, Some(place(10, "08:00")));
        assert_eq!(with_place.next.lapsed_booking, None);
        assert_eq!(
            shape(&with_place.tx),
            [
                "Recorded put PAYMENT#t1 | PAYMENT",
                "Version put APP#a1 | APP",
                "Nik put NIK#n1 | ACTIVE",
                "Slot update SLOT#makassar#2026-12-10 | 08:00",
                "- put SCHED#makassar#2026-12-10 | 08:00#a1",
            ]
        );
        assert_eq!(
            with_place.tx.guard(PayGuard::Slot),
            Some(&Write::Update {
                key: keys::slot("makassar", day(10), "08:00"),
                update: taken_once(),
                cond: Some(Cond::LessThan("taken".into(), "capacity".into())),
            })
        );
        // The slot full meanwhile: paid without a place.
        assert_eq!(without_place.next.status, Status::Paid);
        assert_eq!(without_place.next.booking, None);
        assert_eq!(without_place.next.lapsed_booking, None);
        assert_eq!(
            shape(&without_place.tx),
            [
                "Recorded put PAYMENT#t1 | PAYMENT",
                "Version put APP#a1 | APP",
                "Nik put NIK#n1 | ACTIVE",
            ]
        );
    }

    #[test]
    fn a_late_payment_with_no_place_to_take_back_pays_without_one() {
        let mut app = expired_with_lapsed_place();
        app.lapsed_booking = None;
        let n = notification("123456789012347", 350_000);
        let Payment::Late {
            with_place: None,
            without_place,
        } = pay(&app, &n, &ctx()).expect("decision")
        else {
            panic!("late, without a place");
        };
        assert!(paid_without_place(&without_place.next));
    }

    #[test]
    fn money_that_cannot_be_applied_is_kept_for_a_refund() {
        let n = notification("123456789012347", 350_000);
        let reason = |app: &Application| match pay(app, &n, &ctx()) {
            Ok(Payment::Refund(reason)) => reason,
            other => panic!("a refund, not {other:?}"),
        };
        let mut rebilled = booked(now() + TimeDelta::hours(1));
        if let Some(b) = rebilled.billing.as_mut() {
            b.billing_code = "987654321098766".into();
        }
        assert_eq!(reason(&rebilled), "superseded billing");
        let mut cancelled = booked(now() + TimeDelta::hours(1));
        cancelled.status = Status::Cancelled;
        assert_eq!(reason(&cancelled), "application cancelled");
        assert_eq!(reason(&paid_booking()), "billing already paid");
        assert!(matches!(
            pay(
                &booked(now() + TimeDelta::hours(1)),
                &notification("123456789012347", 1),
                &ctx()
            ),
            Err(Error::AmountMismatch { expected: 350_000 })
        ));

        let tx = refund("a1", &n, "billing already paid", now()).expect("tx");
        assert_eq!(
            shape(&tx),
            [
                "Recorded put PAYMENT#t1 | PAYMENT",
                "- put PAYMENT_EXCEPTIONS | 2026-12-01T03:00:00+00:00#t1",
            ]
        );
        let Some(Write::Put { item, cond }) = tx.guard(RefundGuard::Recorded) else {
            panic!("a put");
        };
        assert_eq!(cond, &Some(Cond::NotExists));
        assert_eq!(item.attrs["outcome"], json!("recorded_for_refund"));
        assert_eq!(item.attrs["reason"], json!("billing already paid"));
    }
}
