//! A plan's definition history: what each change did, and the entries and ignored changes
//! the registry reports.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::calendar::FiscalYear;
use crate::plan::{KpiRef, PlanDefinition, Target, TargetKind};

/// What one definition change did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// Read from the configuration at start-up (not an event).
    Configured,
    Adopted,
    PeriodExtended {
        from: FiscalYear,
        to: FiscalYear,
    },
    TargetRevised {
        kpi: KpiRef,
        from: Option<Target>,
        to: Target,
    },
    KpiAdded {
        kpi: KpiRef,
    },
    KpiRetired {
        kpi: KpiRef,
        last_year: FiscalYear,
    },
    Transferred {
        successor: String,
        effective_from: FiscalYear,
    },
}

impl Change {
    /// One line for `plan show` and the GraphQL history.
    pub fn describe(&self) -> String {
        match self {
            Change::Configured => "definition read from the configuration".to_owned(),
            Change::Adopted => "plan adopted with its recorded definition".to_owned(),
            Change::PeriodExtended { from, to } => {
                format!("period extended from {} to {}", from.label(), to.label())
            }
            Change::TargetRevised { kpi, from, to } => format!(
                "KPI {kpi} target revised from {} to {}",
                from.map_or_else(|| "none".to_owned(), |target| target_text(&target)),
                target_text(to)
            ),
            Change::KpiAdded { kpi } => format!("KPI {kpi} added"),
            Change::KpiRetired { kpi, last_year } => {
                format!("KPI {kpi} retired after {}", last_year.label())
            }
            Change::Transferred {
                successor,
                effective_from,
            } => format!("transferred to {successor} from {}", effective_from.label()),
        }
    }
}

fn target_text(target: &Target) -> String {
    let kind = match target.kind {
        TargetKind::Cumulative => "cumulative",
        TargetKind::Annual => "annual",
        TargetKind::AnnualMinimum => "annual minimum",
        TargetKind::Rate => "rate",
    };
    format!("{} ({kind})", target.value)
}

/// One step of a plan's definition history, with the definition it left in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefinitionChange {
    /// `None` for the configured definition.
    pub event_id: Option<Uuid>,
    pub position: Option<u64>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub actor: Option<String>,
    pub decided_on: Option<NaiveDate>,
    pub change: Change,
    pub definition: PlanDefinition,
}

/// A plan in force and how it came to be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanEntry {
    pub definition: PlanDefinition,
    pub history: Vec<DefinitionChange>,
}

impl PlanEntry {
    /// Whether the definition in force came from an adoption recorded in the log rather than
    /// from the configuration.
    pub fn is_adopted(&self) -> bool {
        self.history
            .iter()
            .any(|step| step.change == Change::Adopted)
    }
}

/// A lifecycle event in the log that changed nothing, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredChange {
    pub event_id: Uuid,
    pub position: u64,
    pub problem: String,
}
