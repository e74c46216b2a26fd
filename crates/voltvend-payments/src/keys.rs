//! The providers' RSA public keys, as their consoles hand them out, and RSA-SHA256 (PKCS #1 v1.5) verification.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::RsaPublicKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use sha2::Sha256;

use crate::PaymentError;

/// A public key from PEM (`PUBLIC KEY`, or PKCS #1 `RSA PUBLIC KEY`) or, as Alipay's console shows it, the bare
/// base64 of the DER `SubjectPublicKeyInfo` without header lines.
pub fn public_key(text: &str) -> Result<RsaPublicKey, PaymentError> {
    let text = text.trim();
    let bad = |e: &dyn std::fmt::Display| PaymentError::BadKey(e.to_string());
    if text.contains("-----BEGIN RSA PUBLIC KEY-----") {
        return RsaPublicKey::from_pkcs1_pem(text).map_err(|e| bad(&e));
    }
    if text.contains("-----BEGIN") {
        return RsaPublicKey::from_public_key_pem(text).map_err(|e| bad(&e));
    }
    let der: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD.decode(der).map_err(|e| bad(&e))?;
    RsaPublicKey::from_public_key_der(&der).map_err(|e| bad(&e))
}

/// Checks a base64 RSA-SHA256 (PKCS #1 v1.5) signature of `message`.
pub fn verify_sha256(key: &RsaPublicKey, message: &[u8], signature_b64: &str) -> Result<(), PaymentError> {
    let raw = STANDARD.decode(signature_b64.trim()).map_err(|_| PaymentError::BadSignature)?;
    let signature = Signature::try_from(raw.as_slice()).map_err(|_| PaymentError::BadSignature)?;
    VerifyingKey::<Sha256>::new(key.clone()).verify(message, &signature).map_err(|_| PaymentError::BadSignature)
}
