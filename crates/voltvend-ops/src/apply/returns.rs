//! 累计结余, the accumulated balance of local meters (DESIGN.md §2.6): an IC-card or STS keypad meter holds the
//! credit it was sold, and only its return data (回抄数据: the return file its controller writes on the IC card,
//! a check card, its display, a remote read) tells how much of it is still unused. That unused credit was paid
//! for and not yet consumed; at closure (销户) it is bought back into the wallet — valued at the meter's weighted
//! average purchase price ([`crate::records::LocalCredit::value`]) — so that it pays arrears and is refunded with
//! the rest of the account's credit, and never lost or paid twice.
//!
//! Only return data reported after the meter's last sale is acted on: a token sold since may or may not have
//! been entered, and buying back credit the meter does not show (or not counting credit it does) would be wrong
//! either way. The operator clears the meter afterwards (an STS clear-credit token, an IC clear card).

use jiff::Timestamp;
use voltvend_domain::{ControlMode, MeterId, MeterState, Posting, Side, TransferKind, TransferRequest};

use super::{Outcome, acting_operator, committed, control};
use crate::audit::AuditEntry;
use crate::command::{Operation, RecordMeterReturn};
use crate::error::OpError;
use crate::records::{AccountRecord, CreditValue, LocalCredit, MeterRecord, MeterReturn, ReturnSource};
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

/// How far ahead of the server's clock a return may be dated (a controller's clock runs a little fast).
const FUTURE_SLACK_S: i64 = 300;

pub(super) fn record_meter_return(ws: &mut Workspace, op: &Operation, r: &RecordMeterReturn, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let mut meter = control::meter_in_scope(ws, op, r.meter_id)?;
    if meter.meter.control_mode != ControlMode::Local {
        return Err(OpError::refused("meter_not_local", "a remote meter's credit is its account's wallet"));
    }
    let before = return_text(meter.local.last_return.as_ref());
    let current = keep_return(&mut meter, r.at, r.source, r.remaining_milli, at)?;
    let reported = r.at.min(at);
    let value = meter.local.value(r.remaining_milli);
    let entry = AuditEntry::new(
        "record_meter_return",
        format!("meter:{}", meter.meter.id),
        before,
        format!(
            "{} value_minor={} unvalued_milli={} current={current} after_last_sale={}",
            return_text(Some(&MeterReturn { at: r.at, source: r.source, remaining_milli: r.remaining_milli })),
            value.value_minor,
            value.unvalued_milli,
            meter.local.last_sale_at.is_none_or(|s| reported > s),
        ),
    );
    let local = meter.local.clone();
    ws.meters.put(meter.meter.id, meter);
    Ok((Outcome::MeterReturnRecorded { meter_id: r.meter_id, local, current }, entry))
}

/// Checks return data a local meter reported at `reported_at` and keeps it as the meter's last when it is the
/// newest: whether it was kept.
pub(super) fn keep_return(
    meter: &mut MeterRecord,
    reported_at: Timestamp,
    source: ReturnSource,
    remaining_milli: i64,
    now: Timestamp,
) -> Result<bool, OpError> {
    if remaining_milli < 0 {
        return Err(OpError::refused("bad_value", "the credit left on a meter is not negative"));
    }
    if reported_at > now + jiff::SignedDuration::from_secs(FUTURE_SLACK_S) {
        return Err(OpError::refused("return_in_future", format!("the return data is dated {reported_at}, after now")));
    }
    // Return data arrives late and out of order (a check card read days after a user card): the newest report
    // is the meter's credit, an older one only goes into the trail.
    // Kept no later than now: sales are stamped with the server's clock, and a return dated ahead of it must
    // not look newer than a sale made in the meantime (whose token it cannot show).
    let reported = reported_at.min(now);
    let current = meter.local.last_return.as_ref().is_none_or(|last| reported >= last.at);
    if current {
        meter.local.last_return = Some(MeterReturn { at: reported, source, remaining_milli });
    }
    Ok(current)
}

pub(super) fn return_text(r: Option<&MeterReturn>) -> String {
    r.map_or_else(
        || "return=-".to_string(),
        |r| format!("return_at={} source={} remaining_milli={}", r.at, r.source, r.remaining_milli),
    )
}

/// Buys the unused credit of the account's local meters back into its wallet, as transfer `op.transfer_id(n)`
/// (nothing is posted when there is none). Each local meter that was ever sold credit needs return data from
/// after its last sale. The meters' credit records start afresh (what they were is in the trail).
pub(super) fn buy_back(
    ws: &mut Workspace,
    op: &Operation,
    account: &AccountRecord,
    n: u32,
    at: Timestamp,
) -> Result<Vec<(MeterId, CreditValue)>, OpError> {
    let mut bought = Vec::new();
    let mut meters: Vec<_> = ws
        .meters
        .values()
        .filter(|m| {
            m.meter.account_id == Some(account.account.id)
                && m.meter.state == MeterState::Active
                && m.meter.control_mode == ControlMode::Local
        })
        .cloned()
        .collect();
    meters.sort_by_key(|m| m.meter.id);
    for mut m in meters {
        if m.local.sold_milli == 0 && m.local.last_return.is_none() {
            continue;
        }
        let Some(last) = m.local.last_return.clone() else {
            return Err(OpError::refused(
                "meter_return_missing",
                format!("meter {} has no return data: read its credit (card, check card or display) first", m.meter.id),
            ));
        };
        if !m.local.is_current() {
            return Err(OpError::refused(
                "meter_return_stale",
                format!("meter {} was sold credit after its last return data ({}): read it again", m.meter.id, last.at),
            ));
        }
        let value = m.local.value(last.remaining_milli);
        // The occupancy's credit is settled: nothing sold so far may be valued again (the closure starts the
        // meter afresh for the next occupant; see `lifecycle::close`).
        m.local = LocalCredit::default();
        bought.push((m.meter.id, value));
        ws.meters.put(m.meter.id, m);
    }
    let value: i64 = bought.iter().map(|(_, v)| v.value_minor).sum();
    if value == 0 {
        return Ok(bought);
    }
    let tax: i64 = bought.iter().map(|(_, v)| v.tax_minor).sum();
    let books = ws
        .books
        .get(&account.books)?
        .cloned()
        .ok_or_else(|| OpError::Internal(format!("books {} not loaded", account.books)))?;
    let mut postings = vec![Posting { account: account.wallet, side: Side::Credit, amount_minor: value }];
    for (ledger, amount) in [(books.energy_revenue, value - tax), (books.tax, tax)] {
        if amount > 0 {
            postings.push(Posting { account: ledger, side: Side::Debit, amount_minor: amount });
        }
    }
    committed(super::post(
        ws,
        TransferRequest {
            id: op.transfer_id(n),
            kind: TransferKind::Adjustment,
            currency: account.account.currency,
            postings,
            corrects: None,
            memo: format!("closure of account {}: unused credit on its meters bought back", account.account.id),
        },
        at,
    )?)?;
    Ok(bought)
}
