use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;
use sqlx::Connection;
use tempfile::TempDir;
use uuid::Uuid;
use voltvend_domain::{LedgerAccountId, ManualClock, OperationId, Premises, PremisesId, PremisesLevel, TransferId};
use voltvend_ops::memory::MemoryDb;
use voltvend_ops::{Applied, Command, Context, Operation};
use voltvend_store::{OpenOptions, Store, WriterConfig};
use voltvend_testkit::estate::Estate;

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub clock: Arc<ManualClock>,
    pub url: String,
    pub dir: TempDir,
    pub context: Arc<Context>,
    ids: AtomicU64,
    pg_drop: Option<(String, String)>,
}

pub fn start() -> Timestamp {
    "2026-11-23T08:00:00Z".parse().unwrap()
}

/// `VOLTVEND_TEST_PG_URL`, or `None` with a message; under `CI=true` its absence is a failure.
pub fn pg_admin_url() -> Option<String> {
    let url = std::env::var("VOLTVEND_TEST_PG_URL").ok().filter(|u| !u.is_empty());
    voltvend_testkit::peer_available(
        url.is_some(),
        "PostgreSQL (set VOLTVEND_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test)",
    )
    .then_some(url)
    .flatten()
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

pub fn options(url: &str, context: &Arc<Context>, writer: WriterConfig) -> OpenOptions {
    let mut o = OpenOptions::new(url).creating();
    o.context = context.clone();
    o.writer = writer;
    o
}

impl Harness {
    pub async fn sqlite() -> Self {
        Self::sqlite_with(WriterConfig::default()).await
    }

    pub async fn sqlite_with(writer: WriterConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("voltvend.sqlite").display());
        Self::open(url, dir, None, writer).await
    }

    pub async fn postgres() -> Option<Self> {
        Self::postgres_with(WriterConfig::default()).await
    }

    pub async fn postgres_with(writer: WriterConfig) -> Option<Self> {
        let admin = pg_admin_url()?;
        let (url, name) = fresh_pg_database(&admin).await;
        Some(Self::open(url, tempfile::tempdir().unwrap(), Some((admin, name)), writer).await)
    }

    async fn open(url: String, dir: TempDir, pg_drop: Option<(String, String)>, writer: WriterConfig) -> Self {
        let clock = Arc::new(ManualClock::new(start()));
        let context = Arc::new(Estate::context());
        let store = voltvend_store::open(&options(&url, &context, writer), clock.clone()).await.unwrap();
        store.migrate().await.unwrap();
        Self { store, clock, url, dir, context, ids: AtomicU64::new(1), pg_drop }
    }

    /// Another store on the same database (a second process, as far as the database can tell).
    pub async fn reopen(&self) -> Arc<dyn Store> {
        voltvend_store::open(&options(&self.url, &self.context, WriterConfig::default()), self.clock.clone())
            .await
            .unwrap()
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

    pub fn op_id(&self) -> OperationId {
        OperationId::from_uuid(self.uuid())
    }

    pub async fn run(&self, command: Command) -> voltvend_ops::Outcome {
        self.store.run(self.op_id(), "test", command).await.unwrap()
    }

    /// group → property → building → unit; returns all four.
    pub async fn premises_tree(&self) -> Vec<Premises> {
        let g = Premises::new_root(PremisesId::from_uuid(self.uuid()), "Acme Group", "Asia/Shanghai").unwrap();
        let p = g.new_child(PremisesId::from_uuid(self.uuid()), PremisesLevel::Property, "Riverside").unwrap();
        let b = p.new_child(PremisesId::from_uuid(self.uuid()), PremisesLevel::Building, "Block A").unwrap();
        let u = b.new_child(PremisesId::from_uuid(self.uuid()), PremisesLevel::Unit, "A-101").unwrap();
        for x in [&g, &p, &b, &u] {
            self.run(Command::CreatePremises(x.clone())).await;
        }
        vec![g, p, b, u]
    }

    /// A cash drawer, a wallet with the given overdraft and an energy-revenue account, opened by a bare
    /// ledger set-up (books and an account opening, whose ledger accounts these are).
    pub async fn ledger_accounts(&self, overdraft_minor: i64) -> (LedgerAccountId, LedgerAccountId, LedgerAccountId) {
        let estate = self.estate_with_overdraft(overdraft_minor).await;
        let wallet = self.store.account(estate.account_a).await.unwrap().wallet;
        let drawer = self.store.shift(estate.shift_a).await.unwrap().drawer;
        let revenue = self.store.books(estate.books).await.unwrap().energy_revenue;
        (drawer, wallet, revenue)
    }

    /// The test estate, set up through the store; account A's wallet has the given overdraft.
    pub async fn estate_with_overdraft(&self, overdraft_minor: i64) -> Estate {
        let mut estate = Estate::new(u16::try_from(self.ids.fetch_add(1, Ordering::Relaxed) % 60_000 + 1).unwrap());
        for op in &mut estate.setup {
            if let Command::OpenAccount(a) = &mut op.command {
                a.overdraft_limit_minor = overdraft_minor;
                a.max_balance_minor = None;
            }
        }
        for op in estate.setup.clone() {
            let kind = op.command.kind();
            self.store.submit(op).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
        estate
    }

    pub async fn estate(&self) -> Estate {
        self.estate_with_overdraft(0).await
    }
}

/// Runs the same operations through the in-memory model, one at a time.
pub fn model_of(ops: &[Operation], context: &Context) -> (MemoryDb, Vec<Result<Applied, voltvend_ops::OpError>>) {
    let mut db = MemoryDb::new();
    let results = ops.iter().map(|op| db.run(op, None, context, start())).collect();
    (db, results)
}

/// Submits `steps` one at a time, then `together` all at once (the writer may commit them in one batch), after
/// the estate's `setup`: each step answers as the in-memory model answers it one after the other, and so does
/// the batch, whose refusal codes are returned with the model.
pub async fn agrees_with_the_model(
    h: &Harness,
    setup: &[Operation],
    steps: &[Operation],
    together: &[Operation],
) -> (MemoryDb, Vec<Option<&'static str>>) {
    let all: Vec<Operation> = setup.iter().chain(steps).chain(together).cloned().collect();
    let (model, expected) = model_of(&all, &h.context);
    let expected: Vec<_> = expected.into_iter().skip(setup.len()).collect();
    for (op, want) in steps.iter().zip(&expected) {
        let got = h.store.submit(op.clone()).await;
        assert_eq!(got.as_ref().map_err(|e| e.code()), want.as_ref().map_err(|e| e.code()), "{}", op.command.kind());
    }
    let got = futures_util::future::join_all(together.iter().map(|op| h.store.submit(op.clone()))).await;
    let codes: Vec<_> = got.iter().map(|r| r.as_ref().err().map(|e| e.code())).collect();
    let want: Vec<_> = expected.iter().skip(steps.len()).map(|r| r.as_ref().err().map(|e| e.code())).collect();
    assert_eq!(codes, want);
    (model, want)
}
