//! Figures taken from documents: yearly totals from a published table (opening figures) and
//! the counts a document claims (declared totals), which the audit compares with the records.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::catalogue::{code, count};
use super::payload::EventPayload;
use super::{EventKind, FieldInfo, FieldValue, StreamRule};
use crate::calendar::FiscalYear;
use crate::error::ValidationError;
use crate::values::{Code, Count, Quantity, Text, Unit};

/// A yearly total taken from a published table, for years without individual records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningFigure {
    pub measure: Code,
    pub fiscal_year: FiscalYear,
    pub value: Quantity,
    pub unit: Unit,
    /// Which document and table the figure comes from.
    pub source: Text,
}

impl EventPayload for OpeningFigure {
    const SUMMARY: &'static str =
        "A yearly total from a published table, for years without individual records.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("measure", Code, true, "What was measured; plans select figures by it.", |e| code(&e.measure)),
        field!("fiscal_year", FiscalYear, true, "Fiscal year of the figure."),
        field!("value", Decimal, true, "The figure, exact; a string such as \"29.0\" or an integer.", |e| Some(FieldValue::Decimal(e.value.get()))),
        field!("unit", Unit, true, "persons, firms, households, organisations, times or percent.", |e| Some(FieldValue::Str(e.unit.as_str()))),
        field!("source", Text, true, "Document and table the figure comes from."),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        if self.unit == Unit::Percent && self.value.get() > rust_decimal::Decimal::ONE_HUNDRED {
            return Err(ValidationError::new(
                "value",
                "a percentage must be at most 100",
            ));
        }
        if self.unit != Unit::Percent && !self.value.get().fract().is_zero() {
            return Err(ValidationError::new(
                "value",
                format!("a count of {} must be a whole number", self.unit),
            ));
        }
        Ok(())
    }

    fn occurred_on(&self) -> NaiveDate {
        self.fiscal_year.last_day()
    }

    fn title(&self) -> Option<&str> {
        Some(self.source.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stream_id(&self) -> Option<String> {
        Some(format!(
            "opening-figure/{}/{}",
            self.measure,
            self.fiscal_year.start_year()
        ))
    }

    /// A published yearly figure is entered once.
    fn stream_rule(&self) -> StreamRule {
        StreamRule::MustBeNew
    }
}

/// A total some document claims, kept so the audit can compare it with the records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredTotal {
    /// The event type the claim counts (`seminar` or `skill_training`).
    pub of: Code,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organiser: Option<Text>,
    pub fiscal_year: FiscalYear,
    pub count: Count,
    pub source: Text,
}

impl EventPayload for DeclaredTotal {
    const SUMMARY: &'static str =
        "A total a document claims, compared with the records by the audit.";
    #[rustfmt::skip]
    const FIELDS: &'static [FieldInfo] = &[
        field!("of", Code, true, "Event type counted: seminar or skill_training.", |e| code(&e.of)),
        field!("organiser", Text, false, "Only activities of this organiser or department."),
        field!("fiscal_year", FiscalYear, true, "Fiscal year."),
        field!("count", Count, true, "The claimed count.", |e| count(e.count)),
        field!("source", Text, true, "Where the claim is made."),
    ];

    fn check(&self) -> Result<(), ValidationError> {
        match EventKind::from_name(self.of.as_str()) {
            Some(EventKind::Seminar | EventKind::SkillTraining) => Ok(()),
            _ => Err(ValidationError::new(
                "of",
                "must be `seminar` or `skill_training`: the kinds that have sessions",
            )),
        }
    }

    fn occurred_on(&self) -> NaiveDate {
        self.fiscal_year.last_day()
    }

    fn title(&self) -> Option<&str> {
        Some(self.source.as_str())
    }

    fn fiscal_year(&self) -> FiscalYear {
        self.fiscal_year
    }

    fn stream_id(&self) -> Option<String> {
        Some(format!(
            "declared-total/{}/{}",
            self.of,
            self.fiscal_year.start_year()
        ))
    }
}
