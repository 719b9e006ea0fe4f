//! Activities placed in a fiscal year, with an optional `date` inside it: grants, meetings,
//! programmes, firms, partnerships, publications, exhibitions and tours.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::catalogue::{code, count, positive, text};
use super::payload::EventPayload;
use super::rules::{date_in_year, dated, stated};
use super::{FieldInfo, FieldValue};
use crate::calendar::FiscalYear;
use crate::error::ValidationError;
use crate::values::{iso_date, Code, Count, PositiveCount, Text};

/// One grant of a subsidy programme to one household or firm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubsidyGrant {
    pub programme: Text,
    pub beneficiary: BeneficiaryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary_name: Option<Text>,
    /// Persons in the household, at least 1 when given (the report gives it for migrant
    /// households, not for renovation grants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persons: Option<Count>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_yen: Option<u64>,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BeneficiaryKind {
    Household,
    Firm,
}

impl BeneficiaryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BeneficiaryKind::Household => "household",
            BeneficiaryKind::Firm => "firm",
        }
    }
}

impl EventPayload for SubsidyGrant {
    const LABEL: super::Label = super::Label {
        ja: "補助金の交付",
        en: "Subsidy grant",
    };
    const SUMMARY_JA: &'static str = "補助制度による世帯・事業者への交付1件。";
    const SUMMARY: &'static str = "One grant of a subsidy programme to one household or firm.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("programme", Text, true, "Subsidy programme.", "補助制度" / "Programme", "補助金の制度名。", |e| text(&e.programme)),
        field!("beneficiary", Beneficiary, true, "household or firm.", "交付先の種別" / "Beneficiary", "世帯か事業者か。", |e| Some(FieldValue::Str(e.beneficiary.as_str()))),
        field!("beneficiary_name", Text, false, "Name, if public.", "交付先名" / "Beneficiary name", "公表できる場合のみ。"),
        field!("persons", Count, false, "Persons in the household, at least 1 when given.", "世帯人数" / "Persons", "世帯の人数（人、1以上）。", |e| e.persons.and_then(count)),
        field!("amount_yen", Integer, false, "Amount granted in yen.", "交付額（円）" / "Amount (yen)", "交付した金額（円）。", |e| e.amount_yen.map(FieldValue::Int)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year of the grant.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date granted, inside fiscal_year.", "交付日" / "Date", "年度内の日付（任意）。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)?;
        match (self.beneficiary, self.persons) {
            (BeneficiaryKind::Household, Some(persons)) if persons.get() == 0 => Err(
                ValidationError::new("persons", "must be at least 1 for a household")
                    .ja("世帯の場合は1人以上にしてください"),
            ),
            _ => Ok(()),
        }
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.date, self.fiscal_year)
    }

    fn title(&self) -> Option<&str> {
        Some(self.programme.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        stated(self.date)
    }
}

/// An exchange, community or matching meeting. `kind` is a free identifier
/// (e.g. `business_exchange`, `tokyo_exchange`, `job_fair`, `career_talk`) that plans filter on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeMeeting {
    pub kind: Code,
    pub title: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participants: Option<Count>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_outside_city: Option<Count>,
}

impl EventPayload for ExchangeMeeting {
    const LABEL: super::Label = super::Label {
        ja: "交流会",
        en: "Exchange meeting",
    };
    const SUMMARY_JA: &'static str = "交流会・マッチングの会。";
    const SUMMARY: &'static str = "An exchange, community or matching meeting.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("kind", Code, true, "Kind of meeting, e.g. tokyo_exchange, job_fair, career_talk.", "会の種類" / "Kind", "種類の識別子（tokyo_exchange、job_fair、career_talk など）。", |e| code(&e.kind)),
        field!("title", Text, true, "Title.", "名称" / "Title", "会の名称。"),
        field!("fiscal_year", FiscalYear, true, "Fiscal year.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date, inside fiscal_year.", "開催日" / "Date", "年度内の日付（任意）。"),
        field!("participants", Count, false, "All participants; required unless from_outside_city is given.", "参加者数" / "Participants", "全参加者数（人）。市外からの参加者数がなければ必須。", |e| e.participants.and_then(count)),
        field!("from_outside_city", Count, false, "Participants from outside the city; at most participants.", "うち市外からの参加者" / "From outside the city", "市外からの参加者数（人）。参加者数以下。", |e| e.from_outside_city.and_then(count)),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)?;
        match (self.participants, self.from_outside_city) {
            (None, None) => Err(ValidationError::new(
                "participants",
                "is required unless from_outside_city is given",
            )
            .ja("市外からの参加者数を入力しない場合は必須です")),
            (Some(all), Some(outside)) if outside > all => Err(ValidationError::new(
                "from_outside_city",
                format!("must not exceed participants ({all})"),
            )
            .ja(format!("参加者数（{all}）を超えることはできません"))),
            _ => Ok(()),
        }
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.date, self.fiscal_year)
    }

    fn title(&self) -> Option<&str> {
        Some(self.title.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        stated(self.date)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkationParticipation {
    pub programme: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    pub participants: Count,
}

impl EventPayload for WorkationParticipation {
    const LABEL: super::Label = super::Label {
        ja: "ワーケーション参加",
        en: "Workation participation",
    };
    const SUMMARY_JA: &'static str = "ワーケーション事業の参加者。";
    const SUMMARY: &'static str = "Participants of a workation programme.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("programme", Text, true, "Programme.", "事業名" / "Programme", "ワーケーション事業の名称。", |e| text(&e.programme)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date, inside fiscal_year.", "実施日" / "Date", "年度内の日付（任意）。"),
        field!("participants", Count, true, "Participants.", "参加者数" / "Participants", "参加者数（人）。", |e| count(e.participants)),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.date, self.fiscal_year)
    }

    fn title(&self) -> Option<&str> {
        Some(self.programme.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        stated(self.date)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InflowingFirm {
    pub firm: Text,
    pub site: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
}

impl EventPayload for InflowingFirm {
    const LABEL: super::Label = super::Label {
        ja: "進出企業",
        en: "Inflowing firm",
    };
    const SUMMARY_JA: &'static str = "市内に進出した企業。";
    const SUMMARY: &'static str = "A firm that moved into the city.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("firm", Text, true, "The firm.", "企業名" / "Firm", "進出した企業。", |e| text(&e.firm)),
        field!("site", Text, true, "Where it settled.", "進出先" / "Site", "進出した場所。", |e| text(&e.site)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date, inside fiscal_year.", "進出日" / "Date", "年度内の日付（任意）。"),
        field!("note", Text, false, "Free remark.", "備考" / "Note", "自由記述。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.date, self.fiscal_year)
    }

    fn title(&self) -> Option<&str> {
        Some(self.firm.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        stated(self.date)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partnership {
    pub organisation: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
}

impl EventPayload for Partnership {
    const LABEL: super::Label = super::Label {
        ja: "連携事業",
        en: "Partnership",
    };
    const SUMMARY_JA: &'static str = "一つの団体との連携事業・協定。";
    const SUMMARY: &'static str = "A partnership project or agreement with one organisation.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("organisation", Text, true, "The partner organisation.", "連携先" / "Organisation", "連携した団体。", |e| text(&e.organisation)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date, inside fiscal_year.", "締結日・実施日" / "Date", "年度内の日付（任意）。"),
        field!("description", Text, false, "What the partnership is.", "内容" / "Description", "連携の内容。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.date, self.fiscal_year)
    }

    fn title(&self) -> Option<&str> {
        Some(self.organisation.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        stated(self.date)
    }
}

/// Publications on one channel; `count` > 1 records a tally (250 Facebook posts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publication {
    pub channel: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    pub count: PositiveCount,
}

impl EventPayload for Publication {
    const LABEL: super::Label = super::Label {
        ja: "情報発信",
        en: "Publication",
    };
    const SUMMARY_JA: &'static str = "一つの媒体での発信（件数が2以上なら合計）。";
    const SUMMARY: &'static str = "Publications on one channel (count > 1 records a tally).";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("channel", Code, true, "Channel, e.g. website, facebook.", "媒体" / "Channel", "媒体の識別子（website、facebook など）。", |e| code(&e.channel)),
        field!("title", Text, false, "Title.", "題名" / "Title", "発信の題名（任意）。"),
        field!("fiscal_year", FiscalYear, true, "Fiscal year.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date, inside fiscal_year.", "発信日" / "Date", "年度内の日付（任意）。"),
        field!("count", PositiveCount, true, "Number of publications this record stands for.", "件数" / "Count", "この記録が表す発信の件数（1以上）。", |e| positive(e.count)),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.date, self.fiscal_year)
    }

    fn title(&self) -> Option<&str> {
        self.title.as_ref().map(Text::as_str)
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        stated(self.date)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeMeeting {
    pub committee: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
}

impl EventPayload for CommitteeMeeting {
    const LABEL: super::Label = super::Label {
        ja: "会議の開催",
        en: "Committee meeting",
    };
    const SUMMARY_JA: &'static str = "会議・委員会の開催。";
    const SUMMARY: &'static str = "A meeting of a committee.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("committee", Text, true, "The committee.", "会議名" / "Committee", "会議・委員会の名称。", |e| text(&e.committee)),
        field!("title", Text, false, "Title.", "議題" / "Title", "議題（任意）。"),
        field!("fiscal_year", FiscalYear, true, "Fiscal year.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date, inside fiscal_year.", "開催日" / "Date", "年度内の日付（任意）。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.date, self.fiscal_year)
    }

    fn title(&self) -> Option<&str> {
        self.title
            .as_ref()
            .map(Text::as_str)
            .or(Some(self.committee.as_str()))
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        stated(self.date)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exhibition {
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venue: Option<Text>,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
}

impl EventPayload for Exhibition {
    const LABEL: super::Label = super::Label {
        ja: "展示会出展",
        en: "Exhibition",
    };
    const SUMMARY_JA: &'static str = "市が参加した展示会。";
    const SUMMARY: &'static str = "An exhibition the city took part in.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("title", Text, true, "Exhibition.", "展示会名" / "Exhibition", "展示会の名称。", |e| text(&e.title)),
        field!("venue", Text, false, "Where.", "会場" / "Venue", "会場（任意）。"),
        field!("fiscal_year", FiscalYear, true, "Fiscal year.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date, inside fiscal_year.", "出展日" / "Date", "年度内の日付（任意）。"),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.date, self.fiscal_year)
    }

    fn title(&self) -> Option<&str> {
        Some(self.title.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        stated(self.date)
    }
}

/// A tour showing the city to firms from the capital region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorTour {
    pub title: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    pub firms: Count,
}

impl EventPayload for MonitorTour {
    const LABEL: super::Label = super::Label {
        ja: "モニターツアー",
        en: "Monitor tour",
    };
    const SUMMARY_JA: &'static str = "首都圏の企業向けモニターツアー。";
    const SUMMARY: &'static str = "A monitor tour for firms from the capital region.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("title", Text, true, "Title.", "名称" / "Title", "ツアーの名称。"),
        field!("fiscal_year", FiscalYear, true, "Fiscal year.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date, inside fiscal_year.", "実施日" / "Date", "年度内の日付（任意）。"),
        field!("firms", Count, true, "Participating firms.", "参加企業数" / "Firms", "参加した企業の数（社）。", |e| count(e.firms)),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.date, self.fiscal_year)
    }

    fn title(&self) -> Option<&str> {
        Some(self.title.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        stated(self.date)
    }
}
