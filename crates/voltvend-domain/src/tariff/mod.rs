//! Tariffs: how consumption is priced, exactly.
//!
//! One model covers what utilities and property managers publish (DESIGN.md §2.2):
//! * **periods** — one (`all`) for flat and block tariffs, or named TOU periods (sharp, peak, flat, valley…)
//!   selected by a [`calendar::TouCalendar`] of seasons, weekday/weekend/holiday schedules in a time zone;
//! * a **base price** per period;
//! * optional **blocks** (阶梯) over the consumption of a month or a year, each adding an **adder** to the base
//!   price — one for every period, as Chinese provincial tariffs state their tiers (block 2 = +0.05, block 3 =
//!   +0.30 over the TOU prices), or one per period, which is how a published price table (Shanghai: block 2
//!   peak 0.677 / valley 0.337 over block 1's 0.617 / 0.307) is held: block 1's prices are the base prices;
//! * **free basic units** (lifeline) at the start of each month or year: the first units cost nothing;
//! * recurring charges per day or per month (standing charge, service and property fees), a monthly minimum
//!   charge, and taxes (exclusive or inclusive).
//!
//! Versions carry an effective instant; consumption across a change is split at it. Every amount is computed
//! exactly as an integer count of 10⁻¹⁵ of the currency's major unit (a micro-unit price × a milli-unit
//! quantity × a ppm tax rate), and only the total is floored to minor units, with the remainder carried in the
//! account's [`pricing::PricingState`]; so pricing any split of the same consumption gives the same total.

pub mod calendar;
pub mod friendly;
pub mod inverse;
pub mod pricing;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use thiserror::Error;

use crate::meter::Utility;
use crate::money::Currency;
use calendar::TouCalendar;

/// Exact amounts are counted in 10⁻¹⁵ of a major unit.
pub const FEMTO_PER_MAJOR: i128 = 1_000_000_000_000_000;

/// The largest price or block adder, in micro-units (1 000 000 of the currency per kWh or m³): bounds that keep
/// every sum of prices exact in `i64`.
pub const PRICE_MAX_MICRO: i64 = 1_000_000_000_000;

/// The largest register value, block limit or free allowance, in milli-units (10¹² kWh or m³).
pub const QUANTITY_MAX_MILLI: i64 = 1_000_000_000_000_000;

/// A price in micro-units as a decimal with up to six places ("0.617", "2.39").
pub fn decimal_micro(micro: i64) -> String {
    let sign = if micro < 0 { "-" } else { "" };
    let (whole, frac) = (micro.unsigned_abs() / 1_000_000, micro.unsigned_abs() % 1_000_000);
    let frac = format!("{frac:06}");
    let frac = frac.trim_end_matches('0');
    let frac = if frac.len() < 2 { format!("{frac:0<2}") } else { frac.to_string() };
    format!("{sign}{whole}.{frac}")
}

/// A quantity in milli-units as kWh/m³ with up to three places ("3120", "167.368").
pub fn decimal_milli(milli: i64) -> String {
    let (whole, frac) = (milli / 1_000, (milli % 1_000).abs());
    if frac == 0 { whole.to_string() } else { format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0')) }
}

/// A tariff problem, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct TariffError {
    pub field: String,
    pub message: String,
}

impl TariffError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// How often block positions restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockPeriod {
    Monthly,
    Annual,
}

/// How blocks price consumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockMode {
    /// "Cumulative": each unit is priced in the block it falls into as the period's consumption accumulates
    /// (the inclining-block tariff of Chinese 阶梯电价 and South African municipal tariffs).
    Incremental,
    /// "Independent": all of the period's units are priced at the block the period total has reached
    /// (volume-differentiated); crossing a threshold re-prices the period's earlier units.
    WholeVolume,
}

/// One block: up to `up_to_milli` units of the period (None = no upper bound) cost an adder more (or less)
/// per unit than each TOU period's base price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub up_to_milli: Option<i64>,
    /// One adder for every TOU period (one element), or one per period in the version's period order.
    pub adder_micro: Vec<i64>,
}

impl Block {
    /// A block whose adder is the same for every TOU period.
    pub fn uniform(up_to_milli: Option<i64>, adder_micro: i64) -> Self {
        Self { up_to_milli, adder_micro: vec![adder_micro] }
    }

    /// The adder of the TOU period at index `period`.
    pub fn adder(&self, period: usize) -> i64 {
        match self.adder_micro.as_slice() {
            [one] => *one,
            per_period => per_period.get(period).copied().unwrap_or(0),
        }
    }

    /// The adder when it is the same for every period of `periods` periods.
    pub fn uniform_adder(&self, periods: usize) -> Option<i64> {
        let first = self.adder(0);
        (0..periods).all(|p| self.adder(p) == first).then_some(first)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocks {
    pub period: BlockPeriod,
    pub mode: BlockMode,
    pub blocks: Vec<Block>,
}

/// How often a recurring charge falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recurrence {
    /// At every local midnight.
    Daily,
    /// At the start of every local month.
    Monthly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringCharge {
    pub name: String,
    pub every: Recurrence,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tax {
    pub name: String,
    /// Parts per million: 130 000 = 13 %.
    pub rate_ppm: i64,
    /// Whether prices already include it (then it is reported, not added).
    pub inclusive: bool,
}

/// One effective-dated version of a tariff.
#[derive(Debug, Clone, PartialEq)]
pub struct TariffVersion {
    pub effective_from: Timestamp,
    /// Period names; `["all"]` for a tariff without time of use.
    pub periods: Vec<String>,
    /// Base price per period, micro-units of the currency per kWh (or per m³ for water).
    pub base_price_micro: Vec<i64>,
    pub calendar: Option<TouCalendar>,
    pub blocks: Option<Blocks>,
    /// Free basic units at the start of each block period (lifeline); needs blocks' period (or monthly).
    pub free_milli: i64,
    pub free_period: BlockPeriod,
    pub recurring: Vec<RecurringCharge>,
    pub minimum_monthly_minor: Option<i64>,
    pub taxes: Vec<Tax>,
}

/// A tariff: what it prices, in which currency and time zone, and its versions in effective order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tariff {
    pub code: String,
    pub name: String,
    pub utility: Utility,
    pub currency: Currency,
    pub time_zone: TimeZone,
    pub versions: Vec<TariffVersion>,
    /// When a prepaid supply is not disconnected for lack of credit.
    pub friendly_hours: Option<friendly::FriendlyHours>,
    /// Low-balance alarm levels 1 and 2 (level 2 the lower), in minor units: a customer is told when a
    /// reading takes the balance below each.
    pub alarms: Option<Alarms>,
}

/// Low-balance alarm levels, in minor units of the tariff's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alarms {
    pub level_1_minor: i64,
    pub level_2_minor: i64,
}

impl Tariff {
    /// Checks every rule; the first problem is returned with the field at fault.
    pub fn validate(&self) -> Result<(), TariffError> {
        if self.code.is_empty()
            || self.code.len() > 64
            || !self.code.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(TariffError::new("code", "must be 1–64 of letters, digits, '-', '_' or '.'"));
        }
        if self.versions.is_empty() {
            return Err(TariffError::new("versions", "a tariff needs at least one version"));
        }
        for (i, pair) in self.versions.windows(2).enumerate() {
            if let [a, b] = pair
                && b.effective_from <= a.effective_from
            {
                return Err(TariffError::new(
                    format!("versions[{}].effective_from", i + 1),
                    "versions must be in increasing effective order",
                ));
            }
        }
        for (i, v) in self.versions.iter().enumerate() {
            v.validate(&format!("versions[{i}]"))?;
        }
        if let Some(f) = &self.friendly_hours {
            f.validate("friendly_hours.night")?;
        }
        if let Some(a) = self.alarms
            && (a.level_2_minor < 0 || a.level_2_minor >= a.level_1_minor)
        {
            return Err(TariffError::new("alarms.level_2", "must be below alarms.level_1 and not negative"));
        }
        Ok(())
    }

    /// The version in force at `at`, if any.
    pub fn version_at(&self, at: Timestamp) -> Option<&TariffVersion> {
        self.versions.iter().rev().find(|v| v.effective_from <= at)
    }

    /// The index in `versions` of the version in force at `at`, if any.
    pub fn version_index_at(&self, at: Timestamp) -> Option<usize> {
        self.versions.iter().rposition(|v| v.effective_from <= at)
    }

    pub fn period_index(&self, version: &TariffVersion, name: &str) -> Option<usize> {
        version.periods.iter().position(|p| p == name)
    }
}

impl TariffVersion {
    fn validate(&self, at: &str) -> Result<(), TariffError> {
        let err = |field: &str, message: &str| Err(TariffError::new(format!("{at}.{field}"), message));
        if self.periods.is_empty() {
            return err("periods", "a version needs at least one period");
        }
        if self.periods.len() != self.base_price_micro.len() {
            return err("prices", "every period needs exactly one price");
        }
        for (i, name) in self.periods.iter().enumerate() {
            if name.is_empty() || self.periods.iter().take(i).any(|p| p == name) {
                return err("periods", &format!("period {name:?} is empty or repeated"));
            }
        }
        if let Some((i, _)) = self.base_price_micro.iter().enumerate().find(|(_, p)| **p < 0) {
            return err(
                &format!("prices.{}", self.periods.get(i).map_or("?", String::as_str)),
                "prices cannot be negative",
            );
        }
        if let Some((i, _)) = self.base_price_micro.iter().enumerate().find(|(_, p)| **p > PRICE_MAX_MICRO) {
            return err(
                &format!("prices.{}", self.periods.get(i).map_or("?", String::as_str)),
                "is more than 1 000 000 per unit",
            );
        }
        match (&self.calendar, self.periods.len()) {
            (None, 1) => {}
            (None, _) => return err("tou", "several periods need a time-of-use calendar"),
            (Some(c), _) => c.validate(&format!("{at}.tou"), &self.periods)?,
        }
        if let Some(blocks) = &self.blocks {
            if blocks.blocks.is_empty() {
                return err("blocks", "a block tariff needs at least one block");
            }
            if let Some(i) =
                blocks.blocks.iter().position(|b| b.adder_micro.len() != 1 && b.adder_micro.len() != self.periods.len())
            {
                return err(&format!("blocks[{i}]"), "needs one adder for every period, or one per period");
            }
            if blocks.mode == BlockMode::WholeVolume {
                if let Some(i) = blocks.blocks.iter().position(|b| b.uniform_adder(self.periods.len()).is_none()) {
                    // Re-pricing a period's earlier units would need their split over the TOU periods.
                    return err(
                        &format!("blocks[{i}]"),
                        "whole-volume blocks need the same adder for every period (a price table's rows must differ by one amount)",
                    );
                }
                if self.free_milli > 0 && self.free_period != blocks.period {
                    return err(
                        "free_period",
                        "with whole-volume blocks, free units must restart with the blocks (the same free_period as block_period)",
                    );
                }
            }
            let mut previous = 0_i64;
            for (i, b) in blocks.blocks.iter().enumerate() {
                if b.adder_micro.iter().any(|a| a.abs() > PRICE_MAX_MICRO)
                    || b.up_to_milli.is_some_and(|u| u > QUANTITY_MAX_MILLI)
                {
                    return err(&format!("blocks[{i}]"), "an adder above 1 000 000 or a limit above 10¹² units");
                }
                let last = i + 1 == blocks.blocks.len();
                match (b.up_to_milli, last) {
                    (None, true) => {}
                    (None, false) => return err(&format!("blocks[{i}].up_to"), "only the last block may be unbounded"),
                    (Some(_), true) => {
                        return err(&format!("blocks[{i}].up_to"), "the last block must be unbounded (omit up_to)");
                    }
                    (Some(u), false) if u <= previous => {
                        return err(&format!("blocks[{i}].up_to"), "block limits must increase (blocks out of order)");
                    }
                    (Some(u), false) => previous = u,
                }
                for (pi, (p, base)) in self.periods.iter().zip(&self.base_price_micro).enumerate() {
                    if base + b.adder(pi) < 0 {
                        return err(&format!("blocks[{i}]"), &format!("makes the {p} price negative"));
                    }
                }
            }
        }
        if !(0..=QUANTITY_MAX_MILLI).contains(&self.free_milli) {
            return err("free_units", "must be between 0 and 10¹² units");
        }
        for (i, r) in self.recurring.iter().enumerate() {
            if r.amount_minor < 0 {
                return err(&format!("charges[{i}].amount"), "cannot be negative");
            }
        }
        if self.minimum_monthly_minor.is_some_and(|m| m < 0) {
            return err("minimum_monthly", "cannot be negative");
        }
        for (i, t) in self.taxes.iter().enumerate() {
            if !(0..=1_000_000).contains(&t.rate_ppm) {
                // Named as the tariff file names it.
                return err(&format!("taxes[{i}].rate_percent"), "must be between 0 and 100 %");
            }
        }
        Ok(())
    }

    /// The full price (base + block adder) of `period` in `block`, in micro-units.
    pub fn price_micro(&self, period: usize, block: Option<usize>) -> i64 {
        let base = self.base_price_micro.get(period).copied().unwrap_or(0);
        let adder = match (&self.blocks, block) {
            (Some(b), Some(i)) => b.blocks.get(i).map_or(0, |b| b.adder(period)),
            _ => 0,
        };
        base + adder
    }
}
