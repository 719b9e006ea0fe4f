//! Plans over GraphQL: the plans in force with their definition history and transfer, the
//! transfer report, the `admin` mutations of the plan lifecycle, and the live rebuild.
//!
//! Like every mutation, a lifecycle mutation only hands the domain what it was given, as a
//! domain command (`kpi_domain::command`): whether a definition parses, a KPI exists or a
//! mapping fits the plans in force is decided by the service (`LedgerEvent::parse`, then the
//! plan registry), whose error names the field.
//!
//! Where things are: this file holds a plan in force and the queries for it, `history.rs`
//! its definition history, `transfer.rs` its hand-over and the transfer report, and
//! `lifecycle.rs` the mutations (and the rebuild).

mod history;
mod lifecycle;
mod transfer;

use async_graphql::{Context, Enum, SimpleObject, ID};
use kpi_domain::registry::PlanEntry;
use kpi_domain::{PlanDefinition, PlanRegistry};

use crate::loader::ledger;
use crate::scalars::FiscalYearValue;
use crate::types::{Kpi, LocalizedText, Pillar, Series};

pub use history::DefinitionChange;
pub use lifecycle::PlanMutations;
pub(crate) use transfer::transfer_report;
pub use transfer::{PlanTransfer, TransferReport};

/// How a plan came into force.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanSource {
    /// Read from the configuration at start-up.
    Configured,
    /// Adopted by a `plan_adopted` event; its definition is in the log.
    Adopted,
}

/// One KPI of a plan, by number and series.
#[derive(SimpleObject, Debug, Clone)]
pub struct KpiRef {
    pub kpi: ID,
    pub series: Series,
}

impl From<&kpi_domain::KpiRef> for KpiRef {
    fn from(kpi: &kpi_domain::KpiRef) -> Self {
        Self {
            kpi: ID(kpi.kpi.to_string()),
            series: kpi.series.into(),
        }
    }
}

fn years(plan: &PlanDefinition) -> Vec<FiscalYearValue> {
    plan.period.years().into_iter().map(Into::into).collect()
}

/// A plan in force with its period, pillars, KPIs and how its definition came to be.
#[derive(SimpleObject, Debug, Clone)]
pub struct Plan {
    pub id: ID,
    pub name: LocalizedText,
    /// The fiscal years of the plan's table, in order.
    pub fiscal_years: Vec<FiscalYearValue>,
    pub pillars: Vec<Pillar>,
    pub kpis: Vec<Kpi>,
    pub source: PlanSource,
    /// Every change of the definition, oldest first; the first is the configuration or the
    /// adoption.
    pub definition_history: Vec<DefinitionChange>,
    /// Set once the plan has been transferred to a successor.
    pub transfer: Option<PlanTransfer>,
    /// The successor's id, once transferred.
    pub transferred_to: Option<ID>,
    /// The plan transferred into this one, if any.
    pub transferred_from: Option<ID>,
}

impl Plan {
    fn new(entry: &PlanEntry, registry: &PlanRegistry) -> Self {
        let plan = &entry.definition;
        let source = if entry.is_adopted() {
            PlanSource::Adopted
        } else {
            PlanSource::Configured
        };
        let transferred_from = registry
            .predecessor_of(plan.id.as_str())
            .map(|other| ID(other.definition.id.to_string()));
        Self {
            id: ID(plan.id.to_string()),
            name: (&plan.name).into(),
            fiscal_years: years(plan),
            pillars: plan.pillars.iter().map(Into::into).collect(),
            kpis: plan.kpis.iter().map(Into::into).collect(),
            source,
            definition_history: entry.history.iter().map(Into::into).collect(),
            transfer: plan.transfer.as_ref().map(Into::into),
            transferred_to: plan
                .transfer
                .as_ref()
                .map(|transfer| ID(transfer.successor.to_string())),
            transferred_from,
        }
    }
}

/// The plans in force, in order of configuration then adoption.
pub(crate) fn plans(ctx: &Context<'_>) -> Vec<Plan> {
    let registry = ledger(ctx).registry();
    registry
        .entries()
        .iter()
        .map(|entry| Plan::new(entry, &registry))
        .collect()
}

/// One plan in force, or null.
pub(crate) fn plan(ctx: &Context<'_>, id: &str) -> Option<Plan> {
    let registry = ledger(ctx).registry();
    registry.entry(id).map(|entry| Plan::new(entry, &registry))
}
