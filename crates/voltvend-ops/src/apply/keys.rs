//! Vending keys and device secrets at rest: importing a sealed vending key, and re-sealing secrets under the
//! current master key (see [`crate::secrets`]). The plaintext never leaves this module except into a token
//! engine, and never reaches a record, an error or the audit trail.

use voltvend_sts::VendingKey;

use super::Outcome;
use crate::audit::AuditEntry;
use crate::command::{Rewrap, RewrapSecrets};
use crate::context::Context;
use crate::error::OpError;
use crate::records::VendingKeyRecord;
use crate::secrets::{MasterKeys, openpaygo_aad, vending_key_aad};
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

/// The vending key of a supply group at a key revision, opened.
pub(crate) fn vending_key(ws: &Workspace, ctx: &Context, sgc: u32, krn: u8) -> Result<VendingKey, OpError> {
    let record = ws.vending_keys.get(&(sgc, krn))?.ok_or_else(|| {
        OpError::refused(
            "sts_no_vending_key",
            format!("no vending key is configured for supply group {sgc:06} at key revision {krn}"),
        )
    })?;
    let hex = ctx.secrets.open_text(&vending_key_aad(sgc, krn), &record.sealed)?;
    VendingKey::from_hex(&hex).map_err(|_| OpError::refused("secret_unreadable", "a stored vending key is not a key"))
}

pub(super) fn import_vending_key(ws: &mut Workspace, ctx: &Context, k: &VendingKeyRecord) -> Done {
    if ws.vending_keys.get(&(k.sgc, k.krn))?.is_some() {
        return Err(OpError::Exists { what: "vending key", id: format!("sgc {:06} krn {}", k.sgc, k.krn) });
    }
    if k.sgc > 999_999 || !(1..=9).contains(&k.krn) {
        return Err(OpError::refused("bad_value", "a supply group code has 6 digits and a key revision is 1–9"));
    }
    if !ctx.secrets.is_current(&k.sealed) {
        return Err(OpError::refused("master_key_unknown", "the key is not sealed under the current master key"));
    }
    let hex = ctx.secrets.open_text(&vending_key_aad(k.sgc, k.krn), &k.sealed)?;
    let key = VendingKey::from_hex(&hex)
        .map_err(|_| OpError::refused("bad_vending_key", "a vending key is 16 (DKGA02) or 40 (DKGA04) hex digits"))?;
    let entry = AuditEntry::new(
        "import_vending_key",
        format!("vending_key:{:06}/{}", k.sgc, k.krn),
        "",
        format!("{:?}", key.dkga()),
    );
    ws.vending_keys.put((k.sgc, k.krn), k.clone());
    Ok((Outcome::Created { what: "vending key", id: format!("{:06}/{}", k.sgc, k.krn) }, entry))
}

/// Re-seals each secret under the current master key. The new blob must open, under the current key, to
/// exactly what the stored one opens to: a rewrap can never change a key.
pub(super) fn rewrap(ws: &mut Workspace, ctx: &Context, r: &RewrapSecrets) -> Done {
    if r.items.is_empty() || r.items.len() > RewrapSecrets::ITEMS_MAX {
        return Err(OpError::refused("bad_value", format!("1–{} secrets per rewrap", RewrapSecrets::ITEMS_MAX)));
    }
    let current = ctx.secrets.current().ok_or_else(no_master_key)?.id_hex();
    let same = |keys: &MasterKeys, aad: &str, old: &[u8], new: &[u8]| -> Result<(), OpError> {
        if !keys.is_current(new) {
            return Err(OpError::refused(
                "master_key_unknown",
                "a rewrapped secret must be sealed under the current key",
            ));
        }
        if *keys.open(aad, old)? != *keys.open(aad, new)? {
            return Err(OpError::refused("rewrap_mismatch", format!("the new seal of {aad} holds another secret")));
        }
        Ok(())
    };
    for item in &r.items {
        match item {
            Rewrap::VendingKey { sgc, krn, sealed } => {
                let mut k = ws
                    .vending_keys
                    .get(&(*sgc, *krn))?
                    .cloned()
                    .ok_or_else(|| OpError::not_found("vending key", format!("{sgc:06}/{krn}")))?;
                same(&ctx.secrets, &vending_key_aad(*sgc, *krn), &k.sealed, sealed)?;
                k.sealed = sealed.clone();
                ws.vending_keys.put((*sgc, *krn), k);
            }
            Rewrap::OpenPaygo { meter_id, sealed } => {
                let mut o =
                    ws.opg.get(meter_id)?.cloned().ok_or_else(|| OpError::not_found("OpenPAYGO device", meter_id))?;
                same(&ctx.secrets, &openpaygo_aad(*meter_id), &o.secret_sealed, sealed)?;
                o.secret_sealed = sealed.clone();
                ws.opg.put(*meter_id, o);
            }
            Rewrap::CardKey { key_no, sealed } => {
                let mut k = ws.card_keys.get(key_no)?.cloned().ok_or_else(|| OpError::not_found("card key", key_no))?;
                same(&ctx.secrets, &crate::secrets::card_key_aad(*key_no), &k.sealed, sealed)?;
                k.sealed = sealed.clone();
                ws.card_keys.put(*key_no, k);
            }
        }
    }
    let entry =
        AuditEntry::new("rewrap_secrets", "secrets", "", format!("count={} master_key={current}", r.items.len()));
    Ok((Outcome::Updated { what: "secrets", id: r.items.len().to_string() }, entry))
}

pub(crate) fn no_master_key() -> OpError {
    OpError::refused("no_master_key", "no master key is configured (keys.master_key_file or VOLTVEND_MASTER_KEY)")
}
