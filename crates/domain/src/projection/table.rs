//! Reading tables out of the fold state: rows, cells, cumulative and achievement.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Cell, KpiRow, KpiTable, Projection};
use crate::calendar::FiscalYear;
use crate::plan::{KpiDefinition, Series, TargetKind};

impl Projection {
    /// The KPI table of one plan, with the events behind every cell.
    pub fn table(&self, plan_id: &str) -> Option<KpiTable> {
        self.build_table(plan_id, true)
    }

    /// The table without drill-down lists: cheaper on a large log.
    pub fn table_values(&self, plan_id: &str) -> Option<KpiTable> {
        self.build_table(plan_id, false)
    }

    /// The events behind one cell (drill-down), `None` if the plan, row or year is unknown.
    pub fn cell_events(
        &self,
        plan_id: &str,
        kpi: &str,
        series: Series,
        year: FiscalYear,
    ) -> Option<Vec<Uuid>> {
        let plan_index = self
            .plans
            .iter()
            .position(|plan| plan.id.as_str() == plan_id)?;
        let plan = &self.plans[plan_index];
        let column = plan.period.column(year)?;
        let row = self.plan_rows[plan_index].clone().find(|row| {
            let definition = &plan.kpis[self.rows[*row].kpi];
            definition.id == kpi && definition.series == series
        })?;
        Some(self.live_event_ids(self.rows[row].cell_base + column))
    }

    pub(crate) fn build_table(&self, plan_id: &str, with_ids: bool) -> Option<KpiTable> {
        let plan_index = self
            .plans
            .iter()
            .position(|plan| plan.id.as_str() == plan_id)?;
        let plan = &self.plans[plan_index];
        let years = plan.period.years();
        let baselines = self.baselines_of(plan_index);
        let rows = self.plan_rows[plan_index]
            .clone()
            .map(|row_index| {
                let state = &self.rows[row_index];
                let kpi = &plan.kpis[state.kpi];
                let cells: Vec<Cell> = years
                    .iter()
                    .enumerate()
                    .map(|(column, year)| self.cell(kpi, state.cell_base + column, *year, with_ids))
                    .collect();
                let baseline = baselines
                    .iter()
                    .find(|(kpi_ref, _)| {
                        kpi_ref.kpi.as_str() == kpi.id && kpi_ref.series == kpi.series
                    })
                    .and_then(|(_, baseline)| *baseline);
                let (cumulative, achievement) = totals(kpi, &cells, baseline);
                KpiRow::of(kpi, cells, cumulative, achievement, baseline)
            })
            .collect();
        Some(KpiTable {
            plan_id: plan.id.to_string(),
            plan_name: plan.name.clone(),
            fiscal_years: years,
            rows,
        })
    }

    /// Every plan's table, in plan order.
    pub fn tables(&self) -> Vec<KpiTable> {
        self.plans
            .iter()
            .filter_map(|plan| self.table(plan.id.as_str()))
            .collect()
    }

    /// The first cell index of each row of a plan, in row order.
    pub(crate) fn plan_rows_of(&self, plan_id: &str) -> Vec<usize> {
        self.plans
            .iter()
            .position(|plan| plan.id.as_str() == plan_id)
            .map(|plan| {
                self.plan_rows[plan]
                    .clone()
                    .map(|row| self.rows[row].cell_base)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Cumulative and achievement of a row from its cells.
pub(crate) fn totals(
    kpi: &KpiDefinition,
    cells: &[Cell],
    baseline: Option<Decimal>,
) -> (Option<Decimal>, Option<Decimal>) {
    let counted = || cells.iter().filter(|cell| cell.counted);
    let cumulative = if kpi.show_cumulative && (counted().next().is_some() || baseline.is_some()) {
        // Exact and checked: a sum past the decimal range shows no cumulative, never a
        // wrapped or rounded one.
        counted()
            .filter_map(|cell| cell.value)
            .try_fold(baseline.unwrap_or_default(), |total, value| {
                total.checked_add(value)
            })
    } else {
        None
    };
    let achievement = match kpi.target {
        Some(target) if kpi.achievement.show => {
            let reached = match target.kind {
                TargetKind::Cumulative => cumulative,
                TargetKind::Annual | TargetKind::AnnualMinimum | TargetKind::Rate => {
                    counted().filter_map(|cell| cell.value).next_back()
                }
            };
            reached.and_then(|reached| kpi.achievement.rounding.percent(reached, target.value))
        }
        _ => None,
    };
    (cumulative, achievement)
}
