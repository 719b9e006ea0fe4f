//! A transfer's report recomputed: the baseline as decided (the log up to the transfer) and
//! as the history gives it now.

use rust_decimal::Decimal;

use super::amounts::RowRule;
use super::fold::Fold;
use super::History;
use crate::plan::{Aggregation, HistoryRule, PlanDefinition};
use crate::projection::{BaselineOrigin, BaselineSource, TransferEntry, TransferReport};
use crate::recorded::RecordedEvent;

impl<'a> Fold<'_, 'a> {
    pub(super) fn transfer_report(
        &self,
        plan: &PlanDefinition,
        prefix: &[&'a RecordedEvent],
    ) -> Option<TransferReport> {
        let transfer = plan.transfer.as_ref()?;
        let successor = self
            .plans
            .iter()
            .find(|candidate| candidate.id == transfer.successor)?;
        let decided_log: Vec<&RecordedEvent> = prefix
            .iter()
            .copied()
            .take_while(|event| event.position <= transfer.position)
            .collect();
        let decided_history = History::of(&decided_log);
        let decided = Fold {
            plans: self.plans,
            history: &decided_history,
            through: self.through,
        };
        let entries = successor
            .kpis
            .iter()
            .map(|kpi| {
                let reference = kpi.reference();
                let Some(mapping) = transfer
                    .mapping
                    .iter()
                    .find(|mapping| mapping.successor_kpi == reference)
                else {
                    return TransferEntry {
                        successor_kpi: reference,
                        name: kpi.name.clone(),
                        unit: kpi.unit,
                        history: None,
                        sources: Vec::new(),
                        baseline: None,
                        current_baseline: None,
                        adjustment: None,
                        adjustment_event_ids: Vec::new(),
                    };
                };
                let selectors: Vec<RowRule<'_>> = mapping
                    .from_events
                    .iter()
                    .map(|source| RowRule {
                        plan,
                        unit: kpi.unit,
                        aggregation: Aggregation::Sum,
                        sources: std::slice::from_ref(source),
                        last_year: None,
                    })
                    .collect();
                let mut sources: Vec<BaselineSource> = mapping
                    .from_kpis
                    .iter()
                    .map(|from| BaselineSource {
                        origin: BaselineOrigin::Kpi {
                            kpi: from.clone(),
                            name: plan
                                .kpi(from.kpi.as_str(), from.series)
                                .expect("the registry checks the mapping against the predecessor")
                                .name
                                .clone(),
                        },
                        figure: decided.kpi_figure(plan, from),
                        current: self.kpi_figure(plan, from),
                    })
                    .collect();
                for (source, row) in mapping.from_events.iter().zip(&selectors) {
                    sources.push(BaselineSource {
                        origin: BaselineOrigin::Events {
                            event: source.event,
                            measure: source.measure.describe(),
                        },
                        figure: decided.selector_figure(row),
                        current: self.selector_figure(row),
                    });
                }
                let combine = |figures: Vec<Option<Decimal>>| {
                    let mut figures = figures.into_iter().flatten();
                    let first = figures.next()?;
                    match kpi.aggregation {
                        Aggregation::Sum => {
                            figures.try_fold(first, |total, figure| total.checked_add(figure))
                        }
                        Aggregation::LatestRate => Some(first),
                    }
                };
                let (baseline, current_baseline) = if mapping.history == HistoryRule::Counts {
                    (
                        combine(sources.iter().map(|source| source.figure).collect()),
                        combine(sources.iter().map(|source| source.current).collect()),
                    )
                } else {
                    (None, None)
                };
                let adjustment = if baseline == current_baseline {
                    None
                } else {
                    current_baseline
                        .unwrap_or_default()
                        .checked_sub(baseline.unwrap_or_default())
                };
                // The events that moved the mapping's cells after the transfer.
                let mut rows: Vec<RowRule<'_>> = mapping
                    .from_kpis
                    .iter()
                    .filter_map(|from| plan.kpi(from.kpi.as_str(), from.series))
                    .map(|kpi| RowRule::kpi(plan, kpi))
                    .collect();
                rows.extend(selectors);
                let mut adjustment_event_ids = Vec::new();
                for row in &rows {
                    for year in plan.period.years() {
                        adjustment_event_ids.extend(
                            self.counted()
                                .filter(|version| {
                                    version.position > transfer.position
                                        && self.counts_in(row, version, year)
                                })
                                .map(|version| version.id),
                        );
                        adjustment_event_ids.extend(self.amended_by(row, year, transfer.position));
                    }
                }
                adjustment_event_ids.sort();
                adjustment_event_ids.dedup();
                TransferEntry {
                    successor_kpi: reference,
                    name: kpi.name.clone(),
                    unit: kpi.unit,
                    history: Some(mapping.history),
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
}
