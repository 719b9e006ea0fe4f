//! Whole files through the importer: good rows become events, every bad row is reported with
//! its line and field, and the keys do not depend on the spelling of a date.

use kpi_domain::LedgerEvent;
use kpi_import::{parse_csv, parse_json_lines, FileError};

const SEMINARS: &str = "\
title,organiser,first_date,sessions,participants.unique,participants.attendances,capacity,status,note
WEB活用促進セミナー第1弾,DX・テレワーク推進センター,2024/4/30,1,41,41,40,held,
WEB活用促進セミナー第2弾,DX・テレワーク推進センター,2024-05-30,1,33,33,40,held,定員40人
壊れた行,DX・テレワーク推進センター,2024/4/31,1,10,10,,held,
Web活用・戦略実行スクール,DX・テレワーク推進センター,2024/11/29,5,6,30,6,held,
人数なし,DX・テレワーク推進センター,2024/6/28,1,,14,16,held,
多すぎる,DX・テレワーク推進センター,2024/7/26,1,10,\"1,000\",16,held,
";

#[test]
fn a_mixed_csv_yields_the_good_rows_and_names_every_bad_one() {
    let parsed = parse_csv("seminar", SEMINARS, "seminar.csv").unwrap();
    let lines: Vec<u64> = parsed.rows.iter().map(|row| row.line).collect();
    assert_eq!(lines, [2, 3, 5]);
    let LedgerEvent::Seminar(first) = &parsed.rows[0].event else {
        panic!("a seminar: {:?}", parsed.rows[0].event);
    };
    assert_eq!(first.first_date.to_string(), "2024-04-30");
    assert_eq!(parsed.rows[0].provenance, "seminar.csv line 2");

    let errors: Vec<(u64, &str)> = parsed
        .errors
        .iter()
        .map(|error| (error.line, error.field.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            (4, "first_date"),
            (6, "participants.unique"),
            (7, "participants.attendances")
        ],
        "{:#?}",
        parsed.errors
    );
    for error in &parsed.errors {
        assert!(!error.reason.is_empty(), "{error}");
    }
    assert!(parsed.errors[0]
        .to_string()
        .starts_with("line 4: first_date: "));
}

#[test]
fn keys_follow_content_not_spelling_or_position() {
    let slash = "title,organiser,first_date,sessions,participants.unique,participants.attendances,status\nA,B,2024/4/30,1,5,5,held\n";
    let wareki = "title,organiser,first_date,sessions,participants.unique,participants.attendances,status\nA,B,令和6年4月30日,1,5,5,held\n";
    let dash = "title,organiser,first_date,sessions,participants.unique,participants.attendances,status\n\nA,B,2024-04-30,1,5,5,held\n";
    let other = "title,organiser,first_date,sessions,participants.unique,participants.attendances,status\nA,B,2024-04-30,1,6,6,held\n";
    let key = |text: &str| {
        parse_csv("seminar", text, "x.csv").unwrap().rows[0]
            .idempotency_key
            .clone()
    };
    assert_eq!(key(slash), key(dash));
    assert_eq!(key(slash), key(wareki), "a date in 和暦 is the same day");
    assert_ne!(key(slash), key(other));

    let jsonl = r#"{"type":"seminar","payload":{"title":"A","organiser":"B","first_date":"2024-04-30","sessions":1,"participants":{"unique":5,"attendances":5},"status":"held"}}"#;
    assert_eq!(
        parse_json_lines(jsonl, "x.jsonl").rows[0].idempotency_key,
        key(slash)
    );
}

/// A file read from a reader one row at a time gives what the whole text gives, byte-order
/// mark and all.
#[test]
fn rows_read_one_at_a_time_are_the_rows_of_the_whole_file() {
    let with_bom = format!("\u{feff}{SEMINARS}");
    let whole = parse_csv("seminar", &with_bom, "seminar.csv").unwrap();
    let kind = kpi_import::kind_named("seminar").unwrap();
    let streamed: Vec<_> = kpi_import::CsvRows::new(kind, with_bom.as_bytes(), "seminar.csv")
        .unwrap()
        .collect();
    assert_eq!(streamed.len(), whole.rows.len() + whole.errors.len());
    assert_eq!(
        streamed.iter().filter(|row| row.is_ok()).count(),
        whole.rows.len()
    );
    assert_eq!(streamed[0].as_ref().unwrap(), &whole.rows[0]);
}

#[test]
fn headers_that_are_not_fields_are_refused_before_any_row() {
    let error = parse_csv("seminar", "title,organizer\nA,B\n", "s.csv").unwrap_err();
    assert!(
        matches!(&error, FileError::UnknownColumn { column, .. } if column == "organizer"),
        "{error}"
    );
    let error = parse_csv("seminar", "title\nA\n", "s.csv").unwrap_err();
    assert!(
        matches!(&error, FileError::MissingColumn { field, .. } if field == "organiser"),
        "{error}"
    );
    assert!(matches!(
        parse_csv("seminars", "title\n", "s.csv").unwrap_err(),
        FileError::UnknownKind(..)
    ));
}

#[test]
fn json_lines_report_each_bad_line() {
    let text = [
        r#"{"type":"publication","payload":{"channel":"website","fiscal_year":"R6","count":12}}"#,
        "",
        "not json",
        r#"{"type":"publication","payload":{"channel":"website","fiscal_year":"R6","count":0}}"#,
        r#"{"type":"lecture","payload":{}}"#,
        r#"{"payload":{}}"#,
        r#"{"type":"publication","payload":{"channel":"website","fiscal_year":"R6","count":1},"extra":1}"#,
    ]
    .join("\n");
    let parsed = parse_json_lines(&text, "p.jsonl");
    assert_eq!(parsed.rows.len(), 1);
    let errors: Vec<(u64, &str)> = parsed
        .errors
        .iter()
        .map(|error| (error.line, error.field.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            (3, "line"),
            (4, "count"),
            (5, "type"),
            (6, "type"),
            (7, "extra")
        ],
        "{:#?}",
        parsed.errors
    );
}

/// The README's table of CSV headers is the catalogue's: one row per activity kind, in kind
/// order, with every field (`?` marking an optional one). A kind added to the list but not to
/// the README fails here.
#[test]
fn the_readme_lists_every_activity_kind_with_its_catalogue_columns() {
    let readme = include_str!("../../../README.md");
    let table = readme
        .split("| kind (file name) | header columns |\n|---|---|\n")
        .nth(1)
        .expect("README.md has the import table");
    let rows: Vec<(String, String)> = table
        .lines()
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            (cells[0].trim_matches('`').to_owned(), cells[1].to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> = LedgerEvent::catalogue()
        .iter()
        .filter(|info| info.kind.family() == kpi_domain::event::Family::Activity)
        .map(|info| {
            let columns: Vec<String> = info
                .fields
                .iter()
                .map(|field| format!("{}{}", field.name, if field.required { "" } else { "?" }))
                .collect();
            (info.name.to_owned(), columns.join(","))
        })
        .collect();
    assert_eq!(rows, expected);
}
