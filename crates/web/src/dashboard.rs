//! `/dashboard`: the read-only HTML dashboard, rendered here with maud (escaping included).
//! Japanese by default, English with `?lang=en` (the words: `words.rs`); one stylesheet
//! (`dashboard.css`) for screens from 420 px wide up and for printing the KPI table as the
//! council's A4 landscape handout.

use std::sync::Arc;

use kpi_domain::calendar::jst;
use kpi_domain::{KpiRow, KpiTable, Series};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use poem::http::{header, StatusCode};
use poem::web::{Data, Path, Query};
use poem::{get, handler, Request, Response, Route};

use crate::access::{self, not_found, TableQuery};
use crate::findings;
use crate::words::{Lang, Words};
use crate::Web;

pub fn routes() -> Route {
    Route::new()
        .at("/", get(first_plan))
        .at("/:plan", get(plan_page))
        .at("/:plan/cells/:kpi/:series/:year", get(cell_page))
}

/// The stylesheet, naming the fonts the charts name.
fn style() -> &'static str {
    static STYLE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        include_str!("dashboard.css").replace("FONT_FALLBACKS", kpi_charts::FONT_FALLBACKS)
    });
    &STYLE
}

fn page(words: &Words, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(words.html_lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(style())) }
            }
            body { (body) }
        }
    }
}

fn html_response(status: StatusCode, markup: Markup) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

/// The sign-in form shown instead of a page the caller may not read, coming back here after.
fn login(refusal: poem::Error, req: &Request, lang: Lang) -> poem::Error {
    if refusal.status() != StatusCode::UNAUTHORIZED {
        return refusal;
    }
    let here = crate::layout::here("/dashboard", req);
    let message = lang.words().token_needed;
    access::refusal(crate::layout::respond(
        StatusCode::UNAUTHORIZED,
        crate::workbench::sign_in_page(&here, lang, &here, Some(message), None),
    ))
}

#[handler]
async fn first_plan(
    req: &Request,
    web: Data<&Arc<Web>>,
    Query(query): Query<TableQuery>,
) -> Response {
    let lang = query.lang().unwrap_or_default();
    if let Err(refusal) = access::reader(&web, req) {
        return login(refusal, req, lang).into_response();
    }
    match web.ledger.plans().first() {
        Some(plan) => Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(
                header::LOCATION,
                format!("/dashboard/{}{}", plan.id, query.page_suffix()),
            )
            .finish(),
        None => not_found("no plan is configured").into_response(),
    }
}

#[handler]
async fn plan_page(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path(plan): Path<String>,
    Query(query): Query<TableQuery>,
) -> poem::Result<Response> {
    let lang = query.lang()?;
    let words = lang.words();
    access::reader(&web, req).map_err(|refusal| login(refusal, req, lang))?;
    let table = access::table(&web, &plan, &query).await?;
    let head = web.ledger.head();
    // With a signing key the printed table names the signed tree head it was read at.
    let tree = match &web.signer {
        Some(signer) => Some(
            web.ledger
                .signed_head(signer, Some(head.position))
                .map_err(|error| {
                    tracing::error!(%error, "cannot sign the page's tree head");
                    access::refusal(
                        Response::builder()
                            .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
                            .body("cannot sign the tree head\n"),
                    )
                })?,
        ),
        None => None,
    };
    let findings = web.ledger.audit_findings();
    let axes = query.axes()?;
    let data = query.suffix();
    let plan_name = match lang {
        Lang::Ja => &table.plan_name.ja,
        Lang::En => &table.plan_name.en,
    };
    let markup = page(
        words,
        &format!("{plan_name} {}", words.table_title),
        html! {
            (language_switch(&format!("/dashboard/{plan}"), &query, words))
            h1 { (plan_name) " " (words.table_title) }
            p #axes { (words.figures_for) ": " span #axes-text { (words.axes(&axes)) } }
            div.no-print {
                (axes_choice(&plan, &table, &query, words))
            }
            div.table-wrap { (kpi_table(&table, &query, words)) }
            p #head {
                (words.ledger_head) ": " (words.position) " " span #head-position { (head.position) }
                " · " (words.digest) " " code #digest { (head.hash) }
            }
            @if let Some(tree) = &tree {
                p #tree-head {
                    (words.signed_tree_head) " " span #tree-size { (tree.tree_size) }
                    " · " (words.tree_root) " " code #tree-root { (tree.root_hash) }
                    " · " (words.key_fingerprint) " " code #key-fingerprint { (tree.key_fingerprint) }
                }
            }
            p.help.no-print { (words.print_hint) }
            p #downloads .no-print {
                (words.downloads) ": "
                a href=(format!("/reports/{plan}/kpi.csv{data}")) { (words.csv_for_excel) } " · "
                a href=(format!("/reports/{plan}/kpi.xlsx{data}")) { "XLSX" } " · "
                a href=(format!("/reports/{plan}/kpi.md{data}")) { "Markdown" } " · "
                a href=(format!("/reports/{plan}/kpi.json{data}")) { "JSON" }
            }
            section.no-print {
                h2 { (words.charts) }
                div.charts {
                    img src=(format!("/reports/{plan}/charts/overview.svg{data}")) alt=(words.overview_alt);
                    @for kpi in kpi_ids(&table) {
                        img loading="lazy" src=(format!("/reports/{plan}/charts/kpi-{kpi}.svg{data}"))
                            alt=(format!("KPI {kpi} {}", words.kpi_chart_alt));
                    }
                }
            }
            section.no-print {
                h2 { (words.findings) }
                @if findings.is_empty() {
                    p { (words.no_findings) }
                } @else {
                    ul #findings {
                        @for finding in &findings {
                            @let (title, sentence) = findings::explain(finding.kind, lang);
                            li {
                                span.finding-title { (title) }
                                span.finding-code { (findings::code(finding.kind)) }
                                br;
                                (sentence)
                                br;
                                span.finding-detail {
                                    (words.finding_detail) ": "
                                    @if let Some(place) = findings::place(finding, lang) {
                                        (place) " — "
                                    }
                                    (finding.message)
                                }
                            }
                        }
                    }
                }
            }
        },
    );
    Ok(html_response(StatusCode::OK, markup))
}

/// The link to the same page in the other language.
fn language_switch(path: &str, query: &TableQuery, words: &Words) -> Markup {
    let other = words.other;
    html! {
        p.lang.no-print {
            a #to-workbench href=(crate::layout::href("/workbench/events", words.lang)) {
                (crate::workbench::words::WbWords::of(words.lang).nav_events)
            }
            " · "
            a href=(format!("{path}{}", query.with_lang(other).page_suffix()))
                lang=(other.words().html_lang) { (words.other_language) }
        }
    }
}

/// The two axes to choose, with what they mean: a form for any instant and date, and links
/// to the end of each of the plan's fiscal years (keeping the as-of instant).
fn axes_choice(plan: &str, table: &KpiTable, query: &TableQuery, words: &Words) -> Markup {
    html! {
        form #axes-form method="get" action=(format!("/dashboard/{plan}")) {
            label {
                (words.as_of_label) " "
                input type="text" name="asOf" value=(query.as_of.as_deref().unwrap_or(""))
                    size="26" placeholder="2025-05-31T09:00:00+09:00";
            }
            label {
                (words.through_label) " "
                input type="date" name="through" value=(query.through.as_deref().unwrap_or(""));
            }
            @if let Some(lang) = words.lang.param() {
                input type="hidden" name="lang" value=(lang);
            }
            button type="submit" { (words.show) }
        }
        div.help #axes-help {
            @for sentence in words.axes_help { p { (sentence) } }
        }
        p #through-links {
            (words.through_end_of) ": "
            @for year in &table.fiscal_years {
                a href=(format!("/dashboard/{plan}{}", query.with_through(Some(year.last_day())).page_suffix())) {
                    (words.year_end(*year))
                }
                " · "
            }
            a href=(format!("/dashboard/{plan}{}", query.with_through(None).page_suffix())) {
                (words.all_activities)
            }
        }
    }
}

fn kpi_ids(table: &KpiTable) -> Vec<&str> {
    let mut ids: Vec<&str> = table.rows.iter().map(|row| row.kpi.as_str()).collect();
    ids.dedup();
    ids
}

/// A row's fields as the report prints them, with the indicator's name in the page's
/// language.
fn row_fields(row: &KpiRow, words: &Words) -> Vec<String> {
    let mut fields = kpi_report::human_row(row);
    if words.lang == Lang::En {
        fields[1] = row.name.en.clone();
    }
    fields
}

fn kpi_table(table: &KpiTable, query: &TableQuery, words: &Words) -> Markup {
    html! {
        table #kpi-table {
            thead {
                tr {
                    th { "No." } th { (words.col_indicator) } th { (words.col_target) }
                    @for year in &table.fiscal_years { th { (words.year(*year)) } }
                    th { (words.col_cumulative) } th { (words.col_achievement) }
                }
            }
            tbody {
                @for row in &table.rows {
                    @let fields = row_fields(row, words);
                    @let id = format!("kpi-{}{}", row.kpi, if row.series == Series::B { "b" } else { "" });
                    tr #(id) class=(if row.series == Series::B { "b" } else { "main" }) {
                        td { (fields[0]) } td.name { (fields[1]) } td { (fields[2]) }
                        @for (cell, text) in row.cells.iter().zip(&fields[3..]) {
                            td.n {
                                @if cell.event_ids.is_empty() {
                                    (text)
                                } @else {
                                    a.cell href=(format!(
                                        "/dashboard/{}/cells/{}/{}/{}{}",
                                        table.plan_id, row.kpi, row.series.as_str(), cell.fiscal_year.label(), query.page_suffix()
                                    )) { (text) }
                                }
                            }
                        }
                        td.n.cumulative { (fields[fields.len() - 2]) }
                        td.n.achievement { (fields[fields.len() - 1]) }
                    }
                }
            }
        }
    }
}

#[handler]
async fn cell_page(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path((plan, kpi, series, year)): Path<(String, String, String, String)>,
    Query(query): Query<TableQuery>,
) -> poem::Result<Response> {
    let lang = query.lang()?;
    let words = lang.words();
    access::reader(&web, req).map_err(|refusal| login(refusal, req, lang))?;
    let series = match series.as_str() {
        "main" => Series::Main,
        "b" => Series::B,
        other => {
            return Err(access::bad_request(
                "series",
                &format!("`{other}` is neither main nor b"),
            ))
        }
    };
    let table = access::table(&web, &plan, &query).await?;
    let row = table.row(&kpi, series).ok_or_else(|| {
        not_found(&format!(
            "no KPI {kpi} ({}) in plan `{plan}`",
            series.as_str()
        ))
    })?;
    let cell = row
        .cells
        .iter()
        .find(|cell| cell.fiscal_year.label() == year)
        .ok_or_else(|| not_found(&format!("no fiscal year {year} in plan `{plan}`")))?;
    let mut events = Vec::new();
    for id in &cell.event_ids {
        match web.ledger.event(*id) {
            Ok(Some((envelope, _))) => events.push(envelope),
            Ok(None) => {}
            Err(error) if error.is_storage_failure() => {
                return Err(access::storage_unavailable(&error));
            }
            Err(error) => {
                tracing::error!(%error, %id, "cannot read a contributing event");
                return Err(not_found("cannot read a contributing event"));
            }
        }
    }
    let fields = row_fields(row, words);
    let column = 3 + row
        .cells
        .iter()
        .position(|c| c.fiscal_year == cell.fiscal_year)
        .unwrap_or(0);
    let plan_name = match lang {
        Lang::Ja => &table.plan_name.ja,
        Lang::En => &table.plan_name.en,
    };
    let axes = query.axes()?;
    let markup = page(
        words,
        &format!("KPI {} {}", fields[0], words.year(cell.fiscal_year)),
        html! {
            (language_switch(&format!("/dashboard/{plan}/cells/{kpi}/{}/{year}", series.as_str()), &query, words))
            p.no-print { a href=(format!("/dashboard/{plan}{}", query.page_suffix())) { "← " (plan_name) } }
            h1 {
                "KPI " (fields[0]) " " (fields[1]) " — " (words.year(cell.fiscal_year)) ": "
                span #cell-value { (fields[column]) }
            }
            p #axes { (words.figures_for) ": " span #axes-text { (words.axes(&axes)) } }
            p #contributing { (words.contributing(events.len())) }
            div.table-wrap {
                table #events {
                    thead {
                        tr {
                            th { (words.col_position) } th { (words.col_recorded) } th { (words.col_actor) }
                            th { (words.col_type) } th { (words.col_provenance) } th { (words.col_payload) }
                        }
                    }
                    tbody {
                        @for envelope in &events {
                            // Recorded after the plan's transfer, for one of its years.
                            @let late = cell.late_event_ids.contains(&envelope.event_id);
                            tr.late[late] {
                                td.n {
                                    a.event href=(crate::layout::href(&format!("/workbench/events/{}", envelope.event_id), lang)) { (envelope.position) }
                                    @if late { " " span.late-mark title=(words.late_title) { (words.late) } }
                                }
                                td.n { (envelope.recorded_at.with_timezone(&jst()).format("%Y-%m-%d %H:%M:%S")) }
                                td { (envelope.actor) }
                                td {
                                    @match kpi_domain::EventKind::from_name(&envelope.event_type) {
                                        Some(kind) => (crate::workbench::kind_name(kind, lang)),
                                        None => (envelope.event_type),
                                    }
                                }
                                td { (envelope.provenance.as_deref().unwrap_or("")) }
                                td { code { (serde_json::to_string(&envelope.payload).unwrap_or_default()) } }
                            }
                        }
                    }
                }
            }
            @if !cell.amended_by.is_empty() {
                p { (words.amended_by) ": " @for id in &cell.amended_by { code { (id) } " " } }
            }
        },
    );
    Ok(html_response(StatusCode::OK, markup))
}
