//! Alipay asynchronous payment notifications (支付宝异步通知, `notify_url`).
//!
//! The provider POSTs `application/x-www-form-urlencoded` parameters: `notify_id`, `app_id`, `out_trade_no`,
//! `trade_no`, `trade_status`, `total_amount` (yuan, as "10.00"), `gmt_payment`, …, `sign_type` (`RSA2`) and
//! `sign`. The signature is RSA-SHA256 (PKCS #1 v1.5, "RSA2") over every parameter except `sign` and
//! `sign_type`, values URL-decoded, sorted by name, joined as `name=value` with `&` — empty values included, as
//! the provider's SDKs join what is left. The merchant answers the seven bytes `success` when it took the
//! notification; anything else, and the provider sends it again (about eight times over a day).

use jiff::Timestamp;
use rsa::RsaPublicKey;

use crate::{Notification, PaymentError, PaymentState, Provider, beijing_time, keys, malformed};

/// What the merchant answers a notification it took.
pub const ANSWER_OK: &str = "success";
/// What it answers one it did not take.
pub const ANSWER_FAIL: &str = "fail";

/// Verifies a notification's parameters (URL-decoded, in any order) against Alipay's public key and returns
/// what it says, for the app `app_id`. A parameter named twice is refused: which one was signed is unknowable.
pub fn verify(
    alipay_key: &RsaPublicKey,
    app_id: &str,
    params: &[(String, String)],
) -> Result<Notification, PaymentError> {
    let mut signed: Vec<(&str, &str)> = Vec::with_capacity(params.len());
    let (mut sign, mut sign_type) = (None, None);
    for (k, v) in params {
        match k.as_str() {
            "sign" if sign.is_none() => sign = Some(v.as_str()),
            "sign_type" if sign_type.is_none() => sign_type = Some(v.as_str()),
            "sign" | "sign_type" => return Err(malformed(format!("{k} is given twice"))),
            _ => signed.push((k, v)),
        }
    }
    signed.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if signed.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
        return Err(malformed("a parameter is given twice"));
    }
    if sign_type.is_some_and(|t| t != "RSA2") {
        return Err(malformed(format!("sign_type {:?}: only RSA2 is accepted", sign_type.unwrap_or_default())));
    }
    let sign = sign.ok_or_else(|| malformed("no sign"))?;
    let message = signed.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    keys::verify_sha256(alipay_key, message.as_bytes(), sign)?;
    open(app_id, &signed)
}

/// What verified parameters (sorted by name) say. Public for the fuzz target; a caller must not use it on
/// parameters whose signature [`verify`] did not check.
pub fn open(app_id: &str, params: &[(&str, &str)]) -> Result<Notification, PaymentError> {
    let get = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let need = |name: &str| get(name).filter(|v| !v.is_empty()).ok_or_else(|| malformed(format!("no {name}")));
    let theirs = need("app_id")?;
    if theirs != app_id {
        return Err(PaymentError::OtherMerchant(theirs.to_string()));
    }
    let status = need("trade_status")?;
    let state = match status {
        "TRADE_SUCCESS" | "TRADE_FINISHED" => PaymentState::Paid,
        other => PaymentState::Other(other.to_string()),
    };
    let amount_minor = yuan_to_fen(need("total_amount")?)?;
    let paid_at = match get("gmt_payment").filter(|v| !v.is_empty()) {
        None => None,
        Some(t) => Some(beijing_time(t)?),
    };
    Ok(Notification {
        provider: Provider::Alipay,
        out_trade_no: need("out_trade_no")?.to_string(),
        transaction_id: need("trade_no")?.to_string(),
        state,
        amount_minor,
        // Domestic Alipay settles in yuan; a cross-border trade names its currency.
        currency: get("trans_currency").filter(|c| !c.is_empty()).unwrap_or("CNY").to_string(),
        paid_at,
    })
}

/// The `sign` of a request to Alipay's gateway (`alipay.trade.query`…): RSA2 over every parameter but `sign`
/// (`sign_type` included, unlike a notification), sorted by name and joined as `name=value` with `&`, values
/// unescaped. A parameter named twice is refused.
pub fn sign_request(params: &[(String, String)], key: &keys::SigningKey) -> Result<String, PaymentError> {
    let mut signed: Vec<(&str, &str)> =
        params.iter().filter(|(k, _)| k != "sign").map(|(k, v)| (k.as_str(), v.as_str())).collect();
    signed.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if signed.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
        return Err(malformed("a parameter is given twice"));
    }
    let message = signed.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    Ok(key.sign_sha256(message.as_bytes()))
}

/// The parameters of an `alipay.trade.query` for the order `out_trade_no`, signed as the app (`sign` last), to be
/// sent form-encoded to the gateway. `at` is written in Beijing time, as the gateway expects.
pub fn query_request(
    app_id: &str,
    out_trade_no: &str,
    at: Timestamp,
    key: &keys::SigningKey,
) -> Result<Vec<(String, String)>, PaymentError> {
    gateway_request(app_id, "alipay.trade.query", serde_json::json!({ "out_trade_no": out_trade_no }), &[], at, key)
}

/// What a trade query found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryAnswer {
    /// The trade, in our terms.
    Found(Notification),
    /// Alipay has no trade with that order number (`ACQ.TRADE_NOT_EXIST`): the customer has not paid.
    NotFound,
}

/// The text of the gateway answer's `name` object exactly as received, its `sign` checked over it.
fn signed_answer<'a>(alipay_key: &RsaPublicKey, raw: &'a str, name: &str) -> Result<&'a str, PaymentError> {
    let envelope: std::collections::BTreeMap<&str, &'a serde_json::value::RawValue> =
        serde_json::from_str(raw).map_err(|e| malformed(format!("answer: {e}")))?;
    let inner = envelope.get(name).ok_or_else(|| malformed(format!("an answer without {name}")))?.get();
    let sign: String = envelope
        .get("sign")
        .and_then(|s| serde_json::from_str(s.get()).ok())
        .ok_or_else(|| malformed("an answer without sign"))?;
    keys::verify_sha256(alipay_key, inner.as_bytes(), &sign)?;
    Ok(inner)
}

/// The common parameters of a gateway request for `method`, with `biz_content`, and `extra` ones, signed.
fn gateway_request(
    app_id: &str,
    method: &str,
    biz: serde_json::Value,
    extra: &[(&str, &str)],
    at: Timestamp,
    key: &keys::SigningKey,
) -> Result<Vec<(String, String)>, PaymentError> {
    let mut params: Vec<(String, String)> = [
        ("app_id", app_id.to_string()),
        ("method", method.to_string()),
        ("charset", "utf-8".to_string()),
        ("sign_type", "RSA2".to_string()),
        ("timestamp", crate::beijing_text(at, "%Y-%m-%d %H:%M:%S")),
        ("version", "1.0".to_string()),
        ("biz_content", biz.to_string()),
    ]
    .into_iter()
    .chain(extra.iter().map(|(k, v)| (*k, v.to_string())))
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let sign = sign_request(&params, key)?;
    params.push(("sign".to_string(), sign));
    Ok(params)
}

/// The parameters of an `alipay.trade.precreate` (a QR code the customer scans) for `out_trade_no`: `total_fen`,
/// the `subject` the customer sees, payable until `time_expire`, notifying `notify_url`.
#[allow(clippy::too_many_arguments)]
pub fn precreate_request(
    app_id: &str,
    notify_url: &str,
    out_trade_no: &str,
    total_fen: i64,
    subject: &str,
    time_expire: Timestamp,
    at: Timestamp,
    key: &keys::SigningKey,
) -> Result<Vec<(String, String)>, PaymentError> {
    if total_fen <= 0 {
        return Err(malformed("an order of a positive amount"));
    }
    let expire = crate::beijing_text(time_expire, "%Y-%m-%d %H:%M:%S");
    let biz = serde_json::json!({
        "out_trade_no": out_trade_no,
        "total_amount": format!("{}.{:02}", total_fen / 100, total_fen % 100),
        "subject": subject,
        "time_expire": expire,
    });
    gateway_request(app_id, "alipay.trade.precreate", biz, &[("notify_url", notify_url)], at, key)
}

/// What every gateway answer says (its result code, and the order it is about), with the method's own fields.
#[derive(serde::Deserialize)]
struct BusinessAnswer<T> {
    code: String,
    #[serde(default)]
    sub_code: Option<String>,
    #[serde(default)]
    out_trade_no: Option<String>,
    #[serde(flatten)]
    fields: T,
}

/// The gateway's answer `name` for `out_trade_no`: its signature checked, its result a success (`10000`) about
/// that order. `None`: Alipay has no trade with that order number (`ACQ.TRADE_NOT_EXIST`).
fn business_answer<T: serde::de::DeserializeOwned>(
    alipay_key: &RsaPublicKey,
    raw: &str,
    name: &str,
    out_trade_no: &str,
) -> Result<Option<T>, PaymentError> {
    let inner = signed_answer(alipay_key, raw, name)?;
    let a: BusinessAnswer<T> = serde_json::from_str(inner).map_err(|e| malformed(format!("answer: {e}")))?;
    if a.code != "10000" {
        return match a.sub_code.as_deref() {
            Some("ACQ.TRADE_NOT_EXIST") => Ok(None),
            other => Err(malformed(format!("the gateway answered {} {}", a.code, other.unwrap_or("")))),
        };
    }
    if a.out_trade_no.as_deref() != Some(out_trade_no) {
        return Err(malformed(format!("the answer is for order {:?}, not {out_trade_no:?}", a.out_trade_no)));
    }
    Ok(Some(a.fields))
}

#[derive(serde::Deserialize)]
struct PrecreateResponse {
    #[serde(default)]
    qr_code: Option<String>,
}

/// Verifies the gateway's answer to [`precreate_request`]: the QR code's content for `out_trade_no`.
pub fn verify_precreate(alipay_key: &RsaPublicKey, raw: &str, out_trade_no: &str) -> Result<String, PaymentError> {
    let r: PrecreateResponse = business_answer(alipay_key, raw, "alipay_trade_precreate_response", out_trade_no)?
        .ok_or_else(|| malformed("the gateway has no such trade"))?;
    r.qr_code.filter(|q| q.starts_with("https://")).ok_or_else(|| malformed("no https qr_code"))
}

#[derive(serde::Deserialize)]
struct QueryResponse {
    #[serde(default)]
    trade_no: Option<String>,
    #[serde(default)]
    trade_status: Option<String>,
    #[serde(default)]
    total_amount: Option<String>,
    #[serde(default)]
    send_pay_date: Option<String>,
    #[serde(default)]
    trans_currency: Option<String>,
}

/// Verifies the gateway's answer to [`query_request`]: the `sign` over the text of
/// `alipay_trade_query_response` exactly as received (not re-serialised), then what it says of `out_trade_no`.
pub fn verify_query(alipay_key: &RsaPublicKey, raw: &str, out_trade_no: &str) -> Result<QueryAnswer, PaymentError> {
    let Some(r) = business_answer::<QueryResponse>(alipay_key, raw, "alipay_trade_query_response", out_trade_no)?
    else {
        return Ok(QueryAnswer::NotFound);
    };
    let status = r.trade_status.unwrap_or_default();
    let state = match status.as_str() {
        "TRADE_SUCCESS" | "TRADE_FINISHED" => PaymentState::Paid,
        _ => PaymentState::Other(status),
    };
    let transaction_id = r.trade_no.filter(|t| !t.is_empty()).ok_or_else(|| malformed("no trade_no"))?;
    let paid_at = match r.send_pay_date.as_deref().filter(|v| !v.is_empty()) {
        None => None,
        Some(t) => Some(beijing_time(t)?),
    };
    Ok(QueryAnswer::Found(Notification {
        provider: Provider::Alipay,
        out_trade_no: out_trade_no.to_string(),
        transaction_id,
        state,
        amount_minor: yuan_to_fen(r.total_amount.as_deref().unwrap_or(""))?,
        currency: r.trans_currency.filter(|c| !c.is_empty()).unwrap_or_else(|| "CNY".to_string()),
        paid_at,
    }))
}

/// "10.00" (or "10", "10.5") yuan in fen, exactly: digits, at most two decimals, nothing else.
pub fn yuan_to_fen(text: &str) -> Result<i64, PaymentError> {
    let bad = || malformed(format!("amount {text:?} is not yuan with at most two decimals"));
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 12
        || frac.len() > 2
        || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    if text.ends_with('.') {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().map_err(|_| bad())? };
    whole.checked_mul(100).and_then(|w| w.checked_add(frac)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn amounts_are_exact_fen() {
        assert_eq!(yuan_to_fen("10.00"), Ok(1_000));
        assert_eq!(yuan_to_fen("0.5"), Ok(50));
        assert_eq!(yuan_to_fen("7"), Ok(700));
        for bad in ["", ".5", "1.", "1.005", "-1.00", "1,00", " 1.00", "1e3", "9999999999999.00"] {
            assert!(yuan_to_fen(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_are_beijing_time() {
        assert_eq!(beijing_time("2026-12-06 08:00:00").unwrap(), "2026-12-06T00:00:00Z".parse().unwrap());
    }

    proptest! {
        #[test]
        fn no_parameters_panic(params in proptest::collection::vec(("[a-z_]{1,12}", ".{0,20}"), 0..12)) {
            let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let _ = open("app", &pairs);
        }
    }
}
