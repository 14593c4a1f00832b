//! The local server's clock: the wall clock plus an offset that `POST /_local/clock` moves
//! forward, kept on disk so a restart does not travel back in time.
//!
//! The offset is bounded (0 to [`MAX_OFFSET_SECS`]): a huge one would make every `now()`
//! overflow, and being on disk it would outlive the restart meant to cure it.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, TimeDelta, Utc};
use paspor_domain::clock::Clock;

use super::EmbeddedError;

/// About a century: far past any deadline a test or demo reaches, far from chrono's limits.
pub const MAX_OFFSET_SECS: i64 = 100 * 366 * 24 * 3600;
const MAX_OFFSET_MS: i64 = MAX_OFFSET_SECS * 1000;

#[derive(Debug)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
    file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum AdvanceError {
    /// Backwards, or past [`MAX_OFFSET_SECS`] in all.
    #[error("the clock moves forward only, at most {MAX_OFFSET_SECS} s in all")]
    OutOfRange,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl OffsetClock {
    pub fn open(file: PathBuf) -> Result<Self, EmbeddedError> {
        let offset_ms: i64 = match std::fs::read_to_string(&file) {
            Ok(s) => s
                .trim()
                .parse()
                .map_err(|e| EmbeddedError::Other(format!("{}: {e}", file.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        if !(0..=MAX_OFFSET_MS).contains(&offset_ms) {
            return Err(EmbeddedError::Other(format!(
                "{}: clock offset {offset_ms} ms is outside 0..={MAX_OFFSET_MS} ms \
                 (about 100 years); delete the file to reset the local clock",
                file.display()
            )));
        }
        Ok(Self {
            offset_ms: AtomicI64::new(offset_ms),
            file,
        })
    }

    /// Moves the clock forward and answers the new time; refuses, changing nothing, a move
    /// backwards or past [`MAX_OFFSET_SECS`].
    pub fn advance(&self, secs: i64) -> Result<DateTime<Utc>, AdvanceError> {
        let step = secs
            .checked_mul(1000)
            .filter(|ms| *ms >= 0)
            .ok_or(AdvanceError::OutOfRange)?;
        let next = |offset: i64| offset.checked_add(step).filter(|o| *o <= MAX_OFFSET_MS);
        let before = self
            .offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, next)
            .map_err(|_| AdvanceError::OutOfRange)?;
        let offset = next(before).ok_or(AdvanceError::OutOfRange)?;
        std::fs::write(&self.file, offset.to_string())?;
        Ok(self.now())
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let wall = Utc::now();
        // Cannot fail: the offset stays within MAX_OFFSET_MS.
        wall.checked_add_signed(TimeDelta::milliseconds(
            self.offset_ms.load(Ordering::SeqCst),
        ))
        .unwrap_or(wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_and_persists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("offset");
        let clock = OffsetClock::open(file.clone()).expect("open");
        let before = Utc::now();
        let moved = clock.advance(7200).expect("advance");
        assert!(moved >= before + TimeDelta::seconds(7200));
        let reopened = OffsetClock::open(file).expect("reopen");
        assert!(reopened.now() >= before + TimeDelta::seconds(7200));
    }

    #[test]
    fn refuses_what_would_overflow_and_keeps_the_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("offset");
        let clock = OffsetClock::open(file.clone()).expect("open");
        clock.advance(60).expect("advance");
        for secs in [-1, i64::MIN, i64::MAX, 9_000_000_000_000, MAX_OFFSET_SECS] {
            assert!(
                matches!(clock.advance(secs), Err(AdvanceError::OutOfRange)),
                "{secs}"
            );
        }
        let _ = clock.now();
        clock
            .advance(MAX_OFFSET_SECS - 60)
            .expect("up to the bound");
        assert!(matches!(clock.advance(1), Err(AdvanceError::OutOfRange)));
        OffsetClock::open(file).expect("reopen at the bound");
    }

    #[test]
    fn refuses_to_open_an_offset_out_of_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("offset");
        std::fs::write(&file, "9000000000000000").expect("write");
        let e = OffsetClock::open(file).expect_err("out of range");
        assert!(e.to_string().contains("delete the file"), "{e}");
    }
}
