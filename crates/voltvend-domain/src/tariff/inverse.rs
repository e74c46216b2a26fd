//! Inverse pricing: what a payment buys now, as a cashier must show before printing a token.
//!
//! The payment is split in order: arrears recovery (a share of the payment or a fixed amount, never more than
//! is owed), fees due, then energy. The energy money buys the largest quantity, in the TOU period in force
//! (or a named vend period), whose forward price from the account's pricing state — free basic units left,
//! block position, taxes, the carried remainder, exactly as readings are priced — fits the money. What does
//! not buy a whole milli-unit stays as unspent credit. Buying the quoted units costs, by forward pricing,
//! exactly the quoted energy money, and one more milli-unit would cost more than the money.

use jiff::Timestamp;

use super::pricing::{
    Charge, ChargeLine, FREE_UNITS_LABEL, PricingError, PricingState, included_label, price_purchase,
};
use super::{BlockMode, FEMTO_PER_MAJOR, Tariff};

/// How arrears are recovered from a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrearsRecovery {
    None,
    /// A share of each payment, in ppm (250 000 = 25 %).
    Share(i64),
    /// A fixed amount per payment, in minor units.
    Fixed(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub paid_minor: i64,
    pub arrears_owed_minor: i64,
    pub recovery: ArrearsRecovery,
    pub fees_due_minor: i64,
    pub at: Timestamp,
    /// The TOU period to vend at; by default the one in force at `at`.
    pub period: Option<String>,
    /// Buy at most this many milli-units (a token that can only carry certain amounts, or a purchase by
    /// energy: "100 kWh"); what the cap leaves unspent stays as credit.
    pub max_quantity_milli: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPurchase {
    pub block: Option<usize>,
    pub quantity_milli: i64,
    pub unit_price_micro: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub arrears_minor: i64,
    pub fees_minor: i64,
    /// Money converted into units, tax included, in minor units: the forward price of the units, floored as
    /// forward pricing floors it (the rest of a minor unit is carried in `state`).
    pub energy_minor: i64,
    /// The exact cost of the units bought, tax included, in 10⁻¹⁵ major units.
    pub energy_femto: i128,
    /// The exclusive tax within `energy_minor` (floored).
    pub tax_minor: i64,
    /// Taxes already included in the prices, within `energy_minor` (floored); reported, not added.
    pub tax_included_minor: i64,
    pub quantity_milli: i64,
    /// Of `quantity_milli`, the free basic units (lifeline) the account had left.
    pub free_milli: i64,
    /// The units by block (free units included in the blocks they fill, as forward pricing counts them).
    pub blocks: Vec<BlockPurchase>,
    /// The forward charge of the units bought, itemised exactly as pricing readings itemises it.
    pub lines: Vec<ChargeLine>,
    /// Paid money not converted (less than one milli-unit's price): kept as wallet credit.
    pub unspent_minor: i64,
    pub period: String,
    /// The account's pricing state once the units bought are counted in its block period.
    pub state: PricingState,
}

/// How a payment is split before anything is converted into units: arrears recovery (a share or a fixed
/// amount, never more than owed nor than paid), then fees due, then the rest. Returns
/// `(arrears_minor, fees_minor, rest_minor)`; the three always sum to `paid_minor`.
pub fn split_payment(
    paid_minor: i64,
    arrears_owed_minor: i64,
    recovery: ArrearsRecovery,
    fees_due_minor: i64,
) -> (i64, i64, i64) {
    let paid = paid_minor.max(0);
    let arrears = match recovery {
        ArrearsRecovery::None => 0,
        // ppm × paid fits in i128; the result is at most `paid`.
        ArrearsRecovery::Share(ppm) => (i128::from(paid) * i128::from(ppm.clamp(0, 1_000_000)) / 1_000_000) as i64,
        ArrearsRecovery::Fixed(minor) => minor.max(0),
    }
    .min(arrears_owed_minor.max(0))
    .min(paid);
    let fees = fees_due_minor.max(0).min(paid - arrears);
    (arrears, fees, paid - arrears - fees)
}

/// The pricing state a quote starts from when all that is known is how much has been used so far in the block
/// period in force at `at` (for a quote made outside the system, where no stored state exists). Free basic
/// units that restart with the blocks count as used by that much.
pub fn state_at_position(
    tariff: &Tariff,
    at: Timestamp,
    block_position_milli: i64,
) -> Result<PricingState, PricingError> {
    if block_position_milli < 0 {
        return Err(PricingError::Unsupported("a block position cannot be negative"));
    }
    let version = tariff.version_at(at).ok_or(PricingError::NoVersion(at))?;
    let date = at.to_zoned(tariff.time_zone.clone()).date();
    let block_key = version.blocks.as_ref().map(|b| super::pricing::period_key(b.period, date));
    // Free basic units are the first units of their period, so when they restart with the blocks, what has
    // been used so far used them first.
    let same_period = version.blocks.as_ref().is_none_or(|b| b.period == version.free_period);
    let (free_key, free_used_milli) = if version.free_milli > 0 && same_period {
        (Some(super::pricing::period_key(version.free_period, date)), block_position_milli.min(version.free_milli))
    } else {
        (None, 0)
    };
    Ok(PricingState { block_key, block_position_milli, free_key, free_used_milli, ..PricingState::default() })
}

/// The most a search for the quantity a payment buys looks at, in milli-units (10⁹ kWh or m³): a price of zero
/// from some quantity on would otherwise let a payment buy without end.
pub const QUANTITY_MAX_MILLI: i64 = 1_000_000_000_000;

/// What a payment buys now: the largest quantity whose forward price ([`price_purchase`], the same rules as
/// pricing readings: free basic units, blocks, taxes, a month's minimum, the carried remainder) from `state`
/// is at most the money left after arrears and fees. The energy money is that forward price, so buying the
/// quoted units costs exactly it and leaves the forward state's remainder carried; one more milli-unit would
/// cost more than the money.
pub fn quote(tariff: &Tariff, state: &PricingState, p: &Purchase) -> Result<Quote, PricingError> {
    if p.paid_minor < 0 || p.arrears_owed_minor < 0 || p.fees_due_minor < 0 {
        return Err(PricingError::Unsupported("amounts cannot be negative"));
    }
    let version = tariff.version_at(p.at).ok_or(PricingError::NoVersion(p.at))?;
    let period = match &p.period {
        Some(name) => tariff.period_index(version, name).ok_or_else(|| PricingError::UnknownRegister(name.clone()))?,
        None => version.calendar.as_ref().map_or(0, |c| c.period_at(p.at)),
    };
    if p.max_quantity_milli.is_some_and(|q| q < 0) {
        return Err(PricingError::Unsupported("a quantity cap cannot be negative"));
    }
    if let Some(b) = &version.blocks
        && b.mode == BlockMode::WholeVolume
        && let Some((i, pair)) =
            b.blocks.windows(2).enumerate().find(|(_, w)| matches!(w, [x, y] if y.adder(0) < x.adder(0)))
        && let [lower, higher] = pair
    {
        // Crossing into a cheaper block re-prices the period's earlier units down, so more units can cost
        // less: no single largest quantity a payment buys. Say so in the tariff's own terms.
        let price = |block: &super::Block| super::decimal_micro(version.price_micro(period, None) + block.adder(0));
        return Err(PricingError::NotInvertible(format!(
            "block {} prices every unit of the {} at {} once its use passes {}, less than block {}'s {}: with \
             whole-volume blocks buying more can cost less, so a payment has no single quantity it buys; price \
             the use as readings instead",
            i + 2,
            if b.period == super::BlockPeriod::Annual { "year" } else { "month" },
            price(higher),
            super::decimal_milli(lower.up_to_milli.unwrap_or(0)),
            i + 1,
            price(lower),
        )));
    }
    let (arrears, fees, money) = split_payment(p.paid_minor, p.arrears_owed_minor, p.recovery, p.fees_due_minor);
    let cost = |q: i64| price_purchase(tariff, state, p.at, period, q);
    // Whether `q` milli-units fit the money; a price beyond the range of money does not.
    let fits = |q: i64| -> Result<Option<Charge>, PricingError> {
        match cost(q) {
            Ok(c) if c.total.amount_minor() <= money => Ok(Some(c)),
            Ok(_) | Err(PricingError::Overflow) => Ok(None),
            Err(e) => Err(e),
        }
    };
    let cap = p.max_quantity_milli.unwrap_or(QUANTITY_MAX_MILLI).min(QUANTITY_MAX_MILLI);
    // Forward prices never fall as the quantity grows (prices are not negative, and falling whole-volume
    // blocks are refused above), so the quantity bought is found by doubling, then bisection between a
    // quantity that fits (`lo`) and one that does not (`hi`).
    let quantity = match fits(0)? {
        None => 0,
        Some(_) if fits(cap)?.is_some() => {
            if p.max_quantity_milli.is_none() {
                return Err(PricingError::Unsupported(
                    "the price is zero from here on; a payment would buy without limit",
                ));
            }
            cap
        }
        Some(_) => {
            let (mut lo, mut hi) = (0_i64, 1_000_i64.min(cap));
            while fits(hi)?.is_some() {
                lo = hi;
                hi = hi.saturating_mul(2).min(cap);
            }
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if fits(mid)?.is_some() { lo = mid } else { hi = mid }
            }
            lo
        }
    };
    let Some(charge) = fits(quantity)? else {
        // Not even nothing fits: a month's minimum falls due first and the money does not cover it.
        return Ok(Quote {
            arrears_minor: arrears,
            fees_minor: fees,
            energy_minor: 0,
            energy_femto: 0,
            tax_minor: 0,
            tax_included_minor: 0,
            quantity_milli: 0,
            free_milli: 0,
            blocks: Vec::new(),
            lines: Vec::new(),
            unspent_minor: money,
            period: version.periods.get(period).cloned().unwrap_or_default(),
            state: state.clone(),
        });
    };
    let unit = FEMTO_PER_MAJOR / i128::from(tariff.currency.minor_per_major());
    let energy_minor = charge.total.amount_minor();
    let included: i128 = charge
        .lines
        .iter()
        .filter(|l| version.taxes.iter().any(|t| t.inclusive && l.label == included_label(&t.name)))
        .map(|l| l.amount_femto)
        .sum();
    let free_milli = charge.lines.iter().filter(|l| l.label == FREE_UNITS_LABEL).map(|l| l.quantity_milli).sum();
    let date = p.at.to_zoned(tariff.time_zone.clone()).date();
    let blocks = match &version.blocks {
        None => vec![BlockPurchase {
            block: None,
            quantity_milli: quantity,
            unit_price_micro: version.price_micro(period, None),
        }],
        Some(b) => {
            let key = super::pricing::period_key(b.period, date);
            let p0 = if state.block_key == Some(key) { state.block_position_milli } else { 0 };
            let p1 = p0.saturating_add(quantity);
            let mut out = Vec::new();
            let mut lo = 0_i64;
            for (i, block) in b.blocks.iter().enumerate() {
                let hi = block.up_to_milli.unwrap_or(i64::MAX);
                let overlap = p1.min(hi) - p0.max(lo);
                if overlap > 0 {
                    out.push(BlockPurchase {
                        block: Some(i),
                        quantity_milli: overlap,
                        unit_price_micro: version.price_micro(period, Some(i)),
                    });
                }
                lo = hi;
            }
            out
        }
    };
    Ok(Quote {
        arrears_minor: arrears,
        fees_minor: fees,
        energy_minor,
        energy_femto: charge.subtotal_femto + charge.tax_femto,
        tax_minor: i64::try_from(charge.tax_femto.div_euclid(unit))
            .map_err(|_| PricingError::Overflow)?
            .min(energy_minor),
        tax_included_minor: i64::try_from(included.div_euclid(unit))
            .map_err(|_| PricingError::Overflow)?
            .min(energy_minor),
        quantity_milli: quantity,
        free_milli,
        blocks,
        lines: charge.lines,
        unspent_minor: money - energy_minor,
        period: version.periods.get(period).cloned().unwrap_or_default(),
        state: charge.state,
    })
}

/// A purchase by quantity ("I want 100 kWh"): the smallest payment that, split by [`split_payment`] and
/// converted by [`quote`] from the same state at the same instant, buys exactly `quantity_milli`.
/// `purchase.paid_minor` and `purchase.max_quantity_milli` are ignored; returns the payment and its quote
/// (capped at the quantity, so that the rounding of the split leaves at most a minor unit unspent).
pub fn payment_for_quantity(
    tariff: &Tariff,
    state: &PricingState,
    purchase: &Purchase,
    quantity_milli: i64,
) -> Result<(i64, Quote), PricingError> {
    if quantity_milli <= 0 {
        return Err(PricingError::Unsupported("a purchase by quantity must ask for more than nothing"));
    }
    // The units' cost alone: quote them with a budget that cannot run out.
    let unlimited = Purchase {
        paid_minor: i64::MAX / 4,
        arrears_owed_minor: 0,
        recovery: ArrearsRecovery::None,
        fees_due_minor: 0,
        max_quantity_milli: Some(quantity_milli),
        ..purchase.clone()
    };
    let cost = quote(tariff, state, &unlimited)?;
    if cost.quantity_milli != quantity_milli {
        return Err(PricingError::Unsupported("the tariff cannot sell that quantity now"));
    }
    let paid =
        payment_covering(cost.energy_minor, purchase.arrears_owed_minor, purchase.recovery, purchase.fees_due_minor)
            .ok_or(PricingError::Unsupported("no payment covers the recovery rule and the units"))?;
    let bought = quote(
        tariff,
        state,
        &Purchase { paid_minor: paid, max_quantity_milli: Some(quantity_milli), ..purchase.clone() },
    )?;
    Ok((paid, bought))
}

/// The smallest payment that leaves at least `needed_minor` once [`split_payment`] has taken arrears and fees,
/// or `None` if none does (a recovery rule that takes everything while arrears remain).
pub fn payment_covering(
    needed_minor: i64,
    arrears_owed_minor: i64,
    recovery: ArrearsRecovery,
    fees_due_minor: i64,
) -> Option<i64> {
    let rest_of = |paid: i64| split_payment(paid, arrears_owed_minor, recovery, fees_due_minor).2;
    // What is left after arrears and fees never decreases as the payment grows, so the smallest payment that
    // leaves enough is found by bisection between the need plus fees and that plus everything owed.
    let mut lo = needed_minor.max(0).checked_add(fees_due_minor.max(0))?;
    let mut hi = lo.checked_add(arrears_owed_minor.max(0))?;
    if rest_of(hi) < needed_minor {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if rest_of(mid) >= needed_minor { hi = mid } else { lo = mid + 1 }
    }
    Some(lo)
}
