//! Plans over GraphQL: the plans in force with their definition history and transfer, the
//! transfer report, the `admin` mutations of the plan lifecycle, and the live rebuild.
//!
//! Like every mutation, a lifecycle mutation only hands the domain what it was given, as a
//! domain command (`kpi_domain::command`): whether a definition parses, a KPI exists or a
//! mapping fits the plans in force is decided by the service (`LedgerEvent::parse`, then the
//! plan registry), whose error names the field.

use std::time::Instant;

use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use kpi_domain::command::{
    AddKpi, AdoptPlan, Command, ExtendPlan, FromKpi, Given, MappingEntry, NewTarget, RetireKpi,
    ReviseKpiTarget, TransferPlan,
};
use kpi_domain::plan::SourceMeasure;
use kpi_domain::registry::PlanEntry;
use kpi_domain::{BaselineOrigin, Change, PlanDefinition, PlanRegistry};
use kpi_service::auth::Role;
use kpi_service::RecordOptions;
use uuid::Uuid;

use crate::error::{ledger_error, require, Arguments};
use crate::loader::{ledger, load_events};
use crate::mutation::record;
use crate::scalars::{Date, DecimalValue, FiscalYearValue};
use crate::types::{
    Event, EventType, Kpi, LocalizedText, Pillar, Series, Target, TargetKind, Unit,
};

/// How a plan came into force.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanSource {
    /// Read from the configuration at start-up.
    Configured,
    /// Adopted by a `plan_adopted` event; its definition is in the log.
    Adopted,
}

/// Whether the predecessor's history becomes a successor KPI's baseline.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "kpi_domain::HistoryRule")]
pub enum HistoryRule {
    /// The predecessor figures are the baseline, counted in the successor's cumulative and
    /// achievement.
    Counts,
    /// The successor starts from nothing; the predecessor figures are reported only.
    Ignored,
}

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

fn years(plan: &PlanDefinition) -> Vec<FiscalYearValue> {
    plan.period.years().into_iter().map(Into::into).collect()
}

/// What a selector takes from each event it selects.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectorMeasure {
    /// The sum of a numeric field.
    Field,
    /// One per event.
    Count,
    /// The percentage of events whose boolean field is true.
    ShareOf,
}

/// A condition of a selector: the payload field's value is one of these.
#[derive(SimpleObject, Debug, Clone)]
pub struct SelectorFilter {
    pub field: String,
    pub one_of: Vec<String>,
}

/// Events selected by kind, conditions and measure (the plan-file source form).
#[derive(SimpleObject, Debug, Clone)]
pub struct EventSelector {
    pub event: EventType,
    pub measure: SelectorMeasure,
    /// The field summed or shared; null for a count.
    pub field: Option<String>,
    pub filters: Vec<SelectorFilter>,
}

impl From<&kpi_domain::plan::SourceDefinition> for EventSelector {
    fn from(source: &kpi_domain::plan::SourceDefinition) -> Self {
        let (measure, field) = match &source.measure {
            SourceMeasure::Field(field) => (SelectorMeasure::Field, Some(field.clone())),
            SourceMeasure::Count => (SelectorMeasure::Count, None),
            SourceMeasure::ShareOf { field, .. } => (SelectorMeasure::ShareOf, Some(field.clone())),
        };
        Self {
            event: source.event.into(),
            measure,
            field,
            filters: source
                .filters
                .iter()
                .map(|filter| SelectorFilter {
                    field: filter.field.clone(),
                    one_of: filter.one_of.clone(),
                })
                .collect(),
        }
    }
}

/// How one successor KPI is fed by the predecessor.
#[derive(SimpleObject, Debug, Clone)]
pub struct KpiMapping {
    pub successor_kpi: KpiRef,
    /// Predecessor KPIs: their cumulative over its period, or the latest figure of a rate.
    pub from_kpis: Vec<KpiRef>,
    /// Events selected over the predecessor's period, summed.
    pub from_events: Vec<EventSelector>,
    pub history: HistoryRule,
}

/// A plan's hand-over to its successor.
#[derive(SimpleObject, Debug, Clone)]
pub struct PlanTransfer {
    pub successor: ID,
    /// The successor's first fiscal year; the plan's table stays as at the end of its period.
    pub effective_from: FiscalYearValue,
    /// Log position of the transfer: events recorded later for the plan's years are late
    /// entries.
    pub position: u64,
    pub mapping: Vec<KpiMapping>,
}

impl From<&kpi_domain::PlanTransfer> for PlanTransfer {
    fn from(transfer: &kpi_domain::PlanTransfer) -> Self {
        Self {
            successor: ID(transfer.successor.to_string()),
            effective_from: transfer.effective_from.into(),
            position: transfer.position,
            mapping: transfer
                .mapping
                .iter()
                .map(|mapping| KpiMapping {
                    successor_kpi: (&mapping.successor_kpi).into(),
                    from_kpis: mapping.from_kpis.iter().map(Into::into).collect(),
                    from_events: mapping.from_events.iter().map(Into::into).collect(),
                    history: mapping.history.into(),
                })
                .collect(),
        }
    }
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

/// Which kind of history a baseline source is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineSourceKind {
    /// A predecessor KPI.
    Kpi,
    /// Events selected over the predecessor's period.
    Events,
}

/// A part of a successor KPI's baseline and the predecessor figure it gave.
#[derive(SimpleObject, Debug, Clone)]
pub struct BaselineSource {
    pub kind: BaselineSourceKind,
    /// The predecessor KPI (kind `KPI`).
    pub kpi: Option<KpiRef>,
    /// The predecessor KPI's name (kind `KPI`).
    pub name: Option<LocalizedText>,
    /// The kind of events selected (kind `EVENTS`).
    pub event: Option<EventType>,
    /// What is taken from them, e.g. "sum of participants" (kind `EVENTS`).
    pub measure: Option<String>,
    /// The figure over the predecessor's period as decided at the transfer: a cumulative, or
    /// a rate's latest figure. Null when the history had no figure for it.
    pub figure: Option<DecimalValue>,
    /// The same figure as the log holds it now, late entries and later amendments included.
    pub current: Option<DecimalValue>,
}

impl From<&kpi_domain::BaselineSource> for BaselineSource {
    fn from(source: &kpi_domain::BaselineSource) -> Self {
        let figure = source.figure.map(Into::into);
        let current = source.current.map(Into::into);
        match &source.origin {
            BaselineOrigin::Kpi { kpi, name } => Self {
                kind: BaselineSourceKind::Kpi,
                kpi: Some(kpi.into()),
                name: Some(name.into()),
                event: None,
                measure: None,
                figure,
                current,
            },
            BaselineOrigin::Events { event, measure } => Self {
                kind: BaselineSourceKind::Events,
                kpi: None,
                name: None,
                event: Some((*event).into()),
                measure: Some(measure.clone()),
                figure,
                current,
            },
        }
    }
}

/// One successor KPI in a transfer report.
#[derive(SimpleObject, Debug, Clone)]
pub struct TransferEntry {
    pub successor_kpi: ID,
    pub series: Series,
    pub name: LocalizedText,
    pub unit: Unit,
    /// The mapping's history rule; null for a new KPI with no predecessor.
    pub history: Option<HistoryRule>,
    /// What the mapping takes from the predecessor, with the figures.
    pub sources: Vec<BaselineSource>,
    /// The baseline as decided at the transfer: what counts toward the successor's cumulative
    /// and achievement, and never moves afterwards. Null when the history is ignored, the KPI
    /// is new, or the history had no figure.
    pub baseline: Option<DecimalValue>,
    /// The baseline the predecessor's history gives now, late entries and later amendments
    /// included; shown, not counted.
    pub current_baseline: Option<DecimalValue>,
    /// `currentBaseline - baseline` when they differ: what late entries and later amendments
    /// moved; null when nothing did.
    pub adjustment: Option<DecimalValue>,
    /// The late entries and later amendments behind the adjustment.
    pub adjustment_event_ids: Vec<ID>,
}

/// A transfer as the projection sees it: for each successor KPI, the mapping used, the
/// predecessor figures and the baseline they give.
#[derive(SimpleObject, Debug, Clone)]
pub struct TransferReport {
    pub predecessor: ID,
    pub predecessor_name: LocalizedText,
    pub predecessor_years: Vec<FiscalYearValue>,
    pub successor: ID,
    pub successor_name: LocalizedText,
    pub effective_from: FiscalYearValue,
    /// Every KPI of the successor, in its order.
    pub entries: Vec<TransferEntry>,
}

impl From<kpi_domain::TransferReport> for TransferReport {
    fn from(report: kpi_domain::TransferReport) -> Self {
        Self {
            predecessor: ID(report.predecessor),
            predecessor_name: (&report.predecessor_name).into(),
            predecessor_years: report
                .predecessor_years
                .into_iter()
                .map(Into::into)
                .collect(),
            successor: ID(report.successor),
            successor_name: (&report.successor_name).into(),
            effective_from: report.effective_from.into(),
            entries: report
                .entries
                .iter()
                .map(|entry| TransferEntry {
                    successor_kpi: ID(entry.successor_kpi.kpi.to_string()),
                    series: entry.successor_kpi.series.into(),
                    name: (&entry.name).into(),
                    unit: entry.unit.into(),
                    history: entry.history.map(Into::into),
                    sources: entry.sources.iter().map(Into::into).collect(),
                    baseline: entry.baseline.map(Into::into),
                    current_baseline: entry.current_baseline.map(Into::into),
                    adjustment: entry.adjustment.map(Into::into),
                    adjustment_event_ids: entry
                        .adjustment_event_ids
                        .iter()
                        .map(|id| ID(id.to_string()))
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The transfer report of a transferred plan.
pub(crate) async fn transfer_report(
    ctx: &Context<'_>,
    plan: &str,
) -> async_graphql::Result<TransferReport> {
    ledger(ctx)
        .transfer_report(plan)
        .map(Into::into)
        .map_err(ledger_error)
}

/// A target as a revision states it.
#[derive(InputObject, Debug, Clone)]
pub struct TargetInput {
    /// The value, exact: a string such as "2000" or "50.0", or an integer.
    pub value: DecimalValue,
    pub kind: TargetKind,
}

/// One KPI of the predecessor.
#[derive(InputObject, Debug, Clone)]
pub struct KpiRefInput {
    pub kpi: ID,
    #[graphql(default)]
    pub series: Series,
}

/// How one successor KPI is fed by the predecessor's history.
#[derive(InputObject, Debug, Clone)]
pub struct KpiMappingInput {
    /// The successor KPI's number.
    pub successor_kpi: ID,
    /// The successor KPI's series.
    #[graphql(default)]
    pub series: Series,
    /// Predecessor KPIs feeding it.
    #[graphql(default)]
    pub from_kpis: Vec<KpiRefInput>,
    /// Event selectors in the plan-file source form, e.g.
    /// `{event: "skill_training", field: "participants"}`, summed over the predecessor's period.
    #[graphql(default)]
    pub from_events: Vec<serde_json::Value>,
    pub history: HistoryRule,
}

impl KpiMappingInput {
    fn entry(&self) -> MappingEntry {
        MappingEntry {
            successor_kpi: self.successor_kpi.to_string(),
            series: kpi_domain::Series::from(self.series).into(),
            from_kpis: self
                .from_kpis
                .iter()
                .map(|from| FromKpi {
                    kpi: from.kpi.to_string(),
                    series: kpi_domain::Series::from(from.series).into(),
                })
                .collect(),
            from_events: self.from_events.clone(),
            history: kpi_domain::HistoryRule::from(self.history).into(),
        }
    }
}

/// A series argument: the main row when not given.
fn series_given(series: Option<Series>) -> Given {
    kpi_domain::Series::from(series.unwrap_or_default()).into()
}

fn key(idempotency_key: Option<String>) -> RecordOptions {
    RecordOptions {
        idempotency_key,
        ..RecordOptions::default()
    }
}

/// Records a lifecycle event: `admin` only; a refusal names the argument (`whole` when the
/// event as a whole is at fault, e.g. recorded twice).
async fn change<C: Command>(
    ctx: &Context<'_>,
    command: C,
    idempotency_key: Option<String>,
    whole: &'static str,
) -> async_graphql::Result<Event> {
    record(
        ctx,
        Role::Admin,
        C::KIND,
        command.payload(),
        key(idempotency_key),
        Arguments::Lifecycle { whole },
    )
    .await
}

/// Where a rebuild left the live projection.
#[derive(SimpleObject, Debug, Clone)]
pub struct RebuildResult {
    /// The plans of the projection now live, in order.
    pub plan_ids: Vec<ID>,
    /// Events folded beside the live projection.
    pub events_folded: u64,
    /// Events appended meanwhile, folded just before the swap.
    pub events_caught_up: u64,
    /// The log position the new projection reflected when it was swapped in.
    pub position: u64,
    /// Wall time of the rebuild, in milliseconds.
    pub duration_ms: u64,
}

/// The plan lifecycle: every change of a plan's definition is an event in the log, so the
/// definition in force at any time can be read back. All need the `admin` role.
#[derive(Default)]
pub struct PlanMutations;

#[Object]
impl PlanMutations {
    /// Adopts a plan with its whole definition (the TOML text of a `config/plans/*.toml`
    /// file). A configured plan of the same id is replaced by the recorded definition.
    async fn adopt_plan(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plan's TOML definition.")] definition: String,
        #[graphql(desc = "When the plan was adopted.")] adopted_on: Date,
        #[graphql(
            desc = "Makes a retry harmless: the same key with the same change returns the event first recorded; the same key with another change is a CONFLICT."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Event> {
        let adopt = AdoptPlan {
            definition,
            adopted_on: adopted_on.0,
        };
        change(ctx, adopt, idempotency_key, "definition").await
    }

    /// Moves a plan's last fiscal year later; the table gains the new years' columns.
    async fn extend_plan(
        &self,
        ctx: &Context<'_>,
        plan_id: ID,
        #[graphql(desc = "The new last fiscal year, after the current one.")] last: FiscalYearValue,
        decided_on: Date,
        reason: String,
        #[graphql(
            desc = "Makes a retry harmless: the same key with the same change returns the event first recorded; the same key with another change is a CONFLICT."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Event> {
        let extend = ExtendPlan {
            plan_id: plan_id.0,
            last: last.0.into(),
            decided_on: decided_on.0,
            reason,
        };
        change(ctx, extend, idempotency_key, "planId").await
    }

    /// Replaces a KPI's target.
    #[allow(clippy::too_many_arguments)]
    async fn revise_kpi_target(
        &self,
        ctx: &Context<'_>,
        plan_id: ID,
        kpi: ID,
        #[graphql(desc = "The main row when not given, or the b-series row.")] series: Option<
            Series,
        >,
        target: TargetInput,
        decided_on: Date,
        reason: String,
        #[graphql(
            desc = "Makes a retry harmless: the same key with the same change returns the event first recorded; the same key with another change is a CONFLICT."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Event> {
        let revise = ReviseKpiTarget {
            plan_id: plan_id.0,
            kpi: kpi.0,
            series: Some(series_given(series)),
            target: NewTarget {
                value: target.value.0.into(),
                kind: kpi_domain::TargetKind::from(target.kind).into(),
            },
            decided_on: decided_on.0,
            reason,
        };
        change(ctx, revise, idempotency_key, "planId").await
    }

    /// Adds a KPI to a plan in force.
    async fn add_kpi(
        &self,
        ctx: &Context<'_>,
        plan_id: ID,
        #[graphql(desc = "The KPI written as the body of a `[[kpis]]` table of a plan file.")]
        definition: String,
        decided_on: Date,
        reason: Option<String>,
        #[graphql(
            desc = "Makes a retry harmless: the same key with the same change returns the event first recorded; the same key with another change is a CONFLICT."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Event> {
        let add = AddKpi {
            plan_id: plan_id.0,
            definition,
            decided_on: decided_on.0,
            reason,
        };
        change(ctx, add, idempotency_key, "planId").await
    }

    /// Retires a KPI: it counts up to `lastYear` and shows no figure after it.
    #[allow(clippy::too_many_arguments)]
    async fn retire_kpi(
        &self,
        ctx: &Context<'_>,
        plan_id: ID,
        kpi: ID,
        #[graphql(desc = "The main row when not given, or the b-series row.")] series: Option<
            Series,
        >,
        #[graphql(desc = "The last fiscal year the KPI counts, within the plan's period.")]
        last_year: FiscalYearValue,
        decided_on: Date,
        reason: String,
        #[graphql(
            desc = "Makes a retry harmless: the same key with the same change returns the event first recorded; the same key with another change is a CONFLICT."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Event> {
        let retire = RetireKpi {
            plan_id: plan_id.0,
            kpi: kpi.0,
            series: Some(series_given(series)),
            last_year: last_year.0.into(),
            decided_on: decided_on.0,
            reason,
        };
        change(ctx, retire, idempotency_key, "planId").await
    }

    /// Hands a plan over to its successor (adopted first) from the year after the plan's
    /// last. The plan's table stays as at the end of its period; each mapped successor KPI
    /// takes its baseline from the plan's history as the mapping says.
    #[allow(clippy::too_many_arguments)]
    async fn transfer_plan(
        &self,
        ctx: &Context<'_>,
        plan_id: ID,
        successor: ID,
        #[graphql(desc = "The successor's first fiscal year: the year after the plan's last.")]
        effective_from: FiscalYearValue,
        decided_on: Date,
        #[graphql(desc = "One entry per successor KPI fed by the plan; a KPI without one is new.")]
        mapping: Vec<KpiMappingInput>,
        #[graphql(
            desc = "Makes a retry harmless: the same key with the same change returns the event first recorded; the same key with another change is a CONFLICT."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Event> {
        let transfer = TransferPlan {
            plan_id: plan_id.0,
            successor: successor.0,
            effective_from: effective_from.0.into(),
            decided_on: decided_on.0,
            mapping: mapping
                .iter()
                .map(KpiMappingInput::entry)
                .collect::<Vec<_>>()
                .into(),
        };
        change(ctx, transfer, idempotency_key, "planId").await
    }

    /// Replays the whole log under the plans in force into a new projection beside the live
    /// one, then swaps it in: reads never wait and no event recorded meanwhile is missed.
    /// Needs the `admin` role.
    async fn rebuild_projection(&self, ctx: &Context<'_>) -> async_graphql::Result<RebuildResult> {
        let caller = require(ctx, Role::Admin)?;
        let ledger = ledger(ctx);
        let started = Instant::now();
        // Under the plans in force (the registry), read atomically with its position so a
        // lifecycle change racing with this rebuild is not undone by it.
        let report = ledger.rebuild_in_force().await.map_err(ledger_error)?;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            actor = caller.actor().unwrap_or("anonymous"),
            position = report.position,
            events_folded = report.events_folded,
            events_caught_up = report.events_caught_up,
            duration_ms,
            "projection rebuilt over GraphQL"
        );
        Ok(RebuildResult {
            plan_ids: report.plan_ids.into_iter().map(ID).collect(),
            events_folded: report.events_folded,
            events_caught_up: report.events_caught_up,
            position: report.position,
            duration_ms,
        })
    }
}
