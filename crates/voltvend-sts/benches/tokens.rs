//! Tokens per second per core (criterion, one thread): EA07 and EA11 with a cached decoder key and with key
//! derivation on every token, plus OpenPAYGO. The same run measures the `openpaygo` Python package on this
//! machine as the peer baseline for OpenPAYGO tokens, so results compare as ratios on a noisy machine.
//!
//! Run: `cargo bench -p voltvend-sts --bench tokens`.

// A measurement tool, not library code: a failed set-up should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::process::Command;

use criterion::{Criterion, Throughput};
use voltvend_sts::keys::{KeyParams, KeyType, VendingKey};
use voltvend_sts::openpaygo::{OpgDevice, OpgFormat, OpgKind};
use voltvend_sts::vend::{Issuer, MeterKeyRecord};
use voltvend_sts::{BaseDate, Ea, Pan, Tid, TransferKind};

fn record(ea: Ea) -> MeterKeyRecord {
    MeterKeyRecord {
        pan: Pan::parse("600727000000000009").unwrap(),
        params: KeyParams { kt: KeyType::UNIQUE, sgc: 123_457, ti: 1, krn: 1, ken: 255, base: BaseDate::Y2014, ea },
    }
}

fn sts(c: &mut Criterion) {
    let vk = VendingKey::from_hex("abababababababab949494949494949401234567").unwrap();
    let des = VendingKey::from_hex("ABABABABABABABAB").unwrap();
    let mut g = c.benchmark_group("sts");
    g.throughput(Throughput::Elements(1));
    for ea in [Ea::Sta, Ea::Misty1] {
        let issuer = Issuer::new(&vk, record(ea)).unwrap();
        let mut minutes = 6_000_000_u32;
        g.bench_function(format!("EA{} cached key: token number", ea.code()), |b| {
            b.iter(|| {
                minutes = minutes.wrapping_add(1) & 0xFF_FFFF;
                let tid = Tid::new(minutes).unwrap();
                black_box(issuer.credit(TransferKind::Electricity, black_box(125), tid, 5))
            })
        });
        g.bench_function(format!("EA{} cached key: 20 digits", ea.code()), |b| {
            b.iter(|| {
                minutes = minutes.wrapping_add(1) & 0xFF_FFFF;
                let tid = Tid::new(minutes).unwrap();
                black_box(issuer.credit(TransferKind::Electricity, black_box(125), tid, 5).map(|n| n.digits()))
            })
        });
        g.bench_function(format!("EA{} DKGA04 derivation per token", ea.code()), |b| {
            b.iter(|| {
                let issuer = Issuer::new(&vk, record(ea)).unwrap();
                black_box(issuer.credit(TransferKind::Electricity, 125, Tid::new(6_000_000).unwrap(), 5))
            })
        });
    }
    g.bench_function("EA07 DKGA02 derivation per token", |b| {
        b.iter(|| {
            let issuer = Issuer::new(&des, record(Ea::Sta)).unwrap();
            black_box(issuer.credit(TransferKind::Electricity, 125, Tid::new(6_000_000).unwrap(), 5))
        })
    });
    g.finish();
}

fn openpaygo(c: &mut Criterion) {
    let device = OpgDevice::from_hex("bc41ec9530f6dac86b1a29ab82edc5fb", Some(516_959_010)).unwrap();
    let mut g = c.benchmark_group("openpaygo");
    g.throughput(Throughput::Elements(1));
    // Count 100: each token is 101 SipHash steps, the cost that dominates in the field.
    g.bench_function("standard ADD_TIME at count 100", |b| {
        b.iter(|| black_box(device.encode(OpgKind::AddTime(7), black_box(100), OpgFormat::default())))
    });
    g.finish();
}

/// The `openpaygo` package's rate for the same token on this machine, in this run (the script `voltvend bench
/// tokens` runs too).
fn python_baseline() {
    let script = include_str!("openpaygo_rate.py");
    match Command::new("python3").args(["-c", script, "2"]).output() {
        Ok(o) if o.status.success() => println!(
            "baseline: openpaygo (PyPI, CPython) standard ADD_TIME at count 100: {} tokens/s on this machine, this run",
            String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap_or("?")
        ),
        _ => println!(
            "baseline: python3 with openpaygo not available (pip install openpaygo); no peer baseline this run"
        ),
    }
}

fn main() {
    python_baseline();
    let mut c = Criterion::default().configure_from_args();
    sts(&mut c);
    openpaygo(&mut c);
    c.final_summary();
}
