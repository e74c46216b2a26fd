//! Pricing consumption between two register readings.
//!
//! The interval is cut where the pricing rules change — at version changes and local month starts — and the
//! consumption of each register is interpolated linearly at the cuts (the cuts are recorded in the result).
//! Within a piece, per-period consumption comes from the meter's TOU registers, or, for a meter with only a
//! total register, is apportioned over the TOU periods by time. Each piece is priced at its base prices, its
//! block adders (walking the account's block position) and its free units; daily and monthly charges fall due
//! at each local midnight and month start the interval crosses; taxes apply to the subtotal. Everything is
//! exact in 10⁻¹⁵ major units; the total is floored to minor units and the remainder carried in the state.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use thiserror::Error;

use super::{BlockMode, BlockPeriod, FEMTO_PER_MAJOR, Recurrence, Tariff, TariffVersion};
use crate::money::Money;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PricingError {
    #[error("reading at {cur} is not after the previous reading at {prev}")]
    OutOfOrder { prev: Timestamp, cur: Timestamp },
    #[error(
        "register {register} went backwards ({delta_milli} milli-units); rollovers and replacements are resolved before pricing"
    )]
    NegativeConsumption { register: String, delta_milli: i64 },
    #[error("no version of the tariff is in force at {0}")]
    NoVersion(Timestamp),
    #[error("register {0:?} is not a period of this tariff")]
    UnknownRegister(String),
    #[error("the two readings have different registers")]
    RegisterMismatch,
    #[error("amount out of range")]
    Overflow,
    #[error("{0}")]
    Unsupported(&'static str),
    /// The tariff's rules leave a payment without one answer; the message says why in the tariff's terms.
    #[error("{0}")]
    NotInvertible(String),
}

/// The label of the charge line that takes free basic units off.
pub const FREE_UNITS_LABEL: &str = "free basic units";

/// The label of the charge line that reports a tax included in the prices.
pub fn included_label(tax_name: &str) -> String {
    format!("{tax_name} (included)")
}

/// Register values of a reading, in milli-units (Wh, litres).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registers {
    Total(i64),
    /// One register per TOU period, by period name.
    PerPeriod(Vec<(String, i64)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub at: Timestamp,
    pub registers: Registers,
}

/// What pricing remembers per account between readings. Persist it with the account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PricingState {
    /// The block period the position belongs to (`year*100+month` or `year`).
    pub block_key: Option<i32>,
    pub block_position_milli: i64,
    /// The free-units period and how much of its allowance is used.
    pub free_key: Option<i32>,
    pub free_used_milli: i64,
    /// The month whose energy charges count towards the minimum charge.
    pub month_key: Option<i32>,
    pub month_energy_femto: i128,
    /// The part of a minor unit not yet charged, always in `[0, 10¹⁵ / minor-per-major)`.
    pub carry_femto: i128,
}

/// One line of an itemised charge. `amount_femto` is exact (10⁻¹⁵ of the major unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeLine {
    pub label: String,
    pub quantity_milli: i64,
    pub unit_price_micro: Option<i64>,
    pub amount_femto: i128,
}

/// Where and why the interval was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub at: Timestamp,
    pub reason: &'static str,
    /// Interpolated consumption before the cut, per register.
    pub before_milli: Vec<i64>,
}

/// The result of pricing one reading interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub lines: Vec<ChargeLine>,
    pub consumption_milli: i64,
    pub per_period_milli: Vec<(String, i64)>,
    pub cuts: Vec<Cut>,
    /// Exact subtotal before exclusive taxes, exclusive taxes, and the carried-in remainder.
    pub subtotal_femto: i128,
    pub tax_femto: i128,
    pub total: Money,
    pub state: PricingState,
}

fn femto_per_minor(tariff: &Tariff) -> i128 {
    FEMTO_PER_MAJOR / i128::from(tariff.currency.minor_per_major())
}

fn local_date(tz: &TimeZone, at: Timestamp) -> Date {
    at.to_zoned(tz.clone()).date()
}

fn start_of(tz: &TimeZone, date: Date) -> Option<Timestamp> {
    tz.to_ambiguous_timestamp(date.to_datetime(Time::midnight())).compatible().ok()
}

fn month_key(date: Date) -> i32 {
    i32::from(date.year()) * 100 + i32::from(date.month())
}

/// The key of the block (or free-units) period a local date falls in: `year*100+month` or `year`. It is
/// what [`PricingState::block_key`] holds.
pub fn period_key(period: BlockPeriod, date: Date) -> i32 {
    match period {
        BlockPeriod::Monthly => month_key(date),
        BlockPeriod::Annual => i32::from(date.year()),
    }
}

/// Local month starts in `(from, to)`.
fn month_starts(tz: &TimeZone, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let mut d = local_date(tz, from).first_of_month();
    while let Ok(next) = d.last_of_month().tomorrow() {
        d = next;
        match start_of(tz, d) {
            Some(t) if t >= to => break,
            Some(t) if t > from => out.push(t),
            Some(_) => {}
            None => break,
        }
    }
    out
}

/// Local day starts (midnights) in `[from, to)`, and which of them start a month. A charge due at an instant
/// belongs to the reading interval that starts at it or spans it — the period it is for — so that consecutive
/// intervals `[t0, t1)`, `[t1, t2)` see each midnight exactly once.
fn day_starts(tz: &TimeZone, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, bool)> {
    let mut out = Vec::new();
    let mut d = local_date(tz, from);
    loop {
        match start_of(tz, d) {
            Some(t) if t >= to => break,
            Some(t) if t >= from => out.push((t, d.day() == 1)),
            Some(_) => {}
            None => break,
        }
        match d.tomorrow() {
            Ok(next) => d = next,
            Err(_) => break,
        }
    }
    out
}

/// `numer/denom` parts of `total`, rounding down (so that adjacent parts telescope exactly).
fn share(total: i64, numer: i64, denom: i64) -> i64 {
    if denom == 0 {
        return 0;
    }
    (i128::from(total) * i128::from(numer) / i128::from(denom)) as i64
}

/// Splits `total` over `weights` exactly (largest remainder), so the parts sum to `total`.
fn apportion(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum == 0 {
        let mut v = vec![0; weights.len()];
        if let Some(first) = v.first_mut() {
            *first = total;
        }
        return v;
    }
    let mut parts: Vec<(i64, i128, usize)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let exact = i128::from(total) * i128::from(*w);
            ((exact / sum) as i64, exact % sum, i)
        })
        .collect();
    let mut left = total - parts.iter().map(|p| p.0).sum::<i64>();
    parts.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    for p in parts.iter_mut() {
        if left <= 0 {
            break;
        }
        p.0 += 1;
        left -= 1;
    }
    parts.sort_by_key(|p| p.2);
    parts.into_iter().map(|p| p.0).collect()
}

fn register_values(r: &Registers) -> Vec<(Option<&str>, i64)> {
    match r {
        Registers::Total(v) => vec![(None, *v)],
        Registers::PerPeriod(v) => v.iter().map(|(n, x)| (Some(n.as_str()), *x)).collect(),
    }
}

/// Prices the consumption between `prev` and `cur` for an account in `state`.
pub fn price(tariff: &Tariff, state: &PricingState, prev: &Reading, cur: &Reading) -> Result<Charge, PricingError> {
    let (t0, t1) = (prev.at, cur.at);
    if t1 <= t0 {
        return Err(PricingError::OutOfOrder { prev: t0, cur: t1 });
    }
    let before = register_values(&prev.registers);
    let after = register_values(&cur.registers);
    // (A register rebased across a rollover may be below zero.)
    if before.iter().chain(&after).any(|(_, v)| v.unsigned_abs() > super::QUANTITY_MAX_MILLI.unsigned_abs()) {
        return Err(PricingError::Unsupported("a register value is beyond 10¹² kWh (m³)"));
    }
    if before.len() != after.len() || before.iter().zip(&after).any(|(a, b)| a.0 != b.0) {
        return Err(PricingError::RegisterMismatch);
    }
    let deltas: Vec<i64> = before.iter().zip(&after).map(|(a, b)| b.1 - a.1).collect();
    for ((name, _), d) in after.iter().zip(&deltas) {
        if *d < 0 {
            return Err(PricingError::NegativeConsumption {
                register: name.unwrap_or("total").to_string(),
                delta_milli: *d,
            });
        }
    }
    let names: Vec<Option<&str>> = after.iter().map(|(n, _)| *n).collect();
    let tz = &tariff.time_zone;
    let span = t1.as_microsecond() - t0.as_microsecond();

    // Cut points: version changes and month starts strictly inside the interval.
    let mut cuts: Vec<(Timestamp, &'static str)> = tariff
        .versions
        .iter()
        .map(|v| v.effective_from)
        .filter(|t| *t > t0 && *t < t1)
        .map(|t| (t, "tariff version change"))
        .collect();
    cuts.extend(month_starts(tz, t0, t1).into_iter().map(|t| (t, "month start")));
    cuts.sort_by_key(|c| c.0);
    cuts.dedup_by_key(|c| c.0);

    let cumulative = |at: Timestamp| -> Vec<i64> {
        let elapsed = at.as_microsecond() - t0.as_microsecond();
        deltas.iter().map(|d| share(*d, elapsed, span)).collect()
    };

    let mut state = state.clone();
    let mut lines: Vec<ChargeLine> = Vec::new();
    let mut per_period: Vec<(String, i64)> = Vec::new();
    let mut recorded_cuts = Vec::new();
    // What each version's rules charged, to be taxed by that version's taxes.
    let mut by_version = Subtotals::new(tariff);
    let mut bounds: Vec<(Timestamp, Vec<i64>)> = vec![(t0, vec![0; deltas.len()])];
    for (at, reason) in &cuts {
        let c = cumulative(*at);
        recorded_cuts.push(Cut { at: *at, reason, before_milli: c.clone() });
        bounds.push((*at, c));
    }
    bounds.push((t1, deltas.clone()));

    for pair in bounds.windows(2) {
        let [(a, ca), (b, cb)] = pair else { continue };
        let piece: Vec<i64> = cb.iter().zip(ca).map(|(x, y)| x - y).collect();
        let vi = tariff.version_index_at(*a).ok_or(PricingError::NoVersion(*a))?;
        let version = tariff.versions.get(vi).ok_or(PricingError::NoVersion(*a))?;
        let date = local_date(tz, *a);
        let (topup, closed) = close_month_if_new(tariff, &mut state, month_key(date), &mut lines);
        by_version.add(closed.unwrap_or(vi), topup);
        let q = per_period_quantities(tariff, version, &names, &piece, *a, *b)?;
        for (i, qty) in q.iter().enumerate() {
            if let Some(name) = version.periods.get(i) {
                match per_period.iter_mut().find(|(n, _)| n == name) {
                    Some(e) => e.1 += qty,
                    None => per_period.push((name.clone(), *qty)),
                }
            }
        }
        let energy = price_piece(version, &mut state, date, &q, &mut lines);
        state.month_energy_femto += energy;
        by_version.add(vi, energy);
    }

    // Recurring charges at each local midnight / month start in [t0, t1), by the version in force then.
    for (at, month_start) in day_starts(tz, t0, t1) {
        let Some(vi) = tariff.version_index_at(at) else { continue };
        let Some(version) = tariff.versions.get(vi) else { continue };
        for r in &version.recurring {
            if r.every == Recurrence::Daily || month_start {
                let amount = i128::from(r.amount_minor) * femto_per_minor(tariff);
                by_version.add(vi, amount);
                add_line(&mut lines, &r.name, 0, None, amount);
            }
        }
    }

    // Taxes on each version's part, then the total and the carried remainder.
    let consumption_milli = per_period.iter().map(|(_, q)| q).sum();
    finish(tariff, state, &by_version, lines, consumption_milli, per_period, recorded_cuts)
}

/// What a charge's parts came to under each version's rules (index as in `Tariff::versions`): each part is
/// taxed by the taxes of the version it was charged under, so that splitting a reading at a version change
/// changes nothing.
struct Subtotals {
    amounts: Vec<Option<i128>>,
}

impl Subtotals {
    fn new(tariff: &Tariff) -> Self {
        Self { amounts: vec![None; tariff.versions.len()] }
    }

    fn add(&mut self, version: usize, amount: i128) {
        if let Some(slot) = self.amounts.get_mut(version) {
            *slot = Some(slot.unwrap_or(0) + amount);
        }
    }

    fn total(&self) -> i128 {
        self.amounts.iter().flatten().sum()
    }
}

/// Prices buying `quantity_milli` of the period at index `period` at the instant `at`, as a vend does: the
/// same steps as [`price`] for consumption that all falls at `at` (month close, free units, blocks, taxes,
/// the carried remainder), but no time passes, so no daily or monthly charge falls due. [`price`] of a
/// reading pair around `at` that crosses no midnight, month start or version change gives the same charge.
pub fn price_purchase(
    tariff: &Tariff,
    state: &PricingState,
    at: Timestamp,
    period: usize,
    quantity_milli: i64,
) -> Result<Charge, PricingError> {
    if quantity_milli < 0 {
        return Err(PricingError::Unsupported("a quantity cannot be negative"));
    }
    let vi = tariff.version_index_at(at).ok_or(PricingError::NoVersion(at))?;
    let version = tariff.versions.get(vi).ok_or(PricingError::NoVersion(at))?;
    let name = version.periods.get(period).ok_or(PricingError::Unsupported("no such period"))?.clone();
    let date = local_date(&tariff.time_zone, at);
    let mut state = state.clone();
    let mut lines = Vec::new();
    let mut by_version = Subtotals::new(tariff);
    let (topup, closed) = close_month_if_new(tariff, &mut state, month_key(date), &mut lines);
    by_version.add(closed.unwrap_or(vi), topup);
    let mut q = vec![0_i64; version.periods.len()];
    if let Some(slot) = q.get_mut(period) {
        *slot = quantity_milli;
    }
    let energy = price_piece(version, &mut state, date, &q, &mut lines);
    state.month_energy_femto += energy;
    by_version.add(vi, energy);
    finish(tariff, state, &by_version, lines, quantity_milli, vec![(name, quantity_milli)], Vec::new())
}

/// Taxes on each version's part by that version's taxes (exclusive ones added, inclusive ones reported; a tax
/// of the same name in several versions is one line), then the total floored to minor units with the remainder
/// carried in the state.
fn finish(
    tariff: &Tariff,
    mut state: PricingState,
    by_version: &Subtotals,
    mut lines: Vec<ChargeLine>,
    consumption_milli: i64,
    per_period_milli: Vec<(String, i64)>,
    cuts: Vec<Cut>,
) -> Result<Charge, PricingError> {
    let mut tax = 0_i128;
    for (version, part_of) in tariff.versions.iter().zip(&by_version.amounts) {
        let Some(subtotal) = *part_of else { continue };
        for t in &version.taxes {
            // A part is a whole number of 10⁻⁹ units, so a ppm rate keeps it exact in 10⁻¹⁵.
            let part = if t.inclusive {
                subtotal * i128::from(t.rate_ppm) / (1_000_000 + i128::from(t.rate_ppm))
            } else {
                subtotal / 1_000_000 * i128::from(t.rate_ppm)
            };
            let label = if t.inclusive { included_label(&t.name) } else { t.name.clone() };
            add_line(&mut lines, &label, 0, None, part);
            if !t.inclusive {
                tax += part;
            }
        }
    }
    let subtotal = by_version.total();

    let unit = femto_per_minor(tariff);
    let owed = state.carry_femto + subtotal + tax;
    let minor = owed.div_euclid(unit);
    state.carry_femto = owed.rem_euclid(unit);
    let total = Money::from_minor(i64::try_from(minor).map_err(|_| PricingError::Overflow)?, tariff.currency);
    Ok(Charge {
        lines,
        consumption_milli,
        per_period_milli,
        cuts,
        subtotal_femto: subtotal,
        tax_femto: tax,
        total,
        state,
    })
}

/// When a piece starts a new month, the finished month's minimum charge is settled — the minimum of the
/// version in force at the end of that month, which is the month it is for. Returns the top-up and the index of
/// that version (whose taxes apply to it).
fn close_month_if_new(
    tariff: &Tariff,
    state: &mut PricingState,
    key: i32,
    lines: &mut Vec<ChargeLine>,
) -> (i128, Option<usize>) {
    if state.month_key == Some(key) {
        return (0, None);
    }
    let femto_per_minor = femto_per_minor(tariff);
    let closed_index = state.month_key.and_then(|closed| {
        let first = Date::new(i16::try_from(closed / 100).ok()?, i8::try_from(closed % 100).ok()?, 1).ok()?;
        let end = start_of(&tariff.time_zone, first.last_of_month().tomorrow().ok()?)?;
        tariff.version_index_at(end.checked_sub(jiff::SignedDuration::from_micros(1)).ok()?)
    });
    let closed_version = closed_index.and_then(|i| tariff.versions.get(i));
    let mut topup = 0;
    if let Some(min_minor) = closed_version.and_then(|v| v.minimum_monthly_minor) {
        // Minimum charges are set in minor units; the month's energy is exact.
        let min = i128::from(min_minor) * femto_per_minor;
        if state.month_energy_femto < min {
            topup = min - state.month_energy_femto;
            add_line(lines, "minimum charge top-up", 0, None, topup);
        }
    }
    state.month_key = Some(key);
    state.month_energy_femto = 0;
    (topup, closed_index.filter(|_| topup != 0))
}

fn per_period_quantities(
    tariff: &Tariff,
    version: &TariffVersion,
    names: &[Option<&str>],
    piece: &[i64],
    a: Timestamp,
    b: Timestamp,
) -> Result<Vec<i64>, PricingError> {
    let mut q = vec![0_i64; version.periods.len()];
    match names {
        [None] => {
            let total = piece.first().copied().unwrap_or(0);
            match &version.calendar {
                None => {
                    if let Some(first) = q.first_mut() {
                        *first = total;
                    }
                }
                Some(cal) => {
                    let mut weights = vec![0_i64; version.periods.len()];
                    for (s, e, p) in cal.segments(a, b) {
                        if let Some(w) = weights.get_mut(p) {
                            *w += e.as_microsecond() - s.as_microsecond();
                        }
                    }
                    q = apportion(total, &weights);
                }
            }
        }
        _ => {
            for (name, qty) in names.iter().zip(piece) {
                let name = name.unwrap_or("total");
                let i = tariff
                    .period_index(version, name)
                    .ok_or_else(|| PricingError::UnknownRegister(name.to_string()))?;
                if let Some(slot) = q.get_mut(i) {
                    *slot += qty;
                }
            }
        }
    }
    Ok(q)
}

fn add_line(lines: &mut Vec<ChargeLine>, label: &str, qty: i64, price: Option<i64>, amount: i128) {
    match lines.iter_mut().find(|l| l.label == label && l.unit_price_micro == price) {
        Some(l) => {
            l.quantity_milli += qty;
            l.amount_femto += amount;
        }
        None => lines.push(ChargeLine {
            label: label.to_string(),
            quantity_milli: qty,
            unit_price_micro: price,
            amount_femto: amount,
        }),
    }
}

/// micro-units per unit × milli-units = 10⁻⁹ major; × 10⁶ = 10⁻¹⁵.
fn cost(price_micro: i64, qty_milli: i64) -> i128 {
    i128::from(price_micro) * i128::from(qty_milli) * 1_000_000
}

/// The part of a slice `[x, y)` of a piece's positions (counted from the piece's start, `0..total`) that falls
/// to each TOU period: units of different periods are taken to be mixed evenly through the piece, so the units
/// at positions `[0, n)` are shared in proportion to the piece's per-period quantities `q`, exactly (largest
/// remainder, as a total-only meter's use is shared over periods), and a slice is the difference of two such
/// prefixes. Sharing prefixes rather than each slice on its own keeps a piece that crosses two block thresholds
/// priced as the same units read in two pieces at the same mix (each slice rounded on its own could put one
/// unit in another period). The parts add up to the slice. Largest remainder is not monotonic in the total for
/// three periods or more (the Alabama paradox); should a prefix difference come out negative, the slice is
/// shared on its own instead.
fn slice_by_period(q: &[i64], x: i64, y: i64) -> Vec<i64> {
    let (before, upto) = (apportion(x, q), apportion(y, q));
    let parts: Vec<i64> = upto.iter().zip(&before).map(|(u, b)| u - b).collect();
    if parts.iter().all(|p| *p >= 0) { parts } else { apportion(y - x, q) }
}

/// Prices one piece's per-period quantities, advancing the block position and free allowance.
///
/// Every unit costs its period's base price plus the adder of the block its position falls in (for
/// whole-volume blocks, of the block the period's total has reached); free basic units are the first units of
/// their period and cost nothing — base and adder alike. Where a piece's units of several TOU periods share a
/// block or the free allowance, they are taken to be mixed evenly (see [`slice_by_period`]); with one adder
/// for every period the mix does not matter.
fn price_piece(
    version: &TariffVersion,
    state: &mut PricingState,
    date: Date,
    q: &[i64],
    lines: &mut Vec<ChargeLine>,
) -> i128 {
    let mut energy = 0_i128;
    for (i, qty) in q.iter().enumerate() {
        if *qty == 0 {
            continue;
        }
        let price = version.base_price_micro.get(i).copied().unwrap_or(0);
        let amount = cost(price, *qty);
        energy += amount;
        let name = version.periods.get(i).map_or("energy", String::as_str);
        add_line(lines, &format!("energy {name}"), *qty, Some(price), amount);
    }
    let total: i64 = q.iter().sum();
    let periods = version.periods.len();

    // Free units: the first `free` units of this piece.
    let mut free = 0_i64;
    let mut free_before = 0_i64;
    if version.free_milli > 0 {
        let key = period_key(version.free_period, date);
        if state.free_key != Some(key) {
            state.free_key = Some(key);
            state.free_used_milli = 0;
        }
        free_before = state.free_used_milli;
        free = total.min(version.free_milli - state.free_used_milli).max(0);
        state.free_used_milli += free;
    }
    // What the free units would have cost: base prices now, block adders below.
    let mut free_credit = 0_i128;
    if free > 0 {
        for (i, part) in slice_by_period(q, 0, free).iter().enumerate() {
            free_credit += cost(version.base_price_micro.get(i).copied().unwrap_or(0), *part);
        }
    }

    if let Some(blocks) = &version.blocks {
        let key = period_key(blocks.period, date);
        if state.block_key != Some(key) {
            state.block_key = Some(key);
            state.block_position_milli = 0;
        }
        let p0 = state.block_position_milli;
        let p1 = p0 + total;
        state.block_position_milli = p1;
        match blocks.mode {
            BlockMode::Incremental => {
                let mut lo = 0_i64;
                for (bi, b) in blocks.blocks.iter().enumerate() {
                    let hi = b.up_to_milli.unwrap_or(i64::MAX);
                    let (x, y) = (p0.max(lo) - p0, p1.min(hi) - p0);
                    lo = hi;
                    if y <= x {
                        continue;
                    }
                    // The free units in this block: positions [0, free) of the piece.
                    let (fx, fy) = (x.min(free), y.min(free));
                    match b.uniform_adder(periods) {
                        Some(0) => {}
                        Some(adder) => {
                            let amount = cost(adder, y - x);
                            energy += amount;
                            add_line(lines, &format!("block {} adder", bi + 1), y - x, Some(adder), amount);
                            free_credit += cost(adder, fy - fx);
                        }
                        None => {
                            let parts = slice_by_period(q, x, y);
                            let free_parts = slice_by_period(q, fx, fy);
                            for (pi, (part, free_part)) in parts.iter().zip(&free_parts).enumerate() {
                                let adder = b.adder(pi);
                                if *part == 0 || adder == 0 {
                                    continue;
                                }
                                let amount = cost(adder, *part);
                                energy += amount;
                                let name = version.periods.get(pi).map_or("energy", String::as_str);
                                add_line(lines, &format!("block {} adder {name}", bi + 1), *part, Some(adder), amount);
                                free_credit += cost(adder, *free_part);
                            }
                        }
                    }
                }
            }
            BlockMode::WholeVolume => {
                // Validation keeps whole-volume adders uniform and free units restarting with the blocks, so
                // the chargeable units of the block period so far are its position less the free units used.
                let reached = |pos: i64| {
                    blocks
                        .blocks
                        .iter()
                        .enumerate()
                        .find(|(_, b)| b.up_to_milli.is_none_or(|u| pos <= u))
                        .map_or((0, 0), |(i, b)| (i, b.adder(0)))
                };
                let (i1, a1) = reached(p1);
                let (_, a0) = reached(p0);
                let earlier = p0 - free_before;
                let now = total - free;
                if a1 != 0 && now > 0 {
                    let amount = cost(a1, now);
                    energy += amount;
                    add_line(lines, &format!("block {} (whole volume)", i1 + 1), now, Some(a1), amount);
                }
                if a1 != a0 && earlier > 0 {
                    // Crossing a threshold re-prices the period's earlier chargeable units at the new block.
                    let amount = cost(a1 - a0, earlier);
                    energy += amount;
                    add_line(
                        lines,
                        &format!("block {} re-prices earlier units", i1 + 1),
                        earlier,
                        Some(a1 - a0),
                        amount,
                    );
                }
            }
        }
    }
    if free > 0 {
        energy -= free_credit;
        // One unit price only when every free unit cost the same.
        let unit = (periods == 1 && free_credit % (i128::from(free) * 1_000_000) == 0)
            .then(|| i64::try_from(-free_credit / (i128::from(free) * 1_000_000)).ok())
            .flatten();
        add_line(lines, FREE_UNITS_LABEL, free, unit, -free_credit);
    }
    energy
}

#[cfg(test)]
mod tests;
