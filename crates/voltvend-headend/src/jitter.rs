//! Jitter for timers, from a seed the caller injects (the server draws it from the operating system; tests
//! fix it), so that a thousand gateways that failed together do not all dial again in the same millisecond,
//! and the same seed gives the same schedule.

use std::time::Duration;

/// SplitMix64 (Steele, Lea, Flood 2014): small, fast, and good enough to spread timers.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A new generator for one user of many (a bus, a meter), independent of the others.
    pub fn fork(&mut self, salt: u64) -> Self {
        Self::new(self.next_u64() ^ salt.rotate_left(17))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A wait between half of `d` and `d` ("equal jitter"): never longer than asked, never much shorter.
    pub fn spread(&mut self, d: Duration) -> Duration {
        let half = d / 2;
        let span = u64::try_from((d - half).as_micros()).unwrap_or(u64::MAX);
        if span == 0 {
            return d;
        }
        half + Duration::from_micros(self.next_u64() % (span + 1))
    }

    /// A point in `[0, d)`.
    pub fn within(&mut self, d: Duration) -> Duration {
        let span = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if span == 0 { Duration::ZERO } else { Duration::from_micros(self.next_u64() % span) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_stays_between_half_and_whole_and_is_seeded() {
        let mut j = Jitter::new(7);
        let d = Duration::from_secs(10);
        let waits: Vec<Duration> = (0..1_000).map(|_| j.spread(d)).collect();
        assert!(waits.iter().all(|w| *w >= d / 2 && *w <= d));
        assert!(waits.iter().any(|w| *w < d * 3 / 5) && waits.iter().any(|w| *w > d * 9 / 10), "it spreads");
        let mut again = Jitter::new(7);
        assert_eq!(waits[0], again.spread(d), "the same seed, the same waits");
        assert_eq!(j.within(Duration::ZERO), Duration::ZERO);
        assert!((0..100).all(|_| j.within(Duration::from_millis(5)) < Duration::from_millis(5)));
    }
}
