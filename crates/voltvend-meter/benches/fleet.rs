//! Scale of the simulator on this machine, each figure beside a baseline from the same run:
//! * memory per meter for a 100 000-meter fleet (resident set growth), beside the size of the meter struct;
//! * time to advance every meter 15 minutes, beside a loop that only reads one register of every meter;
//! * time to read the energy register of all 100 000 meters over TCP (8 connections, 64 requests in flight
//!   each), beside answering the same requests in-process without sockets.
//!
//! Run: `cargo bench -p voltvend-meter --bench fleet` (add `-- 10000` for a smaller fleet).

// A measurement tool, not library code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use voltvend_dlt645::{Address, Request};
use voltvend_meter::codec::Dlt645Codec;
use voltvend_meter::controller::{ControllerConfig, CreditUnit, FriendlyHours, Mode};
use voltvend_meter::fleet::{Fleet, SimMeter};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4_096
}

fn cfg() -> ControllerConfig {
    ControllerConfig {
        mode: Mode::Local,
        credit_unit: CreditUnit::Energy,
        alarm1: 20_000,
        alarm2: 5_000,
        overdraft_limit: 1_000,
        hoarding_limit: None,
        power_limit_w: Some(10_000),
        overpower_trip_s: 300,
        warning_trip_s: 60,
        friendly: FriendlyHours { night: Some((22 * 60, 7 * 60)), weekends: false, holidays: vec![] },
        time_zone: TimeZone::get("Asia/Shanghai").unwrap(),
    }
}

const CONNECTIONS: usize = 8;
const IN_FLIGHT: usize = 64;

fn main() {
    let n: usize = std::env::args().filter_map(|a| a.parse().ok()).next().unwrap_or(100_000);
    let start = "2026-11-23T08:00:00+08:00".parse().unwrap();

    let before = rss_bytes();
    let fleet = Fleet::new(n, 1, start, &cfg(), 50_000_000);
    let after = rss_bytes();
    println!(
        "memory: {n} meters, {:.0} bytes/meter resident (baseline: size_of::<SimMeter>() = {} bytes)",
        (after.saturating_sub(before)) as f64 / n as f64,
        std::mem::size_of::<SimMeter>()
    );

    let fleet = Arc::new(Mutex::new(fleet));
    let t = Instant::now();
    let mut sum = 0_i64;
    for m in fleet.lock().unwrap().meters() {
        sum += m.register_wh(0);
    }
    black_box(sum);
    let baseline = t.elapsed();
    let t = Instant::now();
    fleet.lock().unwrap().step(SignedDuration::from_mins(15));
    let stepped = t.elapsed();
    println!(
        "step: advancing {n} meters 15 min took {:.1} ms ({:.0} ns/meter); baseline reading one register of each: {:.2} ms",
        stepped.as_secs_f64() * 1e3,
        stepped.as_nanos() as f64 / n as f64,
        baseline.as_secs_f64() * 1e3
    );

    let addresses: Vec<Address> = fleet.lock().unwrap().meters().iter().map(|m| m.address).collect();
    let t = Instant::now();
    for a in &addresses {
        let f = Request::Read { di: 0x0001_0000 }.to_frame(*a);
        black_box(fleet.lock().unwrap().handle(&f).map(|r| r.encode(4)));
    }
    let in_process = t.elapsed();

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let over_tcp = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(voltvend_meter::gateway::serve(listener, fleet.clone()));
        let t = Instant::now();
        let mut tasks = Vec::new();
        for chunk in addresses.chunks(n.div_ceil(CONNECTIONS)) {
            let chunk = chunk.to_vec();
            tasks.push(tokio::spawn(async move {
                let mut framed = Framed::new(TcpStream::connect(addr).await.unwrap(), Dlt645Codec::default());
                let (mut sent, mut got) = (0, 0);
                while got < chunk.len() {
                    while sent < chunk.len() && sent - got < IN_FLIGHT {
                        framed.feed(Request::Read { di: 0x0001_0000 }.to_frame(chunk[sent])).await.unwrap();
                        sent += 1;
                    }
                    framed.flush().await.unwrap();
                    let reply = framed.next().await.unwrap().unwrap();
                    assert_eq!(reply.address, chunk[got], "replies come in order");
                    got += 1;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        t.elapsed()
    });
    println!(
        "poll: read the energy register of all {n} meters over TCP in {:.2} s ({:.0} reads/s, {CONNECTIONS} connections); baseline in-process without sockets: {:.2} s ({:.0} reads/s)",
        over_tcp.as_secs_f64(),
        n as f64 / over_tcp.as_secs_f64(),
        in_process.as_secs_f64(),
        n as f64 / in_process.as_secs_f64()
    );
}
