//! Immigration offices, their time zones, and the demo seed of real offices.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::{model::lane::Lane, passport::PassportType, repo::places::Capacity};

/// Indonesia's three time zones; none keeps daylight saving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeZone {
    #[serde(rename = "Asia/Jakarta")]
    Wib,
    #[serde(rename = "Asia/Makassar")]
    Wita,
    #[serde(rename = "Asia/Jayapura")]
    Wit,
}

impl TimeZone {
    pub fn offset(self) -> FixedOffset {
        let hours = match self {
            Self::Wib => 7,
            Self::Wita => 8,
            Self::Wit => 9,
        };
        FixedOffset::east_opt(hours * 3600).unwrap_or_else(|| unreachable!())
    }

    /// The office's calendar day at an instant.
    pub fn today(self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.offset()).date_naive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Office {
    pub office_id: String,
    pub name: String,
    pub address: String,
    pub city: String,
    pub lat: f64,
    pub lon: f64,
    pub timezone: TimeZone,
    pub passport_types: Vec<PassportType>,
}

/// The largest latitude and longitude, in degrees.
pub const MAX_LAT: f64 = 90.0;
pub const MAX_LON: f64 = 180.0;

/// Whether a latitude (`bound` [`MAX_LAT`]) or longitude ([`MAX_LON`]) is a real one.
pub fn valid_degrees(v: f64, bound: f64) -> bool {
    v.is_finite() && v.abs() <= bound
}

/// Whether a position is on the Earth's map.
pub fn on_earth(lat: f64, lon: f64) -> bool {
    valid_degrees(lat, MAX_LAT) && valid_degrees(lon, MAX_LON)
}

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().asin()
}

/// The demo seed's hours: 08:00 to 15:00, 20 places each.
pub const DEMO_PLACES_PER_HOUR: i64 = 20;

/// The demo seed's quota for an office on a day, per hour. Most offices have one pool of
/// 20; Yogyakarta and Balikpapan split theirs into lanes as offices do (12 regular, 4
/// e-passport, 2 same-day, 2 priority), and Yogyakarta's e-passport blanks run out on
/// Mondays (that lane at 0, the others as every day).
pub fn demo_quota(office_id: &str, day: NaiveDate) -> BTreeMap<String, Capacity> {
    let capacity = match office_id {
        "yogyakarta" | "balikpapan" => {
            let electronic = if office_id == "yogyakarta" && day.weekday() == Weekday::Mon {
                0
            } else {
                4
            };
            Capacity::Lanes(BTreeMap::from([
                (Lane::Regular, 12),
                (Lane::Electronic, electronic),
                (Lane::Express, 2),
                (Lane::Priority, 2),
            ]))
        }
        _ => Capacity::Pool(DEMO_PLACES_PER_HOUR),
    };
    (8..=15)
        .map(|h| (format!("{h:02}:00"), capacity.clone()))
        .collect()
}

/// [`demo_quota`] for `days` days from `from`, as runs of days that share one quota (one
/// operator request each).
pub fn demo_quota_runs(
    office_id: &str,
    from: NaiveDate,
    days: u32,
) -> Vec<(NaiveDate, NaiveDate, BTreeMap<String, Capacity>)> {
    let mut runs: Vec<(NaiveDate, NaiveDate, BTreeMap<String, Capacity>)> = Vec::new();
    for day in from.iter_days().take(days as usize) {
        let quota = demo_quota(office_id, day);
        match runs.last_mut() {
            Some((_, to, q)) if *q == quota => *to = day,
            _ => runs.push((day, day, quota)),
        }
    }
    runs
}

/// Real immigration offices (Kantor Imigrasi), with their addresses, approximate
/// coordinates and time zones, across WIB, WITA and WIT. The list lives in `offices.json`,
/// which `scripts/seed` also reads.
pub fn demo_offices() -> Vec<Office> {
    // Checked by the test below, so this cannot fail at run time.
    serde_json::from_str(include_str!("offices.json")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_splits_two_offices_into_lanes_and_yogyakarta_runs_out_of_blanks_on_mondays() {
        let monday = NaiveDate::from_ymd_opt(2026, 12, 7).expect("a Monday");
        let lanes = |office: &str, day: NaiveDate| match &demo_quota(office, day)["08:00"] {
            Capacity::Lanes(l) => Some(l.clone()),
            Capacity::Pool(_) => None,
        };
        assert_eq!(demo_quota("makassar", monday)["15:00"], Capacity::Pool(20));
        assert_eq!(
            lanes("yogyakarta", monday).map(|l| l[&Lane::Electronic]),
            Some(0)
        );
        let tuesday = monday.succ_opt().expect("day");
        assert_eq!(
            lanes("yogyakarta", tuesday).map(|l| l[&Lane::Electronic]),
            Some(4)
        );
        assert_eq!(
            lanes("balikpapan", monday).map(|l| l.values().sum::<i64>()),
            Some(20)
        );
        // Runs: one for a pool office; for Yogyakarta, a new one at each Monday and after.
        assert_eq!(demo_quota_runs("makassar", monday, 30).len(), 1);
        let runs = demo_quota_runs("yogyakarta", monday, 8);
        let bounds: Vec<(u32, u32)> = runs.iter().map(|(f, t, _)| (f.day(), t.day())).collect();
        assert_eq!(bounds, [(7, 7), (8, 13), (14, 14)]);
    }

    #[test]
    fn distances() {
        // Jakarta Selatan to Jayapura is about 3,760 km.
        let d = distance_km(-6.2717, 106.8300, -2.5370, 140.7110);
        assert!((3700.0..3820.0).contains(&d), "{d}");
        assert!(distance_km(1.0, 1.0, 1.0, 1.0).abs() < 1e-9);
    }

    #[test]
    fn office_days() {
        // 23:30 UTC is already the next day in every Indonesian zone.
        let t = DateTime::parse_from_rfc3339("2026-11-25T23:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        for tz in [TimeZone::Wib, TimeZone::Wita, TimeZone::Wit] {
            assert_eq!(tz.today(t).to_string(), "2026-11-26");
        }
        let t = DateTime::parse_from_rfc3339("2026-11-25T16:30:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(TimeZone::Wib.today(t).to_string(), "2026-11-25");
        assert_eq!(TimeZone::Wit.today(t).to_string(), "2026-11-26");
    }

    #[test]
    fn seed_covers_three_zones() {
        let offices = demo_offices();
        assert!(offices.len() >= 10, "offices.json parses");
        for tz in [TimeZone::Wib, TimeZone::Wita, TimeZone::Wit] {
            assert!(offices.iter().any(|o| o.timezone == tz));
        }
    }
}
