//! `voltvend bench`: measurements that print a baseline from the same run beside them, because the machine
//! is shared and noisy and only ratios hold.
//!
//! `bench ledger` posts cash sales into the configured database. The baseline posts them one at a time (one
//! durable commit each); the measurement posts them from many concurrent tasks, which the ledger writer
//! groups into shared commits. With `--print-acks` every acknowledged transfer id is printed as it is
//! acknowledged, which is what the kill test uses to prove no acknowledged transfer is lost.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use tokio::task::JoinSet;
use voltvend_domain::{
    AccountId, Clock, Currency, LedgerAccount, LedgerAccountId, LedgerAccountKind, Money, Owner, Premises, ShiftId,
    TransferKind, TransferRequest,
};
use voltvend_store::Store;

use crate::clock::IdGenerator;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Durable ledger transfers per second: concurrent (group commit) against one-at-a-time.
    Ledger {
        /// Transfers in the measured (concurrent) phase.
        #[arg(long, default_value_t = 20_000)]
        transfers: usize,
        /// Concurrent posting tasks.
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
        /// Transfers in the one-at-a-time baseline; 0 skips it.
        #[arg(long, default_value_t = 500)]
        baseline: usize,
        /// Print `ack <transfer id>` for every acknowledged transfer.
        #[arg(long)]
        print_acks: bool,
    },
}

pub async fn run(settings: &Settings, clock: Arc<dyn Clock>, command: BenchCommand) -> anyhow::Result<()> {
    let BenchCommand::Ledger { transfers, concurrency, baseline, print_acks } = command;
    let store = crate::serve::open_store(settings, clock.clone()).await?;
    let ids = Arc::new(IdGenerator::new(clock));
    let (drawer, wallets) = setup(store.as_ref(), &ids).await?;
    let wallets = Arc::new(wallets);

    if baseline > 0 {
        let started = Instant::now();
        for wallet in wallets.iter().cycle().take(baseline) {
            store.post_transfer(sale(&ids, drawer, *wallet)).await?;
        }
        let rate = baseline as f64 / started.elapsed().as_secs_f64();
        println!("baseline   one at a time: {baseline:>8} transfers, {rate:>10.0} durable transfers/s");
        report_rate("baseline", rate);
    }

    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let per_task = transfers.div_ceil(concurrency.max(1));
    for t in 0..concurrency.max(1) {
        let (store, ids, wallets) = (store.clone(), ids.clone(), wallets.clone());
        let count = per_task.min(transfers.saturating_sub(t * per_task));
        tasks.spawn(async move {
            for wallet in wallets.iter().cycle().skip(t).take(count) {
                let r = sale(&ids, drawer, *wallet);
                let id = r.id;
                store.post_transfer(r).await?;
                if print_acks {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {id}").context("stdout closed")?;
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("posting task failed")??;
    }
    let rate = transfers as f64 / started.elapsed().as_secs_f64();
    let stats = store.writer_stats();
    let batches = stats.batches.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "measured   {concurrency} concurrent: {transfers:>8} transfers, {rate:>10.0} durable transfers/s ({batches} commits in all)"
    );
    report_rate("measured", rate);
    let report = store.check_ledger().await?;
    anyhow::ensure!(report.is_ok(), "ledger invariants failed: {:?}", report.problems);
    println!("ledger check: {} transfers, invariants hold", report.transfers);
    store.close().await;
    Ok(())
}

fn report_rate(phase: &str, rate: f64) {
    tracing::info!(phase, rate, "bench ledger");
}

fn sale(ids: &IdGenerator, drawer: LedgerAccountId, wallet: LedgerAccountId) -> TransferRequest {
    TransferRequest::simple(
        ids.id(),
        TransferKind::Payment,
        drawer,
        wallet,
        Money::from_minor(10_000, Currency::CNY),
        "bench",
    )
}

async fn setup(store: &dyn Store, ids: &IdGenerator) -> anyhow::Result<(LedgerAccountId, Vec<LedgerAccountId>)> {
    let site = Premises::new_root(ids.id(), "Bench site", "UTC")?;
    store.insert_premises(&site).await?;
    let drawer = LedgerAccount::new(
        ids.id(),
        LedgerAccountKind::CashDrawer,
        Owner::Shift(ids.id::<ShiftId>()),
        site.id,
        Currency::CNY,
        None,
    )?;
    store.insert_ledger_account(&drawer).await?;
    let mut wallets = Vec::new();
    for _ in 0..64 {
        let w = LedgerAccount::new(
            ids.id(),
            LedgerAccountKind::CustomerWallet,
            Owner::Account(ids.id::<AccountId>()),
            site.id,
            Currency::CNY,
            None,
        )?;
        store.insert_ledger_account(&w).await?;
        wallets.push(w.id);
    }
    Ok((drawer.id, wallets))
}
