//! `voltvend demo`: a server on a seeded estate, with a simulated fleet for its meters.
//!
//! The estate is an industrial and residential park, Riverside Park 滨江园区, built and run for some weeks by
//! the same operations a real installation submits: premises, books, counters and a sales agent, tariffs,
//! operators of every built-in role, a demo STS vending key, account openings with their first sales, then
//! day after day the cashiers' shifts, sales by cash, bank card and transfer to remote, STS and OpenPAYGO
//! meters, the remote meters' midnight readings billed (wallets run low, relays trip and close again), a
//! couple of refused payments refunded, a sale re-allocated to the right meter (纠错), agent settlements and
//! management tokens. The store's writer stamps each operation with its clock, so the history is seeded on a
//! [`ManualClock`] moved forward from weeks ago to now, and the server then runs on the real clock.
//!
//! The remote electricity meters' readings come from the simulated fleet itself (its seeded load profiles,
//! residential or commercial), run through the same weeks, and trips and closes reach its relays as a head
//! end would carry them out. The demo then serves that very fleet over DL/T 645, so the meters' registers go
//! on from the last reading in the database. Water meters report over an MQTT gateway and are not simulated.
//!
//! The seeded data is reproducible (fixed seeds); operator passwords, the demo vending key and the OpenPAYGO
//! device secrets are not (the operating system's random source). By default the demo runs on a fresh database
//! in a temporary folder, with a master key made for it there, all removed on a clean stop. With
//! `--database-url` it runs on that database and needs a configured master key: an empty database is seeded,
//! one seeded by an earlier demo is served as it is, and any other is refused.

use std::collections::VecDeque;
use std::sync::Arc;

use anyhow::{Context, bail};
use futures_util::future::join_all;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use voltvend_domain::apportion::{Basis, Pool};
use voltvend_domain::fees::{FeeBasis, OverduePolicy};
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::tariff::pricing::{Reading, Registers};
use voltvend_domain::{
    AccountId, ApprovalId, BooksId, BuiltinRole, Clock, ControlMode, CtVtRatio, Currency, Customer, CustomerId,
    CustomerKind, EnergyCategory, IdDocument, IdDocumentKind, ManualClock, Meter, MeterId, MeterProtocol, OperationId,
    Operator, OperatorId, Premises, PremisesLevel, ShiftId, Side, Utility, VendingPointId,
};
use voltvend_meter::controller::{ControllerConfig, Mode, RemoteCommand};
use voltvend_meter::fleet::{Fleet, Profile};
use voltvend_ops::secrets::{openpaygo_aad, vending_key_aad};
use voltvend_ops::{
    Actor, Applied, ApplyReadings, ApportionPeriod, ApportionedUnit, CloseShift, Command, Correction, CorrectionKind,
    CreateApportionmentRule, CreateFeeSchedule, CustomerRef, DecideCorrection, FeePolicy, FloorArea, ImportTariff,
    InstallMeter, IssueFees, IssueStsTokens, MasterKey, MeterBinding, OpenAccount, OpenBooks, OpenShift,
    OpenVendingPoint, Operation, OpgBinding, OpgUnit, OutboxKind, Outcome, PayFees, PaymentMethod, ReceiptFormat,
    RefundRefusedPayment, ReprintReceipt, RequestCorrection, Sale, SaleAmount, SaleRecord, SettleVendingPoint,
    StsManagement, VendingKeyRecord,
};
use voltvend_store::{ListQuery, MeterFilter, Store};
use voltvend_sts::keys::{KeyParams, KeyType};
use voltvend_sts::{BaseDate, Ea, MeterKeyRecord, Pan};
use zeroize::Zeroizing;

use crate::clock::IdGenerator;
use crate::serve::Access;
use crate::settings::Settings;

/// What `meta` says of a demo database.
const PURPOSE_KEY: &str = "purpose";
const PURPOSE_DEMO: &str = "demo";

/// The shipped Zhejiang residential tariff (annual tiers, peak/valley).
pub(crate) const ELECTRICITY_TARIFF: &str = include_str!("../../../tariffs/cn-zhejiang-residential.toml");
const COMMERCIAL_TARIFF: &str = include_str!("../../../tariffs/cn-commercial-tou-summer-sharp.toml");
const WATER_TARIFF: &str = include_str!("../../../tariffs/cn-beijing-residential-water.toml");
const ZA_TARIFF: &str = include_str!("../../../tariffs/za-municipal-ibt-fbe.toml");
const RESIDENTIAL: &str = "cn-zhejiang-residential-tou";
const COMMERCIAL: &str = "cn-commercial-tou-sharp";
const WATER: &str = "cn-beijing-residential-water";

const TIME_ZONE: &str = "Asia/Shanghai";
/// Days of history before today.
pub const HISTORY_DAYS: i32 = 21;
/// The seed of the data: ids, names, habits.
const DATA_SEED: u64 = 2026;
/// The seed of the simulated fleet's load profiles (the demo serves the same fleet).
pub const FLEET_SEED: u64 = 2026;
const WATER_FLEET_SEED: u64 = FLEET_SEED ^ 0x5741_5445;
/// The demo's STS supply group: a made-up code, its vending key random for each demo database.
pub const DEMO_SUPPLY_GROUP: u32 = 990_001;
const DEMO_KEY_REVISION: u8 = 1;
const STS_IIN: &str = "600727";
/// OpenPAYGO e-bike batteries rent for 3 yuan a day.
const OPG_PRICE_PER_DAY_MINOR: i64 = 300;
/// The cash float each counter shift opens with.
const FLOAT_MINOR: i64 = 50_000;
/// How much a sales agent may sell before it settles.
const AGENT_CREDIT_LIMIT_MINOR: i64 = 1_500_000;

/// An operator the seed created, with its generated password.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub username: String,
    pub role: BuiltinRole,
    /// The name of the premises the operator is scoped to.
    pub scope: String,
    pub password: String,
}

/// The demo supply group's STS vending key (DKGA02). Random for each demo database: never a real one.
pub struct DemoVendingKey {
    pub sgc: u32,
    pub krn: u8,
    /// 16 hex digits.
    pub hex: Zeroizing<String>,
}

impl std::fmt::Debug for DemoVendingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DemoVendingKey(sgc {:06}, krn {})", self.sgc, self.krn)
    }
}

/// What the seed made, by its own count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub buildings: usize,
    pub units: usize,
    pub customers: usize,
    pub companies: usize,
    pub dlt645_meters: usize,
    pub sts_meters: usize,
    pub water_meters: usize,
    pub openpaygo_devices: usize,
    /// IC-card meters on open accounts, waiting for their cards.
    pub ic_card_meters: usize,
    pub operators: usize,
    pub vending_points: usize,
    pub shifts: usize,
    /// Sales committed (openings' first sales and re-allocations included).
    pub sales: usize,
    pub refused_payments: usize,
    pub refunds: usize,
    pub reversals: usize,
    pub settlements: usize,
    pub management_tokens: usize,
    /// Readings stored (one a day for each remote meter, and each one's commissioning reading).
    pub readings: usize,
    pub relay_trips: usize,
    pub relay_closes: usize,
    /// Days seeded: the days of history and today.
    pub days: usize,
    /// Block A's parent meter and its common areas' meter (公摊), installed with no account, and their
    /// readings (one a midnight).
    pub common_area_meters: usize,
    pub common_area_readings: usize,
    /// Months of Block A's apportionment rule posted (last month, when the history covers part of it).
    pub apportioned_months: usize,
    /// Block A's property fee (房租 / 物业费), and last month's fees paid at its counter.
    pub fee_schedules: usize,
    pub fee_payments: usize,
    /// 后付费: Block A's shops on monthly bills, the bills issued, those paid at the counter and those dunned.
    pub postpaid_accounts: usize,
    pub bills_issued: usize,
    pub bills_paid: usize,
    pub bills_dunned: usize,
    /// 集团统一收费: sales to the park's tenants at the group's head-office counter (the group's own books), each
    /// balanced in both sets of books through their inter-property accounts.
    pub head_office_sales: usize,
}

/// What [`seed`] returns.
#[derive(Debug)]
pub struct DemoSeed {
    pub logins: Vec<DemoLogin>,
    pub vending_key: DemoVendingKey,
    /// The simulated DL/T 645 fleet: exactly the seeded remote electricity meters (addresses 000000000001 to
    /// `dlt645_meters`), at `now`, its registers and relays where the seeded history left them.
    pub fleet: Fleet,
    pub summary: SeedSummary,
}

/// Runs the demo; `keep` keeps its temporary database after a clean stop (it is removed otherwise).
pub async fn run(mut settings: Settings, clock: Arc<dyn Clock>, url_given: bool, keep: bool) -> anyhow::Result<()> {
    let secret_ids = IdGenerator::new(clock.clone());
    let master_configured = crate::keys::load(&settings)?.current().is_some();
    if url_given && !master_configured {
        bail!(
            "the demo seals its STS vending key and OpenPAYGO secrets under a master key: give one with \
             VOLTVEND_MASTER_KEY (64 hex digits) or keys.master_key_file (make one with `voltvend keys generate \
             --out FILE`), or leave out --database-url to run on a temporary database"
        );
    }
    let temp_dir = if url_given {
        None
    } else {
        let dir = std::env::temp_dir().join(format!("voltvend-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        settings.database.url = format!("sqlite://{}", dir.join("voltvend.sqlite").display());
        if !master_configured {
            let path = dir.join("master.key");
            crate::keys::generate_file(&path, &secret_ids)?;
            settings.keys.master_key_file = path.display().to_string();
        }
        Some(dir)
    };
    settings.database.auto_migrate = true;
    // Cards without a reader: every counter has a virtual one (with simulated IC-card meters beside it), unless
    // configured otherwise.
    if settings.cards.readers.is_empty() {
        settings.cards.readers.insert("default".into(), "virtual".into());
    }
    // The demo's head end reads its meters every minute (unless configured otherwise), so a sale's relay
    // close and a meter running dry show within one.
    if settings.headend.poll_interval_s == crate::settings::HeadEndSettings::default().poll_interval_s {
        settings.headend.poll_interval_s = 60;
    }
    let poll_s = settings.headend.poll_interval_s;
    let master = crate::keys::load(&settings)?.current().cloned().context("no master key is configured")?;
    let now = clock.now();

    // Seed on a clock of our own, moved through the weeks of history; then serve on the real one.
    let seed_clock = Arc::new(ManualClock::new(now));
    let store = crate::serve::open_store(&settings, seed_clock.clone(), Access::Create).await?;
    let started = std::time::Instant::now();
    let prepared = async {
        let lock = crate::serve::lock_for_writing(store.as_ref()).await?;
        let seeded = prepare(store.as_ref(), &seed_clock, &secret_ids, &master, now).await;
        lock.release().await;
        seeded
    }
    .await;
    store.shutdown().await;
    store.close().await;
    let seeded = prepared?;
    let seed_time = started.elapsed();
    if seeded.is_some() {
        tracing::info!(seed_ms = seed_time.as_millis(), "demo estate seeded");
    }

    let store = crate::serve::open_store(&settings, clock.clone(), Access::Create).await?;
    let mut seeded = seeded;
    let serving = async {
        let counts = store.counts().await?;
        let (fleet, shown) = match seeded.take() {
            Some(s) => (s.fleet, Some((s.logins, s.vending_key.sgc, s.vending_key.krn, s.summary))),
            // An earlier demo's database: a fresh fleet of as many meters.
            None => (Fleet::new(dlt645_meters(store.as_ref()).await?, FLEET_SEED, now, &fleet_config()?, 0), None),
        };
        let listener = crate::serve::bind(&settings).await?;
        let meters = fleet.len();
        // The seeded DL/T 645 meters are 000000000001…N: the fleet is exactly those; every other setting is the
        // simulator's default.
        let sim = <crate::simulate::SimulateArgs as clap::Parser>::try_parse_from([
            "simulate".to_string(),
            format!("--meters={meters}"),
            "--dlt645-listen=127.0.0.1:0".to_string(),
            format!("--seed={FLEET_SEED}"),
            // Real time: the head end reads the meters on the wall clock, and a relay command is valid for
            // minutes of the meter's time.
            "--acceleration=1".to_string(),
        ])?;
        let (sim_addr, _fleet) = crate::simulate::start_fleet(&sim, fleet).await?;
        connect_meters(store.as_ref(), clock.clone(), sim_addr).await?;
        anyhow::Ok((counts, shown, listener, meters, sim_addr))
    }
    .await;
    let (counts, seeded, listener, meters, sim_addr) = match serving {
        Ok(x) => x,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let addr = listener.local_addr()?;
    let database = voltvend_store::redact_url(&settings.database.url);
    let temp_shown = temp_dir.clone();
    let key_file = if master_configured { None } else { Some(settings.keys.master_key_file.clone()) };
    let ready = move || {
        println!();
        println!("  Voltvend demo is running on http://{addr}/");
        println!("  Web UI: http://{addr}/ui/ (中文 / English; log in as one of the operators below)");
        println!("  JSON API: http://{addr}/api/v1 (OpenAPI document at http://{addr}/api/v1/openapi.json);");
        println!("  health at /healthz, metrics at /metrics.");
        println!(
            "  Data: {} premises, {} customers, {} meters, {} sales, {} ledger transfers, {} audit records",
            counts.premises, counts.customers, counts.meters, counts.sales, counts.transfers, counts.audit_records
        );
        match &temp_shown {
            Some(dir) if keep => println!("  Embedded database: {} (kept when the demo stops)", dir.display()),
            Some(dir) => println!("  Embedded database: {} (removed when the demo stops)", dir.display()),
            None => println!("  Database: {database}"),
        }
        if let Some(file) = &key_file {
            println!("  Master key: {file} (made for this demo, kept or removed with it)");
        }
        println!(
            "  Simulated meters: DL/T 645 over TCP on {sim_addr} ({meters} meters, 000000000001 to {meters:012}, \
             real time); the head end reads them every {poll_s} s, trips or closes their relays and writes each \
             payment's balance to their displays"
        );
        match &seeded {
            Some((logins, sgc, krn, s)) => {
                println!(
                    "  Riverside Park 滨江园区 (Asia/Shanghai): {} buildings, {} units, {} customers ({} companies);",
                    s.buildings, s.units, s.customers, s.companies
                );
                println!(
                    "  meters: {} remote DL/T 645 electricity, {} STS keypad, {} remote water (MQTT telemetry; not connected in the demo, which runs no broker), {} OpenPAYGO, {} IC-card;",
                    s.dlt645_meters, s.sts_meters, s.water_meters, s.openpaygo_devices, s.ic_card_meters
                );
                println!(
                    "  History of {HISTORY_DAYS} days and today: {} sales, {} readings billed, {} relay trips ({} closed \
                     again by a payment), {} refused payments refunded, {} sale re-allocated (纠错); seeded in {:.1} s.",
                    s.sales,
                    s.readings,
                    s.relay_trips,
                    s.relay_closes,
                    s.refunds,
                    s.reversals,
                    seed_time.as_secs_f64()
                );
                println!(
                    "  公摊: Block A's incomer and common-area meter ({} readings, measured, billed to nobody) \
                     share the common areas and line loss among its units by floor area (Common areas / 公摊 in the \
                     menu); {} month posted.",
                    s.common_area_readings, s.apportioned_months
                );
                println!(
                    "  房租物业费: Block A's property fee (2.80 a m² a month, due on the 10th), last month and this month \
                     issued, {} flats' last month paid at its counter; overdue fees take 20 % of each purchase there \
                     (Rent and fees / 房租物业费 in the menu; an account's page shows its fees).",
                    s.fee_payments
                );
                println!(
                    "  后付费账单: Block A's {} shops are on monthly bills (电费账单: 20.00 a month standing charge, due \
                     on the 15th of the month after, 5 % late fee when dunned); {} bills issued, {} of last month's paid \
                     at Block A's counter, {} dunned (Rent and fees / 房租物业费 in the menu; a shop's page prints its bill).",
                    s.postpaid_accounts, s.bills_issued, s.bills_paid, s.bills_dunned
                );
                println!(
                    "  STS: supply group {sgc:06}, key revision {krn}, with a random DEMO vending key made for this \
                     database (never load it into a real meter)."
                );
                println!(
                    "  IC cards: flats C-0191 to C-0194 wait for their cards; each counter has a virtual card reader \
                     with simulated IC-card meters beside it (a meter's page: IC卡 / IC card; 读卡 / Card reader in the menu)."
                );
                for l in logins {
                    println!("  Log in as {} / {}  ({}, {})", l.username, l.password, l.role, l.scope);
                }
            }
            None => println!("  This demo database was seeded earlier; its logins were printed then."),
        }
        println!("  Stop with Ctrl-C.");
        println!();
    };
    let result = crate::serve::run(&settings, store, clock, listener, crate::serve::shutdown_signal(), ready).await;
    if let (Some(dir), Ok(()), false) = (&temp_dir, &result, keep)
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        tracing::warn!(error = %e, dir = %dir.display(), "could not remove the demo database");
    }
    result
}

/// The simulated meters' controllers: remote meters, whose balance the master station holds; they measure
/// and obey relay commands.
pub fn fleet_config() -> anyhow::Result<ControllerConfig> {
    let tz = TimeZone::get(TIME_ZONE)?;
    Ok(ControllerConfig { mode: Mode::Remote, ..crate::simulate::controller_config(tz) })
}

/// How many remote DL/T 645 electricity meters a database holds (for a database an earlier demo seeded).
async fn dlt645_meters(store: &dyn Store) -> anyhow::Result<usize> {
    let filter = MeterFilter {
        protocol: Some(MeterProtocol::Dlt645.as_str().into()),
        utility: Some(Utility::Electricity.as_str().into()),
        ..MeterFilter::default()
    };
    let mut q = ListQuery { scope: None, after: None, limit: ListQuery::LIMIT_MAX };
    let mut n = 0;
    loop {
        let page = store.list_meters(&q, &filter).await?;
        n += page.len();
        match page.last() {
            Some(last) if page.len() == ListQuery::LIMIT_MAX as usize => q.after = Some(last.meter.id.to_string()),
            _ => return Ok(n),
        }
    }
}

/// Seeds an empty database, or recognises one an earlier demo seeded (then `None`: no new logins).
async fn prepare(
    store: &dyn Store,
    clock: &Arc<ManualClock>,
    secret_ids: &IdGenerator,
    master_key: &MasterKey,
    now: Timestamp,
) -> anyhow::Result<Option<DemoSeed>> {
    match store.meta(PURPOSE_KEY).await?.as_deref() {
        Some(PURPOSE_DEMO) => return Ok(None),
        Some(other) => bail!("this database is a {other} database, not a demo's; give the demo another one"),
        None => {}
    }
    let counts = store.counts().await?;
    if counts.premises > 0 || counts.transfers > 0 {
        bail!("this database already holds data; the demo seeds only an empty database (or serves its own)");
    }
    let data_ids = IdGenerator::seeded(clock.clone(), DATA_SEED);
    let seeded = seed(store, clock, &data_ids, secret_ids, master_key, now).await?;
    // Marked only once complete: a half-seeded database is refused, never served.
    store.set_meta(PURPOSE_KEY, PURPOSE_DEMO).await?;
    Ok(Some(seeded))
}

/// Seeds the estate and its history up to `now`.
///
/// `store` must run on `clock` (its writer stamps every operation with it) and know `master_key` as its
/// current master key; the seed sets `clock` to [`HISTORY_DAYS`] days before `now` and moves it forward to
/// `now`. `data_ids` makes the data's ids (reproducible when seeded); `secret_ids` makes the passwords, the
/// vending key and the device secrets, and the nonces that seal them.
pub async fn seed(
    store: &dyn Store,
    clock: &ManualClock,
    data_ids: &IdGenerator,
    secret_ids: &IdGenerator,
    master_key: &MasterKey,
    now: Timestamp,
) -> anyhow::Result<DemoSeed> {
    let tz = TimeZone::get(TIME_ZONE)?;
    let today = now.to_zoned(tz.clone()).date();
    let first_day = today.checked_sub(HISTORY_DAYS.days())?;
    let start = first_day.to_zoned(tz.clone())?.timestamp();
    clock.set(start);
    let plan = EstatePlan::new();
    let remote_units = plan.units.iter().filter(|u| u.elec == Elec::Remote).count();
    let water_units = plan.units.iter().filter(|u| u.water).count();
    let cfg = fleet_config()?;
    let mut seeder = Seeder {
        store,
        clock,
        ids: data_ids,
        rng: StdRng::seed_from_u64(DATA_SEED),
        tz,
        first_day,
        now,
        fleet: Fleet::new(remote_units, FLEET_SEED, start, &cfg, 0),
        water_fleet: Fleet::with_water(water_units, water_units, WATER_FLEET_SEED, start, &cfg, 0),
        summary: SeedSummary::default(),
        estate: None,
        accounts: Vec::new(),
        shifts: [None; 5],
        agent_outstanding_minor: 0,
        refused: Vec::new(),
        reprint: None,
        common: None,
        cycle: None,
    };
    let (logins, vending_key) = seeder.set_up(&plan, secret_ids, master_key).await?;
    seeder.open_accounts(&plan, secret_ids, master_key).await?;
    seeder.common_areas(&plan).await?;
    seeder.postpaid_shops(&plan).await?;
    for day in 0..=HISTORY_DAYS {
        if !seeder.run_day(day).await? {
            break;
        }
    }
    seeder.advance(now);
    seeder.post_last_month().await?;
    seeder.fees(&plan).await?;
    seeder.collect_bills().await?;
    seeder.ic_card_wave(secret_ids, master_key).await?;
    seeder.summary.days = usize::try_from(HISTORY_DAYS).unwrap_or(0) + 1;
    Ok(DemoSeed { logins, vending_key, fleet: seeder.fleet, summary: seeder.summary })
}

/// Block A's units' floor areas by kind of unit: flats of three sizes, the ground-floor shops larger (dm²).
fn block_a_floor_areas(plan: &EstatePlan, estate: &Estate) -> Vec<(voltvend_domain::PremisesId, i64)> {
    plan.units
        .iter()
        .zip(&estate.units)
        .enumerate()
        .filter(|(_, (u, _))| u.building == 0)
        .map(|(n, (u, premises))| {
            let floor_area_dm2 = match u.kind {
                UnitKind::Home => [8_950, 10_425, 12_780].get(n % 3).copied().unwrap_or(8_950),
                _ => 15_600,
            };
            (premises.id, floor_area_dm2)
        })
        .collect()
}

/// The kinds of building in the park.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Flats above shops on the ground floor.
    Apartments,
    Offices,
    Workshops,
}

struct BuildingPlan {
    letter: &'static str,
    name: &'static str,
    floors: u32,
    per_floor: u32,
    usage: Use,
}

const BUILDINGS: [BuildingPlan; 5] = [
    BuildingPlan { letter: "A", name: "Block A 滨江公寓A座", floors: 12, per_floor: 6, usage: Use::Apartments },
    BuildingPlan { letter: "B", name: "Block B 滨江公寓B座", floors: 12, per_floor: 6, usage: Use::Apartments },
    BuildingPlan { letter: "C", name: "Block C 人才公寓C座", floors: 8, per_floor: 6, usage: Use::Apartments },
    BuildingPlan {
        letter: "D", name: "Innovation Centre D 创新中心D栋", floors: 6, per_floor: 5, usage: Use::Offices
    },
    BuildingPlan { letter: "E", name: "Workshops E 标准厂房E栋", floors: 3, per_floor: 6, usage: Use::Workshops },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitKind {
    Home,
    Shop,
    Office,
    Workshop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elec {
    /// A remote DL/T 645 meter, billed from its readings.
    Remote,
    /// An STS keypad meter, sold tokens.
    Sts,
}

struct UnitPlan {
    building: usize,
    floor: u32,
    code: String,
    kind: UnitKind,
    elec: Elec,
    water: bool,
    opg: bool,
}

/// The park's units and what each has: Block A's flats a remote electricity and a remote water meter, Block
/// B's remote electricity (and on the 2nd floor an OpenPAYGO e-bike battery), Block C's (the older block) STS
/// keypad meters; the ground-floor shops, the offices and the workshops remote meters on the commercial tariff.
struct EstatePlan {
    units: Vec<UnitPlan>,
}

impl EstatePlan {
    fn new() -> Self {
        let mut units = Vec::new();
        for (b, plan) in BUILDINGS.iter().enumerate() {
            for floor in 1..=plan.floors {
                for no in 1..=plan.per_floor {
                    let kind = match plan.usage {
                        Use::Apartments if floor == 1 => UnitKind::Shop,
                        Use::Apartments => UnitKind::Home,
                        Use::Offices => UnitKind::Office,
                        Use::Workshops => UnitKind::Workshop,
                    };
                    let home = kind == UnitKind::Home;
                    units.push(UnitPlan {
                        building: b,
                        floor,
                        code: format!("{}-{floor:02}{no:02}", plan.letter),
                        kind,
                        elec: if home && plan.letter == "C" { Elec::Sts } else { Elec::Remote },
                        water: home && plan.letter == "A",
                        opg: home && plan.letter == "B" && floor == 2,
                    });
                }
            }
        }
        Self { units }
    }
}

/// The units of the history's special cases: a sale keyed to the neighbour's account and re-allocated (纠错), and
/// two payments above what a wallet may hold (囤积), refused and handed back.
const WRONG_UNIT: &str = "A-0502";
const RIGHT_UNIT: &str = "A-0503";
const OVERPAID_CASH_UNIT: &str = "B-0704";
const OVERPAID_TRANSFER_UNIT: &str = "D-0301";
/// Block C's meters whose tamper flags the field engineer clears.
const INSPECTED_UNITS: [&str; 2] = ["C-0301", "C-0604"];

/// The flats on IC-card meters (see `Seeder::ic_card_wave`).
const IC_CARD_FLATS: usize = 4;

/// Who sells: the three counters' cashiers, the agent, and the group's head-office cashier.
const CASHIER_A: usize = 0;
const CASHIER_B: usize = 1;
const CASHIER_CENTRE: usize = 2;
const AGENT: usize = 3;
const CASHIER_HQ: usize = 4;
/// The day of the history the head office sells to a few of the park's office tenants.
const HEAD_OFFICE_DAY: i32 = 3;

/// Ids of the estate's fixed parts.
struct Estate {
    park: Premises,
    units: Vec<Premises>,
    books: BooksId,
    /// Per cashier (see [`CASHIER_A`]…): the vending point, the operator and its scope.
    points: [VendingPointId; 5],
    cashiers: [(OperatorId, Premises); 5],
    manager: OperatorId,
    engineer: OperatorId,
}

impl Estate {
    fn cashier(&self, who: usize) -> anyhow::Result<Actor> {
        let (id, scope) = self.cashiers.get(who).context("no such cashier")?;
        Ok(Actor::operator(*id, scope.id, "demo"))
    }

    fn staff(&self, id: OperatorId) -> Actor {
        Actor::operator(id, self.park.id, "demo")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Habit {
    /// Tops up when fewer than `below` days of use are left, for about `days` days.
    Prompt { below: i64, days: i64 },
    /// Waits until the supply is cut, then pays `after` days later for about `days` days.
    Late { after: i32, days: i64 },
}

/// A customer account as the seed follows it.
struct Acct {
    id: AccountId,
    unit: usize,
    kind: UnitKind,
    /// The counter the customer goes to.
    counter: usize,
    elec: MeterId,
    /// The fleet index of the remote electricity meter.
    remote: Option<usize>,
    water: Option<(MeterId, usize)>,
    opg: Option<MeterId>,
    habit: Habit,
    overdraft_minor: i64,
    max_balance_minor: i64,
    min_purchase_minor: i64,
    /// The wallet's balance after the last operation that touched it.
    balance_minor: i64,
    /// What a day's use costs, as seen lately.
    daily_minor: i64,
    elec_open: bool,
    water_open: bool,
    /// The day the supply was cut.
    cut_on: Option<i32>,
    /// On monthly bills: buys no credit, pays its bills.
    postpaid: bool,
    /// An STS customer's next purchase.
    next_sts_day: i32,
    /// The day the OpenPAYGO device's rented time runs out.
    opg_until_day: i32,
}

impl Acct {
    fn company(&self) -> bool {
        self.kind != UnitKind::Home
    }
}

/// One purchase the seed plans.
struct Purchase {
    acct: usize,
    meter: MeterId,
    amount: SaleAmount,
    method: PaymentMethod,
    cashier: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wave {
    Morning,
    Afternoon,
    Evening,
}

struct Seeder<'a> {
    store: &'a dyn Store,
    clock: &'a ManualClock,
    ids: &'a IdGenerator,
    rng: StdRng,
    tz: TimeZone,
    first_day: Date,
    now: Timestamp,
    fleet: Fleet,
    water_fleet: Fleet,
    summary: SeedSummary,
    estate: Option<Estate>,
    accounts: Vec<Acct>,
    /// Each cashier's open shift.
    shifts: [Option<ShiftId>; 5],
    agent_outstanding_minor: i64,
    /// Refused payments not yet handed back: the payment's operation and its method.
    refused: Vec<(OperationId, usize, PaymentMethod)>,
    /// A sale whose receipt a customer asks for again.
    reprint: Option<OperationId>,
    /// Block A's common areas, once set up.
    common: Option<CommonArea>,
    /// Block A's postpaid billing cycle, once set up.
    cycle: Option<voltvend_domain::FeeScheduleId>,
}

/// Block A's incomer (总表, serial A-INCOMER) and its stairwells' lights and lifts (公共照明及电梯, A-COMMON):
/// what the seeder has them measure. The incomer measures what Block A's remote meters measured, the common areas, and a line loss of
/// 3.5 % on top; the common areas draw 30–45 kWh a day.
struct CommonArea {
    rule: voltvend_domain::ApportionmentRuleId,
    parent: MeterId,
    lights: MeterId,
    /// Block A's remote electricity meters (fleet indices).
    units: Vec<usize>,
    parent_wh: i64,
    lights_wh: i64,
    /// What Block A's remote meters showed at the last midnight reading.
    units_wh: Option<i64>,
}

/// The line loss the demo's incomer sees, in thousandths.
const LINE_LOSS_PERMILLE: i64 = 35;

/// Submits operations together, so that the store's writer takes them in as few batches as it can, in this
/// order; every one must commit (a refused sale's payment, recorded, is committed).
async fn commit_all(store: &dyn Store, ops: Vec<Operation>) -> anyhow::Result<Vec<Outcome>> {
    let kinds: Vec<&'static str> = ops.iter().map(|op| op.command.kind()).collect();
    // `unconstrained`: the submissions reach the writer's queue in order, without yielding half-way.
    let results = tokio::task::unconstrained(join_all(ops.into_iter().map(|op| store.submit(op)))).await;
    results
        .into_iter()
        .zip(kinds)
        .map(|(r, kind)| match r.with_context(|| format!("demo seed: {kind}"))? {
            Applied::Committed { outcome, .. } => Ok(outcome),
            Applied::Replayed { .. } => bail!("demo seed: a {kind} operation was applied before"),
        })
        .collect()
}

fn round_up(v: i64, step: i64) -> i64 {
    (v + step - 1).div_euclid(step) * step
}

impl<'a> Seeder<'a> {
    /// IC-card prepaid (DESIGN.md §1): card key set 1 (SM4, a random root key sealed under the master key), and
    /// four new flats on Block C's ground floor with IC-card meters on open accounts and no card yet — for the
    /// demo's operators to commission (a field engineer's parameter card), issue the customers' cards, sell onto
    /// them and read them back, with the counters' virtual card readers and the simulated meters beside them.
    async fn ic_card_wave(&mut self, secret_ids: &IdGenerator, master_key: &MasterKey) -> anyhow::Result<()> {
        let root_hex = {
            let mut key = Zeroizing::new([0_u8; 16]);
            secret_ids.fill(key.as_mut());
            Zeroizing::new(key.iter().map(|b| format!("{b:02X}")).collect::<String>())
        };
        let sealed = master_key.seal(&voltvend_ops::card_key_aad(1), nonce(secret_ids), root_hex.as_bytes())?;
        let key = voltvend_ops::CardKeyRecord { key_no: 1, algorithm: voltvend_ops::CardAlgorithm::Sm4, sealed };
        self.commit(vec![self.system(Command::ImportCardKey(key))]).await?;
        let estate = self.estate()?;
        let books = estate.books;
        // Block C's first unit sits on its ground floor: the new flats go beside it.
        let block_c =
            estate.units.iter().find(|u| u.name.starts_with("C-01")).context("a Block C ground-floor unit")?;
        let floor = self.store.premises(block_c.parent.context("a unit's floor")?).await?;
        let mut ops = Vec::new();
        for no in 1..=IC_CARD_FLATS {
            let unit = floor.new_child(self.ids.id(), PremisesLevel::Unit, &format!("C-01{:02}", 90 + no))?;
            let customer = self.customer(&unit, UnitKind::Home, 1_000 + no)?;
            let meter_id = self.ids.id::<MeterId>();
            let mut m = Meter::receive(
                meter_id,
                &format!("DDSY-IC-{no:04}"),
                Utility::Electricity,
                ControlMode::Local,
                MeterProtocol::IcCard,
                &format!("{:012}", 880_000 + no),
                CtVtRatio::DIRECT,
            )?;
            m.premises_id = Some(unit.id);
            ops.push(self.system(Command::CreatePremises(unit.clone())));
            ops.push(self.system(Command::OpenAccount(OpenAccount {
                customer: CustomerRef::New(customer),
                account_id: self.ids.id(),
                premises_id: unit.id,
                currency: Currency::CNY,
                books_id: books,
                overdraft_limit_minor: 0,
                recovery: ArrearsRecovery::Share(200_000),
                min_purchase_minor: 1_000,
                max_balance_minor: None,
                meters: vec![MeterBinding {
                    meter_id,
                    receive: Some(m),
                    tariff_code: Some(RESIDENTIAL.into()),
                    sts: None,
                    opg: None,
                    max_credit_minor: Some(100_000),
                }],
                first_sale: None,
            })));
            self.summary.customers += 1;
            self.summary.units += 1;
            self.summary.ic_card_meters += 1;
        }
        self.commit(ops).await?;
        Ok(())
    }

    fn estate(&self) -> anyhow::Result<&Estate> {
        self.estate.as_ref().context("the estate is set up first")
    }

    fn op(&self, actor: &Actor, command: Command) -> Operation {
        Operation::new(self.ids.id::<OperationId>(), actor.clone(), command)
    }

    fn system(&self, command: Command) -> Operation {
        self.op(&Actor::system("demo"), command)
    }

    async fn commit(&self, ops: Vec<Operation>) -> anyhow::Result<Vec<Outcome>> {
        commit_all(self.store, ops).await
    }

    /// Local time `hh:mm` on day `day` of the history (0 is its first day).
    fn at(&self, day: i32, hh: i64, mm: i64) -> anyhow::Result<Timestamp> {
        let date = self.first_day.checked_add(day.days())?;
        Ok(date.to_zoned(self.tz.clone())?.timestamp() + SignedDuration::from_mins(hh * 60 + mm))
    }

    /// Moves the store's clock and the simulated meters to `to`.
    fn advance(&mut self, to: Timestamp) {
        let quarter = SignedDuration::from_mins(15);
        while self.fleet.now() < to {
            let dt = self.fleet.now().duration_until(to).min(quarter);
            self.fleet.step(dt);
            self.water_fleet.step(dt);
        }
        self.clock.set(to);
    }

    /// Goes to `hh:mm` on `day`, unless that is after now (then the history is complete).
    fn reach(&mut self, day: i32, hh: i64, mm: i64) -> anyhow::Result<bool> {
        let t = self.at(day, hh, mm)?;
        if t > self.now {
            return Ok(false);
        }
        self.advance(t);
        Ok(true)
    }

    /// Premises, books, tariffs, the vending key, vending points and operators.
    async fn set_up(
        &mut self,
        plan: &EstatePlan,
        secret_ids: &IdGenerator,
        master_key: &MasterKey,
    ) -> anyhow::Result<(Vec<DemoLogin>, DemoVendingKey)> {
        self.reach(0, 7, 30)?;
        let ids = self.ids;
        let group = Premises::new_root(ids.id(), "Binjiang Energy Services 滨江能源服务", TIME_ZONE)?;
        let park = group.new_child(ids.id(), PremisesLevel::Property, "Riverside Park 滨江园区")?;
        let mut buildings = Vec::new();
        let mut floors = Vec::new();
        for b in &BUILDINGS {
            let building = park.new_child(ids.id(), PremisesLevel::Building, b.name)?;
            for floor in 1..=b.floors {
                floors.push(building.new_child(ids.id(), PremisesLevel::Floor, &format!("{}{floor}F", b.letter))?);
            }
            buildings.push(building);
        }
        let mut units = Vec::new();
        for u in &plan.units {
            let before: u32 = BUILDINGS.iter().take(u.building).map(|b| b.floors).sum();
            let floor = floors.get(usize::try_from(before + u.floor - 1)?).context("unit floor")?;
            units.push(floor.new_child(ids.id(), PremisesLevel::Unit, &u.code)?);
        }
        self.summary.buildings = buildings.len();
        self.summary.units = units.len();

        let books = ids.id::<BooksId>();
        // The group keeps books of its own for its head-office counter (集团统一收费).
        let group_books = ids.id::<BooksId>();
        let vending_key_hex = {
            let mut key = Zeroizing::new([0_u8; 8]);
            secret_ids.fill(key.as_mut());
            Zeroizing::new(key.iter().map(|b| format!("{b:02X}")).collect::<String>())
        };
        let sealed = master_key.seal(
            &vending_key_aad(DEMO_SUPPLY_GROUP, DEMO_KEY_REVISION),
            nonce(secret_ids),
            vending_key_hex.as_bytes(),
        )?;
        let mut wave = vec![
            Command::OpenBooks(OpenBooks { id: books, premises_id: park.id, currency: Currency::CNY }),
            Command::OpenBooks(OpenBooks { id: group_books, premises_id: group.id, currency: Currency::CNY }),
            Command::ImportVendingKey(VendingKeyRecord { sgc: DEMO_SUPPLY_GROUP, krn: DEMO_KEY_REVISION, sealed }),
        ];
        for document in [ELECTRICITY_TARIFF, COMMERCIAL_TARIFF, WATER_TARIFF, ZA_TARIFF] {
            let (file, _) =
                voltvend_tariff_file::parse(document).map_err(|e| anyhow::anyhow!("shipped tariff: {e}"))?;
            wave.push(Command::ImportTariff(ImportTariff {
                code: file.code,
                name: file.name,
                document: document.into(),
            }));
        }
        wave.extend(buildings.iter().cloned().map(Command::CreatePremises));
        // Parents before children: one batch per level of the tree.
        self.commit(vec![self.system(Command::CreatePremises(group.clone()))]).await?;
        self.commit(vec![self.system(Command::CreatePremises(park.clone()))]).await?;
        let ops = wave.into_iter().map(|c| self.system(c)).collect();
        self.commit(ops).await?;

        let building = |i: usize| buildings.get(i).cloned().context("building");
        let points: [VendingPointId; 5] = [ids.id(), ids.id(), ids.id(), ids.id(), ids.id()];
        let point_plans = [
            (points[CASHIER_A], building(0)?.id, "Block A counter A座营业厅", None, books),
            (points[CASHIER_B], building(1)?.id, "Block B counter B座营业厅", None, books),
            (points[CASHIER_CENTRE], park.id, "Park service centre 园区服务中心", None, books),
            (
                points[AGENT],
                park.id,
                "Riverside convenience store (agent) 滨江便利店代售点",
                Some(AGENT_CREDIT_LIMIT_MINOR),
                books,
            ),
            (points[CASHIER_HQ], group.id, "Group head office 集团营业厅", None, group_books),
        ];
        let mut wave: Vec<Command> = floors.iter().cloned().map(Command::CreatePremises).collect();
        for (id, premises_id, name, credit_limit_minor, books_id) in point_plans {
            wave.push(Command::OpenVendingPoint(OpenVendingPoint {
                id,
                premises_id,
                name: name.into(),
                currency: Currency::CNY,
                books_id,
                credit_limit_minor,
            }));
        }
        self.summary.vending_points = points.len();
        let staff = [
            ("admin", "Administrator 系统管理员", BuiltinRole::Administrator, group.clone()),
            ("manager", "Zhou Min 周敏 (park manager)", BuiltinRole::Manager, park.clone()),
            ("cashier.a", "Chen Jing 陈静 (Block A counter)", BuiltinRole::Cashier, building(0)?),
            ("cashier.b", "Li Na 李娜 (Block B counter)", BuiltinRole::Cashier, building(1)?),
            ("cashier.centre", "Wang Ting 王婷 (service centre)", BuiltinRole::Cashier, park.clone()),
            ("agent.lin", "Lin Tao 林涛 (convenience store agent)", BuiltinRole::Cashier, park.clone()),
            ("engineer", "Zhao Qiang 赵强 (field engineer)", BuiltinRole::FieldEngineer, park.clone()),
            ("auditor", "Sun Li 孙丽 (auditor)", BuiltinRole::Auditor, group.clone()),
            ("viewer", "Guest 访客 (read only)", BuiltinRole::ReadOnly, park.clone()),
            ("cashier.hq", "Xu Yan 徐艳 (group head office)", BuiltinRole::Cashier, group.clone()),
        ];
        // Argon2 is slow by design: hash the passwords on every core at once.
        let passwords: Vec<String> = staff.iter().map(|_| crate::passwords::generate(secret_ids)).collect();
        let hashes: Vec<anyhow::Result<String>> = std::thread::scope(|s| {
            let handles: Vec<_> =
                passwords.iter().map(|p| s.spawn(move || crate::passwords::hash(p, secret_ids))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("hashing failed")))).collect()
        });
        let mut logins = Vec::new();
        let mut operator_ids = Vec::new();
        for ((username, display, role, scope), (password, hash)) in staff.iter().zip(passwords.into_iter().zip(hashes))
        {
            let id = ids.id::<OperatorId>();
            wave.push(Command::AddOperator(Operator::new(id, username, display, role.as_str(), scope.id, &hash?)));
            operator_ids.push(id);
            logins.push(DemoLogin { username: (*username).into(), role: *role, scope: scope.name.clone(), password });
        }
        self.summary.operators = logins.len();
        let ops = wave.into_iter().map(|c| self.system(c)).collect();
        self.commit(ops).await?;
        let ops = units.iter().cloned().map(|u| self.system(Command::CreatePremises(u))).collect();
        self.commit(ops).await?;

        let op = |i: usize| operator_ids.get(i).copied().context("operator");
        self.estate = Some(Estate {
            cashiers: [
                (op(2)?, building(0)?),
                (op(3)?, building(1)?),
                (op(4)?, park.clone()),
                (op(5)?, park.clone()),
                (op(9)?, group.clone()),
            ],
            park,
            units,
            books,
            points,
            manager: op(1)?,
            engineer: op(6)?,
        });
        let key = DemoVendingKey { sgc: DEMO_SUPPLY_GROUP, krn: DEMO_KEY_REVISION, hex: vending_key_hex };
        Ok((logins, key))
    }

    /// 集团统一收费: the group's head-office counter, in the group's own books, opens a shift, sells to three of
    /// the Innovation Centre's office tenants who pay in cash there, and closes it counted exactly. Each sale is
    /// the park's tenant's credit and the head office's cash: balanced in both sets of books through their
    /// inter-property accounts (the park is owed what the head office took).
    async fn head_office(&mut self) -> anyhow::Result<()> {
        self.open_shifts(&[CASHIER_HQ]).await?;
        let offices: Vec<usize> = self
            .accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.kind == UnitKind::Office)
            .map(|(n, _)| n)
            .take(3)
            .collect();
        let mut purchases = Vec::new();
        for (k, n) in offices.into_iter().enumerate() {
            let meter = self.accounts.get(n).context("account")?.elec;
            let amount = SaleAmount::Paid(30_000 + 10_000 * i64::try_from(k)?);
            purchases.push(Purchase { acct: n, meter, amount, method: PaymentMethod::Cash, cashier: CASHIER_HQ });
        }
        let mut ops = Vec::new();
        for p in &purchases {
            ops.push(self.sale_op(p)?);
        }
        let outcomes = self.commit(ops).await?;
        for (p, outcome) in purchases.iter().zip(outcomes) {
            match outcome {
                Outcome::Sale(sale) => {
                    self.sold(p.acct, &sale, Some(CASHIER_HQ));
                    self.summary.head_office_sales += 1;
                }
                other => bail!("demo seed: a head-office sale answered {other:?}"),
            }
        }
        let shift_id = self.shifts.get_mut(CASHIER_HQ).and_then(Option::take).context("the head office's shift")?;
        let shift = self.store.shift(shift_id).await?;
        let (_, drawer) = self.store.ledger_account(shift.drawer).await?;
        let counted_minor = shift.opening_float_minor + drawer.normal(Side::Debit);
        let close = CloseShift { shift_id, counted_minor, denominations: Vec::new() };
        let op = self.op(&self.estate()?.cashier(CASHIER_HQ)?, Command::CloseShift(close));
        self.commit(vec![op]).await?;
        Ok(())
    }

    /// Opens the day's shifts (the counters at 08:30, the agent at 09:00).
    async fn open_shifts(&mut self, who: &[usize]) -> anyhow::Result<()> {
        let mut ops = Vec::new();
        for &w in who {
            let estate = self.estate()?;
            let shift_id = self.ids.id::<ShiftId>();
            let (operator_id, _) = estate.cashiers.get(w).context("cashier")?;
            let open = OpenShift {
                shift_id,
                vending_point_id: *estate.points.get(w).context("point")?,
                operator_id: *operator_id,
                opening_float_minor: if w == AGENT { 0 } else { FLOAT_MINOR },
            };
            ops.push(self.op(&estate.cashier(w)?, Command::OpenShift(open)));
            if let Some(s) = self.shifts.get_mut(w) {
                *s = Some(shift_id);
            }
        }
        self.summary.shifts += ops.len();
        self.commit(ops).await?;
        Ok(())
    }

    /// Closes shifts against a count of the drawer: right, as a rule; now and then a little over or short.
    async fn close_shifts(&mut self, who: &[usize]) -> anyhow::Result<()> {
        let mut ops = Vec::new();
        for &w in who {
            let Some(shift_id) = self.shifts.get_mut(w).and_then(Option::take) else { continue };
            let shift = self.store.shift(shift_id).await?;
            let (_, drawer) = self.store.ledger_account(shift.drawer).await?;
            let expected = shift.opening_float_minor + drawer.normal(Side::Debit);
            let variance = match self.rng.random_range(0..20) {
                0 => -1_000,
                1 => 500,
                2 => -200,
                _ => 0,
            };
            let close = CloseShift { shift_id, counted_minor: (expected + variance).max(0), denominations: Vec::new() };
            ops.push(self.op(&self.estate()?.cashier(w)?, Command::CloseShift(close)));
        }
        self.commit(ops).await?;
        Ok(())
    }

    /// A customer file for a unit: people (names in hanzi, pinyin or both) in the flats, companies with their
    /// business licence elsewhere.
    fn customer(&mut self, unit: &Premises, kind: UnitKind, n: usize) -> anyhow::Result<Customer> {
        let pick = |list: &'static str, i: usize| name_entry(list, i).context("a name list entry");
        let prefix = [38, 39, 58, 59, 86, 37].get(n % 6).copied().unwrap_or(38);
        let mobile = format!("1{prefix}{:08}", self.rng.random_range(0..100_000_000));
        let (trade_py, trade_zh) = pick(TRADE_NAMES, n * 7 + n / 12)?;
        let id = self.ids.id::<CustomerId>();
        if kind == UnitKind::Home {
            let (s_py, s_zh) = pick(SURNAMES, self.rng.random_range(0..64))?;
            let (g_py, g_zh) = pick(GIVEN_NAMES, self.rng.random_range(0..64))?;
            let name = match n % 3 {
                0 => format!("{s_zh}{g_zh}"),
                1 => format!("{s_py} {g_py}"),
                _ => format!("{s_py} {g_py} {s_zh}{g_zh}"),
            };
            return Ok(Customer::file(id, unit.id, CustomerKind::Person, &name, None, &[&mobile], None)?);
        }
        let name = match kind {
            UnitKind::Shop => {
                let (en, zh) = pick(SHOPS, n)?;
                format!("{trade_py} {en} {trade_zh}{zh}")
            }
            UnitKind::Office => {
                let (en, zh) = pick(OFFICES, n / 3)?;
                format!("Hangzhou {trade_py} {en} Co., Ltd. 杭州{trade_zh}{zh}有限公司")
            }
            _ => {
                let (en, zh) = pick(WORKSHOPS, n)?;
                format!("Zhejiang {trade_py} {en} Co., Ltd. 浙江{trade_zh}{zh}有限公司")
            }
        };
        // A unified social credit code's shape (18 characters); made up, like the rest.
        const CHECK: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
        let check = char::from(CHECK.get(n % CHECK.len()).copied().unwrap_or(b'0'));
        let licence = IdDocument {
            kind: IdDocumentKind::BusinessLicence,
            number: format!("91330108MA2{:06}{check}", 100_000 + n * 37),
        };
        let landline = format!("0571-8{:07}", self.rng.random_range(0..10_000_000));
        let email = format!("accounts@{}.example.com", trade_py.to_lowercase());
        let email = (kind == UnitKind::Office).then_some(email.as_str());
        Ok(Customer::file(id, unit.id, CustomerKind::Company, &name, Some(licence), &[&landline, &mobile], email)?)
    }

    /// 开户: every unit's customer and account, its meters received and bound, and a first sale at its
    /// counter; then the remote meters' commissioning readings.
    async fn open_accounts(
        &mut self,
        plan: &EstatePlan,
        secret_ids: &IdGenerator,
        master_key: &MasterKey,
    ) -> anyhow::Result<()> {
        self.reach(0, 8, 30)?;
        self.open_shifts(&[CASHIER_A, CASHIER_B, CASHIER_CENTRE]).await?;
        self.reach(0, 9, 0)?;
        self.open_shifts(&[AGENT]).await?;

        // Shops, offices and workshops get the fleet's commercial and constant loads, flats its households.
        let mut households: VecDeque<usize> = VecDeque::new();
        let mut businesses: VecDeque<usize> = VecDeque::new();
        for (i, m) in self.fleet.meters().iter().enumerate() {
            match m.profile {
                Profile::Residential => households.push_back(i),
                _ => businesses.push_back(i),
            }
        }
        let units = self.estate()?.units.clone();
        let mut ops = Vec::new();
        for (n, (u, unit)) in plan.units.iter().zip(&units).enumerate() {
            let company = u.kind != UnitKind::Home;
            let customer = self.customer(unit, u.kind, n)?;
            self.summary.customers += 1;
            self.summary.companies += usize::from(company);
            let counter = match u.building {
                0 => CASHIER_A,
                1 => CASHIER_B,
                _ => CASHIER_CENTRE,
            };
            let mut meters = Vec::new();
            let elec_id = self.ids.id::<MeterId>();
            let (remote, profile) = match u.elec {
                Elec::Remote => {
                    let (mine, other) =
                        if company { (&mut businesses, &mut households) } else { (&mut households, &mut businesses) };
                    let i = mine.pop_front().or_else(|| other.pop_front()).context("a fleet meter per unit")?;
                    let tariff = if company { COMMERCIAL } else { RESIDENTIAL };
                    meters.push(remote_meter(elec_id, unit, i, tariff)?);
                    self.summary.dlt645_meters += 1;
                    (Some(i), self.fleet.meters().get(i).map(|m| m.profile))
                }
                Elec::Sts => {
                    self.summary.sts_meters += 1;
                    meters.push(sts_meter(elec_id, unit, self.summary.sts_meters)?);
                    (None, None)
                }
            };
            let water = if u.water {
                let id = self.ids.id::<MeterId>();
                meters.push(water_meter(id, unit, self.summary.water_meters + 1)?);
                self.summary.water_meters += 1;
                Some((id, self.summary.water_meters - 1))
            } else {
                None
            };
            let opg = if u.opg {
                let id = self.ids.id::<MeterId>();
                self.summary.openpaygo_devices += 1;
                meters.push(opg_device(id, unit, self.summary.openpaygo_devices, secret_ids, master_key)?);
                Some(id)
            } else {
                None
            };

            let late = self.rng.random_range(0..100) < if company { 15 } else { 20 };
            let habit = if late {
                Habit::Late { after: self.rng.random_range(1..=4), days: self.rng.random_range(5..=12) }
            } else {
                Habit::Prompt { below: self.rng.random_range(2..=5), days: self.rng.random_range(10..=25) }
            };
            let daily_minor = match profile {
                Some(Profile::Residential) => 900,
                Some(Profile::Commercial) => 3_500,
                Some(Profile::Constant { watts }) => i64::from(watts) * 3 / 2,
                Some(Profile::WaterFlow) | None => 700,
            } + if water.is_some() { 450 } else { 0 };
            let (overdraft_minor, max_balance_minor, min_purchase_minor, recovery) = match u.kind {
                UnitKind::Home => (if n % 5 == 0 { 5_000 } else { 0 }, 100_000, 1_000, ArrearsRecovery::Share(200_000)),
                UnitKind::Shop => {
                    (if n % 3 == 0 { 10_000 } else { 0 }, 300_000, 2_000, ArrearsRecovery::Share(300_000))
                }
                _ => (if n % 3 == 0 { 20_000 } else { 0 }, 1_000_000, 5_000, ArrearsRecovery::Fixed(20_000)),
            };
            let account_id = self.ids.id::<AccountId>();
            let acct = Acct {
                id: account_id,
                unit: n,
                kind: u.kind,
                counter,
                elec: elec_id,
                remote,
                water,
                opg,
                habit,
                overdraft_minor,
                max_balance_minor,
                min_purchase_minor,
                balance_minor: 0,
                daily_minor,
                elec_open: false,
                water_open: false,
                cut_on: None,
                postpaid: false,
                next_sts_day: self.rng.random_range(5..=9),
                opg_until_day: 0,
            };
            // The opening purchase: enough for a few days if the customer tends to wait for the cut, else weeks.
            let first = match (u.elec, habit) {
                (Elec::Sts, _) => SaleAmount::Paid(self.rng.random_range(2..=4) * 5_000),
                (Elec::Remote, Habit::Late { .. }) => {
                    SaleAmount::Paid(round_up(daily_minor * self.rng.random_range(3..=8), 5_000))
                }
                (Elec::Remote, Habit::Prompt { days, .. }) => {
                    SaleAmount::Paid(round_up(daily_minor * days, 5_000).min(max_balance_minor - 20_000))
                }
            };
            let method = self.method(company);
            let shift = self.shifts.get(counter).copied().flatten().context("the counter is open")?;
            let mut sale = Sale::paid(account_id, elec_id, shift, method, 0);
            sale.amount = first;
            sale.reference = self.reference(method);
            let open = OpenAccount {
                customer: CustomerRef::New(customer),
                account_id,
                premises_id: unit.id,
                currency: Currency::CNY,
                books_id: self.estate()?.books,
                overdraft_limit_minor: overdraft_minor,
                recovery,
                min_purchase_minor,
                max_balance_minor: Some(max_balance_minor),
                meters,
                first_sale: Some(sale),
            };
            ops.push(self.op(&self.estate()?.cashier(counter)?, Command::OpenAccount(open)));
            self.accounts.push(acct);
        }
        let outcomes = self.commit(ops).await?;
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Outcome::AccountOpened { first_sale: Some(sale), .. } => self.sold(i, sale, None),
                other => bail!("demo seed: an account opening answered {other:?}"),
            }
        }
        self.reach(0, 9, 15)?;
        self.read_meters().await
    }

    fn method(&mut self, company: bool) -> PaymentMethod {
        let roll = self.rng.random_range(0..100);
        match (company, roll) {
            (true, 0..70) => PaymentMethod::BankTransfer,
            (true, _) => PaymentMethod::BankCard,
            (false, 0..55) => PaymentMethod::Cash,
            (false, 55..85) => PaymentMethod::BankCard,
            (false, _) => PaymentMethod::BankTransfer,
        }
    }

    fn reference(&mut self, method: PaymentMethod) -> String {
        match method {
            // The demo's counters take no online payments (those come through a channel's notifications).
            PaymentMethod::Cash | PaymentMethod::Online => String::new(),
            PaymentMethod::BankCard => format!("AUTH {:06}", self.rng.random_range(0..1_000_000)),
            PaymentMethod::BankTransfer => format!("TRF{:010}", self.rng.random_range(0..10_000_000_000_u64)),
        }
    }

    /// Follows a committed sale: the wallet's balance, and a relay closed again by it.
    fn sold(&mut self, acct: usize, sale: &SaleRecord, cashier: Option<usize>) {
        self.summary.sales += 1;
        if cashier == Some(CASHIER_CENTRE) && self.reprint.is_none() {
            self.reprint = Some(sale.operation_id);
        }
        let at = sale.at;
        let Some(a) = self.accounts.get_mut(acct) else { return };
        a.balance_minor = sale.balance_after_minor;
        let available = a.balance_minor + a.overdraft_minor;
        if available <= 0 {
            return;
        }
        let mut closed = 0;
        if sale.meter_id == a.elec && a.elec_open {
            a.elec_open = false;
            closed += 1;
            if let Some(m) = a.remote.and_then(|i| self.fleet.meters_mut().get_mut(i)) {
                m.controller.remote(RemoteCommand::ClosePermitted, at);
            }
        }
        if let Some((water, i)) = a.water
            && sale.meter_id == water
            && a.water_open
        {
            a.water_open = false;
            closed += 1;
            if let Some(m) = self.water_fleet.meters_mut().get_mut(i) {
                m.controller.remote(RemoteCommand::ClosePermitted, at);
            }
        }
        if !a.elec_open && !a.water_open {
            a.cut_on = None;
        }
        self.summary.relay_closes += closed;
    }

    /// 公摊: Block A's incomer and common-area meter received, installed with no account, and a rule sharing the
    /// common areas and the line loss among Block A's units by floor area.
    async fn common_areas(&mut self, plan: &EstatePlan) -> anyhow::Result<()> {
        let estate = self.estate()?;
        let manager = estate.staff(estate.manager);
        let block_a = estate.cashiers.get(CASHIER_A).map(|(_, b)| b.clone()).context("Block A")?;
        let (parent, lights) = (self.ids.id::<MeterId>(), self.ids.id::<MeterId>());
        let mut ops = Vec::new();
        for (id, serial, address) in
            [(parent, "A-INCOMER", "10.20.1.10:502/1"), (lights, "A-COMMON", "10.20.1.10:502/2")]
        {
            let mut m = Meter::receive(
                id,
                serial,
                Utility::Electricity,
                ControlMode::Remote,
                // Multifunction meters in Block A's switch room, on Modbus TCP (not the DL/T 645 fleet).
                MeterProtocol::ModbusTcp,
                address,
                CtVtRatio::DIRECT,
            )?;
            m.premises_id = Some(estate.park.id);
            ops.push(self.op(&manager, Command::ReceiveMeter(m)));
            ops.push(self.op(&manager, Command::InstallMeter(InstallMeter { meter_id: id, premises_id: block_a.id })));
        }
        let units = block_a_floor_areas(plan, estate)
            .into_iter()
            .map(|(premises_id, floor_area_dm2)| ApportionedUnit { premises_id, floor_area_dm2 })
            .collect();
        let rule = self.ids.id();
        let create = CreateApportionmentRule {
            rule_id: rule,
            premises_id: block_a.id,
            name: "Block A common areas and line loss A座公摊".into(),
            utility: Utility::Electricity,
            basis: Basis::FloorArea,
            pool: Pool::CommonAndLoss,
            price: voltvend_domain::UnitPrice::parse("0.538", Currency::CNY)?,
            parent_meter: Some(parent),
            common_meters: vec![lights],
            units,
        };
        ops.push(self.op(&manager, Command::CreateApportionmentRule(create)));
        // 分类分项: what each electricity meter measures, for energy analysis.
        let tag = |meter_id, category, sub_item: &str| {
            Command::SetMeterCategory(voltvend_ops::MeterCategory { meter_id, category, sub_item: sub_item.into() })
        };
        ops.push(self.op(&manager, tag(lights, EnergyCategory::Power, "lifts and stairwell lighting 电梯及楼道照明")));
        for a in &self.accounts {
            let (category, sub_item) = match a.kind {
                UnitKind::Home => (EnergyCategory::LightingSockets, "flats 住宅"),
                UnitKind::Shop => (EnergyCategory::LightingSockets, "shops 商铺"),
                UnitKind::Office => (EnergyCategory::LightingSockets, "offices 办公"),
                UnitKind::Workshop => (EnergyCategory::Power, "workshops 厂房"),
            };
            ops.push(self.op(&manager, tag(a.elec, category, sub_item)));
        }
        self.commit(ops).await?;
        let units = self
            .accounts
            .iter()
            .filter(|a| plan.units.get(a.unit).is_some_and(|u| u.building == 0))
            .filter_map(|a| a.remote)
            .collect();
        self.common = Some(CommonArea { rule, parent, lights, units, parent_wh: 0, lights_wh: 0, units_wh: None });
        self.summary.common_area_meters = 2;
        // Commissioned with the units' meters: their first readings at the same instant.
        let at = self.clock.now();
        let first = self.common_area_readings(at);
        self.measure(first).await
    }

    /// The incomer's and the common areas' readings at this midnight (measured, billed to nobody).
    fn common_area_readings(&mut self, at: Timestamp) -> Vec<(MeterId, Reading)> {
        let Some(c) = self.common.as_mut() else { return Vec::new() };
        // 30–45 kWh a day, varying by day (not from the seeder's random source, whose draws the rest of the
        // history follows).
        let day = at.as_second().div_euclid(86_400);
        let lights_today = if c.units_wh.is_some() { 30_000 + (day * 7_919).rem_euclid(15_000) } else { 0 };
        let meters = self.fleet.meters();
        let units_now: i64 =
            c.units.iter().filter_map(|i| meters.get(*i)).map(|m| (1..=4).map(|r| m.shown_wh(r)).sum::<i64>()).sum();
        if let Some(before) = c.units_wh {
            let used = (units_now - before).max(0) + lights_today;
            c.lights_wh += lights_today;
            c.parent_wh += used + used * LINE_LOSS_PERMILLE / 1_000;
        }
        c.units_wh = Some(units_now);
        vec![
            (c.parent, Reading { at, registers: Registers::Total(c.parent_wh) }),
            (c.lights, Reading { at, registers: Registers::Total(c.lights_wh) }),
        ]
    }

    /// Readings of the common-area meters, as the head end would submit them.
    async fn measure(&mut self, readings: Vec<(MeterId, Reading)>) -> anyhow::Result<()> {
        let headend = Actor::system("headend");
        let ops: Vec<Operation> = readings
            .into_iter()
            .map(|(meter_id, reading)| {
                let limits = voltvend_ops::ReadingLimits::default();
                self.op(
                    &headend,
                    Command::ApplyReadings(ApplyReadings {
                        meter_id,
                        readings: vec![reading],
                        report: None,
                        limits,
                        demand: None,
                    }),
                )
            })
            .collect();
        self.summary.common_area_readings += ops.len();
        self.commit(ops).await?;
        Ok(())
    }

    /// Last month posted, when the history covers part of it (its preview, the posting applied and thrown
    /// away, shares something).
    async fn post_last_month(&mut self) -> anyhow::Result<()> {
        let Some(rule) = self.common.as_ref().map(|c| c.rule) else { return Ok(()) };
        let last = self.now.to_zoned(self.tz.clone()).date().first_of_month().yesterday()?;
        let period = i32::from(last.year()) * 100 + i32::from(last.month());
        let estate = self.estate()?;
        let op =
            self.op(&estate.staff(estate.manager), Command::ApportionPeriod(ApportionPeriod { rule_id: rule, period }));
        // A month the history does not reach shares nothing and is left; any refusal is a fault of the seed.
        match self.store.dry_run(op.clone()).await? {
            Ok(Applied::Committed { outcome: Outcome::Apportioned(run), .. }) if run.pool_milli > 0 => {
                self.commit(vec![op]).await?;
                self.summary.apportioned_months += 1;
            }
            Ok(_) => {}
            Err(e) => bail!("demo seed: last month's apportionment refused: {e}"),
        }
        Ok(())
    }

    /// 房租 / 物业费: Block A's floor areas, a property fee of 2.80 a m² a month due on the 10th with last month
    /// and this month issued, last month's paid at Block A's counter by two flats in three, and Block A's policy
    /// taking 20 % of each purchase for overdue fees (the rest of last month's is overdue after the 10th).
    async fn fees(&mut self, plan: &EstatePlan) -> anyhow::Result<()> {
        let estate = self.estate()?;
        let manager = estate.staff(estate.manager);
        let block_a = estate.cashiers.get(CASHIER_A).map(|(_, b)| b.clone()).context("Block A")?;
        let areas = block_a_floor_areas(plan, estate);
        let mut ops = Vec::new();
        for (premises_id, floor_area_dm2) in &areas {
            let area = FloorArea { premises_id: *premises_id, floor_area_dm2: *floor_area_dm2 };
            ops.push(self.op(&manager, Command::SetFloorArea(area)));
        }
        let schedule_id = self.ids.id();
        let rate_minor = 280;
        ops.push(self.op(
            &manager,
            Command::CreateFeeSchedule(CreateFeeSchedule {
                schedule_id,
                premises_id: block_a.id,
                name: "物业费 Property fee".into(),
                basis: FeeBasis::PerSquareMetre,
                rate_minor,
                currency: Currency::CNY,
                due_day: 10,
                late_fee_bp: 0,
                disconnect_after_days: 0,
            }),
        ));
        let today = self.now.to_zoned(self.tz.clone()).date();
        let month = |d: jiff::civil::Date| i32::from(d.year()) * 100 + i32::from(d.month());
        let last = month(today.first_of_month().yesterday()?);
        for period in [last, month(today)] {
            ops.push(self.op(&manager, Command::IssueFees(IssueFees { schedule_id, period })));
        }
        let policy = FeePolicy { premises_id: block_a.id, policy: OverduePolicy::ShareOfPurchase { share_bp: 2_000 } };
        ops.push(self.op(&manager, Command::SetFeePolicy(policy)));
        let outcomes = self.commit(ops).await?;
        self.summary.fee_schedules = 1;
        let charged: Vec<(AccountId, i64)> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::FeesIssued { run, charges } if run.period == last => Some(charges),
                _ => None,
            })
            .flatten()
            .map(|c| (c.account_id, c.amount_minor))
            .collect();

        // Block A's counter takes last month's fee from two flats in three (opening its shift if it is closed).
        if self.shifts.get(CASHIER_A).copied().flatten().is_none() {
            self.open_shifts(&[CASHIER_A]).await?;
        }
        let shift_id = self.shifts.get(CASHIER_A).copied().flatten().context("Block A's shift is open")?;
        let estate = self.estate()?;
        let cashier = estate.cashier(CASHIER_A)?;
        let mut ops = Vec::new();
        for (n, (account_id, paid_minor)) in charged.into_iter().enumerate() {
            if n % 3 != 2 {
                let pay =
                    PayFees { account_id, shift_id, method: PaymentMethod::Cash, reference: String::new(), paid_minor };
                ops.push(self.op(&cashier, Command::PayFees(pay)));
            }
        }
        self.summary.fee_payments = ops.len();
        self.commit(ops).await?;
        Ok(())
    }

    /// 后付费: Block A's ground-floor shops on monthly bills from the first day of the history, under Block A's
    /// billing cycle (电费账单: a standing charge of 20.00 a month, due on the 15th of the month after, a 5 % late
    /// fee when dunned). They buy no more credit: what they use beyond the credit they held is owed and billed
    /// on the first of the month. Their month before the history is billed at once: the standing charge, less
    /// the credit they held.
    async fn postpaid_shops(&mut self, plan: &EstatePlan) -> anyhow::Result<()> {
        let estate = self.estate()?;
        let manager = estate.staff(estate.manager);
        let block_a = estate.cashiers.get(CASHIER_A).map(|(_, b)| b.clone()).context("Block A")?;
        let mut shops = Vec::new();
        for a in &mut self.accounts {
            if a.kind == UnitKind::Shop && a.remote.is_some() && plan.units.get(a.unit).is_some_and(|u| u.building == 0)
            {
                a.postpaid = true;
                shops.push(a.id);
            }
        }
        let mut ops = Vec::new();
        for account_id in &shops {
            let switch = voltvend_ops::SwitchBillingMode {
                account_id: *account_id,
                mode: voltvend_domain::BillingMode::Postpaid,
                reason: "商铺按月出账 shops are billed monthly".into(),
            };
            ops.push(self.op(&manager, Command::SwitchBillingMode(switch)));
        }
        let schedule_id = self.ids.id();
        ops.push(self.op(
            &manager,
            Command::CreateFeeSchedule(CreateFeeSchedule {
                schedule_id,
                premises_id: block_a.id,
                name: "电费账单 Electricity bill".into(),
                basis: FeeBasis::Postpaid,
                rate_minor: 2_000,
                currency: Currency::CNY,
                due_day: 15,
                late_fee_bp: 500,
                disconnect_after_days: 14,
            }),
        ));
        self.commit(ops).await?;
        self.cycle = Some(schedule_id);
        self.summary.postpaid_accounts = shops.len();
        let before = self.first_day.first_of_month().yesterday()?;
        self.issue_bills(before).await
    }

    /// The month of `day` billed under Block A's cycle.
    async fn issue_bills(&mut self, day: Date) -> anyhow::Result<()> {
        let Some(schedule_id) = self.cycle else { return Ok(()) };
        let period = i32::from(day.year()) * 100 + i32::from(day.month());
        let estate = self.estate()?;
        let op = self.op(&estate.staff(estate.manager), Command::IssueFees(IssueFees { schedule_id, period }));
        for o in self.commit(vec![op]).await? {
            if let Outcome::FeesIssued { run, .. } = o {
                self.summary.bills_issued += usize::try_from(run.charged).unwrap_or(0);
            }
        }
        Ok(())
    }

    /// Last month's bills: two shops in three pay all they owe at Block A's counter (their property fee too);
    /// after the due date (the 15th) the month is dunned, reminding the rest and charging them the late fee.
    async fn collect_bills(&mut self) -> anyhow::Result<()> {
        let Some(schedule_id) = self.cycle else { return Ok(()) };
        let today = self.now.to_zoned(self.tz.clone()).date();
        let last = today.first_of_month().yesterday()?;
        let period = i32::from(last.year()) * 100 + i32::from(last.month());
        let bills = self.store.fee_charges_of_period(schedule_id, period).await?;
        let shift_id = self.shifts.get(CASHIER_A).copied().flatten().context("Block A's shift is open")?;
        let estate = self.estate()?;
        let cashier = estate.cashier(CASHIER_A)?;
        let mut ops = Vec::new();
        for (n, bill) in bills.iter().filter(|b| b.outstanding_minor() > 0).enumerate() {
            if n % 3 != 2 {
                // Payments go to the oldest charges first (a shop's rent too): the shop pays all it owes.
                let (owed, _) = self.store.account_fees_owed(bill.account_id, today).await?;
                let pay = PayFees {
                    account_id: bill.account_id,
                    shift_id,
                    method: PaymentMethod::Cash,
                    reference: String::new(),
                    paid_minor: owed,
                };
                ops.push(self.op(&cashier, Command::PayFees(pay)));
            }
        }
        self.summary.bills_paid = ops.len();
        self.commit(ops).await?;
        if today.day() > 15 {
            let estate = self.estate()?;
            let dun = Command::DunFees(IssueFees { schedule_id, period });
            for o in self.commit(vec![self.op(&estate.staff(estate.manager), dun)]).await? {
                if let Outcome::FeesDunned { run, .. } = o {
                    self.summary.bills_dunned = usize::try_from(run.dunned).unwrap_or(0);
                }
            }
        }
        Ok(())
    }

    /// Every remote meter's registers now, billed.
    async fn read_meters(&mut self) -> anyhow::Result<()> {
        let at = self.clock.now();
        let mut ops = Vec::new();
        let mut whose = Vec::new();
        for (n, a) in self.accounts.iter().enumerate() {
            if let Some(m) = a.remote.and_then(|i| self.fleet.meters().get(i)) {
                // What the head end will read over DL/T 645, so that its first live read is not below the
                // seeded history (a register that went backwards would be flagged).
                let r = |i| m.shown_wh(i);
                let registers = if a.company() {
                    vec![("sharp".into(), r(1)), ("peak".into(), r(2)), ("flat".into(), r(3)), ("valley".into(), r(4))]
                } else {
                    vec![("peak".into(), r(1) + r(2) + r(3)), ("valley".into(), r(4))]
                };
                let reading = Reading { at, registers: Registers::PerPeriod(registers) };
                whose.push((n, false));
                ops.push((a.elec, reading));
            }
            if let Some((id, i)) = a.water
                && let Some(m) = self.water_fleet.meters().get(i)
            {
                whose.push((n, true));
                ops.push((id, Reading { at, registers: Registers::Total(m.register_wh(0)) }));
            }
        }
        let common = self.common_area_readings(at);
        self.measure(common).await?;
        let headend = Actor::system("headend");
        let ops = ops
            .into_iter()
            .map(|(meter_id, reading)| {
                self.op(
                    &headend,
                    Command::ApplyReadings(ApplyReadings {
                        meter_id,
                        readings: vec![reading],
                        report: None,
                        limits: voltvend_ops::ReadingLimits::default(),
                        demand: None,
                    }),
                )
            })
            .collect();
        let outcomes = self.commit(ops).await?;
        let mut charged = vec![0_i64; self.accounts.len()];
        let today = self.day_of(at);
        for ((n, water), outcome) in whose.into_iter().zip(outcomes) {
            let Outcome::Readings(r) = outcome else { bail!("demo seed: readings answered {outcome:?}") };
            self.summary.readings += r.billed + r.flagged;
            if let Some(c) = charged.get_mut(n) {
                *c += r.charged_minor;
            }
            let Some(a) = self.accounts.get_mut(n) else { continue };
            a.balance_minor = r.balance_after_minor;
            if r.relay == Some(OutboxKind::RelayTrip) {
                self.summary.relay_trips += 1;
                a.cut_on = a.cut_on.or(Some(today));
                let m = if water {
                    a.water_open = true;
                    a.water.and_then(|(_, i)| self.water_fleet.meters_mut().get_mut(i))
                } else {
                    a.elec_open = true;
                    a.remote.and_then(|i| self.fleet.meters_mut().get_mut(i))
                };
                if let Some(m) = m {
                    m.controller.remote(RemoteCommand::Trip, at);
                }
            }
        }
        for (a, c) in self.accounts.iter_mut().zip(charged) {
            // A day's use, as far as a day with the supply on shows it.
            if c > 0 && !a.elec_open {
                a.daily_minor = (a.daily_minor * 2 + c) / 3;
            }
        }
        Ok(())
    }

    fn day_of(&self, at: Timestamp) -> i32 {
        let date = at.to_zoned(self.tz.clone()).date();
        (date - self.first_day).get_days()
    }

    /// What customers buy on `day`, by wave.
    fn plan_purchases(&mut self, day: i32, skip: &[usize]) -> Vec<(Wave, Purchase)> {
        let mut out = Vec::new();
        for n in 0..self.accounts.len() {
            if skip.contains(&n) {
                continue;
            }
            let wave = if self.rng.random_bool(0.5) { Wave::Morning } else { Wave::Afternoon };
            let at_agent = self.rng.random_range(0..100) < 20;
            let Some(a) = self.accounts.get(n) else { continue };
            if a.postpaid {
                continue;
            }
            let company = a.company();
            let mut buys: Vec<(MeterId, SaleAmount)> = Vec::new();
            let room = a.max_balance_minor - 20_000 - a.balance_minor;
            if a.remote.is_some() {
                let available = a.balance_minor + a.overdraft_minor;
                let days_left = available / a.daily_minor.max(1);
                let cut = a.elec_open || a.water_open;
                let wanted = match a.habit {
                    Habit::Prompt { below, days } if cut || days_left < below => Some(days),
                    Habit::Late { after, days } if a.cut_on.is_some_and(|d| day >= d + after) => Some(days),
                    _ => None,
                };
                if let Some(days) = wanted {
                    let step = if company { 50_000 } else { 5_000 };
                    // Arrears take their share of a payment first: pay a little more when owing.
                    let owing = if a.balance_minor < 0 { -a.balance_minor * 2 } else { 0 };
                    let mut pay = round_up(a.daily_minor * days + owing, step).min(room / 1_000 * 1_000);
                    let water_open = a.water_open.then_some(a.water.map(|(id, _)| id)).flatten();
                    if water_open.is_some() {
                        pay -= 5_000;
                    }
                    if pay >= a.min_purchase_minor * 2 {
                        buys.push((a.elec, SaleAmount::Paid(pay)));
                        if let Some(id) = water_open {
                            buys.push((id, SaleAmount::Paid(5_000)));
                        }
                    }
                }
            } else if day >= a.next_sts_day {
                // STS customers buy every week or two: some a sum of money, some a number of kWh.
                let amount = if self.rng.random_range(0..3) == 0 {
                    SaleAmount::Quantity(self.rng.random_range(1..=3) * 50_000)
                } else {
                    SaleAmount::Paid(self.rng.random_range(2..=4) * 5_000)
                };
                buys.push((a.elec, amount));
            }
            if let Some(opg) = a.opg
                && day >= a.opg_until_day
            {
                // A week or two of the e-bike battery, or 30 yuan's worth.
                let amount = match self.rng.random_range(0..3) {
                    0 => SaleAmount::Paid(3_000),
                    k => SaleAmount::Quantity(k * 7_000),
                };
                buys.push((opg, amount));
            }
            if buys.is_empty() {
                continue;
            }
            let Some(a) = self.accounts.get_mut(n) else { continue };
            if a.remote.is_none() && buys.iter().any(|(m, _)| *m == a.elec) {
                a.next_sts_day = day + 6 + (n % 7) as i32;
            }
            if let Some(opg) = a.opg {
                for (m, amount) in &buys {
                    let days = match amount {
                        SaleAmount::Paid(p) => p / OPG_PRICE_PER_DAY_MINOR,
                        SaleAmount::Quantity(q) => q / 1_000,
                    };
                    if *m == opg {
                        a.opg_until_day = day + i32::try_from(days).unwrap_or(7);
                    }
                }
            }
            let counter = a.counter;
            let all_paid: i64 =
                buys.iter().map(|(_, amount)| if let SaleAmount::Paid(p) = amount { *p } else { 0 }).sum();
            let by_money = buys.iter().all(|(_, amount)| matches!(amount, SaleAmount::Paid(_)));
            // People in the flats also pay at the park's convenience store in the evening, in cash, while
            // its credit lasts.
            let agent = !company
                && at_agent
                && by_money
                && self.agent_outstanding_minor + all_paid <= AGENT_CREDIT_LIMIT_MINOR - 100_000;
            let method = if agent { PaymentMethod::Cash } else { self.method(company) };
            if agent {
                self.agent_outstanding_minor += all_paid;
            }
            for (meter, amount) in buys {
                let purchase =
                    Purchase { acct: n, meter, amount, method, cashier: if agent { AGENT } else { counter } };
                out.push((if agent { Wave::Evening } else { wave }, purchase));
            }
        }
        out
    }

    /// Sells what was planned for `wave`.
    async fn sell(&mut self, planned: &[(Wave, Purchase)], wave: Wave) -> anyhow::Result<()> {
        let mut ops = Vec::new();
        let mut whose = Vec::new();
        for (_, p) in planned.iter().filter(|(w, _)| *w == wave) {
            let op = self.sale_op(p)?;
            whose.push((p.acct, p.cashier));
            ops.push(op);
        }
        let outcomes = self.commit(ops).await?;
        for ((acct, cashier), outcome) in whose.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Sale(sale) => self.sold(acct, &sale, Some(cashier)),
                Outcome::PaymentRefused { code, message, .. } => {
                    bail!("demo seed: a planned sale was refused ({code}): {message}")
                }
                other => bail!("demo seed: a sale answered {other:?}"),
            }
        }
        Ok(())
    }

    fn sale_op(&mut self, p: &Purchase) -> anyhow::Result<Operation> {
        let shift = self.shifts.get(p.cashier).copied().flatten().context("the cashier's shift is open")?;
        let account = self.accounts.get(p.acct).context("account")?.id;
        let mut sale = Sale::paid(account, p.meter, shift, p.method, 0);
        sale.amount = p.amount;
        sale.reference = self.reference(p.method);
        let actor = self.estate()?.cashier(p.cashier)?;
        Ok(self.op(&actor, Command::Sale(sale)))
    }

    fn acct_by_unit(&self, code: &str) -> anyhow::Result<usize> {
        let estate = self.estate()?;
        self.accounts
            .iter()
            .position(|a| estate.units.get(a.unit).is_some_and(|u| u.name == code))
            .with_context(|| format!("no unit {code}"))
    }

    /// One day: the midnight readings, the shifts, the waves of sales, and the day's special business.
    /// Returns `false` once the history has reached now.
    async fn run_day(&mut self, day: i32) -> anyhow::Result<bool> {
        if day > 0 {
            if !self.reach(day, 0, 0)? {
                return Ok(false);
            }
            self.read_meters().await?;
            // The first of a month: last month's bills, from the midnight readings.
            if self.first_day.checked_add(i64::from(day).days())?.day() == 1 {
                let last = self.first_day.checked_add(i64::from(day - 1).days())?;
                self.issue_bills(last).await?;
            }
            if !self.reach(day, 8, 30)? {
                return Ok(false);
            }
            self.open_shifts(&[CASHIER_A, CASHIER_B, CASHIER_CENTRE]).await?;
            if !self.reach(day, 9, 0)? {
                return Ok(false);
            }
            self.open_shifts(&[AGENT]).await?;
        }
        if day > 0 && day % 7 == 0 {
            if !self.reach(day, 10, 0)? {
                return Ok(false);
            }
            self.settle_agent().await?;
        }
        // The day's special cases, by the units they concern.
        let wrong = self.acct_by_unit(WRONG_UNIT)?;
        let right = self.acct_by_unit(RIGHT_UNIT)?;
        let over_cash = self.acct_by_unit(OVERPAID_CASH_UNIT)?;
        let over_transfer = self.acct_by_unit(OVERPAID_TRANSFER_UNIT)?;
        let skip = match day {
            2 => vec![wrong, right],
            3 => vec![over_cash],
            5 | 6 => vec![over_transfer],
            _ => Vec::new(),
        };
        let planned = self.plan_purchases(day, &skip);

        if !self.reach(day, 10, 30)? {
            return Ok(false);
        }
        let mut special = Vec::new();
        match day {
            // 纠错: the cashier keys in the neighbour's account; the customer notices at once.
            2 => special.push(Purchase {
                acct: wrong,
                meter: self.accounts.get(wrong).context("account")?.elec,
                amount: SaleAmount::Paid(10_000),
                method: PaymentMethod::Cash,
                cashier: CASHIER_A,
            }),
            // A customer brings more than the wallet may hold (囤积): refused, the money handed back.
            3 => special.push(Purchase {
                acct: over_cash,
                meter: self.accounts.get(over_cash).context("account")?.elec,
                amount: SaleAmount::Paid(120_000),
                method: PaymentMethod::Cash,
                cashier: CASHIER_B,
            }),
            5 => special.push(Purchase {
                acct: over_transfer,
                meter: self.accounts.get(over_transfer).context("account")?.elec,
                amount: SaleAmount::Paid(1_200_000),
                method: PaymentMethod::BankTransfer,
                cashier: CASHIER_CENTRE,
            }),
            _ => {}
        }
        let mut special_ops = Vec::new();
        for p in &special {
            special_ops.push(self.sale_op(p)?);
        }
        let special_ids: Vec<OperationId> = special_ops.iter().map(|op| op.id).collect();
        let outcomes = self.commit(special_ops).await?;
        let mut wrong_sale = None;
        for ((p, id), outcome) in special.iter().zip(&special_ids).zip(outcomes) {
            match outcome {
                Outcome::Sale(sale) => {
                    self.sold(p.acct, &sale, Some(p.cashier));
                    wrong_sale = Some(sale);
                }
                Outcome::PaymentRefused { .. } => {
                    self.summary.refused_payments += 1;
                    self.refused.push((*id, p.cashier, p.method));
                }
                other => bail!("demo seed: a sale answered {other:?}"),
            }
        }
        self.sell(&planned, Wave::Morning).await?;
        if day == HEAD_OFFICE_DAY {
            self.head_office().await?;
        }

        if !self.reach(day, 11, 0)? {
            return Ok(false);
        }
        self.late_morning(day, wrong_sale, right, over_cash).await?;

        if !self.reach(day, 15, 0)? {
            return Ok(false);
        }
        self.sell(&planned, Wave::Afternoon).await?;
        if !self.reach(day, 17, 30)? {
            return Ok(false);
        }
        self.close_shifts(&[CASHIER_A, CASHIER_B, CASHIER_CENTRE]).await?;
        if !self.reach(day, 19, 30)? {
            return Ok(false);
        }
        self.sell(&planned, Wave::Evening).await?;
        if !self.reach(day, 21, 0)? {
            return Ok(false);
        }
        self.close_shifts(&[AGENT]).await?;
        Ok(true)
    }

    /// 11:00: corrections, refunds and the field engineer's visit.
    async fn late_morning(
        &mut self,
        day: i32,
        wrong_sale: Option<SaleRecord>,
        right: usize,
        over_cash: usize,
    ) -> anyhow::Result<()> {
        let estate = self.estate()?;
        let cashiers = [estate.cashier(CASHIER_A)?, estate.cashier(CASHIER_B)?, estate.cashier(CASHIER_CENTRE)?];
        let engineer = estate.staff(estate.engineer);
        let manager = estate.staff(estate.manager);
        let cashier = |i: usize| cashiers.get(i).cloned().context("a counter's cashier");
        let mut ops = Vec::new();
        // 纠错, maker-checker: the cashier asks for the wrong-meter sale to be re-allocated; the park manager
        // approves it after the morning rush (below).
        let mut approval = None;
        if let Some(wrong) = &wrong_sale {
            let right_acct = self.accounts.get(right).context("account")?;
            let id: ApprovalId = self.ids.id();
            let request = RequestCorrection {
                approval_id: id,
                correction: Correction {
                    kind: CorrectionKind::ReallocateSale,
                    sale: Some(wrong.operation_id),
                    account_id: Some(right_acct.id),
                    meter_id: Some(right_acct.elec),
                    shift_id: None,
                    amount_minor: 0,
                    fee_payment: None,
                    charge: None,
                },
                reason: format!("sold to the neighbour's account by mistake ({WRONG_UNIT} for {RIGHT_UNIT})"),
                expires_in: RequestCorrection::EXPIRES_IN_DEFAULT,
            };
            ops.push(self.op(&cashier(CASHIER_A)?, Command::RequestCorrection(request)));
            approval = Some((id, wrong.clone()));
        }
        // Refused payments are handed back: cash from the drawer the same day, transfers the next.
        let refunds: Vec<(OperationId, usize, PaymentMethod)> = std::mem::take(&mut self.refused);
        for (payment, who, method) in refunds {
            if method != PaymentMethod::Cash && day == 5 {
                self.refused.push((payment, who, method));
                continue;
            }
            let shift_id = match method {
                PaymentMethod::Cash => Some(self.shifts.get(who).copied().flatten().context("shift")?),
                _ => None,
            };
            ops.push(
                self.op(&cashier(who)?, Command::RefundRefusedPayment(RefundRefusedPayment { payment, shift_id })),
            );
            self.summary.refunds += 1;
        }
        if day == 3 {
            // The customer of the refused payment buys what the wallet may hold.
            let a = self.accounts.get(over_cash).context("account")?;
            let room = (a.max_balance_minor - 20_000 - a.balance_minor) / 5_000 * 5_000;
            if room >= 10_000 {
                let p = Purchase {
                    acct: over_cash,
                    meter: a.elec,
                    amount: SaleAmount::Paid(room.min(30_000)),
                    method: PaymentMethod::Cash,
                    cashier: CASHIER_B,
                };
                ops.push(self.sale_op(&p)?);
            }
        }
        if day == 9 {
            // The field engineer's inspection of Block C: meter covers opened, tamper flags cleared.
            for code in INSPECTED_UNITS {
                let a = self.accounts.get(self.acct_by_unit(code)?).context("account")?;
                let request = IssueStsTokens {
                    meter_id: a.elec,
                    request: StsManagement::ClearTamper,
                    reason: format!("{code}: meter cover opened for the annual inspection; tamper flag cleared"),
                };
                ops.push(self.op(&engineer, Command::IssueStsTokens(request)));
                self.summary.management_tokens += 1;
            }
            // 补收据: a customer asks for a copy of a receipt.
            if let Some(sale) = self.reprint {
                let r = ReprintReceipt { sale, format: ReceiptFormat::Pdf };
                ops.push(self.op(&cashier(CASHIER_CENTRE)?, Command::ReprintReceipt(r)));
            }
        }
        let outcomes = self.commit(ops).await?;
        for outcome in outcomes {
            match outcome {
                Outcome::Sale(sale) => self.sold(over_cash, &sale, Some(CASHIER_B)),
                Outcome::Approval(_) | Outcome::Refunded(_) | Outcome::Tokens(_) | Outcome::Reprinted(_) => {}
                other => bail!("demo seed: a correction answered {other:?}"),
            }
        }
        if let Some((id, wrong)) = approval {
            let note = "checked the unit numbers with the customer".to_string();
            let decide = DecideCorrection { approval_id: id, approve: true, note };
            let outcomes = self.commit(vec![self.op(&manager, Command::DecideCorrection(decide))]).await?;
            let Some(Outcome::Approval(done)) = outcomes.into_iter().next() else {
                bail!("demo seed: the approval answered something else");
            };
            let result = done.result.context("an approved re-allocation makes a sale")?;
            let sale = self.store.sale(result).await?.context("the re-allocated sale")?;
            self.summary.reversals += 1;
            if let Ok(w) = self.acct_by_unit(WRONG_UNIT)
                && let Some(a) = self.accounts.get_mut(w)
            {
                a.balance_minor -= wrong.credit_minor;
            }
            self.sold(right, &sale, Some(CASHIER_A));
        }
        Ok(())
    }

    /// The agent remits what it sold; the park manager records the settlement.
    async fn settle_agent(&mut self) -> anyhow::Result<()> {
        let estate = self.estate()?;
        let point = estate.points.get(AGENT).copied().context("agent")?;
        let outstanding = self.store.vending_point(point).await?.outstanding_minor;
        if outstanding <= 0 {
            return Ok(());
        }
        let date = self.clock.now().to_zoned(self.tz.clone()).date();
        let settle = SettleVendingPoint {
            vending_point_id: point,
            amount_minor: outstanding,
            reference: format!("deposit slip {}", date.strftime("%Y%m%d")),
        };
        let op = self.op(&estate.staff(estate.manager), Command::SettleVendingPoint(settle));
        self.commit(vec![op]).await?;
        self.agent_outstanding_minor = 0;
        self.summary.settlements += 1;
        Ok(())
    }
}

/// A remote DL/T 645 electricity meter: fleet meter `i`, address `i + 1`.
fn remote_meter(id: MeterId, unit: &Premises, i: usize, tariff: &str) -> anyhow::Result<MeterBinding> {
    let address = format!("{:012}", i + 1);
    let mut m = Meter::receive(
        id,
        &format!("DDSY1352-{:06}", i + 1),
        Utility::Electricity,
        ControlMode::Remote,
        MeterProtocol::Dlt645,
        &address,
        CtVtRatio::DIRECT,
    )?;
    m.premises_id = Some(unit.id);
    Ok(MeterBinding {
        meter_id: id,
        receive: Some(m),
        tariff_code: Some(tariff.into()),
        sts: None,
        opg: None,
        max_credit_minor: None,
    })
}

/// The `no`th STS keypad meter: its 11-digit meter number, its key record in the demo supply group (DKGA02,
/// EA07, key type 2, base date 2014), and at most 1 000 yuan on one token.
fn sts_meter(id: MeterId, unit: &Premises, no: usize) -> anyhow::Result<MeterBinding> {
    let drn = format!("{:011}", 14_270_000_000_u64 + u64::try_from(no)? * 7);
    let mut m = Meter::receive(
        id,
        &format!("STS-{drn}"),
        Utility::Electricity,
        ControlMode::Local,
        MeterProtocol::StsKeypad,
        &drn,
        CtVtRatio::DIRECT,
    )?;
    m.premises_id = Some(unit.id);
    let params = KeyParams {
        kt: KeyType::new(2)?,
        sgc: DEMO_SUPPLY_GROUP,
        ti: 1,
        krn: DEMO_KEY_REVISION,
        ken: 255,
        base: BaseDate::from_code("14")?,
        ea: Ea::Sta,
    };
    Ok(MeterBinding {
        meter_id: id,
        receive: Some(m),
        tariff_code: Some(RESIDENTIAL.into()),
        sts: Some(MeterKeyRecord { pan: Pan::from_parts(STS_IIN, &drn)?, params }),
        opg: None,
        max_credit_minor: Some(100_000),
    })
}

/// The `no`th water meter: remote, reporting through an MQTT gateway, on Beijing's water tariff.
fn water_meter(id: MeterId, unit: &Premises, no: usize) -> anyhow::Result<MeterBinding> {
    let mut m = Meter::receive(
        id,
        &format!("LXSY-W{no:05}"),
        Utility::Water,
        ControlMode::Remote,
        MeterProtocol::Mqtt,
        &format!("water-{}", unit.name.to_lowercase()),
        CtVtRatio::DIRECT,
    )?;
    m.premises_id = Some(unit.id);
    Ok(MeterBinding {
        meter_id: id,
        receive: Some(m),
        tariff_code: Some(WATER.into()),
        sts: None,
        opg: None,
        max_credit_minor: None,
    })
}

/// The `no`th OpenPAYGO device, an e-bike battery rented by the day: a random secret sealed under the master
/// key for this device, and a random starting code.
fn opg_device(
    id: MeterId,
    unit: &Premises,
    no: usize,
    secret_ids: &IdGenerator,
    master_key: &MasterKey,
) -> anyhow::Result<MeterBinding> {
    let mut m = Meter::receive(
        id,
        &format!("OPG-EB-{no:04}"),
        Utility::Electricity,
        ControlMode::Local,
        MeterProtocol::OpenPaygo,
        &format!("EB{no:06}"),
        CtVtRatio::DIRECT,
    )?;
    m.premises_id = Some(unit.id);
    let mut secret = Zeroizing::new([0_u8; 16]);
    secret_ids.fill(secret.as_mut());
    let hex = Zeroizing::new(secret.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let mut start = [0_u8; 8];
    secret_ids.fill(&mut start);
    Ok(MeterBinding {
        meter_id: id,
        receive: Some(m),
        tariff_code: None,
        sts: None,
        opg: Some(OpgBinding {
            secret_sealed: master_key.seal(&openpaygo_aad(id), nonce(secret_ids), hex.as_bytes())?,
            starting_code: u64::from_le_bytes(start) % 1_000_000_000,
            extended: false,
            restricted: false,
            unit: OpgUnit::Day,
            price_minor_per_unit: OPG_PRICE_PER_DAY_MINOR,
        }),
        max_credit_minor: None,
    })
}

/// Names of people and businesses, pinyin and hanzi, `|`-separated.
const SURNAMES: &str = "Wang=王|Li=李|Zhang=张|Liu=刘|Chen=陈|Yang=杨|Zhao=赵|Huang=黄|Zhou=周|Wu=吴|Xu=徐|Sun=孙|Hu=胡|\
                        Zhu=朱|Gao=高|Lin=林";
const GIVEN_NAMES: &str = "Wei=伟|Fang=芳|Min=敏|Jing=静|Lei=磊|Yan=艳|Tao=涛|Xia=霞|Qiang=强|Jun=军|Yong=勇|Na=娜|\
                           Jie=杰|Xiuying=秀英|Jianhua=建华|Xiaoming=晓明";
const TRADE_NAMES: &str = "Lianxin=联信|Huachuang=华创|Qiming=启明|Yunfan=云帆|Hengda=恒达|Ruifeng=瑞丰|Boyuan=博远|\
                           Xinhe=新禾|Tiancheng=天成|Jiahe=嘉禾|Haoyu=浩宇|Kaiyuan=开元";
const SHOPS: &str = "Noodle House=面馆|Bakery=烘焙坊|Pharmacy=大药房|Tea House=茶馆|Fruit Shop=水果店|Laundry=洗衣店";
const OFFICES: &str = "Technology=科技|Design=设计|Trading=贸易|Software=软件|Consulting=咨询|Media=传媒";
const WORKSHOPS: &str =
    "Precision Machinery=精密机械|Electronics=电子|Packaging=包装|Textiles=纺织|Plastics=塑料制品|Auto Parts=汽车配件";

/// Entry `i` (modulo the list's length) of a name list: its pinyin or English, and its hanzi.
fn name_entry(list: &'static str, i: usize) -> Option<(&'static str, &'static str)> {
    let n = list.split('|').count();
    list.split('|').nth(i % n.max(1))?.split_once('=')
}

/// 12 random bytes for sealing a secret.
fn nonce(ids: &IdGenerator) -> [u8; 12] {
    let mut n = [0_u8; 12];
    ids.fill(&mut n);
    n
}

/// Points every remote DL/T 645 meter at the simulated gateway (its port is new at each start), so that the
/// head end reads them, carries out their relay commands and writes their displays' balances.
async fn connect_meters(store: &dyn Store, clock: Arc<dyn Clock>, gateway: std::net::SocketAddr) -> anyhow::Result<()> {
    let channel: voltvend_domain::Channel = format!("dlt645+tcp://{gateway}").parse()?;
    let ids = crate::clock::IdGenerator::new(clock);
    let filter = MeterFilter { protocol: Some(MeterProtocol::Dlt645.as_str().into()), ..MeterFilter::default() };
    let mut q = ListQuery { scope: None, after: None, limit: ListQuery::LIMIT_MAX };
    loop {
        let page = store.list_meters(&q, &filter).await?;
        let ops = page.iter().filter(|m| m.meter.control_mode == voltvend_domain::ControlMode::Remote).map(|m| {
            let command = Command::SetMeterChannel(voltvend_ops::SetMeterChannel {
                meter_id: m.meter.id,
                channel: Some(channel.clone()),
                // The simulated meters keep and show what the master station writes them.
                shows_credit: true,
            });
            store.submit(Operation::new(ids.id(), Actor::system("demo"), command))
        });
        for r in futures_util::future::join_all(ops).await {
            r?;
        }
        match page.last() {
            Some(last) if page.len() == ListQuery::LIMIT_MAX as usize => q.after = Some(last.meter.id.to_string()),
            _ => return Ok(()),
        }
    }
}
