//! The providers' RSA public keys and the merchant's private key, as the providers' consoles hand them out, and
//! RSA-SHA256 (PKCS #1 v1.5) signatures: checked on what the providers send, made on what we send them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey as Pkcs1Signer, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
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
    verify_sha256_raw(key, message, &raw)
}

/// Checks a raw RSA-SHA256 (PKCS #1 v1.5) signature of `message` (a certificate's, say).
pub fn verify_sha256_raw(key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> Result<(), PaymentError> {
    let signature = Signature::try_from(signature).map_err(|_| PaymentError::BadSignature)?;
    VerifyingKey::<Sha256>::new(key.clone()).verify(message, &signature).map_err(|_| PaymentError::BadSignature)
}

/// The merchant's private key, for signing requests to a provider. Never shown: `Debug` prints no key material.
#[derive(Clone)]
pub struct SigningKey(RsaPrivateKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// From PEM (`PRIVATE KEY` or PKCS #1 `RSA PRIVATE KEY`) or the bare base64 of its DER (PKCS #8 or
    /// PKCS #1), as Alipay's key tool writes it.
    pub fn from_text(text: &str) -> Result<Self, PaymentError> {
        let text = text.trim();
        let bad = |e: &dyn std::fmt::Display| PaymentError::BadKey(format!("private key: {e}"));
        let key = if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs1_pem(text).map_err(|e| bad(&e))?
        } else if text.contains("-----BEGIN") {
            RsaPrivateKey::from_pkcs8_pem(text).map_err(|e| bad(&e))?
        } else {
            let der: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let der = STANDARD.decode(der).map_err(|e| bad(&e))?;
            RsaPrivateKey::from_pkcs8_der(&der).or_else(|_| RsaPrivateKey::from_pkcs1_der(&der)).map_err(|e| bad(&e))?
        };
        Ok(Self(key))
    }

    /// The base64 RSA-SHA256 (PKCS #1 v1.5) signature of `message`: deterministic, so the same message and key
    /// give the same bytes as the providers' SDKs.
    pub fn sign_sha256(&self, message: &[u8]) -> String {
        let signature = Pkcs1Signer::<Sha256>::new(self.0.clone()).sign(message);
        STANDARD.encode(signature.to_bytes())
    }
}
