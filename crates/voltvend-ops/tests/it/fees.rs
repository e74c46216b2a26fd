//! 房租 / 物业费: a month of a schedule charged once to a site's occupied units, paid at the counter oldest due
//! first with a receipt number, and what overdue fees do to energy sales by the property's policy — every
//! refusal changing nothing, and the schedule's receivable always the sum of its charges' unpaid amounts.

use jiff::Timestamp;
use voltvend_domain::fees::{FeeBasis, OverduePolicy};
use voltvend_domain::{
    Currency, FeeScheduleId, Premises, PremisesId, PremisesLevel, Side, TransferId, TransferKind, TransferRequest,
};
use voltvend_ops::memory::MemoryDb;
use voltvend_ops::{
    Actor, Applied, Command, Context, CreateFeeSchedule, FeeCharge, FeePayment, FeePolicy, FeeRun, FloorArea,
    IssueFees, OpError, Operation, Outcome, PayFees, PaymentMethod, Reverse, Sale, SaleAmount, SaleRecord,
};
use voltvend_testkit::estate::Estate;

/// December 2nd in Shanghai: November's fees (due November 10th) are overdue, December's (due the 10th) not yet.
fn at() -> Timestamp {
    "2026-12-02T08:00:00Z".parse().unwrap()
}

struct Park {
    estate: Estate,
    db: MemoryDb,
    ctx: Context,
    vacant: Premises,
    schedule: FeeScheduleId,
}

fn admin(e: &Estate) -> Actor {
    Actor::operator(e.admin, e.group.id, "10.0.0.9")
}

fn run(p: &mut Park, actor: Actor, command: Command) -> Result<Applied, OpError> {
    let op = Operation::new(p.estate.next_op(), actor, command);
    p.db.run(&op, None, &p.ctx, at())
}

fn code(r: Result<Applied, OpError>) -> &'static str {
    match r {
        Err(e) => e.code(),
        Ok(Applied::Committed { outcome: Outcome::PaymentRefused { code, .. }, .. }) => code,
        Ok(_) => "ok",
    }
}

fn outcome(r: Result<Applied, OpError>) -> Outcome {
    match r {
        Ok(Applied::Committed { outcome, .. }) => outcome,
        other => panic!("not committed: {other:?}"),
    }
}

fn issued(r: Result<Applied, OpError>) -> (FeeRun, Vec<FeeCharge>) {
    match outcome(r) {
        Outcome::FeesIssued { run, charges } => (run, charges),
        other => panic!("not issued: {other:?}"),
    }
}

fn paid(r: Result<Applied, OpError>) -> FeePayment {
    match outcome(r) {
        Outcome::FeesPaid(p) => p,
        other => panic!("not a fee payment: {other:?}"),
    }
}

fn sale(r: Result<Applied, OpError>) -> SaleRecord {
    match outcome(r) {
        Outcome::Sale(s) => s,
        other => panic!("not a sale: {other:?}"),
    }
}

/// The test estate's property with a third, vacant unit, floor areas on all three, and a property fee of 3.50
/// a m² a month due on the 10th.
fn park() -> Park {
    let estate = Estate::new(7);
    let mut db = MemoryDb::new();
    let ctx = Estate::context();
    for op in &estate.setup {
        db.run(op, None, &ctx, at()).unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let vacant = estate
        .building_a
        .new_child(PremisesId::from_uuid(uuid::Uuid::from_u128(0xFE01)), PremisesLevel::Unit, "A-102")
        .unwrap();
    let mut p = Park { estate, db, ctx, vacant, schedule: FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE02)) };
    let create = Command::CreatePremises(p.vacant.clone());
    run(&mut p, Actor::system("test"), create).unwrap();
    for (unit, dm2) in [(p.estate.unit_a.id, 8_550), (p.estate.unit_b.id, 6_225), (p.vacant.id, 12_000)] {
        let who = admin(&p.estate);
        run(&mut p, who, Command::SetFloorArea(FloorArea { premises_id: unit, floor_area_dm2: dm2 })).unwrap();
    }
    let who = admin(&p.estate);
    let create = Command::CreateFeeSchedule(schedule(&p, FeeBasis::PerSquareMetre, 350));
    run(&mut p, who, create).unwrap();
    p
}

fn schedule(p: &Park, basis: FeeBasis, rate_minor: i64) -> CreateFeeSchedule {
    CreateFeeSchedule {
        schedule_id: p.schedule,
        premises_id: p.estate.property.id,
        name: "物业费 Property fee".into(),
        basis,
        rate_minor,
        currency: Currency::CNY,
        due_day: 10,
        late_fee_bp: 0,
        disconnect_after_days: 0,
    }
}

fn issue(p: &mut Park, period: i32) -> Result<Applied, OpError> {
    let who = admin(&p.estate);
    run(p, who, Command::IssueFees(IssueFees { schedule_id: p.schedule, period }))
}

fn pay_a(p: &mut Park, paid_minor: i64) -> Result<Applied, OpError> {
    let command = Command::PayFees(PayFees {
        account_id: p.estate.account_a,
        shift_id: p.estate.shift_a,
        method: PaymentMethod::Cash,
        reference: String::new(),
        paid_minor,
    });
    let who = p.estate.cashier_a();
    run(p, who, command)
}

fn sell_a(p: &mut Park, paid_minor: i64) -> Result<Applied, OpError> {
    let (who, sale) = (p.estate.cashier_a(), p.estate.sale_a(paid_minor));
    run(p, who, Command::Sale(sale))
}

fn policy(p: &mut Park, premises_id: PremisesId, policy: OverduePolicy) {
    let who = admin(&p.estate);
    run(p, who, Command::SetFeePolicy(FeePolicy { premises_id, policy })).unwrap();
}

/// The schedule's receivable balance, which must equal the unpaid amounts of its charges.
fn receivable(p: &Park) -> i64 {
    let s = p.db.fee_schedules.get(&p.schedule).unwrap();
    let balance = p.db.ledger_accounts.get(&s.receivable).unwrap().1.normal(Side::Debit);
    let unpaid: i64 =
        p.db.fee_charges.values().filter(|c| c.schedule_id == p.schedule).map(FeeCharge::outstanding_minor).sum();
    assert_eq!(balance, unpaid, "the receivable is the sum of its charges' unpaid amounts");
    // The model's own checks: the ledger, receipts without gaps (sales and fee payments), the receivables.
    assert!(p.db.check().is_empty(), "{:?}", p.db.check());
    balance
}

fn unpaid_of(p: &Park, period: i32, unit: PremisesId) -> i64 {
    p.db.fee_charges.get(&(p.schedule, period, unit)).unwrap().outstanding_minor()
}

#[test]
fn a_month_is_charged_to_the_occupied_units_once_and_paid_at_the_counter_oldest_first() {
    let mut p = park();
    let (run, charges) = issued(issue(&mut p, 202_611));
    // 3.50 × 85.50 m² = 299.25; 3.50 × 62.25 m² = 217.875 → 217.88 (halves up); A-102 is vacant.
    let amounts: Vec<(PremisesId, i64)> = charges.iter().map(|c| (c.premises_id, c.amount_minor)).collect();
    assert_eq!(amounts.len(), 2);
    assert!(amounts.contains(&(p.estate.unit_a.id, 29_925)) && amounts.contains(&(p.estate.unit_b.id, 21_788)));
    assert_eq!((run.charged, run.vacant, run.total_minor), (2, 1, 51_713));
    assert_eq!(run.due_on, jiff::civil::date(2026, 11, 10));
    assert!(charges.iter().all(|c| c.due_on == run.due_on && c.paid_minor == 0));
    assert_eq!(receivable(&p), 51_713);

    // Once only: the repeat is refused and changes nothing.
    let before = p.db.clone();
    assert_eq!(code(issue(&mut p, 202_611)), "fees_issued");
    assert_eq!(p.db, before);
    issued(issue(&mut p, 202_612));
    assert_eq!(receivable(&p), 2 * 51_713);

    // 400.00 pays November's 299.25 first, then 100.75 of December's.
    let receipt_before = p.db.vending_points.get(&p.estate.point_a).unwrap().last_receipt_no;
    let payment = paid(pay_a(&mut p, 40_000));
    assert_eq!(payment.receipt_no, receipt_before + 1, "the vending point's next receipt");
    let lines: Vec<(i32, i64)> = payment.lines.iter().map(|l| (l.period, l.amount_minor)).collect();
    assert_eq!(lines, vec![(202_611, 29_925), (202_612, 10_075)]);
    assert_eq!(unpaid_of(&p, 202_611, p.estate.unit_a.id), 0);
    assert_eq!(unpaid_of(&p, 202_612, p.estate.unit_a.id), 19_850);
    assert_eq!(receivable(&p), 2 * 51_713 - 40_000);
    let drawer = p.db.shifts.get(&p.estate.shift_a).unwrap().drawer;
    let transfer = p.db.transfers.values().find(|t| t.request.id == payment.transfer_id).unwrap();
    assert!(transfer.request.postings.iter().any(|x| x.account == drawer && x.amount_minor == 40_000));

    // More than is owed is refused; the rest is taken; then nothing is owed.
    let before = p.db.clone();
    assert_eq!(code(pay_a(&mut p, 19_851)), "fees_overpaid");
    assert_eq!(p.db, before);
    paid(pay_a(&mut p, 19_850));
    assert_eq!(code(pay_a(&mut p, 100)), "no_fees_due");
    assert_eq!(receivable(&p), 2 * 21_788);
}

#[test]
fn overdue_fees_block_sales_or_take_a_share_by_the_nearest_policy_and_never_more_than_is_overdue() {
    let mut p = park();
    issued(issue(&mut p, 202_611)); // overdue since November 10th
    issued(issue(&mut p, 202_612)); // not yet due

    // No policy: the sale is as it always was.
    let s = sale(sell_a(&mut p, 10_000));
    assert_eq!((s.property_fees_minor, s.credit_minor), (0, 10_000));

    // The property blocks sales: refused, the money kept as a refused payment, the fees untouched.
    let property = p.estate.property.id;
    policy(&mut p, property, OverduePolicy::BlockSales);
    let unpaid_before = unpaid_of(&p, 202_611, p.estate.unit_a.id);
    assert_eq!(code(sell_a(&mut p, 10_000)), "fees_overdue");
    assert_eq!(unpaid_of(&p, 202_611, p.estate.unit_a.id), unpaid_before);

    // Block A (nearer to A-101) takes 30 % of each purchase: 30.00 of 100.00 pays November's fee.
    let block_a = p.estate.building_a.id;
    policy(&mut p, block_a, OverduePolicy::ShareOfPurchase { share_bp: 3_000 });
    let s = sale(sell_a(&mut p, 10_000));
    assert_eq!((s.property_fees_minor, s.credit_minor), (3_000, 7_000));
    assert_eq!(unpaid_of(&p, 202_611, p.estate.unit_a.id), 29_925 - 3_000);
    assert_eq!(unpaid_of(&p, 202_612, p.estate.unit_a.id), 29_925, "December's is not overdue: untouched");
    receivable(&p);
    let allocations: Vec<i64> =
        p.db.fee_allocations.iter().filter(|a| a.operation_id == s.operation_id).map(|a| a.amount_minor).collect();
    assert_eq!(allocations, vec![3_000]);

    // Never more than is overdue: 30 % of 1 000.00 is 300.00, but 269.25 is left.
    let s = sale(sell_a(&mut p, 100_000));
    assert_eq!((s.property_fees_minor, s.credit_minor), (26_925, 100_000 - 26_925));
    assert_eq!(unpaid_of(&p, 202_611, p.estate.unit_a.id), 0);
    let s = sale(sell_a(&mut p, 10_000));
    assert_eq!(s.property_fees_minor, 0, "nothing overdue is left");

    // B-101 is under the property's block; paying its fees at the counter lets it buy again.
    let sts = |p: &mut Park| {
        let op = p.estate.sts_sale(10_000);
        p.db.run(&op, None, &p.ctx, at())
    };
    assert_eq!(code(sts(&mut p)), "fees_overdue");
    // The money was taken at the counter: it is kept as a refused payment, owed back, the fees untouched.
    let kept: Vec<_> = p.db.refused_payments.values().filter(|r| r.account_id == p.estate.account_b).collect();
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].reason_code.as_str(), kept[0].paid_minor), ("fees_overdue", 10_000));
    assert_eq!(unpaid_of(&p, 202_611, p.estate.unit_b.id), 21_788);

    // Under a 25 % share, a purchase of 10.0 kWh costs the smallest payment that, after the share, pays what
    // 10.0 kWh costs without one.
    let by_quantity = |p: &mut Park| {
        let sale = Sale {
            amount: SaleAmount::Quantity(10_000),
            ..Sale::paid(p.estate.account_b, p.estate.sts_meter, p.estate.shift_b, PaymentMethod::Cash, 1)
        };
        let op = Operation::new(p.estate.next_op(), p.estate.cashier_b(), Command::Sale(sale));
        p.db.run(&op, None, &p.ctx, at())
    };
    let mut without = Park { db: p.db.clone(), estate: p.estate.clone(), ..park() };
    policy(&mut without, property, OverduePolicy::Nothing);
    let plain = sale(by_quantity(&mut without));
    policy(&mut p, property, OverduePolicy::ShareOfPurchase { share_bp: 2_500 });
    let shared = sale(by_quantity(&mut p));
    assert_eq!((plain.property_fees_minor, plain.quantity_milli, shared.quantity_milli), (0, 10_000, 10_000));
    assert_eq!(shared.paid_minor - shared.property_fees_minor, plain.paid_minor);
    assert_eq!(shared.property_fees_minor, voltvend_domain::fees::share_taken(shared.paid_minor, 21_788, 2_500));
    assert!(shared.property_fees_minor > 0);
    let left = unpaid_of(&p, 202_611, p.estate.unit_b.id);
    assert_eq!(left, 21_788 - shared.property_fees_minor);
    policy(&mut p, property, OverduePolicy::BlockSales);
    let command = Command::PayFees(PayFees {
        account_id: p.estate.account_b,
        shift_id: p.estate.shift_b,
        method: PaymentMethod::Cash,
        reference: String::new(),
        paid_minor: left,
    });
    let who = p.estate.cashier_b();
    paid(run(&mut p, who, command));
    assert_eq!(code(sts(&mut p)), "ok");
    receivable(&p);
}

#[test]
fn refusals_change_nothing() {
    let mut p = park();
    let who = admin(&p.estate);
    let cases: Vec<(Command, &str)> = vec![
        (
            Command::CreateFeeSchedule(CreateFeeSchedule {
                schedule_id: p.schedule,
                ..schedule(&p, FeeBasis::PerUnit, 100)
            }),
            "already_exists",
        ),
        (
            Command::CreateFeeSchedule(CreateFeeSchedule {
                schedule_id: FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE10)),
                ..schedule(&p, FeeBasis::PerUnit, 0)
            }),
            "fee_rate",
        ),
        (
            Command::CreateFeeSchedule(CreateFeeSchedule {
                schedule_id: FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE11)),
                due_day: 29,
                ..schedule(&p, FeeBasis::PerUnit, 100)
            }),
            "fee_due_day",
        ),
        (
            Command::CreateFeeSchedule(CreateFeeSchedule {
                schedule_id: FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE12)),
                name: " ".into(),
                ..schedule(&p, FeeBasis::PerUnit, 100)
            }),
            "text_empty",
        ),
        (Command::IssueFees(IssueFees { schedule_id: p.schedule, period: 202_613 }), "bad_period"),
        (
            Command::IssueFees(IssueFees {
                schedule_id: FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE13)),
                period: 202_611,
            }),
            "not_found",
        ),
        (
            Command::SetFloorArea(FloorArea { premises_id: p.estate.building_a.id, floor_area_dm2: 100 }),
            "premises_not_unit",
        ),
        (Command::SetFloorArea(FloorArea { premises_id: p.estate.unit_a.id, floor_area_dm2: 0 }), "bad_floor_area"),
        (
            Command::SetFeePolicy(FeePolicy {
                premises_id: p.estate.property.id,
                policy: OverduePolicy::ShareOfPurchase { share_bp: 10_001 },
            }),
            "bad_fee_policy",
        ),
    ];
    for (command, expected) in cases {
        let before = p.db.clone();
        let kind = command.kind();
        assert_eq!(code(run(&mut p, who.clone(), command)), expected, "{kind}");
        assert_eq!(p.db, before, "{kind} changed something");
    }

    // Nothing owed yet; then a cashier of Block B cannot take A-101's fees.
    assert_eq!(code(pay_a(&mut p, 100)), "no_fees_due");
    issued(issue(&mut p, 202_611));
    let before = p.db.clone();
    let command = Command::PayFees(PayFees {
        account_id: p.estate.account_a,
        shift_id: p.estate.shift_b,
        method: PaymentMethod::Cash,
        reference: String::new(),
        paid_minor: 100,
    });
    let cashier_b = p.estate.cashier_b();
    assert_eq!(code(run(&mut p, cashier_b, command)), "not_found", "out of scope is not found");
    assert_eq!(code(pay_a(&mut p, 0)), "amount_not_positive");
    let online = Command::PayFees(PayFees {
        account_id: p.estate.account_a,
        shift_id: p.estate.shift_a,
        method: PaymentMethod::Online,
        reference: String::new(),
        paid_minor: 100,
    });
    let cashier_a = p.estate.cashier_a();
    assert_eq!(code(run(&mut p, cashier_a, online)), "online_not_at_counter");
    assert_eq!(p.db, before);

    // The receivable moves only through charges: a bare transfer or a reversal of the month is refused.
    let s = p.db.fee_schedules.get(&p.schedule).unwrap().clone();
    let run_transfer = p.db.fee_runs.get(&(p.schedule, 202_611)).unwrap().transfer_id.unwrap();
    let reverse =
        Command::Reverse(Reverse { transfer_id: run_transfer, reason: "try".into(), lines: None, reallocate: None });
    assert_eq!(code(run(&mut p, who.clone(), reverse)), "fees_receivable_posting");
    let bare = Command::PostTransfer(TransferRequest {
        id: TransferId::from_uuid(uuid::Uuid::from_u128(0xFE20)),
        kind: TransferKind::Adjustment,
        currency: Currency::CNY,
        postings: vec![
            voltvend_domain::Posting { account: s.revenue, side: Side::Debit, amount_minor: 100 },
            voltvend_domain::Posting { account: s.receivable, side: Side::Credit, amount_minor: 100 },
        ],
        corrects: None,
        memo: "write off by hand".into(),
    });
    assert_eq!(code(run(&mut p, who.clone(), bare)), "fees_receivable_posting");
    assert_eq!(p.db, before);

    // Per m² with a unit that has no floor area: refused, naming the unit.
    let mut q = park();
    q.db.floor_areas.remove(&q.estate.unit_b.id);
    let before = q.db.clone();
    let err = issue(&mut q, 202_611).unwrap_err();
    assert_eq!(err.code(), "floor_area_missing");
    assert!(err.to_string().contains("B-101"), "{err}");
    assert_eq!(q.db, before);
}

#[test]
fn a_schedule_made_issued_and_paid_in_one_batch_is_as_one_after_the_other() {
    let mut p = park();
    let id = FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE30));
    let who = admin(&p.estate);
    let property = p.estate.property.id;
    let ops = vec![
        Operation::new(
            p.estate.next_op(),
            who.clone(),
            Command::SetFeePolicy(FeePolicy {
                premises_id: property,
                policy: OverduePolicy::ShareOfPurchase { share_bp: 5_000 },
            }),
        ),
        Operation::new(
            p.estate.next_op(),
            who.clone(),
            Command::CreateFeeSchedule(CreateFeeSchedule {
                schedule_id: id,
                name: "房租 Rent".into(),
                ..schedule(&p, FeeBasis::PerUnit, 180_000)
            }),
        ),
        Operation::new(p.estate.next_op(), who, Command::IssueFees(IssueFees { schedule_id: id, period: 202_611 })),
        Operation::new(
            p.estate.next_op(),
            p.estate.cashier_a(),
            Command::PayFees(PayFees {
                account_id: p.estate.account_a,
                shift_id: p.estate.shift_a,
                method: PaymentMethod::Cash,
                reference: String::new(),
                paid_minor: 50_000,
            }),
        ),
        p.estate.remote_sale(10_000),
    ];
    let mut sequential = p.db.clone();
    for op in &ops {
        sequential.run(op, None, &p.ctx, at()).unwrap();
    }
    for r in p.db.run_batch(&ops, &p.ctx, at()) {
        r.unwrap();
    }
    assert_eq!(p.db, sequential);
    // The counter paid 500.00 of November's rent; the sale's half (50.00) paid more of it.
    let charge = p.db.fee_charges.get(&(id, 202_611, p.estate.unit_a.id)).unwrap();
    assert_eq!((charge.amount_minor, charge.paid_minor), (180_000, 55_000));
}

/// An account opened at the vacant unit, a month issued and a sale to the new account, all in one batch: the
/// month charges the new account (as it would one operation after the other), and the sale pays its share of
/// the overdue fee by Block A's policy.
#[test]
fn a_month_issued_in_the_batch_that_opens_an_account_charges_it_as_one_after_the_other() {
    use voltvend_ops::Sale;
    let mut p = park();
    let block_a = p.estate.building_a.id;
    policy(&mut p, block_a, OverduePolicy::ShareOfPurchase { share_bp: 3_000 });
    let vacant = p.vacant.clone();
    let (meter_id, account_id, receive, open) = p.estate.remote_account_at(&vacant, "000000000777");
    run(&mut p, Actor::system("test"), receive).unwrap();
    let who = admin(&p.estate);
    let sale = Sale::paid(account_id, meter_id, p.estate.shift_a, PaymentMethod::Cash, 10_000);
    let ops = vec![
        Operation::new(p.estate.next_op(), who.clone(), open),
        Operation::new(
            p.estate.next_op(),
            who,
            Command::IssueFees(IssueFees { schedule_id: p.schedule, period: 202_611 }),
        ),
        Operation::new(p.estate.next_op(), p.estate.cashier_a(), Command::Sale(sale)),
    ];
    let mut sequential = p.db.clone();
    let one_by_one: Vec<_> = ops.iter().map(|op| sequential.run(op, None, &p.ctx, at()).map(|_| ())).collect();
    let together: Vec<_> = p.db.run_batch(&ops, &p.ctx, at()).into_iter().map(|r| r.map(|_| ())).collect();
    assert_eq!(together, one_by_one);
    assert!(together.iter().all(Result::is_ok), "{together:?}");
    assert_eq!(p.db, sequential);
    // 3.50 × 120 m² = 420.00 for A-102, of which the 100.00 sale paid 30.00.
    let charge = p.db.fee_charges.get(&(p.schedule, 202_611, p.vacant.id)).unwrap();
    assert_eq!((charge.account_id, charge.amount_minor, charge.paid_minor), (account_id, 42_000, 3_000));
    assert_eq!(p.db.fee_runs.get(&(p.schedule, 202_611)).unwrap().vacant, 0);
    receivable(&p);
}

/// 后付费账单: a postpaid billing cycle at the property (a standing charge of 10.00, due on the 15th of the month
/// after, a 5 % late fee). A-101 bought 50.00 of credit, used 30.00 of it prepaid, switched to postpaid at that reading, and used
/// 60.00 more: the prepaid credit left (20.00) pays first, the 40.00 beyond it is owed and billed with the
/// standing charge; B-101 (a keypad meter, prepaid) is counted and not billed; dunning adds the late fee once and
/// reminds through the outbox; an over-payment becomes credit, which the next bill applies first.
#[test]
fn a_postpaid_bill_charges_the_usage_since_the_cut_over_and_is_dunned_paid_and_credited() {
    let mut p = park();
    let cycle = FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE20));
    let who = admin(&p.estate);
    let create = CreateFeeSchedule {
        schedule_id: cycle,
        name: "电费账单 Electricity bill".into(),
        due_day: 15,
        late_fee_bp: 500,
        ..schedule(&p, FeeBasis::Postpaid, 1_000)
    };
    run(&mut p, who.clone(), Command::CreateFeeSchedule(create)).unwrap();
    // The property fee's November (299.25 for A-101) is owed when the bill is issued: carried, not in it.
    issued(issue(&mut p, 202_611));

    sale(sell_a(&mut p, 5_000));
    let read = |p: &mut Park, points: &[(&str, i64)]| {
        let op = p.estate.readings(points);
        p.db.run(&op, None, &p.ctx, at()).unwrap();
    };
    // 0.60 a kWh: 50 kWh prepaid (30.00 from the wallet), the cut-over, then 100 kWh postpaid (60.00).
    read(&mut p, &[("2026-10-01T00:00:00Z", 1_000_000), ("2026-10-03T00:00:00Z", 1_050_000)]);
    let account = p.db.accounts.get(&p.estate.account_a).unwrap().clone();
    assert_eq!(p.db.balance(account.wallet), Some(2_000));
    let switch = voltvend_ops::SwitchBillingMode {
        account_id: account.account.id,
        mode: voltvend_domain::BillingMode::Postpaid,
        reason: "tenant on a monthly bill".into(),
    };
    run(&mut p, who.clone(), Command::SwitchBillingMode(switch)).unwrap();
    read(&mut p, &[("2026-10-25T00:00:00Z", 1_150_000)]);
    assert_eq!(p.db.balance(account.wallet), Some(0), "the prepaid credit paid first");
    assert_eq!(p.db.balance(account.arrears), Some(4_000), "the rest is owed, not cut off");

    let dun = |p: &mut Park, period| {
        let who = admin(&p.estate);
        run(p, who, Command::DunFees(IssueFees { schedule_id: cycle, period }))
    };
    assert_eq!(code(dun(&mut p, 202_610)), "fees_not_issued");
    let bill = |p: &mut Park, period| {
        let who = admin(&p.estate);
        issued(run(p, who, Command::IssueFees(IssueFees { schedule_id: cycle, period })))
    };
    let (run_10, charges) = bill(&mut p, 202_610);
    assert_eq!((run_10.charged, run_10.not_postpaid, run_10.vacant), (1, 1, 1));
    assert_eq!(run_10.due_on, jiff::civil::date(2026, 11, 15), "a bill falls due in the month after");
    let c = &charges[0];
    assert_eq!((c.premises_id, c.usage_minor, c.credit_minor, c.carried_minor), (p.estate.unit_a.id, 4_000, 0, 29_925));
    assert_eq!(c.amount_minor, 5_000, "40.00 used + 10.00 standing");
    assert_eq!(p.db.balance(account.arrears), Some(0), "moved to the bill");
    let s = p.db.fee_schedules.get(&cycle).unwrap().clone();
    assert_eq!(p.db.balance(s.receivable), Some(5_000));
    assert_eq!(p.db.balance(s.revenue), Some(1_000));
    let bills: Vec<_> = p.db.outbox.iter().filter(|o| o.kind == voltvend_ops::OutboxKind::BillIssued).collect();
    assert_eq!(bills.len(), 1);
    assert_eq!(bills[0].meter_id, Some(p.estate.remote_meter));
    assert!(bills[0].detail.contains("amount_minor=5000"), "{}", bills[0].detail);

    // Dunned on December 2nd, after November 15th: 5 % of 50.00 = 2.50, once (the property fee is dunned by
    // its own schedule).
    let before = p.db.outbox.len();
    let dunned = match outcome(dun(&mut p, 202_610)) {
        Outcome::FeesDunned { run, charges } => (run, charges),
        other => panic!("not dunned: {other:?}"),
    };
    assert_eq!((dunned.0.dunned, dunned.0.late_fees_minor), (1, 250));
    assert_eq!((dunned.1[0].late_fee_minor, dunned.1[0].amount_minor), (250, 5_250));
    assert_eq!(p.db.balance(s.receivable), Some(5_250));
    assert_eq!(p.db.balance(s.revenue), Some(1_250));
    let reminders: Vec<_> = p.db.outbox[before..].iter().collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].kind, voltvend_ops::OutboxKind::FeesOverdue);
    assert!(reminders[0].detail.contains("owed_minor=5250 late_fee_minor=250"), "{}", reminders[0].detail);
    let db = p.db.clone();
    assert_eq!(code(dun(&mut p, 202_610)), "fees_dunned");
    assert_eq!(p.db, db, "a refusal changes nothing");

    // November's bill falls due on December 15th: not overdue on the 2nd.
    read(&mut p, &[("2026-12-01T00:00:00Z", 1_200_000)]); // 30.00 more, owed
    // A sale (at the counter or online) to a postpaid account pays its bills first, due or not, whatever the
    // property's policy: 20.00 pays 20.00 of the property fee (due first), nothing is credit; refusing to block
    // or leave a minimum purchase.
    let property = p.estate.property.id;
    policy(&mut p, property, OverduePolicy::BlockSales);
    let s20 = sale(sell_a(&mut p, 2_000));
    assert_eq!((s20.property_fees_minor, s20.credit_minor), (2_000, 0));
    // 380.00 pays the rest of the property fee (279.25) and the bill (52.50); the 48.25 left is credit.
    let payment = paid(pay_a(&mut p, 40_000 - 2_000));
    let lines: Vec<(FeeScheduleId, i64)> = payment.lines.iter().map(|l| (l.schedule_id, l.amount_minor)).collect();
    assert_eq!(lines, vec![(p.schedule, 27_925), (cycle, 5_250)]);
    assert_eq!(payment.credit_minor, 4_825);
    assert_eq!(p.db.balance(account.wallet), Some(4_825));
    assert_eq!(p.db.balance(account.arrears), Some(3_000));
    // November: 30.00 used + 10.00 standing = 40.00, all of it paid from the 48.25 credit; 8.25 stays.
    let (_, charges) = bill(&mut p, 202_611);
    let c = &charges[0];
    assert_eq!((c.usage_minor, c.credit_minor, c.amount_minor, c.carried_minor), (3_000, 4_000, 0, 0));
    assert_eq!(p.db.balance(account.wallet), Some(825));
    assert_eq!(p.db.balance(account.arrears), Some(0));
    assert_eq!(code(dun(&mut p, 202_611)), "fees_not_overdue");
    // A payment with nothing owed is credit to a postpaid account (a prepaid one is refused, above).
    let topup = paid(pay_a(&mut p, 1_000));
    assert_eq!((topup.lines.len(), topup.credit_minor), (0, 1_000));
    assert_eq!(p.db.balance(account.wallet), Some(1_825));
    // Credit is a top-up: not to a suspended account (报停), and a refusal changes nothing.
    let suspend = voltvend_ops::SetAccountStatus {
        account_id: account.account.id,
        status: voltvend_domain::AccountStatus::Suspended,
        reason: "tenant away".into(),
    };
    run(&mut p, who.clone(), Command::SetAccountStatus(suspend)).unwrap();
    let db = p.db.clone();
    assert_eq!(code(pay_a(&mut p, 500)), "account_suspended");
    assert_eq!(p.db, db);
    assert!(p.db.check().is_empty(), "{:?}", p.db.check());
    assert_eq!(receivable(&p), 21_788, "the property fee's receivable: B-101's November");

    // 收费纠错: the 380.00 payment left 48.25 of credit that November's bill used, so it cannot be taken back
    // whole; the 10.00 paid since can, and its credit leaves the wallet with it.
    use voltvend_ops::CorrectionKind::ReverseFeePayment;
    let spent = correct(&mut p, 20, ReverseFeePayment, (Some(payment.operation_id), None), 0);
    assert_eq!(spent.unwrap_err(), "credit_spent");
    correct(&mut p, 21, ReverseFeePayment, (Some(topup.operation_id), None), 0).unwrap();
    assert_eq!(p.db.balance(account.wallet), Some(825));
    assert!(p.db.check().is_empty(), "{:?}", p.db.check());
}

/// 欠费停电: a cycle that disconnects seven days after dunning. October's bill (60.00 used + 10.00 standing) is
/// unpaid: it cannot be disconnected before it is dunned, nor before the notice runs out; then A-101's remote
/// meter is tripped through the head end, once. A partial payment leaves it off; a sale paying the rest closes
/// it, though rent is overdue. Rent never disconnects.
#[test]
fn an_unpaid_bill_is_disconnected_after_notice_and_reconnected_when_paid() {
    use voltvend_ops::{CommandKind, Relay};
    let mut p = park();
    let cycle = FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE30));
    let who = admin(&p.estate);
    let rent_that_cuts = CreateFeeSchedule {
        schedule_id: FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE31)),
        disconnect_after_days: 7,
        ..schedule(&p, FeeBasis::PerUnit, 100)
    };
    assert_eq!(code(run(&mut p, who.clone(), Command::CreateFeeSchedule(rent_that_cuts))), "disconnect_postpaid_only");
    let base = schedule(&p, FeeBasis::Postpaid, 1_000);
    let create = |days| CreateFeeSchedule {
        schedule_id: cycle,
        name: "电费账单".into(),
        disconnect_after_days: days,
        ..base.clone()
    };
    assert_eq!(code(run(&mut p, who.clone(), Command::CreateFeeSchedule(create(366)))), "disconnect_notice");
    run(&mut p, who.clone(), Command::CreateFeeSchedule(create(7))).unwrap();
    // One cycle per site: another at the same site is refused.
    let same =
        CreateFeeSchedule { schedule_id: FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE32)), ..base.clone() };
    assert_eq!(code(run(&mut p, who.clone(), Command::CreateFeeSchedule(same))), "cycles_overlap");
    let switch = voltvend_ops::SwitchBillingMode {
        account_id: p.estate.account_a,
        mode: voltvend_domain::BillingMode::Postpaid,
        reason: "monthly bills".into(),
    };
    run(&mut p, who.clone(), Command::SwitchBillingMode(switch)).unwrap();
    let op = p.estate.readings(&[("2026-10-01T00:00:00Z", 1_000_000), ("2026-10-25T00:00:00Z", 1_100_000)]);
    p.db.run(&op, None, &p.ctx, at()).unwrap();
    let month = IssueFees { schedule_id: cycle, period: 202_610 };
    let (_, bills) = issued(run(&mut p, who.clone(), Command::IssueFees(month)));
    assert_eq!(bills[0].amount_minor, 7_000);
    issued(issue(&mut p, 202_612));

    // Applied at `t` to a copy of the model: the caller keeps it or not.
    let on = |p: &mut Park, t: Timestamp, command: Command| {
        let op = Operation::new(p.estate.next_op(), admin(&p.estate), command);
        let mut db = p.db.clone();
        let r = db.run(&op, None, &p.ctx, t);
        (db, r)
    };
    let meter = p.estate.remote_meter;
    let relay = |p: &Park| p.db.meters.get(&meter).unwrap().relay;
    let (_, r) = on(&mut p, at(), Command::DisconnectOverdue(month));
    assert_eq!(code(r), "fees_not_dunned");
    run(&mut p, who.clone(), Command::DunFees(month)).unwrap();
    let (db, r) = on(&mut p, at(), Command::DisconnectOverdue(month));
    assert_eq!((code(r), db == p.db), ("notice_running", true), "dunned on December 2nd: notice until the 9th");
    // The 9th: tripped, with a command to the meter and the customer told.
    let ninth: Timestamp = "2026-12-09T02:00:00Z".parse().unwrap();
    let (db, r) = on(&mut p, ninth, Command::DisconnectOverdue(month));
    p.db = db;
    match outcome(r) {
        Outcome::FeesDisconnected { run, meters } => assert_eq!((run.disconnected, meters), (1, vec![meter])),
        other => panic!("not disconnected: {other:?}"),
    }
    assert_eq!(relay(&p), Relay::Open);
    let trips = p.db.commands.values().filter(|c| c.meter_id == meter && c.kind == CommandKind::RelayTrip).count();
    assert_eq!(trips, 1);
    let (_, r) = on(&mut p, ninth, Command::DisconnectOverdue(month));
    assert_eq!(code(r), "fees_disconnected");
    // On the 11th December's rent (due the 10th) is overdue too. 30.00 at the counter pays 30.00 of the bill
    // (due first) and leaves the supply off; a 40.00 sale pays the rest of the bill and closes it: overdue rent
    // never keeps a supply off.
    let eleventh: Timestamp = "2026-12-11T02:00:00Z".parse().unwrap();
    let command = Command::PayFees(PayFees {
        account_id: p.estate.account_a,
        shift_id: p.estate.shift_a,
        method: PaymentMethod::Cash,
        reference: String::new(),
        paid_minor: 3_000,
    });
    let op = Operation::new(p.estate.next_op(), p.estate.cashier_a(), command);
    paid(p.db.run(&op, None, &p.ctx, eleventh));
    assert_eq!(relay(&p), Relay::Open, "still owed");
    // Had the bill been reduced (减免) by 10.00, it would still owe and stay off; by the 40.00 it owes, it is
    // settled and reconnected by the approval itself.
    let kept = p.db.clone();
    let bill = Some((cycle, 202_610));
    let books = p.db.accounts[&p.estate.account_a].books;
    let energy = p.db.books[&books].energy_revenue;
    let sold = p.db.balance(energy).unwrap();
    correct(&mut p, 30, voltvend_ops::CorrectionKind::AdjustCharge, (None, bill), 1_000).unwrap();
    assert_eq!(relay(&p), Relay::Open, "a reduced bill still owed keeps the supply off");
    correct(&mut p, 31, voltvend_ops::CorrectionKind::AdjustCharge, (None, bill), 3_000).unwrap();
    assert_eq!(relay(&p), Relay::Closed, "the bill settled by its reduction: reconnected");
    assert_eq!(p.db.balance(energy), Some(sold - 4_000), "a bill's reduction is energy revenue given up");
    assert!(p.db.check().is_empty(), "{:?}", p.db.check());
    p.db = kept;
    let op = Operation::new(p.estate.next_op(), p.estate.cashier_a(), Command::Sale(p.estate.sale_a(4_000)));
    let s = sale(p.db.run(&op, None, &p.ctx, eleventh));
    assert_eq!((s.property_fees_minor, s.credit_minor), (4_000, 0));
    assert_eq!(p.db.fee_charges[&(cycle, 202_610, p.estate.unit_a.id)].outstanding_minor(), 0);
    assert!(p.db.fee_charges[&(p.schedule, 202_612, p.estate.unit_a.id)].outstanding_minor() > 0, "rent owed");
    assert_eq!(relay(&p), Relay::Closed, "the bill paid: reconnected");
    let closes = p.db.commands.values().filter(|c| c.meter_id == meter && c.kind == CommandKind::RelayClose).count();
    assert_eq!(closes, 1);
    assert!(p.db.check().is_empty(), "{:?}", p.db.check());
}

/// A correction of rent and fees asked for by A's cashier and, unless `approve` is false, approved by the
/// group's administrator; the refusal code of whichever of the two refused, or the approval.
fn correct(
    p: &mut Park,
    n: u128,
    kind: voltvend_ops::CorrectionKind,
    subject: (Option<voltvend_domain::OperationId>, Option<(FeeScheduleId, i32)>),
    amount_minor: i64,
) -> Result<voltvend_ops::ApprovalRecord, &'static str> {
    use voltvend_ops::{DecideCorrection, RequestCorrection};
    let approval_id = voltvend_domain::ApprovalId::from_uuid(uuid::Uuid::from_u128(0xC0_0000 + n));
    let correction = fee_correction(p, kind, subject, amount_minor);
    let ask = Command::RequestCorrection(RequestCorrection {
        approval_id,
        correction,
        reason: "keyed wrongly".into(),
        expires_in: RequestCorrection::EXPIRES_IN_DEFAULT,
    });
    let before = p.db.clone();
    let cashier = p.estate.cashier_a();
    match run(p, cashier, ask) {
        Ok(_) => {}
        Err(e) => {
            assert_eq!(p.db, before, "a refused request changes nothing");
            return Err(e.code());
        }
    }
    let asked = p.db.clone();
    let who = admin(&p.estate);
    let decide = Command::DecideCorrection(DecideCorrection { approval_id, approve: true, note: String::new() });
    match outcome_or_code(run(p, who, decide)) {
        Ok(Outcome::Approval(a)) => Ok(a),
        Ok(other) => panic!("not an approval: {other:?}"),
        Err(code) => {
            assert_eq!(p.db, asked, "a refused approval changes nothing");
            Err(code)
        }
    }
}

/// A correction of A-101's rent and fees: a fee payment to reverse, or a charge (schedule and month) to adjust.
fn fee_correction(
    p: &Park,
    kind: voltvend_ops::CorrectionKind,
    (fee_payment, charge): (Option<voltvend_domain::OperationId>, Option<(FeeScheduleId, i32)>),
    amount_minor: i64,
) -> voltvend_ops::Correction {
    voltvend_ops::Correction {
        kind,
        sale: None,
        account_id: charge.map(|_| p.estate.account_a),
        meter_id: None,
        shift_id: None,
        amount_minor,
        fee_payment,
        charge,
    }
}

fn outcome_or_code(r: Result<Applied, OpError>) -> Result<Outcome, &'static str> {
    match r {
        Ok(Applied::Committed { outcome, .. }) => Ok(outcome),
        Ok(other) => panic!("not committed: {other:?}"),
        Err(e) => Err(e.code()),
    }
}

/// 收费纠错 and 减免: a payment of fees taken back whole, and a charge reduced or raised, each asked for by one
/// operator and applied when a second approves — the charges owe again or owe less, the money is owed back,
/// and the receivable stays the sum of the charges' unpaid amounts.
#[test]
fn a_fee_payment_is_reversed_and_a_charge_adjusted_once_approved() {
    use voltvend_ops::CorrectionKind::{AdjustCharge, ReverseFeePayment};
    let mut p = park();
    issued(issue(&mut p, 202_611));
    issued(issue(&mut p, 202_612));
    let revenue = p.db.fee_schedules.get(&p.schedule).unwrap().revenue;
    let (unit_a, point) = (p.estate.unit_a.id, p.estate.point_a);
    // 400.00 pays November's 299.25 and 100.75 of December's.
    let payment = paid(pay_a(&mut p, 40_000));
    assert_eq!(unpaid_of(&p, 202_611, unit_a), 0);
    let taken = p.db.vending_points.get(&point).unwrap().clone();

    // Reversed: both charges owe what they owed before the payment, and the 400.00 is owed back.
    let done = correct(&mut p, 1, ReverseFeePayment, (Some(payment.operation_id), None), 0).unwrap();
    assert_eq!((unpaid_of(&p, 202_611, unit_a), unpaid_of(&p, 202_612, unit_a)), (29_925, 29_925));
    assert_eq!(receivable(&p), 2 * 51_713);
    let decided = done.decision.as_ref().unwrap().operation_id;
    let owed = &p.db.refused_payments[&decided];
    assert_eq!(
        (owed.reason_code.as_str(), owed.paid_minor, owed.account_id),
        ("fee_payment_reversed", 40_000, p.estate.account_a)
    );
    assert_eq!(done.result, Some(decided));
    let mirror = p.db.transfers.values().find(|t| t.request.corrects == Some(payment.transfer_id)).unwrap();
    assert_eq!(Some(mirror.request.id), done.transfer_id);
    assert_eq!(
        p.db.vending_points.get(&point).unwrap().outstanding_minor,
        taken.outstanding_minor - 40_000,
        "the counter no longer owes it to the office"
    );
    // 复核入账: had the money owed back been credited after review instead, it would have paid the rent again,
    // as a fee payment through the same shift, out of the refunds owed.
    let kept = p.db.clone();
    let who = admin(&p.estate);
    let credit = Command::CreditRefusedPayment(voltvend_ops::CreditRefusedPayment { payment: decided });
    let again = paid(run(&mut p, who, credit));
    let lines: Vec<(i32, i64)> = again.lines.iter().map(|l| (l.period, l.amount_minor)).collect();
    assert_eq!((again.paid_minor, lines), (40_000, vec![(202_611, 29_925), (202_612, 10_075)]));
    assert!(p.db.refused_payments[&decided].credited);
    assert_eq!(receivable(&p), 2 * 51_713 - 40_000);
    let books = p.db.accounts[&p.estate.account_a].books;
    let refunds = p.db.books[&books].refunds;
    assert_eq!(p.db.balance(refunds), Some(0), "nothing owed back once credited");
    // Reversed in its turn, the credited payment is owed back once, not twice: its money came out of the
    // refunds owed, and its mirror puts it back there.
    let done = correct(&mut p, 11, ReverseFeePayment, (Some(again.operation_id), None), 0).unwrap();
    assert_eq!(p.db.balance(refunds), Some(40_000));
    let owed = &p.db.refused_payments[&done.decision.unwrap().operation_id];
    assert_eq!((owed.paid_minor, Some(owed.transfer_id)), (40_000, done.transfer_id));
    assert!(p.db.check().is_empty(), "{:?}", p.db.check());
    p.db = kept;
    // Once: the payment has been reversed, so a second request is refused when asked.
    assert_eq!(
        correct(&mut p, 2, ReverseFeePayment, (Some(payment.operation_id), None), 0).unwrap_err(),
        "already_reversed"
    );
    // What a reversal needs: the payment, whole.
    assert_eq!(
        correct(&mut p, 3, ReverseFeePayment, (Some(payment.operation_id), None), 100).unwrap_err(),
        "bad_amount"
    );
    assert_eq!(correct(&mut p, 4, ReverseFeePayment, (None, None), 0).unwrap_err(), "correction_incomplete");
    let nothing = voltvend_domain::OperationId::from_uuid(uuid::Uuid::from_u128(0xDEAD));
    assert_eq!(correct(&mut p, 5, ReverseFeePayment, (Some(nothing), None), 0).unwrap_err(), "not_found");

    // 100.00 paid towards November (299.25): it can be reduced by what it still owes, 199.25, at most.
    paid(pay_a(&mut p, 10_000));
    let (nov, dec, jan) = (Some((p.schedule, 202_611)), Some((p.schedule, 202_612)), Some((p.schedule, 202_601)));
    assert_eq!(correct(&mut p, 6, AdjustCharge, (None, nov), 19_926).unwrap_err(), "charge_paid");
    assert_eq!(correct(&mut p, 7, AdjustCharge, (None, nov), 0).unwrap_err(), "bad_amount");
    assert_eq!(correct(&mut p, 8, AdjustCharge, (None, jan), 100).unwrap_err(), "not_found");
    let revenue_before = p.db.balance(revenue).unwrap();
    // 减免 99.25: November is 200.00, 100.00 of it owed; the schedule's revenue is 99.25 less.
    correct(&mut p, 9, AdjustCharge, (None, nov), 9_925).unwrap();
    let c = p.db.fee_charges.get(&(p.schedule, 202_611, unit_a)).unwrap().clone();
    assert_eq!((c.amount_minor, c.paid_minor, c.adjusted_minor), (20_000, 10_000, -9_925));
    assert_eq!(p.db.balance(revenue), Some(revenue_before - 9_925));
    // Raised by 10.00 (a charge keyed too low): December is 309.25.
    correct(&mut p, 10, AdjustCharge, (None, dec), -1_000).unwrap();
    assert_eq!(unpaid_of(&p, 202_612, unit_a), 30_925);
    assert_eq!(p.db.balance(revenue), Some(revenue_before - 9_925 + 1_000));
    assert_eq!(receivable(&p), 10_000 + 30_925 + 2 * 21_788);
    // The next payment pays what they owe now, oldest first.
    let payment = paid(pay_a(&mut p, 10_000 + 30_925));
    let lines: Vec<(i32, i64)> = payment.lines.iter().map(|l| (l.period, l.amount_minor)).collect();
    assert_eq!(lines, vec![(202_611, 10_000), (202_612, 30_925)]);
    assert_eq!(receivable(&p), 2 * 21_788);
}

/// A correction that makes rent owe again and a sale to the same account, in one writer batch: the sale reads
/// the property's overdue policy as it would one after the other (the batch loads the policy for the corrected
/// charge's account, though the account owed nothing when the batch was loaded).
#[test]
fn a_reversal_and_a_sale_in_one_batch_are_as_one_after_the_other() {
    use voltvend_ops::{CorrectionKind, DecideCorrection, RequestCorrection};
    let mut p = park();
    issued(issue(&mut p, 202_611));
    let payment = paid(pay_a(&mut p, 29_925));
    let property = p.estate.property.id;
    policy(&mut p, property, OverduePolicy::BlockSales);
    let approval_id = voltvend_domain::ApprovalId::from_uuid(uuid::Uuid::from_u128(0xC1_0001));
    let correction = fee_correction(&p, CorrectionKind::ReverseFeePayment, (Some(payment.operation_id), None), 0);
    let ask = RequestCorrection {
        approval_id,
        correction,
        reason: "paid twice".into(),
        expires_in: RequestCorrection::EXPIRES_IN_DEFAULT,
    };
    let cashier = p.estate.cashier_a();
    run(&mut p, cashier, Command::RequestCorrection(ask)).unwrap();
    let decide = Command::DecideCorrection(DecideCorrection { approval_id, approve: true, note: String::new() });
    let batch = [
        Operation::new(p.estate.next_op(), admin(&p.estate), decide),
        Operation::new(p.estate.next_op(), p.estate.cashier_a(), Command::Sale(p.estate.sale_a(5_000))),
    ];
    let mut apart = p.db.clone();
    let one_by_one: Vec<&'static str> = batch.iter().map(|op| code(apart.run(op, None, &p.ctx, at()))).collect();
    let together: Vec<&'static str> = p.db.run_batch(&batch, &p.ctx, at()).into_iter().map(code).collect();
    assert_eq!(one_by_one, vec!["ok", "fees_overdue"], "the rent owes again, so the policy blocks the sale");
    assert_eq!(together, one_by_one);
    assert_eq!(p.db, apart);
}
