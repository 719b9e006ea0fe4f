//! What a KPI source may read of each kind: the catalogue's answers to a plan being read, the
//! public readers of plans bound to them, and the accessor a projection compiles.
//!
//! A plan names event kinds and fields; whether a kind has the field, and whether a source
//! may sum it or take its share, is the catalogue's to say. So plans ([`crate::plan`]) ask
//! through a lookup they are handed and import nothing from events, and the readers every
//! caller uses ([`PlanDefinition::from_toml`], [`KpiDefinition::from_toml`],
//! [`SourceDefinition::from_json`]) live here, where the catalogue is.

use super::{FieldGetter, FieldType, LedgerEvent};
use crate::kind::EventKind;
use crate::plan::parse::{read_kpi, read_plan, read_selector, SourceField};
use crate::plan::{KpiDefinition, PlanDefinition, PlanError, SourceDefinition};

/// The catalogue's answer for one field of one kind.
fn source_field(kind: EventKind, name: &str) -> SourceField {
    match LedgerEvent::kind_info(kind).field(name) {
        None => SourceField::Missing,
        Some(field) if field.get.is_none() => SourceField::Unreadable,
        Some(field) if field.ty.is_numeric() => SourceField::Number,
        Some(field) if field.ty == FieldType::Bool => SourceField::Flag,
        Some(_) => SourceField::Other,
    }
}

impl PlanDefinition {
    /// Parses and checks a plan: every source must name an event type and fields that exist
    /// and fit its row's aggregation.
    pub fn from_toml(text: &str) -> Result<PlanDefinition, PlanError> {
        read_plan(text, source_field)
    }
}

impl KpiDefinition {
    /// One KPI written as the body of a `[[kpis]]` table (a KPI added to a plan in force).
    /// Its pillar is checked against the plan when the addition is applied.
    pub fn from_toml(text: &str) -> Result<KpiDefinition, PlanError> {
        read_kpi(text, source_field)
    }
}

impl SourceDefinition {
    /// An event selector written as JSON in the plan-file source form (`{ "event": "seminar",
    /// "field": "participants.unique", "where": {...} }`), summed per fiscal year.
    pub fn from_json(path: &str, value: &serde_json::Value) -> Result<SourceDefinition, PlanError> {
        read_selector(path, value, source_field)
    }
}

/// The accessor of a source's field, resolved once when a projection is built.
pub(crate) fn getter(kind: EventKind, field: &str) -> FieldGetter {
    LedgerEvent::kind_info(kind)
        .field(field)
        .and_then(|info| info.get)
        .expect("plan definitions only hold fields checked against the catalogue")
}
