//! Proof queries: a signed tree head at a size, an event's inclusion proof, a consistency
//! proof between two sizes, and a KPI cell's proof bundle (see `kpi_service::proofs`). The
//! answers are JSON objects in the form `/proof/...` serves and `kpi-ledger proof verify`
//! reads. The reader role, like every query; heads need the server's signing key
//! (`[proof] key_file`).

use std::sync::Arc;

use async_graphql::{Context, Json, Object, ID};
use kpi_service::auth::Role;
use kpi_service::proofs::{CellRef, HeadSigner};
use kpi_service::LedgerError;
use serde_json::{json, Value};

use crate::error::{bad_argument, ledger_error, require};
use crate::loader::ledger;
use crate::scalars::FiscalYearValue;
use crate::types::Series;

/// The key heads are signed with, as schema data (absent: proof queries that sign refuse).
#[derive(Clone)]
pub struct ProofSigner(pub Arc<HeadSigner>);

fn signer<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a HeadSigner> {
    ctx.data_opt::<ProofSigner>()
        .map(|signer| signer.0.as_ref())
        .ok_or_else(|| {
            async_graphql::Error::new(
                "this server has no signing key: set [proof] key_file (kpi-ledger key new)",
            )
        })
}

fn store_error(error: kpi_service::StoreError) -> async_graphql::Error {
    match error {
        kpi_service::StoreError::BeyondHead { what, asked, head } => {
            bad_argument(what, format!("{asked} is beyond {head}"))
        }
        other => ledger_error(LedgerError::Store(other)),
    }
}

fn hexes(proof: &[kpi_proof::NodeHash]) -> Vec<String> {
    proof.iter().map(hex::encode).collect()
}

#[derive(Default)]
pub struct ProofQuery;

#[Object]
impl ProofQuery {
    /// The tree head at `size` events (default: the log's head), signed now: tree size,
    /// RFC 9162 root hash, time, key fingerprint and Ed25519 signature.
    #[graphql(cache_control(no_cache))]
    async fn signed_tree_head(
        &self,
        ctx: &Context<'_>,
        size: Option<u64>,
    ) -> async_graphql::Result<Json<Value>> {
        require(ctx, Role::Reader)?;
        let head = ledger(ctx)
            .signed_head(signer(ctx)?, size)
            .map_err(|e| match e {
                LedgerError::Store(error) => store_error(error),
                other => ledger_error(other),
            })?;
        Ok(Json(json!(head)))
    }

    /// The event at `position`'s chain hash and audit path in the tree of `size` events
    /// (default: the head), with the signed head at that size.
    #[graphql(cache_control(no_cache))]
    async fn inclusion_proof(
        &self,
        ctx: &Context<'_>,
        position: u64,
        size: Option<u64>,
    ) -> async_graphql::Result<Json<Value>> {
        require(ctx, Role::Reader)?;
        let ledger = ledger(ctx);
        let size = size.unwrap_or_else(|| ledger.head().position);
        let store = ledger.store();
        let proof = store.inclusion_proof(position, size).map_err(store_error)?;
        let event = store
            .iter_raw_from(position)
            .next()
            .transpose()
            .map_err(store_error)?
            .ok_or_else(|| bad_argument("position", "no such event"))?;
        let head = ledger
            .signed_head(signer(ctx)?, Some(size))
            .map_err(ledger_error)?;
        Ok(Json(json!({
            "position": position,
            "tree_size": size,
            "hash": event.hash.to_hex(),
            "inclusion_proof": hexes(&proof),
            "head": head,
        })))
    }

    /// The proof that the tree of `old` events is a prefix of the tree of `new` (default:
    /// the head), with the signed head at `new`.
    #[graphql(cache_control(no_cache))]
    async fn consistency_proof(
        &self,
        ctx: &Context<'_>,
        old: u64,
        new: Option<u64>,
    ) -> async_graphql::Result<Json<Value>> {
        require(ctx, Role::Reader)?;
        let ledger = ledger(ctx);
        let new = new.unwrap_or_else(|| ledger.head().position);
        let proof = ledger
            .store()
            .consistency_proof(old, new)
            .map_err(store_error)?;
        let head = ledger
            .signed_head(signer(ctx)?, Some(new))
            .map_err(ledger_error)?;
        Ok(Json(json!({
            "old": old,
            "new": new,
            "consistency_proof": hexes(&proof),
            "head": head,
        })))
    }

    /// A cell's proof bundle: the plan definition in force (the cell's rule), the events
    /// behind the cell with their canonical bytes and inclusion proofs, and the signed head;
    /// `kpi-ledger proof verify` checks it offline.
    #[graphql(cache_control(no_cache))]
    async fn cell_proof_bundle(
        &self,
        ctx: &Context<'_>,
        plan: ID,
        kpi: String,
        #[graphql(default_with = "Series::Main")] series: Series,
        fiscal_year: FiscalYearValue,
    ) -> async_graphql::Result<Json<Value>> {
        require(ctx, Role::Reader)?;
        let fiscal_year = fiscal_year
            .parse()
            .map_err(|reason| bad_argument("fiscalYear", reason))?;
        let bundle = ledger(ctx)
            .cell_bundle(
                signer(ctx)?,
                CellRef {
                    plan: plan.to_string(),
                    kpi,
                    series: series.into(),
                    fiscal_year,
                },
            )
            .await
            .map_err(|e| match e {
                LedgerError::UnknownCell(which) => {
                    crate::error::not_found("cell", format!("no cell {which}"))
                }
                other => ledger_error(other),
            })?;
        Ok(Json(json!(bundle)))
    }
}
