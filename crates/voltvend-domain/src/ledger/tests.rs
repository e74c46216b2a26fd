use proptest::prelude::*;
use uuid::Uuid;

use super::*;

fn at() -> Timestamp {
    Timestamp::from_second(1_700_000_000).unwrap()
}

fn lid(n: u128) -> LedgerAccountId {
    LedgerAccountId::from_uuid(Uuid::from_u128(n))
}

fn tid(n: u128) -> TransferId {
    TransferId::from_uuid(Uuid::from_u128(n))
}

fn premises() -> PremisesId {
    PremisesId::from_uuid(Uuid::from_u128(99))
}

fn wallet(n: u128, overdraft: i64) -> LedgerAccount {
    let owner = Owner::Account(AccountId::from_uuid(Uuid::from_u128(1000 + n)));
    LedgerAccount::new(lid(n), LedgerAccountKind::CustomerWallet, owner, premises(), Currency::CNY, Some(overdraft))
        .unwrap()
}

fn drawer(n: u128) -> LedgerAccount {
    let owner = Owner::Shift(ShiftId::from_uuid(Uuid::from_u128(2000 + n)));
    LedgerAccount::new(lid(n), LedgerAccountKind::CashDrawer, owner, premises(), Currency::CNY, None).unwrap()
}

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY)
}

fn book() -> LedgerBook {
    let mut b = LedgerBook::new();
    b.open_account(drawer(1)).unwrap();
    b.open_account(wallet(2, 0)).unwrap();
    b.open_account(wallet(3, 500)).unwrap();
    let revenue =
        LedgerAccount::new(lid(4), LedgerAccountKind::EnergyRevenue, Owner::None, premises(), Currency::CNY, None);
    b.open_account(revenue.unwrap()).unwrap();
    b
}

#[test]
fn cash_sale_moves_money_and_replay_returns_original() {
    let mut b = book();
    let sale = TransferRequest::simple(tid(1), TransferKind::Payment, lid(1), lid(2), cny(10_000), "cash");
    let first = b.post(sale.clone(), at()).unwrap();
    assert!(!first.is_replay());
    assert_eq!(b.account(lid(2)).unwrap().1.normal(Side::Credit), 10_000);
    assert_eq!(b.account(lid(1)).unwrap().1.normal(Side::Debit), 10_000);
    let later = at() + jiff::SignedDuration::from_secs(60);
    let again = b.post(sale.clone(), later).unwrap();
    assert!(again.is_replay());
    assert_eq!(again.transfer(), first.transfer(), "the original result, original timestamp");
    assert_eq!(b.account(lid(2)).unwrap().1.normal(Side::Credit), 10_000, "replay changes nothing");
    let mut changed = sale;
    changed.postings[0].amount_minor = 1;
    changed.postings[1].amount_minor = 1;
    assert_eq!(b.post(changed, at()), Err(LedgerError::Conflict(tid(1))));
}

#[test]
fn wallet_respects_overdraft_limit() {
    let mut b = book();
    // Wallet 2 has no overdraft: it cannot pay for energy it has no credit for.
    let spend = TransferRequest::simple(tid(1), TransferKind::Consumption, lid(2), lid(4), cny(1), "");
    assert!(matches!(b.post(spend, at()), Err(LedgerError::InsufficientBalance { limit_minor: 0, .. })));
    // Wallet 3 may go to -5.00 but not beyond.
    let ok = TransferRequest::simple(tid(2), TransferKind::Consumption, lid(3), lid(4), cny(500), "");
    b.post(ok, at()).unwrap();
    let over = TransferRequest::simple(tid(3), TransferKind::Consumption, lid(3), lid(4), cny(1), "");
    assert!(matches!(b.post(over, at()), Err(LedgerError::InsufficientBalance { balance_minor: -500, .. })));
    // A payment into an overdrawn wallet is always allowed.
    let pay = TransferRequest::simple(tid(4), TransferKind::Payment, lid(1), lid(3), cny(100), "");
    b.post(pay, at()).unwrap();
    assert_eq!(b.account(lid(3)).unwrap().1.normal(Side::Credit), -400);
}

#[test]
fn malformed_requests_are_refused_and_change_nothing() {
    let mut b = book();
    let base = TransferRequest::simple(tid(1), TransferKind::Payment, lid(1), lid(2), cny(100), "");
    let check = |b: &mut LedgerBook, req: TransferRequest, expect: LedgerError| {
        assert_eq!(b.post(req, at()), Err(expect));
        assert_eq!(b.last_seq(), 0);
        b.check_invariants().unwrap();
    };
    let mut r = base.clone();
    r.postings.pop();
    check(&mut b, r, LedgerError::PostingCount { got: 1 });
    let mut r = base.clone();
    r.postings[1].amount_minor = 99;
    check(&mut b, r, LedgerError::Unbalanced { debits_minor: 100, credits_minor: 99 });
    let mut r = base.clone();
    r.postings[0].amount_minor = 0;
    r.postings[1].amount_minor = 0;
    check(&mut b, r, LedgerError::NonPositiveAmount(0));
    let mut r = base.clone();
    r.postings[1].account = lid(1);
    check(&mut b, r, LedgerError::DuplicateAccount(lid(1)));
    let mut r = base.clone();
    r.postings[1].account = lid(77);
    check(&mut b, r, LedgerError::UnknownAccount(lid(77)));
    let mut r = base.clone();
    r.currency = Currency::ZAR;
    check(
        &mut b,
        r,
        LedgerError::CurrencyMismatch {
            account: lid(1),
            account_currency: Currency::CNY,
            transfer_currency: Currency::ZAR,
        },
    );
    let mut r = base.clone();
    r.kind = TransferKind::Correction;
    check(&mut b, r, LedgerError::CorrectionTarget);
    let mut r = base.clone();
    r.kind = TransferKind::Correction;
    r.corrects = Some(tid(42));
    check(&mut b, r, LedgerError::CorrectedTransferNotFound(tid(42)));
    let mut r = base;
    r.memo = "x".repeat(TransferRequest::MEMO_LEN_MAX + 1);
    check(&mut b, r, LedgerError::MemoTooLong);
}

#[test]
fn correction_reverses_and_references_original() {
    let mut b = book();
    let sale = TransferRequest::simple(tid(1), TransferKind::Payment, lid(1), lid(2), cny(2_500), "");
    let original = b.post(sale, at()).unwrap().transfer().clone();
    let reversal = TransferRequest::reversal_of(tid(2), &original, "keyed wrong amount");
    let posted = b.post(reversal, at()).unwrap();
    assert_eq!(posted.transfer().request.corrects, Some(tid(1)));
    assert_eq!(b.account(lid(2)).unwrap().1.normal(Side::Credit), 0);
    assert_eq!(b.account(lid(2)).unwrap().1, Balance { debits_minor: 2_500, credits_minor: 2_500 }, "history kept");
    b.check_invariants().unwrap();
}

#[test]
fn a_transfer_is_reversed_at_most_once_and_by_at_most_its_amount() {
    let mut b = book();
    let mut split = TransferRequest::simple(tid(1), TransferKind::Vend, lid(1), lid(2), cny(10_000), "sale");
    split.postings[1].amount_minor = 9_000;
    split.postings.push(Posting { account: lid(4), side: Side::Credit, amount_minor: 1_000 });
    let original = b.post(split, at()).unwrap().transfer().clone();

    // A correction whose postings do not mirror the original: same side, or an account it never touched.
    let mut same_side = TransferRequest::reversal_of(tid(10), &original, "");
    for p in &mut same_side.postings {
        p.side = p.side.opposite();
    }
    assert_eq!(b.post(same_side, at()), Err(LedgerError::NotMirror { target: tid(1), account: lid(1) }));
    let mut elsewhere = TransferRequest::reversal_of(tid(11), &original, "");
    elsewhere.postings[1].account = lid(3);
    assert_eq!(b.post(elsewhere, at()), Err(LedgerError::NotMirror { target: tid(1), account: lid(3) }));

    // A partial reversal of part of the split, then one that asks for more than is left.
    let partial = TransferRequest {
        id: tid(12),
        kind: TransferKind::Correction,
        currency: Currency::CNY,
        postings: vec![
            Posting { account: lid(2), side: Side::Debit, amount_minor: 4_000 },
            Posting { account: lid(1), side: Side::Credit, amount_minor: 4_000 },
        ],
        corrects: Some(tid(1)),
        memo: "refund part".into(),
    };
    b.post(partial.clone(), at()).unwrap();
    let mut too_much = partial.clone();
    too_much.id = tid(13);
    for p in &mut too_much.postings {
        p.amount_minor = 5_001;
    }
    assert_eq!(
        b.post(too_much, at()),
        Err(LedgerError::ReversalExceedsOriginal {
            target: tid(1),
            account: lid(2),
            asked_minor: 5_001,
            left_minor: 5_000
        })
    );
    // The full reversal of what is left is a different request from the original's mirror image.
    let whole = TransferRequest::reversal_of(tid(14), &original, "");
    assert!(matches!(b.post(whole, at()), Err(LedgerError::ReversalExceedsOriginal { .. })));
    let rest = TransferRequest {
        id: tid(15),
        postings: vec![
            Posting { account: lid(2), side: Side::Debit, amount_minor: 5_000 },
            Posting { account: lid(4), side: Side::Debit, amount_minor: 1_000 },
            Posting { account: lid(1), side: Side::Credit, amount_minor: 6_000 },
        ],
        ..partial.clone()
    };
    b.post(rest, at()).unwrap();
    assert_eq!(b.unreversed(tid(1)).unwrap().iter().map(|l| l.2).collect::<Vec<_>>(), vec![0, 0, 0]);
    // A second reversal of the same sale, and a reversal of a reversal.
    let again = TransferRequest::reversal_of(tid(16), &original, "twice");
    assert_eq!(b.post(again, at()), Err(LedgerError::AlreadyReversed(tid(1))));
    let of_reversal = TransferRequest::reversal_of(tid(17), b.transfer(tid(12)).unwrap(), "undo the refund");
    assert_eq!(b.post(of_reversal, at()), Err(LedgerError::ReversalOfReversal(tid(12))));
    assert_eq!(b.account(lid(2)).unwrap().1.normal(Side::Credit), 0);
    b.check_invariants().unwrap();

    // Loaded from storage, the corrections still count: a fresh book refuses the second reversal too.
    let mut fresh = book();
    for id in [1, 12, 15] {
        fresh.load_transfer(b.transfer(tid(id)).unwrap().clone());
    }
    assert_eq!(
        fresh.post(TransferRequest::reversal_of(tid(18), &original, ""), at()),
        Err(LedgerError::AlreadyReversed(tid(1)))
    );
}

#[test]
fn replays_compare_canonical_forms_before_validating() {
    let mut b = book();
    let mut split = TransferRequest::simple(tid(1), TransferKind::Vend, lid(1), lid(2), cny(300), "sale");
    split.postings[1].amount_minor = 200;
    split.postings.push(Posting { account: lid(4), side: Side::Credit, amount_minor: 100 });
    b.post(split.clone(), at()).unwrap();
    let mut reordered = split.clone();
    reordered.postings.reverse();
    assert!(b.post(reordered, at()).unwrap().is_replay(), "the same postings in another order");
    let mut moved = split.clone();
    moved.postings[1].amount_minor = 100;
    moved.postings[2].amount_minor = 200;
    assert_eq!(b.post(moved, at()), Err(LedgerError::Conflict(tid(1))));

    // A transfer stored before a rule was tightened (here: one that today's validation refuses) replays.
    let mut old = b.clone();
    let mut legacy = TransferRequest::simple(tid(2), TransferKind::Payment, lid(1), lid(2), cny(5), "");
    legacy.memo = "x".repeat(TransferRequest::MEMO_LEN_MAX + 1);
    old.load_transfer(Transfer { request: legacy.clone(), seq: 2, posted_at: at() });
    assert!(old.post(legacy, at()).unwrap().is_replay());
}

#[test]
fn memos_refuse_control_characters() {
    let mut b = book();
    let backslash = TransferRequest::simple(tid(1), TransferKind::Payment, lid(1), lid(2), cny(5), r"cash\0");
    assert!(b.post(backslash, at()).is_ok(), "a backslash is text");
    let nul = TransferRequest::simple(tid(2), TransferKind::Payment, lid(1), lid(2), cny(5), "cash\u{0}at counter");
    assert!(matches!(b.post(nul, at()), Err(LedgerError::Text(TextError::ControlCharacter { code: 0, at: 4, .. }))));
    let esc = TransferRequest::simple(tid(3), TransferKind::Payment, lid(1), lid(2), cny(5), "\u{1b}[2J");
    assert_eq!(b.post(esc, at()).unwrap_err().code(), "text_control_character");
    assert_eq!(b.last_seq(), 1);
}

#[test]
fn rollback_undoes_everything_since_the_savepoint() {
    let mut b = book();
    b.post(TransferRequest::simple(tid(1), TransferKind::Payment, lid(1), lid(2), cny(500), ""), at()).unwrap();
    b.mark_written();
    let before: Vec<_> = {
        let mut v: Vec<_> = b.accounts().map(|(a, bal)| (a.id, bal)).collect();
        v.sort_by_key(|x| x.0);
        v
    };
    let sp = b.savepoint();
    b.open_account(wallet(9, 0)).unwrap();
    b.post(TransferRequest::simple(tid(2), TransferKind::Payment, lid(1), lid(9), cny(70), ""), at()).unwrap();
    let original = b.transfer(tid(1)).unwrap().clone();
    b.post(TransferRequest::reversal_of(tid(3), &original, ""), at()).unwrap();
    assert_eq!(b.pending().transfers.len(), 2);
    b.rollback(sp);
    let mut after: Vec<_> = b.accounts().map(|(a, bal)| (a.id, bal)).collect();
    after.sort_by_key(|x| x.0);
    assert_eq!(after, before);
    assert_eq!((b.last_seq(), b.transfer(tid(2)), b.account(lid(9)).is_none()), (1, None, true));
    assert!(b.pending().is_empty());
    // The reversal was undone with its tally: the original can still be reversed.
    b.post(TransferRequest::reversal_of(tid(4), &original, ""), at()).unwrap();
    let pending = b.pending();
    assert_eq!(pending.transfers.iter().map(|t| t.seq).collect::<Vec<_>>(), vec![2]);
    assert_eq!(pending.balances.len(), 2);
    b.check_invariants().unwrap();
}

#[test]
fn accounts_validate_owner_and_limits() {
    let bad =
        LedgerAccount::new(lid(1), LedgerAccountKind::CustomerWallet, Owner::None, premises(), Currency::CNY, None);
    assert!(matches!(bad, Err(LedgerError::OwnerMismatch { .. })));
    let neg = LedgerAccount::new(lid(1), LedgerAccountKind::Tax, Owner::None, premises(), Currency::CNY, Some(-1));
    assert_eq!(neg, Err(LedgerError::BadOverdraftLimit));
    let w = LedgerAccount::new(
        lid(1),
        LedgerAccountKind::CustomerWallet,
        Owner::Account(AccountId::from_uuid(Uuid::nil())),
        premises(),
        Currency::CNY,
        None,
    )
    .unwrap();
    assert_eq!(w.overdraft_limit_minor, Some(0), "wallets always have a limit");
    for owner in [Owner::None, Owner::Provider("mpesa".into()), Owner::Meter(MeterId::from_uuid(Uuid::from_u128(5)))] {
        assert_eq!(owner.to_string().parse::<Owner>().unwrap(), owner);
    }
    assert!("provider:M-Pesa".parse::<Owner>().is_err());
}

/// One step of a random ledger workload.
#[derive(Debug, Clone)]
enum Op {
    /// A new transfer between random accounts with random amounts (may be refused).
    Post { id: u8, from: u8, to: u8, amount_minor: i64, third: Option<(u8, i64)> },
    /// Resubmit a request seen earlier, exactly.
    Replay(usize),
    /// Resubmit an earlier id with other contents.
    Tamper(usize),
    /// Reverse an earlier committed transfer.
    Reverse { id: u8, of: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<u8>(), 0_u8..6, 0_u8..6, -5_i64..20_000, proptest::option::of((0_u8..6, 1_i64..5_000)))
            .prop_map(|(id, from, to, amount_minor, third)| Op::Post { id, from, to, amount_minor, third }),
        2 => any::<usize>().prop_map(Op::Replay),
        1 => any::<usize>().prop_map(Op::Tamper),
        1 => (any::<u8>(), any::<usize>()).prop_map(|(id, of)| Op::Reverse { id, of }),
    ]
}

fn random_book() -> LedgerBook {
    let mut b = LedgerBook::new();
    b.open_account(drawer(0)).unwrap();
    b.open_account(wallet(1, 0)).unwrap();
    b.open_account(wallet(2, 1_000)).unwrap();
    b.open_account(wallet(3, 0)).unwrap();
    for (n, kind) in [(4, LedgerAccountKind::EnergyRevenue), (5, LedgerAccountKind::Tax)] {
        b.open_account(LedgerAccount::new(lid(n), kind, Owner::None, premises(), Currency::CNY, None).unwrap())
            .unwrap();
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ledger_invariants_hold_over_random_operations(ops in proptest::collection::vec(op(), 1..80)) {
        let mut b = random_book();
        let mut seen: Vec<TransferRequest> = Vec::new();
        let mut committed: Vec<Transfer> = Vec::new();
        for op in ops {
            let before: Vec<_> = b.accounts().map(|(a, bal)| (a.id, bal)).collect();
            let seq_before = b.last_seq();
            let (request, expect_replay) = match op {
                Op::Post { id, from, to, amount_minor, third } => {
                    let mut r = TransferRequest::simple(tid(u128::from(id)), TransferKind::Payment, lid(u128::from(from)), lid(u128::from(to)), cny(amount_minor), "");
                    if let Some((acc, extra)) = third {
                        r.postings[1].amount_minor = amount_minor.saturating_sub(extra);
                        r.postings.push(Posting { account: lid(u128::from(acc)), side: Side::Credit, amount_minor: extra });
                    }
                    (r, false)
                }
                Op::Replay(i) if !seen.is_empty() => (seen[i % seen.len()].clone(), true),
                Op::Tamper(i) if !seen.is_empty() => {
                    let mut r = seen[i % seen.len()].clone();
                    r.memo.push('!');
                    (r, false)
                }
                Op::Reverse { id, of } if !committed.is_empty() => {
                    let original = &committed[of % committed.len()];
                    (TransferRequest::reversal_of(tid(1_000 + u128::from(id)), original, "fix"), false)
                }
                _ => continue,
            };
            match b.post(request.clone(), at()) {
                Ok(PostOutcome::Committed(t)) => {
                    prop_assert!(!expect_replay || !seen.contains(&request));
                    prop_assert_eq!(t.seq, seq_before + 1);
                    t.request.validate().unwrap();
                    seen.push(request);
                    committed.push(t);
                }
                Ok(PostOutcome::Replayed(t)) => {
                    prop_assert_eq!(&t.request, &request);
                    let after: Vec<_> = b.accounts().map(|(a, bal)| (a.id, bal)).collect();
                    prop_assert_eq!(after, before, "a replay changes nothing");
                    prop_assert_eq!(b.last_seq(), seq_before);
                }
                Err(_) => {
                    let after: Vec<_> = b.accounts().map(|(a, bal)| (a.id, bal)).collect();
                    prop_assert_eq!(after, before, "a refusal changes nothing");
                    prop_assert_eq!(b.last_seq(), seq_before);
                }
            }
            prop_assert!(b.check_invariants().is_ok(), "{:?}", b.check_invariants());
            for (account, balance) in b.accounts() {
                if let Some(limit) = account.overdraft_limit_minor {
                    prop_assert!(balance.normal(account.kind.normal_side()) >= -limit);
                }
            }
        }
    }
}
