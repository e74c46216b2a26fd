//! UnionPay online payment (银联在线支付, the 全渠道 gateway, version 5.1.0, `signMethod` 01): back
//! notifications (`backUrl`).
//!
//! UnionPay POSTs `application/x-www-form-urlencoded` parameters: `merId`, `orderId` (ours), `queryId` (its
//! transaction), `txnType` (01: consumption), `respCode` (00, or A6: success), `txnAmt` (fen), `currencyCode`
//! (ISO 4217 numeric, 156), `txnTime` (`yyyyMMddHHmmss`, Beijing), …, `signPubKeyCert` (the signing
//! certificate, PEM) and `signature`. Verifying is in three steps:
//! 1. `signPubKeyCert` must be valid now, issued by the configured intermediate (middle) certificate, itself
//!    issued by the configured root — each signature checked — and its subject's common name, split at `@`,
//!    must name `中国银联股份有限公司` third;
//! 2. the parameters other than `signature`, sorted by name and joined `name=value` with `&` (values
//!    URL-decoded; `signPubKeyCert` included, its line breaks and all), are hashed with SHA-256, and the hash
//!    written in lower-case hex;
//! 3. `signature` (Base64) is RSA-SHA256 (PKCS #1 v1.5) over those 64 hex characters, with the certificate's key.
//!
//! The merchant answers HTTP 200 when it took the notification; anything else and UnionPay sends it again.
//! (docs/research/payments.md §3; no UnionPay SDK is on PyPI, so the tests build the certificate chain and sign
//! with `cryptography`.)

use der::{DecodePem, Encode};
use jiff::Timestamp;
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::{Notification, PaymentError, PaymentState, Provider, keys, malformed};

/// What the merchant answers a notification it took (with HTTP 200).
pub const ANSWER_OK: &str = "ok";
/// The organisation UnionPay's signing certificates are issued to: the third `@`-field of their common name.
pub const SIGNER_ORGANISATION: &str = "中国银联股份有限公司";
/// sha256WithRSAEncryption.
const SHA256_WITH_RSA: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// The common name attribute.
const COMMON_NAME: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");

/// What a channel trusts: UnionPay's root and intermediate certificates, and its own merchant number.
#[derive(Debug, Clone)]
pub struct Trust {
    pub mer_id: String,
    root: Certificate,
    middle: Certificate,
}

impl Trust {
    /// From the root and intermediate certificates (PEM, as UnionPay's `acp_prod_root.cer` and
    /// `acp_prod_middle.cer` hold them). The intermediate must be issued by the root.
    pub fn new(mer_id: &str, root_pem: &str, middle_pem: &str) -> Result<Self, PaymentError> {
        let root = certificate(root_pem).map_err(|e| PaymentError::BadKey(format!("root certificate: {e}")))?;
        let middle = certificate(middle_pem).map_err(|e| PaymentError::BadKey(format!("middle certificate: {e}")))?;
        issued_by(&middle, &root).map_err(|e| PaymentError::BadKey(format!("middle certificate: {e}")))?;
        if mer_id.is_empty() {
            return Err(PaymentError::BadKey("no merchant number".into()));
        }
        Ok(Self { mer_id: mer_id.to_string(), root, middle })
    }
}

fn certificate(pem: &str) -> Result<Certificate, PaymentError> {
    // UnionPay writes its PEM with CRLF line breaks; the PEM reader takes either.
    Certificate::from_pem(pem.trim().as_bytes()).map_err(|e| malformed(format!("not a PEM certificate: {e}")))
}

/// That `cert` names `issuer` as its issuer and carries a sha256WithRSA signature that `issuer`'s key verifies.
fn issued_by(cert: &Certificate, issuer: &Certificate) -> Result<(), PaymentError> {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err(PaymentError::BadSignature);
    }
    if cert.signature_algorithm.oid != SHA256_WITH_RSA {
        return Err(malformed(format!("certificate signed with {}, not sha256WithRSA", cert.signature_algorithm.oid)));
    }
    let tbs = cert.tbs_certificate.to_der().map_err(|e| malformed(format!("certificate: {e}")))?;
    let signature = cert.signature.as_bytes().ok_or_else(|| malformed("certificate signature"))?;
    keys::verify_sha256_raw(&public_key(issuer)?, &tbs, signature)
}

fn public_key(cert: &Certificate) -> Result<RsaPublicKey, PaymentError> {
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().map_err(|e| malformed(format!("key: {e}")))?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|e| malformed(format!("not an RSA key: {e}")))
}

/// That `cert` is valid at `now`.
fn valid_at(cert: &Certificate, now: Timestamp) -> Result<(), PaymentError> {
    let v = &cert.tbs_certificate.validity;
    let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    let now = now.as_second();
    if now < secs(v.not_before) || now > secs(v.not_after) {
        return Err(PaymentError::Stale { skew_s: 0, max_s: 0 });
    }
    Ok(())
}

/// The subject's common name.
fn common_name(cert: &Certificate) -> Option<String> {
    cert.tbs_certificate.subject.0.iter().flat_map(|rdn| rdn.0.iter()).find(|a| a.oid == COMMON_NAME).and_then(|a| {
        a.value
            .decode_as::<der::asn1::Utf8StringRef<'_>>()
            .map(|s| s.as_str().to_string())
            .or_else(|_| a.value.decode_as::<der::asn1::PrintableStringRef<'_>>().map(|s| s.as_str().to_string()))
            // Chinese CAs also write names as BMPString (UCS-2).
            .or_else(|_| a.value.decode_as::<der::asn1::BmpString>().map(|s| s.to_string()))
            .ok()
    })
}

/// The signing certificate a notification carries, checked: valid now, issued by the trusted intermediate
/// (itself issued by the root), and UnionPay's.
fn signer(trust: &Trust, pem: &str, now: Timestamp) -> Result<RsaPublicKey, PaymentError> {
    let cert = certificate(pem)?;
    issued_by(&trust.middle, &trust.root)?;
    issued_by(&cert, &trust.middle)?;
    valid_at(&cert, now)?;
    valid_at(&trust.middle, now)?;
    let cn = common_name(&cert).ok_or_else(|| malformed("the signing certificate has no common name"))?;
    if cn.split('@').nth(2) != Some(SIGNER_ORGANISATION) {
        return Err(PaymentError::UnknownKey(cn));
    }
    public_key(&cert)
}

/// The string UnionPay signs: every parameter but `signature`, sorted by name, `name=value` joined with `&`.
pub fn signed_string(params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().filter(|(k, _)| *k != "signature").collect();
    sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    sorted.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// The lower-case hex SHA-256 of the signed string: what the RSA signature is over.
pub fn digest(params: &[(&str, &str)]) -> String {
    Sha256::digest(signed_string(params).as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifies a back notification's parameters (URL-decoded, in any order) and returns what it says, for the
/// merchant `trust.mer_id`. A parameter named twice is refused: which one was signed is unknowable.
pub fn verify(trust: &Trust, params: &[(String, String)], now: Timestamp) -> Result<Notification, PaymentError> {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut names: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
        return Err(malformed("a parameter is given twice"));
    }
    let get = |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    if get("signMethod") != Some("01") {
        return Err(malformed(format!("signMethod {:?}: only 01 (RSA certificates) is accepted", get("signMethod"))));
    }
    if get("version") != Some("5.1.0") {
        return Err(malformed(format!("version {:?}: only 5.1.0 is accepted", get("version"))));
    }
    let signature = get("signature").filter(|s| !s.is_empty()).ok_or_else(|| malformed("no signature"))?;
    let cert = get("signPubKeyCert").ok_or_else(|| malformed("no signPubKeyCert"))?;
    let key = signer(trust, cert, now)?;
    keys::verify_sha256(&key, digest(&pairs).as_bytes(), signature)?;
    open(&trust.mer_id, &pairs)
}

/// What verified parameters say. Public for the fuzz target; a caller must not use it on parameters whose
/// signature [`verify`] did not check.
pub fn open(mer_id: &str, params: &[(&str, &str)]) -> Result<Notification, PaymentError> {
    let get = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).filter(|v| !v.is_empty());
    let need = |name: &str| get(name).ok_or_else(|| malformed(format!("no {name}")));
    let theirs = need("merId")?;
    if theirs != mer_id {
        return Err(PaymentError::OtherMerchant(theirs.to_string()));
    }
    let kind = need("txnType")?;
    let code = need("respCode")?;
    let state = match (kind, code) {
        ("01", "00" | "A6") => PaymentState::Paid,
        (kind, code) => PaymentState::Other(format!("txnType {kind} respCode {code}")),
    };
    let amount = need("txnAmt")?;
    if amount.len() > 15 || !amount.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(format!("txnAmt {amount:?}")));
    }
    let amount_minor: i64 = amount.parse().map_err(|_| malformed(format!("txnAmt {amount:?}")))?;
    let currency = match get("currencyCode").unwrap_or("156") {
        "156" => "CNY",
        "344" => "HKD",
        "446" => "MOP",
        "840" => "USD",
        other => return Err(malformed(format!("currencyCode {other:?}"))),
    };
    // `txnTime` is the merchant's order time (ours); the payment's is `traceTime` (MMDDhhmmss, Beijing), in the
    // order's year — or the next, for an order made on New Year's Eve and paid after midnight.
    let txn_time = need("txnTime")?;
    let order_at = compact_time(txn_time).ok_or_else(|| malformed(format!("txnTime {txn_time:?}")))?;
    let paid_at = match get("traceTime") {
        None => None,
        Some(t) => {
            let year = txn_time.get(..4).unwrap_or_default();
            let this_year = compact_time(&format!("{year}{t}"));
            let bad = || malformed(format!("traceTime {t:?}"));
            let at = this_year.ok_or_else(bad)?;
            Some(if at < order_at {
                let next: i32 = year.parse::<i32>().map_err(|_| bad())? + 1;
                compact_time(&format!("{next}{t}")).ok_or_else(bad)?
            } else {
                at
            })
        }
    };
    Ok(Notification {
        provider: Provider::UnionPay,
        out_trade_no: need("orderId")?.to_string(),
        transaction_id: need("queryId")?.to_string(),
        state,
        amount_minor,
        currency: currency.to_string(),
        paid_at,
    })
}

/// `yyyyMMddHHmmss` in Beijing time.
fn compact_time(text: &str) -> Option<Timestamp> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let civil = jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", text).ok()?;
    crate::BEIJING.to_timestamp(civil).ok()
}

/// UnionPay's production gateway (the test environment's is `https://gateway.test.95516.com`).
pub const GATEWAY: &str = "https://gateway.95516.com";
/// Where the customer's browser is sent to pay (front consumption, `frontTransReq.do`).
pub const FRONT_PATH: &str = "/gateway/api/frontTransReq.do";
/// Where the merchant asks about a transaction (`queryTrans.do`).
pub const QUERY_PATH: &str = "/gateway/api/queryTrans.do";

/// The merchant's side of a request: its number, its signing key and that key's certificate id (the
/// certificate's serial number in decimal, as UnionPay's acp SDK writes `certId`).
#[derive(Debug)]
pub struct Merchant<'a> {
    pub mer_id: &'a str,
    pub cert_id: &'a str,
    pub key: &'a keys::SigningKey,
}

/// `yyyyMMddHHmmss` in Beijing time.
fn beijing_compact(at: Timestamp) -> String {
    crate::beijing_text(at, "%Y%m%d%H%M%S")
}

/// `fields` with the merchant's common fields and its signature added.
fn signed(merchant: &Merchant<'_>, mut fields: Vec<(&'static str, String)>) -> Vec<(String, String)> {
    fields.extend([
        ("version", "5.1.0".to_string()),
        ("encoding", "UTF-8".to_string()),
        ("signMethod", "01".to_string()),
        ("accessType", "0".to_string()),
        ("merId", merchant.mer_id.to_string()),
        ("certId", merchant.cert_id.to_string()),
    ]);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let signature = merchant.key.sign_sha256(digest(&pairs).as_bytes());
    let mut out: Vec<(String, String)> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    out.push(("signature".to_string(), signature));
    out
}

/// A front consumption order (`frontTransReq.do`): the signed fields the customer's browser posts to
/// [`FRONT_PATH`], for `amount_fen` of yuan, payable until `pay_timeout`, notifying `back_url` and returning
/// the customer to `front_url`. `txn_time` is the order's time (the intent's creation), which a status query
/// names again.
#[allow(clippy::too_many_arguments)]
pub fn front_order(
    merchant: &Merchant<'_>,
    order_id: &str,
    txn_time: Timestamp,
    amount_fen: i64,
    back_url: &str,
    front_url: &str,
    pay_timeout: Timestamp,
) -> Vec<(String, String)> {
    signed(
        merchant,
        vec![
            ("txnType", "01".into()),
            ("txnSubType", "01".into()),
            ("bizType", "000201".into()),
            // 08: a phone's browser.
            ("channelType", "08".into()),
            ("orderId", order_id.into()),
            ("txnTime", beijing_compact(txn_time)),
            ("txnAmt", amount_fen.to_string()),
            ("currencyCode", "156".into()),
            ("backUrl", back_url.into()),
            ("frontUrl", front_url.into()),
            ("payTimeout", beijing_compact(pay_timeout)),
        ],
    )
}

/// A status query about the order `order_id` made at `txn_time` (`queryTrans.do`, txnType 00).
pub fn query_request(merchant: &Merchant<'_>, order_id: &str, txn_time: Timestamp) -> Vec<(String, String)> {
    signed(
        merchant,
        vec![
            ("txnType", "00".into()),
            ("txnSubType", "00".into()),
            ("bizType", "000000".into()),
            ("channelType", "07".into()),
            ("orderId", order_id.into()),
            ("txnTime", beijing_compact(txn_time)),
        ],
    )
}

/// What UnionPay's answer to a status query says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryAnswer {
    /// The transaction, with `origRespCode` as its state (00 or A6: paid).
    Found(Notification),
    /// `respCode` 34: no such transaction (the customer never paid, or never reached UnionPay).
    NotFound,
}

/// Verifies UnionPay's answer to a status query about `order_id` (the form-encoded text it answered, signed as
/// a notification is) and reads it.
pub fn verify_query(trust: &Trust, answer: &str, order_id: &str, now: Timestamp) -> Result<QueryAnswer, PaymentError> {
    let params: Vec<(String, String)> = form_pairs(answer);
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    // Only a signed answer says anything: one that refuses our request (unsigned) is an error, never "not found".
    match get("respCode") {
        Some("00" | "34") if get("signature").is_some() => {}
        other => return Err(malformed(format!("UnionPay refused the query: respCode {other:?} {:?}", get("respMsg")))),
    }
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
        return Err(malformed("a parameter is given twice"));
    }
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let signature = get("signature").filter(|s| !s.is_empty()).ok_or_else(|| malformed("no signature"))?;
    let key = signer(trust, get("signPubKeyCert").ok_or_else(|| malformed("no signPubKeyCert"))?, now)?;
    keys::verify_sha256(&key, digest(&pairs).as_bytes(), signature)?;
    // About this merchant's this order, whatever it says.
    if get("merId") != Some(trust.mer_id.as_str()) {
        return Err(PaymentError::OtherMerchant(get("merId").unwrap_or_default().to_string()));
    }
    if get("orderId") != Some(order_id) {
        return Err(malformed(format!("the answer is about order {:?}", get("orderId"))));
    }
    if get("respCode") == Some("34") {
        return Ok(QueryAnswer::NotFound);
    }
    // The transaction's own outcome is `origRespCode`; read it as a notification's `respCode`.
    let orig = get("origRespCode").ok_or_else(|| malformed("no origRespCode"))?;
    let as_payment: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| *k != "respCode" && *k != "txnType")
        .copied()
        .chain([("respCode", orig), ("txnType", "01")])
        .collect();
    let mut n = open(&trust.mer_id, &as_payment)?;
    if let PaymentState::Other(_) = n.state {
        n.state = PaymentState::Other(format!("origRespCode {orig}"));
    }
    Ok(QueryAnswer::Found(n))
}

/// `k=v&…` as UnionPay writes a synchronous answer: values as they are, not URL-encoded (the acp SDK's
/// `parseQString` without decoding — a Base64 signature's `+` stays a `+`).
fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.trim().split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params<'a>(overrides: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut p = vec![
            ("merId", "777290058110048"),
            ("orderId", "0123456789abcdef0123456789abcdef"),
            ("queryId", "712611231601070012345"),
            ("txnType", "01"),
            ("respCode", "00"),
            ("txnAmt", "5000"),
            ("currencyCode", "156"),
            ("txnTime", "20261123160107"),
        ];
        for (k, v) in overrides {
            p.retain(|(name, _)| name != k);
            p.push((k, v));
        }
        p
    }

    #[test]
    fn the_signed_string_is_every_parameter_but_the_signature_sorted_by_name() {
        let p = [("b", "2"), ("signature", "zzz"), ("a", "1"), ("signPubKeyCert", "x\r\ny"), ("c", "")];
        assert_eq!(signed_string(&p), "a=1&b=2&c=&signPubKeyCert=x\r\ny");
        assert_eq!(digest(&p).len(), 64);
        assert!(digest(&p).bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn a_notification_is_read_exactly() {
        let n = open("777290058110048", &params(&[])).unwrap();
        assert_eq!((n.state, n.amount_minor, n.currency.as_str()), (PaymentState::Paid, 5_000, "CNY"));
        assert_eq!(n.transaction_id, "712611231601070012345");
        // The payment's time is traceTime's, not the order's txnTime.
        assert_eq!(n.paid_at, None);
        let n = open("777290058110048", &params(&[("traceTime", "1123160530")])).unwrap();
        assert_eq!(n.paid_at, Some("2026-11-23T08:05:30Z".parse().unwrap()));
        // Ordered on New Year's Eve, paid after midnight: the next year.
        let late = params(&[("txnTime", "20261231235900"), ("traceTime", "0101000130")]);
        assert_eq!(open("777290058110048", &late).unwrap().paid_at, Some("2026-12-31T16:01:30Z".parse().unwrap()));
        assert!(open("777290058110048", &params(&[("traceTime", "1332000000")])).is_err());
        assert_eq!(open("777290058110048", &params(&[("respCode", "A6")])).unwrap().state, PaymentState::Paid);
        assert!(matches!(
            open("777290058110048", &params(&[("respCode", "03")])).unwrap().state,
            PaymentState::Other(_)
        ));
        // A refund's notification is not a payment.
        assert!(matches!(
            open("777290058110048", &params(&[("txnType", "04")])).unwrap().state,
            PaymentState::Other(_)
        ));
        assert_eq!(open("777290058110049", &params(&[])), Err(PaymentError::OtherMerchant("777290058110048".into())));
        for (k, v) in [("txnAmt", "50.00"), ("txnAmt", "-1"), ("currencyCode", "999"), ("txnTime", "2026-11-23")] {
            assert!(open("777290058110048", &params(&[(k, v)])).is_err(), "{k}={v}");
        }
    }

    #[test]
    fn a_certificate_that_is_not_one_is_refused_before_anything() {
        assert!(Trust::new("777290058110048", "not a certificate", "nor this").is_err());
    }

    proptest::proptest! {
        #[test]
        fn no_parameters_panic(params in proptest::collection::vec(("[a-zA-Z]{1,12}", ".{0,20}"), 0..12)) {
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let _ = open("777290058110048", &pairs);
            let _ = signed_string(&pairs);
        }
    }
}
