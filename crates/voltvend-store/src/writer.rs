//! The group-commit writer.
//!
//! One task per database owns every write. Callers submit an [`Operation`] and wait; the task takes every
//! operation already queued (up to [`WriterConfig::batch_max`]), loads the state they touch once, applies
//! them in order through `voltvend-ops` (a refused operation is rolled back alone), writes what they changed
//! and commits once — and only then answers each caller. An operation is therefore acknowledged only once
//! durable, and throughput is one fsync per batch rather than one per sale.
//!
//! If the database refuses what one operation wrote (a constraint, a value it cannot store), the batch is
//! applied again with a savepoint per operation, so that only that operation fails. If the commit itself
//! fails, every caller in the batch gets the error and nothing was written; since operation ids are
//! idempotent, callers may simply retry.
//!
//! [`Writer::shutdown`] closes the queue and waits until every operation already submitted has been
//! committed or refused, so that a stopping server leaves no caller without an answer.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use voltvend_domain::Clock;
use voltvend_ops::{Applied, OpError, Operation, Renderer};

use crate::StoreError;

/// Bounds of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    /// Most operations waiting for the writer; further callers wait for room (back-pressure).
    pub queue_max: usize,
    /// Most operations committed in one transaction.
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
    /// Operations refused by the database (each alone, after the batch was retried with savepoints).
    pub database_refused: AtomicU64,
    /// Batches that had to be retried with a savepoint per operation.
    pub retried_batches: AtomicU64,
    pub failed_batches: AtomicU64,
    /// Where the writer's time goes, summed over the batches committed in one go (a batch retried operation by
    /// operation is not counted), in microseconds: taking the write lock and loading what the batch touches,
    /// applying its operations, writing what they changed, committing.
    pub load_us: AtomicU64,
    pub apply_us: AtomicU64,
    pub write_us: AtomicU64,
    pub commit_us: AtomicU64,
    /// The batches those times are summed over.
    pub timed_batches: AtomicU64,
}

/// The writer's batches and step times at one moment, to compare with a later one ([`WriterStats::steps`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterSteps {
    /// Batches committed, in one go or retried operation by operation.
    pub batches: u64,
    /// Batches committed in one go, whose steps are timed.
    pub timed: u64,
    /// Microseconds in load, apply, write and commit.
    pub us: [u64; 4],
}

impl WriterSteps {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &WriterSteps) -> WriterSteps {
        let mut us = self.us;
        for (now, then) in us.iter_mut().zip(earlier.us) {
            *now = now.saturating_sub(then);
        }
        WriterSteps {
            batches: self.batches.saturating_sub(earlier.batches),
            timed: self.timed.saturating_sub(earlier.timed),
            us,
        }
    }
}

impl WriterStats {
    /// The batches committed and the time spent in each step so far.
    pub fn steps(&self) -> WriterSteps {
        WriterSteps {
            batches: self.batches.load(Ordering::Relaxed),
            timed: self.timed_batches.load(Ordering::Relaxed),
            us: [&self.load_us, &self.apply_us, &self.write_us, &self.commit_us].map(|c| c.load(Ordering::Relaxed)),
        }
    }

    /// Adds one committed batch's step times.
    pub(crate) fn time_steps(&self, steps: [std::time::Duration; 4]) {
        let [load, apply, write, commit] = steps;
        self.timed_batches.fetch_add(1, Ordering::Relaxed);
        for (counter, d) in
            [(&self.load_us, load), (&self.apply_us, apply), (&self.write_us, write), (&self.commit_us, commit)]
        {
            counter.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }
}

/// One operation as submitted.
pub(crate) struct Job {
    pub(crate) op: Operation,
    pub(crate) render: Option<Arc<Renderer>>,
}

/// What a backend does with one batch: apply every operation in one durable transaction and say what became
/// of each one.
pub(crate) trait BatchSink: Send + Sync + 'static {
    fn apply(
        &self,
        batch: &[Job],
        at: Timestamp,
        stats: &WriterStats,
    ) -> impl Future<Output = Result<Vec<Result<Applied, OpError>>, StoreError>> + Send;
}

/// The answer to a submission: its place in the writer's order (the order operations were applied in,
/// counted from 1 per process) and its result.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub position: Option<u64>,
    pub result: Result<Applied, StoreError>,
}

type Reply = oneshot::Sender<Submitted>;

#[derive(Debug)]
pub(crate) struct Writer {
    tx: Mutex<Option<mpsc::Sender<(Job, Reply)>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<WriterStats>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("op", &self.op.id).finish()
    }
}

impl Writer {
    pub(crate) fn spawn<S: BatchSink>(sink: S, clock: Arc<dyn Clock>, config: WriterConfig) -> Self {
        let (tx, rx) = mpsc::channel(config.queue_max.max(1));
        let stats = Arc::new(WriterStats::default());
        let task = tokio::spawn(run(sink, clock, config, rx, stats.clone()));
        Self { tx: Mutex::new(Some(tx)), task: Mutex::new(Some(task)), stats }
    }

    /// A writer that refuses everything (a read-only store).
    pub(crate) fn stopped() -> Self {
        Self { tx: Mutex::new(None), task: Mutex::new(None), stats: Arc::new(WriterStats::default()) }
    }

    pub(crate) async fn submit(&self, op: Operation, render: Option<Arc<Renderer>>) -> Submitted {
        let stopped = || Submitted { position: None, result: Err(StoreError::WriterStopped) };
        let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return stopped() };
        let (reply, answer) = oneshot::channel();
        if tx.send((Job { op, render }, reply)).await.is_err() {
            return stopped();
        }
        drop(tx);
        answer.await.unwrap_or_else(|_| stopped())
    }

    /// Closes the queue and waits until every operation submitted before has been answered.
    pub(crate) async fn shutdown(&self) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "the writer task ended abnormally");
        }
    }

    pub(crate) fn stats(&self) -> Arc<WriterStats> {
        self.stats.clone()
    }
}

async fn run<S: BatchSink>(
    sink: S,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
    mut rx: mpsc::Receiver<(Job, Reply)>,
    stats: Arc<WriterStats>,
) {
    let batch_max = config.batch_max.max(1);
    let mut batch = Vec::with_capacity(batch_max);
    let mut position = 0_u64;
    // recv_many waits for at least one operation, then takes what is already queued, up to the limit; it
    // returns 0 only once the queue is closed and empty, which is how a shutdown drains.
    while rx.recv_many(&mut batch, batch_max).await > 0 {
        let (jobs, replies): (Vec<Job>, Vec<Reply>) = batch.drain(..).unzip();
        let first = position + 1;
        position += jobs.len() as u64;
        match sink.apply(&jobs, clock.now(), &stats).await {
            Ok(results) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                for (i, (result, reply)) in results.into_iter().zip(replies).enumerate() {
                    let counter = match &result {
                        Ok(Applied::Committed { .. }) => &stats.committed,
                        Ok(Applied::Replayed { .. }) => &stats.replayed,
                        Err(OpError::Database(_)) => &stats.database_refused,
                        Err(_) => &stats.refused,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    // A caller that gave up waiting is not an error: its operation is committed regardless.
                    let _ = reply
                        .send(Submitted { position: Some(first + i as u64), result: result.map_err(StoreError::from) });
                }
            }
            Err(e) => {
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, operations = jobs.len(), "batch failed; nothing was committed");
                for (i, reply) in replies.into_iter().enumerate() {
                    let _ = reply.send(Submitted { position: Some(first + i as u64), result: Err(e.clone()) });
                }
            }
        }
    }
}
