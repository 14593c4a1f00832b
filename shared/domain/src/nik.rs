//! The NIK (Nomor Induk Kependudukan): 16 digits — region (province 11–94, regency,
//! district), birth date `DDMMYY` with a woman's day plus 40, and a serial that is not 0000.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::text::{self, Text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    #[serde(rename = "M")]
    Male,
    #[serde(rename = "F")]
    Female,
}

/// Why a NIK was refused, in words an applicant understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NikProblem {
    NotSixteenDigits,
    Province,
    BirthDate,
    Serial,
}

impl NikProblem {
    pub fn text(self) -> Text {
        match self {
            Self::NotSixteenDigits => text::NIK_NOT_SIXTEEN_DIGITS,
            Self::Province => text::NIK_PROVINCE,
            Self::BirthDate => text::NIK_BIRTH_DATE,
            Self::Serial => text::NIK_SERIAL,
        }
    }
}

/// Checks a NIK against the applicant's birth date and sex.
pub fn check(nik: &str, birth_date: NaiveDate, sex: Sex) -> Result<(), NikProblem> {
    if nik.len() != 16 || !nik.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NikProblem::NotSixteenDigits);
    }
    let num = |range: std::ops::Range<usize>| nik[range].parse::<u32>().unwrap_or(0);
    if !(11..=94).contains(&num(0..2)) {
        return Err(NikProblem::Province);
    }
    let day = birth_date.day() + if sex == Sex::Female { 40 } else { 0 };
    let matches = num(6..8) == day
        && num(8..10) == birth_date.month()
        && num(10..12) == birth_date.year().rem_euclid(100) as u32;
    if !matches {
        return Err(NikProblem::BirthDate);
    }
    if num(12..16) == 0 {
        return Err(NikProblem::Serial);
    }
    Ok(())
}

/// The NIK with all but its region and last two digits hidden, for logs and screens.
pub fn masked(nik: &str) -> String {
    nik.char_indices()
        .map(|(i, c)| if (6..14).contains(&i) { '*' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn men_and_women() {
        assert_eq!(
            check("3174051708900001", date(1990, 8, 17), Sex::Male),
            Ok(())
        );
        assert_eq!(
            check("3174055708900002", date(1990, 8, 17), Sex::Female),
            Ok(())
        );
        assert_eq!(
            check("3174051708900001", date(1990, 8, 17), Sex::Female),
            Err(NikProblem::BirthDate)
        );
        assert_eq!(
            check("3174055708900002", date(1990, 8, 17), Sex::Male),
            Err(NikProblem::BirthDate)
        );
        assert_eq!(
            check("3578014101150003", date(2015, 1, 1), Sex::Female),
            Ok(())
        );
    }

    #[test]
    fn refuses_malformed() {
        let d = date(1990, 8, 17);
        assert_eq!(
            check("317405170890000", d, Sex::Male),
            Err(NikProblem::NotSixteenDigits)
        );
        assert_eq!(
            check("31740517089000011", d, Sex::Male),
            Err(NikProblem::NotSixteenDigits)
        );
        assert_eq!(
            check("31740517089000a1", d, Sex::Male),
            Err(NikProblem::NotSixteenDigits)
        );
        assert_eq!(
            check("0974051708900001", d, Sex::Male),
            Err(NikProblem::Province)
        );
        assert_eq!(
            check("9574051708900001", d, Sex::Male),
            Err(NikProblem::Province)
        );
        assert_eq!(
            check("3174051708900000", d, Sex::Male),
            Err(NikProblem::Serial)
        );
        assert_eq!(
            check("3174051709900001", d, Sex::Male),
            Err(NikProblem::BirthDate)
        );
        assert_eq!(
            check("3174051708910001", d, Sex::Male),
            Err(NikProblem::BirthDate)
        );
    }

    #[test]
    fn masks() {
        assert_eq!(masked("3174051708900001"), "317405********01");
    }
}
