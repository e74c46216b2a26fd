//! Random sequences of ledger operations run through the real store and through the domain's in-memory
//! book as a model: outcomes and balances must agree, and the database's invariant check must pass.

use std::sync::Arc;

use proptest::prelude::*;
use uuid::Uuid;
use voltvend_domain::{
    Currency, LedgerAccount, LedgerAccountId, LedgerAccountKind, LedgerBook, ManualClock, Money, Owner, PostOutcome,
    Premises, PremisesId, ShiftId, TransferId, TransferKind, TransferRequest,
};
use voltvend_store::{OpenOptions, Store, StoreError};

use crate::harness;

#[derive(Debug, Clone)]
enum Op {
    Post { id: u8, from: u8, to: u8, amount_minor: i64 },
    Replay(usize),
    Tamper(usize),
    Reverse { id: u8, of: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<u8>(), 0_u8..5, 0_u8..5, -2_i64..5_000)
            .prop_map(|(id, from, to, amount_minor)| Op::Post { id, from, to, amount_minor }),
        2 => any::<usize>().prop_map(Op::Replay),
        1 => any::<usize>().prop_map(Op::Tamper),
        1 => (any::<u8>(), any::<usize>()).prop_map(|(id, of)| Op::Reverse { id, of }),
    ]
}

fn lid(n: u8) -> LedgerAccountId {
    LedgerAccountId::from_uuid(Uuid::from_u128(0x1000 + u128::from(n)))
}

async fn run(store: Arc<dyn Store>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    store.migrate().await.unwrap();
    let root = Premises::new_root(PremisesId::from_uuid(Uuid::from_u128(1)), "Site", "Africa/Nairobi").unwrap();
    store.insert_premises(&root).await.unwrap();
    let mut model = LedgerBook::new();
    for n in 0..5_u8 {
        let (kind, owner, limit) = match n {
            0 => (LedgerAccountKind::CashDrawer, Owner::Shift(ShiftId::from_uuid(Uuid::from_u128(9))), None),
            1 | 2 => (
                LedgerAccountKind::CustomerWallet,
                Owner::Account(Uuid::from_u128(u128::from(n)).into()),
                Some(i64::from(n - 1) * 300),
            ),
            3 => (LedgerAccountKind::EnergyRevenue, Owner::None, None),
            _ => (LedgerAccountKind::Tax, Owner::None, None),
        };
        let account = LedgerAccount::new(lid(n), kind, owner, root.id, Currency::KES, limit).unwrap();
        store.insert_ledger_account(&account).await.unwrap();
        model.open_account(account).unwrap();
    }
    let at = harness::start();
    let mut seen: Vec<TransferRequest> = Vec::new();
    for op in ops {
        let request = match op {
            Op::Post { id, from, to, amount_minor } => TransferRequest::simple(
                TransferId::from_uuid(Uuid::from_u128(u128::from(id))),
                TransferKind::Payment,
                lid(from),
                lid(to),
                Money::from_minor(amount_minor, Currency::KES),
                "",
            ),
            Op::Replay(i) if !seen.is_empty() => seen[i % seen.len()].clone(),
            Op::Tamper(i) if !seen.is_empty() => {
                let mut r = seen[i % seen.len()].clone();
                r.memo.push('x');
                r
            }
            Op::Reverse { id, of } if !seen.is_empty() => {
                let original = model.transfer(seen[of % seen.len()].id).cloned().unwrap();
                TransferRequest::reversal_of(
                    TransferId::from_uuid(Uuid::from_u128(0x9000 + u128::from(id))),
                    &original,
                    "",
                )
            }
            _ => continue,
        };
        let expected = model.post(request.clone(), at);
        let got = store.post_transfer(request.clone()).await;
        match (&expected, &got) {
            (Ok(PostOutcome::Committed(e)), Ok(PostOutcome::Committed(g))) => {
                prop_assert_eq!(&e.request, &g.request);
                prop_assert_eq!(e.seq, g.seq);
                seen.push(request);
            }
            (Ok(PostOutcome::Replayed(e)), Ok(PostOutcome::Replayed(g))) => prop_assert_eq!(&e.request, &g.request),
            (Err(e), Err(StoreError::Ledger(g))) => prop_assert_eq!(e, g),
            _ => prop_assert!(false, "model {expected:?} but store {got:?}"),
        }
    }
    for n in 0..5 {
        let (_, balance) = store.ledger_account(lid(n)).await.unwrap();
        prop_assert_eq!(Some(balance), model.account(lid(n)).map(|(_, b)| b));
    }
    let report = store.check_ledger().await.unwrap();
    prop_assert!(report.is_ok(), "{:?}", report.problems);
    prop_assert_eq!(report.transfers, model.last_seq());
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(harness::start()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sqlite_store_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("p.sqlite").display());
            let store = voltvend_store::open(&OpenOptions::new(&url), clock()).await.unwrap();
            let result = run(store.clone(), ops).await;
            store.close().await;
            result
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn postgres_store_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let Some(admin) = harness::pg_admin_url() else { return Ok(()) };
        runtime().block_on(async {
            let (url, name) = harness::fresh_pg_database(&admin).await;
            let store = voltvend_store::open(&OpenOptions::new(&url), clock()).await.unwrap();
            let result = run(store.clone(), ops).await;
            store.close().await;
            harness::drop_pg_database(&admin, &name).await;
            result
        })?;
    }
}
