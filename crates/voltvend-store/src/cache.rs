//! The writer's read-through cache of the rows operations load again and again (accounts, meters, shifts,
//! vending points, books, ledger accounts with their balances, operators, premises, token and pricing state,
//! tariffs).
//!
//! It holds exactly what the database holds, because it learns rows only from the database (inside the write
//! transaction) and from what the writer itself committed. A generation number in the database, bumped by every
//! batch any writer commits, tells a writer whether someone else wrote since it last did: if so, the cache is
//! dropped before it is used. Rows written around the writer (a restore, a person with a SQL prompt) are not seen
//! until another writer's commit or a restart — which is why `voltvend check` reads the database, never the cache.

use std::collections::HashMap;
use std::hash::Hash;

use voltvend_domain::ledger::Balance;
use voltvend_domain::tariff::pricing::PricingState;
use voltvend_domain::{
    AccountId, ApiTokenId, Books, BooksId, CommandId, Customer, CustomerId, LedgerAccount, LedgerAccountId, MeterId,
    OperationId, Operator, OperatorId, Premises, PremisesId, Role, Shift, ShiftId, Transfer, TransferId, VendingPoint,
    VendingPointId,
};
use voltvend_ops::{
    AccountRecord, ApiTokenRecord, AuditHead, CardKeyRecord, Changes, IdempotencyRecord, MeterCard, MeterCommand,
    MeterControl, MeterRecord, OpgState, ReadingState, RefusedPayment, SaleRecord, SessionRecord, Source, StsState,
    TariffDoc, VendingKeyRecord,
};

use crate::StoreError;

/// Rows kept per table; past it the table starts again empty (the next batch reads what it needs).
pub(crate) const CACHE_ROWS_MAX: usize = 200_000;

/// Known rows by key, and keys known to be absent.
#[derive(Debug)]
struct Known<K, V> {
    rows: HashMap<K, Option<V>>,
}

impl<K, V> Default for Known<K, V> {
    fn default() -> Self {
        Self { rows: HashMap::new() }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Known<K, V> {
    /// The values known for `keys`, and the keys not known either way.
    fn split(&self, keys: &[K]) -> (Vec<V>, Vec<K>) {
        let mut hits = Vec::new();
        let mut misses = Vec::new();
        for k in keys {
            match self.rows.get(k) {
                Some(Some(v)) => hits.push(v.clone()),
                Some(None) => {}
                None => misses.push(k.clone()),
            }
        }
        (hits, misses)
    }

    /// What storage answered for `asked`: the rows found, and the rest as absent.
    fn learn(&mut self, asked: &[K], found: &[V], key: impl Fn(&V) -> K) {
        if self.rows.len() + asked.len() > CACHE_ROWS_MAX {
            self.rows.clear();
        }
        for k in asked {
            self.rows.insert(k.clone(), None);
        }
        for v in found {
            self.rows.insert(key(v), Some(v.clone()));
        }
    }

    fn put(&mut self, k: K, v: V) {
        if self.rows.len() >= CACHE_ROWS_MAX {
            self.rows.clear();
        }
        self.rows.insert(k, Some(v));
    }
}

/// Everything the writer knows, as of the generation it last committed.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// The database's writer generation this cache is current for; `None`: empty, use nothing.
    pub(crate) generation: Option<i64>,
    /// The last transfer's sequence number and the audit chain's head, once read: only the writer moves them.
    heads: Option<(i64, AuditHead)>,
    premises: Known<PremisesId, Premises>,
    operators: Known<OperatorId, Operator>,
    customers: Known<CustomerId, Customer>,
    accounts: Known<AccountId, AccountRecord>,
    meters: Known<MeterId, MeterRecord>,
    vending_points: Known<VendingPointId, VendingPoint>,
    shifts: Known<ShiftId, Shift>,
    books: Known<BooksId, Books>,
    ledger: Known<LedgerAccountId, (LedgerAccount, Balance)>,
    sts: Known<MeterId, StsState>,
    reading_states: Known<MeterId, ReadingState>,
    controls: Known<MeterId, MeterControl>,
    commands: Known<CommandId, MeterCommand>,
    pricing: Known<(AccountId, String), (AccountId, String, PricingState)>,
    tariffs: Known<String, TariffDoc>,
    roles: Known<String, Role>,
    opg: Known<MeterId, OpgState>,
    vending_keys: Known<(u32, u8), VendingKeyRecord>,
    card_keys: Known<u32, CardKeyRecord>,
    meter_cards: Known<MeterId, MeterCard>,
}

impl Cache {
    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// Makes the cache current for `generation` (read from the database at the start of a batch): if another
    /// writer committed since, everything known is dropped.
    pub(crate) fn validate(&mut self, generation: i64) {
        if self.generation != Some(generation) {
            self.clear();
            self.generation = Some(generation);
        }
    }

    /// Learns what a batch committed (as generation `generation`).
    pub(crate) fn committed(&mut self, c: &Changes, generation: i64) {
        for p in &c.premises {
            self.premises.put(p.id, p.clone());
        }
        for o in &c.operators {
            self.operators.put(o.id, o.clone());
        }
        for x in &c.customers {
            self.customers.put(x.id, x.clone());
        }
        for a in &c.ledger.accounts {
            self.ledger.put(a.id, (a.clone(), Balance::default()));
        }
        for (id, balance) in &c.ledger.balances {
            match self.ledger.rows.get_mut(id) {
                Some(Some(entry)) => entry.1 = *balance,
                // A balance of an account this cache never loaded: forget it rather than guess.
                _ => {
                    self.ledger.rows.remove(id);
                }
            }
        }
        for b in &c.books {
            self.books.put(b.id, b.clone());
        }
        for v in &c.vending_points {
            self.vending_points.put(v.id, v.clone());
        }
        for a in &c.accounts {
            self.accounts.put(a.account.id, a.clone());
        }
        for m in &c.meters {
            self.meters.put(m.meter.id, m.clone());
        }
        for s in &c.shifts {
            self.shifts.put(s.id, s.clone());
        }
        for s in &c.sts {
            self.sts.put(s.meter_id, s.clone());
        }
        for (account, code, state) in &c.pricing {
            self.pricing.put((*account, code.clone()), (*account, code.clone(), state.clone()));
        }
        for r in &c.reading_states {
            self.reading_states.put(r.meter_id, r.clone());
        }
        for x in &c.controls {
            self.controls.put(x.meter_id, x.clone());
        }
        for x in &c.commands {
            self.commands.put(x.id, x.clone());
        }
        for t in &c.tariffs {
            self.tariffs.put(t.code.clone(), t.clone());
        }
        for r in &c.roles {
            self.roles.put(r.name.clone(), r.clone());
        }
        for o in &c.opg {
            self.opg.put(o.meter_id, o.clone());
        }
        for k in &c.vending_keys {
            self.vending_keys.put((k.sgc, k.krn), k.clone());
        }
        for k in &c.card_keys {
            self.card_keys.put(k.key_no, k.clone());
        }
        for m in &c.meter_cards {
            self.meter_cards.put(m.meter_id, m.clone());
        }
        if let Some((last_seq, head)) = &mut self.heads {
            *last_seq = c.ledger.transfers.iter().map(|t| t.seq).fold(*last_seq, i64::max);
            if let Some(h) = c.audit_head {
                *head = h;
            }
        }
        self.generation = Some(generation);
    }
}

/// A [`Source`] that answers from the cache where it can and from `inner` (the transaction) otherwise,
/// learning what `inner` answers.
pub(crate) struct CachedSource<'a, S> {
    pub(crate) inner: S,
    pub(crate) cache: &'a mut Cache,
}

macro_rules! cached {
    ($name:ident, $field:ident, $k:ty, $v:ty, $key:expr) => {
        async fn $name(&mut self, keys: &[$k]) -> Result<Vec<$v>, StoreError> {
            let (mut hits, misses) = self.cache.$field.split(keys);
            if !misses.is_empty() {
                let found = self.inner.$name(&misses).await?;
                self.cache.$field.learn(&misses, &found, $key);
                hits.extend(found);
            }
            Ok(hits)
        }
    };
}

impl<S: Source<Error = StoreError> + Send> Source for CachedSource<'_, S> {
    type Error = StoreError;

    cached!(premises, premises, PremisesId, Premises, |p: &Premises| p.id);
    cached!(operators, operators, OperatorId, Operator, |o: &Operator| o.id);
    cached!(customers, customers, CustomerId, Customer, |c: &Customer| c.id);
    cached!(accounts, accounts, AccountId, AccountRecord, |a: &AccountRecord| a.account.id);
    cached!(meters, meters, MeterId, MeterRecord, |m: &MeterRecord| m.meter.id);
    cached!(vending_points, vending_points, VendingPointId, VendingPoint, |v: &VendingPoint| v.id);
    cached!(shifts, shifts, ShiftId, Shift, |s: &Shift| s.id);
    cached!(books, books, BooksId, Books, |b: &Books| b.id);
    cached!(ledger_accounts, ledger, LedgerAccountId, (LedgerAccount, Balance), |x: &(LedgerAccount, Balance)| x.0.id);
    cached!(sts_states, sts, MeterId, StsState, |s: &StsState| s.meter_id);
    cached!(reading_states, reading_states, MeterId, ReadingState, |r: &ReadingState| r.meter_id);
    cached!(meter_controls, controls, MeterId, MeterControl, |c: &MeterControl| c.meter_id);
    cached!(meter_commands, commands, CommandId, MeterCommand, |c: &MeterCommand| c.id);
    cached!(pricing_states, pricing, (AccountId, String), (AccountId, String, PricingState), |x: &(
        AccountId,
        String,
        PricingState
    )| (x.0, x.1.clone()));
    cached!(tariffs, tariffs, String, TariffDoc, |t: &TariffDoc| t.code.clone());
    cached!(roles, roles, String, Role, |r: &Role| r.name.clone());
    cached!(opg_states, opg, MeterId, OpgState, |o: &OpgState| o.meter_id);
    cached!(vending_keys, vending_keys, (u32, u8), VendingKeyRecord, |k: &VendingKeyRecord| (k.sgc, k.krn));
    cached!(card_keys, card_keys, u32, CardKeyRecord, |k: &CardKeyRecord| k.key_no);
    cached!(meter_cards, meter_cards, MeterId, MeterCard, |m: &MeterCard| m.meter_id);

    // A serial moves between meters (a returned card issued anew): always from the database.
    async fn meter_cards_by_serial(&mut self, serials: &[String]) -> Result<Vec<MeterCard>, StoreError> {
        self.inner.meter_cards_by_serial(serials).await
    }

    // New every time (operation ids are fresh), or lists that grow: always from the database.
    async fn idempotency(&mut self, ids: &[OperationId]) -> Result<Vec<IdempotencyRecord>, StoreError> {
        self.inner.idempotency(ids).await
    }
    async fn operators_by_username(&mut self, names: &[String]) -> Result<Vec<Operator>, StoreError> {
        self.inner.operators_by_username(names).await
    }
    async fn meters_by_serial(&mut self, serials: &[String]) -> Result<Vec<MeterRecord>, StoreError> {
        self.inner.meters_by_serial(serials).await
    }
    async fn meters_of_accounts(&mut self, accounts: &[AccountId]) -> Result<Vec<MeterRecord>, StoreError> {
        self.inner.meters_of_accounts(accounts).await
    }
    async fn meter_categories(&mut self, meters: &[MeterId]) -> Result<Vec<voltvend_ops::MeterCategory>, StoreError> {
        self.inner.meter_categories(meters).await
    }
    // Apportionment is rare and reads what the cache does not hold (readings, rules): straight to the database.
    async fn apportionment_rules(
        &mut self,
        ids: &[voltvend_domain::ApportionmentRuleId],
    ) -> Result<Vec<voltvend_ops::ApportionmentRule>, StoreError> {
        self.inner.apportionment_rules(ids).await
    }
    async fn apportionment_runs(
        &mut self,
        keys: &[(voltvend_domain::ApportionmentRuleId, i32)],
    ) -> Result<Vec<voltvend_ops::ApportionmentRun>, StoreError> {
        self.inner.apportionment_runs(keys).await
    }
    async fn meters_at(&mut self, premises: &[PremisesId]) -> Result<Vec<MeterRecord>, StoreError> {
        self.inner.meters_at(premises).await
    }
    async fn consumption(
        &mut self,
        spans: &[(MeterId, jiff::Timestamp, jiff::Timestamp)],
    ) -> Result<Vec<voltvend_ops::SpanConsumption>, StoreError> {
        self.inner.consumption(spans).await
    }
    // Rent and fees: rare writes, and the unpaid charges of the accounts a batch loads are one indexed read.
    async fn floor_areas(&mut self, premises: &[PremisesId]) -> Result<Vec<voltvend_ops::FloorArea>, StoreError> {
        self.inner.floor_areas(premises).await
    }
    async fn fee_policies(&mut self, premises: &[PremisesId]) -> Result<Vec<voltvend_ops::FeePolicy>, StoreError> {
        self.inner.fee_policies(premises).await
    }
    async fn fee_schedules(
        &mut self,
        ids: &[voltvend_domain::FeeScheduleId],
    ) -> Result<Vec<voltvend_ops::FeeSchedule>, StoreError> {
        self.inner.fee_schedules(ids).await
    }
    async fn books_at(&mut self, premises: &[PremisesId]) -> Result<Vec<Books>, StoreError> {
        self.inner.books_at(premises).await
    }
    async fn postpaid_schedules(&mut self) -> Result<Vec<voltvend_ops::FeeSchedule>, StoreError> {
        self.inner.postpaid_schedules().await
    }
    async fn fee_runs(
        &mut self,
        keys: &[(voltvend_domain::FeeScheduleId, i32)],
    ) -> Result<Vec<voltvend_ops::FeeRun>, StoreError> {
        self.inner.fee_runs(keys).await
    }
    async fn fee_payments(&mut self, ids: &[OperationId]) -> Result<Vec<voltvend_ops::FeePayment>, StoreError> {
        self.inner.fee_payments(ids).await
    }
    async fn fee_charges(
        &mut self,
        keys: &[(voltvend_domain::FeeScheduleId, i32, AccountId)],
    ) -> Result<Vec<voltvend_ops::FeeCharge>, StoreError> {
        self.inner.fee_charges(keys).await
    }
    async fn unpaid_fee_charges(&mut self, accounts: &[AccountId]) -> Result<Vec<voltvend_ops::FeeCharge>, StoreError> {
        self.inner.unpaid_fee_charges(accounts).await
    }
    async fn units_within(&mut self, sites: &[PremisesId]) -> Result<Vec<(PremisesId, PremisesId)>, StoreError> {
        self.inner.units_within(sites).await
    }
    async fn accounts_at(&mut self, premises: &[PremisesId]) -> Result<Vec<AccountRecord>, StoreError> {
        self.inner.accounts_at(premises).await
    }
    async fn transfers(&mut self, ids: &[TransferId]) -> Result<Vec<Transfer>, StoreError> {
        self.inner.transfers(ids).await
    }
    async fn corrections_of(&mut self, targets: &[TransferId]) -> Result<Vec<Transfer>, StoreError> {
        self.inner.corrections_of(targets).await
    }
    async fn heads(&mut self) -> Result<(i64, AuditHead), StoreError> {
        if let Some(heads) = self.cache.heads {
            return Ok(heads);
        }
        let heads = self.inner.heads().await?;
        self.cache.heads = Some(heads);
        Ok(heads)
    }
    async fn sessions(&mut self, hashes: &[[u8; 32]]) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.sessions(hashes).await
    }
    async fn api_tokens(&mut self, ids: &[ApiTokenId]) -> Result<Vec<ApiTokenRecord>, StoreError> {
        self.inner.api_tokens(ids).await
    }
    async fn payment_channels(
        &mut self,
        ids: &[voltvend_domain::PaymentChannelId],
    ) -> Result<Vec<voltvend_ops::PaymentChannel>, StoreError> {
        self.inner.payment_channels(ids).await
    }

    async fn payment_intents(
        &mut self,
        ids: &[voltvend_domain::PaymentIntentId],
    ) -> Result<Vec<voltvend_ops::PaymentIntent>, StoreError> {
        self.inner.payment_intents(ids).await
    }

    async fn refused_payments(&mut self, ids: &[OperationId]) -> Result<Vec<RefusedPayment>, StoreError> {
        self.inner.refused_payments(ids).await
    }
    async fn sales(&mut self, ids: &[OperationId]) -> Result<Vec<SaleRecord>, StoreError> {
        self.inner.sales(ids).await
    }
    async fn campaigns(
        &mut self,
        ids: &[voltvend_domain::CampaignId],
    ) -> Result<Vec<voltvend_ops::KeyCampaign>, StoreError> {
        self.inner.campaigns(ids).await
    }
    async fn approvals(
        &mut self,
        ids: &[voltvend_domain::ApprovalId],
    ) -> Result<Vec<voltvend_ops::ApprovalRecord>, StoreError> {
        self.inner.approvals(ids).await
    }
    async fn open_shifts(&mut self, operators: &[OperatorId]) -> Result<Vec<Shift>, StoreError> {
        self.inner.open_shifts(operators).await
    }
}
