use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use sqlx::Connection;
use tempfile::TempDir;
use uuid::Uuid;
use voltvend_domain::{
    Account, AccountId, Currency, Customer, CustomerId, LedgerAccount, LedgerAccountId, LedgerAccountKind, ManualClock,
    Owner, Premises, PremisesId, PremisesLevel, ShiftId, TransferId,
};
use voltvend_store::{OpenOptions, Store};

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub url: String,
    pub dir: TempDir,
    ids: AtomicU64,
    pg_drop: Option<(String, String)>,
}

pub fn start() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

/// `VOLTVEND_TEST_PG_URL`, or `None` with a message; under `CI=true` its absence is a failure.
pub fn pg_admin_url() -> Option<String> {
    match std::env::var("VOLTVEND_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but VOLTVEND_TEST_PG_URL is not set: the PostgreSQL conformance run is required in CI")
        }
        _ => {
            eprintln!(
                "skipping the PostgreSQL backend: set VOLTVEND_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test"
            );
            None
        }
    }
}

/// Creates a fresh database next to the one `admin_url` names and returns (its URL, its name).
pub async fn fresh_pg_database(admin_url: &str) -> (String, String) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!("voltvend_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("VOLTVEND_TEST_PG_URL must be reachable");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    admin.close().await.ok();
    let base = admin_url.split('?').next().unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    (format!("{server}/{name}"), name)
}

pub async fn drop_pg_database(admin_url: &str, name: &str) {
    if let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
    }
}

impl Harness {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("voltvend.sqlite").display());
        Self::open(url, dir, None).await
    }

    pub async fn postgres() -> Option<Self> {
        let admin = pg_admin_url()?;
        let (url, name) = fresh_pg_database(&admin).await;
        Some(Self::open(url, tempfile::tempdir().unwrap(), Some((admin, name))).await)
    }

    async fn open(url: String, dir: TempDir, pg_drop: Option<(String, String)>) -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let store = voltvend_store::open(&OpenOptions::new(&url), clock.clone()).await.unwrap();
        store.migrate().await.unwrap();
        Self { store, clock, url, dir, ids: AtomicU64::new(1), pg_drop }
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin, name)) = &self.pg_drop {
            drop_pg_database(admin, name).await;
        }
    }

    /// Deterministic, distinct ids.
    pub fn uuid(&self) -> Uuid {
        Uuid::from_u128(u128::from(self.ids.fetch_add(1, Ordering::Relaxed)) << 64 | 0xABCD)
    }

    pub fn transfer_id(&self) -> TransferId {
        TransferId::from_uuid(self.uuid())
    }

    /// group → property → building → unit; returns all four.
    pub async fn premises_tree(&self) -> Vec<Premises> {
        let g = Premises::new_root(PremisesId::from_uuid(self.uuid()), "Acme Group", "Asia/Shanghai").unwrap();
        let p = g.new_child(PremisesId::from_uuid(self.uuid()), PremisesLevel::Property, "Riverside").unwrap();
        let b = p.new_child(PremisesId::from_uuid(self.uuid()), PremisesLevel::Building, "Block A").unwrap();
        let u = b.new_child(PremisesId::from_uuid(self.uuid()), PremisesLevel::Unit, "A-101").unwrap();
        for x in [&g, &p, &b, &u] {
            self.store.insert_premises(x).await.unwrap();
        }
        vec![g, p, b, u]
    }

    pub async fn customer_account(&self, premises: &Premises) -> Account {
        let c =
            Customer::new(CustomerId::from_uuid(self.uuid()), premises.id, "Wang Fang", Some("13800000000")).unwrap();
        self.store.insert_customer(&c).await.unwrap();
        let a = Account::open(AccountId::from_uuid(self.uuid()), &c, premises.id, Currency::CNY);
        self.store.insert_account(&a).await.unwrap();
        a
    }

    /// A cash drawer, a wallet with the given overdraft, and an energy-revenue account.
    pub async fn ledger_accounts(&self, overdraft_minor: i64) -> (LedgerAccountId, LedgerAccountId, LedgerAccountId) {
        let tree = self.premises_tree().await;
        let account = self.customer_account(&tree[3]).await;
        let drawer = LedgerAccount::new(
            LedgerAccountId::from_uuid(self.uuid()),
            LedgerAccountKind::CashDrawer,
            Owner::Shift(ShiftId::from_uuid(self.uuid())),
            tree[1].id,
            Currency::CNY,
            None,
        )
        .unwrap();
        let wallet = LedgerAccount::new(
            LedgerAccountId::from_uuid(self.uuid()),
            LedgerAccountKind::CustomerWallet,
            Owner::Account(account.id),
            tree[1].id,
            Currency::CNY,
            Some(overdraft_minor),
        )
        .unwrap();
        let revenue = LedgerAccount::new(
            LedgerAccountId::from_uuid(self.uuid()),
            LedgerAccountKind::EnergyRevenue,
            Owner::None,
            tree[1].id,
            Currency::CNY,
            None,
        )
        .unwrap();
        for a in [&drawer, &wallet, &revenue] {
            self.store.insert_ledger_account(a).await.unwrap();
        }
        (drawer.id, wallet.id, revenue.id)
    }
}
