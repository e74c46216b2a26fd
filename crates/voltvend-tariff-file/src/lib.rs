//! The tariff file: TOML (or JSON with the same shape) mapped onto the domain's tariff model. Problems are
//! reported with the field at fault (`versions[0].blocks[1].up_to: …`) and, for syntax and type errors, the
//! line and column. See docs/tariffs.md for the format with worked examples.
//!
//! Architecture invariant: the only place that knows the tariff file format. It maps files onto
//! `voltvend_domain::tariff` (which stays free of serde) and back, and holds no pricing rule.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use voltvend_domain::decimal::parse_scaled;
use voltvend_domain::tariff::calendar::{DaySchedule, Overlay, Season, TouCalendar};
use voltvend_domain::tariff::friendly::FriendlyHours;
use voltvend_domain::tariff::{
    Alarms, Block, BlockMode, BlockPeriod, Blocks, Recurrence, RecurringCharge, Tariff, TariffError, TariffVersion, Tax,
};
use voltvend_domain::{Currency, Money, Utility};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TariffFile {
    pub code: String,
    pub name: String,
    #[serde(default = "electricity")]
    pub utility: String,
    pub currency: String,
    pub time_zone: String,
    pub versions: Vec<VersionFile>,
    /// When a prepaid supply is not disconnected for lack of credit (友好时段).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_hours: Option<FriendlyFile>,
    /// Low-balance alarm levels, money in the tariff's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<AlarmsFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmsFile {
    pub level_1: String,
    pub level_2: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FriendlyFile {
    /// A nightly window, local "HH:MM-HH:MM" (may wrap midnight, e.g. "22:00-07:00").
    #[serde(default)]
    pub night: Option<String>,
    /// Whole days, e.g. ["sat", "sun"].
    #[serde(default)]
    pub weekend: Vec<String>,
    /// Whole dates, YYYY-MM-DD.
    #[serde(default)]
    pub holidays: Vec<String>,
}

fn electricity() -> String {
    "electricity".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionFile {
    /// RFC 3339 with offset, e.g. 2026-01-01T00:00:00+08:00.
    pub effective_from: String,
    /// Period names in register order; defaults to ["all"].
    #[serde(default)]
    pub periods: Vec<String>,
    /// Price per kWh (per m³ for water) by period, up to 6 decimals.
    #[serde(default)]
    pub prices: BTreeMap<String, String>,
    #[serde(default)]
    pub tou: Option<TouFile>,
    /// "monthly" or "annual".
    #[serde(default)]
    pub block_period: Option<String>,
    /// "incremental" (cumulative, the default) or "whole_volume" (independent).
    #[serde(default)]
    pub block_mode: Option<String>,
    #[serde(default)]
    pub blocks: Vec<BlockFile>,
    /// Free basic units per month (or per `free_period`).
    #[serde(default)]
    pub free_units: Option<String>,
    #[serde(default)]
    pub free_period: Option<String>,
    #[serde(default)]
    pub charges: Vec<ChargeFile>,
    /// Monthly minimum energy charge, in money.
    #[serde(default)]
    pub minimum_monthly: Option<String>,
    #[serde(default)]
    pub taxes: Vec<TaxFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockFile {
    /// Upper limit of the block in kWh (m³) per block period; omitted on the last block.
    #[serde(default)]
    pub up_to: Option<String>,
    /// Added to every period's base price in this block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adder: Option<String>,
    /// Added to each period's base price in this block, by period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adders: Option<BTreeMap<String, String>>,
    /// For single-period tariffs: the block's absolute price (instead of `adder`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// The block's absolute price for each period — a published price table's row (instead of adders; the
    /// version then gives no `prices`: block 1's row is the base).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TouFile {
    /// Days whose schedule is `weekend`; ["sat", "sun"] when a weekend schedule is given without them.
    #[serde(default)]
    pub weekend: Vec<String>,
    /// Dates whose schedule is `holiday` (or, without one, `weekend`), YYYY-MM-DD.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// The base day schedules, for every season that does not give its own (or all year without seasons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekday: Option<Vec<EntryFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekend_schedule: Option<Vec<EntryFile>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holiday_schedule: Option<Vec<EntryFile>>,
    #[serde(default)]
    pub seasons: Vec<SeasonFile>,
    /// Windows of one period laid over every day between two dates of each year (a summer sharp peak).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlays: Vec<OverlayFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonFile {
    pub name: String,
    /// MM-DD the season starts; it lasts until the next season starts.
    pub from: String,
    /// The season's schedules; any left out are the base schedules of `tou`.
    #[serde(default)]
    pub weekday: Option<Vec<EntryFile>>,
    #[serde(default)]
    pub weekend: Option<Vec<EntryFile>>,
    #[serde(default)]
    pub holiday: Option<Vec<EntryFile>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverlayFile {
    pub name: String,
    /// MM-DD, the first day it applies.
    pub from: String,
    /// MM-DD, the last day it applies (may be before `from`: the range wraps over the new year).
    pub to: String,
    /// Local "HH:MM-HH:MM" windows; "24:00" may end one.
    pub windows: Vec<String>,
    pub period: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFile {
    /// HH:MM local time.
    pub start: String,
    pub period: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeFile {
    pub name: String,
    /// "day" or "month".
    pub every: String,
    pub amount: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxFile {
    pub name: String,
    /// A percentage such as "13" or "15.5".
    pub rate_percent: String,
    #[serde(default)]
    pub inclusive: bool,
}

/// Parses a tariff document (TOML, or JSON when it starts with `{`) and validates it.
pub fn parse(text: &str) -> Result<(TariffFile, Tariff), TariffError> {
    let file: TariffFile = if text.trim_start().starts_with('{') {
        serde_json::from_str(text)
            .map_err(|e| TariffError::new(format!("line {} column {}", e.line(), e.column()), e.to_string()))?
    } else {
        toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| line_col(text, s.start)).unwrap_or_default();
            TariffError::new(at, e.message().to_string())
        })?
    };
    let tariff = to_domain(&file)?;
    tariff.validate()?;
    Ok((file, tariff))
}

fn line_col(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line} column {column}")
}

fn err<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, TariffError> {
    Err(TariffError::new(field, message))
}

/// A quantity in kWh or m³ (3 decimals) as milli-units.
fn milli(field: &str, s: &str) -> Result<i64, TariffError> {
    match parse_scaled(s, 3) {
        Ok(v) if v >= 0 => Ok(v),
        _ => err(field, format!("{s:?} is not a quantity (up to 3 decimals)")),
    }
}

/// A price (or percentage) with up to 6 decimals, as micro-units; may be negative only where `signed`.
fn micro(field: &str, s: &str, signed: bool) -> Result<i64, TariffError> {
    match parse_scaled(s, 6) {
        Ok(v) if v < 0 && !signed => err(field, "cannot be negative"),
        Ok(v) => Ok(v),
        Err(_) => err(field, format!("{s:?} is not a price (up to 6 decimals)")),
    }
}

fn money(field: &str, s: &str, currency: Currency) -> Result<i64, TariffError> {
    match Money::parse(s, currency) {
        Ok(m) if !m.is_negative() => Ok(m.amount_minor()),
        Ok(_) => err(field, "cannot be negative"),
        Err(e) => err(field, e.to_string()),
    }
}

fn period_of(field: &str, s: Option<&str>, default: BlockPeriod) -> Result<BlockPeriod, TariffError> {
    match s {
        None => Ok(default),
        Some("monthly") => Ok(BlockPeriod::Monthly),
        Some("annual") => Ok(BlockPeriod::Annual),
        Some(other) => err(field, format!("{other:?}: expected \"monthly\" or \"annual\"")),
    }
}

fn hh_mm(field: &str, text: &str) -> Result<u16, TariffError> {
    let (h, m) = text.split_once(':').unwrap_or(("", ""));
    match (h.parse::<u16>(), m.parse::<u16>()) {
        (Ok(h), Ok(m)) if h < 24 && m < 60 && text.len() == 5 => Ok(h * 60 + m),
        _ => err(field, format!("{text:?} is not HH:MM")),
    }
}

fn weekdays(field: &str, list: &[String]) -> Result<Vec<Weekday>, TariffError> {
    list.iter().enumerate().map(|(i, d)| weekday(&format!("{field}[{i}]"), d)).collect()
}

fn dates(field: &str, list: &[String]) -> Result<Vec<Date>, TariffError> {
    list.iter()
        .enumerate()
        .map(|(i, d)| d.parse::<Date>().map_err(|_| TariffError::new(format!("{field}[{i}]"), "expected YYYY-MM-DD")))
        .collect()
}

fn friendly(f: &FriendlyFile) -> Result<FriendlyHours, TariffError> {
    let night = f
        .night
        .as_deref()
        .map(|n| {
            let (a, b) = n.split_once('-').ok_or_else(|| {
                TariffError::new("friendly_hours.night", format!("{n:?} is not HH:MM-HH:MM, e.g. \"22:00-07:00\""))
            })?;
            Ok::<_, TariffError>((hh_mm("friendly_hours.night", a.trim())?, hh_mm("friendly_hours.night", b.trim())?))
        })
        .transpose()?;
    let weekend_days = weekdays("friendly_hours.weekend", &f.weekend)?;
    let holidays = dates("friendly_hours.holidays", &f.holidays)?;
    Ok(FriendlyHours { night, weekend_days, holidays })
}

fn schedule(field: &str, entries: &[EntryFile], periods: &[String]) -> Result<DaySchedule, TariffError> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let minute = hh_mm(&format!("{field}[{i}].start"), &e.start)?;
        let Some(p) = periods.iter().position(|x| *x == e.period) else {
            return err(
                format!("{field}[{i}].period"),
                format!("{:?} is not one of the periods {periods:?}", e.period),
            );
        };
        out.push((minute, p));
    }
    Ok(DaySchedule { entries: out })
}

fn weekday(field: &str, s: &str) -> Result<Weekday, TariffError> {
    Ok(match s.to_ascii_lowercase().get(..3).unwrap_or("") {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return err(field, format!("{s:?} is not a weekday")),
    })
}

/// One value per period from a `{ period = "price" }` table, in period order; every period needs one and
/// every key must be a period.
fn by_period(
    field: &str,
    table: &BTreeMap<String, String>,
    periods: &[String],
    signed: bool,
) -> Result<Vec<i64>, TariffError> {
    if let Some(name) = table.keys().find(|k| !periods.contains(k)) {
        return err(format!("{field}.{name}"), format!("not one of the periods {periods:?}"));
    }
    periods
        .iter()
        .map(|p| match table.get(p) {
            Some(s) => micro(&format!("{field}.{p}"), s, signed),
            None => err(format!("{field}.{p}"), "missing price for this period"),
        })
        .collect()
}

/// A block's absolute prices, one per period: `price` for a single-period tariff or `prices` by period.
fn block_row(here: &str, b: &BlockFile, periods: &[String]) -> Result<Vec<i64>, TariffError> {
    match (&b.price, &b.prices) {
        (Some(p), None) if periods.len() == 1 => Ok(vec![micro(&format!("{here}.price"), p, false)?]),
        (Some(_), None) => err(format!("{here}.price"), "a tariff with several periods needs `prices` by period"),
        (None, Some(table)) => by_period(&format!("{here}.prices"), table, periods, false),
        _ => err(here, "absolute block prices need `price` or `prices` on every block"),
    }
}

fn month_day(field: &str, s: &str) -> Result<(i8, i8), TariffError> {
    let (m, d) = s.split_once('-').unwrap_or(("", ""));
    match (m.parse::<i8>(), d.parse::<i8>()) {
        (Ok(month), Ok(day)) if m.len() == 2 && d.len() == 2 => Ok((month, day)),
        _ => err(field, format!("{s:?} is not MM-DD")),
    }
}

/// "HH:MM-HH:MM" as `[start, end)` minutes; "24:00" may end a window.
fn window(field: &str, s: &str) -> Result<(u16, u16), TariffError> {
    let Some((a, b)) = s.split_once('-') else {
        return err(field, format!("{s:?} is not HH:MM-HH:MM, e.g. \"11:00-12:00\""));
    };
    let end = if b.trim() == "24:00" { 1_440 } else { hh_mm(field, b.trim())? };
    Ok((hh_mm(field, a.trim())?, end))
}

fn tou(at: &str, t: &TouFile, periods: &[String], time_zone: &TimeZone) -> Result<TouCalendar, TariffError> {
    let here = format!("{at}.tou");
    let base_weekday = t.weekday.as_ref().map(|w| schedule(&format!("{here}.weekday"), w, periods)).transpose()?;
    let base_weekend =
        t.weekend_schedule.as_ref().map(|w| schedule(&format!("{here}.weekend_schedule"), w, periods)).transpose()?;
    let base_holiday =
        t.holiday_schedule.as_ref().map(|h| schedule(&format!("{here}.holiday_schedule"), h, periods)).transpose()?;
    let mut seasons = Vec::new();
    if t.seasons.is_empty() {
        let Some(weekday) = base_weekday.clone() else {
            return err(format!("{here}.seasons"), "give seasons, or the base `weekday` schedule for all year");
        };
        seasons.push(Season {
            name: "all year".into(),
            from_month: 1,
            from_day: 1,
            weekday,
            weekend: base_weekend.clone(),
            holiday: base_holiday.clone(),
        });
    }
    for (si, s) in t.seasons.iter().enumerate() {
        let here = format!("{here}.seasons[{si}]");
        let (from_month, from_day) = month_day(&format!("{here}.from"), &s.from)?;
        let own = |field: &str, entries: &Option<Vec<EntryFile>>| {
            entries.as_ref().map(|e| schedule(&format!("{here}.{field}"), e, periods)).transpose()
        };
        let Some(weekday) = own("weekday", &s.weekday)?.or_else(|| base_weekday.clone()) else {
            return err(format!("{here}.weekday"), "missing: give it here or as the base `tou.weekday`");
        };
        seasons.push(Season {
            name: s.name.clone(),
            from_month,
            from_day,
            weekday,
            weekend: own("weekend", &s.weekend)?.or_else(|| base_weekend.clone()),
            holiday: own("holiday", &s.holiday)?.or_else(|| base_holiday.clone()),
        });
    }
    let mut weekend_days = weekdays(&format!("{here}.weekend"), &t.weekend)?;
    if weekend_days.is_empty() && seasons.iter().any(|s| s.weekend.is_some()) {
        // A weekend schedule means the usual weekend unless the file names other days.
        weekend_days = vec![Weekday::Saturday, Weekday::Sunday];
    }
    let holidays = dates(&format!("{here}.holidays"), &t.holidays)?;
    let mut overlays = Vec::new();
    for (oi, o) in t.overlays.iter().enumerate() {
        let here = format!("{here}.overlays[{oi}]");
        let Some(period) = periods.iter().position(|p| *p == o.period) else {
            return err(format!("{here}.period"), format!("{:?} is not one of the periods {periods:?}", o.period));
        };
        let from = month_day(&format!("{here}.from"), &o.from)?;
        let to = month_day(&format!("{here}.to"), &o.to)?;
        let windows = o
            .windows
            .iter()
            .enumerate()
            .map(|(wi, w)| window(&format!("{here}.windows[{wi}]"), w))
            .collect::<Result<_, _>>()?;
        overlays.push(Overlay { name: o.name.clone(), from, to, windows, period });
    }
    Ok(TouCalendar { time_zone: time_zone.clone(), seasons, weekend_days, holidays, overlays })
}

pub fn to_domain(f: &TariffFile) -> Result<Tariff, TariffError> {
    let currency = Currency::from_code(&f.currency).map_err(|e| TariffError::new("currency", e.to_string()))?;
    let utility: Utility =
        f.utility.parse().map_err(|_| TariffError::new("utility", "expected \"electricity\" or \"water\""))?;
    let time_zone = TimeZone::get(&f.time_zone)
        .map_err(|_| TariffError::new("time_zone", format!("{:?} is not an IANA time zone", f.time_zone)))?;
    let mut versions = Vec::new();
    for (vi, v) in f.versions.iter().enumerate() {
        let at = format!("versions[{vi}]");
        let effective_from: Timestamp = v.effective_from.parse().map_err(|_| {
            TariffError::new(
                format!("{at}.effective_from"),
                "expected RFC 3339 with an offset, e.g. 2026-01-01T00:00:00+08:00",
            )
        })?;
        // Block prices may be absolute (a price table: `price`, or `prices` by period), then block 1's are
        // the base prices; otherwise the version gives `prices` and blocks give adders.
        let absolute_blocks = v.prices.is_empty()
            && !v.blocks.is_empty()
            && v.blocks.iter().all(|b| b.price.is_some() || b.prices.is_some());
        let periods = if v.periods.is_empty() { vec!["all".to_string()] } else { v.periods.clone() };
        let base = if absolute_blocks {
            let first = v.blocks.first().map(|b| block_row(&format!("{at}.blocks[0]"), b, &periods)).transpose()?;
            first.unwrap_or_default()
        } else {
            by_period(&format!("{at}.prices"), &v.prices, &periods, true)?
        };
        let calendar = v.tou.as_ref().map(|t| tou(&at, t, &periods, &time_zone)).transpose()?;
        let blocks = if v.blocks.is_empty() {
            None
        } else {
            let mode = match v.block_mode.as_deref() {
                None | Some("incremental") | Some("cumulative") => BlockMode::Incremental,
                Some("whole_volume") | Some("independent") => BlockMode::WholeVolume,
                Some(other) => {
                    return err(
                        format!("{at}.block_mode"),
                        format!("{other:?}: expected \"incremental\" or \"whole_volume\""),
                    );
                }
            };
            let mut list = Vec::new();
            for (bi, b) in v.blocks.iter().enumerate() {
                let here = format!("{at}.blocks[{bi}]");
                let up_to = b.up_to.as_deref().map(|u| milli(&format!("{here}.up_to"), u)).transpose()?;
                let given = [b.adder.is_some(), b.adders.is_some(), b.price.is_some(), b.prices.is_some()];
                if given.iter().filter(|g| **g).count() > 1 {
                    return err(&here, "give one of `adder`, `adders`, `price` or `prices`");
                }
                let adder_micro = if absolute_blocks {
                    let row = block_row(&here, b, &periods)?;
                    row.iter().zip(&base).map(|(p, b)| p - b).collect()
                } else if b.price.is_some() || b.prices.is_some() {
                    return err(
                        &here,
                        "absolute block prices need them on every block and no version `prices` (block 1's are the base)",
                    );
                } else if let Some(a) = &b.adders {
                    by_period(&format!("{here}.adders"), a, &periods, true)?
                } else {
                    vec![b.adder.as_deref().map(|a| micro(&format!("{here}.adder"), a, true)).transpose()?.unwrap_or(0)]
                };
                // One adder when every period's is the same: the tariff reads as "+x over block 1".
                let adder_micro = match adder_micro.split_first() {
                    Some((first, rest)) if rest.iter().all(|a| a == first) => vec![*first],
                    _ => adder_micro,
                };
                list.push(Block { up_to_milli: up_to, adder_micro });
            }
            Some(Blocks {
                period: period_of(&format!("{at}.block_period"), v.block_period.as_deref(), BlockPeriod::Monthly)?,
                mode,
                blocks: list,
            })
        };
        let recurring = v
            .charges
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                let here = format!("{at}.charges[{ci}]");
                let every = match c.every.as_str() {
                    "day" | "daily" => Recurrence::Daily,
                    "month" | "monthly" => Recurrence::Monthly,
                    other => return err(format!("{here}.every"), format!("{other:?}: expected \"day\" or \"month\"")),
                };
                Ok(RecurringCharge {
                    name: c.name.clone(),
                    every,
                    amount_minor: money(&format!("{here}.amount"), &c.amount, currency)?,
                })
            })
            .collect::<Result<_, _>>()?;
        let taxes = v
            .taxes
            .iter()
            .enumerate()
            .map(|(ti, t)| {
                // Percent with up to 4 decimals → ppm.
                let ppm = micro(&format!("{at}.taxes[{ti}].rate_percent"), &t.rate_percent, false)? / 100;
                Ok(Tax { name: t.name.clone(), rate_ppm: ppm, inclusive: t.inclusive })
            })
            .collect::<Result<_, TariffError>>()?;
        versions.push(TariffVersion {
            effective_from,
            periods,
            base_price_micro: base,
            calendar,
            blocks,
            free_milli: v
                .free_units
                .as_deref()
                .map(|u| milli(&format!("{at}.free_units"), u))
                .transpose()?
                .unwrap_or(0),
            free_period: period_of(&format!("{at}.free_period"), v.free_period.as_deref(), BlockPeriod::Monthly)?,
            recurring,
            minimum_monthly_minor: v
                .minimum_monthly
                .as_deref()
                .map(|m| money(&format!("{at}.minimum_monthly"), m, currency))
                .transpose()?,
            taxes,
        });
    }
    let friendly_hours = f.friendly_hours.as_ref().map(friendly).transpose()?;
    let alarms = f
        .alarms
        .as_ref()
        .map(|a| {
            Ok::<_, TariffError>(Alarms {
                level_1_minor: money("alarms.level_1", &a.level_1, currency)?,
                level_2_minor: money("alarms.level_2", &a.level_2, currency)?,
            })
        })
        .transpose()?;
    let tariff = Tariff {
        code: f.code.clone(),
        name: f.name.clone(),
        utility,
        currency,
        time_zone,
        versions,
        friendly_hours,
        alarms,
    };
    Ok(tariff)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAT: &str = "code = \"f\"\nname = \"f\"\ncurrency = \"CNY\"\ntime_zone = \"Asia/Shanghai\"\n\
                        [[versions]]\neffective_from = \"2020-01-01T00:00:00+08:00\"\nprices = { all = \"0.60\" }\n";

    fn tariff_with(friendly: &str) -> Result<Tariff, String> {
        parse(&format!("{FLAT}[friendly_hours]\n{friendly}")).map(|(_, t)| t).map_err(|e| e.to_string())
    }

    #[test]
    fn friendly_hours_are_read_and_refused_by_field() {
        let t = tariff_with("night = \"22:00-07:00\"\nweekend = [\"sun\"]\nholidays = [\"2026-10-01\"]\n").unwrap();
        let f = t.friendly_hours.unwrap();
        assert_eq!((f.night, f.weekend_days, f.holidays.len()), (Some((1_320, 420)), vec![Weekday::Sunday], 1));
        assert!(parse(FLAT).unwrap().1.friendly_hours.is_none());
        for (bad, field) in [
            ("night = \"22:00\"\n", "friendly_hours.night"),
            ("night = \"25:00-07:00\"\n", "friendly_hours.night"),
            ("night = \"07:00-07:00\"\n", "friendly_hours.night"),
            ("weekend = [\"someday\"]\n", "friendly_hours.weekend[0]"),
            ("holidays = [\"1 October\"]\n", "friendly_hours.holidays[0]"),
            ("nights = \"22:00-07:00\"\n", "unknown field"),
        ] {
            let e = tariff_with(bad).unwrap_err();
            assert!(e.contains(field), "{bad}: {e}");
        }
    }

    #[test]
    fn alarm_levels_are_money_in_the_tariff_currency() {
        let t = parse(&format!("{FLAT}[alarms]\nlevel_1 = \"20.00\"\nlevel_2 = \"5\"\n")).unwrap().1;
        assert_eq!(t.alarms, Some(Alarms { level_1_minor: 2_000, level_2_minor: 500 }));
        for (bad, field) in [
            ("level_1 = \"5.00\"\nlevel_2 = \"20.00\"\n", "alarms.level_2"),
            ("level_1 = \"20.001\"\nlevel_2 = \"5\"\n", "alarms.level_1"),
            ("level_1 = \"20\"\nlevel_2 = \"-1\"\n", "alarms.level_2"),
        ] {
            let e = parse(&format!("{FLAT}[alarms]\n{bad}")).unwrap_err().to_string();
            assert!(e.contains(field), "{bad}: {e}");
        }
    }

    const TOU: &str = "code = \"t\"\nname = \"t\"\ncurrency = \"CNY\"\ntime_zone = \"Asia/Shanghai\"\n\
                       [[versions]]\neffective_from = \"2020-01-01T00:00:00+08:00\"\nperiods = [\"peak\", \"valley\"]\n";

    fn tou_with(rest: &str) -> Result<Tariff, String> {
        parse(&format!("{TOU}{rest}")).map(|(_, t)| t).map_err(|e| e.to_string())
    }

    const DAY: &str = "[versions.tou]\nweekday = [{ start = \"00:00\", period = \"valley\" }, { start = \"08:00\", period = \"peak\" }]\n";

    #[test]
    fn a_price_table_gives_each_block_its_row() {
        let t = tou_with(&format!(
            "[[versions.blocks]]\nup_to = \"100\"\nprices = {{ peak = \"0.617\", valley = \"0.307\" }}\n\
             [[versions.blocks]]\nprices = {{ peak = \"0.677\", valley = \"0.337\" }}\n{DAY}"
        ))
        .unwrap();
        let v = &t.versions[0];
        assert_eq!(v.base_price_micro, vec![617_000, 307_000]);
        let b = v.blocks.as_ref().unwrap();
        assert_eq!(b.blocks[1].adder_micro, vec![60_000, 30_000]);
        assert_eq!((v.price_micro(0, Some(1)), v.price_micro(1, Some(1))), (677_000, 337_000));
        // Adders by period, over version prices, say the same.
        let t2 = tou_with(&format!(
            "prices = {{ peak = \"0.617\", valley = \"0.307\" }}\n[[versions.blocks]]\nup_to = \"100\"\n\
             [[versions.blocks]]\nadders = {{ peak = \"0.06\", valley = \"0.03\" }}\n{DAY}"
        ))
        .unwrap();
        assert_eq!(t2.versions[0].blocks, t.versions[0].blocks);
        for (bad, field) in [
            // A row missing a period.
            (
                "[[versions.blocks]]\nup_to = \"1\"\nprices = { peak = \"1\" }\n[[versions.blocks]]\nprices = { peak = \"1\", valley = \"1\" }\n",
                "versions[0].blocks[0].prices.valley",
            ),
            // A period that is not the tariff's.
            (
                "[[versions.blocks]]\nup_to = \"1\"\nprices = { peak = \"1\", valley = \"1\", sharp = \"2\" }\n[[versions.blocks]]\nprices = { peak = \"1\", valley = \"1\" }\n",
                "versions[0].blocks[0].prices.sharp",
            ),
            // Absolute rows beside version prices.
            (
                "prices = { peak = \"1\", valley = \"1\" }\n[[versions.blocks]]\nup_to = \"1\"\nprices = { peak = \"1\", valley = \"1\" }\n[[versions.blocks]]\n",
                "versions[0].blocks[0]",
            ),
            // Two ways at once.
            (
                "prices = { peak = \"1\", valley = \"1\" }\n[[versions.blocks]]\nup_to = \"1\"\nadder = \"0\"\nadders = { peak = \"1\", valley = \"1\" }\n[[versions.blocks]]\n",
                "versions[0].blocks[0]",
            ),
            // One price for a two-period tariff.
            (
                "[[versions.blocks]]\nup_to = \"1\"\nprice = \"1\"\n[[versions.blocks]]\nprice = \"2\"\n",
                "versions[0].blocks[0].price",
            ),
        ] {
            let e = tou_with(&format!("{bad}{DAY}")).unwrap_err();
            assert!(e.starts_with(field), "{bad}: {e}");
        }
    }

    #[test]
    fn whole_volume_price_tables_must_step_by_one_amount() {
        let e = tou_with(&format!(
            "block_mode = \"whole_volume\"\n[[versions.blocks]]\nup_to = \"100\"\nprices = {{ peak = \"0.617\", valley = \"0.307\" }}\n\
             [[versions.blocks]]\nprices = {{ peak = \"0.677\", valley = \"0.337\" }}\n{DAY}"
        ))
        .unwrap_err();
        assert!(e.starts_with("versions[0].blocks[1]: whole-volume blocks need the same adder"), "{e}");
    }

    #[test]
    fn seasons_fall_back_to_the_base_schedule_and_overlays_lay_windows_over_it() {
        let t = tou_with(
            "prices = { peak = \"1\", valley = \"0.3\" }\n[versions.tou]\n\
             weekday = [{ start = \"00:00\", period = \"valley\" }, { start = \"08:00\", period = \"peak\" }]\n\
             weekend_schedule = [{ start = \"00:00\", period = \"valley\" }]\n\
             [[versions.tou.seasons]]\nname = \"base\"\nfrom = \"01-01\"\n\
             [[versions.tou.seasons]]\nname = \"summer\"\nfrom = \"06-01\"\nweekday = [{ start = \"00:00\", period = \"peak\" }]\n\
             [[versions.tou.seasons]]\nname = \"autumn\"\nfrom = \"09-01\"\n\
             [[versions.tou.overlays]]\nname = \"winter evening\"\nfrom = \"12-01\"\nto = \"01-31\"\nwindows = [\"18:00-24:00\"]\nperiod = \"valley\"\n",
        )
        .unwrap();
        let c = t.versions[0].calendar.as_ref().unwrap();
        assert_eq!(c.seasons.len(), 3);
        assert_eq!(c.seasons[2].weekday, c.seasons[0].weekday, "autumn is the base schedule again");
        assert_ne!(c.seasons[1].weekday, c.seasons[0].weekday);
        assert_eq!(c.weekend_days, vec![Weekday::Saturday, Weekday::Sunday], "a weekend schedule means sat and sun");
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        // Tuesday 12 January 2027 19:00 local: the overlay (wrapping the new year) makes it valley.
        assert_eq!(c.period_at(at("2027-01-12T11:00:00Z")), 1);
        assert_eq!(c.period_at(at("2027-01-12T09:00:00Z")), 0, "17:00 is peak, before the window");
        assert_eq!(c.period_at(at("2027-02-02T11:00:00Z")), 0, "February is past the overlay");
        assert_eq!(c.period_at(at("2026-10-06T11:00:00Z")), 0, "autumn weekday evening is peak");
        for (bad, field) in [
            (
                "[[versions.tou.overlays]]\nname = \"x\"\nfrom = \"07-01\"\nto = \"08-31\"\nwindows = [\"12:00-11:00\"]\nperiod = \"peak\"\n",
                "versions[0].tou.overlays[0].windows[0]",
            ),
            (
                "[[versions.tou.overlays]]\nname = \"x\"\nfrom = \"07-01\"\nto = \"08-31\"\nwindows = [\"11:00-13:00\", \"12:00-14:00\"]\nperiod = \"peak\"\n",
                "versions[0].tou.overlays[0].windows",
            ),
            (
                "[[versions.tou.overlays]]\nname = \"x\"\nfrom = \"07-01\"\nto = \"08-32\"\nwindows = [\"11:00-12:00\"]\nperiod = \"peak\"\n",
                "versions[0].tou.overlays[0].to",
            ),
            (
                "[[versions.tou.overlays]]\nname = \"x\"\nfrom = \"07-01\"\nto = \"08-31\"\nwindows = [\"11:00-12:00\"]\nperiod = \"sharp\"\n",
                "versions[0].tou.overlays[0].period",
            ),
            (
                "[[versions.tou.overlays]]\nname = \"x\"\nfrom = \"7-1\"\nto = \"08-31\"\nwindows = [\"11:00\"]\nperiod = \"peak\"\n",
                "versions[0].tou.overlays[0].from",
            ),
        ] {
            let e = tou_with(&format!("prices = {{ peak = \"1\", valley = \"0.3\" }}\n{DAY}{bad}")).unwrap_err();
            assert!(e.starts_with(field), "{bad}: {e}");
        }
        // A season with no schedule of its own and no base schedule.
        let e = tou_with(
            "prices = { peak = \"1\", valley = \"0.3\" }\n[versions.tou]\n[[versions.tou.seasons]]\nname = \"a\"\nfrom = \"01-01\"\n",
        )
        .unwrap_err();
        assert!(e.starts_with("versions[0].tou.seasons[0].weekday"), "{e}");
    }

    #[test]
    fn free_units_work_on_tou_tariffs() {
        let t =
            tou_with(&format!("prices = {{ peak = \"1\", valley = \"0.3\" }}\nfree_units = \"10\"\n{DAY}")).unwrap();
        assert_eq!(t.versions[0].free_milli, 10_000);
    }
}
