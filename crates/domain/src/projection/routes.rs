//! Plans compiled into rows and routes: [`Projection::new`] gives every KPI (and every event
//! selector of a transfer mapping) a row and its cells, and for each event kind the routes
//! of the rows that select it, with their filters and field accessors resolved once, so
//! folding an event reads nothing twice.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::event::sources::getter;
use crate::event::{EventKind, FieldGetter, FieldValue, LedgerEvent};
use crate::plan::{Aggregation, PlanDefinition, SourceDefinition, SourceMeasure};
use crate::values::Unit;

use super::cells::CellAcc;
use super::fold::EventIndex;
use super::notes::Notes;
use super::{BaselineRows, Projection, RowState};

#[derive(Debug, Clone)]
pub(crate) struct CompiledFilter {
    get: FieldGetter,
    one_of: Vec<String>,
}

impl CompiledFilter {
    pub(crate) fn accepts(&self, event: &LedgerEvent) -> bool {
        match (self.get)(event) {
            None => false,
            Some(FieldValue::Str(text)) => self.one_of.iter().any(|value| value == text),
            Some(FieldValue::Bool(flag)) => {
                let text = if flag { "true" } else { "false" };
                self.one_of.iter().any(|value| value == text)
            }
            Some(FieldValue::Int(number)) => self
                .one_of
                .iter()
                .any(|value| value.parse::<u64>() == Ok(number)),
            Some(FieldValue::Decimal(number)) => self
                .one_of
                .iter()
                .any(|value| value.parse::<Decimal>() == Ok(number)),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum AmountRule {
    Field(FieldGetter),
    Count,
    Share {
        field: FieldGetter,
        group: Option<FieldGetter>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) row: u32,
    pub(crate) amount: AmountRule,
    pub(crate) filters: Vec<CompiledFilter>,
    /// Figures that state their own unit (opening figures).
    pub(crate) unit: Option<FieldGetter>,
}

/// What one event adds to one row, before it is placed in a cell.
pub(crate) enum Amount<'e> {
    Sum {
        amount: Decimal,
        foreign: Option<Unit>,
    },
    /// One answer of a group (survey wave) to a share-of question.
    Share { hit: bool, group: &'e str },
    /// A complete rate stated by the event (an opening figure in percent).
    Direct(Decimal),
}

impl Route {
    pub(crate) fn amount_of<'e>(
        &self,
        event: &'e LedgerEvent,
        row: &RowState,
    ) -> Option<Amount<'e>> {
        if !self.filters.iter().all(|filter| filter.accepts(event)) {
            return None;
        }
        match &self.amount {
            AmountRule::Count => Some(Amount::Sum {
                amount: Decimal::ONE,
                foreign: None,
            }),
            AmountRule::Field(get) => {
                let amount = match get(event)? {
                    FieldValue::Int(number) => Decimal::from(number),
                    FieldValue::Decimal(number) => number,
                    FieldValue::Bool(_) | FieldValue::Str(_) => return None,
                };
                let foreign = self
                    .unit
                    .and_then(|get| unit_of(get(event)))
                    .filter(|unit| *unit != row.unit);
                if row.aggregation == Aggregation::LatestRate && foreign.is_none() {
                    Some(Amount::Direct(amount))
                } else {
                    Some(Amount::Sum { amount, foreign })
                }
            }
            AmountRule::Share { field, group } => match field(event)? {
                FieldValue::Bool(hit) => Some(Amount::Share {
                    hit,
                    group: match group.and_then(|get| get(event)) {
                        Some(FieldValue::Str(key)) => key,
                        _ => "",
                    },
                }),
                _ => None,
            },
        }
    }
}

impl Route {
    pub(crate) fn compile(source: &SourceDefinition, row: u32) -> Route {
        let amount = match &source.measure {
            SourceMeasure::Field(field) => AmountRule::Field(getter(source.event, field)),
            SourceMeasure::Count => AmountRule::Count,
            SourceMeasure::ShareOf { field, group_by } => AmountRule::Share {
                field: getter(source.event, field),
                group: group_by.as_deref().map(|group| getter(source.event, group)),
            },
        };
        let filters = source
            .filters
            .iter()
            .map(|filter| CompiledFilter {
                get: getter(source.event, &filter.field),
                one_of: filter.one_of.clone(),
            })
            .collect();
        let unit = LedgerEvent::kind_info(source.event)
            .field("unit")
            .and_then(|field| field.get);
        Route {
            row,
            amount,
            filters,
            unit,
        }
    }
}

pub(crate) fn unit_of(value: Option<FieldValue<'_>>) -> Option<Unit> {
    match value {
        Some(FieldValue::Str(text)) => Unit::from_name(text),
        _ => None,
    }
}

impl Projection {
    /// An empty projection computing the tables of `plans`.
    pub fn new(plans: Vec<PlanDefinition>) -> Projection {
        let mut rows = Vec::new();
        let mut plan_rows = Vec::new();
        let mut routes: Vec<Vec<Route>> = vec![Vec::new(); EventKind::COUNT];
        let mut cell_count = 0;
        for (plan_index, plan) in plans.iter().enumerate() {
            let first_row = rows.len();
            for (kpi_index, kpi) in plan.kpis.iter().enumerate() {
                let row = rows.len() as u32;
                rows.push(RowState {
                    plan: plan_index,
                    kpi: kpi_index,
                    cell_base: cell_count,
                    unit: kpi.unit,
                    aggregation: kpi.aggregation,
                    last_year: kpi.last_year,
                });
                cell_count += plan.period.len();
                for source in &kpi.sources {
                    routes[source.event.index()].push(Route::compile(source, row));
                }
            }
            plan_rows.push(first_row..rows.len());
        }
        let mut baseline_rows = Vec::new();
        for (predecessor, plan) in plans.iter().enumerate() {
            let Some(transfer) = &plan.transfer else {
                continue;
            };
            let successor = plans
                .iter()
                .find(|candidate| candidate.id == transfer.successor);
            for (mapping_index, mapping) in transfer.mapping.iter().enumerate() {
                let unit = successor
                    .and_then(|successor| {
                        successor.kpi(
                            mapping.successor_kpi.kpi.as_str(),
                            mapping.successor_kpi.series,
                        )
                    })
                    .map(|kpi| kpi.unit);
                let (Some(unit), false) = (unit, mapping.from_events.is_empty()) else {
                    continue;
                };
                let mut selector_rows = Vec::new();
                for source in &mapping.from_events {
                    let row = rows.len();
                    rows.push(RowState {
                        plan: predecessor,
                        kpi: usize::MAX,
                        cell_base: cell_count,
                        unit,
                        aggregation: Aggregation::Sum,
                        last_year: None,
                    });
                    cell_count += plan.period.len();
                    routes[source.event.index()].push(Route::compile(source, row as u32));
                    selector_rows.push(row);
                }
                baseline_rows.push(BaselineRows {
                    predecessor,
                    mapping: mapping_index,
                    rows: selector_rows,
                });
            }
        }
        let plan_count = plans.len();
        let late_after = plans
            .iter()
            .map(|plan| plan.transfer.as_ref().map(|transfer| transfer.position))
            .collect();
        Projection {
            plans,
            rows,
            plan_rows,
            cells: vec![CellAcc::default(); cell_count],
            routes,
            events: EventIndex::default(),
            contributions: Default::default(),
            stat_index: HashMap::default(),
            stats: Vec::new(),
            scheduled: HashMap::new(),
            declared: Vec::new(),
            ignored_amendments: Vec::new(),
            amendments: HashMap::default(),
            late_after,
            baseline_rows,
            notes: Notes {
                decided: vec![None; plan_count],
                ..Notes::default()
            },
            through: None,
            applied: 0,
            last_position: 0,
        }
    }
}
