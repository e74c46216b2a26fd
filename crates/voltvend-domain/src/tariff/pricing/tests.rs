use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::meter::Utility;
use crate::money::Currency;
use crate::tariff::calendar::{DaySchedule, TouCalendar};
use crate::tariff::inverse::{ArrearsRecovery, Purchase, payment_for_quantity, quote};
use crate::tariff::{Block, Blocks, RecurringCharge, Tax};

pub(crate) fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub(crate) fn version(prices: &[(&str, i64)]) -> TariffVersion {
    TariffVersion {
        effective_from: t("2020-01-01T00:00:00Z"),
        periods: prices.iter().map(|(n, _)| n.to_string()).collect(),
        base_price_micro: prices.iter().map(|(_, p)| *p).collect(),
        calendar: None,
        blocks: None,
        free_milli: 0,
        free_period: BlockPeriod::Monthly,
        recurring: vec![],
        minimum_monthly_minor: None,
        taxes: vec![],
    }
}

pub(crate) fn tariff(versions: Vec<TariffVersion>) -> Tariff {
    let t = Tariff {
        code: "test".into(),
        name: "test".into(),
        utility: Utility::Electricity,
        currency: Currency::CNY,
        time_zone: TimeZone::get("Asia/Shanghai").unwrap(),
        versions,
        friendly_hours: None,
        alarms: None,
    };
    t.validate().unwrap();
    t
}

fn peak_valley(v: &mut TariffVersion) {
    // 0 = peak 08:00–22:00, 1 = valley 22:00–08:00.
    let day = DaySchedule { entries: vec![(0, 1), (480, 0), (1_320, 1)] };
    v.calendar = Some(TouCalendar::all_year(TimeZone::get("Asia/Shanghai").unwrap(), day));
}

/// A reading of peak and valley registers (Wh) at `at`.
fn pv(at: &str, peak: i64, valley: i64) -> Reading {
    Reading { at: t(at), registers: Registers::PerPeriod(vec![("peak".into(), peak), ("valley".into(), valley)]) }
}

fn total(at: &str, wh: i64) -> Reading {
    Reading { at: t(at), registers: Registers::Total(wh) }
}

fn check(tariff: &Tariff, state: &PricingState, a: &Reading, b: &Reading, expect_minor: i64) -> Charge {
    let c = price(tariff, state, a, b).unwrap();
    assert_eq!(c.total.amount_minor(), expect_minor, "{:#?}", c.lines);
    c
}

#[test]
fn flat() {
    let tf = tariff(vec![version(&[("all", 528_300)])]);
    // 100 kWh × 0.5283 = 52.83.
    let c = check(
        &tf,
        &PricingState::default(),
        &total("2026-05-01T01:00:00Z", 0),
        &total("2026-05-01T02:00:00Z", 100_000),
        5_283,
    );
    assert_eq!(c.state.carry_femto, 0);
    // 1.23 kWh × 0.5283 = 0.649809 → 64 fen now, 0.009809 carried.
    let c = check(
        &tf,
        &PricingState::default(),
        &total("2026-05-01T01:00:00Z", 0),
        &total("2026-05-01T02:00:00Z", 1_230),
        64,
    );
    assert_eq!(c.state.carry_femto, 9_809_000_000_000);
}

#[test]
fn incremental_annual_blocks() {
    // Zhejiang-style: ≤2760 kWh/year 0.538, 2761–4800 +0.05, above +0.30.
    let mut v = version(&[("all", 538_000)]);
    v.blocks = Some(Blocks {
        period: BlockPeriod::Annual,
        mode: BlockMode::Incremental,
        blocks: vec![
            Block::uniform(Some(2_760_000), 0),
            Block::uniform(Some(4_800_000), 50_000),
            Block::uniform(None, 300_000),
        ],
    });
    let tf = tariff(vec![v]);
    let state = PricingState { block_key: Some(2026), block_position_milli: 2_700_000, ..Default::default() };
    // 100 kWh from 2700: 60 at 0.538, 40 at 0.588 = 32.28 + 23.52 = 55.80.
    let c = check(&tf, &state, &total("2026-06-01T00:00:00Z", 0), &total("2026-06-02T00:00:00Z", 100_000), 5_580);
    assert_eq!(c.state.block_position_milli, 2_800_000);
    // The new year restarts the position.
    let c = check(&tf, &c.state, &total("2027-01-05T00:00:00Z", 0), &total("2027-01-06T00:00:00Z", 10_000), 538);
    assert_eq!((c.state.block_key, c.state.block_position_milli), (Some(2027), 10_000));
}

#[test]
fn whole_volume_blocks_reprice_the_period() {
    let mut v = version(&[("all", 1_000_000)]);
    v.blocks = Some(Blocks {
        period: BlockPeriod::Monthly,
        mode: BlockMode::WholeVolume,
        blocks: vec![Block::uniform(Some(50_000), 0), Block::uniform(None, 500_000)],
    });
    let tf = tariff(vec![v]);
    let s0 = PricingState::default();
    let c1 = check(&tf, &s0, &total("2026-06-01T00:00:00Z", 0), &total("2026-06-02T00:00:00Z", 50_000), 5_000);
    // Crossing 50 kWh re-prices all 60 kWh at 1.50: 90.00 in all, so this reading costs 40.00.
    check(&tf, &c1.state, &total("2026-06-02T00:00:00Z", 50_000), &total("2026-06-03T00:00:00Z", 60_000), 4_000);
}

#[test]
fn tou_by_registers_and_by_interval() {
    let mut v = version(&[("peak", 568_000), ("valley", 288_000)]);
    peak_valley(&mut v);
    let tf = tariff(vec![v]);
    // 10 kWh peak, 20 kWh valley: 5.68 + 5.76.
    check(
        &tf,
        &PricingState::default(),
        &pv("2026-05-01T00:00:00Z", 0, 0),
        &pv("2026-05-02T00:00:00Z", 10_000, 20_000),
        1_144,
    );
    // Total-only meter: 12:00–16:00 UTC is 20:00–24:00 local: 2 h peak, 2 h valley.
    let c = check(
        &tf,
        &PricingState::default(),
        &total("2026-05-01T12:00:00Z", 0),
        &total("2026-05-01T16:00:00Z", 4_000),
        171,
    );
    assert_eq!(c.per_period_milli, vec![("peak".to_string(), 2_000), ("valley".to_string(), 2_000)]);
}

#[test]
fn version_change_splits_at_the_change_instant() {
    let old = version(&[("all", 500_000)]);
    let mut new = version(&[("all", 600_000)]);
    new.effective_from = t("2026-07-01T00:00:00+08:00");
    let tf = tariff(vec![old, new]);
    // 24 h reading, 12 h before the change: 12 kWh at 0.50 and 12 kWh at 0.60.
    let c = check(
        &tf,
        &PricingState::default(),
        &total("2026-06-30T04:00:00Z", 0),
        &total("2026-07-01T04:00:00Z", 24_000),
        1_320,
    );
    assert_eq!(c.cuts.len(), 1, "version change and month start coincide: {:?}", c.cuts);
    assert_eq!(c.cuts[0].before_milli, vec![12_000]);
}

#[test]
fn daily_and_monthly_charges_fall_due_at_local_midnights() {
    let mut v = version(&[("all", 0)]);
    v.recurring = vec![
        RecurringCharge { name: "standing charge".into(), every: Recurrence::Daily, amount_minor: 150 },
        RecurringCharge { name: "service fee".into(), every: Recurrence::Monthly, amount_minor: 1_000 },
    ];
    let tf = tariff(vec![v]);
    // 29 May 12:00 → 2 June 12:00 local: midnights of 30, 31 May, 1 and 2 June; one month start.
    check(
        &tf,
        &PricingState::default(),
        &total("2026-05-29T04:00:00Z", 0),
        &total("2026-06-02T04:00:00Z", 0),
        4 * 150 + 1_000,
    );
}

#[test]
fn minimum_charge_and_taxes() {
    let mut v = version(&[("all", 1_000_000)]);
    v.minimum_monthly_minor = Some(2_000);
    v.taxes = vec![Tax { name: "VAT".into(), rate_ppm: 150_000, inclusive: false }];
    let tf = tariff(vec![v]);
    // May: 5 kWh = 5.00 + 15 % = 5.75.
    let c = check(
        &tf,
        &PricingState::default(),
        &total("2026-05-10T00:00:00Z", 0),
        &total("2026-05-11T00:00:00Z", 5_000),
        575,
    );
    // June's first reading settles May's minimum: top-up 15.00, plus 1 kWh: (15 + 1) × 1.15 = 18.40.
    let c = check(&tf, &c.state, &total("2026-06-10T00:00:00Z", 5_000), &total("2026-06-11T00:00:00Z", 6_000), 1_840);
    assert!(c.lines.iter().any(|l| l.label == "minimum charge top-up"));
    let mut incl = version(&[("all", 1_150_000)]);
    incl.taxes = vec![Tax { name: "VAT".into(), rate_ppm: 150_000, inclusive: true }];
    let tf = tariff(vec![incl]);
    let c = check(
        &tf,
        &PricingState::default(),
        &total("2026-05-10T00:00:00Z", 0),
        &total("2026-05-11T00:00:00Z", 1_000),
        115,
    );
    assert_eq!(c.lines.iter().find(|l| l.label == "VAT (included)").unwrap().amount_femto, 150_000_000_000_000);
}

#[test]
fn free_basic_units() {
    // 50 kWh free per month, then 1.20.
    let mut v = version(&[("all", 1_200_000)]);
    v.free_milli = 50_000;
    let tf = tariff(vec![v]);
    let c = check(
        &tf,
        &PricingState::default(),
        &total("2026-05-10T00:00:00Z", 0),
        &total("2026-05-11T00:00:00Z", 30_000),
        0,
    );
    check(&tf, &c.state, &total("2026-05-11T00:00:00Z", 30_000), &total("2026-05-12T00:00:00Z", 60_000), 1_200);
}

#[test]
fn bad_readings_are_refused() {
    let tf = tariff(vec![version(&[("all", 1)])]);
    let s = PricingState::default();
    assert!(matches!(
        price(&tf, &s, &total("2026-05-10T00:00:00Z", 5), &total("2026-05-10T00:00:00Z", 6)),
        Err(PricingError::OutOfOrder { .. })
    ));
    assert!(matches!(
        price(&tf, &s, &total("2026-05-10T00:00:00Z", 5), &total("2026-05-11T00:00:00Z", 4)),
        Err(PricingError::NegativeConsumption { .. })
    ));
    let regs = Reading { at: t("2026-05-11T00:00:00Z"), registers: Registers::PerPeriod(vec![("peak".into(), 9)]) };
    assert_eq!(price(&tf, &s, &total("2026-05-10T00:00:00Z", 5), &regs), Err(PricingError::RegisterMismatch));
    assert!(matches!(
        price(&tf, &s, &total("2019-05-10T00:00:00Z", 5), &total("2019-05-11T00:00:00Z", 6)),
        Err(PricingError::NoVersion(_))
    ));
}

#[test]
fn bad_tariffs_name_the_field() {
    let mut v = version(&[("all", 1)]);
    v.blocks = Some(Blocks {
        period: BlockPeriod::Annual,
        mode: BlockMode::Incremental,
        blocks: vec![Block::uniform(Some(10), 0), Block::uniform(Some(5), 1), Block::uniform(None, 2)],
    });
    let tf = Tariff { versions: vec![v], ..tariff(vec![version(&[("all", 1)])]) };
    assert_eq!(tf.validate().unwrap_err().field, "versions[0].blocks[1].up_to");
    let mut v = version(&[("peak", 1), ("valley", 1)]);
    peak_valley(&mut v);
    if let Some(c) = v.calendar.as_mut() {
        c.seasons[0].weekday.entries = vec![(60, 0), (480, 1)];
    }
    let tf = Tariff { versions: vec![v], ..tariff(vec![version(&[("all", 1)])]) };
    let e = tf.validate().unwrap_err();
    assert_eq!(e.field, "versions[0].tou.seasons[0].weekday[0].start", "{e}");
    let tf = Tariff { versions: vec![version(&[("all", -1)])], ..tariff(vec![version(&[("all", 1)])]) };
    assert_eq!(tf.validate().unwrap_err().field, "versions[0].prices.all");
    let tf = Tariff { versions: vec![], ..tariff(vec![version(&[("all", 1)])]) };
    assert_eq!(tf.validate().unwrap_err().field, "versions");
}

/// Prices each consecutive pair of `points` from `state` on; the totals' sum and the state after, every charge's
/// lines checked to be consistent.
fn price_in_steps(tf: &Tariff, state: &PricingState, points: &[Reading]) -> (i64, PricingState) {
    let mut state = state.clone();
    let mut sum = 0_i64;
    for pair in points.windows(2) {
        let c = price(tf, &state, &pair[0], &pair[1]).unwrap();
        lines_are_consistent(&c);
        sum += c.total.amount_minor();
        state = c.state;
    }
    (sum, state)
}

/// A random tariff of one of the shapes whose pricing is split-invariant within a month.
fn any_version() -> impl Strategy<Value = TariffVersion> {
    any_version_with(false)
}

/// A random tariff for purchases, where TOU tariffs may have free units too (a purchase is of one period, so
/// no mix is shared out).
fn any_purchase_version() -> impl Strategy<Value = TariffVersion> {
    any_version_with(true)
}

fn any_version_with(free_on_tou: bool) -> impl Strategy<Value = TariffVersion> {
    (0_u8..4, 1_i64..3_000_000, 0_i64..1_000_000, 0_i64..200_000, 0_i64..500, 0_i64..40_000, any::<bool>()).prop_map(
        move |(shape, base, adder, tax_ppm, daily_minor, free, inclusive)| {
            let mut v = match shape {
                3 => {
                    let mut v = version(&[("peak", base), ("valley", base / 2)]);
                    peak_valley(&mut v);
                    v
                }
                _ => version(&[("all", base)]),
            };
            if shape == 1 || shape == 2 {
                v.blocks = Some(Blocks {
                    period: BlockPeriod::Monthly,
                    mode: if shape == 1 { BlockMode::Incremental } else { BlockMode::WholeVolume },
                    blocks: vec![
                        Block::uniform(Some(20_000), 0),
                        Block::uniform(Some(70_000), adder),
                        Block::uniform(None, adder * 3),
                    ],
                });
            }
            if shape == 0 || (shape == 3 && free_on_tou) {
                v.free_milli = free;
            }
            if shape == 3 && free_on_tou {
                // A price table whose rows step differently per period, free units on top.
                v.blocks = Some(Blocks {
                    period: BlockPeriod::Monthly,
                    mode: BlockMode::Incremental,
                    blocks: vec![
                        Block::uniform(Some(30_000), 0),
                        Block { up_to_milli: None, adder_micro: vec![adder, adder / 3] },
                    ],
                });
            }
            v.taxes = vec![Tax { name: "tax".into(), rate_ppm: tax_ppm, inclusive }];
            v.recurring =
                vec![RecurringCharge { name: "standing".into(), every: Recurrence::Daily, amount_minor: daily_minor }];
            v
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Pricing any split of the same consumption gives the same total to the minor unit, and leaves the same
    /// state (block position, carried remainder) as pricing it at once.
    #[test]
    fn any_split_prices_the_same(v in any_version(), steps in proptest::collection::vec((1_i64..86_400, 0_i64..9_000, 0_i64..9_000), 1..40)) {
        let tou = v.periods.len() > 1;
        let tf = tariff(vec![v]);
        let start = t("2026-05-01T00:00:00+08:00");
        let reading = |secs: i64, a: i64, b: i64| Reading {
            at: start + jiff::SignedDuration::from_secs(secs),
            registers: if tou { Registers::PerPeriod(vec![("peak".into(), a), ("valley".into(), b)]) } else { Registers::Total(a + b) },
        };
        let first = reading(0, 0, 0);
        let mut points = vec![first.clone()];
        let (mut secs, mut a, mut b) = (0, 0, 0);
        for (dt, da, db) in steps {
            // Stay inside May so that no month boundary forces an interpolated cut.
            secs = (secs + dt).min(29 * 86_400 + points.len() as i64);
            a += da;
            b += db;
            points.push(reading(secs, a, b));
        }
        let whole = price(&tf, &PricingState::default(), &first, points.last().unwrap()).unwrap();
        let (sum, state) = price_in_steps(&tf, &PricingState::default(), &points);
        prop_assert_eq!(sum, whole.total.amount_minor());
        prop_assert_eq!(state, whole.state);
    }

    /// What a payment buys costs, priced forward from the same state, exactly what the quote says and leaves
    /// the same state (free units used, block position, carried remainder); one more milli-unit would not fit.
    /// Free basic units, whole-volume blocks and inclusive taxes included.
    #[test]
    fn purchase_round_trips(v in any_purchase_version(), paid in 0_i64..500_000, position in 0_i64..100_000, free_used in 0_i64..60_000, carry in 0_i64..10_000_000_000_000, arrears in 0_i64..10_000, share in 0_i64..500_000, cap in proptest::option::of(0_i64..300_000)) {
        let tf = tariff(vec![v]);
        let at = t("2026-05-10T03:00:00Z");
        let state = PricingState {
            block_key: Some(202_605), block_position_milli: position, free_key: Some(202_605), free_used_milli: free_used,
            month_key: Some(202_605), carry_femto: i128::from(carry), ..Default::default()
        };
        let p = Purchase { paid_minor: paid, arrears_owed_minor: arrears, recovery: ArrearsRecovery::Share(share), fees_due_minor: 0, at, period: None, max_quantity_milli: cap };
        let q = quote(&tf, &state, &p).unwrap();
        prop_assert!(cap.is_none_or(|c| q.quantity_milli <= c), "the cap holds");
        prop_assert_eq!(q.arrears_minor + q.fees_minor + q.energy_minor + q.unspent_minor, paid);
        prop_assert!(q.arrears_minor <= arrears);
        prop_assert!(q.unspent_minor >= 0);
        let name = q.period.clone();
        let periods = tf.versions[0].periods.clone();
        // Every register, the vend period's carrying the units: forward pricing in the same period.
        let regs = |x: i64| Registers::PerPeriod(periods.iter().map(|n| (n.clone(), if *n == name { x } else { 0 })).collect());
        let forward = |x: i64| price(&tf, &state, &Reading { at, registers: regs(0) }, &Reading { at: at + jiff::SignedDuration::from_micros(1), registers: regs(x) }).unwrap();
        let c = forward(q.quantity_milli);
        prop_assert_eq!(c.total.amount_minor(), q.energy_minor, "the units cost the energy money");
        prop_assert_eq!(&c.state, &q.state, "the state after counts the units bought and carries the remainder");
        prop_assert_eq!(c.subtotal_femto + c.tax_femto, q.energy_femto);
        prop_assume!(cap.is_none_or(|c| q.quantity_milli < c));
        let plus_one = forward(q.quantity_milli + 1);
        prop_assert!(plus_one.total.amount_minor() > q.energy_minor + q.unspent_minor, "one more milli-unit would still fit");
    }
}

proptest! {
    #[test]
    fn a_purchase_by_quantity_costs_the_least_that_buys_it(v in any_purchase_version(), quantity in 1_i64..300_000, position in 0_i64..100_000, arrears in 0_i64..10_000, share in 0_i64..1_000_000, fixed in proptest::option::of(0_i64..5_000), fees in 0_i64..500) {
        let tf = tariff(vec![v]);
        let at = t("2026-05-10T03:00:00Z");
        let state = PricingState { block_key: Some(202_605), block_position_milli: position, month_key: Some(202_605), ..Default::default() };
        let recovery = fixed.map_or(ArrearsRecovery::Share(share), ArrearsRecovery::Fixed);
        let p = Purchase { paid_minor: 0, arrears_owed_minor: arrears, recovery, fees_due_minor: fees, at, period: None, max_quantity_milli: None };
        let Ok((paid, q)) = payment_for_quantity(&tf, &state, &p, quantity) else {
            // Only a 100 % share with arrears left over can make every payment go to arrears first.
            prop_assert!(share == 1_000_000 || fixed.is_some());
            return Ok(());
        };
        prop_assert_eq!(q.quantity_milli, quantity, "buys exactly the quantity");
        prop_assert_eq!(q.arrears_minor + q.fees_minor + q.energy_minor + q.unspent_minor, paid);
        prop_assert!(q.unspent_minor <= 1, "at most the split's rounding is left over: {}", q.unspent_minor);
        // A quantity whose price floors to no minor unit costs nothing now (forward pricing carries its
        // price), so only then can a smaller payment buy it too.
        if q.energy_minor > 0 {
            let less = quote(&tf, &state, &Purchase { paid_minor: paid - 1, ..p.clone() }).unwrap();
            prop_assert!(less.quantity_milli < quantity, "one minor unit less would not buy it");
        }
    }
}

// ---- Pricing exactly as docs/tariffs.md says: one test per class an independent reading found wrong. ----

/// Every itemised line with a unit price is that price times its quantity, exactly.
fn lines_are_consistent(c: &Charge) {
    for l in &c.lines {
        if let Some(p) = l.unit_price_micro {
            assert_eq!(cost(p, l.quantity_milli), l.amount_femto, "line {l:?} in {:#?}", c.lines);
        }
    }
}

#[test]
fn free_units_beyond_block_1_cost_nothing_at_all() {
    // 100 kWh free a month; block 1 = 0–50 kWh at 1.00, above at 1.53: 100 kWh used costs 0.00, not the
    // 50 × 0.53 = 26.50 of block 2's adder.
    let mut v = version(&[("all", 1_000_000)]);
    v.free_milli = 100_000;
    v.blocks = Some(Blocks {
        period: BlockPeriod::Monthly,
        mode: BlockMode::Incremental,
        blocks: vec![Block::uniform(Some(50_000), 0), Block::uniform(None, 530_000)],
    });
    let tf = tariff(vec![v]);
    let c = check(
        &tf,
        &PricingState::default(),
        &total("2026-05-10T00:00:00Z", 0),
        &total("2026-05-11T00:00:00Z", 100_000),
        0,
    );
    lines_are_consistent(&c);
    // The next 10 kWh pay block 2's full price: 15.30.
    let c =
        check(&tf, &c.state, &total("2026-05-11T00:00:00Z", 100_000), &total("2026-05-12T00:00:00Z", 110_000), 1_530);
    lines_are_consistent(&c);
}

#[test]
fn free_units_on_a_tou_tariff_are_shared_over_the_periods_by_use() {
    // 10 kWh free; 30 kWh peak at 1.00 and 10 kWh valley at 0.40 in one reading: the free 10 kWh are three
    // quarters peak, one quarter valley (the reading's mix): 22.5 × 1.00 + 7.5 × 0.40 = 25.50.
    let mut v = version(&[("peak", 1_000_000), ("valley", 400_000)]);
    peak_valley(&mut v);
    v.free_milli = 10_000;
    let tf = tariff(vec![v]);
    let c = check(
        &tf,
        &PricingState::default(),
        &pv("2026-05-01T00:00:00Z", 0, 0),
        &pv("2026-05-02T00:00:00Z", 30_000, 10_000),
        2_550,
    );
    lines_are_consistent(&c);
}

#[test]
fn a_months_minimum_is_its_own_versions() {
    // May's version has a 20.00 minimum, June's 50.00. May used 10.00: the top-up charged in June is 10.00.
    let mut may = version(&[("all", 1_000_000)]);
    may.minimum_monthly_minor = Some(2_000);
    let mut june = version(&[("all", 1_000_000)]);
    june.minimum_monthly_minor = Some(5_000);
    june.effective_from = t("2026-06-01T00:00:00+08:00");
    let tf = tariff(vec![may, june]);
    let c = check(
        &tf,
        &PricingState::default(),
        &total("2026-05-10T00:00:00Z", 0),
        &total("2026-05-11T00:00:00Z", 10_000),
        1_000,
    );
    // June: 1 kWh (1.00) + May's top-up 10.00.
    check(&tf, &c.state, &total("2026-06-10T00:00:00Z", 10_000), &total("2026-06-11T00:00:00Z", 11_000), 1_100);
}

#[test]
fn the_autumn_clock_change_prices_like_its_half_hours() {
    // Europe/London, 25 October 2026: 01:00–02:00 local happens twice (BST, then GMT). A boundary at 01:30
    // switches valley (0.30) to peak (1.00) each time the wall clock passes it.
    let mut v = version(&[("peak", 1_000_000), ("valley", 300_000)]);
    let day = DaySchedule { entries: vec![(0, 1), (90, 0), (420, 1)] };
    v.calendar = Some(TouCalendar::all_year(TimeZone::get("Europe/London").unwrap(), day));
    let tf = Tariff { time_zone: TimeZone::get("Europe/London").unwrap(), ..tariff(vec![v]) };
    // 00:00Z–02:00Z: 1 kWh, evenly: half an hour each of valley, peak, valley, peak = 0.5 × 0.30 + 0.5 × 1.00.
    let whole = check(
        &tf,
        &PricingState::default(),
        &total("2026-10-25T00:00:00Z", 0),
        &total("2026-10-25T02:00:00Z", 1_000),
        65,
    );
    assert_eq!(whole.per_period_milli, vec![("peak".to_string(), 500), ("valley".to_string(), 500)]);
    let mut state = PricingState::default();
    let mut sum = 0;
    for (i, at) in ["00:30", "01:00", "01:30", "02:00"].iter().enumerate() {
        let prev = if i == 0 { "00:00" } else { ["00:30", "01:00", "01:30"][i - 1] };
        let c = price(
            &tf,
            &state,
            &total(&format!("2026-10-25T{prev}:00Z"), i as i64 * 250),
            &total(&format!("2026-10-25T{at}:00Z"), (i as i64 + 1) * 250),
        )
        .unwrap();
        sum += c.total.amount_minor();
        state = c.state;
    }
    assert_eq!(sum, 65, "four half-hour readings price as the one reading");
    assert_eq!(state, whole.state);
}

#[test]
fn a_charge_due_at_an_instant_belongs_to_the_interval_it_starts() {
    // June's monthly fee 20.00, July's 30.00 (a version from 1 July). A reading ending at local midnight of
    // 1 July owes no monthly fee; the one starting there owes July's 30.00.
    let mut june = version(&[("all", 0)]);
    june.recurring =
        vec![RecurringCharge { name: "service fee".into(), every: Recurrence::Monthly, amount_minor: 2_000 }];
    let mut july = june.clone();
    july.effective_from = t("2026-07-01T00:00:00+08:00");
    july.recurring[0].amount_minor = 3_000;
    let tf = tariff(vec![june, july]);
    let c = check(
        &tf,
        &PricingState::default(),
        &total("2026-06-15T00:00:00+08:00", 0),
        &total("2026-07-01T00:00:00+08:00", 0),
        0,
    );
    let c = check(&tf, &c.state, &total("2026-07-01T00:00:00+08:00", 0), &total("2026-07-15T00:00:00+08:00", 0), 3_000);
    // Midnights: 1 July is in this interval's start, so 15 July's is the next one's.
    let mut daily = version(&[("all", 0)]);
    daily.recurring = vec![RecurringCharge { name: "standing".into(), every: Recurrence::Daily, amount_minor: 100 }];
    let tf = tariff(vec![daily]);
    check(&tf, &c.state, &total("2026-07-01T00:00:00+08:00", 0), &total("2026-07-02T00:00:00+08:00", 0), 100);
    check(&tf, &c.state, &total("2026-07-01T00:00:01+08:00", 0), &total("2026-07-02T00:00:01+08:00", 0), 100);
}

#[test]
fn holidays_are_priced_as_weekends_and_weekend_days_must_be_named() {
    use jiff::civil::{Date, Weekday};
    // Weekdays all peak (1.00), weekends all valley (0.30); 1 October 2026 is a Thursday holiday.
    let mut v = version(&[("peak", 1_000_000), ("valley", 300_000)]);
    let mut cal = TouCalendar::all_year(TimeZone::get("Asia/Shanghai").unwrap(), DaySchedule { entries: vec![(0, 0)] });
    cal.seasons[0].weekend = Some(DaySchedule { entries: vec![(0, 1)] });
    cal.weekend_days = vec![Weekday::Saturday, Weekday::Sunday];
    cal.holidays = vec![Date::new(2026, 10, 1).unwrap()];
    v.calendar = Some(cal.clone());
    let tf = tariff(vec![v.clone()]);
    check(
        &tf,
        &PricingState::default(),
        &total("2026-10-01T00:00:00+08:00", 0),
        &total("2026-10-02T00:00:00+08:00", 10_000),
        300,
    );
    check(
        &tf,
        &PricingState::default(),
        &total("2026-10-02T00:00:00+08:00", 0),
        &total("2026-10-03T00:00:00+08:00", 10_000),
        1_000,
    );
    // A weekend schedule with no weekend days would never apply: refused.
    cal.weekend_days.clear();
    v.calendar = Some(cal);
    let bad = Tariff { versions: vec![v], ..tf };
    assert_eq!(bad.validate().unwrap_err().field, "versions[0].tou.weekend");
}

#[test]
fn whole_volume_lines_show_what_they_charge() {
    // 1.00 up to 50 kWh a month, 1.50 for all of the month's units above: 50 kWh then 10 kWh. The crossing
    // reading shows its own 10 kWh at 1.50 and the month's earlier 50 kWh re-priced by 0.50.
    let mut v = version(&[("all", 1_000_000)]);
    v.blocks = Some(Blocks {
        period: BlockPeriod::Monthly,
        mode: BlockMode::WholeVolume,
        blocks: vec![Block::uniform(Some(50_000), 0), Block::uniform(None, 500_000)],
    });
    let tf = tariff(vec![v]);
    let c1 = check(
        &tf,
        &PricingState::default(),
        &total("2026-06-01T00:00:00Z", 0),
        &total("2026-06-02T00:00:00Z", 50_000),
        5_000,
    );
    let c2 =
        check(&tf, &c1.state, &total("2026-06-02T00:00:00Z", 50_000), &total("2026-06-03T00:00:00Z", 60_000), 4_000);
    lines_are_consistent(&c2);
    let reprice = c2.lines.iter().find(|l| l.label == "block 2 re-prices earlier units").unwrap();
    assert_eq!((reprice.quantity_milli, reprice.unit_price_micro), (50_000, Some(500_000)));
}

/// Shanghai residential (沪发改价管〔2012〕): annual blocks 0–3120 / 3120–4800 / above kWh, peak 06:00–22:00
/// and valley 22:00–06:00, the published price table (block 2 adds 0.06 to peak but 0.03 to valley).
fn shanghai() -> Tariff {
    let mut v = version(&[("peak", 617_000), ("valley", 307_000)]);
    let day = DaySchedule { entries: vec![(0, 1), (360, 0), (1_320, 1)] };
    v.calendar = Some(TouCalendar::all_year(TimeZone::get("Asia/Shanghai").unwrap(), day));
    v.blocks = Some(Blocks {
        period: BlockPeriod::Annual,
        mode: BlockMode::Incremental,
        blocks: vec![
            Block { up_to_milli: Some(3_120_000), adder_micro: vec![0, 0] },
            Block { up_to_milli: Some(4_800_000), adder_micro: vec![60_000, 30_000] },
            Block { up_to_milli: None, adder_micro: vec![360_000, 180_000] },
        ],
    });
    tariff(vec![v])
}

#[test]
fn a_price_table_prices_each_block_and_period_as_published() {
    let tf = shanghai();
    // 3000 kWh used this year; a month of 300 kWh peak + 100 kWh valley crosses 3120 after 120 kWh. The
    // reading's mix is 3:1, so of the 280 kWh in block 2, 210 are peak and 70 valley:
    //   block 1: 90 × 0.617 + 30 × 0.307 = 55.53 + 9.21 = 64.74
    //   block 2: 210 × 0.677 + 70 × 0.337 = 142.17 + 23.59 = 165.76        total 230.50
    let state = PricingState { block_key: Some(2026), block_position_milli: 3_000_000, ..Default::default() };
    let c = check(
        &tf,
        &state,
        &pv("2026-08-01T00:00:00+08:00", 0, 0),
        &pv("2026-09-01T00:00:00+08:00", 300_000, 100_000),
        23_050,
    );
    lines_are_consistent(&c);
    assert!(c.lines.iter().any(|l| l.label == "block 2 adder valley" && l.quantity_milli == 70_000), "{:#?}", c.lines);
    // Past 4800 kWh: 100 kWh peak + 100 kWh valley all in block 3: 97.70 + 48.70 = 146.40.
    let far = PricingState { block_position_milli: 5_000_000, ..state };
    check(
        &tf,
        &far,
        &pv("2026-08-01T00:00:00+08:00", 0, 0),
        &pv("2026-09-01T00:00:00+08:00", 100_000, 100_000),
        14_640,
    );
}

proptest! {
    /// A price table's blocks: readings whose registers advance in the same mix price the same however the
    /// use is split (the mix decides how a crossing shares out over the periods, and it is the same).
    #[test]
    fn a_price_table_prices_any_same_mix_split_the_same(peak in 1_i64..40, valley in 0_i64..40, position in 0_i64..4_000_000, steps in proptest::collection::vec(1_i64..2_000, 1..30)) {
        let tf = shanghai();
        let start = t("2026-05-01T00:00:00+08:00");
        let reading = |secs: i64, k: i64| Reading {
            at: start + jiff::SignedDuration::from_secs(secs),
            registers: Registers::PerPeriod(vec![("peak".into(), k * peak), ("valley".into(), k * valley)]),
        };
        let state = PricingState { block_key: Some(2026), block_position_milli: position, month_key: Some(202_605), ..Default::default() };
        let mut points = vec![reading(0, 0)];
        let mut k = 0;
        for (i, dk) in steps.iter().enumerate() {
            k += dk;
            points.push(reading((i as i64 + 1) * 600, k));
        }
        let whole = price(&tf, &state, &points[0], points.last().unwrap()).unwrap();
        let (sum, after) = price_in_steps(&tf, &state, &points);
        prop_assert_eq!(sum, whole.total.amount_minor());
        prop_assert_eq!(after, whole.state);
    }
}

#[test]
fn whole_volume_blocks_that_fall_say_why_a_payment_buys_no_single_quantity() {
    let mut v = version(&[("all", 5_000_000)]);
    v.blocks = Some(Blocks {
        period: BlockPeriod::Monthly,
        mode: BlockMode::WholeVolume,
        blocks: vec![Block::uniform(Some(10_000), 0), Block::uniform(None, -1_000_000)],
    });
    let tf = tariff(vec![v]);
    let p = Purchase {
        paid_minor: 10_000,
        arrears_owed_minor: 0,
        recovery: ArrearsRecovery::None,
        fees_due_minor: 0,
        at: t("2026-05-10T03:00:00Z"),
        period: None,
        max_quantity_milli: None,
    };
    let e = quote(&tf, &PricingState::default(), &p).unwrap_err().to_string();
    assert!(
        e.contains("block 2 prices every unit of the month at 4.00 once its use passes 10, less than block 1's 5.00"),
        "{e}"
    );
}

#[test]
fn each_versions_taxes_apply_to_what_was_charged_under_it() {
    // Found by an independent implementation of docs/tariffs.md: 1.00/kWh throughout, a 10 % tax from 1 March
    // only. 100 kWh evenly from 27 February to 3 March: 50 kWh untaxed, 50 kWh taxed = 105.00 — and the same
    // when the reading is split at the version change.
    let old = version(&[("all", 1_000_000)]);
    let mut new = version(&[("all", 1_000_000)]);
    new.effective_from = t("2026-03-01T00:00:00+08:00");
    new.taxes = vec![Tax { name: "tax".into(), rate_ppm: 100_000, inclusive: false }];
    let tf = tariff(vec![old, new]);
    let reading = |at: &str, kwh: i64| total(at, kwh * 1_000);
    let points = [
        reading("2026-02-27T00:00:00+08:00", 0),
        reading("2026-03-01T00:00:00+08:00", 50),
        reading("2026-03-03T00:00:00+08:00", 100),
    ];
    let whole = check(&tf, &PricingState::default(), &points[0], &points[2], 10_500);
    let (sum, state) = price_in_steps(&tf, &PricingState::default(), &points);
    assert_eq!((sum, &state), (10_500, &whole.state));
    // The other way round: the tax only in the first version taxes only the first half.
    let mut taxed = version(&[("all", 1_000_000)]);
    taxed.taxes = vec![Tax { name: "tax".into(), rate_ppm: 100_000, inclusive: false }];
    let mut untaxed = version(&[("all", 1_000_000)]);
    untaxed.effective_from = t("2026-03-01T00:00:00+08:00");
    let tf = tariff(vec![taxed, untaxed]);
    check(&tf, &PricingState::default(), &points[0], &points[2], 10_500);
}

#[test]
fn the_whole_free_allowance_is_credited_whatever_the_mix() {
    // 1 kWh free; 1 kWh peak at 100.00 and 2.001 kWh valley at 40.00 (a mix that does not divide evenly). The
    // free 1 000 Wh are shared 333 peak / 667 valley — all 1 000 of them: 180.04 − (33.30 + 26.68) = 120.06.
    let mut v = version(&[("peak", 100_000_000), ("valley", 40_000_000)]);
    peak_valley(&mut v);
    v.free_milli = 1_000;
    let tf = tariff(vec![v]);
    let c = check(
        &tf,
        &PricingState::default(),
        &pv("2026-05-01T00:00:00Z", 0, 0),
        &pv("2026-05-02T00:00:00Z", 1_000, 2_001),
        12_006,
    );
    lines_are_consistent(&c);
    let free = c.lines.iter().find(|l| l.label == FREE_UNITS_LABEL).unwrap();
    assert_eq!((free.quantity_milli, c.state.free_used_milli), (1_000, 1_000));
}

#[test]
fn amounts_out_of_range_are_refused_not_overflowed() {
    // A register of 10¹⁸ Wh (from a readings file, say) is refused rather than overflowing the arithmetic.
    let mut v = version(&[("peak", 1_000_000), ("valley", 1)]);
    peak_valley(&mut v);
    let tf = tariff(vec![v]);
    let a = pv("2026-05-01T00:00:00Z", 0, 0);
    let b = pv("2026-05-02T00:00:00Z", 1_000_000_000_000_000_000, 5_000_000_000_000_000_000);
    assert!(matches!(price(&tf, &PricingState::default(), &a, &b), Err(PricingError::Unsupported(_))));
    // Prices, adders and limits beyond the bounds are refused by the tariff's validation.
    let mut v = version(&[("all", PRICE_MAX + 1)]);
    let e = Tariff { versions: vec![v.clone()], ..tariff(vec![version(&[("all", 1)])]) }.validate().unwrap_err();
    assert_eq!(e.field, "versions[0].prices.all");
    v.base_price_micro = vec![1];
    v.blocks = Some(Blocks {
        period: BlockPeriod::Monthly,
        mode: BlockMode::Incremental,
        blocks: vec![Block::uniform(Some(1_000), 0), Block::uniform(None, -(PRICE_MAX + 1))],
    });
    let e = Tariff { versions: vec![v], ..tariff(vec![version(&[("all", 1)])]) }.validate().unwrap_err();
    assert_eq!(e.field, "versions[0].blocks[1]");
}

const PRICE_MAX: i64 = crate::tariff::PRICE_MAX_MICRO;
