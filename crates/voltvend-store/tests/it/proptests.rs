//! The group commit, model-checked: random operations — payments, spends, sales, token sales, reversals,
//! suspensions and resumptions, replays, conflicting retries, and operations the database itself refuses — are
//! submitted concurrently to a writer that takes small batches, so that batches mix every kind of outcome. The
//! same operations applied one by one, in the order the writer applied them, to the in-memory model must give
//! the same answer to every caller and the same final state, audit chain included, hash for hash.

use futures_util::future::join_all;
use proptest::prelude::*;
use voltvend_domain::{
    AccountStatus, Currency, LedgerAccountId, Money, OperationId, TransferId, TransferKind, TransferRequest,
};
use voltvend_ops::memory::MemoryDb;
use voltvend_ops::{Actor, Command, Operation, SetAccountStatus};
use voltvend_store::{CheckScope, WriterConfig};
use voltvend_testkit::estate::Estate;

use crate::harness::{self, Harness};

#[derive(Debug, Clone)]
enum Step {
    Payment {
        to_b: bool,
        amount: i64,
    },
    Spend {
        from_b: bool,
        amount: i64,
    },
    Sale {
        amount: i64,
    },
    StsSale {
        amount: i64,
    },
    Reverse {
        of: usize,
    },
    Replay {
        of: usize,
    },
    Conflict {
        of: usize,
    },
    /// A payment the database refuses (see `install_poison_trigger`).
    Poison {
        amount: i64,
    },
    /// Account A suspended (its remote meter tripped and held; its sales refused) or resumed.
    Status {
        suspend: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (any::<bool>(), 1_i64..20_000).prop_map(|(to_b, amount)| Step::Payment { to_b, amount }),
        3 => (any::<bool>(), 1_i64..20_000).prop_map(|(from_b, amount)| Step::Spend { from_b, amount }),
        3 => (-10_i64..30_000).prop_map(|amount| Step::Sale { amount }),
        2 => (50_i64..30_000).prop_map(|amount| Step::StsSale { amount }),
        2 => any::<usize>().prop_map(|of| Step::Reverse { of }),
        2 => any::<usize>().prop_map(|of| Step::Replay { of }),
        1 => any::<usize>().prop_map(|of| Step::Conflict { of }),
        1 => (1_i64..5_000).prop_map(|amount| Step::Poison { amount }),
        1 => any::<bool>().prop_map(|suspend| Step::Status { suspend }),
    ]
}

struct Books {
    drawer: LedgerAccountId,
    wallets: [LedgerAccountId; 2],
    revenue: LedgerAccountId,
}

fn transfer(
    id: OperationId,
    kind: TransferKind,
    from: LedgerAccountId,
    to: LedgerAccountId,
    amount: i64,
    memo: &str,
) -> Operation {
    let t = TransferRequest::simple(
        TransferId::from_uuid(id.as_uuid()),
        kind,
        from,
        to,
        Money::from_minor(amount, Currency::CNY),
        memo,
    );
    Operation::new(id, Actor::system("prop"), Command::PostTransfer(t))
}

/// The operations of a run, and which of them are poisoned.
fn operations(estate: &mut Estate, books: &Books, steps: &[Step]) -> (Vec<Operation>, Vec<bool>) {
    let mut ops: Vec<Operation> = Vec::new();
    let mut poisoned = Vec::new();
    for s in steps {
        let (op, poison) = match s {
            Step::Payment { to_b, amount } => {
                let id = estate.next_op();
                (
                    transfer(
                        id,
                        TransferKind::Payment,
                        books.drawer,
                        books.wallets[usize::from(*to_b)],
                        *amount,
                        "cash",
                    ),
                    false,
                )
            }
            Step::Spend { from_b, amount } => {
                let id = estate.next_op();
                (
                    transfer(
                        id,
                        TransferKind::Consumption,
                        books.wallets[usize::from(*from_b)],
                        books.revenue,
                        *amount,
                        "",
                    ),
                    false,
                )
            }
            Step::Sale { amount } => (estate.remote_sale(*amount), false),
            Step::Status { suspend } => {
                let status = if *suspend { AccountStatus::Suspended } else { AccountStatus::Active };
                let account_id = estate.account_a;
                let command =
                    Command::SetAccountStatus(SetAccountStatus { account_id, status, reason: "model".into() });
                (estate.system(command), false)
            }
            Step::StsSale { amount } => (estate.sts_sale(*amount), false),
            Step::Reverse { of } if !ops.is_empty() => {
                let target = ops[of % ops.len()].transfer_id(0);
                (estate.reverse(Actor::system("prop"), target, "model check"), false)
            }
            Step::Replay { of } if !ops.is_empty() => {
                let i = of % ops.len();
                (ops[i].clone(), poisoned[i])
            }
            Step::Conflict { of } if !ops.is_empty() => {
                let i = of % ops.len();
                let mut op = ops[i].clone();
                match &mut op.command {
                    Command::PostTransfer(t) => t.memo.push_str(" (changed)"),
                    Command::Sale(s) => s.fees_minor += 1,
                    Command::Reverse(r) => r.reason.push_str(" (changed)"),
                    _ => {}
                }
                // A changed poisoned payment is still one the database refuses.
                (op, poisoned[i])
            }
            Step::Poison { amount } => {
                let id = estate.next_op();
                (transfer(id, TransferKind::Payment, books.drawer, books.wallets[0], *amount, "dberror"), true)
            }
            _ => continue,
        };
        ops.push(op);
        poisoned.push(poison);
    }
    (ops, poisoned)
}

async fn run(h: Harness, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut estate = h.estate().await;
    crate::cases::install_poison_trigger(&h).await;
    let (a, b) = (h.store.account(estate.account_a).await.unwrap(), h.store.account(estate.account_b).await.unwrap());
    let books = Books {
        drawer: h.store.shift(estate.shift_a).await.unwrap().drawer,
        wallets: [a.wallet, b.wallet],
        revenue: h.store.books(estate.books).await.unwrap().energy_revenue,
    };
    let (ops, poisoned) = operations(&mut estate, &books, &steps);

    // All submitted at once: the writer takes them in batches of at most five.
    let submitted =
        tokio::task::unconstrained(join_all(ops.iter().cloned().map(|op| h.store.submit_with(op, None)))).await;

    let mut model = MemoryDb::new();
    for op in &estate.setup {
        model.run(op, None, &h.context, harness::start()).unwrap();
    }
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|i| submitted[*i].position);
    for i in order {
        let got = &submitted[i].result;
        if poisoned[i] {
            // The database refuses it; in the model it would pass the rules, or be refused by them first.
            let mut trial = model.clone();
            match trial.run(&ops[i], None, &h.context, harness::start()) {
                Ok(voltvend_ops::Applied::Committed { .. }) => {
                    prop_assert_eq!(got.as_ref().err().map(|e| e.code()), Some("database_refused"), "op {}", i);
                }
                want => {
                    model = trial;
                    prop_assert_eq!(
                        got.as_ref().map_err(|e| e.code()),
                        want.as_ref().map_err(|e| e.code()),
                        "op {}",
                        i
                    );
                }
            }
            continue;
        }
        let want = model.run(&ops[i], None, &h.context, harness::start());
        prop_assert_eq!(
            got.as_ref().map_err(|e| e.code()),
            want.as_ref().map_err(|e| e.code()),
            "op {}: {:?}",
            i,
            ops[i].command
        );
    }

    for (id, _) in model.ledger_accounts.clone() {
        let (_, balance) = h.store.ledger_account(id).await.unwrap();
        prop_assert_eq!(Some(&balance), model.ledger_accounts.get(&id).map(|(_, b)| b));
    }
    prop_assert_eq!(h.store.audit_records(0, 10_000).await.unwrap(), model.audit.clone());
    let mut sales = h.store.sales_of(estate.point_a, 0, 10_000).await.unwrap();
    sales.extend(h.store.sales_of(estate.point_b, 0, 10_000).await.unwrap());
    let mut model_sales = model.sales.clone();
    model_sales.sort_by_key(|s| (s.vending_point_id != estate.point_a, s.receipt_no));
    prop_assert_eq!(sales, model_sales);
    let report = h.store.check(CheckScope::Full).await.unwrap();
    prop_assert!(report.is_ok(), "{:?}", report.problems);
    prop_assert_eq!(report.transfers, model.transfers.len() as i64);
    prop_assert!(model.check().is_empty(), "{:?}", model.check());
    h.finish().await;
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

const SMALL_BATCHES: WriterConfig = WriterConfig { queue_max: 4_096, batch_max: 5 };

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn sqlite_group_commit_agrees_with_the_sequential_model(steps in proptest::collection::vec(step(), 1..48)) {
        runtime().block_on(async { run(Harness::sqlite_with(SMALL_BATCHES).await, steps).await })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn postgres_group_commit_agrees_with_the_sequential_model(steps in proptest::collection::vec(step(), 1..48)) {
        let Some(_) = harness::pg_admin_url() else { return Ok(()) };
        runtime().block_on(async {
            let h = Harness::postgres_with(SMALL_BATCHES).await.unwrap();
            run(h, steps).await
        })?;
    }
}
