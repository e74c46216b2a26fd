//! Fixed-point decimal text: the one parser and formatter behind money, quantities, prices and rates.
//!
//! A value with `decimals` places is an integer scaled by 10^decimals (`"12.34"` with 2 → 1234). More places
//! than allowed is an error, never a rounding.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecimalError {
    #[error("not a decimal number with the allowed number of places")]
    Malformed,
    #[error("number out of range")]
    Overflow,
}

/// Parses `[+|-]digits[.digits]` with at most `decimals` places into an integer scaled by 10^decimals.
pub fn parse_scaled(input: &str, decimals: u8) -> Result<i64, DecimalError> {
    let s = input.trim();
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty())
        || !digits(whole)
        || !digits(frac)
        || (body.contains('.') && frac.is_empty())
        || frac.len() > usize::from(decimals)
    {
        return Err(DecimalError::Malformed);
    }
    let scale = 10_i64.checked_pow(u32::from(decimals)).ok_or(DecimalError::Overflow)?;
    let whole_v = if whole.is_empty() { 0 } else { whole.parse::<i64>().map_err(|_| DecimalError::Overflow)? };
    let frac_v = if frac.is_empty() {
        0
    } else {
        frac.parse::<i64>().map_err(|_| DecimalError::Malformed)? * 10_i64.pow(u32::from(decimals) - frac.len() as u32)
    };
    let magnitude = whole_v.checked_mul(scale).and_then(|w| w.checked_add(frac_v)).ok_or(DecimalError::Overflow)?;
    Ok(if negative { -magnitude } else { magnitude })
}

/// Formats an integer scaled by 10^decimals: `format_scaled(-1205, 2)` → `"-12.05"`.
pub fn format_scaled(value: i64, decimals: u32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{magnitude}");
    }
    let per = 10_u64.pow(decimals);
    format!("{sign}{}.{:0width$}", magnitude / per, magnitude % per, width = decimals as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refusals() {
        assert_eq!(parse_scaled("12.3", 3), Ok(12_300));
        assert_eq!(parse_scaled("-.5", 1), Ok(-5));
        assert_eq!(parse_scaled("+7", 0), Ok(7));
        for bad in ["", "-", "1.", "1.2345", "1e3", "1,0"] {
            assert_eq!(parse_scaled(bad, 3), Err(DecimalError::Malformed), "{bad:?}");
        }
        assert_eq!(parse_scaled("99999999999999999999", 0), Err(DecimalError::Overflow));
        for v in [0, 1, -1, 999, -1_000, i64::MAX] {
            assert_eq!(parse_scaled(&format_scaled(v, 3), 3), Ok(v));
        }
        assert_eq!(format_scaled(42, 0), "42");
    }
}
