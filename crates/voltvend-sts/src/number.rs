//! The STS numeric token carrier (IEC 62055-41 §6.3, -51): a 66-bit number written as 20 decimal digits.
//!
//! The two token-class bits are not sent beside the 64-bit block but *transposed into it*: bits 28 and 27 of
//! the block are replaced by the class, and the displaced bits become bits 65 and 64 of the token number.

use std::fmt;

use crate::StsError;

/// The largest token number, 2^66 − 1 = 73 786 976 294 838 206 463.
pub const TOKEN_NUMBER_MAX: u128 = (1 << 66) - 1;

/// A 66-bit STS token number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenNumber(u128);

impl TokenNumber {
    pub fn new(value: u128) -> Result<Self, StsError> {
        if value > TOKEN_NUMBER_MAX {
            return Err(StsError::TokenFormat("the number exceeds 2^66 − 1, the largest STS token"));
        }
        Ok(Self(value))
    }

    pub const fn value(&self) -> u128 {
        self.0
    }

    /// Parses 20 digits; spaces and dashes between groups (`1234-5678-…`) are ignored.
    pub fn parse(input: &str) -> Result<Self, StsError> {
        let mut value: u128 = 0;
        let mut digits = 0;
        for c in input.trim().chars() {
            match c {
                '0'..='9' => {
                    digits += 1;
                    if digits > 20 {
                        return Err(StsError::TokenFormat("an STS token has exactly 20 digits"));
                    }
                    value = value * 10 + u128::from(c as u8 - b'0');
                }
                ' ' | '-' => {}
                _ => return Err(StsError::TokenFormat("an STS token has only digits (spaces and dashes allowed)")),
            }
        }
        if digits != 20 {
            return Err(StsError::TokenFormat("an STS token has exactly 20 digits"));
        }
        Self::new(value)
    }

    /// Builds the number from a token class and a (possibly encrypted) 64-bit block.
    pub fn from_class_block(class: u8, block: u64) -> Self {
        let b28 = u128::from((block >> 28) & 1);
        let b27 = u128::from((block >> 27) & 1);
        let c_hi = u64::from((class >> 1) & 1);
        let c_lo = u64::from(class & 1);
        let transposed = (block & !(0b11 << 27)) | (c_hi << 28) | (c_lo << 27);
        Self((b28 << 65) | (b27 << 64) | u128::from(transposed))
    }

    /// The class and the 64-bit block, undoing the transposition.
    pub fn class_and_block(&self) -> (u8, u64) {
        let t = self.0;
        let class = ((((t >> 28) & 1) << 1) | ((t >> 27) & 1)) as u8;
        let low = t as u64;
        let b65 = ((t >> 65) & 1) as u64;
        let b64 = ((t >> 64) & 1) as u64;
        let block = (low & !(0b11 << 27)) | (b65 << 28) | (b64 << 27);
        (class, block)
    }

    /// The 20 digits, zero-padded.
    pub fn digits(&self) -> String {
        format!("{:020}", self.0)
    }

    /// The 20 digits in groups of four, as printed on receipts: `2371 6100 5011 8319 4197`.
    pub fn grouped(&self) -> String {
        let d = self.digits();
        d.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Display for TokenNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn worked_example() {
        // PROTOCOLS.md §1.10: encrypted block 492083C0AE7CE455, class 0 → 23716100501183194197.
        let n = TokenNumber::from_class_block(0, 0x4920_83C0_AE7C_E455);
        assert_eq!(n.value(), 0x1_4920_83C0_A67C_E455);
        assert_eq!(n.digits(), "23716100501183194197");
        assert_eq!(n.grouped(), "2371 6100 5011 8319 4197");
        assert_eq!(TokenNumber::parse("2371-6100-5011-8319-4197").unwrap(), n);
    }

    #[test]
    fn bad_numbers() {
        for bad in [
            "",
            "1234",
            "237161005011831941970",
            "2371610050118319419x",
            "73786976294838206464",
            "-0000000000000000001",
        ] {
            assert!(TokenNumber::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TokenNumber::parse("73786976294838206463").is_ok());
    }

    proptest! {
        #[test]
        fn transposition_round_trips(class in 0_u8..4, block: u64) {
            let n = TokenNumber::from_class_block(class, block);
            prop_assert!(n.value() <= TOKEN_NUMBER_MAX);
            prop_assert_eq!(n.class_and_block(), (class, block));
            prop_assert_eq!(TokenNumber::parse(&n.digits()).unwrap(), n);
        }
    }
}
