//! Every key of the one table, and nothing else: each partition and sort-key prefix is
//! spelled here once. A new item kind gets its key here, next to the others, so two kinds
//! can never share a prefix by accident (the layout test below says which exist).

use chrono::{DateTime, NaiveDate, Utc};

use crate::{otp::Purpose, store::Key};

// ---------------------------------------------------------------- offices and quota

/// The one partition holding every office.
pub const OFFICES: &str = "OFFICES";

pub fn office(id: &str) -> Key {
    Key::new(OFFICES, id)
}

/// The partition of one office's slots on one day (sort key: the hour, `HH:00`).
pub fn slot_day(office_id: &str, date: NaiveDate) -> String {
    format!("SLOT#{office_id}#{date}")
}

pub fn slot(office_id: &str, date: NaiveDate, time: &str) -> Key {
    Key::new(slot_day(office_id, date), time)
}

/// The partition of one office's appointments on one day.
pub fn schedule_day(office_id: &str, date: NaiveDate) -> String {
    format!("SCHED#{office_id}#{date}")
}

pub fn schedule(office_id: &str, date: NaiveDate, time: &str, application_id: &str) -> Key {
    Key::new(
        schedule_day(office_id, date),
        format!("{time}#{application_id}"),
    )
}

// ---------------------------------------------------------------- fair releases

/// The one partition holding every release (a few a month).
pub const RELEASES: &str = "RELEASES";

pub fn release(id: &str) -> Key {
    Key::new(RELEASES, id)
}

/// How many partitions a release's entries are spread over: a rush of entries writes to
/// all of them, never to one hot item.
pub const ENTRY_SHARDS: u8 = 32;

/// The shard an entry lives in, from its id.
pub fn entry_shard(entry_id: &str) -> u8 {
    use sha2::Digest;
    sha2::Sha256::digest(entry_id.as_bytes())[0] % ENTRY_SHARDS
}

/// The partition of one shard of a release's entries (sort key: the entry id).
pub fn entries(release_id: &str, shard: u8) -> String {
    format!("ENTRIES#{release_id}#{shard:02}")
}

pub fn entry(release_id: &str, entry_id: &str) -> Key {
    Key::new(entries(release_id, entry_shard(entry_id)), entry_id)
}

/// A shard's counters and its window flag: every entry's write passes one, so closing the
/// window is one write per shard, and no entry can land after it.
pub fn entry_counter(release_id: &str, shard: u8) -> Key {
    Key::new(release_items(release_id), format!("SHARD#{shard:02}"))
}

/// The sort-key prefix of a release's applied draw batches (beside its shard counters).
pub const DRAW_BATCHES: &str = "BATCH#";

/// The partition of a release's own small items: its shard counters, its applied batches.
pub fn release_items(release_id: &str) -> String {
    format!("RELEASE#{release_id}")
}

/// The mark that one batch of a release's draw is applied.
pub fn draw_batch(release_id: &str, batch: u32) -> Key {
    Key::new(
        release_items(release_id),
        format!("{DRAW_BATCHES}{batch:06}"),
    )
}

/// An account's entry in a release.
pub fn account_entry(account_id: &str, release_id: &str) -> Key {
    Key::new(account_items(account_id), format!("ENTRY#{release_id}"))
}

/// The partition of a release's slots that had a place come back before its first day
/// (sort key: `office#date#time`): the waitlist's work.
pub fn returned_places(release_id: &str) -> String {
    format!("RETURNED#{release_id}")
}

pub fn returned(release_id: &str, office_id: &str, date: NaiveDate, time: &str) -> Key {
    Key::new(
        returned_places(release_id),
        format!("{office_id}#{date}#{time}"),
    )
}

/// The partition of the waitlisted entries that chose one slot, in draw order (sort key:
/// the position, zero-padded).
pub fn waitlist(release_id: &str, office_id: &str, date: NaiveDate, time: &str) -> String {
    format!("WAIT#{release_id}#{office_id}#{date}#{time}")
}

pub fn waiting(
    release_id: &str,
    office_id: &str,
    date: NaiveDate,
    time: &str,
    position: usize,
) -> Key {
    Key::new(
        waitlist(release_id, office_id, date, time),
        format!("{position:08}"),
    )
}

// ---------------------------------------------------------------- billing and payments

/// A billing code's index to its application.
pub fn billing(code: &str) -> Key {
    Key::new(format!("BILL#{code}"), "BILL")
}

/// The partition of the unpaid billings expiring in one hour (UTC), for the sweeper.
pub fn expiry_hour(at: DateTime<Utc>) -> String {
    format!("EXPIRES#{}", at.format("%Y-%m-%dT%H"))
}

/// An unpaid billing by the moment it expires.
pub fn expiry(expires_at: DateTime<Utc>, application_id: &str) -> Key {
    Key::new(
        expiry_hour(expires_at),
        format!("{}#{application_id}", expires_at.timestamp_millis()),
    )
}

/// A payment channel's notification, by its transaction id.
pub fn payment(transaction_id: &str) -> Key {
    Key::new(format!("PAYMENT#{transaction_id}"), "PAYMENT")
}

/// The partition of payments waiting for a refund.
pub const PAYMENT_EXCEPTIONS: &str = "PAYMENT_EXCEPTIONS";

pub fn payment_exception(received_at: DateTime<Utc>, transaction_id: &str) -> Key {
    Key::new(
        PAYMENT_EXCEPTIONS,
        format!("{}#{transaction_id}", received_at.to_rfc3339()),
    )
}

/// Where the expiry sweep stopped.
pub fn sweeper_watermark() -> Key {
    Key::new("SWEEPER", "WATERMARK")
}

// ---------------------------------------------------------------- accounts

pub fn account(id: &str) -> Key {
    Key::new(account_items(id), "PROFILE")
}

/// The partition of everything one account owns: its profile, applicants and applications.
pub fn account_items(account_id: &str) -> String {
    format!("ACCOUNT#{account_id}")
}

pub fn email(email: &str) -> Key {
    Key::new(format!("EMAIL#{email}"), "ACCOUNT")
}

pub fn otp(email: &str, purpose: Purpose) -> Key {
    Key::new(format!("OTP#{email}"), purpose.as_str())
}

pub fn otp_send_window(email: &str) -> Key {
    Key::new(format!("OTP#{email}"), "SEND_WINDOW")
}

pub fn login_failures(email: &str) -> Key {
    Key::new(format!("LOGIN#{email}"), "FAILURES")
}

// ---------------------------------------------------------------- applicants and applications

/// The sort-key prefix of an account's applicants.
pub const APPLICANTS_OF_ACCOUNT: &str = "APPLICANT#";

pub fn applicant(account_id: &str, applicant_id: &str) -> Key {
    Key::new(
        account_items(account_id),
        format!("{APPLICANTS_OF_ACCOUNT}{applicant_id}"),
    )
}

pub fn applicant_count(account_id: &str) -> Key {
    Key::new(account_items(account_id), "APPLICANTS")
}

/// A NIK an account has added as an applicant (by its keyed hash).
pub fn account_nik(account_id: &str, nik_ref: &str) -> Key {
    Key::new(account_items(account_id), format!("NIK#{nik_ref}"))
}

pub fn application(id: &str) -> Key {
    Key::new(format!("{APPLICATIONS_OF_ACCOUNT}{id}"), "APP")
}

/// The sort-key prefix of an account's applications.
pub const APPLICATIONS_OF_ACCOUNT: &str = "APP#";

pub fn account_application(account_id: &str, id: &str) -> Key {
    Key::new(
        account_items(account_id),
        format!("{APPLICATIONS_OF_ACCOUNT}{id}"),
    )
}

/// The application id in an account's application entry.
pub fn application_of_entry(sk: &str) -> Option<&str> {
    sk.strip_prefix(APPLICATIONS_OF_ACCOUNT)
}

/// The NIK's one active application, across the whole service.
pub fn active_nik(nik_ref: &str) -> Key {
    Key::new(format!("NIK#{nik_ref}"), "ACTIVE")
}

/// The partition of the applications whose stored objects come due for deletion on a day
/// (UTC).
pub fn purge_day(due: DateTime<Utc>) -> String {
    format!("PURGE#{}", due.format("%Y-%m-%d"))
}

/// An application's files coming due for deletion, in order of the moment they do.
pub fn purge(due: DateTime<Utc>, id: &str) -> Key {
    Key::new(
        purge_day(due),
        format!("{:013}#{id}", due.timestamp_millis()),
    )
}

// ---------------------------------------------------------------- operations and the edges

/// The partition of one subject's audit trail (sort key: the time, then a ULID).
pub fn audit_trail(subject: &str) -> String {
    format!("AUDIT#{subject}")
}

pub fn audit(subject: &str, at: DateTime<Utc>, entry_id: &str) -> Key {
    Key::new(
        audit_trail(subject),
        format!("{}#{entry_id}", at.to_rfc3339()),
    )
}

/// One rate-limit window of a rule for a subject, by the second it starts.
pub fn rate_window(rule: &str, subject: &str, start_secs: i64) -> Key {
    Key::new(format!("RATE#{rule}#{subject}"), start_secs.to_string())
}

/// A caller's `Idempotency-Key`, scoped by a digest of the route it was used on.
pub fn idempotency(account_id: &str, key: &str, scope_digest: &str) -> Key {
    Key::new(format!("IDEM#{account_id}#{key}"), scope_digest)
}

/// A job the worker has done (so a redelivered message does nothing twice).
pub fn job_done(id: &str) -> Key {
    Key::new(format!("JOB#{id}"), "DONE")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The table's whole layout: one line per kind of item. Changing a key changes what is
    /// already stored in production; this test makes that a visible decision.
    #[test]
    fn the_layout() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
        let at = Utc
            .with_ymd_and_hms(2026, 12, 1, 9, 30, 0)
            .single()
            .expect("time");
        let keys = [
            office("makassar"),
            slot("makassar", day, "08:00"),
            schedule("makassar", day, "08:00", "a1"),
            billing("123456789012345"),
            expiry(at, "a1"),
            payment("t1"),
            payment_exception(at, "t1"),
            sweeper_watermark(),
            account("u1"),
            email("x@example.com"),
            otp("x@example.com", Purpose::Signup),
            otp_send_window("x@example.com"),
            login_failures("x@example.com"),
            applicant("u1", "p1"),
            applicant_count("u1"),
            account_nik("u1", "n1"),
            application("a1"),
            account_application("u1", "a1"),
            active_nik("n1"),
            purge(at, "a1"),
            audit("a1", at, "e1"),
            rate_window("login", "1.2.3.4", 60),
            idempotency("u1", "k1", "d1"),
            job_done("j1"),
            release("r1"),
            entry("r1", "e1"),
            entry_counter("r1", 7),
            draw_batch("r1", 3),
            account_entry("u1", "r1"),
            returned("r1", "makassar", day, "08:00"),
            waiting("r1", "makassar", day, "08:00", 42),
        ];
        let layout: Vec<String> = keys
            .iter()
            .map(|k| format!("{} | {}", k.pk, k.sk))
            .collect();
        assert_eq!(
            layout,
            [
                "OFFICES | makassar",
                "SLOT#makassar#2026-12-01 | 08:00",
                "SCHED#makassar#2026-12-01 | 08:00#a1",
                "BILL#123456789012345 | BILL",
                "EXPIRES#2026-12-01T09 | 1796117400000#a1",
                "PAYMENT#t1 | PAYMENT",
                "PAYMENT_EXCEPTIONS | 2026-12-01T09:30:00+00:00#t1",
                "SWEEPER | WATERMARK",
                "ACCOUNT#u1 | PROFILE",
                "EMAIL#x@example.com | ACCOUNT",
                "OTP#x@example.com | signup",
                "OTP#x@example.com | SEND_WINDOW",
                "LOGIN#x@example.com | FAILURES",
                "ACCOUNT#u1 | APPLICANT#p1",
                "ACCOUNT#u1 | APPLICANTS",
                "ACCOUNT#u1 | NIK#n1",
                "APP#a1 | APP",
                "ACCOUNT#u1 | APP#a1",
                "NIK#n1 | ACTIVE",
                "PURGE#2026-12-01 | 1796117400000#a1",
                "AUDIT#a1 | 2026-12-01T09:30:00+00:00#e1",
                "RATE#login#1.2.3.4 | 60",
                "IDEM#u1#k1 | d1",
                "JOB#j1 | DONE",
                "RELEASES | r1",
                "ENTRIES#r1#11 | e1",
                "RELEASE#r1 | SHARD#07",
                "RELEASE#r1 | BATCH#000003",
                "ACCOUNT#u1 | ENTRY#r1",
                "RETURNED#r1 | makassar#2026-12-01#08:00",
                "WAIT#r1#makassar#2026-12-01#08:00 | 00000042",
            ]
        );
        assert_eq!(
            application_of_entry(&account_application("u1", "a1").sk),
            Some("a1")
        );
    }
}
