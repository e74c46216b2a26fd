//! Readings priced per second on a TOU + blocks tariff with taxes and a daily charge (the Zhejiang shape), beside
//! a baseline of the same loop doing only the subtraction of readings, so the ratio shows the pricing cost.
//! Two cases: meters with per-period registers, and total-only meters apportioned over the TOU calendar.
//!
//! Run: `cargo bench -p voltvend-domain --bench pricing`.

// A measurement tool, not library code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use voltvend_domain::tariff::calendar::{DaySchedule, TouCalendar};
use voltvend_domain::tariff::pricing::{PricingState, Reading, Registers, price};
use voltvend_domain::tariff::{
    Block, BlockMode, BlockPeriod, Blocks, Recurrence, RecurringCharge, Tariff, TariffVersion, Tax,
};
use voltvend_domain::{Currency, Utility};

fn tariff() -> Tariff {
    let tz = TimeZone::get("Asia/Shanghai").unwrap();
    let day = DaySchedule { entries: vec![(0, 1), (480, 0), (1_320, 1)] };
    Tariff {
        code: "bench".into(),
        name: "bench".into(),
        utility: Utility::Electricity,
        currency: Currency::CNY,
        time_zone: tz.clone(),
        friendly_hours: None,
        alarms: None,
        versions: vec![TariffVersion {
            effective_from: "2020-01-01T00:00:00Z".parse().unwrap(),
            periods: vec!["peak".into(), "valley".into()],
            base_price_micro: vec![568_000, 288_000],
            calendar: Some(TouCalendar::all_year(tz, day)),
            blocks: Some(Blocks {
                period: BlockPeriod::Annual,
                mode: BlockMode::Incremental,
                blocks: vec![
                    Block::uniform(Some(2_760_000), 0),
                    Block::uniform(Some(4_800_000), 50_000),
                    Block::uniform(None, 300_000),
                ],
            }),
            free_milli: 0,
            free_period: BlockPeriod::Monthly,
            recurring: vec![RecurringCharge { name: "standing".into(), every: Recurrence::Daily, amount_minor: 30 }],
            minimum_monthly_minor: None,
            taxes: vec![Tax { name: "VAT".into(), rate_ppm: 130_000, inclusive: false }],
        }],
    }
}

/// 15-minute readings for 90 days.
fn readings(per_period: bool) -> Vec<Reading> {
    let start: Timestamp = "2026-03-01T00:00:00+08:00".parse().unwrap();
    (0..96 * 90)
        .map(|i: i64| {
            let at = start + SignedDuration::from_mins(15 * i);
            let registers = if per_period {
                Registers::PerPeriod(vec![("peak".into(), i * 180), ("valley".into(), i * 90)])
            } else {
                Registers::Total(i * 270)
            };
            Reading { at, registers }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let tariff = tariff();
    for (label, per_period) in [("per-period registers", true), ("total register, TOU by time", false)] {
        let list = readings(per_period);
        let mut g = c.benchmark_group(format!("pricing/{label}"));
        g.throughput(Throughput::Elements((list.len() - 1) as u64));
        g.bench_function("baseline: subtract readings only", |b| {
            b.iter(|| {
                let mut sum = 0_i64;
                for pair in list.windows(2) {
                    let delta = |r: &Reading| match &r.registers {
                        Registers::Total(v) => *v,
                        Registers::PerPeriod(v) => v.iter().map(|x| x.1).sum(),
                    };
                    sum += delta(&pair[1]) - delta(&pair[0]);
                }
                black_box(sum)
            })
        });
        g.bench_function("price TOU + blocks + tax + daily charge", |b| {
            b.iter(|| {
                let mut state = PricingState::default();
                let mut total = 0_i64;
                for pair in list.windows(2) {
                    let charge = price(&tariff, &state, &pair[0], &pair[1]).unwrap();
                    total += charge.total.amount_minor();
                    state = charge.state;
                }
                black_box(total)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
