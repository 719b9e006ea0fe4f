//! Projection checkpoints and live rebuilds against a real store, on both backends (the
//! checkpoint in the data directory, the log in sled or in a PostgreSQL database): start-up
//! from a checkpoint plus the tail answers as a full replay does, a checkpoint that does not
//! fit the log or the plans is discarded, and a rebuild swapped in while events are
//! appended misses none of them.

mod common;

use common::TestLog;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kpi_domain::{seed, PlanDefinition, Projection, RecordedEvent};
use kpi_service::{CheckpointUse, ImportRecord, Ledger, LedgerConfig, LedgerError, View};
use kpi_store::Envelope;
use serde_json::json;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

fn roadmap() -> Vec<PlanDefinition> {
    vec![PlanDefinition::from_toml(PLAN).unwrap()]
}

/// The roadmap under another id and with another first target: other definitions, same shape.
fn other_plans() -> Vec<PlanDefinition> {
    let text = PLAN
        .replacen("id = \"telework-roadmap\"", "id = \"roadmap-rebuilt\"", 1)
        .replacen("value = \"", "value = \"1", 1);
    vec![PlanDefinition::from_toml(&text).unwrap()]
}

fn seed_records() -> Vec<ImportRecord> {
    seed::parse(SEED)
        .unwrap()
        .into_iter()
        .map(ImportRecord::from)
        .collect()
}

fn checkpoint_file(dir: &Path) -> PathBuf {
    dir.join("checkpoints/projection.ckpt")
}

async fn open(log: &TestLog, plans: Vec<PlanDefinition>) -> Ledger {
    Ledger::open(log.path(), log.config(), plans).await.unwrap()
}

async fn open_without_checkpoints(log: &TestLog, plans: Vec<PlanDefinition>) -> Ledger {
    let config = LedgerConfig {
        checkpoints: false,
        ..LedgerConfig::default()
    };
    Ledger::open_with_config(log.path(), log.config(), config, plans)
        .await
        .unwrap()
}

async fn seminar(ledger: &Ledger, n: u64) {
    seminar_event(ledger, n).await;
}

async fn seminar_event(ledger: &Ledger, n: u64) -> Envelope {
    let payload = json!({
        "title": format!("Web活用促進セミナー {n}"),
        "organiser": "DX・テレワーク推進センター",
        "first_date": "2024-06-30",
        "sessions": 1,
        "participants": { "unique": n % 40 + 1, "attendances": n % 40 + 1 },
        "capacity": 40,
        "status": "held"
    });
    ledger
        .record_payload("clerk", "seminar", &payload, Default::default())
        .await
        .unwrap()
}

/// Corrects (with the same figures) or retracts `target`, a seminar.
async fn amend(ledger: &Ledger, event_type: &str, target: &Envelope) -> Envelope {
    let mut payload = json!({
        "target": target.event_id.to_string(), "reason": "entered twice", "decided_on": "2025-05-01"
    });
    if event_type == "correction" {
        payload["target_type"] = json!("seminar");
        payload["replacement"] = target.payload.clone();
    }
    ledger
        .record_payload("clerk", event_type, &payload, Default::default())
        .await
        .unwrap()
}

/// The projection of the whole log, folded from scratch.
fn full_replay(ledger: &Ledger, plans: Vec<PlanDefinition>) -> Projection {
    Projection::replay(plans, &log(ledger))
}

fn log(ledger: &Ledger) -> Vec<RecordedEvent> {
    ledger
        .store()
        .iter_from(1)
        .map(|envelope| kpi_service::recorded_event(&envelope.unwrap()).unwrap())
        .collect()
}

/// The live projection answers as a full replay of the log and reflects all of it.
async fn assert_matches_full_replay(ledger: &Ledger, plans: Vec<PlanDefinition>) {
    let full = full_replay(ledger, plans);
    let events = log(ledger);
    let head = ledger.head().position;
    ledger
        .inspect(View::LIVE, |live| {
            assert_live_is(live, &full, &events, head)
        })
        .await
        .unwrap();
}

fn assert_live_is(live: &Projection, full: &Projection, events: &[RecordedEvent], head: u64) {
    assert_eq!(live.tables(), full.tables());
    for event in events {
        assert_eq!(
            live.amendments_of(event.id),
            full.amendments_of(event.id),
            "the amendments of {}",
            event.id
        );
    }
    assert_eq!(live.audit_findings(), full.audit_findings());
    assert_eq!(live.survey_waves(), full.survey_waves());
    assert_eq!(live.applied(), head);
    assert_eq!(live.last_position(), head);
}

on_both_backends! {
#[tokio::test]
async fn checkpoint_plus_tail_equals_full_replay(log) {
    let dir = &log.dir;
    let records = seed_records();
    let half = records.len() / 2;

    let ledger = open(&log, roadmap()).await;
    assert_eq!(ledger.startup().checkpoint, CheckpointUse::Absent);
    ledger
        .import("seed", records[..half].to_vec())
        .await
        .unwrap();
    // Amended once before the checkpoint and once after: its history spans both.
    let amended = seminar_event(&ledger, 500).await;
    let correction = amend(&ledger, "correction", &amended).await;
    let checkpointed = ledger.head().position;
    ledger.close().await;
    assert!(checkpoint_file(dir.path()).is_file(), "close writes one");

    // Appended by a ledger that writes no checkpoint: the one on disk stays at `checkpointed`.
    let ledger = open_without_checkpoints(&log, roadmap()).await;
    assert_eq!(ledger.startup().checkpoint, CheckpointUse::Disabled);
    ledger
        .import("seed", records[half..].to_vec())
        .await
        .unwrap();
    for n in 0..5 {
        seminar(&ledger, n).await;
    }
    let retraction = amend(&ledger, "retraction", &amended).await;
    let head = ledger.head().position;
    ledger.close().await;

    let ledger = open(&log, roadmap()).await;
    let startup = ledger.startup().clone();
    assert_eq!(
        startup.checkpoint,
        CheckpointUse::Used {
            position: checkpointed
        }
    );
    assert_eq!(startup.events_folded, head - checkpointed, "only the tail");
    assert_eq!(startup.position, head);
    assert_matches_full_replay(&ledger, roadmap()).await;
    assert_eq!(
        ledger.amendment_ids_of(amended.event_id),
        [correction.event_id, retraction.event_id]
    );

    // The restored projection keeps following the log.
    seminar(&ledger, 99).await;
    assert_matches_full_replay(&ledger, roadmap()).await;
    ledger.close().await;
}
}

on_both_backends! {
#[tokio::test]
async fn a_checkpoints_body_is_compressed(log) {
    seeded_with_checkpoint(&log).await;
    let ledger = open(&log, roadmap()).await;
    let plain = postcard::to_allocvec(&full_replay(&ledger, roadmap()).snapshot())
        .unwrap()
        .len();
    ledger.close().await;
    let file = std::fs::metadata(checkpoint_file(log.dir.path())).unwrap().len() as usize;
    // The seed's snapshot: ids, kind names and figures repeat; zstd takes most of it off.
    assert!(
        file * 2 < plain,
        "the checkpoint file is {file} bytes for a snapshot of {plain}"
    );
}
}

/// A seeded store with its checkpoint at the head; returns the head position.
async fn seeded_with_checkpoint(log: &TestLog) -> u64 {
    let ledger = open(log, roadmap()).await;
    ledger.import("seed", seed_records()).await.unwrap();
    let head = ledger.head().position;
    ledger.close().await;
    head
}

/// Opens after `damage` changed the checkpoint: it must be discarded with a reason containing
/// `expected`, removed, and the whole log folded into the right tables.
async fn assert_discarded(log: &TestLog, plans: Vec<PlanDefinition>, expected: &str) {
    let ledger = open(log, plans.clone()).await;
    let startup = ledger.startup().clone();
    match &startup.checkpoint {
        CheckpointUse::Discarded { reason } => {
            assert!(reason.contains(expected), "reason: {reason}")
        }
        other => panic!("expected a discarded checkpoint, got {other:?}"),
    }
    assert_eq!(
        startup.events_folded,
        ledger.head().position,
        "the whole log"
    );
    assert!(
        !checkpoint_file(log.path()).exists(),
        "a discarded file is removed"
    );
    assert_matches_full_replay(&ledger, plans).await;
    ledger.close().await;
}

/// Rewrites the first varint of the header (the position) to `position`.
fn with_header_position(file: &[u8], position: u64) -> Vec<u8> {
    let header = 16; // magic, format version, header length
    let old_len = file[header..]
        .iter()
        .position(|byte| byte & 0x80 == 0)
        .unwrap()
        + 1;
    let mut varint = Vec::new();
    let mut rest = position;
    loop {
        let byte = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            varint.push(byte);
            break;
        }
        varint.push(byte | 0x80);
    }
    assert_eq!(varint.len(), old_len, "keep the header length");
    let mut changed = file.to_vec();
    changed[header..header + old_len].copy_from_slice(&varint);
    changed
}

on_both_backends! {
#[tokio::test]
async fn a_tampered_checkpoint_is_discarded_and_the_log_folded(log) {
    let dir = &log.dir;
    let head = seeded_with_checkpoint(&log).await;
    let path = checkpoint_file(dir.path());
    let original = std::fs::read(&path).unwrap();

    let mut flipped = original.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    std::fs::write(&path, &flipped).unwrap();
    assert_discarded(&log, roadmap(), "SHA-256").await;

    // The position of another event: the hash recorded is not that event's.
    std::fs::write(&path, with_header_position(&original, head - 1)).unwrap();
    assert_discarded(&log, roadmap(), "has hash").await;

    // As after restoring the log from an older archive.
    std::fs::write(&path, with_header_position(&original, head + 1)).unwrap();
    assert_discarded(&log, roadmap(), "beyond the log's head").await;

    std::fs::write(&path, &original[..original.len() / 2]).unwrap();
    assert_discarded(&log, roadmap(), "bytes").await;

    std::fs::write(&path, b"not a checkpoint").unwrap();
    assert_discarded(&log, roadmap(), "magic").await;

    // Taken under other definitions (the close of a ledger opened with them writes one).
    open(&log, other_plans()).await.close().await;
    assert!(path.is_file());
    assert_discarded(&log, roadmap(), "other plan definitions").await;

    // After all that, the checkpoint written at the last close is used again.
    let ledger = open(&log, roadmap()).await;
    assert_eq!(
        ledger.startup().checkpoint,
        CheckpointUse::Used { position: head }
    );
    assert_eq!(ledger.startup().events_folded, 0);
    ledger.close().await;
}
}

on_both_backends! {
#[tokio::test]
async fn the_follower_checkpoints_every_n_events(log) {
    let dir = &log.dir;
    let config = LedgerConfig {
        checkpoint_every_events: 10,
        ..LedgerConfig::default()
    };
    let ledger = Ledger::open_with_config(dir.path(), log.config(), config, roadmap())
        .await
        .unwrap();
    for n in 0..25 {
        seminar(&ledger, n).await;
    }
    let path = checkpoint_file(dir.path());
    for _ in 0..100 {
        if path.is_file() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Keep the background one: close writes another at the head.
    let background = std::fs::read(&path).expect("a checkpoint within 5 s");
    ledger.close().await;
    std::fs::write(&path, background).unwrap();

    let ledger = open(&log, roadmap()).await;
    let startup = ledger.startup().clone();
    let CheckpointUse::Used { position } = startup.checkpoint else {
        panic!("expected the background checkpoint to be used: {startup:?}");
    };
    assert!(position % 10 == 0 && position < 25, "position {position}");
    assert_eq!(startup.events_folded, 25 - position);
    assert_matches_full_replay(&ledger, roadmap()).await;
    ledger.close().await;
}
}

on_both_backends! {
#[tokio::test]
async fn a_rebuild_during_concurrent_appends_misses_nothing(log) {
    let ledger = open(&log, roadmap()).await;
    ledger.import("seed", seed_records()).await.unwrap();

    const APPENDERS: u64 = 4;
    const EACH: u64 = 60;
    let appenders: Vec<_> = (0..APPENDERS)
        .map(|task| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for n in 0..EACH {
                    seminar(&ledger, task * EACH + n).await;
                }
            })
        })
        .collect();
    // Rebuild under alternating plans for as long as events keep coming.
    let mut rebuilds = 0u32;
    let mut overlapped = 0u32;
    let mut last_plans = roadmap();
    while !appenders.iter().all(|task| task.is_finished()) {
        let plans = if rebuilds.is_multiple_of(2) {
            other_plans()
        } else {
            roadmap()
        };
        let head_before = ledger.head().position;
        let report = ledger.rebuild(plans.clone()).await.unwrap();
        assert!(report.position >= head_before);
        assert_eq!(report.plan_ids, vec![plans[0].id.to_string()]);
        if report.position > head_before {
            overlapped += 1;
        }
        last_plans = plans;
        rebuilds += 1;
    }
    for task in appenders {
        task.await.unwrap();
    }
    assert!(
        overlapped > 0,
        "no rebuild saw appends while it ran ({rebuilds} rebuilds)"
    );
    assert_eq!(ledger.plans(), last_plans);
    assert_matches_full_replay(&ledger, last_plans.clone()).await;

    // The swap wrote a checkpoint under the new plans (close writes the final one).
    ledger.close().await;
    let ledger = open(&log, last_plans.clone()).await;
    assert!(matches!(
        ledger.startup().checkpoint,
        CheckpointUse::Used { .. }
    ));
    assert_matches_full_replay(&ledger, last_plans).await;
    ledger.close().await;
}
}

on_both_backends! {
#[tokio::test]
async fn of_two_rebuilds_the_one_started_last_stays_live(log) {
    let ledger = open(&log, roadmap()).await;
    ledger.import("seed", seed_records()).await.unwrap();
    let (first, second) = tokio::join!(ledger.rebuild(other_plans()), ledger.rebuild(roadmap()));
    match first {
        Ok(report) => assert_eq!(report.plan_ids, vec!["roadmap-rebuilt".to_owned()]),
        Err(LedgerError::RebuildSuperseded) => {}
        Err(error) => panic!("{error}"),
    }
    second.unwrap();
    assert_eq!(ledger.plans(), roadmap());
    assert_matches_full_replay(&ledger, roadmap()).await;
    ledger.close().await;
}
}

on_both_backends! {
/// A log long enough for start-up to fold on two threads (reader and folder sharing the
/// parsing): the folded projection and an as-of table in the middle equal a plain fold.
#[tokio::test]
async fn a_long_log_folds_on_two_threads_like_a_plain_fold(log) {
    let ledger = open_without_checkpoints(&log, roadmap()).await;
    let mut records = Vec::new();
    records.extend(seed_records());
    for round in 1..50 {
        // Once-only events (opening figures, survey answers) are recorded once.
        let repeatable = seed_records()
            .into_iter()
            .filter(|record| record.event.stream_rule() == kpi_domain::StreamRule::Any);
        records.extend(repeatable.map(|mut record| {
            record.idempotency_key = format!("{}#{round}", record.idempotency_key);
            record
        }));
    }
    ledger.import("seed", records).await.unwrap();
    assert!(ledger.head().position > 4 * 1024, "long enough to pipeline");
    ledger.close().await;

    let reopened = open_without_checkpoints(&log, roadmap()).await;
    assert_eq!(reopened.startup().events_folded, reopened.head().position);
    assert_matches_full_replay(&reopened, roadmap()).await;
    let events: Vec<RecordedEvent> = reopened
        .store()
        .iter_from(1)
        .map(|envelope| kpi_service::recorded_event(&envelope.unwrap()).unwrap())
        .collect();
    let middle = events[events.len() / 2].recorded_at;
    let expected = Projection::as_of(roadmap(), &events, middle);
    let as_of = View::new(Some(middle), None);
    let (tables, applied) = reopened
        .inspect(as_of, |projection| {
            (projection.tables(), projection.applied())
        })
        .await
        .unwrap();
    assert_eq!(tables, expected.tables());
    assert_eq!(applied, expected.applied());
    reopened.close().await;
}
}
