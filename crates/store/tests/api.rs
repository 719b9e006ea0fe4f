//! Behaviour of the public API on one store: appends, reads, idempotency, bad input.

mod common;

use common::{seminar, stream};
use kpi_store::{
    AppendError, EventStore, ExpectedVersion, Hash, Head, NewEvent, StoreConfig, StoreError,
};
use serde_json::json;

on_both_backends! {
#[tokio::test]
async fn appended_events_read_back_identically_everywhere(log) {
    let store = log.open();
    assert_eq!(store.head(), Head::empty());

    let a = stream("seminar:2024/a");
    let b = stream("seminar:2024/b");
    let first = store
        .append(
            &a,
            ExpectedVersion::NoStream,
            vec![seminar(10), seminar(11)],
        )
        .await
        .unwrap();
    let consult = NewEvent::new(
        "ConsultationHeld",
        "2024-07-01T09:30:00+09:00".parse().unwrap(),
        "clerk:2",
        json!({"company": "Example KK", "minutes": 45}),
    )
    .with_provenance("FY2024 report, KPI table");
    let second = store
        .append(&b, ExpectedVersion::Any, vec![consult.clone()])
        .await
        .unwrap();
    let third = store
        .append(&a, ExpectedVersion::Exact(2), vec![seminar(12)])
        .await
        .unwrap();

    let positions: Vec<_> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .map(|e| e.position)
        .collect();
    assert_eq!(positions, [1, 2, 3, 4]);
    assert_eq!(
        first
            .iter()
            .chain(&third)
            .map(|e| e.stream_version)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(second[0].stream_version, 1);
    assert_eq!(second[0].payload, consult.payload);
    assert_eq!(
        second[0].provenance.as_deref(),
        Some("FY2024 report, KPI table")
    );
    assert_eq!(second[0].occurred, consult.occurred);
    assert_eq!(first[0].prev_hash, Hash::genesis());
    assert_eq!(first[1].prev_hash, first[0].hash);
    assert_eq!(second[0].prev_hash, first[1].hash);
    assert_eq!(first[0].event_id.get_version_num(), 7);
    assert!(first[0].recorded_at <= third[0].recorded_at);

    let all: Vec<_> = first.iter().chain(&second).chain(&third).cloned().collect();
    assert_eq!(store.read_from(0, 100).unwrap(), all);
    assert_eq!(store.read_from(2, 2).unwrap(), all[1..3]);
    assert_eq!(store.read_from(5, 10).unwrap(), []);
    let iterated: Vec<_> = store.iter_from(3).collect::<Result<_, _>>().unwrap();
    assert_eq!(iterated, all[2..]);
    assert_eq!(
        store.read_stream(&a).unwrap(),
        vec![all[0].clone(), all[1].clone(), all[3].clone()]
    );
    assert_eq!(store.read_stream(&stream("seminar:2024")).unwrap(), []);
    assert_eq!(
        store.read_by_type("SeminarHeld", 0, 10).unwrap(),
        vec![all[0].clone(), all[1].clone(), all[3].clone()]
    );
    assert_eq!(
        store.read_by_type("SeminarHeld", 2, 1).unwrap(),
        [all[1].clone()]
    );
    assert_eq!(store.read_by_type("Seminar", 0, 10).unwrap(), []);
    assert_eq!(store.get(all[2].event_id).unwrap(), Some(all[2].clone()));
    assert_eq!(store.get(uuid::Uuid::now_v7()).unwrap(), None);
    assert_eq!(
        store.head(),
        Head {
            position: 4,
            hash: all[3].hash
        }
    );
    assert_eq!(store.verify().unwrap(), store.head());

    store.close().await;
    let reopened = log.open();
    assert_eq!(reopened.read_from(1, 100).unwrap(), all);
    assert_eq!(reopened.verify().unwrap().hash, all[3].hash);
    let fourth = reopened
        .append(&a, ExpectedVersion::Exact(3), vec![seminar(13)])
        .await
        .unwrap();
    assert_eq!((fourth[0].position, fourth[0].stream_version), (5, 4));
    assert_eq!(fourth[0].prev_hash, all[3].hash);
}
}

on_both_backends! {
#[tokio::test]
async fn envelopes_serialize_as_json_lines_with_iso_times(log) {
    let store = log.open();
    let envelope = store
        .append(&stream("s"), ExpectedVersion::Any, vec![seminar(1)])
        .await
        .unwrap()
        .remove(0);
    let line = serde_json::to_string(&envelope).unwrap();
    assert!(!line.contains('\n'));
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(value["occurred"], "2024-06-14");
    assert_eq!(value["stream_id"], "s");
    assert_eq!(value["hash"], envelope.hash.to_hex());
    assert_eq!(value["payload"]["attendees"], 1);
    let back: kpi_store::Envelope = serde_json::from_str(&line).unwrap();
    assert_eq!(back, envelope);
}
}

on_both_backends! {
#[tokio::test]
async fn wrong_expected_versions_name_the_actual_version_and_write_nothing(log) {
    let store = log.open();
    let s = stream("seminar:1");

    let err = store
        .append(&s, ExpectedVersion::Exact(1), vec![seminar(1)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            AppendError::WrongExpectedVersion {
                actual: None,
                expected: ExpectedVersion::Exact(1),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("actual no stream"), "{err}");

    store
        .append(&s, ExpectedVersion::NoStream, vec![seminar(1), seminar(2)])
        .await
        .unwrap();
    let head = store.head();
    let err = store
        .append(&s, ExpectedVersion::NoStream, vec![seminar(3)])
        .await
        .unwrap_err();
    match &err {
        AppendError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(stream, &s);
            assert_eq!(*expected, ExpectedVersion::NoStream);
            assert_eq!(*actual, Some(2));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("`seminar:1`"), "{err}");
    assert!(err.to_string().contains("actual version 2"), "{err}");
    let err = store
        .append(&s, ExpectedVersion::Exact(1), vec![seminar(3)])
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AppendError::WrongExpectedVersion {
            actual: Some(2),
            ..
        }
    ));
    assert_eq!(store.head(), head);
    assert_eq!(store.read_from(0, 10).unwrap().len(), 2);
}
}

on_both_backends! {
#[tokio::test]
async fn a_retried_append_returns_the_originals_even_after_reopening(log) {
    let s = stream("consultation:42");
    let batch = vec![
        seminar(1).with_idempotency_key("import:row-1"),
        seminar(2).with_idempotency_key("import:row-2"),
    ];
    let originals = {
        let store = log.open();
        let originals = store
            .append(&s, ExpectedVersion::NoStream, batch.clone())
            .await
            .unwrap();
        // Many other events later the key still counts: the index is persistent.
        for n in 0..50 {
            store
                .append(&stream("other"), ExpectedVersion::Any, vec![seminar(n)])
                .await
                .unwrap();
        }
        let again = store
            .append(&s, ExpectedVersion::NoStream, batch.clone())
            .await
            .unwrap();
        assert_eq!(again, originals);
        store.close().await;
        originals
    };
    let store = log.open();
    let head = store.head();
    let again = store
        .append(&s, ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!(again, originals);
    // A retry of only part of a batch is answered with those originals.
    let part = store
        .append(&s, ExpectedVersion::Any, vec![batch[1].clone()])
        .await
        .unwrap();
    assert_eq!(part, originals[1..]);
    assert_eq!(store.head(), head);
    assert_eq!(store.read_stream(&s).unwrap(), originals);
}
}

on_both_backends! {
#[tokio::test]
async fn append_or_recall_tells_a_write_from_a_retry(log) {
    let store = log.open();
    let s = stream("seminar:reporting");
    let keyed = vec![seminar(1).with_idempotency_key("k1")];
    let first = store
        .append_or_recall(&s, ExpectedVersion::Any, keyed.clone())
        .await
        .unwrap();
    assert!(!first.replayed);
    assert_eq!(first.envelopes.len(), 1);
    let retry = store
        .append_or_recall(&s, ExpectedVersion::Any, keyed)
        .await
        .unwrap();
    assert!(retry.replayed, "the key was used: nothing was written");
    assert_eq!(retry.envelopes, first.envelopes);
    // Without a key every append writes, even of the same content.
    for _ in 0..2 {
        let unkeyed = store
            .append_or_recall(&s, ExpectedVersion::Any, vec![seminar(1)])
            .await
            .unwrap();
        assert!(!unkeyed.replayed);
    }
    assert_eq!(store.head().position, 3);
}
}

on_both_backends! {
#[tokio::test]
async fn reusing_a_key_for_different_content_is_a_conflict_that_writes_nothing(log) {
    let store = log.open();
    let s = stream("seminar:9");
    store
        .append(
            &s,
            ExpectedVersion::Any,
            vec![seminar(1).with_idempotency_key("k1")],
        )
        .await
        .unwrap();
    let head = store.head();

    let different_payload = seminar(2).with_idempotency_key("k1");
    let different_stream = seminar(1).with_idempotency_key("k1");
    let mut different_type = seminar(1).with_idempotency_key("k1");
    different_type.event_type = "SeminarCancelled".to_owned();
    for (target, event) in [
        (&s, different_payload),
        (&stream("seminar:10"), different_stream),
        (&s, different_type),
    ] {
        let err = store
            .append(target, ExpectedVersion::Any, vec![event])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AppendError::IdempotencyConflict { key } if key == "k1"),
            "{err:?}"
        );
        assert!(err.to_string().contains("`k1`"), "{err}");
    }
    // Mixing a used key with a new one, or with an unkeyed event, conflicts too.
    for companion in [seminar(3).with_idempotency_key("k2"), seminar(3)] {
        let err = store
            .append(
                &s,
                ExpectedVersion::Any,
                vec![seminar(1).with_idempotency_key("k1"), companion],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AppendError::IdempotencyConflict { key } if key == "k1"),
            "{err:?}"
        );
    }
    assert_eq!(store.head(), head);
    assert!(store
        .read_by_type("SeminarCancelled", 0, 10)
        .unwrap()
        .is_empty());
    // k2 was never written, so it is still free.
    let fresh = store
        .append(
            &s,
            ExpectedVersion::Any,
            vec![seminar(3).with_idempotency_key("k2")],
        )
        .await
        .unwrap();
    assert_eq!(fresh[0].position, 2);
}
}

on_both_backends! {
/// The key covers the whole request: a retry must come from the same source. The same payload
/// under the same key with another provenance (or with one where the original had none) is a
/// conflict, whether the original is on disk or in the same commit group.
#[tokio::test]
async fn reusing_a_key_with_another_provenance_is_a_conflict_that_writes_nothing(log) {
    let store = log.open();
    let s = stream("seminar:provenance");
    let sourced = |provenance: &str| {
        seminar(1)
            .with_idempotency_key("k1")
            .with_provenance(provenance)
    };
    let original = store
        .append(
            &s,
            ExpectedVersion::Any,
            vec![sourced("FY2024 report, table 2")],
        )
        .await
        .unwrap();
    let head = store.head();
    let retry = store
        .append(
            &s,
            ExpectedVersion::Any,
            vec![sourced("FY2024 report, table 2")],
        )
        .await
        .unwrap();
    assert_eq!(
        retry, original,
        "the same request is still a harmless retry"
    );
    for event in [
        sourced("FY2023 report, table 2"),
        seminar(1).with_idempotency_key("k1"),
    ] {
        let err = store
            .append(&s, ExpectedVersion::Any, vec![event])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AppendError::IdempotencyConflict { key } if key == "k1"),
            "{err:?}"
        );
        assert!(err.to_string().contains("provenance"), "{err}");
    }
    assert_eq!(store.head(), head);

    // Submitted together, the two usually share a commit group: the second is judged
    // against the first before either is on disk.
    let s2 = stream("seminar:provenance-group");
    let keyed = |provenance: &str| {
        seminar(2)
            .with_idempotency_key("k2")
            .with_provenance(provenance)
    };
    let (first, second) = tokio::join!(
        store.append(&s2, ExpectedVersion::Any, vec![keyed("source A")]),
        store.append(&s2, ExpectedVersion::Any, vec![keyed("source B")]),
    );
    let outcomes = [first.is_ok(), second.is_ok()];
    assert_eq!(
        outcomes.iter().filter(|written| **written).count(),
        1,
        "exactly one of them is written: {outcomes:?}"
    );
    let refused = if outcomes[0] { second } else { first };
    assert!(
        matches!(refused, Err(AppendError::IdempotencyConflict { ref key }) if key == "k2"),
        "{refused:?}"
    );
    assert_eq!(store.read_stream(&s2).unwrap().len(), 1);
}
}

on_both_backends! {
#[tokio::test]
async fn a_used_idempotency_key_names_the_position_of_its_event(log) {
    let s = stream("seminar:keys");
    {
        let store = log.open();
        assert_eq!(store.idempotency_key_position("k").unwrap(), None);
        store
            .append(&s, ExpectedVersion::Any, vec![seminar(1)])
            .await
            .unwrap();
        store
            .append(
                &s,
                ExpectedVersion::Any,
                vec![seminar(2).with_idempotency_key("k")],
            )
            .await
            .unwrap();
        assert_eq!(store.idempotency_key_position("k").unwrap(), Some(2));
        assert_eq!(store.idempotency_key_position("other").unwrap(), None);
        let used = store.idempotency_keys_used(&["other", "k", "k"]).unwrap();
        assert_eq!(used, ["k".to_owned()].into_iter().collect());
        assert!(store.idempotency_keys_used(&[]).unwrap().is_empty());
        store.close().await;
    }
    let store = log.open();
    assert_eq!(store.idempotency_key_position("k").unwrap(), Some(2));
    assert_eq!(store.idempotency_keys_used(&["k"]).unwrap().len(), 1);
}
}

on_both_backends! {
#[tokio::test]
async fn bad_input_gets_a_clear_error_and_writes_nothing(log) {
    let config = StoreConfig {
        max_event_bytes: 2_000,
        ..StoreConfig::default()
    };
    let store = log.open_with(config).unwrap();
    let s = stream("seminar:1");
    store
        .append(&s, ExpectedVersion::Any, vec![seminar(1)])
        .await
        .unwrap();
    let head = store.head();

    let err = store
        .append(&s, ExpectedVersion::Any, vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, AppendError::EmptyBatch));
    assert!(err.to_string().contains("at least one event"), "{err}");

    let err = "seminar 1".parse::<kpi_store::StreamId>().unwrap_err();
    assert!(err.to_string().contains("stream_id"), "{err}");
    assert!(err.to_string().contains("contains ' '"), "{err}");

    let mut big = seminar(2);
    big.payload = json!({ "notes": "x".repeat(2_000) });
    let err = store
        .append(&s, ExpectedVersion::Any, vec![seminar(2), big])
        .await
        .unwrap_err();
    match &err {
        AppendError::EventTooLarge { index, size, limit } => {
            assert_eq!(*index, 1);
            assert!(*size > 2_000);
            assert_eq!(*limit, 2_000);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("event 1 is too large"), "{err}");
    assert!(err.to_string().contains("max_event_bytes"), "{err}");

    let cases: Vec<(NewEvent, &str, &str)> = vec![
        (
            {
                let mut e = seminar(3);
                e.event_type = String::new();
                e
            },
            "events[0].event_type",
            "empty",
        ),
        (
            {
                let mut e = seminar(3);
                e.event_type = "T".repeat(201);
                e
            },
            "events[0].event_type",
            "201 bytes",
        ),
        (
            {
                let mut e = seminar(3);
                e.actor = " ".to_owned();
                e
            },
            "events[0].actor",
            "blank",
        ),
        (
            {
                let mut e = seminar(3);
                e.actor = "a\nb".to_owned();
                e
            },
            "events[0].actor",
            "control",
        ),
        (
            {
                let mut e = seminar(3);
                e.schema_version = 0;
                e
            },
            "events[0].schema_version",
            "at least 1",
        ),
        (
            seminar(3).with_provenance(""),
            "events[0].provenance",
            "empty",
        ),
        (
            seminar(3).with_idempotency_key("k\0"),
            "events[0].idempotency_key",
            "control",
        ),
    ];
    for (event, field, reason) in cases {
        let err = store
            .append(&s, ExpectedVersion::Any, vec![event])
            .await
            .unwrap_err();
        match &err {
            AppendError::InvalidEvent {
                field: f,
                reason: r,
            } => {
                assert_eq!(f, field);
                assert!(r.contains(reason), "{r}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains(field), "{err}");
    }
    let err = store
        .append(
            &s,
            ExpectedVersion::Any,
            vec![
                seminar(4).with_idempotency_key("same"),
                seminar(5).with_idempotency_key("same"),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("events[1].idempotency_key"),
        "{err}"
    );
    assert!(err.to_string().contains("twice"), "{err}");

    assert_eq!(store.head(), head);
    assert_eq!(store.read_from(0, 100).unwrap().len(), 1);
    assert_eq!(store.verify().unwrap(), head);
}
}

on_both_backends! {
#[tokio::test]
async fn appends_after_close_fail_as_closed(log) {
    let store = log.open();
    let other = store.clone();
    store.close().await;
    let err = other
        .append(&stream("s"), ExpectedVersion::Any, vec![seminar(1)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppendError::Store(StoreError::Closed)),
        "{err:?}"
    );
    assert_eq!(other.read_from(0, 10).unwrap(), []);
}
}

#[test]
fn invalid_config_is_refused_by_field_name() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        cache_capacity_bytes: 0,
        ..StoreConfig::default()
    };
    let err = EventStore::open(dir.path(), config).err().expect("refused");
    assert!(err.to_string().contains("`cache_capacity_bytes`"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

on_both_backends! {
#[tokio::test]
async fn large_batches_and_large_events_read_back_across_chunk_boundaries(log) {
    let store = log.open();
    let s = stream("import:fy2024");
    let other = stream("import:fy2025");
    let batch: Vec<NewEvent> = (0..150)
        .map(|n| {
            let mut event = seminar(n);
            if n % 3 == 0 {
                event.event_type = "ConsultationHeld".to_owned();
            }
            event
        })
        .collect();
    store
        .append(&other, ExpectedVersion::Any, vec![seminar(999)])
        .await
        .unwrap();
    let written = store.append(&s, ExpectedVersion::Any, batch).await.unwrap();
    // Events far above the chunk size limit each end up alone or nearly so.
    let big: Vec<NewEvent> = (0..4)
        .map(|n| {
            let mut event = seminar(n);
            event.payload = json!({ "n": n, "notes": "y".repeat(300_000) });
            event
        })
        .collect();
    let big_written = store
        .append(&other, ExpectedVersion::Any, big)
        .await
        .unwrap();
    assert_eq!(big_written[3].position, 155);

    let all = store.read_from(1, usize::MAX).unwrap();
    assert_eq!(all.len(), 155);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, e)| e.position == i as u64 + 1));
    assert_eq!(all[1..151], written[..]);
    assert_eq!(all[151..], big_written[..]);
    for from in [60, 64, 65, 66, 128, 129, 150, 151, 152, 155] {
        let read = store.read_from(from, 3).unwrap();
        let expected: Vec<_> = all[from as usize - 1..].iter().take(3).cloned().collect();
        assert_eq!(read, expected, "from {from}");
    }
    for envelope in &all {
        assert_eq!(
            store.get(envelope.event_id).unwrap().as_ref(),
            Some(envelope)
        );
    }
    let consultations = store.read_by_type("ConsultationHeld", 100, 10).unwrap();
    let expected: Vec<_> = all
        .iter()
        .filter(|e| e.event_type == "ConsultationHeld" && e.position >= 100)
        .take(10)
        .cloned()
        .collect();
    assert_eq!(consultations, expected);
    assert_eq!(
        store
            .read_by_type("ConsultationHeld", 0, 1000)
            .unwrap()
            .len(),
        50
    );
    assert_eq!(store.read_stream(&s).unwrap(), written);
    let others = store.read_stream(&other).unwrap();
    assert_eq!(others.len(), 5);
    assert_eq!(
        others.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(store.verify().unwrap().position, 155);

    store.close().await;
    let store = log.open();
    let next = store
        .append(&s, ExpectedVersion::Exact(150), vec![seminar(1)])
        .await
        .unwrap();
    assert_eq!((next[0].position, next[0].stream_version), (156, 151));
    assert!(next[0].event_id > big_written[3].event_id);
    assert_eq!(store.verify().unwrap().position, 156);
}
}

on_both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_reopens_at_once_again_and_again(log) {
    // sled's I/O threads may hold the file lock a moment after close; open waits for it.
    for round in 0..20u64 {
        let store = log.open();
        assert_eq!(store.head().position, round);
        store
            .append(
                &stream("s"),
                ExpectedVersion::Exact(round),
                vec![seminar(1)],
            )
            .await
            .unwrap();
        store.close().await;
    }
    assert_eq!(log.open().verify().unwrap().position, 20);
}
}

on_both_backends! {
#[tokio::test]
async fn raw_iteration_yields_the_stored_payload_text_of_the_same_envelopes(log) {
    let store = log.open();
    let mut odd = seminar(7);
    odd.payload = json!({ "z": 1.5, "a": [true, null, "富士"], "m": { "y": -3, "b": "x" } });
    store
        .append(
            &stream("s"),
            ExpectedVersion::Any,
            vec![seminar(1), odd, seminar(2)],
        )
        .await
        .unwrap();
    let parsed = store.read_from(0, 10).unwrap();
    let raw: Vec<kpi_store::RawEnvelope> =
        store.iter_raw_from(2).collect::<Result<_, _>>().unwrap();
    assert_eq!(raw.len(), 2);
    assert_eq!(
        raw[0].payload,
        r#"{"a":[true,null,"富士"],"m":{"b":"x","y":-3},"z":1.5}"#.as_bytes(),
        "stored as serde_json wrote it, keys sorted"
    );
    let back: Vec<_> = raw
        .into_iter()
        .map(|r| r.into_envelope().unwrap())
        .collect();
    assert_eq!(back, parsed[1..]);
    assert_eq!(store.iter_raw_from(4).count(), 0);
}
}
