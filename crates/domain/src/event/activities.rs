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
    const SUMMARY: &'static str = "One grant of a subsidy programme to one household or firm.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("programme", Text, true, "Subsidy programme.", |e| text(&e.programme)),
        field!("beneficiary", Beneficiary, true, "household or firm.", |e| Some(FieldValue::Str(e.beneficiary.as_str()))),
        field!("beneficiary_name", Text, false, "Name, if public."),
        field!("persons", Count, false, "Persons in the household, at least 1 when given.", |e| e.persons.and_then(count)),
        field!("amount_yen", Integer, false, "Amount granted in yen.", |e| e.amount_yen.map(FieldValue::Int)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year of the grant."),
        field!("date", Date, false, "Date granted, inside fiscal_year."),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)?;
        match (self.beneficiary, self.persons) {
            (BeneficiaryKind::Household, Some(persons)) if persons.get() == 0 => Err(
                ValidationError::new("persons", "must be at least 1 for a household"),
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
    const SUMMARY: &'static str = "An exchange, community or matching meeting.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("kind", Code, true, "Kind of meeting, e.g. tokyo_exchange, job_fair, career_talk.", |e| code(&e.kind)),
        field!("title", Text, true, "Title."),
        field!("fiscal_year", FiscalYear, true, "Fiscal year."),
        field!("date", Date, false, "Date, inside fiscal_year."),
        field!("participants", Count, false, "All participants; required unless from_outside_city is given.", |e| e.participants.and_then(count)),
        field!("from_outside_city", Count, false, "Participants from outside the city; at most participants.", |e| e.from_outside_city.and_then(count)),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        date_in_year("date", self.date, self.fiscal_year)?;
        match (self.participants, self.from_outside_city) {
            (None, None) => Err(ValidationError::new(
                "participants",
                "is required unless from_outside_city is given",
            )),
            (Some(all), Some(outside)) if outside > all => Err(ValidationError::new(
                "from_outside_city",
                format!("must not exceed participants ({all})"),
            )),
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
    const SUMMARY: &'static str = "Participants of a workation programme.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("programme", Text, true, "Programme.", |e| text(&e.programme)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year."),
        field!("date", Date, false, "Date, inside fiscal_year."),
        field!("participants", Count, true, "Participants.", |e| count(e.participants)),
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
    const SUMMARY: &'static str = "A firm that moved into the city.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("firm", Text, true, "The firm.", |e| text(&e.firm)),
        field!("site", Text, true, "Where it settled.", |e| text(&e.site)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year."),
        field!("date", Date, false, "Date, inside fiscal_year."),
        field!("note", Text, false, "Free remark."),
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
    const SUMMARY: &'static str = "A partnership project or agreement with one organisation.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("organisation", Text, true, "The partner organisation.", |e| text(&e.organisation)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year."),
        field!("date", Date, false, "Date, inside fiscal_year."),
        field!("description", Text, false, "What the partnership is."),
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
    const SUMMARY: &'static str = "Publications on one channel (count > 1 records a tally).";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("channel", Code, true, "Channel, e.g. website, facebook.", |e| code(&e.channel)),
        field!("title", Text, false, "Title."),
        field!("fiscal_year", FiscalYear, true, "Fiscal year."),
        field!("date", Date, false, "Date, inside fiscal_year."),
        field!("count", PositiveCount, true, "Number of publications this record stands for.", |e| positive(e.count)),
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
    const SUMMARY: &'static str = "A meeting of a committee.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("committee", Text, true, "The committee.", |e| text(&e.committee)),
        field!("title", Text, false, "Title."),
        field!("fiscal_year", FiscalYear, true, "Fiscal year."),
        field!("date", Date, false, "Date, inside fiscal_year."),
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
    const SUMMARY: &'static str = "An exhibition the city took part in.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("title", Text, true, "Exhibition.", |e| text(&e.title)),
        field!("venue", Text, false, "Where."),
        field!("fiscal_year", FiscalYear, true, "Fiscal year."),
        field!("date", Date, false, "Date, inside fiscal_year."),
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
    const SUMMARY: &'static str = "A monitor tour for firms from the capital region.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("title", Text, true, "Title."),
        field!("fiscal_year", FiscalYear, true, "Fiscal year."),
        field!("date", Date, false, "Date, inside fiscal_year."),
        field!("firms", Count, true, "Participating firms.", |e| count(e.firms)),
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
