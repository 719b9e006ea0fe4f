//! A plan's hand-over to its successor as the definition holds it, and the transfer report:
//! for each successor KPI, the mapping used, the predecessor figures and the baseline.

use async_graphql::{Context, Enum, SimpleObject, ID};
use kpi_domain::plan::SourceMeasure;
use kpi_domain::BaselineOrigin;

use super::KpiRef;
use crate::error::ledger_error;
use crate::loader::ledger;
use crate::scalars::{DecimalValue, FiscalYearValue};
use crate::types::{EventType, LocalizedText, Series, Unit};

/// Whether the predecessor's history becomes a successor KPI's baseline.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "kpi_domain::HistoryRule")]
pub enum HistoryRule {
    /// The predecessor figures are the baseline, counted in the successor's cumulative and
    /// achievement.
    Counts,
    /// The successor starts from nothing; the predecessor figures are reported only.
    Ignored,
}

/// What a selector takes from each event it selects.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorMeasure {
    /// The sum of a numeric field.
    Field,
    /// One per event.
    Count,
    /// The percentage of events whose boolean field is true.
    ShareOf,
}

/// A condition of a selector: the payload field's value is one of these.
#[derive(SimpleObject, Debug, Clone)]
pub struct SelectorFilter {
    pub field: String,
    pub one_of: Vec<String>,
}

/// Events selected by kind, conditions and measure (the plan-file source form).
#[derive(SimpleObject, Debug, Clone)]
pub struct EventSelector {
    pub event: EventType,
    pub measure: SelectorMeasure,
    /// The field summed or shared; null for a count.
    pub field: Option<String>,
    pub filters: Vec<SelectorFilter>,
}

impl From<&kpi_domain::plan::SourceDefinition> for EventSelector {
    fn from(source: &kpi_domain::plan::SourceDefinition) -> Self {
        let (measure, field) = match &source.measure {
            SourceMeasure::Field(field) => (SelectorMeasure::Field, Some(field.clone())),
            SourceMeasure::Count => (SelectorMeasure::Count, None),
            SourceMeasure::ShareOf { field, .. } => (SelectorMeasure::ShareOf, Some(field.clone())),
        };
        Self {
            event: source.event.into(),
            measure,
            field,
            filters: source
                .filters
                .iter()
                .map(|filter| SelectorFilter {
                    field: filter.field.clone(),
                    one_of: filter.one_of.clone(),
                })
                .collect(),
        }
    }
}

/// How one successor KPI is fed by the predecessor.
#[derive(SimpleObject, Debug, Clone)]
pub struct KpiMapping {
    pub successor_kpi: KpiRef,
    /// Predecessor KPIs: their cumulative over its period, or the latest figure of a rate.
    pub from_kpis: Vec<KpiRef>,
    /// Events selected over the predecessor's period, summed.
    pub from_events: Vec<EventSelector>,
    pub history: HistoryRule,
}

/// A plan's hand-over to its successor.
#[derive(SimpleObject, Debug, Clone)]
pub struct PlanTransfer {
    pub successor: ID,
    /// The successor's first fiscal year; the plan's table stays as at the end of its period.
    pub effective_from: FiscalYearValue,
    /// Log position of the transfer: events recorded later for the plan's years are late
    /// entries.
    pub position: u64,
    pub mapping: Vec<KpiMapping>,
}

impl From<&kpi_domain::PlanTransfer> for PlanTransfer {
    fn from(transfer: &kpi_domain::PlanTransfer) -> Self {
        Self {
            successor: ID(transfer.successor.to_string()),
            effective_from: transfer.effective_from.into(),
            position: transfer.position,
            mapping: transfer
                .mapping
                .iter()
                .map(|mapping| KpiMapping {
                    successor_kpi: (&mapping.successor_kpi).into(),
                    from_kpis: mapping.from_kpis.iter().map(Into::into).collect(),
                    from_events: mapping.from_events.iter().map(Into::into).collect(),
                    history: mapping.history.into(),
                })
                .collect(),
        }
    }
}

/// Which kind of history a baseline source is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineSourceKind {
    /// A predecessor KPI.
    Kpi,
    /// Events selected over the predecessor's period.
    Events,
}

/// A part of a successor KPI's baseline and the predecessor figure it gave.
#[derive(SimpleObject, Debug, Clone)]
pub struct BaselineSource {
    pub kind: BaselineSourceKind,
    /// The predecessor KPI (kind `KPI`).
    pub kpi: Option<KpiRef>,
    /// The predecessor KPI's name (kind `KPI`).
    pub name: Option<LocalizedText>,
    /// The kind of events selected (kind `EVENTS`).
    pub event: Option<EventType>,
    /// What is taken from them, e.g. "sum of participants" (kind `EVENTS`).
    pub measure: Option<String>,
    /// The figure over the predecessor's period as decided at the transfer: a cumulative, or
    /// a rate's latest figure. Null when the history had no figure for it.
    pub figure: Option<DecimalValue>,
    /// The same figure as the log holds it now, late entries and later amendments included.
    pub current: Option<DecimalValue>,
}

impl From<&kpi_domain::BaselineSource> for BaselineSource {
    fn from(source: &kpi_domain::BaselineSource) -> Self {
        let figure = source.figure.map(Into::into);
        let current = source.current.map(Into::into);
        match &source.origin {
            BaselineOrigin::Kpi { kpi, name } => Self {
                kind: BaselineSourceKind::Kpi,
                kpi: Some(kpi.into()),
                name: Some(name.into()),
                event: None,
                measure: None,
                figure,
                current,
            },
            BaselineOrigin::Events { event, measure } => Self {
                kind: BaselineSourceKind::Events,
                kpi: None,
                name: None,
                event: Some((*event).into()),
                measure: Some(measure.clone()),
                figure,
                current,
            },
        }
    }
}

/// One successor KPI in a transfer report.
#[derive(SimpleObject, Debug, Clone)]
pub struct TransferEntry {
    pub successor_kpi: ID,
    pub series: Series,
    pub name: LocalizedText,
    pub unit: Unit,
    /// The mapping's history rule; null for a new KPI with no predecessor.
    pub history: Option<HistoryRule>,
    /// What the mapping takes from the predecessor, with the figures.
    pub sources: Vec<BaselineSource>,
    /// The baseline as decided at the transfer: what counts toward the successor's cumulative
    /// and achievement, and never moves afterwards. Null when the history is ignored, the KPI
    /// is new, or the history had no figure.
    pub baseline: Option<DecimalValue>,
    /// The baseline the predecessor's history gives now, late entries and later amendments
    /// included; shown, not counted.
    pub current_baseline: Option<DecimalValue>,
    /// `currentBaseline - baseline` when they differ: what late entries and later amendments
    /// moved; null when nothing did.
    pub adjustment: Option<DecimalValue>,
    /// The late entries and later amendments behind the adjustment.
    pub adjustment_event_ids: Vec<ID>,
}

/// A transfer as the projection sees it: for each successor KPI, the mapping used, the
/// predecessor figures and the baseline they give.
#[derive(SimpleObject, Debug, Clone)]
pub struct TransferReport {
    pub predecessor: ID,
    pub predecessor_name: LocalizedText,
    pub predecessor_years: Vec<FiscalYearValue>,
    pub successor: ID,
    pub successor_name: LocalizedText,
    pub effective_from: FiscalYearValue,
    /// Every KPI of the successor, in its order.
    pub entries: Vec<TransferEntry>,
}

impl From<kpi_domain::TransferReport> for TransferReport {
    fn from(report: kpi_domain::TransferReport) -> Self {
        Self {
            predecessor: ID(report.predecessor),
            predecessor_name: (&report.predecessor_name).into(),
            predecessor_years: report
                .predecessor_years
                .into_iter()
                .map(Into::into)
                .collect(),
            successor: ID(report.successor),
            successor_name: (&report.successor_name).into(),
            effective_from: report.effective_from.into(),
            entries: report
                .entries
                .iter()
                .map(|entry| TransferEntry {
                    successor_kpi: ID(entry.successor_kpi.kpi.to_string()),
                    series: entry.successor_kpi.series.into(),
                    name: (&entry.name).into(),
                    unit: entry.unit.into(),
                    history: entry.history.map(Into::into),
                    sources: entry.sources.iter().map(Into::into).collect(),
                    baseline: entry.baseline.map(Into::into),
                    current_baseline: entry.current_baseline.map(Into::into),
                    adjustment: entry.adjustment.map(Into::into),
                    adjustment_event_ids: entry
                        .adjustment_event_ids
                        .iter()
                        .map(|id| ID(id.to_string()))
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The transfer report of a transferred plan.
pub(crate) async fn transfer_report(
    ctx: &Context<'_>,
    plan: &str,
) -> async_graphql::Result<TransferReport> {
    ledger(ctx)
        .transfer_report(plan)
        .map(Into::into)
        .map_err(ledger_error)
}
