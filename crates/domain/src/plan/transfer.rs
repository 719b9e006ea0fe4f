//! A plan's hand-over to its successor, as the definition holds it once the transfer event is
//! applied (`crate::lifecycle::PlanTransferred` is the event; the registry applies it).

use serde::{Deserialize, Serialize};

use super::model::{KpiRef, SourceDefinition};
use crate::calendar::FiscalYear;
use crate::values::Code;

/// A plan's hand-over to its successor: from which fiscal year, and how each successor KPI
/// takes its baseline from the predecessor's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanTransfer {
    pub successor: Code,
    pub effective_from: FiscalYear,
    /// Log position of the transfer event: events recorded after it that still count for the
    /// predecessor are late entries.
    pub position: u64,
    pub mapping: Vec<KpiMapping>,
}

/// Whether the predecessor's history becomes the successor KPI's baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryRule {
    /// The predecessor figures are the baseline and count toward the successor's cumulative
    /// and achievement.
    Counts,
    /// The successor starts from nothing; the predecessor figures are reported only.
    Ignored,
}

impl HistoryRule {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryRule::Counts => "counts",
            HistoryRule::Ignored => "ignored",
        }
    }
}

/// How one successor KPI is fed by the predecessor: its KPIs, and event selectors read over
/// the predecessor's period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiMapping {
    pub successor_kpi: KpiRef,
    pub from_kpis: Vec<KpiRef>,
    pub from_events: Vec<SourceDefinition>,
    pub history: HistoryRule,
}
