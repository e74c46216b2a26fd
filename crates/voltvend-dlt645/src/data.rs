//! Data identifiers and value formats (DL/T 645-2007 appendix A; PROTOCOLS.md §3.4).
//!
//! Values are BCD, least significant byte first, with an implied decimal point given by the identifier's format
//! (`XXXXXX.XX` kWh is four bytes with two decimals). Signed quantities carry the sign in the top bit of the
//! most significant byte. A DI is written DI3.DI2.DI1.DI0 (`00010000`) and sent DI0 first.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DataError {
    #[error("byte {0:#04x} is not BCD")]
    NotBcd(u8),
    #[error("expected {expected} value bytes, got {got}")]
    Length { expected: usize, got: usize },
    #[error("value does not fit the format")]
    OutOfRange,
}

/// How a value is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Unsigned BCD with `decimals` implied decimals.
    Unsigned { bytes: u8, decimals: u8 },
    /// BCD whose most significant bit is the sign.
    Signed { bytes: u8, decimals: u8 },
    /// Raw bytes (status words, addresses, dates in YYMMDDWW / hhmmss BCD).
    Raw { bytes: u8 },
}

impl Format {
    pub const fn len(&self) -> usize {
        match self {
            Self::Unsigned { bytes, .. } | Self::Signed { bytes, .. } | Self::Raw { bytes } => *bytes as usize,
        }
    }

    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoded value: a scaled integer (`raw` / 10^decimals), or raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Decimal { raw: i64, decimals: u8 },
    Bytes(Vec<u8>),
}

impl Value {
    /// The value as a decimal string (`"0.26"`), or hex for raw bytes (most significant first).
    pub fn to_string_value(&self) -> String {
        match self {
            Self::Decimal { raw, decimals } => {
                let d = u32::from(*decimals);
                let sign = if *raw < 0 { "-" } else { "" };
                let m = raw.unsigned_abs();
                if d == 0 {
                    return format!("{sign}{m}");
                }
                let p = 10_u64.pow(d);
                format!("{sign}{}.{:0w$}", m / p, m % p, w = d as usize)
            }
            Self::Bytes(b) => b.iter().rev().map(|x| format!("{x:02X}")).collect(),
        }
    }
}

/// BCD bytes (least significant first) to an integer.
pub fn bcd_to_u64(bytes: &[u8]) -> Result<u64, DataError> {
    let mut v: u64 = 0;
    for b in bytes.iter().rev() {
        let (hi, lo) = (b >> 4, b & 0x0F);
        if hi > 9 || lo > 9 {
            return Err(DataError::NotBcd(*b));
        }
        v = v.checked_mul(100).and_then(|v| v.checked_add(u64::from(hi * 10 + lo))).ok_or(DataError::OutOfRange)?;
    }
    Ok(v)
}

/// An integer to `len` BCD bytes, least significant first.
pub fn u64_to_bcd(mut v: u64, len: usize) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::with_capacity(len);
    for _ in 0..len {
        let pair = (v % 100) as u8;
        out.push(((pair / 10) << 4) | (pair % 10));
        v /= 100;
    }
    if v != 0 {
        return Err(DataError::OutOfRange);
    }
    Ok(out)
}

pub fn decode(format: Format, bytes: &[u8]) -> Result<Value, DataError> {
    if bytes.len() != format.len() {
        return Err(DataError::Length { expected: format.len(), got: bytes.len() });
    }
    match format {
        Format::Unsigned { decimals, .. } => {
            let raw = i64::try_from(bcd_to_u64(bytes)?).map_err(|_| DataError::OutOfRange)?;
            Ok(Value::Decimal { raw, decimals })
        }
        Format::Signed { decimals, .. } => {
            let mut b = bytes.to_vec();
            let negative = b.last().is_some_and(|x| x & 0x80 != 0);
            if let Some(top) = b.last_mut() {
                *top &= 0x7F;
            }
            let magnitude = i64::try_from(bcd_to_u64(&b)?).map_err(|_| DataError::OutOfRange)?;
            Ok(Value::Decimal { raw: if negative { -magnitude } else { magnitude }, decimals })
        }
        Format::Raw { .. } => Ok(Value::Bytes(bytes.to_vec())),
    }
}

pub fn encode(format: Format, value: &Value) -> Result<Vec<u8>, DataError> {
    match (format, value) {
        (Format::Unsigned { bytes, decimals }, Value::Decimal { raw, decimals: d }) if *d == decimals && *raw >= 0 => {
            u64_to_bcd(raw.unsigned_abs(), usize::from(bytes))
        }
        (Format::Signed { bytes, decimals }, Value::Decimal { raw, decimals: d }) if *d == decimals => {
            let mut out = u64_to_bcd(raw.unsigned_abs(), usize::from(bytes))?;
            if out.last().is_some_and(|t| t & 0x80 != 0) {
                return Err(DataError::OutOfRange);
            }
            if *raw < 0
                && let Some(top) = out.last_mut()
            {
                *top |= 0x80;
            }
            Ok(out)
        }
        (Format::Raw { bytes }, Value::Bytes(b)) if b.len() == usize::from(bytes) => Ok(b.clone()),
        _ => Err(DataError::OutOfRange),
    }
}

/// A data identifier the system knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataId {
    pub di: u32,
    pub name: &'static str,
    pub format: Format,
    pub unit: &'static str,
}

const fn u(bytes: u8, decimals: u8) -> Format {
    Format::Unsigned { bytes, decimals }
}
const fn s(bytes: u8, decimals: u8) -> Format {
    Format::Signed { bytes, decimals }
}
const fn raw(bytes: u8) -> Format {
    Format::Raw { bytes }
}

/// The identifiers a prepaid system reads and writes. Formats of the prepayment identifiers are from several
/// independent meter firmwares' tables (PROTOCOLS.md §3.4). The rate word (04000703), the first set of rate
/// prices (0405010N), maximum demand
/// (0101xxxx), instant freeze (0501xxxx) and event count (0330xx00) identifiers are from the standard's
/// appendix A as its readers quote it, with no public frame to check them: [unverified].
#[rustfmt::skip]
pub const TABLE: &[DataId] = &[
    DataId { di: 0x0000_0000, name: "combined active energy total", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0001_0000, name: "forward active energy total", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0001_0100, name: "forward active energy tariff 1 (sharp)", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0001_0200, name: "forward active energy tariff 2 (peak)", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0001_0300, name: "forward active energy tariff 3 (flat)", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0001_0400, name: "forward active energy tariff 4 (valley)", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0001_FF00, name: "forward active energy block (total, tariffs 1-4)", format: raw(20), unit: "kWh" },
    DataId { di: 0x0002_0000, name: "reverse active energy total", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0003_0000, name: "combined reactive energy 1 total", format: u(4, 2), unit: "kvarh" },
    DataId { di: 0x0004_0000, name: "combined reactive energy 2 total", format: u(4, 2), unit: "kvarh" },
    DataId { di: 0x0201_0100, name: "voltage phase A", format: u(2, 1), unit: "V" },
    DataId { di: 0x0201_0200, name: "voltage phase B", format: u(2, 1), unit: "V" },
    DataId { di: 0x0201_0300, name: "voltage phase C", format: u(2, 1), unit: "V" },
    DataId { di: 0x0202_0100, name: "current phase A", format: s(3, 3), unit: "A" },
    DataId { di: 0x0202_0200, name: "current phase B", format: s(3, 3), unit: "A" },
    DataId { di: 0x0202_0300, name: "current phase C", format: s(3, 3), unit: "A" },
    DataId { di: 0x0203_0000, name: "active power total", format: s(3, 4), unit: "kW" },
    DataId { di: 0x0203_0100, name: "active power phase A", format: s(3, 4), unit: "kW" },
    DataId { di: 0x0204_0000, name: "reactive power total", format: s(3, 4), unit: "kvar" },
    DataId { di: 0x0205_0000, name: "apparent power total", format: s(3, 4), unit: "kVA" },
    DataId { di: 0x0206_0000, name: "power factor total", format: s(2, 3), unit: "" },
    DataId { di: 0x0280_0002, name: "grid frequency", format: u(2, 2), unit: "Hz" },
    DataId { di: 0x0280_0020, name: "current electricity price", format: u(4, 4), unit: "yuan/kWh" },
    DataId { di: 0x0400_0101, name: "date and weekday (YYMMDDWW)", format: raw(4), unit: "" },
    DataId { di: 0x0400_0102, name: "time (hhmmss)", format: raw(3), unit: "" },
    DataId { di: 0x0400_0401, name: "communication address", format: raw(6), unit: "" },
    DataId { di: 0x0400_0501, name: "running status word 1", format: raw(2), unit: "" },
    DataId { di: 0x0400_0503, name: "running status word 3 (relay, prepayment)", format: raw(2), unit: "" },
    DataId { di: 0x0400_0F01, name: "alarm energy 1", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0400_0F02, name: "alarm energy 2", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0400_0F03, name: "hoarding limit", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0400_0F04, name: "overdraft limit", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0090_0100, name: "remaining energy", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0090_0101, name: "overdraft energy", format: u(4, 2), unit: "kWh" },
    DataId { di: 0x0090_0200, name: "remaining money", format: u(4, 2), unit: "yuan" },
    DataId { di: 0x0090_0201, name: "overdraft money", format: u(4, 2), unit: "yuan" },
    DataId { di: 0x0400_0703, name: "RS-485 port 1 rate feature word", format: raw(1), unit: "" },
    DataId { di: 0x0405_0101, name: "first rate price set, tariff 1 (sharp)", format: u(4, 4), unit: "yuan/kWh" },
    DataId { di: 0x0405_0102, name: "first rate price set, tariff 2 (peak)", format: u(4, 4), unit: "yuan/kWh" },
    DataId { di: 0x0405_0103, name: "first rate price set, tariff 3 (flat)", format: u(4, 4), unit: "yuan/kWh" },
    DataId { di: 0x0405_0104, name: "first rate price set, tariff 4 (valley)", format: u(4, 4), unit: "yuan/kWh" },
    DataId { di: 0x0101_0000, name: "forward active maximum demand total and its time (XX.XXXX kW, YYMMDDhhmm)", format: raw(8), unit: "" },
    DataId { di: 0x0501_0001, name: "last instant freeze time (YYMMDDhhmm)", format: raw(5), unit: "" },
    DataId { di: 0x0501_0101, name: "last instant freeze forward active energy (total, tariffs 1-4)", format: raw(20), unit: "kWh" },
    DataId { di: 0x0330_0000, name: "programming events total count", format: u(3, 0), unit: "" },
    DataId { di: 0x0330_0100, name: "meter clear events total count", format: u(3, 0), unit: "" },
    DataId { di: 0x0330_0200, name: "maximum demand clear events total count", format: u(3, 0), unit: "" },
    DataId { di: 0x0330_0300, name: "event clear events total count", format: u(3, 0), unit: "" },
    DataId { di: 0x0330_0400, name: "time set events total count", format: u(3, 0), unit: "" },
    DataId { di: 0x0333_0201, name: "purchase count after last purchase", format: u(2, 0), unit: "" },
    DataId { di: 0x0333_0601, name: "cumulative purchased money after last purchase", format: u(4, 2), unit: "yuan" },
    DataId { di: 0x0332_0601, name: "cumulative purchased energy after last purchase", format: u(4, 2), unit: "kWh" },
];

pub fn lookup(di: u32) -> Option<&'static DataId> {
    TABLE.iter().find(|d| d.di == di)
}

/// The DI from its four wire bytes (DI0 first).
pub fn di_from_wire(bytes: &[u8]) -> Option<u32> {
    let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

pub fn di_to_wire(di: u32) -> [u8; 4] {
    di.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bcd_and_signs() {
        assert_eq!(bcd_to_u64(&[0x26, 0x00, 0x00, 0x00]).unwrap(), 26);
        assert_eq!(decode(u(4, 2), &[0x26, 0x01, 0x00, 0x00]).unwrap().to_string_value(), "1.26");
        assert_eq!(decode(s(3, 3), &[0x34, 0x12, 0x80]).unwrap().to_string_value(), "-1.234");
        assert!(matches!(bcd_to_u64(&[0x1A]), Err(DataError::NotBcd(0x1A))));
        assert!(decode(u(4, 2), &[0; 3]).is_err());
        assert!(u64_to_bcd(100, 1).is_err());
    }

    proptest! {
        #[test]
        fn values_round_trip(raw in -799_999_i64..800_000, idx in 0_usize..TABLE.len()) {
            let d = TABLE[idx];
            let v = match d.format {
                Format::Unsigned { decimals, .. } => Value::Decimal { raw: raw.abs(), decimals },
                Format::Signed { decimals, .. } => Value::Decimal { raw, decimals },
                Format::Raw { bytes } => Value::Bytes(vec![raw as u8; usize::from(bytes)]),
            };
            if let Ok(bytes) = encode(d.format, &v) {
                prop_assert_eq!(decode(d.format, &bytes).unwrap(), v);
            }
        }
    }
}
