//! The on-disk formats: format 2 chunks are compressed and read back whole, damage to them
//! is reported rather than panicking, hashed idempotency entries are confirmed against the
//! event, and a format 1 store keeps opening, reading and appending in its own format.

mod common;

use common::{open, seminar, stream};
use kpi_store::{
    AppendError, EventStore, ExpectedVersion, StoreConfig, StoreError, VerifyReason,
    FORMAT_VERSION, MARKER_FILE, SLED_DIR,
};

/// The 4 bytes every zstd frame starts with.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

fn sled_of(dir: &std::path::Path) -> sled::Db {
    sled::open(dir.join(SLED_DIR)).unwrap()
}

/// The chunk values of a closed store, by first position.
fn chunk_values(dir: &std::path::Path) -> Vec<(u64, Vec<u8>)> {
    let db = sled_of(dir);
    let mut chunks = Vec::new();
    for entry in db.range(kpi_store::raw::event_key(0)..=kpi_store::raw::event_key(u64::MAX)) {
        let (key, value) = entry.unwrap();
        chunks.push((
            u64::from_be_bytes(key[1..].try_into().unwrap()),
            value.to_vec(),
        ));
    }
    chunks
}

#[tokio::test]
async fn compressed_chunks_read_back_as_written_and_verify_to_the_same_digest() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // One group of 150 events (three chunks), then single ones.
    let batch: Vec<_> = (0..150)
        .map(|n| seminar(n).with_idempotency_key(format!("import:{n:032x}")))
        .collect();
    let written = store
        .append(&stream("seminar:a"), ExpectedVersion::Any, batch)
        .await
        .unwrap();
    for n in 0..3 {
        store
            .append(&stream("seminar:b"), ExpectedVersion::Any, vec![seminar(n)])
            .await
            .unwrap();
    }
    let digest = store.verify().unwrap();
    let before = store.read_from(1, 1000).unwrap();
    assert_eq!(before.len(), 153);
    assert_eq!(&before[..150], &written[..]);
    store.close().await;

    let chunks = chunk_values(dir.path());
    let firsts: Vec<u64> = chunks.iter().map(|(first, _)| *first).collect();
    assert_eq!(firsts, [1, 65, 129, 151, 152, 153]);
    let (mut stored, mut plain) = (0, 0);
    for (_, value) in &chunks {
        assert_eq!(value[..4], ZSTD_MAGIC, "a format 2 chunk is a zstd frame");
        stored += value.len();
        plain += kpi_store::raw::chunk_records(value).len();
    }
    assert!(stored * 2 < plain, "{stored} bytes stored for {plain}");

    let store = open(dir.path());
    assert_eq!(store.verify().unwrap(), digest);
    assert_eq!(store.read_from(1, 1000).unwrap(), before);
    assert_eq!(store.read_from(100, 2).unwrap(), before[99..101]);
    assert_eq!(
        store.get(before[70].event_id).unwrap().as_ref(),
        Some(&before[70])
    );
    assert_eq!(
        store.read_stream(&stream("seminar:b")).unwrap(),
        before[150..]
    );
    assert_eq!(
        store
            .idempotency_key_position(&format!("import:{:032x}", 99))
            .unwrap(),
        Some(100)
    );
    assert_eq!(
        store.idempotency_key_position("import:unknown").unwrap(),
        None
    );
}

/// A store of five single-event groups (five one-event chunks), closed.
async fn five_events() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for n in 1..=5 {
        store
            .append(
                &stream("seminar:t"),
                ExpectedVersion::Any,
                vec![seminar(n).with_idempotency_key(format!("k{n}"))],
            )
            .await
            .unwrap();
    }
    store.close().await;
    dir
}

fn damage_chunk(dir: &std::path::Path, position: u64) {
    let db = sled_of(dir);
    let key = kpi_store::raw::event_key(position);
    let mut value = db.get(key).unwrap().unwrap().to_vec();
    // Cut the frame short: it no longer decompresses.
    value.truncate(value.len() - 3);
    db.insert(key, value).unwrap();
    db.flush().unwrap();
}

#[tokio::test]
async fn a_chunk_that_does_not_decompress_is_reported_as_corrupt() {
    let dir = five_events().await;
    damage_chunk(dir.path(), 3);
    let store = open(dir.path());
    let failure = store.verify().unwrap_err();
    assert_eq!(failure.position, 3);
    assert!(
        matches!(&failure.reason, VerifyReason::Undecodable(reason) if reason.contains("decompress")),
        "{failure}"
    );
    let read = store.read_from(1, 10).unwrap_err();
    assert!(matches!(read, StoreError::Corrupt { .. }), "{read:?}");
    assert!(read.to_string().contains("position 3"), "{read}");
    assert_eq!(store.read_from(1, 2).unwrap().len(), 2);
    assert!(store.idempotency_key_position("k3").is_err());
}

#[tokio::test]
async fn a_damaged_last_chunk_opens_a_store_that_refuses_appends_and_names_it() {
    let dir = five_events().await;
    damage_chunk(dir.path(), 5);
    let store = EventStore::open(dir.path(), StoreConfig::default()).unwrap();
    let failure = store.verify().unwrap_err();
    assert_eq!(failure.position, 5);
    assert!(
        matches!(failure.reason, VerifyReason::Undecodable(_)),
        "{failure}"
    );
    let refused = store
        .append(&stream("seminar:t"), ExpectedVersion::Any, vec![seminar(6)])
        .await
        .unwrap_err();
    assert!(
        matches!(refused, AppendError::Store(StoreError::Poisoned { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_idempotency_entry_shared_by_two_keys_never_answers_with_the_other_keys_event() {
    let dir = five_events().await;
    // Forge the collision SHA-256 makes impossible in practice: key "k9" filed under the
    // entry of "k2", pointing to the event at position 2, which used "k2".
    {
        let db = sled_of(dir.path());
        let entry = db
            .get(kpi_store::raw::idempotency_index_key("k2"))
            .unwrap()
            .unwrap();
        assert_eq!(entry.as_ref(), 2u64.to_be_bytes());
        db.insert(kpi_store::raw::idempotency_index_key("k9"), entry)
            .unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path());
    assert_eq!(store.idempotency_key_position("k2").unwrap(), Some(2));
    assert_eq!(store.idempotency_key_position("k9").unwrap(), None);
    // The same content as position 2 under "k9": not a retry of position 2, and not
    // written either (it would take the entry of "k2" over).
    let refused = store
        .append(
            &stream("seminar:t"),
            ExpectedVersion::Any,
            vec![seminar(2).with_idempotency_key("k9")],
        )
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("another idempotency key"),
        "{refused}"
    );
    assert_eq!(store.head().position, 5);
    // A real retry of "k2" is still answered with its original.
    let retry = store
        .append_or_recall(
            &stream("seminar:t"),
            ExpectedVersion::Any,
            vec![seminar(2).with_idempotency_key("k2")],
        )
        .await
        .unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.envelopes[0].position, 2);
    assert!(store.verify().is_ok());
}

/// An empty store of format 1, as an earlier build made it: the marker file and the format
/// key, nothing else.
fn empty_format_1_store(dir: &std::path::Path) {
    std::fs::write(
        dir.join(MARKER_FILE),
        "# A kpi-ledger event store. The log itself is in log/ (sled).\nformat = 1\n",
    )
    .unwrap();
    let db = sled_of(dir);
    db.insert(b"m:format", &1u32.to_be_bytes()[..]).unwrap();
    db.flush().unwrap();
}

#[tokio::test]
async fn a_format_1_store_reads_retries_and_appends_in_format_1() {
    assert_eq!(FORMAT_VERSION, 2);
    let dir = tempfile::tempdir().unwrap();
    empty_format_1_store(dir.path());
    let store = open(dir.path());
    let batch: Vec<_> = (1..=70)
        .map(|n| seminar(n).with_idempotency_key(format!("import:{n}")))
        .collect();
    store
        .append(&stream("seminar:old"), ExpectedVersion::Any, batch)
        .await
        .unwrap();
    let digest = store.verify().unwrap();
    store.close().await;

    // Written as format 1: plain chunks (a record length, then the record), keys as text.
    {
        let chunks = chunk_values(dir.path());
        assert_eq!(chunks.len(), 2);
        for (_, value) in &chunks {
            assert_ne!(value[..4], ZSTD_MAGIC);
            let length = u32::from_be_bytes(value[..4].try_into().unwrap()) as usize;
            assert!(length > 64 && length + 4 < value.len());
        }
        let db = sled_of(dir.path());
        let entry = db.get(b"iimport:7").unwrap().expect("a text key");
        assert_eq!(entry.as_ref(), 7u64.to_be_bytes());
        assert!(db
            .get(kpi_store::raw::idempotency_index_key("import:7"))
            .unwrap()
            .is_none());
    }

    let store = open(dir.path());
    assert_eq!(store.verify().unwrap(), digest);
    let events = store.read_from(1, 100).unwrap();
    assert_eq!(events.len(), 70);
    assert_eq!(events[66].payload["attendees"], 67);
    assert_eq!(
        store.get(events[66].event_id).unwrap().as_ref(),
        Some(&events[66])
    );
    assert_eq!(
        store.idempotency_key_position("import:67").unwrap(),
        Some(67)
    );
    let retry = store
        .append_or_recall(
            &stream("seminar:old"),
            ExpectedVersion::Any,
            vec![seminar(67).with_idempotency_key("import:67")],
        )
        .await
        .unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.envelopes[0], events[66]);
    let appended = store
        .append(
            &stream("seminar:old"),
            ExpectedVersion::Exact(70),
            vec![seminar(71).with_idempotency_key("import:71")],
        )
        .await
        .unwrap();
    assert_eq!(appended[0].position, 71);
    assert_eq!(
        store.idempotency_key_position("import:71").unwrap(),
        Some(71)
    );
    let head = store.verify().unwrap();
    assert_eq!(head.position, 71);
    store.close().await;

    // Still format 1, and reopened it keeps working.
    let marker = std::fs::read_to_string(dir.path().join(MARKER_FILE)).unwrap();
    assert!(marker.contains("format = 1"), "{marker}");
    assert!(!chunk_values(dir.path())
        .iter()
        .any(|(_, value)| value[..4] == ZSTD_MAGIC));
    let store = open(dir.path());
    assert_eq!(store.verify().unwrap(), head);
    assert_eq!(store.read_from(71, 1).unwrap(), appended);
}

fn archive_bytes(store: &EventStore) -> Vec<u8> {
    store
        .export_archive()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .concat()
}

#[tokio::test]
async fn a_format_1_log_restored_into_format_2_exports_the_same_bytes() {
    let old = tempfile::tempdir().unwrap();
    empty_format_1_store(old.path());
    let store = open(old.path());
    for n in 0..100 {
        store
            .append(
                &stream(&format!("seminar:{}", n % 3)),
                ExpectedVersion::Any,
                vec![seminar(n).with_idempotency_key(format!("k{n}"))],
            )
            .await
            .unwrap();
    }
    let digest = store.verify().unwrap();
    let archive = archive_bytes(&store);
    let envelopes = store.read_from(1, usize::MAX).unwrap();

    let new = tempfile::tempdir().unwrap();
    let dir = new.path().join("restored");
    let restored = EventStore::restore(&dir, StoreConfig::default(), &envelopes).unwrap();
    let marker = std::fs::read_to_string(dir.join(MARKER_FILE)).unwrap();
    assert!(marker.contains("format = 2"), "{marker}");
    assert_eq!(restored.verify().unwrap(), digest);
    assert_eq!(archive_bytes(&restored), archive);
    assert_eq!(restored.idempotency_key_position("k42").unwrap(), Some(43));
}

#[tokio::test]
async fn a_marker_that_disagrees_with_the_logs_format_key_is_refused() {
    let dir = five_events().await;
    let marker = dir.path().join(MARKER_FILE);
    let text = std::fs::read_to_string(&marker).unwrap();
    std::fs::write(&marker, text.replace("format = 2", "format = 1")).unwrap();
    let err = EventStore::open(dir.path(), StoreConfig::default())
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("format 2"), "{err}");
}
