//! A projection's fold state as data, so the shell can persist it (a checkpoint) and start
//! from it instead of folding the whole log again.
//!
//! The snapshot holds everything the fold accumulated but neither the plans nor the compiled
//! routes (they hold function pointers): [`Projection::restore`] recompiles those from the
//! plans it is given and refuses state that does not fit them. Nothing here does I/O; the
//! encoding (and what happens to a snapshot that does not fit) is the shell's business.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use chrono::NaiveDate;

use super::arena::Contributions;
use super::cells::{CellAcc, Contribution};
use super::fold::EventIndex;
use super::notes::{IgnoredAmendment, Notes, ScheduledActivity};
use super::summaries::StatSlot;
use super::Projection;
use crate::event::DeclaredTotal;
use crate::plan::PlanDefinition;

/// The fold state of a [`Projection`], without its plans.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectionSnapshot {
    plans_digest: [u8; 32],
    shape: Vec<PlanShape>,
    cells: Vec<CellAcc>,
    events: EventIndex,
    contributions: Contributions,
    stats: Vec<StatSlot>,
    scheduled: HashMap<Uuid, ScheduledActivity>,
    // Event payload types read leniently (`deserialize_any`), which compact binary formats
    // cannot do; the list is short, so it travels as JSON text.
    #[serde(with = "json_text")]
    declared: Vec<(Uuid, DeclaredTotal)>,
    ignored_amendments: Vec<IgnoredAmendment>,
    amendments: HashMap<Uuid, Vec<Uuid>, RandomState>,
    notes: Notes,
    through: Option<NaiveDate>,
    applied: u64,
    last_position: u64,
}

/// How many rows and cells one plan lays out; a snapshot only fits plans of the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PlanShape {
    plan_id: String,
    rows: u32,
    cells: u32,
}

/// Why a snapshot cannot be restored under the plans given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotMismatch {
    #[error("the snapshot was taken under other plan definitions")]
    PlansDiffer,
    #[error("the snapshot lays out {found}, the plans lay out {expected}")]
    Shape { expected: String, found: String },
    #[error("the snapshot is inconsistent: {0}")]
    Inconsistent(String),
}

impl ProjectionSnapshot {
    /// Position of the last event folded into the snapshot (0 before any).
    pub fn last_position(&self) -> u64 {
        self.last_position
    }

    /// Events folded into the snapshot.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// [`plans_digest`] of the plans the snapshot was taken under.
    pub fn plans_digest(&self) -> [u8; 32] {
        self.plans_digest
    }
}

/// SHA-256 of the plans' canonical JSON: tells apart state folded under other definitions.
pub fn plans_digest(plans: &[PlanDefinition]) -> [u8; 32] {
    let json = serde_json::to_vec(plans).expect("plan definitions serialize to JSON");
    Sha256::digest(&json).into()
}

fn shape_of(projection: &Projection) -> Vec<PlanShape> {
    projection
        .plans
        .iter()
        .zip(&projection.plan_rows)
        .map(|(plan, rows)| PlanShape {
            plan_id: plan.id.to_string(),
            rows: rows.len() as u32,
            cells: (rows.len() * plan.period.len()) as u32,
        })
        .collect()
}

fn describe(shape: &[PlanShape]) -> String {
    let plans: Vec<String> = shape
        .iter()
        .map(|plan| {
            format!(
                "{} ({} rows, {} cells)",
                plan.plan_id, plan.rows, plan.cells
            )
        })
        .collect();
    if plans.is_empty() {
        "no plan".to_owned()
    } else {
        plans.join(", ")
    }
}

impl Projection {
    /// The fold state, for persisting. Costs a copy of the state.
    pub fn snapshot(&self) -> ProjectionSnapshot {
        // Naming every field (no `..`) makes a field added to `Projection` fail to compile
        // here until it is either carried by the snapshot or marked as derived.
        let Projection {
            plans,
            rows: _,
            plan_rows: _,
            cells,
            routes: _,
            events,
            contributions,
            stat_index: _,
            stats,
            scheduled,
            declared,
            ignored_amendments,
            amendments,
            // Derived from the plans (transfers), like the routes.
            late_after: _,
            baseline_rows: _,
            notes,
            through,
            applied,
            last_position,
        } = self;
        ProjectionSnapshot {
            plans_digest: plans_digest(plans),
            shape: shape_of(self),
            cells: cells.clone(),
            events: events.clone(),
            contributions: contributions.clone(),
            stats: stats.clone(),
            scheduled: scheduled.clone(),
            declared: declared.clone(),
            ignored_amendments: ignored_amendments.clone(),
            amendments: amendments.clone(),
            notes: notes.clone(),
            through: *through,
            applied: *applied,
            last_position: *last_position,
        }
    }

    /// The projection of `plans` with the state of `snapshot`, as if the events folded into
    /// the snapshot had been folded again. Refuses a snapshot taken under other plans or whose
    /// state does not hold together, rather than computing wrong tables.
    pub fn restore(
        plans: Vec<PlanDefinition>,
        snapshot: ProjectionSnapshot,
    ) -> Result<Projection, SnapshotMismatch> {
        if plans_digest(&plans) != snapshot.plans_digest {
            return Err(SnapshotMismatch::PlansDiffer);
        }
        let empty = Projection::new(plans);
        let expected = shape_of(&empty);
        if expected != snapshot.shape || empty.cells.len() != snapshot.cells.len() {
            return Err(SnapshotMismatch::Shape {
                expected: describe(&expected),
                found: describe(&snapshot.shape),
            });
        }
        check_references(&snapshot)?;
        let ProjectionSnapshot {
            plans_digest: _,
            shape: _,
            cells,
            events,
            contributions,
            stats,
            scheduled,
            declared,
            ignored_amendments,
            amendments,
            notes,
            through,
            applied,
            last_position,
        } = snapshot;
        let mut stat_index: HashMap<_, HashMap<String, u32, RandomState>, RandomState> =
            HashMap::default();
        for (slot, stat) in stats.iter().enumerate() {
            stat_index
                .entry((stat.family, stat.fiscal_year))
                .or_default()
                .insert(stat.label.clone(), slot as u32);
        }
        Ok(Projection {
            cells,
            events,
            contributions,
            stat_index,
            stats,
            scheduled,
            declared,
            ignored_amendments,
            amendments,
            notes,
            through,
            applied,
            last_position,
            ..empty
        })
    }
}

/// Every index the state holds points inside it, so a damaged or foreign snapshot is refused
/// here instead of panicking on some later event.
fn check_references(snapshot: &ProjectionSnapshot) -> Result<(), SnapshotMismatch> {
    let inconsistent = |what: String| Err(SnapshotMismatch::Inconsistent(what));
    let mut index = 0;
    let checked = snapshot.contributions.try_for_each(|contribution| {
        index += 1;
        let (cell, group) = match contribution {
            Contribution::Sum { cell, .. } => (cell, None),
            Contribution::Share { cell, group, .. } | Contribution::Direct { cell, group, .. } => {
                (cell, Some(group))
            }
            Contribution::Stat { slot, .. } => {
                if slot as usize >= snapshot.stats.len() {
                    return Err(format!("contribution {index} names stat slot {slot}"));
                }
                return Ok(());
            }
        };
        let Some(acc) = snapshot.cells.get(cell as usize) else {
            return Err(format!("contribution {index} names cell {cell}"));
        };
        if group.is_some_and(|group| group as usize >= acc.figures.groups.len()) {
            return Err(format!("contribution {index} names a missing rate group"));
        }
        Ok(())
    });
    if let Err(reason) = checked {
        return inconsistent(reason);
    }
    if snapshot.notes.decided.len() != snapshot.shape.len()
        || snapshot.notes.decided.iter().flatten().any(|decided| {
            decided.figures.len() != snapshot.cells.len()
                || decided.amended.len() != snapshot.cells.len()
        })
    {
        return inconsistent("the decided baselines do not fit the cells".to_owned());
    }
    let states = snapshot
        .events
        .sorted
        .iter()
        .map(|(id, state)| (id, state))
        .chain(&snapshot.events.unordered);
    for (id, state) in states {
        let each = snapshot
            .contributions
            .try_for_each_in(state.start, state.len, |_| Ok(()));
        if let Err(reason) = each {
            return inconsistent(format!(
                "event {id} names contributions that are not: {reason}"
            ));
        }
    }
    if !snapshot
        .events
        .sorted
        .windows(2)
        .all(|pair| pair[0].0 < pair[1].0)
    {
        return inconsistent("the event index is not in id order".to_owned());
    }
    Ok(())
}

/// An [`crate::EventKind`] by its stable name: its index may change between builds.
pub(super) mod kind_by_name {
    use serde::{Deserializer, Serializer};

    use crate::event::EventKind;

    pub fn serialize<S: Serializer>(kind: &EventKind, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(kind.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<EventKind, D::Error> {
        deserializer.deserialize_str(KindVisitor)
    }

    struct KindVisitor;

    // A visitor rather than `String`: a million event states are read without allocating.
    impl serde::de::Visitor<'_> for KindVisitor {
        type Value = EventKind;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the name of an event kind")
        }

        fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<EventKind, E> {
            EventKind::from_name(name)
                .ok_or_else(|| E::custom(format!("unknown event kind `{name}`")))
        }
    }
}

mod json_text {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(value).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }
}
