//! End-to-end tests of the `voltvend` binary: the commands a person types, the server they start, and a
//! process killed mid-write.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod api;
mod bench_campaign;
mod bench_headend;
mod bench_ingest;
mod bench_report;
mod bench_tokens;
mod bench_vend;
mod browser;
mod cli;
mod docs;
mod durability;
mod flags;
mod installation;
mod messages;
mod schemathesis;
mod secrets;
mod serve;
mod simulate;
mod support;
mod tariff;
mod token;
