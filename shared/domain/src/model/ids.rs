//! The identifiers a request brings, as values that exist only when valid: parse once at
//! the door, then carry the type.

use std::fmt;

use chrono::NaiveDate;
use rand::Rng;
use serde::Serialize;

use crate::{
    error::FieldError,
    nik::{self, NikProblem, Sex},
    text,
};

/// The longest id accepted from a request (a ULID has 26 characters; an office id is a
/// short name): far below DynamoDB's key limits, so no key built from ids can exceed them.
pub const MAX_ID_LEN: usize = 64;

macro_rules! string_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Whether `id` can name something: 1–64 ASCII letters, digits, `-` or `_` (ULIDs, and
/// the seed's `jakarta-pusat`). Anything else names nothing: looked up, it is not found.
pub fn is_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An immigration office's id: [`is_id`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct OfficeId(String);
string_value!(OfficeId);

impl OfficeId {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if is_id(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new("office_id", text::OFFICE_ID_FORM))
        }
    }
}

/// An hour of an office's day, `HH:00` from 00:00 to 23:00.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SlotTime(String);
string_value!(SlotTime);

impl SlotTime {
    /// `field` names where the time came from (`time`, or an operator's `slots`).
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let on_the_hour = raw.len() == 5
            && raw.ends_with(":00")
            && raw[..2].chars().all(|c| c.is_ascii_digit())
            && raw[..2].parse::<u32>().is_ok_and(|h| h < 24);
        if on_the_hour {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(field, text::SLOT_TIME_FORM))
        }
    }
}

/// A 15-digit billing code: 14 random digits and a Luhn check digit, so a mistyped code
/// is caught before it reaches the database.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct BillingCode(String);
string_value!(BillingCode);

impl BillingCode {
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        let mut digits: Vec<u32> = (0..14)
            .map(|i| {
                if i == 0 {
                    rng.gen_range(1..10)
                } else {
                    rng.gen_range(0..10)
                }
            })
            .collect();
        digits.push(luhn_digit(&digits));
        Self(
            digits
                .iter()
                .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
                .collect(),
        )
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let digits: Option<Vec<u32>> = raw.chars().map(|c| c.to_digit(10)).collect();
        match digits {
            Some(d) if d.len() == 15 && luhn_digit(&d[..14]) == d[14] => Ok(Self(raw.to_owned())),
            _ => Err(FieldError::new("billing_code", text::BILLING_CODE_FORM)),
        }
    }
}

fn luhn_digit(digits: &[u32]) -> u32 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// An email address as the login compares it: trimmed, lower-cased, and plainly shaped
/// (one `@`, a non-empty local part, a dotted domain, no spaces). Whether the mailbox
/// exists is what the OTP proves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);
string_value!(Email);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = Self::normalize(raw);
        let bad = || FieldError::new("email", text::EMAIL_INVALID);
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(bad());
        };
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || !labels_ok
        {
            return Err(bad());
        }
        Ok(Self(email))
    }

    /// The comparison form of any text: trimmed and lower-cased.
    pub fn normalize(raw: &str) -> String {
        raw.trim().to_lowercase()
    }
}

/// A NIK (Nomor Induk Kependudukan) that matches its holder's birth date and sex
/// (`nik::check`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Nik(String);
string_value!(Nik);

impl Nik {
    pub fn parse(raw: &str, birth_date: NaiveDate, sex: Sex) -> Result<Self, NikProblem> {
        nik::check(raw, birth_date, sex).map(|()| Self(raw.to_owned()))
    }

    /// For logs and screens: all but the region and the last two digits hidden.
    pub fn masked(&self) -> String {
        nik::masked(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_codes() {
        for _ in 0..500 {
            let code = BillingCode::generate();
            assert_eq!(code.as_str().len(), 15);
            assert_eq!(BillingCode::parse(code.as_str()).as_ref(), Ok(&code));
            let mut wrong: Vec<char> = code.as_str().chars().collect();
            wrong[3] = if wrong[3] == '1' { '2' } else { '1' };
            assert!(BillingCode::parse(&wrong.iter().collect::<String>()).is_err());
        }
        assert!(BillingCode::parse("12345").is_err());
        // The classic Luhn example, 79927398713.
        assert_eq!(luhn_digit(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1]), 3);
    }

    #[test]
    fn slot_times() {
        for good in ["08:00", "15:00", "00:00", "23:00"] {
            assert_eq!(
                SlotTime::parse("time", good).map(|t| t.into_string()),
                Ok(good.into())
            );
        }
        for bad in ["8:00", "08:30", "24:00", "ab:00", "+8:00", "08:00 "] {
            assert_eq!(
                SlotTime::parse("time", bad),
                Err(FieldError::new("time", text::SLOT_TIME_FORM)),
                "{bad}"
            );
        }
    }

    #[test]
    fn office_ids() {
        assert!(is_id("jakarta-pusat") && is_id("01HZY3J5K8X9ABCDEFGHJKMNPQ") && is_id("a_b"));
        for bad in ["", "a b", "a/b", "ñ", &"x".repeat(65), "a#b"] {
            assert!(!is_id(bad), "{bad}");
            assert_eq!(
                OfficeId::parse(bad),
                Err(FieldError::new("office_id", text::OFFICE_ID_FORM))
            );
        }
        assert!(is_id(&"x".repeat(64)));
        assert_eq!(
            OfficeId::parse("makassar").map(OfficeId::into_string),
            Ok("makassar".into())
        );
    }

    #[test]
    fn emails_are_normalised_then_checked() {
        assert_eq!(
            Email::parse("  Budi.Santoso@Mail.COM ").map(Email::into_string),
            Ok("budi.santoso@mail.com".into())
        );
        assert!(Email::parse("siti@example.co.id").is_ok());
        for bad in [
            "",
            "siti",
            "siti@",
            "@example.com",
            "siti@example",
            "si ti@example.com",
            "a@b@c.com",
            "a@exa..mple.com",
            "a@x.co\u{7}",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_nik_parses_only_for_its_holder() {
        let born = NaiveDate::from_ymd_opt(1990, 1, 1).expect("date");
        let nik = Nik::parse("7371010101900001", born, Sex::Male).expect("his NIK");
        assert_eq!(nik.masked(), "737101********01");
        assert_eq!(
            Nik::parse("7371010101900001", born, Sex::Female),
            Err(NikProblem::BirthDate)
        );
    }
}
