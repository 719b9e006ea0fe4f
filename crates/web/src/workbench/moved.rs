//! The KPI cells an event moved: the projection's own answer (the cells whose contributing
//! events, or amendments, include it), with each cell's figure in the table as recorded up to
//! just before the event and up to the event itself, so another clerk's later records do not
//! show as this one's.

use chrono::Duration;
use kpi_domain::KpiTable;
use kpi_service::{Detail, Envelope, TableQuery, View};
use maud::{html, Markup};

use super::record_words::RecWords;
use crate::words::Lang;
use crate::Web;

/// One cell an event counts in.
pub struct MovedCell {
    pub plan_name: String,
    pub kpi: String,
    pub kpi_name: String,
    pub year: String,
    pub before: String,
    pub after: String,
    /// The dashboard's drill-down of the cell.
    pub href: String,
}

/// The table of `plan` as recorded up to `at`; its drill-down only when `detail`.
async fn table_at(
    web: &Web,
    plan: &str,
    at: chrono::DateTime<chrono::Utc>,
    detail: Detail,
) -> poem::Result<Option<KpiTable>> {
    let query = TableQuery::new(plan)
        .in_view(View::new(Some(at), None))
        .with_detail(detail);
    match web.ledger.table(&query).await {
        Ok(answer) => Ok(Some(answer.table)),
        Err(kpi_service::LedgerError::UnknownPlan(_)) => Ok(None),
        Err(error) if error.is_storage_failure() => Err(crate::access::storage_unavailable(&error)),
        Err(error) => {
            tracing::error!(%error, "cannot build the KPI table");
            Err(crate::access::not_found("cannot build the KPI table"))
        }
    }
}

/// Every cell of every plan in force the event counts in or amended.
pub async fn cells(web: &Web, envelope: &Envelope, lang: Lang) -> poem::Result<Vec<MovedCell>> {
    let id = envelope.event_id;
    let mut moved = Vec::new();
    for plan in web.ledger.plans() {
        let plan_id = plan.id.as_str();
        let Some(after) = table_at(web, plan_id, envelope.recorded_at, Detail::DrillDown).await?
        else {
            continue;
        };
        let touched: Vec<(usize, usize)> = after
            .rows
            .iter()
            .enumerate()
            .flat_map(|(row_at, row)| {
                row.cells
                    .iter()
                    .enumerate()
                    .filter(|(_, cell)| {
                        cell.event_ids.contains(&id) || cell.amended_by.contains(&id)
                    })
                    .map(move |(cell_at, _)| (row_at, cell_at))
            })
            .collect();
        if touched.is_empty() {
            continue;
        }
        let before = table_at(
            web,
            plan_id,
            envelope.recorded_at - Duration::nanoseconds(1),
            Detail::Figures,
        )
        .await?;
        let plan_name = match lang {
            Lang::Ja => after.plan_name.ja.clone(),
            Lang::En => after.plan_name.en.clone(),
        };
        for (row_at, cell_at) in touched {
            let row = &after.rows[row_at];
            let cell = &row.cells[cell_at];
            let after_text = kpi_report::human_row(row);
            let before_text = before
                .as_ref()
                .and_then(|table| table.row(&row.kpi, row.series))
                .and_then(|row| {
                    let at = row
                        .cells
                        .iter()
                        .position(|c| c.fiscal_year == cell.fiscal_year)?;
                    kpi_report::human_row(row).get(3 + at).cloned()
                })
                .unwrap_or_default();
            moved.push(MovedCell {
                plan_name: plan_name.clone(),
                kpi: after_text[0].clone(),
                kpi_name: match lang {
                    Lang::Ja => row.name.ja.clone(),
                    Lang::En => row.name.en.clone(),
                },
                year: lang.words().year(cell.fiscal_year),
                before: before_text,
                after: after_text.get(3 + cell_at).cloned().unwrap_or_default(),
                href: format!(
                    "/dashboard/{plan_id}/cells/{}/{}/{}",
                    row.kpi,
                    row.series.as_str(),
                    cell.fiscal_year.label()
                ),
            });
        }
    }
    Ok(moved)
}

/// The cells as a table, or a sentence saying there are none.
pub fn table(cells: &[MovedCell], lang: Lang) -> Markup {
    let words = RecWords::of(lang);
    html! {
        @if cells.is_empty() {
            p #moved-none { (words.no_cells) }
        } @else {
            div.table-wrap {
                table #moved {
                    thead { tr {
                        th scope="col" { (words.col_plan) } th scope="col" { (words.col_kpi) }
                        th scope="col" { (words.col_year) } th scope="col" { (words.col_before) }
                        th scope="col" { (words.col_after) }
                    } }
                    tbody {
                        @for cell in cells {
                            tr {
                                td { (cell.plan_name) }
                                td { (cell.kpi) " " (cell.kpi_name) }
                                td { (cell.year) }
                                td.n.before { (cell.before) }
                                td.n.after { a href=(crate::layout::href(&cell.href, lang)) { (cell.after) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
