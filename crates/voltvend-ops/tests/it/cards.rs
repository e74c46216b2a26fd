//! IC cards through the operations against the in-memory model: a user card issued, sales written onto it
//! one purchase at a time, return data moving the loaded count on, 挂失 and 补卡 carrying the sequence over,
//! 退卡, and every refusal changing nothing.

use jiff::Timestamp;
use voltvend_domain::{AccountId, MeterId};
use voltvend_ops::memory::MemoryDb;
use voltvend_ops::{
    Actor, Applied, CardStatus, Command, Context, FieldCardKind, IssueCard, IssueFieldCard, MeterCard, OpError,
    Operation, Outcome, PaymentMethod, RecordCardRead, ReturnSource, Sale, SetCardStatus,
};
use voltvend_testkit::estate::{CARD_METER_NO, Estate};

fn at() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

struct Fixture {
    estate: Estate,
    db: MemoryDb,
    ctx: Context,
    meter: MeterId,
    account: AccountId,
}

fn setup() -> Fixture {
    let mut estate = Estate::new(7);
    let mut db = MemoryDb::new();
    let ctx = Estate::context();
    let (meter, account, ops) = estate.ic_card_setup(CARD_METER_NO, true);
    for op in estate.setup.iter().chain(&ops) {
        db.run(op, None, &ctx, at()).unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    Fixture { estate, db, ctx, meter, account }
}

const CARD_1: &str = "A1B2C3D4E5F60001";
const CARD_2: &str = "A1B2C3D4E5F60002";
const CARD_3: &str = "A1B2C3D4E5F60003";

impl Fixture {
    fn run(&mut self, actor: Actor, command: Command) -> Result<Applied, OpError> {
        let op = Operation::new(self.estate.next_op(), actor, command);
        self.db.run(&op, None, &self.ctx, at())
    }

    fn issue(&mut self, serial: &str, reason: &str) -> Result<Applied, OpError> {
        let cmd = Command::IssueCard(IssueCard {
            meter_id: self.meter,
            serial: serial.into(),
            key_no: 1,
            reason: reason.into(),
        });
        self.run(self.estate.cashier_a(), cmd)
    }

    fn sell(&mut self, paid_minor: i64) -> Result<Applied, OpError> {
        let sale = Sale::paid(self.account, self.meter, self.estate.shift_a, PaymentMethod::Cash, paid_minor);
        self.run(self.estate.cashier_a(), Command::Sale(sale))
    }

    fn read(&mut self, serial: Option<&str>, last_count: u32, remaining_milli: i64) -> Result<Applied, OpError> {
        let cmd = Command::RecordCardRead(RecordCardRead {
            meter_id: self.meter,
            serial: serial.map(str::to_string),
            last_count,
            remaining_milli,
            at: at(),
        });
        self.run(self.estate.cashier_a(), cmd)
    }

    fn status(&mut self, serial: &str, status: CardStatus) -> Result<Applied, OpError> {
        let cmd = Command::SetCardStatus(SetCardStatus {
            meter_id: self.meter,
            serial: serial.into(),
            status,
            reason: "customer at the counter".into(),
        });
        self.run(self.estate.cashier_a(), cmd)
    }

    fn card(&self) -> MeterCard {
        self.db.meter_cards.get(&self.meter).cloned().expect("the meter has a card")
    }
}

fn code(r: Result<Applied, OpError>) -> &'static str {
    match r {
        Err(e) => e.code(),
        Ok(Applied::Committed { outcome: Outcome::PaymentRefused { code, .. }, .. }) => code,
        Ok(_) => "ok",
    }
}

fn committed(r: Result<Applied, OpError>) -> Outcome {
    match r {
        Ok(Applied::Committed { outcome, .. }) => outcome,
        other => panic!("not committed: {other:?}"),
    }
}

#[test]
fn a_card_carries_one_purchase_at_a_time_and_a_reissue_carries_the_sequence_on() {
    let mut f = setup();
    assert_eq!(code(f.sell(1_000)), "card_not_issued", "no sale before a card is issued");
    let Outcome::CardIssued(card) = committed(f.issue(CARD_1, "")) else { panic!("not issued") };
    assert_eq!((card.serial.as_str(), card.generation, card.sold_count), (CARD_1, 0, 0));

    // 6.00 at the flat 0.60 buys 10.016 kWh (whole Wh, the fraction of a fen left carried in the pricing
    // state, as for any sale): purchase 1 on the card.
    let Outcome::Sale(s) = committed(f.sell(600)) else { panic!("not a sale") };
    assert_eq!((s.quantity_milli, s.energy_minor, s.credit_minor, s.tokens.len()), (10_016, 600, 0, 0));
    let card = f.card();
    assert_eq!((card.sold_count, card.loaded_count, card.last_purchase_milli), (1, 0, 10_016));
    assert_eq!(card.last_purchase_sale, Some(s.operation_id));

    // Until the meter has loaded purchase 1, no second purchase goes onto the card; the payment is kept as owed
    // back (a refusal after the money was taken), and the card is unchanged.
    let refused_before = f.db.refused_payments.len();
    assert_eq!(code(f.sell(600)), "card_purchase_pending");
    assert_eq!(f.db.refused_payments.len(), refused_before + 1);
    assert_eq!(f.card().sold_count, 1);

    // Return data claiming a purchase never sold is not genuine: refused, nothing moves.
    assert_eq!(code(f.read(Some(CARD_1), 2, 0)), "card_count_ahead");
    assert_eq!(f.card().loaded_count, 0);
    // Another card's return data is not this meter's.
    assert_eq!(code(f.read(Some(CARD_3), 1, 0)), "card_not_this_meter");

    // The card comes back with the controller's return file: purchase 1 loaded, 7.5 kWh left.
    let Outcome::CardRead { card, current } = committed(f.read(Some(CARD_1), 1, 7_500)) else { panic!() };
    assert!(current);
    assert_eq!(card.loaded_count, 1);
    let meter = f.db.meters.get(&f.meter).unwrap();
    let last = meter.local.last_return.as_ref().unwrap();
    assert_eq!((last.source, last.remaining_milli), (ReturnSource::Card, 7_500));
    let Outcome::Sale(s) = committed(f.sell(1_200)) else { panic!("not a sale") };
    assert_eq!((f.card().sold_count, f.card().last_purchase_milli), (2, s.quantity_milli));
    assert!((19_990..=20_040).contains(&s.quantity_milli), "12.00 buys about 20 kWh: {}", s.quantity_milli);

    // 挂失: no sale onto a lost card.
    assert_eq!(code(f.status(CARD_2, CardStatus::Lost)), "card_not_current", "a stale form names another card");
    committed(f.status(CARD_1, CardStatus::Lost));
    assert_eq!(code(f.sell(600)), "card_lost");

    // 补卡: a reason is required, the serial must be new to the meter; the new card replaces the old one and
    // carries purchase 2 (still unloaded) under the same count.
    assert_eq!(code(f.issue(CARD_2, "")), "text_empty");
    assert_eq!(code(f.issue(CARD_1, "lost")), "card_already_issued");
    let Outcome::CardIssued(card) = committed(f.issue(CARD_2, "lost card")) else { panic!() };
    assert_eq!(card.generation, 1);
    assert_eq!(card.replaced, vec![CARD_1.to_string()]);
    assert_eq!((card.sold_count, card.loaded_count, card.status), (2, 1, CardStatus::Active));
    assert!(card.purchase_pending());
    assert_eq!(code(f.issue(CARD_1, "found it")), "card_replaced", "a replaced card never comes back");
    assert_eq!(code(f.sell(600)), "card_purchase_pending");

    // 退卡 is refused while a purchase is unloaded; a check card's return data (no serial) moves it on.
    assert_eq!(code(f.status(CARD_2, CardStatus::Returned)), "card_purchase_pending");
    let Outcome::CardRead { card, .. } = committed(f.read(None, 2, 19_000)) else { panic!() };
    assert_eq!(card.loaded_count, 2);
    assert_eq!(f.db.meters.get(&f.meter).unwrap().local.last_return.as_ref().unwrap().source, ReturnSource::CheckCard);
    committed(f.status(CARD_2, CardStatus::Returned));
    assert_eq!(code(f.sell(600)), "card_not_issued");
    assert_eq!(code(f.status(CARD_2, CardStatus::Lost)), "card_status", "a returned card is not lost");

    // The returned card itself may be issued again to this meter (it was blanked).
    let returned_again = f.issue(CARD_2, "the same card back");
    let Outcome::CardIssued(card) = committed(returned_again) else { panic!() };
    assert_eq!((card.serial.as_str(), card.generation, card.replaced.len()), (CARD_2, 2, 1));
    committed(f.status(CARD_2, CardStatus::Lost));
    // Lost, then found: handed back like any card.
    committed(f.status(CARD_2, CardStatus::Returned));
    // A new card after a return: the returned one was blanked, so it is not refused as replaced.
    let Outcome::CardIssued(card) = committed(f.issue(CARD_3, "new tenant card")) else { panic!() };
    assert_eq!((card.generation, card.replaced.len(), card.sold_count), (3, 1, 2));
    committed(f.sell(600));
    assert_eq!(f.card().sold_count, 3);
}

#[test]
fn card_operations_are_refused_outside_scope_for_other_meters_and_for_bad_serials() {
    let mut f = setup();
    assert_eq!(code(f.issue("a1b2c3d4e5f60001", "")), "bad_card_serial");
    assert_eq!(code(f.issue("A1B2C3D4E5F6000", "")), "bad_card_serial");
    // Building B's cashier cannot see building A's unit… the meter sits at the property (in stock there), and
    // the account in A-101: a building-B scope reaches neither.
    let cmd = Command::IssueCard(IssueCard { meter_id: f.meter, serial: CARD_1.into(), key_no: 1, reason: "".into() });
    assert_eq!(code(f.run(f.estate.cashier_b(), cmd)), "not_found");
    // An STS meter takes no card.
    let sts = f.estate.sts_meter;
    let cmd = Command::IssueCard(IssueCard { meter_id: sts, serial: CARD_1.into(), key_no: 1, reason: "".into() });
    assert_eq!(code(f.run(Actor::system("test"), cmd)), "meter_not_card");
    // An unknown key set.
    let cmd = Command::IssueCard(IssueCard { meter_id: f.meter, serial: CARD_1.into(), key_no: 9, reason: "".into() });
    assert_eq!(code(f.run(f.estate.cashier_a(), cmd)), "card_key_missing");
    assert!(f.db.meter_cards.is_empty(), "nothing issued");

    // A card in use on one meter cannot be issued to another.
    committed(f.issue(CARD_1, ""));
    let (other, _, ops) = f.estate.ic_card_setup("000000009999", false);
    for op in &ops {
        f.db.run(op, None, &f.ctx, at()).unwrap();
    }
    let cmd = Command::IssueCard(IssueCard { meter_id: other, serial: CARD_1.into(), key_no: 1, reason: "".into() });
    assert_eq!(code(f.run(f.estate.cashier_a(), cmd)), "card_in_use");
    assert!(!f.db.meter_cards.contains_key(&other));

    // A field engineer's card for the meter: audited; never a customer's card; not outside one's scope.
    let meter = f.meter;
    let field = |serial: &str| {
        Command::IssueFieldCard(IssueFieldCard { meter_id: meter, serial: serial.into(), kind: FieldCardKind::Check })
    };
    assert_eq!(code(f.run(f.estate.cashier_a(), field(CARD_1))), "card_in_use");
    assert_eq!(code(f.run(f.estate.cashier_b(), field(CARD_2))), "not_found");
    let audit_before = f.db.audit.len();
    assert_eq!(code(f.run(f.estate.cashier_a(), field(CARD_2))), "ok");
    let last = f.db.audit.last().unwrap();
    assert_eq!((f.db.audit.len(), last.action.as_str()), (audit_before + 1, "issue_field_card"));
}
