//! The state a batch of operations works on: everything its operations named, loaded once for the whole
//! batch (see [`crate::load`]), changed by pure code, and handed back to storage as [`Changes`].
//!
//! Every change is journaled, so that an operation that fails half-way is rolled back to its [`Savepoint`]
//! and leaves no trace; the operations after it see the state as if it had never been submitted.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use voltvend_domain::tariff::pricing::PricingState;
use voltvend_domain::{
    AccountId, ApiTokenId, ApprovalId, BookChanges, Books, BooksId, CampaignId, CommandId, Customer, CustomerId,
    LedgerBook, MeterId, OperationId, Operator, OperatorId, Premises, PremisesId, Role, Shift, ShiftId, VendingPoint,
    VendingPointId,
};

use crate::error::OpError;
use crate::records::{
    AccountRecord, ApiTokenRecord, ApprovalRecord, AuditRecord, CardKeyRecord, IdempotencyRecord, KeyCampaign,
    MeterCard, MeterCommand, MeterControl, MeterRecord, MeterTokenRecord, OpgState, OutboxRow, PaymentChannel,
    PaymentIntent, ReadingRow, ReadingState, RefusedPayment, SaleRecord, SessionRecord, StsState, TariffDoc,
    VendingKeyRecord,
};

/// Keyed rows loaded from storage, with the rows changed since they were last written.
#[derive(Debug, Clone)]
pub struct Table<K, V> {
    rows: HashMap<K, V>,
    /// Keys that were asked for, found or not: a key outside this set was never loaded, and reading it is a
    /// footprint bug rather than "absent".
    asked: HashSet<K>,
    dirty: Vec<K>,
    journal: Vec<(K, Option<V>)>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Self { rows: HashMap::new(), asked: HashSet::new(), dirty: Vec::new(), journal: Vec::new() }
    }
}

/// A table's position in its journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TablePoint {
    journal: usize,
    dirty: usize,
}

impl<K: Clone + Eq + Hash + std::fmt::Debug, V: Clone> Table<K, V> {
    /// Records that `key` was asked for (whether or not storage had it).
    pub fn ask(&mut self, key: K) {
        self.asked.insert(key);
    }

    /// A row as loaded from storage.
    pub fn load(&mut self, key: K, value: V) {
        self.asked.insert(key.clone());
        self.rows.insert(key, value);
    }

    /// The row, `None` if storage has none; an error if the key was never asked for.
    pub fn get(&self, key: &K) -> Result<Option<&V>, OpError> {
        match self.rows.get(key) {
            Some(v) => Ok(Some(v)),
            None if self.asked.contains(key) => Ok(None),
            None => Err(OpError::Internal(format!("{key:?} is outside the operation's footprint"))),
        }
    }

    /// Every row present (loaded or written in this batch).
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.rows.values()
    }

    /// Writes a row (new or changed).
    pub fn put(&mut self, key: K, value: V) {
        let before = self.rows.insert(key.clone(), value);
        self.asked.insert(key.clone());
        self.journal.push((key.clone(), before));
        self.dirty.push(key);
    }

    fn point(&self) -> TablePoint {
        TablePoint { journal: self.journal.len(), dirty: self.dirty.len() }
    }

    fn rollback(&mut self, p: TablePoint) {
        while self.journal.len() > p.journal {
            let Some((key, before)) = self.journal.pop() else { break };
            match before {
                Some(v) => {
                    self.rows.insert(key, v);
                }
                None => {
                    self.rows.remove(&key);
                }
            }
        }
        self.dirty.truncate(p.dirty);
    }

    /// The current value of every row changed since the last write, each once, in first-change order.
    pub fn pending(&self) -> Vec<V> {
        self.pending_keyed().into_iter().map(|(_, v)| v).collect()
    }

    /// The same, with each row's key.
    pub fn pending_keyed(&self) -> Vec<(K, V)> {
        let mut seen = HashSet::with_capacity(self.dirty.len());
        self.dirty
            .iter()
            .filter(|k| seen.insert(*k))
            .filter_map(|k| self.rows.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    }

    fn mark_written(&mut self) {
        self.dirty.clear();
        self.journal.clear();
    }
}

/// Append-only records made in this batch.
#[derive(Debug, Clone)]
pub struct Log<T> {
    rows: Vec<T>,
    written: usize,
}

impl<T> Default for Log<T> {
    fn default() -> Self {
        Self { rows: Vec::new(), written: 0 }
    }
}

impl<T: Clone> Log<T> {
    pub fn push(&mut self, row: T) {
        self.rows.push(row);
    }

    pub fn rows(&self) -> &[T] {
        &self.rows
    }

    fn pending(&self) -> Vec<T> {
        self.rows.get(self.written..).unwrap_or(&[]).to_vec()
    }
}

/// The head of the audit chain: the last record's sequence number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: [u8; 32],
}

/// What storage must write for the operations applied since the last write, in an order that respects
/// foreign keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub premises: Vec<Premises>,
    pub roles: Vec<Role>,
    pub operators: Vec<Operator>,
    pub customers: Vec<Customer>,
    pub ledger: BookChanges,
    pub books: Vec<Books>,
    pub vending_points: Vec<VendingPoint>,
    pub accounts: Vec<AccountRecord>,
    pub meters: Vec<MeterRecord>,
    pub shifts: Vec<Shift>,
    pub sts: Vec<StsState>,
    pub opg: Vec<OpgState>,
    pub vending_keys: Vec<VendingKeyRecord>,
    pub card_keys: Vec<CardKeyRecord>,
    pub meter_cards: Vec<MeterCard>,
    pub pricing: Vec<(AccountId, String, PricingState)>,
    pub reading_states: Vec<ReadingState>,
    pub controls: Vec<MeterControl>,
    pub commands: Vec<MeterCommand>,
    pub tariffs: Vec<TariffDoc>,
    pub sessions: Vec<SessionRecord>,
    pub api_tokens: Vec<ApiTokenRecord>,
    pub refused_payments: Vec<RefusedPayment>,
    pub payment_channels: Vec<PaymentChannel>,
    pub payment_intents: Vec<PaymentIntent>,
    pub payment_statements: Vec<crate::records::PaymentStatement>,
    pub meter_categories: Vec<crate::records::MeterCategory>,
    pub apportionment_rules: Vec<crate::records::ApportionmentRule>,
    pub apportionment_runs: Vec<crate::records::ApportionmentRun>,
    pub floor_areas: Vec<crate::records::FloorArea>,
    pub fee_policies: Vec<crate::records::FeePolicy>,
    pub fee_schedules: Vec<crate::records::FeeSchedule>,
    pub fee_runs: Vec<crate::records::FeeRun>,
    /// New charges and charges paid towards (written whole: a charge's paid amount changes).
    pub fee_charges: Vec<crate::records::FeeCharge>,
    pub fee_payments: Vec<crate::records::FeePayment>,
    pub fee_allocations: Vec<crate::records::FeeAllocation>,
    pub approvals: Vec<ApprovalRecord>,
    pub campaigns: Vec<KeyCampaign>,
    pub readings: Vec<ReadingRow>,
    pub demands: Vec<crate::records::DemandRow>,
    pub sales: Vec<SaleRecord>,
    pub outbox: Vec<OutboxRow>,
    pub meter_tokens: Vec<MeterTokenRecord>,
    pub idempotency: Vec<IdempotencyRecord>,
    pub audit: Vec<AuditRecord>,
    /// The new head of the audit chain, if records were added.
    pub audit_head: Option<AuditHead>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.audit.is_empty() && self.idempotency.is_empty() && self.ledger.is_empty()
    }
}

/// Declares the workspace's tables and logs once, and derives from that list the savepoint, the rollback and
/// the bookkeeping after a write, so that a new table cannot be forgotten in one of them.
macro_rules! workspace {
    (
        tables { $( $(#[$tdoc:meta])* $table:ident : $k:ty => $v:ty ),* $(,)? }
        logs { $( $(#[$ldoc:meta])* $log:ident : $row:ty ),* $(,)? }
    ) => {
        /// The loaded state of a batch.
        #[derive(Debug, Clone, Default)]
        pub struct Workspace {
            pub book: LedgerBook,
            $( $(#[$tdoc])* pub $table: Table<$k, $v>, )*
            $( $(#[$ldoc])* pub $log: Log<$row>, )*
            pub audit_head: AuditHead,
            audit_written_head: AuditHead,
        }

        /// Each table's and log's position.
        #[derive(Debug, Clone, Copy)]
        struct Points {
            $( $table: TablePoint, )*
            $( $log: usize, )*
        }

        impl Workspace {
            fn points(&self) -> Points {
                Points { $( $table: self.$table.point(), )* $( $log: self.$log.rows.len(), )* }
            }

            fn rollback_points(&mut self, p: Points) {
                $( self.$table.rollback(p.$table); )*
                $( self.$log.rows.truncate(p.$log); )*
            }

            fn mark_points_written(&mut self) {
                $( self.$table.mark_written(); )*
                $( self.$log.written = self.$log.rows.len(); )*
            }
        }
    };
}

workspace! {
    tables {
        premises: PremisesId => Premises,
        operators: OperatorId => Operator,
        /// Usernames asked for (to refuse duplicates), and usernames taken.
        usernames: String => OperatorId,
        /// Custom roles by name (built-in roles are not stored).
        roles: String => Role,
        customers: CustomerId => Customer,
        accounts: AccountId => AccountRecord,
        meters: MeterId => MeterRecord,
        /// Meter serials asked for (to refuse duplicates), and serials taken.
        serials: String => MeterId,
        vending_points: VendingPointId => VendingPoint,
        shifts: ShiftId => Shift,
        /// Each operator's open shift, if any (derived from the shifts; never written itself).
        open_shifts: OperatorId => Option<ShiftId>,
        books: BooksId => Books,
        sts: MeterId => StsState,
        opg: MeterId => OpgState,
        vending_keys: (u32, u8) => VendingKeyRecord,
        card_keys: u32 => CardKeyRecord,
        /// IC-card meters' user cards, by meter.
        meter_cards: MeterId => MeterCard,
        /// Card serials asked for (to refuse a card in use on another meter), and the meter each is on.
        card_serials: String => MeterId,
        pricing: (AccountId, String) => PricingState,
        reading_states: MeterId => ReadingState,
        /// How the head end reaches each meter and controls its supply.
        controls: MeterId => MeterControl,
        /// Commands for meters: the pending ones of the meters loaded, and those named.
        commands: CommandId => MeterCommand,
        /// The latest revision of each tariff asked for.
        tariffs: String => TariffDoc,
        sessions: [u8; 32] => SessionRecord,
        api_tokens: ApiTokenId => ApiTokenRecord,
        refused_payments: OperationId => RefusedPayment,
        payment_channels: voltvend_domain::PaymentChannelId => PaymentChannel,
        payment_intents: voltvend_domain::PaymentIntentId => PaymentIntent,
        /// Corrections asked for and decided (maker-checker).
        approvals: ApprovalId => ApprovalRecord,
        /// STS key change campaigns.
        campaigns: CampaignId => KeyCampaign,
        /// Sales made earlier, by operation (read for reprints; new sales go to the `sales` log).
        sales_made: OperationId => SaleRecord,
        /// Read only: fee payments a correction takes back.
        fee_payments_made: OperationId => crate::records::FeePayment,
        idempotency: OperationId => IdempotencyRecord,
        meter_categories: MeterId => crate::records::MeterCategory,
        apportionment_rules: voltvend_domain::ApportionmentRuleId => crate::records::ApportionmentRule,
        apportionment_runs: (voltvend_domain::ApportionmentRuleId, i32) => crate::records::ApportionmentRun,
        /// Read only: the meters installed at a unit of an apportionment rule (ever, whatever their state).
        unit_meters: PremisesId => Vec<MeterId>,
        /// Read only: what a meter's readings stored before the batch counted over a span `(meter, from µs,
        /// to µs)`.
        consumption: (MeterId, i64, i64) => crate::records::SpanConsumption,
        floor_areas: PremisesId => crate::records::FloorArea,
        fee_policies: PremisesId => crate::records::FeePolicy,
        fee_schedules: voltvend_domain::FeeScheduleId => crate::records::FeeSchedule,
        fee_runs: (voltvend_domain::FeeScheduleId, i32) => crate::records::FeeRun,
        fee_charges: crate::records::FeeChargeKey => crate::records::FeeCharge,
        /// Read only: the unpaid charges of an account (kept up to date as charges are issued and paid).
        account_charges: AccountId => Vec<crate::records::FeeChargeKey>,
        /// Read only: the units within a site, for a month of fees to issue.
        units_within: PremisesId => Vec<PremisesId>,
        /// Read only: the accounts (of any status) at each of those units.
        accounts_at: PremisesId => Vec<AccountId>,
    }
    logs {
        readings: ReadingRow,
        /// Maximum demands read from meters' registers.
        demands: crate::records::DemandRow,
        sales: SaleRecord,
        outbox: OutboxRow,
        meter_tokens: MeterTokenRecord,
        /// Providers' statements imported.
        payment_statements: crate::records::PaymentStatement,
        fee_payments: crate::records::FeePayment,
        fee_allocations: crate::records::FeeAllocation,
        audit: AuditRecord,
    }
}

/// A point to roll a workspace back to.
#[derive(Debug, Clone, Copy)]
pub struct Savepoint {
    book: voltvend_domain::Savepoint,
    points: Points,
    audit_head: AuditHead,
}

impl Workspace {
    pub fn new(last_seq: i64, audit_head: AuditHead) -> Self {
        Self { book: LedgerBook::after_seq(last_seq), audit_head, audit_written_head: audit_head, ..Self::default() }
    }

    pub fn savepoint(&self) -> Savepoint {
        Savepoint { book: self.book.savepoint(), points: self.points(), audit_head: self.audit_head }
    }

    /// Undoes everything since `sp`. Valid until the next [`Workspace::mark_written`].
    pub fn rollback(&mut self, sp: Savepoint) {
        self.book.rollback(sp.book);
        self.rollback_points(sp.points);
        self.audit_head = sp.audit_head;
    }

    /// Everything changed since the last write.
    pub fn pending(&self) -> Changes {
        Changes {
            premises: self.premises.pending(),
            roles: self.roles.pending(),
            operators: self.operators.pending(),
            customers: self.customers.pending(),
            ledger: self.book.pending(),
            books: self.books.pending(),
            vending_points: self.vending_points.pending(),
            accounts: self.accounts.pending(),
            meters: self.meters.pending(),
            shifts: self.shifts.pending(),
            sts: self.sts.pending(),
            opg: self.opg.pending(),
            vending_keys: self.vending_keys.pending(),
            card_keys: self.card_keys.pending(),
            meter_cards: self.meter_cards.pending(),
            pricing: self
                .pricing
                .pending_keyed()
                .into_iter()
                .map(|((account, code), state)| (account, code, state))
                .collect(),
            reading_states: self.reading_states.pending(),
            controls: self.controls.pending(),
            commands: self.commands.pending(),
            tariffs: self.tariffs.pending(),
            sessions: self.sessions.pending(),
            api_tokens: self.api_tokens.pending(),
            refused_payments: self.refused_payments.pending(),
            payment_channels: self.payment_channels.pending(),
            payment_intents: self.payment_intents.pending(),
            payment_statements: self.payment_statements.pending(),
            meter_categories: self.meter_categories.pending(),
            apportionment_rules: self.apportionment_rules.pending(),
            apportionment_runs: self.apportionment_runs.pending(),
            floor_areas: self.floor_areas.pending(),
            fee_policies: self.fee_policies.pending(),
            fee_schedules: self.fee_schedules.pending(),
            fee_runs: self.fee_runs.pending(),
            fee_charges: self.fee_charges.pending(),
            fee_payments: self.fee_payments.pending(),
            fee_allocations: self.fee_allocations.pending(),
            approvals: self.approvals.pending(),
            campaigns: self.campaigns.pending(),
            readings: self.readings.pending(),
            demands: self.demands.pending(),
            sales: self.sales.pending(),
            outbox: self.outbox.pending(),
            meter_tokens: self.meter_tokens.pending(),
            idempotency: self.idempotency.pending(),
            audit: self.audit.pending(),
            audit_head: (self.audit_head != self.audit_written_head).then_some(self.audit_head),
        }
    }

    /// Records that everything [`Workspace::pending`] returned is written; earlier savepoints become invalid.
    pub fn mark_written(&mut self) {
        self.book.mark_written();
        self.mark_points_written();
        self.audit_written_head = self.audit_head;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_roll_back_and_report_what_changed_once() {
        let mut t: Table<u8, &str> = Table::default();
        t.load(1, "a");
        t.ask(2);
        assert_eq!(t.get(&2), Ok(None));
        assert!(matches!(t.get(&3), Err(OpError::Internal(_))), "never asked for");
        t.put(1, "b");
        let p = t.point();
        t.put(1, "c");
        t.put(2, "new");
        assert_eq!(t.pending(), vec!["c", "new"]);
        t.rollback(p);
        assert_eq!((t.get(&1), t.get(&2)), (Ok(Some(&"b")), Ok(None)));
        assert_eq!(t.pending(), vec!["b"]);
        t.mark_written();
        assert!(t.pending().is_empty());
    }
}
