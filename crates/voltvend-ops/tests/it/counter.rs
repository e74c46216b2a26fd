//! The counter's operations against the in-memory model: purchases by quantity, OpenPAYGO devices, management
//! tokens, refused payments and their refunds, reprints, vending-point credit limits, logins and tokens, keys
//! at rest and their rotation.

use jiff::Timestamp;
use uuid::Uuid;
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::{
    AccountId, ApiTokenId, ControlMode, CtVtRatio, Currency, Customer, CustomerId, CustomerKind, IdDocument,
    IdDocumentKind, Meter, MeterId, MeterProtocol, Operator, OperatorId, Permission, Role, Utility,
};
use voltvend_ops::memory::MemoryDb;
use voltvend_ops::{
    Actor, ApiTokenRecord, Applied, ChangePassword, Command, Context, CustomerRef, IssueOpgToken, IssueStsTokens,
    LoginAttempt, Logout, LogoutEverywhere, MasterKey, MasterKeys, MeterBinding, OpError, OpenAccount, OpenShift,
    OpenVendingPoint, Operation, OpgBinding, OpgManagement, OpgUnit, OutboxKind, Outcome, PaymentMethod, ReceiptFormat,
    RecordLogin, RefundRefusedPayment, ReprintReceipt, Rewrap, RewrapSecrets, Sale, SaleAmount, SaleRecord,
    SessionRecord, SettleVendingPoint, StsManagement, UnlockOperator,
};
use voltvend_sts::openpaygo::{OpgDecoder, OpgDevice, OpgKind};
use voltvend_sts::{Accepted, KeyChange, StsMeter, VendingKey};
use voltvend_testkit::estate::{Estate, PASSWORD_HASH, SUPPLY_GROUP, VENDING_KEY_HEX};

fn at() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

fn setup() -> (Estate, MemoryDb, Context) {
    let estate = Estate::new(2);
    let mut db = MemoryDb::new();
    let ctx = Estate::context();
    for op in &estate.setup {
        db.run(op, None, &ctx, at()).unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    (estate, db, ctx)
}

fn outcome(r: Result<Applied, OpError>) -> Outcome {
    match r {
        Ok(Applied::Committed { outcome, .. }) => outcome,
        other => panic!("not committed: {other:?}"),
    }
}

fn sale_of(r: Result<Applied, OpError>) -> SaleRecord {
    match outcome(r) {
        Outcome::Sale(s) => s,
        other => panic!("not a sale: {other:?}"),
    }
}

fn code(r: Result<Applied, OpError>) -> &'static str {
    match r {
        Err(e) => e.code(),
        Ok(Applied::Committed { outcome: Outcome::PaymentRefused { code, .. }, .. }) => code,
        Ok(_) => "ok",
    }
}

const OPG_KEY: &str = "a29ab82edc5fbbc41ec9530f6dac86b1";
const OPG_START: u64 = 123_456_789;

/// Opens an account in A-101 with a new OpenPAYGO device received in the same operation and a first sale.
fn open_opg(
    estate: &mut Estate,
    db: &mut MemoryDb,
    ctx: &Context,
    first_paid: Option<i64>,
) -> (AccountId, MeterId, Result<Applied, OpError>) {
    let meter_id = MeterId::from_uuid(Uuid::from_u128(0x0F0F_0001));
    let account_id = AccountId::from_uuid(Uuid::from_u128(0x0F0F_0002));
    let mut device = Meter::receive(
        meter_id,
        "SHS-0001",
        Utility::Electricity,
        ControlMode::Local,
        MeterProtocol::OpenPaygo,
        "SHS0001",
        CtVtRatio::DIRECT,
    )
    .unwrap();
    device.premises_id = Some(estate.unit_a.id);
    let customer = Customer::file(
        CustomerId::from_uuid(Uuid::from_u128(0x0F0F_0003)),
        estate.unit_a.id,
        CustomerKind::Company,
        "Sunrise Kiosk 日出小卖部",
        Some(IdDocument { kind: IdDocumentKind::BusinessLicence, number: "91330100MA00000001".into() }),
        &["+86 138 0000 0001", "0571-8888-0000"],
        Some("kiosk@example.com"),
    )
    .unwrap();
    let first_sale = first_paid.map(|p| Sale::paid(account_id, meter_id, estate.shift_a, PaymentMethod::Cash, p));
    let open = OpenAccount {
        customer: CustomerRef::New(customer),
        account_id,
        premises_id: estate.unit_a.id,
        currency: Currency::CNY,
        books_id: estate.books,
        overdraft_limit_minor: 0,
        recovery: ArrearsRecovery::None,
        min_purchase_minor: 100,
        max_balance_minor: None,
        meters: vec![MeterBinding {
            meter_id,
            receive: Some(device),
            tariff_code: None,
            sts: None,
            opg: Some(OpgBinding {
                secret_sealed: Estate::sealed_opg_secret(meter_id, OPG_KEY),
                starting_code: OPG_START,
                extended: false,
                restricted: false,
                unit: OpgUnit::Day,
                price_minor_per_unit: 250,
            }),
            max_credit_minor: None,
        }],
        first_sale,
    };
    let op = Operation::new(estate.next_op(), estate.cashier_a(), Command::OpenAccount(open));
    let r = db.run(&op, None, ctx, at());
    (account_id, meter_id, r)
}

#[test]
fn an_openpaygo_device_is_opened_sold_and_managed_in_operations_the_device_accepts() {
    let (mut estate, mut db, ctx) = setup();
    let before = db.clone();
    // A first sale that cannot be made (below the minimum) refuses the whole opening: nothing is created.
    let (_, _, refused) = open_opg(&mut estate, &mut db, &ctx, Some(99));
    assert_eq!(code(refused), "below_minimum_purchase");
    assert!(db == before, "an opening is all or nothing");

    let (account, meter, opened) = open_opg(&mut estate, &mut db, &ctx, Some(1_000));
    let Outcome::AccountOpened { first_sale: Some(first), .. } = outcome(opened) else { panic!() };
    // 10.00 at 2.50 a day: four days, nothing left over.
    assert_eq!((first.quantity_milli, first.energy_minor, first.credit_minor), (4_000, 1_000, 0));
    assert_eq!(db.customers.values().filter(|c| c.kind == CustomerKind::Company).count(), 1);
    let mut decoder = OpgDecoder::new(OpgDevice::from_hex(OPG_KEY, Some(OPG_START)).unwrap(), 0, false);
    assert_eq!(decoder.enter(&first.tokens[0]).unwrap().kind, OpgKind::AddTime(4));

    // 11.00 buys four days again, the rest (1.00) stays as wallet credit; by quantity, ten days cost 25.00.
    let shift_a = estate.shift_a;
    let sale = |amount| Command::Sale(Sale { amount, ..Sale::paid(account, meter, shift_a, PaymentMethod::Cash, 1) });
    let second = sale_of(db.run(
        &Operation::new(estate.next_op(), estate.cashier_a(), sale(SaleAmount::Paid(1_100))),
        None,
        &ctx,
        at(),
    ));
    assert_eq!((second.quantity_milli, second.credit_minor), (4_000, 100));
    let third = sale_of(db.run(
        &Operation::new(estate.next_op(), estate.cashier_a(), sale(SaleAmount::Quantity(10_000))),
        None,
        &ctx,
        at(),
    ));
    assert_eq!((third.paid_minor, third.quantity_milli), (2_500, 10_000));
    for (s, days) in [(&second, 4), (&third, 10)] {
        assert_eq!(decoder.enter(&s.tokens[0]).unwrap().kind, OpgKind::AddTime(days));
    }
    assert_eq!(
        code(db.run(
            &Operation::new(estate.next_op(), estate.cashier_a(), sale(SaleAmount::Quantity(1_500))),
            None,
            &ctx,
            at()
        )),
        "bad_quantity"
    );
    assert_eq!(
        code(db.run(
            &Operation::new(estate.next_op(), estate.cashier_a(), sale(SaleAmount::Paid(1_000_000))),
            None,
            &ctx,
            at()
        )),
        "openpaygo_value_too_large"
    );

    // Management tokens take the next counts too, and are recorded.
    let manage =
        |request| Command::IssueOpgToken(IssueOpgToken { meter_id: meter, request, reason: "customer moved".into() });
    let Outcome::Tokens(set) = outcome(db.run(
        &Operation::new(estate.next_op(), estate.cashier_a(), manage(OpgManagement::SetTime { units: 2 })),
        None,
        &ctx,
        at(),
    )) else {
        panic!()
    };
    assert_eq!(decoder.enter(&set.tokens[0]).unwrap().kind, OpgKind::SetTime(2));
    let Outcome::Tokens(unlock) = outcome(db.run(
        &Operation::new(estate.next_op(), estate.cashier_a(), manage(OpgManagement::DisablePayg)),
        None,
        &ctx,
        at(),
    )) else {
        panic!()
    };
    assert_eq!(decoder.enter(&unlock.tokens[0]).unwrap().kind, OpgKind::DisablePayg);
    assert_eq!(db.meter_tokens.len(), 2);
    assert_eq!(db.opg[&meter].last_count, decoder.last_count());
    // Cashier B does not see building A's device.
    let op = Operation::new(estate.next_op(), estate.cashier_b(), manage(OpgManagement::CounterSync));
    assert_eq!(code(db.run(&op, None, &ctx, at())), "not_found");
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn a_purchase_by_quantity_costs_what_the_quote_said_or_is_refused_and_kept() {
    let (mut estate, mut db, ctx) = setup();
    // Remote meter on the flat 0.60 tariff, 20 % of each payment to arrears (none owed yet): 100 kWh = 60.00.
    let remote = Sale { amount: SaleAmount::Quantity(100_000), ..estate.sale_a(1) };
    let s = sale_of(db.run(
        &Operation::new(estate.next_op(), estate.cashier_a(), Command::Sale(remote.clone())),
        None,
        &ctx,
        at(),
    ));
    assert_eq!((s.paid_minor, s.credit_minor), (6_000, 6_000));
    // An STS token for exactly 50.0 kWh; and one for 50.05 kWh cannot be made.
    let (account_b, sts_meter, shift_b) = (estate.account_b, estate.sts_meter, estate.shift_b);
    let sts = |amount, expected| Sale {
        amount,
        expected_paid_minor: expected,
        ..Sale::paid(account_b, sts_meter, shift_b, PaymentMethod::Cash, 1)
    };
    let op =
        Operation::new(estate.next_op(), estate.cashier_b(), Command::Sale(sts(SaleAmount::Quantity(50_000), None)));
    let token_sale = sale_of(db.run(&op, None, &ctx, at()));
    assert_eq!(token_sale.quantity_milli, 50_000);
    assert_eq!(token_sale.paid_minor, token_sale.energy_minor + token_sale.credit_minor);
    let key = VendingKey::from_hex(VENDING_KEY_HEX).unwrap();
    let mut meter = StsMeter::new(
        key.derive(&estate.sts_record.pan, &estate.sts_record.params).unwrap(),
        estate.sts_record.params.clone(),
        50,
    );
    assert!(matches!(meter.enter(&token_sale.tokens[0]).unwrap(), Accepted::Credit { tenths: 500, .. }));
    let op =
        Operation::new(estate.next_op(), estate.cashier_b(), Command::Sale(sts(SaleAmount::Quantity(50_050), None)));
    // A quantity the meter cannot take is a wrong request, not money kept: refused outright (a quote says so
    // before the customer pays).
    let refused = db.run(&op, None, &ctx, at());
    assert!(matches!(&refused, Err(e) if e.code() == "bad_quantity"), "{refused:?}");
    // The cashier quoted 10.00 for 5 kWh but the price is otherwise: refused, and the 10.00 taken is kept.
    let op = Operation::new(
        estate.next_op(),
        estate.cashier_b(),
        Command::Sale(sts(SaleAmount::Quantity(5_000), Some(1_000))),
    );
    let Outcome::PaymentRefused { payment, code, .. } = outcome(db.run(&op, None, &ctx, at())) else { panic!() };
    assert_eq!((code, payment.paid_minor), ("quote_changed", 1_000));
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn a_refused_payment_is_refunded_once_from_the_cashiers_drawer() {
    let (mut estate, mut db, ctx) = setup();
    let small = estate.remote_sale(50);
    let Outcome::PaymentRefused { payment, .. } = outcome(db.run(&small, None, &ctx, at())) else { panic!() };
    let drawer = db.shifts[&estate.shift_a].drawer;
    assert_eq!(db.balance(drawer), Some(50));
    let refund =
        |shift_id| Command::RefundRefusedPayment(RefundRefusedPayment { payment: payment.operation_id, shift_id });
    assert_eq!(
        code(db.run(&Operation::new(estate.next_op(), estate.cashier_a(), refund(None)), None, &ctx, at())),
        "shift_required"
    );
    assert_eq!(
        code(db.run(
            &Operation::new(estate.next_op(), estate.cashier_b(), refund(Some(estate.shift_b))),
            None,
            &ctx,
            at()
        )),
        "not_found"
    );
    let Outcome::Refunded(done) = outcome(db.run(
        &Operation::new(estate.next_op(), estate.cashier_a(), refund(Some(estate.shift_a))),
        None,
        &ctx,
        at(),
    )) else {
        panic!()
    };
    assert!(done.refunded_by.is_some());
    assert_eq!((db.balance(drawer), db.balance(db.books[&estate.books].refunds)), (Some(0), Some(0)));
    assert_eq!(
        code(db.run(
            &Operation::new(estate.next_op(), estate.cashier_a(), refund(Some(estate.shift_a))),
            None,
            &ctx,
            at()
        )),
        "already_refunded"
    );
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn management_tokens_advance_the_tid_and_a_key_change_moves_the_meter_to_its_new_key() {
    let (mut estate, mut db, ctx) = setup();
    let key = VendingKey::from_hex(VENDING_KEY_HEX).unwrap();
    let mut meter = StsMeter::new(
        key.derive(&estate.sts_record.pan, &estate.sts_record.params).unwrap(),
        estate.sts_record.params.clone(),
        50,
    );
    let sts_meter = estate.sts_meter;
    let issue = |request| {
        Command::IssueStsTokens(IssueStsTokens { meter_id: sts_meter, request, reason: "field visit".into() })
    };
    let Outcome::Tokens(t) = outcome(db.run(
        &Operation::new(estate.next_op(), estate.cashier_b(), issue(StsManagement::ClearTamper)),
        None,
        &ctx,
        at(),
    )) else {
        panic!()
    };
    assert!(matches!(meter.enter(&t.tokens[0]).unwrap(), Accepted::Register { .. }));
    let Outcome::Tokens(t) = outcome(db.run(
        &Operation::new(estate.next_op(), estate.cashier_b(), issue(StsManagement::MaxPowerLimit { watts: 5_000 })),
        None,
        &ctx,
        at(),
    )) else {
        panic!()
    };
    assert!(matches!(meter.enter(&t.tokens[0]).unwrap(), Accepted::Register { value: 5_000, .. }));
    // A key change to revision 2 needs revision 2's vending key.
    let change = StsManagement::KeyChange(KeyChange { krn: Some(2), ..KeyChange::default() });
    let op = Operation::new(estate.next_op(), estate.cashier_b(), issue(change.clone()));
    assert_eq!(code(db.run(&op, None, &ctx, at())), "sts_no_vending_key");
    let import =
        estate.system(Command::ImportVendingKey(Estate::sealed_vending_key(SUPPLY_GROUP, 2, "0123456789ABCDEF")));
    db.run(&import, None, &ctx, at()).unwrap();
    let Outcome::Tokens(set) =
        outcome(db.run(&Operation::new(estate.next_op(), estate.cashier_b(), issue(change)), None, &ctx, at()))
    else {
        panic!()
    };
    assert_eq!(set.tokens.len(), 2, "STA: two key change tokens");
    for token in &set.tokens {
        meter.enter(token).unwrap();
    }
    assert_eq!(db.sts[&estate.sts_meter].record.params.krn, 2);
    // The next sale is under the new key, which the meter now holds.
    let sale = sale_of(db.run(&estate.sts_sale(2_000), None, &ctx, at()));
    assert!(matches!(meter.enter(&sale.tokens[0]).unwrap(), Accepted::Credit { .. }));
    assert_eq!(db.meter_tokens.len(), 3);
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn reprints_are_recorded_and_scoped() {
    let (mut estate, mut db, ctx) = setup();
    let sale = sale_of(db.run(&estate.remote_sale(3_000), None, &ctx, at()));
    let reprint = |actor: Actor, estate: &mut Estate| {
        Operation::new(
            estate.next_op(),
            actor,
            Command::ReprintReceipt(ReprintReceipt { sale: sale.operation_id, format: ReceiptFormat::Pdf }),
        )
    };
    let op = reprint(estate.cashier_b(), &mut estate);
    assert_eq!(code(db.run(&op, None, &ctx, at())), "not_found");
    let op = reprint(estate.cashier_a(), &mut estate);
    let Outcome::Reprinted(again) = outcome(db.run(&op, None, &ctx, at())) else { panic!() };
    assert_eq!(again, sale);
    let last = db.audit.last().unwrap();
    assert_eq!((last.action.as_str(), last.after.as_str()), ("reprint_receipt", "copy format=pdf"));
}

#[test]
fn an_agents_credit_limit_stops_sales_until_it_settles() {
    let (mut estate, mut db, ctx) = setup();
    let point = voltvend_domain::VendingPointId::from_uuid(Uuid::from_u128(0xA6E));
    let open = estate.system(Command::OpenVendingPoint(OpenVendingPoint {
        id: point,
        premises_id: estate.building_a.id,
        name: "Corner shop agent".into(),
        currency: Currency::CNY,
        books_id: estate.books,
        credit_limit_minor: Some(5_000),
    }));
    db.run(&open, None, &ctx, at()).unwrap();
    // Cashier A closes the counter shift and opens one at the agent; a second open shift is refused.
    db.run(&estate.close_shift_a(10_000), None, &ctx, at()).unwrap();
    let shift = voltvend_domain::ShiftId::from_uuid(Uuid::from_u128(0xA6F));
    let cashier = estate.cashier_a;
    let open_shift = |shift_id| {
        Command::OpenShift(OpenShift {
            shift_id,
            vending_point_id: point,
            operator_id: cashier,
            opening_float_minor: 0,
        })
    };
    db.run(&Operation::new(estate.next_op(), estate.cashier_a(), open_shift(shift)), None, &ctx, at()).unwrap();
    let again = Operation::new(
        estate.next_op(),
        estate.cashier_a(),
        open_shift(voltvend_domain::ShiftId::from_uuid(Uuid::from_u128(0xA70))),
    );
    assert_eq!(code(db.run(&again, None, &ctx, at())), "shift_already_open");
    let sell = |estate: &mut Estate, paid| {
        Operation::new(
            estate.next_op(),
            estate.cashier_a(),
            Command::Sale(Sale { shift_id: shift, ..estate.sale_a(paid) }),
        )
    };
    sale_of(db.run(&sell(&mut estate, 4_000), None, &ctx, at()));
    let op = sell(&mut estate, 1_001);
    assert_eq!(code(db.run(&op, None, &ctx, at())), "vending_point_credit_limit");
    let settle = |amount_minor| {
        Command::SettleVendingPoint(SettleVendingPoint {
            vending_point_id: point,
            amount_minor,
            reference: "deposit 889".into(),
        })
    };
    assert_eq!(
        code(db.run(&Operation::new(estate.next_op(), estate.cashier_a(), settle(4_001)), None, &ctx, at())),
        "bad_settlement",
        "the refused 10.01 was not sold"
    );
    db.run(&Operation::new(estate.next_op(), estate.cashier_a(), settle(3_000)), None, &ctx, at()).unwrap();
    sale_of(db.run(&sell(&mut estate, 3_000), None, &ctx, at()));
    assert_eq!(db.vending_points[&point].outstanding_minor, 4_000);
    assert_eq!(db.check(), Vec::<String>::new());
}

fn session(operator: OperatorId, n: u8) -> SessionRecord {
    SessionRecord {
        id_hash: [n; 32],
        operator_id: operator,
        created_at: at(),
        expires_at: at() + jiff::SignedDuration::from_hours(12),
        revoked_at: None,
        source: "10.0.0.1".into(),
    }
}

#[test]
fn logins_lock_out_after_five_failures_and_sessions_end() {
    let (mut estate, mut db, ctx) = setup();
    let username = db.operators[&estate.cashier_a].username.clone();
    let attempt = |estate: &mut Estate, attempt| {
        estate.system(Command::RecordLogin(RecordLogin { username: username.clone(), attempt }))
    };
    for n in 1..=5 {
        let Outcome::LoginFailed { locked_until } =
            outcome(db.run(&attempt(&mut estate, LoginAttempt::Failed), None, &ctx, at()))
        else {
            panic!()
        };
        assert_eq!(locked_until.is_some(), n == 5, "locked after the fifth");
    }
    let live = session(estate.cashier_a, 1);
    let ok = attempt(&mut estate, LoginAttempt::Succeeded(live));
    assert_eq!(code(db.run(&ok, None, &ctx, at())), "login_locked", "even with the right password");
    let audit: Vec<_> = db.audit.iter().rev().take(5).map(|a| a.action.as_str()).collect();
    assert_eq!(audit, ["login_locked_out", "login_failed", "login_failed", "login_failed", "login_failed"]);
    // An unknown username is recorded as a digest (SHA-256, computed by Python's hashlib), without the attempt
    // being attributable to anyone; a password typed as a username is not kept.
    let unknown =
        estate.system(Command::RecordLogin(RecordLogin { username: "nobody".into(), attempt: LoginAttempt::Failed }));
    outcome(db.run(&unknown, None, &ctx, at()));
    assert_eq!(db.audit.last().unwrap().subject, "username-sha256:6382b3cc881412b7");
    let typo = estate
        .system(Command::RecordLogin(RecordLogin { username: "My Secret Pw!".into(), attempt: LoginAttempt::Failed }));
    outcome(db.run(&typo, None, &ctx, at()));
    let kept = db.audit.last().unwrap();
    assert!(kept.subject.starts_with("username-sha256:") && !format!("{kept:?}").contains("Secret"), "{kept:?}");
    // The administrator unlocks; the login succeeds and resets the count.
    let admin = Actor::operator(estate.admin, estate.group.id, "10.0.0.9");
    db.run(
        &Operation::new(
            estate.next_op(),
            admin.clone(),
            Command::UnlockOperator(UnlockOperator { operator_id: estate.cashier_a }),
        ),
        None,
        &ctx,
        at(),
    )
    .unwrap();
    let Outcome::LoggedIn { operator_id, .. } = outcome(db.run(&ok, None, &ctx, at())) else { panic!() };
    assert_eq!((operator_id, db.operators[&estate.cashier_a].failed_logins), (estate.cashier_a, 0));
    // Cashier B cannot end cashier A's session; cashier A can.
    let logout = |actor: Actor, estate: &mut Estate| {
        Operation::new(estate.next_op(), actor, Command::Logout(Logout { session: [1; 32] }))
    };
    let op = logout(estate.cashier_b(), &mut estate);
    assert_eq!(code(db.run(&op, None, &ctx, at())), "not_found");
    let op = logout(estate.cashier_a(), &mut estate);
    outcome(db.run(&op, None, &ctx, at()));
    assert!(db.sessions[&[1; 32]].revoked_at.is_some());
    // Log out everywhere, and a password change, move the operator's sessions cut-off.
    let op = Operation::new(
        estate.next_op(),
        estate.cashier_a(),
        Command::LogoutEverywhere(LogoutEverywhere { operator_id: estate.cashier_a }),
    );
    outcome(db.run(&op, None, &ctx, at()));
    assert_eq!(db.operators[&estate.cashier_a].sessions_not_before, Some(at()));
    let op = Operation::new(
        estate.next_op(),
        estate.cashier_b(),
        Command::ChangePassword(ChangePassword { operator_id: estate.cashier_a, password_hash: PASSWORD_HASH.into() }),
    );
    assert_eq!(code(db.run(&op, None, &ctx, at())), "not_found", "another building's operator");
    // One's own: the new hash is kept, the sessions end, and the trail records the change without the hash.
    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3IHNhbHQgaGVyZQ$Zm9yIHRoZSB0ZXN0IG9ubHkgbm90IGEgcmVhbCBoYXNo";
    let op = Operation::new(
        estate.next_op(),
        estate.cashier_a(),
        Command::ChangePassword(ChangePassword { operator_id: estate.cashier_a, password_hash: new_hash.into() }),
    );
    outcome(db.run(&op, None, &ctx, at()));
    assert_eq!(db.operators[&estate.cashier_a].password_hash, new_hash);
    let last = db.audit.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.subject.clone()),
        ("change_password", format!("operator:{}", estate.cashier_a))
    );
    assert!(!db.audit.iter().any(|a| format!("{a:?}").contains("argon2")), "no hash in the audit trail");
}

#[test]
fn custom_roles_api_tokens_and_operators() {
    let (mut estate, mut db, ctx) = setup();
    let admin = Actor::operator(estate.admin, estate.group.id, "10.0.0.9");
    let night =
        Role::custom("night_cashier", "sells, nothing else", [Permission::SalesCreate, Permission::SalesRead].into())
            .unwrap();
    outcome(db.run(
        &Operation::new(estate.next_op(), admin.clone(), Command::CreateRole(night.clone())),
        None,
        &ctx,
        at(),
    ));
    assert_eq!(
        code(db.run(&Operation::new(estate.next_op(), admin.clone(), Command::CreateRole(night)), None, &ctx, at())),
        "already_exists"
    );
    let building = estate.building_a.id;
    let add = |role: &str, n: u128| {
        Operator::new(
            OperatorId::from_uuid(Uuid::from_u128(0xB00 + n)),
            &format!("night{n}"),
            "Night",
            role,
            building,
            PASSWORD_HASH,
        )
    };
    outcome(db.run(
        &Operation::new(estate.next_op(), admin.clone(), Command::AddOperator(add("night_cashier", 1))),
        None,
        &ctx,
        at(),
    ));
    assert_eq!(
        code(db.run(
            &Operation::new(estate.next_op(), admin.clone(), Command::AddOperator(add("no_such_role", 2))),
            None,
            &ctx,
            at()
        )),
        "not_found"
    );
    // A token for cashier A made by the administrator; cashier B can neither see nor revoke it.
    let token = ApiTokenRecord {
        id: ApiTokenId::from_uuid(Uuid::from_u128(0xC00)),
        operator_id: estate.cashier_a,
        name: "kiosk integration".into(),
        secret_hash: [7; 32],
        created_at: at(),
        expires_at: None,
        revoked_at: None,
        created_by: None,
    };
    outcome(db.run(
        &Operation::new(estate.next_op(), admin.clone(), Command::CreateApiToken(token.clone())),
        None,
        &ctx,
        at(),
    ));
    assert_eq!(db.api_tokens[&token.id].created_by, Some(estate.admin));
    let revoke = |actor, estate: &mut Estate| {
        Operation::new(
            estate.next_op(),
            actor,
            Command::RevokeApiToken(voltvend_ops::RevokeApiToken { token_id: token.id }),
        )
    };
    let op = revoke(estate.cashier_b(), &mut estate);
    assert_eq!(code(db.run(&op, None, &ctx, at())), "not_found");
    let op = revoke(estate.cashier_a(), &mut estate);
    outcome(db.run(&op, None, &ctx, at()));
    assert!(db.api_tokens[&token.id].revoked_at.is_some());
    assert_eq!(db.check(), Vec::<String>::new());
}

#[test]
fn secrets_are_sealed_at_rest_and_survive_a_master_key_rotation() {
    let (mut estate, mut db, old_ctx) = setup();
    let stored = &db.vending_keys[&(SUPPLY_GROUP, 1)].sealed;
    assert!(
        !stored.windows(VENDING_KEY_HEX.len()).any(|w| w == VENDING_KEY_HEX.as_bytes()),
        "sealed, not stored in clear"
    );
    // A new master key, with the old one still known for opening.
    let new_key = MasterKey::from_hex(&"4e".repeat(32)).unwrap();
    let old_key = Estate::master_keys().current().unwrap().clone();
    let both = Context::new(MasterKeys::new(new_key.clone(), vec![old_key]));
    let plain = both.secrets.open(&voltvend_ops::secrets::vending_key_aad(SUPPLY_GROUP, 1), stored).unwrap();
    let resealed = new_key.seal(&voltvend_ops::secrets::vending_key_aad(SUPPLY_GROUP, 1), [3; 12], &plain).unwrap();
    // A rewrap that would change the key is refused.
    let wrong =
        new_key.seal(&voltvend_ops::secrets::vending_key_aad(SUPPLY_GROUP, 1), [4; 12], b"0123456789ABCDEF").unwrap();
    let bad = estate.system(Command::RewrapSecrets(RewrapSecrets {
        items: vec![Rewrap::VendingKey { sgc: SUPPLY_GROUP, krn: 1, sealed: wrong }],
    }));
    assert_eq!(code(db.run(&bad, None, &both, at())), "rewrap_mismatch");
    let good = estate.system(Command::RewrapSecrets(RewrapSecrets {
        items: vec![Rewrap::VendingKey { sgc: SUPPLY_GROUP, krn: 1, sealed: resealed }],
    }));
    outcome(db.run(&good, None, &both, at()));
    // Now only the new key is needed; the old one alone no longer opens the vending key.
    let only_new = Context::new(MasterKeys::new(new_key, vec![]));
    sale_of(db.run(&estate.sts_sale(2_000), None, &only_new, at()));
    assert_eq!(code(db.run(&estate.sts_sale(2_000), None, &old_ctx, at())), "master_key_unknown");
    let no_keys = Context::new(MasterKeys::none());
    assert_eq!(code(db.run(&estate.sts_sale(2_000), None, &no_keys, at())), "master_key_unknown");
}

#[test]
fn the_customer_file_is_checked() {
    let (mut estate, mut db, ctx) = setup();
    let (_, _, r) = open_opg(&mut estate, &mut db, &ctx, None);
    outcome(r);
    let c = db.customers.values().find(|c| c.kind == CustomerKind::Company).unwrap();
    assert_eq!(c.phones, ["+86 138 0000 0001", "0571-8888-0000"]);
    assert_eq!(c.id_document.as_ref().unwrap().kind, IdDocumentKind::BusinessLicence);
}

#[test]
fn a_system_alarm_goes_into_the_outbox_about_no_meter_and_only_the_system_raises_one() {
    let (mut estate, mut db, ctx) = setup();
    let alarm = |kind, detail: &str| Command::RaiseAlarm(voltvend_ops::RaiseAlarm { kind, detail: detail.to_string() });
    let by_cashier = Operation::new(estate.next_op(), estate.cashier_a(), alarm(OutboxKind::BackupFailed, "x"));
    assert_eq!(code(db.run(&by_cashier, None, &ctx, at())), "system_only");
    let system = |estate: &mut Estate, command| Operation::new(estate.next_op(), Actor::system("backup"), command);
    let about_a_meter = system(&mut estate, alarm(OutboxKind::RelayTrip, "x"));
    assert_eq!(code(db.run(&about_a_meter, None, &ctx, at())), "bad_value");
    let control = system(&mut estate, alarm(OutboxKind::BackupFailed, "disk\u{7}full"));
    assert_eq!(code(db.run(&control, None, &ctx, at())), "text_control_character");
    assert!(db.outbox.is_empty(), "refusals change nothing");
    let ok = system(&mut estate, alarm(OutboxKind::BackupFailed, "the second disk is full"));
    outcome(db.run(&ok, None, &ctx, at()));
    let row = db.outbox.last().unwrap();
    assert_eq!(
        (row.kind, row.meter_id, row.detail.as_str()),
        (OutboxKind::BackupFailed, None, "the second disk is full")
    );
    assert_eq!(db.audit.last().unwrap().action, "raise_alarm");
}
