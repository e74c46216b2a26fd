//! `voltvend bench`: measurements that print a baseline from the same run beside them, because the machine
//! is shared and noisy and only ratios hold.
//!
//! * `bench ops` submits sale-shaped operations — a cash sale split four ways (cash, arrears recovered, a
//!   fee, wallet credit), with a receipt number, an audit record and an idempotency record each — from many
//!   concurrent submitters, which the writer groups into shared commits. Beside it: the same operations one
//!   at a time (one durable commit each), and pgbench's TPC-B on a PostgreSQL server for as long.
//! * `bench ledger` does the same with bare two-posting transfers.
//!
//! A bench writes only to a database of its own: an empty one (which it marks as a benchmark's) or one it
//! marked before. With `--print-acks` every acknowledged operation id is printed as it is acknowledged, which
//! is what the kill and SIGTERM tests use; on SIGTERM or Ctrl-C the bench stops submitting, drains the writer
//! and prints what became of every submission.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use futures_util::future::try_join_all;
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::{
    AccountId, BooksId, BuiltinRole, Clock, ControlMode, CtVtRatio, Currency, Customer, CustomerId, LedgerAccountId,
    Meter, MeterId, MeterProtocol, Money, OperationId, Operator, OperatorId, Premises, PremisesId, PremisesLevel,
    ShiftId, TransferId, TransferKind, TransferRequest, Utility, VendingPointId,
};
use voltvend_ops::{
    Actor, Command, CustomerRef, ImportTariff, MeterBinding, OpenAccount, OpenBooks, OpenShift, OpenVendingPoint,
    Operation, PaymentMethod, Sale,
};
use voltvend_store::{Backend, CheckScope, Store, WriterSteps};

use crate::clock::IdGenerator;
use crate::serve::Access;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Durable sale-shaped operations per second, concurrent (group commit) beside one at a time and pgbench.
    Ops(BenchArgs),
    /// Durable bare ledger transfers per second, concurrent (group commit) beside one at a time.
    Ledger(BenchArgs),
    /// Durable sales per second through the HTTP API and latency at a fixed offered rate, beside the same
    /// server's GET /healthz and pgbench. Creates the SQLite file if it is not there; on PostgreSQL it works
    /// in a scratch database it drops afterwards.
    Vend(crate::bench_vend::VendArgs),
    /// Readings priced (TOU and blocks) and debited per second through the operations spine, beside a raw insert
    /// of as many rows into the same database.
    Ingest(crate::bench_ingest::IngestArgs),
    /// A full poll cycle of a simulated fleet over DL/T 645 gateways on this machine, read, priced and debited,
    /// beside the same reads with nothing stored.
    Poll(crate::bench_poll::PollArgs),
    /// Latency from the reading that uses up a meter's credit to its relay open, and from a sale to the relay
    /// closed again, at simulated meters behind a gateway on this machine, beside a bare control request.
    Relay(crate::bench_relay::RelayArgs),
    /// An STS key change campaign planned over N meters (each key change set generated and recorded), beside
    /// inserting the same meters raw.
    Campaign(crate::bench_campaign::CampaignArgs),
    /// The month's sales report and the sales ledger exported whole (CSV, XLSX) over N sales through the HTTP
    /// API, with the export's peak memory, beside the same rows paged raw out of the store.
    Report(crate::bench_report::ReportArgs),
    /// STS and OpenPAYGO tokens made per second on one core and on every core, beside the `openpaygo` package
    /// from PyPI making the same OpenPAYGO token (which must be ours digit for digit). Stores nothing.
    Tokens(crate::bench_tokens::TokensArgs),
    /// A scaling curve drawn as SVG from benches' `--json` files, one point each (x and y by dotted path).
    Plot(crate::bench_plot::PlotArgs),
}

/// `--json PATH`: a bench's figures as one JSON document beside its table — the machine, the commit, the backend,
/// the scenario, the figures, the baseline and their ratio — for tracking ratios from run to run.
#[derive(Debug, Clone, Default, Args)]
pub struct JsonOut {
    /// Also write the figures to this JSON file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// What a bench measured, for [`JsonOut::write`].
#[derive(Debug)]
pub struct Figures {
    pub bench: &'static str,
    /// `sqlite` or `postgres`; none for a bench that stores nothing.
    pub backend: Option<String>,
    pub scenario: serde_json::Value,
    pub figures: serde_json::Value,
    pub baseline: serde_json::Value,
    pub ratios: serde_json::Value,
}

impl JsonOut {
    /// Writes `f` to the file asked for, if any, and says where.
    pub async fn write(&self, f: Figures) -> anyhow::Result<()> {
        let Some(path) = &self.json else { return Ok(()) };
        let machine = crate::bench_vend::Machine::read().await;
        let report = serde_json::json!({
            "bench": f.bench,
            "machine": { "cores": machine.cores, "hostname": machine.hostname },
            "git_commit": machine.commit,
            "backend": f.backend,
            "scenario": f.scenario,
            "figures": f.figures,
            "baseline": f.baseline,
            "ratios": f.ratios,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("json       {}", path.display());
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Operations in the measured (concurrent) phase.
    #[arg(long, default_value_t = 20_000)]
    operations: usize,
    /// Concurrent submitters.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Operations in the one-at-a-time baseline; 0 skips it.
    #[arg(long, default_value_t = 500)]
    baseline: usize,
    /// Customer accounts the sales go to.
    #[arg(long, default_value_t = 1_024)]
    accounts: usize,
    /// Print `ack <operation id>` for every acknowledged operation.
    #[arg(long)]
    print_acks: bool,
    /// PostgreSQL server for the pgbench TPC-B baseline (a scratch database is created and dropped there);
    /// defaults to the bench database's server when that is PostgreSQL, else to $VOLTVEND_BENCH_PGBENCH_URL.
    #[arg(long, value_name = "URL")]
    pgbench_url: Option<String>,
}

/// What `meta` says of a benchmark's database.
const PURPOSE_KEY: &str = "purpose";
const PURPOSE_BENCH: &str = "bench";
/// Cashiers (each with a counter and a shift) the concurrent submitters share.
const CASHIERS: usize = 64;
/// Arrears each account starts with, so that every sale recovers some (minor units).
const OPENING_ARREARS_MINOR: i64 = 1_000_000_000;

pub async fn run(settings: &Settings, clock: Arc<dyn Clock>, command: BenchCommand) -> anyhow::Result<()> {
    let (sales, args) = match command {
        BenchCommand::Ops(a) => (true, a),
        BenchCommand::Ledger(a) => (false, a),
        BenchCommand::Vend(a) => return crate::bench_vend::run(settings, clock, a).await,
        BenchCommand::Ingest(a) => return crate::bench_ingest::run(settings, clock, a).await,
        BenchCommand::Poll(a) => return crate::bench_poll::run(settings, clock, a).await,
        BenchCommand::Relay(a) => return crate::bench_relay::run(settings, clock, a).await,
        BenchCommand::Campaign(a) => return crate::bench_campaign::run(settings, clock, a).await,
        BenchCommand::Report(a) => return crate::bench_report::run(settings, clock, a).await,
        BenchCommand::Tokens(a) => return crate::bench_tokens::run(a).await,
        BenchCommand::Plot(a) => return crate::bench_plot::run(a),
    };
    if args.concurrency == 0 || args.accounts == 0 {
        bail!("--concurrency and --accounts must be at least 1");
    }
    with_bench_store(settings, clock.clone(), |store| bench(settings, store, clock, sales, &args)).await
}

/// Runs `f` on the bench's database, held against other writers, and drains and closes it afterwards
/// whatever `f` did.
pub(crate) async fn with_bench_store<F, Fut>(settings: &Settings, clock: Arc<dyn Clock>, f: F) -> anyhow::Result<()>
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let store = crate::serve::open_store(settings, clock, Access::Existing).await?;
    let lock = match crate::serve::lock_for_writing(store.as_ref()).await {
        Ok(l) => l,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let result = f(store.clone()).await;
    store.shutdown().await;
    lock.release().await;
    store.close().await;
    result
}

/// The bench's own database, or a refusal to touch someone else's.
pub(crate) async fn claim(store: &dyn Store) -> anyhow::Result<()> {
    match store.meta(PURPOSE_KEY).await?.as_deref() {
        Some(PURPOSE_BENCH) => return Ok(()),
        Some(other) => bail!("this is a {other} database; a benchmark writes only to a database of its own"),
        None => {}
    }
    let counts = store.counts().await?;
    if counts.premises > 0 || counts.transfers > 0 || counts.operators > 0 {
        bail!(
            "this database holds data ({} premises, {} transfers) that is not a benchmark's: a benchmark writes only to \
             an empty database (create one with `voltvend --database-url … migrate`) or to one it used before",
            counts.premises,
            counts.transfers
        );
    }
    store.set_meta(PURPOSE_KEY, PURPOSE_BENCH).await?;
    Ok(())
}

/// The bench's estate: counters with cashiers and open shifts, and accounts with remote meters and arrears.
pub(crate) struct Estate {
    pub(crate) shifts: Vec<(OperatorId, PremisesId, ShiftId, LedgerAccountId)>,
    pub(crate) accounts: Vec<(AccountId, MeterId, LedgerAccountId)>,
}

pub(crate) async fn submit_all(store: &Arc<dyn Store>, ops: Vec<Operation>) -> anyhow::Result<()> {
    let futures = ops.into_iter().map(|op| {
        let store = store.clone();
        async move {
            let kind = op.command.kind();
            store.submit(op).await.with_context(|| format!("bench set-up: {kind}"))
        }
    });
    try_join_all(futures).await?;
    Ok(())
}

pub(crate) async fn setup(store: &Arc<dyn Store>, ids: &IdGenerator, accounts: usize) -> anyhow::Result<Estate> {
    let system = |command| Operation::new(ids.id::<OperationId>(), Actor::system("bench"), command);
    let group = Premises::new_root(ids.id(), "Bench group", "Asia/Shanghai")?;
    let site = group.new_child(ids.id(), PremisesLevel::Property, "Bench site")?;
    let books = ids.id::<BooksId>();
    for command in [
        Command::CreatePremises(group.clone()),
        Command::CreatePremises(site.clone()),
        Command::OpenBooks(OpenBooks { id: books, premises_id: site.id, currency: Currency::CNY }),
    ] {
        store.submit(system(command)).await.context("bench set-up")?;
    }
    // The meters are remote, so they need a tariff; nothing here reads them, so any shipped one will do.
    let (tariff, _) = voltvend_tariff_file::parse(crate::demo::ELECTRICITY_TARIFF)
        .map_err(|e| anyhow::anyhow!("shipped tariff: {e}"))?;
    let tariff_code = tariff.code.clone();
    if store.tariff_document(&tariff_code).await?.is_none() {
        let command = Command::ImportTariff(ImportTariff {
            code: tariff.code,
            name: tariff.name,
            document: crate::demo::ELECTRICITY_TARIFF.into(),
        });
        store.submit(system(command)).await.context("bench set-up")?;
    }
    let mut counters = Vec::new();
    let mut ops = Vec::new();
    // A bench may run again on its own database: its cashiers' names are new each run.
    let run = ids.uuid().simple().to_string();
    let run = run.get(24..).unwrap_or("run");
    for i in 0..CASHIERS {
        let (point, operator, shift) = (ids.id::<VendingPointId>(), ids.id::<OperatorId>(), ids.id::<ShiftId>());
        ops.push(system(Command::OpenVendingPoint(OpenVendingPoint {
            id: point,
            premises_id: site.id,
            name: format!("Counter {}", i + 1),
            currency: Currency::CNY,
            books_id: books,
            credit_limit_minor: None,
        })));
        // Nobody logs in as a bench cashier: a well-formed hash of no password anyone knows.
        let hash = format!("$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA${}", "A".repeat(43));
        ops.push(system(Command::AddOperator(Operator::new(
            operator,
            &format!("bench-{run}-{i}"),
            &format!("Bench cashier {i}"),
            BuiltinRole::Cashier.as_str(),
            site.id,
            &hash,
        ))));
        counters.push((point, operator, shift));
    }
    submit_all(store, ops).await?;
    let mut opens = Vec::new();
    for (point, operator, shift) in &counters {
        let open =
            OpenShift { shift_id: *shift, vending_point_id: *point, operator_id: *operator, opening_float_minor: 0 };
        opens.push(Operation::new(ids.id(), Actor::operator(*operator, site.id, "bench"), Command::OpenShift(open)));
    }
    submit_all(store, opens).await?;
    let mut shifts = Vec::new();
    for (_, operator, shift) in &counters {
        shifts.push((*operator, site.id, *shift, store.shift(*shift).await?.drawer));
    }

    let mut receive = Vec::new();
    let mut open = Vec::new();
    let mut keys = Vec::new();
    for i in 0..accounts {
        let (meter, account) = (ids.id::<MeterId>(), ids.id::<AccountId>());
        let mut new_meter = Meter::receive(
            meter,
            &format!("BENCH-{run}-{i:07}"),
            Utility::Electricity,
            ControlMode::Remote,
            MeterProtocol::Dlt645,
            &format!("{:012}", i + 1),
            CtVtRatio::DIRECT,
        )?;
        new_meter.premises_id = Some(site.id);
        receive.push(system(Command::ReceiveMeter(new_meter)));
        let customer = Customer::new(ids.id::<CustomerId>(), site.id, &format!("Bench customer {i}"), None)?;
        open.push(system(Command::OpenAccount(OpenAccount {
            customer: CustomerRef::New(customer),
            account_id: account,
            premises_id: site.id,
            currency: Currency::CNY,
            books_id: books,
            overdraft_limit_minor: 0,
            recovery: ArrearsRecovery::Share(200_000),
            min_purchase_minor: 0,
            max_balance_minor: None,
            meters: vec![MeterBinding {
                meter_id: meter,
                receive: None,
                tariff_code: Some(tariff_code.clone()),
                sts: None,
                opg: None,
                max_credit_minor: None,
            }],
            first_sale: None,
        })));
        keys.push((account, meter));
    }
    submit_all(store, receive).await?;
    submit_all(store, open).await?;
    let revenue = store.books(books).await?.energy_revenue;
    let mut arrears = Vec::new();
    let mut out = Vec::new();
    for (account, meter) in keys {
        let rec = store.account(account).await?;
        let id = ids.id::<OperationId>();
        let t = TransferRequest::simple(
            TransferId::from_uuid(id.as_uuid()),
            TransferKind::Adjustment,
            rec.arrears,
            revenue,
            Money::from_minor(OPENING_ARREARS_MINOR, Currency::CNY),
            "arrears brought forward",
        );
        arrears.push(Operation::new(id, Actor::system("bench"), Command::PostTransfer(t)));
        out.push((account, meter, rec.wallet));
    }
    submit_all(store, arrears).await?;
    Ok(Estate { shifts, accounts: out })
}

/// The `n`th operation of a run: a sale through a cashier's shift, or a bare payment into a wallet.
pub(crate) fn operation(ids: &IdGenerator, estate: &Estate, sales: bool, n: usize) -> anyhow::Result<Operation> {
    let &(operator, scope, shift, drawer) =
        estate.shifts.get(n % estate.shifts.len().max(1)).context("the bench has cashiers")?;
    let &(account, meter, wallet) =
        estate.accounts.get(n % estate.accounts.len().max(1)).context("the bench has accounts")?;
    let id = ids.id::<OperationId>();
    if sales {
        let sale = Sale { fees_minor: 100, ..Sale::paid(account, meter, shift, PaymentMethod::Cash, 10_000) };
        Ok(Operation::new(id, Actor::operator(operator, scope, "bench"), Command::Sale(sale)))
    } else {
        let t = TransferRequest::simple(
            TransferId::from_uuid(id.as_uuid()),
            TransferKind::Payment,
            drawer,
            wallet,
            Money::from_minor(10_000, Currency::CNY),
            "bench",
        );
        Ok(Operation::new(id, Actor::system("bench"), Command::PostTransfer(t)))
    }
}

/// The writer's mean milliseconds per timed commit in each step (load, apply, write, commit).
fn writer_ms(steps: &WriterSteps) -> [f64; 4] {
    steps.us.map(|us| us as f64 / 1_000.0 / steps.timed.max(1) as f64)
}

/// The share of `phase` the writer spent in its steps (1.0: its serial cycle is the bound).
pub(crate) fn writer_busy(steps: &WriterSteps, phase: Duration) -> f64 {
    steps.us.iter().sum::<u64>() as f64 / 1e6 / phase.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// The writer's steps during a phase, as `bench vend` and `bench ingest` print them.
pub(crate) fn writer_steps_line(steps: &WriterSteps, phase: Duration) -> String {
    let [load, apply, write, commit] = writer_ms(steps);
    format!(
        "writer per commit: load {load:.2} ms, apply {apply:.2} ms, write {write:.2} ms, commit {commit:.2} ms; busy \
         {:.0} % of the phase",
        100.0 * writer_busy(steps, phase)
    )
}

/// The same, for a bench's JSON.
pub(crate) fn writer_steps_json(steps: &WriterSteps) -> serde_json::Value {
    let [load, apply, write, commit] = writer_ms(steps);
    serde_json::json!({ "load": load, "apply": apply, "write": write, "commit": commit })
}

/// Set on SIGTERM or Ctrl-C: submitters stop starting new operations.
pub(crate) fn stop_on_signal(stop: Arc<AtomicBool>, store: Arc<dyn Store>) {
    let signal = crate::serve::shutdown_signal();
    tokio::spawn(async move {
        signal.await;
        stop.store(true, Ordering::SeqCst);
        // Everything already submitted is committed or refused; nothing is left waiting.
        store.shutdown().await;
    });
}

async fn bench(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sales: bool,
    args: &BenchArgs,
) -> anyhow::Result<()> {
    claim(store.as_ref()).await?;
    let what = if sales { "sale operations" } else { "bare transfers" };
    let ids = Arc::new(IdGenerator::new(clock));
    let started = Instant::now();
    let estate = Arc::new(setup(&store, &ids, args.accounts).await?);
    println!(
        "set-up: {} cashiers, {} accounts with remote meters, in {:.1} s",
        estate.shifts.len(),
        estate.accounts.len(),
        started.elapsed().as_secs_f64()
    );
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signal(stop.clone(), store.clone());

    if args.baseline > 0 {
        let started = Instant::now();
        for n in 0..args.baseline {
            store.submit(operation(&ids, &estate, sales, n)?).await?;
        }
        let rate = args.baseline as f64 / started.elapsed().as_secs_f64();
        println!("baseline   one at a time: {:>8} {what}, {rate:>10.0} durable/s (one commit each)", args.baseline);
    }

    let stats = store.writer_stats();
    let batches_before = stats.batches.load(Ordering::Relaxed);
    let (submitted, acked, refused) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (store, ids, estate, stop) = (store.clone(), ids.clone(), estate.clone(), stop.clone());
        let (submitted, acked, refused, next) = (submitted.clone(), acked.clone(), refused.clone(), next.clone());
        let (total, print_acks) = (args.operations as u64, args.print_acks);
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total || stop.load(Ordering::SeqCst) {
                    return anyhow::Ok(());
                }
                let op = operation(&ids, &estate, sales, usize::try_from(n).unwrap_or(0))?;
                let id = op.id;
                submitted.fetch_add(1, Ordering::Relaxed);
                match store.submit(op).await {
                    Ok(_) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                        if print_acks {
                            writeln!(std::io::stdout().lock(), "ack {id}").context("stdout closed")?;
                        }
                    }
                    Err(e) if stop.load(Ordering::SeqCst) && e.code() == "shutting_down" => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => return Err(anyhow::anyhow!("operation {id}: {e}")),
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("submitting task failed")??;
    }
    let elapsed = started.elapsed();
    let (submitted, acked, refused) =
        (submitted.load(Ordering::Relaxed), acked.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
    if stop.load(Ordering::SeqCst) {
        println!(
            "stopped by a signal: submitted {submitted}, acknowledged {acked}, refused while stopping {refused}, \
             unanswered {}",
            submitted - acked - refused
        );
        return Ok(());
    }
    let rate = acked as f64 / elapsed.as_secs_f64();
    let commits = stats.batches.load(Ordering::Relaxed) - batches_before;
    println!(
        "measured   {} concurrent: {acked:>8} {what}, {rate:>10.0} durable/s ({commits} commits, {:.0} per commit) on {}",
        args.concurrency,
        acked as f64 / commits.max(1) as f64,
        store.backend()
    );
    if sales {
        println!("           each: 4-posting split, receipt number, audit record, idempotency record");
    }
    match pgbench_url(settings, store.backend(), args) {
        Some(url) => match pgbench(&url, elapsed.max(Duration::from_secs(5))).await {
            Ok(tps) => println!(
                "baseline   pgbench TPC-B, 16 clients, {:.0} s: {tps:>10.0} tps on PostgreSQL at {}",
                elapsed.max(Duration::from_secs(5)).as_secs_f64(),
                voltvend_store::redact_url(&url)
            ),
            Err(e) => println!("baseline   pgbench TPC-B: not measured ({e:#})"),
        },
        None => println!("baseline   pgbench TPC-B: not measured (give --pgbench-url postgres://…)"),
    }
    let report = store.check(CheckScope::Full).await?;
    anyhow::ensure!(report.is_ok(), "invariants failed: {:?}", report.problems);
    println!(
        "check: {} transfers, {} sales, {} audit records; every invariant holds",
        report.transfers, report.sales, report.audit_records
    );
    Ok(())
}

fn pgbench_url(settings: &Settings, backend: Backend, args: &BenchArgs) -> Option<String> {
    args.pgbench_url
        .clone()
        .or_else(|| (backend == Backend::Postgres).then(|| settings.database.url.clone()))
        .or_else(|| std::env::var("VOLTVEND_BENCH_PGBENCH_URL").ok().filter(|u| !u.is_empty()))
}

/// pgbench's TPC-B on a scratch database of the server at `url`, for `duration`; returns its tps.
pub(crate) async fn pgbench(url: &str, duration: Duration) -> anyhow::Result<f64> {
    let scratch = voltvend_store::backup::ScratchDatabase::create(url).await?;
    let result = async {
        let init = tokio::process::Command::new("pgbench")
            .args(["-i", "-q", "-s", "10", &scratch.url])
            .stdin(Stdio::null())
            .output()
            .await
            .context("cannot run pgbench (it comes with the PostgreSQL server or contrib package)")?;
        anyhow::ensure!(init.status.success(), "pgbench -i: {}", String::from_utf8_lossy(&init.stderr).trim());
        let secs = duration.as_secs().max(1).to_string();
        let run = tokio::process::Command::new("pgbench")
            .args(["-c", "16", "-j", "2", "-T", &secs, &scratch.url])
            .stdin(Stdio::null())
            .output()
            .await?;
        anyhow::ensure!(run.status.success(), "pgbench: {}", String::from_utf8_lossy(&run.stderr).trim());
        let out = String::from_utf8_lossy(&run.stdout);
        out.lines()
            .find_map(|l| l.strip_prefix("tps = ").and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok()))
            .context("pgbench printed no tps")
    }
    .await;
    scratch.drop_it().await;
    result
}

/// What `/proc/self/status` says of this process, in KiB: (VmRSS, VmHWM — the peak resident set). `None` off
/// Linux.
pub(crate) fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
