//! OpenPAYGO Token (EnAccess, MIT): the pay-as-you-go token for solar home systems and appliances.
//!
//! A device shares a 16-byte secret key and a 9-digit starting code with the server. Each token is the
//! starting code advanced `count` times through SipHash-2-4, with the value hidden in its last three digits
//! (six for extended tokens). Even counts are ADD_TIME, odd counts SET_TIME, DISABLE_PAYG (value 998) or
//! COUNTER_SYNC (999). Restricted-digit keypads (keys 1–4) get the same 30/40 bits as base-4 digits.
//! Reference: the OpenPAYGO Token specification and `openpaygo` on PyPI (PROTOCOLS.md §2); the decoder's
//! constants (a jump of 64 counts, 100 for counter sync, 16 older unused counts) follow that package.

use std::collections::BTreeSet;

use siphasher::sip::SipHasher24;
use thiserror::Error;

const MAX_STANDARD_VALUE: u32 = 995;
const MAX_EXTENDED_VALUE: u32 = 999_999;
const DISABLE_VALUE: u32 = 998;
const SYNC_VALUE: u32 = 999;
pub const MAX_TOKEN_JUMP: u32 = 64;
pub const MAX_TOKEN_JUMP_COUNTER_SYNC: u32 = 100;
pub const MAX_UNUSED_OLDER_TOKENS: u32 = 16;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OpgError {
    #[error("the secret key must be 32 hex digits")]
    BadKey,
    #[error("value {value} is above the maximum {max} for this token")]
    ValueTooHigh { value: u32, max: u32 },
    #[error("not a token: {0}")]
    Format(&'static str),
    #[error("invalid token")]
    Invalid,
    #[error("token already used")]
    AlreadyUsed,
    #[error("the count would overflow")]
    CountOverflow,
}

/// What a token does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpgKind {
    /// Add `value` (days × divider) of use.
    AddTime(u32),
    /// Set the remaining time to `value`.
    SetTime(u32),
    /// Unlock the device for good.
    DisablePayg,
    /// Resynchronise the device's count.
    CounterSync,
}

/// Token format options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpgFormat {
    /// 12 digits (values up to 999 999) instead of 9.
    pub extended: bool,
    /// Digits 1–4 only, for restricted keypads.
    pub restricted: bool,
}

/// A device's secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct OpgDevice {
    key: [u8; 16],
    starting_code: u64,
}

impl std::fmt::Debug for OpgDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpgDevice(..)")
    }
}

fn siphash(key: &[u8; 16], data: &[u8]) -> u64 {
    SipHasher24::new_with_key(key).hash(data)
}

/// Standard tokens: the 64-bit hash folded to 32 bits, then 30 bits, kept under 10⁹.
fn standard_next(key: &[u8; 16], code: u64) -> u64 {
    let word = (code as u32).to_be_bytes();
    let mut input = [0_u8; 8];
    input[..4].copy_from_slice(&word);
    input[4..].copy_from_slice(&word);
    fold_standard(siphash(key, &input))
}

fn fold_standard(hash: u64) -> u64 {
    let folded = ((hash >> 32) ^ (hash & 0xFFFF_FFFF)) >> 2;
    if folded > 999_999_999 { folded - 73_741_825 } else { folded }
}

/// Extended tokens: 40 bits of the hash, kept under 10¹².
fn extended_next(key: &[u8; 16], code: u64) -> u64 {
    let folded = siphash(key, &code.to_be_bytes()) >> 24;
    if folded > 999_999_999_999 { folded - 99_511_627_777 } else { folded }
}

struct Shape {
    offset: u64,
    bits: u32,
    plain_digits: usize,
    next: fn(&[u8; 16], u64) -> u64,
}

const STANDARD: Shape = Shape { offset: 1_000, bits: 30, plain_digits: 9, next: standard_next };
const EXTENDED: Shape = Shape { offset: 1_000_000, bits: 40, plain_digits: 12, next: extended_next };

impl Shape {
    fn with_base(&self, code: u64, base: u64) -> u64 {
        code - code % self.offset + base
    }

    fn render(&self, token: u64, restricted: bool) -> String {
        if !restricted {
            return format!("{token:0width$}", width = self.plain_digits);
        }
        (0..self.bits / 2).rev().map(|i| char::from(b'1' + ((token >> (2 * i)) & 0b11) as u8)).collect()
    }
}

impl OpgDevice {
    pub fn new(key: [u8; 16], starting_code: u64) -> Self {
        Self { key, starting_code }
    }

    /// Parses a 32-hex-digit key; without a starting code, derives it from the key as the reference does.
    pub fn from_hex(key_hex: &str, starting_code: Option<u64>) -> Result<Self, OpgError> {
        let bytes = crate::keys::parse_hex(key_hex.trim()).map_err(|_| OpgError::BadKey)?;
        let key: [u8; 16] = bytes.try_into().map_err(|_| OpgError::BadKey)?;
        let starting_code = starting_code.unwrap_or_else(|| fold_standard(siphash(&key, &key)));
        Ok(Self { key, starting_code })
    }

    pub fn starting_code(&self) -> u64 {
        self.starting_code
    }

    /// Encodes a token after the device's last count. Returns the new count and the digits.
    pub fn encode(&self, kind: OpgKind, last_count: u32, format: OpgFormat) -> Result<(u32, String), OpgError> {
        let shape = if format.extended { &EXTENDED } else { &STANDARD };
        let max = if format.extended { MAX_EXTENDED_VALUE } else { MAX_STANDARD_VALUE };
        let (value, odd) = match kind {
            OpgKind::AddTime(v) => (v, false),
            OpgKind::SetTime(v) => (v, true),
            OpgKind::DisablePayg => (DISABLE_VALUE, true),
            OpgKind::CounterSync => (SYNC_VALUE, true),
        };
        if matches!(kind, OpgKind::AddTime(_) | OpgKind::SetTime(_)) && value > max {
            return Err(OpgError::ValueTooHigh { value, max });
        }
        let start_base = self.starting_code % shape.offset;
        let base = (start_base + u64::from(value)) % shape.offset;
        // Even counts for ADD_TIME, odd for the others.
        let step = if (last_count % 2 == 1) == odd { 2 } else { 1 };
        let new_count = last_count.checked_add(step).ok_or(OpgError::CountOverflow)?;
        let mut code = shape.with_base(self.starting_code, base);
        for _ in 0..new_count {
            code = (shape.next)(&self.key, code);
        }
        Ok((new_count, shape.render(shape.with_base(code, base), format.restricted)))
    }
}

/// The device-side decoder: its last count and the counts used recently.
#[derive(Debug, Clone)]
pub struct OpgDecoder {
    device: OpgDevice,
    last_count: u32,
    used: BTreeSet<u32>,
    restricted: bool,
}

/// An accepted token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpgAccepted {
    pub kind: OpgKind,
    pub count: u32,
}

impl OpgDecoder {
    pub fn new(device: OpgDevice, last_count: u32, restricted: bool) -> Self {
        Self { device, last_count, used: BTreeSet::new(), restricted }
    }

    pub fn last_count(&self) -> u32 {
        self.last_count
    }

    /// Enters a token; on success the device state moves on, on failure it is unchanged.
    pub fn enter(&mut self, typed: &str) -> Result<OpgAccepted, OpgError> {
        let digits = typed.trim();
        let allowed = |b: u8| if self.restricted { (b'1'..=b'4').contains(&b) } else { b.is_ascii_digit() };
        if digits.is_empty() || !digits.bytes().all(allowed) {
            return Err(OpgError::Format(if self.restricted { "only digits 1–4" } else { "only digits" }));
        }
        let (shape, extended) = match (self.restricted, digits.len()) {
            (false, 1..=9) | (true, 1..=15) => (&STANDARD, false),
            (false, 10..=12) | (true, 16..=20) => (&EXTENDED, true),
            _ => return Err(OpgError::Format("too many digits")),
        };
        let token: u64 = if self.restricted {
            digits.bytes().fold(0, |acc, b| (acc << 2) | u64::from(b - b'1'))
        } else {
            digits.parse().map_err(|_| OpgError::Format("not a number"))?
        };
        let token_base = token % shape.offset;
        let start_base = self.device.starting_code % shape.offset;
        let value = ((token_base + shape.offset - start_base) % shape.offset) as u32;
        let sync = !extended && value == SYNC_VALUE;
        let jump = if sync { MAX_TOKEN_JUMP_COUNTER_SYNC } else { MAX_TOKEN_JUMP };
        let mut code = shape.with_base(self.device.starting_code, token_base);
        let mut seen_older = false;
        for count in 0..=self.last_count.saturating_add(jump) {
            if shape.with_base(code, token_base) == token {
                let kind = match (count % 2 == 1, extended, value) {
                    (false, _, v) => OpgKind::AddTime(v),
                    (true, false, SYNC_VALUE) => OpgKind::CounterSync,
                    (true, false, DISABLE_VALUE) => OpgKind::DisablePayg,
                    (true, _, v) => OpgKind::SetTime(v),
                };
                if self.count_is_valid(count, kind) {
                    self.mark_used(count, kind);
                    return Ok(OpgAccepted { kind, count });
                }
                seen_older = true;
            }
            code = (shape.next)(&self.device.key, code);
        }
        Err(if seen_older { OpgError::AlreadyUsed } else { OpgError::Invalid })
    }

    fn count_is_valid(&self, count: u32, kind: OpgKind) -> bool {
        if kind == OpgKind::CounterSync {
            return i64::from(count) > i64::from(self.last_count) - i64::from(MAX_TOKEN_JUMP);
        }
        if count > self.last_count {
            return true;
        }
        matches!(kind, OpgKind::AddTime(_))
            && i64::from(count) > i64::from(self.last_count) - i64::from(MAX_UNUSED_OLDER_TOKENS)
            && !self.used.contains(&count)
    }

    /// ADD_TIME marks only its own count used; any other kind invalidates every older count in the window.
    fn mark_used(&mut self, count: u32, kind: OpgKind) {
        let highest = self.last_count.max(count);
        let bottom = highest.saturating_sub(MAX_UNUSED_OLDER_TOKENS);
        if matches!(kind, OpgKind::AddTime(_)) {
            self.used.insert(count);
        } else {
            self.used.extend(bottom..=highest);
        }
        self.used.retain(|c| *c >= bottom);
        self.last_count = highest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> OpgDevice {
        OpgDevice::from_hex("bc41ec9530f6dac86b1a29ab82edc5fb", Some(516_959_010)).unwrap()
    }

    #[test]
    fn first_vector_and_round_trip() {
        let (count, token) = device().encode(OpgKind::AddTime(1), 1, OpgFormat::default()).unwrap();
        assert_eq!((count, token.as_str()), (2, "588224011"));
        let mut d = OpgDecoder::new(device(), 1, false);
        assert_eq!(d.enter(&token), Ok(OpgAccepted { kind: OpgKind::AddTime(1), count: 2 }));
        assert_eq!(d.enter(&token), Err(OpgError::AlreadyUsed), "reuse is refused");
        assert_eq!(d.enter("123456789"), Err(OpgError::Invalid));
        assert!(matches!(d.enter("12345x789"), Err(OpgError::Format(_))));
    }

    #[test]
    fn older_unused_add_time_is_accepted_until_a_set_time() {
        let dev = device();
        let f = OpgFormat::default();
        let (c1, t1) = dev.encode(OpgKind::AddTime(3), 0, f).unwrap();
        let (c2, t2) = dev.encode(OpgKind::AddTime(5), c1, f).unwrap();
        let (_, set) = dev.encode(OpgKind::SetTime(7), c2, f).unwrap();
        let mut d = OpgDecoder::new(dev.clone(), 0, false);
        assert_eq!(d.enter(&t2).unwrap().kind, OpgKind::AddTime(5));
        assert_eq!(d.enter(&t1).unwrap().kind, OpgKind::AddTime(3), "an older unused ADD_TIME still counts");
        let mut d = OpgDecoder::new(dev, 0, false);
        d.enter(&t2).unwrap();
        d.enter(&set).unwrap();
        assert_eq!(d.enter(&t1), Err(OpgError::AlreadyUsed), "SET_TIME invalidates older tokens");
    }

    #[test]
    fn restricted_and_extended_round_trip() {
        let dev = device();
        for format in [
            OpgFormat { extended: false, restricted: true },
            OpgFormat { extended: true, restricted: false },
            OpgFormat { extended: true, restricted: true },
        ] {
            let value = if format.extended { 123_456 } else { 995 };
            let (count, token) = dev.encode(OpgKind::SetTime(value), 10, format).unwrap();
            let mut d = OpgDecoder::new(dev.clone(), 10, format.restricted);
            assert_eq!(d.enter(&token), Ok(OpgAccepted { kind: OpgKind::SetTime(value), count }), "{format:?}");
        }
        assert_eq!(
            dev.encode(OpgKind::AddTime(996), 0, OpgFormat::default()),
            Err(OpgError::ValueTooHigh { value: 996, max: 995 })
        );
    }
}
