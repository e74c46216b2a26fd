//! Operations: a client-chosen id, who asks, and one command. The id is the idempotency key: an operation
//! submitted twice is applied once, and the second submission gets the first one's answer.

use sha2::{Digest, Sha256};
use uuid::Uuid;
use voltvend_domain::tariff::inverse::ArrearsRecovery;
use voltvend_domain::tariff::pricing::{Reading, Registers};
use voltvend_domain::{
    AccountId, AccountStatus, ApiTokenId, ApprovalId, BooksId, Channel, CommandId, Currency, Customer, CustomerId,
    LedgerAccountId, Meter, MeterId, OperationId, Operator, OperatorId, Posting, Premises, PremisesId, Role, ShiftId,
    Side, TransferId, TransferRequest, VendingPointId,
};
use voltvend_sts::{KeyChange, MeterKeyRecord};

use crate::records::{
    ApiTokenRecord, CardKeyRecord, CardStatus, CommandKind, Correction, FieldCardKind, MeterReport, OpgUnit,
    OutboxKind, PaymentMethod, ReturnSource, SessionRecord, VendingKeyRecord,
};

/// Who asks for an operation, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The operator logged in, or `None` for the system itself (the head end, the CLI on the server machine).
    pub operator: Option<OperatorId>,
    /// The premises subtree the operator may act in; `None`: everywhere.
    pub scope: Option<PremisesId>,
    /// Where the request came from: an IP address, `cli`, `headend`…
    pub source: String,
}

impl Actor {
    pub const SOURCE_LEN_MAX: usize = 128;

    /// The system acting on its own behalf, unscoped.
    pub fn system(source: &str) -> Self {
        Self { operator: None, scope: None, source: source.to_string() }
    }

    /// An operator, scoped to a subtree.
    pub fn operator(operator: OperatorId, scope: PremisesId, source: &str) -> Self {
        Self { operator: Some(operator), scope: Some(scope), source: source.to_string() }
    }
}

/// A business operation: committed whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub id: OperationId,
    pub actor: Actor,
    pub command: Command,
}

impl Operation {
    pub fn new(id: OperationId, actor: Actor, command: Command) -> Self {
        Self { id, actor, command }
    }

    /// SHA-256 of the operation's canonical form: the operator and the command, field by field, with lists
    /// that have no meaningful order (postings) sorted. Two submissions with the same id are the same request
    /// exactly when their fingerprints are equal.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut c = Canon::default();
        c.opt(self.actor.operator.map(|o| o.as_uuid()));
        self.command.canonical(&mut c);
        c.finish()
    }

    /// The id of the `n`th record of kind `what` this operation creates (ledger accounts, transfers…):
    /// deterministic, so a retried operation creates the same ids, and unguessable from other operations.
    /// The first transfer of an operation has the operation's own id.
    pub fn derived_id(&self, what: &str, n: u32) -> Uuid {
        derive(self.id, what, n)
    }

    pub fn transfer_id(&self, n: u32) -> TransferId {
        TransferId::from_uuid(transfer_uuid(self.id, n))
    }
}

/// The `n`th transfer id of an operation (see [`Operation::transfer_id`]).
pub fn transfer_uuid(id: OperationId, n: u32) -> Uuid {
    if n == 0 { id.as_uuid() } else { derive(id, "transfer", n) }
}

/// `derived_id` for an operation id.
pub fn derive(id: OperationId, what: &str, n: u32) -> Uuid {
    let mut h = Sha256::new();
    h.update(id.as_uuid().as_bytes());
    h.update(what.as_bytes());
    h.update(n.to_be_bytes());
    let digest = h.finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    // Mark it as a version 8 (custom) RFC 9562 UUID.
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // One per operation, moved once into the writer's queue: boxing buys nothing.
pub enum Command {
    /// A node of the premises tree (its parent must exist).
    CreatePremises(Premises),
    /// An operator who can log in (the password hash is computed by the caller).
    AddOperator(Operator),
    /// A custom role: a name and its permissions.
    CreateRole(Role),
    /// A login attempt, decided by the caller (who checked the password): a session, or a failure counted
    /// towards the lockout.
    RecordLogin(RecordLogin),
    /// Ends one session.
    Logout(Logout),
    /// Ends every session of an operator.
    LogoutEverywhere(LogoutEverywhere),
    /// A new password (hashed by the caller); every session of the operator ends.
    ChangePassword(ChangePassword),
    /// The language an operator's pages are shown in (their own choice).
    SetLanguage(SetLanguage),
    /// Lifts a lockout after failed logins.
    UnlockOperator(UnlockOperator),
    /// An API token for an integration.
    CreateApiToken(ApiTokenRecord),
    RevokeApiToken(RevokeApiToken),
    /// An STS vending key, sealed under the master key.
    ImportVendingKey(VendingKeyRecord),
    /// Secrets sealed again under the current master key (master key rotation).
    RewrapSecrets(RewrapSecrets),
    /// An IC card key set's root key, sealed under the master key.
    ImportCardKey(CardKeyRecord),
    /// 发卡 / 补卡: a user card issued to an IC-card meter; when the meter has one already, the new card replaces
    /// it (the old serial is refused from now on) and carries its purchase sequence on.
    IssueCard(IssueCard),
    /// A field engineer's card (check, reset, clear, parameter, test) written for an IC-card meter: recorded in
    /// the audit trail (the card itself changes nothing in the books until its data is read back).
    IssueFieldCard(IssueFieldCard),
    /// 挂失 / 退卡: a meter's user card reported lost, or handed back.
    SetCardStatus(SetCardStatus),
    /// 回抄 from an IC card: the return data its controller wrote on a user card or a check card.
    RecordCardRead(RecordCardRead),
    /// A tariff document, validated by the caller and parsed again here, stored as the code's next revision.
    ImportTariff(ImportTariff),
    /// The system ledger accounts of a property in one currency.
    OpenBooks(OpenBooks),
    /// A counter or channel that sells, with its receipt numbering.
    OpenVendingPoint(OpenVendingPoint),
    /// A vending point has remitted what it sold; its credit limit has room again.
    SettleVendingPoint(SettleVendingPoint),
    /// A meter into stock (at the premises its `premises_id` names).
    ReceiveMeter(Meter),
    /// 开户: the customer, the account with its wallet and arrears, its meters bound and commissioned.
    OpenAccount(OpenAccount),
    /// A cashier's shift with a new cash drawer.
    OpenShift(OpenShift),
    /// 交班结算: close a shift against the cash counted.
    CloseShift(CloseShift),
    /// 售电: a payment split into arrears, fees and credit, a receipt, and a token or wallet credit.
    Sale(Sale),
    /// A remote meter's readings: priced, debited, its relay commanded.
    ApplyReadings(ApplyReadings),
    /// 纠错: reverse a transfer (a sale…), optionally re-allocating it as a new sale.
    Reverse(Reverse),
    /// A bare ledger transfer (adjustments, imports, benchmarks).
    PostTransfer(TransferRequest),
    /// STS management tokens for a keypad meter (clear credit, clear tamper, power limits, key change set).
    IssueStsTokens(IssueStsTokens),
    /// An OpenPAYGO management token (set time, disable PAYG, counter sync).
    IssueOpgToken(IssueOpgToken),
    /// 补收据: a receipt printed again (marked COPY), recorded.
    ReprintReceipt(ReprintReceipt),
    /// The money of a refused payment handed back.
    RefundRefusedPayment(RefundRefusedPayment),
    /// 复核入账: a refused payment credited to its account after review, instead of handed back.
    CreditRefusedPayment(CreditRefusedPayment),
    /// How the head end reaches a meter.
    SetMeterChannel(SetMeterChannel),
    /// An operator's review of a flagged reading: billing goes on from it (a meter reset or replaced in place),
    /// the interval before it left unbilled.
    RebaseReadings(RebaseReadings),
    /// An operator's command for a meter: trip or close its supply, keep-power on or off, set its clock.
    IssueMeterCommand(IssueMeterCommand),
    /// What came of the head end's attempt at a command.
    RecordCommandAttempt(RecordCommandAttempt),
    /// 修改资料: a customer file changed (its history is the audit trail).
    UpdateCustomer(UpdateCustomer),
    /// 报停 / 复电: an account suspended (its remote meters tripped) or resumed.
    SetAccountStatus(SetAccountStatus),
    /// 销户: an account settled (wallet against arrears, the rest refunded or left as arrears) and closed, its
    /// meters left installed for the next occupant.
    CloseAccount(CloseAccount),
    /// 过户: the old owner settled and closed, a new owner's account opened on the same meters.
    TransferOwnership(TransferOwnership),
    /// 换表: a meter taken out and its successor put in its place on the same account.
    ReplaceMeter(ReplaceMeter),
    /// 纠错: a correction asked for; nothing changes until another operator approves it.
    RequestCorrection(RequestCorrection),
    /// A correction approved (and applied, in the same commit) or rejected by a second operator.
    DecideCorrection(DecideCorrection),
    /// 追缴陈欠: historical arrears entered or imported onto accounts, recovered from later sales.
    EnterArrears(EnterArrears),
    /// An operator's display name, role or scope changed, or the operator disabled or enabled again.
    UpdateOperator(UpdateOperator),
    /// An account switched between prepaid and postpaid at a clean cut-over (each meter's last billed reading).
    SwitchBillingMode(SwitchBillingMode),
    /// An STS key change campaign planned for a chunk of meters: each meter's key change set generated and
    /// recorded, to go out with its next sale.
    PlanKeyCampaign(PlanKeyCampaign),
    /// 回抄: what a local meter reported of its own credit (its IC card's return file, a check card, its
    /// display, a remote read) — the accumulated balance (累计结余) it holds.
    RecordMeterReturn(RecordMeterReturn),
    /// A system alarm (a scheduled backup that failed) put in the notification outbox, for its senders to
    /// deliver as they deliver meters' notifications. Raised by the system only.
    RaiseAlarm(RaiseAlarm),
    /// An online payment channel opened: its vending point, service operator, clearing account and standing
    /// shift.
    OpenPaymentChannel(OpenPaymentChannel),
    /// A channel closed to new intents (or opened again).
    SetPaymentChannelActive(SetPaymentChannelActive),
    /// A customer's intent to pay online (the provider's order is made from it).
    CreatePaymentIntent(CreatePaymentIntent),
    /// A provider's word that an intent was paid (a verified notification or a status query): one sale, or the
    /// payment kept as refused or held. Its id is derived from the intent and the provider's transaction, so
    /// that a repeated notification and a query for the same payment are one operation.
    SettlePayment(SettlePayment),
    /// An intent the provider confirmed unpaid and closed after it expired.
    ExpirePaymentIntent(ExpirePaymentIntent),
    /// The provider's own reference for the order made from an intent, where the provider's word comes back
    /// under that reference rather than our order number (M-Pesa's `CheckoutRequestID`).
    RecordPaymentOrder(RecordPaymentOrder),
    /// 对账单导入: a provider's statement of one day for one channel, kept for reconciliation.
    ImportPaymentStatement(ImportPaymentStatement),
    /// 装表: a meter from stock installed at a premises with no account — a site's parent meter, a common
    /// area's meter, a vacant unit's — to be read and measured, not billed (an account may be opened on it later).
    InstallMeter(InstallMeter),
    /// 分类分项: the category and sub-item of use a meter measures (replacing what it had).
    SetMeterCategory(crate::records::MeterCategory),
    /// 公摊规则: how a site's common-area energy and line loss are shared among its units.
    CreateApportionmentRule(CreateApportionmentRule),
    /// 公摊: a month of a rule measured, valued and charged to its units' accounts, once.
    ApportionPeriod(ApportionPeriod),
    /// A unit's floor area (建筑面积), for fees charged per m² (replacing what it had).
    SetFloorArea(crate::records::FloorArea),
    /// 收费项目: a monthly rent or property fee on a site's units, with its receivable and revenue accounts.
    CreateFeeSchedule(CreateFeeSchedule),
    /// What overdue fees do to energy sales within a premises (replacing what it had).
    SetFeePolicy(crate::records::FeePolicy),
    /// A month of a fee schedule charged to every occupied unit of its site, once.
    IssueFees(IssueFees),
    /// 收费: rent and fees paid at a counter, oldest due first, with a receipt.
    PayFees(PayFees),
    /// 催缴: a month's overdue charges reminded and charged the schedule's late fee, once, after the due date.
    DunFees(IssueFees),
    /// 欠费停电: a postpaid cycle's month, its notice after dunning run out: the supplies of its bills still
    /// unpaid disconnected through the head end, once (reconnected when the account owes nothing overdue).
    DisconnectOverdue(IssueFees),
}

impl Command {
    /// A short stable name, used in idempotency and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreatePremises(_) => "create_premises",
            Self::AddOperator(_) => "add_operator",
            Self::CreateRole(_) => "create_role",
            Self::RecordLogin(_) => "record_login",
            Self::Logout(_) => "logout",
            Self::LogoutEverywhere(_) => "logout_everywhere",
            Self::ChangePassword(_) => "change_password",
            Self::SetLanguage(_) => "set_language",
            Self::UnlockOperator(_) => "unlock_operator",
            Self::CreateApiToken(_) => "create_api_token",
            Self::RevokeApiToken(_) => "revoke_api_token",
            Self::ImportVendingKey(_) => "import_vending_key",
            Self::RewrapSecrets(_) => "rewrap_secrets",
            Self::ImportCardKey(_) => "import_card_key",
            Self::IssueCard(_) => "issue_card",
            Self::IssueFieldCard(_) => "issue_field_card",
            Self::SetCardStatus(_) => "set_card_status",
            Self::RecordCardRead(_) => "record_card_read",
            Self::SettleVendingPoint(_) => "settle_vending_point",
            Self::IssueStsTokens(_) => "issue_sts_tokens",
            Self::IssueOpgToken(_) => "issue_opg_token",
            Self::ReprintReceipt(_) => "reprint_receipt",
            Self::RefundRefusedPayment(_) => "refund_refused_payment",
            Self::CreditRefusedPayment(_) => "credit_refused_payment",
            Self::ImportTariff(_) => "import_tariff",
            Self::OpenBooks(_) => "open_books",
            Self::OpenVendingPoint(_) => "open_vending_point",
            Self::ReceiveMeter(_) => "receive_meter",
            Self::OpenAccount(_) => "open_account",
            Self::OpenShift(_) => "open_shift",
            Self::CloseShift(_) => "close_shift",
            Self::Sale(_) => "sale",
            Self::ApplyReadings(_) => "apply_readings",
            Self::SetMeterChannel(_) => "set_meter_channel",
            Self::RebaseReadings(_) => "rebase_readings",
            Self::IssueMeterCommand(_) => "issue_meter_command",
            Self::RecordCommandAttempt(_) => "record_command_attempt",
            Self::UpdateCustomer(_) => "update_customer",
            Self::SetAccountStatus(_) => "set_account_status",
            Self::CloseAccount(_) => "close_account",
            Self::TransferOwnership(_) => "transfer_ownership",
            Self::ReplaceMeter(_) => "replace_meter",
            Self::RequestCorrection(_) => "request_correction",
            Self::DecideCorrection(_) => "decide_correction",
            Self::EnterArrears(_) => "enter_arrears",
            Self::UpdateOperator(_) => "update_operator",
            Self::PlanKeyCampaign(_) => "plan_key_campaign",
            Self::RecordMeterReturn(_) => "record_meter_return",
            Self::RaiseAlarm(_) => "raise_alarm",
            Self::OpenPaymentChannel(_) => "open_payment_channel",
            Self::SetPaymentChannelActive(_) => "set_payment_channel_active",
            Self::CreatePaymentIntent(_) => "create_payment_intent",
            Self::SettlePayment(_) => "settle_payment",
            Self::ExpirePaymentIntent(_) => "expire_payment_intent",
            Self::RecordPaymentOrder(_) => "record_payment_order",
            Self::ImportPaymentStatement(_) => "import_payment_statement",
            Self::InstallMeter(_) => "install_meter",
            Self::SetMeterCategory(_) => "set_meter_category",
            Self::CreateApportionmentRule(_) => "create_apportionment_rule",
            Self::ApportionPeriod(_) => "apportion_period",
            Self::SetFloorArea(_) => "set_floor_area",
            Self::CreateFeeSchedule(_) => "create_fee_schedule",
            Self::SetFeePolicy(_) => "set_fee_policy",
            Self::IssueFees(_) => "issue_fees",
            Self::DunFees(_) => "dun_fees",
            Self::DisconnectOverdue(_) => "disconnect_overdue",
            Self::PayFees(_) => "pay_fees",
            Self::SwitchBillingMode(_) => "switch_billing_mode",
            Self::Reverse(_) => "reverse",
            Self::PostTransfer(_) => "post_transfer",
        }
    }

    fn canonical(&self, c: &mut Canon) {
        c.str(self.kind());
        match self {
            Self::CreatePremises(p) => {
                c.uuid(p.id.as_uuid());
                c.opt(p.parent.map(|x| x.as_uuid()));
                c.str(p.level.as_str());
                c.str(&p.name);
                c.str(&p.time_zone);
            }
            Self::AddOperator(o) => {
                c.uuid(o.id.as_uuid());
                c.str(&o.username);
                c.str(&o.display_name);
                c.str(&o.role);
                c.uuid(o.scope.as_uuid());
                c.str(&o.password_hash);
                c.bool(o.active);
            }
            Self::CreateRole(r) => {
                c.str(&r.name);
                c.str(&r.description);
                c.str(&r.permissions_text());
            }
            Self::RecordLogin(l) => {
                c.str(&l.username);
                match &l.attempt {
                    LoginAttempt::Succeeded(s) => {
                        c.str("succeeded");
                        canonical_session(c, s);
                    }
                    LoginAttempt::Failed => c.str("failed"),
                }
            }
            Self::Logout(l) => c.bytes(&l.session),
            Self::LogoutEverywhere(l) => c.uuid(l.operator_id.as_uuid()),
            Self::SetLanguage(l) => {
                c.uuid(l.operator_id.as_uuid());
                c.str(&l.language);
            }
            Self::ChangePassword(p) => {
                c.uuid(p.operator_id.as_uuid());
                c.str(&p.password_hash);
            }
            Self::UnlockOperator(u) => c.uuid(u.operator_id.as_uuid()),
            Self::CreateApiToken(t) => {
                c.uuid(t.id.as_uuid());
                c.uuid(t.operator_id.as_uuid());
                c.str(&t.name);
                c.bytes(&t.secret_hash);
                c.i64(t.created_at.as_microsecond());
                c.opt_i64(t.expires_at.map(|x| x.as_microsecond()));
                c.opt(t.created_by.map(|x| x.as_uuid()));
            }
            Self::RevokeApiToken(t) => c.uuid(t.token_id.as_uuid()),
            Self::ImportVendingKey(k) => {
                c.i64(i64::from(k.sgc));
                c.i64(i64::from(k.krn));
                c.bytes(&k.sealed);
            }
            Self::ImportCardKey(k) => {
                c.i64(i64::from(k.key_no));
                c.str(k.algorithm.as_str());
                c.bytes(&k.sealed);
            }
            Self::IssueCard(i) => {
                c.uuid(i.meter_id.as_uuid());
                c.str(&i.serial);
                c.i64(i64::from(i.key_no));
                c.str(&i.reason);
            }
            Self::IssueFieldCard(f) => {
                c.uuid(f.meter_id.as_uuid());
                c.str(&f.serial);
                c.str(f.kind.as_str());
            }
            Self::SetCardStatus(s) => {
                c.uuid(s.meter_id.as_uuid());
                c.str(&s.serial);
                c.str(s.status.as_str());
                c.str(&s.reason);
            }
            Self::RecordCardRead(r) => {
                c.uuid(r.meter_id.as_uuid());
                c.opt_str(r.serial.as_deref());
                c.i64(i64::from(r.last_count));
                c.i64(r.remaining_milli);
                c.i64(r.at.as_microsecond());
            }
            Self::RewrapSecrets(r) => {
                c.i64(r.items.len() as i64);
                for item in &r.items {
                    match item {
                        Rewrap::VendingKey { sgc, krn, sealed } => {
                            c.str("vending_key");
                            c.i64(i64::from(*sgc));
                            c.i64(i64::from(*krn));
                            c.bytes(sealed);
                        }
                        Rewrap::OpenPaygo { meter_id, sealed } => {
                            c.str("openpaygo");
                            c.uuid(meter_id.as_uuid());
                            c.bytes(sealed);
                        }
                        Rewrap::CardKey { key_no, sealed } => {
                            c.str("card_key");
                            c.i64(i64::from(*key_no));
                            c.bytes(sealed);
                        }
                    }
                }
            }
            Self::SettleVendingPoint(v) => {
                c.uuid(v.vending_point_id.as_uuid());
                c.i64(v.amount_minor);
                c.str(&v.reference);
            }
            Self::IssueStsTokens(t) => {
                c.uuid(t.meter_id.as_uuid());
                c.str(&t.reason);
                match &t.request {
                    StsManagement::ClearCredit { register } => {
                        c.str("clear_credit");
                        c.i64(i64::from(*register));
                    }
                    StsManagement::ClearTamper => c.str("clear_tamper"),
                    StsManagement::MaxPowerLimit { watts } => {
                        c.str("max_power_limit");
                        c.i64(i64::try_from(*watts).unwrap_or(i64::MAX));
                    }
                    StsManagement::MaxPhaseUnbalance { watts } => {
                        c.str("max_phase_unbalance");
                        c.i64(i64::try_from(*watts).unwrap_or(i64::MAX));
                    }
                    StsManagement::KeyChange(k) => {
                        c.str("key_change");
                        canonical_key_change(c, k);
                    }
                }
            }
            Self::IssueOpgToken(t) => {
                c.uuid(t.meter_id.as_uuid());
                c.str(&t.reason);
                match t.request {
                    OpgManagement::SetTime { units } => {
                        c.str("set_time");
                        c.i64(i64::from(units));
                    }
                    OpgManagement::DisablePayg => c.str("disable_payg"),
                    OpgManagement::CounterSync => c.str("counter_sync"),
                }
            }
            Self::ReprintReceipt(r) => {
                c.uuid(r.sale.as_uuid());
                c.str(r.format.as_str());
            }
            Self::RefundRefusedPayment(r) => {
                c.uuid(r.payment.as_uuid());
                c.opt(r.shift_id.map(|x| x.as_uuid()));
            }
            Self::CreditRefusedPayment(r) => {
                c.uuid(r.payment.as_uuid());
            }
            Self::ImportTariff(t) => {
                c.str(&t.code);
                c.str(&t.name);
                c.str(&t.document);
            }
            Self::OpenBooks(b) => {
                c.uuid(b.id.as_uuid());
                c.uuid(b.premises_id.as_uuid());
                c.str(b.currency.code());
            }
            Self::OpenVendingPoint(v) => {
                c.uuid(v.id.as_uuid());
                c.uuid(v.premises_id.as_uuid());
                c.str(&v.name);
                c.str(v.currency.code());
                c.uuid(v.books_id.as_uuid());
                c.opt_i64(v.credit_limit_minor);
            }
            Self::ReceiveMeter(m) => canonical_meter(c, m),
            Self::OpenAccount(a) => a.canonical(c),
            Self::OpenShift(s) => {
                c.uuid(s.shift_id.as_uuid());
                c.uuid(s.vending_point_id.as_uuid());
                c.uuid(s.operator_id.as_uuid());
                c.i64(s.opening_float_minor);
            }
            Self::CloseShift(s) => {
                c.uuid(s.shift_id.as_uuid());
                c.i64(s.counted_minor);
                let mut counts = s.denominations.clone();
                counts.sort_unstable();
                c.i64(counts.len() as i64);
                for (value, count) in counts {
                    c.i64(value);
                    c.i64(count);
                }
            }
            Self::Sale(s) => s.canonical(c),
            Self::ApplyReadings(r) => {
                c.uuid(r.meter_id.as_uuid());
                c.i64(r.readings.len() as i64);
                for reading in &r.readings {
                    canonical_reading(c, reading);
                }
                canonical_report(c, r.report.as_ref());
                c.i64(r.limits.register_wrap.unwrap_or(-1));
                c.i64(r.limits.max_power_w.unwrap_or(-1));
                // Only when read, so readings without it keep the fingerprint they had before.
                if let Some(d) = r.demand {
                    c.str("max_demand");
                    c.i64(d.demand_w);
                    c.i64(d.at.as_microsecond());
                }
            }
            Self::SetMeterChannel(m) => {
                c.uuid(m.meter_id.as_uuid());
                c.opt_str(m.channel.as_ref().map(ToString::to_string).as_deref());
                // Only when set, so a channel set before displays were written keeps its fingerprint.
                if m.shows_credit {
                    c.str("shows_credit");
                }
            }
            Self::RebaseReadings(m) => {
                c.uuid(m.meter_id.as_uuid());
                canonical_reading(c, &m.reading);
                c.str(&m.reason);
                // Only when set, so a rebase keeps the fingerprint it had before billing was possible.
                if m.bill {
                    c.str("bill");
                }
            }
            Self::IssueMeterCommand(m) => {
                c.uuid(m.meter_id.as_uuid());
                c.str(m.kind.as_str());
                c.str(&m.reason);
            }
            Self::RecordCommandAttempt(a) => {
                c.uuid(a.command_id.as_uuid());
                c.uuid(a.meter_id.as_uuid());
                match &a.result {
                    AttemptResult::Confirmed { report, readback } => {
                        c.str("confirmed");
                        canonical_report(c, Some(report));
                        if !readback.is_empty() {
                            c.str(readback);
                        }
                    }
                    AttemptResult::Failed { error } => {
                        c.str("failed");
                        c.str(error);
                    }
                }
            }
            Self::UpdateCustomer(u) => {
                canonical_customer(c, &u.customer);
                c.str(&u.reason);
            }
            Self::SetAccountStatus(a) => {
                c.uuid(a.account_id.as_uuid());
                c.str(a.status.as_str());
                c.str(&a.reason);
            }
            Self::CloseAccount(a) => {
                c.uuid(a.account_id.as_uuid());
                canonical_refund(c, a.refund.as_ref());
                c.str(if a.buy_back_meter_credit { "buy back meter credit" } else { "meter credit stays" });
                c.str(&a.reason);
            }
            Self::TransferOwnership(t) => {
                c.uuid(t.account_id.as_uuid());
                c.uuid(t.new_account_id.as_uuid());
                canonical_customer_ref(c, &t.customer);
                canonical_refund(c, t.refund.as_ref());
                c.str(&t.reason);
            }
            Self::ReplaceMeter(r) => {
                c.uuid(r.old_meter_id.as_uuid());
                c.uuid(r.new_meter_id.as_uuid());
                match &r.receive {
                    Some(m) => canonical_meter(c, m),
                    None => c.str("in stock"),
                }
                match &r.sts {
                    Some(k) => canonical_sts_record(c, k),
                    None => c.str("no sts"),
                }
                match &r.old_final {
                    Some(x) => canonical_reading(c, x),
                    None => c.str("no final reading"),
                }
                match &r.first_reading {
                    Some(x) => canonical_reading(c, x),
                    None => c.str("no first reading"),
                }
                c.opt_i64(r.old_credit_milli);
                c.str(&r.reason);
            }
            Self::RequestCorrection(r) => {
                c.uuid(r.approval_id.as_uuid());
                let x = &r.correction;
                c.str(x.kind.as_str());
                c.opt(x.sale.map(|v| v.as_uuid()));
                c.opt(x.account_id.map(|v| v.as_uuid()));
                c.opt(x.meter_id.map(|v| v.as_uuid()));
                c.opt(x.shift_id.map(|v| v.as_uuid()));
                c.i64(x.amount_minor);
                // The fee kinds' subjects, only when named: the fingerprints of earlier requests stand.
                if let Some(p) = x.fee_payment {
                    c.str("fee_payment");
                    c.uuid(p.as_uuid());
                }
                if let Some((schedule, period)) = x.charge {
                    c.str("charge");
                    c.uuid(schedule.as_uuid());
                    c.i64(i64::from(period));
                }
                c.str(&r.reason);
                c.i64(r.expires_in.as_secs());
            }
            Self::DecideCorrection(d) => {
                c.uuid(d.approval_id.as_uuid());
                c.str(if d.approve { "approve" } else { "reject" });
                c.str(&d.note);
            }
            Self::SwitchBillingMode(s) => {
                c.uuid(s.account_id.as_uuid());
                c.str(s.mode.as_str());
                c.str(&s.reason);
            }
            Self::OpenPaymentChannel(o) => {
                c.uuid(o.channel_id.as_uuid());
                c.str(o.provider.as_str());
                c.str(&o.name);
                c.uuid(o.premises_id.as_uuid());
                c.uuid(o.books_id.as_uuid());
            }
            Self::SetPaymentChannelActive(a) => {
                c.uuid(a.channel_id.as_uuid());
                c.bool(a.active);
            }
            Self::CreatePaymentIntent(i) => {
                c.uuid(i.intent_id.as_uuid());
                c.uuid(i.channel_id.as_uuid());
                c.uuid(i.account_id.as_uuid());
                c.uuid(i.meter_id.as_uuid());
                c.i64(i.amount_minor);
                c.i64(i.expires_at.as_microsecond());
                // Intents for energy keep the fingerprint they had before intents had a purpose.
                if i.purpose != crate::records::IntentPurpose::Energy {
                    c.str(i.purpose.as_str());
                }
            }
            Self::SettlePayment(p) => {
                c.uuid(p.intent_id.as_uuid());
                c.str(&p.provider_txn);
                c.i64(p.paid_minor);
                // Not the time: a notification and a status query may write the same payment's time apart
                // (Alipay's gmt_payment and send_pay_date); the payment is the intent and the transaction.
                c.str(&p.currency);
            }
            Self::ExpirePaymentIntent(e) => {
                c.uuid(e.intent_id.as_uuid());
            }
            Self::RecordPaymentOrder(r) => {
                c.uuid(r.intent_id.as_uuid());
                c.str(&r.provider_ref);
            }
            Self::ImportPaymentStatement(i) => {
                c.uuid(i.channel_id.as_uuid());
                c.str(&i.day.to_string());
                c.bytes(&i.digest);
                c.i64(i.lines.len() as i64);
                for l in &i.lines {
                    c.str(l.kind.as_str());
                    c.str(&l.transaction_id);
                    c.str(&l.order_no);
                    c.i64(l.amount_minor);
                    c.str(&l.currency);
                    c.i64(l.at.as_microsecond());
                }
            }
            Self::SetMeterCategory(m) => {
                c.uuid(m.meter_id.as_uuid());
                c.str(m.category.as_str());
                c.str(&m.sub_item);
            }
            Self::InstallMeter(i) => {
                c.uuid(i.meter_id.as_uuid());
                c.uuid(i.premises_id.as_uuid());
            }
            Self::CreateApportionmentRule(r) => {
                c.uuid(r.rule_id.as_uuid());
                c.uuid(r.premises_id.as_uuid());
                c.str(&r.name);
                c.str(r.utility.as_str());
                c.str(r.basis.as_str());
                c.str(r.pool.as_str());
                c.i64(r.price.micro_per_unit());
                c.str(r.price.currency().code());
                c.opt(r.parent_meter.map(|m| m.as_uuid()));
                c.i64(r.common_meters.len() as i64);
                for m in &r.common_meters {
                    c.uuid(m.as_uuid());
                }
                c.i64(r.units.len() as i64);
                for u in &r.units {
                    c.uuid(u.premises_id.as_uuid());
                    c.i64(u.floor_area_dm2);
                }
            }
            Self::ApportionPeriod(a) => {
                c.uuid(a.rule_id.as_uuid());
                c.i64(i64::from(a.period));
            }
            Self::SetFloorArea(f) => {
                c.uuid(f.premises_id.as_uuid());
                c.i64(f.floor_area_dm2);
            }
            Self::CreateFeeSchedule(f) => {
                c.uuid(f.schedule_id.as_uuid());
                c.uuid(f.premises_id.as_uuid());
                c.str(&f.name);
                c.str(f.basis.as_str());
                c.i64(f.rate_minor);
                c.str(f.currency.code());
                c.i64(i64::from(f.due_day));
                c.i64(f.late_fee_bp);
                c.i64(f.disconnect_after_days);
            }
            Self::SetFeePolicy(f) => {
                c.uuid(f.premises_id.as_uuid());
                c.str(f.policy.name());
                c.i64(f.policy.share_bp());
            }
            Self::IssueFees(f) | Self::DunFees(f) | Self::DisconnectOverdue(f) => {
                c.uuid(f.schedule_id.as_uuid());
                c.i64(i64::from(f.period));
            }
            Self::PayFees(f) => {
                c.uuid(f.account_id.as_uuid());
                c.uuid(f.shift_id.as_uuid());
                c.str(f.method.as_str());
                c.str(&f.reference);
                c.i64(f.paid_minor);
            }
            Self::RaiseAlarm(a) => {
                c.str(a.kind.as_str());
                c.str(&a.detail);
            }
            Self::RecordMeterReturn(r) => {
                c.uuid(r.meter_id.as_uuid());
                c.i64(r.at.as_microsecond());
                c.str(r.source.as_str());
                c.i64(r.remaining_milli);
            }
            Self::PlanKeyCampaign(p) => {
                c.uuid(p.campaign_id.as_uuid());
                c.str(&p.name);
                canonical_key_change(c, &p.change);
                c.i64(p.meters.len() as i64);
                for m in &p.meters {
                    c.uuid(m.as_uuid());
                }
            }
            Self::UpdateOperator(u) => {
                c.uuid(u.operator_id.as_uuid());
                c.opt_str(u.display_name.as_deref());
                c.opt_str(u.role.as_deref());
                c.opt(u.scope.map(|s| s.as_uuid()));
                c.str(match u.active {
                    None => "-",
                    Some(true) => "enable",
                    Some(false) => "disable",
                });
                c.str(&u.reason);
            }
            Self::EnterArrears(a) => {
                c.i64(a.lines.len() as i64);
                for line in &a.lines {
                    c.uuid(line.account_id.as_uuid());
                    c.i64(line.amount_minor);
                    c.str(&line.reference);
                }
            }
            Self::Reverse(r) => {
                c.uuid(r.transfer_id.as_uuid());
                c.str(&r.reason);
                match &r.lines {
                    None => c.str("all"),
                    Some(lines) => canonical_postings(c, lines),
                }
                match &r.reallocate {
                    None => c.str("none"),
                    Some(sale) => sale.canonical(c),
                }
            }
            Self::PostTransfer(t) => {
                c.uuid(t.id.as_uuid());
                c.str(t.kind.as_str());
                c.str(t.currency.code());
                c.opt(t.corrects.map(|x| x.as_uuid()));
                c.str(&t.memo);
                canonical_postings(c, &t.postings);
            }
        }
    }
}

fn canonical_key_change(c: &mut Canon, k: &KeyChange) {
    for v in [k.kt.map(u32::from), k.sgc, k.ti.map(u32::from), k.krn.map(u32::from), k.ken.map(u32::from)] {
        c.opt_i64(v.map(i64::from));
    }
    c.bool(k.rollover);
}

fn canonical_postings(c: &mut Canon, postings: &[Posting]) {
    let mut sorted: Vec<&Posting> = postings.iter().collect();
    sorted.sort_unstable_by_key(|p| (p.account, p.side == Side::Credit, p.amount_minor));
    c.i64(sorted.len() as i64);
    for p in sorted {
        c.uuid(p.account.as_uuid());
        c.str(p.side.as_str());
        c.i64(p.amount_minor);
    }
}

fn canonical_reading(c: &mut Canon, r: &Reading) {
    c.i64(r.at.as_microsecond());
    match &r.registers {
        Registers::Total(v) => {
            c.str("total");
            c.i64(*v);
        }
        Registers::PerPeriod(values) => {
            let mut sorted: Vec<&(String, i64)> = values.iter().collect();
            sorted.sort();
            c.i64(sorted.len() as i64);
            for (name, v) in sorted {
                c.str(name);
                c.i64(*v);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportTariff {
    pub code: String,
    pub name: String,
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBooks {
    pub id: BooksId,
    pub premises_id: PremisesId,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenVendingPoint {
    pub id: VendingPointId,
    pub premises_id: PremisesId,
    pub name: String,
    pub currency: Currency,
    pub books_id: BooksId,
    /// The most it may sell before it settles (a sales agent); `None`: no limit.
    pub credit_limit_minor: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleVendingPoint {
    pub vending_point_id: VendingPointId,
    pub amount_minor: i64,
    /// The remittance's reference (bank slip, deposit number).
    pub reference: String,
}

impl SettleVendingPoint {
    pub const REFERENCE_LEN_MAX: usize = 64;
}

/// How a login attempt ended, as the caller decided after checking the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginAttempt {
    /// The password was right: open this session (refused if the operator is locked out or inactive).
    Succeeded(SessionRecord),
    /// Wrong password or unknown username: counted towards the lockout, recorded.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLogin {
    pub username: String,
    pub attempt: LoginAttempt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logout {
    /// The SHA-256 of the session's token.
    pub session: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutEverywhere {
    pub operator_id: OperatorId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetLanguage {
    pub operator_id: OperatorId,
    /// `zh-CN` or `en` ([`voltvend_domain::operator::LANGUAGES`]).
    pub language: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePassword {
    pub operator_id: OperatorId,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlockOperator {
    pub operator_id: OperatorId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeApiToken {
    pub token_id: ApiTokenId,
}

/// One secret sealed again under the current master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrap {
    VendingKey { sgc: u32, krn: u8, sealed: Vec<u8> },
    OpenPaygo { meter_id: MeterId, sealed: Vec<u8> },
    CardKey { key_no: u32, sealed: Vec<u8> },
}

impl Rewrap {
    /// The row re-sealed, named as its sealed secret's associated data names it.
    pub fn row(&self) -> String {
        match self {
            Self::VendingKey { sgc, krn, .. } => crate::secrets::vending_key_aad(*sgc, *krn),
            Self::OpenPaygo { meter_id, .. } => crate::secrets::openpaygo_aad(*meter_id),
            Self::CardKey { key_no, .. } => crate::secrets::card_key_aad(*key_no),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewrapSecrets {
    pub items: Vec<Rewrap>,
}

impl RewrapSecrets {
    /// Most secrets re-sealed in one operation.
    pub const ITEMS_MAX: usize = 512;
}

/// An STS management token request (IEC 62055-41 class 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StsManagement {
    /// Clears a credit register (0xFFFF: all of them).
    ClearCredit {
        register: u16,
    },
    ClearTamper,
    MaxPowerLimit {
        watts: u64,
    },
    MaxPhaseUnbalance {
        watts: u64,
    },
    /// A key change set: new key revision, type, tariff index, supply group or expiry, and/or the TID rollover
    /// to the next base date.
    KeyChange(KeyChange),
}

impl StsManagement {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ClearCredit { .. } => "clear_credit",
            Self::ClearTamper => "clear_tamper",
            Self::MaxPowerLimit { .. } => "max_power_limit",
            Self::MaxPhaseUnbalance { .. } => "max_phase_unbalance",
            Self::KeyChange(_) => "key_change",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueStsTokens {
    pub meter_id: MeterId,
    pub request: StsManagement,
    pub reason: String,
}

/// An OpenPAYGO management token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpgManagement {
    /// Sets the remaining time to `units` (days or hours, as the device counts).
    SetTime { units: u32 },
    /// Unlocks the device for good (it is paid off).
    DisablePayg,
    /// Resynchronises the device's token count.
    CounterSync,
}

impl OpgManagement {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SetTime { .. } => "set_time",
            Self::DisablePayg => "disable_payg",
            Self::CounterSync => "counter_sync",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueOpgToken {
    pub meter_id: MeterId,
    pub request: OpgManagement,
    pub reason: String,
}

/// Management requests carry a reason (why the engineer or cashier needs the token).
pub const TOKEN_REASON_LEN_MAX: usize = 256;

/// The form a receipt was printed again in (recorded in the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptFormat {
    Html,
    EscPos,
    Pdf,
}

impl ReceiptFormat {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Html => "html",
            Self::EscPos => "escpos",
            Self::Pdf => "pdf",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReprintReceipt {
    /// The sale's operation id.
    pub sale: OperationId,
    pub format: ReceiptFormat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRefusedPayment {
    /// The refused payment's operation id.
    pub payment: OperationId,
    /// The shift whose drawer pays a cash refund (the acting cashier's own); not used for card or transfer.
    pub shift_id: Option<ShiftId>,
}

/// A refused payment credited to the account it was meant for after an operator's review (a held online payment
/// of another amount, a payment kept while the account was suspended): one sale through the payment's own shift,
/// paid out of the refunds owed, where the refusal put the money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditRefusedPayment {
    /// The refused payment's operation id.
    pub payment: OperationId,
}

/// The customer of a new account: a new customer file, or one that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerRef {
    New(Customer),
    Existing(CustomerId),
}

/// A meter to bind to a new account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterBinding {
    pub meter_id: MeterId,
    /// A meter not yet in stock, received in the same operation (its id must be `meter_id`).
    pub receive: Option<Meter>,
    pub tariff_code: Option<String>,
    /// The key record of an STS keypad meter (required for one, refused for others).
    pub sts: Option<MeterKeyRecord>,
    /// The secrets and price of an OpenPAYGO device (required for one, refused for others).
    pub opg: Option<OpgBinding>,
    /// The meter's hoarding limit (see [`crate::records::MeterRecord::max_credit_minor`]).
    pub max_credit_minor: Option<i64>,
}

/// What the vending side must know of an OpenPAYGO device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpgBinding {
    /// The device's secret key (32 hex digits), sealed under the master key for this meter.
    pub secret_sealed: Vec<u8>,
    pub starting_code: u64,
    pub extended: bool,
    pub restricted: bool,
    pub unit: OpgUnit,
    pub price_minor_per_unit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAccount {
    pub customer: CustomerRef,
    pub account_id: AccountId,
    pub premises_id: PremisesId,
    pub currency: Currency,
    pub books_id: BooksId,
    pub overdraft_limit_minor: i64,
    pub recovery: ArrearsRecovery,
    pub min_purchase_minor: i64,
    pub max_balance_minor: Option<i64>,
    pub meters: Vec<MeterBinding>,
    /// The first sale (开户售电), in the same operation; its account must be this one.
    pub first_sale: Option<Sale>,
}

impl OpenAccount {
    /// Most meters bound in one opening.
    pub const METERS_MAX: usize = 8;

    fn canonical(&self, c: &mut Canon) {
        canonical_customer_ref(c, &self.customer);
        c.uuid(self.account_id.as_uuid());
        c.uuid(self.premises_id.as_uuid());
        c.str(self.currency.code());
        c.uuid(self.books_id.as_uuid());
        c.i64(self.overdraft_limit_minor);
        canonical_recovery(c, self.recovery);
        c.i64(self.min_purchase_minor);
        c.opt_i64(self.max_balance_minor);
        c.i64(self.meters.len() as i64);
        for m in &self.meters {
            c.uuid(m.meter_id.as_uuid());
            match &m.receive {
                Some(meter) => canonical_meter(c, meter),
                None => c.str("in stock"),
            }
            c.opt_str(m.tariff_code.as_deref());
            c.opt_i64(m.max_credit_minor);
            match &m.opg {
                None => c.str("no openpaygo"),
                Some(o) => {
                    c.bytes(&o.secret_sealed);
                    c.i64(i64::try_from(o.starting_code).unwrap_or(i64::MAX));
                    c.bool(o.extended);
                    c.bool(o.restricted);
                    c.str(o.unit.as_str());
                    c.i64(o.price_minor_per_unit);
                }
            }
            match &m.sts {
                None => c.str("no sts"),
                Some(r) => canonical_sts_record(c, r),
            }
        }
        match &self.first_sale {
            Some(sale) => sale.canonical(c),
            None => c.str("no sale"),
        }
    }
}

fn canonical_customer_ref(c: &mut Canon, r: &CustomerRef) {
    match r {
        CustomerRef::New(x) => {
            c.str("new");
            canonical_customer(c, x);
        }
        CustomerRef::Existing(id) => {
            c.str("existing");
            c.uuid(id.as_uuid());
        }
    }
}

fn canonical_customer(c: &mut Canon, x: &Customer) {
    c.uuid(x.id.as_uuid());
    c.uuid(x.premises_id.as_uuid());
    c.str(x.kind.as_str());
    c.str(&x.name);
    match &x.id_document {
        Some(d) => {
            c.str(d.kind.as_str());
            c.str(&d.number);
        }
        None => c.str("no document"),
    }
    c.i64(x.phones.len() as i64);
    for p in &x.phones {
        c.str(p);
    }
    c.opt_str(x.email.as_deref());
}

fn canonical_sts_record(c: &mut Canon, r: &MeterKeyRecord) {
    c.str(&r.pan.to_string());
    c.str(r.params.ea.code());
    c.i64(i64::from(r.params.kt.value()));
    c.i64(i64::from(r.params.sgc));
    c.i64(i64::from(r.params.ti));
    c.i64(i64::from(r.params.krn));
    c.i64(i64::from(r.params.ken));
    c.str(r.params.base.code());
}

fn canonical_refund(c: &mut Canon, r: Option<&Refund>) {
    match r {
        None => c.str("no refund"),
        Some(Refund::Cash { shift_id }) => {
            c.str("cash");
            c.uuid(shift_id.as_uuid());
        }
        Some(Refund::ToAccount { account_id }) => {
            c.str("to_account");
            c.uuid(account_id.as_uuid());
        }
    }
}

fn canonical_meter(c: &mut Canon, m: &Meter) {
    c.uuid(m.id.as_uuid());
    c.opt(m.premises_id.map(|x| x.as_uuid()));
    c.str(&m.serial);
    c.str(m.utility.as_str());
    c.str(m.control_mode.as_str());
    c.str(m.protocol.as_str());
    c.str(&m.address);
    c.i64(i64::from(m.ratio.ct()));
    c.i64(i64::from(m.ratio.vt()));
}

fn canonical_session(c: &mut Canon, s: &SessionRecord) {
    c.bytes(&s.id_hash);
    c.uuid(s.operator_id.as_uuid());
    c.i64(s.created_at.as_microsecond());
    c.i64(s.expires_at.as_microsecond());
}

pub(crate) fn canonical_recovery(c: &mut Canon, r: ArrearsRecovery) {
    match r {
        ArrearsRecovery::None => c.str("none"),
        ArrearsRecovery::Share(ppm) => {
            c.str("share");
            c.i64(ppm);
        }
        ArrearsRecovery::Fixed(minor) => {
            c.str("fixed");
            c.i64(minor);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenShift {
    pub shift_id: ShiftId,
    pub vending_point_id: VendingPointId,
    pub operator_id: OperatorId,
    pub opening_float_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseShift {
    pub shift_id: ShiftId,
    pub counted_minor: i64,
    /// The count by denomination (face value in minor units, how many); when given, it must add up to
    /// `counted_minor`.
    pub denominations: Vec<(i64, i64)>,
}

impl CloseShift {
    /// More kinds of note and coin than any currency has.
    pub const DENOMINATIONS_MAX: usize = 32;
}

/// What a customer buys: an amount of money's worth, or a quantity ("100 kWh") at its price now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleAmount {
    /// The payment, in minor units.
    Paid(i64),
    /// The units wanted, in milli-units (Wh, litres; for OpenPAYGO devices thousandths of a day or hour).
    Quantity(i64),
}

/// A sale at a counter: the payment, what it pays for, and through which shift. The request means the money
/// has been taken: if the sale is then refused because of the account's or meter's state, the payment is
/// recorded as a refused payment owed back to the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    pub account_id: AccountId,
    pub meter_id: MeterId,
    pub shift_id: ShiftId,
    pub method: PaymentMethod,
    pub amount: SaleAmount,
    /// Fees due now (card replacement, service fee…), taken after arrears recovery.
    pub fees_minor: i64,
    /// The payment's reference (card authorisation, bank transfer number); may be empty.
    pub reference: String,
    /// For a purchase by quantity: what the customer was quoted and paid. The sale is refused if the price
    /// has changed since (`quote_changed`).
    pub expected_paid_minor: Option<i64>,
}

impl Sale {
    pub const REFERENCE_LEN_MAX: usize = 64;

    /// A sale of a money amount.
    pub fn paid(
        account_id: AccountId,
        meter_id: MeterId,
        shift_id: ShiftId,
        method: PaymentMethod,
        paid_minor: i64,
    ) -> Self {
        Self {
            account_id,
            meter_id,
            shift_id,
            method,
            amount: SaleAmount::Paid(paid_minor),
            fees_minor: 0,
            reference: String::new(),
            expected_paid_minor: None,
        }
    }

    pub(crate) fn canonical(&self, c: &mut Canon) {
        c.uuid(self.account_id.as_uuid());
        c.uuid(self.meter_id.as_uuid());
        c.uuid(self.shift_id.as_uuid());
        c.str(self.method.as_str());
        match self.amount {
            SaleAmount::Paid(v) => {
                c.str("paid");
                c.i64(v);
            }
            SaleAmount::Quantity(v) => {
                c.str("quantity");
                c.i64(v);
            }
        }
        c.i64(self.fees_minor);
        c.str(&self.reference);
        c.opt_i64(self.expected_paid_minor);
    }
}

/// The readings of one remote meter, oldest first, and what the meter said of its supply switch when read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyReadings {
    pub meter_id: MeterId,
    pub readings: Vec<Reading>,
    pub report: Option<MeterReport>,
    /// What the reader knows of the meter's registers, for telling a rollover from a lie.
    pub limits: ReadingLimits,
    /// What its maximum-demand register said, when it was read with them.
    pub demand: Option<crate::records::MaxDemand>,
}

/// What is possible for a meter's registers. A register that goes backwards is a rollover only when its range
/// is known and the consumption across the wrap is possible; consumption beyond `max_power_w` on average over
/// the interval is impossible. Both are flagged for review and not billed otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadingLimits {
    /// The value at which each register wraps to zero, in register units (Wh or L): 10⁹ Wh for DL/T 645's
    /// XXXXXX.XX kWh registers. `None`: the range is not known, so no decrease is a rollover.
    pub register_wrap: Option<i64>,
    /// The highest average power (or, for water, flow in L/h) the supply can carry. `None`: no limit checked.
    pub max_power_w: Option<i64>,
}

impl ApplyReadings {
    /// Most readings in one operation.
    pub const READINGS_MAX: usize = 2_048;
}

fn canonical_report(c: &mut Canon, r: Option<&MeterReport>) {
    match r {
        None => c.str("no report"),
        Some(r) => {
            c.i64(r.at.as_microsecond());
            c.opt_str(r.relay.map(|x| x.as_str()));
            c.opt_str(r.keep_power.map(|k| if k { "keep_power" } else { "no_keep_power" }));
        }
    }
}

/// Billing of a meter goes on from `reading` — a reading that was flagged for review (a register lower than the
/// last, an impossible jump) — after an operator looked at it:
/// * `bill: false`: the reading is the meter's true new start (it was reset, or replaced without a new record);
///   the consumption between the last billed reading and it is not billed;
/// * `bill: true`: the jump was real (a heavy load, a supply limit set too low); the interval up to it is
///   priced and debited like any reading, without the limits that flagged it. Only registers that went up can
///   be billed so: a register lower than the last has no consumption to bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebaseReadings {
    pub meter_id: MeterId,
    pub reading: Reading,
    pub reason: String,
    pub bill: bool,
}

/// Sets (or, with `None`, clears) how the head end reaches a meter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMeterChannel {
    pub meter_id: MeterId,
    pub channel: Option<Channel>,
    /// The meter shows the balance and prices written to it ([`MeterControl::shows_credit`]).
    pub shows_credit: bool,
}

/// An operator's command for a meter, with the reason the audit trail keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueMeterCommand {
    pub meter_id: MeterId,
    pub kind: CommandKind,
    pub reason: String,
}

/// The head end's attempt at a command: confirmed by the meter with a read-back of its state, or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCommandAttempt {
    pub command_id: CommandId,
    pub meter_id: MeterId,
    pub result: AttemptResult,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The meter acknowledged the command, and was read back: the command is done if what it reports agrees.
    /// `readback` is what a write command's value read back as, in the form of [`MeterCommand::value`]
    /// (empty for the other commands).
    Confirmed { report: MeterReport, readback: String },
    /// No answer, a refusal, or a transport error; retried later unless the command has expired.
    Failed { error: String },
}

/// A reversal (冲正) of what is left of a transfer, or of the given lines; with `reallocate`, the money goes
/// to a new sale in the same operation (a re-allocation to the right meter or customer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverse {
    pub transfer_id: TransferId,
    pub reason: String,
    /// The correction's postings, for a partial reversal; `None` reverses everything left.
    pub lines: Option<Vec<Posting>>,
    pub reallocate: Option<Sale>,
}

impl Reverse {
    pub const REASON_LEN_MAX: usize = 256;
}

/// 修改资料: the customer file as it should be now (same id and premises). The reason is kept in the audit trail,
/// which is the file's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateCustomer {
    pub customer: Customer,
    pub reason: String,
}

/// 报停 (`Suspended`) or 复电 (`Active`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAccountStatus {
    pub account_id: AccountId,
    pub status: AccountStatus,
    pub reason: String,
}

/// Where the credit left on a closing account goes, once its arrears are paid from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refund {
    /// Paid out in cash from the acting cashier's open shift.
    Cash { shift_id: ShiftId },
    /// Moved to another account's wallet (same currency, active).
    ToAccount { account_id: AccountId },
}

/// 销户. The final reading of a remote meter is its last billed one: read the meter first (the head end's
/// on-demand read) for an up-to-date final bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseAccount {
    pub account_id: AccountId,
    /// Required when credit is left after the arrears are paid.
    pub refund: Option<Refund>,
    /// 累计结余: buy the credit its local meters last reported unused back into the wallet first (valued as
    /// [`crate::records::LocalCredit::value`] says), so that it pays arrears and is refunded with the rest. Each
    /// local meter's return data must postdate its last sale.
    pub buy_back_meter_credit: bool,
    pub reason: String,
}

/// 过户: `account_id` is settled and closed as by [`CloseAccount`]; `new_account_id` opens for `customer` with
/// the same premises, books, limits and recovery rule, and every meter of the old account moves to it with its
/// tariff, its STS or OpenPAYGO state and its last reading (the new owner is billed from the cut-over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferOwnership {
    pub account_id: AccountId,
    pub new_account_id: AccountId,
    pub customer: CustomerRef,
    pub refund: Option<Refund>,
    pub reason: String,
}

/// 换表: the old meter (active) is replaced by the new one (received here or in stock), which takes over its
/// account, tariff, hoarding limit and desired supply state. A remote meter's billing closes at `old_final` (billed
/// through the usual readings first when given) and goes on from `first_reading` of the new meter. For a keypad
/// meter, the credit still on the old meter (entered by the operator from its display) is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceMeter {
    pub old_meter_id: MeterId,
    pub new_meter_id: MeterId,
    pub receive: Option<Meter>,
    /// The new meter's STS key record (required for an STS keypad meter).
    pub sts: Option<MeterKeyRecord>,
    /// The old remote meter's final reading, billed in this operation when it is after the last billed one.
    pub old_final: Option<Reading>,
    /// The new remote meter's registers when installed (required for a remote meter).
    pub first_reading: Option<Reading>,
    /// The credit left on an old local meter, in milli-units (Wh, L).
    pub old_credit_milli: Option<i64>,
    pub reason: String,
}

/// An online payment channel: a merchant account at `provider`, selling to the accounts within `premises_id` (a
/// property, or one building of it) for the books `books_id` of that property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPaymentChannel {
    pub channel_id: voltvend_domain::PaymentChannelId,
    pub provider: crate::records::Provider,
    pub name: String,
    pub premises_id: PremisesId,
    pub books_id: BooksId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetPaymentChannelActive {
    pub channel_id: voltvend_domain::PaymentChannelId,
    pub active: bool,
}

/// A customer's intent to pay `amount_minor` (the account's currency) for `meter_id` through `channel_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePaymentIntent {
    pub intent_id: voltvend_domain::PaymentIntentId,
    pub channel_id: voltvend_domain::PaymentChannelId,
    pub account_id: AccountId,
    pub meter_id: MeterId,
    pub amount_minor: i64,
    pub expires_at: jiff::Timestamp,
    pub purpose: crate::records::IntentPurpose,
}

/// What the provider says was paid for an intent. Only the system records it, from a notification whose
/// signature was verified or from the provider's answer to a status query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlePayment {
    pub intent_id: voltvend_domain::PaymentIntentId,
    /// The provider's transaction number (WeChat Pay `transaction_id`, Alipay `trade_no`, M-Pesa receipt).
    pub provider_txn: String,
    /// What was paid, in minor units of `currency`.
    pub paid_minor: i64,
    /// The currency the provider says it was paid in (ISO 4217 code).
    pub currency: String,
    /// When the provider says it was paid.
    pub paid_at: jiff::Timestamp,
}

impl SettlePayment {
    pub const TXN_LEN_MAX: usize = 64;

    /// The id of the operation that settles `intent` by the provider's transaction `txn`: the same for a
    /// repeated notification and for a status query that finds the same payment, so they are one operation.
    pub fn operation_id(intent: voltvend_domain::PaymentIntentId, txn: &str) -> OperationId {
        OperationId::from_uuid(derive(OperationId::from_uuid(intent.as_uuid()), &format!("settle-payment:{txn}"), 0))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpirePaymentIntent {
    pub intent_id: voltvend_domain::PaymentIntentId,
}

/// The provider's reference for an intent's order (M-Pesa's `CheckoutRequestID`), recorded by the system when
/// the provider accepted the order. One per intent: a provider's callback names it, and only the intent that
/// recorded it may be settled by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPaymentOrder {
    pub intent_id: voltvend_domain::PaymentIntentId,
    pub provider_ref: String,
}

impl RecordPaymentOrder {
    pub const REF_LEN_MAX: usize = 64;
}

/// A provider's statement of `day` for `channel_id`, read from the file whose SHA-256 is `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPaymentStatement {
    pub channel_id: voltvend_domain::PaymentChannelId,
    pub day: jiff::civil::Date,
    pub digest: [u8; 32],
    pub lines: Vec<crate::records::StatementEntry>,
}

/// See [`Command::InstallMeter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallMeter {
    pub meter_id: MeterId,
    pub premises_id: PremisesId,
}

/// A new apportionment rule (see [`crate::records::ApportionmentRule`]; the record is this, made at commit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateApportionmentRule {
    pub rule_id: voltvend_domain::ApportionmentRuleId,
    pub premises_id: PremisesId,
    pub name: String,
    pub utility: voltvend_domain::Utility,
    pub basis: voltvend_domain::apportion::Basis,
    pub pool: voltvend_domain::apportion::Pool,
    pub price: voltvend_domain::UnitPrice,
    pub parent_meter: Option<MeterId>,
    pub common_meters: Vec<MeterId>,
    pub units: Vec<crate::records::ApportionedUnit>,
}

impl CreateApportionmentRule {
    /// The rule as made at `at` (the name as given; the operation checks and trims it).
    pub fn record(&self, at: jiff::Timestamp) -> crate::records::ApportionmentRule {
        crate::records::ApportionmentRule {
            id: self.rule_id,
            premises_id: self.premises_id,
            name: self.name.clone(),
            utility: self.utility,
            basis: self.basis,
            pool: self.pool,
            price: self.price,
            parent_meter: self.parent_meter,
            common_meters: self.common_meters.clone(),
            units: self.units.clone(),
            created_at: at,
        }
    }
}

/// A calendar month of a rule posted (see [`crate::records::ApportionmentRun`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApportionPeriod {
    pub rule_id: voltvend_domain::ApportionmentRuleId,
    /// `year × 100 + month`, in the site's time zone.
    pub period: i32,
}

/// A new fee schedule (see [`crate::records::FeeSchedule`]; its ledger accounts are derived from the
/// operation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateFeeSchedule {
    pub schedule_id: voltvend_domain::FeeScheduleId,
    pub premises_id: PremisesId,
    pub name: String,
    pub basis: voltvend_domain::fees::FeeBasis,
    pub rate_minor: i64,
    pub currency: voltvend_domain::Currency,
    pub due_day: i8,
    /// The late fee in basis points (0: none; at most 10 000).
    pub late_fee_bp: i64,
    /// A postpaid cycle's notice before disconnection, in days after dunning (0: never).
    pub disconnect_after_days: i64,
}

/// A calendar month of a fee schedule issued (see [`crate::records::FeeRun`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueFees {
    pub schedule_id: voltvend_domain::FeeScheduleId,
    /// `year × 100 + month`.
    pub period: i32,
}

/// Rent and fees paid at a counter through the cashier's own open shift (see [`crate::records::FeePayment`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayFees {
    pub account_id: AccountId,
    pub shift_id: ShiftId,
    pub method: PaymentMethod,
    /// A card authorisation or transfer number (at most [`Sale::REFERENCE_LEN_MAX`] bytes).
    pub reference: String,
    pub paid_minor: i64,
}

/// A system alarm for the notification outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaiseAlarm {
    /// A system kind (see [`OutboxKind::about_a_meter`]).
    pub kind: OutboxKind,
    /// What went wrong (at most 1 000 bytes).
    pub detail: String,
}

/// 回抄: a local meter's return data. Kept as the meter's last return when it is not older than the one kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeterReturn {
    pub meter_id: MeterId,
    /// When the meter reported it.
    pub at: jiff::Timestamp,
    pub source: ReturnSource,
    /// The credit left on the meter, in milli-units of its credit (Wh, litres).
    pub remaining_milli: i64,
}

/// 发卡 / 补卡 (see [`Command::IssueCard`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCard {
    pub meter_id: MeterId,
    /// The blank card's factory serial, 16 hexadecimal digits.
    pub serial: String,
    /// The card key set it is personalised under.
    pub key_no: u32,
    /// Why (required for a reissue).
    pub reason: String,
}

/// A field card written for a meter (see [`Command::IssueFieldCard`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueFieldCard {
    pub meter_id: MeterId,
    pub serial: String,
    pub kind: FieldCardKind,
}

/// 挂失 (`Lost`) or 退卡 (`Returned`) of the meter's user card, named by its serial so that a stale form cannot
/// act on a card issued since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCardStatus {
    pub meter_id: MeterId,
    pub serial: String,
    pub status: CardStatus,
    pub reason: String,
}

/// Return data an IC-card meter's controller wrote on a card, read at the counter or in the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCardRead {
    pub meter_id: MeterId,
    /// The user card's serial; `None` for a field engineer's check card.
    pub serial: Option<String>,
    /// The count of the last purchase the controller loaded.
    pub last_count: u32,
    /// The credit left on the meter, in milli-units (Wh, L).
    pub remaining_milli: i64,
    /// When the controller wrote it.
    pub at: jiff::Timestamp,
}

impl IssueCard {
    pub const REASON_LEN_MAX: usize = 200;
}

/// Ledger accounts a command names directly (beyond those it reaches through accounts, shifts and books).
pub(crate) fn named_ledger_accounts(t: &TransferRequest) -> impl Iterator<Item = LedgerAccountId> + '_ {
    t.postings.iter().map(|p| p.account)
}

/// An unambiguous byte encoding: every field is length-prefixed, so no two different field lists encode alike.
#[derive(Debug, Default)]
pub(crate) struct Canon {
    hash: Sha256,
}

impl Canon {
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.hash.update((b.len() as u64).to_be_bytes());
        self.hash.update(b);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    pub(crate) fn uuid(&mut self, u: Uuid) {
        self.bytes(u.as_bytes());
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.bytes(&v.to_be_bytes());
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.bytes(&[u8::from(v)]);
    }

    pub(crate) fn opt(&mut self, u: Option<Uuid>) {
        match u {
            Some(u) => self.uuid(u),
            None => self.bytes(&[]),
        }
    }

    pub(crate) fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.bool(true);
                self.str(s);
            }
            None => self.bool(false),
        }
    }

    pub(crate) fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            Some(v) => {
                self.bool(true);
                self.i64(v);
            }
            None => self.bool(false),
        }
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        self.hash.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use voltvend_domain::{Money, TransferKind};

    use super::*;

    #[test]
    fn fingerprints_ignore_posting_order_and_nothing_else() {
        let (a, b) = (LedgerAccountId::from_uuid(Uuid::from_u128(1)), LedgerAccountId::from_uuid(Uuid::from_u128(2)));
        let t = TransferRequest::simple(
            TransferId::from_uuid(Uuid::from_u128(9)),
            TransferKind::Payment,
            a,
            b,
            Money::from_minor(100, Currency::CNY),
            "x",
        );
        let op = |t: TransferRequest| {
            Operation::new(OperationId::from_uuid(Uuid::from_u128(9)), Actor::system("test"), Command::PostTransfer(t))
        };
        let mut reordered = t.clone();
        reordered.postings.reverse();
        assert_eq!(op(t.clone()).fingerprint(), op(reordered).fingerprint());
        let mut memo = t.clone();
        memo.memo = "y".into();
        assert_ne!(op(t.clone()).fingerprint(), op(memo).fingerprint());
        let mut by_operator = op(t.clone());
        by_operator.actor.operator = Some(OperatorId::from_uuid(Uuid::from_u128(5)));
        assert_ne!(op(t.clone()).fingerprint(), by_operator.fingerprint(), "another operator's request differs");
        let mut from_elsewhere = op(t.clone());
        from_elsewhere.actor.source = "10.0.0.9".into();
        assert_eq!(from_elsewhere.fingerprint(), op(t).fingerprint(), "where a request comes from is not its content");
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let op = Operation::new(
            OperationId::from_uuid(Uuid::from_u128(42)),
            Actor::system("test"),
            Command::CloseShift(CloseShift {
                shift_id: ShiftId::from_uuid(Uuid::nil()),
                counted_minor: 0,
                denominations: Vec::new(),
            }),
        );
        assert_eq!(op.transfer_id(0).as_uuid(), op.id.as_uuid());
        assert_eq!(op.transfer_id(1), op.transfer_id(1));
        assert_ne!(op.transfer_id(1), op.transfer_id(2));
        assert_ne!(op.derived_id("ledger", 1), op.derived_id("transfer", 1));
        assert_eq!(op.derived_id("ledger", 1).get_version_num(), 8);
    }
}

/// 纠错: a correction asked for by one operator, to be decided by another before `expires_in` has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCorrection {
    pub approval_id: ApprovalId,
    pub correction: Correction,
    pub reason: String,
    pub expires_in: jiff::SignedDuration,
}

impl RequestCorrection {
    pub const REASON_LEN_MAX: usize = 256;
    /// How long a request waits for its decision unless the requester says otherwise.
    pub const EXPIRES_IN_DEFAULT: jiff::SignedDuration = jiff::SignedDuration::from_hours(72);
    /// The longest a request may wait: a month.
    pub const EXPIRES_IN_MAX: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 31);
}

/// A second operator's decision on a pending correction: approved corrections are applied in the same commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecideCorrection {
    pub approval_id: ApprovalId,
    pub approve: bool,
    pub note: String,
}

impl DecideCorrection {
    pub const NOTE_LEN_MAX: usize = 256;
}

/// One account's historical arrears (追缴陈欠): what it owed before Voltvend, with the old system's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrearsLine {
    pub account_id: AccountId,
    pub amount_minor: i64,
    pub reference: String,
}

impl ArrearsLine {
    pub const REFERENCE_LEN_MAX: usize = 64;
}

/// Historical arrears entered for one account or imported for many, all or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnterArrears {
    pub lines: Vec<ArrearsLine>,
}

impl EnterArrears {
    /// The most lines one import carries (larger files are split by the caller).
    pub const LINES_MAX: usize = 10_000;
}

/// Changes to an operator; fields left `None` stay as they are. Disabling ends every session at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateOperator {
    pub operator_id: OperatorId,
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub scope: Option<PremisesId>,
    pub active: Option<bool>,
    pub reason: String,
}

impl UpdateOperator {
    pub const REASON_LEN_MAX: usize = 256;
}

/// A campaign planned for some meters (at most [`PlanKeyCampaign::METERS_MAX`] per operation; a large
/// campaign is planned in chunks under one id, each chunk with the same name and change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanKeyCampaign {
    pub campaign_id: voltvend_domain::CampaignId,
    pub name: String,
    pub change: KeyChange,
    pub meters: Vec<MeterId>,
}

impl PlanKeyCampaign {
    pub const METERS_MAX: usize = 5_000;
    pub const NAME_LEN_MAX: usize = 120;
}

/// An account switched between prepaid and postpaid. The cut-over is each meter's last billed reading (read the
/// meters first for an up-to-date one): consumption before it was billed under the old mode, after it under the
/// new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchBillingMode {
    pub account_id: AccountId,
    pub mode: voltvend_domain::BillingMode,
    pub reason: String,
}
