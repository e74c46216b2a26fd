//! Time is a parameter. Code that needs "now" receives a [`Clock`]; only the server's clock adapter reads the
//! system clock (enforced by `clippy.toml`), so tests drive time by hand with [`ManualClock`].

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

/// A source of the current instant.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// A clock that only moves when told to. Stored as microseconds so it is lock-free.
#[derive(Debug)]
pub struct ManualClock {
    now_us: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self { now_us: AtomicI64::new(timestamp_us(start)) }
    }

    pub fn set(&self, at: Timestamp) {
        self.now_us.store(timestamp_us(at), Ordering::SeqCst);
    }

    pub fn advance(&self, by: SignedDuration) {
        let by_us = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.now_us.fetch_add(by_us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        timestamp_from_us(self.now_us.load(Ordering::SeqCst))
    }
}

/// Microseconds since the Unix epoch: the representation timestamps have in storage.
pub fn timestamp_us(at: Timestamp) -> i64 {
    // A jiff Timestamp spans ±9999 years, which fits in i64 microseconds.
    at.as_microsecond()
}

/// The inverse of [`timestamp_us`]; values outside jiff's range clamp to its bounds.
pub fn timestamp_from_us(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(if us < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Timestamp::from_second(1_700_000_000).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(SignedDuration::from_secs(90));
        assert_eq!(clock.now(), Timestamp::from_second(1_700_000_090).unwrap());
    }

    #[test]
    fn microsecond_round_trip() {
        let at = Timestamp::from_microsecond(1_700_000_000_123_456).unwrap();
        assert_eq!(timestamp_from_us(timestamp_us(at)), at);
    }
}
