//! What only the PostgreSQL backend has: its schema (versioned, append-only), the log as
//! rows someone with database access could change (verify finds it, as `format.rs` shows
//! for sled's files), and several stores on one database (one chain, gapless positions).

mod common;

use std::collections::HashSet;

use common::{seminar, stream, TestLog};
use kpi_store::{AppendError, EventStore, ExpectedVersion, StoreConfig, StoreError, VerifyReason};

/// A PostgreSQL log with five single-event appends.
async fn five_events() -> Option<(TestLog, EventStore)> {
    let log = TestLog::postgres()?;
    let store = log.open();
    for n in 1..=5 {
        store
            .append(
                &stream("seminar:2024"),
                ExpectedVersion::Any,
                vec![seminar(20 + n).with_idempotency_key(format!("k{n}"))],
            )
            .await
            .unwrap();
    }
    Some((log, store))
}

#[tokio::test]
async fn the_schema_is_versioned_and_the_log_is_append_only() {
    let Some((log, store)) = five_events().await else {
        return;
    };
    assert_eq!(
        log.psql("SELECT version || ' ' || name FROM kpi_schema_version ORDER BY version"),
        "1 0001_event_log\n2 0002_merkle_tree"
    );
    assert_eq!(
        log.psql("SELECT position FROM kpi_log_head"),
        "5",
        "the head row moves with each commit"
    );
    // Opening again applies nothing twice.
    drop(store);
    let store = log.open();
    assert_eq!(log.psql("SELECT count(*) FROM kpi_schema_version"), "2");
    assert_eq!(store.head().position, 5);
    for statement in [
        "UPDATE kpi_events SET stream_version = stream_version",
        "DELETE FROM kpi_events WHERE position = 5",
        "TRUNCATE kpi_events",
    ] {
        let output = std::process::Command::new("/usr/lib/postgresql/15/bin/psql")
            .args(["-qAt", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(log.config().postgres.url.unwrap())
            .args(["-c", statement])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{statement} must be refused");
    }
    assert_eq!(log.psql("SELECT count(*) FROM kpi_events"), "5");
    assert_eq!(store.verify().unwrap().position, 5);
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused() {
    let Some((log, store)) = five_events().await else {
        return;
    };
    store.close().await;
    log.psql("INSERT INTO kpi_schema_version (version, name) VALUES (3, '0003_from_the_future')");
    let error = log
        .open_with(StoreConfig::default())
        .err()
        .expect("refused");
    assert!(
        matches!(
            error,
            StoreError::UnsupportedSchema {
                found: 3,
                supported: 2
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("newer kpi-ledger"), "{error}");
}

#[tokio::test]
async fn a_changed_row_is_found_by_verify_at_its_position() {
    let Some((log, store)) = five_events().await else {
        return;
    };
    let digest = store.verify().unwrap();
    // Someone with database access flips a byte of event 3's canonical body.
    log.psql(
        "ALTER TABLE kpi_events DISABLE TRIGGER kpi_events_append_only; \
         UPDATE kpi_events SET body = overlay(body placing '\\xff'::bytea from length(body) - 2) \
         WHERE position = 3",
    );
    let failure = store.verify().unwrap_err();
    assert_eq!(failure.position, 3);
    assert!(
        matches!(failure.reason, VerifyReason::HashMismatch { .. }),
        "{failure}"
    );
    // A rehashed forgery still breaks the next link.
    log.psql(
        "UPDATE kpi_events SET hash = sha256(prev_hash || int8send(position) || body) \
         WHERE position = 3",
    );
    let failure = store.verify().unwrap_err();
    assert_eq!(failure.position, 4);
    assert!(
        matches!(failure.reason, VerifyReason::PrevHashMismatch { .. }),
        "{failure}"
    );
    // A walk from a checkpoint before the change finds it too.
    let anchor = store.read_from(2, 1).unwrap().remove(0);
    assert_eq!(store.verify_after(2, anchor.hash).unwrap_err().position, 4);
    assert_eq!(digest.position, 5);
}

#[tokio::test]
async fn a_lookup_column_that_disagrees_with_the_body_is_found() {
    let Some((log, store)) = five_events().await else {
        return;
    };
    log.psql(
        "ALTER TABLE kpi_events DISABLE TRIGGER kpi_events_append_only; \
         UPDATE kpi_events SET idempotency_key = 'stolen' WHERE position = 2",
    );
    let failure = store.verify().unwrap_err();
    assert_eq!(failure.position, 2);
    assert_eq!(
        failure.reason,
        VerifyReason::IndexMismatch {
            index: "idempotency"
        }
    );
}

#[tokio::test]
async fn a_deleted_row_is_reported_missing_by_verify_and_reads() {
    let Some((log, store)) = five_events().await else {
        return;
    };
    log.psql(
        "ALTER TABLE kpi_events DISABLE TRIGGER kpi_events_append_only; \
         DELETE FROM kpi_events WHERE position = 4",
    );
    let failure = store.verify().unwrap_err();
    assert_eq!(failure.position, 4);
    assert_eq!(failure.reason, VerifyReason::Missing);
    let error = store.read_from(1, 10).unwrap_err();
    assert!(error.to_string().contains("position 4"), "{error}");
}

/// A database that lost the last events this store acknowledged (an asynchronous standby
/// promoted in a failover, played here by removing the rows and moving the head row back):
/// the store's next append finds the head row behind its own, refuses it and every later one,
/// and says why ([`EventStore::refusal`], what `/readyz` reports).
#[tokio::test]
async fn a_database_behind_what_was_acknowledged_is_refused_for_good() {
    let Some((log, store)) = five_events().await else {
        return;
    };
    assert_eq!(store.refusal(), None);
    log.psql(
        "ALTER TABLE kpi_events DISABLE TRIGGER kpi_events_append_only; \
         DELETE FROM kpi_events WHERE position > 3; \
         UPDATE kpi_log_head SET position = 3, \
         hash = (SELECT hash FROM kpi_events WHERE position = 3)",
    );
    let seminars = stream("seminar:2024");
    let append = || store.append(&seminars, ExpectedVersion::Any, vec![seminar(30)]);
    let refused = append().await.unwrap_err();
    assert!(
        matches!(&refused, AppendError::Store(StoreError::Poisoned { reason })
            if reason.contains("ends at position 3, before position 5 that was acknowledged")),
        "{refused:?}"
    );
    let reason = store.refusal().expect("the store says it refuses writes");
    assert!(reason.contains("before position 5"), "{reason}");
    // For good: the next append is refused without being tried, and nothing was written.
    assert!(matches!(
        append().await.unwrap_err(),
        AppendError::Store(StoreError::Poisoned { .. })
    ));
    assert_eq!(log.psql("SELECT count(*) FROM kpi_events"), "3");
}

/// Two stores on one database, as two gateways would be: every append of either gets the
/// next position under the head row's lock, the chain is one, idempotency keys hold across
/// them, and each reads the other's events once its own writer has seen them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_database_keep_one_gapless_chain() {
    let Some(log) = TestLog::postgres() else {
        return;
    };
    let first = log.open();
    let second = log.open();
    let mut tasks = Vec::new();
    for task in 0..16u32 {
        let store = if task % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut positions = Vec::new();
            for n in 0..10u32 {
                let written = store
                    .append(
                        &stream(&format!("seminar:{}", task % 4)),
                        ExpectedVersion::Any,
                        vec![seminar(n).with_idempotency_key(format!("t{task}-{n}"))],
                    )
                    .await
                    .unwrap();
                positions.push(written[0].position);
            }
            positions
        }));
    }
    let mut positions = HashSet::new();
    for task in tasks {
        for position in task.await.unwrap() {
            assert!(positions.insert(position), "position {position} twice");
        }
    }
    assert_eq!(positions.len(), 160);
    assert_eq!(positions.iter().max(), Some(&160));
    // A retry through the other store is answered with the original.
    let original = first.read_by_type("SeminarHeld", 1, 1).unwrap().remove(0);
    let retry = second
        .append(
            &original.stream_id,
            ExpectedVersion::Any,
            vec![seminar(0).with_idempotency_key(original.idempotency_key.clone().unwrap())],
        )
        .await
        .unwrap();
    assert_eq!(retry, vec![original]);
    // An append through each brings it up to the log's head; then both read the same log.
    for store in [&first, &second] {
        store
            .append(&stream("sync"), ExpectedVersion::Any, vec![seminar(1)])
            .await
            .unwrap();
    }
    let reopened = log.open();
    let digest = reopened.verify().unwrap();
    assert_eq!(digest.position, 162);
    assert_eq!(second.head(), digest);
    assert_eq!(second.verify().unwrap(), digest);
    assert_eq!(
        first.read_from(1, 161).unwrap(),
        second.read_from(1, 161).unwrap()
    );
    // Expected versions are judged against the other store's appends too.
    let stale = first
        .append(&stream("sync"), ExpectedVersion::Exact(1), vec![seminar(2)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale,
            AppendError::WrongExpectedVersion {
                actual: Some(2),
                ..
            }
        ),
        "{stale}"
    );
}

/// A store sees another process's appends without appending itself: the other's commit
/// notifies (LISTEN/NOTIFY), its writer reads the new events by position from the head row,
/// moves its head and hands them to its subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_follows_the_appends_of_another_on_the_same_database() {
    use futures::StreamExt as _;
    let Some(log) = TestLog::postgres() else {
        return;
    };
    let writer = log.open();
    let follower = log.open();
    let live = follower.subscribe(1);
    let mut written = writer
        .append(
            &stream("seminar:a"),
            ExpectedVersion::Any,
            vec![seminar(1), seminar(2)],
        )
        .await
        .unwrap();
    written.extend(
        writer
            .append(&stream("seminar:b"), ExpectedVersion::Any, vec![seminar(3)])
            .await
            .unwrap(),
    );
    // Bounded, not timed: a follower that never hears of the appends fails here.
    let received = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        live.take(3).collect::<Vec<_>>(),
    )
    .await
    .expect("the follower received the other store's events");
    let received: Vec<_> = received.into_iter().map(Result::unwrap).collect();
    assert_eq!(received, written);
    assert_eq!(follower.head(), writer.head());
    assert_eq!(follower.read_from(1, 10).unwrap(), written);
    assert_eq!(follower.verify().unwrap(), writer.head());
}

/// Every connection of the store cut at once (as a restarted server or a failover cuts
/// them): an append in flight is acknowledged or told it was not (never both), its retry
/// with the same key writes it exactly once, the writer and the reads reconnect by
/// themselves, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_lose_nothing_acknowledged_and_reconnect() {
    let Some((log, store)) = five_events().await else {
        return;
    };
    let cut = log.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    assert_ne!(cut, "0", "the store's connections were there to cut");
    let event = || vec![seminar(99).with_idempotency_key("after-the-cut")];
    let s = stream("seminar:2024");
    let first = store.append(&s, ExpectedVersion::Any, event()).await;
    if let Err(error) = &first {
        assert!(error.is_storage_failure(), "{error}");
    }
    let retried = store
        .append(&s, ExpectedVersion::Any, event())
        .await
        .unwrap();
    if let Ok(first) = first {
        assert_eq!(retried, first, "the retry is answered with the original");
    }
    assert_eq!(retried[0].position, 6);
    assert_eq!(store.head().position, 6);
    assert_eq!(store.read_from(1, 10).unwrap().len(), 6);
    assert_eq!(store.read_stream(&s).unwrap().len(), 6);
    assert_eq!(store.verify().unwrap().position, 6);
}
