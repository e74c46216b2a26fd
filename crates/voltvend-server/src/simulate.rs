//! `voltvend simulate`: a fleet of simulated prepaid meters on real sockets (DL/T 645 over TCP, as an
//! RS-485 gateway presents it), with time running `acceleration` times faster than the wall clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use voltvend_domain::Clock;
use voltvend_meter::controller::{ControllerConfig, CreditUnit, FriendlyHours, Mode};
use voltvend_meter::fleet::Fleet;
use voltvend_meter::gateway::{self, SharedFleet};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of meters (addresses 000000000001 upwards).
    #[arg(long, default_value_t = 100)]
    pub meters: usize,
    /// Where the DL/T 645 gateway listens.
    #[arg(long, default_value = "127.0.0.1:6450")]
    pub dlt645_listen: String,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 60)]
    pub acceleration: u32,
    /// Seed of the load profiles and their noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Opening credit of each meter, in kWh.
    #[arg(long, default_value_t = 50)]
    pub credit_kwh: i64,
    /// IANA time zone of the site (load curves and friendly hours are local).
    #[arg(long, default_value = "Asia/Shanghai")]
    pub time_zone: String,
}

/// A typical local-mode controller: energy credit, alarms at 20 and 5 kWh, friendly nights 22:00–07:00.
pub fn controller_config(time_zone: TimeZone) -> ControllerConfig {
    ControllerConfig {
        mode: Mode::Local,
        credit_unit: CreditUnit::Energy,
        alarm1: 20_000,
        alarm2: 5_000,
        overdraft_limit: 1_000,
        hoarding_limit: Some(2_000_000),
        power_limit_w: Some(10_000),
        overpower_trip_s: 300,
        warning_trip_s: 60,
        friendly: FriendlyHours { night: Some((22 * 60, 7 * 60)), weekends: false, holidays: vec![] },
        time_zone,
    }
}

/// Starts the gateway and the simulated clock; returns the address the gateway listens on.
pub async fn start(args: &SimulateArgs, clock: &dyn Clock) -> anyhow::Result<(std::net::SocketAddr, SharedFleet)> {
    let tz = TimeZone::get(&args.time_zone).with_context(|| format!("unknown time zone {:?}", args.time_zone))?;
    let fleet = Arc::new(Mutex::new(Fleet::new(
        args.meters,
        args.seed,
        clock.now(),
        &controller_config(tz),
        args.credit_kwh * 1_000,
    )));
    let listener = tokio::net::TcpListener::bind(&args.dlt645_listen)
        .await
        .with_context(|| format!("cannot listen on {} (pass --dlt645-listen HOST:PORT)", args.dlt645_listen))?;
    let addr = listener.local_addr()?;
    tokio::spawn(gateway::serve(listener, fleet.clone()));
    let ticker = fleet.clone();
    let accel = i64::from(args.acceleration.max(1));
    tokio::spawn(async move {
        // One real second per step keeps the fleet cheap; each step advances `accel` simulated seconds.
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        loop {
            interval.tick().await;
            let mut f = ticker.lock().unwrap_or_else(|p| p.into_inner());
            f.step(SignedDuration::from_secs(accel));
        }
    });
    Ok((addr, fleet))
}

pub async fn run(args: SimulateArgs, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let (addr, _fleet) = start(&args, clock.as_ref()).await?;
    println!("simulating {} meters; DL/T 645 gateway on {addr}; {}× time", args.meters, args.acceleration);
    crate::serve::shutdown_signal().await;
    Ok(())
}
