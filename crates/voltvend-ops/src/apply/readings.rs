//! The remote prepaid loop's billing step (DESIGN.md §2.5): a remote meter's readings are priced from the
//! last billed reading by the tariff engine, the charge is debited from the wallet (what the wallet and its
//! overdraft cannot cover becomes arrears, because the energy was used either way), the pricing remainder is
//! carried in the same commit, and when nothing is left to spend the relay is asked to trip — unless the supply
//! is kept on (保电) or it is the tariff's friendly hours (友好时段), when the trip waits for a reading after them.
//!
//! Readings at or before the last billed one are skipped (duplicates and late arrivals are normal). A register
//! that went backwards is a rollover when its range is known and the consumption across the wrap is possible
//! ([`ReadingLimits`]); otherwise — a register lower than the last without a rollover, consumption beyond what the
//! supply can carry, registers that do not match the tariff — the reading is stored as flagged for review and
//! not billed, and billing goes on from the last good reading. A replaced meter is a new meter with readings
//! of its own, so its registers start afresh.
//!
//! A meter behind current or voltage transformers reports what its secondary side measured: the energy of an
//! interval is the registers' advance times the meter's CT × VT ratio (倍率), applied to each interval's
//! advance (never to the registers themselves, which would overflow), before pricing and measuring. The
//! registers are stored as the meter reported them.
//!
//! A meter installed with no account — a site's parent meter (总表), a common area's meter, a vacant unit's
//! meter — is measured, not billed: its readings are checked the same way and stored with their consumption
//! as [`ReadingStatus::Measured`], so that line loss and common-area apportionment (公摊) can count them.

use jiff::Timestamp;
use voltvend_domain::tariff::pricing::{Reading, Registers, price};
use voltvend_domain::{ControlMode, MeterState, Posting, Side, TransferKind, TransferRequest, text};

use super::{Outcome, ReadingsOutcome, acting_operator, committed, control, in_scope, wallet_position};
use crate::audit::AuditEntry;
use crate::command::{ApplyReadings, Operation, ReadingLimits, RebaseReadings};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{
    CommandKind, DemandRow, MaxDemand, MeterCommand, OutboxKind, OutboxRow, ReadingRow, ReadingState, ReadingStatus,
    Relay,
};
use crate::workspace::Workspace;

pub(super) fn apply(
    ws: &mut Workspace,
    op: &Operation,
    r: &ApplyReadings,
    ctx: &Context,
    at: Timestamp,
) -> Result<(Outcome, AuditEntry), OpError> {
    acting_operator(ws, &op.actor)?;
    if r.readings.is_empty() || r.readings.len() > ApplyReadings::READINGS_MAX {
        return Err(OpError::refused(
            "readings_count",
            format!("an operation carries 1–{} readings", ApplyReadings::READINGS_MAX),
        ));
    }
    let mut meter = ws.meters.get(&r.meter_id)?.ok_or_else(|| OpError::not_found("meter", r.meter_id))?.clone();
    if let Some(p) = meter.meter.premises_id {
        in_scope(ws, &op.actor, p, "meter", r.meter_id)?;
    }
    if meter.meter.state == MeterState::Installed && meter.meter.account_id.is_none() {
        record_demand(ws, r, meter.meter.ratio.multiplier());
        return measure(ws, op, r);
    }
    meter.meter.ensure_active()?;
    if meter.meter.control_mode != ControlMode::Remote {
        return Err(OpError::refused(
            "meter_not_remote",
            "a local meter holds its own credit; it is not billed from readings",
        ));
    }
    let account_id =
        meter.meter.account_id.ok_or_else(|| OpError::refused("meter_unbound", "the meter has no account"))?;
    let account = ws.accounts.get(&account_id)?.ok_or_else(|| OpError::not_found("account", account_id))?.clone();
    let books = ws.books.get(&account.books)?.ok_or_else(|| OpError::not_found("books", account.books))?.clone();
    let code =
        meter.tariff_code.clone().ok_or_else(|| OpError::refused("tariff_required", "the meter has no tariff"))?;
    let doc = ws.tariffs.get(&code)?.ok_or_else(|| OpError::not_found("tariff", &code))?.clone();
    let tariff = ctx.tariffs.get(&doc)?;
    let key = (account_id, code);
    let mut pricing = ws.pricing.get(&key)?.cloned().unwrap_or_default();
    let mut last = ws.reading_states.get(&r.meter_id)?.map(|s| s.last.clone());

    record_demand(ws, r, meter.meter.ratio.multiplier());
    let mut readings = r.readings.clone();
    readings.sort_by_key(|x| x.at);
    let (mut billed, mut skipped, mut flagged) = (0_usize, 0_usize, 0_usize);
    let (mut total_minor, mut tax_femto, mut gross_femto) = (0_i64, 0_i128, 0_i128);
    let row = |reading, status, note, consumption_milli| stored(op, r, reading, status, note, consumption_milli);
    for reading in readings {
        let Some(prev) = &last else {
            // The first reading of a meter is where billing starts.
            ws.readings.push(row(reading.clone(), ReadingStatus::Billed, String::new(), 0));
            last = Some(reading);
            billed += 1;
            continue;
        };
        if reading.at <= prev.at {
            skipped += 1;
            continue;
        }
        let base = match resolve(prev, &reading, r.limits) {
            Ok(base) => base,
            Err(why) => {
                ws.readings.push(row(reading, ReadingStatus::Flagged, why, 0));
                flagged += 1;
                continue;
            }
        };
        let ratio = meter.meter.ratio.multiplier();
        let (base, scaled) = match times_ratio(&base, &reading, ratio) {
            Ok(pair) => pair,
            Err(why) => {
                ws.readings.push(row(reading, ReadingStatus::Flagged, why, 0));
                flagged += 1;
                continue;
            }
        };
        match price(&tariff, &pricing, &base, &scaled) {
            Ok(charge) => {
                total_minor = total_minor
                    .checked_add(charge.total.amount_minor())
                    .ok_or(OpError::Ledger(voltvend_domain::LedgerError::Overflow))?;
                tax_femto += charge.tax_femto;
                gross_femto += charge.subtotal_femto + charge.tax_femto;
                pricing = charge.state;
                ws.readings.push(row(reading.clone(), ReadingStatus::Billed, String::new(), charge.consumption_milli));
                last = Some(reading);
                billed += 1;
            }
            Err(e) => {
                ws.readings.push(row(reading, ReadingStatus::Flagged, e.to_string(), 0));
                flagged += 1;
            }
        }
    }

    let (balance_before, available_before) = wallet_position(ws, &account)?;
    let mut transfer = None;
    if total_minor > 0 {
        let from_wallet = total_minor.min(available_before.max(0));
        let tax = if gross_femto > 0 && tax_femto > 0 {
            i64::try_from(i128::from(total_minor) * tax_femto / gross_femto).unwrap_or(0).clamp(0, total_minor)
        } else {
            0
        };
        let mut postings = Vec::with_capacity(4);
        for (account_id, side, amount) in [
            (account.wallet, Side::Debit, from_wallet),
            (account.arrears, Side::Debit, total_minor - from_wallet),
            (books.energy_revenue, Side::Credit, total_minor - tax),
            (books.tax, Side::Credit, tax),
        ] {
            if amount > 0 {
                postings.push(Posting { account: account_id, side, amount_minor: amount });
            }
        }
        let request = TransferRequest {
            id: op.transfer_id(0),
            kind: TransferKind::Consumption,
            currency: account.account.currency,
            postings,
            corrects: None,
            memo: format!("consumption, {billed} readings"),
        };
        transfer = Some(committed(super::post(ws, request, at)?)?.request.id);
    }
    if billed > 0 {
        ws.pricing.put(key, pricing);
        if let Some(last) = last {
            ws.reading_states.put(r.meter_id, ReadingState { meter_id: r.meter_id, last });
        }
    }
    let (balance_after, available_after) = wallet_position(ws, &account)?;
    let mut relay = None;
    // Credit and overdraft used up: trip, unless the supply is kept on (保电).
    let keep_power = control::control_of(ws, r.meter_id)?.keep_power;
    // In friendly hours (nights, weekends, holidays) nobody is cut off: the first reading after them trips.
    let friendly = tariff.friendly_hours.as_ref().is_some_and(|f| f.contains(at, &tariff.time_zone));
    // A postpaid account is billed for what it used, never cut off for credit: what the wallet does not cover
    // is owed (arrears), and neither trips nor prepaid alarms apply.
    let prepaid = account.account.billing_mode == voltvend_domain::BillingMode::Prepaid;
    let trip_held = prepaid && available_after <= 0 && meter.relay == Relay::Closed && !keep_power && friendly;
    if prepaid && available_after <= 0 && meter.relay == Relay::Closed && !keep_power && !friendly {
        meter.relay = Relay::Open;
        relay = Some(OutboxKind::RelayTrip);
        ws.outbox.push(OutboxRow {
            operation_id: op.id,
            idx: 0,
            meter_id: Some(r.meter_id),
            kind: OutboxKind::RelayTrip,
            at,
            detail: String::new(),
        });
        ws.meters.put(r.meter_id, meter.clone());
        control::queue(ws, op, r.meter_id, CommandKind::RelayTrip, "credit used up", at, 0)?;
    }
    // Emergency credit (应急透支): an account with an agreed overdraft keeps its supply while the balance is
    // below zero, down to the limit; the customer is told once, as the balance goes below zero with the
    // supply still on. The next sale pays the negative balance back before anything else reaches the wallet.
    if prepaid && balance_before >= 0 && balance_after < 0 && available_after > 0 && meter.relay == Relay::Closed {
        ws.outbox.push(OutboxRow {
            operation_id: op.id,
            idx: 4,
            meter_id: Some(r.meter_id),
            kind: OutboxKind::EmergencyCredit,
            at,
            detail: String::new(),
        });
    }
    // Low-balance alarms: told once, as the balance goes below each level (level 2 after level 1).
    let crossed = |level: i64| balance_before >= level && balance_after < level;
    let mut alarmed = false;
    if let Some(alarms) = tariff.alarms.filter(|_| prepaid) {
        for (idx, level, kind) in
            [(2, alarms.level_1_minor, OutboxKind::LowBalance1), (3, alarms.level_2_minor, OutboxKind::LowBalance2)]
        {
            if crossed(level) {
                alarmed = true;
                let meter_id = Some(r.meter_id);
                ws.outbox.push(OutboxRow { operation_id: op.id, idx, meter_id, kind, at, detail: String::new() });
            }
        }
    }
    // A meter that shows the master station's balance is told it when the customer must see it: as it passes
    // an alarm level, goes below zero or runs out (not at every reading, which would be a write per meter per
    // poll).
    let ran_out = available_before > 0 && available_after <= 0;
    if prepaid && (alarmed || crossed(0) || ran_out) {
        let shown = (balance_after, account.account.currency);
        control::show_balance(ws, op, r.meter_id, shown, "low balance", at, 0)?;
    }
    // What the meter said of its supply switch: a switch that is not where it should be, with no command on
    // its way, gets one.
    if let Some(report) = r.report {
        control::reported(ws, op, &meter, report, at, 1)?;
    }
    let entry = AuditEntry::new(
        "readings",
        format!("meter:{}", r.meter_id),
        format!("balance={balance_before}"),
        format!(
            "balance={balance_after} billed={billed} skipped={skipped} flagged={flagged} charged={total_minor}{}",
            if trip_held { " trip_held=friendly_hours" } else { "" }
        ),
    );
    let outcome = ReadingsOutcome {
        meter_id: r.meter_id,
        billed,
        skipped,
        flagged,
        charged_minor: total_minor,
        transfer,
        balance_after_minor: balance_after,
        relay,
        trip_held,
    };
    Ok((Outcome::Readings(outcome), entry))
}

/// A reading of `r` as the operation stores it.
fn stored(
    op: &Operation,
    r: &ApplyReadings,
    reading: Reading,
    status: ReadingStatus,
    note: String,
    consumption_milli: i64,
) -> ReadingRow {
    ReadingRow { meter_id: r.meter_id, reading, status, operation_id: op.id, note, consumption_milli }
}

/// Readings of a meter with no account: checked as billing checks them and stored with what they measured.
fn measure(ws: &mut Workspace, op: &Operation, r: &ApplyReadings) -> Result<(Outcome, AuditEntry), OpError> {
    let mut last = ws.reading_states.get(&r.meter_id)?.map(|s| s.last.clone());
    let ratio = ws.meters.get(&r.meter_id)?.map_or(1, |m| m.meter.ratio.multiplier());
    let mut readings = r.readings.clone();
    readings.sort_by_key(|x| x.at);
    let (mut measured, mut skipped, mut flagged, mut total_milli) = (0_usize, 0_usize, 0_usize, 0_i64);
    let row = |reading, status, note, consumption_milli| stored(op, r, reading, status, note, consumption_milli);
    for reading in readings {
        let used = match &last {
            None => Ok(0),
            Some(prev) if reading.at <= prev.at => {
                skipped += 1;
                continue;
            }
            Some(prev) => resolve(prev, &reading, r.limits).and_then(|base| {
                consumed(&base.registers, &reading.registers)
                    .ok_or_else(|| "the registers differ from the last reading's".to_string())?
                    .checked_mul(i64::try_from(ratio).unwrap_or(i64::MAX))
                    .ok_or_else(|| format!("the consumption times the meter's ratio {ratio} is too large"))
            }),
        };
        match used {
            Ok(used) => {
                total_milli = total_milli.saturating_add(used);
                ws.readings.push(row(reading.clone(), ReadingStatus::Measured, String::new(), used));
                last = Some(reading);
                measured += 1;
            }
            Err(why) => {
                ws.readings.push(row(reading, ReadingStatus::Flagged, why, 0));
                flagged += 1;
            }
        }
    }
    if measured > 0
        && let Some(last) = last
    {
        ws.reading_states.put(r.meter_id, ReadingState { meter_id: r.meter_id, last });
    }
    let entry = AuditEntry::new(
        "readings",
        format!("meter:{}", r.meter_id),
        String::new(),
        format!("measured={measured} skipped={skipped} flagged={flagged} consumption_milli={total_milli}"),
    );
    let outcome = ReadingsOutcome {
        meter_id: r.meter_id,
        billed: measured,
        skipped,
        flagged,
        charged_minor: 0,
        transfer: None,
        balance_after_minor: 0,
        relay: None,
        trip_held: false,
    };
    Ok((Outcome::Readings(outcome), entry))
}

/// The interval from `base` (a reading as [`resolve`] moved it) to `now` as pricing must see it for a meter of
/// CT × VT `ratio`: from zero registers to each register's advance times the ratio (the advance is bounded by
/// the rollover check; the registers themselves, times the ratio, could overflow). A direct meter's pair is
/// itself.
fn times_ratio(base: &Reading, now: &Reading, ratio: u64) -> Result<(Reading, Reading), String> {
    if ratio == 1 {
        return Ok((base.clone(), now.clone()));
    }
    let ratio = i64::try_from(ratio).map_err(|_| format!("the meter's ratio {ratio} is too large"))?;
    let too_large = || format!("the consumption times the meter's ratio {ratio} is too large");
    let (zero, scaled) = match (&base.registers, &now.registers) {
        (Registers::Total(a), Registers::Total(b)) => (
            Registers::Total(0),
            Registers::Total(b.checked_sub(*a).and_then(|d| d.checked_mul(ratio)).ok_or_else(too_large)?),
        ),
        (Registers::PerPeriod(a), Registers::PerPeriod(b)) => {
            let mut zero = Vec::with_capacity(a.len());
            let mut scaled = Vec::with_capacity(a.len());
            for (name, old) in a {
                let new = b
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| *v)
                    .ok_or("the registers differ from the last reading's")?;
                zero.push((name.clone(), 0));
                scaled.push((
                    name.clone(),
                    new.checked_sub(*old).and_then(|d| d.checked_mul(ratio)).ok_or_else(too_large)?,
                ));
            }
            (Registers::PerPeriod(zero), Registers::PerPeriod(scaled))
        }
        _ => return Err("the registers differ from the last reading's".into()),
    };
    Ok((Reading { at: base.at, registers: zero }, Reading { at: now.at, registers: scaled }))
}

/// What the registers advanced from `base` (a reading as [`resolve`] moved it) to `now`, summed over the
/// registers: the consumption of the interval in milli-units (Wh, litres).
fn consumed(base: &Registers, now: &Registers) -> Option<i64> {
    match (base, now) {
        (Registers::Total(a), Registers::Total(b)) => b.checked_sub(*a),
        (Registers::PerPeriod(a), Registers::PerPeriod(b)) => a.iter().try_fold(0_i64, |sum, (name, old)| {
            let new = b.iter().find(|(n, _)| n == name)?.1;
            sum.checked_add(new.checked_sub(*old)?)
        }),
        _ => None,
    }
}

/// The previous reading as pricing must see it for `reading`: each register that wrapped is moved down by the
/// register's range, so the difference is the consumption across the wrap. Refuses, with the reason kept on
/// the flagged reading, a register lower than the last that is no possible rollover and consumption the supply
/// cannot carry.
/// An operator's rebase of a meter's billing onto a reading that was flagged (see [`RebaseReadings`]).
pub(super) fn rebase(
    ws: &mut Workspace,
    op: &Operation,
    m: &RebaseReadings,
    ctx: &Context,
    at: Timestamp,
) -> Result<(Outcome, AuditEntry), OpError> {
    acting_operator(ws, &op.actor)?;
    let reason = text::required("rebase reason", &m.reason, MeterCommand::TEXT_LEN_MAX)?;
    let meter = control::meter_in_scope(ws, op, m.meter_id)?;
    meter.meter.ensure_active()?;
    let last = ws
        .reading_states
        .get(&m.meter_id)?
        .map(|s| s.last.clone())
        .ok_or_else(|| OpError::refused("no_billed_reading", "the meter has no billed reading to go on from"))?;
    if m.reading.at <= last.at {
        return Err(OpError::refused(
            "reading_not_newer",
            format!("the reading at {} is not after the last billed one at {}", m.reading.at, last.at),
        ));
    }
    let names = |r: &Registers| match r {
        Registers::Total(_) => vec!["total".to_string()],
        Registers::PerPeriod(v) => v.iter().map(|(n, _)| n.clone()).collect(),
    };
    if names(&m.reading.registers) != names(&last.registers) {
        return Err(OpError::refused("registers_mismatch", "the reading's registers are not the meter's"));
    }
    if m.bill {
        return bill_found_real(ws, op, m, &last, &reason, ctx, at);
    }
    let entry = AuditEntry::new(
        "rebase_readings",
        format!("meter:{}", m.meter_id),
        format!("last billed {}", last.at),
        format!("billing goes on from {}: {reason}", m.reading.at),
    );
    ws.reading_states.put(m.meter_id, ReadingState { meter_id: m.meter_id, last: m.reading.clone() });
    Ok((Outcome::Updated { what: "meter readings", id: m.meter_id.to_string() }, entry))
}

/// A flagged jump found real: the interval from the last billed reading to it is billed as any reading is —
/// priced, debited, alarms and a trip as the balance goes — with no supply limit checked, since the limit is
/// what an operator just overruled.
fn bill_found_real(
    ws: &mut Workspace,
    op: &Operation,
    m: &RebaseReadings,
    last: &Reading,
    reason: &str,
    ctx: &Context,
    at: Timestamp,
) -> Result<(Outcome, AuditEntry), OpError> {
    let values = |r: &Registers| match r {
        Registers::Total(v) => vec![*v],
        Registers::PerPeriod(v) => v.iter().map(|(_, x)| *x).collect(),
    };
    if values(&m.reading.registers).iter().zip(values(&last.registers)).any(|(new, old)| *new < old) {
        return Err(OpError::refused(
            "register_decreased",
            "a register is lower than at the last billed reading: there is no consumption to bill, only a rebase",
        ));
    }
    let trusted = ApplyReadings {
        meter_id: m.meter_id,
        readings: vec![m.reading.clone()],
        report: None,
        limits: ReadingLimits { register_wrap: None, max_power_w: None },
        demand: None,
    };
    let (outcome, billing) = apply(ws, op, &trusted, ctx, at)?;
    // What the tariff cannot price (registers that do not fit it) stays flagged: nothing is committed.
    if matches!(&outcome, Outcome::Readings(o) if o.billed == 0) {
        return Err(OpError::refused("reading_not_billable", "the tariff cannot price this reading"));
    }
    let entry = AuditEntry::new(
        "bill_flagged_reading",
        format!("meter:{}", m.meter_id),
        format!("last billed {}; {}", last.at, billing.before),
        format!("billed up to {}: {reason}; {}", m.reading.at, billing.after),
    );
    Ok((outcome, entry))
}

pub(crate) fn resolve(prev: &Reading, reading: &Reading, limits: ReadingLimits) -> Result<Reading, String> {
    let pairs: Vec<(&str, i64, i64)> = match (&prev.registers, &reading.registers) {
        (Registers::Total(a), Registers::Total(b)) => vec![("total", *a, *b)],
        (Registers::PerPeriod(a), Registers::PerPeriod(b)) if a.len() == b.len() => {
            let mut out = Vec::with_capacity(a.len());
            for (name, old) in a {
                let new = b.iter().find(|(n, _)| n == name).ok_or("the registers differ from the last reading's")?;
                out.push((name.as_str(), *old, new.1));
            }
            out
        }
        _ => return Err("the registers differ from the last reading's".into()),
    };
    let seconds = reading.at.duration_since(prev.at).as_secs().max(1);
    // The most a register can advance over the interval: the supply's limit, or without one a tenth of the
    // register's range (a meter does not turn a tenth of its register in one reading interval).
    let most = limits.max_power_w.map(|w| i128::from(w) * i128::from(seconds) / 3_600);
    let mut shifted = Vec::with_capacity(pairs.len());
    let mut used: i128 = 0;
    for (name, old, new) in pairs {
        let mut base = old;
        if new < old {
            let Some(wrap) = limits.register_wrap.filter(|w| *w > 0 && old < *w && new >= 0) else {
                return Err(format!(
                    "register {name} went backwards from {old} to {new} without a meter replacement; not billed until reviewed"
                ));
            };
            let across = i128::from(wrap) - i128::from(old) + i128::from(new);
            if across > most.unwrap_or(i128::from(wrap) / 10) {
                return Err(format!(
                    "register {name} went backwards from {old} to {new}; a rollover at {wrap} would mean {across} in {seconds} s, \
                     which is not possible; not billed until reviewed"
                ));
            }
            base = old - wrap;
        }
        used += i128::from(new) - i128::from(base);
        shifted.push((name, base));
    }
    if let Some(most) = most
        && used > most
    {
        return Err(format!(
            "{used} used in {seconds} s is more than the supply's limit of {} W allows; not billed until reviewed",
            limits.max_power_w.unwrap_or_default()
        ));
    }
    let registers = match &prev.registers {
        Registers::Total(_) => Registers::Total(shifted.first().map_or(0, |(_, v)| *v)),
        Registers::PerPeriod(_) => Registers::PerPeriod(shifted.into_iter().map(|(n, v)| (n.to_string(), v)).collect()),
    };
    Ok(Reading { at: prev.at, registers })
}

/// How far a maximum demand's time may lie after the reading it came with: a meter's clock a little fast.
const DEMAND_CLOCK_SLACK: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Keeps what the meter's maximum-demand register said, once per meter and time, on the primary side as its
/// energy is (times its CT × VT `ratio`: a transformer-rated meter's register measures the secondary). A
/// register that says nothing (zero after a clear), more than [`MaxDemand::DEMAND_W_MAX`] once scaled, or a time
/// after the reading (a meter's clock wrong) is not kept: it is the meter's word on its peak, not billing, so it
/// is dropped rather than refused with the readings.
fn record_demand(ws: &mut Workspace, r: &ApplyReadings, ratio: u64) {
    let Some(d) = r.demand else { return };
    let Some(latest) = r.readings.iter().map(|x| x.at).max() else { return };
    let after = latest.checked_add(DEMAND_CLOCK_SLACK).unwrap_or(latest);
    let scaled = i64::try_from(ratio).ok().and_then(|ratio| d.demand_w.checked_mul(ratio));
    let Some(demand_w) = scaled.filter(|w| (1..=MaxDemand::DEMAND_W_MAX).contains(w)) else { return };
    if d.at > after {
        return;
    }
    ws.demands.push(DemandRow { meter_id: r.meter_id, demand: MaxDemand { demand_w, at: d.at }, read_at: latest });
}
