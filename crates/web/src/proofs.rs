//! `/proof/...` and `/.well-known/kpi-ledger/public-key`: the ledger's proofs over HTTP, as
//! JSON (see `kpi_service::proofs`). Reader role, like the reports; the public key is public.
//!
//! - `GET /proof/head[?size=N]`: the signed tree head at `N` (default: the log's head);
//! - `GET /proof/inclusion?position=P[&size=N]`: event `P`'s chain hash and audit path in
//!   the tree of `N` (default: the head), with the signed head at `N`;
//! - `GET /proof/consistency?old=M[&new=N]`: the consistency proof from `M` to `N` (default:
//!   the head), with the signed head at `N`;
//! - `GET /proof/cell?plan=&kpi=&series=&year=`: the cell's proof bundle (also signs a head).

use std::sync::Arc;

use kpi_domain::{FiscalYear, Series};
use kpi_service::proofs::{CellRef, HeadSigner};
use kpi_service::LedgerError;
use poem::http::StatusCode;
use poem::web::{Data, Query};
use poem::{get, handler, Request, Response, Route};
use serde::Deserialize;
use serde_json::json;

use crate::access::{self, bad_request, not_found, refusal};
use crate::Web;

pub fn routes() -> Route {
    Route::new()
        .at("/head", get(signed_head))
        .at("/inclusion", get(inclusion))
        .at("/consistency", get(consistency))
        .at("/cell", get(cell))
}

pub fn well_known() -> Route {
    Route::new().at("/public-key", get(public_key))
}

fn json_response(value: &impl serde::Serialize) -> Response {
    Response::builder()
        .content_type("application/json")
        .body(serde_json::to_vec(value).unwrap_or_default())
}

fn signer(web: &Web) -> poem::Result<&HeadSigner> {
    web.signer.as_deref().ok_or_else(|| {
        refusal(
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .content_type("text/plain; charset=utf-8")
                .body("no signing key: set [proof] key_file (kpi-ledger key new --out FILE)\n"),
        )
    })
}

fn ledger_error(error: LedgerError) -> poem::Error {
    match error {
        LedgerError::Store(kpi_service::StoreError::BeyondHead { what, asked, head }) => {
            bad_request(what, &format!("{asked} is beyond {head}"))
        }
        LedgerError::UnknownCell(which) => not_found(&format!("no cell {which}")),
        other => {
            tracing::error!(error = %other, "cannot answer a proof request");
            refusal(
                Response::builder()
                    .status(StatusCode::INTERNAL_SERVER_ERROR)
                    .body("cannot answer the proof request\n"),
            )
        }
    }
}

#[derive(Deserialize)]
struct SizeQuery {
    size: Option<u64>,
    position: Option<u64>,
    old: Option<u64>,
    new: Option<u64>,
}

#[handler]
async fn public_key(web: Data<&Arc<Web>>) -> poem::Result<Response> {
    let signer = signer(&web)?;
    Ok(Response::builder()
        .content_type("text/plain; charset=utf-8")
        .body(format!(
            "# kpi-ledger Ed25519 public key; fingerprint (SHA-256 of the raw key): {}\n{}\n",
            signer.fingerprint(),
            kpi_proof::public_key_hex(&signer.public_key())
        )))
}

#[handler]
async fn signed_head(
    req: &Request,
    web: Data<&Arc<Web>>,
    Query(query): Query<SizeQuery>,
) -> poem::Result<Response> {
    access::reader(&web, req)?;
    let signed = web
        .ledger
        .signed_head(signer(&web)?, query.size)
        .map_err(ledger_error)?;
    Ok(json_response(&signed))
}

#[handler]
async fn inclusion(
    req: &Request,
    web: Data<&Arc<Web>>,
    Query(query): Query<SizeQuery>,
) -> poem::Result<Response> {
    access::reader(&web, req)?;
    let position = query
        .position
        .ok_or_else(|| bad_request("position", "is required"))?;
    let size = query.size.unwrap_or_else(|| web.ledger.head().position);
    let store = web.ledger.store();
    let proof = store
        .inclusion_proof(position, size)
        .map_err(|e| ledger_error(e.into()))?;
    let event = store
        .iter_raw_from(position)
        .next()
        .transpose()
        .map_err(|e| ledger_error(e.into()))?
        .ok_or_else(|| not_found("no such position"))?;
    let head = web
        .ledger
        .signed_head(signer(&web)?, Some(size))
        .map_err(ledger_error)?;
    Ok(json_response(&json!({
        "position": position,
        "tree_size": size,
        "hash": event.hash.to_hex(),
        "inclusion_proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
        "head": head,
    })))
}

#[handler]
async fn consistency(
    req: &Request,
    web: Data<&Arc<Web>>,
    Query(query): Query<SizeQuery>,
) -> poem::Result<Response> {
    access::reader(&web, req)?;
    let old = query.old.ok_or_else(|| bad_request("old", "is required"))?;
    let new = query.new.unwrap_or_else(|| web.ledger.head().position);
    let proof = web
        .ledger
        .store()
        .consistency_proof(old, new)
        .map_err(|e| ledger_error(e.into()))?;
    let head = web
        .ledger
        .signed_head(signer(&web)?, Some(new))
        .map_err(ledger_error)?;
    Ok(json_response(&json!({
        "old": old,
        "new": new,
        "consistency_proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
        "head": head,
    })))
}

#[derive(Deserialize)]
struct CellQuery {
    plan: String,
    kpi: String,
    series: Option<String>,
    year: String,
}

#[handler]
async fn cell(
    req: &Request,
    web: Data<&Arc<Web>>,
    Query(query): Query<CellQuery>,
) -> poem::Result<Response> {
    access::reader(&web, req)?;
    let series = match query.series.as_deref() {
        None | Some("main") => Series::Main,
        Some("b") => Series::B,
        Some(other) => {
            return Err(bad_request(
                "series",
                &format!("`{other}` is not a series; expected main or b"),
            ))
        }
    };
    let fiscal_year: FiscalYear = query
        .year
        .parse()
        .map_err(|e| bad_request("year", &format!("{e}")))?;
    let bundle = web
        .ledger
        .cell_bundle(
            signer(&web)?,
            CellRef {
                plan: query.plan,
                kpi: query.kpi,
                series,
                fiscal_year,
            },
        )
        .await
        .map_err(ledger_error)?;
    Ok(json_response(&bundle))
}
