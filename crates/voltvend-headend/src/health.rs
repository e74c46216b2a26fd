//! Health of the head end's links and meters, for the API and `/metrics`: whether each link is up, how many
//! requests were answered or went unanswered, the last error; per meter, when it was last read and what went
//! wrong since.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use jiff::Timestamp;
use voltvend_domain::MeterId;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One link: a gateway's bus or a dialled-in meter's connection.
#[derive(Debug, Default)]
pub struct LinkHealth {
    up: AtomicBool,
    connects: AtomicU64,
    downs: AtomicU64,
    answered: AtomicU64,
    timeouts: AtomicU64,
    last_error: Mutex<String>,
}

impl LinkHealth {
    pub(crate) fn connected(&self) {
        self.up.store(true, Ordering::Relaxed);
        self.connects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn down(&self, why: &str) {
        self.up.store(false, Ordering::Relaxed);
        self.downs.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = why.to_string();
    }

    pub(crate) fn answered(&self) {
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn timed_out(&self) {
        self.timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self, name: &str, transport: &'static str) -> LinkStatus {
        LinkStatus {
            name: name.to_string(),
            transport,
            up: self.up.load(Ordering::Relaxed),
            connects: self.connects.load(Ordering::Relaxed),
            downs: self.downs.load(Ordering::Relaxed),
            answered: self.answered.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            last_error: lock(&self.last_error).clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
    pub name: String,
    pub transport: &'static str,
    pub up: bool,
    pub connects: u64,
    pub downs: u64,
    pub answered: u64,
    pub timeouts: u64,
    pub last_error: String,
}

/// One meter, as the head end last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterStatus {
    pub last_read_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    /// Failed reads since the last good one.
    pub failures: u32,
    pub last_error: String,
}

/// Every meter's status, bounded by the number of meters with a channel.
#[derive(Debug, Default)]
pub struct MeterHealth {
    meters: Mutex<HashMap<MeterId, MeterStatus>>,
}

impl MeterHealth {
    pub(crate) fn read(&self, meter: MeterId, at: Timestamp) {
        let mut m = lock(&self.meters);
        let s = m.entry(meter).or_default();
        s.last_read_at = Some(at);
        s.last_attempt_at = Some(at);
        s.failures = 0;
        s.last_error.clear();
    }

    pub(crate) fn failed(&self, meter: MeterId, at: Timestamp, why: &str) {
        let mut m = lock(&self.meters);
        let s = m.entry(meter).or_default();
        s.last_attempt_at = Some(at);
        s.failures = s.failures.saturating_add(1);
        s.last_error = why.to_string();
    }

    pub(crate) fn forget_except(&self, keep: &std::collections::HashSet<MeterId>) {
        lock(&self.meters).retain(|id, _| keep.contains(id));
    }

    pub fn get(&self, meter: MeterId) -> Option<MeterStatus> {
        lock(&self.meters).get(&meter).cloned()
    }

    /// How many meters were read at least once, and how many failed their last read.
    pub fn counts(&self) -> (usize, usize) {
        let m = lock(&self.meters);
        (m.values().filter(|s| s.last_read_at.is_some()).count(), m.values().filter(|s| s.failures > 0).count())
    }
}
