//! Plans compiled into routes: for each event kind, the rows that select it, with their
//! filters and field accessors resolved once, so folding an event reads nothing twice.

use rust_decimal::Decimal;

use crate::event::{FieldGetter, FieldValue, LedgerEvent};
use crate::plan::{getter, Aggregation, SourceDefinition, SourceMeasure};
use crate::values::Unit;

use super::RowState;

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
