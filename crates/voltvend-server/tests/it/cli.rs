use voltvend_store::OpenOptions;

use crate::support::{Server, assert_one_line_error, clock, migrated_sqlite, run, sqlite_url, stdout};

#[test]
fn bad_configuration_fails_fast_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.toml");
    std::fs::write(&garbage, "\u{0}\u{7}[[[ not toml").unwrap();
    let o = run(&["--config", garbage.to_str().unwrap(), "migrate"], "");
    assert_one_line_error(&o, "bad configuration");

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[server]\nlisten_adress = \"127.0.0.1:1\"\n").unwrap();
    assert_one_line_error(&run(&["--config", typo.to_str().unwrap(), "migrate"], ""), "listen_adress");

    assert_one_line_error(&run(&["--config", "/nonexistent/voltvend.toml", "migrate"], ""), "not found");
    assert_one_line_error(&run(&["--database-url", "mysql://db/x", "migrate"], ""), "sqlite:// or postgres://");
}

#[test]
fn unreachable_database_is_one_clear_line() {
    let mut cmd = crate::support::voltvend();
    cmd.env("VOLTVEND__DATABASE__CONNECT_TIMEOUT_MS", "500");
    let o = cmd.args(["--database-url", "postgres://voltvend:secret@127.0.0.1:9/none", "migrate"]).output().unwrap();
    assert_one_line_error(&o, "database unavailable");
    assert!(!crate::support::stderr(&o).contains("secret"), "passwords are never printed");

    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let url = format!("sqlite://{}/sub/v.sqlite", blocker.display());
    assert_one_line_error(&run(&["--database-url", &url, "migrate"], ""), "database unavailable");
}

#[test]
fn printed_default_config_is_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["config", "print-default"], "");
    assert!(o.status.success());
    let file = dir.path().join("voltvend.toml");
    std::fs::write(&file, stdout(&o)).unwrap();
    let shown = run(&["--config", file.to_str().unwrap(), "--database-url", "sqlite://x.sqlite", "config", "show"], "");
    assert!(shown.status.success(), "{shown:?}");
    assert!(stdout(&shown).contains("url = \"sqlite://x.sqlite\""), "flags override the file");
}

#[tokio::test]
async fn first_administrator_gets_an_argon2id_hash() {
    let dir = tempfile::tempdir().unwrap();
    let url = migrated_sqlite(dir.path());
    let o = run(
        &[
            "--database-url",
            &url,
            "user",
            "add",
            "--username",
            "admin",
            "--password-stdin",
            "--time-zone",
            "Asia/Shanghai",
        ],
        "correct horse battery\n",
    );
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("created root group"));
    // Without a terminal or --password-stdin a password is generated and shown once.
    let o = run(&["--database-url", &url, "user", "add", "--username", "cashier1", "--role", "cashier"], "");
    let generated = stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("generated password (shown once): ").map(str::to_string))
        .unwrap();
    assert_one_line_error(
        &run(&["--database-url", &url, "user", "add", "--username", "admin", "--password-stdin"], "x\n"),
        "already exists",
    );
    assert_one_line_error(
        &run(&["--database-url", &url, "user", "add", "--username", "Bad Name", "--password-stdin"], "x\n"),
        "username",
    );
    assert_one_line_error(
        &run(&["--database-url", &url, "user", "add", "--username", "short", "--password-stdin"], "abc\n"),
        "10",
    );
    assert_one_line_error(
        &run(
            &["--database-url", &url, "user", "add", "--username", "boss", "--role", "king", "--password-stdin"],
            "correct horse battery\n",
        ),
        "role",
    );

    let store = voltvend_store::open(&OpenOptions::new(&url), clock()).await.unwrap();
    let admin = store.operator_by_username("admin").await.unwrap().unwrap();
    assert!(admin.password_hash.starts_with("$argon2id$"));
    assert!(voltvend_server::passwords::verify("correct horse battery", &admin.password_hash));
    assert!(!voltvend_server::passwords::verify("correct horse batter", &admin.password_hash));
    let cashier = store.operator_by_username("cashier1").await.unwrap().unwrap();
    assert!(voltvend_server::passwords::verify(&generated, &cashier.password_hash));
    assert_eq!(store.premises(admin.scope).await.unwrap().time_zone, "Asia/Shanghai");
    assert!(store.operator_by_username("short").await.unwrap().is_none(), "a refused command changes nothing");
    store.close().await;
}

/// Meters of a protocol, as the store lists them.
async fn meters_of(store: &dyn voltvend_store::Store, protocol: &str) -> Vec<voltvend_ops::MeterRecord> {
    let q = voltvend_store::ListQuery { scope: None, after: None, limit: voltvend_store::ListQuery::LIMIT_MAX };
    let f = voltvend_store::MeterFilter { protocol: Some(protocol.into()), ..Default::default() };
    let meters = store.list_meters(&q, &f).await.unwrap();
    assert!(meters.len() < q.limit as usize, "one page holds them all");
    meters
}

/// A meter's sales, oldest first.
async fn sales_of_meter(
    store: &dyn voltvend_store::Store,
    meter: voltvend_domain::MeterId,
) -> Vec<voltvend_ops::SaleRecord> {
    let q = voltvend_store::ListQuery { scope: None, after: None, limit: voltvend_store::ListQuery::LIMIT_MAX };
    let f = voltvend_store::SaleFilter { meter: Some(meter), ..Default::default() };
    let mut sales = store.list_sales(&q, &f).await.unwrap();
    sales.reverse();
    sales
}

/// Whether each password verifies against its hash (argon2 is slow by design: all at once).
fn all_verify(pairs: &[(String, String)]) -> bool {
    std::thread::scope(|s| {
        let checks: Vec<_> = pairs
            .iter()
            .map(|(password, hash)| s.spawn(move || voltvend_server::passwords::verify(password, hash)))
            .collect();
        checks.into_iter().all(|c| c.join().unwrap())
    })
}

/// The demo's seed, on a store whose clock it moves through three weeks: its own counts match the store's,
/// every invariant holds, the logins work, there is an operator of every role, the STS and OpenPAYGO tokens it
/// sold are accepted by the meters' side of the token engines, relays tripped, and the simulated fleet is
/// exactly the remote DL/T 645 meters.
#[tokio::test]
async fn demo_seed_is_consistent() {
    use std::sync::Arc;

    use voltvend_domain::{BuiltinRole, Clock, ManualClock};
    use voltvend_ops::secrets::openpaygo_aad;
    use voltvend_ops::{MasterKey, MasterKeys, OutboxKind};
    use voltvend_server::clock::IdGenerator;
    use voltvend_server::demo;
    use voltvend_sts::openpaygo::{OpgDecoder, OpgDevice, OpgKind};
    use voltvend_sts::{Accepted, StsMeter, VendingKey};

    let dir = tempfile::tempdir().unwrap();
    let now: jiff::Timestamp = "2026-11-23T08:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let master = MasterKey::new([7; 32]);
    let mut options = OpenOptions::new(&sqlite_url(dir.path())).creating();
    options.context = Arc::new(voltvend_ops::Context::new(MasterKeys::new(master.clone(), Vec::new())));
    let store = voltvend_store::open(&options, clock.clone()).await.unwrap();
    store.migrate().await.unwrap();
    let seeded = demo::seed(
        store.as_ref(),
        &clock,
        &IdGenerator::seeded(clock.clone(), 1),
        &IdGenerator::seeded(clock.clone(), 2),
        &master,
        now,
    )
    .await
    .unwrap();
    assert_eq!(clock.now(), now, "the history runs up to now");
    let s = seeded.summary;

    // The estate: five buildings, 240 units and four flats on IC-card meters, a customer and an account each;
    // meters by protocol.
    assert_eq!((s.buildings, s.units, s.customers, s.companies), (5, 244, 244, 66));
    let q = voltvend_store::ListQuery { scope: None, after: None, limit: 500 };
    let f = voltvend_store::PremisesFilter { level: Some("unit".into()), ..Default::default() };
    assert_eq!(store.list_premises(&q, &f).await.unwrap().len(), 244);
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.customers, counts.accounts), (244, 244));
    let ic = meters_of(store.as_ref(), "ic_card").await;
    assert_eq!((ic.len(), s.ic_card_meters), (4, 4));
    assert!(ic.iter().all(|m| m.meter.account_id.is_some()), "on open accounts, waiting for their cards");
    assert_eq!(store.card_keys().await.unwrap().len(), 1, "a card key set");
    let remote = meters_of(store.as_ref(), "dlt645").await;
    let sts = meters_of(store.as_ref(), "sts_keypad").await;
    let water = meters_of(store.as_ref(), "mqtt").await;
    let opg = meters_of(store.as_ref(), "openpaygo").await;
    assert_eq!((remote.len(), sts.len(), water.len(), opg.len()), (198, 42, 66, 6));
    assert_eq!(
        (s.dlt645_meters, s.sts_meters, s.water_meters, s.openpaygo_devices),
        (remote.len(), sts.len(), water.len(), opg.len())
    );
    assert_eq!(counts.meters, 198 + 42 + 66 + 6 + 4 + 2, "and Block A's incomer and common-area meter");
    assert!(water.iter().all(|m| m.meter.utility == voltvend_domain::Utility::Water));
    let mut addresses: Vec<&str> = remote.iter().map(|m| m.meter.address.as_str()).collect();
    addresses.sort_unstable();
    let expected: Vec<String> = (1..=198).map(|n| format!("{n:012}")).collect();
    assert_eq!(addresses, expected, "the remote meters are 000000000001…");
    // The simulated fleet is exactly those meters, at now.
    assert_eq!((seeded.fleet.len(), seeded.fleet.now()), (remote.len(), now));

    // Three weeks of business.
    assert_eq!(s.days, 22);
    assert_eq!(counts.sales as usize, s.sales);
    assert!(s.sales > 240 + 100, "openings' first sales and weeks of top-ups: {s:?}");
    let mut readings = 0;
    for m in remote.iter().chain(&water) {
        readings += store.readings(m.meter.id, 100).await.unwrap().len();
    }
    assert_eq!((readings, s.readings), ((198 + 66) * 22, (198 + 66) * 22), "commissioning and 21 midnights");
    // The last seeded reading of every remote meter is in the meter's DL/T 645 resolution (whole 10 Wh) and not
    // above what it shows now, register by register: the head end's first live read carries on from it (a
    // register below the seeded one would be flagged).
    for m in &remote {
        let address = voltvend_dlt645::Address::from_meter_no(&m.meter.address).unwrap();
        let sim = seeded.fleet.meter(&address).unwrap();
        let last = store.readings(m.meter.id, 100).await.unwrap().into_iter().max_by_key(|r| r.reading.at).unwrap();
        let voltvend_domain::tariff::pricing::Registers::PerPeriod(regs) = &last.reading.registers else {
            panic!("{last:?}")
        };
        let shown = |i| sim.shown_wh(i);
        for (period, v) in regs {
            let now = match (period.as_str(), regs.len()) {
                ("peak", 2) => shown(1) + shown(2) + shown(3),
                ("sharp", _) => shown(1),
                ("peak", _) => shown(2),
                ("flat", _) => shown(3),
                _ => shown(4),
            };
            assert!(*v <= now && v % 10 == 0, "{} {period}: seeded {v}, shown now {now}", m.meter.address);
        }
    }
    let outbox = store.outbox(0, 10_000).await.unwrap();
    let trips = outbox.iter().filter(|(_, o)| o.kind == OutboxKind::RelayTrip).count();
    let closes = outbox.iter().filter(|(_, o)| o.kind == OutboxKind::RelayClose).count();
    assert_eq!((trips, closes), (s.relay_trips, s.relay_closes));
    assert!(trips >= 10 && closes >= 5 && trips > closes, "relays trip, most close again: {s:?}");
    let refused = store.list_refused_payments(&q, &Default::default()).await.unwrap();
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|r| r.refunded_by.is_some() && r.reason_code == "hoarding_limit"), "{refused:?}");
    assert_eq!((s.refused_payments, s.refunds, s.reversals, s.management_tokens), (2, 2, 1, 2));
    assert!(s.settlements >= 2 && s.shifts >= 22 * 4, "{s:?}");
    // The sales ledger of the whole history reconciles with the ledger's vend transfers to the minor unit (the
    // reconciliation report's two sides), the re-allocated sale and its replacement included.
    let all = voltvend_store::SaleFilter { from_us: Some(0), to_us: Some(i64::MAX), ..Default::default() };
    let by_method = store.sales_summary(None, &all, voltvend_store::SalesGrouping::Method).await.unwrap();
    let ledger = store.vend_totals(0, i64::MAX).await.unwrap();
    let (sold, paid) = by_method.iter().fold((0, 0), |(n, m), g| (n + g.sales, m + g.paid_minor));
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!((sold, paid), (ledger[0].transfers, ledger[0].amount_minor), "{by_method:?}");
    assert_eq!(sold as usize, s.sales);
    let standing = voltvend_store::SaleFilter { reversed: Some(false), ..all.clone() };
    let standing = store.sales_summary(None, &standing, voltvend_store::SalesGrouping::Method).await.unwrap();
    assert_eq!(standing.iter().map(|g| g.sales).sum::<i64>(), sold - 1, "the one reversed sale is left out");

    // 公摊: Block A's incomer and common-area meter, measured every midnight, and its rule over Block A's 72
    // units. On the 23rd of November the history (from the 2nd) covers none of October: nothing was posted,
    // and November is not over.
    assert_eq!((s.common_area_meters, s.common_area_readings, s.apportioned_months), (2, 2 * 22, 0));
    let rules = store.list_apportionment_rules(&q).await.unwrap();
    assert_eq!((rules.len(), rules[0].units.len()), (1, 72));
    for m in [rules[0].parent_meter.unwrap(), rules[0].common_meters[0]] {
        let rows = store.readings(m, 100).await.unwrap();
        assert_eq!(rows.len(), 22, "commissioned with the units' meters, then every midnight");
        assert!(rows.iter().all(|r| r.status == voltvend_ops::ReadingStatus::Measured), "{rows:?}");
    }
    let op = voltvend_ops::Operation::new(
        voltvend_domain::OperationId::from_uuid(uuid::Uuid::from_u128(0xD3D0)),
        voltvend_ops::Actor::system("test"),
        voltvend_ops::Command::ApportionPeriod(voltvend_ops::ApportionPeriod { rule_id: rules[0].id, period: 202_611 }),
    );
    let refused = store.dry_run(op).await.unwrap().err().unwrap();
    assert_eq!(refused.code(), "period_not_over");
    // What the incomer measured beyond Block A's meters over the history: the common areas and 3.5 % lost, so
    // a positive line loss.
    let used = |m| {
        let store = store.clone();
        async move {
            let rows = store.readings(m, 100).await.unwrap();
            rows.iter().map(|r| r.consumption_milli).sum::<i64>()
        }
    };
    let (parent, common) = (used(rules[0].parent_meter.unwrap()).await, used(rules[0].common_meters[0]).await);
    let units: Vec<voltvend_domain::PremisesId> = rules[0].units.iter().map(|u| u.premises_id).collect();
    let mut metered = 0;
    for m in remote.iter().filter(|m| m.meter.premises_id.is_some_and(|p| units.contains(&p))) {
        metered += used(m.meter.id).await;
    }
    let loss = parent - metered - common;
    assert!(common >= 21 * 30_000 && metered > 0, "{parent} {metered} {common}");
    // 3.5 % of what the units and common areas used, to within the incomer's rounding of each day.
    assert!((loss - (metered + common) * 35 / 1_000).abs() <= 22, "loss {loss} of {parent}");

    // 房租物业费: Block A's property fee of 2.80 a m², October and November issued to its 72 units (each charge
    // 2.80 × the unit's floor area, halves up); two in three of October's paid at Block A's counter, each in
    // full; the receivable is what the charges owe and the counter's receipts (sales and fees) have no gaps.
    assert_eq!(s.fee_schedules, 1);
    let mut schedules = store.list_fee_schedules(&q).await.unwrap();
    assert_eq!(schedules.len(), 2, "the property fee and the shops' billing cycle");
    let at = schedules.iter().position(|f| f.basis == voltvend_domain::fees::FeeBasis::Postpaid).unwrap();
    let cycle = schedules.remove(at);
    let runs = store.fee_runs(schedules[0].id).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.period).collect::<Vec<_>>(), vec![202_611, 202_610]);
    assert!(runs.iter().all(|r| r.charged + r.vacant == 72 && r.charged > 60), "{runs:?}");
    let october = store.fee_charges_of_period(schedules[0].id, 202_610).await.unwrap();
    for c in &october {
        let area = store.floor_area(c.premises_id).await.unwrap().unwrap();
        assert_eq!(c.amount_minor, (280 * area + 50) / 100, "{c:?}");
    }
    let paid: Vec<_> = october.iter().filter(|c| c.paid_minor > 0).collect();
    assert!(paid.iter().all(|c| c.paid_minor == c.amount_minor));
    assert_eq!(paid.len(), s.fee_payments);
    assert_eq!(s.fee_payments, (0..october.len()).filter(|n| n % 3 != 2).count());
    // 后付费账单: Block A's shops on monthly bills from the history's first day (November 2nd), so October's bill
    // was issued then: the 20.00 standing charge less the credit each held.
    assert!(s.postpaid_accounts > 0);
    assert_eq!((cycle.rate_minor, cycle.due_day, cycle.late_fee_bp), (2_000, 15, 500));
    let runs = store.fee_runs(cycle.id).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.period).collect::<Vec<_>>(), vec![202_610]);
    assert_eq!(usize::try_from(runs[0].charged).unwrap(), s.postpaid_accounts);
    assert_eq!(runs[0].due_on, jiff::civil::date(2026, 11, 15));
    let bills = store.fee_charges_of_period(cycle.id, 202_610).await.unwrap();
    assert_eq!(bills.len(), s.postpaid_accounts);
    for b in &bills {
        assert_eq!(b.usage_minor, 0, "nothing used as postpaid before the switch: {b:?}");
        assert_eq!(b.amount_minor, 2_000 - b.credit_minor + b.late_fee_minor, "{b:?}");
    }
    // Every shop held more credit than the standing charge when it switched: October's bills are 0.00, the
    // credit applied (paying and dunning are tested in the API and model tests).
    assert!(bills.iter().all(|b| b.credit_minor == 2_000 && b.amount_minor == 0), "{bills:?}");
    assert_eq!((s.bills_paid, s.bills_dunned), (0, 0));
    // Since then the shops bought nothing: those whose credit ran out owe their use, not billed until December
    // 1st, with their supply on.
    let mut owe = 0;
    for b in &bills {
        let account = store.account(b.account_id).await.unwrap();
        assert_eq!(account.account.billing_mode, voltvend_domain::BillingMode::Postpaid);
        let (_, arrears) = store.ledger_account(account.arrears).await.unwrap();
        owe += usize::from(arrears.normal(voltvend_domain::Side::Debit) > 0);
        let filter = voltvend_store::MeterFilter { account: Some(b.account_id), ..Default::default() };
        let meters = store.list_meters(&voltvend_store::ListQuery { limit: 10, ..Default::default() }, &filter).await;
        let meters = meters.unwrap();
        assert!(!meters.is_empty());
        assert!(meters.iter().all(|m| m.relay != voltvend_ops::Relay::Open), "never cut for credit: {meters:?}");
    }
    assert!(owe > 0, "some shop used its credit up and owes");
    let report = store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);

    // 分类分项: every electricity meter is tagged, so the energy analysis has no untagged electricity.
    let by_category = store
        .consumption_summary(None, None, 0, i64::MAX, voltvend_store::ConsumptionGrouping::Category)
        .await
        .unwrap();
    let electricity: Vec<&str> =
        by_category.iter().filter(|g| g.utility == "electricity").map(|g| g.key.as_str()).collect();
    assert_eq!(electricity, vec!["lighting_sockets", "power"], "{by_category:?}");

    // 集团统一收费: three office tenants paid 300.00, 400.00 and 500.00 in cash at the group's head office, in
    // the group's own books: the park is owed 1 200.00 by the group (due from), the group owes it (due to), and
    // both sets of books balance on their own (`check`, below).
    assert_eq!(s.head_office_sales, 3);
    let level = |l: &str| voltvend_store::PremisesFilter { level: Some(l.into()), ..Default::default() };
    let group = store.list_premises(&q, &level("group")).await.unwrap().remove(0);
    let park = store.list_premises(&q, &level("property")).await.unwrap().remove(0);
    let cny = voltvend_domain::Currency::CNY;
    let park_books = store.books_of(park.id, cny).await.unwrap().unwrap();
    let group_books = store.books_of(group.id, cny).await.unwrap().unwrap();
    let (_, park_due) = store.ledger_account(park_books.inter_property()).await.unwrap();
    let (_, group_due) = store.ledger_account(group_books.inter_property()).await.unwrap();
    assert_eq!(
        (park_due.normal(voltvend_domain::Side::Debit), group_due.normal(voltvend_domain::Side::Debit)),
        (120_000, -120_000)
    );
    let report = store.check(voltvend_store::CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.audit_records, counts.audit_records);

    // Every login works; there is an operator of every built-in role.
    let mut pairs = Vec::new();
    let mut roles = Vec::new();
    for login in &seeded.logins {
        let op = store.operator_by_username(&login.username).await.unwrap().unwrap();
        assert_eq!(op.role, login.role.as_str());
        roles.push(login.role);
        pairs.push((login.password.clone(), op.password_hash));
    }
    assert!(all_verify(&pairs));
    assert!(BuiltinRole::ALL.iter().all(|r| roles.contains(r)), "{roles:?}");
    assert_eq!(
        roles.iter().filter(|r| **r == BuiltinRole::Cashier).count(),
        5,
        "two counters, the centre, the agent, the group's head office"
    );

    // STS tokens are accepted by the meters they were sold for, with the decoder key derived from the demo
    // vending key and each meter's key record; so are the engineer's management tokens.
    assert_eq!(seeded.vending_key.sgc, demo::DEMO_SUPPLY_GROUP);
    let vending_key = VendingKey::from_hex(&seeded.vending_key.hex).unwrap();
    let (mut sts_sales, mut by_quantity) = (0, 0);
    for m in &sts {
        let record = store.sts_state(m.meter.id).await.unwrap().unwrap().record;
        let key = vending_key.derive(&record.pan, &record.params).unwrap();
        let mut meter = StsMeter::new(key, record.params.clone(), 64);
        for sale in sales_of_meter(store.as_ref(), m.meter.id).await {
            let [token] = &sale.tokens[..] else { panic!("one token per sale: {sale:?}") };
            match meter.enter(token) {
                Ok(Accepted::Credit { tenths, .. }) => assert_eq!(tenths as i64 * 100, sale.quantity_milli),
                other => panic!("{token}: {other:?}"),
            }
            sts_sales += 1;
            by_quantity += usize::from(sale.paid_minor % 100 != 0);
        }
        for issued in store.meter_tokens(m.meter.id, None, 10).await.unwrap().into_iter().map(|(_, t)| t) {
            for token in &issued.tokens {
                assert!(matches!(meter.enter(token), Ok(Accepted::Register { .. })), "{issued:?}");
            }
        }
    }
    assert!(sts_sales >= 42 * 2, "an opening sale and later ones: {sts_sales}");
    assert!(by_quantity > 0, "some STS customers buy kWh, not money's worth");

    // OpenPAYGO tokens open the devices they were sold for.
    let keys = MasterKeys::new(master, Vec::new());
    for m in &opg {
        let state = store.opg_state(m.meter.id).await.unwrap().unwrap();
        let secret = keys.open_text(&openpaygo_aad(m.meter.id), &state.secret_sealed).unwrap();
        let device = OpgDevice::from_hex(&secret, Some(state.starting_code)).unwrap();
        let mut decoder = OpgDecoder::new(device, 0, state.restricted);
        let sales = sales_of_meter(store.as_ref(), m.meter.id).await;
        assert!(sales.len() >= 2, "weeks of e-bike battery rental: {sales:?}");
        for sale in sales {
            let accepted = decoder.enter(&sale.tokens[0]).unwrap();
            assert_eq!(accepted.kind, OpgKind::AddTime(u32::try_from(sale.quantity_milli / 1_000).unwrap()));
        }
        assert_eq!(decoder.last_count(), state.last_count);
    }
    store.close().await;
}

/// Only `migrate`, `serve` and `demo` may create a database: every other command refuses a missing one, and
/// a backup of a database that is not there, or holds no Voltvend schema, fails instead of writing an empty
/// "backup".
#[test]
fn commands_refuse_a_database_that_is_not_there() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("mistyped.sqlite");
    let url = format!("sqlite://{}", missing.display());
    let backups = dir.path().join("backups");
    let to = backups.to_str().unwrap();
    for args in [
        vec!["backup", "--to", to],
        vec!["check"],
        vec!["audit", "verify"],
        vec!["tariff", "list"],
        vec!["bench", "ledger", "--operations", "1"],
        vec!["user", "add", "--username", "admin", "--password-stdin"],
    ] {
        let mut full = vec!["--database-url", url.as_str()];
        full.extend(args.iter().copied());
        assert_one_line_error(&run(&full, "correct horse battery\n"), "no database at");
        assert!(!missing.exists(), "{args:?} created the database");
        assert!(!backups.exists(), "{args:?} wrote a backup");
    }
    // An existing file that is not a Voltvend database is not backed up either.
    std::fs::write(&missing, b"").unwrap();
    assert_one_line_error(&run(&["--database-url", &url, "backup", "--to", to], ""), "holds no Voltvend database");
    assert!(!backups.exists() || std::fs::read_dir(&backups).unwrap().next().is_none());
}

#[tokio::test]
async fn check_and_audit_verify_find_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let url = migrated_sqlite(dir.path());
    let o =
        run(&["--database-url", &url, "bench", "ops", "--operations", "200", "--baseline", "0", "--accounts", "8"], "");
    assert!(o.status.success(), "{o:?}");
    let ok = run(&["--database-url", &url, "check"], "");
    assert!(ok.status.success() && stdout(&ok).contains("every invariant holds"), "{ok:?}");
    let verified = run(&["--database-url", &url, "audit", "verify"], "");
    assert!(verified.status.success(), "{verified:?}");
    let head = stdout(&verified).rsplit_once("head ").unwrap().1.trim().to_string();

    // An intruder with the database file rewrites a sale's audit record and the chain after it.
    let db = dir.path().join("voltvend.sqlite");
    let sql = |statement: &str| {
        let o = std::process::Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()",
            ])
            .arg(&db)
            .arg(statement)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let seq: i64 = head.split(':').next().unwrap().parse().unwrap();

    // Records cut off the end with the head rewritten to match: the chain is consistent again, and only a
    // head recorded outside the database (the server's log, an earlier `audit verify`) shows the loss.
    sql(&format!(
        "DROP TRIGGER audit_append_only_d; DELETE FROM audit_log WHERE seq > {cut}; \
         UPDATE audit_head SET seq = {cut}, hash = (SELECT hash FROM audit_log WHERE seq = {cut});",
        cut = seq - 5
    ));
    assert!(run(&["--database-url", &url, "audit", "verify"], "").status.success(), "a consistent forgery");
    let expect = run(&["--database-url", &url, "audit", "verify", "--expect-head", &head], "");
    assert!(!expect.status.success());
    assert!(
        stdout(&expect).contains(&format!("audit record {seq}, recorded earlier, is no longer in the chain")),
        "{expect:?}"
    );

    // An edited record breaks the chain: `audit verify`, `check` and the server's start-up check all see it.
    sql("DROP TRIGGER audit_append_only_u; UPDATE audit_log SET after_text = 'paid=1' WHERE seq = 100;");
    let broken = run(&["--database-url", &url, "audit", "verify"], "");
    assert!(!broken.status.success());
    assert!(stdout(&broken).contains("problem: audit record 100 was altered"), "{broken:?}");
    let check = run(&["--database-url", &url, "check"], "");
    assert!(!check.status.success() && stdout(&check).lines().any(|l| l.starts_with("problem: ")), "{check:?}");
    let serve = run(&["--database-url", &url, "serve", "--listen", "127.0.0.1:0"], "");
    assert_one_line_error(&serve, "start-up check");

    // A cached balance edited behind the ledger's back.
    sql("UPDATE ledger_accounts SET credits_posted_minor = credits_posted_minor + 1 WHERE kind = 'customer_wallet';");
    let check = stdout(&run(&["--database-url", &url, "check"], ""));
    assert!(check.contains("caches"), "{check}");
}

#[test]
fn bench_refuses_a_database_that_is_not_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let url = migrated_sqlite(dir.path());
    let o = run(
        &["--database-url", &url, "user", "add", "--username", "admin", "--password-stdin"],
        "correct horse battery\n",
    );
    assert!(o.status.success(), "{o:?}");
    assert_one_line_error(
        &run(&["--database-url", &url, "bench", "ledger", "--operations", "10"], ""),
        "not a benchmark's",
    );
    let listed = run(&["--database-url", &url, "check"], "");
    assert!(stdout(&listed).contains("0 transfers"), "nothing was written: {listed:?}");
    // Writing commands take the instance lock: not while a server runs on the database.
    let server = Server::start(&url);
    let tariff = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tariffs/cn-zhejiang-residential.toml");
    assert_one_line_error(
        &run(&["--database-url", &url, "tariff", "import", tariff.to_str().unwrap()], ""),
        "in use by a running Voltvend server",
    );
    assert_one_line_error(
        &run(
            &["--database-url", &url, "user", "add", "--username", "other", "--password-stdin"],
            "correct horse battery\n",
        ),
        "in use by a running Voltvend server",
    );
    assert!(server.stop().success());
}

/// The master key the demo tests give the demo (64 hex digits).
const DEMO_MASTER_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// `voltvend` with the demo tests' master key, or with none.
fn demo_command(master_key: Option<&str>) -> std::process::Command {
    let mut cmd = crate::support::voltvend();
    cmd.env_remove("VOLTVEND_MASTER_KEY").env_remove("VOLTVEND__KEYS__MASTER_KEY_FILE");
    if let Some(key) = master_key {
        cmd.env("VOLTVEND_MASTER_KEY", key);
    }
    cmd
}

type Lines = std::io::Lines<std::io::BufReader<std::process::ChildStdout>>;

/// Starts a demo and reads what it prints until it says how to stop it: the child, what it printed, and the rest
/// of its output to read.
fn demo_until_ready(mut command: std::process::Command) -> (std::process::Child, String, Lines) {
    use std::io::{BufRead, BufReader};
    let mut child =
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::inherit()).spawn().unwrap();
    let mut printed = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("Stop with Ctrl-C") {
            break;
        }
    }
    (child, printed, lines)
}

/// Runs `demo` until it says how to stop it, then stops it with SIGTERM; returns what it printed.
fn demo_once(url: &str) -> String {
    let mut command = demo_command(Some(DEMO_MASTER_KEY));
    command.args(["--database-url", url, "demo", "--listen", "127.0.0.1:0"]);
    let (mut child, mut printed, lines) = demo_until_ready(command);
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    // Read to the end: the demo still prints as it stops.
    printed.extend(lines.map_while(Result::ok).map(|l| l + "\n"));
    assert!(child.wait().unwrap().success(), "{printed}");
    printed
}

/// The number of simulated meters the demo printed.
fn simulated_meters(printed: &str) -> usize {
    let line = printed.lines().find(|l| l.contains("Simulated meters:")).unwrap();
    line.split_once('(').unwrap().1.split_whitespace().next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn demo_honours_the_database_url() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    // On a database it is given, the demo needs a master key: it says how to give one, and touches nothing.
    let o = demo_command(None).args(["--database-url", &url, "demo", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert_one_line_error(&o, "VOLTVEND_MASTER_KEY");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "no database was made");

    let first = demo_once(&url);
    assert!(first.contains(&format!("Database: {url}")), "{first}");
    assert!(first.contains("/api/v1/openapi.json") && first.contains("supply group 990001"), "{first}");
    let store = voltvend_store::open(&OpenOptions::new(&url), clock()).await.unwrap();
    // Every printed login works, and there is one of every role.
    let mut pairs = Vec::new();
    let mut roles = Vec::new();
    for line in first.lines().filter_map(|l| l.trim().strip_prefix("Log in as ")) {
        let (username, rest) = line.split_once(" / ").unwrap();
        let (password, role) = rest.split_once("  (").unwrap();
        let op = store.operator_by_username(username).await.unwrap().unwrap();
        assert!(role.starts_with(&format!("{}, ", op.role)), "{line}");
        roles.push(op.role.clone());
        pairs.push((password.to_string(), op.password_hash));
    }
    assert!(all_verify(&pairs));
    assert!(voltvend_domain::BuiltinRole::ALL.iter().all(|r| roles.iter().any(|x| x == r.as_str())), "{first}");
    assert!(roles.iter().any(|r| r == "administrator") && first.contains("Log in as admin / "), "{first}");
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.customers, 244, "the demo's data is in the database it was given");
    assert!(counts.sales > 240);
    // The simulated fleet is the seeded remote DL/T 645 meters.
    let remote = meters_of(store.as_ref(), "dlt645").await;
    assert_eq!(simulated_meters(&first), remote.len());
    store.close().await;
    // Run again on it: served as it is, not seeded twice, with as many simulated meters.
    let second = demo_once(&url);
    assert!(second.contains("seeded earlier"), "{second}");
    assert_eq!(simulated_meters(&second), remote.len());
    let store = voltvend_store::open(&OpenOptions::new(&url), clock()).await.unwrap();
    let again = store.counts().await.unwrap();
    // Nothing was seeded twice. The running demo did work of its own: it re-pointed every remote meter at this
    // run's simulated gateway (one audited change each) and its head end may have billed a poll already.
    let seeded = |c: &voltvend_store::Counts| (c.premises, c.customers, c.accounts, c.meters, c.operators, c.sales);
    assert_eq!(seeded(&again), seeded(&counts));
    assert!(again.audit_records >= counts.audit_records + remote.len() as i64, "{again:?} after {counts:?}");
    assert!(again.transfers >= counts.transfers);
    store.close().await;
    // A database with other data is refused.
    let other = tempfile::tempdir().unwrap();
    let other_url = migrated_sqlite(other.path());
    let o = run(
        &["--database-url", &other_url, "user", "add", "--username", "admin", "--password-stdin"],
        "correct horse battery\n",
    );
    assert!(o.status.success());
    let o = demo_command(Some(DEMO_MASTER_KEY))
        .args(["--database-url", &other_url, "demo", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_one_line_error(&o, "already holds data");
}

/// Issue 10: the demo's temporary database is removed on a clean stop, unless `--keep` asks to keep it
/// (its folder is printed); `--keep` with a database of one's own is refused, as that one is always kept.
#[test]
fn demo_removes_its_temporary_database_unless_kept() {
    for keep in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let mut args = vec!["demo", "--listen", "127.0.0.1:0"];
        if keep {
            args.push("--keep");
        }
        let mut command = demo_command(None);
        command.env("TMPDIR", tmp.path()).args(&args);
        let (mut child, printed, lines) = demo_until_ready(command);
        let demo_dirs =
            || std::fs::read_dir(tmp.path()).unwrap().filter_map(Result::ok).map(|e| e.path()).collect::<Vec<_>>();
        assert_eq!(demo_dirs().len(), 1, "the demo made its folder in TMPDIR: {printed}");
        assert!(
            printed.contains(if keep { "(kept when the demo stops)" } else { "(removed when the demo stops)" }),
            "{printed}"
        );
        assert!(
            std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success()
        );
        let _ = lines.count();
        assert!(child.wait().unwrap().success());
        let left = demo_dirs();
        if keep {
            assert!(left.len() == 1 && left[0].join("voltvend.sqlite").is_file(), "{left:?}");
        } else {
            assert!(left.is_empty(), "the temporary database was left behind: {left:?}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let o = demo_command(Some(DEMO_MASTER_KEY)).args(["--database-url", &url, "demo", "--keep"]).output().unwrap();
    assert_one_line_error(&o, "--keep");
}

/// 集团财务 (ADR 0007, docs/operators/upgrade.md): a database whose properties' books are out of balance — here by
/// a transfer between two inter-property accounts alone, which is posted as it is, as a transfer between
/// properties from before migration 0022 left them — is warned of by `check` (which still passes: backups and
/// restores do not fail for it), and `check --settle-properties` records the differences as owed, after which
/// every property's books balance.
#[tokio::test]
async fn check_warns_of_properties_out_of_balance_and_settles_them() {
    use voltvend_domain::{Currency, LedgerAccountId, Money, TransferId, TransferKind, TransferRequest};
    use voltvend_ops::Command;
    let dir = tempfile::tempdir().unwrap();
    let url = migrated_sqlite(dir.path());
    let mut options = OpenOptions::new(&url);
    options.context = std::sync::Arc::new(voltvend_testkit::estate::Estate::context());
    let store = voltvend_store::open(&options, clock()).await.unwrap();
    let mut estate = voltvend_testkit::estate::Estate::new(9);
    for op in estate.setup.clone() {
        store.submit(op).await.unwrap();
    }
    let (hillside, books, make) = estate.property_with_books(0x9B00_0001, "Hillside");
    for c in make {
        store.submit(estate.system(c)).await.unwrap();
    }
    let moved = TransferRequest::simple(
        TransferId::from_uuid(uuid::Uuid::from_u128(0x9B00_0003)),
        TransferKind::Adjustment,
        LedgerAccountId::from_uuid(books.as_uuid()),
        LedgerAccountId::from_uuid(estate.books.as_uuid()),
        Money::from_minor(1_234, Currency::CNY),
        "out of balance",
    );
    store.submit(estate.system(Command::PostTransfer(moved))).await.unwrap();
    store.close().await;

    let checked = run(&["--database-url", &url, "check"], "");
    let out = stdout(&checked);
    assert!(checked.status.success(), "{checked:?}");
    let warnings: Vec<&str> = out.lines().filter(|l| l.starts_with("warning: the books of")).collect();
    assert_eq!(warnings.len(), 2, "{out}");
    assert!(
        warnings.iter().any(|w| w.contains(&hillside.id.to_string()) && w.contains("debits 1234, credits 0"))
            && warnings
                .iter()
                .any(|w| w.contains(&estate.property.id.to_string()) && w.contains("debits 0, credits 1234")),
        "{out}"
    );
    let settled = run(&["--database-url", &url, "check", "--settle-properties"], "");
    assert!(settled.status.success(), "{settled:?}");
    let out = stdout(&settled);
    assert!(
        out.contains("recorded the differences between properties' books in CNY") && !out.contains("warning:"),
        "{out}"
    );
    let again = stdout(&run(&["--database-url", &url, "check", "--settle-properties"], ""));
    assert!(
        !again.contains("recorded") && !again.contains("warning:") && again.contains("every invariant holds"),
        "{again}"
    );
}
