//! The fold: sums per fiscal year, none-is-not-zero, units, corrections, retractions, as-of.

use chrono::{DateTime, Duration, TimeZone, Utc};
use kpi_domain::{
    replay_log, FindingKind, FiscalYear, LedgerEvent, PlanDefinition, PlanRegistry, Projection,
    RecordedEvent, Series,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const FIFTH: &str = include_str!("../../../config/plans/fifth-information-plan.toml");
const MAPPING: &str = include_str!("../../../config/plans/telework-roadmap-to-fifth.toml");

fn plan() -> PlanDefinition {
    PlanDefinition::from_toml(PLAN).expect("the roadmap plan parses")
}

fn r(n: i64) -> FiscalYear {
    FiscalYear::from_reiwa(n).unwrap()
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 4, 1, 0, 0, 0).unwrap()
}

struct Log {
    events: Vec<RecordedEvent>,
    /// Ids that decrease with position, the opposite of what the store's UUID v7 ids do.
    descending_ids: bool,
}

impl Log {
    fn new() -> Self {
        Self {
            events: Vec::new(),
            descending_ids: false,
        }
    }

    fn record(&mut self, event_type: &str, payload: Value) -> Uuid {
        let event = LedgerEvent::parse(event_type, &payload)
            .unwrap_or_else(|error| panic!("{event_type}: {error}"));
        let position = self.events.len() as u64 + 1;
        let id = if self.descending_ids {
            Uuid::from_u128(u128::MAX - u128::from(position))
        } else {
            Uuid::from_u128(u128::from(position) | (0x0190 << 112))
        };
        self.events.push(RecordedEvent {
            id,
            position,
            recorded_at: start() + Duration::seconds(position as i64),
            actor: "test".to_owned(),
            provenance: None,
            event,
        });
        id
    }

    fn projection(&self) -> Projection {
        Projection::replay(vec![plan()], &self.events)
    }
}

fn seminar(title: &str, date: &str, unique: u32, attendances: u32, sessions: u32) -> Value {
    json!({
        "title": title, "organiser": "DX・テレワーク推進センター", "first_date": date,
        "sessions": sessions, "participants": {"unique": unique, "attendances": attendances},
        "status": "held"
    })
}

fn opening(measure: &str, year: &str, value: &str, unit: &str) -> Value {
    json!({"measure": measure, "fiscal_year": year, "value": value, "unit": unit,
           "source": "FY2024 report, KPI table"})
}

fn value_of(
    projection: &Projection,
    kpi: &str,
    series: Series,
    year: FiscalYear,
) -> Option<String> {
    let table = projection.table("telework-roadmap").unwrap();
    let row = table.row(kpi, series).unwrap();
    row.cell(year).unwrap().value.map(|value| value.to_string())
}

#[test]
fn the_roadmap_plan_has_twelve_kpis_and_three_b_rows_over_r3_to_r7() {
    let plan = plan();
    assert_eq!(plan.id.as_str(), "telework-roadmap");
    assert_eq!(plan.pillars.len(), 4);
    assert_eq!(
        plan.kpis
            .iter()
            .filter(|k| k.series == Series::Main)
            .count(),
        12
    );
    let b_rows: Vec<&str> = plan
        .kpis
        .iter()
        .filter(|k| k.series == Series::B)
        .map(|k| k.id.as_str())
        .collect();
    assert_eq!(b_rows, ["4", "5", "9"]);
    let labels: Vec<String> = plan.period.years().iter().map(|y| y.label()).collect();
    assert_eq!(labels, ["R3", "R4", "R5", "R6", "R7"]);
}

#[test]
fn a_year_without_events_has_no_figure_and_a_zero_is_a_figure() {
    let mut log = Log::new();
    log.record("seminar", seminar("A", "2024-05-01", 0, 0, 1));
    let projection = log.projection();
    assert_eq!(
        value_of(&projection, "2", Series::Main, r(6)).as_deref(),
        Some("0")
    );
    assert_eq!(value_of(&projection, "2", Series::Main, r(5)), None);
    assert_eq!(value_of(&projection, "7", Series::Main, r(6)), None);
    let table = projection.table("telework-roadmap").unwrap();
    assert_eq!(table.row("7", Series::Main).unwrap().cumulative, None);
    assert!(projection.table("no-such-plan").is_none());
}

#[test]
fn a_figure_in_another_unit_is_shown_but_not_summed() {
    let mut log = Log::new();
    let firms = log.record(
        "opening_figure",
        opening("short_hour_telework_job_openings", "R5", "19", "firms"),
    );
    log.record(
        "survey_response",
        json!({"wave_id": "w", "firm_id": "f1", "fiscal_year": "R6",
               "practises_telework": false, "job_openings": 5}),
    );
    let projection = log.projection();
    let table = projection.table("telework-roadmap").unwrap();
    let row = table.row("3", Series::Main).unwrap();
    let r5 = row.cell(r(5)).unwrap();
    assert_eq!(r5.value.unwrap().to_string(), "19");
    assert_eq!(r5.unit, Some(kpi_domain::Unit::Firms));
    assert!(!r5.counted);
    assert_eq!(row.cumulative.unwrap().to_string(), "5");
    assert_eq!(row.achievement.unwrap().to_string(), "2.5");
    let findings = projection.audit_findings();
    let wrong_unit: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::WrongUnit)
        .collect();
    assert_eq!(wrong_unit.len(), 1);
    assert_eq!(wrong_unit[0].event_ids, vec![firms]);
    assert_eq!(wrong_unit[0].kpi.as_deref(), Some("3"));
}

#[test]
fn a_correction_replaces_and_a_retraction_removes_a_contribution() {
    let mut log = Log::new();
    let first = log.record("seminar", seminar("A", "2024-05-01", 41, 41, 1));
    let second = log.record("seminar", seminar("B", "2024-06-01", 10, 10, 1));
    assert_eq!(
        value_of(&log.projection(), "2", Series::Main, r(6)).as_deref(),
        Some("51")
    );

    let correction = log.record(
        "correction",
        json!({"target": first, "target_type": "seminar",
               "replacement": seminar("A", "2024-05-01", 40, 40, 1),
               "reason": "double-counted speaker", "decided_on": "2025-04-02"}),
    );
    let projection = log.projection();
    assert_eq!(
        value_of(&projection, "2", Series::Main, r(6)).as_deref(),
        Some("50")
    );
    let table = projection.table("telework-roadmap").unwrap();
    let cell = table
        .row("2", Series::Main)
        .unwrap()
        .cell(r(6))
        .unwrap()
        .clone();
    assert_eq!(
        cell.event_ids,
        vec![second, first],
        "the corrected event counts from its correction"
    );
    assert_eq!(cell.amended_by, vec![correction]);

    let retraction = log.record(
        "retraction",
        json!({"target": second, "reason": "never held", "decided_on": "2025-04-02"}),
    );
    let projection = log.projection();
    assert_eq!(
        value_of(&projection, "2", Series::Main, r(6)).as_deref(),
        Some("40")
    );
    let table = projection.table("telework-roadmap").unwrap();
    let cell = table
        .row("2", Series::Main)
        .unwrap()
        .cell(r(6))
        .unwrap()
        .clone();
    assert_eq!(cell.event_ids, vec![first]);
    assert_eq!(cell.amended_by, vec![correction, retraction]);
    assert_eq!(projection.amendments_of(first), [correction]);
    assert_eq!(projection.amendments_of(second), [retraction]);

    // A correction may move an activity to another year: the old year loses it.
    let second_correction = log.record(
        "correction",
        json!({"target": first, "target_type": "seminar",
               "replacement": seminar("A", "2023-05-01", 40, 40, 1),
               "reason": "wrong year", "decided_on": "2025-04-03"}),
    );
    let projection = log.projection();
    assert_eq!(value_of(&projection, "2", Series::Main, r(6)), None);
    assert_eq!(
        value_of(&projection, "2", Series::Main, r(5)).as_deref(),
        Some("40")
    );
    assert_eq!(
        projection
            .activity_summary(kpi_domain::EventKind::Seminar, r(6))
            .events,
        0
    );
    assert_eq!(
        projection.amendments_of(first),
        [correction, second_correction],
        "an event's amendments, in log order"
    );
    assert_eq!(projection.amendments_of(correction), [] as [Uuid; 0]);
}

#[test]
fn amendments_that_cannot_apply_change_nothing_and_are_reported() {
    let mut log = Log::new();
    let held = log.record("seminar", seminar("A", "2024-05-01", 5, 5, 1));
    let partner = log.record(
        "partnership",
        json!({"organisation": "静岡県立大学", "fiscal_year": "R6"}),
    );
    let before = log.projection().table("telework-roadmap").unwrap();
    let of_nothing = log.record(
        "retraction",
        json!({"target": Uuid::nil(), "reason": "?", "decided_on": "2025-04-02"}),
    );
    let wrong_kind = log.record(
        "correction",
        json!({"target": held, "target_type": "partnership",
               "replacement": {"organisation": "X", "fiscal_year": "R6"},
               "reason": "wrong kind", "decided_on": "2025-04-02"}),
    );
    let retraction = log.record(
        "retraction",
        json!({"target": partner, "reason": "duplicate", "decided_on": "2025-04-02"}),
    );
    let again = log.record(
        "retraction",
        json!({"target": partner, "reason": "again", "decided_on": "2025-04-02"}),
    );
    let undo = log.record(
        "retraction",
        json!({"target": retraction, "reason": "undo", "decided_on": "2025-04-02"}),
    );
    // After its retraction, so it cannot apply; listed after it all the same.
    let after_retraction = log.record(
        "correction",
        json!({"target": partner, "target_type": "partnership",
               "replacement": {"organisation": "Y", "fiscal_year": "R6"},
               "reason": "too late", "decided_on": "2025-04-03"}),
    );
    let projection = log.projection();
    let after = projection.table("telework-roadmap").unwrap();
    assert_eq!(
        after.row("2", Series::Main),
        before.row("2", Series::Main),
        "seminars untouched"
    );
    assert_eq!(value_of(&projection, "11", Series::Main, r(6)), None);
    let ignored = projection
        .audit_findings()
        .into_iter()
        .filter(|f| f.kind == FindingKind::IgnoredAmendment)
        .count();
    assert_eq!(ignored, 5);
    // An event's history holds every amendment naming it, applied or not, in log order.
    assert_eq!(
        projection.amendments_of(partner),
        [retraction, again, after_retraction]
    );
    assert_eq!(projection.amendments_of(held), [wrong_kind]);
    assert_eq!(projection.amendments_of(retraction), [undo]);
    assert_eq!(projection.amendments_of(Uuid::nil()), [of_nothing]);
}

#[test]
fn the_rate_is_the_latest_waves_share_and_opening_figures_fill_earlier_years() {
    let mut log = Log::new();
    log.record(
        "opening_figure",
        opening("telework_rate", "R3", "29.0", "percent"),
    );
    log.record(
        "survey_wave",
        json!({"wave_id": "early", "title": "t", "fiscal_year": "R6", "date": "2024-06-01",
               "firms_asked": 10}),
    );
    log.record(
        "survey_wave",
        json!({"wave_id": "late", "title": "t", "fiscal_year": "R6", "date": "2024-12-01",
               "firms_asked": 10}),
    );
    for (wave, firm, yes, date) in [
        ("early", "a", true, "2024-06-02"),
        ("early", "b", true, "2024-06-02"),
        ("late", "a", true, "2024-12-02"),
        ("late", "b", false, "2024-12-02"),
        ("late", "c", false, "2024-12-02"),
    ] {
        log.record(
            "survey_response",
            json!({"wave_id": wave, "firm_id": firm, "fiscal_year": "R6", "date": date,
                   "practises_telework": yes, "job_openings": 0}),
        );
    }
    let projection = log.projection();
    assert_eq!(
        value_of(&projection, "1", Series::Main, r(3)).as_deref(),
        Some("29.0")
    );
    assert_eq!(
        value_of(&projection, "1", Series::Main, r(6)).as_deref(),
        Some("33.3")
    );
    let table = projection.table("telework-roadmap").unwrap();
    let row = table.row("1", Series::Main).unwrap();
    assert_eq!(row.cumulative, None);
    assert_eq!(
        row.achievement, None,
        "the report shows no achievement for KPI 1"
    );
}

#[test]
fn scheduled_activities_counted_as_held_and_declared_totals_are_findings() {
    let mut log = Log::new();
    let scheduled = log.record(
        "skill_training",
        json!({"department": "こども未来課", "title": "1から学ぶChatGPT", "fiscal_year": "R6",
               "first_date": "2025-02-27", "sessions": 1, "participants": 10,
               "status": "scheduled"}),
    );
    log.record("seminar", seminar("A", "2024-05-01", 6, 30, 5));
    log.record("seminar", seminar("B", "2024-06-01", 3, 3, 1));
    let declared = log.record(
        "declared_total",
        json!({"of": "seminar", "organiser": "DX・テレワーク推進センター", "fiscal_year": "R6",
               "count": 7, "source": "report"}),
    );
    let matching = log.record(
        "declared_total",
        json!({"of": "seminar", "fiscal_year": "R6", "count": 6, "source": "sessions claim"}),
    );
    let findings = log.projection().audit_findings();
    let scheduled_findings: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::ScheduledCountedAsHeld)
        .collect();
    assert_eq!(scheduled_findings.len(), 1);
    assert_eq!(scheduled_findings[0].event_ids, vec![scheduled]);
    let mismatches: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::DeclaredTotalMismatch)
        .collect();
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    assert_eq!(mismatches[0].event_ids, vec![declared]);
    assert!(
        mismatches[0].message.contains("records 2 (6 sessions)"),
        "{}",
        mismatches[0].message
    );
    assert!(!mismatches.iter().any(|f| f.event_ids.contains(&matching)));

    log.record(
        "correction",
        json!({"target": scheduled, "target_type": "skill_training",
               "replacement": {"department": "こども未来課", "title": "1から学ぶChatGPT",
                               "fiscal_year": "R6", "first_date": "2025-02-27", "sessions": 1,
                               "participants": 10, "status": "held"},
               "reason": "held as planned", "decided_on": "2025-03-01"}),
    );
    let findings = log.projection().audit_findings();
    assert!(!findings
        .iter()
        .any(|f| f.kind == FindingKind::ScheduledCountedAsHeld));
}

/// A small arbitrary log of activities, corrections and retractions.
fn arbitrary_log() -> impl Strategy<Value = Vec<(u8, u32, u16, usize)>> {
    prop::collection::vec((0u8..6, 0u32..200, 0u16..700, any::<usize>()), 1..40)
}

fn build(ops: &[(u8, u32, u16, usize)]) -> Log {
    build_with(ops, false)
}

fn build_with(ops: &[(u8, u32, u16, usize)], descending_ids: bool) -> Log {
    let mut log = Log::new();
    log.descending_ids = descending_ids;
    let mut activities: Vec<Uuid> = Vec::new();
    for (index, (op, amount, day, pick)) in ops.iter().enumerate() {
        let date = chrono::NaiveDate::from_ymd_opt(2021, 4, 1).unwrap()
            + Duration::days(i64::from(*day) * 2);
        let fy = FiscalYear::from_date(date).unwrap().label();
        let id = match op {
            0 => Some(log.record(
                "seminar",
                seminar(&format!("s{index}"), &date.to_string(), *amount, *amount, 1),
            )),
            1 => Some(log.record(
                "consultation",
                json!({"provider": "p", "persons": amount,
                       "period": {"from": date.to_string(), "to": date.to_string()}}),
            )),
            2 => Some(log.record(
                "subsidy_grant",
                json!({"programme": "先導的テレワーク移住者支援補助金", "beneficiary": "household",
                       "persons": amount % 5 + 1, "fiscal_year": fy}),
            )),
            3 => Some(log.record(
                "survey_response",
                json!({"wave_id": "w", "firm_id": format!("f{index}"), "fiscal_year": fy,
                       "practises_telework": amount % 2 == 0, "job_openings": amount % 7}),
            )),
            6 | 7 => {
                let change = lifecycle_change(*op, *amount);
                let event = LedgerEvent::parse(change.0, &change.1).unwrap();
                // The service refuses a change that does not fit the plans in force.
                if PlanRegistry::from_log(vec![plan()], &log.events)
                    .check(&event)
                    .is_ok()
                {
                    log.record(change.0, change.1);
                }
                None
            }
            4 if !activities.is_empty() => {
                let target = activities[pick % activities.len()];
                log.record(
                    "retraction",
                    json!({"target": target, "reason": "r", "decided_on": "2025-04-01"}),
                );
                None
            }
            _ if !activities.is_empty() => {
                let target = activities[pick % activities.len()];
                let kind = log
                    .events
                    .iter()
                    .find(|event| event.id == target)
                    .unwrap()
                    .event
                    .clone();
                let mut payload = kind.to_payload();
                if kind.event_type() == "seminar" {
                    payload["participants"] =
                        json!({"unique": amount / 2, "attendances": amount / 2});
                }
                log.record(
                    "correction",
                    json!({"target": target, "target_type": kind.event_type(),
                           "replacement": payload, "reason": "c", "decided_on": "2025-04-01"}),
                );
                None
            }
            _ => None,
        };
        activities.extend(id);
    }
    log
}

/// A plan lifecycle change of the roadmap (op 6) or of its succession (op 7).
fn lifecycle_change(op: u8, amount: u32) -> (&'static str, Value) {
    match (op, amount % 4) {
        (6, 0) => (
            "plan_extended",
            json!({"plan_id": "telework-roadmap", "last": "R8", "decided_on": "2025-06-01",
                   "reason": "extended"}),
        ),
        (6, 1) => (
            "kpi_target_revised",
            json!({"plan_id": "telework-roadmap", "kpi": "2",
                   "target": {"value": (amount + 1).to_string(), "kind": "cumulative"},
                   "decided_on": "2025-06-01", "reason": "revised"}),
        ),
        (6, 2) => (
            "kpi_retired",
            json!({"plan_id": "telework-roadmap", "kpi": "11",
                   "last_year": format!("R{}", 3 + amount % 3),
                   "decided_on": "2025-06-01", "reason": "retired"}),
        ),
        (6, _) => (
            "kpi_added",
            json!({"plan_id": "telework-roadmap", "decided_on": "2025-06-01",
                   "definition": "id = \"13\"\npillar = \"1\"\nname = { ja = \"回数\", en = \"Seminars\" }\nunit = \"times\"\naggregation = \"sum\"\ncumulative = true\nsources = [{ event = \"seminar\", count = true }]"}),
        ),
        (_, 0 | 1) => (
            "plan_adopted",
            json!({"definition": FIFTH, "adopted_on": "2027-03-01"}),
        ),
        _ => {
            let mapping: Value = toml::from_str(MAPPING).unwrap();
            (
                "plan_transferred",
                json!({"plan_id": "telework-roadmap", "successor": "fifth-information-plan",
                       "effective_from": "R9", "decided_on": "2027-03-31",
                       "mapping": mapping["mapping"]}),
            )
        }
    }
}

/// Activities over R3-R9, amendments and plan lifecycle changes.
fn arbitrary_lifecycle_log() -> impl Strategy<Value = Vec<(u8, u32, u16, usize)>> {
    prop::collection::vec((0u8..8, 0u32..200, 0u16..1100, any::<usize>()), 1..40)
}

/// KPI, series, yearly values, cumulative: a row's figures without drill-down ids.
type RowFigures = (String, Series, Vec<Option<String>>, Option<String>);

fn figures(projection: &Projection) -> Vec<RowFigures> {
    projection
        .table("telework-roadmap")
        .unwrap()
        .rows
        .into_iter()
        .map(|row| {
            let cells = row
                .cells
                .iter()
                .map(|cell| cell.value.map(|v| v.to_string()))
                .collect();
            (
                row.kpi,
                row.series,
                cells,
                row.cumulative.map(|v| v.to_string()),
            )
        })
        .collect()
}

proptest! {
    #[test]
    fn the_order_of_event_ids_does_not_change_the_figures(ops in arbitrary_log()) {
        let ascending = build_with(&ops, false).projection();
        let descending = build_with(&ops, true).projection();
        prop_assert_eq!(figures(&ascending), figures(&descending));
        prop_assert_eq!(
            ascending.audit_findings().len(),
            descending.audit_findings().len()
        );
    }

    #[test]
    fn projecting_a_prefix_equals_the_as_of_projection(ops in arbitrary_log(), cut in any::<usize>()) {
        let log = build(&ops);
        let cut = cut % (log.events.len() + 1);
        let prefix = Projection::replay(vec![plan()], &log.events[..cut]);
        let at = if cut == 0 {
            start()
        } else {
            log.events[cut - 1].recorded_at
        };
        let as_of = Projection::as_of(vec![plan()], &log.events, at);
        prop_assert_eq!(prefix.tables(), as_of.tables());
        prop_assert_eq!(prefix.audit_findings(), as_of.audit_findings());
        prop_assert_eq!(as_of.applied(), cut as u64);
    }

    #[test]
    fn retracting_and_re_recording_an_activity_gives_the_original_figures(
        ops in arbitrary_log(),
        pick in any::<usize>(),
    ) {
        let mut log = build(&ops);
        let original = log.projection();
        let live: Vec<&RecordedEvent> = log
            .events
            .iter()
            .filter(|event| !event.event.kind().is_amendment())
            .collect();
        prop_assume!(!live.is_empty());
        let target = live[pick % live.len()].clone();
        // Only an event whose current state is its own payload can be re-recorded as is.
        let amended = log.events.iter().any(|event| match &event.event {
            LedgerEvent::Correction(c) => c.target == target.id,
            LedgerEvent::Retraction(r) => r.target == target.id,
            _ => false,
        });
        prop_assume!(!amended);
        log.record(
            "retraction",
            json!({"target": target.id, "reason": "re-record", "decided_on": "2025-04-01"}),
        );
        log.record(target.event.event_type(), target.event.to_payload());
        let again = log.projection();
        let values = |projection: &Projection| {
            projection
                .table("telework-roadmap")
                .unwrap()
                .rows
                .into_iter()
                .map(|row| {
                    let cells: Vec<_> = row.cells.iter().map(|cell| (cell.value, cell.unit)).collect();
                    (row.kpi, row.series, cells, row.cumulative, row.achievement)
                })
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(values(&original), values(&again));
    }
}

proptest! {
    /// The live service folds each event into the projection under the definitions it has;
    /// when a lifecycle event changes them it rebuilds the projection up to that event beside
    /// the live one, and swaps it in a few events later after catching up. That must equal a
    /// replay of the whole log.
    #[test]
    fn replay_equals_the_incremental_projection(
        ops in arbitrary_lifecycle_log(),
        delay in 0usize..4,
    ) {
        let log = build(&ops);
        let (_, replayed) = replay_log(vec![plan()], &log.events);
        let mut registry = PlanRegistry::new(vec![plan()]);
        let mut live = Projection::new(registry.plans());
        let mut rebuild_from: Option<usize> = None;
        let last = log.events.len().saturating_sub(1);
        for (index, event) in log.events.iter().enumerate() {
            live.apply(event);
            if registry.apply(event) {
                rebuild_from = Some(index);
            }
            match rebuild_from {
                Some(from) if index >= from + delay || index == last => {
                    let mut rebuilt = Projection::replay(registry.plans(), &log.events[..=from]);
                    for tail in &log.events[from + 1..=index] {
                        rebuilt.apply(tail);
                    }
                    live = rebuilt;
                    rebuild_from = None;
                }
                _ => {}
            }
        }
        prop_assert_eq!(live.tables(), replayed.tables());
        prop_assert_eq!(live.applied(), replayed.applied());
        prop_assert_eq!(
            live.transfer_report("telework-roadmap"),
            replayed.transfer_report("telework-roadmap")
        );
    }
}
