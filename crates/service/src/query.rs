//! Event listing with filters and position cursors (the GraphQL `events` connection), and
//! each event's amendments.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use kpi_domain::{FiscalYear, RecordedEvent};
use kpi_store::Envelope;
use uuid::Uuid;

use crate::convert::recorded_event;
use crate::error::LedgerError;
use crate::ledger::Ledger;

/// Which events to list; every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub stream: Option<String>,
    pub fiscal_year: Option<FiscalYear>,
    pub recorded_from: Option<DateTime<Utc>>,
    pub recorded_to: Option<DateTime<Utc>>,
    /// Case-insensitive text contained in the event's title.
    pub title_contains: Option<String>,
}

impl EventFilter {
    fn matches(&self, envelope: &Envelope, recorded: &RecordedEvent) -> bool {
        self.event_type
            .as_deref()
            .is_none_or(|t| envelope.event_type == t)
            && self
                .stream
                .as_deref()
                .is_none_or(|s| envelope.stream_id.as_str() == s)
            && self
                .fiscal_year
                .is_none_or(|fy| recorded.event.fiscal_year() == fy)
            && self.recorded_from.is_none_or(|t| envelope.recorded_at >= t)
            && self.recorded_to.is_none_or(|t| envelope.recorded_at <= t)
            && self.title_contains.as_deref().is_none_or(|needle| {
                let needle = needle.to_lowercase();
                recorded
                    .event
                    .title()
                    .is_some_and(|title| title.to_lowercase().contains(&needle))
            })
    }
}

/// One page of events in position order.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<(Envelope, RecordedEvent)>,
    /// Whether more matching events follow the last one of this page.
    pub has_next_page: bool,
}

impl Ledger {
    /// Up to `first` events matching `filter` with a position after `after` (0: from the
    /// start).
    pub fn events(
        &self,
        filter: &EventFilter,
        after: u64,
        first: usize,
    ) -> Result<EventPage, LedgerError> {
        let mut events = Vec::new();
        let mut has_next_page = false;
        for envelope in self.store().iter_from(after + 1) {
            let envelope = envelope?;
            let recorded = recorded_event(&envelope)?;
            if !filter.matches(&envelope, &recorded) {
                continue;
            }
            if events.len() == first {
                has_next_page = true;
                break;
            }
            events.push((envelope, recorded));
        }
        Ok(EventPage {
            events,
            has_next_page,
        })
    }

    /// The ids of the corrections and retractions recorded against `target`, in log order, as
    /// far as the live projection has folded the log (a `record` returns only once folded, so
    /// a caller sees its own amendments). Answered from the projection's index of amendments
    /// by target: nothing is read from the store.
    pub fn amendment_ids_of(&self, target: Uuid) -> Vec<Uuid> {
        self.live().amendments_of(target).to_vec()
    }

    /// [`Ledger::amendment_ids_of`] for each of `targets` that has amendments, read under one
    /// look at the projection, so a list of events sees one state of it.
    pub fn amendment_ids_by_target(&self, targets: &[Uuid]) -> HashMap<Uuid, Vec<Uuid>> {
        let projection = self.live();
        targets
            .iter()
            .filter_map(|target| {
                let ids = projection.amendments_of(*target);
                (!ids.is_empty()).then(|| (*target, ids.to_vec()))
            })
            .collect()
    }
}
