//! `voltvend demo`: a server with a small seeded estate so that there is something to look at, and a
//! simulated fleet for its meters. The estate is built by the same operations a real installation runs
//! (premises, books, a counter, tariffs, account openings, sales through a cashier's shift, readings billed
//! from the meters' registers), so the demo's data obeys every invariant `voltvend check` knows. The seeded
//! data is reproducible (fixed seed); the operator passwords are not.
//!
//! By default the demo runs on a fresh database in a temporary folder, removed on a clean stop. With
//! `--database-url` it runs on that database: an empty one is seeded, one seeded by an earlier demo is served
//! as it is, and any other is refused.

use std::sync::Arc;

use anyhow::{Context, bail};
use jiff::{SignedDuration, Timestamp};
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::tariff::pricing::{Reading, Registers};
use voltvend_domain::{
    AccountId, BooksId, BuiltinRole, Clock, ControlMode, CtVtRatio, Currency, Customer, CustomerId, Meter, MeterId,
    MeterProtocol, OperationId, Operator, OperatorId, Premises, PremisesLevel, ShiftId, Utility, VendingPointId,
};
use voltvend_ops::{
    Actor, ApplyReadings, Command, CustomerRef, ImportTariff, MeterBinding, OpenAccount, OpenBooks, OpenShift,
    OpenVendingPoint, Operation, PaymentMethod, Sale,
};
use voltvend_store::Store;

use crate::clock::IdGenerator;
use crate::serve::Access;
use crate::settings::Settings;

/// Operators created by the seed, with their generated passwords.
#[derive(Debug)]
pub struct DemoLogins {
    pub logins: Vec<(String, BuiltinRole, String)>,
}

/// What `meta` says of a demo database.
const PURPOSE_KEY: &str = "purpose";
const PURPOSE_DEMO: &str = "demo";

const SURNAMES: [&str; 12] = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun"];
const GIVEN: [&str; 8] = ["Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Tao", "Xia"];

/// The shipped Zhejiang residential tariff (annual tiers, peak/valley).
pub(crate) const ELECTRICITY_TARIFF: &str = include_str!("../../../tariffs/cn-zhejiang-residential.toml");
const WATER_TARIFF: &str = include_str!("../../../tariffs/cn-beijing-residential-water.toml");

pub async fn run(mut settings: Settings, clock: Arc<dyn Clock>, url_given: bool) -> anyhow::Result<()> {
    let temp_dir = if url_given {
        None
    } else {
        let dir = std::env::temp_dir().join(format!("voltvend-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        settings.database.url = format!("sqlite://{}", dir.join("voltvend.sqlite").display());
        Some(dir)
    };
    settings.database.auto_migrate = true;
    let store = crate::serve::open_store(&settings, clock.clone(), Access::Create).await?;
    let prepared = async {
        let lock = crate::serve::lock_for_writing(store.as_ref()).await?;
        let seeded = prepare(store.as_ref(), &clock).await;
        lock.release().await;
        seeded
    }
    .await;
    let logins = match prepared {
        Ok(l) => l,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let counts = store.counts().await?;
    let listener = crate::serve::bind(&settings).await?;
    let addr = listener.local_addr()?;
    // The seeded DL/T 645 meters are 000000000001…000000000024: simulate exactly those; every other setting
    // is the simulator's default.
    let sim = <crate::simulate::SimulateArgs as clap::Parser>::try_parse_from([
        "simulate",
        "--meters=24",
        "--dlt645-listen=127.0.0.1:0",
        "--seed=2026",
        "--credit-kwh=30",
    ])?;
    let (sim_addr, _fleet) = crate::simulate::start(&sim, clock.as_ref()).await?;
    let database = voltvend_store::redact_url(&settings.database.url);
    let temp_shown = temp_dir.clone();
    let ready = move || {
        println!();
        println!("  Voltvend demo is running: open http://{addr}/");
        println!(
            "  Data: {} premises, {} customers, {} meters, {} sales, {} ledger transfers, {} audit records",
            counts.premises, counts.customers, counts.meters, counts.sales, counts.transfers, counts.audit_records
        );
        match &temp_shown {
            Some(dir) => println!("  Embedded database: {} (removed when the demo stops)", dir.display()),
            None => println!("  Database: {database}"),
        }
        println!("  Simulated meters: DL/T 645 over TCP on {sim_addr} (24 meters, 60× time)");
        match &logins {
            Some(logins) => {
                for (username, role, password) in &logins.logins {
                    println!("  Log in as {username} / {password}  ({role})");
                }
            }
            None => println!("  This demo database was seeded earlier; its logins were printed then."),
        }
        println!("  (The web UI and the head end that polls the meters arrive with their issues; today the server");
        println!("   shows status, /healthz and /metrics, and the meters answer any DL/T 645 master.)");
        println!("  Stop with Ctrl-C.");
        println!();
    };
    let result = crate::serve::run(&settings, store, clock, listener, crate::serve::shutdown_signal(), ready).await;
    if let (Some(dir), Ok(())) = (&temp_dir, &result)
        && let Err(e) = std::fs::remove_dir_all(dir)
    {
        tracing::warn!(error = %e, dir = %dir.display(), "could not remove the demo database");
    }
    result
}

/// Seeds an empty database, or recognises one an earlier demo seeded (then `None`: no new logins).
async fn prepare(store: &dyn Store, clock: &Arc<dyn Clock>) -> anyhow::Result<Option<DemoLogins>> {
    match store.meta(PURPOSE_KEY).await?.as_deref() {
        Some(PURPOSE_DEMO) => return Ok(None),
        Some(other) => bail!("this database is a {other} database, not a demo's; give the demo another one"),
        None => {}
    }
    let counts = store.counts().await?;
    if counts.premises > 0 || counts.transfers > 0 {
        bail!("this database already holds data; the demo seeds only an empty database (or serves its own)");
    }
    store.set_meta(PURPOSE_KEY, PURPOSE_DEMO).await?;
    let logins =
        seed(store, &IdGenerator::seeded(clock.clone(), 2026), &IdGenerator::new(clock.clone()), clock.now()).await?;
    Ok(Some(logins))
}

/// Submits an operation and insists that it commits.
async fn apply(store: &dyn Store, op: Operation) -> anyhow::Result<()> {
    let kind = op.command.kind();
    store.submit(op).await.with_context(|| format!("demo seed: {kind}"))?;
    Ok(())
}

/// Seeds a group with one estate of two buildings: 24 units with customers and accounts, each with a remote
/// DL/T 645 electricity meter on the Zhejiang tiered TOU tariff (every fourth also an IC-card water meter on
/// Beijing's water tariff), two operators, a counter with an open shift, opening sales through it, and a
/// day of readings billed. `data_ids` makes the data reproducible; `secret_ids` makes the passwords.
pub async fn seed(
    store: &dyn Store,
    data_ids: &IdGenerator,
    secret_ids: &IdGenerator,
    now: Timestamp,
) -> anyhow::Result<DemoLogins> {
    let system = |command| Operation::new(data_ids.id::<OperationId>(), Actor::system("demo"), command);
    let group = Premises::new_root(data_ids.id(), "Voltvend Demo Utilities", "Asia/Shanghai")?;
    let estate = group.new_child(data_ids.id(), PremisesLevel::Property, "Riverside Estate 滨江花园")?;
    apply(store, system(Command::CreatePremises(group.clone()))).await?;
    apply(store, system(Command::CreatePremises(estate.clone()))).await?;
    let books = data_ids.id::<BooksId>();
    apply(store, system(Command::OpenBooks(OpenBooks { id: books, premises_id: estate.id, currency: Currency::CNY })))
        .await?;
    let point = data_ids.id::<VendingPointId>();
    apply(
        store,
        system(Command::OpenVendingPoint(OpenVendingPoint {
            id: point,
            premises_id: estate.id,
            name: "Estate office counter 物业服务中心".into(),
            currency: Currency::CNY,
            books_id: books,
            credit_limit_minor: None,
        })),
    )
    .await?;
    for document in [ELECTRICITY_TARIFF, WATER_TARIFF] {
        let (file, _) = voltvend_tariff_file::parse(document).map_err(|e| anyhow::anyhow!("shipped tariff: {e}"))?;
        let command =
            Command::ImportTariff(ImportTariff { code: file.code, name: file.name, document: document.into() });
        apply(store, system(command)).await?;
    }

    let mut logins = Vec::new();
    let mut cashier = None;
    for (username, role, scope) in
        [("admin", BuiltinRole::Administrator, group.id), ("cashier1", BuiltinRole::Cashier, estate.id)]
    {
        let password = crate::passwords::generate(secret_ids);
        let operator = Operator::new(
            data_ids.id::<OperatorId>(),
            username,
            username,
            role.as_str(),
            scope,
            &crate::passwords::hash(&password, secret_ids)?,
        );
        if role == BuiltinRole::Cashier {
            cashier = Some((operator.id, scope));
        }
        apply(store, system(Command::AddOperator(operator))).await?;
        logins.push((username.to_string(), role, password));
    }
    let (cashier, cashier_scope) = cashier.context("the seed has a cashier")?;
    let at_counter = Actor::operator(cashier, cashier_scope, "demo");
    let shift = data_ids.id::<ShiftId>();
    let open_shift =
        OpenShift { shift_id: shift, vending_point_id: point, operator_id: cashier, opening_float_minor: 50_000 };
    apply(store, Operation::new(data_ids.id(), at_counter.clone(), Command::OpenShift(open_shift))).await?;

    let mut n = 0_u32;
    for building_name in ["Block A", "Block B"] {
        let building = estate.new_child(data_ids.id(), PremisesLevel::Building, building_name)?;
        apply(store, system(Command::CreatePremises(building.clone()))).await?;
        for floor_no in 1..=3 {
            let floor = building.new_child(data_ids.id(), PremisesLevel::Floor, &format!("Floor {floor_no}"))?;
            apply(store, system(Command::CreatePremises(floor.clone()))).await?;
            for unit_no in 1..=4 {
                n += 1;
                let code = format!("{}-{floor_no}0{unit_no}", building_name.trim_start_matches("Block "));
                let unit = floor.new_child(data_ids.id(), PremisesLevel::Unit, &code)?;
                apply(store, system(Command::CreatePremises(unit.clone()))).await?;
                seed_unit(store, data_ids, &unit, books, n, &at_counter, shift, now).await?;
            }
        }
    }
    Ok(DemoLogins { logins })
}

/// One unit: its customer and account, its meters, an opening sale and a day of readings.
#[allow(clippy::too_many_arguments)]
async fn seed_unit(
    store: &dyn Store,
    ids: &IdGenerator,
    unit: &Premises,
    books: BooksId,
    n: u32,
    at_counter: &Actor,
    shift: ShiftId,
    now: Timestamp,
) -> anyhow::Result<()> {
    let system = |command| Operation::new(ids.id::<OperationId>(), Actor::system("demo"), command);
    let index = usize::try_from(n).unwrap_or(0);
    let name = format!(
        "{} {}",
        SURNAMES.get(index % SURNAMES.len()).unwrap_or(&"Wang"),
        GIVEN.get(index % GIVEN.len()).unwrap_or(&"Wei")
    );
    let mut electricity = Meter::receive(
        ids.id::<MeterId>(),
        &format!("DDSY1352-{n:05}"),
        Utility::Electricity,
        ControlMode::Remote,
        MeterProtocol::Dlt645,
        &format!("{n:012}"),
        CtVtRatio::DIRECT,
    )?;
    electricity.premises_id = Some(unit.id);
    apply(store, system(Command::ReceiveMeter(electricity.clone()))).await?;
    let mut meters = vec![MeterBinding {
        meter_id: electricity.id,
        receive: None,
        tariff_code: Some("cn-zhejiang-residential-tou".into()),
        sts: None,
        opg: None,
        max_credit_minor: None,
    }];
    if n.is_multiple_of(4) {
        let mut water = Meter::receive(
            ids.id::<MeterId>(),
            &format!("LXSY-{n:05}"),
            Utility::Water,
            ControlMode::Local,
            MeterProtocol::IcCard,
            &format!("W{n:06}"),
            CtVtRatio::DIRECT,
        )?;
        water.premises_id = Some(unit.id);
        apply(store, system(Command::ReceiveMeter(water.clone()))).await?;
        meters.push(MeterBinding {
            meter_id: water.id,
            receive: None,
            tariff_code: Some("cn-beijing-residential-water".into()),
            sts: None,
            opg: None,
            max_credit_minor: None,
        });
    }
    let account = ids.id::<AccountId>();
    let customer = Customer::new(ids.id::<CustomerId>(), unit.id, &name, Some(&format!("1380000{n:04}")))?;
    apply(
        store,
        system(Command::OpenAccount(OpenAccount {
            customer: CustomerRef::New(customer),
            account_id: account,
            premises_id: unit.id,
            currency: Currency::CNY,
            books_id: books,
            // Every fifth customer has an agreed overdraft of 50 yuan.
            overdraft_limit_minor: if n.is_multiple_of(5) { 5_000 } else { 0 },
            recovery: ArrearsRecovery::Share(200_000),
            min_purchase_minor: 1_000,
            max_balance_minor: Some(500_000),
            meters,
            first_sale: None,
        })),
    )
    .await?;
    let method = match n % 3 {
        0 => PaymentMethod::BankCard,
        1 => PaymentMethod::Cash,
        _ => PaymentMethod::BankTransfer,
    };
    let sale = Sale::paid(account, electricity.id, shift, method, 5_000 + i64::from(n) * 1_250);
    apply(store, Operation::new(ids.id(), at_counter.clone(), Command::Sale(sale))).await?;
    // A day of this unit's use, read at midnight and now, peak and valley registers.
    let start_wh = 1_000_000 + i64::from(n) * 37_000;
    let used_wh = 4_000 + i64::from(n % 7) * 1_500;
    let registers =
        |wh: i64| Registers::PerPeriod(vec![("peak".into(), wh * 2 / 3), ("valley".into(), wh - wh * 2 / 3)]);
    let readings = vec![
        Reading { at: now - SignedDuration::from_hours(24), registers: registers(start_wh) },
        Reading { at: now, registers: registers(start_wh + used_wh) },
    ];
    let op = Operation::new(
        ids.id(),
        Actor::system("headend"),
        Command::ApplyReadings(ApplyReadings { meter_id: electricity.id, readings }),
    );
    apply(store, op).await?;
    Ok(())
}
