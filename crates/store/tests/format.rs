//! The on-disk contract: what the store refuses to open, and that verify finds tampering.

mod common;

use common::{open, seminar, snapshot, stream};
use kpi_store::{
    EventStore, ExpectedVersion, StoreConfig, StoreError, VerifyReason, MARKER_FILE, SLED_DIR,
};

#[test]
fn a_directory_with_other_files_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a ledger").unwrap();
    std::fs::create_dir(dir.path().join("photos")).unwrap();
    let before = snapshot(dir.path());

    let err = EventStore::open(dir.path(), StoreConfig::default())
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("is not a kpi-ledger store"), "{message}");
    assert!(message.contains("notes.txt"), "{message}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_plain_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ledger");
    std::fs::write(&file, "x").unwrap();
    let err = EventStore::open(&file, StoreConfig::default())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn a_bare_sled_database_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    sled::open(dir.path()).unwrap().flush().unwrap();
    let before = snapshot(dir.path());
    let err = EventStore::open(dir.path(), StoreConfig::default())
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert_eq!(snapshot(dir.path()), before);
}

#[tokio::test]
async fn a_store_of_a_newer_format_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .append(&stream("s"), ExpectedVersion::Any, vec![seminar(1)])
        .await
        .unwrap();
    store.close().await;
    let marker = dir.path().join(MARKER_FILE);
    let text = std::fs::read_to_string(&marker).unwrap();
    assert!(text.contains("format = 2"), "{text}");
    std::fs::write(&marker, text.replace("format = 2", "format = 3")).unwrap();
    let before = snapshot(dir.path());

    let err = EventStore::open(dir.path(), StoreConfig::default())
        .err()
        .expect("refused");
    match &err {
        StoreError::UnsupportedFormat {
            found, supported, ..
        } => assert_eq!((*found, *supported), (3, 2)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("newer kpi-ledger"), "{err}");
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_missing_or_empty_directory_becomes_a_store() {
    let parent = tempfile::tempdir().unwrap();
    let fresh = parent.path().join("data/ledger");
    drop(open(&fresh));
    assert!(fresh.join(MARKER_FILE).is_file());
    assert!(fresh.join(SLED_DIR).is_dir());
    let empty = tempfile::tempdir().unwrap();
    drop(open(empty.path()));
    // Reopening what was created works and finds it empty.
    assert_eq!(open(empty.path()).head().position, 0);
}

/// Appends five events, closes the store and hands back the directory.
async fn store_with_five_events() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for attendees in 21..=25 {
        store
            .append(
                &stream("seminar:t"),
                ExpectedVersion::Any,
                vec![seminar(attendees)],
            )
            .await
            .unwrap();
    }
    assert_eq!(store.verify().unwrap().position, 5);
    store.close().await;
    dir
}

/// Rewrites the record at `position` through sled itself, as an attacker with file access
/// and the sled library could. Every append of `store_with_five_events` was its own group,
/// so position N is alone in the chunk keyed N, behind its 4-byte length.
fn rewrite_record(dir: &std::path::Path, position: u64, change: impl FnOnce(&mut Vec<u8>)) {
    let db = sled::open(dir.join(SLED_DIR)).unwrap();
    let key = kpi_store::raw::event_key(position);
    let chunk = kpi_store::raw::chunk_records(&db.get(key).unwrap().unwrap());
    let mut record = chunk[4..].to_vec();
    assert_eq!(
        u32::from_be_bytes(chunk[..4].try_into().unwrap()) as usize,
        record.len()
    );
    change(&mut record);
    let mut changed = (record.len() as u32).to_be_bytes().to_vec();
    changed.extend_from_slice(&record);
    db.insert(key, kpi_store::raw::chunk_value(changed))
        .unwrap();
    db.flush().unwrap();
}

#[tokio::test]
async fn changing_one_payload_byte_makes_verify_name_that_position() {
    let dir = store_with_five_events().await;
    rewrite_record(dir.path(), 3, |record| {
        let at = record
            .windows(14)
            .position(|w| w == b"\"attendees\":23")
            .expect("payload JSON is stored as text");
        record[at + 13] = b'9';
    });
    let store = open(dir.path());
    let failure = store.verify().unwrap_err();
    assert_eq!(failure.position, 3);
    assert!(
        matches!(failure.reason, VerifyReason::HashMismatch { .. }),
        "{failure:?}"
    );
    assert!(failure.to_string().contains("position 3"), "{failure}");
    // The changed event still reads (it is valid JSON), which is why verify exists.
    assert_eq!(store.read_from(3, 1).unwrap()[0].payload["attendees"], 29);
}

#[tokio::test]
async fn a_deleted_event_is_reported_missing() {
    let dir = store_with_five_events().await;
    {
        let db = sled::open(dir.path().join(SLED_DIR)).unwrap();
        db.remove(kpi_store::raw::event_key(2)).unwrap();
        db.flush().unwrap();
    }
    let failure = open(dir.path()).verify().unwrap_err();
    assert_eq!(failure.position, 2);
    assert_eq!(failure.reason, VerifyReason::Missing);
}

#[tokio::test]
async fn a_rehashed_forgery_still_breaks_the_next_link() {
    // Recomputing the forged event's own hash is not enough: the next event's prev_hash
    // names the original hash.
    let dir = store_with_five_events().await;
    rewrite_record(dir.path(), 2, |record| {
        let at = record
            .windows(14)
            .position(|w| w == b"\"attendees\":22")
            .unwrap();
        record[at + 13] = b'8';
        let body = record[64..].to_vec();
        let prev: [u8; 32] = record[..32].try_into().unwrap();
        let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
        sha2::Digest::update(&mut hasher, prev);
        sha2::Digest::update(&mut hasher, 2u64.to_be_bytes());
        sha2::Digest::update(&mut hasher, &body);
        let hash: [u8; 32] = sha2::Digest::finalize(hasher).into();
        record[32..64].copy_from_slice(&hash);
    });
    let failure = open(dir.path()).verify().unwrap_err();
    assert_eq!(failure.position, 3);
    assert!(
        matches!(failure.reason, VerifyReason::PrevHashMismatch { .. }),
        "{failure:?}"
    );
}

#[tokio::test]
async fn a_store_whose_head_outruns_its_log_refuses_appends_and_verify_names_the_gap() {
    let dir = store_with_five_events().await;
    {
        let db = sled::open(dir.path().join(SLED_DIR)).unwrap();
        db.remove(kpi_store::raw::event_key(5)).unwrap();
        db.flush().unwrap();
    }
    let store = open(dir.path());
    let failure = store.verify().unwrap_err();
    assert_eq!(failure.position, 5);
    assert_eq!(failure.reason, VerifyReason::Missing);
    let err = store
        .append(&stream("seminar:t"), ExpectedVersion::Any, vec![seminar(1)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            kpi_store::AppendError::Store(StoreError::Poisoned { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("position 5"), "{err}");
    // What is there still reads; reading into the hole is an error, not a short answer.
    assert_eq!(store.read_from(1, 4).unwrap().len(), 4);
    let err = store.read_from(1, 10).unwrap_err();
    assert!(err.to_string().contains("position 5"), "{err}");
}

#[test]
fn a_store_open_elsewhere_is_refused_as_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let started = std::time::Instant::now();
    let err = EventStore::open(dir.path(), StoreConfig::default())
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("is in use"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    drop(first);
}

/// Changes the attendee count of the event at `position` in `store_with_five_events`
/// (attendees 20 + position) without fixing its hash.
fn tamper(dir: &std::path::Path, position: u64) {
    let text = format!("\"attendees\":{}", 20 + position);
    rewrite_record(dir, position, |record| {
        let at = record
            .windows(text.len())
            .position(|w| w == text.as_bytes())
            .expect("payload JSON is stored as text");
        record[at + text.len() - 1] ^= 0x01;
    });
}

/// Start-up checks only what came after its checkpoint: the walk from an anchor reads the
/// later events and their link back to the anchor's hash, not the events before it.
#[tokio::test]
async fn a_walk_from_an_anchor_checks_the_events_after_it_and_the_anchor_hash() {
    let dir = store_with_five_events().await;
    let hashes: Vec<kpi_store::Hash> = {
        let store = open(dir.path());
        store
            .read_from(1, 5)
            .unwrap()
            .iter()
            .map(|e| e.hash)
            .collect()
    };
    tamper(dir.path(), 2);
    let store = open(dir.path());
    // Damage before the anchor is not this walk's business; the whole walk finds it.
    assert_eq!(store.verify_after(3, hashes[2]).unwrap().position, 5);
    assert_eq!(store.verify_after(5, hashes[4]).unwrap().position, 5);
    let failure = store.verify_after(1, hashes[0]).unwrap_err();
    assert_eq!(failure.position, 2);
    assert!(matches!(failure.reason, VerifyReason::HashMismatch { .. }));
    let failure = store
        .verify_after(0, kpi_store::Hash::genesis())
        .unwrap_err();
    assert_eq!(failure.position, 2);
    // An anchor whose hash the log does not hold is named.
    let failure = store.verify_after(3, hashes[3]).unwrap_err();
    assert_eq!(failure.position, 3);
    assert!(
        matches!(failure.reason, VerifyReason::UnexpectedHash { .. }),
        "{failure:?}"
    );
    assert!(failure.to_string().contains("checkpoint"), "{failure}");
    // An anchor beyond the head is missing from the log.
    let failure = store.verify_after(6, hashes[4]).unwrap_err();
    assert_eq!(
        (failure.position, failure.reason),
        (6, VerifyReason::Missing)
    );
    drop(store);

    tamper(dir.path(), 4);
    let failure = open(dir.path()).verify_after(3, hashes[2]).unwrap_err();
    assert_eq!(failure.position, 4);
    assert!(matches!(failure.reason, VerifyReason::HashMismatch { .. }));
}

/// A walk asks before each chunk whether to go on, and stops without an answer when told.
#[tokio::test]
async fn a_walk_stops_when_told_and_answers_nothing() {
    let dir = store_with_five_events().await;
    let store = open(dir.path());
    let head = store.head();
    let mut asked = Vec::new();
    let stopped = store.verify_to(head, |position| {
        asked.push(position);
        position < 3
    });
    assert!(stopped.is_none());
    // Each append of the fixture is its own chunk: asked at 1, 2 and 3, stopped at 3.
    assert_eq!(asked, [1, 2, 3]);
    let mut asked = 0;
    let walked = store.verify_to(head, |_| {
        asked += 1;
        true
    });
    assert_eq!(walked, Some(Ok(head)));
    assert_eq!(asked, 5);
}

/// sled drops whatever follows a damaged part of its file when it reopens it, and its own
/// head goes with it: the head written at the last close is what tells. A log that opens
/// shorter, or with another event at that position, refuses appends and fails verify.
#[tokio::test]
async fn a_log_shorter_than_at_its_last_close_is_refused() {
    let dir = store_with_five_events().await;
    let closed = dir.path().join(kpi_store::CLOSED_HEAD_FILE);
    let text = std::fs::read_to_string(&closed).expect("written at close");
    assert!(text.contains("position = 5"), "{text}");
    let store = open(dir.path());
    assert_eq!(store.verify().unwrap().position, 5);
    drop(store);

    // As if sled had recovered only the first five of seven events.
    std::fs::write(&closed, text.replace("position = 5", "position = 7")).unwrap();
    let store = open(dir.path());
    let failure = store.verify().unwrap_err();
    assert_eq!(failure.position, 6);
    assert_eq!(failure.reason, VerifyReason::Truncated { closed_at: 7 });
    assert!(failure.to_string().contains("held 7 events"), "{failure}");
    let refused = store
        .append(&stream("seminar:t"), ExpectedVersion::Any, vec![seminar(1)])
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("position 6"), "{refused}");
    // Closing it keeps the evidence.
    store.close().await;
    assert!(std::fs::read_to_string(&closed)
        .unwrap()
        .contains("position = 7"));

    // Another event at the position it was closed at.
    let other = kpi_store::Hash::genesis().to_hex();
    let replaced = text
        .lines()
        .map(|line| match line.starts_with("hash") {
            true => format!("hash = \"{other}\""),
            false => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&closed, replaced).unwrap();
    let failure = open(dir.path()).verify().unwrap_err();
    assert_eq!(failure.position, 5);
    assert!(
        matches!(failure.reason, VerifyReason::UnexpectedHash { .. }),
        "{failure:?}"
    );
}

/// `store.compression` is chosen when a store is made: sled cannot change it, so a store
/// reopened under the other setting keeps its own and reads and appends as before.
#[tokio::test]
async fn a_store_keeps_the_compression_it_was_made_with() {
    for made_with in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let config = |compression| StoreConfig {
            compression,
            ..StoreConfig::default()
        };
        let store = EventStore::open(dir.path(), config(made_with)).unwrap();
        store
            .append(&stream("s"), ExpectedVersion::Any, vec![seminar(1)])
            .await
            .unwrap();
        let head = store.head();
        store.close().await;
        let conf = std::fs::read(dir.path().join(SLED_DIR).join("conf")).unwrap();
        assert!(
            String::from_utf8_lossy(&conf).contains(&format!("use_compression: {made_with}")),
            "sled's own record of the setting"
        );

        let store = EventStore::open(dir.path(), config(!made_with))
            .unwrap_or_else(|error| panic!("made with {made_with}, reopened: {error}"));
        assert_eq!(store.head(), head);
        store
            .append(&stream("s"), ExpectedVersion::Any, vec![seminar(2)])
            .await
            .unwrap();
        assert_eq!(store.read_from(0, 10).unwrap().len(), 2);
        store.verify().unwrap();
        store.close().await;
    }
}
