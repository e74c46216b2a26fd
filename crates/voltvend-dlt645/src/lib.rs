//! DL/T 645-2007, the Chinese multi-function meter protocol (PROTOCOLS.md §3), sans-IO.
//!
//! Architecture invariant: bytes in, bytes out. [`frame`] finds and checks link frames in a byte buffer in the
//! mini-redis style — a frame is either complete and valid, not yet complete (read more), or invalid (with
//! how many bytes to discard) — and never panics on any input. [`data`] holds the BCD value formats and the
//! data identifiers a prepaid system reads and writes; [`app`] the typed requests and replies of every
//! function of DL/T 645-2007 §7 (broadcast time, read and follow-up, read/write address, write, freeze, rate,
//! password, clear demand/meter/events, relay/alarm/keep-power control, multi-function output) with their
//! abnormal replies. Sockets and codecs for tokio live in the crate that owns I/O.

pub mod app;
pub mod data;
pub mod frame;

pub use app::{ErrorBits, FreezeAt, Function, OutputSignal, Password, RateWord, RelayAction, Reply, Request};
pub use data::{DataId, Format, Value};
pub use frame::{Address, Frame, FrameError, Parsed};
