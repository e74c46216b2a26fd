//! STS key change campaigns: the TID rollover of IEC 62055-41 Ed. 3 §6.5.4 (meters on the 1993 base date must
//! move to 2014 before their TIDs run out in November 2024), or a supply group's new key.
//!
//! Planning generates each selected meter's key change set at once and records it on the meter's STS state
//! (key change tokens carry no TID, so a set stays valid until it is entered). The meter's next sale delivers
//! the set before its credit token, which is issued under the new key; a field engineer may also deliver it
//! as a management token. The campaign counts what was planned and what was delivered.

use std::collections::BTreeSet;

use jiff::Timestamp;
use voltvend_domain::{MeterProtocol, text};

use super::{Outcome, acting_operator, in_scope, keys};
use crate::audit::AuditEntry;
use crate::command::{Operation, PlanKeyCampaign};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{KeyCampaign, PendingKeyChange, StsState};
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

pub(super) fn plan(ws: &mut Workspace, op: &Operation, p: &PlanKeyCampaign, ctx: &Context, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let name = text::required("campaign name", &p.name, PlanKeyCampaign::NAME_LEN_MAX)?;
    if p.meters.is_empty() || p.meters.len() > PlanKeyCampaign::METERS_MAX {
        return Err(OpError::refused(
            "bad_meters",
            format!("a campaign is planned 1 to {} meters at a time", PlanKeyCampaign::METERS_MAX),
        ));
    }
    let mut campaign = match ws.campaigns.get(&p.campaign_id)? {
        Some(c) if c.name != name || c.change != p.change => {
            return Err(OpError::refused(
                "campaign_mismatch",
                "every part of a campaign has the campaign's name and key change",
            ));
        }
        Some(c) => c.clone(),
        None => KeyCampaign {
            id: p.campaign_id,
            name: name.clone(),
            change: p.change,
            created_at: at,
            created_by: op.actor.operator,
            planned: 0,
            done: 0,
        },
    };
    let mut seen = BTreeSet::new();
    let mut planned = 0_i64;
    for id in &p.meters {
        if !seen.insert(*id) {
            continue;
        }
        let meter = ws.meters.get(id)?.ok_or_else(|| OpError::not_found("meter", id))?;
        // A meter in stock (no premises yet) or taken out takes no token: it is left out, not refused, so one
        // such meter does not hold up the rest of the campaign.
        use voltvend_domain::MeterState::{Active, Installed};
        let Some(premises) = meter.meter.premises_id.filter(|_| matches!(meter.meter.state, Active | Installed)) else {
            continue;
        };
        in_scope(ws, &op.actor, premises, "meter", id)?;
        if meter.meter.protocol != MeterProtocol::StsKeypad {
            return Err(OpError::refused("wrong_meter_kind", format!("meter {id} is not an STS keypad meter")));
        }
        let mut sts = ws.sts.get(id)?.cloned().ok_or_else(|| OpError::not_found("STS key record", id))?;
        match &sts.pending {
            // The same campaign planned for it already (an overlapping chunk): nothing to do.
            Some(pending) if pending.campaign_id == p.campaign_id => continue,
            Some(pending) => {
                return Err(OpError::refused(
                    "campaign_pending",
                    format!("meter {id} still waits for the key change of campaign {}", pending.campaign_id),
                ));
            }
            None => {}
        }
        let params = sts.record.params.clone();
        // Already as the change would make it (a meter that took this campaign's set before): nothing to do.
        if p.change.apply_to(&params).is_ok_and(|next| next == params) {
            continue;
        }
        let key = keys::vending_key(ws, ctx, params.sgc, params.krn)?;
        let issuer = voltvend_sts::Issuer::new(&key, sts.record.clone())?;
        let next = p.change.apply_to(&params)?;
        // The new key must be imported before a campaign can move meters to it: the planner's mistake to fix,
        // not the server's.
        let new_key = keys::vending_key(ws, ctx, next.sgc, next.krn).map_err(|e| match e.code() {
            "sts_no_vending_key" => OpError::refused(
                "campaign_key_missing",
                format!(
                    "no vending key for supply group {:06} at key revision {}: import it first",
                    next.sgc, next.krn
                ),
            ),
            _ => e,
        })?;
        let (set, _) = issuer.key_change_from(&new_key, &p.change)?;
        // A rollover to a base date that has not begun would leave the meter unable to take any token.
        let moved = voltvend_sts::MeterKeyRecord { pan: sts.record.pan.clone(), params: next };
        if voltvend_sts::Issuer::new(&new_key, moved)?.tid(at, None).is_err() {
            return Err(OpError::refused(
                "campaign_too_early",
                "the new base date has not begun: no token could be issued under it yet",
            ));
        }
        sts.pending = Some(PendingKeyChange {
            campaign_id: p.campaign_id,
            change: p.change,
            tokens: set.iter().map(|t| t.digits()).collect(),
        });
        ws.sts.put(*id, sts);
        planned += 1;
    }
    campaign.planned += planned;
    let entry = AuditEntry::new(
        "plan_key_campaign",
        format!("campaign:{}", campaign.id),
        format!("planned={}", campaign.planned - planned),
        format!("planned={} name={}", campaign.planned, campaign.name),
    );
    ws.campaigns.put(campaign.id, campaign.clone());
    Ok((Outcome::CampaignPlanned(campaign), entry))
}

/// Takes a meter's pending key change, if any: its tokens, to be entered before anything issued under the new
/// key. The meter's key record moves to the new parameters (a rollover starts its TIDs again), and the
/// campaign counts it delivered.
pub(crate) fn deliver(ws: &mut Workspace, sts: &mut StsState) -> Result<Vec<String>, OpError> {
    let Some(pending) = sts.pending.take() else { return Ok(Vec::new()) };
    sts.record.params = pending.change.apply_to(&sts.record.params)?;
    if pending.change.rollover {
        sts.last_tid = None;
    }
    if let Some(mut c) = ws.campaigns.get(&pending.campaign_id)?.cloned() {
        c.done += 1;
        ws.campaigns.put(c.id, c);
    }
    Ok(pending.tokens)
}
