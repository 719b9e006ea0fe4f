//! The plan model: a plan, its period, pillars and KPI rows, and what each row counts. Data
//! only; reading it from TOML is `parse.rs`.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::rounding::Rounding;
use super::transfer::PlanTransfer;
use crate::calendar::FiscalYear;
use crate::kind::EventKind;
use crate::values::{Code, Unit};

/// A plan definition that could not be used: where in the document, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plan definition, {path}: {reason}")]
pub struct PlanError {
    pub path: String,
    pub reason: String,
}

impl PlanError {
    pub(crate) fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// A name in both languages of the city's documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalizedText {
    pub ja: String,
    pub en: String,
}

/// The fiscal years a plan runs, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPeriod {
    pub first: FiscalYear,
    pub last: FiscalYear,
}

impl PlanPeriod {
    pub fn years(self) -> Vec<FiscalYear> {
        FiscalYear::range_inclusive(self.first, self.last).collect()
    }

    pub fn len(self) -> usize {
        self.first.years_until(self.last).unwrap_or(0) + 1
    }

    pub fn is_empty(self) -> bool {
        false
    }

    /// Column of a fiscal year in the plan's table, if inside the period.
    pub fn column(self, year: FiscalYear) -> Option<usize> {
        if year > self.last {
            return None;
        }
        self.first.years_until(year)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pillar {
    pub id: String,
    pub name: LocalizedText,
}

/// Main row, or the bracketed secondary row (4b, 5b, 9b).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    #[default]
    Main,
    B,
}

impl Series {
    pub fn as_str(self) -> &'static str {
        match self {
            Series::Main => "main",
            Series::B => "b",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Reach the value summed over the plan period by its end.
    Cumulative,
    /// Reach the value every year.
    Annual,
    /// At least the value every year.
    AnnualMinimum,
    /// A percentage to reach.
    Rate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub value: Decimal,
    pub kind: TargetKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// Sum of the sources' amounts per fiscal year.
    Sum,
    /// The percentage of the latest group (survey wave) of the fiscal year.
    LatestRate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AchievementRule {
    pub show: bool,
    pub rounding: Rounding,
}

/// What a source takes from each selected event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceMeasure {
    /// Sum of a numeric field; events where the optional field is absent add nothing.
    Field(String),
    /// One per event.
    Count,
    /// Percentage of events whose boolean field is true, per group.
    ShareOf {
        field: String,
        group_by: Option<String>,
    },
}

impl SourceMeasure {
    /// What is taken, in words: "sum of participants", "count", "share of practises_telework".
    pub fn describe(&self) -> String {
        match self {
            SourceMeasure::Field(field) => format!("sum of {field}"),
            SourceMeasure::Count => "count".to_owned(),
            SourceMeasure::ShareOf { field, .. } => format!("share of {field}"),
        }
    }
}

/// A condition on a payload field: its value must be one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub field: String,
    pub one_of: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDefinition {
    #[serde(deserialize_with = "kind_by_name")]
    pub event: EventKind,
    pub measure: SourceMeasure,
    pub filters: Vec<Filter>,
}

/// An event kind by its stable name, as a definition is written out (proof bundles).
fn kind_by_name<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<EventKind, D::Error> {
    let name = String::deserialize(deserializer)?;
    EventKind::ALL
        .into_iter()
        .find(|kind| kind.name() == name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown event kind `{name}`")))
}

/// One row of a plan's KPI table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiDefinition {
    /// The plan's own number ("2").
    pub id: String,
    pub series: Series,
    pub pillar: String,
    pub category: Option<LocalizedText>,
    pub name: LocalizedText,
    pub unit: Unit,
    pub target: Option<Target>,
    pub aggregation: Aggregation,
    /// Rounding of computed rates (latest_rate rows).
    pub value_rounding: Rounding,
    pub show_cumulative: bool,
    pub achievement: AchievementRule,
    pub sources: Vec<SourceDefinition>,
    /// Set when the KPI is retired: the last fiscal year it counts; later cells stay empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_year: Option<FiscalYear>,
}

/// A plan with its period, pillars and KPI rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanDefinition {
    pub id: Code,
    pub name: LocalizedText,
    pub period: PlanPeriod,
    pub pillars: Vec<Pillar>,
    pub kpis: Vec<KpiDefinition>,
    /// Set once the plan has been transferred to a successor (a lifecycle event, never TOML).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer: Option<PlanTransfer>,
}

/// One KPI of the predecessor, by id and series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiRef {
    pub kpi: Code,
    #[serde(default)]
    pub series: Series,
}

impl fmt::Display for KpiRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.series {
            Series::Main => write!(f, "{}", self.kpi),
            Series::B => write!(f, "{}b", self.kpi),
        }
    }
}

impl PlanDefinition {
    pub fn kpi(&self, id: &str, series: Series) -> Option<&KpiDefinition> {
        self.kpis
            .iter()
            .find(|kpi| kpi.id == id && kpi.series == series)
    }

    /// The same plan running to a later fiscal year (the report extends the roadmap to R8).
    pub fn extended_to(&self, last: FiscalYear) -> Result<PlanDefinition, PlanError> {
        if last < self.period.last {
            return Err(PlanError::new(
                "period.last",
                format!(
                    "an extension must not end before the current end {}",
                    self.period.last.label()
                ),
            ));
        }
        let mut extended = self.clone();
        extended.period.last = last;
        Ok(extended)
    }
}

impl fmt::Display for PlanDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, {}-{})",
            self.name.en,
            self.id,
            self.period.first.label(),
            self.period.last.label()
        )
    }
}

impl KpiDefinition {
    pub fn reference(&self) -> KpiRef {
        KpiRef {
            kpi: Code::parse(&self.id).expect("KPI ids are checked as codes when parsed"),
            series: self.series,
        }
    }
}

impl Target {
    /// A target as a lifecycle event states it; checks what a plan file's target must meet.
    pub fn checked(value: Decimal, kind: TargetKind) -> Result<Target, String> {
        if value <= Decimal::ZERO {
            return Err("must be greater than 0".to_owned());
        }
        if kind == TargetKind::Rate && value > Decimal::ONE_HUNDRED {
            return Err("a rate target must be at most 100".to_owned());
        }
        Ok(Target { value, kind })
    }
}
