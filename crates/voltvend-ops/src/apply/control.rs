//! A meter's supply as the head end works on it (DESIGN.md §2.5): how the meter is reached (its channel), the
//! command outbox — commands with their retries, expiry and supersession — and what the meter reports.
//!
//! The desired state lives on the records (`MeterRecord::relay`, `MeterControl::keep_power`); a command is
//! the way there. A command is done only when the meter acknowledged it *and* a read-back of the meter agrees;
//! an acknowledgement with a read-back that disagrees is a failed attempt. A new command of a class (relay,
//! keep-power, clock) supersedes the pending one of that class, so a payment's close cancels a trip that has
//! not been carried out yet.

use jiff::Timestamp;
use voltvend_domain::{CommandId, MeterId, MeterProtocol, text};

use super::{Outcome, acting_operator, in_scope};
use crate::audit::AuditEntry;
use crate::command::{AttemptResult, IssueMeterCommand, Operation, RecordCommandAttempt, SetMeterChannel};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{CommandKind, CommandStatus, MeterCommand, MeterControl, MeterRecord, MeterReport, Relay};
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

/// The meter's control record, or a new one.
pub(super) fn control_of(ws: &Workspace, meter_id: MeterId) -> Result<MeterControl, OpError> {
    Ok(ws.controls.get(&meter_id)?.cloned().unwrap_or_else(|| MeterControl::new(meter_id)))
}

pub(super) fn meter_in_scope(ws: &Workspace, op: &Operation, meter_id: MeterId) -> Result<MeterRecord, OpError> {
    let meter = ws.meters.get(&meter_id)?.ok_or_else(|| OpError::not_found("meter", meter_id))?.clone();
    match meter.meter.premises_id {
        Some(p) => in_scope(ws, &op.actor, p, "meter", meter_id)?,
        // A meter in stock belongs to no premises: only the unscoped system may act on it.
        None if op.actor.scope.is_some() => {
            return Err(OpError::OutOfScope { what: "meter", id: meter_id.to_string() });
        }
        None => {}
    }
    Ok(meter)
}

/// Queues a command for a meter (the `n`th this operation creates), superseding the pending one of its class.
pub(crate) fn queue(
    ws: &mut Workspace,
    op: &Operation,
    meter_id: MeterId,
    kind: CommandKind,
    reason: &str,
    at: Timestamp,
    n: u32,
) -> Result<MeterCommand, OpError> {
    queue_value(ws, op, meter_id, (kind, String::new()), reason, at, n)
}

/// Marks the meter's pending commands of the kinds `which` picks superseded, and drops every command that is no
/// longer pending (finished, or lost) from its pending list.
fn supersede(
    ws: &mut Workspace,
    control: &mut MeterControl,
    at: Timestamp,
    which: impl Fn(CommandKind) -> bool,
) -> Result<(), OpError> {
    let mut still = Vec::with_capacity(control.pending.len() + 1);
    for id in std::mem::take(&mut control.pending) {
        match ws.commands.get(&id)?.cloned() {
            Some(mut c) if c.status == CommandStatus::Pending && which(c.kind) => {
                c.status = CommandStatus::Superseded;
                c.finished_at = Some(at);
                ws.commands.put(id, c);
            }
            Some(c) if c.status == CommandStatus::Pending => still.push(id),
            _ => {}
        }
    }
    control.pending = still;
    Ok(())
}

/// Queues a command with the value it writes (see [`MeterCommand::value`]).
fn queue_value(
    ws: &mut Workspace,
    op: &Operation,
    meter_id: MeterId,
    (kind, value): (CommandKind, String),
    reason: &str,
    at: Timestamp,
    n: u32,
) -> Result<MeterCommand, OpError> {
    let mut control = control_of(ws, meter_id)?;
    supersede(ws, &mut control, at, |c| c.class() == kind.class())?;
    let id = CommandId::from_uuid(op.derived_id("command", n));
    let reason: String = reason.chars().take(MeterCommand::TEXT_LEN_MAX).collect();
    let command = MeterCommand {
        id,
        meter_id,
        kind,
        reason,
        value,
        operation_id: op.id,
        created_at: at,
        status: CommandStatus::Pending,
        attempts: 0,
        next_attempt_at: at,
        expires_at: at.checked_add(kind.lifetime()).map_err(|e| OpError::Internal(e.to_string()))?,
        last_error: String::new(),
        finished_at: None,
    };
    control.pending.push(id);
    ws.commands.put(id, command.clone());
    ws.controls.put(meter_id, control);
    Ok(command)
}

/// The balance a meter's display shows: hundredths of the major unit (DL/T 645's remaining money, XXXXXX.XX),
/// never below zero (a display shows no overdraft; the trip says the rest), and at most what its four BCD bytes
/// hold.
pub(crate) fn display_balance(balance_minor: i64, currency: voltvend_domain::Currency) -> String {
    let minor = i128::from(balance_minor.max(0));
    let e = u32::from(currency.exponent());
    let centi = if e <= 2 { minor * 10_i128.pow(2 - e) } else { minor / 10_i128.pow(e - 2) };
    centi.min(99_999_999).to_string()
}

/// The tariff's prices at `at` as a meter's four rate prices (sharp, peak, flat, valley) in ten-thousandths of the
/// major unit per kWh or m³ (XXXX.XXXX), each period's first-step price rounded half up. A tariff without time
/// of use gives its one price to all four; a two-period scheme (peak and valley) gives peak's to sharp and
/// flat, as such meters bill tariffs 1–3 at one price; a period the four rates cannot show is refused.
pub(crate) fn rate_prices(tariff: &voltvend_domain::tariff::Tariff, at: Timestamp) -> Result<String, OpError> {
    let version = tariff
        .version_at(at)
        .ok_or_else(|| OpError::refused("tariff_not_in_effect", "the meter's tariff has no version in effect"))?;
    let first_step = version.blocks.as_ref().map(|_| 0);
    let price = |name: &str| {
        let i = version.periods.iter().position(|p| p == name)?;
        Some(version.price_micro(i, first_step))
    };
    let only = (version.periods.len() == 1).then(|| version.price_micro(0, first_step));
    let refuse = || {
        OpError::refused(
            "tariff_not_writable",
            format!(
                "the tariff's periods {:?} do not fit a meter's four rates (sharp, peak, flat, valley)",
                version.periods
            ),
        )
    };
    let names = ["sharp", "peak", "flat", "valley"];
    if only.is_none() && version.periods.iter().any(|p| !names.contains(&p.as_str())) {
        return Err(refuse());
    }
    let mut out = Vec::with_capacity(4);
    for name in names {
        let micro = match (only, name) {
            (Some(p), _) => p,
            (None, "sharp" | "flat") => price(name).or_else(|| price("peak")).ok_or_else(refuse)?,
            (None, _) => price(name).ok_or_else(refuse)?,
        };
        // micro-units to ten-thousandths, half up; a price is never negative.
        let ten_thousandths = (micro.max(0) + 50) / 100;
        if ten_thousandths > 99_999_999 {
            return Err(refuse());
        }
        out.push(ten_thousandths.to_string());
    }
    Ok(out.join(" "))
}

/// Where an operation's balance writes are numbered from (the `n` of [`Operation::derived_id`]): clear of the
/// relay and keep-power commands it numbers from 0, so a caller numbers its writes 0, 1, … on its own.
const BALANCE_WRITE_N: u32 = 1_000;

/// Queues a write of the account's balance to the meter's display, if the meter shows one (the operation's
/// `k`th balance write). Returns it.
pub(crate) fn show_balance(
    ws: &mut Workspace,
    op: &Operation,
    meter_id: MeterId,
    (balance_minor, currency): (i64, voltvend_domain::Currency),
    reason: &str,
    at: Timestamp,
    k: u32,
) -> Result<Option<MeterCommand>, OpError> {
    if !control_of(ws, meter_id)?.shows_credit {
        return Ok(None);
    }
    let value = display_balance(balance_minor, currency);
    let n = BALANCE_WRITE_N.saturating_add(k);
    queue_value(ws, op, meter_id, (CommandKind::WriteBalance, value), reason, at, n).map(Some)
}

/// Queues a write of `account_id`'s balance now to a remote meter's display, if it shows one: for the
/// operations that change a wallet other than a sale or a reading (a reversal, a re-allocation).
pub(crate) fn show_account_balance(
    ws: &mut Workspace,
    op: &Operation,
    meter_id: MeterId,
    account_id: voltvend_domain::AccountId,
    reason: &str,
    at: Timestamp,
    k: u32,
) -> Result<Option<MeterCommand>, OpError> {
    let Some(account) = ws.accounts.get(&account_id)?.cloned() else { return Ok(None) };
    let remote =
        ws.meters.get(&meter_id)?.is_some_and(|m| m.meter.control_mode == voltvend_domain::ControlMode::Remote);
    if !remote {
        return Ok(None);
    }
    let (balance, _) = super::wallet_position(ws, &account)?;
    show_balance(ws, op, meter_id, (balance, account.account.currency), reason, at, k)
}

/// Keeps the newest report.
fn remember(control: &mut MeterControl, report: MeterReport) {
    if control.reported.is_none_or(|r| r.at <= report.at) {
        control.reported = Some(report);
    }
}

/// Whether a relay command of the meter is on its way.
fn relay_pending(ws: &Workspace, control: &MeterControl) -> Result<bool, OpError> {
    for id in &control.pending {
        if let Some(c) = ws.commands.get(id)?
            && c.status == CommandStatus::Pending
            && c.kind.class() == "relay"
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A meter's report, from a read: remembered, and when its supply switch is not where Voltvend wants it and
/// no command is on its way, a command to put it there (the `n`th of the operation). Returns that command.
pub(super) fn reported(
    ws: &mut Workspace,
    op: &Operation,
    meter: &MeterRecord,
    report: MeterReport,
    at: Timestamp,
    n: u32,
) -> Result<Option<MeterCommand>, OpError> {
    let mut control = control_of(ws, meter.meter.id)?;
    remember(&mut control, report);
    ws.controls.put(meter.meter.id, control.clone());
    let Some(seen) = report.relay else { return Ok(None) };
    if seen == meter.relay || relay_pending(ws, &control)? {
        return Ok(None);
    }
    let kind = match meter.relay {
        Relay::Open => CommandKind::RelayTrip,
        Relay::Closed => CommandKind::RelayClose,
    };
    let reason = format!("the meter reports its supply {seen}; it should be {}", meter.relay);
    queue(ws, op, meter.meter.id, kind, &reason, at, n).map(Some)
}

pub(super) fn set_channel(ws: &mut Workspace, op: &Operation, m: &SetMeterChannel, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let meter = meter_in_scope(ws, op, m.meter_id)?;
    if let Some(c) = &m.channel
        && !c.carries(meter.meter.protocol)
    {
        return Err(OpError::refused(
            "channel_protocol",
            format!("a {} meter cannot be reached over {c}", meter.meter.protocol),
        ));
    }
    // Balances and prices are written with DL/T 645's write data; the Modbus maps and MQTT telemetry have no
    // such registers.
    if m.shows_credit && (m.channel.is_none() || meter.meter.protocol != MeterProtocol::Dlt645) {
        return Err(OpError::refused(
            "channel_protocol",
            "only a DL/T 645 meter with a channel can be written its balance and prices",
        ));
    }
    let mut control = control_of(ws, m.meter_id)?;
    let show = |c: &Option<voltvend_domain::Channel>, shows: bool| {
        let channel = c.as_ref().map_or_else(|| "none".to_string(), ToString::to_string);
        if shows { format!("{channel} shows_credit") } else { channel }
    };
    let entry = AuditEntry::new(
        "set_meter_channel",
        format!("meter:{}", m.meter_id),
        show(&control.channel, control.shows_credit),
        show(&m.channel, m.shows_credit),
    );
    control.channel = m.channel.clone();
    control.shows_credit = m.shows_credit;
    // A meter that no longer shows credit is written nothing more: its pending writes are superseded.
    if !m.shows_credit {
        supersede(ws, &mut control, at, |k| k.writes_value())?;
    }
    ws.controls.put(m.meter_id, control);
    Ok((Outcome::Updated { what: "meter channel", id: m.meter_id.to_string() }, entry))
}

/// Whether the head end can command a meter of this protocol (telemetry-only and keypad meters cannot be).
pub(super) fn commandable(protocol: MeterProtocol) -> bool {
    matches!(protocol, MeterProtocol::Dlt645 | MeterProtocol::ModbusTcp)
}

pub(super) fn issue(ws: &mut Workspace, op: &Operation, m: &IssueMeterCommand, ctx: &Context, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let reason = text::required("command reason", &m.reason, MeterCommand::TEXT_LEN_MAX)?;
    let mut meter = meter_in_scope(ws, op, m.meter_id)?;
    if !commandable(meter.meter.protocol) {
        return Err(OpError::refused(
            "meter_not_commandable",
            format!("a {} meter takes no commands from the head end", meter.meter.protocol),
        ));
    }
    meter.meter.ensure_active()?;
    let mut queued = Vec::with_capacity(2);
    let mut control = control_of(ws, m.meter_id)?;
    if m.kind.writes_value() && !control.shows_credit {
        return Err(OpError::refused(
            "meter_shows_no_credit",
            "the meter is not set to show the balance and prices written to it (its channel's shows_credit)",
        ));
    }
    let value = match m.kind {
        CommandKind::WriteBalance => {
            let account_id =
                meter.meter.account_id.ok_or_else(|| OpError::refused("meter_unbound", "the meter has no account"))?;
            let account =
                ws.accounts.get(&account_id)?.ok_or_else(|| OpError::not_found("account", account_id))?.clone();
            let (balance, _) = super::wallet_position(ws, &account)?;
            display_balance(balance, account.account.currency)
        }
        CommandKind::WritePrices => {
            let code = meter
                .tariff_code
                .clone()
                .ok_or_else(|| OpError::refused("tariff_required", "the meter has no tariff"))?;
            let doc = ws.tariffs.get(&code)?.ok_or_else(|| OpError::not_found("tariff", &code))?.clone();
            rate_prices(ctx.tariffs.get(&doc)?.as_ref(), at)?
        }
        _ => String::new(),
    };
    match m.kind {
        CommandKind::RelayTrip => {
            meter.relay = Relay::Open;
            control.held_open = true;
        }
        CommandKind::RelayClose => {
            meter.relay = Relay::Closed;
            control.held_open = false;
        }
        CommandKind::KeepPowerOn => control.keep_power = true,
        CommandKind::KeepPowerOff => control.keep_power = false,
        CommandKind::SetTime | CommandKind::WriteBalance | CommandKind::WritePrices => {}
    }
    ws.controls.put(m.meter_id, control.clone());
    queued.push(queue_value(ws, op, m.meter_id, (m.kind, value), &reason, at, 0)?);
    // Keep-power means the supply is on: a meter tripped for want of credit is closed too (one an operator
    // disconnected stays so until an operator closes it).
    if m.kind == CommandKind::KeepPowerOn && meter.relay == Relay::Open && !control.held_open {
        meter.relay = Relay::Closed;
        queued.push(queue(ws, op, m.meter_id, CommandKind::RelayClose, "keep-power", at, 1)?);
    }
    ws.meters.put(m.meter_id, meter.clone());
    let entry = AuditEntry::new(
        "meter_command",
        format!("meter:{}", m.meter_id),
        "",
        format!(
            "{} relay={} keep_power={} reason={reason}",
            queued.iter().map(|c| format!("{}:{}", c.kind, c.id)).collect::<Vec<_>>().join(","),
            meter.relay,
            control.keep_power
        ),
    );
    Ok((Outcome::CommandsQueued(queued), entry))
}

pub(super) fn record_attempt(ws: &mut Workspace, op: &Operation, a: &RecordCommandAttempt, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let meter = meter_in_scope(ws, op, a.meter_id)?;
    let mut command = ws
        .commands
        .get(&a.command_id)?
        .filter(|c| c.meter_id == a.meter_id)
        .cloned()
        .ok_or_else(|| OpError::not_found("command", a.command_id))?;
    let mut control = control_of(ws, a.meter_id)?;
    let before = format!("{} attempts={}", command.status, command.attempts);
    if let AttemptResult::Confirmed { report, .. } = &a.result {
        remember(&mut control, *report);
    }
    // A command superseded (or expired) while the head end was at it: what the meter said is kept, the
    // command stays as it is.
    if command.status == CommandStatus::Pending {
        command.attempts = command.attempts.saturating_add(1);
        let failure = match &a.result {
            AttemptResult::Confirmed { readback, .. } if command.kind.writes_value() => (readback != &command.value)
                .then(|| {
                    format!("acknowledged, but the meter reads back {readback:?} where {:?} was written", command.value)
                }),
            AttemptResult::Confirmed { report, .. } => {
                let agrees = match command.kind {
                    CommandKind::RelayTrip | CommandKind::RelayClose => report.relay == command.kind.relay(),
                    CommandKind::KeepPowerOn => report.keep_power == Some(true),
                    CommandKind::KeepPowerOff => report.keep_power == Some(false),
                    CommandKind::SetTime | CommandKind::WriteBalance | CommandKind::WritePrices => true,
                };
                (!agrees).then(|| {
                    format!(
                        "acknowledged, but the meter reports relay {} keep-power {}",
                        report.relay.map_or("unknown", |r| r.as_str()),
                        report.keep_power.map_or("unknown", |k| if k { "on" } else { "off" })
                    )
                })
            }
            AttemptResult::Failed { error } => Some(error.clone()),
        };
        match failure {
            None => {
                command.status = CommandStatus::Done;
                command.finished_at = Some(at);
                command.last_error.clear();
            }
            Some(error) => {
                command.last_error = error.chars().take(MeterCommand::TEXT_LEN_MAX).collect();
                if at >= command.expires_at {
                    command.status = CommandStatus::Expired;
                    command.finished_at = Some(at);
                } else {
                    let next = at
                        .checked_add(MeterCommand::backoff(command.attempts))
                        .map_err(|e| OpError::Internal(e.to_string()))?;
                    command.next_attempt_at = next.min(command.expires_at);
                }
            }
        }
        if command.status != CommandStatus::Pending {
            control.pending.retain(|id| *id != command.id);
        }
    }
    let entry = AuditEntry::new(
        "command_attempt",
        format!("command:{}", command.id),
        before,
        format!(
            "{} attempts={} meter={} kind={}{}",
            command.status,
            command.attempts,
            meter.meter.id,
            command.kind,
            if command.last_error.is_empty() { String::new() } else { format!(" error={}", command.last_error) }
        ),
    );
    ws.commands.put(command.id, command.clone());
    ws.controls.put(a.meter_id, control);
    Ok((Outcome::CommandAttempt(command), entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tariff(periods: &str, prices: &str) -> voltvend_domain::tariff::Tariff {
        let doc = format!(
            "code = \"t\"\nname = \"t\"\nutility = \"electricity\"\ncurrency = \"CNY\"\ntime_zone = \"Asia/Shanghai\"\n\
             [[versions]]\neffective_from = \"2020-01-01T00:00:00+08:00\"\n{periods}\n[versions.prices]\n{prices}\n{}",
            if periods.is_empty() {
                String::new()
            } else {
                "[versions.tou]\n[[versions.tou.seasons]]\nname = \"y\"\nfrom = \"01-01\"\nweekday = [{ start = \"00:00\", period = \"valley\" }, { start = \"08:00\", period = \"peak\" }]\n".to_string()
            }
        );
        crate::context::parse(&doc).unwrap().1
    }

    fn now() -> Timestamp {
        "2026-11-23T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_tariffs_prices_fill_the_four_rates() {
        // One price: in all four.
        assert_eq!(rate_prices(&tariff("", "all = \"0.60\""), now()).unwrap(), "6000 6000 6000 6000");
        // Peak and valley: sharp and flat bill at peak's price; half up to ten-thousandths.
        let pv = tariff("periods = [\"peak\", \"valley\"]", "peak = \"0.56805\"\nvalley = \"0.288\"");
        assert_eq!(rate_prices(&pv, now()).unwrap(), "5681 5681 5681 2880");
        // The shipped Zhejiang residential tariff (peak/valley with steps), whatever its prices: its first step's
        // peak price in the first three rates, its valley price in the fourth.
        let zj = crate::context::parse(voltvend_testkit_tariff()).unwrap().1;
        let v = zj.version_at(now()).unwrap();
        let first = |name: &str| {
            let i = v.periods.iter().position(|p| p == name).unwrap();
            ((v.price_micro(i, v.blocks.as_ref().map(|_| 0)) + 50) / 100).to_string()
        };
        let (peak, valley) = (first("peak"), first("valley"));
        assert_eq!(rate_prices(&zj, now()).unwrap(), format!("{peak} {peak} {peak} {valley}"));
    }

    fn voltvend_testkit_tariff() -> &'static str {
        include_str!("../../../../tariffs/cn-zhejiang-residential.toml")
    }

    #[test]
    fn a_balance_is_shown_in_hundredths_and_never_below_zero() {
        let cny = voltvend_domain::Currency::CNY;
        assert_eq!(display_balance(12_345, cny), "12345");
        assert_eq!(display_balance(-500, cny), "0");
        let jpy = voltvend_domain::Currency::JPY;
        assert_eq!(display_balance(1_234, jpy), "123400");
        let kwd = voltvend_domain::Currency::KWD;
        assert_eq!(display_balance(1_239, kwd), "123");
        assert_eq!(display_balance(i64::MAX, cny), "99999999", "at most what the display holds");
    }
}
