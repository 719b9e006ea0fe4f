//! Proofs of the ledger for readers who do not trust the server: signed tree heads, an
//! event's inclusion proof, a consistency proof between two sizes, and a KPI cell's
//! **proof bundle** (the rule, the contributing events' canonical bytes with their
//! inclusion proofs, and the signed head), which [`verify_bundle`] checks offline and
//! recomputes with the domain's own fold.

use std::collections::BTreeSet;
use std::sync::Arc;

use kpi_domain::{FiscalYear, PlanDefinition, Projection, Series};
use kpi_proof::{NodeHash, PublicKey, SecretKey, SignedTreeHead, TreeHead};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::LedgerError;
use crate::ledger::{Ledger, View};

/// The `format` of a bundle this build writes and reads.
pub const BUNDLE_FORMAT: &str = "kpi-ledger cell proof bundle v1";

/// Signs tree heads with the operator's key.
pub struct HeadSigner {
    key: SecretKey,
}

impl HeadSigner {
    pub fn new(key: SecretKey) -> HeadSigner {
        HeadSigner { key }
    }

    /// The key file's text (`[proof] key_file`).
    pub fn from_key_file_text(text: &str) -> Result<HeadSigner, kpi_proof::KeyError> {
        kpi_proof::parse_secret_key(text).map(HeadSigner::new)
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.verifying_key()
    }

    /// SHA-256 of the raw public key, hex.
    pub fn fingerprint(&self) -> String {
        kpi_proof::fingerprint(&self.public_key())
    }

    /// Signs the head `(size, root)` now.
    pub fn sign(&self, tree_size: u64, root_hash: NodeHash) -> SignedTreeHead {
        let timestamp_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        kpi_proof::sign(
            &self.key,
            TreeHead {
                tree_size,
                root_hash,
                timestamp_ms,
            },
        )
    }
}

/// Which cell a bundle proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellRef {
    pub plan: String,
    pub kpi: String,
    pub series: Series,
    pub fiscal_year: FiscalYear,
}

/// One contributing (or amending) event in a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleEvent {
    pub position: u64,
    /// The chain hash before it, and its own (hex).
    pub prev_hash: String,
    pub hash: String,
    /// Its canonical bytes (hex): `hash = SHA-256(prev_hash ‖ position u64 BE ‖ body)`.
    pub body: String,
    /// Its audit path in the tree of the head's size, leaf side first (hex).
    pub inclusion_proof: Vec<String>,
}

/// A KPI cell with everything needed to check it offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProofBundle {
    pub format: String,
    pub cell: CellRef,
    /// The figure the ledger shows (`None`: no figure), as a decimal string.
    pub value: Option<Decimal>,
    /// The plan definition in force: the cell's rule is its KPI row's `source`.
    pub plan: PlanDefinition,
    /// The events the cell's drill-down lists, and the corrections and retractions that
    /// changed it, in log order.
    pub events: Vec<BundleEvent>,
    /// The head the proofs lead to: the log position the figure reflects.
    pub head: SignedTreeHead,
}

impl Ledger {
    /// Signs the head at `size` (the log's head when `None`).
    pub fn signed_head(
        &self,
        signer: &HeadSigner,
        size: Option<u64>,
    ) -> Result<SignedTreeHead, LedgerError> {
        let size = size.unwrap_or_else(|| self.head().position);
        let root = self.store().tree_root(size)?;
        Ok(signer.sign(size, root))
    }

    /// The proof bundle of one cell of the live table.
    pub async fn cell_bundle(
        &self,
        signer: &HeadSigner,
        cell: CellRef,
    ) -> Result<ProofBundle, LedgerError> {
        let found = self
            .inspect(View::LIVE, |projection| {
                let plan = projection
                    .plans()
                    .iter()
                    .find(|plan| plan.id.as_str() == cell.plan)?
                    .clone();
                let table = projection.table(&cell.plan)?;
                let row = table.row(&cell.kpi, cell.series)?;
                let shown = row.cell(cell.fiscal_year)?;
                let ids: BTreeSet<Uuid> = shown
                    .event_ids
                    .iter()
                    .chain(&shown.amended_by)
                    .copied()
                    .collect();
                Some((plan, shown.value, ids, projection.last_position()))
            })
            .await?;
        let Some((plan, value, ids, size)) = found else {
            return Err(LedgerError::UnknownCell(format!(
                "{} {}{} {}",
                cell.plan,
                cell.kpi,
                if cell.series == Series::B { "b" } else { "" },
                cell.fiscal_year.label()
            )));
        };
        let store = self.store().clone();
        let bundle_head = tokio::task::spawn_blocking(move || {
            let root = store.tree_root(size)?;
            let mut events = Vec::with_capacity(ids.len());
            for id in ids {
                let Some(envelope) = store.get(id)? else {
                    continue;
                };
                let raw = store
                    .iter_raw_from(envelope.position)
                    .next()
                    .transpose()?
                    .filter(|raw| raw.event_id == id)
                    .ok_or(LedgerError::Unreadable {
                        position: envelope.position,
                        reason: "the event read by id is not at its position".to_owned(),
                    })?;
                let proof = store.inclusion_proof(raw.position, size)?;
                events.push(BundleEvent {
                    position: raw.position,
                    prev_hash: raw.prev_hash.to_hex(),
                    hash: raw.hash.to_hex(),
                    body: hex::encode(kpi_store::canonical_body(&raw)),
                    inclusion_proof: proof.iter().map(hex::encode).collect(),
                });
            }
            events.sort_by_key(|event| event.position);
            Ok::<_, LedgerError>((events, root))
        })
        .await
        .map_err(|_| LedgerError::ProjectionStopped)?;
        let (events, root) = bundle_head?;
        Ok(ProofBundle {
            format: BUNDLE_FORMAT.to_owned(),
            cell,
            value,
            plan,
            events,
            head: signer.sign(size, root),
        })
    }
}

/// Why a bundle does not check. Each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a kpi-ledger cell proof bundle: `format` is {0:?}, expected {BUNDLE_FORMAT:?}")]
    Format(String),
    #[error("the signed head: {0}")]
    Head(#[from] kpi_proof::HeadError),
    #[error("event at position {position}: `{field}` {reason}")]
    Malformed {
        position: u64,
        field: &'static str,
        reason: String,
    },
    #[error("event at position {position}: its canonical bytes do not match: {reason}")]
    Bytes { position: u64, reason: String },
    #[error("event at position {position} is not in the signed tree of {size} events: {reason}")]
    NotIncluded {
        position: u64,
        size: u64,
        reason: String,
    },
    #[error("event at position {position} cannot be read as a ledger event: {reason}")]
    Unreadable { position: u64, reason: String },
    #[error("the plan in the bundle is `{found}`, the cell's plan is `{expected}`")]
    WrongPlan { expected: String, found: String },
    #[error("the bundle's events give {recomputed} under the plan's rule, but the bundle states {stated}")]
    FigureMismatch { stated: String, recomputed: String },
}

/// What a checked bundle proves.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedBundle {
    pub cell: CellRef,
    pub value: Option<Decimal>,
    pub tree_size: u64,
    pub root_hash: String,
    pub events: usize,
}

fn figure(value: Option<Decimal>) -> String {
    value.map_or_else(|| "no figure".to_owned(), |v| v.to_string())
}

/// Checks a bundle with the operator's public key, offline: the head's signature, every
/// event's canonical bytes against its chain hash and its inclusion proof against the
/// signed root, then recomputes the cell by folding the bundle's events under the bundle's
/// plan with the domain's own fold and compares the figure.
pub fn verify_bundle(
    bundle: &ProofBundle,
    public_key: &PublicKey,
) -> Result<VerifiedBundle, BundleError> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(BundleError::Format(bundle.format.clone()));
    }
    let head = kpi_proof::verify_head(&bundle.head, public_key)?;
    if bundle.plan.id.as_str() != bundle.cell.plan {
        return Err(BundleError::WrongPlan {
            expected: bundle.cell.plan.clone(),
            found: bundle.plan.id.to_string(),
        });
    }
    let mut projection = Projection::new(vec![bundle.plan.clone()]);
    let mut events = bundle.events.iter().collect::<Vec<_>>();
    events.sort_by_key(|event| event.position);
    for event in events {
        let position = event.position;
        let malformed = |field: &'static str, reason: &str| BundleError::Malformed {
            position,
            field,
            reason: reason.to_owned(),
        };
        let prev_hash: kpi_store::Hash = event
            .prev_hash
            .parse()
            .map_err(|_| malformed("prev_hash", "is not 64 hex digits"))?;
        let hash: kpi_store::Hash = event
            .hash
            .parse()
            .map_err(|_| malformed("hash", "is not 64 hex digits"))?;
        let body = hex::decode(&event.body).map_err(|_| malformed("body", "is not hex"))?;
        let proof = event
            .inclusion_proof
            .iter()
            .map(|h| kpi_proof::from_hex(h))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                malformed("inclusion_proof", "holds a hash that is not 64 hex digits")
            })?;
        let raw = kpi_store::decode_canonical(position, prev_hash, hash, &body)
            .map_err(|reason| BundleError::Bytes { position, reason })?;
        if position == 0 || position > head.tree_size {
            return Err(BundleError::NotIncluded {
                position,
                size: head.tree_size,
                reason: "the position is outside the tree".to_owned(),
            });
        }
        kpi_proof::verify_inclusion(
            hash.as_bytes(),
            position - 1,
            head.tree_size,
            &proof,
            &head.root_hash,
        )
        .map_err(|e| BundleError::NotIncluded {
            position,
            size: head.tree_size,
            reason: e.to_string(),
        })?;
        let recorded =
            crate::convert::recorded_event_raw(raw).map_err(|e| BundleError::Unreadable {
                position,
                reason: e.to_string(),
            })?;
        projection.apply(&recorded);
    }
    let recomputed = projection
        .table_values(&bundle.cell.plan)
        .and_then(|table| {
            table
                .row(&bundle.cell.kpi, bundle.cell.series)
                .and_then(|row| row.cell(bundle.cell.fiscal_year))
                .map(|cell| cell.value)
        })
        .flatten();
    if recomputed != bundle.value {
        return Err(BundleError::FigureMismatch {
            stated: figure(bundle.value),
            recomputed: figure(recomputed),
        });
    }
    Ok(VerifiedBundle {
        cell: bundle.cell.clone(),
        value: recomputed,
        tree_size: head.tree_size,
        root_hash: bundle.head.root_hash.clone(),
        events: bundle.events.len(),
    })
}

/// A shared signer, for front-ends that hold one.
pub type SharedSigner = Arc<HeadSigner>;
