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
    let mut control = control_of(ws, meter_id)?;
    let mut still = Vec::with_capacity(control.pending.len() + 1);
    for id in std::mem::take(&mut control.pending) {
        match ws.commands.get(&id)?.cloned() {
            Some(mut c) if c.status == CommandStatus::Pending && c.kind.class() == kind.class() => {
                c.status = CommandStatus::Superseded;
                c.finished_at = Some(at);
                ws.commands.put(id, c);
            }
            Some(c) if c.status == CommandStatus::Pending => still.push(id),
            // Finished (or lost): no longer pending.
            _ => {}
        }
    }
    let id = CommandId::from_uuid(op.derived_id("command", n));
    let reason: String = reason.chars().take(MeterCommand::TEXT_LEN_MAX).collect();
    let command = MeterCommand {
        id,
        meter_id,
        kind,
        reason,
        operation_id: op.id,
        created_at: at,
        status: CommandStatus::Pending,
        attempts: 0,
        next_attempt_at: at,
        expires_at: at.checked_add(kind.lifetime()).map_err(|e| OpError::Internal(e.to_string()))?,
        last_error: String::new(),
        finished_at: None,
    };
    still.push(id);
    control.pending = still;
    ws.commands.put(id, command.clone());
    ws.controls.put(meter_id, control);
    Ok(command)
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

pub(super) fn set_channel(ws: &mut Workspace, op: &Operation, m: &SetMeterChannel) -> Done {
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
    let mut control = control_of(ws, m.meter_id)?;
    let show =
        |c: &Option<voltvend_domain::Channel>| c.as_ref().map_or_else(|| "none".to_string(), ToString::to_string);
    let entry =
        AuditEntry::new("set_meter_channel", format!("meter:{}", m.meter_id), show(&control.channel), show(&m.channel));
    control.channel = m.channel.clone();
    ws.controls.put(m.meter_id, control);
    Ok((Outcome::Updated { what: "meter channel", id: m.meter_id.to_string() }, entry))
}

/// Whether the head end can command a meter of this protocol (telemetry-only and keypad meters cannot be).
pub(super) fn commandable(protocol: MeterProtocol) -> bool {
    matches!(protocol, MeterProtocol::Dlt645 | MeterProtocol::ModbusTcp)
}

pub(super) fn issue(ws: &mut Workspace, op: &Operation, m: &IssueMeterCommand, at: Timestamp) -> Done {
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
        CommandKind::SetTime => {}
    }
    ws.controls.put(m.meter_id, control.clone());
    queued.push(queue(ws, op, m.meter_id, m.kind, &reason, at, 0)?);
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
    if let AttemptResult::Confirmed { report } = &a.result {
        remember(&mut control, *report);
    }
    // A command superseded (or expired) while the head end was at it: what the meter said is kept, the
    // command stays as it is.
    if command.status == CommandStatus::Pending {
        command.attempts = command.attempts.saturating_add(1);
        let failure = match &a.result {
            AttemptResult::Confirmed { report } => {
                let agrees = match command.kind {
                    CommandKind::RelayTrip | CommandKind::RelayClose => report.relay == command.kind.relay(),
                    CommandKind::KeepPowerOn => report.keep_power == Some(true),
                    CommandKind::KeepPowerOff => report.keep_power == Some(false),
                    CommandKind::SetTime => true,
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
