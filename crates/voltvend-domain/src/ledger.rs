//! The double-entry ledger's rules.
//!
//! Every movement of money is a [`Transfer`]: a balanced set of [`Posting`]s (debits equal credits) between
//! [`LedgerAccount`]s, identified by a client-chosen [`TransferId`]. The ledger is append-only: a correction
//! is a new transfer that references the one it corrects.
//!
//! [`LedgerBook`] is the one implementation of the rules. The operations layer loads the accounts and
//! transfers a batch touches into a book, posts through it, and hands storage what it has not yet written;
//! the property tests run the same book in memory. Rules, in the order they are checked:
//! 1. a transfer id seen before returns the original transfer if the request is the same (compared in
//!    canonical form: the same postings in another order are the same request), else a conflict. This comes
//!    first, so that a rule tightened later never turns the retry of an old request into an error;
//! 2. the request is well formed (2–[`TransferRequest::POSTINGS_MAX`] postings, positive amounts, balanced,
//!    one currency, no account twice, a correction names its target, the memo is clean text);
//! 3. every account exists and is in the transfer's currency;
//! 4. a correction reverses an existing transfer that is not itself a correction, posting each line back on
//!    the other side of an account of the original, never more than is left unreversed on that line;
//! 5. no account with a limit ends below minus its overdraft limit, unless the transfer raises its balance.
//!
//! A book can be rolled back to a [`Savepoint`], so that an operation made of several steps commits whole or
//! not at all, and it tracks what it holds that storage has not yet written ([`LedgerBook::pending`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use thiserror::Error;
use uuid::Uuid;

use crate::account::{AccountError, str_enum};
use crate::ids::{AccountId, FeeScheduleId, LedgerAccountId, MeterId, PremisesId, ShiftId, TransferId};
use crate::money::{Currency, Money};
use crate::text::{self, TextError};

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
    #[error(transparent)]
    Text(TextError),
    #[error("a correction must name the transfer it corrects, and only a correction may")]
    CorrectionTarget,
    #[error("ledger account {0} not found")]
    UnknownAccount(LedgerAccountId),
    #[error("transfer {0} to be corrected not found")]
    CorrectedTransferNotFound(TransferId),
    #[error("transfer {0} is a correction; correct the original instead")]
    ReversalOfReversal(TransferId),
    #[error("transfer {0} is already fully reversed")]
    AlreadyReversed(TransferId),
    #[error(
        "a correction of {target} must post back on the other side of the original's accounts; ledger account {account} does not mirror it"
    )]
    NotMirror { target: TransferId, account: LedgerAccountId },
    #[error(
        "a correction of {target} reverses {asked_minor} on ledger account {account}, but only {left_minor} is left unreversed (minor units)"
    )]
    ReversalExceedsOriginal { target: TransferId, account: LedgerAccountId, asked_minor: i64, left_minor: i64 },
    #[error("a correction of {target} must be in the original's currency")]
    CorrectionCurrency { target: TransferId },
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

impl LedgerError {
    /// The stable machine-readable code of the error (part of the API contract).
    pub fn code(&self) -> &'static str {
        match self {
            Self::PostingCount { .. } => "transfer_posting_count",
            Self::NonPositiveAmount(_) => "transfer_non_positive_amount",
            Self::Unbalanced { .. } => "transfer_unbalanced",
            Self::DuplicateAccount(_) => "transfer_duplicate_account",
            Self::MemoTooLong => "memo_too_long",
            Self::Text(e) => e.code(),
            Self::CorrectionTarget => "correction_target_required",
            Self::UnknownAccount(_) => "ledger_account_not_found",
            Self::CorrectedTransferNotFound(_) => "corrected_transfer_not_found",
            Self::ReversalOfReversal(_) => "reversal_of_reversal",
            Self::AlreadyReversed(_) => "already_reversed",
            Self::NotMirror { .. } => "correction_not_mirror",
            Self::ReversalExceedsOriginal { .. } => "reversal_exceeds_original",
            Self::CorrectionCurrency { .. } => "correction_currency",
            Self::CurrencyMismatch { .. } => "currency_mismatch",
            Self::InsufficientBalance { .. } => "insufficient_balance",
            Self::Conflict(_) => "idempotency_conflict",
            Self::DuplicateLedgerAccount(_) => "ledger_account_exists",
            Self::OwnerMismatch { .. } => "ledger_owner_mismatch",
            Self::BadOverdraftLimit => "bad_overdraft_limit",
            Self::Overflow => "amount_out_of_range",
            Self::Parse(_) => "bad_value",
        }
    }
}

/// Which column a posting goes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub const fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }
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
    /// Cash over and short found when shifts are counted (expense when short).
    CashVariance,
    /// Rent and property fees charged and not yet paid (receivable), one per fee schedule; what each unit owes
    /// is in the schedule's charges.
    FeesReceivable,
    /// Rent and property fees earned, one per fee schedule.
    FeeRevenue,
    /// 集团财务 (due to / due from): one per set of books. A transfer that reaches more than one property's ledger
    /// accounts (a sale at the group's counter to a tenant of a property) is balanced within each property through
    /// this account, so that each property's books balance on their own: a debit balance is what the rest of the
    /// group owes the property (due from), a credit balance what it owes the rest of the group (due to). Across a
    /// group they sum to zero.
    InterProperty,
}

str_enum!(LedgerAccountKind, "ledger account kind", {
    CustomerWallet => "customer_wallet", CustomerArrears => "customer_arrears", CashDrawer => "cash_drawer",
    PaymentClearing => "payment_clearing", EnergyRevenue => "energy_revenue",
    FixedChargeRevenue => "fixed_charge_revenue", Tax => "tax", Refunds => "refunds", WriteOff => "write_off",
    LocalMeterCredit => "local_meter_credit", CashVariance => "cash_variance",
    FeesReceivable => "fees_receivable", FeeRevenue => "fee_revenue", InterProperty => "inter_property",
});

impl LedgerAccountKind {
    pub const ALL: [LedgerAccountKind; 14] = [
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
        Self::CashVariance,
        Self::FeesReceivable,
        Self::FeeRevenue,
        Self::InterProperty,
    ];

    pub const fn normal_side(&self) -> Side {
        match self {
            Self::CustomerArrears
            | Self::CashDrawer
            | Self::PaymentClearing
            | Self::WriteOff
            | Self::CashVariance
            | Self::FeesReceivable
            | Self::InterProperty => Side::Debit,
            Self::CustomerWallet
            | Self::EnergyRevenue
            | Self::FixedChargeRevenue
            | Self::Tax
            | Self::Refunds
            | Self::LocalMeterCredit
            | Self::FeeRevenue => Side::Credit,
        }
    }

    fn owner_kind(&self) -> &'static str {
        match self {
            Self::CustomerWallet | Self::CustomerArrears => "account",
            Self::CashDrawer => "shift",
            Self::PaymentClearing => "provider",
            Self::LocalMeterCredit => "meter",
            Self::FeesReceivable | Self::FeeRevenue => "fee_schedule",
            Self::EnergyRevenue
            | Self::FixedChargeRevenue
            | Self::Tax
            | Self::Refunds
            | Self::WriteOff
            | Self::CashVariance
            | Self::InterProperty => "none",
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
    FeeSchedule(FeeScheduleId),
}

impl Owner {
    fn kind(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Account(_) => "account",
            Self::Shift(_) => "shift",
            Self::Provider(_) => "provider",
            Self::Meter(_) => "meter",
            Self::FeeSchedule(_) => "fee_schedule",
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
            Self::FeeSchedule(id) => write!(f, "fee_schedule:{id}"),
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
            "fee_schedule" => Self::FeeSchedule(FeeScheduleId::from_uuid(uuid()?)),
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
        let postings = original.request.postings.iter().map(|p| Posting { side: p.side.opposite(), ..*p }).collect();
        Self {
            id,
            kind: TransferKind::Correction,
            currency: original.request.currency,
            postings,
            corrects: Some(original.request.id),
            memo: memo.to_string(),
        }
    }

    /// The request in canonical form: postings ordered by account, side and amount. Two requests are the
    /// same request exactly when their canonical forms are equal.
    pub fn canonical(&self) -> TransferRequest {
        let mut c = self.clone();
        c.postings.sort_unstable_by_key(|p| (p.account, p.side == Side::Credit, p.amount_minor));
        c
    }

    /// Whether `other` asks for the same transfer (postings in any order).
    pub fn same_request(&self, other: &TransferRequest) -> bool {
        self.id == other.id
            && self.kind == other.kind
            && self.currency == other.currency
            && self.corrects == other.corrects
            && self.memo == other.memo
            && self.postings.len() == other.postings.len()
            && self.canonical().postings == other.canonical().postings
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
        text::check("memo", &self.memo, Self::MEMO_LEN_MAX).map_err(LedgerError::Text)?;
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

/// How much of each line of a transfer its corrections have reversed so far, by ledger account.
type Reversed = HashMap<LedgerAccountId, i64>;

/// One change a book can undo.
#[derive(Debug, Clone)]
enum Undo {
    Balance(LedgerAccountId, Balance),
    Opened(LedgerAccountId),
    Posted(TransferId),
    Reversed { target: TransferId, account: LedgerAccountId, before_minor: i64 },
}

/// A point a book can be rolled back to (see [`LedgerBook::rollback`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Savepoint {
    journal: usize,
    last_seq: i64,
    new_accounts: usize,
    new_transfers: usize,
    dirty: usize,
}

/// What a book holds that storage has not yet written, in the order it must be written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookChanges {
    /// Accounts opened, with zero totals (their postings are in `balances`).
    pub accounts: Vec<LedgerAccount>,
    /// Transfers committed, in sequence order.
    pub transfers: Vec<Transfer>,
    /// Every account whose totals changed, with its new totals.
    pub balances: Vec<(LedgerAccountId, Balance)>,
}

impl BookChanges {
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.transfers.is_empty() && self.balances.is_empty()
    }
}

/// A view of (part of) the ledger on which transfers are posted by the rules above.
#[derive(Debug, Clone, Default)]
pub struct LedgerBook {
    accounts: HashMap<LedgerAccountId, (LedgerAccount, Balance)>,
    transfers: HashMap<TransferId, Transfer>,
    /// For each corrected transfer, what its corrections have reversed per account.
    reversed: HashMap<TransferId, Reversed>,
    last_seq: i64,
    journal: Vec<Undo>,
    new_accounts: Vec<LedgerAccountId>,
    new_transfers: Vec<TransferId>,
    dirty: Vec<LedgerAccountId>,
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
        self.journal.push(Undo::Opened(account.id));
        self.new_accounts.push(account.id);
        self.accounts.insert(account.id, (account, Balance::default()));
        Ok(())
    }

    /// Adds an account as loaded from storage with its cached totals.
    pub fn load_account(&mut self, account: LedgerAccount, balance: Balance) {
        self.accounts.insert(account.id, (account, balance));
    }

    /// Adds a transfer as loaded from storage, for idempotency checks and as a correction target.
    ///
    /// Whoever loads a transfer that may be corrected must also load every correction that references it:
    /// the book counts what is left to reverse from the corrections it has seen.
    pub fn load_transfer(&mut self, transfer: Transfer) {
        if self.transfers.contains_key(&transfer.request.id) {
            return;
        }
        if let Some(target) = transfer.request.corrects {
            let tally = self.reversed.entry(target).or_default();
            for p in &transfer.request.postings {
                *tally.entry(p.account).or_default() += p.amount_minor;
            }
        }
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

    /// What is left unreversed of each line of `target`, as (account, side of the original, amount).
    pub fn unreversed(&self, target: TransferId) -> Option<Vec<(LedgerAccountId, Side, i64)>> {
        let original = self.transfers.get(&target)?;
        let done = self.reversed.get(&target);
        Some(
            original
                .request
                .postings
                .iter()
                .map(|p| {
                    let reversed = done.and_then(|d| d.get(&p.account)).copied().unwrap_or(0);
                    (p.account, p.side, p.amount_minor - reversed)
                })
                .collect(),
        )
    }

    /// Posts one transfer at `at`. On error nothing changes.
    pub fn post(&mut self, request: TransferRequest, at: Timestamp) -> Result<PostOutcome, LedgerError> {
        if let Some(existing) = self.transfers.get(&request.id) {
            return if existing.request.same_request(&request) {
                Ok(PostOutcome::Replayed(existing.clone()))
            } else {
                Err(LedgerError::Conflict(request.id))
            };
        }
        request.validate()?;
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
            updates.push((p.account, *balance, balance.add(p.side, p.amount_minor)?));
        }
        let reversal = match request.corrects {
            Some(target) => Some(self.check_reversal(&request, target)?),
            None => None,
        };
        for ((_, before, after), p) in updates.iter().zip(&request.postings) {
            let Some((account, _)) = self.accounts.get(&p.account) else { continue };
            let side = account.kind.normal_side();
            if let Some(limit) = account.overdraft_limit_minor {
                let (was, will) = (before.normal(side), after.normal(side));
                if will < was && will < -limit {
                    return Err(LedgerError::InsufficientBalance {
                        account: account.id,
                        balance_minor: was,
                        limit_minor: limit,
                        needed_minor: p.amount_minor,
                    });
                }
            }
        }
        for (id, before, after) in updates {
            if let Some((_, balance)) = self.accounts.get_mut(&id) {
                *balance = after;
                self.journal.push(Undo::Balance(id, before));
                self.dirty.push(id);
            }
        }
        if let (Some(target), Some(lines)) = (request.corrects, reversal) {
            let tally = self.reversed.entry(target).or_default();
            for (account, amount) in lines {
                let before_minor = tally.get(&account).copied().unwrap_or(0);
                self.journal.push(Undo::Reversed { target, account, before_minor });
                tally.insert(account, before_minor + amount);
            }
        }
        self.last_seq += 1;
        let transfer = Transfer { request, seq: self.last_seq, posted_at: at };
        self.journal.push(Undo::Posted(transfer.request.id));
        self.new_transfers.push(transfer.request.id);
        self.transfers.insert(transfer.request.id, transfer.clone());
        Ok(PostOutcome::Committed(transfer))
    }

    /// Rule 4: the correction mirrors what is left of its target. Returns the amounts it reverses.
    fn check_reversal(
        &self,
        request: &TransferRequest,
        target: TransferId,
    ) -> Result<Vec<(LedgerAccountId, i64)>, LedgerError> {
        let original = self.transfers.get(&target).ok_or(LedgerError::CorrectedTransferNotFound(target))?;
        if original.request.kind == TransferKind::Correction {
            return Err(LedgerError::ReversalOfReversal(target));
        }
        if original.request.currency != request.currency {
            return Err(LedgerError::CorrectionCurrency { target });
        }
        let left = self.unreversed(target).unwrap_or_default();
        if left.iter().all(|(_, _, amount)| *amount <= 0) {
            return Err(LedgerError::AlreadyReversed(target));
        }
        let mut lines = Vec::with_capacity(request.postings.len());
        for p in &request.postings {
            let Some((_, side, left_minor)) = left.iter().find(|(account, _, _)| *account == p.account) else {
                return Err(LedgerError::NotMirror { target, account: p.account });
            };
            if *side != p.side.opposite() {
                return Err(LedgerError::NotMirror { target, account: p.account });
            }
            if p.amount_minor > *left_minor {
                return Err(LedgerError::ReversalExceedsOriginal {
                    target,
                    account: p.account,
                    asked_minor: p.amount_minor,
                    left_minor: *left_minor,
                });
            }
            lines.push((p.account, p.amount_minor));
        }
        Ok(lines)
    }

    /// A point to roll back to. Valid until the next [`LedgerBook::mark_written`].
    pub fn savepoint(&self) -> Savepoint {
        Savepoint {
            journal: self.journal.len(),
            last_seq: self.last_seq,
            new_accounts: self.new_accounts.len(),
            new_transfers: self.new_transfers.len(),
            dirty: self.dirty.len(),
        }
    }

    /// Undoes everything since `sp`: accounts opened, transfers posted and balances changed.
    pub fn rollback(&mut self, sp: Savepoint) {
        while self.journal.len() > sp.journal {
            let Some(undo) = self.journal.pop() else { break };
            match undo {
                Undo::Balance(id, before) => {
                    if let Some((_, balance)) = self.accounts.get_mut(&id) {
                        *balance = before;
                    }
                }
                Undo::Opened(id) => {
                    self.accounts.remove(&id);
                }
                Undo::Posted(id) => {
                    self.transfers.remove(&id);
                }
                Undo::Reversed { target, account, before_minor } => {
                    if let Some(tally) = self.reversed.get_mut(&target) {
                        tally.insert(account, before_minor);
                    }
                }
            }
        }
        self.last_seq = sp.last_seq;
        self.new_accounts.truncate(sp.new_accounts);
        self.new_transfers.truncate(sp.new_transfers);
        self.dirty.truncate(sp.dirty);
    }

    /// What storage has not yet written: exactly what it must write, in order.
    pub fn pending(&self) -> BookChanges {
        let accounts =
            self.new_accounts.iter().filter_map(|id| self.accounts.get(id).map(|(a, _)| a.clone())).collect();
        let transfers = self.new_transfers.iter().filter_map(|id| self.transfers.get(id).cloned()).collect();
        let mut seen = HashSet::with_capacity(self.dirty.len());
        let mut ids: Vec<LedgerAccountId> = self.dirty.iter().copied().filter(|id| seen.insert(*id)).collect();
        ids.sort_unstable();
        let balances = ids.into_iter().filter_map(|id| self.accounts.get(&id).map(|(_, b)| (id, *b))).collect();
        BookChanges { accounts, transfers, balances }
    }

    /// Records that everything [`LedgerBook::pending`] returned is written. Earlier savepoints become invalid.
    pub fn mark_written(&mut self) {
        self.journal.clear();
        self.new_accounts.clear();
        self.new_transfers.clear();
        self.dirty.clear();
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
        for (target, tally) in &self.reversed {
            for (account, side, left) in self.unreversed(*target).unwrap_or_default() {
                if left < 0 {
                    return Err(format!("transfer {target}: account {account} ({side}) reversed beyond the original"));
                }
            }
            if tally.values().any(|v| *v < 0) {
                return Err(format!("transfer {target}: negative reversal tally"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
