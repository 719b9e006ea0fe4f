//! The exports of the FY2024 seed table: golden files for the text forms (reviewed against the
//! report's KPI一覧 by hand), and the XLSX workbook read back with calamine cell by cell.
//! `UPDATE_GOLDEN=1 cargo test -p kpi-report` rewrites the golden files; review the diff.

use std::io::Cursor;
use std::path::PathBuf;

use calamine::{Data, Reader, Xlsx};
use chrono::{TimeZone, Utc};
use kpi_domain::{seed, KpiTable, PlanDefinition, Projection};
use kpi_report::Format;

const PLAN: &str = include_str!("../../../config/plans/telework-roadmap.toml");
const SEED: &str = include_str!("../../../config/seed/fuji-telework-r6.toml");

fn seed_table() -> KpiTable {
    let records = seed::parse(SEED).unwrap_or_else(|error| panic!("{error}"));
    let events = seed::recorded_log(&records, Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap());
    let plan = PlanDefinition::from_toml(PLAN).unwrap();
    Projection::replay(vec![plan], &events)
        .table("telework-roadmap")
        .unwrap()
}

fn assert_golden(name: &str, actual: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected =
        std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    assert!(
        expected == actual,
        "{name} differs from its golden file:\n--- expected\n{}\n--- actual\n{}",
        String::from_utf8_lossy(&expected),
        String::from_utf8_lossy(actual)
    );
}

fn render(format: Format) -> Vec<u8> {
    kpi_report::render(&seed_table(), format).unwrap()
}

#[test]
fn machine_csv_matches_its_golden_file() {
    let csv = render(Format::Csv);
    assert!(
        !csv.starts_with("\u{feff}".as_bytes()),
        "the machine form has no BOM"
    );
    assert_golden("kpi.csv", &csv);
}

#[test]
fn excel_csv_starts_with_a_bom_and_matches_its_golden_file() {
    let csv = render(Format::ExcelCsv);
    assert_eq!(&csv[..3], b"\xEF\xBB\xBF", "Excel needs the UTF-8 BOM");
    let text = std::str::from_utf8(&csv).unwrap();
    assert!(text.contains(",1565,156.5\r\n"), "{text}");
    assert!(
        text.split_terminator('\n').all(|line| line.ends_with('\r')),
        "CRLF line ends"
    );
    assert_golden("kpi-excel.csv", &csv);
}

#[test]
fn markdown_matches_its_golden_file() {
    let markdown = render(Format::Markdown);
    let text = std::str::from_utf8(&markdown).unwrap();
    assert!(text.contains("| 1,565人 | 156.5% |"), "{text}");
    assert_golden("kpi.md", &markdown);
}

fn cell(range: &calamine::Range<Data>, row: u32, column: u32) -> Data {
    range
        .get_value((row, column))
        .cloned()
        .unwrap_or(Data::Empty)
}

fn s(text: &str) -> Data {
    Data::String(text.to_owned())
}

fn n(value: f64) -> Data {
    Data::Float(value)
}

/// No., 項目 (where a group starts), R3..R7, 累計, 達成度.
type ExpectedRow = (&'static str, Option<&'static str>, [Data; 5], Data, Data);

/// Expected rows as printed in the report: No., 項目, R3..R7, 累計, 達成度. Numbers are
/// numbers, "—" is no figure, "19社" stays text.
#[test]
fn xlsx_reads_back_like_the_reports_kpi_table() {
    let bytes = render(Format::Xlsx);
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    let range = workbook.worksheet_range("KPI一覧").unwrap();

    let header: Vec<Data> = (0..11).map(|c| cell(&range, 1, c)).collect();
    assert_eq!(
        header,
        [
            "No.",
            "項目",
            "重要業績評価指標",
            "目標",
            "R3年度",
            "R4年度",
            "R5年度",
            "R6年度",
            "R7年度",
            "累計",
            "達成度"
        ]
        .map(s)
    );

    let dash = || s("—");
    #[rustfmt::skip]
    let expected: Vec<ExpectedRow> = vec![
        ("1",  Some("市内企業"), [n(29.0), n(31.6), n(34.4), n(35.8), dash()], dash(), dash()),
        ("2",  None, [n(260.0), n(340.0), n(397.0), n(568.0), dash()], n(1565.0), n(156.5)),
        ("3",  Some("市内ワーカー"), [dash(), dash(), s("19社"), n(112.0), dash()], n(112.0), n(56.0)),
        ("4",  None, [dash(), n(104.0), n(91.0), n(176.0), dash()], n(371.0), n(37.1)),
        ("4b", None, [n(226.0), n(345.0), n(369.0), n(528.0), dash()], n(1468.0), n(146.8)),
        ("5",  Some("コワーキングスペース"), [n(2608.0), n(8739.0), n(15071.0), n(16969.0), dash()], dash(), n(169.7)),
        ("5b", None, [dash(), dash(), dash(), n(8379.0), dash()], dash(), dash()),
        ("6",  None, [dash(), n(294.0), n(336.0), n(292.0), dash()], n(922.0), n(115.3)),
        ("7",  Some("首都圏企業"), [dash(), n(38.0), n(8.0), n(54.0), dash()], n(100.0), n(33.3)),
        ("8",  None, [n(2.0), n(4.0), n(5.0), n(2.0), dash()], n(13.0), n(130.0)),
        ("9",  Some("首都圏ワーカー"), [n(30.0), n(26.0), n(43.0), n(32.0), dash()], n(131.0), n(131.0)),
        ("9b", None, [n(62.0), n(42.0), n(79.0), n(68.0), dash()], n(251.0), n(125.5)),
        ("10", None, [dash(), n(122.0), n(122.0), n(113.0), dash()], n(357.0), n(119.0)),
        ("11", Some("産学民官"), [n(3.0), n(3.0), n(2.0), n(3.0), dash()], n(11.0), n(110.0)),
        ("12", Some("マーケティング・PR"), [dash(), n(14.0), n(12.0), n(12.0), dash()], dash(), n(100.0)),
    ];
    for (index, (no, category, years, cumulative, achievement)) in expected.into_iter().enumerate()
    {
        let row = 2 + index as u32;
        assert_eq!(cell(&range, row, 0), s(no), "No. of sheet row {row}");
        let shown_category = cell(&range, row, 1);
        match category {
            Some(category) => assert_eq!(shown_category, s(category), "項目 of KPI {no}"),
            None => assert!(
                shown_category == Data::Empty || shown_category == s(""),
                "項目 of KPI {no} continues the group above: {shown_category:?}"
            ),
        }
        for (offset, year) in years.into_iter().enumerate() {
            assert_eq!(
                cell(&range, row, 4 + offset as u32),
                year,
                "KPI {no}, R{}",
                3 + offset
            );
        }
        assert_eq!(cell(&range, row, 9), cumulative, "累計 of KPI {no}");
        assert_eq!(cell(&range, row, 10), achievement, "達成度 of KPI {no}");
    }
    assert_eq!(cell(&range, 2 + 15, 0), Data::Empty, "no row after KPI 12");
}

/// A table cut on either kind of time says which in every form people read, so a printed R6
/// table is never mistaken for the current one; the machine CSV keeps its header first.
#[test]
fn a_table_cut_on_either_axis_says_which_in_every_human_form() {
    let table = seed_table();
    let axes = kpi_report::Axes {
        as_of: Some(Utc.with_ymd_and_hms(2025, 5, 31, 14, 59, 59).unwrap()),
        through: chrono::NaiveDate::from_ymd_opt(2025, 3, 31),
    };
    let render_for = |format| kpi_report::render_for(&table, format, &axes).unwrap();
    let ja = "2025-05-31T23:59:59+09:00時点の記録、2025-03-31までの活動";
    let en = "as of 2025-05-31T23:59:59+09:00 (recorded by then), \
              through 2025-03-31 (activities up to then)";

    let text = String::from_utf8(render_for(Format::Text)).unwrap();
    assert_eq!(text.lines().nth(1), Some(format!("{ja} / {en}").as_str()));
    let markdown = String::from_utf8(render_for(Format::Markdown)).unwrap();
    assert!(
        markdown.starts_with(&format!(
            "# 富士市テレワーク推進ロードマップ KPI一覧\n\n{ja} / {en}\n\n| No. |"
        )),
        "{markdown}"
    );
    let excel = String::from_utf8(render_for(Format::ExcelCsv)).unwrap();
    assert!(
        excel.starts_with(&format!("\u{feff}{ja}\r\nNo.,項目,")),
        "{excel}"
    );
    let json: serde_json::Value = serde_json::from_slice(&render_for(Format::Json)).unwrap();
    assert_eq!(json["through"], "2025-03-31");
    assert_eq!(json["as_of"], "2025-05-31T14:59:59Z");
    assert_eq!(json["plan_id"], "telework-roadmap");
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(render_for(Format::Xlsx))).unwrap();
    let range = workbook.worksheet_range("KPI一覧").unwrap();
    assert_eq!(
        cell(&range, 0, 0),
        s(&format!(
            "富士市テレワーク推進ロードマップ KPI（重要業績評価指標）一覧（{ja}）"
        ))
    );
    assert_eq!(cell(&range, 1, 0), s("No."), "the header stays on its row");
    assert_eq!(
        render_for(Format::Csv),
        render(Format::Csv),
        "the machine CSV is the same"
    );

    // Uncut, every form is the one the golden files hold.
    for format in [
        Format::Text,
        Format::Json,
        Format::Csv,
        Format::ExcelCsv,
        Format::Markdown,
    ] {
        assert_eq!(
            kpi_report::render_for(&table, format, &kpi_report::Axes::default()).unwrap(),
            render(format),
            "{format:?}"
        );
    }
    let uncut: serde_json::Value = serde_json::from_slice(&render(Format::Json)).unwrap();
    assert!(uncut.get("as_of").is_none() && uncut.get("through").is_none());
}
