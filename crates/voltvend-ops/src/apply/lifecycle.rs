//! The account lifecycle of the back office (DESIGN.md §1, §2.6): 修改资料 (a customer file changed, its history in
//! the audit trail), 报停/复电 (suspension trips the remote meters and holds them open; resumption lets them close
//! when there is credit), 销户 (closure), 过户 (ownership transfer) and 换表 (meter replacement) — each one
//! operation, refused whole when the state forbids it.
//!
//! Settling an account at closure or transfer: the wallet's credit pays the arrears first; what credit is left
//! is refunded in cash from the cashier's drawer or moved to another account; a negative wallet (emergency credit
//! used) becomes arrears, which stay on the closed account as a debt. The tariff's carried remainder (less than a
//! minor unit, owed by nobody) is recorded with the closure, never dropped silently.

use jiff::Timestamp;
use voltvend_domain::tariff::pricing::Reading;
use voltvend_domain::{
    Account, AccountId, AccountStatus, BillingMode, ControlMode, Customer, LedgerAccount, LedgerAccountKind, MeterId,
    MeterProtocol, MeterState, OperatorId, Owner, Posting, Side, TransferKind, TransferRequest, text,
};

use super::{
    Outcome, ReadingsOutcome, account_ledger_id, acting_operator, arrears_owed, committed, control, counter, in_scope,
    readings, returns, sale, setup, wallet_position,
};
use crate::audit::AuditEntry;
use crate::command::{
    ApplyReadings, CloseAccount, Operation, ReadingLimits, Refund, ReplaceMeter, SetAccountStatus, SwitchBillingMode,
    TransferOwnership, UpdateCustomer,
};
use crate::context::Context;
use crate::error::OpError;
use crate::records::{
    AccountRecord, CommandKind, CreditValue, LocalCredit, MeterRecord, MeterReturn, MeterTokenRecord, ReadingState,
    Relay, ReturnSource,
};
use crate::workspace::Workspace;

type Done = Result<(Outcome, AuditEntry), OpError>;

/// The longest reason an operator may give.
pub const REASON_LEN_MAX: usize = 256;

/// How an account was settled and closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountClosed {
    pub account_id: AccountId,
    /// Wallet credit that paid arrears.
    pub arrears_paid_minor: i64,
    /// Credit handed back (cash) or moved (`refund_to`).
    pub refunded_minor: i64,
    pub refund_to: Option<Refund>,
    /// A negative wallet (emergency credit used) turned into arrears.
    pub to_arrears_minor: i64,
    /// What the closed account still owes.
    pub arrears_left_minor: i64,
    /// The pricing remainder carried by the account's tariffs, in 10⁻¹⁵ of the major unit (less than a minor
    /// unit per tariff): recorded, charged to nobody.
    pub carry_femto: i128,
    /// Each meter of the account with its final (last billed) reading.
    pub meters: Vec<(MeterId, Option<Reading>)>,
    /// The new owner's account, for an ownership transfer.
    pub new_account_id: Option<AccountId>,
    /// 累计结余: the unused credit of each local meter bought back into the wallet before settling.
    pub meter_credit: Vec<(MeterId, CreditValue)>,
}

/// What a meter replacement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterReplaced {
    pub old_meter_id: MeterId,
    pub new_meter_id: MeterId,
    pub account_id: AccountId,
    /// The old meter's final reading, billed here, when one was given.
    pub final_billing: Option<ReadingsOutcome>,
    pub old_final: Option<Reading>,
    pub old_credit_milli: Option<i64>,
    /// For a keypad successor: the credit token carrying the old meter's credit (in tenths of a unit, rounded
    /// down), to enter on the new meter, and the units it carries.
    pub carried: Option<(String, i64)>,
}

fn reason(r: &str) -> Result<String, OpError> {
    Ok(text::required("reason", r, REASON_LEN_MAX)?)
}

fn account_in_scope(ws: &Workspace, op: &Operation, id: AccountId) -> Result<AccountRecord, OpError> {
    let a = ws.accounts.get(&id)?.cloned().ok_or_else(|| OpError::not_found("account", id))?;
    in_scope(ws, &op.actor, a.account.premises_id, "account", id)?;
    Ok(a)
}

/// The active meters bound to an account (the loader brings every one), in id order so that the commands an
/// operation derives for them are the same on a retry.
pub(super) fn meters_of(ws: &Workspace, account: AccountId) -> Vec<MeterRecord> {
    let mut v: Vec<MeterRecord> = ws
        .meters
        .values()
        .filter(|m| m.meter.account_id == Some(account) && m.meter.state == MeterState::Active)
        .cloned()
        .collect();
    v.sort_by_key(|m| m.meter.id);
    v
}

fn describe(c: &Customer) -> String {
    format!(
        "name={} kind={} document={} phones={} email={}",
        c.name,
        c.kind,
        c.id_document.as_ref().map_or_else(|| "-".to_string(), |d| format!("{}:{}", d.kind, d.number)),
        if c.phones.is_empty() { "-".to_string() } else { c.phones.join("|") },
        c.email.as_deref().unwrap_or("-"),
    )
}

pub(super) fn update_customer(ws: &mut Workspace, op: &Operation, u: &UpdateCustomer) -> Done {
    acting_operator(ws, &op.actor)?;
    let why = reason(&u.reason)?;
    let id = u.customer.id;
    let before = ws.customers.get(&id)?.cloned().ok_or_else(|| OpError::not_found("customer", id))?;
    in_scope(ws, &op.actor, before.premises_id, "customer", id)?;
    if u.customer.premises_id != before.premises_id {
        return Err(OpError::refused(
            "customer_premises_fixed",
            "a customer file stays at its premises; transfer the account to move it",
        ));
    }
    let after = setup::checked_customer(&u.customer)?;
    if after == before {
        return Err(OpError::refused("nothing_changed", "the customer file is already so"));
    }
    let entry = AuditEntry::new(
        "update_customer",
        format!("customer:{id}"),
        describe(&before),
        format!("{} reason={why}", describe(&after)),
    );
    ws.customers.put(id, after);
    Ok((Outcome::Updated { what: "customer", id: id.to_string() }, entry))
}

pub(super) fn set_status(ws: &mut Workspace, op: &Operation, s: &SetAccountStatus, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let why = reason(&s.reason)?;
    let mut account = account_in_scope(ws, op, s.account_id)?;
    let before = account.account.status;
    match s.status {
        AccountStatus::Suspended => account.account.suspend()?,
        AccountStatus::Active => account.account.resume()?,
        AccountStatus::Closed => {
            return Err(OpError::refused("use_close", "an account is closed by the closure, which settles it"));
        }
    }
    let (_, available) = wallet_position(ws, &account)?;
    let mut queued = Vec::new();
    let mut supplies = Vec::new();
    let mut n = 0;
    for mut m in meters_of(ws, account.account.id) {
        if m.meter.control_mode != ControlMode::Remote {
            continue;
        }
        let mut ctl = control::control_of(ws, m.meter.id)?;
        let kind = if s.status == AccountStatus::Suspended {
            // Held open: neither a reading nor a payment closes a suspended supply, only resumption.
            ctl.held_open = true;
            (m.relay == Relay::Closed).then_some(CommandKind::RelayTrip)
        } else {
            ctl.held_open = false;
            (m.relay == Relay::Open && available > 0).then_some(CommandKind::RelayClose)
        };
        ws.controls.put(m.meter.id, ctl);
        if let Some(kind) = kind {
            m.relay = kind.relay().unwrap_or(m.relay);
            ws.meters.put(m.meter.id, m.clone());
            if control::commandable(m.meter.protocol) {
                let what = if s.status == AccountStatus::Suspended { "account suspended" } else { "account resumed" };
                let c = control::queue(ws, op, m.meter.id, kind, what, at, n)?;
                n += 1;
                queued.push(format!("{}:{}", c.kind, m.meter.serial));
            }
        }
        supplies.push((m.meter.id, m.relay));
    }
    let entry = AuditEntry::new(
        "set_account_status",
        format!("account:{}", account.account.id),
        format!("status={before}"),
        format!("status={} commands={} reason={why}", account.account.status, queued.join(",")),
    );
    ws.accounts.put(account.account.id, account.clone());
    Ok((Outcome::AccountStatus { account_id: account.account.id, status: account.account.status, supplies }, entry))
}

/// Prepaid ⇄ postpaid. A postpaid account's remote meters are not tripped for lack of credit (consumption beyond
/// the wallet is owed, as arrears, and billed); so switching to postpaid closes a supply tripped for credit, and
/// needs every meter to be remote (a keypad meter only runs on the credit entered into it). Switching back to
/// prepaid carries a negative wallet (what postpaid consumption left owed) to arrears, which the counter's split
/// recovers.
pub(super) fn switch_billing_mode(ws: &mut Workspace, op: &Operation, s: &SwitchBillingMode, at: Timestamp) -> Done {
    acting_operator(ws, &op.actor)?;
    let why = reason(&s.reason)?;
    let mut account = account_in_scope(ws, op, s.account_id)?;
    let before = account.account.billing_mode;
    if before == s.mode {
        return Err(OpError::refused("nothing_changed", format!("the account is {before} already")));
    }
    account.account.switch_billing_mode(s.mode)?;
    let meters: Vec<MeterRecord> =
        meters_of(ws, account.account.id).into_iter().filter(|m| m.meter.state == MeterState::Active).collect();
    if s.mode == BillingMode::Postpaid
        && let Some(m) = meters.iter().find(|m| m.meter.control_mode != ControlMode::Remote)
    {
        return Err(OpError::refused(
            "postpaid_needs_remote",
            format!(
                "meter {} is a keypad meter: it runs on the credit entered into it, never postpaid",
                m.meter.serial
            ),
        ));
    }
    let mut cutover = Vec::with_capacity(meters.len());
    let mut queued = Vec::new();
    let mut n = 0;
    for mut m in meters {
        cutover.push((m.meter.id, ws.reading_states.get(&m.meter.id)?.map(|r| r.last.clone())));
        let ctl = control::control_of(ws, m.meter.id)?;
        if s.mode == BillingMode::Postpaid && m.relay == Relay::Open && !ctl.held_open {
            m.relay = Relay::Closed;
            ws.meters.put(m.meter.id, m.clone());
            if control::commandable(m.meter.protocol) {
                let c = control::queue(ws, op, m.meter.id, CommandKind::RelayClose, "switched to postpaid", at, n)?;
                n += 1;
                queued.push(format!("{}:{}", c.kind, m.meter.serial));
            }
        }
    }
    let mut to_arrears = 0;
    if s.mode == BillingMode::Prepaid {
        let (balance, _) = wallet_position(ws, &account)?;
        if balance < 0 {
            to_arrears = -balance;
            committed(super::post(
                ws,
                TransferRequest {
                    id: op.transfer_id(0),
                    kind: TransferKind::Adjustment,
                    currency: account.account.currency,
                    postings: vec![
                        Posting { account: account.arrears, side: Side::Debit, amount_minor: to_arrears },
                        Posting { account: account.wallet, side: Side::Credit, amount_minor: to_arrears },
                    ],
                    corrects: None,
                    memo: "postpaid balance owed, carried to arrears at the switch to prepaid".into(),
                },
                at,
            )?)?;
        }
    }
    let readings: Vec<String> = cutover
        .iter()
        .map(|(m, r)| format!("{m}@{}", r.as_ref().map_or("never read".to_string(), |r| r.at.to_string())))
        .collect();
    let entry = AuditEntry::new(
        "switch_billing_mode",
        format!("account:{}", account.account.id),
        format!("billing_mode={before}"),
        format!(
            "billing_mode={} cutover={} to_arrears={to_arrears} commands={} reason={why}",
            s.mode,
            readings.join(","),
            queued.join(",")
        ),
    );
    ws.accounts.put(account.account.id, account.clone());
    Ok((
        Outcome::BillingModeSwitched {
            account_id: account.account.id,
            mode: s.mode,
            cutover,
            to_arrears_minor: to_arrears,
        },
        entry,
    ))
}

/// Settles an account's wallet and arrears (see the module's documentation); the operation's transfers from
/// `op.transfer_id(0)` on.
fn settle(
    ws: &mut Workspace,
    op: &Operation,
    account: &AccountRecord,
    refund: Option<Refund>,
    operator: Option<OperatorId>,
    buy_back: bool,
    at: Timestamp,
) -> Result<AccountClosed, OpError> {
    let currency = account.account.currency;
    let bought = if buy_back { returns::buy_back(ws, op, account, 0, at)? } else { Vec::new() };
    let bought_minor: i64 = bought.iter().map(|(_, v)| v.value_minor).sum();
    let (balance, _) = wallet_position(ws, account)?;
    let owed = arrears_owed(ws, account)?;
    let mut n = u32::from(bought_minor > 0);
    let mut post = |ws: &mut Workspace, kind, debit, credit, amount, memo: String| -> Result<(), OpError> {
        let request = TransferRequest {
            id: op.transfer_id(n),
            kind,
            currency,
            postings: vec![
                Posting { account: debit, side: Side::Debit, amount_minor: amount },
                Posting { account: credit, side: Side::Credit, amount_minor: amount },
            ],
            corrects: None,
            memo,
        };
        n += 1;
        committed(super::post(ws, request, at)?).map(|_| ())
    };
    let id = account.account.id;
    let arrears_paid = balance.clamp(0, owed);
    if arrears_paid > 0 {
        let memo = format!("closure of account {id}: arrears paid from the wallet");
        post(ws, TransferKind::ArrearsRecovery, account.wallet, account.arrears, arrears_paid, memo)?;
    }
    let to_arrears = balance.min(0).saturating_neg();
    if to_arrears > 0 {
        let memo = format!("closure of account {id}: emergency credit used becomes arrears");
        post(ws, TransferKind::Adjustment, account.arrears, account.wallet, to_arrears, memo)?;
    }
    let left = balance.max(0) - arrears_paid;
    let mut refunded = 0;
    if left > 0 {
        match refund {
            None => {
                return Err(OpError::refused(
                    "refund_required",
                    format!("{left} minor units of credit are left: refund them in cash or to another account"),
                ));
            }
            Some(Refund::Cash { shift_id }) => {
                let shift = counter::refund_drawer(ws, op, operator, shift_id, currency)?;
                let (_, drawer) = ws
                    .book
                    .account(shift.drawer)
                    .ok_or_else(|| OpError::Internal(format!("drawer {} not loaded", shift.drawer)))?;
                let cash = shift.opening_float_minor.saturating_add(drawer.normal(Side::Debit));
                if cash < left {
                    return Err(OpError::refused(
                        "drawer_short",
                        format!("the drawer holds {cash} minor units, {left} are to be refunded"),
                    ));
                }
                let memo = format!("closure of account {id}: credit refunded in cash");
                post(ws, TransferKind::Refund, account.wallet, shift.drawer, left, memo)?;
            }
            Some(Refund::ToAccount { account_id }) => {
                if account_id == id {
                    return Err(OpError::refused("refund_to_itself", "credit is moved to another account"));
                }
                let to = account_in_scope(ws, op, account_id)?;
                to.account.ensure_can_vend()?;
                if to.account.currency != currency {
                    return Err(OpError::refused(
                        "currency_mismatch",
                        format!("account {account_id} is kept in {}", to.account.currency),
                    ));
                }
                let memo = format!("closure of account {id}: credit moved to account {account_id}");
                post(ws, TransferKind::Adjustment, account.wallet, to.wallet, left, memo)?;
            }
        }
        refunded = left;
    }
    let mut carry_femto = 0_i128;
    let mut meters = Vec::new();
    for m in meters_of(ws, id) {
        if let Some(code) = &m.tariff_code
            && let Some(state) = ws.pricing.get(&(id, code.clone())).ok().flatten()
        {
            carry_femto += state.carry_femto;
        }
        meters.push((m.meter.id, ws.reading_states.get(&m.meter.id)?.map(|r| r.last.clone())));
    }
    Ok(AccountClosed {
        account_id: id,
        arrears_paid_minor: arrears_paid,
        refunded_minor: refunded,
        refund_to: (refunded > 0).then_some(refund).flatten(),
        to_arrears_minor: to_arrears,
        arrears_left_minor: owed - arrears_paid + to_arrears,
        carry_femto,
        meters,
        new_account_id: None,
        meter_credit: bought,
    })
}

/// A suspension holds an account's supplies open; the hold ends with the account, so that the next occupant's or
/// the new owner's payment closes the supply.
fn release_suspension(ws: &mut Workspace, status: AccountStatus, meter: MeterId) -> Result<(), OpError> {
    if status == AccountStatus::Suspended {
        let mut ctl = control::control_of(ws, meter)?;
        if ctl.held_open {
            ctl.held_open = false;
            ws.controls.put(meter, ctl);
        }
    }
    Ok(())
}

fn settlement_text(s: &AccountClosed) -> String {
    let refund = match s.refund_to {
        Some(Refund::Cash { shift_id }) => format!(" refund=cash:shift:{shift_id}"),
        Some(Refund::ToAccount { account_id }) => format!(" refund=account:{account_id}"),
        None => String::new(),
    };
    let finals: Vec<String> = s
        .meters
        .iter()
        .map(|(m, r)| format!("{m}@{}", r.as_ref().map_or_else(|| "-".to_string(), |r| r.at.to_string())))
        .collect();
    let bought: Vec<String> =
        s.meter_credit.iter().map(|(m, v)| format!("{m}:{}milli={}minor", v.valued_milli, v.value_minor)).collect();
    format!(
        "meter_credit_bought={} arrears_paid={} refunded={}{refund} to_arrears={} arrears_left={} carry_femto={} final={}",
        if bought.is_empty() { "-".to_string() } else { bought.join(",") },
        s.arrears_paid_minor,
        s.refunded_minor,
        s.to_arrears_minor,
        s.arrears_left_minor,
        s.carry_femto,
        finals.join(",")
    )
}

pub(super) fn close(ws: &mut Workspace, op: &Operation, c: &CloseAccount, at: Timestamp) -> Done {
    let operator = acting_operator(ws, &op.actor)?;
    let why = reason(&c.reason)?;
    let mut account = account_in_scope(ws, op, c.account_id)?;
    let before = account.account.status;
    account.account.close()?;
    let settled = settle(ws, op, &account, c.refund, operator, c.buy_back_meter_credit, at)?;
    let (mut n, mut written) = (0, 0);
    for mut m in meters_of(ws, account.account.id) {
        release_suspension(ws, before, m.meter.id)?;
        m.meter.unbind()?;
        // 累计结余 belongs to an occupancy: the next occupant's credit is counted from their own purchases
        // (whatever the closed account left on the meter was bought back, or is theirs to use; clear it).
        m.local = LocalCredit::default();
        // The supply of an empty premises is off until the next occupant buys credit.
        if m.meter.control_mode == ControlMode::Remote && m.relay == Relay::Closed {
            m.relay = Relay::Open;
            if control::commandable(m.meter.protocol) {
                control::queue(ws, op, m.meter.id, CommandKind::RelayTrip, "account closed", at, n)?;
                n += 1;
            }
        }
        // A display that showed the closed account's balance shows nothing of it to the next occupant.
        if m.meter.control_mode == ControlMode::Remote {
            let shown = (0, account.account.currency);
            control::show_balance(ws, op, m.meter.id, shown, "account closed", at, written)?;
            written += 1;
        }
        ws.meters.put(m.meter.id, m);
    }
    let entry = AuditEntry::new(
        "close_account",
        format!("account:{}", account.account.id),
        format!("status={before}"),
        format!("status=closed {} reason={why}", settlement_text(&settled)),
    );
    ws.accounts.put(account.account.id, account);
    Ok((Outcome::AccountClosed(settled), entry))
}

pub(super) fn transfer(ws: &mut Workspace, op: &Operation, t: &TransferOwnership, at: Timestamp) -> Done {
    let operator = acting_operator(ws, &op.actor)?;
    let why = reason(&t.reason)?;
    let mut old = account_in_scope(ws, op, t.account_id)?;
    let old_status = old.account.status;
    if ws.accounts.get(&t.new_account_id)?.is_some() {
        return Err(setup::exists("account", t.new_account_id));
    }
    old.account.close()?;
    let customer = setup::customer_for(ws, op, &t.customer)?;
    if customer.id == old.account.customer_id {
        return Err(OpError::refused("same_owner", "an ownership transfer goes to another customer"));
    }
    // The credit on its meters goes with them to the new owner (who settles with the old one).
    let mut settled = settle(ws, op, &old, t.refund, operator, false, at)?;
    let mut account = Account::open(t.new_account_id, &customer, old.account.premises_id, old.account.currency);
    account.billing_mode = old.account.billing_mode;
    let (wallet_id, arrears_id) = (account_ledger_id(op, 1), account_ledger_id(op, 2));
    let overdraft = ws.book.account(old.wallet).and_then(|(l, _)| l.overdraft_limit_minor);
    let owner = Owner::Account(account.id);
    for (id, kind, limit) in [
        (wallet_id, LedgerAccountKind::CustomerWallet, overdraft),
        (arrears_id, LedgerAccountKind::CustomerArrears, None),
    ] {
        ws.book.open_account(LedgerAccount::new(
            id,
            kind,
            owner.clone(),
            account.premises_id,
            account.currency,
            limit,
        )?)?;
    }
    let mut moved = Vec::new();
    for mut m in meters_of(ws, old.account.id) {
        release_suspension(ws, old_status, m.meter.id)?;
        m.meter.account_id = Some(account.id);
        if let Some(code) = &m.tariff_code {
            // A new account has no pricing state yet: its blocks start at the cut-over.
            ws.pricing.ask((account.id, code.clone()));
        }
        moved.push(m.meter.serial.clone());
        ws.meters.put(m.meter.id, m);
    }
    settled.new_account_id = Some(account.id);
    let record = AccountRecord {
        account: account.clone(),
        wallet: wallet_id,
        arrears: arrears_id,
        books: old.books,
        recovery: old.recovery,
        min_purchase_minor: old.min_purchase_minor,
        max_balance_minor: old.max_balance_minor,
    };
    let entry = AuditEntry::new(
        "transfer_ownership",
        format!("account:{}", old.account.id),
        format!("customer={}", old.account.customer_id),
        format!(
            "to account={} customer={} meters={} {} reason={why}",
            account.id,
            customer.id,
            moved.join(","),
            settlement_text(&settled)
        ),
    );
    ws.accounts.put(old.account.id, old);
    ws.accounts.put(account.id, record);
    Ok((Outcome::AccountClosed(settled), entry))
}

pub(super) fn replace_meter(
    ws: &mut Workspace,
    op: &Operation,
    r: &ReplaceMeter,
    ctx: &Context,
    at: Timestamp,
) -> Done {
    acting_operator(ws, &op.actor)?;
    let why = reason(&r.reason)?;
    if r.old_meter_id == r.new_meter_id {
        return Err(OpError::refused("same_meter", "a meter is replaced by another meter"));
    }
    let mut old = control::meter_in_scope(ws, op, r.old_meter_id)?;
    old.meter.ensure_active()?;
    let account_id =
        old.meter.account_id.ok_or_else(|| OpError::refused("meter_unbound", "the meter has no account"))?;
    let premises = old.meter.premises_id.ok_or_else(|| OpError::Internal("an active meter without premises".into()))?;
    if r.old_credit_milli.is_some_and(|c| c < 0) {
        return Err(OpError::refused("bad_value", "the credit left on the old meter is not negative"));
    }
    if r.old_credit_milli.is_some() && old.meter.control_mode == ControlMode::Remote {
        return Err(OpError::refused("meter_not_local", "a remote meter's credit is its account's wallet"));
    }
    // The old meter's last interval, billed as any reading is, before it goes.
    let final_billing = match (&r.old_final, old.meter.control_mode) {
        (Some(reading), ControlMode::Remote) => {
            let apply = ApplyReadings {
                meter_id: old.meter.id,
                readings: vec![reading.clone()],
                report: None,
                limits: ReadingLimits::default(),
                demand: None,
            };
            let (outcome, _) = readings::apply(ws, op, &apply, ctx, at)?;
            let Outcome::Readings(billed) = outcome else {
                return Err(OpError::Internal("billing a final reading gave no readings outcome".into()));
            };
            if billed.flagged > 0 {
                return Err(OpError::refused(
                    "final_reading_flagged",
                    "the final reading is lower than the last or impossible: review it first",
                ));
            }
            // Billing may have changed the desired supply state.
            old = ws.meters.get(&old.meter.id)?.cloned().unwrap_or(old);
            Some(billed)
        }
        (Some(_), ControlMode::Local) => {
            return Err(OpError::refused("meter_not_remote", "a local meter's final reading is not billed"));
        }
        (None, _) => None,
    };
    if let Some(new) = &r.receive {
        if new.id != r.new_meter_id {
            return Err(OpError::refused("meter_id_mismatch", "the meter received keeps the new meter's id"));
        }
        setup::receive(ws, op, new)?;
    }
    let mut new =
        ws.meters.get(&r.new_meter_id)?.cloned().ok_or_else(|| OpError::not_found("meter", r.new_meter_id))?;
    if let Some(p) = new.meter.premises_id {
        in_scope(ws, &op.actor, p, "meter", r.new_meter_id)?;
    }
    match new.meter.state {
        MeterState::InStock => new.meter.install(premises)?,
        MeterState::Installed if new.meter.premises_id == Some(premises) => {}
        MeterState::Installed => {
            return Err(OpError::refused(
                "meter_elsewhere",
                format!("meter {} is installed elsewhere", r.new_meter_id),
            ));
        }
        s => return Err(OpError::refused("meter_in_use", format!("meter {} is {s}", r.new_meter_id))),
    }
    if new.meter.utility != old.meter.utility {
        return Err(OpError::refused(
            "utility_mismatch",
            format!("a {} meter replaces a {} meter", new.meter.utility, old.meter.utility),
        ));
    }
    if new.meter.protocol == MeterProtocol::OpenPaygo || old.meter.protocol == MeterProtocol::OpenPaygo {
        return Err(OpError::refused(
            "openpaygo_replacement",
            "an OpenPAYGO device is replaced by closing its account and opening one on the new device",
        ));
    }
    if old.tariff_code.is_none() && new.meter.protocol == MeterProtocol::StsKeypad
        || old.tariff_code.is_none() && new.meter.control_mode == ControlMode::Remote
    {
        return Err(OpError::refused("tariff_required", "the old meter has no tariff for the new one"));
    }
    new.meter.activate(account_id)?;
    new.tariff_code = old.tariff_code.clone();
    new.max_credit_minor = old.max_credit_minor;
    new.relay = old.relay;
    setup::bind_sts(ws, &new, r.sts.as_ref())?;
    match (new.meter.control_mode, &r.first_reading) {
        (ControlMode::Remote, Some(first)) => {
            ws.reading_states.put(new.meter.id, ReadingState { meter_id: new.meter.id, last: first.clone() });
        }
        (ControlMode::Remote, None) => {
            return Err(OpError::refused(
                "first_reading_required",
                "a remote meter's billing starts from its registers when installed",
            ));
        }
        (ControlMode::Local, Some(_)) => {
            return Err(OpError::refused("meter_not_remote", "a local meter is not billed from readings"));
        }
        (ControlMode::Local, None) => {}
    }
    // What was asked of the old meter's supply holds for the new one.
    let old_ctl = control::control_of(ws, old.meter.id)?;
    let mut ctl = control::control_of(ws, new.meter.id)?;
    ctl.keep_power = old_ctl.keep_power;
    ctl.held_open = old_ctl.held_open;
    ws.controls.put(new.meter.id, ctl);
    if new.meter.control_mode == ControlMode::Remote
        && new.relay == Relay::Open
        && control::commandable(new.meter.protocol)
    {
        control::queue(ws, op, new.meter.id, CommandKind::RelayTrip, "replaces a meter whose supply was off", at, 8)?;
    }
    old.meter.replace()?;
    // The credit left on the old meter, read off its display: carried to a keypad successor by a credit token
    // (whole tenths of a unit; the rest stays recorded), with what was paid for it; otherwise it is the old
    // meter's last return data (累计结余), shown as owed until it is put right.
    let carried = match r.old_credit_milli {
        Some(credit) if new.meter.protocol == MeterProtocol::StsKeypad && credit >= sale::MILLI_PER_TOKEN_TENTH => {
            let (token, milli) = carry_credit(ws, op, ctx, &new, credit, at)?;
            new.local = old.local.clone();
            new.local.last_sale_at = Some(at);
            new.local.last_return = None;
            old.local = LocalCredit::default();
            let rec = MeterTokenRecord {
                operation_id: op.id,
                meter_id: new.meter.id,
                at,
                operator_id: op.actor.operator,
                kind: "carried_credit".into(),
                detail: format!("credit of meter {} carried: {milli} milli-units", old.meter.id),
                tokens: vec![token.clone()],
            };
            ws.meter_tokens.push(rec);
            Some((token, milli))
        }
        Some(credit) => {
            old.local.last_return = Some(MeterReturn { at, source: ReturnSource::Display, remaining_milli: credit });
            None
        }
        None => None,
    };
    let entry = AuditEntry::new(
        "replace_meter",
        format!("meter:{}", old.meter.id),
        format!("serial={} account={account_id}", old.meter.serial),
        format!(
            "replaced_by=meter:{} serial={} final={} first={} old_credit_milli={}{} reason={why}",
            new.meter.id,
            new.meter.serial,
            r.old_final.as_ref().map_or_else(|| "-".to_string(), |x| x.at.to_string()),
            r.first_reading.as_ref().map_or_else(|| "-".to_string(), |x| x.at.to_string()),
            r.old_credit_milli.map_or_else(|| "-".to_string(), |c| c.to_string()),
            final_billing.as_ref().map(|b| format!(" final_charged={}", b.charged_minor)).unwrap_or_default()
                + &carried.as_ref().map(|(_, m)| format!(" carried_milli={m}")).unwrap_or_default(),
        ),
    );
    ws.meters.put(old.meter.id, old);
    ws.meters.put(new.meter.id, new);
    Ok((
        Outcome::MeterReplaced(MeterReplaced {
            old_meter_id: r.old_meter_id,
            new_meter_id: r.new_meter_id,
            account_id,
            final_billing,
            old_final: r.old_final.clone(),
            old_credit_milli: r.old_credit_milli,
            carried,
        }),
        entry,
    ))
}

/// A credit token for `credit_milli` (rounded down to the tenths a token carries) on the new keypad meter, under
/// its key, advancing its TID: (the token's 20 digits, the milli-units it carries).
fn carry_credit(
    ws: &mut Workspace,
    op: &Operation,
    ctx: &Context,
    new: &MeterRecord,
    credit_milli: i64,
    at: Timestamp,
) -> Result<(String, i64), OpError> {
    let tenths = voltvend_sts::amount::representable_at_most(
        u64::try_from(credit_milli / sale::MILLI_PER_TOKEN_TENTH).unwrap_or(0),
    )
    .ok_or_else(|| OpError::refused("sts_amount_too_large", "the credit is more than one token can carry"))?;
    let mut sts =
        ws.sts.get(&new.meter.id)?.cloned().ok_or_else(|| OpError::not_found("STS key record", new.meter.id))?;
    let token = sale::credit_token(ws, op, ctx, new.meter.utility, &mut sts, tenths, at, 0)?;
    ws.sts.put(new.meter.id, sts);
    Ok((token, i64::try_from(tenths).unwrap_or(i64::MAX).saturating_mul(sale::MILLI_PER_TOKEN_TENTH)))
}
