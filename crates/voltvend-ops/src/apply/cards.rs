//! IC-card prepaid (DESIGN.md §2.4): the card key sets, a meter's user card (发卡, 补卡, 挂失, 退卡) and its
//! purchase sequence, and the return data read back from cards (回抄).
//!
//! These operations decide and record; the card itself is written by the caller (the server's card service,
//! through a PC/SC reader or the in-process card) after the operation commits, from what the operation
//! recorded. A write that fails — the card pulled out — is simply written again: the card's purchase record
//! carries its count, and the controller loads a count once (`docs/cards.md`).

use jiff::Timestamp;
use voltvend_domain::{ControlMode, MeterProtocol, MeterState, text};

use super::returns::{keep_return, return_text};
use super::{Outcome, acting_operator, control};
use crate::audit::AuditEntry;
use crate::command::{IssueCard, IssueFieldCard, Operation, RecordCardRead, SetCardStatus};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{CardKeyRecord, CardStatus, MeterCard, MeterRecord, ReturnSource};
use crate::secrets::card_key_aad;
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

/// Whether `serial` is a card serial as cards report it: 16 upper-case hexadecimal digits.
pub fn is_card_serial(serial: &str) -> bool {
    serial.len() == 16 && serial.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

fn bad_serial() -> OpError {
    OpError::refused("bad_card_serial", "a card serial is 16 hexadecimal digits (upper case)")
}

pub(super) fn import_card_key(ws: &mut Workspace, ctx: &Context, k: &CardKeyRecord) -> Done {
    if ws.card_keys.get(&k.key_no)?.is_some() {
        return Err(OpError::Exists { what: "card key", id: k.key_no.to_string() });
    }
    if !(1..=255).contains(&k.key_no) {
        return Err(OpError::refused("bad_value", "a card key number is 1–255"));
    }
    if !ctx.secrets.is_current(&k.sealed) {
        return Err(OpError::refused("master_key_unknown", "the key is not sealed under the current master key"));
    }
    let hex = ctx.secrets.open_text(&card_key_aad(k.key_no), &k.sealed)?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OpError::refused("bad_card_key", "a card root key is 32 hex digits (128 bits)"));
    }
    let entry = AuditEntry::new("import_card_key", format!("card_key:{}", k.key_no), "", k.algorithm.as_str());
    ws.card_keys.put(k.key_no, k.clone());
    Ok((Outcome::Created { what: "card key", id: k.key_no.to_string() }, entry))
}

/// The meter, in scope, if it is an IC-card meter.
fn card_meter(ws: &Workspace, op: &Operation, meter_id: voltvend_domain::MeterId) -> Result<MeterRecord, OpError> {
    let meter = control::meter_in_scope(ws, op, meter_id)?;
    if meter.meter.protocol != MeterProtocol::IcCard || meter.meter.control_mode != ControlMode::Local {
        return Err(OpError::refused("meter_not_card", format!("meter {meter_id} is not an IC-card meter")));
    }
    Ok(meter)
}

pub(super) fn issue_card(ws: &mut Workspace, op: &Operation, i: &IssueCard, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    text::check("reason", &i.reason, IssueCard::REASON_LEN_MAX)?;
    if !is_card_serial(&i.serial) {
        return Err(bad_serial());
    }
    let meter = card_meter(ws, op, i.meter_id)?;
    if meter.meter.state != MeterState::Active || meter.meter.account_id.is_none() {
        return Err(OpError::refused(
            "meter_not_active",
            format!("meter {} is not installed on an account: open the account first", i.meter_id),
        ));
    }
    if ws.card_keys.get(&i.key_no)?.is_none() {
        return Err(OpError::refused("card_key_missing", format!("no card key set {} is configured", i.key_no)));
    }
    if let Some(holder) = ws.card_serials.get(&i.serial)?
        && *holder != i.meter_id
    {
        return Err(OpError::refused("card_in_use", format!("card {} is another meter's card", i.serial)));
    }
    let before = ws.meter_cards.get(&i.meter_id)?.cloned();
    let card = match &before {
        None => MeterCard {
            meter_id: i.meter_id,
            serial: i.serial.clone(),
            status: CardStatus::Active,
            generation: 0,
            key_no: i.key_no,
            replaced: Vec::new(),
            sold_count: 0,
            loaded_count: 0,
            last_purchase_sale: None,
            last_purchase_milli: 0,
            last_purchase_at: None,
            issued_at: at,
        },
        Some(old) => {
            if old.serial == i.serial && old.status != CardStatus::Returned {
                return Err(OpError::refused(
                    "card_already_issued",
                    format!("card {} is already this meter's card", i.serial),
                ));
            }
            if old.replaced.contains(&i.serial) {
                return Err(OpError::refused(
                    "card_replaced",
                    format!("card {} was replaced and is refused", i.serial),
                ));
            }
            // A reissue says why (lost, damaged…): it is the audit trail's record of the old card's end.
            text::required("reason", &i.reason, IssueCard::REASON_LEN_MAX)?;
            let generation = old.generation.checked_add(1).ok_or_else(|| {
                OpError::refused("card_generation_exhausted", "this meter has had 255 reissued cards")
            })?;
            let mut replaced = old.replaced.clone();
            // A returned card was blanked: it is no longer this meter's, so it is not refused as replaced.
            if old.status != CardStatus::Returned {
                replaced.push(old.serial.clone());
            }
            MeterCard {
                serial: i.serial.clone(),
                status: CardStatus::Active,
                generation,
                key_no: i.key_no,
                replaced,
                issued_at: at,
                ..old.clone()
            }
        }
    };
    let entry = AuditEntry::new(
        "issue_card",
        format!("meter:{}", i.meter_id),
        before.as_ref().map_or_else(|| "card=-".to_string(), card_text),
        format!("{} reason={}", card_text(&card), i.reason),
    );
    ws.card_serials.put(card.serial.clone(), i.meter_id);
    ws.meter_cards.put(i.meter_id, card.clone());
    Ok((Outcome::CardIssued(card), entry))
}

pub(super) fn issue_field_card(ws: &mut Workspace, op: &Operation, f: &IssueFieldCard) -> Done {
    acting_operator(ws, &op.actor)?;
    if !is_card_serial(&f.serial) {
        return Err(bad_serial());
    }
    card_meter(ws, op, f.meter_id)?;
    if ws.card_serials.get(&f.serial)?.is_some() {
        return Err(OpError::refused("card_in_use", format!("card {} is a customer's card", f.serial)));
    }
    let entry = AuditEntry::new(
        "issue_field_card",
        format!("meter:{}", f.meter_id),
        "",
        format!("card={} kind={}", f.serial, f.kind),
    );
    Ok((Outcome::Updated { what: "field card", id: f.serial.clone() }, entry))
}

pub(super) fn set_card_status(ws: &mut Workspace, op: &Operation, s: &SetCardStatus) -> Done {
    acting_operator(ws, &op.actor)?;
    text::check("reason", &s.reason, IssueCard::REASON_LEN_MAX)?;
    card_meter(ws, op, s.meter_id)?;
    let mut card = ws
        .meter_cards
        .get(&s.meter_id)?
        .cloned()
        .ok_or_else(|| OpError::refused("card_not_issued", format!("meter {} has no card", s.meter_id)))?;
    if card.serial != s.serial {
        return Err(OpError::refused(
            "card_not_current",
            format!("card {} is not meter {}'s card now ({} is)", s.serial, s.meter_id, card.serial),
        ));
    }
    let before = card_text(&card);
    match (card.status, s.status) {
        (CardStatus::Active, CardStatus::Lost) => {}
        // A card reported lost and found again may be handed back like any other.
        (CardStatus::Active | CardStatus::Lost, CardStatus::Returned) if card.purchase_pending() => {
            return Err(OpError::refused(
                "card_purchase_pending",
                format!(
                    "card {} holds purchase {} the meter has not loaded: insert it into the meter and read it back first",
                    card.serial, card.sold_count
                ),
            ));
        }
        (CardStatus::Active | CardStatus::Lost, CardStatus::Returned) => {}
        (from, to) => {
            return Err(OpError::refused("card_status", format!("a card that is {from} cannot become {to}")));
        }
    }
    card.status = s.status;
    let entry = AuditEntry::new(
        "set_card_status",
        format!("meter:{}", s.meter_id),
        before,
        format!("{} reason={}", card_text(&card), s.reason),
    );
    ws.meter_cards.put(s.meter_id, card.clone());
    Ok((Outcome::CardChanged(card), entry))
}

pub(super) fn record_card_read(ws: &mut Workspace, op: &Operation, r: &RecordCardRead, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let mut meter = card_meter(ws, op, r.meter_id)?;
    let mut card = ws
        .meter_cards
        .get(&r.meter_id)?
        .cloned()
        .ok_or_else(|| OpError::refused("card_not_issued", format!("meter {} has no card", r.meter_id)))?;
    if let Some(serial) = &r.serial
        && *serial != card.serial
        && !card.replaced.contains(serial)
    {
        return Err(OpError::refused("card_not_this_meter", format!("card {serial} is not meter {}'s", r.meter_id)));
    }
    let before = format!("{} {}", card_text(&card), return_text(meter.local.last_return.as_ref()));
    let source = if r.serial.is_some() { ReturnSource::Card } else { ReturnSource::CheckCard };
    // Checked and kept as any return data is (the meter record is written only if everything below passes).
    let current = keep_return(&mut meter, r.at, source, r.remaining_milli, at)?;
    // The controller cannot have loaded a purchase that was never sold: the card or its data is not genuine.
    if r.last_count > card.sold_count {
        return Err(OpError::refused(
            "card_count_ahead",
            format!("the meter reports purchase {} loaded; only {} were sold", r.last_count, card.sold_count),
        ));
    }
    card.loaded_count = card.loaded_count.max(r.last_count);
    let entry = AuditEntry::new(
        "record_card_read",
        format!("meter:{}", r.meter_id),
        before,
        format!(
            "{} return_at={} source={source} remaining_milli={} current={current}",
            card_text(&card),
            r.at,
            r.remaining_milli
        ),
    );
    ws.meter_cards.put(r.meter_id, card.clone());
    ws.meters.put(r.meter_id, meter);
    Ok((Outcome::CardRead { card, current }, entry))
}

/// The card a sale to an IC-card meter goes onto, refused when no purchase may be written on it now.
pub(super) fn card_for_sale(ws: &Workspace, meter: &MeterRecord) -> Result<MeterCard, OpError> {
    let card = ws.meter_cards.get(&meter.meter.id)?.cloned().ok_or_else(|| {
        OpError::refused("card_not_issued", format!("meter {} has no card: issue one first", meter.meter.id))
    })?;
    match card.status {
        CardStatus::Active => {}
        CardStatus::Lost => {
            return Err(OpError::refused(
                "card_lost",
                format!("card {} was reported lost: reissue a card (补卡) first", card.serial),
            ));
        }
        CardStatus::Returned => {
            return Err(OpError::refused("card_not_issued", format!("meter {} has no card now", meter.meter.id)));
        }
    }
    if card.purchase_pending() {
        return Err(OpError::refused(
            "card_purchase_pending",
            format!(
                "card {} holds purchase {} the meter has not loaded yet: the customer inserts it into the meter, \
                 then the card is read back here",
                card.serial, card.sold_count
            ),
        ));
    }
    Ok(card)
}

fn card_text(c: &MeterCard) -> String {
    format!(
        "card={} status={} generation={} key_no={} sold={} loaded={}",
        c.serial, c.status, c.generation, c.key_no, c.sold_count, c.loaded_count
    )
}
