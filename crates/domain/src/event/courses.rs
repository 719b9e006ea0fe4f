//! Courses counted as activities: seminars (with their sessions and participants) and
//! skill trainings.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::catalogue::{count, positive, text};
use super::payload::EventPayload;
use super::rules::{date_in_year, dated, in_valid_year};
use super::{FieldInfo, FieldValue};
use crate::calendar::FiscalYear;
use crate::error::ValidationError;
use crate::values::{iso_date, ActivityStatus, Count, PositiveCount, Text};

/// A seminar or a multi-session course counted as one activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seminar {
    pub title: Text,
    pub organiser: Text,
    #[serde(with = "iso_date")]
    pub first_date: NaiveDate,
    pub sessions: PositiveCount,
    pub participants: Participants,
    /// Places per session, if announced. Attendance may exceed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Count>,
    pub status: ActivityStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participants {
    /// Different people who took part at least once.
    pub unique: Count,
    /// Person-sessions: a person attending five sessions counts five times.
    pub attendances: Count,
}

impl EventPayload for Seminar {
    const LABEL: super::Label = super::Label {
        ja: "セミナー",
        en: "Seminar",
    };
    const SUMMARY_JA: &'static str = "セミナー、または複数回の講座を実人数と延べ人数で1件として。";
    const SUMMARY: &'static str = "A seminar, or a multi-session course recorded once with unique participants and attendances.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("title", Text, true, "Title as published.", "タイトル" / "Title", "公表されたタイトルのとおり。", |e| text(&e.title)),
        field!("organiser", Text, true, "Who held it.", "主催者" / "Organiser", "開催した団体・部署。", |e| text(&e.organiser)),
        field!("first_date", Date, true, "Date of the (first) session, YYYY-MM-DD.", "開催日（初回）" / "First date", "1回目の開催日。"),
        field!("sessions", PositiveCount, true, "Number of sessions, at least 1.", "回数" / "Sessions", "開催回数（1以上）。", |e| positive(e.sessions)),
        field!("participants.unique", Count, true, "Different people who attended; at most attendances.", "参加者数（実人数）" / "Participants (unique)", "1回以上参加した人の数（人）。延べ参加者数以下。", |e| count(e.participants.unique)),
        field!("participants.attendances", Count, true, "Person-sessions; at most unique x sessions.", "延べ参加者数" / "Attendances", "参加者×回の延べ数（人）。実人数×回数以下。", |e| count(e.participants.attendances)),
        field!("capacity", Count, false, "Places per session; attendance may exceed it.", "定員" / "Capacity", "1回あたりの定員（人）。超えての参加も可。", |e| e.capacity.and_then(count)),
        field!("status", Status, true, "held or scheduled.", "状態" / "Status", "実施済みか予定か。", |e| Some(FieldValue::Str(e.status.as_str()))),
        field!("note", Text, false, "Free remark.", "備考" / "Note", "自由記述。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        in_valid_year("first_date", self.first_date)?;
        let unique = self.participants.unique.get();
        let attendances = self.participants.attendances.get();
        if unique > attendances {
            return Err(ValidationError::new(
                "participants.unique",
                format!(
                    "must not exceed participants.attendances ({attendances}): every \
                     participant attended at least once"
                ),
            )
            .ja(format!(
                "延べ参加者数（{attendances}）を超えることはできません（参加者は全員1回以上出席しています）"
            )));
        }
        let most = u64::from(unique) * u64::from(self.sessions.get());
        if u64::from(attendances) > most {
            return Err(ValidationError::new(
                "participants.attendances",
                format!(
                    "must not exceed participants.unique x sessions ({most}): nobody \
                     attends a session twice"
                ),
            )
            .ja(format!(
                "実参加者数×回数（{most}）を超えることはできません（同じ回に2度出席する人はいません）"
            )));
        }
        Ok(())
    }

    fn occurred_on(&self) -> NaiveDate {
        self.first_date
    }

    fn title(&self) -> Option<&str> {
        Some(self.title.as_str())
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        Some(("first_date", self.first_date))
    }

    fn year_field(&self) -> &'static str {
        "first_date"
    }

    fn status(&self) -> Option<ActivityStatus> {
        Some(self.status)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillTraining {
    pub department: Text,
    pub title: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_date: Option<NaiveDate>,
    pub sessions: PositiveCount,
    pub participants: Count,
    pub status: ActivityStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

impl EventPayload for SkillTraining {
    const LABEL: super::Label = super::Label {
        ja: "技能講習",
        en: "Skill training",
    };
    const SUMMARY_JA: &'static str = "技能講習の講座。";
    const SUMMARY: &'static str = "A skill-training course.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("department", Text, true, "Department or institution running it.", "実施機関" / "Department", "実施した部署・機関。", |e| text(&e.department)),
        field!("title", Text, true, "Course title.", "講座名" / "Course title", "講座の名称。", |e| text(&e.title)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year it counts in.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("first_date", Date, false, "First session, inside fiscal_year.", "初回日" / "First session", "1回目の日付（任意）。年度内。"),
        field!("sessions", PositiveCount, true, "Number of sessions.", "回数" / "Sessions", "開催回数（1以上）。", |e| positive(e.sessions)),
        field!("participants", Count, true, "Participants.", "参加者数" / "Participants", "参加者数（人）。", |e| count(e.participants)),
        field!("status", Status, true, "held or scheduled.", "状態" / "Status", "実施済みか予定か。", |e| Some(FieldValue::Str(e.status.as_str()))),
        field!("note", Text, false, "Free remark.", "備考" / "Note", "自由記述。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("first_date", self.first_date, self.fiscal_year)
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.first_date, self.fiscal_year)
    }

    fn title(&self) -> Option<&str> {
        Some(self.title.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        self.first_date.map(|date| ("first_date", date))
    }

    fn status(&self) -> Option<ActivityStatus> {
        Some(self.status)
    }
}
