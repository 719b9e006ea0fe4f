//! Where a projection's answers differ from the reference fold's, in words a reader can check.

use super::{finding_key, Recomputed};
use crate::audit::AuditFinding;
use crate::plan::Series;
use crate::projection::{KpiRow, KpiTable, Projection};

/// Every difference between `projection` and `recomputed`: tables cell by cell (value, unit,
/// drill-down, amendments, late entries), cumulative, achievement and baseline of each row,
/// findings (by [`finding_key`]) and transfer reports. Empty when they agree.
pub fn differences(projection: &Projection, recomputed: &Recomputed) -> Vec<String> {
    let mut found = Vec::new();
    let live = projection.tables();
    for expected in &recomputed.tables {
        match live.iter().find(|table| table.plan_id == expected.plan_id) {
            Some(table) => table_differences(table, expected, &mut found),
            None => found.push(format!("plan {}: no live table", expected.plan_id)),
        }
    }
    for table in &live {
        if recomputed.table(&table.plan_id).is_none() {
            found.push(format!("plan {}: not in the reference", table.plan_id));
        }
    }
    let mut findings = projection.audit_findings();
    findings.sort_by_key(finding_key);
    let keys = |findings: &[AuditFinding]| findings.iter().map(finding_key).collect::<Vec<_>>();
    let (live_keys, reference_keys) = (keys(&findings), keys(&recomputed.findings));
    for key in &live_keys {
        if !reference_keys.contains(key) {
            found.push(format!("finding only in the live table: {key:?}"));
        }
    }
    for key in &reference_keys {
        if !live_keys.contains(key) {
            found.push(format!("finding missing from the live table: {key:?}"));
        }
    }
    for expected in &recomputed.transfers {
        match projection.transfer_report(&expected.predecessor) {
            Some(report) if report == *expected => {}
            Some(report) => {
                for (entry, wanted) in report.entries.iter().zip(&expected.entries) {
                    if entry != wanted {
                        found.push(format!(
                            "transfer {} -> {}, KPI {}: live baseline {:?} (now {:?}, \
                             adjustment {:?}), reference {:?} (now {:?}, adjustment {:?})",
                            expected.predecessor,
                            expected.successor,
                            wanted.successor_kpi,
                            entry.baseline,
                            entry.current_baseline,
                            entry.adjustment,
                            wanted.baseline,
                            wanted.current_baseline,
                            wanted.adjustment
                        ));
                    }
                }
                if report.entries.len() != expected.entries.len() {
                    found.push(format!(
                        "transfer {}: {} entries live, {} in the reference",
                        expected.predecessor,
                        report.entries.len(),
                        expected.entries.len()
                    ));
                }
            }
            None => found.push(format!(
                "transfer {}: no live transfer report",
                expected.predecessor
            )),
        }
    }
    found
}

fn row_name(row: &KpiRow) -> String {
    format!(
        "KPI {}{}",
        row.kpi,
        if row.series == Series::B { "b" } else { "" }
    )
}

fn table_differences(live: &KpiTable, expected: &KpiTable, found: &mut Vec<String>) {
    let plan = &expected.plan_id;
    if live.fiscal_years != expected.fiscal_years {
        found.push(format!(
            "plan {plan}: years {:?} live, {:?} in the reference",
            live.fiscal_years, expected.fiscal_years
        ));
    }
    for wanted in &expected.rows {
        let name = row_name(wanted);
        let Some(row) = live.row(&wanted.kpi, wanted.series) else {
            found.push(format!("plan {plan}, {name}: no live row"));
            continue;
        };
        let mut differ = |what: &str, live: String, reference: String| {
            if live != reference {
                found.push(format!(
                    "plan {plan}, {name}{what}: live {live}, reference {reference}"
                ));
            }
        };
        for cell in &wanted.cells {
            let year = cell.fiscal_year.label();
            let Some(mine) = row.cell(cell.fiscal_year) else {
                differ(&format!(" {year}"), "no cell".into(), "a cell".into());
                continue;
            };
            differ(
                &format!(" {year} value"),
                format!("{:?} {:?}", mine.value, mine.unit),
                format!("{:?} {:?}", cell.value, cell.unit),
            );
            differ(
                &format!(" {year} events"),
                format!("{:?}", mine.event_ids),
                format!("{:?}", cell.event_ids),
            );
            differ(
                &format!(" {year} amended by"),
                format!("{:?}", mine.amended_by),
                format!("{:?}", cell.amended_by),
            );
            differ(
                &format!(" {year} late entries"),
                format!("{:?}", mine.late_event_ids),
                format!("{:?}", cell.late_event_ids),
            );
        }
        differ(
            " cumulative",
            format!("{:?}", row.cumulative),
            format!("{:?}", wanted.cumulative),
        );
        differ(
            " achievement",
            format!("{:?}", row.achievement),
            format!("{:?}", wanted.achievement),
        );
        differ(
            " baseline",
            format!("{:?}", row.baseline),
            format!("{:?}", wanted.baseline),
        );
    }
    for row in &live.rows {
        if expected.row(&row.kpi, row.series).is_none() {
            found.push(format!(
                "plan {plan}, {}: not in the reference",
                row_name(row)
            ));
        }
    }
}
