//! A failing storage, in process: a flush made to fail as a full disk fails it (ENOSPC),
//! the store refusing appends and reads meanwhile, and reopening its database by itself.
//! The real thing (a full tmpfs under the running server) is `tests/tests/diskfull.rs`.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::{seminar, stream};
use futures::StreamExt;
use kpi_store::{
    AppendError, Envelope, EventStore, ExpectedVersion, NewEvent, StoreConfig, StoreError,
    VerifyReason,
};

/// ENOSPC on Linux.
const NO_SPACE: i32 = 28;
/// Long enough for a test to act between two attempts, short enough to keep it quick.
const RETRY: StoreConfig = StoreConfig {
    backend: kpi_store::Backend::Sled,
    postgres: kpi_store::PostgresConfig::unset(),
    cache_capacity_bytes: 64 * 1024 * 1024,
    compression: false,
    max_event_bytes: 1024 * 1024,
    max_group_events: 10_000,
    subscriber_buffer: 1_024,
    retry_initial_ms: 100,
    retry_max_ms: 400,
};
const BOUND: Duration = Duration::from_secs(20);

fn keyed(attendees: u32, key: &str) -> NewEvent {
    let mut event = seminar(attendees);
    event.idempotency_key = Some(key.to_owned());
    event
}

async fn wait_until_available(store: &EventStore) {
    let mut changes = store.storage_changes();
    tokio::time::timeout(BOUND, changes.wait_for(|status| status.outage.is_none()))
        .await
        .expect("the storage recovers within the bound")
        .expect("the store is open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_refuses_appends_and_reads_until_the_store_reopens_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), RETRY.clone()).unwrap();
    let s = stream("seminar:s");
    for i in 0..3 {
        store
            .append(&s, ExpectedVersion::Any, vec![keyed(i, &format!("k{i}"))])
            .await
            .unwrap();
    }
    let acknowledged = store.head();
    let mut follower = Box::pin(store.subscribe(1));
    for position in 1..=3 {
        assert_eq!(follower.next().await.unwrap().unwrap().position, position);
    }
    // Caught up, it now waits for live events.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), follower.next())
            .await
            .is_err()
    );

    store.__inject_flush_failure(NO_SPACE);
    store.__inject_reopen_failures(2);
    let failed = store
        .append(&s, ExpectedVersion::Any, vec![keyed(3, "k3")])
        .await
        .unwrap_err();
    assert!(
        matches!(&failed, AppendError::Store(StoreError::WriteFailed { reason }) if reason == "No space left on device"),
        "{failed:?}"
    );
    assert!(failed.is_storage_failure());
    assert!(
        failed.to_string().contains("same idempotency key"),
        "{failed}"
    );

    // Unavailable: said once, with the reason; appends and reads refused, nothing written.
    let status = store.storage();
    let outage = status.outage.expect("unavailable");
    assert_eq!(outage.reason, "No space left on device");
    assert_eq!(status.failures, 1);
    assert!(status.last_failure_at.is_some());
    let refused = store
        .append(&s, ExpectedVersion::Any, vec![keyed(4, "k4")])
        .await
        .unwrap_err();
    assert!(
        matches!(refused, AppendError::Unavailable { ref reason, .. } if reason == "No space left on device"),
        "{refused:?}"
    );
    assert!(
        refused.to_string().starts_with("nothing was written"),
        "{refused}"
    );
    let read = store.read_from(1, 10).unwrap_err();
    assert!(matches!(read, StoreError::Unavailable { .. }), "{read:?}");
    assert!(read.is_storage_failure());
    let walk = store.verify().unwrap_err();
    assert!(walk.is_storage_failure(), "{walk:?}");
    assert_eq!(store.head(), acknowledged, "nothing acknowledged meanwhile");
    // A subscriber that starts now cannot read the log yet: it waits, and misses nothing.
    let late = store.subscribe(1);
    let late = tokio::spawn(async move {
        late.take(4)
            .map(|event| event.unwrap().position)
            .collect::<Vec<_>>()
            .await
    });

    wait_until_available(&store).await;
    let status = store.storage();
    assert_eq!(status.failed_attempts, 2, "{status:?}");
    assert_eq!(status.recoveries, 1);
    assert_eq!(status.failures, 1);

    // The failed group reached the file (sled flushed it when the failed database was
    // dropped): it is taken in, and the follower hears of it without another append.
    let adopted = tokio::time::timeout(BOUND, follower.next())
        .await
        .expect("the follower hears of the adopted event")
        .unwrap()
        .unwrap();
    assert_eq!(adopted.position, 4);
    assert_eq!(adopted.idempotency_key.as_deref(), Some("k3"));
    assert_eq!(store.head().position, 4);
    let late = tokio::time::timeout(BOUND, late).await.unwrap().unwrap();
    assert_eq!(late, [1, 2, 3, 4]);

    // The retry with the same key returns it; the refused one is written now, once.
    let retried = store
        .append(&s, ExpectedVersion::Any, vec![keyed(3, "k3")])
        .await
        .unwrap();
    assert_eq!(retried, vec![adopted]);
    let written = store
        .append(&s, ExpectedVersion::Any, vec![keyed(4, "k4")])
        .await
        .unwrap();
    assert_eq!(written[0].position, 5);
    assert_eq!(store.verify().unwrap().position, 5);
    let keys: Vec<String> = store
        .read_from(1, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.idempotency_key.unwrap())
        .collect();
    assert_eq!(keys, ["k0", "k1", "k2", "k3", "k4"]);
    drop(follower);
    store.close().await;

    // And the store reopens from disk with all of it.
    let reopened = EventStore::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(reopened.verify().unwrap().position, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_lose_nothing_acknowledged_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), RETRY.clone()).unwrap();
    let appenders = 16;
    let per_appender = 40;
    let fail_at = 150u64;
    let appending: Vec<_> = (0..appenders)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = stream(&format!("seminar:t{task}"));
                let mut acknowledged = Vec::new();
                let mut refused = Vec::new();
                for i in 0..per_appender {
                    let key = format!("t{task}-{i}");
                    if store.head().position >= fail_at && task == 0 && refused.is_empty() {
                        store.__inject_flush_failure(NO_SPACE);
                    }
                    match store
                        .append(&s, ExpectedVersion::Any, vec![keyed(i, &key)])
                        .await
                    {
                        Ok(mut envelopes) => acknowledged.push(envelopes.remove(0)),
                        Err(error) if error.is_storage_failure() => refused.push(key),
                        Err(error) => panic!("{error}"),
                    }
                }
                (acknowledged, refused)
            })
        })
        .collect();
    let mut acknowledged: BTreeMap<u64, Envelope> = BTreeMap::new();
    let mut refused = Vec::new();
    for task in appending {
        let (acked, failed) = task.await.unwrap();
        for envelope in acked {
            assert!(acknowledged.insert(envelope.position, envelope).is_none());
        }
        refused.extend(failed);
    }
    assert!(!refused.is_empty(), "the flush failure refused something");
    assert_eq!(store.storage().failures, 1);

    wait_until_available(&store).await;
    for key in &refused {
        let (task, i) = key[1..].split_once('-').unwrap();
        let s = stream(&format!("seminar:t{task}"));
        let envelope = store
            .append(
                &s,
                ExpectedVersion::Any,
                vec![keyed(i.parse().unwrap(), key)],
            )
            .await
            .unwrap()
            .remove(0);
        if let Some(earlier) = acknowledged.insert(envelope.position, envelope.clone()) {
            assert_eq!(earlier, envelope, "a retry returned another event");
        }
    }
    let head = store.verify().unwrap();
    let log = store.read_from(1, usize::MAX).unwrap();
    assert_eq!(log.len() as u64, head.position);
    let mut keys = HashMap::new();
    for event in &log {
        let key = event.idempotency_key.clone().unwrap();
        assert!(keys.insert(key, event.position).is_none(), "stored twice");
        if let Some(acked) = acknowledged.get(&event.position) {
            assert_eq!(acked, event, "an acknowledged event changed");
        }
    }
    assert_eq!(keys.len(), appenders * per_appender as usize);
    assert_eq!(acknowledged.len(), keys.len(), "every append answered once");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_reopens_without_an_acknowledged_event_is_refused_as_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path(), RETRY.clone()).unwrap();
    let s = stream("seminar:s");
    for i in 0..3 {
        store
            .append(&s, ExpectedVersion::Any, vec![keyed(i, &format!("k{i}"))])
            .await
            .unwrap();
    }
    store.__inject_reopen_failures(u32::MAX);
    store.__inject_flush_failure(NO_SPACE);
    store
        .append(&s, ExpectedVersion::Any, vec![keyed(3, "k3")])
        .await
        .unwrap_err();
    // While the store cannot reopen it, the last acknowledged event goes missing.
    let deadline = std::time::Instant::now() + BOUND;
    let db = loop {
        match sled::open(dir.path().join(kpi_store::SLED_DIR)) {
            Ok(db) => break db,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(error) => panic!("the failed database is never let go of: {error}"),
        }
    };
    db.remove(kpi_store::raw::event_key(3)).unwrap();
    db.flush().unwrap();
    drop(db);
    store.__inject_reopen_failures(0);

    wait_until_available(&store).await;
    let refused = store
        .append(&s, ExpectedVersion::Any, vec![keyed(4, "k4")])
        .await
        .unwrap_err();
    assert!(
        matches!(refused, AppendError::Store(StoreError::Poisoned { .. })),
        "{refused:?}"
    );
    assert!(!refused.is_storage_failure());
    let failure = store.verify().unwrap_err();
    assert_eq!(failure.position, 3, "{failure}");
    assert!(!failure.is_storage_failure());
    assert_eq!(store.storage().recoveries, 0);
    assert!(matches!(
        failure.reason,
        VerifyReason::Missing | VerifyReason::LostAcknowledged { .. }
    ));
}
