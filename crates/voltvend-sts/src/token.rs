//! Token data blocks (IEC 62055-41 §6.3, PROTOCOLS.md §1.2): the 64 bits each token class and subclass
//! carries, with the CRC in bits 15..0 and the subclass in bits 63..60. Classes 0 and 2 are encrypted with
//! the decoder key; class 1 (test/display) travels in clear.

use crate::StsError;
use crate::crc::token_crc;
use crate::keys::Cipher;
use crate::number::TokenNumber;
use crate::tid::Tid;

/// Class 0 subclasses: what the credit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferKind {
    Electricity = 0,
    Water = 1,
    Gas = 2,
    /// Connection time (no public vectors; layout as class 0).
    Time = 3,
    ElectricityCurrency = 4,
    WaterCurrency = 5,
    GasCurrency = 6,
    TimeCurrency = 7,
}

impl TransferKind {
    pub const ALL: [TransferKind; 8] = [
        Self::Electricity,
        Self::Water,
        Self::Gas,
        Self::Time,
        Self::ElectricityCurrency,
        Self::WaterCurrency,
        Self::GasCurrency,
        Self::TimeCurrency,
    ];

    fn from_subclass(sub: u8) -> Option<Self> {
        Self::ALL.get(usize::from(sub)).copied()
    }
}

/// Class 2 subclasses that carry one 16-bit register value with a TID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegisterKind {
    /// Watts, amount-encoded.
    MaxPowerLimit = 0,
    /// Register id (0xFFFF = all registers).
    ClearCredit = 1,
    /// Raw 16-bit rate (no public vectors).
    SetTariffRate = 2,
    /// 16 zero bits.
    ClearTamper = 5,
    /// Watts, amount-encoded.
    MaxPhasePowerUnbalance = 6,
    /// Raw 16-bit factor (no public vectors).
    WaterMeterFactor = 7,
}

impl RegisterKind {
    pub const ALL: [RegisterKind; 6] = [
        Self::MaxPowerLimit,
        Self::ClearCredit,
        Self::SetTariffRate,
        Self::ClearTamper,
        Self::MaxPhasePowerUnbalance,
        Self::WaterMeterFactor,
    ];

    fn from_subclass(sub: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| *k as u8 == sub)
    }
}

/// A decoded token, any class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Token {
    /// Class 0: credit. `amount` is the 16-bit field (see [`crate::amount`]).
    Transfer { kind: TransferKind, rnd: u8, tid: Tid, amount: u16 },
    /// Class 1, subclass 0: initiate meter test/display 1 (36-bit control, 8-bit manufacturer code).
    Test1 { control: u64, manufacturer: u8 },
    /// Class 1, subclass 1: initiate meter test/display 2 (28-bit control, 16-bit manufacturer code).
    Test2 { control: u32, manufacturer: u16 },
    /// Class 2, register family.
    Register { kind: RegisterKind, rnd: u8, tid: Tid, value: u16 },
    /// Class 2/3: set 1st section decoder key.
    KeyChange1 { ken_high: u8, krn: u8, rollover: bool, kt: u8, nkho: u32 },
    /// Class 2/4: set 2nd section decoder key.
    KeyChange2 { ken_low: u8, ti: u8, nklo: u32 },
    /// Class 2/8: set 3rd section decoder key (MISTY1 only).
    KeyChange3 { sgc_low: u16, nkmo2: u32 },
    /// Class 2/9: set 4th section decoder key (MISTY1 only).
    KeyChange4 { sgc_high: u16, nkmo1: u32 },
}

fn check_bits(name: &'static str, value: u64, bits: u32) -> Result<(), StsError> {
    if value >> bits != 0 {
        return Err(StsError::FieldRange { name, bits });
    }
    Ok(())
}

impl Token {
    pub fn class(&self) -> u8 {
        match self {
            Self::Transfer { .. } => 0,
            Self::Test1 { .. } | Self::Test2 { .. } => 1,
            _ => 2,
        }
    }

    pub fn subclass(&self) -> u8 {
        match self {
            Self::Transfer { kind, .. } => *kind as u8,
            Self::Test1 { .. } => 0,
            Self::Test2 { .. } => 1,
            Self::Register { kind, .. } => *kind as u8,
            Self::KeyChange1 { .. } => 3,
            Self::KeyChange2 { .. } => 4,
            Self::KeyChange3 { .. } => 8,
            Self::KeyChange4 { .. } => 9,
        }
    }

    /// The TID, for token kinds that carry one.
    pub fn tid(&self) -> Option<Tid> {
        match self {
            Self::Transfer { tid, .. } | Self::Register { tid, .. } => Some(*tid),
            _ => None,
        }
    }

    /// The plaintext 64-bit block including its CRC. Fails if a field exceeds its width.
    pub fn to_block(&self) -> Result<u64, StsError> {
        let sub = u64::from(self.subclass()) << 60;
        let body = match *self {
            Self::Transfer { rnd, tid, amount, .. } | Self::Register { rnd, tid, value: amount, .. } => {
                check_bits("RND", u64::from(rnd), 4)?;
                sub | (u64::from(rnd) << 56) | (u64::from(tid.minutes()) << 32) | (u64::from(amount) << 16)
            }
            Self::Test1 { control, manufacturer } => {
                check_bits("control", control, 36)?;
                sub | (control << 24) | (u64::from(manufacturer) << 16)
            }
            Self::Test2 { control, manufacturer } => {
                check_bits("control", u64::from(control), 28)?;
                sub | (u64::from(control) << 32) | (u64::from(manufacturer) << 16)
            }
            Self::KeyChange1 { ken_high, krn, rollover, kt, nkho } => {
                check_bits("KENHO", u64::from(ken_high), 4)?;
                check_bits("KRN", u64::from(krn), 4)?;
                check_bits("KT", u64::from(kt), 2)?;
                sub | (u64::from(ken_high) << 56)
                    | (u64::from(krn) << 52)
                    | (u64::from(rollover) << 51)
                    | (u64::from(kt) << 48)
                    | (u64::from(nkho) << 16)
            }
            Self::KeyChange2 { ken_low, ti, nklo } => {
                check_bits("KENLO", u64::from(ken_low), 4)?;
                sub | (u64::from(ken_low) << 56) | (u64::from(ti) << 48) | (u64::from(nklo) << 16)
            }
            Self::KeyChange3 { sgc_low: sgc, nkmo2: key } | Self::KeyChange4 { sgc_high: sgc, nkmo1: key } => {
                check_bits("SGC section", u64::from(sgc), 12)?;
                sub | (u64::from(sgc) << 48) | (u64::from(key) << 16)
            }
        };
        Ok(body | u64::from(token_crc(self.class(), body)))
    }

    /// Parses a plaintext block of `class`, verifying its CRC.
    pub fn from_block(class: u8, block: u64) -> Result<Self, StsError> {
        if class == 3 {
            return Err(StsError::ReservedClass);
        }
        if token_crc(class, block) != block as u16 {
            return Err(StsError::CrcMismatch);
        }
        let sub = (block >> 60) as u8;
        let rnd = ((block >> 56) & 0xF) as u8;
        let tid = || Tid::new(((block >> 32) & 0xFF_FFFF) as u32);
        let field16 = (block >> 16) as u16;
        let word32 = (block >> 16) as u32;
        let unknown = StsError::UnknownSubclass { class, subclass: sub };
        match class {
            0 => {
                let kind = TransferKind::from_subclass(sub).ok_or(unknown)?;
                Ok(Self::Transfer { kind, rnd, tid: tid()?, amount: field16 })
            }
            1 => match sub {
                0 => Ok(Self::Test1 { control: (block >> 24) & 0xF_FFFF_FFFF, manufacturer: (block >> 16) as u8 }),
                1 => Ok(Self::Test2 { control: ((block >> 32) & 0xFFF_FFFF) as u32, manufacturer: field16 }),
                _ => Err(unknown),
            },
            _ => match sub {
                3 => Ok(Self::KeyChange1 {
                    ken_high: rnd,
                    krn: ((block >> 52) & 0xF) as u8,
                    rollover: (block >> 51) & 1 == 1,
                    kt: ((block >> 48) & 0b11) as u8,
                    nkho: word32,
                }),
                4 => Ok(Self::KeyChange2 { ken_low: rnd, ti: (block >> 48) as u8, nklo: word32 }),
                8 => Ok(Self::KeyChange3 { sgc_low: ((block >> 48) & 0xFFF) as u16, nkmo2: word32 }),
                9 => Ok(Self::KeyChange4 { sgc_high: ((block >> 48) & 0xFFF) as u16, nkmo1: word32 }),
                _ => {
                    let kind = RegisterKind::from_subclass(sub).ok_or(unknown)?;
                    Ok(Self::Register { kind, rnd, tid: tid()?, value: field16 })
                }
            },
        }
    }

    /// Encrypts (classes 0 and 2) and transposes the class into a token number.
    pub fn encode(&self, cipher: &Cipher) -> Result<TokenNumber, StsError> {
        let block = self.to_block()?;
        let wire = if self.class() == 1 { block } else { cipher.encrypt(block) };
        Ok(TokenNumber::from_class_block(self.class(), wire))
    }

    /// Decodes a token number as a meter does: undo the transposition, decrypt unless class 1, check the CRC.
    pub fn decode(number: TokenNumber, cipher: &Cipher) -> Result<Self, StsError> {
        let (class, wire) = number.class_and_block();
        if class == 3 {
            return Err(StsError::ReservedClass);
        }
        let block = if class == 1 { wire } else { cipher.decrypt(wire) };
        Self::from_block(class, block)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::keys::DecoderKey;

    pub(crate) fn any_token() -> impl Strategy<Value = Token> {
        let tid = (0_u32..(1 << 24)).prop_map(|m| Tid::new(m).unwrap());
        prop_oneof![
            (0_usize..8, 0_u8..16, tid.clone(), any::<u16>()).prop_map(|(k, rnd, tid, amount)| Token::Transfer {
                kind: TransferKind::ALL[k],
                rnd,
                tid,
                amount
            }),
            (0_u64..(1 << 36), any::<u8>()).prop_map(|(control, manufacturer)| Token::Test1 { control, manufacturer }),
            (0_u32..(1 << 28), any::<u16>()).prop_map(|(control, manufacturer)| Token::Test2 { control, manufacturer }),
            (0_usize..6, 0_u8..16, tid, any::<u16>()).prop_map(|(k, rnd, tid, value)| Token::Register {
                kind: RegisterKind::ALL[k],
                rnd,
                tid,
                value
            }),
            (0_u8..16, 0_u8..16, any::<bool>(), 0_u8..4, any::<u32>()).prop_map(
                |(ken_high, krn, rollover, kt, nkho)| Token::KeyChange1 { ken_high, krn, rollover, kt, nkho }
            ),
            (0_u8..16, any::<u8>(), any::<u32>()).prop_map(|(ken_low, ti, nklo)| Token::KeyChange2 {
                ken_low,
                ti,
                nklo
            }),
            (0_u16..4096, any::<u32>()).prop_map(|(sgc_low, nkmo2)| Token::KeyChange3 { sgc_low, nkmo2 }),
            (0_u16..4096, any::<u32>()).prop_map(|(sgc_high, nkmo1)| Token::KeyChange4 { sgc_high, nkmo1 }),
        ]
    }

    fn any_key() -> impl Strategy<Value = DecoderKey> {
        prop_oneof![any::<u64>().prop_map(DecoderKey::Sta), any::<[u8; 16]>().prop_map(DecoderKey::Misty1)]
    }

    proptest! {
        // A fixed seed keeps the run deterministic: a 16-bit CRC misses one change in 65 536, so an unlucky
        // random draw could otherwise fail a correct implementation.
        #![proptest_config(ProptestConfig { rng_seed: proptest::test_runner::RngSeed::Fixed(62055), cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn decode_inverts_encode(token in any_token(), key in any_key()) {
            let cipher = key.cipher();
            let number = token.encode(&cipher).unwrap();
            prop_assert_eq!(Token::decode(number, &cipher).unwrap(), token);
        }

        /// Changing any one digit of a token makes the meter refuse it: the CRC covers the class and every
        /// payload bit, and a changed number either leaves the 66-bit range or fails the CRC.
        #[test]
        fn any_changed_digit_is_refused(token in any_token(), key in any_key(), pos in 0_usize..20, delta in 1_u8..10) {
            let cipher = key.cipher();
            let digits = token.encode(&cipher).unwrap().digits();
            let mut bytes = digits.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            match TokenNumber::parse(&changed) {
                Err(_) => {}
                Ok(n) => prop_assert!(Token::decode(n, &cipher).is_err(), "{changed} accepted"),
            }
        }
    }
}
