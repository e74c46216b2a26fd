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
use voltvend_domain::tariff::calendar::{DaySchedule, Season, TouCalendar};
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
    #[serde(default)]
    pub adder: Option<String>,
    /// For single-period tariffs: the block's absolute price (instead of `adder`).
    #[serde(default)]
    pub price: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TouFile {
    /// Days whose schedule is `weekend`, e.g. ["sat", "sun"].
    #[serde(default)]
    pub weekend: Vec<String>,
    /// Dates whose schedule is `holiday`, YYYY-MM-DD.
    #[serde(default)]
    pub holidays: Vec<String>,
    pub seasons: Vec<SeasonFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeasonFile {
    pub name: String,
    /// MM-DD the season starts; it lasts until the next season starts.
    pub from: String,
    pub weekday: Vec<EntryFile>,
    #[serde(default)]
    pub weekend: Option<Vec<EntryFile>>,
    #[serde(default)]
    pub holiday: Option<Vec<EntryFile>>,
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
        // Single-period block tariffs may give absolute block prices.
        let absolute_blocks = v.prices.is_empty() && v.blocks.iter().all(|b| b.price.is_some()) && !v.blocks.is_empty();
        let periods = if v.periods.is_empty() { vec!["all".to_string()] } else { v.periods.clone() };
        let mut base = Vec::new();
        if absolute_blocks {
            if periods.len() != 1 {
                return err(format!("{at}.blocks"), "absolute block prices need a single-period tariff; use adders");
            }
            let first = v.blocks.first().and_then(|b| b.price.as_deref()).unwrap_or("0");
            base.push(micro(&format!("{at}.blocks[0].price"), first, false)?);
        } else {
            for name in v.prices.keys() {
                if !periods.contains(name) {
                    return err(format!("{at}.prices.{name}"), format!("not one of the periods {periods:?}"));
                }
            }
            for p in &periods {
                let Some(s) = v.prices.get(p) else {
                    return err(format!("{at}.prices.{p}"), "missing price for this period");
                };
                base.push(micro(&format!("{at}.prices.{p}"), s, true)?);
            }
        }
        let calendar = match &v.tou {
            None => None,
            Some(t) => {
                let mut seasons = Vec::new();
                for (si, s) in t.seasons.iter().enumerate() {
                    let here = format!("{at}.tou.seasons[{si}]");
                    let (m, d) = s.from.split_once('-').unwrap_or(("", ""));
                    let (Ok(month), Ok(day)) = (m.parse::<i8>(), d.parse::<i8>()) else {
                        return err(format!("{here}.from"), format!("{:?} is not MM-DD", s.from));
                    };
                    seasons.push(Season {
                        name: s.name.clone(),
                        from_month: month,
                        from_day: day,
                        weekday: schedule(&format!("{here}.weekday"), &s.weekday, &periods)?,
                        weekend: s
                            .weekend
                            .as_ref()
                            .map(|w| schedule(&format!("{here}.weekend"), w, &periods))
                            .transpose()?,
                        holiday: s
                            .holiday
                            .as_ref()
                            .map(|h| schedule(&format!("{here}.holiday"), h, &periods))
                            .transpose()?,
                    });
                }
                let weekend_days = weekdays(&format!("{at}.tou.weekend"), &t.weekend)?;
                let holidays = dates(&format!("{at}.tou.holidays"), &t.holidays)?;
                Some(TouCalendar { time_zone: time_zone.clone(), seasons, weekend_days, holidays })
            }
        };
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
                let adder = match (&b.adder, &b.price, absolute_blocks) {
                    (Some(a), None, false) => micro(&format!("{here}.adder"), a, true)?,
                    (None, Some(p), true) => {
                        micro(&format!("{here}.price"), p, false)? - base.first().copied().unwrap_or(0)
                    }
                    (None, None, false) => 0,
                    _ => {
                        return err(
                            &here,
                            "give either `adder` (on every block) or `price` (on every block of a single-period tariff)",
                        );
                    }
                };
                list.push(Block { up_to_milli: up_to, adder_micro: adder });
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
}
