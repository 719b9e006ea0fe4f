//! The write path of the service: validation before append, read-your-writes projection,
//! amendments checked against their targets, idempotent retries; on both backends.

mod common;

use common::TestLog;
use kpi_service::{Ledger, RecordError, RecordOptions, View};
use serde_json::{json, Value};

const ROADMAP: &str = include_str!("../../../config/plans/telework-roadmap.toml");

/// A ledger under the roadmap (R3-R7), which covers the R6 activities recorded here.
async fn ledger(log: &TestLog) -> Ledger {
    let plan = kpi_domain::PlanDefinition::from_toml(ROADMAP).unwrap();
    Ledger::open(log.path(), log.config(), vec![plan])
        .await
        .unwrap()
}

fn seminar(unique: u64, attendances: u64) -> Value {
    json!({
        "title": "Web活用促進セミナー第1弾",
        "organiser": "DX・テレワーク推進センター",
        "first_date": "2024-04-30",
        "sessions": 1,
        "participants": { "unique": unique, "attendances": attendances },
        "capacity": 40,
        "status": "held"
    })
}

fn field_of(error: RecordError) -> String {
    error
        .field()
        .unwrap_or_else(|| panic!("error names no field: {error}"))
        .to_owned()
}

on_both_backends! {
#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing(log) {
    let ledger = ledger(&log).await;
    let opts = RecordOptions::default;

    let more_unique_than_attendances = seminar(41, 40);
    let error = ledger
        .record_payload("clerk", "seminar", &more_unique_than_attendances, opts())
        .await
        .unwrap_err();
    assert!(field_of(error).starts_with("participants"));

    let mut missing_title = seminar(41, 41);
    missing_title.as_object_mut().unwrap().remove("title");
    let error = ledger
        .record_payload("clerk", "seminar", &missing_title, opts())
        .await
        .unwrap_err();
    assert_eq!(field_of(error), "title");

    let error = ledger
        .record_payload("clerk", "no_such_kind", &json!({}), opts())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no_such_kind"), "{error}");

    let error = ledger
        .record_payload("  ", "seminar", &seminar(41, 41), opts())
        .await
        .unwrap_err();
    assert_eq!(field_of(error), "actor");

    assert_eq!(ledger.head().position, 0, "nothing may be written");
}
}

on_both_backends! {
#[tokio::test]
async fn a_firm_answers_a_wave_once_and_retries_are_idempotent(log) {
    let ledger = ledger(&log).await;
    let response = |telework: bool| {
        json!({
            "wave_id": "2024-12", "firm_id": "firm-001", "fiscal_year": 2024,
            "practises_telework": telework, "job_openings": 2
        })
    };
    let keyed = || RecordOptions {
        idempotency_key: Some("answer-1".into()),
        ..RecordOptions::default()
    };
    let first = ledger
        .record_payload("clerk", "survey_response", &response(true), keyed())
        .await
        .unwrap();
    let retry = ledger
        .record_payload("clerk", "survey_response", &response(true), keyed())
        .await
        .unwrap();
    assert_eq!(first, retry, "a retry returns the original envelope");

    let error = ledger
        .record_payload(
            "clerk",
            "survey_response",
            &response(false),
            RecordOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(error), "firm_id");

    let error = ledger
        .record_payload("clerk", "survey_response", &response(false), keyed())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "CONFLICT", "{error}");
    assert_eq!(ledger.head().position, 1);
}
}

on_both_backends! {
#[tokio::test]
async fn amendments_must_target_an_existing_event_of_the_same_kind(log) {
    let ledger = ledger(&log).await;
    let original = ledger
        .record_payload("clerk", "seminar", &seminar(41, 41), Default::default())
        .await
        .unwrap();

    let retract = |target: String| json!({ "target": target, "reason": "entered twice", "decided_on": "2024-05-01" });
    let unknown = uuid::Uuid::now_v7().to_string();
    let error = ledger
        .record_payload("clerk", "retraction", &retract(unknown), Default::default())
        .await
        .unwrap_err();
    assert_eq!(field_of(error), "target");

    let wrong_kind = json!({
        "target": original.event_id.to_string(),
        "target_type": "consultation",
        "replacement": { "provider": "x", "persons": 1,
                         "period": { "from": "2024-04-01", "to": "2024-04-30" } },
        "reason": "typo",
        "decided_on": "2024-05-01"
    });
    let error = ledger
        .record_payload("clerk", "correction", &wrong_kind, Default::default())
        .await
        .unwrap_err();
    assert!(field_of(error).starts_with("target"));
    assert_eq!(
        ledger.head().position,
        1,
        "refused amendments write nothing"
    );

    let retraction = ledger
        .record_payload(
            "clerk",
            "retraction",
            &retract(original.event_id.to_string()),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        ledger.amendment_ids_of(original.event_id),
        [retraction.event_id]
    );
    let error = ledger
        .record_payload(
            "clerk",
            "retraction",
            &retract(retraction.event_id.to_string()),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(error), "target", "an amendment is not amended");
}
}

on_both_backends! {
#[tokio::test]
async fn record_returns_after_the_projection_has_folded_the_event(log) {
    let ledger = ledger(&log).await;
    let mut tasks = Vec::new();
    for i in 0..32u64 {
        let ledger = ledger.clone();
        tasks.push(tokio::spawn(async move {
            let envelope = ledger
                .record_payload("clerk", "seminar", &seminar(i, i), Default::default())
                .await
                .unwrap();
            assert!(ledger.projected_position() >= envelope.position);
            envelope.position
        }));
    }
    let mut positions = Vec::new();
    for task in tasks {
        positions.push(task.await.unwrap());
    }
    positions.sort_unstable();
    assert_eq!(positions, (1..=32).collect::<Vec<_>>());
    let applied = ledger.inspect(View::LIVE, |live| live.applied()).await;
    assert_eq!(applied.unwrap(), 32);
}
}

on_both_backends! {
/// `/readyz` asks whether the projection keeps up: while appends arrive, each one briefly
/// stored but not yet folded, the projection still reaches the head of the moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projection_catches_up_while_appends_arrive(log) {
    let ledger = ledger(&log).await;
    let within = std::time::Duration::from_secs(1);
    assert!(ledger.catches_up_within(within).await);
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for n in 0..50 {
                    let mut payload = seminar(12, 12);
                    payload["title"] = json!(format!("readiness seminar {writer}-{n}"));
                    ledger
                        .record_payload("clerk", "seminar", &payload, RecordOptions::default())
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let mut checks = 0;
    while !writers.iter().all(|writer| writer.is_finished()) {
        assert!(
            ledger.catches_up_within(within).await,
            "not caught up at head {}",
            ledger.head().position
        );
        checks += 1;
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(ledger.head().position, 200);
    assert!(checks > 0);
    assert!(ledger.catches_up_within(within).await);
}
}
