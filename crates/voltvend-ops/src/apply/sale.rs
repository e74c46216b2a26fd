//! 售电: a sale at a counter.
//!
//! The payment is split (DESIGN.md §2.4): arrears recovery by the account's rule (never more than owed),
//! fees due, then credit. For a remote meter the credit goes to the wallet the master station debits, and a
//! relay that is open because credit ran out is asked to close. For an STS keypad meter the credit buys units
//! at the inverse tariff (current block and period, taxes), rounded down to what a token can carry
//! (IEC 62055-41 §6.3.5); the token takes the meter's next TID. For an OpenPAYGO device the credit buys whole
//! days (or hours) at the device's price, and the token takes its next count. Whatever units do not use stays
//! as wallet credit. One balanced transfer books it all, and the vending point's next receipt number is taken.
//!
//! A customer may also ask for a quantity ("100 kWh"): the payment is then the smallest one that buys exactly
//! that quantity now, after arrears and fees ([`payment_for_quantity`]).
//!
//! A sale refused after the money was taken — because of the account's or the meter's state, not because the
//! request was malformed — leaves a [`RefusedPayment`]: the money is booked as owed back to the customer.

use jiff::Timestamp;
use voltvend_domain::tariff::inverse::{
    ArrearsRecovery, Purchase, Quote, payment_covering, payment_for_quantity, quote, split_payment,
};
use voltvend_domain::{
    AccountError, ControlMode, MeterError, MeterProtocol, Posting, Side, TransferId, TransferKind, TransferRequest,
    Utility, VendingError, text,
};
use voltvend_sts::amount::representable_at_most;
use voltvend_sts::openpaygo::{OpgDevice, OpgFormat, OpgKind};

use super::{Outcome, acting_operator, arrears_owed, committed, in_scope, keys, wallet_position};
use crate::audit::AuditEntry;
use crate::command::{Operation, Sale, SaleAmount, derive};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{
    AccountRecord, CommandKind, MeterRecord, OpgState, OutboxKind, OutboxRow, PaymentMethod, RefusedPayment, Relay,
    SaleRecord,
};
use crate::secrets::openpaygo_aad;
use crate::workspace::Workspace;

/// Milli-units in the 0.1-unit step of an STS credit token (0.1 kWh = 100 Wh, 0.1 m³ = 100 L).
pub(crate) const MILLI_PER_TOKEN_TENTH: i64 = 100;
/// Milli-units per unit of an OpenPAYGO device (a day or an hour).
const MILLI_PER_UNIT: i64 = 1_000;

/// What the credit of a sale became.
struct Converted {
    tax_minor: i64,
    energy_minor: i64,
    credit_minor: i64,
    quantity_milli: i64,
    tokens: Vec<String>,
}

/// Where the money of a sale comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// Taken now, through the cashier's own open shift.
    Counter,
    /// Taken for an earlier sale that was reversed (纠错). `approved`: by a correction another operator approved,
    /// through the original sale's shift whether or not it is still open (the cash never left its drawer);
    /// otherwise through the acting cashier's own open shift like any sale.
    Reallocated { from: TransferId, approved: bool },
    /// Taken earlier and kept as a refused payment (owed back), credited after review: through the payment's own
    /// shift whoever reviews it and whether or not it is still open, its money out of the refunds owed.
    Kept,
}

/// Applies a sale; `transfer_no` picks the operation's transfer id (0, or 1 after a reversal).
pub(super) fn sale(
    ws: &mut Workspace,
    op: &Operation,
    s: &Sale,
    ctx: &Context,
    at: Timestamp,
    transfer_no: u32,
    origin: Origin,
) -> Result<SaleRecord, OpError> {
    let reallocated_from = match origin {
        Origin::Counter | Origin::Kept => None,
        Origin::Reallocated { from, .. } => Some(from),
    };
    let operator = acting_operator(ws, &op.actor)?;
    text::check("payment reference", &s.reference, Sale::REFERENCE_LEN_MAX)?;
    let positive = match s.amount {
        SaleAmount::Paid(v) | SaleAmount::Quantity(v) => v > 0,
    };
    if !positive || s.fees_minor < 0 || s.expected_paid_minor.is_some_and(|e| e <= 0) {
        return Err(OpError::refused(
            "amount_not_positive",
            "the amount paid or the quantity must be positive and fees not negative",
        ));
    }
    if s.method == PaymentMethod::Online && op.actor.operator.is_some() && origin != Origin::Kept {
        return Err(super::online_not_at_counter());
    }
    let account = ws.accounts.get(&s.account_id)?.ok_or_else(|| OpError::not_found("account", s.account_id))?.clone();
    in_scope(ws, &op.actor, account.account.premises_id, "account", s.account_id)?;
    let mut meter = ws.meters.get(&s.meter_id)?.ok_or_else(|| OpError::not_found("meter", s.meter_id))?.clone();
    // A kept payment is credited through the shift that took it (an online channel's sells for the whole
    // property): the reviewer's scope is the account's, checked above.
    let own = !matches!(origin, Origin::Reallocated { approved: true, .. } | Origin::Kept);
    let (shift, mut point) = super::counter_of(ws, op, operator, s.shift_id, own, origin != Origin::Kept)?;
    account.account.ensure_can_vend()?;
    if meter.meter.account_id != Some(account.account.id) {
        return Err(OpError::refused(
            "meter_not_on_account",
            format!("meter {} is not on account {}", s.meter_id, s.account_id),
        ));
    }
    meter.meter.ensure_active()?;
    let currency = account.account.currency;
    if point.currency != currency {
        return Err(OpError::refused(
            "currency_mismatch",
            format!("vending point {} takes {}", point.name, point.currency),
        ));
    }
    let books = ws.books.get(&account.books)?.ok_or_else(|| OpError::not_found("books", account.books))?.clone();
    let source = match origin {
        // The refusal booked the money as owed back; crediting it takes it from there.
        Origin::Kept => books.refunds,
        _ => super::money_account(s.method, &books, || Ok(shift.drawer))?,
    };

    // Overdue rent and fees: the property's policy may refuse the sale or take a share of it first.
    let due = super::fees::overdue(ws, &account, at)?;
    due.check_sale()?;
    let owed = arrears_owed(ws, &account)?;
    let (balance_before, _) = wallet_position(ws, &account)?;
    let paid_minor = match s.amount {
        SaleAmount::Paid(paid) => paid,
        SaleAmount::Quantity(q) => {
            let before_fees = payment_for(ws, ctx, &account, &meter, s, q, owed, at)?;
            voltvend_domain::fees::payment_leaving(before_fees, due.overdue_minor, due.policy.share_bp())
                .ok_or_else(too_large)?
        }
    };
    if let Some(expected) = s.expected_paid_minor
        && expected != paid_minor
    {
        return Err(OpError::refused(
            "quote_changed",
            format!("the price is now {paid_minor}, not the {expected} quoted (minor units); quote again"),
        ));
    }
    let property_fees = due.share_of(paid_minor);
    let (arrears, fees, rest) = split_payment(paid_minor - property_fees, owed, account.recovery, s.fees_minor);
    if fees < s.fees_minor {
        return Err(OpError::refused("payment_below_fees", "the payment does not cover the fees due"));
    }
    let quantity_wanted = match s.amount {
        SaleAmount::Quantity(q) => Some(q),
        SaleAmount::Paid(_) => None,
    };
    let converted = match (meter.meter.control_mode, meter.meter.protocol) {
        (ControlMode::Remote, _) => {
            // A postpaid account's payment pays its bills and arrears; what is left, however little, is credit.
            let postpaid = account.account.billing_mode == voltvend_domain::BillingMode::Postpaid;
            if rest < account.min_purchase_minor && !(postpaid && property_fees + arrears > 0) {
                return Err(below_minimum(rest, account.min_purchase_minor));
            }
            for max in [account.max_balance_minor, meter.max_credit_minor].into_iter().flatten() {
                if balance_before.saturating_add(rest) > max {
                    return Err(OpError::refused(
                        "hoarding_limit",
                        format!("the wallet may hold at most {max}; it holds {balance_before} (minor units)"),
                    ));
                }
            }
            Converted { tax_minor: 0, energy_minor: 0, credit_minor: rest, quantity_milli: 0, tokens: Vec::new() }
        }
        (ControlMode::Local, MeterProtocol::StsKeypad) => {
            sts_credit(ws, op, ctx, &account, &meter, rest, quantity_wanted, at, transfer_no)?
        }
        (ControlMode::Local, MeterProtocol::OpenPaygo) => {
            openpaygo_credit(ws, ctx, &account, &meter, rest, quantity_wanted)?
        }
        (ControlMode::Local, MeterProtocol::IcCard) => {
            card_credit(ws, op, ctx, &account, &meter, rest, quantity_wanted, at)?
        }
        (ControlMode::Local, protocol) => {
            return Err(OpError::refused(
                "sale_not_supported",
                format!("sales to {protocol} meters are not supported"),
            ));
        }
    };
    if meter.meter.control_mode == ControlMode::Local
        && let Some(max) = meter.max_credit_minor
        && converted.energy_minor > max
    {
        return Err(OpError::refused(
            "hoarding_limit",
            format!("one purchase for this meter may be worth at most {max} (minor units)"),
        ));
    }

    point.take_sale(paid_minor)?;
    let receipt_no = point.next_receipt()?;
    let mut postings = vec![Posting { account: source, side: Side::Debit, amount_minor: paid_minor }];
    postings.extend(super::fees::take_from_sale(ws, op, &due, property_fees, at)?);
    for (account_id, amount) in [
        (account.arrears, arrears),
        (books.fixed_charge_revenue, fees),
        (books.tax, converted.tax_minor),
        (books.energy_revenue, converted.energy_minor - converted.tax_minor),
        (account.wallet, converted.credit_minor),
    ] {
        if amount > 0 {
            postings.push(Posting { account: account_id, side: Side::Credit, amount_minor: amount });
        }
    }
    let transfer_id = op.transfer_id(transfer_no);
    let request = TransferRequest {
        id: transfer_id,
        kind: TransferKind::Vend,
        currency,
        postings,
        corrects: None,
        memo: format!("receipt {} #{receipt_no}", point.name),
    };
    committed(super::post(ws, request, at)?)?;
    let (balance_after, available_after) = wallet_position(ws, &account)?;
    // Credit restored: close the supply again — unless an operator disconnected it (then only an operator's
    // close reconnects it).
    let held = super::control::control_of(ws, meter.meter.id)?.held_open;
    // A postpaid supply is not off for credit: one disconnected for its bills closes when they are paid (below).
    let prepaid = account.account.billing_mode == voltvend_domain::BillingMode::Prepaid;
    if meter.meter.control_mode == ControlMode::Remote
        && meter.relay == Relay::Open
        && available_after > 0
        && !held
        && prepaid
    {
        meter.relay = Relay::Closed;
        ws.outbox.push(OutboxRow {
            operation_id: op.id,
            idx: i64::from(transfer_no),
            meter_id: Some(meter.meter.id),
            kind: OutboxKind::RelayClose,
            at,
            detail: String::new(),
        });
        ws.meters.put(meter.meter.id, meter.clone());
        super::control::queue(ws, op, meter.meter.id, CommandKind::RelayClose, "payment", at, transfer_no)?;
    }
    // A postpaid account's bills paid: its supplies disconnected for them close again.
    if !prepaid {
        let account = ws.accounts.get(&account.account.id)?.cloned().unwrap_or(account.clone());
        super::fees::reconnect_if_settled(ws, op, &account, at, 50 + transfer_no)?;
    }
    // A meter that shows the master station's balance is told the new one.
    if meter.meter.control_mode == ControlMode::Remote {
        let shown = (balance_after, account.account.currency);
        super::control::show_balance(ws, op, meter.meter.id, shown, "payment", at, transfer_no)?;
    }
    // 累计结余: what a local meter is sold counts towards the credit it holds until it reports otherwise.
    if meter.meter.control_mode == ControlMode::Local && converted.quantity_milli > 0 {
        meter.local.sold(converted.quantity_milli, converted.energy_minor, converted.tax_minor, at);
        ws.meters.put(meter.meter.id, meter.clone());
    }
    let record = SaleRecord {
        operation_id: op.id,
        vending_point_id: point.id,
        receipt_no,
        shift_id: shift.id,
        operator_id: shift.operator_id,
        account_id: account.account.id,
        meter_id: meter.meter.id,
        at,
        method: s.method,
        reference: s.reference.clone(),
        paid_minor,
        arrears_minor: arrears,
        fees_minor: fees,
        tax_minor: converted.tax_minor,
        energy_minor: converted.energy_minor,
        credit_minor: converted.credit_minor,
        quantity_milli: converted.quantity_milli,
        tokens: converted.tokens,
        transfer_id,
        balance_after_minor: balance_after,
        reallocated_from,
        property_fees_minor: property_fees,
    };
    ws.vending_points.put(point.id, point);
    ws.sales.push(record.clone());
    Ok(record)
}

/// The payment a purchase of `quantity_milli` costs now, arrears and fees included.
#[allow(clippy::too_many_arguments)]
fn payment_for(
    ws: &Workspace,
    ctx: &Context,
    account: &AccountRecord,
    meter: &MeterRecord,
    s: &Sale,
    quantity_milli: i64,
    owed: i64,
    at: Timestamp,
) -> Result<i64, OpError> {
    let no_cover = || OpError::refused("below_minimum_purchase", "no payment covers the arrears rule and the units");
    if meter.meter.protocol == MeterProtocol::OpenPaygo {
        let device = opg_state(ws, meter)?;
        if quantity_milli % MILLI_PER_UNIT != 0 {
            return Err(OpError::refused("bad_quantity", format!("this device takes whole {}s", device.unit)));
        }
        let cost = (quantity_milli / MILLI_PER_UNIT).checked_mul(device.price_minor_per_unit).ok_or_else(too_large)?;
        return payment_covering(cost, owed, account.recovery, s.fees_minor).ok_or_else(no_cover);
    }
    if meter.meter.protocol == MeterProtocol::StsKeypad && quantity_milli % MILLI_PER_TOKEN_TENTH != 0 {
        return Err(OpError::refused("bad_quantity", "an STS token carries tenths of a unit (0.1 kWh or 0.1 m³)"));
    }
    let (tariff, state) = tariff_state(ws, ctx, account, meter)?;
    let purchase = purchase(0, owed, account.recovery, s.fees_minor, at);
    let (paid, _) = payment_for_quantity(&tariff, &state, &purchase, quantity_milli)?;
    Ok(paid)
}

fn too_large() -> OpError {
    OpError::refused("amount_too_large", "the amount is too large")
}

fn purchase(paid_minor: i64, owed: i64, recovery: ArrearsRecovery, fees: i64, at: Timestamp) -> Purchase {
    Purchase {
        paid_minor,
        arrears_owed_minor: owed,
        recovery,
        fees_due_minor: fees,
        at,
        period: None,
        max_quantity_milli: None,
    }
}

type TariffState = (std::sync::Arc<voltvend_domain::tariff::Tariff>, voltvend_domain::tariff::pricing::PricingState);

fn tariff_state(
    ws: &Workspace,
    ctx: &Context,
    account: &AccountRecord,
    meter: &MeterRecord,
) -> Result<TariffState, OpError> {
    let code =
        meter.tariff_code.clone().ok_or_else(|| OpError::refused("tariff_required", "the meter has no tariff"))?;
    let doc = ws.tariffs.get(&code)?.ok_or_else(|| OpError::not_found("tariff", &code))?;
    let tariff = ctx.tariffs.get(doc)?;
    let state = ws.pricing.get(&(account.account.id, code))?.cloned().unwrap_or_default();
    Ok((tariff, state))
}

/// Credit for an STS keypad meter: units by the inverse tariff, rounded down to what a token carries.
#[allow(clippy::too_many_arguments)]
fn sts_credit(
    ws: &mut Workspace,
    op: &Operation,
    ctx: &Context,
    account: &AccountRecord,
    meter: &MeterRecord,
    rest: i64,
    quantity_wanted: Option<i64>,
    at: Timestamp,
    transfer_no: u32,
) -> Result<Converted, OpError> {
    let (tariff, state) = tariff_state(ws, ctx, account, meter)?;
    let mut p = purchase(rest, 0, ArrearsRecovery::None, 0, at);
    p.max_quantity_milli = quantity_wanted;
    let mut q: Quote = quote(&tariff, &state, &p)?;
    // A token carries tenths of a unit, and only representable amounts: never round up.
    let tenths = representable_at_most(u64::try_from(q.quantity_milli / MILLI_PER_TOKEN_TENTH).unwrap_or(0))
        .ok_or_else(|| OpError::refused("sts_amount_too_large", "the payment buys more than one token can carry"))?;
    let token_milli = i64::try_from(tenths).unwrap_or(i64::MAX).saturating_mul(MILLI_PER_TOKEN_TENTH);
    if quantity_wanted.is_some_and(|w| w != token_milli) {
        return Err(OpError::refused(
            "sts_amount_not_representable",
            "one token cannot carry exactly that quantity; ask for a nearby amount",
        ));
    }
    if token_milli != q.quantity_milli {
        p.max_quantity_milli = Some(token_milli);
        q = quote(&tariff, &state, &p)?;
    }
    if tenths == 0 || q.energy_minor < account.min_purchase_minor {
        return Err(below_minimum(q.energy_minor, account.min_purchase_minor));
    }
    let mut sts =
        ws.sts.get(&meter.meter.id)?.ok_or_else(|| OpError::not_found("STS key record", meter.meter.id))?.clone();
    // A key change campaign's set goes first; the credit token is then issued under the new key.
    let mut tokens = super::campaign::deliver(ws, &mut sts)?;
    tokens.push(credit_token(ws, op, ctx, meter.meter.utility, &mut sts, tenths, at, transfer_no)?);
    ws.sts.put(meter.meter.id, sts);
    ws.pricing.put((account.account.id, meter.tariff_code.clone().unwrap_or_default()), q.state.clone());
    Ok(Converted {
        tax_minor: q.tax_minor,
        energy_minor: q.energy_minor,
        credit_minor: q.unspent_minor,
        quantity_milli: q.quantity_milli,
        tokens,
    })
}

/// An STS credit token for `tenths` of a unit under the meter's key, with its next TID (kept on `sts`); the
/// random nibble derived from the operation and `n`, so that a retry signs the same token.
#[allow(clippy::too_many_arguments)]
pub(crate) fn credit_token(
    ws: &Workspace,
    op: &Operation,
    ctx: &Context,
    utility: Utility,
    sts: &mut crate::records::StsState,
    tenths: u64,
    at: Timestamp,
    n: u32,
) -> Result<String, OpError> {
    let key = keys::vending_key(ws, ctx, sts.record.params.sgc, sts.record.params.krn)?;
    let issuer = voltvend_sts::Issuer::new(&key, sts.record.clone())?;
    let tid = issuer.tid(at, sts.last_tid)?;
    let kind = match utility {
        Utility::Electricity => voltvend_sts::TransferKind::Electricity,
        Utility::Water => voltvend_sts::TransferKind::Water,
    };
    let rnd = derive(op.id, "sts-rnd", n).as_bytes().first().copied().unwrap_or(0) & 0xF;
    let token = issuer.credit(kind, tenths, tid, rnd)?.digits();
    sts.last_tid = Some(tid);
    Ok(token)
}

/// Credit for an IC-card meter: units by the inverse tariff (a card carries whole Wh or litres), written onto
/// the meter's user card as its next purchase once the sale commits.
#[allow(clippy::too_many_arguments)]
fn card_credit(
    ws: &mut Workspace,
    op: &Operation,
    ctx: &Context,
    account: &AccountRecord,
    meter: &MeterRecord,
    rest: i64,
    quantity_wanted: Option<i64>,
    at: Timestamp,
) -> Result<Converted, OpError> {
    let mut card = super::cards::card_for_sale(ws, meter)?;
    let (tariff, state) = tariff_state(ws, ctx, account, meter)?;
    let mut p = purchase(rest, 0, ArrearsRecovery::None, 0, at);
    p.max_quantity_milli = quantity_wanted;
    let q: Quote = quote(&tariff, &state, &p)?;
    if q.quantity_milli <= 0 || q.energy_minor < account.min_purchase_minor {
        return Err(below_minimum(q.energy_minor, account.min_purchase_minor));
    }
    if u32::try_from(q.quantity_milli).is_err() {
        return Err(OpError::refused(
            "card_amount_too_large",
            "the payment buys more than one card purchase can carry",
        ));
    }
    card.sold_count = card.sold_count.checked_add(1).ok_or_else(|| {
        OpError::refused("card_count_exhausted", "this meter's card purchase count is used up: reissue the card")
    })?;
    card.last_purchase_sale = Some(op.id);
    card.last_purchase_milli = q.quantity_milli;
    card.last_purchase_at = Some(at);
    ws.meter_cards.put(meter.meter.id, card);
    ws.pricing.put((account.account.id, meter.tariff_code.clone().unwrap_or_default()), q.state.clone());
    Ok(Converted {
        tax_minor: q.tax_minor,
        energy_minor: q.energy_minor,
        credit_minor: q.unspent_minor,
        quantity_milli: q.quantity_milli,
        tokens: Vec::new(),
    })
}

fn opg_state(ws: &Workspace, meter: &MeterRecord) -> Result<OpgState, OpError> {
    ws.opg.get(&meter.meter.id)?.cloned().ok_or_else(|| OpError::not_found("OpenPAYGO device", meter.meter.id))
}

/// The device's secrets, opened.
pub(super) fn opg_device(ctx: &Context, state: &OpgState) -> Result<OpgDevice, OpError> {
    let hex = ctx.secrets.open_text(&openpaygo_aad(state.meter_id), &state.secret_sealed)?;
    OpgDevice::from_hex(&hex, Some(state.starting_code))
        .map_err(|_| OpError::refused("secret_unreadable", "a stored OpenPAYGO secret is not a key"))
}

pub(super) fn opg_format(state: &OpgState) -> OpgFormat {
    OpgFormat { extended: state.extended, restricted: state.restricted }
}

/// Credit for an OpenPAYGO device: whole units of time at the device's price.
fn openpaygo_credit(
    ws: &mut Workspace,
    ctx: &Context,
    account: &AccountRecord,
    meter: &MeterRecord,
    rest: i64,
    quantity_wanted: Option<i64>,
) -> Result<Converted, OpError> {
    let mut state = opg_state(ws, meter)?;
    let price = state.price_minor_per_unit;
    let units = match quantity_wanted {
        Some(q) => q / MILLI_PER_UNIT,
        None => rest / price.max(1),
    };
    let energy = units.checked_mul(price).ok_or_else(too_large)?;
    if units <= 0 || energy < account.min_purchase_minor {
        return Err(below_minimum(energy, account.min_purchase_minor));
    }
    let value = u32::try_from(units).map_err(|_| opg_too_large())?;
    let device = opg_device(ctx, &state)?;
    let (count, digits) =
        device.encode(OpgKind::AddTime(value), state.last_count, opg_format(&state)).map_err(|e| match e {
            voltvend_sts::openpaygo::OpgError::ValueTooHigh { .. } => opg_too_large(),
            other => OpError::refused("openpaygo_refused", other.to_string()),
        })?;
    state.last_count = count;
    ws.opg.put(meter.meter.id, state);
    Ok(Converted {
        tax_minor: 0,
        energy_minor: energy,
        credit_minor: rest - energy,
        quantity_milli: units * MILLI_PER_UNIT,
        tokens: vec![digits],
    })
}

fn opg_too_large() -> OpError {
    OpError::refused("openpaygo_value_too_large", "the payment buys more time than one token can carry")
}

fn below_minimum(got: i64, min: i64) -> OpError {
    OpError::refused(
        "below_minimum_purchase",
        format!("after arrears and fees the payment buys {got}, less than the minimum purchase {min} (minor units)"),
    )
}

pub(super) fn audit_entry(sale: &SaleRecord) -> AuditEntry {
    AuditEntry::new(
        "sale",
        format!("account:{}", sale.account_id),
        format!("balance={}", sale.balance_after_minor - sale.credit_minor),
        format!(
            "balance={} receipt={}/{} paid={} arrears={} fees={} tax={} energy={} credit={} quantity_milli={} tokens={}",
            sale.balance_after_minor,
            sale.vending_point_id,
            sale.receipt_no,
            sale.paid_minor,
            sale.arrears_minor,
            sale.fees_minor,
            sale.tax_minor,
            sale.energy_minor,
            sale.credit_minor,
            sale.quantity_milli,
            sale.tokens.len()
        ) + &if sale.property_fees_minor > 0 {
            format!(" property_fees={}", sale.property_fees_minor)
        } else {
            String::new()
        },
    )
}

/// Whether a sale refused with `e` was refused because of the state of the account, the meter, the tariff or
/// the keys — after the customer paid — rather than because the request itself was wrong or unattributable.
pub(super) fn keeps_payment(e: &OpError) -> bool {
    match e {
        OpError::Account(a) => matches!(a, AccountError::Closed(_) | AccountError::Suspended(_)),
        OpError::Meter(m) => matches!(m, MeterError::NotActive(_)),
        OpError::Vending(v) => matches!(v, VendingError::CreditLimit { .. } | VendingError::VendingPointDisabled(_)),
        OpError::Pricing(_) | OpError::Sts(_) => true,
        OpError::Refused { code, .. } => matches!(
            *code,
            "meter_not_on_account"
                | "fees_overdue"
                | "hoarding_limit"
                | "below_minimum_purchase"
                | "payment_below_fees"
                | "tariff_required"
                | "sale_not_supported"
                | "quote_changed"
                | "sts_amount_too_large"
                | "sts_amount_not_representable"
                | "sts_no_vending_key"
                | "card_not_issued"
                | "card_lost"
                | "card_purchase_pending"
                | "card_amount_too_large"
                | "card_count_exhausted"
                | "openpaygo_value_too_large"
                | "openpaygo_refused"
                | "no_master_key"
                | "master_key_unknown"
                | "secret_unreadable"
                | "currency_mismatch"
        ),
        _ => false,
    }
}

/// Records the payment of a refused sale as owed back: the money went into the drawer (or the card or
/// transfer clearing account) and is owed to the customer until refunded.
pub(super) fn refuse(
    ws: &mut Workspace,
    op: &Operation,
    s: &Sale,
    e: &OpError,
    at: Timestamp,
) -> Result<(Outcome, AuditEntry), OpError> {
    let operator = acting_operator(ws, &op.actor)?;
    let paid_minor = match s.amount {
        SaleAmount::Paid(p) => p,
        // For a purchase by quantity, what was taken is what was quoted.
        SaleAmount::Quantity(_) => s.expected_paid_minor.ok_or_else(|| e.clone())?,
    };
    let account = ws.accounts.get(&s.account_id)?.ok_or_else(|| e.clone())?.clone();
    in_scope(ws, &op.actor, account.account.premises_id, "account", s.account_id)?;
    let shift = ws.shifts.get(&s.shift_id)?.ok_or_else(|| e.clone())?.clone();
    shift.ensure_open()?;
    if operator.is_some_and(|o| o != shift.operator_id) {
        return Err(e.clone());
    }
    let point = ws.vending_points.get(&shift.vending_point_id)?.ok_or_else(|| e.clone())?.clone();
    in_scope(ws, &op.actor, point.premises_id, "vending point", point.id)?;
    let books = ws.books.get(&account.books)?.ok_or_else(|| e.clone())?.clone();
    if point.currency != account.account.currency || ws.meters.get(&s.meter_id)?.is_none() {
        return Err(e.clone());
    }
    let source = super::money_account(s.method, &books, || Ok(shift.drawer))?;
    let transfer_id = op.transfer_id(0);
    committed(super::post(
        ws,
        TransferRequest {
            id: transfer_id,
            kind: TransferKind::Payment,
            currency: account.account.currency,
            postings: vec![
                Posting { account: source, side: Side::Debit, amount_minor: paid_minor },
                Posting { account: books.refunds, side: Side::Credit, amount_minor: paid_minor },
            ],
            corrects: None,
            memo: format!("refused sale ({}): owed back", e.code()),
        },
        at,
    )?)?;
    let payment = RefusedPayment {
        operation_id: op.id,
        at,
        vending_point_id: point.id,
        shift_id: shift.id,
        operator_id: shift.operator_id,
        account_id: account.account.id,
        meter_id: s.meter_id,
        method: s.method,
        reference: s.reference.clone(),
        paid_minor,
        reason_code: e.code().to_string(),
        reason: e.to_string(),
        transfer_id,
        refunded_by: None,
        refunded_at: None,
        credited: false,
        purpose: crate::records::IntentPurpose::Energy,
    };
    ws.refused_payments.put(op.id, payment.clone());
    let entry = AuditEntry::new(
        "sale_refused",
        format!("account:{}", account.account.id),
        "",
        format!("paid={paid_minor} method={} reason={}", s.method, e.code()),
    );
    Ok((Outcome::PaymentRefused { payment, code: e.code(), message: e.to_string() }, entry))
}
