//! The fold: [`Projection::apply`] and the ways in (a whole log, a prefix as of an instant,
//! activities through a date), taking back an amended event's contributions and putting its
//! replacement's in, and the index of every event's state that makes that possible.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use foldhash::fast::RandomState;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cells::{self, Contribution, RateGroup, DIRECT_GROUP};
use super::notes::{
    AmendmentProblem, IgnoredAmendment, OutsideNote, ResponseNote, ScheduledActivity, WaveNote,
};
use super::routes::Amount;
use super::summaries::stat_of;
use super::{snapshot, Projection};
use crate::event::{EventKind, LedgerEvent};
use crate::plan::PlanDefinition;
use crate::recorded::RecordedEvent;
use crate::values::ActivityStatus;

/// What the fold remembers of one event: its kind, whether it was retracted, and where its
/// contributions lie in the arena (`start`, `len`), to take them back when it is amended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct EventState {
    #[serde(with = "snapshot::kind_by_name")]
    pub(crate) kind: EventKind,
    pub(crate) retracted: bool,
    /// Byte range in the arena ([`super::arena::Contributions`]).
    pub(super) start: u64,
    pub(super) len: u32,
}

/// Event id -> its state. Store ids are UUID v7, so they nearly always arrive in increasing
/// order: those go to a sorted vector (an append, no hashing, found again by binary search
/// when amended); the rare id that arrives out of order goes to a map.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct EventIndex {
    pub(super) sorted: Vec<(Uuid, EventState)>,
    pub(super) unordered: HashMap<Uuid, EventState, RandomState>,
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

impl Projection {
    /// Makes room for `additional` more events, so a replay of a log of known length does not
    /// pay for growing its maps and lists (the store knows its last position).
    pub fn reserve(&mut self, additional: usize) {
        self.events.reserve(additional);
        // About 16 bytes of contributions an event (a seminar's three).
        self.contributions.reserve(additional.saturating_mul(16));
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
                let start = self.contributions.end();
                self.contribute(recorded.id, event, None, recorded.position);
                let len = self.contributed_since(start);
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

    /// Bytes of contributions written since `start`: one event's, bounded by its routes (an
    /// event is at most `max_event_bytes`, and a route writes a few dozen bytes at most).
    fn contributed_since(&self, start: u64) -> u32 {
        u32::try_from(self.contributions.end() - start)
            .expect("one event's contributions take less than 4 GiB")
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
        let contributions = self
            .contributions
            .range(state.start, state.len)
            .expect("an event's contributions are the ones the fold wrote for it");
        let mut listed = cells::Listed::default();
        for contribution in contributions {
            self.take_back(contribution, target, amendment, &mut listed);
        }
        self.scheduled.remove(&target);
        self.declared.retain(|(id, _)| *id != target);
        self.notes.waves.retain(|note| note.event != target);
        self.notes.responses.remove(&target);
        self.notes.outside.remove(&target);
        let new_state = match replacement {
            Some(replacement) => {
                let start = self.contributions.end();
                self.contribute(target, replacement, Some(amendment), position);
                EventState {
                    start,
                    len: self.contributed_since(start),
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
}
