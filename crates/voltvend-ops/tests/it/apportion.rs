//! 公摊: a site's parent and common-area meters measured, a month's line loss and pool shared among its units
//! exactly, charged once, and refused — changing nothing — until the month can no longer change.

use jiff::Timestamp;
use voltvend_domain::apportion::{Basis, Pool};
use voltvend_domain::tariff::pricing::{Reading, Registers};
use voltvend_domain::{
    ApportionmentRuleId, ControlMode, CtVtRatio, Currency, Meter, MeterId, MeterProtocol, Premises, PremisesLevel,
    UnitPrice, Utility,
};
use voltvend_ops::memory::MemoryDb;
use voltvend_ops::{
    Actor, Applied, ApplyReadings, ApportionPeriod, ApportionedUnit, ApportionmentRun, Command, Context,
    CreateApportionmentRule, InstallMeter, OpError, Operation, Outcome, ReadingLimits, ReadingStatus,
};
use voltvend_testkit::estate::Estate;

/// December 2nd: November (Asia/Shanghai) is over.
fn at() -> Timestamp {
    "2026-12-02T08:00:00Z".parse().unwrap()
}

fn code(r: Result<Applied, OpError>) -> &'static str {
    r.err().map_or("ok", |e| e.code())
}

struct Site {
    estate: Estate,
    db: MemoryDb,
    ctx: Context,
    parent: MeterId,
    common: MeterId,
    vacant: Premises,
    rule: ApportionmentRuleId,
}

fn admin(e: &Estate) -> Actor {
    Actor::operator(e.admin, e.group.id, "10.0.0.9")
}

fn run(s: &mut Site, actor: Actor, command: Command) -> Result<Applied, OpError> {
    let op = Operation::new(s.estate.next_op(), actor, command);
    s.db.run(&op, None, &s.ctx, at())
}

fn readings(s: &mut Site, meter: MeterId, points: &[(&str, i64)]) -> Applied {
    let readings =
        points.iter().map(|(t, wh)| Reading { at: t.parse().unwrap(), registers: Registers::Total(*wh) }).collect();
    let command = Command::ApplyReadings(ApplyReadings {
        meter_id: meter,
        readings,
        report: None,
        limits: ReadingLimits::default(),
        demand: None,
    });
    run(s, Actor::system("headend"), command).unwrap()
}

/// The test estate's property as the site: a parent meter at the property, a lighting meter in Block A, and a
/// third, vacant unit; a rule sharing the common areas and the line loss by floor area at 0.60 a kWh.
fn site(pool: Pool, basis: Basis) -> Site {
    let estate = Estate::new(1);
    let mut db = MemoryDb::new();
    let ctx = Estate::context();
    for op in &estate.setup {
        db.run(op, None, &ctx, at()).unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let mut s = Site {
        vacant: Premises::new_root(estate.group.id, "x", "Asia/Shanghai").unwrap(),
        estate,
        db,
        ctx,
        parent: MeterId::from_uuid(uuid::Uuid::from_u128(0xAB01)),
        common: MeterId::from_uuid(uuid::Uuid::from_u128(0xAB02)),
        rule: ApportionmentRuleId::from_uuid(uuid::Uuid::from_u128(0xAB03)),
    };
    let vacant = s
        .estate
        .building_a
        .new_child(voltvend_domain::PremisesId::from_uuid(uuid::Uuid::from_u128(0xAB04)), PremisesLevel::Unit, "A-102")
        .unwrap();
    s.vacant = vacant.clone();
    run(&mut s, Actor::system("test"), Command::CreatePremises(vacant)).unwrap();
    let (property, building_a) = (s.estate.property.id, s.estate.building_a.id);
    for (id, serial, address, place) in
        [(s.parent, "INCOMER-1", "000000000901", property), (s.common, "LIGHTS-A", "000000000902", building_a)]
    {
        let mut m = Meter::receive(
            id,
            serial,
            Utility::Electricity,
            ControlMode::Remote,
            MeterProtocol::Dlt645,
            address,
            CtVtRatio::DIRECT,
        )
        .unwrap();
        m.premises_id = Some(property);
        run(&mut s, Actor::system("test"), Command::ReceiveMeter(m)).unwrap();
        let install = Command::InstallMeter(InstallMeter { meter_id: id, premises_id: place });
        let who = admin(&s.estate);
        run(&mut s, who, install).unwrap();
    }
    let rule = rule_command(&s, pool, basis);
    let who = admin(&s.estate);
    run(&mut s, who, Command::CreateApportionmentRule(rule)).unwrap();
    s
}

fn rule_command(s: &Site, pool: Pool, basis: Basis) -> CreateApportionmentRule {
    let unit = |p: &Premises, floor_area_dm2| ApportionedUnit { premises_id: p.id, floor_area_dm2 };
    CreateApportionmentRule {
        rule_id: s.rule,
        premises_id: s.estate.property.id,
        name: "Riverside common areas 公摊".into(),
        utility: Utility::Electricity,
        basis,
        pool,
        price: UnitPrice::parse("0.60", Currency::CNY).unwrap(),
        parent_meter: Some(s.parent),
        common_meters: vec![s.common],
        units: vec![unit(&s.estate.unit_a, 8_550), unit(&s.estate.unit_b, 6_225), unit(&s.vacant, 12_000)],
    }
}

/// November's readings: a baseline before the month, one in it, one at its end (which closes it).
fn read_november(s: &mut Site) {
    let (parent, common, unit_a) = (s.parent, s.common, s.estate.remote_meter);
    for (meter, base, mid, end) in [
        (parent, 1_000_000, 1_500_000, 1_600_000),
        (common, 0, 120_000, 130_000),
        (unit_a, 1_000_000, 1_300_000, 1_350_000),
    ] {
        readings(
            s,
            meter,
            &[("2026-10-31T15:00:00Z", base), ("2026-11-15T00:00:00Z", mid), ("2026-11-30T16:00:00Z", end)],
        );
    }
}

fn post(s: &mut Site, actor: Actor, period: i32) -> Result<Applied, OpError> {
    run(s, actor, Command::ApportionPeriod(ApportionPeriod { rule_id: s.rule, period }))
}

fn run_of(applied: Applied) -> ApportionmentRun {
    match applied {
        Applied::Committed { outcome: Outcome::Apportioned(r), .. } => r,
        other => panic!("not a run: {other:?}"),
    }
}

#[test]
fn meters_with_no_account_are_measured_and_billed_to_nobody() {
    let mut s = site(Pool::CommonAndLoss, Basis::FloorArea);
    let transfers = s.db.transfers.len();
    let meter = s.parent;
    let Applied::Committed { outcome: Outcome::Readings(o), .. } =
        readings(&mut s, meter, &[("2026-11-01T00:00:00Z", 5_000), ("2026-11-02T00:00:00Z", 7_500)])
    else {
        panic!()
    };
    assert_eq!((o.billed, o.charged_minor, o.transfer), (2, 0, None));
    let rows: Vec<_> = s.db.readings.iter().filter(|r| r.meter_id == s.parent).collect();
    assert_eq!(
        rows.iter().map(|r| (r.status, r.consumption_milli)).collect::<Vec<_>>(),
        vec![(ReadingStatus::Measured, 0), (ReadingStatus::Measured, 2_500)]
    );
    // A register that went backwards is flagged, as for a billed meter.
    let meter = s.parent;
    readings(&mut s, meter, &[("2026-11-03T00:00:00Z", 7_000)]);
    assert_eq!(s.db.readings.last().unwrap().status, ReadingStatus::Flagged);
    assert_eq!(s.db.transfers.len(), transfers, "nothing is billed");
    assert_eq!(s.db.check(), Vec::<String>::new());
}

#[test]
fn a_month_is_shared_exactly_charged_once_and_the_vacant_share_stays_with_the_site() {
    let mut s = site(Pool::CommonAndLoss, Basis::FloorArea);
    read_november(&mut s);
    let (wallet_a, arrears_a) = {
        let a = &s.db.accounts[&s.estate.account_a];
        (s.db.balance(a.wallet).unwrap(), s.db.balance(a.arrears).unwrap_or(0))
    };
    let revenue = s.db.books[&s.estate.books].energy_revenue;
    let revenue_before = s.db.balance(revenue).unwrap();
    let who = admin(&s.estate);
    let r = run_of(post(&mut s, who, 202_611).unwrap());
    // Parent 500 kWh, the unit's meter 300, the lights 120: 80 kWh lost (16 %), 200 kWh shared at 0.60.
    assert_eq!(
        (r.parent_milli, r.units_milli, r.common_milli, r.loss_milli, r.pool_milli, r.amount_minor),
        (Some(500_000), 300_000, 120_000, Some(80_000), 200_000, 12_000)
    );
    assert_eq!((r.from.to_string(), r.to.to_string()), ("2026-10-31T16:00:00Z".into(), "2026-11-30T16:00:00Z".into()));
    // 120.00 by 85.50 : 62.25 : 120.00 m² is 38.3193…, 27.8991…, 53.7815…: 38.31, 27.89, 53.78 and two cents
    // left, to the two largest fractions.
    let amounts: Vec<_> = r.shares.iter().map(|x| x.amount_minor).collect();
    assert_eq!(amounts, vec![3_832, 2_790, 5_378]);
    assert_eq!(r.shares.iter().map(|x| x.share_milli).collect::<Vec<_>>(), vec![63_865, 46_499, 89_636]);
    assert_eq!(r.shares.iter().map(|x| x.consumption_milli).collect::<Vec<_>>(), vec![300_000, 0, 0]);
    assert_eq!(
        r.shares.iter().map(|x| x.account_id).collect::<Vec<_>>(),
        vec![Some(s.estate.account_a), Some(s.estate.account_b), None]
    );
    assert_eq!(r.charged_minor(), 3_832 + 2_790);
    // Account A's share came out of its wallet and, beyond it, its arrears; the books earned what was charged.
    let a = &s.db.accounts[&s.estate.account_a];
    let taken = (wallet_a - s.db.balance(a.wallet).unwrap()) + (s.db.balance(a.arrears).unwrap_or(0) - arrears_a);
    assert_eq!(taken, 3_832);
    assert_eq!(s.db.balance(revenue).unwrap() - revenue_before, 3_832 + 2_790);
    assert!(r.shares[2].transfer_id.is_none());
    assert_eq!(s.db.check(), Vec::<String>::new());

    // Once: a second posting of the month is refused and changes nothing; the same operation again replays.
    let before = s.db.clone();
    let who = admin(&s.estate);
    assert_eq!(code(post(&mut s, who, 202_611)), "period_apportioned");
    assert_eq!(s.db, before);
    let op = Operation::new(
        s.db.apportionment_runs[&(s.rule, 202_611)].operation_id,
        admin(&s.estate),
        Command::ApportionPeriod(ApportionPeriod { rule_id: s.rule, period: 202_611 }),
    );
    assert!(s.db.run(&op, None, &s.ctx, at()).unwrap().is_replay());
    assert_eq!(s.db.transfers.len(), before.transfers.len());
}

#[test]
fn a_month_waits_until_it_is_over_read_to_its_end_and_reviewed() {
    let mut s = site(Pool::CommonAndLoss, Basis::FloorArea);
    let before = s.db.clone();
    let admin = admin(&s.estate);
    // December is not over on December 2nd; no month 13; nothing read yet.
    assert_eq!(code(post(&mut s, admin.clone(), 202_612)), "period_not_over");
    assert_eq!(code(post(&mut s, admin.clone(), 202_613)), "bad_period");
    assert_eq!(code(post(&mut s, admin.clone(), 202_611)), "period_not_read");
    assert_eq!(s.db, before);
    // The lights read only to the middle of the month: still not read to its end.
    let meter = s.common;
    readings(&mut s, meter, &[("2026-11-15T00:00:00Z", 1_000)]);
    assert_eq!(code(post(&mut s, admin.clone(), 202_611)), "period_not_read");
    read_november(&mut s);
    // A flagged reading in the month holds nothing back and loses nothing: the lights' register went backwards
    // on the 20th; the good reading of the 25th counts the whole interval since the 15th.
    let mut flagged = site(Pool::CommonAndLoss, Basis::FloorArea);
    let (parent, common, unit_a) = (flagged.parent, flagged.common, flagged.estate.remote_meter);
    for (meter, wh) in [(parent, [0, 100_000, 110_000]), (unit_a, [0, 50_000, 60_000])] {
        let points =
            [("2026-10-31T15:00:00Z", wh[0]), ("2026-11-25T00:00:00Z", wh[1]), ("2026-11-30T16:00:00Z", wh[2])];
        readings(&mut flagged, meter, &points);
    }
    readings(
        &mut flagged,
        common,
        &[
            ("2026-10-31T15:00:00Z", 50_000),
            ("2026-11-15T00:00:00Z", 60_000),
            ("2026-11-20T00:00:00Z", 10_000),
            ("2026-11-25T00:00:00Z", 75_000),
            ("2026-11-30T16:00:00Z", 80_000),
        ],
    );
    assert_eq!(flagged.db.readings.iter().filter(|r| r.status == ReadingStatus::Flagged).count(), 1);
    let admin = super::apportion::admin(&flagged.estate);
    let r = run_of(post(&mut flagged, admin, 202_611).unwrap());
    assert_eq!(
        (r.parent_milli, r.units_milli, r.common_milli, r.loss_milli, r.pool_milli),
        (Some(100_000), 50_000, 25_000, Some(25_000), 50_000)
    );
    // The month read to its end posts.
    let admin = super::apportion::admin(&s.estate);
    let r = post(&mut s, admin, 202_611);
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn a_month_closed_in_the_same_batch_counts_the_readings_that_closed_it() {
    // The loader counts what was stored before the batch; readings stored earlier in the batch count too, and
    // none twice. Stored: a baseline and the 15th; in the batch: the 20th, the month's end, and the posting.
    let mut s = site(Pool::CommonAndLoss, Basis::FloorArea);
    let remote = s.estate.remote_meter;
    let plan = [
        (s.parent, [1_000_000, 1_500_000, 1_550_000, 1_600_000]),
        (s.common, [0, 120_000, 125_000, 130_000]),
        (remote, [1_000_000, 1_300_000, 1_320_000, 1_350_000]),
    ];
    let times = ["2026-10-31T15:00:00Z", "2026-11-15T00:00:00Z", "2026-11-20T00:00:00Z", "2026-11-30T16:00:00Z"];
    for (meter, wh) in plan {
        readings(&mut s, meter, &[(times[0], wh[0]), (times[1], wh[1])]);
    }
    let mut ops = Vec::new();
    for (meter, wh) in plan {
        let readings = [(times[2], wh[2]), (times[3], wh[3])]
            .iter()
            .map(|(t, v)| Reading { at: t.parse().unwrap(), registers: Registers::Total(*v) })
            .collect();
        let command = Command::ApplyReadings(ApplyReadings {
            meter_id: meter,
            readings,
            report: None,
            limits: ReadingLimits::default(),
            demand: None,
        });
        ops.push(Operation::new(s.estate.next_op(), Actor::system("headend"), command));
    }
    ops.push(Operation::new(
        s.estate.next_op(),
        admin(&s.estate),
        Command::ApportionPeriod(ApportionPeriod { rule_id: s.rule, period: 202_611 }),
    ));
    let results = s.db.run_batch(&ops, &s.ctx, at());
    let r = run_of(results.into_iter().last().unwrap().unwrap());
    // November: the parent 550 kWh, A-101 320, the lights 125; 230 kWh shared at 0.60.
    assert_eq!(
        (r.parent_milli, r.units_milli, r.common_milli, r.pool_milli, r.amount_minor),
        (Some(550_000), 320_000, 125_000, 230_000, 13_800)
    );
}

#[test]
fn a_rule_made_and_posted_in_one_batch() {
    let mut s = site(Pool::CommonAndLoss, Basis::FloorArea);
    read_november(&mut s);
    let mut rule = rule_command(&s, Pool::Common, Basis::Equal);
    rule.rule_id = ApportionmentRuleId::from_uuid(uuid::Uuid::from_u128(0xAB10));
    let ops = [
        Operation::new(s.estate.next_op(), admin(&s.estate), Command::CreateApportionmentRule(rule.clone())),
        Operation::new(
            s.estate.next_op(),
            admin(&s.estate),
            Command::ApportionPeriod(ApportionPeriod { rule_id: rule.rule_id, period: 202_611 }),
        ),
    ];
    let results = s.db.run_batch(&ops, &s.ctx, at());
    let r = run_of(results.into_iter().last().unwrap().unwrap());
    assert_eq!((r.pool_milli, r.amount_minor), (120_000, 7_200));
}

#[test]
fn a_month_the_rule_cannot_measure_is_refused() {
    // The units above the parent: nothing to share, and posting would close the month on a fault.
    let mut s = site(Pool::CommonAndLoss, Basis::FloorArea);
    let (parent, common, unit_a) = (s.parent, s.common, s.estate.remote_meter);
    for (meter, wh) in [(parent, [0, 100_000]), (common, [0, 10_000]), (unit_a, [0, 200_000])] {
        let points = [("2026-10-31T15:00:00Z", 0), ("2026-11-20T00:00:00Z", wh[1]), ("2026-11-30T16:00:00Z", wh[1])];
        readings(&mut s, meter, &points);
    }
    let before = s.db.clone();
    let who = admin(&s.estate);
    let r = post(&mut s, who, 202_611);
    assert_eq!(code(r), "apportionment_refused");
    assert_eq!(s.db, before);
    // A common meter retired: the rule no longer measures the site.
    let mut s = site(Pool::CommonAndLoss, Basis::FloorArea);
    read_november(&mut s);
    let mut m = s.db.meters[&s.common].clone();
    m.meter.retire().unwrap();
    s.db.meters.insert(s.common, m);
    let who = admin(&s.estate);
    assert_eq!(code(post(&mut s, who, 202_611)), "apportionment_meters");
}

#[test]
fn other_bases_and_pools() {
    // The common meters alone, shared equally: 120 kWh × 0.60 = 72.00 in three, 24.00 each.
    let mut s = site(Pool::Common, Basis::Equal);
    read_november(&mut s);
    let who = admin(&s.estate);
    let r = run_of(post(&mut s, who, 202_611).unwrap());
    assert_eq!((r.pool_milli, r.amount_minor), (120_000, 7_200));
    assert_eq!(r.shares.iter().map(|x| x.amount_minor).collect::<Vec<_>>(), vec![2_400, 2_400, 2_400]);
    // By consumption: only A-101's meter measured anything, so it bears the whole pool.
    let mut s = site(Pool::CommonAndLoss, Basis::Consumption);
    read_november(&mut s);
    let who = admin(&s.estate);
    let r = run_of(post(&mut s, who, 202_611).unwrap());
    assert_eq!(r.shares.iter().map(|x| x.amount_minor).collect::<Vec<_>>(), vec![12_000, 0, 0]);
}

#[test]
fn rules_are_checked_and_scoped() {
    let mut s = site(Pool::CommonAndLoss, Basis::FloorArea);
    let admin = admin(&s.estate);
    let fresh = |s: &Site, pool, basis| {
        let mut r = rule_command(s, pool, basis);
        r.rule_id = ApportionmentRuleId::from_uuid(uuid::Uuid::from_u128(0xCC00 + s.db.audit.len() as u128));
        r
    };
    let before = s.db.clone();
    let mut cases: Vec<(CreateApportionmentRule, &str)> = Vec::new();
    let r = rule_command(&s, Pool::CommonAndLoss, Basis::FloorArea);
    cases.push((r, "already_exists"));
    let mut r = fresh(&s, Pool::CommonAndLoss, Basis::FloorArea);
    r.parent_meter = None;
    cases.push((r, "apportionment_parent"));
    let mut r = fresh(&s, Pool::Common, Basis::FloorArea);
    r.common_meters.clear();
    cases.push((r, "apportionment_common"));
    let mut r = fresh(&s, Pool::CommonAndLoss, Basis::FloorArea);
    r.units[1].floor_area_dm2 = 0;
    cases.push((r, "apportionment_area"));
    let mut r = fresh(&s, Pool::CommonAndLoss, Basis::FloorArea);
    r.units.push(r.units[0]);
    cases.push((r, "apportionment_units"));
    let mut r = fresh(&s, Pool::CommonAndLoss, Basis::FloorArea);
    r.units.clear();
    cases.push((r, "apportionment_units"));
    // A unit outside the site (the site is Block A; B-101 is in Block B).
    let mut r = fresh(&s, Pool::Common, Basis::Equal);
    r.premises_id = s.estate.building_a.id;
    r.parent_meter = None;
    cases.push((r, "apportionment_units"));
    // The unit's own (billed) meter as a common meter: it is installed in a unit of the rule.
    let mut r = fresh(&s, Pool::CommonAndLoss, Basis::FloorArea);
    r.common_meters = vec![s.estate.remote_meter];
    cases.push((r, "apportionment_meters"));
    // A keypad meter cannot be a parent: the master station does not read it.
    let mut r = fresh(&s, Pool::CommonAndLoss, Basis::FloorArea);
    r.units.remove(1);
    r.parent_meter = Some(s.estate.sts_meter);
    cases.push((r, "apportionment_meters"));
    let mut r = fresh(&s, Pool::CommonAndLoss, Basis::FloorArea);
    r.name = " ".into();
    cases.push((r, "text_empty"));
    for (rule, expected) in cases {
        let got = code(run(&mut s, admin.clone(), Command::CreateApportionmentRule(rule.clone())));
        assert_eq!(got, expected, "{rule:?}");
    }
    // A cashier of Block B sees neither the property nor its rule.
    let cashier_b = s.estate.cashier_b();
    let r = fresh(&s, Pool::CommonAndLoss, Basis::FloorArea);
    assert_eq!(code(run(&mut s, cashier_b.clone(), Command::CreateApportionmentRule(r))), "not_found");
    read_november(&mut s);
    let snapshot = s.db.clone();
    assert_eq!(code(post(&mut s, cashier_b, 202_611)), "not_found");
    assert_eq!(s.db.apportionment_runs, snapshot.apportionment_runs);
    assert_eq!(before.apportionment_rules, s.db.apportionment_rules);
}

#[test]
fn a_meter_behind_transformers_counts_its_advance_times_its_ratio() {
    use voltvend_domain::tariff::inverse::ArrearsRecovery;
    use voltvend_domain::{AccountId, Customer, CustomerId};
    use voltvend_ops::{CustomerRef, MeterBinding, OpenAccount};
    let mut s = site(Pool::CommonAndLoss, Basis::FloorArea);
    let (ct_measured, ct_billed) =
        (MeterId::from_uuid(uuid::Uuid::from_u128(0xC701)), MeterId::from_uuid(uuid::Uuid::from_u128(0xC702)));
    let property = s.estate.property.id;
    for (id, serial, address, ratio) in
        [(ct_measured, "CT-PUMPS", "000000000931", (20, 1)), (ct_billed, "CT-WORKSHOP", "000000000932", (40, 1))]
    {
        let mut m = Meter::receive(
            id,
            serial,
            Utility::Electricity,
            ControlMode::Remote,
            MeterProtocol::Dlt645,
            address,
            CtVtRatio::new(ratio.0, ratio.1).unwrap(),
        )
        .unwrap();
        m.premises_id = Some(property);
        run(&mut s, Actor::system("test"), Command::ReceiveMeter(m)).unwrap();
    }
    let install = Command::InstallMeter(InstallMeter { meter_id: ct_measured, premises_id: s.estate.building_a.id });
    let who = admin(&s.estate);
    run(&mut s, who, install).unwrap();
    // Measured: 5 kWh on the register's face is 100 kWh through a 20:1 CT.
    readings(&mut s, ct_measured, &[("2026-11-01T00:00:00Z", 1_000), ("2026-11-02T00:00:00Z", 6_000)]);
    assert_eq!(
        s.db.readings.last().map(|r| (r.consumption_milli, r.reading.registers.clone())),
        Some((100_000, Registers::Total(6_000)))
    );
    // Billed: 1 kWh on the face through a 40:1 CT is 40 kWh, 24.00 on the flat 0.60 tariff.
    let (account, customer) =
        (AccountId::from_uuid(uuid::Uuid::from_u128(0xC703)), CustomerId::from_uuid(uuid::Uuid::from_u128(0xC704)));
    let open = Command::OpenAccount(OpenAccount {
        customer: CustomerRef::New(
            Customer::new(customer, s.estate.unit_a.id, "Workshop 车间", Some("13800000001")).unwrap(),
        ),
        account_id: account,
        premises_id: s.estate.unit_a.id,
        currency: voltvend_domain::Currency::CNY,
        books_id: s.estate.books,
        overdraft_limit_minor: 0,
        recovery: ArrearsRecovery::Share(200_000),
        min_purchase_minor: 100,
        max_balance_minor: None,
        meters: vec![MeterBinding {
            meter_id: ct_billed,
            receive: None,
            tariff_code: Some("test-flat".into()),
            sts: None,
            opg: None,
            max_credit_minor: None,
        }],
        first_sale: None,
    });
    run(&mut s, Actor::system("test"), open).unwrap();
    let Applied::Committed { outcome: Outcome::Readings(o), .. } =
        readings(&mut s, ct_billed, &[("2026-11-01T00:00:00Z", 10_000), ("2026-11-02T00:00:00Z", 11_000)])
    else {
        panic!()
    };
    assert_eq!((o.billed, o.charged_minor), (2, 2_400));
    assert_eq!(s.db.readings.last().map(|r| r.consumption_milli), Some(40_000));
    // An advance that, times the ratio, is beyond what can be priced is flagged, not billed.
    let Applied::Committed { outcome: Outcome::Readings(o), .. } =
        readings(&mut s, ct_billed, &[("2026-11-02T01:00:00Z", 90_000_000_000_000_000)])
    else {
        panic!()
    };
    assert_eq!((o.flagged, o.charged_minor), (1, 0));
    assert_eq!(s.db.check(), Vec::<String>::new());
}
