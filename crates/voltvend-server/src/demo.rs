//! `voltvend demo`: a server on a fresh embedded database, seeded with a small estate so that there is
//! something to look at. The seeded data is reproducible (fixed seed); the operator passwords are not.

use std::sync::Arc;

use anyhow::Context;
use voltvend_domain::{
    Account, AccountId, Clock, ControlMode, CtVtRatio, Currency, Customer, CustomerId, LedgerAccount, LedgerAccountId,
    LedgerAccountKind, Meter, MeterId, MeterProtocol, Money, Operator, OperatorId, Owner, Premises, PremisesLevel,
    Role, ShiftId, TransferKind, TransferRequest, Utility,
};
use voltvend_store::Store;

use crate::clock::IdGenerator;
use crate::settings::Settings;

/// Operators created by the seed, with their generated passwords.
#[derive(Debug)]
pub struct DemoLogins {
    pub logins: Vec<(String, Role, String)>,
}

const SURNAMES: [&str; 12] = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Xu", "Sun"];
const GIVEN: [&str; 8] = ["Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Tao", "Xia"];

pub async fn run(mut settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("voltvend-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    settings.database.url = format!("sqlite://{}", dir.join("voltvend.sqlite").display());
    settings.database.auto_migrate = true;
    let store = crate::serve::open_store(&settings, clock.clone()).await?;
    let logins =
        seed(store.as_ref(), &IdGenerator::seeded(clock.clone(), 2026), &IdGenerator::new(clock.clone())).await?;
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
    println!();
    println!("  Voltvend demo is running: open http://{addr}/");
    println!(
        "  Data: {} premises, {} customers, {} meters, {} ledger transfers",
        counts.premises, counts.customers, counts.meters, counts.transfers
    );
    println!("  Embedded database: {}", dir.display());
    println!("  Simulated meters: DL/T 645 over TCP on {sim_addr} (24 meters, 60× time)");
    for (username, role, password) in &logins.logins {
        println!("  Log in as {username} / {password}  ({role})");
    }
    println!("  (The web UI and the head end that polls the meters arrive with their issues; today the server");
    println!("   shows status, /healthz and /metrics, and the meters answer any DL/T 645 master.)");
    println!("  Stop with Ctrl-C.");
    println!();
    crate::serve::run(&settings, store, clock, listener, crate::serve::shutdown_signal()).await
}

/// Seeds a group with one estate of two buildings, 24 units with customers, accounts, meters, wallets and
/// opening sales, and two operators. `data_ids` makes the data reproducible; `secret_ids` makes passwords.
pub async fn seed(store: &dyn Store, data_ids: &IdGenerator, secret_ids: &IdGenerator) -> anyhow::Result<DemoLogins> {
    let cny = |minor: i64| Money::from_minor(minor, Currency::CNY);
    let group = Premises::new_root(data_ids.id(), "Voltvend Demo Utilities", "Asia/Shanghai")?;
    let estate = group.new_child(data_ids.id(), PremisesLevel::Property, "Riverside Estate 滨江花园")?;
    store.insert_premises(&group).await?;
    store.insert_premises(&estate).await?;

    let ledger = |kind, owner, limit| {
        LedgerAccount::new(data_ids.id::<LedgerAccountId>(), kind, owner, estate.id, Currency::CNY, limit)
    };
    let revenue = ledger(LedgerAccountKind::EnergyRevenue, Owner::None, None)?;
    let fixed = ledger(LedgerAccountKind::FixedChargeRevenue, Owner::None, None)?;
    let tax = ledger(LedgerAccountKind::Tax, Owner::None, None)?;
    let drawer = ledger(LedgerAccountKind::CashDrawer, Owner::Shift(data_ids.id::<ShiftId>()), None)?;
    let wechat = ledger(LedgerAccountKind::PaymentClearing, Owner::Provider("wechat".into()), None)?;
    for a in [&revenue, &fixed, &tax, &drawer, &wechat] {
        store.insert_ledger_account(a).await?;
    }

    let mut n = 0_usize;
    for building_name in ["Block A", "Block B"] {
        let building = estate.new_child(data_ids.id(), PremisesLevel::Building, building_name)?;
        store.insert_premises(&building).await?;
        for floor_no in 1..=3 {
            let floor = building.new_child(data_ids.id(), PremisesLevel::Floor, &format!("Floor {floor_no}"))?;
            store.insert_premises(&floor).await?;
            for unit_no in 1..=4 {
                n += 1;
                let code = format!("{}-{floor_no}0{unit_no}", &building_name[6..]);
                let unit = floor.new_child(data_ids.id(), PremisesLevel::Unit, &code)?;
                store.insert_premises(&unit).await?;
                let surname = SURNAMES.iter().cycle().nth(n).unwrap_or(&"Wang");
                let given = GIVEN.iter().cycle().nth(n).unwrap_or(&"Wei");
                let name = format!("{surname} {given}");
                let customer =
                    Customer::new(data_ids.id::<CustomerId>(), unit.id, &name, Some(&format!("1380000{n:04}")))?;
                store.insert_customer(&customer).await?;
                let account = Account::open(data_ids.id::<AccountId>(), &customer, unit.id, Currency::CNY);
                store.insert_account(&account).await?;

                let mut meter = Meter::receive(
                    data_ids.id::<MeterId>(),
                    &format!("DDSY1352-{n:05}"),
                    Utility::Electricity,
                    ControlMode::Remote,
                    MeterProtocol::Dlt645,
                    &format!("{n:012}"),
                    CtVtRatio::DIRECT,
                )?;
                meter.install(unit.id)?;
                meter.activate(account.id)?;
                store.insert_meter(&meter).await?;
                if n.is_multiple_of(4) {
                    let mut water = Meter::receive(
                        data_ids.id::<MeterId>(),
                        &format!("LXSY-{n:05}"),
                        Utility::Water,
                        ControlMode::Local,
                        MeterProtocol::IcCard,
                        &format!("W{n:06}"),
                        CtVtRatio::DIRECT,
                    )?;
                    water.install(unit.id)?;
                    water.activate(account.id)?;
                    store.insert_meter(&water).await?;
                }

                // Every fifth customer has an agreed overdraft of 50 yuan.
                let overdraft = if n.is_multiple_of(5) { Some(5_000) } else { None };
                let wallet = ledger(LedgerAccountKind::CustomerWallet, Owner::Account(account.id), overdraft)?;
                store.insert_ledger_account(&wallet).await?;
                let paid_minor = 5_000 + i64::try_from(n).unwrap_or(0) * 1_250;
                let (source, memo) =
                    if n.is_multiple_of(3) { (&wechat, "WeChat Pay") } else { (&drawer, "cash at counter") };
                let sale = TransferRequest::simple(
                    data_ids.id(),
                    TransferKind::Payment,
                    source.id,
                    wallet.id,
                    cny(paid_minor),
                    memo,
                );
                store.post_transfer(sale).await?;
                let used = TransferRequest::simple(
                    data_ids.id(),
                    TransferKind::Consumption,
                    wallet.id,
                    revenue.id,
                    cny(paid_minor / 3),
                    "metered consumption",
                );
                store.post_transfer(used).await?;
            }
        }
    }

    let mut logins = Vec::new();
    for (username, role, scope) in [("admin", Role::Administrator, group.id), ("cashier1", Role::Cashier, estate.id)] {
        let password = crate::passwords::generate(secret_ids);
        let operator = Operator {
            id: data_ids.id::<OperatorId>(),
            username: username.into(),
            display_name: username.into(),
            role,
            scope,
            password_hash: crate::passwords::hash(&password, secret_ids)?,
            active: true,
        };
        store.insert_operator(&operator).await?;
        logins.push((username.to_string(), role, password));
    }
    Ok(DemoLogins { logins })
}
