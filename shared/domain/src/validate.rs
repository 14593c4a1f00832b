//! Input rules: email, Indonesian mobile number, password, name; the dates and the ids
//! that come from a request, bounded before any arithmetic or key is made of them.

use chrono::NaiveDate;

use crate::error::{Error, FieldError};

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
        Err(FieldError::new(
            field,
            "Tanggal di luar rentang layanan (1900-01-01 sampai 2199-12-31).",
            "The date is outside the service's range (1900-01-01 to 2199-12-31).",
        ))
    }
}

/// The longest id accepted from a request (a ULID has 26 characters; an office id is a
/// short name): far below DynamoDB's key limits, so no key built from ids can exceed them.
pub const MAX_ID_LEN: usize = 64;

/// Whether `id` can name something: 1–64 ASCII letters, digits, `-` or `_` (ULIDs, and
/// the seed's `jakarta-pusat`). Anything else names nothing: looked up, it is not found.
pub fn is_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// [`check_date`] as a request error.
pub fn date(field: &str, date: NaiveDate) -> Result<NaiveDate, Error> {
    check_date(field, date).map_err(|e| Error::Invalid(vec![e]))
}

pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

/// The email as the login compares it: trimmed and lower-cased.
pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// A deliberately plain check: one `@`, a non-empty local part, a dotted domain, no
/// spaces. Whether the mailbox exists is what the OTP proves.
pub fn check_email(email: &str) -> Result<(), FieldError> {
    let bad = || {
        FieldError::new(
            "email",
            "Alamat email tidak valid.",
            "The email address is not valid.",
        )
    };
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
    Ok(())
}

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
        _ => Err(FieldError::new(
            "phone",
            "Nomor ponsel harus nomor Indonesia, diawali +62 atau 08.",
            "The phone must be an Indonesian mobile number starting with +62 or 08.",
        )),
    }
}

pub fn check_password(field: &str, password: &str, email: &str) -> Result<(), FieldError> {
    let len = password.chars().count();
    if len < PASSWORD_MIN {
        return Err(FieldError::new(
            field,
            "Kata sandi minimal 8 karakter.",
            "The password must have at least 8 characters.",
        ));
    }
    if len > PASSWORD_MAX {
        return Err(FieldError::new(
            field,
            "Kata sandi maksimal 128 karakter.",
            "The password must have at most 128 characters.",
        ));
    }
    if normalize_email(password) == email {
        return Err(FieldError::new(
            field,
            "Kata sandi tidak boleh sama dengan email.",
            "The password must not be the email address.",
        ));
    }
    Ok(())
}

pub fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    let len = name.trim().chars().count();
    if len == 0 || len > 100 || name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "Nama wajib diisi, paling panjang 100 karakter.",
            "The name is required, at most 100 characters.",
        ));
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
    fn ids() {
        assert!(is_id("jakarta-pusat") && is_id("01HZY3J5K8X9ABCDEFGHJKMNPQ") && is_id("a_b"));
        for bad in ["", "a b", "a/b", "ñ", &"x".repeat(65), "a#b"] {
            assert!(!is_id(bad), "{bad}");
        }
        assert!(is_id(&"x".repeat(64)));
    }

    #[test]
    fn emails() {
        assert!(check_email("siti@example.co.id").is_ok());
        assert!(check_email(&normalize_email("  Budi.Santoso@Mail.COM ")).is_ok());
        for bad in [
            "",
            "siti",
            "siti@",
            "@example.com",
            "siti@example",
            "si ti@example.com",
            "a@b@c.com",
            "a@exa..mple.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
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
