//! A damaged log is not served as healthy: start-up hash-checks every event it folds after
//! its checkpoint (the whole log without one) and refuses a log that fails; damage before the
//! checkpoint is found by the walk of the whole chain that follows start-up, after which
//! appends are refused and the ledger says it is not ready. Walks are shared: callers at one
//! head cause one walk, and a repeat at that head causes none. On both backends.

mod common;

use std::time::Duration;

use common::TestLog;
use kpi_domain::PlanDefinition;
use kpi_service::{CheckpointUse, Ledger, LedgerConfig, LedgerError, RecordError};
use serde_json::json;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");

fn roadmap() -> Vec<PlanDefinition> {
    vec![PlanDefinition::from_toml(PLAN).unwrap()]
}

async fn open_with(log: &TestLog, checkpoints: bool) -> Result<Ledger, LedgerError> {
    let config = LedgerConfig {
        checkpoints,
        ..LedgerConfig::default()
    };
    Ledger::open_with_config(log.path(), log.config(), config, roadmap()).await
}

async fn open(log: &TestLog) -> Ledger {
    open_with(log, true).await.unwrap()
}

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

async fn record(ledger: &Ledger, n: u64) -> Result<kpi_store::Envelope, RecordError> {
    ledger
        .record_payload("clerk", "seminar", &seminar(n), Default::default())
        .await
}

async fn record_all(ledger: &Ledger, numbers: std::ops::RangeInclusive<u64>) {
    for n in numbers {
        record(ledger, n).await.unwrap();
    }
}

/// Changes one byte of the event at `position` of the closed store of `log` (its capacity 40
/// becomes 41), leaving its stored hash as it was: what a flipped bit on disk does to an event
/// that sled still reads back (on PostgreSQL, the same byte of the row's `body`). On sled on a
/// blocking thread, so the closed ledger's tasks let go of the store meanwhile.
async fn flip_a_byte(log: &TestLog, position: u64) {
    if log.backend() == kpi_store::Backend::Postgres {
        // The same byte of the row's body, past the append-only trigger.
        let at = "position('\"capacity\":40'::bytea in body) + 11";
        log.psql(&format!(
            "ALTER TABLE kpi_events DISABLE TRIGGER USER; \
             UPDATE kpi_events SET body = set_byte(body, {at}, get_byte(body, {at}) # 1) \
             WHERE position = {position}; \
             ALTER TABLE kpi_events ENABLE TRIGGER USER;"
        ));
        return;
    }
    let dir = log.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let store = kpi_store::EventStore::open(&dir, Default::default()).unwrap();
        let db = store.__sled();
        // The chunk holding `position`: the last one starting at or before it.
        let (key, chunk) = db
            .range(kpi_store::raw::event_key(1)..=kpi_store::raw::event_key(position))
            .next_back()
            .unwrap()
            .unwrap();
        let first = u64::from_be_bytes(key[key.len() - 8..].try_into().unwrap());
        // The chunk's plain bytes (stored compressed): per event, record length (u32,
        // big-endian), then the record.
        let mut chunk = kpi_store::raw::chunk_records(&chunk);
        let mut offset = 0;
        for _ in first..position {
            let length = u32::from_be_bytes(chunk[offset..offset + 4].try_into().unwrap());
            offset += 4 + length as usize;
        }
        let length = u32::from_be_bytes(chunk[offset..offset + 4].try_into().unwrap()) as usize;
        let record = &mut chunk[offset + 4..offset + 4 + length];
        let needle = b"\"capacity\":40";
        let at = record
            .windows(needle.len())
            .position(|window| window == needle)
            .expect("the payload is stored as JSON text");
        record[at + needle.len() - 1] ^= 0x01;
        db.insert(key, kpi_store::raw::chunk_value(chunk)).unwrap();
        db.flush().unwrap();
    })
    .await
    .unwrap();
}

on_both_backends! {
#[tokio::test]
async fn start_up_hash_checks_the_events_after_its_checkpoint_and_refuses_a_damaged_one(log) {
    let ledger = open(&log).await;
    record_all(&ledger, 1..=3).await;
    ledger.close().await;
    // Two more events the checkpoint (at 3) does not cover.
    let ledger = open_with(&log, false).await.unwrap();
    record_all(&ledger, 4..=5).await;
    ledger.close().await;

    let ledger = open(&log).await;
    let startup = ledger.startup();
    assert_eq!(startup.checkpoint, CheckpointUse::Used { position: 3 });
    assert_eq!((startup.events_verified, startup.events_folded), (2, 2));
    // The checkpoint now at 5; two more after it, one of which is damaged.
    ledger.close().await;
    let ledger = open_with(&log, false).await.unwrap();
    record_all(&ledger, 6..=7).await;
    ledger.close().await;
    flip_a_byte(&log, 7).await;

    let refused = open_with(&log, true).await.err().expect("refused");
    match &refused {
        LedgerError::LogDamaged { position, .. } => assert_eq!(*position, 7),
        other => panic!("expected LogDamaged, got {other:?}"),
    }
    let message = refused.to_string();
    assert!(
        message.contains("fails verification at position 7"),
        "{message}"
    );
    assert!(
        message.contains("does not match the recomputed hash"),
        "{message}"
    );
}
}

on_both_backends! {
#[tokio::test]
async fn without_a_checkpoint_start_up_walks_the_whole_log_and_keeps_its_answer(log) {
    let ledger = open_with(&log, false).await.unwrap();
    record_all(&ledger, 1..=3).await;
    ledger.close().await;

    let ledger = open_with(&log, false).await.unwrap();
    assert_eq!(ledger.startup().events_verified, 3);
    let integrity = ledger.integrity();
    let last = integrity.last.as_deref().expect("start-up's walk");
    assert_eq!(last.result, Ok(ledger.head()));
    // Asked at the head start-up walked to: its answer, no walk.
    let answer = ledger.verify().await.unwrap();
    assert_eq!(answer.finished_at, last.finished_at);
    assert_eq!(ledger.verification_walks(), 0);
    ledger.close().await;

    flip_a_byte(&log, 2).await;
    let refused = open_with(&log, false).await.err().expect("refused");
    assert!(
        matches!(refused, LedgerError::LogDamaged { position: 2, .. }),
        "{refused:?}"
    );
}
}

on_both_backends! {
#[tokio::test]
async fn damage_before_the_checkpoint_is_found_by_the_walk_after_start_up(log) {
    let ledger = open(&log).await;
    record_all(&ledger, 1..=3).await;
    ledger.close().await;
    flip_a_byte(&log, 2).await;

    // Start-up checks only what follows its checkpoint (at 3): it opens.
    let ledger = open(&log).await;
    assert_eq!(
        ledger.startup().checkpoint,
        CheckpointUse::Used { position: 3 }
    );
    let wait = Duration::from_millis(500);
    assert_eq!(ledger.readiness(wait).await, Ok(()));
    let mut changes = ledger.integrity_changes();
    ledger.verify_in_background();
    tokio::time::timeout(Duration::from_secs(30), changes.changed())
        .await
        .expect("the background walk ends")
        .unwrap();

    let integrity = ledger.integrity();
    let last = integrity.last.as_deref().unwrap();
    assert_eq!(integrity.failure().unwrap().position, 2);
    assert_eq!(last.verified_position(), 1);
    assert_eq!(ledger.verification_walks(), 1);

    let not_ready = ledger.readiness(wait).await.unwrap_err();
    assert!(
        not_ready.contains("fails verification at position 2"),
        "{not_ready}"
    );
    let refused = record(&ledger, 4).await.unwrap_err();
    assert_eq!(refused.code(), kpi_service::LOG_DAMAGED);
    assert!(
        matches!(
            refused,
            RecordError::Ledger(LedgerError::LogDamaged { position: 2, .. })
        ),
        "{refused:?}"
    );
    assert_eq!(ledger.head().position, 3, "nothing was appended");
    ledger.close().await;
}
}

on_both_backends! {
#[tokio::test]
async fn callers_at_one_head_share_one_walk_and_a_repeat_costs_none(log) {
    let ledger = open(&log).await;
    record_all(&ledger, 1..=20).await;

    let answers =
        futures::future::join_all((0..40).map(|_| async { ledger.verify().await.unwrap() })).await;
    assert_eq!(ledger.verification_walks(), 1);
    assert!(answers
        .iter()
        .all(|answer| answer.result == Ok(ledger.head())));
    assert!(answers
        .iter()
        .all(|answer| std::sync::Arc::ptr_eq(answer, &answers[0])));

    let again = ledger.verify().await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&again, &answers[0]));
    assert_eq!(ledger.verification_walks(), 1);

    // A new head is walked anew.
    record(&ledger, 21).await.unwrap();
    let later = ledger.verify().await.unwrap();
    assert_eq!(later.result, Ok(ledger.head()));
    assert_eq!(ledger.verification_walks(), 2);
    ledger.close().await;
}
}
