//! The 16-bit transfer amount / register field of IEC 62055-41 §6.3.5: a 2-bit decimal exponent and a 14-bit
//! mantissa, `value = m·10^e + Σ_{n=1..e} 2^14·10^(n−1)`, covering 0 … 18 201 624 units.
//!
//! Electricity credit is transferred in tenths of a kWh (water and gas in tenths of their unit). Values that
//! are not representable are rounded **up** to the next representable one, and a mantissa that rounds up to
//! 2^14 carries into the exponent — the behaviour the compliance vectors (CTSA10/12/13/21/22) pin down.

use crate::StsError;

/// Offsets of the four exponent ranges: Σ_{n=1..e} 2^14·10^(n−1).
const OFFSET: [u64; 4] = [0, 16_384, 180_224, 1_818_624];
const SCALE: [u64; 4] = [1, 10, 100, 1_000];

/// The largest encodable value: 16 383 · 1000 + 1 818 624.
pub const AMOUNT_UNITS_MAX: u64 = 18_201_624;

/// Encodes `units` exactly where possible, else the next larger representable value.
pub fn encode(units: u64) -> Result<u16, StsError> {
    if units > AMOUNT_UNITS_MAX {
        return Err(StsError::AmountTooLarge { units, max: AMOUNT_UNITS_MAX });
    }
    let mut exponent = 0;
    while exponent < 3 && units >= OFFSET.get(exponent + 1).copied().unwrap_or(u64::MAX) {
        exponent += 1;
    }
    let offset = OFFSET.get(exponent).copied().unwrap_or(0);
    let scale = SCALE.get(exponent).copied().unwrap_or(1);
    let mantissa = (units - offset).div_ceil(scale);
    // `+`, not `|`: a mantissa of 16384 carries into the next exponent, as the standard's encoder does.
    let field = ((exponent as u64) << 14) + mantissa;
    u16::try_from(field).map_err(|_| StsError::AmountTooLarge { units, max: AMOUNT_UNITS_MAX })
}

/// The largest representable amount not above `units` (what a vending system may put on a token without
/// giving away units the customer did not pay for), or `None` above [`AMOUNT_UNITS_MAX`].
pub fn representable_at_most(units: u64) -> Option<u64> {
    if units > AMOUNT_UNITS_MAX {
        return None;
    }
    let exponent = OFFSET.iter().rposition(|offset| units >= *offset).unwrap_or(0);
    let offset = OFFSET.get(exponent).copied().unwrap_or(0);
    let scale = SCALE.get(exponent).copied().unwrap_or(1);
    Some((units - offset) / scale * scale + offset)
}

/// Decodes a 16-bit field into units.
pub fn decode(field: u16) -> u64 {
    let exponent = usize::from(field >> 14);
    let mantissa = u64::from(field & 0x3FFF);
    mantissa * SCALE.get(exponent).copied().unwrap_or(1) + OFFSET.get(exponent).copied().unwrap_or(0)
}

/// Tenths of a unit for a credit amount given in thousandths (Wh for kWh, litres for m³), by the vending rule
/// of the compliance vectors: amounts below one unit round up (never sell nothing), others round down.
pub fn tenths_from_milli(milli: u64) -> u64 {
    if milli < 1_000 { milli.div_ceil(100) } else { milli / 100 }
}

/// Parses a decimal amount of units (`"12.5"`, up to six decimals) into thousandths-free tenths by the same
/// rule as [`tenths_from_milli`].
pub fn tenths_from_decimal(input: &str) -> Result<u64, StsError> {
    let bad = || StsError::BadAmount(input.to_string());
    let (whole, frac) = input.trim().split_once('.').unwrap_or((input.trim(), ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 6
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let mut micro_frac: u64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| bad())? };
    micro_frac *= 10_u64.pow(6 - frac.len() as u32);
    let micro = whole.checked_mul(1_000_000).and_then(|w| w.checked_add(micro_frac)).ok_or_else(bad)?;
    Ok(if micro < 1_000_000 { micro.div_ceil(100_000) } else { micro / 100_000 })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(units: u64, field: u16) {
        assert_eq!(encode(units).unwrap(), field, "encode {units}");
    }

    #[test]
    fn representable_at_most_never_rounds_up() {
        for (units, expect) in [(0, 0), (16_383, 16_383), (16_384, 16_384), (16_393, 16_384), (16_394, 16_394)] {
            assert_eq!(representable_at_most(units), Some(expect), "{units}");
        }
        assert_eq!(representable_at_most(AMOUNT_UNITS_MAX), Some(AMOUNT_UNITS_MAX));
        assert_eq!(representable_at_most(AMOUNT_UNITS_MAX + 1), None);
        for units in (0..AMOUNT_UNITS_MAX).step_by(997) {
            let r = representable_at_most(units).unwrap();
            assert!(r <= units && decode(encode(r).unwrap()) == r, "{units} → {r}");
        }
    }

    #[test]
    fn boundaries() {
        check(0, 0);
        check(1, 1);
        check(16_383, 0x3FFF);
        check(16_384, 0x4000);
        check(16_385, 0x4001); // rounds up to 16 394
        check(180_214, 0x7FFF);
        check(180_223, 0x8000); // mantissa 16 384 carries: 180 224
        check(180_224, 0x8000);
        check(1_818_524, 0xBFFF);
        check(1_818_624, 0xC000);
        check(AMOUNT_UNITS_MAX, 0xFFFF);
        assert!(encode(AMOUNT_UNITS_MAX + 1).is_err());
        assert_eq!(decode(0x8000), 180_224);
        assert_eq!(decode(0xFFFF), AMOUNT_UNITS_MAX);
    }

    #[test]
    fn vending_rounding() {
        assert_eq!(tenths_from_decimal("0.1").unwrap(), 1);
        assert_eq!(tenths_from_decimal("0.01").unwrap(), 1, "below one unit rounds up");
        assert_eq!(tenths_from_decimal("1.09").unwrap(), 10, "from one unit rounds down");
        assert_eq!(tenths_from_decimal("1638.3").unwrap(), 16_383);
        assert_eq!(tenths_from_milli(50), 1);
        assert_eq!(tenths_from_milli(12_345), 123);
        assert!(tenths_from_decimal("1.2.3").is_err());
        assert!(tenths_from_decimal("-1").is_err());
    }

    proptest! {
        /// Encoding never gives less than asked, and gives the least representable value that is not less.
        #[test]
        fn encode_rounds_up_to_the_next_representable(units in 0..=AMOUNT_UNITS_MAX) {
            let field = encode(units).unwrap();
            let got = decode(field);
            prop_assert!(got >= units);
            if field > 0 {
                prop_assert!(decode(field - 1) < units);
            }
            prop_assert_eq!(encode(got).unwrap(), field, "representable values are exact");
        }
    }
}
