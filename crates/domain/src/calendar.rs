//! The Japanese fiscal year (年度) and the Reiwa era labels the city's reports use.
//!
//! A fiscal year runs from 1 April to 31 March and is named after the calendar year it starts
//! in: FY2024 = 2024-04-01..=2025-03-31 = 令和6年度 = "R6". Dates are calendar dates in Japan;
//! a UTC timestamp is read at UTC+9 (Japan has no daylight saving time), so
//! 2025-03-31T15:00:00Z is already 2025-04-01, hence R7.
//!
//! Only the Reiwa era is representable (R1 = FY2019 up to R99): the ledger's plans start in
//! R3, and refusing earlier years catches typos such as "2204" or "R-6" at the boundary.
//!
//! Serde: a `FiscalYear` serialises as the integer start year (`2024`), which sorts and
//! compares naturally in any language. Deserialising accepts the integer or any string
//! [`FiscalYear::from_str`] accepts ("R6", "FY2024", "2024", "令和6年度").

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod date_input;
mod date_output;
pub use date_input::{parse_date_input, DateInputError};
pub use date_output::{era_of, format_wareki};

/// Japan Standard Time, UTC+9 all year round.
pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset")
}

/// The calendar date in Japan at a given instant.
pub fn jst_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&jst()).date_naive()
}

/// A fiscal year of the Reiwa era, April to March.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiscalYear(u16);

/// Why a fiscal year could not be formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiscalYearError {
    #[error("fiscal year {0} is outside the supported range FY2019 (R1) to FY2117 (R99)")]
    OutOfRange(i64),
    #[error("`{0}` is not a fiscal year; write it as R6, FY2024 or 2024")]
    Unparseable(String),
}

impl FiscalYear {
    /// First representable year: 令和元年度.
    pub const FIRST_START_YEAR: u16 = 2019;
    /// Last representable year: 令和99年度.
    pub const LAST_START_YEAR: u16 = 2117;
    const REIWA_OFFSET: u16 = 2018;

    /// The fiscal year that starts in April of `start_year`.
    pub fn new(start_year: i64) -> Result<Self, FiscalYearError> {
        if (i64::from(Self::FIRST_START_YEAR)..=i64::from(Self::LAST_START_YEAR))
            .contains(&start_year)
        {
            Ok(Self(start_year as u16))
        } else {
            Err(FiscalYearError::OutOfRange(start_year))
        }
    }

    /// Reiwa year `n` (R6 = FY2024).
    pub fn from_reiwa(n: i64) -> Result<Self, FiscalYearError> {
        Self::new(n + i64::from(Self::REIWA_OFFSET))
    }

    /// The fiscal year a calendar date in Japan belongs to.
    pub fn from_date(date: NaiveDate) -> Result<Self, FiscalYearError> {
        let start = if date.month() >= 4 {
            date.year()
        } else {
            date.year() - 1
        };
        Self::new(i64::from(start))
    }

    /// The fiscal year of an instant, read in Asia/Tokyo.
    pub fn from_utc(at: DateTime<Utc>) -> Result<Self, FiscalYearError> {
        Self::from_date(jst_date(at))
    }

    /// The calendar year the fiscal year starts in (2024 for R6).
    pub fn start_year(self) -> u16 {
        self.0
    }

    /// The Reiwa year number (6 for FY2024).
    pub fn reiwa(self) -> u16 {
        self.0 - Self::REIWA_OFFSET
    }

    /// The label the city's tables use: "R6".
    pub fn label(self) -> String {
        format!("R{}", self.reiwa())
    }

    /// 1 April.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(i32::from(self.0), 4, 1).expect("1 April exists")
    }

    /// 31 March of the following calendar year.
    pub fn last_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(i32::from(self.0) + 1, 3, 31).expect("31 March exists")
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        self.first_day() <= date && date <= self.last_day()
    }

    /// The next fiscal year, if still representable.
    pub fn next(self) -> Option<Self> {
        Self::new(i64::from(self.0) + 1).ok()
    }

    /// Number of fiscal years from `self` to `later` (0 when equal); `None` if `later` is earlier.
    pub fn years_until(self, later: Self) -> Option<usize> {
        later.0.checked_sub(self.0).map(usize::from)
    }

    /// Every fiscal year from `first` to `last`, both included.
    pub fn range_inclusive(first: Self, last: Self) -> impl Iterator<Item = FiscalYear> {
        (first.0..=last.0).map(FiscalYear)
    }

    /// The date a day-of-year written without a year ("4/30", "1/20") falls on inside this
    /// fiscal year: April-December in the start year, January-March in the next.
    pub fn date_of_month_day(self, month: u32, day: u32) -> Option<NaiveDate> {
        let year = if month >= 4 {
            i32::from(self.0)
        } else {
            i32::from(self.0) + 1
        };
        NaiveDate::from_ymd_opt(year, month, day)
    }
}

impl fmt::Display for FiscalYear {
    /// "R6 (FY2024)": both names, because readers of the ledger use either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "R{} (FY{})", self.reiwa(), self.0)
    }
}

impl FromStr for FiscalYear {
    type Err = FiscalYearError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let unparseable = || FiscalYearError::Unparseable(text.to_owned());
        let number = |digits: &str| -> Result<i64, FiscalYearError> {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 4
            {
                return Err(unparseable());
            }
            digits.parse::<i64>().map_err(|_| unparseable())
        };
        if let Some(rest) = trimmed
            .strip_prefix("令和")
            .map(|r| r.trim_end_matches("年度").trim_end_matches('年'))
        {
            return Self::from_reiwa(number(rest)?);
        }
        if let Some(rest) = trimmed
            .strip_prefix('R')
            .or_else(|| trimmed.strip_prefix('r'))
        {
            return Self::from_reiwa(number(rest)?);
        }
        if let Some(rest) = trimmed
            .strip_prefix("FY")
            .or_else(|| trimmed.strip_prefix("fy"))
        {
            return Self::new(number(rest)?);
        }
        if trimmed.len() == 4 {
            return Self::new(number(trimmed)?);
        }
        Err(unparseable())
    }
}

impl Serialize for FiscalYear {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

impl<'de> Deserialize<'de> for FiscalYear {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = FiscalYear;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a fiscal year such as 2024, \"R6\" or \"FY2024\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<FiscalYear, E> {
                FiscalYear::new(i64::try_from(v).unwrap_or(i64::MAX)).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<FiscalYear, E> {
                FiscalYear::new(v).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FiscalYear, E> {
                v.parse().map_err(E::custom)
            }
        }
        // Text formats accept the written forms; compact binary ones (checkpoints) cannot
        // describe their values, so they get the number `serialize` wrote.
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(Visitor)
        } else {
            deserializer.deserialize_u16(Visitor)
        }
    }
}

/// An "as of" instant as people write it: an RFC 3339 time, or a date meaning the end of that
/// day in Japan (the last instant of 2025-03-31 JST is 2025-03-31T14:59:59.999999999Z).
pub fn parse_as_of(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!(
            "`{text}` is neither an RFC 3339 time (2025-04-01T09:00:00+09:00) nor a date (2025-03-31)"
        )
    })?;
    let end_of_day = date
        .succ_opt()
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .and_then(|midnight| midnight.and_local_timezone(jst()).single())
        .ok_or_else(|| format!("`{text}` is out of range"))?;
    Ok(end_of_day.with_timezone(&Utc) - chrono::Duration::nanoseconds(1))
}

/// A "through" date as people write it: a calendar date in Japan, `2025-03-31`, the last day
/// whose activities count (valid time; `parse_as_of` is the other axis, transaction time).
pub fn parse_through(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        format!("`{text}` is not a date; write it as YYYY-MM-DD, e.g. 2025-03-31 for the end of R6")
    })
}

#[cfg(test)]
mod as_of_tests {
    use super::*;

    #[test]
    fn as_of_reads_instants_and_japanese_dates() {
        assert_eq!(
            parse_as_of("2025-04-01T09:00:00+09:00")
                .unwrap()
                .to_rfc3339(),
            "2025-04-01T00:00:00+00:00"
        );
        let end = parse_as_of("2025-03-31").unwrap();
        assert!(end < "2025-03-31T15:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert!(end > "2025-03-31T14:59:59Z".parse::<DateTime<Utc>>().unwrap());
        assert!(parse_as_of("yesterday").unwrap_err().contains("yesterday"));
    }

    #[test]
    fn through_reads_plain_dates_only() {
        assert_eq!(
            parse_through("2025-03-31").unwrap(),
            NaiveDate::from_ymd_opt(2025, 3, 31).unwrap()
        );
        for bad in ["2025-02-30", "R6", "2025-03-31T00:00:00Z", ""] {
            let error = parse_through(bad).unwrap_err();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_fiscal_year_turns_on_the_first_of_april() {
        assert_eq!(
            FiscalYear::from_date(date(2025, 3, 31)).unwrap().label(),
            "R6"
        );
        assert_eq!(
            FiscalYear::from_date(date(2025, 4, 1)).unwrap().label(),
            "R7"
        );
        assert_eq!(
            FiscalYear::from_date(date(2024, 4, 1)).unwrap().label(),
            "R6"
        );
        assert_eq!(
            FiscalYear::from_date(date(2024, 3, 31)).unwrap().label(),
            "R5"
        );
    }

    #[test]
    fn a_utc_instant_is_read_in_japan() {
        let last_jst_second_of_r6 = Utc.with_ymd_and_hms(2025, 3, 31, 14, 59, 59).unwrap();
        let jst_midnight_starting_r7 = Utc.with_ymd_and_hms(2025, 3, 31, 15, 0, 0).unwrap();
        let report_example = Utc.with_ymd_and_hms(2025, 3, 31, 16, 0, 0).unwrap();
        assert_eq!(
            FiscalYear::from_utc(last_jst_second_of_r6).unwrap().label(),
            "R6"
        );
        assert_eq!(
            FiscalYear::from_utc(jst_midnight_starting_r7)
                .unwrap()
                .label(),
            "R7"
        );
        assert_eq!(FiscalYear::from_utc(report_example).unwrap().label(), "R7");
    }

    #[test]
    fn leap_day_belongs_to_the_fiscal_year_that_started_the_april_before() {
        let leap_day = date(2024, 2, 29);
        assert_eq!(FiscalYear::from_date(leap_day).unwrap().label(), "R5");
        let r5 = FiscalYear::from_reiwa(5).unwrap();
        assert_eq!(r5.date_of_month_day(2, 29), Some(leap_day));
        let r6 = FiscalYear::from_reiwa(6).unwrap();
        assert_eq!(r6.date_of_month_day(2, 29), None, "2025 is not a leap year");
        assert_eq!(r6.last_day(), date(2025, 3, 31));
        assert!(r5.contains(leap_day) && !r6.contains(leap_day));
    }

    #[test]
    fn reiwa_and_gregorian_names_agree() {
        let r6 = FiscalYear::new(2024).unwrap();
        assert_eq!(r6.reiwa(), 6);
        assert_eq!(r6.label(), "R6");
        assert_eq!(r6.to_string(), "R6 (FY2024)");
        for text in [
            "R6",
            "r6",
            "FY2024",
            "fy2024",
            "2024",
            " R6 ",
            "令和6年度",
            "令和6",
        ] {
            assert_eq!(text.parse::<FiscalYear>().unwrap(), r6, "{text}");
        }
        assert_eq!(FiscalYear::from_reiwa(3).unwrap().start_year(), 2021);
    }

    #[test]
    fn years_outside_the_reiwa_era_or_garbage_are_refused() {
        assert_eq!(
            FiscalYear::new(2018),
            Err(FiscalYearError::OutOfRange(2018))
        );
        assert!(FiscalYear::from_date(date(2019, 3, 31)).is_err());
        assert!(FiscalYear::from_date(date(2019, 4, 1)).is_ok());
        for text in [
            "",
            "R",
            "R-6",
            "FY",
            "6",
            "R6.5",
            "FY20245",
            "two thousand",
            "R0",
        ] {
            assert!(
                text.parse::<FiscalYear>().is_err(),
                "{text:?} must not parse"
            );
        }
    }

    #[test]
    fn serde_writes_the_start_year_and_reads_labels_too() {
        let r6 = FiscalYear::new(2024).unwrap();
        assert_eq!(serde_json::to_string(&r6).unwrap(), "2024");
        assert_eq!(serde_json::from_str::<FiscalYear>("2024").unwrap(), r6);
        assert_eq!(serde_json::from_str::<FiscalYear>("\"R6\"").unwrap(), r6);
        assert!(serde_json::from_str::<FiscalYear>("1999").is_err());
        assert!(serde_json::from_str::<FiscalYear>("-3").is_err());
    }
}
