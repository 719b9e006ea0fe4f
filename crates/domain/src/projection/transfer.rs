//! The transfer of a plan into its successor: each successor KPI's baseline from the
//! predecessor's history, and the report that shows where it came from.
//!
//! A baseline is *decided* at the transfer: it is computed from what the log held at the
//! transfer's position, and that is what the successor counts. Entries recorded later for
//! the predecessor's years (late entries) and amendments recorded later move the
//! predecessor's own table, and show here as an *adjustment* with the events behind it; they
//! never move the successor's baseline.

use chrono::NaiveDate;
use uuid::Uuid;

use rust_decimal::Decimal;
use serde::Serialize;

use serde::Deserialize;

use super::cells::Figures;
use super::notes::WaveNote;
use super::Projection;
use crate::calendar::FiscalYear;
use crate::event::EventKind;
use crate::plan::{Aggregation, HistoryRule, KpiMapping, KpiRef, LocalizedText, PlanDefinition};
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
    /// As decided at the transfer; `None`: the history had no figure for it.
    pub figure: Option<Decimal>,
    /// As the log holds it now, late entries and later amendments included.
    pub current: Option<Decimal>,
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
    /// The baseline as decided at the transfer: what counts toward the successor's
    /// cumulative and achievement.
    pub baseline: Option<Decimal>,
    /// The baseline as the predecessor's history gives it now.
    pub current_baseline: Option<Decimal>,
    /// `current_baseline - baseline` when they differ: shown, never counted.
    pub adjustment: Option<Decimal>,
    /// The late entries and later amendments behind the adjustment, in id order.
    pub adjustment_event_ids: Vec<Uuid>,
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

/// A transferred plan's figures as the log held them at its transfer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Decided {
    /// Every cell's figures, indexed like `Projection::cells`.
    pub(crate) figures: Vec<Figures>,
    /// Every cell's `amended_by` length then: later entries are the adjustment's amendments.
    pub(crate) amended: Vec<u32>,
    pub(crate) waves: Vec<WaveNote>,
}

impl Projection {
    /// Keeps each transferred plan's figures as they stood at its transfer, before the first
    /// later event is folded.
    pub(super) fn decide_transfers(&mut self, position: u64) {
        for plan in 0..self.plans.len() {
            let passed = self.late_after[plan].is_some_and(|transfer| position > transfer);
            if passed && self.notes.decided[plan].is_none() {
                self.notes.decided[plan] = Some(self.decided_now());
            }
        }
    }

    fn decided_now(&self) -> Decided {
        Decided {
            figures: self.cells.iter().map(|cell| cell.figures.clone()).collect(),
            amended: self
                .cells
                .iter()
                .map(|cell| cell.amended_by.len() as u32)
                .collect(),
            waves: self.notes.waves.clone(),
        }
    }

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
                let (history, sources, adjustment_event_ids) = match mapping {
                    None => (None, Vec::new(), Vec::new()),
                    Some((index, mapping)) => (
                        Some(mapping.history),
                        self.baseline_sources(predecessor_index, index, mapping),
                        self.adjustment_events(predecessor_index, index, mapping),
                    ),
                };
                let (baseline, current_baseline) = match history {
                    Some(HistoryRule::Counts) => (
                        combine(kpi.aggregation, sources.iter().map(|s| s.figure)),
                        combine(kpi.aggregation, sources.iter().map(|s| s.current)),
                    ),
                    _ => (None, None),
                };
                let adjustment = match (baseline, current_baseline) {
                    (decided, current) if decided == current => None,
                    (decided, current) => current
                        .unwrap_or_default()
                        .checked_sub(decided.unwrap_or_default()),
                };
                TransferEntry {
                    successor_kpi: kpi_ref,
                    name: kpi.name.clone(),
                    unit: kpi.unit,
                    history,
                    sources,
                    baseline,
                    current_baseline,
                    adjustment,
                    adjustment_event_ids,
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

    /// The figures of every cell as decided at `plan_index`'s transfer (the live ones when
    /// nothing was folded after it yet), with the waves then in force.
    fn decided_view(&self, plan_index: usize) -> (Vec<&Figures>, &[WaveNote]) {
        match &self.notes.decided[plan_index] {
            Some(decided) => (decided.figures.iter().collect(), &decided.waves),
            None => (
                self.cells.iter().map(|cell| &cell.figures).collect(),
                &self.notes.waves,
            ),
        }
    }

    fn baseline_sources(
        &self,
        predecessor_index: usize,
        mapping_index: usize,
        mapping: &KpiMapping,
    ) -> Vec<BaselineSource> {
        let plan = &self.plans[predecessor_index];
        let live: Vec<&Figures> = self.cells.iter().map(|cell| &cell.figures).collect();
        let (decided, decided_waves) = self.decided_view(predecessor_index);
        let views: [(&[&Figures], &[WaveNote]); 2] =
            [(&decided, decided_waves), (&live, &self.notes.waves)];
        let mut sources: Vec<BaselineSource> = mapping
            .from_kpis
            .iter()
            .map(|from| {
                let kpi = plan
                    .kpi(from.kpi.as_str(), from.series)
                    .expect("the registry checks the mapping against the predecessor");
                let [figure, current] = views.map(|(figures, waves)| {
                    self.kpi_figure(plan, predecessor_index, from, figures, waves)
                });
                BaselineSource {
                    origin: BaselineOrigin::Kpi {
                        kpi: from.clone(),
                        name: kpi.name.clone(),
                    },
                    figure,
                    current,
                }
            })
            .collect();
        let selector_rows = self
            .baseline_rows
            .iter()
            .find(|rows| rows.predecessor == predecessor_index && rows.mapping == mapping_index);
        for (selector, source) in mapping.from_events.iter().enumerate() {
            let [figure, current] = views.map(|(figures, _)| {
                selector_rows.and_then(|rows| {
                    let row = &self.rows[rows.rows[selector]];
                    let cells = &figures[row.cell_base..row.cell_base + plan.period.len()];
                    if !cells.iter().any(|cell| cell.has_sum()) {
                        return None;
                    }
                    cells
                        .iter()
                        .try_fold(Decimal::ZERO, |total, cell| total.checked_add(cell.sum))
                })
            });
            let measure = source.measure.describe();
            sources.push(BaselineSource {
                origin: BaselineOrigin::Events {
                    event: source.event,
                    measure,
                },
                figure,
                current,
            });
        }
        sources
    }

    /// The cells a mapping reads: its predecessor KPIs' and its event selectors'.
    fn mapping_cells(
        &self,
        predecessor_index: usize,
        mapping_index: usize,
        mapping: &KpiMapping,
    ) -> Vec<usize> {
        let plan = &self.plans[predecessor_index];
        let mut rows: Vec<usize> = mapping
            .from_kpis
            .iter()
            .filter_map(|from| {
                self.plan_rows[predecessor_index].clone().find(|row| {
                    let kpi = &plan.kpis[self.rows[*row].kpi];
                    kpi.id == from.kpi.as_str() && kpi.series == from.series
                })
            })
            .collect();
        if let Some(selectors) = self
            .baseline_rows
            .iter()
            .find(|rows| rows.predecessor == predecessor_index && rows.mapping == mapping_index)
        {
            rows.extend(&selectors.rows);
        }
        rows.iter()
            .flat_map(|row| {
                let base = self.rows[*row].cell_base;
                base..base + plan.period.len()
            })
            .collect()
    }

    /// The events that moved a mapping's figures after the transfer: late entries still in
    /// force and amendments recorded later.
    fn adjustment_events(
        &self,
        predecessor_index: usize,
        mapping_index: usize,
        mapping: &KpiMapping,
    ) -> Vec<Uuid> {
        let Some(decided) = &self.notes.decided[predecessor_index] else {
            return Vec::new();
        };
        let mut ids = Vec::new();
        for cell in self.mapping_cells(predecessor_index, mapping_index, mapping) {
            let acc = &self.cells[cell];
            if !acc.late_ids.is_empty() {
                let live = self.live_event_ids(cell);
                ids.extend(acc.late_ids.iter().filter(|id| live.contains(id)));
            }
            ids.extend(&acc.amended_by[decided.amended[cell] as usize..]);
        }
        ids.sort();
        ids.dedup();
        ids
    }

    /// A predecessor KPI's figure over its period: the cumulative of a sum, the latest
    /// figure of a rate. Figures in another unit never count.
    fn kpi_figure(
        &self,
        plan: &PlanDefinition,
        plan_index: usize,
        from: &KpiRef,
        figures: &[&Figures],
        waves: &[WaveNote],
    ) -> Option<Decimal> {
        let row_index = self.plan_rows[plan_index].clone().find(|row| {
            let kpi = &plan.kpis[self.rows[*row].kpi];
            kpi.id == from.kpi.as_str() && kpi.series == from.series
        })?;
        let state = &self.rows[row_index];
        let kpi = &plan.kpis[state.kpi];
        let wave_on = |wave: &str| -> Option<NaiveDate> {
            waves
                .iter()
                .rev()
                .find(|note| note.wave_id == wave)
                .map(|note| note.on)
        };
        let counted: Vec<Decimal> = plan
            .period
            .years()
            .into_iter()
            .enumerate()
            .filter_map(|(column, year)| {
                match figures[state.cell_base + column].value(kpi, year, wave_on) {
                    (Some(value), None) => Some(value),
                    _ => None,
                }
            })
            .collect();
        match kpi.aggregation {
            Aggregation::Sum if counted.is_empty() => None,
            Aggregation::Sum => counted
                .iter()
                .try_fold(Decimal::ZERO, |total, value| total.checked_add(*value)),
            Aggregation::LatestRate => counted.last().copied(),
        }
    }
}

/// The baseline of a KPI from its sources: a sum adds them up, a rate takes the first rate
/// the history has.
fn combine(
    aggregation: Aggregation,
    figures: impl IntoIterator<Item = Option<Decimal>>,
) -> Option<Decimal> {
    let mut figures = figures.into_iter().flatten();
    match aggregation {
        Aggregation::Sum => {
            let first = figures.next()?;
            figures.try_fold(first, |total, figure| total.checked_add(figure))
        }
        Aggregation::LatestRate => figures.next(),
    }
}
