//! `/dashboard`: the read-only HTML dashboard, rendered here with maud (escaping included).

use std::sync::Arc;

use kpi_domain::{KpiTable, Series};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Path, Query};
use poem::{get, handler, post, Request, Response, Route};

use crate::access::{self, not_found, TableQuery, SESSION_COOKIE};
use crate::Web;

pub fn routes() -> Route {
    Route::new()
        .at("/", get(first_plan))
        .at("/session", post(session))
        .at("/:plan", get(plan_page))
        .at("/:plan/cells/:kpi/:series/:year", get(cell_page))
}

const STYLE: &str = "
body { font-family: 'Noto Sans CJK JP', sans-serif; margin: 1.5rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #aaa; padding: 0.3rem 0.5rem; }
th { background: #ddebf7; }
tr.late td { background: #fff4d6; }
.late-mark { font-size: 0.8em; color: #8a5a00; border: 1px solid #8a5a00; padding: 0 0.2em; }
td.n { text-align: right; white-space: nowrap; }
tr.b td { color: #555; }
.charts img { max-width: 48%; margin: 0.3rem; border: 1px solid #ddd; }
code { font-size: 0.85rem; word-break: break-all; }
";

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                title { (title) }
                style { (PreEscaped(STYLE)) }
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

/// The token form shown instead of a page the caller may not read.
fn login(refusal: poem::Error) -> poem::Error {
    if refusal.status() != StatusCode::UNAUTHORIZED {
        return refusal;
    }
    access::refusal(html_response(
        StatusCode::UNAUTHORIZED,
        page(
            "kpi-ledger: reader token",
            html! {
                h1 { "読み取りトークン / Reader token" }
                p { "This dashboard needs a reader token." }
                form method="post" action="/dashboard/session" {
                    input type="password" name="token" autocomplete="off";
                    button type="submit" { "Open" }
                }
            },
        ),
    ))
}

#[derive(serde::Deserialize)]
struct TokenForm {
    token: String,
}

/// Keeps a reader token in an HttpOnly cookie so the browser's page, image and download
/// requests carry it; a wrong token is refused here rather than on every later request.
#[handler]
async fn session(web: Data<&Arc<Web>>, Form(form): Form<TokenForm>) -> Response {
    let token = form.token.trim();
    let allowed = web
        .auth
        .from_token(token)
        .ok()
        .is_some_and(|caller| caller.require(kpi_service::auth::Role::Reader).is_ok());
    if !allowed || token.contains([';', ',', ' ']) {
        return html_response(
            StatusCode::UNAUTHORIZED,
            page("kpi-ledger", html! { p { "token: not a reader token" } }),
        );
    }
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/dashboard")
        .header(
            header::SET_COOKIE,
            format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"),
        )
        .finish()
}

#[handler]
async fn first_plan(
    req: &Request,
    web: Data<&Arc<Web>>,
    Query(query): Query<TableQuery>,
) -> Response {
    if let Err(refusal) = access::reader(&web, req) {
        return login(refusal).into_response();
    }
    match web.ledger.plans().first() {
        Some(plan) => Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(
                header::LOCATION,
                format!("/dashboard/{}{}", plan.id, query.suffix()),
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
    {
        access::reader(&web, req).map_err(login)?;
        let table = access::table(&web, &plan, &query).await?;
        let head = web.ledger.head();
        let findings = web.ledger.audit_findings();
        let markup = page(
            &format!("{} KPI", table.plan_name.ja),
            html! {
                h1 { (table.plan_name.ja) " KPI一覧" }
                (axes_line(&query)?)
                (axes_choice(&plan, &table, &query))
                p {
                    "Ledger head: position " span #head-position { (head.position) }
                    " · digest " code #digest { (head.hash) }
                }
                (kpi_table(&table, &query))
                p {
                    "Downloads: "
                    a href=(format!("/reports/{plan}/kpi.csv{}", query.suffix())) { "CSV (Excel)" } " · "
                    a href=(format!("/reports/{plan}/kpi.xlsx{}", query.suffix())) { "XLSX" } " · "
                    a href=(format!("/reports/{plan}/kpi.md{}", query.suffix())) { "Markdown" } " · "
                    a href=(format!("/reports/{plan}/kpi.json{}", query.suffix())) { "JSON" }
                }
                h2 { "グラフ / Charts" }
                div.charts {
                    img src=(format!("/reports/{plan}/charts/overview.svg{}", query.suffix())) alt="overview";
                    @for kpi in kpi_ids(&table) {
                        img loading="lazy" src=(format!("/reports/{plan}/charts/kpi-{kpi}.svg{}", query.suffix())) alt=(format!("KPI {kpi}"));
                    }
                }
                h2 { "監査所見 / Audit findings" }
                @if findings.is_empty() {
                    p { "None." }
                } @else {
                    ul #findings {
                        @for finding in &findings {
                            li { code { (format!("{:?}", finding.kind)) } " " (finding.message) }
                        }
                    }
                }
            },
        );
        Ok(html_response(StatusCode::OK, markup))
    }
}

/// Which axes the figures are for, in both languages.
fn axes_line(query: &TableQuery) -> poem::Result<Markup> {
    let axes = query.axes()?;
    Ok(html! {
        p #axes {
            "集計の基準: " span #axes-ja { (axes.ja()) } br;
            "Figures: " span #axes-en { (axes.en()) }
        }
    })
}

/// The two axes to choose: a form for any instant and date, and links to the end of each of
/// the plan's fiscal years (keeping the as-of instant).
fn axes_choice(plan: &str, table: &KpiTable, query: &TableQuery) -> Markup {
    html! {
        form #axes-form method="get" action=(format!("/dashboard/{plan}")) {
            label {
                "記録時点 / as of (recorded by): "
                input type="text" name="asOf" value=(query.as_of.as_deref().unwrap_or(""))
                    size="26" placeholder="2025-05-31T09:00:00+09:00";
            }
            " "
            label {
                "活動の期限 / through (activities up to): "
                input type="date" name="through" value=(query.through.as_deref().unwrap_or(""));
            }
            " "
            button type="submit" { "表示 / Show" }
        }
        p #through-links {
            "年度末まで / Through the end of: "
            @for year in &table.fiscal_years {
                a href=(format!("/dashboard/{plan}{}", query.with_through(Some(year.last_day())).suffix())) {
                    (year.label()) "年度末 (" (year.last_day()) ")"
                }
                " · "
            }
            a href=(format!("/dashboard/{plan}{}", query.with_through(None).suffix())) {
                "全期間 / all activities"
            }
        }
    }
}

fn kpi_ids(table: &KpiTable) -> Vec<&str> {
    let mut ids: Vec<&str> = table.rows.iter().map(|row| row.kpi.as_str()).collect();
    ids.dedup();
    ids
}

fn kpi_table(table: &KpiTable, query: &TableQuery) -> Markup {
    html! {
        table #kpi-table {
            thead {
                tr {
                    th { "No." } th { "重要業績評価指標" } th { "目標" }
                    @for year in &table.fiscal_years { th { (year.label()) "年度" } }
                    th { "累計" } th { "達成度" }
                }
            }
            tbody {
                @for row in &table.rows {
                    @let fields = kpi_report::human_row(row);
                    @let id = format!("kpi-{}{}", row.kpi, if row.series == Series::B { "b" } else { "" });
                    tr #(id) class=(if row.series == Series::B { "b" } else { "main" }) {
                        td { (fields[0]) } td { (fields[1]) } td { (fields[2]) }
                        @for (cell, text) in row.cells.iter().zip(&fields[3..]) {
                            td.n {
                                @if cell.event_ids.is_empty() {
                                    (text)
                                } @else {
                                    a.cell href=(format!(
                                        "/dashboard/{}/cells/{}/{}/{}{}",
                                        table.plan_id, row.kpi, row.series.as_str(), cell.fiscal_year.label(), query.suffix()
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
    {
        access::reader(&web, req).map_err(login)?;
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
        let fields = kpi_report::human_row(row);
        let column = 3 + row
            .cells
            .iter()
            .position(|c| c.fiscal_year == cell.fiscal_year)
            .unwrap_or(0);
        let markup = page(
            &format!("KPI {kpi} {year}"),
            html! {
                p { a href=(format!("/dashboard/{plan}{}", query.suffix())) { "← " (table.plan_name.ja) } }
                h1 { "KPI " (fields[0]) " " (row.name.ja) " — " (year) "年度: " span #cell-value { (fields[column]) } }
                (axes_line(&query)?)
                p { (events.len()) " contributing events" }
                table #events {
                    thead { tr { th { "Position" } th { "Recorded" } th { "Actor" } th { "Type" } th { "Provenance" } th { "Payload" } } }
                    tbody {
                        @for envelope in &events {
                            // Recorded after the plan's transfer, for one of its years.
                            @let late = cell.late_event_ids.contains(&envelope.event_id);
                            tr.late[late] {
                                td.n { (envelope.position) @if late { " " span.late-mark title="recorded after the plan was transferred" { "late" } } }
                                td { (envelope.recorded_at.to_rfc3339()) }
                                td { (envelope.actor) }
                                td { (envelope.event_type) }
                                td { (envelope.provenance.as_deref().unwrap_or("")) }
                                td { code { (serde_json::to_string(&envelope.payload).unwrap_or_default()) } }
                            }
                        }
                    }
                }
                @if !cell.amended_by.is_empty() {
                    p { "Amended by: " @for id in &cell.amended_by { code { (id) } " " } }
                }
            },
        );
        Ok(html_response(StatusCode::OK, markup))
    }
}
