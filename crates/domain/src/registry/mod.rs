//! The plans in force: configured definitions, changed only by plan lifecycle events.
//!
//! A pure fold like the projection, but over lifecycle events only, and folded *first*: the
//! projection of a log is computed under the definitions the whole log (or its as-of prefix)
//! puts in force, so extending a period or revising a target re-projects all history, as a
//! successor plan does.
//!
//! Choices:
//! - A configured plan is in force until the log says otherwise; adopting a plan of the same
//!   id replaces its configured definition (the recorded one is auditable, the file is not).
//! - A change that does not fit the plans in force (unknown KPI, plan already transferred,
//!   ...) is refused by [`PlanRegistry::check`] before it is recorded; one that slips in
//!   anyway (two concurrent writers) changes nothing and is listed by
//!   [`PlanRegistry::ignored`].
//! - After its transfer a plan's definition is frozen: its table stays as at the end of its
//!   period, and events recorded later for its years are late entries.
//!
//! Where things are: this file holds the registry and its fold, `changes.rs` what each
//! lifecycle event changes and when it may, `history.rs` the history it keeps.

mod changes;
mod history;

use crate::error::ValidationError;
use crate::event::LedgerEvent;
use crate::plan::PlanDefinition;
use crate::recorded::RecordedEvent;

pub use history::{Change, DefinitionChange, IgnoredChange, PlanEntry};

/// The plans in force with their histories, folded from the configured plans and the log's
/// lifecycle events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanRegistry {
    entries: Vec<PlanEntry>,
    ignored: Vec<IgnoredChange>,
    last_position: u64,
}

impl PlanRegistry {
    /// The configured plans, in configuration order, before any lifecycle event.
    pub fn new(configured: Vec<PlanDefinition>) -> PlanRegistry {
        let entries = configured
            .into_iter()
            .map(|definition| PlanEntry {
                history: vec![DefinitionChange {
                    event_id: None,
                    position: None,
                    recorded_at: None,
                    actor: None,
                    decided_on: None,
                    change: Change::Configured,
                    definition: definition.clone(),
                }],
                definition,
            })
            .collect();
        PlanRegistry {
            entries,
            ignored: Vec::new(),
            last_position: 0,
        }
    }

    /// The registry after the lifecycle events of a log (other events are skipped).
    pub fn from_log<'a>(
        configured: Vec<PlanDefinition>,
        events: impl IntoIterator<Item = &'a RecordedEvent>,
    ) -> PlanRegistry {
        let mut registry = PlanRegistry::new(configured);
        for event in events {
            registry.apply(event);
        }
        registry
    }

    /// The definitions in force, in order of configuration then adoption.
    pub fn plans(&self) -> Vec<PlanDefinition> {
        self.entries
            .iter()
            .map(|entry| entry.definition.clone())
            .collect()
    }

    pub fn entry(&self, plan_id: &str) -> Option<&PlanEntry> {
        self.entries
            .iter()
            .find(|entry| entry.definition.id.as_str() == plan_id)
    }

    pub fn entries(&self) -> &[PlanEntry] {
        &self.entries
    }

    /// The plan transferred into `plan_id`, if any.
    pub fn predecessor_of(&self, plan_id: &str) -> Option<&PlanEntry> {
        self.entries.iter().find(|entry| {
            entry
                .definition
                .transfer
                .as_ref()
                .is_some_and(|transfer| transfer.successor.as_str() == plan_id)
        })
    }

    pub fn ignored(&self) -> &[IgnoredChange] {
        &self.ignored
    }

    /// Position of the last lifecycle event folded (0 before any).
    pub fn last_position(&self) -> u64 {
        self.last_position
    }

    /// Folds one event; returns whether the plans in force changed. Events that are not
    /// lifecycle events change nothing.
    pub fn apply(&mut self, recorded: &RecordedEvent) -> bool {
        if !recorded.event.kind().is_lifecycle() {
            return false;
        }
        self.last_position = self.last_position.max(recorded.position);
        match self.changed(&recorded.event, recorded.position) {
            Ok((index, definition, change)) => {
                let step = DefinitionChange {
                    event_id: Some(recorded.id),
                    position: Some(recorded.position),
                    recorded_at: Some(recorded.recorded_at),
                    actor: Some(recorded.actor.clone()),
                    decided_on: Some(recorded.event.occurred_on()),
                    change,
                    definition: definition.clone(),
                };
                match index {
                    Some(index) => {
                        let entry = &mut self.entries[index];
                        entry.definition = definition;
                        entry.history.push(step);
                    }
                    None => self.entries.push(PlanEntry {
                        definition,
                        history: vec![step],
                    }),
                }
                true
            }
            Err(error) => {
                self.ignored.push(IgnoredChange {
                    event_id: recorded.id,
                    position: recorded.position,
                    problem: error.to_string(),
                });
                false
            }
        }
    }

    /// Whether a lifecycle event fits the plans in force; the error names the field at fault.
    /// Other events always fit.
    pub fn check(&self, event: &LedgerEvent) -> Result<(), ValidationError> {
        if !event.kind().is_lifecycle() {
            return Ok(());
        }
        // The position only marks late entries; any value checks the same rules.
        self.changed(event, u64::MAX).map(|_| ())
    }

    /// Refuses an activity whose fiscal year lies in no period of the plans in force (a
    /// transferred plan's period still counts, for its late entries): it would count in no
    /// KPI, so it is recorded only when the recorder says so explicitly (the caller skips
    /// this check then). The error names the field that places the event in its year and the
    /// periods in force. A correction is judged by its replacement; retractions and lifecycle
    /// events always pass.
    pub fn check_covered(&self, event: &LedgerEvent) -> Result<(), ValidationError> {
        if let LedgerEvent::Correction(correction) = event {
            return self
                .check_covered(&correction.replacement)
                .map_err(|error| error.nested_in("replacement"));
        }
        let kind = event.kind();
        if kind.is_lifecycle() || kind.is_amendment() {
            return Ok(());
        }
        let year = event.fiscal_year();
        let covered = self.entries.iter().any(|entry| {
            let period = entry.definition.period;
            period.first <= year && year <= period.last
        });
        if covered {
            return Ok(());
        }
        let periods = if self.entries.is_empty() {
            "no plan is in force".to_owned()
        } else {
            self.entries
                .iter()
                .map(|entry| {
                    let period = entry.definition.period;
                    format!(
                        "{} {}-{}",
                        entry.definition.id,
                        period.first.label(),
                        period.last.label()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(ValidationError::new(
            event.year_field(),
            format!(
                "{} is outside every plan in force: {periods}; record it with outside_plans = \
                 true if it is meant to count in no KPI",
                year.label()
            ),
        ))
    }

    fn index_of(&self, plan_id: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|entry| entry.definition.id.as_str() == plan_id)
    }

    /// A plan that a change may still alter: known and not yet transferred.
    fn open_plan(&self, plan_id: &str) -> Result<usize, ValidationError> {
        let index = self.index_of(plan_id).ok_or_else(|| {
            ValidationError::new("plan_id", format!("no plan `{plan_id}` is in force"))
        })?;
        if let Some(transfer) = &self.entries[index].definition.transfer {
            return Err(ValidationError::new(
                "plan_id",
                format!(
                    "plan `{plan_id}` was transferred to `{}`; its definition is closed",
                    transfer.successor
                ),
            ));
        }
        Ok(index)
    }
}

/// Folds a log the way the service does: the definitions the log puts in force first, then
/// every event under them.
pub fn replay_log(
    configured: Vec<PlanDefinition>,
    events: &[RecordedEvent],
) -> (PlanRegistry, crate::Projection) {
    let registry = PlanRegistry::from_log(configured, events);
    let projection = crate::Projection::replay(registry.plans(), events);
    (registry, projection)
}
