//! 纠错 with maker-checker approval, write-offs and historical arrears (追缴陈欠) — DESIGN.md §2.6.
//!
//! Money already booked is never edited. A correction is asked for by one operator ([`request`]), tried at
//! once against the state as it is (so that an impossible request is refused at the counter, not discovered
//! by the approver) and undone; a second operator with the permission approves it ([`decide`]), which applies
//! it in the same commit as the decision, or rejects it. The operator who asked can never decide, and a request
//! nobody decided before its expiry can no longer be approved.
//!
//! What each correction books:
//! * reverse a sale — the sale's transfer reversed line by line (a `correction` transfer), and the money moved
//!   from where it was taken (drawer or clearing) to the refunds account: it is owed back to the customer as a
//!   refused payment, handed back through the counter's refund like any other;
//! * re-allocate a sale — the sale reversed and made again with the same money, through the same shift and
//!   payment method, for the right account and meter (the cash never left the drawer, so the shift's count is
//!   untouched even if it has closed). STS tokens of the wrong sale cannot be recalled from a meter: they are
//!   recorded on the approval as void;
//! * adjust a wallet — credit (or debit) against energy revenue: a billing error put right;
//! * write off arrears — the arrears account credited against the write-off (bad debt) account;
//! * correct a closed shift — money found or missing after the count, between the drawer and over/short;
//! * reverse a fee payment — its transfer reversed line by line, so that the charges it paid owe again (the
//!   receivables with them) and a postpaid account's credit from it leaves the wallet, and the money owed back
//!   as for a sale;
//! * adjust a charge (减免, or a charge raised) — the charge's amount and its receivable, against the schedule's
//!   revenue (a rent or fee), or against energy revenue (a postpaid bill: its usage was energy sold).

use jiff::Timestamp;
use voltvend_domain::{
    LedgerError, OperatorId, Posting, PremisesId, Side, TransferId, TransferKind, TransferRequest, text,
};

use super::{Outcome, acting_operator, arrears_owed, committed, in_scope, sale};
use crate::audit::AuditEntry;
use crate::command::{DecideCorrection, EnterArrears, Operation, RequestCorrection, Sale, SaleAmount};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{
    AccountRecord, ApprovalRecord, ApprovalStatus, Correction, CorrectionKind, Decision, RefusedPayment, SaleRecord,
};
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

/// What applying a correction did.
#[derive(Debug, Default)]
struct Effect {
    transfer_id: Option<TransferId>,
    result: Option<voltvend_domain::OperationId>,
    void_tokens: Vec<String>,
    summary: String,
}

fn operator_required(ws: &Workspace, op: &Operation) -> Result<OperatorId, OpError> {
    acting_operator(ws, &op.actor)?
        .ok_or_else(|| OpError::refused("operator_required", "corrections are asked for and decided by operators"))
}

pub(super) fn request(ws: &mut Workspace, op: &Operation, r: &RequestCorrection, ctx: &Context, at: Timestamp) -> Done {
    let requester = operator_required(ws, op)?;
    if ws.approvals.get(&r.approval_id)?.is_some() {
        return Err(OpError::Exists { what: "correction", id: r.approval_id.to_string() });
    }
    let reason = text::required("reason", &r.reason, RequestCorrection::REASON_LEN_MAX)?;
    if r.expires_in <= jiff::SignedDuration::ZERO || r.expires_in > RequestCorrection::EXPIRES_IN_MAX {
        return Err(OpError::refused(
            "bad_expiry",
            format!(
                "a request waits more than nothing and at most {} hours",
                RequestCorrection::EXPIRES_IN_MAX.as_hours()
            ),
        ));
    }
    let premises_id = subject_premises(ws, op, &r.correction)?;
    // Tried now, then undone: a request that could not be applied as things stand is refused here, with the
    // reason, rather than left for the approver to discover.
    let sp = ws.savepoint();
    let tried = apply(ws, op, &r.correction, &reason, ctx, at);
    ws.rollback(sp);
    let tried = tried?;
    let expires_at =
        at.checked_add(r.expires_in).map_err(|_| OpError::refused("bad_expiry", "the expiry is out of range"))?;
    let record = ApprovalRecord {
        id: r.approval_id,
        correction: r.correction.clone(),
        premises_id,
        reason: reason.clone(),
        requested_by: requester,
        requested_at: at,
        expires_at,
        decision: None,
        transfer_id: None,
        result: None,
        // What the approver is about to void, shown before the decision.
        void_tokens: tried.void_tokens.clone(),
    };
    let entry = AuditEntry::new(
        "request_correction",
        format!("approval:{}", r.approval_id),
        "",
        format!("{} {} expires_at={expires_at} reason={reason}", describe(&r.correction), tried.summary),
    );
    ws.approvals.put(record.id, record.clone());
    Ok((Outcome::Approval(record), entry))
}

pub(super) fn decide(ws: &mut Workspace, op: &Operation, d: &DecideCorrection, ctx: &Context, at: Timestamp) -> Done {
    let decider = operator_required(ws, op)?;
    let mut record =
        ws.approvals.get(&d.approval_id)?.cloned().ok_or_else(|| OpError::not_found("correction", d.approval_id))?;
    in_scope(ws, &op.actor, record.premises_id, "correction", d.approval_id)?;
    let note = if d.approve {
        text::check("note", &d.note, DecideCorrection::NOTE_LEN_MAX)?;
        d.note.trim().to_string()
    } else {
        text::required("note", &d.note, DecideCorrection::NOTE_LEN_MAX)?
    };
    match record.status(at) {
        ApprovalStatus::Pending => {}
        ApprovalStatus::Expired => {
            return Err(OpError::refused(
                "approval_expired",
                format!("the request expired at {}: ask for it again if it is still needed", record.expires_at),
            ));
        }
        status @ (ApprovalStatus::Approved | ApprovalStatus::Rejected) => {
            return Err(OpError::refused("already_decided", format!("this correction was {status} already")));
        }
    }
    if decider == record.requested_by {
        return Err(OpError::refused(
            "same_operator",
            "a correction is decided by a second operator, never by the one who asked for it",
        ));
    }
    let effect = if d.approve { Some(apply(ws, op, &record.correction, &record.reason, ctx, at)?) } else { None };
    record.decision = Some(Decision { by: decider, at, approved: d.approve, note: note.clone(), operation_id: op.id });
    let summary = match effect {
        Some(e) => {
            record.transfer_id = e.transfer_id;
            record.result = e.result;
            record.void_tokens = e.void_tokens;
            e.summary
        }
        None => String::new(),
    };
    let verdict = if d.approve { "approved" } else { "rejected" };
    let entry = AuditEntry::new(
        if d.approve { "approve_correction" } else { "reject_correction" },
        format!("approval:{}", record.id),
        format!("status=pending requested_by={}", record.requested_by),
        format!("status={verdict} {} {summary} note={note}", describe(&record.correction)),
    );
    ws.approvals.put(record.id, record.clone());
    Ok((Outcome::Approval(record), entry))
}

/// The correction in a line of the audit trail.
fn describe(c: &Correction) -> String {
    let mut s = format!("kind={}", c.kind);
    if let Some(x) = c.sale {
        s.push_str(&format!(" sale={x}"));
    }
    if let Some(x) = c.account_id {
        s.push_str(&format!(" account={x}"));
    }
    if let Some(x) = c.meter_id {
        s.push_str(&format!(" meter={x}"));
    }
    if let Some(x) = c.shift_id {
        s.push_str(&format!(" shift={x}"));
    }
    if let Some(x) = c.fee_payment {
        s.push_str(&format!(" fee_payment={x}"));
    }
    if let Some((schedule, period)) = c.charge {
        s.push_str(&format!(" schedule={schedule} period={period}"));
    }
    if c.amount_minor != 0 {
        s.push_str(&format!(" amount={}", c.amount_minor));
    }
    s
}

fn incomplete(what: &str) -> OpError {
    OpError::refused("correction_incomplete", format!("this kind of correction needs {what}"))
}

/// Checks that the correction names what its kind needs, and nothing else, and returns the premises of what
/// it corrects (within the actor's scope).
fn subject_premises(ws: &Workspace, op: &Operation, c: &Correction) -> Result<PremisesId, OpError> {
    use CorrectionKind::*;
    let needs = (
        matches!(c.kind, ReverseSale | ReallocateSale),
        matches!(c.kind, ReallocateSale | Adjust | WriteOff | AdjustCharge),
        c.kind == ReallocateSale,
        c.kind == CorrectShift,
        c.kind == ReverseFeePayment,
        c.kind == AdjustCharge,
    );
    let has = (
        c.sale.is_some(),
        c.account_id.is_some(),
        c.meter_id.is_some(),
        c.shift_id.is_some(),
        c.fee_payment.is_some(),
        c.charge.is_some(),
    );
    if needs != has {
        return Err(incomplete(match c.kind {
            ReverseSale => "a sale, and nothing else",
            ReallocateSale => "a sale and the right account and meter",
            Adjust | WriteOff => "an account, and no sale, meter or shift",
            CorrectShift => "a shift, and no sale, account or meter",
            ReverseFeePayment => "a fee payment, and nothing else",
            AdjustCharge => "an account, a fee schedule and a month, and nothing else",
        }));
    }
    let amount_ok = match c.kind {
        ReverseSale | ReallocateSale | ReverseFeePayment => c.amount_minor == 0,
        Adjust | CorrectShift | AdjustCharge => c.amount_minor != 0,
        WriteOff => c.amount_minor > 0,
    };
    if !amount_ok {
        return Err(OpError::refused(
            "bad_amount",
            match c.kind {
                ReverseSale | ReallocateSale => "a sale is corrected whole: give no amount",
                ReverseFeePayment => "a fee payment is reversed whole: give no amount",
                Adjust | CorrectShift | AdjustCharge => {
                    "the amount is signed (positive: in the customer's or the drawer's favour) and not zero"
                }
                WriteOff => "the amount written off must be positive",
            },
        ));
    }
    let premises = if let Some(payment) = c.fee_payment {
        let p = ws.fee_payments_made.get(&payment)?.ok_or_else(|| OpError::not_found("fee payment", payment))?;
        ws.accounts.get(&p.account_id)?.ok_or_else(|| OpError::not_found("fee payment", payment))?.account.premises_id
    } else if let Some(sale) = c.sale {
        let s = ws.sales_made.get(&sale)?.ok_or_else(|| OpError::not_found("sale", sale))?;
        ws.accounts.get(&s.account_id)?.ok_or_else(|| OpError::not_found("sale", sale))?.account.premises_id
    } else if let Some(id) = c.account_id {
        ws.accounts.get(&id)?.ok_or_else(|| OpError::not_found("account", id))?.account.premises_id
    } else if let Some(id) = c.shift_id {
        let shift = ws.shifts.get(&id)?.ok_or_else(|| OpError::not_found("shift", id))?;
        ws.vending_points.get(&shift.vending_point_id)?.ok_or_else(|| OpError::not_found("shift", id))?.premises_id
    } else {
        return Err(incomplete("a subject"));
    };
    in_scope(ws, &op.actor, premises, "correction subject", describe(c))?;
    Ok(premises)
}

fn apply(
    ws: &mut Workspace,
    op: &Operation,
    c: &Correction,
    reason: &str,
    ctx: &Context,
    at: Timestamp,
) -> Result<Effect, OpError> {
    subject_premises(ws, op, c)?;
    match (c.kind, c.sale, c.account_id, c.meter_id, c.shift_id) {
        (CorrectionKind::ReverseSale, Some(sale), ..) => reverse_sale(ws, op, sale, reason, at),
        (CorrectionKind::ReallocateSale, Some(sale), Some(account), Some(meter), _) => {
            reallocate_sale(ws, op, sale, account, meter, reason, ctx, at)
        }
        (CorrectionKind::Adjust, _, Some(account), ..) => adjust(ws, op, account, c.amount_minor, reason, at),
        (CorrectionKind::WriteOff, _, Some(account), ..) => write_off(ws, op, account, c.amount_minor, reason, at),
        (CorrectionKind::CorrectShift, .., Some(shift)) => correct_shift(ws, op, shift, c.amount_minor, reason, at),
        (CorrectionKind::ReverseFeePayment, ..) => match c.fee_payment {
            Some(payment) => reverse_fee_payment(ws, op, payment, reason, at),
            None => Err(incomplete("a fee payment")),
        },
        (CorrectionKind::AdjustCharge, _, Some(account), ..) => match c.charge {
            Some(charge) => adjust_charge(ws, op, account, charge, c.amount_minor, reason, at),
            None => Err(incomplete("a fee schedule and a month")),
        },
        _ => Err(incomplete("its subject")),
    }
}

fn account_of(ws: &Workspace, id: voltvend_domain::AccountId) -> Result<AccountRecord, OpError> {
    ws.accounts.get(&id)?.cloned().ok_or_else(|| OpError::not_found("account", id))
}

fn books_of(ws: &Workspace, id: voltvend_domain::BooksId) -> Result<voltvend_domain::Books, OpError> {
    ws.books.get(&id)?.cloned().ok_or_else(|| OpError::not_found("books", id))
}

/// A sale to correct, with the ledger account its money went into (the shift's drawer or a clearing account).
fn sale_and_source(
    ws: &Workspace,
    sale: voltvend_domain::OperationId,
) -> Result<(SaleRecord, AccountRecord, voltvend_domain::Books, voltvend_domain::LedgerAccountId), OpError> {
    let record = ws.sales_made.get(&sale)?.cloned().ok_or_else(|| OpError::not_found("sale", sale))?;
    let account = account_of(ws, record.account_id)?;
    let books = books_of(ws, account.books)?;
    let source = super::money_account(record.method, &books, || {
        Ok(ws.shifts.get(&record.shift_id)?.ok_or_else(|| OpError::not_found("shift", record.shift_id))?.drawer)
    })?;
    Ok((record, account, books, source))
}

/// Reverses what is left of a sale's transfer (transfer 0 of `op`); refused if any of it was reversed before.
fn reverse_whole(
    ws: &mut Workspace,
    op: &Operation,
    sale: &SaleRecord,
    reason: &str,
    at: Timestamp,
) -> Result<TransferId, OpError> {
    // A sale that delivered a campaign's key change set moved the meter's key record to the new key; undoing
    // the sale would leave the set void while the record stays moved, and the meter (if the set was never
    // entered) would refuse every later token.
    if sale.tokens.len() > 1 {
        return Err(OpError::refused(
            "sale_carried_key_change",
            "this sale delivered a key change set with its credit: correct it with a management token and an \
             adjustment instead",
        ));
    }
    if sale.property_fees_minor > 0 {
        return Err(OpError::refused(
            "fees_receivable_posting",
            format!("receipt #{} paid rent and fees, whose correction is not supported yet", sale.receipt_no),
        ));
    }
    let memo = format!("receipt #{} corrected: {reason}", sale.receipt_no);
    let correction = mirror(ws, op, sale.transfer_id, memo, at)?;
    if let Some(mut point) = ws.vending_points.get(&sale.vending_point_id)?.cloned() {
        point.take_back(sale.paid_minor);
        ws.vending_points.put(point.id, point);
    }
    // Its units no longer count towards the credit sold onto the meter (their token is void).
    if sale.quantity_milli > 0
        && let Some(mut meter) = ws.meters.get(&sale.meter_id)?.cloned()
    {
        meter.local.unsold(sale.quantity_milli, sale.energy_minor, sale.tax_minor);
        ws.meters.put(meter.meter.id, meter);
    }
    Ok(correction)
}

/// Posts the mirror of a transfer no part of which was reversed before (transfer 0 of `op`), line by line.
fn mirror(
    ws: &mut Workspace,
    op: &Operation,
    target: TransferId,
    memo: String,
    at: Timestamp,
) -> Result<TransferId, OpError> {
    let left = ws.book.unreversed(target).ok_or_else(|| OpError::not_found("transfer", target))?;
    let original: i64 = left.iter().filter(|(_, side, _)| *side == Side::Debit).map(|(_, _, amount)| amount).sum();
    let transfer =
        ws.book.transfer(target).ok_or_else(|| OpError::Internal(format!("transfer {target} not loaded")))?;
    let debits: i64 = transfer.request.postings.iter().filter(|p| p.side == Side::Debit).map(|p| p.amount_minor).sum();
    if debits != original {
        return Err(LedgerError::AlreadyReversed(target).into());
    }
    let currency = transfer.request.currency;
    let postings = left
        .into_iter()
        .filter(|(_, _, amount)| *amount > 0)
        .map(|(account, side, amount)| Posting { account, side: side.opposite(), amount_minor: amount })
        .collect();
    let request = TransferRequest {
        id: op.transfer_id(0),
        kind: TransferKind::Correction,
        currency,
        postings,
        corrects: Some(target),
        memo,
    };
    Ok(committed(super::post(ws, request, at)?)?.request.id)
}

/// Records money taken back by a correction as owed to the customer: moved from where it was taken (`source`,
/// a drawer or a clearing account) to the refunds account (transfer 1 of `op`), and kept as a refused payment
/// under the operation's id, handed back through the counter's refund like any other. Money that was itself
/// owed back before, and credited after review (its transfer `original` took it out of the refunds account),
/// is owed back again by the reversal's mirror alone: nothing is moved, and the mirror is the refused payment's
/// transfer.
fn owe_back(
    ws: &mut Workspace,
    op: &Operation,
    (original, source): (TransferId, voltvend_domain::LedgerAccountId),
    books: &voltvend_domain::Books,
    mut payment: RefusedPayment,
    memo: String,
) -> Result<(), OpError> {
    let from_refunds = ws
        .book
        .transfer(original)
        .is_some_and(|t| t.request.postings.iter().any(|p| p.side == Side::Debit && p.account == books.refunds));
    if from_refunds {
        payment.transfer_id = op.transfer_id(0);
        ws.refused_payments.put(op.id, payment);
        return Ok(());
    }
    committed(super::post(
        ws,
        TransferRequest {
            id: op.transfer_id(1),
            kind: TransferKind::Adjustment,
            currency: books.currency,
            postings: vec![
                Posting { account: source, side: Side::Debit, amount_minor: payment.paid_minor },
                Posting { account: books.refunds, side: Side::Credit, amount_minor: payment.paid_minor },
            ],
            corrects: None,
            memo,
        },
        payment.at,
    )?)?;
    ws.refused_payments.put(op.id, payment);
    Ok(())
}

fn reverse_sale(
    ws: &mut Workspace,
    op: &Operation,
    sale: voltvend_domain::OperationId,
    reason: &str,
    at: Timestamp,
) -> Result<Effect, OpError> {
    let (record, _, books, source) = sale_and_source(ws, sale)?;
    let correction = reverse_whole(ws, op, &record, reason, at)?;
    // The money is still where it was taken; from now on it is owed back to the customer.
    owe_back(
        ws,
        op,
        (record.transfer_id, source),
        &books,
        RefusedPayment {
            operation_id: op.id,
            at,
            vending_point_id: record.vending_point_id,
            shift_id: record.shift_id,
            operator_id: record.operator_id,
            account_id: record.account_id,
            meter_id: record.meter_id,
            method: record.method,
            reference: record.reference.clone(),
            paid_minor: record.paid_minor,
            reason_code: "sale_reversed".to_string(),
            reason: reason.to_string(),
            transfer_id: op.transfer_id(1),
            refunded_by: None,
            refunded_at: None,
            credited: false,
            purpose: crate::records::IntentPurpose::Energy,
        },
        format!("owed back: receipt #{} reversed", record.receipt_no),
    )?;
    super::control::show_account_balance(ws, op, record.meter_id, record.account_id, "sale reversed", at, 0)?;
    Ok(Effect {
        transfer_id: Some(correction),
        result: Some(op.id),
        summary: format!("reversed={} owed_back={}", record.paid_minor, record.paid_minor),
        void_tokens: record.tokens,
    })
}

#[allow(clippy::too_many_arguments)]
fn reallocate_sale(
    ws: &mut Workspace,
    op: &Operation,
    sale: voltvend_domain::OperationId,
    account_id: voltvend_domain::AccountId,
    meter_id: voltvend_domain::MeterId,
    reason: &str,
    ctx: &Context,
    at: Timestamp,
) -> Result<Effect, OpError> {
    let (record, ..) = sale_and_source(ws, sale)?;
    if record.meter_id == meter_id && record.account_id == account_id {
        return Err(OpError::refused("same_meter", "the sale is already on this account and meter"));
    }
    let correction = reverse_whole(ws, op, &record, reason, at)?;
    let again = Sale {
        account_id,
        meter_id,
        shift_id: record.shift_id,
        method: record.method,
        amount: SaleAmount::Paid(record.paid_minor),
        fees_minor: record.fees_minor,
        reference: record.reference.clone(),
        expected_paid_minor: None,
    };
    let new =
        sale::sale(ws, op, &again, ctx, at, 1, sale::Origin::Reallocated { from: record.transfer_id, approved: true })?;
    // The meter the money was taken back from shows what is left (the new one is told by its sale, the
    // operation's balance write 1).
    if record.meter_id != meter_id {
        let reason = "sale re-allocated";
        super::control::show_account_balance(ws, op, record.meter_id, record.account_id, reason, at, 0)?;
    }
    Ok(Effect {
        transfer_id: Some(correction),
        result: Some(new.operation_id),
        summary: format!(
            "reallocated={} to_account={} to_meter={} receipt={}",
            record.paid_minor, new.account_id, new.meter_id, new.receipt_no
        ),
        void_tokens: record.tokens,
    })
}

/// 收费纠错: a payment of rent, fees or bills taken back whole. The mirror of its transfer makes the charges it
/// paid owe again (each receivable debited with them) and takes a postpaid account's credit from it back out of
/// the wallet; the money is owed back to the customer as for a reversed sale.
fn reverse_fee_payment(
    ws: &mut Workspace,
    op: &Operation,
    id: voltvend_domain::OperationId,
    reason: &str,
    at: Timestamp,
) -> Result<Effect, OpError> {
    let payment = ws.fee_payments_made.get(&id)?.cloned().ok_or_else(|| OpError::not_found("fee payment", id))?;
    let account = account_of(ws, payment.account_id)?;
    let books = books_of(ws, account.books)?;
    let source = super::money_account(payment.method, &books, || {
        Ok(ws.shifts.get(&payment.shift_id)?.ok_or_else(|| OpError::not_found("shift", payment.shift_id))?.drawer)
    })?;
    if payment.credit_minor > 0 {
        let (balance, _) = super::wallet_position(ws, &account)?;
        if balance < payment.credit_minor {
            return Err(OpError::refused(
                "credit_spent",
                format!(
                    "receipt #{} left {} of credit in the wallet, which holds {balance} now: it was used; put the \
                     account right with an adjustment instead (minor units)",
                    payment.receipt_no, payment.credit_minor
                ),
            ));
        }
    }
    // The owed-back money is a refused payment, which names a meter of the account (a refund in credit goes to
    // it after review).
    let meter = super::lifecycle::meters_of(ws, account.account.id).first().map(|m| m.meter.id).ok_or_else(|| {
        OpError::refused(
            "no_meter",
            format!("account {} has no meter to keep the money owed back against", account.account.id),
        )
    })?;
    // Once, and whole (refused if any of it was reversed before).
    let memo = format!("fee receipt #{} reversed: {reason}", payment.receipt_no);
    let correction = mirror(ws, op, payment.transfer_id, memo, at)?;
    for line in &payment.lines {
        let key = (line.schedule_id, line.period, line.premises_id);
        let mut charge = ws
            .fee_charges
            .get(&key)?
            .cloned()
            .ok_or_else(|| OpError::Internal(format!("charge {key:?} not loaded")))?;
        charge.paid_minor = charge.paid_minor.checked_sub(line.amount_minor).filter(|p| *p >= 0).ok_or_else(|| {
            OpError::Internal(format!("charge {key:?} has less paid than receipt #{} paid it", payment.receipt_no))
        })?;
        super::fees::put_charge(ws, charge)?;
    }
    if let Some(mut point) = ws.vending_points.get(&payment.vending_point_id)?.cloned() {
        point.take_back(payment.paid_minor);
        ws.vending_points.put(point.id, point);
    }
    owe_back(
        ws,
        op,
        (payment.transfer_id, source),
        &books,
        RefusedPayment {
            operation_id: op.id,
            at,
            vending_point_id: payment.vending_point_id,
            shift_id: payment.shift_id,
            operator_id: payment.operator_id,
            account_id: payment.account_id,
            meter_id: meter,
            method: payment.method,
            reference: payment.reference.clone(),
            paid_minor: payment.paid_minor,
            reason_code: "fee_payment_reversed".to_string(),
            reason: reason.to_string(),
            transfer_id: op.transfer_id(1),
            refunded_by: None,
            refunded_at: None,
            credited: false,
            purpose: crate::records::IntentPurpose::Fees,
        },
        format!("owed back: fee receipt #{} reversed", payment.receipt_no),
    )?;
    if payment.credit_minor > 0 {
        super::control::show_account_balance(ws, op, meter, account.account.id, "fee payment reversed", at, 0)?;
    }
    Ok(Effect {
        transfer_id: Some(correction),
        result: Some(op.id),
        summary: format!(
            "fee_receipt={} reversed={} owed_back={} charges={} credit_taken_back={}",
            payment.receipt_no,
            payment.paid_minor,
            payment.paid_minor,
            payment.lines.len(),
            payment.credit_minor
        ),
        void_tokens: Vec::new(),
    })
}

/// 减免 / 账单更正: a charge's amount reduced (`amount` positive, in the customer's favour) or raised, with its
/// schedule's receivable, against the schedule's revenue — or, for a postpaid bill, energy revenue, where its
/// usage was booked when the readings were priced. A charge is never reduced below what is paid on it.
#[allow(clippy::too_many_arguments)]
fn adjust_charge(
    ws: &mut Workspace,
    op: &Operation,
    account_id: voltvend_domain::AccountId,
    (schedule_id, period): (voltvend_domain::FeeScheduleId, i32),
    amount: i64,
    reason: &str,
    at: Timestamp,
) -> Result<Effect, OpError> {
    let account = account_of(ws, account_id)?;
    // A closed account was settled: what it owes may be reduced (减免), never raised.
    if amount < 0 && account.account.status == voltvend_domain::AccountStatus::Closed {
        return Err(voltvend_domain::AccountError::Closed(account_id).into());
    }
    let schedule =
        ws.fee_schedules.get(&schedule_id)?.cloned().ok_or_else(|| OpError::not_found("fee schedule", schedule_id))?;
    let key = (schedule_id, period, account.account.premises_id);
    let month = format!("{}-{:02}", period / 100, period % 100);
    let mut charge = ws.fee_charges.get(&key)?.filter(|c| c.account_id == account_id).cloned().ok_or_else(|| {
        OpError::not_found("fee charge", format!("{} {month} of account {account_id}", schedule.name))
    })?;
    let after = charge.amount_minor.checked_sub(amount).ok_or_else(too_large)?;
    if after < charge.paid_minor {
        return Err(OpError::refused(
            "charge_paid",
            format!(
                "{} {month} has {} paid; it can be reduced by {} at most: reverse the payment first (minor units)",
                schedule.name,
                charge.paid_minor,
                charge.outstanding_minor()
            ),
        ));
    }
    charge.amount_minor = after;
    charge.adjusted_minor = charge.adjusted_minor.checked_sub(amount).ok_or_else(too_large)?;
    let revenue = if schedule.basis == voltvend_domain::fees::FeeBasis::Postpaid {
        books_of(ws, account.books)?.energy_revenue
    } else {
        schedule.revenue
    };
    let (debit, credit) = if amount > 0 { (revenue, schedule.receivable) } else { (schedule.receivable, revenue) };
    let request = two_lines(
        op,
        TransferKind::Adjustment,
        schedule.currency,
        debit,
        credit,
        amount.saturating_abs(),
        format!("{} {month} adjusted: {reason}", schedule.name),
    );
    let transfer = committed(super::post(ws, request, at)?)?;
    let owed = charge.outstanding_minor();
    super::fees::put_charge(ws, charge)?;
    // A bill reduced may leave nothing overdue that kept the supply off.
    super::fees::reconnect_if_settled(ws, op, &account, at, 0)?;
    Ok(Effect {
        transfer_id: Some(transfer.request.id),
        summary: format!("charge={} {month} adjusted={amount} amount_after={after} owed={owed}", schedule.name),
        ..Effect::default()
    })
}

/// A two-line transfer of `amount` from `debit` to `credit`.
fn two_lines(
    op: &Operation,
    kind: TransferKind,
    currency: voltvend_domain::Currency,
    debit: voltvend_domain::LedgerAccountId,
    credit: voltvend_domain::LedgerAccountId,
    amount_minor: i64,
    memo: String,
) -> TransferRequest {
    TransferRequest {
        id: op.transfer_id(0),
        kind,
        currency,
        postings: vec![
            Posting { account: debit, side: Side::Debit, amount_minor },
            Posting { account: credit, side: Side::Credit, amount_minor },
        ],
        corrects: None,
        memo,
    }
}

fn adjust(
    ws: &mut Workspace,
    op: &Operation,
    id: voltvend_domain::AccountId,
    amount: i64,
    reason: &str,
    at: Timestamp,
) -> Result<Effect, OpError> {
    let account = account_of(ws, id)?;
    // A closed account was settled: its debt is corrected through arrears or a write-off.
    if account.account.status == voltvend_domain::AccountStatus::Closed {
        return Err(voltvend_domain::AccountError::Closed(id).into());
    }
    let books = books_of(ws, account.books)?;
    let (debit, credit) =
        if amount > 0 { (books.energy_revenue, account.wallet) } else { (account.wallet, books.energy_revenue) };
    let request = two_lines(
        op,
        TransferKind::Adjustment,
        account.account.currency,
        debit,
        credit,
        amount.saturating_abs(),
        format!("adjustment: {reason}"),
    );
    let transfer = committed(super::post(ws, request, at)?)?;
    let (balance, _) = super::wallet_position(ws, &account)?;
    // The account's remote meters that show its balance are told the adjusted one.
    let remote = super::lifecycle::meters_of(ws, id)
        .into_iter()
        .filter(|m| m.meter.control_mode == voltvend_domain::ControlMode::Remote);
    for (k, m) in (0..).zip(remote) {
        let shown = (balance, account.account.currency);
        super::control::show_balance(ws, op, m.meter.id, shown, "balance adjusted", at, k)?;
    }
    Ok(Effect {
        transfer_id: Some(transfer.request.id),
        summary: format!("adjusted={amount} balance_after={balance}"),
        ..Effect::default()
    })
}

fn write_off(
    ws: &mut Workspace,
    op: &Operation,
    id: voltvend_domain::AccountId,
    amount: i64,
    reason: &str,
    at: Timestamp,
) -> Result<Effect, OpError> {
    let account = account_of(ws, id)?;
    let books = books_of(ws, account.books)?;
    let owed = arrears_owed(ws, &account)?;
    if amount > owed {
        return Err(OpError::refused(
            "more_than_owed",
            format!("the account owes {owed} in arrears; {amount} cannot be written off (minor units)"),
        ));
    }
    let request = two_lines(
        op,
        TransferKind::WriteOff,
        account.account.currency,
        books.write_off,
        account.arrears,
        amount,
        format!("bad debt written off: {reason}"),
    );
    let transfer = committed(super::post(ws, request, at)?)?;
    Ok(Effect {
        transfer_id: Some(transfer.request.id),
        summary: format!("written_off={amount} arrears_left={}", owed - amount),
        ..Effect::default()
    })
}

fn correct_shift(
    ws: &mut Workspace,
    op: &Operation,
    id: voltvend_domain::ShiftId,
    amount: i64,
    reason: &str,
    at: Timestamp,
) -> Result<Effect, OpError> {
    let shift = ws.shifts.get(&id)?.cloned().ok_or_else(|| OpError::not_found("shift", id))?;
    if shift.status == voltvend_domain::ShiftStatus::Open {
        return Err(OpError::refused("shift_open", "an open shift is put right by its count at the close"));
    }
    let point =
        ws.vending_points.get(&shift.vending_point_id)?.cloned().ok_or_else(|| OpError::not_found("shift", id))?;
    let books = books_of(ws, point.books_id)?;
    // Found after the close: the drawer held more than counted (over); missing: less (short).
    let (debit, credit) =
        if amount > 0 { (shift.drawer, books.cash_variance) } else { (books.cash_variance, shift.drawer) };
    let request = two_lines(
        op,
        TransferKind::Adjustment,
        point.currency,
        debit,
        credit,
        amount.saturating_abs(),
        format!("count of shift {id} corrected: {reason}"),
    );
    let transfer = committed(super::post(ws, request, at)?)?;
    Ok(Effect {
        transfer_id: Some(transfer.request.id),
        summary: format!("shift_corrected={amount}"),
        ..Effect::default()
    })
}

/// 追缴陈欠: each line's amount put on its account's arrears (recovered by the account's rule from later sales),
/// against energy revenue — the energy was supplied under the old system. One transfer per set of books.
pub(super) fn enter_arrears(ws: &mut Workspace, op: &Operation, a: &EnterArrears, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    if a.lines.is_empty() || a.lines.len() > EnterArrears::LINES_MAX {
        return Err(OpError::refused(
            "bad_lines",
            format!("give between 1 and {} lines of arrears", EnterArrears::LINES_MAX),
        ));
    }
    // Per set of books: the arrears postings and their total.
    let mut groups: Vec<Group> = Vec::new();
    for (n, line) in a.lines.iter().enumerate() {
        let row = n + 1;
        text::check("reference", &line.reference, crate::command::ArrearsLine::REFERENCE_LEN_MAX)?;
        if line.amount_minor <= 0 {
            return Err(OpError::refused("bad_amount", format!("line {row}: the amount owed must be positive")));
        }
        let account = ws.accounts.get(&line.account_id)?.cloned().ok_or_else(|| {
            OpError::refused("unknown_account", format!("line {row}: no account {}", line.account_id))
        })?;
        in_scope(ws, &op.actor, account.account.premises_id, "account", line.account_id)?;
        let i = match groups.iter().position(|g| g.books == account.books) {
            Some(i) => i,
            None => {
                groups.push(Group {
                    books: account.books,
                    currency: account.account.currency,
                    postings: Vec::new(),
                    total: 0,
                });
                groups.len() - 1
            }
        };
        let group = groups.get_mut(i).ok_or_else(|| OpError::Internal("arrears group".into()))?;
        match group.postings.iter_mut().find(|p| p.account == account.arrears) {
            Some(p) => p.amount_minor = p.amount_minor.checked_add(line.amount_minor).ok_or_else(too_large)?,
            None => group.postings.push(Posting {
                account: account.arrears,
                side: Side::Debit,
                amount_minor: line.amount_minor,
            }),
        }
        group.total = group.total.checked_add(line.amount_minor).ok_or_else(too_large)?;
    }
    let mut transfers = Vec::with_capacity(groups.len());
    let mut total = 0_i64;
    for (n, Group { books: books_id, currency, mut postings, total: sum }) in groups.into_iter().enumerate() {
        let books = books_of(ws, books_id)?;
        postings.push(Posting { account: books.energy_revenue, side: Side::Credit, amount_minor: sum });
        let request = TransferRequest {
            id: op.transfer_id(u32::try_from(n).map_err(|_| too_large())?),
            kind: TransferKind::Adjustment,
            currency,
            postings,
            corrects: None,
            memo: "historical arrears entered".to_string(),
        };
        transfers.push(committed(super::post(ws, request, at)?)?.request.id);
        total = total.saturating_add(sum);
    }
    // The audit line names the account of a single entry (so it shows in the account's history); an import's
    // lines are in its transfers.
    let (subject, detail) = match a.lines.as_slice() {
        [one] => (format!("account:{}", one.account_id), format!(" reference={}", one.reference)),
        _ => ("arrears:import".to_string(), String::new()),
    };
    let entry = AuditEntry::new("enter_arrears", subject, "", format!("lines={} total={total}{detail}", a.lines.len()));
    Ok((Outcome::ArrearsEntered { lines: a.lines.len(), total_minor: total, transfers }, entry))
}

/// The lines of an arrears import that go to one set of books.
#[derive(Debug)]
struct Group {
    books: voltvend_domain::BooksId,
    currency: voltvend_domain::Currency,
    postings: Vec<Posting>,
    total: i64,
}

fn too_large() -> OpError {
    OpError::refused("amount_too_large", "the amount is too large")
}
