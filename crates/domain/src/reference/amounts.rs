//! What one event gives one row, read from its payload JSON by the plan's field names.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::calendar::FiscalYear;
use crate::event::{FieldType, LedgerEvent};
use crate::plan::{Aggregation, KpiDefinition, PlanDefinition, SourceDefinition, SourceMeasure};
use crate::values::Unit;

/// What one event gives one row.
pub(super) enum Amount {
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
pub(super) struct RowRule<'p> {
    pub(super) plan: &'p PlanDefinition,
    pub(super) unit: Unit,
    pub(super) aggregation: Aggregation,
    pub(super) sources: &'p [SourceDefinition],
    pub(super) last_year: Option<FiscalYear>,
}

impl<'p> RowRule<'p> {
    pub(super) fn kpi(plan: &'p PlanDefinition, kpi: &'p KpiDefinition) -> Self {
        RowRule {
            plan,
            unit: kpi.unit,
            aggregation: kpi.aggregation,
            sources: &kpi.sources,
            last_year: kpi.last_year,
        }
    }

    /// What `event` gives the row's cell of `year`.
    pub(super) fn amounts(&self, event: &LedgerEvent, year: FiscalYear) -> Vec<Amount> {
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
