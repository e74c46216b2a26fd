//! 房租 / 物业费 (DESIGN.md §2.7): rent and property fees charged monthly to a site's occupied units, collected
//! at the counter with a receipt of the vending point's numbering, and what overdue ones do to energy sales
//! (the rules are in [`voltvend_domain::fees`]).
//!
//! Each schedule has its own receivable and revenue accounts in the ledger. Issuing a month debits the
//! receivable and credits the revenue by the month's total in one transfer; what each unit owes is in its
//! charge (the receivable's sub-ledger: the receivable's balance is the sum of its charges' unpaid amounts).
//! Money paid towards charges — at the counter, or as a share of an energy purchase — is credited to the
//! receivables of the charges it pays, oldest due first.
//!
//! A month is charged once, to the open account at each unit within the site when it is issued; a unit with no
//! open account is vacant and charged nothing. A unit with more than one open account is refused rather than
//! charged twice or to a guess.
//!
//! 后付费账单: a postpaid cycle (basis `postpaid`) bills each postpaid account at its units. What the account
//! used since its last bill is owed as its arrears (and a negative wallet): the bill moves it to the cycle's
//! receivable, adds the standing charge (credited to the cycle's revenue) and applies what credit the wallet
//! holds, in the issuing transfer; the bill is the unit's charge, paid like any other. Prepaid accounts at the
//! cycle's units are counted and not billed. Dunning ([`dun`]) reminds every overdue charge of a month through
//! the notification outbox and adds the schedule's late fee once.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use voltvend_domain::fees::{FeeBasis, OverduePolicy, charge_minor, late_fee_minor, share_taken};
use voltvend_domain::{
    AccountId, AccountStatus, BillingMode, FeeScheduleId, LedgerAccount, LedgerAccountId, LedgerAccountKind, Owner,
    Posting, PremisesLevel, Side, TransferKind, TransferRequest, text,
};

use super::lifecycle::meters_of;
use super::{Outcome, acting_operator, committed, in_scope, premises_in_scope, wallet_position};
use crate::audit::AuditEntry;
use crate::command::{CreateFeeSchedule, IssueFees, Operation, PayFees, Sale};
use crate::error::OpError;
use crate::records::{
    AccountRecord, FeeAllocation, FeeCharge, FeePayment, FeePolicy, FeeRun, FeeSchedule, FloorArea, OutboxKind,
    OutboxRow, PaymentMethod,
};
use crate::workspace::Workspace;

/// The receivable (1) and revenue (2) ledger accounts a schedule's creation opens.
pub(crate) fn schedule_ledger_id(op: &Operation, n: u32) -> LedgerAccountId {
    LedgerAccountId::from_uuid(op.derived_id("fee-ledger", n))
}

type Done = Result<(Outcome, AuditEntry), OpError>;

pub(super) fn set_floor_area(ws: &mut Workspace, op: &Operation, f: &FloorArea) -> Done {
    acting_operator(ws, &op.actor)?;
    premises_in_scope(ws, &op.actor, f.premises_id)?;
    let unit = ws.premises.get(&f.premises_id)?.ok_or_else(|| OpError::not_found("premises", f.premises_id))?;
    if unit.level != PremisesLevel::Unit {
        return Err(OpError::refused("premises_not_unit", format!("{} is not a unit", unit.name)));
    }
    if !(1..=FloorArea::AREA_DM2_MAX).contains(&f.floor_area_dm2) {
        return Err(OpError::refused("bad_floor_area", "a floor area is more than 0 and at most 1 000 000 m²"));
    }
    let before = ws.floor_areas.get(&f.premises_id)?.map(|a| a.floor_area_dm2.to_string()).unwrap_or_default();
    let entry = AuditEntry::new(
        "set_floor_area",
        format!("premises:{}", f.premises_id),
        before,
        format!("floor_area_dm2={}", f.floor_area_dm2),
    );
    ws.floor_areas.put(f.premises_id, *f);
    Ok((Outcome::Updated { what: "floor area", id: f.premises_id.to_string() }, entry))
}

pub(super) fn set_policy(ws: &mut Workspace, op: &Operation, f: &FeePolicy) -> Done {
    acting_operator(ws, &op.actor)?;
    premises_in_scope(ws, &op.actor, f.premises_id)?;
    if OverduePolicy::from_parts(f.policy.name(), f.policy.share_bp()) != Some(f.policy) {
        return Err(OpError::refused("bad_fee_policy", "a share of each purchase is 0.01 % to 100 %"));
    }
    let describe = |p: &OverduePolicy| format!("{} share_bp={}", p.name(), p.share_bp());
    let before = ws.fee_policies.get(&f.premises_id)?.map(|p| describe(&p.policy)).unwrap_or_default();
    let entry = AuditEntry::new("set_fee_policy", format!("premises:{}", f.premises_id), before, describe(&f.policy));
    ws.fee_policies.put(f.premises_id, *f);
    Ok((Outcome::Updated { what: "fee policy", id: f.premises_id.to_string() }, entry))
}

pub(super) fn create_schedule(ws: &mut Workspace, op: &Operation, c: &CreateFeeSchedule, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    premises_in_scope(ws, &op.actor, c.premises_id)?;
    if ws.fee_schedules.get(&c.schedule_id)?.is_some() {
        return Err(OpError::Exists { what: "fee schedule", id: c.schedule_id.to_string() });
    }
    let name = text::required("name", &c.name, FeeSchedule::NAME_LEN_MAX)?;
    if !(c.basis.rate_minor_min()..=FeeSchedule::RATE_MINOR_MAX).contains(&c.rate_minor) {
        return Err(OpError::refused(
            "fee_rate",
            "a fee's rate is more than 0 (a postpaid standing charge may be 0) and at most 10 000 000.00",
        ));
    }
    if !(0..=OverduePolicy::SHARE_BP_MAX).contains(&c.late_fee_bp) {
        return Err(OpError::refused("late_fee", "a late fee is 0 % to 100 % of what is overdue"));
    }
    if !(0..=FeeSchedule::NOTICE_DAYS_MAX).contains(&c.disconnect_after_days) {
        return Err(OpError::refused("disconnect_notice", "a notice before disconnection is 0 to 365 days"));
    }
    // Supply is never cut for rent or fees; only a postpaid bill for the energy itself may, where allowed.
    if c.disconnect_after_days > 0 && c.basis != FeeBasis::Postpaid {
        return Err(OpError::refused(
            "disconnect_postpaid_only",
            "only a postpaid billing cycle may disconnect a supply; rent and fees never do",
        ));
    }
    if !(1..=FeeSchedule::DUE_DAY_MAX).contains(&c.due_day) {
        return Err(OpError::refused("fee_due_day", "a fee falls due on a day from 1 to 28 of its month"));
    }
    // One postpaid cycle per site: two would each add their standing charge to one account's month. A cycle
    // within another's site (a tenant's own unit, a building inside a property) bills its units instead: the
    // nearest cycle bills a unit (`issue`).
    if c.basis == FeeBasis::Postpaid {
        let site =
            ws.premises.get(&c.premises_id)?.ok_or_else(|| OpError::not_found("premises", c.premises_id))?.clone();
        let same = ws.fee_schedules.values().find(|s| s.basis == FeeBasis::Postpaid && s.premises_id == site.id);
        if let Some(other) = same {
            return Err(OpError::refused(
                "cycles_overlap",
                format!("{} already bills the postpaid accounts at {}", other.name, site.name),
            ));
        }
    }
    let (receivable, revenue) = (schedule_ledger_id(op, 1), schedule_ledger_id(op, 2));
    for (id, kind) in [(receivable, LedgerAccountKind::FeesReceivable), (revenue, LedgerAccountKind::FeeRevenue)] {
        let owner = Owner::FeeSchedule(c.schedule_id);
        ws.book.open_account(LedgerAccount::new(id, kind, owner, c.premises_id, c.currency, None)?)?;
    }
    let schedule = FeeSchedule {
        id: c.schedule_id,
        premises_id: c.premises_id,
        name,
        basis: c.basis,
        rate_minor: c.rate_minor,
        currency: c.currency,
        due_day: c.due_day,
        receivable,
        revenue,
        created_at: at,
        late_fee_bp: c.late_fee_bp,
        disconnect_after_days: c.disconnect_after_days,
    };
    let entry = AuditEntry::new(
        "create_fee_schedule",
        format!("fee_schedule:{}", c.schedule_id),
        String::new(),
        format!(
            "{} at {}: {} {} {}, due on day {}, late fee {} bp, disconnect after {} days",
            schedule.name,
            c.premises_id,
            c.basis,
            c.rate_minor,
            c.currency,
            c.due_day,
            c.late_fee_bp,
            c.disconnect_after_days
        ),
    );
    ws.fee_schedules.put(c.schedule_id, schedule);
    Ok((Outcome::Created { what: "fee schedule", id: c.schedule_id.to_string() }, entry))
}

/// The due date of a month of a schedule.
fn due_on(period: i32, due_day: i8) -> Result<Date, OpError> {
    let bad = || OpError::refused("bad_period", format!("{period} is not a month (YYYYMM, 2000–2199)"));
    let (year, month) = (period / 100, period % 100);
    if !(2000..2200).contains(&year) || !(1..=12).contains(&month) {
        return Err(bad());
    }
    let year = i16::try_from(year).map_err(|_| bad())?;
    let month = i8::try_from(month).map_err(|_| bad())?;
    Date::new(year, month, due_day).map_err(|_| bad())
}

pub(super) fn issue(ws: &mut Workspace, op: &Operation, i: &IssueFees, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let schedule = schedule_of_loaded(ws, i.schedule_id)?;
    in_scope(ws, &op.actor, schedule.premises_id, "fee schedule", i.schedule_id)?;
    // Rent is charged for the month it is for and falls due in it; a bill charges a month used and falls due in
    // the next.
    let due = due_on(i.period, schedule.due_day)?;
    let due = if schedule.basis == FeeBasis::Postpaid {
        due.checked_add(jiff::Span::new().months(1)).map_err(|e| OpError::Internal(e.to_string()))?
    } else {
        due
    };
    if ws.fee_runs.get(&(i.schedule_id, i.period))?.is_some() {
        return Err(OpError::refused(
            "fees_issued",
            format!("{} {} was issued already", schedule.name, month_of(i.period)),
        ));
    }
    let units = ws
        .units_within
        .get(&schedule.premises_id)?
        .cloned()
        .ok_or_else(|| OpError::Internal(format!("units within {} not loaded", schedule.premises_id)))?;
    let postpaid = schedule.basis == FeeBasis::Postpaid;
    // The sites of the other postpaid cycles within this one's: their units are theirs to bill (the nearest
    // cycle bills a unit; a tenant's own cycle inside the building's).
    let mut inner = Vec::new();
    if postpaid {
        let own_path = ws
            .premises
            .get(&schedule.premises_id)?
            .ok_or_else(|| OpError::not_found("premises", schedule.premises_id))?
            .path
            .clone();
        let others: Vec<FeeSchedule> = ws
            .fee_schedules
            .values()
            .filter(|s| s.basis == FeeBasis::Postpaid && s.id != schedule.id)
            .cloned()
            .collect();
        for s in others {
            let site = ws.premises.get(&s.premises_id)?.ok_or_else(|| OpError::not_found("premises", s.premises_id))?;
            if site.id != schedule.premises_id && site.path.contains(&schedule.premises_id) {
                inner.push(site.id);
            }
            // A cycle around this one that issued the month before this one existed billed its units for it
            // already: issuing it here would charge them twice.
            let encloses = s.premises_id != schedule.premises_id && own_path.contains(&s.premises_id);
            if encloses
                && let Some(run) = ws.fee_runs.get(&(s.id, i.period))?
                && run.at < schedule.created_at
            {
                return Err(OpError::refused(
                    "cycle_month_billed",
                    format!(
                        "{} billed {} for the units of {} before this cycle existed; it bills them from the next month",
                        s.name,
                        month_of(i.period),
                        schedule.name
                    ),
                ));
            }
        }
    }
    let (mut charges, mut vacant, mut not_postpaid) = (Vec::new(), 0_i64, 0_i64);
    // A postpaid bill's postings on the account's own ledger accounts, and the standing charges' total.
    let (mut moves, mut standing_total) = (Vec::new(), 0_i64);
    let mut outbox_idx = 0_i64;
    for unit in units {
        if !inner.is_empty() && ws.premises.get(&unit)?.is_some_and(|p| inner.iter().any(|site| p.path.contains(site)))
        {
            continue;
        }
        // The accounts stored at the unit, and those operations earlier in the batch opened there.
        let mut ids: BTreeSet<AccountId> =
            ws.accounts_at.get(&unit)?.cloned().unwrap_or_default().into_iter().collect();
        ids.extend(ws.accounts.values().filter(|a| a.account.premises_id == unit).map(|a| a.account.id));
        let mut open: Vec<AccountRecord> = Vec::new();
        for id in ids {
            let a = ws.accounts.get(&id)?.ok_or_else(|| OpError::not_found("account", id))?;
            if a.account.status != AccountStatus::Closed {
                open.push(a.clone());
            }
        }
        let name = || ws.premises.get(&unit).ok().flatten().map_or_else(|| unit.to_string(), |p| p.name.clone());
        let account = match open.as_slice() {
            [] => {
                vacant += 1;
                continue;
            }
            [one] => one,
            _ => {
                return Err(OpError::refused(
                    "unit_accounts",
                    format!("unit {} has {} open accounts; its fees would be charged to a guess", name(), open.len()),
                ));
            }
        };
        if postpaid && account.account.billing_mode != BillingMode::Postpaid {
            not_postpaid += 1;
            continue;
        }
        if account.account.currency != schedule.currency {
            return Err(OpError::refused(
                "currency_mismatch",
                format!(
                    "unit {}'s account is in {}, the schedule in {}",
                    name(),
                    account.account.currency,
                    schedule.currency
                ),
            ));
        }
        let area = ws.floor_areas.get(&unit)?.map(|a| a.floor_area_dm2);
        let base = charge_minor(schedule.basis, schedule.rate_minor, area).ok_or_else(|| {
            OpError::refused("floor_area_missing", format!("unit {} has no floor area to charge per m²", name()))
        })?;
        let carried = owed_by(&unpaid(ws, account)?)?;
        let (mut usage, mut credit) = (0, 0);
        if postpaid {
            // Arrears in credit (a billed consumption reversed) are credit like the wallet's.
            let (arrears, (balance, _)) = (arrears_balance(ws, account)?, wallet_position(ws, account)?);
            let negative = balance.min(0).checked_neg().unwrap_or(0);
            usage = arrears.max(0).checked_add(negative).ok_or_else(too_large)?;
            let gross = base.checked_add(usage).ok_or_else(too_large)?;
            let from_arrears = arrears.min(0).checked_neg().unwrap_or(0).min(gross);
            let from_wallet = balance.max(0).min(gross - from_arrears);
            credit = from_arrears + from_wallet;
            for (ledger, side, amount_minor) in [
                (account.arrears, Side::Credit, arrears.max(0)),
                (account.wallet, Side::Credit, negative),
                (account.arrears, Side::Debit, from_arrears),
                (account.wallet, Side::Debit, from_wallet),
            ] {
                if amount_minor > 0 {
                    moves.push(Posting { account: ledger, side, amount_minor });
                }
            }
            standing_total = standing_total.checked_add(base).ok_or_else(too_large)?;
        }
        let amount = base.checked_add(usage).and_then(|a| a.checked_sub(credit)).ok_or_else(too_large)?;
        if postpaid && let Some(meter) = meters_of(ws, account.account.id).first() {
            ws.outbox.push(OutboxRow {
                operation_id: op.id,
                idx: outbox_idx,
                meter_id: Some(meter.meter.id),
                kind: OutboxKind::BillIssued,
                at,
                detail: format!("period={} amount_minor={amount} due={due}", month_of(i.period)),
            });
            outbox_idx += 1;
        }
        charges.push(FeeCharge {
            schedule_id: schedule.id,
            period: i.period,
            premises_id: unit,
            account_id: account.account.id,
            amount_minor: amount,
            paid_minor: 0,
            due_on: due,
            issued_at: at,
            usage_minor: usage,
            credit_minor: credit,
            carried_minor: carried,
            late_fee_minor: 0,
            adjusted_minor: 0,
        });
    }
    let total = charges.iter().try_fold(0_i64, |t, c| t.checked_add(c.amount_minor));
    let total = total.ok_or_else(too_large)?;
    let revenue = if postpaid { standing_total } else { total };
    let transfer_id = (total > 0 || !moves.is_empty()).then(|| op.transfer_id(0));
    if let Some(id) = transfer_id {
        let mut postings = vec![
            Posting { account: schedule.receivable, side: Side::Debit, amount_minor: total },
            Posting { account: schedule.revenue, side: Side::Credit, amount_minor: revenue },
        ];
        postings.extend(moves);
        postings.retain(|p| p.amount_minor > 0);
        let request = TransferRequest {
            id,
            kind: TransferKind::Fee,
            currency: schedule.currency,
            postings,
            corrects: None,
            memo: format!("{} {}", schedule.name, month_of(i.period)),
        };
        committed(super::post(ws, request, at)?)?;
    }
    for c in &charges {
        put_charge(ws, c.clone())?;
    }
    let run = FeeRun {
        operation_id: op.id,
        schedule_id: schedule.id,
        period: i.period,
        due_on: due,
        charged: i64::try_from(charges.len()).unwrap_or(i64::MAX),
        total_minor: total,
        vacant,
        transfer_id,
        at,
        not_postpaid,
        dunned_at: None,
        dunned: 0,
        late_fees_minor: 0,
        disconnected_at: None,
        disconnected: 0,
    };
    let entry = AuditEntry::new(
        "issue_fees",
        format!("fee_schedule:{}", schedule.id),
        String::new(),
        format!(
            "period={} charged={} total={} vacant={} not_postpaid={not_postpaid} due={due}",
            i.period, run.charged, total, vacant
        ),
    );
    ws.fee_runs.put((schedule.id, i.period), run.clone());
    Ok((Outcome::FeesIssued { run, charges }, entry))
}

/// The arrears account's balance on its debit side, with its sign: owed when positive, credit when negative.
fn arrears_balance(ws: &Workspace, account: &AccountRecord) -> Result<i64, OpError> {
    let (_, balance) = ws
        .book
        .account(account.arrears)
        .ok_or_else(|| OpError::Internal(format!("arrears of account {} not loaded", account.account.id)))?;
    Ok(balance.normal(Side::Debit))
}

/// The issued month of a schedule (`fees_not_issued` if it is not).
fn issued_run(ws: &Workspace, schedule: &FeeSchedule, period: i32) -> Result<FeeRun, OpError> {
    ws.fee_runs.get(&(schedule.id, period))?.cloned().ok_or_else(|| {
        OpError::refused("fees_not_issued", format!("{} {} is not issued", schedule.name, month_of(period)))
    })
}

/// The time zone of a premises, and the date `at` falls on there.
fn local_date(
    ws: &Workspace,
    premises_id: voltvend_domain::PremisesId,
    at: Timestamp,
) -> Result<(jiff::tz::TimeZone, Date), OpError> {
    let premises = ws.premises.get(&premises_id)?.ok_or_else(|| OpError::not_found("premises", premises_id))?;
    let tz = jiff::tz::TimeZone::get(&premises.time_zone)
        .map_err(|_| OpError::Internal(format!("unknown time zone {}", premises.time_zone)))?;
    let today = at.to_zoned(tz.clone()).date();
    Ok((tz, today))
}

fn too_large() -> OpError {
    OpError::refused("amount_too_large", "the month's charges are too large")
}

/// `YYYY-MM` of a period `year × 100 + month`.
fn month_of(period: i32) -> String {
    format!("{:04}-{:02}", period / 100, period % 100)
}

/// Writes a charge and keeps its account's list of unpaid charges up to date (where an operation of the batch
/// reads it).
pub(super) fn put_charge(ws: &mut Workspace, c: FeeCharge) -> Result<(), OpError> {
    if let Ok(Some(keys)) = ws.account_charges.get(&c.account_id) {
        let mut keys = keys.clone();
        let key = c.key();
        keys.retain(|k| *k != key);
        if c.outstanding_minor() > 0 {
            keys.push(key);
        }
        ws.account_charges.put(c.account_id, keys);
    }
    ws.fee_charges.put(c.key(), c);
    Ok(())
}

/// An account's unpaid charges, oldest due first (then by month, schedule and unit).
fn unpaid(ws: &Workspace, account: &AccountRecord) -> Result<Vec<FeeCharge>, OpError> {
    let keys = ws
        .account_charges
        .get(&account.account.id)?
        .ok_or_else(|| OpError::Internal(format!("charges of account {} not loaded", account.account.id)))?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let c = ws.fee_charges.get(key)?.ok_or_else(|| OpError::Internal(format!("charge {key:?} not loaded")))?;
        if c.outstanding_minor() > 0 {
            out.push(c.clone());
        }
    }
    out.sort_by_key(|c| (c.due_on, c.period, c.schedule_id, c.premises_id));
    Ok(out)
}

/// What `charges` still owe together.
fn owed_by(charges: &[FeeCharge]) -> Result<i64, OpError> {
    charges
        .iter()
        .try_fold(0_i64, |t, c| t.checked_add(c.outstanding_minor()))
        .ok_or_else(|| OpError::refused("amount_too_large", "the fees owed are too large"))
}

/// Pays `amount_minor` towards `charges` in their order: the allocations (numbered from `first_idx`) and the
/// credit to each schedule's receivable. The charges are written.
fn allocate(
    ws: &mut Workspace,
    op: &Operation,
    charges: &[FeeCharge],
    amount_minor: i64,
    first_idx: i64,
    at: Timestamp,
) -> Result<(Vec<FeeAllocation>, Vec<Posting>), OpError> {
    let mut left = amount_minor;
    let mut lines = Vec::new();
    let mut by_receivable: BTreeMap<LedgerAccountId, i64> = BTreeMap::new();
    for c in charges {
        if left == 0 {
            break;
        }
        let part = left.min(c.outstanding_minor());
        if part <= 0 {
            continue;
        }
        left -= part;
        let schedule = schedule_of(ws, c.schedule_id)?;
        *by_receivable.entry(schedule.receivable).or_default() += part;
        lines.push(FeeAllocation {
            operation_id: op.id,
            idx: first_idx + i64::try_from(lines.len()).unwrap_or(0),
            schedule_id: c.schedule_id,
            period: c.period,
            premises_id: c.premises_id,
            amount_minor: part,
            at,
        });
        let mut paid = c.clone();
        paid.paid_minor += part;
        put_charge(ws, paid)?;
    }
    if left != 0 {
        return Err(OpError::Internal("fees allocated beyond what is owed".into()));
    }
    let postings = by_receivable
        .into_iter()
        .map(|(account, amount_minor)| Posting { account, side: Side::Credit, amount_minor })
        .collect();
    for l in &lines {
        ws.fee_allocations.push(l.clone());
    }
    Ok((lines, postings))
}

/// Refuses a bare transfer or a reversal that posts to a fee receivable: what a unit owes is in its charges,
/// which only the fee operations change together with the receivable. (Correcting a fee payment, or a sale
/// that paid fees, is not supported yet.)
pub(super) fn untouched_receivables(ws: &Workspace, postings: &[Posting]) -> Result<(), OpError> {
    for p in postings {
        if ws.book.account(p.account).is_some_and(|(a, _)| a.kind == LedgerAccountKind::FeesReceivable) {
            return Err(OpError::refused(
                "fees_receivable_posting",
                "rent and fees receivable change only through their charges: issue, pay or collect them",
            ));
        }
    }
    Ok(())
}

fn schedule_of(ws: &Workspace, id: FeeScheduleId) -> Result<FeeSchedule, OpError> {
    ws.fee_schedules.get(&id)?.cloned().ok_or_else(|| OpError::Internal(format!("fee schedule {id} not loaded")))
}

/// What overdue fees mean for a purchase by `account` now: how much is overdue, the charges it is in (oldest
/// first) and the policy of the account's premises (the nearest premises on its path that has one). For a
/// postpaid account: everything its charges owe, all of it taken from the payment first.
pub(super) struct Overdue {
    pub overdue_minor: i64,
    pub charges: Vec<FeeCharge>,
    pub policy: OverduePolicy,
}

pub(super) fn overdue(ws: &Workspace, account: &AccountRecord, at: Timestamp) -> Result<Overdue, OpError> {
    let (_, today) = local_date(ws, account.account.premises_id, at)?;
    // A postpaid account's payment is a payment of its bills: it pays everything they owe first, due or not,
    // oldest first (whatever the property's policy), and the rest is credit.
    if account.account.billing_mode == BillingMode::Postpaid {
        let charges = unpaid(ws, account)?;
        let overdue_minor = owed_by(&charges)?;
        let policy = OverduePolicy::ShareOfPurchase { share_bp: OverduePolicy::SHARE_BP_MAX };
        return Ok(Overdue { overdue_minor, charges, policy });
    }
    let charges: Vec<FeeCharge> = unpaid(ws, account)?.into_iter().filter(|c| c.overdue_on(today)).collect();
    let overdue_minor = owed_by(&charges)?;
    let mut policy = OverduePolicy::Nothing;
    if overdue_minor > 0 {
        let premises = ws
            .premises
            .get(&account.account.premises_id)?
            .ok_or_else(|| OpError::not_found("premises", account.account.premises_id))?;
        for p in premises.path.iter().rev() {
            if let Some(found) = ws.fee_policies.get(p)? {
                policy = found.policy;
                break;
            }
        }
    }
    Ok(Overdue { overdue_minor, charges, policy })
}

impl Overdue {
    /// Refuses a purchase the policy blocks.
    pub(super) fn check_sale(&self) -> Result<(), OpError> {
        if self.policy == OverduePolicy::BlockSales && self.overdue_minor > 0 {
            return Err(OpError::refused(
                "fees_overdue",
                format!(
                    "rent and fees of {} (minor units) are overdue; the property sells no energy until they are paid",
                    self.overdue_minor
                ),
            ));
        }
        Ok(())
    }

    /// What a payment of `paid_minor` pays of the overdue fees first.
    pub(super) fn share_of(&self, paid_minor: i64) -> i64 {
        share_taken(paid_minor, self.overdue_minor, self.policy.share_bp())
    }
}

/// Takes `amount_minor` of a sale for overdue fees: the allocations and the postings that credit the
/// receivables (allocations numbered from 0 under the sale's operation).
pub(super) fn take_from_sale(
    ws: &mut Workspace,
    op: &Operation,
    due: &Overdue,
    amount_minor: i64,
    at: Timestamp,
) -> Result<Vec<Posting>, OpError> {
    if amount_minor <= 0 {
        return Ok(Vec::new());
    }
    let (_, postings) = allocate(ws, op, &due.charges, amount_minor, 0, at)?;
    Ok(postings)
}

pub(super) fn pay(ws: &mut Workspace, op: &Operation, p: &PayFees, at: Timestamp) -> Done {
    let operator = acting_operator(ws, &op.actor)?;
    text::check("payment reference", &p.reference, Sale::REFERENCE_LEN_MAX)?;
    if p.paid_minor <= 0 {
        return Err(OpError::refused("amount_not_positive", "the amount paid must be positive"));
    }
    if p.method == PaymentMethod::Online {
        return Err(super::online_not_at_counter());
    }
    let account = ws.accounts.get(&p.account_id)?.ok_or_else(|| OpError::not_found("account", p.account_id))?.clone();
    in_scope(ws, &op.actor, account.account.premises_id, "account", p.account_id)?;
    let (shift, point) = super::counter_of(ws, op, operator, p.shift_id, true, true)?;
    take(ws, op, &account, shift, point, p, false, at)
}

/// 房租物业费 paid online: a provider's verified word for an intent of purpose fees, taken through the channel's
/// standing shift and receipt series exactly as at a counter (`p.method` is online).
pub(super) fn pay_online(ws: &mut Workspace, op: &Operation, p: &PayFees, at: Timestamp) -> Done {
    let account = ws.accounts.get(&p.account_id)?.ok_or_else(|| OpError::not_found("account", p.account_id))?.clone();
    let (shift, point) = super::counter_of(ws, op, None, p.shift_id, true, false)?;
    take(ws, op, &account, shift, point, p, false, at)
}

/// 复核入账 of rent and fees: a payment kept as owed back (an online payment of fees refused, or a fee payment
/// reversed) credited after review as a fee payment, through the payment's own shift whoever reviews it and
/// whether or not it is still open, its money out of the refunds owed (as `sale::Origin::Kept` does for a sale).
pub(super) fn pay_kept(ws: &mut Workspace, op: &Operation, p: &PayFees, at: Timestamp) -> Done {
    let account = ws.accounts.get(&p.account_id)?.ok_or_else(|| OpError::not_found("account", p.account_id))?.clone();
    in_scope(ws, &op.actor, account.account.premises_id, "account", p.account_id)?;
    let (shift, point) = super::counter_of(ws, op, None, p.shift_id, false, false)?;
    take(ws, op, &account, shift, point, p, true, at)
}

/// Whether `account` may pay `paid_minor` of rent and fees now, and what it owes: refused when it owes nothing,
/// and for a prepaid account, more than it owes (its credit is bought as a sale).
pub(super) fn payable(ws: &Workspace, account: &AccountRecord, paid_minor: i64) -> Result<Vec<FeeCharge>, OpError> {
    if paid_minor <= 0 {
        return Err(OpError::refused("amount_not_positive", "the amount paid must be positive"));
    }
    let charges = unpaid(ws, account)?;
    let owed = owed_by(&charges)?;
    // A postpaid account's over-payment is credit in its wallet, which its next bill uses first.
    let postpaid = account.account.billing_mode == BillingMode::Postpaid;
    if owed == 0 && !postpaid {
        return Err(OpError::refused("no_fees_due", format!("account {} owes no rent or fees", account.account.id)));
    }
    if paid_minor > owed && !postpaid {
        return Err(OpError::refused(
            "fees_overpaid",
            format!(
                "account {} owes {owed} in rent and fees, less than the {paid_minor} paid (minor units)",
                account.account.id
            ),
        ));
    }
    let credit = paid_minor - paid_minor.min(owed);
    if credit > 0 {
        // Credit is a wallet top-up: as for a sale, only to an account in service, and within its hoarding
        // limit (checked when an online payment is asked for, too: refused at settlement, all of it would be
        // owed back).
        account.account.ensure_can_vend()?;
        let (balance, _) = wallet_position(ws, account)?;
        if let Some(max) = account.max_balance_minor
            && balance.saturating_add(credit) > max
        {
            return Err(OpError::refused(
                "hoarding_limit",
                format!("the wallet may hold at most {max}; it holds {balance} (minor units)"),
            ));
        }
    }
    Ok(charges)
}

/// Takes a payment of rent and fees through `shift` at `point`, with the point's next receipt; `kept`: money
/// kept as owed back, taken from the refunds owed rather than from where the payment came in.
#[allow(clippy::too_many_arguments)]
fn take(
    ws: &mut Workspace,
    op: &Operation,
    account: &AccountRecord,
    shift: voltvend_domain::Shift,
    mut point: voltvend_domain::VendingPoint,
    p: &PayFees,
    kept: bool,
    at: Timestamp,
) -> Done {
    text::check("payment reference", &p.reference, Sale::REFERENCE_LEN_MAX)?;
    if point.currency != account.account.currency {
        return Err(OpError::refused(
            "currency_mismatch",
            format!("vending point {} takes {}", point.name, point.currency),
        ));
    }
    let charges = payable(ws, account, p.paid_minor)?;
    let owed = owed_by(&charges)?;
    // The account's books, as for a sale: its card and transfer payments clear through them.
    let books = ws.books.get(&account.books)?.ok_or_else(|| OpError::not_found("books", account.books))?.clone();
    let source = if kept { books.refunds } else { super::money_account(p.method, &books, || Ok(shift.drawer))? };
    point.take_sale(p.paid_minor)?;
    let receipt_no = point.next_receipt()?;
    let to_charges = p.paid_minor.min(owed);
    let credit = p.paid_minor - to_charges;
    let (lines, credits) = allocate(ws, op, &charges, to_charges, 0, at)?;
    let mut postings = vec![Posting { account: source, side: Side::Debit, amount_minor: p.paid_minor }];
    postings.extend(credits);
    if credit > 0 {
        postings.push(Posting { account: account.wallet, side: Side::Credit, amount_minor: credit });
    }
    let transfer_id = op.transfer_id(0);
    let request = TransferRequest {
        id: transfer_id,
        kind: TransferKind::Payment,
        currency: account.account.currency,
        postings,
        corrects: None,
        memo: format!("receipt {} #{receipt_no}", point.name),
    };
    committed(super::post(ws, request, at)?)?;
    let payment = FeePayment {
        operation_id: op.id,
        vending_point_id: point.id,
        receipt_no,
        shift_id: shift.id,
        operator_id: shift.operator_id,
        account_id: account.account.id,
        at,
        method: p.method,
        reference: p.reference.clone(),
        paid_minor: p.paid_minor,
        transfer_id,
        lines,
        credit_minor: credit,
        reversed: false,
    };
    let entry = AuditEntry::new(
        "pay_fees",
        format!("account:{}", account.account.id),
        format!("owed={owed}"),
        format!(
            "receipt={}/{} paid={} owed={} credit={credit}",
            point.name,
            receipt_no,
            p.paid_minor,
            owed - to_charges
        ),
    );
    ws.vending_points.put(point.id, point);
    ws.fee_payments.push(payment.clone());
    reconnect_if_settled(ws, op, account, at, 1)?;
    Ok((Outcome::FeesPaid(payment), entry))
}

/// 催缴: every charge of the month still owed after its due date (in the site's time zone) is reminded through
/// the notification outbox (to a meter of its account, when it has one), and charged the schedule's late fee
/// on what it owes, once: a month is dunned once. The late fees are debited to the receivable and credited to
/// the schedule's revenue in one transfer.
pub(super) fn dun(ws: &mut Workspace, op: &Operation, i: &IssueFees, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let schedule = schedule_of_loaded(ws, i.schedule_id)?;
    in_scope(ws, &op.actor, schedule.premises_id, "fee schedule", i.schedule_id)?;
    let mut run = issued_run(ws, &schedule, i.period)?;
    if run.dunned_at.is_some() {
        return Err(OpError::refused(
            "fees_dunned",
            format!("{} {} was dunned already", schedule.name, month_of(i.period)),
        ));
    }
    let (_, today) = local_date(ws, schedule.premises_id, at)?;
    if run.dunnable_from().is_none_or(|from| today < from) {
        return Err(OpError::refused(
            "fees_not_overdue",
            format!("{} {} falls due on {}; it is dunned after that", schedule.name, month_of(i.period), run.due_on),
        ));
    }
    let mut overdue: Vec<FeeCharge> = ws
        .fee_charges
        .values()
        .filter(|c| c.schedule_id == i.schedule_id && c.period == i.period && c.overdue_on(today))
        .cloned()
        .collect();
    overdue.sort_by_key(FeeCharge::key);
    let mut total = 0_i64;
    for (n, mut c) in overdue.iter().cloned().enumerate() {
        let fee = late_fee_minor(c.outstanding_minor(), schedule.late_fee_bp);
        let owed = c.outstanding_minor() + fee;
        total = total.checked_add(fee).ok_or_else(too_large)?;
        c.amount_minor = c.amount_minor.checked_add(fee).ok_or_else(too_large)?;
        c.late_fee_minor = fee;
        if let Some(meter) = meters_of(ws, c.account_id).first() {
            ws.outbox.push(OutboxRow {
                operation_id: op.id,
                idx: i64::try_from(n).unwrap_or(i64::MAX),
                meter_id: Some(meter.meter.id),
                kind: OutboxKind::FeesOverdue,
                at,
                detail: format!(
                    "period={} owed_minor={owed} late_fee_minor={fee} due={}",
                    month_of(i.period),
                    c.due_on
                ),
            });
        }
        put_charge(ws, c)?;
    }
    if total > 0 {
        let request = TransferRequest {
            id: op.transfer_id(0),
            kind: TransferKind::Fee,
            currency: schedule.currency,
            postings: vec![
                Posting { account: schedule.receivable, side: Side::Debit, amount_minor: total },
                Posting { account: schedule.revenue, side: Side::Credit, amount_minor: total },
            ],
            corrects: None,
            memo: format!("{} {} late fees", schedule.name, month_of(i.period)),
        };
        committed(super::post(ws, request, at)?)?;
    }
    run.dunned_at = Some(at);
    run.dunned = i64::try_from(overdue.len()).unwrap_or(i64::MAX);
    run.late_fees_minor = total;
    let entry = AuditEntry::new(
        "dun_fees",
        format!("fee_schedule:{}", schedule.id),
        String::new(),
        format!("period={} overdue={} late_fees={total}", i.period, run.dunned),
    );
    ws.fee_runs.put((schedule.id, i.period), run.clone());
    let charges = overdue
        .iter()
        .map(|c| ws.fee_charges.get(&c.key()).ok().flatten().cloned().unwrap_or_else(|| c.clone()))
        .collect();
    Ok((Outcome::FeesDunned { run, charges }, entry))
}

fn schedule_of_loaded(ws: &Workspace, id: FeeScheduleId) -> Result<FeeSchedule, OpError> {
    ws.fee_schedules.get(&id)?.cloned().ok_or_else(|| OpError::not_found("fee schedule", id))
}

/// 欠费停电: once a postpaid cycle's month was dunned and its notice (`disconnect_after_days`) has run out in the
/// site's time zone, every remote meter of each postpaid account whose bill of the month is still unpaid is
/// tripped through the head end (a meter kept on, 保电, is left on), once a month. Only a cycle that enables it
/// disconnects; rent and fees never do (checked when the schedule is made).
pub(super) fn disconnect(ws: &mut Workspace, op: &Operation, i: &IssueFees, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let schedule = schedule_of_loaded(ws, i.schedule_id)?;
    in_scope(ws, &op.actor, schedule.premises_id, "fee schedule", i.schedule_id)?;
    if schedule.disconnect_after_days == 0 {
        return Err(OpError::refused(
            "disconnection_off",
            format!("{} does not disconnect supplies for unpaid bills", schedule.name),
        ));
    }
    let mut run = issued_run(ws, &schedule, i.period)?;
    if run.disconnected_at.is_some() {
        return Err(OpError::refused(
            "fees_disconnected",
            format!("{} {}: its unpaid bills were disconnected already", schedule.name, month_of(i.period)),
        ));
    }
    if run.dunned_at.is_none() {
        return Err(OpError::refused(
            "fees_not_dunned",
            format!(
                "{} {} was not dunned: a supply is disconnected only after notice",
                schedule.name,
                month_of(i.period)
            ),
        ));
    }
    let (tz, today) = local_date(ws, schedule.premises_id, at)?;
    let notice_ends = run
        .notice_ends(schedule.disconnect_after_days, &tz)
        .ok_or_else(|| OpError::Internal(format!("the notice of {} ends beyond the calendar", month_of(i.period))))?;
    if today < notice_ends {
        return Err(OpError::refused(
            "notice_running",
            format!("the notice given when {} was dunned runs until {notice_ends}", month_of(i.period)),
        ));
    }
    let mut unpaid: Vec<FeeCharge> = ws
        .fee_charges
        .values()
        .filter(|c| c.schedule_id == i.schedule_id && c.period == i.period && c.overdue_on(today))
        .cloned()
        .collect();
    unpaid.sort_by_key(FeeCharge::key);
    let (mut tripped, mut n) = (Vec::new(), 0_u32);
    for c in &unpaid {
        let account = ws.accounts.get(&c.account_id)?.ok_or_else(|| OpError::not_found("account", c.account_id))?;
        if account.account.billing_mode != BillingMode::Postpaid || account.account.status != AccountStatus::Active {
            continue;
        }
        for mut m in meters_of(ws, c.account_id) {
            let control = super::control::control_of(ws, m.meter.id)?;
            if m.relay != crate::records::Relay::Closed
                || control.keep_power
                || !super::control::commandable(m.meter.protocol)
            {
                continue;
            }
            m.relay = crate::records::Relay::Open;
            ws.outbox.push(OutboxRow {
                operation_id: op.id,
                idx: i64::from(n),
                meter_id: Some(m.meter.id),
                kind: OutboxKind::RelayTrip,
                at,
                detail: format!("bill {} unpaid after notice", month_of(i.period)),
            });
            let reason = format!("bill {} unpaid after notice", month_of(i.period));
            super::control::queue(ws, op, m.meter.id, crate::records::CommandKind::RelayTrip, &reason, at, n)?;
            n += 1;
            tripped.push(m.meter.id);
            ws.meters.put(m.meter.id, m);
        }
    }
    run.disconnected_at = Some(at);
    run.disconnected = i64::try_from(tripped.len()).unwrap_or(i64::MAX);
    let entry = AuditEntry::new(
        "disconnect_overdue",
        format!("fee_schedule:{}", schedule.id),
        String::new(),
        format!(
            "period={} unpaid={} meters={}",
            i.period,
            unpaid.len(),
            tripped.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        ),
    );
    ws.fee_runs.put((schedule.id, i.period), run.clone());
    Ok((Outcome::FeesDisconnected { run, meters: tripped }, entry))
}

/// A postpaid account that owes nothing overdue any more has its supplies disconnected for its bills closed
/// again (an operator's disconnection, 报停 or a hold, is left: only an operator reconnects those). Commands are
/// numbered from `n`.
pub(super) fn reconnect_if_settled(
    ws: &mut Workspace,
    op: &Operation,
    account: &AccountRecord,
    at: Timestamp,
    n: u32,
) -> Result<(), OpError> {
    if account.account.billing_mode != BillingMode::Postpaid || account.account.status != AccountStatus::Active {
        return Ok(());
    }
    if disconnecting_overdue(ws, account, at)? > 0 {
        return Ok(());
    }
    let mut n = n;
    for mut m in meters_of(ws, account.account.id) {
        let control = super::control::control_of(ws, m.meter.id)?;
        if m.relay != crate::records::Relay::Open || control.held_open || !super::control::commandable(m.meter.protocol)
        {
            continue;
        }
        m.relay = crate::records::Relay::Closed;
        ws.outbox.push(OutboxRow {
            operation_id: op.id,
            idx: 100 + i64::from(n),
            meter_id: Some(m.meter.id),
            kind: OutboxKind::RelayClose,
            at,
            detail: String::new(),
        });
        super::control::queue(ws, op, m.meter.id, crate::records::CommandKind::RelayClose, "bills paid", at, n)?;
        n += 1;
        ws.meters.put(m.meter.id, m);
    }
    Ok(())
}

/// What the account's bills of cycles that disconnect owe past their due dates now (in its premises' time
/// zone): overdue rent and fees never keep a supply off.
fn disconnecting_overdue(ws: &Workspace, account: &AccountRecord, at: Timestamp) -> Result<i64, OpError> {
    let (_, today) = local_date(ws, account.account.premises_id, at)?;
    let mut charges = Vec::new();
    for c in unpaid(ws, account)?.into_iter().filter(|c| c.overdue_on(today)) {
        let s = schedule_of(ws, c.schedule_id)?;
        if s.basis == FeeBasis::Postpaid && s.disconnect_after_days > 0 {
            charges.push(c);
        }
    }
    owed_by(&charges)
}
