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
//! - A `latest_rate` cell shows the rate of the group (survey wave) seen latest by activity
//!   date; a retraction does not move a group's date back.
//! - As-of is folding the prefix of the log recorded up to an instant
//!   ([`Projection::as_of`]).

use std::collections::HashMap;

use foldhash::fast::RandomState;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::calendar::FiscalYear;
use crate::event::{DeclaredTotal, EventKind, FieldGetter, FieldValue, LedgerEvent};
use crate::plan::{
    getter, Aggregation, KpiDefinition, LocalizedText, PlanDefinition, Rounding, Series,
    SourceMeasure, Target, TargetKind,
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
struct CompiledFilter {
    get: FieldGetter,
    one_of: Vec<String>,
}

impl CompiledFilter {
    fn accepts(&self, event: &LedgerEvent) -> bool {
        match (self.get)(event) {
            None => false,
            Some(FieldValue::Str(text)) => self.one_of.iter().any(|value| value == text),
            Some(FieldValue::Bool(flag)) => {
                let text = if flag { "true" } else { "false" };
                self.one_of.iter().any(|value| value == text)
            }
            Some(FieldValue::Int(number)) => self
                .one_of
                .iter()
                .any(|value| value.parse::<u64>() == Ok(number)),
            Some(FieldValue::Decimal(number)) => self
                .one_of
                .iter()
                .any(|value| value.parse::<Decimal>() == Ok(number)),
        }
    }
}

#[derive(Debug, Clone)]
enum AmountRule {
    Field(FieldGetter),
    Count,
    Share {
        field: FieldGetter,
        group: Option<FieldGetter>,
    },
}

#[derive(Debug, Clone)]
struct Route {
    row: u32,
    amount: AmountRule,
    filters: Vec<CompiledFilter>,
    /// Figures that state their own unit (opening figures).
    unit: Option<FieldGetter>,
}

/// What one event adds to one row, before it is placed in a cell.
enum Amount<'e> {
    Sum {
        amount: Decimal,
        foreign: Option<Unit>,
    },
    /// One answer of a group (survey wave) to a share-of question.
    Share { hit: bool, group: &'e str },
    /// A complete rate stated by the event (an opening figure in percent).
    Direct(Decimal),
}

impl Route {
    fn amount_of<'e>(&self, event: &'e LedgerEvent, row: &RowState) -> Option<Amount<'e>> {
        if !self.filters.iter().all(|filter| filter.accepts(event)) {
            return None;
        }
        match &self.amount {
            AmountRule::Count => Some(Amount::Sum {
                amount: Decimal::ONE,
                foreign: None,
            }),
            AmountRule::Field(get) => {
                let amount = match get(event)? {
                    FieldValue::Int(number) => Decimal::from(number),
                    FieldValue::Decimal(number) => number,
                    FieldValue::Bool(_) | FieldValue::Str(_) => return None,
                };
                let foreign = self
                    .unit
                    .and_then(|get| unit_of(get(event)))
                    .filter(|unit| *unit != row.unit);
                if row.aggregation == Aggregation::LatestRate && foreign.is_none() {
                    Some(Amount::Direct(amount))
                } else {
                    Some(Amount::Sum { amount, foreign })
                }
            }
            AmountRule::Share { field, group } => match field(event)? {
                FieldValue::Bool(hit) => Some(Amount::Share {
                    hit,
                    group: match group.and_then(|get| get(event)) {
                        Some(FieldValue::Str(key)) => key,
                        _ => "",
                    },
                }),
                _ => None,
            },
        }
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

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RateGroup {
    key: String,
    hits: u64,
    answers: u64,
    direct: Vec<(Uuid, Decimal)>,
    latest_on: NaiveDate,
}

impl RateGroup {
    fn is_empty(&self) -> bool {
        self.answers == 0 && self.direct.is_empty()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CellAcc {
    sum: Decimal,
    sum_contributions: u32,
    foreign: Vec<(Unit, Decimal, u32)>,
    groups: Vec<RateGroup>,
    /// Events that contributed, in order; append-only so an amendment never scans it.
    event_ids: Vec<Uuid>,
    /// Contributions taken back, one entry per earlier entry of `event_ids` they cancel;
    /// applied when the list is read.
    taken_back: Vec<Uuid>,
    amended_by: Vec<Uuid>,
    /// Events recorded after the plan's transfer; filtered like `event_ids` when read.
    late_ids: Vec<Uuid>,
}

/// Marks the group of direct rate values (opening figures); codes cannot contain NUL.
const DIRECT_GROUP: &str = "\0direct";

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Contribution {
    Sum {
        cell: u32,
        amount: Decimal,
        foreign: Option<Unit>,
    },
    Share {
        cell: u32,
        group: u32,
        hit: bool,
    },
    Direct {
        cell: u32,
        group: u32,
        value: Decimal,
    },
    Stat {
        slot: u32,
        deltas: [u32; 4],
    },
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
    cells: Vec<CellAcc>,
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
    applied: u64,
    last_position: u64,
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
            applied: 0,
            last_position: 0,
        }
    }
}

impl Route {
    fn compile(source: &crate::plan::SourceDefinition, row: u32) -> Route {
        let amount = match &source.measure {
            SourceMeasure::Field(field) => AmountRule::Field(getter(source.event, field)),
            SourceMeasure::Count => AmountRule::Count,
            SourceMeasure::ShareOf { field, group_by } => AmountRule::Share {
                field: getter(source.event, field),
                group: group_by.as_deref().map(|group| getter(source.event, group)),
            },
        };
        let filters = source
            .filters
            .iter()
            .map(|filter| CompiledFilter {
                get: getter(source.event, &filter.field),
                one_of: filter.one_of.clone(),
            })
            .collect();
        let unit = LedgerEvent::kind_info(source.event)
            .field("unit")
            .and_then(|field| field.get);
        Route {
            row,
            amount,
            filters,
            unit,
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
        for index in range {
            let contribution = self.contributions[index];
            self.take_back(contribution, target, amendment);
        }
        self.scheduled.remove(&target);
        self.declared.retain(|(id, _)| *id != target);
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
        let year = event.fiscal_year();
        let kind = event.kind();
        let mut counted_in_kpis = false;
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
                    group: self.group_index(cell, group, event.occurred_on()),
                },
                Amount::Direct(value) => Contribution::Direct {
                    cell,
                    value,
                    group: self.group_index(cell, DIRECT_GROUP, event.occurred_on()),
                },
            };
            counted_in_kpis = true;
            self.put(contribution, id, amendment, late);
        }
        if let Some((family, label, deltas)) = stat_of(event) {
            let slot = self.stat_slot(family, year, label);
            self.put(Contribution::Stat { slot, deltas }, id, amendment, false);
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

    fn group_index(&mut self, cell: u32, key: &str, occurred_on: NaiveDate) -> u32 {
        let groups = &mut self.cells[cell as usize].groups;
        if let Some(index) = groups.iter().position(|group| group.key == key) {
            let group = &mut groups[index];
            group.latest_on = group.latest_on.max(occurred_on);
            return index as u32;
        }
        groups.push(RateGroup {
            key: key.to_owned(),
            hits: 0,
            answers: 0,
            direct: Vec::new(),
            latest_on: occurred_on,
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

    fn put(&mut self, contribution: Contribution, id: Uuid, amendment: Option<Uuid>, late: bool) {
        self.contributions.push(contribution);
        let cell = match contribution {
            Contribution::Sum {
                cell,
                amount,
                foreign,
            } => {
                let acc = &mut self.cells[cell as usize];
                match foreign {
                    None => {
                        acc.sum += amount;
                        acc.sum_contributions += 1;
                    }
                    Some(unit) => match acc.foreign.iter_mut().find(|(u, _, _)| *u == unit) {
                        Some(entry) => {
                            entry.1 += amount;
                            entry.2 += 1;
                        }
                        None => acc.foreign.push((unit, amount, 1)),
                    },
                }
                cell
            }
            Contribution::Share { cell, group, hit } => {
                let group = &mut self.cells[cell as usize].groups[group as usize];
                group.answers += 1;
                group.hits += u64::from(hit);
                cell
            }
            Contribution::Direct { cell, group, value } => {
                self.cells[cell as usize].groups[group as usize]
                    .direct
                    .push((id, value));
                cell
            }
            Contribution::Stat { slot, deltas } => {
                let totals = &mut self.stats[slot as usize].totals;
                for (total, delta) in totals.iter_mut().zip(deltas) {
                    *total += u64::from(delta);
                }
                return;
            }
        };
        let acc = &mut self.cells[cell as usize];
        if acc.event_ids.last() != Some(&id) {
            acc.event_ids.push(id);
        }
        if late && acc.late_ids.last() != Some(&id) {
            acc.late_ids.push(id);
        }
        if let Some(amendment) = amendment {
            if acc.amended_by.last() != Some(&amendment) {
                acc.amended_by.push(amendment);
            }
        }
    }

    fn take_back(&mut self, contribution: Contribution, id: Uuid, amendment: Uuid) {
        let cell = match contribution {
            Contribution::Sum {
                cell,
                amount,
                foreign,
            } => {
                let acc = &mut self.cells[cell as usize];
                match foreign {
                    None => {
                        acc.sum -= amount;
                        acc.sum_contributions -= 1;
                    }
                    Some(unit) => {
                        if let Some(entry) = acc.foreign.iter_mut().find(|(u, _, _)| *u == unit) {
                            entry.1 -= amount;
                            entry.2 -= 1;
                        }
                        acc.foreign.retain(|(_, _, count)| *count > 0);
                    }
                }
                cell
            }
            Contribution::Share { cell, group, hit } => {
                let group = &mut self.cells[cell as usize].groups[group as usize];
                group.answers -= 1;
                group.hits -= u64::from(hit);
                cell
            }
            Contribution::Direct { cell, group, .. } => {
                let direct = &mut self.cells[cell as usize].groups[group as usize].direct;
                if let Some(index) = direct.iter().position(|(owner, _)| *owner == id) {
                    direct.remove(index);
                }
                cell
            }
            Contribution::Stat { slot, deltas } => {
                let totals = &mut self.stats[slot as usize].totals;
                for (total, delta) in totals.iter_mut().zip(deltas) {
                    *total -= u64::from(delta);
                }
                return;
            }
        };
        let acc = &mut self.cells[cell as usize];
        if acc.taken_back.last() != Some(&id) {
            acc.taken_back.push(id);
        }
        if acc.amended_by.last() != Some(&amendment) {
            acc.amended_by.push(amendment);
        }
    }

    /// The KPI table of one plan, with the events behind every cell.
    pub fn table(&self, plan_id: &str) -> Option<KpiTable> {
        self.build_table(plan_id, true)
    }

    /// The table without drill-down lists: cheaper on a large log.
    pub fn table_values(&self, plan_id: &str) -> Option<KpiTable> {
        self.build_table(plan_id, false)
    }

    /// The events behind one cell (drill-down), `None` if the plan, row or year is unknown.
    pub fn cell_events(
        &self,
        plan_id: &str,
        kpi: &str,
        series: Series,
        year: FiscalYear,
    ) -> Option<Vec<Uuid>> {
        let plan_index = self
            .plans
            .iter()
            .position(|plan| plan.id.as_str() == plan_id)?;
        let plan = &self.plans[plan_index];
        let column = plan.period.column(year)?;
        let row = self.plan_rows[plan_index].clone().find(|row| {
            let definition = &plan.kpis[self.rows[*row].kpi];
            definition.id == kpi && definition.series == series
        })?;
        Some(self.live_event_ids(self.rows[row].cell_base + column))
    }

    fn build_table(&self, plan_id: &str, with_ids: bool) -> Option<KpiTable> {
        let plan_index = self
            .plans
            .iter()
            .position(|plan| plan.id.as_str() == plan_id)?;
        let plan = &self.plans[plan_index];
        let years = plan.period.years();
        let baselines = self.baselines_of(plan_index);
        let rows = self.plan_rows[plan_index]
            .clone()
            .map(|row_index| {
                let state = &self.rows[row_index];
                let kpi = &plan.kpis[state.kpi];
                let cells: Vec<Cell> = years
                    .iter()
                    .enumerate()
                    .map(|(column, year)| self.cell(kpi, state.cell_base + column, *year, with_ids))
                    .collect();
                let baseline = baselines
                    .iter()
                    .find(|(kpi_ref, _)| {
                        kpi_ref.kpi.as_str() == kpi.id && kpi_ref.series == kpi.series
                    })
                    .and_then(|(_, baseline)| *baseline);
                let (cumulative, achievement) = totals(kpi, &cells, baseline);
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
            })
            .collect();
        Some(KpiTable {
            plan_id: plan.id.to_string(),
            plan_name: plan.name.clone(),
            fiscal_years: years,
            rows,
        })
    }

    /// Every plan's table, in plan order.
    pub fn tables(&self) -> Vec<KpiTable> {
        self.plans
            .iter()
            .filter_map(|plan| self.table(plan.id.as_str()))
            .collect()
    }

    fn cell(&self, kpi: &KpiDefinition, index: usize, year: FiscalYear, with_ids: bool) -> Cell {
        let acc = &self.cells[index];
        let (value, unit) = match kpi.aggregation {
            Aggregation::Sum => {
                if acc.sum_contributions > 0 {
                    (Some(acc.sum), None)
                } else if let Some((unit, amount, _)) = acc.foreign.first() {
                    (Some(*amount), Some(*unit))
                } else {
                    (None, None)
                }
            }
            Aggregation::LatestRate => {
                let latest = acc
                    .groups
                    .iter()
                    .enumerate()
                    .filter(|(_, group)| !group.is_empty())
                    .max_by_key(|(index, group)| (group.latest_on, *index))
                    .map(|(_, group)| group);
                match latest {
                    Some(group) if group.answers > 0 => (
                        kpi.value_rounding
                            .percent(Decimal::from(group.hits), Decimal::from(group.answers)),
                        None,
                    ),
                    Some(group) => (group.direct.last().map(|(_, value)| *value), None),
                    None => match acc.foreign.first() {
                        Some((unit, amount, _)) => (Some(*amount), Some(*unit)),
                        None => (None, None),
                    },
                }
            }
        };
        let event_ids = if with_ids {
            self.live_event_ids(index)
        } else {
            Vec::new()
        };
        // Late entries still contributing (one may have been retracted since). A cell of a
        // large log lists many ids, so they are looked up in a set, not scanned per entry.
        let late_event_ids = if acc.late_ids.is_empty() {
            Vec::new()
        } else {
            let live: std::collections::HashSet<&Uuid, RandomState> = event_ids.iter().collect();
            acc.late_ids
                .iter()
                .filter(|id| live.contains(id))
                .copied()
                .collect()
        };
        Cell {
            fiscal_year: year,
            value,
            unit,
            counted: value.is_some() && unit.is_none(),
            event_ids,
            amended_by: acc.amended_by.clone(),
            late_event_ids,
        }
    }

    /// The events currently contributing to a cell. A corrected event that still contributes
    /// appears where its replacement was recorded.
    fn live_event_ids(&self, index: usize) -> Vec<Uuid> {
        let acc = &self.cells[index];
        if acc.taken_back.is_empty() {
            return acc.event_ids.clone();
        }
        let mut cancel: HashMap<Uuid, u32, RandomState> = HashMap::default();
        for id in &acc.taken_back {
            *cancel.entry(*id).or_default() += 1;
        }
        acc.event_ids
            .iter()
            .filter(|id| match cancel.get_mut(id) {
                Some(pending) if *pending > 0 => {
                    *pending -= 1;
                    false
                }
                _ => true,
            })
            .copied()
            .collect()
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
            summary.events += slot.totals[0];
            summary.sessions += slot.totals[1];
            summary.participants += slot.totals[2];
            summary.attendances += slot.totals[3];
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

fn unit_of(value: Option<FieldValue<'_>>) -> Option<Unit> {
    match value {
        Some(FieldValue::Str(text)) => Unit::from_name(text),
        _ => None,
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

/// Cumulative and achievement of a row from its cells.
fn totals(
    kpi: &KpiDefinition,
    cells: &[Cell],
    baseline: Option<Decimal>,
) -> (Option<Decimal>, Option<Decimal>) {
    let counted = || cells.iter().filter(|cell| cell.counted);
    let cumulative = if kpi.show_cumulative && (counted().next().is_some() || baseline.is_some()) {
        Some(
            baseline.unwrap_or_default() + counted().filter_map(|cell| cell.value).sum::<Decimal>(),
        )
    } else {
        None
    };
    let achievement = match kpi.target {
        Some(target) if kpi.achievement.show => {
            let reached = match target.kind {
                TargetKind::Cumulative => cumulative,
                TargetKind::Annual | TargetKind::AnnualMinimum | TargetKind::Rate => {
                    counted().filter_map(|cell| cell.value).next_back()
                }
            };
            reached.and_then(|reached| kpi.achievement.rounding.percent(reached, target.value))
        }
        _ => None,
    };
    (cumulative, achievement)
}

mod transfer;
pub use transfer::{BaselineOrigin, BaselineSource, TransferEntry, TransferReport};
pub mod snapshot;
pub use snapshot::{plans_digest, ProjectionSnapshot, SnapshotMismatch};
