//! The ledger service: the store plus the live projection that follows it.
//!
//! - `startup`: opening (the projection from the checkpoint or the whole log);
//! - `record`: judging and appending events, imports;
//! - `tables`: reading figures (one [`TableQuery`] for every table);
//! - `health`: integrity, storage and readiness;
//! - `follower`: the only writer of the live projection;
//! - `checkpointing`: checkpoints built beside the live projection, and the one at close;
//! - `rebuild`: replay while serving, swapped in by the follower;
//! - `replay`: the one fold of the log every table comes from;
//! - `config`: settings, options and reports.

mod checkpointing;
mod config;
mod follower;
mod health;
mod rebuild;
mod record;
mod replay;
mod startup;
mod tables;

use parking_lot::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kpi_domain::{PlanDefinition, PlanRegistry, Projection, RecordedEvent};
use kpi_store::{Envelope, EventStore, Head};
use tokio::sync::{broadcast, mpsc, watch};

use crate::checkpoint::Checkpoints;
use crate::convert::recorded_event;
use crate::error::LedgerError;
use crate::folds::FoldSlots;
use crate::verification::Verifier;

use checkpointing::{checkpoint_in_background, write_checkpoint};
pub use config::{
    CheckpointUse, ImportRecord, ImportReport, LedgerConfig, RebuildReport, RecordOptions,
    StartupReport, TableChanged,
};
use follower::follow;
use rebuild::Replacement;
use rebuild::{start_rebuild, swap};
use replay::{fold, fold_onto};
pub use replay::{fold_log, read_lifecycle, FoldLimits};
pub use tables::{Detail, TableAnswer, TableQuery, View};

/// The ledger service: the store plus the live projection that follows it. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    store: EventStore,
    projection: RwLock<Projection>,
    projected: watch::Sender<u64>,
    table_changed: broadcast::Sender<TableChanged>,
    config: LedgerConfig,
    /// `None` when checkpoints are switched off.
    checkpoints: Option<Arc<Checkpoints>>,
    startup: StartupReport,
    /// Rebuilt projections on their way to the follower, which swaps them in.
    replacements: mpsc::UnboundedSender<Replacement>,
    /// Numbers rebuilds in the order they start, so a slow older one never replaces a newer.
    rebuilds_started: AtomicU64,
    /// The plans of the configuration, before any lifecycle event.
    configured: Vec<PlanDefinition>,
    /// The plans in force: the configured ones as the lifecycle events folded so far left
    /// them. Changed by the follower only, in log order.
    registry: RwLock<PlanRegistry>,
    /// The lifecycle events folded so far, for the definitions in force at an earlier time.
    lifecycle: RwLock<Vec<RecordedEvent>>,
    /// Position of the latest lifecycle event the live projection's definitions reflect.
    definitions_live: watch::Sender<DefinitionsLive>,
    /// Bumped by the follower after every change readers of the projection can see (an
    /// event folded, a rebuilt projection swapped in), before anyone is told of it.
    view_version: AtomicU64,
    /// Walks of the whole hash chain, and the integrity their answers give the log.
    verifier: Arc<Verifier>,
    /// The as-of and through folds running, at most `config.max_concurrent_folds`.
    folds: FoldSlots,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A walk still running must not keep the store open for a ledger nobody holds.
        self.verifier.close_now();
    }
}

/// Which lifecycle change the live projection's definitions reflect.
#[derive(Debug, Clone, Default)]
struct DefinitionsLive {
    /// Position of the latest lifecycle event the live projection is built under.
    position: u64,
    /// A rebuild for a lifecycle event that failed: its position and why.
    failed: Option<(u64, String)>,
}

impl Ledger {
    pub fn store(&self) -> &EventStore {
        &self.inner.store
    }

    pub fn head(&self) -> Head {
        self.inner.store.head()
    }

    /// A number that changes whenever anything read from the projection may have changed: an
    /// event folded (figures, plans in force, lifecycle history) or a rebuilt projection
    /// swapped in. It moves after the change is visible and before a waiting `record` call
    /// returns, so an answer computed after reading it is never older than it. Together with
    /// [`Ledger::head`] (what reads of the store see) it keys caches of query answers.
    pub fn view_version(&self) -> u64 {
        self.inner.view_version.load(Ordering::Acquire)
    }

    /// Reads one event by id as a domain event.
    pub fn event(&self, id: uuid::Uuid) -> Result<Option<(Envelope, RecordedEvent)>, LedgerError> {
        match self.inner.store.get(id)? {
            None => Ok(None),
            Some(envelope) => {
                let recorded = recorded_event(&envelope)?;
                Ok(Some((envelope, recorded)))
            }
        }
    }

    /// Writes a checkpoint of the projection (when enabled), then stops the store after
    /// in-flight appends are committed, and flushes.
    pub async fn close(self) {
        self.inner.verifier.close().await;
        if let Some(checkpoints) = &self.inner.checkpoints {
            // A checkpoint being built beside reads the store: stop it before the store
            // closes (the one written here is newer anyway).
            checkpoints.stop_background().await;
            let inner = self.inner.clone();
            let written = tokio::task::spawn_blocking(move || write_checkpoint(&inner)).await;
            match written {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "no checkpoint written at close"),
                Err(error) => tracing::error!(%error, "writing the checkpoint panicked"),
            }
        }
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => {
                let store = inner.store.clone();
                drop(inner);
                store.close().await
            }
            Err(shared) => shared.store.clone().close().await,
        }
    }
}
