//! Immigration offices, their time zones, and the demo seed of real offices.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::passport::PassportType;

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
