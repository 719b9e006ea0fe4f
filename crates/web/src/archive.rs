//! `/admin/archive`: the whole log as an archive (the format of `kpi-ledger archive export`,
//! trailer included), streamed from the running server. Admin only, by bearer token.

use std::sync::Arc;

use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{get, handler, Body, Request, Response, Route};
use tokio::sync::Semaphore;

use crate::access;
use crate::Web;

/// Pieces (64 KiB each) between the store reader and the connection: what one export holds.
const PIECES_IN_FLIGHT: usize = 4;

/// One export at a time: each walks the whole log, and two at once would only read it twice.
/// A second request waits this long for the first to end, then is refused (503).
static EXPORTS: Semaphore = Semaphore::const_new(1);
const WAIT_FOR_EXPORT: std::time::Duration = std::time::Duration::from_secs(30);

pub fn routes() -> Route {
    Route::new().at("/archive", get(export))
}

/// Streams the log up to the head at the start of the request; appends continue meanwhile.
/// The store is read on a blocking thread, a few pieces ahead of the client; a client that
/// goes away stops the reading. A read that fails ends the body before the trailer, which
/// the client refuses as an archive that ends early.
#[handler]
async fn export(req: &Request, web: Data<&Arc<Web>>) -> poem::Result<Response> {
    let caller = access::admin(&web, req)?;
    let Ok(Ok(permit)) = tokio::time::timeout(WAIT_FOR_EXPORT, EXPORTS.acquire()).await else {
        return Err(access::refusal(
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, "60")
                .content_type("text/plain; charset=utf-8")
                .body("another archive export is still running; try again when it ends\n"),
        ));
    };
    if let Some(outage) = web.ledger.storage().outage {
        return Err(access::storage_unavailable(&format!(
            "the storage is unavailable ({}): the log cannot be read until the store has \
             reopened it; try again later",
            outage.reason
        )));
    }
    let pieces = web.ledger.store().export_archive();
    let head = pieces.head();
    let admin = caller.actor().unwrap_or_default().to_owned();
    tracing::info!(%admin, %head, "archive export started");
    let (send, receive) = tokio::sync::mpsc::channel(PIECES_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        for piece in pieces {
            let failed = piece
                .as_ref()
                .err()
                .map(|error| (error.to_string(), error.is_storage_failure()));
            if send
                .blocking_send(piece.map_err(std::io::Error::other))
                .is_err()
            {
                tracing::warn!(%admin, %head, "archive export stopped: the client went away");
                return;
            }
            match failed {
                // The store logs the outage itself.
                Some((error, true)) => {
                    tracing::warn!(%admin, %head, %error, "archive export cut off by the storage");
                    return;
                }
                Some((error, false)) => {
                    tracing::error!(%admin, %head, %error, "archive export failed");
                    return;
                }
                None => {}
            }
        }
        tracing::info!(%admin, %head, "archive export sent");
    });
    let body = futures::stream::unfold(receive, |mut receive| async move {
        receive.recv().await.map(|piece| (piece, receive))
    });
    Ok(Response::builder()
        .content_type("application/x-ndjson")
        .header(
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"kpi-ledger-{}.jsonl\"",
                head.position
            ),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_bytes_stream(body)))
}
