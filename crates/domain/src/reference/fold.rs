//! The cells of a table computed from the events in force, and the figures a transfer reads.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::amounts::{Amount, RowRule};
use super::{History, Version};
use crate::calendar::FiscalYear;
use crate::event::LedgerEvent;
use crate::plan::{Aggregation, KpiDefinition, KpiRef, PlanDefinition, TargetKind};
use crate::projection::{Cell, KpiRow, KpiTable, TransferReport};
use crate::values::Unit;

/// The figure of one cell and how it was reached.
pub(super) struct Figure {
    pub(super) value: Option<Decimal>,
    pub(super) unit: Option<Unit>,
    pub(super) overflowed: bool,
    /// Whether anything in the row's own unit was summed.
    pub(super) has_sum: bool,
    pub(super) sum: Decimal,
}

pub(super) struct Fold<'f, 'a> {
    pub(super) plans: &'f [PlanDefinition],
    pub(super) history: &'f History<'a>,
    pub(super) through: Option<NaiveDate>,
}

impl<'a> Fold<'_, 'a> {
    /// The versions that count under the valid-time limit.
    pub(super) fn counted(&self) -> impl Iterator<Item = &Version<'a>> {
        self.history
            .in_force
            .iter()
            .filter(|version| self.happened(version))
    }

    pub(super) fn happened(&self, version: &Version<'_>) -> bool {
        self.through
            .is_none_or(|through| version.event.occurred_on() <= through)
    }

    /// The date of the latest recorded survey wave of `wave_id` that counts.
    pub(super) fn wave_on(&self, wave_id: &str) -> Option<NaiveDate> {
        self.counted()
            .filter_map(|version| match version.event {
                LedgerEvent::SurveyWave(wave) if wave.wave_id.as_str() == wave_id => {
                    Some(version.event.occurred_on())
                }
                _ => None,
            })
            .last()
    }

    pub(super) fn figure(
        &self,
        row: &RowRule<'_>,
        kpi: Option<&KpiDefinition>,
        year: FiscalYear,
    ) -> Figure {
        let amounts: Vec<Amount> = self
            .counted()
            .flat_map(|version| row.amounts(version.event, year))
            .collect();
        let mut sum = Some(Decimal::ZERO);
        let mut has_sum = false;
        // Units other than the row's, in the order they first appear.
        let mut foreign: Vec<(Unit, Option<Decimal>)> = Vec::new();
        let mut waves: Vec<(String, u64, u64, Option<NaiveDate>)> = Vec::new();
        let mut rates: Vec<Decimal> = Vec::new();
        for amount in &amounts {
            match amount {
                Amount::Sum { amount, unit: None } => {
                    has_sum = true;
                    sum = sum.and_then(|sum| sum.checked_add(*amount));
                }
                Amount::Sum {
                    amount,
                    unit: Some(unit),
                } => match foreign.iter_mut().find(|(known, _)| known == unit) {
                    Some((_, total)) => *total = total.and_then(|t| t.checked_add(*amount)),
                    None => foreign.push((*unit, Some(*amount))),
                },
                Amount::Answer { hit, wave, on } => {
                    match waves.iter_mut().find(|(key, ..)| key == wave) {
                        Some((_, hits, answers, latest)) => {
                            *hits += u64::from(*hit);
                            *answers += 1;
                            *latest = (*latest).max(Some(*on));
                        }
                        None => waves.push((wave.clone(), u64::from(*hit), 1, Some(*on))),
                    }
                }
                Amount::Rate(rate) => rates.push(*rate),
            }
        }
        let overflowed = sum.is_none() || foreign.iter().any(|(_, total)| total.is_none());
        // Of several other units, the first by name: which one is shown must not depend on
        // the order amendments left them in.
        let first_foreign = foreign
            .iter()
            .min_by_key(|(unit, _)| unit.as_str())
            .and_then(|(unit, total)| total.map(|total| (Some(total), Some(*unit))))
            .unwrap_or((None, None));
        let (value, unit) = match (row.aggregation, kpi) {
            _ if overflowed => (None, None),
            (Aggregation::Sum, _) if has_sum => (sum, None),
            (Aggregation::Sum, _) => first_foreign,
            (Aggregation::LatestRate, kpi) => {
                // (date, key, answered share or stated rate)
                let mut groups: Vec<(Option<NaiveDate>, String, Option<Decimal>)> = waves
                    .iter()
                    .map(|(key, hits, answers, latest)| {
                        let on = self.wave_on(key).or(*latest);
                        let share = kpi.and_then(|kpi| {
                            kpi.value_rounding
                                .percent(Decimal::from(*hits), Decimal::from(*answers))
                        });
                        (on, key.clone(), share)
                    })
                    .collect();
                if let Some(rate) = rates.last() {
                    groups.push((Some(year.last_day()), "\0direct".to_owned(), Some(*rate)));
                }
                match groups
                    .into_iter()
                    .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)))
                {
                    Some((_, _, value)) => (value, None),
                    None => first_foreign,
                }
            }
        };
        Figure {
            value,
            unit,
            overflowed,
            has_sum,
            sum: sum.unwrap_or_default(),
        }
    }

    /// Whether `event` counts in `row`'s cell of `year` under the valid-time limit.
    pub(super) fn counts_in(
        &self,
        row: &RowRule<'_>,
        version: &Version<'_>,
        year: FiscalYear,
    ) -> bool {
        self.happened(version) && !row.amounts(version.event, year).is_empty()
    }

    pub(super) fn cell(
        &self,
        plan: &PlanDefinition,
        kpi: &KpiDefinition,
        year: FiscalYear,
    ) -> Cell {
        let row = RowRule::kpi(plan, kpi);
        let figure = self.figure(&row, Some(kpi), year);
        let event_ids: Vec<Uuid> = self
            .counted()
            .filter(|version| self.counts_in(&row, version, year))
            .map(|version| version.id)
            .collect();
        let late_event_ids = match &plan.transfer {
            Some(transfer) => self
                .counted()
                .filter(|version| {
                    version.position > transfer.position && self.counts_in(&row, version, year)
                })
                .map(|version| version.id)
                .collect(),
            None => Vec::new(),
        };
        Cell {
            fiscal_year: year,
            value: figure.value,
            unit: figure.unit,
            counted: figure.value.is_some() && figure.unit.is_none(),
            event_ids,
            amended_by: self.amended_by(&row, year, 0),
            late_event_ids,
        }
    }

    /// The applied amendments after `after` whose old or new version counted in the cell.
    pub(super) fn amended_by(&self, row: &RowRule<'_>, year: FiscalYear, after: u64) -> Vec<Uuid> {
        self.history
            .applied
            .iter()
            .filter(|applied| applied.position > after)
            .filter(|applied| {
                self.counts_in(row, &applied.before, year)
                    || applied
                        .after
                        .is_some_and(|version| self.counts_in(row, &version, year))
            })
            .map(|applied| applied.amendment)
            .collect()
    }

    pub(super) fn table(&self, plan: &PlanDefinition, transfers: &[TransferReport]) -> KpiTable {
        let years = plan.period.years();
        let rows = plan
            .kpis
            .iter()
            .map(|kpi| {
                let cells: Vec<Cell> = years
                    .iter()
                    .map(|year| self.cell(plan, kpi, *year))
                    .collect();
                let baseline = transfers
                    .iter()
                    .filter(|report| report.successor == plan.id.as_str())
                    .flat_map(|report| &report.entries)
                    .find(|entry| entry.successor_kpi == kpi.reference())
                    .and_then(|entry| entry.baseline);
                let counted: Vec<Decimal> = cells
                    .iter()
                    .filter(|cell| cell.counted)
                    .filter_map(|cell| cell.value)
                    .collect();
                let cumulative =
                    if kpi.show_cumulative && (!counted.is_empty() || baseline.is_some()) {
                        let mut total = Some(baseline.unwrap_or_default());
                        for value in &counted {
                            total = total.and_then(|total| total.checked_add(*value));
                        }
                        total
                    } else {
                        None
                    };
                let achievement = match kpi.target {
                    Some(target) if kpi.achievement.show => {
                        let reached = if target.kind == TargetKind::Cumulative {
                            cumulative
                        } else {
                            counted.last().copied()
                        };
                        reached.and_then(|reached| {
                            kpi.achievement.rounding.percent(reached, target.value)
                        })
                    }
                    _ => None,
                };
                KpiRow::of(kpi, cells, cumulative, achievement, baseline)
            })
            .collect();
        KpiTable {
            plan_id: plan.id.to_string(),
            plan_name: plan.name.clone(),
            fiscal_years: years,
            rows,
        }
    }

    /// A predecessor KPI's figure over its period: a sum's cumulative (baseline left out), a
    /// rate's latest counted figure.
    pub(super) fn kpi_figure(&self, plan: &PlanDefinition, from: &KpiRef) -> Option<Decimal> {
        let kpi = plan.kpi(from.kpi.as_str(), from.series)?;
        let row = RowRule::kpi(plan, kpi);
        let counted: Vec<Decimal> = plan
            .period
            .years()
            .into_iter()
            .map(|year| self.figure(&row, Some(kpi), year))
            .filter(|figure| figure.unit.is_none())
            .filter_map(|figure| figure.value)
            .collect();
        match kpi.aggregation {
            Aggregation::Sum if counted.is_empty() => None,
            Aggregation::Sum => counted
                .iter()
                .try_fold(Decimal::ZERO, |total, value| total.checked_add(*value)),
            Aggregation::LatestRate => counted.last().copied(),
        }
    }

    /// An event selector's sum over the predecessor's period in the successor KPI's unit.
    pub(super) fn selector_figure(&self, row: &RowRule<'_>) -> Option<Decimal> {
        let figures: Vec<Figure> = row
            .plan
            .period
            .years()
            .into_iter()
            .map(|year| self.figure(row, None, year))
            .collect();
        if !figures.iter().any(|figure| figure.has_sum) {
            return None;
        }
        figures
            .iter()
            .try_fold(Decimal::ZERO, |total, figure| total.checked_add(figure.sum))
    }
}
