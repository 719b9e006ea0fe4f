//! The archive format: what `export_archive` writes (events, then a trailer) reads back
//! through `ArchiveReader` into a store with the same digest, and an archive that is not
//! whole (cut, trailer missing or not matching) is refused before anything is written.

mod common;

use std::io::Cursor;

use common::{seminar, stream, TestLog};
use kpi_store::{
    check_archive, ArchiveReader, EventStore, ExpectedVersion, Head, RestoreError, Trailer,
};
use sha2::{Digest as _, Sha256};

/// A store of `count` events over two streams, in several groups.
async fn filled(log: &TestLog, count: u32) -> EventStore {
    let store = log.open();
    for i in 0..count {
        store
            .append(
                &stream(&format!("seminar:2024/{}", i % 2)),
                ExpectedVersion::Any,
                vec![seminar(i)],
            )
            .await
            .unwrap();
    }
    store
}

fn exported(store: &EventStore) -> (Head, Vec<u8>) {
    let pieces = store.export_archive();
    let head = pieces.head();
    let bytes = pieces.collect::<Result<Vec<_>, _>>().unwrap().concat();
    (head, bytes)
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn trailer(line: &str) -> Trailer {
    #[derive(serde::Deserialize)]
    struct Line {
        trailer: Trailer,
    }
    serde_json::from_str::<Line>(line).unwrap().trailer
}

/// What an archive of these lines is judged to be: the head, or the reader's fault.
fn judged(lines: &[String]) -> Result<Head, String> {
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    check_archive(ArchiveReader::new(Cursor::new(text))).map_err(|error| match error {
        RestoreError::Unreadable { source, .. } => source.to_string(),
        other => format!("not a reader fault: {other}"),
    })
}

on_both_backends! {
#[tokio::test]
async fn an_export_ends_with_a_trailer_and_restores_to_the_same_digest(log) {
    // Several 64 KiB pieces, so piece boundaries are crossed.
    let store = filled(&log, 400).await;
    let digest = store.verify().unwrap();
    let (head, bytes) = exported(&store);
    assert_eq!(head, digest);

    let lines = lines(&bytes);
    assert_eq!(lines.len(), 401, "400 events and the trailer");
    let logged: Vec<String> = store
        .iter_from(1)
        .map(|envelope| serde_json::to_string(&envelope.unwrap()).unwrap())
        .collect();
    assert_eq!(lines[..400], logged[..], "the events as `log` prints them");
    let trailer = trailer(&lines[400]);
    assert_eq!(trailer.format, kpi_store::ARCHIVE_FORMAT);
    assert_eq!(trailer.events, 400);
    assert_eq!(trailer.head, digest);
    let body_len = bytes.len() - lines[400].len() - 1;
    let sha256: [u8; 32] = Sha256::digest(&bytes[..body_len]).into();
    assert_eq!(trailer.sha256.as_bytes(), &sha256);

    let target = log.another();
    let restored = EventStore::restore_from(
        &target.path().join("restored"),
        target.config(),
        || ArchiveReader::new(Cursor::new(bytes.clone())),
    )
    .unwrap();
    assert_eq!(restored.verify().unwrap(), digest);
}
}

on_both_backends! {
#[tokio::test]
async fn an_export_stops_at_the_head_it_started_at_while_appends_continue(log) {
    let store = filled(&log, 300).await;
    let mut pieces = store.export_archive();
    let started = pieces.head();
    let first = pieces.next().unwrap().unwrap();
    // Appends are not held up by an export in progress.
    for i in 0..20 {
        store
            .append(
                &stream("seminar:late"),
                ExpectedVersion::Any,
                vec![seminar(i)],
            )
            .await
            .unwrap();
    }
    assert_eq!(store.head().position, 320);
    let rest = pieces.collect::<Result<Vec<_>, _>>().unwrap().concat();
    let lines = lines(&[first, rest].concat());
    assert_eq!(lines.len(), 301);
    assert_eq!(trailer(&lines[300]).head, started);
    assert_eq!(judged(&lines), Ok(started));
}
}

on_both_backends! {
#[tokio::test]
async fn an_archive_that_is_not_whole_is_refused_naming_why(log) {
    let store = filled(&log, 30).await;
    let (head, bytes) = exported(&store);
    let whole = lines(&bytes);
    assert_eq!(judged(&whole), Ok(head));

    // The last line dropped: the trailer is gone.
    let cut = &whole[..30];
    let refused = judged(cut).unwrap_err();
    assert!(
        refused.contains("the archive ends early: no trailer after 30 events"),
        "{refused}"
    );
    // ... which an archive from before trailers may be, when the caller says so.
    let taken =
        check_archive(ArchiveReader::new(Cursor::new(cut.join("\n") + "\n")).trailer_optional());
    assert_eq!(taken.unwrap(), head);

    // The last event dropped, the trailer kept.
    let mut short = whole.clone();
    short.remove(29);
    assert_eq!(
        judged(&short).unwrap_err(),
        "line 30: the archive ends early: 29 of 30 events"
    );

    // A trailer that does not match: count, head hash, SHA-256, format.
    let edit = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut lines = whole.clone();
        let mut value: serde_json::Value = serde_json::from_str(&lines[30]).unwrap();
        change(&mut value["trailer"]);
        lines[30] = value.to_string();
        judged(&lines).unwrap_err()
    };
    assert_eq!(
        edit(&|t| t["events"] = 31.into()),
        "line 31: the archive ends early: 30 of 31 events"
    );
    assert_eq!(
        edit(&|t| t["events"] = 29.into()),
        "line 31: the archive holds 30 events but its trailer says 29"
    );
    let other_hash = "ab".repeat(32);
    let wrong_head = edit(&|t| t["head"]["hash"] = other_hash.clone().into());
    assert!(
        wrong_head.starts_with("line 31: the events end at position 30 hash ")
            && wrong_head.ends_with(&format!(
                "but the trailer says position 30 hash {other_hash}"
            )),
        "{wrong_head}"
    );
    let wrong_sha = edit(&|t| t["sha256"] = other_hash.clone().into());
    assert!(
        wrong_sha.contains("the file was changed after it was exported"),
        "{wrong_sha}"
    );
    assert_eq!(
        edit(&|t| t["format"] = 2.into()),
        "line 31: archive format 2: this build reads format 1 only"
    );
    // A later format's trailer, whatever else it holds, is named as such.
    assert_eq!(
        edit(&|t| {
            t["format"] = 2.into();
            t["signature"] = "...".into();
        }),
        "line 31: archive format 2: this build reads format 1 only"
    );

    // Cut part-way through a line (a copy or download that stopped): in the trailer, and in
    // the last event.
    let text = whole.join("\n") + "\n";
    let cut_at = |bytes: usize| {
        check_archive(ArchiveReader::new(Cursor::new(text[..bytes].to_owned())))
            .unwrap_err()
            .to_string()
    };
    let trailer_starts = text.len() - whole[30].len() - 1;
    assert!(
        cut_at(trailer_starts + 20).ends_with(
            "line 31: the archive ends early: its last line is cut off part-way (no line \
             break), after 30 whole events"
        ),
        "{}",
        cut_at(trailer_starts + 20)
    );
    assert!(
        cut_at(trailer_starts - 10).ends_with(
            "line 30: the archive ends early: its last line is cut off part-way (no line \
             break), after 29 whole events"
        ),
        "{}",
        cut_at(trailer_starts - 10)
    );

    // Anything after the trailer.
    let mut longer = whole.clone();
    longer.push(whole[0].clone());
    assert_eq!(
        judged(&longer).unwrap_err(),
        "line 32: a line after the trailer: an archive ends with its trailer"
    );
}
}

on_both_backends! {
#[tokio::test]
async fn an_empty_log_exports_a_trailer_only_and_restores_empty(log) {
    let store = log.open();
    let (head, bytes) = exported(&store);
    assert_eq!(head, Head::empty());
    let lines = lines(&bytes);
    assert_eq!(lines.len(), 1);
    assert_eq!(trailer(&lines[0]).events, 0);
    assert_eq!(judged(&lines), Ok(Head::empty()));
    assert!(matches!(
        judged(&[]).unwrap_err(),
        message if message.contains("no trailer after 0 events")
    ));
}
}

/// The upgrade path between backends: an archive exported from sled, imported into
/// PostgreSQL, appended to there, exported again and imported back into sled keeps every
/// byte of every event, and so its digest, at each step.
#[tokio::test]
async fn an_archive_moved_between_backends_keeps_its_digest() {
    let Some(postgres) = TestLog::postgres() else {
        return;
    };
    let sled = TestLog::sled();
    let original = filled(&sled, 200).await;
    let digest = original.verify().unwrap();
    let (_, from_sled) = exported(&original);

    let archive = |bytes: &Vec<u8>| {
        let bytes = bytes.clone();
        move || ArchiveReader::new(Cursor::new(bytes.clone()))
    };
    let moved =
        EventStore::restore_from(postgres.path(), postgres.config(), archive(&from_sled)).unwrap();
    assert_eq!(moved.backend(), kpi_store::Backend::Postgres);
    assert_eq!(moved.verify().unwrap(), digest);
    assert_eq!(
        exported(&moved).1,
        from_sled,
        "the same archive, byte for byte"
    );
    // The chain goes on from the same head on PostgreSQL.
    let next = moved
        .append(
            &stream("seminar:2024/0"),
            ExpectedVersion::Exact(100),
            vec![seminar(7)],
        )
        .await
        .unwrap();
    assert_eq!(next[0].prev_hash, digest.hash);
    let digest = moved.verify().unwrap();
    assert_eq!(digest.position, 201);
    let (_, from_postgres) = exported(&moved);

    let back = sled.another();
    let restored = EventStore::restore_from(
        &back.path().join("back"),
        back.config(),
        archive(&from_postgres),
    )
    .unwrap();
    assert_eq!(restored.backend(), kpi_store::Backend::Sled);
    assert_eq!(restored.verify().unwrap(), digest);
    assert_eq!(exported(&restored).1, from_postgres);

    // A log that is not empty is never restored over.
    let error = EventStore::restore_from(postgres.path(), postgres.config(), archive(&from_sled))
        .err()
        .expect("refused");
    assert!(
        matches!(error, RestoreError::LogNotEmpty { head } if head == digest),
        "{error}"
    );
    assert!(error.to_string().contains("not empty"), "{error}");
    assert_eq!(moved.verify().unwrap(), digest);
}
