//! Starting the store and the HTTP server, and stopping them cleanly.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use voltvend_domain::Clock;
use voltvend_ops::audit;
use voltvend_store::{CheckScope, InstanceLock, Store, StoreError};

use crate::http::{AppState, Metrics, router};
use crate::settings::Settings;

/// Whether a command may create the database it is pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `migrate`, `serve` and `demo`: create the database if it is not there and bring its schema up to date.
    Create,
    /// Every other command: the database must exist and hold a current Voltvend schema, so that a typo in a
    /// URL fails loudly instead of creating an empty database and reporting success on it.
    Existing,
}

/// Audit records the start-up check verifies at the end of the chain.
pub const STARTUP_AUDIT_TAIL: i64 = 10_000;

/// Opens the configured store. With [`Access::Create`] it also migrates (when `database.auto_migrate`).
pub async fn open_store(settings: &Settings, clock: Arc<dyn Clock>, access: Access) -> anyhow::Result<Arc<dyn Store>> {
    let mut options = settings.open_options();
    let secrets = crate::keys::load(settings)?;
    options.context = Arc::new(voltvend_ops::Context::new(secrets));
    if access == Access::Create {
        options = options.creating();
    }
    let store = voltvend_store::open(&options, clock).await?;
    let ready = async {
        if access == Access::Create && settings.database.auto_migrate {
            store.migrate().await?;
        } else if !store.is_migrated().await? {
            return Err(StoreError::NoDatabase(format!(
                "{} holds no current Voltvend schema (run `voltvend migrate`, and check the URL)",
                voltvend_store::redact_url(&settings.database.url)
            )));
        }
        Ok(())
    };
    if let Err(e) = ready.await {
        store.close().await;
        return Err(e.into());
    }
    Ok(store)
}

/// Claims the database for a command that writes, or says why it cannot.
pub async fn lock_for_writing(store: &dyn Store) -> anyhow::Result<InstanceLock> {
    match store.lock_instance().await {
        Ok(lock) => Ok(lock),
        Err(StoreError::Locked(what)) => bail!(
            "the database is in use by a running Voltvend server ({what}): stop the server first, or make the change \
             through it"
        ),
        Err(e) => Err(e.into()),
    }
}

/// Serves until `shutdown` completes. Holds the database's instance lock for the whole time, so a second
/// server, or a restore, cannot run against the same database. Refuses to start on a database whose
/// invariants fail the bounded start-up check; `on_ready` is called once both passed, just before serving.
/// On shutdown the writer is drained: every operation already submitted is committed or refused before the
/// process exits.
pub async fn run(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce() + Send,
) -> anyhow::Result<()> {
    let lock = match lock_for_writing(store.as_ref()).await {
        Ok(lock) => lock,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let result = serve_locked(settings, store.clone(), clock, listener, shutdown, on_ready).await;
    store.shutdown().await;
    match store.audit_head().await {
        Ok(head) => tracing::info!(audit_seq = head.seq, audit_head = %audit::hex(&head.hash), "stopped"),
        Err(e) => tracing::warn!(error = %e, "stopped; could not read the audit head"),
    }
    lock.release().await;
    store.close().await;
    result
}

async fn serve_locked(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce() + Send,
) -> anyhow::Result<()> {
    let report = store.check(CheckScope::Bounded { audit_tail: STARTUP_AUDIT_TAIL }).await?;
    if !report.is_ok() {
        bail!(
            "the start-up check found {} problem(s), first: {}; run `voltvend check` for the full report",
            report.problems.len(),
            report.problems.first().map_or("", String::as_str)
        );
    }
    let head = store.audit_head().await?;
    // The audit head in the log is a copy of it outside the database (see `voltvend audit verify`).
    tracing::info!(audit_seq = head.seq, audit_head = %audit::hex(&head.hash), "start-up check passed");
    let (headend, mut headend_tasks) = start_headend(settings, store.clone(), clock.clone()).await?;
    let backups = match settings.backup.policy()? {
        Some(policy) => {
            tracing::info!(dir = %policy.dir.display(), every_h = policy.every.as_hours(), "scheduled backups");
            let scheduler = Arc::new(crate::backups::Scheduler {
                store: store.clone(),
                source_url: settings.database.url.clone(),
                policy,
                clock: clock.clone(),
                senders: notification_senders(settings, clock.clone())?,
                running: tokio::sync::Mutex::new(()),
                alarms: std::sync::atomic::AtomicU64::new(0),
            });
            headend_tasks.push(scheduler.clone().start());
            Some(scheduler)
        }
        None => None,
    };
    // The head end delivers the notification outbox when it runs; without it, backup alarms still go out.
    if headend.is_none() && backups.is_some() {
        let senders = notification_senders(settings, clock.clone())?;
        if !senders.is_empty() {
            let notifier = voltvend_headend::notify::Notifier::new(store.clone(), senders);
            // A sender new to the database starts at the end of the outbox: placed there now, before a backup
            // can fail, so that the first alarm is not passed over.
            notifier.deliver().await?;
            headend_tasks.push(notifier.start(std::time::Duration::from_secs(2)));
        }
    }
    let state = AppState {
        metrics: Arc::new(Metrics::new(store.writer_stats())),
        started_at: clock.now(),
        store: store.clone(),
        api: Arc::new(api_state(settings, clock.clone())?),
        escpos_ascii: settings.receipts.escpos_encoding == "ascii",
        printers: Arc::new(settings.receipts.printers.clone()),
        cards: Arc::new(crate::cards::CardReaders::new(&settings.cards.readers, settings.cards.key_no)),
        body_max_bytes: settings.server.request_body_max_bytes,
        headend,
        backups,
        payments: Arc::new(settings.payments.config(&settings.server.public_url)),
        clock,
    };
    // Status queries for open intents whose notification has not come (a provider that never calls back).
    if state.payments.credentials_dir.is_some() && settings.payments.query_every_seconds > 0 {
        let app = state.clone();
        let every = std::time::Duration::from_secs(settings.payments.query_every_seconds);
        headend_tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                crate::payments::sweep(&app, jiff::SignedDuration::from_mins(1), 200).await;
            }
        }));
    }
    // 催缴 and 欠费停电 by each schedule's rules (docs/bills.md), as of the server's clock.
    if settings.fees.dun_every_minutes > 0 {
        let (store, clock) = (state.store.clone(), state.clock.clone());
        let every = std::time::Duration::from_secs(settings.fees.dun_every_minutes.saturating_mul(60));
        headend_tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = crate::billing::sweep(store.as_ref(), clock.now()).await {
                    tracing::warn!("fee months not swept: {e}");
                }
            }
        }));
    }
    let app = router(state, settings.server.request_body_max_bytes);
    on_ready();
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    // The head end stops before the writer drains: an attempt in flight is recorded or, cut short, retried
    // after the next start (its command is still pending).
    for t in headend_tasks {
        t.abort();
    }
    served.context("HTTP server failed")
}

/// The notification senders the configuration names (the log, a signed webhook).
pub fn notification_senders(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Vec<Arc<dyn voltvend_headend::notify::Sender>>> {
    let h = &settings.headend;
    let mut senders: Vec<Arc<dyn voltvend_headend::notify::Sender>> = Vec::new();
    if h.notify_log {
        senders.push(Arc::new(voltvend_headend::notify::LogSender));
    }
    if !h.notify_webhook_url.is_empty() {
        let secret = std::fs::read(&h.notify_webhook_secret_file)
            .with_context(|| format!("cannot read the webhook secret file {}", h.notify_webhook_secret_file))?;
        let secret = secret.trim_ascii().to_vec();
        let webhook = voltvend_headend::notify::WebhookSender::new(&h.notify_webhook_url, secret, clock)
            .map_err(|e| anyhow::anyhow!("bad configuration: headend.notify_webhook_url: {e}"))?;
        senders.push(Arc::new(webhook));
    }
    Ok(senders)
}

/// The API's state: sessions and their settings, the master keys (for sealing imports), the receipt font.
pub fn api_state(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<crate::api::ApiState> {
    let ids = crate::clock::IdGenerator::new(clock);
    // A login of an unknown username is checked against this, so that it costs what a real one does.
    let dummy_hash = crate::passwords::hash(&crate::passwords::generate(&ids), &ids)?;
    let auth = crate::api::auth::AuthState::new(
        jiff::SignedDuration::from_mins(i64::from(settings.server.session_idle_minutes)),
        jiff::SignedDuration::from_hours(i64::from(settings.server.session_hours)),
        settings.server.public_url.starts_with("https://"),
        dummy_hash,
    );
    let font = if settings.receipts.font_file.is_empty() {
        voltvend_receipt::fonts::find_cjk_font()
    } else {
        let path = std::path::Path::new(&settings.receipts.font_file);
        let index = match settings.receipts.font_index {
            Some(i) => i,
            None => {
                let bytes = std::fs::read(path).with_context(|| format!("receipts.font_file {}", path.display()))?;
                voltvend_receipt::fonts::best_cjk_face(&bytes).unwrap_or(0)
            }
        };
        Some(
            voltvend_receipt::FontData::from_file(path, index)
                .map_err(|e| anyhow::anyhow!("receipts.font_file {}: {e}", path.display()))?,
        )
    };
    match &font {
        Some(f) => tracing::info!(font = f.family_name(), "PDF receipts embed this font"),
        None => {
            tracing::warn!("no CJK font found: PDF receipts with Chinese text are refused (install fonts-noto-cjk)")
        }
    }
    let secrets = crate::keys::load(settings)?;
    if secrets.current().is_none() {
        tracing::warn!("no master key is configured: STS and OpenPAYGO sales and key imports are refused");
    }
    Ok(crate::api::ApiState::new(ids, auth, secrets, font))
}

pub async fn bind(settings: &Settings) -> anyhow::Result<TcpListener> {
    let addr = settings.listen_addr()?;
    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (pass --listen HOST:PORT)"))
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled, so a signal that arrives after the caller announced it is ready is never lost (it would
/// otherwise kill the process before the writer drained).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut i), Ok(mut t)) => {
                    tokio::select! {
                        _ = i.recv() => {}
                        _ = t.recv() => {}
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for signals; stop the server another way");
                    std::future::pending::<()>().await;
                }
            }
            tracing::info!("shutting down");
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            tracing::info!("shutting down");
        }
    }
}

/// The head end, with its schedule, command loop and dial-in listener running, when it is enabled.
pub async fn start_headend(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Option<voltvend_headend::HeadEnd>, Vec<tokio::task::JoinHandle<()>>)> {
    let h = &settings.headend;
    if !h.enabled {
        return Ok((None, Vec::new()));
    }
    let config = voltvend_headend::Config {
        poll_interval: std::time::Duration::from_secs(h.poll_interval_s),
        request_timeout: std::time::Duration::from_millis(h.request_timeout_ms),
        reads_max: h.reads_max,
        password: crate::settings::hex4("headend.dlt645_password", &h.dlt645_password)?,
        operator_code: crate::settings::hex4("headend.dlt645_operator_code", &h.dlt645_operator_code)?,
        max_power_w: (h.max_power_kw > 0).then(|| i64::try_from(h.max_power_kw * 1_000).unwrap_or(i64::MAX)),
        read_max_demand: h.read_max_demand,
        poll_groups: h.poll_groups.iter().enumerate().map(|(i, g)| g.to_group(i)).collect::<anyhow::Result<_>>()?,
        ..voltvend_headend::Config::default()
    };
    let dial_in = if h.dial_in_listen.is_empty() {
        None
    } else {
        let listener = TcpListener::bind(&h.dial_in_listen)
            .await
            .with_context(|| format!("cannot listen for dial-in meters on {}", h.dial_in_listen))?;
        tracing::info!(listen = %h.dial_in_listen, "4G meters dial in here");
        Some(listener)
    };
    let seed: u64 = rand::random();
    let headend = voltvend_headend::HeadEnd::new(store.clone(), clock.clone(), config, seed);
    let mut tasks = headend.start(dial_in);
    if let Some((host, port)) = crate::settings::broker(&h.mqtt_broker)? {
        // A client id of its own per process: a broker drops the older of two connections with one id.
        let client_id = format!("voltvend-headend-{:08x}", seed & 0xFFFF_FFFF);
        tracing::info!(broker = %h.mqtt_broker, "meter telemetry is taken from this MQTT broker");
        tasks.push(headend.start_telemetry(&host, port, &client_id));
    }
    let senders = notification_senders(settings, clock.clone())?;
    if !senders.is_empty() {
        let notifier = voltvend_headend::notify::Notifier::new(store.clone(), senders);
        // Senders new to the database placed at the end of the outbox before anything (a backup) can add to it.
        notifier.deliver().await?;
        tasks.push(notifier.start(std::time::Duration::from_secs(2)));
    }
    Ok((Some(headend), tasks))
}
