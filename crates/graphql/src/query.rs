//! Queries: plans, KPI tables (now, as of an instant, through a date), one KPI's history with
//! drill-down, the event log as a Relay connection, one event, verification, audit findings and
//! the head. Every query needs the `reader` role.

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, InputObject, Object, ID};
use chrono::{DateTime, NaiveDate, Utc};
use kpi_service::auth::Role;
use kpi_service::{Detail, EventFilter, Ledger, LedgerError, TableQuery, View};
use uuid::Uuid;

use crate::error::{bad_argument, internal, ledger_error, not_found, require};
use crate::loader::{ledger, load_events};
use crate::plans::{self, Plan, TransferReport};
use crate::scalars::{Date, FiscalYearValue};
use crate::types::{AuditFinding, Event, EventType, Head, KpiRow, KpiTable, Series, Verification};

/// Events listed when `first` is not given.
const DEFAULT_PAGE: i32 = 20;
/// Largest page of events one request may ask for.
const MAX_PAGE: i32 = 500;
/// What `verification` counts against the complexity limit: a walk reads the whole log, so
/// four of them exceed the default limit of 2,000 (and 50 aliases far exceed it).
pub(crate) const VERIFICATION_COST: usize = 500;

/// Which events to list; every condition given must hold.
#[derive(InputObject, Debug, Clone, Default)]
#[graphql(name = "EventFilter")]
pub struct EventFilterInput {
    /// Only events of this kind.
    #[graphql(name = "type")]
    pub event_type: Option<EventType>,
    /// Only events of this stream, e.g. `seminar/2024`.
    pub stream: Option<String>,
    /// Only events counting in this fiscal year.
    pub fiscal_year: Option<FiscalYearValue>,
    /// Only events recorded at or after this instant.
    pub recorded_from: Option<DateTime<Utc>>,
    /// Only events recorded at or before this instant.
    pub recorded_to: Option<DateTime<Utc>>,
    /// Only events whose title contains this text, ignoring case.
    pub title_contains: Option<String>,
}

impl EventFilterInput {
    fn into_service(self) -> async_graphql::Result<EventFilter> {
        let fiscal_year = self
            .fiscal_year
            .map(|year| {
                year.parse()
                    .map_err(|reason| bad_argument("filter.fiscalYear", reason))
            })
            .transpose()?;
        Ok(EventFilter {
            event_type: self
                .event_type
                .map(|kind| kpi_domain::EventKind::from(kind).name().to_owned()),
            stream: self.stream,
            fiscal_year,
            recorded_from: self.recorded_from,
            recorded_to: self.recorded_to,
            title_contains: self.title_contains,
            ..EventFilter::default()
        })
    }
}

/// Every query: plans and tables, the event log, verification, and the ledger's proofs.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(LedgerQuery, crate::proofs::ProofQuery);

#[derive(Default)]
pub struct LedgerQuery;

#[Object]
impl LedgerQuery {
    /// Every plan in force (configured or adopted), with its KPIs and definition history.
    async fn plans(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Plan>> {
        require(ctx, Role::Reader)?;
        Ok(plans::plans(ctx))
    }

    /// One plan in force by id; null when there is none.
    async fn plan(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Plan>> {
        require(ctx, Role::Reader)?;
        Ok(plans::plan(ctx, id.as_str()))
    }

    /// How a transferred plan's history feeds its successor: for each successor KPI, the
    /// mapping used, the predecessor figures and the baseline they give.
    async fn transfer_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id of the transferred (predecessor) plan.")] plan: ID,
    ) -> async_graphql::Result<TransferReport> {
        require(ctx, Role::Reader)?;
        plans::transfer_report(ctx, plan.as_str()).await
    }

    /// A plan's KPI table now; or as recorded up to `asOf` (transaction time: later events,
    /// corrections included, left out); or counting only the activities that happened by
    /// `through` (valid time: "the table at the end of R6" is `through: "2025-03-31"`). The
    /// two combine.
    async fn kpi_table(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plan's id, e.g. \"telework-roadmap\".")] plan: ID,
        #[graphql(
            desc = "Transaction time: the table as it stood at this instant, from the events recorded by then."
        )]
        as_of: Option<DateTime<Utc>>,
        #[graphql(
            desc = "Valid time: count only activities that happened on or before this date (in Japan), e.g. \"2025-03-31\" for the end of R6."
        )]
        through: Option<Date>,
    ) -> async_graphql::Result<KpiTable> {
        require(ctx, Role::Reader)?;
        let cells = ctx.look_ahead().field("rows").field("cells");
        let drill_down = [
            "eventIds",
            "events",
            "amendedByIds",
            "amendedBy",
            "lateEventIds",
            "lateEvents",
            "contributions",
        ]
        .iter()
        .any(|field| cells.field(field).exists());
        let through = parse_through(through.as_ref())?;
        let (table, position) = table_at(ledger(ctx), &plan, as_of, through, drill_down).await?;
        Ok(KpiTable::new(table, position, as_of, through))
    }

    /// One KPI row over the plan's fiscal years; each cell lists the events behind it.
    async fn kpi_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The plan's id.")] plan: ID,
        #[graphql(desc = "The KPI's number in the plan, e.g. \"2\".")] kpi: ID,
        #[graphql(
            default,
            desc = "The main row, or the bracketed b-series row (4b, 5b, 9b)."
        )]
        series: Series,
        #[graphql(
            desc = "Transaction time: the row as it stood at this instant, from the events recorded by then."
        )]
        as_of: Option<DateTime<Utc>>,
        #[graphql(
            desc = "Valid time: count only activities that happened on or before this date (in Japan)."
        )]
        through: Option<Date>,
    ) -> async_graphql::Result<KpiRow> {
        require(ctx, Role::Reader)?;
        let through = parse_through(through.as_ref())?;
        let (table, _) = table_at(ledger(ctx), &plan, as_of, through, true).await?;
        let series = kpi_domain::Series::from(series);
        table
            .rows
            .into_iter()
            .find(|row| row.kpi == kpi.as_str() && row.series == series)
            .map(KpiRow::from)
            .ok_or_else(|| {
                not_found(
                    "kpi",
                    format!(
                        "unknown kpi `{}` (series {}) in plan `{}`",
                        kpi.as_str(),
                        series.as_str(),
                        plan.as_str()
                    ),
                )
            })
    }

    /// The event log in position order, filtered; `after` is the cursor of the last event
    /// of the previous page.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilterInput>,
        #[graphql(desc = "Page size, 0 to 500; 20 when not given.")] first: Option<i32>,
        #[graphql(desc = "Cursor of the event to start after.")] after: Option<String>,
    ) -> async_graphql::Result<Connection<u64, Event>> {
        require(ctx, Role::Reader)?;
        let first = match first.unwrap_or(DEFAULT_PAGE) {
            first @ 0..=MAX_PAGE => first as usize,
            other => {
                return Err(bad_argument(
                    "first",
                    format!("must be between 0 and {MAX_PAGE}, got {other}"),
                ))
            }
        };
        let after = match after {
            None => 0,
            Some(cursor) => cursor.parse::<u64>().map_err(|_| {
                bad_argument(
                    "after",
                    format!("`{cursor}` is not a cursor of this connection"),
                )
            })?,
        };
        let filter = filter.unwrap_or_default().into_service()?;
        let ledger = ledger(ctx).clone();
        let page = tokio::task::spawn_blocking(move || ledger.events(&filter, after, first))
            .await
            .map_err(internal)?
            .map_err(ledger_error)?;
        // Paging forward only: whether events precede `after` is not worth a second scan.
        let mut connection = Connection::new(false, page.has_next_page);
        let events = Event::list(
            page.events
                .into_iter()
                .map(|(envelope, _)| Arc::new(envelope))
                .collect(),
        );
        connection.edges.extend(
            events
                .into_iter()
                .map(|event| Edge::new(event.envelope.position, event)),
        );
        Ok(connection)
    }

    /// One event by id, with its corrections and retractions under `amendments`.
    async fn event(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Event>> {
        require(ctx, Role::Reader)?;
        let id = parse_event_id("id", &id)?;
        Ok(load_events(ctx, &[id]).await?.into_iter().next())
    }

    /// Walks the whole hash chain: the head it proves, or the first bad position and why. One
    /// walk runs at a time, shared by every caller at the same head; its answer is kept for
    /// that head (`verifiedAt` says when it finished), and a walk no caller waits for any
    /// more stops. Priced as expensive by the complexity limit.
    // Never answered from the HTTP cache: the service keeps the answer per head itself.
    #[graphql(
        cache_control(no_cache),
        complexity = "VERIFICATION_COST + child_complexity"
    )]
    async fn verification(&self, ctx: &Context<'_>) -> async_graphql::Result<Verification> {
        require(ctx, Role::Reader)?;
        let verification = ledger(ctx).verify().await.map_err(ledger_error)?;
        Ok(Verification::from(&*verification))
    }

    /// What the log shows that a reader of the published tables should know.
    async fn audit_findings(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AuditFinding>> {
        require(ctx, Role::Reader)?;
        Ok(ledger(ctx)
            .audit_findings()
            .iter()
            .map(AuditFinding::from)
            .collect())
    }

    /// The last acknowledged position of the log and its hash.
    async fn head(&self, ctx: &Context<'_>) -> async_graphql::Result<Head> {
        require(ctx, Role::Reader)?;
        Ok(ledger(ctx).head().into())
    }
}

/// A page costs its size times what each event selects, so a deep selection over a large
/// page counts against the complexity limit.
fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let size = first.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE) as usize;
    size.saturating_mul(child_complexity)
}

pub(crate) fn parse_event_id(field: &str, id: &ID) -> async_graphql::Result<Uuid> {
    id.parse::<Uuid>().map_err(|_| {
        bad_argument(
            field,
            format!("`{}` is not an event id (a UUID)", id.as_str()),
        )
    })
}

/// The `through` argument as the domain reads it; a bad date names the argument.
fn parse_through(through: Option<&Date>) -> async_graphql::Result<Option<NaiveDate>> {
    through
        .map(|date| {
            kpi_domain::calendar::parse_through(&date.0)
                .map_err(|reason| bad_argument("through", reason))
        })
        .transpose()
}

/// A plan's table with the log position it reflects, recorded up to `as_of` and counting the
/// activities up to `through` (the live projection when neither is given). Without
/// `drill_down` the cells carry figures only: building every cell's event list costs
/// O(events) and most queries do not select it.
pub(crate) async fn table_at(
    ledger: &Ledger,
    plan: &str,
    as_of: Option<DateTime<Utc>>,
    through: Option<NaiveDate>,
    drill_down: bool,
) -> async_graphql::Result<(kpi_domain::KpiTable, u64)> {
    let detail = if drill_down {
        Detail::DrillDown
    } else {
        Detail::Figures
    };
    let question = TableQuery::new(plan)
        .in_view(View::new(as_of, through))
        .with_detail(detail);
    match ledger.table(&question).await {
        Ok(answer) => Ok((answer.table, answer.position)),
        Err(LedgerError::UnknownPlan(_)) => Err(unknown_plan(ledger, plan)),
        Err(error) => Err(ledger_error(error)),
    }
}

pub(crate) fn unknown_plan(ledger: &Ledger, plan: &str) -> async_graphql::Error {
    let known: Vec<String> = ledger
        .plans()
        .iter()
        .map(|plan| plan.id.to_string())
        .collect();
    not_found(
        "plan",
        format!("unknown plan `{plan}`; known plans: {}", known.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTP shell caches query answers unless the schema marks them `no_cache`;
    /// verification must read the log every time it is asked.
    #[tokio::test]
    async fn verification_is_marked_never_to_be_cached() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(dir.path(), Default::default(), Vec::new())
            .await
            .unwrap();
        let schema = crate::build_schema(ledger.clone());
        let reader = kpi_service::auth::Caller::Token {
            name: "test".into(),
            role: Role::Reader,
        };
        let verification = schema
            .execute(async_graphql::Request::new("{ verification { ok } }").data(reader.clone()))
            .await;
        assert!(verification.errors.is_empty(), "{:?}", verification.errors);
        assert_eq!(verification.cache_control.max_age, -1);
        let head = schema
            .execute(async_graphql::Request::new("{ head { position } }").data(reader))
            .await;
        assert!(head.errors.is_empty(), "{:?}", head.errors);
        assert!(head.cache_control.public && head.cache_control.max_age >= 0);
        ledger.close().await;
    }
}
