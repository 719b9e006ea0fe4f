//! Many concurrent appenders on overlapping streams, and catch-up subscriptions under load.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use common::{seminar, stream};
use futures::StreamExt as _;
use kpi_store::{AppendError, Envelope, ExpectedVersion, StoreConfig};

const TASKS: usize = 64;
const APPENDS_PER_TASK: usize = 15;
const STREAMS: usize = 8;

/// What one task saw: every acknowledged envelope and every conflict it got.
#[derive(Default)]
struct Seen {
    written: Vec<Envelope>,
    conflicts: usize,
}

on_both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_appenders_lose_and_duplicate_nothing(log) {
    let store = log.open_with(StoreConfig::default()).unwrap();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            let target = stream(&format!("seminar:{}", task % STREAMS));
            // A third of the tasks do not care about order, the rest use optimistic
            // concurrency from what they last saw, so conflicts are common.
            let optimistic = task % 3 != 0;
            let mut known_version = 0;
            for n in 0..APPENDS_PER_TASK {
                let expected = if optimistic {
                    ExpectedVersion::Exact(known_version)
                } else {
                    ExpectedVersion::Any
                };
                let event = seminar((task * 100 + n) as u32)
                    .with_idempotency_key(format!("task-{task}-append-{n}"));
                match store.append(&target, expected, vec![event.clone()]).await {
                    Ok(mut written) => {
                        let envelope = written.remove(0);
                        if let ExpectedVersion::Exact(v) = expected {
                            assert_eq!(envelope.stream_version, v + 1);
                        }
                        known_version = envelope.stream_version;
                        assert_eq!(envelope.stream_id, target);
                        seen.written.push(envelope);
                    }
                    Err(AppendError::WrongExpectedVersion {
                        stream,
                        expected: got_expected,
                        actual,
                    }) => {
                        assert!(optimistic, "an Any append conflicted");
                        assert_eq!(stream, target);
                        assert_eq!(got_expected, expected);
                        let actual = actual.expect("the stream exists once anyone wrote");
                        assert_ne!(ExpectedVersion::Exact(actual), expected);
                        known_version = actual;
                        seen.conflicts += 1;
                        // A retry of a rejected append is a fresh append, not a replay.
                        let retried = store
                            .append(&target, ExpectedVersion::Any, vec![event])
                            .await
                            .unwrap();
                        known_version = known_version.max(retried[0].stream_version);
                        seen.written.extend(retried);
                    }
                    Err(other) => panic!("unexpected {other:?}"),
                }
            }
            seen
        }));
    }
    let mut acknowledged = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let seen = task.await.unwrap();
        conflicts += seen.conflicts;
        acknowledged.extend(seen.written);
    }
    assert!(conflicts > 0, "the workload should provoke conflicts");
    assert_eq!(acknowledged.len(), TASKS * APPENDS_PER_TASK);

    acknowledged.sort_by_key(|e| e.position);
    let stored = store.read_from(0, usize::MAX).unwrap();
    // Nothing lost, nothing duplicated, nothing extra: the log is exactly what was acknowledged.
    assert_eq!(stored, acknowledged);
    let keys: HashSet<_> = stored.iter().map(|e| e.idempotency_key.clone()).collect();
    assert_eq!(keys.len(), stored.len());
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    for (index, envelope) in stored.iter().enumerate() {
        assert_eq!(envelope.position, index as u64 + 1);
        let version = versions.entry(envelope.stream_id.to_string()).or_default();
        *version += 1;
        assert_eq!(envelope.stream_version, *version);
    }
    assert_eq!(store.verify().unwrap().position, stored.len() as u64);
}
}

on_both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_of_one_key_write_it_once(log) {
    let store = log.open_with(StoreConfig::default()).unwrap();
    let target = stream("grant:7");
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let store = store.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append(
                    &target,
                    ExpectedVersion::NoStream,
                    vec![seminar(1).with_idempotency_key("grant-7-approval")],
                )
                .await
                .unwrap()
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert!(answers.iter().all(|a| *a == answers[0]));
    assert_eq!(store.head().position, 1);
}
}

async fn collect(
    subscription: impl futures::Stream<Item = Result<Envelope, kpi_store::StoreError>>,
    count: usize,
) -> Vec<u64> {
    tokio::time::timeout(
        Duration::from_secs(30),
        subscription
            .take(count)
            .map(|e| e.unwrap().position)
            .collect(),
    )
    .await
    .expect("the subscription delivered everything in time")
}

on_both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_hands_over_from_stored_to_live_without_gap_or_duplicate(log) {
    let store = log.open_with(StoreConfig::default()).unwrap();
    for n in 0..300 {
        store
            .append(&stream("s"), ExpectedVersion::Any, vec![seminar(n)])
            .await
            .unwrap();
    }
    // Appends keep coming while the subscriptions catch up.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..300 {
                let target = stream(&format!("live:{}", n % 5));
                store
                    .append(&target, ExpectedVersion::Any, vec![seminar(n), seminar(n)])
                    .await
                    .unwrap();
            }
        })
    };
    let from_start = collect(store.subscribe(0), 900);
    let from_middle = collect(store.subscribe(250), 651);
    let (from_start, from_middle) = tokio::join!(from_start, from_middle);
    writer.await.unwrap();
    assert_eq!(from_start, (1..=900).collect::<Vec<_>>());
    assert_eq!(from_middle, (250..=900).collect::<Vec<_>>());
}
}

on_both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_subscriber_falls_back_to_the_store_and_misses_nothing(log) {
    let config = StoreConfig {
        subscriber_buffer: 2,
        ..StoreConfig::default()
    };
    let store = log.open_with(config).unwrap();
    let mut subscription = Box::pin(store.subscribe(1));
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..400 {
                store
                    .append(&stream("s"), ExpectedVersion::Any, vec![seminar(n)])
                    .await
                    .unwrap();
            }
        })
    };
    let mut received = Vec::new();
    while received.len() < 400 {
        let envelope = tokio::time::timeout(Duration::from_secs(30), subscription.next())
            .await
            .expect("in time")
            .expect("the stream continues")
            .unwrap();
        received.push(envelope.position);
        if received.len() % 50 == 0 {
            // Slow enough that the two-group buffer overflows.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    writer.await.unwrap();
    assert_eq!(received, (1..=400).collect::<Vec<_>>());
}
}

on_both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_end_when_the_store_closes(log) {
    let store = log.open_with(StoreConfig::default()).unwrap();
    store
        .append(&stream("s"), ExpectedVersion::Any, vec![seminar(1)])
        .await
        .unwrap();
    let subscription = store.subscribe(1);
    let reader = store.clone();
    store.close().await;
    let all: Vec<_> =
        tokio::time::timeout(Duration::from_secs(10), subscription.collect::<Vec<_>>())
            .await
            .expect("the stream ends");
    assert_eq!(all.len(), 1);
    // Subscribing after close still replays what is stored, then ends.
    let late: Vec<_> = reader.subscribe(0).collect().await;
    assert_eq!(late.len(), 1);
}
}
