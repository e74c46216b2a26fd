//! Secrets at rest: vending keys and OpenPAYGO device secrets are stored sealed under a master key that never
//! lives in the database (DESIGN.md §2.8).
//!
//! A sealed secret is `VVS1 ‖ key id (8) ‖ nonce (12) ‖ AES-256-GCM ciphertext and tag` (NIST SP 800-38D), with
//! the row it belongs to as additional authenticated data, so that a sealed key copied onto another row (another
//! supply group, another device) fails to open. The key id is the first eight bytes of SHA-256 over a label and
//! the key: it tells which master key sealed a row without revealing anything about the key.
//!
//! Several master keys may be known at once — the current one, which seals, and earlier ones, which only open —
//! so that the master key rotates without downtime: rows sealed under an earlier key are re-sealed under the
//! current one by an operation (`RewrapSecrets`) while the server runs.
//!
//! This module only seals with a nonce it is given (the server draws it from the operating system's random
//! source); nothing here draws random numbers or reads files.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::OpError;

const MAGIC: &[u8; 4] = b"VVS1";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
/// Sealed secrets larger than this are refused (the largest secret is a 40-hex-digit DKGA04 vending key).
pub const SEALED_LEN_MAX: usize = 256;

/// A 256-bit master key. Its bytes never appear in `Debug` output or errors.
#[derive(Clone)]
pub struct MasterKey {
    id: [u8; KEY_ID_LEN],
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id_hex())
    }
}

impl MasterKey {
    pub fn new(key: [u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"voltvend master key id\0");
        h.update(key);
        let digest = h.finalize();
        let mut id = [0_u8; KEY_ID_LEN];
        id.copy_from_slice(digest.get(..KEY_ID_LEN).unwrap_or(&[0; KEY_ID_LEN]));
        Self { id, key: Zeroizing::new(key) }
    }

    /// Parses 64 hex digits (surrounding whitespace ignored, as in a key file).
    pub fn from_hex(text: &str) -> Result<Self, OpError> {
        let text = text.trim();
        let bad = || OpError::refused("bad_master_key", "a master key is 64 hexadecimal digits (256 bits)");
        if text.len() != 64 {
            return Err(bad());
        }
        let mut key = Zeroizing::new([0_u8; 32]);
        for (i, pair) in text.as_bytes().chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).map_err(|_| bad())?;
            let b = u8::from_str_radix(s, 16).map_err(|_| bad())?;
            *key.get_mut(i).ok_or_else(bad)? = b;
        }
        Ok(Self::new(*key))
    }

    /// The key's identifier in hex, as sealed rows record it.
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.as_ref().into())
    }

    /// A nonce for sealing that is a keyed function of `context` (HMAC-SHA-256 under the master key, RFC 2104):
    /// a retried operation re-seals to the same bytes, so its fingerprint matches, while no one without the
    /// master key can compute it, and so learn from two sealed rows whether their plaintexts are equal.
    /// `context` must name the operation and the row and include the plaintext, so that a nonce never
    /// repeats for two different plaintexts under one key (AES-GCM's one requirement).
    pub fn derived_nonce(&self, context: &[&[u8]]) -> [u8; NONCE_LEN] {
        use hmac::Mac;
        // HMAC pads a key shorter than the hash's block to the block's length with zeros (RFC 2104 §2); doing
        // it here makes the construction infallible.
        let mut block = Zeroizing::new([0_u8; 64]);
        if let Some(front) = block.get_mut(..32) {
            front.copy_from_slice(self.key.as_ref());
        }
        let mut mac = <hmac::Hmac<Sha256> as aes_gcm::KeyInit>::new(block.as_ref().into());
        mac.update(b"voltvend seal nonce\0");
        for part in context {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let tag = mac.finalize().into_bytes();
        let mut nonce = [0_u8; NONCE_LEN];
        nonce.copy_from_slice(tag.get(..NONCE_LEN).unwrap_or(&[0; NONCE_LEN]));
        nonce
    }

    /// Seals `plaintext` for the row named by `aad`, with a nonce the caller drew at random or derived.
    pub fn seal(&self, aad: &str, nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> Result<Vec<u8>, OpError> {
        let ct = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: aad.as_bytes() })
            .map_err(|_| OpError::Internal("sealing a secret failed".into()))?;
        let mut out = Vec::with_capacity(MAGIC.len() + KEY_ID_LEN + NONCE_LEN + ct.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }
}

/// The master keys this process knows: the current one seals, all of them open.
#[derive(Debug, Clone, Default)]
pub struct MasterKeys {
    current: Option<MasterKey>,
    earlier: Vec<MasterKey>,
}

impl MasterKeys {
    /// No master key: sealed secrets can neither be made nor used (STS and OpenPAYGO sales are refused).
    pub fn none() -> Self {
        Self::default()
    }

    pub fn new(current: MasterKey, earlier: Vec<MasterKey>) -> Self {
        Self { current: Some(current), earlier }
    }

    pub fn current(&self) -> Option<&MasterKey> {
        self.current.as_ref()
    }

    /// Which master key sealed `sealed`, in hex (for listing rows to re-seal).
    pub fn key_id_of(sealed: &[u8]) -> Option<String> {
        let id = sealed.get(MAGIC.len()..MAGIC.len() + KEY_ID_LEN)?;
        sealed.starts_with(MAGIC).then(|| id.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Whether `sealed` was sealed under the current key.
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        self.current.as_ref().is_some_and(|k| Self::key_id_of(sealed).as_deref() == Some(&k.id_hex()))
    }

    /// Opens a sealed secret of the row `aad`.
    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpError> {
        let header = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;
        if sealed.len() <= header || sealed.len() > SEALED_LEN_MAX || !sealed.starts_with(MAGIC) {
            return Err(OpError::refused("secret_unreadable", format!("the sealed secret of {aad} is malformed")));
        }
        let id = sealed.get(MAGIC.len()..MAGIC.len() + KEY_ID_LEN).unwrap_or_default();
        let key = self.current.iter().chain(&self.earlier).find(|k| k.id == id).ok_or_else(|| {
            OpError::refused(
                "master_key_unknown",
                format!(
                    "the secret of {aad} is sealed under master key {} which is not configured",
                    id.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ),
            )
        })?;
        let nonce = sealed.get(MAGIC.len() + KEY_ID_LEN..header).unwrap_or_default();
        let ct = sealed.get(header..).unwrap_or_default();
        key.cipher()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: aad.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| OpError::refused("secret_unreadable", format!("the sealed secret of {aad} does not open")))
    }

    /// Opens a sealed secret that must be UTF-8 text (keys are stored as their hex digits).
    pub fn open_text(&self, aad: &str, sealed: &[u8]) -> Result<Zeroizing<String>, OpError> {
        let bytes = self.open(aad, sealed)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| OpError::refused("secret_unreadable", format!("the secret of {aad} is not text")))?;
        Ok(Zeroizing::new(text.to_string()))
    }
}

/// The authenticated data of a supply group's vending key at a key revision.
pub fn vending_key_aad(sgc: u32, krn: u8) -> String {
    format!("vending-key sgc={sgc:06} krn={krn}")
}

/// The authenticated data of a card key set's root key.
pub fn card_key_aad(key_no: u32) -> String {
    format!("card-key no={key_no}")
}

/// The authenticated data of an OpenPAYGO device's secret key.
pub fn openpaygo_aad(meter: voltvend_domain::MeterId) -> String {
    format!("openpaygo-secret meter={meter}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_nonces_are_hmac_under_the_key_and_separate_contexts() {
        use hmac::Mac;
        let key = MasterKey::new([5; 32]);
        // The reference: the hmac crate's own handling of a 32-byte key.
        let mut mac = <hmac::Hmac<Sha256> as Mac>::new_from_slice(&[5; 32]).unwrap();
        mac.update(b"voltvend seal nonce\0");
        mac.update(&3_u64.to_be_bytes());
        mac.update(b"abc");
        let tag = mac.finalize().into_bytes();
        assert_eq!(key.derived_nonce(&[b"abc"]).as_slice(), &tag[..12]);
        // Length prefixes keep ("ab","c") apart from ("a","bc"); another key gives another nonce.
        assert_ne!(key.derived_nonce(&[b"ab", b"c"]), key.derived_nonce(&[b"a", b"bc"]));
        assert_ne!(key.derived_nonce(&[b"abc"]), MasterKey::new([6; 32]).derived_nonce(&[b"abc"]));
    }

    #[test]
    fn seal_open_and_refuse_what_does_not_belong() {
        let old = MasterKey::new([7; 32]);
        let new = MasterKey::new([9; 32]);
        assert_ne!(old.id_hex(), new.id_hex());
        let sealed = old.seal("vending-key sgc=123456 krn=1", [1; 12], b"ABABABABABABABAB").unwrap();
        assert!(!sealed.windows(16).any(|w| w == b"ABABABABABABABAB"), "the plaintext is not in the blob");
        let keys = MasterKeys::new(new.clone(), vec![old.clone()]);
        assert_eq!(&*keys.open_text("vending-key sgc=123456 krn=1", &sealed).unwrap(), "ABABABABABABABAB");
        assert!(!keys.is_current(&sealed));
        assert_eq!(MasterKeys::key_id_of(&sealed), Some(old.id_hex()));
        let code = |r: Result<Zeroizing<Vec<u8>>, OpError>| r.err().map(|e| e.code());
        assert_eq!(code(keys.open("vending-key sgc=123456 krn=2", &sealed)), Some("secret_unreadable"), "other row");
        let only_new = MasterKeys::new(new, vec![]);
        assert_eq!(code(only_new.open("vending-key sgc=123456 krn=1", &sealed)), Some("master_key_unknown"));
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert_eq!(code(keys.open("vending-key sgc=123456 krn=1", &tampered)), Some("secret_unreadable"));
        assert_eq!(code(keys.open("x", b"VVS1")), Some("secret_unreadable"));
        assert!(!format!("{keys:?}").contains("0707070707"), "no key bytes in Debug: {keys:?}");
        assert!(MasterKey::from_hex(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err() && MasterKey::from_hex("abcd").is_err());
    }
}
