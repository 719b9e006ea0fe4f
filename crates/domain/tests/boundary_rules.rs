//! The rules the service applies at the boundary with what it looks up (issue 13, items 4, 5
//! and 7): nothing an activity may not be is recorded, and each refusal names its field.
//! Pure: the tests hand in the date of today, the plans in force and the related events.

use chrono::{NaiveDate, TimeZone, Utc};
use kpi_domain::{LedgerEvent, PlanDefinition, PlanRegistry, RecordedEvent};
use serde_json::{json, Value};
use uuid::Uuid;

const ROADMAP: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const FIFTH: &str = include_str!("../../../config/plans/fifth-information-plan.toml");

fn event(event_type: &str, payload: Value) -> LedgerEvent {
    LedgerEvent::parse(event_type, &payload)
        .unwrap_or_else(|error| panic!("{event_type} {payload}: {error}"))
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn seminar(first_date: &str, status: &str) -> LedgerEvent {
    event(
        "seminar",
        json!({
            "title": "DX人材育成セミナー", "organiser": "DX・テレワーク推進センター",
            "first_date": first_date, "sessions": 1,
            "participants": { "unique": 10, "attendances": 10 }, "status": status
        }),
    )
}

fn recorded(position: u64, event: LedgerEvent) -> RecordedEvent {
    RecordedEvent {
        id: Uuid::from_u128(u128::from(position)),
        position,
        recorded_at: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
        actor: "clerk".into(),
        provenance: None,
        event,
    }
}

#[test]
fn a_held_activity_after_today_is_refused_and_a_scheduled_one_may_lie_ahead() {
    let today = date("2026-12-04");
    let error = seminar("2035-05-10", "held")
        .check_not_future(today)
        .unwrap_err();
    assert_eq!(error.field, "first_date");
    assert!(error
        .reason
        .contains("2035-05-10 is after today (2026-12-04 in Japan)"));
    assert!(error.reason.contains("scheduled"), "{}", error.reason);
    seminar("2035-05-10", "scheduled")
        .check_not_future(today)
        .unwrap();
    seminar("2026-12-04", "held")
        .check_not_future(today)
        .unwrap();
    // One day later in Japan is already the future.
    let error = seminar("2026-12-05", "held")
        .check_not_future(today)
        .unwrap_err();
    assert_eq!(error.field, "first_date");

    // Kinds without a status have happened: their date, the end of their period, or the
    // start of their fiscal year may not lie ahead.
    let cases = [
        (
            "consultation",
            json!({ "provider": "DX相談", "persons": 5,
                    "period": { "from": "2026-12-01", "to": "2026-12-31" } }),
            "period.to",
        ),
        (
            "partnership",
            json!({ "organisation": "静岡県立大学", "fiscal_year": "R8", "date": "2027-01-15" }),
            "date",
        ),
        (
            "partnership",
            json!({ "organisation": "静岡県立大学", "fiscal_year": "R30" }),
            "fiscal_year",
        ),
        (
            "opening_figure",
            json!({ "measure": "seminar_participants", "fiscal_year": "R9", "value": 10,
                    "unit": "persons", "source": "a report not written yet" }),
            "fiscal_year",
        ),
    ];
    for (kind, payload, field) in cases {
        let error = event(kind, payload).check_not_future(today).unwrap_err();
        assert_eq!(error.field, field, "{kind}: {error}");
        assert!(error.reason.contains("cannot have happened yet"), "{error}");
    }
    // The current fiscal year has begun: a figure placed in it without a date passes.
    event(
        "partnership",
        json!({ "organisation": "静岡県立大学", "fiscal_year": "R8" }),
    )
    .check_not_future(today)
    .unwrap();

    // A correction is judged by its replacement; its own decision date is not judged.
    let correction = event(
        "correction",
        json!({ "target": Uuid::from_u128(1), "target_type": "seminar",
                "replacement": seminar("2035-05-10", "held").to_payload(),
                "reason": "date", "decided_on": "2040-01-01" }),
    );
    let error = correction.check_not_future(today).unwrap_err();
    assert_eq!(error.field, "replacement.first_date");
}

#[test]
fn an_activity_outside_every_plan_in_force_is_refused_naming_the_periods() {
    let roadmap = PlanDefinition::from_toml(ROADMAP).unwrap();
    let registry = PlanRegistry::new(vec![roadmap.clone()]);
    for (payload, field, year) in [
        (seminar("2019-06-01", "held"), "first_date", "R1"),
        (
            event(
                "partnership",
                json!({ "organisation": "静岡県立大学", "fiscal_year": "R30" }),
            ),
            "fiscal_year",
            "R30",
        ),
        (
            event(
                "coworking_tally",
                json!({ "space": "WORX新富士", "users": 10,
                        "period": { "from": "2020-04-01", "to": "2020-04-30" } }),
            ),
            "period.from",
            "R2",
        ),
    ] {
        let error = registry.check_covered(&payload).unwrap_err();
        assert_eq!(error.field, field);
        assert_eq!(
            error.reason,
            format!(
                "{year} is outside every plan in force: telework-roadmap R3-R7; record it with \
                 outside_plans = true if it is meant to count in no KPI"
            )
        );
    }
    registry
        .check_covered(&seminar("2021-04-01", "held"))
        .unwrap();
    registry
        .check_covered(&seminar("2026-03-31", "held"))
        .unwrap();

    // Every plan in force counts, a successor's period included; the error lists them all.
    let fifth = PlanDefinition::from_toml(FIFTH).unwrap();
    let both = PlanRegistry::new(vec![roadmap, fifth]);
    both.check_covered(&seminar("2027-05-20", "held")).unwrap();
    let error = both
        .check_covered(&event(
            "partnership",
            json!({ "organisation": "静岡県立大学", "fiscal_year": "R30" }),
        ))
        .unwrap_err();
    assert!(
        error
            .reason
            .starts_with("R30 is outside every plan in force: telework-roadmap R3-R7, fifth-information-plan R9-R13;"),
        "{}",
        error.reason
    );
    // R8 lies between the two periods until the roadmap is extended.
    let error = both
        .check_covered(&seminar("2026-06-10", "held"))
        .unwrap_err();
    assert!(
        error.reason.starts_with("R8 is outside"),
        "{}",
        error.reason
    );

    let none = PlanRegistry::new(Vec::new());
    let error = none
        .check_covered(&seminar("2024-06-10", "held"))
        .unwrap_err();
    assert!(
        error.reason.contains("no plan is in force"),
        "{}",
        error.reason
    );

    // Corrections by their replacement; retractions always pass.
    let correction = event(
        "correction",
        json!({ "target": Uuid::from_u128(1), "target_type": "seminar",
                "replacement": seminar("2019-06-01", "held").to_payload(),
                "reason": "date", "decided_on": "2024-06-01" }),
    );
    let error = registry.check_covered(&correction).unwrap_err();
    assert_eq!(error.field, "replacement.first_date");
    let retraction = event(
        "retraction",
        json!({ "target": Uuid::from_u128(1), "reason": "twice", "decided_on": "2019-06-01" }),
    );
    registry.check_covered(&retraction).unwrap();
}

#[test]
fn a_retracted_event_is_neither_corrected_nor_retracted_again() {
    let target = Uuid::from_u128(1);
    let retraction = |decided_on: &str| {
        event(
            "retraction",
            json!({ "target": target, "reason": "entered twice", "decided_on": decided_on }),
        )
    };
    let correction = event(
        "correction",
        json!({ "target": target, "target_type": "seminar",
                "replacement": seminar("2024-10-10", "held").to_payload(),
                "reason": "12, not 10", "decided_on": "2024-11-01" }),
    );
    // Corrected before: still amendable.
    let corrected = [recorded(2, correction.clone())];
    correction.check_target_state(&corrected).unwrap();
    retraction("2024-11-02")
        .check_target_state(&corrected)
        .unwrap();

    let retracted = [
        recorded(2, correction.clone()),
        recorded(3, retraction("2024-11-02")),
    ];
    for amendment in [correction, retraction("2024-12-01")] {
        let error = amendment.check_target_state(&retracted).unwrap_err();
        assert_eq!(error.field, "target");
        assert_eq!(
            error.reason,
            format!(
                "event {target} was retracted by {} on 2024-11-02; a retracted event cannot be \
                 corrected or retracted again: record it anew",
                Uuid::from_u128(3)
            )
        );
    }
    // Not an amendment: nothing to judge.
    seminar("2024-10-10", "held")
        .check_target_state(&retracted)
        .unwrap();
}

#[test]
fn a_response_counts_in_its_waves_fiscal_year() {
    let wave = match event(
        "survey_wave",
        json!({ "wave_id": "fuji-2023-12", "title": "テレワーク実態調査", "fiscal_year": "R5",
                "date": "2023-12-01", "firms_asked": 500 }),
    ) {
        LedgerEvent::SurveyWave(wave) => wave,
        other => panic!("{other:?}"),
    };
    let response = |year: &str| {
        event(
            "survey_response",
            json!({ "wave_id": "fuji-2023-12", "firm_id": "firm-001", "fiscal_year": year,
                    "practises_telework": true, "job_openings": 1 }),
        )
    };
    assert_eq!(
        response("R6").answered_wave().map(|code| code.as_str()),
        Some("fuji-2023-12")
    );
    let error = response("R6").check_against_wave(Some(&wave)).unwrap_err();
    assert_eq!(error.field, "fiscal_year");
    assert_eq!(
        error.reason,
        "R6 differs from R5, the fiscal year of survey wave `fuji-2023-12`; a response counts in \
         its wave's year"
    );
    response("R5").check_against_wave(Some(&wave)).unwrap();
    // A wave not recorded yet: the audit reports the response, the boundary lets it in.
    response("R6").check_against_wave(None).unwrap();

    let correction = event(
        "correction",
        json!({ "target": Uuid::from_u128(1), "target_type": "survey_response",
                "replacement": response("R6").to_payload(),
                "reason": "telework after all", "decided_on": "2024-02-01" }),
    );
    assert_eq!(
        correction.answered_wave().map(|code| code.as_str()),
        Some("fuji-2023-12")
    );
    let error = correction.check_against_wave(Some(&wave)).unwrap_err();
    assert_eq!(error.field, "replacement.fiscal_year");
}
