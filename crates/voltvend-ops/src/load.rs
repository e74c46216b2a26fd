//! Loading the state a batch of operations touches, once for the whole batch.
//!
//! Each command names the state it touches directly (its footprint: the account, the meter, the shift…);
//! the loader follows the references from what it loaded (a meter to its account, an account to its wallet
//! and books, a shift to its drawer) in a fixed order, asking storage for every key of one kind at once. The
//! order is the only place that knows which records refer to which, so the SQL stores and the in-memory
//! model load exactly the same state.

use std::collections::BTreeSet;
use std::future::Future;

use voltvend_domain::ledger::Balance;
use voltvend_domain::tariff::pricing::PricingState;
use voltvend_domain::{
    AccountId, ApiTokenId, ApprovalId, Books, BooksId, BuiltinRole, CampaignId, CommandId, Customer, CustomerId,
    LedgerAccount, LedgerAccountId, MeterId, OperationId, Operator, OperatorId, Premises, PremisesId, Role, Shift,
    ShiftId, Transfer, TransferId, VendingPoint, VendingPointId,
};

use crate::command::{
    Command, CustomerRef, Operation, Refund, Rewrap, Sale, StsManagement, named_ledger_accounts, transfer_uuid,
};
use crate::records::{
    AccountRecord, ApiTokenRecord, ApprovalRecord, CardKeyRecord, Correction, CorrectionKind, IdempotencyRecord,
    KeyCampaign, MeterCard, MeterCommand, MeterControl, MeterRecord, OpgState, PaymentChannel, PaymentIntent,
    ReadingState, RefusedPayment, SaleRecord, SessionRecord, StsState, TariffDoc, VendingKeyRecord,
};
use crate::workspace::{AuditHead, Workspace};

/// Storage as the loader sees it: batched reads by key. Every method returns the rows that exist among the
/// keys asked for, in any order. Implemented by the SQL stores (inside the batch's write transaction) and by
/// the in-memory model.
pub trait Source {
    type Error;

    fn idempotency(
        &mut self,
        ids: &[OperationId],
    ) -> impl Future<Output = Result<Vec<IdempotencyRecord>, Self::Error>> + Send;
    fn premises(&mut self, ids: &[PremisesId]) -> impl Future<Output = Result<Vec<Premises>, Self::Error>> + Send;
    fn operators(&mut self, ids: &[OperatorId]) -> impl Future<Output = Result<Vec<Operator>, Self::Error>> + Send;
    fn operators_by_username(
        &mut self,
        usernames: &[String],
    ) -> impl Future<Output = Result<Vec<Operator>, Self::Error>> + Send;
    fn customers(&mut self, ids: &[CustomerId]) -> impl Future<Output = Result<Vec<Customer>, Self::Error>> + Send;
    fn accounts(&mut self, ids: &[AccountId]) -> impl Future<Output = Result<Vec<AccountRecord>, Self::Error>> + Send;
    fn meters(&mut self, ids: &[MeterId]) -> impl Future<Output = Result<Vec<MeterRecord>, Self::Error>> + Send;
    fn meters_by_serial(
        &mut self,
        serials: &[String],
    ) -> impl Future<Output = Result<Vec<MeterRecord>, Self::Error>> + Send;
    /// Every meter bound to one of these accounts (whatever its state).
    fn meters_of_accounts(
        &mut self,
        accounts: &[AccountId],
    ) -> impl Future<Output = Result<Vec<MeterRecord>, Self::Error>> + Send;
    fn vending_points(
        &mut self,
        ids: &[VendingPointId],
    ) -> impl Future<Output = Result<Vec<VendingPoint>, Self::Error>> + Send;
    fn shifts(&mut self, ids: &[ShiftId]) -> impl Future<Output = Result<Vec<Shift>, Self::Error>> + Send;
    fn books(&mut self, ids: &[BooksId]) -> impl Future<Output = Result<Vec<Books>, Self::Error>> + Send;
    fn ledger_accounts(
        &mut self,
        ids: &[LedgerAccountId],
    ) -> impl Future<Output = Result<Vec<(LedgerAccount, Balance)>, Self::Error>> + Send;
    fn transfers(&mut self, ids: &[TransferId]) -> impl Future<Output = Result<Vec<Transfer>, Self::Error>> + Send;
    /// Every correction whose target is among `targets`.
    fn corrections_of(
        &mut self,
        targets: &[TransferId],
    ) -> impl Future<Output = Result<Vec<Transfer>, Self::Error>> + Send;
    fn sts_states(&mut self, meters: &[MeterId]) -> impl Future<Output = Result<Vec<StsState>, Self::Error>> + Send;
    fn pricing_states(
        &mut self,
        keys: &[(AccountId, String)],
    ) -> impl Future<Output = Result<Vec<(AccountId, String, PricingState)>, Self::Error>> + Send;
    fn reading_states(
        &mut self,
        meters: &[MeterId],
    ) -> impl Future<Output = Result<Vec<ReadingState>, Self::Error>> + Send;
    fn meter_controls(
        &mut self,
        meters: &[MeterId],
    ) -> impl Future<Output = Result<Vec<MeterControl>, Self::Error>> + Send;
    fn meter_commands(
        &mut self,
        ids: &[CommandId],
    ) -> impl Future<Output = Result<Vec<MeterCommand>, Self::Error>> + Send;
    /// The latest revision of each tariff code.
    fn tariffs(&mut self, codes: &[String]) -> impl Future<Output = Result<Vec<TariffDoc>, Self::Error>> + Send;
    /// Custom roles by name.
    fn roles(&mut self, names: &[String]) -> impl Future<Output = Result<Vec<Role>, Self::Error>> + Send;
    fn sessions(&mut self, hashes: &[[u8; 32]])
    -> impl Future<Output = Result<Vec<SessionRecord>, Self::Error>> + Send;
    fn api_tokens(
        &mut self,
        ids: &[ApiTokenId],
    ) -> impl Future<Output = Result<Vec<ApiTokenRecord>, Self::Error>> + Send;
    fn opg_states(&mut self, meters: &[MeterId]) -> impl Future<Output = Result<Vec<OpgState>, Self::Error>> + Send;
    fn vending_keys(
        &mut self,
        keys: &[(u32, u8)],
    ) -> impl Future<Output = Result<Vec<VendingKeyRecord>, Self::Error>> + Send;
    fn card_keys(&mut self, keys: &[u32]) -> impl Future<Output = Result<Vec<CardKeyRecord>, Self::Error>> + Send;
    fn meter_cards(&mut self, meters: &[MeterId]) -> impl Future<Output = Result<Vec<MeterCard>, Self::Error>> + Send;
    /// The meters whose current card has one of these serials and was not handed back (a returned card is
    /// blank again, free to be issued anew).
    fn meter_cards_by_serial(
        &mut self,
        serials: &[String],
    ) -> impl Future<Output = Result<Vec<MeterCard>, Self::Error>> + Send;
    fn refused_payments(
        &mut self,
        ids: &[OperationId],
    ) -> impl Future<Output = Result<Vec<RefusedPayment>, Self::Error>> + Send;
    fn payment_channels(
        &mut self,
        ids: &[voltvend_domain::PaymentChannelId],
    ) -> impl Future<Output = Result<Vec<PaymentChannel>, Self::Error>> + Send;
    fn payment_intents(
        &mut self,
        ids: &[voltvend_domain::PaymentIntentId],
    ) -> impl Future<Output = Result<Vec<PaymentIntent>, Self::Error>> + Send;
    fn campaigns(&mut self, ids: &[CampaignId]) -> impl Future<Output = Result<Vec<KeyCampaign>, Self::Error>> + Send;
    /// Corrections asked for, by id.
    fn approvals(
        &mut self,
        ids: &[ApprovalId],
    ) -> impl Future<Output = Result<Vec<ApprovalRecord>, Self::Error>> + Send;
    /// Sales by their operation ids.
    fn sales(&mut self, ids: &[OperationId]) -> impl Future<Output = Result<Vec<SaleRecord>, Self::Error>> + Send;
    /// The open shifts of these operators.
    fn open_shifts(&mut self, operators: &[OperatorId])
    -> impl Future<Output = Result<Vec<Shift>, Self::Error>> + Send;
    fn meter_categories(
        &mut self,
        meters: &[MeterId],
    ) -> impl Future<Output = Result<Vec<crate::records::MeterCategory>, Self::Error>> + Send;
    fn apportionment_rules(
        &mut self,
        ids: &[voltvend_domain::ApportionmentRuleId],
    ) -> impl Future<Output = Result<Vec<crate::records::ApportionmentRule>, Self::Error>> + Send;
    /// Posted months of apportionment rules, by rule and month.
    fn apportionment_runs(
        &mut self,
        keys: &[(voltvend_domain::ApportionmentRuleId, i32)],
    ) -> impl Future<Output = Result<Vec<crate::records::ApportionmentRun>, Self::Error>> + Send;
    /// Every meter installed at one of these premises (whatever its state now).
    fn meters_at(
        &mut self,
        premises: &[PremisesId],
    ) -> impl Future<Output = Result<Vec<MeterRecord>, Self::Error>> + Send;
    /// What each meter's stored readings counted over each span `(meter, from, to)`: the consumption of its
    /// billed and measured readings taken at or after `from` and before `to`, and how many were flagged. One
    /// answer per span that has readings; a span with none may be left out.
    fn consumption(
        &mut self,
        spans: &[(MeterId, jiff::Timestamp, jiff::Timestamp)],
    ) -> impl Future<Output = Result<Vec<crate::records::SpanConsumption>, Self::Error>> + Send;
    fn floor_areas(
        &mut self,
        premises: &[PremisesId],
    ) -> impl Future<Output = Result<Vec<crate::records::FloorArea>, Self::Error>> + Send;
    fn fee_policies(
        &mut self,
        premises: &[PremisesId],
    ) -> impl Future<Output = Result<Vec<crate::records::FeePolicy>, Self::Error>> + Send;
    fn fee_schedules(
        &mut self,
        ids: &[voltvend_domain::FeeScheduleId],
    ) -> impl Future<Output = Result<Vec<crate::records::FeeSchedule>, Self::Error>> + Send;
    /// 集团财务: the books kept at any of these premises (a property's, the group's).
    fn books_at(&mut self, premises: &[PremisesId]) -> impl Future<Output = Result<Vec<Books>, Self::Error>> + Send;
    /// Every postpaid billing cycle (a new one must not overlap another's units).
    fn postpaid_schedules(
        &mut self,
    ) -> impl Future<Output = Result<Vec<crate::records::FeeSchedule>, Self::Error>> + Send;
    /// Issued months of fee schedules, by schedule and month.
    fn fee_runs(
        &mut self,
        keys: &[(voltvend_domain::FeeScheduleId, i32)],
    ) -> impl Future<Output = Result<Vec<crate::records::FeeRun>, Self::Error>> + Send;
    /// Fee payments by their operation ids, with their lines (`reversed` is not read: the ledger says it).
    fn fee_payments(
        &mut self,
        ids: &[OperationId],
    ) -> impl Future<Output = Result<Vec<crate::records::FeePayment>, Self::Error>> + Send;
    /// The charges of these schedules' months charged to these accounts, paid or not.
    fn fee_charges(
        &mut self,
        keys: &[(voltvend_domain::FeeScheduleId, i32, AccountId)],
    ) -> impl Future<Output = Result<Vec<crate::records::FeeCharge>, Self::Error>> + Send;
    /// The charges of these accounts not yet paid in full.
    fn unpaid_fee_charges(
        &mut self,
        accounts: &[AccountId],
    ) -> impl Future<Output = Result<Vec<crate::records::FeeCharge>, Self::Error>> + Send;
    /// The units within each of these sites (a unit site is its own only unit), as `(site, unit)`.
    fn units_within(
        &mut self,
        sites: &[PremisesId],
    ) -> impl Future<Output = Result<Vec<(PremisesId, PremisesId)>, Self::Error>> + Send;
    /// Every account (whatever its status) at one of these premises.
    fn accounts_at(
        &mut self,
        premises: &[PremisesId],
    ) -> impl Future<Output = Result<Vec<AccountRecord>, Self::Error>> + Send;
    /// The ledger's last sequence number and the head of the audit chain.
    fn heads(&mut self) -> impl Future<Output = Result<(i64, AuditHead), Self::Error>> + Send;
}

/// The keys a batch touches, collected from its commands and then from what was loaded.
#[derive(Debug, Default)]
struct Footprint {
    operations: BTreeSet<OperationId>,
    premises: BTreeSet<PremisesId>,
    operators: BTreeSet<OperatorId>,
    usernames: BTreeSet<String>,
    customers: BTreeSet<CustomerId>,
    accounts: BTreeSet<AccountId>,
    meters: BTreeSet<MeterId>,
    serials: BTreeSet<String>,
    /// Accounts whose every meter is loaded (operations on the account as a whole).
    account_meters: BTreeSet<AccountId>,
    vending_points: BTreeSet<VendingPointId>,
    shifts: BTreeSet<ShiftId>,
    books: BTreeSet<BooksId>,
    ledger: BTreeSet<LedgerAccountId>,
    transfers: BTreeSet<TransferId>,
    correction_targets: BTreeSet<TransferId>,
    sts: BTreeSet<MeterId>,
    reading_states: BTreeSet<MeterId>,
    commands: BTreeSet<CommandId>,
    tariffs: BTreeSet<String>,
    pricing: BTreeSet<(AccountId, String)>,
    roles: BTreeSet<String>,
    sessions: BTreeSet<[u8; 32]>,
    api_tokens: BTreeSet<ApiTokenId>,
    opg: BTreeSet<MeterId>,
    vending_keys: BTreeSet<(u32, u8)>,
    card_keys: BTreeSet<u32>,
    card_serials: BTreeSet<String>,
    refused_payments: BTreeSet<OperationId>,
    payment_channels: BTreeSet<voltvend_domain::PaymentChannelId>,
    payment_intents: BTreeSet<voltvend_domain::PaymentIntentId>,
    sales_made: BTreeSet<OperationId>,
    /// Sales a correction acts on: their transfers (with every correction of them) and shifts are loaded too.
    sales_corrected: BTreeSet<OperationId>,
    /// Fee payments a correction takes back: their transfers (with every correction of them), shifts, vending
    /// points, accounts with their meters, and the charges they paid are loaded too.
    fee_payments: BTreeSet<OperationId>,
    /// Charges a correction acts on, paid or not: `(schedule, month, account)`.
    fee_charge_keys: BTreeSet<(voltvend_domain::FeeScheduleId, i32, AccountId)>,
    /// Approvals asked for, each with the operation that decides it (whose footprint is the correction's).
    approvals: BTreeSet<ApprovalId>,
    campaigns: BTreeSet<CampaignId>,
    decisions: Vec<(OperationId, ApprovalId)>,
    open_shifts: BTreeSet<OperatorId>,
    /// Meters whose STS key record's supply group and revision need their vending key (and key changes that
    /// need the new one's).
    sts_key_changes: Vec<(MeterId, voltvend_sts::KeyChange)>,
    apportionment_rules: BTreeSet<voltvend_domain::ApportionmentRuleId>,
    /// Months of rules to post: their runs, their units' meters and every meter's consumption in the month.
    apportionment_periods: BTreeSet<(voltvend_domain::ApportionmentRuleId, i32)>,
    unit_premises: BTreeSet<PremisesId>,
    /// Rules made by operations of the batch (a month of one may be posted later in the same batch), as they
    /// will read.
    created_rules: Vec<crate::records::ApportionmentRule>,
    /// Meters whose category of use is set.
    categories: BTreeSet<MeterId>,
    /// Units whose floor area is set or read.
    floor_areas: BTreeSet<PremisesId>,
    /// Premises whose overdue-fee policy is set.
    fee_policy_targets: BTreeSet<PremisesId>,
    fee_schedules: BTreeSet<voltvend_domain::FeeScheduleId>,
    /// Months of fee schedules to issue: their runs, their sites' units and the accounts at them.
    fee_periods: BTreeSet<(voltvend_domain::FeeScheduleId, i32)>,
    /// Months dunned: their accounts' meters are loaded (a reminder is told to a meter).
    dunned_periods: BTreeSet<(voltvend_domain::FeeScheduleId, i32)>,
    /// Schedules made by operations of the batch, with their sites (a month of one may be issued later in it).
    created_schedules: Vec<(voltvend_domain::FeeScheduleId, PremisesId)>,
    /// A postpaid cycle is made, or a month issued: every postpaid cycle is loaded, with its site (one at the
    /// same site is refused; one within the issued schedule's site bills its own units).
    postpaid_cycle: bool,
    /// Months issued: every postpaid cycle's run of each is loaded (an enclosing cycle may have billed it).
    issued_periods: BTreeSet<i32>,
    /// Accounts sold to (at a counter or online): a postpaid one's every meter is loaded, to be reconnected
    /// when its bills are paid.
    sale_accounts: BTreeSet<AccountId>,
    /// Premises of accounts the batch opens (a month issued later in it may charge them, and a sale then read
    /// their overdue policies).
    new_account_premises: BTreeSet<PremisesId>,
    /// An operator's own transfer or a reversal: it names ledger accounts, not their books, so the books kept at
    /// their properties and group are loaded even within one property (ADR 0007; see `books_on_paths`).
    books_on_paths: bool,
}

fn list<T: Clone>(set: &BTreeSet<T>) -> Vec<T> {
    set.iter().cloned().collect()
}

impl Footprint {
    fn sale(&mut self, op: &Operation, s: &Sale, transfer_no: u32) {
        self.accounts.insert(s.account_id);
        self.sale_accounts.insert(s.account_id);
        self.meters.insert(s.meter_id);
        self.sts.insert(s.meter_id);
        self.shifts.insert(s.shift_id);
        self.transfers.insert(op.transfer_id(transfer_no));
        // A refused sale leaves a refused payment under the operation's id.
        self.refused_payments.insert(op.id);
    }

    /// An account settled as a whole: its meters, the refund's shift or account, the settlement's transfers.
    fn settlement(&mut self, op: &Operation, account: AccountId, refund: Option<Refund>) {
        self.accounts.insert(account);
        self.account_meters.insert(account);
        match refund {
            Some(Refund::Cash { shift_id }) => {
                self.shifts.insert(shift_id);
            }
            Some(Refund::ToAccount { account_id }) => {
                self.accounts.insert(account_id);
            }
            None => {}
        }
        // Up to three settlement transfers, and the buy-back of credit left on local meters.
        self.transfers.extend((0..4).map(|n| op.transfer_id(n)));
    }

    /// What applying a correction touches, for the operation `op` that applies it (or tries it, on request).
    fn correction(&mut self, op: OperationId, c: &Correction) {
        if let Some(sale) = c.sale {
            self.sales_made.insert(sale);
            self.sales_corrected.insert(sale);
        }
        self.accounts.extend(c.account_id);
        // An adjustment tells the account's meters that show its balance.
        if c.kind == CorrectionKind::Adjust {
            self.account_meters.extend(c.account_id);
        }
        if let Some(meter) = c.meter_id {
            self.meters.insert(meter);
            self.sts.insert(meter);
        }
        self.shifts.extend(c.shift_id);
        self.fee_payments.extend(c.fee_payment);
        if let (Some((schedule, period)), Some(account)) = (c.charge, c.account_id) {
            self.fee_schedules.insert(schedule);
            self.fee_charge_keys.insert((schedule, period, account));
            // A charge reduced may settle what kept the account's supply off: its meters are reconnected.
            self.account_meters.insert(account);
        }
        // A reversal leaves the money owed back as a refused payment under the operation's id.
        self.refused_payments.insert(op);
        self.transfers.extend((0..2).map(|n| TransferId::from_uuid(transfer_uuid(op, n))));
    }

    fn declare(&mut self, op: &Operation) {
        self.operations.insert(op.id);
        if let Some(scope) = op.actor.scope {
            self.premises.insert(scope);
        }
        self.operators.extend(op.actor.operator);
        match &op.command {
            Command::CreatePremises(p) => {
                self.premises.insert(p.id);
                self.premises.extend(p.parent);
            }
            Command::AddOperator(o) => {
                self.operators.insert(o.id);
                self.usernames.insert(o.username.clone());
                self.premises.insert(o.scope);
                if o.role.parse::<BuiltinRole>().is_err() {
                    self.roles.insert(o.role.clone());
                }
            }
            Command::CreateRole(r) => {
                self.roles.insert(r.name.clone());
            }
            Command::RecordLogin(l) => {
                self.usernames.insert(l.username.clone());
                if let crate::command::LoginAttempt::Succeeded(s) = &l.attempt {
                    self.sessions.insert(s.id_hash);
                    self.operators.insert(s.operator_id);
                }
            }
            Command::Logout(l) => {
                self.sessions.insert(l.session);
            }
            Command::LogoutEverywhere(l) => {
                self.operators.insert(l.operator_id);
            }
            Command::SetLanguage(l) => {
                self.operators.insert(l.operator_id);
            }
            Command::ChangePassword(p) => {
                self.operators.insert(p.operator_id);
            }
            Command::UnlockOperator(u) => {
                self.operators.insert(u.operator_id);
            }
            Command::CreateApiToken(t) => {
                self.api_tokens.insert(t.id);
                self.operators.insert(t.operator_id);
            }
            Command::RevokeApiToken(t) => {
                self.api_tokens.insert(t.token_id);
            }
            Command::ImportVendingKey(k) => {
                self.vending_keys.insert((k.sgc, k.krn));
            }
            Command::ImportCardKey(k) => {
                self.card_keys.insert(k.key_no);
            }
            Command::IssueCard(i) => {
                self.meters.insert(i.meter_id);
                self.card_serials.insert(i.serial.clone());
                self.card_keys.insert(i.key_no);
            }
            Command::IssueFieldCard(f) => {
                self.meters.insert(f.meter_id);
                self.card_serials.insert(f.serial.clone());
            }
            Command::SetCardStatus(s) => {
                self.meters.insert(s.meter_id);
            }
            Command::RecordCardRead(r) => {
                self.meters.insert(r.meter_id);
            }
            Command::RewrapSecrets(r) => {
                for item in &r.items {
                    match item {
                        Rewrap::VendingKey { sgc, krn, .. } => {
                            self.vending_keys.insert((*sgc, *krn));
                        }
                        Rewrap::OpenPaygo { meter_id, .. } => {
                            self.opg.insert(*meter_id);
                        }
                        Rewrap::CardKey { key_no, .. } => {
                            self.card_keys.insert(*key_no);
                        }
                    }
                }
            }
            Command::SettleVendingPoint(v) => {
                self.vending_points.insert(v.vending_point_id);
            }
            Command::IssueStsTokens(t) => {
                self.meters.insert(t.meter_id);
                if let StsManagement::KeyChange(k) = &t.request {
                    self.sts_key_changes.push((t.meter_id, *k));
                }
            }
            Command::IssueOpgToken(t) => {
                self.meters.insert(t.meter_id);
            }
            Command::ReprintReceipt(r) => {
                self.sales_made.insert(r.sale);
            }
            Command::CreditRefusedPayment(c) => {
                // The refused payment brings its account, meter and shift.
                self.refused_payments.insert(c.payment);
                self.transfers.insert(op.transfer_id(0));
            }
            Command::RefundRefusedPayment(r) => {
                self.refused_payments.insert(r.payment);
                self.shifts.extend(r.shift_id);
                self.transfers.insert(op.transfer_id(0));
            }
            Command::ImportTariff(t) => {
                self.tariffs.insert(t.code.clone());
            }
            Command::OpenBooks(b) => {
                self.books.insert(b.id);
                self.premises.insert(b.premises_id);
                self.ledger
                    .extend((1..=crate::apply::BOOKS_LEDGER_ACCOUNTS).map(|n| crate::apply::books_ledger_id(op, n)));
            }
            Command::OpenVendingPoint(v) => {
                self.vending_points.insert(v.id);
                self.premises.insert(v.premises_id);
                self.books.insert(v.books_id);
            }
            Command::ReceiveMeter(m) => {
                self.meters.insert(m.id);
                self.serials.insert(m.serial.clone());
                self.premises.extend(m.premises_id);
            }
            Command::OpenAccount(a) => {
                match &a.customer {
                    CustomerRef::New(c) => {
                        self.customers.insert(c.id);
                        self.premises.insert(c.premises_id);
                    }
                    CustomerRef::Existing(id) => {
                        self.customers.insert(*id);
                    }
                }
                self.accounts.insert(a.account_id);
                self.premises.insert(a.premises_id);
                self.new_account_premises.insert(a.premises_id);
                self.books.insert(a.books_id);
                self.ledger.insert(crate::apply::account_ledger_id(op, 1));
                self.ledger.insert(crate::apply::account_ledger_id(op, 2));
                for m in &a.meters {
                    self.meters.insert(m.meter_id);
                    self.sts.insert(m.meter_id);
                    self.reading_states.insert(m.meter_id);
                    self.tariffs.extend(m.tariff_code.clone());
                    if let Some(code) = &m.tariff_code {
                        self.pricing.insert((a.account_id, code.clone()));
                    }
                    if let Some(new) = &m.receive {
                        self.serials.insert(new.serial.clone());
                        self.premises.extend(new.premises_id);
                    }
                    if let Some(record) = &m.sts {
                        self.vending_keys.insert((record.params.sgc, record.params.krn));
                    }
                }
                if let Some(s) = &a.first_sale {
                    self.sale(op, s, 0);
                }
            }
            Command::OpenShift(s) => {
                self.shifts.insert(s.shift_id);
                self.vending_points.insert(s.vending_point_id);
                self.operators.insert(s.operator_id);
                self.open_shifts.insert(s.operator_id);
                self.ledger.insert(crate::apply::drawer_ledger_id(op));
            }
            Command::OpenPaymentChannel(c) => {
                self.payment_channels.insert(c.channel_id);
                self.books.insert(c.books_id);
                self.premises.insert(c.premises_id);
                let parts = crate::apply::payments::channel_parts(op, c.channel_id);
                self.vending_points.insert(parts.vending_point_id);
                self.operators.insert(parts.operator_id);
                self.usernames.insert(parts.username);
                self.open_shifts.insert(parts.operator_id);
                self.shifts.insert(parts.shift_id);
                self.ledger.insert(parts.clearing);
            }
            Command::SetPaymentChannelActive(c) => {
                self.payment_channels.insert(c.channel_id);
            }
            Command::CreatePaymentIntent(i) => {
                self.payment_intents.insert(i.intent_id);
                self.payment_channels.insert(i.channel_id);
                self.accounts.insert(i.account_id);
                self.meters.insert(i.meter_id);
            }
            Command::SettlePayment(p) => {
                self.payment_intents.insert(p.intent_id);
                self.transfers.insert(op.transfer_id(0));
                // A payment the sale refuses is kept as a refused payment under the operation's id.
                self.refused_payments.insert(op.id);
            }
            Command::ExpirePaymentIntent(e) => {
                self.payment_intents.insert(e.intent_id);
            }
            Command::RecordPaymentOrder(r) => {
                self.payment_intents.insert(r.intent_id);
            }
            Command::ImportPaymentStatement(i) => {
                self.payment_channels.insert(i.channel_id);
            }
            Command::SetMeterCategory(m) => {
                self.meters.insert(m.meter_id);
                self.categories.insert(m.meter_id);
            }
            Command::InstallMeter(i) => {
                self.meters.insert(i.meter_id);
                self.premises.insert(i.premises_id);
            }
            Command::CreateApportionmentRule(r) => {
                // The time is the writer's, unknown here; nothing the loader reads depends on it.
                self.created_rules.push(r.record(jiff::Timestamp::UNIX_EPOCH));
                self.apportionment_rules.insert(r.rule_id);
                self.premises.insert(r.premises_id);
                self.premises.extend(r.units.iter().map(|u| u.premises_id));
                self.meters.extend(r.parent_meter);
                self.meters.extend(r.common_meters.iter().copied());
            }
            Command::ApportionPeriod(a) => {
                // The rule brings its site, units and meters; a share charged per unit (transfer ids derived
                // from the operation's, new unless the operation was applied, when its record answers).
                self.apportionment_rules.insert(a.rule_id);
                self.apportionment_periods.insert((a.rule_id, a.period));
            }
            Command::SetFloorArea(f) => {
                self.premises.insert(f.premises_id);
                self.floor_areas.insert(f.premises_id);
            }
            Command::SetFeePolicy(f) => {
                self.premises.insert(f.premises_id);
                self.fee_policy_targets.insert(f.premises_id);
            }
            Command::CreateFeeSchedule(c) => {
                self.fee_schedules.insert(c.schedule_id);
                self.premises.insert(c.premises_id);
                self.ledger.extend((1..=2).map(|n| crate::apply::fees::schedule_ledger_id(op, n)));
                self.created_schedules.push((c.schedule_id, c.premises_id));
                self.postpaid_cycle |= c.basis == voltvend_domain::fees::FeeBasis::Postpaid;
            }
            Command::IssueFees(i) => {
                // The schedule brings its site, the site its units, the units their accounts.
                self.fee_schedules.insert(i.schedule_id);
                self.fee_periods.insert((i.schedule_id, i.period));
                self.transfers.insert(op.transfer_id(0));
                self.postpaid_cycle = true;
                self.issued_periods.insert(i.period);
            }
            Command::DunFees(i) | Command::DisconnectOverdue(i) => {
                // As for issuing: the site's units bring their accounts, the accounts their unpaid charges
                // and meters (a reminder is addressed to a meter of the account).
                self.fee_schedules.insert(i.schedule_id);
                self.fee_periods.insert((i.schedule_id, i.period));
                self.dunned_periods.insert((i.schedule_id, i.period));
                self.transfers.insert(op.transfer_id(0));
            }
            Command::PayFees(p) => {
                // The account brings its unpaid charges (as every account loaded does) and their schedules, and
                // its meters (a postpaid supply disconnected for its bills is reconnected when they are paid).
                self.accounts.insert(p.account_id);
                self.account_meters.insert(p.account_id);
                self.shifts.insert(p.shift_id);
                self.transfers.insert(op.transfer_id(0));
            }
            Command::CloseShift(s) => {
                self.shifts.insert(s.shift_id);
                self.transfers.insert(op.transfer_id(0));
            }
            Command::Sale(s) => self.sale(op, s, 0),
            Command::ApplyReadings(r) => {
                self.meters.insert(r.meter_id);
                self.reading_states.insert(r.meter_id);
                self.transfers.insert(op.transfer_id(0));
            }
            Command::SetMeterChannel(m) => {
                self.meters.insert(m.meter_id);
            }
            Command::RebaseReadings(m) => {
                self.meters.insert(m.meter_id);
                self.reading_states.insert(m.meter_id);
                if m.bill {
                    self.transfers.insert(op.transfer_id(0));
                }
            }
            Command::IssueMeterCommand(m) => {
                self.meters.insert(m.meter_id);
            }
            Command::RecordCommandAttempt(a) => {
                self.meters.insert(a.meter_id);
                self.commands.insert(a.command_id);
            }
            Command::UpdateCustomer(u) => {
                self.customers.insert(u.customer.id);
                self.premises.insert(u.customer.premises_id);
            }
            Command::SetAccountStatus(s) => {
                self.accounts.insert(s.account_id);
                self.account_meters.insert(s.account_id);
            }
            Command::CloseAccount(c) => {
                self.settlement(op, c.account_id, c.refund);
            }
            Command::TransferOwnership(t) => {
                self.settlement(op, t.account_id, t.refund);
                self.accounts.insert(t.new_account_id);
                match &t.customer {
                    CustomerRef::New(c) => {
                        self.customers.insert(c.id);
                        self.premises.insert(c.premises_id);
                    }
                    CustomerRef::Existing(id) => {
                        self.customers.insert(*id);
                    }
                }
                self.ledger.insert(crate::apply::account_ledger_id(op, 1));
                self.ledger.insert(crate::apply::account_ledger_id(op, 2));
            }
            Command::ReplaceMeter(r) => {
                self.meters.insert(r.old_meter_id);
                self.meters.insert(r.new_meter_id);
                if let Some(new) = &r.receive {
                    self.serials.insert(new.serial.clone());
                    self.premises.extend(new.premises_id);
                }
                if let Some(record) = &r.sts {
                    self.vending_keys.insert((record.params.sgc, record.params.krn));
                }
                self.transfers.insert(op.transfer_id(0));
            }
            Command::RequestCorrection(r) => {
                self.approvals.insert(r.approval_id);
                self.correction(op.id, &r.correction);
            }
            Command::DecideCorrection(d) => {
                self.approvals.insert(d.approval_id);
                self.decisions.push((op.id, d.approval_id));
            }
            Command::SwitchBillingMode(s) => {
                self.accounts.insert(s.account_id);
                self.account_meters.insert(s.account_id);
                self.transfers.insert(op.transfer_id(0));
            }
            Command::RecordMeterReturn(r) => {
                self.meters.insert(r.meter_id);
            }
            // An outbox row, and nothing it reads.
            Command::RaiseAlarm(_) => {}
            Command::PlanKeyCampaign(p) => {
                self.campaigns.insert(p.campaign_id);
                for m in &p.meters {
                    self.meters.insert(*m);
                    self.sts_key_changes.push((*m, p.change));
                }
            }
            Command::UpdateOperator(u) => {
                self.operators.insert(u.operator_id);
                self.premises.extend(u.scope);
                if let Some(role) = &u.role
                    && role.parse::<BuiltinRole>().is_err()
                {
                    self.roles.insert(role.clone());
                }
            }
            Command::EnterArrears(a) => {
                self.accounts.extend(a.lines.iter().map(|l| l.account_id));
                self.transfers.insert(op.transfer_id(0));
            }
            Command::Reverse(r) => {
                self.books_on_paths = true;
                self.transfers.insert(r.transfer_id);
                self.correction_targets.insert(r.transfer_id);
                self.transfers.insert(op.transfer_id(0));
                if let Some(s) = &r.reallocate {
                    self.sale(op, s, 1);
                }
            }
            Command::PostTransfer(t) => {
                self.books_on_paths = true;
                self.transfers.insert(t.id);
                self.ledger.extend(named_ledger_accounts(t));
                if let Some(target) = t.corrects {
                    self.transfers.insert(target);
                    self.correction_targets.insert(target);
                }
            }
        }
    }
}

/// Loads everything the operations touch into a new workspace.
pub async fn load<'a, S: Source + Send>(
    src: &mut S,
    ops: impl IntoIterator<Item = &'a Operation>,
) -> Result<Workspace, S::Error> {
    let mut fp = Footprint::default();
    for op in ops {
        fp.declare(op);
    }
    let (last_seq, head) = src.heads().await?;
    let mut ws = Workspace::new(last_seq, head);

    let ids = list(&fp.operations);
    for id in &ids {
        ws.idempotency.ask(*id);
    }
    for r in src.idempotency(&ids).await? {
        ws.idempotency.load(r.operation_id, r);
    }

    // Approvals first: a decision's footprint is the correction it decides.
    for id in &fp.approvals {
        ws.approvals.ask(*id);
    }
    let approvals = src.approvals(&list(&fp.approvals)).await?;
    for a in approvals {
        for (op, id) in fp.decisions.clone() {
            if id == a.id {
                fp.correction(op, &a.correction);
            }
        }
        fp.operators.insert(a.requested_by);
        fp.premises.insert(a.premises_id);
        ws.approvals.load(a.id, a);
    }

    // Payment intents, then their channels: a settlement sells through the channel's standing shift.
    for id in &fp.payment_intents {
        ws.payment_intents.ask(*id);
    }
    for i in src.payment_intents(&list(&fp.payment_intents)).await? {
        fp.payment_channels.insert(i.channel_id);
        fp.accounts.insert(i.account_id);
        fp.sale_accounts.insert(i.account_id);
        fp.meters.insert(i.meter_id);
        ws.payment_intents.load(i.id, i);
    }
    for id in &fp.payment_channels {
        ws.payment_channels.ask(*id);
    }
    for c in src.payment_channels(&list(&fp.payment_channels)).await? {
        fp.shifts.insert(c.shift_id);
        fp.vending_points.insert(c.vending_point_id);
        fp.books.insert(c.books_id);
        fp.premises.insert(c.premises_id);
        fp.operators.insert(c.operator_id);
        fp.ledger.insert(c.clearing);
        ws.payment_channels.load(c.id, c);
    }

    // Fee schedules name their site and ledger accounts; a month to issue needs the site's units and the
    // accounts at them.
    if fp.postpaid_cycle {
        for s in src.postpaid_schedules().await? {
            fp.fee_schedules.insert(s.id);
        }
    }
    for id in &fp.fee_schedules {
        ws.fee_schedules.ask(*id);
    }
    let mut sites = BTreeSet::new();
    // Sites whose accounts are told of a bill or a reminder, through a meter: a postpaid cycle's month issued,
    // any month dunned (a schedule made earlier in the batch, whose basis is not loaded, counts).
    let mut told = BTreeSet::new();
    for s in src.fee_schedules(&list(&fp.fee_schedules)).await? {
        if fp.fee_periods.iter().any(|(id, _)| *id == s.id) {
            sites.insert(s.premises_id);
            if s.basis == voltvend_domain::fees::FeeBasis::Postpaid
                || fp.dunned_periods.iter().any(|(id, _)| *id == s.id)
            {
                told.insert(s.premises_id);
            }
        }
        fp.premises.insert(s.premises_id);
        fp.ledger.extend([s.receivable, s.revenue]);
        ws.fee_schedules.load(s.id, s);
    }
    for (id, site) in &fp.created_schedules {
        if fp.fee_periods.iter().any(|(p, _)| p == id) {
            sites.insert(*site);
            told.insert(*site);
        }
    }
    let mut run_keys = fp.fee_periods.clone();
    for s in ws.fee_schedules.values().filter(|s| s.basis == voltvend_domain::fees::FeeBasis::Postpaid) {
        run_keys.extend(fp.issued_periods.iter().map(|p| (s.id, *p)));
    }
    for key in &run_keys {
        ws.fee_runs.ask(*key);
    }
    for r in src.fee_runs(&list(&run_keys)).await? {
        ws.fee_runs.load((r.schedule_id, r.period), r);
    }
    let mut within: std::collections::BTreeMap<PremisesId, Vec<PremisesId>> =
        sites.iter().map(|s| (*s, Vec::new())).collect();
    for (site, unit) in src.units_within(&list(&sites)).await? {
        if let Some(units) = within.get_mut(&site) {
            units.push(unit);
        }
    }
    let units: BTreeSet<PremisesId> = within.values().flatten().copied().collect();
    let told_units: BTreeSet<PremisesId> =
        within.iter().filter(|(site, _)| told.contains(*site)).flat_map(|(_, u)| u.iter().copied()).collect();
    fp.premises.extend(units.iter().copied());
    fp.floor_areas.extend(units.iter().copied());
    for (site, mut list) in within {
        list.sort();
        ws.units_within.load(site, list);
    }
    let mut at_unit: std::collections::BTreeMap<PremisesId, Vec<AccountId>> =
        units.iter().map(|u| (*u, Vec::new())).collect();
    for a in src.accounts_at(&list(&units)).await? {
        fp.accounts.insert(a.account.id);
        // A bill or a reminder is told to a meter of the account.
        if told_units.contains(&a.account.premises_id) {
            fp.account_meters.insert(a.account.id);
        }
        if let Some(ids) = at_unit.get_mut(&a.account.premises_id) {
            ids.push(a.account.id);
        }
    }
    for (unit, mut ids) in at_unit {
        ids.sort();
        ws.accounts_at.load(unit, ids);
    }
    for id in &fp.floor_areas {
        ws.floor_areas.ask(*id);
    }
    for f in src.floor_areas(&list(&fp.floor_areas)).await? {
        ws.floor_areas.load(f.premises_id, f);
    }

    // Apportionment rules name their site, units and meters; a month to post needs its units' meters too.
    for id in &fp.apportionment_rules {
        ws.apportionment_rules.ask(*id);
    }
    let stored = src.apportionment_rules(&list(&fp.apportionment_rules)).await?;
    // A rule made earlier in the batch: its month is loaded as a stored rule's would be.
    for r in stored.iter().chain(&fp.created_rules.clone()) {
        if fp.apportionment_periods.iter().any(|(id, _)| *id == r.id) {
            fp.premises.insert(r.premises_id);
            fp.premises.extend(r.units.iter().map(|u| u.premises_id));
            fp.unit_premises.extend(r.units.iter().map(|u| u.premises_id));
            fp.meters.extend(r.named_meters());
        }
    }
    for r in stored {
        ws.apportionment_rules.load(r.id, r);
    }
    for key in &fp.apportionment_periods {
        ws.apportionment_runs.ask(*key);
    }
    for r in src.apportionment_runs(&list(&fp.apportionment_periods)).await? {
        ws.apportionment_runs.load((r.rule_id, r.period), r);
    }
    let mut at_units: std::collections::BTreeMap<PremisesId, Vec<MeterId>> =
        fp.unit_premises.iter().map(|p| (*p, Vec::new())).collect();
    for m in src.meters_at(&list(&fp.unit_premises)).await? {
        if let Some(p) = m.meter.premises_id
            && let Some(ids) = at_units.get_mut(&p)
        {
            ids.push(m.meter.id);
            fp.meters.insert(m.meter.id);
        }
    }
    for (p, ids) in at_units {
        ws.unit_meters.load(p, ids);
    }

    // Records that refer to accounts, meters, shifts and operators: loaded first so that those are followed.
    for id in &fp.refused_payments {
        ws.refused_payments.ask(*id);
    }
    for r in src.refused_payments(&list(&fp.refused_payments)).await? {
        fp.accounts.insert(r.account_id);
        // Credited as a fee payment, which reconnects a postpaid supply its bills kept off.
        if r.purpose == crate::records::IntentPurpose::Fees {
            fp.account_meters.insert(r.account_id);
        }
        fp.meters.insert(r.meter_id);
        fp.shifts.insert(r.shift_id);
        fp.transfers.insert(r.transfer_id);
        ws.refused_payments.load(r.operation_id, r);
    }
    for id in &fp.sales_made {
        ws.sales_made.ask(*id);
    }
    for s in src.sales(&list(&fp.sales_made)).await? {
        if fp.sales_corrected.contains(&s.operation_id) {
            fp.correction_targets.insert(s.transfer_id);
            fp.shifts.insert(s.shift_id);
        }
        fp.accounts.insert(s.account_id);
        fp.meters.insert(s.meter_id);
        fp.vending_points.insert(s.vending_point_id);
        ws.sales_made.load(s.operation_id, s);
    }
    for id in &fp.fee_payments {
        ws.fee_payments_made.ask(*id);
    }
    for p in src.fee_payments(&list(&fp.fee_payments)).await? {
        fp.correction_targets.insert(p.transfer_id);
        fp.shifts.insert(p.shift_id);
        fp.vending_points.insert(p.vending_point_id);
        fp.accounts.insert(p.account_id);
        // The money is owed back through a refused payment, which names a meter of the account.
        fp.account_meters.insert(p.account_id);
        fp.fee_charge_keys.extend(p.lines.iter().map(|l| (l.schedule_id, l.period, p.account_id)));
        ws.fee_payments_made.load(p.operation_id, p);
    }
    for id in &fp.api_tokens {
        ws.api_tokens.ask(*id);
    }
    for t in src.api_tokens(&list(&fp.api_tokens)).await? {
        fp.operators.insert(t.operator_id);
        ws.api_tokens.load(t.id, t);
    }
    for h in &fp.sessions {
        ws.sessions.ask(*h);
    }
    for s in src.sessions(&list(&fp.sessions)).await? {
        fp.operators.insert(s.operator_id);
        ws.sessions.load(s.id_hash, s);
    }

    // Transfers (retried ids and correction targets) with every correction of each target.
    fp.transfers.extend(fp.correction_targets.iter().copied());
    for t in src.transfers(&list(&fp.transfers)).await? {
        if fp.correction_targets.contains(&t.request.id) {
            fp.ledger.extend(t.request.postings.iter().map(|p| p.account));
        }
        ws.book.load_transfer(t);
    }
    for t in src.corrections_of(&list(&fp.correction_targets)).await? {
        ws.book.load_transfer(t);
    }

    for s in src.shifts(&list(&fp.shifts)).await? {
        fp.vending_points.insert(s.vending_point_id);
        fp.ledger.insert(s.drawer);
        fp.operators.insert(s.operator_id);
        ws.shifts.load(s.id, s);
    }
    for id in &fp.shifts {
        ws.shifts.ask(*id);
    }

    for m in src.meters_of_accounts(&list(&fp.account_meters)).await? {
        fp.meters.insert(m.meter.id);
    }
    let mut meters = src.meters(&list(&fp.meters)).await?;
    meters.extend(src.meters_by_serial(&list(&fp.serials)).await?);
    for serial in &fp.serials {
        ws.serials.ask(serial.clone());
    }
    for id in &fp.meters {
        ws.meters.ask(*id);
    }
    for m in meters {
        fp.accounts.extend(m.meter.account_id);
        fp.premises.extend(m.meter.premises_id);
        if let Some(code) = &m.tariff_code {
            fp.tariffs.insert(code.clone());
            if let Some(account) = m.meter.account_id {
                fp.pricing.insert((account, code.clone()));
            }
        }
        ws.serials.load(m.meter.serial.clone(), m.meter.id);
        ws.meters.load(m.meter.id, m);
    }

    for id in &fp.accounts {
        ws.accounts.ask(*id);
    }
    for a in src.accounts(&list(&fp.accounts)).await? {
        fp.ledger.insert(a.wallet);
        fp.ledger.insert(a.arrears);
        fp.books.insert(a.books);
        fp.premises.insert(a.account.premises_id);
        ws.accounts.load(a.account.id, a);
    }
    // A postpaid account sold to: all its meters (the sale reconnects every one its bills disconnected). Prepaid
    // sales, the hot path, read nothing more.
    let postpaid_sales: Vec<AccountId> = fp
        .sale_accounts
        .iter()
        .filter(|a| {
            ws.accounts
                .get(a)
                .ok()
                .flatten()
                .is_some_and(|r| r.account.billing_mode == voltvend_domain::BillingMode::Postpaid)
        })
        .copied()
        .collect();
    if !postpaid_sales.is_empty() {
        for m in src.meters_of_accounts(&postpaid_sales).await? {
            if fp.meters.insert(m.meter.id) {
                ws.meters.ask(m.meter.id);
                ws.meters.load(m.meter.id, m);
            }
        }
    }

    // Every account's unpaid rent and fees (a sale may be refused for them or pay them), with their schedules'
    // receivables; the accounts' premises then bring the overdue policies on their paths.
    let loaded: Vec<AccountId> = list(&fp.accounts);
    let mut charged: std::collections::BTreeMap<AccountId, Vec<crate::records::FeeChargeKey>> =
        loaded.iter().map(|a| (*a, Vec::new())).collect();
    let mut more_schedules = BTreeSet::new();
    for c in src.unpaid_fee_charges(&loaded).await? {
        if !fp.fee_schedules.contains(&c.schedule_id) {
            more_schedules.insert(c.schedule_id);
        }
        if let Some(keys) = charged.get_mut(&c.account_id) {
            keys.push(c.key());
        }
        ws.fee_charges.load(c.key(), c);
    }
    // Charges a correction acts on, paid in full or not (the unpaid ones are loaded already).
    for (schedule, period, account) in &fp.fee_charge_keys {
        if let Some(a) = ws.accounts.get(account).ok().flatten() {
            ws.fee_charges.ask((*schedule, *period, a.account.premises_id));
        }
    }
    for c in src.fee_charges(&list(&fp.fee_charge_keys)).await? {
        if ws.fee_charges.get(&c.key()).ok().flatten().is_none() {
            if !fp.fee_schedules.contains(&c.schedule_id) {
                more_schedules.insert(c.schedule_id);
            }
            ws.fee_charges.load(c.key(), c);
        }
    }
    // A correction may make a charge owe again: a sale later in the batch then reads the account's policy.
    let mut policy_accounts: BTreeSet<AccountId> = fp.fee_charge_keys.iter().map(|(_, _, a)| *a).collect();
    for (account, keys) in charged {
        // Charges issued by the batch may fall due already: every account's policy is read then.
        if !keys.is_empty() || !fp.fee_periods.is_empty() {
            policy_accounts.insert(account);
        }
        ws.account_charges.load(account, keys);
    }
    for id in &more_schedules {
        ws.fee_schedules.ask(*id);
    }
    for s in src.fee_schedules(&list(&more_schedules)).await? {
        fp.ledger.extend([s.receivable, s.revenue]);
        ws.fee_schedules.load(s.id, s);
    }

    for id in &fp.vending_points {
        ws.vending_points.ask(*id);
    }
    for v in src.vending_points(&list(&fp.vending_points)).await? {
        fp.books.insert(v.books_id);
        fp.premises.insert(v.premises_id);
        ws.vending_points.load(v.id, v);
    }

    for id in &fp.books {
        ws.books.ask(*id);
    }
    for b in src.books(&list(&fp.books)).await? {
        fp.ledger.extend(b.ledger_accounts());
        fp.ledger.insert(b.inter_property());
        ws.books.load(b.id, b);
    }

    for (account, balance) in src.ledger_accounts(&list(&fp.ledger)).await? {
        fp.premises.insert(account.premises_id);
        ws.book.load_account(account, balance);
    }

    for id in &fp.operators {
        ws.operators.ask(*id);
    }
    for name in &fp.usernames {
        ws.usernames.ask(name.clone());
    }
    let mut operators = src.operators(&list(&fp.operators)).await?;
    operators.extend(src.operators_by_username(&list(&fp.usernames)).await?);
    for o in operators {
        fp.premises.insert(o.scope);
        ws.usernames.load(o.username.clone(), o.id);
        ws.operators.load(o.id, o);
    }
    for name in &fp.roles {
        ws.roles.ask(name.clone());
    }
    for r in src.roles(&list(&fp.roles)).await? {
        ws.roles.load(r.name.clone(), r);
    }
    for id in &fp.open_shifts {
        ws.open_shifts.load(*id, None);
    }
    for s in src.open_shifts(&list(&fp.open_shifts)).await? {
        ws.open_shifts.load(s.operator_id, Some(s.id));
    }
    for id in &fp.premises {
        ws.premises.ask(*id);
    }
    for p in src.premises(&list(&fp.premises)).await? {
        ws.premises.load(p.id, p);
    }
    books_on_paths(src, &mut ws, fp.books_on_paths).await?;
    let mut policies = fp.fee_policy_targets.clone();
    let mut charged_premises: BTreeSet<PremisesId> = policy_accounts
        .iter()
        .filter_map(|id| ws.accounts.get(id).ok().flatten().map(|a| a.account.premises_id))
        .collect();
    if !fp.fee_periods.is_empty() {
        charged_premises.extend(fp.new_account_premises.iter().copied());
    }
    for id in &charged_premises {
        if let Ok(Some(p)) = ws.premises.get(id) {
            policies.extend(p.path.iter().copied());
        }
    }
    for id in &policies {
        ws.fee_policies.ask(*id);
    }
    for p in src.fee_policies(&list(&policies)).await? {
        ws.fee_policies.load(p.premises_id, p);
    }
    for id in &fp.customers {
        ws.customers.ask(*id);
    }
    for c in src.customers(&list(&fp.customers)).await? {
        ws.customers.load(c.id, c);
    }

    fp.reading_states.extend(fp.meters.iter().copied());
    fp.sts.extend(fp.meters.iter().copied());
    for id in &fp.sts {
        ws.sts.ask(*id);
    }
    for s in src.sts_states(&list(&fp.sts)).await? {
        fp.vending_keys.insert((s.record.params.sgc, s.record.params.krn));
        // A pending campaign's key change goes out with the next sale: its new key and its campaign.
        if let Some(p) = &s.pending {
            fp.campaigns.insert(p.campaign_id);
            if let Ok(next) = p.change.apply_to(&s.record.params) {
                fp.vending_keys.insert((next.sgc, next.krn));
            }
        }
        for (meter, change) in &fp.sts_key_changes {
            if *meter == s.meter_id
                && let Ok(next) = change.apply_to(&s.record.params)
            {
                fp.vending_keys.insert((next.sgc, next.krn));
            }
        }
        ws.sts.load(s.meter_id, s);
    }
    fp.opg.extend(fp.meters.iter().copied());
    for id in &fp.opg {
        ws.opg.ask(*id);
    }
    for o in src.opg_states(&list(&fp.opg)).await? {
        ws.opg.load(o.meter_id, o);
    }
    for id in &fp.meters {
        ws.meter_cards.ask(*id);
    }
    for serial in &fp.card_serials {
        ws.card_serials.ask(serial.clone());
    }
    let mut cards = src.meter_cards(&list(&fp.meters)).await?;
    cards.extend(src.meter_cards_by_serial(&list(&fp.card_serials)).await?);
    for c in cards {
        ws.card_serials.load(c.serial.clone(), c.meter_id);
        if fp.meters.contains(&c.meter_id) {
            ws.meter_cards.load(c.meter_id, c);
        }
    }
    for k in &fp.card_keys {
        ws.card_keys.ask(*k);
    }
    for k in src.card_keys(&list(&fp.card_keys)).await? {
        ws.card_keys.load(k.key_no, k);
    }
    for id in &fp.campaigns {
        ws.campaigns.ask(*id);
    }
    for c in src.campaigns(&list(&fp.campaigns)).await? {
        ws.campaigns.load(c.id, c);
    }
    for k in &fp.vending_keys {
        ws.vending_keys.ask(*k);
    }
    for k in src.vending_keys(&list(&fp.vending_keys)).await? {
        ws.vending_keys.load((k.sgc, k.krn), k);
    }
    for id in &fp.reading_states {
        ws.reading_states.ask(*id);
    }
    for r in src.reading_states(&list(&fp.reading_states)).await? {
        ws.reading_states.load(r.meter_id, r);
    }
    // Every meter's control record, and the commands pending on it (which a new command may supersede).
    for id in &fp.meters {
        ws.controls.ask(*id);
    }
    for c in src.meter_controls(&list(&fp.meters)).await? {
        fp.commands.extend(c.pending.iter().copied());
        ws.controls.load(c.meter_id, c);
    }
    for id in &fp.commands {
        ws.commands.ask(*id);
    }
    for c in src.meter_commands(&list(&fp.commands)).await? {
        ws.commands.load(c.id, c);
    }
    for key in &fp.pricing {
        ws.pricing.ask(key.clone());
    }
    for (account, code, state) in src.pricing_states(&list(&fp.pricing)).await? {
        ws.pricing.load((account, code), state);
    }
    for code in &fp.tariffs {
        ws.tariffs.ask(code.clone());
    }
    for t in src.tariffs(&list(&fp.tariffs)).await? {
        ws.tariffs.load(t.code.clone(), t);
    }

    for id in &fp.categories {
        ws.meter_categories.ask(*id);
    }
    for c in src.meter_categories(&list(&fp.categories)).await? {
        ws.meter_categories.load(c.meter_id, c);
    }

    // Last, what each meter of a month to post counted in it (the month's bounds need the site's time zone).
    let mut spans = Vec::new();
    for (rule_id, period) in &fp.apportionment_periods {
        // A stored rule, or one an operation of the batch makes.
        let rule = match ws.apportionment_rules.get(rule_id) {
            Ok(Some(rule)) => rule,
            _ => match fp.created_rules.iter().find(|r| r.id == *rule_id) {
                Some(r) => r,
                None => continue,
            },
        };
        let (site, units): (PremisesId, Vec<PremisesId>) =
            (rule.premises_id, rule.units.iter().map(|u| u.premises_id).collect());
        let mut meters: Vec<MeterId> = rule.named_meters().collect();
        let Ok(Some(site)) = ws.premises.get(&site) else { continue };
        // A month that is no month is refused by the operation itself.
        let Ok((from, to)) = crate::apply::apportion::month_bounds(*period, &site.time_zone) else { continue };
        for u in &units {
            if let Ok(Some(ids)) = ws.unit_meters.get(u) {
                meters.extend(ids.iter().copied());
            }
        }
        spans.extend(meters.into_iter().map(|m| (m, from, to)));
    }
    for (meter_id, from, to) in &spans {
        let none = crate::records::SpanConsumption::none(*meter_id, *from, *to);
        ws.consumption.load((*meter_id, from.as_microsecond(), to.as_microsecond()), none);
    }
    for c in src.consumption(&spans).await? {
        ws.consumption.load((c.meter_id, c.from.as_microsecond(), c.to.as_microsecond()), c);
    }
    Ok(ws)
}

/// 集团财务 (ADR 0007): the books kept at the properties and group of every ledger account loaded, with their
/// inter-property accounts and premises, whenever those accounts lie in more than one property (or always, for
/// an operator's transfer or a reversal, which name accounts without their books) — so that which books a
/// posting belongs to is decided by the books that exist, as `voltvend check` decides it, never by which
/// happened to be loaded. Books are kept only at the group or a property (`OpenBooks`), so these are all.
async fn books_on_paths<S: Source>(src: &mut S, ws: &mut Workspace, always: bool) -> Result<(), S::Error> {
    let located: Vec<&Premises> =
        ws.book.accounts().filter_map(|(a, _)| ws.premises.get(&a.premises_id).ok().flatten()).collect();
    let first = located.first().map(|p| p.property());
    if !always && located.iter().all(|p| Some(p.property()) == first) {
        return Ok(());
    }
    let nodes: BTreeSet<PremisesId> = located.iter().flat_map(|p| p.path.iter().take(2).copied()).collect();
    let (mut ledger, mut premises) = (Vec::new(), Vec::new());
    for b in src.books_at(&list(&nodes)).await? {
        if !matches!(ws.books.get(&b.id), Ok(Some(_))) {
            ledger.push(b.inter_property());
            if !matches!(ws.premises.get(&b.premises_id), Ok(Some(_))) {
                premises.push(b.premises_id);
            }
            ws.books.load(b.id, b);
        }
    }
    for (account, balance) in src.ledger_accounts(&ledger).await? {
        if ws.book.account(account.id).is_none() {
            ws.book.load_account(account, balance);
        }
    }
    for id in &premises {
        ws.premises.ask(*id);
    }
    for p in src.premises(&premises).await? {
        ws.premises.load(p.id, p);
    }
    Ok(())
}
