//! 在线缴费: online payments through a provider (DESIGN.md §2.4; ADR 0005).
//!
//! A payment channel is one merchant account at one provider, selling for one property's books. It works as an
//! unattended vending point: its own receipt numbers, and a standing shift of its own service operator (who
//! cannot log in) whose drawer is the provider's clearing account — what the provider owes until it settles to
//! the bank. A sale made from an online payment is therefore an ordinary sale in every report, receipt,
//! reversal and reconciliation, through that shift.
//!
//! A customer's intent to pay names the account, the meter and the amount; the provider's order is made from it
//! (its merchant order number is the intent's id). When the provider says the intent was paid — a notification
//! whose signature was verified, or its answer to a status query — [`settle`] makes one sale. The settling
//! operation's id is derived from the intent and the provider's transaction, so the same notification twice, or
//! a query and a notification for one payment, are one operation. A payment that cannot be credited is never
//! dropped:
//! * a different amount is held for review (a refused payment, owed back until an operator decides);
//! * a different currency cannot be booked in the account's books: the intent is held with what was paid;
//! * a closed account, a suspended meter, a payment made after the intent expired, or a second payment for an
//!   intent already settled is kept as a refused payment (refund pending).

use jiff::{SignedDuration, Timestamp};
use voltvend_domain::{
    LedgerAccount, LedgerAccountId, LedgerAccountKind, Operator, OperatorId, Owner, PaymentChannelId, Shift, ShiftId,
    VendingPoint, VendingPointId, text,
};

use super::sale::{self, Origin};
use super::{Outcome, acting_operator, in_scope, premises_in_scope};
use crate::audit::AuditEntry;
use crate::command::{
    CreatePaymentIntent, ExpirePaymentIntent, ImportPaymentStatement, OpenPaymentChannel, Operation, PayFees,
    RecordPaymentOrder, Sale, SaleAmount, SetPaymentChannelActive, SettlePayment,
};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{
    IntentPurpose, IntentStatus, PaymentChannel, PaymentIntent, PaymentMethod, PaymentStatement, StatementEntry,
};
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

/// The longest an intent may stay open: a provider's order for a prepaid purchase is paid within minutes.
pub const INTENT_TTL_MAX: SignedDuration = SignedDuration::from_hours(24);

/// What opening a channel creates, with ids derived from the operation (and the service operator's username
/// from the channel), so that the footprint can name them before the operation runs.
pub(crate) struct ChannelParts {
    pub vending_point_id: VendingPointId,
    pub operator_id: OperatorId,
    pub username: String,
    pub shift_id: ShiftId,
    pub clearing: LedgerAccountId,
}

pub(crate) fn channel_parts(op: &Operation, channel: PaymentChannelId) -> ChannelParts {
    let hex = channel.as_uuid().simple().to_string();
    ChannelParts {
        vending_point_id: VendingPointId::from_uuid(op.derived_id("channel-point", 1)),
        operator_id: OperatorId::from_uuid(op.derived_id("channel-operator", 1)),
        username: format!("online-{}", hex.get(..12).unwrap_or(&hex)),
        shift_id: ShiftId::from_uuid(op.derived_id("channel-shift", 1)),
        clearing: LedgerAccountId::from_uuid(op.derived_id("channel-clearing", 1)),
    }
}

fn channel_of(ws: &Workspace, id: PaymentChannelId) -> Result<PaymentChannel, OpError> {
    ws.payment_channels.get(&id)?.cloned().ok_or_else(|| OpError::not_found("payment channel", id))
}

fn intent_of(ws: &Workspace, id: voltvend_domain::PaymentIntentId) -> Result<PaymentIntent, OpError> {
    ws.payment_intents.get(&id)?.cloned().ok_or_else(|| OpError::not_found("payment intent", id))
}

pub(super) fn open_channel(ws: &mut Workspace, op: &Operation, c: &OpenPaymentChannel, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    if ws.payment_channels.get(&c.channel_id)?.is_some() {
        return Err(OpError::Exists { what: "payment channel", id: c.channel_id.to_string() });
    }
    let name = text::required("channel name", &c.name, PaymentChannel::NAME_LEN_MAX)?;
    let books = ws.books.get(&c.books_id)?.cloned().ok_or_else(|| OpError::not_found("books", c.books_id))?;
    premises_in_scope(ws, &op.actor, c.premises_id)?;
    let premises = ws.premises.get(&c.premises_id)?.ok_or_else(|| OpError::not_found("premises", c.premises_id))?;
    if !premises.path.contains(&books.premises_id) {
        return Err(OpError::refused(
            "payment_channel_elsewhere",
            "a channel sells within the property whose books it sells for",
        ));
    }
    let parts = channel_parts(op, c.channel_id);
    if ws.usernames.get(&parts.username)?.is_some() {
        return Err(OpError::Exists { what: "operator", id: parts.username });
    }
    let point = VendingPoint::new(parts.vending_point_id, c.premises_id, &name, books.currency, books.id)?;
    // The channel's service operator: it owns the standing shift so that online sales have a cashier of
    // record, and it can never log in (inactive, no password).
    let mut operator = Operator::new(parts.operator_id, &parts.username, &name, "read_only", c.premises_id, "");
    operator.active = false;
    ws.book.open_account(LedgerAccount::new(
        parts.clearing,
        LedgerAccountKind::PaymentClearing,
        Owner::Provider(c.provider.as_str().to_string()),
        c.premises_id,
        books.currency,
        None,
    )?)?;
    let shift = Shift::open(parts.shift_id, point.id, operator.id, parts.clearing, at, 0)?;
    let channel = PaymentChannel {
        id: c.channel_id,
        provider: c.provider,
        name,
        premises_id: c.premises_id,
        books_id: books.id,
        currency: books.currency,
        vending_point_id: point.id,
        shift_id: shift.id,
        operator_id: operator.id,
        clearing: parts.clearing,
        active: true,
        created_at: at,
    };
    let entry = AuditEntry::new(
        "open_payment_channel",
        format!("payment_channel:{}", c.channel_id),
        "",
        format!("provider={} books={} vending_point={}", c.provider, books.id, point.id),
    );
    ws.vending_points.put(point.id, point);
    ws.usernames.put(operator.username.clone(), operator.id);
    ws.operators.put(operator.id, operator);
    ws.open_shifts.put(channel.operator_id, Some(shift.id));
    ws.shifts.put(shift.id, shift);
    ws.payment_channels.put(channel.id, channel.clone());
    Ok((Outcome::PaymentChannel(channel), entry))
}

pub(super) fn set_channel_active(ws: &mut Workspace, op: &Operation, a: &SetPaymentChannelActive) -> Done {
    acting_operator(ws, &op.actor)?;
    let mut channel = channel_of(ws, a.channel_id)?;
    in_scope(ws, &op.actor, channel.premises_id, "payment channel", channel.id)?;
    let entry = AuditEntry::new(
        "set_payment_channel_active",
        format!("payment_channel:{}", channel.id),
        format!("active={}", channel.active),
        format!("active={}", a.active),
    );
    channel.active = a.active;
    ws.payment_channels.put(channel.id, channel.clone());
    Ok((Outcome::PaymentChannel(channel), entry))
}

pub(super) fn create_intent(ws: &mut Workspace, op: &Operation, i: &CreatePaymentIntent, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    if ws.payment_intents.get(&i.intent_id)?.is_some() {
        return Err(OpError::Exists { what: "payment intent", id: i.intent_id.to_string() });
    }
    if i.amount_minor <= 0 {
        return Err(OpError::refused("amount_not_positive", "the amount to pay must be positive"));
    }
    if i.expires_at <= at || i.expires_at.duration_since(at) > INTENT_TTL_MAX {
        return Err(OpError::refused("bad_expiry", "an intent expires after now and within 24 hours"));
    }
    let channel = channel_of(ws, i.channel_id)?;
    if !channel.active {
        return Err(OpError::refused("payment_channel_closed", format!("{} takes no new payments", channel.name)));
    }
    let account =
        ws.accounts.get(&i.account_id)?.cloned().ok_or_else(|| OpError::not_found("account", i.account_id))?;
    in_scope(ws, &op.actor, account.account.premises_id, "account", i.account_id)?;
    match i.purpose {
        IntentPurpose::Energy => account.account.ensure_can_vend()?,
        // Rent and fees are owed whatever the account's state, as at the counter; what may be paid is checked
        // now, so that a customer is not sent to pay what would be refused.
        IntentPurpose::Fees => {
            super::fees::payable(ws, &account, i.amount_minor)?;
        }
    }
    let within = ws.premises.get(&account.account.premises_id)?.is_some_and(|p| p.path.contains(&channel.premises_id));
    if account.books != channel.books_id || !within {
        return Err(OpError::refused(
            "payment_channel_elsewhere",
            format!("{} sells for other premises or another property's books", channel.name),
        ));
    }
    let meter = ws.meters.get(&i.meter_id)?.cloned().ok_or_else(|| OpError::not_found("meter", i.meter_id))?;
    if meter.meter.account_id != Some(account.account.id) {
        return Err(OpError::refused(
            "meter_not_on_account",
            format!("meter {} is not on account {}", i.meter_id, i.account_id),
        ));
    }
    meter.meter.ensure_active()?;
    let intent = PaymentIntent {
        id: i.intent_id,
        channel_id: channel.id,
        account_id: account.account.id,
        meter_id: meter.meter.id,
        amount_minor: i.amount_minor,
        currency: account.account.currency,
        purpose: i.purpose,
        created_at: at,
        expires_at: i.expires_at,
        status: IntentStatus::Open,
        provider_ref: None,
        provider_txn: None,
        paid_minor: None,
        paid_currency: None,
        paid_at: None,
        settled_by: None,
        reason_code: String::new(),
    };
    let entry = AuditEntry::new(
        "create_payment_intent",
        format!("payment_intent:{}", intent.id),
        "",
        format!(
            "channel={} account={} meter={} amount={} purpose={}",
            channel.id, account.account.id, meter.meter.id, i.amount_minor, i.purpose
        ),
    );
    ws.payment_intents.put(intent.id, intent.clone());
    Ok((Outcome::PaymentIntent(intent), entry))
}

/// The sale an intent's payment makes, through its channel's standing shift.
fn sale_for(channel: &PaymentChannel, intent: &PaymentIntent, p: &SettlePayment) -> Sale {
    Sale {
        account_id: intent.account_id,
        meter_id: intent.meter_id,
        shift_id: channel.shift_id,
        method: PaymentMethod::Online,
        amount: SaleAmount::Paid(p.paid_minor),
        fees_minor: 0,
        reference: p.provider_txn.clone(),
        expected_paid_minor: None,
    }
}

/// A provider's number for something (a transaction, an order), as the provider wrote it: present, bounded and
/// without surrounding spaces, so that the same number always matches itself.
fn provider_number(what: &'static str, value: &str, max: usize) -> Result<(), OpError> {
    if text::required(what, value, max)? != value {
        return Err(OpError::refused("bad_provider_txn", format!("a {what} has no surrounding spaces")));
    }
    Ok(())
}

fn check_settlement(op: &Operation, p: &SettlePayment) -> Result<(), OpError> {
    if op.actor.operator.is_some() {
        return Err(OpError::refused(
            "system_only",
            "only the provider's verified word settles a payment, never an operator's",
        ));
    }
    provider_number("provider transaction number", &p.provider_txn, SettlePayment::TXN_LEN_MAX)?;
    if p.paid_minor <= 0 {
        return Err(OpError::refused("amount_not_positive", "a payment is of a positive amount"));
    }
    Ok(())
}

pub(super) fn settle(ws: &mut Workspace, op: &Operation, p: &SettlePayment, ctx: &Context, at: Timestamp) -> Done {
    check_settlement(op, p)?;
    let mut intent = intent_of(ws, p.intent_id)?;
    let channel = channel_of(ws, intent.channel_id)?;
    // Money in another currency cannot be booked in the account's books at all: first, whatever the intent's
    // state. An open intent holds it; for one already settled it is refused unbooked (the provider is told so,
    // and the log and the provider's statement show it).
    if p.currency != intent.currency.code() && intent.status != IntentStatus::Open {
        return Err(OpError::refused(
            "payment_currency_mismatch",
            format!(
                "paid in {}, for intent {} in {} that is {} already",
                p.currency, intent.id, intent.currency, intent.status
            ),
        ));
    }
    // An intent expired unpaid still takes a payment made before its expiry (a notification that came late);
    // one made after is refused below.
    if !matches!(intent.status, IntentStatus::Open | IntentStatus::Expired) {
        return Err(OpError::refused(
            "payment_intent_settled",
            format!("intent {} is {} already: this is a second payment for it", intent.id, intent.status),
        ));
    }
    if p.currency != intent.currency.code() {
        // Not bookable in the account's books: hold the intent with what the provider says was paid.
        let entry = AuditEntry::new(
            "payment_held",
            format!("payment_intent:{}", intent.id),
            "status=open",
            format!("status=held reason=payment_currency_mismatch paid={} {}", p.paid_minor, p.currency),
        );
        record_payment(&mut intent, op, p, IntentStatus::Held, "payment_currency_mismatch");
        ws.payment_intents.put(intent.id, intent.clone());
        return Ok((Outcome::PaymentHeld(intent), entry));
    }
    if p.paid_minor != intent.amount_minor {
        return Err(OpError::refused(
            "payment_amount_mismatch",
            format!(
                "paid {}, but the intent asked for {} (minor units): held for review",
                p.paid_minor, intent.amount_minor
            ),
        ));
    }
    if p.paid_at > intent.expires_at {
        return Err(OpError::refused(
            "payment_intent_expired",
            format!("paid at {}, after the intent expired at {}", p.paid_at, intent.expires_at),
        ));
    }
    let done = match intent.purpose {
        IntentPurpose::Energy => {
            let record = sale::sale(ws, op, &sale_for(&channel, &intent, p), ctx, at, 0, Origin::Counter)?;
            let entry = sale::audit_entry(&record);
            (Outcome::Sale(record), entry)
        }
        IntentPurpose::Fees => {
            let fees = PayFees {
                account_id: intent.account_id,
                shift_id: channel.shift_id,
                method: PaymentMethod::Online,
                reference: p.provider_txn.clone(),
                paid_minor: p.paid_minor,
            };
            super::fees::pay_online(ws, op, &fees, at)?
        }
    };
    record_payment(&mut intent, op, p, IntentStatus::Paid, "");
    ws.payment_intents.put(intent.id, intent);
    Ok(done)
}

fn record_payment(intent: &mut PaymentIntent, op: &Operation, p: &SettlePayment, status: IntentStatus, code: &str) {
    intent.status = status;
    intent.provider_txn = Some(p.provider_txn.clone());
    intent.paid_minor = Some(p.paid_minor);
    intent.paid_currency = Some(p.currency.clone());
    intent.paid_at = Some(p.paid_at);
    intent.settled_by = Some(op.id);
    intent.reason_code = code.to_string();
}

/// Whether a settlement refused with `e` leaves the money as a refused payment: the sale's own reasons, and a
/// payment of another amount, after expiry, or for an intent already settled.
pub(super) fn keeps_payment(e: &OpError) -> bool {
    sale::keeps_payment(e)
        || matches!(
            e,
            OpError::Refused {
                code: "payment_amount_mismatch"
                    | "payment_intent_expired"
                    | "payment_intent_settled"
                    // Rent and fees paid meanwhile (at a counter, or by a second intent).
                    | "no_fees_due"
                    | "fees_overpaid",
                ..
            }
        )
}

/// Keeps a payment whose settlement was refused with `e` as a refused payment owed back, and marks its intent
/// (unless the intent was settled before: this was a second payment for it, and the first settlement stands).
pub(super) fn refuse(ws: &mut Workspace, op: &Operation, p: &SettlePayment, e: &OpError, at: Timestamp) -> Done {
    check_settlement(op, p)?;
    let mut intent = intent_of(ws, p.intent_id)?;
    let channel = channel_of(ws, intent.channel_id)?;
    let (mut outcome, entry) = sale::refuse(ws, op, &sale_for(&channel, &intent, p), e, at)?;
    // Paid for rent and fees: owed back as such, and credited after review as a fee payment, not a sale.
    if intent.purpose == IntentPurpose::Fees
        && let Outcome::PaymentRefused { payment, .. } = &mut outcome
    {
        payment.purpose = IntentPurpose::Fees;
        ws.refused_payments.put(payment.operation_id, payment.clone());
    }
    let done = (outcome, entry);
    if matches!(intent.status, IntentStatus::Open | IntentStatus::Expired) {
        let status = if e.code() == "payment_amount_mismatch" { IntentStatus::Held } else { IntentStatus::Refused };
        record_payment(&mut intent, op, p, status, e.code());
        ws.payment_intents.put(intent.id, intent);
    }
    Ok(done)
}

pub(super) fn expire(ws: &mut Workspace, op: &Operation, x: &ExpirePaymentIntent, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let mut intent = intent_of(ws, x.intent_id)?;
    if let Some(account) = ws.accounts.get(&intent.account_id)? {
        in_scope(ws, &op.actor, account.account.premises_id, "payment intent", intent.id)?;
    }
    if intent.status != IntentStatus::Open {
        return Err(OpError::refused("payment_intent_not_open", format!("intent {} is {}", intent.id, intent.status)));
    }
    if at <= intent.expires_at {
        return Err(OpError::refused(
            "payment_intent_not_expired",
            format!("intent {} is open until {}", intent.id, intent.expires_at),
        ));
    }
    intent.status = IntentStatus::Expired;
    let entry = AuditEntry::new(
        "expire_payment_intent",
        format!("payment_intent:{}", intent.id),
        "status=open",
        "status=expired",
    );
    ws.payment_intents.put(intent.id, intent.clone());
    Ok((Outcome::PaymentIntent(intent), entry))
}

/// Records the provider's reference for an intent's order (M-Pesa's `CheckoutRequestID`): only the system, which
/// has just had it from the provider, and once per intent — a callback naming the reference settles this intent
/// and no other, so a second reference would leave the first order's payment without its intent.
pub(super) fn record_order(ws: &mut Workspace, op: &Operation, r: &RecordPaymentOrder) -> Done {
    if op.actor.operator.is_some() {
        return Err(OpError::refused("system_only", "only the system records what the provider named an order"));
    }
    provider_number("provider order reference", &r.provider_ref, RecordPaymentOrder::REF_LEN_MAX)?;
    let mut intent = intent_of(ws, r.intent_id)?;
    // Expired too: a prompt pushed in time whose reference is recorded late (the server adopts it from the
    // callback once the provider confirmed its payment).
    if !matches!(intent.status, IntentStatus::Open | IntentStatus::Expired) {
        return Err(OpError::refused("payment_intent_not_open", format!("intent {} is {}", intent.id, intent.status)));
    }
    if let Some(known) = &intent.provider_ref {
        return Err(OpError::refused(
            "payment_order_exists",
            format!("intent {} has its provider order {known} already: make a new intent to pay again", intent.id),
        ));
    }
    intent.provider_ref = Some(r.provider_ref.clone());
    let entry = AuditEntry::new(
        "record_payment_order",
        format!("payment_intent:{}", intent.id),
        "",
        format!("provider_ref={}", r.provider_ref),
    );
    ws.payment_intents.put(intent.id, intent.clone());
    Ok((Outcome::PaymentIntent(intent), entry))
}

/// 对账单导入: keeps a provider's statement of one day for a channel in the actor's scope. Every line must name a
/// transaction and a positive amount in a currency code; nothing is booked — the reconciliation reads it against
/// the ledger, and what it shows is settled by the ordinary operations (a status query, a refund recorded).
pub(super) fn import_statement(ws: &mut Workspace, op: &Operation, i: &ImportPaymentStatement, at: Timestamp) -> Done {
    let operator = acting_operator(ws, &op.actor)?;
    let channel = channel_of(ws, i.channel_id)?;
    in_scope(ws, &op.actor, channel.premises_id, "payment channel", channel.id)?;
    if i.lines.len() > PaymentStatement::LINES_MAX {
        return Err(OpError::refused(
            "statement_too_long",
            format!("a statement holds at most {} lines", PaymentStatement::LINES_MAX),
        ));
    }
    for (n, line) in i.lines.iter().enumerate() {
        let bad = |why: &str| OpError::refused("bad_statement_line", format!("statement line {}: {why}", n + 1));
        for (what, v) in [("transaction number", &line.transaction_id), ("order number", &line.order_no)] {
            if v.len() > StatementEntry::FIELD_LEN_MAX || v.chars().any(char::is_control) || v.trim() != v {
                return Err(bad(&format!("the {what} is not one (at most {} bytes)", StatementEntry::FIELD_LEN_MAX)));
            }
        }
        if line.transaction_id.is_empty() {
            return Err(bad("no transaction number"));
        }
        if line.amount_minor <= 0 || line.amount_minor > StatementEntry::AMOUNT_MAX_MINOR {
            return Err(bad("the amount must be positive and at most 10^12 minor units"));
        }
        if line.currency.len() != 3 || !line.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad("the currency is not an ISO 4217 code"));
        }
    }
    let statement = PaymentStatement {
        id: op.id,
        channel_id: channel.id,
        day: i.day,
        digest: i.digest,
        imported_at: at,
        imported_by: operator,
        lines: i.lines.clone(),
    };
    let entry = AuditEntry::new(
        "import_payment_statement",
        format!("payment_channel:{}", channel.id),
        "",
        format!("day={} lines={} sha256={}", i.day, i.lines.len(), crate::audit::hex(&i.digest)),
    );
    ws.payment_statements.push(statement.clone());
    Ok((Outcome::StatementImported(statement), entry))
}
