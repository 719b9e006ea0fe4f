//! Which of the ledger's two kinds of time a table's figures are for, in words a reader of the
//! report understands: `as of` (transaction time: what had been recorded by an instant) and
//! `through` (valid time: the activities that happened by a date).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use kpi_domain::calendar::jst;

/// The two axes a KPI table can be cut on; `None` is "no cut" on that axis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Axes {
    /// Transaction time: only what had been recorded by this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Valid time: only activities that happened on or before this date (in Japan).
    pub through: Option<NaiveDate>,
}

impl Axes {
    /// The table as the ledger knows it now, every activity counted.
    pub fn is_current(&self) -> bool {
        self.as_of.is_none() && self.through.is_none()
    }

    /// The as-of instant as Japan reads it, to the second: `2025-03-31T23:59:59+09:00`.
    pub fn as_of_text(&self) -> Option<String> {
        self.as_of.map(|at| {
            at.with_timezone(&jst())
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        })
    }

    /// `2025-05-31T23:59:59+09:00時点の記録、2025-03-31までの活動`.
    pub fn ja(&self) -> String {
        let recorded = match self.as_of_text() {
            Some(at) => format!("{at}時点の記録"),
            None => "現在までの全記録".to_owned(),
        };
        let happened = match self.through {
            Some(date) => format!("{date}までの活動"),
            None => "全期間の活動".to_owned(),
        };
        format!("{recorded}、{happened}")
    }

    /// `as of 2025-05-31T23:59:59+09:00 (recorded by then), through 2025-03-31 (activities up
    /// to then)`.
    pub fn en(&self) -> String {
        let recorded = match self.as_of_text() {
            Some(at) => format!("as of {at} (recorded by then)"),
            None => "as of now (everything recorded)".to_owned(),
        };
        let happened = match self.through {
            Some(date) => format!("through {date} (activities up to then)"),
            None => "all activities (no through date)".to_owned(),
        };
        format!("{recorded}, {happened}")
    }

    /// Both languages on one line, for captions; `None` for the current table, whose
    /// renderings carry no caption.
    pub fn caption(&self) -> Option<String> {
        (!self.is_current()).then(|| format!("{} / {}", self.ja(), self.en()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_axes_are_named_in_both_languages() {
        let axes = Axes {
            as_of: Some(kpi_domain::calendar::parse_as_of("2025-05-31").unwrap()),
            through: NaiveDate::from_ymd_opt(2025, 3, 31),
        };
        assert_eq!(
            axes.ja(),
            "2025-05-31T23:59:59+09:00時点の記録、2025-03-31までの活動"
        );
        assert_eq!(
            axes.en(),
            "as of 2025-05-31T23:59:59+09:00 (recorded by then), \
             through 2025-03-31 (activities up to then)"
        );
        assert_eq!(Axes::default().caption(), None);
        let through_only = Axes {
            through: axes.through,
            ..Axes::default()
        };
        assert_eq!(
            through_only.caption().unwrap(),
            "現在までの全記録、2025-03-31までの活動 / as of now (everything recorded), \
             through 2025-03-31 (activities up to then)"
        );
    }
}
