//! 公摊: the common areas' energy of a building or park shared among its units, exactly.
//!
//! A parent meter (the building's incomer, a transformer's low-voltage side) measures what the whole site drew;
//! the units' own meters and the common-area meters (public lighting, lifts, pumps) measure parts of it. Over a
//! period:
//!
//! * the **line loss** is what the parent measured and no child did: `parent − units − common` (negative when
//!   the children measured more than the parent, which is a wiring, ratio or reading fault to look into);
//! * the **pool** is what is shared: either the common-area meters' consumption alone ([`Pool::Common`]), or
//!   everything the parent measured beyond the units' own meters ([`Pool::CommonAndLoss`]: common areas and
//!   line loss together, `parent − units`);
//! * the pool is valued at the rule's price, rounded down to the minor unit (a fraction of a cent is never
//!   charged), and that amount is split among the units by a [`Basis`]: floor area, the units' own consumption
//!   in the period, or equally.
//!
//! The split is exact: the shares add up to the amount to the minor unit. Each unit first gets the whole minor
//! units of its exact share (`amount × weight ÷ total weight`, rounded down); the minor units left over (fewer
//! than the number of units) go one each to the units with the largest fractions cut off, ties going to the
//! larger weight and then to the unit that comes first in the caller's order (largest remainder, Hamilton's
//! method). No unit's share differs from its exact share by a whole minor unit or more.

use crate::account::str_enum;

/// What a unit's share is in proportion to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basis {
    /// The unit's floor area (按面积).
    FloorArea,
    /// What the unit's own meters measured in the period (按用量).
    Consumption,
    /// The same for every unit (均摊).
    Equal,
}

str_enum!(Basis, "apportionment basis", {
    FloorArea => "floor_area", Consumption => "consumption", Equal => "equal",
});

/// What is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pool {
    /// The common-area meters' consumption.
    Common,
    /// What the parent meter measured beyond the units' own meters: the common areas and the line loss.
    CommonAndLoss,
}

str_enum!(Pool, "apportionment pool", { Common => "common", CommonAndLoss => "common_and_loss" });

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApportionError {
    #[error("the pool {0} needs a parent meter")]
    NeedsParent(Pool),
    #[error("a weight is negative")]
    NegativeWeight,
    #[error("the shares have no basis: every unit's weight is zero")]
    NoBasis,
    #[error("the amounts are too large")]
    Overflow,
}

/// A period's figures, in milli-units of the utility (Wh, litres).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub parent_milli: Option<i64>,
    pub units_milli: i64,
    pub common_milli: i64,
    /// `parent − units − common`, when there is a parent meter.
    pub loss_milli: Option<i64>,
    /// The pool as measured: negative when the units (or the common meters) measured more than was drawn.
    pub pool_milli: i64,
}

impl Figures {
    /// The period's figures from what each group of meters measured. Refuses a pool that needs a parent meter
    /// without one.
    pub fn new(
        pool: Pool,
        parent_milli: Option<i64>,
        units_milli: i64,
        common_milli: i64,
    ) -> Result<Self, ApportionError> {
        let loss_milli = match parent_milli {
            Some(p) => Some(
                p.checked_sub(units_milli).and_then(|x| x.checked_sub(common_milli)).ok_or(ApportionError::Overflow)?,
            ),
            None => None,
        };
        let pool_milli = match pool {
            Pool::Common => common_milli,
            Pool::CommonAndLoss => parent_milli
                .ok_or(ApportionError::NeedsParent(pool))?
                .checked_sub(units_milli)
                .ok_or(ApportionError::Overflow)?,
        };
        Ok(Self { parent_milli, units_milli, common_milli, loss_milli, pool_milli })
    }

    /// What is shared: the pool, or nothing when it is zero or negative (there is nothing to share when the
    /// units measured at least as much as the parent).
    pub fn shared_milli(&self) -> i64 {
        self.pool_milli.max(0)
    }

    /// The line loss as a share of what the parent measured, in hundredths of a percent (basis points), when
    /// both are known and the parent measured something.
    pub fn loss_bp(&self) -> Option<i64> {
        let (parent, loss) = (self.parent_milli?, self.loss_milli?);
        if parent <= 0 {
            return None;
        }
        i64::try_from(i128::from(loss) * 10_000 / i128::from(parent)).ok()
    }
}

/// Splits `total` (≥ 0) in proportion to `weights` (each ≥ 0, not all zero) by the largest remainder, in the
/// order given: see the module's documentation for the rule. The result has one share per weight and adds up
/// to `total` exactly.
pub fn split(total: i64, weights: &[i64]) -> Result<Vec<i64>, ApportionError> {
    if total < 0 || weights.iter().any(|w| *w < 0) {
        return Err(ApportionError::NegativeWeight);
    }
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum == 0 {
        return Err(ApportionError::NoBasis);
    }
    let total_wide = i128::from(total);
    let mut shares = Vec::with_capacity(weights.len());
    let mut cut = Vec::with_capacity(weights.len());
    for w in weights {
        let exact = total_wide * i128::from(*w);
        shares.push(exact / sum);
        cut.push(exact % sum);
    }
    let given: i128 = shares.iter().sum();
    let left = usize::try_from(total_wide - given).map_err(|_| ApportionError::Overflow)?;
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| {
        let key = |i: &usize| (cut.get(*i).copied().unwrap_or(0), weights.get(*i).copied().unwrap_or(0));
        key(b).cmp(&key(a)).then(a.cmp(b))
    });
    for i in order.into_iter().take(left) {
        if let Some(s) = shares.get_mut(i) {
            *s += 1;
        }
    }
    shares.into_iter().map(|s| i64::try_from(s).map_err(|_| ApportionError::Overflow)).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_minor_units_left_go_to_the_largest_fractions() {
        // 100 among areas 1:1:1 → 33.33 each; one cent left, to the first in order (equal fractions, equal
        // weights).
        assert_eq!(split(100, &[1, 1, 1]).unwrap(), vec![34, 33, 33]);
        // 1000 by 85.50 m², 62.25 m², 120.00 m²: exact 319.33, 232.49, 448.17 → 319, 232, 448 with one left,
        // to the largest fraction (0.49 of the second).
        assert_eq!(split(1000, &[8550, 6225, 12000]).unwrap(), vec![319, 233, 448]);
        // Equal fractions: the larger weight first.
        assert_eq!(split(1, &[1, 3, 1, 3]).unwrap(), vec![0, 1, 0, 0]);
        assert_eq!(split(0, &[5, 7]).unwrap(), vec![0, 0]);
        assert_eq!(split(7, &[0, 2]).unwrap(), vec![0, 7]);
    }

    #[test]
    fn refusals() {
        assert_eq!(split(10, &[0, 0]), Err(ApportionError::NoBasis));
        assert_eq!(split(10, &[]), Err(ApportionError::NoBasis));
        assert_eq!(split(10, &[1, -1]), Err(ApportionError::NegativeWeight));
        assert_eq!(split(-1, &[1]), Err(ApportionError::NegativeWeight));
    }

    #[test]
    fn figures_and_loss() {
        let f = Figures::new(Pool::CommonAndLoss, Some(10_000), 7_000, 2_500).unwrap();
        assert_eq!((f.loss_milli, f.pool_milli, f.loss_bp()), (Some(500), 3_000, Some(500)));
        let f = Figures::new(Pool::Common, Some(10_000), 7_000, 2_500).unwrap();
        assert_eq!(f.pool_milli, 2_500);
        let f = Figures::new(Pool::Common, None, 7_000, 2_500).unwrap();
        assert_eq!((f.loss_milli, f.loss_bp()), (None, None));
        // Children above the parent: a negative loss is reported, and only the common meters can be shared.
        let f = Figures::new(Pool::Common, Some(9_000), 7_000, 2_500).unwrap();
        assert_eq!(f.loss_milli, Some(-500));
        let f = Figures::new(Pool::CommonAndLoss, Some(6_000), 7_000, 0).unwrap();
        assert_eq!((f.pool_milli, f.shared_milli(), f.loss_milli), (-1_000, 0, Some(-1_000)));
        assert_eq!(
            Figures::new(Pool::CommonAndLoss, None, 1, 1),
            Err(ApportionError::NeedsParent(Pool::CommonAndLoss))
        );
    }

    proptest! {
        #[test]
        fn shares_add_up_and_stay_within_a_minor_unit(
            total in 0_i64..1_000_000_000_000,
            weights in prop::collection::vec(0_i64..10_000_000, 1..40),
        ) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let shares = split(total, &weights).unwrap();
            prop_assert_eq!(shares.len(), weights.len());
            prop_assert_eq!(shares.iter().sum::<i64>(), total);
            let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
            for (s, w) in shares.iter().zip(&weights) {
                // |share − total·w/W| < 1, in integers: |share·W − total·w| < W.
                let diff = i128::from(*s) * sum - i128::from(total) * i128::from(*w);
                prop_assert!(diff.abs() < sum, "share {} of weight {} off by {}/{}", s, w, diff, sum);
                prop_assert!(*s >= 0);
            }
        }

        #[test]
        fn a_larger_weight_never_gets_less(
            total in 0_i64..1_000_000_000,
            weights in prop::collection::vec(0_i64..100_000, 2..20),
        ) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let shares = split(total, &weights).unwrap();
            for (i, a) in weights.iter().enumerate() {
                for (j, b) in weights.iter().enumerate() {
                    if a > b {
                        prop_assert!(shares[i] >= shares[j]);
                    }
                }
            }
        }

        #[test]
        fn reordering_the_units_moves_only_tied_minor_units(
            total in 0_i64..1_000_000,
            weights in prop::collection::vec(1_i64..1_000, 2..12),
        ) {
            // The split of a permutation is the permutation of the split, except that a leftover minor unit
            // between units of equal weight and equal fraction goes to whichever comes first.
            let shares = split(total, &weights).unwrap();
            let mut reversed_w = weights.clone();
            reversed_w.reverse();
            let mut reversed = split(total, &reversed_w).unwrap();
            reversed.reverse();
            for ((a, b), w) in shares.iter().zip(&reversed).zip(&weights) {
                let tied = weights.iter().filter(|x| *x == w).count() > 1;
                prop_assert!(a == b || (tied && (a - b).abs() == 1));
            }
        }
    }
}
