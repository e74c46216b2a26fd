//! Decoder keys and their derivation (IEC 62055-41 §6.5.1 and the key management of -52).
//!
//! * DKGA02: `DK = DES(VUDK, M) ⊕ M ⊕ VUDK` with `M = PANBlock ⊕ ControlBlock` (64-bit vending key).
//! * DKGA04: HMAC-SHA-256 keyed with the 160-bit vending key over a 49-byte label/context message; the STA key
//!   is the first 8 bytes, the MISTY1 key the first 16 (PROTOCOLS.md §1.9 gives the byte layout the vectors
//!   require).
//! * DKGA01/03 are not implemented (no public vectors); EA09 (DES tokens) is refused as unverified.
//!
//! Vending keys never appear in `Debug` output or errors.

use std::fmt;

use des::Des;
use des::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::StsError;
use crate::ea07::Sta;
use crate::identity::Pan;
use crate::misty1::Misty1;
use crate::tid::BaseDate;

/// Encryption algorithm of the token (EA code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ea {
    /// EA07, the Standard Transfer Algorithm.
    Sta,
    /// EA11, MISTY1.
    Misty1,
}

impl Ea {
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Sta => "07",
            Self::Misty1 => "11",
        }
    }

    pub fn from_code(code: &str) -> Result<Self, StsError> {
        match code {
            "07" | "7" => Ok(Self::Sta),
            "11" => Ok(Self::Misty1),
            "09" | "9" => Err(StsError::Unsupported(
                "EA09 (DEA) has no public compliance vectors to verify against; use EA07 or EA11",
            )),
            other => Err(StsError::BadParameter { name: "EA", value: other.to_string(), expected: "07 or 11" }),
        }
    }
}

/// Decoder key generation algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dkga {
    Dkga02,
    Dkga04,
}

impl Dkga {
    pub fn from_code(code: &str) -> Result<Self, StsError> {
        match code {
            "02" | "2" => Ok(Self::Dkga02),
            "04" | "4" => Ok(Self::Dkga04),
            "01" | "1" | "03" | "3" => {
                Err(StsError::Unsupported("DKGA01 and DKGA03 have no public vectors; use DKGA02 or DKGA04"))
            }
            other => Err(StsError::BadParameter { name: "DKGA", value: other.to_string(), expected: "02 or 04" }),
        }
    }

    pub const fn code(&self) -> &'static str {
        match self {
            Self::Dkga02 => "02",
            Self::Dkga04 => "04",
        }
    }
}

/// Key type (KT): 0 initialisation, 1 default, 2 unique, 3 common.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyType(u8);

impl KeyType {
    pub const UNIQUE: KeyType = KeyType(2);
    pub const COMMON: KeyType = KeyType(3);

    pub fn new(kt: u8) -> Result<Self, StsError> {
        if kt > 3 {
            return Err(StsError::BadParameter { name: "KT", value: kt.to_string(), expected: "0–3" });
        }
        Ok(Self(kt))
    }

    pub const fn value(&self) -> u8 {
        self.0
    }
}

/// The parameters that, with the vending key and the PAN, determine a decoder key, plus the key expiry
/// number that limits its use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyParams {
    pub kt: KeyType,
    /// Supply group code, 6 digits.
    pub sgc: u32,
    /// Tariff index, 0–99.
    pub ti: u8,
    /// Key revision number, 1–15 (4 bits on the wire).
    pub krn: u8,
    /// Key expiry number: tokens with `TID >> 16 > KEN` are refused (255 = never).
    pub ken: u8,
    pub base: BaseDate,
    pub ea: Ea,
}

impl KeyParams {
    pub fn validate(&self) -> Result<(), StsError> {
        if self.sgc > 999_999 {
            return Err(StsError::BadParameter { name: "SGC", value: self.sgc.to_string(), expected: "6 digits" });
        }
        if self.ti > 99 {
            return Err(StsError::BadParameter { name: "TI", value: self.ti.to_string(), expected: "0–99" });
        }
        if !(1..=15).contains(&self.krn) {
            return Err(StsError::BadParameter { name: "KRN", value: self.krn.to_string(), expected: "1–15" });
        }
        Ok(())
    }
}

/// A vending key. Its bytes are never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum VendingKey {
    /// A 64-bit vending unique DES key (DKGA02).
    Des([u8; 8]),
    /// A 160-bit vending key (DKGA04).
    Kdf([u8; 20]),
}

impl fmt::Debug for VendingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Des(_) => "VendingKey::Des(..)",
            Self::Kdf(_) => "VendingKey::Kdf(..)",
        })
    }
}

impl VendingKey {
    /// Parses 16 hex digits (DKGA02) or 40 (DKGA04).
    pub fn from_hex(hex: &str) -> Result<Self, StsError> {
        let bytes = parse_hex(hex.trim()).map_err(|_| StsError::BadKey("vending key must be hex"))?;
        match bytes.len() {
            8 => Ok(Self::Des(bytes.try_into().map_err(|_| StsError::BadKey("vending key length"))?)),
            20 => Ok(Self::Kdf(bytes.try_into().map_err(|_| StsError::BadKey("vending key length"))?)),
            _ => Err(StsError::BadKey("a vending key is 16 hex digits (DKGA02) or 40 (DKGA04)")),
        }
    }

    pub fn dkga(&self) -> Dkga {
        match self {
            Self::Des(_) => Dkga::Dkga02,
            Self::Kdf(_) => Dkga::Dkga04,
        }
    }

    /// Derives the decoder key of the meter with `pan` under `params`.
    pub fn derive(&self, pan: &Pan, params: &KeyParams) -> Result<DecoderKey, StsError> {
        params.validate()?;
        match self {
            Self::Des(vudk) => {
                if params.ea != Ea::Sta {
                    return Err(StsError::Unsupported("DKGA02 derives 64-bit keys, which only EA07 uses"));
                }
                Ok(DecoderKey::Sta(dkga02(vudk, pan, params)))
            }
            Self::Kdf(vk) => Ok(dkga04(vk, pan, params)),
        }
    }
}

fn dkga02(vudk: &[u8; 8], pan: &Pan, p: &KeyParams) -> u64 {
    // PAN block: 16 decimal digits read as hex nibbles. For a common key (KT 3) the DRN part is zero.
    let mut pan_block = 0_u64;
    let digits = pan.pan_block_digits();
    let iin_nibbles = if pan.short_iin() { 3 } else { 5 };
    for (i, d) in digits.iter().enumerate() {
        let nibble = if p.kt == KeyType::COMMON && i >= iin_nibbles { 0 } else { u64::from(*d) };
        pan_block = (pan_block << 4) | nibble;
    }
    // Control block: KT ‖ SGC(6) ‖ TI(2) ‖ KRN ‖ FFFFFF, decimal digits as nibbles.
    let ctrl_digits = format!("{}{:06}{:02}{:X}", p.kt.value(), p.sgc, p.ti, p.krn);
    let mut ctrl = 0_u64;
    for c in ctrl_digits.chars() {
        ctrl = (ctrl << 4) | u64::from(c.to_digit(16).unwrap_or(0));
    }
    ctrl = (ctrl << 24) | 0xFF_FFFF;
    let m = pan_block ^ ctrl;
    let cipher = Des::new(GenericArray::from_slice(vudk));
    let mut block = GenericArray::clone_from_slice(&m.to_be_bytes());
    cipher.encrypt_block(&mut block);
    let mut encrypted = [0_u8; 8];
    encrypted.copy_from_slice(&block);
    u64::from_be_bytes(encrypted) ^ m ^ u64::from_be_bytes(*vudk)
}

/// The 49-byte DKGA04 message (PROTOCOLS.md §1.9).
pub(crate) fn dkga04_message(pan: &Pan, p: &KeyParams) -> Vec<u8> {
    let mut m = Vec::with_capacity(49);
    let field = |m: &mut Vec<u8>, bytes: &[u8]| {
        m.push(bytes.len() as u8);
        m.extend_from_slice(bytes);
    };
    m.push(4);
    field(&mut m, b"04");
    field(&mut m, p.base.code().as_bytes());
    field(&mut m, p.ea.code().as_bytes());
    field(&mut m, format!("{:02}", p.ti).as_bytes());
    m.push(0);
    m.push(4);
    field(&mut m, format!("{:06}", p.sgc).as_bytes());
    field(&mut m, format!("{:X}", p.kt.value()).as_bytes());
    field(&mut m, format!("{:X}", p.krn).as_bytes());
    field(&mut m, pan.to_string().as_bytes());
    let bits: u8 = match p.ea {
        Ea::Sta => 0x40,
        Ea::Misty1 => 0x80,
    };
    m.extend_from_slice(&[0, 0, 0, bits]);
    m
}

fn dkga04(vk: &[u8; 20], pan: &Pan, p: &KeyParams) -> DecoderKey {
    // HMAC accepts keys of any length, so this cannot fail; an empty MAC would only come from a broken crate.
    let mac = <Hmac<Sha256> as Mac>::new_from_slice(vk).map(|mut mac| {
        mac.update(&dkga04_message(pan, p));
        mac.finalize().into_bytes()
    });
    let out: [u8; 32] = mac.map(|m| m.into()).unwrap_or([0; 32]);
    match p.ea {
        Ea::Sta => {
            let mut k = [0_u8; 8];
            k.copy_from_slice(out.get(..8).unwrap_or(&[0; 8]));
            DecoderKey::Sta(u64::from_be_bytes(k))
        }
        Ea::Misty1 => {
            let mut k = [0_u8; 16];
            k.copy_from_slice(out.get(..16).unwrap_or(&[0; 16]));
            DecoderKey::Misty1(k)
        }
    }
}

/// A decoder key: what a meter holds and what its tokens are encrypted with.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecoderKey {
    Sta(u64),
    Misty1([u8; 16]),
}

impl fmt::Debug for DecoderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sta(_) => "DecoderKey::Sta(..)",
            Self::Misty1(_) => "DecoderKey::Misty1(..)",
        })
    }
}

impl DecoderKey {
    /// 16 hex digits for STA, 32 for MISTY1 (natural big-endian order).
    pub fn from_hex(hex: &str) -> Result<Self, StsError> {
        let bytes = parse_hex(hex.trim()).map_err(|_| StsError::BadKey("decoder key must be hex"))?;
        match bytes.len() {
            8 => {
                let mut k = [0_u8; 8];
                k.copy_from_slice(&bytes);
                Ok(Self::Sta(u64::from_be_bytes(k)))
            }
            16 => {
                let mut k = [0_u8; 16];
                k.copy_from_slice(&bytes);
                Ok(Self::Misty1(k))
            }
            _ => Err(StsError::BadKey("a decoder key is 16 hex digits (EA07) or 32 (EA11)")),
        }
    }

    /// The key in hex. Call sites decide whether it may be shown.
    pub fn to_hex(&self) -> String {
        match self {
            Self::Sta(k) => format!("{k:016X}"),
            Self::Misty1(k) => k.iter().map(|b| format!("{b:02X}")).collect(),
        }
    }

    pub fn ea(&self) -> Ea {
        match self {
            Self::Sta(_) => Ea::Sta,
            Self::Misty1(_) => Ea::Misty1,
        }
    }

    /// Prepares the cipher (key schedule) once, for many tokens.
    pub fn cipher(&self) -> Cipher {
        match self {
            Self::Sta(k) => Cipher::Sta(Sta::new(*k)),
            Self::Misty1(k) => Cipher::Misty1(Box::new(Misty1::new(k))),
        }
    }
}

/// A prepared token cipher.
#[derive(Debug, Clone)]
pub enum Cipher {
    Sta(Sta),
    Misty1(Box<Misty1>),
}

impl Cipher {
    pub fn encrypt(&self, block: u64) -> u64 {
        match self {
            Self::Sta(c) => c.encrypt(block),
            Self::Misty1(c) => c.encrypt(block),
        }
    }

    pub fn decrypt(&self, block: u64) -> u64 {
        match self {
            Self::Sta(c) => c.decrypt(block),
            Self::Misty1(c) => c.decrypt(block),
        }
    }
}

pub(crate) fn parse_hex(s: &str) -> Result<Vec<u8>, ()> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(());
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or(())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(ea: Ea, sgc: u32) -> KeyParams {
        KeyParams { kt: KeyType::UNIQUE, sgc, ti: 1, krn: 1, ken: 255, base: BaseDate::Y1993, ea }
    }

    #[test]
    fn dkga02_worked_example() {
        let vk = VendingKey::from_hex("ABABABABABABABAB").unwrap();
        let pan = Pan::parse("600727000000000009").unwrap();
        let dk = vk.derive(&pan, &params(Ea::Sta, 123_456)).unwrap();
        assert_eq!(dk.to_hex(), "E653341F9D5BF36F");
    }

    #[test]
    fn dkga04_worked_example() {
        let vk = VendingKey::from_hex("abababababababab949494949494949401234567").unwrap();
        let pan = Pan::parse("600727000000000009").unwrap();
        let msg = dkga04_message(&pan, &params(Ea::Sta, 123_457));
        // 49 bytes as PROTOCOLS.md §1.9 states. (The example hex printed there has one stray `39` after the PAN,
        // making it 50 bytes; HMAC over that gives C60241EF…, not the vectors' AA4BAA87….)
        let hex: String = msg.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(msg.len(), 49);
        assert_eq!(
            hex,
            "04023034023933023037023031000406313233343537013201311236303037323730303030303030303030303900000040"
        );
        assert_eq!(vk.derive(&pan, &params(Ea::Sta, 123_457)).unwrap().to_hex(), "AA4BAA8749C10D27");
        assert_eq!(vk.derive(&pan, &params(Ea::Misty1, 123_457)).unwrap().to_hex(), "F94B6ED353C3BFDB113E2D3A7EA3C41D");
    }

    #[test]
    fn refusals_and_secrecy() {
        assert!(matches!(Ea::from_code("09"), Err(StsError::Unsupported(_))));
        assert!(matches!(Dkga::from_code("01"), Err(StsError::Unsupported(_))));
        let vk = VendingKey::from_hex("ABABABABABABABAB").unwrap();
        assert_eq!(format!("{vk:?}"), "VendingKey::Des(..)");
        let pan = Pan::parse("600727000000000009").unwrap();
        assert!(matches!(vk.derive(&pan, &params(Ea::Misty1, 1)), Err(StsError::Unsupported(_))));
        assert!(VendingKey::from_hex("ABAB").is_err());
        assert!(DecoderKey::from_hex("zz").is_err());
    }
}
