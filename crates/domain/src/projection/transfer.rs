//! The transfer of a plan into its successor: each successor KPI's baseline from the
//! predecessor's history, and the report that shows where it came from.

use rust_decimal::Decimal;
use serde::Serialize;

use super::Projection;
use crate::calendar::FiscalYear;
use crate::event::EventKind;
use crate::plan::{
    Aggregation, HistoryRule, KpiMapping, KpiRef, LocalizedText, PlanDefinition, SourceMeasure,
};
use crate::values::Unit;

/// Where a part of a baseline came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum BaselineOrigin {
    /// A predecessor KPI: its cumulative over the predecessor's period (a sum), or its
    /// latest figure (a rate).
    Kpi { kpi: KpiRef, name: LocalizedText },
    /// Events selected over the predecessor's period.
    Events { event: EventKind, measure: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineSource {
    pub origin: BaselineOrigin,
    /// `None`: the history has no figure for it.
    pub figure: Option<Decimal>,
}

/// One successor KPI in the transfer report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferEntry {
    pub successor_kpi: KpiRef,
    pub name: LocalizedText,
    pub unit: Unit,
    /// `None`: a new KPI with no predecessor.
    pub history: Option<HistoryRule>,
    pub sources: Vec<BaselineSource>,
    /// What counts toward the successor's cumulative and achievement.
    pub baseline: Option<Decimal>,
}

/// A transfer as the projection sees it: the mapping used and the figures it gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferReport {
    pub predecessor: String,
    pub predecessor_name: LocalizedText,
    pub predecessor_years: Vec<FiscalYear>,
    pub successor: String,
    pub successor_name: LocalizedText,
    pub effective_from: FiscalYear,
    /// Every KPI of the successor, in its order.
    pub entries: Vec<TransferEntry>,
}

impl Projection {
    /// The report of `predecessor`'s transfer; `None` when the plan is unknown, not
    /// transferred, or its successor is not projected here.
    pub fn transfer_report(&self, predecessor: &str) -> Option<TransferReport> {
        let predecessor_index = self
            .plans
            .iter()
            .position(|plan| plan.id.as_str() == predecessor)?;
        let plan = &self.plans[predecessor_index];
        let transfer = plan.transfer.as_ref()?;
        let successor = self
            .plans
            .iter()
            .find(|candidate| candidate.id == transfer.successor)?;
        let entries = successor
            .kpis
            .iter()
            .map(|kpi| {
                let kpi_ref = kpi.reference();
                let mapping = transfer
                    .mapping
                    .iter()
                    .enumerate()
                    .find(|(_, mapping)| mapping.successor_kpi == kpi_ref);
                let (history, sources) = match mapping {
                    None => (None, Vec::new()),
                    Some((index, mapping)) => (
                        Some(mapping.history),
                        self.baseline_sources(predecessor_index, index, mapping),
                    ),
                };
                let baseline = match history {
                    Some(HistoryRule::Counts) => combine(kpi.aggregation, &sources),
                    _ => None,
                };
                TransferEntry {
                    successor_kpi: kpi_ref,
                    name: kpi.name.clone(),
                    unit: kpi.unit,
                    history,
                    sources,
                    baseline,
                }
            })
            .collect();
        Some(TransferReport {
            predecessor: plan.id.to_string(),
            predecessor_name: plan.name.clone(),
            predecessor_years: plan.period.years(),
            successor: successor.id.to_string(),
            successor_name: successor.name.clone(),
            effective_from: transfer.effective_from,
            entries,
        })
    }

    /// Baselines of a successor plan's KPIs, from the plan transferred into it.
    pub(super) fn baselines_of(&self, plan_index: usize) -> Vec<(KpiRef, Option<Decimal>)> {
        let id = &self.plans[plan_index].id;
        let Some(predecessor) = self.plans.iter().find(|plan| {
            plan.transfer
                .as_ref()
                .is_some_and(|transfer| &transfer.successor == id)
        }) else {
            return Vec::new();
        };
        self.transfer_report(predecessor.id.as_str())
            .map(|report| {
                report
                    .entries
                    .into_iter()
                    .map(|entry| (entry.successor_kpi, entry.baseline))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn baseline_sources(
        &self,
        predecessor_index: usize,
        mapping_index: usize,
        mapping: &KpiMapping,
    ) -> Vec<BaselineSource> {
        let plan = &self.plans[predecessor_index];
        let mut sources: Vec<BaselineSource> = mapping
            .from_kpis
            .iter()
            .map(|from| {
                let kpi = plan
                    .kpi(from.kpi.as_str(), from.series)
                    .expect("the registry checks the mapping against the predecessor");
                BaselineSource {
                    origin: BaselineOrigin::Kpi {
                        kpi: from.clone(),
                        name: kpi.name.clone(),
                    },
                    figure: self.kpi_figure(plan, predecessor_index, from),
                }
            })
            .collect();
        let selector_rows = self
            .baseline_rows
            .iter()
            .find(|rows| rows.predecessor == predecessor_index && rows.mapping == mapping_index);
        for (selector, source) in mapping.from_events.iter().enumerate() {
            let figure = selector_rows.and_then(|rows| {
                let row = &self.rows[rows.rows[selector]];
                let cells = &self.cells[row.cell_base..row.cell_base + plan.period.len()];
                cells
                    .iter()
                    .any(|cell| cell.sum_contributions > 0)
                    .then(|| cells.iter().map(|cell| cell.sum).sum())
            });
            let measure = match &source.measure {
                SourceMeasure::Field(field) => format!("sum of {field}"),
                SourceMeasure::Count => "count".to_owned(),
                SourceMeasure::ShareOf { field, .. } => format!("share of {field}"),
            };
            sources.push(BaselineSource {
                origin: BaselineOrigin::Events {
                    event: source.event,
                    measure,
                },
                figure,
            });
        }
        sources
    }

    /// A predecessor KPI's figure over its period: the cumulative of a sum, the latest
    /// figure of a rate. Figures in another unit never count.
    fn kpi_figure(
        &self,
        plan: &PlanDefinition,
        plan_index: usize,
        from: &KpiRef,
    ) -> Option<Decimal> {
        let row_index = self.plan_rows[plan_index].clone().find(|row| {
            let kpi = &plan.kpis[self.rows[*row].kpi];
            kpi.id == from.kpi.as_str() && kpi.series == from.series
        })?;
        let state = &self.rows[row_index];
        let kpi = &plan.kpis[state.kpi];
        let counted: Vec<Decimal> = plan
            .period
            .years()
            .into_iter()
            .enumerate()
            .map(|(column, year)| self.cell(kpi, state.cell_base + column, year, false))
            .filter(|cell| cell.counted)
            .filter_map(|cell| cell.value)
            .collect();
        match kpi.aggregation {
            Aggregation::Sum => (!counted.is_empty()).then(|| counted.iter().sum()),
            Aggregation::LatestRate => counted.last().copied(),
        }
    }
}

/// The baseline of a KPI from its sources: a sum adds them up, a rate takes the first rate
/// the history has.
fn combine(aggregation: Aggregation, sources: &[BaselineSource]) -> Option<Decimal> {
    let mut figures = sources.iter().filter_map(|source| source.figure);
    match aggregation {
        Aggregation::Sum => {
            let first = figures.next()?;
            Some(figures.fold(first, |total, figure| total + figure))
        }
        Aggregation::LatestRate => figures.next(),
    }
}
