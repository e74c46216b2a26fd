//! An in-memory database: the sequential model the stores are checked against, and the fastest way to run
//! operations in a test. It loads through the same [`Source`] interface and applies the same [`Changes`]
//! the SQL stores write, one operation at a time.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;

use jiff::Timestamp;
use voltvend_domain::ledger::Balance;
use voltvend_domain::tariff::pricing::PricingState;
use voltvend_domain::{
    AccountId, ApiTokenId, ApprovalId, Books, BooksId, CampaignId, CommandId, Customer, CustomerId, LedgerAccount,
    LedgerAccountId, LedgerBook, MeterId, OperationId, Operator, OperatorId, Premises, PremisesId, Role, Shift,
    ShiftId, Side, Transfer, TransferId, VendingPoint, VendingPointId,
};

use crate::apply::{Applied, Renderer, execute};
use crate::command::Operation;
use crate::context::Context;
use crate::error::OpError;
use crate::load::{Source, load};
use crate::records::{
    AccountRecord, ApiTokenRecord, ApprovalRecord, AuditRecord, CardKeyRecord, IdempotencyRecord, KeyCampaign,
    MeterCard, MeterCommand, MeterControl, MeterRecord, MeterTokenRecord, OpgState, OutboxRow, PaymentChannel,
    PaymentIntent, ReadingRow, ReadingState, RefusedPayment, SaleRecord, SessionRecord, StsState, TariffDoc,
    VendingKeyRecord,
};
use crate::workspace::{AuditHead, Changes};

/// Every table, in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryDb {
    pub premises: HashMap<PremisesId, Premises>,
    pub operators: HashMap<OperatorId, Operator>,
    pub customers: HashMap<CustomerId, Customer>,
    pub accounts: HashMap<AccountId, AccountRecord>,
    pub meters: HashMap<MeterId, MeterRecord>,
    pub vending_points: HashMap<VendingPointId, VendingPoint>,
    pub shifts: HashMap<ShiftId, Shift>,
    pub books: HashMap<BooksId, Books>,
    pub ledger_accounts: HashMap<LedgerAccountId, (LedgerAccount, Balance)>,
    /// Transfers by sequence number.
    pub transfers: BTreeMap<i64, Transfer>,
    pub sts: HashMap<MeterId, StsState>,
    pub pricing: HashMap<(AccountId, String), PricingState>,
    pub reading_states: HashMap<MeterId, ReadingState>,
    pub controls: HashMap<MeterId, MeterControl>,
    pub commands: HashMap<CommandId, MeterCommand>,
    /// Every revision of every tariff.
    pub tariffs: Vec<TariffDoc>,
    pub readings: Vec<ReadingRow>,
    /// Maximum demands read, once per meter and time (the first read kept).
    pub demands: std::collections::BTreeMap<(MeterId, jiff::Timestamp), crate::records::DemandRow>,
    pub sales: Vec<SaleRecord>,
    pub outbox: Vec<OutboxRow>,
    pub idempotency: HashMap<OperationId, IdempotencyRecord>,
    pub audit: Vec<AuditRecord>,
    pub audit_head: AuditHead,
    pub roles: HashMap<String, Role>,
    pub sessions: HashMap<[u8; 32], SessionRecord>,
    pub api_tokens: HashMap<ApiTokenId, ApiTokenRecord>,
    pub opg: HashMap<MeterId, OpgState>,
    pub vending_keys: HashMap<(u32, u8), VendingKeyRecord>,
    pub card_keys: HashMap<u32, CardKeyRecord>,
    pub meter_cards: HashMap<MeterId, MeterCard>,
    pub refused_payments: HashMap<OperationId, RefusedPayment>,
    pub payment_channels: HashMap<voltvend_domain::PaymentChannelId, PaymentChannel>,
    pub payment_intents: HashMap<voltvend_domain::PaymentIntentId, PaymentIntent>,
    pub payment_statements: Vec<crate::records::PaymentStatement>,
    pub meter_categories: HashMap<MeterId, crate::records::MeterCategory>,
    pub apportionment_rules: HashMap<voltvend_domain::ApportionmentRuleId, crate::records::ApportionmentRule>,
    pub apportionment_runs: HashMap<(voltvend_domain::ApportionmentRuleId, i32), crate::records::ApportionmentRun>,
    pub floor_areas: HashMap<PremisesId, crate::records::FloorArea>,
    pub fee_policies: HashMap<PremisesId, crate::records::FeePolicy>,
    pub fee_schedules: HashMap<voltvend_domain::FeeScheduleId, crate::records::FeeSchedule>,
    pub fee_runs: HashMap<(voltvend_domain::FeeScheduleId, i32), crate::records::FeeRun>,
    pub fee_charges: HashMap<crate::records::FeeChargeKey, crate::records::FeeCharge>,
    pub fee_payments: Vec<crate::records::FeePayment>,
    pub fee_allocations: Vec<crate::records::FeeAllocation>,
    pub approvals: HashMap<ApprovalId, ApprovalRecord>,
    pub campaigns: HashMap<CampaignId, KeyCampaign>,
    pub meter_tokens: Vec<MeterTokenRecord>,
}

impl MemoryDb {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one operation on its own, as if it were the only one in its batch.
    pub fn run(
        &mut self,
        op: &Operation,
        render: Option<&Renderer>,
        ctx: &Context,
        at: Timestamp,
    ) -> Result<Applied, OpError> {
        let mut ws = match block_on(load(self, std::slice::from_ref(op))) {
            Ok(ws) => ws,
            Err(never) => match never {},
        };
        let result = execute(&mut ws, op, render, ctx, at);
        self.write(ws.pending());
        result
    }

    /// Applies operations as one batch, as the stores' writer does: loaded once, applied in order (each
    /// operation sees what the ones before it changed), written once.
    pub fn run_batch(&mut self, ops: &[Operation], ctx: &Context, at: Timestamp) -> Vec<Result<Applied, OpError>> {
        let mut ws = match block_on(load(self, ops)) {
            Ok(ws) => ws,
            Err(never) => match never {},
        };
        let results = ops.iter().map(|op| execute(&mut ws, op, None, ctx, at)).collect();
        self.write(ws.pending());
        results
    }

    /// Writes what a workspace changed.
    pub fn write(&mut self, c: Changes) {
        for p in c.premises {
            self.premises.insert(p.id, p);
        }
        for r in c.roles {
            self.roles.insert(r.name.clone(), r);
        }
        for o in c.operators {
            self.operators.insert(o.id, o);
        }
        for x in c.customers {
            self.customers.insert(x.id, x);
        }
        for a in c.ledger.accounts {
            self.ledger_accounts.insert(a.id, (a, Balance::default()));
        }
        for t in c.ledger.transfers {
            self.transfers.insert(t.seq, t);
        }
        for (id, b) in c.ledger.balances {
            if let Some(entry) = self.ledger_accounts.get_mut(&id) {
                entry.1 = b;
            }
        }
        for b in c.books {
            self.books.insert(b.id, b);
        }
        for v in c.vending_points {
            self.vending_points.insert(v.id, v);
        }
        for a in c.accounts {
            self.accounts.insert(a.account.id, a);
        }
        for m in c.meters {
            self.meters.insert(m.meter.id, m);
        }
        for s in c.shifts {
            self.shifts.insert(s.id, s);
        }
        for s in c.sts {
            self.sts.insert(s.meter_id, s);
        }
        for o in c.opg {
            self.opg.insert(o.meter_id, o);
        }
        for k in c.vending_keys {
            self.vending_keys.insert((k.sgc, k.krn), k);
        }
        for k in c.card_keys {
            self.card_keys.insert(k.key_no, k);
        }
        for m in c.meter_cards {
            self.meter_cards.insert(m.meter_id, m);
        }
        for s in c.sessions {
            self.sessions.insert(s.id_hash, s);
        }
        for t in c.api_tokens {
            self.api_tokens.insert(t.id, t);
        }
        for r in c.refused_payments {
            self.refused_payments.insert(r.operation_id, r);
        }
        for ch in c.payment_channels {
            self.payment_channels.insert(ch.id, ch);
        }
        for i in c.payment_intents {
            self.payment_intents.insert(i.id, i);
        }
        for a in c.approvals {
            self.approvals.insert(a.id, a);
        }
        for k in c.campaigns {
            self.campaigns.insert(k.id, k);
        }
        self.meter_tokens.extend(c.meter_tokens);
        self.payment_statements.extend(c.payment_statements);
        for m in c.meter_categories {
            self.meter_categories.insert(m.meter_id, m);
        }
        for r in c.apportionment_rules {
            self.apportionment_rules.insert(r.id, r);
        }
        for r in c.apportionment_runs {
            self.apportionment_runs.insert((r.rule_id, r.period), r);
        }
        for f in c.floor_areas {
            self.floor_areas.insert(f.premises_id, f);
        }
        for f in c.fee_policies {
            self.fee_policies.insert(f.premises_id, f);
        }
        for f in c.fee_schedules {
            self.fee_schedules.insert(f.id, f);
        }
        for r in c.fee_runs {
            self.fee_runs.insert((r.schedule_id, r.period), r);
        }
        for f in c.fee_charges {
            self.fee_charges.insert(f.key(), f);
        }
        self.fee_payments.extend(c.fee_payments);
        self.fee_allocations.extend(c.fee_allocations);
        for (a, code, state) in c.pricing {
            self.pricing.insert((a, code), state);
        }
        for r in c.reading_states {
            self.reading_states.insert(r.meter_id, r);
        }
        for x in c.controls {
            self.controls.insert(x.meter_id, x);
        }
        for x in c.commands {
            self.commands.insert(x.id, x);
        }
        self.tariffs.extend(c.tariffs);
        self.readings.extend(c.readings);
        for d in c.demands {
            self.demands.entry((d.meter_id, d.demand.at)).or_insert(d);
        }
        self.sales.extend(c.sales);
        self.outbox.extend(c.outbox);
        for i in c.idempotency {
            self.idempotency.insert(i.operation_id, i);
        }
        self.audit.extend(c.audit);
        if let Some(head) = c.audit_head {
            self.audit_head = head;
        }
    }

    /// A wallet-style balance of a ledger account on its normal side.
    pub fn balance(&self, id: LedgerAccountId) -> Option<i64> {
        self.ledger_accounts.get(&id).map(|(a, b)| b.normal(a.kind.normal_side()))
    }

    /// Every ledger invariant, the receipt numbering and the audit chain.
    pub fn check(&self) -> Vec<String> {
        let mut book = LedgerBook::new();
        for (a, b) in self.ledger_accounts.values() {
            book.load_account(a.clone(), *b);
        }
        for t in self.transfers.values() {
            book.load_transfer(t.clone());
        }
        let mut problems: Vec<String> = book.check_invariants().err().into_iter().collect();
        for (i, (seq, _)) in self.transfers.iter().enumerate() {
            if *seq != i as i64 + 1 {
                problems.push(format!("transfer sequence has a gap before {seq}"));
                break;
            }
        }
        // 集团财务: each property's books balance on their own; a property that keeps no books in a currency is
        // part of the group's.
        let mut properties: BTreeMap<(PremisesId, voltvend_domain::Currency), (i64, i64)> = BTreeMap::new();
        for (a, b) in self.ledger_accounts.values() {
            let (property, group) = self
                .premises
                .get(&a.premises_id)
                .map_or((a.premises_id, a.premises_id), |p| (p.property(), p.path.first().copied().unwrap_or(p.id)));
            let keeps_books = self.books.values().any(|x| {
                x.currency == a.currency && self.premises.get(&x.premises_id).is_some_and(|p| p.property() == property)
            });
            let entity = if keeps_books { property } else { group };
            let sums = properties.entry((entity, a.currency)).or_default();
            (sums.0, sums.1) = (sums.0 + b.debits_minor, sums.1 + b.credits_minor);
        }
        for ((property, currency), (d, c)) in properties {
            if d != c {
                problems.push(format!("the books of {property} in {currency} do not balance: {d} / {c}"));
            }
        }
        // Sales and payments of rent and fees share each vending point's receipt series.
        let mut receipts: HashMap<VendingPointId, Vec<i64>> = HashMap::new();
        for (vp, no) in self
            .sales
            .iter()
            .map(|s| (s.vending_point_id, s.receipt_no))
            .chain(self.fee_payments.iter().map(|f| (f.vending_point_id, f.receipt_no)))
        {
            receipts.entry(vp).or_default().push(no);
        }
        // Each fee schedule's receivable is what its charges still owe.
        for f in self.fee_schedules.values() {
            let balance = self.ledger_accounts.get(&f.receivable).map_or(0, |(_, b)| b.normal(Side::Debit));
            let unpaid: i64 =
                self.fee_charges.values().filter(|c| c.schedule_id == f.id).map(|c| c.outstanding_minor()).sum();
            if balance != unpaid {
                problems.push(format!("fee schedule {}: receivable {balance}, charges owe {unpaid}", f.id));
            }
        }
        for (vp, mut numbers) in receipts {
            numbers.sort_unstable();
            let last = self.vending_points.get(&vp).map_or(0, |v| v.last_receipt_no);
            if numbers != (1..=last).collect::<Vec<_>>() {
                problems.push(format!("receipts of vending point {vp} are not 1..{last} without gaps"));
            }
        }
        let (audit, head) = crate::audit::verify(AuditHead::default(), &self.audit);
        problems.extend(audit);
        if head != self.audit_head {
            problems.push("the audit head does not match the last audit record".into());
        }
        problems
    }

    /// The wallet balance (credits − debits) of an account.
    pub fn wallet_balance(&self, account: AccountId) -> Option<i64> {
        let rec = self.accounts.get(&account)?;
        self.ledger_accounts.get(&rec.wallet).map(|(_, b)| b.normal(Side::Credit))
    }
}

/// Polls a future that never waits (every [`MemoryDb`] read is ready at once).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context as TaskContext, Poll, Waker};
    let mut f = std::pin::pin!(f);
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn pick<K: std::hash::Hash + Eq, V: Clone>(map: &HashMap<K, V>, keys: &[K]) -> Vec<V> {
    keys.iter().filter_map(|k| map.get(k).cloned()).collect()
}

impl Source for MemoryDb {
    type Error = Infallible;

    async fn idempotency(&mut self, ids: &[OperationId]) -> Result<Vec<IdempotencyRecord>, Infallible> {
        Ok(pick(&self.idempotency, ids))
    }
    async fn premises(&mut self, ids: &[PremisesId]) -> Result<Vec<Premises>, Infallible> {
        Ok(pick(&self.premises, ids))
    }
    async fn operators(&mut self, ids: &[OperatorId]) -> Result<Vec<Operator>, Infallible> {
        Ok(pick(&self.operators, ids))
    }
    async fn operators_by_username(&mut self, names: &[String]) -> Result<Vec<Operator>, Infallible> {
        Ok(self.operators.values().filter(|o| names.contains(&o.username)).cloned().collect())
    }
    async fn customers(&mut self, ids: &[CustomerId]) -> Result<Vec<Customer>, Infallible> {
        Ok(pick(&self.customers, ids))
    }
    async fn accounts(&mut self, ids: &[AccountId]) -> Result<Vec<AccountRecord>, Infallible> {
        Ok(pick(&self.accounts, ids))
    }
    async fn meters(&mut self, ids: &[MeterId]) -> Result<Vec<MeterRecord>, Infallible> {
        Ok(pick(&self.meters, ids))
    }
    async fn meters_by_serial(&mut self, serials: &[String]) -> Result<Vec<MeterRecord>, Infallible> {
        Ok(self.meters.values().filter(|m| serials.contains(&m.meter.serial)).cloned().collect())
    }
    async fn meters_of_accounts(&mut self, accounts: &[AccountId]) -> Result<Vec<MeterRecord>, Infallible> {
        Ok(self
            .meters
            .values()
            .filter(|m| m.meter.account_id.is_some_and(|a| accounts.contains(&a)))
            .cloned()
            .collect())
    }
    async fn vending_points(&mut self, ids: &[VendingPointId]) -> Result<Vec<VendingPoint>, Infallible> {
        Ok(pick(&self.vending_points, ids))
    }
    async fn shifts(&mut self, ids: &[ShiftId]) -> Result<Vec<Shift>, Infallible> {
        Ok(pick(&self.shifts, ids))
    }
    async fn books(&mut self, ids: &[BooksId]) -> Result<Vec<Books>, Infallible> {
        Ok(pick(&self.books, ids))
    }
    async fn ledger_accounts(&mut self, ids: &[LedgerAccountId]) -> Result<Vec<(LedgerAccount, Balance)>, Infallible> {
        Ok(pick(&self.ledger_accounts, ids))
    }
    async fn transfers(&mut self, ids: &[TransferId]) -> Result<Vec<Transfer>, Infallible> {
        Ok(self.transfers.values().filter(|t| ids.contains(&t.request.id)).cloned().collect())
    }
    async fn corrections_of(&mut self, targets: &[TransferId]) -> Result<Vec<Transfer>, Infallible> {
        Ok(self
            .transfers
            .values()
            .filter(|t| t.request.corrects.is_some_and(|c| targets.contains(&c)))
            .cloned()
            .collect())
    }
    async fn sts_states(&mut self, meters: &[MeterId]) -> Result<Vec<StsState>, Infallible> {
        Ok(pick(&self.sts, meters))
    }
    async fn pricing_states(
        &mut self,
        keys: &[(AccountId, String)],
    ) -> Result<Vec<(AccountId, String, PricingState)>, Infallible> {
        Ok(keys.iter().filter_map(|k| self.pricing.get(k).map(|s| (k.0, k.1.clone(), s.clone()))).collect())
    }
    async fn reading_states(&mut self, meters: &[MeterId]) -> Result<Vec<ReadingState>, Infallible> {
        Ok(pick(&self.reading_states, meters))
    }
    async fn meter_controls(&mut self, meters: &[MeterId]) -> Result<Vec<MeterControl>, Infallible> {
        Ok(pick(&self.controls, meters))
    }
    async fn meter_commands(&mut self, ids: &[CommandId]) -> Result<Vec<MeterCommand>, Infallible> {
        Ok(pick(&self.commands, ids))
    }
    async fn tariffs(&mut self, codes: &[String]) -> Result<Vec<TariffDoc>, Infallible> {
        let mut latest: HashMap<&str, &TariffDoc> = HashMap::new();
        for t in &self.tariffs {
            if codes.contains(&t.code) && latest.get(t.code.as_str()).is_none_or(|l| l.revision < t.revision) {
                latest.insert(&t.code, t);
            }
        }
        Ok(latest.into_values().cloned().collect())
    }
    async fn roles(&mut self, names: &[String]) -> Result<Vec<Role>, Infallible> {
        Ok(pick(&self.roles, names))
    }
    async fn sessions(&mut self, hashes: &[[u8; 32]]) -> Result<Vec<SessionRecord>, Infallible> {
        Ok(pick(&self.sessions, hashes))
    }
    async fn api_tokens(&mut self, ids: &[ApiTokenId]) -> Result<Vec<ApiTokenRecord>, Infallible> {
        Ok(pick(&self.api_tokens, ids))
    }
    async fn opg_states(&mut self, meters: &[MeterId]) -> Result<Vec<OpgState>, Infallible> {
        Ok(pick(&self.opg, meters))
    }
    async fn vending_keys(&mut self, keys: &[(u32, u8)]) -> Result<Vec<VendingKeyRecord>, Infallible> {
        Ok(pick(&self.vending_keys, keys))
    }
    async fn card_keys(&mut self, keys: &[u32]) -> Result<Vec<CardKeyRecord>, Infallible> {
        Ok(pick(&self.card_keys, keys))
    }
    async fn meter_cards(&mut self, meters: &[MeterId]) -> Result<Vec<MeterCard>, Infallible> {
        Ok(pick(&self.meter_cards, meters))
    }
    async fn meter_cards_by_serial(&mut self, serials: &[String]) -> Result<Vec<MeterCard>, Infallible> {
        Ok(self
            .meter_cards
            .values()
            .filter(|c| serials.contains(&c.serial) && c.status != crate::records::CardStatus::Returned)
            .cloned()
            .collect())
    }
    async fn refused_payments(&mut self, ids: &[OperationId]) -> Result<Vec<RefusedPayment>, Infallible> {
        Ok(pick(&self.refused_payments, ids))
    }
    async fn payment_channels(
        &mut self,
        ids: &[voltvend_domain::PaymentChannelId],
    ) -> Result<Vec<PaymentChannel>, Infallible> {
        Ok(pick(&self.payment_channels, ids))
    }
    async fn payment_intents(
        &mut self,
        ids: &[voltvend_domain::PaymentIntentId],
    ) -> Result<Vec<PaymentIntent>, Infallible> {
        Ok(pick(&self.payment_intents, ids))
    }
    async fn campaigns(&mut self, ids: &[CampaignId]) -> Result<Vec<KeyCampaign>, Infallible> {
        Ok(pick(&self.campaigns, ids))
    }
    async fn approvals(&mut self, ids: &[ApprovalId]) -> Result<Vec<ApprovalRecord>, Infallible> {
        Ok(pick(&self.approvals, ids))
    }
    async fn sales(&mut self, ids: &[OperationId]) -> Result<Vec<SaleRecord>, Infallible> {
        Ok(self.sales.iter().filter(|s| ids.contains(&s.operation_id)).cloned().collect())
    }
    async fn open_shifts(&mut self, operators: &[OperatorId]) -> Result<Vec<Shift>, Infallible> {
        Ok(self
            .shifts
            .values()
            .filter(|s| operators.contains(&s.operator_id) && s.status == voltvend_domain::ShiftStatus::Open)
            .cloned()
            .collect())
    }
    async fn meter_categories(&mut self, meters: &[MeterId]) -> Result<Vec<crate::records::MeterCategory>, Infallible> {
        Ok(pick(&self.meter_categories, meters))
    }
    async fn apportionment_rules(
        &mut self,
        ids: &[voltvend_domain::ApportionmentRuleId],
    ) -> Result<Vec<crate::records::ApportionmentRule>, Infallible> {
        Ok(pick(&self.apportionment_rules, ids))
    }
    async fn apportionment_runs(
        &mut self,
        keys: &[(voltvend_domain::ApportionmentRuleId, i32)],
    ) -> Result<Vec<crate::records::ApportionmentRun>, Infallible> {
        Ok(pick(&self.apportionment_runs, keys))
    }
    async fn meters_at(&mut self, premises: &[PremisesId]) -> Result<Vec<MeterRecord>, Infallible> {
        Ok(self
            .meters
            .values()
            .filter(|m| m.meter.premises_id.is_some_and(|p| premises.contains(&p)))
            .cloned()
            .collect())
    }
    async fn consumption(
        &mut self,
        spans: &[(MeterId, Timestamp, Timestamp)],
    ) -> Result<Vec<crate::records::SpanConsumption>, Infallible> {
        use crate::records::{ReadingStatus, SpanConsumption};
        Ok(spans
            .iter()
            .map(|(meter_id, from, to)| {
                let rows = self
                    .readings
                    .iter()
                    .filter(|r| r.meter_id == *meter_id && r.reading.at >= *from && r.reading.at < *to);
                let mut c = SpanConsumption::none(*meter_id, *from, *to);
                for r in rows {
                    c.readings += 1;
                    match r.status {
                        ReadingStatus::Flagged => c.flagged += 1,
                        ReadingStatus::Billed | ReadingStatus::Measured => c.consumption_milli += r.consumption_milli,
                    }
                }
                c
            })
            .collect())
    }
    async fn floor_areas(&mut self, premises: &[PremisesId]) -> Result<Vec<crate::records::FloorArea>, Infallible> {
        Ok(pick(&self.floor_areas, premises))
    }
    async fn fee_policies(&mut self, premises: &[PremisesId]) -> Result<Vec<crate::records::FeePolicy>, Infallible> {
        Ok(pick(&self.fee_policies, premises))
    }
    async fn fee_schedules(
        &mut self,
        ids: &[voltvend_domain::FeeScheduleId],
    ) -> Result<Vec<crate::records::FeeSchedule>, Infallible> {
        Ok(pick(&self.fee_schedules, ids))
    }
    async fn books_at(&mut self, premises: &[PremisesId]) -> Result<Vec<Books>, Infallible> {
        Ok(self.books.values().filter(|b| premises.contains(&b.premises_id)).cloned().collect())
    }
    async fn postpaid_schedules(&mut self) -> Result<Vec<crate::records::FeeSchedule>, Infallible> {
        let postpaid = |s: &&crate::records::FeeSchedule| s.basis == voltvend_domain::fees::FeeBasis::Postpaid;
        Ok(self.fee_schedules.values().filter(postpaid).cloned().collect())
    }
    async fn fee_runs(
        &mut self,
        keys: &[(voltvend_domain::FeeScheduleId, i32)],
    ) -> Result<Vec<crate::records::FeeRun>, Infallible> {
        Ok(pick(&self.fee_runs, keys))
    }
    async fn fee_payments(&mut self, ids: &[OperationId]) -> Result<Vec<crate::records::FeePayment>, Infallible> {
        Ok(self.fee_payments.iter().filter(|p| ids.contains(&p.operation_id)).cloned().collect())
    }
    async fn fee_charges(
        &mut self,
        keys: &[(voltvend_domain::FeeScheduleId, i32, AccountId)],
    ) -> Result<Vec<crate::records::FeeCharge>, Infallible> {
        Ok(self
            .fee_charges
            .values()
            .filter(|c| keys.contains(&(c.schedule_id, c.period, c.account_id)))
            .cloned()
            .collect())
    }
    async fn unpaid_fee_charges(
        &mut self,
        accounts: &[AccountId],
    ) -> Result<Vec<crate::records::FeeCharge>, Infallible> {
        Ok(self
            .fee_charges
            .values()
            .filter(|c| accounts.contains(&c.account_id) && c.outstanding_minor() > 0)
            .cloned()
            .collect())
    }
    async fn units_within(&mut self, sites: &[PremisesId]) -> Result<Vec<(PremisesId, PremisesId)>, Infallible> {
        let mut out = Vec::new();
        for p in self.premises.values().filter(|p| p.level == voltvend_domain::PremisesLevel::Unit) {
            for site in sites.iter().filter(|s| p.path.contains(s)) {
                out.push((*site, p.id));
            }
        }
        Ok(out)
    }
    async fn accounts_at(&mut self, premises: &[PremisesId]) -> Result<Vec<AccountRecord>, Infallible> {
        Ok(self.accounts.values().filter(|a| premises.contains(&a.account.premises_id)).cloned().collect())
    }
    async fn heads(&mut self) -> Result<(i64, AuditHead), Infallible> {
        Ok((self.transfers.keys().next_back().copied().unwrap_or(0), self.audit_head))
    }
}
