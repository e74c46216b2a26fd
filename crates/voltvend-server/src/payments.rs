//! Online payment providers: each channel's credentials, and the notification endpoint providers call
//! (`POST /pay/notify/{channel}`), answered in the provider's own format (docs/payments.md).
//!
//! A notification is verified with `voltvend-payments` against the channel's credentials, then becomes one
//! `SettlePayment` operation whose id is derived from the intent and the provider's transaction: a repeated
//! notification is the same operation, replayed. Whatever is refused — a forged or tampered notification, one
//! for another merchant, one for an intent we never made — changes nothing, is logged with its reason, and is
//! answered as failed so that the provider tries again or shows it to the merchant.
//!
//! M-Pesa is the exception: its callbacks are not signed, so a callback only names the request to ask about;
//! what settles the intent is Daraja's answer to our authenticated status query ([`query`]), the same operation
//! a sweeper's query makes.
//!
//! Credentials live outside the database, one TOML file per channel in `payments.credentials_dir`, named
//! `<channel id>.toml`; a secret in it is written `env:NAME` (an environment variable), `file:PATH` (a file's
//! contents) or as itself. They are read when a notification arrives, so a rotated key needs no restart, and
//! never logged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;
use voltvend_domain::{PaymentChannelId, PaymentIntentId};
use voltvend_ops::{Actor, Applied, Command, Operation, PaymentChannel, Provider, RecordPaymentOrder, SettlePayment};
use voltvend_payments::{Notification, PaymentError, PaymentState, alipay, mpesa, wechat};

use crate::http::AppState;

/// Where channels' credentials are, and how the providers' APIs are called.
#[derive(Debug, Clone)]
pub struct PaymentConfig {
    pub credentials_dir: Option<PathBuf>,
    /// The server's public address (`server.public_url`): notification URLs given to providers start with it.
    pub public_url: String,
    /// The HTTP client for the providers' APIs (status queries), with its timeout.
    pub client: reqwest::Client,
    /// The customer page's allowance per client address.
    pub limiter: std::sync::Arc<crate::ui::pay::Limiter>,
    /// The providers' orders made for the customer page (what each QR code holds), by intent.
    pub orders: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<PaymentIntentId, ProviderOrder>>>,
    /// Daraja's OAuth tokens by channel, with when to stop using each.
    tokens: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<PaymentChannelId, (Secret, jiff::Timestamp)>>>,
    /// Intents whose M-Pesa prompt is being pushed now: one push per intent, even when asked twice at once.
    pushing: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<PaymentIntentId>>>,
}

/// A provider's order for an intent, as the customer meets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderOrder {
    /// What the customer scans or opens: WeChat Pay's `weixin://…` code URL, Alipay's `https://qr.alipay.com/…`.
    Link(String),
    /// A payment prompt pushed to the customer's phone (M-Pesa), by the provider's reference for it.
    Prompt { reference: String },
    /// A form the customer's browser posts to the provider's page (UnionPay's front consumption).
    Form { action: String, fields: Vec<(String, String)> },
}

impl Default for PaymentConfig {
    fn default() -> Self {
        Self::new(None, String::new(), std::time::Duration::from_secs(10))
    }
}

impl PaymentConfig {
    pub fn new(credentials_dir: Option<PathBuf>, public_url: String, timeout: std::time::Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("voltvend/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self {
            credentials_dir,
            public_url,
            client,
            limiter: Default::default(),
            orders: Default::default(),
            tokens: Default::default(),
            pushing: Default::default(),
        }
    }
}

/// How long an intent must still run for an M-Pesa prompt to be pushed for it: Daraja's prompt lives about a
/// minute on the phone, and our request may take `payments.query_timeout_ms`. So no prompt outlives its intent,
/// and a payment Daraja confirms — whenever we learn of it — was made by the intent's expiry.
pub const PROMPT_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// How long past its expiry an intent whose prompt Daraja still calls "being processed" is left open (asked
/// again each round) before it expires.
pub const PENDING_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// WeChat Pay's API, unless the credentials file says otherwise.
pub const WECHAT_API: &str = "https://api.mch.weixin.qq.com";
/// Alipay's gateway, unless the credentials file says otherwise.
pub const ALIPAY_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";

/// A channel's credentials file. Only the fields of its provider are used; the others must be absent. Not
/// `Debug`: it may hold secrets written in it literally.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    provider: String,
    /// WeChat Pay: the merchant number (`mchid`).
    mchid: Option<String>,
    /// WeChat Pay: the app id orders are made for (Native orders).
    appid: Option<String>,
    /// WeChat Pay: the APIv3 key (32 bytes), which decrypts notifications.
    apiv3_key: Option<String>,
    /// WeChat Pay: the platform public keys (or certificates' keys) by serial, which sign notifications.
    #[serde(default)]
    platform_keys: BTreeMap<String, String>,
    /// WeChat Pay: the merchant's API private key, which signs requests (status queries)…
    merchant_key: Option<String>,
    /// …and its certificate's serial number.
    merchant_serial: Option<String>,
    /// WeChat Pay: the API's base URL (default [`WECHAT_API`]).
    api_base: Option<String>,
    /// Alipay: the app's id.
    app_id: Option<String>,
    /// Alipay: Alipay's public key, which signs notifications and answers.
    alipay_public_key: Option<String>,
    /// Alipay: the app's private key, which signs requests.
    app_private_key: Option<String>,
    /// Alipay: the gateway's URL (default [`ALIPAY_GATEWAY`]).
    gateway: Option<String>,
    /// M-Pesa: the Daraja app's consumer key and secret, which buy OAuth tokens.
    consumer_key: Option<String>,
    consumer_secret: Option<String>,
    /// M-Pesa: the business short code (a paybill, or a till's store number) and its M-Pesa Express passkey.
    business_short_code: Option<String>,
    passkey: Option<String>,
    /// M-Pesa: for Buy Goods, the till number the money goes to.
    till: Option<String>,
    /// UnionPay: the merchant number (`merId`).
    mer_id: Option<String>,
    /// UnionPay: its root and intermediate certificates (PEM), which its signing certificates must chain to.
    root_cert: Option<String>,
    middle_cert: Option<String>,
    /// UnionPay: the merchant signing certificate's id (its serial number in decimal), with `merchant_key`.
    cert_id: Option<String>,
}

/// A secret that never reaches `Debug` or a log.
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A Daraja app and the business it collects for.
#[derive(Debug)]
pub struct MpesaCredentials {
    consumer_key: Secret,
    consumer_secret: Secret,
    short_code: String,
    passkey: Secret,
    till: Option<String>,
    api_base: String,
}

impl MpesaCredentials {
    fn business(&self) -> mpesa::Business<'_> {
        mpesa::Business { short_code: &self.short_code, passkey: &self.passkey.0, till: self.till.as_deref() }
    }
}

/// An API address over TLS — our trust in the provider's answers rests on it — or on this machine (a test
/// double).
fn tls_or_loopback(path: &Path, url: String) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(&url).map_err(|e| anyhow::anyhow!("{}: {url}: {e}", path.display()))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    let plain_ok = parsed.scheme() == "http" && loopback;
    if (parsed.scheme() == "https" || plain_ok) && parsed.username().is_empty() && parsed.password().is_none() {
        return Ok(url);
    }
    anyhow::bail!("{}: {url} is neither https nor this machine", path.display())
}

/// Verified credentials of one channel. The private keys never reach `Debug`.
#[derive(Debug)]
pub enum Credentials {
    Wechat {
        keys: wechat::MerchantKeys,
        /// The merchant's signing key and its certificate serial, when queries are configured.
        merchant: Option<(voltvend_payments::keys::SigningKey, String)>,
        /// The app orders are made for.
        appid: Option<String>,
        api_base: String,
    },
    Alipay {
        app_id: String,
        key: rsa::RsaPublicKey,
        /// The app's signing key, when queries are configured.
        app_key: Option<voltvend_payments::keys::SigningKey>,
        gateway: String,
    },
    Mpesa(MpesaCredentials),
    UnionPay {
        /// Boxed: two certificates are large beside the other providers' credentials.
        trust: Box<voltvend_payments::unionpay::Trust>,
        /// The merchant's signing key and its certificate id, when orders and queries are configured.
        merchant: Option<(voltvend_payments::keys::SigningKey, String)>,
        api_base: String,
    },
}

/// A secret as the credentials file gives it: `env:NAME`, `file:PATH` (relative to the file's directory), or
/// the value itself.
fn secret(dir: &Path, value: &str) -> anyhow::Result<String> {
    if let Some(name) = value.strip_prefix("env:") {
        return std::env::var(name).map_err(|_| anyhow::anyhow!("environment variable {name} is not set"));
    }
    if let Some(path) = value.strip_prefix("file:") {
        let path = dir.join(path);
        return std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    Ok(value.to_string())
}

impl PaymentConfig {
    /// The credentials of `channel`, for `provider`, read now.
    pub fn credentials(&self, channel: PaymentChannelId, provider: Provider) -> anyhow::Result<Credentials> {
        let dir =
            self.credentials_dir.as_deref().ok_or_else(|| anyhow::anyhow!("payments.credentials_dir is not set"))?;
        let path = dir.join(format!("{channel}.toml"));
        let file: CredentialsFile =
            Figment::from(Toml::file_exact(&path)).extract().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if file.provider != provider.as_str() {
            anyhow::bail!("{}: provider {:?}, but the channel is {}", path.display(), file.provider, provider);
        }
        fn need<'a>(path: &Path, field: &'a Option<String>, name: &str) -> anyhow::Result<&'a str> {
            field.as_deref().ok_or_else(|| anyhow::anyhow!("{}: {name} is missing", path.display()))
        }
        match provider {
            Provider::WechatPay => {
                let mchid = need(&path, &file.mchid, "mchid")?;
                let apiv3 = secret(dir, need(&path, &file.apiv3_key, "apiv3_key")?)?;
                let mut platform = Vec::with_capacity(file.platform_keys.len());
                for (serial, value) in &file.platform_keys {
                    platform.push((serial.clone(), voltvend_payments::keys::public_key(&secret(dir, value)?)?));
                }
                if platform.is_empty() {
                    anyhow::bail!("{}: platform_keys is empty", path.display());
                }
                let merchant = match (&file.merchant_key, &file.merchant_serial) {
                    (Some(k), Some(serial)) => {
                        Some((voltvend_payments::keys::SigningKey::from_text(&secret(dir, k)?)?, serial.clone()))
                    }
                    (None, None) => None,
                    _ => anyhow::bail!("{}: merchant_key and merchant_serial go together", path.display()),
                };
                Ok(Credentials::Wechat {
                    keys: wechat::MerchantKeys::new(mchid, apiv3.trim(), platform)?,
                    merchant,
                    appid: file.appid.clone(),
                    api_base: file.api_base.clone().unwrap_or_else(|| WECHAT_API.to_string()),
                })
            }
            Provider::Alipay => {
                let app_id = need(&path, &file.app_id, "app_id")?.to_string();
                let public = need(&path, &file.alipay_public_key, "alipay_public_key")?;
                let key = voltvend_payments::keys::public_key(&secret(dir, public)?)?;
                let app_key = match &file.app_private_key {
                    Some(k) => Some(voltvend_payments::keys::SigningKey::from_text(&secret(dir, k)?)?),
                    None => None,
                };
                let gateway = file.gateway.clone().unwrap_or_else(|| ALIPAY_GATEWAY.to_string());
                Ok(Credentials::Alipay { app_id, key, app_key, gateway })
            }
            Provider::Mpesa => {
                let short_code = need(&path, &file.business_short_code, "business_short_code")?;
                let numeric = |v: &str| !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit());
                if !numeric(short_code) || !file.till.as_deref().is_none_or(numeric) {
                    anyhow::bail!("{}: business_short_code and till are numbers", path.display());
                }
                Ok(Credentials::Mpesa(MpesaCredentials {
                    consumer_key: Secret(
                        secret(dir, need(&path, &file.consumer_key, "consumer_key")?)?.trim().to_string(),
                    ),
                    consumer_secret: Secret(
                        secret(dir, need(&path, &file.consumer_secret, "consumer_secret")?)?.trim().to_string(),
                    ),
                    short_code: short_code.to_string(),
                    passkey: Secret(secret(dir, need(&path, &file.passkey, "passkey")?)?.trim().to_string()),
                    till: file.till.clone(),
                    api_base: tls_or_loopback(&path, file.api_base.clone().unwrap_or_else(|| mpesa::API.to_string()))?,
                }))
            }
            Provider::UnionPay => {
                let mer_id = need(&path, &file.mer_id, "mer_id")?;
                let root = secret(dir, need(&path, &file.root_cert, "root_cert")?)?;
                let middle = secret(dir, need(&path, &file.middle_cert, "middle_cert")?)?;
                let merchant = match (&file.merchant_key, &file.cert_id) {
                    (Some(k), Some(id)) => {
                        Some((voltvend_payments::keys::SigningKey::from_text(&secret(dir, k)?)?, id.clone()))
                    }
                    (None, None) => None,
                    _ => anyhow::bail!("{}: merchant_key and cert_id go together", path.display()),
                };
                Ok(Credentials::UnionPay {
                    trust: Box::new(voltvend_payments::unionpay::Trust::new(mer_id, &root, &middle)?),
                    merchant,
                    api_base: tls_or_loopback(
                        &path,
                        file.api_base.clone().unwrap_or_else(|| voltvend_payments::unionpay::GATEWAY.to_string()),
                    )?,
                })
            }
        }
    }
}

/// Why a notification was not taken.
#[derive(Debug)]
enum Refusal {
    /// No such channel, or not configured here.
    Channel(String),
    /// The notification itself: forged, tampered, stale, another merchant's, malformed.
    Notification(PaymentError),
    /// Verified, but for no intent of this channel.
    UnknownIntent(String),
    /// The settlement was refused by a rule (a transaction number we cannot record): nothing changed.
    Rejected(&'static str, String),
    /// The settlement could not be committed now (the provider should try again).
    Store(String),
    /// The provider could not confirm an unsigned callback (M-Pesa): nothing changed.
    Unconfirmed(QueryFailed),
}

impl Refusal {
    fn code(&self) -> &str {
        match self {
            Self::Channel(_) => "payment_channel_unknown",
            Self::Notification(e) => e.code(),
            Self::UnknownIntent(_) => "payment_intent_unknown",
            Self::Rejected(code, _) => code,
            Self::Store(_) => "unavailable",
            Self::Unconfirmed(q) => q.code,
        }
    }

    fn status(&self) -> u16 {
        match self {
            Self::Channel(_) | Self::UnknownIntent(_) => 404,
            Self::Notification(PaymentError::Malformed(_)) => 400,
            Self::Notification(_) => 401,
            Self::Rejected(..) => 422,
            Self::Store(_) => 503,
            Self::Unconfirmed(q) => match q.code {
                "payment_query_unconfigured" | "payment_order_exists" => 409,
                "payment_settlement_failed" | "unavailable" => 503,
                _ => 502,
            },
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Channel(m) | Self::UnknownIntent(m) | Self::Store(m) | Self::Rejected(_, m) => f.write_str(m),
            Self::Notification(e) => write!(f, "{e}"),
            Self::Unconfirmed(q) => f.write_str(&q.message),
        }
    }
}

/// `POST /pay/notify/{channel}`: a provider's payment notification.
pub async fn notify(
    State(app): State<AppState>,
    UrlPath(channel): UrlPath<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Which answer format: the channel's provider's, or WeChat Pay's JSON when the channel is unknown.
    let provider = match channel.parse::<uuid::Uuid>() {
        Ok(id) => app.store.payment_channel(id.into()).await.ok().flatten().map(|c| c.provider),
        Err(_) => None,
    };
    let result = take(&app, &channel, query.as_deref().unwrap_or(""), &headers, &body).await;
    match &result {
        Ok(what) => tracing::info!(channel = %channel, "payment notification taken: {what}"),
        Err(r) => tracing::warn!(channel = %channel, code = r.code(), "payment notification refused: {r}"),
    }
    answer(provider.unwrap_or(Provider::WechatPay), result.map(|_| ()))
}

fn answer(provider: Provider, result: Result<(), Refusal>) -> Response {
    match (provider, result) {
        (Provider::Alipay, r) => {
            let text = if r.is_ok() { alipay::ANSWER_OK } else { alipay::ANSWER_FAIL };
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        (Provider::UnionPay, r) => {
            // UnionPay looks at the status: 200 took it, anything else and it sends it again.
            let status = match &r {
                Ok(()) => StatusCode::OK,
                Err(e) => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            };
            let text = if r.is_ok() { voltvend_payments::unionpay::ANSWER_OK } else { "fail" };
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        (Provider::Mpesa, Ok(())) => ([(header::CONTENT_TYPE, "application/json")], mpesa::ANSWER_OK).into_response(),
        (Provider::Mpesa, Err(r)) => {
            let body = serde_json::json!({ "ResultCode": 1, "ResultDesc": r.code() }).to_string();
            let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        (_, Ok(())) => StatusCode::from_u16(wechat::ANSWER_OK_STATUS).unwrap_or(StatusCode::NO_CONTENT).into_response(),
        (_, Err(r)) => {
            // Only the code: the details (a credentials file's path, a database error) are for our log, not
            // for whoever posted.
            let (status, body) = wechat::answer_fail(r.status(), r.code());
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }
}

/// Verifies and settles a notification; `Ok` says what was done.
async fn take(app: &AppState, channel: &str, query: &str, headers: &HeaderMap, body: &[u8]) -> Result<String, Refusal> {
    let unknown = || Refusal::Channel(format!("no payment channel {channel:?}"));
    let id: PaymentChannelId = channel.parse::<uuid::Uuid>().map_err(|_| unknown())?.into();
    let ch = app.store.payment_channel(id).await.map_err(|e| Refusal::Store(e.to_string()))?.ok_or_else(unknown)?;
    let credentials = app
        .payments
        .credentials(ch.id, ch.provider)
        .map_err(|e| Refusal::Channel(format!("channel {} is not configured here: {e}", ch.id)))?;
    if let Credentials::Mpesa(_) = credentials {
        return take_mpesa(app, &ch, query, body).await;
    }
    let n = verify(&credentials, headers, body, app.now()).map_err(Refusal::Notification)?;
    if n.state != PaymentState::Paid {
        return Ok(format!("order {} is {:?}: nothing to do", n.out_trade_no, n.state));
    }
    let intent_id =
        intent_of(&n.out_trade_no).ok_or_else(|| Refusal::UnknownIntent(format!("order {:?}", n.out_trade_no)))?;
    let intent = app
        .store
        .payment_intent(intent_id)
        .await
        .map_err(|e| Refusal::Store(e.to_string()))?
        .filter(|i| i.channel_id == ch.id)
        .ok_or_else(|| Refusal::UnknownIntent(format!("order {} is not an intent of this channel", n.out_trade_no)))?;
    let op = settlement(&n, intent.id, &format!("{}:notify", ch.provider))
        .ok_or_else(|| Refusal::Rejected("payment_malformed", "a paid notification without its payment time".into()))?;
    settle(app, op).await
}

/// An M-Pesa callback: unsigned, so it is believed in nothing. It names the request (`CheckoutRequestID`) whose
/// intent is then asked about through Daraja's authenticated query, which alone settles it.
///
/// The intent is the one that recorded that request. If none did — Daraja accepted the prompt but recording its
/// reference failed (a crash, an answer lost on the way) — the callback URL's `order` names the intent the
/// prompt was pushed for: an intent of this channel with no prompt recorded adopts the request, but only once
/// Daraja confirms the request was paid.
async fn take_mpesa(app: &AppState, ch: &PaymentChannel, url_query: &str, body: &[u8]) -> Result<String, Refusal> {
    let callback = mpesa::callback(body).map_err(Refusal::Notification)?;
    let checkout = callback.checkout_request_id.as_str();
    let filter = voltvend_store::IntentFilter {
        channel: Some(ch.id),
        provider_ref: Some(checkout.to_string()),
        ..Default::default()
    };
    let page = voltvend_store::ListQuery { scope: None, after: None, limit: 2 };
    let found = app.store.list_payment_intents(&page, &filter).await.map_err(|e| Refusal::Store(e.to_string()))?;
    let unknown =
        || Refusal::UnknownIntent(format!("request {checkout:?} is not the prompt of an intent of this channel"));
    let intent = match found.as_slice() {
        [intent] => intent.clone(),
        [] => adopt(app, ch, url_query, checkout).await?.ok_or_else(unknown)?,
        _ => return Err(unknown()),
    };
    if callback.amount_minor.is_some_and(|a| a != intent.amount_minor) {
        // Not believed either way (the amount pushed is what Daraja collects), but worth a look.
        tracing::warn!(
            intent = %intent.id,
            "an M-Pesa callback claims {:?} cents for a prompt of {}", callback.amount_minor, intent.amount_minor
        );
    }
    let said = format!(
        "the callback said {} {:?} (receipt {:?}, at {:?})",
        callback.result_code, callback.result_desc, callback.receipt, callback.paid_at
    );
    // Each callback costs a query to Daraja: a flood of them about one intent must not exhaust our allowance there.
    if !app.payments.limiter.allow(&format!("mpesa-callback:{}", intent.id), app.now()) {
        return Ok(format!("{said}; not asked again so soon"));
    }
    let done = query(app, &intent).await.map_err(Refusal::Unconfirmed)?;
    Ok(format!("{said}; Daraja's answer: {done}"))
}

/// The intent the callback URL names (`order=<order no>`) adopting `checkout` as its prompt: only an intent of
/// this channel with no prompt recorded, and only once Daraja confirms that request was paid. `None` when there
/// is nothing to adopt.
async fn adopt(
    app: &AppState,
    ch: &PaymentChannel,
    query: &str,
    checkout: &str,
) -> Result<Option<voltvend_ops::PaymentIntent>, Refusal> {
    let named = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "order").and_then(|(_, v)| intent_of(&v));
    let Some(id) = named else { return Ok(None) };
    let store = |e: voltvend_store::StoreError| Refusal::Store(e.to_string());
    let Some(intent) = app.store.payment_intent(id).await.map_err(store)? else { return Ok(None) };
    if intent.channel_id != ch.id || intent.provider_ref.is_some() {
        return Ok(None);
    }
    let Ok(Credentials::Mpesa(m)) = app.payments.credentials(ch.id, ch.provider) else { return Ok(None) };
    let now = app.now();
    if !app.payments.limiter.allow(&format!("mpesa-callback:{}", intent.id), now) {
        return Ok(None);
    }
    let answer = mpesa_call(app, ch.id, &m, mpesa::QUERY_PATH, mpesa::query_body(&m.business(), checkout, now), now)
        .await
        .map_err(Refusal::Unconfirmed)?;
    if mpesa::query_answer(&answer, checkout).map_err(|e| Refusal::Unconfirmed(e.into()))? != mpesa::StkResult::Paid {
        return Ok(None);
    }
    record_prompt(app, intent.id, checkout).await.map_err(Refusal::Unconfirmed)?;
    tracing::warn!(intent = %intent.id, "adopted M-Pesa request {checkout}: its prompt was paid but never recorded");
    app.store.payment_intent(id).await.map_err(store)
}

/// Records Daraja's reference for the intent's prompt (one operation per intent, however often asked).
async fn record_prompt(app: &AppState, intent: PaymentIntentId, checkout: &str) -> Result<(), QueryFailed> {
    let record = Command::RecordPaymentOrder(RecordPaymentOrder { intent_id: intent, provider_ref: checkout.into() });
    app.store.submit(intent_operation(intent, "record-payment-order", "mpesa:order", record)).await?;
    Ok(())
}

/// The system's operation `what` on `intent`: its id derived from the intent, so that asking again — from a
/// callback, the sweeper or a cashier — is the same operation, replayed.
fn intent_operation(intent: PaymentIntentId, what: &str, source: &str, command: Command) -> Operation {
    let id = voltvend_ops::command::derive(voltvend_domain::OperationId::from_uuid(intent.as_uuid()), what, 0);
    Operation::new(id.into(), Actor::system(source), command)
}

fn verify(
    credentials: &Credentials,
    headers: &HeaderMap,
    body: &[u8],
    now: jiff::Timestamp,
) -> Result<Notification, PaymentError> {
    match credentials {
        Credentials::Wechat { keys, .. } => wechat::verify(keys, wechat_headers(headers), body, now),
        Credentials::Alipay { app_id, key, .. } => {
            let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
            alipay::verify(key, app_id, &params)
        }
        Credentials::UnionPay { trust, .. } => {
            let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
            voltvend_payments::unionpay::verify(trust, &params, now)
        }
        Credentials::Mpesa(_) => Err(PaymentError::Malformed("M-Pesa callbacks are not signed".into())),
    }
}

/// The intent a merchant order number names (its 32 hex digits).
pub fn intent_of(order_no: &str) -> Option<PaymentIntentId> {
    if order_no.len() != 32 {
        return None;
    }
    uuid::Uuid::try_parse(order_no).ok().map(Into::into)
}

/// The operation a verified payment becomes: one per intent and provider transaction. `None` for a payment
/// without its time (whether it was paid before the intent expired must be the provider's word, not ours).
pub fn settlement(n: &Notification, intent: PaymentIntentId, source: &str) -> Option<Operation> {
    let command = SettlePayment {
        intent_id: intent,
        provider_txn: n.transaction_id.clone(),
        paid_minor: n.amount_minor,
        currency: n.currency.clone(),
        paid_at: n.paid_at?,
    };
    Some(Operation::new(
        SettlePayment::operation_id(intent, &n.transaction_id),
        Actor::system(source),
        Command::SettlePayment(command),
    ))
}

async fn settle(app: &AppState, op: Operation) -> Result<String, Refusal> {
    match app.store.submit(op).await {
        Ok(Applied::Committed { outcome, .. }) => Ok(describe(&outcome)),
        Ok(Applied::Replayed { .. }) => Ok("already recorded".into()),
        Err(voltvend_store::StoreError::Refused(e)) if e.code() == "not_found" => {
            Err(Refusal::UnknownIntent(e.to_string()))
        }
        Err(voltvend_store::StoreError::Refused(e)) => Err(Refusal::Rejected(e.code(), e.to_string())),
        Err(e) => Err(Refusal::Store(e.to_string())),
    }
}

fn describe(o: &voltvend_ops::Outcome) -> String {
    match o {
        voltvend_ops::Outcome::Sale(s) => format!("sold: receipt #{} of {}", s.receipt_no, s.vending_point_id),
        voltvend_ops::Outcome::FeesPaid(f) => {
            format!("rent and fees paid: receipt #{} of {}", f.receipt_no, f.vending_point_id)
        }
        voltvend_ops::Outcome::PaymentRefused { code, .. } => format!("kept as a refused payment ({code})"),
        voltvend_ops::Outcome::PaymentHeld(i) => format!("held for review ({})", i.reason_code),
        other => format!("{other:?}"),
    }
}

/// Why a status query could not say.
#[derive(Debug, Clone)]
pub struct QueryFailed {
    pub code: &'static str,
    pub message: String,
}

impl QueryFailed {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    fn unavailable(e: impl std::fmt::Display) -> Self {
        Self::new("payment_provider_unavailable", e.to_string())
    }
}

/// An answer that fails verification is the provider's fault or an attacker's, never the operator's: one code,
/// with the verification's own code in the message (and the log).
impl From<PaymentError> for QueryFailed {
    fn from(e: PaymentError) -> Self {
        Self::new("payment_provider_bad_answer", format!("{}: {e}", e.code()))
    }
}

impl From<voltvend_store::StoreError> for QueryFailed {
    fn from(e: voltvend_store::StoreError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

/// Asks the provider what became of an open intent's order (its answer's signature checked like a
/// notification's) and acts on it: paid — the same settlement a notification makes (one operation for both, so
/// a notification before or after changes nothing more); unpaid and past its expiry — the intent expires;
/// otherwise nothing. `Ok` says what was done.
///
/// An M-Pesa intent whose prompt was recorded is asked about even once expired: its prompt was pushed while the
/// intent had [`PROMPT_WINDOW`] to run, so a payment Daraja confirms was made in time and still sells.
pub async fn query(app: &AppState, intent: &voltvend_ops::PaymentIntent) -> Result<String, QueryFailed> {
    let prompted_then_expired = intent.status == voltvend_ops::IntentStatus::Expired && intent.provider_ref.is_some();
    if intent.status != voltvend_ops::IntentStatus::Open && !prompted_then_expired {
        return Ok(format!("already {}", intent.status));
    }
    let ch = channel_of(app, intent).await?;
    let order = intent.order_no();
    let now = app.now();
    let credentials = match app.payments.credentials(ch.id, ch.provider) {
        Ok(c) => c,
        // A channel that cannot be asked: past its expiry the intent expires anyway — safe, because a payment
        // made before the expiry still settles it when its notification comes (ADR 0005).
        Err(_) if now > intent.expires_at && intent.provider_ref.is_none() => {
            return expire(app, intent, ch.provider, "not asked").await;
        }
        Err(e) => {
            let why = format!("channel {} is not configured: {e}", ch.id);
            return Err(QueryFailed::new("payment_query_unconfigured", why));
        }
    };
    let found = match &credentials {
        Credentials::Wechat { keys, merchant: Some((key, serial)), api_base, .. } => {
            let path = wechat::query_path(&keys.mchid, &order)
                .ok_or_else(|| QueryFailed::new("payment_malformed", "no query path for this merchant and order"))?;
            let signer = WechatSigner { mchid: &keys.mchid, key, serial, api_base };
            // WeChat Pay answers an order it never heard of with 404 ORDER_NOT_EXIST: not paid.
            match signer.call(app, reqwest::Method::GET, &path, "", now).await? {
                None => None,
                Some((headers, body)) => {
                    Some(wechat::verify_query(keys, wechat_headers(&headers), &body, &order, now)?)
                }
            }
        }
        Credentials::UnionPay { trust, merchant: Some((key, cert_id)), api_base } => {
            use voltvend_payments::unionpay;
            let m = unionpay::Merchant { mer_id: &trust.mer_id, cert_id, key };
            // The order was made at the intent's creation: the query names it by that time.
            let params = unionpay::query_request(&m, &order, intent.created_at);
            let url = format!("{}{}", api_base.trim_end_matches('/'), unionpay::QUERY_PATH);
            match unionpay::verify_query(trust, &form_call(app, &url, &params).await?, &order, now)? {
                // Without its trace time, a paid order was paid by the intent's expiry at the latest: UnionPay
                // takes no payment past the order's payTimeout, which is that expiry.
                unionpay::QueryAnswer::Found(mut n) => {
                    n.paid_at = n.paid_at.or(Some(now.min(intent.expires_at)));
                    Some(n)
                }
                unionpay::QueryAnswer::NotFound => None,
            }
        }
        Credentials::Alipay { app_id, key, app_key: Some(app_key), gateway } => {
            let text = form_call(app, gateway, &alipay::query_request(app_id, &order, now, app_key)?).await?;
            match alipay::verify_query(key, &text, &order)? {
                alipay::QueryAnswer::Found(n) => Some(n),
                alipay::QueryAnswer::NotFound => None,
            }
        }
        Credentials::Mpesa(m) => {
            let Some(checkout) = intent.provider_ref.as_deref() else {
                // No prompt was pushed: there is nothing the customer could have paid.
                if now > intent.expires_at {
                    return expire(app, intent, ch.provider, "no prompt was sent").await;
                }
                return Ok("no prompt sent yet".into());
            };
            let body = mpesa::query_body(&m.business(), checkout, now);
            let answer = mpesa_call(app, ch.id, m, mpesa::QUERY_PATH, body, now).await?;
            match mpesa::query_answer(&answer, checkout)? {
                // The customer has not answered the prompt: not even past the expiry is it unpaid yet — until
                // Daraja has kept saying so well past any prompt's life. Expiring it then is safe: a payment
                // Daraja confirms later still sells (see above).
                mpesa::StkResult::Pending if now <= intent.expires_at + PENDING_GRACE => {
                    return Ok("the customer has not answered the prompt yet".into());
                }
                mpesa::StkResult::Pending => {
                    return expire(app, intent, ch.provider, "still pending long after the expiry").await;
                }
                result => Some(Notification {
                    provider: voltvend_payments::Provider::Mpesa,
                    out_trade_no: order.clone(),
                    transaction_id: checkout.to_string(),
                    state: match result {
                        mpesa::StkResult::Failed { code, description } => {
                            PaymentState::Other(format!("{code} {description}"))
                        }
                        _ => PaymentState::Paid,
                    },
                    // What was pushed, which the customer cannot change on the prompt.
                    amount_minor: intent.amount_minor,
                    currency: mpesa::CURRENCY.to_string(),
                    // Never the callback's word: the prompt was pushed with PROMPT_WINDOW to run before the
                    // expiry and dies within it, so a confirmed payment was made by the expiry at the latest.
                    paid_at: Some(now.min(intent.expires_at)),
                }),
            }
        }
        _ if now > intent.expires_at => return expire(app, intent, ch.provider, "not asked").await,
        _ => {
            return Err(QueryFailed::new(
                "payment_query_unconfigured",
                format!("channel {} has no key to sign queries with", ch.id),
            ));
        }
    };
    match found {
        Some(n) if n.state == PaymentState::Paid => {
            let op = settlement(&n, intent.id, &format!("{}:query", ch.provider)).ok_or_else(|| {
                QueryFailed::new("payment_provider_bad_answer", "a paid order without its payment time")
            })?;
            settle(app, op).await.map_err(|r| QueryFailed::new("payment_settlement_failed", r.to_string()))
        }
        other => {
            let state = other.map_or_else(|| "no such order".to_string(), |n| format!("{:?}", n.state));
            if now <= intent.expires_at {
                return Ok(format!("not paid yet ({state})"));
            }
            expire(app, intent, ch.provider, &state).await
        }
    }
}

/// Expires an intent past its expiry (one operation per intent, however often asked).
async fn expire(
    app: &AppState,
    intent: &voltvend_ops::PaymentIntent,
    provider: Provider,
    state: &str,
) -> Result<String, QueryFailed> {
    if intent.status == voltvend_ops::IntentStatus::Expired {
        return Ok(format!("expired unpaid ({state})"));
    }
    let expire = Command::ExpirePaymentIntent(voltvend_ops::ExpirePaymentIntent { intent_id: intent.id });
    let source = format!("{provider}:query");
    app.store.submit(intent_operation(intent.id, "expire-payment-intent", &source, expire)).await?;
    Ok(format!("expired unpaid ({state})"))
}

/// Queries the providers for open intents made at least `min_age` ago (a notification usually comes first),
/// at most `limit` of them, those expiring first first (every intent leaves the list once it expires, so none
/// waits for ever): what the sweeper runs. Returns how many were asked about.
pub async fn sweep(app: &AppState, min_age: jiff::SignedDuration, limit: u32) -> usize {
    let filter = voltvend_store::IntentFilter {
        status: Some(voltvend_ops::IntentStatus::Open),
        expiring_first: true,
        ..Default::default()
    };
    let page = voltvend_store::ListQuery { scope: None, after: None, limit };
    let intents = match app.store.list_payment_intents(&page, &filter).await {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!("payment sweep: cannot list open intents: {e}");
            return 0;
        }
    };
    let now = app.now();
    let mut asked = 0;
    for intent in intents.iter().filter(|i| now.duration_since(i.created_at) >= min_age) {
        asked += 1;
        match query(app, intent).await {
            Ok(what) => tracing::info!(intent = %intent.id, "payment query: {what}"),
            Err(e) => tracing::warn!(intent = %intent.id, code = e.code, "payment query failed: {}", e.message),
        }
    }
    asked
}

/// Makes the provider's order for an open intent — WeChat Pay Native, Alipay precreate — payable until the
/// intent expires and notifying this server: what the customer's QR code holds. The provider keys the order by
/// the intent's order number, so asking again gives the same order.
///
/// M-Pesa has no QR code: it pushes a prompt to `payer`'s phone, once per intent, and the intent records the
/// prompt's reference before anything else, so that the callback can name it.
pub async fn order(
    app: &AppState,
    intent: &voltvend_ops::PaymentIntent,
    payer: Option<&str>,
) -> Result<ProviderOrder, QueryFailed> {
    if intent.status != voltvend_ops::IntentStatus::Open {
        return Err(QueryFailed::new("payment_intent_not_open", format!("intent {} is {}", intent.id, intent.status)));
    }
    let ch = channel_of(app, intent).await?;
    let unconfigured = |why: String| QueryFailed::new("payment_order_unconfigured", why);
    let credentials = app
        .payments
        .credentials(ch.id, ch.provider)
        .map_err(|e| unconfigured(format!("channel {} is not configured: {e}", ch.id)))?;
    let public = app.payments.public_url.trim_end_matches('/');
    if !public.starts_with("http") {
        return Err(unconfigured("server.public_url is not set: providers could not notify us".into()));
    }
    let notify_url = format!("{public}/pay/notify/{}", ch.id);
    let order = intent.order_no();
    let now = app.now();
    let meter = app.store.meter(intent.meter_id).await?.meter;
    // What the customer sees in the provider's app as the order's title.
    let subject = match (intent.purpose, meter.utility) {
        (voltvend_ops::IntentPurpose::Fees, _) => format!("房租物业费 {}", meter.serial),
        (_, voltvend_domain::Utility::Electricity) => format!("电费 {}", meter.serial),
        (_, voltvend_domain::Utility::Water) => format!("水费 {}", meter.serial),
    };
    let subject = subject.as_str();
    match &credentials {
        Credentials::Mpesa(m) => {
            if intent.expires_at.duration_since(now) < PROMPT_WINDOW {
                return Err(QueryFailed::new(
                    "payment_intent_expiring",
                    format!("an M-Pesa prompt needs {PROMPT_WINDOW:#} of the intent left: make a new intent"),
                ));
            }
            if !notify_url.starts_with("https://") {
                return Err(unconfigured(
                    "Daraja calls back only over https: set server.public_url to https://…".into(),
                ));
            }
            let phone = payer.and_then(mpesa::phone).ok_or_else(|| {
                QueryFailed::new(
                    "payment_phone_needed",
                    "M-Pesa prompts a Kenyan mobile number: give the payer's phone",
                )
            })?;
            let amount_kes = mpesa::whole_shillings(intent.amount_minor, intent.currency.code()).ok_or_else(|| {
                QueryFailed::new("payment_amount_unpayable", "M-Pesa takes whole Kenyan shillings only")
            })?;
            let _pushing = PushGuard::take(app, intent.id)?;
            // Read again under the guard: another request may have pushed since this intent was read.
            let intent = app.store.payment_intent(intent.id).await?.unwrap_or_else(|| intent.clone());
            if let Some(reference) = &intent.provider_ref {
                return Err(QueryFailed::new(
                    "payment_order_exists",
                    format!("a prompt ({reference}) was sent for this intent already: make a new intent to ask again"),
                ));
            }
            let what = match meter.utility {
                voltvend_domain::Utility::Electricity => "Electricity",
                voltvend_domain::Utility::Water => "Water",
            };
            // The customer sees the meter on the prompt: its number's last twelve characters.
            let reference = mpesa::account_reference(&meter.serial);
            // The callback URL names the intent too: should recording Daraja's reference below fail, the
            // callback can still find the intent its prompt was for (see `adopt`).
            let callback_url = format!("{notify_url}?order={order}");
            let body = mpesa::push_body(&mpesa::Push {
                business: &m.business(),
                amount_kes,
                phone: &phone,
                callback_url: &callback_url,
                account_reference: &reference,
                description: what,
                at: now,
            });
            let checkout = mpesa::push_answer(&mpesa_call(app, ch.id, m, mpesa::PUSH_PATH, body, now).await?)?;
            record_prompt(app, intent.id, &checkout).await?;
            Ok(ProviderOrder::Prompt { reference: checkout })
        }
        Credentials::Wechat { keys, merchant: Some((key, serial)), appid: Some(appid), api_base } => {
            let body = wechat::native_order_body(&wechat::NativeOrder {
                appid,
                mchid: &keys.mchid,
                description: subject,
                out_trade_no: &order,
                time_expire: intent.expires_at,
                notify_url: &notify_url,
                total: intent.amount_minor,
                currency: intent.currency.code(),
            });
            let signer = WechatSigner { mchid: &keys.mchid, key, serial, api_base };
            let (headers, bytes) = signer
                .call(app, reqwest::Method::POST, wechat::NATIVE_ORDER_PATH, &body, now)
                .await?
                .ok_or_else(|| QueryFailed::unavailable("WeChat Pay answered 404"))?;
            Ok(ProviderOrder::Link(wechat::verify_native_order(keys, wechat_headers(&headers), &bytes, now)?))
        }
        Credentials::Alipay { app_id, key, app_key: Some(app_key), gateway } => {
            let params = alipay::precreate_request(
                app_id,
                &notify_url,
                &order,
                intent.amount_minor,
                subject,
                intent.expires_at,
                now,
                app_key,
            )?;
            Ok(ProviderOrder::Link(alipay::verify_precreate(key, &form_call(app, gateway, &params).await?, &order)?))
        }
        Credentials::UnionPay { trust, merchant: Some((key, cert_id)), api_base } => {
            use voltvend_payments::unionpay;
            if intent.currency != voltvend_domain::Currency::CNY {
                return Err(QueryFailed::new("payment_amount_unpayable", "UnionPay orders are in yuan"));
            }
            let m = unionpay::Merchant { mer_id: &trust.mer_id, cert_id, key };
            // The customer comes back to the intent's page, which shows the outcome.
            let front_url = format!("{public}/pay/status/{}", intent.id);
            let fields = unionpay::front_order(
                &m,
                &order,
                intent.created_at,
                intent.amount_minor,
                &notify_url,
                &front_url,
                intent.expires_at,
            );
            Ok(ProviderOrder::Form {
                action: format!("{}{}", api_base.trim_end_matches('/'), unionpay::FRONT_PATH),
                fields,
            })
        }
        _ => Err(unconfigured(format!("channel {} has no key (or WeChat Pay appid) to make orders with", ch.id))),
    }
}

/// Marks an intent's M-Pesa prompt as being pushed, until dropped.
struct PushGuard<'a> {
    app: &'a AppState,
    intent: PaymentIntentId,
}

impl<'a> PushGuard<'a> {
    fn take(app: &'a AppState, intent: PaymentIntentId) -> Result<Self, QueryFailed> {
        let mut pushing = app.payments.pushing.lock().unwrap_or_else(|e| e.into_inner());
        if !pushing.insert(intent) {
            return Err(QueryFailed::new("payment_order_exists", "a prompt is being sent for this intent now"));
        }
        Ok(Self { app, intent })
    }
}

impl Drop for PushGuard<'_> {
    fn drop(&mut self) {
        self.app.payments.pushing.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.intent);
    }
}

/// Posts `body` to Daraja's `path` with the channel's OAuth token: Daraja's answer, whatever its HTTP status
/// when it is Daraja's JSON (a query about a prompt still on the phone is answered 500 with its error code).
async fn mpesa_call(
    app: &AppState,
    channel: PaymentChannelId,
    m: &MpesaCredentials,
    path: &str,
    body: String,
    now: jiff::Timestamp,
) -> Result<Bytes, QueryFailed> {
    let token = mpesa_token(app, channel, m, now).await?;
    let response = app
        .payments
        .client
        .post(format!("{}{path}", m.api_base.trim_end_matches('/')))
        .bearer_auth(token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(QueryFailed::unavailable)?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        // A token revoked before its time: the next call buys a new one.
        app.payments.tokens.lock().unwrap_or_else(|e| e.into_inner()).remove(&channel);
    }
    let bytes = response.bytes().await.map_err(QueryFailed::unavailable)?;
    if !status.is_success() && !bytes.trim_ascii_start().starts_with(b"{") {
        return Err(QueryFailed::unavailable(format!("Daraja answered {status}")));
    }
    Ok(bytes)
}

/// The channel's Daraja OAuth token: the one kept while it lasts (less a minute), or a new one.
async fn mpesa_token(
    app: &AppState,
    channel: PaymentChannelId,
    m: &MpesaCredentials,
    now: jiff::Timestamp,
) -> Result<String, QueryFailed> {
    if let Some((token, until)) = app.payments.tokens.lock().unwrap_or_else(|e| e.into_inner()).get(&channel)
        && now < *until
    {
        return Ok(token.0.clone());
    }
    let response = app
        .payments
        .client
        .get(format!("{}{}", m.api_base.trim_end_matches('/'), mpesa::TOKEN_PATH))
        .basic_auth(&m.consumer_key.0, Some(&m.consumer_secret.0))
        .send()
        .await
        .map_err(QueryFailed::unavailable)?;
    if !response.status().is_success() {
        return Err(QueryFailed::unavailable(format!("Daraja's token endpoint answered {}", response.status())));
    }
    let (token, lasts) = mpesa::token_answer(&response.bytes().await.map_err(QueryFailed::unavailable)?)?;
    // `token_answer` bounds the lifetime to a day, so this cannot overflow.
    let until = now.saturating_add(lasts - jiff::SignedDuration::from_mins(1)).unwrap_or(now);
    app.payments.tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(channel, (Secret(token.clone()), until));
    Ok(token)
}

/// The intent's channel.
async fn channel_of(app: &AppState, intent: &voltvend_ops::PaymentIntent) -> Result<PaymentChannel, QueryFailed> {
    app.store
        .payment_channel(intent.channel_id)
        .await?
        .ok_or_else(|| QueryFailed::new("payment_channel_unknown", "the intent's channel is gone"))
}

/// The merchant's side of a WeChat Pay API call.
struct WechatSigner<'a> {
    mchid: &'a str,
    key: &'a voltvend_payments::keys::SigningKey,
    serial: &'a str,
    api_base: &'a str,
}

impl WechatSigner<'_> {
    /// Sends `method path` with `body`, signed as the merchant: the answer's headers and body (its signature is
    /// the caller's to check), or `None` for a 404. Anything else but a success is the provider's
    /// unavailability.
    async fn call(
        &self,
        app: &AppState,
        method: reqwest::Method,
        path: &str,
        body: &str,
        now: jiff::Timestamp,
    ) -> Result<Option<(HeaderMap, Bytes)>, QueryFailed> {
        let nonce = app.api.ids.uuid().simple().to_string().to_uppercase();
        let request = wechat::Request {
            mchid: self.mchid,
            serial_no: self.serial,
            method: method.as_str(),
            path,
            timestamp: now.as_second(),
            nonce: &nonce,
            body,
        };
        let mut builder = app
            .payments
            .client
            .request(method.clone(), format!("{}{path}", self.api_base.trim_end_matches('/')))
            .header(header::AUTHORIZATION, wechat::authorization(&request, self.key))
            .header(header::ACCEPT, "application/json");
        if !body.is_empty() {
            builder = builder.header(header::CONTENT_TYPE, "application/json").body(body.to_string());
        }
        let response = builder.send().await.map_err(QueryFailed::unavailable)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(QueryFailed::unavailable)?;
        match status {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some((headers, bytes))),
            s => Err(QueryFailed::unavailable(format!("WeChat Pay answered {s}"))),
        }
    }
}

/// Posts `params` as a form to a provider's gateway (Alipay's, UnionPay's): the answer's text (its signature is
/// the caller's to check).
async fn form_call(app: &AppState, url: &str, params: &[(String, String)]) -> Result<String, QueryFailed> {
    let response = app.payments.client.post(url).form(params).send().await.map_err(QueryFailed::unavailable)?;
    if !response.status().is_success() {
        return Err(QueryFailed::unavailable(format!("{url} answered {}", response.status())));
    }
    response.text().await.map_err(QueryFailed::unavailable)
}

fn wechat_headers(headers: &HeaderMap) -> wechat::Headers<'_> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    wechat::Headers {
        timestamp: h("wechatpay-timestamp"),
        nonce: h("wechatpay-nonce"),
        signature: h("wechatpay-signature"),
        serial: h("wechatpay-serial"),
        signature_type: headers.get("wechatpay-signature-type").and_then(|v| v.to_str().ok()),
    }
}
