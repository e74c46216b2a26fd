//! Management tokens for keypad meters: STS class 2 tokens (IEC 62055-41 §6.3: clear credit, clear tamper,
//! maximum power limit, maximum phase power unbalance, and the key change set with the TID rollover of
//! §6.5.4) and OpenPAYGO set-time, disable-PAYG and counter-sync tokens. Each advances the meter's token state
//! (TID or count) in the same commit and is recorded with who asked and why.

use jiff::Timestamp;
use voltvend_domain::{MeterProtocol, text};
use voltvend_sts::openpaygo::OpgKind;

use super::sale::{opg_device, opg_format};
use super::{Outcome, acting_operator, in_scope, keys};
use crate::audit::AuditEntry;
use crate::command::{
    IssueOpgToken, IssueStsTokens, Operation, OpgManagement, StsManagement, TOKEN_REASON_LEN_MAX, derive,
};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{MeterRecord, MeterTokenRecord};
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

/// The keypad meter a management token is for: it exists, is of `protocol`, is installed or active, and lies
/// within the actor's scope.
fn keypad_meter(
    ws: &Workspace,
    op: &Operation,
    id: voltvend_domain::MeterId,
    protocol: MeterProtocol,
) -> Result<MeterRecord, OpError> {
    let meter = ws.meters.get(&id)?.cloned().ok_or_else(|| OpError::not_found("meter", id))?;
    let premises = meter.meter.premises_id.ok_or_else(|| OpError::not_found("meter", id))?;
    in_scope(ws, &op.actor, premises, "meter", id)?;
    if meter.meter.protocol != protocol {
        return Err(OpError::refused("wrong_meter_kind", format!("meter {id} is a {} meter", meter.meter.protocol)));
    }
    use voltvend_domain::MeterState::{Active, Installed};
    if !matches!(meter.meter.state, Active | Installed) {
        return Err(OpError::refused("meter_not_active", format!("meter {id} is {}", meter.meter.state)));
    }
    Ok(meter)
}

fn record(
    ws: &mut Workspace,
    op: &Operation,
    meter: &MeterRecord,
    kind: &str,
    detail: String,
    tokens: Vec<String>,
    at: Timestamp,
) -> Done {
    let rec = MeterTokenRecord {
        operation_id: op.id,
        meter_id: meter.meter.id,
        at,
        operator_id: op.actor.operator,
        kind: kind.to_string(),
        detail: detail.clone(),
        tokens,
    };
    let entry = AuditEntry::new(
        "issue_meter_tokens",
        format!("meter:{}", meter.meter.id),
        "",
        format!("{kind} {detail} tokens={}", rec.tokens.len()),
    );
    ws.meter_tokens.push(rec.clone());
    Ok((Outcome::Tokens(rec), entry))
}

pub(super) fn sts(ws: &mut Workspace, op: &Operation, t: &IssueStsTokens, ctx: &Context, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let reason = text::required("reason", &t.reason, TOKEN_REASON_LEN_MAX)?;
    let meter = keypad_meter(ws, op, t.meter_id, MeterProtocol::StsKeypad)?;
    let mut sts = ws.sts.get(&t.meter_id)?.cloned().ok_or_else(|| OpError::not_found("STS key record", t.meter_id))?;
    let params = sts.record.params.clone();
    let key = keys::vending_key(ws, ctx, params.sgc, params.krn)?;
    let issuer = voltvend_sts::Issuer::new(&key, sts.record.clone())?;
    let rnd = derive(op.id, "sts-rnd", 0).as_bytes().first().copied().unwrap_or(0) & 0xF;
    let (tokens, detail) = match &t.request {
        // The campaign's own change, planned for this meter: its recorded set, delivered by hand (a meter that
        // sees no sale, reached by a field visit).
        StsManagement::KeyChange(change) if sts.pending.as_ref().is_some_and(|p| p.change == *change) => {
            let tokens = super::campaign::deliver(ws, &mut sts)?;
            let detail = format!("the campaign's key change set of {} tokens, delivered by hand", tokens.len());
            (tokens, detail)
        }
        StsManagement::KeyChange(_) if sts.pending.is_some() => {
            return Err(OpError::refused(
                "campaign_pending",
                "the meter waits for its campaign's key change: deliver that one (the same change) first",
            ));
        }
        StsManagement::KeyChange(change) => {
            let next = change.apply_to(&params)?;
            let new_key = keys::vending_key(ws, ctx, next.sgc, next.krn)?;
            let (set, new_params) = issuer.key_change_from(&new_key, change)?;
            let detail = format!(
                "sgc {:06}→{:06} krn {}→{} kt {}→{} ti {}→{} ken {}→{} base {}→{}",
                params.sgc,
                new_params.sgc,
                params.krn,
                new_params.krn,
                params.kt.value(),
                new_params.kt.value(),
                params.ti,
                new_params.ti,
                params.ken,
                new_params.ken,
                params.base.code(),
                new_params.base.code()
            );
            sts.record.params = new_params;
            // Key change tokens carry no TID; a rollover moves the meter to a new base date, whose TIDs start
            // again, so the memory of the last one is cleared.
            if change.rollover {
                sts.last_tid = None;
            }
            (set.iter().map(|n| n.digits()).collect(), detail)
        }
        other => {
            let tid = issuer.tid(at, sts.last_tid)?;
            let token = match other {
                StsManagement::ClearCredit { register } => issuer.clear_credit(*register, tid, rnd)?,
                StsManagement::ClearTamper => issuer.clear_tamper(tid, rnd)?,
                StsManagement::MaxPowerLimit { watts } => issuer.max_power_limit(*watts, tid, rnd)?,
                StsManagement::MaxPhaseUnbalance { watts } => issuer.max_phase_unbalance(*watts, tid, rnd)?,
                StsManagement::KeyChange(_) => return Err(OpError::Internal("key change handled above".into())),
            };
            sts.last_tid = Some(tid);
            let detail = match other {
                StsManagement::ClearCredit { register } => format!("register=0x{register:04X}"),
                StsManagement::MaxPowerLimit { watts } | StsManagement::MaxPhaseUnbalance { watts } => {
                    format!("watts={watts}")
                }
                _ => String::new(),
            };
            (vec![token.digits()], detail)
        }
    };
    ws.sts.put(t.meter_id, sts);
    let detail = if detail.is_empty() { format!("reason={reason}") } else { format!("{detail} reason={reason}") };
    record(ws, op, &meter, t.request.kind(), detail, tokens, at)
}

pub(super) fn openpaygo(ws: &mut Workspace, op: &Operation, t: &IssueOpgToken, ctx: &Context, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let reason = text::required("reason", &t.reason, TOKEN_REASON_LEN_MAX)?;
    let meter = keypad_meter(ws, op, t.meter_id, MeterProtocol::OpenPaygo)?;
    let mut state =
        ws.opg.get(&t.meter_id)?.cloned().ok_or_else(|| OpError::not_found("OpenPAYGO device", t.meter_id))?;
    let device = opg_device(ctx, &state)?;
    let kind = match t.request {
        OpgManagement::SetTime { units } => OpgKind::SetTime(units),
        OpgManagement::DisablePayg => OpgKind::DisablePayg,
        OpgManagement::CounterSync => OpgKind::CounterSync,
    };
    let (count, digits) = device
        .encode(kind, state.last_count, opg_format(&state))
        .map_err(|e| OpError::refused("openpaygo_refused", e.to_string()))?;
    state.last_count = count;
    ws.opg.put(t.meter_id, state);
    let detail = match t.request {
        OpgManagement::SetTime { units } => format!("units={units} count={count} reason={reason}"),
        _ => format!("count={count} reason={reason}"),
    };
    record(ws, op, &meter, t.request.kind(), detail, vec![digits], at)
}
