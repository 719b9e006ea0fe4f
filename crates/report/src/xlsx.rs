//! The council's KPI一覧 as an Excel workbook.

use kpi_domain::{KpiRow, KpiTable, Series, Unit};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

use crate::council::{categories, number, year_header};
use crate::target_label;

/// The sheet's name, for readers of the workbook.
pub const SHEET_NAME: &str = "KPI一覧";
/// Row (0-based) of the header line; rows of the table follow it.
pub const HEADER_ROW: u32 = 1;
/// Shown where a fiscal year has no figure, as the report prints it; a blank cell would be
/// summed as zero by Excel.
pub const NO_FIGURE: &str = "—";

/// One sheet: a title line, then No., 項目, 重要業績評価指標, 目標, one column per fiscal
/// year, 累計, 達成度. Figures are numbers whose display format carries the unit (and the
/// brackets of a b-series row), so the sheet reads like the report and still computes.
pub fn xlsx(table: &KpiTable) -> Result<Vec<u8>, XlsxError> {
    xlsx_titled(table, None)
}

/// The workbook with `note` (which axes the figures are for) in brackets after the title.
pub(crate) fn xlsx_titled(table: &KpiTable, note: Option<String>) -> Result<Vec<u8>, XlsxError> {
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
        sheet.write_string_with_format(line, 3, target_label(row), &text)?;
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
            Some(value) => write_figure(sheet, line, cumulative + 1, value, row, Unit::Percent)?,
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
    workbook.save_to_buffer()
}

fn column_index(column: usize) -> u16 {
    u16::try_from(column).expect("a KPI table has far fewer columns than a sheet")
}

/// Writes an exact decimal as a spreadsheet number. A sheet cell is an IEEE double by the
/// file format's definition; the figures of a KPI table (counts and one-decimal rates) convert
/// without loss, and nothing is computed on the converted value here.
fn write_figure(
    sheet: &mut rust_xlsxwriter::Worksheet,
    line: u32,
    column: u16,
    value: Decimal,
    row: &KpiRow,
    unit: Unit,
) -> Result<(), XlsxError> {
    let number = value.to_f64().expect("every Decimal has a nearest double");
    let format = Format::new()
        .set_border(FormatBorder::Thin)
        .set_num_format(number_format(value.scale(), unit, row.series));
    sheet.write_number_with_format(line, column, number, &format)?;
    Ok(())
}

/// `#,##0"人"`, `0.0"%"`, `(#,##0"人")` for a b-series row: the report's look, with the
/// decimals the figure has (156.5% keeps one, 100% none).
fn number_format(scale: u32, unit: Unit, series: Series) -> String {
    let digits = if unit == Unit::Percent { "0" } else { "#,##0" };
    let decimals = if scale == 0 {
        String::new()
    } else {
        format!(".{}", "0".repeat(scale as usize))
    };
    let body = format!("{digits}{decimals}\"{}\"", unit.suffix_ja());
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
}
