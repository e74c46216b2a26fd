//! `voltvend bench relay`: how long from the reading that uses up a meter's credit to its relay open at the
//! meter, and from a sale that restores the credit to the relay closed again — through the whole loop: the
//! reading read over DL/T 645, priced and debited by the operations spine (which queues the trip), the command
//! loop woken, the control frame sent and the relay read back; the sale committed, the close queued and carried
//! out the same way. Beside it, the baseline: a bare control request and status read over the same gateway.
//! Latencies are observed at the simulated meter every millisecond (the resolution of these figures).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use voltvend_dlt645::app::{Password, RelayAction};
use voltvend_dlt645::{Address, Request};
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
pub struct RelayArgs {
    /// Meters tripped and closed again, each once.
    #[arg(long, default_value_t = 200)]
    meters: usize,
    /// Meters going through the loop at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    #[command(flatten)]
    out: crate::bench::JsonOut,
}

pub async fn run(settings: &Settings, clock: Arc<dyn Clock>, args: RelayArgs) -> anyhow::Result<()> {
    if args.meters == 0 || args.concurrency == 0 {
        bail!("--meters and --concurrency must be at least 1");
    }
    if args.meters > 999_999 {
        bail!("--meters is at most 999999 (the simulator's meter numbers)");
    }
    crate::bench::with_bench_store(settings, clock.clone(), |store| bench(store, clock, &args)).await
}

/// Waits until the simulated meter's relay is `closed` (or gives up after `limit`).
async fn relay_becomes(fleet: &SharedFleet, address: &Address, closed: bool, limit: Duration) -> Option<Instant> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        let now = fleet.lock().unwrap_or_else(|p| p.into_inner()).meter(address).map(|m| m.controller.relay_closed());
        if now == Some(closed) {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    None
}

/// p50, p99 and the maximum, in milliseconds.
fn percentiles_ms(v: &mut [Duration]) -> [f64; 3] {
    v.sort();
    let at = |p: usize| v.get((v.len() * p / 100).min(v.len().saturating_sub(1))).copied().unwrap_or_default();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    [ms(at(50)), ms(at(99)), ms(v.last().copied().unwrap_or_default())]
}

fn percentiles(mut v: Vec<Duration>) -> String {
    let [p50, p99, max] = percentiles_ms(&mut v);
    format!("p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms")
}

async fn bench(store: Arc<dyn Store>, clock: Arc<dyn Clock>, args: &RelayArgs) -> anyhow::Result<()> {
    crate::bench::claim(store.as_ref()).await?;
    let ids = Arc::new(IdGenerator::new(clock.clone()));
    let estate = Arc::new(crate::bench::setup(&store, &ids, args.meters).await?);
    let fleet = Fleet::new(args.meters, 9, clock.now(), &crate::demo::fleet_config()?, 0);
    let fleet: SharedFleet = Arc::new(Mutex::new(fleet));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gw = listener.local_addr()?;
    tokio::spawn(gateway::serve(listener, fleet.clone()));
    let channel = Channel::Dlt645Gateway { host: gw.ip().to_string(), port: gw.port() };
    let ops = estate
        .accounts
        .iter()
        .map(|(_, m, _)| {
            let set = SetMeterChannel { meter_id: *m, channel: Some(channel.clone()), shows_credit: false };
            Operation::new(ids.id(), Actor::system("bench"), Command::SetMeterChannel(set))
        })
        .collect();
    crate::bench::submit_all(&store, ops).await?;
    let config = Config { max_power_w: None, ..Config::default() };
    let headend = HeadEnd::new(store.clone(), clock.clone(), config.clone(), 5);
    // Every meter's first reading, where billing starts; the wallets are empty, the relays closed.
    for (_, meter, _) in estate.accounts.iter() {
        headend.poll_meter(*meter).await?;
    }
    let commands = tokio::spawn(headend.clone().run_command_loop());

    let limit = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (_, meter, _)) in estate.accounts.iter().enumerate() {
        let (headend, fleet, store, ids, estate, meter) =
            (headend.clone(), fleet.clone(), store.clone(), ids.clone(), estate.clone(), *meter);
        let address = Address::from_meter_no(&format!("{:012}", i + 1))?;
        let permit = limit.clone().acquire_owned().await?;
        tasks.spawn(async move {
            let _permit = permit;
            // 10 kWh more on the register: the empty wallet cannot pay, the supply is to trip.
            {
                let mut f = fleet.lock().unwrap_or_else(|p| p.into_inner());
                let m = f.meter_mut(&address).context("the simulated meter")?;
                let wh = m.register_wh(0);
                m.set_registers_wh(wh + 10_000);
            }
            let t = Instant::now();
            headend.poll_meter(meter).await?;
            let tripped = relay_becomes(&fleet, &address, false, Duration::from_secs(60)).await.context("no trip")?;
            let trip = tripped - t;
            // A sale through a cashier's shift restores the credit; the close is queued with it.
            let sale = crate::bench::operation(&ids, &estate, true, i)?;
            let t = Instant::now();
            store.submit(sale).await?;
            headend.wake();
            let closed = relay_becomes(&fleet, &address, true, Duration::from_secs(60)).await.context("no close")?;
            Ok::<_, anyhow::Error>((trip, closed - t))
        });
    }
    let (mut trips, mut closes) = (Vec::new(), Vec::new());
    while let Some(done) = tasks.join_next().await {
        let (trip, close) = done.context("a meter's task failed")??;
        trips.push(trip);
        closes.push(close);
    }
    commands.abort();

    // Baseline: a bare relay control request and a status read over the same gateway, as many times.
    let bus = link::gateway(gw.to_string(), config.reconnect, Arc::new(LinkHealth::default()), Jitter::new(3));
    let mut bare = Vec::new();
    let valid_until = jiff::civil::date(2099, 1, 1).at(0, 0, 0, 0);
    for i in 0..args.meters {
        let address = Address::from_meter_no(&format!("{:012}", i + 1))?;
        let request = Request::Control {
            password: Password(config.password),
            operator: config.operator_code,
            action: if i % 2 == 0 { RelayAction::Trip } else { RelayAction::ClosePermitted },
            valid_until,
        };
        let t = Instant::now();
        bus.request(address, request, config.request_timeout).await?;
        read::read_status_3(&bus, address, config.request_timeout).await?;
        bare.push(t.elapsed());
    }
    println!(
        "{} meters, {} at a time; latencies observed at the simulated meter (1 ms resolution):",
        args.meters, args.concurrency
    );
    let (trip, close, control) = (percentiles_ms(&mut trips), percentiles_ms(&mut closes), percentiles_ms(&mut bare));
    println!("reading that uses up the credit → relay open at the meter: {} (goal p99 ≤ 1 s)", percentiles(trips));
    println!("sale that restores the credit → relay closed at the meter: {} (goal p99 ≤ 2 s)", percentiles(closes));
    println!("baseline, a bare control request and status read on the same gateway: {}", percentiles(bare));
    let json = |[p50, p99, max]: [f64; 3]| serde_json::json!({ "p50_ms": p50, "p99_ms": p99, "max_ms": max });
    let [_, control_p99, _] = control;
    let ratio = |[_, p99, _]: [f64; 3]| p99 / control_p99.max(1e-9);
    args.out
        .write(crate::bench::Figures {
            bench: "relay",
            backend: Some(store.backend().to_string()),
            scenario: serde_json::json!({ "meters": args.meters, "concurrency": args.concurrency }),
            figures: serde_json::json!({ "reading_to_trip": json(trip), "sale_to_close": json(close) }),
            baseline: serde_json::json!({ "bare_control_and_status": json(control) }),
            ratios: serde_json::json!({ "trip_p99_per_bare_p99": ratio(trip), "close_p99_per_bare_p99": ratio(close),
                                        "goal_trip_p99_ms": 1_000, "goal_close_p99_ms": 2_000 }),
        })
        .await
}
