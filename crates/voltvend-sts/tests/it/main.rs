//! Token engine tests against third-party data: the STS compliance vectors, RFC 2994 and the OpenPAYGO
//! vectors from testdata/vectors (or `$VOLTVEND_VECTORS`), the `openpaygo` package as a live peer, and
//! meter-side scenarios.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod meter;
mod peer;
mod vectors;
