//! 集团财务 against the in-memory model (ADR 0007): a transfer between properties — a sale at the group's
//! counter to a property's tenant, its partial and full reversal, an operator's adjustment — is balanced in each
//! property's books through their inter-property accounts (due to / due from), and each property's books balance
//! on their own after every step.

use std::collections::BTreeMap;

use jiff::Timestamp;
use uuid::Uuid;
use voltvend_domain::{
    BooksId, BuiltinRole, Currency, LedgerAccountId, Money, Operator, OperatorId, Posting, PremisesId, PremisesLevel,
    ShiftId, Side, Transfer, TransferId, TransferKind, TransferRequest, VendingPointId,
};
use voltvend_ops::memory::MemoryDb;
use voltvend_ops::{
    Actor, Applied, Command, Context, OpError, OpenBooks, OpenShift, OpenVendingPoint, Operation, Outcome,
    PaymentMethod, Sale, SaleRecord,
};
use voltvend_testkit::estate::{Estate, PASSWORD_HASH};

fn at() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

/// The estate, with books kept at the group, a counter at the group's head office and its cashier's shift.
struct Group {
    estate: Estate,
    db: MemoryDb,
    ctx: Context,
    books: BooksId,
    cashier: OperatorId,
    shift: ShiftId,
}

fn setup() -> Group {
    let mut estate = Estate::new(7);
    let mut db = MemoryDb::new();
    let ctx = Estate::context();
    for op in &estate.setup {
        db.run(op, None, &ctx, at()).unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let books = BooksId::from_uuid(Uuid::from_u128(0x7B00_0001));
    let point = VendingPointId::from_uuid(Uuid::from_u128(0x7B00_0002));
    let cashier = OperatorId::from_uuid(Uuid::from_u128(0x7B00_0003));
    let shift = ShiftId::from_uuid(Uuid::from_u128(0x7B00_0004));
    let group = estate.group.id;
    for command in [
        Command::OpenBooks(OpenBooks { id: books, premises_id: group, currency: Currency::CNY }),
        Command::OpenVendingPoint(OpenVendingPoint {
            id: point,
            premises_id: group,
            name: "Head office counter".into(),
            currency: Currency::CNY,
            books_id: books,
            credit_limit_minor: None,
        }),
        Command::AddOperator(Operator::new(
            cashier,
            "cashier.group.7",
            "Head office cashier",
            BuiltinRole::Cashier.as_str(),
            group,
            PASSWORD_HASH,
        )),
    ] {
        let op = estate.system(command);
        db.run(&op, None, &ctx, at()).unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let op = Operation::new(
        estate.next_op(),
        Actor::operator(cashier, group, "10.0.0.9"),
        Command::OpenShift(OpenShift {
            shift_id: shift,
            vending_point_id: point,
            operator_id: cashier,
            opening_float_minor: 0,
        }),
    );
    db.run(&op, None, &ctx, at()).unwrap();
    Group { estate, db, ctx, books, cashier, shift }
}

impl Group {
    fn group_sale(&mut self, paid_minor: i64) -> Result<Applied, OpError> {
        let sale =
            Sale::paid(self.estate.account_a, self.estate.remote_meter, self.shift, PaymentMethod::Cash, paid_minor);
        let op = Operation::new(
            self.estate.next_op(),
            Actor::operator(self.cashier, self.estate.group.id, "10.0.0.9"),
            Command::Sale(sale),
        );
        self.db.run(&op, None, &self.ctx, at())
    }

    fn transfer(&self, id: TransferId) -> &Transfer {
        self.db.transfers.values().find(|t| t.request.id == id).unwrap()
    }

    /// Riverside's and the group's inter-property balances (debit balance: due from the rest of the group).
    fn inter(&self) -> (i64, i64) {
        let of = |b: BooksId| self.db.balance(LedgerAccountId::from_uuid(b.as_uuid())).unwrap();
        (of(self.estate.books), of(self.books))
    }

    /// Debits − credits of every ledger account, summed by the property of its premises.
    fn property_sums(&self) -> BTreeMap<PremisesId, i64> {
        let mut sums = BTreeMap::new();
        for (a, b) in self.db.ledger_accounts.values() {
            let property = self.db.premises[&a.premises_id].property();
            *sums.entry(property).or_insert(0) += b.debits_minor - b.credits_minor;
        }
        sums
    }

    fn assert_books_balance(&self) {
        assert!(self.property_sums().values().all(|s| *s == 0), "{:?}", self.property_sums());
        assert_eq!(self.db.check(), Vec::<String>::new());
    }
}

fn sale_of(r: Result<Applied, OpError>) -> SaleRecord {
    match r {
        Ok(Applied::Committed { outcome: Outcome::Sale(s), .. }) => s,
        other => panic!("not a sale: {other:?}"),
    }
}

fn code(r: Result<Applied, OpError>) -> &'static str {
    match r {
        Err(e) => e.code(),
        Ok(_) => "ok",
    }
}

#[test]
fn a_sale_at_the_group_counter_is_balanced_in_each_propertys_books() {
    let mut g = setup();
    let riverside_inter = LedgerAccountId::from_uuid(g.estate.books.as_uuid());
    let group_inter = LedgerAccountId::from_uuid(g.books.as_uuid());
    // 100.00 cash at the head office for A-101 (a Riverside tenant): the drawer is the group's, the wallet
    // Riverside's. The group owes Riverside 100.00.
    let sale = sale_of(g.group_sale(10_000));
    let t = g.transfer(sale.transfer_id).clone();
    let drawer = g.db.shifts[&g.shift].drawer;
    let wallet = g.db.accounts[&g.estate.account_a].wallet;
    let line = |account| t.request.postings.iter().find(|p| p.account == account).map(|p| (p.side, p.amount_minor));
    assert_eq!(line(drawer), Some((Side::Debit, 10_000)));
    assert_eq!(line(wallet), Some((Side::Credit, 10_000)));
    assert_eq!(line(group_inter), Some((Side::Credit, 10_000)));
    assert_eq!(line(riverside_inter), Some((Side::Debit, 10_000)));
    assert_eq!(g.inter(), (10_000, -10_000));
    g.assert_books_balance();

    // A sale at Riverside's own counter stays in Riverside's books: no inter-property line.
    let own = sale_of(g.db.run(&g.estate.remote_sale(2_000), None, &g.ctx, at()));
    assert_eq!(g.transfer(own.transfer_id).request.postings.len(), 2);
    assert_eq!(g.inter(), (10_000, -10_000));

    // Consumption (Riverside's wallet to Riverside's revenue) stays within Riverside too.
    let op = g.estate.readings(&[("2026-11-23T08:00:00Z", 1_000_000), ("2026-11-23T09:00:00Z", 1_010_000)]);
    g.db.run(&op, None, &g.ctx, at()).unwrap();
    assert_eq!(g.inter(), (10_000, -10_000));
    g.assert_books_balance();

    // A partial reversal naming only the drawer and the wallet is balanced the same way: 30.00 back.
    let mut op = g.estate.reverse(Actor::system("t"), sale.transfer_id, "part refunded");
    if let Command::Reverse(r) = &mut op.command {
        r.lines = Some(vec![
            Posting { account: wallet, side: Side::Debit, amount_minor: 3_000 },
            Posting { account: drawer, side: Side::Credit, amount_minor: 3_000 },
        ]);
    }
    g.db.run(&op, None, &g.ctx, at()).unwrap();
    assert_eq!(g.inter(), (7_000, -7_000));
    g.assert_books_balance();
    // The rest reversed: nothing is owed between them any more.
    let op = g.estate.reverse(Actor::system("t"), sale.transfer_id, "keyed to the wrong customer");
    g.db.run(&op, None, &g.ctx, at()).unwrap();
    assert_eq!(g.inter(), (0, 0));
    g.assert_books_balance();
}

#[test]
fn an_operators_transfer_between_properties_goes_through_their_inter_property_accounts() {
    let mut g = setup();
    let ours = g.db.books[&g.estate.books].clone();
    let theirs = g.db.books[&g.books].clone();
    // The group's bank (card clearing) pays 50.00 of Riverside's revenue: the adjustment names two accounts; it
    // is posted with each side's inter-property line.
    let request = TransferRequest::simple(
        TransferId::from_uuid(Uuid::from_u128(0x7B10_0001)),
        TransferKind::Adjustment,
        theirs.card_clearing,
        ours.energy_revenue,
        Money::from_minor(5_000, Currency::CNY),
        "group pays a property's revenue",
    );
    let op = g.estate.system(Command::PostTransfer(request.clone()));
    let Ok(Applied::Committed { outcome: Outcome::Transfer(t), .. }) = g.db.run(&op, None, &g.ctx, at()) else {
        panic!("not posted")
    };
    assert_eq!(t.request.postings.len(), 4);
    assert_eq!(g.inter(), (5_000, -5_000));
    g.assert_books_balance();
    // Retried with the same id, it is the same transfer (the lines added are the same).
    let again = g.estate.system(Command::PostTransfer(request));
    let Ok(Applied::Committed { outcome: Outcome::Transfer(t2), .. }) = g.db.run(&again, None, &g.ctx, at()) else {
        panic!("not replayed")
    };
    assert_eq!((t2.seq, g.inter()), (t.seq, (5_000, -5_000)));
    // A transfer between the two inter-property accounts alone is posted as it is (how a difference left by a
    // transfer from before these accounts existed is recorded as owed, docs/operators/upgrade.md): it moves
    // 10.00 of what the group owes Riverside, and so puts each property's books out by 10.00, opposite ways.
    let settle = TransferRequest::simple(
        TransferId::from_uuid(Uuid::from_u128(0x7B10_0002)),
        TransferKind::Adjustment,
        theirs.inter_property(),
        ours.inter_property(),
        Money::from_minor(1_000, Currency::CNY),
        "recorded as owed",
    );
    let op = g.estate.system(Command::PostTransfer(settle));
    let Ok(Applied::Committed { outcome: Outcome::Transfer(t3), .. }) = g.db.run(&op, None, &g.ctx, at()) else {
        panic!("not posted")
    };
    assert_eq!((t3.request.postings.len(), g.inter()), (2, (4_000, -4_000)));
    let sums = g.property_sums();
    assert_eq!((sums[&g.estate.property.id], sums[&g.estate.group.id]), (-1_000, 1_000));
    assert_eq!(g.db.check().len(), 2, "{:?}", g.db.check());
}

#[test]
fn an_account_is_kept_in_its_own_propertys_books() {
    let mut g = setup();
    // Hillside keeps no books of its own; an account there may be kept in the group's books, never in
    // Riverside's.
    let hillside = g
        .estate
        .group
        .new_child(PremisesId::from_uuid(Uuid::from_u128(0x7B20_0001)), PremisesLevel::Property, "Hillside 山景")
        .unwrap();
    let unit =
        hillside.new_child(PremisesId::from_uuid(Uuid::from_u128(0x7B20_0002)), PremisesLevel::Unit, "H-1").unwrap();
    for c in [Command::CreatePremises(hillside), Command::CreatePremises(unit.clone())] {
        let op = g.estate.system(c);
        g.db.run(&op, None, &g.ctx, at()).unwrap();
    }
    let (meter, account, receive, open) = g.estate.remote_account_at(&unit, "000000000777");
    let op = g.estate.system(receive);
    g.db.run(&op, None, &g.ctx, at()).unwrap();
    let mut open_elsewhere = open.clone();
    if let Command::OpenAccount(a) = &mut open_elsewhere {
        a.books_id = g.estate.books;
    }
    let before = g.db.transfers.len();
    let op = g.estate.system(open_elsewhere);
    assert_eq!(code(g.db.run(&op, None, &g.ctx, at())), "books_elsewhere");
    let mut open_in_group = open;
    if let Command::OpenAccount(a) = &mut open_in_group {
        a.books_id = g.books;
    }
    let op = g.estate.system(open_in_group);
    g.db.run(&op, None, &g.ctx, at()).unwrap();
    // Hillside keeps no books, so its tenant's money is the group's: a sale at the head office crosses no books.
    let sale = Sale::paid(account, meter, g.shift, PaymentMethod::Cash, 5_000);
    let op =
        Operation::new(g.estate.next_op(), Actor::operator(g.cashier, g.estate.group.id, "x"), Command::Sale(sale));
    let s = sale_of(g.db.run(&op, None, &g.ctx, at()));
    assert_eq!(g.transfer(s.transfer_id).request.postings.len(), 2);
    assert_eq!((g.inter(), g.db.transfers.len()), ((0, 0), before + 1));
    assert_eq!(g.db.check(), Vec::<String>::new());
}
