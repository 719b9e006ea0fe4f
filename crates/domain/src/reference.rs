//! The reference fold: what every figure *means*, computed the plain way.
//!
//! [`crate::Projection`] is a hand-optimised incremental fold (routes compiled per event
//! kind, contributions remembered so amendments can take them back, decided baselines
//! copied at a transfer, checkpoints). This module defines the same tables without any of
//! that: it first works out which version of every event is in force, then computes each
//! cell from the plain list of those events, reading fields from the payload JSON by the
//! names the plan definitions use. It is slow on purpose and readable top to bottom; tests
//! compare every path of the service with it, and `kpi-ledger audit recompute` prints where
//! the live table differs.
//!
//! The rules, in the order they apply:
//! 1. As-of (transaction time) keeps the prefix of the log recorded up to an instant; the
//!    plans in force are the configured ones changed by that prefix's lifecycle events.
//! 2. An event is in force in its latest version: a correction replaces it, a retraction
//!    removes it. An amendment whose target is unknown (or a plan lifecycle event), is itself
//!    an amendment, was retracted, or is of another kind than its replacement changes nothing
//!    and is a finding.
//! 3. Through (valid time) keeps the events in force whose day ([`LedgerEvent::occurred_on`])
//!    is on or before the date.
//! 4. An event counts in the cell of its fiscal year in each KPI row with a source of its
//!    kind whose filters it passes, if the year is in the plan's period and not after a
//!    retired KPI's last year. A sum row adds the measured amounts; an amount in another unit
//!    than the row's is shown only when the cell has nothing in its own unit, and never
//!    summed. A rate row shows the share of the latest survey wave: latest by the recorded
//!    wave's date (its `date`, else its fiscal year's end), else by the latest answer, ties to
//!    the greater wave id; opening figures stating a rate are dated at their year's end.
//! 5. A cell lists the events that count in it (in the order their versions in force were
//!    recorded), the applied amendments whose old or new version counted in it, and, for a
//!    transferred plan, those of its events whose version in force was recorded after the
//!    transfer (late entries).
//! 6. Cumulative: the counted cells plus the baseline; achievement: the cumulative (or the
//!    latest counted cell) against the target, rounded as the KPI says.
//! 7. A successor's baseline is its predecessor's history as decided at the transfer: these
//!    same rules applied to the log up to the transfer's position. The history now, and the
//!    events that moved it since, are reported beside it and never counted.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::audit::{AuditFinding, FindingKind};
use crate::calendar::FiscalYear;
use crate::event::{EventKind, FieldType, LedgerEvent};
use crate::plan::{
    Aggregation, HistoryRule, KpiDefinition, KpiRef, PlanDefinition, Series, SourceDefinition,
    SourceMeasure, TargetKind,
};
use crate::projection::{
    BaselineOrigin, BaselineSource, Cell, KpiRow, KpiTable, TransferEntry, TransferReport,
};
use crate::recorded::RecordedEvent;
use crate::registry::PlanRegistry;
use crate::values::{ActivityStatus, Unit};

/// Which part of the history to recompute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Transaction time: only events recorded at or before this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Valid time: only activities that happened on or before this day.
    pub through: Option<NaiveDate>,
}

/// Everything the reference fold computes from a log.
#[derive(Debug, Clone)]
pub struct Recomputed {
    pub registry: PlanRegistry,
    /// Every plan's table, in plan order.
    pub tables: Vec<KpiTable>,
    /// Findings, sorted by [`finding_key`].
    pub findings: Vec<AuditFinding>,
    /// Every transferred plan's report whose successor is in force.
    pub transfers: Vec<TransferReport>,
}

impl Recomputed {
    pub fn table(&self, plan_id: &str) -> Option<&KpiTable> {
        self.tables.iter().find(|table| table.plan_id == plan_id)
    }
}

/// The content of a finding that the reference fold vouches for (its wording is the
/// projection's): kind, year, plan, KPI, series and the events, sorted. Use it to order and
/// compare findings from different folds.
pub fn finding_key(
    finding: &AuditFinding,
) -> (
    FindingKind,
    Option<FiscalYear>,
    Option<String>,
    Option<String>,
    Option<Series>,
    Vec<Uuid>,
) {
    let mut ids = finding.event_ids.clone();
    ids.sort();
    (
        finding.kind,
        finding.fiscal_year,
        finding.plan_id.clone(),
        finding.kpi.clone(),
        finding.series,
        ids,
    )
}

/// Recomputes every table, finding and transfer report of `log` (in position order) under
/// the `configured` plans.
pub fn recompute(
    configured: Vec<PlanDefinition>,
    log: &[RecordedEvent],
    limits: Limits,
) -> Recomputed {
    let prefix: Vec<&RecordedEvent> = log
        .iter()
        .take_while(|event| limits.as_of.is_none_or(|at| event.recorded_at <= at))
        .collect();
    let registry = PlanRegistry::from_log(configured, prefix.iter().copied());
    let plans = registry.plans();
    let history = History::of(&prefix);
    let fold = Fold {
        plans: &plans,
        history: &history,
        through: limits.through,
    };
    let transfers: Vec<TransferReport> = plans
        .iter()
        .filter_map(|plan| fold.transfer_report(plan, &prefix))
        .collect();
    let tables = plans
        .iter()
        .map(|plan| fold.table(plan, &transfers))
        .collect::<Vec<_>>();
    let mut findings = fold.findings(&tables);
    findings.sort_by_key(finding_key);
    Recomputed {
        registry,
        tables,
        findings,
        transfers,
    }
}

/// One version of an event: the original or a correction's replacement.
#[derive(Clone, Copy)]
struct Version<'a> {
    id: Uuid,
    event: &'a LedgerEvent,
    /// Where this version entered the log (the original's or the correction's position).
    position: u64,
}

/// A correction or retraction that took effect.
struct Applied<'a> {
    amendment: Uuid,
    position: u64,
    before: Version<'a>,
    after: Option<Version<'a>>,
}

/// Which version of each event is in force after a log prefix.
struct History<'a> {
    /// In force, in the order their versions were recorded.
    in_force: Vec<Version<'a>>,
    applied: Vec<Applied<'a>>,
    /// (amendment, target), in log order.
    ignored: Vec<(Uuid, Uuid)>,
}

impl<'a> History<'a> {
    fn of(log: &[&'a RecordedEvent]) -> History<'a> {
        enum State<'a> {
            Amendment,
            InForce(Version<'a>),
            Retracted,
        }
        let mut states: HashMap<Uuid, State<'a>> = HashMap::new();
        let mut applied = Vec::new();
        let mut ignored = Vec::new();
        for recorded in log {
            let (target, replacement) = match &recorded.event {
                LedgerEvent::Correction(correction) => {
                    (correction.target, Some(&*correction.replacement))
                }
                LedgerEvent::Retraction(retraction) => (retraction.target, None),
                event if event.kind().is_lifecycle() => continue,
                event => {
                    let version = Version {
                        id: recorded.id,
                        event,
                        position: recorded.position,
                    };
                    states.insert(recorded.id, State::InForce(version));
                    continue;
                }
            };
            let before = match states.get(&target) {
                Some(State::InForce(version))
                    if replacement.is_none_or(|new| new.kind() == version.event.kind()) =>
                {
                    *version
                }
                _ => {
                    ignored.push((recorded.id, target));
                    states.insert(recorded.id, State::Amendment);
                    continue;
                }
            };
            let after = replacement.map(|event| Version {
                id: target,
                event,
                position: recorded.position,
            });
            states.insert(
                target,
                match after {
                    Some(version) => State::InForce(version),
                    None => State::Retracted,
                },
            );
            states.insert(recorded.id, State::Amendment);
            applied.push(Applied {
                amendment: recorded.id,
                position: recorded.position,
                before,
                after,
            });
        }
        let mut in_force: Vec<Version<'a>> = states
            .into_values()
            .filter_map(|state| match state {
                State::InForce(version) => Some(version),
                State::Amendment | State::Retracted => None,
            })
            .collect();
        in_force.sort_by_key(|version| version.position);
        History {
            in_force,
            applied,
            ignored,
        }
    }
}

/// What one event gives one row.
enum Amount {
    Sum {
        amount: Decimal,
        unit: Option<Unit>,
    },
    Answer {
        hit: bool,
        wave: String,
        on: NaiveDate,
    },
    Rate(Decimal),
}

/// A field of an event, read from its payload JSON by its dotted name and typed by the
/// catalogue.
enum Field {
    Number(Decimal),
    Flag(bool),
    Text(String),
}

fn field(event: &LedgerEvent, name: &str) -> Option<Field> {
    let info = LedgerEvent::kind_info(event.kind()).field(name)?;
    let payload = event.to_payload();
    let value = name
        .split('.')
        .try_fold(&payload, |value, part| value.get(part))?;
    match (info.ty, value) {
        (_, serde_json::Value::Bool(flag)) => Some(Field::Flag(*flag)),
        (_, serde_json::Value::Number(number)) => {
            number.to_string().parse().ok().map(Field::Number)
        }
        (FieldType::Decimal, serde_json::Value::String(text)) => {
            text.parse().ok().map(Field::Number)
        }
        (_, serde_json::Value::String(text)) => Some(Field::Text(text.clone())),
        _ => None,
    }
}

fn passes(event: &LedgerEvent, source: &SourceDefinition) -> bool {
    source.filters.iter().all(|filter| {
        let value = field(event, &filter.field);
        filter.one_of.iter().any(|wanted| match &value {
            Some(Field::Text(text)) => text == wanted,
            Some(Field::Flag(flag)) => wanted == if *flag { "true" } else { "false" },
            Some(Field::Number(number)) => wanted.parse::<Decimal>().ok() == Some(*number),
            None => false,
        })
    })
}

/// What `event` gives a row of `unit` and `aggregation` through `source`, if anything.
fn amount(
    event: &LedgerEvent,
    source: &SourceDefinition,
    unit: Unit,
    aggregation: Aggregation,
) -> Option<Amount> {
    if source.event != event.kind() || !passes(event, source) {
        return None;
    }
    match &source.measure {
        SourceMeasure::Count => Some(Amount::Sum {
            amount: Decimal::ONE,
            unit: None,
        }),
        SourceMeasure::Field(name) => {
            let Field::Number(amount) = field(event, name)? else {
                return None;
            };
            let stated = match field(event, "unit") {
                Some(Field::Text(text)) => Unit::from_name(&text),
                _ => None,
            };
            let foreign = stated.filter(|stated| *stated != unit);
            if aggregation == Aggregation::LatestRate && foreign.is_none() {
                Some(Amount::Rate(amount))
            } else {
                Some(Amount::Sum {
                    amount,
                    unit: foreign,
                })
            }
        }
        SourceMeasure::ShareOf {
            field: name,
            group_by,
        } => {
            let Field::Flag(hit) = field(event, name)? else {
                return None;
            };
            let wave = match group_by.as_deref().and_then(|group| field(event, group)) {
                Some(Field::Text(key)) => key,
                _ => String::new(),
            };
            Some(Amount::Answer {
                hit,
                wave,
                on: event.occurred_on(),
            })
        }
    }
}

/// A row to compute: a KPI of a plan, or a transfer mapping's event selector.
struct RowRule<'p> {
    plan: &'p PlanDefinition,
    unit: Unit,
    aggregation: Aggregation,
    sources: &'p [SourceDefinition],
    last_year: Option<FiscalYear>,
}

impl<'p> RowRule<'p> {
    fn kpi(plan: &'p PlanDefinition, kpi: &'p KpiDefinition) -> Self {
        RowRule {
            plan,
            unit: kpi.unit,
            aggregation: kpi.aggregation,
            sources: &kpi.sources,
            last_year: kpi.last_year,
        }
    }

    /// What `event` gives the row's cell of `year`.
    fn amounts(&self, event: &LedgerEvent, year: FiscalYear) -> Vec<Amount> {
        let counted_year = event.fiscal_year() == year
            && self.plan.period.column(year).is_some()
            && self.last_year.is_none_or(|last| year <= last);
        if !counted_year {
            return Vec::new();
        }
        self.sources
            .iter()
            .filter_map(|source| amount(event, source, self.unit, self.aggregation))
            .collect()
    }
}

/// The figure of one cell and how it was reached.
struct Figure {
    value: Option<Decimal>,
    unit: Option<Unit>,
    overflowed: bool,
    /// Whether anything in the row's own unit was summed.
    has_sum: bool,
    sum: Decimal,
}

struct Fold<'f, 'a> {
    plans: &'f [PlanDefinition],
    history: &'f History<'a>,
    through: Option<NaiveDate>,
}

impl<'a> Fold<'_, 'a> {
    /// The versions that count under the valid-time limit.
    fn counted(&self) -> impl Iterator<Item = &Version<'a>> {
        self.history
            .in_force
            .iter()
            .filter(|version| self.happened(version))
    }

    fn happened(&self, version: &Version<'_>) -> bool {
        self.through
            .is_none_or(|through| version.event.occurred_on() <= through)
    }

    /// The date of the latest recorded survey wave of `wave_id` that counts.
    fn wave_on(&self, wave_id: &str) -> Option<NaiveDate> {
        self.counted()
            .filter_map(|version| match version.event {
                LedgerEvent::SurveyWave(wave) if wave.wave_id.as_str() == wave_id => {
                    Some(version.event.occurred_on())
                }
                _ => None,
            })
            .last()
    }

    fn figure(&self, row: &RowRule<'_>, kpi: Option<&KpiDefinition>, year: FiscalYear) -> Figure {
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
    fn counts_in(&self, row: &RowRule<'_>, version: &Version<'_>, year: FiscalYear) -> bool {
        self.happened(version) && !row.amounts(version.event, year).is_empty()
    }

    fn cell(&self, plan: &PlanDefinition, kpi: &KpiDefinition, year: FiscalYear) -> Cell {
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
    fn amended_by(&self, row: &RowRule<'_>, year: FiscalYear, after: u64) -> Vec<Uuid> {
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

    fn table(&self, plan: &PlanDefinition, transfers: &[TransferReport]) -> KpiTable {
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
                KpiRow {
                    kpi: kpi.id.clone(),
                    series: kpi.series,
                    pillar: kpi.pillar.clone(),
                    category: kpi.category.clone(),
                    name: kpi.name.clone(),
                    unit: kpi.unit,
                    target: kpi.target,
                    cells,
                    cumulative,
                    achievement,
                    show_cumulative: kpi.show_cumulative,
                    show_achievement: kpi.achievement.show,
                    baseline,
                    last_year: kpi.last_year,
                }
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
    fn kpi_figure(&self, plan: &PlanDefinition, from: &KpiRef) -> Option<Decimal> {
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
    fn selector_figure(&self, row: &RowRule<'_>) -> Option<Decimal> {
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

    fn transfer_report(
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
                            measure: match &source.measure {
                                SourceMeasure::Field(field) => format!("sum of {field}"),
                                SourceMeasure::Count => "count".to_owned(),
                                SourceMeasure::ShareOf { field, .. } => format!("share of {field}"),
                            },
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

    fn findings(&self, tables: &[KpiTable]) -> Vec<AuditFinding> {
        let mut findings = Vec::new();
        let mut add = |kind, fiscal_year, event_ids: Vec<Uuid>| {
            findings.push(AuditFinding {
                kind,
                fiscal_year,
                plan_id: None,
                kpi: None,
                series: None,
                event_ids,
                message: String::new(),
            });
        };
        for version in self.counted() {
            let event = version.event;
            let year = event.fiscal_year();
            let in_a_kpi = self.plans.iter().any(|plan| {
                plan.kpis
                    .iter()
                    .any(|kpi| !RowRule::kpi(plan, kpi).amounts(event, year).is_empty())
            });
            if event.status() == Some(ActivityStatus::Scheduled) && in_a_kpi {
                let on = FiscalYear::from_date(event.occurred_on()).ok();
                add(FindingKind::ScheduledCountedAsHeld, on, vec![version.id]);
            }
            if !self
                .plans
                .iter()
                .any(|plan| plan.period.column(year).is_some())
            {
                add(FindingKind::OutsideEveryPlan, Some(year), vec![version.id]);
            }
            if let LedgerEvent::DeclaredTotal(declared) = event {
                let of = EventKind::from_name(declared.of.as_str());
                let organiser = declared.organiser.as_ref().map(|text| text.as_str());
                let (mut events, mut sessions) = (0u64, 0u64);
                for other in self.counted() {
                    let (label, held) = match other.event {
                        LedgerEvent::Seminar(seminar) => (&seminar.organiser, seminar.sessions),
                        LedgerEvent::SkillTraining(training) => {
                            (&training.department, training.sessions)
                        }
                        _ => continue,
                    };
                    if Some(other.event.kind()) == of
                        && other.event.fiscal_year() == declared.fiscal_year
                        && organiser.is_none_or(|organiser| label.as_str() == organiser)
                    {
                        events += 1;
                        sessions += u64::from(held.get());
                    }
                }
                let claimed = u64::from(declared.count.get());
                if claimed != events && claimed != sessions {
                    add(
                        FindingKind::DeclaredTotalMismatch,
                        Some(declared.fiscal_year),
                        vec![version.id],
                    );
                }
            }
            if let LedgerEvent::SurveyResponse(response) = event {
                let wave = self.counted().filter(|other| {
                    matches!(other.event, LedgerEvent::SurveyWave(wave)
                        if wave.wave_id == response.wave_id)
                });
                if let Some(wave) = wave.last() {
                    if wave.event.fiscal_year() != year {
                        add(
                            FindingKind::SurveyResponseYearMismatch,
                            Some(year),
                            vec![version.id, wave.id],
                        );
                    }
                }
            }
        }
        for (amendment, target) in &self.history.ignored {
            add(
                FindingKind::IgnoredAmendment,
                None,
                vec![*amendment, *target],
            );
        }
        // Survey waves per fiscal year: firms asked against the responses counted there.
        let mut waves: Vec<(FiscalYear, String, u64, u64)> = Vec::new();
        for version in self.counted() {
            let (wave_id, asked, answered) = match version.event {
                LedgerEvent::SurveyWave(wave) => (wave.wave_id.as_str(), wave.firms_asked.get(), 0),
                LedgerEvent::SurveyResponse(response) => (response.wave_id.as_str(), 0, 1),
                _ => continue,
            };
            let year = version.event.fiscal_year();
            match waves
                .iter_mut()
                .find(|(known_year, known, ..)| *known_year == year && known == wave_id)
            {
                Some(entry) => {
                    entry.2 += u64::from(asked);
                    entry.3 += answered;
                }
                None => waves.push((year, wave_id.to_owned(), u64::from(asked), answered)),
            }
        }
        for (year, _, asked, responses) in waves {
            if asked == 0 && responses > 0 {
                add(FindingKind::SurveyWaveMissing, Some(year), Vec::new());
            } else if asked > 0 && responses > asked {
                add(
                    FindingKind::SurveyResponsesExceedFirmsAsked,
                    Some(year),
                    Vec::new(),
                );
            }
        }
        for (plan, table) in self.plans.iter().zip(tables) {
            for (kpi, row) in plan.kpis.iter().zip(&table.rows) {
                for cell in &row.cells {
                    let overflowed = self
                        .figure(&RowRule::kpi(plan, kpi), Some(kpi), cell.fiscal_year)
                        .overflowed;
                    let kind = match (cell.unit, cell.value) {
                        _ if overflowed => FindingKind::ArithmeticOverflow,
                        (Some(_), Some(_)) => FindingKind::WrongUnit,
                        _ => continue,
                    };
                    findings.push(AuditFinding {
                        kind,
                        fiscal_year: Some(cell.fiscal_year),
                        plan_id: Some(table.plan_id.clone()),
                        kpi: Some(row.kpi.clone()),
                        series: Some(row.series),
                        event_ids: if kind == FindingKind::WrongUnit {
                            cell.event_ids.clone()
                        } else {
                            Vec::new()
                        },
                        message: String::new(),
                    });
                }
            }
        }
        findings
    }
}
