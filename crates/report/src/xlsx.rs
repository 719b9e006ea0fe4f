//! The council's KPI一覧 as an Excel workbook, as the city uses it: figures and targets are
//! numbers whose display format carries the unit, 達成度 is a real percentage (1.565 shown as
//! 156.5%), and the sheet prints as the council handout (A4 landscape, one page wide, the
//! header row on every page, the plan, the axes of time and the log head in the page
//! header and footer).

use kpi_domain::{KpiRow, KpiTable, Series, TargetKind, Unit};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

use crate::axes::Axes;
use crate::council::{categories, number, year_header};

/// The sheet's name, for readers of the workbook.
pub const SHEET_NAME: &str = "KPI一覧";
/// Row (0-based) of the header line; rows of the table follow it.
pub const HEADER_ROW: u32 = 1;
/// Shown where a fiscal year has no figure, as the report prints it; a blank cell would be
/// summed as zero by Excel.
pub const NO_FIGURE: &str = "—";

/// Excel's paper size code for A4.
const A4: u8 = 9;
/// Excel keeps at most this many characters (UTF-16 units) of a page header or footer and
/// drops a longer one whole.
const HEADER_FOOTER_LIMIT: usize = 255;

/// The position and hash of the log's head when the table was read, printed in the footer so
/// a printed table can be traced to the log (`kpi-ledger verify` prints the same digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    pub position: u64,
    pub digest: String,
    /// The signed tree head the export was made at, when the server has a signing key.
    pub tree: Option<TreeLabel>,
}

/// A signed tree head as an export names it: tree size, RFC 9162 root hash and the
/// fingerprint (SHA-256) of the key that signed it, so a reader can ask for proofs against
/// exactly this head (`/proof/head?size=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeLabel {
    pub size: u64,
    pub root: String,
    pub fingerprint: String,
}

impl TreeLabel {
    /// `木 335・ルート <hex>・鍵 <hex>`: the line the exports print.
    pub fn ja(&self) -> String {
        format!(
            "木 {}・ルート {}・鍵 {}",
            self.size, self.root, self.fingerprint
        )
    }
}

/// One sheet: a title line, then No., 項目, 重要業績評価指標, 目標, one column per fiscal
/// year, 累計, 達成度. Figures and targets are numbers whose display format carries the unit
/// (and the brackets of a b-series row), 達成度 a percentage, so the sheet reads like the
/// report and still computes.
pub fn xlsx(table: &KpiTable) -> Result<Vec<u8>, XlsxError> {
    xlsx_for(table, &Axes::default(), None)
}

/// The workbook of a table cut on `axes` (named in brackets after the title when cut, and in
/// the page header always), read at `head` (in the page footer when known).
pub(crate) fn xlsx_for(
    table: &KpiTable,
    axes: &Axes,
    head: Option<&LogHead>,
) -> Result<Vec<u8>, XlsxError> {
    let note = (!axes.is_current()).then(|| axes.ja());
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name(SHEET_NAME)?;

    let title = Format::new().set_bold().set_font_size(14);
    let header = Format::new()
        .set_bold()
        .set_align(FormatAlign::Center)
        .set_border(FormatBorder::Thin)
        .set_background_color("#DDEBF7");
    let text = Format::new().set_border(FormatBorder::Thin);
    let centred = text.clone().set_align(FormatAlign::Center);

    sheet.write_string_with_format(
        0,
        0,
        match note {
            None => format!("{} KPI（重要業績評価指標）一覧", table.plan_name.ja),
            Some(note) => format!(
                "{} KPI（重要業績評価指標）一覧（{note}）",
                table.plan_name.ja
            ),
        },
        &title,
    )?;
    let mut headers = vec![
        "No.".to_owned(),
        "項目".to_owned(),
        "重要業績評価指標".to_owned(),
        "目標".to_owned(),
    ];
    headers.extend(table.fiscal_years.iter().map(|year| year_header(*year)));
    headers.push("累計".to_owned());
    headers.push("達成度".to_owned());
    for (column, name) in headers.iter().enumerate() {
        sheet.write_string_with_format(HEADER_ROW, column_index(column), name, &header)?;
    }

    let years = table.fiscal_years.len();
    for (index, (row, category)) in table.rows.iter().zip(categories(table)).enumerate() {
        let line = HEADER_ROW + 1 + u32::try_from(index).expect("a KPI table fits a sheet");
        sheet.write_string_with_format(line, 0, number(row), &centred)?;
        sheet.write_string_with_format(line, 1, category.unwrap_or_default(), &text)?;
        sheet.write_string_with_format(line, 2, &row.name.ja, &text)?;
        match row.target {
            Some(target) => {
                let format = Format::new()
                    .set_border(FormatBorder::Thin)
                    .set_num_format(target_format(target.value.scale(), row.unit, target.kind));
                sheet.write_number_with_format(line, 3, to_number(target.value), &format)?;
            }
            None => {
                sheet.write_string_with_format(line, 3, "", &text)?;
            }
        }
        for (offset, cell) in row.cells.iter().enumerate() {
            let column = column_index(4 + offset);
            match (cell.value, cell.unit) {
                (None, _) => {
                    sheet.write_string_with_format(line, column, NO_FIGURE, &centred)?;
                }
                // A figure in another unit is not part of the row's arithmetic: text, not a
                // number Excel would sum.
                (Some(value), Some(unit)) if unit != row.unit => {
                    let figure = format!("{value}{}", unit.suffix_ja());
                    sheet.write_string_with_format(line, column, figure, &text)?;
                }
                (Some(value), _) => write_figure(sheet, line, column, value, row, row.unit)?,
            };
        }
        let cumulative = column_index(4 + years);
        match row.cumulative {
            Some(value) => write_figure(sheet, line, cumulative, value, row, row.unit)?,
            None => {
                sheet.write_string_with_format(line, cumulative, NO_FIGURE, &centred)?;
            }
        };
        match row.achievement {
            Some(value) => write_achievement(sheet, line, cumulative + 1, value, row.series)?,
            None => {
                sheet.write_string_with_format(line, cumulative + 1, NO_FIGURE, &centred)?;
            }
        };
    }

    sheet.set_column_width(0, 6)?;
    sheet.set_column_width(1, 20)?;
    sheet.set_column_width(2, 36)?;
    sheet.set_column_width(3, 16)?;
    for column in 0..years + 2 {
        sheet.set_column_width(column_index(4 + column), 12)?;
    }
    sheet.set_freeze_panes(HEADER_ROW + 1, 4)?;
    print_setup(sheet, table, axes, head)?;
    workbook.save_to_buffer()
}

/// The council handout: A4 landscape, every column on one page width (as many pages down as
/// it takes), the header row repeated, centred; the plan and the axes of time in the page
/// header, the log head and the page number in the footer.
fn print_setup(
    sheet: &mut rust_xlsxwriter::Worksheet,
    table: &KpiTable,
    axes: &Axes,
    head: Option<&LogHead>,
) -> Result<(), XlsxError> {
    sheet.set_paper_size(A4);
    sheet.set_landscape();
    sheet.set_print_fit_to_pages(1, 0);
    sheet.set_repeat_rows(HEADER_ROW, HEADER_ROW)?;
    sheet.set_print_center_horizontally(true);
    sheet.set_margins(0.4, 0.4, 0.6, 0.6, 0.3, 0.3);
    sheet.set_header(page_header(&table.plan_name.ja, &axes.ja()));
    sheet.set_footer(page_footer(head));
    Ok(())
}

/// `&L<plan>&R<axes>`: the plan's name shortened (with "…") if the two would pass Excel's
/// limit.
pub(crate) fn page_header(plan: &str, axes: &str) -> String {
    let axes = header_text(axes);
    let room = HEADER_FOOTER_LIMIT.saturating_sub(utf16_len(&axes) + "&L&R".len());
    let mut escaped = header_text(plan);
    if utf16_len(&escaped) > room {
        // Shortened on the plain text, so an escaped "&&" is never cut in half.
        let mut shortened = String::new();
        let mut length = 0;
        for c in plan.chars() {
            let width = utf16_len(&header_text(&c.to_string()));
            if length + width + 1 > room {
                break;
            }
            shortened.push(c);
            length += width;
        }
        escaped = format!("{}…", header_text(&shortened));
    }
    let plan = escaped;
    format!("&L{plan}&R{axes}")
}

/// `&L台帳の位置 335・ダイジェスト <64 hex>&R&P / &N`; with a signed tree head,
/// `・木 335・ルート <64 hex>・鍵 <64 hex>` after the digest (the digest is left out when
/// both would pass Excel's limit, since the tree head proves more).
pub(crate) fn page_footer(head: Option<&LogHead>) -> String {
    let pages = "&R&P / &N";
    let Some(head) = head else {
        return pages.to_owned();
    };
    let chain = format!(
        "台帳の位置 {}・ダイジェスト {}",
        head.position,
        header_text(&head.digest)
    );
    let Some(tree) = &head.tree else {
        return format!("&L{chain}{pages}");
    };
    let tree = header_text(&tree.ja());
    let both = format!("&L{chain}・{tree}{pages}");
    if utf16_len(&both) <= HEADER_FOOTER_LIMIT {
        both
    } else {
        format!("&L{tree}{pages}")
    }
}

/// Text as a header or footer shows it: `&` starts a control code, so it is doubled.
fn header_text(text: &str) -> String {
    text.replace('&', "&&")
}

fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

fn column_index(column: usize) -> u16 {
    u16::try_from(column).expect("a KPI table has far fewer columns than a sheet")
}

/// A sheet cell is an IEEE double by the file format's definition: the exact decimal becomes
/// the nearest one here, at the edge, and nothing is computed on it.
fn to_number(value: Decimal) -> f64 {
    value.to_f64().expect("every Decimal has a nearest double")
}

/// 達成度 as a percentage: 156.5 (percent, as the domain computes it) is stored as 1.565,
/// divided exactly in `Decimal` before the conversion, and shown as 156.5% by the format.
fn write_achievement(
    sheet: &mut rust_xlsxwriter::Worksheet,
    line: u32,
    column: u16,
    percent: Decimal,
    series: Series,
) -> Result<(), XlsxError> {
    let fraction = percent
        .checked_div(Decimal::ONE_HUNDRED)
        .expect("a percentage divided by 100 fits a Decimal");
    let format = Format::new()
        .set_border(FormatBorder::Thin)
        .set_num_format(percent_format(percent.scale(), series));
    sheet.write_number_with_format(line, column, to_number(fraction), &format)?;
    Ok(())
}

/// Writes an exact decimal as a spreadsheet number (see [`to_number`]); the figures of a KPI
/// table (counts and one-decimal rates) convert without loss.
fn write_figure(
    sheet: &mut rust_xlsxwriter::Worksheet,
    line: u32,
    column: u16,
    value: Decimal,
    row: &KpiRow,
    unit: Unit,
) -> Result<(), XlsxError> {
    let number = to_number(value);
    let format = Format::new()
        .set_border(FormatBorder::Thin)
        .set_num_format(number_format(value.scale(), unit, row.series));
    sheet.write_number_with_format(line, column, number, &format)?;
    Ok(())
}

/// `#,##0"人"`, `0.0"%"`, `(#,##0"人")` for a b-series row: the report's look, with the
/// decimals the figure has (35.8% keeps one, 100% none).
fn number_format(scale: u32, unit: Unit, series: Series) -> String {
    bracketed(figure_format(scale, unit), series)
}

/// `"累計"#,##0"人"`, `"年間"#,##0"人"`, `#,##0"回以上/年度"`, `0.0"%"`: the target as a number,
/// with its kind and unit in the format, as the report prints it.
fn target_format(scale: u32, unit: Unit, kind: TargetKind) -> String {
    let figure = figure_format(scale, unit);
    match kind {
        TargetKind::Cumulative => format!("\"累計\"{figure}"),
        TargetKind::Annual => format!("\"年間\"{figure}"),
        TargetKind::AnnualMinimum => {
            let digits = figure.trim_end_matches(&format!("\"{}\"", unit.suffix_ja()));
            format!("{digits}\"{}以上/年度\"", unit.suffix_ja())
        }
        TargetKind::Rate => figure,
    }
}

/// `0.0%` for 達成度 (a real percentage: the cell holds 1.565), `(0.0%)` on a b-series row.
fn percent_format(scale: u32, series: Series) -> String {
    bracketed(format!("0{}%", decimals(scale)), series)
}

fn figure_format(scale: u32, unit: Unit) -> String {
    let digits = if unit == Unit::Percent { "0" } else { "#,##0" };
    format!("{digits}{}\"{}\"", decimals(scale), unit.suffix_ja())
}

fn decimals(scale: u32) -> String {
    if scale == 0 {
        String::new()
    } else {
        format!(".{}", "0".repeat(scale as usize))
    }
}

fn bracketed(body: String, series: Series) -> String {
    match series {
        Series::Main => body,
        Series::B => format!("({body})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats_carry_unit_decimals_and_brackets() {
        assert_eq!(number_format(0, Unit::Persons, Series::Main), "#,##0\"人\"");
        assert_eq!(number_format(1, Unit::Percent, Series::Main), "0.0\"%\"");
        assert_eq!(
            number_format(0, Unit::Households, Series::B),
            "(#,##0\"世帯\")"
        );
    }

    #[test]
    fn targets_and_achievements_have_formats_of_their_own() {
        assert_eq!(
            target_format(0, Unit::Persons, TargetKind::Cumulative),
            "\"累計\"#,##0\"人\""
        );
        assert_eq!(
            target_format(0, Unit::Persons, TargetKind::Annual),
            "\"年間\"#,##0\"人\""
        );
        assert_eq!(
            target_format(0, Unit::Times, TargetKind::AnnualMinimum),
            "#,##0\"回以上/年度\""
        );
        assert_eq!(
            target_format(1, Unit::Percent, TargetKind::Rate),
            "0.0\"%\""
        );
        assert_eq!(percent_format(1, Series::Main), "0.0%");
        assert_eq!(percent_format(0, Series::B), "(0%)");
    }

    #[test]
    fn page_header_and_footer_escape_ampersands_and_fit_excels_limit() {
        assert_eq!(
            page_header("R&D計画", "現在までの全記録、全期間の活動"),
            "&LR&&D計画&R現在までの全記録、全期間の活動"
        );
        let long = "長".repeat(300);
        let header = page_header(&long, "2025-03-31までの活動");
        assert!(
            utf16_len(&header) <= HEADER_FOOTER_LIMIT,
            "{}",
            utf16_len(&header)
        );
        assert!(header.ends_with("…&R2025-03-31までの活動"), "{header}");
        let ampersands = "&".repeat(300);
        let header = page_header(&ampersands, "x");
        assert!(utf16_len(&header) <= HEADER_FOOTER_LIMIT);
        let plan = header.trim_start_matches("&L").trim_end_matches("…&Rx");
        assert_eq!(
            plan.len() % 2,
            0,
            "no half of an escaped && is left: {header}"
        );
        let digest = "ab".repeat(32);
        let footer = page_footer(Some(&LogHead {
            tree: None,
            position: 335,
            digest: digest.clone(),
        }));
        assert_eq!(
            footer,
            format!("&L台帳の位置 335・ダイジェスト {digest}&R&P / &N")
        );
        // A signed tree head is named too: size, root and key fingerprint.
        let tree = TreeLabel {
            size: 335,
            root: "cd".repeat(32),
            fingerprint: "ef".repeat(32),
        };
        let footer = page_footer(Some(&LogHead {
            position: 335,
            digest: digest.clone(),
            tree: Some(tree.clone()),
        }));
        assert!(utf16_len(&footer) <= HEADER_FOOTER_LIMIT, "{footer}");
        assert!(footer.contains(&format!(
            "木 335・ルート {}・鍵 {}",
            tree.root, tree.fingerprint
        )));
        assert!(footer.contains(&digest), "both fit at 335 events: {footer}");
        // At a size whose digits no longer leave room, the tree head alone.
        let footer = page_footer(Some(&LogHead {
            position: 10_000_000_000_000,
            digest: digest.clone(),
            tree: Some(TreeLabel {
                size: 10_000_000_000_000,
                ..tree
            }),
        }));
        assert!(utf16_len(&footer) <= HEADER_FOOTER_LIMIT, "{footer}");
        assert!(footer.contains("木 10000000000000・ルート"), "{footer}");
        assert!(utf16_len(&footer) <= HEADER_FOOTER_LIMIT);
        assert_eq!(page_footer(None), "&R&P / &N");
    }
}
