//! The local server's clock: the wall clock plus an offset that `POST /_local/clock` moves
//! forward, kept on disk so a restart does not travel back in time.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, TimeDelta, Utc};
use paspor_domain::clock::Clock;

use super::EmbeddedError;

#[derive(Debug)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
    file: PathBuf,
}

impl OffsetClock {
    pub fn open(file: PathBuf) -> Result<Self, EmbeddedError> {
        let offset_ms = match std::fs::read_to_string(&file) {
            Ok(s) => s
                .trim()
                .parse()
                .map_err(|e| EmbeddedError::Other(format!("{}: {e}", file.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            offset_ms: AtomicI64::new(offset_ms),
            file,
        })
    }

    /// Moves the clock forward and answers the new time.
    pub fn advance(&self, secs: i64) -> Result<DateTime<Utc>, EmbeddedError> {
        let offset = self.offset_ms.fetch_add(secs * 1000, Ordering::SeqCst) + secs * 1000;
        std::fs::write(&self.file, offset.to_string())?;
        Ok(self.now())
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::milliseconds(self.offset_ms.load(Ordering::SeqCst))
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
}
