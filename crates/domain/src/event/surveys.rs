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
    const SUMMARY: &'static str = "One round of the company survey and how many firms were asked.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("wave_id", Code, true, "Identifier of the wave.", |e| code(&e.wave_id)),
        field!("title", Text, true, "Title of the survey."),
        field!("fiscal_year", FiscalYear, true, "Fiscal year of the wave."),
        field!("date", Date, false, "Date sent, inside fiscal_year."),
        field!("firms_asked", PositiveCount, true, "Firms asked.", |e| positive(e.firms_asked)),
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
    const SUMMARY: &'static str = "One firm's answer to a survey wave; a firm answers a wave once.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("wave_id", Code, true, "The wave answered.", |e| code(&e.wave_id)),
        field!("firm_id", Code, true, "The answering firm.", |e| code(&e.firm_id)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year of the wave."),
        field!("date", Date, false, "Date answered, inside fiscal_year."),
        field!("practises_telework", Bool, true, "Does the firm practise telework?", |e| Some(FieldValue::Bool(e.practises_telework))),
        field!("job_openings", Count, true, "Short-hour or telework job openings.", |e| count(e.job_openings)),
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
