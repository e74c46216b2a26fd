//! Friendly hours (友好时段): when a prepaid supply is not disconnected for lack of credit — nights, weekend
//! days, public holidays — so that nobody is cut off when they cannot buy credit. A trip that falls due in
//! friendly hours waits until they end. The windows are local times in the tariff's time zone.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;

/// Friendly hours of a tariff.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FriendlyHours {
    /// Local `[start, end)` minutes of the day; wraps midnight when start > end (22:00–07:00).
    pub night: Option<(u16, u16)>,
    /// Whole local days on which no one is cut off.
    pub weekend_days: Vec<Weekday>,
    /// Whole local dates on which no one is cut off.
    pub holidays: Vec<Date>,
}

impl FriendlyHours {
    /// Whether `at` falls in friendly hours, in `tz`.
    pub fn contains(&self, at: Timestamp, tz: &TimeZone) -> bool {
        let local = at.to_zoned(tz.clone());
        let date = local.date();
        if self.weekend_days.contains(&date.weekday()) || self.holidays.contains(&date) {
            return true;
        }
        let minute = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        match self.night {
            Some((start, end)) if start <= end => (start..end).contains(&minute),
            Some((start, end)) => minute >= start || minute < end,
            None => false,
        }
    }

    /// Checks the night window; `field` names it in the error.
    pub fn validate(&self, field: &str) -> Result<(), super::TariffError> {
        if let Some((start, end)) = self.night
            && (start >= 1_440 || end >= 1_440 || start == end)
        {
            return Err(super::TariffError::new(field, "the night window is two different times of day, HH:MM-HH:MM"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nights_weekends_and_holidays_in_local_time() {
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        let f = FriendlyHours {
            night: Some((22 * 60, 7 * 60)),
            weekend_days: vec![Weekday::Sunday],
            holidays: vec!["2026-10-01".parse().unwrap()],
        };
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        // Monday 2026-11-23, Shanghai is UTC+8.
        for (utc, friendly) in [
            ("2026-11-23T13:59:00Z", false), // 21:59
            ("2026-11-23T14:00:00Z", true),  // 22:00
            ("2026-11-23T22:59:00Z", true),  // 06:59 next day
            ("2026-11-23T23:00:00Z", false), // 07:00
            ("2026-11-22T04:00:00Z", true),  // Sunday noon
            ("2026-10-01T04:00:00Z", true),  // a holiday at noon
            ("2026-09-30T16:30:00Z", true),  // 00:30 on the holiday, also night
        ] {
            assert_eq!(f.contains(at(utc), &tz), friendly, "{utc}");
        }
        assert!(!FriendlyHours::default().contains(at("2026-11-23T14:00:00Z"), &tz));
        let day = FriendlyHours { night: Some((12 * 60, 13 * 60)), ..FriendlyHours::default() };
        assert!(day.contains(at("2026-11-23T04:30:00Z"), &tz) && !day.contains(at("2026-11-23T05:00:00Z"), &tz));
        assert!(FriendlyHours { night: Some((60, 60)), ..FriendlyHours::default() }.validate("f").is_err());
    }
}
