//! What the service refuses at the boundary with what it looks up (issue 13, items 4 to 8):
//! each refusal names the field and writes nothing; each acceptance is what the recorder
//! asked for.

mod common;

use kpi_store::StoreConfig;
use std::path::Path;

use kpi_domain::{Bounds, PlanDefinition};
use kpi_service::{ImportRecord, Ledger, LedgerConfig, RecordError, RecordOptions};
use serde_json::{json, Value};
use uuid::Uuid;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const FIFTH: &str = include_str!("../../../config/plans/fifth-information-plan.toml");
const MAPPING: &str = include_str!("../../../config/plans/telework-roadmap-to-fifth.toml");

fn roadmap() -> Vec<PlanDefinition> {
    vec![PlanDefinition::from_toml(PLAN).unwrap()]
}

async fn ledger(dir: &Path, store: StoreConfig) -> Ledger {
    Ledger::open(dir, store, roadmap()).await.unwrap()
}

fn seminar(first_date: &str, unique: u64, status: &str) -> Value {
    json!({
        "title": "DX人材育成セミナー", "organiser": "DX・テレワーク推進センター",
        "first_date": first_date, "sessions": 1,
        "participants": { "unique": unique, "attendances": unique }, "status": status
    })
}

async fn record(
    ledger: &Ledger,
    event_type: &str,
    payload: &Value,
    options: RecordOptions,
) -> Result<kpi_store::Envelope, RecordError> {
    ledger
        .record_payload("clerk", event_type, payload, options)
        .await
}

/// The refusal's field and reason; panics on anything but invalid input.
fn invalid(error: RecordError) -> (String, String) {
    match error {
        RecordError::Invalid(error) => (error.field, error.reason),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

fn keyed(key: &str) -> RecordOptions {
    RecordOptions {
        idempotency_key: Some(key.into()),
        ..RecordOptions::default()
    }
}

on_both_backends! {
#[tokio::test]
async fn the_same_key_with_another_provenance_is_a_conflict(log) {
    let dir = &log.dir;
    let ledger = ledger(dir.path(), log.config()).await;
    let sourced = |provenance: &str| RecordOptions {
        idempotency_key: Some("seminar-2024-10-10".into()),
        provenance: Some(provenance.into()),
        ..RecordOptions::default()
    };
    let payload = seminar("2024-10-10", 10, "held");
    let first = record(&ledger, "seminar", &payload, sourced("R6 report, table 2"))
        .await
        .unwrap();
    let retry = record(&ledger, "seminar", &payload, sourced("R6 report, table 2"))
        .await
        .unwrap();
    assert_eq!(retry, first);
    let error = record(&ledger, "seminar", &payload, sourced("R5 report, table 2"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "CONFLICT", "{error}");
    assert_eq!(error.field(), Some("idempotencyKey"));
    let error = record(&ledger, "seminar", &payload, keyed("seminar-2024-10-10"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "CONFLICT", "{error}");
    assert_eq!(ledger.head().position, 1, "only the first was written");
}
}

fn retraction(target: Uuid, decided_on: &str) -> Value {
    json!({ "target": target, "reason": "entered twice", "decided_on": decided_on })
}

fn correction(target: Uuid) -> Value {
    json!({ "target": target, "target_type": "seminar",
            "replacement": seminar("2024-10-10", 12, "held"),
            "reason": "12 came, not 10", "decided_on": "2024-11-01" })
}

on_both_backends! {
#[tokio::test]
async fn a_retracted_event_is_neither_corrected_nor_retracted_again(log) {
    let dir = &log.dir;
    let ledger = ledger(dir.path(), log.config()).await;
    let target = record(
        &ledger,
        "seminar",
        &seminar("2024-10-10", 10, "held"),
        Default::default(),
    )
    .await
    .unwrap()
    .event_id;
    // A corrected event may be corrected again and retracted.
    record(
        &ledger,
        "correction",
        &correction(target),
        Default::default(),
    )
    .await
    .unwrap();
    let retracted = record(
        &ledger,
        "retraction",
        &retraction(target, "2024-11-02"),
        keyed("retract-1"),
    )
    .await
    .unwrap();
    let head = ledger.head();

    let expected = format!(
        "event {target} was retracted by {} on 2024-11-02; a retracted event cannot be \
         corrected or retracted again: record it anew",
        retracted.event_id
    );
    for (kind, payload) in [
        ("retraction", retraction(target, "2024-12-01")),
        ("correction", correction(target)),
    ] {
        let (field, reason) = invalid(
            record(&ledger, kind, &payload, Default::default())
                .await
                .unwrap_err(),
        );
        assert_eq!(field, "target", "{kind}");
        assert_eq!(reason, expected, "{kind}");
    }
    assert_eq!(ledger.head(), head, "nothing written");

    // A retry of the retraction itself is still answered with the original.
    let retry = record(
        &ledger,
        "retraction",
        &retraction(target, "2024-11-02"),
        keyed("retract-1"),
    )
    .await
    .unwrap();
    assert_eq!(retry, retracted);
    assert_eq!(ledger.head(), head);
}
}

on_both_backends! {
/// Two retractions of one event racing: the amendment stream's version is expected, so the
/// second is judged again after the first and refused, never written beside it.
#[tokio::test]
async fn concurrent_retractions_of_one_event_write_one(log) {
    let dir = &log.dir;
    let ledger = ledger(dir.path(), log.config()).await;
    for round in 0..8 {
        let target = record(
            &ledger,
            "seminar",
            &seminar("2024-10-10", 10, "held"),
            Default::default(),
        )
        .await
        .unwrap()
        .event_id;
        let head = ledger.head().position;
        let attempts: Vec<_> = (0..4)
            .map(|n| {
                let ledger = ledger.clone();
                let payload = json!({ "target": target, "reason": format!("clerk {n}"),
                                      "decided_on": "2024-11-02" });
                tokio::spawn(async move {
                    ledger
                        .record_payload("clerk", "retraction", &payload, Default::default())
                        .await
                })
            })
            .collect();
        let mut written = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(_) => written += 1,
                Err(error) => {
                    let (field, reason) = invalid(error);
                    assert_eq!(field, "target");
                    assert!(reason.contains("was retracted by"), "{reason}");
                }
            }
        }
        assert_eq!(written, 1, "round {round}");
        assert_eq!(ledger.head().position, head + 1, "round {round}");
    }
}
}

on_both_backends! {
#[tokio::test]
async fn a_response_must_count_in_its_waves_year(log) {
    let dir = &log.dir;
    let ledger = ledger(dir.path(), log.config()).await;
    let response = |firm: &str, year: &str| {
        json!({ "wave_id": "fuji-2023-12", "firm_id": firm, "fiscal_year": year,
                "practises_telework": true, "job_openings": 1 })
    };
    // The wave is not recorded yet: accepted (the audit reports a response without its wave).
    record(
        &ledger,
        "survey_response",
        &response("firm-001", "R6"),
        Default::default(),
    )
    .await
    .unwrap();
    record(
        &ledger,
        "survey_wave",
        &json!({ "wave_id": "fuji-2023-12", "title": "テレワーク実態調査", "fiscal_year": "R5",
                 "date": "2023-12-01", "firms_asked": 500 }),
        Default::default(),
    )
    .await
    .unwrap();
    let head = ledger.head();
    let (field, reason) = invalid(
        record(
            &ledger,
            "survey_response",
            &response("firm-002", "R6"),
            Default::default(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(field, "fiscal_year");
    assert!(
        reason.starts_with("R6 differs from R5, the fiscal year of survey wave `fuji-2023-12`"),
        "{reason}"
    );
    assert_eq!(ledger.head(), head);
    let answered = record(
        &ledger,
        "survey_response",
        &response("firm-002", "R5"),
        Default::default(),
    )
    .await
    .unwrap();

    // A correction's replacement answers the same wave.
    let correction = json!({ "target": answered.event_id, "target_type": "survey_response",
                             "replacement": response("firm-002", "R6"),
                             "reason": "year", "decided_on": "2024-02-01" });
    let (field, _) = invalid(
        record(&ledger, "correction", &correction, Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "replacement.fiscal_year");
    assert_eq!(ledger.head().position, head.position + 1);
}
}

on_both_backends! {
#[tokio::test]
async fn implausible_counts_are_refused_under_configured_bounds(log) {
    let dir = &log.dir;
    let ledger = ledger(dir.path(), log.config()).await;
    let (field, reason) = invalid(
        record(
            &ledger,
            "seminar",
            &seminar("2024-10-10", 1_000_000_000, "held"),
            Default::default(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(field, "participants.unique");
    assert!(
        reason.starts_with("1000000000 is above the plausible maximum 100000 for a seminar"),
        "{reason}"
    );
    let consultation = json!({ "provider": "DX相談", "persons": 2_000_000_000u64,
                               "period": { "from": "2024-04-01", "to": "2025-03-31" } });
    let (field, reason) = invalid(
        record(&ledger, "consultation", &consultation, Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "persons");
    assert!(
        reason.contains("maximum 100000 for a consultation"),
        "{reason}"
    );
    assert_eq!(ledger.head().position, 0, "nothing written");
    // An import goes through the same judgement.
    let records = vec![ImportRecord {
        idempotency_key: "row-1".into(),
        provenance: None,
        event: kpi_domain::LedgerEvent::parse("consultation", &consultation).unwrap(),
        outside_plans: false,
    }];
    let refused = ledger.judge_import(&records);
    assert_eq!(refused.len(), 1);
    assert!(ledger.import("import", records).await.is_err());
    assert_eq!(ledger.head().position, 0, "nothing written");
    ledger.close().await;

    // The configuration moves a bound.
    let dir = &log.dir;
    let config = LedgerConfig {
        bounds: Bounds::default()
            .with("consultation", "persons", 3_000_000_000)
            .unwrap(),
        ..LedgerConfig::default()
    };
    let ledger = Ledger::open_with_config(dir.path(), log.config(), config, roadmap())
        .await
        .unwrap();
    record(&ledger, "consultation", &consultation, Default::default())
        .await
        .unwrap();
}
}

on_both_backends! {
#[tokio::test]
async fn a_held_activity_in_the_future_is_refused_and_a_scheduled_one_accepted(log) {
    let dir = &log.dir;
    let ledger = ledger(dir.path(), log.config()).await;
    // A held seminar in 2035: refused for its date, whatever the plans say.
    let outside = RecordOptions {
        outside_plans: true,
        ..RecordOptions::default()
    };
    let (field, reason) = invalid(
        record(
            &ledger,
            "seminar",
            &seminar("2035-05-10", 10, "held"),
            outside.clone(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(field, "first_date");
    assert!(
        reason.starts_with("2035-05-10 is after today ("),
        "{reason}"
    );
    let (field, reason) = invalid(
        record(
            &ledger,
            "partnership",
            &json!({ "organisation": "静岡県立大学", "fiscal_year": "R30" }),
            outside.clone(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(field, "fiscal_year");
    assert!(
        reason.starts_with("R30 begins on 2048-04-01, after today"),
        "{reason}"
    );
    assert_eq!(ledger.head().position, 0);

    // A scheduled one may lie ahead; in 2035 it is outside every plan, so only on request.
    let (field, _) = invalid(
        record(
            &ledger,
            "seminar",
            &seminar("2035-05-10", 10, "scheduled"),
            Default::default(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(field, "first_date");
    record(
        &ledger,
        "seminar",
        &seminar("2035-05-10", 10, "scheduled"),
        outside,
    )
    .await
    .unwrap();
    assert_eq!(ledger.head().position, 1);
}
}

on_both_backends! {
#[tokio::test]
async fn an_activity_outside_every_plan_in_force_is_recorded_only_on_request(log) {
    let dir = &log.dir;
    let ledger = ledger(dir.path(), log.config()).await;
    let before_every_plan = seminar("2019-06-01", 10, "held");
    let (field, reason) = invalid(
        record(&ledger, "seminar", &before_every_plan, Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "first_date");
    assert_eq!(
        reason,
        "R1 is outside every plan in force: telework-roadmap R3-R7; record it with \
         outside_plans = true if it is meant to count in no KPI"
    );
    assert_eq!(ledger.head().position, 0);
    let outside = RecordOptions {
        outside_plans: true,
        ..RecordOptions::default()
    };
    record(&ledger, "seminar", &before_every_plan, outside)
        .await
        .unwrap();

    // The README's plan changes: R8 is covered once the roadmap is extended, and stays
    // covered after the transfer (late entries still count for the roadmap).
    let r8 = seminar("2026-06-10", 50, "held");
    let (field, _) = invalid(
        record(&ledger, "seminar", &r8, Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "first_date");
    let admin = |kind: &'static str, payload: Value| {
        let ledger = ledger.clone();
        async move {
            ledger
                .record_payload("admin", kind, &payload, Default::default())
                .await
                .unwrap()
        }
    };
    admin(
        "plan_adopted",
        json!({ "definition": FIFTH, "adopted_on": "2027-03-01" }),
    )
    .await;
    let error = record(&ledger, "seminar", &r8, Default::default())
        .await
        .unwrap_err();
    let (_, reason) = invalid(error);
    assert!(
        reason.starts_with(
            "R8 is outside every plan in force: telework-roadmap R3-R7, fifth-information-plan \
             R9-R13;"
        ),
        "{reason}"
    );
    admin(
        "plan_extended",
        json!({ "plan_id": "telework-roadmap", "last": "R8", "decided_on": "2025-06-01",
                "reason": "R6 report: one more year" }),
    )
    .await;
    record(&ledger, "seminar", &r8, Default::default())
        .await
        .unwrap();
    let mapping: Value = toml::from_str(MAPPING).unwrap();
    admin(
        "plan_transferred",
        json!({ "plan_id": "telework-roadmap", "successor": "fifth-information-plan",
                "effective_from": "R9", "decided_on": "2027-03-31",
                "mapping": mapping["mapping"] }),
    )
    .await;
    record(&ledger, "seminar", &r8, Default::default())
        .await
        .unwrap();

    // A correction is judged by its replacement.
    let target = record(
        &ledger,
        "seminar",
        &seminar("2024-10-10", 10, "held"),
        Default::default(),
    )
    .await
    .unwrap()
    .event_id;
    let moved = json!({ "target": target, "target_type": "seminar",
                        "replacement": before_every_plan,
                        "reason": "wrong year", "decided_on": "2024-11-01" });
    let (field, _) = invalid(
        record(&ledger, "correction", &moved, Default::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(field, "replacement.first_date");
}
}

on_both_backends! {
/// An import is judged record by record as it would be recorded; a response may answer a
/// wave defined earlier in the same import.
#[tokio::test]
async fn an_import_is_judged_whole_before_it_is_written(log) {
    let dir = &log.dir;
    let ledger = ledger(dir.path(), log.config()).await;
    let parse =
        |kind: &str, payload: Value| kpi_domain::LedgerEvent::parse(kind, &payload).unwrap();
    let row = |n: usize, event| ImportRecord {
        idempotency_key: format!("row-{n}"),
        provenance: None,
        event,
        outside_plans: false,
    };
    let records = vec![
        row(
            0,
            parse(
                "survey_wave",
                json!({ "wave_id": "w", "title": "調査", "fiscal_year": "R5", "firms_asked": 9 }),
            ),
        ),
        row(
            1,
            parse(
                "survey_response",
                json!({ "wave_id": "w", "firm_id": "a", "fiscal_year": "R5",
                        "practises_telework": true, "job_openings": 0 }),
            ),
        ),
        row(
            2,
            parse(
                "survey_response",
                json!({ "wave_id": "w", "firm_id": "b", "fiscal_year": "R6",
                        "practises_telework": true, "job_openings": 0 }),
            ),
        ),
        row(3, parse("seminar", seminar("2019-06-01", 10, "held"))),
        row(4, parse("seminar", seminar("2024-06-01", 10, "held"))),
    ];
    let refused: Vec<(usize, String)> = ledger
        .judge_import(&records)
        .into_iter()
        .map(|(index, error)| (index, invalid(error).0))
        .collect();
    assert_eq!(
        refused,
        [(2, "fiscal_year".to_owned()), (3, "first_date".to_owned())]
    );
    let mut records = records;
    records[3].outside_plans = true;
    records.remove(2);
    assert!(ledger.judge_import(&records).is_empty());
    let report = ledger.import("import", records.clone()).await.unwrap();
    assert_eq!(report.appended, 4);
    // Re-importing is a retry: not judged again, answered with the originals.
    assert!(ledger.judge_import(&records).is_empty());
    let again = ledger.import("import", records).await.unwrap();
    assert_eq!(again.already_recorded, 4);
}
}
