//! The state a batch of operations works on: everything its operations named, loaded once for the whole
//! batch (see [`crate::load`]), changed by pure code, and handed back to storage as [`Changes`].
//!
//! Every change is journaled, so that an operation that fails half-way is rolled back to its [`Savepoint`]
//! and leaves no trace; the operations after it see the state as if it had never been submitted.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use voltvend_domain::tariff::pricing::PricingState;
use voltvend_domain::{
    AccountId, BookChanges, Books, BooksId, Customer, CustomerId, LedgerBook, MeterId, OperationId, Operator,
    OperatorId, Premises, PremisesId, Shift, ShiftId, VendingPoint, VendingPointId,
};

use crate::error::OpError;
use crate::records::{
    AccountRecord, AuditRecord, IdempotencyRecord, MeterRecord, OutboxRow, ReadingRow, ReadingState, SaleRecord,
    StsState, TariffDoc,
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
        let mut seen = HashSet::with_capacity(self.dirty.len());
        self.dirty.iter().filter(|k| seen.insert(*k)).filter_map(|k| self.rows.get(k).cloned()).collect()
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
    pub operators: Vec<Operator>,
    pub customers: Vec<Customer>,
    pub ledger: BookChanges,
    pub books: Vec<Books>,
    pub vending_points: Vec<VendingPoint>,
    pub accounts: Vec<AccountRecord>,
    pub meters: Vec<MeterRecord>,
    pub shifts: Vec<Shift>,
    pub sts: Vec<StsState>,
    pub pricing: Vec<(AccountId, String, PricingState)>,
    pub reading_states: Vec<ReadingState>,
    pub tariffs: Vec<TariffDoc>,
    pub readings: Vec<ReadingRow>,
    pub sales: Vec<SaleRecord>,
    pub outbox: Vec<OutboxRow>,
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

/// A point to roll a workspace back to.
#[derive(Debug, Clone, Copy)]
pub struct Savepoint {
    book: voltvend_domain::Savepoint,
    tables: [TablePoint; 15],
    readings: usize,
    sales: usize,
    outbox: usize,
    audit: usize,
    audit_head: AuditHead,
}

/// The loaded state of a batch.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub book: LedgerBook,
    pub premises: Table<PremisesId, Premises>,
    pub operators: Table<OperatorId, Operator>,
    /// Usernames asked for (to refuse duplicates), and usernames taken.
    pub usernames: Table<String, OperatorId>,
    pub customers: Table<CustomerId, Customer>,
    pub accounts: Table<AccountId, AccountRecord>,
    pub meters: Table<MeterId, MeterRecord>,
    /// Meter serials asked for (to refuse duplicates), and serials taken.
    pub serials: Table<String, MeterId>,
    pub vending_points: Table<VendingPointId, VendingPoint>,
    pub shifts: Table<ShiftId, Shift>,
    pub books: Table<BooksId, Books>,
    pub sts: Table<MeterId, StsState>,
    pub pricing: Table<(AccountId, String), PricingState>,
    pub reading_states: Table<MeterId, ReadingState>,
    /// The latest revision of each tariff asked for.
    pub tariffs: Table<String, TariffDoc>,
    pub idempotency: Table<OperationId, IdempotencyRecord>,
    pub readings: Log<ReadingRow>,
    pub sales: Log<SaleRecord>,
    pub outbox: Log<OutboxRow>,
    pub audit: Log<AuditRecord>,
    pub audit_head: AuditHead,
    audit_written_head: AuditHead,
}

impl Workspace {
    pub fn new(last_seq: i64, audit_head: AuditHead) -> Self {
        Self { book: LedgerBook::after_seq(last_seq), audit_head, audit_written_head: audit_head, ..Self::default() }
    }

    fn points(&self) -> [TablePoint; 15] {
        [
            self.premises.point(),
            self.operators.point(),
            self.usernames.point(),
            self.customers.point(),
            self.accounts.point(),
            self.meters.point(),
            self.serials.point(),
            self.vending_points.point(),
            self.shifts.point(),
            self.books.point(),
            self.sts.point(),
            self.pricing.point(),
            self.reading_states.point(),
            self.tariffs.point(),
            self.idempotency.point(),
        ]
    }

    pub fn savepoint(&self) -> Savepoint {
        Savepoint {
            book: self.book.savepoint(),
            tables: self.points(),
            readings: self.readings.rows.len(),
            sales: self.sales.rows.len(),
            outbox: self.outbox.rows.len(),
            audit: self.audit.rows.len(),
            audit_head: self.audit_head,
        }
    }

    /// Undoes everything since `sp`. Valid until the next [`Workspace::mark_written`].
    pub fn rollback(&mut self, sp: Savepoint) {
        self.book.rollback(sp.book);
        let [p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14] = sp.tables;
        self.premises.rollback(p0);
        self.operators.rollback(p1);
        self.usernames.rollback(p2);
        self.customers.rollback(p3);
        self.accounts.rollback(p4);
        self.meters.rollback(p5);
        self.serials.rollback(p6);
        self.vending_points.rollback(p7);
        self.shifts.rollback(p8);
        self.books.rollback(p9);
        self.sts.rollback(p10);
        self.pricing.rollback(p11);
        self.reading_states.rollback(p12);
        self.tariffs.rollback(p13);
        self.idempotency.rollback(p14);
        self.readings.rows.truncate(sp.readings);
        self.sales.rows.truncate(sp.sales);
        self.outbox.rows.truncate(sp.outbox);
        self.audit.rows.truncate(sp.audit);
        self.audit_head = sp.audit_head;
    }

    /// Everything changed since the last write.
    pub fn pending(&self) -> Changes {
        Changes {
            premises: self.premises.pending(),
            operators: self.operators.pending(),
            customers: self.customers.pending(),
            ledger: self.book.pending(),
            books: self.books.pending(),
            vending_points: self.vending_points.pending(),
            accounts: self.accounts.pending(),
            meters: self.meters.pending(),
            shifts: self.shifts.pending(),
            sts: self.sts.pending(),
            pricing: {
                let mut seen = HashSet::new();
                self.pricing
                    .dirty
                    .iter()
                    .filter(|k| seen.insert(*k))
                    .filter_map(|k| self.pricing.rows.get(k).map(|v| (k.0, k.1.clone(), v.clone())))
                    .collect()
            },
            reading_states: self.reading_states.pending(),
            tariffs: self.tariffs.pending(),
            readings: self.readings.pending(),
            sales: self.sales.pending(),
            outbox: self.outbox.pending(),
            idempotency: self.idempotency.pending(),
            audit: self.audit.pending(),
            audit_head: (self.audit_head != self.audit_written_head).then_some(self.audit_head),
        }
    }

    /// Records that everything [`Workspace::pending`] returned is written; earlier savepoints become invalid.
    pub fn mark_written(&mut self) {
        self.book.mark_written();
        self.premises.mark_written();
        self.operators.mark_written();
        self.usernames.mark_written();
        self.customers.mark_written();
        self.accounts.mark_written();
        self.meters.mark_written();
        self.serials.mark_written();
        self.vending_points.mark_written();
        self.shifts.mark_written();
        self.books.mark_written();
        self.sts.mark_written();
        self.pricing.mark_written();
        self.reading_states.mark_written();
        self.tariffs.mark_written();
        self.idempotency.mark_written();
        self.readings.written = self.readings.rows.len();
        self.sales.written = self.sales.rows.len();
        self.outbox.written = self.outbox.rows.len();
        self.audit.written = self.audit.rows.len();
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
