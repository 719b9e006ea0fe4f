//! The application service: validates commands with the domain, appends to the store and keeps
//! projections current. The outer crates (GraphQL, CLI) call only this.
//!
//! One [`Ledger`] per process owns the store and the live projection. A follower task reads
//! the log in position order (a catch-up subscription) and folds each event into the
//! projection, so concurrent appends are always projected in log order; `record` returns only
//! once its own event is both on disk and projected (read-your-writes).

mod bulk;
mod checkpoint;
mod convert;
mod error;
mod folds;
mod ledger;
pub mod metrics;
pub mod proofs;
mod query;
mod storage;
mod verification;

pub use bulk::{
    BadRow, BulkError, BulkFormat, BulkOptions, BulkProgress, BulkStage, Judgement, BULK_CHUNK,
};
pub use convert::{new_event, recorded_event};
pub use error::{LedgerError, RecordError, LOG_DAMAGED, STORAGE_UNAVAILABLE};
/// Who is calling and what each role may do (kpi-access), as the front-ends check it.
pub use kpi_access as auth;
/// The store's types the front-ends read (a stored event, the log's head, why a read failed),
/// so they need not depend on the store.
pub use kpi_store::{Envelope, Head, StoreError};
pub use ledger::{
    fold_log, read_lifecycle, CheckpointUse, Detail, FoldLimits, ImportRecord, ImportReport,
    Ledger, LedgerConfig, RebuildReport, RecordOptions, StartupReport, TableAnswer, TableChanged,
    TableQuery, View,
};
pub use query::{EventFilter, EventPage};
pub use verification::{Integrity, Verification};
