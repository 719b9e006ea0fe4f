//! The projection: a pure fold of recorded events into every plan's KPI table.
//!
//! Cost per event is kept small because replay rebuilds projections from the whole log:
//! the plans are compiled once into *routes* per event kind (which rows care, with field
//! accessors resolved to function pointers), so applying an event touches only the rows
//! that select its kind, and nothing is re-read from JSON.
//!
//! Every contribution an event makes is remembered (a compact record in one arena), so a
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

use std::collections::HashMap;

use foldhash::fast::RandomState;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::calendar::FiscalYear;
use crate::event::{DeclaredTotal, EventKind, LedgerEvent};
use crate::plan::{
    Aggregation, KpiDefinition, LocalizedText, PlanDefinition, Rounding, Series, Target,
};
use crate::recorded::RecordedEvent;
use crate::values::{ActivityStatus, Unit};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum StatFamily {
    Seminar,
    SkillTraining,
    Consultation,
    Survey,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StatSlot {
    pub(crate) family: StatFamily,
    pub(crate) fiscal_year: FiscalYear,
    pub(crate) label: String,
    pub(crate) totals: [u64; 4],
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct EventState {
    #[serde(with = "snapshot::kind_by_name")]
    pub(crate) kind: EventKind,
    pub(crate) retracted: bool,
    start: u32,
    len: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ScheduledActivity {
    #[serde(with = "snapshot::kind_by_name")]
    pub(crate) kind: EventKind,
    pub(crate) title: String,
    pub(crate) date: NaiveDate,
    pub(crate) counted_in_kpis: bool,
}

/// Something the log says that does not change the tables but a person should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum AmendmentProblem {
    UnknownTarget,
    TargetIsAmendment,
    TargetRetracted,
    KindMismatch {
        #[serde(with = "snapshot::kind_by_name")]
        target: EventKind,
        #[serde(with = "snapshot::kind_by_name")]
        replacement: EventKind,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IgnoredAmendment {
    pub(crate) amendment: Uuid,
    pub(crate) target: Uuid,
    pub(crate) problem: AmendmentProblem,
}

/// Event id -> its state. Store ids are UUID v7, so they nearly always arrive in increasing
/// order: those go to a sorted vector (an append, no hashing, found again by binary search
/// when amended); the rare id that arrives out of order goes to a map.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct EventIndex {
    sorted: Vec<(Uuid, EventState)>,
    unordered: HashMap<Uuid, EventState, RandomState>,
}

impl EventIndex {
    fn position(&self, id: Uuid) -> Option<usize> {
        self.sorted.binary_search_by_key(&id, |(key, _)| *key).ok()
    }

    fn get(&self, id: Uuid) -> Option<EventState> {
        match self.position(id) {
            Some(index) => Some(self.sorted[index].1),
            None => self.unordered.get(&id).copied(),
        }
    }

    fn insert(&mut self, id: Uuid, state: EventState) {
        if self.sorted.last().is_none_or(|(last, _)| *last < id) {
            self.sorted.push((id, state));
        } else if let Some(index) = self.position(id) {
            self.sorted[index].1 = state;
        } else {
            self.unordered.insert(id, state);
        }
    }

    fn reserve(&mut self, additional: usize) {
        self.sorted.reserve(additional);
    }
}

/// The state of every plan's KPIs after folding a log.
#[derive(Debug, Clone)]
pub struct Projection {
    plans: Vec<PlanDefinition>,
    rows: Vec<RowState>,
    plan_rows: Vec<std::ops::Range<usize>>,
    pub(crate) cells: Vec<CellAcc>,
    routes: Vec<Vec<Route>>,
    events: EventIndex,
    contributions: Vec<Contribution>,
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

/// A recorded survey wave in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WaveNote {
    pub(crate) event: Uuid,
    pub(crate) wave_id: String,
    pub(crate) on: NaiveDate,
    pub(crate) fiscal_year: FiscalYear,
}

/// A survey response in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResponseNote {
    pub(crate) event: Uuid,
    pub(crate) wave_id: String,
    pub(crate) fiscal_year: FiscalYear,
}

/// An activity in force whose fiscal year no plan's period covers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OutsideNote {
    pub(crate) event: Uuid,
    #[serde(with = "snapshot::kind_by_name")]
    pub(crate) kind: EventKind,
    pub(crate) fiscal_year: FiscalYear,
}

/// A transferred plan's figures as the log held them at its transfer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Decided {
    /// Every cell's figures, indexed like `Projection::cells`.
    pub(crate) figures: Vec<cells::Figures>,
    /// Every cell's `amended_by` length then: later entries are the adjustment's amendments.
    pub(crate) amended: Vec<u32>,
    pub(crate) waves: Vec<WaveNote>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Notes {
    pub(crate) waves: Vec<WaveNote>,
    /// By event id: an amendment removes its target's note without a scan (responses can be a
    /// large share of the log).
    pub(crate) responses: HashMap<Uuid, ResponseNote, RandomState>,
    pub(crate) outside: HashMap<Uuid, OutsideNote, RandomState>,
    /// Per plan, once the fold passed its transfer.
    pub(crate) decided: Vec<Option<Decided>>,
}

impl Projection {
    /// An empty projection computing the tables of `plans`.
    pub fn new(plans: Vec<PlanDefinition>) -> Projection {
        let mut rows = Vec::new();
        let mut plan_rows = Vec::new();
        let mut routes: Vec<Vec<Route>> = vec![Vec::new(); EventKind::COUNT];
        let mut cell_count = 0;
        for (plan_index, plan) in plans.iter().enumerate() {
            let first_row = rows.len();
            for (kpi_index, kpi) in plan.kpis.iter().enumerate() {
                let row = rows.len() as u32;
                rows.push(RowState {
                    plan: plan_index,
                    kpi: kpi_index,
                    cell_base: cell_count,
                    unit: kpi.unit,
                    aggregation: kpi.aggregation,
                    last_year: kpi.last_year,
                });
                cell_count += plan.period.len();
                for source in &kpi.sources {
                    routes[source.event.index()].push(Route::compile(source, row));
                }
            }
            plan_rows.push(first_row..rows.len());
        }
        let mut baseline_rows = Vec::new();
        for (predecessor, plan) in plans.iter().enumerate() {
            let Some(transfer) = &plan.transfer else {
                continue;
            };
            let successor = plans
                .iter()
                .find(|candidate| candidate.id == transfer.successor);
            for (mapping_index, mapping) in transfer.mapping.iter().enumerate() {
                let unit = successor
                    .and_then(|successor| {
                        successor.kpi(
                            mapping.successor_kpi.kpi.as_str(),
                            mapping.successor_kpi.series,
                        )
                    })
                    .map(|kpi| kpi.unit);
                let (Some(unit), false) = (unit, mapping.from_events.is_empty()) else {
                    continue;
                };
                let mut selector_rows = Vec::new();
                for source in &mapping.from_events {
                    let row = rows.len();
                    rows.push(RowState {
                        plan: predecessor,
                        kpi: usize::MAX,
                        cell_base: cell_count,
                        unit,
                        aggregation: Aggregation::Sum,
                        last_year: None,
                    });
                    cell_count += plan.period.len();
                    routes[source.event.index()].push(Route::compile(source, row as u32));
                    selector_rows.push(row);
                }
                baseline_rows.push(BaselineRows {
                    predecessor,
                    mapping: mapping_index,
                    rows: selector_rows,
                });
            }
        }
        let plan_count = plans.len();
        let late_after = plans
            .iter()
            .map(|plan| plan.transfer.as_ref().map(|transfer| transfer.position))
            .collect();
        Projection {
            plans,
            rows,
            plan_rows,
            cells: vec![CellAcc::default(); cell_count],
            routes,
            events: EventIndex::default(),
            contributions: Vec::new(),
            stat_index: HashMap::default(),
            stats: Vec::new(),
            scheduled: HashMap::new(),
            declared: Vec::new(),
            ignored_amendments: Vec::new(),
            amendments: HashMap::default(),
            late_after,
            baseline_rows,
            notes: Notes {
                decided: vec![None; plan_count],
                ..Notes::default()
            },
            through: None,
            applied: 0,
            last_position: 0,
        }
    }
}

impl Projection {
    /// Makes room for `additional` more events, so a replay of a log of known length does not
    /// pay for growing its maps and lists (the store knows its last position).
    pub fn reserve(&mut self, additional: usize) {
        self.events.reserve(additional);
        self.contributions.reserve(additional.saturating_mul(2));
    }

    /// Folds a whole log.
    pub fn replay<'a>(
        plans: Vec<PlanDefinition>,
        events: impl IntoIterator<Item = &'a RecordedEvent>,
    ) -> Projection {
        let mut projection = Projection::new(plans);
        for event in events {
            projection.apply(event);
        }
        projection
    }

    /// An empty projection that counts only activities that happened on or before `through`
    /// (valid time: "the table at the end of R6" is through 2025-03-31). An activity's day is
    /// [`LedgerEvent::occurred_on`]; a corrected one is judged by its replacement.
    pub fn through(plans: Vec<PlanDefinition>, through: Option<NaiveDate>) -> Projection {
        Projection {
            through,
            ..Projection::new(plans)
        }
    }

    /// The valid-time limit this projection was built with.
    pub fn through_date(&self) -> Option<NaiveDate> {
        self.through
    }

    /// Folds the prefix of the log recorded at or before `at`. The log is in position order
    /// and the store stamps `recorded_at` in that order, so the prefix ends at the first event
    /// recorded later.
    pub fn as_of<'a>(
        plans: Vec<PlanDefinition>,
        events: impl IntoIterator<Item = &'a RecordedEvent>,
        at: DateTime<Utc>,
    ) -> Projection {
        Self::replay(
            plans,
            events
                .into_iter()
                .take_while(|event| event.recorded_at <= at),
        )
    }

    pub fn plans(&self) -> &[PlanDefinition] {
        &self.plans
    }

    /// Events folded so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Position of the last event folded (0 before any).
    pub fn last_position(&self) -> u64 {
        self.last_position
    }

    /// The ids of the corrections and retractions folded so far that name `target`, in log
    /// order, including those that changed nothing (an unsuitable target is an audit
    /// finding, still part of the event's history).
    pub fn amendments_of(&self, target: Uuid) -> &[Uuid] {
        self.amendments.get(&target).map_or(&[], Vec::as_slice)
    }

    /// Folds one event. Amendments of unknown or unsuitable targets change nothing and
    /// surface as audit findings.
    pub fn apply(&mut self, recorded: &RecordedEvent) {
        self.applied += 1;
        self.last_position = self.last_position.max(recorded.position);
        self.decide_transfers(recorded.position);
        match &recorded.event {
            LedgerEvent::Correction(correction) => {
                self.record_amendment(correction.target, recorded.id);
                self.amend(
                    recorded.id,
                    correction.target,
                    Some(&correction.replacement),
                    recorded.position,
                );
                self.register_amendment(recorded.id, EventKind::Correction);
            }
            LedgerEvent::Retraction(retraction) => {
                self.record_amendment(retraction.target, recorded.id);
                self.amend(recorded.id, retraction.target, None, recorded.position);
                self.register_amendment(recorded.id, EventKind::Retraction);
            }
            // Definitions in force are the registry's business; the projection is built under
            // them and counts activities only.
            event if event.kind().is_lifecycle() => {}
            event => {
                let start = self.contributions.len() as u32;
                self.contribute(recorded.id, event, None, recorded.position);
                let len = self.contributions.len() as u32 - start;
                self.events.insert(
                    recorded.id,
                    EventState {
                        kind: event.kind(),
                        retracted: false,
                        start,
                        len,
                    },
                );
            }
        }
    }

    /// Keeps each transferred plan's figures as they stood at its transfer, before the first
    /// later event is folded.
    fn decide_transfers(&mut self, position: u64) {
        for plan in 0..self.plans.len() {
            let passed = self.late_after[plan].is_some_and(|transfer| position > transfer);
            if passed && self.notes.decided[plan].is_none() {
                self.notes.decided[plan] = Some(self.decided_now());
            }
        }
    }

    pub(crate) fn decided_now(&self) -> Decided {
        Decided {
            figures: self.cells.iter().map(|cell| cell.figures.clone()).collect(),
            amended: self
                .cells
                .iter()
                .map(|cell| cell.amended_by.len() as u32)
                .collect(),
            waves: self.notes.waves.clone(),
        }
    }

    /// The recorded wave of `wave_id` in force, if any.
    pub(crate) fn wave_note(&self, wave_id: &str) -> Option<&WaveNote> {
        self.notes
            .waves
            .iter()
            .rev()
            .find(|wave| wave.wave_id == wave_id)
    }

    /// The first cell index of each row of a plan, in row order.
    pub(crate) fn plan_rows_of(&self, plan_id: &str) -> Vec<usize> {
        self.plans
            .iter()
            .position(|plan| plan.id.as_str() == plan_id)
            .map(|plan| {
                self.plan_rows[plan]
                    .clone()
                    .map(|row| self.rows[row].cell_base)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn record_amendment(&mut self, target: Uuid, amendment: Uuid) {
        self.amendments.entry(target).or_default().push(amendment);
    }

    fn register_amendment(&mut self, id: Uuid, kind: EventKind) {
        self.events.insert(
            id,
            EventState {
                kind,
                retracted: false,
                start: 0,
                len: 0,
            },
        );
    }

    fn amend(
        &mut self,
        amendment: Uuid,
        target: Uuid,
        replacement: Option<&LedgerEvent>,
        position: u64,
    ) {
        let ignore = |problem| IgnoredAmendment {
            amendment,
            target,
            problem,
        };
        let Some(state) = self.events.get(target) else {
            self.ignored_amendments
                .push(ignore(AmendmentProblem::UnknownTarget));
            return;
        };
        if state.kind.is_amendment() {
            self.ignored_amendments
                .push(ignore(AmendmentProblem::TargetIsAmendment));
            return;
        }
        if state.retracted {
            self.ignored_amendments
                .push(ignore(AmendmentProblem::TargetRetracted));
            return;
        }
        if let Some(replacement) = replacement {
            if replacement.kind() != state.kind {
                self.ignored_amendments
                    .push(ignore(AmendmentProblem::KindMismatch {
                        target: state.kind,
                        replacement: replacement.kind(),
                    }));
                return;
            }
        }
        let range = state.start as usize..(state.start + state.len) as usize;
        let mut listed = cells::Listed::default();
        for index in range {
            let contribution = self.contributions[index];
            self.take_back(contribution, target, amendment, &mut listed);
        }
        self.scheduled.remove(&target);
        self.declared.retain(|(id, _)| *id != target);
        self.notes.waves.retain(|note| note.event != target);
        self.notes.responses.remove(&target);
        self.notes.outside.remove(&target);
        let new_state = match replacement {
            Some(replacement) => {
                let start = self.contributions.len() as u32;
                self.contribute(target, replacement, Some(amendment), position);
                EventState {
                    start,
                    len: self.contributions.len() as u32 - start,
                    ..state
                }
            }
            None => EventState {
                retracted: true,
                start: 0,
                len: 0,
                ..state
            },
        };
        self.events.insert(target, new_state);
    }

    fn contribute(
        &mut self,
        id: Uuid,
        event: &LedgerEvent,
        amendment: Option<Uuid>,
        position: u64,
    ) {
        if self
            .through
            .is_some_and(|through| event.occurred_on() > through)
        {
            return;
        }
        let year = event.fiscal_year();
        let kind = event.kind();
        let mut counted_in_kpis = false;
        let mut listed = cells::Listed::default();
        for route_index in 0..self.routes[kind.index()].len() {
            let route = &self.routes[kind.index()][route_index];
            let row = &self.rows[route.row as usize];
            let Some(column) = self.plans[row.plan].period.column(year) else {
                continue;
            };
            if row.last_year.is_some_and(|last| year > last) {
                continue;
            }
            let late = self.late_after[row.plan].is_some_and(|after| position > after);
            let of_a_kpi = row.kpi != usize::MAX;
            let cell = (row.cell_base + column) as u32;
            let Some(amount) = route.amount_of(event, row) else {
                continue;
            };
            let contribution = match amount {
                Amount::Sum { amount, foreign } => Contribution::Sum {
                    cell,
                    amount,
                    foreign,
                },
                Amount::Share { hit, group } => Contribution::Share {
                    cell,
                    hit,
                    on: event.occurred_on(),
                    group: self.group_index(cell, group),
                },
                Amount::Direct(value) => Contribution::Direct {
                    cell,
                    value,
                    group: self.group_index(cell, DIRECT_GROUP),
                },
            };
            // A transfer's event selectors (rows of no KPI) do not make an event "counted".
            counted_in_kpis |= of_a_kpi;
            self.put(contribution, id, amendment, late, &mut listed);
        }
        if let Some((family, label, deltas)) = stat_of(event) {
            let slot = self.stat_slot(family, year, label);
            self.put(
                Contribution::Stat { slot, deltas },
                id,
                amendment,
                false,
                &mut listed,
            );
        }
        if !self
            .plans
            .iter()
            .any(|plan| plan.period.column(year).is_some())
        {
            self.notes.outside.insert(
                id,
                OutsideNote {
                    event: id,
                    kind,
                    fiscal_year: year,
                },
            );
        }
        match event {
            LedgerEvent::SurveyWave(wave) => self.notes.waves.push(WaveNote {
                event: id,
                wave_id: wave.wave_id.to_string(),
                on: event.occurred_on(),
                fiscal_year: year,
            }),
            LedgerEvent::SurveyResponse(response) => {
                self.notes.responses.insert(
                    id,
                    ResponseNote {
                        event: id,
                        wave_id: response.wave_id.to_string(),
                        fiscal_year: year,
                    },
                );
            }
            _ => {}
        }
        match event {
            LedgerEvent::DeclaredTotal(total) => self.declared.push((id, total.clone())),
            _ => {
                if event.status() == Some(ActivityStatus::Scheduled) {
                    self.scheduled.insert(
                        id,
                        ScheduledActivity {
                            kind,
                            title: event.title().unwrap_or_default().to_owned(),
                            date: event.occurred_on(),
                            counted_in_kpis,
                        },
                    );
                }
            }
        }
    }

    fn group_index(&mut self, cell: u32, key: &str) -> u32 {
        let groups = &mut self.cells[cell as usize].figures.groups;
        if let Some(index) = groups.iter().position(|group| group.key == key) {
            return index as u32;
        }
        groups.push(RateGroup {
            key: key.to_owned(),
            hits: 0,
            answers: 0,
            direct: Vec::new(),
            dates: std::collections::BTreeMap::new(),
        });
        (groups.len() - 1) as u32
    }

    fn stat_slot(&mut self, family: StatFamily, year: FiscalYear, label: &str) -> u32 {
        let labels = self.stat_index.entry((family, year)).or_default();
        if let Some(slot) = labels.get(label) {
            return *slot;
        }
        let slot = self.stats.len() as u32;
        labels.insert(label.to_owned(), slot);
        self.stats.push(StatSlot {
            family,
            fiscal_year: year,
            label: label.to_owned(),
            totals: [0; 4],
        });
        slot
    }

    /// Totals of seminars, skill trainings or consultations in a fiscal year.
    pub fn activity_summary(&self, kind: EventKind, year: FiscalYear) -> ActivitySummary {
        let family = match kind {
            EventKind::Seminar => StatFamily::Seminar,
            EventKind::SkillTraining => StatFamily::SkillTraining,
            EventKind::Consultation => StatFamily::Consultation,
            _ => return ActivitySummary::default(),
        };
        self.summary_of(family, year, None)
    }

    pub(crate) fn summary_of(
        &self,
        family: StatFamily,
        year: FiscalYear,
        label: Option<&str>,
    ) -> ActivitySummary {
        let mut summary = ActivitySummary::default();
        for slot in self.stats.iter().filter(|slot| {
            slot.family == family
                && slot.fiscal_year == year
                && label.is_none_or(|label| slot.label == label)
        }) {
            // Saturating: totals of u32 counts cannot reach u64::MAX, and never wrap if so.
            summary.events = summary.events.saturating_add(slot.totals[0]);
            summary.sessions = summary.sessions.saturating_add(slot.totals[1]);
            summary.participants = summary.participants.saturating_add(slot.totals[2]);
            summary.attendances = summary.attendances.saturating_add(slot.totals[3]);
        }
        summary
    }

    /// Every survey wave with its responses, in order of first appearance.
    pub fn survey_waves(&self) -> Vec<SurveyWaveSummary> {
        self.stats
            .iter()
            .filter(|slot| slot.family == StatFamily::Survey)
            .map(|slot| SurveyWaveSummary {
                wave_id: slot.label.clone(),
                fiscal_year: slot.fiscal_year,
                firms_asked: (slot.totals[0] > 0).then_some(slot.totals[0]),
                responses: slot.totals[1],
                practising_telework: slot.totals[2],
                job_openings: slot.totals[3],
            })
            .collect()
    }
}

fn stat_of(event: &LedgerEvent) -> Option<(StatFamily, &str, [u32; 4])> {
    match event {
        LedgerEvent::Seminar(seminar) => Some((
            StatFamily::Seminar,
            seminar.organiser.as_str(),
            [
                1,
                seminar.sessions.get(),
                seminar.participants.unique.get(),
                seminar.participants.attendances.get(),
            ],
        )),
        LedgerEvent::SkillTraining(training) => Some((
            StatFamily::SkillTraining,
            training.department.as_str(),
            [1, training.sessions.get(), training.participants.get(), 0],
        )),
        LedgerEvent::Consultation(consultation) => Some((
            StatFamily::Consultation,
            consultation.provider.as_str(),
            [1, 0, consultation.persons.get(), 0],
        )),
        LedgerEvent::SurveyWave(wave) => Some((
            StatFamily::Survey,
            wave.wave_id.as_str(),
            [wave.firms_asked.get(), 0, 0, 0],
        )),
        LedgerEvent::SurveyResponse(response) => Some((
            StatFamily::Survey,
            response.wave_id.as_str(),
            [
                0,
                1,
                u32::from(response.practises_telework),
                response.job_openings.get(),
            ],
        )),
        _ => None,
    }
}

mod cells;
mod routes;
mod table;
mod transfer;
use cells::{CellAcc, Contribution, RateGroup, DIRECT_GROUP};
use routes::{Amount, Route};
pub use transfer::{BaselineOrigin, BaselineSource, TransferEntry, TransferReport};
pub mod snapshot;
pub use snapshot::{plans_digest, ProjectionSnapshot, SnapshotMismatch};
