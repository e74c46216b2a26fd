//! Inverse pricing against forward pricing on every tariff shipped in `tariffs/`: what a payment buys, priced
//! as readings from the same pricing state, costs exactly the energy money (the rest of a minor unit carried
//! in the state), and one more Wh (litre) would cost more than the money.

// Tests may panic: a failed expectation is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use voltvend_domain::tariff::inverse::{ArrearsRecovery, Purchase, quote, state_at_position};
use voltvend_domain::tariff::pricing::{PricingState, Reading, Registers, period_key, price};
use voltvend_domain::tariff::{FEMTO_PER_MAJOR, Tariff};

fn shipped() -> Vec<(String, Tariff)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tariffs");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml" || e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let (_, tariff) = voltvend_tariff_file::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((path.display().to_string(), tariff));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 4, "the shipped tariffs are found: {out:?}");
    out
}

/// Forward pricing of `quantity_milli` bought in `period` at `at`: a reading pair one microsecond long, every
/// register present, only the vend period's moving. `at` is a whole second, so no midnight, month start or
/// version change falls inside.
fn forward(
    tariff: &Tariff,
    state: &PricingState,
    at: Timestamp,
    period: &str,
    quantity_milli: i64,
) -> voltvend_domain::tariff::pricing::Charge {
    let periods = tariff.version_at(at).unwrap().periods.clone();
    let regs =
        |x: i64| Registers::PerPeriod(periods.iter().map(|n| (n.clone(), if n == period { x } else { 0 })).collect());
    let a = Reading { at, registers: regs(0) };
    let b = Reading { at: at + SignedDuration::from_micros(1), registers: regs(quantity_milli) };
    price(tariff, state, &a, &b).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn what_a_payment_buys_costs_the_payment_on_every_shipped_tariff(
        which in 0_usize..64,
        // Seconds from 2024-07-01 (the oldest shipped version) over about three years.
        offset_s in 0_i64..94_000_000,
        paid_minor in 0_i64..200_000,
        position_milli in 0_i64..1_500_000,
        free_used_milli in 0_i64..80_000,
        carry_ppm in 0_i64..1_000_000,
        month_energy_minor in 0_i64..50_000,
        stale in any::<bool>(),
        arrears_minor in 0_i64..20_000,
        share_ppm in 0_i64..600_000,
        fees_minor in 0_i64..500,
    ) {
        let tariffs = shipped();
        let (name, tariff) = &tariffs[which % tariffs.len()];
        let at = Timestamp::from_second(1_719_784_800 + offset_s).unwrap();
        prop_assume!(tariff.version_at(at).is_some());
        let version = tariff.version_at(at).unwrap();
        let date = at.to_zoned(tariff.time_zone.clone()).date();
        let unit = FEMTO_PER_MAJOR / i128::from(tariff.currency.minor_per_major());
        // The account's state: this period's or, when stale, an earlier period's keys (forward pricing then
        // starts the period afresh), any remainder carried below a minor unit.
        let shift = if stale { -1 } else { 0 };
        let key = |p| period_key(p, date) + shift;
        let state = PricingState {
            block_key: version.blocks.as_ref().map(|b| key(b.period)),
            block_position_milli: position_milli,
            free_key: Some(key(version.free_period)),
            free_used_milli: free_used_milli.min(version.free_milli),
            month_key: Some(key(voltvend_domain::tariff::BlockPeriod::Monthly)),
            month_energy_femto: i128::from(month_energy_minor) * unit,
            carry_femto: unit * i128::from(carry_ppm) / 1_000_000,
        };
        let purchase = Purchase {
            paid_minor,
            arrears_owed_minor: arrears_minor,
            recovery: ArrearsRecovery::Share(share_ppm),
            fees_due_minor: fees_minor,
            at,
            period: None,
            max_quantity_milli: None,
        };
        let q = quote(tariff, &state, &purchase).unwrap();
        let money = paid_minor - q.arrears_minor - q.fees_minor;
        prop_assert_eq!(q.energy_minor + q.unspent_minor, money, "{}", name);
        let c = forward(tariff, &state, at, &q.period, q.quantity_milli);
        prop_assert_eq!(c.total.amount_minor(), q.energy_minor, "{}: the units cost the energy money", name);
        prop_assert_eq!(&c.state, &q.state, "{}: the same state after, remainder carried", name);
        let more = forward(tariff, &state, at, &q.period, q.quantity_milli + 1);
        prop_assert!(more.total.amount_minor() > money, "{}: one more Wh would still fit", name);
    }
}

/// The example of issue 10: ZAR 500 at the start of a month on the FBE tariff buys the 50 free kWh as well,
/// and forward pricing of what it buys is ZAR 500 less what does not buy a whole Wh, VAT (included) shown.
#[test]
fn free_basic_units_and_included_vat_are_in_what_a_payment_buys() {
    let tariffs = shipped();
    let (_, tariff) = tariffs.iter().find(|(n, _)| n.ends_with("za-municipal-ibt-fbe.toml")).unwrap();
    let at: Timestamp = "2026-05-01T10:00:00+02:00".parse().unwrap();
    let state = state_at_position(tariff, at, 0).unwrap();
    let purchase = Purchase {
        paid_minor: 50_000,
        arrears_owed_minor: 0,
        recovery: ArrearsRecovery::None,
        fees_due_minor: 0,
        at,
        period: None,
        max_quantity_milli: None,
    };
    let q = quote(tariff, &state, &purchase).unwrap();
    assert_eq!(q.free_milli, 50_000, "{q:#?}");
    let c = forward(tariff, &state, at, "all", q.quantity_milli);
    assert_eq!(c.total.amount_minor(), q.energy_minor);
    assert!(50_000 - q.energy_minor <= 1, "at most what one Wh costs is left: {q:#?}");
    // 15 % included: 15/115 of the exact charge, floored; within a cent of 15/115 of the energy money.
    assert!((q.tax_included_minor - q.energy_minor * 15 / 115).abs() <= 1, "{q:#?}");
    assert!(q.tax_included_minor > 6_000, "{q:#?}");
    assert_eq!(q.tax_minor, 0);
}
