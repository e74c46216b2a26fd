use std::sync::atomic::Ordering;

use futures_util::future::join_all;
use jiff::SignedDuration;
use sqlx::Connection;
use voltvend_domain::ledger::Balance;
use voltvend_domain::{
    AccountStatus, ControlMode, CtVtRatio, Currency, LedgerAccountKind, LedgerError, Meter, MeterId, MeterProtocol,
    MeterState, Money, Operator, OperatorId, PremisesId, PremisesLevel, Role, Side, TransferKind, TransferRequest,
    Utility,
};
use voltvend_store::{StoreError, backup};

use crate::harness::Harness;

fn cny(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY)
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
    assert!(matches!(h.store.insert_premises(&bad).await, Err(StoreError::NotFound { .. })));
    let mut misplaced = orphan;
    misplaced.level = PremisesLevel::Property;
    assert!(matches!(h.store.insert_premises(&misplaced).await, Err(StoreError::Config(_))));
    assert!(matches!(h.store.insert_premises(&tree[0]).await, Err(StoreError::Duplicate { .. })));
    assert_eq!(h.store.counts().await.unwrap().premises, 4);
}

pub async fn customers_accounts_meters_round_trip(h: &Harness) {
    let tree = h.premises_tree().await;
    let mut account = h.customer_account(&tree[3]).await;
    assert_eq!(h.store.account(account.id).await.unwrap(), account);
    assert_eq!(h.store.customer(account.customer_id).await.unwrap().phone.as_deref(), Some("13800000000"));
    account.suspend().unwrap();
    h.store.update_account(&account).await.unwrap();
    assert_eq!(h.store.account(account.id).await.unwrap().status, AccountStatus::Suspended);

    let mut meter = Meter::receive(
        MeterId::from_uuid(h.uuid()),
        "DDSY1352-0001",
        Utility::Electricity,
        ControlMode::Remote,
        MeterProtocol::Dlt645,
        "000000000161",
        CtVtRatio::new(40, 1).unwrap(),
    )
    .unwrap();
    h.store.insert_meter(&meter).await.unwrap();
    meter.install(tree[3].id).unwrap();
    meter.activate(account.id).unwrap();
    h.store.update_meter(&meter).await.unwrap();
    let back = h.store.meter(meter.id).await.unwrap();
    assert_eq!(back, meter);
    assert_eq!(back.state, MeterState::Active);
    assert_eq!(back.ratio.multiplier(), 40);

    let mut twin = meter.clone();
    twin.id = MeterId::from_uuid(h.uuid());
    assert!(matches!(h.store.insert_meter(&twin).await, Err(StoreError::Duplicate { what: "meter serial", .. })));
    assert!(matches!(h.store.meter(twin.id).await, Err(StoreError::NotFound { what: "meter", .. })));
    assert!(matches!(h.store.update_meter(&twin).await, Err(StoreError::NotFound { .. })));
}

pub async fn operators_are_unique(h: &Harness) {
    let tree = h.premises_tree().await;
    let op = Operator {
        id: OperatorId::from_uuid(h.uuid()),
        username: "cashier1".into(),
        display_name: "Counter 1".into(),
        role: Role::Cashier,
        scope: tree[1].id,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        active: true,
    };
    h.store.insert_operator(&op).await.unwrap();
    assert_eq!(h.store.operator_by_username("cashier1").await.unwrap(), Some(op.clone()));
    assert_eq!(h.store.operator_by_username("nobody").await.unwrap(), None);
    let mut again = op;
    again.id = OperatorId::from_uuid(h.uuid());
    assert!(matches!(h.store.insert_operator(&again).await, Err(StoreError::Duplicate { what: "operator", .. })));
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
    assert_eq!(h.store.transfer(id).await.unwrap().as_ref(), Some(first.transfer()));

    let mut other = sale;
    other.memo = "a different sale".into();
    assert!(matches!(h.store.post_transfer(other).await, Err(StoreError::Ledger(LedgerError::Conflict(x))) if x == id));

    let spend = TransferRequest::simple(h.transfer_id(), TransferKind::Consumption, wallet, revenue, cny(10_001), "");
    assert!(matches!(
        h.store.post_transfer(spend).await,
        Err(StoreError::Ledger(LedgerError::InsufficientBalance { balance_minor: 10_000, limit_minor: 0, .. }))
    ));
    let spend = TransferRequest::simple(h.transfer_id(), TransferKind::Consumption, wallet, revenue, cny(2_345), "");
    h.store.post_transfer(spend).await.unwrap();

    let (account, balance) = h.store.ledger_account(wallet).await.unwrap();
    assert_eq!(account.kind, LedgerAccountKind::CustomerWallet);
    assert_eq!(balance, Balance { debits_minor: 2_345, credits_minor: 10_000 });
    assert_eq!(balance.normal(Side::Credit), 7_655);
    let lines = h.store.statement(wallet, 10).await.unwrap();
    assert_eq!(lines.iter().map(|l| l.amount_minor).collect::<Vec<_>>(), vec![2_345, -10_000]);
    let found = h.store.find_ledger_account(
        LedgerAccountKind::CustomerWallet,
        &account.owner,
        account.premises_id,
        Currency::CNY,
    );
    assert_eq!(found.await.unwrap().map(|a| a.id), Some(wallet));
    let report = h.store.check_ledger().await.unwrap();
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
    for request in bad {
        assert!(matches!(h.store.post_transfer(request).await, Err(StoreError::Ledger(_))));
    }
    let after = (h.store.ledger_account(wallet).await.unwrap(), h.store.counts().await.unwrap());
    assert_eq!(after, before);
    assert!(h.store.check_ledger().await.unwrap().is_ok());
}

pub async fn corrections_reference_originals(h: &Harness) {
    let (drawer, wallet, _) = h.ledger_accounts(0).await;
    let sale = TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(5_000), "");
    let original = h.store.post_transfer(sale).await.unwrap().transfer().clone();
    let reversal = TransferRequest::reversal_of(h.transfer_id(), &original, "wrong customer");
    let posted = h.store.post_transfer(reversal).await.unwrap();
    assert_eq!(posted.transfer().request.corrects, Some(original.request.id));
    assert_eq!(h.store.ledger_account(wallet).await.unwrap().1.normal(Side::Credit), 0);
    let mut dangling = TransferRequest::reversal_of(h.transfer_id(), &original, "");
    dangling.corrects = Some(h.transfer_id());
    assert!(matches!(
        h.store.post_transfer(dangling).await,
        Err(StoreError::Ledger(LedgerError::CorrectedTransferNotFound(_)))
    ));
    // The original is untouched: corrections are new transfers.
    assert_eq!(h.store.transfer(original.request.id).await.unwrap(), Some(original));
}

/// On a current-thread runtime every post below is queued before the writer task runs, so the writer takes
/// them all in one batch: one transaction, one durable commit, 500 answers.
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
    assert!(h.store.check_ledger().await.unwrap().is_ok());
}

pub async fn tampering_is_detected(h: &Harness) {
    let (drawer, wallet, _) = h.ledger_accounts(0).await;
    let sale = TransferRequest::simple(h.transfer_id(), TransferKind::Payment, drawer, wallet, cny(700), "");
    h.store.post_transfer(sale).await.unwrap();
    // Someone edits a cached balance behind the ledger's back, and tries to edit history.
    match h.store.backend() {
        voltvend_store::Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&h.url).await.unwrap();
            sqlx::query("UPDATE ledger_accounts SET credits_posted_minor = 7000 WHERE id = $1")
                .bind(wallet.as_uuid())
                .execute(&mut conn)
                .await
                .unwrap();
            assert!(sqlx::query("UPDATE entries SET amount_minor = 1").execute(&mut conn).await.is_err());
            assert!(sqlx::query("DELETE FROM transfers").execute(&mut conn).await.is_err());
        }
        voltvend_store::Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&h.url).await.unwrap();
            sqlx::query("UPDATE ledger_accounts SET credits_posted_minor = 7000 WHERE id = $1")
                .bind(wallet.as_uuid())
                .execute(&mut conn)
                .await
                .unwrap();
            assert!(sqlx::query("UPDATE entries SET amount_minor = 1").execute(&mut conn).await.is_err());
            assert!(sqlx::query("DELETE FROM transfers").execute(&mut conn).await.is_err());
        }
    }
    let report = h.store.check_ledger().await.unwrap();
    assert!(!report.is_ok());
    assert!(report.problems.iter().any(|p| p.contains("caches")), "{:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.contains("does not sum to zero")), "{:?}", report.problems);
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
    let file = match (h.store.backend(), file) {
        (_, Ok(f)) => f,
        (voltvend_store::Backend::Postgres, Err(StoreError::Backup(e))) if e.contains("cannot run pg_dump") => {
            eprintln!("pg_dump not installed; PostgreSQL backup not exercised");
            return;
        }
        (_, Err(e)) => panic!("backup failed: {e}"),
    };
    assert!(file.is_file());
    assert!(
        matches!(h.store.backup_to(&dir, "20261123T080000Z").await, Err(StoreError::Backup(_))),
        "never overwrites"
    );
    if h.store.backend() == voltvend_store::Backend::Sqlite {
        let report = backup::verify_sqlite_file(&file, h.clock.clone()).await.unwrap();
        assert!(report.transfers >= 20 && report.transfers <= 40, "{report:?}");
        // Restoring over the live database is refused while it exists (no --force) and while it is held.
        let refused = backup::restore(&file, &h.url, false, h.clock.clone()).await;
        assert!(matches!(refused, Err(StoreError::Backup(ref m)) if m.contains("--force")), "{refused:?}");
        let lock = h.store.lock_instance().await.unwrap();
        let refused = backup::restore(&file, &h.url, true, h.clock.clone()).await;
        assert!(matches!(refused, Err(StoreError::Locked(_))), "{refused:?}");
        lock.release().await;
        // Into a new place it restores and verifies.
        let target = format!("sqlite://{}", h.dir.path().join("restored.sqlite").display());
        let restored = backup::restore(&file, &target, false, h.clock.clone()).await.unwrap();
        assert_eq!(restored.ledger.transfers, report.transfers);
        // A corrupt backup is refused before anything is touched.
        let corrupt = h.dir.path().join("corrupt.sqlite");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.truncate(bytes.len() / 2);
        for b in bytes.iter_mut().skip(100).step_by(97) {
            *b = 0xFF;
        }
        std::fs::write(&corrupt, bytes).unwrap();
        assert!(backup::restore(&corrupt, &target, true, h.clock.clone()).await.is_err());
        assert!(backup::verify_sqlite_file(&h.dir.path().join("restored.sqlite"), h.clock.clone()).await.is_ok());
    } else {
        let admin = crate::harness::pg_admin_url().unwrap();
        let (target, name) = crate::harness::fresh_pg_database(&admin).await;
        let restored = backup::restore(&file, &target, false, h.clock.clone()).await.unwrap();
        assert!(restored.ledger.is_ok() && restored.ledger.transfers >= 20, "{:?}", restored.ledger);
        let again = backup::restore(&file, &target, false, h.clock.clone()).await;
        assert!(matches!(again, Err(StoreError::Backup(ref m)) if m.contains("--force")), "{again:?}");
        backup::restore(&file, &target, true, h.clock.clone()).await.unwrap();
        let refused = backup::restore(&file, &h.url, true, h.clock.clone()).await;
        assert!(refused.is_ok(), "a database no server holds may be replaced with --force: {refused:?}");
        crate::harness::drop_pg_database(&admin, &name).await;
    }
}

pub async fn instance_lock_is_exclusive(h: &Harness) {
    let first = h.store.lock_instance().await.unwrap();
    let other = voltvend_store::open(&voltvend_store::OpenOptions::new(&h.url), h.clock.clone()).await.unwrap();
    assert!(matches!(other.lock_instance().await, Err(StoreError::Locked(_))));
    first.release().await;
    let again = other.lock_instance().await.expect("free once released");
    again.release().await;
    other.close().await;
}

pub async fn tariff_documents_and_pricing_state(h: &Harness) {
    use voltvend_domain::tariff::pricing::PricingState;
    assert_eq!(h.store.tariff_document("flat").await.unwrap(), None);
    assert_eq!(h.store.insert_tariff_document("flat", "Flat", "code = \"flat\"\n# v1").await.unwrap(), 1);
    assert_eq!(h.store.insert_tariff_document("flat", "Flat", "code = \"flat\"\n# v2").await.unwrap(), 2);
    h.store.insert_tariff_document("water", "Water", "code = \"water\"").await.unwrap();
    let latest = h.store.tariff_document("flat").await.unwrap().unwrap();
    assert_eq!((latest.revision, latest.document.as_str()), (2, "code = \"flat\"\n# v2"));
    let all = h.store.tariff_documents().await.unwrap();
    assert_eq!(all.iter().map(|d| (d.code.as_str(), d.revision)).collect::<Vec<_>>(), vec![("flat", 2), ("water", 1)]);

    let tree = h.premises_tree().await;
    let account = h.customer_account(&tree[3]).await;
    assert_eq!(h.store.pricing_state(account.id, "flat").await.unwrap(), None);
    let mut state = PricingState {
        block_key: Some(2026),
        block_position_milli: 2_760_001,
        free_key: Some(202_605),
        free_used_milli: 50_000,
        month_key: Some(202_605),
        month_energy_femto: 123_456_789_012_345_678_901_234_567,
        carry_femto: 9_999_999_999_999,
    };
    h.store.save_pricing_state(account.id, "flat", &state).await.unwrap();
    assert_eq!(h.store.pricing_state(account.id, "flat").await.unwrap(), Some(state.clone()));
    state.block_position_milli += 1;
    state.carry_femto = 0;
    h.store.save_pricing_state(account.id, "flat", &state).await.unwrap();
    assert_eq!(h.store.pricing_state(account.id, "flat").await.unwrap(), Some(state));
    let stranger = voltvend_domain::AccountId::from_uuid(h.uuid());
    assert!(h.store.save_pricing_state(stranger, "flat", &PricingState::default()).await.is_err(), "unknown account");
}
