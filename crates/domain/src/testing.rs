//! Random histories for property tests (feature `testing`): every activity kind, survey
//! waves in any order, corrections and retractions of any event (amendments, retracted and
//! unknown ones too), and the roadmap's lifecycle (extend, revise a target, add and retire a
//! KPI, adopt the Fifth Information Plan and transfer into it). Shared by the domain's,
//! the service's and the GraphQL crate's differential tests against [`crate::reference`].

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::event::LedgerEvent;
use crate::plan::PlanDefinition;
use crate::recorded::RecordedEvent;

const ROADMAP: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const FIFTH: &str = include_str!("../../../config/plans/fifth-information-plan.toml");
const MAPPING: &str = include_str!("../../../config/plans/telework-roadmap-to-fifth.toml");

/// The configured plans the histories are written for: the roadmap.
pub fn configured() -> Vec<PlanDefinition> {
    vec![PlanDefinition::from_toml(ROADMAP).expect("the roadmap parses")]
}

/// When the first event of [`log_of`] is recorded.
pub fn start() -> DateTime<Utc> {
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
pub fn activity() -> impl Strategy<Value = (String, Value)> {
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

/// One step of a history.
#[derive(Debug, Clone)]
pub enum Op {
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

pub fn op() -> impl Strategy<Value = Op> {
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

impl Op {
    /// The event type and payload this step records, its target picked among the ids
    /// `recorded` so far; `None` when it has nothing to target yet.
    pub fn request(&self, recorded: &[Uuid]) -> Option<(String, Value)> {
        let pick = |index: usize| (!recorded.is_empty()).then(|| recorded[index % recorded.len()]);
        let (kind, payload) = match self {
            Op::Record(kind, payload) => (kind.as_str(), payload.clone()),
            Op::Correct(index, kind, payload) => (
                "correction",
                json!({"target": pick(*index)?, "target_type": kind, "replacement": payload,
                       "reason": "typo", "decided_on": "2025-06-01"}),
            ),
            Op::Retract(index) => (
                "retraction",
                json!({"target": pick(*index)?, "reason": "twice", "decided_on": "2025-06-01"}),
            ),
            Op::AmendUnknown => (
                "retraction",
                json!({"target": Uuid::from_u128(7), "reason": "?", "decided_on": "2025-06-01"}),
            ),
            Op::Extend => (
                "plan_extended",
                json!({"plan_id": "telework-roadmap", "last": "R8", "decided_on": "2025-06-01",
                       "reason": "one more year"}),
            ),
            Op::ReviseTarget(value) => (
                "kpi_target_revised",
                json!({"plan_id": "telework-roadmap", "kpi": "2",
                       "target": {"value": value.to_string(), "kind": "cumulative"},
                       "decided_on": "2025-06-01", "reason": "revised"}),
            ),
            Op::AddKpi => (
                "kpi_added",
                json!({"plan_id": "telework-roadmap", "decided_on": "2025-06-01",
                       "reason": "exhibitions counted",
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
            Op::RetireKpi(last) => (
                "kpi_retired",
                json!({"plan_id": "telework-roadmap", "kpi": "11", "last_year": label(*last),
                       "decided_on": "2025-06-01", "reason": "moved"}),
            ),
            Op::AdoptFifth => (
                "plan_adopted",
                json!({"definition": FIFTH, "adopted_on": "2026-03-01"}),
            ),
            Op::Transfer => {
                let mapping: Value = toml::from_str(MAPPING).expect("the mapping file parses");
                (
                    "plan_transferred",
                    json!({"plan_id": "telework-roadmap", "successor": "fifth-information-plan",
                           "effective_from": "R9", "decided_on": "2026-03-31",
                           "mapping": mapping["mapping"]}),
                )
            }
        };
        Some((kind.to_owned(), payload))
    }
}

/// The log a history gives when every valid step is recorded (positions from 1, ids rising
/// like the store's, ten seconds apart from [`start`]); steps whose payload the domain refuses
/// are skipped.
pub fn log_of(ops: &[Op]) -> Vec<RecordedEvent> {
    let mut events: Vec<RecordedEvent> = Vec::new();
    let mut ids = Vec::new();
    for op in ops {
        let Some((kind, payload)) = op.request(&ids) else {
            continue;
        };
        let Ok(event) = LedgerEvent::parse(&kind, &payload) else {
            continue;
        };
        let position = events.len() as u64 + 1;
        let id = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0000 | u128::from(position));
        ids.push(id);
        events.push(RecordedEvent {
            id,
            position,
            recorded_at: start() + Duration::seconds(position as i64 * 10),
            actor: "clerk".to_owned(),
            provenance: None,
            event,
        });
    }
    events
}

/// Histories with the plan lifecycle in a useful order (extend, adopt, transfer) often enough.
pub fn history() -> impl Strategy<Value = Vec<Op>> {
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

/// No valid-time limit, a day of R3-R9, or the end of a fiscal year.
pub fn through_date() -> impl Strategy<Value = Option<NaiveDate>> {
    prop_oneof![
        2 => Just(None),
        1 => year_and_day().prop_map(|(_, day)| Some(day)),
        1 => (3i32..=9).prop_map(|reiwa| NaiveDate::from_ymd_opt(2019 + reiwa, 3, 31)),
    ]
}
