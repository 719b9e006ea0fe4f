//! The ledger's settings and the reports and options its calls take and give.

use serde::{Deserialize, Serialize};
use std::num::NonZeroUsize;

use kpi_domain::{Bounds, LedgerEvent};

/// Settings of the ledger service; the `[ledger]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Whether the projection is checkpointed in the data directory and start-up begins from
    /// the checkpoint. Default on.
    pub checkpoints: bool,
    /// Events the live projection folds between two checkpoints (written in the background);
    /// 0 writes one only at close and after a rebuild. Default 100,000.
    pub checkpoint_every_events: u64,
    /// The plausible maximum of each count field: a figure above it is refused when recorded
    /// (`[ledger.bounds.<kind>]`, the changes to [`Bounds::default`]).
    pub bounds: Bounds,
    /// Seconds between two walks of the whole hash chain while serving
    /// ([`Ledger::verify_in_background`]), the first right after start-up; 0 walks only when
    /// asked (`verification`), and once after the store recovers from a storage failure
    /// (which happens whatever this is). Default 3600.
    pub verify_every_secs: u64,
    /// Most as-of and through folds (each a fresh fold of the whole log, holding a whole
    /// projection while it runs) run at once; further ones wait for a slot. Default 2.
    pub max_concurrent_folds: NonZeroUsize,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            checkpoints: true,
            checkpoint_every_events: 100_000,
            bounds: Bounds::default(),
            verify_every_secs: 3600,
            max_concurrent_folds: NonZeroUsize::new(2).expect("non-zero literal"),
        }
    }
}

/// How start-up used the projection checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointUse {
    /// Checkpoints are switched off (`LedgerConfig::checkpoints`).
    Disabled,
    /// There was none; the whole log was folded.
    Absent,
    /// The checkpoint at this log position was restored; only later events were folded.
    Used { position: u64 },
    /// The checkpoint did not fit the log or the plans, was removed, and the whole log was
    /// folded.
    Discarded { reason: String },
}

/// What [`Ledger::open`] did to build the projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupReport {
    pub checkpoint: CheckpointUse,
    /// Events folded at start-up (after the checkpoint when one was used).
    pub events_folded: u64,
    /// Events read and hash-checked at start-up before they were folded: those after the
    /// checkpoint (linked back to the hash it recorded), else the whole log.
    pub events_verified: u64,
    /// The log position the projection reflected when the ledger opened.
    pub position: u64,
}

/// What [`Ledger::rebuild`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// The plans of the projection now live, in order.
    pub plan_ids: Vec<String>,
    /// Events folded beside the live projection.
    pub events_folded: u64,
    /// Events appended meanwhile, folded by the follower just before the swap.
    pub events_caught_up: u64,
    /// The log position the new projection reflected when it was swapped in.
    pub position: u64,
}

/// Optional facts of one record call.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// Makes a retry harmless: the same key and event return the original envelope.
    pub idempotency_key: Option<String>,
    /// Where the figure was taken from, e.g. "FY2024 report, KPI table".
    pub provenance: Option<String>,
    /// The recorder says the activity lies outside every plan in force and is meant to count
    /// in no KPI: it is recorded although its fiscal year is in no plan's period (otherwise
    /// refused). Changes nothing for an event inside a plan.
    pub outside_plans: bool,
}

/// Sent after the projection has folded events that may have changed a KPI table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableChanged {
    /// The log position the tables now reflect.
    pub position: u64,
}

/// One event of an import (seed file, bulk file), keyed so that re-importing is harmless.
#[derive(Debug, Clone)]
pub struct ImportRecord {
    pub idempotency_key: String,
    pub provenance: Option<String>,
    pub event: LedgerEvent,
    /// See [`RecordOptions::outside_plans`].
    pub outside_plans: bool,
}

impl ImportRecord {
    pub(super) fn options(&self) -> RecordOptions {
        RecordOptions {
            idempotency_key: Some(self.idempotency_key.clone()),
            provenance: self.provenance.clone(),
            outside_plans: self.outside_plans,
        }
    }
}

impl From<kpi_domain::SeedRecord> for ImportRecord {
    fn from(record: kpi_domain::SeedRecord) -> Self {
        ImportRecord {
            idempotency_key: record.idempotency_key,
            provenance: record.provenance,
            event: record.event,
            outside_plans: false,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Events written by this import.
    pub appended: usize,
    /// Events found already recorded (same idempotency key and content): nothing written.
    pub already_recorded: usize,
}
