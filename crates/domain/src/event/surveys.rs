//! The company survey: a wave (who was asked) and each firm's answer to it. A wave is
//! defined once and a firm answers a wave once: both have streams that must be new.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::catalogue::{code, count, positive};
use super::payload::EventPayload;
use super::rules::{date_in_year, dated, stated};
use super::{FieldInfo, FieldValue, StreamRule};
use crate::calendar::FiscalYear;
use crate::error::ValidationError;
use crate::values::{iso_date, Code, Count, PositiveCount, Text};

/// One round of the company survey: who was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyWave {
    pub wave_id: Code,
    pub title: Text,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    pub firms_asked: PositiveCount,
}

impl EventPayload for SurveyWave {
    const LABEL: super::Label = super::Label {
        ja: "企業調査（調査回）",
        en: "Survey wave",
    };
    const SUMMARY_JA: &'static str = "企業調査の1回分と、調査した事業者数。";
    const SUMMARY: &'static str = "One round of the company survey and how many firms were asked.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("wave_id", Code, true, "Identifier of the wave.", "調査回ID" / "Wave id", "調査回の識別子（半角英数字と . _ -）。", |e| code(&e.wave_id)),
        field!("title", Text, true, "Title of the survey.", "調査名" / "Title", "調査の名称。"),
        field!("fiscal_year", FiscalYear, true, "Fiscal year of the wave.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date sent, inside fiscal_year.", "発送日" / "Date", "年度内の日付（任意）。"),
        field!("firms_asked", PositiveCount, true, "Firms asked.", "調査対象事業者数" / "Firms asked", "調査を依頼した事業者数（社、1以上）。", |e| positive(e.firms_asked)),
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

    fn stream_id(&self) -> Option<String> {
        Some(format!("survey-wave/{}", self.wave_id))
    }

    fn stream_rule(&self) -> StreamRule {
        StreamRule::MustBeNew
    }
}

/// One firm's answer to a survey wave. A firm answers a wave once: the stream
/// `survey-response/<wave>/<firm>` must be new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyResponse {
    pub wave_id: Code,
    pub firm_id: Code,
    pub fiscal_year: FiscalYear,
    #[serde(
        default,
        with = "iso_date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<NaiveDate>,
    pub practises_telework: bool,
    /// Short-hour or telework job openings the firm reports.
    pub job_openings: Count,
}

impl EventPayload for SurveyResponse {
    const LABEL: super::Label = super::Label {
        ja: "企業調査の回答",
        en: "Survey response",
    };
    const SUMMARY_JA: &'static str = "事業者1社の回答。1回の調査に1社1回。";
    const SUMMARY: &'static str = "One firm's answer to a survey wave; a firm answers a wave once.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("wave_id", Code, true, "The wave answered.", "調査回ID" / "Wave", "回答した調査回の識別子。", |e| code(&e.wave_id)),
        field!("firm_id", Code, true, "The answering firm.", "事業者ID" / "Firm id", "回答した事業者の識別子（半角英数字と . _ -）。", |e| code(&e.firm_id)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year of the wave.", "年度" / "Fiscal year", "計上する年度。R6、令和6年度、2024 のどれでも。"),
        field!("date", Date, false, "Date answered, inside fiscal_year.", "回答日" / "Date", "年度内の日付（任意）。"),
        field!("practises_telework", Bool, true, "Does the firm practise telework?", "テレワークの実施" / "Practises telework", "テレワークを実施しているか。", |e| Some(FieldValue::Bool(e.practises_telework))),
        field!("job_openings", Count, true, "Short-hour or telework job openings.", "求人数" / "Job openings", "短時間・テレワークの求人数。", |e| count(e.job_openings)),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)
    }

    fn occurred_on(&self) -> NaiveDate {
        dated(self.date, self.fiscal_year)
    }

    /// A firm's answer has nothing a person would search for.
    fn title(&self) -> Option<&str> {
        None
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stated_date(&self) -> Option<(&'static str, NaiveDate)> {
        stated(self.date)
    }

    fn stream_id(&self) -> Option<String> {
        Some(format!("survey-response/{}/{}", self.wave_id, self.firm_id))
    }

    fn stream_rule(&self) -> StreamRule {
        StreamRule::MustBeNew
    }
}
