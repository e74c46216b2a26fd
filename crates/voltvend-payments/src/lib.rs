//! Online payment providers' notifications, verified before anything is credited (DESIGN.md §2.4).
//!
//! A provider tells Voltvend that a customer paid by calling back an address of ours. Anyone can call that
//! address, so nothing in a notification counts until its signature is checked against the provider's key —
//! and, for WeChat Pay, its payload is decrypted with the merchant's key. This crate does only that, sans-IO:
//! the HTTP handler hands it the headers, the body or form fields and the configured keys, and gets back a
//! [`Notification`] in our terms or a [`PaymentError`] that says why it was refused.
//!
//! * [`wechat`] — WeChat Pay API v3 (微信支付 APIv3): RSA-SHA256 (PKCS #1 v1.5) over
//!   `timestamp\nnonce\nbody\n` with the platform key named by `Wechatpay-Serial`, then AEAD_AES_256_GCM of the
//!   `resource` with the APIv3 key.
//! * [`alipay`] — Alipay (支付宝) asynchronous notifications: RSA2 (RSA-SHA256, PKCS #1 v1.5) over the
//!   parameters other than `sign` and `sign_type`, sorted by name and joined as `k=v&…`.
//! * [`unionpay`] — UnionPay online payment (银联, 5.1.0, `signMethod` 01): the signing certificate checked
//!   against the configured root and intermediate, then RSA-SHA256 over the hex SHA-256 of the sorted parameters.
//! * [`mpesa`] — Safaricom M-Pesa Express (STK push) through Daraja, whose callbacks are unsigned: a callback
//!   only names the request to ask about, and Daraja's answer to an authenticated status query is what counts.
//!
//! What the providers' own SDKs do is the reference: the tests build notifications with the keys they generate
//! and check each verdict against `wechatpayv3` and `python-alipay-sdk` from PyPI (docs/research/payments.md).

pub mod alipay;
pub mod keys;
pub mod mpesa;
pub mod statement;
pub mod unionpay;
pub mod wechat;

use jiff::Timestamp;
use thiserror::Error;

/// Who sent a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    WechatPay,
    Alipay,
    UnionPay,
    Mpesa,
}

impl Provider {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::WechatPay => "wechat_pay",
            Self::Alipay => "alipay",
            Self::UnionPay => "unionpay",
            Self::Mpesa => "mpesa",
        }
    }
}

/// What the provider says of the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    /// The money was taken: WeChat Pay's `SUCCESS`, Alipay's `TRADE_SUCCESS` or `TRADE_FINISHED`.
    Paid,
    /// Anything else (not paid yet, closed, refunded…), with the provider's own word for it.
    Other(String),
}

/// A verified notification, in our terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub provider: Provider,
    /// Our order number, as we gave it to the provider (the payment intent).
    pub out_trade_no: String,
    /// The provider's own transaction number: what its statement shows.
    pub transaction_id: String,
    pub state: PaymentState,
    /// What the customer paid, in minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// When the provider says the payment was made, if it says.
    pub paid_at: Option<Timestamp>,
}

/// Why a notification was refused. Nothing of a refused notification may be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaymentError {
    /// The signature does not verify with the provider's key: forged or changed on the way.
    #[error("the notification's signature does not verify")]
    BadSignature,
    /// Signed with a key we do not hold (WeChat Pay names its key by serial).
    #[error("the notification is signed with a key not configured here (serial {0:?})")]
    UnknownKey(String),
    /// Signed too long before or after now: a replay of an old notification, or a wrong clock.
    #[error("the notification was signed {skew_s} s from now; at most {max_s} s is accepted")]
    Stale { skew_s: i64, max_s: i64 },
    /// The payload does not decrypt with the merchant's key (wrong key, or changed after encryption).
    #[error("the notification's resource does not decrypt with the APIv3 key")]
    Decrypt,
    /// For another merchant or app than this one.
    #[error("the notification is for {0}, not this merchant")]
    OtherMerchant(String),
    /// Not the shape the provider documents.
    #[error("malformed notification: {0}")]
    Malformed(String),
    /// A configured key that is not an RSA public key (or an APIv3 key that is not 32 bytes).
    #[error("bad key: {0}")]
    BadKey(String),
}

impl PaymentError {
    /// The stable code the API and the logs use.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::BadSignature => "payment_bad_signature",
            Self::UnknownKey(_) => "payment_unknown_key",
            Self::Stale { .. } => "payment_stale",
            Self::Decrypt => "payment_decrypt",
            Self::OtherMerchant(_) => "payment_other_merchant",
            Self::Malformed(_) => "payment_malformed",
            Self::BadKey(_) => "payment_bad_key",
        }
    }
}

pub(crate) fn malformed(why: impl Into<String>) -> PaymentError {
    PaymentError::Malformed(why.into())
}

/// Beijing time (UTC+8 all year): the providers write their times, expiries and statement days in it.
pub const BEIJING: jiff::tz::Offset = jiff::tz::Offset::constant(8);

/// `YYYY-MM-DD HH:MM:SS` in Beijing time, as Alipay and the statements write their times.
pub(crate) fn beijing_time(text: &str) -> Result<Timestamp, PaymentError> {
    let civil: jiff::civil::DateTime = text.parse().map_err(|_| malformed(format!("time {text:?}")))?;
    BEIJING.to_timestamp(civil).map_err(|_| malformed(format!("time {text:?}")))
}

/// `at` written in Beijing time with `format` (strftime).
pub(crate) fn beijing_text(at: Timestamp, format: &str) -> String {
    BEIJING.to_datetime(at).strftime(format).to_string()
}

/// The instants a statement day (in Beijing time) runs over: `[from, to)`. `None` past the calendar's end.
pub fn beijing_day(day: jiff::civil::Date) -> Option<(Timestamp, Timestamp)> {
    day_in(BEIJING, day)
}

/// `[start, end)` of `day` at the fixed offset `zone`.
pub fn day_in(zone: jiff::tz::Offset, day: jiff::civil::Date) -> Option<(Timestamp, Timestamp)> {
    let start = |d: jiff::civil::Date| zone.to_timestamp(d.to_datetime(jiff::civil::Time::midnight())).ok();
    Some((start(day)?, start(day.tomorrow().ok()?)?))
}
