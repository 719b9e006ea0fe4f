//! The enums of the output types, each the GraphQL face of a domain enum (`remote`).

use async_graphql::Enum;
use serde::Serialize;

/// `EventType`, one value per kind of the domain's list (`kpi_domain::with_event_kinds!`),
/// serialised as the kind's wire name.
macro_rules! event_type {
    ($( $variant:ident = $name:literal, $family:ident $(, read via $wire:ty)? ; )*) => {
        /// Every kind of event the ledger records.
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[graphql(remote = "kpi_domain::EventKind")]
        pub enum EventType {
            $( #[serde(rename = $name)] $variant, )*
        }
    };
}

kpi_domain::with_event_kinds!(event_type);

/// What a KPI or a figure is counted in.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[graphql(remote = "kpi_domain::Unit")]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Persons,
    Firms,
    Households,
    Organisations,
    Times,
    Percent,
}

/// Whether an activity has taken place or is only planned.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[graphql(remote = "kpi_domain::ActivityStatus")]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    Held,
    Scheduled,
}

/// Who received a subsidy.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[graphql(remote = "kpi_domain::event::BeneficiaryKind")]
#[serde(rename_all = "snake_case")]
pub enum BeneficiaryKind {
    Household,
    Firm,
}

/// A KPI's main row, or its bracketed secondary row (4b, 5b, 9b).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(remote = "kpi_domain::Series")]
pub enum Series {
    #[default]
    Main,
    B,
}

/// How a target is read.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "kpi_domain::TargetKind")]
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

/// How a KPI's yearly value is formed from its events.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "kpi_domain::plan::Aggregation")]
pub enum Aggregation {
    /// Sum of the sources' amounts per fiscal year.
    Sum,
    /// The percentage of the latest group (survey wave) of the fiscal year.
    LatestRate,
}

/// What an audit finding is about.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "kpi_domain::FindingKind")]
pub enum FindingKind {
    /// An activity still marked scheduled is counted in a KPI as if it had been held.
    ScheduledCountedAsHeld,
    /// A figure measured in another unit than its KPI's; shown, not summed.
    WrongUnit,
    /// A document's claimed count disagrees with the activities recorded.
    DeclaredTotalMismatch,
    /// A correction or retraction that could not be applied.
    IgnoredAmendment,
    /// Responses to a survey wave that was never recorded.
    SurveyWaveMissing,
    /// More responses than firms asked.
    SurveyResponsesExceedFirmsAsked,
    /// A survey response counted in another fiscal year than its wave's.
    SurveyResponseYearMismatch,
    /// An activity whose fiscal year no plan in force covers: it counts in no KPI.
    OutsideEveryPlan,
    /// A sum left the range of exact arithmetic; the cell shows no figure.
    ArithmeticOverflow,
}
