//! Differential tests: the incremental projection, as every path of the service uses it
//! (a fresh fold, a checkpoint restored and the tail folded, a live fold rebuilt after each
//! change of definitions, as-of and through folds), agrees with the reference fold on every
//! cell, finding and transfer report of random histories.
//!
//! Cases: `PROPTEST_CASES` (default 256 here; CI runs the default). A longer run:
//! `PROPTEST_CASES=20000 cargo nextest run -p kpi-domain --test reference`.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use kpi_domain::reference::{self, finding_key, Limits, Recomputed};
use kpi_domain::{
    replay_log, AuditFinding, LedgerEvent, PlanDefinition, PlanRegistry, Projection, RecordedEvent,
    TransferReport,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{json, Value};
use uuid::Uuid;

const ROADMAP: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const FIFTH: &str = include_str!("../../../config/plans/fifth-information-plan.toml");
const MAPPING: &str = include_str!("../../../config/plans/telework-roadmap-to-fifth.toml");

fn configured() -> Vec<PlanDefinition> {
    vec![PlanDefinition::from_toml(ROADMAP).expect("the roadmap parses")]
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0).unwrap()
}

/// A fiscal year label R3..R9 and a day inside it.
fn year_and_day() -> impl Strategy<Value = (i64, NaiveDate)> {
    (3i64..=9, 0i64..365).prop_map(|(reiwa, day)| {
        let first = NaiveDate::from_ymd_opt(2018 + reiwa as i32, 4, 1).unwrap();
        (reiwa, first + Duration::days(day))
    })
}

fn label(reiwa: i64) -> String {
    format!("R{reiwa}")
}

fn date(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// An activity of any kind, as (event type, payload).
fn activity() -> impl Strategy<Value = (String, Value)> {
    let organiser = prop::sample::select(vec!["DX・テレワーク推進センター", "市民活躍課"]);
    prop_oneof![
        (year_and_day(), 0u32..60, 1u32..4, any::<bool>(), organiser.clone()).prop_map(
            |((_, day), unique, sessions, held, organiser)| (
                "seminar".to_owned(),
                json!({"title": "セミナー", "organiser": organiser, "first_date": date(day),
                       "sessions": sessions,
                       "participants": {"unique": unique, "attendances": unique * sessions},
                       "status": if held { "held" } else { "scheduled" }})
            )
        ),
        (year_and_day(), 0u32..300).prop_map(|((_, day), persons)| (
            "consultation".to_owned(),
            json!({"provider": "DX相談", "persons": persons,
                   "period": {"from": date(day), "to": date(day)}})
        )),
        (year_and_day(), 0u32..80, any::<bool>(), any::<bool>(), organiser).prop_map(
            |((reiwa, day), participants, dated, held, department)| {
                let mut payload = json!({"department": department, "title": "研修",
                    "fiscal_year": label(reiwa), "sessions": 2, "participants": participants,
                    "status": if held { "held" } else { "scheduled" }});
                if dated {
                    payload["first_date"] = json!(date(day));
                }
                ("skill_training".to_owned(), payload)
            }
        ),
        (0usize..3, year_and_day(), any::<bool>(), 1u32..12).prop_map(
            |(wave, (reiwa, day), dated, asked)| {
                let mut payload = json!({"wave_id": format!("w{wave}"), "title": "調査",
                    "fiscal_year": label(reiwa), "firms_asked": asked});
                if dated {
                    payload["date"] = json!(date(day));
                }
                ("survey_wave".to_owned(), payload)
            }
        ),
        (0usize..3, 0usize..6, year_and_day(), any::<bool>(), any::<bool>(), 0u32..20)
            .prop_map(|(wave, firm, (reiwa, day), dated, telework, openings)| {
                let mut payload = json!({"wave_id": format!("w{wave}"),
                    "firm_id": format!("f{firm}"), "fiscal_year": label(reiwa),
                    "practises_telework": telework, "job_openings": openings});
                if dated {
                    payload["date"] = json!(date(day));
                }
                ("survey_response".to_owned(), payload)
            }),
        (year_and_day(), any::<bool>(), any::<bool>(), 1u32..6).prop_map(
            |((reiwa, _), household, counted, persons)| (
                "subsidy_grant".to_owned(),
                json!({"programme": if counted { "先導的テレワーク移住者支援補助金" } else { "改修補助金" },
                       "beneficiary": if household { "household" } else { "firm" },
                       "persons": persons, "fiscal_year": label(reiwa)})
            )
        ),
        (year_and_day(), 0u32..5000, 0u32..100).prop_map(|((_, day), users, share)| (
            "coworking_tally".to_owned(),
            json!({"space": "WORX", "period": {"from": date(day), "to": date(day)},
                   "users": users, "work_use": users * share / 100})
        )),
        (year_and_day(), prop::sample::select(vec!["business_exchange", "tokyo_exchange", "other"]),
            0u32..100, 0u32..100)
            .prop_map(|((reiwa, _), kind, all, outside)| (
                "exchange_meeting".to_owned(),
                json!({"kind": kind, "title": "交流会", "fiscal_year": label(reiwa),
                       "participants": all.max(outside), "from_outside_city": outside})
            )),
        (year_and_day(), 0u32..30).prop_map(|((reiwa, _), participants)| (
            "workation_participation".to_owned(),
            json!({"programme": "研修型", "fiscal_year": label(reiwa), "participants": participants})
        )),
        year_and_day().prop_map(|(reiwa, _)| (
            "inflowing_firm".to_owned(),
            json!({"firm": "A社", "site": "WORX", "fiscal_year": label(reiwa)})
        )),
        year_and_day().prop_map(|(reiwa, _)| (
            "partnership".to_owned(),
            json!({"organisation": "大学", "fiscal_year": label(reiwa)})
        )),
        (year_and_day(), 1u32..14).prop_map(|((reiwa, _), count)| (
            "publication".to_owned(),
            json!({"channel": "website", "fiscal_year": label(reiwa), "count": count})
        )),
        year_and_day().prop_map(|(reiwa, _)| (
            "committee_meeting".to_owned(),
            json!({"committee": "部会", "fiscal_year": label(reiwa)})
        )),
        year_and_day().prop_map(|(reiwa, _)| (
            "exhibition".to_owned(),
            json!({"title": "展示会", "fiscal_year": label(reiwa)})
        )),
        (year_and_day(), 0u32..12).prop_map(|((reiwa, _), firms)| (
            "monitor_tour".to_owned(),
            json!({"title": "ツアー", "fiscal_year": label(reiwa), "firms": firms})
        )),
        (prop::sample::select(vec![
            ("seminar_consultation_participants", "persons"),
            ("short_hour_telework_job_openings", "firms"),
            ("telework_rate", "percent"),
            ("inflowing_firms", "firms"),
        ]), 3i64..=6, 0u32..100)
            .prop_map(|((measure, unit), reiwa, value)| (
                "opening_figure".to_owned(),
                json!({"measure": measure, "fiscal_year": label(reiwa),
                       "value": value.to_string(), "unit": unit, "source": "report"})
            )),
        (any::<bool>(), 3i64..=8, 0u32..6).prop_map(|(seminars, reiwa, count)| (
            "declared_total".to_owned(),
            json!({"of": if seminars { "seminar" } else { "skill_training" },
                   "fiscal_year": label(reiwa), "count": count, "source": "report"})
        )),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Record(String, Value),
    /// Correct the event picked by index (any event, amendments and retracted ones too).
    Correct(usize, String, Value),
    Retract(usize),
    /// An amendment of an id that is not in the log.
    AmendUnknown,
    Extend,
    ReviseTarget(u32),
    AddKpi,
    RetireKpi(i64),
    AdoptFifth,
    Transfer,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => activity().prop_map(|(kind, payload)| Op::Record(kind, payload)),
        3 => (any::<usize>(), activity()).prop_map(|(pick, (kind, payload))| Op::Correct(pick, kind, payload)),
        2 => any::<usize>().prop_map(Op::Retract),
        1 => Just(Op::AmendUnknown),
        1 => Just(Op::Extend),
        1 => (500u32..3000).prop_map(Op::ReviseTarget),
        1 => Just(Op::AddKpi),
        1 => (3i64..=8).prop_map(Op::RetireKpi),
        1 => Just(Op::AdoptFifth),
        1 => Just(Op::Transfer),
    ]
}

fn log_of(ops: &[Op]) -> Vec<RecordedEvent> {
    let mut events: Vec<RecordedEvent> = Vec::new();
    let mut push = |events: &mut Vec<RecordedEvent>, kind: &str, payload: Value| {
        let Ok(event) = LedgerEvent::parse(kind, &payload) else {
            return;
        };
        let position = events.len() as u64 + 1;
        events.push(RecordedEvent {
            id: Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0000 | u128::from(position)),
            position,
            recorded_at: start() + Duration::seconds(position as i64 * 10),
            actor: "clerk".to_owned(),
            provenance: None,
            event,
        });
    };
    let mapping: Value = toml::from_str(MAPPING).unwrap();
    for op in ops {
        let pick = |index: usize, events: &[RecordedEvent]| {
            (!events.is_empty()).then(|| events[index % events.len()].id)
        };
        match op {
            Op::Record(kind, payload) => push(&mut events, kind, payload.clone()),
            Op::Correct(index, kind, payload) => {
                if let Some(target) = pick(*index, &events) {
                    let correction = json!({"target": target, "target_type": kind,
                        "replacement": payload, "reason": "typo", "decided_on": "2025-06-01"});
                    push(&mut events, "correction", correction);
                }
            }
            Op::Retract(index) => {
                if let Some(target) = pick(*index, &events) {
                    let retraction =
                        json!({"target": target, "reason": "twice", "decided_on": "2025-06-01"});
                    push(&mut events, "retraction", retraction);
                }
            }
            Op::AmendUnknown => push(
                &mut events,
                "retraction",
                json!({"target": Uuid::from_u128(7), "reason": "?", "decided_on": "2025-06-01"}),
            ),
            Op::Extend => push(
                &mut events,
                "plan_extended",
                json!({"plan_id": "telework-roadmap", "last": "R8", "decided_on": "2025-06-01",
                       "reason": "one more year"}),
            ),
            Op::ReviseTarget(value) => push(
                &mut events,
                "kpi_target_revised",
                json!({"plan_id": "telework-roadmap", "kpi": "2",
                       "target": {"value": value.to_string(), "kind": "cumulative"},
                       "decided_on": "2025-06-01", "reason": "revised"}),
            ),
            Op::AddKpi => push(
                &mut events,
                "kpi_added",
                json!({"plan_id": "telework-roadmap", "decided_on": "2025-06-01",
                       "reason": "publications counted as a sum",
                       "definition": r#"
                           id = "13"
                           pillar = "4"
                           name = { ja = "展示会", en = "Exhibitions" }
                           unit = "times"
                           aggregation = "sum"
                           target = { value = "5", kind = "cumulative" }
                           sources = [ { event = "exhibition", count = true } ]
                       "#}),
            ),
            Op::RetireKpi(last) => push(
                &mut events,
                "kpi_retired",
                json!({"plan_id": "telework-roadmap", "kpi": "11", "last_year": label(*last),
                       "decided_on": "2025-06-01", "reason": "moved"}),
            ),
            Op::AdoptFifth => push(
                &mut events,
                "plan_adopted",
                json!({"definition": FIFTH, "adopted_on": "2026-03-01"}),
            ),
            Op::Transfer => push(
                &mut events,
                "plan_transferred",
                json!({"plan_id": "telework-roadmap", "successor": "fifth-information-plan",
                       "effective_from": "R9", "decided_on": "2026-03-31",
                       "mapping": mapping["mapping"]}),
            ),
        }
    }
    events
}

/// Histories with the plan lifecycle in a useful order (extend, adopt, transfer) often enough.
fn history() -> impl Strategy<Value = Vec<Op>> {
    (
        prop::collection::vec(op(), 0..40),
        any::<bool>(),
        prop::collection::vec(op(), 0..20),
    )
        .prop_map(|(mut before, transferred, after)| {
            if transferred {
                before.extend([Op::Extend, Op::AdoptFifth, Op::Transfer]);
            }
            before.extend(after);
            before
        })
}

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

fn through_date() -> impl Strategy<Value = Option<NaiveDate>> {
    prop_oneof![
        2 => Just(None),
        1 => year_and_day().prop_map(|(_, day)| Some(day)),
        1 => (3i32..=9).prop_map(|reiwa| NaiveDate::from_ymd_opt(2019 + reiwa, 3, 31)),
    ]
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

/// The generator's payloads are valid events: a history that silently dropped a kind would
/// test nothing about it.
#[test]
fn every_kind_of_op_makes_an_event() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut kinds: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let (kind, payload): (String, Value) = activity().new_tree(&mut runner).unwrap().current();
        LedgerEvent::parse(&kind, &payload)
            .unwrap_or_else(|error| panic!("{kind} {payload}: {error}"));
        kinds.insert(kind);
    }
    assert_eq!(kinds.len(), 17, "{kinds:?}");
    let ops = [
        Op::Extend,
        Op::ReviseTarget(2000),
        Op::AddKpi,
        Op::RetireKpi(5),
        Op::AdoptFifth,
        Op::Transfer,
    ];
    let log = log_of(&ops);
    assert_eq!(log.len(), ops.len(), "every lifecycle op parses");
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
