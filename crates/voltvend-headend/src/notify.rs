//! The notification outbox's delivery: what the operations spine recorded for customers — low-balance alarms
//! (levels 1 and 2 of the meter's tariff), the supply tripped for lack of credit, the supply restored — handed
//! to pluggable senders.
//!
//! The outbox is append-only and ordered; each sender keeps its own position in it (in the database's `meta`,
//! key `notify.position.NAME`), so a sender that fails holds back only itself, and after a restart delivery
//! resumes where it stopped. A sender new to a database starts at the end of the outbox (what happens from
//! then on, not the history). Delivery is at least once: a notification sent just before a crash is sent again,
//! with the same `id`, by which receivers recognise it.
//!
//! Two senders exist: [`LogSender`] (a log line per notification) and [`WebhookSender`] (an HTTP POST of the
//! notification as JSON, signed with HMAC-SHA256 over the timestamp and body: header
//! `Voltvend-Signature: t=UNIX_SECONDS,v1=HEX`, as docs/meters.md describes).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use voltvend_domain::{Clock, Money, Side};
use voltvend_ops::{OutboxKind, OutboxRow};
use voltvend_store::{Store, StoreError};

/// One notification, as senders get it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notification {
    /// `OPERATION_ID:INDEX`: the same for every delivery of the same notification.
    pub id: String,
    pub event: &'static str,
    pub at: String,
    pub meter_id: String,
    pub meter_address: String,
    pub account_id: Option<String>,
    pub customer_id: Option<String>,
    /// The wallet's balance when the notification is sent, e.g. "19.40".
    pub balance: Option<String>,
    pub currency: Option<String>,
    /// For a system alarm (`backup_failed`): what went wrong; for a bill or a reminder (`bill_issued`,
    /// `fees_overdue`): its month, amounts (minor units) and due date, as `key=value` pairs. Other
    /// notifications leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Notification {
    /// A system alarm (`backup_failed`): about no meter, with what went wrong.
    pub fn system(id: String, event: &'static str, at: jiff::Timestamp, detail: &str) -> Self {
        Self {
            id,
            event,
            at: at.to_string(),
            meter_id: String::new(),
            meter_address: String::new(),
            account_id: None,
            customer_id: None,
            balance: None,
            currency: None,
            detail: Some(detail.to_string()),
        }
    }
}

pub type SendResult<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Somewhere notifications go. A sender answers `Err` to have the notification tried again later.
pub trait Sender: Send + Sync {
    /// A short stable name: it keys the sender's position in the outbox.
    fn name(&self) -> &str;
    fn send<'a>(&'a self, n: &'a Notification) -> SendResult<'a>;
}

/// Writes each notification to the log (target `voltvend::notify`).
#[derive(Debug, Default)]
pub struct LogSender;

impl Sender for LogSender {
    fn name(&self) -> &str {
        "log"
    }

    fn send<'a>(&'a self, n: &'a Notification) -> SendResult<'a> {
        Box::pin(async move {
            tracing::info!(target: "voltvend::notify", id = %n.id, event = n.event, meter = %n.meter_address,
                balance = n.balance.as_deref().unwrap_or("-"), "notification");
            Ok(())
        })
    }
}

/// Posts each notification as JSON to a URL (`http://`), signed with a shared secret.
pub struct WebhookSender {
    url: hyper::Uri,
    secret: Vec<u8>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
}

impl std::fmt::Debug for WebhookSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret is never shown.
        f.debug_struct("WebhookSender").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The signature header's value for `body` sent at `t` (Unix seconds): HMAC-SHA256 over `"{t}.{body}"`.
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> Result<String, String> {
    // HMAC takes a key of any length; the error exists for fixed-length MACs only.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret).map_err(|e| e.to_string())?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("t={t},v1={hex}"))
}

impl WebhookSender {
    /// A sender to `url` (plain `http://`: put a TLS proxy in front for the internet) with `secret`.
    pub fn new(url: &str, secret: Vec<u8>, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("webhook URL {url:?}: {e}"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(format!("webhook URL {url:?}: only http://HOST[:PORT]/PATH is supported"));
        }
        if secret.len() < 16 {
            return Err("the webhook secret is at least 16 bytes".into());
        }
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        Ok(Self { url: uri, secret, clock, timeout: Duration::from_secs(10), client })
    }
}

impl Sender for WebhookSender {
    fn name(&self) -> &str {
        "webhook"
    }

    fn send<'a>(&'a self, n: &'a Notification) -> SendResult<'a> {
        Box::pin(async move {
            let body = serde_json::to_vec(n).map_err(|e| e.to_string())?;
            let t = self.clock.now().as_second();
            let request = hyper::Request::post(self.url.clone())
                .header("content-type", "application/json")
                .header("voltvend-signature", signature(&self.secret, t, &body)?)
                .header("voltvend-event-id", &n.id)
                .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                .map_err(|e| e.to_string())?;
            let response = tokio::time::timeout(self.timeout, self.client.request(request))
                .await
                .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))?
                .map_err(|e| e.to_string())?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("the webhook answered {}", response.status()))
            }
        })
    }
}

/// Delivers the outbox to its senders.
pub struct Notifier {
    store: Arc<dyn Store>,
    senders: Vec<Arc<dyn Sender>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.senders.iter().map(|s| s.name()).collect();
        f.debug_struct("Notifier").field("senders", &names).finish_non_exhaustive()
    }
}

fn event(kind: OutboxKind) -> &'static str {
    match kind {
        OutboxKind::RelayTrip => "supply_tripped",
        OutboxKind::RelayClose => "supply_restored",
        OutboxKind::LowBalance1 => "low_balance_1",
        OutboxKind::LowBalance2 => "low_balance_2",
        OutboxKind::EmergencyCredit => "emergency_credit_in_use",
        OutboxKind::BackupFailed => "backup_failed",
        OutboxKind::BillIssued => "bill_issued",
        OutboxKind::FeesOverdue => "fees_overdue",
    }
}

impl Notifier {
    /// Rows read from the outbox at once.
    pub const BATCH: u32 = 256;

    pub fn new(store: Arc<dyn Store>, senders: Vec<Arc<dyn Sender>>) -> Self {
        Self { store, senders }
    }

    fn key(sender: &dyn Sender) -> String {
        format!("notify.position.{}", sender.name())
    }

    async fn notification(&self, row: &OutboxRow) -> Result<Notification, StoreError> {
        let id = format!("{}:{}", row.operation_id, row.idx);
        let Some(meter_id) = row.meter_id else {
            return Ok(Notification::system(id, event(row.kind), row.at, &row.detail));
        };
        let meter = self.store.meter(meter_id).await?;
        let (mut account_id, mut customer_id, mut balance, mut currency) = (None, None, None, None);
        if let Some(a) = meter.meter.account_id {
            let account = self.store.account(a).await?;
            let (_, b) = self.store.ledger_account(account.wallet).await?;
            let money = Money::from_minor(b.normal(Side::Credit), account.account.currency);
            account_id = Some(a.to_string());
            customer_id = Some(account.account.customer_id.to_string());
            balance = Some(money.to_decimal_string());
            currency = Some(account.account.currency.code().to_string());
        }
        Ok(Notification {
            id,
            event: event(row.kind),
            at: row.at.to_string(),
            meter_id: meter_id.to_string(),
            meter_address: meter.meter.address,
            account_id,
            customer_id,
            balance,
            currency,
            detail: (!row.detail.is_empty()).then(|| row.detail.clone()),
        })
    }

    /// Delivers what each sender has not had yet, in order; a sender that fails stops at that notification
    /// until the next pass. Returns how many notifications were delivered (over all senders).
    pub async fn deliver(&self) -> Result<usize, StoreError> {
        let mut delivered = 0;
        for sender in &self.senders {
            let key = Self::key(sender.as_ref());
            let Some(mut position) = self.store.meta(&key).await?.and_then(|v| v.parse::<i64>().ok()) else {
                // A sender new to this database starts at the end of the outbox: it is told what happens from
                // now on, not the whole history.
                let mut end = 0;
                loop {
                    let rows = self.store.outbox(end, Self::BATCH).await?;
                    match rows.last() {
                        Some((seq, _)) => end = *seq,
                        None => break,
                    }
                }
                self.store.set_meta(&key, &end.to_string()).await?;
                continue;
            };
            'pages: loop {
                let rows = self.store.outbox(position, Self::BATCH).await?;
                if rows.is_empty() {
                    break;
                }
                for (seq, row) in rows {
                    let n = self.notification(&row).await?;
                    if let Err(e) = sender.send(&n).await {
                        tracing::warn!(sender = sender.name(), id = %n.id, error = %e, "notification not delivered; tried again later");
                        break 'pages;
                    }
                    position = seq;
                    self.store.set_meta(&key, &position.to_string()).await?;
                    delivered += 1;
                }
            }
        }
        Ok(delivered)
    }

    /// Delivers every `every` until the task is aborted.
    pub fn start(self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.deliver().await {
                    tracing::warn!(error = %e, "notification delivery failed");
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}
