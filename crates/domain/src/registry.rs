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

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::calendar::FiscalYear;
use crate::error::ValidationError;
use crate::event::LedgerEvent;
use crate::lifecycle::{KpiAdded, KpiRetired, KpiTargetRevised, PlanExtended, PlanTransferred};
use crate::plan::{
    Aggregation, KpiDefinition, KpiRef, PlanDefinition, PlanTransfer, Series, Target, TargetKind,
};
use crate::recorded::RecordedEvent;

/// What one definition change did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// Read from the configuration at start-up (not an event).
    Configured,
    Adopted,
    PeriodExtended {
        from: FiscalYear,
        to: FiscalYear,
    },
    TargetRevised {
        kpi: KpiRef,
        from: Option<Target>,
        to: Target,
    },
    KpiAdded {
        kpi: KpiRef,
    },
    KpiRetired {
        kpi: KpiRef,
        last_year: FiscalYear,
    },
    Transferred {
        successor: String,
        effective_from: FiscalYear,
    },
}

impl Change {
    /// One line for `plan show` and the GraphQL history.
    pub fn describe(&self) -> String {
        match self {
            Change::Configured => "definition read from the configuration".to_owned(),
            Change::Adopted => "plan adopted with its recorded definition".to_owned(),
            Change::PeriodExtended { from, to } => {
                format!("period extended from {} to {}", from.label(), to.label())
            }
            Change::TargetRevised { kpi, from, to } => format!(
                "KPI {kpi} target revised from {} to {}",
                from.map_or_else(|| "none".to_owned(), |target| target_text(&target)),
                target_text(to)
            ),
            Change::KpiAdded { kpi } => format!("KPI {kpi} added"),
            Change::KpiRetired { kpi, last_year } => {
                format!("KPI {kpi} retired after {}", last_year.label())
            }
            Change::Transferred {
                successor,
                effective_from,
            } => format!("transferred to {successor} from {}", effective_from.label()),
        }
    }
}

fn target_text(target: &Target) -> String {
    let kind = match target.kind {
        TargetKind::Cumulative => "cumulative",
        TargetKind::Annual => "annual",
        TargetKind::AnnualMinimum => "annual minimum",
        TargetKind::Rate => "rate",
    };
    format!("{} ({kind})", target.value)
}

/// One step of a plan's definition history, with the definition it left in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefinitionChange {
    /// `None` for the configured definition.
    pub event_id: Option<Uuid>,
    pub position: Option<u64>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub actor: Option<String>,
    pub decided_on: Option<NaiveDate>,
    pub change: Change,
    pub definition: PlanDefinition,
}

/// A plan in force and how it came to be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanEntry {
    pub definition: PlanDefinition,
    pub history: Vec<DefinitionChange>,
}

impl PlanEntry {
    /// Whether the definition in force came from an adoption recorded in the log rather than
    /// from the configuration.
    pub fn is_adopted(&self) -> bool {
        self.history
            .iter()
            .any(|step| step.change == Change::Adopted)
    }
}

/// A lifecycle event in the log that changed nothing, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IgnoredChange {
    pub event_id: Uuid,
    pub position: u64,
    pub problem: String,
}

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

    /// The entry index (None: a new plan), the definition after the change, and the change.
    fn changed(
        &self,
        event: &LedgerEvent,
        position: u64,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        match event {
            LedgerEvent::PlanAdopted(adopted) => {
                let id = adopted.plan.id.as_str();
                let index = self.index_of(id);
                if let Some(entry) = index.map(|index| &self.entries[index]) {
                    let reason = if entry.is_adopted() {
                        format!("plan `{id}` is already adopted; record changes to it instead")
                    } else if entry.history.len() > 1 {
                        // Its definition would silently drop the changes already recorded.
                        format!(
                            "plan `{id}` is configured and already changed by recorded events; \
                             record further changes instead"
                        )
                    } else {
                        String::new()
                    };
                    if !reason.is_empty() {
                        return Err(ValidationError::new("definition", reason));
                    }
                }
                Ok((index, adopted.plan.clone(), Change::Adopted))
            }
            LedgerEvent::PlanExtended(extended) => self.extend(extended),
            LedgerEvent::KpiTargetRevised(revised) => self.revise(revised),
            LedgerEvent::KpiAdded(added) => self.add(added),
            LedgerEvent::KpiRetired(retired) => self.retire(retired),
            LedgerEvent::PlanTransferred(transfer) => self.transfer(transfer, position),
            _ => unreachable!("only lifecycle events reach here"),
        }
    }

    fn extend(
        &self,
        extended: &PlanExtended,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        let index = self.open_plan(extended.plan_id.as_str())?;
        let current = &self.entries[index].definition;
        if extended.last <= current.period.last {
            return Err(ValidationError::new(
                "last",
                format!(
                    "must be after the plan's current last year {}",
                    current.period.last.label()
                ),
            ));
        }
        let definition = current
            .extended_to(extended.last)
            .map_err(|error| ValidationError::new("last", error.reason))?;
        let change = Change::PeriodExtended {
            from: current.period.last,
            to: extended.last,
        };
        Ok((Some(index), definition, change))
    }

    fn kpi_index(definition: &PlanDefinition, kpi: &KpiRef) -> Result<usize, ValidationError> {
        definition
            .kpis
            .iter()
            .position(|known| known.id == kpi.kpi.as_str() && known.series == kpi.series)
            .ok_or_else(|| {
                ValidationError::new("kpi", format!("plan `{}` has no KPI {kpi}", definition.id))
            })
    }

    fn revise(
        &self,
        revised: &KpiTargetRevised,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        let index = self.open_plan(revised.plan_id.as_str())?;
        let mut definition = self.entries[index].definition.clone();
        let kpi_ref = revised.kpi_ref();
        let kpi_index = Self::kpi_index(&definition, &kpi_ref)?;
        let kpi = &mut definition.kpis[kpi_index];
        let target = revised.target.target();
        let rate_target = target.kind == TargetKind::Rate;
        if rate_target != (kpi.aggregation == Aggregation::LatestRate) {
            return Err(ValidationError::new(
                "target.kind",
                "a rate target goes with a rate KPI (aggregation latest_rate), and only with it",
            ));
        }
        if target.kind == TargetKind::Cumulative && kpi.achievement.show && !kpi.show_cumulative {
            return Err(ValidationError::new(
                "target.kind",
                "this KPI shows no cumulative, so a cumulative target has nothing to compare",
            ));
        }
        let from = kpi.target.replace(target);
        Ok((
            Some(index),
            definition,
            Change::TargetRevised {
                kpi: kpi_ref,
                from,
                to: target,
            },
        ))
    }

    fn add(
        &self,
        added: &KpiAdded,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        let index = self.open_plan(added.plan_id.as_str())?;
        let mut definition = self.entries[index].definition.clone();
        let kpi: &KpiDefinition = &added.kpi;
        if !definition
            .pillars
            .iter()
            .any(|pillar| pillar.id == kpi.pillar)
        {
            return Err(ValidationError::new(
                "definition",
                format!(
                    "kpi.pillar: plan `{}` has no pillar `{}`",
                    definition.id, kpi.pillar
                ),
            ));
        }
        let kpi_ref = kpi.reference();
        if definition.kpi(&kpi.id, kpi.series).is_some() {
            return Err(ValidationError::new(
                "definition",
                format!("kpi.id: plan `{}` already has KPI {kpi_ref}", definition.id),
            ));
        }
        if kpi.series == Series::B && definition.kpi(&kpi.id, Series::Main).is_none() {
            return Err(ValidationError::new(
                "definition",
                format!(
                    "kpi.series: a b-series row needs a main row for KPI {}",
                    kpi.id
                ),
            ));
        }
        definition.kpis.push(kpi.clone());
        Ok((Some(index), definition, Change::KpiAdded { kpi: kpi_ref }))
    }

    fn retire(
        &self,
        retired: &KpiRetired,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        let index = self.open_plan(retired.plan_id.as_str())?;
        let mut definition = self.entries[index].definition.clone();
        let kpi_ref = retired.kpi_ref();
        let kpi_index = Self::kpi_index(&definition, &kpi_ref)?;
        let period = definition.period;
        if retired.last_year < period.first || retired.last_year > period.last {
            return Err(ValidationError::new(
                "last_year",
                format!(
                    "must be within the plan's period {} to {}",
                    period.first.label(),
                    period.last.label()
                ),
            ));
        }
        let kpi = &mut definition.kpis[kpi_index];
        if let Some(last) = kpi.last_year {
            return Err(ValidationError::new(
                "kpi",
                format!("KPI {kpi_ref} is already retired after {}", last.label()),
            ));
        }
        kpi.last_year = Some(retired.last_year);
        Ok((
            Some(index),
            definition,
            Change::KpiRetired {
                kpi: kpi_ref,
                last_year: retired.last_year,
            },
        ))
    }

    fn transfer(
        &self,
        transfer: &PlanTransferred,
        position: u64,
    ) -> Result<(Option<usize>, PlanDefinition, Change), ValidationError> {
        let index = self.open_plan(transfer.plan_id.as_str())?;
        let predecessor = &self.entries[index].definition;
        let successor_id = transfer.successor.as_str();
        let successor = self
            .entry(successor_id)
            .map(|entry| &entry.definition)
            .ok_or_else(|| {
                ValidationError::new(
                    "successor",
                    format!("no plan `{successor_id}` is in force; adopt it first"),
                )
            })?;
        if let Some(other) = self.predecessor_of(successor_id) {
            return Err(ValidationError::new(
                "successor",
                format!(
                    "plan `{successor_id}` already succeeds `{}`",
                    other.definition.id
                ),
            ));
        }
        // The year right after the predecessor's period: no year falls between the plans.
        if Some(transfer.effective_from) != predecessor.period.last.next() {
            return Err(ValidationError::new(
                "effective_from",
                format!(
                    "must be the year after the predecessor's last year {}; extend the plan \
                     first to close a gap",
                    predecessor.period.last.label()
                ),
            ));
        }
        if transfer.effective_from < successor.period.first
            || transfer.effective_from > successor.period.last
        {
            return Err(ValidationError::new(
                "effective_from",
                format!(
                    "must be within the successor's period {} to {}",
                    successor.period.first.label(),
                    successor.period.last.label()
                ),
            ));
        }
        for (entry_index, entry) in transfer.mapping.iter().enumerate() {
            let path = format!("mapping[{entry_index}]");
            let target = successor
                .kpi(entry.successor_kpi.kpi.as_str(), entry.successor_kpi.series)
                .ok_or_else(|| {
                    ValidationError::new(
                        format!("{path}.successor_kpi"),
                        format!("plan `{successor_id}` has no KPI {}", entry.successor_kpi),
                    )
                })?;
            for (from_index, from) in entry.from_kpis.iter().enumerate() {
                let field = format!("{path}.from_kpis[{from_index}]");
                let source = predecessor
                    .kpi(from.kpi.as_str(), from.series)
                    .ok_or_else(|| {
                        ValidationError::new(
                            field.clone(),
                            format!("plan `{}` has no KPI {from}", predecessor.id),
                        )
                    })?;
                if source.unit != target.unit {
                    return Err(ValidationError::new(
                        field,
                        format!(
                            "KPI {from} counts {} but {} counts {}",
                            source.unit, entry.successor_kpi, target.unit
                        ),
                    ));
                }
                if source.aggregation != target.aggregation {
                    return Err(ValidationError::new(
                        field,
                        "a rate and a sum cannot feed each other",
                    ));
                }
            }
            if !entry.from_events.is_empty() && target.aggregation != Aggregation::Sum {
                return Err(ValidationError::new(
                    format!("{path}.from_events"),
                    "event selectors give sums; the successor KPI is a rate",
                ));
            }
        }
        let mut definition = predecessor.clone();
        definition.transfer = Some(PlanTransfer {
            successor: transfer.successor.clone(),
            effective_from: transfer.effective_from,
            position,
            mapping: transfer.mapping.clone(),
        });
        Ok((
            Some(index),
            definition,
            Change::Transferred {
                successor: successor_id.to_owned(),
                effective_from: transfer.effective_from,
            },
        ))
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
