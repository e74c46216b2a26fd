//! The group-commit ledger writer.
//!
//! One task per database owns all ledger writes. Callers send a [`TransferRequest`] and wait; the task takes
//! every request already queued (up to [`WriterConfig::batch_max`]), applies them in one transaction through
//! the domain's [`voltvend_domain::LedgerBook`], commits once, and only then answers each caller. A sale is
//! therefore acknowledged only once durable, and throughput is one fsync per batch rather than per sale.
//! If the commit fails, every caller in the batch gets the error and nothing was written; since transfer ids
//! are idempotent, callers may simply retry.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use voltvend_domain::{Clock, LedgerError, PostOutcome, TransferRequest};

use crate::StoreError;

/// Bounds of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    /// Most requests waiting for the writer; further callers wait for room (back-pressure).
    pub queue_max: usize,
    /// Most requests committed in one transaction.
    pub batch_max: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self { queue_max: 16_384, batch_max: 2_048 }
    }
}

/// Counters exported as metrics.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub committed: AtomicU64,
    pub replayed: AtomicU64,
    pub refused: AtomicU64,
    pub failed_batches: AtomicU64,
}

/// What a backend does with one batch: apply all requests in one durable transaction.
pub(crate) trait BatchSink: Send + Sync + 'static {
    fn apply(
        &self,
        batch: Vec<TransferRequest>,
        at: Timestamp,
    ) -> impl Future<Output = Result<Vec<Result<PostOutcome, LedgerError>>, StoreError>> + Send;
}

type Reply = oneshot::Sender<Result<PostOutcome, StoreError>>;

#[derive(Debug, Clone)]
pub(crate) struct LedgerWriter {
    tx: mpsc::Sender<(TransferRequest, Reply)>,
    stats: Arc<WriterStats>,
}

impl LedgerWriter {
    pub(crate) fn spawn<S: BatchSink>(sink: S, clock: Arc<dyn Clock>, config: WriterConfig) -> Self {
        let (tx, rx) = mpsc::channel(config.queue_max.max(1));
        let stats = Arc::new(WriterStats::default());
        tokio::spawn(run(sink, clock, config, rx, stats.clone()));
        Self { tx, stats }
    }

    pub(crate) async fn post(&self, request: TransferRequest) -> Result<PostOutcome, StoreError> {
        // Requests that can never succeed are refused here, without queueing.
        request.validate()?;
        let (reply, answer) = oneshot::channel();
        self.tx.send((request, reply)).await.map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    pub(crate) fn stats(&self) -> Arc<WriterStats> {
        self.stats.clone()
    }
}

async fn run<S: BatchSink>(
    sink: S,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
    mut rx: mpsc::Receiver<(TransferRequest, Reply)>,
    stats: Arc<WriterStats>,
) {
    let batch_max = config.batch_max.max(1);
    let mut batch = Vec::with_capacity(batch_max);
    // recv_many waits for at least one request, then takes what is already queued, up to the limit.
    while rx.recv_many(&mut batch, batch_max).await > 0 {
        let (requests, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        match sink.apply(requests, clock.now()).await {
            Ok(results) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                for (result, reply) in results.into_iter().zip(replies) {
                    let counter = match &result {
                        Ok(PostOutcome::Committed(_)) => &stats.committed,
                        Ok(PostOutcome::Replayed(_)) => &stats.replayed,
                        Err(_) => &stats.refused,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    // A caller that gave up waiting is not an error: its transfer is committed regardless.
                    let _ = reply.send(result.map_err(StoreError::from));
                }
            }
            Err(e) => {
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "ledger batch failed; nothing was committed");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
