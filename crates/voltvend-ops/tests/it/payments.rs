//! Online payments against the in-memory model: a channel's standing shift, intents, and what a provider's word
//! that an intent was paid does — one sale; nothing twice; a different amount, a different currency, a late
//! payment, a second payment and a payment for a suspended account kept, never credited and never dropped.

use jiff::{SignedDuration, Timestamp};
use voltvend_domain::{AccountStatus, LedgerAccountKind, PaymentChannelId, PaymentIntentId, Side};
use voltvend_ops::memory::MemoryDb;
use voltvend_ops::{
    Actor, Applied, ChangePassword, CloseShift, Command, Context, CreatePaymentIntent, CreditRefusedPayment,
    ExpirePaymentIntent, IntentPurpose, IntentStatus, OpError, OpenPaymentChannel, Operation, Outcome, PaymentChannel,
    PaymentMethod, Provider, RecordPaymentOrder, RefundRefusedPayment, SetAccountStatus, SetPaymentChannelActive,
    SettlePayment, UpdateOperator,
};
use voltvend_testkit::estate::{Estate, id};

fn at() -> Timestamp {
    "2026-12-01T08:00:00Z".parse().unwrap()
}

struct Fixture {
    estate: Estate,
    db: MemoryDb,
    ctx: Context,
    channel: PaymentChannel,
    intents: u128,
}

fn fixture() -> Fixture {
    let mut estate = Estate::new(7);
    let mut db = MemoryDb::new();
    let ctx = Estate::context();
    for op in &estate.setup {
        db.run(op, None, &ctx, at()).unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let channel_id = PaymentChannelId::from_uuid(id(7, 0xC0));
    let open = Command::OpenPaymentChannel(OpenPaymentChannel {
        channel_id,
        provider: Provider::WechatPay,
        name: "WeChat Pay".into(),
        premises_id: estate.property.id,
        books_id: estate.books,
    });
    let op = Operation::new(estate.next_op(), Actor::operator(estate.admin, estate.group.id, "10.0.0.9"), open);
    committed(db.run(&op, None, &ctx, at()));
    let channel = db.payment_channels[&channel_id].clone();
    Fixture { estate, db, ctx, channel, intents: 0 }
}

fn committed(r: Result<Applied, OpError>) -> Outcome {
    match r {
        Ok(Applied::Committed { outcome, .. }) => outcome,
        other => panic!("not committed: {other:?}"),
    }
}

/// The code of a refusal that committed nothing.
fn refused(r: Result<Applied, OpError>) -> &'static str {
    match r {
        Err(e) => e.code(),
        Ok(other) => panic!("not refused: {other:?}"),
    }
}

/// The code of a refusal whose money was kept as a refused payment (committed).
fn kept(r: Result<Applied, OpError>) -> &'static str {
    match r {
        Ok(Applied::Committed { outcome: Outcome::PaymentRefused { code, .. }, .. }) => code,
        other => panic!("the money was not kept: {other:?}"),
    }
}

impl Fixture {
    /// A customer's intent for A-101's remote meter, open for 15 minutes.
    fn intent(&mut self, amount_minor: i64) -> PaymentIntentId {
        let (intent_id, made) = self.intent_for(amount_minor, IntentPurpose::Energy);
        committed(made);
        intent_id
    }

    /// A customer's intent of `purpose` for A-101, as asked: its id and what making it did.
    fn intent_for(&mut self, amount_minor: i64, purpose: IntentPurpose) -> (PaymentIntentId, Result<Applied, OpError>) {
        self.intents += 1;
        let intent_id = PaymentIntentId::from_uuid(id(7, 0x1000 + self.intents));
        let create = Command::CreatePaymentIntent(CreatePaymentIntent {
            intent_id,
            channel_id: self.channel.id,
            account_id: self.estate.account_a,
            meter_id: self.estate.remote_meter,
            amount_minor,
            expires_at: at() + SignedDuration::from_mins(15),
            purpose,
        });
        let op = Operation::new(self.estate.next_op(), Actor::system("customer:203.0.113.7"), create);
        (intent_id, self.db.run(&op, None, &self.ctx, at()))
    }

    /// The provider's word, as the server turns it into an operation: its id derived from intent and transaction.
    fn settle_op(intent: PaymentIntentId, txn: &str, paid_minor: i64, currency: &str, paid_at: Timestamp) -> Operation {
        let id = SettlePayment::operation_id(intent, txn);
        let command = Command::SettlePayment(SettlePayment {
            intent_id: intent,
            provider_txn: txn.into(),
            paid_minor,
            currency: currency.into(),
            paid_at,
        });
        Operation::new(id, Actor::system("wechat_pay:notify"), command)
    }

    fn run(&mut self, op: &Operation) -> Result<Applied, OpError> {
        self.db.run(op, None, &self.ctx, at() + SignedDuration::from_mins(2))
    }

    /// Block A's rent of 500.00 a unit (due on the 10th), November issued, by the group's administrator.
    fn november_rent(&mut self, schedule_id: voltvend_domain::FeeScheduleId) {
        use voltvend_domain::fees::FeeBasis;
        use voltvend_ops::{CreateFeeSchedule, IssueFees};
        let admin = Actor::operator(self.estate.admin, self.estate.group.id, "10.0.0.9");
        let create = CreateFeeSchedule {
            schedule_id,
            premises_id: self.estate.building_a.id,
            name: "Rent".into(),
            basis: FeeBasis::PerUnit,
            rate_minor: 50_000,
            currency: voltvend_domain::Currency::CNY,
            due_day: 10,
            late_fee_bp: 0,
            disconnect_after_days: 0,
        };
        for command in
            [Command::CreateFeeSchedule(create), Command::IssueFees(IssueFees { schedule_id, period: 202_611 })]
        {
            let op = Operation::new(self.estate.next_op(), admin.clone(), command);
            committed(self.run(&op));
        }
    }

    fn clearing(&self) -> i64 {
        self.db.balance(self.channel.clearing).unwrap()
    }

    fn refunds_owed(&self) -> i64 {
        self.db.balance(self.db.books[&self.estate.books].refunds).unwrap()
    }
}

#[test]
fn a_channel_is_an_unattended_vending_point_with_a_standing_shift() {
    let mut f = fixture();
    let c = f.channel.clone();
    let (ledger, _) = &f.db.ledger_accounts[&c.clearing];
    assert_eq!(ledger.kind, LedgerAccountKind::PaymentClearing);
    assert_eq!(f.db.shifts[&c.shift_id].drawer, c.clearing);
    let operator = &f.db.operators[&c.operator_id];
    assert!(!operator.active, "the service operator cannot log in");
    assert_eq!(f.db.vending_points[&c.vending_point_id].books_id, f.estate.books);
    // Nobody closes the standing shift (its drawer is the provider's clearing account, not cash).
    let close = Command::CloseShift(CloseShift { shift_id: c.shift_id, counted_minor: 0, denominations: vec![] });
    let op = Operation::new(f.estate.next_op(), Actor::operator(f.estate.admin, f.estate.group.id, "x"), close);
    assert_eq!(refused(f.run(&op)), "channel_shift");
    // Nobody brings the service operator to life: no enabling, no password.
    let admin = Actor::operator(f.estate.admin, f.estate.group.id, "x");
    let enable = Command::UpdateOperator(UpdateOperator {
        operator_id: c.operator_id,
        display_name: None,
        role: Some("cashier".into()),
        scope: None,
        active: Some(true),
        reason: "take over the channel".into(),
    });
    let password = Command::ChangePassword(ChangePassword {
        operator_id: c.operator_id,
        password_hash: voltvend_testkit::estate::PASSWORD_HASH.into(),
    });
    for command in [enable, password] {
        let op = Operation::new(f.estate.next_op(), admin.clone(), command);
        assert_eq!(refused(f.run(&op)), "service_operator");
    }
    assert!(!f.db.operators[&c.operator_id].active);
    // A cashier cannot record an "online" payment at the counter, through the channel's shift or their own.
    for shift in [c.shift_id, f.estate.shift_a] {
        let mut sale = f.estate.sale_a(1_000);
        sale.method = PaymentMethod::Online;
        sale.shift_id = shift;
        let op = Operation::new(f.estate.next_op(), f.estate.cashier_a(), Command::Sale(sale));
        assert_eq!(refused(f.run(&op)), "online_not_at_counter");
    }
    assert!(f.db.check().is_empty(), "{:?}", f.db.check());
}

#[test]
fn a_verified_payment_sells_once_however_often_it_is_told() {
    let mut f = fixture();
    let before = f.db.wallet_balance(f.estate.account_a).unwrap();
    let intent = f.intent(5_000);
    let op =
        Fixture::settle_op(intent, "4200001234202612010000000001", 5_000, "CNY", at() + SignedDuration::from_mins(1));
    let sale = match committed(f.run(&op)) {
        Outcome::Sale(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(sale.method, PaymentMethod::Online);
    assert_eq!(sale.shift_id, f.channel.shift_id);
    assert_eq!(sale.vending_point_id, f.channel.vending_point_id);
    assert_eq!(sale.receipt_no, 1);
    assert_eq!(sale.reference, "4200001234202612010000000001");
    assert_eq!(f.db.wallet_balance(f.estate.account_a).unwrap(), before + 5_000);
    assert_eq!(f.clearing(), 5_000, "the provider owes what it took");
    let i = &f.db.payment_intents[&intent];
    assert_eq!((i.status, i.settled_by), (IntentStatus::Paid, Some(op.id)));
    // The notification again, or a status query that finds the same payment: the same operation, replayed.
    assert!(matches!(f.run(&op), Ok(Applied::Replayed { .. })));
    assert_eq!(f.db.wallet_balance(f.estate.account_a).unwrap(), before + 5_000);
    assert_eq!(f.clearing(), 5_000);
    // A second, different payment for the same intent is real money: kept, owed back, not credited.
    let again = Fixture::settle_op(intent, "4200001234202612010000000002", 5_000, "CNY", at());
    assert_eq!(kept(f.run(&again)), "payment_intent_settled");
    assert_eq!(f.db.wallet_balance(f.estate.account_a).unwrap(), before + 5_000);
    assert_eq!(f.clearing(), 10_000);
    assert_eq!(f.refunds_owed(), 5_000);
    assert_eq!(f.db.payment_intents[&intent].settled_by, Some(op.id), "the first settlement stands");
    assert!(f.db.check().is_empty(), "{:?}", f.db.check());
}

#[test]
fn a_payment_that_cannot_be_credited_is_kept() {
    let mut f = fixture();
    let before = f.db.wallet_balance(f.estate.account_a).unwrap();
    let paid_at = at() + SignedDuration::from_mins(1);

    // Another amount: held for review as a refused payment.
    let short = f.intent(5_000);
    assert_eq!(kept(f.run(&Fixture::settle_op(short, "T-SHORT", 4_999, "CNY", paid_at))), "payment_amount_mismatch");
    assert_eq!(f.db.payment_intents[&short].status, IntentStatus::Held);
    assert_eq!(f.refunds_owed(), 4_999);

    // Another currency: not bookable here; the intent holds what the provider says was paid.
    let foreign = f.intent(5_000);
    let held = committed(f.run(&Fixture::settle_op(foreign, "T-USD", 5_000, "USD", paid_at)));
    assert!(matches!(held, Outcome::PaymentHeld(ref i) if i.paid_currency.as_deref() == Some("USD")), "{held:?}");
    assert_eq!(f.db.payment_intents[&foreign].status, IntentStatus::Held);

    // Paid after the intent expired.
    let late = f.intent(5_000);
    let after = at() + SignedDuration::from_mins(16);
    assert_eq!(kept(f.run(&Fixture::settle_op(late, "T-LATE", 5_000, "CNY", after))), "payment_intent_expired");
    assert_eq!(f.db.payment_intents[&late].status, IntentStatus::Refused);

    // Paid for an account suspended in the meantime.
    let suspended = f.intent(5_000);
    let suspend = Command::SetAccountStatus(SetAccountStatus {
        account_id: f.estate.account_a,
        status: AccountStatus::Suspended,
        reason: "dispute".into(),
    });
    let op = f.estate.system(suspend);
    committed(f.run(&op));
    assert_eq!(kept(f.run(&Fixture::settle_op(suspended, "T-SUSP", 5_000, "CNY", paid_at))), "account_suspended");
    let i = &f.db.payment_intents[&suspended];
    assert_eq!((i.status, i.reason_code.as_str()), (IntentStatus::Refused, "account_suspended"));

    assert_eq!(f.db.wallet_balance(f.estate.account_a).unwrap(), before, "nothing was credited");
    assert_eq!(f.refunds_owed(), 4_999 + 5_000 + 5_000);
    assert_eq!(f.clearing(), f.refunds_owed(), "every payment booked is owed back");
    assert_eq!(f.db.refused_payments.len(), 3);

    // An operator records the provider's refund of one: out of the clearing account.
    let payment = f.db.refused_payments.values().find(|p| p.reference == "T-LATE").unwrap().operation_id;
    let refund = Command::RefundRefusedPayment(RefundRefusedPayment { payment, shift_id: None });
    let op = Operation::new(f.estate.next_op(), Actor::operator(f.estate.admin, f.estate.group.id, "x"), refund);
    committed(f.run(&op));
    assert_eq!(f.clearing(), 4_999 + 5_000);
    assert!(f.db.check().is_empty(), "{:?}", f.db.check());
}

#[test]
fn only_the_system_settles_and_an_unknown_intent_commits_nothing() {
    let mut f = fixture();
    let intent = f.intent(5_000);
    let mut op = Fixture::settle_op(intent, "T-1", 5_000, "CNY", at());
    op.actor = f.estate.cashier_a();
    assert_eq!(refused(f.run(&op)), "system_only");
    let unknown = PaymentIntentId::from_uuid(id(7, 0xDEAD));
    let audit = f.db.audit.len();
    assert_eq!(refused(f.run(&Fixture::settle_op(unknown, "T-2", 5_000, "CNY", at()))), "not_found");
    assert_eq!(f.db.audit.len(), audit, "nothing committed");
    for bad in ["", " T-3", "T\n4"] {
        assert!(f.run(&Fixture::settle_op(intent, bad, 5_000, "CNY", at())).is_err(), "{bad:?}");
    }
    assert_eq!(f.db.payment_intents[&intent].status, IntentStatus::Open);
}

#[test]
fn intents_are_checked_and_expire() {
    let mut f = fixture();
    let system = Actor::system("customer");
    let make = |f: &mut Fixture, amount: i64, ttl_mins: i64, account| {
        f.intents += 1;
        let command = Command::CreatePaymentIntent(CreatePaymentIntent {
            intent_id: PaymentIntentId::from_uuid(id(7, 0x2000 + f.intents)),
            channel_id: f.channel.id,
            account_id: account,
            meter_id: f.estate.remote_meter,
            amount_minor: amount,
            expires_at: at() + SignedDuration::from_mins(ttl_mins),
            purpose: IntentPurpose::Energy,
        });
        let op = Operation::new(f.estate.next_op(), system.clone(), command);
        f.db.run(&op, None, &f.ctx, at())
    };
    let a = f.estate.account_a;
    assert_eq!(refused(make(&mut f, 0, 15, a)), "amount_not_positive");
    assert_eq!(refused(make(&mut f, 100, 0, a)), "bad_expiry");
    assert_eq!(refused(make(&mut f, 100, 25 * 60, a)), "bad_expiry");
    let b = f.estate.account_b;
    assert_eq!(refused(make(&mut f, 100, 15, b)), "meter_not_on_account");
    // A closed channel takes no new intents.
    let close = Command::SetPaymentChannelActive(SetPaymentChannelActive { channel_id: f.channel.id, active: false });
    let op = f.estate.system(close);
    committed(f.run(&op));
    assert_eq!(refused(make(&mut f, 100, 15, a)), "payment_channel_closed");
    let open = Command::SetPaymentChannelActive(SetPaymentChannelActive { channel_id: f.channel.id, active: true });
    let op = f.estate.system(open);
    committed(f.run(&op));

    let intent = f.intent(700);
    let expire = |f: &mut Fixture, when: Timestamp| {
        let op = f.estate.system(Command::ExpirePaymentIntent(ExpirePaymentIntent { intent_id: intent }));
        f.db.run(&op, None, &f.ctx, when)
    };
    assert_eq!(refused(expire(&mut f, at() + SignedDuration::from_mins(10))), "payment_intent_not_expired");
    committed(expire(&mut f, at() + SignedDuration::from_mins(16)));
    assert_eq!(f.db.payment_intents[&intent].status, IntentStatus::Expired);
    // A payment made after it expired is kept as owed back.
    let op = Fixture::settle_op(intent, "T-EXP", 700, "CNY", at() + SignedDuration::from_mins(16));
    assert_eq!(kept(f.run(&op)), "payment_intent_expired");
    assert_eq!(f.db.payment_intents[&intent].status, IntentStatus::Refused);
    assert_eq!(f.db.balance(f.channel.clearing), Some(700));
    let (_, balance) = &f.db.ledger_accounts[&f.channel.clearing];
    assert_eq!(balance.normal(Side::Debit), 700);

    // One made before its expiry, whose notification came after the intent was expired, is sold.
    let late = f.intent(800);
    committed(f.db.run(
        &f.estate.system(Command::ExpirePaymentIntent(ExpirePaymentIntent { intent_id: late })),
        None,
        &f.ctx,
        at() + SignedDuration::from_mins(16),
    ));
    let op = Fixture::settle_op(late, "T-LATE-NOTICE", 800, "CNY", at() + SignedDuration::from_mins(14));
    assert!(matches!(f.run(&op), Ok(Applied::Committed { outcome: Outcome::Sale(_), .. })));
    assert_eq!(f.db.payment_intents[&late].status, IntentStatus::Paid);
    // Money in another currency for an intent already settled is refused unbooked, not kept.
    let op = Fixture::settle_op(late, "T-USD-2", 800, "USD", at());
    assert_eq!(refused(f.run(&op)), "payment_currency_mismatch");
}

#[test]
fn a_provider_order_reference_is_recorded_once_by_the_system_for_an_open_intent() {
    let mut f = fixture();
    let intent = f.intent(5_000);
    let record = |reference: &str| {
        Command::RecordPaymentOrder(RecordPaymentOrder { intent_id: intent, provider_ref: reference.into() })
    };
    // An operator cannot name the order a callback will settle.
    let cashier = Operation::new(f.estate.next_op(), f.estate.cashier_a(), record("ws_CO_1"));
    assert_eq!(refused(f.run(&cashier)), "system_only");
    for bad in ["", " ws_CO_1", &"x".repeat(65)] {
        let op = f.estate.system(record(bad));
        assert!(f.run(&op).is_err(), "{bad:?} was taken");
    }
    let op = f.estate.system(record("ws_CO_1"));
    match committed(f.run(&op)) {
        Outcome::PaymentIntent(i) => assert_eq!(i.provider_ref.as_deref(), Some("ws_CO_1")),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.db.payment_intents[&intent].provider_ref.as_deref(), Some("ws_CO_1"));
    // Once: a second prompt's reference would leave the first prompt's payment without its intent.
    let again = f.estate.system(record("ws_CO_2"));
    assert_eq!(refused(f.run(&again)), "payment_order_exists");
    // Only while the intent is open: not once it is paid.
    let paid = f.intent(1_000);
    committed(f.run(&Fixture::settle_op(paid, "ws_CO_3", 1_000, "CNY", at())));
    let late = f
        .estate
        .system(Command::RecordPaymentOrder(RecordPaymentOrder { intent_id: paid, provider_ref: "ws_CO_3".into() }));
    assert_eq!(refused(f.run(&late)), "payment_intent_not_open");
}

#[test]
fn a_held_payment_is_credited_after_review_once_out_of_the_refunds_owed() {
    let mut f = fixture();
    let before = f.db.wallet_balance(f.estate.account_a).unwrap();
    let short = f.intent(5_000);
    let settle = Fixture::settle_op(short, "T-SHORT", 4_999, "CNY", at() + SignedDuration::from_mins(1));
    assert_eq!(kept(f.run(&settle)), "payment_amount_mismatch");
    assert_eq!((f.refunds_owed(), f.clearing()), (4_999, 4_999));
    // The property's administrator reviews it and credits the 49.99 that came: one sale through the channel's
    // shift, its money out of the refunds owed (the provider still owes it: the clearing account is unchanged).
    let admin = Actor::operator(f.estate.admin, f.estate.group.id, "10.0.0.9");
    let credit = Command::CreditRefusedPayment(CreditRefusedPayment { payment: settle.id });
    let op = Operation::new(f.estate.next_op(), admin.clone(), credit.clone());
    let sale = match committed(f.run(&op)) {
        Outcome::Sale(s) => s,
        other => panic!("{other:?}"),
    };
    assert_eq!((sale.paid_minor, sale.method, sale.shift_id), (4_999, PaymentMethod::Online, f.channel.shift_id));
    assert_eq!(sale.reference, "T-SHORT");
    assert_eq!(f.db.wallet_balance(f.estate.account_a).unwrap(), before + sale.credit_minor);
    assert!(sale.credit_minor > 0);
    assert_eq!((f.refunds_owed(), f.clearing()), (0, 4_999));
    let payment = &f.db.refused_payments[&settle.id];
    assert!(payment.credited && payment.refunded_by == Some(op.id), "{payment:?}");
    // Once: neither credited again nor handed back as well.
    let again = Operation::new(f.estate.next_op(), admin.clone(), credit);
    assert_eq!(refused(f.run(&again)), "already_refunded");
    let refund = Command::RefundRefusedPayment(RefundRefusedPayment { payment: settle.id, shift_id: None });
    let refund = Operation::new(f.estate.next_op(), admin, refund);
    assert_eq!(refused(f.run(&refund)), "already_refunded");
    // A cashier of another building cannot reach it.
    let other = f.intent(2_000);
    let settle = Fixture::settle_op(other, "T-OTHER", 1_999, "CNY", at() + SignedDuration::from_mins(1));
    assert_eq!(kept(f.run(&settle)), "payment_amount_mismatch");
    let credit = Command::CreditRefusedPayment(CreditRefusedPayment { payment: settle.id });
    let op = Operation::new(f.estate.next_op(), f.estate.cashier_b(), credit);
    assert!(f.run(&op).is_err());
    assert!(!f.db.refused_payments[&settle.id].credited);
}

#[test]
fn a_statement_is_kept_whole_or_not_at_all() {
    use voltvend_ops::{ImportPaymentStatement, StatementEntry, StatementEntryKind};
    let mut f = fixture();
    let line = |txn: &str, amount_minor: i64, currency: &str| StatementEntry {
        kind: StatementEntryKind::Payment,
        transaction_id: txn.into(),
        order_no: "0123456789abcdef0123456789abcdef".into(),
        amount_minor,
        currency: currency.into(),
        at: at(),
    };
    let channel_id = f.channel.id;
    let import = |lines: Vec<StatementEntry>| {
        Command::ImportPaymentStatement(ImportPaymentStatement {
            channel_id,
            day: jiff::civil::date(2026, 12, 1),
            digest: [7; 32],
            lines,
        })
    };
    let admin = Actor::operator(f.estate.admin, f.estate.group.id, "10.0.0.9");
    // Each bad line refuses the whole file, and nothing is kept.
    for bad in [
        vec![line("T-1", 100, "CNY"), line("", 100, "CNY")],
        vec![line("T-1", 0, "CNY")],
        vec![line("T-1", 100, "yuan")],
        vec![line(" T-1", 100, "CNY")],
        vec![line(&"9".repeat(StatementEntry::FIELD_LEN_MAX + 1), 100, "CNY")],
        vec![line("T-1", StatementEntry::AMOUNT_MAX_MINOR + 1, "CNY")],
    ] {
        let op = Operation::new(f.estate.next_op(), admin.clone(), import(bad.clone()));
        assert_eq!(refused(f.run(&op)), "bad_statement_line", "{bad:?}");
    }
    let long = vec![line("T-1", 100, "CNY"); voltvend_ops::PaymentStatement::LINES_MAX + 1];
    let op = Operation::new(f.estate.next_op(), admin.clone(), import(long));
    assert_eq!(refused(f.run(&op)), "statement_too_long");
    assert!(f.db.payment_statements.is_empty());
    // A cashier of a building does not reach the property's channel.
    let lines = vec![line("T-1", 100, "CNY"), line("T-2", 250, "CNY")];
    let op = Operation::new(f.estate.next_op(), f.estate.cashier_a(), import(lines.clone()));
    assert_eq!(refused(f.run(&op)), "not_found");
    // The administrator's import is kept as read, with who and when.
    let op = Operation::new(f.estate.next_op(), admin, import(lines.clone()));
    match committed(f.run(&op)) {
        Outcome::StatementImported(s) => assert_eq!((s.id, s.lines.len()), (op.id, 2)),
        other => panic!("{other:?}"),
    }
    let kept = &f.db.payment_statements[0];
    assert_eq!(
        (kept.lines.clone(), kept.imported_by, kept.imported_at),
        (lines, Some(f.estate.admin), at() + SignedDuration::from_mins(2))
    );
}

/// Overdue rent and fees: an online payment the property's policy refuses (no energy sales until paid) is
/// kept as a refused payment, owed back; under a share of each purchase, the payment pays its share first.
#[test]
fn overdue_fees_block_an_online_payment_or_take_their_share_of_it() {
    use voltvend_domain::FeeScheduleId;
    use voltvend_domain::fees::OverduePolicy;
    use voltvend_ops::FeePolicy;
    let mut f = fixture();
    let admin = Actor::operator(f.estate.admin, f.estate.group.id, "10.0.0.9");
    let schedule_id = FeeScheduleId::from_uuid(id(7, 0xFE0));
    let property = f.estate.property.id;
    let policy = |policy| Command::SetFeePolicy(FeePolicy { premises_id: property, policy });
    let block = policy(OverduePolicy::BlockSales);
    let share = policy(OverduePolicy::ShareOfPurchase { share_bp: 4_000 });
    // November's rent (500.00, due November 10th) is overdue on December 1st.
    f.november_rent(schedule_id);
    let op = Operation::new(f.estate.next_op(), admin.clone(), block);
    committed(f.run(&op));
    let paid_at = at() + SignedDuration::from_mins(1);
    let before = f.db.wallet_balance(f.estate.account_a).unwrap();
    let blocked = f.intent(5_000);
    assert_eq!(kept(f.run(&Fixture::settle_op(blocked, "T-BLOCK", 5_000, "CNY", paid_at))), "fees_overdue");
    let i = &f.db.payment_intents[&blocked];
    assert_eq!((i.status, i.reason_code.as_str()), (IntentStatus::Refused, "fees_overdue"));
    assert_eq!((f.refunds_owed(), f.db.wallet_balance(f.estate.account_a).unwrap()), (5_000, before));

    let op = Operation::new(f.estate.next_op(), admin, share);
    committed(f.run(&op));
    let shared = f.intent(5_000);
    match committed(f.run(&Fixture::settle_op(shared, "T-SHARE", 5_000, "CNY", paid_at))) {
        Outcome::Sale(s) => assert_eq!((s.property_fees_minor, s.credit_minor), (2_000, 3_000)),
        other => panic!("not a sale: {other:?}"),
    }
    let charge = &f.db.fee_charges[&(schedule_id, 202_611, f.estate.unit_a.id)];
    assert_eq!((charge.amount_minor, charge.paid_minor), (50_000, 2_000));
    assert!(f.db.check().is_empty(), "{:?}", f.db.check());

    // On monthly bills (后付费), the account's online payment pays what its charges owe first, due or not and
    // whatever the policy (back to blocking): 600.00 pays the 480.00 left, 120.00 is credit.
    let admin = Actor::operator(f.estate.admin, f.estate.group.id, "10.0.0.9");
    let switch = voltvend_ops::SwitchBillingMode {
        account_id: f.estate.account_a,
        mode: voltvend_domain::BillingMode::Postpaid,
        reason: "monthly bills".into(),
    };
    for command in [Command::SwitchBillingMode(switch), policy(OverduePolicy::BlockSales)] {
        let op = Operation::new(f.estate.next_op(), admin.clone(), command);
        committed(f.run(&op));
    }
    let bill = f.intent(60_000);
    match committed(f.run(&Fixture::settle_op(bill, "T-BILL", 60_000, "CNY", paid_at))) {
        Outcome::Sale(s) => assert_eq!((s.property_fees_minor, s.credit_minor), (48_000, 12_000)),
        other => panic!("not a sale: {other:?}"),
    }
    let charge = &f.db.fee_charges[&(schedule_id, 202_611, f.estate.unit_a.id)];
    assert_eq!(charge.outstanding_minor(), 0);
    assert!(f.db.check().is_empty(), "{:?}", f.db.check());
}

/// 房租物业费 online for a prepaid tenant (issue 18, part 3): an intent for rent alone is checked against what
/// is owed when it is made, and its payment is a fee payment through the channel's standing shift and receipt
/// series, the wallet untouched; a second payment for rent paid meanwhile is kept as owed back.
#[test]
fn a_prepaid_tenant_pays_rent_alone_online() {
    use voltvend_domain::FeeScheduleId;
    let mut f = fixture();
    let (_, nothing_owed) = f.intent_for(10_000, IntentPurpose::Fees);
    assert_eq!(refused(nothing_owed), "no_fees_due");
    let schedule_id = FeeScheduleId::from_uuid(id(7, 0xFE1));
    f.november_rent(schedule_id);
    // More than is owed is credit a prepaid account buys as a sale: refused before the customer pays.
    let (_, too_much) = f.intent_for(50_001, IntentPurpose::Fees);
    assert_eq!(refused(too_much), "fees_overpaid");
    let wallet = f.db.wallet_balance(f.estate.account_a).unwrap();
    let receipts = f.db.vending_points[&f.channel.vending_point_id].last_receipt_no + 1;
    let (rent, made) = f.intent_for(20_000, IntentPurpose::Fees);
    match committed(made) {
        Outcome::PaymentIntent(i) => assert_eq!(i.purpose, IntentPurpose::Fees),
        other => panic!("not an intent: {other:?}"),
    }
    let paid_at = at() + SignedDuration::from_mins(1);
    let settle = Fixture::settle_op(rent, "T-RENT", 20_000, "CNY", paid_at);
    let paid = match committed(f.run(&settle)) {
        Outcome::FeesPaid(p) => p,
        other => panic!("not a fee payment: {other:?}"),
    };
    assert_eq!(
        (paid.method, paid.shift_id, paid.reference.as_str()),
        (PaymentMethod::Online, f.channel.shift_id, "T-RENT")
    );
    assert_eq!((paid.vending_point_id, paid.receipt_no), (f.channel.vending_point_id, receipts));
    assert_eq!((paid.lines.len(), paid.lines[0].amount_minor, paid.credit_minor), (1, 20_000, 0));
    let charge = &f.db.fee_charges[&(schedule_id, 202_611, f.estate.unit_a.id)];
    assert_eq!(charge.paid_minor, 20_000);
    assert_eq!((f.clearing(), f.db.wallet_balance(f.estate.account_a).unwrap()), (20_000, wallet));
    let i = &f.db.payment_intents[&rent];
    assert_eq!((i.status, i.settled_by), (IntentStatus::Paid, Some(settle.id)));
    // Told again: the same payment, nothing more.
    assert!(matches!(f.run(&settle), Ok(Applied::Replayed { .. })));
    assert_eq!(f.db.fee_charges[&(schedule_id, 202_611, f.estate.unit_a.id)].paid_minor, 20_000);

    // Two intents for the 300.00 left; the second is paid after the first settled it: kept, owed back.
    let (first, made) = f.intent_for(30_000, IntentPurpose::Fees);
    committed(made);
    let (second, made) = f.intent_for(30_000, IntentPurpose::Fees);
    committed(made);
    committed(f.run(&Fixture::settle_op(first, "T-RENT-2", 30_000, "CNY", paid_at)));
    let late = Fixture::settle_op(second, "T-RENT-3", 30_000, "CNY", paid_at);
    assert_eq!(kept(f.run(&late)), "no_fees_due");
    assert_eq!(f.refunds_owed(), 30_000);
    assert_eq!(f.db.fee_charges[&(schedule_id, 202_611, f.estate.unit_a.id)].outstanding_minor(), 0);
    // Owed back as rent money: credited after review, it is a fee payment — refused while nothing is owed (a
    // prepaid tenant's rent is not turned into energy credit), and the refusal changes nothing.
    assert_eq!(f.db.refused_payments[&late.id].purpose, IntentPurpose::Fees);
    let admin = Actor::operator(f.estate.admin, f.estate.group.id, "10.0.0.9");
    let credit = Command::CreditRefusedPayment(CreditRefusedPayment { payment: late.id });
    let before = f.db.clone();
    let op = Operation::new(f.estate.next_op(), admin, credit);
    assert_eq!(f.run(&op).unwrap_err().code(), "no_fees_due");
    assert_eq!(f.db, before);
    assert!(f.db.check().is_empty(), "{:?}", f.db.check());
}
