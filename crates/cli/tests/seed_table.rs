//! The seed test end to end: the Fuji seed file imported by the real binary into a fresh
//! sled store, projected, and printed. The expected table below is the city's published
//! KPI一覧, typed from the report (not derived from the code): every cell, including the
//! cells that show no figure and the bracketed b-series.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kpi-ledger");

/// Run from the workspace root so `config/default.toml` and the plan files resolve.
fn kpi_ledger(args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(BIN)
        .args(args)
        .current_dir(root)
        .env("RUST_LOG", "warn")
        .output()
        .expect("kpi-ledger runs");
    assert!(
        output.status.success(),
        "kpi-ledger {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: Output) -> String {
    String::from_utf8(output.stdout).expect("utf-8 output")
}

const PUBLISHED_TABLE: &str = "\
no,series,indicator,unit,target,R3,R4,R5,R6,R7,cumulative,achievement
1,,Telework rate among surveyed firms,percent,40.0,29.0,31.6,34.4,35.8,,,
2,,Seminar and consultation participants,persons,1000,260,340,397,568,,1565,156.5
3,,Short-hour and telework job openings,persons,200,,,19 firms,112,,112,56.0
4,,Skill-training participants,persons,1000,,104,91,176,,371,37.1
4,b,Skill-training participants including KPI 2 seminar attendees,persons,1000,226,345,369,528,,1468,146.8
5,,Coworking users,persons,10000,2608,8739,15071,16969,,,169.7
5,b,Of which work use,persons,,,,,8379,,,
6,,Exchange community participants,persons,800,,294,336,292,,922,115.3
7,,Workation participants,persons,300,,38,8,54,,100,33.3
8,,Firms moving in,firms,10,2,4,5,2,,13,130.0
9,,Migrant households,households,100,30,26,43,32,,131,131.0
9,b,Migrant persons,persons,200,62,42,79,68,,251,125.5
10,,Related population created,persons,300,,122,122,113,,357,119.0
11,,Partnerships and agreements,organisations,10,3,3,2,3,,11,110.0
12,,Publications,times,12,,14,12,12,,,100
";

#[test]
fn the_seed_imported_into_a_fresh_store_reproduces_the_published_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let data = data.to_str().unwrap();
    let seed = "config/seed/fuji-telework-r6.toml";

    let first = stdout(kpi_ledger(&["import", seed, "--data", data]));
    assert!(first.contains("0 already recorded"), "{first}");
    let second = stdout(kpi_ledger(&["import", seed, "--data", data]));
    assert!(
        second.contains(" 0 appended"),
        "a second import changes nothing: {second}"
    );

    let csv = stdout(kpi_ledger(&["table", "--data", data, "--format", "csv"]));
    for (line, (got, want)) in csv.lines().zip(PUBLISHED_TABLE.lines()).enumerate() {
        assert_eq!(got, want, "row {line} of the KPI table");
    }
    assert_eq!(csv.lines().count(), PUBLISHED_TABLE.lines().count());

    let verified = stdout(kpi_ledger(&["verify", "--data", data]));
    assert!(verified.starts_with("ok: position "), "{verified}");
    let logged = stdout(kpi_ledger(&["log", "--data", data]));
    let head: usize = verified["ok: position ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(logged.lines().count(), head, "log prints every event once");
}

#[test]
fn table_as_of_before_the_import_shows_no_figures() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let data = data.to_str().unwrap();
    kpi_ledger(&[
        "import",
        "config/seed/fuji-telework-r6.toml",
        "--data",
        data,
    ]);
    let csv = stdout(kpi_ledger(&[
        "table",
        "--data",
        data,
        "--format",
        "csv",
        "--as-of",
        "2020-01-01",
    ]));
    let kpi2 = csv.lines().find(|l| l.starts_with("2,,")).unwrap();
    assert_eq!(
        kpi2,
        "2,,Seminar and consultation participants,persons,1000,,,,,,,"
    );
}

#[test]
fn bad_arguments_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nothing-here");
    let output = Command::new(BIN)
        .args(["table", "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no store at"));
    assert!(!data.exists(), "reading commands never create a store");

    let output = Command::new(BIN)
        .args(["table", "--format", "xls"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("xls"));
}

#[test]
fn an_invalid_seed_file_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/seed/fuji-telework-r6.toml"),
    )
    .unwrap();
    // One bad figure anywhere in the file: the first seminar's attendance goes negative.
    let bad = good.replacen("unique = 41", "unique = -41", 1);
    assert_ne!(bad, good, "the seed file still has the 41-person seminar");
    let bad_file = dir.path().join("bad.toml");
    std::fs::write(&bad_file, bad).unwrap();

    let output = Command::new(BIN)
        .args([
            "import",
            bad_file.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unique"),
        "the error names the field: {stderr}"
    );
    assert!(!data.exists(), "nothing was written");
}

/// The fields of the machine CSV's row that starts with `prefix` (`"2,,"` is KPI 2's main row).
fn csv_row(csv: &str, prefix: &str) -> Vec<String> {
    csv.lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no row {prefix} in\n{csv}"))
        .split(',')
        .map(str::to_owned)
        .collect()
}

/// Columns of the machine CSV: no, series, indicator, unit, target, R3, R4, R5, R6, R7, ...
const R3: usize = 5;
const R6: usize = 8;
const R7: usize = 9;

/// The seed imported into a fresh store in a temporary directory.
fn seeded_store() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger").to_str().unwrap().to_owned();
    kpi_ledger(&[
        "import",
        "config/seed/fuji-telework-r6.toml",
        "--data",
        &data,
    ]);
    (dir, data)
}

/// `--through` is valid time: the activities that happened by a date, whenever they were
/// recorded. On the seed (recorded at import, long after R6) the table at the end of R5 has
/// no R6 figures and R3-R5 as published; the table at the end of R6 is the published one.
#[test]
fn table_through_the_end_of_a_fiscal_year_counts_the_activities_up_to_it() {
    let (_dir, data) = seeded_store();
    let table = |through: &str| {
        stdout(kpi_ledger(&[
            "table",
            "--data",
            &data,
            "--format",
            "csv",
            "--through",
            through,
        ]))
    };

    let end_of_r6 = table("2025-03-31");
    assert_eq!(end_of_r6, PUBLISHED_TABLE, "the table at the end of R6");
    assert_eq!(csv_row(&end_of_r6, "2,,")[R6], "568");

    let end_of_r5 = table("2024-03-31");
    for (got, published) in end_of_r5.lines().zip(PUBLISHED_TABLE.lines()).skip(1) {
        let got: Vec<&str> = got.split(',').collect();
        let published: Vec<&str> = published.split(',').collect();
        assert_eq!(got[..R6], published[..R6], "R3-R5 as published: {got:?}");
        assert_eq!(got[R6], "", "no R6 figure through 2024-03-31: {got:?}");
    }
    let kpi2 = csv_row(&end_of_r5, "2,,");
    assert_eq!(
        kpi2[R3..],
        ["260", "340", "397", "", "", "997", "99.7"],
        "the cumulative and achievement at the end of R5"
    );

    // The text form says which activities it counts; the current table says nothing.
    let text = stdout(kpi_ledger(&[
        "table",
        "--data",
        &data,
        "--through",
        "2025-03-31",
    ]));
    let caption = text.lines().nth(1).unwrap();
    assert!(
        caption.contains("2025-03-31までの活動") && caption.contains("through 2025-03-31"),
        "{text}"
    );
    let current = stdout(kpi_ledger(&["table", "--data", &data]));
    assert!(!current.contains("through"), "{current}");
}

/// A seminar recorded after the seed: one of R6 (2024-10-10) and one of R7 (2025-06-10).
/// `--through` leaves out what happened later, `--as-of` what was recorded later, and the
/// two combine.
#[test]
fn table_through_and_as_of_combine() {
    let (dir, data) = seeded_store();
    let seed_recorded = {
        let log = stdout(kpi_ledger(&["log", "--data", &data]));
        let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
        last["recorded_at"].as_str().unwrap().to_owned()
    };
    let seminars = dir.path().join("seminar.csv");
    std::fs::write(
        &seminars,
        "title,organiser,first_date,sessions,participants.unique,participants.attendances,status\n\
         後日登録のR6セミナー,DX・テレワーク推進センター,2024-10-10,1,10,10,held\n\
         R7のセミナー,DX・テレワーク推進センター,2025-06-10,1,7,7,held\n",
    )
    .unwrap();
    kpi_ledger(&["import", seminars.to_str().unwrap(), "--data", &data]);

    let kpi2 = |args: &[&str]| {
        let mut all = vec!["table", "--data", &data, "--format", "csv"];
        all.extend_from_slice(args);
        csv_row(&stdout(kpi_ledger(&all)), "2,,")
    };
    let now = kpi2(&[]);
    assert_eq!((now[R6].as_str(), now[R7].as_str()), ("578", "7"));
    let end_of_r6 = kpi2(&["--through", "2025-03-31"]);
    assert_eq!(
        (end_of_r6[R6].as_str(), end_of_r6[R7].as_str()),
        ("578", ""),
        "the R7 seminar happened after 2025-03-31"
    );
    let as_known = kpi2(&["--as-of", &seed_recorded]);
    assert_eq!(
        (as_known[R6].as_str(), as_known[R7].as_str()),
        ("568", ""),
        "neither seminar had been recorded when the seed was"
    );
    let both = kpi2(&["--as-of", &seed_recorded, "--through", "2024-03-31"]);
    assert_eq!(
        both[R3..R7 + 1],
        ["260", "340", "397", "", ""],
        "recorded by the seed's import, happened by the end of R5"
    );
}

#[test]
fn a_bad_through_date_is_refused_naming_the_argument() {
    let (_dir, data) = seeded_store();
    for bad in ["2025-02-30", "R6", "2025-03-31T00:00:00Z"] {
        let output = Command::new(BIN)
            .args(["table", "--data", &data, "--through", bad])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
            .output()
            .unwrap();
        assert!(!output.status.success(), "--through {bad} is refused");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("--through") && stderr.contains(&format!("`{bad}` is not a date")),
            "{stderr}"
        );
    }
}
