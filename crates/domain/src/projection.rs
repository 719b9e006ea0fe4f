//! The projection: a pure fold of recorded events into every plan's KPI table.
//!
//! Cost per event is kept small because replay rebuilds projections from the whole log:
//! the plans are compiled once into *routes* per event kind (which rows care, with field
//! accessors resolved to function pointers), so applying an event touches only the rows
//! that select its kind, and nothing is re-read from JSON.
//!
//! Every contribution an event makes is remembered (a few packed bytes in one arena), so a
//! later correction or retraction can take it back exactly and put the replacement's in:
//! both events stay in history, cells list the events behind them and the amendments that
//! changed them.
//!
//! Choices:
//! - A fiscal year with no contribution is `None`, never zero; a contribution of 0 is a
//!   figure.
//! - Only fiscal years of the plan's period are tabulated; an extended plan is a new
//!   projection over the same log.
//! - A figure in a unit other than its row's (KPI 3's "19 firms") is shown in its cell with
//!   its unit and never summed into the cumulative or the achievement.
//! - A `latest_rate` cell shows the rate of the latest survey wave by the wave's date (its
//!   `date`, else the end of its fiscal year), whatever order waves were recorded in; a wave
//!   not recorded is dated by its latest answer in force. Equal dates: the greater wave id.
//! - Two axes of time: as-of is folding the prefix of the log recorded up to an instant
//!   (transaction time, [`Projection::as_of`]); *through* a date counts only activities that
//!   happened by then (valid time, [`Projection::through`]). They combine.
//! - A transferred plan's baseline is *decided* at its transfer: the successor counts the
//!   figures the log held then; later entries and amendments show as an adjustment in the
//!   transfer report, not in the successor's cumulative.
//!
//! Files, one job each:
//! - `output`: the answers as data ([`KpiTable`], [`KpiRow`], [`Cell`], [`ActivitySummary`],
//!   [`SurveyWaveSummary`]).
//! - `routes`: plans compiled into rows and routes ([`Projection::new`]).
//! - `fold`: [`Projection::apply`], the ways into it, and amendments taken back.
//! - `arena`: every event's contributions packed as bytes, found again by byte range.
//! - `cells`: what one cell accumulates, and its figure read from that.
//! - `table`: tables read out of the fold state.
//! - `summaries`: activity and survey statistics.
//! - `notes`: facts kept for audit findings and the rate rule.
//! - `transfer`: baselines decided at a plan's transfer, and the transfer report.
//! - `snapshot`: the fold state as data, for checkpoints.

use std::collections::HashMap;

use chrono::NaiveDate;
use foldhash::fast::RandomState;
use uuid::Uuid;

use crate::calendar::FiscalYear;
use crate::event::DeclaredTotal;
use crate::plan::{Aggregation, PlanDefinition};
use crate::values::Unit;

mod arena;
mod cells;
mod fold;
mod notes;
mod output;
mod routes;
pub mod snapshot;
mod summaries;
mod table;
mod transfer;

use arena::Contributions;
use cells::CellAcc;
use fold::EventIndex;
use notes::{IgnoredAmendment, Notes, ScheduledActivity};
use routes::Route;
use summaries::StatSlot;

pub(crate) use notes::AmendmentProblem;
pub use output::{ActivitySummary, Cell, KpiRow, KpiTable, SurveyWaveSummary};
pub use snapshot::{plans_digest, ProjectionSnapshot, SnapshotMismatch};
pub(crate) use summaries::StatFamily;
pub use transfer::{BaselineOrigin, BaselineSource, TransferEntry, TransferReport};

/// The state of every plan's KPIs after folding a log.
#[derive(Debug, Clone)]
pub struct Projection {
    plans: Vec<PlanDefinition>,
    rows: Vec<RowState>,
    plan_rows: Vec<std::ops::Range<usize>>,
    pub(crate) cells: Vec<CellAcc>,
    routes: Vec<Vec<Route>>,
    events: EventIndex,
    contributions: Contributions,
    stat_index: HashMap<(StatFamily, FiscalYear), HashMap<String, u32, RandomState>, RandomState>,
    pub(crate) stats: Vec<StatSlot>,
    pub(crate) scheduled: HashMap<Uuid, ScheduledActivity>,
    pub(crate) declared: Vec<(Uuid, DeclaredTotal)>,
    pub(crate) ignored_amendments: Vec<IgnoredAmendment>,
    /// Target id -> the corrections and retractions recorded against it, in log order,
    /// whether or not they changed a figure: an event's history is answered from here
    /// instead of reading every amendment in the log. Amendments are rare, so it stays small.
    amendments: HashMap<Uuid, Vec<Uuid>, RandomState>,
    /// Per plan: the position of its transfer; later events are late entries.
    late_after: Vec<Option<u64>>,
    pub(crate) baseline_rows: Vec<BaselineRows>,
    /// Facts about events in force that tables do not show but findings and the rate rule
    /// need.
    pub(crate) notes: Notes,
    /// Valid time: activities that happened after this date are left out.
    through: Option<NaiveDate>,
    applied: u64,
    last_position: u64,
}

#[derive(Debug, Clone)]
struct RowState {
    plan: usize,
    /// Index into the plan's KPIs; `usize::MAX` for a hidden baseline row.
    kpi: usize,
    cell_base: usize,
    unit: Unit,
    aggregation: Aggregation,
    /// A retired KPI's last counted year.
    last_year: Option<FiscalYear>,
}

/// Event selectors of a transfer mapping, folded over the predecessor's period like a KPI row
/// that no table shows.
#[derive(Debug, Clone)]
pub(crate) struct BaselineRows {
    pub(crate) predecessor: usize,
    pub(crate) mapping: usize,
    /// One row per selector, in mapping order.
    pub(crate) rows: Vec<usize>,
}
