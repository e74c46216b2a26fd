//! Operations run against the in-memory model: every command's rules, refusals that change nothing,
//! idempotent retries, the audit chain.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod apportion;
mod cards;
mod codes;
mod control;
mod counter;
mod fees;
mod group;
mod payments;
mod scenarios;
