//! Voltvend's storage: one [`Store`] trait in domain terms, implemented for SQLite (embedded, the default)
//! and PostgreSQL, selected by the database URL.
//!
//! Architecture invariant: this is the only crate that contains SQL. Both backends compile the same query
//! code (`shared/`, included into each backend module with its own `Db` type) and each has its own
//! migrations, so the conformance suite in `tests/it` proves they behave alike.
//!
//! Every change goes through one [`writer`] task per database, as a business operation of `voltvend-ops`:
//! the writer batches concurrent operations into one transaction (group commit) and answers each caller only
//! after that transaction's commit is durable.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use voltvend_domain::ledger::Balance;
use voltvend_domain::tariff::pricing::PricingState;
use voltvend_domain::{
    AccountId, ApiTokenId, Books, BooksId, Clock, Currency, Customer, CustomerId, LedgerAccount, LedgerAccountId,
    LedgerAccountKind, MeterId, OperationId, Operator, OperatorId, Owner, PostOutcome, Premises, PremisesId, Role,
    Shift, ShiftId, Transfer, TransferId, TransferRequest, VendingPoint, VendingPointId,
};
use voltvend_ops::{
    AccountRecord, Actor, ApiTokenRecord, Applied, AuditHead, AuditRecord, Command, Context, MeterRecord,
    MeterTokenRecord, Operation, OpgState, OutboxRow, Outcome, ReadingRow, RefusedPayment, Renderer, SaleRecord,
    SessionRecord, StsState, VendingKeyRecord,
};

mod cache;
mod error;
mod postgres;
mod sqlite;
pub mod writer;

pub use error::StoreError;
pub use writer::{Submitted, WriterConfig, WriterStats, WriterSteps};

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
    /// Create the SQLite database file if it does not exist. Only `migrate`, `serve` and `demo` do: every
    /// other command refuses a database that is not there, so that a typo in a URL fails loudly.
    pub create_if_missing: bool,
    /// Read-only: no writer task, and (for SQLite) nothing written to the file, not even its journal.
    pub read_only: bool,
    /// Tariffs cache and vending keys for the operations the writer applies.
    pub context: Arc<Context>,
}

impl OpenOptions {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            max_connections: 8,
            connect_timeout_ms: 5_000,
            writer: WriterConfig::default(),
            create_if_missing: false,
            read_only: false,
            context: Arc::new(Context::default()),
        }
    }

    /// The same, allowed to create the database.
    pub fn creating(mut self) -> Self {
        self.create_if_missing = true;
        self
    }
}

/// A page of a list: at most `limit` rows after the cursor `after` (the last row's key of the previous page),
/// within the premises subtree `scope` (`None`: everywhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub scope: Option<PremisesId>,
    /// The last key of the previous page: a UUID for most lists, a sequence number for the audit trail.
    pub after: Option<String>,
    pub limit: u32,
}

impl ListQuery {
    /// Rows a page may hold.
    pub const LIMIT_MAX: u32 = 500;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PremisesFilter {
    pub parent: Option<PremisesId>,
    pub level: Option<String>,
    /// Part of the name.
    pub q: Option<String>,
}

/// Finds customers by name, phone, unit, meter serial or meter number (an STS meter number is the meter's
/// address), matching any part, case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    pub q: Option<String>,
    pub premises: Option<PremisesId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub customer: Option<CustomerId>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterFilter {
    pub account: Option<AccountId>,
    pub state: Option<String>,
    pub protocol: Option<String>,
    pub utility: Option<String>,
    /// Part of the serial or the address.
    pub q: Option<String>,
    /// Within this premises subtree (beyond the caller's scope).
    pub premises: Option<PremisesId>,
    /// Only local meters sold credit or with return data (累计结余).
    pub holds_credit: bool,
    /// Only meters whose relay (or valve) Voltvend wants `open` (tripped) or `closed`.
    pub relay: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaleFilter {
    pub account: Option<AccountId>,
    pub meter: Option<MeterId>,
    pub vending_point: Option<VendingPointId>,
    pub shift: Option<ShiftId>,
    pub operator: Option<OperatorId>,
    /// From (inclusive) and to (exclusive), in microseconds since the epoch.
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Only sales reversed or re-allocated since (`true`), or only those standing (`false`).
    pub reversed: Option<bool>,
    /// Only sales to accounts in this premises subtree.
    pub premises: Option<PremisesId>,
}

/// Which STS meters a key change campaign selects: those on this base date (`"93"`, `"14"`, `"35"`), of this
/// supply group and key revision (each if given), with no key change pending, within `scope`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignSelection {
    pub scope: Option<PremisesId>,
    pub base: Option<String>,
    pub sgc: Option<u32>,
    pub krn: Option<u8>,
}

/// Which accounts a balance report lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceReport {
    /// Accounts that owe arrears (closed ones too: their debt stays).
    Arrears,
    /// Open accounts whose wallet balance is at most this (minor units): low balance, or zero and below.
    AtMost(i64),
}

/// One account in a balance report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceLine {
    pub account_id: AccountId,
    pub customer: String,
    pub premises_id: PremisesId,
    pub premises: String,
    pub status: String,
    pub currency: String,
    pub balance_minor: i64,
    pub arrears_minor: i64,
}

/// How a sales summary groups sales.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SalesGrouping {
    Operator,
    VendingPoint,
    /// The payment method (the channel).
    Method,
    /// The tariff of the meter sold to.
    Tariff,
    /// 15-minute buckets of time (`at_us / 900 000 000`), for the caller to fold into local days or months.
    Quarter,
    /// 集团财务: the property the account sold to belongs to (the second node of its premises' path; the group
    /// itself for an account kept at the group); the key is its id.
    Property,
}

/// 集团财务: one property's ledger accounts of one kind and currency, summed (see [`Store::books_summary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BooksLine {
    /// The property the accounts belong to: the second node of their premises' path (the group itself for
    /// accounts kept at the group).
    pub property: PremisesId,
    pub kind: String,
    pub currency: String,
    pub accounts: i64,
    pub debits_minor: i64,
    pub credits_minor: i64,
}

/// How a consumption report groups what meters used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumptionGrouping {
    Meter,
    /// The premises each meter is installed at (a unit, a common area).
    Premises,
    /// The direct children of the report's premises (a property's buildings, a building's floors); meters
    /// installed at the premises itself make a group of their own.
    Child,
    /// 分类: the meters' category of use (the key is the category's name; empty for meters not categorised).
    Category,
    /// 分项: the category and sub-item (the key is `category/sub-item`).
    SubItem,
    /// 分时: the TOU period (the key is its name, `peak`, `flat`…): each reading's consumption split among the
    /// periods in proportion to its TOU registers' advances since the meter's last good reading (exactly, largest
    /// remainder), so that the periods add up to what was billed. A reading with no TOU registers, or whose
    /// registers do not advance as it was billed (a rollover, a reset, a rebase), makes the group with an empty
    /// key.
    TouPeriod,
}

/// A consumption report's group: what its meters of one utility used in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumptionGroup {
    /// A meter's or premises' id (empty: meters installed at the report's premises itself).
    pub key: String,
    /// The meter's serial or the premises' name.
    pub label: String,
    pub utility: String,
    pub meters: i64,
    pub readings: i64,
    /// Milli-units (Wh, litres), as billed.
    pub consumption_milli: i64,
}

/// One group of a sales summary, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesGroup {
    /// An operator's or vending point's id, a method, a tariff code, or a 15-minute bucket's number.
    pub key: String,
    /// A username, a vending point's name… (the key itself where there is nothing better).
    pub label: String,
    pub currency: String,
    pub sales: i64,
    pub paid_minor: i64,
    pub arrears_minor: i64,
    pub fees_minor: i64,
    pub tax_minor: i64,
    pub energy_minor: i64,
    pub credit_minor: i64,
    /// Overdue rent and fees paid from the purchases first.
    pub property_fees_minor: i64,
}

/// Rent and fees paid at a counter through one shift, by payment method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeePaymentTotal {
    pub method: String,
    pub payments: i64,
    pub paid_minor: i64,
}

/// The most meters [`Store::peak_demands`] lists.
pub const PEAK_DEMANDS_MAX: i64 = 100;

/// A meter's highest recorded maximum demand in a span, and when it was drawn (the earliest, if it was reached
/// twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeakDemand {
    pub meter_id: MeterId,
    pub serial: String,
    pub demand_w: i64,
    pub at_us: i64,
}

/// 本期费用: what an account's consumption transfers charged it in a span, by what they were for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumptionCharged {
    /// Priced readings, tax included.
    pub energy_minor: i64,
    /// Of it, the tax.
    pub tax_minor: i64,
    /// Common-area shares (公摊).
    pub shares_minor: i64,
}

/// What the ledger booked as sales in one currency: vend transfers and the money they took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerTotal {
    pub currency: String,
    pub transfers: i64,
    pub amount_minor: i64,
}

/// Which payment intents a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntentFilter {
    pub channel: Option<voltvend_domain::PaymentChannelId>,
    pub account: Option<AccountId>,
    pub status: Option<voltvend_ops::IntentStatus>,
    /// Those expiring first first (no paging), instead of the newest first.
    pub expiring_first: bool,
    /// Paid in `[from_us, to_us)` (by the provider's time of payment).
    pub paid_between_us: Option<(i64, i64)>,
    /// The intent whose provider order has this reference (M-Pesa's `CheckoutRequestID`).
    pub provider_ref: Option<String>,
}

/// Which refused payments a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusedFilter {
    pub account: Option<AccountId>,
    pub refunded: Option<bool>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Taken through this shift (an online payment channel's standing shift: the channel's).
    pub shift: Option<ShiftId>,
    /// Refunded in `[from_us, to_us)`.
    pub refunded_between_us: Option<(i64, i64)>,
    /// With this reference (an online payment's: the provider's transaction number).
    pub reference: Option<String>,
}

/// Which corrections a listing shows. `status` is judged at `now_us` (an undecided request past its expiry has
/// expired).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalFilter {
    pub status: Option<voltvend_ops::ApprovalStatus>,
    pub kind: Option<voltvend_ops::CorrectionKind>,
    pub requested_by: Option<OperatorId>,
    pub now_us: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShiftFilter {
    pub operator: Option<OperatorId>,
    pub vending_point: Option<VendingPointId>,
    pub status: Option<String>,
}

/// Which stored readings a listing shows. `premises` is a subtree (a building, a floor), within the caller's
/// scope; times are microseconds since the epoch, `from_us` included, `to_us` not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadingFilter {
    pub meter: Option<MeterId>,
    pub premises: Option<PremisesId>,
    pub status: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
}

/// A stored reading in a listing: its cursor (`AT_US.SEQ`, time order) and its meter's utility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedReading {
    pub cursor: String,
    pub utility: String,
    pub row: ReadingRow,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub operator: Option<OperatorId>,
    /// The record the entries are about (`customer:<id>`, `account:<id>`…): its history.
    pub subject: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
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
    pub sales: i64,
    pub audit_records: i64,
}

/// How much `check` looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckScope {
    /// Everything: every entry, every receipt, the whole audit chain.
    Full,
    /// What a start-up can afford: the sums of cached balances, receipt counters against their last
    /// receipts, and the last `audit_tail` links of the audit chain.
    Bounded { audit_tail: i64 },
}

/// What checking the database's invariants found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckReport {
    pub accounts: i64,
    pub transfers: i64,
    pub entries: i64,
    pub sales: i64,
    pub audit_records: i64,
    /// Each problem found, one line each. Empty means every invariant holds.
    pub problems: Vec<String>,
    /// What needs an operator's attention without making the database wrong: a property's books out of balance
    /// by transfers posted between properties before they were balanced through inter-property accounts (ADR
    /// 0007), or by accounts kept in the group's books at a property that has since opened its own. Backups and
    /// restores do not fail for these.
    pub warnings: Vec<String>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// 集团财务: a set of books whose ledger accounts do not balance (see [`Store::property_imbalances`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyImbalance {
    /// The property (or the group, for its own books and the properties that keep none).
    pub property: PremisesId,
    pub currency: String,
    pub debits_minor: i64,
    pub credits_minor: i64,
    /// The books kept there, whose inter-property account can record the difference as owed.
    pub books: Option<voltvend_domain::BooksId>,
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

/// The durability settings a live connection runs with, as the database reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    /// `journal_mode` (SQLite), or `n/a`.
    pub journal_mode: String,
    /// `synchronous` (SQLite: 2 is FULL) or `synchronous_commit` (PostgreSQL).
    pub synchronous: String,
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

/// Storage in domain terms. Every change is an [`Operation`] submitted to the writer; everything else reads.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    fn backend(&self) -> Backend;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Whether the schema exists and is current.
    async fn is_migrated(&self) -> Result<bool, StoreError>;
    /// The migrations `migrate` would apply, as `VERSION description`, in order.
    async fn pending_migrations(&self) -> Result<Vec<String>, StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    async fn counts(&self) -> Result<Counts, StoreError>;
    /// The durability settings of a live pooled connection.
    async fn durability(&self) -> Result<Durability, StoreError>;

    /// Submits an operation to the writer; answers after its batch has committed durably (or with the
    /// reason it was refused). `render` produces the response saved for the operation's retries.
    async fn submit_with(&self, op: Operation, render: Option<Arc<Renderer>>) -> Submitted;
    /// Stops the writer: everything submitted before is committed or refused, later submissions are refused.
    async fn shutdown(&self);
    fn writer_stats(&self) -> Arc<WriterStats>;

    async fn premises(&self, id: PremisesId) -> Result<Premises, StoreError>;
    /// `root` and all its descendants, parents before children.
    async fn premises_subtree(&self, root: PremisesId) -> Result<Vec<Premises>, StoreError>;
    async fn premises_roots(&self) -> Result<Vec<Premises>, StoreError>;
    async fn customer(&self, id: CustomerId) -> Result<Customer, StoreError>;
    async fn account(&self, id: AccountId) -> Result<AccountRecord, StoreError>;
    async fn meter(&self, id: MeterId) -> Result<MeterRecord, StoreError>;
    async fn sts_state(&self, meter: MeterId) -> Result<Option<StsState>, StoreError>;
    async fn operator_by_username(&self, username: &str) -> Result<Option<Operator>, StoreError>;
    async fn books(&self, id: BooksId) -> Result<Books, StoreError>;
    async fn vending_point(&self, id: VendingPointId) -> Result<VendingPoint, StoreError>;
    async fn shift(&self, id: ShiftId) -> Result<Shift, StoreError>;

    async fn ledger_account(&self, id: LedgerAccountId) -> Result<(LedgerAccount, Balance), StoreError>;
    async fn find_ledger_account(
        &self,
        kind: LedgerAccountKind,
        owner: &Owner,
        premises_id: PremisesId,
        currency: Currency,
    ) -> Result<Option<LedgerAccount>, StoreError>;
    async fn statement(&self, id: LedgerAccountId, limit: u32) -> Result<Vec<StatementLine>, StoreError>;
    async fn transfer(&self, id: TransferId) -> Result<Option<Transfer>, StoreError>;

    async fn sale(&self, operation: OperationId) -> Result<Option<SaleRecord>, StoreError>;
    /// Sales of a vending point by receipt number, from `after_receipt` (exclusive), at most `limit`.
    async fn sales_of(
        &self,
        point: VendingPointId,
        after_receipt: i64,
        limit: u32,
    ) -> Result<Vec<SaleRecord>, StoreError>;
    /// Notification outbox rows after sequence number `after`, at most `limit`, with their numbers.
    async fn outbox(&self, after: i64, limit: u32) -> Result<Vec<(i64, OutboxRow)>, StoreError>;
    /// The newest notifications and alarms (the outbox, newest first, before sequence number `before` if given)
    /// about meters within `scope`; the system's own alarms (about no meter) only for a scope that is a root of
    /// the premises tree.
    async fn recent_alarms(
        &self,
        scope: PremisesId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, OutboxRow)>, StoreError>;
    /// For benchmarks: inserts `rows` rows shaped like stored readings into a scratch table, `per_commit` to a
    /// transaction, then drops it — the raw-insert baseline reading ingestion is measured beside.
    async fn insert_baseline(&self, rows: usize, per_commit: usize) -> Result<(), StoreError>;
    /// For benchmarks only: `count` STS keypad meters in stock at `premises` (ids `first`, `first + 1`…, their
    /// DRNs the same numbers), each with the key record `params`, inserted raw in commits of `per_commit`.
    async fn seed_sts_meters(
        &self,
        premises: PremisesId,
        params: &voltvend_sts::keys::KeyParams,
        first: u128,
        count: usize,
        per_commit: usize,
    ) -> Result<(), StoreError>;
    /// A meter's stored readings, newest first, at most `limit`.
    async fn readings(&self, meter: MeterId, limit: u32) -> Result<Vec<ReadingRow>, StoreError>;
    /// Stored readings in time order (interval data for charts and analysis), a page at a time.
    async fn list_readings(&self, q: &ListQuery, f: &ReadingFilter) -> Result<Vec<ListedReading>, StoreError>;

    /// Applies an operation to the current state without writing anything (a quote is the sale itself, thrown
    /// away). Reads run in one read transaction; the writer is not involved.
    async fn dry_run(&self, op: Operation) -> Result<Result<Applied, voltvend_ops::OpError>, StoreError>;
    /// What an operation id was used for, if it was.
    async fn idempotency_record(&self, id: OperationId) -> Result<Option<voltvend_ops::IdempotencyRecord>, StoreError>;
    /// The books a premises keeps in a currency, if any.
    async fn books_of(&self, premises: PremisesId, currency: Currency) -> Result<Option<Books>, StoreError>;
    async fn list_premises(&self, q: &ListQuery, f: &PremisesFilter) -> Result<Vec<Premises>, StoreError>;
    async fn list_customers(&self, q: &ListQuery, f: &CustomerFilter) -> Result<Vec<Customer>, StoreError>;
    async fn list_accounts(&self, q: &ListQuery, f: &AccountFilter) -> Result<Vec<AccountRecord>, StoreError>;
    async fn list_meters(&self, q: &ListQuery, f: &MeterFilter) -> Result<Vec<MeterRecord>, StoreError>;
    /// Sales, newest first (`after` is the operation id of the last one on the previous page).
    async fn list_sales(&self, q: &ListQuery, f: &SaleFilter) -> Result<Vec<SaleRecord>, StoreError>;
    /// Sales within `scope` and `f` in the ledger's order — by time, then operation id — after `after` (the
    /// time and id of the last one on the previous page): each page an index range however long the period.
    async fn sales_ledger_page(
        &self,
        scope: Option<PremisesId>,
        f: &SaleFilter,
        after: Option<(jiff::Timestamp, OperationId)>,
        limit: u32,
    ) -> Result<Vec<SaleRecord>, StoreError>;
    async fn list_refused_payments(&self, q: &ListQuery, f: &RefusedFilter) -> Result<Vec<RefusedPayment>, StoreError>;
    async fn list_shifts(&self, q: &ListQuery, f: &ShiftFilter) -> Result<Vec<Shift>, StoreError>;
    async fn list_vending_points(&self, q: &ListQuery) -> Result<Vec<VendingPoint>, StoreError>;
    /// Operators whose scope lies within `q.scope`.
    async fn list_operators(&self, q: &ListQuery) -> Result<Vec<Operator>, StoreError>;
    async fn operator(&self, id: OperatorId) -> Result<Option<Operator>, StoreError>;
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError>;
    async fn role(&self, name: &str) -> Result<Option<Role>, StoreError>;
    async fn session(&self, id_hash: [u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    async fn api_token(&self, id: ApiTokenId) -> Result<Option<ApiTokenRecord>, StoreError>;
    /// API tokens of operators within `q.scope`, or of one operator.
    async fn list_api_tokens(
        &self,
        q: &ListQuery,
        operator: Option<OperatorId>,
    ) -> Result<Vec<ApiTokenRecord>, StoreError>;
    async fn refused_payment(&self, id: OperationId) -> Result<Option<RefusedPayment>, StoreError>;
    /// Payment channels within `q.scope` (by their property), newest first.
    async fn list_payment_channels(&self, q: &ListQuery) -> Result<Vec<voltvend_ops::PaymentChannel>, StoreError>;
    async fn payment_channel(
        &self,
        id: voltvend_domain::PaymentChannelId,
    ) -> Result<Option<voltvend_ops::PaymentChannel>, StoreError>;
    /// Payment intents of accounts within `q.scope`, newest first (`after`: the id of the last one shown).
    async fn list_payment_intents(
        &self,
        q: &ListQuery,
        f: &IntentFilter,
    ) -> Result<Vec<voltvend_ops::PaymentIntent>, StoreError>;
    /// 集团财务: every ledger account within the scope summed per property, kind and currency, by the property
    /// its premises belong to; and the same ledger summed whole per currency, `(currency, debits, credits)`,
    /// read in one snapshot — the group's books, which must be the sum of its properties'.
    async fn books_summary(
        &self,
        scope: Option<PremisesId>,
    ) -> Result<(Vec<BooksLine>, Vec<(String, i64, i64)>), StoreError>;
    /// Apportionment rules (公摊) whose site is within the scope, in descending order of id (the cursor is the
    /// last id of the previous page).
    async fn list_apportionment_rules(&self, q: &ListQuery)
    -> Result<Vec<voltvend_ops::ApportionmentRule>, StoreError>;
    async fn apportionment_rule(
        &self,
        id: voltvend_domain::ApportionmentRuleId,
    ) -> Result<Option<voltvend_ops::ApportionmentRule>, StoreError>;
    /// The months posted under a rule, the latest first, each with its shares.
    async fn apportionment_runs(
        &self,
        rule: voltvend_domain::ApportionmentRuleId,
    ) -> Result<Vec<voltvend_ops::ApportionmentRun>, StoreError>;
    /// Fee schedules (房租 / 物业费) whose site is within the scope, newest id first (the cursor is the last id).
    async fn list_fee_schedules(&self, q: &ListQuery) -> Result<Vec<voltvend_ops::FeeSchedule>, StoreError>;
    async fn fee_schedule(
        &self,
        id: voltvend_domain::FeeScheduleId,
    ) -> Result<Option<voltvend_ops::FeeSchedule>, StoreError>;
    /// The months issued under a schedule, the latest first.
    async fn fee_runs(&self, schedule: voltvend_domain::FeeScheduleId)
    -> Result<Vec<voltvend_ops::FeeRun>, StoreError>;
    /// The charges of a month of a schedule, by unit name.
    async fn fee_charges_of_period(
        &self,
        schedule: voltvend_domain::FeeScheduleId,
        period: i32,
    ) -> Result<Vec<voltvend_ops::FeeCharge>, StoreError>;
    /// 后付费账单: an account's latest bill at a unit before a month (its previous bill), of whichever postpaid
    /// cycle billed it (a tenant's own cycle may follow the building's).
    async fn previous_fee_charge(
        &self,
        account: AccountId,
        premises: PremisesId,
        period: i32,
    ) -> Result<Option<voltvend_ops::FeeCharge>, StoreError>;
    /// What the consumption transfers between two bills charged the customer ledger accounts `accounts` (an
    /// account's wallet and arrears): priced readings with their tax, and common-area shares. Each end is a
    /// bill's transfer, when it made one — the span is then exactly the ledger's order between them, whatever
    /// shared their time — or else its time (`(from_us, to_us]`).
    async fn consumption_charged(
        &self,
        accounts: [LedgerAccountId; 2],
        from: (i64, Option<voltvend_domain::TransferId>),
        to: (i64, Option<voltvend_domain::TransferId>),
    ) -> Result<ConsumptionCharged, StoreError>;
    /// An account's charges, oldest due first (at most [`ListQuery::LIMIT_MAX`], the unpaid ones first).
    async fn account_fee_charges(&self, account: AccountId) -> Result<Vec<voltvend_ops::FeeCharge>, StoreError>;
    /// What an account owes in rent and fees in all, and of it what fell due before `today` (overdue).
    async fn account_fees_owed(&self, account: AccountId, today: jiff::civil::Date) -> Result<(i64, i64), StoreError>;
    /// A fee payment with its lines.
    async fn fee_payment(&self, operation: OperationId) -> Result<Option<voltvend_ops::FeePayment>, StoreError>;
    /// An account's fee payments, newest first (at most 50), with their lines.
    async fn account_fee_payments(&self, account: AccountId) -> Result<Vec<voltvend_ops::FeePayment>, StoreError>;
    /// Rent and fees taken through a shift, per payment method.
    async fn fee_payment_totals(&self, shift: ShiftId) -> Result<Vec<FeePaymentTotal>, StoreError>;
    /// A unit's floor area in dm², if set.
    async fn floor_area(&self, premises: PremisesId) -> Result<Option<i64>, StoreError>;
    /// The overdue-fee policies set on premises within the scope.
    async fn fee_policies(&self, scope: Option<PremisesId>) -> Result<Vec<voltvend_ops::FeePolicy>, StoreError>;
    /// The latest import of a channel's statement of `day` (the provider's day), with its lines.
    async fn payment_statement(
        &self,
        channel: voltvend_domain::PaymentChannelId,
        day: jiff::civil::Date,
    ) -> Result<Option<voltvend_ops::PaymentStatement>, StoreError>;
    async fn payment_intent(
        &self,
        id: voltvend_domain::PaymentIntentId,
    ) -> Result<Option<voltvend_ops::PaymentIntent>, StoreError>;
    /// Sales grouped (within `scope`, by `f`) with their totals.
    async fn sales_summary(
        &self,
        scope: Option<PremisesId>,
        f: &SaleFilter,
        grouping: SalesGrouping,
    ) -> Result<Vec<SalesGroup>, StoreError>;
    /// What the meters within `scope` and the `premises` subtree used, as billed, by readings taken in
    /// `[from_us, to_us)`, grouped, per utility.
    async fn consumption_summary(
        &self,
        scope: Option<PremisesId>,
        premises: Option<PremisesId>,
        from_us: i64,
        to_us: i64,
        grouping: ConsumptionGrouping,
    ) -> Result<Vec<ConsumptionGroup>, StoreError>;
    /// 负荷曲线: what the meters of `utility` within `scope` and the `premises` subtree (or the one `meter`) used
    /// by readings taken in `[from_us, to_us)`, per 15-minute bucket of the readings' times (`at_us / 900 000
    /// 000`), as `(bucket, consumption in milli-units, readings)`; a rule's parent meter is left out, as in the
    /// consumption summary.
    async fn consumption_curve(
        &self,
        scope: Option<PremisesId>,
        premises: Option<PremisesId>,
        meter: Option<MeterId>,
        utility: &str,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<(i64, i64, i64)>, StoreError>;
    /// 最大需量: the highest maximum demand each meter's register recorded in `[from_us, to_us)` (by the time the
    /// register gives), for meters within `scope` and the `premises` subtree (or the one `meter`), the highest
    /// first, at most [`PEAK_DEMANDS_MAX`]. A rule's parent meter is included: its register is its building's peak.
    async fn peak_demands(
        &self,
        scope: Option<PremisesId>,
        premises: Option<PremisesId>,
        meter: Option<MeterId>,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<PeakDemand>, StoreError>;
    /// 集团财务: every property's (or the group's) books that do not balance, as `voltvend check` warns of them.
    async fn property_imbalances(&self) -> Result<Vec<PropertyImbalance>, StoreError>;
    /// The ledger's vend transfers posted in `[from_us, to_us)`, per currency (the sales ledger's other side).
    async fn vend_totals(&self, from_us: i64, to_us: i64) -> Result<Vec<LedgerTotal>, StoreError>;
    /// 集团财务: the same per property and currency — each vend transfer under the property of the customer's
    /// accounts it credits (the account sold to), as the sales are summed by property.
    async fn vend_totals_by_property(
        &self,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<(PremisesId, LedgerTotal)>, StoreError>;
    /// Accounts for a balance report within `q.scope` and the `premises` subtree, by id after `q.after`.
    async fn balance_report(
        &self,
        q: &ListQuery,
        premises: Option<PremisesId>,
        report: BalanceReport,
    ) -> Result<Vec<BalanceLine>, StoreError>;
    /// STS meters a campaign selects, by id after `after`, at most `limit`.
    async fn campaign_candidates(
        &self,
        selection: &CampaignSelection,
        after: Option<MeterId>,
        limit: u32,
    ) -> Result<Vec<MeterId>, StoreError>;
    async fn list_campaigns(&self) -> Result<Vec<voltvend_ops::KeyCampaign>, StoreError>;
    async fn campaign(&self, id: voltvend_domain::CampaignId) -> Result<Option<voltvend_ops::KeyCampaign>, StoreError>;
    /// Meters of the campaign still waiting for their key change that have had no sale since `since_us`.
    async fn campaign_dormant(&self, id: voltvend_domain::CampaignId, since_us: i64) -> Result<i64, StoreError>;
    /// Corrections, newest request first (`after` is the id of the last one on the previous page).
    async fn list_approvals(
        &self,
        q: &ListQuery,
        f: &ApprovalFilter,
    ) -> Result<Vec<voltvend_ops::ApprovalRecord>, StoreError>;
    async fn approval(
        &self,
        id: voltvend_domain::ApprovalId,
    ) -> Result<Option<voltvend_ops::ApprovalRecord>, StoreError>;
    async fn open_shift_of(&self, operator: OperatorId) -> Result<Option<Shift>, StoreError>;
    async fn opg_state(&self, meter: MeterId) -> Result<Option<OpgState>, StoreError>;
    /// OpenPAYGO devices by meter id after `after`, at most `limit` (for re-sealing their secrets).
    async fn opg_states_after(&self, after: Option<MeterId>, limit: u32) -> Result<Vec<OpgState>, StoreError>;
    async fn vending_keys(&self) -> Result<Vec<VendingKeyRecord>, StoreError>;
    /// Every card key set's sealed root key, by number.
    async fn card_keys(&self) -> Result<Vec<voltvend_ops::CardKeyRecord>, StoreError>;
    /// An IC-card meter's user card, if one was ever issued to it.
    async fn meter_card(&self, meter: MeterId) -> Result<Option<voltvend_ops::MeterCard>, StoreError>;
    /// The meter whose card has this serial now, or had it before a reissue (a returned card is no one's).
    async fn meter_card_by_serial(&self, serial: &str) -> Result<Option<voltvend_ops::MeterCard>, StoreError>;
    /// How the head end reaches a meter and what it last reported, if anything was ever recorded.
    async fn meter_control(&self, meter: MeterId) -> Result<Option<voltvend_ops::MeterControl>, StoreError>;
    /// Meters with a channel, by id after `after`, at most `limit`: what the head end polls.
    async fn channel_meters(
        &self,
        after: Option<MeterId>,
        limit: u32,
    ) -> Result<Vec<(MeterRecord, voltvend_ops::MeterControl)>, StoreError>;
    /// Pending commands whose next attempt is due at `now`, the most overdue first, at most `limit`.
    async fn due_commands(
        &self,
        now: jiff::Timestamp,
        limit: u32,
    ) -> Result<Vec<voltvend_ops::MeterCommand>, StoreError>;
    async fn meter_command(
        &self,
        id: voltvend_domain::CommandId,
    ) -> Result<Option<voltvend_ops::MeterCommand>, StoreError>;
    /// A meter's commands, newest first, before the cursor (the `created_at` in microseconds and the id of the
    /// last one of the previous page).
    async fn meter_commands_of(
        &self,
        meter: MeterId,
        before: Option<(i64, uuid::Uuid)>,
        limit: u32,
    ) -> Result<Vec<voltvend_ops::MeterCommand>, StoreError>;
    /// Management tokens issued to a meter, newest first, each with its sequence number (the cursor: pass the
    /// last one as `before` for the next page).
    async fn meter_tokens(
        &self,
        meter: MeterId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<(i64, MeterTokenRecord)>, StoreError>;
    /// Audit records newest first; with `q.scope`, only those made by operators within it.
    async fn list_audit(&self, q: &ListQuery, f: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;

    /// The latest revision of a tariff.
    async fn tariff_document(&self, code: &str) -> Result<Option<TariffDocument>, StoreError>;
    /// Every tariff's latest revision (without documents' text), by code.
    async fn tariff_documents(&self) -> Result<Vec<TariffDocument>, StoreError>;
    async fn pricing_state(&self, account: AccountId, tariff_code: &str) -> Result<Option<PricingState>, StoreError>;

    /// Audit records after `after_seq`, in order, at most `limit`.
    async fn audit_records(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
    /// The head of the audit chain as stored beside it.
    async fn audit_head(&self) -> Result<AuditHead, StoreError>;
    /// Verifies the whole audit chain and its stored head; with `expect` (a head recorded earlier, outside the
    /// database), also that the chain still holds that record unchanged. Returns the problems and the head reached.
    async fn verify_audit(&self, expect: Option<AuditHead>) -> Result<(Vec<String>, AuditHead), StoreError>;
    /// Checks the ledger (sums to zero, cached balances equal their entries, gapless sequence), the receipt
    /// numbers (gapless per vending point) and the audit chain.
    async fn check(&self, scope: CheckScope) -> Result<CheckReport, StoreError>;

    /// What the database is for (`bench`, `demo`), if it says.
    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Records what the database is for. Only on a database this process holds the instance lock of.
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Claims the database for one live server. Fails with [`StoreError::Locked`] if another holds it.
    async fn lock_instance(&self) -> Result<InstanceLock, StoreError>;
    /// Writes a consistent copy of the database to `dir` while it is in use; returns the file written.
    async fn backup_to(&self, dir: &std::path::Path, stamp: &str) -> Result<PathBuf, StoreError>;
    async fn close(&self);

    /// Submits an operation without a saved response; its refusal is an error.
    async fn submit(&self, op: Operation) -> Result<Applied, StoreError> {
        self.submit_with(op, None).await.result
    }

    /// Posts one bare transfer as an operation whose id is the transfer's; returns after the commit.
    async fn post_transfer(&self, request: TransferRequest) -> Result<PostOutcome, StoreError> {
        let id = OperationId::from_uuid(request.id.as_uuid());
        let transfer_id = request.id;
        let op = Operation::new(id, Actor::system("ledger"), Command::PostTransfer(request));
        match self.submit(op).await? {
            Applied::Committed { outcome: Outcome::Transfer(t), .. } => Ok(PostOutcome::Committed(t)),
            Applied::Committed { outcome, .. } => Err(StoreError::Corrupt(format!("a transfer answered {outcome:?}"))),
            Applied::Replayed { .. } => match self.transfer(transfer_id).await? {
                Some(t) => Ok(PostOutcome::Replayed(t)),
                None => Err(StoreError::Corrupt(format!("operation {id} was applied but its transfer is missing"))),
            },
        }
    }

    /// Runs a system operation with a fresh id from the caller.
    async fn run(&self, id: OperationId, source: &str, command: Command) -> Result<Outcome, StoreError> {
        match self.submit(Operation::new(id, Actor::system(source), command)).await? {
            Applied::Committed { outcome, .. } => Ok(outcome),
            Applied::Replayed { kind, .. } => {
                Err(StoreError::Config(format!("operation {id} ({kind}) was already applied")))
            }
        }
    }
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

/// Query parameters of a database URL whose values are secrets (libpq's `password` and `sslpassword`, and
/// anything named like a key or token).
fn secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "pass", "pwd", "secret", "token", "key"].iter().any(|s| name.contains(s))
}

/// A URL with every password replaced, safe to print: the one in `user:password@` and the values of
/// `?password=` (and similar) parameters. The authority ends at the first `/` after the scheme, as URL
/// parsers read it, so a password holding `@`, `?` or `#` is still hidden whole.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return redact_query(url);
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***{host}"),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    format!("{scheme}{authority}{}", redact_query(path))
}

/// Hides the values of secret query parameters in `text` (a path and query, or a whole string).
fn redact_query(text: &str) -> String {
    let Some((before, query)) = text.split_once('?') else {
        return text.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let parameters: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if secret_parameter(k) => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    let mut out = format!("{before}?{}", parameters.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// The secrets inside a database URL (its password in either form), to keep them out of anything printed.
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(scheme_end) = url.find("://").map(|i| i + 3) {
        let rest = url.get(scheme_end..).unwrap_or_default();
        let authority = rest.split('/').next().unwrap_or_default();
        if let Some(at) = authority.rfind('@')
            && let Some((_, password)) = authority.get(..at).unwrap_or_default().split_once(':')
        {
            out.push(password.to_string());
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        for kv in query.split(['&', '#']) {
            if let Some((k, v)) = kv.split_once('=')
                && secret_parameter(k)
            {
                out.push(v.to_string());
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
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
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=s3cret"),
            "postgres://u@h/db?sslmode=require&password=***"
        );
        assert_eq!(redact_url("postgresql://u:p@ss?w#rd@h/db"), "postgresql://u:***@h/db");
        assert_eq!(redact_url("postgres://u:a@h/db?PassWord=b#x"), "postgres://u:***@h/db?PassWord=***#x");
        assert_eq!(url_secrets("postgres://u:a@h/db?password=b&sslpassword=c"), ["a", "b", "c"]);
        assert!(url_secrets("sqlite://x.db").is_empty());
        assert_eq!(sqlite_path("sqlite://data/v.sqlite?mode=rwc").unwrap(), PathBuf::from("data/v.sqlite"));
        assert!(sqlite_path("sqlite::memory:").is_err());
    }
}
