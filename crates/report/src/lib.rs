//! Renders a [`KpiTable`] for people (text, Markdown, Excel CSV, XLSX) and machines (JSON,
//! CSV). Pure: the caller writes the bytes wherever they go.
//!
//! Conventions shared by every form:
//! - a cell with no figure is empty (it is not zero);
//! - a figure measured in another unit than its row (the report's "19社" on a row counted in
//!   persons) carries its unit, so nobody sums it by mistake;
//! - b-series rows follow their KPI;
//! - a table cut on either kind of time ([`Axes`]: `as of`, `through`) says so in every form
//!   but the machine CSV, whose first line stays its header.

mod axes;
mod council;
mod xlsx;

use std::fmt::Write;

use kpi_domain::{Cell, KpiRow, KpiTable, Series, TargetKind, Unit};
use rust_decimal::Decimal;

pub use axes::Axes;
pub use council::excel_csv;
pub use xlsx::{xlsx, LogHead, TreeLabel};

/// The output forms of `kpi-ledger table` and of the server's downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    /// The machine form: English headers, plain numbers, no BOM.
    Csv,
    /// The council's layout (Japanese headers) as UTF-8 CSV with a BOM, which is what makes
    /// Excel read it as UTF-8 instead of Shift_JIS.
    ExcelCsv,
    Markdown,
    Xlsx,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            "excel-csv" | "csv-bom" => Ok(Format::ExcelCsv),
            "markdown" | "md" => Ok(Format::Markdown),
            "xlsx" => Ok(Format::Xlsx),
            other => Err(format!(
                "unknown format `{other}`: expected text, json, csv, excel-csv, markdown or xlsx"
            )),
        }
    }
}

impl Format {
    /// The media type of a download in this form.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Json => "application/json",
            Format::Csv | Format::ExcelCsv => "text/csv; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// Whether the rendering is text a terminal can show.
    pub fn is_text(self) -> bool {
        self != Format::Xlsx
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write the XLSX workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}

/// The current table (every event recorded, every activity counted) in `format`.
pub fn render(table: &KpiTable, format: Format) -> Result<Vec<u8>, ReportError> {
    render_for(table, format, &Axes::default())
}

/// `table`, built on `axes`, in `format`. A table cut on either axis says which: a caption
/// line under the title (text, Markdown), above the header (Excel CSV), in the title (XLSX),
/// `as_of` and `through` fields (JSON). The machine CSV is the same either way.
pub fn render_for(table: &KpiTable, format: Format, axes: &Axes) -> Result<Vec<u8>, ReportError> {
    render_at(table, format, axes, None)
}

/// [`render_for`], for a table read at the log's `head`, which the XLSX prints in its page
/// footer (the other forms are unchanged by it).
pub fn render_at(
    table: &KpiTable,
    format: Format,
    axes: &Axes,
    head: Option<&LogHead>,
) -> Result<Vec<u8>, ReportError> {
    let caption = axes.caption();
    Ok(match format {
        Format::Text => {
            let mut out = text(table);
            if let Some(caption) = caption {
                let title_end = out.find('\n').map_or(out.len(), |end| end + 1);
                out.insert_str(title_end, &format!("{caption}\n"));
            }
            out.into_bytes()
        }
        Format::Json => json_for(table, axes).into_bytes(),
        Format::Csv => csv(table).into_bytes(),
        Format::ExcelCsv => {
            let mut out = excel_csv(table);
            if let Some(tree) = head.and_then(|head| head.tree.as_ref()) {
                // The signed tree head the figures were read at, as the last line.
                out.extend_from_slice(format!("{}\r\n", csv_field(&tree.ja())).as_bytes());
            }
            if caption.is_some() {
                let line = format!("{}\r\n", csv_field(&axes.ja()));
                out.splice(
                    council::UTF8_BOM.len()..council::UTF8_BOM.len(),
                    line.into_bytes(),
                );
            }
            out
        }
        Format::Markdown => {
            let mut out = markdown(table);
            if let Some(caption) = caption {
                let title_end = out.find("\n\n").map_or(out.len(), |end| end + 2);
                out.insert_str(title_end, &format!("{caption}\n\n"));
            }
            out.into_bytes()
        }
        Format::Xlsx => xlsx::xlsx_for(table, axes, head)?,
    })
}

pub fn json(table: &KpiTable) -> String {
    json_for(table, &Axes::default())
}

/// The table's fields, then `as_of` (RFC 3339, UTC) and `through` (a date) when given.
fn json_for(table: &KpiTable, axes: &Axes) -> String {
    #[derive(serde::Serialize)]
    struct Cut<'a> {
        #[serde(flatten)]
        table: &'a KpiTable,
        #[serde(skip_serializing_if = "Option::is_none")]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        through: Option<chrono::NaiveDate>,
    }
    let cut = Cut {
        table,
        as_of: axes.as_of,
        through: axes.through,
    };
    let mut out = serde_json::to_string_pretty(&cut).expect("a KPI table serializes");
    out.push('\n');
    out
}

/// The machine form: `no,series,indicator,unit,target,R3,...,cumulative,achievement`, plain
/// numbers (no thousands separators, no % sign), an empty cell where there is no figure.
pub fn csv(table: &KpiTable) -> String {
    let mut out = String::from("no,series,indicator,unit,target");
    for year in &table.fiscal_years {
        write!(out, ",{}", year.label()).unwrap();
    }
    out.push_str(",cumulative,achievement\n");
    for row in &table.rows {
        let series = match row.series {
            Series::Main => "",
            Series::B => "b",
        };
        let target = row.target.map(|t| t.value.to_string()).unwrap_or_default();
        write!(
            out,
            "{},{},{},{},{}",
            csv_field(&row.kpi),
            series,
            csv_field(&row.name.en),
            row.unit.as_str(),
            target
        )
        .unwrap();
        for cell in &row.cells {
            out.push(',');
            out.push_str(&csv_field(&plain_cell(row, cell)));
        }
        writeln!(out, ",{},{}", plain(row.cumulative), plain(row.achievement)).unwrap();
    }
    out
}

pub(crate) fn plain(value: Option<Decimal>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

pub(crate) fn plain_cell(row: &KpiRow, cell: &Cell) -> String {
    match (cell.value, cell.unit) {
        (None, _) => String::new(),
        (Some(value), Some(unit)) if unit != row.unit => format!("{value} {}", unit.as_str()),
        (Some(value), _) => value.to_string(),
    }
}

pub(crate) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The report's KPI一覧 as a Markdown table: Japanese headers, units, b-series in brackets.
pub fn markdown(table: &KpiTable) -> String {
    let mut out = format!("# {} KPI一覧\n\n", table.plan_name.ja);
    out.push_str("| No. | 重要業績評価指標 | 目標 |");
    for year in &table.fiscal_years {
        write!(out, " {}年度 |", year.label()).unwrap();
    }
    out.push_str(" 累計 | 達成度 |\n|---|---|---|");
    for _ in &table.fiscal_years {
        out.push_str("---:|");
    }
    out.push_str("---:|---:|\n");
    for row in &table.rows {
        for field in human_row(row) {
            write!(out, "| {} ", field.replace('|', "\\|")).unwrap();
        }
        out.push_str("|\n");
    }
    out
}

/// A fixed-width table for the terminal.
pub fn text(table: &KpiTable) -> String {
    let mut header = vec!["No.".to_owned(), "指標".to_owned(), "目標".to_owned()];
    header.extend(table.fiscal_years.iter().map(|y| y.label()));
    header.push("累計".to_owned());
    header.push("達成度".to_owned());
    let rows: Vec<Vec<String>> = std::iter::once(header)
        .chain(table.rows.iter().map(human_row))
        .collect();
    let columns = rows[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| display_width(&r[c])).max().unwrap_or(0))
        .collect();
    let mut out = format!("{} ({})\n", table.plan_name.ja, table.plan_name.en);
    for row in &rows {
        let mut line = String::new();
        for (c, field) in row.iter().enumerate() {
            let pad = widths[c] - display_width(field);
            if c < 3 {
                write!(line, "{field}{}  ", " ".repeat(pad)).unwrap();
            } else {
                write!(line, "{}{field}  ", " ".repeat(pad)).unwrap();
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// East Asian wide characters take two terminal columns.
fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6 => 2,
            _ => 1,
        })
        .sum()
}

/// A row as people read it: No. ("4b"), name, target ("累計1,000人"), one field per fiscal
/// year, 累計, 達成度; "—" for no figure, b-series figures in brackets.
pub fn human_row(row: &KpiRow) -> Vec<String> {
    let bracket = |text: String| match (row.series, text.is_empty()) {
        (Series::B, false) => format!("({text})"),
        _ => text,
    };
    let no = match row.series {
        Series::Main => row.kpi.clone(),
        Series::B => format!("{}b", row.kpi),
    };
    let mut fields = vec![no, row.name.ja.clone(), target_label(row)];
    for cell in &row.cells {
        let text = match (cell.value, cell.unit) {
            (None, _) => "—".to_owned(),
            (Some(value), unit) => with_unit(value, unit.unwrap_or(row.unit)),
        };
        fields.push(if cell.value.is_some() {
            bracket(text)
        } else {
            text
        });
    }
    fields.push(match (row.cumulative, row.baseline) {
        // A successor KPI's cumulative starts from the predecessor's history: say how much.
        (Some(value), Some(baseline)) => bracket(format!(
            "{}（うち基準値{}）",
            with_unit(value, row.unit),
            with_unit(baseline, row.unit)
        )),
        (Some(value), None) => bracket(with_unit(value, row.unit)),
        (None, _) => "—".to_owned(),
    });
    fields.push(match row.achievement {
        Some(value) => bracket(format!("{value}%")),
        None => "—".to_owned(),
    });
    fields
}

pub(crate) fn target_label(row: &KpiRow) -> String {
    let Some(target) = row.target else {
        return String::new();
    };
    let value = with_unit(target.value, row.unit);
    match target.kind {
        TargetKind::Cumulative => format!("累計{value}"),
        TargetKind::Annual => format!("年間{value}"),
        TargetKind::AnnualMinimum => format!("{value}以上/年度"),
        TargetKind::Rate => value,
    }
}

pub(crate) fn with_unit(value: Decimal, unit: Unit) -> String {
    format!("{}{}", thousands(value), unit.suffix_ja())
}

/// 16969 -> "16,969"; decimals kept as they are (35.8).
pub(crate) fn thousands(value: Decimal) -> String {
    let text = value.to_string();
    let (sign, rest) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, digit) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match frac {
        Some(frac) => format!("{sign}{grouped}.{frac}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_integer_digits_only() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(thousands(d("16969")), "16,969");
        assert_eq!(thousands(d("1565")), "1,565");
        assert_eq!(thousands(d("568")), "568");
        assert_eq!(thousands(d("1000000.5")), "1,000,000.5");
        assert_eq!(thousands(d("-1234")), "-1,234");
    }

    #[test]
    fn formats_parse_and_unknown_ones_are_named() {
        assert_eq!("csv".parse::<Format>().unwrap(), Format::Csv);
        assert_eq!("xlsx".parse::<Format>().unwrap(), Format::Xlsx);
        assert_eq!("excel-csv".parse::<Format>().unwrap(), Format::ExcelCsv);
        assert!("xls".parse::<Format>().unwrap_err().contains("xls"));
    }

    #[test]
    fn csv_quotes_fields_that_need_it() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn a_cumulative_that_includes_a_baseline_says_so() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let row = KpiRow {
            kpi: "DX1".to_owned(),
            series: Series::Main,
            pillar: "A".to_owned(),
            category: None,
            name: kpi_domain::plan::LocalizedText {
                ja: "DX人材育成".to_owned(),
                en: "DX talent".to_owned(),
            },
            unit: Unit::Persons,
            target: None,
            cells: Vec::new(),
            cumulative: Some(d("1828")),
            achievement: None,
            show_cumulative: true,
            show_achievement: false,
            baseline: Some(d("1798")),
            last_year: None,
        };
        assert_eq!(human_row(&row)[3], "1,828人（うち基準値1,798人）");
        let without = KpiRow {
            baseline: None,
            ..row
        };
        assert_eq!(human_row(&without)[3], "1,828人");
    }

    #[test]
    fn wide_characters_count_double() {
        assert_eq!(display_width("人"), 2);
        assert_eq!(display_width("R6"), 2);
    }
}
