//! Input rules: Indonesian mobile number, password, name; the dates that come from a
//! request, bounded before any arithmetic is made of them. Identifiers are values that
//! parse (`model::ids`).

use chrono::NaiveDate;

use crate::text;
use crate::{
    error::{Error, FieldError},
    model::ids::Email,
};

/// The dates the service deals in: birth dates from 1900, appointments up to 2199. Chrono
/// accepts years of ±262,143; a date outside this range is refused before any arithmetic,
/// so none can overflow.
pub const EARLIEST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
pub const LATEST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2199, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// A date from a request, within [`EARLIEST_DATE`]..=[`LATEST_DATE`].
pub fn check_date(field: &str, date: NaiveDate) -> Result<NaiveDate, FieldError> {
    if (EARLIEST_DATE..=LATEST_DATE).contains(&date) {
        Ok(date)
    } else {
        Err(FieldError::new(field, text::DATE_OUT_OF_RANGE))
    }
}

/// [`check_date`] as a request error.
pub fn date(field: &str, date: NaiveDate) -> Result<NaiveDate, Error> {
    check_date(field, date).map_err(|e| Error::Invalid(vec![e]))
}

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

/// An Indonesian mobile number, `+628…` or `08…`, answered in `+62` form.
pub fn normalize_phone(raw: &str) -> Result<String, FieldError> {
    let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let national = compact
        .strip_prefix("+62")
        .or_else(|| compact.strip_prefix('0'))
        .filter(|rest| rest.starts_with('8'));
    match national {
        Some(n) if (9..=12).contains(&n.len()) && n.chars().all(|c| c.is_ascii_digit()) => {
            Ok(format!("+62{n}"))
        }
        _ => Err(FieldError::new("phone", text::PHONE_FORM)),
    }
}

pub fn check_password(field: &str, password: &str, email: &str) -> Result<(), FieldError> {
    let len = password.chars().count();
    if len < PASSWORD_MIN {
        return Err(FieldError::new(field, text::PASSWORD_TOO_SHORT));
    }
    if len > PASSWORD_MAX {
        return Err(FieldError::new(field, text::PASSWORD_TOO_LONG));
    }
    if Email::normalize(password) == email {
        return Err(FieldError::new(field, text::PASSWORD_IS_EMAIL));
    }
    Ok(())
}

pub fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    let len = name.trim().chars().count();
    if len == 0 || len > 100 || name.chars().any(char::is_control) {
        return Err(FieldError::new(field, text::NAME_REQUIRED));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_outside_the_service_are_refused() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
        assert!(check_date("from", d(2026, 12, 1)).is_ok());
        assert!(check_date("birth_date", d(1900, 1, 1)).is_ok());
        assert!(check_date("to", d(2199, 12, 31)).is_ok());
        for bad in [
            NaiveDate::MIN,
            NaiveDate::MAX,
            d(1899, 12, 31),
            d(2200, 1, 1),
            d(262142, 12, 31),
        ] {
            let e = check_date("from", bad).expect_err("out of range");
            assert_eq!(e.field, "from");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_phone("081234567890").ok().as_deref(),
            Some("+6281234567890")
        );
        assert_eq!(
            normalize_phone("+62 812-3456-7890").ok().as_deref(),
            Some("+6281234567890")
        );
        for bad in [
            "",
            "0212345678",
            "+6221234567",
            "0812",
            "08123456789012345",
            "+1 812 345 6789",
            "08a2345678",
        ] {
            assert!(normalize_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_password("password", "rahasia-sekali", "a@b.co").is_ok());
        assert!(check_password("password", "pendek", "a@b.co").is_err());
        assert!(check_password("password", &"x".repeat(129), "a@b.co").is_err());
        assert!(check_password("password", &"x".repeat(128), "a@b.co").is_ok());
        assert!(check_password("password", "Siti@Example.com", "siti@example.com").is_err());
    }
}
