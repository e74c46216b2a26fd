//! Starting the store and the HTTP server, and stopping them cleanly.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use voltvend_domain::Clock;
use voltvend_store::Store;

use crate::http::{AppState, Metrics, router};
use crate::settings::Settings;

/// Opens the configured store and brings its schema up to date (or checks it is, if `auto_migrate` is off).
pub async fn open_store(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<dyn Store>> {
    let store = voltvend_store::open(&settings.open_options(), clock).await?;
    if settings.database.auto_migrate {
        store.migrate().await?;
    } else if !store.is_migrated().await? {
        anyhow::bail!("the database schema is not current; run `voltvend migrate` first");
    }
    Ok(store)
}

/// Serves until `shutdown` completes. Holds the database's instance lock for the whole time, so a second
/// server, or a restore, cannot run against the same database.
pub async fn run(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let lock = store.lock_instance().await?;
    let state = AppState {
        metrics: Arc::new(Metrics::new(store.writer_stats())),
        started_at: clock.now(),
        store: store.clone(),
        clock,
    };
    let app = router(state, settings.server.request_body_max_bytes);
    let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await.context("HTTP server failed");
    lock.release().await;
    store.close().await;
    tracing::info!("stopped");
    result
}

pub async fn bind(settings: &Settings) -> anyhow::Result<TcpListener> {
    let addr = settings.listen_addr()?;
    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (pass --listen HOST:PORT)"))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
