//! Cash drawers and shifts (交班结算), reversals and re-allocations (纠错), and bare transfers.

use jiff::Timestamp;
use voltvend_domain::{
    LedgerAccount, LedgerAccountKind, LedgerError, Owner, Posting, Shift, Side, TransferKind, TransferRequest, text,
};

use super::{Outcome, acting_operator, committed, drawer_ledger_id, in_scope, sale};
use crate::audit::AuditEntry;
use crate::command::{CloseShift, OpenShift, Operation, Reverse};
use crate::context::Context;
use crate::error::OpError;
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

pub(super) fn open_shift(ws: &mut Workspace, op: &Operation, s: &OpenShift, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    if ws.shifts.get(&s.shift_id)?.is_some() {
        return Err(OpError::Exists { what: "shift", id: s.shift_id.to_string() });
    }
    let point = ws
        .vending_points
        .get(&s.vending_point_id)?
        .ok_or_else(|| OpError::not_found("vending point", s.vending_point_id))?
        .clone();
    in_scope(ws, &op.actor, point.premises_id, "vending point", point.id)?;
    if !point.active {
        return Err(voltvend_domain::VendingError::VendingPointDisabled(point.id).into());
    }
    match ws.operators.get(&s.operator_id)? {
        Some(o) if o.active => {}
        _ => return Err(OpError::not_found("operator", s.operator_id)),
    }
    if let Some(Some(open)) = ws.open_shifts.get(&s.operator_id)? {
        return Err(OpError::refused(
            "shift_already_open",
            format!("operator {} has shift {open} open: close it first", s.operator_id),
        ));
    }
    let drawer_id = drawer_ledger_id(op);
    ws.book.open_account(LedgerAccount::new(
        drawer_id,
        LedgerAccountKind::CashDrawer,
        Owner::Shift(s.shift_id),
        point.premises_id,
        point.currency,
        None,
    )?)?;
    let shift = Shift::open(s.shift_id, point.id, s.operator_id, drawer_id, at, s.opening_float_minor)?;
    ws.shifts.put(shift.id, shift);
    ws.open_shifts.put(s.operator_id, Some(s.shift_id));
    let entry = AuditEntry::new(
        "open_shift",
        format!("shift:{}", s.shift_id),
        "",
        format!("vending_point={} operator={} float={}", point.id, s.operator_id, s.opening_float_minor),
    );
    Ok((Outcome::ShiftOpened { shift_id: s.shift_id, drawer: drawer_id }, entry))
}

pub(super) fn close_shift(ws: &mut Workspace, op: &Operation, c: &CloseShift, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let mut shift = ws.shifts.get(&c.shift_id)?.ok_or_else(|| OpError::not_found("shift", c.shift_id))?.clone();
    let point = ws
        .vending_points
        .get(&shift.vending_point_id)?
        .ok_or_else(|| OpError::not_found("vending point", shift.vending_point_id))?
        .clone();
    in_scope(ws, &op.actor, point.premises_id, "shift", c.shift_id)?;
    let (ledger, drawer) = ws
        .book
        .account(shift.drawer)
        .ok_or_else(|| OpError::Internal(format!("drawer {} not loaded", shift.drawer)))?;
    if ledger.kind == LedgerAccountKind::PaymentClearing {
        return Err(OpError::refused(
            "channel_shift",
            "an online payment channel's standing shift is not closed; close the channel to new payments instead",
        ));
    }
    let expected = shift.opening_float_minor.saturating_add(drawer.normal(Side::Debit));
    check_denominations(c)?;
    let variance = shift.close(at, expected, c.counted_minor)?;
    shift.denominations = c.denominations.clone();
    shift.denominations.sort_unstable_by(|a, b| b.cmp(a));
    if variance != 0 {
        let books = ws.books.get(&point.books_id)?.ok_or_else(|| OpError::not_found("books", point.books_id))?;
        // Short: the drawer holds less than the ledger says (credit it, expense the difference); over: the reverse.
        let (debit, credit) =
            if variance < 0 { (books.cash_variance, shift.drawer) } else { (shift.drawer, books.cash_variance) };
        let amount = variance.saturating_abs();
        let request = TransferRequest {
            id: op.transfer_id(0),
            kind: TransferKind::Adjustment,
            currency: point.currency,
            postings: vec![
                Posting { account: debit, side: Side::Debit, amount_minor: amount },
                Posting { account: credit, side: Side::Credit, amount_minor: amount },
            ],
            corrects: None,
            memo: format!("cash count of shift {}: {}", shift.id, if variance < 0 { "short" } else { "over" }),
        };
        committed(super::post(ws, request, at)?)?;
    }
    let entry = AuditEntry::new(
        "close_shift",
        format!("shift:{}", shift.id),
        format!("expected={expected}"),
        format!("counted={} variance={variance}", c.counted_minor),
    );
    ws.open_shifts.put(shift.operator_id, None);
    ws.shifts.put(shift.id, shift);
    Ok((
        Outcome::ShiftClosed {
            shift_id: c.shift_id,
            expected_minor: expected,
            counted_minor: c.counted_minor,
            variance_minor: variance,
        },
        entry,
    ))
}

/// A count by denomination: distinct positive face values, counts not negative, adding up to what was counted.
fn check_denominations(c: &CloseShift) -> Result<(), OpError> {
    if c.denominations.is_empty() {
        return Ok(());
    }
    let bad = |why: String| OpError::refused("bad_denominations", why);
    if c.denominations.len() > CloseShift::DENOMINATIONS_MAX {
        return Err(bad(format!("at most {} denominations", CloseShift::DENOMINATIONS_MAX)));
    }
    let mut total = 0_i64;
    let mut seen = std::collections::BTreeSet::new();
    for (value, count) in &c.denominations {
        if *value <= 0 || *count < 0 {
            return Err(bad("face values are positive and counts not negative".into()));
        }
        if !seen.insert(*value) {
            return Err(bad(format!("the face value {value} is counted twice")));
        }
        total = value.checked_mul(*count).and_then(|v| total.checked_add(v)).ok_or_else(|| bad("too large".into()))?;
    }
    if total != c.counted_minor {
        return Err(OpError::refused(
            "count_mismatch",
            format!("the denominations add up to {total}, not the {} counted (minor units)", c.counted_minor),
        ));
    }
    Ok(())
}

/// Every ledger account a transfer touches must be within the actor's reach: a customer's, a shift's or a
/// meter's account inside the actor's scope; a shared account of the books (revenue, tax, clearing) of a
/// premises on the way to the scope or inside it.
fn postings_in_scope(ws: &Workspace, op: &Operation, postings: &[Posting]) -> Result<(), OpError> {
    let Some(scope) = op.actor.scope else { return Ok(()) };
    let scope_path = ws.premises.get(&scope)?.map(|p| p.path.clone()).unwrap_or_default();
    for p in postings {
        let Some((account, _)) = ws.book.account(p.account) else { continue };
        let shared = matches!(account.owner, Owner::None | Owner::Provider(_));
        if !(shared && scope_path.contains(&account.premises_id)) {
            in_scope(ws, &op.actor, account.premises_id, "ledger account", p.account)?;
        }
    }
    Ok(())
}

pub(super) fn reverse(ws: &mut Workspace, op: &Operation, r: &Reverse, ctx: &Context, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let reason = text::required("reason", &r.reason, Reverse::REASON_LEN_MAX)?;
    let target = ws.book.transfer(r.transfer_id).ok_or_else(|| OpError::not_found("transfer", r.transfer_id))?.clone();
    postings_in_scope(ws, op, &target.request.postings)?;
    let postings = match &r.lines {
        Some(lines) => lines.clone(),
        None => ws
            .book
            .unreversed(r.transfer_id)
            .unwrap_or_default()
            .into_iter()
            .filter(|(_, _, left)| *left > 0)
            .map(|(account, side, left)| Posting { account, side: side.opposite(), amount_minor: left })
            .collect(),
    };
    if postings.is_empty() {
        return Err(LedgerError::AlreadyReversed(r.transfer_id).into());
    }
    super::fees::untouched_receivables(ws, &target.request.postings)?;
    let request = TransferRequest {
        id: op.transfer_id(0),
        kind: TransferKind::Correction,
        currency: target.request.currency,
        postings,
        corrects: Some(r.transfer_id),
        memo: reason.clone(),
    };
    let correction = committed(super::post(ws, request, at)?)?;
    let new_sale = match &r.reallocate {
        Some(s) => {
            Some(sale::sale(ws, op, s, ctx, at, 1, sale::Origin::Reallocated { from: r.transfer_id, approved: false })?)
        }
        None => None,
    };
    let reversed: i64 =
        correction.request.postings.iter().filter(|p| p.side == Side::Debit).map(|p| p.amount_minor).sum();
    let entry = AuditEntry::new(
        "reverse",
        format!("transfer:{}", r.transfer_id),
        format!("kind={} seq={}", target.request.kind, target.seq),
        format!(
            "reversed={reversed} reason={reason}{}",
            new_sale
                .as_ref()
                .map(|s| format!(" reallocated_to=account:{} receipt={}", s.account_id, s.receipt_no))
                .unwrap_or_default()
        ),
    );
    Ok((Outcome::Reversed { correction, sale: new_sale }, entry))
}

pub(super) fn post_transfer(ws: &mut Workspace, op: &Operation, t: &TransferRequest, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    postings_in_scope(ws, op, &t.postings)?;
    super::fees::untouched_receivables(ws, &t.postings)?;
    let outcome = super::post(ws, t.clone(), at)?;
    let transfer = outcome.transfer().clone();
    let amount: i64 = transfer.request.postings.iter().filter(|p| p.side == Side::Debit).map(|p| p.amount_minor).sum();
    let entry = AuditEntry::new(
        "post_transfer",
        format!("transfer:{}", transfer.request.id),
        "",
        format!("kind={} amount={amount} {} seq={}", transfer.request.kind, transfer.request.currency, transfer.seq),
    );
    Ok((Outcome::Transfer(transfer), entry))
}
