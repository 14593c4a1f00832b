//! A place in an office's hour: taken with its schedule entry, given back the same way.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{
    model::application::BookingInfo,
    repo::keys,
    store::{Cond, Item, Key, StoreError, Update, Write},
};

/// A slot as stored: its places, and how many are taken.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Slot {
    pub capacity: i64,
    pub taken: i64,
}

impl Slot {
    pub fn remaining(&self) -> i64 {
        (self.capacity - self.taken).max(0)
    }

    pub fn full(&self) -> bool {
        self.taken >= self.capacity
    }
}

/// Opens a slot with `capacity` places, or changes it: never below what is taken, and
/// with `only_missing` only where no slot was opened yet.
pub fn open_slot(
    office_id: &str,
    day: NaiveDate,
    time: &str,
    capacity: i64,
    only_missing: bool,
) -> (Key, Update, Cond) {
    let key = keys::slot(office_id, day, time);
    let update = Update::new().set("capacity", capacity).add("taken", 0);
    let cond = if only_missing {
        Cond::NotExists
    } else {
        Cond::Any(vec![
            Cond::NotExists,
            Cond::LessThanValue("taken".into(), capacity + 1),
        ])
    };
    (key, update, cond)
}

/// One more place taken in the slot, only while it has room (the write that can never
/// oversell).
pub fn take_slot(b: &BookingInfo) -> Write {
    Write::Update {
        key: keys::slot(&b.office_id, b.date, &b.time),
        update: Update::new().add("taken", 1),
        cond: Some(Cond::LessThan("taken".into(), "capacity".into())),
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

/// The slot's place given back.
pub fn release_slot(b: &BookingInfo) -> Write {
    Write::Update {
        key: keys::slot(&b.office_id, b.date, &b.time),
        update: Update::new().add("taken", -1),
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
pub fn release(b: &BookingInfo, application_id: &str) -> [Write; 2] {
    [release_slot(b), unschedule(b, application_id)]
}
