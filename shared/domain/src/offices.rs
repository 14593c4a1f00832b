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

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().asin()
}

/// Real immigration offices (Kantor Imigrasi), with their addresses, approximate
/// coordinates and time zones, across WIB, WITA and WIT.
pub fn demo_offices() -> Vec<Office> {
    use PassportType::{Electronic as E, Regular as R};
    use TimeZone::{Wib, Wit, Wita};
    let office = |id: &str,
                  name: &str,
                  address: &str,
                  city: &str,
                  lat: f64,
                  lon: f64,
                  tz,
                  types: &[PassportType]| Office {
        office_id: id.to_owned(),
        name: name.to_owned(),
        address: address.to_owned(),
        city: city.to_owned(),
        lat,
        lon,
        timezone: tz,
        passport_types: types.to_vec(),
    };
    vec![
        office(
            "jakarta-selatan",
            "Kantor Imigrasi Kelas I Non TPI Jakarta Selatan",
            "Jl. Warung Buncit Raya No. 207, Mampang Prapatan",
            "Jakarta Selatan",
            -6.2717,
            106.8300,
            Wib,
            &[R, E],
        ),
        office(
            "jakarta-pusat",
            "Kantor Imigrasi Kelas I Khusus Non TPI Jakarta Pusat",
            "Jl. Merpati Blok B-12 No. 3, Kemayoran",
            "Jakarta Pusat",
            -6.1568,
            106.8447,
            Wib,
            &[R, E],
        ),
        office(
            "tangerang",
            "Kantor Imigrasi Kelas I Non TPI Tangerang",
            "Jl. TMP Taruna No. 10, Sukasari",
            "Tangerang",
            -6.1810,
            106.6350,
            Wib,
            &[R, E],
        ),
        office(
            "bandung",
            "Kantor Imigrasi Kelas I TPI Bandung",
            "Jl. Surapati No. 82, Sadang Serang",
            "Bandung",
            -6.9000,
            107.6290,
            Wib,
            &[R, E],
        ),
        office(
            "surabaya",
            "Kantor Imigrasi Kelas I Khusus TPI Surabaya",
            "Jl. Raya Juanda No. 1, Sedati",
            "Sidoarjo",
            -7.3740,
            112.7680,
            Wib,
            &[R, E],
        ),
        office(
            "yogyakarta",
            "Kantor Imigrasi Kelas I TPI Yogyakarta",
            "Jl. Laksda Adisucipto Km. 10, Maguwoharjo",
            "Sleman",
            -7.7830,
            110.4310,
            Wib,
            &[R, E],
        ),
        office(
            "semarang",
            "Kantor Imigrasi Kelas I TPI Semarang",
            "Jl. Siliwangi No. 514, Kembangarum",
            "Semarang",
            -6.9930,
            110.3800,
            Wib,
            &[R, E],
        ),
        office(
            "medan",
            "Kantor Imigrasi Kelas I Khusus TPI Medan",
            "Jl. Gatot Subroto No. 268, Sei Sikambing",
            "Medan",
            3.5910,
            98.6450,
            Wib,
            &[R, E],
        ),
        office(
            "batam",
            "Kantor Imigrasi Kelas I Khusus TPI Batam",
            "Jl. Ahmad Yani, Batam Centre",
            "Batam",
            1.1290,
            104.0530,
            Wib,
            &[R, E],
        ),
        office(
            "denpasar",
            "Kantor Imigrasi Kelas I TPI Denpasar",
            "Jl. D.I. Panjaitan No. 3, Renon",
            "Denpasar",
            -8.6740,
            115.2290,
            Wita,
            &[R, E],
        ),
        office(
            "makassar",
            "Kantor Imigrasi Kelas I Khusus TPI Makassar",
            "Jl. Perintis Kemerdekaan Km. 13, Tamalanrea",
            "Makassar",
            -5.1170,
            119.5080,
            Wita,
            &[R, E],
        ),
        office(
            "balikpapan",
            "Kantor Imigrasi Kelas I TPI Balikpapan",
            "Jl. Jend. Sudirman No. 23, Klandasan Ulu",
            "Balikpapan",
            -1.2720,
            116.8470,
            Wita,
            &[R],
        ),
        office(
            "jayapura",
            "Kantor Imigrasi Kelas I TPI Jayapura",
            "Jl. Percetakan Negara No. 15, Gurabesi",
            "Jayapura",
            -2.5370,
            140.7110,
            Wit,
            &[R],
        ),
    ]
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
        for tz in [TimeZone::Wib, TimeZone::Wita, TimeZone::Wit] {
            assert!(offices.iter().any(|o| o.timezone == tz));
        }
    }
}
