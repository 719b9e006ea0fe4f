//! A calendar date written in the Japanese era calendar (和暦), for pages that show a date to
//! people: `令和6年10月10日`, the first year of an era as 元年. Writing only, over the eras
//! `date_input` reads (令和, 平成, 昭和): one list of eras for both directions.

use chrono::{Datelike, NaiveDate};

use super::date_input::ERAS;

/// The era and the year within it of a date: (`令和`, 6) for 2024-10-10; `None` before the
/// first era known (昭和, 1926-12-25).
pub fn era_of(date: NaiveDate) -> Option<(&'static str, i32)> {
    ERAS.into_iter().find_map(|era| {
        let first = era.first_day();
        (date >= first).then(|| (era.name, date.year() - first.year() + 1))
    })
}

/// A date as the Japanese calendar writes it: `令和6年10月10日`, the first year of an era as
/// 元年 (`令和元年5月1日`, the day after `平成31年4月30日`); `None` before 昭和.
pub fn format_wareki(date: NaiveDate) -> Option<String> {
    let (era, year) = era_of(date)?;
    let year = if year == 1 {
        "元".to_owned()
    } else {
        year.to_string()
    };
    Some(format!("{era}{year}年{}月{}日", date.month(), date.day()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::parse_date_input;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_are_written_in_their_era_with_the_first_year_as_gannen() {
        for (day, written) in [
            (date(2024, 10, 10), "令和6年10月10日"),
            (date(2019, 4, 30), "平成31年4月30日"),
            (date(2019, 5, 1), "令和元年5月1日"),
            (date(2020, 1, 1), "令和2年1月1日"),
            (date(2025, 3, 31), "令和7年3月31日"),
            (date(1989, 1, 7), "昭和64年1月7日"),
            (date(1989, 1, 8), "平成元年1月8日"),
            (date(1926, 12, 25), "昭和元年12月25日"),
        ] {
            assert_eq!(format_wareki(day).as_deref(), Some(written), "{day}");
            // What is written reads back as the same day.
            assert_eq!(parse_date_input(written).unwrap(), day, "{written}");
        }
        assert_eq!(format_wareki(date(1926, 12, 24)), None);
        assert_eq!(era_of(date(2025, 3, 31)), Some(("令和", 7)));
    }
}
