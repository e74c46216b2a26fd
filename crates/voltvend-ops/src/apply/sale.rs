//! 售电: a sale at a counter.
//!
//! The payment is split (DESIGN.md §2.4): arrears recovery by the account's rule (never more than owed),
//! fees due, then credit. For a remote meter the credit goes to the wallet the master station debits, and a
//! relay that is open because credit ran out is asked to close. For an STS keypad meter the credit buys units
//! at the inverse tariff (current block and period, taxes), rounded down to what a token can carry
//! (IEC 62055-41 §6.3.5); the token takes the meter's next TID, and whatever the units did not use stays as
//! wallet credit. One balanced transfer books it all, and the vending point's next receipt number is taken.

use jiff::Timestamp;
use voltvend_domain::tariff::inverse::{ArrearsRecovery, Purchase, quote, split_payment};
use voltvend_domain::{
    ControlMode, MeterProtocol, Posting, Side, TransferId, TransferKind, TransferRequest, Utility, text,
};
use voltvend_sts::amount::representable_at_most;

use super::{acting_operator, arrears_owed, committed, in_scope, wallet_position};
use crate::audit::AuditEntry;
use crate::command::{Operation, Sale, derive};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{OutboxKind, OutboxRow, PaymentMethod, Relay, SaleRecord};
use crate::workspace::Workspace;

/// Milli-units in the 0.1-unit step of an STS credit token (0.1 kWh = 100 Wh, 0.1 m³ = 100 L).
const MILLI_PER_TOKEN_TENTH: i64 = 100;

/// Applies a sale; `transfer_no` picks the operation's transfer id (0, or 1 after a reversal).
pub(super) fn sale(
    ws: &mut Workspace,
    op: &Operation,
    s: &Sale,
    ctx: &Context,
    at: Timestamp,
    transfer_no: u32,
    reallocated_from: Option<TransferId>,
) -> Result<SaleRecord, OpError> {
    let operator = acting_operator(ws, &op.actor)?;
    text::check("payment reference", &s.reference, Sale::REFERENCE_LEN_MAX)?;
    if s.paid_minor <= 0 || s.fees_minor < 0 {
        return Err(OpError::refused("amount_not_positive", "the amount paid must be positive and fees not negative"));
    }
    let account = ws.accounts.get(&s.account_id)?.ok_or_else(|| OpError::not_found("account", s.account_id))?.clone();
    in_scope(ws, &op.actor, account.account.premises_id, "account", s.account_id)?;
    let mut meter = ws.meters.get(&s.meter_id)?.ok_or_else(|| OpError::not_found("meter", s.meter_id))?.clone();
    if meter.meter.account_id != Some(account.account.id) {
        return Err(OpError::refused(
            "meter_not_on_account",
            format!("meter {} is not on account {}", s.meter_id, s.account_id),
        ));
    }
    account.account.ensure_can_vend()?;
    meter.meter.ensure_active()?;
    let shift = ws.shifts.get(&s.shift_id)?.ok_or_else(|| OpError::not_found("shift", s.shift_id))?.clone();
    shift.ensure_open()?;
    if operator.is_some_and(|o| o != shift.operator_id) {
        return Err(OpError::refused("shift_not_yours", "sales go through the cashier's own open shift"));
    }
    let mut point = ws
        .vending_points
        .get(&shift.vending_point_id)?
        .ok_or_else(|| OpError::not_found("vending point", shift.vending_point_id))?
        .clone();
    in_scope(ws, &op.actor, point.premises_id, "vending point", point.id)?;
    let currency = account.account.currency;
    if point.currency != currency {
        return Err(OpError::refused(
            "currency_mismatch",
            format!("vending point {} takes {}", point.name, point.currency),
        ));
    }
    let books = ws.books.get(&account.books)?.ok_or_else(|| OpError::not_found("books", account.books))?.clone();
    let source = match s.method {
        PaymentMethod::Cash => shift.drawer,
        PaymentMethod::BankCard => books.card_clearing,
        PaymentMethod::BankTransfer => books.transfer_clearing,
    };

    let (arrears, fees, rest) =
        split_payment(s.paid_minor, arrears_owed(ws, &account)?, account.recovery, s.fees_minor);
    if fees < s.fees_minor {
        return Err(OpError::refused("payment_below_fees", "the payment does not cover the fees due"));
    }
    let (balance_before, _) = wallet_position(ws, &account)?;
    let mut tokens = Vec::new();
    let (mut tax, mut energy, mut credit, mut quantity) = (0, 0, rest, 0);
    match (meter.meter.control_mode, meter.meter.protocol) {
        (ControlMode::Remote, _) => {
            if rest < account.min_purchase_minor {
                return Err(below_minimum(rest, account.min_purchase_minor));
            }
            if let Some(max) = account.max_balance_minor
                && balance_before.saturating_add(rest) > max
            {
                return Err(OpError::refused(
                    "hoarding_limit",
                    format!("the wallet may hold at most {max}; it holds {balance_before} (minor units)"),
                ));
            }
        }
        (ControlMode::Local, MeterProtocol::StsKeypad) => {
            let code = meter
                .tariff_code
                .clone()
                .ok_or_else(|| OpError::refused("tariff_required", "the meter has no tariff"))?;
            let doc = ws.tariffs.get(&code)?.ok_or_else(|| OpError::not_found("tariff", &code))?.clone();
            let tariff = ctx.tariffs.get(&doc)?;
            let key = (account.account.id, code);
            let state = ws.pricing.get(&key)?.cloned().unwrap_or_default();
            let mut purchase = Purchase {
                paid_minor: rest,
                arrears_owed_minor: 0,
                recovery: ArrearsRecovery::None,
                fees_due_minor: 0,
                at,
                period: None,
                max_quantity_milli: None,
            };
            let mut q = quote(&tariff, &state, &purchase)?;
            // A token carries tenths of a unit, and only representable amounts: never round up.
            let tenths = representable_at_most(u64::try_from(q.quantity_milli / MILLI_PER_TOKEN_TENTH).unwrap_or(0))
                .ok_or_else(|| {
                    OpError::refused("sts_amount_too_large", "the payment buys more than one token can carry")
                })?;
            let token_milli = i64::try_from(tenths).unwrap_or(i64::MAX).saturating_mul(MILLI_PER_TOKEN_TENTH);
            if token_milli != q.quantity_milli {
                purchase.max_quantity_milli = Some(token_milli);
                q = quote(&tariff, &state, &purchase)?;
            }
            if tenths == 0 || q.energy_minor < account.min_purchase_minor {
                return Err(below_minimum(q.energy_minor, account.min_purchase_minor));
            }
            let mut sts = ws
                .sts
                .get(&meter.meter.id)?
                .ok_or_else(|| OpError::not_found("STS key record", meter.meter.id))?
                .clone();
            let issuer = ctx.keys.issuer(&sts.record)?;
            let tid = issuer.tid(at, sts.last_tid)?;
            let kind = match meter.meter.utility {
                Utility::Electricity => voltvend_sts::TransferKind::Electricity,
                Utility::Water => voltvend_sts::TransferKind::Water,
            };
            let rnd = derive(op.id, "sts-rnd", transfer_no).as_bytes().first().copied().unwrap_or(0) & 0xF;
            tokens.push(issuer.credit(kind, tenths, tid, rnd)?.digits());
            sts.last_tid = Some(tid);
            ws.sts.put(meter.meter.id, sts);
            ws.pricing.put(key, q.state.clone());
            (tax, energy, credit, quantity) = (q.tax_minor, q.energy_minor, q.unspent_minor, q.quantity_milli);
        }
        (ControlMode::Local, protocol) => {
            return Err(OpError::refused(
                "sale_not_supported",
                format!("sales to {protocol} meters are not supported yet (IC cards come with their own issue)"),
            ));
        }
    }

    let receipt_no = point.next_receipt()?;
    let mut postings = vec![Posting { account: source, side: Side::Debit, amount_minor: s.paid_minor }];
    for (account_id, amount) in [
        (account.arrears, arrears),
        (books.fixed_charge_revenue, fees),
        (books.tax, tax),
        (books.energy_revenue, energy - tax),
        (account.wallet, credit),
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
    committed(ws.book.post(request, at)?)?;
    let (balance_after, available_after) = wallet_position(ws, &account)?;
    if meter.meter.control_mode == ControlMode::Remote && meter.relay == Relay::Open && available_after > 0 {
        meter.relay = Relay::Closed;
        ws.outbox.push(OutboxRow {
            operation_id: op.id,
            idx: i64::from(transfer_no),
            meter_id: meter.meter.id,
            kind: OutboxKind::RelayClose,
            at,
        });
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
        paid_minor: s.paid_minor,
        arrears_minor: arrears,
        fees_minor: fees,
        tax_minor: tax,
        energy_minor: energy,
        credit_minor: credit,
        quantity_milli: quantity,
        tokens,
        transfer_id,
        balance_after_minor: balance_after,
        reallocated_from,
    };
    ws.vending_points.put(point.id, point);
    ws.sales.push(record.clone());
    Ok(record)
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
        ),
    )
}
