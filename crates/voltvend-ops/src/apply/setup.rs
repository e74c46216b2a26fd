//! Reference data and account opening: premises, operators, tariffs, books, vending points, meters into stock,
//! and 开户 — each checked against what exists, and against the actor's scope.

use jiff::Timestamp;
use voltvend_domain::{
    Account, Books, ControlMode, Customer, LedgerAccount, LedgerAccountKind, Meter, MeterProtocol, MeterState,
    Operator, Owner, Premises, VendingPoint,
};

use super::{Outcome, account_ledger_id, books_ledger_id, in_scope, premises_in_scope};
use crate::audit::AuditEntry;
use crate::command::{CustomerRef, ImportTariff, OpenAccount, OpenBooks, OpenVendingPoint, Operation};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{AccountRecord, LocalCredit, MeterRecord, OpgState, Relay, StsState, TariffDoc};
use crate::workspace::Workspace;
use voltvend_sts::MeterKeyRecord;

type Done = Result<(Outcome, AuditEntry), OpError>;

pub(super) fn exists(what: &'static str, id: impl ToString) -> OpError {
    OpError::Exists { what, id: id.to_string() }
}

pub(super) fn create_premises(ws: &mut Workspace, op: &Operation, p: &Premises) -> Done {
    if ws.premises.get(&p.id)?.is_some() {
        return Err(exists("premises", p.id));
    }
    // Rebuild the node from its parent so that its path and time zone are derived, never taken on trust.
    let node = match p.parent {
        None => {
            if op.actor.scope.is_some() {
                return Err(OpError::refused(
                    "scope_too_narrow",
                    "only an unscoped administrator may create a root group",
                ));
            }
            Premises::new_root(p.id, &p.name, &p.time_zone)?
        }
        Some(parent_id) => {
            let parent = ws.premises.get(&parent_id)?.ok_or_else(|| OpError::not_found("premises", parent_id))?;
            in_scope(ws, &op.actor, parent_id, "premises", parent_id)?;
            if p.time_zone != parent.time_zone {
                return Err(OpError::refused(
                    "premises_time_zone",
                    format!("a child inherits its parent's time zone ({}), not {}", parent.time_zone, p.time_zone),
                ));
            }
            parent.new_child(p.id, p.level, &p.name)?
        }
    };
    if node.level != p.level {
        return Err(OpError::Premises(voltvend_domain::PremisesError::RootMustBeGroup(p.level)));
    }
    let entry = AuditEntry::new(
        "create_premises",
        format!("premises:{}", node.id),
        "",
        format!("{} {}", node.level, node.name),
    );
    ws.premises.put(node.id, node.clone());
    Ok((Outcome::Created { what: "premises", id: node.id.to_string() }, entry))
}

pub(super) fn add_operator(ws: &mut Workspace, op: &Operation, o: &Operator) -> Done {
    o.validate()?;
    if !o.password_hash.starts_with("$argon2id$") {
        return Err(OpError::refused("bad_password_hash", "operator passwords are stored as argon2id PHC strings"));
    }
    if !super::auth::role_exists(ws, &o.role)? {
        return Err(OpError::not_found("role", &o.role));
    }
    if ws.operators.get(&o.id)?.is_some() {
        return Err(exists("operator", o.id));
    }
    if ws.usernames.get(&o.username)?.is_some() {
        return Err(exists("operator", &o.username));
    }
    premises_in_scope(ws, &op.actor, o.scope)?;
    let mut operator = Operator::new(o.id, &o.username, o.display_name.trim(), &o.role, o.scope, &o.password_hash);
    operator.active = o.active;
    let entry = AuditEntry::new(
        "add_operator",
        format!("operator:{}", o.id),
        "",
        format!("username={} role={} scope={}", o.username, o.role, o.scope),
    );
    ws.usernames.put(operator.username.clone(), operator.id);
    ws.operators.put(operator.id, operator);
    Ok((Outcome::Created { what: "operator", id: o.id.to_string() }, entry))
}

pub(super) fn import_tariff(ws: &mut Workspace, t: &ImportTariff) -> Done {
    let ((code, name), _) = crate::context::parse(&t.document)?;
    if code != t.code || name != t.name {
        return Err(OpError::refused("tariff_document_mismatch", "the code and name given differ from the document's"));
    }
    let revision = ws.tariffs.get(&code)?.map_or(1, |d| d.revision + 1);
    let entry =
        AuditEntry::new("import_tariff", format!("tariff:{code}"), revision - 1, format!("revision={revision}"));
    ws.tariffs.put(code.clone(), TariffDoc { code: code.clone(), revision, name, document: t.document.clone() });
    Ok((Outcome::TariffImported { code, revision }, entry))
}

pub(super) fn open_books(ws: &mut Workspace, op: &Operation, b: &OpenBooks) -> Done {
    if ws.books.get(&b.id)?.is_some() {
        return Err(exists("books", b.id));
    }
    premises_in_scope(ws, &op.actor, b.premises_id)?;
    // 集团财务: books are a property's or the group's (ADR 0007), never a building's within a property.
    let at = ws.premises.get(&b.premises_id)?.ok_or_else(|| OpError::not_found("premises", b.premises_id))?;
    if !matches!(at.level, voltvend_domain::PremisesLevel::Group | voltvend_domain::PremisesLevel::Property) {
        return Err(OpError::refused("books_level", "books are kept by a property or by the group"));
    }
    let kinds = [
        (LedgerAccountKind::EnergyRevenue, Owner::None),
        (LedgerAccountKind::FixedChargeRevenue, Owner::None),
        (LedgerAccountKind::Tax, Owner::None),
        (LedgerAccountKind::Refunds, Owner::None),
        (LedgerAccountKind::WriteOff, Owner::None),
        (LedgerAccountKind::CashVariance, Owner::None),
        (LedgerAccountKind::PaymentClearing, Owner::Provider("bank_card".into())),
        (LedgerAccountKind::PaymentClearing, Owner::Provider("bank_transfer".into())),
    ];
    let mut ids = Vec::with_capacity(kinds.len());
    for (n, (kind, owner)) in (1..).zip(kinds) {
        let id = books_ledger_id(op, n);
        ws.book.open_account(LedgerAccount::new(id, kind, owner, b.premises_id, b.currency, None)?)?;
        ids.push(id);
    }
    let [
        energy_revenue,
        fixed_charge_revenue,
        tax,
        refunds,
        write_off,
        cash_variance,
        card_clearing,
        transfer_clearing,
    ] = ids[..]
    else {
        return Err(OpError::Internal("books need eight ledger accounts".into()));
    };
    let books = Books {
        id: b.id,
        premises_id: b.premises_id,
        currency: b.currency,
        energy_revenue,
        fixed_charge_revenue,
        tax,
        refunds,
        write_off,
        cash_variance,
        card_clearing,
        transfer_clearing,
    };
    ws.book.open_account(LedgerAccount::new(
        books.inter_property(),
        LedgerAccountKind::InterProperty,
        Owner::None,
        b.premises_id,
        b.currency,
        None,
    )?)?;
    let entry = AuditEntry::new(
        "open_books",
        format!("books:{}", b.id),
        "",
        format!("premises={} currency={}", b.premises_id, b.currency),
    );
    ws.books.put(b.id, books);
    Ok((Outcome::Created { what: "books", id: b.id.to_string() }, entry))
}

pub(super) fn open_vending_point(ws: &mut Workspace, op: &Operation, v: &OpenVendingPoint) -> Done {
    if ws.vending_points.get(&v.id)?.is_some() {
        return Err(exists("vending point", v.id));
    }
    premises_in_scope(ws, &op.actor, v.premises_id)?;
    let books = ws.books.get(&v.books_id)?.ok_or_else(|| OpError::not_found("books", v.books_id))?;
    if books.currency != v.currency {
        return Err(OpError::refused("currency_mismatch", format!("the books are kept in {}", books.currency)));
    }
    let point = VendingPoint::new(v.id, v.premises_id, &v.name, v.currency, v.books_id)?
        .with_credit_limit(v.credit_limit_minor)?;
    let entry = AuditEntry::new("open_vending_point", format!("vending_point:{}", v.id), "", &point.name);
    ws.vending_points.put(v.id, point);
    Ok((Outcome::Created { what: "vending point", id: v.id.to_string() }, entry))
}

pub(super) fn receive_meter(ws: &mut Workspace, op: &Operation, m: &Meter) -> Done {
    let entry = receive(ws, op, m)?;
    Ok((Outcome::Created { what: "meter", id: m.id.to_string() }, entry))
}

/// A meter into stock at the premises its `premises_id` names (a store room, a property office).
pub(super) fn receive(ws: &mut Workspace, op: &Operation, m: &Meter) -> Result<AuditEntry, OpError> {
    let location = m.premises_id.ok_or_else(|| {
        OpError::refused("premises_required", "a meter is received into stock at a premises (its store)")
    })?;
    premises_in_scope(ws, &op.actor, location)?;
    if ws.meters.get(&m.id)?.is_some() {
        return Err(exists("meter", m.id));
    }
    if ws.serials.get(&m.serial.trim().to_string())?.is_some() {
        return Err(exists("meter serial", &m.serial));
    }
    let mut meter = Meter::receive(m.id, &m.serial, m.utility, m.control_mode, m.protocol, &m.address, m.ratio)?;
    meter.premises_id = Some(location);
    if meter.protocol.is_local() != (meter.control_mode == ControlMode::Local) {
        return Err(OpError::refused(
            "meter_mode_protocol",
            "keypad and card meters hold their own credit (local); meters with a link are remote",
        ));
    }
    let entry = AuditEntry::new(
        "receive_meter",
        format!("meter:{}", m.id),
        "",
        format!("serial={} {} {}", meter.serial, meter.utility, meter.protocol),
    );
    ws.serials.put(meter.serial.clone(), meter.id);
    ws.meters.put(
        meter.id,
        MeterRecord {
            meter,
            tariff_code: None,
            relay: Relay::Closed,
            max_credit_minor: None,
            local: LocalCredit::default(),
        },
    );
    Ok(entry)
}

/// The customer of an opening: a new file (checked and created) or an existing one in scope.
pub(super) fn customer_for(ws: &mut Workspace, op: &Operation, r: &CustomerRef) -> Result<Customer, OpError> {
    match r {
        CustomerRef::New(c) => {
            if ws.customers.get(&c.id)?.is_some() {
                return Err(exists("customer", c.id));
            }
            in_scope(ws, &op.actor, c.premises_id, "premises", c.premises_id)?;
            let c = checked_customer(c)?;
            ws.customers.put(c.id, c.clone());
            Ok(c)
        }
        CustomerRef::Existing(id) => {
            let c = ws.customers.get(id)?.ok_or_else(|| OpError::not_found("customer", id))?.clone();
            in_scope(ws, &op.actor, c.premises_id, "customer", id)?;
            Ok(c)
        }
    }
}

/// An STS keypad meter's key record, required for one and refused for any other meter.
pub(super) fn bind_sts(ws: &mut Workspace, rec: &MeterRecord, sts: Option<&MeterKeyRecord>) -> Result<(), OpError> {
    let id = rec.meter.id;
    match (sts, rec.meter.protocol) {
        (Some(record), MeterProtocol::StsKeypad) => {
            record.params.validate()?;
            if record.pan.drn() != rec.meter.address {
                return Err(OpError::refused("sts_pan_mismatch", "the PAN's meter number differs from the meter's"));
            }
            ws.sts.put(id, StsState { meter_id: id, record: record.clone(), last_tid: None, pending: None });
            Ok(())
        }
        (None, MeterProtocol::StsKeypad) => {
            Err(OpError::refused("sts_required", format!("meter {id} needs its STS key record")))
        }
        (Some(_), _) => Err(OpError::refused("sts_not_keypad", "only an STS keypad meter takes a key record")),
        (None, _) => Ok(()),
    }
}

/// A customer file as the domain checks and trims it.
pub(super) fn checked_customer(c: &Customer) -> Result<Customer, OpError> {
    let phones: Vec<&str> = c.phones.iter().map(String::as_str).collect();
    Ok(Customer::file(c.id, c.premises_id, c.kind, &c.name, c.id_document.clone(), &phones, c.email.as_deref())?)
}

pub(super) fn open_account(ws: &mut Workspace, op: &Operation, a: &OpenAccount, ctx: &Context, at: Timestamp) -> Done {
    if ws.accounts.get(&a.account_id)?.is_some() {
        return Err(exists("account", a.account_id));
    }
    premises_in_scope(ws, &op.actor, a.premises_id)?;
    let books = ws.books.get(&a.books_id)?.ok_or_else(|| OpError::not_found("books", a.books_id))?.clone();
    if books.currency != a.currency {
        return Err(OpError::refused("currency_mismatch", format!("the books are kept in {}", books.currency)));
    }
    // 集团财务: an account is kept in the books of its property or its group, never of another property, whose
    // books would then hold this property's customers' money (ADR 0007).
    let unit = ws.premises.get(&a.premises_id)?.ok_or_else(|| OpError::not_found("premises", a.premises_id))?;
    if !unit.path.contains(&books.premises_id) {
        return Err(OpError::refused(
            "books_elsewhere",
            format!(
                "books {} are kept at another property: an account is kept in its own property's or the group's",
                books.id
            ),
        ));
    }
    if a.overdraft_limit_minor < 0 || a.min_purchase_minor < 0 || a.max_balance_minor.is_some_and(|m| m <= 0) {
        return Err(OpError::refused(
            "bad_limit",
            "limits must be positive (overdraft and minimum purchase may be zero)",
        ));
    }
    if a.meters.len() > OpenAccount::METERS_MAX {
        return Err(OpError::refused(
            "too_many_meters",
            format!("at most {} meters per opening", OpenAccount::METERS_MAX),
        ));
    }
    let customer = customer_for(ws, op, &a.customer)?;
    let account = Account::open(a.account_id, &customer, a.premises_id, a.currency);
    let (wallet_id, arrears_id) = (account_ledger_id(op, 1), account_ledger_id(op, 2));
    let owner = Owner::Account(account.id);
    let wallet = LedgerAccount::new(
        wallet_id,
        LedgerAccountKind::CustomerWallet,
        owner.clone(),
        a.premises_id,
        a.currency,
        Some(a.overdraft_limit_minor),
    )?;
    ws.book.open_account(wallet)?;
    ws.book.open_account(LedgerAccount::new(
        arrears_id,
        LedgerAccountKind::CustomerArrears,
        owner,
        a.premises_id,
        a.currency,
        None,
    )?)?;

    let mut bound = Vec::new();
    for (i, b) in a.meters.iter().enumerate() {
        if a.meters.iter().take(i).any(|x| x.meter_id == b.meter_id) {
            return Err(OpError::refused("meter_twice", format!("meter {} is listed twice", b.meter_id)));
        }
        if let Some(new) = &b.receive {
            if new.id != b.meter_id {
                return Err(OpError::refused(
                    "meter_id_mismatch",
                    "a meter received at opening keeps the binding's id",
                ));
            }
            receive(ws, op, new)?;
        }
        if b.max_credit_minor.is_some_and(|m| m <= 0) {
            return Err(OpError::refused("bad_limit", "a hoarding limit must be positive"));
        }
        let mut rec = ws.meters.get(&b.meter_id)?.ok_or_else(|| OpError::not_found("meter", b.meter_id))?.clone();
        if let Some(p) = rec.meter.premises_id {
            in_scope(ws, &op.actor, p, "meter", b.meter_id)?;
        }
        match rec.meter.state {
            MeterState::InStock => rec.meter.install(a.premises_id)?,
            MeterState::Installed if rec.meter.premises_id == Some(a.premises_id) => {}
            MeterState::Installed => {
                return Err(OpError::refused(
                    "meter_elsewhere",
                    format!("meter {} is installed elsewhere", b.meter_id),
                ));
            }
            _ => return Err(OpError::refused("meter_in_use", format!("meter {} is {}", b.meter_id, rec.meter.state))),
        }
        rec.meter.activate(account.id)?;
        if let Some(code) = &b.tariff_code {
            let doc = ws.tariffs.get(code)?.ok_or_else(|| OpError::not_found("tariff", code))?;
            let tariff = ctx.tariffs.get(doc)?;
            if tariff.utility != rec.meter.utility || tariff.currency != a.currency {
                return Err(OpError::refused(
                    "tariff_mismatch",
                    format!("tariff {code} is for {} in {}", tariff.utility, tariff.currency),
                ));
            }
        } else if rec.meter.control_mode == ControlMode::Remote || rec.meter.protocol == MeterProtocol::StsKeypad {
            // OpenPAYGO devices sell time at their own price and need no tariff.
            return Err(OpError::refused("tariff_required", format!("meter {} needs a tariff", b.meter_id)));
        }
        bind_sts(ws, &rec, b.sts.as_ref())?;
        match (&b.opg, rec.meter.protocol) {
            (Some(o), MeterProtocol::OpenPaygo) => {
                if o.price_minor_per_unit <= 0 {
                    return Err(OpError::refused("bad_price", "an OpenPAYGO device needs a positive price per unit"));
                }
                if o.starting_code > 999_999_999_999 {
                    return Err(OpError::refused("bad_value", "an OpenPAYGO starting code has at most 12 digits"));
                }
                let state = OpgState {
                    meter_id: b.meter_id,
                    secret_sealed: o.secret_sealed.clone(),
                    starting_code: o.starting_code,
                    last_count: 0,
                    extended: o.extended,
                    restricted: o.restricted,
                    unit: o.unit,
                    price_minor_per_unit: o.price_minor_per_unit,
                };
                // The secret must open (right master key, right device) and be a key.
                super::sale::opg_device(ctx, &state)?;
                ws.opg.put(b.meter_id, state);
            }
            (None, MeterProtocol::OpenPaygo) => {
                return Err(OpError::refused(
                    "openpaygo_required",
                    format!("meter {} needs its OpenPAYGO secrets", b.meter_id),
                ));
            }
            (Some(_), _) => {
                return Err(OpError::refused(
                    "openpaygo_not_device",
                    "only an OpenPAYGO device takes OpenPAYGO secrets",
                ));
            }
            (None, _) => {}
        }
        rec.max_credit_minor = b.max_credit_minor;
        rec.tariff_code = b.tariff_code.clone();
        bound.push(rec.meter.serial.clone());
        ws.meters.put(b.meter_id, rec);
    }
    let record = AccountRecord {
        account: account.clone(),
        wallet: wallet_id,
        arrears: arrears_id,
        books: a.books_id,
        recovery: a.recovery,
        min_purchase_minor: a.min_purchase_minor,
        max_balance_minor: a.max_balance_minor,
    };
    ws.accounts.put(account.id, record);
    let first_sale = match &a.first_sale {
        Some(s) if s.account_id != account.id => {
            return Err(OpError::refused("sale_account_mismatch", "the first sale is for the account being opened"));
        }
        Some(s) => Some(super::sale::sale(ws, op, s, ctx, at, 0, super::sale::Origin::Counter)?),
        None => None,
    };
    let entry = AuditEntry::new(
        "open_account",
        format!("account:{}", account.id),
        "",
        format!(
            "customer={} premises={} meters={}{}",
            customer.id,
            a.premises_id,
            bound.join(","),
            first_sale
                .as_ref()
                .map(|s| format!(" first_sale=receipt {}/{} paid={}", s.vending_point_id, s.receipt_no, s.paid_minor))
                .unwrap_or_default()
        ),
    );
    Ok((Outcome::AccountOpened { account_id: account.id, wallet: wallet_id, arrears: arrears_id, first_sale }, entry))
}
