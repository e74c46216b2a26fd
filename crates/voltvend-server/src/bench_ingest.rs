//! `voltvend bench ingest`: readings priced by the tariff engine (the shipped TOU and annual-block tariff) and
//! debited from the wallets, per second, through the operations spine and its group-commit writer — each
//! operation a day of quarter-hour readings of one meter, as the head end hands them over — beside the
//! baseline of a raw insert of as many rows of the same shape into the same database (in commits of the same
//! number of rows). The ratio is what to track; the machine is shared and noisy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use jiff::SignedDuration;
use voltvend_domain::Clock;
use voltvend_domain::tariff::pricing::{Reading, Registers};
use voltvend_ops::{Actor, Applied, ApplyReadings, Command, Operation, Outcome, ReadingLimits};
use voltvend_store::{CheckScope, Store};

use crate::clock::IdGenerator;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Readings in the measured phase.
    #[arg(long, default_value_t = 1_000_000)]
    readings: usize,
    /// Readings per operation (96: a day of quarter hours).
    #[arg(long, default_value_t = 96)]
    per_operation: usize,
    /// Concurrent submitters (each owns its meters, so each meter's readings arrive in order).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Meters (and accounts) the readings are of.
    #[arg(long, default_value_t = 1_024)]
    meters: usize,
    #[command(flatten)]
    out: crate::bench::JsonOut,
}

pub async fn run(settings: &Settings, clock: Arc<dyn Clock>, args: IngestArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 || args.meters == 0 || args.per_operation == 0 || args.readings == 0 {
        bail!("--readings, --per-operation, --concurrency and --meters must be at least 1");
    }
    if args.per_operation > ApplyReadings::READINGS_MAX {
        bail!("--per-operation is at most {}", ApplyReadings::READINGS_MAX);
    }
    crate::bench::with_bench_store(settings, clock.clone(), |store| bench(store, clock, &args)).await
}

async fn bench(store: Arc<dyn Store>, clock: Arc<dyn Clock>, args: &IngestArgs) -> anyhow::Result<()> {
    crate::bench::claim(store.as_ref()).await?;
    let ids = Arc::new(IdGenerator::new(clock.clone()));
    let started = Instant::now();
    let estate = crate::bench::setup(&store, &ids, args.meters).await?;
    let (tariff, _) = voltvend_tariff_file::parse(crate::demo::ELECTRICITY_TARIFF)
        .map_err(|e| anyhow::anyhow!("shipped tariff: {e}"))?;
    let periods = tariff.versions.last().map(|v| v.periods.clone()).context("the tariff has a version")?;
    println!(
        "set-up: {} meters on {} ({}), in {:.1} s",
        estate.accounts.len(),
        tariff.code,
        periods.join("/"),
        started.elapsed().as_secs_f64()
    );
    let meters: Arc<Vec<_>> = Arc::new(estate.accounts.iter().map(|(_, m, _)| *m).collect());
    // A year ago, so that every reading is in the past and in the tariff's current version.
    let base = clock.now().checked_sub(SignedDuration::from_hours(24 * 366))?;
    let per_op = args.per_operation;
    let operations = args.readings.div_ceil(per_op);
    let stop = Arc::new(AtomicBool::new(false));
    crate::bench::stop_on_signal(stop.clone(), store.clone());
    let (billed, skipped, flagged, charged) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let stats = store.writer_stats();
    let steps_before = stats.steps();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..args.concurrency {
        let (store, ids, meters, periods, stop) =
            (store.clone(), ids.clone(), meters.clone(), periods.clone(), stop.clone());
        let (billed, skipped, flagged, charged) = (billed.clone(), skipped.clone(), flagged.clone(), charged.clone());
        let concurrency = args.concurrency;
        tasks.spawn(async move {
            // Operation n is chunk n / meters of meter n % meters; this task takes every concurrency-th.
            let mut n = task;
            while n < operations && !stop.load(Ordering::SeqCst) {
                let meter = *meters.get(n % meters.len()).context("the bench has meters")?;
                let chunk = n / meters.len();
                let readings = (0..per_op)
                    .map(|i| {
                        let k = i64::try_from(chunk * per_op + i).unwrap_or(i64::MAX);
                        let at = base.checked_add(SignedDuration::from_mins(15 * k))?;
                        // Each period's register advances 0.1 kWh a quarter hour.
                        let registers = if periods.len() == 1 {
                            Registers::Total(100 * k)
                        } else {
                            Registers::PerPeriod(periods.iter().map(|p| (p.clone(), 100 * k)).collect())
                        };
                        Ok::<_, jiff::Error>(Reading { at, registers })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let command = Command::ApplyReadings(ApplyReadings {
                    meter_id: meter,
                    readings,
                    report: None,
                    limits: ReadingLimits::default(),
                    demand: None,
                });
                match store.submit(Operation::new(ids.id(), Actor::system("bench"), command)).await {
                    Ok(Applied::Committed { outcome: Outcome::Readings(o), .. }) => {
                        billed.fetch_add(o.billed as u64, Ordering::Relaxed);
                        skipped.fetch_add(o.skipped as u64, Ordering::Relaxed);
                        flagged.fetch_add(o.flagged as u64, Ordering::Relaxed);
                        charged.fetch_add(u64::try_from(o.charged_minor).unwrap_or(0), Ordering::Relaxed);
                    }
                    Ok(other) => bail!("unexpected answer {other:?}"),
                    Err(e) if stop.load(Ordering::SeqCst) => return Ok::<_, anyhow::Error>(Some(e.code())),
                    Err(e) => bail!("readings of meter {meter}: {e}"),
                }
                n += concurrency;
            }
            Ok(None)
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("submitting task failed")??;
    }
    let elapsed = started.elapsed();
    if stop.load(Ordering::SeqCst) {
        println!("stopped by a signal");
        return Ok(());
    }
    let (billed, skipped, flagged) =
        (billed.load(Ordering::Relaxed), skipped.load(Ordering::Relaxed), flagged.load(Ordering::Relaxed));
    let total = billed + skipped + flagged;
    anyhow::ensure!(
        skipped == 0 && flagged == 0,
        "every reading is billed: {billed} billed, {skipped} skipped, {flagged} flagged"
    );
    let rate = total as f64 / elapsed.as_secs_f64();
    let writer = stats.steps().since(&steps_before);
    let commits = writer.batches;
    println!(
        "measured   {total:>9} readings priced and debited: {rate:>10.0} readings/s ({} operations of {per_op}, {commits} \
         commits, {:.1} CNY charged) on {}",
        operations,
        charged.load(Ordering::Relaxed) as f64 / 100.0,
        store.backend()
    );
    println!("{}", crate::bench::writer_steps_line(&writer, elapsed));
    // The baseline: as many rows, in commits of as many rows as the writer's commits held on average.
    let per_commit = usize::try_from(total / commits.max(1)).unwrap_or(1).max(1);
    let rows = usize::try_from(total).unwrap_or(usize::MAX);
    let started = Instant::now();
    store.insert_baseline(rows, per_commit).await?;
    let base_rate = total as f64 / started.elapsed().as_secs_f64();
    println!(
        "baseline  {total:>9} rows inserted raw:           {base_rate:>10.0} rows/s (commits of {per_commit} rows, same database)"
    );
    println!("ratio      {:.2} of the raw insert rate (goal: 500 000 readings/s on SQLite)", rate / base_rate);
    let report = store.check(CheckScope::Full).await?;
    anyhow::ensure!(report.is_ok(), "invariants failed: {:?}", report.problems);
    println!("check: {} transfers, {} audit records; every invariant holds", report.transfers, report.audit_records);
    args.out
        .write(crate::bench::Figures {
            bench: "ingest",
            backend: Some(store.backend().to_string()),
            scenario: serde_json::json!({ "readings": total, "per_operation": per_op, "concurrency": args.concurrency,
                                          "meters": args.meters }),
            figures: serde_json::json!({ "readings_per_s": rate, "commits": commits,
                "writer_ms_per_commit": crate::bench::writer_steps_json(&writer),
                "writer_busy": crate::bench::writer_busy(&writer, elapsed) }),
            baseline: serde_json::json!({ "raw_rows_per_s": base_rate, "rows_per_commit": per_commit }),
            ratios: serde_json::json!({ "readings_per_raw_row": rate / base_rate, "goal_readings_per_s": 500_000 }),
        })
        .await
}
