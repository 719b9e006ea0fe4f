//! The `admin` mutations of the plan lifecycle, each recording one lifecycle event from a
//! domain command, and the live rebuild of the projection.

use std::time::Instant;

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use kpi_domain::command::{
    AddKpi, AdoptPlan, Command, ExtendPlan, FromKpi, Given, MappingEntry, NewTarget, RetireKpi,
    ReviseKpiTarget, TransferPlan,
};
use kpi_service::auth::Role;
use kpi_service::RecordOptions;

use super::transfer::HistoryRule;
use crate::error::{ledger_error, require, Arguments};
use crate::loader::ledger;
use crate::mutation::record;
use crate::scalars::{Date, DecimalValue, FiscalYearValue};
use crate::types::{Event, Series, TargetKind};

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
