//! The HTTP surface: the JSON API under `/api/v1` (see [`crate::api`]), the web UI under `/ui` (see
//! [`crate::ui`]), a landing page, the receipt
//! stylesheet, `/healthz` and Prometheus `/metrics`. Every response carries a strict Content-Security-Policy
//! (nothing from elsewhere, no inline script or style) and the usual hardening headers.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jiff::Timestamp;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde_json::json;
use voltvend_domain::Clock;
use voltvend_store::{Store, WriterStats};

/// Shared state of all handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub started_at: Timestamp,
    pub api: Arc<crate::api::ApiState>,
    /// ESC/POS receipts in ASCII rather than GB18030.
    pub escpos_ascii: bool,
    /// Network receipt printers by vending point id (or `default`), as HOST:PORT.
    pub printers: Arc<std::collections::BTreeMap<String, String>>,
    /// IC card readers by vending point (or `default`).
    pub cards: Arc<crate::cards::CardReaders>,
    /// The largest request body accepted.
    pub body_max_bytes: usize,
    /// The head end, when this server runs one.
    pub headend: Option<voltvend_headend::HeadEnd>,
    /// Scheduled backups, when configured.
    pub backups: Option<Arc<crate::backups::Scheduler>>,
    /// Online payment channels' credentials.
    pub payments: Arc<crate::payments::PaymentConfig>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// The Prometheus registry and the metrics the server updates itself.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
}

impl Metrics {
    pub fn new(writer: Arc<WriterStats>) -> Self {
        let mut registry = Registry::with_prefix("voltvend");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by route and status", requests.clone());
        registry.register_collector(Box::new(WriterCollector(writer)));
        Self { registry, requests }
    }

    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Exposes the ledger writer's counters at scrape time.
#[derive(Debug)]
struct WriterCollector(Arc<WriterStats>);

impl prometheus_client::collector::Collector for WriterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        for (name, help, value) in [
            ("ledger_batches", "Group commits of the writer", &s.batches),
            ("operations_committed", "Operations committed", &s.committed),
            ("operations_replayed", "Retries answered with the operation's saved answer", &s.replayed),
            ("operations_refused", "Operations refused by a business rule", &s.refused),
            (
                "operations_database_refused",
                "Operations the database refused (alone in their batch)",
                &s.database_refused,
            ),
            ("ledger_batches_retried", "Batches applied again with a savepoint per operation", &s.retried_batches),
            ("ledger_batches_failed", "Group commits that failed (nothing written)", &s.failed_batches),
            ("ledger_writer_load_microseconds", "Writer time taking the lock and loading its batches", &s.load_us),
            ("ledger_writer_apply_microseconds", "Writer time applying its batches' operations", &s.apply_us),
            ("ledger_writer_write_microseconds", "Writer time writing what its batches changed", &s.write_us),
            ("ledger_writer_commit_microseconds", "Writer time committing its batches", &s.commit_us),
        ] {
            let counter = ConstCounter::new(value.load(Ordering::Relaxed));
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}

pub fn router(state: AppState, body_max_bytes: usize) -> Router {
    // The web UI calls the API in-process, through the same router and layers as any client (docs/adr/0004).
    let api_for_ui = crate::api::router(&state).with_state(state.clone());
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/pay/notify/{channel}", axum::routing::post(crate::payments::notify))
        .route(crate::api::receipts::CSS_PATH, get(receipt_css))
        .merge(crate::api::router(&state))
        .merge(crate::ui::router(api_for_ui))
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(body_max_bytes))
        .with_state(state)
}

/// A strict policy: everything from this server only, no inline script or style, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy for a page whose form posts to `action`'s origin as well as ours (a provider's payment page);
/// `None` unless `action` is an http(s) URL.
pub fn csp_posting_to(action: &str) -> Option<header::HeaderValue> {
    let url = reqwest::Url::parse(action).ok().filter(|u| matches!(u.scheme(), "https" | "http"))?;
    let origin = url.origin().ascii_serialization();
    header::HeaderValue::from_str(&CSP.replace("form-action 'self'", &format!("form-action 'self' {origin}"))).ok()
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A page may widen only where its forms post to (see `csp_posting_to`); everything else is this policy.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static(CSP));
    }
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    response
}

async fn receipt_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], voltvend_receipt::RECEIPT_CSS).into_response()
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    // The matched route pattern, not the raw path, keeps label cardinality bounded.
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let response = next.run(request).await;
    let labels = RequestLabels { method, route, status: response.status().as_u16() };
    state.metrics.requests.get_or_create(&labels).inc();
    response
}

async fn healthz(State(state): State<AppState>) -> Response {
    let uptime_s = (state.clock.now() - state.started_at).get_seconds();
    match state.store.ping().await {
        Ok(()) => Json(json!({
            "status": "ok",
            "database": state.store.backend().to_string(),
            "uptime_s": uptime_s,
            "version": env!("CARGO_PKG_VERSION"),
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "error": e.to_string() })))
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render() {
        Ok(mut body) => {
            // The head end's figures go before the OpenMetrics terminator.
            if let Some(h) = &state.headend {
                let end = body.rfind("# EOF").unwrap_or(body.len());
                body.insert_str(end, &h.metrics_text());
            }
            ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
                .into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The landing page: what this is and where to go. It shows no data (nobody is logged in here).
async fn index(State(state): State<AppState>) -> Response {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Voltvend</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head><body>\
         <h1>Voltvend</h1><p>Prepaid electricity and water vending. Server {version} on {backend}.</p>\
         <ul><li>JSON API: <code>/api/v1</code>, described by <a href=\"/api/v1/openapi.json\">its OpenAPI document</a>; \
         log in with <code>POST /api/v1/session</code>.</li>\
         <li><a href=\"/healthz\">/healthz</a> and <a href=\"/metrics\">/metrics</a>.</li></ul>\
         <p>Operators: <a href=\"/ui/\">the web UI</a> (中文 / English).</p></body></html>",
        version = env!("CARGO_PKG_VERSION"),
        backend = state.store.backend(),
    ))
    .into_response()
}
