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
            Block { up_to_milli: Some(2_760_000), adder_micro: 0 },
            Block { up_to_milli: Some(4_800_000), adder_micro: 50_000 },
            Block { up_to_milli: None, adder_micro: 300_000 },
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
        blocks: vec![
            Block { up_to_milli: Some(50_000), adder_micro: 0 },
            Block { up_to_milli: None, adder_micro: 500_000 },
        ],
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
    let regs = |at: &str, p: i64, q: i64| Reading {
        at: t(at),
        registers: Registers::PerPeriod(vec![("peak".into(), p), ("valley".into(), q)]),
    };
    // 10 kWh peak, 20 kWh valley: 5.68 + 5.76.
    check(
        &tf,
        &PricingState::default(),
        &regs("2026-05-01T00:00:00Z", 0, 0),
        &regs("2026-05-02T00:00:00Z", 10_000, 20_000),
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
        blocks: vec![
            Block { up_to_milli: Some(10), adder_micro: 0 },
            Block { up_to_milli: Some(5), adder_micro: 1 },
            Block { up_to_milli: None, adder_micro: 2 },
        ],
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

/// A random tariff of one of the shapes whose pricing is split-invariant within a month.
fn any_version() -> impl Strategy<Value = TariffVersion> {
    (0_u8..4, 1_i64..3_000_000, 0_i64..1_000_000, 0_i64..200_000, 0_i64..500, 0_i64..40_000, any::<bool>()).prop_map(
        |(shape, base, adder, tax_ppm, daily_minor, free, inclusive)| {
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
                        Block { up_to_milli: Some(20_000), adder_micro: 0 },
                        Block { up_to_milli: Some(70_000), adder_micro: adder },
                        Block { up_to_milli: None, adder_micro: adder * 3 },
                    ],
                });
            }
            if shape == 0 {
                v.free_milli = free;
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
        let mut state = PricingState::default();
        let mut sum = 0_i64;
        for pair in points.windows(2) {
            let c = price(&tf, &state, &pair[0], &pair[1]).unwrap();
            sum += c.total.amount_minor();
            state = c.state;
        }
        prop_assert_eq!(sum, whole.total.amount_minor());
        prop_assert_eq!(state, whole.state);
    }

    /// What a payment buys costs, priced forward from the same state, exactly what the quote says and leaves
    /// the same state (free units used, block position, carried remainder); one more milli-unit would not fit.
    /// Free basic units, whole-volume blocks and inclusive taxes included.
    #[test]
    fn purchase_round_trips(v in any_version(), paid in 0_i64..500_000, position in 0_i64..100_000, free_used in 0_i64..60_000, carry in 0_i64..10_000_000_000_000, arrears in 0_i64..10_000, share in 0_i64..500_000, cap in proptest::option::of(0_i64..300_000)) {
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
    fn a_purchase_by_quantity_costs_the_least_that_buys_it(v in any_version(), quantity in 1_i64..300_000, position in 0_i64..100_000, arrears in 0_i64..10_000, share in 0_i64..1_000_000, fixed in proptest::option::of(0_i64..5_000), fees in 0_i64..500) {
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
