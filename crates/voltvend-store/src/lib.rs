//! Voltvend's storage: one [`Store`] trait in domain terms, implemented for SQLite (embedded, the default)
//! and PostgreSQL, selected by the database URL.
//!
//! Architecture invariant: this is the only crate that contains SQL. Both backends compile the same query
//! code (`shared.rs`, included into each backend module with its own `Db` type) and each has its own
//! migrations, so the conformance suite in `tests/it` proves they behave alike.
//!
//! Ledger writes go through one [`writer`] task per database that batches concurrent transfers into one
//! transaction and answers each caller only after that transaction's commit is durable (group commit).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use voltvend_domain::ledger::Balance;
use voltvend_domain::tariff::pricing::PricingState;
use voltvend_domain::{
    Account, AccountId, Clock, Currency, Customer, CustomerId, LedgerAccount, LedgerAccountId, LedgerAccountKind,
    Meter, MeterId, Operator, Owner, PostOutcome, Premises, PremisesId, Transfer, TransferId, TransferRequest,
};

mod error;
mod postgres;
mod sqlite;
pub mod writer;

pub use error::StoreError;
pub use writer::{WriterConfig, WriterStats};

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// `sqlite://path/to/file.sqlite` or `postgres://user@host:port/db`.
    pub url: String,
    pub max_connections: u32,
    /// How long to wait for a connection (also bounds the first connect to an unreachable server).
    pub connect_timeout_ms: u64,
    pub writer: WriterConfig,
}

impl OpenOptions {
    pub fn new(url: &str) -> Self {
        Self { url: url.to_string(), max_connections: 8, connect_timeout_ms: 5_000, writer: WriterConfig::default() }
    }
}

/// Row counts, for health pages and the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub premises: i64,
    pub customers: i64,
    pub accounts: i64,
    pub meters: i64,
    pub operators: i64,
    pub ledger_accounts: i64,
    pub transfers: i64,
}

/// The result of checking the ledger's invariants in the database.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LedgerReport {
    pub accounts: i64,
    pub transfers: i64,
    pub entries: i64,
    /// Each problem found, in words. Empty means every invariant holds.
    pub problems: Vec<String>,
}

impl LedgerReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One entry of a ledger account's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub transfer_id: TransferId,
    pub seq: i64,
    /// Signed: debit > 0, credit < 0.
    pub amount_minor: i64,
}

/// A tariff document as imported, at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffDocument {
    pub code: String,
    pub revision: i64,
    pub name: String,
    pub document: String,
}

/// A held claim that this process is the live server of the database (see [`Store::lock_instance`]).
/// Dropping it releases the claim too, but for PostgreSQL only once the server notices the closed
/// connection; [`InstanceLock::release`] releases it before returning.
#[derive(Debug)]
pub struct InstanceLock {
    inner: LockInner,
}

#[derive(Debug)]
enum LockInner {
    File(std::fs::File),
    Postgres(sqlx::PgConnection),
}

impl InstanceLock {
    pub async fn release(self) {
        match self.inner {
            LockInner::File(file) => drop(file),
            LockInner::Postgres(mut conn) => {
                use sqlx::Connection;
                if let Err(e) = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut conn).await {
                    tracing::warn!(error = %e, "could not release the instance lock; it ends with the connection");
                }
                let _ = conn.close().await;
            }
        }
    }
}

/// Storage in domain terms. Every method either succeeds or changes nothing.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    fn backend(&self) -> Backend;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Whether the schema exists and is current.
    async fn is_migrated(&self) -> Result<bool, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    async fn counts(&self) -> Result<Counts, StoreError>;

    async fn insert_premises(&self, premises: &Premises) -> Result<(), StoreError>;
    async fn premises(&self, id: PremisesId) -> Result<Premises, StoreError>;
    /// `root` and all its descendants, parents before children.
    async fn premises_subtree(&self, root: PremisesId) -> Result<Vec<Premises>, StoreError>;
    async fn premises_roots(&self) -> Result<Vec<Premises>, StoreError>;

    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError>;
    async fn customer(&self, id: CustomerId) -> Result<Customer, StoreError>;

    async fn insert_account(&self, account: &Account) -> Result<(), StoreError>;
    async fn account(&self, id: AccountId) -> Result<Account, StoreError>;
    /// Saves status and billing mode (the only mutable fields; changes go through the domain's state machine).
    async fn update_account(&self, account: &Account) -> Result<(), StoreError>;

    async fn insert_meter(&self, meter: &Meter) -> Result<(), StoreError>;
    async fn meter(&self, id: MeterId) -> Result<Meter, StoreError>;
    async fn update_meter(&self, meter: &Meter) -> Result<(), StoreError>;

    async fn insert_operator(&self, operator: &Operator) -> Result<(), StoreError>;
    async fn operator_by_username(&self, username: &str) -> Result<Option<Operator>, StoreError>;

    async fn insert_ledger_account(&self, account: &LedgerAccount) -> Result<(), StoreError>;
    async fn ledger_account(&self, id: LedgerAccountId) -> Result<(LedgerAccount, Balance), StoreError>;
    async fn find_ledger_account(
        &self,
        kind: LedgerAccountKind,
        owner: &Owner,
        premises_id: PremisesId,
        currency: Currency,
    ) -> Result<Option<LedgerAccount>, StoreError>;
    async fn statement(&self, id: LedgerAccountId, limit: u32) -> Result<Vec<StatementLine>, StoreError>;

    /// Stores a validated tariff document as the code's next revision; returns the revision.
    async fn insert_tariff_document(&self, code: &str, name: &str, document: &str) -> Result<i64, StoreError>;
    /// The latest revision of a tariff.
    async fn tariff_document(&self, code: &str) -> Result<Option<TariffDocument>, StoreError>;
    /// Every tariff's latest revision (without documents' text), by code.
    async fn tariff_documents(&self) -> Result<Vec<TariffDocument>, StoreError>;
    async fn pricing_state(&self, account: AccountId, tariff_code: &str) -> Result<Option<PricingState>, StoreError>;
    async fn save_pricing_state(
        &self,
        account: AccountId,
        tariff_code: &str,
        state: &PricingState,
    ) -> Result<(), StoreError>;

    /// Posts one transfer through the group-commit writer; returns after the commit is durable.
    async fn post_transfer(&self, request: TransferRequest) -> Result<PostOutcome, StoreError>;
    async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>, StoreError>;
    /// Checks every ledger invariant over the whole database.
    async fn check_ledger(&self) -> Result<LedgerReport, StoreError>;
    fn writer_stats(&self) -> Arc<WriterStats>;

    /// Claims the database for one live server. Fails with [`StoreError::Locked`] if another holds it.
    async fn lock_instance(&self) -> Result<InstanceLock, StoreError>;
    /// Writes a consistent copy of the database to `dir` while it is in use; returns the file written.
    async fn backup_to(&self, dir: &std::path::Path, stamp: &str) -> Result<PathBuf, StoreError>;
    async fn close(&self);
}

/// Opens the store the URL names and starts its ledger writer. Does not migrate.
pub async fn open(options: &OpenOptions, clock: Arc<dyn Clock>) -> Result<Arc<dyn Store>, StoreError> {
    match backend_of(&options.url)? {
        Backend::Sqlite => Ok(Arc::new(sqlite::SqlStore::open(options, clock).await?)),
        Backend::Postgres => Ok(Arc::new(postgres::SqlStore::open(options, clock).await?)),
    }
}

/// The backend a URL selects.
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::Config(format!(
            "database URL must start with sqlite:// or postgres:// (got {:?})",
            redact_url(url)
        )))
    }
}

/// A URL with any password replaced, safe to print.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The file a `sqlite:` URL points at.
pub fn sqlite_path(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Config(format!("not a sqlite URL: {url:?}")))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Config("a sqlite URL must name a file (in-memory databases cannot be durable)".into()));
    }
    Ok(PathBuf::from(path))
}

pub mod backup;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(backend_of("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgresql://h/db").unwrap(), Backend::Postgres);
        assert!(backend_of("mysql://h/db").is_err());
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(sqlite_path("sqlite://data/v.sqlite?mode=rwc").unwrap(), PathBuf::from("data/v.sqlite"));
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}
