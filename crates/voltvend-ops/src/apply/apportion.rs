//! 公摊 (DESIGN.md §2.7): common-area energy and line loss shared among a site's units by a rule, a calendar
//! month at a time, exactly (the rule of the split is in [`voltvend_domain::apportion`]).
//!
//! A month is posted once, after it is over and every meter of the rule still in service has been read at or
//! after its end, so that what the readings of the month counted can no longer change (readings at or before a
//! meter's last good reading are skipped, and a rebase only goes on from a later one). A flagged reading does
//! not move a meter's last good reading: the next good one counts the whole interval since, so a flagged
//! reading shifts consumption into the month of the good reading that follows it and loses none. What the
//! month's readings counted is what was stored before the batch plus what operations earlier in the same batch
//! stored.
//!
//! The units' meters are every meter of the rule's utility installed at a unit's own premises (whatever its
//! account), the parent and common meters excepted; the account that pays a unit's share is the one its meters
//! in service are bound to when the month is posted.
//!
//! Each unit's share is charged to the account its meters of the rule's utility are bound to, as consumption
//! is: from the wallet as far as it and its overdraft go, the rest owed as arrears (the energy was used either
//! way), credited to the energy revenue of the account's books. A unit with no account (vacant) keeps its share
//! on the statement, borne by the site. A prepaid account left with nothing to spend is tripped by its next
//! reading, as after any consumption.

use std::collections::BTreeSet;

use jiff::Timestamp;
use voltvend_domain::apportion::{Basis, Figures, Pool, split};
use voltvend_domain::{
    AccountId, ControlMode, EnergyWh, MeterId, MeterState, Posting, PremisesId, Side, TransferKind, TransferRequest,
    Utility, VolumeL, text,
};

use super::{Outcome, acting_operator, committed, in_scope, premises_in_scope, wallet_position};
use crate::audit::AuditEntry;
use crate::command::{ApportionPeriod, CreateApportionmentRule, InstallMeter, Operation};
use crate::error::OpError;
use crate::records::{ApportionmentRule, ApportionmentRun, MeterRecord, ReadingStatus, UnitShare};
use crate::workspace::Workspace;

/// 装表 with no account: the meter leaves stock for its place, where the head end reads it and its readings are
/// measured (see `readings.rs`).
pub(super) fn install_meter(
    ws: &mut Workspace,
    op: &Operation,
    i: &InstallMeter,
) -> Result<(Outcome, AuditEntry), OpError> {
    acting_operator(ws, &op.actor)?;
    let mut m = ws.meters.get(&i.meter_id)?.cloned().ok_or_else(|| OpError::not_found("meter", i.meter_id))?;
    if let Some(p) = m.meter.premises_id {
        in_scope(ws, &op.actor, p, "meter", i.meter_id)?;
    }
    premises_in_scope(ws, &op.actor, i.premises_id)?;
    let before = format!("{} at {}", m.meter.state, m.meter.premises_id.map_or_else(String::new, |p| p.to_string()));
    m.meter.install(i.premises_id)?;
    let entry = AuditEntry::new(
        "install_meter",
        format!("meter:{}", i.meter_id),
        before,
        format!("installed at {}", i.premises_id),
    );
    ws.meters.put(i.meter_id, m);
    Ok((Outcome::Updated { what: "meter", id: i.meter_id.to_string() }, entry))
}

/// 分类分项: what a meter measures, for energy analysis; replaces what it had.
pub(super) fn set_category(
    ws: &mut Workspace,
    op: &Operation,
    c: &crate::records::MeterCategory,
) -> Result<(Outcome, AuditEntry), OpError> {
    acting_operator(ws, &op.actor)?;
    let m = ws.meters.get(&c.meter_id)?.ok_or_else(|| OpError::not_found("meter", c.meter_id))?;
    if let Some(p) = m.meter.premises_id {
        in_scope(ws, &op.actor, p, "meter", c.meter_id)?;
    }
    text::check("sub_item", &c.sub_item, crate::records::MeterCategory::SUB_ITEM_LEN_MAX)?;
    let before = ws.meter_categories.get(&c.meter_id)?.map(|b| format!("{} {}", b.category, b.sub_item));
    let record = crate::records::MeterCategory {
        meter_id: c.meter_id,
        category: c.category,
        sub_item: c.sub_item.trim().to_string(),
    };
    let entry = AuditEntry::new(
        "set_meter_category",
        format!("meter:{}", c.meter_id),
        before.unwrap_or_default(),
        format!("{} {}", record.category, record.sub_item),
    );
    ws.meter_categories.put(c.meter_id, record);
    Ok((Outcome::Updated { what: "meter category", id: c.meter_id.to_string() }, entry))
}

pub(super) fn create_rule(
    ws: &mut Workspace,
    op: &Operation,
    r: &CreateApportionmentRule,
    at: Timestamp,
) -> Result<(Outcome, AuditEntry), OpError> {
    acting_operator(ws, &op.actor)?;
    premises_in_scope(ws, &op.actor, r.premises_id)?;
    if ws.apportionment_rules.get(&r.rule_id)?.is_some() {
        return Err(OpError::Exists { what: "apportionment rule", id: r.rule_id.to_string() });
    }
    let name = text::required("name", &r.name, ApportionmentRule::NAME_LEN_MAX)?;
    let within = |ws: &Workspace, p: PremisesId| -> Result<bool, OpError> {
        Ok(ws.premises.get(&p)?.is_some_and(|x| x.path.contains(&r.premises_id)))
    };
    if r.units.is_empty() || r.units.len() > ApportionmentRule::UNITS_MAX {
        return Err(OpError::refused(
            "apportionment_units",
            format!("a rule shares among 1–{} units", ApportionmentRule::UNITS_MAX),
        ));
    }
    let mut seen = BTreeSet::new();
    for u in &r.units {
        if !seen.insert(u.premises_id) {
            return Err(OpError::refused("apportionment_units", format!("unit {} is named twice", u.premises_id)));
        }
        if u.premises_id == r.premises_id || !within(ws, u.premises_id)? {
            return Err(OpError::refused(
                "apportionment_units",
                format!("unit {} is not within the rule's site", u.premises_id),
            ));
        }
        let least = if r.basis == Basis::FloorArea { 1 } else { 0 };
        if !(least..=ApportionmentRule::AREA_DM2_MAX).contains(&u.floor_area_dm2) {
            return Err(OpError::refused(
                "apportionment_area",
                format!(
                    "unit {}'s floor area must be {} to 1 000 000 m²",
                    u.premises_id,
                    if least == 1 { "more than 0" } else { "0" }
                ),
            ));
        }
    }
    match r.pool {
        Pool::CommonAndLoss if r.parent_meter.is_none() => {
            return Err(OpError::refused(
                "apportionment_parent",
                "sharing the common areas and the line loss needs the site's parent meter",
            ));
        }
        Pool::Common if r.common_meters.is_empty() => {
            return Err(OpError::refused(
                "apportionment_common",
                "sharing the common areas' consumption needs at least one common-area meter",
            ));
        }
        _ => {}
    }
    if r.common_meters.len() > ApportionmentRule::COMMON_METERS_MAX {
        return Err(OpError::refused(
            "apportionment_common",
            format!("a rule has at most {} common-area meters", ApportionmentRule::COMMON_METERS_MAX),
        ));
    }
    let mut meters = BTreeSet::new();
    for id in r.parent_meter.iter().chain(&r.common_meters) {
        if !meters.insert(*id) {
            return Err(OpError::refused("apportionment_meters", format!("meter {id} is named twice")));
        }
        let m = ws.meters.get(id)?.ok_or_else(|| OpError::not_found("meter", id))?;
        let serial = &m.meter.serial;
        let at_site = match m.meter.premises_id {
            Some(p) => within(ws, p)? && !r.units.iter().any(|u| u.premises_id == p),
            None => false,
        };
        if !at_site {
            return Err(OpError::refused(
                "apportionment_meters",
                format!("meter {serial} is not installed at the site outside its units"),
            ));
        }
        if m.meter.utility != r.utility {
            return Err(OpError::refused(
                "apportionment_meters",
                format!("meter {serial} is not a {} meter", r.utility),
            ));
        }
        if !matches!(m.meter.state, MeterState::Installed | MeterState::Active) {
            return Err(OpError::refused("apportionment_meters", format!("meter {serial} is not in service")));
        }
        if m.meter.control_mode != ControlMode::Remote {
            return Err(OpError::refused(
                "apportionment_meters",
                format!("meter {serial} is not read by the master station (a keypad or card meter)"),
            ));
        }
    }
    let rule = ApportionmentRule { name, ..r.record(at) };
    let entry = AuditEntry::new(
        "create_apportionment_rule",
        format!("apportionment_rule:{}", r.rule_id),
        String::new(),
        format!(
            "{} at premises {}: {} {} by {} at {}, {} units, parent {}, {} common meters",
            rule.name,
            rule.premises_id,
            rule.utility,
            rule.pool,
            rule.basis,
            rule.price,
            rule.units.len(),
            rule.parent_meter.map_or_else(|| "none".to_string(), |m| m.to_string()),
            rule.common_meters.len()
        ),
    );
    ws.apportionment_rules.put(rule.id, rule);
    Ok((Outcome::Created { what: "apportionment rule", id: r.rule_id.to_string() }, entry))
}

/// A month's bounds, `year × 100 + month`, in a time zone.
pub fn month_bounds(period: i32, time_zone: &str) -> Result<(Timestamp, Timestamp), OpError> {
    let bad = || OpError::refused("bad_period", format!("{period} is not a month (YYYYMM, 2000–2199)"));
    let (year, month) = (period / 100, period % 100);
    if !(2000..2200).contains(&year) || !(1..=12).contains(&month) {
        return Err(bad());
    }
    let tz = jiff::tz::TimeZone::get(time_zone)
        .map_err(|_| OpError::refused("bad_value", format!("unknown time zone {time_zone}")))?;
    let year = i16::try_from(year).map_err(|_| bad())?;
    let month = i8::try_from(month).map_err(|_| bad())?;
    let first = jiff::civil::Date::new(year, month, 1).map_err(|_| bad())?;
    let next = first.checked_add(jiff::Span::new().months(1)).map_err(|_| bad())?;
    let start = |d: jiff::civil::Date| -> Result<Timestamp, OpError> {
        Ok(d.to_zoned(tz.clone()).map_err(|_| bad())?.timestamp())
    };
    Ok((start(first)?, start(next)?))
}

/// What one meter counted in the month: what was stored before the batch and what the batch stored since.
fn counted(ws: &Workspace, meter: MeterId, from: Timestamp, to: Timestamp) -> Result<i64, OpError> {
    let key = (meter, from.as_microsecond(), to.as_microsecond());
    let stored = ws
        .consumption
        .get(&key)?
        .copied()
        .ok_or_else(|| OpError::Internal(format!("consumption of meter {meter} not loaded")))?;
    let mut consumption_milli = stored.consumption_milli;
    for row in ws.readings.rows() {
        if row.meter_id != meter || row.reading.at < from || row.reading.at >= to {
            continue;
        }
        if matches!(row.status, ReadingStatus::Billed | ReadingStatus::Measured) {
            consumption_milli = consumption_milli.saturating_add(row.consumption_milli);
        }
    }
    Ok(consumption_milli)
}

/// A meter's consumption in the month, refused while the month is not read to its end. Only meters the master
/// station reads count: a keypad or card meter (local) measures nothing here, and one taken out of service is
/// not read again (what it measured before counts).
fn measured(ws: &Workspace, m: &MeterRecord, from: Timestamp, to: Timestamp) -> Result<i64, OpError> {
    let serial = &m.meter.serial;
    if m.meter.control_mode != ControlMode::Remote {
        return Ok(0);
    }
    if matches!(m.meter.state, MeterState::Installed | MeterState::Active) {
        let last = ws.reading_states.get(&m.meter.id)?.map(|s| s.last.at);
        if last.is_none_or(|l| l < to) {
            return Err(OpError::refused(
                "period_not_read",
                format!(
                    "meter {serial} has not been read at or after the month's end ({to}); its last reading is {}",
                    last.map_or_else(|| "none".to_string(), |l| l.to_string())
                ),
            ));
        }
    }
    counted(ws, m.meter.id, from, to)
}

/// The unit's meters of the rule's utility (not the rule's own meters, should one be installed there).
fn unit_meters<'w>(
    ws: &'w Workspace,
    rule: &ApportionmentRule,
    unit: PremisesId,
) -> Result<Vec<&'w MeterRecord>, OpError> {
    let ids = ws.unit_meters.get(&unit)?.cloned().unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let m = ws.meters.get(&id)?.ok_or_else(|| OpError::not_found("meter", id))?;
        if m.meter.utility == rule.utility
            && m.meter.state != MeterState::InStock
            && rule.named_meters().all(|n| n != id)
        {
            out.push(m);
        }
    }
    Ok(out)
}

pub(super) fn apportion(
    ws: &mut Workspace,
    op: &Operation,
    a: &ApportionPeriod,
    at: Timestamp,
) -> Result<(Outcome, AuditEntry), OpError> {
    acting_operator(ws, &op.actor)?;
    let rule = ws
        .apportionment_rules
        .get(&a.rule_id)?
        .cloned()
        .ok_or_else(|| OpError::not_found("apportionment rule", a.rule_id))?;
    in_scope(ws, &op.actor, rule.premises_id, "apportionment rule", a.rule_id)?;
    let site = ws.premises.get(&rule.premises_id)?.ok_or_else(|| OpError::not_found("premises", rule.premises_id))?;
    let (from, to) = month_bounds(a.period, &site.time_zone)?;
    if to > at {
        return Err(OpError::refused("period_not_over", format!("the month {} is not over until {to}", a.period)));
    }
    if ws.apportionment_runs.get(&(a.rule_id, a.period))?.is_some() {
        return Err(OpError::refused(
            "period_apportioned",
            format!("the month {} of this rule was already apportioned", a.period),
        ));
    }

    // The rule's own meters measure the whole month, or the figures mean nothing: one replaced or retired
    // (its successor is not the rule's) stops the rule.
    let meter = |ws: &Workspace, id: MeterId| -> Result<MeterRecord, OpError> {
        let m = ws.meters.get(&id)?.cloned().ok_or_else(|| OpError::not_found("meter", id))?;
        if !matches!(m.meter.state, MeterState::Installed | MeterState::Active) {
            return Err(OpError::refused(
                "apportionment_meters",
                format!("meter {} of the rule is out of service: make a new rule with its successor", m.meter.serial),
            ));
        }
        Ok(m)
    };
    let parent_milli = match rule.parent_meter {
        Some(id) => Some(measured(ws, &meter(ws, id)?, from, to)?),
        None => None,
    };
    let mut common_milli = 0_i64;
    for id in &rule.common_meters {
        common_milli = common_milli.saturating_add(measured(ws, &meter(ws, *id)?, from, to)?);
    }
    // Each unit: its consumption and the account that pays its share.
    let mut units = Vec::with_capacity(rule.units.len());
    let mut units_milli = 0_i64;
    for u in &rule.units {
        let mut used = 0_i64;
        let mut payers = BTreeSet::new();
        for m in unit_meters(ws, &rule, u.premises_id)? {
            used = used.saturating_add(measured(ws, m, from, to)?);
            if m.meter.state == MeterState::Active {
                payers.extend(m.meter.account_id);
            }
        }
        if payers.len() > 1 {
            return Err(OpError::refused(
                "unit_accounts",
                format!(
                    "unit {} has meters of {} accounts: it is not clear which pays its share",
                    u.premises_id,
                    payers.len()
                ),
            ));
        }
        units_milli = units_milli.saturating_add(used);
        units.push((u, used, payers.first().copied()));
    }
    let figures = Figures::new(rule.pool, parent_milli, units_milli, common_milli)
        .map_err(|e| OpError::refused("apportionment_refused", e.to_string()))?;
    // Children above the parent: a wiring, ratio or reading fault. Posting nothing would close the month on it.
    if figures.pool_milli < 0 {
        return Err(OpError::refused(
            "apportionment_refused",
            format!(
                "the units measured {} milli-units more than the parent meter: check the meters before posting",
                -figures.pool_milli
            ),
        ));
    }
    let shared = figures.shared_milli();
    let cost_nano = match rule.utility {
        Utility::Electricity => rule.price.cost_nano_of_wh(EnergyWh(shared)),
        Utility::Water => rule.price.cost_nano_of_litres(VolumeL(shared)),
    };
    let (amount, _fraction_not_charged) =
        rule.price.split_nano(cost_nano).map_err(|e| OpError::refused("bad_value", e.to_string()))?;
    let amount_minor = amount.amount_minor();
    let weights: Vec<i64> = units
        .iter()
        .map(|(u, used, _)| match rule.basis {
            Basis::FloorArea => u.floor_area_dm2,
            Basis::Consumption => *used,
            Basis::Equal => 1,
        })
        .collect();
    let (amounts, quantities) = if shared == 0 {
        (vec![0; units.len()], vec![0; units.len()])
    } else {
        let refuse =
            |e: voltvend_domain::apportion::ApportionError| OpError::refused("apportionment_refused", e.to_string());
        (split(amount_minor, &weights).map_err(refuse)?, split(shared, &weights).map_err(refuse)?)
    };

    let mut shares = Vec::with_capacity(units.len());
    let mut n = 0_u32;
    for (((u, used, payer), weight), (amount_minor, share_milli)) in
        units.iter().zip(&weights).zip(amounts.iter().copied().zip(quantities.iter().copied()))
    {
        let mut transfer_id = None;
        if let Some(account_id) = payer
            && amount_minor > 0
        {
            transfer_id = Some(charge(ws, op, *account_id, amount_minor, n, &rule, a.period, at)?);
            n += 1;
        }
        shares.push(UnitShare {
            premises_id: u.premises_id,
            account_id: *payer,
            weight: *weight,
            consumption_milli: *used,
            share_milli,
            amount_minor,
            transfer_id,
        });
    }
    let run = ApportionmentRun {
        operation_id: op.id,
        rule_id: rule.id,
        period: a.period,
        from,
        to,
        parent_milli: figures.parent_milli,
        units_milli: figures.units_milli,
        common_milli: figures.common_milli,
        loss_milli: figures.loss_milli,
        pool_milli: figures.pool_milli,
        price_micro: rule.price.micro_per_unit(),
        currency: rule.price.currency(),
        amount_minor,
        at,
        shares,
    };
    let entry = AuditEntry::new(
        "apportion_period",
        format!("apportionment_rule:{}", rule.id),
        String::new(),
        format!(
            "{}: parent={} units={} common={} loss={} pool={} amount={} charged={} to {} accounts",
            a.period,
            run.parent_milli.map_or_else(|| "-".to_string(), |v| v.to_string()),
            run.units_milli,
            run.common_milli,
            run.loss_milli.map_or_else(|| "-".to_string(), |v| v.to_string()),
            run.pool_milli,
            run.amount_minor,
            run.charged_minor(),
            n
        ),
    );
    ws.apportionment_runs.put((run.rule_id, run.period), run.clone());
    Ok((Outcome::Apportioned(run), entry))
}

/// One unit's share charged to its account, as consumption is charged.
#[allow(clippy::too_many_arguments)]
fn charge(
    ws: &mut Workspace,
    op: &Operation,
    account_id: AccountId,
    amount_minor: i64,
    n: u32,
    rule: &ApportionmentRule,
    period: i32,
    at: Timestamp,
) -> Result<voltvend_domain::TransferId, OpError> {
    let account = ws.accounts.get(&account_id)?.cloned().ok_or_else(|| OpError::not_found("account", account_id))?;
    if account.account.currency != rule.price.currency() {
        return Err(OpError::refused(
            "currency_mismatch",
            format!(
                "account {account_id} is in {}, the rule's price in {}",
                account.account.currency,
                rule.price.currency()
            ),
        ));
    }
    let books = ws.books.get(&account.books)?.cloned().ok_or_else(|| OpError::not_found("books", account.books))?;
    let (_, available) = wallet_position(ws, &account)?;
    let from_wallet = amount_minor.min(available.max(0));
    let postings = [
        (account.wallet, Side::Debit, from_wallet),
        (account.arrears, Side::Debit, amount_minor - from_wallet),
        (books.energy_revenue, Side::Credit, amount_minor),
    ]
    .into_iter()
    .filter(|(_, _, amount)| *amount > 0)
    .map(|(account, side, amount_minor)| Posting { account, side, amount_minor })
    .collect();
    let request = TransferRequest {
        id: op.transfer_id(n),
        kind: TransferKind::Consumption,
        currency: account.account.currency,
        postings,
        corrects: None,
        memo: format!("common-area share {period}: {}", rule.name),
    };
    Ok(committed(super::post(ws, request, at)?)?.request.id)
}
