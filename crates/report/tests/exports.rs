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
/// numbers, "—" is no figure, "19社" stays text; 達成度 is a fraction shown as a percentage
/// (1.565 is 156.5%).
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
        ("2",  None, [n(260.0), n(340.0), n(397.0), n(568.0), dash()], n(1565.0), n(1.565)),
        ("3",  Some("市内ワーカー"), [dash(), dash(), s("19社"), n(112.0), dash()], n(112.0), n(0.56)),
        ("4",  None, [dash(), n(104.0), n(91.0), n(176.0), dash()], n(371.0), n(0.371)),
        ("4b", None, [n(226.0), n(345.0), n(369.0), n(528.0), dash()], n(1468.0), n(1.468)),
        ("5",  Some("コワーキングスペース"), [n(2608.0), n(8739.0), n(15071.0), n(16969.0), dash()], dash(), n(1.697)),
        ("5b", None, [dash(), dash(), dash(), n(8379.0), dash()], dash(), dash()),
        ("6",  None, [dash(), n(294.0), n(336.0), n(292.0), dash()], n(922.0), n(1.153)),
        ("7",  Some("首都圏企業"), [dash(), n(38.0), n(8.0), n(54.0), dash()], n(100.0), n(0.333)),
        ("8",  None, [n(2.0), n(4.0), n(5.0), n(2.0), dash()], n(13.0), n(1.3)),
        ("9",  Some("首都圏ワーカー"), [n(30.0), n(26.0), n(43.0), n(32.0), dash()], n(131.0), n(1.31)),
        ("9b", None, [n(62.0), n(42.0), n(79.0), n(68.0), dash()], n(251.0), n(1.255)),
        ("10", None, [dash(), n(122.0), n(122.0), n(113.0), dash()], n(357.0), n(1.19)),
        ("11", Some("産学民官"), [n(3.0), n(3.0), n(2.0), n(3.0), dash()], n(11.0), n(1.1)),
        ("12", Some("マーケティング・PR"), [dash(), n(14.0), n(12.0), n(12.0), dash()], dash(), n(1.0)),
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

/// The parts of an XLSX file (a zip of XML documents) the tests read.
struct XlsxParts {
    styles: String,
    sheet: String,
    workbook: String,
}

fn xlsx_parts(bytes: &[u8]) -> XlsxParts {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut part = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    XlsxParts {
        styles: part("xl/styles.xml"),
        sheet: part("xl/worksheets/sheet1.xml"),
        workbook: part("xl/workbook.xml"),
    }
}

/// The number format each cell shows its value with, by reference ("K4"), from the sheet's
/// style indexes and the workbook's styles (built-in format 0 is "General").
fn number_formats(parts: &XlsxParts) -> std::collections::HashMap<String, String> {
    let styles = roxmltree::Document::parse(&parts.styles).unwrap();
    let custom: std::collections::HashMap<&str, &str> = styles
        .descendants()
        .filter(|node| node.has_tag_name("numFmt"))
        .map(|node| {
            (
                node.attribute("numFmtId").unwrap(),
                node.attribute("formatCode").unwrap(),
            )
        })
        .collect();
    let cell_formats: Vec<String> = styles
        .descendants()
        .find(|node| node.has_tag_name("cellXfs"))
        .unwrap()
        .children()
        .filter(|node| node.has_tag_name("xf"))
        .map(|xf| {
            let id = xf.attribute("numFmtId").unwrap_or("0");
            custom
                .get(id)
                .map_or_else(|| format!("builtin {id}"), |code| (*code).to_owned())
        })
        .collect();
    let sheet = roxmltree::Document::parse(&parts.sheet).unwrap();
    sheet
        .descendants()
        .filter(|node| node.has_tag_name("c"))
        .map(|cell| {
            let style: usize = cell.attribute("s").unwrap_or("0").parse().unwrap();
            (
                cell.attribute("r").unwrap().to_owned(),
                cell_formats[style].clone(),
            )
        })
        .collect()
}

/// The workbook as the city uses it: 達成度 a real percentage (the cell holds 1.565, its format
/// shows 156.5%), targets numbers with their kind and unit in the format, and the sheet set
/// up to print as the council handout: A4 landscape, one page wide, the header row on each
/// page, the plan, the axes of time and the log head in the page header and footer.
#[test]
fn xlsx_stores_percentages_and_targets_as_numbers_and_prints_on_a4_landscape() {
    let table = seed_table();
    let axes = kpi_report::Axes {
        as_of: None,
        through: chrono::NaiveDate::from_ymd_opt(2025, 3, 31),
    };
    let digest = "9f".repeat(32);
    let head = kpi_report::LogHead {
        position: 335,
        digest: digest.clone(),
        tree: None,
    };
    let bytes = kpi_report::render_at(&table, Format::Xlsx, &axes, Some(&head)).unwrap();

    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes.clone())).unwrap();
    let range = workbook.worksheet_range("KPI一覧").unwrap();
    // Sheet rows (0-based): 2 is KPI 1, 3 KPI 2, 6 KPI 4b, 8 KPI 5b, 16 KPI 12.
    #[rustfmt::skip]
    let targets = [(2, n(40.0)), (3, n(1000.0)), (6, n(1000.0)), (7, n(10000.0)), (8, Data::Empty), (16, n(12.0))];
    for (row, target) in targets {
        assert_eq!(cell(&range, row, 3), target, "目標 on sheet row {row}");
    }
    assert_eq!(
        cell(&range, 3, 10),
        n(1.565),
        "達成度 of KPI 2 is a fraction"
    );

    let parts = xlsx_parts(&bytes);
    let formats = number_formats(&parts);
    #[rustfmt::skip]
    let expected = [
        ("K4", "0.0%"),                       // KPI 2: 156.5%
        ("K7", "(0.0%)"),                     // KPI 4b: (146.8%)
        ("K17", "0%"),                        // KPI 12: 100%
        ("D3", "0.0\"%\""),                   // KPI 1: 40.0%, a rate in points
        ("D4", "\"累計\"#,##0\"人\""),         // KPI 2: 累計1,000人
        ("D8", "\"年間\"#,##0\"人\""),         // KPI 5: 年間10,000人
        ("D17", "#,##0\"回以上/年度\""),       // KPI 12: 12回以上/年度
        ("J4", "#,##0\"人\""),                 // KPI 2's 累計 1,565人
        ("H3", "0.0\"%\""),                   // KPI 1, R6: 35.8%
    ];
    for (reference, format) in expected {
        assert_eq!(
            formats.get(reference).map(String::as_str),
            Some(format),
            "number format of {reference}"
        );
    }

    let sheet = roxmltree::Document::parse(&parts.sheet).unwrap();
    let element = |name: &str| {
        sheet
            .descendants()
            .find(|node| node.has_tag_name(name))
            .unwrap_or_else(|| panic!("no <{name}> in the sheet:\n{}", parts.sheet))
    };
    let setup = element("pageSetup");
    assert_eq!(setup.attribute("paperSize"), Some("9"), "A4");
    assert_eq!(setup.attribute("orientation"), Some("landscape"));
    assert_eq!(
        setup.attribute("fitToWidth"),
        None,
        "one page wide (the default of 1)"
    );
    assert_eq!(
        setup.attribute("fitToHeight"),
        Some("0"),
        "as many pages down as needed"
    );
    assert_eq!(element("pageSetUpPr").attribute("fitToPage"), Some("1"));
    assert_eq!(
        element("printOptions").attribute("horizontalCentered"),
        Some("1")
    );
    assert_eq!(
        element("oddHeader").text(),
        Some("&L富士市テレワーク推進ロードマップ&R現在までの全記録、2025-03-31までの活動")
    );
    assert_eq!(
        element("oddFooter").text(),
        Some(format!("&L台帳の位置 335・ダイジェスト {digest}&R&P / &N").as_str())
    );
    assert!(
        parts.workbook.contains(
            r#"<definedName name="_xlnm.Print_Titles" localSheetId="0">KPI一覧!$2:$2</definedName>"#
        ),
        "the header row repeats on every printed page:\n{}",
        parts.workbook
    );

    // Without a head (kpi_report::xlsx), the footer keeps the page number only.
    let plain = xlsx_parts(&kpi_report::xlsx(&table).unwrap());
    assert!(
        plain
            .sheet
            .contains("<oddFooter>&amp;R&amp;P / &amp;N</oddFooter>"),
        "{}",
        plain.sheet
    );
}

#[test]
fn exports_made_at_a_signed_tree_head_name_its_size_root_and_key() {
    let table = seed_table();
    let axes = kpi_report::Axes::default();
    let tree = kpi_report::TreeLabel {
        size: 335,
        root: "4e".repeat(32),
        fingerprint: "a7".repeat(32),
    };
    let unsigned = kpi_report::LogHead {
        position: 335,
        digest: "9f".repeat(32),
        tree: None,
    };
    let signed = kpi_report::LogHead {
        tree: Some(tree.clone()),
        ..unsigned.clone()
    };
    let label = format!("木 335・ルート {}・鍵 {}", tree.root, tree.fingerprint);

    let plain = kpi_report::render_at(&table, Format::ExcelCsv, &axes, Some(&unsigned)).unwrap();
    let csv = kpi_report::render_at(&table, Format::ExcelCsv, &axes, Some(&signed)).unwrap();
    assert!(csv.starts_with(&plain), "the table itself is unchanged");
    let last = String::from_utf8(csv[plain.len()..].to_vec()).unwrap();
    assert_eq!(last, format!("{label}\r\n"));

    let bytes = kpi_report::render_at(&table, Format::Xlsx, &axes, Some(&signed)).unwrap();
    let sheet = xlsx_parts(&bytes).sheet;
    assert!(
        sheet.contains(&label),
        "the print footer names the signed head"
    );
}
