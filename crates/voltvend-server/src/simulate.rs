//! `voltvend simulate`: a fleet of simulated prepaid meters on real sockets (DL/T 645 over TCP, as an
//! RS-485 gateway presents it), with time running `acceleration` times faster than the wall clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use voltvend_domain::Clock;
use voltvend_meter::controller::{ControllerConfig, CreditUnit, FriendlyHours, Mode};
use voltvend_meter::fleet::Fleet;
use voltvend_meter::gateway::{self, SharedFleet};

#[derive(Debug, Parser)]
#[command(name = "simulate")]
pub struct SimulateArgs {
    /// Number of meters (addresses 000000000001 upwards).
    #[arg(long, default_value_t = 100)]
    pub meters: usize,
    /// How many of them (the last ones) are water meters with flow profiles (registers in litres).
    #[arg(long, default_value_t = 0)]
    pub water_meters: usize,
    /// Where the DL/T 645 gateway listens.
    #[arg(long, default_value = "127.0.0.1:6450")]
    pub dlt645_listen: String,
    /// Where the Modbus TCP gateway listens (unit id = meter number, up to 247); off unless given.
    #[arg(long)]
    pub modbus_listen: Option<String>,
    /// Register map: `acrel-ddsy1352`, `generic-prepaid`, or a map file (TOML) (with --modbus-listen).
    #[arg(long, default_value = "generic-prepaid", requires = "modbus_listen")]
    pub modbus_map: String,
    /// MQTT broker (host:port) to publish readings to; off unless given.
    #[arg(long)]
    pub mqtt_broker: Option<String>,
    /// Topic prefix: readings go to `PREFIX/METER_NO/reading`, retained (with --mqtt-broker).
    #[arg(long, default_value = "voltvend/sim", requires = "mqtt_broker")]
    pub mqtt_prefix: String,
    /// Real seconds between publishing rounds (with --mqtt-broker).
    #[arg(long, default_value_t = 15, requires = "mqtt_broker")]
    pub mqtt_interval_s: u64,
    /// Simulated seconds per real second; 0 pauses the clock (for tests and demonstrations).
    #[arg(long, default_value_t = 60)]
    pub acceleration: u32,
    /// Simulated hours to run before serving, so registers start with history.
    #[arg(long, default_value_t = 0)]
    pub warm_up_hours: u32,
    /// 4G meters: dial this head end (HOST:PORT) instead of (as well as) serving the gateway.
    #[arg(long)]
    pub dial_in: Option<String>,
    /// How many meters (from 000000000001) dial in; each needs one socket.
    #[arg(long, default_value_t = 0)]
    pub dial_in_meters: usize,
    /// Fault: these meter numbers stop answering (comma-separated, e.g. 2,5).
    #[arg(long, value_delimiter = ',')]
    pub fault_silent: Vec<u64>,
    /// Fault: every Nth reply on a connection has a corrupted checksum.
    #[arg(long, default_value_t = 0)]
    pub fault_corrupt_every: u64,
    /// Fault: every Nth request on a connection closes it instead of being answered.
    #[arg(long, default_value_t = 0)]
    pub fault_drop_every: u64,
    /// Fault: delay before each reply, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub fault_delay_ms: u64,
    /// Fault: the first N meters start just below register rollover (999 990 kWh).
    #[arg(long, default_value_t = 0)]
    pub fault_rollover_meters: usize,
    /// Fault: each meter's clock drifts by up to ± this many ppm (seeded).
    #[arg(long, default_value_t = 0)]
    pub fault_clock_drift_ppm: i64,
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
    let fleet = Fleet::with_water(
        args.meters,
        args.water_meters,
        args.seed,
        clock.now(),
        &controller_config(tz),
        args.credit_kwh * 1_000,
    );
    start_fleet(args, fleet).await
}

/// Like [`start`], for a fleet made elsewhere: the demo's, which has already run through the weeks of history
/// it seeded, so that its registers and relays go on from where the database's readings left them. The
/// fleet's own meters, seed, clock and controllers are used; `args` gives the sockets, faults and speed.
pub async fn start_fleet(args: &SimulateArgs, fleet: Fleet) -> anyhow::Result<(std::net::SocketAddr, SharedFleet)> {
    let fleet = Arc::new(Mutex::new(fleet));
    let listener = tokio::net::TcpListener::bind(&args.dlt645_listen)
        .await
        .with_context(|| format!("cannot listen on {} (pass --dlt645-listen HOST:PORT)", args.dlt645_listen))?;
    let addr = listener.local_addr()?;
    {
        let mut f = fleet.lock().unwrap_or_else(|p| p.into_inner());
        let ppm = args.fault_clock_drift_ppm.abs();
        for (i, m) in f.meters_mut().iter_mut().enumerate() {
            if i < args.fault_rollover_meters {
                m.set_registers_wh(999_990_000);
            }
            if ppm > 0 {
                // Spread evenly over [-ppm, +ppm] by meter number: reproducible, no random source needed.
                m.clock_drift_ppm = (i as i64 * 7_919) % (2 * ppm + 1) - ppm;
            }
        }
        for _ in 0..args.warm_up_hours.min(24 * 366) {
            for _ in 0..4 {
                f.step(SignedDuration::from_mins(15));
            }
        }
    }
    let faults: gateway::SharedFaults = Arc::new(Mutex::new(gateway::Faults {
        silent: args
            .fault_silent
            .iter()
            .filter_map(|n| voltvend_dlt645::Address::from_meter_no(&format!("{n:012}")).ok())
            .collect(),
        corrupt_every: args.fault_corrupt_every,
        drop_every: args.fault_drop_every,
        delay: Duration::from_millis(args.fault_delay_ms),
        forget_writes: false,
    }));
    tokio::spawn(gateway::serve_with_faults(listener, fleet.clone(), faults.clone()));
    if let Some(head_end) = &args.dial_in {
        let addresses: Vec<_> = {
            let f = fleet.lock().unwrap_or_else(|p| p.into_inner());
            f.meters().iter().take(args.dial_in_meters).map(|m| m.address).collect()
        };
        for address in addresses {
            tokio::spawn(gateway::dial_in(
                head_end.clone(),
                address,
                fleet.clone(),
                faults.clone(),
                Duration::from_secs(5),
            ));
        }
    }
    if args.acceleration == 0 {
        return Ok((addr, fleet));
    }
    let ticker = fleet.clone();
    let accel = i64::from(args.acceleration);
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

/// Starts the Modbus TCP gateway for a running fleet; returns its address.
pub async fn start_modbus(listen: &str, map: &str, fleet: SharedFleet) -> anyhow::Result<std::net::SocketAddr> {
    use voltvend_meter::modbus::{self, RegisterMap};
    let text = match map {
        "acrel-ddsy1352" => modbus::ACREL_DDSY1352.to_string(),
        "generic-prepaid" => modbus::GENERIC_PREPAID.to_string(),
        path => std::fs::read_to_string(path).with_context(|| format!("cannot read register map {path}"))?,
    };
    let map = RegisterMap::parse(&text)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (pass --modbus-listen HOST:PORT)"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = modbus::serve(listener, fleet, map).await {
            tracing::error!(error = %e, "Modbus gateway stopped");
        }
    });
    Ok(addr)
}

impl SimulateArgs {
    /// Refuses counts that name more meters than the fleet has, and options that would be ignored.
    pub fn validate(&self) -> anyhow::Result<()> {
        let meters = self.meters;
        for (flag, n) in [
            ("--water-meters", self.water_meters),
            ("--dial-in-meters", self.dial_in_meters),
            ("--fault-rollover-meters", self.fault_rollover_meters),
        ] {
            if n > meters {
                anyhow::bail!("{flag} {n} is more than the {meters} meters simulated (--meters)");
            }
        }
        if let Some(n) = self.fault_silent.iter().find(|n| **n == 0 || **n > meters as u64) {
            anyhow::bail!("--fault-silent {n} is not a meter number: meters are numbered 1 to {meters}");
        }
        match (&self.dial_in, self.dial_in_meters) {
            (Some(_), 0) => anyhow::bail!("--dial-in needs --dial-in-meters N: how many meters dial in"),
            (None, n) if n > 0 => anyhow::bail!("--dial-in-meters {n} needs --dial-in HOST:PORT to dial"),
            _ => {}
        }
        if self.mqtt_interval_s == 0 {
            anyhow::bail!("--mqtt-interval-s must be at least 1");
        }
        Ok(())
    }
}

pub async fn run(args: SimulateArgs, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    args.validate()?;
    let (addr, fleet) = start(&args, clock.as_ref()).await?;
    let modbus = match &args.modbus_listen {
        Some(listen) => format!(
            "; Modbus TCP gateway on {} ({})",
            start_modbus(listen, &args.modbus_map, fleet.clone()).await?,
            args.modbus_map
        ),
        None => String::new(),
    };
    let mqtt = match &args.mqtt_broker {
        Some(broker) => {
            let (host, port) = broker.rsplit_once(':').context("--mqtt-broker must be HOST:PORT")?;
            let port: u16 = port.parse().context("--mqtt-broker port must be a number")?;
            voltvend_meter::mqtt::start_publisher(
                host,
                port,
                &format!("voltvend-sim-{}", std::process::id()),
                &args.mqtt_prefix,
                Duration::from_secs(args.mqtt_interval_s.max(1)),
                fleet.clone(),
            );
            format!("; MQTT readings to {broker} under {}/", args.mqtt_prefix)
        }
        None => String::new(),
    };
    println!(
        "simulating {} meters; DL/T 645 gateway on {addr}{modbus}{mqtt}; {}× time",
        args.meters, args.acceleration
    );
    crate::serve::shutdown_signal().await;
    Ok(())
}
