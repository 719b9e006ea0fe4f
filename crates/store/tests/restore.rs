//! Restoring a whole log from its envelopes into an empty store.

mod common;

use common::{open, seminar, snapshot, stream, TestLog};
use kpi_store::{
    ArchiveFault, EventStore, ExpectedVersion, NewEvent, RestoreError, StoreConfig, VerifyReason,
};
use serde_json::json;

/// A log of `count` events over three streams, some with idempotency keys and provenance,
/// appended in several groups; returns the store and its envelopes.
async fn original(log: &TestLog, count: u32) -> (EventStore, Vec<kpi_store::Envelope>) {
    let store = log.open();
    for i in 0..count {
        let mut event = seminar(i);
        if i % 3 == 0 {
            event = event.with_idempotency_key(format!("seminar-{i}"));
        }
        if i % 5 == 0 {
            event = event.with_provenance("FY2024 report");
        }
        let name = format!("seminar:2024/{}", i % 3);
        store
            .append(&stream(&name), ExpectedVersion::Any, vec![event])
            .await
            .unwrap();
    }
    let envelopes = store.read_from(1, usize::MAX).unwrap();
    assert_eq!(envelopes.len(), count as usize);
    (store, envelopes)
}

on_both_backends! {
#[tokio::test]
async fn a_restored_store_verifies_to_the_original_digest_and_keeps_working(log) {
    // More than one chunk (64 events) so chunk boundaries and stream runs are exercised.
    let (store, envelopes) = original(&log, 150).await;
    let digest = store.verify().unwrap();

    let target = log.another();
    let restored_dir = target.path().join("restored");
    let restored = EventStore::restore(&restored_dir, target.config(), &envelopes).unwrap();
    assert_eq!(restored.verify().unwrap(), digest);
    assert_eq!(restored.head(), digest);
    assert_eq!(restored.read_from(1, usize::MAX).unwrap(), envelopes);
    assert_eq!(
        restored.read_stream(&stream("seminar:2024/1")).unwrap(),
        store.read_stream(&stream("seminar:2024/1")).unwrap()
    );
    assert_eq!(
        restored.read_by_type("SeminarHeld", 1, 1000).unwrap().len(),
        150
    );

    // The writer continues the restored chain and streams, and idempotency keys still hold.
    let retry = restored
        .append(
            &stream("seminar:2024/0"),
            ExpectedVersion::Any,
            vec![seminar(3).with_idempotency_key("seminar-3")],
        )
        .await
        .unwrap();
    assert_eq!(retry[0].position, 4);
    let next = restored
        .append(
            &stream("seminar:2024/0"),
            ExpectedVersion::Exact(50),
            vec![NewEvent::new(
                "SeminarHeld",
                "2025-06-01".parse().unwrap(),
                "clerk",
                json!({"attendees": 9}),
            )],
        )
        .await
        .unwrap();
    assert_eq!(next[0].position, 151);
    assert_eq!(next[0].prev_hash, digest.hash);
    assert!(next[0].event_id > envelopes[149].event_id);
    assert_eq!(restored.verify().unwrap().position, 151);
}
}

on_both_backends! {
#[tokio::test]
async fn an_empty_archive_gives_an_empty_store(log) {
    let restored = EventStore::restore(log.path(), log.config(), &[]).unwrap();
    assert_eq!(restored.head().position, 0);
}
}

fn refused(envelopes: &[kpi_store::Envelope]) -> (usize, u64, ArchiveFault) {
    let target = tempfile::tempdir().unwrap();
    let dir = target.path().join("never-created");
    let error = EventStore::restore(&dir, StoreConfig::default(), envelopes)
        .err()
        .expect("the archive is refused");
    assert!(!dir.exists(), "a refused archive must write nothing");
    match error {
        RestoreError::Broken {
            index,
            position,
            reason,
        } => (index, position, reason),
        other => panic!("expected a broken archive, got {other}"),
    }
}

#[tokio::test]
async fn a_changed_payload_is_refused_at_its_position() {
    let (_store, mut envelopes) = original(&TestLog::sled(), 10).await;
    envelopes[6].payload["attendees"] = json!(7000);
    let (index, position, reason) = refused(&envelopes);
    assert_eq!((index, position), (6, 7));
    assert!(
        matches!(
            reason,
            ArchiveFault::Chain(VerifyReason::HashMismatch { .. })
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn a_changed_recorded_at_or_event_id_is_refused() {
    let (_store, envelopes) = original(&TestLog::sled(), 5).await;
    let mut later = envelopes.clone();
    later[2].recorded_at += chrono::Duration::nanoseconds(1);
    assert_eq!(refused(&later).1, 3);
    let mut other_id = envelopes.clone();
    other_id[4].event_id = uuid::Uuid::now_v7();
    assert_eq!(refused(&other_id).1, 5);
}

#[tokio::test]
async fn swapped_or_dropped_entries_are_refused() {
    let (_store, envelopes) = original(&TestLog::sled(), 10).await;

    let mut swapped = envelopes.clone();
    swapped.swap(3, 4);
    let (index, position, reason) = refused(&swapped);
    assert_eq!((index, position), (3, 5));
    assert!(
        matches!(reason, ArchiveFault::OutOfOrder { expected: 4 }),
        "{reason}"
    );

    let mut dropped = envelopes.clone();
    dropped.remove(5);
    let (index, _, reason) = refused(&dropped);
    assert_eq!(index, 5);
    assert!(
        reason.to_string().contains("expected position 6"),
        "{reason}"
    );

    // Renumbering to hide a dropped entry still breaks the chain.
    let mut renumbered = dropped.clone();
    for (i, envelope) in renumbered.iter_mut().enumerate() {
        envelope.position = i as u64 + 1;
    }
    let (index, _, reason) = refused(&renumbered);
    assert_eq!(index, 5);
    assert!(
        matches!(
            reason,
            ArchiveFault::Chain(VerifyReason::PrevHashMismatch { .. })
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn a_consistent_but_invalid_envelope_is_refused() {
    // A chain forged over a blank actor: hashes match, the append rules do not.
    let (_store, mut envelopes) = original(&TestLog::sled(), 2).await;
    envelopes[0].actor = " ".to_owned();
    let (_, position, reason) = refused(&envelopes);
    assert_eq!(position, 1);
    assert!(reason.to_string().contains("`actor`"), "{reason}");
}

#[tokio::test]
async fn an_existing_store_is_never_restored_over_and_is_left_untouched() {
    let (_store, envelopes) = original(&TestLog::sled(), 3).await;
    let target = tempfile::tempdir().unwrap();
    {
        let occupied = open(target.path());
        occupied
            .append(&stream("other"), ExpectedVersion::Any, vec![seminar(1)])
            .await
            .unwrap();
        occupied.close().await;
    }
    let before = snapshot(target.path());
    let error = EventStore::restore(target.path(), StoreConfig::default(), &envelopes)
        .err()
        .expect("refused");
    assert!(matches!(error, RestoreError::NotEmpty { .. }), "{error}");
    assert!(error.to_string().contains("not empty"), "{error}");
    assert_eq!(before, snapshot(target.path()));
    assert_eq!(open(target.path()).head().position, 1);
}

#[tokio::test]
async fn an_unreadable_entry_is_refused_before_anything_is_written() {
    let (_store, envelopes) = original(&TestLog::sled(), 5).await;
    let target = tempfile::tempdir().unwrap();
    let dir = target.path().join("never-created");
    let error = EventStore::restore_from(&dir, StoreConfig::default(), || {
        envelopes.iter().enumerate().map(|(index, envelope)| {
            if index == 3 {
                Err("line 4 is not JSON".to_owned())
            } else {
                Ok(envelope.clone())
            }
        })
    })
    .err()
    .expect("refused");
    assert!(
        matches!(error, RestoreError::Unreadable { index: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("line 4 is not JSON"), "{error}");
    assert!(!dir.exists());
}

on_both_backends! {
#[tokio::test]
async fn a_log_of_several_write_batches_restores_to_the_same_digest(log) {
    // More than one restore batch (1,024 events), so a head is committed mid-restore.
    let store = log.open();
    for round in 0..11u32 {
        let events = (0..100).map(|i| seminar(round * 100 + i)).collect();
        let name = format!("seminar:2024/{}", round % 3);
        store
            .append(&stream(&name), ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
    let digest = store.verify().unwrap();
    assert_eq!(digest.position, 1100);
    let envelopes = store.read_from(1, usize::MAX).unwrap();
    let target = log.another();
    let restored = EventStore::restore(target.path(), target.config(), &envelopes).unwrap();
    assert_eq!(restored.verify().unwrap(), digest);
    assert_eq!(restored.read_from(1, usize::MAX).unwrap(), envelopes);
}
}
