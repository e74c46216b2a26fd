//! Time-of-use calendars: which period is in force at an instant, in the tariff's time zone.
//!
//! A calendar has seasons (each starting on a month/day and lasting until the next, wrapping over the new
//! year), and per season a day schedule for weekdays, and optionally for weekend days and holidays. A day
//! schedule is a list of (start time, period) entries; the first starts at 00:00 and each lasts until the
//! next, so a valid schedule has neither gaps nor overlaps. Boundaries are local civil times converted with
//! the IANA database, so days of 23 or 25 hours around DST changes are handled (a boundary that falls in the
//! skipped hour takes effect at the first instant after it).

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;

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

#[derive(Debug, Clone, PartialEq)]
pub struct TouCalendar {
    pub time_zone: TimeZone,
    pub seasons: Vec<Season>,
    pub weekend_days: Vec<Weekday>,
    pub holidays: Vec<Date>,
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
        Self { time_zone, seasons: vec![season], weekend_days: vec![], holidays: vec![] }
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
                w.validate(&format!("{here}.weekend"), periods)?;
            }
            if let Some(h) = &s.holiday {
                h.validate(&format!("{here}.holiday"), periods)?;
            }
        }
        Ok(())
    }

    fn season_on(&self, date: Date) -> Option<&Season> {
        let key = (date.month(), date.day());
        self.seasons.iter().rev().find(|s| (s.from_month, s.from_day) <= key).or_else(|| self.seasons.last())
    }

    fn schedule_on(&self, date: Date) -> Option<&DaySchedule> {
        let season = self.season_on(date)?;
        if self.holidays.contains(&date)
            && let Some(h) = &season.holiday
        {
            return Some(h);
        }
        if self.weekend_days.contains(&date.weekday())
            && let Some(w) = &season.weekend
        {
            return Some(w);
        }
        Some(&season.weekday)
    }

    fn local(&self, at: Timestamp) -> DateTime {
        at.to_zoned(self.time_zone.clone()).datetime()
    }

    fn instant(&self, dt: DateTime) -> Option<Timestamp> {
        self.time_zone.to_ambiguous_timestamp(dt).compatible().ok()
    }

    /// The period in force at `at`.
    pub fn period_at(&self, at: Timestamp) -> usize {
        let dt = self.local(at);
        let minute = (dt.hour() as u16) * 60 + dt.minute() as u16;
        self.schedule_on(dt.date()).map_or(0, |s| s.period_at_minute(minute))
    }

    /// Splits `[from, to)` into `(start, end, period)` pieces at every period change.
    pub fn segments(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp, usize)> {
        let mut out: Vec<(Timestamp, Timestamp, usize)> = Vec::new();
        let mut t = from;
        while t < to && out.len() < SEGMENTS_MAX {
            let dt = self.local(t);
            let minute = (dt.hour() as u16) * 60 + dt.minute() as u16;
            let schedule = self.schedule_on(dt.date());
            let period = schedule.map_or(0, |s| s.period_at_minute(minute));
            // The next boundary: the next entry today, else the next local midnight (schedules change by day).
            let next_local = match schedule.and_then(|s| s.next_start_after(minute)) {
                Some(m) => {
                    dt.date().to_datetime(Time::new((m / 60) as i8, (m % 60) as i8, 0, 0).unwrap_or(Time::midnight()))
                }
                None => dt.date().tomorrow().map_or(DateTime::MAX, |d| d.to_datetime(Time::midnight())),
            };
            let mut next = self.instant(next_local).unwrap_or(to);
            if next <= t {
                // A boundary inside a repeated hour can map backwards; move on by a minute.
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
