//! The DL/T 645-2007 link frame (the standard's §4 frame format; PROTOCOLS.md §3.1):
//!
//! ```text
//! [FE …]  68  A0..A5  68  C  L  DATA(L bytes, each +0x33)  CS  16
//! ```
//! Receivers skip any number of 0xFE wake-up bytes. The address is six BCD bytes, least significant first
//! (`99…99` broadcast, `AA` bytes wildcards). C: bit 7 reply, bit 6 abnormal reply, bit 5 follow-up frames,
//! bits 4..0 function. CS is the byte sum from the first 0x68 through the last data byte.

use std::fmt;

use thiserror::Error;

/// Start and end delimiters and the wake-up byte.
pub const START: u8 = 0x68;
pub const END: u8 = 0x16;
pub const WAKE: u8 = 0xFE;
/// Header (68 A×6 68 C L) and trailer (CS 16) sizes.
const HEADER: usize = 10;
const TRAILER: usize = 2;
/// L is one byte, so a frame's data is at most 255 bytes; the standard limits read replies to 200.
pub const DATA_LEN_MAX: usize = 255;
/// Wake-up bytes accepted before a frame; more is treated as noise.
pub const PREAMBLE_MAX: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("invalid address {0:?}: expected 12 decimal digits (or AA wildcards)")]
    BadAddress(String),
    #[error("data longer than {DATA_LEN_MAX} bytes")]
    TooLong,
}

/// A meter address in wire order (least significant byte first).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 6]);

impl Address {
    pub const BROADCAST: Address = Address([0x99; 6]);
    pub const WILDCARD: Address = Address([0xAA; 6]);

    /// From the 12-digit meter number as printed (`000000000161`); `AA` pairs are wildcards.
    pub fn from_meter_no(s: &str) -> Result<Self, FrameError> {
        let bad = || FrameError::BadAddress(s.to_string());
        let b = s.as_bytes();
        if b.len() != 12 {
            return Err(bad());
        }
        let mut out = [0_u8; 6];
        for (i, pair) in b.chunks(2).enumerate() {
            let byte = match pair {
                [b'A' | b'a', b'A' | b'a'] => 0xAA,
                [h, l] if h.is_ascii_digit() && l.is_ascii_digit() => ((h - b'0') << 4) | (l - b'0'),
                _ => return Err(bad()),
            };
            // Printed most significant first; wire order is least significant first.
            if let Some(slot) = out.get_mut(5 - i) {
                *slot = byte;
            }
        }
        Ok(Self(out))
    }

    /// The 12-digit meter number as printed.
    pub fn meter_no(&self) -> String {
        self.0.iter().rev().map(|b| format!("{b:02x}")).collect()
    }

    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether a request to `self` is addressed to the meter with address `meter` (wildcard bytes match).
    pub fn addresses(&self, meter: &Address) -> bool {
        self.is_broadcast() || self.0.iter().zip(meter.0.iter()).all(|(a, m)| *a == 0xAA || a == m)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.meter_no())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.meter_no())
    }
}

/// A link frame with its data already de-scrambled (−0x33).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub address: Address,
    pub control: u8,
    pub data: Vec<u8>,
}

/// What [`Frame::parse`] found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A valid frame that used `consumed` bytes (including any wake-up bytes).
    Frame { frame: Frame, consumed: usize },
    /// The buffer holds the start of a frame; read more.
    Incomplete,
    /// The buffer starts with bytes that are not a valid frame: discard `skip` bytes and try again.
    Invalid { skip: usize, reason: &'static str },
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0_u8, |s, b| s.wrapping_add(*b))
}

impl Frame {
    pub fn new(address: Address, control: u8, data: Vec<u8>) -> Result<Self, FrameError> {
        if data.len() > DATA_LEN_MAX {
            return Err(FrameError::TooLong);
        }
        Ok(Self { address, control, data })
    }

    pub fn function(&self) -> u8 {
        self.control & 0x1F
    }

    pub fn is_reply(&self) -> bool {
        self.control & 0x80 != 0
    }

    pub fn is_abnormal(&self) -> bool {
        self.control & 0x40 != 0
    }

    pub fn has_follow_up(&self) -> bool {
        self.control & 0x20 != 0
    }

    /// The wire bytes, with `preamble` wake-up bytes in front (4 is usual towards meters).
    pub fn encode(&self, preamble: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(preamble + HEADER + self.data.len() + TRAILER);
        out.extend(std::iter::repeat_n(WAKE, preamble));
        let start = out.len();
        out.push(START);
        out.extend_from_slice(&self.address.0);
        out.push(START);
        out.push(self.control);
        out.push(self.data.len().min(DATA_LEN_MAX) as u8);
        out.extend(self.data.iter().take(DATA_LEN_MAX).map(|b| b.wrapping_add(0x33)));
        let cs = checksum(out.get(start..).unwrap_or(&[]));
        out.push(cs);
        out.push(END);
        out
    }

    /// Looks for one frame at the start of `buf`.
    pub fn parse(buf: &[u8]) -> Parsed {
        let preamble = buf.iter().take_while(|b| **b == WAKE).count();
        if preamble > PREAMBLE_MAX {
            return Parsed::Invalid { skip: preamble, reason: "too many wake-up bytes" };
        }
        let Some(rest) = buf.get(preamble..) else { return Parsed::Incomplete };
        let Some(first) = rest.first() else { return Parsed::Incomplete };
        if *first != START {
            return Parsed::Invalid { skip: preamble + 1, reason: "no start byte" };
        }
        if rest.len() < HEADER {
            // Check what is there already, so garbage is refused early.
            if rest.get(7).is_some_and(|b| *b != START) {
                return Parsed::Invalid { skip: preamble + 1, reason: "no second start byte" };
            }
            return Parsed::Incomplete;
        }
        if rest.get(7) != Some(&START) {
            return Parsed::Invalid { skip: preamble + 1, reason: "no second start byte" };
        }
        let len = usize::from(rest.get(9).copied().unwrap_or(0));
        let total = HEADER + len + TRAILER;
        let Some(frame) = rest.get(..total) else { return Parsed::Incomplete };
        let (body, trailer) = frame.split_at(HEADER + len);
        if trailer.get(1) != Some(&END) {
            return Parsed::Invalid { skip: preamble + 1, reason: "no end byte" };
        }
        if trailer.first() != Some(&checksum(body)) {
            return Parsed::Invalid { skip: preamble + total, reason: "checksum mismatch" };
        }
        let mut address = [0_u8; 6];
        address.copy_from_slice(body.get(1..7).unwrap_or(&[0; 6]));
        let control = body.get(8).copied().unwrap_or(0);
        let data = body.get(HEADER..).unwrap_or(&[]).iter().map(|b| b.wrapping_sub(0x33)).collect();
        Parsed::Frame { frame: Frame { address: Address(address), control, data }, consumed: preamble + total }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn addresses() {
        let a = Address::from_meter_no("000000000161").unwrap();
        assert_eq!(a.0, [0x61, 0x01, 0, 0, 0, 0]);
        assert_eq!(a.meter_no(), "000000000161");
        assert!(Address::WILDCARD.addresses(&a));
        assert!(Address::from_meter_no("AAAAAAAAAA61").unwrap().addresses(&a));
        assert!(!Address::from_meter_no("000000000162").unwrap().addresses(&a));
        assert!(Address::from_meter_no("00000000016").is_err());
        assert!(Address::from_meter_no("0000000001x1").is_err());
    }

    #[test]
    fn incomplete_and_invalid() {
        let f = Frame::new(Address::from_meter_no("000000000161").unwrap(), 0x11, vec![0, 0, 1, 0]).unwrap();
        let wire = f.encode(4);
        for cut in 0..wire.len() {
            assert_eq!(Frame::parse(&wire[..cut]), Parsed::Incomplete, "prefix of {cut} bytes");
        }
        assert_eq!(Frame::parse(&wire), Parsed::Frame { frame: f.clone(), consumed: wire.len() });
        let mut bad = wire.clone();
        let n = bad.len();
        bad[n - 2] ^= 1;
        assert!(matches!(Frame::parse(&bad), Parsed::Invalid { reason: "checksum mismatch", .. }));
        assert!(matches!(Frame::parse(&[0x00, 0x68]), Parsed::Invalid { skip: 1, .. }));
        assert!(matches!(Frame::parse(&[0x68, 1, 2, 3, 4, 5, 6, 0x00]), Parsed::Invalid { .. }));
    }

    proptest! {
        #[test]
        fn round_trip(addr: [u8; 6], control: u8, data in proptest::collection::vec(any::<u8>(), 0..=255), pre in 0_usize..8) {
            let f = Frame::new(Address(addr), control, data).unwrap();
            let wire = f.encode(pre);
            prop_assert_eq!(Frame::parse(&wire), Parsed::Frame { frame: f, consumed: wire.len() });
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            match Frame::parse(&bytes) {
                Parsed::Frame { consumed, .. } => prop_assert!(consumed <= bytes.len()),
                Parsed::Invalid { skip, .. } => prop_assert!(skip >= 1 && skip <= bytes.len()),
                Parsed::Incomplete => {}
            }
        }
    }
}
