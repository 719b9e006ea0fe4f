//! A calendar date as a clerk types it: western (`2024-10-10`, `2024/10/10`, `2024年10月10日`)
//! or by the Japanese era (`令和6年10月10日`, `令和元年5月1日`, `R6.10.10`, `H31/4/30`), in
//! half- or full-width characters. [`parse_date_input`] reads it; a date that names an era
//! must lie inside that era (令和 began on 2019-05-01, so `令和1年4月30日` and `平成31年5月1日`
//! are refused, naming the era's bounds). Reading only: writing a date in 和暦 is another
//! function's job.

use std::fmt;

use chrono::NaiveDate;

/// The eras a date may be written in, newest first: name, Latin initial, first day, last day.
pub(super) const ERAS: [Era; 3] = [
    Era {
        name: "令和",
        initial: 'R',
        first: (2019, 5, 1),
        last: None,
    },
    Era {
        name: "平成",
        initial: 'H',
        first: (1989, 1, 8),
        last: Some((2019, 4, 30)),
    },
    Era {
        name: "昭和",
        initial: 'S',
        first: (1926, 12, 25),
        last: Some((1989, 1, 7)),
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Era {
    pub(super) name: &'static str,
    initial: char,
    first: (i32, u32, u32),
    last: Option<(i32, u32, u32)>,
}

impl Era {
    pub(super) fn first_day(self) -> NaiveDate {
        ymd(self.first)
    }

    fn last_day(self) -> Option<NaiveDate> {
        self.last.map(ymd)
    }

    /// The western year of this era's year `n` (元年 = 1).
    fn western_year(self, n: u32) -> i32 {
        self.first.0 + n as i32 - 1
    }
}

fn ymd((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("era bounds are real days")
}

/// Why a typed date was refused; `Display` is the sentence shown beside the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateInputError {
    /// Nothing was typed.
    Empty,
    /// Not a date in any accepted form.
    Unreadable(String),
    /// The numbers name no day (`2024-02-30`, `令和6年13月1日`).
    NoSuchDay(String),
    /// Year 0 of an era: the first year is 元年 (1).
    EraYearZero(String),
    /// The day is before the era named began.
    BeforeEra {
        text: String,
        era: &'static str,
        first: NaiveDate,
    },
    /// The day is after the era named ended.
    AfterEra {
        text: String,
        era: &'static str,
        last: NaiveDate,
        next: &'static str,
    },
}

impl fmt::Display for DateInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateInputError::Empty => f.write_str("no date was given"),
            DateInputError::Unreadable(text) => write!(
                f,
                "`{text}` is not a date; write it as 2024-10-10, 2024/10/10, 令和6年10月10日 or R6.10.10"
            ),
            DateInputError::NoSuchDay(text) => write!(f, "`{text}`: there is no such day"),
            DateInputError::EraYearZero(text) => {
                write!(f, "`{text}`: an era has no year 0; its first year is 元年 (1)")
            }
            DateInputError::BeforeEra { text, era, first } => write!(
                f,
                "`{text}` is before {era} began ({era} starts on {first})"
            ),
            DateInputError::AfterEra {
                text,
                era,
                last,
                next,
            } => write!(
                f,
                "`{text}` is after {era} ended ({era} ends on {last}; later days are {next})"
            ),
        }
    }
}

impl DateInputError {
    /// The sentence in Japanese, as a clerk's form shows it.
    pub fn japanese(&self) -> String {
        match self {
            DateInputError::Empty => "日付が入力されていません".to_owned(),
            DateInputError::Unreadable(text) => format!(
                "「{text}」は日付として読めません。2024-10-10、2024/10/10、令和6年10月10日、R6.10.10 のように入力してください"
            ),
            DateInputError::NoSuchDay(text) => format!("「{text}」という日はありません"),
            DateInputError::EraYearZero(text) => {
                format!("「{text}」: 元号に0年はありません（最初の年は元年＝1年）")
            }
            DateInputError::BeforeEra { text, era, first } => {
                format!("「{text}」は{era}が始まる前の日です（{era}は{first}から）")
            }
            DateInputError::AfterEra {
                text,
                era,
                last,
                next,
            } => format!(
                "「{text}」は{era}が終わった後の日です（{era}は{last}まで。その後は{next}）"
            ),
        }
    }
}

impl std::error::Error for DateInputError {}

/// Reads a date typed western or by era (see the module docs). Spaces around and inside are
/// ignored; full-width digits, letters and punctuation read as their half-width forms.
pub fn parse_date_input(text: &str) -> Result<NaiveDate, DateInputError> {
    let shown = text.trim().to_owned();
    let normal = normalise(text);
    if normal.is_empty() {
        return Err(DateInputError::Empty);
    }
    let unreadable = || DateInputError::Unreadable(shown.clone());
    let (era, rest) = split_era(&normal);
    let numbers = numbers(rest).ok_or_else(unreadable)?;
    let [year, month, day] = numbers;
    match era {
        None => {
            if year.1 != 4 {
                return Err(unreadable());
            }
            NaiveDate::from_ymd_opt(year.0 as i32, month.0, day.0)
                .ok_or(DateInputError::NoSuchDay(shown))
        }
        Some(era) => {
            if year.0 == 0 {
                return Err(DateInputError::EraYearZero(shown));
            }
            if year.1 > 2 {
                return Err(unreadable());
            }
            let date = NaiveDate::from_ymd_opt(era.western_year(year.0), month.0, day.0)
                .ok_or_else(|| DateInputError::NoSuchDay(shown.clone()))?;
            if date < era.first_day() {
                return Err(DateInputError::BeforeEra {
                    text: shown,
                    era: era.name,
                    first: era.first_day(),
                });
            }
            if let Some(last) = era.last_day().filter(|last| date > *last) {
                let next = ERAS
                    .iter()
                    .rev()
                    .find(|later| later.first_day() > last)
                    .map_or("", |later| later.name);
                return Err(DateInputError::AfterEra {
                    text: shown,
                    era: era.name,
                    last,
                    next,
                });
            }
            Ok(date)
        }
    }
}

/// Half-width, without spaces; 元 (first year) as 1.
fn normalise(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            ' ' | '\u{3000}' | '\t' => None,
            // Full-width ASCII (digits, letters, ／ － ．) to half-width.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0),
            '元' => Some('1'),
            'ー' | '−' | '‐' => Some('-'),
            c => Some(c),
        })
        .collect()
}

/// The era the text starts with (name or Latin initial), and the rest.
fn split_era(text: &str) -> (Option<Era>, &str) {
    for era in ERAS {
        if let Some(rest) = text.strip_prefix(era.name) {
            return (Some(era), rest);
        }
        let mut chars = text.chars();
        if chars
            .next()
            .is_some_and(|c| c.to_ascii_uppercase() == era.initial)
        {
            let rest = chars.as_str();
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            if rest.starts_with(|c: char| c.is_ascii_digit()) {
                return (Some(era), rest);
            }
        }
    }
    (None, text)
}

/// `Y<sep>M<sep>D` with one separator kind (`-`, `/`, `.`) or `Y年M月D日`: each number and
/// its digit count.
fn numbers(text: &str) -> Option<[(u32, usize); 3]> {
    let parts: Vec<&str> = if let Some(rest) = text.strip_suffix('日') {
        let (year, rest) = rest.split_once('年')?;
        let (month, day) = rest.split_once('月')?;
        vec![year, month, day]
    } else {
        let separator = text.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
        text.split(separator).collect()
    };
    let [year, month, day] = parts.as_slice() else {
        return None;
    };
    let read = |digits: &str| -> Option<(u32, usize)> {
        (!digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Some((digits.parse().ok()?, digits.len())))
            .flatten()
    };
    let month = read(month).filter(|(_, len)| *len <= 2)?;
    let day = read(day).filter(|(_, len)| *len <= 2)?;
    Some([read(year)?, month, day])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn every_accepted_spelling_of_one_day() {
        let expected = day(2024, 10, 10);
        for text in [
            "2024-10-10",
            "2024/10/10",
            "2024/1０/10",
            "2024.10.10",
            "2024年10月10日",
            " 2024 - 10 - 10 ",
            "令和6年10月10日",
            "令和06年10月10日",
            "令和 6 年 10 月 10 日",
            "令和６年１０月１０日",
            "R6.10.10",
            "r6.10.10",
            "R06.10.10",
            "R.6.10.10",
            "R6/10/10",
            "R6-10-10",
            "Ｒ６．１０．１０",
            "２０２４／１０／１０",
            "令和6.10.10",
        ] {
            assert_eq!(parse_date_input(text), Ok(expected), "{text}");
        }
        assert_eq!(parse_date_input("2024-4-1"), Ok(day(2024, 4, 1)));
    }

    #[test]
    fn the_first_year_of_an_era_is_gannen() {
        assert_eq!(parse_date_input("令和元年5月1日"), Ok(day(2019, 5, 1)));
        assert_eq!(parse_date_input("令和1年5月1日"), Ok(day(2019, 5, 1)));
        assert_eq!(parse_date_input("R1.5.1"), Ok(day(2019, 5, 1)));
        assert_eq!(parse_date_input("平成元年1月8日"), Ok(day(1989, 1, 8)));
        assert_eq!(parse_date_input("平成31年4月30日"), Ok(day(2019, 4, 30)));
        assert_eq!(parse_date_input("H31.4.30"), Ok(day(2019, 4, 30)));
        assert_eq!(parse_date_input("昭和64年1月7日"), Ok(day(1989, 1, 7)));
    }

    #[test]
    fn a_day_outside_the_era_named_is_refused_with_its_bounds() {
        let before = parse_date_input("令和1年4月30日").unwrap_err();
        assert_eq!(
            before,
            DateInputError::BeforeEra {
                text: "令和1年4月30日".to_owned(),
                era: "令和",
                first: day(2019, 5, 1),
            }
        );
        assert_eq!(
            before.to_string(),
            "`令和1年4月30日` is before 令和 began (令和 starts on 2019-05-01)"
        );
        let after = parse_date_input("平成31年5月1日").unwrap_err();
        assert_eq!(
            after.to_string(),
            "`平成31年5月1日` is after 平成 ended (平成 ends on 2019-04-30; later days are 令和)"
        );
        assert!(matches!(
            parse_date_input("H1.1.7"),
            Err(DateInputError::BeforeEra { era: "平成", .. })
        ));
        assert!(matches!(
            parse_date_input("S64.1.8"),
            Err(DateInputError::AfterEra {
                era: "昭和",
                next: "平成",
                ..
            })
        ));
        assert!(matches!(
            parse_date_input("R0.5.1"),
            Err(DateInputError::EraYearZero(_))
        ));
    }

    #[test]
    fn garbage_and_impossible_days_say_so() {
        assert_eq!(parse_date_input("  "), Err(DateInputError::Empty));
        for text in [
            "yesterday",
            "10/10/2024",
            "24-10-10",
            "2024-10",
            "2024-10-10-1",
            "2024/10-10",
            "R6",
            "令和6年10月",
            "X6.10.10",
            "R123.1.1",
            "2024-100-1",
        ] {
            let error = parse_date_input(text).unwrap_err();
            assert!(
                matches!(error, DateInputError::Unreadable(_)),
                "{text}: {error:?}"
            );
            assert!(error.to_string().contains(text.trim()), "{error}");
        }
        for text in ["2024-02-30", "令和6年13月1日", "R5.2.29"] {
            assert!(
                matches!(parse_date_input(text), Err(DateInputError::NoSuchDay(_))),
                "{text}"
            );
        }
        assert_eq!(parse_date_input("R6.2.29"), Ok(day(2024, 2, 29)));
    }

    /// The era and its year a day is written in, as a clerk would write it.
    fn era_of(date: NaiveDate) -> Option<(Era, u32)> {
        ERAS.into_iter()
            .find(|era| era.first_day() <= date && era.last_day().is_none_or(|last| date <= last))
            .map(|era| (era, (date.year() - era.first.0 + 1) as u32))
    }

    proptest! {
        #[test]
        fn a_day_written_in_its_era_reads_back(offset in 0i64..(120 * 366)) {
            let date = day(1927, 1, 1) + chrono::Duration::days(offset);
            let (era, year) = era_of(date).unwrap();
            let long = format!("{}{}年{}月{}日", era.name, year, date.month(), date.day());
            let short = format!("{}{}.{}.{}", era.initial, year, date.month(), date.day());
            prop_assert_eq!(parse_date_input(&long), Ok(date));
            prop_assert_eq!(parse_date_input(&short), Ok(date));
            prop_assert_eq!(parse_date_input(&date.format("%Y/%m/%d").to_string()), Ok(date));
            // The same day named in the era before or after is refused, never read as
            // another day.
            for other in ERAS.into_iter().filter(|other| *other != era) {
                let year = date.year() - other.first.0 + 1;
                if year >= 1 {
                    let text = format!("{}{}年{}月{}日", other.name, year, date.month(), date.day());
                    prop_assert!(parse_date_input(&text).is_err(), "{}", text);
                }
            }
        }
    }
}
