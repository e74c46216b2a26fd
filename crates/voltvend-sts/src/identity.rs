//! Meter identity (IEC 62055-41 §6.1): the 18-digit PAN = IIN (issuer, `600727` for STS, or the 4-digit
//! `0000` form) + the decoder reference number (DRN) + a Luhn check digit over the first 17 digits.

use std::fmt;

use crate::StsError;

/// A meter's primary account number, check digit verified.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pan {
    digits: [u8; 18],
}

/// The Luhn check digit of `digits` (which do not include it).
pub fn luhn_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - (sum % 10)) % 10) as u8
}

impl Pan {
    /// Parses 18 digits and verifies the check digit.
    pub fn parse(input: &str) -> Result<Self, StsError> {
        let s = input.trim();
        if s.len() != 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StsError::BadParameter { name: "PAN", value: s.to_string(), expected: "18 digits" });
        }
        let mut digits = [0_u8; 18];
        for (d, b) in digits.iter_mut().zip(s.bytes()) {
            *d = b - b'0';
        }
        let expected = luhn_check_digit(digits.get(..17).unwrap_or(&[]));
        if digits.get(17) != Some(&expected) {
            return Err(StsError::BadCheckDigit { pan: s.to_string(), expected });
        }
        Ok(Self { digits })
    }

    /// Builds a PAN from an IIN and a DRN, appending the check digit.
    pub fn from_parts(iin: &str, drn: &str) -> Result<Self, StsError> {
        let body = format!("{iin}{drn}");
        if body.len() != 17 || !body.bytes().all(|b| b.is_ascii_digit()) {
            return Err(StsError::BadParameter {
                name: "IIN+DRN",
                value: body,
                expected: "17 digits (6-digit IIN + 11-digit DRN, or 4-digit IIN + 13-digit DRN)",
            });
        }
        let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
        let check = luhn_check_digit(&digits);
        Self::parse(&format!("{body}{check}"))
    }

    pub fn as_string(&self) -> String {
        self.digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// Whether the IIN is the 4-digit `0000` form (and the DRN has 13 digits).
    pub fn short_iin(&self) -> bool {
        self.digits.get(..4) == Some(&[0, 0, 0, 0])
    }

    pub fn iin(&self) -> String {
        let n = if self.short_iin() { 4 } else { 6 };
        self.as_string().get(..n).unwrap_or_default().to_string()
    }

    /// The decoder reference number (without the PAN check digit).
    pub fn drn(&self) -> String {
        let n = if self.short_iin() { 4 } else { 6 };
        self.as_string().get(n..17).unwrap_or_default().to_string()
    }

    /// The 16 digits DKGA02 puts in its PAN block: IIN[-5:] ‖ DRN[-11:] (or IIN[-3:] ‖ DRN[-13:]), which for
    /// both forms is digits 2–17 of the PAN.
    pub(crate) fn pan_block_digits(&self) -> &[u8] {
        self.digits.get(1..17).unwrap_or(&[])
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.as_string())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pans() {
        for good in ["600727000000000009", "000001000000000082", "600727111111111153"] {
            assert_eq!(Pan::parse(good).unwrap().to_string(), good);
        }
        assert!(matches!(Pan::parse("600727000000000008"), Err(StsError::BadCheckDigit { expected: 9, .. })));
        assert!(Pan::parse("60072700000000000").is_err());
        let p = Pan::parse("600727000000000009").unwrap();
        assert_eq!((p.iin().as_str(), p.drn().as_str()), ("600727", "00000000000"));
        let q = Pan::parse("000001000000000082").unwrap();
        assert_eq!((q.iin().as_str(), q.drn().as_str()), ("0000", "0100000000008"));
        assert_eq!(Pan::from_parts("600727", "11111111115").unwrap().to_string(), "600727111111111153");
    }
}
