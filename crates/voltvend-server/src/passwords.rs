//! Operator passwords: argon2id with the crate's default (OWASP-recommended) parameters and a fresh 16-byte
//! salt from the injected random source.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::clock::IdGenerator;

pub const PASSWORD_LEN_MIN: usize = 10;
pub const PASSWORD_LEN_MAX: usize = 256;

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

pub fn hash(password: &str, ids: &IdGenerator) -> anyhow::Result<String> {
    let len = password.chars().count();
    if !(PASSWORD_LEN_MIN..=PASSWORD_LEN_MAX).contains(&len) {
        anyhow::bail!("a password must be {PASSWORD_LEN_MIN}–{PASSWORD_LEN_MAX} characters");
    }
    let mut salt = [0_u8; 16];
    ids.fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = hasher().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    Ok(hash.to_string())
}

pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| hasher().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A random password of 20 characters from an alphabet without look-alikes (no 0/O, 1/l/I).
pub fn generate(ids: &IdGenerator) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0_u8; 20];
    ids.fill(&mut bytes);
    // 256 is not a multiple of the alphabet's length; the bias is < 0.4 bits over 20 characters, acceptable.
    bytes.iter().map(|b| char::from(ALPHABET.get(usize::from(*b) % ALPHABET.len()).copied().unwrap_or(b'x'))).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use voltvend_domain::ManualClock;

    use super::*;

    #[test]
    fn hash_and_verify() {
        let ids = IdGenerator::seeded(Arc::new(ManualClock::new(jiff::Timestamp::UNIX_EPOCH)), 1);
        let pw = generate(&ids);
        assert_eq!(pw.len(), 20);
        let phc = hash(&pw, &ids).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"));
        assert!(verify(&pw, &phc));
        assert!(!verify("wrong password", &phc));
        assert!(!verify(&pw, "not a hash"));
        assert!(hash("short", &ids).is_err());
    }
}
