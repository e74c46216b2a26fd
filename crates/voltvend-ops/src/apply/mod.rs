//! Applying one operation to a workspace: the idempotency check, the command's rules, its audit record and
//! its idempotency record — all of it, or (on any refusal) nothing.

use jiff::Timestamp;
use voltvend_domain::{
    AccountId, LedgerAccountId, MeterId, OperatorId, PremisesId, ShiftId, Side, Transfer, TransferId, text,
};

use crate::audit::{AuditEntry, next_record};
use crate::command::{Actor, Command, Operation};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{AccountRecord, IdempotencyRecord, MeterTokenRecord, OutboxKind, RefusedPayment, SaleRecord};
use crate::workspace::{AuditHead, Workspace};

pub mod apportion;
mod auth;
pub(crate) mod campaign;
pub mod cards;
pub(crate) mod control;
mod corrections;
pub(crate) mod counter;
pub(crate) mod fees;
pub(crate) mod keys;
mod ledger;
pub mod lifecycle;
pub mod payments;
mod readings;
mod returns;
mod sale;
mod setup;
mod tokens;

pub use auth::locked as login_locked;

/// How many ledger accounts a set of books opens (see [`setup`]).
pub const BOOKS_LEDGER_ACCOUNTS: u32 = 8;

pub(crate) fn books_ledger_id(op: &Operation, n: u32) -> LedgerAccountId {
    LedgerAccountId::from_uuid(op.derived_id("books-ledger", n))
}

/// The wallet (1) and arrears (2) ledger accounts an account opening creates.
pub(crate) fn account_ledger_id(op: &Operation, n: u32) -> LedgerAccountId {
    LedgerAccountId::from_uuid(op.derived_id("account-ledger", n))
}

pub(crate) fn drawer_ledger_id(op: &Operation) -> LedgerAccountId {
    LedgerAccountId::from_uuid(op.derived_id("drawer", 1))
}

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Reference data created: premises, an operator, books, a vending point, a meter into stock.
    Created {
        what: &'static str,
        id: String,
    },
    TariffImported {
        code: String,
        revision: i64,
    },
    AccountOpened {
        account_id: AccountId,
        wallet: LedgerAccountId,
        arrears: LedgerAccountId,
        /// The first sale, when one was made in the opening.
        first_sale: Option<SaleRecord>,
    },
    ShiftOpened {
        shift_id: ShiftId,
        drawer: LedgerAccountId,
    },
    ShiftClosed {
        shift_id: ShiftId,
        expected_minor: i64,
        counted_minor: i64,
        variance_minor: i64,
    },
    Sale(SaleRecord),
    /// A sale refused after the money was taken: the payment is recorded as owed back. The sale's refusal is
    /// `code` and `message`; this outcome is committed (the record), the sale is not.
    PaymentRefused {
        payment: RefusedPayment,
        code: &'static str,
        message: String,
    },
    Readings(ReadingsOutcome),
    Reversed {
        correction: Transfer,
        sale: Option<SaleRecord>,
    },
    Transfer(Transfer),
    /// A change to something that exists (an operator, a token, a vending point…).
    Updated {
        what: &'static str,
        id: String,
    },
    LoggedIn {
        operator_id: OperatorId,
        expires_at: Timestamp,
    },
    /// A failed login, recorded; `locked_until` when the operator is (now) locked out.
    LoginFailed {
        locked_until: Option<Timestamp>,
    },
    LoggedOut,
    /// Management tokens issued to a meter.
    Tokens(MeterTokenRecord),
    /// A receipt printed again: the sale it is for.
    Reprinted(SaleRecord),
    /// A refused payment handed back.
    Refunded(RefusedPayment),
    /// An online payment in another currency than its intent asked: held for review, nothing booked.
    PaymentHeld(crate::records::PaymentIntent),
    /// A payment channel opened, closed or opened again: the channel as it is now.
    PaymentChannel(crate::records::PaymentChannel),
    /// A payment intent made or expired: the intent as it is now.
    PaymentIntent(crate::records::PaymentIntent),
    /// A provider's statement, kept.
    StatementImported(crate::records::PaymentStatement),
    /// A month of an apportionment rule posted (公摊).
    Apportioned(crate::records::ApportionmentRun),
    /// A month of a fee schedule issued: the run and every charge made.
    FeesIssued {
        run: crate::records::FeeRun,
        charges: Vec<crate::records::FeeCharge>,
    },
    /// Rent and fees paid at a counter.
    FeesPaid(crate::records::FeePayment),
    /// A month's overdue bills disconnected: the run as it is now, and the meters tripped.
    FeesDisconnected {
        run: crate::records::FeeRun,
        meters: Vec<voltvend_domain::MeterId>,
    },
    /// A month dunned: the run as it is now, and its overdue charges with their late fees.
    FeesDunned {
        run: crate::records::FeeRun,
        charges: Vec<crate::records::FeeCharge>,
    },
    /// A vending point's remittance recorded: the point as it is now.
    Settled(voltvend_domain::VendingPoint),
    /// Commands queued for a meter by an operator.
    CommandsQueued(Vec<crate::records::MeterCommand>),
    /// The head end's attempt at a command recorded: the command as it is now.
    CommandAttempt(crate::records::MeterCommand),
    /// An account settled and closed (销户), or closed in an ownership transfer (过户) to a new account.
    AccountClosed(lifecycle::AccountClosed),
    /// 换表.
    MeterReplaced(lifecycle::MeterReplaced),
    /// An account switched between prepaid and postpaid: its mode now, each meter's cut-over reading, and the
    /// postpaid balance carried to arrears (switching back to prepaid).
    BillingModeSwitched {
        account_id: AccountId,
        mode: voltvend_domain::BillingMode,
        cutover: Vec<(MeterId, Option<voltvend_domain::tariff::pricing::Reading>)>,
        to_arrears_minor: i64,
    },
    /// A local meter's return data recorded: the meter's credit as kept now, and whether this return became its
    /// last (an older one is kept in the audit trail only).
    MeterReturnRecorded {
        meter_id: MeterId,
        local: crate::records::LocalCredit,
        current: bool,
    },
    /// A user card issued (or reissued) to an IC-card meter: the meter's card as it is now.
    CardIssued(crate::records::MeterCard),
    /// A meter's card reported lost or handed back: the card as it is now.
    CardChanged(crate::records::MeterCard),
    /// Return data read back from a card: the meter's card as it is now, and whether the return became the
    /// meter's last.
    CardRead {
        card: crate::records::MeterCard,
        current: bool,
    },
    /// A chunk of an STS key change campaign planned: the campaign as it is now.
    CampaignPlanned(crate::records::KeyCampaign),
    /// A correction asked for, approved or rejected: the approval as it is now.
    Approval(crate::records::ApprovalRecord),
    /// Historical arrears entered: how many lines, their total, and the transfers (one per set of books).
    ArrearsEntered {
        lines: usize,
        total_minor: i64,
        transfers: Vec<TransferId>,
    },
    /// 报停 or 复电: the account's status now, and the desired supply of each of its remote meters.
    AccountStatus {
        account_id: AccountId,
        status: voltvend_domain::AccountStatus,
        supplies: Vec<(MeterId, crate::records::Relay)>,
    },
}

/// What a batch of readings did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingsOutcome {
    pub meter_id: MeterId,
    /// Readings billed; for a meter with no account, readings measured (recorded, billed to nobody).
    pub billed: usize,
    /// At or before the last reading already billed (duplicates, late arrivals).
    pub skipped: usize,
    pub flagged: usize,
    pub charged_minor: i64,
    pub transfer: Option<TransferId>,
    pub balance_after_minor: i64,
    pub relay: Option<OutboxKind>,
    /// Credit is used up but the supply stays on for now: friendly hours (the trip waits for them to end).
    pub trip_held: bool,
}

/// The answer to one submitted operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // One per operation, moved once to its caller: boxing would buy nothing.
pub enum Applied {
    Committed {
        outcome: Outcome,
        response: Option<Vec<u8>>,
    },
    /// The operation was applied before; this is what was saved then.
    Replayed {
        kind: String,
        at: Timestamp,
        response: Option<Vec<u8>>,
    },
}

impl Applied {
    pub fn is_replay(&self) -> bool {
        matches!(self, Self::Replayed { .. })
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        match self {
            Self::Committed { outcome, .. } => Some(outcome),
            Self::Replayed { .. } => None,
        }
    }

    pub fn response(&self) -> Option<&[u8]> {
        match self {
            Self::Committed { response, .. } | Self::Replayed { response, .. } => response.as_deref(),
        }
    }
}

/// Renders the response saved with an operation for its retries (the adapter's wire format).
pub type Renderer = dyn Fn(&Outcome) -> Vec<u8> + Send + Sync;

/// Applies `op` to the workspace at `at`. On error the workspace is as it was.
pub fn execute(
    ws: &mut Workspace,
    op: &Operation,
    render: Option<&Renderer>,
    ctx: &Context,
    at: Timestamp,
) -> Result<Applied, OpError> {
    let fingerprint = op.fingerprint();
    if let Some(done) = ws.idempotency.get(&op.id)? {
        return if done.fingerprint == fingerprint {
            Ok(Applied::Replayed { kind: done.kind.clone(), at: done.at, response: done.response.clone() })
        } else {
            Err(OpError::IdempotencyConflict(op.id))
        };
    }
    text::check("request source", &op.actor.source, Actor::SOURCE_LEN_MAX)?;
    let sp = ws.savepoint();
    let applied = match apply_command(ws, op, ctx, at) {
        Err(e) => match &op.command {
            // The money of a counter sale was taken before it was refused: keep it as a refused payment.
            Command::Sale(s) if sale::keeps_payment(&e) => {
                ws.rollback(sp);
                sale::refuse(ws, op, s, &e, at).map_err(|_| e)
            }
            // So was an online payment's: the provider holds it for us.
            Command::SettlePayment(p) if payments::keeps_payment(&e) => {
                ws.rollback(sp);
                payments::refuse(ws, op, p, &e, at).map_err(|_| e)
            }
            _ => Err(e),
        },
        ok => ok,
    };
    match applied {
        Ok((outcome, entry)) => {
            let record = next_record(ws.audit_head, at, op.id, op.actor.operator, &op.actor.source, entry);
            ws.audit_head = AuditHead { seq: record.seq, hash: record.hash };
            ws.audit.push(record);
            let response = render.map(|r| r(&outcome));
            ws.idempotency.put(
                op.id,
                IdempotencyRecord {
                    operation_id: op.id,
                    fingerprint,
                    kind: op.command.kind().to_string(),
                    at,
                    response: response.clone(),
                },
            );
            Ok(Applied::Committed { outcome, response })
        }
        Err(e) => {
            ws.rollback(sp);
            Err(e)
        }
    }
}

fn apply_command(
    ws: &mut Workspace,
    op: &Operation,
    ctx: &Context,
    at: Timestamp,
) -> Result<(Outcome, AuditEntry), OpError> {
    match &op.command {
        Command::CreatePremises(p) => setup::create_premises(ws, op, p),
        Command::AddOperator(o) => setup::add_operator(ws, op, o),
        Command::CreateRole(r) => auth::create_role(ws, r),
        Command::RecordLogin(l) => auth::record_login(ws, l, at),
        Command::Logout(l) => auth::logout(ws, op, l, at),
        Command::LogoutEverywhere(l) => auth::logout_everywhere(ws, op, l, at),
        Command::SetLanguage(l) => auth::set_language(ws, op, l),
        Command::ChangePassword(p) => auth::change_password(ws, op, p, at),
        Command::UnlockOperator(u) => auth::unlock_operator(ws, op, u),
        Command::CreateApiToken(t) => auth::create_api_token(ws, op, t, at),
        Command::RevokeApiToken(t) => auth::revoke_api_token(ws, op, t, at),
        Command::ImportVendingKey(k) => keys::import_vending_key(ws, ctx, k),
        Command::RewrapSecrets(r) => keys::rewrap(ws, ctx, r),
        Command::ImportCardKey(k) => cards::import_card_key(ws, ctx, k),
        Command::IssueCard(i) => cards::issue_card(ws, op, i, at),
        Command::SetCardStatus(s) => cards::set_card_status(ws, op, s),
        Command::IssueFieldCard(f) => cards::issue_field_card(ws, op, f),
        Command::RecordCardRead(r) => cards::record_card_read(ws, op, r, at),
        Command::SettleVendingPoint(v) => counter::settle_vending_point(ws, op, v),
        Command::IssueStsTokens(t) => tokens::sts(ws, op, t, ctx, at),
        Command::IssueOpgToken(t) => tokens::openpaygo(ws, op, t, ctx, at),
        Command::ReprintReceipt(r) => counter::reprint(ws, op, r),
        Command::RefundRefusedPayment(r) => counter::refund(ws, op, r, at),
        Command::CreditRefusedPayment(c) => counter::credit(ws, op, c, ctx, at),
        Command::ImportTariff(t) => setup::import_tariff(ws, t),
        Command::OpenBooks(b) => setup::open_books(ws, op, b),
        Command::OpenVendingPoint(v) => setup::open_vending_point(ws, op, v),
        Command::ReceiveMeter(m) => setup::receive_meter(ws, op, m),
        Command::OpenAccount(a) => setup::open_account(ws, op, a, ctx, at),
        Command::OpenShift(s) => ledger::open_shift(ws, op, s, at),
        Command::CloseShift(s) => ledger::close_shift(ws, op, s, at),
        Command::Sale(s) => {
            let sale = sale::sale(ws, op, s, ctx, at, 0, sale::Origin::Counter)?;
            let entry = sale::audit_entry(&sale);
            Ok((Outcome::Sale(sale), entry))
        }
        Command::ApplyReadings(r) => readings::apply(ws, op, r, ctx, at),
        Command::SetMeterChannel(m) => control::set_channel(ws, op, m, at),
        Command::RebaseReadings(m) => readings::rebase(ws, op, m, ctx, at),
        Command::IssueMeterCommand(m) => control::issue(ws, op, m, ctx, at),
        Command::RecordCommandAttempt(a) => control::record_attempt(ws, op, a, at),
        Command::UpdateCustomer(u) => lifecycle::update_customer(ws, op, u),
        Command::SetAccountStatus(s) => lifecycle::set_status(ws, op, s, at),
        Command::CloseAccount(c) => lifecycle::close(ws, op, c, at),
        Command::TransferOwnership(t) => lifecycle::transfer(ws, op, t, at),
        Command::ReplaceMeter(r) => lifecycle::replace_meter(ws, op, r, ctx, at),
        Command::RequestCorrection(r) => corrections::request(ws, op, r, ctx, at),
        Command::DecideCorrection(d) => corrections::decide(ws, op, d, ctx, at),
        Command::EnterArrears(a) => corrections::enter_arrears(ws, op, a, at),
        Command::UpdateOperator(u) => auth::update_operator(ws, op, u, at),
        Command::PlanKeyCampaign(p) => campaign::plan(ws, op, p, ctx, at),
        Command::SwitchBillingMode(s) => lifecycle::switch_billing_mode(ws, op, s, at),
        Command::OpenPaymentChannel(c) => payments::open_channel(ws, op, c, at),
        Command::SetPaymentChannelActive(c) => payments::set_channel_active(ws, op, c),
        Command::CreatePaymentIntent(i) => payments::create_intent(ws, op, i, at),
        Command::SettlePayment(p) => payments::settle(ws, op, p, ctx, at),
        Command::ExpirePaymentIntent(x) => payments::expire(ws, op, x, at),
        Command::RecordPaymentOrder(r) => payments::record_order(ws, op, r),
        Command::ImportPaymentStatement(i) => payments::import_statement(ws, op, i, at),
        Command::InstallMeter(i) => apportion::install_meter(ws, op, i),
        Command::SetMeterCategory(m) => apportion::set_category(ws, op, m),
        Command::CreateApportionmentRule(r) => apportion::create_rule(ws, op, r, at),
        Command::ApportionPeriod(a) => apportion::apportion(ws, op, a, at),
        Command::SetFloorArea(f) => fees::set_floor_area(ws, op, f),
        Command::SetFeePolicy(f) => fees::set_policy(ws, op, f),
        Command::CreateFeeSchedule(c) => fees::create_schedule(ws, op, c, at),
        Command::IssueFees(i) => fees::issue(ws, op, i, at),
        Command::DunFees(i) => fees::dun(ws, op, i, at),
        Command::DisconnectOverdue(i) => fees::disconnect(ws, op, i, at),
        Command::PayFees(p) => fees::pay(ws, op, p, at),
        Command::RecordMeterReturn(r) => returns::record_meter_return(ws, op, r, at),
        Command::RaiseAlarm(a) => raise_alarm(ws, op, a, at),
        Command::Reverse(r) => ledger::reverse(ws, op, r, ctx, at),
        Command::PostTransfer(t) => ledger::post_transfer(ws, op, t, at),
    }
}

/// Refuses what lies outside the actor's premises scope, as if it did not exist.
pub(crate) fn in_scope(
    ws: &Workspace,
    actor: &Actor,
    premises_id: PremisesId,
    what: &'static str,
    id: impl ToString,
) -> Result<(), OpError> {
    let Some(scope) = actor.scope else { return Ok(()) };
    let premises = ws.premises.get(&premises_id)?.ok_or_else(|| OpError::not_found("premises", premises_id))?;
    if premises.path.contains(&scope) { Ok(()) } else { Err(OpError::OutOfScope { what, id: id.to_string() }) }
}

/// Posts a transfer the operation creates. A transfer id that already holds another transfer is refused rather
/// than silently replayed: within an operation every transfer is new.
pub(crate) fn committed(outcome: voltvend_domain::PostOutcome) -> Result<Transfer, OpError> {
    match outcome {
        voltvend_domain::PostOutcome::Committed(t) => Ok(t),
        voltvend_domain::PostOutcome::Replayed(t) => Err(voltvend_domain::LedgerError::Conflict(t.request.id).into()),
    }
}

/// Posts a transfer an operation makes, balanced within each property's books (集团财务, ADR 0007). When its
/// postings reach the ledger accounts of more than one property — a sale at the group's counter to a property's
/// tenant, a refund or correction of one, an operator's adjustment — each property's net is posted to that
/// property's inter-property account (due to / due from the rest of the group), so that every property's books
/// balance on their own and the group's are still their sum. A transfer within one property, the common case,
/// is posted as it is. A property that keeps no books in the currency is part of the group's (see
/// [`entity_nets`]).
pub(crate) fn post(
    ws: &mut Workspace,
    mut request: voltvend_domain::TransferRequest,
    at: Timestamp,
) -> Result<voltvend_domain::PostOutcome, OpError> {
    // A transfer between inter-property accounts alone is posted as it is: it is how a difference left between
    // two properties' books (by a transfer posted before these accounts existed) is recorded as owed.
    let inter_only = request.postings.iter().all(|p| {
        ws.book.account(p.account).is_some_and(|(a, _)| a.kind == voltvend_domain::LedgerAccountKind::InterProperty)
    });
    let nets = if inter_only { Vec::new() } else { entity_nets(ws, &request)? };
    if nets.len() > 1 {
        for (entity, account, net) in nets {
            if net == 0 {
                continue;
            }
            let account = account.ok_or_else(|| {
                OpError::refused(
                    "no_books_for_property",
                    format!(
                        "the transfer reaches the ledger accounts of more than one property, and neither property \
                         {entity} nor its group keeps books in {} to balance its part through",
                        request.currency
                    ),
                )
            })?;
            let side = if net > 0 { Side::Credit } else { Side::Debit };
            request.postings.push(voltvend_domain::Posting { account, side, amount_minor: net.saturating_abs() });
        }
    }
    Ok(ws.book.post(request, at)?)
}

/// The net (debits − credits) of a transfer's postings in each set of books they reach, with that books'
/// inter-property account: a ledger account belongs to its property's books when the property keeps books in
/// the transfer's currency, else to the group's. Empty when every posting is within one property (the common
/// case, found by lookups alone); an account not loaded is left to the ledger to refuse.
fn entity_nets(
    ws: &Workspace,
    request: &voltvend_domain::TransferRequest,
) -> Result<Vec<(PremisesId, Option<LedgerAccountId>, i64)>, OpError> {
    let mut located = Vec::with_capacity(request.postings.len());
    for p in &request.postings {
        let Some((account, _)) = ws.book.account(p.account) else { continue };
        let premises = ws
            .premises
            .get(&account.premises_id)?
            .ok_or_else(|| OpError::not_found("premises", account.premises_id))?;
        let group = premises.path.first().copied().unwrap_or(premises.id);
        let signed = match p.side {
            Side::Debit => p.amount_minor,
            Side::Credit => -p.amount_minor,
        };
        located.push((premises.property(), group, signed));
    }
    let first = located.first().map(|l| l.0);
    if located.iter().all(|l| Some(l.0) == first) {
        return Ok(Vec::new());
    }
    let mut nets: Vec<(PremisesId, Option<LedgerAccountId>, i64)> = Vec::with_capacity(2);
    for (property, group, signed) in located {
        let (entity, account) = match inter_property_account(ws, property, request.currency) {
            Some(a) => (property, Some(a)),
            None => (group, inter_property_account(ws, group, request.currency)),
        };
        match nets.iter_mut().find(|n| n.0 == entity) {
            Some(n) => n.2 = n.2.saturating_add(signed),
            None => nets.push((entity, account, signed)),
        }
    }
    Ok(nets)
}

/// The inter-property account of the books a property (or the group) keeps in a currency, among the books
/// loaded (an account's, a vending point's, those on the paths of an operator's transfer): books kept at the
/// property itself first, then any other of its books, by id.
fn inter_property_account(
    ws: &Workspace,
    property: PremisesId,
    currency: voltvend_domain::Currency,
) -> Option<LedgerAccountId> {
    let mut found: Option<(bool, voltvend_domain::BooksId)> = None;
    for b in ws.books.values() {
        if b.currency != currency || ws.book.account(b.inter_property()).is_none() {
            continue;
        }
        let Some(at) = ws.premises.get(&b.premises_id).ok().flatten() else { continue };
        if at.property() != property {
            continue;
        }
        let key = (b.premises_id != property, b.id);
        if found.is_none_or(|f| key < f) {
            found = Some(key);
        }
    }
    found.map(|f| LedgerAccountId::from_uuid(f.1.as_uuid()))
}

/// A premises that must exist and lie within the actor's scope.
pub(crate) fn premises_in_scope(ws: &Workspace, actor: &Actor, id: PremisesId) -> Result<(), OpError> {
    if ws.premises.get(&id)?.is_none() {
        return Err(OpError::not_found("premises", id));
    }
    in_scope(ws, actor, id, "premises", id)
}

/// The operator who acts, when there is one, must exist and be active.
pub(crate) fn acting_operator(ws: &Workspace, actor: &Actor) -> Result<Option<OperatorId>, OpError> {
    let Some(id) = actor.operator else { return Ok(None) };
    match ws.operators.get(&id)? {
        Some(o) if o.active => Ok(Some(id)),
        _ => Err(OpError::refused("operator_inactive", format!("operator {id} is not an active operator"))),
    }
}

/// The shift and vending point a payment at a counter goes through. With `own`, the shift must be open and the
/// acting cashier's; with `scoped`, the vending point must be within the actor's scope.
pub(crate) fn counter_of(
    ws: &Workspace,
    op: &Operation,
    operator: Option<OperatorId>,
    shift_id: ShiftId,
    own: bool,
    scoped: bool,
) -> Result<(voltvend_domain::Shift, voltvend_domain::VendingPoint), OpError> {
    let shift = ws.shifts.get(&shift_id)?.ok_or_else(|| OpError::not_found("shift", shift_id))?.clone();
    if own {
        shift.ensure_open()?;
        if operator.is_some_and(|o| o != shift.operator_id) {
            return Err(OpError::refused("shift_not_yours", "payments go through the cashier's own open shift"));
        }
    }
    let point = ws
        .vending_points
        .get(&shift.vending_point_id)?
        .ok_or_else(|| OpError::not_found("vending point", shift.vending_point_id))?
        .clone();
    if scoped {
        in_scope(ws, &op.actor, point.premises_id, "vending point", point.id)?;
    }
    Ok((shift, point))
}

/// The refusal of an online payment entered at a counter.
pub(crate) fn online_not_at_counter() -> OpError {
    OpError::refused(
        "online_not_at_counter",
        "an online payment is recorded from the provider's verified word, not at a counter",
    )
}

/// The ledger account a payment's money went into: the shift's drawer for cash and for online payments (an
/// online channel's standing shift's drawer is the provider's clearing account), the books' clearing account
/// for card and bank-transfer payments at a counter.
pub(crate) fn money_account(
    method: crate::records::PaymentMethod,
    books: &voltvend_domain::Books,
    drawer: impl FnOnce() -> Result<LedgerAccountId, OpError>,
) -> Result<LedgerAccountId, OpError> {
    use crate::records::PaymentMethod;
    match method {
        PaymentMethod::Cash | PaymentMethod::Online => drawer(),
        PaymentMethod::BankCard => Ok(books.card_clearing),
        PaymentMethod::BankTransfer => Ok(books.transfer_clearing),
    }
}

/// A wallet's balance (credits − debits) and what may still be spent from it (balance + overdraft limit).
pub(crate) fn wallet_position(ws: &Workspace, account: &AccountRecord) -> Result<(i64, i64), OpError> {
    let (ledger, balance) = ws.book.account(account.wallet).ok_or_else(|| {
        OpError::Internal(format!("wallet {} of account {} not loaded", account.wallet, account.account.id))
    })?;
    let b = balance.normal(Side::Credit);
    Ok((b, b.saturating_add(ledger.overdraft_limit_minor.unwrap_or(0))))
}

/// What a customer owes from the past (the arrears account's debit balance).
pub(crate) fn arrears_owed(ws: &Workspace, account: &AccountRecord) -> Result<i64, OpError> {
    let (_, balance) = ws
        .book
        .account(account.arrears)
        .ok_or_else(|| OpError::Internal(format!("arrears of account {} not loaded", account.account.id)))?;
    Ok(balance.normal(Side::Debit).max(0))
}

/// The longest detail of a system alarm.
const ALARM_DETAIL_MAX: usize = 1_000;

/// A system alarm into the notification outbox (see [`crate::command::RaiseAlarm`]).
fn raise_alarm(
    ws: &mut Workspace,
    op: &Operation,
    a: &crate::command::RaiseAlarm,
    at: Timestamp,
) -> Result<(Outcome, AuditEntry), OpError> {
    if op.actor.operator.is_some() {
        return Err(OpError::refused("system_only", "system alarms are raised by the system, not by an operator"));
    }
    if a.kind.about_a_meter() {
        return Err(OpError::refused("bad_value", format!("{} is about a meter, not a system alarm", a.kind)));
    }
    voltvend_domain::text::check("detail", &a.detail, ALARM_DETAIL_MAX)?;
    ws.outbox.push(crate::records::OutboxRow {
        operation_id: op.id,
        idx: 0,
        meter_id: None,
        kind: a.kind,
        at,
        detail: a.detail.clone(),
    });
    let entry = AuditEntry::new("raise_alarm", "system".to_string(), String::new(), format!("{} {}", a.kind, a.detail));
    Ok((Outcome::Updated { what: "alarm", id: op.id.to_string() }, entry))
}
