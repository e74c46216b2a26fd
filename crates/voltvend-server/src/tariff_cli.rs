//! `voltvend tariff`: import, export, show and quote tariffs.
//!
//! `quote` needs no database when given a file: it prices a CSV of register readings (`time` in RFC 3339 with
//! offset, then `total_kwh` — or `total_m3` for water — or one column per TOU register named after the
//! tariff's periods) and prints the itemised charge, or with `--pay` what a payment buys.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use jiff::Timestamp;
use serde_json::{Value, json};
use voltvend_domain::Money;
use voltvend_domain::decimal::{format_scaled, parse_scaled};
use voltvend_domain::tariff::Tariff;
use voltvend_domain::tariff::inverse::{ArrearsRecovery, Purchase, quote, state_at_position};
use voltvend_domain::tariff::pricing::{ChargeLine, PricingState, Reading, Registers, price};

use crate::settings::Settings;
use voltvend_tariff_file::{self as tariff_file, TariffFile};

#[derive(Debug, Subcommand)]
pub enum TariffCommand {
    /// Validate a tariff file and store it as the code's next revision.
    Import { file: PathBuf },
    /// Print a stored tariff's document.
    Export {
        code: String,
        /// Print JSON instead of the TOML as imported.
        #[arg(long)]
        json: bool,
    },
    /// Summarise a stored tariff (by code) or a tariff file.
    Show { code_or_file: String },
    /// List stored tariffs.
    List,
    /// Price a series of register readings, or with --pay, say what a payment buys.
    Quote {
        /// A tariff file, or the code of a stored tariff.
        #[arg(long)]
        tariff: String,
        /// CSV of readings: `time`, then `total_kwh` (or `total_m3`) or one column per TOU period.
        #[arg(long)]
        readings: Option<PathBuf>,
        /// Amount paid: print what it buys instead of pricing readings.
        #[arg(long)]
        pay: Option<String>,
        /// Arrears owed (with --pay; default 0).
        #[arg(long)]
        arrears: Option<String>,
        /// Share of each payment that recovers arrears, 0 to 100 percent (with --pay; default 0).
        #[arg(long)]
        recovery_percent: Option<String>,
        /// Fees due now (with --pay; default 0).
        #[arg(long)]
        fees: Option<String>,
        /// Instant of the purchase (with --pay; default now).
        #[arg(long)]
        at: Option<Timestamp>,
        /// kWh (m³) already used in the current block period (with --pay; default 0).
        #[arg(long)]
        block_position: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn parse(text: &str, source: &str) -> anyhow::Result<(TariffFile, Tariff)> {
    tariff_file::parse(text).map_err(|e| anyhow::anyhow!("{source}: {e}"))
}

/// Commands that need no database.
pub fn run_offline(command: &TariffCommand, now: Timestamp) -> Option<anyhow::Result<()>> {
    match command {
        TariffCommand::Show { code_or_file } if Path::new(code_or_file).is_file() => Some(
            read(Path::new(code_or_file))
                .and_then(|t| parse(&t, code_or_file))
                .map(|(_, t)| println!("{}", summary(&t))),
        ),
        TariffCommand::Quote { tariff, .. } if Path::new(tariff).is_file() => {
            Some(read(Path::new(tariff)).and_then(|text| quote_command(command, &text, tariff, now)))
        }
        _ => None,
    }
}

pub async fn run(
    settings: &Settings,
    clock: std::sync::Arc<dyn voltvend_domain::Clock>,
    command: TariffCommand,
) -> anyhow::Result<()> {
    let now = clock.now();
    if let Some(result) = run_offline(&command, now) {
        return result;
    }
    let store = crate::serve::open_store(settings, clock.clone(), crate::serve::Access::Existing).await?;
    let result = async {
        match &command {
            TariffCommand::Import { file } => {
                let text = read(file)?;
                let (f, tariff) = parse(&text, &file.display().to_string())?;
                let lock = crate::serve::lock_for_writing(store.as_ref()).await?;
                let ids = crate::clock::IdGenerator::new(clock.clone());
                let command = voltvend_ops::Command::ImportTariff(voltvend_ops::ImportTariff {
                    code: f.code.clone(),
                    name: f.name.clone(),
                    document: text.clone(),
                });
                let imported = store.run(ids.id(), "cli", command).await;
                lock.release().await;
                let voltvend_ops::Outcome::TariffImported { revision, .. } = imported? else {
                    anyhow::bail!("the import answered something else");
                };
                println!("imported {} revision {revision} ({} version(s))", f.code, tariff.versions.len());
            }
            TariffCommand::Export { code, json } => {
                let doc = store.tariff_document(code).await?.with_context(|| format!("no tariff {code:?}"))?;
                if *json {
                    let (f, _) = parse(&doc.document, code)?;
                    println!("{}", serde_json::to_string_pretty(&f)?);
                } else {
                    print!("{}", doc.document);
                }
            }
            TariffCommand::Show { code_or_file } => {
                let doc = store
                    .tariff_document(code_or_file)
                    .await?
                    .with_context(|| format!("no tariff or file {code_or_file:?}"))?;
                let (_, t) = parse(&doc.document, code_or_file)?;
                println!("{} (revision {})", summary(&t), doc.revision);
            }
            TariffCommand::List => {
                let documents = store.tariff_documents().await?;
                if documents.is_empty() {
                    println!("no tariffs are stored yet; add one with `voltvend tariff import FILE`");
                }
                for d in documents {
                    println!("{}\trevision {}\t{}", d.code, d.revision, d.name);
                }
            }
            TariffCommand::Quote { tariff, .. } => {
                let doc =
                    store.tariff_document(tariff).await?.with_context(|| format!("no tariff or file {tariff:?}"))?;
                quote_command(&command, &doc.document, tariff, now)?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}

fn decimal3(milli: i64) -> String {
    format_scaled(milli, 3)
}

fn price6(micro: i64) -> String {
    format_scaled(micro, 6)
}

/// An exact amount shown with 6 decimals of the major unit (exact values can carry more).
fn exact(femto: i128) -> String {
    format_scaled(i64::try_from(femto / 1_000_000_000).unwrap_or(i64::MAX), 6)
}

fn unit_name(t: &Tariff) -> &'static str {
    match t.utility {
        voltvend_domain::Utility::Electricity => "kWh",
        voltvend_domain::Utility::Water => "m³",
    }
}

/// An instant in the tariff's time zone, with its offset.
fn local(t: &Tariff, at: Timestamp) -> String {
    at.to_zoned(t.time_zone.clone()).strftime("%Y-%m-%d %H:%M %:z").to_string()
}

/// An instant as RFC 3339 in the tariff's time zone, so that readings show the local times they were taken.
fn local_rfc3339(t: &Tariff, at: Timestamp) -> String {
    at.to_zoned(t.time_zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

fn period_words(p: voltvend_domain::tariff::BlockPeriod) -> &'static str {
    match p {
        voltvend_domain::tariff::BlockPeriod::Monthly => "month",
        voltvend_domain::tariff::BlockPeriod::Annual => "year",
    }
}

/// A day schedule as `00:00 valley, 08:00 peak, …`.
fn schedule(
    v: &voltvend_domain::tariff::TariffVersion,
    day: &voltvend_domain::tariff::calendar::DaySchedule,
) -> String {
    day.entries
        .iter()
        .map(|(m, p)| format!("{:02}:{:02} {}", m / 60, m % 60, v.periods.get(*p).map_or("?", String::as_str)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A person's reading of a tariff: prices as published (absolute per block and period, and for tariffs with
/// several periods the step over block 1), schedules for weekdays, weekends and holidays, times in the
/// tariff's time zone with its offset.
pub fn summary(t: &Tariff) -> String {
    use voltvend_domain::tariff::{BlockMode, Recurrence};
    let unit = unit_name(t);
    let mut out = format!(
        "{} — {} ({}, {}, time zone {})",
        t.code,
        t.name,
        t.utility,
        t.currency,
        t.time_zone.iana_name().unwrap_or("?")
    );
    for v in &t.versions {
        out.push_str(&format!("\n  from {}:", local(t, v.effective_from)));
        let several = v.periods.len() > 1;
        match &v.blocks {
            None => {
                for (p, base) in v.periods.iter().zip(&v.base_price_micro) {
                    let label = if several { p.as_str() } else { "price" };
                    out.push_str(&format!("\n    {label:<8} {} {}/{unit}", price6(*base), t.currency));
                }
            }
            Some(b) => {
                let how = match b.mode {
                    BlockMode::Incremental => "each unit at the price of the block it falls in",
                    BlockMode::WholeVolume => "every unit at the price of the block the total reaches",
                };
                out.push_str(&format!("\n    blocks of the {}'s use, {how}:", period_words(b.period)));
                // A price table's rows may step by a different amount per period; only a common step is shown.
                let first = b.blocks.first().and_then(|x| x.uniform_adder(v.periods.len()));
                let mut from = 0_i64;
                for (i, block) in b.blocks.iter().enumerate() {
                    let range = match block.up_to_milli {
                        Some(u) => format!("{}–{} {unit}", decimal3(from), decimal3(u)),
                        None => format!("above {} {unit}", decimal3(from)),
                    };
                    let prices: Vec<String> = v
                        .periods
                        .iter()
                        .enumerate()
                        .map(|(p, name)| {
                            let price = format!("{} {}/{unit}", price6(v.price_micro(p, Some(i))), t.currency);
                            if several { format!("{name} {price}") } else { price }
                        })
                        .collect();
                    let step = match (several && i > 0, block.uniform_adder(v.periods.len()), first) {
                        (true, Some(a), Some(f)) => {
                            let d = a - f;
                            format!(" ({}{} over block 1)", if d >= 0 { "+" } else { "−" }, price6(d.abs()))
                        }
                        _ => String::new(),
                    };
                    out.push_str(&format!("\n      block {} {range}: {}{step}", i + 1, prices.join(", ")));
                    from = block.up_to_milli.unwrap_or(from);
                }
            }
        }
        if let Some(c) = &v.calendar {
            // Without weekend days or holidays the weekday schedule is every day's.
            let plain = if c.weekend_days.is_empty() && c.holidays.is_empty() { "every day" } else { "weekdays" };
            for season in &c.seasons {
                out.push_str(&format!(
                    "\n    season {} from {:02}-{:02}:\n      {plain}: {}",
                    season.name,
                    season.from_month,
                    season.from_day,
                    schedule(v, &season.weekday)
                ));
                match &season.weekend {
                    Some(d) => out.push_str(&format!("\n      weekends: {}", schedule(v, d))),
                    None if !c.weekend_days.is_empty() => out.push_str("\n      weekends: as weekdays"),
                    None => {}
                }
                match &season.holiday {
                    Some(d) => out.push_str(&format!("\n      holidays: {}", schedule(v, d))),
                    None if !c.holidays.is_empty() && season.weekend.is_some() => {
                        out.push_str("\n      holidays: as weekends")
                    }
                    None if !c.holidays.is_empty() => out.push_str("\n      holidays: as weekdays"),
                    None => {}
                }
            }
            for o in &c.overlays {
                let windows: Vec<String> = o
                    .windows
                    .iter()
                    .map(|(a, b)| format!("{:02}:{:02}–{:02}:{:02}", a / 60, a % 60, b / 60, b % 60))
                    .collect();
                out.push_str(&format!(
                    "\n    {} from {:02}-{:02} to {:02}-{:02}, every day: {} {}",
                    o.name,
                    o.from.0,
                    o.from.1,
                    o.to.0,
                    o.to.1,
                    windows.join(", "),
                    v.periods.get(o.period).map_or("?", String::as_str)
                ));
            }
            if !c.weekend_days.is_empty() {
                let days: Vec<String> = c.weekend_days.iter().map(|d| format!("{d:?}").to_lowercase()).collect();
                out.push_str(&format!("\n    weekend days: {}", days.join(", ")));
            }
            if !c.holidays.is_empty() {
                let days: Vec<String> = c.holidays.iter().map(ToString::to_string).collect();
                out.push_str(&format!("\n    holidays: {}", days.join(", ")));
            }
        }
        if v.free_milli > 0 {
            out.push_str(&format!(
                "\n    free basic units: {} {unit} per {}",
                decimal3(v.free_milli),
                period_words(v.free_period)
            ));
        }
        for r in &v.recurring {
            let every = match r.every {
                Recurrence::Daily => "every day",
                Recurrence::Monthly => "every month",
            };
            out.push_str(&format!("\n    {} {}, {every}", r.name, Money::from_minor(r.amount_minor, t.currency)));
        }
        if let Some(m) = v.minimum_monthly_minor {
            out.push_str(&format!("\n    minimum monthly charge {}", Money::from_minor(m, t.currency)));
        }
        for tax in &v.taxes {
            let incl = if tax.inclusive { " (included in prices)" } else { " (added to prices)" };
            out.push_str(&format!(
                "\n    {} {}%{incl}",
                tax.name,
                price6(tax.rate_ppm * 100).trim_end_matches('0').trim_end_matches('.')
            ));
        }
    }
    out
}

/// The total-register column for a utility, and the other one.
fn total_columns(t: &Tariff) -> (&'static str, &'static str) {
    match t.utility {
        voltvend_domain::Utility::Electricity => ("total_kwh", "total_m3"),
        voltvend_domain::Utility::Water => ("total_m3", "total_kwh"),
    }
}

/// Parses the readings CSV, naming the line or the column of any problem. A file that could price wrong is
/// refused: a per-period file must have a column for every period of the tariff (a missing one would be
/// priced as if nothing were used in it), and the total column must be the tariff's utility's. A UTF-8 byte
/// order mark, as spreadsheet programs write, is skipped.
pub fn parse_readings(text: &str, tariff: &Tariff) -> anyhow::Result<Vec<Reading>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (_, header) = lines.next().context("the readings file is empty")?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let (total_column, other_total) = total_columns(tariff);
    if columns.first() != Some(&"time") || columns.len() < 2 {
        bail!("line 1: the header must be `time` followed by `{total_column}` or the period columns");
    }
    let registers = columns.get(1..).unwrap_or(&[]).to_vec();
    for (i, r) in registers.iter().enumerate() {
        if registers.iter().take(i).any(|x| x == r) {
            bail!("line 1: column {r:?} appears twice");
        }
    }
    if registers.contains(&other_total) {
        bail!(
            "line 1: column {other_total:?} does not fit this {} tariff; its total register column is {total_column:?}",
            tariff.utility
        );
    }
    let total = registers.as_slice() == [total_column];
    if !total {
        if registers.contains(&total_column) {
            bail!("line 1: column {total_column:?} cannot be mixed with period columns; give one or the other");
        }
        let known: Vec<&String> = tariff.versions.iter().flat_map(|v| &v.periods).collect();
        for r in &registers {
            if !known.iter().any(|p| p == r) {
                bail!("line 1: column {r:?} is neither {total_column} nor a period of the tariff {known:?}");
            }
        }
    }
    let mut out = Vec::new();
    for (n, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != columns.len() {
            bail!("line {}: expected {} columns, found {}", n + 1, columns.len(), cells.len());
        }
        let at: Timestamp = cells.first().and_then(|c| c.parse().ok()).with_context(|| {
            format!("line {}: time must be RFC 3339 with an offset, e.g. 2026-05-01T00:00:00+08:00", n + 1)
        })?;
        let mut values = Vec::new();
        for (name, cell) in registers.iter().zip(cells.iter().skip(1)) {
            let v = parse_scaled(cell, 3).ok().filter(|v| *v >= 0).ok_or_else(|| {
                anyhow::anyhow!("line {}: {name} {cell:?} is not a reading (up to 3 decimals)", n + 1)
            })?;
            values.push((name.to_string(), v));
        }
        let registers =
            if total { Registers::Total(values.first().map_or(0, |v| v.1)) } else { Registers::PerPeriod(values) };
        out.push(Reading { at, registers });
    }
    if out.len() < 2 {
        bail!("at least two readings are needed to price consumption");
    }
    if !total && let (Some(first), Some(last)) = (out.first(), out.last()) {
        // Every period of every version in force over the readings needs its register.
        for v in tariff.versions.iter().filter(|v| {
            v.effective_from <= last.at
                && tariff.version_at(first.at).is_none_or(|f| v.effective_from >= f.effective_from)
        }) {
            if let Some(p) = v.periods.iter().find(|p| !registers.contains(&p.as_str())) {
                bail!(
                    "line 1: column {p:?} is missing: the tariff prices period {p:?}, and without its register that \
                     use would be priced as zero; give every period ({}) or `{total_column}`",
                    v.periods.join(", ")
                );
            }
        }
    }
    Ok(out)
}

/// What the tariff sells, in words: "energy" or "water".
fn commodity(t: &Tariff) -> &'static str {
    match t.utility {
        voltvend_domain::Utility::Electricity => "energy",
        voltvend_domain::Utility::Water => "water",
    }
}

/// A charge line's label as a person reads it: the engine labels units "energy PERIOD"; a tariff without
/// time of use has the one period "all", which says nothing, and water is not energy.
fn item_label(t: &Tariff, label: &str) -> String {
    match label.strip_prefix("energy ") {
        Some("all") => commodity(t).to_string(),
        Some(period) => format!("{} {period}", commodity(t)),
        None => label.to_string(),
    }
}

/// Itemised charge lines: label, quantity, unit price, exact amount.
fn print_lines(t: &Tariff, lines: &[ChargeLine], unit: &str) {
    for l in lines {
        let qty = if l.quantity_milli != 0 { format!("{} {unit}", decimal3(l.quantity_milli)) } else { String::new() };
        let at = l.unit_price_micro.map(|p| format!("× {}", price6(p))).unwrap_or_default();
        println!("  {:<28} {:>14} {:>14} {:>16}", item_label(t, &l.label), qty, at, exact(l.amount_femto));
    }
}

fn merge(all: &mut Vec<ChargeLine>, lines: Vec<ChargeLine>) {
    for l in lines {
        match all.iter_mut().find(|a| a.label == l.label && a.unit_price_micro == l.unit_price_micro) {
            Some(a) => {
                a.quantity_milli += l.quantity_milli;
                a.amount_femto += l.amount_femto;
            }
            None => all.push(l),
        }
    }
}

/// One interval between consecutive readings, priced.
#[derive(Debug, Clone)]
pub struct PricedInterval {
    pub from: Timestamp,
    pub to: Timestamp,
    pub consumption_milli: i64,
    pub charge: Money,
    /// Where the interval was cut (a price change, a block boundary…) and why.
    pub cuts: Vec<(Timestamp, String)>,
}

/// A series of readings priced from a fresh pricing state: each interval, the itemised lines merged, the
/// total, and the state left (its carried remainder, its block position).
#[derive(Debug, Clone)]
pub struct PricedSeries {
    pub intervals: Vec<PricedInterval>,
    pub lines: Vec<ChargeLine>,
    pub total: Money,
    pub state: PricingState,
}

/// Prices consecutive readings by the tariff, as billing does; an error names the readings it is about.
pub fn price_series(tariff: &Tariff, list: &[Reading]) -> Result<PricedSeries, String> {
    let mut state = PricingState::default();
    let mut lines = Vec::new();
    let mut intervals = Vec::new();
    let mut total = 0_i64;
    for (i, pair) in list.windows(2).enumerate() {
        let [a, b] = pair else { continue };
        let c = price(tariff, &state, a, b).map_err(|e| format!("readings {} → {}: {e}", i + 1, i + 2))?;
        total = total.checked_add(c.total.amount_minor()).ok_or("the total is beyond what money can hold")?;
        intervals.push(PricedInterval {
            from: a.at,
            to: b.at,
            consumption_milli: c.consumption_milli,
            charge: c.total,
            cuts: c.cuts.iter().map(|x| (x.at, x.reason.to_string())).collect(),
        });
        merge(&mut lines, c.lines);
        state = c.state;
    }
    Ok(PricedSeries { intervals, lines, total: Money::from_minor(total, tariff.currency), state })
}

/// The label of a charge line for people (`energy peak` → `electricity peak`, water not called energy).
pub fn line_label(t: &Tariff, label: &str) -> String {
    item_label(t, label)
}

/// Thousandths as a decimal with three places; millionths of a price with six; an exact amount in 10⁻¹⁵.
pub fn quantity_text(milli: i64) -> String {
    decimal3(milli)
}

pub fn price_text(micro: i64) -> String {
    price6(micro)
}

pub fn exact_text(femto: i128) -> String {
    exact(femto)
}

fn quote_command(command: &TariffCommand, text: &str, source: &str, now: Timestamp) -> anyhow::Result<()> {
    let TariffCommand::Quote { readings, pay, arrears, recovery_percent, fees, at, block_position, json, .. } = command
    else {
        return Ok(());
    };
    // Each flag does something or is refused: the purchase flags price a payment, not readings.
    match (readings, pay) {
        (Some(_), Some(_)) => bail!("give --readings FILE.csv to price readings or --pay AMOUNT, not both"),
        (None, None) => bail!("give --readings FILE.csv to price readings, or --pay AMOUNT"),
        (Some(_), None) => {
            let given = [
                (arrears.is_some(), "--arrears"),
                (recovery_percent.is_some(), "--recovery-percent"),
                (fees.is_some(), "--fees"),
                (at.is_some(), "--at"),
                (block_position.is_some(), "--block-position"),
            ];
            if let Some((_, flag)) = given.iter().find(|(g, _)| *g) {
                bail!("{flag} describes a purchase and goes with --pay; readings carry their own times and use");
            }
        }
        (None, Some(_)) => {}
    }
    let (_, tariff) = parse(text, source)?;
    let unit = unit_name(&tariff);
    let money = |s: &str, what: &str| -> anyhow::Result<i64> {
        let minor =
            Money::parse(s, tariff.currency).map(|m| m.amount_minor()).map_err(|e| anyhow::anyhow!("--{what}: {e}"))?;
        if minor < 0 {
            bail!("--{what} {s}: an amount cannot be negative");
        }
        Ok(minor)
    };
    if let Some(paid) = pay {
        let at = at.unwrap_or(now);
        let position_text = block_position.as_deref().unwrap_or("0");
        let position = parse_scaled(position_text, 3).ok().filter(|p| *p >= 0).ok_or_else(|| {
            anyhow::anyhow!("--block-position {position_text}: not a quantity (0 or more, up to 3 decimals)")
        })?;
        let state = state_at_position(&tariff, at, position)?;
        // A percentage with up to 4 decimals is a ppm count.
        let percent = recovery_percent.as_deref().unwrap_or("0");
        let share_ppm = parse_scaled(percent, 4)
            .ok()
            .filter(|p| (0..=1_000_000).contains(p))
            .ok_or_else(|| anyhow::anyhow!("--recovery-percent {percent}: not a percentage from 0 to 100"))?;
        let q = quote(
            &tariff,
            &state,
            &Purchase {
                paid_minor: money(paid, "pay")?,
                arrears_owed_minor: money(arrears.as_deref().unwrap_or("0"), "arrears")?,
                recovery: ArrearsRecovery::Share(share_ppm),
                fees_due_minor: money(fees.as_deref().unwrap_or("0"), "fees")?,
                at,
                period: None,
                max_quantity_milli: None,
            },
        )?;
        let m = |minor: i64| Money::from_minor(minor, tariff.currency);
        let paid_minor = money(paid, "pay")?;
        if *json {
            println!(
                "{}",
                json!({
                    "paid": m(paid_minor).to_decimal_string(), "arrears": m(q.arrears_minor).to_decimal_string(),
                    "fees": m(q.fees_minor).to_decimal_string(), "energy": m(q.energy_minor).to_decimal_string(),
                    "tax_in_energy": m(q.tax_minor).to_decimal_string(),
                    "tax_included": m(q.tax_included_minor).to_decimal_string(),
                    "quantity": decimal3(q.quantity_milli), "free_quantity": decimal3(q.free_milli), "unit": unit,
                    "unspent": m(q.unspent_minor).to_decimal_string(), "period": q.period,
                    "blocks": q.blocks.iter().map(|b| json!({"block": b.block.map(|i| i + 1), "quantity": decimal3(b.quantity_milli), "price": price6(b.unit_price_micro)})).collect::<Vec<_>>(),
                    "lines": q.lines.iter().map(|l| json!({"item": l.label, "quantity": decimal3(l.quantity_milli), "price": l.unit_price_micro.map(price6), "amount": exact(l.amount_femto)})).collect::<Vec<Value>>(),
                    "carried_remainder": exact(q.state.carry_femto),
                })
            );
        } else {
            println!("paid               {}", m(paid_minor));
            println!("arrears recovered  {}", m(q.arrears_minor));
            println!("fees               {}", m(q.fees_minor));
            let period = if q.period == "all" { String::new() } else { format!(" ({} period)", q.period) };
            println!(
                "{:<19}{} for {} {unit}{period}",
                commodity(&tariff),
                m(q.energy_minor),
                decimal3(q.quantity_milli)
            );
            // The same itemisation as pricing readings: what was bought costs exactly this, read forward.
            print_lines(&tariff, &q.lines, unit);
            if q.tax_minor > 0 {
                println!("  tax added        {}", m(q.tax_minor));
            }
            if q.tax_included_minor > 0 {
                println!("  tax included     {}", m(q.tax_included_minor));
            }
            if q.state.carry_femto > 0 {
                // Floored as readings are: the part of a minor unit not charged now is charged with the next.
                println!(
                    "carried remainder  {} (charged with the next purchase or reading)",
                    exact(q.state.carry_femto)
                );
            }
            println!("left as credit     {}", m(q.unspent_minor));
        }
        return Ok(());
    }
    let path = readings.as_ref().context("give --readings FILE.csv to price, or --pay AMOUNT")?;
    let list = parse_readings(&read(path)?, &tariff)?;
    let series = price_series(&tariff, &list).map_err(|e| anyhow::anyhow!(e))?;
    let intervals: Vec<Value> = series
        .intervals
        .iter()
        .map(|iv| {
            json!({
                "from": local_rfc3339(&tariff, iv.from), "to": local_rfc3339(&tariff, iv.to),
                "consumption": decimal3(iv.consumption_milli), "charge": iv.charge.to_decimal_string(),
                "cuts": iv.cuts.iter().map(|(at, reason)| json!({"at": local_rfc3339(&tariff, *at), "reason": reason})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let (lines, state, m) = (series.lines, series.state, series.total);
    let carry = exact(state.carry_femto);
    if *json {
        println!(
            "{}",
            json!({
                "tariff": tariff.code, "currency": tariff.currency.code(), "unit": unit, "intervals": intervals,
                "lines": lines.iter().map(|l| json!({"item": l.label, "quantity": decimal3(l.quantity_milli), "price": l.unit_price_micro.map(price6), "amount": exact(l.amount_femto)})).collect::<Vec<Value>>(),
                "total": m.to_decimal_string(), "carried_remainder": carry,
                "block_position": decimal3(state.block_position_milli),
            })
        );
    } else {
        println!("{}", summary(&tariff).lines().next().unwrap_or_default());
        for iv in &intervals {
            println!(
                "  {} → {}  {:>12} {unit}  {:>12}",
                iv["from"].as_str().unwrap_or_default(),
                iv["to"].as_str().unwrap_or_default(),
                iv["consumption"].as_str().unwrap_or_default(),
                iv["charge"].as_str().unwrap_or_default()
            );
        }
        println!("itemised:");
        print_lines(&tariff, &lines, unit);
        println!(
            "total {m} (remainder carried to the next reading: {carry}; exact 10⁻¹⁵ precision: {})",
            state.carry_femto
        );
    }
    Ok(())
}
