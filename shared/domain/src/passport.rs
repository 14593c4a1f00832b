//! The rules of an application: validity and fee (PP 45/2024), and the documents each case
//! needs (DOMAIN.md).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassportType {
    Regular,
    Electronic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    New,
    Renewal,
    ReplacementLost,
    ReplacementDamaged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Tourism,
    UmrahHajj,
    Work,
    Study,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    Ktp,
    Kk,
    CivilRecord,
    BirthCertificate,
    ParentKtp,
    ParentsMarriageCertificate,
    ParentsStatement,
    OldPassport,
    PoliceReport,
    ReligiousAffairsRecommendation,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 10] = [
        Self::Ktp,
        Self::Kk,
        Self::CivilRecord,
        Self::BirthCertificate,
        Self::ParentKtp,
        Self::ParentsMarriageCertificate,
        Self::ParentsStatement,
        Self::OldPassport,
        Self::PoliceReport,
        Self::ReligiousAffairsRecommendation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ktp => "ktp",
            Self::Kk => "kk",
            Self::CivilRecord => "civil_record",
            Self::BirthCertificate => "birth_certificate",
            Self::ParentKtp => "parent_ktp",
            Self::ParentsMarriageCertificate => "parents_marriage_certificate",
            Self::ParentsStatement => "parents_statement",
            Self::OldPassport => "old_passport",
            Self::PoliceReport => "police_report",
            Self::ReligiousAffairsRecommendation => "religious_affairs_recommendation",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Adults are 17 or older on the day of application (or married).
pub const ADULT_AGE: u32 = 17;

pub fn age_on(birth: NaiveDate, day: NaiveDate) -> u32 {
    let mut age = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age.max(0) as u32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub validity_years: u32,
    pub fee_idr: i64,
}

pub fn terms(
    passport: PassportType,
    application: ApplicationType,
    express: bool,
    adult: bool,
) -> Terms {
    let (validity_years, base) = match (passport, adult) {
        (PassportType::Regular, false) => (5, 350_000),
        (PassportType::Regular, true) => (10, 650_000),
        (PassportType::Electronic, false) => (5, 650_000),
        (PassportType::Electronic, true) => (10, 950_000),
    };
    let replacement = match application {
        ApplicationType::ReplacementLost => 1_000_000,
        ApplicationType::ReplacementDamaged => 500_000,
        ApplicationType::New | ApplicationType::Renewal => 0,
    };
    let express_fee = if express { 1_000_000 } else { 0 };
    Terms {
        validity_years,
        fee_idr: base + replacement + express_fee,
    }
}

pub fn required_documents(
    adult: bool,
    application: ApplicationType,
    purpose: Purpose,
) -> Vec<DocumentKind> {
    use DocumentKind as D;
    let mut kinds = if adult {
        vec![D::Ktp, D::Kk, D::CivilRecord]
    } else {
        vec![
            D::Kk,
            D::BirthCertificate,
            D::ParentKtp,
            D::ParentsMarriageCertificate,
            D::ParentsStatement,
        ]
    };
    match application {
        ApplicationType::Renewal | ApplicationType::ReplacementDamaged => {
            kinds.push(D::OldPassport)
        }
        ApplicationType::ReplacementLost => kinds.push(D::PoliceReport),
        ApplicationType::New => {}
    }
    if purpose == Purpose::UmrahHajj {
        kinds.push(D::ReligiousAffairsRecommendation);
    }
    kinds
}

/// ISO 3166-1 alpha-2 codes.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

pub fn is_country(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split(' ').any(|c| c == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn fees_per_pp_45_2024() {
        use ApplicationType as A;
        use PassportType as P;
        assert_eq!(
            terms(P::Regular, A::New, false, false),
            Terms {
                validity_years: 5,
                fee_idr: 350_000
            }
        );
        assert_eq!(
            terms(P::Regular, A::New, false, true),
            Terms {
                validity_years: 10,
                fee_idr: 650_000
            }
        );
        assert_eq!(
            terms(P::Electronic, A::New, false, false),
            Terms {
                validity_years: 5,
                fee_idr: 650_000
            }
        );
        assert_eq!(
            terms(P::Electronic, A::Renewal, false, true),
            Terms {
                validity_years: 10,
                fee_idr: 950_000
            }
        );
        assert_eq!(terms(P::Electronic, A::New, true, true).fee_idr, 1_950_000);
        assert_eq!(
            terms(P::Regular, A::ReplacementLost, false, true).fee_idr,
            1_650_000
        );
        assert_eq!(
            terms(P::Regular, A::ReplacementDamaged, true, true).fee_idr,
            2_150_000
        );
    }

    #[test]
    fn documents_per_case() {
        use DocumentKind as D;
        assert_eq!(
            required_documents(true, ApplicationType::New, Purpose::Tourism),
            [D::Ktp, D::Kk, D::CivilRecord]
        );
        assert_eq!(
            required_documents(false, ApplicationType::New, Purpose::Study),
            [
                D::Kk,
                D::BirthCertificate,
                D::ParentKtp,
                D::ParentsMarriageCertificate,
                D::ParentsStatement
            ]
        );
        assert!(
            required_documents(true, ApplicationType::Renewal, Purpose::Work)
                .contains(&D::OldPassport)
        );
        assert!(
            required_documents(true, ApplicationType::ReplacementDamaged, Purpose::Work)
                .contains(&D::OldPassport)
        );
        assert!(
            required_documents(true, ApplicationType::ReplacementLost, Purpose::Work)
                .contains(&D::PoliceReport)
        );
        assert!(
            required_documents(false, ApplicationType::New, Purpose::UmrahHajj)
                .contains(&D::ReligiousAffairsRecommendation)
        );
    }

    #[test]
    fn ages() {
        assert_eq!(age_on(d(2009, 11, 26), d(2026, 11, 25)), 16);
        assert_eq!(age_on(d(2009, 11, 25), d(2026, 11, 25)), 17);
        assert_eq!(age_on(d(2008, 2, 29), d(2026, 2, 28)), 17);
    }

    #[test]
    fn countries() {
        assert!(is_country("JP") && is_country("SA") && is_country("ID"));
        assert!(!is_country("XX") && !is_country("jp") && !is_country("JPN"));
    }
}
