//! Cell accumulators: what the fold adds to and takes back from one fiscal year of one row,
//! and how a cell's figure and drill-down are read from them.
//!
//! A cell keeps its *figures* (sums, rate groups) apart from its drill-down lists, so the
//! figures alone can be copied cheaply when a plan's baseline is decided (its transfer).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use foldhash::fast::RandomState;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Cell, Projection};
use crate::calendar::FiscalYear;
use crate::plan::{Aggregation, KpiDefinition};
use crate::values::Unit;

/// One group of a rate cell: the answers of one survey wave, or the direct rates stated by
/// opening figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RateGroup {
    pub(crate) key: String,
    pub(crate) hits: u64,
    pub(crate) answers: u64,
    pub(crate) direct: Vec<(Uuid, Decimal)>,
    /// The dates of the answers in force, with their counts: the group's date when its wave
    /// is not recorded is the latest of them.
    pub(crate) dates: BTreeMap<NaiveDate, u32>,
}

impl RateGroup {
    pub(crate) fn is_empty(&self) -> bool {
        self.answers == 0 && self.direct.is_empty()
    }

    fn add_date(&mut self, on: NaiveDate) {
        *self.dates.entry(on).or_default() += 1;
    }

    fn remove_date(&mut self, on: NaiveDate) {
        if let Some(count) = self.dates.get_mut(&on) {
            *count -= 1;
            if *count == 0 {
                self.dates.remove(&on);
            }
        }
    }
}

/// What a cell's value is computed from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Figures {
    pub(crate) sum: Decimal,
    pub(crate) sum_contributions: u32,
    pub(crate) foreign: Vec<(Unit, Decimal, u32)>,
    pub(crate) groups: Vec<RateGroup>,
    /// A sum left the range of exact decimals: the cell shows no figure (an audit finding)
    /// rather than a wrong one, until the projection is rebuilt.
    pub(crate) overflowed: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CellAcc {
    pub(crate) figures: Figures,
    /// Events that contributed, in order; append-only so an amendment never scans it. An
    /// event appears once per contribution it made to the cell (an original, then each
    /// replacement), so it stays listed while any of them is in force.
    pub(crate) event_ids: Vec<Uuid>,
    /// Contributions taken back, one entry per earlier entry of `event_ids` they cancel;
    /// applied when the list is read.
    pub(crate) taken_back: Vec<Uuid>,
    pub(crate) amended_by: Vec<Uuid>,
    /// Events whose version in force was recorded after the plan's transfer; filtered like
    /// `event_ids` when read.
    pub(crate) late_ids: Vec<Uuid>,
}

/// Marks the group of direct rate values (opening figures); codes cannot contain NUL.
pub(crate) const DIRECT_GROUP: &str = "\0direct";

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) enum Contribution {
    Sum {
        cell: u32,
        amount: Decimal,
        foreign: Option<Unit>,
    },
    Share {
        cell: u32,
        group: u32,
        hit: bool,
        on: NaiveDate,
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

/// The cells one event's contributions (or take-backs) already listed it in during one step,
/// so it is listed once per cell per step, however many routes lead there.
///
/// An event reaches a handful of cells (one per row that selects its kind), so they are kept
/// inline: folding an event allocates nothing for this; more than `INLINE` spill to a vector.
#[derive(Default)]
pub(crate) struct Listed {
    inline: [u32; Listed::INLINE],
    len: usize,
    spilled: Vec<u32>,
}

impl Listed {
    const INLINE: usize = 8;

    /// Whether `cell` is new in this step (and marks it).
    fn first(&mut self, cell: u32) -> bool {
        if self.inline[..self.len].contains(&cell) || self.spilled.contains(&cell) {
            return false;
        }
        if self.len < Self::INLINE {
            self.inline[self.len] = cell;
            self.len += 1;
        } else {
            self.spilled.push(cell);
        }
        true
    }
}

impl Figures {
    fn add(&mut self, contribution: Contribution, id: Uuid) {
        match contribution {
            Contribution::Sum {
                amount, foreign, ..
            } => match foreign {
                None => {
                    match self.sum.checked_add(amount) {
                        Some(sum) => self.sum = sum,
                        None => self.overflowed = true,
                    }
                    self.sum_contributions += 1;
                }
                Some(unit) => match self.foreign.iter_mut().find(|(u, _, _)| *u == unit) {
                    Some(entry) => {
                        match entry.1.checked_add(amount) {
                            Some(sum) => entry.1 = sum,
                            None => self.overflowed = true,
                        }
                        entry.2 += 1;
                    }
                    None => self.foreign.push((unit, amount, 1)),
                },
            },
            Contribution::Share { group, hit, on, .. } => {
                let group = &mut self.groups[group as usize];
                group.answers += 1;
                group.hits += u64::from(hit);
                group.add_date(on);
            }
            Contribution::Direct { group, value, .. } => {
                self.groups[group as usize].direct.push((id, value));
            }
            Contribution::Stat { .. } => {}
        }
    }

    fn take(&mut self, contribution: Contribution, id: Uuid) {
        match contribution {
            Contribution::Sum {
                amount, foreign, ..
            } => match foreign {
                None => {
                    match self.sum.checked_sub(amount) {
                        Some(sum) => self.sum = sum,
                        None => self.overflowed = true,
                    }
                    self.sum_contributions -= 1;
                }
                Some(unit) => {
                    if let Some(entry) = self.foreign.iter_mut().find(|(u, _, _)| *u == unit) {
                        match entry.1.checked_sub(amount) {
                            Some(sum) => entry.1 = sum,
                            None => self.overflowed = true,
                        }
                        entry.2 -= 1;
                    }
                    self.foreign.retain(|(_, _, count)| *count > 0);
                }
            },
            Contribution::Share { group, hit, on, .. } => {
                let group = &mut self.groups[group as usize];
                group.answers -= 1;
                group.hits -= u64::from(hit);
                group.remove_date(on);
            }
            Contribution::Direct { group, .. } => {
                let direct = &mut self.groups[group as usize].direct;
                if let Some(index) = direct.iter().position(|(owner, _)| *owner == id) {
                    direct.remove(index);
                }
            }
            Contribution::Stat { .. } => {}
        }
    }

    /// Whether any figure in the row's own unit was contributed (a sum that counts).
    pub(crate) fn has_sum(&self) -> bool {
        self.sum_contributions > 0
    }

    /// The cell's value and, when it differs from the row's, its unit. `wave_on` gives the
    /// date of a recorded survey wave: the latest wave by that date (else by its latest
    /// answer) gives a rate cell its value, whatever order the waves were recorded in.
    pub(crate) fn value(
        &self,
        kpi: &KpiDefinition,
        year: FiscalYear,
        wave_on: impl Fn(&str) -> Option<NaiveDate>,
    ) -> (Option<Decimal>, Option<Unit>) {
        if self.overflowed {
            return (None, None);
        }
        // Of several other units, the first by name: which one is shown must not depend on
        // the order amendments left them in.
        let foreign = || match self.foreign.iter().min_by_key(|(unit, ..)| unit.as_str()) {
            Some((unit, amount, _)) => (Some(*amount), Some(*unit)),
            None => (None, None),
        };
        match kpi.aggregation {
            Aggregation::Sum if self.sum_contributions > 0 => (Some(self.sum), None),
            Aggregation::Sum => foreign(),
            Aggregation::LatestRate => {
                let dated = |group: &RateGroup| {
                    if group.key == DIRECT_GROUP {
                        Some(year.last_day())
                    } else {
                        wave_on(&group.key)
                            .or_else(|| group.dates.last_key_value().map(|(date, _)| *date))
                    }
                };
                let latest = self
                    .groups
                    .iter()
                    .filter(|group| !group.is_empty())
                    .max_by(|a, b| (dated(a), &a.key).cmp(&(dated(b), &b.key)));
                match latest {
                    Some(group) if group.answers > 0 => (
                        kpi.value_rounding
                            .percent(Decimal::from(group.hits), Decimal::from(group.answers)),
                        None,
                    ),
                    Some(group) => (group.direct.last().map(|(_, value)| *value), None),
                    None => foreign(),
                }
            }
        }
    }
}

impl Projection {
    pub(crate) fn put(
        &mut self,
        contribution: Contribution,
        id: Uuid,
        amendment: Option<Uuid>,
        late: bool,
        listed: &mut Listed,
    ) {
        self.contributions.push(contribution);
        let cell = match contribution {
            Contribution::Sum { cell, .. }
            | Contribution::Share { cell, .. }
            | Contribution::Direct { cell, .. } => cell,
            Contribution::Stat { slot, deltas } => {
                let totals = &mut self.stats[slot as usize].totals;
                for (total, delta) in totals.iter_mut().zip(deltas) {
                    // Never wraps: at most 2^32 events of at most 2^32 each.
                    *total = total.saturating_add(u64::from(delta));
                }
                return;
            }
        };
        let acc = &mut self.cells[cell as usize];
        acc.figures.add(contribution, id);
        if listed.first(cell) {
            acc.event_ids.push(id);
            if late {
                acc.late_ids.push(id);
            }
        }
        if let Some(amendment) = amendment {
            if acc.amended_by.last() != Some(&amendment) {
                acc.amended_by.push(amendment);
            }
        }
    }

    pub(crate) fn take_back(
        &mut self,
        contribution: Contribution,
        id: Uuid,
        amendment: Uuid,
        listed: &mut Listed,
    ) {
        let cell = match contribution {
            Contribution::Sum { cell, .. }
            | Contribution::Share { cell, .. }
            | Contribution::Direct { cell, .. } => cell,
            Contribution::Stat { slot, deltas } => {
                let totals = &mut self.stats[slot as usize].totals;
                for (total, delta) in totals.iter_mut().zip(deltas) {
                    *total = total.saturating_sub(u64::from(delta));
                }
                return;
            }
        };
        let acc = &mut self.cells[cell as usize];
        acc.figures.take(contribution, id);
        if listed.first(cell) {
            acc.taken_back.push(id);
        }
        if acc.amended_by.last() != Some(&amendment) {
            acc.amended_by.push(amendment);
        }
    }

    /// The date of a recorded survey wave in force (its `date`, else its fiscal year's end).
    pub(crate) fn wave_on(&self, wave_id: &str) -> Option<NaiveDate> {
        self.wave_note(wave_id).map(|wave| wave.on)
    }

    pub(crate) fn cell(
        &self,
        kpi: &KpiDefinition,
        index: usize,
        year: FiscalYear,
        with_ids: bool,
    ) -> Cell {
        let acc = &self.cells[index];
        let (value, unit) = acc.figures.value(kpi, year, |wave| self.wave_on(wave));
        let event_ids = if with_ids {
            self.live_event_ids(index)
        } else {
            Vec::new()
        };
        // Late entries still contributing (one may have been retracted since). A cell of a
        // large log lists many ids, so they are looked up in a set, not scanned per entry.
        let late_event_ids = if acc.late_ids.is_empty() || !with_ids {
            Vec::new()
        } else {
            // In the drill-down's order: an event listed late once is late in every later
            // listing (its versions only get later), so membership is enough.
            let late: std::collections::HashSet<&Uuid, RandomState> = acc.late_ids.iter().collect();
            event_ids
                .iter()
                .filter(|id| late.contains(id))
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

    /// The events currently contributing to a cell, each once. A corrected event that still
    /// contributes appears where its replacement was recorded.
    pub(crate) fn live_event_ids(&self, index: usize) -> Vec<Uuid> {
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
}
