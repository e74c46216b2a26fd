//! `voltvend bench poll`: a full poll cycle of a simulated fleet over TCP — every meter read over DL/T 645
//! through RS-485 gateways (one request in flight per bus), its reading priced by the tariff engine and debited
//! from its wallet through the operations spine — beside the baseline of the same reads over the same gateways
//! with nothing stored or priced. The ratio is what to track; the machine is shared and noisy.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use jiff::SignedDuration;
use voltvend_dlt645::Address;
use voltvend_domain::{Channel, Clock};
use voltvend_headend::link;
use voltvend_headend::{Config, HeadEnd, health::LinkHealth, jitter::Jitter, read};
use voltvend_meter::fleet::Fleet;
use voltvend_meter::gateway::{self, SharedFleet};
use voltvend_ops::{Actor, Command, Operation, SetMeterChannel};
use voltvend_store::Store;

use crate::clock::IdGenerator;
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct PollArgs {
    /// Simulated meters, each with an account on the shipped TOU tariff.
    #[arg(long, default_value_t = 100_000)]
    meters: usize,
    /// Meters behind each RS-485 gateway (each gateway is one TCP listener and carries one request at a time).
    #[arg(long, default_value_t = 256)]
    per_gateway: usize,
    /// Meters read at once over all gateways.
    #[arg(long, default_value_t = 1_024)]
    reads_max: usize,
    #[command(flatten)]
    out: crate::bench::JsonOut,
}

pub async fn run(settings: &Settings, clock: Arc<dyn Clock>, args: PollArgs) -> anyhow::Result<()> {
    if args.meters == 0 || args.per_gateway == 0 || args.reads_max == 0 {
        bail!("--meters, --per-gateway and --reads-max must be at least 1");
    }
    if args.meters > 999_999 {
        bail!("--meters is at most 999999 (the simulator's meter numbers)");
    }
    crate::bench::with_bench_store(settings, clock.clone(), |store| bench(store, clock, &args)).await
}

async fn bench(store: Arc<dyn Store>, clock: Arc<dyn Clock>, args: &PollArgs) -> anyhow::Result<()> {
    crate::bench::claim(store.as_ref()).await?;
    let ids = Arc::new(IdGenerator::new(clock.clone()));
    let started = Instant::now();
    let estate = crate::bench::setup(&store, &ids, args.meters).await?;
    // Credit on every wallet, so that a cycle bills and queues no trips.
    let payments = (0..estate.accounts.len())
        .map(|n| crate::bench::operation(&ids, &estate, false, n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    crate::bench::submit_all(&store, payments).await?;

    // The fleet, the bench's meters numbered 1… as `setup` addressed them, behind gateways on this machine.
    let before_fleet = crate::bench::memory();
    let fleet = Fleet::new(args.meters, 7, clock.now(), &crate::demo::fleet_config()?, 0);
    let after_fleet = crate::bench::memory();
    let fleet: SharedFleet = Arc::new(Mutex::new(fleet));
    let mut endpoints = Vec::new();
    for _ in 0..args.meters.div_ceil(args.per_gateway) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        endpoints.push(listener.local_addr()?);
        tokio::spawn(gateway::serve(listener, fleet.clone()));
    }
    // This run's meters on their gateways; meters of earlier runs on this database are left unreachable.
    let ours: std::collections::HashSet<_> = estate.accounts.iter().map(|(_, m, _)| *m).collect();
    let mut channels = Vec::new();
    let mut after = None;
    loop {
        let page = store.channel_meters(after, 1_000).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.meter.id);
        for (m, _) in page.into_iter().filter(|(m, _)| !ours.contains(&m.meter.id)) {
            let clear = SetMeterChannel { meter_id: m.meter.id, channel: None, shows_credit: false };
            channels.push(Operation::new(ids.id(), Actor::system("bench"), Command::SetMeterChannel(clear)));
        }
    }
    for (i, (_, meter, _)) in estate.accounts.iter().enumerate() {
        let gw = endpoints.get(i / args.per_gateway).context("a gateway for every meter")?;
        let channel = Channel::Dlt645Gateway { host: gw.ip().to_string(), port: gw.port() };
        let set = SetMeterChannel { meter_id: *meter, channel: Some(channel), shows_credit: false };
        channels.push(Operation::new(ids.id(), Actor::system("bench"), Command::SetMeterChannel(set)));
    }
    crate::bench::submit_all(&store, channels).await?;
    println!(
        "set-up: {} meters behind {} gateways of {}, in {:.1} s",
        args.meters,
        endpoints.len(),
        args.per_gateway,
        started.elapsed().as_secs_f64()
    );

    let config = Config {
        reads_max: args.reads_max,
        request_timeout: Duration::from_secs(10),
        // The fleet is stepped a quarter hour between cycles that are seconds apart: no power limit applies.
        max_power_w: None,
        ..Config::default()
    };
    let before_headend = crate::bench::memory();
    let headend = HeadEnd::new(store.clone(), clock.clone(), config, 11);
    // The first cycle reads where billing starts (and opens the connections).
    let t = Instant::now();
    let first = headend.poll_all().await?;
    println!(
        "first cycle (billing starts): {} meters read, {} failed, in {:.1} s",
        first.read,
        first.failed,
        t.elapsed().as_secs_f64()
    );
    fleet.lock().unwrap_or_else(|p| p.into_inner()).step(SignedDuration::from_mins(15));
    let t = Instant::now();
    let cycle = headend.poll_all().await?;
    let measured = t.elapsed();
    let after_cycles = crate::bench::memory();
    anyhow::ensure!(
        cycle.read == args.meters && cycle.failed == 0 && cycle.flagged == 0,
        "every meter is read and billed: {cycle:?}"
    );

    // Baseline: the same reads (energy, TOU registers, status word 3) over the same gateways, nothing stored.
    let buses: Vec<_> = endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| {
            link::gateway(
                e.to_string(),
                Config::default().reconnect,
                Arc::new(LinkHealth::default()),
                Jitter::new(i as u64),
            )
        })
        .collect();
    let limit = Arc::new(tokio::sync::Semaphore::new(args.reads_max));
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.meters {
        let bus = buses.get(i / args.per_gateway).context("a bus for every meter")?.clone();
        let address = Address::from_meter_no(&format!("{:012}", i + 1))?;
        let permit = limit.clone().acquire_owned().await?;
        tasks.spawn(async move {
            let _permit = permit;
            read::read_energy(&bus, address, true, Duration::from_secs(10)).await
        });
        while let Some(done) = tasks.try_join_next() {
            done?.map_err(|e| anyhow::anyhow!("baseline read: {e}"))?;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done?.map_err(|e| anyhow::anyhow!("baseline read: {e}"))?;
    }
    let baseline = t.elapsed();

    let per_s = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "poll cycle, read + priced + debited: {} meters in {:.1} s ({:.0} meters/s; goal: 100 000 in ≤ 60 s)",
        cycle.read,
        measured.as_secs_f64(),
        per_s(cycle.read, measured)
    );
    println!(
        "baseline, the same reads with nothing stored: {:.1} s ({:.0} meters/s); the cycle takes {:.2}× the baseline",
        baseline.as_secs_f64(),
        per_s(args.meters, baseline),
        measured.as_secs_f64() / baseline.as_secs_f64().max(1e-9)
    );
    // Resident set growth per meter (Linux): the simulator's fleet as built, and the head end over its two cycles
    // — its per-meter health and schedule, the connections, and the store's caches of what billing touched.
    let per_meter = |before: Option<(u64, u64)>, after: Option<(u64, u64)>| match (before, after) {
        (Some((b, _)), Some((a, _))) => format!("{:.0} B", a.saturating_sub(b) as f64 * 1024.0 / args.meters as f64),
        _ => "not measured (no /proc/self/status)".to_string(),
    };
    println!(
        "memory: {} resident per simulated meter (goal ≤ 1 KiB); {} per billed meter in the head end (goal ≤ 512 B)",
        per_meter(before_fleet, after_fleet),
        per_meter(before_headend, after_cycles)
    );
    let bytes_per_meter = |before: Option<(u64, u64)>, after: Option<(u64, u64)>| match (before, after) {
        (Some((b, _)), Some((a, _))) => Some(a.saturating_sub(b) as f64 * 1024.0 / args.meters as f64),
        _ => None,
    };
    args.out
        .write(crate::bench::Figures {
            bench: "poll",
            backend: Some(store.backend().to_string()),
            scenario: serde_json::json!({ "meters": args.meters, "per_gateway": args.per_gateway,
                                          "reads_max": args.reads_max }),
            figures: serde_json::json!({
                "cycle_s": measured.as_secs_f64(),
                "meters_per_s": per_s(cycle.read, measured),
                "resident_bytes_per_simulated_meter": bytes_per_meter(before_fleet, after_fleet),
                "resident_bytes_per_billed_meter": bytes_per_meter(before_headend, after_cycles),
            }),
            baseline: serde_json::json!({ "bare_reads_s": baseline.as_secs_f64(),
                                          "bare_reads_meters_per_s": per_s(args.meters, baseline) }),
            ratios: serde_json::json!({ "cycle_per_bare_reads": measured.as_secs_f64() / baseline.as_secs_f64().max(1e-9),
                                        "goal_cycle_s_at_100000": 60 }),
        })
        .await
}
