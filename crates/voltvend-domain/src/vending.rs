//! Where and by whom credit is sold: vending points (counters and channels) with their gapless receipt
//! numbers, cashier shifts with their cash drawers, and the books — the system ledger accounts of a property
//! into which sales and consumption are booked.

use jiff::Timestamp;
use thiserror::Error;

use crate::ids::{BooksId, LedgerAccountId, OperatorId, PremisesId, ShiftId, VendingPointId};
use crate::money::Currency;
use crate::text::{self, TextError};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VendingError {
    #[error("shift {0} is closed")]
    ShiftClosed(ShiftId),
    #[error("vending point {0} is disabled")]
    VendingPointDisabled(VendingPointId),
    #[error("receipt numbers of vending point {0} are exhausted")]
    ReceiptsExhausted(VendingPointId),
    #[error("an opening float or cash count cannot be negative")]
    NegativeCash,
    #[error(
        "vending point {point} has sold {outstanding_minor} since its last settlement; its credit limit is {limit_minor} (minor units)"
    )]
    CreditLimit { point: VendingPointId, limit_minor: i64, outstanding_minor: i64 },
    #[error("a settlement must be positive and at most what is outstanding ({outstanding_minor} minor units)")]
    BadSettlement { outstanding_minor: i64 },
    #[error("a credit limit cannot be negative")]
    NegativeLimit,
    #[error(transparent)]
    Text(#[from] TextError),
}

impl VendingError {
    pub const fn code(&self) -> &'static str {
        match self {
            Self::ShiftClosed(_) => "shift_closed",
            Self::VendingPointDisabled(_) => "vending_point_disabled",
            Self::ReceiptsExhausted(_) => "receipts_exhausted",
            Self::NegativeCash => "negative_cash",
            Self::CreditLimit { .. } => "vending_point_credit_limit",
            Self::BadSettlement { .. } => "bad_settlement",
            Self::NegativeLimit => "bad_limit",
            Self::Text(e) => e.code(),
        }
    }
}

/// A counter, kiosk or online channel. Every receipt it issues takes the next number, without gaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendingPoint {
    pub id: VendingPointId,
    pub premises_id: PremisesId,
    pub name: String,
    /// The currency it takes, and the books its cash variances are booked in.
    pub currency: Currency,
    pub books_id: BooksId,
    pub active: bool,
    /// The number of the last receipt issued here (0: none yet).
    pub last_receipt_no: i64,
    /// The most it may sell before it remits what it took (a sales agent's credit limit); `None`: no limit.
    pub credit_limit_minor: Option<i64>,
    /// What it has sold since its last settlement.
    pub outstanding_minor: i64,
}

impl VendingPoint {
    pub const NAME_LEN_MAX: usize = 120;

    pub fn new(
        id: VendingPointId,
        premises_id: PremisesId,
        name: &str,
        currency: Currency,
        books_id: BooksId,
    ) -> Result<Self, VendingError> {
        let name = text::required("vending point name", name, Self::NAME_LEN_MAX)?;
        Ok(Self {
            id,
            premises_id,
            name,
            currency,
            books_id,
            active: true,
            last_receipt_no: 0,
            credit_limit_minor: None,
            outstanding_minor: 0,
        })
    }

    /// Sets the credit limit.
    pub fn with_credit_limit(mut self, limit_minor: Option<i64>) -> Result<Self, VendingError> {
        if limit_minor.is_some_and(|l| l < 0) {
            return Err(VendingError::NegativeLimit);
        }
        self.credit_limit_minor = limit_minor;
        Ok(self)
    }

    /// Counts a sale of `paid_minor` against the credit limit; refuses one that would exceed it.
    pub fn take_sale(&mut self, paid_minor: i64) -> Result<(), VendingError> {
        let outstanding = self.outstanding_minor.saturating_add(paid_minor.max(0));
        if let Some(limit) = self.credit_limit_minor
            && outstanding > limit
        {
            return Err(VendingError::CreditLimit {
                point: self.id,
                limit_minor: limit,
                outstanding_minor: self.outstanding_minor,
            });
        }
        self.outstanding_minor = outstanding;
        Ok(())
    }

    /// A sale taken back (纠错): it no longer counts against the credit limit. What was already remitted
    /// stays remitted, so the outstanding amount never goes below zero.
    pub fn take_back(&mut self, paid_minor: i64) {
        self.outstanding_minor = self.outstanding_minor.saturating_sub(paid_minor.max(0)).max(0);
    }

    /// Records that `amount_minor` of what was sold has been remitted.
    pub fn settle(&mut self, amount_minor: i64) -> Result<(), VendingError> {
        if amount_minor <= 0 || amount_minor > self.outstanding_minor {
            return Err(VendingError::BadSettlement { outstanding_minor: self.outstanding_minor });
        }
        self.outstanding_minor -= amount_minor;
        Ok(())
    }

    /// Takes the next receipt number.
    pub fn next_receipt(&mut self) -> Result<i64, VendingError> {
        if !self.active {
            return Err(VendingError::VendingPointDisabled(self.id));
        }
        self.last_receipt_no = self.last_receipt_no.checked_add(1).ok_or(VendingError::ReceiptsExhausted(self.id))?;
        Ok(self.last_receipt_no)
    }
}

/// Open → Closed (交班结算), once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShiftStatus {
    Open,
    Closed,
}

crate::account::str_enum!(ShiftStatus, "shift status", { Open => "open", Closed => "closed" });

/// A cashier's shift at one vending point, with its own cash drawer in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub id: ShiftId,
    pub vending_point_id: VendingPointId,
    pub operator_id: OperatorId,
    /// The shift's cash-drawer ledger account.
    pub drawer: LedgerAccountId,
    pub opened_at: Timestamp,
    pub opening_float_minor: i64,
    pub status: ShiftStatus,
    pub closed_at: Option<Timestamp>,
    /// What the ledger says the drawer holds at the close (float plus cash taken).
    pub expected_minor: Option<i64>,
    /// What the cashier counted.
    pub counted_minor: Option<i64>,
    /// The count by denomination, when the cashier gave one: (face value in minor units, how many).
    pub denominations: Vec<(i64, i64)>,
}

impl Shift {
    pub fn open(
        id: ShiftId,
        vending_point_id: VendingPointId,
        operator_id: OperatorId,
        drawer: LedgerAccountId,
        at: Timestamp,
        opening_float_minor: i64,
    ) -> Result<Self, VendingError> {
        if opening_float_minor < 0 {
            return Err(VendingError::NegativeCash);
        }
        Ok(Self {
            id,
            vending_point_id,
            operator_id,
            drawer,
            opened_at: at,
            opening_float_minor,
            status: ShiftStatus::Open,
            closed_at: None,
            expected_minor: None,
            counted_minor: None,
            denominations: Vec::new(),
        })
    }

    pub fn ensure_open(&self) -> Result<(), VendingError> {
        match self.status {
            ShiftStatus::Open => Ok(()),
            ShiftStatus::Closed => Err(VendingError::ShiftClosed(self.id)),
        }
    }

    /// Closes the shift with the cash counted; returns the variance (counted − expected; negative: short).
    pub fn close(&mut self, at: Timestamp, expected_minor: i64, counted_minor: i64) -> Result<i64, VendingError> {
        self.ensure_open()?;
        if counted_minor < 0 {
            return Err(VendingError::NegativeCash);
        }
        self.status = ShiftStatus::Closed;
        self.closed_at = Some(at);
        self.expected_minor = Some(expected_minor);
        self.counted_minor = Some(counted_minor);
        Ok(counted_minor - expected_minor)
    }
}

/// The system ledger accounts of one property in one currency: where sales and consumption are booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Books {
    pub id: BooksId,
    pub premises_id: PremisesId,
    pub currency: Currency,
    pub energy_revenue: LedgerAccountId,
    pub fixed_charge_revenue: LedgerAccountId,
    pub tax: LedgerAccountId,
    pub refunds: LedgerAccountId,
    pub write_off: LedgerAccountId,
    pub cash_variance: LedgerAccountId,
    /// Card and bank-transfer payments taken at the counter, owed by the bank until it settles.
    pub card_clearing: LedgerAccountId,
    pub transfer_clearing: LedgerAccountId,
}

impl Books {
    /// Every ledger account of the books.
    pub fn ledger_accounts(&self) -> [LedgerAccountId; 8] {
        [
            self.energy_revenue,
            self.fixed_charge_revenue,
            self.tax,
            self.refunds,
            self.write_off,
            self.cash_variance,
            self.card_clearing,
            self.transfer_clearing,
        ]
    }

    /// 集团财务: the books' inter-property account (due to / due from the rest of the group). Its id is the books'
    /// own, so that books opened before it existed could be given one by a migration without computing an id.
    pub fn inter_property(&self) -> LedgerAccountId {
        LedgerAccountId::from_uuid(self.id.as_uuid())
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn receipts_are_numbered_and_shifts_close_once() {
        let vp_id = VendingPointId::from_uuid(Uuid::from_u128(1));
        let books = BooksId::from_uuid(Uuid::from_u128(9));
        let premises = PremisesId::from_uuid(Uuid::from_u128(2));
        let mut vp = VendingPoint::new(vp_id, premises, " Counter 1 ", Currency::CNY, books).unwrap();
        assert_eq!(vp.name, "Counter 1");
        assert_eq!((vp.next_receipt(), vp.next_receipt()), (Ok(1), Ok(2)));
        vp.active = false;
        assert_eq!(vp.next_receipt(), Err(VendingError::VendingPointDisabled(vp_id)));
        assert!(VendingPoint::new(vp_id, premises, "C\u{7}", Currency::CNY, books).is_err());
        let mut agent = VendingPoint::new(vp_id, premises, "Agent", Currency::CNY, books)
            .unwrap()
            .with_credit_limit(Some(10_000))
            .unwrap();
        agent.take_sale(6_000).unwrap();
        assert!(matches!(agent.take_sale(4_001), Err(VendingError::CreditLimit { outstanding_minor: 6_000, .. })));
        agent.take_sale(4_000).unwrap();
        assert!(agent.settle(10_001).is_err() && agent.settle(0).is_err());
        agent.settle(7_000).unwrap();
        assert_eq!(agent.outstanding_minor, 3_000);
        agent.take_sale(7_000).unwrap();

        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let sid = ShiftId::from_uuid(Uuid::from_u128(3));
        let drawer = LedgerAccountId::from_uuid(Uuid::from_u128(4));
        let op = OperatorId::from_uuid(Uuid::from_u128(5));
        assert_eq!(Shift::open(sid, vp_id, op, drawer, at, -1), Err(VendingError::NegativeCash));
        let mut shift = Shift::open(sid, vp_id, op, drawer, at, 10_000).unwrap();
        shift.ensure_open().unwrap();
        assert_eq!(shift.close(at, 25_000, 24_950), Ok(-50));
        assert_eq!(shift.close(at, 25_000, 25_000), Err(VendingError::ShiftClosed(sid)));
        assert_eq!(shift.ensure_open().unwrap_err().code(), "shift_closed");
    }
}
