//! An event as the log holds it: the envelope facts the projection needs, plus the event.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::event::LedgerEvent;

/// A validated event with its place in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub id: Uuid,
    /// Gapless from 1 in the store.
    pub position: u64,
    pub recorded_at: DateTime<Utc>,
    pub actor: String,
    /// Where a figure was taken from (e.g. "FY2024 report, KPI table"); `None` for direct entry.
    pub provenance: Option<String>,
    pub event: LedgerEvent,
}
