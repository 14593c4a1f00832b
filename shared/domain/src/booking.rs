//! Booking: the heart of Paspor.
//!
//! A slot (office, day, hour) is one item with `capacity` and `taken` (`quota.rs` opens
//! it and says whether it may be booked; `repo::places` writes it). Booking takes a
//! place with one transaction: `taken + 1` under the condition `taken < capacity`, the
//! application's new state under its version, the billing code's index and the day's
//! schedule entry. Concurrent bookings can never oversell, and a retry can never book
//! twice. A slot known to be full is answered without a write; a store that pushes back is
//! retried briefly with jitter, then answered `503` with `Retry-After`. See
//! `docs/booking.md` for the design under a national rush.

use std::sync::Arc;

use chrono::{NaiveDate, TimeDelta};

use crate::{
    Error, Ports,
    applications::{Application, Applications, Billing, BillingStatus, BookingInfo},
    jobs::Notice,
    model::{
        ids::BillingCode,
        lane::{Lane, lanes_for},
    },
    offices::Office,
    quota::Quota,
    repo::{places, tx::Failed},
    store::Key,
    store::{Receipt, no_receipt},
    text,
    transitions::{self, BookGuard, Decision, GroupDecision, GroupGuard, Member, RescheduleGuard},
};

pub use crate::quota::{
    BookingConfig, DEFAULT_AVAILABILITY_TTL_MS, DEFAULT_PAYMENT_TTL_SECS, MAX_AVAILABILITY_DAYS,
    MAX_CAPACITY,
};

/// The fewest and the most applications in one family booking.
pub const MIN_GROUP: usize = 2;
pub const MAX_GROUP: usize = 5;

/// A family booked together: its applications, in the order asked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Group {
    pub group_id: String,
    pub items: Vec<Application>,
}

/// Booking, reschedule and cancellation: the places of the quota taken and given back.
pub struct Booking {
    ports: Ports,
    applications: Arc<Applications>,
    quota: Arc<Quota>,
    config: BookingConfig,
}

impl Booking {
    pub fn new(
        ports: Ports,
        applications: Arc<Applications>,
        quota: Arc<Quota>,
        config: BookingConfig,
    ) -> Self {
        Self {
            ports,
            applications,
            quota,
            config,
        }
    }

    pub fn config(&self) -> &BookingConfig {
        &self.config
    }

    /// The place `app` would take at that office, day and hour: the first of its lanes with
    /// room in a slot with lanes, the pool otherwise. Answers the slot's key, the place, and
    /// whether another lane would be tried if this one filled meanwhile.
    async fn place_for(
        &self,
        app: &Application,
        office: &Office,
        date: NaiveDate,
        time: &str,
    ) -> Result<(Key, BookingInfo, bool), Error> {
        let wants = lanes_for(app, date);
        let (key, slot) = self.quota.bookable(office, date, time, &wants).await?;
        let lane = match places::assign(&slot, std::slice::from_ref(&wants)) {
            Ok(lanes) => lanes.into_iter().next().flatten(),
            Err(_) => return Err(Error::SlotFull),
        };
        let fallback = lane.is_some_and(|l| wants.last() != Some(&l));
        let place = BookingInfo {
            office_id: office.office_id.clone(),
            date,
            time: time.to_owned(),
            lane,
            group_id: None,
            release: None,
        };
        Ok((key, place, fallback))
    }

    /// The place's lane (or pool) filled before the write: remembered, and tried again in
    /// the next lane when there is one.
    fn full(&self, slot: &Key, place: &BookingInfo, fallback: bool) -> Error {
        self.quota.mark_full(slot, place.lane, true);
        if fallback {
            Error::Conflict
        } else {
            Error::SlotFull
        }
    }

    /// Tells the applicant the billing to pay (not for a place taken after a late payment,
    /// which costs nothing more).
    async fn booked_notice(
        &self,
        account_id: &str,
        office: &Office,
        before: &Application,
        after: &Application,
    ) {
        if transitions::paid_without_place(before) {
            return;
        }
        let (Some(b), Some(place)) = (&after.billing, &after.booking) else {
            return;
        };
        let deadline = b.expires_at.with_timezone(&office.timezone.offset());
        let notice = Notice::BookingMade {
            application_id: after.application_id.clone(),
            billing_code: b.billing_code.clone(),
            amount_idr: b.amount_idr,
            deadline: deadline.format("%d-%m-%Y %H:%M").to_string(),
            appointment: format!("{} {}", place.date, place.time),
        };
        crate::notify::notify(&self.ports, account_id, notice).await;
    }

    /// The slot a family of `n` would take, as read; a full one is `n` places short.
    async fn group_slot(
        &self,
        office: &Office,
        date: NaiveDate,
        time: &str,
        n: usize,
    ) -> Result<(Key, places::Slot), Error> {
        match self.quota.bookable(office, date, time, &[]).await {
            Err(Error::SlotFull) => Err(Error::PlacesShort { short: n }),
            other => other,
        }
    }

    /// An application entered in a release's draw waits for it: no place first-come.
    async fn not_in_a_draw(&self, app: &Application) -> Result<(), Error> {
        match &app.entered_release {
            Some(release)
                if crate::releases::undrawn(self.ports.table.as_ref(), release).await? =>
            {
                Err(Error::InvalidState(text::IN_A_DRAW))
            }
            _ => Ok(()),
        }
    }

    /// The offices and quota this service books from.
    pub fn quota(&self) -> &Arc<Quota> {
        &self.quota
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
        let office = match self.quota.office(office_id).await {
            Err(Error::NotFound) => return Err(Error::invalid("office_id", text::NO_SUCH_OFFICE)),
            other => other?,
        };
        retrying(|| async {
            let app = self.applications.get(account_id, id).await?;
            transitions::may_book(&app, &office)?;
            self.not_in_a_draw(&app).await?;
            let (slot, place, fallback) = self.place_for(&app, &office, date, time).await?;
            let ctx = self.applications.context(&app, self.ports.clock.now());
            let ttl = TimeDelta::seconds(self.config.payment_ttl_secs);
            let Decision { next, mut tx } = transitions::book(
                &app,
                place.clone(),
                BillingCode::generate().into_string(),
                ttl,
                &ctx,
            )?;
            tx.guarded_opt(BookGuard::Receipt, receipt(&next)?);
            match tx.commit(self.ports.table.as_ref()).await {
                Ok(()) => {
                    self.quota.changed(&office.office_id);
                    self.booked_notice(account_id, &office, &app, &next).await;
                    Ok(next)
                }
                Err(Failed::Guard(BookGuard::Slot)) => Err(self.full(&slot, &place, fallback)),
                Err(Failed::Guard(BookGuard::Nik)) => Err(Error::ActiveApplicationExists),
                Err(Failed::Guard(BookGuard::Receipt)) => Err(Error::receipt_lost()),
                // The application changed meanwhile, or a billing code collided: again.
                Err(Failed::Guard(BookGuard::Version) | Failed::Unnamed) => Err(Error::Conflict),
                Err(Failed::Store(e)) => Err(e.into()),
            }
        })
        .await
    }

    /// `POST /v1/bookings`: 2–5 applications of one account into one slot, each in its own
    /// lane with its own billing and the same deadline, in one transaction, or none.
    pub async fn book_group_with(
        &self,
        account_id: &str,
        ids: &[String],
        office_id: &str,
        date: NaiveDate,
        time: &str,
        receipt: Receipt<'_, Group>,
    ) -> Result<Group, Error> {
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        if !(MIN_GROUP..=MAX_GROUP).contains(&ids.len()) || distinct.len() != ids.len() {
            return Err(Error::invalid("application_ids", text::GROUP_SIZE));
        }
        let office = match self.quota.office(office_id).await {
            Err(Error::NotFound) => return Err(Error::invalid("office_id", text::NO_SUCH_OFFICE)),
            other => other?,
        };
        retrying(|| async {
            // A sold-out slot (or one remembered full a moment ago) answers the whole
            // family before any of its applications is read: the rush's losers cost one
            // read, or none.
            let (key, slot) = self.group_slot(&office, date, time, ids.len()).await?;
            if slot.full() {
                return Err(Error::PlacesShort { short: ids.len() });
            }
            // Read at once: a family costs one round trip more than a single, not five.
            let mut reads = tokio::task::JoinSet::new();
            for (i, id) in ids.iter().enumerate() {
                let (applications, account, id) =
                    (self.applications.clone(), account_id.to_owned(), id.clone());
                reads.spawn(async move { (i, applications.get(&account, &id).await) });
            }
            let mut read: Vec<Option<Application>> = vec![None; ids.len()];
            while let Some(joined) = reads.join_next().await {
                let (i, app) = joined.map_err(|e| Error::Internal(e.to_string()))?;
                read[i] = Some(app?);
            }
            let apps: Vec<Application> = read.into_iter().flatten().collect();
            for app in &apps {
                transitions::may_book(app, &office).map_err(|e| of_member(app, e))?;
                self.not_in_a_draw(app)
                    .await
                    .map_err(|e| of_member(app, e))?;
            }
            let wants: Vec<Vec<Lane>> = apps.iter().map(|a| lanes_for(a, date)).collect();
            let lanes =
                places::assign(&slot, &wants).map_err(|short| Error::PlacesShort { short })?;
            let now = self.ports.clock.now();
            let members = apps
                .iter()
                .map(|app| Member {
                    app,
                    ctx: self.applications.context(app, now),
                    billing_code: BillingCode::generate().into_string(),
                })
                .collect();
            let place = BookingInfo {
                office_id: office.office_id.clone(),
                date,
                time: time.to_owned(),
                lane: None,
                group_id: Some(ulid::Ulid::new().to_string()),
                release: None,
            };
            let ttl = TimeDelta::seconds(self.config.payment_ttl_secs);
            let GroupDecision { next, mut tx } =
                transitions::book_group(members, key, &place, &lanes, slot.capacity, ttl)?;
            let group = Group {
                group_id: place.group_id.clone().unwrap_or_default(),
                items: next,
            };
            tx.guarded_opt(GroupGuard::Receipt, receipt(&group)?);
            match tx.commit(self.ports.table.as_ref()).await {
                Ok(()) => {
                    self.quota.changed(&office.office_id);
                    for (before, after) in apps.iter().zip(&group.items) {
                        self.booked_notice(account_id, &office, before, after).await;
                    }
                    Ok(group)
                }
                Err(failed) => Err(group_failed(failed)),
            }
        })
        .await
    }

    /// `PUT /v1/bookings/{group_id}`: the family's booked applications move together to
    /// one new slot at the same office, each as a single reschedule allows, or none moves.
    pub async fn reschedule_group_with(
        &self,
        account_id: &str,
        group_id: &str,
        date: NaiveDate,
        time: &str,
        receipt: Receipt<'_, Group>,
    ) -> Result<Group, Error> {
        retrying(|| async {
            let apps: Vec<Application> = self
                .applications
                .list(account_id)
                .await?
                .into_iter()
                .filter(|a| {
                    a.status.is_active()
                        && a.booking.as_ref().and_then(|b| b.group_id.as_deref()) == Some(group_id)
                })
                .collect();
            let Some(first) = apps.first().and_then(|a| a.booking.clone()) else {
                return Err(Error::NotFound);
            };
            let office = self.quota.office(&first.office_id).await?;
            let today = office.timezone.today(self.ports.clock.now());
            for app in &apps {
                transitions::reschedulable(app)
                    .and_then(|from| transitions::may_move(&from, today, date, time))
                    .map_err(|e| of_member(app, e))?;
            }
            let wants: Vec<Vec<Lane>> = apps.iter().map(|a| lanes_for(a, date)).collect();
            let (key, slot) = self.group_slot(&office, date, time, apps.len()).await?;
            let lanes =
                places::assign(&slot, &wants).map_err(|short| Error::PlacesShort { short })?;
            let tos = lanes
                .iter()
                .map(|lane| BookingInfo {
                    office_id: office.office_id.clone(),
                    date,
                    time: time.to_owned(),
                    lane: *lane,
                    group_id: Some(group_id.to_owned()),
                    release: None,
                })
                .collect();
            let GroupDecision { next, mut tx } = transitions::reschedule_group(
                &apps,
                tos,
                key,
                slot.capacity,
                self.ports.clock.now().date_naive(),
            )?;
            let group = Group {
                group_id: group_id.to_owned(),
                items: next,
            };
            tx.guarded_opt(GroupGuard::Receipt, receipt(&group)?);
            match tx.commit(self.ports.table.as_ref()).await {
                Ok(()) => {
                    for app in &apps {
                        if let Some(b) = &app.booking {
                            self.quota.freed(b);
                        }
                    }
                    self.quota.changed(&office.office_id);
                    for app in &group.items {
                        let notice = Notice::Rescheduled {
                            application_id: app.application_id.clone(),
                            appointment: format!("{date} {time}"),
                        };
                        crate::notify::notify(&self.ports, account_id, notice).await;
                    }
                    Ok(group)
                }
                Err(failed) => Err(group_failed(failed)),
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
            let office = self.quota.office(&booking.office_id).await?;
            let today = office.timezone.today(self.ports.clock.now());
            transitions::may_move(&booking, today, date, time)?;
            let (new_slot, to, fallback) = self.place_for(&app, &office, date, time).await?;
            let Decision { next, mut tx } =
                transitions::reschedule(&app, to.clone(), self.ports.clock.now().date_naive())?;
            tx.guarded_opt(RescheduleGuard::Receipt, receipt(&next)?);
            match tx.commit(self.ports.table.as_ref()).await {
                Ok(()) => {
                    self.quota.freed(&booking);
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
                    Err(self.full(&new_slot, &to, fallback))
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
                        self.quota.freed(b);
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

/// A family's failed condition as an answer: the slot or a member changed since they were
/// read (read again and share the places out anew), or the caller's claim was taken over.
fn group_failed(failed: Failed<GroupGuard>) -> Error {
    match failed {
        Failed::Guard(GroupGuard::Slot | GroupGuard::Version(_)) | Failed::Unnamed => {
            Error::Conflict
        }
        Failed::Guard(GroupGuard::Nik(_)) => Error::ActiveApplicationExists,
        Failed::Guard(GroupGuard::Receipt) => Error::receipt_lost(),
        Failed::Store(e) => e.into(),
    }
}

/// One member's refusal, naming the member.
pub(crate) fn of_member(app: &Application, error: Error) -> Error {
    Error::OfMember {
        application_id: app.application_id.clone(),
        error: Box::new(error),
    }
}

pub use crate::retry::{RETRY_TRIES, RETRY_WINDOW, retrying, retrying_within};
