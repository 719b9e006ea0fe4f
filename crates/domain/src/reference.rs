//! The reference fold: what every figure *means*, computed the plain way.
//!
//! [`crate::Projection`] is a hand-optimised incremental fold (routes compiled per event
//! kind, contributions remembered so amendments can take them back, decided baselines
//! copied at a transfer, checkpoints). This module defines the same tables without any of
//! that: it first works out which version of every event is in force, then computes each
//! cell from the plain list of those events, reading fields from the payload JSON by the
//! names the plan definitions use. It is slow on purpose and readable top to bottom; tests
//! compare every path of the service with it, and `kpi-ledger audit recompute` prints where
//! the live table differs.
//!
//! The rules, in the order they apply:
//! 1. As-of (transaction time) keeps the prefix of the log recorded up to an instant; the
//!    plans in force are the configured ones changed by that prefix's lifecycle events.
//! 2. An event is in force in its latest version: a correction replaces it, a retraction
//!    removes it. An amendment whose target is unknown (or a plan lifecycle event), is itself
//!    an amendment, was retracted, or is of another kind than its replacement changes nothing
//!    and is a finding.
//! 3. Through (valid time) keeps the events in force whose day ([`LedgerEvent::occurred_on`])
//!    is on or before the date.
//! 4. An event counts in the cell of its fiscal year in each KPI row with a source of its
//!    kind whose filters it passes, if the year is in the plan's period and not after a
//!    retired KPI's last year. A sum row adds the measured amounts; an amount in another unit
//!    than the row's is shown only when the cell has nothing in its own unit, and never
//!    summed. A rate row shows the share of the latest survey wave: latest by the recorded
//!    wave's date (its `date`, else its fiscal year's end), else by the latest answer, ties to
//!    the greater wave id; opening figures stating a rate are dated at their year's end.
//! 5. A cell lists the events that count in it (in the order their versions in force were
//!    recorded), the applied amendments whose old or new version counted in it, and, for a
//!    transferred plan, those of its events whose version in force was recorded after the
//!    transfer (late entries).
//! 6. Cumulative: the counted cells plus the baseline; achievement: the cumulative (or the
//!    latest counted cell) against the target, rounded as the KPI says.
//! 7. A successor's baseline is its predecessor's history as decided at the transfer: these
//!    same rules applied to the log up to the transfer's position. The history now, and the
//!    events that moved it since, are reported beside it and never counted.

use std::collections::HashMap;

mod amounts;
mod compare;
mod findings;
mod fold;
mod transfer;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

pub use self::compare::differences;
use self::fold::Fold;
use crate::audit::{AuditFinding, FindingKind};
use crate::calendar::FiscalYear;
use crate::event::LedgerEvent;
use crate::plan::{PlanDefinition, Series};
use crate::projection::{KpiTable, TransferReport};
use crate::recorded::RecordedEvent;
use crate::registry::PlanRegistry;

/// Which part of the history to recompute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Transaction time: only events recorded at or before this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Valid time: only activities that happened on or before this day.
    pub through: Option<NaiveDate>,
}

/// Everything the reference fold computes from a log.
#[derive(Debug, Clone)]
pub struct Recomputed {
    pub registry: PlanRegistry,
    /// Every plan's table, in plan order.
    pub tables: Vec<KpiTable>,
    /// Findings, sorted by [`finding_key`].
    pub findings: Vec<AuditFinding>,
    /// Every transferred plan's report whose successor is in force.
    pub transfers: Vec<TransferReport>,
}

impl Recomputed {
    pub fn table(&self, plan_id: &str) -> Option<&KpiTable> {
        self.tables.iter().find(|table| table.plan_id == plan_id)
    }
}

/// What [`finding_key`] gives: kind, fiscal year, plan, KPI, series, event ids (sorted).
pub type FindingKey = (
    FindingKind,
    Option<FiscalYear>,
    Option<String>,
    Option<String>,
    Option<Series>,
    Vec<Uuid>,
);

/// The content of a finding that the reference fold vouches for (its wording is the
/// projection's): kind, year, plan, KPI, series and the events, sorted. Use it to order and
/// compare findings from different folds.
pub fn finding_key(finding: &AuditFinding) -> FindingKey {
    let mut ids = finding.event_ids.clone();
    ids.sort();
    (
        finding.kind,
        finding.fiscal_year,
        finding.plan_id.clone(),
        finding.kpi.clone(),
        finding.series,
        ids,
    )
}

/// Recomputes every table, finding and transfer report of `log` (in position order) under
/// the `configured` plans.
pub fn recompute(
    configured: Vec<PlanDefinition>,
    log: &[RecordedEvent],
    limits: Limits,
) -> Recomputed {
    let prefix: Vec<&RecordedEvent> = log
        .iter()
        .take_while(|event| limits.as_of.is_none_or(|at| event.recorded_at <= at))
        .collect();
    let registry = PlanRegistry::from_log(configured, prefix.iter().copied());
    let plans = registry.plans();
    let history = History::of(&prefix);
    let fold = Fold {
        plans: &plans,
        history: &history,
        through: limits.through,
    };
    let transfers: Vec<TransferReport> = plans
        .iter()
        .filter_map(|plan| fold.transfer_report(plan, &prefix))
        .collect();
    let tables = plans
        .iter()
        .map(|plan| fold.table(plan, &transfers))
        .collect::<Vec<_>>();
    let mut findings = fold.findings(&tables);
    findings.sort_by_key(finding_key);
    Recomputed {
        registry,
        tables,
        findings,
        transfers,
    }
}

/// One version of an event: the original or a correction's replacement.
#[derive(Clone, Copy)]
struct Version<'a> {
    id: Uuid,
    event: &'a LedgerEvent,
    /// Where this version entered the log (the original's or the correction's position).
    position: u64,
}

/// A correction or retraction that took effect.
struct Applied<'a> {
    amendment: Uuid,
    position: u64,
    before: Version<'a>,
    after: Option<Version<'a>>,
}

/// Which version of each event is in force after a log prefix.
struct History<'a> {
    /// In force, in the order their versions were recorded.
    in_force: Vec<Version<'a>>,
    applied: Vec<Applied<'a>>,
    /// (amendment, target), in log order.
    ignored: Vec<(Uuid, Uuid)>,
}

impl<'a> History<'a> {
    fn of(log: &[&'a RecordedEvent]) -> History<'a> {
        enum State<'a> {
            Amendment,
            InForce(Version<'a>),
            Retracted,
        }
        let mut states: HashMap<Uuid, State<'a>> = HashMap::new();
        let mut applied = Vec::new();
        let mut ignored = Vec::new();
        for recorded in log {
            let (target, replacement) = match &recorded.event {
                LedgerEvent::Correction(correction) => {
                    (correction.target, Some(&*correction.replacement))
                }
                LedgerEvent::Retraction(retraction) => (retraction.target, None),
                event if event.kind().is_lifecycle() => continue,
                event => {
                    let version = Version {
                        id: recorded.id,
                        event,
                        position: recorded.position,
                    };
                    states.insert(recorded.id, State::InForce(version));
                    continue;
                }
            };
            let before = match states.get(&target) {
                Some(State::InForce(version))
                    if replacement.is_none_or(|new| new.kind() == version.event.kind()) =>
                {
                    *version
                }
                _ => {
                    ignored.push((recorded.id, target));
                    states.insert(recorded.id, State::Amendment);
                    continue;
                }
            };
            let after = replacement.map(|event| Version {
                id: target,
                event,
                position: recorded.position,
            });
            states.insert(
                target,
                match after {
                    Some(version) => State::InForce(version),
                    None => State::Retracted,
                },
            );
            states.insert(recorded.id, State::Amendment);
            applied.push(Applied {
                amendment: recorded.id,
                position: recorded.position,
                before,
                after,
            });
        }
        let mut in_force: Vec<Version<'a>> = states
            .into_values()
            .filter_map(|state| match state {
                State::InForce(version) => Some(version),
                State::Amendment | State::Retracted => None,
            })
            .collect();
        in_force.sort_by_key(|version| version.position);
        History {
            in_force,
            applied,
            ignored,
        }
    }
}
