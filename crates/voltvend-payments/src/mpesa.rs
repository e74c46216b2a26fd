//! Safaricom M-Pesa Express (Lipa na M-Pesa Online, "STK push") through the Daraja API.
//!
//! The merchant asks Daraja to push a payment prompt to the customer's phone
//! (`POST /mpesa/stkpush/v1/processrequest`, authorised by an OAuth bearer token from
//! `GET /oauth/v1/generate?grant_type=client_credentials` with the app's consumer key and secret). The request
//! carries the business short code, `Password` = Base64(short code ‖ passkey ‖ timestamp) with `Timestamp`
//! `YYYYMMDDHHMMSS` in Kenyan time (EAT, UTC+3), the amount in whole shillings, the phone number as
//! `2547XXXXXXXX`, the callback URL, an `AccountReference` (at most 12 characters, shown on the prompt) and a
//! `TransactionDesc` (at most 13). Daraja answers with a `CheckoutRequestID`, which names the payment from then
//! on; the customer enters the PIN, and Daraja POSTs the result to the callback URL as
//! `{"Body":{"stkCallback":{…, "ResultCode":0, "CallbackMetadata":{"Item":[{"Name":"Amount","Value":…}, …]}}}}`.
//!
//! **The callback is not signed.** Anyone who can reach the URL can post one, so nothing in it is believed: it
//! only says which `CheckoutRequestID` to ask about. What settles an intent is Daraja's own answer to the STK
//! push query (`POST /mpesa/stkpushquery/v1/query`), over TLS and with our token, that the request's
//! `ResultCode` is `0` — for the amount we pushed, which the customer cannot change on the prompt. Its
//! "transaction is being processed" error (`500.001.1001`) means the customer has not answered yet.

use base64::Engine as _;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{PaymentError, malformed};

/// Kenya (EAT, UTC+3 all year): Daraja's timestamps are written in it.
pub const KENYA: jiff::tz::Offset = jiff::tz::Offset::constant(3);
/// Safaricom's production API, unless the credentials say otherwise (the sandbox is
/// `https://sandbox.safaricom.co.ke`).
pub const API: &str = "https://api.safaricom.co.ke";
pub const TOKEN_PATH: &str = "/oauth/v1/generate?grant_type=client_credentials";
pub const PUSH_PATH: &str = "/mpesa/stkpush/v1/processrequest";
pub const QUERY_PATH: &str = "/mpesa/stkpushquery/v1/query";
/// What the merchant answers a callback it took.
pub const ANSWER_OK: &str = r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#;
/// The only currency Daraja takes.
pub const CURRENCY: &str = "KES";
/// Daraja's limits on the prompt's texts, in characters.
pub const ACCOUNT_REFERENCE_MAX: usize = 12;
pub const TRANSACTION_DESC_MAX: usize = 13;

/// The merchant's side of M-Pesa Express: the business short code (a paybill's, or a till's store number), its
/// passkey, and — for Buy Goods — the till number the money goes to.
pub struct Business<'a> {
    pub short_code: &'a str,
    pub passkey: &'a str,
    pub till: Option<&'a str>,
}

/// Without the passkey.
impl std::fmt::Debug for Business<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Business").field("short_code", &self.short_code).field("till", &self.till).finish()
    }
}

/// `YYYYMMDDHHMMSS` in Kenyan time.
pub fn timestamp(at: Timestamp) -> String {
    KENYA.to_datetime(at).strftime("%Y%m%d%H%M%S").to_string()
}

/// `Password`: Base64 of the short code, the passkey and the timestamp, concatenated.
pub fn password(business: &Business<'_>, timestamp: &str) -> String {
    let text = format!("{}{}{timestamp}", business.short_code, business.passkey);
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A Kenyan mobile number as Daraja wants it (`2547XXXXXXXX` or `2541XXXXXXXX`), from what a customer types:
/// `0712 345 678`, `+254-712-345678`, `254712345678` or `712345678`. `None` for anything else.
pub fn phone(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let national = match digits.len() {
        12 if digits.starts_with("254") => &digits[3..],
        10 if digits.starts_with('0') => &digits[1..],
        9 => digits,
        _ => return None,
    };
    (national.starts_with('7') || national.starts_with('1')).then(|| format!("254{national}"))
}

/// An amount Daraja can push: whole shillings. `None` for another currency, a fraction of a shilling or
/// nothing.
pub fn whole_shillings(amount_minor: i64, currency: &str) -> Option<i64> {
    (currency == CURRENCY && amount_minor > 0 && amount_minor % 100 == 0).then_some(amount_minor / 100)
}

/// The account reference a prompt shows for a meter, and M-Pesa's statement names the payment by (`A/C No.`):
/// the meter number's last twelve characters.
pub fn account_reference(meter_serial: &str) -> String {
    let skip = meter_serial.chars().count().saturating_sub(ACCOUNT_REFERENCE_MAX);
    meter_serial.chars().skip(skip).collect()
}

/// The first `max` characters of `text`.
fn clipped(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// One payment prompt.
pub struct Push<'a> {
    pub business: &'a Business<'a>,
    /// Whole shillings (see [`whole_shillings`]).
    pub amount_kes: i64,
    /// As [`phone`] gives it.
    pub phone: &'a str,
    pub callback_url: &'a str,
    /// Shown to the customer on the prompt (clipped to [`ACCOUNT_REFERENCE_MAX`]).
    pub account_reference: &'a str,
    /// Clipped to [`TRANSACTION_DESC_MAX`].
    pub description: &'a str,
    pub at: Timestamp,
}

/// Without the phone number (personal data, not kept).
impl std::fmt::Debug for Push<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Push")
            .field("business", self.business)
            .field("amount_kes", &self.amount_kes)
            .field("callback_url", &self.callback_url)
            .field("account_reference", &self.account_reference)
            .finish()
    }
}

/// The JSON body of an STK push request.
pub fn push_body(p: &Push<'_>) -> String {
    let ts = timestamp(p.at);
    let (kind, party_b) = match p.business.till {
        Some(till) => ("CustomerBuyGoodsOnline", till),
        None => ("CustomerPayBillOnline", p.business.short_code),
    };
    serde_json::json!({
        "BusinessShortCode": p.business.short_code,
        "Password": password(p.business, &ts),
        "Timestamp": ts,
        "TransactionType": kind,
        "Amount": p.amount_kes,
        "PartyA": p.phone,
        "PartyB": party_b,
        "PhoneNumber": p.phone,
        "CallBackURL": p.callback_url,
        "AccountReference": clipped(p.account_reference, ACCOUNT_REFERENCE_MAX),
        "TransactionDesc": clipped(p.description, TRANSACTION_DESC_MAX),
    })
    .to_string()
}

/// The JSON body of an STK push query for `checkout_request_id`.
pub fn query_body(business: &Business<'_>, checkout_request_id: &str, at: Timestamp) -> String {
    let ts = timestamp(at);
    serde_json::json!({
        "BusinessShortCode": business.short_code,
        "Password": password(business, &ts),
        "Timestamp": ts,
        "CheckoutRequestID": checkout_request_id,
    })
    .to_string()
}

/// A code Daraja writes as a number or as a string of digits.
#[derive(Deserialize)]
#[serde(untagged)]
enum Code {
    Number(i64),
    Text(String),
}

impl Code {
    fn is_zero(&self) -> bool {
        match self {
            Self::Number(n) => *n == 0,
            Self::Text(t) => t.trim() == "0",
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::Text(t) => t.clone(),
        }
    }
}

/// Daraja's error shape (any endpoint, any HTTP status).
#[derive(Deserialize)]
struct ApiError {
    #[serde(rename = "errorCode")]
    error_code: String,
    #[serde(rename = "errorMessage", default)]
    error_message: String,
}

fn refused_by_daraja(body: &[u8]) -> PaymentError {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(e) => malformed(format!("Daraja refused: {} {}", e.error_code, e.error_message)),
        Err(_) => malformed("not Daraja's answer"),
    }
}

/// An OAuth token and how long it lasts, from the token endpoint's answer.
pub fn token_answer(body: &[u8]) -> Result<(String, jiff::SignedDuration), PaymentError> {
    #[derive(Deserialize)]
    struct Token {
        access_token: String,
        expires_in: Code,
    }
    let t: Token = serde_json::from_slice(body).map_err(|_| refused_by_daraja(body))?;
    let seconds: i64 = t.expires_in.text().trim().parse().map_err(|_| malformed("expires_in is not a number"))?;
    // Daraja's tokens last an hour; anything beyond a day is not a lifetime we would trust.
    if t.access_token.is_empty()
        || !t.access_token.bytes().all(|b| b.is_ascii_graphic())
        || !(1..=86_400).contains(&seconds)
    {
        return Err(malformed("no usable access token"));
    }
    Ok((t.access_token, jiff::SignedDuration::from_secs(seconds)))
}

/// The `CheckoutRequestID` of an accepted STK push, from Daraja's answer.
pub fn push_answer(body: &[u8]) -> Result<String, PaymentError> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "ResponseCode")]
        response_code: Code,
        #[serde(rename = "ResponseDescription", default)]
        description: String,
        #[serde(rename = "CheckoutRequestID", default)]
        checkout_request_id: String,
    }
    let a: Answer = serde_json::from_slice(body).map_err(|_| refused_by_daraja(body))?;
    if !a.response_code.is_zero() {
        return Err(malformed(format!("Daraja refused the push: {} {}", a.response_code.text(), a.description)));
    }
    checkout_id(a.checkout_request_id)
}

/// A `CheckoutRequestID` as we keep it: present, bounded, printable.
fn checkout_id(id: String) -> Result<String, PaymentError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(malformed("no usable CheckoutRequestID"));
    }
    Ok(id)
}

/// What Daraja says of a payment prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StkResult {
    /// The customer paid (`ResultCode` 0).
    Paid,
    /// Not answered yet: the prompt is still on the customer's phone.
    Pending,
    /// Cancelled, timed out, insufficient funds, a wrong PIN…: Daraja's code and words.
    Failed { code: String, description: String },
}

/// Daraja's answer to an STK push query about `checkout_request_id`: whatever the HTTP status, its body says.
pub fn query_answer(body: &[u8], checkout_request_id: &str) -> Result<StkResult, PaymentError> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "ResponseCode")]
        response_code: Code,
        #[serde(rename = "CheckoutRequestID", default)]
        checkout_request_id: String,
        #[serde(rename = "ResultCode")]
        result_code: Option<Code>,
        #[serde(rename = "ResultDesc", default)]
        result_desc: String,
    }
    if let Ok(e) = serde_json::from_slice::<ApiError>(body) {
        // A prompt still waiting on the customer. Daraja gives the same code to other failures ("Wrong
        // credentials", "Unable to lock subscriber"), so the words decide.
        if e.error_code == "500.001.1001" && e.error_message.to_ascii_lowercase().contains("being processed") {
            return Ok(StkResult::Pending);
        }
        return Err(malformed(format!("Daraja refused the query: {} {}", e.error_code, e.error_message)));
    }
    let a: Answer = serde_json::from_slice(body).map_err(|_| malformed("not Daraja's answer to a query"))?;
    if a.checkout_request_id != checkout_request_id {
        return Err(malformed(format!("the answer is about {:?}, not this request", a.checkout_request_id)));
    }
    let result = a.result_code.ok_or_else(|| malformed("no ResultCode"))?;
    if !a.response_code.is_zero() {
        return Err(malformed(format!("Daraja did not take the query ({})", a.response_code.text())));
    }
    Ok(if result.is_zero() {
        StkResult::Paid
    } else {
        StkResult::Failed { code: result.text(), description: a.result_desc }
    })
}

/// What a callback claims. Unverified: see the module's documentation — only its `checkout_request_id` is used,
/// to know whom to ask, and its payment time once Daraja confirmed the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub merchant_request_id: String,
    pub checkout_request_id: String,
    /// 0 when the customer paid.
    pub result_code: String,
    pub result_desc: String,
    /// The M-Pesa receipt number (`MpesaReceiptNumber`), when paid.
    pub receipt: Option<String>,
    /// In cents.
    pub amount_minor: Option<i64>,
    /// `TransactionDate`, when paid.
    pub paid_at: Option<Timestamp>,
}

/// Reads a callback's body (unverified; see [`Callback`]).
pub fn callback(body: &[u8]) -> Result<Callback, PaymentError> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(rename = "Body")]
        body: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(rename = "stkCallback")]
        stk: Stk,
    }
    #[derive(Deserialize)]
    struct Stk {
        #[serde(rename = "MerchantRequestID", default)]
        merchant_request_id: String,
        #[serde(rename = "CheckoutRequestID")]
        checkout_request_id: String,
        #[serde(rename = "ResultCode")]
        result_code: Code,
        #[serde(rename = "ResultDesc", default)]
        result_desc: String,
        #[serde(rename = "CallbackMetadata")]
        metadata: Option<Metadata>,
    }
    #[derive(Deserialize)]
    struct Metadata {
        #[serde(rename = "Item", default)]
        items: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Value")]
        value: Option<Box<RawValue>>,
    }
    let e: Envelope = serde_json::from_slice(body).map_err(|e| malformed(format!("not an STK callback: {e}")))?;
    let items = e.body.stk.metadata.map(|m| m.items).unwrap_or_default();
    // The literal text of a value: a JSON string's contents, or a number as written.
    let value = |name: &str| -> Option<String> {
        let raw = items.iter().find(|i| i.name == name)?.value.as_ref()?.get();
        match serde_json::from_str::<String>(raw) {
            Ok(s) => Some(s),
            Err(_) => Some(raw.to_string()),
        }
    };
    let amount_minor = value("Amount").map(|v| shillings_to_cents(&v)).transpose()?;
    let paid_at = value("TransactionDate").map(|v| kenya_time(&v)).transpose()?;
    Ok(Callback {
        merchant_request_id: e.body.stk.merchant_request_id,
        checkout_request_id: checkout_id(e.body.stk.checkout_request_id)?,
        result_code: e.body.stk.result_code.text(),
        result_desc: e.body.stk.result_desc,
        receipt: value("MpesaReceiptNumber"),
        amount_minor,
        paid_at,
    })
}

/// `"10"`, `"10.5"` or `"10.00"` shillings in cents, exactly (no floating point).
pub fn shillings_to_cents(text: &str) -> Result<i64, PaymentError> {
    let bad = || malformed(format!("amount {text:?}"));
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || whole.len() > 12
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let cents = format!("{fraction:0<2}").parse::<i64>().map_err(|_| bad())?;
    whole.parse::<i64>().map_err(|_| bad())?.checked_mul(100).and_then(|w| w.checked_add(cents)).ok_or_else(bad)
}

/// `YYYYMMDDHHMMSS` in Kenyan time.
fn kenya_time(text: &str) -> Result<Timestamp, PaymentError> {
    let bad = || malformed(format!("time {text:?}"));
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let civil = jiff::civil::DateTime::strptime("%Y%m%d%H%M%S", text).map_err(|_| bad())?;
    KENYA.to_timestamp(civil).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn phone_numbers_are_read_as_daraja_wants_them() {
        for typed in ["0712345678", "0712 345 678", "+254-712-345678", "254712345678", "712345678"] {
            assert_eq!(phone(typed).as_deref(), Some("254712345678"), "{typed}");
        }
        assert_eq!(phone("0110123456").as_deref(), Some("254110123456"));
        for bad in ["", "0812345678", "25471234567", "2547123456789", "07123456x8", "+1 712 345 678", "٠٧١٢٣٤٥٦٧٨"]
        {
            assert_eq!(phone(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_whole_shillings_can_be_pushed() {
        assert_eq!(whole_shillings(5_000, "KES"), Some(50));
        assert_eq!(whole_shillings(5_050, "KES"), None);
        assert_eq!(whole_shillings(5_000, "CNY"), None);
        assert_eq!(whole_shillings(0, "KES"), None);
        assert_eq!(whole_shillings(-100, "KES"), None);
    }

    #[test]
    fn the_password_is_the_documented_concatenation_in_kenyan_time() {
        // 2026-12-06 09:30:05 UTC is 12:30:05 in Nairobi.
        let ts = timestamp(at("2026-12-06T09:30:05Z"));
        assert_eq!(ts, "20261206123005");
        let b = Business { short_code: "174379", passkey: "pk", till: None };
        let decoded = base64::engine::general_purpose::STANDARD.decode(password(&b, &ts)).unwrap();
        assert_eq!(decoded, b"174379pk20261206123005");
    }

    #[test]
    fn a_push_names_the_paybill_or_the_till_and_clips_its_texts() {
        let paybill = Business { short_code: "174379", passkey: "pk", till: None };
        let push = |b| Push {
            business: b,
            amount_kes: 50,
            phone: "254712345678",
            callback_url: "https://example.org/pay/notify/x",
            account_reference: "MTR-0000000001234",
            description: "Electricity prepaid",
            at: at("2026-12-06T09:30:05Z"),
        };
        let v: serde_json::Value = serde_json::from_str(&push_body(&push(&paybill))).unwrap();
        assert_eq!(v["TransactionType"], "CustomerPayBillOnline");
        assert_eq!(v["PartyB"], "174379");
        assert_eq!(v["Amount"], 50);
        assert_eq!(v["AccountReference"], "MTR-00000000");
        assert_eq!(v["TransactionDesc"], "Electricity p");
        let till = Business { short_code: "174379", passkey: "pk", till: Some("5551234") };
        let v: serde_json::Value = serde_json::from_str(&push_body(&push(&till))).unwrap();
        assert_eq!(
            (v["TransactionType"].as_str(), v["PartyB"].as_str()),
            (Some("CustomerBuyGoodsOnline"), Some("5551234"))
        );
        assert_eq!(v["BusinessShortCode"], "174379");
    }

    #[test]
    fn a_callback_is_read_exactly() {
        let paid = br#"{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925","ResultCode":0,"ResultDesc":"The service request is processed successfully.","CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.10},{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},{"Name":"Balance"},{"Name":"TransactionDate","Value":20191219102115},{"Name":"PhoneNumber","Value":254708374149}]}}}}"#;
        let c = callback(paid).unwrap();
        assert_eq!(c.checkout_request_id, "ws_CO_191220191020363925");
        assert_eq!(c.result_code, "0");
        assert_eq!(c.amount_minor, Some(110));
        assert_eq!(c.receipt.as_deref(), Some("NLJ7RT61SV"));
        assert_eq!(c.paid_at, Some(at("2019-12-19T07:21:15Z")));
        let cancelled = br#"{"Body":{"stkCallback":{"MerchantRequestID":"8555-67195-1","CheckoutRequestID":"ws_CO_27072017151044001","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}"#;
        let c = callback(cancelled).unwrap();
        assert_eq!((c.result_code.as_str(), c.amount_minor, c.receipt), ("1032", None, None));
        for bad in [&b"{}"[..], b"not json", br#"{"Body":{"stkCallback":{"CheckoutRequestID":"","ResultCode":0}}}"#] {
            assert!(callback(bad).is_err());
        }
    }

    #[test]
    fn shillings_become_cents_without_rounding() {
        assert_eq!(shillings_to_cents("10").unwrap(), 1_000);
        assert_eq!(shillings_to_cents("10.5").unwrap(), 1_050);
        assert_eq!(shillings_to_cents("0.01").unwrap(), 1);
        for bad in ["", ".5", "1.234", "-1", "1e3", "1,000", "9999999999999"] {
            assert!(shillings_to_cents(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_answers_say_paid_pending_or_failed_about_this_request_only() {
        let id = "ws_CO_1";
        let answer = |code: &str| {
            format!(
                r#"{{"ResponseCode":"0","ResponseDescription":"accepted","MerchantRequestID":"m","CheckoutRequestID":"{id}","ResultCode":"{code}","ResultDesc":"words"}}"#
            )
        };
        assert_eq!(query_answer(answer("0").as_bytes(), id).unwrap(), StkResult::Paid);
        assert_eq!(
            query_answer(answer("1032").as_bytes(), id).unwrap(),
            StkResult::Failed { code: "1032".into(), description: "words".into() }
        );
        assert!(query_answer(answer("0").as_bytes(), "ws_CO_2").is_err());
        let waiting =
            br#"{"requestId":"1","errorCode":"500.001.1001","errorMessage":"The transaction is being processed"}"#;
        assert_eq!(query_answer(waiting, id).unwrap(), StkResult::Pending);
        let refused = br#"{"requestId":"1","errorCode":"404.001.04","errorMessage":"Invalid Access Token"}"#;
        assert!(query_answer(refused, id).is_err());
        // The same code for wrong credentials is no pending prompt.
        let wrong = br#"{"requestId":"1","errorCode":"500.001.1001","errorMessage":"Wrong credentials"}"#;
        assert!(query_answer(wrong, id).is_err());
        assert!(query_answer(b"<html>", id).is_err());
    }

    #[test]
    fn tokens_and_push_answers() {
        let (token, lasts) =
            token_answer(br#"{"access_token":"c9SQxWWhmdVRlyh0zh8gZDTkubVF","expires_in":"3599"}"#).unwrap();
        assert_eq!((token.as_str(), lasts.as_secs()), ("c9SQxWWhmdVRlyh0zh8gZDTkubVF", 3599));
        assert!(token_answer(br#"{"access_token":"","expires_in":"3599"}"#).is_err());
        assert!(token_answer(br#"{"access_token":"x","expires_in":"999999999999999"}"#).is_err());
        let accepted = br#"{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925","ResponseCode":"0","ResponseDescription":"Success. Request accepted for processing","CustomerMessage":"Success. Request accepted for processing"}"#;
        assert_eq!(push_answer(accepted).unwrap(), "ws_CO_191220191020363925");
        let refused = br#"{"requestId":"1","errorCode":"400.002.02","errorMessage":"Bad Request - Invalid Amount"}"#;
        let e = push_answer(refused).unwrap_err();
        assert!(e.to_string().contains("Invalid Amount"), "{e}");
    }

    proptest::proptest! {
        /// Whatever is posted or answered, reading it refuses or accepts, and never panics; a phone number read
        /// is read the same again, and an amount read is written back exactly.
        #[test]
        fn reading_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400), text in ".{0,24}") {
            let _ = callback(&bytes);
            let _ = query_answer(&bytes, "ws_CO_1");
            let _ = push_answer(&bytes);
            let _ = token_answer(&bytes);
            if let Some(p) = phone(&text) {
                proptest::prop_assert_eq!(phone(&p), Some(p.clone()));
            }
            if let Ok(cents) = shillings_to_cents(&text) {
                proptest::prop_assert_eq!(shillings_to_cents(&format!("{}.{:02}", cents / 100, cents % 100)), Ok(cents));
            }
        }

        #[test]
        fn a_paid_callback_with_any_amount_reads_back_exactly(cents in 1_i64..10_000_000_000) {
            let body = format!(
                r#"{{"Body":{{"stkCallback":{{"CheckoutRequestID":"ws_CO_1","ResultCode":0,"CallbackMetadata":{{"Item":[{{"Name":"Amount","Value":{}.{:02}}}]}}}}}}}}"#,
                cents / 100,
                cents % 100
            );
            proptest::prop_assert_eq!(callback(body.as_bytes()).unwrap().amount_minor, Some(cents));
        }
    }
}
