//! Output types: read-only views of the service's plans, tables, events and findings.
//!
//! Where things are: `enums.rs` the enums (each a domain enum's GraphQL face),
//! `definition.rs` a plan's KPI rows as defined, `table.rs` KPI tables and their cells,
//! `event.rs` a stored event, `log.rs` the log's head, verification and audit findings. The
//! plans in force, their history and transfer report are in `plans/`.

mod definition;
mod enums;
mod event;
mod log;
mod table;

use async_graphql::ID;
use uuid::Uuid;

pub use definition::{Kpi, LocalizedText, Pillar, Target};
pub use enums::{
    ActivityStatus, Aggregation, BeneficiaryKind, EventType, FindingKind, Series, TargetKind, Unit,
};
pub use event::Event;
pub use log::{AuditFinding, Head, Verification};
pub use table::{KpiRow, KpiTable};

/// Event ids as GraphQL gives them.
fn ids(ids: &[Uuid]) -> Vec<ID> {
    ids.iter().map(|id| ID(id.to_string())).collect()
}
