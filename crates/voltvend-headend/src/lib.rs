//! The master station (主站, DESIGN.md §2.5): it reads every meter, hands what it read to the operations
//! spine (which prices, debits and decides to trip or close), and carries out the command outbox until each
//! meter confirms what it was asked and a read-back agrees.
//!
//! * [`link`] — DL/T 645-2007 over TCP: a bus per RS-485 gateway (one request in flight, replies matched to
//!   their request, reconnects with backoff and jitter) and the links 4G meters open themselves.
//! * [`modbus`] — Modbus TCP to gateways and meters, laid out by the meter model's register map.
//! * [`read`] — reading registers, status word 3 and the clock; the tariff registers mapped onto the tariff's
//!   periods.
//! * [`mqtt`] — the telemetry format of meters whose gateways publish to an MQTT broker.
//! * [`notify`] — delivery of the notification outbox (low-balance alarms, trips, restorations) to senders: the
//!   log and signed webhooks.
//! * [`headend`] — the schedule, on-demand reads, telemetry ingestion, the command loop, dial-in, health and
//!   metrics.
//!
//! Architecture invariant: the head end decides nothing about money or supply. It reports what meters said,
//! as operations whose ids derive from what they report (so a report sent twice counts once), and sends
//! meters the commands the operations queued.

pub mod headend;
pub mod health;
pub mod jitter;
pub mod link;
pub mod modbus;
pub mod mqtt;
pub mod notify;
pub mod read;

pub use headend::{Config, Cycle, GroupSelect, HeadEnd, HeadEndError, PollGroup, Polled};
pub use health::{LinkStatus, MeterStatus};
pub use link::{LinkError, Reconnect};
