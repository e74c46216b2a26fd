//! Token identifiers (IEC 62055-41 §6.3.4): whole minutes since a base date, in 24 bits.
//!
//! 2^24 minutes is about 31.9 years, so each base date rolls over: base 1993 ends at 2024-11-24 20:16 UTC,
//! base 2014 at 2045-11-24 20:16, base 2035 at 2066-11-24 20:16. A meter moves to the next base with a key
//! change token set whose rollover (RO) flag is set. The vending side never issues a TID that would not fit,
//! and issues at most one token per meter per minute: a further token takes the next minute (IEC 62055-51
//! §6.3.5.3).

use std::fmt;

use jiff::Timestamp;

use crate::StsError;

/// The number of distinct TIDs: 2^24.
pub const TID_LIMIT: u32 = 1 << 24;

/// A base date of the TID count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BaseDate {
    Y1993,
    Y2014,
    Y2035,
}

impl BaseDate {
    /// The two-digit code used in key derivation ("93", "14", "35").
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Y1993 => "93",
            Self::Y2014 => "14",
            Self::Y2035 => "35",
        }
    }

    pub fn from_code(code: &str) -> Result<Self, StsError> {
        match code {
            "93" | "1993" => Ok(Self::Y1993),
            "14" | "2014" => Ok(Self::Y2014),
            "35" | "2035" => Ok(Self::Y2035),
            other => {
                Err(StsError::BadParameter { name: "base date", value: other.to_string(), expected: "93, 14 or 35" })
            }
        }
    }

    /// Seconds since the Unix epoch of 00:00 UTC on 1 January of the base year.
    const fn epoch_second(&self) -> i64 {
        match self {
            Self::Y1993 => 725_846_400,
            Self::Y2014 => 1_388_534_400,
            Self::Y2035 => 2_051_222_400,
        }
    }

    pub fn start(&self) -> Timestamp {
        Timestamp::from_second(self.epoch_second()).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// The first instant whose TID no longer fits in 24 bits.
    pub fn rollover(&self) -> Timestamp {
        Timestamp::from_second(self.epoch_second() + i64::from(TID_LIMIT) * 60).unwrap_or(Timestamp::MAX)
    }

    /// The base a rollover key change moves to.
    pub const fn next(&self) -> Option<BaseDate> {
        match self {
            Self::Y1993 => Some(Self::Y2014),
            Self::Y2014 => Some(Self::Y2035),
            Self::Y2035 => None,
        }
    }
}

impl fmt::Display for BaseDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A 24-bit token identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid(u32);

impl Tid {
    pub fn new(minutes: u32) -> Result<Self, StsError> {
        if minutes >= TID_LIMIT {
            return Err(StsError::TidOverflow);
        }
        Ok(Self(minutes))
    }

    pub const fn minutes(&self) -> u32 {
        self.0
    }

    /// The TID of instant `at` (whole minutes since `base`).
    pub fn at(base: BaseDate, at: Timestamp) -> Result<Self, StsError> {
        let seconds = at.as_second() - base.epoch_second();
        if seconds < 0 {
            return Err(StsError::BeforeBaseDate);
        }
        let minutes = u32::try_from(seconds / 60).map_err(|_| StsError::TidOverflow)?;
        Self::new(minutes)
    }

    /// The TID for a new token at `now`, after the meter's last issued TID: one minute later than the last
    /// when they would collide. Refuses when the result would not fit (the meter needs a rollover key change).
    pub fn next_after(base: BaseDate, now: Timestamp, last: Option<Tid>) -> Result<Self, StsError> {
        let at_now = Self::at(base, now)?;
        match last {
            Some(last) if last >= at_now => Self::new(last.0 + 1),
            _ => Ok(at_now),
        }
    }

    /// The instant this TID stands for.
    pub fn instant(&self, base: BaseDate) -> Timestamp {
        Timestamp::from_second(base.epoch_second() + i64::from(self.0) * 60).unwrap_or(Timestamp::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn vector_tid_and_rollover() {
        // CTSA01 step 1: 2004-03-01 13:55 → 0x599863.
        assert_eq!(Tid::at(BaseDate::Y1993, t("2004-03-01T13:55:59Z")).unwrap().minutes(), 0x59_9863);
        assert_eq!(BaseDate::Y1993.rollover(), t("2024-11-24T20:16:00Z"));
        assert_eq!(BaseDate::Y2014.rollover(), t("2045-11-24T20:16:00Z"));
        assert_eq!(BaseDate::Y2035.rollover(), t("2066-11-24T20:16:00Z"));
        assert_eq!(Tid::at(BaseDate::Y1993, t("2024-11-24T20:15:59Z")).unwrap().minutes(), TID_LIMIT - 1);
        assert!(matches!(Tid::at(BaseDate::Y1993, t("2024-11-24T20:16:00Z")), Err(StsError::TidOverflow)));
        assert!(matches!(Tid::at(BaseDate::Y2014, t("2013-12-31T23:59:00Z")), Err(StsError::BeforeBaseDate)));
        assert_eq!(BaseDate::Y1993.next(), Some(BaseDate::Y2014));
    }

    #[test]
    fn same_minute_bumps_by_one() {
        let now = t("2026-11-23T08:00:30Z");
        let first = Tid::next_after(BaseDate::Y2014, now, None).unwrap();
        let second = Tid::next_after(BaseDate::Y2014, now, Some(first)).unwrap();
        let third = Tid::next_after(BaseDate::Y2014, now, Some(second)).unwrap();
        assert_eq!((second.minutes() - first.minutes(), third.minutes() - first.minutes()), (1, 2));
        let later = Tid::next_after(BaseDate::Y2014, t("2026-11-23T08:05:00Z"), Some(third)).unwrap();
        assert_eq!(later.minutes() - first.minutes(), 5);
        let last = Tid::new(TID_LIMIT - 1).unwrap();
        assert!(matches!(Tid::next_after(BaseDate::Y2014, now, Some(last)), Err(StsError::TidOverflow)));
    }
}
