//! The double-entry ledger's rules.
//!
//! Every movement of money is a [`Transfer`]: a balanced set of [`Posting`]s (debits equal credits) between
//! [`LedgerAccount`]s, identified by a client-chosen [`TransferId`]. The ledger is append-only: a correction
//! is a new transfer that references the one it corrects.
//!
//! [`LedgerBook`] is the one implementation of the rules. The store loads the accounts and transfers a batch
//! touches into a book, posts the batch through it, and writes back what it committed; the property tests run
//! the same book in memory. Rules, in the order they are checked:
//! 1. the request is well formed (2–[`TransferRequest::POSTINGS_MAX`] postings, positive amounts, balanced,
//!    one currency, no account twice, a correction names its target);
//! 2. a transfer id seen before returns the original transfer if the contents are equal, else a conflict;
//! 3. every account exists and is in the transfer's currency; a correction's target exists;
//! 4. no account with a limit ends below minus its overdraft limit, unless the transfer raises its balance.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use thiserror::Error;
use uuid::Uuid;

use crate::account::{AccountError, str_enum};
use crate::ids::{AccountId, LedgerAccountId, MeterId, PremisesId, ShiftId, TransferId};
use crate::money::{Currency, Money};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    #[error("a transfer needs between 2 and {max} postings, got {got}", max = TransferRequest::POSTINGS_MAX)]
    PostingCount { got: usize },
    #[error("posting amounts must be positive, got {0}")]
    NonPositiveAmount(i64),
    #[error("transfer is unbalanced: debits {debits_minor} ≠ credits {credits_minor} (minor units)")]
    Unbalanced { debits_minor: i128, credits_minor: i128 },
    #[error("ledger account {0} appears twice in one transfer")]
    DuplicateAccount(LedgerAccountId),
    #[error("memo longer than {max} bytes", max = TransferRequest::MEMO_LEN_MAX)]
    MemoTooLong,
    #[error("a correction must name the transfer it corrects, and only a correction may")]
    CorrectionTarget,
    #[error("ledger account {0} not found")]
    UnknownAccount(LedgerAccountId),
    #[error("transfer {0} to be corrected not found")]
    CorrectedTransferNotFound(TransferId),
    #[error("ledger account {account} is in {account_currency}, the transfer in {transfer_currency}")]
    CurrencyMismatch { account: LedgerAccountId, account_currency: Currency, transfer_currency: Currency },
    #[error(
        "insufficient balance in {account}: balance {balance_minor}, overdraft limit {limit_minor}, needed {needed_minor} (minor units)"
    )]
    InsufficientBalance { account: LedgerAccountId, balance_minor: i64, limit_minor: i64, needed_minor: i64 },
    #[error("transfer id {0} was already used with different contents")]
    Conflict(TransferId),
    #[error("ledger account {0} already exists")]
    DuplicateLedgerAccount(LedgerAccountId),
    #[error("a {kind} ledger account needs {expected} as its owner")]
    OwnerMismatch { kind: LedgerAccountKind, expected: &'static str },
    #[error("overdraft limit must be zero or positive")]
    BadOverdraftLimit,
    #[error("amount out of range")]
    Overflow,
    #[error(transparent)]
    Parse(#[from] AccountError),
}

/// Which column a posting goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Debit,
    Credit,
}

str_enum!(Side, "posting side", { Debit => "debit", Credit => "credit" });

/// What a ledger account records. Each kind has a normal side: the side that increases the balance the
/// business talks about (a wallet is a liability to the customer, so credits increase it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LedgerAccountKind {
    /// Prepaid credit the customer holds with us (liability; may go to minus its overdraft limit).
    CustomerWallet,
    /// What the customer owes from the past (receivable), recovered from purchases.
    CustomerArrears,
    /// Cash taken at the counter during one cashier shift.
    CashDrawer,
    /// Money a payment provider (WeChat Pay, M-Pesa…) owes us until it settles.
    PaymentClearing,
    EnergyRevenue,
    FixedChargeRevenue,
    /// Tax and levies collected on behalf of the authority (liability).
    Tax,
    /// Refunds owed to customers until paid out (liability).
    Refunds,
    /// Debts written off (expense).
    WriteOff,
    /// Credit loaded onto a local (card/keypad) meter: still owed to the customer until consumed.
    LocalMeterCredit,
}

str_enum!(LedgerAccountKind, "ledger account kind", {
    CustomerWallet => "customer_wallet", CustomerArrears => "customer_arrears", CashDrawer => "cash_drawer",
    PaymentClearing => "payment_clearing", EnergyRevenue => "energy_revenue",
    FixedChargeRevenue => "fixed_charge_revenue", Tax => "tax", Refunds => "refunds", WriteOff => "write_off",
    LocalMeterCredit => "local_meter_credit",
});

impl LedgerAccountKind {
    pub const ALL: [LedgerAccountKind; 10] = [
        Self::CustomerWallet,
        Self::CustomerArrears,
        Self::CashDrawer,
        Self::PaymentClearing,
        Self::EnergyRevenue,
        Self::FixedChargeRevenue,
        Self::Tax,
        Self::Refunds,
        Self::WriteOff,
        Self::LocalMeterCredit,
    ];

    pub const fn normal_side(&self) -> Side {
        match self {
            Self::CustomerArrears | Self::CashDrawer | Self::PaymentClearing | Self::WriteOff => Side::Debit,
            Self::CustomerWallet
            | Self::EnergyRevenue
            | Self::FixedChargeRevenue
            | Self::Tax
            | Self::Refunds
            | Self::LocalMeterCredit => Side::Credit,
        }
    }

    fn owner_kind(&self) -> &'static str {
        match self {
            Self::CustomerWallet | Self::CustomerArrears => "account",
            Self::CashDrawer => "shift",
            Self::PaymentClearing => "provider",
            Self::LocalMeterCredit => "meter",
            Self::EnergyRevenue | Self::FixedChargeRevenue | Self::Tax | Self::Refunds | Self::WriteOff => "none",
        }
    }
}

/// Whose ledger account it is, beyond its premises.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    None,
    Account(AccountId),
    Shift(ShiftId),
    /// A payment provider code such as `wechat` or `mpesa`.
    Provider(String),
    Meter(MeterId),
}

impl Owner {
    fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Account(_) => "account",
            Self::Shift(_) => "shift",
            Self::Provider(_) => "provider",
            Self::Meter(_) => "meter",
        }
    }
}

impl fmt::Display for Owner {
    /// The storage key: `account:<uuid>`, `provider:<code>`, or the empty string for none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => Ok(()),
            Self::Account(id) => write!(f, "account:{id}"),
            Self::Shift(id) => write!(f, "shift:{id}"),
            Self::Provider(code) => write!(f, "provider:{code}"),
            Self::Meter(id) => write!(f, "meter:{id}"),
        }
    }
}

impl FromStr for Owner {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LedgerError::Parse(AccountError::Unknown { what: "ledger owner", value: s.to_string() });
        if s.is_empty() {
            return Ok(Self::None);
        }
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let uuid = || Uuid::parse_str(rest).map_err(|_| bad());
        Ok(match kind {
            "account" => Self::Account(AccountId::from_uuid(uuid()?)),
            "shift" => Self::Shift(ShiftId::from_uuid(uuid()?)),
            "meter" => Self::Meter(MeterId::from_uuid(uuid()?)),
            "provider" if valid_provider(rest) => Self::Provider(rest.to_string()),
            _ => return Err(bad()),
        })
    }
}

fn valid_provider(code: &str) -> bool {
    (1..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// An account of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerAccount {
    pub id: LedgerAccountId,
    pub kind: LedgerAccountKind,
    pub owner: Owner,
    pub premises_id: PremisesId,
    pub currency: Currency,
    /// `Some(limit)`: the normal balance may not go below `-limit`. `None`: unbounded (revenue, clearing…).
    /// Wallets always have a limit (0 unless an overdraft or emergency credit was agreed).
    pub overdraft_limit_minor: Option<i64>,
}

impl LedgerAccount {
    pub fn new(
        id: LedgerAccountId,
        kind: LedgerAccountKind,
        owner: Owner,
        premises_id: PremisesId,
        currency: Currency,
        overdraft_limit_minor: Option<i64>,
    ) -> Result<Self, LedgerError> {
        if kind.owner_kind() != owner.kind() {
            return Err(LedgerError::OwnerMismatch { kind, expected: kind.owner_kind() });
        }
        if let Owner::Provider(code) = &owner
            && !valid_provider(code)
        {
            return Err(LedgerError::OwnerMismatch { kind, expected: "a provider code of 1–32 of a-z 0-9 _" });
        }
        if overdraft_limit_minor.is_some_and(|l| l < 0) {
            return Err(LedgerError::BadOverdraftLimit);
        }
        let overdraft_limit_minor = match kind {
            LedgerAccountKind::CustomerWallet => Some(overdraft_limit_minor.unwrap_or(0)),
            _ => overdraft_limit_minor,
        };
        Ok(Self { id, kind, owner, premises_id, currency, overdraft_limit_minor })
    }
}

/// Posted totals of one account. Both columns only grow; the balance is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Balance {
    pub debits_minor: i64,
    pub credits_minor: i64,
}

impl Balance {
    /// The balance on the account kind's normal side (credits − debits for a wallet).
    pub fn normal(&self, side: Side) -> i64 {
        // Both totals are non-negative i64, so the difference always fits.
        match side {
            Side::Debit => self.debits_minor - self.credits_minor,
            Side::Credit => self.credits_minor - self.debits_minor,
        }
    }

    fn add(&self, side: Side, amount_minor: i64) -> Result<Balance, LedgerError> {
        let mut next = *self;
        let column = match side {
            Side::Debit => &mut next.debits_minor,
            Side::Credit => &mut next.credits_minor,
        };
        *column = column.checked_add(amount_minor).ok_or(LedgerError::Overflow)?;
        Ok(next)
    }
}

/// One line of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Posting {
    pub account: LedgerAccountId,
    pub side: Side,
    pub amount_minor: i64,
}

/// Why money moved; used by reports and to pick receipts. Stable codes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// A sale of credit (售电).
    Vend,
    /// A payment received (cash, card, provider notification).
    Payment,
    ArrearsRecovery,
    Fee,
    /// Consumption debited from a wallet by the remote prepaid loop.
    Consumption,
    Refund,
    WriteOff,
    /// Credit moved onto a local meter by token or card.
    MeterCredit,
    /// A reversal or re-allocation of an earlier transfer (纠错); must reference it.
    Correction,
    /// An administrator's adjustment with a reason in the memo.
    Adjustment,
}

str_enum!(TransferKind, "transfer kind", {
    Vend => "vend", Payment => "payment", ArrearsRecovery => "arrears_recovery", Fee => "fee",
    Consumption => "consumption", Refund => "refund", WriteOff => "write_off", MeterCredit => "meter_credit",
    Correction => "correction", Adjustment => "adjustment",
});

/// What a client asks the ledger to do. Equality of two requests is what idempotency compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransferRequest {
    pub id: TransferId,
    pub kind: TransferKind,
    pub currency: Currency,
    pub postings: Vec<Posting>,
    pub corrects: Option<TransferId>,
    pub memo: String,
}

impl TransferRequest {
    pub const POSTINGS_MAX: usize = 16;
    pub const MEMO_LEN_MAX: usize = 512;

    /// The common case: one debit, one credit.
    pub fn simple(
        id: TransferId,
        kind: TransferKind,
        debit: LedgerAccountId,
        credit: LedgerAccountId,
        amount: Money,
        memo: &str,
    ) -> Self {
        Self {
            id,
            kind,
            currency: amount.currency(),
            postings: vec![
                Posting { account: debit, side: Side::Debit, amount_minor: amount.amount_minor() },
                Posting { account: credit, side: Side::Credit, amount_minor: amount.amount_minor() },
            ],
            corrects: None,
            memo: memo.to_string(),
        }
    }

    /// A correction that exactly reverses `original` (each posting moved to the other side).
    pub fn reversal_of(id: TransferId, original: &Transfer, memo: &str) -> Self {
        let postings = original
            .request
            .postings
            .iter()
            .map(|p| Posting {
                side: match p.side {
                    Side::Debit => Side::Credit,
                    Side::Credit => Side::Debit,
                },
                ..*p
            })
            .collect();
        Self {
            id,
            kind: TransferKind::Correction,
            currency: original.request.currency,
            postings,
            corrects: Some(original.request.id),
            memo: memo.to_string(),
        }
    }

    /// Checks what can be checked without the ledger's state.
    pub fn validate(&self) -> Result<(), LedgerError> {
        let n = self.postings.len();
        if !(2..=Self::POSTINGS_MAX).contains(&n) {
            return Err(LedgerError::PostingCount { got: n });
        }
        if self.memo.len() > Self::MEMO_LEN_MAX {
            return Err(LedgerError::MemoTooLong);
        }
        if (self.kind == TransferKind::Correction) != self.corrects.is_some() || self.corrects == Some(self.id) {
            return Err(LedgerError::CorrectionTarget);
        }
        let (mut debits, mut credits) = (0_i128, 0_i128);
        for (i, p) in self.postings.iter().enumerate() {
            if p.amount_minor <= 0 {
                return Err(LedgerError::NonPositiveAmount(p.amount_minor));
            }
            if self.postings.iter().take(i).any(|q| q.account == p.account) {
                return Err(LedgerError::DuplicateAccount(p.account));
            }
            match p.side {
                Side::Debit => debits += i128::from(p.amount_minor),
                Side::Credit => credits += i128::from(p.amount_minor),
            }
        }
        if debits != credits {
            return Err(LedgerError::Unbalanced { debits_minor: debits, credits_minor: credits });
        }
        Ok(())
    }
}

/// A committed transfer: the request plus what the ledger assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub request: TransferRequest,
    /// Position in the ledger's total order, from 1, without gaps within a database.
    pub seq: i64,
    pub posted_at: Timestamp,
}

/// The answer to a post: newly committed, or the original of an idempotent retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    Committed(Transfer),
    Replayed(Transfer),
}

impl PostOutcome {
    pub fn transfer(&self) -> &Transfer {
        match self {
            Self::Committed(t) | Self::Replayed(t) => t,
        }
    }

    pub fn is_replay(&self) -> bool {
        matches!(self, Self::Replayed(_))
    }
}

/// A view of (part of) the ledger on which transfers are posted by the rules above.
#[derive(Debug, Clone, Default)]
pub struct LedgerBook {
    accounts: HashMap<LedgerAccountId, (LedgerAccount, Balance)>,
    transfers: HashMap<TransferId, Transfer>,
    last_seq: i64,
    new_transfers: Vec<TransferId>,
}

impl LedgerBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// A book continuing after the ledger's last sequence number.
    pub fn after_seq(last_seq: i64) -> Self {
        Self { last_seq, ..Self::default() }
    }

    /// Opens a new account with zero balance.
    pub fn open_account(&mut self, account: LedgerAccount) -> Result<(), LedgerError> {
        if self.accounts.contains_key(&account.id) {
            return Err(LedgerError::DuplicateLedgerAccount(account.id));
        }
        self.accounts.insert(account.id, (account, Balance::default()));
        Ok(())
    }

    /// Adds an account as loaded from storage with its cached totals.
    pub fn load_account(&mut self, account: LedgerAccount, balance: Balance) {
        self.accounts.insert(account.id, (account, balance));
    }

    /// Adds a transfer as loaded from storage (for idempotency checks and correction targets).
    pub fn load_transfer(&mut self, transfer: Transfer) {
        self.transfers.insert(transfer.request.id, transfer);
    }

    pub fn account(&self, id: LedgerAccountId) -> Option<(&LedgerAccount, Balance)> {
        self.accounts.get(&id).map(|(a, b)| (a, *b))
    }

    pub fn accounts(&self) -> impl Iterator<Item = (&LedgerAccount, Balance)> {
        self.accounts.values().map(|(a, b)| (a, *b))
    }

    pub fn transfer(&self, id: TransferId) -> Option<&Transfer> {
        self.transfers.get(&id)
    }

    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// Posts one transfer at `at`. On error nothing changes.
    pub fn post(&mut self, request: TransferRequest, at: Timestamp) -> Result<PostOutcome, LedgerError> {
        request.validate()?;
        if let Some(existing) = self.transfers.get(&request.id) {
            return if existing.request == request {
                Ok(PostOutcome::Replayed(existing.clone()))
            } else {
                Err(LedgerError::Conflict(request.id))
            };
        }
        if let Some(target) = request.corrects
            && !self.transfers.contains_key(&target)
        {
            return Err(LedgerError::CorrectedTransferNotFound(target));
        }
        // Compute every new balance first so that a refusal leaves the book untouched.
        let mut updates = Vec::with_capacity(request.postings.len());
        for p in &request.postings {
            let (account, balance) = self.accounts.get(&p.account).ok_or(LedgerError::UnknownAccount(p.account))?;
            if account.currency != request.currency {
                return Err(LedgerError::CurrencyMismatch {
                    account: account.id,
                    account_currency: account.currency,
                    transfer_currency: request.currency,
                });
            }
            let next = balance.add(p.side, p.amount_minor)?;
            let side = account.kind.normal_side();
            if let Some(limit) = account.overdraft_limit_minor {
                let (before, after) = (balance.normal(side), next.normal(side));
                if after < before && after < -limit {
                    return Err(LedgerError::InsufficientBalance {
                        account: account.id,
                        balance_minor: before,
                        limit_minor: limit,
                        needed_minor: p.amount_minor,
                    });
                }
            }
            updates.push((p.account, next));
        }
        for (id, next) in updates {
            if let Some((_, balance)) = self.accounts.get_mut(&id) {
                *balance = next;
            }
        }
        self.last_seq += 1;
        let transfer = Transfer { request, seq: self.last_seq, posted_at: at };
        self.new_transfers.push(transfer.request.id);
        self.transfers.insert(transfer.request.id, transfer.clone());
        Ok(PostOutcome::Committed(transfer))
    }

    /// The transfers committed since the book was built or last drained, in order, and the accounts they
    /// touched with their new totals: exactly what storage must write.
    pub fn drain_changes(&mut self) -> (Vec<Transfer>, Vec<(LedgerAccountId, Balance)>) {
        let ids = std::mem::take(&mut self.new_transfers);
        let transfers: Vec<Transfer> = ids.iter().filter_map(|id| self.transfers.get(id).cloned()).collect();
        let mut touched: Vec<LedgerAccountId> =
            transfers.iter().flat_map(|t| t.request.postings.iter().map(|p| p.account)).collect();
        touched.sort_unstable();
        touched.dedup();
        let balances = touched.into_iter().filter_map(|id| self.accounts.get(&id).map(|(_, b)| (id, *b))).collect();
        (transfers, balances)
    }

    /// Checks the book's invariants where it holds the whole ledger: total debits equal total credits, and
    /// each cached balance equals the sum of the postings of its transfers.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut recomputed: HashMap<LedgerAccountId, (i128, i128)> = HashMap::new();
        for t in self.transfers.values() {
            t.request.validate().map_err(|e| format!("transfer {} invalid: {e}", t.request.id))?;
            for p in &t.request.postings {
                let e = recomputed.entry(p.account).or_default();
                match p.side {
                    Side::Debit => e.0 += i128::from(p.amount_minor),
                    Side::Credit => e.1 += i128::from(p.amount_minor),
                }
            }
        }
        let (mut debits, mut credits) = (0_i128, 0_i128);
        for (account, balance) in self.accounts.values() {
            let (d, c) = recomputed.remove(&account.id).unwrap_or_default();
            if (d, c) != (i128::from(balance.debits_minor), i128::from(balance.credits_minor)) {
                return Err(format!("account {} caches {balance:?} but its entries sum to ({d}, {c})", account.id));
            }
            debits += d;
            credits += c;
        }
        if let Some(orphan) = recomputed.keys().next() {
            return Err(format!("entries reference unknown account {orphan}"));
        }
        if debits != credits {
            return Err(format!("ledger does not sum to zero: debits {debits}, credits {credits}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
