//! KPI tables: rows, cells and the events behind each figure (drill-down).

use async_graphql::{ComplexObject, Context, SimpleObject, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ids, Event, LocalizedText, Series, Target, Unit};
use crate::loader::load_events;
use crate::scalars::{Date, DecimalValue, FiscalYearValue};

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
