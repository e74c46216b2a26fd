use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tempfile::TempDir;
use voltvend_dlt645::Address;
use voltvend_domain::{Channel, ManualClock, MeterId};
use voltvend_headend::{Config, HeadEnd, HeadEndError, LinkError, Reconnect};
use voltvend_meter::controller::{ControllerConfig, CreditUnit, FriendlyHours, Mode};
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

fn fleet_config() -> ControllerConfig {
    ControllerConfig {
        mode: Mode::Remote,
        credit_unit: CreditUnit::Energy,
        alarm1: 0,
        alarm2: 0,
        overdraft_limit: 0,
        hoarding_limit: None,
        power_limit_w: None,
        overpower_trip_s: 300,
        warning_trip_s: 60,
        friendly: FriendlyHours { night: None, weekends: false, holidays: vec![] },
        time_zone: TimeZone::get("Asia/Shanghai").unwrap(),
    }
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

impl World {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("headend.sqlite").display());
        let clock = Arc::new(ManualClock::new(start()));
        let mut options = OpenOptions::new(&url).creating();
        options.context = Arc::new(Estate::context());
        let store = voltvend_store::open(&options, clock.clone()).await.unwrap();
        store.migrate().await.unwrap();
        let estate = Estate::new(11);
        for op in estate.setup.clone() {
            store.submit(op).await.unwrap();
        }
        let mut fleet = Fleet::new(101, 5, start(), &fleet_config(), 0);
        let address = Address::from_meter_no(ADDRESS).unwrap();
        fleet.meter_mut(&address).unwrap().set_registers_wh(1_000_000);
        let fleet: SharedFleet = Arc::new(Mutex::new(fleet));
        let faults = SharedFaults::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = listener.local_addr().unwrap();
        tokio::spawn(gateway::serve_with_faults(listener, fleet.clone(), faults.clone()));
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
        let channel = format!("dlt645+tcp://127.0.0.1:{}", world.gateway.port());
        world.set_channel(&channel).await;
        world
    }

    fn meter(&self) -> MeterId {
        self.estate.remote_meter
    }

    async fn set_channel(&mut self, channel: &str) {
        let c: Channel = channel.parse().unwrap();
        let op =
            self.estate.system(Command::SetMeterChannel(SetMeterChannel { meter_id: self.meter(), channel: Some(c) }));
        self.store.submit(op).await.unwrap();
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
    let flagged = w.store.readings(w.meter(), 10).await.unwrap();
    assert!(
        flagged.iter().any(|r| r.status == voltvend_ops::ReadingStatus::Flagged && r.note.contains("went backwards")),
        "{flagged:?}"
    );
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
