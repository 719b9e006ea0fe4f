//! The ledger while its storage fails and recovers (the store's flush made to fail as a full
//! disk fails it): appends refused with STORAGE_UNAVAILABLE (not LOG_DAMAGED), not ready
//! with the reason, `verification` refused rather than finding damage, the projection served
//! meanwhile; then, with nothing restarted, ready again, the projection carried on from the
//! right position, a retry with the same key answered with its event once, and a walk of the
//! whole chain made afresh.

use std::time::Duration;

use kpi_domain::PlanDefinition;
use kpi_service::{Ledger, LedgerConfig, RecordOptions, TableQuery, STORAGE_UNAVAILABLE};
use kpi_store::StoreConfig;
use serde_json::json;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
/// ENOSPC on Linux.
const NO_SPACE: i32 = 28;
const BOUND: Duration = Duration::from_secs(20);
const READY_WAIT: Duration = Duration::from_millis(500);

fn seminar(n: u64) -> serde_json::Value {
    json!({
        "title": format!("Web活用促進セミナー {n}"),
        "organiser": "DX・テレワーク推進センター",
        "first_date": "2024-06-30",
        "sessions": 1,
        "participants": { "unique": 10, "attendances": 10 },
        "capacity": 40,
        "status": "held"
    })
}

async fn record(ledger: &Ledger, n: u64) -> Result<kpi_store::Envelope, kpi_service::RecordError> {
    let options = RecordOptions {
        idempotency_key: Some(format!("seminar-{n}")),
        ..RecordOptions::default()
    };
    ledger
        .record_payload("clerk", "seminar", &seminar(n), options)
        .await
}

/// The roadmap's table as the live projection has it, and the position it reflects.
async fn projected(ledger: &Ledger) -> (kpi_domain::KpiTable, u64) {
    let answer = ledger.table(&TableQuery::new("telework-roadmap")).await;
    let answer = answer.unwrap();
    (answer.table, answer.position)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_outage_refuses_writes_says_why_and_ends_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreConfig {
        retry_initial_ms: 200,
        retry_max_ms: 400,
        ..StoreConfig::default()
    };
    let plans = vec![PlanDefinition::from_toml(PLAN).unwrap()];
    let ledger = Ledger::open_with_config(dir.path(), store, LedgerConfig::default(), plans)
        .await
        .unwrap();
    for n in 1..=3 {
        record(&ledger, n).await.unwrap();
    }
    assert_eq!(ledger.verify().await.unwrap().head.position, 3);
    let before = projected(&ledger).await;
    assert_eq!(before.1, 3);

    ledger.store().__inject_reopen_failures(3);
    ledger.store().__inject_flush_failure(NO_SPACE);
    let failed = record(&ledger, 4).await.unwrap_err();
    assert_eq!(failed.code(), STORAGE_UNAVAILABLE, "{failed}");
    assert!(
        failed.to_string().contains("No space left on device"),
        "{failed}"
    );

    // During the outage.
    let refused = record(&ledger, 5).await.unwrap_err();
    assert_eq!(refused.code(), STORAGE_UNAVAILABLE, "{refused}");
    assert!(
        refused.to_string().contains("same idempotency key"),
        "{refused}"
    );
    let unready = ledger.readiness(READY_WAIT).await.unwrap_err();
    assert!(
        unready.starts_with("storage: No space left on device; retrying "),
        "{unready}"
    );
    let walk = ledger.verify().await.unwrap_err();
    assert!(walk.is_storage_failure(), "{walk}");
    assert!(
        ledger.integrity().failure().is_none(),
        "not taken for damage"
    );
    // The projection is still served.
    assert_eq!(projected(&ledger).await, before);
    let status = ledger.storage();
    assert_eq!(status.failures, 1);
    assert!(status.outage.is_some());

    // It ends by itself.
    let mut changes = ledger.store().storage_changes();
    tokio::time::timeout(BOUND, changes.wait_for(|status| status.outage.is_none()))
        .await
        .expect("the storage recovers within the bound")
        .unwrap();
    assert_eq!(ledger.storage().failed_attempts, 3);
    ledger.readiness(READY_WAIT).await.unwrap();
    // The whole chain is walked again by itself, up to the event taken in at the reopen.
    let mut integrity = ledger.integrity_changes();
    let walked = tokio::time::timeout(
        BOUND,
        integrity.wait_for(|integrity| {
            integrity
                .last
                .as_ref()
                .is_some_and(|walk| walk.head.position == 4)
        }),
    )
    .await
    .expect("a walk after the recovery")
    .unwrap()
    .clone();
    assert!(walked.failure().is_none());
    // The failed append reached the file and was taken in: the retry returns it, once.
    let retried = record(&ledger, 4).await.unwrap();
    assert_eq!(retried.position, 4);
    let written = record(&ledger, 5).await.unwrap();
    assert_eq!(written.position, 5);
    let after = projected(&ledger).await;
    assert_eq!(after.1, 5);
    assert_ne!(after.0, before.0, "the new seminars count");
    // A walk of the whole chain was made after the recovery (or is made now).
    let verification = ledger.verify().await.unwrap();
    assert_eq!(verification.result.as_ref().unwrap().position, 5);
    assert!(ledger.integrity().failure().is_none());
    ledger.close().await;

    let reopened = kpi_store::EventStore::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(reopened.verify().unwrap().position, 5);
}
