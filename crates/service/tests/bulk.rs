//! The bulk path of `kpi-ledger import` and the workbench: a file judged whole writes nothing
//! when a row is bad; a good one is appended all at once, read from its file twice (never
//! held whole); committing it again writes nothing twice; a survey response may answer a
//! wave defined further up the file, even chunks earlier.

mod common;

use kpi_store::StoreConfig;
use std::io::Write;
use std::sync::Arc;

use kpi_domain::event::EventKind;
use kpi_domain::PlanDefinition;
use kpi_service::{
    BulkError, BulkFormat, BulkOptions, BulkProgress, BulkStage, Ledger, BULK_CHUNK,
};

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const HEADER: &str =
    "title,organiser,first_date,sessions,participants.unique,participants.attendances,status\n";

async fn ledger(dir: &std::path::Path, store: StoreConfig) -> Ledger {
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    Ledger::open(dir, store, vec![plan]).await.unwrap()
}

/// A seminar CSV of `rows` distinct rows in R6, written to a file row by row.
fn seminar_file(dir: &std::path::Path, rows: usize, bad_at: Option<usize>) -> std::path::PathBuf {
    let path = dir.join("seminar.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    out.write_all(HEADER.as_bytes()).unwrap();
    for row in 0..rows {
        let (unique, attendances) = if Some(row) == bad_at { (9, 3) } else { (3, 3) };
        let day = 1 + row % 28;
        writeln!(
            out,
            "セミナー{row},産業支援課,2024/10/{day},1,{unique},{attendances},held"
        )
        .unwrap();
    }
    out.flush().unwrap();
    path
}

fn opener(path: std::path::PathBuf) -> impl Fn() -> std::io::Result<std::fs::File> + Send + Sync {
    move || std::fs::File::open(&path)
}

/// How many rows the large test imports: 20,000 by default (about 10 s in a debug build on
/// sled, about 20 s on PostgreSQL); `KPI_BULK_ROWS=200000` for the workbench's promise of
/// 200,000 (about 110 s in debug on sled, twice over the file; docs/benchmarks.md has the
/// figures).
fn large() -> usize {
    std::env::var("KPI_BULK_ROWS")
        .ok()
        .and_then(|rows| rows.parse().ok())
        .unwrap_or(20_000)
}

on_both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_one_bad_row_writes_nothing_and_names_it(log) {
    let dir = &log.dir;
    let ledger = ledger(&dir.path().join("data"), log.config()).await;
    let rows = 3 * BULK_CHUNK;
    let path = seminar_file(dir.path(), rows, Some(2 * BULK_CHUNK + 7));
    let progress = Arc::new(BulkProgress::default());
    let refused = ledger
        .import_bulk(
            BulkFormat::Csv(EventKind::Seminar),
            opener(path),
            "seminar.csv",
            "clerk",
            BulkOptions::default(),
            progress.clone(),
        )
        .await;
    let Err(BulkError::Refused(judgement)) = refused else {
        panic!("refused: {refused:?}");
    };
    assert_eq!(judgement.valid as usize, rows - 1);
    assert_eq!(judgement.bad.len(), 1);
    let bad = &judgement.bad[0];
    // Line 1 is the header: row n is on line n + 2.
    assert_eq!(bad.line as usize, 2 * BULK_CHUNK + 7 + 2);
    assert_eq!(bad.field.as_deref(), Some("participants.unique"));
    assert_eq!(ledger.head().position, 0, "nothing written");
    assert_eq!(progress.stage(), BulkStage::Done);
    ledger.close().await;
}
}

on_both_backends! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_may_answer_a_wave_defined_chunks_earlier(log) {
    let dir = &log.dir;
    let ledger = ledger(&dir.path().join("data"), log.config()).await;
    let path = dir.path().join("survey.jsonl");
    let mut out = std::fs::File::create(&path).unwrap();
    writeln!(out, r#"{{"type":"survey_wave","payload":{{"wave_id":"w1","title":"調査","fiscal_year":2024,"firms_asked":10}}}}"#).unwrap();
    for n in 0..(2 * BULK_CHUNK) {
        writeln!(out, r#"{{"type":"publication","payload":{{"channel":"website","fiscal_year":2024,"count":1,"title":"記事{n}"}}}}"#).unwrap();
    }
    // Judged against wave w1 of two chunks before: the first counts in its wave's year, the
    // second does not; w2 is no wave of the file or the ledger, so nothing to hold it to.
    writeln!(out, r#"{{"type":"survey_response","payload":{{"wave_id":"w1","firm_id":"f1","fiscal_year":2024,"practises_telework":true,"job_openings":0}}}}"#).unwrap();
    writeln!(out, r#"{{"type":"survey_response","payload":{{"wave_id":"w1","firm_id":"f2","fiscal_year":2025,"practises_telework":true,"job_openings":0}}}}"#).unwrap();
    writeln!(out, r#"{{"type":"survey_response","payload":{{"wave_id":"w2","firm_id":"f1","fiscal_year":2025,"practises_telework":true,"job_openings":0}}}}"#).unwrap();
    drop(out);
    let progress = Arc::new(BulkProgress::default());
    let judged = tokio::task::spawn_blocking({
        let (ledger, path, progress) = (ledger.clone(), path.clone(), progress.clone());
        move || {
            ledger.judge_bulk(
                BulkFormat::JsonLines,
                std::fs::File::open(path).unwrap(),
                "survey.jsonl",
                BulkOptions::default(),
                &progress,
                |_, _| {},
            )
        }
    })
    .await
    .unwrap()
    .unwrap();
    let lines: Vec<u64> = judged.bad.iter().map(|bad| bad.line).collect();
    assert_eq!(lines, [2 * BULK_CHUNK as u64 + 3], "{judged:?}");
    assert_eq!(judged.bad[0].field.as_deref(), Some("fiscal_year"));
    assert!(
        judged.bad[0].reason.contains("survey wave `w1`"),
        "{judged:?}"
    );
    assert_eq!(judged.valid as usize, 2 * BULK_CHUNK + 3);
    ledger.close().await;
}
}

on_both_backends! {
/// A large file (see [`large`]) judged and appended from a file, then the same file again: every row
/// recalled by its key, none written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_is_imported_whole_and_again_writes_nothing(log) {
    let dir = &log.dir;
    let ledger = ledger(&dir.path().join("data"), log.config()).await;
    let rows = large();
    let path = seminar_file(dir.path(), rows, None);
    let progress = Arc::new(BulkProgress::default());
    let started = std::time::Instant::now();
    let (judgement, report) = ledger
        .import_bulk(
            BulkFormat::Csv(EventKind::Seminar),
            opener(path.clone()),
            "seminar.csv",
            "clerk",
            BulkOptions::default(),
            progress.clone(),
        )
        .await
        .unwrap();
    eprintln!("{rows} rows imported in {:?}", started.elapsed());
    assert_eq!(judgement.valid as usize, rows);
    assert!(judgement.bad.is_empty());
    assert_eq!(report.appended, rows);
    assert_eq!(ledger.head().position as usize, rows);
    assert_eq!(
        progress.appended.load(std::sync::atomic::Ordering::Relaxed) as usize,
        rows
    );

    let again = ledger
        .import_bulk(
            BulkFormat::Csv(EventKind::Seminar),
            opener(path),
            "seminar.csv",
            "clerk",
            BulkOptions::default(),
            Arc::new(BulkProgress::default()),
        )
        .await
        .unwrap();
    assert_eq!(again.1.appended, 0);
    assert_eq!(again.1.already_recorded, rows);
    assert_eq!(ledger.head().position as usize, rows);
    ledger.close().await;
}
}
