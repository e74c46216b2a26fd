use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tempfile::TempDir;
use voltvend_dlt645::Address;
use voltvend_domain::{Channel, ManualClock, MeterId};
use voltvend_headend::{Config, HeadEnd, HeadEndError, LinkError, Reconnect};
use voltvend_meter::controller::ControllerConfig;
use voltvend_meter::fleet::Fleet;
use voltvend_meter::gateway::{self, Faults, SharedFaults, SharedFleet};
use voltvend_ops::{Actor, Command, CommandKind, CommandStatus, IssueMeterCommand, Operation, Relay, SetMeterChannel};
use voltvend_store::{OpenOptions, Store};
use voltvend_testkit::estate::Estate;

fn start() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

/// The estate's remote meter's address (its fleet twin is the 101st simulated meter).
const ADDRESS: &str = "000000000101";

const WATER_TARIFF: &str = "code = \"test-water\"\nname = \"Test water 5.00\"\nutility = \"water\"\n\
    currency = \"CNY\"\ntime_zone = \"Asia/Shanghai\"\n[[versions]]\neffective_from = \"2020-01-01T00:00:00+08:00\"\n\
    prices = { all = \"5.00\" }\n";

fn fleet_config() -> ControllerConfig {
    ControllerConfig::remote(TimeZone::get("Asia/Shanghai").unwrap())
}

struct World {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    estate: Estate,
    fleet: SharedFleet,
    faults: SharedFaults,
    gateway: std::net::SocketAddr,
    headend: HeadEnd,
    _dir: TempDir,
}

/// How the estate's remote meter is reached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Dlt645,
    /// DL/T 645, the meter a water meter (registers in litres, its valve the supply switch) on a water tariff.
    Dlt645Water,
    /// Modbus TCP with the named register map, the meter behind unit id 101.
    Modbus(&'static str),
}

impl World {
    async fn new() -> Self {
        Self::build(Transport::Dlt645).await
    }

    async fn build(transport: Transport) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("headend.sqlite").display());
        let clock = Arc::new(ManualClock::new(start()));
        let mut options = OpenOptions::new(&url).creating();
        options.context = Arc::new(Estate::context());
        let store = voltvend_store::open(&options, clock.clone()).await.unwrap();
        store.migrate().await.unwrap();
        let mut estate = Estate::new(11);
        let water = usize::from(transport == Transport::Dlt645Water);
        let mut fleet = Fleet::with_water(101, water, 5, start(), &fleet_config(), 0);
        let address = Address::from_meter_no(ADDRESS).unwrap();
        fleet.meter_mut(&address).unwrap().set_registers_wh(1_000_000);
        let fleet: SharedFleet = Arc::new(Mutex::new(fleet));
        let faults = SharedFaults::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = listener.local_addr().unwrap();
        let modbus_map = match transport {
            Transport::Dlt645 | Transport::Dlt645Water => {
                tokio::spawn(gateway::serve_with_faults(listener, fleet.clone(), faults.clone()));
                None
            }
            Transport::Modbus(map) => {
                let parsed = voltvend_meter::modbus::RegisterMap::builtin(map).unwrap().unwrap();
                tokio::spawn(voltvend_meter::modbus::serve(listener, fleet.clone(), parsed));
                Some(map)
            }
        };
        let mut setup = estate.setup.clone();
        if transport == Transport::Dlt645Water {
            // 5.00 CNY/m³, flat.
            let doc = WATER_TARIFF.to_string();
            let import =
                voltvend_ops::ImportTariff { code: "test-water".into(), name: "Test water 5.00".into(), document: doc };
            setup.insert(0, estate.system(Command::ImportTariff(import)));
        }
        for mut op in setup {
            if transport == Transport::Dlt645Water {
                match &mut op.command {
                    Command::ReceiveMeter(m) if m.id == estate.remote_meter => {
                        m.utility = voltvend_domain::Utility::Water
                    }
                    Command::OpenAccount(o) if o.account_id == estate.account_a => {
                        o.meters[0].tariff_code = Some("test-water".into());
                    }
                    _ => {}
                }
            }
            // The same meter, received as a Modbus meter when it is reached over Modbus.
            if let (Command::ReceiveMeter(m), Some(_)) = (&mut op.command, modbus_map)
                && m.id == estate.remote_meter
            {
                m.protocol = voltvend_domain::MeterProtocol::ModbusTcp;
                m.address = format!("127.0.0.1:{}/101", gateway.port());
            }
            store.submit(op).await.unwrap();
        }
        let config = Config {
            request_timeout: Duration::from_millis(500),
            reconnect: Reconnect {
                connect_timeout: Duration::from_secs(2),
                backoff_first: Duration::from_millis(20),
                backoff_max: Duration::from_millis(200),
            },
            ..Config::default()
        };
        let headend = HeadEnd::new(store.clone(), clock.clone(), config, 42);
        let mut world = Self { store, clock, estate, fleet, faults, gateway, headend, _dir: dir };
        let channel = match modbus_map {
            None => format!("dlt645+tcp://127.0.0.1:{}", world.gateway.port()),
            Some(map) => format!("modbus+tcp://127.0.0.1:{}/101?map={map}", world.gateway.port()),
        };
        world.set_channel(&channel).await;
        world
    }

    fn meter(&self) -> MeterId {
        self.estate.remote_meter
    }

    async fn set_channel(&mut self, channel: &str) {
        self.set_channel_showing(channel, false).await;
    }

    async fn set_channel_showing(&mut self, channel: &str, shows_credit: bool) {
        let c: Channel = channel.parse().unwrap();
        let set = SetMeterChannel { meter_id: self.meter(), channel: Some(c), shows_credit };
        let op = self.estate.system(Command::SetMeterChannel(set));
        self.store.submit(op).await.unwrap();
    }

    /// What the simulated meter shows: the master station's balance and its four rate prices.
    fn sim_display(&self) -> (Option<u32>, [u32; 4]) {
        let a = Address::from_meter_no(ADDRESS).unwrap();
        let fleet = self.fleet.lock().unwrap();
        let p = &fleet.meter(&a).unwrap().protocol;
        (p.shown_money, p.rate_prices)
    }

    /// The simulated meter's total register, moved to `wh`.
    fn registers(&self, wh: i64) {
        let a = Address::from_meter_no(ADDRESS).unwrap();
        self.fleet.lock().unwrap().meter_mut(&a).unwrap().set_registers_wh(wh);
    }

    fn sim_relay_closed(&self) -> bool {
        let a = Address::from_meter_no(ADDRESS).unwrap();
        self.fleet.lock().unwrap().meter(&a).unwrap().controller.relay_closed()
    }

    async fn sell(&mut self, minor: i64) {
        let op = self.estate.remote_sale(minor);
        self.store.submit(op).await.unwrap();
    }

    async fn balance(&self) -> i64 {
        let a = self.store.account(self.estate.account_a).await.unwrap();
        self.store.ledger_account(a.wallet).await.unwrap().1.normal(voltvend_domain::Side::Credit)
    }

    /// One of the meter's stored readings is flagged, with `why` in its note.
    async fn assert_flagged(&self, why: &str) {
        let stored = self.store.readings(self.meter(), 10).await.unwrap();
        assert!(
            stored.iter().any(|r| r.status == voltvend_ops::ReadingStatus::Flagged && r.note.contains(why)),
            "{stored:?}"
        );
    }

    async fn commands(&self) -> Vec<(CommandKind, CommandStatus)> {
        let mut list = self.store.meter_commands_of(self.meter(), None, 50).await.unwrap();
        list.reverse();
        list.into_iter().map(|c| (c.kind, c.status)).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_runs_out_and_trips_and_a_sale_closes_it() {
    let mut w = World::new().await;
    w.sell(2_000).await;
    // The first read is where billing starts.
    let first = w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!((first.billed, first.charged_minor, first.balance_after_minor), (1, 0, 2_000));
    // 50 kWh at 0.60 cost 30.00: the wallet's 20.00 runs out, the relay is to trip.
    w.registers(1_050_000);
    w.clock.advance(SignedDuration::from_hours(1));
    let second = w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!((second.billed, second.charged_minor, second.balance_after_minor), (1, 3_000, 0));
    assert_eq!(w.commands().await, [(CommandKind::RelayTrip, CommandStatus::Pending)]);
    assert!(w.sim_relay_closed(), "nothing reached the meter yet");
    // The command loop carries it out and reads the meter back.
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert!(!w.sim_relay_closed(), "the meter's relay is open");
    assert_eq!(w.commands().await, [(CommandKind::RelayTrip, CommandStatus::Done)]);
    let control = w.store.meter_control(w.meter()).await.unwrap().unwrap();
    assert_eq!(control.reported.unwrap().relay, Some(Relay::Open));
    assert!(control.pending.is_empty());
    // A sale restores credit: a close is queued and carried out.
    w.sell(5_000).await;
    assert_eq!(w.store.meter(w.meter()).await.unwrap().relay, Relay::Closed);
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert!(w.sim_relay_closed());
    assert_eq!(
        w.commands().await,
        [(CommandKind::RelayTrip, CommandStatus::Done), (CommandKind::RelayClose, CommandStatus::Done)]
    );
    // Nothing left to do.
    assert_eq!(w.headend.run_commands().await.unwrap(), 0);
    let report = w.store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let metrics = w.headend.metrics_text();
    assert!(metrics.contains("voltvend_headend_reads_total{result=\"ok\"} 2"), "{metrics}");
    assert!(metrics.contains("voltvend_headend_command_attempts_total{result=\"done\"} 2"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "voltvend_headend_link_up{{transport=\"dlt645_tcp\",link=\"127.0.0.1:{}\"}} 1",
            w.gateway.port()
        )),
        "{metrics}"
    );
}

/// 最大需量: the meter's maximum-demand register is read with its energy and kept once per maximum, the time
/// the meter gives (Asia/Shanghai) placed on the estate's calendar; a new maximum after it is a second row; a
/// head end told not to read it reads only the energy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maximum_demand_register_is_read_and_each_maximum_kept_once() {
    let w = World::new().await;
    let a = Address::from_meter_no(ADDRESS).unwrap();
    let set_max = |watts: u32, at: Timestamp| {
        w.fleet.lock().unwrap().meter_mut(&a).unwrap().protocol.max_demand = Some((watts, at));
    };
    // 18.765 kW at 14:07 local on the 23rd (06:07:40 UTC: the register keeps the minute).
    set_max(18_765, "2026-11-23T06:07:40Z".parse().unwrap());
    let peaks = || w.store.peak_demands(None, None, Some(w.meter()), 0, i64::MAX);
    w.headend.poll_meter(w.meter()).await.unwrap();
    w.clock.advance(SignedDuration::from_hours(1));
    w.headend.poll_meter(w.meter()).await.unwrap();
    let kept = peaks().await.unwrap();
    let at_us = "2026-11-23T06:07:00Z".parse::<Timestamp>().unwrap().as_microsecond();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!((kept[0].demand_w, kept[0].at_us), (18_765, at_us));
    // A higher maximum later in the day: the peak is it.
    set_max(21_000, "2026-11-23T08:30:00Z".parse().unwrap());
    w.clock.advance(SignedDuration::from_hours(1));
    w.headend.poll_meter(w.meter()).await.unwrap();
    let kept = peaks().await.unwrap();
    assert_eq!((kept.len(), kept[0].demand_w), (1, 21_000), "one line per meter, its highest");
    // Only the morning's: the first maximum.
    let morning = w.store.peak_demands(None, None, Some(w.meter()), 0, at_us + 1).await.unwrap();
    assert_eq!(morning[0].demand_w, 18_765);

    // A head end that does not read the register keeps nothing new.
    let off = Config { read_max_demand: false, request_timeout: Duration::from_millis(500), ..Config::default() };
    let quiet = HeadEnd::new(w.store.clone(), w.clock.clone(), off, 43);
    set_max(30_000, "2026-11-23T09:00:00Z".parse().unwrap());
    w.clock.advance(SignedDuration::from_hours(1));
    quiet.poll_meter(w.meter()).await.unwrap();
    assert_eq!(peaks().await.unwrap()[0].demand_w, 21_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_drops_mid_poll_loses_no_reading_and_doubles_no_debit() {
    let mut w = World::new().await;
    w.sell(10_000).await;
    w.headend.poll_meter(w.meter()).await.unwrap();
    // Every third request gets the connection dropped: some reads fail part-way, and are read again.
    w.faults.lock().unwrap().drop_every = 3;
    let mut charged = 0;
    let mut failures = 0;
    for hour in 1..=6_i64 {
        w.registers(1_000_000 + hour * 10_000);
        w.clock.advance(SignedDuration::from_hours(1));
        loop {
            match w.headend.poll_meter(w.meter()).await {
                Ok(p) => {
                    charged += p.charged_minor;
                    break;
                }
                Err(HeadEndError::Link(LinkError::Down { .. })) => failures += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }
    assert!(failures > 0, "the fault was exercised");
    // 60 kWh at 0.60, exactly once.
    assert_eq!(charged, 3_600);
    assert_eq!(w.balance().await, 10_000 - 3_600);
    let readings = w.store.readings(w.meter(), 100).await.unwrap();
    assert_eq!(readings.len(), 7, "one reading per successful read, none doubled");
    let status = w.headend.meter_status(w.meter()).unwrap();
    assert_eq!(status.failures, 0, "the last read succeeded");
    assert!(w.headend.links()[0].downs > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_that_lies_is_flagged_and_not_billed() {
    let mut w = World::new().await;
    w.sell(5_000).await;
    w.headend.poll_meter(w.meter()).await.unwrap();
    w.registers(990_000);
    w.clock.advance(SignedDuration::from_hours(1));
    let p = w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!((p.billed, p.flagged, p.charged_minor), (0, 1, 0));
    assert_eq!(w.balance().await, 5_000);
    w.assert_flagged("went backwards").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_that_rolls_over_is_billed_across_the_wrap_and_an_impossible_jump_is_not() {
    let mut w = World::new().await;
    w.sell(5_000).await;
    w.registers(999_995_000);
    w.headend.poll_meter(w.meter()).await.unwrap();
    // 999 999.99 kWh wraps to zero: 5 kWh to the end and 3 kWh after, 8 kWh at 0.60.
    w.registers(3_000);
    w.clock.advance(SignedDuration::from_hours(1));
    let p = w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!((p.billed, p.flagged, p.charged_minor), (1, 0, 480));
    // 300 kWh in the next hour is more than the head end's 250 kW limit: flagged, not billed.
    w.registers(303_000);
    w.clock.advance(SignedDuration::from_hours(1));
    let p = w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!((p.billed, p.flagged, p.charged_minor), (0, 1, 0));
    assert_eq!(w.balance().await, 5_000 - 480);
    w.assert_flagged("250000 W").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friendly_hours_hold_the_trip_until_they_end() {
    let mut w = World::new().await;
    // The meter's tariff gains friendly hours: nobody is cut off between 22:00 and 07:00 Shanghai time.
    let document = format!("{}\n[friendly_hours]\nnight = \"22:00-07:00\"\n", voltvend_testkit::estate::FLAT_TARIFF);
    let import = w.estate.system(Command::ImportTariff(voltvend_ops::ImportTariff {
        code: "test-flat".into(),
        name: "Test flat 0.60".into(),
        document,
    }));
    w.store.submit(import).await.unwrap();
    w.sell(2_000).await;
    w.headend.poll_meter(w.meter()).await.unwrap();
    // 22:30 local: the credit runs out, but the trip waits.
    w.registers(1_050_000);
    w.clock.advance(SignedDuration::from_mins(6 * 60 + 30));
    let p = w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!((p.charged_minor, p.balance_after_minor), (3_000, 0));
    assert!(w.commands().await.is_empty(), "{:?}", w.commands().await);
    assert_eq!(w.headend.run_commands().await.unwrap(), 0);
    assert!(w.sim_relay_closed());
    // 06:30: still friendly; what is used meanwhile becomes arrears.
    w.registers(1_051_000);
    w.clock.advance(SignedDuration::from_hours(8));
    w.headend.poll_meter(w.meter()).await.unwrap();
    assert!(w.commands().await.is_empty());
    // 07:30: the first reading after them trips the supply.
    w.registers(1_052_000);
    w.clock.advance(SignedDuration::from_hours(1));
    w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!(w.commands().await, [(CommandKind::RelayTrip, CommandStatus::Pending)]);
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert!(!w.sim_relay_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_meter_fails_its_command_which_is_retried_later_and_keep_power_holds() {
    let mut w = World::new().await;
    let address = Address::from_meter_no(ADDRESS).unwrap();
    let admin = Actor::operator(w.estate.admin, w.estate.group.id, "10.0.0.9");
    let issue = |w: &mut World, kind| {
        let command =
            Command::IssueMeterCommand(IssueMeterCommand { meter_id: w.meter(), kind, reason: "test".into() });
        Operation::new(w.estate.next_op(), admin.clone(), command)
    };
    let op = issue(&mut w, CommandKind::RelayTrip);
    w.store.submit(op).await.unwrap();
    w.faults.lock().unwrap().silent.insert(address);
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    let c = w.store.meter_commands_of(w.meter(), None, 1).await.unwrap().remove(0);
    assert_eq!((c.status, c.attempts), (CommandStatus::Pending, 1));
    assert!(c.last_error.contains("no answer from 000000000101"), "{}", c.last_error);
    // Not due again until its backoff has passed.
    assert_eq!(w.headend.run_commands().await.unwrap(), 0);
    w.faults.lock().unwrap().silent.clear();
    w.clock.advance(SignedDuration::from_secs(30));
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert!(!w.sim_relay_closed());
    // Keep-power: the meter is told, reports it, and the head end records it done.
    let op = issue(&mut w, CommandKind::KeepPowerOn);
    w.store.submit(op).await.unwrap();
    w.headend.run_commands().await.unwrap();
    let a = Address::from_meter_no(ADDRESS).unwrap();
    assert!(w.fleet.lock().unwrap().meter(&a).unwrap().controller.keep_power());
    let reported = w.store.meter_control(w.meter()).await.unwrap().unwrap().reported.unwrap();
    assert_eq!(reported.keep_power, Some(true));
    assert!(w.commands().await.iter().all(|(_, s)| *s == CommandStatus::Done), "{:?}", w.commands().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4g_meter_dials_in_is_identified_read_and_commanded() {
    let mut w = World::new().await;
    w.set_channel("dlt645+dial-in").await;
    let address = Address::from_meter_no(ADDRESS).unwrap();
    // Before it dials in, it cannot be reached.
    assert!(matches!(w.headend.poll_meter(w.meter()).await, Err(HeadEndError::Link(LinkError::NotConnected { .. }))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let head_end = listener.local_addr().unwrap().to_string();
    let accepting = tokio::spawn(w.headend.clone().accept_dial_ins(listener));
    tokio::spawn(gateway::dial_in(
        head_end,
        address,
        w.fleet.clone(),
        Arc::new(Mutex::new(Faults::default())),
        Duration::from_millis(50),
    ));
    w.headend.dialled_in(&address).await;
    w.sell(1_000).await;
    let p = w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!(p.billed, 1);
    // An operator's command reaches it over its own link.
    let admin = Actor::operator(w.estate.admin, w.estate.group.id, "10.0.0.9");
    let command = Command::IssueMeterCommand(IssueMeterCommand {
        meter_id: w.meter(),
        kind: CommandKind::RelayTrip,
        reason: "test".into(),
    });
    w.store.submit(Operation::new(w.estate.next_op(), admin, command)).await.unwrap();
    w.headend.run_commands().await.unwrap();
    assert!(!w.sim_relay_closed());
    assert!(w.headend.links().iter().any(|l| l.transport == "dlt645_dial_in" && l.up));
    accepting.abort();
}

/// A broker on 127.0.0.1:1883 and `mosquitto_pub` (mosquitto-clients), a client no one here wrote.
fn mosquitto() -> bool {
    let ok = std::process::Command::new("mosquitto_pub")
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
        && std::net::TcpStream::connect("127.0.0.1:1883").is_ok();
    voltvend_testkit::peer_available(ok, "mosquitto_pub and a broker on 127.0.0.1:1883 (mosquitto-clients)")
}

/// Publishes a retained message with QoS 1; an empty payload clears what the topic retains.
fn publish(topic: &str, payload: &str) {
    let mut cmd = std::process::Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", "1883", "-q", "1", "-r", "-t", topic]);
    if payload.is_empty() {
        cmd.arg("-n")
    } else {
        cmd.args(["-m", payload])
    };
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "mosquitto_pub: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_telemetry_is_billed_exactly_as_polled_readings() {
    if !mosquitto() {
        return;
    }
    // The same meter's consumption, read over DL/T 645 by one head end and published by its gateway over MQTT
    // to another, in the simulator's own format.
    let mut polled = World::new().await;
    let mut pushed = World::new().await;
    // A topic prefix of this run alone: the broker is shared and keeps retained messages.
    let run = pushed._dir.path().file_name().unwrap().to_string_lossy().replace('.', "-");
    let prefix = format!("voltvend-test/{run}");
    let topic = format!("{prefix}/{ADDRESS}/reading");
    pushed.set_channel(&format!("mqtt:{prefix}")).await;
    let subscriber = pushed.headend.start_telemetry("127.0.0.1", 1883, &format!("voltvend-test-{run}"));
    let mut handled = 0;
    let mut steps = Vec::new();
    for (hours, wh, sale) in [(0, 1_000_000, 2_000), (1, 1_050_000, 0), (2, 1_072_345, 5_000), (3, 1_090_001, 0)] {
        for w in [&mut polled, &mut pushed] {
            if sale > 0 {
                w.sell(sale).await;
            }
            w.registers(wh);
            if hours > 0 {
                w.clock.advance(SignedDuration::from_hours(1));
            }
        }
        let a = polled.headend.poll_meter(polled.meter()).await.unwrap();
        let payload = {
            let fleet = pushed.fleet.lock().unwrap();
            let m = fleet.meter(&Address::from_meter_no(ADDRESS).unwrap()).unwrap();
            voltvend_meter::mqtt::reading_json(m, voltvend_domain::Clock::now(pushed.clock.as_ref()))
        };
        publish(&topic, &payload);
        handled += 1;
        pushed.headend.telemetry_handled(handled).await;
        let b = pushed.store.readings(pushed.meter(), 1).await.unwrap().remove(0);
        assert_eq!((b.reading.at, b.status), (a.at, voltvend_ops::ReadingStatus::Billed), "{payload}");
        steps.push((a.charged_minor, a.balance_after_minor, polled.balance().await, pushed.balance().await));
    }
    // 50 kWh at 0.60 empties the wallet; after a 50.00 sale, 22.345 kWh and 17.656 kWh with the remainder carried.
    let charged: Vec<i64> = steps.iter().map(|s| s.0).collect();
    assert_eq!(charged, [0, 3_000, 1_340, 1_060]);
    for (_, after, a, b) in &steps {
        assert_eq!(a, b, "both ways bill alike: {steps:?}");
        assert_eq!(after, a);
    }
    // The trip and the sale's close fall on the same instant of the manual clock, so compare them as sets.
    let sorted = |mut v: Vec<(CommandKind, CommandStatus)>| {
        v.sort_by_key(|(k, s)| (k.as_str(), s.as_str()));
        v
    };
    let queued = sorted(pushed.commands().await);
    assert_eq!(sorted(polled.commands().await), queued, "both ways queue the same commands");
    assert_eq!(
        queued,
        [(CommandKind::RelayClose, CommandStatus::Pending), (CommandKind::RelayTrip, CommandStatus::Superseded)]
    );
    // The same message again (a retained message is sent again on every new subscription) bills nothing.
    let last = pushed.store.readings(pushed.meter(), 1).await.unwrap().remove(0);
    let payload = {
        let fleet = pushed.fleet.lock().unwrap();
        let m = fleet.meter(&Address::from_meter_no(ADDRESS).unwrap()).unwrap();
        voltvend_meter::mqtt::reading_json(m, last.reading.at)
    };
    let before = pushed.balance().await;
    let again = pushed.headend.ingest_telemetry(&topic, payload.as_bytes()).await.unwrap();
    assert_eq!((again.billed, again.skipped, again.balance_after_minor), (0, 1, before));
    handled += 1;
    // A forged or broken message, and one of a meter not on this prefix, are refused and change nothing.
    publish(&topic, r#"{"meter":"000000000101","at":"2026-11-23T12:00:00Z","energy_total_kwh":"1e9"}"#);
    publish(&format!("{prefix}/000000000999/reading"), &payload.replace(ADDRESS, "000000000999"));
    handled += 2;
    pushed.headend.telemetry_handled(handled).await;
    assert_eq!(pushed.balance().await, before);
    let metrics = pushed.headend.metrics_text();
    assert!(metrics.contains("voltvend_headend_telemetry_messages_total{result=\"refused\"} 2"), "{metrics}");
    assert!(metrics.contains("voltvend_headend_telemetry_messages_total{result=\"taken\"} 5"), "{metrics}");
    assert!(
        pushed.headend.links().iter().any(|l| l.transport == "mqtt" && l.up && l.name == "mqtt://127.0.0.1:1883"),
        "{:?}",
        pushed.headend.links()
    );
    subscriber.abort();
    publish(&topic, "");
    publish(&format!("{prefix}/000000000999/reading"), "");
}

/// The same prepaid loop over Modbus TCP: the register map says where the energy and the relay are; a trip
/// and a close are writes of the relay register, each confirmed by reading it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modbus_meter_runs_out_and_trips_and_a_sale_closes_it() {
    let mut w = World::build(Transport::Modbus("generic-prepaid")).await;
    w.sell(2_000).await;
    let first = w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!((first.billed, first.charged_minor, first.balance_after_minor), (1, 0, 2_000));
    // 50 kWh at 0.60 = 30.00: the wallet runs out.
    w.registers(1_050_000);
    w.clock.advance(SignedDuration::from_hours(1));
    let second = w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!((second.billed, second.charged_minor, second.balance_after_minor), (1, 3_000, 0));
    assert_eq!(w.commands().await, [(CommandKind::RelayTrip, CommandStatus::Pending)]);
    assert!(w.sim_relay_closed());
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert!(!w.sim_relay_closed(), "the relay register write tripped the meter");
    assert_eq!(w.commands().await, [(CommandKind::RelayTrip, CommandStatus::Done)]);
    // A sale brings the balance back: the close is queued and carried out the same way.
    w.sell(5_000).await;
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert!(w.sim_relay_closed(), "closing permitted, and the simulated meter closes");
    assert_eq!(
        w.commands().await,
        [(CommandKind::RelayTrip, CommandStatus::Done), (CommandKind::RelayClose, CommandStatus::Done)]
    );
    // The link is listed with its transport and health.
    let links = w.headend.links();
    let link = links.iter().find(|l| l.transport == "modbus_tcp").unwrap();
    assert!(link.up && link.answered >= 6, "{link:?}");
    assert!(w.headend.metrics_text().contains("modbus_tcp"));
}

/// What a Modbus meter cannot do is said, and nothing is pretended: a map without a relay register fails the
/// trip with the reason (the command stays to be retried and seen), keep-power cannot be asked, and a map
/// name nobody knows is refused when the meter is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modbus_meter_says_what_its_map_cannot_do() {
    let mut w = World::build(Transport::Modbus("acrel-ddsy1352")).await;
    w.sell(2_000).await;
    w.headend.poll_meter(w.meter()).await.unwrap();
    w.registers(1_050_000);
    w.clock.advance(SignedDuration::from_hours(1));
    w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    let list = w.store.meter_commands_of(w.meter(), None, 10).await.unwrap();
    let trip = list.iter().find(|c| c.kind == CommandKind::RelayTrip).unwrap();
    assert_ne!(trip.status, CommandStatus::Done);
    assert!(trip.last_error.contains("no writable relay register"), "{trip:?}");
    assert!(w.sim_relay_closed(), "nothing was written");
    // Keep-power and set time have no registers in the maps: each command fails with the reason.
    let admin = Actor::operator(w.estate.admin, w.estate.group.id, "10.0.0.9");
    for kind in [CommandKind::KeepPowerOn, CommandKind::SetTime] {
        let command =
            Command::IssueMeterCommand(IssueMeterCommand { meter_id: w.meter(), kind, reason: "test".into() });
        let op = Operation::new(w.estate.next_op(), admin.clone(), command);
        w.store.submit(op).await.unwrap();
    }
    w.headend.run_commands().await.unwrap();
    let list = w.store.meter_commands_of(w.meter(), None, 10).await.unwrap();
    for (kind, what) in
        [(CommandKind::KeepPowerOn, "no keep-power register"), (CommandKind::SetTime, "no clock register")]
    {
        let c = list.iter().find(|c| c.kind == kind).unwrap();
        assert!(c.status != CommandStatus::Done && c.last_error.contains(what), "{c:?}");
    }
    // A channel naming a map that does not exist.
    let port = w.gateway.port();
    w.set_channel(&format!("modbus+tcp://127.0.0.1:{port}/101?map=no-such-map")).await;
    let e = w.headend.poll_meter(w.meter()).await.unwrap_err().to_string();
    assert!(e.contains("no-such-map") && e.contains("generic-prepaid"), "{e}");
    // A unit id no meter answers to times out alone; the link stays usable.
    w.set_channel(&format!("modbus+tcp://127.0.0.1:{port}/200?map=generic-prepaid")).await;
    let e = w.headend.poll_meter(w.meter()).await.unwrap_err();
    assert!(matches!(e, HeadEndError::Link(LinkError::Timeout { .. })), "{e}");
    w.set_channel(&format!("modbus+tcp://127.0.0.1:{port}/101?map=generic-prepaid")).await;
    w.clock.advance(SignedDuration::from_hours(1));
    w.headend.poll_meter(w.meter()).await.unwrap();
}

/// Set time per meter: the date and time written to the one meter with the password; a meter that refuses
/// the password is set by the bus's broadcast time instead. Either way the command is done only when the
/// meter's clock, read back, agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_time_writes_the_meters_clock_or_falls_back_to_broadcast() {
    let mut w = World::new().await;
    let address = Address::from_meter_no(ADDRESS).unwrap();
    let skew = |w: &World, us: i64| w.fleet.lock().unwrap().meter_mut(&address).unwrap().clock_offset_us = us;
    let offset = |w: &World| w.fleet.lock().unwrap().meter(&address).unwrap().clock_offset_us;
    let admin = voltvend_ops::Actor::operator(w.estate.admin, w.estate.group.id, "10.0.0.9");
    let set_time = |w: &mut World| {
        let command = Command::IssueMeterCommand(IssueMeterCommand {
            meter_id: w.meter(),
            kind: CommandKind::SetTime,
            reason: "test".into(),
        });
        Operation::new(w.estate.next_op(), admin.clone(), command)
    };
    // Another meter on the same bus, also fast: an addressed write leaves it alone, a broadcast does not.
    let neighbour = Address::from_meter_no("000000000100").unwrap();
    let neighbour_offset = |w: &World| w.fleet.lock().unwrap().meter(&neighbour).unwrap().clock_offset_us;
    w.fleet.lock().unwrap().meter_mut(&neighbour).unwrap().clock_offset_us = 600_000_000;
    skew(&w, 600_000_000);
    let op = set_time(&mut w);
    w.store.submit(op).await.unwrap();
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert!(offset(&w).abs() < 1_000_000, "the meter's clock was 10 minutes fast and is now right: {}", offset(&w));
    assert_eq!(neighbour_offset(&w), 600_000_000, "only the addressed meter was set");
    assert_eq!(w.commands().await.last(), Some(&(CommandKind::SetTime, CommandStatus::Done)));
    // A head end with another password: the write is refused (unauthorised) and the broadcast sets the clock.
    let wrong = HeadEnd::new(
        w.store.clone(),
        w.clock.clone(),
        Config { password: [0x02, 0x12, 0x34, 0x56], request_timeout: Duration::from_millis(500), ..Config::default() },
        7,
    );
    skew(&w, -300_000_000);
    let op = set_time(&mut w);
    w.store.submit(op).await.unwrap();
    assert_eq!(wrong.run_commands().await.unwrap(), 1);
    assert!(offset(&w).abs() < 1_000_000, "set by the broadcast: {}", offset(&w));
    assert!(neighbour_offset(&w).abs() < 1_000_000, "the broadcast set every meter on the bus");
    assert_eq!(w.commands().await.last(), Some(&(CommandKind::SetTime, CommandStatus::Done)));
}

/// The same loop for water: a water meter on an m³ tariff runs out, its valve shuts, and a sale opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_water_meters_valve_shuts_when_credit_runs_out_and_a_sale_opens_it() {
    let mut w = World::build(Transport::Dlt645Water).await;
    w.sell(2_000).await;
    // Whatever its register says, a water meter has no electrical demand to report.
    let a = Address::from_meter_no(ADDRESS).unwrap();
    w.fleet.lock().unwrap().meter_mut(&a).unwrap().protocol.max_demand = Some((5_000, start()));
    // 1 000 m³ on the register (litres, as the water meter counts).
    let first = w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!((first.billed, first.balance_after_minor), (1, 2_000));
    // 5 m³ at 5.00 = 25.00: more than the 20.00 paid; the valve is to shut.
    w.registers(1_005_000);
    w.clock.advance(SignedDuration::from_hours(1));
    let second = w.headend.poll_meter(w.meter()).await.unwrap();
    // The wallet pays 20.00; the 5.00 it cannot pay becomes arrears.
    assert_eq!((second.charged_minor, second.balance_after_minor), (2_500, 0));
    assert_eq!(w.commands().await, [(CommandKind::RelayTrip, CommandStatus::Pending)]);
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert!(!w.sim_relay_closed(), "the valve is shut");
    // 10.00 a minute later: a fifth recovers arrears, the rest is credit again: the valve opens.
    w.clock.advance(SignedDuration::from_mins(1));
    w.sell(1_000).await;
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert!(w.sim_relay_closed(), "the valve is open again");
    assert!(w.store.peak_demands(None, None, Some(w.meter()), 0, i64::MAX).await.unwrap().is_empty());
    assert_eq!(
        w.commands().await,
        [(CommandKind::RelayTrip, CommandStatus::Done), (CommandKind::RelayClose, CommandStatus::Done)]
    );
}

/// Poll groups: a meter is read by the first group that selects it (by utility, premises subtree or channel),
/// and only meters no group selects are read on the default schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_groups_read_the_meters_they_select() {
    use voltvend_headend::{GroupSelect, PollGroup};
    for transport in [Transport::Dlt645, Transport::Dlt645Water] {
        let w = World::build(transport).await;
        let group = |name: &str, select| PollGroup { name: name.into(), interval: Duration::from_secs(3_600), select };
        let gone = voltvend_domain::PremisesId::from_uuid(uuid::Uuid::from_u128(0xdead));
        let groups = vec![
            // Premises that are not there select nothing and stop no other group.
            group("gone", GroupSelect::Premises(gone)),
            group("water hourly", GroupSelect::Utility(voltvend_domain::Utility::Water)),
            group("block B", GroupSelect::Premises(w.estate.building_b.id)),
            group("this gateway", GroupSelect::Channel(format!("dlt645+tcp://127.0.0.1:{}", w.gateway.port()))),
        ];
        let config = Config { poll_groups: groups, request_timeout: Duration::from_millis(500), ..Config::default() };
        let h = HeadEnd::new(w.store.clone(), w.clock.clone(), config, 3);
        assert_eq!(h.poll_group(Some(0)).await.unwrap().meters, 0);
        let counts = [
            h.poll_group(Some(1)).await.unwrap().meters,
            h.poll_group(Some(2)).await.unwrap().meters,
            h.poll_group(Some(3)).await.unwrap().meters,
            h.poll_group(None).await.unwrap().meters,
        ];
        // The estate's one remote meter is in building A: a water meter is the water group's, an electricity
        // meter falls through block B (not its building) to its gateway's group; none is left to the default.
        let expect = if transport == Transport::Dlt645Water { [1, 0, 0, 0] } else { [0, 0, 1, 0] };
        assert_eq!(counts, expect);
        // Without groups, the default schedule reads it; a group of its building (the subtree) reads it too.
        assert_eq!(w.headend.poll_group(None).await.unwrap().meters, 1);
        let config = Config {
            poll_groups: vec![group("block A", GroupSelect::Premises(w.estate.building_a.id))],
            request_timeout: Duration::from_millis(500),
            ..Config::default()
        };
        let h = HeadEnd::new(w.store.clone(), w.clock.clone(), config, 4);
        assert_eq!((h.poll_group(Some(0)).await.unwrap().meters, h.poll_group(None).await.unwrap().meters), (1, 0));
    }
}

/// A meter that shows the master station's balance: a payment writes it to the display, and the write is done
/// only once the meter reads back what was written; the credit running out writes it again (nothing is written
/// at every reading); an operator's write_prices writes the tariff's price into the four rates. A meter that
/// takes the write but reads back something else keeps the command pending with the difference as its error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_and_the_credit_running_out_are_written_to_the_meters_display() {
    let mut w = World::new().await;
    let channel = format!("dlt645+tcp://127.0.0.1:{}", w.gateway.port());
    w.set_channel_showing(&channel, true).await;
    w.sell(2_000).await;
    assert_eq!(w.commands().await, [(CommandKind::WriteBalance, CommandStatus::Pending)]);
    let queued = w.store.meter_commands_of(w.meter(), None, 1).await.unwrap();
    assert_eq!(queued[0].value, "2000", "20.00 CNY, as hundredths");
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert_eq!(w.sim_display().0, Some(2_000));
    assert_eq!(w.commands().await, [(CommandKind::WriteBalance, CommandStatus::Done)]);
    // Readings that pass no level write nothing.
    w.headend.poll_meter(w.meter()).await.unwrap();
    w.registers(1_010_000);
    w.clock.advance(SignedDuration::from_hours(1));
    w.headend.poll_meter(w.meter()).await.unwrap();
    assert_eq!(w.commands().await.len(), 1, "10 kWh used, 14.00 left: nothing written");
    // The credit runs out: the trip, and the display told zero.
    w.registers(1_050_000);
    w.clock.advance(SignedDuration::from_hours(1));
    w.headend.poll_meter(w.meter()).await.unwrap();
    let mut pending: Vec<_> = w.commands().await.into_iter().filter(|c| c.1 == CommandStatus::Pending).collect();
    // Queued by one operation at one instant: in no particular order.
    pending.sort_by_key(|c| c.0.as_str());
    assert_eq!(
        pending,
        [(CommandKind::RelayTrip, CommandStatus::Pending), (CommandKind::WriteBalance, CommandStatus::Pending)]
    );
    assert_eq!(w.headend.run_commands().await.unwrap(), 2);
    assert_eq!(w.sim_display().0, Some(0));
    assert!(!w.sim_relay_closed());
    // The operator writes the tariff's prices: 0.60 flat in all four rates.
    let issue = Operation::new(
        w.estate.next_op(),
        Actor::operator(w.estate.admin, w.estate.group.id, "10.0.0.9"),
        Command::IssueMeterCommand(IssueMeterCommand {
            meter_id: w.meter(),
            kind: CommandKind::WritePrices,
            reason: "tariff shown at the meter".into(),
        }),
    );
    w.store.submit(issue).await.unwrap();
    assert_eq!(w.headend.run_commands().await.unwrap(), 1);
    assert_eq!(w.sim_display().1, [6_000; 4]);
    let list = w.store.meter_commands_of(w.meter(), None, 10).await.unwrap();
    let last = list.iter().find(|c| c.kind == CommandKind::WritePrices).unwrap();
    assert_eq!(
        (last.kind, last.status, last.value.as_str()),
        (CommandKind::WritePrices, CommandStatus::Done, "6000 6000 6000 6000")
    );
    // A meter that reads back something else than it took: not done, retried, the difference kept.
    w.sell(5_000).await;
    w.faults.lock().unwrap().forget_writes = true;
    w.headend.run_commands().await.unwrap();
    let list = w.store.meter_commands_of(w.meter(), None, 5).await.unwrap();
    let write =
        list.iter().find(|c| c.kind == CommandKind::WriteBalance && c.status == CommandStatus::Pending).unwrap();
    assert!(write.last_error.contains("reads back"), "{write:?}");
    let report = w.store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}
