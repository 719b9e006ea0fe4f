//! kpi-domain: the pure core of kpi-ledger.
//!
//! - [`calendar`]: fiscal years (April-March) and Reiwa labels, dates read in Japan.
//! - [`event`]: the event catalogue and THE validation boundary, [`LedgerEvent::parse`].
//! - [`command`]: corrections, retractions and plan changes as front-ends state them.
//! - [`bounds`]: the plausible maximum of every count field, from the configuration.
//! - [`plan`]: plan and KPI definitions, parsed from TOML text.
//! - [`projection`]: the fold of recorded events into KPI tables, with drill-down, as-of
//!   and audit findings.
//! - [`seed`]: the seed file format and its deterministic expansion into events.
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
