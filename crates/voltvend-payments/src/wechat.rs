//! WeChat Pay API v3 payment notifications (微信支付 APIv3 支付结果通知).
//!
//! The provider POSTs JSON to our `notify_url` with the headers `Wechatpay-Timestamp` (Unix seconds),
//! `Wechatpay-Nonce`, `Wechatpay-Signature` (base64) and `Wechatpay-Serial` (which platform key signed), and
//! `Wechatpay-Signature-Type: WECHATPAY2-SHA256-RSA2048`. The signature is RSA-SHA256 (PKCS #1 v1.5) over
//! `"{timestamp}\n{nonce}\n{body}\n"`, the body byte for byte. The body's `resource` is AEAD_AES_256_GCM: key the
//! 32 bytes of the merchant's APIv3 key, nonce the 12 bytes of `resource.nonce`, associated data
//! `resource.associated_data`, and `ciphertext` the base64 of the ciphertext with its 16-byte tag appended. The
//! plaintext is the transaction (`out_trade_no`, `transaction_id`, `trade_state`, `amount.total` in fen…).
//!
//! The merchant answers 200 (or 204) when it took the notification, and a 4xx or 5xx with
//! `{"code":"FAIL","message":…}` when it did not, after which the provider sends it again.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jiff::{SignedDuration, Timestamp};
use rsa::RsaPublicKey;
use serde::Deserialize;

use crate::{Notification, PaymentError, PaymentState, Provider, keys, malformed};

/// The only signature type API v3 uses.
pub const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";
/// How far a notification's timestamp may be from our clock: beyond it, it is a replay (or a clock to fix).
pub const CLOCK_SKEW_MAX: SignedDuration = SignedDuration::from_mins(5);

/// The merchant's side of the configuration: its merchant number, its APIv3 key and the platform keys it
/// trusts, each under the serial (`PUB_KEY_ID_…` or a platform certificate's hex serial) that names it.
#[derive(Clone)]
pub struct MerchantKeys {
    pub mchid: String,
    apiv3_key: [u8; 32],
    platform: Vec<(String, RsaPublicKey)>,
}

impl std::fmt::Debug for MerchantKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the APIv3 key.
        let serials: Vec<&str> = self.platform.iter().map(|(s, _)| s.as_str()).collect();
        f.debug_struct("MerchantKeys").field("mchid", &self.mchid).field("platform", &serials).finish()
    }
}

impl MerchantKeys {
    /// `apiv3_key`: the 32 characters set in the merchant console.
    pub fn new(mchid: &str, apiv3_key: &str, platform: Vec<(String, RsaPublicKey)>) -> Result<Self, PaymentError> {
        let apiv3_key: [u8; 32] = apiv3_key
            .as_bytes()
            .try_into()
            .map_err(|_| PaymentError::BadKey("the APIv3 key is 32 characters".into()))?;
        Ok(Self { mchid: mchid.to_string(), apiv3_key, platform })
    }

    fn platform_key(&self, serial: &str) -> Option<&RsaPublicKey> {
        self.platform.iter().find(|(s, _)| s.eq_ignore_ascii_case(serial)).map(|(_, k)| k)
    }
}

/// The `Wechatpay-*` headers of a notification, as received.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub signature: &'a str,
    pub serial: &'a str,
    /// `Wechatpay-Signature-Type`, if sent.
    pub signature_type: Option<&'a str>,
}

#[derive(Deserialize)]
struct Envelope {
    resource: Resource,
}

#[derive(Deserialize)]
struct Resource {
    algorithm: String,
    ciphertext: String,
    #[serde(default)]
    associated_data: Option<String>,
    nonce: String,
}

#[derive(Deserialize)]
struct Transaction {
    mchid: String,
    out_trade_no: String,
    /// Absent while the order is unpaid.
    #[serde(default)]
    transaction_id: String,
    trade_state: String,
    #[serde(default)]
    success_time: Option<String>,
    amount: Amount,
}

#[derive(Deserialize)]
struct Amount {
    total: i64,
    #[serde(default = "cny")]
    currency: String,
}

fn cny() -> String {
    "CNY".to_string()
}

/// Verifies a payment notification and returns what it says: the signature against the platform key its serial
/// names, the timestamp against `now`, then the resource decrypted with the APIv3 key and checked to be this
/// merchant's.
pub fn verify(
    keys: &MerchantKeys,
    headers: Headers<'_>,
    body: &[u8],
    now: Timestamp,
) -> Result<Notification, PaymentError> {
    check_signature(keys, headers, body, now)?;
    open(keys, body)
}

/// Checks the `Wechatpay-*` signature of a body WeChat Pay sent (a notification or an API answer): the
/// signature type, the timestamp within [`CLOCK_SKEW_MAX`] of `now`, and RSA-SHA256 over
/// `timestamp\nnonce\nbody\n` with the platform key the serial names.
pub fn check_signature(
    keys: &MerchantKeys,
    headers: Headers<'_>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), PaymentError> {
    if headers.signature_type.is_some_and(|t| t != SIGNATURE_TYPE) {
        return Err(malformed(format!("signature type {:?} is not {SIGNATURE_TYPE}", headers.signature_type)));
    }
    let seconds: i64 =
        headers.timestamp.trim().parse().map_err(|_| malformed("Wechatpay-Timestamp is not a number"))?;
    let signed_at = Timestamp::from_second(seconds).map_err(|_| malformed("Wechatpay-Timestamp is out of range"))?;
    let skew = now.duration_since(signed_at);
    if skew.abs() > CLOCK_SKEW_MAX {
        return Err(PaymentError::Stale { skew_s: skew.as_secs(), max_s: CLOCK_SKEW_MAX.as_secs() });
    }
    let key = keys.platform_key(headers.serial).ok_or_else(|| PaymentError::UnknownKey(headers.serial.to_string()))?;
    let mut message = Vec::with_capacity(body.len() + 64);
    message.extend_from_slice(headers.timestamp.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(headers.nonce.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(body);
    message.push(b'\n');
    keys::verify_sha256(key, &message, headers.signature)
}

/// The transaction in a notification body whose signature [`verify`] checked: the resource decrypted and
/// checked to be this merchant's. Public for the fuzz target; a caller must not use it on an unverified body.
pub fn open(keys: &MerchantKeys, body: &[u8]) -> Result<Notification, PaymentError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| malformed(format!("body: {e}")))?;
    let r = envelope.resource;
    if r.algorithm != "AEAD_AES_256_GCM" {
        return Err(malformed(format!("resource algorithm {:?}", r.algorithm)));
    }
    if r.nonce.len() != 12 {
        return Err(malformed("the resource nonce is 12 characters"));
    }
    let sealed = STANDARD.decode(r.ciphertext.trim()).map_err(|_| malformed("the ciphertext is not base64"))?;
    let cipher = Aes256Gcm::new_from_slice(&keys.apiv3_key).map_err(|_| PaymentError::BadKey("APIv3 key".into()))?;
    let aad = r.associated_data.as_deref().unwrap_or("").as_bytes();
    let plain = cipher
        .decrypt(Nonce::from_slice(r.nonce.as_bytes()), Payload { msg: &sealed, aad })
        .map_err(|_| PaymentError::Decrypt)?;
    transaction(keys, &plain)
}

/// What a transaction (a notification's decrypted resource, or a status query's answer) says, checked to be
/// this merchant's.
fn transaction(keys: &MerchantKeys, json: &[u8]) -> Result<Notification, PaymentError> {
    let t: Transaction = serde_json::from_slice(json).map_err(|e| malformed(format!("transaction: {e}")))?;
    if t.mchid != keys.mchid {
        return Err(PaymentError::OtherMerchant(t.mchid));
    }
    if t.amount.total < 0 {
        return Err(malformed("a negative amount"));
    }
    let paid_at = match t.success_time.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse::<Timestamp>().map_err(|_| malformed(format!("success_time {s:?}")))?),
    };
    Ok(Notification {
        provider: Provider::WechatPay,
        out_trade_no: t.out_trade_no,
        transaction_id: t.transaction_id,
        state: if t.trade_state == "SUCCESS" { PaymentState::Paid } else { PaymentState::Other(t.trade_state) },
        amount_minor: t.amount.total,
        currency: t.amount.currency,
        paid_at,
    })
}

/// What a request to WeChat Pay's API is signed over, and by whom.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub mchid: &'a str,
    /// The serial number of the merchant's API certificate.
    pub serial_no: &'a str,
    /// `GET`, `POST`…
    pub method: &'a str,
    /// The URL's path and query, as sent (`/v3/pay/transactions/out-trade-no/…?mchid=…`).
    pub path: &'a str,
    /// Unix seconds.
    pub timestamp: i64,
    pub nonce: &'a str,
    /// The body exactly as sent; empty for a GET.
    pub body: &'a str,
}

/// The `Authorization` header of a request: `WECHATPAY2-SHA256-RSA2048` with the merchant number, nonce,
/// signature (RSA-SHA256 over `method\npath\ntimestamp\nnonce\nbody\n`), timestamp and certificate serial.
pub fn authorization(r: &Request<'_>, key: &keys::SigningKey) -> String {
    let message = format!("{}\n{}\n{}\n{}\n{}\n", r.method, r.path, r.timestamp, r.nonce, r.body);
    let signature = key.sign_sha256(message.as_bytes());
    format!(
        "{SIGNATURE_TYPE} mchid=\"{}\",nonce_str=\"{}\",signature=\"{signature}\",timestamp=\"{}\",serial_no=\"{}\"",
        r.mchid, r.nonce, r.timestamp, r.serial_no
    )
}

/// The path (with its query) of a status query for the order `out_trade_no`: a GET signed as the merchant
/// (`GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={mchid}`). `None` for an order number WeChat
/// Pay does not take (6–32 of letters, digits, `_`, `-`, `|`, `*`), which no path could carry safely.
pub fn query_path(mchid: &str, out_trade_no: &str) -> Option<String> {
    let ok = |s: &str, max: usize| {
        (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
    };
    (ok(out_trade_no, 32) && out_trade_no.len() >= 6 && ok(mchid, 32))
        .then(|| format!("/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={mchid}"))
}

/// A status query's answer (HTTP 200): its signature checked as a notification's is (WeChat Pay signs its API
/// answers the same way), then the transaction read and checked to be this merchant's and this order's.
pub fn verify_query(
    keys: &MerchantKeys,
    headers: Headers<'_>,
    body: &[u8],
    out_trade_no: &str,
    now: Timestamp,
) -> Result<Notification, PaymentError> {
    check_signature(keys, headers, body, now)?;
    let n = transaction(keys, body)?;
    if n.out_trade_no != out_trade_no {
        return Err(malformed(format!("the answer is for order {:?}, not {out_trade_no:?}", n.out_trade_no)));
    }
    if n.state == PaymentState::Paid && n.transaction_id.is_empty() {
        return Err(malformed("a paid order without a transaction_id"));
    }
    Ok(n)
}

/// Where a Native order (a QR code the customer scans) is made: `POST` with [`native_order_body`].
pub const NATIVE_ORDER_PATH: &str = "/v3/pay/transactions/native";

/// A Native order for `out_trade_no`.
#[derive(Debug, Clone, Copy)]
pub struct NativeOrder<'a> {
    pub appid: &'a str,
    pub mchid: &'a str,
    /// What the customer sees (at most 127 bytes).
    pub description: &'a str,
    pub out_trade_no: &'a str,
    /// After this the order cannot be paid: the intent's expiry.
    pub time_expire: Timestamp,
    pub notify_url: &'a str,
    /// In fen.
    pub total: i64,
    pub currency: &'a str,
}

/// The JSON body of a Native order; `time_expire` in RFC 3339 at Beijing time, as the API documents it.
pub fn native_order_body(o: &NativeOrder<'_>) -> String {
    let expire = crate::beijing_text(o.time_expire, "%Y-%m-%dT%H:%M:%S+08:00");
    serde_json::json!({
        "appid": o.appid,
        "mchid": o.mchid,
        "description": o.description,
        "out_trade_no": o.out_trade_no,
        "time_expire": expire,
        "notify_url": o.notify_url,
        "amount": { "total": o.total, "currency": o.currency },
    })
    .to_string()
}

#[derive(Deserialize)]
struct NativeAnswer {
    code_url: String,
}

/// The answer to a Native order (HTTP 200), its signature checked: the `code_url` the customer's QR code holds.
pub fn verify_native_order(
    keys: &MerchantKeys,
    headers: Headers<'_>,
    body: &[u8],
    now: Timestamp,
) -> Result<String, PaymentError> {
    check_signature(keys, headers, body, now)?;
    let a: NativeAnswer = serde_json::from_slice(body).map_err(|e| malformed(format!("order answer: {e}")))?;
    if !a.code_url.starts_with("weixin://") {
        return Err(malformed(format!("code_url {:?} is not a weixin:// link", a.code_url)));
    }
    Ok(a.code_url)
}

/// The answer to a notification taken: HTTP 204, no body.
pub const ANSWER_OK_STATUS: u16 = 204;

/// The answer to a notification not taken (HTTP status and JSON body); WeChat Pay sends it again later.
pub fn answer_fail(status: u16, message: &str) -> (u16, String) {
    let body = serde_json::json!({"code": "FAIL", "message": message}).to_string();
    (status, body)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn keys() -> MerchantKeys {
        MerchantKeys::new("1900000001", "0123456789abcdef0123456789abcdef", Vec::new()).unwrap()
    }

    #[test]
    fn an_apiv3_key_is_32_characters() {
        assert!(matches!(MerchantKeys::new("1", "short", Vec::new()), Err(PaymentError::BadKey(_))));
        assert!(!format!("{:?}", keys()).contains("0123456789abcdef"), "the key is never shown");
    }

    #[test]
    fn a_stale_or_unsigned_notification_is_refused_before_its_body_is_read() {
        let now: Timestamp = "2026-12-06T00:00:00Z".parse().unwrap();
        fn h<'a>(ts: &'a str, serial: &'a str) -> Headers<'a> {
            Headers { timestamp: ts, nonce: "n", signature: "AA==", serial, signature_type: None }
        }
        let old = (now.as_second() - 301).to_string();
        assert!(matches!(verify(&keys(), h(&old, "X"), b"{}", now), Err(PaymentError::Stale { .. })));
        let fresh = now.as_second().to_string();
        assert_eq!(verify(&keys(), h(&fresh, "X"), b"{}", now), Err(PaymentError::UnknownKey("X".into())));
        let typed = Headers { signature_type: Some("HMAC-SHA256"), ..h(&fresh, "X") };
        assert!(matches!(verify(&keys(), typed, b"{}", now), Err(PaymentError::Malformed(_))));
        assert!(matches!(verify(&keys(), h("soon", "X"), b"{}", now), Err(PaymentError::Malformed(_))));
    }

    proptest! {
        #[test]
        fn no_body_panics(body in proptest::collection::vec(any::<u8>(), 0..400), text in "\\{\"resource\":\\{.{0,200}\\}\\}") {
            let _ = open(&keys(), &body);
            let _ = open(&keys(), text.as_bytes());
        }

        #[test]
        fn no_input_panics(ts in "[0-9]{0,12}", nonce in ".{0,40}", sig in ".{0,40}", body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let now = Timestamp::from_second(ts.parse::<i64>().unwrap_or(0).clamp(0, 4_000_000_000)).unwrap();
            let h = Headers { timestamp: &ts, nonce: &nonce, signature: &sig, serial: "S", signature_type: None };
            let _ = verify(&keys(), h, &body, now);
        }
    }
}
