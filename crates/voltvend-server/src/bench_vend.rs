//! `voltvend bench vend`: durable sales per second through the HTTP API, and their latency at a fixed offered
//! rate, beside the HTTP ceiling of the same server (`GET /healthz`) and pgbench's TPC-B, all from one run.
//!
//! The bench builds an estate of its own through operations (cashiers with counters, open shifts and API
//! tokens; accounts with remote DL/T 645 meters, whose cash sales credit the wallet, and with STS keypad
//! meters, whose sales issue a 20-digit token and advance the meter's TID in the same commit), starts the
//! real router on 127.0.0.1 in this process, and drives it with [`crate::bench_http`]: every request is a
//! `POST /api/v1/sales` with its own `Idempotency-Key` and the `Authorization` of the cashier it belongs to.
//!
//! Phases, each `--duration-s` long:
//! * (a) closed loop: `--clients` keep-alive connections, each sending its next sale when the last one is
//!   answered: sales per second.
//! * (b) open loop: sales scheduled at t0 + i/`--rate` whatever happens to the earlier ones; latency is
//!   measured from the scheduled time, so a stall shows in the tail instead of slowing the sender down
//!   (coordinated omission). A request that no connection was free to send at its time is counted as late.
//! * (c) baseline: the same generator against `GET /healthz`, closed loop, then open loop at the same rate.
//! * (d) baseline: pgbench's TPC-B on a PostgreSQL server for as long.
//!
//! Every answer to a sale must be 201. Afterwards the whole database is checked, and the number of sales in
//! it must have grown by exactly the number of 201 answers.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::{
    AccountId, ApiTokenId, BooksId, BuiltinRole, Clock, ControlMode, CtVtRatio, Currency, Customer, CustomerId, Meter,
    MeterId, MeterProtocol, OperationId, Operator, OperatorId, Premises, PremisesLevel, ShiftId, Utility,
    VendingPointId,
};
use voltvend_ops::secrets::vending_key_aad;
use voltvend_ops::{
    Actor, ApiTokenRecord, Command, CustomerRef, ImportTariff, MasterKey, MasterKeys, MeterBinding, OpenAccount,
    OpenBooks, OpenShift, OpenVendingPoint, Operation, VendingKeyRecord,
};
use voltvend_store::backup::ScratchDatabase;
use voltvend_store::{Backend, CheckScope, InstanceLock, Store, WriterSteps};
use voltvend_sts::keys::{KeyParams, KeyType};
use voltvend_sts::{BaseDate, Ea, MeterKeyRecord, Pan};

use crate::api::auth::{sha256, token_text};
use crate::bench_http::{Connection, find};
use crate::clock::IdGenerator;
use crate::http::{AppState, Metrics};
use crate::settings::Settings;

#[derive(Debug, Args)]
pub struct VendArgs {
    /// Customer accounts: half with a remote DL/T 645 meter (a cash sale credits the wallet), half with an STS
    /// keypad meter (a sale issues a 20-digit token).
    #[arg(long, default_value_t = 1_000)]
    accounts: usize,
    /// Keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Offered rate of the open-loop phase, sales per second.
    #[arg(long, default_value_t = 2_000)]
    rate: u32,
    /// Length of each phase, in seconds.
    #[arg(long, default_value_t = 10)]
    duration_s: u64,
    /// Also write the results to this file as JSON.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// PostgreSQL server for the pgbench TPC-B baseline (a scratch database is created and dropped there);
    /// defaults to the bench database's server when that is PostgreSQL, else to $VOLTVEND_BENCH_PGBENCH_URL.
    #[arg(long, value_name = "URL")]
    pgbench_url: Option<String>,
}

/// Cashiers, each with a counter, an open shift and an API token; connection k sells as cashier k mod this.
const CASHIERS: usize = 64;
/// Bounds of the arguments: meter numbers carry the account's index in six digits.
const ACCOUNTS_MAX: usize = 999_999;
const CLIENTS_MAX: usize = 4_096;
const RATE_MAX: u32 = 1_000_000;
const DURATION_S_MAX: u64 = 3_600;
/// A request not answered within this is an error (the bench never hangs on a stuck server).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long past its end an open-loop phase may go on sending what is still scheduled.
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// How long the open loop gives its connections to connect before the first request is due.
const OPEN_LOOP_LEAD: Duration = Duration::from_millis(200);
/// How long the server may take to stop once asked.
const STOP_MAX: Duration = Duration::from_secs(30);
/// Each sale: cash, this much (CNY).
const SALE_AMOUNT: &str = "50.00";
/// The issue's goals on a 2-core machine (DESIGN.md §4).
const GOAL_SALES_PER_S: f64 = 20_000.0;
const GOAL_P99_MS: f64 = 25.0;
/// STS meters: the issuer identification number of their PANs, and the key's revision.
pub(crate) const STS_IIN: &str = "600727";
const STS_KRN: u8 = 1;

pub async fn run(settings: &Settings, clock: Arc<dyn Clock>, args: VendArgs) -> anyhow::Result<()> {
    if !(1..=ACCOUNTS_MAX).contains(&args.accounts) {
        bail!("--accounts must be 1–{ACCOUNTS_MAX}");
    }
    if !(1..=CLIENTS_MAX).contains(&args.clients) {
        bail!("--clients must be 1–{CLIENTS_MAX}");
    }
    if !(1..=RATE_MAX).contains(&args.rate) {
        bail!("--rate must be 1–{RATE_MAX}");
    }
    if !(1..=DURATION_S_MAX).contains(&args.duration_s) {
        bail!("--duration-s must be 1–{DURATION_S_MAX}");
    }
    let ids = Arc::new(IdGenerator::new(clock.clone()));
    let keys = bench_master_keys(&ids);
    let db = BenchDb::open(settings, clock.clone(), keys.clone()).await?;
    let measured = bench(settings, &db, clock, ids, &keys, &args).await;
    // The bench's database is let go of (and a scratch one dropped) before pgbench makes its own.
    db.close().await;
    report(settings, &args, measured?).await
}

/// The bench's database: the SQLite file named, or a scratch database on the PostgreSQL server named.
/// A bench's own master key, for its own vending keys: nothing real is ever sealed under it.
pub(crate) fn bench_master_keys(ids: &IdGenerator) -> MasterKeys {
    let mut key = zeroize::Zeroizing::new([0_u8; 32]);
    ids.fill(key.as_mut());
    MasterKeys::new(MasterKey::new(*key), Vec::new())
}

pub(crate) struct BenchDb {
    pub(crate) store: Arc<dyn Store>,
    lock: InstanceLock,
    scratch: Option<ScratchDatabase>,
    /// Where it is, to print (no password).
    pub(crate) shown: String,
}

impl BenchDb {
    pub(crate) async fn open(settings: &Settings, clock: Arc<dyn Clock>, keys: MasterKeys) -> anyhow::Result<Self> {
        let url = settings.database.url.clone();
        let (url, fresh, scratch) = match voltvend_store::backend_of(&url)? {
            Backend::Sqlite => {
                let fresh = !voltvend_store::sqlite_path(&url)?.exists();
                (url, fresh, None)
            }
            // The server's databases are left alone: the bench makes one of its own there, and drops it after.
            Backend::Postgres => {
                let scratch = ScratchDatabase::create(&url).await.context("creating the bench's scratch database")?;
                (scratch.url.clone(), true, Some(scratch))
            }
        };
        let shown = voltvend_store::redact_url(&url);
        let mut options = settings.open_options().creating();
        options.url = url;
        options.context = Arc::new(voltvend_ops::Context::new(keys));
        let store = match voltvend_store::open(&options, clock).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(s) = scratch {
                    s.drop_it().await;
                }
                return Err(e.into());
            }
        };
        let lock = async {
            let lock = crate::serve::lock_for_writing(store.as_ref()).await?;
            let ready = async {
                if !store.is_migrated().await? {
                    if !fresh {
                        bail!("{shown} holds no current Voltvend schema (run `voltvend migrate`, and check the URL)");
                    }
                    store.migrate().await?;
                }
                crate::bench::claim(store.as_ref()).await
            };
            match ready.await {
                Ok(()) => Ok(lock),
                Err(e) => {
                    lock.release().await;
                    Err(e)
                }
            }
        }
        .await;
        match lock {
            Ok(lock) => Ok(Self { store, lock, scratch, shown }),
            Err(e) => {
                store.close().await;
                if let Some(s) = scratch {
                    s.drop_it().await;
                }
                Err(e)
            }
        }
    }

    /// Drains the writer (everything submitted is committed or refused), then lets go of the database.
    pub(crate) async fn close(self) {
        self.store.shutdown().await;
        self.lock.release().await;
        self.store.close().await;
        if let Some(s) = self.scratch {
            s.drop_it().await;
        }
    }
}

#[derive(Debug)]
struct Cashier {
    /// `Bearer vvt_…`.
    authorization: String,
    shift: ShiftId,
}

#[derive(Debug)]
struct Target {
    account: AccountId,
    meter: MeterId,
    sts: bool,
}

#[derive(Debug)]
struct Estate {
    cashiers: Vec<Cashier>,
    targets: Vec<Target>,
}

/// Submits operations concurrently (the writer groups them), failing on the first refusal.
async fn submit_all(store: &Arc<dyn Store>, ops: Vec<Operation>) -> anyhow::Result<()> {
    crate::bench::submit_all(store, ops).await
}

/// A supply group no vending key of the database is in yet (a bench run's own).
pub(crate) async fn own_supply_group(store: &dyn Store, ids: &IdGenerator) -> anyhow::Result<u32> {
    let held = store.vending_keys().await?;
    let mut random = [0_u8; 8];
    loop {
        ids.fill(&mut random);
        let [a, b, c, ..] = random;
        let sgc = 100_000 + u32::from_le_bytes([a, b, c, 0]) % 900_000;
        if !held.iter().any(|k| k.sgc == sgc) {
            return Ok(sgc);
        }
    }
}

async fn setup(
    store: &Arc<dyn Store>,
    ids: &IdGenerator,
    keys: &MasterKeys,
    clock: &dyn Clock,
    accounts: usize,
) -> anyhow::Result<Estate> {
    let system = |command| Operation::new(ids.id::<OperationId>(), Actor::system("bench"), command);
    let group = Premises::new_root(ids.id(), "Bench group", "Asia/Shanghai")?;
    let site = group.new_child(ids.id(), PremisesLevel::Property, "Bench site")?;
    let books = ids.id::<BooksId>();
    for command in [
        Command::CreatePremises(group.clone()),
        Command::CreatePremises(site.clone()),
        Command::OpenBooks(OpenBooks { id: books, premises_id: site.id, currency: Currency::CNY }),
    ] {
        store.submit(system(command)).await.context("bench set-up")?;
    }
    let (tariff, _) = voltvend_tariff_file::parse(crate::demo::ELECTRICITY_TARIFF)
        .map_err(|e| anyhow::anyhow!("shipped tariff: {e}"))?;
    let tariff_code = tariff.code.clone();
    if store.tariff_document(&tariff_code).await?.is_none() {
        let command = Command::ImportTariff(ImportTariff {
            code: tariff.code,
            name: tariff.name,
            document: crate::demo::ELECTRICITY_TARIFF.into(),
        });
        store.submit(system(command)).await.context("bench set-up")?;
    }

    // A vending key of its own in a supply group of its own: a run on a database used before cannot open the
    // earlier runs' keys (their master keys are gone), and does not need to.
    let sgc = own_supply_group(store.as_ref(), ids).await?;
    let mut random = [0_u8; 8];
    ids.fill(&mut random);
    let vending_key_hex: String = random.iter().map(|b| format!("{b:02X}")).collect();
    let mut nonce = [0_u8; 12];
    ids.fill(&mut nonce);
    let master = keys.current().context("the bench has a master key")?;
    let sealed = master.seal(&vending_key_aad(sgc, STS_KRN), nonce, vending_key_hex.as_bytes())?;
    let command = Command::ImportVendingKey(VendingKeyRecord { sgc, krn: STS_KRN, sealed });
    store.submit(system(command)).await.context("bench set-up: vending key")?;
    let params = KeyParams {
        kt: KeyType::new(2)?,
        sgc,
        ti: 1,
        krn: STS_KRN,
        ken: 255,
        base: BaseDate::from_code("14")?,
        ea: Ea::Sta,
    };

    // A bench may run again on its own database: names and meter numbers are new each run.
    let run = ids.uuid().simple().to_string();
    let run = run.get(24..).unwrap_or("run").to_string();
    let mut run_digits = [0_u8; 4];
    ids.fill(&mut run_digits);
    let run_number = u32::from_le_bytes(run_digits) % 100_000;

    let mut counters = Vec::new();
    let mut ops = Vec::new();
    for i in 0..CASHIERS {
        let (point, operator, shift) = (ids.id::<VendingPointId>(), ids.id::<OperatorId>(), ids.id::<ShiftId>());
        ops.push(system(Command::OpenVendingPoint(OpenVendingPoint {
            id: point,
            premises_id: site.id,
            name: format!("Counter {}", i + 1),
            currency: Currency::CNY,
            books_id: books,
            credit_limit_minor: None,
        })));
        // Bench cashiers never log in (they use API tokens): a well-formed hash of no password anyone knows.
        let hash = format!("$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA${}", "A".repeat(43));
        ops.push(system(Command::AddOperator(Operator::new(
            operator,
            &format!("vend-{run}-{i}"),
            &format!("Bench cashier {i}"),
            BuiltinRole::Cashier.as_str(),
            site.id,
            &hash,
        ))));
        counters.push((point, operator, shift));
    }
    submit_all(store, ops).await?;
    let mut opens = Vec::new();
    let mut tokens = Vec::new();
    let mut cashiers = Vec::new();
    for (i, (point, operator, shift)) in counters.iter().enumerate() {
        let open =
            OpenShift { shift_id: *shift, vending_point_id: *point, operator_id: *operator, opening_float_minor: 0 };
        opens.push(Operation::new(ids.id(), Actor::operator(*operator, site.id, "bench"), Command::OpenShift(open)));
        let mut secret = [0_u8; 32];
        ids.fill(&mut secret);
        let token = ApiTokenRecord {
            id: ids.id::<ApiTokenId>(),
            operator_id: *operator,
            name: format!("bench vend {i}"),
            secret_hash: sha256(&secret),
            created_at: clock.now(),
            expires_at: None,
            revoked_at: None,
            created_by: None,
        };
        cashiers.push(Cashier { authorization: format!("Bearer {}", token_text(token.id, &secret)), shift: *shift });
        tokens.push(system(Command::CreateApiToken(token)));
    }
    submit_all(store, opens).await?;
    submit_all(store, tokens).await?;

    let mut open = Vec::new();
    let mut targets = Vec::new();
    for i in 0..accounts {
        let (meter_id, account) = (ids.id::<MeterId>(), ids.id::<AccountId>());
        // Even accounts have a remote DL/T 645 meter (12-digit address), odd ones an STS keypad meter whose
        // 11-digit meter number is the address and, after the IIN, its PAN.
        let sts = i % 2 == 1;
        let (control, protocol, address) = if sts {
            (ControlMode::Local, MeterProtocol::StsKeypad, format!("{run_number:05}{i:06}"))
        } else {
            (ControlMode::Remote, MeterProtocol::Dlt645, format!("{:06}{i:06}", run_number % 1_000_000))
        };
        let mut meter = Meter::receive(
            meter_id,
            &format!("VEND-{run}-{i:06}"),
            Utility::Electricity,
            control,
            protocol,
            &address,
            CtVtRatio::DIRECT,
        )?;
        meter.premises_id = Some(site.id);
        let record = if sts {
            Some(MeterKeyRecord { pan: Pan::from_parts(STS_IIN, &address)?, params: params.clone() })
        } else {
            None
        };
        let customer = Customer::new(ids.id::<CustomerId>(), site.id, &format!("Bench customer {i}"), None)?;
        open.push(system(Command::OpenAccount(OpenAccount {
            customer: CustomerRef::New(customer),
            account_id: account,
            premises_id: site.id,
            currency: Currency::CNY,
            books_id: books,
            overdraft_limit_minor: 0,
            recovery: ArrearsRecovery::None,
            min_purchase_minor: 0,
            max_balance_minor: None,
            meters: vec![MeterBinding {
                meter_id,
                receive: Some(meter),
                tariff_code: Some(tariff_code.clone()),
                sts: record,
                opg: None,
                max_credit_minor: None,
            }],
            first_sale: None,
        })));
        targets.push(Target { account, meter: meter_id, sts });
    }
    submit_all(store, open).await?;
    Ok(Estate { cashiers, targets })
}

/// Idempotency keys shaped as UUIDv7: the injected clock's milliseconds, then a counter, so that the
/// operations they name are stored in time order (see `api::write::operation_id`).
#[derive(Debug)]
struct Keys {
    clock: Arc<dyn Clock>,
    next: AtomicU64,
}

impl Keys {
    fn next(&self) -> String {
        let millis = u64::try_from(self.clock.now().as_millisecond()).unwrap_or(0);
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut tail = [0_u8; 10];
        if let Some(counter) = tail.get_mut(2..) {
            counter.copy_from_slice(&n.to_be_bytes());
        }
        uuid::Builder::from_unix_timestamp_millis(millis, &tail).into_uuid().to_string()
    }
}

/// What the generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    Sales,
    Healthz,
}

impl Load {
    fn expect(self) -> u16 {
        match self {
            Self::Sales => 201,
            Self::Healthz => 200,
        }
    }
}

/// Everything a connection needs to make its requests.
#[derive(Debug)]
struct Plan {
    addr: SocketAddr,
    host: String,
    estate: Estate,
    keys: Keys,
}

impl Plan {
    /// The `n`th request of a phase, made by connection `conn`; and whether it is an STS sale.
    fn request(&self, load: Load, conn: usize, n: u64) -> (Vec<u8>, bool) {
        let host = &self.host;
        if load == Load::Healthz {
            return (format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(), false);
        }
        let cashiers = &self.estate.cashiers;
        let targets = &self.estate.targets;
        let (Some(cashier), Some(target)) = (
            cashiers.get(conn % cashiers.len().max(1)),
            targets.get(usize::try_from(n % targets.len().max(1) as u64).unwrap_or(0)),
        ) else {
            return (Vec::new(), false);
        };
        let body = format!(
            r#"{{"account_id":"{}","meter_id":"{}","method":"cash","amount":"{SALE_AMOUNT}","shift_id":"{}"}}"#,
            target.account, target.meter, cashier.shift
        );
        let request = format!(
            "POST /api/v1/sales HTTP/1.1\r\nHost: {host}\r\nAuthorization: {}\r\nIdempotency-Key: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            cashier.authorization,
            self.keys.next(),
            body.len()
        );
        (request.into_bytes(), target.sts)
    }
}

/// What one phase saw.
#[derive(Debug, Default)]
struct Tally {
    /// Requests sent (answered or not).
    sent: u64,
    /// Answered with the expected status.
    ok: u64,
    /// Every answer by status, and every failure to get one by its kind.
    statuses: BTreeMap<String, u64>,
    /// STS sales answered 201, and those of them whose answer carries a 20-digit token.
    sts_ok: u64,
    sts_tokens: u64,
    /// Microseconds: from sending (closed loop) or from the scheduled time (open loop) to the whole answer.
    latencies_us: Vec<u64>,
    /// Open loop: no connection was free to send it at its scheduled time.
    late: u64,
    /// The first unexpected answer, for the report.
    sample: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.ok += other.ok;
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.sts_ok += other.sts_ok;
        self.sts_tokens += other.sts_tokens;
        self.latencies_us.extend(other.latencies_us);
        self.late += other.late;
        if self.sample.is_none() {
            self.sample = other.sample;
        }
    }

    fn errors(&self) -> u64 {
        self.sent - self.ok
    }

    /// Statuses other than the expected one, as `code ×count`.
    fn unexpected(&self, expect: u16) -> String {
        let expect = expect.to_string();
        let list: Vec<String> =
            self.statuses.iter().filter(|(k, _)| **k != expect).map(|(k, v)| format!("{k} ×{v}")).collect();
        if list.is_empty() { "none".into() } else { list.join(", ") }
    }

    /// The `q` quantile of the latencies, in milliseconds (sorts them).
    fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let last = self.latencies_us.len() - 1;
        let at = ((last as f64) * q).round() as usize;
        self.latencies_us.get(at.min(last)).copied().unwrap_or(0) as f64 / 1_000.0
    }

    /// Sends one request on `conn` (connecting first if need be) and records its answer.
    async fn exchange(
        &mut self,
        conn: &mut Option<Connection>,
        addr: SocketAddr,
        request: &[u8],
        load: Load,
        sts: bool,
    ) {
        self.sent += 1;
        if conn.is_none() {
            match Connection::connect(addr).await {
                Ok(c) => *conn = Some(c),
                Err(e) => {
                    self.failed(format!("connect: {:?}", e.kind()), e.to_string());
                    return;
                }
            }
        }
        let Some(c) = conn.as_mut() else { return };
        let answer = match tokio::time::timeout(REQUEST_TIMEOUT, c.exchange(request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                *conn = None;
                self.failed(format!("i/o: {:?}", e.kind()), e.to_string());
                return;
            }
            Err(_) => {
                *conn = None;
                self.failed("timeout".into(), format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()));
                return;
            }
        };
        let (status, close) = (answer.status, answer.close);
        *self.statuses.entry(status.to_string()).or_default() += 1;
        if status == load.expect() {
            self.ok += 1;
            if sts {
                self.sts_ok += 1;
                if has_sts_token(answer.body) {
                    self.sts_tokens += 1;
                }
            }
        } else if self.sample.is_none() {
            let body = String::from_utf8_lossy(answer.body.get(..400).unwrap_or(answer.body)).to_string();
            self.sample = Some(format!("{status}: {body}"));
        }
        if close {
            *conn = None;
        }
    }

    fn failed(&mut self, kind: String, message: String) {
        *self.statuses.entry(kind).or_default() += 1;
        if self.sample.is_none() {
            self.sample = Some(message);
        }
    }
}

/// Whether a sale's answer carries a 20-digit STS token as its first token.
fn has_sts_token(body: &[u8]) -> bool {
    const FIELD: &[u8] = br#""tokens":[""#;
    let Some(at) = find(body, FIELD) else { return false };
    let start = at + FIELD.len();
    match (body.get(start..start + 20), body.get(start + 20)) {
        (Some(digits), Some(b'"')) => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A phase's progress on the terminal (nothing when stderr is not one).
struct Progress {
    bar: ProgressBar,
    answered: Arc<AtomicU64>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(label: &str, duration: Duration) -> Self {
        let answered = Arc::new(AtomicU64::new(0));
        if !std::io::stderr().is_terminal() {
            return Self { bar: ProgressBar::hidden(), answered, ticker: None };
        }
        let total_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let bar = ProgressBar::new(total_ms);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(label.to_string());
        let (b, count, started) = (bar.clone(), answered.clone(), Instant::now());
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let elapsed = started.elapsed();
                b.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(0).min(total_ms));
                let n = count.load(Ordering::Relaxed);
                b.set_message(format!("{n} answered, {:.0}/s", n as f64 / elapsed.as_secs_f64().max(0.001)));
            }
        });
        Self { bar, answered, ticker: Some(ticker) }
    }
}

impl Drop for Progress {
    /// The bar goes when its phase ends, also when the phase is cut short (a signal): the ticker never outlives
    /// its bar.
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}

/// What a phase measured.
#[derive(Debug)]
struct Phase {
    tally: Tally,
    elapsed: Duration,
}

impl Phase {
    fn ok_per_s(&self) -> f64 {
        self.tally.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `clients` connections, each sending its next request as soon as the last one is answered, until `duration`
/// has passed.
async fn closed_loop(
    plan: &Arc<Plan>,
    load: Load,
    clients: usize,
    duration: Duration,
    label: &str,
) -> anyhow::Result<Phase> {
    let progress = Progress::start(label, duration);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..clients {
        let (plan, next, answered) = (plan.clone(), next.clone(), progress.answered.clone());
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let mut conn = None;
            while Instant::now() < deadline {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let (request, sts) = plan.request(load, k, n);
                let sent = Instant::now();
                tally.exchange(&mut conn, plan.addr, &request, load, sts).await;
                tally.latencies_us.push(micros(sent.elapsed()));
                answered.fetch_add(1, Ordering::Relaxed);
            }
            tally
        });
    }
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        tally.merge(done.context("a load generator task failed")?);
    }
    let elapsed = started.elapsed();
    drop(progress);
    Ok(Phase { tally, elapsed })
}

/// `rate × duration` requests, the i-th scheduled at t0 + i/rate, sent by whichever of `clients` connections
/// is free; latency counts from the scheduled time.
async fn open_loop(
    plan: &Arc<Plan>,
    load: Load,
    clients: usize,
    rate: u32,
    duration: Duration,
    label: &str,
) -> anyhow::Result<(Phase, u64)> {
    let total = u64::from(rate).saturating_mul(duration.as_secs());
    let progress = Progress::start(label, duration);
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now() + OPEN_LOOP_LEAD;
    let give_up = t0 + duration + DRAIN_MAX;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..clients {
        let (plan, next, answered) = (plan.clone(), next.clone(), progress.answered.clone());
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let mut conn = Connection::connect(plan.addr).await.ok();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() > give_up {
                    return tally;
                }
                let offset_ns = u128::from(i) * 1_000_000_000 / u128::from(rate);
                let scheduled = t0 + Duration::from_nanos(u64::try_from(offset_ns).unwrap_or(u64::MAX));
                // Late: this connection became free for the request only after its time (none was free then).
                // The timer's own slack (tokio's is a millisecond) is not lateness, but it is in the latency.
                if Instant::now() > scheduled {
                    tally.late += 1;
                }
                let (request, sts) = plan.request(load, k, i);
                tokio::time::sleep_until(scheduled.into()).await;
                tally.exchange(&mut conn, plan.addr, &request, load, sts).await;
                tally.latencies_us.push(micros(scheduled.elapsed()));
                answered.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut tally = Tally::default();
    while let Some(done) = tasks.join_next().await {
        tally.merge(done.context("a load generator task failed")?);
    }
    let elapsed = t0.elapsed();
    drop(progress);
    let unsent = total - tally.sent;
    Ok((Phase { tally, elapsed }, unsent))
}

/// Everything measured.
#[derive(Debug)]
struct Results {
    sales_closed: Phase,
    sales_commits: u64,
    /// The writer's batches and step times during (a).
    writer: WriterSteps,
    sales_open: Phase,
    sales_open_unsent: u64,
    health_closed: Phase,
    health_open: Phase,
    health_open_unsent: u64,
}

async fn measure(plan: &Arc<Plan>, store: &Arc<dyn Store>, args: &VendArgs) -> anyhow::Result<Results> {
    let d = Duration::from_secs(args.duration_s);
    let (c, rate) = (args.clients, args.rate);
    let batches = store.writer_stats();
    let before = batches.steps();
    let sales_closed = closed_loop(plan, Load::Sales, c, d, "(a) sales, closed loop").await?;
    let writer = batches.steps().since(&before);
    let sales_commits = writer.batches;
    println!(
        "(a) sales, closed loop, {c} connections: {} answered in {:.1} s, {} × 201",
        sales_closed.tally.sent,
        sales_closed.elapsed.as_secs_f64(),
        sales_closed.tally.ok
    );
    let (sales_open, sales_open_unsent) = open_loop(plan, Load::Sales, c, rate, d, "(b) sales, open loop").await?;
    println!(
        "(b) sales, open loop at {rate}/s: {} answered in {:.1} s, {} × 201, {} late, {} not sent",
        sales_open.tally.sent,
        sales_open.elapsed.as_secs_f64(),
        sales_open.tally.ok,
        sales_open.tally.late,
        sales_open_unsent
    );
    let health_closed = closed_loop(plan, Load::Healthz, c, d, "(c) /healthz, closed loop").await?;
    println!(
        "(c) GET /healthz, closed loop, {c} connections: {} answered in {:.1} s",
        health_closed.tally.sent,
        health_closed.elapsed.as_secs_f64()
    );
    let (health_open, health_open_unsent) =
        open_loop(plan, Load::Healthz, c, rate, d, "(c) /healthz, open loop").await?;
    println!(
        "(c) GET /healthz, open loop at {rate}/s: {} answered in {:.1} s, {} late",
        health_open.tally.sent,
        health_open.elapsed.as_secs_f64(),
        health_open.tally.late
    );
    Ok(Results {
        sales_closed,
        sales_commits,
        writer,
        sales_open,
        sales_open_unsent,
        health_closed,
        health_open,
        health_open_unsent,
    })
}

/// The API's own state, as `serve::api_state` builds it, but with the bench's master key, no font (nothing is
/// printed) and the bench cashiers' hash as the dummy for unknown usernames.
pub(crate) fn app_state(
    settings: &Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: &MasterKeys,
) -> AppState {
    let auth = crate::api::auth::AuthState::new(
        jiff::SignedDuration::from_mins(i64::from(settings.server.session_idle_minutes)),
        jiff::SignedDuration::from_hours(i64::from(settings.server.session_hours)),
        false,
        format!("$argon2id$v=19$m=19456,t=2,p=1$YmVuY2hiZW5jaA${}", "A".repeat(43)),
    );
    let api = crate::api::ApiState::new(IdGenerator::new(clock.clone()), auth, keys.clone(), None);
    AppState {
        metrics: Arc::new(Metrics::new(store.writer_stats())),
        started_at: clock.now(),
        store,
        api: Arc::new(api),
        escpos_ascii: false,
        printers: Arc::default(),
        cards: Arc::new(crate::cards::CardReaders::new(&std::collections::BTreeMap::new(), 1)),
        clock,
        body_max_bytes: settings.server.request_body_max_bytes,
        headend: None,
        backups: None,
        payments: Arc::default(),
    }
}

/// The real router on 127.0.0.1, port chosen by the system, served by a task of this process.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub(crate) async fn start(
        settings: &Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        keys: &MasterKeys,
    ) -> anyhow::Result<Self> {
        let state = app_state(settings, store, clock, keys);
        let app = crate::http::router(state, settings.server.request_body_max_bytes);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("cannot listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
        let task = tokio::spawn(async move { serve.await });
        Ok(Self { addr, stop, task })
    }

    /// Stops accepting, lets open connections finish, and waits until nothing is left listening.
    pub(crate) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        match tokio::time::timeout(STOP_MAX, self.task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(anyhow::anyhow!("the HTTP server failed: {e}")),
            Ok(Err(e)) => Err(anyhow::anyhow!("the HTTP server task failed: {e}")),
            Err(_) => bail!("the HTTP server did not stop within {} s", STOP_MAX.as_secs()),
        }
    }
}

/// What the run measured and found in the database.
#[derive(Debug)]
struct Measured {
    backend: Backend,
    results: Results,
    check: voltvend_store::CheckReport,
    /// Sales written during the run.
    sales_in_db: i64,
}

/// Sets up, serves, measures, stops the server, and checks the database.
async fn bench(
    settings: &Settings,
    db: &BenchDb,
    clock: Arc<dyn Clock>,
    ids: Arc<IdGenerator>,
    keys: &MasterKeys,
    args: &VendArgs,
) -> anyhow::Result<Measured> {
    let store = &db.store;
    let backend = store.backend();
    let sales_before = store.counts().await?.sales;
    let started = Instant::now();
    let estate = setup(store, &ids, keys, clock.as_ref(), args.accounts).await?;
    let sts_accounts = estate.targets.iter().filter(|t| t.sts).count();
    println!(
        "set-up: {} cashiers with a counter, an open shift and an API token; {} accounts ({} remote DL/T 645, {} \
         STS), in {:.1} s, on {backend} at {}",
        estate.cashiers.len(),
        estate.targets.len(),
        estate.targets.len() - sts_accounts,
        sts_accounts,
        started.elapsed().as_secs_f64(),
        db.shown
    );
    let server = Server::start(settings, store.clone(), clock.clone(), keys).await?;
    let plan = Arc::new(Plan {
        addr: server.addr,
        host: server.addr.to_string(),
        estate,
        keys: Keys { clock: clock.clone(), next: AtomicU64::new(0) },
    });
    println!("serving on http://{}; each phase {} s", server.addr, args.duration_s);
    let measured = tokio::select! {
        r = measure(&plan, store, args) => r,
        () = crate::serve::shutdown_signal() => Err(anyhow::anyhow!("stopped by a signal")),
    };
    let stopped = server.stop().await;
    let results = measured?;
    stopped?;
    let spinner = crate::cli::spinner("checking every invariant");
    let check = store.check(CheckScope::Full).await;
    spinner.finish_and_clear();
    let check = check?;
    let sales_in_db = store.counts().await?.sales - sales_before;
    Ok(Measured { backend, results, check, sales_in_db })
}

/// Runs the pgbench baseline, prints the table (and writes the JSON), and fails if any sale went wrong.
async fn report(settings: &Settings, args: &VendArgs, m: Measured) -> anyhow::Result<()> {
    let Measured { backend, mut results, check, sales_in_db } = m;
    let pgbench_url = args
        .pgbench_url
        .clone()
        .or_else(|| (backend == Backend::Postgres).then(|| settings.database.url.clone()))
        .or_else(|| std::env::var("VOLTVEND_BENCH_PGBENCH_URL").ok().filter(|u| !u.is_empty()));
    let d = Duration::from_secs(args.duration_s);
    let pgbench = match &pgbench_url {
        Some(url) => {
            let spinner = crate::cli::spinner("(d) pgbench TPC-B");
            let r = crate::bench::pgbench(url, d).await;
            spinner.finish_and_clear();
            match r {
                Ok(tps) => {
                    println!(
                        "(d) pgbench TPC-B, 16 clients, {} s, on {}: {tps:.0} tps",
                        args.duration_s,
                        voltvend_store::redact_url(url)
                    );
                    Ok(tps)
                }
                Err(e) => Err(format!("{e:#}")),
            }
        }
        None => Err("no PostgreSQL server given (--pgbench-url postgres://…, or $VOLTVEND_BENCH_PGBENCH_URL)".into()),
    };
    if let Err(why) = &pgbench {
        println!("(d) pgbench TPC-B: skipped: {why}");
    }

    let created = results.sales_closed.tally.ok + results.sales_open.tally.ok;
    let machine = Machine::read().await;
    let report_json = print_and_json(args, backend, &machine, &mut results, &pgbench, created, sales_in_db, &check);
    if let Some(path) = &args.json {
        let text = serde_json::to_vec_pretty(&report_json)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("results written to {}", path.display());
    }

    let errors = results.sales_closed.tally.errors() + results.sales_open.tally.errors();
    let sts_ok = results.sales_closed.tally.sts_ok + results.sales_open.tally.sts_ok;
    let sts_tokens = results.sales_closed.tally.sts_tokens + results.sales_open.tally.sts_tokens;
    anyhow::ensure!(check.is_ok(), "invariants failed: {:?}", check.problems);
    anyhow::ensure!(errors == 0, "{errors} sale(s) were not answered 201");
    anyhow::ensure!(sts_tokens == sts_ok, "{} STS sale(s) were answered without a 20-digit token", sts_ok - sts_tokens);
    anyhow::ensure!(
        i64::try_from(created).unwrap_or(i64::MAX) == sales_in_db,
        "{created} sales were answered 201 but {sales_in_db} were written"
    );
    let health_errors = results.health_closed.tally.errors() + results.health_open.tally.errors();
    anyhow::ensure!(health_errors == 0, "{health_errors} GET /healthz were not answered 200");
    Ok(())
}

/// The machine the figures belong to.
#[derive(Debug)]
/// The machine a bench ran on, for its JSON report.
pub(crate) struct Machine {
    pub(crate) cores: usize,
    pub(crate) hostname: String,
    pub(crate) commit: Option<String>,
}

impl Machine {
    pub(crate) async fn read() -> Self {
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        let hostname = ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "unknown".into());
        let commit = tokio::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .await
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|c| !c.is_empty());
        Self { cores, hostname, commit }
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn show_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.2}"))
}

/// Prints the table and returns the same figures as JSON.
#[allow(clippy::too_many_arguments)]
fn print_and_json(
    args: &VendArgs,
    backend: Backend,
    machine: &Machine,
    r: &mut Results,
    pgbench: &Result<f64, String>,
    created: u64,
    sales_in_db: i64,
    report: &voltvend_store::CheckReport,
) -> serde_json::Value {
    let sales_per_s = r.sales_closed.ok_per_s();
    let health_per_s = r.health_closed.ok_per_s();
    let (p50, p99, p999) = (
        r.sales_open.tally.quantile_ms(0.5),
        r.sales_open.tally.quantile_ms(0.99),
        r.sales_open.tally.quantile_ms(0.999),
    );
    let (h50, h99, h999) = (
        r.health_open.tally.quantile_ms(0.5),
        r.health_open.tally.quantile_ms(0.99),
        r.health_open.tally.quantile_ms(0.999),
    );
    let (c50, c99) = (r.sales_closed.tally.quantile_ms(0.5), r.sales_closed.tally.quantile_ms(0.99));
    let tps = pgbench.as_ref().ok().copied();
    let per_commit = r.sales_closed.tally.ok as f64 / r.sales_commits.max(1) as f64;
    let rate = args.rate;

    println!();
    println!(
        "voltvend bench vend on {backend}: {} accounts (half remote DL/T 645, half STS), {CASHIERS} cashiers, {} \
         connections, {} s per phase, {} cores ({})",
        args.accounts, args.clients, args.duration_s, machine.cores, machine.hostname
    );
    println!("{:<46} {:>14}  {:<34} {:>7}", "figure", "measured", "baseline", "ratio");
    let row = |figure: &str, measured: String, baseline: String, ratio: Option<f64>| {
        println!("{figure:<46} {measured:>14}  {baseline:<34} {:>7}", show_ratio(ratio));
    };
    row(
        &format!("(a) sales/s, closed loop, {} conn.", args.clients),
        format!("{sales_per_s:.0}"),
        format!("(c) GET /healthz {health_per_s:.0} req/s"),
        ratio(sales_per_s, health_per_s),
    );
    row(
        "(a) sales/s against pgbench TPC-B",
        format!("{sales_per_s:.0}"),
        match (tps, pgbench) {
            (Some(t), _) => format!("(d) pgbench {t:.0} tps"),
            (None, _) => "(d) pgbench skipped".into(),
        },
        tps.and_then(|t| ratio(sales_per_s, t)),
    );
    row(
        "(a) sales/s against the goal",
        format!("{sales_per_s:.0}"),
        format!("goal {GOAL_SALES_PER_S:.0}"),
        ratio(sales_per_s, GOAL_SALES_PER_S),
    );
    row("(a) latency p50 / p99, closed loop (ms)", format!("{c50:.2} / {c99:.2}"), String::new(), None);
    row(
        &format!("(b) p50 at {rate}/s offered (ms)"),
        format!("{p50:.2}"),
        format!("(c) /healthz at {rate}/s: {h50:.2}"),
        ratio(p50, h50),
    );
    row(
        &format!("(b) p99 at {rate}/s offered (ms)"),
        format!("{p99:.2}"),
        format!("(c) /healthz at {rate}/s: {h99:.2}"),
        ratio(p99, h99),
    );
    row(
        &format!("(b) p99 at {rate}/s against the goal (ms)"),
        format!("{p99:.2}"),
        format!("goal ≤ {GOAL_P99_MS:.0}"),
        ratio(p99, GOAL_P99_MS),
    );
    row(
        &format!("(b) p99.9 at {rate}/s offered (ms)"),
        format!("{p999:.2}"),
        format!("(c) /healthz at {rate}/s: {h999:.2}"),
        ratio(p999, h999),
    );
    row(
        "(b) late (no connection free at its time)",
        format!("{} of {}", r.sales_open.tally.late, r.sales_open.tally.sent),
        format!("(c) /healthz: {} of {}", r.health_open.tally.late, r.health_open.tally.sent),
        None,
    );
    if r.sales_open_unsent + r.health_open_unsent > 0 {
        row(
            "(b) scheduled but not sent (drain limit)",
            r.sales_open_unsent.to_string(),
            format!("(c) /healthz: {}", r.health_open_unsent),
            None,
        );
    }
    println!("group commit in (a): {} commits, {per_commit:.1} sales per commit", r.sales_commits);
    println!("{}", crate::bench::writer_steps_line(&r.writer, r.sales_closed.elapsed));
    let sts_ok = r.sales_closed.tally.sts_ok + r.sales_open.tally.sts_ok;
    let sts_tokens = r.sales_closed.tally.sts_tokens + r.sales_open.tally.sts_tokens;
    let sent = r.sales_closed.tally.sent + r.sales_open.tally.sent;
    let mut statuses = r.sales_closed.tally.unexpected(201);
    let open_statuses = r.sales_open.tally.unexpected(201);
    if statuses == "none" {
        statuses = open_statuses;
    } else if open_statuses != "none" {
        statuses = format!("{statuses}; {open_statuses}");
    }
    if sent == created {
        println!("answers: all {sent} sales answered 201 ({sts_tokens} of {sts_ok} STS sales with a 20-digit token)");
    } else {
        println!("answers: {created} of {sent} sales answered 201; other answers: {statuses}");
        for s in [&r.sales_closed.tally.sample, &r.sales_open.tally.sample].into_iter().flatten() {
            println!("  e.g. {s}");
        }
    }
    let health_statuses = [r.health_closed.tally.unexpected(200), r.health_open.tally.unexpected(200)];
    if health_statuses.iter().any(|s| s != "none") {
        println!("/healthz answers other than 200: {}", health_statuses.join("; "));
    }
    let matches = i64::try_from(created).unwrap_or(i64::MAX) == sales_in_db;
    println!(
        "database: {sales_in_db} sales written, {} the {created} answered 201; check: {}",
        if matches { "equal to" } else { "NOT equal to" },
        if report.is_ok() {
            format!(
                "{} transfers, {} sales, {} audit records; every invariant holds",
                report.transfers, report.sales, report.audit_records
            )
        } else {
            format!(
                "{} problem(s), first: {}",
                report.problems.len(),
                report.problems.first().map_or("", String::as_str)
            )
        }
    );

    json!({
        "bench": "vend",
        "machine": { "cores": machine.cores, "hostname": machine.hostname },
        "git_commit": machine.commit,
        "backend": backend.to_string(),
        "scenario": {
            "accounts": args.accounts,
            "accounts_remote_dlt645": args.accounts - args.accounts / 2,
            "accounts_sts": args.accounts / 2,
            "cashiers": CASHIERS,
            "clients": args.clients,
            "rate_per_s": rate,
            "duration_s": args.duration_s,
            "sale": { "method": "cash", "amount": SALE_AMOUNT, "currency": "CNY" },
        },
        "figures": {
            "sales_per_s_closed_loop": sales_per_s,
            "closed_loop_p50_ms": c50,
            "closed_loop_p99_ms": c99,
            "sales_per_commit": per_commit,
            "writer_ms_per_commit": crate::bench::writer_steps_json(&r.writer),
            "writer_busy": crate::bench::writer_busy(&r.writer, r.sales_closed.elapsed),
            "open_loop_p50_ms": p50,
            "open_loop_p99_ms": p99,
            "open_loop_p999_ms": p999,
            "open_loop_sent": r.sales_open.tally.sent,
            "open_loop_late": r.sales_open.tally.late,
            "open_loop_unsent": r.sales_open_unsent,
        },
        "baseline": {
            "healthz_per_s_closed_loop": health_per_s,
            "healthz_open_loop_p50_ms": h50,
            "healthz_open_loop_p99_ms": h99,
            "healthz_open_loop_p999_ms": h999,
            "healthz_open_loop_late": r.health_open.tally.late,
            "pgbench_tpcb_tps": tps,
            "pgbench_skipped": pgbench.as_ref().err(),
            "goal_sales_per_s": GOAL_SALES_PER_S,
            "goal_p99_ms": GOAL_P99_MS,
        },
        "ratios": {
            "sales_per_healthz": ratio(sales_per_s, health_per_s),
            "sales_per_pgbench_tps": tps.and_then(|t| ratio(sales_per_s, t)),
            "sales_per_goal": ratio(sales_per_s, GOAL_SALES_PER_S),
            "p99_per_healthz_p99": ratio(p99, h99),
            "p99_per_goal": ratio(p99, GOAL_P99_MS),
        },
        "checks": {
            "sales_sent": sent,
            "sales_answered_201": created,
            "sales_other_answers": r.sales_closed.tally.statuses.iter().chain(r.sales_open.tally.statuses.iter())
                .filter(|(k, _)| k.as_str() != "201").map(|(k, v)| (k.clone(), *v)).collect::<BTreeMap<String, u64>>(),
            "sts_sales_201": sts_ok,
            "sts_sales_with_token": sts_tokens,
            "sales_written": sales_in_db,
            "sales_written_equal_201": matches,
            "check_problems": report.problems,
        },
    })
}

#[cfg(test)]
mod tests {
    use voltvend_domain::ManualClock;

    use super::*;

    #[test]
    fn idempotency_keys_are_uuid_v7_in_order() {
        let clock = Arc::new(ManualClock::new("2026-11-23T08:00:00Z".parse().unwrap()));
        let keys = Keys { clock: clock.clone(), next: AtomicU64::new(0) };
        let a = uuid::Uuid::parse_str(&keys.next()).unwrap();
        let b = uuid::Uuid::parse_str(&keys.next()).unwrap();
        clock.advance(jiff::SignedDuration::from_millis(1));
        let c = uuid::Uuid::parse_str(&keys.next()).unwrap();
        assert_eq!(a.get_version_num(), 7);
        assert!(a < b && b < c, "{a} {b} {c}");
    }

    #[test]
    fn sts_tokens_in_answers() {
        assert!(has_sts_token(br#"{"x":1,"tokens":["12345678901234567890"],"y":2}"#));
        assert!(!has_sts_token(br#"{"tokens":[]}"#));
        assert!(!has_sts_token(br#"{"tokens":["1234567890123456789"]}"#));
        assert!(!has_sts_token(br#"{"tokens":["123456789012345678901"]}"#));
    }

    #[test]
    fn quantiles() {
        let mut t = Tally { latencies_us: (1..=1000).rev().map(|n| n * 1000).collect(), ..Tally::default() };
        assert_eq!(t.quantile_ms(0.5), 501.0);
        assert_eq!(t.quantile_ms(0.99), 990.0);
        assert_eq!(t.quantile_ms(0.999), 999.0);
        assert_eq!(Tally::default().quantile_ms(0.99), 0.0);
    }
}
