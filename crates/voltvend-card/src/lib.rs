//! IC-card prepaid metering on ISO/IEC 7816-4 CPU cards (FM1208 / FMCOS style), sans-IO.
//!
//! * [`apdu`] — command and response APDUs and status words (ISO/IEC 7816-4 clause 5).
//! * [`crypto`] — 3DES and SM4 (GB/T 32907), ISO/IEC 9797-1 MACs, per-card key diversification.
//! * [`card`] — [`VirtualCard`], an emulator of a blank FMCOS-style card, with persistence and a tearing hook.
//! * [`layout`] — our records on the card: header, purchase, parameters, return data.
//! * [`terminal`] — the terminal side over any [`Transport`]: three-pass mutual authentication, issue, read,
//!   write, blank.
//! * [`vpcd`] — the vsmartcard vpcd socket protocol, so a [`VirtualCard`] can sit behind a real PC/SC stack.
//!
//! Architecture invariant: no I/O, no clock and no entropy here — time is an argument, random bytes come from
//! a caller's [`RngCore`], and every parser answers malformed input with an error, never a panic. The card
//! layout and the procedures are documented in `docs/cards.md`.

pub mod apdu;
pub mod card;
pub mod crypto;
pub mod layout;
pub mod terminal;
pub mod vpcd;

pub use card::VirtualCard;
pub use crypto::{Algorithm, CardKeys, Key, KeyPurpose, RootKey};
pub use layout::{CardKind, CardSerial, Header, LayoutError, Parameters, Purchase, QuantityUnit, ReturnData};
pub use rand::RngCore;
pub use terminal::{CardError, CardImage, Terminal, Transport};
