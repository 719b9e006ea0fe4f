//! Tallies over a period inside one fiscal year: consultations and coworking use.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::catalogue::{count, text};
use super::payload::EventPayload;
use super::rules::check_period;
use super::FieldInfo;
use crate::error::ValidationError;
use crate::values::{iso_date, Count, Text};

/// An inclusive date range inside one fiscal year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    #[serde(with = "iso_date")]
    pub from: NaiveDate,
    #[serde(with = "iso_date")]
    pub to: NaiveDate,
}

/// Individual consultations given by one provider over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consultation {
    pub provider: Text,
    pub persons: Count,
    pub period: Period,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

impl EventPayload for Consultation {
    const LABEL: super::Label = super::Label {
        ja: "個別相談",
        en: "Consultation",
    };
    const SUMMARY_JA: &'static str = "一つの相談窓口が期間内に行った個別相談。";
    const SUMMARY: &'static str = "Individual consultations given by one provider over a period.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("provider", Text, true, "Who gave the consultations.", "相談実施者" / "Provider", "相談を行った者・機関。", |e| text(&e.provider)),
        field!("persons", Count, true, "Persons consulted.", "相談者数" / "Persons consulted", "相談した人の数（人）。", |e| count(e.persons)),
        field!("period.from", Date, true, "First day covered.", "期間（開始日）" / "Period from", "対象期間の初日。"),
        field!("period.to", Date, true, "Last day covered, same fiscal year.", "期間（終了日）" / "Period to", "対象期間の最終日。開始日と同じ年度内。"),
        field!("note", Text, false, "Free remark.", "備考" / "Note", "自由記述。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        check_period(&self.period)
    }

    fn occurred_on(&self) -> NaiveDate {
        self.period.to
    }

    fn title(&self) -> Option<&str> {
        Some(self.provider.as_str())
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        Some(("period.to", self.period.to))
    }

    fn year_field(&self) -> &'static str {
        "period.from"
    }
}

/// Users of one coworking space over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoworkingTally {
    pub space: Text,
    pub period: Period,
    pub users: Count,
    /// Of `users`, those who came to work (counted from R6 on; absent before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_use: Option<Count>,
}

impl EventPayload for CoworkingTally {
    const LABEL: super::Label = super::Label {
        ja: "コワーキング利用",
        en: "Coworking tally",
    };
    const SUMMARY_JA: &'static str = "コワーキングスペース1か所の期間内の利用者数。";
    const SUMMARY: &'static str = "Users of one coworking space over a period.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("space", Text, true, "The space.", "施設名" / "Space", "コワーキングスペースの名称。", |e| text(&e.space)),
        field!("period.from", Date, true, "First day covered.", "期間（開始日）" / "Period from", "対象期間の初日。"),
        field!("period.to", Date, true, "Last day covered, same fiscal year.", "期間（終了日）" / "Period to", "対象期間の最終日。開始日と同じ年度内。"),
        field!("users", Count, true, "Users (visits).", "利用者数" / "Users", "利用者数（延べ、人）。", |e| count(e.users)),
        field!("work_use", Count, false, "Of users, those who came to work.", "うち仕事での利用" / "Work use", "利用者のうち仕事で利用した人（人）。利用者数以下。", |e| e.work_use.and_then(count)),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        check_period(&self.period)?;
        match self.work_use {
            Some(work_use) if work_use > self.users => Err(ValidationError::new(
                "work_use",
                format!("must not exceed users ({})", self.users),
            )
            .ja(format!(
                "利用者数（{}）を超えることはできません",
                self.users
            ))),
            _ => Ok(()),
        }
    }

    fn occurred_on(&self) -> NaiveDate {
        self.period.to
    }

    fn title(&self) -> Option<&str> {
        Some(self.space.as_str())
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        Some(("period.to", self.period.to))
    }

    fn year_field(&self) -> &'static str {
        "period.from"
    }
}
