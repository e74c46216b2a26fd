//! The remote prepaid loop end to end, on real sockets: the simulated fleet's gateway (voltvend-meter) on one
//! side, the head end on the other, the operations spine and a SQLite store behind it.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod notify;
mod prepaid_loop;
