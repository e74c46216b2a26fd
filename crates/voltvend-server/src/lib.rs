//! The Voltvend server: configuration, wiring, HTTP, and the `voltvend` command line.
//!
//! Architecture invariant: this crate owns the process — sockets, files, signals, the system clock (only in
//! [`clock`]) and randomness — and is the only crate that knows HTTP and JSON. Business rules live in
//! `voltvend-domain`; SQL lives in `voltvend-store`.

pub mod api;
pub mod backups;
pub mod bench;
pub mod bench_campaign;
pub mod bench_http;
pub mod bench_ingest;
pub mod bench_plot;
pub mod bench_poll;
pub mod bench_relay;
pub mod bench_report;
pub mod bench_tokens;
pub mod bench_vend;
pub mod billing;
pub mod card_cli;
pub mod cards;
pub mod cli;
pub mod clock;
pub mod demo;
pub mod http;
pub mod keys;
pub mod passwords;
pub mod payments;
pub mod redact;
pub mod serve;
pub mod settings;
pub mod simulate;
pub mod tariff_cli;
pub mod token_cli;
pub mod ui;
