//! Inverse pricing: what a payment buys now, as a cashier must show before printing a token.
//!
//! The payment is split in order: arrears recovery (a share of the payment or a fixed amount, never more than
//! is owed), fees due, then energy. The energy money buys units walking up the blocks from the account's
//! position at the price of the TOU period in force (or a named vend period), with exclusive taxes added to
//! each unit's price. What does not buy a whole milli-unit stays as unspent credit. Buying the quoted units
//! costs, by forward pricing, exactly the quoted energy money.

use jiff::Timestamp;

use super::pricing::{PricingError, PricingState};
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
    /// Money converted into units, tax included, in minor units (the exact cost rounded up).
    pub energy_minor: i64,
    /// The exact cost of the units bought, tax included, in 10⁻¹⁵ major units.
    pub energy_femto: i128,
    /// The exclusive tax within `energy_minor` (floored).
    pub tax_minor: i64,
    pub quantity_milli: i64,
    pub blocks: Vec<BlockPurchase>,
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
/// period in force at `at` (for a quote made outside the system, where no stored state exists).
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
    Ok(PricingState { block_key, block_position_milli, ..PricingState::default() })
}

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
    let (arrears, fees, money) = split_payment(p.paid_minor, p.arrears_owed_minor, p.recovery, p.fees_due_minor);

    let unit = FEMTO_PER_MAJOR / i128::from(tariff.currency.minor_per_major());
    let tax_ppm: i128 = version.taxes.iter().filter(|t| !t.inclusive).map(|t| i128::from(t.rate_ppm)).sum();
    let mut budget = i128::from(money) * unit;
    let mut blocks = Vec::new();
    let mut quantity = 0_i64;
    let mut spent = 0_i128;

    // The position within the current block period (a new period would start from zero).
    let date = p.at.to_zoned(tariff.time_zone.clone()).date();
    let mut tiers: Vec<(Option<usize>, i64, Option<i64>)> = Vec::new();
    let mut block_start: Option<(i32, i64)> = None;
    match &version.blocks {
        None => tiers.push((None, version.price_micro(period, None), None)),
        Some(b) => {
            if b.mode == BlockMode::WholeVolume {
                return Err(PricingError::Unsupported("inverse pricing of whole-volume blocks is not supported"));
            }
            let key = super::pricing::period_key(b.period, date);
            let position = if state.block_key == Some(key) { state.block_position_milli } else { 0 };
            block_start = Some((key, position));
            let mut lo = 0;
            for (i, block) in b.blocks.iter().enumerate() {
                let hi = block.up_to_milli;
                if hi.is_none_or(|h| h > position) {
                    let room = hi.map(|h| h - position.max(lo));
                    tiers.push((Some(i), version.price_micro(period, Some(i)), room));
                }
                lo = hi.unwrap_or(i64::MAX);
            }
        }
    }
    for (block, price, room) in tiers {
        // Per milli-unit: price (10⁻⁹ major) × 10⁶ × (1 + tax).
        let per_milli = i128::from(price) * (1_000_000 + tax_ppm);
        if per_milli <= 0 {
            return Err(PricingError::Unsupported("a free block cannot be bought; free units are issued separately"));
        }
        let affordable = i64::try_from(budget / per_milli).unwrap_or(i64::MAX);
        let cap_left = p.max_quantity_milli.map_or(i64::MAX, |cap| cap - quantity);
        let take = room.map_or(affordable, |r| r.min(affordable)).min(cap_left);
        if take > 0 {
            blocks.push(BlockPurchase { block, quantity_milli: take, unit_price_micro: price });
            quantity += take;
            let c = per_milli * i128::from(take);
            spent += c;
            budget -= c;
        }
        if room.is_none_or(|r| take < r) || take == cap_left {
            break;
        }
    }
    // Charge whole minor units for what was bought (rounded up); the rest stays as credit.
    let energy_minor = (spent + unit - 1).div_euclid(unit);
    let energy_minor = i64::try_from(energy_minor).map_err(|_| PricingError::Overflow)?.min(money);
    let tax = if tax_ppm == 0 { 0 } else { spent * tax_ppm / (1_000_000 + tax_ppm) };
    Ok(Quote {
        arrears_minor: arrears,
        fees_minor: fees,
        energy_minor,
        energy_femto: spent,
        tax_minor: i64::try_from(tax.div_euclid(unit)).map_err(|_| PricingError::Overflow)?,
        quantity_milli: quantity,
        blocks,
        unspent_minor: money - energy_minor,
        period: version.periods.get(period).cloned().unwrap_or_default(),
        state: match block_start {
            Some((key, position)) => PricingState {
                block_key: Some(key),
                block_position_milli: position.saturating_add(quantity),
                ..state.clone()
            },
            None => state.clone(),
        },
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
