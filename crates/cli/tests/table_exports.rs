//! `kpi-ledger table --format excel-csv|xlsx|markdown` through the real binary: the export
//! forms reach the user intact (BOM kept, workbook bytes written to the named file, its page
//! footer naming the log head `verify` names).

mod support;

use std::process::Output;
use support::kpi_ledger;

fn ok(output: Output) -> Vec<u8> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn table_exports_for_excel_and_the_council() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let data = data.to_str().unwrap();
    ok(kpi_ledger(&[
        "import",
        "config/seed/fuji-telework-r6.toml",
        "--data",
        data,
    ]));

    let excel = ok(kpi_ledger(&[
        "table",
        "--data",
        data,
        "--format",
        "excel-csv",
    ]));
    assert_eq!(&excel[..3], b"\xEF\xBB\xBF");
    let excel = String::from_utf8(excel).unwrap();
    assert!(
        excel.contains(
            "2,,セミナー・相談会参加者,人,\"累計1,000人\",260,340,397,568,,1565,156.5\r\n"
        ),
        "{excel}"
    );

    let markdown =
        String::from_utf8(ok(kpi_ledger(&["table", "--data", data, "--format", "md"]))).unwrap();
    assert!(markdown.contains("| 1,565人 | 156.5% |"), "{markdown}");

    let workbook = dir.path().join("kpi.xlsx");
    let printed = ok(kpi_ledger(&[
        "table",
        "--data",
        data,
        "--format",
        "xlsx",
        "--output",
        workbook.to_str().unwrap(),
    ]));
    assert!(printed.is_empty(), "the workbook goes to the file only");
    let bytes = std::fs::read(&workbook).unwrap();
    assert_eq!(&bytes[..2], b"PK", "an XLSX file is a zip archive");
    // The printed page's footer names the log head the table was read at, as `verify` does.
    let verified = String::from_utf8(ok(kpi_ledger(&["verify", "--data", data]))).unwrap();
    let (position, digest) = verified
        .trim()
        .strip_prefix("ok: position ")
        .and_then(|rest| rest.split_once(" hash "))
        .unwrap_or_else(|| panic!("verify printed {verified}"));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut sheet = String::new();
    std::io::Read::read_to_string(
        &mut archive.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut sheet,
    )
    .unwrap();
    assert!(
        sheet.contains(&format!(
            "台帳の位置 {position}・ダイジェスト {digest}&amp;R"
        )),
        "the footer names position {position} and digest {digest}:\n{sheet}"
    );

    let refused = kpi_ledger(&["table", "--data", data, "--format", "xls"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("xls"));
}
