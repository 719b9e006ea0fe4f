//! Output types: read-only views of the service's plans, tables, events and findings.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use kpi_domain::plan::{
    LocalizedText as DomainText, Pillar as DomainPillar, Target as DomainTarget,
};
use kpi_service::Envelope;
use serde::Serialize;
use uuid::Uuid;

use crate::error::{internal, require};
use crate::loader::{ledger, load_envelopes, load_events};
use crate::scalars::{Date, DecimalValue, FiscalYearValue};
use kpi_service::auth::Role;

/// `EventType`, one value per kind of the domain's list (`kpi_domain::with_event_kinds!`),
/// serialised as the kind's wire name.
macro_rules! event_type {
    ($( $variant:ident = $name:literal, $family:ident $(, read via $wire:ty)? ; )*) => {
        /// Every kind of event the ledger records.
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[graphql(remote = "kpi_domain::EventKind")]
        pub enum EventType {
            $( #[serde(rename = $name)] $variant, )*
        }
    };
}

kpi_domain::with_event_kinds!(event_type);

/// What a KPI or a figure is counted in.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[graphql(remote = "kpi_domain::Unit")]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Persons,
    Firms,
    Households,
    Organisations,
    Times,
    Percent,
}

/// Whether an activity has taken place or is only planned.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[graphql(remote = "kpi_domain::ActivityStatus")]
#[serde(rename_all = "snake_case")]
pub enum ActivityStatus {
    Held,
    Scheduled,
}

/// Who received a subsidy.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[graphql(remote = "kpi_domain::event::BeneficiaryKind")]
#[serde(rename_all = "snake_case")]
pub enum BeneficiaryKind {
    Household,
    Firm,
}

/// A KPI's main row, or its bracketed secondary row (4b, 5b, 9b).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(remote = "kpi_domain::Series")]
pub enum Series {
    #[default]
    Main,
    B,
}

/// How a target is read.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "kpi_domain::TargetKind")]
pub enum TargetKind {
    /// Reach the value summed over the plan period by its end.
    Cumulative,
    /// Reach the value every year.
    Annual,
    /// At least the value every year.
    AnnualMinimum,
    /// A percentage to reach.
    Rate,
}

/// How a KPI's yearly value is formed from its events.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "kpi_domain::plan::Aggregation")]
pub enum Aggregation {
    /// Sum of the sources' amounts per fiscal year.
    Sum,
    /// The percentage of the latest group (survey wave) of the fiscal year.
    LatestRate,
}

/// What an audit finding is about.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "kpi_domain::FindingKind")]
pub enum FindingKind {
    /// An activity still marked scheduled is counted in a KPI as if it had been held.
    ScheduledCountedAsHeld,
    /// A figure measured in another unit than its KPI's; shown, not summed.
    WrongUnit,
    /// A document's claimed count disagrees with the activities recorded.
    DeclaredTotalMismatch,
    /// A correction or retraction that could not be applied.
    IgnoredAmendment,
    /// Responses to a survey wave that was never recorded.
    SurveyWaveMissing,
    /// More responses than firms asked.
    SurveyResponsesExceedFirmsAsked,
    /// A survey response counted in another fiscal year than its wave's.
    SurveyResponseYearMismatch,
    /// An activity whose fiscal year no plan in force covers: it counts in no KPI.
    OutsideEveryPlan,
    /// A sum left the range of exact arithmetic; the cell shows no figure.
    ArithmeticOverflow,
}

/// A name in both languages of the city's documents.
#[derive(SimpleObject, Debug, Clone)]
pub struct LocalizedText {
    pub ja: String,
    pub en: String,
}

impl From<&DomainText> for LocalizedText {
    fn from(text: &DomainText) -> Self {
        Self {
            ja: text.ja.clone(),
            en: text.en.clone(),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Target {
    pub value: DecimalValue,
    pub kind: TargetKind,
}

impl From<&DomainTarget> for Target {
    fn from(target: &DomainTarget) -> Self {
        Self {
            value: target.value.into(),
            kind: target.kind.into(),
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct Pillar {
    pub id: String,
    pub name: LocalizedText,
}

impl From<&DomainPillar> for Pillar {
    fn from(pillar: &DomainPillar) -> Self {
        Self {
            id: pillar.id.clone(),
            name: (&pillar.name).into(),
        }
    }
}

/// One KPI row of a plan, as defined (no figures).
#[derive(SimpleObject, Debug, Clone)]
pub struct Kpi {
    /// The plan's own number ("2").
    pub id: ID,
    pub series: Series,
    pub pillar: String,
    pub category: Option<LocalizedText>,
    pub name: LocalizedText,
    pub unit: Unit,
    pub target: Option<Target>,
    pub aggregation: Aggregation,
    pub show_cumulative: bool,
    pub show_achievement: bool,
    /// For a retired KPI, the last fiscal year it counts; later cells stay empty.
    pub last_year: Option<FiscalYearValue>,
}

impl From<&kpi_domain::KpiDefinition> for Kpi {
    fn from(kpi: &kpi_domain::KpiDefinition) -> Self {
        Self {
            id: ID(kpi.id.clone()),
            series: kpi.series.into(),
            pillar: kpi.pillar.clone(),
            category: kpi.category.as_ref().map(Into::into),
            name: (&kpi.name).into(),
            unit: kpi.unit.into(),
            target: kpi.target.as_ref().map(Into::into),
            aggregation: kpi.aggregation.into(),
            show_cumulative: kpi.show_cumulative,
            show_achievement: kpi.achievement.show,
            last_year: kpi.last_year.map(Into::into),
        }
    }
}

/// A plan's KPI table: every row with one cell per fiscal year of the plan.
#[derive(SimpleObject, Debug, Clone)]
pub struct KpiTable {
    pub plan_id: ID,
    pub plan_name: LocalizedText,
    pub fiscal_years: Vec<FiscalYearValue>,
    pub rows: Vec<KpiRow>,
    /// The last log position folded into this table.
    pub position: u64,
    /// Transaction time: the instant the table was asked for (only events recorded by then
    /// count), when it is not the current one.
    pub as_of: Option<DateTime<Utc>>,
    /// Valid time: the last day whose activities count, when the table was asked `through`
    /// a date.
    pub through: Option<Date>,
}

impl KpiTable {
    /// Takes the table by value: a cell's drill-down ids can number in the hundreds of
    /// thousands on a long log, and are moved, never copied.
    pub(crate) fn new(
        table: kpi_domain::KpiTable,
        position: u64,
        as_of: Option<DateTime<Utc>>,
        through: Option<chrono::NaiveDate>,
    ) -> Self {
        Self {
            plan_id: ID(table.plan_id),
            plan_name: (&table.plan_name).into(),
            fiscal_years: table.fiscal_years.iter().copied().map(Into::into).collect(),
            rows: table.rows.into_iter().map(KpiRow::from).collect(),
            position,
            as_of,
            through: through.map(|date| Date(date.to_string())),
        }
    }
}

/// One KPI (or its b-series) over the plan's fiscal years.
#[derive(SimpleObject, Debug, Clone)]
pub struct KpiRow {
    pub kpi: ID,
    pub series: Series,
    pub pillar: String,
    pub category: Option<LocalizedText>,
    pub name: LocalizedText,
    pub unit: Unit,
    pub target: Option<Target>,
    /// One per fiscal year of the plan, in order.
    pub cells: Vec<Cell>,
    /// Sum of the counted cells; null when the row shows none or has no figure.
    pub cumulative: Option<DecimalValue>,
    /// Percent of target; null when the row shows none or there is nothing to compare.
    pub achievement: Option<DecimalValue>,
    pub show_cumulative: bool,
    pub show_achievement: bool,
    /// Taken from the predecessor plan's history at a transfer (history rule `COUNTS`), and
    /// counted in the cumulative and the achievement; null otherwise.
    pub baseline: Option<DecimalValue>,
    /// For a retired KPI, the last fiscal year it counts.
    pub last_year: Option<FiscalYearValue>,
}

impl From<kpi_domain::KpiRow> for KpiRow {
    fn from(row: kpi_domain::KpiRow) -> Self {
        Self {
            kpi: ID(row.kpi),
            series: row.series.into(),
            pillar: row.pillar,
            category: row.category.as_ref().map(Into::into),
            name: (&row.name).into(),
            unit: row.unit.into(),
            target: row.target.as_ref().map(Into::into),
            cells: row.cells.into_iter().map(Cell::from).collect(),
            cumulative: row.cumulative.map(Into::into),
            achievement: row.achievement.map(Into::into),
            show_cumulative: row.show_cumulative,
            show_achievement: row.show_achievement,
            baseline: row.baseline.map(Into::into),
            last_year: row.last_year.map(Into::into),
        }
    }
}

/// One fiscal year of one KPI row, with the events behind its figure.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct Cell {
    pub fiscal_year: FiscalYearValue,
    /// The year as the city's tables name it ("R6").
    pub label: String,
    /// Null when no figure was recorded (which is not zero).
    pub value: Option<DecimalValue>,
    /// The figure's unit when it differs from the row's; such a figure is not counted.
    pub unit: Option<Unit>,
    /// Whether the value enters the cumulative and the achievement.
    pub counted: bool,
    // Ids stay binary until a client selects them.
    #[graphql(skip)]
    pub(crate) events: Vec<Uuid>,
    #[graphql(skip)]
    pub(crate) amended_by: Vec<Uuid>,
    #[graphql(skip)]
    pub(crate) late: Vec<Uuid>,
}

impl From<kpi_domain::Cell> for Cell {
    fn from(cell: kpi_domain::Cell) -> Self {
        Self {
            fiscal_year: cell.fiscal_year.into(),
            label: cell.fiscal_year.label(),
            value: cell.value.map(Into::into),
            unit: cell.unit.map(Into::into),
            counted: cell.counted,
            events: cell.event_ids,
            amended_by: cell.amended_by,
            late: cell.late_event_ids,
        }
    }
}

fn ids(ids: &[Uuid]) -> Vec<ID> {
    ids.iter().map(|id| ID(id.to_string())).collect()
}

#[ComplexObject]
impl Cell {
    /// Ids of the events whose contributions make up the value.
    async fn event_ids(&self) -> Vec<ID> {
        ids(&self.events)
    }

    /// Ids of the corrections and retractions that changed this cell.
    async fn amended_by_ids(&self) -> Vec<ID> {
        ids(&self.amended_by)
    }

    /// The contributing events (drill-down), loaded in one batch for the whole answer.
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Event>> {
        load_events(ctx, &self.events).await
    }

    /// The corrections and retractions that changed this cell.
    async fn amended_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Event>> {
        load_events(ctx, &self.amended_by).await
    }

    /// Of `eventIds`, those recorded after the plan was transferred to its successor (late
    /// entries: they count where their fiscal year says).
    async fn late_event_ids(&self) -> Vec<ID> {
        ids(&self.late)
    }

    /// The late entries among the contributing events.
    async fn late_events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Event>> {
        load_events(ctx, &self.late).await
    }

    /// The contributing events (drill-down), each marked late or not.
    async fn contributions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Contribution>> {
        Ok(load_events(ctx, &self.events)
            .await?
            .into_iter()
            .map(|event| Contribution {
                late: self.late.contains(&event.envelope.event_id),
                event,
            })
            .collect())
    }
}

/// One event behind a cell's figure.
#[derive(SimpleObject, Debug, Clone)]
pub struct Contribution {
    /// Recorded after the plan was transferred to its successor (a late entry).
    pub late: bool,
    pub event: Event,
}

/// A stored event: the envelope the store assigned and the payload as recorded.
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) envelope: Arc<Envelope>,
    /// The list the event was answered in, if any.
    list: Option<Arc<EventList>>,
}

/// The events of one list (a page of the log, a cell's drill-down...). A field every event
/// of a list selects is read for all of them at once when the first asks, so a page reads
/// the store once for it, not once per event; the loader's 1 ms batching window alone would
/// split a long page into several reads.
#[derive(Debug)]
pub(crate) struct EventList {
    ids: Vec<Uuid>,
    amendments: tokio::sync::OnceCell<ListAmendments>,
}

/// The amendments of a list's events, from one look at the projection and one batched read.
#[derive(Debug)]
struct ListAmendments {
    by_target: HashMap<Uuid, Vec<Uuid>>,
    envelopes: HashMap<Uuid, Arc<Envelope>>,
}

impl From<Envelope> for Event {
    fn from(envelope: Envelope) -> Self {
        Self::from(Arc::new(envelope))
    }
}

impl From<Arc<Envelope>> for Event {
    fn from(envelope: Arc<Envelope>) -> Self {
        Self {
            envelope,
            list: None,
        }
    }
}

impl Event {
    /// The events of one list, in the order given, sharing the list.
    pub(crate) fn list(envelopes: Vec<Arc<Envelope>>) -> Vec<Event> {
        let list = Arc::new(EventList {
            ids: envelopes.iter().map(|envelope| envelope.event_id).collect(),
            amendments: tokio::sync::OnceCell::new(),
        });
        envelopes
            .into_iter()
            .map(|envelope| Event {
                envelope,
                list: Some(list.clone()),
            })
            .collect()
    }

    fn domain(&self) -> async_graphql::Result<kpi_domain::RecordedEvent> {
        kpi_service::recorded_event(&self.envelope).map_err(internal)
    }
}

#[Object]
impl Event {
    /// UUID assigned by the store.
    async fn id(&self) -> ID {
        ID(self.envelope.event_id.to_string())
    }

    /// Place in the log, gapless from 1.
    async fn position(&self) -> u64 {
        self.envelope.position
    }

    /// SHA-256 of the previous hash and this event's canonical bytes (hex).
    async fn hash(&self) -> String {
        self.envelope.hash.to_hex()
    }

    /// The previous event's hash (the genesis value for position 1).
    async fn prev_hash(&self) -> String {
        self.envelope.prev_hash.to_hex()
    }

    async fn stream_id(&self) -> &str {
        self.envelope.stream_id.as_str()
    }

    /// Place in its stream, gapless from 1.
    async fn stream_version(&self) -> u64 {
        self.envelope.stream_version
    }

    /// The kind of event.
    #[graphql(name = "type")]
    async fn event_type(&self) -> async_graphql::Result<EventType> {
        kpi_domain::EventKind::from_name(&self.envelope.event_type)
            .map(Into::into)
            .ok_or_else(|| {
                internal(format!(
                    "event {} has the unknown type `{}`",
                    self.envelope.event_id, self.envelope.event_type
                ))
            })
    }

    async fn schema_version(&self) -> u32 {
        self.envelope.schema_version
    }

    /// When the activity happened: a date (`2024-04-30`) or an instant (RFC 3339).
    async fn occurred(&self) -> String {
        self.envelope.occurred.to_string()
    }

    /// When the store accepted the event.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.envelope.recorded_at
    }

    /// The name of the token that recorded the event.
    async fn actor(&self) -> &str {
        &self.envelope.actor
    }

    /// Where the figure was taken from, if given.
    async fn provenance(&self) -> Option<&str> {
        self.envelope.provenance.as_deref()
    }

    async fn idempotency_key(&self) -> Option<&str> {
        self.envelope.idempotency_key.as_deref()
    }

    /// The payload as recorded, with the domain's snake_case field names.
    async fn payload(&self) -> &serde_json::Value {
        &self.envelope.payload
    }

    /// The fiscal year whose column the event counts in.
    async fn fiscal_year(&self) -> async_graphql::Result<FiscalYearValue> {
        Ok(self.domain()?.event.fiscal_year().into())
    }

    /// The text a person would search for (title, programme, provider...).
    async fn title(&self) -> async_graphql::Result<Option<String>> {
        Ok(self.domain()?.event.title().map(str::to_owned))
    }

    /// The corrections and retractions recorded against this event, in log order.
    async fn amendments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Event>> {
        require(ctx, Role::Reader)?;
        // The ids come from the projection's index, in memory; only the amendments themselves
        // are read from the store, through the loader.
        let target = self.envelope.event_id;
        let Some(list) = &self.list else {
            return load_events(ctx, &ledger(ctx).amendment_ids_of(target)).await;
        };
        let amendments = list
            .amendments
            .get_or_try_init(|| async {
                let by_target = ledger(ctx).amendment_ids_by_target(&list.ids);
                let ids: Vec<Uuid> = by_target.values().flatten().copied().collect();
                let envelopes = load_envelopes(ctx, &ids).await?;
                Ok::<_, async_graphql::Error>(ListAmendments {
                    by_target,
                    envelopes,
                })
            })
            .await?;
        let ids = amendments
            .by_target
            .get(&target)
            .map_or(&[][..], Vec::as_slice);
        Ok(Event::list(
            ids.iter()
                .filter_map(|id| amendments.envelopes.get(id).cloned())
                .collect(),
        ))
    }

    /// For a correction or retraction: the event it changes.
    async fn target(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Event>> {
        let Some(target) = self.domain()?.event.amendment_target() else {
            return Ok(None);
        };
        Ok(load_events(ctx, &[target]).await?.into_iter().next())
    }
}

/// The last acknowledged position of the log and its hash.
#[derive(SimpleObject, Debug, Clone)]
pub struct Head {
    pub position: u64,
    pub hash: String,
}

impl From<kpi_service::Head> for Head {
    fn from(head: kpi_service::Head) -> Self {
        Self {
            position: head.position,
            hash: head.hash.to_hex(),
        }
    }
}

/// The result of walking the whole hash chain.
#[derive(SimpleObject, Debug, Clone)]
pub struct Verification {
    /// Whether every event up to the head is intact.
    pub ok: bool,
    /// The head the walk proved; null when it failed.
    pub digest: Option<Head>,
    /// The first position found wrong and why; null when ok.
    pub failure: Option<VerificationFailure>,
    /// When the walk that gave this answer finished: a repeat at the same head is answered
    /// by the walk already made.
    pub verified_at: DateTime<Utc>,
}

impl From<&kpi_service::Verification> for Verification {
    fn from(verification: &kpi_service::Verification) -> Self {
        let (digest, failure) = match &verification.result {
            Ok(head) => (Some(Head::from(*head)), None),
            Err(failure) => (
                None,
                Some(VerificationFailure {
                    position: failure.position,
                    reason: failure.reason.to_string(),
                }),
            ),
        };
        Verification {
            ok: failure.is_none(),
            digest,
            failure,
            verified_at: verification.finished_at,
        }
    }
}

#[derive(SimpleObject, Debug, Clone)]
pub struct VerificationFailure {
    pub position: u64,
    pub reason: String,
}

/// Something the log shows that a reader of the published table should know.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct AuditFinding {
    pub kind: FindingKind,
    pub fiscal_year: Option<FiscalYearValue>,
    pub plan_id: Option<ID>,
    pub kpi: Option<ID>,
    pub series: Option<Series>,
    pub event_ids: Vec<ID>,
    pub message: String,
    #[graphql(skip)]
    pub(crate) events: Vec<Uuid>,
}

impl From<&kpi_domain::AuditFinding> for AuditFinding {
    fn from(finding: &kpi_domain::AuditFinding) -> Self {
        Self {
            kind: finding.kind.into(),
            fiscal_year: finding.fiscal_year.map(Into::into),
            plan_id: finding.plan_id.clone().map(ID),
            kpi: finding.kpi.clone().map(ID),
            series: finding.series.map(Into::into),
            event_ids: ids(&finding.event_ids),
            message: finding.message.clone(),
            events: finding.event_ids.clone(),
        }
    }
}

#[ComplexObject]
impl AuditFinding {
    /// The events the finding is about.
    async fn events(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Event>> {
        load_events(ctx, &self.events).await
    }
}
