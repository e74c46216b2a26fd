//! 房租 / 物业费: rent and property fees, charged per unit each month, and what an overdue one does to the
//! unit's energy purchases.
//!
//! A fee schedule charges every occupied unit of a site the same amount a month ([`FeeBasis::PerUnit`]), or an
//! amount per square metre of the unit's floor area ([`FeeBasis::PerSquareMetre`]). A per-m² charge is the
//! rate times the area in square decimetres ÷ 100, rounded to the nearest minor unit with halves rounded up
//! ([`charge_minor`]): the figure a tenant checks with a calculator.
//!
//! A charge is overdue the day after its due date while any of it is unpaid. What that does to the account's
//! energy purchases is the property's [`OverduePolicy`]:
//!
//! * [`OverduePolicy::Nothing`]: nothing; the fees are collected on their own.
//! * [`OverduePolicy::BlockSales`]: no energy is sold to the account until the overdue fees are paid. Supply
//!   is never cut for unpaid rent: a prepaid meter runs on the credit it has, and the customer may pay the fees
//!   at the counter at any time.
//! * [`OverduePolicy::ShareOfPurchase`]: a share of each energy purchase pays the overdue fees first (never
//!   more than is overdue), like arrears recovery.
//!
//! Whether blocking sales for unpaid rent is lawful depends on the jurisdiction and the lease; the operator
//! chooses the policy (docs/fees.md).
//!
//! 后付费账单: a postpaid billing cycle is a schedule of basis [`FeeBasis::Postpaid`]. Its rate is the monthly
//! standing charge (which may be zero), and each month's charge of a postpaid account adds what the account
//! used since its last bill (its consumption was priced reading by reading, blocks and TOU exactly as for a
//! prepaid account, and owed as arrears) less the credit its wallet held: the bill (docs/bills.md). Rent falls
//! due on its day of the month charged; a bill, on its day of the month after.
//!
//! A late fee ([`late_fee_minor`]) is a share of what a charge still owes when its month is dunned after the
//! due date, rounded to the minor unit with halves up, charged once.

use crate::account::str_enum;

/// How a schedule's monthly charge is reckoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeeBasis {
    /// The same amount for every unit.
    PerUnit,
    /// The rate per m² times the unit's floor area.
    PerSquareMetre,
    /// A postpaid bill: the rate is the standing charge, to which the account's usage is added.
    Postpaid,
}

str_enum!(FeeBasis, "fee basis", { PerUnit => "per_unit", PerSquareMetre => "per_m2", Postpaid => "postpaid" });

impl FeeBasis {
    /// The smallest rate a schedule of this basis may have: a standing charge may be zero.
    pub const fn rate_minor_min(&self) -> i64 {
        match self {
            Self::Postpaid => 0,
            _ => 1,
        }
    }
}

/// What an overdue fee does to the account's energy purchases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OverduePolicy {
    Nothing,
    BlockSales,
    /// This many basis points (1/100 of a percent) of each purchase pay the overdue fees first.
    ShareOfPurchase {
        share_bp: i64,
    },
}

impl OverduePolicy {
    /// The largest share: all of the purchase.
    pub const SHARE_BP_MAX: i64 = 10_000;

    /// The stored name of the policy (its share is kept beside it).
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Nothing => "nothing",
            Self::BlockSales => "block_sales",
            Self::ShareOfPurchase { .. } => "share_of_purchase",
        }
    }

    /// The share in basis points (0 unless the policy takes a share).
    pub const fn share_bp(&self) -> i64 {
        match self {
            Self::ShareOfPurchase { share_bp } => *share_bp,
            _ => 0,
        }
    }

    /// The policy from its name and share; `None` when the name is unknown or the share is out of range
    /// (1–10 000 basis points for a share, 0 otherwise).
    pub fn from_parts(name: &str, share_bp: i64) -> Option<Self> {
        match (name, share_bp) {
            ("nothing", 0) => Some(Self::Nothing),
            ("block_sales", 0) => Some(Self::BlockSales),
            ("share_of_purchase", bp) if (1..=Self::SHARE_BP_MAX).contains(&bp) => {
                Some(Self::ShareOfPurchase { share_bp: bp })
            }
            _ => None,
        }
    }
}

/// A month's charge for a unit, in minor units; `None` when a per-m² unit has no floor area or the amount is
/// out of range.
pub fn charge_minor(basis: FeeBasis, rate_minor: i64, floor_area_dm2: Option<i64>) -> Option<i64> {
    match basis {
        FeeBasis::PerUnit | FeeBasis::Postpaid => Some(rate_minor),
        FeeBasis::PerSquareMetre => {
            let area = floor_area_dm2.filter(|a| *a > 0)?;
            // rate × m² = rate × dm² ÷ 100, halves up (both are positive).
            let exact = i128::from(rate_minor) * i128::from(area);
            i64::try_from((exact + 50) / 100).ok()
        }
    }
}

/// The late fee on `outstanding_minor` at `late_fee_bp` basis points: rounded to the minor unit, halves up;
/// zero when nothing is outstanding or there is no rule.
pub fn late_fee_minor(outstanding_minor: i64, late_fee_bp: i64) -> i64 {
    if outstanding_minor <= 0 || late_fee_bp <= 0 {
        return 0;
    }
    let exact = i128::from(outstanding_minor) * i128::from(late_fee_bp.min(OverduePolicy::SHARE_BP_MAX));
    i64::try_from((exact + 5_000) / 10_000).unwrap_or(i64::MAX)
}

/// What a purchase of `paid_minor` pays towards `overdue_minor` of fees at `share_bp`: the share rounded down
/// to the minor unit, never more than is overdue.
pub fn share_taken(paid_minor: i64, overdue_minor: i64, share_bp: i64) -> i64 {
    if paid_minor <= 0 || overdue_minor <= 0 || share_bp <= 0 {
        return 0;
    }
    let share = i128::from(paid_minor) * i128::from(share_bp.min(OverduePolicy::SHARE_BP_MAX)) / 10_000;
    i64::try_from(share).unwrap_or(i64::MAX).min(overdue_minor)
}

/// The smallest payment that leaves at least `rest_minor` after [`share_taken`]: what a customer who asks for
/// a quantity pays when a share of the purchase goes to overdue fees. `None` when it is out of range.
pub fn payment_leaving(rest_minor: i64, overdue_minor: i64, share_bp: i64) -> Option<i64> {
    let left = |p: i64| p - share_taken(p, overdue_minor, share_bp);
    // What is left grows with the payment (by 0 or 1 a minor unit), and paying the whole overdue on top leaves
    // at least `rest_minor`: search between.
    let (mut lo, mut hi) = (rest_minor.max(0), rest_minor.max(0).checked_add(overdue_minor.max(0))?);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if left(mid) >= rest_minor { hi = mid } else { lo = mid + 1 }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn per_m2_charges_round_halves_up() {
        // 3.50 a m² on 85.50 m²: 299.25 exactly.
        assert_eq!(charge_minor(FeeBasis::PerSquareMetre, 350, Some(8_550)), Some(29_925));
        // 2.15 a m² on 62.25 m² = 133.8375 → 133.84; 1.01 on 0.50 m² = 0.505 → 0.51 (a half rounds up).
        assert_eq!(charge_minor(FeeBasis::PerSquareMetre, 215, Some(6_225)), Some(13_384));
        assert_eq!(charge_minor(FeeBasis::PerSquareMetre, 101, Some(50)), Some(51));
        assert_eq!(charge_minor(FeeBasis::PerSquareMetre, 101, Some(49)), Some(49));
        assert_eq!(charge_minor(FeeBasis::PerSquareMetre, 350, None), None);
        assert_eq!(charge_minor(FeeBasis::PerSquareMetre, 350, Some(0)), None);
        assert_eq!(charge_minor(FeeBasis::PerUnit, 180_000, None), Some(180_000));
        assert_eq!(charge_minor(FeeBasis::PerSquareMetre, i64::MAX, Some(i64::MAX)), None);
    }

    #[test]
    fn late_fees_round_halves_up() {
        // 5 % of 299.25 = 14.9625 → 14.96; 5 % of 0.10 = 0.005 → 0.01; 5 % of 0.09 = 0.0045 → 0.00.
        assert_eq!(late_fee_minor(29_925, 500), 1_496);
        assert_eq!(late_fee_minor(10, 500), 1);
        assert_eq!(late_fee_minor(9, 500), 0);
        assert_eq!(late_fee_minor(0, 500), 0);
        assert_eq!(late_fee_minor(29_925, 0), 0);
        assert_eq!(late_fee_minor(29_925, 10_000), 29_925);
        assert_eq!(charge_minor(FeeBasis::Postpaid, 0, None), Some(0));
        assert_eq!("postpaid".parse::<FeeBasis>(), Ok(FeeBasis::Postpaid));
    }

    #[test]
    fn a_share_is_rounded_down_and_capped_by_what_is_overdue() {
        assert_eq!(share_taken(10_000, 50_000, 3_000), 3_000);
        assert_eq!(share_taken(333, 50_000, 3_000), 99); // 99.9 → 99
        assert_eq!(share_taken(10_000, 1_200, 3_000), 1_200);
        assert_eq!(share_taken(10_000, 0, 3_000), 0);
        assert_eq!(share_taken(10_000, 5_000, 10_000), 5_000);
        // 100.00 left after a 30 % share: 142.85 pays 42.85 (42.855 rounded down) and leaves 100.00; 142.84
        // pays 42.85 too and leaves 99.99.
        assert_eq!(payment_leaving(10_000, 50_000, 3_000), Some(14_285));
        assert_eq!(payment_leaving(10_000, 1_200, 3_000), Some(11_200));
        assert_eq!(payment_leaving(10_000, 0, 3_000), Some(10_000));
        assert_eq!(payment_leaving(10_000, 5_000, 10_000), Some(15_000));
    }

    #[test]
    fn policies_round_trip_through_their_parts() {
        for p in [OverduePolicy::Nothing, OverduePolicy::BlockSales, OverduePolicy::ShareOfPurchase { share_bp: 2_500 }]
        {
            assert_eq!(OverduePolicy::from_parts(p.name(), p.share_bp()), Some(p));
        }
        assert_eq!(OverduePolicy::from_parts("share_of_purchase", 0), None);
        assert_eq!(OverduePolicy::from_parts("share_of_purchase", 10_001), None);
        assert_eq!(OverduePolicy::from_parts("block_sales", 5), None);
        assert_eq!(OverduePolicy::from_parts("cut_supply", 0), None);
    }

    proptest! {
        #[test]
        fn the_payment_found_is_the_smallest_that_leaves_the_rest(
            rest in 0_i64..10_000_000,
            overdue in 0_i64..10_000_000,
            bp in 1_i64..=10_000,
        ) {
            let p = payment_leaving(rest, overdue, bp).unwrap();
            prop_assert!(p - share_taken(p, overdue, bp) >= rest);
            if p > 0 {
                prop_assert!(p - 1 - share_taken(p - 1, overdue, bp) < rest);
            }
            let s = share_taken(p, overdue, bp);
            prop_assert!(s >= 0 && s <= overdue && s <= p);
        }
    }
}
