use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::future::join_all;
use jiff::SignedDuration;
use voltvend_domain::ledger::Balance;
use voltvend_domain::{
    ControlMode, CtVtRatio, Currency, LedgerAccountKind, LedgerError, Meter, MeterId, MeterProtocol, MeterState, Money,
    Operator, OperatorId, Posting, PremisesId, PremisesLevel, Side, TransferKind, TransferRequest, Utility,
};
use voltvend_ops::{Applied, Command, OpError, Operation, OutboxKind, Outcome, Relay};
use voltvend_store::{Backend, CheckScope, StoreError, backup};

use crate::harness::{Harness, agrees_with_the_model, model_of, start};

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY)
}

fn refused(r: Result<impl std::fmt::Debug, StoreError>) -> &'static str {
    match r {
        Ok(v) => panic!("expected a refusal, got {v:?}"),
        Err(e) => e.code(),
    }
}

pub async fn migrations_are_idempotent(h: &Harness) {
    assert!(h.store.is_migrated().await.unwrap());
    h.store.migrate().await.unwrap();
    assert_eq!(h.store.counts().await.unwrap().transfers, 0);
}

pub async fn premises_tree_round_trip(h: &Harness) {
    let tree = h.premises_tree().await;
    assert_eq!(h.store.premises(tree[3].id).await.unwrap(), tree[3]);
    let subtree = h.store.premises_subtree(tree[1].id).await.unwrap();
    assert_eq!(subtree.iter().map(|p| p.id).collect::<Vec<_>>(), vec![tree[1].id, tree[2].id, tree[3].id]);
    assert_eq!(h.store.premises_roots().await.unwrap(), vec![tree[0].clone()]);
    // A child whose parent does not exist, or that does not fit its parent, is refused.
    let orphan = tree[2].new_child(PremisesId::from_uuid(h.uuid()), PremisesLevel::Unit, "B-1").unwrap();
    let mut bad = orphan.clone();
    bad.parent = Some(PremisesId::from_uuid(h.uuid()));
    assert_eq!(refused(h.store.run(h.op_id(), "t", Command::CreatePremises(bad)).await), "not_found");
    let mut misplaced = orphan;
    misplaced.level = PremisesLevel::Property;
    assert_eq!(refused(h.store.run(h.op_id(), "t", Command::CreatePremises(misplaced)).await), "premises_bad_nesting");
    assert_eq!(refused(h.store.run(h.op_id(), "t", Command::CreatePremises(tree[0].clone())).await), "already_exists");
    assert_eq!(h.store.counts().await.unwrap().premises, 4);
}

pub async fn estate_records_round_trip(h: &Harness) {
    let estate = h.estate().await;
    let account = h.store.account(estate.account_a).await.unwrap();
    assert_eq!(account.account.premises_id, estate.unit_a.id);
    assert_eq!(h.store.customer(account.account.customer_id).await.unwrap().name, "Wang Fang 王芳");
    let meter = h.store.meter(estate.remote_meter).await.unwrap();
    assert_eq!((meter.meter.state, meter.meter.account_id), (MeterState::Active, Some(estate.account_a)));
    assert_eq!((meter.tariff_code.as_deref(), meter.relay), (Some("test-flat"), Relay::Closed));
    let sts = h.store.sts_state(estate.sts_meter).await.unwrap().unwrap();
    assert_eq!((sts.record.clone(), sts.last_tid), (estate.sts_record.clone(), None));
    let (wallet, balance) = h.store.ledger_account(account.wallet).await.unwrap();
    assert_eq!((wallet.kind, balance), (LedgerAccountKind::CustomerWallet, Balance::default()));
    assert_eq!(h.store.vending_point(estate.point_a).await.unwrap().last_receipt_no, 0);
    // A meter serial is unique.
    let mut twin = Meter::receive(
        MeterId::from_uuid(h.uuid()),
        &meter.meter.serial,
        Utility::Electricity,
        ControlMode::Remote,
        MeterProtocol::Dlt645,
        "000000000161",
        CtVtRatio::new(40, 1).unwrap(),
    )
    .unwrap();
    twin.premises_id = Some(estate.property.id);
    assert_eq!(refused(h.store.run(h.op_id(), "t", Command::ReceiveMeter(twin)).await), "already_exists");
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.audit_records, estate.setup.len() as i64);
}

pub async fn operators_are_unique(h: &Harness) {
    let tree = h.premises_tree().await;
    let op = Operator::new(
        OperatorId::from_uuid(h.uuid()),
        "cashier1",
        "Counter 1",
        "cashier",
        tree[1].id,
        voltvend_testkit::estate::PASSWORD_HASH,
    );
    h.run(Command::AddOperator(op.clone())).await;
    assert_eq!(h.store.operator_by_username("cashier1").await.unwrap(), Some(op.clone()));
    assert_eq!(h.store.operator_by_username("nobody").await.unwrap(), None);
    let mut again = op;
    again.id = OperatorId::from_uuid(h.uuid());
    assert_eq!(refused(h.store.run(h.op_id(), "t", Command::AddOperator(again.clone())).await), "already_exists");
    again.username = "other".into();
    again.display_name = "Evil\u{0}Name".into();
    assert_eq!(refused(h.store.run(h.op_id(), "t", Command::AddOperator(again)).await), "text_control_character");
}

pub async fn transfer_replay_and_conflict(h: &Harness) {
    let (drawer, wallet, revenue) = h.ledger_accounts(0).await;
    let id = h.transfer_id();
    let sale = TransferRequest::simple(id, TransferKind::Payment, drawer, wallet, cny(10_000), "cash at counter 1");
    let first = h.store.post_transfer(sale.clone()).await.unwrap();
    assert!(!first.is_replay());
    assert_eq!(first.transfer().seq, 1);

    h.clock.advance(SignedDuration::from_secs(3_600));
    let again = h.store.post_transfer(sale.clone()).await.unwrap();
    assert!(again.is_replay());
    assert_eq!(again.transfer(), first.transfer(), "a retry returns the original result and time");
    // The same postings in another order are the same request.
    let mut reordered = sale.clone();
    reordered.postings.reverse();
    assert!(h.store.post_transfer(reordered).await.unwrap().is_replay());
    assert_eq!(h.store.transfer(id).await.unwrap().as_ref(), Some(first.transfer()));

    let mut other = sale;
    other.memo = "a different sale".into();
    assert_eq!(refused(h.store.post_transfer(other).await), "idempotency_conflict");

    let spend = TransferRequest::simple(h.transfer_id(), TransferKind::Consumption, wallet, revenue, cny(10_001), "");
    assert!(matches!(
        h.store.post_transfer(spend).await,
        Err(StoreError::Refused(OpError::Ledger(LedgerError::InsufficientBalance {
            balance_minor: 10_000,
            limit_minor: 0,
            ..
        })))
    ));
    let spend = TransferRequest::simple(h.transfer_id(), TransferKind::Consumption, wallet, revenue, cny(2_345), "");
    h.store.post_transfer(spend).await.unwrap();

    let (account, balance) = h.store.ledger_account(wallet).await.unwrap();
    assert_eq!(balance, Balance { debits_minor: 2_345, credits_minor: 10_000 });
    let lines = h.store.statement(wallet, 10).await.unwrap();
    assert_eq!(lines.iter().map(|l| l.amount_minor).collect::<Vec<_>>(), vec![2_345, -10_000]);
    let found = h.store.find_ledger_account(
        LedgerAccountKind::CustomerWallet,
        &account.owner,
        account.premises_id,
        Currency::CNY,
    );
    assert_eq!(found.await.unwrap().map(|a| a.id), Some(wallet));
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.transfers, report.entries), (2, 4));
}

pub async fn refusals_change_nothing(h: &Harness) {
    let (drawer, wallet, _) = h.ledger_accounts(0).await;
    let ok = TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(500), "");
    h.store.post_transfer(ok).await.unwrap();
    let before = (h.store.ledger_account(wallet).await.unwrap(), h.store.counts().await.unwrap());

    let unknown = voltvend_domain::LedgerAccountId::from_uuid(h.uuid());
    let mut bad = Vec::new();
    bad.push(TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, unknown, cny(1), ""));
    bad.push(TransferRequest::simple(
        h.transfer_id(),
        TransferKind::Payment,
        drawer,
        wallet,
        Money::from_minor(1, Currency::ZAR),
        "",
    ));
    bad.push(TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(-5), ""));
    let mut unbalanced = TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(5), "");
    unbalanced.postings[0].amount_minor = 6;
    bad.push(unbalanced);
    // PostgreSQL cannot store a NUL at all: it must be refused before it reaches the database.
    bad.push(TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(5), "nul\u{0}here"));
    for request in bad {
        assert!(matches!(h.store.post_transfer(request).await, Err(StoreError::Refused(_))));
    }
    let after = (h.store.ledger_account(wallet).await.unwrap(), h.store.counts().await.unwrap());
    assert_eq!(after, before);
    assert!(h.store.check(CheckScope::Full).await.unwrap().is_ok());
}

pub async fn reversals_are_limited_to_what_is_left(h: &Harness) {
    let (drawer, wallet, _) = h.ledger_accounts(0).await;
    let sale = TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(5_000), "");
    let original = h.store.post_transfer(sale).await.unwrap().transfer().clone();
    let mut partial = TransferRequest::reversal_of(h.transfer_id(), &original, "half");
    for p in &mut partial.postings {
        p.amount_minor = 2_000;
    }
    h.store.post_transfer(partial.clone()).await.unwrap();
    let mut too_much = partial.clone();
    too_much.id = h.transfer_id();
    for p in &mut too_much.postings {
        p.amount_minor = 3_001;
    }
    assert_eq!(refused(h.store.post_transfer(too_much).await), "reversal_exceeds_original");
    let mut mirror = TransferRequest::reversal_of(h.transfer_id(), &original, "wrong side");
    for p in &mut mirror.postings {
        p.side = p.side.opposite();
        p.amount_minor = 10;
    }
    assert_eq!(refused(h.store.post_transfer(mirror).await), "correction_not_mirror");
    let mut rest = TransferRequest::reversal_of(h.transfer_id(), &original, "the rest");
    for p in &mut rest.postings {
        p.amount_minor = 3_000;
    }
    h.store.post_transfer(rest).await.unwrap();
    let twice = TransferRequest::reversal_of(h.transfer_id(), &original, "again");
    assert_eq!(refused(h.store.post_transfer(twice).await), "already_reversed");
    let of_reversal =
        TransferRequest::reversal_of(h.transfer_id(), &h.store.transfer(partial.id).await.unwrap().unwrap(), "undo");
    assert_eq!(refused(h.store.post_transfer(of_reversal).await), "reversal_of_reversal");
    let mut dangling = TransferRequest::reversal_of(h.transfer_id(), &original, "");
    dangling.corrects = Some(h.transfer_id());
    assert_eq!(refused(h.store.post_transfer(dangling).await), "corrected_transfer_not_found");
    assert_eq!(h.store.ledger_account(wallet).await.unwrap().1.normal(Side::Credit), 0);
    assert_eq!(h.store.transfer(original.request.id).await.unwrap(), Some(original), "the original is untouched");
    assert!(h.store.check(CheckScope::Full).await.unwrap().is_ok());
}

/// On a current-thread runtime every submission below is queued before the writer task runs, so the writer
/// takes them all in one batch: one transaction, one durable commit, 500 answers.
pub async fn concurrent_posts_share_one_commit(h: &Harness) {
    let (drawer, wallet, revenue) = h.ledger_accounts(0).await;
    let stats = h.store.writer_stats();
    let batches_before = stats.batches.load(Ordering::Relaxed);
    let mut requests = Vec::new();
    for i in 0..500_i64 {
        requests.push(TransferRequest::simple(
            h.transfer_id(),
            TransferKind::Payment,
            drawer,
            wallet,
            cny(100 + i),
            "",
        ));
    }
    // One spend that the payments before it in the same batch make affordable.
    requests.push(TransferRequest::simple(h.transfer_id(), TransferKind::Consumption, wallet, revenue, cny(1_000), ""));
    // `unconstrained` lifts tokio's cooperative budget so that the test itself does not yield half-way.
    let results =
        tokio::task::unconstrained(join_all(requests.iter().cloned().map(|r| h.store.post_transfer(r)))).await;
    for r in &results {
        assert!(r.as_ref().is_ok_and(|o| !o.is_replay()), "{r:?}");
    }
    assert_eq!(stats.batches.load(Ordering::Relaxed) - batches_before, 1, "all posts shared one commit");
    let seqs: Vec<i64> = results.iter().map(|r| r.as_ref().unwrap().transfer().seq).collect();
    assert_eq!(seqs, (1..=501).collect::<Vec<_>>(), "order of arrival, no gaps");
    let paid: i64 = (0..500).map(|i| 100 + i).sum();
    assert_eq!(h.store.ledger_account(wallet).await.unwrap().1.normal(Side::Credit), paid - 1_000);
    assert!(h.store.check(CheckScope::Full).await.unwrap().is_ok());
}

/// Installs a trigger that makes the database refuse any transfer whose memo starts with `dberror`: a real
/// database error, caused by one operation, that no rule of ours foresees.
pub async fn install_poison_trigger(h: &Harness) {
    use sqlx::Connection;
    match h.store.backend() {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&h.url).await.unwrap();
            sqlx::query(
                "CREATE TRIGGER poison BEFORE INSERT ON transfers WHEN NEW.memo LIKE 'dberror%' \
                 BEGIN SELECT RAISE(ABORT, 'injected database error'); END",
            )
            .execute(&mut conn)
            .await
            .unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&h.url).await.unwrap();
            sqlx::query(
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.memo LIKE 'dberror%' THEN RAISE EXCEPTION 'injected database error'; END IF; RETURN NEW; END; $$",
            )
            .execute(&mut conn)
            .await
            .unwrap();
            sqlx::query("CREATE TRIGGER poison BEFORE INSERT ON transfers FOR EACH ROW EXECUTE FUNCTION poison()")
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

pub async fn a_database_error_fails_only_its_operation(h: &Harness) {
    let (drawer, wallet, revenue) = h.ledger_accounts(0).await;
    install_poison_trigger(h).await;
    let stats = h.store.writer_stats();
    let mut requests = Vec::new();
    for i in 0..20_i64 {
        let memo = if i == 7 { "dberror: refused by the database" } else { "cash" };
        requests.push(TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(100), memo));
    }
    // A spend that needs all 19 good payments: the poisoned one must not count.
    requests.push(TransferRequest::simple(h.transfer_id(), TransferKind::Consumption, wallet, revenue, cny(1_900), ""));
    requests.push(TransferRequest::simple(h.transfer_id(), TransferKind::Consumption, wallet, revenue, cny(1), ""));
    let results =
        tokio::task::unconstrained(join_all(requests.iter().cloned().map(|r| h.store.post_transfer(r)))).await;
    for (i, r) in results.iter().enumerate() {
        match i {
            7 => assert_eq!(r.as_ref().err().map(StoreError::code), Some("database_refused"), "{r:?}"),
            21 => assert_eq!(r.as_ref().err().map(StoreError::code), Some("insufficient_balance"), "{r:?}"),
            _ => assert!(r.is_ok(), "{i}: {r:?}"),
        }
    }
    assert!(stats.retried_batches.load(Ordering::Relaxed) >= 1, "the batch was retried operation by operation");
    assert_eq!(h.store.ledger_account(wallet).await.unwrap().1.normal(Side::Credit), 0);
    assert!(h.store.transfer(requests[7].id).await.unwrap().is_none());
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.transfers, 20, "19 payments and the spend, gapless");
}

/// The estate's sales, readings and corrections through the store give what the in-memory model gives.
pub async fn operations_agree_with_the_model(h: &Harness) {
    let mut estate = h.estate().await;
    let mut ops = [
        estate.remote_sale(8_000),
        estate.sts_sale(5_000),
        estate.readings(&[("2026-11-23T00:00:00Z", 1_000_000), ("2026-11-23T06:00:00Z", 1_100_000)]),
        estate.readings(&[("2026-11-23T07:00:00Z", 1_150_000)]),
        estate.remote_sale(5_000),
        estate.sts_sale(2_000),
        // 回抄: what the keypad meter reports left (its source and figures go through the meters' columns).
        Operation::new(
            voltvend_domain::OperationId::from_uuid(uuid::Uuid::from_u128(0x0E7_0000)),
            voltvend_ops::Actor::system("check card"),
            Command::RecordMeterReturn(voltvend_ops::RecordMeterReturn {
                meter_id: estate.sts_meter,
                at: start(),
                source: voltvend_ops::ReturnSource::CheckCard,
                remaining_milli: 4_250,
            }),
        ),
    ];
    let results = tokio::task::unconstrained(join_all(ops.iter().cloned().map(|op| h.store.submit(op)))).await;
    let mut all = estate.setup.clone();
    all.extend(ops.iter().cloned());
    let (model, expected) = model_of(&all, &h.context);
    for (got, want) in results.iter().zip(expected.iter().skip(estate.setup.len())) {
        assert_eq!(got.as_ref().map_err(|e| e.code()), want.as_ref().map_err(|e| e.code()));
    }
    let trip = model.outbox.iter().map(|o| o.kind).collect::<Vec<_>>();
    assert_eq!(trip, vec![OutboxKind::RelayTrip, OutboxKind::RelayClose]);
    let outbox = h.store.outbox(0, 10).await.unwrap();
    assert_eq!(outbox.iter().map(|(_, o)| o.clone()).collect::<Vec<_>>(), model.outbox);
    // Newest first within a scope: the remote meter's building sees both, the other building neither.
    let newest: Vec<_> = outbox.iter().rev().cloned().collect();
    assert_eq!(h.store.recent_alarms(estate.building_a.id, None, 10).await.unwrap(), newest);
    assert_eq!(h.store.recent_alarms(estate.group.id, None, 10).await.unwrap(), newest);
    assert!(h.store.recent_alarms(estate.building_b.id, None, 10).await.unwrap().is_empty());
    let older = h.store.recent_alarms(estate.group.id, Some(newest[0].0), 10).await.unwrap();
    assert_eq!(older, newest[1..].to_vec(), "before a sequence number: the older ones");
    for account in [estate.account_a, estate.account_b] {
        let rec = h.store.account(account).await.unwrap();
        let balance = h.store.ledger_account(rec.wallet).await.unwrap().1.normal(Side::Credit);
        assert_eq!(Some(balance), model.wallet_balance(account));
    }
    let sales = h.store.sales_of(estate.point_b, 0, 10).await.unwrap();
    let model_sales: Vec<_> = model.sales.iter().filter(|s| s.vending_point_id == estate.point_b).cloned().collect();
    assert_eq!(sales, model_sales, "receipts, tokens and splits alike");
    // The ledger's order, a page of two at a time: every sale once, by time then id.
    let mut ledger = Vec::new();
    let mut after = None;
    loop {
        let page = h.store.sales_ledger_page(None, &voltvend_store::SaleFilter::default(), after, 2).await.unwrap();
        after = page.last().map(|s| (s.at, s.operation_id));
        let n = page.len();
        ledger.extend(page);
        if n < 2 {
            break;
        }
    }
    let mut expected = model.sales.clone();
    expected.sort_by_key(|s| (s.at, s.operation_id));
    assert_eq!(ledger, expected);
    assert_eq!(h.store.sts_state(estate.sts_meter).await.unwrap().as_ref(), model.sts.get(&estate.sts_meter));
    // The credit sold onto the keypad meter (累计结余) is kept with it.
    let sts_meter = h.store.meter(estate.sts_meter).await.unwrap();
    assert_eq!(Some(&sts_meter), model.meters.get(&estate.sts_meter));
    assert!(sts_meter.local.sold_milli > 0 && sts_meter.local.last_return.is_some(), "{:?}", sts_meter.local);
    assert_eq!(h.store.meter(estate.remote_meter).await.unwrap().relay, Relay::Closed);
    let readings = h.store.readings(estate.remote_meter, 10).await.unwrap();
    assert_eq!(readings.len(), 3);
    assert_eq!(h.store.audit_records(0, 1_000).await.unwrap(), model.audit, "the same audit chain, hash for hash");
    // A retry of a sale through the store returns its saved answer; a changed retry conflicts.
    let replay = h.store.submit(ops[0].clone()).await.unwrap();
    assert!(replay.is_replay());
    if let Command::Sale(s) = &mut ops[0].command {
        s.fees_minor += 1;
    }
    assert_eq!(refused(h.store.submit(ops[0].clone()).await), "idempotency_conflict");
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

pub async fn saved_responses_are_returned_byte_for_byte(h: &Harness) {
    let mut estate = h.estate().await;
    let render: Arc<voltvend_ops::Renderer> = Arc::new(|o: &Outcome| match o {
        Outcome::Sale(s) => {
            format!("{{\"receipt\":{},\"balance\":{}}}", s.receipt_no, s.balance_after_minor).into_bytes()
        }
        _ => b"{}".to_vec(),
    });
    let op = estate.remote_sale(1_234);
    let first = h.store.submit_with(op.clone(), Some(render.clone())).await.result.unwrap();
    h.clock.advance(SignedDuration::from_secs(60));
    let again = h.store.submit_with(op, Some(render)).await.result.unwrap();
    assert!(again.is_replay());
    assert_eq!(again.response(), Some(&b"{\"receipt\":1,\"balance\":1234}"[..]));
    assert_eq!(again.response(), first.response());
    let Applied::Replayed { at, .. } = again else { panic!() };
    assert_eq!(at, start(), "the original time");
}

pub async fn tampering_is_detected(h: &Harness) {
    let (drawer, wallet, _) = h.ledger_accounts(0).await;
    let sale = TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(700), "");
    h.store.post_transfer(sale).await.unwrap();
    // Someone edits a cached balance behind the ledger's back, and tries to edit history.
    let statements: [&str; 3] = [
        "UPDATE ledger_accounts SET credits_posted_minor = 7000 WHERE kind = 'customer_wallet'",
        "UPDATE entries SET amount_minor = 1",
        "DELETE FROM transfers",
    ];
    execute_raw(h, &statements[..1], true).await;
    execute_raw(h, &statements[1..], false).await;
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(!report.is_ok());
    assert!(report.problems.iter().any(|p| p.contains("caches")), "{:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.contains("does not sum to zero")), "{:?}", report.problems);
}

/// Runs statements on a connection of its own; each must succeed or fail as `succeed` says.
async fn execute_raw(h: &Harness, statements: &[&str], succeed: bool) {
    use sqlx::Connection;
    for sql in statements {
        let ok = match h.store.backend() {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&h.url).await.unwrap();
                sqlx::query(sql).execute(&mut conn).await.is_ok()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&h.url).await.unwrap();
                sqlx::query(sql).execute(&mut conn).await.is_ok()
            }
        };
        assert_eq!(ok, succeed, "{sql}");
    }
}

/// Someone with database access edits, deletes and reorders audit records (dropping the append-only
/// triggers first, as a determined intruder would): `check` finds each.
pub async fn audit_tampering_is_detected(h: &Harness) {
    let mut estate = h.estate().await;
    for _ in 0..3 {
        h.store.submit(estate.remote_sale(1_000)).await.unwrap();
    }
    let n = h.store.audit_head().await.unwrap().seq;
    let drop_triggers: &[&str] = match h.store.backend() {
        Backend::Sqlite => &["DROP TRIGGER audit_append_only_u", "DROP TRIGGER audit_append_only_d"],
        Backend::Postgres => &["DROP TRIGGER audit_append_only ON audit_log"],
    };
    execute_raw(h, drop_triggers, true).await;
    let check = async || h.store.check(CheckScope::Full).await.unwrap().problems;
    assert_eq!(check().await, Vec::<String>::new());

    let edit = format!("UPDATE audit_log SET after_text = after_text || ' (edited)' WHERE seq = {}", n - 1);
    execute_raw(h, &[&edit], true).await;
    assert!(check().await.iter().any(|p| p.contains("altered")), "edit");
    let undo = format!("UPDATE audit_log SET after_text = replace(after_text, ' (edited)', '') WHERE seq = {}", n - 1);
    execute_raw(h, &[&undo], true).await;
    assert_eq!(check().await, Vec::<String>::new());

    // Reordered: two records swap their contents but keep their places.
    let swap = [
        format!("UPDATE audit_log SET seq = -1 WHERE seq = {}", n - 2),
        format!("UPDATE audit_log SET seq = {} WHERE seq = {}", n - 2, n - 1),
        format!("UPDATE audit_log SET seq = {} WHERE seq = -1", n - 1),
    ];
    execute_raw(h, &swap.iter().map(String::as_str).collect::<Vec<_>>(), true).await;
    assert!(!check().await.is_empty(), "reorder");
    execute_raw(h, &swap.iter().map(String::as_str).collect::<Vec<_>>(), true).await;
    assert_eq!(check().await, Vec::<String>::new());

    // Deleted: one in the middle, then the last one (caught by the head kept apart).
    execute_raw(h, &[&format!("DELETE FROM audit_log WHERE seq = {n}")], true).await;
    assert!(check().await.iter().any(|p| p.contains("head")), "a record cut off the end");
    execute_raw(h, &[&format!("DELETE FROM audit_log WHERE seq = {}", n - 2)], true).await;
    assert!(check().await.iter().any(|p| p.contains("missing or reordered")), "a record deleted in the middle");
    // The bounded start-up check sees the tail too.
    let bounded = h.store.check(CheckScope::Bounded { audit_tail: 10 }).await.unwrap();
    assert!(!bounded.is_ok());
}

pub async fn receipt_gaps_are_detected(h: &Harness) {
    let mut estate = h.estate().await;
    for _ in 0..3 {
        h.store.submit(estate.remote_sale(1_000)).await.unwrap();
    }
    assert!(h.store.check(CheckScope::Full).await.unwrap().is_ok());
    let drop_triggers: &[&str] = match h.store.backend() {
        Backend::Sqlite => &["DROP TRIGGER sales_append_only_d"],
        Backend::Postgres => &["DROP TRIGGER sales_append_only ON sales"],
    };
    execute_raw(h, drop_triggers, true).await;
    execute_raw(h, &["DELETE FROM sales WHERE receipt_no = 2"], true).await;
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.problems.iter().any(|p| p.contains("gaps")), "{:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.contains("Counter A")), "{:?}", report.problems);
}

pub async fn live_connections_are_durable(h: &Harness) {
    let d = h.store.durability().await.unwrap();
    match h.store.backend() {
        // WAL with synchronous=FULL (2): a commit is on disk before it is acknowledged.
        Backend::Sqlite => assert_eq!((d.journal_mode.as_str(), d.synchronous.as_str()), ("wal", "2")),
        Backend::Postgres => assert_eq!(d.synchronous, "on"),
    }
}

/// Two writers on one database (two processes, as far as it can tell) never collide on a sequence number.
pub async fn two_writers_never_collide(h: &Harness) {
    let (drawer, wallet, _) = h.ledger_accounts(0).await;
    let other = h.reopen().await;
    let mut futures = Vec::new();
    for i in 0..200_i64 {
        let r = TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(1 + i), "");
        let store = if i % 2 == 0 { h.store.clone() } else { other.clone() };
        futures.push(async move { store.post_transfer(r).await });
    }
    let results = join_all(futures).await;
    assert!(results.iter().all(Result::is_ok), "{:?}", results.iter().find(|r| r.is_err()));
    other.close().await;
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.transfers, 200);
}

/// A shutdown drains the writer: every operation submitted before it is answered, and every acknowledged one
/// is durable; later submissions are refused at once.
pub async fn shutdown_answers_every_caller(h: &Harness) {
    let (drawer, wallet, _) = h.ledger_accounts(0).await;
    let store = h.reopen().await;
    let requests: Vec<_> = (0..300_i64)
        .map(|i| TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(1 + i), ""))
        .collect();
    let posts = join_all(requests.iter().cloned().map(|r| {
        let store = store.clone();
        async move { store.post_transfer(r).await }
    }));
    let (results, ()) = tokio::join!(posts, async {
        tokio::task::yield_now().await;
        store.shutdown().await;
    });
    let acked = results.iter().filter(|r| r.is_ok()).count();
    for (r, request) in results.iter().zip(&requests) {
        match r {
            Ok(_) => assert!(h.store.transfer(request.id).await.unwrap().is_some(), "acknowledged but not durable"),
            Err(e) => assert_eq!(e.code(), "shutting_down"),
        }
    }
    assert!(acked > 0, "the queued posts were committed, not dropped");
    assert_eq!(refused(store.post_transfer(requests[0].clone()).await), "shutting_down");
    store.close().await;
    assert_eq!(h.store.check(CheckScope::Full).await.unwrap().transfers, acked as i64);
}

pub async fn backup_while_writing(h: &Harness) {
    let (drawer, wallet, _) = h.ledger_accounts(0).await;
    for i in 0..20 {
        let r = TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(100 + i), "");
        h.store.post_transfer(r).await.unwrap();
    }
    let dir = h.dir.path().join("backups");
    // Writers go on while the backup runs; the copy is a consistent snapshot either way.
    let writes = async {
        for i in 0..20 {
            let r = TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(1 + i), "");
            h.store.post_transfer(r).await.unwrap();
        }
    };
    let (file, ()) = tokio::join!(h.store.backup_to(&dir, "20261123T080000Z"), writes);
    if h.store.backend() == Backend::Postgres
        && !voltvend_testkit::peer_available(voltvend_testkit::program_runs("pg_dump"), "pg_dump (postgresql-client)")
    {
        return;
    }
    let file = file.unwrap_or_else(|e| panic!("backup failed: {e}"));
    assert!(file.is_file());
    assert!(
        matches!(h.store.backup_to(&dir, "20261123T080000Z").await, Err(StoreError::Backup(_))),
        "never overwrites"
    );
    // Verified beside the live database, whichever the backend (a PostgreSQL dump through a scratch database),
    // and a damaged file is not.
    let verified = backup::verify_backup(&file, &h.url, h.clock.clone()).await.unwrap();
    assert!(verified.is_ok() && verified.transfers >= 20, "{verified:?}");
    let damaged = h.dir.path().join("damaged-backup");
    std::fs::write(&damaged, b"not a backup at all").unwrap();
    assert!(matches!(backup::verify_backup(&damaged, &h.url, h.clock.clone()).await, Err(StoreError::Backup(_))));
    if h.store.backend() == Backend::Sqlite {
        let before = std::fs::read(&file).unwrap();
        let report = backup::verify_sqlite_file(&file, h.clock.clone()).await.unwrap();
        assert!(report.transfers >= 20 && report.transfers <= 40, "{report:?}");
        assert_eq!(std::fs::read(&file).unwrap(), before, "verifying writes nothing to the backup");
        let siblings: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(siblings.len(), 1, "no -wal or -shm beside the backup: {siblings:?}");
        // Restoring over the live database is refused while it exists (no --force) and while it is held.
        let refused = backup::restore(&file, &h.url, false, h.clock.clone()).await;
        assert!(matches!(refused, Err(StoreError::Restore(ref m)) if m.contains("--force")), "{refused:?}");
        let lock = h.store.lock_instance().await.unwrap();
        let refused = backup::restore(&file, &h.url, true, h.clock.clone()).await;
        assert!(matches!(refused, Err(StoreError::Locked(_))), "{refused:?}");
        lock.release().await;
        // Into a new place it restores and verifies.
        let target = format!("sqlite://{}", h.dir.path().join("restored.sqlite").display());
        let restored = backup::restore(&file, &target, false, h.clock.clone()).await.unwrap();
        assert_eq!(restored.check.transfers, report.transfers);
        // A corrupt or empty backup is refused before anything is touched, and is not changed either.
        let corrupt = h.dir.path().join("corrupt.sqlite");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.truncate(bytes.len() / 2);
        for b in bytes.iter_mut().skip(100).step_by(97) {
            *b = 0xFF;
        }
        std::fs::write(&corrupt, &bytes).unwrap();
        let e = backup::restore(&corrupt, &target, true, h.clock.clone()).await.unwrap_err();
        assert!(e.to_string().starts_with("restore failed"), "{e}");
        let empty = h.dir.path().join("empty.sqlite");
        std::fs::write(&empty, b"").unwrap();
        assert!(backup::restore(&empty, &target, true, h.clock.clone()).await.is_err());
        assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "an empty file stays empty");
        assert!(!h.dir.path().join("empty.sqlite-wal").exists());
        assert!(backup::verify_sqlite_file(&h.dir.path().join("restored.sqlite"), h.clock.clone()).await.is_ok());
    } else {
        let admin = crate::harness::pg_admin_url().unwrap();
        let (target, name) = crate::harness::fresh_pg_database(&admin).await;
        let restored = backup::restore(&file, &target, false, h.clock.clone()).await.unwrap();
        assert!(restored.check.is_ok() && restored.check.transfers >= 20, "{:?}", restored.check);
        let again = backup::restore(&file, &target, false, h.clock.clone()).await;
        assert!(matches!(again, Err(StoreError::Restore(ref m)) if m.contains("--force")), "{again:?}");
        // A damaged dump is refused in the scratch database; the target keeps its data.
        let damaged = h.dir.path().join("damaged.pgdump");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.truncate(bytes.len() * 2 / 3);
        std::fs::write(&damaged, bytes).unwrap();
        let e = backup::restore(&damaged, &target, true, h.clock.clone()).await.unwrap_err();
        assert!(e.to_string().starts_with("restore failed"), "{e}");
        let kept = voltvend_store::open(&voltvend_store::OpenOptions::new(&target), h.clock.clone()).await.unwrap();
        assert_eq!(kept.check(CheckScope::Full).await.unwrap().transfers, restored.check.transfers);
        kept.close().await;
        backup::restore(&file, &target, true, h.clock.clone()).await.unwrap();
        crate::harness::drop_pg_database(&admin, &name).await;
    }
}

pub async fn a_database_without_schema_is_not_backed_up(h: &Harness) {
    let empty_url = match h.store.backend() {
        Backend::Sqlite => {
            let path = h.dir.path().join("other.sqlite");
            let url = format!("sqlite://{}", path.display());
            // Not created by a command that may not create one.
            let missing = voltvend_store::open(&voltvend_store::OpenOptions::new(&url), h.clock.clone()).await;
            assert_eq!(missing.err().map(|e| e.code()), Some("no_database"));
            assert!(!path.exists(), "nothing was created");
            let store = voltvend_store::open(&voltvend_store::OpenOptions::new(&url).creating(), h.clock.clone())
                .await
                .unwrap();
            store.close().await;
            url
        }
        Backend::Postgres => {
            let admin = crate::harness::pg_admin_url().unwrap();
            crate::harness::fresh_pg_database(&admin).await.0
        }
    };
    let store = voltvend_store::open(&voltvend_store::OpenOptions::new(&empty_url), h.clock.clone()).await.unwrap();
    let e = store.backup_to(&h.dir.path().join("b"), "x").await.unwrap_err();
    assert_eq!(e.code(), "no_database", "{e}");
    assert!(!h.dir.path().join("b").exists() || std::fs::read_dir(h.dir.path().join("b")).unwrap().next().is_none());
    store.close().await;
}

pub async fn instance_lock_is_exclusive(h: &Harness) {
    let first = h.store.lock_instance().await.unwrap();
    let other = h.reopen().await;
    assert!(matches!(other.lock_instance().await, Err(StoreError::Locked(_))));
    first.release().await;
    let again = other.lock_instance().await.expect("free once released");
    again.release().await;
    other.close().await;
}

pub async fn tariff_documents_and_pricing_state(h: &Harness) {
    let estate = h.estate().await;
    assert_eq!(h.store.tariff_document("nope").await.unwrap(), None);
    let flat = voltvend_testkit::estate::FLAT_TARIFF;
    let Outcome::TariffImported { revision, .. } = h
        .run(Command::ImportTariff(voltvend_ops::ImportTariff {
            code: "test-flat".into(),
            name: "Test flat 0.60".into(),
            document: format!("{flat}\n# revision 2\n"),
        }))
        .await
    else {
        panic!()
    };
    assert_eq!(revision, 2);
    let latest = h.store.tariff_document("test-flat").await.unwrap().unwrap();
    assert!(latest.document.ends_with("# revision 2\n"));
    let all = h.store.tariff_documents().await.unwrap();
    assert_eq!(
        all.iter().map(|d| (d.code.as_str(), d.revision)).collect::<Vec<_>>(),
        vec![("cn-zhejiang-residential-tou", 1), ("test-flat", 2)]
    );
    let bad = h
        .store
        .run(
            h.op_id(),
            "t",
            Command::ImportTariff(voltvend_ops::ImportTariff {
                code: "test-flat".into(),
                name: "x".into(),
                document: "code = 1".into(),
            }),
        )
        .await;
    assert_eq!(refused(bad), "tariff_invalid");
    // A purchase on the tiered tariff moves the account's block position, stored with the sale.
    let mut estate = estate;
    let Applied::Committed { outcome: Outcome::Sale(sale), .. } = h.store.submit(estate.sts_sale(3_000)).await.unwrap()
    else {
        panic!()
    };
    let state = h.store.pricing_state(estate.account_b, "cn-zhejiang-residential-tou").await.unwrap().unwrap();
    assert_eq!(state.block_position_milli, sale.quantity_milli);
    assert_eq!(h.store.pricing_state(estate.account_a, "test-flat").await.unwrap(), None);
}

/// An operation that names ids that do not exist is refused cleanly by every kind of command.
pub async fn unknown_ids_are_refused(h: &Harness) {
    let mut estate = h.estate().await;
    let before = h.store.counts().await.unwrap();
    let mut sale = estate.remote_sale(1_000);
    if let Command::Sale(s) = &mut sale.command {
        s.account_id = voltvend_domain::AccountId::from_uuid(h.uuid());
    }
    assert_eq!(refused(h.store.submit(sale).await), "not_found");
    let mut readings = estate.readings(&[("2026-11-23T00:00:00Z", 1)]);
    if let Command::ApplyReadings(r) = &mut readings.command {
        r.meter_id = MeterId::from_uuid(h.uuid());
    }
    assert_eq!(refused(h.store.submit(readings).await), "not_found");
    let close = Operation::new(
        h.op_id(),
        estate.cashier_a(),
        Command::CloseShift(voltvend_ops::CloseShift {
            denominations: Vec::new(),
            shift_id: voltvend_domain::ShiftId::from_uuid(h.uuid()),
            counted_minor: 0,
        }),
    );
    assert_eq!(refused(h.store.submit(close).await), "not_found");
    let t = TransferRequest {
        id: h.transfer_id(),
        kind: TransferKind::Payment,
        currency: Currency::CNY,
        postings: vec![
            Posting {
                account: voltvend_domain::LedgerAccountId::from_uuid(h.uuid()),
                side: Side::Debit,
                amount_minor: 1,
            },
            Posting {
                account: voltvend_domain::LedgerAccountId::from_uuid(h.uuid()),
                side: Side::Credit,
                amount_minor: 1,
            },
        ],
        corrects: None,
        memo: String::new(),
    };
    assert_eq!(refused(h.store.post_transfer(t).await), "ledger_account_not_found");
    assert_eq!(h.store.counts().await.unwrap(), before);
}

/// The writer caches what it loads; another writer's commit must make it read again.
pub async fn a_second_writer_invalidates_the_cache(h: &Harness) {
    let (drawer, wallet, revenue) = h.ledger_accounts(0).await;
    let other = h.reopen().await;
    let pay = |amount| TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(amount), "");
    h.store.post_transfer(pay(100)).await.unwrap();
    other.post_transfer(pay(50)).await.unwrap();
    // The first writer's cache still says 100; the database says 150.
    let spend = TransferRequest::simple(h.transfer_id(), TransferKind::Consumption, wallet, revenue, cny(150), "");
    h.store.post_transfer(spend).await.unwrap();
    other.post_transfer(pay(7)).await.unwrap();
    assert_eq!(h.store.ledger_account(wallet).await.unwrap().1.normal(Side::Credit), 7);
    other.close().await;
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// The counter's records (roles, sessions, tokens, sealed keys, OpenPAYGO devices, refused payments,
/// management tokens, vending-point limits) round-trip alike on every backend and in the model, and the lists
/// honour scope, filters and cursors.
pub async fn counter_records_and_lists(h: &Harness) {
    use voltvend_domain::{ApiTokenId, Permission, Role};
    use voltvend_ops::{
        ApiTokenRecord, IssueStsTokens, LoginAttempt, Operation, RecordLogin, RefundRefusedPayment, SessionRecord,
        StsManagement,
    };
    use voltvend_store::{AuditFilter, CustomerFilter, ListQuery, MeterFilter, RefusedFilter, SaleFilter};
    let mut estate = h.estate().await;
    let admin = voltvend_ops::Actor::operator(estate.admin, estate.group.id, "10.0.0.9");
    let role = Role::custom("night_cashier", "sells", [Permission::SalesCreate].into()).unwrap();
    let session = SessionRecord {
        id_hash: [9; 32],
        operator_id: estate.cashier_a,
        created_at: start(),
        expires_at: start() + jiff::SignedDuration::from_hours(8),
        revoked_at: None,
        source: "10.0.0.1".into(),
    };
    let username = h.store.operator(estate.cashier_a).await.unwrap().unwrap().username;
    let token = ApiTokenRecord {
        id: ApiTokenId::from_uuid(h.uuid()),
        operator_id: estate.cashier_a,
        name: "kiosk".into(),
        secret_hash: [4; 32],
        created_at: start(),
        expires_at: None,
        revoked_at: None,
        created_by: None,
    };
    let refused = estate.remote_sale(50);
    let mut ops = vec![
        Operation::new(estate.next_op(), admin.clone(), Command::CreateRole(role.clone())),
        estate.system(Command::RecordLogin(RecordLogin { username: username.clone(), attempt: LoginAttempt::Failed })),
        estate
            .system(Command::RecordLogin(RecordLogin { username, attempt: LoginAttempt::Succeeded(session.clone()) })),
        Operation::new(estate.next_op(), admin.clone(), Command::CreateApiToken(token.clone())),
        estate.remote_sale(3_000),
        refused.clone(),
        Operation::new(
            estate.next_op(),
            estate.cashier_b(),
            Command::IssueStsTokens(IssueStsTokens {
                meter_id: estate.sts_meter,
                request: StsManagement::ClearTamper,
                reason: "seal broken".into(),
            }),
        ),
    ];
    ops.push(Operation::new(
        estate.next_op(),
        estate.cashier_a(),
        Command::RefundRefusedPayment(RefundRefusedPayment { payment: refused.id, shift_id: Some(estate.shift_a) }),
    ));
    for op in &ops {
        h.store.submit(op.clone()).await.unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let mut all = estate.setup.clone();
    all.extend(ops.iter().cloned());
    let (model, _) = model_of(&all, &h.context);
    assert_eq!(h.store.role("night_cashier").await.unwrap(), Some(role));
    assert_eq!(h.store.session([9; 32]).await.unwrap().as_ref(), model.sessions.get(&[9; 32]));
    assert_eq!(h.store.api_token(token.id).await.unwrap().as_ref(), model.api_tokens.get(&token.id));
    let stored_op = h.store.operator(estate.cashier_a).await.unwrap().unwrap();
    assert_eq!(Some(&stored_op), model.operators.get(&estate.cashier_a));
    assert_eq!(h.store.vending_keys().await.unwrap().len(), 1);
    let tokens = h.store.meter_tokens(estate.sts_meter, None, 10).await.unwrap();
    assert_eq!(tokens.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(), model.meter_tokens);
    // Pages: the newest alone, then the rest before it.
    let newest = h.store.meter_tokens(estate.sts_meter, None, 1).await.unwrap();
    let rest = h.store.meter_tokens(estate.sts_meter, Some(newest[0].0), 10).await.unwrap();
    assert_eq!([newest, rest].concat(), tokens);
    let payment = h.store.refused_payment(refused.id).await.unwrap();
    assert_eq!(payment.as_ref(), model.refused_payments.get(&refused.id));
    assert!(payment.unwrap().refunded_by.is_some());
    assert_eq!(h.store.audit_records(0, 1_000).await.unwrap(), model.audit, "the same audit chain");

    // Lists: cashier A's scope (building A) sees A-101's customer and sales only.
    let in_a = |limit| ListQuery { scope: Some(estate.building_a.id), after: None, limit };
    let everywhere = ListQuery { scope: Some(estate.group.id), after: None, limit: 50 };
    let names = |cs: Vec<voltvend_domain::Customer>| cs.into_iter().map(|c| c.name).collect::<Vec<_>>();
    assert_eq!(names(h.store.list_customers(&in_a(50), &CustomerFilter::default()).await.unwrap()), ["Wang Fang 王芳"]);
    let by_phone = CustomerFilter { q: Some("1380000".into()), premises: None };
    assert_eq!(h.store.list_customers(&everywhere, &by_phone).await.unwrap().len(), 2, "both have that phone");
    for q in ["王芳", "wang", "a-101", "ddsy", "0000000101"] {
        let found = h.store.list_customers(&everywhere, &CustomerFilter { q: Some(q.into()), premises: None }).await;
        assert_eq!(names(found.unwrap()), ["Wang Fang 王芳"], "search {q:?}");
    }
    let sts_search = CustomerFilter { q: Some("01234567890".into()), premises: None };
    assert_eq!(names(h.store.list_customers(&everywhere, &sts_search).await.unwrap()), ["Li Lei 李雷"]);
    assert!(h.store.list_customers(&in_a(50), &sts_search).await.unwrap().is_empty(), "out of scope");
    let percent = CustomerFilter { q: Some("%".into()), premises: None };
    assert!(h.store.list_customers(&everywhere, &percent).await.unwrap().is_empty(), "LIKE wildcards are literal");
    let sales_a = h.store.list_sales(&in_a(50), &SaleFilter::default()).await.unwrap();
    assert_eq!(sales_a.len(), 1);
    assert!(
        h.store
            .list_sales(&ListQuery { scope: Some(estate.building_b.id), ..in_a(50) }, &SaleFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let refused_list = h
        .store
        .list_refused_payments(&in_a(50), &RefusedFilter { refunded: Some(true), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(refused_list.len(), 1);
    let meters = h
        .store
        .list_meters(&everywhere, &MeterFilter { protocol: Some("sts_keypad".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(meters.iter().map(|m| m.meter.id).collect::<Vec<_>>(), [estate.sts_meter]);
    // Pages: one customer at a time, in order, then nothing.
    let first = h
        .store
        .list_customers(&ListQuery { limit: 1, ..everywhere.clone() }, &CustomerFilter::default())
        .await
        .unwrap();
    let second = h
        .store
        .list_customers(
            &ListQuery { limit: 1, after: Some(first[0].id.to_string()), ..everywhere.clone() },
            &CustomerFilter::default(),
        )
        .await
        .unwrap();
    let third = h
        .store
        .list_customers(
            &ListQuery { limit: 1, after: Some(second[0].id.to_string()), ..everywhere.clone() },
            &CustomerFilter::default(),
        )
        .await
        .unwrap();
    assert!(first[0].id < second[0].id && third.is_empty());
    let bad = h
        .store
        .list_customers(&ListQuery { after: Some("nonsense".into()), ..everywhere.clone() }, &CustomerFilter::default())
        .await;
    assert_eq!(bad.err().map(|e| e.code()), Some("bad_query"));
    // The audit trail of building A's operators only.
    let audit_a = h.store.list_audit(&in_a(100), &AuditFilter::default()).await.unwrap();
    assert!(!audit_a.is_empty() && audit_a.iter().all(|r| r.operator_id == Some(estate.cashier_a)));
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// The head end's records — channels, commands with their attempts, what meters report — written as the model
/// writes them, and read back as the head end and the API read them.
pub async fn head_end_control_round_trip(h: &Harness) {
    use voltvend_domain::Channel;
    use voltvend_ops::{
        Actor, AttemptResult, CommandKind, CommandStatus, IssueMeterCommand, MeterReport, RecordCommandAttempt,
        SetMeterChannel,
    };
    let mut estate = h.estate().await;
    let meter = estate.remote_meter;
    let channel: Channel = "dlt645+tcp://127.0.0.1:7001".parse().unwrap();
    let set = estate.system(Command::SetMeterChannel(SetMeterChannel {
        meter_id: meter,
        channel: Some(channel.clone()),
        shows_credit: true,
    }));
    let dry = estate.readings(&[("2026-11-23T00:00:00Z", 1_000_000), ("2026-11-23T06:00:00Z", 1_050_000)]);
    let trip = voltvend_domain::CommandId::from_uuid(dry.derived_id("command", 0));
    let failed = estate.system(Command::RecordCommandAttempt(RecordCommandAttempt {
        command_id: trip,
        meter_id: meter,
        result: AttemptResult::Failed { error: "no answer within 2 s".into() },
    }));
    let report = MeterReport { at: start(), relay: Some(Relay::Open), keep_power: Some(false) };
    let done = estate.system(Command::RecordCommandAttempt(RecordCommandAttempt {
        command_id: trip,
        meter_id: meter,
        result: AttemptResult::Confirmed { report, readback: String::new() },
    }));
    let keep = Operation::new(
        estate.next_op(),
        Actor::operator(estate.admin, estate.group.id, "10.0.0.9"),
        Command::IssueMeterCommand(IssueMeterCommand {
            meter_id: meter,
            kind: CommandKind::KeepPowerOn,
            reason: "clinic".into(),
        }),
    );
    let ops = vec![set, estate.remote_sale(2_000), dry, failed, done, keep];
    for op in &ops {
        h.store.submit(op.clone()).await.unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let mut all = estate.setup.clone();
    all.extend(ops);
    let (model, results) = model_of(&all, &h.context);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(h.store.meter_control(meter).await.unwrap().as_ref(), model.controls.get(&meter));
    let control = model.controls[&meter].clone();
    assert_eq!((control.channel.as_ref(), control.keep_power, control.reported), (Some(&channel), true, Some(report)));
    for (id, c) in &model.commands {
        assert_eq!(h.store.meter_command(*id).await.unwrap().as_ref(), Some(c));
    }
    assert_eq!(model.commands[&trip].status, CommandStatus::Done);
    // Due now: keep-power on and the close it brought; nothing due before.
    let due = h.store.due_commands(start(), 10).await.unwrap();
    let mut kinds = due.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>();
    kinds.sort_unstable();
    assert_eq!(kinds, ["keep_power_on", "relay_close", "write_balance"]);
    // The sale's balance write was superseded by the one the credit running out queued, which shows zero.
    let writes: Vec<_> = model.commands.values().filter(|c| c.kind == CommandKind::WriteBalance).collect();
    assert_eq!(writes.len(), 2);
    assert!(writes.iter().any(|c| c.status == CommandStatus::Superseded && c.value == "2000"), "{writes:?}");
    assert!(writes.iter().any(|c| c.status == CommandStatus::Pending && c.value == "0"), "{writes:?}");
    assert!(h.store.due_commands(start() - SignedDuration::from_secs(1), 10).await.unwrap().is_empty());
    // The meter's history, newest first, a page at a time.
    let all_of = h.store.meter_commands_of(meter, None, 10).await.unwrap();
    assert_eq!(all_of.len(), 5);
    let first = h.store.meter_commands_of(meter, None, 3).await.unwrap();
    let last = first.last().unwrap();
    let rest =
        h.store.meter_commands_of(meter, Some((last.created_at.as_microsecond(), last.id.as_uuid())), 3).await.unwrap();
    assert_eq!([first, rest].concat(), all_of);
    // What the head end polls.
    let polled = h.store.channel_meters(None, 10).await.unwrap();
    assert_eq!(
        polled.iter().map(|(m, c)| (m.meter.id, c.channel.clone())).collect::<Vec<_>>(),
        [(meter, Some(channel))]
    );
    assert!(h.store.channel_meters(Some(meter), 10).await.unwrap().is_empty());
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

pub async fn reading_history_by_meter_subtree_and_period(h: &Harness) {
    use voltvend_store::{ListQuery, ReadingFilter};
    let mut estate = h.estate().await;
    let meter = estate.remote_meter;
    h.store.submit(estate.remote_sale(20_000)).await.unwrap();
    // Four readings over two operations, the second arriving late and out of order, and one that lies.
    let first = estate.readings(&[("2026-11-23T06:00:00Z", 1_020_000), ("2026-11-23T00:00:00Z", 1_000_000)]);
    let second = estate.readings(&[("2026-11-23T12:00:00Z", 1_050_000), ("2026-11-23T09:00:00Z", 1_010_000)]);
    h.store.submit(first).await.unwrap();
    h.store.submit(second).await.unwrap();
    let page = |after: Option<String>, limit, f: ReadingFilter, scope| {
        let q = ListQuery { scope, after, limit };
        let store = h.store.clone();
        async move { store.list_readings(&q, &f).await.unwrap() }
    };
    let by_meter = ReadingFilter { meter: Some(meter), ..ReadingFilter::default() };
    let all = page(None, 10, by_meter.clone(), None).await;
    let times: Vec<String> = all.iter().map(|r| r.row.reading.at.to_string()).collect();
    assert_eq!(times, ["2026-11-23T00:00:00Z", "2026-11-23T06:00:00Z", "2026-11-23T09:00:00Z", "2026-11-23T12:00:00Z"]);
    assert!(all.iter().all(|r| r.utility == "electricity" && r.row.meter_id == meter));
    assert_eq!(all[2].row.status, voltvend_ops::ReadingStatus::Flagged, "09:00 went below 06:00");
    // A page at a time, in time order, as the cursor says.
    let one = page(None, 3, by_meter.clone(), None).await;
    let two = page(Some(one.last().unwrap().cursor.clone()), 3, by_meter.clone(), None).await;
    assert_eq!([one, two].concat(), all);
    // A period ([from, to)) and a status.
    let period = ReadingFilter {
        from_us: Some("2026-11-23T06:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond()),
        to_us: Some("2026-11-23T12:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond()),
        ..by_meter.clone()
    };
    assert_eq!(page(None, 10, period, None).await, all[1..3]);
    let flagged = ReadingFilter { status: Some("flagged".into()), ..by_meter.clone() };
    assert_eq!(page(None, 10, flagged, None).await, all[2..3]);
    // By premises subtree: building A holds the meter, building B does not; a scope narrows the same way.
    let in_a = ReadingFilter { premises: Some(estate.building_a.id), ..ReadingFilter::default() };
    assert_eq!(page(None, 10, in_a, None).await, all);
    let in_b = ReadingFilter { premises: Some(estate.building_b.id), ..ReadingFilter::default() };
    assert!(page(None, 10, in_b, None).await.is_empty());
    assert!(page(None, 10, by_meter.clone(), Some(estate.building_b.id)).await.is_empty());
    assert_eq!(page(None, 10, by_meter.clone(), Some(estate.group.id)).await, all);
    // A cursor this list did not give is refused.
    let q = ListQuery { scope: None, after: Some("yesterday".into()), limit: 10 };
    assert!(matches!(h.store.list_readings(&q, &by_meter).await, Err(voltvend_store::StoreError::BadQuery(_))));

    // Each billed reading keeps what billing counted for the interval it ends; a flagged one nothing (12:00 is
    // billed from 06:00).
    let used: Vec<i64> = all.iter().map(|r| r.row.consumption_milli).collect();
    assert_eq!(used[1..], [20_000, 0, 30_000]);
    // Consumption by premises and building sums them, within scopes and subtrees, on both backends.
    use voltvend_store::ConsumptionGrouping as G;
    let (from, to) = (all[1].row.reading.at.as_microsecond(), all[3].row.reading.at.as_microsecond() + 1);
    let sum = |scope, premises, grouping| {
        let store = h.store.clone();
        async move { store.consumption_summary(scope, premises, from, to, grouping).await.unwrap() }
    };
    let by_building = sum(None, Some(estate.property.id), G::Child).await;
    assert_eq!(by_building.len(), 1, "{by_building:?}");
    let b = &by_building[0];
    assert_eq!(
        (b.key.as_str(), b.label.as_str(), b.utility.as_str()),
        (estate.building_a.id.to_string().as_str(), "Block A", "electricity")
    );
    assert_eq!((b.meters, b.readings, b.consumption_milli), (1, 2, 50_000));
    let roots = sum(None, None, G::Child).await;
    assert_eq!((roots[0].key.clone(), roots[0].consumption_milli), (estate.group.id.to_string(), 50_000));
    let at_unit = sum(Some(estate.building_a.id), Some(estate.unit_a.id), G::Child).await;
    assert_eq!((at_unit[0].key.as_str(), at_unit[0].consumption_milli), ("", 50_000), "meters at the premises itself");
    let units = sum(Some(estate.building_a.id), None, G::Premises).await;
    assert_eq!((units[0].label.as_str(), units[0].consumption_milli), ("A-101", 50_000));
    let meters = sum(Some(estate.group.id), None, G::Meter).await;
    assert_eq!((meters[0].key.clone(), meters[0].consumption_milli), (meter.to_string(), 50_000));
    assert!(sum(Some(estate.building_b.id), None, G::Meter).await.is_empty());
    assert!(sum(None, Some(estate.building_b.id), G::Child).await.is_empty());
}

/// Corrections with approval, historical arrears and a shift closed by denomination, written as the model
/// writes them; and the report queries (the approvals queue, sales summaries, the ledger's vend totals) read
/// back within scopes.
pub async fn corrections_and_reports_agree_with_the_model(h: &Harness) {
    use voltvend_domain::ApprovalId;
    use voltvend_ops::{
        ApprovalStatus, ArrearsLine, CloseShift, Correction, CorrectionKind, DecideCorrection, EnterArrears, Operation,
        RequestCorrection,
    };
    use voltvend_store::{ApprovalFilter, ListQuery, SaleFilter, SalesGrouping};
    let mut estate = h.estate().await;
    let admin = voltvend_ops::Actor::operator(estate.admin, estate.group.id, "10.0.0.9");
    let first = estate.remote_sale(3_000);
    let second = estate.remote_sale(2_000);
    let b_sale = estate.sts_sale(4_000);
    let (reverse, pending) = (ApprovalId::from_uuid(h.uuid()), ApprovalId::from_uuid(h.uuid()));
    let request = |estate: &mut voltvend_testkit::estate::Estate, id, kind, sale, amount| {
        let correction = Correction {
            kind,
            sale,
            account_id: (kind == CorrectionKind::Adjust).then_some(estate.account_a),
            meter_id: None,
            shift_id: None,
            amount_minor: amount,
            fee_payment: None,
            charge: None,
        };
        let command = Command::RequestCorrection(RequestCorrection {
            approval_id: id,
            correction,
            reason: "keyed twice".into(),
            expires_in: RequestCorrection::EXPIRES_IN_DEFAULT,
        });
        Operation::new(estate.next_op(), estate.cashier_a(), command)
    };
    let mut ops = vec![first.clone(), second, b_sale];
    ops.push(request(&mut estate, reverse, CorrectionKind::ReverseSale, Some(first.id), 0));
    ops.push(Operation::new(
        estate.next_op(),
        admin.clone(),
        Command::DecideCorrection(DecideCorrection { approval_id: reverse, approve: true, note: String::new() }),
    ));
    ops.push(request(&mut estate, pending, CorrectionKind::Adjust, None, -150));
    let lines = vec![ArrearsLine { account_id: estate.account_a, amount_minor: 12_345, reference: "2019-07".into() }];
    ops.push(Operation::new(estate.next_op(), admin.clone(), Command::EnterArrears(EnterArrears { lines })));
    let close =
        CloseShift { shift_id: estate.shift_a, counted_minor: 12_000, denominations: vec![(10_000, 1), (1_000, 2)] };
    ops.push(Operation::new(estate.next_op(), estate.cashier_a(), Command::CloseShift(close)));
    // A key change campaign for B-101's STS meter: planned (its set recorded); later planned again by a second
    // part of the campaign (nothing new) and delivered by a sale.
    let campaign = voltvend_domain::CampaignId::from_uuid(h.uuid());
    let plan = voltvend_ops::PlanKeyCampaign {
        campaign_id: campaign,
        name: "new expiry".into(),
        change: voltvend_sts::KeyChange { ken: Some(200), ..Default::default() },
        meters: vec![estate.sts_meter],
    };
    ops.push(Operation::new(estate.next_op(), admin.clone(), Command::PlanKeyCampaign(plan.clone())));
    for op in &ops {
        h.store.submit(op.clone()).await.unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let mut all = estate.setup.clone();
    all.extend(ops.iter().cloned());
    let (model, _) = model_of(&all, &h.context);
    for id in [reverse, pending] {
        assert_eq!(h.store.approval(id).await.unwrap().as_ref(), model.approvals.get(&id));
    }
    let sts = h.store.sts_state(estate.sts_meter).await.unwrap();
    assert_eq!(sts.as_ref(), model.sts.get(&estate.sts_meter), "the pending key change set round-trips");
    assert!(sts.unwrap().pending.is_some_and(|p| p.tokens.len() >= 2 && p.change.ken == Some(200)));
    let again = Operation::new(estate.next_op(), admin.clone(), Command::PlanKeyCampaign(plan));
    let sale = estate.sts_sale(2_500);
    for op in [again.clone(), sale.clone()] {
        h.store.submit(op).await.unwrap();
    }
    all.extend([again, sale]);
    let (model, _) = model_of(&all, &h.context);
    let stored = h.store.campaign(campaign).await.unwrap().unwrap();
    assert_eq!(Some(&stored), model.campaigns.get(&campaign));
    assert_eq!((stored.planned, stored.done), (1, 1));
    let sts = h.store.sts_state(estate.sts_meter).await.unwrap().unwrap();
    assert_eq!((sts.pending.is_none(), sts.record.params.ken), (true, 200));
    assert_eq!(Some(&sts), model.sts.get(&estate.sts_meter));
    let candidates = voltvend_store::CampaignSelection { base: Some("14".into()), ..Default::default() };
    assert!(h.store.campaign_candidates(&candidates, None, 10).await.unwrap().contains(&estate.sts_meter));
    // Balance lists: A-101 owes the arrears entered and holds the standing sale's credit.
    use voltvend_store::BalanceReport;
    let in_a = ListQuery { scope: Some(estate.building_a.id), after: None, limit: 50 };
    let in_b = ListQuery { scope: Some(estate.building_b.id), ..in_a.clone() };
    let owing = h.store.balance_report(&in_a, None, BalanceReport::Arrears).await.unwrap();
    let lines: Vec<_> = owing.iter().map(|l| (l.account_id, l.balance_minor, l.arrears_minor)).collect();
    assert_eq!(lines, [(estate.account_a, 2_000, 12_345)]);
    assert!(h.store.balance_report(&in_a, None, BalanceReport::AtMost(0)).await.unwrap().is_empty());
    assert_eq!(h.store.balance_report(&in_a, None, BalanceReport::AtMost(2_000)).await.unwrap().len(), 1);
    assert!(h.store.balance_report(&in_b, None, BalanceReport::Arrears).await.unwrap().is_empty());
    let decide_id = ops[4].id;
    assert_eq!(h.store.refused_payment(decide_id).await.unwrap().as_ref(), model.refused_payments.get(&decide_id));
    assert_eq!(h.store.shift(estate.shift_a).await.unwrap(), model.shifts[&estate.shift_a], "denominations kept");

    // The approvals queue, by status and scope.
    let now = voltvend_domain::clock::timestamp_us(start());
    let in_a = ListQuery { scope: Some(estate.building_a.id), after: None, limit: 50 };
    let in_b = ListQuery { scope: Some(estate.building_b.id), ..in_a.clone() };
    let status = |s| ApprovalFilter { status: Some(s), now_us: now, ..Default::default() };
    let ids = |v: Vec<voltvend_ops::ApprovalRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(h.store.list_approvals(&in_a, &status(ApprovalStatus::Pending)).await.unwrap()), [pending]);
    assert_eq!(ids(h.store.list_approvals(&in_a, &status(ApprovalStatus::Approved)).await.unwrap()), [reverse]);
    assert!(
        h.store.list_approvals(&in_b, &ApprovalFilter { now_us: now, ..Default::default() }).await.unwrap().is_empty()
    );
    let later = ApprovalFilter {
        status: Some(ApprovalStatus::Expired),
        now_us: now + 73 * 3_600_000_000,
        ..Default::default()
    };
    assert_eq!(ids(h.store.list_approvals(&in_a, &later).await.unwrap()), [pending], "undecided past its expiry");

    // Reports: standing sales of building A (the reversed one left out), every sale against the ledger.
    let standing = SaleFilter { reversed: Some(false), ..Default::default() };
    let by = |g| h.store.sales_summary(Some(estate.building_a.id), &standing, g);
    for grouping in [
        SalesGrouping::Operator,
        SalesGrouping::VendingPoint,
        SalesGrouping::Method,
        SalesGrouping::Tariff,
        SalesGrouping::Quarter,
    ] {
        let groups = by(grouping).await.unwrap();
        assert_eq!(groups.len(), 1, "{grouping:?}: {groups:?}");
        assert_eq!(
            (groups[0].sales, groups[0].paid_minor, groups[0].currency.as_str()),
            (1, 2_000, "CNY"),
            "{grouping:?}"
        );
    }
    assert_eq!(by(SalesGrouping::Method).await.unwrap()[0].key, "cash");
    let reversed = h.store.list_sales(&in_a, &SaleFilter { reversed: Some(true), ..Default::default() }).await.unwrap();
    assert_eq!(reversed.iter().map(|s| s.operation_id).collect::<Vec<_>>(), [first.id]);
    let everything = h.store.sales_summary(None, &SaleFilter::default(), SalesGrouping::Method).await.unwrap();
    let ledger = h.store.vend_totals(0, i64::MAX).await.unwrap();
    let (sold, paid) = everything.iter().fold((0, 0), |(n, m), g| (n + g.sales, m + g.paid_minor));
    assert_eq!((sold, paid), (4, 11_500), "with the STS sale that delivered the key change");
    assert_eq!(ledger.iter().map(|l| (l.transfers, l.amount_minor)).collect::<Vec<_>>(), [(4, 11_500)]);
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// IC cards (issue 15): a card issued, sales onto it, return data, 挂失, 补卡, 退卡 and a new card — each result,
/// and the meter's card after each step, as the model has them; the card found by its current and its replaced
/// serial; a returned card's serial free again.
pub async fn ic_cards_agree_with_the_model(h: &Harness) {
    use voltvend_ops::{CardStatus, IssueCard, RecordCardRead, SetCardStatus};
    let mut estate = h.estate().await;
    let (meter, account, setup) = estate.ic_card_setup(voltvend_testkit::estate::CARD_METER_NO, true);
    let cashier = estate.cashier_a();
    let shift = estate.shift_a;
    let mut step = |command: Command| Operation::new(estate.next_op(), cashier.clone(), command);
    let issue = |serial: &str, reason: &str| {
        Command::IssueCard(IssueCard { meter_id: meter, serial: serial.into(), key_no: 1, reason: reason.into() })
    };
    let sale = |paid: i64| {
        Command::Sale(voltvend_ops::Sale::paid(account, meter, shift, voltvend_ops::PaymentMethod::Cash, paid))
    };
    let read = |serial: Option<&str>, last_count: u32, remaining_milli: i64| {
        Command::RecordCardRead(RecordCardRead {
            meter_id: meter,
            serial: serial.map(str::to_string),
            last_count,
            remaining_milli,
            at: start(),
        })
    };
    let status = |serial: &str, status: CardStatus| {
        Command::SetCardStatus(SetCardStatus { meter_id: meter, serial: serial.into(), status, reason: "test".into() })
    };
    let (one, two, three) = ("00000000000000C1", "00000000000000C2", "00000000000000C3");
    let steps = vec![
        step(sale(600)),
        step(issue(one, "")),
        step(sale(600)),
        step(sale(600)),
        step(read(Some(one), 2, 0)),
        step(read(Some(one), 1, 4_000)),
        step(sale(900)),
        step(status(one, CardStatus::Lost)),
        step(issue(two, "lost")),
        step(read(None, 2, 9_000)),
        step(status(two, CardStatus::Returned)),
        step(issue(three, "returned, then a new one")),
    ];
    let expected_codes = [
        "card_not_issued",
        "ok",
        "ok",
        "card_purchase_pending",
        "card_count_ahead",
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
        "ok",
    ];
    for op in &setup {
        h.store.submit(op.clone()).await.unwrap();
    }
    let mut all = estate.setup.clone();
    all.extend(setup.iter().cloned());
    let before = all.len();
    all.extend(steps.iter().cloned());
    let (model, expected) = model_of(&all, &h.context);
    for ((op, want), code) in steps.iter().zip(expected.iter().skip(before)).zip(expected_codes) {
        let got = h.store.submit(op.clone()).await;
        assert_eq!(got.as_ref().map_err(|e| e.code()), want.as_ref().map_err(|e| e.code()), "{}", op.command.kind());
        let got_code = match &got {
            Ok(Applied::Committed { outcome: Outcome::PaymentRefused { code, .. }, .. }) => code,
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        assert_eq!(got_code, code, "{}", op.command.kind());
    }
    let card = h.store.meter_card(meter).await.unwrap().unwrap();
    assert_eq!(Some(&card), model.meter_cards.get(&meter));
    assert_eq!((card.serial.as_str(), card.generation, card.sold_count, card.loaded_count), (three, 2, 2, 2));
    assert_eq!(card.replaced, vec![one.to_string()], "the returned card was blanked, not replaced");
    assert_eq!(h.store.meter_card_by_serial(three).await.unwrap().map(|c| c.meter_id), Some(meter));
    assert_eq!(h.store.meter_card_by_serial(one).await.unwrap().map(|c| c.meter_id), Some(meter), "replaced");
    assert_eq!(h.store.meter_card_by_serial(two).await.unwrap(), None, "returned: no one's");
    assert_eq!(h.store.meter(meter).await.unwrap().local, model.meters.get(&meter).unwrap().local);
    let keys = h.store.card_keys().await.unwrap();
    assert_eq!(
        keys.iter().map(|k| (k.key_no, k.algorithm)).collect::<Vec<_>>(),
        vec![(1, voltvend_ops::CardAlgorithm::Sm4)]
    );
    assert_eq!(h.store.audit_records(0, 10_000).await.unwrap(), model.audit, "the same audit chain");
}

/// Online payments: a channel, intents, and settlements (a sale, a replay, an amount held, a second payment) as
/// the in-memory model has them, read back from the store.
pub async fn online_payments_agree_with_the_model(h: &Harness) {
    use voltvend_domain::{PaymentChannelId, PaymentIntentId};
    use voltvend_ops::{
        Actor, CreatePaymentIntent, IntentStatus, OpenPaymentChannel, Provider, RecordPaymentOrder, SettlePayment,
    };
    use voltvend_store::ListQuery;
    let mut estate = h.estate().await;
    let channel_id = PaymentChannelId::from_uuid(uuid::Uuid::from_u128(0xC4A7));
    let open = Command::OpenPaymentChannel(OpenPaymentChannel {
        channel_id,
        provider: Provider::Alipay,
        name: "Alipay".into(),
        premises_id: estate.property.id,
        books_id: estate.books,
    });
    let mut steps = vec![estate.system(open)];
    let intents: Vec<PaymentIntentId> =
        (1..=2).map(|n| PaymentIntentId::from_uuid(uuid::Uuid::from_u128(0x1A7 + n))).collect();
    for id in &intents {
        let create = Command::CreatePaymentIntent(CreatePaymentIntent {
            intent_id: *id,
            channel_id,
            account_id: estate.account_a,
            meter_id: estate.remote_meter,
            amount_minor: 3_000,
            expires_at: start() + jiff::SignedDuration::from_mins(15),
            purpose: voltvend_ops::IntentPurpose::Energy,
        });
        steps.push(Operation::new(estate.next_op(), Actor::system("customer"), create));
    }
    let settle = |intent: PaymentIntentId, txn: &str, paid_minor: i64| {
        let command = SettlePayment {
            intent_id: intent,
            provider_txn: txn.into(),
            paid_minor,
            currency: "CNY".into(),
            paid_at: start(),
        };
        Operation::new(
            SettlePayment::operation_id(intent, txn),
            Actor::system("alipay:notify"),
            Command::SettlePayment(command),
        )
    };
    // The provider's own reference for the first intent's order (as M-Pesa names its prompts), kept once.
    let record = |reference: &str| {
        Command::RecordPaymentOrder(RecordPaymentOrder { intent_id: intents[0], provider_ref: reference.into() })
    };
    steps.push(estate.system(record("ws_CO_0001")));
    steps.push(estate.system(record("ws_CO_0002")));
    steps.push(settle(intents[0], "2026112322001", 3_000));
    steps.push(settle(intents[0], "2026112322001", 3_000));
    steps.push(settle(intents[0], "2026112322002", 3_000));
    steps.push(settle(intents[1], "2026112322003", 2_999));
    // The held one credited after review by the group's administrator (复核入账): a sale out of the refunds owed.
    let held = settle(intents[1], "2026112322003", 2_999).id;
    let credit = Command::CreditRefusedPayment(voltvend_ops::CreditRefusedPayment { payment: held });
    steps.push(Operation::new(estate.next_op(), Actor::operator(estate.admin, estate.group.id, "test"), credit));
    // The provider's statements kept (对账单): two days, and one with a line of no amount, refused.
    let line = |kind, txn: &str, order: &str, amount_minor| voltvend_ops::StatementEntry {
        kind,
        transaction_id: txn.into(),
        order_no: order.into(),
        amount_minor,
        currency: "CNY".into(),
        at: start(),
    };
    let mut statement = |day: jiff::civil::Date, digest: u8, lines: Vec<voltvend_ops::StatementEntry>| {
        let import = voltvend_ops::ImportPaymentStatement { channel_id, day, digest: [digest; 32], lines };
        Operation::new(
            estate.next_op(),
            Actor::operator(estate.admin, estate.group.id, "test"),
            Command::ImportPaymentStatement(import),
        )
    };
    use voltvend_ops::StatementEntryKind::{Payment, Refund};
    let (day, next_day) = (jiff::civil::date(2026, 11, 23), jiff::civil::date(2026, 11, 24));
    let kept = statement(
        day,
        1,
        vec![line(Payment, "2026112322001", "订单-1", 3_000), line(Refund, "2026112322002", "", 3_000)],
    );
    let kept_id = kept.id;
    steps.push(kept);
    steps.push(statement(next_day, 2, vec![line(Payment, "2026112422009", "x", 1)]));
    steps.push(statement(day, 3, vec![line(Payment, "2026112322004", "y", 0)]));
    let mut all = estate.setup.clone();
    let before = all.len();
    all.extend(steps.iter().cloned());
    let (model, expected) = model_of(&all, &h.context);
    for (op, want) in steps.iter().zip(expected.iter().skip(before)) {
        let got = h.store.submit(op.clone()).await;
        assert_eq!(got.as_ref().map_err(|e| e.code()), want.as_ref().map_err(|e| e.code()), "{}", op.command.kind());
    }
    let channel = h.store.payment_channel(channel_id).await.unwrap().unwrap();
    assert_eq!(Some(&channel), model.payment_channels.get(&channel_id));
    for id in &intents {
        let intent = h.store.payment_intent(*id).await.unwrap().unwrap();
        assert_eq!(Some(&intent), model.payment_intents.get(id));
    }
    let statuses: Vec<IntentStatus> = h
        .store
        .list_payment_intents(
            &ListQuery { limit: 100, ..ListQuery::default() },
            &voltvend_store::IntentFilter::default(),
        )
        .await
        .unwrap()
        .iter()
        .map(|i| i.status)
        .collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&IntentStatus::Paid) && statuses.contains(&IntentStatus::Held), "{statuses:?}");
    // The intent a callback names by the provider's reference: that one only.
    let by_ref = |reference: &str| voltvend_store::IntentFilter {
        channel: Some(channel_id),
        provider_ref: Some(reference.into()),
        ..Default::default()
    };
    let page = ListQuery { limit: 100, ..ListQuery::default() };
    let found = h.store.list_payment_intents(&page, &by_ref("ws_CO_0001")).await.unwrap();
    assert_eq!(found.iter().map(|i| i.id).collect::<Vec<_>>(), vec![intents[0]]);
    assert_eq!(found[0].provider_ref.as_deref(), Some("ws_CO_0001"));
    assert!(h.store.list_payment_intents(&page, &by_ref("ws_CO_0002")).await.unwrap().is_empty());
    let channels = h.store.list_payment_channels(&ListQuery { limit: 100, ..ListQuery::default() }).await.unwrap();
    assert_eq!(channels, vec![channel.clone()]);
    let credited = h.store.refused_payment(held).await.unwrap().unwrap();
    assert!(credited.credited, "{credited:?}");
    assert_eq!(Some(&credited), model.refused_payments.get(&held));
    let (_, clearing) = h.store.ledger_account(channel.clearing).await.unwrap();
    // 30.00 sold, 30.00 paid twice (owed back), 29.99 held then credited: all of it is what the provider owes.
    assert_eq!(clearing.normal(voltvend_domain::Side::Debit), 3_000 + 3_000 + 2_999);
    // The day's statement is the import kept, lines in their order; the refused third import kept nothing.
    let want: Vec<_> = model.payment_statements.iter().filter(|s| s.day == day).collect();
    assert_eq!(want.len(), 1);
    assert_eq!(want[0].id, kept_id);
    let got = h.store.payment_statement(channel_id, day).await.unwrap().unwrap();
    assert_eq!(&got, want[0]);
    assert_eq!(h.store.payment_statement(channel_id, next_day).await.unwrap().unwrap().lines.len(), 1);
    assert!(h.store.payment_statement(channel_id, jiff::civil::date(2026, 11, 25)).await.unwrap().is_none());
    // A statement's refund finds the refused payment it hands back by its transaction number.
    let by_reference = voltvend_store::RefusedFilter {
        shift: Some(channel.shift_id),
        reference: Some("2026112322002".into()),
        ..Default::default()
    };
    let found = h.store.list_refused_payments(&page, &by_reference).await.unwrap();
    assert_eq!(found.iter().map(|r| r.reference.as_str()).collect::<Vec<_>>(), vec!["2026112322002"]);
}

/// 公摊: meters installed with no account measured, a rule, and October posted — the readings that close the
/// month and the posting submitted together, so that the writer may take them in one batch (the posting then
/// counts readings stored earlier in its own batch) — agree with the sequential model, record for record.
pub async fn apportionment_agrees_with_the_model(h: &Harness) {
    use voltvend_domain::apportion::{Basis, Pool};
    use voltvend_domain::tariff::pricing::{Reading, Registers};
    use voltvend_domain::{ApportionmentRuleId, UnitPrice};
    use voltvend_ops::{
        Actor, ApplyReadings, ApportionPeriod, ApportionedUnit, CreateApportionmentRule, InstallMeter, ReadingLimits,
    };
    let mut estate = h.estate().await;
    let (parent, lights) =
        (MeterId::from_uuid(uuid::Uuid::from_u128(0xAB01)), MeterId::from_uuid(uuid::Uuid::from_u128(0xAB02)));
    let rule_id = ApportionmentRuleId::from_uuid(uuid::Uuid::from_u128(0xAB03));
    let mut steps = Vec::new();
    for (id, serial, address) in [(parent, "INCOMER-1", "000000000901"), (lights, "LIGHTS-1", "000000000902")] {
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
        m.premises_id = Some(estate.property.id);
        steps.push(estate.system(Command::ReceiveMeter(m)));
        steps.push(
            estate.system(Command::InstallMeter(InstallMeter { meter_id: id, premises_id: estate.building_a.id })),
        );
    }
    steps.push(estate.system(Command::CreateApportionmentRule(CreateApportionmentRule {
        rule_id,
        premises_id: estate.property.id,
        name: "Riverside 公摊".into(),
        utility: Utility::Electricity,
        basis: Basis::FloorArea,
        pool: Pool::CommonAndLoss,
        price: UnitPrice::parse("0.60", Currency::CNY).unwrap(),
        parent_meter: Some(parent),
        common_meters: vec![lights],
        units: vec![
            ApportionedUnit { premises_id: estate.unit_a.id, floor_area_dm2: 8_550 },
            ApportionedUnit { premises_id: estate.unit_b.id, floor_area_dm2: 6_225 },
        ],
    })));
    let read = |estate: &mut voltvend_testkit::estate::Estate, meter, points: &[(&str, i64)]| {
        let readings =
            points.iter().map(|(t, wh)| Reading { at: t.parse().unwrap(), registers: Registers::Total(*wh) }).collect();
        let command = Command::ApplyReadings(ApplyReadings {
            meter_id: meter,
            readings,
            report: None,
            limits: ReadingLimits::default(),
            demand: None,
        });
        Operation::new(estate.next_op(), Actor::system("headend"), command)
    };
    let remote = estate.remote_meter;
    for (meter, base, mid) in [(parent, 1_000_000, 1_500_000), (lights, 0, 120_000), (remote, 1_000_000, 1_300_000)] {
        steps.push(read(&mut estate, meter, &[("2026-09-30T15:00:00Z", base), ("2026-10-15T00:00:00Z", mid)]));
    }
    // Together: a reading within the month and its closing one for each meter, then the posting, then the
    // same posting again (refused). October: the parent 550 kWh, A-101 320, the lights 125.
    let mut together = Vec::new();
    for (meter, late, end) in
        [(parent, 1_550_000, 1_600_000), (lights, 125_000, 130_000), (remote, 1_320_000, 1_350_000)]
    {
        together.push(read(&mut estate, meter, &[("2026-10-20T00:00:00Z", late), ("2026-10-31T16:00:00Z", end)]));
    }
    let admin = Actor::operator(estate.admin, estate.group.id, "test");
    let post = ApportionPeriod { rule_id, period: 202_610 };
    together.push(Operation::new(estate.next_op(), admin.clone(), Command::ApportionPeriod(post)));
    together.push(Operation::new(estate.next_op(), admin, Command::ApportionPeriod(post)));
    let (model, want) = agrees_with_the_model(h, &estate.setup, &steps, &together).await;
    assert_eq!(want.last(), Some(&Some("period_apportioned")));
    // The rule and the run as stored are the model's; the run shares 120.00 by 85.50 : 62.25 m².
    let rule = h.store.apportionment_rule(rule_id).await.unwrap().unwrap();
    assert_eq!(Some(&rule), model.apportionment_rules.get(&rule_id));
    let runs = h.store.apportionment_runs(rule_id).await.unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(Some(run), model.apportionment_runs.get(&(rule_id, 202_610)));
    assert_eq!((run.pool_milli, run.amount_minor, run.loss_milli), (230_000, 13_800, Some(105_000)));
    assert_eq!(run.shares.iter().map(|s| s.amount_minor).sum::<i64>(), 13_800);
    let listed =
        h.store.list_apportionment_rules(&voltvend_store::ListQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(listed, vec![rule]);
    // 负荷曲线 on both backends: the lights' October readings by their 15-minute buckets (120 + 5 + 5 kWh), the
    // parent meter left out of a building's curve.
    let (oct, nov) = (
        "2026-10-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond(),
        "2026-11-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond(),
    );
    let curve = h.store.consumption_curve(None, None, Some(lights), "electricity", oct, nov).await.unwrap();
    assert_eq!(curve.iter().map(|(_, m, n)| (*m, *n)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1)), (130_000, 3));
    let oct_15 = "2026-10-15T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_second() / 900;
    assert!(curve.iter().any(|(q, m, _)| *q == oct_15 && *m == 120_000), "{curve:?}");
    let parent_curve = h.store.consumption_curve(None, None, Some(parent), "electricity", oct, nov).await.unwrap();
    assert!(parent_curve.is_empty(), "a rule's parent meter is left out: {parent_curve:?}");
    // Measured readings are kept as such, with what they measured.
    let rows = h.store.readings(parent, 10).await.unwrap();
    assert!(rows.iter().all(|r| r.status == voltvend_ops::ReadingStatus::Measured));
    assert_eq!(rows.iter().map(|r| r.consumption_milli).sum::<i64>(), 600_000);
    // 分类分项 on both backends: what the consumption report groups by, and the parent meter left out of it.
    let mut tag = |meter, category, sub_item: &str| {
        let c = voltvend_ops::MeterCategory { meter_id: meter, category, sub_item: sub_item.into() };
        Operation::new(estate.next_op(), Actor::system("test"), Command::SetMeterCategory(c))
    };
    use voltvend_domain::EnergyCategory;
    h.store.submit(tag(lights, EnergyCategory::Power, "lifts")).await.unwrap();
    h.store.submit(tag(lights, EnergyCategory::LightingSockets, "stairwells")).await.unwrap();
    let (from, to) = (
        "2026-09-30T16:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond(),
        "2026-10-31T16:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond(),
    );
    let by = |grouping| h.store.consumption_summary(None, None, from, to, grouping);
    let groups = by(voltvend_store::ConsumptionGrouping::SubItem).await.unwrap();
    let keys: Vec<(&str, i64)> = groups.iter().map(|g| (g.key.as_str(), g.consumption_milli)).collect();
    assert_eq!(keys, vec![("/", 320_000), ("lighting_sockets/stairwells", 125_000)], "{groups:?}");
    let groups = by(voltvend_store::ConsumptionGrouping::Category).await.unwrap();
    assert_eq!(groups.iter().map(|g| g.consumption_milli).sum::<i64>(), 445_000, "the parent's 550 kWh left out");
    // 集团财务 on both backends: the estate's one property balances on its own, and the ledger summed whole is
    // its sum (the model's ledger, account by account).
    let (lines, whole) = h.store.books_summary(None).await.unwrap();
    assert!(!lines.is_empty() && lines.iter().all(|l| l.property == estate.property.id), "{lines:?}");
    let (d, c) = lines.iter().fold((0, 0), |(d, c), l| (d + l.debits_minor, c + l.credits_minor));
    assert_eq!(d, c, "the property's books balance");
    assert_eq!(whole, vec![("CNY".to_string(), d, c)]);
    let model_debits: i64 = model.ledger_accounts.values().map(|(_, b)| b.debits_minor).sum();
    assert_eq!(d, model_debits);
    assert!(h.store.check(CheckScope::Full).await.unwrap().is_ok());
}

/// 房租 / 物业费: floor areas, a schedule per m², October issued; then — submitted together, so that the writer
/// may take them in one batch — November issued, October again (refused), a fee payment at the counter and sales
/// that pay a 30 % share of overdue fees by the property's policy. Charges, runs, payments and sales as stored
/// agree with the sequential model, and `voltvend check` finds each schedule's receivable equal to what its
/// charges owe and the receipts of the counter (sales and fee payments together) without gaps.
pub async fn fees_agree_with_the_model(h: &Harness) {
    use voltvend_domain::FeeScheduleId;
    use voltvend_domain::fees::{FeeBasis, OverduePolicy};
    use voltvend_ops::{Actor, CreateFeeSchedule, FeePolicy, FloorArea, IssueFees, PayFees, PaymentMethod};
    let mut estate = h.estate().await;
    let schedule = FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE01));
    let admin = Actor::operator(estate.admin, estate.group.id, "test");
    let mut steps = Vec::new();
    for (unit, dm2) in [(estate.unit_a.id, 8_550), (estate.unit_b.id, 6_225)] {
        let area = Command::SetFloorArea(FloorArea { premises_id: unit, floor_area_dm2: dm2 });
        steps.push(Operation::new(estate.next_op(), admin.clone(), area));
    }
    let create = CreateFeeSchedule {
        schedule_id: schedule,
        premises_id: estate.property.id,
        name: "物业费".into(),
        basis: FeeBasis::PerSquareMetre,
        rate_minor: 350,
        currency: Currency::CNY,
        due_day: 10,
        late_fee_bp: 0,
        disconnect_after_days: 0,
    };
    steps.push(Operation::new(estate.next_op(), admin.clone(), Command::CreateFeeSchedule(create)));
    let issue = |period| Command::IssueFees(IssueFees { schedule_id: schedule, period });
    steps.push(Operation::new(estate.next_op(), admin.clone(), issue(202_610)));
    let share =
        FeePolicy { premises_id: estate.property.id, policy: OverduePolicy::ShareOfPurchase { share_bp: 3_000 } };
    steps.push(Operation::new(estate.next_op(), admin.clone(), Command::SetFeePolicy(share)));

    let mut together = vec![
        Operation::new(estate.next_op(), admin.clone(), issue(202_611)),
        Operation::new(estate.next_op(), admin.clone(), issue(202_610)),
        Operation::new(
            estate.next_op(),
            estate.cashier_a(),
            Command::PayFees(PayFees {
                account_id: estate.account_a,
                shift_id: estate.shift_a,
                method: PaymentMethod::Cash,
                reference: String::new(),
                paid_minor: 20_000,
            }),
        ),
    ];
    together.push(estate.remote_sale(50_000));
    together.push(estate.sts_sale(10_000));
    let (model, want) = agrees_with_the_model(h, &estate.setup, &steps, &together).await;
    assert_eq!(want, vec![None, Some("fees_issued"), None, None, None]);

    // Records as stored are the model's.
    assert_eq!(h.store.fee_schedule(schedule).await.unwrap().as_ref(), model.fee_schedules.get(&schedule));
    let runs = h.store.fee_runs(schedule).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.period).collect::<Vec<_>>(), vec![202_611, 202_610]);
    for r in &runs {
        assert_eq!(Some(r), model.fee_runs.get(&(schedule, r.period)));
        let charges = h.store.fee_charges_of_period(schedule, r.period).await.unwrap();
        assert_eq!(charges.len(), 2);
        for c in &charges {
            assert_eq!(Some(c), model.fee_charges.get(&c.key()));
        }
    }
    let payments = h.store.account_fee_payments(estate.account_a).await.unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(Some(&payments[0]), model.fee_payments.first());
    // October (299.25) paid 200.00 at the counter, then 30 % of the 500.00 sale (150.00): 99.25 of October and
    // 50.75 of November; B-101's 100.00 sale pays 30.00 of its October fee (217.88).
    let sale_a = model.sales.iter().find(|s| s.account_id == estate.account_a).unwrap();
    assert_eq!(sale_a.property_fees_minor, 15_000);
    let stored = h.store.sale(sale_a.operation_id).await.unwrap().unwrap();
    assert_eq!(&stored, sale_a);
    let charges_a = h.store.account_fee_charges(estate.account_a).await.unwrap();
    let owed: Vec<(i32, i64)> = charges_a.iter().map(|c| (c.period, c.outstanding_minor())).collect();
    assert_eq!(owed, vec![(202_611, 29_925 - 5_075), (202_610, 0)]);
    let today = jiff::civil::date(2026, 11, 23);
    assert_eq!(h.store.account_fees_owed(estate.account_a, today).await.unwrap(), (24_850, 24_850));
    let before_due = jiff::civil::date(2026, 11, 10);
    assert_eq!(h.store.account_fees_owed(estate.account_a, before_due).await.unwrap(), (24_850, 0));
    let charges_b = h.store.account_fee_charges(estate.account_b).await.unwrap();
    assert!(charges_b.iter().any(|c| c.period == 202_610 && c.outstanding_minor() == 21_788 - 3_000));
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    // 集团财务 on both backends: the sales summed by the property their accounts belong to, with the share of
    // fees they paid.
    let all = voltvend_store::SaleFilter { from_us: Some(0), to_us: Some(i64::MAX), ..Default::default() };
    let by_property = h.store.sales_summary(None, &all, voltvend_store::SalesGrouping::Property).await.unwrap();
    assert_eq!(by_property.len(), 1, "{by_property:?}");
    assert_eq!(by_property[0].key, estate.property.id.to_string());
    let fees_paid = by_property[0].property_fees_minor;
    assert_eq!((by_property[0].sales, by_property[0].paid_minor, fees_paid), (2, 60_000, 18_000));
    let listed =
        h.store.list_fee_schedules(&voltvend_store::ListQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(h.store.floor_area(estate.unit_a.id).await.unwrap(), Some(8_550));
    let policies = h.store.fee_policies(None).await.unwrap();
    assert_eq!(policies, vec![share]);
}

/// 收费纠错 and 减免 on both backends: a fee payment reversed and a charge reduced, each asked for and approved
/// (the two approvals in one batch), stored as the model has them; the payment reads as reversed, the request
/// names its subject, and the receivable still equals the charges' unpaid amounts (`check`).
pub async fn fee_corrections_agree_with_the_model(h: &Harness) {
    use voltvend_domain::fees::FeeBasis;
    use voltvend_domain::{ApprovalId, FeeScheduleId};
    use voltvend_ops::{
        Actor, Correction, CorrectionKind, CreateFeeSchedule, DecideCorrection, IssueFees, PayFees, PaymentMethod,
        RequestCorrection,
    };
    let mut estate = h.estate().await;
    let schedule = FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xFE41));
    let admin = Actor::operator(estate.admin, estate.group.id, "test");
    let create = CreateFeeSchedule {
        schedule_id: schedule,
        premises_id: estate.property.id,
        name: "租金".into(),
        basis: FeeBasis::PerUnit,
        rate_minor: 50_000,
        currency: Currency::CNY,
        due_day: 10,
        late_fee_bp: 0,
        disconnect_after_days: 0,
    };
    let pay = PayFees {
        account_id: estate.account_a,
        shift_id: estate.shift_a,
        method: PaymentMethod::Cash,
        reference: String::new(),
        paid_minor: 20_000,
    };
    let mut steps = vec![
        Operation::new(estate.next_op(), admin.clone(), Command::CreateFeeSchedule(create)),
        Operation::new(
            estate.next_op(),
            admin.clone(),
            Command::IssueFees(IssueFees { schedule_id: schedule, period: 202_610 }),
        ),
    ];
    let payment = Operation::new(estate.next_op(), estate.cashier_a(), Command::PayFees(pay));
    steps.push(payment.clone());
    let (reverse, reduce) = (ApprovalId::from_uuid(h.uuid()), ApprovalId::from_uuid(h.uuid()));
    let ask = |estate: &mut voltvend_testkit::estate::Estate, approval_id, correction| {
        let command = Command::RequestCorrection(RequestCorrection {
            approval_id,
            correction,
            reason: "keyed wrongly".into(),
            expires_in: RequestCorrection::EXPIRES_IN_DEFAULT,
        });
        Operation::new(estate.next_op(), estate.cashier_a(), command)
    };
    let subject = Correction {
        kind: CorrectionKind::ReverseFeePayment,
        sale: None,
        account_id: None,
        meter_id: None,
        shift_id: None,
        amount_minor: 0,
        fee_payment: Some(payment.id),
        charge: None,
    };
    steps.push(ask(&mut estate, reverse, subject.clone()));
    let reduction = Correction {
        kind: CorrectionKind::AdjustCharge,
        account_id: Some(estate.account_a),
        amount_minor: 30_000,
        fee_payment: None,
        charge: Some((schedule, 202_610)),
        ..subject
    };
    steps.push(ask(&mut estate, reduce, reduction));
    // Approved together: the reversal first (200.00 owed again), then the reduction of the 500.00 rent by 300.00
    // (asked for while 200.00 was paid: at most what it owed then).
    let decide =
        |approval_id| Command::DecideCorrection(DecideCorrection { approval_id, approve: true, note: String::new() });
    let together = [
        Operation::new(estate.next_op(), admin.clone(), decide(reverse)),
        Operation::new(estate.next_op(), admin.clone(), decide(reduce)),
    ];
    let (model, want) = agrees_with_the_model(h, &estate.setup, &steps, &together).await;
    assert_eq!(want, vec![None, None]);

    let charges = h.store.fee_charges_of_period(schedule, 202_610).await.unwrap();
    for c in &charges {
        assert_eq!(Some(c), model.fee_charges.get(&c.key()));
    }
    let a = charges.iter().find(|c| c.account_id == estate.account_a).unwrap();
    assert_eq!((a.amount_minor, a.paid_minor, a.adjusted_minor), (20_000, 0, -30_000));
    for id in [reverse, reduce] {
        assert_eq!(h.store.approval(id).await.unwrap().as_ref(), model.approvals.get(&id));
    }
    let payments = h.store.account_fee_payments(estate.account_a).await.unwrap();
    assert_eq!(payments.len(), 1);
    assert!(payments[0].reversed, "the stored payment reads as reversed");
    let as_model = voltvend_ops::FeePayment { reversed: false, ..payments[0].clone() };
    assert_eq!(Some(&as_model), model.fee_payments.first());
    assert!(h.store.fee_payment(payment.id).await.unwrap().unwrap().reversed, "one payment read reads reversed too");
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// 后付费账单 on both backends: a postpaid cycle's October bill issued, dunned (its late fee added to the stored
/// charge) and over-paid in one batch, as the model does them one after the other; the over-payment is credit.
pub async fn postpaid_bills_agree_with_the_model(h: &Harness) {
    use voltvend_domain::fees::FeeBasis;
    use voltvend_domain::{BillingMode, FeeScheduleId};
    use voltvend_ops::{Actor, CreateFeeSchedule, IssueFees, PayFees, PaymentMethod, SwitchBillingMode};
    let mut estate = h.estate().await;
    let cycle = FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xB111));
    let admin = Actor::operator(estate.admin, estate.group.id, "test");
    let create = CreateFeeSchedule {
        schedule_id: cycle,
        premises_id: estate.property.id,
        name: "电费账单".into(),
        basis: FeeBasis::Postpaid,
        rate_minor: 0,
        currency: Currency::CNY,
        due_day: 15,
        late_fee_bp: 1_000,
        disconnect_after_days: 1,
    };
    let switch =
        SwitchBillingMode { account_id: estate.account_a, mode: BillingMode::Postpaid, reason: "monthly bill".into() };
    let steps = vec![
        Operation::new(estate.next_op(), admin.clone(), Command::CreateFeeSchedule(create)),
        Operation::new(estate.next_op(), admin.clone(), Command::SwitchBillingMode(switch)),
        // 0.60 a kWh: 125 kWh after the first reading = 75.00 owed.
        estate.readings(&[("2026-10-01T00:00:00Z", 500_000), ("2026-10-28T00:00:00Z", 625_000)]),
    ];
    let period = |command: fn(IssueFees) -> Command| command(IssueFees { schedule_id: cycle, period: 202_610 });
    let together = [
        Operation::new(estate.next_op(), admin.clone(), period(Command::IssueFees)),
        Operation::new(estate.next_op(), admin.clone(), period(Command::DunFees)),
        Operation::new(
            estate.next_op(),
            estate.cashier_a(),
            Command::PayFees(PayFees {
                account_id: estate.account_a,
                shift_id: estate.shift_a,
                method: PaymentMethod::Cash,
                reference: String::new(),
                paid_minor: 10_000,
            }),
        ),
    ];
    let mut all = estate.setup.clone();
    let before = all.len();
    all.extend(steps.iter().cloned());
    all.extend(together.iter().cloned());
    let (model, expected) = model_of(&all, &h.context);
    let expected: Vec<_> = expected.into_iter().skip(before).collect();
    assert!(expected.iter().all(Result::is_ok), "{expected:?}");
    for op in &steps {
        h.store.submit(op.clone()).await.unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let got = join_all(together.iter().map(|op| h.store.submit(op.clone()))).await;
    assert!(got.iter().all(Result::is_ok), "{got:?}");

    // 75.00 used, a 10 % late fee of 7.50 when dunned; 100.00 pays the 82.50 and leaves 17.50 credit.
    let charges = h.store.fee_charges_of_period(cycle, 202_610).await.unwrap();
    assert_eq!(charges.len(), 1);
    let c = &charges[0];
    assert_eq!(Some(c), model.fee_charges.get(&c.key()));
    assert_eq!((c.usage_minor, c.late_fee_minor, c.amount_minor, c.paid_minor), (7_500, 750, 8_250, 8_250));
    let runs = h.store.fee_runs(cycle).await.unwrap();
    assert_eq!(Some(&runs[0]), model.fee_runs.get(&(cycle, 202_610)));
    assert_eq!((runs[0].not_postpaid, runs[0].dunned, runs[0].late_fees_minor), (1, 1, 750));
    assert!(runs[0].dunned_at.is_some());
    let payments = h.store.account_fee_payments(estate.account_a).await.unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(Some(&payments[0]), model.fee_payments.first());
    assert_eq!(payments[0].credit_minor, 1_750);
    let schedule = h.store.fee_schedule(cycle).await.unwrap().unwrap();
    assert_eq!(Some(&schedule), model.fee_schedules.get(&cycle));
    let account = h.store.account(estate.account_a).await.unwrap();
    let (_, wallet) = h.store.ledger_account(account.wallet).await.unwrap();
    assert_eq!(wallet.normal(voltvend_domain::Side::Credit), 1_750);
    // What the bill's usage is made of: the readings' 75.00 (no tax, no share) up to its issue, nothing after it
    // (the payment is not consumption).
    let charged = |from, to| h.store.consumption_charged([account.wallet, account.arrears], from, to);
    let issued = c.issued_at.as_microsecond();
    let before_issue = charged((0, None), (issued, None)).await.unwrap();
    assert_eq!((before_issue.energy_minor, before_issue.tax_minor, before_issue.shares_minor), (7_500, 0, 0));
    // Bounded by the bill's transfer instead of its time: the same (the readings were posted before it).
    let bill_transfer = runs[0].transfer_id;
    assert!(bill_transfer.is_some());
    assert_eq!(charged((0, None), (issued, bill_transfer)).await.unwrap(), before_issue);
    // Nothing after the bill (the payment is not consumption); before its own transfer nothing is after it.
    assert_eq!(charged((issued, None), (i64::MAX, None)).await.unwrap(), voltvend_store::ConsumptionCharged::default());
    assert_eq!(
        charged((0, bill_transfer), (i64::MAX, None)).await.unwrap(),
        voltvend_store::ConsumptionCharged::default()
    );
    // Disconnection after the day's notice: refused today, recorded tomorrow (the bill is paid: nothing trips).
    let disconnect = || Command::DisconnectOverdue(IssueFees { schedule_id: cycle, period: 202_610 });
    let op = Operation::new(estate.next_op(), admin.clone(), disconnect());
    assert_eq!(h.store.submit(op).await.err().map(|e| e.code()), Some("notice_running"));
    h.clock.set(start() + jiff::SignedDuration::from_hours(24));
    let op = Operation::new(estate.next_op(), admin.clone(), disconnect());
    h.store.submit(op).await.unwrap();
    let run = &h.store.fee_runs(cycle).await.unwrap()[0];
    assert_eq!((run.disconnected_at, run.disconnected), (Some(start() + jiff::SignedDuration::from_hours(24)), 0));
    // A second cycle at the same site is refused on both backends (the loader finds every cycle).
    let same = CreateFeeSchedule {
        schedule_id: FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xB112)),
        premises_id: estate.property.id,
        name: "另一个".into(),
        basis: FeeBasis::Postpaid,
        rate_minor: 0,
        currency: Currency::CNY,
        due_day: 15,
        late_fee_bp: 0,
        disconnect_after_days: 0,
    };
    let op = Operation::new(estate.next_op(), admin.clone(), Command::CreateFeeSchedule(same.clone()));
    assert_eq!(h.store.submit(op).await.err().map(|e| e.code()), Some("cycles_overlap"));
    // A-101's own cycle inside the property's (a standing charge of 20.00, due on the 20th): the nearest cycle
    // bills a unit, so September is A-101's bill from its own cycle and none from the property's; its 17.50 of
    // credit pays most of the standing charge.
    let own = FeeScheduleId::from_uuid(uuid::Uuid::from_u128(0xB113));
    let unit_cycle =
        CreateFeeSchedule { schedule_id: own, premises_id: estate.unit_a.id, rate_minor: 2_000, due_day: 20, ..same };
    let september = |schedule_id| Command::IssueFees(IssueFees { schedule_id, period: 202_609 });
    for command in [Command::CreateFeeSchedule(unit_cycle), september(cycle), september(own)] {
        let op = Operation::new(estate.next_op(), admin.clone(), command);
        h.store.submit(op).await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        h.store.fee_charges_of_period(cycle, 202_609).await.unwrap().iter().all(|c| c.premises_id != estate.unit_a.id)
    );
    let mine = h.store.fee_charges_of_period(own, 202_609).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].account_id, mine[0].credit_minor, mine[0].amount_minor), (estate.account_a, 1_750, 250));
    // October was billed by the property's cycle before A-101's own existed: not a second time.
    let october = Command::IssueFees(IssueFees { schedule_id: own, period: 202_610 });
    let op = Operation::new(estate.next_op(), admin.clone(), october);
    assert_eq!(h.store.submit(op).await.err().map(|e| e.code()), Some("cycle_month_billed"));
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// 分时: a measured meter's TOU registers read three times: each reading's consumption is split among the
/// periods by its registers' advances, exactly, on both backends, and the periods add up to what was measured.
pub async fn consumption_by_tou_period(h: &Harness) {
    use voltvend_domain::tariff::pricing::{Reading, Registers};
    use voltvend_ops::{Actor, ApplyReadings, InstallMeter, ReadingLimits};
    use voltvend_store::ConsumptionGrouping;
    let mut estate = h.estate().await;
    let meter = MeterId::from_uuid(uuid::Uuid::from_u128(0x70E1));
    let mut m = Meter::receive(
        meter,
        "TOU-1",
        Utility::Electricity,
        ControlMode::Remote,
        MeterProtocol::Dlt645,
        "000000000931",
        CtVtRatio::DIRECT,
    )
    .unwrap();
    m.premises_id = Some(estate.property.id);
    h.store.submit(estate.system(Command::ReceiveMeter(m))).await.unwrap();
    let install = InstallMeter { meter_id: meter, premises_id: estate.building_a.id };
    h.store.submit(estate.system(Command::InstallMeter(install))).await.unwrap();
    let regs = |peak: i64, valley: i64| Registers::PerPeriod(vec![("peak".into(), peak), ("valley".into(), valley)]);
    // With each reading, what the maximum-demand register said: 12.000 kW drawn on September 30th (read twice:
    // one row), then 15.500 kW on October 2nd.
    let demand = |w: i64, at: &str| Some(voltvend_ops::MaxDemand { demand_w: w, at: at.parse().unwrap() });
    let points = [
        ("2026-10-01T00:00:00Z", regs(100_000, 50_000), demand(12_000, "2026-09-30T10:00:00Z")),
        ("2026-10-02T00:00:00Z", regs(130_000, 60_000), demand(12_000, "2026-09-30T10:00:00Z")),
        ("2026-10-03T00:00:00Z", regs(137_000, 61_000), demand(15_500, "2026-10-02T20:00:00Z")),
    ];
    for (at, registers, demand) in points {
        let command = Command::ApplyReadings(ApplyReadings {
            meter_id: meter,
            readings: vec![Reading { at: at.parse().unwrap(), registers }],
            report: None,
            limits: ReadingLimits::default(),
            demand,
        });
        h.store.submit(Operation::new(estate.next_op(), Actor::system("headend"), command)).await.unwrap();
    }
    let (from, to) = (
        "2026-10-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond(),
        "2026-11-01T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond(),
    );
    let within = Some(estate.building_a.id);
    let groups = h.store.consumption_summary(None, within, from, to, ConsumptionGrouping::TouPeriod).await.unwrap();
    let got: Vec<(&str, i64, i64)> = groups.iter().map(|g| (g.key.as_str(), g.readings, g.consumption_milli)).collect();
    // 30 + 7 kWh at peak, 10 + 1 at valley; the first reading counted nothing.
    assert_eq!(got, vec![("peak", 2, 37_000), ("valley", 2, 11_000)]);
    let total = h.store.consumption_summary(None, within, from, to, ConsumptionGrouping::Meter).await.unwrap();
    let measured: i64 = total.iter().filter(|g| g.key == meter.to_string()).map(|g| g.consumption_milli).sum();
    assert_eq!(measured, 48_000, "the periods add up to what was measured");
    // 最大需量: one row per maximum; the span's highest; the building's scope holds the meter, another does not.
    let sep30 = "2026-09-30T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond();
    let peaks = h.store.peak_demands(None, within, None, sep30, to).await.unwrap();
    let oct2 = "2026-10-02T20:00:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond();
    assert_eq!(
        peaks,
        vec![voltvend_store::PeakDemand { meter_id: meter, serial: "TOU-1".into(), demand_w: 15_500, at_us: oct2 }]
    );
    let before = h.store.peak_demands(None, within, Some(meter), sep30, oct2).await.unwrap();
    assert_eq!(before.iter().map(|p| p.demand_w).collect::<Vec<_>>(), vec![12_000]);
    assert!(h.store.peak_demands(None, Some(estate.building_b.id), None, sep30, to).await.unwrap().is_empty());
    assert!(h.store.peak_demands(Some(estate.building_b.id), None, None, sep30, to).await.unwrap().is_empty());
}

/// 集团财务 on both backends (ADR 0007): the group's counter sells to a Riverside tenant, an operator's
/// adjustment crosses the two properties and a sale is partly reversed — the last three in one batch — and every
/// ledger account is as the model has it, each property's books balancing through its inter-property account.
/// A balance edited behind the ledger's back so that the ledger still sums to zero but Riverside's books do not
/// is found by `check`.
pub async fn inter_property_books_agree_with_the_model(h: &Harness) {
    use voltvend_domain::{BooksId, BuiltinRole, LedgerAccountId, ShiftId, TransferId, VendingPointId};
    use voltvend_ops::{Actor, OpenBooks, OpenShift, OpenVendingPoint, PaymentMethod, Reverse, Sale};
    use voltvend_testkit::estate::PASSWORD_HASH;
    let mut estate = h.estate().await;
    let id = |n: u128| uuid::Uuid::from_u128(0x7C00_0000 + n);
    let (books, point, cashier, shift) = (
        BooksId::from_uuid(id(1)),
        VendingPointId::from_uuid(id(2)),
        OperatorId::from_uuid(id(3)),
        ShiftId::from_uuid(id(4)),
    );
    let group = estate.group.id;
    let head_office = Actor::operator(cashier, group, "test");
    let mut steps = vec![
        estate.system(Command::OpenBooks(OpenBooks { id: books, premises_id: group, currency: Currency::CNY })),
        estate.system(Command::OpenVendingPoint(OpenVendingPoint {
            id: point,
            premises_id: group,
            name: "Head office".into(),
            currency: Currency::CNY,
            books_id: books,
            credit_limit_minor: None,
        })),
        estate.system(Command::AddOperator(Operator::new(
            cashier,
            "head.office",
            "Head office",
            BuiltinRole::Cashier.as_str(),
            group,
            PASSWORD_HASH,
        ))),
    ];
    steps.push(Operation::new(
        estate.next_op(),
        head_office.clone(),
        Command::OpenShift(OpenShift {
            shift_id: shift,
            vending_point_id: point,
            operator_id: cashier,
            opening_float_minor: 0,
        }),
    ));
    let (account_a, meter) = (estate.account_a, estate.remote_meter);
    let sale = |paid| Sale::paid(account_a, meter, shift, PaymentMethod::Cash, paid);
    let first = Operation::new(estate.next_op(), head_office.clone(), Command::Sale(sale(8_000)));
    steps.push(first.clone());
    let mut all = estate.setup.clone();
    all.extend(steps.iter().cloned());
    let (model, _) = model_of(&all, &h.context);
    let first_transfer = model.sales.iter().find(|s| s.operation_id == first.id).unwrap().transfer_id;
    let (ours, theirs) = (model.books[&estate.books].clone(), model.books[&books].clone());
    let wallet = model.accounts[&estate.account_a].wallet;
    let drawer = model.shifts[&shift].drawer;
    let together = [
        Operation::new(estate.next_op(), head_office.clone(), Command::Sale(sale(2_000))),
        estate.system(Command::PostTransfer(TransferRequest::simple(
            TransferId::from_uuid(id(5)),
            TransferKind::Adjustment,
            theirs.card_clearing,
            ours.energy_revenue,
            cny(500),
            "the group pays a property's revenue",
        ))),
        estate.system(Command::Reverse(Reverse {
            transfer_id: first_transfer,
            reason: "part back".into(),
            lines: Some(vec![
                Posting { account: wallet, side: Side::Debit, amount_minor: 3_000 },
                Posting { account: drawer, side: Side::Credit, amount_minor: 3_000 },
            ]),
            reallocate: None,
        })),
    ];
    all.extend(together.iter().cloned());
    let (model, expected) = model_of(&all, &h.context);
    assert!(expected.iter().all(Result::is_ok), "{expected:?}");
    for op in &steps {
        h.store.submit(op.clone()).await.unwrap_or_else(|e| panic!("{}: {e}", op.command.kind()));
    }
    let got = join_all(together.iter().map(|op| h.store.submit(op.clone()))).await;
    assert!(got.iter().all(Result::is_ok), "{got:?}");

    // 80.00 + 20.00 − 30.00 taken for Riverside at the head office, and 5.00 of Riverside's revenue paid by the
    // group: the group owes Riverside 75.00.
    let (riverside, head) =
        (LedgerAccountId::from_uuid(estate.books.as_uuid()), LedgerAccountId::from_uuid(books.as_uuid()));
    assert_eq!((model.balance(riverside), model.balance(head)), (Some(7_500), Some(-7_500)));
    for (account, balance) in model.ledger_accounts.values() {
        assert_eq!(h.store.ledger_account(account.id).await.unwrap(), (account.clone(), *balance), "{}", account.kind);
    }
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);

    // 1.00 moved from Riverside's revenue to the group's in the cached balances: the ledger still sums to zero,
    // but neither property's books balance.
    execute_raw(
        h,
        &[
            &format!(
                "UPDATE ledger_accounts SET credits_posted_minor = credits_posted_minor - 100 WHERE id = {}",
                sql_uuid(h, ours.energy_revenue.as_uuid())
            ),
            &format!(
                "UPDATE ledger_accounts SET credits_posted_minor = credits_posted_minor + 100 WHERE id = {}",
                sql_uuid(h, theirs.energy_revenue.as_uuid())
            ),
        ],
        true,
    )
    .await;
    // Warnings, not problems: backups and restores still pass (a database from before ADR 0007 may hold such
    // differences until they are settled).
    let report = h.store.check(CheckScope::Full).await.unwrap();
    assert_eq!(report.warnings.iter().filter(|p| p.contains("do not balance")).count(), 2, "{report:?}");
    assert!(
        !report.problems.iter().any(|p| p.contains("does not sum to zero") || p.contains("do not balance")),
        "{report:?}"
    );
}

/// A UUID as a literal of the backend's SQL.
fn sql_uuid(h: &Harness, id: uuid::Uuid) -> String {
    match h.store.backend() {
        Backend::Sqlite => format!("X'{}'", id.simple()),
        Backend::Postgres => format!("'{id}'"),
    }
}
