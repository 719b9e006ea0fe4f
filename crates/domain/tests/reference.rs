//! Differential tests: the incremental projection, as every path of the service uses it
//! (a fresh fold, a checkpoint restored and the tail folded, a live fold rebuilt after each
//! change of definitions, as-of and through folds), agrees with the reference fold on every
//! cell, finding and transfer report of random histories.
//!
//! Cases: `PROPTEST_CASES` (default 256 here; CI runs the default). A longer run:
//! `PROPTEST_CASES=20000 cargo nextest run -p kpi-domain --test reference`.

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate};
use kpi_domain::event::Family;
use kpi_domain::reference::{self, finding_key, Limits, Recomputed};
use kpi_domain::testing::{activity, configured, history, log_of, start, through_date, Op};
use kpi_domain::{
    replay_log, AuditFinding, EventKind, LedgerEvent, PlanRegistry, Projection, RecordedEvent,
    TransferReport,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{json, Value};

/// Everything a fold answers, in a form two folds can be compared in.
#[derive(Debug, PartialEq)]
struct Answers {
    tables: Vec<kpi_domain::KpiTable>,
    findings: Vec<AuditFinding>,
    transfers: Vec<TransferReport>,
}

fn answers_of(projection: &Projection) -> Answers {
    let mut findings = projection.audit_findings();
    findings.sort_by_key(finding_key);
    Answers {
        tables: projection.tables(),
        findings: findings.into_iter().map(without_message).collect(),
        transfers: projection
            .plans()
            .iter()
            .filter_map(|plan| projection.transfer_report(plan.id.as_str()))
            .collect(),
    }
}

fn without_message(finding: AuditFinding) -> AuditFinding {
    AuditFinding {
        message: String::new(),
        event_ids: finding_key(&finding).5,
        ..finding
    }
}

fn reference_answers(recomputed: Recomputed) -> Answers {
    Answers {
        tables: recomputed.tables,
        findings: recomputed
            .findings
            .into_iter()
            .map(without_message)
            .collect(),
        transfers: recomputed.transfers,
    }
}

/// The projection a fold of the whole log gives, under the plans the log puts in force.
fn folded(events: &[RecordedEvent], through: Option<NaiveDate>) -> Projection {
    let registry = PlanRegistry::from_log(configured(), events);
    let mut projection = Projection::through(registry.plans(), through);
    for event in events {
        projection.apply(event);
    }
    projection
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// A fresh fold (what `serve`, `table` and `replay` compute) equals the reference.
    #[test]
    fn the_fold_equals_the_reference(ops in history(), through in through_date()) {
        let log = log_of(&ops);
        let limits = Limits { as_of: None, through };
        let recomputed = reference::recompute(configured(), &log, limits);
        let projection = folded(&log, through);
        prop_assert_eq!(reference::differences(&projection, &recomputed), Vec::<String>::new());
        prop_assert_eq!(answers_of(&projection), reference_answers(recomputed));
    }

    /// As of any instant (transaction time), combined with through (valid time).
    #[test]
    fn as_of_and_through_equal_the_reference(
        ops in history(),
        cut in any::<usize>(),
        through in through_date(),
    ) {
        let log = log_of(&ops);
        let cut = cut % (log.len() + 1);
        let at = start() + Duration::seconds(cut as i64 * 10);
        let limits = Limits { as_of: Some(at), through };
        let expected = reference_answers(reference::recompute(configured(), &log, limits));
        let prefix: Vec<RecordedEvent> =
            log.iter().take_while(|event| event.recorded_at <= at).cloned().collect();
        let registry = PlanRegistry::from_log(configured(), &prefix);
        let mut projection = Projection::through(registry.plans(), through);
        for event in &log {
            if event.recorded_at > at {
                break;
            }
            projection.apply(event);
        }
        prop_assert_eq!(answers_of(&projection), expected);
    }

    /// A checkpoint restored and the rest of the log folded onto it equals the reference.
    #[test]
    fn a_restored_checkpoint_plus_the_tail_equals_the_reference(
        ops in history(),
        split in any::<usize>(),
    ) {
        let log = log_of(&ops);
        let split = split % (log.len() + 1);
        let (registry, _) = replay_log(configured(), &log);
        let head = Projection::replay(registry.plans(), &log[..split]);
        let mut restored = Projection::restore(registry.plans(), head.snapshot())
            .expect("a snapshot restores under the plans it was taken under");
        for event in &log[split..] {
            restored.apply(event);
        }
        let expected =
            reference_answers(reference::recompute(configured(), &log, Limits::default()));
        prop_assert_eq!(answers_of(&restored), expected);
    }

    /// The live service's fold: each event folded as it comes under the definitions in force,
    /// a rebuild after every change of definitions swapped in a few events later.
    #[test]
    fn the_live_fold_with_rebuilds_equals_the_reference(ops in history(), delay in 0usize..4) {
        let log = log_of(&ops);
        let mut registry = PlanRegistry::new(configured());
        let mut live = Projection::new(registry.plans());
        let mut rebuild_from: Option<usize> = None;
        let last = log.len().saturating_sub(1);
        for (index, event) in log.iter().enumerate() {
            live.apply(event);
            if registry.apply(event) {
                rebuild_from = Some(index);
            }
            match rebuild_from {
                Some(from) if index >= from + delay || index == last => {
                    let mut rebuilt = Projection::replay(registry.plans(), &log[..=from]);
                    for tail in &log[from + 1..=index] {
                        rebuilt.apply(tail);
                    }
                    live = rebuilt;
                    rebuild_from = None;
                }
                _ => {}
            }
        }
        let expected =
            reference_answers(reference::recompute(configured(), &log, Limits::default()));
        prop_assert_eq!(answers_of(&live), expected);
    }
}

/// The generator's payloads are valid events of every kind of the list: a history that
/// silently dropped a kind would test nothing about it, and a kind added to the list but not
/// to `kpi_domain::testing` fails here.
#[test]
fn every_kind_of_op_makes_an_event() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut kinds: BTreeSet<String> = BTreeSet::new();
    let mut last = None;
    for _ in 0..2000 {
        let (kind, payload): (String, Value) = activity().new_tree(&mut runner).unwrap().current();
        LedgerEvent::parse(&kind, &payload)
            .unwrap_or_else(|error| panic!("{kind} {payload}: {error}"));
        kinds.insert(kind.clone());
        last = Some((kind, payload));
    }
    let of_family = |family: Family| -> BTreeSet<EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(|kind| kind.family() == family)
            .collect()
    };
    let activities: BTreeSet<String> = of_family(Family::Activity)
        .into_iter()
        .map(|kind| kind.name().to_owned())
        .collect();
    assert_eq!(kinds, activities);
    let (kind, payload) = last.expect("2000 activities");
    let ops = [
        Op::Record(kind.clone(), payload.clone()),
        Op::Correct(0, kind, payload),
        Op::Retract(0),
        Op::Extend,
        Op::ReviseTarget(2000),
        Op::AddKpi,
        Op::RetireKpi(5),
        Op::AdoptFifth,
        Op::Transfer,
    ];
    let log = log_of(&ops);
    assert_eq!(log.len(), ops.len(), "every op parses");
    let made: BTreeSet<EventKind> = log[1..].iter().map(|record| record.event.kind()).collect();
    let mut others = of_family(Family::Amendment);
    others.extend(of_family(Family::Lifecycle));
    assert_eq!(made, others);
    let registry = PlanRegistry::from_log(configured(), &log);
    assert!(registry.ignored().is_empty(), "{:?}", registry.ignored());
    assert!(registry.plans()[0].transfer.is_some());
}

/// `differences` names what differs: a fold that missed the last seminar differs in KPI 2's
/// cell, cumulative and achievement, and in KPI 4b's.
#[test]
fn differences_name_the_cells_that_differ() {
    let ops = [
        Op::Record(
            "seminar".to_owned(),
            json!({"title": "A", "organiser": "X", "first_date": "2024-10-10", "sessions": 1,
                   "participants": {"unique": 10, "attendances": 10}, "status": "held"}),
        ),
        Op::Record(
            "seminar".to_owned(),
            json!({"title": "B", "organiser": "X", "first_date": "2024-11-10", "sessions": 1,
                   "participants": {"unique": 5, "attendances": 5}, "status": "held"}),
        ),
    ];
    let log = log_of(&ops);
    let recomputed = reference::recompute(configured(), &log, Limits::default());
    assert!(reference::differences(&folded(&log, None), &recomputed).is_empty());
    let missing_one = folded(&log[..1], None);
    let found = reference::differences(&missing_one, &recomputed);
    let text = found.join("\n");
    assert!(
        text.contains("KPI 2 R6 value: live Some(10) None, reference Some(15) None"),
        "{text}"
    );
    assert!(text.contains("KPI 2 cumulative"), "{text}");
    assert!(text.contains("KPI 4b R6 events"), "{text}");
}
