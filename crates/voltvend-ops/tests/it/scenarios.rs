use jiff::Timestamp;
use voltvend_domain::{Currency, LedgerAccountKind, Money, Posting, Side, TransferId, TransferKind, TransferRequest};
use voltvend_ops::memory::MemoryDb;
use voltvend_ops::{
    Actor, Applied, Command, Context, OpError, Operation, OutboxKind, Outcome, ReadingLimits, Relay, SaleRecord,
};
use voltvend_sts::{Accepted, StsMeter};
use voltvend_testkit::estate::Estate;

fn at() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

fn ctx() -> Context {
    Estate::context()
}

/// An estate, set up in memory.
fn setup() -> (Estate, MemoryDb, Context) {
    let estate = Estate::new(1);
    let mut db = MemoryDb::new();
    let ctx = ctx();
    for op in &estate.setup {
        db.run(op, None, &ctx, at()).unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    assert_eq!(db.check(), Vec::<String>::new());
    (estate, db, ctx)
}

fn sale_of(applied: Applied) -> SaleRecord {
    match applied {
        Applied::Committed { outcome: Outcome::Sale(s), .. } => s,
        other => panic!("not a sale: {other:?}"),
    }
}

fn code(r: Result<Applied, OpError>) -> &'static str {
    r.err().map_or("ok", |e| e.code())
}

/// Historical arrears of `minor` on account A (追缴陈欠), entered as a bare adjustment.
fn arrears_of(estate: &mut Estate, db: &mut MemoryDb, ctx: &Context, minor: i64) {
    let account = db.accounts[&estate.account_a].clone();
    let revenue = db.books[&estate.books].energy_revenue;
    let id = estate.next_op();
    let t = TransferRequest::simple(
        TransferId::from_uuid(id.as_uuid()),
        TransferKind::Adjustment,
        account.arrears,
        revenue,
        Money::from_minor(minor, Currency::CNY),
        "arrears brought forward",
    );
    db.run(&Operation::new(id, Actor::system("test"), Command::PostTransfer(t)), None, ctx, at()).unwrap();
}

#[test]
fn setup_writes_one_audit_record_per_operation() {
    let (estate, db, _) = setup();
    assert_eq!(db.audit.len(), estate.setup.len());
    assert_eq!(db.idempotency.len(), estate.setup.len());
    assert_eq!(
        db.ledger_accounts.len(),
        9 + 2 * 2 + 2,
        "books (with their inter-property account), two accounts, two drawers"
    );
    let wallet = &db.ledger_accounts[&db.accounts[&estate.account_a].wallet].0;
    assert_eq!((wallet.kind, wallet.overdraft_limit_minor), (LedgerAccountKind::CustomerWallet, Some(0)));
}

#[test]
fn a_remote_sale_splits_the_payment_and_numbers_its_receipt() {
    let (mut estate, mut db, ctx) = setup();
    arrears_of(&mut estate, &mut db, &ctx, 1_500);
    // 20 % of 100.00 recovers 15.00 of arrears at most (all that is owed), the rest is credit.
    let first = sale_of(db.run(&estate.remote_sale(10_000), None, &ctx, at()).unwrap());
    assert_eq!((first.arrears_minor, first.fees_minor, first.credit_minor), (1_500, 0, 8_500));
    assert_eq!((first.receipt_no, first.balance_after_minor), (1, 8_500));
    assert!(first.tokens.is_empty());
    let second = sale_of(db.run(&estate.remote_sale(2_000), None, &ctx, at()).unwrap());
    assert_eq!((second.arrears_minor, second.credit_minor, second.receipt_no), (0, 2_000, 2));
    assert_eq!(db.wallet_balance(estate.account_a), Some(10_500));
    let drawer = db.shifts[&estate.shift_a].drawer;
    assert_eq!(db.balance(drawer), Some(12_000));
    assert_eq!(db.vending_points[&estate.point_a].last_receipt_no, 2);
    let t = db.transfers.values().find(|t| t.request.id == first.transfer_id).unwrap();
    assert_eq!(t.request.postings.len(), 3, "cash, arrears, wallet");
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn an_sts_sale_issues_a_token_the_meter_accepts_and_advances_the_tid() {
    let (mut estate, mut db, ctx) = setup();
    let a = sale_of(db.run(&estate.sts_sale(5_000), None, &ctx, at()).unwrap());
    let b = sale_of(db.run(&estate.sts_sale(5_000), None, &ctx, at()).unwrap());
    // 50.00 at the 2026 tier-1 price of the period in force, rounded down to 0.1 kWh.
    assert!(a.quantity_milli > 0 && a.quantity_milli % 100 == 0, "{}", a.quantity_milli);
    assert_eq!(a.paid_minor, a.energy_minor + a.credit_minor + a.arrears_minor + a.fees_minor);
    assert!(a.credit_minor >= 0 && a.credit_minor < 100, "what does not buy 0.1 kWh stays as credit");
    let key = voltvend_sts::VendingKey::from_hex(voltvend_testkit::estate::VENDING_KEY_HEX).unwrap();
    let issuer = voltvend_sts::Issuer::new(&key, estate.sts_record.clone()).unwrap();
    let mut meter = StsMeter::new(issuer.decoder_key(), estate.sts_record.params.clone(), 50);
    let mut tids = Vec::new();
    for sale in [&a, &b] {
        match meter.enter(&sale.tokens[0]).unwrap() {
            Accepted::Credit { tenths, tid, .. } => {
                assert_eq!(i64::try_from(tenths).unwrap() * 100, sale.quantity_milli);
                tids.push(tid.minutes());
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(tids[1], tids[0] + 1, "two tokens in one minute get consecutive TIDs");
    assert_eq!(db.sts[&estate.sts_meter].last_tid.map(|t| t.minutes()), Some(tids[1]));
    // The block position counts the units sold; a re-entered token is refused by the meter.
    let state = &db.pricing[&(estate.account_b, "cn-zhejiang-residential-tou".to_string())];
    assert_eq!(state.block_position_milli, a.quantity_milli + b.quantity_milli);
    assert!(meter.enter(&a.tokens[0]).is_err());
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn readings_debit_the_wallet_trip_the_relay_and_a_sale_closes_it() {
    let (mut estate, mut db, ctx) = setup();
    sale_of(db.run(&estate.remote_sale(8_000), None, &ctx, at()).unwrap());
    let r = estate.readings(&[("2026-11-23T00:00:00Z", 1_000_000), ("2026-11-23T06:00:00Z", 1_100_000)]);
    match db.run(&r, None, &ctx, at()).unwrap() {
        Applied::Committed { outcome: Outcome::Readings(o), .. } => {
            assert_eq!((o.billed, o.charged_minor, o.balance_after_minor, o.relay), (2, 6_000, 2_000, None));
        }
        other => panic!("{other:?}"),
    }
    // The same readings again, in another operation, bill nothing: they are at or before the last billed.
    let again = estate.readings(&[("2026-11-23T06:00:00Z", 1_100_000)]);
    let Applied::Committed { outcome: Outcome::Readings(o), .. } = db.run(&again, None, &ctx, at()).unwrap() else {
        panic!()
    };
    assert_eq!((o.billed, o.skipped, o.charged_minor), (0, 1, 0));
    // 50 kWh more cost 30.00: the wallet's 20.00 and 10.00 of arrears; the relay trips.
    let r = estate.readings(&[("2026-11-23T07:00:00Z", 1_150_000)]);
    let Applied::Committed { outcome: Outcome::Readings(o), .. } = db.run(&r, None, &ctx, at()).unwrap() else {
        panic!()
    };
    assert_eq!((o.charged_minor, o.balance_after_minor, o.relay), (3_000, 0, Some(OutboxKind::RelayTrip)));
    assert_eq!(db.balance(db.accounts[&estate.account_a].arrears), Some(1_000));
    assert_eq!(db.meters[&estate.remote_meter].relay, Relay::Open);
    // A register that went backwards is stored for review and not billed.
    let r = estate.readings(&[("2026-11-23T07:30:00Z", 1_140_000)]);
    let Applied::Committed { outcome: Outcome::Readings(o), .. } = db.run(&r, None, &ctx, at()).unwrap() else {
        panic!()
    };
    assert_eq!((o.flagged, o.charged_minor), (1, 0));
    assert!(db.readings.last().unwrap().note.contains("went backwards"), "{:?}", db.readings.last());
    // A sale recovers 20 % towards the arrears and closes the relay.
    let s = sale_of(db.run(&estate.remote_sale(5_000), None, &ctx, at()).unwrap());
    assert_eq!((s.arrears_minor, s.credit_minor), (1_000, 4_000));
    assert_eq!(db.meters[&estate.remote_meter].relay, Relay::Closed);
    let kinds: Vec<_> = db.outbox.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, vec![OutboxKind::RelayTrip, OutboxKind::RelayClose]);
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn refusals_change_nothing_and_say_why() {
    let (mut estate, mut db, ctx) = setup();
    sale_of(db.run(&estate.remote_sale(5_000), None, &ctx, at()).unwrap());
    let before = db.clone();
    let mut cases: Vec<(Operation, &str)> = Vec::new();
    // Cashier A cannot see account B's premises: it is as if it did not exist.
    let mut other = estate.sts_sale(5_000);
    other.actor = estate.cashier_a();
    cases.push((other, "not_found"));
    // Cashier B selling through cashier A's shift.
    let mut foreign = estate.remote_sale(5_000);
    foreign.actor = Actor::operator(estate.cashier_b, estate.group.id, "x");
    cases.push((foreign, "shift_not_yours"));
    cases.push((estate.remote_sale(0), "amount_not_positive"));
    let mut memo = estate.remote_sale(500);
    if let Command::Sale(s) = &mut memo.command {
        s.reference = "card\u{0}1234".into();
    }
    cases.push((memo, "text_control_character"));
    let mut source = estate.remote_sale(500);
    source.actor.source = "evil\u{1b}[2J".into();
    cases.push((source, "text_control_character"));
    // Reversing something that does not exist, or without a reason.
    cases
        .push((estate.reverse(Actor::system("t"), TransferId::from_uuid(uuid::Uuid::from_u128(77)), "x"), "not_found"));
    let first = db.sales[0].transfer_id;
    cases.push((estate.reverse(Actor::system("t"), first, "  "), "text_empty"));
    for (op, expect) in cases {
        assert_eq!(code(db.run(&op, None, &ctx, at())), expect, "{:?}", op.command);
        assert!(db == before, "a refused {} changed the database", op.command.kind());
    }

    // Refusals because of the account's or meter's state, after the money was taken: the sale is refused, the
    // payment kept as owed back (a record and a transfer into refunds), nothing else changes.
    let mut kept: Vec<(Operation, &str)> = Vec::new();
    let mut small = estate.remote_sale(99);
    small.actor = estate.cashier_a();
    kept.push((small, "below_minimum_purchase"));
    kept.push((estate.remote_sale(1_000_000), "hoarding_limit"));
    let mut fees = estate.remote_sale(500);
    if let Command::Sale(s) = &mut fees.command {
        s.fees_minor = 600;
    }
    kept.push((fees, "payment_below_fees"));
    let mut wrong_meter = estate.remote_sale(500);
    if let Command::Sale(s) = &mut wrong_meter.command {
        s.meter_id = estate.sts_meter;
    }
    kept.push((wrong_meter, "meter_not_on_account"));
    for (op, expect) in kept {
        let mut db = before.clone();
        let Applied::Committed { outcome: Outcome::PaymentRefused { payment, code, .. }, .. } =
            db.run(&op, None, &ctx, at()).unwrap()
        else {
            panic!("{expect}: not kept as a refused payment")
        };
        assert_eq!((code, payment.reason_code.as_str()), (expect, expect));
        let Command::Sale(s) = &op.command else { panic!() };
        let paid = match s.amount {
            voltvend_ops::SaleAmount::Paid(p) => p,
            voltvend_ops::SaleAmount::Quantity(_) => unreachable!(),
        };
        assert_eq!(payment.paid_minor, paid);
        assert_eq!(db.refused_payments.len(), 1);
        assert_eq!((db.sales.len(), db.wallet_balance(estate.account_a)), (before.sales.len(), Some(5_000)));
        assert_eq!(db.balance(db.books[&estate.books].refunds), Some(paid), "owed back to the customer");
        assert_eq!(db.vending_points[&estate.point_a].last_receipt_no, 1, "no receipt for a refused sale");
        assert_eq!(db.check(), Vec::<String>::new());
    }
}

#[test]
fn a_retry_returns_the_saved_response_and_a_changed_retry_is_refused() {
    let (mut estate, mut db, ctx) = setup();
    let render = |o: &Outcome| match o {
        Outcome::Sale(s) => format!("receipt {} balance {}", s.receipt_no, s.balance_after_minor).into_bytes(),
        _ => b"other".to_vec(),
    };
    let op = estate.remote_sale(3_000);
    let first = db.run(&op, Some(&render), &ctx, at()).unwrap();
    assert_eq!(first.response(), Some(&b"receipt 1 balance 3000"[..]));
    let later: Timestamp = "2026-11-24T08:00:00Z".parse().unwrap();
    let again = db.run(&op, Some(&render), &ctx, later).unwrap();
    assert!(again.is_replay());
    assert_eq!(again.response(), first.response(), "byte for byte");
    let Applied::Replayed { at: when, kind, .. } = &again else { panic!() };
    assert_eq!((*when, kind.as_str()), (at(), "sale"));
    let mut changed = op.clone();
    if let Command::Sale(s) = &mut changed.command {
        s.amount = voltvend_ops::SaleAmount::Paid(3_001);
    }
    assert_eq!(code(db.run(&changed, None, &ctx, at())), "idempotency_conflict");
    assert_eq!((db.sales.len(), db.wallet_balance(estate.account_a)), (1, Some(3_000)));
    assert_eq!(db.vending_points[&estate.point_a].last_receipt_no, 1, "no receipt number spent on a retry");
}

#[test]
fn a_sale_is_reversed_once_and_may_be_reallocated() {
    let (mut estate, mut db, ctx) = setup();
    let sale = sale_of(db.run(&estate.remote_sale(4_000), None, &ctx, at()).unwrap());
    // Cashier B cannot reverse a sale of building A.
    let op = estate.reverse(estate.cashier_b(), sale.transfer_id, "wrong customer");
    assert_eq!(code(db.run(&op, None, &ctx, at())), "not_found");
    // Re-allocated to account A's meter again with another amount split: a reversal plus a sale, linked.
    let mut op = estate.reverse(estate.cashier_a(), sale.transfer_id, "keyed 40.00 instead of 4.00");
    if let Command::Reverse(r) = &mut op.command {
        r.reallocate = Some(estate.sale_a(400));
    }
    let Applied::Committed { outcome: Outcome::Reversed { correction, sale: Some(new) }, .. } =
        db.run(&op, None, &ctx, at()).unwrap()
    else {
        panic!()
    };
    assert_eq!(correction.request.corrects, Some(sale.transfer_id));
    assert_eq!((new.reallocated_from, new.receipt_no, new.balance_after_minor), (Some(sale.transfer_id), 2, 400));
    // A second reversal, and a reversal of the reversal, are refused.
    let op = estate.reverse(Actor::system("t"), sale.transfer_id, "again");
    assert_eq!(code(db.run(&op, None, &ctx, at())), "already_reversed");
    let op = estate.reverse(Actor::system("t"), correction.request.id, "undo");
    assert_eq!(code(db.run(&op, None, &ctx, at())), "reversal_of_reversal");
    // A partial reversal of more than a line holds.
    let mut op = estate.reverse(Actor::system("t"), new.transfer_id, "part");
    let drawer = db.shifts[&estate.shift_a].drawer;
    let wallet = db.accounts[&estate.account_a].wallet;
    if let Command::Reverse(r) = &mut op.command {
        r.lines = Some(vec![
            Posting { account: wallet, side: Side::Debit, amount_minor: 401 },
            Posting { account: drawer, side: Side::Credit, amount_minor: 401 },
        ]);
    }
    assert_eq!(code(db.run(&op, None, &ctx, at())), "reversal_exceeds_original");
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn closing_a_shift_books_the_cash_variance() {
    let (mut estate, mut db, ctx) = setup();
    sale_of(db.run(&estate.remote_sale(2_500), None, &ctx, at()).unwrap());
    // Float 100.00 plus 25.00 taken; the cashier counts 124.50.
    let Applied::Committed { outcome: Outcome::ShiftClosed { expected_minor, variance_minor, .. }, .. } =
        db.run(&estate.close_shift_a(12_450), None, &ctx, at()).unwrap()
    else {
        panic!()
    };
    assert_eq!((expected_minor, variance_minor), (12_500, -50));
    assert_eq!(db.balance(db.books[&estate.books].cash_variance), Some(50));
    assert_eq!(code(db.run(&estate.remote_sale(1_000), None, &ctx, at())), "shift_closed");
    assert_eq!(code(db.run(&estate.close_shift_a(0), None, &ctx, at())), "shift_closed");
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn the_audit_chain_covers_every_operation_and_detects_an_edit() {
    let (mut estate, mut db, ctx) = setup();
    sale_of(db.run(&estate.remote_sale(2_500), None, &ctx, at()).unwrap());
    let last = db.audit.last().unwrap().clone();
    assert_eq!((last.action.as_str(), last.operator_id), ("sale", Some(estate.cashier_a)));
    assert_eq!(last.source, "10.0.0.1");
    assert!(last.after.contains("balance=2500"), "{}", last.after);
    let mut tampered = db.clone();
    tampered.audit[3].after.push('!');
    assert!(tampered.check().iter().any(|p| p.contains("altered")));
}

#[test]
fn setup_refusals_say_why() {
    use voltvend_domain::{
        AccountId, ControlMode, CtVtRatio, Currency, Customer, CustomerId, Meter, MeterId, MeterProtocol, PremisesId,
        PremisesLevel, Utility,
    };
    use voltvend_ops::{CustomerRef, ImportTariff, MeterBinding, OpenAccount};
    let (mut estate, mut db, ctx) = setup();
    let before = db.clone();
    let store = estate.property.id;
    let meter = |protocol, control, address: &str, utility| {
        let mut m = Meter::receive(
            MeterId::from_uuid(uuid::Uuid::from_u128(900)),
            "NEW-1",
            utility,
            control,
            protocol,
            address,
            CtVtRatio::DIRECT,
        )
        .unwrap();
        m.premises_id = Some(store);
        m
    };
    let (unit_a, books) = (estate.unit_a.id, estate.books);
    let open = move |meter_id, tariff: Option<&str>, sts| OpenAccount {
        customer: CustomerRef::New(
            Customer::new(CustomerId::from_uuid(uuid::Uuid::from_u128(901)), unit_a, "Zhao Min", None).unwrap(),
        ),
        account_id: AccountId::from_uuid(uuid::Uuid::from_u128(902)),
        premises_id: unit_a,
        currency: Currency::CNY,
        books_id: books,
        overdraft_limit_minor: 0,
        recovery: voltvend_domain::tariff::inverse::ArrearsRecovery::None,
        min_purchase_minor: 0,
        max_balance_minor: None,
        meters: vec![MeterBinding {
            meter_id,
            receive: None,
            tariff_code: tariff.map(str::to_string),
            sts,
            opg: None,
            max_credit_minor: None,
        }],
        first_sale: None,
    };
    let mut cases: Vec<(Operation, &str)> = vec![
        // A keypad meter is local; a DL/T 645 meter remote.
        (
            estate.system(Command::ReceiveMeter(meter(
                MeterProtocol::StsKeypad,
                ControlMode::Remote,
                "01234567891",
                Utility::Electricity,
            ))),
            "meter_mode_protocol",
        ),
        // The estate's meters are bound already.
        (estate.system(Command::OpenAccount(open(estate.remote_meter, Some("test-flat"), None))), "meter_in_use"),
        (
            estate.system(Command::ImportTariff(ImportTariff {
                code: "x".into(),
                name: "x".into(),
                document: "not a tariff".into(),
            })),
            "tariff_invalid",
        ),
        (
            estate.system(Command::ImportTariff(ImportTariff {
                code: "other-code".into(),
                name: "Test flat 0.60".into(),
                document: voltvend_testkit::estate::FLAT_TARIFF.into(),
            })),
            "tariff_document_mismatch",
        ),
    ];
    // A child premises in another time zone, and a cashier of building A building under building B.
    let mut child = estate
        .building_a
        .new_child(PremisesId::from_uuid(uuid::Uuid::from_u128(903)), PremisesLevel::Unit, "A-102")
        .unwrap();
    child.time_zone = "Europe/Berlin".into();
    cases.push((estate.system(Command::CreatePremises(child)), "premises_time_zone"));
    let elsewhere = estate
        .building_b
        .new_child(PremisesId::from_uuid(uuid::Uuid::from_u128(904)), PremisesLevel::Unit, "B-102")
        .unwrap();
    cases.push((Operation::new(estate.next_op(), estate.cashier_a(), Command::CreatePremises(elsewhere)), "not_found"));
    for (op, expect) in cases {
        assert_eq!(code(db.run(&op, None, &ctx, at())), expect, "{:?}", op.command);
        assert!(db == before, "a refused {} changed the database", op.command.kind());
    }

    // A new remote meter: a water tariff does not fit it, and it needs one at all.
    let remote = meter(MeterProtocol::Dlt645, ControlMode::Remote, "000000000999", Utility::Electricity);
    db.run(&estate.system(Command::ReceiveMeter(remote.clone())), None, &ctx, at()).unwrap();
    let water_tariff = include_str!("../../../../tariffs/cn-beijing-residential-water.toml");
    let import = ImportTariff {
        code: "cn-beijing-residential-water".into(),
        name: "Beijing residential water, annual tiers".into(),
        document: water_tariff.into(),
    };
    db.run(&estate.system(Command::ImportTariff(import)), None, &ctx, at()).unwrap();
    let after_setup = db.clone();
    let wrong_utility =
        estate.system(Command::OpenAccount(open(remote.id, Some("cn-beijing-residential-water"), None)));
    assert_eq!(code(db.run(&wrong_utility, None, &ctx, at())), "tariff_mismatch");
    let no_tariff = estate.system(Command::OpenAccount(open(remote.id, None, None)));
    assert_eq!(code(db.run(&no_tariff, None, &ctx, at())), "tariff_required");
    let not_keypad =
        estate.system(Command::OpenAccount(open(remote.id, Some("test-flat"), Some(estate.sts_record.clone()))));
    assert_eq!(code(db.run(&not_keypad, None, &ctx, at())), "sts_not_keypad");
    assert!(db == after_setup);
    let ok = estate.system(Command::OpenAccount(open(remote.id, Some("test-flat"), None)));
    db.run(&ok, None, &ctx, at()).unwrap();
    assert_eq!(db.check(), Vec::<String>::new());
}

/// Readings of the remote meter with the limits a DL/T 645 reader gives.
fn limited(estate: &mut Estate, points: &[(&str, i64)], limits: ReadingLimits) -> Operation {
    let mut op = estate.readings(points);
    if let Command::ApplyReadings(r) = &mut op.command {
        r.limits = limits;
    }
    op
}

fn readings_of(applied: Applied) -> voltvend_ops::ReadingsOutcome {
    match applied {
        Applied::Committed { outcome: Outcome::Readings(o), .. } => o,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rollover_is_billed_across_the_wrap_and_a_lie_or_an_impossible_jump_is_flagged() {
    let (mut estate, mut db, ctx) = setup();
    sale_of(db.run(&estate.remote_sale(20_000), None, &ctx, at()).unwrap());
    // DL/T 645 registers wrap at 999 999.99 kWh; the supply carries at most 60 kW.
    let limits = ReadingLimits { register_wrap: Some(1_000_000_000), max_power_w: Some(60_000) };
    let r = limited(&mut estate, &[("2026-11-23T00:00:00Z", 999_990_000)], limits);
    assert_eq!(readings_of(db.run(&r, None, &ctx, at()).unwrap()).billed, 1);
    // 10 kWh to the end of the register and 5 kWh after it: 15 kWh at 0.60 = 9.00.
    let r = limited(&mut estate, &[("2026-11-23T01:00:00Z", 5_000)], limits);
    let o = readings_of(db.run(&r, None, &ctx, at()).unwrap());
    assert_eq!((o.billed, o.flagged, o.charged_minor), (1, 0, 900));
    // Billing goes on from the wrapped register: 1 kWh more is 0.60.
    let r = limited(&mut estate, &[("2026-11-23T02:00:00Z", 6_000)], limits);
    assert_eq!(readings_of(db.run(&r, None, &ctx, at()).unwrap()).charged_minor, 60);
    // 61 kWh in an hour is more than 60 kW can carry: flagged, not billed, and the next good reading is billed
    // from the last good one.
    let r = limited(&mut estate, &[("2026-11-23T03:00:00Z", 67_000)], limits);
    let o = readings_of(db.run(&r, None, &ctx, at()).unwrap());
    assert_eq!((o.billed, o.flagged, o.charged_minor), (0, 1, 0));
    assert!(db.readings.last().unwrap().note.contains("60000 W"), "{:?}", db.readings.last());
    let r = limited(&mut estate, &[("2026-11-23T04:00:00Z", 16_000)], limits);
    assert_eq!(readings_of(db.run(&r, None, &ctx, at()).unwrap()).charged_minor, 600);
    // A register back near zero from the middle of its range is no rollover (it would be 999 990 kWh in an
    // hour): a meter that lies, flagged.
    let r = limited(&mut estate, &[("2026-11-23T05:00:00Z", 10_000)], limits);
    let o = readings_of(db.run(&r, None, &ctx, at()).unwrap());
    assert_eq!((o.billed, o.flagged), (0, 1));
    assert!(db.readings.last().unwrap().note.contains("went backwards"), "{:?}", db.readings.last());
    // Without a known register range no decrease is a rollover.
    let r = limited(&mut estate, &[("2026-11-23T06:00:00Z", 15_000)], ReadingLimits::default());
    assert_eq!(readings_of(db.run(&r, None, &ctx, at()).unwrap()).flagged, 1);
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn low_balance_alarms_are_told_once_as_the_balance_goes_below_each_level() {
    let (mut estate, mut db, ctx) = setup();
    let document =
        format!("{}\n[alarms]\nlevel_1 = \"20.00\"\nlevel_2 = \"5.00\"\n", voltvend_testkit::estate::FLAT_TARIFF);
    let import = estate.system(Command::ImportTariff(voltvend_ops::ImportTariff {
        code: "test-flat".into(),
        name: "Test flat 0.60".into(),
        document,
    }));
    db.run(&import, None, &ctx, at()).unwrap();
    sale_of(db.run(&estate.remote_sale(5_000), None, &ctx, at()).unwrap());
    let kinds = |db: &MemoryDb| db.outbox.iter().map(|o| o.kind).collect::<Vec<_>>();
    let r = estate.readings(&[("2026-11-23T00:00:00Z", 1_000_000), ("2026-11-23T01:00:00Z", 1_040_000)]);
    // 40 kWh: 50.00 → 26.00, above level 1.
    assert_eq!(readings_of(db.run(&r, None, &ctx, at()).unwrap()).balance_after_minor, 2_600);
    assert!(kinds(&db).is_empty());
    // 10 kWh: 26.00 → 20.00 is not below level 1; 1 kWh more is.
    let r = estate.readings(&[("2026-11-23T02:00:00Z", 1_050_000)]);
    db.run(&r, None, &ctx, at()).unwrap();
    assert!(kinds(&db).is_empty());
    let r = estate.readings(&[("2026-11-23T03:00:00Z", 1_051_000)]);
    db.run(&r, None, &ctx, at()).unwrap();
    assert_eq!(kinds(&db), [OutboxKind::LowBalance1]);
    // Below level 1 still: not told again. Then past level 2 and out of credit in one reading: both told.
    let r = estate.readings(&[("2026-11-23T04:00:00Z", 1_052_000)]);
    db.run(&r, None, &ctx, at()).unwrap();
    assert_eq!(kinds(&db), [OutboxKind::LowBalance1]);
    let r = estate.readings(&[("2026-11-23T05:00:00Z", 1_100_000)]);
    db.run(&r, None, &ctx, at()).unwrap();
    assert_eq!(kinds(&db), [OutboxKind::LowBalance1, OutboxKind::RelayTrip, OutboxKind::LowBalance2]);
    // A sale restores the credit: the relay closes, and the alarms may be told again next time.
    sale_of(db.run(&estate.remote_sale(10_000), None, &ctx, at()).unwrap());
    assert_eq!(kinds(&db).last(), Some(&OutboxKind::RelayClose));
    assert_eq!(db.check(), Vec::<String>::new());
}

/// Emergency credit (应急透支) is the account's agreed overdraft: when the credit is used up the supply stays
/// on, the customer is told once, the trip comes when the overdraft is used up too, and the next sale pays the
/// negative balance back before anything else reaches the wallet.
#[test]
fn emergency_credit_keeps_the_supply_on_down_to_the_overdraft_and_is_paid_back_first() {
    let mut estate = Estate::new(1);
    let mut db = MemoryDb::new();
    let ctx = ctx();
    for op in &estate.setup {
        let mut op = op.clone();
        if let Command::OpenAccount(o) = &mut op.command
            && o.account_id == estate.account_a
        {
            o.overdraft_limit_minor = 1_000;
        }
        db.run(&op, None, &ctx, at()).unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let kinds = |db: &MemoryDb| db.outbox.iter().map(|o| o.kind).collect::<Vec<_>>();
    sale_of(db.run(&estate.remote_sale(500), None, &ctx, at()).unwrap());
    // 10 kWh at 0.60 = 6.00 against 5.00: the balance is −1.00, within the 10.00 overdraft; the supply stays on.
    let r = estate.readings(&[("2026-11-23T00:00:00Z", 1_000_000), ("2026-11-23T01:00:00Z", 1_010_000)]);
    assert_eq!(readings_of(db.run(&r, None, &ctx, at()).unwrap()).balance_after_minor, -100);
    assert_eq!(kinds(&db), [OutboxKind::EmergencyCredit]);
    // 6.00 more: −7.00, still on, not told again.
    let r = estate.readings(&[("2026-11-23T02:00:00Z", 1_020_000)]);
    assert_eq!(readings_of(db.run(&r, None, &ctx, at()).unwrap()).balance_after_minor, -700);
    assert_eq!(kinds(&db), [OutboxKind::EmergencyCredit]);
    // 6.00 more: 3.00 of overdraft left, the other 3.00 becomes arrears; the overdraft is used up: trip.
    let r = estate.readings(&[("2026-11-23T03:00:00Z", 1_030_000)]);
    assert_eq!(readings_of(db.run(&r, None, &ctx, at()).unwrap()).balance_after_minor, -1_000);
    assert_eq!(kinds(&db), [OutboxKind::EmergencyCredit, OutboxKind::RelayTrip]);
    // 20.00: 20 % recovers the 3.00 of arrears, the 17.00 left repays the 10.00 first: 7.00 credit, supply on.
    sale_of(db.run(&estate.remote_sale(2_000), None, &ctx, at()).unwrap());
    let wallet = db.accounts[&estate.account_a].wallet;
    assert_eq!(db.balance(wallet), Some(700));
    assert_eq!(kinds(&db), [OutboxKind::EmergencyCredit, OutboxKind::RelayTrip, OutboxKind::RelayClose]);
    assert_eq!(db.check(), Vec::<String>::new());
}

/// A rebase onto a reading: refused before any billed reading, for a reading not after the last billed one and
/// for registers that are not the meter's; accepted, billing goes on from it and the interval before is not
/// billed — all audited, nothing else changed.
#[test]
fn a_rebase_goes_on_from_the_reading_and_refuses_what_does_not_fit() {
    use voltvend_domain::tariff::pricing::{Reading, Registers};
    let (mut estate, mut db, ctx) = setup();
    sale_of(db.run(&estate.remote_sale(5_000), None, &ctx, at()).unwrap());
    let reading = |at: &str, registers| Reading { at: at.parse().unwrap(), registers };
    let rebase = |estate: &mut Estate, r: Reading| {
        let command = Command::RebaseReadings(voltvend_ops::RebaseReadings {
            meter_id: estate.remote_meter,
            reading: r,
            reason: "meter reset".into(),
            bill: false,
        });
        estate.system(command)
    };
    let op = rebase(&mut estate, reading("2026-11-23T01:00:00Z", Registers::Total(1_000)));
    assert_eq!(code(db.run(&op, None, &ctx, at())), "no_billed_reading");
    let r = estate.readings(&[("2026-11-23T00:00:00Z", 2_000_000), ("2026-11-23T01:00:00Z", 1_000)]);
    assert_eq!(readings_of(db.run(&r, None, &ctx, at()).unwrap()).flagged, 1);
    let op = rebase(&mut estate, reading("2026-11-23T00:00:00Z", Registers::Total(1_000)));
    assert_eq!(code(db.run(&op, None, &ctx, at())), "reading_not_newer");
    let op = rebase(&mut estate, reading("2026-11-23T01:00:00Z", Registers::PerPeriod(vec![("peak".into(), 1_000)])));
    assert_eq!(code(db.run(&op, None, &ctx, at())), "registers_mismatch");
    let op = rebase(&mut estate, reading("2026-11-23T01:00:00Z", Registers::Total(1_000)));
    assert_eq!(code(db.run(&op, None, &ctx, at())), "ok");
    // 10 kWh after the reset: 6.00, nothing for the interval before it.
    let r = estate.readings(&[("2026-11-23T02:00:00Z", 11_000)]);
    let o = readings_of(db.run(&r, None, &ctx, at()).unwrap());
    assert_eq!((o.billed, o.charged_minor, o.balance_after_minor), (1, 600, 4_400));
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn a_correction_waits_for_a_second_operator_applies_once_and_expires() {
    use voltvend_domain::{ApprovalId, Operator, OperatorId};
    use voltvend_ops::{Correction, CorrectionKind, DecideCorrection, RequestCorrection};
    let (mut estate, mut db, ctx) = setup();
    // The remote meter shows its balance: the reversal must put it right there too.
    let show = Command::SetMeterChannel(voltvend_ops::SetMeterChannel {
        meter_id: estate.remote_meter,
        channel: Some("dlt645+tcp://10.0.0.5:8001".parse().unwrap()),
        shows_credit: true,
    });
    db.run(&estate.system(show), None, &ctx, at()).unwrap();
    let sale = sale_of(db.run(&estate.remote_sale(4_000), None, &ctx, at()).unwrap());
    let manager = OperatorId::from_uuid(uuid::Uuid::from_u128(0x3A_7A6E));
    let hash = voltvend_testkit::estate::PASSWORD_HASH;
    let add = Operator::new(manager, "manager.a", "Manager A", "manager", estate.building_a.id, hash);
    db.run(&estate.system(Command::AddOperator(add)), None, &ctx, at()).unwrap();
    let manager = Actor::operator(manager, estate.building_a.id, "10.0.0.9");
    let ask = |estate: &mut Estate, n: u128, kind, sale_id| {
        let correction = Correction {
            kind,
            sale: sale_id,
            account_id: (kind == CorrectionKind::Adjust).then_some(estate.account_a),
            meter_id: None,
            shift_id: None,
            amount_minor: if kind == CorrectionKind::Adjust { 100 } else { 0 },
            fee_payment: None,
            charge: None,
        };
        let id = ApprovalId::from_uuid(uuid::Uuid::from_u128(0xA990 + n));
        let command = Command::RequestCorrection(RequestCorrection {
            approval_id: id,
            correction,
            reason: "keyed for the wrong customer".into(),
            expires_in: RequestCorrection::EXPIRES_IN_DEFAULT,
        });
        (id, Operation::new(estate.next_op(), estate.cashier_a(), command))
    };
    let decide = |estate: &mut Estate, actor: Actor, id, approve| {
        let command = Command::DecideCorrection(DecideCorrection { approval_id: id, approve, note: "ok".into() });
        Operation::new(estate.next_op(), actor, command)
    };
    let (id, request) = ask(&mut estate, 1, CorrectionKind::ReverseSale, Some(sale.operation_id));
    db.run(&request, None, &ctx, at()).unwrap();
    assert_eq!(db.wallet_balance(estate.account_a), Some(4_000), "a request applies nothing");
    let (cashier_a, cashier_b) = (estate.cashier_a(), estate.cashier_b());
    let own = decide(&mut estate, cashier_a, id, true);
    assert_eq!(code(db.run(&own, None, &ctx, at())), "same_operator");
    let other_building = decide(&mut estate, cashier_b, id, true);
    assert_eq!(code(db.run(&other_building, None, &ctx, at())), "not_found");
    let approve = decide(&mut estate, manager.clone(), id, true);
    let Applied::Committed { outcome: Outcome::Approval(done), .. } = db.run(&approve, None, &ctx, at()).unwrap()
    else {
        panic!()
    };
    assert_eq!(db.wallet_balance(estate.account_a), Some(0));
    let shown: Vec<_> = db.controls[&estate.remote_meter].pending.iter().map(|id| &db.commands[id]).collect();
    assert_eq!(
        shown.iter().map(|c| (c.kind, c.value.as_str())).collect::<Vec<_>>(),
        [(voltvend_ops::CommandKind::WriteBalance, "0")],
        "the display is told the reversed balance (superseding the sale's 40.00)"
    );
    let owed = &db.refused_payments[&approve.id];
    assert_eq!((owed.reason_code.as_str(), owed.paid_minor, done.result), ("sale_reversed", 4_000, Some(approve.id)));
    let again = decide(&mut estate, manager.clone(), id, true);
    assert_eq!(code(db.run(&again, None, &ctx, at())), "already_decided");
    // An adjustment of 1.00, approved: the wallet and the meter's display both show it.
    let (credit, request) = ask(&mut estate, 3, CorrectionKind::Adjust, None);
    db.run(&request, None, &ctx, at()).unwrap();
    db.run(&decide(&mut estate, manager.clone(), credit, true), None, &ctx, at()).unwrap();
    assert_eq!(db.wallet_balance(estate.account_a), Some(100));
    let shown: Vec<_> =
        db.controls[&estate.remote_meter].pending.iter().map(|id| db.commands[id].value.clone()).collect();
    assert_eq!(shown, ["100"], "the adjusted balance supersedes the reversed one on the display");
    // Undecided for longer than it may wait: expired, and nothing is applied.
    let (late, request) = ask(&mut estate, 2, CorrectionKind::Adjust, None);
    db.run(&request, None, &ctx, at()).unwrap();
    let after = at().checked_add(RequestCorrection::EXPIRES_IN_DEFAULT).unwrap();
    let approve = decide(&mut estate, manager, late, true);
    assert_eq!(code(db.run(&approve, None, &ctx, after)), "approval_expired");
    assert_eq!(db.wallet_balance(estate.account_a), Some(100));
    assert_eq!(db.check(), Vec::<String>::new());
}
