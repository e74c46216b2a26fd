//! The head end: reads every meter with a channel on a schedule (and on demand), hands the readings and what
//! the meter said of its supply to the operations spine, and carries out the command outbox.
//!
//! Nothing here decides about money or supply: `ApplyReadings` prices, debits and decides to trip;
//! `RecordCommandAttempt` decides whether a command is done. The head end only talks to meters and reports
//! what they said, with operation ids derived from what it reports, so that a report submitted twice (a retry
//! after the database was briefly away) is applied once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::codec::Framed;
use voltvend_dlt645::app::{F_READ_ADDRESS, Password, RelayAction};
use voltvend_dlt645::{Address, Reply, Request};
use voltvend_domain::tariff::pricing::Reading;
use voltvend_domain::{Channel, Clock, ControlMode, MeterId, OperationId, PremisesId};
use voltvend_meter::codec::Dlt645Codec;
use voltvend_ops::{
    Actor, Applied, ApplyReadings, AttemptResult, Command, CommandKind, MeterCommand, MeterControl, MeterRecord,
    Operation, Outcome, ReadingLimits, RecordCommandAttempt, TariffCache, TariffDoc,
};
use voltvend_store::{Store, StoreError};

use crate::health::{LinkHealth, LinkStatus, MeterHealth, MeterStatus};
use crate::jitter::Jitter;
use crate::link::{self, Bus, LinkError, Reconnect};
use crate::modbus::ModbusLink;
use crate::read::{self, EnergyRead};
use voltvend_meter::modbus::RegisterMap;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Which meters a poll group reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSelect {
    /// Meters of one utility (water meters read hourly, say).
    Utility(voltvend_domain::Utility),
    /// Meters in a premises subtree (an industrial park's feeders every 5 minutes).
    Premises(PremisesId),
    /// Meters whose channel starts with this text (`dlt645+tcp://10.0.0.5:8899`: one gateway's meters).
    Channel(String),
}

/// A poll group: the meters it selects are read every `interval` instead of the default. A meter belongs to the
/// first group that selects it; meters no group selects are read every [`Config::poll_interval`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollGroup {
    pub name: String,
    pub interval: Duration,
    pub select: GroupSelect,
}

/// How the head end works. Every bound is named here.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often every meter no poll group selects is read.
    pub poll_interval: Duration,
    /// Poll groups with their own intervals, in order of precedence.
    pub poll_groups: Vec<PollGroup>,
    /// How long one request waits for a meter's answer.
    pub request_timeout: Duration,
    /// Meters read at once, over all links (each bus still carries one request at a time).
    pub reads_max: usize,
    /// How often the command outbox is looked at when nothing wakes it.
    pub commands_interval: Duration,
    /// Commands carried out at once (on different meters; one meter's commands go in order).
    pub commands_max: usize,
    /// How long a relay command sent to a meter stays valid (its N3–N8 valid-until time).
    pub control_validity: SignedDuration,
    /// DL/T 645 password (PA P0 P1 P2) and operator code (C0–C3) for control and write requests.
    pub password: [u8; 4],
    pub operator_code: [u8; 4],
    /// How far a meter's clock may be from the head end's after a time set.
    pub clock_tolerance: SignedDuration,
    pub reconnect: Reconnect,
    /// How long a meter that dialled in has to say who it is.
    pub identify_timeout: Duration,
    /// The highest average power a supply carries: more consumption than this between two readings is
    /// impossible, flagged for review and not billed. `None` checks no limit.
    pub max_power_w: Option<i64>,
    /// Read each DL/T 645 meter's maximum-demand register with its energy (one request more per poll), kept
    /// once per maximum for the peak-demand report.
    pub read_max_demand: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(15 * 60),
            poll_groups: Vec::new(),
            request_timeout: Duration::from_secs(2),
            reads_max: 256,
            commands_interval: Duration::from_secs(1),
            commands_max: 64,
            control_validity: SignedDuration::from_mins(10),
            password: [0x02, 0, 0, 0],
            operator_code: [0; 4],
            clock_tolerance: SignedDuration::from_secs(60),
            reconnect: Reconnect {
                connect_timeout: Duration::from_secs(5),
                backoff_first: Duration::from_millis(500),
                backoff_max: Duration::from_secs(60),
            },
            identify_timeout: Duration::from_secs(10),
            max_power_w: Some(250_000),
            read_max_demand: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HeadEndError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("meter {meter}: {why}")]
    Meter { meter: MeterId, why: String },
    #[error("MQTT telemetry refused: {why}")]
    Telemetry { why: String },
}

/// What one read of one meter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled {
    pub meter_id: MeterId,
    pub at: Timestamp,
    pub billed: usize,
    pub skipped: usize,
    pub flagged: usize,
    pub charged_minor: i64,
    pub balance_after_minor: i64,
}

/// What a whole poll cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cycle {
    pub meters: usize,
    pub read: usize,
    pub failed: usize,
    pub flagged: usize,
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
struct Counters {
    reads_ok: AtomicU64,
    reads_failed: AtomicU64,
    readings_billed: AtomicU64,
    readings_flagged: AtomicU64,
    commands_done: AtomicU64,
    commands_failed: AtomicU64,
    cycles: AtomicU64,
    telemetry_ok: AtomicU64,
    telemetry_refused: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Config,
    gateways: Mutex<HashMap<String, (Bus, Arc<LinkHealth>)>>,
    /// Modbus TCP endpoints, by host:port.
    modbus: Mutex<HashMap<String, Arc<ModbusLink>>>,
    /// Register maps by name, parsed once.
    maps: Mutex<HashMap<String, Arc<RegisterMap>>>,
    dialled: Mutex<HashMap<Address, (Bus, Arc<LinkHealth>)>>,
    meters: MeterHealth,
    tariffs: TariffCache,
    zones: Mutex<HashMap<PremisesId, TimeZone>>,
    jitter: Mutex<Jitter>,
    wake: Notify,
    /// Bumped whenever a meter dials in, for those waiting on one.
    dial_ins: tokio::sync::watch::Sender<u64>,
    reads: Arc<Semaphore>,
    counters: Counters,
    /// Meters read from MQTT telemetry, by topic prefix and meter number, and when that was last looked up.
    telemetry: Mutex<(TelemetryIndex, Option<Timestamp>)>,
    /// Broker connections and their health.
    brokers: Mutex<HashMap<String, Arc<LinkHealth>>>,
    /// Bumped whenever a telemetry message has been dealt with, for those waiting on one.
    telemetry_handled: tokio::sync::watch::Sender<u64>,
}

/// Meters read from MQTT telemetry, by topic prefix and meter number.
type TelemetryIndex = HashMap<(String, String), MeterId>;

/// The head end. Cheap to clone; every clone is the same head end.
#[derive(Debug, Clone)]
pub struct HeadEnd {
    inner: Arc<Inner>,
}

/// An operation id derived from what it records, time-ordered by `at` (UUIDv8 with the millisecond time in
/// front, as UUIDv7 has it), so that the same report always has the same id.
fn derived_op_id(kind: &str, parts: &[&[u8]], at: Timestamp) -> OperationId {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(kind.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    let ms = u64::try_from(at.as_millisecond()).unwrap_or(0).to_be_bytes();
    if let (Some(front), Some(time)) = (bytes.get_mut(..6), ms.get(2..)) {
        front.copy_from_slice(time);
    }
    OperationId::from_uuid(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

impl HeadEnd {
    /// A head end over `store`; `seed` spreads its timers (draw it at random in production).
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Config, seed: u64) -> Self {
        let reads = Arc::new(Semaphore::new(config.reads_max.max(1)));
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                gateways: Mutex::default(),
                modbus: Mutex::default(),
                maps: Mutex::default(),
                dialled: Mutex::default(),
                meters: MeterHealth::default(),
                tariffs: TariffCache::default(),
                zones: Mutex::default(),
                jitter: Mutex::new(Jitter::new(seed)),
                wake: Notify::new(),
                dial_ins: tokio::sync::watch::Sender::new(0),
                reads,
                counters: Counters::default(),
                telemetry: Mutex::default(),
                brokers: Mutex::default(),
                telemetry_handled: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Asks the command loop to look at the outbox now (a sale or a reading just queued a command).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The bus that reaches a meter on `channel`.
    fn route(&self, channel: &Channel, address: Address) -> Result<Bus, LinkError> {
        match channel {
            Channel::Dlt645Gateway { host, port } => {
                let endpoint = format!("{host}:{port}");
                let mut gateways = lock(&self.inner.gateways);
                if let Some((bus, _)) = gateways.get(&endpoint)
                    && !bus.is_closed()
                {
                    return Ok(bus.clone());
                }
                let health = Arc::new(LinkHealth::default());
                let jitter = lock(&self.inner.jitter).fork(u64::from(*port));
                let bus = link::gateway(endpoint.clone(), self.inner.config.reconnect, health.clone(), jitter);
                gateways.insert(endpoint, (bus.clone(), health));
                Ok(bus)
            }
            Channel::Dlt645DialIn => match lock(&self.inner.dialled).get(&address) {
                Some((bus, _)) if !bus.is_closed() => Ok(bus.clone()),
                _ => Err(LinkError::NotConnected { address: address.to_string() }),
            },
            Channel::ModbusTcp { .. } => Err(LinkError::Down {
                link: channel.to_string(),
                why: "a Modbus meter is reached through its register map, not a DL/T 645 bus".into(),
            }),
            Channel::Mqtt { .. } => Err(LinkError::Down {
                link: channel.to_string(),
                why: "a meter on MQTT publishes its readings and is not asked; it takes no commands".into(),
            }),
        }
    }

    /// The Modbus link to `host:port`, made on first use.
    fn modbus_link(&self, host: &str, port: u16) -> Arc<ModbusLink> {
        let endpoint = format!("{host}:{port}");
        let mut links = lock(&self.inner.modbus);
        if let Some(link) = links.get(&endpoint) {
            return link.clone();
        }
        let jitter = lock(&self.inner.jitter).fork(u64::from(port) << 8);
        let link = Arc::new(ModbusLink::new(endpoint.clone(), self.inner.config.reconnect, jitter));
        links.insert(endpoint, link.clone());
        link
    }

    /// A register map by the name the channel gives.
    fn register_map(&self, meter: MeterId, name: &str) -> Result<Arc<RegisterMap>, HeadEndError> {
        if let Some(map) = lock(&self.inner.maps).get(name) {
            return Ok(map.clone());
        }
        let map = match RegisterMap::builtin(name) {
            Some(Ok(map)) => Arc::new(map),
            Some(Err(e)) => return Err(HeadEndError::Meter { meter, why: e.to_string() }),
            None => {
                return Err(HeadEndError::Meter {
                    meter,
                    why: format!("its channel names the register map {name:?}; known maps: {:?}", RegisterMap::BUILTIN),
                });
            }
        };
        lock(&self.inner.maps).insert(name.to_string(), map.clone());
        Ok(map)
    }

    /// Reads a Modbus meter's energy registers and relay state in one request and submits the reading.
    async fn poll_modbus(
        &self,
        meter: &MeterRecord,
        (host, port, unit, map_name): (&str, u16, u8, &str),
    ) -> Result<Polled, HeadEndError> {
        let id = meter.meter.id;
        let map = self.register_map(id, map_name)?;
        let (start, count) = map.reading_span().ok_or_else(|| HeadEndError::Meter {
            meter: id,
            why: format!("the register map {map_name} has no energy register in one readable block"),
        })?;
        let link = self.modbus_link(host, port);
        let words = link.read_holding(unit, start, count, self.inner.config.request_timeout).await?;
        let got = map.decode(start, &words).map_err(|e| HeadEndError::Meter { meter: id, why: e.to_string() })?;
        let at = self.now();
        let total_wh = got.total_wh.ok_or_else(|| HeadEndError::Meter { meter: id, why: "no total energy".into() })?;
        let periods = self.periods(meter, at).await?;
        let energy = EnergyRead { total_wh, tariffs_wh: got.tariffs_wh, status_3: 0 };
        let registers = read::registers_for(&periods, &energy).map_err(|why| HeadEndError::Meter { meter: id, why })?;
        let report = voltvend_ops::MeterReport {
            at,
            relay: got
                .relay_open
                .map(|open| if open { voltvend_ops::Relay::Open } else { voltvend_ops::Relay::Closed }),
            keep_power: None,
        };
        let limits = ReadingLimits { register_wrap: map.energy_wrap_wh(), max_power_w: self.inner.config.max_power_w };
        self.submit_reading(meter, Reading { at, registers }, report, limits, None).await
    }

    /// Carries out a relay command on a Modbus meter: the relay register written, then read back.
    async fn carry_out_modbus(
        &self,
        command: &MeterCommand,
        (host, port, unit, map_name): (&str, u16, u8, &str),
    ) -> Result<voltvend_ops::MeterReport, HeadEndError> {
        let id = command.meter_id;
        let map = self.register_map(id, map_name)?;
        let unsupported = |what: &str| HeadEndError::Meter {
            meter: id,
            why: format!("the register map {map_name} has no {what}, so the meter cannot be asked over Modbus"),
        };
        let value = match command.kind {
            CommandKind::RelayTrip => 1,
            CommandKind::RelayClose => 0,
            CommandKind::KeepPowerOn | CommandKind::KeepPowerOff => return Err(unsupported("keep-power register")),
            CommandKind::SetTime => return Err(unsupported("clock register")),
            CommandKind::WriteBalance | CommandKind::WritePrices => {
                return Err(unsupported("balance or price register"));
            }
        };
        let register = map.relay_register().ok_or_else(|| unsupported("writable relay register"))?;
        let (start, count) = map.relay_span().ok_or_else(|| unsupported("relay register"))?;
        let link = self.modbus_link(host, port);
        let timeout = self.inner.config.request_timeout;
        link.write_register(unit, register, value, timeout).await?;
        let words = link.read_holding(unit, start, count, timeout).await?;
        let got = map.decode(start, &words).map_err(|e| HeadEndError::Meter { meter: id, why: e.to_string() })?;
        Ok(voltvend_ops::MeterReport {
            at: self.now(),
            relay: got
                .relay_open
                .map(|open| if open { voltvend_ops::Relay::Open } else { voltvend_ops::Relay::Closed }),
            keep_power: None,
        })
    }

    async fn time_zone(&self, premises: Option<PremisesId>) -> Result<TimeZone, StoreError> {
        let Some(id) = premises else { return Ok(TimeZone::UTC) };
        if let Some(tz) = lock(&self.inner.zones).get(&id) {
            return Ok(tz.clone());
        }
        let p = self.inner.store.premises(id).await?;
        let tz = TimeZone::get(&p.time_zone).unwrap_or(TimeZone::UTC);
        lock(&self.inner.zones).insert(id, tz.clone());
        Ok(tz)
    }

    /// The period names of the meter's tariff in effect at `at` (`["all"]` without a tariff).
    async fn periods(&self, meter: &MeterRecord, at: Timestamp) -> Result<Vec<String>, HeadEndError> {
        let Some(code) = &meter.tariff_code else { return Ok(vec!["all".into()]) };
        let doc = self.inner.store.tariff_document(code).await?.ok_or_else(|| HeadEndError::Meter {
            meter: meter.meter.id,
            why: format!("its tariff {code} is not stored"),
        })?;
        let doc = TariffDoc { code: doc.code, revision: doc.revision, name: doc.name, document: doc.document };
        let tariff = self
            .inner
            .tariffs
            .get(&doc)
            .map_err(|e| HeadEndError::Meter { meter: meter.meter.id, why: e.to_string() })?;
        let version = tariff.versions.iter().rev().find(|v| v.effective_from <= at).or(tariff.versions.first());
        Ok(version.map(|v| v.periods.clone()).unwrap_or_else(|| vec!["all".into()]))
    }

    fn address_of(meter: &MeterRecord) -> Result<Address, HeadEndError> {
        Address::from_meter_no(&meter.meter.address)
            .map_err(|e| HeadEndError::Meter { meter: meter.meter.id, why: e.to_string() })
    }

    /// Reads one meter now and submits what it read.
    pub async fn poll_meter(&self, meter_id: MeterId) -> Result<Polled, HeadEndError> {
        let meter = self.inner.store.meter(meter_id).await?;
        let control = self
            .inner
            .store
            .meter_control(meter_id)
            .await?
            .ok_or_else(|| HeadEndError::Meter { meter: meter_id, why: "it has no channel".into() })?;
        self.poll(&meter, &control).await
    }

    async fn poll(&self, meter: &MeterRecord, control: &MeterControl) -> Result<Polled, HeadEndError> {
        let result = self.poll_inner(meter, control).await;
        let at = self.now();
        match &result {
            Ok(p) => {
                self.inner.meters.read(meter.meter.id, p.at);
                self.inner.counters.reads_ok.fetch_add(1, Ordering::Relaxed);
                self.inner.counters.readings_billed.fetch_add(p.billed as u64, Ordering::Relaxed);
                self.inner.counters.readings_flagged.fetch_add(p.flagged as u64, Ordering::Relaxed);
            }
            Err(e) => {
                self.inner.meters.failed(meter.meter.id, at, &e.to_string());
                self.inner.counters.reads_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    async fn poll_inner(&self, meter: &MeterRecord, control: &MeterControl) -> Result<Polled, HeadEndError> {
        let channel = control
            .channel
            .as_ref()
            .ok_or_else(|| HeadEndError::Meter { meter: meter.meter.id, why: "it has no channel".into() })?;
        if let Channel::ModbusTcp { host, port, unit, map } = channel {
            return self.poll_modbus(meter, (host, *port, *unit, map)).await;
        }
        let address = Self::address_of(meter)?;
        let bus = self.route(channel, address)?;
        let periods = self.periods(meter, self.now()).await?;
        let timeout = self.inner.config.request_timeout;
        let energy: EnergyRead =
            read::read_energy(&bus, address, read::needs_tariff_registers(&periods), timeout).await?;
        let at = self.now();
        let registers =
            read::registers_for(&periods, &energy).map_err(|why| HeadEndError::Meter { meter: meter.meter.id, why })?;
        let reading = Reading { at, registers };
        let report = read::report_of(energy.status_3, at);
        let limits =
            ReadingLimits { register_wrap: Some(read::REGISTER_WRAP_WH), max_power_w: self.inner.config.max_power_w };
        // An electricity meter's maximum demand (a water meter has none). A meter without the register, or one
        // that answers it badly, is still read and billed.
        let demand =
            if self.inner.config.read_max_demand && meter.meter.utility == voltvend_domain::Utility::Electricity {
                let read = match self.time_zone(meter.meter.premises_id).await {
                    Ok(tz) => read::read_max_demand(&bus, address, &tz, timeout).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                read.unwrap_or_else(|e| {
                    tracing::debug!(meter = %meter.meter.id, "maximum demand not read: {e}");
                    None
                })
            } else {
                None
            };
        self.submit_reading(meter, reading, report, limits, demand).await
    }

    /// Hands one reading of a meter, and what it said of its supply, to the operations spine. The operation's
    /// id derives from the meter and the reading's time, so the same reading submitted twice is applied once.
    async fn submit_reading(
        &self,
        meter: &MeterRecord,
        reading: Reading,
        report: voltvend_ops::MeterReport,
        limits: ReadingLimits,
        demand: Option<voltvend_ops::MaxDemand>,
    ) -> Result<Polled, HeadEndError> {
        let at = reading.at;
        let id = derived_op_id(
            "apply_readings",
            &[meter.meter.id.as_uuid().as_bytes(), &at.as_microsecond().to_be_bytes()],
            at,
        );
        let op = Operation::new(
            id,
            Actor::system("headend"),
            Command::ApplyReadings(ApplyReadings {
                meter_id: meter.meter.id,
                readings: vec![reading],
                report: Some(report),
                limits,
                demand,
            }),
        );
        let applied = self.inner.store.submit(op).await?;
        let outcome = match applied {
            Applied::Committed { outcome: Outcome::Readings(o), .. } => o,
            // Taken before (a message delivered again, a retry after the database was away): nothing new.
            Applied::Replayed { .. } => {
                let mut balance_after_minor = 0;
                if let Some(account) = meter.meter.account_id {
                    let wallet = self.inner.store.account(account).await?.wallet;
                    let (_, balance) = self.inner.store.ledger_account(wallet).await?;
                    balance_after_minor = balance.normal(voltvend_domain::Side::Credit);
                }
                return Ok(Polled {
                    meter_id: meter.meter.id,
                    at,
                    billed: 0,
                    skipped: 1,
                    flagged: 0,
                    charged_minor: 0,
                    balance_after_minor,
                });
            }
            other => {
                return Err(HeadEndError::Meter {
                    meter: meter.meter.id,
                    why: format!("unexpected outcome {other:?}"),
                });
            }
        };
        if outcome.relay.is_some() {
            self.wake();
        }
        Ok(Polled {
            meter_id: meter.meter.id,
            at,
            billed: outcome.billed,
            skipped: outcome.skipped,
            flagged: outcome.flagged,
            charged_minor: outcome.charged_minor,
            balance_after_minor: outcome.balance_after_minor,
        })
    }

    /// Reads every remote meter with a channel once, at most `reads_max` at a time; the meters' own commands
    /// are looked at as soon as a read queues one.
    pub async fn poll_all(&self) -> Result<Cycle, StoreError> {
        self.poll_where(|_, _| true).await
    }

    /// Reads the meters of one poll group once: `Some(i)` the group `Config::poll_groups[i]`, `None` the
    /// meters no group selects.
    pub async fn poll_group(&self, group: Option<usize>) -> Result<Cycle, StoreError> {
        let groups = &self.inner.config.poll_groups;
        // Premises groups are resolved to their subtree once per cycle.
        let mut subtrees: Vec<Option<HashSet<PremisesId>>> = Vec::with_capacity(groups.len());
        for g in groups {
            subtrees.push(match &g.select {
                GroupSelect::Premises(root) => match self.inner.store.premises_subtree(*root).await {
                    Ok(list) => Some(list.into_iter().map(|p| p.id).collect()),
                    // A group naming premises that are not (or no longer) there selects nothing; the others go on.
                    Err(StoreError::NotFound { id, .. }) => {
                        tracing::warn!(group = %g.name, premises = %id, "a poll group's premises are not there");
                        Some(HashSet::new())
                    }
                    Err(e) => return Err(e),
                },
                _ => None,
            });
        }
        let selects = |i: usize, meter: &MeterRecord, control: &MeterControl| -> bool {
            match groups.get(i).map(|g| &g.select) {
                Some(GroupSelect::Utility(u)) => meter.meter.utility == *u,
                Some(GroupSelect::Premises(_)) => meter
                    .meter
                    .premises_id
                    .is_some_and(|p| subtrees.get(i).and_then(Option::as_ref).is_some_and(|s| s.contains(&p))),
                Some(GroupSelect::Channel(prefix)) => {
                    control.channel.as_ref().is_some_and(|c| c.to_string().starts_with(prefix.as_str()))
                }
                None => false,
            }
        };
        let member = |meter: &MeterRecord, control: &MeterControl| {
            let first = (0..groups.len()).find(|i| selects(*i, meter, control));
            first == group
        };
        self.poll_where(member).await
    }

    async fn poll_where(&self, pick: impl Fn(&MeterRecord, &MeterControl) -> bool) -> Result<Cycle, StoreError> {
        let mut cycle = Cycle::default();
        let mut after = None;
        let mut tasks: JoinSet<Result<Polled, HeadEndError>> = JoinSet::new();
        let mut seen = HashSet::new();
        loop {
            let page = self.inner.store.channel_meters(after, 500).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.meter.id);
            for (meter, control) in page {
                // Local meters hold their own credit: nothing to bill from their readings.
                if meter.meter.control_mode != ControlMode::Remote {
                    continue;
                }
                seen.insert(meter.meter.id);
                // Telemetry meters are not asked: their gateway publishes (see `ingest_telemetry`).
                if matches!(control.channel, Some(Channel::Mqtt { .. })) || !pick(&meter, &control) {
                    continue;
                }
                cycle.meters += 1;
                let permit = self.inner.reads.clone().acquire_owned().await;
                let this = self.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    this.poll(&meter, &control).await
                });
                // Collect what is done, so the set stays as small as the permits.
                while let Some(done) = tasks.try_join_next() {
                    tally(&mut cycle, done);
                }
            }
        }
        while let Some(done) = tasks.join_next().await {
            tally(&mut cycle, done);
        }
        self.inner.meters.forget_except(&seen);
        self.inner.counters.cycles.fetch_add(1, Ordering::Relaxed);
        Ok(cycle)
    }

    /// Carries out the command outbox until the task is dropped: a pass whenever a sale or a reading queues a
    /// command ([`HeadEnd::wake`]), and every `commands_interval` for retries that fall due.
    pub async fn run_command_loop(self) {
        loop {
            if let Err(e) = self.run_commands().await {
                tracing::warn!(error = %e, "command outbox pass failed");
            }
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(self.inner.config.commands_interval) => {}
            }
        }
    }

    /// Carries out every command that is due, each meter's in order; returns how many attempts were made.
    pub async fn run_commands(&self) -> Result<usize, StoreError> {
        let due = self.inner.store.due_commands(self.now(), 512).await?;
        let mut by_meter: Vec<(MeterId, Vec<MeterCommand>)> = Vec::new();
        for c in due {
            match by_meter.iter_mut().find(|(m, _)| *m == c.meter_id) {
                Some((_, list)) => list.push(c),
                None => by_meter.push((c.meter_id, vec![c])),
            }
        }
        let limit = Arc::new(Semaphore::new(self.inner.config.commands_max.max(1)));
        let mut tasks: JoinSet<Result<usize, StoreError>> = JoinSet::new();
        for (_, mut list) in by_meter {
            list.sort_by_key(|c| c.created_at);
            let this = self.clone();
            let permit = limit.clone().acquire_owned().await;
            tasks.spawn(async move {
                let _permit = permit;
                let mut n = 0;
                for c in list {
                    this.attempt(&c).await?;
                    n += 1;
                }
                Ok(n)
            });
        }
        let mut attempts = 0;
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(n)) => attempts += n,
                Ok(Err(e)) => return Err(e),
                Err(e) => tracing::error!(error = %e, "a command task failed"),
            }
        }
        Ok(attempts)
    }

    /// One attempt at a command, recorded.
    async fn attempt(&self, command: &MeterCommand) -> Result<(), StoreError> {
        let result = match self.carry_out(command).await {
            Ok((report, readback)) => AttemptResult::Confirmed { report, readback },
            Err(e) => AttemptResult::Failed { error: e.to_string() },
        };
        let done = matches!(result, AttemptResult::Confirmed { .. });
        let at = self.now();
        let id = derived_op_id(
            "record_command_attempt",
            &[command.id.as_uuid().as_bytes(), &command.attempts.to_be_bytes()],
            at,
        );
        let op = Operation::new(
            id,
            Actor::system("headend"),
            Command::RecordCommandAttempt(RecordCommandAttempt {
                command_id: command.id,
                meter_id: command.meter_id,
                result,
            }),
        );
        match self.inner.store.submit(op).await {
            Ok(Applied::Committed { outcome: Outcome::CommandAttempt(c), .. }) => {
                let counter = if c.status == voltvend_ops::CommandStatus::Done {
                    &self.inner.counters.commands_done
                } else {
                    &self.inner.counters.commands_failed
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(_) => Ok(()),
            // The meter or the command went away meanwhile: nothing to record.
            Err(StoreError::Refused(e)) => {
                tracing::warn!(command = %command.id, error = %e, done, "a command attempt was not recorded");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Sends a command and reads the meter back: what it reports, and what a write command's value reads back
    /// as.
    async fn carry_out(&self, command: &MeterCommand) -> Result<(voltvend_ops::MeterReport, String), HeadEndError> {
        let meter = self.inner.store.meter(command.meter_id).await?;
        let control = self.inner.store.meter_control(command.meter_id).await?;
        let channel = control
            .and_then(|c| c.channel)
            .ok_or_else(|| HeadEndError::Meter { meter: command.meter_id, why: "it has no channel".into() })?;
        if let Channel::ModbusTcp { host, port, unit, map } = &channel {
            return Ok((self.carry_out_modbus(command, (host, *port, *unit, map)).await?, String::new()));
        }
        let address = Self::address_of(&meter)?;
        let bus = self.route(&channel, address)?;
        let timeout = self.inner.config.request_timeout;
        let cfg = &self.inner.config;
        if command.kind.writes_value() {
            let readback = self.write_values(&bus, address, command).await?;
            let word = read::read_status_3(&bus, address, timeout).await?;
            return Ok((read::report_of(word, self.now()), readback));
        }
        let tz = self.time_zone(meter.meter.premises_id).await?;
        let local = |t: Timestamp| t.to_zoned(tz.clone()).datetime();
        let action = match command.kind {
            CommandKind::RelayTrip => Some(RelayAction::Trip),
            CommandKind::RelayClose => Some(RelayAction::ClosePermitted),
            CommandKind::KeepPowerOn => Some(RelayAction::KeepPower),
            CommandKind::KeepPowerOff => Some(RelayAction::KeepPowerRelease),
            CommandKind::SetTime | CommandKind::WriteBalance | CommandKind::WritePrices => None,
        };
        match action {
            Some(action) => {
                let valid_until = local(self.now().saturating_add(cfg.control_validity).unwrap_or(self.now()));
                let request = Request::Control {
                    password: Password(cfg.password),
                    operator: cfg.operator_code,
                    action,
                    valid_until,
                };
                match bus.request(address, request, timeout).await? {
                    Some(Reply::Ok { .. }) => {}
                    other => {
                        return Err(HeadEndError::Meter {
                            meter: command.meter_id,
                            why: format!("the meter answered the command with {other:?}"),
                        });
                    }
                }
            }
            None => {
                // Per meter: write the date, then the time (DL/T 645-2007 write data 04000101 YYMMDDWW and
                // 04000102 hhmmss, a password of the level the meter allows for its clock). A meter that refuses
                // the write (another password, or no write access to its clock) gets the bus's broadcast time
                // instead, which meters take without a password; the read-back below checks the meter took it.
                let now = local(self.now());
                let bcd = |v: i64| u8::try_from((v / 10 % 10) * 16 + v % 10).unwrap_or(0);
                let date = vec![
                    bcd(i64::from(now.weekday().to_sunday_zero_offset())),
                    bcd(i64::from(now.day())),
                    bcd(i64::from(now.month())),
                    bcd(i64::from(now.year())),
                ];
                let time = vec![bcd(i64::from(now.second())), bcd(i64::from(now.minute())), bcd(i64::from(now.hour()))];
                let write = |di: u32, value: Vec<u8>| Request::Write {
                    di,
                    password: Password(cfg.password),
                    operator: cfg.operator_code,
                    value,
                };
                let addressed = match bus.request(address, write(read::DI_DATE, date), timeout).await {
                    Ok(_) => bus.request(address, write(read::DI_TIME, time), timeout).await,
                    Err(e) => Err(e),
                };
                match addressed {
                    Ok(_) => {}
                    Err(LinkError::Refused { .. }) => {
                        bus.request(Address([0x99; 6]), Request::BroadcastTime { at: local(self.now()) }, timeout)
                            .await?;
                    }
                    Err(e) => return Err(e.into()),
                }
                let clock = read::read_clock(&bus, address, timeout).await?;
                let meter_time = clock
                    .to_zoned(tz.clone())
                    .map_err(|e| HeadEndError::Meter { meter: command.meter_id, why: e.to_string() })?
                    .timestamp();
                let off = meter_time.duration_since(self.now());
                if off.abs() > cfg.clock_tolerance {
                    return Err(HeadEndError::Meter {
                        meter: command.meter_id,
                        why: format!("after the time set the meter's clock is {} s off", off.as_secs()),
                    });
                }
            }
        }
        let word = read::read_status_3(&bus, address, timeout).await?;
        Ok((read::report_of(word, self.now()), String::new()))
    }

    /// Writes a balance or the rate prices with DL/T 645-2007 write data (§7.3: DI, password, operator code,
    /// value), then reads each identifier back; returns what it read, in the command value's form, for the
    /// operation that records the attempt to compare.
    async fn write_values(&self, bus: &Bus, address: Address, command: &MeterCommand) -> Result<String, HeadEndError> {
        let cfg = &self.inner.config;
        let plan = read::write_plan(command.kind, &command.value).ok_or_else(|| HeadEndError::Meter {
            meter: command.meter_id,
            why: format!("the command's value {:?} is not one a meter can be written", command.value),
        })?;
        for (di, raw) in &plan {
            let format = voltvend_dlt645::data::lookup(*di).map(|d| d.format);
            let decimals = match format {
                Some(voltvend_dlt645::data::Format::Unsigned { decimals, .. }) => decimals,
                _ => 0,
            };
            let value = format
                .and_then(|f| {
                    voltvend_dlt645::data::encode(f, &voltvend_dlt645::data::Value::Decimal { raw: *raw, decimals })
                        .ok()
                })
                .ok_or_else(|| HeadEndError::Meter {
                    meter: command.meter_id,
                    why: format!("{raw} does not fit {di:08X}"),
                })?;
            let request =
                Request::Write { di: *di, password: Password(cfg.password), operator: cfg.operator_code, value };
            match bus.request(address, request, cfg.request_timeout).await? {
                Some(Reply::Ok { .. }) => {}
                other => {
                    return Err(HeadEndError::Meter {
                        meter: command.meter_id,
                        why: format!("the meter answered the write of {di:08X} with {other:?}"),
                    });
                }
            }
        }
        let mut read_back = Vec::with_capacity(plan.len());
        for (di, _) in &plan {
            read_back.push(read::read_raw(bus, address, *di, cfg.request_timeout).await?.to_string());
        }
        Ok(read_back.join(" "))
    }

    /// Accepts 4G meters dialling in on `listener`, until the task is dropped. A meter says who it is with an
    /// unsolicited read-address reply, or is asked; its connection then serves as its bus.
    pub async fn accept_dial_ins(self, listener: TcpListener) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "dial-in accept failed");
                    tokio::task::yield_now().await;
                    continue;
                }
            };
            let this = self.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut framed = Framed::new(stream, Dlt645Codec { preamble: 4 });
                match this.identify(&mut framed).await {
                    Ok(address) => {
                        let health = Arc::new(LinkHealth::default());
                        let bus = link::dialled(format!("dial-in {address} ({peer})"), framed, health.clone());
                        tracing::debug!(%address, %peer, "meter dialled in");
                        lock(&this.inner.dialled).insert(address, (bus, health));
                        this.inner.dial_ins.send_modify(|n| *n = n.wrapping_add(1));
                    }
                    Err(why) => tracing::debug!(%peer, %why, "a dial-in connection did not say who it is"),
                }
            });
        }
    }

    async fn identify(&self, framed: &mut Framed<tokio::net::TcpStream, Dlt645Codec>) -> Result<Address, String> {
        use futures_util::{SinkExt, StreamExt};
        let limit = self.inner.config.identify_timeout;
        let first = tokio::time::timeout(limit / 2, framed.next()).await;
        if let Ok(Some(Ok(frame))) = &first
            && frame.is_reply()
            && frame.function() == F_READ_ADDRESS
        {
            return Ok(frame.address);
        }
        let wildcard = Address([0xAA; 6]);
        framed.send(Request::ReadAddress.to_frame(wildcard)).await.map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + limit / 2;
        loop {
            match tokio::time::timeout_at(deadline, framed.next()).await {
                Ok(Some(Ok(frame))) if frame.is_reply() && frame.function() == F_READ_ADDRESS => {
                    return Ok(frame.address);
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(None) => return Err("hung up".into()),
                Err(_) => return Err(format!("no address within {} s", limit.as_secs())),
            }
        }
    }

    /// Runs the poll schedule and the command loop until the returned tasks are aborted.
    pub fn start(&self, dial_in: Option<TcpListener>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        // One schedule per poll group and one for the meters no group selects, each starting at a random
        // offset within a tenth of its interval so that head ends and groups do not read in step.
        let mut schedules: Vec<(Option<usize>, String, Duration)> =
            vec![(None, "default".to_string(), self.inner.config.poll_interval)];
        for (i, g) in self.inner.config.poll_groups.iter().enumerate() {
            schedules.push((Some(i), g.name.clone(), g.interval));
        }
        for (group, name, interval) in schedules {
            let this = self.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let offset = lock(&this.inner.jitter).within(interval / 10);
                    tokio::time::sleep(offset).await;
                    let started = tokio::time::Instant::now();
                    match this.poll_group(group).await {
                        Ok(c) => {
                            tracing::info!(group = %name, meters = c.meters, read = c.read, failed = c.failed, "poll cycle")
                        }
                        Err(e) => tracing::warn!(group = %name, error = %e, "poll cycle failed"),
                    }
                    tokio::time::sleep_until(started + interval).await;
                }
            }));
        }
        tasks.push(tokio::spawn(self.clone().run_command_loop()));
        if let Some(listener) = dial_in {
            tasks.push(tokio::spawn(self.clone().accept_dial_ins(listener)));
        }
        tasks
    }

    /// Looks up which meters are read from MQTT telemetry; returns their topic prefixes.
    pub async fn refresh_telemetry(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let mut index = HashMap::new();
        let mut after = None;
        loop {
            let page = self.inner.store.channel_meters(after, 500).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.meter.id);
            for (meter, control) in page {
                if let Some(Channel::Mqtt { prefix }) = control.channel
                    && meter.meter.control_mode == ControlMode::Remote
                {
                    index.insert((prefix, meter.meter.address.clone()), meter.meter.id);
                }
            }
        }
        let prefixes = index.keys().map(|(p, _)| p.clone()).collect();
        *lock(&self.inner.telemetry) = (index, Some(self.now()));
        Ok(prefixes)
    }

    /// The meter a telemetry topic is of, looked up again (at most every tenth of the poll interval) when the
    /// topic names a meter not known yet.
    async fn telemetry_meter(&self, prefix: &str, meter_no: &str) -> Result<MeterId, HeadEndError> {
        let key = (prefix.to_string(), meter_no.to_string());
        let (known, refreshed) = {
            let t = lock(&self.inner.telemetry);
            (t.0.get(&key).copied(), t.1)
        };
        if let Some(id) = known {
            return Ok(id);
        }
        let every = SignedDuration::try_from(self.inner.config.poll_interval / 10).unwrap_or(SignedDuration::MAX);
        if refreshed.is_none_or(|t| self.now().duration_since(t) >= every) {
            self.refresh_telemetry().await?;
        }
        lock(&self.inner.telemetry).0.get(&key).copied().ok_or_else(|| HeadEndError::Telemetry {
            why: format!("no remote meter {meter_no} is on channel mqtt:{prefix}"),
        })
    }

    /// Takes one MQTT telemetry message (`PREFIX/METER_NO/reading`, see [`crate::mqtt`]) and submits its
    /// reading as a poll would.
    pub async fn ingest_telemetry(&self, topic: &str, payload: &[u8]) -> Result<Polled, HeadEndError> {
        let result = self.ingest_telemetry_inner(topic, payload).await;
        let counter =
            if result.is_ok() { &self.inner.counters.telemetry_ok } else { &self.inner.counters.telemetry_refused };
        counter.fetch_add(1, Ordering::Relaxed);
        self.inner.telemetry_handled.send_modify(|n| *n = n.wrapping_add(1));
        result
    }

    async fn ingest_telemetry_inner(&self, topic: &str, payload: &[u8]) -> Result<Polled, HeadEndError> {
        let (prefix, meter_no) = crate::mqtt::split_topic(topic).ok_or_else(|| HeadEndError::Telemetry {
            why: format!("topic {topic:.100} is not PREFIX/METER_NO/reading"),
        })?;
        let meter_id = self.telemetry_meter(prefix, meter_no).await?;
        let fail = |why: String| {
            self.inner.meters.failed(meter_id, self.now(), &why);
            HeadEndError::Meter { meter: meter_id, why }
        };
        let t = crate::mqtt::parse(meter_no, payload).map_err(fail)?;
        // A gateway's clock may run a little ahead; a reading from the future would bill time not yet passed.
        let latest = self.now().saturating_add(self.inner.config.clock_tolerance).unwrap_or(Timestamp::MAX);
        if t.at > latest {
            return Err(fail(format!("the reading's time {} is ahead of the head end's clock", t.at)));
        }
        let meter = self.inner.store.meter(meter_id).await?;
        let periods = self.periods(&meter, t.at).await?;
        let energy = EnergyRead { total_wh: t.total, tariffs_wh: t.tariffs, status_3: 0 };
        let registers = read::registers_for(&periods, &energy).map_err(fail)?;
        let report = voltvend_ops::MeterReport { at: t.at, relay: t.supply, keep_power: None };
        // A decimal in JSON has no register width: no decrease is taken for a rollover.
        let limits = ReadingLimits { register_wrap: None, max_power_w: self.inner.config.max_power_w };
        let polled = self.submit_reading(&meter, Reading { at: t.at, registers }, report, limits, None).await;
        match &polled {
            Ok(p) => {
                self.inner.meters.read(meter_id, p.at);
                self.inner.counters.readings_billed.fetch_add(p.billed as u64, Ordering::Relaxed);
                self.inner.counters.readings_flagged.fetch_add(p.flagged as u64, Ordering::Relaxed);
            }
            Err(e) => self.inner.meters.failed(meter_id, self.now(), &e.to_string()),
        }
        polled
    }

    /// Waits until `n` telemetry messages in all have been dealt with (taken or refused).
    pub async fn telemetry_handled(&self, n: u64) {
        let mut changes = self.inner.telemetry_handled.subscribe();
        while *changes.borrow_and_update() < n {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Subscribes to the telemetry of every meter on an MQTT channel at the broker `host:port`, and takes each
    /// message, until the task is aborted. Subscriptions follow the meters' channels (looked up again every
    /// poll interval); the connection is made again after a failure, with backoff and jitter.
    pub fn start_telemetry(&self, host: &str, port: u16, client_id: &str) -> tokio::task::JoinHandle<()> {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let name = format!("mqtt://{host}:{port}");
        let health = Arc::new(LinkHealth::default());
        lock(&self.inner.brokers).insert(name.clone(), health.clone());
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(crate::mqtt::PAYLOAD_MAX + 1_024, 4_096);
        let this = self.clone();
        tokio::spawn(async move {
            let (client, mut events) = AsyncClient::new(options, 64);
            let mut subscribed = std::collections::BTreeSet::new();
            let mut refresh = tokio::time::interval(this.inner.config.poll_interval);
            let reconnect = this.inner.config.reconnect;
            let mut backoff = reconnect.backoff_first;
            let mut taking: JoinSet<()> = JoinSet::new();
            loop {
                tokio::select! {
                    event = events.poll() => match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            health.connected();
                            backoff = reconnect.backoff_first;
                            // A clean session forgets subscriptions: make them again.
                            subscribed.clear();
                            refresh.reset_immediately();
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            health.answered();
                            // Bounded: beyond `reads_max` messages in hand, the broker waits for us.
                            while taking.len() >= this.inner.config.reads_max.max(1) {
                                taking.join_next().await;
                            }
                            let it = this.clone();
                            taking.spawn(async move {
                                if let Err(e) = it.ingest_telemetry(&p.topic, &p.payload).await {
                                    tracing::debug!(topic = %p.topic, error = %e, "telemetry not taken");
                                }
                            });
                        }
                        Ok(_) => {}
                        Err(e) => {
                            health.down(&e.to_string());
                            let wait = backoff + lock(&this.inner.jitter).within(backoff / 2);
                            tracing::warn!(broker = %name, error = %e, "MQTT connection lost; connecting again");
                            tokio::time::sleep(wait).await;
                            backoff = (backoff * 2).min(reconnect.backoff_max);
                        }
                    },
                    _ = refresh.tick() => match this.refresh_telemetry().await {
                        Ok(prefixes) => {
                            for p in prefixes.difference(&subscribed.clone()) {
                                if client.try_subscribe(format!("{p}/+/reading"), QoS::AtLeastOnce).is_ok() {
                                    subscribed.insert(p.clone());
                                }
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "looking up MQTT meters failed"),
                    },
                    Some(_) = taking.join_next(), if !taking.is_empty() => {}
                }
            }
        })
    }

    /// Every link the head end has, with its health.
    pub fn links(&self) -> Vec<LinkStatus> {
        let mut out: Vec<LinkStatus> =
            lock(&self.inner.gateways).iter().map(|(name, (_, h))| h.snapshot(name, "dlt645_tcp")).collect();
        out.extend(
            lock(&self.inner.dialled)
                .iter()
                .filter(|(_, (bus, _))| !bus.is_closed())
                .map(|(a, (_, h))| h.snapshot(&a.to_string(), "dlt645_dial_in")),
        );
        out.extend(lock(&self.inner.brokers).iter().map(|(name, h)| h.snapshot(name, "mqtt")));
        out.extend(lock(&self.inner.modbus).iter().map(|(name, l)| l.health.snapshot(name, "modbus_tcp")));
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn meter_status(&self, meter: MeterId) -> Option<MeterStatus> {
        self.inner.meters.get(meter)
    }

    /// Whether a meter is connected over its own link (a 4G meter that dialled in).
    pub fn is_dialled_in(&self, address: &Address) -> bool {
        lock(&self.inner.dialled).get(address).is_some_and(|(bus, _)| !bus.is_closed())
    }

    /// Waits until the meter at `address` has dialled in (at once if it has).
    pub async fn dialled_in(&self, address: &Address) {
        let mut changes = self.inner.dial_ins.subscribe();
        while !self.is_dialled_in(address) {
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Prometheus text exposition of the head end's figures.
    pub fn metrics_text(&self) -> String {
        use std::fmt::Write;
        let c = &self.inner.counters;
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        counter(
            "voltvend_headend_reads_total",
            "Meter reads by result.",
            &[
                ("{result=\"ok\"}", c.reads_ok.load(Ordering::Relaxed)),
                ("{result=\"failed\"}", c.reads_failed.load(Ordering::Relaxed)),
            ],
        );
        counter(
            "voltvend_headend_readings_total",
            "Readings submitted, by what became of them.",
            &[
                ("{status=\"billed\"}", c.readings_billed.load(Ordering::Relaxed)),
                ("{status=\"flagged\"}", c.readings_flagged.load(Ordering::Relaxed)),
            ],
        );
        counter(
            "voltvend_headend_command_attempts_total",
            "Command attempts, by result.",
            &[
                ("{result=\"done\"}", c.commands_done.load(Ordering::Relaxed)),
                ("{result=\"not_done\"}", c.commands_failed.load(Ordering::Relaxed)),
            ],
        );
        counter(
            "voltvend_headend_telemetry_messages_total",
            "MQTT telemetry messages, by whether they were taken.",
            &[
                ("{result=\"taken\"}", c.telemetry_ok.load(Ordering::Relaxed)),
                ("{result=\"refused\"}", c.telemetry_refused.load(Ordering::Relaxed)),
            ],
        );
        counter(
            "voltvend_headend_poll_cycles_total",
            "Completed poll cycles.",
            &[("", c.cycles.load(Ordering::Relaxed))],
        );
        let links = self.links();
        let _ = writeln!(
            out,
            "# HELP voltvend_headend_link_up Whether a link is connected.\n# TYPE voltvend_headend_link_up gauge"
        );
        for l in &links {
            let _ = writeln!(
                out,
                "voltvend_headend_link_up{{transport=\"{}\",link=\"{}\"}} {}",
                l.transport,
                escape(&l.name),
                u8::from(l.up)
            );
        }
        let _ = writeln!(
            out,
            "# HELP voltvend_headend_link_requests_total Requests on a link, by result.\n# TYPE voltvend_headend_link_requests_total counter"
        );
        for l in &links {
            for (result, v) in [("answered", l.answered), ("timeout", l.timeouts)] {
                let _ = writeln!(
                    out,
                    "voltvend_headend_link_requests_total{{transport=\"{}\",link=\"{}\",result=\"{result}\"}} {v}",
                    l.transport,
                    escape(&l.name)
                );
            }
        }
        let (read, failing) = self.inner.meters.counts();
        let _ = writeln!(
            out,
            "# HELP voltvend_headend_meters Meters by the result of their last read.\n# TYPE voltvend_headend_meters gauge\nvoltvend_headend_meters{{state=\"read\"}} {read}\nvoltvend_headend_meters{{state=\"failing\"}} {failing}"
        );
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn tally(cycle: &mut Cycle, done: Result<Result<Polled, HeadEndError>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(p)) => {
            cycle.read += 1;
            cycle.flagged += p.flagged;
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "meter read failed");
            cycle.failed += 1;
        }
        Err(e) => {
            tracing::error!(error = %e, "a meter read task failed");
            cycle.failed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_time_ordered_and_distinct() {
        let t1: Timestamp = "2026-11-23T08:00:00Z".parse().unwrap();
        let t2: Timestamp = "2026-11-23T08:00:01Z".parse().unwrap();
        let a = derived_op_id("k", &[b"m1"], t1);
        assert_eq!(a, derived_op_id("k", &[b"m1"], t1));
        assert_ne!(a, derived_op_id("k", &[b"m2"], t1));
        assert_ne!(derived_op_id("k", &[b"ab", b"c"], t1), derived_op_id("k", &[b"a", b"bc"], t1));
        assert!(derived_op_id("k", &[b"zz"], t1) < derived_op_id("k", &[b"aa"], t2), "time comes first");
    }
}
