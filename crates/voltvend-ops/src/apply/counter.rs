//! The counter's other business: receipts printed again (补收据), refused payments handed back or credited after
//! review (复核入账), and vending points settling what they sold.

use jiff::Timestamp;
use voltvend_domain::{Posting, Side, TransferKind, TransferRequest, text};

use super::{Outcome, acting_operator, committed, in_scope};
use crate::audit::AuditEntry;
use crate::command::{
    CreditRefusedPayment, Operation, RefundRefusedPayment, ReprintReceipt, Sale, SaleAmount, SettleVendingPoint,
};
use crate::context::Context;
use crate::error::OpError;
use crate::records::PaymentMethod;
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

pub(super) fn reprint(ws: &mut Workspace, op: &Operation, r: &ReprintReceipt) -> Done {
    acting_operator(ws, &op.actor)?;
    let sale = ws.sales_made.get(&r.sale)?.cloned().ok_or_else(|| OpError::not_found("sale", r.sale))?;
    let account = ws.accounts.get(&sale.account_id)?.ok_or_else(|| OpError::not_found("sale", r.sale))?;
    in_scope(ws, &op.actor, account.account.premises_id, "sale", r.sale)?;
    let entry = AuditEntry::new(
        "reprint_receipt",
        format!("receipt:{}/{}", sale.vending_point_id, sale.receipt_no),
        "",
        format!("copy format={}", r.format.as_str()),
    );
    Ok((Outcome::Reprinted(sale), entry))
}

/// A refused payment still owed back, and its account, within the actor's scope: what a refund or a credit
/// after review decides about (once: `already_refunded`).
fn owed_back(
    ws: &Workspace,
    op: &Operation,
    id: voltvend_domain::OperationId,
) -> Result<(crate::records::RefusedPayment, crate::records::AccountRecord), OpError> {
    let payment = ws.refused_payments.get(&id)?.cloned().ok_or_else(|| OpError::not_found("refused payment", id))?;
    let account =
        ws.accounts.get(&payment.account_id)?.cloned().ok_or_else(|| OpError::not_found("refused payment", id))?;
    in_scope(ws, &op.actor, account.account.premises_id, "refused payment", id)?;
    if payment.refunded_by.is_some() {
        return Err(OpError::refused("already_refunded", "this payment has been handed back or credited already"));
    }
    Ok((payment, account))
}

pub(super) fn refund(ws: &mut Workspace, op: &Operation, r: &RefundRefusedPayment, at: Timestamp) -> Done {
    let operator = acting_operator(ws, &op.actor)?;
    let (mut payment, account) = owed_back(ws, op, r.payment)?;
    let books = ws.books.get(&account.books)?.cloned().ok_or_else(|| OpError::not_found("books", account.books))?;
    let source = match payment.method {
        PaymentMethod::Cash => {
            let shift_id = r.shift_id.ok_or_else(|| {
                OpError::refused("shift_required", "a cash refund is paid from the cashier's open shift")
            })?;
            refund_drawer(ws, op, operator, shift_id, account.account.currency)?.drawer
        }
        // Refunded by the provider from what it holds for us (the refund is made in its merchant console or
        // API; this records it): out of the channel's clearing account, its standing shift's drawer.
        method => super::money_account(method, &books, || {
            let shift = ws.shifts.get(&payment.shift_id)?;
            Ok(shift.ok_or_else(|| OpError::not_found("shift", payment.shift_id))?.drawer)
        })?,
    };
    let transfer = committed(super::post(
        ws,
        TransferRequest {
            id: op.transfer_id(0),
            kind: TransferKind::Refund,
            currency: account.account.currency,
            postings: vec![
                Posting { account: books.refunds, side: Side::Debit, amount_minor: payment.paid_minor },
                Posting { account: source, side: Side::Credit, amount_minor: payment.paid_minor },
            ],
            corrects: None,
            memo: format!("refund of refused payment {}", payment.operation_id),
        },
        at,
    )?)?;
    payment.refunded_by = Some(op.id);
    payment.refunded_at = Some(at);
    let entry = AuditEntry::new(
        "refund_refused_payment",
        format!("refused_payment:{}", payment.operation_id),
        "refunded=false",
        format!("refunded=true amount={} transfer={}", payment.paid_minor, transfer.request.id),
    );
    ws.refused_payments.put(payment.operation_id, payment.clone());
    Ok((Outcome::Refunded(payment), entry))
}

/// 复核入账: credits a refused payment to its account after review, instead of handing it back. One sale through
/// the payment's own shift (an online channel's standing shift; a counter's, open or closed, whose drawer is not
/// touched), whose money comes out of the refunds owed where the refusal put it — the money was taken once, when
/// it came. Refused like any sale if the account still cannot be sold to; a payment refunded or credited already
/// is refused (`already_refunded`).
pub(super) fn credit(
    ws: &mut Workspace,
    op: &Operation,
    c: &CreditRefusedPayment,
    ctx: &Context,
    at: Timestamp,
) -> Done {
    acting_operator(ws, &op.actor)?;
    let (mut payment, _) = owed_back(ws, op, c.payment)?;
    // Credited as what it was paid for: a sale, or (rent and fees) the fee payment it was meant to be.
    let (outcome, receipt) = if payment.purpose == crate::records::IntentPurpose::Fees {
        let fees = crate::command::PayFees {
            account_id: payment.account_id,
            shift_id: payment.shift_id,
            method: payment.method,
            reference: payment.reference.clone(),
            paid_minor: payment.paid_minor,
        };
        let (outcome, _) = super::fees::pay_kept(ws, op, &fees, at)?;
        let Outcome::FeesPaid(paid) = &outcome else {
            return Err(OpError::Internal("a kept fee payment gave another outcome".into()));
        };
        let receipt =
            format!("purpose=fees amount={} receipt={}/{}", paid.paid_minor, paid.vending_point_id, paid.receipt_no);
        (outcome, receipt)
    } else {
        let sale = Sale {
            account_id: payment.account_id,
            meter_id: payment.meter_id,
            shift_id: payment.shift_id,
            method: payment.method,
            amount: SaleAmount::Paid(payment.paid_minor),
            fees_minor: 0,
            reference: payment.reference.clone(),
            expected_paid_minor: None,
        };
        let record = super::sale::sale(ws, op, &sale, ctx, at, 0, super::sale::Origin::Kept)?;
        let receipt =
            format!("amount={} receipt={}/{}", payment.paid_minor, record.vending_point_id, record.receipt_no);
        (Outcome::Sale(record), receipt)
    };
    payment.refunded_by = Some(op.id);
    payment.refunded_at = Some(at);
    payment.credited = true;
    let entry = AuditEntry::new(
        "credit_refused_payment",
        format!("refused_payment:{}", payment.operation_id),
        "refunded=false",
        format!("credited=true {receipt}"),
    );
    ws.refused_payments.put(payment.operation_id, payment);
    Ok((outcome, entry))
}

/// The open shift of the acting cashier whose drawer pays a cash refund in `currency`.
pub(super) fn refund_drawer(
    ws: &Workspace,
    op: &Operation,
    operator: Option<voltvend_domain::OperatorId>,
    shift_id: voltvend_domain::ShiftId,
    currency: voltvend_domain::Currency,
) -> Result<voltvend_domain::Shift, OpError> {
    let shift = ws.shifts.get(&shift_id)?.cloned().ok_or_else(|| OpError::not_found("shift", shift_id))?;
    shift.ensure_open()?;
    if operator.is_some_and(|o| o != shift.operator_id) {
        return Err(OpError::refused("shift_not_yours", "refunds come from the cashier's own drawer"));
    }
    let point = ws
        .vending_points
        .get(&shift.vending_point_id)?
        .ok_or_else(|| OpError::not_found("vending point", shift.vending_point_id))?;
    in_scope(ws, &op.actor, point.premises_id, "shift", shift_id)?;
    if point.currency != currency {
        return Err(OpError::refused(
            "currency_mismatch",
            format!("vending point {} takes {}", point.name, point.currency),
        ));
    }
    Ok(shift)
}

pub(super) fn settle_vending_point(ws: &mut Workspace, op: &Operation, v: &SettleVendingPoint) -> Done {
    acting_operator(ws, &op.actor)?;
    let reference = text::required("settlement reference", &v.reference, SettleVendingPoint::REFERENCE_LEN_MAX)?;
    let mut point = ws
        .vending_points
        .get(&v.vending_point_id)?
        .cloned()
        .ok_or_else(|| OpError::not_found("vending point", v.vending_point_id))?;
    in_scope(ws, &op.actor, point.premises_id, "vending point", point.id)?;
    let before = point.outstanding_minor;
    point.settle(v.amount_minor)?;
    let entry = AuditEntry::new(
        "settle_vending_point",
        format!("vending_point:{}", point.id),
        format!("outstanding={before}"),
        format!("outstanding={} settled={} reference={reference}", point.outstanding_minor, v.amount_minor),
    );
    ws.vending_points.put(point.id, point.clone());
    Ok((Outcome::Settled(point), entry))
}
