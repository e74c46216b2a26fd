//! Time-of-use calendars: which period is in force at an instant, in the tariff's time zone.
//!
//! A calendar has seasons (each starting on a month/day and lasting until the next, wrapping over the new
//! year), and per season a day schedule for weekdays, and optionally for weekend days and holidays. A day
//! schedule is a list of (start time, period) entries; the first starts at 00:00 and each lasts until the
//! next, so a valid schedule has neither gaps nor overlaps. A holiday without a holiday schedule is priced
//! as a weekend day (utilities price holidays like weekends), and as a weekday only when the season has no
//! weekend schedule either.
//!
//! **Overlays** lay windows of one period over every day schedule between two dates of each year — the
//! sharp-peak (尖峰) hours of July and August inside the peak hours, as NDRC's 2021 TOU notice (发改价格
//! 〔2021〕1093号) has provinces publish them — so the base schedules need not be repeated per season.
//!
//! The period in force is decided by the local wall-clock time. Boundaries are local civil times converted
//! with the IANA database, so days of 23 or 25 hours around DST changes are handled: a boundary that falls in
//! the skipped hour takes effect at the first instant after it, and one inside a repeated hour takes effect
//! each time the wall clock passes it, so that [`TouCalendar::segments`] and [`TouCalendar::period_at`] agree
//! at every instant.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};

use super::TariffError;

/// One day's schedule: `(minute of day, period index)` entries in increasing order from minute 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySchedule {
    pub entries: Vec<(u16, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Season {
    pub name: String,
    pub from_month: i8,
    pub from_day: i8,
    pub weekday: DaySchedule,
    pub weekend: Option<DaySchedule>,
    pub holiday: Option<DaySchedule>,
}

/// Windows of one period laid over every day schedule from `from` to `to` (month, day; both inclusive; the
/// range may wrap over the new year).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub name: String,
    pub from: (i8, i8),
    pub to: (i8, i8),
    /// `[start, end)` minutes of the local day; `end` may be 1 440 (24:00).
    pub windows: Vec<(u16, u16)>,
    pub period: usize,
}

impl Overlay {
    fn applies_on(&self, date: Date) -> bool {
        let key = (date.month(), date.day());
        if self.from <= self.to { self.from <= key && key <= self.to } else { key >= self.from || key <= self.to }
    }

    fn validate(&self, at: &str, periods: &[String]) -> Result<(), TariffError> {
        for (field, (m, d)) in [("from", self.from), ("to", self.to)] {
            if Date::new(2024, m, d).is_err() {
                return Err(TariffError::new(format!("{at}.{field}"), "not a valid month and day"));
            }
        }
        if self.period >= periods.len() {
            return Err(TariffError::new(format!("{at}.period"), "unknown period"));
        }
        if self.windows.is_empty() {
            return Err(TariffError::new(format!("{at}.windows"), "an overlay needs at least one window"));
        }
        let mut sorted = self.windows.clone();
        sorted.sort_unstable();
        for (i, (s, e)) in self.windows.iter().enumerate() {
            if s >= e || *e > 1_440 {
                return Err(TariffError::new(
                    format!("{at}.windows[{i}]"),
                    "must start before it ends, within one day (end at most 24:00)",
                ));
            }
        }
        if sorted.windows(2).any(|w| matches!(w, [a, b] if b.0 < a.1)) {
            return Err(TariffError::new(format!("{at}.windows"), "windows overlap"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TouCalendar {
    pub time_zone: TimeZone,
    pub seasons: Vec<Season>,
    pub weekend_days: Vec<Weekday>,
    pub holidays: Vec<Date>,
    pub overlays: Vec<Overlay>,
}

/// Safety bound on boundary steps in one interval (a reading spanning years would be split at month and
/// year starts long before this is reached).
const SEGMENTS_MAX: usize = 100_000;

impl DaySchedule {
    fn validate(&self, at: &str, periods: &[String]) -> Result<(), TariffError> {
        let Some((first, _)) = self.entries.first() else {
            return Err(TariffError::new(at, "a day schedule needs at least one entry"));
        };
        if *first != 0 {
            return Err(TariffError::new(
                format!("{at}[0].start"),
                "the day must start at 00:00 (gap before the first entry)",
            ));
        }
        for (i, (start, period)) in self.entries.iter().enumerate() {
            if *start >= 1_440 {
                return Err(TariffError::new(format!("{at}[{i}].start"), "must be before 24:00"));
            }
            if *period >= periods.len() {
                return Err(TariffError::new(format!("{at}[{i}].period"), "unknown period"));
            }
            if i > 0 && self.entries.get(i - 1).is_some_and(|(prev, _)| prev >= start) {
                return Err(TariffError::new(
                    format!("{at}[{i}].start"),
                    "overlaps the previous entry (starts must increase)",
                ));
            }
        }
        Ok(())
    }

    fn period_at_minute(&self, minute: u16) -> usize {
        self.entries.iter().rev().find(|(start, _)| *start <= minute).map_or(0, |(_, p)| *p)
    }

    /// The first entry start after `minute`, if any.
    fn next_start_after(&self, minute: u16) -> Option<u16> {
        self.entries.iter().map(|(s, _)| *s).find(|s| *s > minute)
    }
}

impl TouCalendar {
    /// A calendar with one schedule every day of the year (no seasons, weekends or holidays).
    pub fn all_year(time_zone: TimeZone, day: DaySchedule) -> Self {
        let season =
            Season { name: "all year".into(), from_month: 1, from_day: 1, weekday: day, weekend: None, holiday: None };
        Self { time_zone, seasons: vec![season], weekend_days: vec![], holidays: vec![], overlays: vec![] }
    }

    pub fn validate(&self, at: &str, periods: &[String]) -> Result<(), TariffError> {
        if self.seasons.is_empty() {
            return Err(TariffError::new(format!("{at}.seasons"), "a calendar needs at least one season"));
        }
        for (i, s) in self.seasons.iter().enumerate() {
            let here = format!("{at}.seasons[{i}]");
            if Date::new(2024, s.from_month, s.from_day).is_err() {
                return Err(TariffError::new(format!("{here}.from"), "not a valid month and day"));
            }
            if i > 0
                && self.seasons.get(i - 1).is_some_and(|p| (p.from_month, p.from_day) >= (s.from_month, s.from_day))
            {
                return Err(TariffError::new(
                    format!("{here}.from"),
                    "seasons must be in calendar order without repeats",
                ));
            }
            s.weekday.validate(&format!("{here}.weekday"), periods)?;
            if let Some(w) = &s.weekend {
                if self.weekend_days.is_empty() {
                    // Without named days the weekend schedule would never apply.
                    return Err(TariffError::new(
                        format!("{at}.weekend"),
                        "a weekend schedule needs the weekend days named, e.g. [\"sat\", \"sun\"]",
                    ));
                }
                w.validate(&format!("{here}.weekend"), periods)?;
            }
            if let Some(h) = &s.holiday {
                h.validate(&format!("{here}.holiday"), periods)?;
            }
        }
        for (i, o) in self.overlays.iter().enumerate() {
            o.validate(&format!("{at}.overlays[{i}]"), periods)?;
        }
        Ok(())
    }

    fn season_on(&self, date: Date) -> Option<&Season> {
        let key = (date.month(), date.day());
        self.seasons.iter().rev().find(|s| (s.from_month, s.from_day) <= key).or_else(|| self.seasons.last())
    }

    fn schedule_on(&self, date: Date) -> Option<&DaySchedule> {
        let season = self.season_on(date)?;
        let holiday = self.holidays.contains(&date);
        if holiday && let Some(h) = &season.holiday {
            return Some(h);
        }
        if (holiday || self.weekend_days.contains(&date.weekday()))
            && let Some(w) = &season.weekend
        {
            return Some(w);
        }
        Some(&season.weekday)
    }

    /// The period in force at `minute` of `date`, and the next minute of that day at which it may change.
    fn period_on(&self, date: Date, minute: u16) -> (usize, Option<u16>) {
        let schedule = self.schedule_on(date);
        let mut period = schedule.map_or(0, |s| s.period_at_minute(minute));
        let mut next = schedule.and_then(|s| s.next_start_after(minute));
        let mut sooner = |m: u16| {
            if m > minute && m < 1_440 && next.is_none_or(|n| m < n) {
                next = Some(m);
            }
        };
        for o in self.overlays.iter().filter(|o| o.applies_on(date)) {
            for (s, e) in &o.windows {
                if *s <= minute && minute < *e {
                    period = o.period;
                }
                sooner(*s);
                sooner(*e);
            }
        }
        (period, next)
    }

    fn local(&self, at: Timestamp) -> DateTime {
        at.to_zoned(self.time_zone.clone()).datetime()
    }

    /// The first instant after `after` at which the wall clock shows `dt`: in a repeated hour the later of the
    /// two when the earlier has passed, in a skipped hour the first instant after the gap.
    fn instant_after(&self, dt: DateTime, after: Timestamp) -> Option<Timestamp> {
        let ambiguous = self.time_zone.to_ambiguous_timestamp(dt);
        match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { .. } => ambiguous.compatible().ok(),
            // The wall clock never shows `dt`; it first shows a later time when the gap's transition happens.
            AmbiguousOffset::Gap { .. } => {
                let past_gap = ambiguous.later().ok()?;
                self.time_zone.preceding(past_gap).next().map(|tr| tr.timestamp())
            }
            AmbiguousOffset::Fold { .. } => match ambiguous.earlier() {
                Ok(t) if t > after => Some(t),
                _ => ambiguous.later().ok(),
            },
        }
    }

    /// The period in force at `at`.
    pub fn period_at(&self, at: Timestamp) -> usize {
        let dt = self.local(at);
        let minute = (dt.hour() as u16) * 60 + dt.minute() as u16;
        self.period_on(dt.date(), minute).0
    }

    /// Splits `[from, to)` into `(start, end, period)` pieces at every period change.
    pub fn segments(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp, usize)> {
        let mut out: Vec<(Timestamp, Timestamp, usize)> = Vec::new();
        let mut t = from;
        while t < to && out.len() < SEGMENTS_MAX {
            let dt = self.local(t);
            let minute = (dt.hour() as u16) * 60 + dt.minute() as u16;
            let (period, next_minute) = self.period_on(dt.date(), minute);
            // The next boundary: the next entry today, else the next local midnight (schedules change by day).
            let next_local = match next_minute {
                Some(m) => {
                    dt.date().to_datetime(Time::new((m / 60) as i8, (m % 60) as i8, 0, 0).unwrap_or(Time::midnight()))
                }
                None => dt.date().tomorrow().map_or(DateTime::MAX, |d| d.to_datetime(Time::midnight())),
            };
            // In a repeated hour the wall clock can run back past a boundary it passed an hour earlier (01:59
            // BST, then 01:00 GMT): the local minute changes then too, so the piece ends there at the latest.
            let fold_back = self.time_zone.to_offset_info(t).offset();
            let mut next = self.instant_after(next_local, t).unwrap_or(to);
            if let Some(transition) = self.time_zone.following(t).next()
                && transition.timestamp() < next
                && transition.offset() < fold_back
            {
                next = transition.timestamp();
            }
            if next <= t {
                next = t.checked_add(jiff::SignedDuration::from_mins(1)).unwrap_or(to);
            }
            let end = next.min(to);
            match out.last_mut() {
                Some(last) if last.2 == period && last.1 == t => last.1 = end,
                _ => out.push((t, end, period)),
            }
            t = end;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai_peak_valley() -> TouCalendar {
        // Peak 08:00–22:00, valley 22:00–08:00 (periods: 0 = peak, 1 = valley).
        let day = DaySchedule { entries: vec![(0, 1), (480, 0), (1_320, 1)] };
        TouCalendar::all_year(TimeZone::get("Asia/Shanghai").unwrap(), day)
    }

    #[test]
    fn periods_and_segments() {
        let c = shanghai_peak_valley();
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(c.period_at(t("2026-07-01T00:30:00Z")), 0, "08:30 local is peak");
        assert_eq!(c.period_at(t("2026-07-01T14:30:00Z")), 1, "22:30 local is valley");
        let segs = c.segments(t("2026-07-01T12:00:00Z"), t("2026-07-02T02:00:00Z"));
        let expect = vec![
            (t("2026-07-01T12:00:00Z"), t("2026-07-01T14:00:00Z"), 0),
            (t("2026-07-01T14:00:00Z"), t("2026-07-02T00:00:00Z"), 1),
            (t("2026-07-02T00:00:00Z"), t("2026-07-02T02:00:00Z"), 0),
        ];
        assert_eq!(segs, expect);
    }

    #[test]
    fn dst_days_have_the_right_lengths() {
        // Europe/London: 29 March 2026 has 23 hours, 25 October 2026 has 25.
        let day = DaySchedule { entries: vec![(0, 1), (420, 0), (1_380, 1)] };
        let c = TouCalendar::all_year(TimeZone::get("Europe/London").unwrap(), day);
        let local = |s: &str| {
            s.parse::<DateTime>().unwrap().to_zoned(TimeZone::get("Europe/London").unwrap()).unwrap().timestamp()
        };
        for (day, next, hours) in [("2026-03-29", "2026-03-30", 23), ("2026-10-25", "2026-10-26", 25)] {
            let segs = c.segments(local(&format!("{day}T00:00")), local(&format!("{next}T00:00")));
            let total: i64 = segs.iter().map(|(a, b, _)| b.as_second() - a.as_second()).sum();
            assert_eq!(total, hours * 3_600, "{day}");
            let night: i64 = segs.iter().filter(|s| s.2 == 1).map(|(a, b, _)| b.as_second() - a.as_second()).sum();
            assert_eq!(night, (hours - 16) * 3_600, "{day}: the clock change falls in the night period");
        }
    }
}

#[cfg(test)]
mod dst_props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every piece `segments` returns is priced at the period `period_at` gives for each instant in it,
        /// also on the days the clocks go back (a repeated local hour) or forward (a skipped one), whatever
        /// the schedule's boundaries; and the pieces cover the interval without gaps.
        #[test]
        fn segments_agree_with_period_at_across_dst(
            starts in proptest::collection::btree_set(1_u16..1_440, 0..6),
            zone in 0_usize..3,
            spring in any::<bool>(),
            from_min in 0_i64..2_880,
            len_min in 1_i64..1_440,
        ) {
            let zone = ["Europe/London", "America/New_York", "Australia/Sydney"][zone];
            let tz = TimeZone::get(zone).unwrap();
            let mut entries = vec![(0_u16, 0_usize)];
            entries.extend(starts.iter().enumerate().map(|(i, s)| (*s, (i + 1) % 3)));
            let c = TouCalendar::all_year(tz.clone(), DaySchedule { entries });
            // Start from the day before each zone's autumn (repeated hour) or spring (skipped hour) change in 2026.
            let day = match (zone, spring) {
                ("Australia/Sydney", false) => "2026-04-04",
                ("Australia/Sydney", true) => "2026-10-03",
                ("America/New_York", false) => "2026-10-31",
                ("America/New_York", true) => "2026-03-07",
                (_, false) => "2026-10-24",
                (_, true) => "2026-03-28",
            };
            let base = day.parse::<Date>().unwrap().to_zoned(tz).unwrap().timestamp();
            let from = base + jiff::SignedDuration::from_mins(from_min);
            let to = from + jiff::SignedDuration::from_mins(len_min);
            let segments = c.segments(from, to);
            prop_assert_eq!(segments.first().map(|s| s.0), Some(from));
            prop_assert_eq!(segments.last().map(|s| s.1), Some(to));
            prop_assert!(segments.windows(2).all(|w| w[0].1 == w[1].0), "contiguous: {:?}", segments);
            for (a, b, p) in segments {
                let mut t = a;
                while t < b {
                    prop_assert_eq!(c.period_at(t), p, "at {} in [{}, {})", t, a, b);
                    t += jiff::SignedDuration::from_mins(1);
                }
            }
        }
    }
}
