//! kpi-domain: the pure core of kpi-ledger.
//!
//! Values and the event boundary:
//! - [`calendar`]: fiscal years (April-March) and Reiwa labels, dates read in Japan.
//! - [`kind`]: THE list of event kinds, and a kind by name and family (what plans and events
//!   share; imports nothing from the crate).
//! - [`values`]: small value types of payloads (counts, codes, text), valid by construction.
//! - [`event`]: the event kinds (listed once), the catalogue and THE validation boundary,
//!   [`LedgerEvent::parse`].
//! - [`error`]: the boundary's one error type, naming the field and the reason.
//! - [`bounds`]: the plausible maximum of every count field, from the configuration.
//! - `amendment` (private): rules relating an event to others in the log (what a correction
//!   may target, a survey response's wave), looked up by the caller, decided here.
//! - [`command`]: corrections, retractions and plan changes as front-ends state them.
//! - [`recorded`]: an event as the log holds it (position, time, actor) for the folds.
//!
//! Plans:
//! - [`plan`]: plan and KPI definitions, parsed from TOML text; they name kinds and import
//!   nothing from events.
//! - [`lifecycle`]: plan lifecycle events (adopt, extend, revise a target, add or retire a
//!   KPI, transfer).
//! - [`registry`]: the plans in force, folded from the configured plans and the lifecycle.
//!
//! Folds:
//! - [`projection`]: the incremental fold of recorded events into KPI tables, with
//!   drill-down, as-of, through and transfer baselines.
//! - [`audit`]: findings a reader of the published table should know, computed from the log.
//! - [`reference`](mod@reference): the plain definition of every figure, which the projection is held to.
//! - [`seed`]: the seed file format and its deterministic expansion into events.
//! - `testing` (feature `testing`): random histories for property tests.
//!
//! No I/O happens here: callers hand in text and events.

mod amendment;
pub mod audit;
pub mod bounds;
pub mod calendar;
pub mod command;
pub mod error;
#[macro_use]
pub mod event;
pub mod kind;
pub mod lifecycle;
pub mod plan;
pub mod projection;
pub mod recorded;
pub mod reference;
pub mod registry;
pub mod seed;
#[cfg(feature = "testing")]
pub mod testing;
pub mod values;

pub use audit::{AuditFinding, FindingKind};
pub use bounds::Bounds;
pub use calendar::{FiscalYear, FiscalYearError};
pub use error::ValidationError;
pub use event::{EventKind, EventKindInfo, FieldInfo, FieldType, LedgerEvent, StreamRule};
pub use plan::{
    HistoryRule, KpiDefinition, KpiMapping, KpiRef, PlanDefinition, PlanError, PlanTransfer,
    Rounding, RoundingMode, Series, TargetKind,
};
pub use projection::{
    ActivitySummary, BaselineOrigin, BaselineSource, Cell, KpiRow, KpiTable, Projection,
    SurveyWaveSummary, TransferEntry, TransferReport,
};
pub use recorded::RecordedEvent;
pub use registry::{replay_log, Change, DefinitionChange, PlanEntry, PlanRegistry};
pub use seed::{SeedError, SeedRecord};
pub use values::{ActivityStatus, Code, Count, PositiveCount, Quantity, Text, Unit};
