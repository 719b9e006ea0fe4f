//! What the projection answers, as data: a plan's KPI table (rows and cells) and the
//! summaries of activities and survey waves. These are plain values; the fold that fills them
//! is in `fold`, reading them out of its state in `table` and `summaries`.

use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use crate::calendar::FiscalYear;
use crate::plan::{KpiDefinition, LocalizedText, Rounding, Series, Target};
use crate::values::Unit;

/// One plan's KPI table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiTable {
    pub plan_id: String,
    pub plan_name: LocalizedText,
    pub fiscal_years: Vec<FiscalYear>,
    pub rows: Vec<KpiRow>,
}

impl KpiTable {
    pub fn row(&self, kpi: &str, series: Series) -> Option<&KpiRow> {
        self.rows
            .iter()
            .find(|row| row.kpi == kpi && row.series == series)
    }
}

/// One row: a KPI or its b-series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiRow {
    pub kpi: String,
    pub series: Series,
    pub pillar: String,
    pub category: Option<LocalizedText>,
    pub name: LocalizedText,
    pub unit: Unit,
    pub target: Option<Target>,
    /// One per fiscal year of the plan's period, in order.
    pub cells: Vec<Cell>,
    /// Sum over the period of the cells in the row's unit; `None` when not shown or no figure.
    pub cumulative: Option<Decimal>,
    /// Percent of target, rounded per the KPI; `None` when not shown or nothing to compare.
    pub achievement: Option<Decimal>,
    pub show_cumulative: bool,
    pub show_achievement: bool,
    /// Taken from the predecessor plan's history at a transfer, and counted in the
    /// cumulative and the achievement.
    pub baseline: Option<Decimal>,
    /// The last fiscal year a retired KPI counts.
    pub last_year: Option<FiscalYear>,
}

impl KpiRow {
    /// A row of `kpi` with its computed figures; the rest is the definition's.
    pub fn of(
        kpi: &KpiDefinition,
        cells: Vec<Cell>,
        cumulative: Option<Decimal>,
        achievement: Option<Decimal>,
        baseline: Option<Decimal>,
    ) -> KpiRow {
        KpiRow {
            kpi: kpi.id.clone(),
            series: kpi.series,
            pillar: kpi.pillar.clone(),
            category: kpi.category.clone(),
            name: kpi.name.clone(),
            unit: kpi.unit,
            target: kpi.target,
            cells,
            cumulative,
            achievement,
            show_cumulative: kpi.show_cumulative,
            show_achievement: kpi.achievement.show,
            baseline,
            last_year: kpi.last_year,
        }
    }

    pub fn cell(&self, year: FiscalYear) -> Option<&Cell> {
        self.cells.iter().find(|cell| cell.fiscal_year == year)
    }
}

/// One fiscal year of one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    pub fiscal_year: FiscalYear,
    /// `None`: no figure (not zero).
    pub value: Option<Decimal>,
    /// The figure's unit when it differs from the row's; such a figure is not counted.
    pub unit: Option<Unit>,
    /// Whether the value enters the cumulative and the achievement.
    pub counted: bool,
    /// Events whose contribution makes up the value (drill-down).
    pub event_ids: Vec<Uuid>,
    /// Corrections and retractions that changed this cell.
    pub amended_by: Vec<Uuid>,
    /// Of `event_ids`, those recorded after the plan was transferred (late entries).
    pub late_event_ids: Vec<Uuid>,
}

/// Totals of one kind of activity in one fiscal year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ActivitySummary {
    pub events: u64,
    pub sessions: u64,
    /// Unique participants (seminars), participants (trainings), persons (consultations).
    pub participants: u64,
    /// Person-sessions (seminars only).
    pub attendances: u64,
}

/// One survey wave as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SurveyWaveSummary {
    pub wave_id: String,
    pub fiscal_year: FiscalYear,
    /// `None` while the wave itself has not been recorded.
    pub firms_asked: Option<u64>,
    pub responses: u64,
    pub practising_telework: u64,
    pub job_openings: u64,
}

impl SurveyWaveSummary {
    /// Responses per firms asked, in percent (the report truncates: 35.4).
    pub fn response_rate(&self, rounding: Rounding) -> Option<Decimal> {
        let asked = self.firms_asked?;
        rounding.percent(Decimal::from(self.responses), Decimal::from(asked))
    }

    /// Respondents practising telework per respondents, in percent.
    pub fn telework_rate(&self, rounding: Rounding) -> Option<Decimal> {
        rounding.percent(
            Decimal::from(self.practising_telework),
            Decimal::from(self.responses),
        )
    }
}
