//! The layout of the report's KPI一覧 ("No., 項目, 重要業績評価指標, 目標, one column per fiscal
//! year, 累計, 達成度"), shared by the Excel CSV and the XLSX workbook.

use std::fmt::Write;

use kpi_domain::{KpiRow, KpiTable, Series};

use crate::{csv_field, plain, plain_cell, target_label};

/// Excel decides a CSV file's encoding from its first bytes: without this mark it reads
/// Japanese as Shift_JIS and shows mojibake.
pub const UTF8_BOM: &str = "\u{feff}";

/// The No. column: "4" for a KPI, "4b" for the b-series printed beneath it.
pub(crate) fn number(row: &KpiRow) -> String {
    match row.series {
        Series::Main => row.kpi.clone(),
        Series::B => format!("{}b", row.kpi),
    }
}

/// The 項目 of each row, given only where a new group starts, as the report merges the cells
/// of one group.
pub(crate) fn categories(table: &KpiTable) -> Vec<Option<&str>> {
    let mut previous: Option<&str> = None;
    table
        .rows
        .iter()
        .map(|row| {
            let category = row.category.as_ref().map(|c| c.ja.as_str());
            if category == previous {
                None
            } else {
                previous = category;
                category
            }
        })
        .collect()
}

pub(crate) fn year_header(year: kpi_domain::FiscalYear) -> String {
    format!("{}年度", year.label())
}

/// The council's table as CSV for Excel: BOM, CRLF line ends, Japanese headers, plain
/// numbers (so Excel treats them as numbers) with the unit in its own column.
pub fn excel_csv(table: &KpiTable) -> Vec<u8> {
    let mut out = String::from(UTF8_BOM);
    out.push_str("No.,項目,重要業績評価指標,単位,目標");
    for year in &table.fiscal_years {
        write!(out, ",{}", year_header(*year)).unwrap();
    }
    out.push_str(",累計,達成度(%)\r\n");
    for (row, category) in table.rows.iter().zip(categories(table)) {
        write!(
            out,
            "{},{},{},{},{}",
            csv_field(&number(row)),
            csv_field(category.unwrap_or_default()),
            csv_field(&row.name.ja),
            row.unit.suffix_ja(),
            csv_field(&target_label(row)),
        )
        .unwrap();
        for cell in &row.cells {
            out.push(',');
            out.push_str(&csv_field(&plain_cell_ja(row, cell)));
        }
        write!(
            out,
            ",{},{}\r\n",
            plain(row.cumulative),
            plain(row.achievement)
        )
        .unwrap();
    }
    out.into_bytes()
}

/// A figure in another unit than its row keeps its Japanese unit ("19社").
fn plain_cell_ja(row: &KpiRow, cell: &kpi_domain::Cell) -> String {
    match (cell.value, cell.unit) {
        (Some(value), Some(unit)) if unit != row.unit => {
            format!("{value}{}", unit.suffix_ja())
        }
        _ => plain_cell(row, cell),
    }
}
