//! The vending side: issuing tokens for one meter from its key record.
//!
//! The issuer derives (or is given) the meter's decoder key once and caches the prepared cipher. Callers keep
//! the last TID issued per meter and pass it in, so that two tokens in one minute get distinct TIDs; the
//! issuer refuses a TID past the key's expiry (KEN) or past the base date's rollover.

use jiff::Timestamp;

use crate::StsError;
use crate::amount;
use crate::identity::Pan;
use crate::keys::{Cipher, DecoderKey, Ea, KeyParams, KeyType, VendingKey};
use crate::number::TokenNumber;
use crate::tid::Tid;
use crate::token::{RegisterKind, Token, TransferKind};

/// What the vending side records about a meter's current key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterKeyRecord {
    pub pan: Pan,
    pub params: KeyParams,
}

/// What a key change asks for. A field left `None` keeps the meter's current value; `rollover` also moves
/// the meter to the next base date (the 2024 TID rollover migration, IEC 62055-41 Ed. 3 §6.5.4 / STS 202-1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyChange {
    pub kt: Option<u8>,
    pub sgc: Option<u32>,
    pub ti: Option<u8>,
    pub krn: Option<u8>,
    pub ken: Option<u8>,
    pub rollover: bool,
}

impl KeyChange {
    /// The meter's parameters after the change, validated. The algorithm never changes in a key change.
    pub fn apply_to(&self, current: &KeyParams) -> Result<KeyParams, StsError> {
        let base = if self.rollover {
            current.base.next().ok_or(StsError::BadParameter {
                name: "base date",
                value: current.base.code().to_string(),
                expected: "a base date that has a successor (the meter is on the last one, 2035)",
            })?
        } else {
            current.base
        };
        let params = KeyParams {
            kt: KeyType::new(self.kt.unwrap_or(current.kt.value()))?,
            sgc: self.sgc.unwrap_or(current.sgc),
            ti: self.ti.unwrap_or(current.ti),
            krn: self.krn.unwrap_or(current.krn),
            ken: self.ken.unwrap_or(current.ken),
            base,
            ea: current.ea,
        };
        params.validate()?;
        Ok(params)
    }
}

/// Issues tokens for one meter.
#[derive(Debug, Clone)]
pub struct Issuer {
    record: MeterKeyRecord,
    key: DecoderKey,
    cipher: Cipher,
}

/// Whether a key's expiry number still admits a TID: the key serves while the TID's top eight bits do not
/// exceed KEN (KEN 255 never expires). PROTOCOLS.md §1.5 marks the exact wording [unverified].
pub fn ken_admits(ken: u8, tid: Tid) -> bool {
    (tid.minutes() >> 16) <= u32::from(ken)
}

impl Issuer {
    /// Derives the meter's decoder key from the vending key.
    pub fn new(vending_key: &VendingKey, record: MeterKeyRecord) -> Result<Self, StsError> {
        let key = vending_key.derive(&record.pan, &record.params)?;
        Ok(Self::with_decoder_key(key, record))
    }

    /// Uses a known decoder key (e.g. from a key-management centre).
    pub fn with_decoder_key(key: DecoderKey, record: MeterKeyRecord) -> Self {
        Self { cipher: key.cipher(), key, record }
    }

    pub fn decoder_key(&self) -> DecoderKey {
        self.key
    }

    pub fn record(&self) -> &MeterKeyRecord {
        &self.record
    }

    /// The TID for a token issued at `now` after `last` (the meter's previous token), or a refusal.
    pub fn tid(&self, now: Timestamp, last: Option<Tid>) -> Result<Tid, StsError> {
        let tid = Tid::next_after(self.record.params.base, now, last)?;
        if !ken_admits(self.record.params.ken, tid) {
            return Err(StsError::KeyExpired { ken: self.record.params.ken });
        }
        Ok(tid)
    }

    /// A credit token for `tenths` of the unit (0.1 kWh for electricity), rounded up to a representable value.
    pub fn credit(&self, kind: TransferKind, tenths: u64, tid: Tid, rnd: u8) -> Result<TokenNumber, StsError> {
        let amount = amount::encode(tenths)?;
        Token::Transfer { kind, rnd, tid, amount }.encode(&self.cipher)
    }

    /// A class 2 register token with an already-encoded 16-bit value.
    pub fn register(&self, kind: RegisterKind, value: u16, tid: Tid, rnd: u8) -> Result<TokenNumber, StsError> {
        Token::Register { kind, rnd, tid, value }.encode(&self.cipher)
    }

    pub fn max_power_limit(&self, watts: u64, tid: Tid, rnd: u8) -> Result<TokenNumber, StsError> {
        self.register(RegisterKind::MaxPowerLimit, amount::encode(watts)?, tid, rnd)
    }

    pub fn max_phase_unbalance(&self, watts: u64, tid: Tid, rnd: u8) -> Result<TokenNumber, StsError> {
        self.register(RegisterKind::MaxPhasePowerUnbalance, amount::encode(watts)?, tid, rnd)
    }

    /// Clears one credit register (0xFFFF: all of them).
    pub fn clear_credit(&self, register: u16, tid: Tid, rnd: u8) -> Result<TokenNumber, StsError> {
        self.register(RegisterKind::ClearCredit, register, tid, rnd)
    }

    pub fn clear_tamper(&self, tid: Tid, rnd: u8) -> Result<TokenNumber, StsError> {
        self.register(RegisterKind::ClearTamper, 0, tid, rnd)
    }

    /// The key change token set that moves the meter to `new_key` with `new_params`: two tokens for STA,
    /// four for MISTY1, encrypted under the current key. With `rollover` the meter also moves to the next base
    /// date and clears its TID memory.
    pub fn key_change(
        &self,
        new_key: &DecoderKey,
        new_params: &KeyParams,
        rollover: bool,
    ) -> Result<Vec<TokenNumber>, StsError> {
        new_params.validate()?;
        if new_key.ea() != new_params.ea {
            return Err(StsError::BadKey("the new key does not match the new parameters' algorithm"));
        }
        if rollover && self.record.params.base.next() != Some(new_params.base) {
            return Err(StsError::BadParameter {
                name: "new base date",
                value: new_params.base.code().to_string(),
                expected: "the base date after the current one for a rollover key change",
            });
        }
        let ken = new_params.ken;
        let (ken_high, ken_low) = (ken >> 4, ken & 0xF);
        let (krn, kt, ti) = (new_params.krn, new_params.kt.value(), new_params.ti);
        let tokens = match (new_key, new_params.ea) {
            (DecoderKey::Sta(k), Ea::Sta) => vec![
                Token::KeyChange1 { ken_high, krn, rollover, kt, nkho: (k >> 32) as u32 },
                Token::KeyChange2 { ken_low, ti, nklo: *k as u32 },
            ],
            (DecoderKey::Misty1(k), Ea::Misty1) => {
                let word = |i: usize| {
                    let mut w = [0_u8; 4];
                    w.copy_from_slice(k.get(i..i + 4).unwrap_or(&[0; 4]));
                    u32::from_be_bytes(w)
                };
                let sgc = new_params.sgc;
                vec![
                    Token::KeyChange1 { ken_high, krn, rollover, kt, nkho: word(0) },
                    Token::KeyChange2 { ken_low, ti, nklo: word(12) },
                    Token::KeyChange3 { sgc_low: (sgc & 0xFFF) as u16, nkmo2: word(4) },
                    Token::KeyChange4 { sgc_high: ((sgc >> 12) & 0xFFF) as u16, nkmo1: word(8) },
                ]
            }
            _ => return Err(StsError::BadKey("the new key does not match the new parameters' algorithm")),
        };
        tokens.iter().map(|t| t.encode(&self.cipher)).collect()
    }
}

impl Issuer {
    /// The key change token set for `change`, with the new key derived from `vending_key`, and the meter's
    /// parameters once the set has been entered.
    pub fn key_change_from(
        &self,
        vending_key: &VendingKey,
        change: &KeyChange,
    ) -> Result<(Vec<TokenNumber>, KeyParams), StsError> {
        let new_params = change.apply_to(&self.record.params)?;
        let new_key = vending_key.derive(&self.record.pan, &new_params)?;
        Ok((self.key_change(&new_key, &new_params, change.rollover)?, new_params))
    }
}

/// The test/display token (class 1) for `control` bits and a manufacturer code: test token 1 carries 36
/// control bits and an 8-bit manufacturer code, test token 2 a 16-bit code and 28 control bits, so the
/// smallest token that holds both is chosen; values that fit neither are refused.
pub fn test_token_for(control: u64, manufacturer: u16) -> Result<TokenNumber, StsError> {
    let token = match u8::try_from(manufacturer) {
        Ok(m) if control < (1 << 36) => Token::Test1 { control, manufacturer: m },
        _ => match u32::try_from(control).ok().filter(|c| *c < (1 << 28)) {
            Some(c) => Token::Test2 { control: c, manufacturer },
            None => {
                return Err(StsError::FieldRange {
                    name: "test control bits",
                    bits: if manufacturer > 0xFF { 28 } else { 36 },
                });
            }
        },
    };
    test_token(token)
}

/// A class 1 test/display token: not encrypted, not meter-specific.
pub fn test_token(token: Token) -> Result<TokenNumber, StsError> {
    if token.class() != 1 {
        return Err(StsError::BadParameter {
            name: "test token",
            value: format!("class {}", token.class()),
            expected: "a class 1 (test/display) token",
        });
    }
    let block = token.to_block()?;
    Ok(TokenNumber::from_class_block(1, block))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tid::BaseDate;

    fn params(base: &str) -> KeyParams {
        KeyParams {
            kt: KeyType::new(2).unwrap(),
            sgc: 123_456,
            ti: 1,
            krn: 1,
            ken: 255,
            base: BaseDate::from_code(base).unwrap(),
            ea: Ea::Sta,
        }
    }

    #[test]
    fn a_key_change_keeps_what_it_does_not_name_and_rolls_over_to_the_next_base() {
        let current = params("93");
        let same = KeyChange::default().apply_to(&current).unwrap();
        assert_eq!(same, current);
        let changed =
            KeyChange { ti: Some(7), krn: Some(2), rollover: true, ..KeyChange::default() }.apply_to(&current);
        let changed = changed.unwrap();
        assert_eq!((changed.ti, changed.krn, changed.sgc, changed.base), (7, 2, 123_456, BaseDate::Y2014));
        assert!(
            KeyChange { rollover: true, ..KeyChange::default() }.apply_to(&params("35")).is_err(),
            "no base after 2035"
        );
        assert!(KeyChange { kt: Some(9), ..KeyChange::default() }.apply_to(&current).is_err());
        assert!(KeyChange { ti: Some(100), ..KeyChange::default() }.apply_to(&current).is_err());
    }

    #[test]
    fn the_test_token_is_the_smallest_that_holds_both_fields() {
        let class_of = |n: TokenNumber| n.class_and_block().0;
        assert_eq!(class_of(test_token_for(0xF_FFFF_FFFF, 0).unwrap()), 1);
        let one = Token::from_block(1, test_token_for(5, 200).unwrap().class_and_block().1).unwrap();
        assert_eq!(one, Token::Test1 { control: 5, manufacturer: 200 });
        let two = Token::from_block(1, test_token_for(5, 300).unwrap().class_and_block().1).unwrap();
        assert_eq!(two, Token::Test2 { control: 5, manufacturer: 300 });
        assert!(test_token_for(1 << 36, 0).is_err(), "36 control bits at most");
        assert!(test_token_for(1 << 28, 300).is_err(), "28 control bits with a 16-bit manufacturer code");
    }
}
