//! The meter side: accepting tokens typed on a keypad, as an STS prepayment meter does (IEC 62055-41 §6.6
//! and the meter requirements of IEC 62055-51/-52 as far as they are public).
//!
//! Each refusal is its own [`Rejection`] so that a display can tell the customer what happened. The size of
//! the TID memory is a setting (the standard's exact store size is [unverified] in PROTOCOLS.md; 50 is
//! common): a TID already in memory is "used", one older than everything in a full memory is "too old".

use std::collections::BTreeSet;

use thiserror::Error;

use crate::StsError;
use crate::amount;
use crate::keys::{Cipher, DecoderKey, Ea, KeyParams, KeyType};
use crate::number::TokenNumber;
use crate::tid::{BaseDate, Tid};
use crate::token::{RegisterKind, Token, TransferKind};
use crate::vend::ken_admits;

/// Why a meter refused a token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rejection {
    #[error("not a token: {0}")]
    Format(String),
    #[error("token class 3 is reserved")]
    ReservedClass,
    #[error("unknown token type (class {class}, subclass {subclass})")]
    UnknownSubclass { class: u8, subclass: u8 },
    #[error("invalid token: wrong key or mistyped digits")]
    InvalidToken,
    #[error("mistyped test token (CRC error)")]
    BadCrc,
    #[error("token was made with this meter's previous key; ask for a new one")]
    OldKey,
    #[error("token already used (TID {0})")]
    Used(u32),
    #[error("token too old (TID {0} is older than every token this meter remembers)")]
    TooOld(u32),
    #[error("the meter's key has expired (KEN {ken}); a key change is needed")]
    KeyExpired { ken: u8 },
    #[error("key change section {got} entered where section {expected} was expected")]
    KeyChangeOutOfOrder { expected: u8, got: u8 },
    #[error("key change token for a different algorithm: {0}")]
    KeyChangeMismatch(&'static str),
    #[error("rollover key change but the meter is already on the last base date")]
    NoNextBaseDate,
}

/// What an accepted token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Credit added, in tenths of the unit.
    Credit {
        kind: TransferKind,
        tenths: u64,
        tid: Tid,
    },
    /// A management register was set; `value` is the decoded value (watts for power limits, the raw field
    /// otherwise).
    Register {
        kind: RegisterKind,
        value: u64,
        tid: Tid,
    },
    Test1 {
        control: u64,
        manufacturer: u8,
    },
    Test2 {
        control: u32,
        manufacturer: u16,
    },
    /// One section of a key change set; the key changes when all have been entered.
    KeyChangeSection {
        section: u8,
        of: u8,
    },
    /// The last section arrived: the meter now uses its new key.
    KeyChanged {
        krn: u8,
        ti: u8,
        ken: u8,
        rollover: bool,
        base: BaseDate,
    },
}

/// An STS keypad meter's token state.
#[derive(Debug, Clone)]
pub struct StsMeter {
    key: DecoderKey,
    cipher: Cipher,
    params: KeyParams,
    previous: Option<Cipher>,
    tids: BTreeSet<u32>,
    tid_memory: usize,
    pending: Vec<Token>,
}

impl StsMeter {
    /// A meter holding `key` with `params`, remembering the last `tid_memory` TIDs.
    pub fn new(key: DecoderKey, params: KeyParams, tid_memory: usize) -> Self {
        Self {
            cipher: key.cipher(),
            key,
            params,
            previous: None,
            tids: BTreeSet::new(),
            tid_memory: tid_memory.max(1),
            pending: Vec::new(),
        }
    }

    pub fn key(&self) -> DecoderKey {
        self.key
    }

    pub fn params(&self) -> &KeyParams {
        &self.params
    }

    fn sections(&self) -> u8 {
        match self.params.ea {
            Ea::Sta => 2,
            Ea::Misty1 => 4,
        }
    }

    /// Enters a token as typed on the keypad.
    pub fn enter(&mut self, typed: &str) -> Result<Accepted, Rejection> {
        let number = TokenNumber::parse(typed).map_err(|e| Rejection::Format(e.to_string()))?;
        let token = match Token::decode(number, &self.cipher) {
            Ok(t) => t,
            Err(StsError::ReservedClass) => return Err(Rejection::ReservedClass),
            Err(StsError::UnknownSubclass { class, subclass }) => {
                return Err(Rejection::UnknownSubclass { class, subclass });
            }
            Err(_) if number.class_and_block().0 == 1 => return Err(Rejection::BadCrc),
            Err(_) => {
                let old = self.previous.as_ref().map(|c| Token::decode(number, c).is_ok());
                return Err(if old == Some(true) { Rejection::OldKey } else { Rejection::InvalidToken });
            }
        };
        match token {
            Token::Transfer { kind, tid, amount: field, .. } => {
                self.admit_tid(tid)?;
                Ok(Accepted::Credit { kind, tenths: amount::decode(field), tid })
            }
            Token::Register { kind, tid, value, .. } => {
                self.admit_tid(tid)?;
                let value = match kind {
                    RegisterKind::MaxPowerLimit | RegisterKind::MaxPhasePowerUnbalance => amount::decode(value),
                    _ => u64::from(value),
                };
                Ok(Accepted::Register { kind, value, tid })
            }
            Token::Test1 { control, manufacturer } => Ok(Accepted::Test1 { control, manufacturer }),
            Token::Test2 { control, manufacturer } => Ok(Accepted::Test2 { control, manufacturer }),
            Token::KeyChange1 { .. }
            | Token::KeyChange2 { .. }
            | Token::KeyChange3 { .. }
            | Token::KeyChange4 { .. } => self.key_change_section(token),
        }
    }

    /// Checks the TID against the key expiry and the TID memory, and remembers it.
    fn admit_tid(&mut self, tid: Tid) -> Result<(), Rejection> {
        if !ken_admits(self.params.ken, tid) {
            return Err(Rejection::KeyExpired { ken: self.params.ken });
        }
        let m = tid.minutes();
        if self.tids.contains(&m) {
            return Err(Rejection::Used(m));
        }
        if self.tids.len() >= self.tid_memory && self.tids.first().is_some_and(|oldest| m < *oldest) {
            return Err(Rejection::TooOld(m));
        }
        self.tids.insert(m);
        while self.tids.len() > self.tid_memory {
            self.tids.pop_first();
        }
        Ok(())
    }

    fn key_change_section(&mut self, token: Token) -> Result<Accepted, Rejection> {
        let section = match token {
            Token::KeyChange1 { .. } => 1,
            Token::KeyChange2 { .. } => 2,
            Token::KeyChange3 { .. } => 3,
            _ => 4,
        };
        let of = self.sections();
        if section > of {
            return Err(Rejection::KeyChangeMismatch("STA keys have two sections; this is a MISTY1 section"));
        }
        if section == 1 {
            // A first section always (re)starts a set.
            self.pending.clear();
        }
        let expected = self.pending.len() as u8 + 1;
        if section != expected {
            return Err(Rejection::KeyChangeOutOfOrder { expected, got: section });
        }
        self.pending.push(token);
        if section < of {
            return Ok(Accepted::KeyChangeSection { section, of });
        }
        let sections = std::mem::take(&mut self.pending);
        self.install(&sections)
    }

    fn install(&mut self, sections: &[Token]) -> Result<Accepted, Rejection> {
        let (mut ken, mut krn, mut kt, mut ti, mut rollover) = (0_u8, 0_u8, 0_u8, 0_u8, false);
        let (mut nkho, mut nklo, mut nkmo2, mut nkmo1) = (0_u32, 0_u32, 0_u32, 0_u32);
        let mut sgc = self.params.sgc;
        for s in sections {
            match *s {
                Token::KeyChange1 { ken_high, krn: r, rollover: ro, kt: t, nkho: k } => {
                    ken |= ken_high << 4;
                    (krn, kt, rollover, nkho) = (r, t, ro, k);
                }
                Token::KeyChange2 { ken_low, ti: i, nklo: k } => {
                    ken |= ken_low;
                    (ti, nklo) = (i, k);
                }
                Token::KeyChange3 { sgc_low, nkmo2: k } => {
                    sgc = (sgc & !0xFFF) | u32::from(sgc_low);
                    nkmo2 = k;
                }
                Token::KeyChange4 { sgc_high, nkmo1: k } => {
                    sgc = (sgc & 0xFFF) | (u32::from(sgc_high) << 12);
                    nkmo1 = k;
                }
                _ => {}
            }
        }
        let base = if rollover { self.params.base.next().ok_or(Rejection::NoNextBaseDate)? } else { self.params.base };
        let key = match self.params.ea {
            Ea::Sta => DecoderKey::Sta((u64::from(nkho) << 32) | u64::from(nklo)),
            Ea::Misty1 => {
                let mut k = [0_u8; 16];
                for (chunk, word) in k.chunks_exact_mut(4).zip([nkho, nkmo2, nkmo1, nklo]) {
                    chunk.copy_from_slice(&word.to_be_bytes());
                }
                DecoderKey::Misty1(k)
            }
        };
        let kt = KeyType::new(kt).map_err(|_| Rejection::KeyChangeMismatch("key type out of range"))?;
        self.previous = Some(std::mem::replace(&mut self.cipher, key.cipher()));
        self.key = key;
        self.params = KeyParams { kt, sgc, ti, krn, ken, base, ea: self.params.ea };
        if rollover {
            self.tids.clear();
        }
        Ok(Accepted::KeyChanged { krn, ti, ken, rollover, base })
    }
}
