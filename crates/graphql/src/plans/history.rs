//! A plan's definition history: every change, oldest first, with what it did.

use async_graphql::{ComplexObject, Context, Enum, SimpleObject, ID};
use chrono::{DateTime, Utc};
use kpi_domain::Change;
use uuid::Uuid;

use super::{years, KpiRef};
use crate::loader::load_events;
use crate::scalars::{Date, FiscalYearValue};
use crate::types::{Event, Target};

/// What one step of a plan's definition history did.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionChangeKind {
    Configured,
    Adopted,
    PeriodExtended,
    TargetRevised,
    KpiAdded,
    KpiRetired,
    Transferred,
}

/// One step of a plan's definition history, with the period it left in force.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct DefinitionChange {
    /// The lifecycle event; null for the configured definition.
    pub event_id: Option<ID>,
    /// Log position of the event; null for the configured definition.
    pub position: Option<u64>,
    pub recorded_at: Option<DateTime<Utc>>,
    /// The name of the token that recorded the event.
    pub actor: Option<String>,
    /// When the change was decided (adopted on, for an adoption).
    pub decided_on: Option<Date>,
    pub kind: DefinitionChangeKind,
    /// One line, e.g. "period extended from R7 to R8".
    pub description: String,
    /// The KPI a target revision, addition or retirement is about.
    pub kpi: Option<KpiRef>,
    /// The target before a revision (null when the KPI had none).
    pub previous_target: Option<Target>,
    /// The target after a revision.
    pub target: Option<Target>,
    /// The new last year of an extension, the last year of a retired KPI, or the first year
    /// of the successor after a transfer.
    pub fiscal_year: Option<FiscalYearValue>,
    /// The successor of a transfer.
    pub successor: Option<ID>,
    /// The plan's fiscal years after the change.
    pub fiscal_years: Vec<FiscalYearValue>,
    #[graphql(skip)]
    event: Option<Uuid>,
}

#[ComplexObject]
impl DefinitionChange {
    /// The lifecycle event itself, with its payload (the adopted TOML, the mapping...).
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Event>> {
        let Some(id) = self.event else {
            return Ok(None);
        };
        Ok(load_events(ctx, &[id]).await?.into_iter().next())
    }
}

impl From<&kpi_domain::DefinitionChange> for DefinitionChange {
    fn from(step: &kpi_domain::DefinitionChange) -> Self {
        let mut view = DefinitionChange {
            event_id: step.event_id.map(|id| ID(id.to_string())),
            position: step.position,
            recorded_at: step.recorded_at,
            actor: step.actor.clone(),
            decided_on: step.decided_on.map(|day| Date(day.to_string())),
            kind: DefinitionChangeKind::Configured,
            description: step.change.describe(),
            kpi: None,
            previous_target: None,
            target: None,
            fiscal_year: None,
            successor: None,
            fiscal_years: years(&step.definition),
            event: step.event_id,
        };
        match &step.change {
            Change::Configured => {}
            Change::Adopted => view.kind = DefinitionChangeKind::Adopted,
            Change::PeriodExtended { to, .. } => {
                view.kind = DefinitionChangeKind::PeriodExtended;
                view.fiscal_year = Some((*to).into());
            }
            Change::TargetRevised { kpi, from, to } => {
                view.kind = DefinitionChangeKind::TargetRevised;
                view.kpi = Some(kpi.into());
                view.previous_target = from.as_ref().map(Into::into);
                view.target = Some(to.into());
            }
            Change::KpiAdded { kpi } => {
                view.kind = DefinitionChangeKind::KpiAdded;
                view.kpi = Some(kpi.into());
            }
            Change::KpiRetired { kpi, last_year } => {
                view.kind = DefinitionChangeKind::KpiRetired;
                view.kpi = Some(kpi.into());
                view.fiscal_year = Some((*last_year).into());
            }
            Change::Transferred {
                successor,
                effective_from,
            } => {
                view.kind = DefinitionChangeKind::Transferred;
                view.successor = Some(ID(successor.clone()));
                view.fiscal_year = Some((*effective_from).into());
            }
        }
        view
    }
}
