//! Rules shared by kinds: dates inside a fiscal year, periods inside one, the store stream
//! and its rule, and what cannot have happened yet.

use chrono::NaiveDate;
use serde::Serialize;

use super::{LedgerEvent, Period};
use crate::calendar::FiscalYear;
use crate::error::ValidationError;
use crate::values::ActivityStatus;

/// How the store must treat the event's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamRule {
    /// Append whatever the stream's version.
    Any,
    /// The stream must not exist yet; this makes "once only" rules atomic in the store.
    MustBeNew,
}

/// A date that must lie in a fiscal year the calendar knows.
pub(crate) fn in_valid_year(field: &str, date: NaiveDate) -> Result<FiscalYear, ValidationError> {
    FiscalYear::from_date(date).map_err(|error| ValidationError::new(field, error.to_string()))
}

/// An optional `date` that must fall inside the stated `fiscal_year`.
pub(crate) fn date_in_year(
    field: &str,
    date: Option<NaiveDate>,
    year: FiscalYear,
) -> Result<(), ValidationError> {
    match date {
        Some(date) if !year.contains(date) => Err(ValidationError::new(
            field,
            format!(
                "{date} is not inside fiscal_year {} ({} to {})",
                year.label(),
                year.first_day(),
                year.last_day()
            ),
        )
        .ja(format!(
            "{date} は年度 {}（{}〜{}）の中にありません",
            year.label(),
            year.first_day(),
            year.last_day()
        ))),
        _ => Ok(()),
    }
}

/// A tallied period: in order, and inside one fiscal year.
pub(crate) fn check_period(period: &Period) -> Result<(), ValidationError> {
    let from_year = in_valid_year("period.from", period.from)?;
    in_valid_year("period.to", period.to)?;
    if period.to < period.from {
        return Err(ValidationError::new(
            "period.to",
            format!("must not be before period.from ({})", period.from),
        )
        .ja(format!("期間の始め（{}）より前にはできません", period.from)));
    }
    if !from_year.contains(period.to) {
        return Err(ValidationError::new(
            "period.to",
            format!(
                "must be in the same fiscal year as period.from ({} ends {})",
                from_year.label(),
                from_year.last_day()
            ),
        )
        .ja(format!(
            "期間の始めと同じ年度の日にしてください（{} は {} まで）",
            from_year.label(),
            from_year.last_day()
        )));
    }
    Ok(())
}

/// The day of an activity placed in a fiscal year: its date, else the year's last day.
pub(crate) fn dated(date: Option<NaiveDate>, year: FiscalYear) -> NaiveDate {
    date.unwrap_or_else(|| year.last_day())
}

/// The `date` of an activity placed in a fiscal year, as [`LedgerEvent::stated_date`] gives it.
pub(crate) fn stated(date: Option<NaiveDate>) -> Option<(&'static str, NaiveDate)> {
    date.map(|date| ("date", date))
}

impl LedgerEvent {
    /// The store stream; characters `[A-Za-z0-9._:/-]` only, at most 200 bytes.
    pub fn stream_id(&self) -> String {
        if let Some(stream) = self.own_stream_id() {
            return stream;
        }
        match self.plan_id() {
            // The changes of one plan share a stream.
            Some(plan) => format!("plan/{plan}"),
            None => format!("{}/{}", self.event_type(), self.fiscal_year().start_year()),
        }
    }

    /// Refuses a held activity dated after `today` (the caller's date in Japan), or placed in
    /// a fiscal year that has not begun: what has not happened cannot be counted yet. A
    /// scheduled activity may lie ahead. A correction is judged by its replacement
    /// (`replacement.<field>`); lifecycle events and the decision dates of amendments are
    /// not judged here.
    pub fn check_not_future(&self, today: NaiveDate) -> Result<(), ValidationError> {
        if let LedgerEvent::Correction(correction) = self {
            return correction
                .replacement
                .check_not_future(today)
                .map_err(|error| error.nested_in("replacement"));
        }
        let kind = self.kind();
        if kind.is_lifecycle()
            || kind.is_amendment()
            || self.status() == Some(ActivityStatus::Scheduled)
        {
            return Ok(());
        }
        let (remedy, remedy_ja) = if self.status().is_some() {
            (
                "a held activity cannot lie in the future: record it as scheduled, or once it \
                 has taken place",
                "実施済みの活動は未来の日付にできません。予定として記録するか、実施後に記録してください",
            )
        } else {
            (
                "it cannot have happened yet: record it once it has",
                "まだ起きていない事柄です。起きてから記録してください",
            )
        };
        if let Some((field, date)) = self.stated_date() {
            if date > today {
                return Err(ValidationError::new(
                    field,
                    format!("{date} is after today ({today} in Japan); {remedy}"),
                )
                .ja(format!(
                    "{date} は今日（日本時間で {today}）より後の日付です。{remedy_ja}"
                )));
            }
        }
        let year = self.fiscal_year();
        if year.first_day() > today {
            return Err(ValidationError::new(
                self.year_field(),
                format!(
                    "{} begins on {}, after today ({today} in Japan); {remedy}",
                    year.label(),
                    year.first_day()
                ),
            )
            .ja(format!(
                "年度 {} は {} に始まります（今日は日本時間で {today}）。{remedy_ja}",
                year.label(),
                year.first_day()
            )));
        }
        Ok(())
    }
}
