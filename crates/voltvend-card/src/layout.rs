//! Voltvend's card layout: the records in the application's binary EFs (byte offsets in `docs/cards.md`).
//!
//! The layout of prepaid-meter cards is utility- and vendor-specific and not public (the State Grid
//! Q/GDW 1365 family describes only its own ESAM flow), so this one is ours. Every record
//! * is a fixed-length image of its EF, all integers big-endian, strings ASCII right-padded with `00`;
//! * starts with a format version byte (`01`); an EF of all zero bytes is *blank* (created, never written);
//! * ends its body with a 4-byte MAC ([`crate::crypto`], IV = 0) over a one-byte record tag followed by the
//!   body, so that a torn write (a prefix of the new record over the old one) or a tampered record fails
//!   verification. The header, purchase and parameter records are MAC'd under the card's purchase key (the
//!   sales system writes them, the meter checks them); the return record under the card's return key (the
//!   meter writes it, the sales system checks it).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::crypto::Key;

/// The format version written in byte 0 of every record.
pub const FORMAT_VERSION: u8 = 1;

/// The card's unique 8-byte serial number, written by the card factory.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CardSerial(pub [u8; 8]);

impl fmt::Display for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02X}"))
    }
}

impl fmt::Debug for CardSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardSerial({self})")
    }
}

/// A card serial that is not 16 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a card serial is 16 hexadecimal digits")]
pub struct ParseSerialError;

impl FromStr for CardSerial {
    type Err = ParseSerialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseSerialError);
        }
        let mut out = [0u8; 8];
        for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| ParseSerialError)?;
            *o = u8::from_str_radix(text, 16).map_err(|_| ParseSerialError)?;
        }
        Ok(Self(out))
    }
}

/// What a card is for (the field card types of DESIGN.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardKind {
    /// The customer's purchase card (用户卡).
    User,
    /// Reads the controller's data back (检查卡).
    Check,
    /// Clears tamper, overpower and error state (复位卡).
    Reset,
    /// Zeroes credit and counters at commissioning (清零卡).
    Clear,
    /// Opens the account: writes the parameters and binds the meter (开户/参数卡).
    Parameter,
    /// Relay and display test (测试卡).
    Test,
}

impl CardKind {
    pub fn code(self) -> u8 {
        match self {
            Self::User => 1,
            Self::Check => 2,
            Self::Reset => 3,
            Self::Clear => 4,
            Self::Parameter => 5,
            Self::Test => 6,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::User,
            2 => Self::Check,
            3 => Self::Reset,
            4 => Self::Clear,
            5 => Self::Parameter,
            6 => Self::Test,
            _ => return None,
        })
    }
}

/// The unit of a quantity on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantityUnit {
    /// Electricity, watt-hours.
    EnergyWh,
    /// Water, litres.
    WaterL,
    /// Money, minor units (fen, cents).
    MoneyMinor,
}

impl QuantityUnit {
    pub fn code(self) -> u8 {
        match self {
            Self::EnergyWh => 1,
            Self::WaterL => 2,
            Self::MoneyMinor => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::EnergyWh,
            2 => Self::WaterL,
            3 => Self::MoneyMinor,
            _ => return None,
        })
    }
}

/// Why a record cannot be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LayoutError {
    #[error("the record is blank (never written)")]
    Blank,
    #[error("the record is {got} bytes, expected {expected}")]
    WrongLength { expected: usize, got: usize },
    #[error("unknown record format version {0}")]
    UnknownVersion(u8),
    #[error("the record's MAC does not verify (torn or tampered write)")]
    BadMac,
    #[error("the field `{0}` is invalid")]
    BadField(&'static str),
}

/// Builds a record image of a fixed length.
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn new() -> Self {
        Self { buf: vec![FORMAT_VERSION] }
    }

    fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    fn ascii(&mut self, field: &'static str, v: &str) -> Result<&mut Self, LayoutError> {
        if v.len() > 16 || !v.bytes().all(|b| (0x20..0x7F).contains(&b)) {
            return Err(LayoutError::BadField(field));
        }
        let mut padded = [0u8; 16];
        padded.iter_mut().zip(v.bytes()).for_each(|(o, b)| *o = b);
        Ok(self.bytes(&padded))
    }

    /// Appends the MAC over `tag ‖ body so far` and pads to `len`.
    fn seal(&mut self, tag: u8, key: &Key, len: usize) -> Vec<u8> {
        let mut input = vec![tag];
        input.extend_from_slice(&self.buf);
        let mac = key.mac(&[], &input);
        self.buf.extend_from_slice(&mac);
        let mut out = std::mem::take(&mut self.buf);
        out.resize(len, 0);
        out
    }
}

/// Reads a record image, checking its length, version and MAC first.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// `body_len` counts the version byte and the fields, not the MAC.
    fn open(bytes: &'a [u8], len: usize, body_len: usize, tag: u8, key: &Key) -> Result<Self, LayoutError> {
        if bytes.len() != len {
            return Err(LayoutError::WrongLength { expected: len, got: bytes.len() });
        }
        if bytes.iter().all(|b| *b == 0) {
            return Err(LayoutError::Blank);
        }
        let body = bytes.get(..body_len).ok_or(LayoutError::WrongLength { expected: len, got: bytes.len() })?;
        let mac = bytes.get(body_len..body_len + 4).ok_or(LayoutError::WrongLength { expected: len, got: len })?;
        match body.first() {
            Some(&FORMAT_VERSION) => {}
            Some(v) => return Err(LayoutError::UnknownVersion(*v)),
            None => return Err(LayoutError::Blank),
        }
        let mut input = vec![tag];
        input.extend_from_slice(body);
        if key.mac(&[], &input) != mac {
            return Err(LayoutError::BadMac);
        }
        Ok(Self { rest: body.get(1..).unwrap_or_default() })
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], LayoutError> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(LayoutError::BadField("length"))?;
        self.rest = tail;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, LayoutError> {
        Ok(u8::from_be_bytes(self.take()?))
    }

    fn u16(&mut self) -> Result<u16, LayoutError> {
        Ok(u16::from_be_bytes(self.take()?))
    }

    fn u32(&mut self) -> Result<u32, LayoutError> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    fn u64(&mut self) -> Result<u64, LayoutError> {
        Ok(u64::from_be_bytes(self.take()?))
    }

    fn i64(&mut self) -> Result<i64, LayoutError> {
        Ok(i64::from_be_bytes(self.take()?))
    }

    fn flag(&mut self, field: &'static str) -> Result<bool, LayoutError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(LayoutError::BadField(field)),
        }
    }

    fn ascii(&mut self, field: &'static str) -> Result<String, LayoutError> {
        let raw: [u8; 16] = self.take()?;
        let end = raw.iter().position(|b| *b == 0).unwrap_or(16);
        let (text, pad) = raw.split_at(end);
        if !text.iter().all(|b| (0x20..0x7F).contains(b)) || pad.iter().any(|b| *b != 0) {
            return Err(LayoutError::BadField(field));
        }
        String::from_utf8(text.to_vec()).map_err(|_| LayoutError::BadField(field))
    }
}

/// The header EF (`0001`): who and what the card is for. 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: CardKind,
    /// The card's own serial (must equal the factory serial; a header copied onto another card is refused).
    pub serial: CardSerial,
    pub utility_code: u32,
    /// At most 16 printable ASCII characters.
    pub customer_no: String,
    /// At most 16 printable ASCII characters; empty on service cards that work on any meter.
    pub meter_no: String,
    /// 0 on first issue, +1 per reissue (补卡).
    pub generation: u8,
    /// The card this one replaces, on a reissue.
    pub replaces: Option<CardSerial>,
}

impl Header {
    pub const LEN: usize = 64;
    const BODY_LEN: usize = 56;
    const TAG: u8 = b'H';

    pub fn encode(&self, purchase_key: &Key) -> Result<Vec<u8>, LayoutError> {
        let mut w = Writer::new();
        w.u8(self.kind.code()).bytes(&self.serial.0).bytes(&self.utility_code.to_be_bytes());
        w.ascii("customer_no", &self.customer_no)?.ascii("meter_no", &self.meter_no)?;
        w.u8(self.generation).u8(u8::from(self.replaces.is_some())).bytes(&self.replaces.unwrap_or_default().0);
        Ok(w.seal(Self::TAG, purchase_key, Self::LEN))
    }

    pub fn decode(bytes: &[u8], purchase_key: &Key) -> Result<Self, LayoutError> {
        let mut r = Reader::open(bytes, Self::LEN, Self::BODY_LEN, Self::TAG, purchase_key)?;
        let kind = CardKind::from_code(r.u8()?).ok_or(LayoutError::BadField("kind"))?;
        let serial = CardSerial(r.take()?);
        let utility_code = r.u32()?;
        let customer_no = r.ascii("customer_no")?;
        let meter_no = r.ascii("meter_no")?;
        let generation = r.u8()?;
        let has_replaces = r.flag("replaces")?;
        let replaced = CardSerial(r.take()?);
        Ok(Self {
            kind,
            serial,
            utility_code,
            customer_no,
            meter_no,
            generation,
            replaces: has_replaces.then_some(replaced),
        })
    }
}

/// The purchase EF (`0002`): the latest sale written by the sales system. 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purchase {
    /// Purchases written for this meter account so far; the meter loads count = its last + 1 only.
    pub count: u32,
    pub unit: QuantityUnit,
    /// The amount bought, in `unit`.
    pub quantity: u64,
    pub at_unix_s: u32,
}

impl Purchase {
    pub const LEN: usize = 32;
    const BODY_LEN: usize = 18;
    const TAG: u8 = b'P';

    pub fn encode(&self, purchase_key: &Key) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(&self.count.to_be_bytes()).u8(self.unit.code()).bytes(&self.quantity.to_be_bytes());
        w.bytes(&self.at_unix_s.to_be_bytes());
        w.seal(Self::TAG, purchase_key, Self::LEN)
    }

    pub fn decode(bytes: &[u8], purchase_key: &Key) -> Result<Self, LayoutError> {
        let mut r = Reader::open(bytes, Self::LEN, Self::BODY_LEN, Self::TAG, purchase_key)?;
        let count = r.u32()?;
        let unit = QuantityUnit::from_code(r.u8()?).ok_or(LayoutError::BadField("unit"))?;
        Ok(Self { count, unit, quantity: r.u64()?, at_unix_s: r.u32()? })
    }
}

/// The parameter EF (`0003`): the controller's settings, written by the open-account card. 64 bytes.
/// Thresholds are in `unit` (Wh, litres or minor money), like the controller's credit register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameters {
    pub unit: QuantityUnit,
    pub alarm1: i64,
    pub alarm2: i64,
    pub overdraft_limit: i64,
    pub hoarding_limit: Option<i64>,
    pub power_limit_w: Option<u32>,
    /// Flat price in micro-units of money per kWh (money-mode meters; 0 = keep the meter's price table).
    pub price_micro_per_kwh: i64,
    /// Friendly night `[start, end)` in local minutes of day, may wrap midnight.
    pub friendly_night_min: Option<(u16, u16)>,
}

impl Parameters {
    pub const LEN: usize = 64;
    const BODY_LEN: usize = 53;
    const TAG: u8 = b'S';

    pub fn encode(&self, purchase_key: &Key) -> Result<Vec<u8>, LayoutError> {
        let (has_night, (start, end)) = match self.friendly_night_min {
            Some((s, e)) if s < 1440 && e < 1440 => (1, (s, e)),
            Some(_) => return Err(LayoutError::BadField("friendly_night_min")),
            None => (0, (0, 0)),
        };
        let mut w = Writer::new();
        w.u8(self.unit.code()).bytes(&self.alarm1.to_be_bytes()).bytes(&self.alarm2.to_be_bytes());
        w.bytes(&self.overdraft_limit.to_be_bytes());
        w.u8(u8::from(self.hoarding_limit.is_some())).bytes(&self.hoarding_limit.unwrap_or(0).to_be_bytes());
        w.u8(u8::from(self.power_limit_w.is_some())).bytes(&self.power_limit_w.unwrap_or(0).to_be_bytes());
        w.bytes(&self.price_micro_per_kwh.to_be_bytes());
        w.u8(has_night).bytes(&start.to_be_bytes()).bytes(&end.to_be_bytes());
        Ok(w.seal(Self::TAG, purchase_key, Self::LEN))
    }

    pub fn decode(bytes: &[u8], purchase_key: &Key) -> Result<Self, LayoutError> {
        let mut r = Reader::open(bytes, Self::LEN, Self::BODY_LEN, Self::TAG, purchase_key)?;
        let unit = QuantityUnit::from_code(r.u8()?).ok_or(LayoutError::BadField("unit"))?;
        let (alarm1, alarm2, overdraft_limit) = (r.i64()?, r.i64()?, r.i64()?);
        let hoarding = (r.flag("hoarding_limit")?, r.i64()?);
        let power = (r.flag("power_limit_w")?, r.u32()?);
        let price_micro_per_kwh = r.i64()?;
        let night = (r.flag("friendly_night_min")?, r.u16()?, r.u16()?);
        if night.1 >= 1440 || night.2 >= 1440 {
            return Err(LayoutError::BadField("friendly_night_min"));
        }
        Ok(Self {
            unit,
            alarm1,
            alarm2,
            overdraft_limit,
            hoarding_limit: hoarding.0.then_some(hoarding.1),
            power_limit_w: power.0.then_some(power.1),
            price_micro_per_kwh,
            friendly_night_min: night.0.then_some((night.1, night.2)),
        })
    }
}

/// The return EF (`0004`): what the meter wrote back for the sales system (返写). 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnData {
    pub meter_no: String,
    /// The last purchase count the meter loaded.
    pub last_count: u32,
    pub unit: QuantityUnit,
    /// Credit left in the meter, in `unit` (negative while in overdraft).
    pub remaining: i64,
    pub total_used_wh: u64,
    pub relay_open: bool,
    pub tamper: bool,
    /// Up to 8 recent display error codes (the `NN` of `Err-NN`), oldest first.
    pub events: Vec<u8>,
    pub at_unix_s: u32,
}

impl ReturnData {
    pub const LEN: usize = 64;
    pub const EVENTS_MAX: usize = 8;
    const BODY_LEN: usize = 52;
    const TAG: u8 = b'R';

    pub fn encode(&self, return_key: &Key) -> Result<Vec<u8>, LayoutError> {
        if self.events.len() > Self::EVENTS_MAX {
            return Err(LayoutError::BadField("events"));
        }
        let mut events = [0u8; Self::EVENTS_MAX];
        events.iter_mut().zip(&self.events).for_each(|(o, e)| *o = *e);
        let mut w = Writer::new();
        w.ascii("meter_no", &self.meter_no)?;
        w.bytes(&self.last_count.to_be_bytes()).u8(self.unit.code()).bytes(&self.remaining.to_be_bytes());
        w.bytes(&self.total_used_wh.to_be_bytes());
        w.u8(u8::from(self.relay_open) | (u8::from(self.tamper) << 1));
        w.u8(self.events.len() as u8).bytes(&events).bytes(&self.at_unix_s.to_be_bytes());
        Ok(w.seal(Self::TAG, return_key, Self::LEN))
    }

    pub fn decode(bytes: &[u8], return_key: &Key) -> Result<Self, LayoutError> {
        let mut r = Reader::open(bytes, Self::LEN, Self::BODY_LEN, Self::TAG, return_key)?;
        let meter_no = r.ascii("meter_no")?;
        let last_count = r.u32()?;
        let unit = QuantityUnit::from_code(r.u8()?).ok_or(LayoutError::BadField("unit"))?;
        let (remaining, total_used_wh) = (r.i64()?, r.u64()?);
        let flags = r.u8()?;
        if flags & !0b11 != 0 {
            return Err(LayoutError::BadField("flags"));
        }
        let n = usize::from(r.u8()?);
        let all: [u8; Self::EVENTS_MAX] = r.take()?;
        if n > Self::EVENTS_MAX {
            return Err(LayoutError::BadField("events"));
        }
        Ok(Self {
            meter_no,
            last_count,
            unit,
            remaining,
            total_used_wh,
            relay_open: flags & 1 != 0,
            tamper: flags & 2 != 0,
            events: all.iter().copied().take(n).collect(),
            at_unix_s: r.u32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Algorithm;

    fn key() -> Key {
        Key::new(Algorithm::Sm4, [3; 16])
    }

    pub(crate) fn header() -> Header {
        Header {
            kind: CardKind::User,
            serial: "0102030405060708".parse().unwrap(),
            utility_code: 4401,
            customer_no: "C-000123".into(),
            meter_no: "MTR-0042".into(),
            generation: 1,
            replaces: Some(CardSerial([9; 8])),
        }
    }

    #[test]
    fn serial_text() {
        let s = CardSerial([0xAB, 1, 2, 3, 4, 5, 6, 0xEF]);
        assert_eq!(s.to_string(), "AB010203040506EF");
        assert_eq!("ab010203040506ef".parse(), Ok(s));
        assert_eq!("AB01".parse::<CardSerial>(), Err(ParseSerialError));
        assert_eq!("+B010203040506EF".parse::<CardSerial>(), Err(ParseSerialError));
        assert_eq!("ÀB0102030405060".parse::<CardSerial>(), Err(ParseSerialError));
    }

    #[test]
    fn records_round_trip_and_fail_closed() {
        let k = key();
        let h = header();
        let bytes = h.encode(&k).unwrap();
        assert_eq!(bytes.len(), Header::LEN);
        assert_eq!(Header::decode(&bytes, &k), Ok(h.clone()));
        let p = Purchase { count: 7, unit: QuantityUnit::EnergyWh, quantity: 123_000, at_unix_s: 1_790_000_000 };
        let pb = p.encode(&k);
        assert_eq!(Purchase::decode(&pb, &k), Ok(p));
        let s = Parameters {
            unit: QuantityUnit::MoneyMinor,
            alarm1: 5_000,
            alarm2: 1_000,
            overdraft_limit: 500,
            hoarding_limit: Some(1_000_000),
            power_limit_w: None,
            price_micro_per_kwh: 568_000,
            friendly_night_min: Some((1200, 480)),
        };
        assert_eq!(Parameters::decode(&s.encode(&k).unwrap(), &k), Ok(s));
        let r = ReturnData {
            meter_no: "MTR-0042".into(),
            last_count: 7,
            unit: QuantityUnit::EnergyWh,
            remaining: -200,
            total_used_wh: 9_999,
            relay_open: true,
            tamper: false,
            events: vec![8, 11],
            at_unix_s: 5,
        };
        assert_eq!(ReturnData::decode(&r.encode(&k).unwrap(), &k), Ok(r.clone()));

        // Errors: blank, wrong length, bad MAC (torn: a new prefix over an old record), wrong key, bad fields.
        assert_eq!(Purchase::decode(&[0; 32], &k), Err(LayoutError::Blank));
        assert_eq!(Purchase::decode(&pb[..31], &k), Err(LayoutError::WrongLength { expected: 32, got: 31 }));
        let newer = Purchase { count: 8, quantity: 5, ..p }.encode(&k);
        let mut torn = newer[..10].to_vec();
        torn.extend_from_slice(&pb[10..]);
        assert_eq!(Purchase::decode(&torn, &k), Err(LayoutError::BadMac));
        assert_eq!(Purchase::decode(&pb, &Key::new(Algorithm::Sm4, [4; 16])), Err(LayoutError::BadMac));
        let mut v2 = pb.clone();
        v2[0] = 2;
        assert_eq!(Purchase::decode(&v2, &k), Err(LayoutError::UnknownVersion(2)));
        assert_eq!(
            Header { customer_no: "x".repeat(17), ..h.clone() }.encode(&k),
            Err(LayoutError::BadField("customer_no"))
        );
        assert_eq!(Header { meter_no: "é".into(), ..h }.encode(&k), Err(LayoutError::BadField("meter_no")));
        assert!(ReturnData { events: vec![1; 9], ..r }.encode(&k).is_err());
        assert!(Parameters { friendly_night_min: Some((1440, 0)), ..s }.encode(&k).is_err());
        // A record of one kind never verifies as another (the tag is under the MAC).
        let mut as_params = pb.clone();
        as_params.resize(64, 0);
        assert!(Parameters::decode(&as_params, &k).is_err());
    }
}
