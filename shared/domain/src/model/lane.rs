//! Lanes: how an office splits a slot's places, and which lanes an application may take.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::{model::application::Application, passport::PassportType};

/// A share of a slot's places (API.md, "Lanes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    /// A non-electronic passport, not express.
    Regular,
    /// An electronic passport, not express.
    Electronic,
    /// Same-day service, of either type, and only there.
    Express,
    /// The elderly, small children, pregnant women, people with disabilities; not express.
    Priority,
}

impl Lane {
    pub const ALL: [Lane; 4] = [
        Lane::Regular,
        Lane::Electronic,
        Lane::Express,
        Lane::Priority,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Regular => "regular",
            Self::Electronic => "electronic",
            Self::Express => "express",
            Self::Priority => "priority",
        }
    }
}

/// A reason for priority that the applicant declares and the officer checks at check-in
/// (age-based priority needs no declaration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityReason {
    Pregnant,
    Disability,
}

/// Age-based priority: 60 or more, or under 5.
pub const PRIORITY_FROM_AGE: u32 = 60;
pub const PRIORITY_UNDER_AGE: u32 = 5;

/// Whole years from `born` to `on`.
pub fn age_on(born: NaiveDate, on: NaiveDate) -> u32 {
    let mut years = on.year() - born.year();
    if (on.month(), on.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// Whether the application is eligible for priority on `day` (DOMAIN.md, "Lanes and
/// priority").
pub fn priority_on(app: &Application, day: NaiveDate) -> bool {
    let age = age_on(app.applicant.birth_date, day);
    app.priority_reason.is_some() || !(PRIORITY_UNDER_AGE..PRIORITY_FROM_AGE).contains(&age)
}

/// The lanes the application may take in a laned slot on `day`, in the order it tries them.
pub fn lanes_for(app: &Application, day: NaiveDate) -> Vec<Lane> {
    let own = match app.passport_type {
        PassportType::Regular => Lane::Regular,
        PassportType::Electronic => Lane::Electronic,
    };
    if app.express {
        vec![Lane::Express]
    } else if priority_on(app, day) {
        vec![Lane::Priority, own]
    } else {
        vec![own]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn age_counts_whole_years_to_the_birthday() {
        assert_eq!(age_on(d(1966, 12, 10), d(2026, 12, 9)), 59);
        assert_eq!(age_on(d(1966, 12, 10), d(2026, 12, 10)), 60);
        assert_eq!(age_on(d(2022, 1, 1), d(2026, 12, 31)), 4);
        assert_eq!(age_on(d(2027, 1, 1), d(2026, 12, 31)), 0);
    }
}
