//! Meters that behave like real ones: the prepaid controller's logic (DESIGN.md §2.5) and a fleet simulator
//! that exposes simulated meters on real sockets.
//!
//! Architecture invariant: [`controller`] and [`fleet`] are pure and deterministic (time and the random seed
//! are parameters); only [`gateway`], [`modbus`] and [`mqtt`] touch sockets, and it never panics or stalls on bad input.

pub mod codec;
pub mod controller;
pub mod fleet;
pub mod gateway;
pub mod modbus;
pub mod mqtt;
