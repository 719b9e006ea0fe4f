//! `/reports/{plan}/...`: the KPI table and its charts as files.

use std::sync::Arc;

use kpi_report::Format;
use poem::http::header;
use poem::web::{Data, Path, Query};
use poem::{get, handler, Request, Response, Route};

use crate::access::{self, not_found, TableQuery};
use crate::Web;

pub fn routes() -> Route {
    Route::new()
        .at("/:plan/:file", get(table_file))
        .at("/:plan/charts/:file", get(chart))
}

#[handler]
async fn table_file(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path((plan, file)): Path<(String, String)>,
    Query(query): Query<TableQuery>,
) -> poem::Result<Response> {
    {
        access::reader(&web, req)?;
        let format = match (file.as_str(), query.form.as_deref()) {
            ("kpi.csv", Some("machine")) => Format::Csv,
            ("kpi.csv", None | Some("excel")) => Format::ExcelCsv,
            ("kpi.csv", Some(other)) => {
                return Err(access::bad_request(
                    "form",
                    &format!("`{other}` is not a CSV form; expected excel or machine"),
                ))
            }
            ("kpi.xlsx", _) => Format::Xlsx,
            ("kpi.md", _) => Format::Markdown,
            ("kpi.json", _) => Format::Json,
            _ => {
                return Err(not_found(
                    "no such report: expected kpi.csv, kpi.xlsx, kpi.md or kpi.json",
                ))
            }
        };
        let table = access::table(&web, &plan, &query).await?;
        // Read after the table: no event it counts lies beyond this head.
        let head = web.ledger.head();
        // A head is signed at every export when the server has a key; the export names it.
        let tree = match &web.signer {
            Some(signer) => {
                let signed = web
                    .ledger
                    .signed_head(signer, Some(head.position))
                    .map_err(|error| {
                        tracing::error!(%error, "cannot sign the export's tree head");
                        server_error()
                    })?;
                Some(kpi_report::TreeLabel {
                    size: signed.tree_size,
                    root: signed.root_hash,
                    fingerprint: signed.key_fingerprint,
                })
            }
            None => None,
        };
        let head = kpi_report::LogHead {
            position: head.position,
            digest: head.hash.to_string(),
            tree,
        };
        let body = kpi_report::render_at(&table, format, &query.axes()?, Some(&head)).map_err(
            |error| {
                tracing::error!(%error, "cannot render the report");
                server_error()
            },
        )?;
        Ok(Response::builder()
            .content_type(format.content_type())
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{plan}-{file}\""),
            )
            .body(body))
    }
}

#[handler]
async fn chart(
    req: &Request,
    web: Data<&Arc<Web>>,
    Path((plan, file)): Path<(String, String)>,
    Query(query): Query<TableQuery>,
) -> poem::Result<Response> {
    {
        access::reader(&web, req)?;
        let Some(name) = file.strip_suffix(".svg") else {
            return Err(not_found("charts are .svg files"));
        };
        let table = access::table(&web, &plan, &query).await?;
        let svg = match name {
            "overview" => kpi_charts::overview(&table).map(Some),
            _ => match name.strip_prefix("kpi-") {
                Some(kpi) => kpi_charts::kpi_chart(&table, kpi),
                None => Ok(None),
            },
        }
        .map_err(|error| {
            tracing::error!(%error, "cannot draw the chart");
            server_error()
        })?
        .ok_or_else(|| not_found(&format!("no chart `{file}` in plan `{plan}`")))?;
        Ok(Response::builder()
            .content_type("image/svg+xml; charset=utf-8")
            .body(svg))
    }
}

fn server_error() -> poem::Error {
    access::refusal(
        Response::builder()
            .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
            .body("cannot render the report\n"),
    )
}
