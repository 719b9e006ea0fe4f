//! The application service: validates commands with the domain, appends to the store and keeps
//! projections current. The outer crates (GraphQL, CLI) call only this.
//!
//! One [`Ledger`] per process owns the store and the live projection. A follower task reads
//! the log in position order (a catch-up subscription) and folds each event into the
//! projection, so concurrent appends are always projected in log order; `record` returns only
//! once its own event is both on disk and projected (read-your-writes).

pub mod auth;
mod checkpoint;
mod convert;
mod error;
mod folds;
mod ledger;
pub mod metrics;
mod query;
mod verification;

pub use convert::{new_event, recorded_event};
pub use error::{LedgerError, RecordError, LOG_DAMAGED};
pub use ledger::{
    fold_log, read_lifecycle, CheckpointUse, FoldLimits, ImportRecord, ImportReport, Ledger,
    LedgerConfig, RebuildReport, RecordOptions, StartupReport, TableChanged,
};
pub use query::{EventFilter, EventPage};
pub use verification::{Integrity, Verification};
