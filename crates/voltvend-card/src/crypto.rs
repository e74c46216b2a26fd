//! Card cryptography: block ciphers, MACs and per-card key diversification.
//!
//! * **3DES** — two-key triple DES, EDE, 16-byte key `K1 ‖ K2`, 8-byte block (ISO/IEC 18033-3, NIST SP 800-67).
//! * **SM4** — the Chinese national block cipher, GB/T 32907-2016, 16-byte key, 16-byte block.
//!
//! **MAC** (ISO/IEC 9797-1:2011): the data is padded with padding method 2 (a `80` byte, then `00` bytes to a
//! block boundary; always at least one byte), chained with CBC from an initial value `IV`, and the first four
//! bytes of the result are the MAC, as FMCOS secure messaging uses it.
//! * 3DES: MAC algorithm 3 ("retail MAC"): single-DES CBC with `K1` over every block, then the final output
//!   block is decrypted with `K2` and encrypted with `K1` again.
//! * SM4: MAC algorithm 1 (plain CBC-MAC) with 16-byte blocks.
//!
//! An `IV` shorter than a block (a 4-byte challenge, say) is right-padded with zero bytes, as FMCOS does; bytes
//! beyond a block are ignored.
//!
//! **Authentication cryptograms** (FMCOS external / internal authenticate): the challenge is right-padded with
//! zero bytes to one block and encrypted in ECB mode; the cryptogram is the whole block (8 bytes for 3DES,
//! 16 for SM4).
//!
//! **Key diversification** (PBOC / JR/T 0025 style, documented in `docs/cards.md`): the utility holds one
//! [`RootKey`]; for each [`KeyPurpose`] a sub-root `R_p = diversify(root, label_p)` is derived, and the card's
//! key for that purpose is `K = diversify(R_p, card serial)`, where for an 8-byte input `d`
//! * 3DES: `diversify(K, d) = E_K(d) ‖ E_K(¬d)`
//! * SM4: `diversify(K, d) = E_K(d ‖ ¬d)`
//!
//! (`¬d` is `d` with every bit inverted). A card therefore holds only its own keys: a key read out of one card
//! opens no other card, and a purpose's key cannot stand in for another purpose's.

use des::TdesEde2;
use des::cipher::generic_array::GenericArray;
use des::cipher::{BlockDecrypt, BlockEncrypt, BlockSizeUser, KeyInit, Unsigned};
use sm4::Sm4;
use thiserror::Error;
use zeroize::Zeroize;

use crate::layout::CardSerial;

/// The block cipher a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Two-key triple DES (EDE2), 8-byte blocks.
    Tdes,
    /// SM4 (GB/T 32907-2016), 16-byte blocks.
    Sm4,
}

impl Algorithm {
    pub fn block_len(self) -> usize {
        match self {
            Self::Tdes => 8,
            Self::Sm4 => 16,
        }
    }

    /// The algorithm byte used in key entries and the card image.
    pub fn code(self) -> u8 {
        match self {
            Self::Tdes => 1,
            Self::Sm4 => 2,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Tdes),
            2 => Some(Self::Sm4),
            _ => None,
        }
    }
}

/// Why a cryptographic operation could not run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    #[error("{len} bytes are not a whole number of {block}-byte blocks")]
    NotBlockAligned { len: usize, block: usize },
    #[error("a key is 32 hexadecimal digits")]
    BadKeyHex,
}

/// A 16-byte symmetric key. Its bytes never appear in `Debug` output and are zeroed when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    alg: Algorithm,
    bytes: [u8; 16],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("alg", &self.alg).field("bytes", &"<redacted>").finish()
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Encrypt,
    Decrypt,
}

fn ecb_with<C: BlockEncrypt + BlockDecrypt>(
    cipher: &C,
    data: &[u8],
    dir: Direction,
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let block = <C as BlockSizeUser>::BlockSize::USIZE;
    if !data.len().is_multiple_of(block) {
        return Err(CryptoError::NotBlockAligned { len: data.len(), block });
    }
    for chunk in data.chunks_exact(block) {
        let mut b = GenericArray::from_exact_iter(chunk.iter().copied())
            .ok_or(CryptoError::NotBlockAligned { len: data.len(), block })?;
        match dir {
            Direction::Encrypt => cipher.encrypt_block(&mut b),
            Direction::Decrypt => cipher.decrypt_block(&mut b),
        }
        out.extend_from_slice(&b);
    }
    Ok(())
}

/// XORs `b` into `a` position by position.
fn xor_into(a: &mut [u8], b: &[u8]) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x ^= y);
}

/// ISO/IEC 9797-1 padding method 2: `80`, then `00`s up to a multiple of `block`.
pub fn pad_method2(data: &[u8], block: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    out.push(0x80);
    while !out.len().is_multiple_of(block.max(1)) {
        out.push(0);
    }
    out
}

/// `data` right-padded with zeros (or cut) to exactly `len` bytes.
fn zero_fit(data: &[u8], len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = data.iter().copied().take(len).collect();
    out.resize(len, 0);
    out
}

impl Key {
    pub fn new(alg: Algorithm, bytes: [u8; 16]) -> Self {
        Self { alg, bytes }
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The raw key bytes, for writing the key into a card's key file.
    pub fn expose_bytes(&self) -> &[u8; 16] {
        &self.bytes
    }

    /// The documented factory transport key of a blank card: sixteen `FF` bytes (our convention; see
    /// `docs/cards.md`). Anyone may know it; personalisation replaces it at once.
    pub fn transport(alg: Algorithm) -> Self {
        Self { alg, bytes: [0xFF; 16] }
    }

    fn ecb(&self, data: &[u8], dir: Direction) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(data.len());
        match self.alg {
            Algorithm::Tdes => ecb_with(&TdesEde2::new(&GenericArray::from(self.bytes)), data, dir, &mut out)?,
            Algorithm::Sm4 => ecb_with(&Sm4::new(&GenericArray::from(self.bytes)), data, dir, &mut out)?,
        }
        Ok(out)
    }

    /// ECB encryption of whole blocks.
    pub fn encrypt_ecb(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.ecb(data, Direction::Encrypt)
    }

    /// ECB decryption of whole blocks.
    pub fn decrypt_ecb(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.ecb(data, Direction::Decrypt)
    }

    /// The authentication cryptogram for a challenge: `E_K(challenge ‖ 00…)`, one block.
    pub fn cryptogram(&self, challenge: &[u8]) -> Vec<u8> {
        let block = zero_fit(challenge, self.alg.block_len());
        // One whole block always encrypts; the empty fallback can only be hit by a bug and then fails closed.
        self.encrypt_ecb(&block).unwrap_or_default()
    }

    /// The 4-byte MAC of `data` with initial value `iv` (see the module documentation).
    pub fn mac(&self, iv: &[u8], data: &[u8]) -> [u8; 4] {
        let full = self.mac_block(iv, &pad_method2(data, self.alg.block_len()));
        let mut out = [0u8; 4];
        out.iter_mut().zip(&full).for_each(|(o, b)| *o = *b);
        out
    }

    /// The full final MAC block over already padded `padded` data (no padding added here).
    fn mac_block(&self, iv: &[u8], padded: &[u8]) -> Vec<u8> {
        let block = self.alg.block_len();
        let mut h = zero_fit(iv, block);
        match self.alg {
            Algorithm::Tdes => {
                let (k1, k2) = self.bytes.split_at(8);
                let (Ok(d1), Ok(d2)) = (des::Des::new_from_slice(k1), des::Des::new_from_slice(k2)) else {
                    return Vec::new();
                };
                for chunk in padded.chunks(block) {
                    xor_into(&mut h, chunk);
                    h = single(&d1, &h, Direction::Encrypt);
                }
                h = single(&d2, &h, Direction::Decrypt);
                single(&d1, &h, Direction::Encrypt)
            }
            Algorithm::Sm4 => {
                let c = Sm4::new(&GenericArray::from(self.bytes));
                for chunk in padded.chunks(block) {
                    xor_into(&mut h, chunk);
                    h = single(&c, &h, Direction::Encrypt);
                }
                h
            }
        }
    }

    /// The 16-byte diversified key for an 8-byte input (see the module documentation).
    pub fn diversify(&self, data: [u8; 8]) -> Key {
        let inverted = data.map(|b| !b);
        let mut bytes = [0u8; 16];
        let derived = match self.alg {
            Algorithm::Tdes => {
                let mut both = self.encrypt_ecb(&data).unwrap_or_default();
                both.extend(self.encrypt_ecb(&inverted).unwrap_or_default());
                both
            }
            Algorithm::Sm4 => {
                let mut input = data.to_vec();
                input.extend_from_slice(&inverted);
                self.encrypt_ecb(&input).unwrap_or_default()
            }
        };
        bytes.iter_mut().zip(&derived).for_each(|(o, b)| *o = *b);
        let mut derived = derived;
        derived.zeroize();
        Key { alg: self.alg, bytes }
    }
}

fn single<C: BlockEncrypt + BlockDecrypt>(cipher: &C, block: &[u8], dir: Direction) -> Vec<u8> {
    let mut out = Vec::new();
    // `block` is always one whole block here; on a length bug the result is empty and every MAC check fails.
    match ecb_with(cipher, block, dir, &mut out) {
        Ok(()) => out,
        Err(_) => Vec::new(),
    }
}

/// What a card key is for; each purpose has its own sub-root so that keys never stand in for one another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// The card issuer's master key (MF and DF key 00): personalisation and erasure.
    Issuer,
    /// The key the terminal proves in EXTERNAL AUTHENTICATE.
    ExternalAuth,
    /// The key the card proves in INTERNAL AUTHENTICATE. Separate from `ExternalAuth` so that a card cannot
    /// be made to compute its own external-authentication cryptogram (a reflection attack).
    InternalAuth,
    /// Line protection: the secure-messaging MAC on UPDATE BINARY.
    Line,
    /// The MAC over the purchase and parameter records (computed by the sales system, checked by the meter).
    Purchase,
    /// The MAC over the return record (computed by the meter, checked by the sales system).
    Return,
}

impl KeyPurpose {
    pub const ALL: [KeyPurpose; 6] =
        [Self::Issuer, Self::ExternalAuth, Self::InternalAuth, Self::Line, Self::Purchase, Self::Return];

    /// The 8-byte label block: ASCII `VVCARD`, `00`, then the purpose number.
    pub fn label(self) -> [u8; 8] {
        let n = match self {
            Self::Issuer => 1,
            Self::ExternalAuth => 2,
            Self::InternalAuth => 3,
            Self::Line => 4,
            Self::Purchase => 5,
            Self::Return => 6,
        };
        [b'V', b'V', b'C', b'A', b'R', b'D', 0, n]
    }
}

/// The utility's root card key (held in the sales system's key store and in each meter's ESAM).
#[derive(Clone, PartialEq, Eq)]
pub struct RootKey {
    key: Key,
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootKey").field("alg", &self.key.alg).field("bytes", &"<redacted>").finish()
    }
}

impl RootKey {
    pub fn new(alg: Algorithm, bytes: [u8; 16]) -> Self {
        Self { key: Key::new(alg, bytes) }
    }

    /// 32 hexadecimal digits (either case; spaces are ignored). The error never repeats the input.
    pub fn from_hex(alg: Algorithm, hex: &str) -> Result<Self, CryptoError> {
        let mut bytes = [0u8; 16];
        let mut digits = hex.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_digit(16));
        for b in &mut bytes {
            let (Some(Some(hi)), Some(Some(lo))) = (digits.next(), digits.next()) else {
                bytes.zeroize();
                return Err(CryptoError::BadKeyHex);
            };
            *b = ((hi << 4) | lo) as u8;
        }
        if digits.next().is_some() {
            bytes.zeroize();
            return Err(CryptoError::BadKeyHex);
        }
        let key = Self::new(alg, bytes);
        bytes.zeroize();
        Ok(key)
    }

    pub fn alg(&self) -> Algorithm {
        self.key.alg
    }

    /// The sub-root for one purpose.
    pub fn sub_root(&self, purpose: KeyPurpose) -> Key {
        self.key.diversify(purpose.label())
    }

    /// One card's key for one purpose.
    pub fn card_key(&self, purpose: KeyPurpose, serial: &CardSerial) -> Key {
        self.sub_root(purpose).diversify(serial.0)
    }

    /// All of one card's keys.
    pub fn card_keys(&self, serial: &CardSerial) -> CardKeys {
        CardKeys {
            issuer: self.card_key(KeyPurpose::Issuer, serial),
            external_auth: self.card_key(KeyPurpose::ExternalAuth, serial),
            internal_auth: self.card_key(KeyPurpose::InternalAuth, serial),
            line: self.card_key(KeyPurpose::Line, serial),
            purchase: self.card_key(KeyPurpose::Purchase, serial),
            ret: self.card_key(KeyPurpose::Return, serial),
        }
    }
}

/// One card's diversified keys (`Debug` shows none of their bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardKeys {
    pub issuer: Key,
    pub external_auth: Key,
    pub internal_auth: Key,
    pub line: Key,
    pub purchase: Key,
    pub ret: Key,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn h(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn key(alg: Algorithm, hex: &str) -> Key {
        Key::new(alg, h(hex).try_into().unwrap())
    }

    #[test]
    fn block_cipher_known_answers() {
        // The classic DES worked example (key 133457799BBCDFF1): with K1 = K2, EDE2 is single DES.
        let k = key(Algorithm::Tdes, "133457799BBCDFF1133457799BBCDFF1");
        assert_eq!(k.encrypt_ecb(&h("0123456789ABCDEF")).unwrap(), h("85E813540F0AB405"));
        // Two-key 3DES, checked against OpenSSL's des-ede-ecb.
        let k = key(Algorithm::Tdes, "0123456789ABCDEFFEDCBA9876543210");
        assert_eq!(k.encrypt_ecb(&h("0123456789ABCDEF")).unwrap(), h("1A4D672DCA6CB335"));
        assert_eq!(k.decrypt_ecb(&h("1A4D672DCA6CB335")).unwrap(), h("0123456789ABCDEF"));
        // GB/T 32907-2016 appendix A example 1.
        let k = key(Algorithm::Sm4, "0123456789abcdeffedcba9876543210");
        let ct = k.encrypt_ecb(&h("0123456789abcdeffedcba9876543210")).unwrap();
        assert_eq!(ct, h("681edf34d206965e86b3e94f536e4246"));
        assert_eq!(k.decrypt_ecb(&ct).unwrap(), h("0123456789abcdeffedcba9876543210"));
        assert_eq!(k.encrypt_ecb(&[0; 15]), Err(CryptoError::NotBlockAligned { len: 15, block: 16 }));
    }

    #[test]
    fn retail_mac_iso_9797_1_annex_b() {
        // ISO/IEC 9797-1:2011 B.4 (MAC algorithm 3, padding method 1, i.e. zero padding), K = 0123…EF,
        // K' = FEDC…10.
        let k = key(Algorithm::Tdes, "0123456789ABCDEFFEDCBA9876543210");
        assert_eq!(k.mac_block(&[], b"Now is the time for all "), h("A1C72E74EA3FA9B6"));
        let mut it = b"Now is the time for it".to_vec();
        it.resize(24, 0);
        assert_eq!(k.mac_block(&[], &it), h("2E2B1428CC78254F"));
    }

    #[test]
    fn padding_method_2_and_mac_truncation() {
        assert_eq!(pad_method2(&[1, 2], 8), h("0102800000000000"));
        assert_eq!(pad_method2(&[0; 8], 8).len(), 16, "a full block still gets a padding block");
        let k = key(Algorithm::Sm4, "0123456789abcdeffedcba9876543210");
        let full = k.mac_block(&[9; 4], &pad_method2(b"abc", 16));
        assert_eq!(k.mac(&[9, 9, 9, 9], b"abc").to_vec(), full[..4].to_vec());
        // SM4 CBC-MAC over one block with IV 0 is a single encryption of the padded block.
        assert_eq!(full.len(), 16);
        assert_eq!(k.mac_block(&[], &[0x11; 16]), k.encrypt_ecb(&[0x11; 16]).unwrap());
    }

    #[test]
    fn diversification_shapes_and_separation() {
        let root = RootKey::from_hex(Algorithm::Tdes, "00112233 44556677 8899AABB CCDDEEFF").unwrap();
        let s = CardSerial([1, 2, 3, 4, 5, 6, 7, 8]);
        let sub = root.sub_root(KeyPurpose::Line);
        let k = root.card_key(KeyPurpose::Line, &s);
        let mut expect = sub.encrypt_ecb(&s.0).unwrap();
        expect.extend(sub.encrypt_ecb(&s.0.map(|b| !b)).unwrap());
        assert_eq!(k.expose_bytes().to_vec(), expect);
        let keys = root.card_keys(&s);
        assert_ne!(keys.external_auth, keys.internal_auth);
        assert_ne!(keys.line, root.card_key(KeyPurpose::Line, &CardSerial([1, 2, 3, 4, 5, 6, 7, 9])));
        let sm = RootKey::new(Algorithm::Sm4, [7; 16]);
        let sub = sm.sub_root(KeyPurpose::Purchase);
        let mut input = s.0.to_vec();
        input.extend(s.0.map(|b| !b));
        assert_eq!(sm.card_key(KeyPurpose::Purchase, &s).expose_bytes().to_vec(), sub.encrypt_ecb(&input).unwrap());
        assert!(RootKey::from_hex(Algorithm::Sm4, "0011").is_err());
        assert!(RootKey::from_hex(Algorithm::Sm4, &"0g".repeat(16)).is_err());
        assert!(RootKey::from_hex(Algorithm::Sm4, &"00".repeat(17)).is_err());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let root = RootKey::from_hex(Algorithm::Tdes, "00112233445566778899AABBCCDDEEFF").unwrap();
        let keys = root.card_keys(&CardSerial([0; 8]));
        for text in [format!("{root:?}"), format!("{keys:?}")] {
            assert!(text.contains("<redacted>") && !text.contains("17") && !text.contains("0x"), "{text}");
        }
    }

    proptest! {
        /// Retail MAC = 3DES encryption of the last block chained onto a single-DES (K1) CBC-MAC of the rest;
        /// with K1 = K2 it collapses to a single-DES CBC-MAC.
        #[test]
        fn retail_mac_structure(k in any::<[u8; 16]>(), iv in any::<[u8; 8]>(), data in proptest::collection::vec(any::<u8>(), 0..40)) {
            let tdes = Key::new(Algorithm::Tdes, k);
            let padded = pad_method2(&data, 8);
            let (init, last) = padded.split_at(padded.len() - 8);
            let d1 = des::Des::new_from_slice(&k[..8]).unwrap();
            let mut hh = iv.to_vec();
            for chunk in init.chunks(8) {
                xor_into(&mut hh, chunk);
                hh = single(&d1, &hh, Direction::Encrypt);
            }
            xor_into(&mut hh, last);
            prop_assert_eq!(tdes.mac_block(&iv, &padded), tdes.encrypt_ecb(&hh).unwrap());
            let mut k2 = k;
            k2[8..].copy_from_slice(&k[..8]);
            let same = Key::new(Algorithm::Tdes, k2);
            let mut hh = iv.to_vec();
            for chunk in padded.chunks(8) {
                xor_into(&mut hh, chunk);
                hh = single(&d1, &hh, Direction::Encrypt);
            }
            prop_assert_eq!(same.mac_block(&iv, &padded), hh);
        }
    }
}
