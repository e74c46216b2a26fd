//! Prepaid token engines, sans-IO: STS (IEC 62055-41, the 20-digit keypad token) and OpenPAYGO Token.
//!
//! Architecture invariant: bytes and numbers in, bytes and numbers out. No I/O, no clock (time is a
//! parameter), no randomness (the 4-bit STS random number is a parameter).
//!
//! Map of the STS part, following the layers of IEC 62055-41:
//! * [`number`] — the 66-bit token number and its 20 digits, with the class transposition (§6.3);
//! * [`token`] — the 64-bit data block of every class and subclass, with [`crc`] (§6.3.6);
//! * [`amount`] — the 16-bit exponent/mantissa amount and register field (§6.3.5);
//! * [`tid`] — token identifiers, base dates 1993/2014/2035 and their rollover (§6.3.4);
//! * [`keys`] — decoder keys, DKGA02 and DKGA04 (§6.5.1), the [`ea07`] (STA) and [`misty1`] (EA11) ciphers;
//! * [`identity`] — PAN, IIN, DRN and the Luhn check digit;
//! * [`vend`] — issuing tokens for a meter; [`meter`] — accepting them as a meter does.
//!
//! What is verified and what is not is listed in PROTOCOLS.md §1 and §8; `tests/it` checks every vector in
//! `testdata/vectors` (schema in docs/vectors.md).

pub mod amount;
pub mod crc;
pub mod ea07;
pub mod identity;
pub mod keys;
pub mod meter;
pub mod misty1;
pub mod number;
pub mod openpaygo;
pub mod tid;
pub mod token;
pub mod vend;

use thiserror::Error;

pub use identity::Pan;
pub use keys::{DecoderKey, Dkga, Ea, KeyParams, KeyType, VendingKey};
pub use meter::{Accepted, Rejection, StsMeter};
pub use number::TokenNumber;
pub use tid::{BaseDate, Tid};
pub use token::{RegisterKind, Token, TransferKind};
pub use vend::{Issuer, KeyChange, MeterKeyRecord, test_token_for};

/// Errors of the token engines. Key material never appears in them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StsError {
    #[error("{0}")]
    TokenFormat(&'static str),
    #[error("token class 3 is reserved")]
    ReservedClass,
    #[error("unknown token subclass {subclass} in class {class}")]
    UnknownSubclass { class: u8, subclass: u8 },
    #[error("CRC mismatch")]
    CrcMismatch,
    #[error("{name} does not fit in {bits} bits")]
    FieldRange { name: &'static str, bits: u32 },
    #[error("amount {units} exceeds the largest transferable amount {max} (tenths of a unit)")]
    AmountTooLarge { units: u64, max: u64 },
    #[error("{0:?} is not an amount (a decimal number of units such as 12.5)")]
    BadAmount(String),
    #[error("the TID would exceed 24 bits: the meter's base date has rolled over; issue a rollover key change")]
    TidOverflow,
    #[error("the instant is before the key's base date")]
    BeforeBaseDate,
    #[error("the decoder key has expired (KEN {ken}); issue a key change")]
    KeyExpired { ken: u8 },
    #[error("invalid {name} {value:?}: expected {expected}")]
    BadParameter { name: &'static str, value: String, expected: &'static str },
    #[error("PAN {pan} has a wrong check digit (expected {expected})")]
    BadCheckDigit { pan: String, expected: u8 },
    #[error("{0}")]
    BadKey(&'static str),
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
}
