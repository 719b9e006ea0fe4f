//! Opening a ledger: the store, the plans the log puts in force, the projection built from
//! the checkpoint when one fits (else from the whole log, hash-checked first), the follower started.

use parking_lot::RwLock;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use chrono::Utc;
use kpi_domain::{PlanDefinition, PlanRegistry, Projection};
use kpi_store::{EventStore, Head, StoreConfig, VerifyFailure};
use tokio::sync::{broadcast, mpsc, watch};

use super::{
    fold, fold_onto, follow, read_lifecycle, CheckpointUse, DefinitionsLive, FoldLimits, Inner,
    Ledger, LedgerConfig, StartupReport,
};
use crate::checkpoint::{Checkpoints, Found};
use crate::error::LedgerError;
use crate::folds::FoldSlots;
use crate::verification::{Verification, Verifier};

impl Ledger {
    /// [`Ledger::open_with_config`] with the default [`LedgerConfig`].
    pub async fn open(
        dir: &Path,
        store_config: StoreConfig,
        plans: Vec<PlanDefinition>,
    ) -> Result<Ledger, LedgerError> {
        Self::open_with_config(dir, store_config, LedgerConfig::default(), plans).await
    }

    /// Opens (or creates) the store in `dir`, builds the projection of `plans` (from the
    /// checkpoint when one fits the log, else from the whole log), and starts following the
    /// log. Needs a Tokio runtime.
    pub async fn open_with_config(
        dir: &Path,
        store_config: StoreConfig,
        config: LedgerConfig,
        plans: Vec<PlanDefinition>,
    ) -> Result<Ledger, LedgerError> {
        let checkpoints = config.checkpoints.then(|| Arc::new(Checkpoints::new(dir)));
        let dir = dir.to_path_buf();
        let startup_checkpoints = checkpoints.clone();
        let configured = plans.clone();
        let (store, projection, startup, registry, lifecycle, verified) =
            tokio::task::spawn_blocking(move || {
                let store = EventStore::open(&dir, store_config)?;
                // Definitions first: the projection is built under the plans the log puts in force.
                let lifecycle = read_lifecycle(&store)?;
                let registry = PlanRegistry::from_log(plans, &lifecycle);
                let (projection, startup, verified) =
                    start(&store, registry.plans(), startup_checkpoints.as_deref())?;
                Ok::<_, LedgerError>((store, projection, startup, registry, lifecycle, verified))
            })
            .await
            .expect("opening the ledger panicked")?;
        let verifier = Verifier::of(store.clone());
        if let Some(verified) = verified {
            verifier.seed(verified);
        }
        let position = projection.last_position();
        tracing::info!(
            position,
            events_folded = startup.events_folded,
            checkpoint = ?startup.checkpoint,
            "projection built"
        );
        let (projected, _) = watch::channel(position);
        let (table_changed, _) = broadcast::channel(64);
        let (replacements, replaced) = mpsc::unbounded_channel();
        let (definitions_live, _) = watch::channel(DefinitionsLive {
            position: registry.last_position(),
            failed: None,
        });
        // The next start-up should not pay for a long fold again: the follower checkpoints
        // before its first event, without holding up this one.
        let folded_since_checkpoint = startup.events_folded;
        let folds = FoldSlots::new(config.max_concurrent_folds);
        let ledger = Ledger {
            inner: Arc::new(Inner {
                store,
                projection: RwLock::new(projection),
                projected,
                table_changed,
                config,
                checkpoints,
                startup,
                replacements,
                rebuilds_started: AtomicU64::new(0),
                configured,
                registry: RwLock::new(registry),
                lifecycle: RwLock::new(lifecycle),
                definitions_live,
                view_version: AtomicU64::new(0),
                verifier,
                folds,
            }),
        };
        tokio::spawn(follow(
            Arc::downgrade(&ledger.inner),
            position + 1,
            folded_since_checkpoint,
            replaced,
        ));
        tokio::spawn(crate::storage::watch(
            ledger.inner.store.storage_changes(),
            Arc::downgrade(&ledger.inner.verifier),
        ));
        Ok(ledger)
    }

    /// How the projection was built when the ledger opened.
    pub fn startup(&self) -> &StartupReport {
        &self.inner.startup
    }
}

/// Builds the projection at start-up: from the checkpoint when it fits the log and the plans,
/// else from the whole log. Every event it folds is read and hash-checked first: those after
/// the checkpoint, linked back to the hash it recorded, else the whole log (whose walk is
/// returned as the first verification). A log that fails is refused.
fn start(
    store: &EventStore,
    plans: Vec<PlanDefinition>,
    checkpoints: Option<&Checkpoints>,
) -> Result<(Projection, StartupReport, Option<Verification>), LedgerError> {
    let full = |plans, checkpoint| {
        let head = store.head();
        let result = store
            .verify_to(head, |_| true)
            .expect("a walk that is never stopped ends");
        let verified = startup_check(result)?;
        let projection = fold(store, plans, FoldLimits::default())?;
        let report = StartupReport {
            checkpoint,
            events_folded: projection.applied(),
            events_verified: verified.position,
            position: projection.last_position(),
        };
        let verification = Verification {
            head,
            result: Ok(verified),
            finished_at: Utc::now(),
        };
        Ok((projection, report, Some(verification)))
    };
    let Some(checkpoints) = checkpoints else {
        return full(plans, CheckpointUse::Disabled);
    };
    let reason = match checkpoints.load(store, &plans) {
        Found::Absent => return full(plans, CheckpointUse::Absent),
        Found::Unusable(reason) => reason,
        Found::Usable {
            position,
            hash,
            snapshot,
        } => {
            let verified = startup_check(store.verify_after(position, hash))?;
            match Projection::restore(plans.clone(), *snapshot) {
                Ok(mut projection) => {
                    let events_folded = fold_onto(store, &mut projection, position + 1, None)?;
                    let report = StartupReport {
                        checkpoint: CheckpointUse::Used { position },
                        events_folded,
                        events_verified: verified.position - position,
                        position: projection.last_position(),
                    };
                    return Ok((projection, report, None));
                }
                Err(mismatch) => mismatch.to_string(),
            }
        }
    };
    tracing::warn!(
        path = %checkpoints.path().display(),
        "checkpoint discarded: {reason}; folding the whole log"
    );
    checkpoints.remove();
    full(plans, CheckpointUse::Discarded { reason })
}

/// Start-up's verdict on its walk: a log that fails is not opened.
fn startup_check(result: Result<Head, VerifyFailure>) -> Result<Head, LedgerError> {
    result.map_err(|failure| {
        let refused = LedgerError::damaged(&failure, None);
        tracing::error!(
            position = failure.position,
            reason = %failure.reason,
            "the log fails verification at start-up; the ledger is not opened"
        );
        refused
    })
}
