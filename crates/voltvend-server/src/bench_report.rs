//! `voltvend bench report`: the month's reports over N sales (1 000 000 by default) through the HTTP API of a
//! server in this process — the sales summary by day, and the sales ledger exported whole as CSV and XLSX —
//! with the export's peak memory beside the process's memory before it, and, as the baseline, the same rows
//! paged raw out of the store. The goal (issue 13): a 1 000 000-row export in bounded memory, i.e. a peak that
//! does not grow with the file (the CSV streams a page at a time; the XLSX is written in constant-memory mode).
//!
//! Memory is read from `/proc/self/status` (Linux): `VmRSS` before the export, and `VmHWM` — the peak resident
//! set, reset first through `/proc/self/clear_refs` — after it. Elsewhere it says so and measures time only.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use voltvend_domain::{ApiTokenId, BuiltinRole, Clock, OperationId, Operator, OperatorId};
use voltvend_ops::{Actor, ApiTokenRecord, Command, MasterKeys, Operation};
use voltvend_store::{ListQuery, SaleFilter};

use crate::api::auth::{sha256, token_text};
use crate::bench_vend::{BenchDb, Server};
use crate::clock::IdGenerator;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Sales in the month (made through the operations spine first).
    #[arg(long, default_value_t = 1_000_000)]
    sales: usize,
    /// Customer accounts the sales go to.
    #[arg(long, default_value_t = 1_024)]
    accounts: usize,
    /// Concurrent submitters while the sales are made.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    #[command(flatten)]
    out: crate::bench::JsonOut,
}

const SALES_MAX: usize = 20_000_000;

pub async fn run(settings: &Settings, clock: Arc<dyn Clock>, args: ReportArgs) -> anyhow::Result<()> {
    if !(1..=SALES_MAX).contains(&args.sales) || args.accounts == 0 || args.concurrency == 0 {
        bail!("--sales must be 1–{SALES_MAX}, --accounts and --concurrency at least 1");
    }
    let ids = Arc::new(IdGenerator::new(clock.clone()));
    let keys = crate::bench_vend::bench_master_keys(&ids);
    let db = BenchDb::open(settings, clock.clone(), keys.clone()).await?;
    let result = bench(settings, &db, clock, ids, &keys, &args).await;
    db.close().await;
    result
}

/// Resets the peak resident set to what is resident now.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One GET over HTTP/1.0 (so the body ends with the connection, no chunk framing), the body read a buffer at
/// a time and dropped: (status, body bytes, body newlines).
async fn fetch(addr: std::net::SocketAddr, authorization: &str, path: &str) -> anyhow::Result<(u16, u64, u64)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: {authorization}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut buf = vec![0_u8; 64 * 1024];
    let mut head = Vec::new();
    let (mut bytes, mut lines) = (0_u64, 0_u64);
    let mut in_body = false;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let mut chunk = buf.get(..n).unwrap_or_default();
        if !in_body {
            head.extend_from_slice(chunk);
            let Some(end) = crate::bench_http::find(&head, b"\r\n\r\n") else { continue };
            in_body = true;
            let body = head.split_off(end + 4);
            bytes += body.len() as u64;
            lines += body.iter().filter(|b| **b == b'\n').count() as u64;
            chunk = &[];
        }
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let status = std::str::from_utf8(head.get(9..12).unwrap_or_default()).ok().and_then(|s| s.parse().ok());
    Ok((status.context("no HTTP status line")?, bytes, lines))
}

async fn bench(
    settings: &Settings,
    db: &BenchDb,
    clock: Arc<dyn Clock>,
    ids: Arc<IdGenerator>,
    keys: &MasterKeys,
    args: &ReportArgs,
) -> anyhow::Result<()> {
    let store = &db.store;
    let from = clock.now();
    let started = Instant::now();
    let estate = Arc::new(crate::bench::setup(store, &ids, args.accounts).await?);
    let &(_, site, _, _) = estate.shifts.first().context("the bench has cashiers")?;
    // The reader: a manager of the bench's site with an API token.
    let manager = ids.id::<OperatorId>();
    let hash = format!("$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA${}", "A".repeat(43));
    let name = format!("bench-report-{}", manager.as_uuid().simple());
    let system = |command| Operation::new(ids.id::<OperationId>(), Actor::system("bench"), command);
    store
        .submit(system(Command::AddOperator(Operator::new(
            manager,
            &name,
            "Bench manager",
            BuiltinRole::Manager.as_str(),
            site,
            &hash,
        ))))
        .await?;
    let mut secret = [0_u8; 32];
    ids.fill(&mut secret);
    let token = ApiTokenRecord {
        id: ids.id::<ApiTokenId>(),
        operator_id: manager,
        name: "bench report".into(),
        secret_hash: sha256(&secret),
        created_at: clock.now(),
        expires_at: None,
        revoked_at: None,
        created_by: None,
    };
    let authorization = format!("Bearer {}", token_text(token.id, &secret));
    store.submit(system(Command::CreateApiToken(token))).await?;
    println!("bench report: {} sales over {} accounts on {}", args.sales, args.accounts, db.shown);

    // The month's sales, through the operations spine.
    let next = Arc::new(AtomicUsize::new(0));
    let step = (args.sales / 10).max(1);
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.min(args.sales) {
        let (store, ids, estate, next) = (store.clone(), ids.clone(), estate.clone(), next.clone());
        let total = args.sales;
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return Ok::<(), anyhow::Error>(());
                }
                let op = crate::bench::operation(&ids, &estate, true, n)?;
                store.submit(op).await.context("a bench sale")?;
                if (n + 1) % step == 0 {
                    println!("  sales made: {:>9}", n + 1);
                }
            }
        }));
    }
    for w in workers {
        w.await.context("a bench submitter")??;
    }
    let made = started.elapsed().as_secs_f64();
    let to = clock.now() + jiff::SignedDuration::from_secs(1);
    println!("set-up     {:>9} sales made through the operations spine in {made:.1} s", args.sales);

    // Baseline: the same rows paged raw out of the store, a page in memory at a time.
    let filter =
        SaleFilter { from_us: Some(from.as_microsecond()), to_us: Some(to.as_microsecond()), ..SaleFilter::default() };
    let started = Instant::now();
    let mut after = None;
    let mut rows = 0_usize;
    loop {
        let page = store.sales_ledger_page(None, &filter, after, ListQuery::LIMIT_MAX).await?;
        rows += page.len();
        match page.last() {
            Some(last) if page.len() == ListQuery::LIMIT_MAX as usize => after = Some((last.at, last.operation_id)),
            _ => break,
        }
    }
    let raw = started.elapsed().as_secs_f64();
    if rows != args.sales {
        bail!("the store holds {rows} of the {} sales made", args.sales);
    }
    println!(
        "baseline   {rows:>9} sales paged raw out of the store:      {raw:>7.2} s  {:>10.0} rows/s",
        rows as f64 / raw
    );

    let server = Server::start(settings, store.clone(), clock.clone(), keys).await?;
    let period = format!("from={from}&to={to}");
    let mut figures = serde_json::Map::new();
    let measured = async {
        let started = Instant::now();
        let (status, _, _) =
            fetch(server.addr, &authorization, &format!("/api/v1/reports/sales?{period}&group_by=day")).await?;
        if status != 200 {
            bail!("the month's sales report answered {status}");
        }
        let report_s = started.elapsed().as_secs_f64();
        println!("measured   the month's sales report by day:             {report_s:>7.2} s");
        figures.insert("sales_report_by_day_s".into(), report_s.into());
        let mut peaks = Vec::new();
        for format in ["csv", "xlsx"] {
            let before = crate::bench::memory();
            let reset = reset_peak();
            let started = Instant::now();
            let path = format!("/api/v1/reports/sales-ledger?{period}&format={format}");
            let (status, bytes, lines) = fetch(server.addr, &authorization, &path).await?;
            let took = started.elapsed().as_secs_f64();
            if status != 200 {
                bail!("the {format} export answered {status}");
            }
            if format == "csv" && lines != rows as u64 + 1 {
                bail!("the CSV export holds {} rows of {rows}", lines.saturating_sub(1));
            }
            let mut export = serde_json::Map::new();
            export.insert("seconds".into(), took.into());
            export.insert("rows_per_s".into(), (rows as f64 / took).into());
            export.insert("bytes".into(), bytes.into());
            let peak = match (before, crate::bench::memory(), reset) {
                (Some((rss, _)), Some((_, hwm)), true) => {
                    peaks.push((format, hwm.saturating_sub(rss), bytes));
                    export.insert("peak_extra_kib".into(), hwm.saturating_sub(rss).into());
                    format!("peak {:>6.1} MiB over {:>6.1} MiB resident before", mib(hwm.saturating_sub(rss)), mib(rss))
                }
                _ => "peak memory not measured (no /proc/self/status or clear_refs here)".into(),
            };
            println!(
                "measured   {rows:>9} rows exported as {format:<4} ({:>7.1} MiB): {took:>7.2} s  {:>10.0} rows/s  {peak}",
                bytes as f64 / 1_048_576.0,
                rows as f64 / took
            );
            figures.insert(format!("{format}_export"), serde_json::Value::Object(export));
        }
        for (format, extra, bytes) in peaks {
            println!(
                "ratio      {format}: the export's extra memory is {:.3} of its file's size",
                (extra * 1024) as f64 / bytes.max(1) as f64
            );
        }
        Ok(())
    }
    .await;
    let stopped = server.stop().await;
    measured?;
    stopped?;
    // SQLite: the log stays bounded however many commits went by (it is truncated past 64 MiB).
    if let Ok(path) = voltvend_store::sqlite_path(&settings.database.url) {
        let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len()) as f64 / 1_048_576.0;
        let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
        println!("storage    database {:.0} MiB, write-ahead log {:.1} MiB", size(&path), size(&wal));
    }
    let csv_rate = figures.get("csv_export").and_then(|e| e["rows_per_s"].as_f64());
    args.out
        .write(crate::bench::Figures {
            bench: "report",
            backend: Some(store.backend().to_string()),
            scenario: serde_json::json!({ "sales": args.sales, "accounts": args.accounts }),
            figures: serde_json::Value::Object(figures),
            baseline: serde_json::json!({ "raw_paging_s": raw, "raw_paging_rows_per_s": rows as f64 / raw }),
            ratios: serde_json::json!({ "csv_export_per_raw_paging": csv_rate.map(|r| r / (rows as f64 / raw)) }),
        })
        .await
}
