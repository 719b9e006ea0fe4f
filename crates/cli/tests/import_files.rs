//! `kpi-ledger import` of CSV and JSON-lines files through the real binary: a file with bad
//! rows writes nothing and names each bad row; --dry-run writes nothing; --skip-invalid
//! appends the good rows; importing again appends nothing.

mod support;

use std::path::Path;

use support::{kpi_ledger, text};

/// The number of events in the store (0 when it was never created).
fn head(data: &str) -> u64 {
    if !Path::new(data).exists() {
        return 0;
    }
    let output = kpi_ledger(&["log", "--data", data]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout).lines().count() as u64
}

const MIXED: &str = "\
title,organiser,first_date,sessions,participants.unique,participants.attendances,capacity,status
WEB活用促進セミナー第1弾,DX・テレワーク推進センター,2024/4/30,1,41,41,40,held
WEB活用促進セミナー第2弾,DX・テレワーク推進センター,2024-05-30,1,33,33,40,held
存在しない日,DX・テレワーク推進センター,2024/4/31,1,10,10,,held
Web活用・戦略実行スクール,DX・テレワーク推進センター,2024/11/29,5,6,30,6,held
人数なし,DX・テレワーク推進センター,2024/6/28,1,,14,16,maybe
";

#[test]
fn a_csv_with_bad_rows_writes_nothing_and_names_each_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("seminar.csv");
    std::fs::write(&file, MIXED).unwrap();
    let file = file.to_str().unwrap();
    let data = dir.path().join("ledger");
    let data = data.to_str().unwrap();

    let refused = kpi_ledger(&["import", file, "--data", data]);
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("seminar.csv: line 4: first_date: "),
        "{stderr}"
    );
    assert!(stderr.contains("seminar.csv: line 6: "), "{stderr}");
    assert!(
        stderr.contains("2 invalid rows: nothing written"),
        "{stderr}"
    );
    assert_eq!(head(data), 0, "nothing was written");

    let dry = kpi_ledger(&["import", file, "--data", data, "--dry-run"]);
    let listed: Vec<serde_json::Value> = text(&dry.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let lines: Vec<u64> = listed.iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [2, 3, 5]);
    assert_eq!(listed[0]["payload"]["first_date"], "2024-04-30");
    assert_eq!(head(data), 0, "a dry run writes nothing");

    let skipped = kpi_ledger(&["import", file, "--data", data, "--skip-invalid"]);
    assert!(skipped.status.success(), "{}", text(&skipped.stderr));
    assert!(
        text(&skipped.stdout).contains("3 appended, 0 already recorded, 2 invalid skipped"),
        "{}",
        text(&skipped.stdout)
    );
    assert_eq!(head(data), 3);

    let again = kpi_ledger(&["import", file, "--data", data, "--skip-invalid"]);
    assert!(
        text(&again.stdout).contains("0 appended, 3 already recorded"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(head(data), 3, "re-importing appends nothing");
}

#[test]
fn json_lines_import_and_reimport() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("activities.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"type":"publication","payload":{"channel":"website","fiscal_year":"R6","count":12}}"#,
            "\n",
            r#"{"type":"consultation","payload":{"provider":"DX・テレワーク推進センター","persons":208,"period":{"from":"2024-04-01","to":"2025-03-31"}}}"#,
            "\n"
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let data = dir.path().join("ledger");
    let data = data.to_str().unwrap();
    let first = kpi_ledger(&["import", file, "--data", data]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("2 appended"),
        "{}",
        text(&first.stdout)
    );
    let second = kpi_ledger(&["import", file, "--data", data]);
    assert!(text(&second.stdout).contains("0 appended, 2 already recorded"));
    assert_eq!(head(data), 2);
}

#[test]
fn a_csv_whose_kind_cannot_be_told_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.csv");
    std::fs::write(&file, MIXED).unwrap();
    let output = kpi_ledger(&["import", file.to_str().unwrap(), "--dry-run"]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("give --kind"),
        "{}",
        text(&output.stderr)
    );
    let output = kpi_ledger(&[
        "import",
        file.to_str().unwrap(),
        "--dry-run",
        "--kind",
        "seminar",
    ]);
    assert!(
        text(&output.stderr).contains("3 valid, 2 invalid"),
        "{}",
        text(&output.stderr)
    );
}

/// The ledger's own rules are part of the judgement before anything is written: an
/// implausible count, a held activity in the future, a survey response in another year than
/// its wave (defined in the same file), a year outside every plan in force. A refused file
/// creates no store; `--outside-plans` lets the years no plan covers in.
#[test]
fn rows_the_ledger_would_refuse_are_named_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("activities.jsonl");
    let lines = [
        r#"{"type":"seminar","payload":{"title":"A","organiser":"DX","first_date":"2024-06-01","sessions":1,"participants":{"unique":1000000000,"attendances":1000000000},"status":"held"}}"#,
        r#"{"type":"seminar","payload":{"title":"B","organiser":"DX","first_date":"2035-06-01","sessions":1,"participants":{"unique":5,"attendances":5},"status":"held"}}"#,
        r#"{"type":"survey_wave","payload":{"wave_id":"w","title":"調査","fiscal_year":"R5","firms_asked":10}}"#,
        r#"{"type":"survey_response","payload":{"wave_id":"w","firm_id":"f","fiscal_year":"R6","practises_telework":true,"job_openings":0}}"#,
        r#"{"type":"seminar","payload":{"title":"C","organiser":"DX","first_date":"2019-06-01","sessions":1,"participants":{"unique":5,"attendances":5},"status":"held"}}"#,
        r#"{"type":"seminar","payload":{"title":"D","organiser":"DX","first_date":"2024-06-01","sessions":1,"participants":{"unique":5,"attendances":5},"status":"held"}}"#,
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let file = file.to_str().unwrap();
    let data = dir.path().join("ledger");
    let data = data.to_str().unwrap();

    let refused = kpi_ledger(&["import", file, "--data", data]);
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    for expected in [
        "activities.jsonl: line 1: participants.unique: 1000000000 is above the plausible maximum 100000 for a seminar",
        "activities.jsonl: line 2: first_date: 2035-06-01 is after today",
        "activities.jsonl: line 4: fiscal_year: R6 differs from R5, the fiscal year of survey wave `w`",
        "activities.jsonl: line 5: first_date: R1 is outside every plan in force: telework-roadmap R3-R7",
        "4 invalid rows: nothing written",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
    assert!(
        !Path::new(data).exists(),
        "a refused import creates no store"
    );

    let dry = kpi_ledger(&[
        "import",
        file,
        "--data",
        data,
        "--dry-run",
        "--outside-plans",
    ]);
    assert!(
        text(&dry.stderr).contains("3 valid, 3 invalid; nothing written"),
        "{}",
        text(&dry.stderr)
    );
    assert!(!Path::new(data).exists(), "a dry run creates no store");

    let skipped = kpi_ledger(&[
        "import",
        file,
        "--data",
        data,
        "--skip-invalid",
        "--outside-plans",
    ]);
    assert!(skipped.status.success(), "{}", text(&skipped.stderr));
    assert!(
        text(&skipped.stdout).contains("3 appended, 0 already recorded, 3 invalid skipped"),
        "{}",
        text(&skipped.stdout)
    );
    assert_eq!(head(data), 3);
}
