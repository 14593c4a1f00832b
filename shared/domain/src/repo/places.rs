//! A place in an office's hour: taken with its schedule entry, given back the same way.

use serde_json::json;

use crate::{
    model::application::BookingInfo,
    repo::keys,
    store::{Cond, Item, StoreError, Update, Write},
};

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
