//! `voltvend bench tokens`: tokens (STS 20-digit, OpenPAYGO 9-digit) made per second, on one core and on every core — STS credit tokens
//! (IEC 62055-41) under EA07 (STA) and EA11 (MISTY1) with the meter's decoder key at hand, and with the key
//! derived for every token (DKGA-04) as a sale to a meter not seen before does; OpenPAYGO ADD_TIME tokens at
//! count 100 (each a hundred SipHash steps, the cost that dominates in the field). Beside them, in the same run:
//! the `openpaygo` package from PyPI making the same OpenPAYGO token, whose answer must be ours digit for digit.
//! Each phase runs for `--seconds`; nothing is stored. An STS key change campaign over a million meters is
//! `voltvend bench campaign`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;
use voltvend_sts::keys::{KeyParams, KeyType, VendingKey};
use voltvend_sts::openpaygo::{OpgDevice, OpgFormat, OpgKind};
use voltvend_sts::vend::{Issuer, MeterKeyRecord};
use voltvend_sts::{BaseDate, Ea, Pan, Tid, TransferKind};

use crate::bench_vend::Machine;

#[derive(Debug, Args)]
pub struct TokensArgs {
    /// How long each phase runs, in seconds.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Threads for the all-cores phases (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
    #[command(flatten)]
    out: crate::bench::JsonOut,
}

/// The peer's script: the `openpaygo` package making the token measured here, for as long as asked.
const PEER: &str = include_str!("../../voltvend-sts/benches/openpaygo_rate.py");
/// The OpenPAYGO device and token both sides make (the peer script's).
const OPG_KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";
const OPG_STARTING_CODE: u64 = 516_959_010;
const OPG_COUNT: u32 = 100;
const OPG_DAYS: u32 = 7;

/// One kind of token, made by `make(i)` for the `i`th token of a thread.
struct Phase {
    name: &'static str,
    make: Box<dyn Fn(u64) -> anyhow::Result<String> + Send + Sync>,
}

fn record(ea: Ea, serial: u64) -> anyhow::Result<MeterKeyRecord> {
    // The benches' IIN and an 11-digit DRN: a different meter for every serial.
    let pan = Pan::from_parts(crate::bench_vend::STS_IIN, &format!("{:011}", serial % 100_000_000_000))?;
    Ok(MeterKeyRecord {
        pan,
        params: KeyParams { kt: KeyType::UNIQUE, sgc: 123_457, ti: 1, krn: 1, ken: 255, base: BaseDate::Y2014, ea },
    })
}

fn phases() -> anyhow::Result<Vec<Phase>> {
    let vk = VendingKey::from_hex("abababababababab949494949494949401234567")?;
    let mut out = Vec::new();
    for (ea, cached, derived) in [
        (Ea::Sta, "STS EA07 (STA), decoder key at hand", "STS EA07, decoder key derived per token"),
        (Ea::Misty1, "STS EA11 (MISTY1), decoder key at hand", "STS EA11, decoder key derived per token"),
    ] {
        let issuer = Arc::new(Issuer::new(&vk, record(ea, 9)?)?);
        out.push(Phase {
            name: cached,
            make: Box::new(move |i| {
                // A new token identifier for every token, as every sale has.
                let tid = Tid::new(6_000_000 + (i % 1_000_000) as u32)?;
                Ok(issuer.credit(TransferKind::Electricity, 125, tid, (i % 16) as u8)?.digits())
            }),
        });
        let vk = vk.clone();
        out.push(Phase {
            name: derived,
            make: Box::new(move |i| {
                let issuer = Issuer::new(&vk, record(ea, i)?)?;
                Ok(issuer.credit(TransferKind::Electricity, 125, Tid::new(6_000_000)?, 5)?.digits())
            }),
        });
    }
    let device = OpgDevice::from_hex(OPG_KEY, Some(OPG_STARTING_CODE))?;
    out.push(Phase {
        name: "OpenPAYGO ADD_TIME at count 100",
        make: Box::new(move |_| Ok(device.encode(OpgKind::AddTime(OPG_DAYS), OPG_COUNT, OpgFormat::default())?.1)),
    });
    Ok(out)
}

/// Tokens per second over `threads` threads for `seconds`, each thread counting its own.
fn rate(phase: &Phase, threads: usize, seconds: f64) -> anyhow::Result<f64> {
    let deadline = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let made = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> anyhow::Result<u64> {
                    let mut n = 0_u64;
                    let mut i = (t as u64) << 40;
                    loop {
                        // Check the clock every 64 tokens, not every token.
                        for _ in 0..64 {
                            std::hint::black_box((phase.make)(i)?);
                            i += 1;
                        }
                        n += 64;
                        if started.elapsed() >= deadline {
                            return Ok(n);
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| anyhow::anyhow!("a bench thread panicked"))?)
            .sum::<anyhow::Result<u64>>()
    })?;
    Ok(made as f64 / started.elapsed().as_secs_f64())
}

/// The peer's rate, and whether its token is ours; `Err` says why there is no baseline.
fn peer(seconds: f64) -> Result<(f64, bool), String> {
    let out = std::process::Command::new("python3")
        .args(["-c", PEER, &seconds.to_string()])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 with openpaygo (pip install openpaygo): {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let rate: f64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(|| format!("the peer said {text:?}"))?;
    let (count, token) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let device = OpgDevice::from_hex(OPG_KEY, Some(OPG_STARTING_CODE)).map_err(|e| e.to_string())?;
    let (ours_count, ours) =
        device.encode(OpgKind::AddTime(OPG_DAYS), OPG_COUNT, OpgFormat::default()).map_err(|e| e.to_string())?;
    Ok((rate, count == ours_count.to_string() && token == ours))
}

pub async fn run(args: TokensArgs) -> anyhow::Result<()> {
    if !(args.seconds > 0.0 && args.seconds <= 600.0) {
        bail!("--seconds must be more than 0 and at most 600");
    }
    let machine = Machine::read().await;
    let threads = args.threads.unwrap_or(machine.cores);
    if !(1..=1024).contains(&threads) {
        bail!("--threads must be 1–1024");
    }
    let seconds = args.seconds;
    println!("bench tokens: {seconds} s a phase, one thread then {threads}, on {} cores", machine.cores);
    let (peer, figures) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let peer = peer(seconds);
        let mut figures = Vec::new();
        for phase in phases()? {
            let one = rate(&phase, 1, seconds)?;
            let all = rate(&phase, threads, seconds)?;
            println!("measured   {:<44} {one:>10.0} tokens/s on one core  {all:>10.0} on {threads}", phase.name);
            figures.push(json!({ "token": phase.name, "per_s_one_core": one, "per_s_all_threads": all }));
        }
        Ok((peer, figures))
    })
    .await
    .context("the bench's threads")??;
    let opg_one = figures.last().and_then(|f| f["per_s_one_core"].as_f64()).unwrap_or(0.0);
    let (baseline, ratio) = match &peer {
        Ok((rate, agrees)) => {
            if !agrees {
                bail!("the openpaygo package's token differs from ours: a bug to find before any figure counts");
            }
            println!(
                "baseline   {:<44} {rate:>10.0} tokens/s on one core (the same token, digit for digit)",
                "openpaygo (PyPI, CPython) ADD_TIME at count 100"
            );
            println!("ratio      OpenPAYGO: {:.0} × the openpaygo package's rate on one core", opg_one / rate);
            (json!({ "openpaygo_python_per_s_one_core": rate, "same_token": agrees }), Some(opg_one / rate))
        }
        Err(why) => {
            println!("baseline   none this run: {why}");
            (json!({ "skipped": why }), None)
        }
    };
    args.out
        .write(crate::bench::Figures {
            bench: "tokens",
            backend: None,
            scenario: json!({ "seconds_per_phase": seconds, "threads": threads, "sts_amount_tenths_kwh": 125,
                              "openpaygo": { "count": OPG_COUNT, "days": OPG_DAYS } }),
            figures: json!(figures),
            baseline,
            ratios: json!({ "openpaygo_per_python_one_core": ratio }),
        })
        .await?;
    Ok(())
}
