//! Reading a DL/T 645-2007 meter: its forward active energy registers (total and the four tariff registers),
//! its status word 3 (the supply switch and keep-power), its clock; and mapping the tariff registers onto the
//! periods of the tariff the meter is billed on.
//!
//! Data identifiers (DL/T 645-2007 appendix A): 0001FF00 forward active energy, 00010000 total and
//! 00010100–00010400 tariffs 1–4 (XXXXXX.XX kWh); 04000503 status word 3; 04000101/04000102 date and time.
//! Tariffs 1–4 are sharp (尖), peak (峰), flat (平) and valley (谷), the numbering China's TOU schemes use.

use std::time::Duration;

use jiff::Timestamp;
use voltvend_dlt645::data::{self, Value};
use voltvend_dlt645::{Address, Reply, Request};
use voltvend_domain::tariff::pricing::Registers;
use voltvend_ops::{MeterReport, Relay};

use crate::link::{Bus, LinkError};

pub const DI_TOTAL: u32 = 0x0001_0000;
pub const DI_TARIFFS: [u32; 4] = [0x0001_0100, 0x0001_0200, 0x0001_0300, 0x0001_0400];
pub const DI_STATUS_3: u32 = 0x0400_0503;
pub const DI_DATE: u32 = 0x0400_0101;
pub const DI_TIME: u32 = 0x0400_0102;
/// Energy registers are XXXXXX.XX kWh: after 999 999.99 kWh they start again at zero.
pub const REGISTER_WRAP_WH: i64 = 1_000_000_000;
/// The names of tariffs 1–4.
pub const TARIFF_NAMES: [&str; 4] = ["sharp", "peak", "flat", "valley"];

/// Status word 3: bit 4 the relay is open, bit 8 keep-power is on (DL/T 645-2007 A.4) [unverified against a
/// real meter: no public frame with an expected result].
pub const STATUS_3_RELAY_OPEN: u16 = 1 << 4;
pub const STATUS_3_KEEP_POWER: u16 = 1 << 8;

/// What the meter's status word says of its supply.
pub fn report_of(word: u16, at: Timestamp) -> MeterReport {
    MeterReport {
        at,
        relay: Some(if word & STATUS_3_RELAY_OPEN != 0 { Relay::Open } else { Relay::Closed }),
        keep_power: Some(word & STATUS_3_KEEP_POWER != 0),
    }
}

fn malformed(address: Address, why: impl Into<String>) -> LinkError {
    LinkError::Malformed { address: address.to_string(), why: why.into() }
}

/// The value bytes of a read.
async fn read(bus: &Bus, address: Address, di: u32, timeout: Duration) -> Result<Vec<u8>, LinkError> {
    match bus.request(address, Request::Read { di }, timeout).await? {
        Some(Reply::Data { value, .. }) => Ok(value),
        other => Err(malformed(address, format!("a read of {di:08X} answered {other:?}"))),
    }
}

/// A register in Wh.
pub async fn read_wh(bus: &Bus, address: Address, di: u32, timeout: Duration) -> Result<i64, LinkError> {
    let bytes = read(bus, address, di, timeout).await?;
    let id = data::lookup(di).ok_or_else(|| malformed(address, format!("{di:08X} is not an energy register")))?;
    match data::decode(id.format, &bytes) {
        Ok(Value::Decimal { raw, decimals }) if decimals <= 3 => {
            Ok(raw.saturating_mul(10_i64.pow(3 - u32::from(decimals))))
        }
        Ok(other) => Err(malformed(address, format!("{di:08X} is not in kWh: {other:?}"))),
        Err(e) => Err(malformed(address, format!("{di:08X}: {e}"))),
    }
}

pub async fn read_status_3(bus: &Bus, address: Address, timeout: Duration) -> Result<u16, LinkError> {
    let bytes = read(bus, address, DI_STATUS_3, timeout).await?;
    match bytes.as_slice() {
        [lo, hi] => Ok(u16::from_le_bytes([*lo, *hi])),
        _ => Err(malformed(address, "status word 3 is two bytes")),
    }
}

/// The meter's clock, as a civil date and time (its local time).
pub async fn read_clock(bus: &Bus, address: Address, timeout: Duration) -> Result<jiff::civil::DateTime, LinkError> {
    let date = read(bus, address, DI_DATE, timeout).await?;
    let time = read(bus, address, DI_TIME, timeout).await?;
    let bcd = |b: u8| i8::try_from((b >> 4) * 10 + (b & 0x0F)).unwrap_or(-1);
    match (date.as_slice(), time.as_slice()) {
        // YYMMDDWW and hhmmss, least significant byte first.
        ([_, dd, mo, yy], [ss, mm, hh]) => {
            jiff::civil::DateTime::new(2000 + i16::from(bcd(*yy)), bcd(*mo), bcd(*dd), bcd(*hh), bcd(*mm), bcd(*ss), 0)
                .map_err(|e| malformed(address, format!("the meter's clock: {e}")))
        }
        _ => Err(malformed(address, "the date is four bytes and the time three")),
    }
}

/// The balance a meter shows (remaining money, XXXXXX.XX) and its first set of rate prices, tariffs 1–4
/// (XXXX.XXXX per kWh; 0405010N from the standard's appendix A as its readers quote it: [unverified]).
pub const DI_REMAINING_MONEY: u32 = 0x0090_0200;
pub const DI_RATE_PRICES: [u32; 4] = [0x0405_0101, 0x0405_0102, 0x0405_0103, 0x0405_0104];

/// A decimal value's raw digits (hundredths for XXXXXX.XX, ten-thousandths for XXXX.XXXX).
pub async fn read_raw(bus: &Bus, address: Address, di: u32, timeout: Duration) -> Result<i64, LinkError> {
    let bytes = read(bus, address, di, timeout).await?;
    let id = data::lookup(di).ok_or_else(|| malformed(address, format!("{di:08X} is not a known identifier")))?;
    match data::decode(id.format, &bytes) {
        Ok(Value::Decimal { raw, .. }) => Ok(raw),
        Ok(other) => Err(malformed(address, format!("{di:08X} is not a number: {other:?}"))),
        Err(e) => Err(malformed(address, format!("{di:08X}: {e}"))),
    }
}

/// The identifiers a write command writes and the raw digits of each, from the command's value: the balance as
/// remaining money, the four prices as tariffs 1–4. `None` for a value that is not of that form.
pub fn write_plan(kind: voltvend_ops::CommandKind, value: &str) -> Option<Vec<(u32, i64)>> {
    let numbers: Vec<i64> =
        value.split_whitespace().map(|v| v.parse::<i64>().ok().filter(|n| *n >= 0)).collect::<Option<_>>()?;
    match (kind, numbers.as_slice()) {
        (voltvend_ops::CommandKind::WriteBalance, [balance]) => Some(vec![(DI_REMAINING_MONEY, *balance)]),
        (voltvend_ops::CommandKind::WritePrices, [_, _, _, _]) => {
            Some(DI_RATE_PRICES.into_iter().zip(numbers).collect())
        }
        _ => None,
    }
}

/// 0101 0000: forward active maximum demand (total) and when it was drawn — XX.XXXX kW then YYMMDDhhmm, each least
/// significant byte first (DL/T 645-2007 appendix A, 最大需量及发生时间) [unverified against a real meter: no
/// public frame with an expected result; our simulator answers it so].
pub const DI_MAX_DEMAND: u32 = 0x0101_0000;

/// The maximum demand a register's eight bytes say, in W, and the meter's local time it was drawn; `None` for a
/// register that was cleared (all zeros).
pub fn max_demand_of(bytes: &[u8]) -> Result<Option<(i64, jiff::civil::DateTime)>, String> {
    let [p0, p1, p2, mi, hh, dd, mo, yy] = bytes else {
        return Err(format!("a maximum demand is 8 bytes, not {}", bytes.len()));
    };
    if bytes.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    // Ten-thousandths of a kW: tenths of a W, so W rounds down by one digit.
    let raw = data::bcd_to_u64(&[*p0, *p1, *p2]).map_err(|e| format!("the demand: {e}"))?;
    let demand_w = i64::try_from(raw / 10).map_err(|e| e.to_string())?;
    let n = |b: u8| data::bcd_to_u64(&[b]).map_err(|e| format!("the time: {e}")).map(|v| v as i64);
    let (minute, hour, day, month, year) = (n(*mi)?, n(*hh)?, n(*dd)?, n(*mo)?, n(*yy)?);
    let small = |v: i64| i8::try_from(v).map_err(|e| e.to_string());
    let at =
        jiff::civil::DateTime::new(2000 + year as i16, small(month)?, small(day)?, small(hour)?, small(minute)?, 0, 0)
            .map_err(|e| format!("the time: {e}"))?;
    Ok(Some((demand_w, at)))
}

/// Reads the meter's maximum demand: the register, its local time placed in `tz` (the earlier of a time that
/// occurs twice). `None` for a cleared register.
pub async fn read_max_demand(
    bus: &Bus,
    address: Address,
    tz: &jiff::tz::TimeZone,
    timeout: Duration,
) -> Result<Option<voltvend_ops::MaxDemand>, LinkError> {
    let bytes = read(bus, address, DI_MAX_DEMAND, timeout).await?;
    let Some((demand_w, local)) = max_demand_of(&bytes).map_err(|why| malformed(address, why))? else {
        return Ok(None);
    };
    let at = tz
        .to_ambiguous_timestamp(local)
        .earlier()
        .map_err(|e| malformed(address, format!("the maximum demand's time {local}: {e}")))?;
    Ok(Some(voltvend_ops::MaxDemand { demand_w, at }))
}

/// One read of a meter's energy and supply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnergyRead {
    pub total_wh: i64,
    /// Tariffs 1–4, when they were asked for.
    pub tariffs_wh: Option<[i64; 4]>,
    pub status_3: u16,
}

/// Reads the total register, the tariff registers if `tariffs`, and status word 3.
pub async fn read_energy(
    bus: &Bus,
    address: Address,
    tariffs: bool,
    timeout: Duration,
) -> Result<EnergyRead, LinkError> {
    let total_wh = read_wh(bus, address, DI_TOTAL, timeout).await?;
    let tariffs_wh = if tariffs {
        let mut t = [0_i64; 4];
        for (slot, di) in t.iter_mut().zip(DI_TARIFFS) {
            *slot = read_wh(bus, address, di, timeout).await?;
        }
        Some(t)
    } else {
        None
    };
    let status_3 = read_status_3(bus, address, timeout).await?;
    Ok(EnergyRead { total_wh, tariffs_wh, status_3 })
}

/// Whether the tariff's periods need the tariff registers.
pub fn needs_tariff_registers(periods: &[String]) -> bool {
    !(periods.len() == 1 && periods.first().is_some_and(|p| p == "all"))
}

/// The registers to bill from, in the tariff's period names: the total for a tariff without time of use;
/// otherwise tariffs 1–4 by name — and for the two-period schemes (peak and valley), peak is everything that
/// is not valley (tariffs 1–3), as such meters are programmed.
pub fn registers_for(periods: &[String], read: &EnergyRead) -> Result<Registers, String> {
    if !needs_tariff_registers(periods) {
        return Ok(Registers::Total(read.total_wh));
    }
    let t = read.tariffs_wh.ok_or("the tariff registers were not read")?;
    let [sharp, peak, flat, valley] = t;
    let two = periods.len() == 2 && periods.iter().any(|p| p == "peak") && periods.iter().any(|p| p == "valley");
    let mut out = Vec::with_capacity(periods.len());
    for p in periods {
        let v = match p.as_str() {
            "peak" if two => sharp + peak + flat,
            "sharp" => sharp,
            "peak" => peak,
            "flat" => flat,
            "valley" => valley,
            other => return Err(format!("the meter has no register for the tariff's period {other:?}")),
        };
        out.push((p.clone(), v));
    }
    Ok(Registers::PerPeriod(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maximum_demand_is_kilowatts_then_its_minute() {
        // 12.3456 kW on 2026-11-15 14:30, each field least significant byte first.
        let bytes = [0x56, 0x34, 0x12, 0x30, 0x14, 0x15, 0x11, 0x26];
        let at = jiff::civil::date(2026, 11, 15).at(14, 30, 0, 0);
        assert_eq!(max_demand_of(&bytes), Ok(Some((12_345, at))));
        assert_eq!(max_demand_of(&[0; 8]), Ok(None), "cleared");
        assert!(max_demand_of(&bytes[..7]).is_err());
        let mut not_bcd = bytes;
        not_bcd[1] = 0x3A;
        assert!(max_demand_of(&not_bcd).unwrap_err().contains("demand"));
        let mut month_13 = bytes;
        month_13[6] = 0x13;
        assert!(max_demand_of(&month_13).unwrap_err().contains("time"));
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn registers_follow_the_tariff_periods() {
        let read = EnergyRead { total_wh: 100, tariffs_wh: Some([1, 20, 30, 49]), status_3: 0 };
        assert_eq!(registers_for(&names(&["all"]), &read), Ok(Registers::Total(100)));
        assert_eq!(
            registers_for(&names(&["peak", "valley"]), &read),
            Ok(Registers::PerPeriod(vec![("peak".into(), 51), ("valley".into(), 49)]))
        );
        assert_eq!(
            registers_for(&names(&["sharp", "peak", "flat", "valley"]), &read),
            Ok(Registers::PerPeriod(vec![
                ("sharp".into(), 1),
                ("peak".into(), 20),
                ("flat".into(), 30),
                ("valley".into(), 49)
            ]))
        );
        assert!(registers_for(&names(&["shoulder", "valley"]), &read).unwrap_err().contains("shoulder"));
        let total_only = EnergyRead { tariffs_wh: None, ..read };
        assert!(registers_for(&names(&["peak", "valley"]), &total_only).is_err());
        assert!(!needs_tariff_registers(&names(&["all"])) && needs_tariff_registers(&names(&["peak", "valley"])));
    }

    #[test]
    fn status_word_3_says_relay_and_keep_power() {
        let at = Timestamp::UNIX_EPOCH;
        assert_eq!(report_of(0, at), MeterReport { at, relay: Some(Relay::Closed), keep_power: Some(false) });
        assert_eq!(report_of(STATUS_3_RELAY_OPEN, at).relay, Some(Relay::Open));
        assert_eq!(report_of(STATUS_3_KEEP_POWER | 1, at).keep_power, Some(true));
    }
}
