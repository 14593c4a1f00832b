//! A place in an office's hour: taken with its schedule entry, given back the same way.
//!
//! A slot is one item. A one-number slot keeps `capacity` and `taken`, and a place is taken
//! with `taken + 1` under `taken < capacity`. A slot with lanes keeps, per lane, its
//! capacity `cap_<lane>` and its places left `room_<lane>`, plus `taken` (the total) and
//! no `capacity`: a place is taken with `room_<lane> - n` under `room_<lane> >= n`, a
//! condition against a value, because DynamoDB's conditions do no arithmetic. So a family
//! of five across lanes is still one operation on one item, in one transaction.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    model::{application::BookingInfo, lane::Lane},
    repo::keys,
    store::{Attrs, Cond, Item, Key, StoreError, Update, Write},
};

const CAPACITY: &str = "capacity";
const TAKEN: &str = "taken";
/// The release a slot's places are held for (not bookable first-come until its draw).
const RELEASE: &str = "release";

fn cap_attr(lane: Lane) -> String {
    format!("cap_{}", lane.name())
}

fn room_attr(lane: Lane) -> String {
    format!("room_{}", lane.name())
}

/// A lane's places in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LaneCount {
    pub capacity: i64,
    pub remaining: i64,
}

/// A slot as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub capacity: i64,
    pub taken: i64,
    /// Empty for a one-number slot.
    pub lanes: BTreeMap<Lane, LaneCount>,
    /// Held for this release's draw.
    pub release: Option<String>,
}

impl Slot {
    pub fn of(item: &Item) -> Result<Self, StoreError> {
        Self::from_attrs(&item.attrs)
            .ok_or_else(|| StoreError::Corrupt(format!("slot {}/{}", item.key.pk, item.key.sk)))
    }

    fn from_attrs(attrs: &Attrs) -> Option<Self> {
        let num = |name: &str| attrs.get(name).and_then(Value::as_i64);
        let taken = num(TAKEN)?;
        let release = attrs
            .get(RELEASE)
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(capacity) = num(CAPACITY) {
            return Some(Self {
                capacity,
                taken,
                lanes: BTreeMap::new(),
                release,
            });
        }
        let lanes: BTreeMap<Lane, LaneCount> = Lane::ALL
            .iter()
            .filter_map(|&lane| {
                let capacity = num(&cap_attr(lane))?;
                let remaining = num(&room_attr(lane))?;
                Some((
                    lane,
                    LaneCount {
                        capacity,
                        remaining,
                    },
                ))
            })
            .collect();
        if lanes.is_empty() {
            return None;
        }
        Some(Self {
            capacity: lanes.values().map(|l| l.capacity).sum(),
            taken,
            lanes,
            release,
        })
    }

    pub fn laned(&self) -> bool {
        !self.lanes.is_empty()
    }

    /// Places left in all: in a slot with lanes, the sum of its lanes' rooms.
    pub fn remaining(&self) -> i64 {
        if self.laned() {
            self.lanes.values().map(|l| l.remaining.max(0)).sum()
        } else {
            (self.capacity - self.taken).max(0)
        }
    }

    /// Places left in one lane (0 for a lane the slot does not have).
    pub fn room(&self, lane: Lane) -> i64 {
        self.lanes.get(&lane).map_or(0, |l| l.remaining.max(0))
    }

    /// Places left for someone who may take any of `lanes` (the whole pool in a
    /// one-number slot).
    pub fn room_for(&self, lanes: &[Lane]) -> i64 {
        if self.laned() {
            lanes.iter().map(|&l| self.room(l)).sum()
        } else {
            self.remaining()
        }
    }

    pub fn full(&self) -> bool {
        self.remaining() == 0
    }
}

/// What an operator gives a slot: one number, or lanes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Capacity {
    Pool(i64),
    /// A lane left out has no places.
    Lanes(BTreeMap<Lane, i64>),
}

impl From<i64> for Capacity {
    fn from(c: i64) -> Self {
        Self::Pool(c)
    }
}

impl Capacity {
    /// Every number within 0..=`max` (a lane's, and the lanes' sum).
    pub fn within(&self, max: i64) -> bool {
        match self {
            Self::Pool(c) => (0..=max).contains(c),
            Self::Lanes(lanes) => {
                lanes.values().all(|c| (0..=max).contains(c)) && lanes.values().sum::<i64>() <= max
            }
        }
    }
}

/// How to give a slot its capacity, from what it holds now (`None`: not opened yet).
#[derive(Debug, Clone, PartialEq)]
pub enum Opening {
    Write(Update, Cond),
    /// Fewer places than are booked (in all, or in a lane), or a change of shape while
    /// places are booked: refused.
    BelowBooked,
}

/// The write that opens or changes a slot, given what was read of it. The condition holds
/// only while the slot is as read (or, for a one-number slot, while `taken` fits), so a
/// booking between the read and the write makes the write fail and be tried again.
pub fn open_slot(current: Option<&Slot>, capacity: &Capacity) -> Opening {
    match (current, capacity) {
        (None, Capacity::Pool(c)) => Opening::Write(
            Update::new().set(CAPACITY, *c).add(TAKEN, 0),
            Cond::NotExists,
        ),
        (None, Capacity::Lanes(lanes)) => {
            let mut update = Update::new().add(TAKEN, 0);
            for lane in Lane::ALL {
                let c = lanes.get(&lane).copied().unwrap_or(0);
                update = update.set(&cap_attr(lane), c).set(&room_attr(lane), c);
            }
            Opening::Write(update, Cond::NotExists)
        }
        (Some(s), Capacity::Pool(c)) if !s.laned() => {
            if s.taken > *c {
                return Opening::BelowBooked;
            }
            Opening::Write(
                Update::new().set(CAPACITY, *c).add(TAKEN, 0),
                Cond::All(vec![
                    Cond::eq(CAPACITY, s.capacity),
                    Cond::LessThanValue(TAKEN.into(), c + 1),
                ]),
            )
        }
        (Some(s), Capacity::Lanes(lanes)) if s.laned() => {
            let mut update = Update::new();
            let mut conds = vec![Cond::Exists];
            for lane in Lane::ALL {
                let new = lanes.get(&lane).copied().unwrap_or(0);
                let now = s.lanes.get(&lane).copied().unwrap_or(LaneCount {
                    capacity: 0,
                    remaining: 0,
                });
                let booked = now.capacity - now.remaining;
                if new < booked {
                    return Opening::BelowBooked;
                }
                let delta = new - now.capacity;
                update = update
                    .set(&cap_attr(lane), new)
                    .add(&room_attr(lane), delta);
                conds.push(Cond::eq(&cap_attr(lane), now.capacity));
                if delta < 0 {
                    conds.push(Cond::AtLeastValue(room_attr(lane), -delta));
                }
            }
            Opening::Write(update, Cond::All(conds))
        }
        // A change of shape: only while nothing is booked, since a booked place belongs
        // to the pool or to a lane.
        (Some(s), _) if s.taken > 0 => Opening::BelowBooked,
        (Some(s), Capacity::Pool(c)) => {
            let mut update = Update::new().set(CAPACITY, *c);
            let mut conds = vec![Cond::eq(TAKEN, 0)];
            for lane in Lane::ALL {
                update = update.remove(&cap_attr(lane)).remove(&room_attr(lane));
            }
            for (&lane, count) in &s.lanes {
                conds.push(Cond::eq(&cap_attr(lane), count.capacity));
            }
            Opening::Write(update, Cond::All(conds))
        }
        (Some(s), Capacity::Lanes(lanes)) => {
            let mut update = Update::new().remove(CAPACITY);
            for lane in Lane::ALL {
                let c = lanes.get(&lane).copied().unwrap_or(0);
                update = update.set(&cap_attr(lane), c).set(&room_attr(lane), c);
            }
            let still_a_pool = Cond::eq(CAPACITY, s.capacity);
            Opening::Write(update, Cond::All(vec![Cond::eq(TAKEN, 0), still_a_pool]))
        }
    }
}

/// A slot opened for a release's draw, its places held: new, or (the release changed
/// before its window opened) replacing one this release holds with nothing taken.
pub fn hold_slot(
    key: Key,
    capacity: &Capacity,
    release_id: &str,
    stamp: i64,
) -> Result<Write, StoreError> {
    let Opening::Write(update, _) = open_slot(None, capacity) else {
        return Err(StoreError::Invalid("a new slot always opens".into()));
    };
    let mut attrs = crate::store::apply_update(None, &update);
    attrs.insert(RELEASE.into(), Value::from(release_id));
    attrs.insert(HELD_AT.into(), Value::from(stamp));
    Ok(Write::Put {
        item: Item { key, attrs },
        cond: Some(Cond::Any(vec![Cond::NotExists, held_untaken(release_id)])),
    })
}

fn held_untaken(release_id: &str) -> Cond {
    Cond::All(vec![Cond::eq(RELEASE, release_id), Cond::eq(TAKEN, 0)])
}

/// A slot the release no longer names, gone while nothing of it is taken.
/// When a change of a release held the slot (its stamp, microseconds): giving a slot back
/// asks that no later change held it meanwhile, so a change that names it again (running
/// beside the one giving it back) keeps it.
pub const HELD_AT: &str = "held_at";

pub fn drop_held(key: Key, release_id: &str, held_by_then: i64) -> Write {
    Write::Delete {
        key,
        cond: Some(Cond::All(vec![
            held_untaken(release_id),
            Cond::LessThanValue(HELD_AT.into(), held_by_then.saturating_add(1)),
        ])),
    }
}

/// After the draw: what is left of the slot is bookable first-come.
pub fn unhold(key: Key, release_id: &str) -> Write {
    Write::Update {
        key,
        update: Update::new().remove(RELEASE),
        cond: Some(Cond::eq(RELEASE, release_id)),
    }
}

/// `n` places taken in the slot at once, in one write, so that a family is taken whole or
/// not at all: per lane in a slot with lanes (`lanes`, with how many each); from the pool
/// of a one-number slot otherwise (`lanes` empty), whose `capacity` was read as `pool`.
pub fn take_places(key: Key, n: i64, lanes: &BTreeMap<Lane, i64>, pool: i64) -> Write {
    let mut update = Update::new().add(TAKEN, n);
    let cond = if !lanes.is_empty() {
        let mut conds = Vec::new();
        for (&lane, &k) in lanes {
            update = update.add(&room_attr(lane), -k);
            conds.push(Cond::AtLeastValue(room_attr(lane), k));
        }
        Cond::All(conds)
    } else if n == 1 {
        Cond::LessThan(TAKEN.into(), CAPACITY.into())
    } else {
        // "n more fit" is arithmetic on two attributes: against the capacity as read.
        Cond::All(vec![
            Cond::eq(CAPACITY, pool),
            Cond::LessThanValue(TAKEN.into(), pool - n + 1),
        ])
    };
    Write::Update {
        key,
        update,
        cond: Some(cond),
    }
}

/// One more place taken in the slot, only while it has room (the write that can never
/// oversell): in the place's lane, or from the pool.
pub fn take_slot(b: &BookingInfo) -> Write {
    let key = keys::slot(&b.office_id, b.date, &b.time);
    match b.lane {
        Some(lane) => take_places(key, 1, &BTreeMap::from([(lane, 1)]), 0),
        None => take_places(key, 1, &BTreeMap::new(), 0),
    }
}

/// The application on the office's schedule for that day and hour.
pub fn schedule(b: &BookingInfo, application_id: &str) -> Result<Write, StoreError> {
    Ok(Write::Put {
        item: Item::from_record(
            keys::schedule(&b.office_id, b.date, &b.time, application_id),
            &json!({"application_id": application_id}),
        )?,
        cond: None,
    })
}

/// The slot's place given back, to the lane it came from.
pub fn release_slot(b: &BookingInfo) -> Write {
    let mut update = Update::new().add(TAKEN, -1);
    if let Some(lane) = b.lane {
        update = update.add(&room_attr(lane), 1);
    }
    Write::Update {
        key: keys::slot(&b.office_id, b.date, &b.time),
        update,
        cond: Some(Cond::Exists),
    }
}

/// `n` places given back to one slot at once, `lanes` saying how many to each lane (empty
/// for a one-number slot): one write, as a transaction allows one per item.
pub fn release_places(key: Key, n: i64, lanes: &BTreeMap<Lane, i64>) -> Write {
    let mut update = Update::new().add(TAKEN, -n);
    for (&lane, &k) in lanes {
        update = update.add(&room_attr(lane), k);
    }
    Write::Update {
        key,
        update,
        cond: Some(Cond::Exists),
    }
}

/// The application off the office's schedule.
pub fn unschedule(b: &BookingInfo, application_id: &str) -> Write {
    Write::Delete {
        key: keys::schedule(&b.office_id, b.date, &b.time, application_id),
        cond: None,
    }
}

/// The writes that give a booked place back: the slot's count, and the day's schedule.
/// A place a release's draw gave, coming back before the release's first day (`today`
/// is UTC's, a few hours early in the east), is held for its waitlist again and noted as
/// its work (`Releases::run` offers it in draw order, then opens it first-come).
pub fn release(b: &BookingInfo, application_id: &str, today: NaiveDate) -> Vec<Write> {
    let mut slot = release_slot(b);
    let mut writes = Vec::with_capacity(3);
    writes.extend(held_for_waitlist(&mut slot, b, application_id, today));
    writes.push(slot);
    writes.push(unschedule(b, application_id));
    writes
}

/// If `b` is a place a release's draw gave and it comes back before the release's first
/// day, `slot_write` (the write giving it back) holds the slot for the release again, and
/// this answers the note that makes it the waitlist's work. Cancelled, expired or moved
/// away (a reschedule): the same. The note names the application that gave it back
/// ([`RETURNED_BY`]): a waitlist pass ends only on the note it read, so a place coming
/// back during a pass is not opened first-come with the rest.
pub fn held_for_waitlist(
    slot_write: &mut Write,
    b: &BookingInfo,
    application_id: &str,
    today: NaiveDate,
) -> Option<Write> {
    let r = b.release.as_ref().filter(|r| today < r.first_day)?;
    let Write::Update { update, .. } = slot_write else {
        return None;
    };
    update
        .set
        .insert(RELEASE.into(), Value::from(r.release_id.as_str()));
    let mut attrs = Attrs::new();
    // Unique per return: the same application may give the same slot back twice (expired,
    // paid late into it again, then cancelled).
    attrs.insert(
        RETURNED_BY.into(),
        Value::from(format!("{application_id}#{}", ulid::Ulid::new())),
    );
    Some(Write::Put {
        item: Item {
            key: keys::returned(&r.release_id, &b.office_id, b.date, &b.time),
            attrs,
        },
        cond: None,
    })
}

/// The attribute of a returned-place note naming who gave the place back last.
pub const RETURNED_BY: &str = "by";

/// A waitlist pass's end on one slot, all or nothing: the slot first-come again and the
/// note gone, only if the note is still the one the pass read (`by`) and the slot still
/// held for `release_id`.
pub fn waitlist_done(slot: Key, note: Key, release_id: &str, by: Option<&Value>) -> Vec<Write> {
    vec![unhold(slot, release_id), note_cleared(note, by)]
}

/// The returned-place note deleted, only if it is still the one read (`by`).
pub fn note_cleared(note: Key, by: Option<&Value>) -> Write {
    Write::Delete {
        key: note,
        cond: Some(match by {
            Some(by) => Cond::Eq(RETURNED_BY.into(), by.clone()),
            None => Cond::Exists,
        }),
    }
}

/// Which lane each of a group takes, in order: the first of its lanes that still has room
/// once the ones before it took theirs (`None` throughout for a one-number slot). `Err`
/// says how many found no place.
pub fn assign(slot: &Slot, wants: &[Vec<Lane>]) -> Result<Vec<Option<Lane>>, usize> {
    if !slot.laned() {
        let short = wants
            .len()
            .saturating_sub(usize::try_from(slot.remaining()).unwrap_or(0));
        return if short == 0 {
            Ok(vec![None; wants.len()])
        } else {
            Err(short)
        };
    }
    let mut left: BTreeMap<Lane, i64> = slot.lanes.keys().map(|&l| (l, slot.room(l))).collect();
    let mut out = Vec::with_capacity(wants.len());
    let mut short = 0;
    for lanes in wants {
        match lanes.iter().find(|l| left.get(l).copied().unwrap_or(0) > 0) {
            Some(&lane) => {
                *left.entry(lane).or_insert(0) -= 1;
                out.push(Some(lane));
            }
            None => short += 1,
        }
    }
    if short == 0 { Ok(out) } else { Err(short) }
}

/// How many of each lane an assignment takes.
pub fn per_lane(assigned: &[Option<Lane>]) -> BTreeMap<Lane, i64> {
    let mut counts = BTreeMap::new();
    for lane in assigned.iter().flatten() {
        *counts.entry(*lane).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::store::{apply_update, holds};

    fn laned(caps: &[(Lane, i64)]) -> Attrs {
        let lanes: BTreeMap<Lane, i64> = caps.iter().copied().collect();
        let Opening::Write(update, cond) = open_slot(None, &Capacity::Lanes(lanes)) else {
            panic!("opens");
        };
        assert!(holds(&cond, None));
        apply_update(None, &update)
    }

    fn read(attrs: &Attrs) -> Slot {
        Slot::from_attrs(attrs).expect("slot")
    }

    #[test]
    fn a_laned_slot_reads_its_lanes_and_totals() {
        let attrs = laned(&[(Lane::Regular, 10), (Lane::Electronic, 6)]);
        let slot = read(&attrs);
        assert_eq!((slot.capacity, slot.taken, slot.remaining()), (16, 0, 16));
        assert_eq!(slot.room(Lane::Electronic), 6);
        assert_eq!(slot.room(Lane::Express), 0);
        assert!(!attrs.contains_key(CAPACITY), "no pool to take from");
    }

    #[test]
    fn a_take_holds_only_while_its_lane_has_room() {
        let mut attrs = laned(&[(Lane::Regular, 1), (Lane::Priority, 2)]);
        let two = BTreeMap::from([(Lane::Priority, 2)]);
        let Write::Update { update, cond, .. } = take_places(Key::new("s", "t"), 2, &two, 0) else {
            panic!("update");
        };
        assert!(holds(cond.as_ref().expect("cond"), Some(&attrs)));
        attrs = apply_update(Some(attrs.clone()), &update);
        assert_eq!(read(&attrs).room(Lane::Priority), 0);
        assert_eq!(read(&attrs).taken, 2);
        assert!(
            !holds(cond.as_ref().expect("cond"), Some(&attrs)),
            "no room left"
        );
        // A one-number take does not fit a laned slot: it has no `capacity`.
        let b = BookingInfo {
            office_id: "o".into(),
            date: NaiveDate::from_ymd_opt(2026, 12, 3).expect("day"),
            time: "08:00".into(),
            lane: None,
            group_id: None,
            release: None,
        };
        let Write::Update { cond, .. } = take_slot(&b) else {
            panic!("update");
        };
        assert!(!holds(cond.as_ref().expect("cond"), Some(&attrs)));
    }

    #[test]
    fn a_release_goes_back_to_its_lane() {
        let mut attrs = laned(&[(Lane::Electronic, 1)]);
        let b = BookingInfo {
            office_id: "o".into(),
            date: NaiveDate::from_ymd_opt(2026, 12, 3).expect("day"),
            time: "08:00".into(),
            lane: Some(Lane::Electronic),
            group_id: None,
            release: None,
        };
        let Write::Update { update, .. } = take_slot(&b) else {
            panic!("update");
        };
        attrs = apply_update(Some(attrs.clone()), &update);
        assert_eq!(read(&attrs).room(Lane::Electronic), 0);
        let Write::Update { update, .. } = release_slot(&b) else {
            panic!("update");
        };
        attrs = apply_update(Some(attrs.clone()), &update);
        assert_eq!(read(&attrs).room(Lane::Electronic), 1);
        assert_eq!(read(&attrs).taken, 0);
    }

    #[test]
    fn a_lane_cannot_go_below_what_it_booked_nor_change_shape_while_booked() {
        let mut attrs = laned(&[(Lane::Regular, 3), (Lane::Express, 2)]);
        let Write::Update { update, .. } = take_places(
            Key::new("s", "t"),
            2,
            &BTreeMap::from([(Lane::Express, 2)]),
            0,
        ) else {
            panic!("update");
        };
        attrs = apply_update(Some(attrs.clone()), &update);
        let slot = read(&attrs);
        let lower_express =
            Capacity::Lanes(BTreeMap::from([(Lane::Regular, 3), (Lane::Express, 1)]));
        assert_eq!(open_slot(Some(&slot), &lower_express), Opening::BelowBooked);
        assert_eq!(
            open_slot(Some(&slot), &Capacity::Pool(50)),
            Opening::BelowBooked
        );
        // Lowering a lane with room left is a change of its room by the difference.
        let lower_regular =
            Capacity::Lanes(BTreeMap::from([(Lane::Regular, 1), (Lane::Express, 2)]));
        let Opening::Write(update, cond) = open_slot(Some(&slot), &lower_regular) else {
            panic!("fits");
        };
        assert!(holds(&cond, Some(&attrs)));
        let after = read(&apply_update(Some(attrs.clone()), &update));
        assert_eq!(
            (after.room(Lane::Regular), after.room(Lane::Express)),
            (1, 0)
        );
        assert_eq!(after.capacity, 3);
    }

    #[test]
    fn a_group_takes_the_first_lane_with_room_in_order() {
        let slot = read(&laned(&[
            (Lane::Regular, 1),
            (Lane::Priority, 1),
            (Lane::Electronic, 0),
        ]));
        let grandma = vec![Lane::Priority, Lane::Regular];
        let parent = vec![Lane::Regular];
        assert_eq!(
            assign(&slot, &[grandma.clone(), grandma.clone()]),
            Ok(vec![Some(Lane::Priority), Some(Lane::Regular)])
        );
        assert_eq!(assign(&slot, &[grandma, parent.clone(), parent]), Err(1));
        assert_eq!(assign(&slot, &[vec![Lane::Electronic]]), Err(1));
        let pool = Slot {
            capacity: 3,
            taken: 1,
            lanes: BTreeMap::new(),
            release: None,
        };
        assert_eq!(
            assign(&pool, &[vec![Lane::Regular], vec![Lane::Express]]),
            Ok(vec![None, None])
        );
        assert_eq!(assign(&pool, &[vec![], vec![], vec![]]), Err(1));
        // Three of a family in a pool with two left: refused before and by the write.
        let mut attrs = Attrs::new();
        attrs.insert(CAPACITY.into(), json!(3));
        attrs.insert(TAKEN.into(), json!(1));
        let Write::Update { cond, .. } = take_places(Key::new("s", "t"), 3, &BTreeMap::new(), 3)
        else {
            panic!("update");
        };
        assert!(!holds(cond.as_ref().expect("cond"), Some(&attrs)));
        let Write::Update { cond, .. } = take_places(Key::new("s", "t"), 2, &BTreeMap::new(), 3)
        else {
            panic!("update");
        };
        assert!(holds(cond.as_ref().expect("cond"), Some(&attrs)));
    }
}
