//! The clock adapter: the one place that reads the system clock (see `clippy.toml`), and the id generator
//! that builds time-ordered UUIDs from the injected clock and an injected random source.

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;
use voltvend_domain::Clock;

/// Wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // This is the clock adapter.
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Builds UUIDv7-layout ids (48-bit Unix milliseconds, then random bits) so that rows insert in key order.
#[derive(Debug)]
pub struct IdGenerator {
    clock: Arc<dyn Clock>,
    rng: Mutex<StdRng>,
}

impl IdGenerator {
    /// Random bits from the operating system's CSPRNG.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, rng: Mutex::new(StdRng::from_os_rng()) }
    }

    /// Reproducible ids for tests and the demo's seeded data.
    pub fn seeded(clock: Arc<dyn Clock>, seed: u64) -> Self {
        Self { clock, rng: Mutex::new(StdRng::seed_from_u64(seed)) }
    }

    pub fn uuid(&self) -> Uuid {
        let millis = u64::try_from(self.clock.now().as_millisecond()).unwrap_or(0);
        let mut random = [0_u8; 10];
        self.fill(&mut random);
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }

    /// Random bytes from the same source (salts, generated passwords).
    pub fn fill(&self, bytes: &mut [u8]) {
        let mut rng = self.rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        rng.fill(bytes);
    }

    pub fn id<T: From<Uuid>>(&self) -> T {
        T::from(self.uuid())
    }
}

#[cfg(test)]
mod tests {
    use voltvend_domain::ManualClock;

    use super::*;

    #[test]
    fn ids_are_time_ordered_and_reproducible() {
        let clock = Arc::new(ManualClock::new("2026-11-23T08:00:00Z".parse().unwrap()));
        let a = IdGenerator::seeded(clock.clone(), 7);
        let b = IdGenerator::seeded(clock.clone(), 7);
        let first = a.uuid();
        assert_eq!(first, b.uuid());
        assert_eq!(first.get_version_num(), 7);
        clock.advance(jiff::SignedDuration::from_millis(1));
        assert!(a.uuid() > first, "a later millisecond sorts later");
    }
}
