//! Event listing with filters and position cursors (the GraphQL `events` connection), and
//! each event's amendments.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
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
    /// Recorded by this actor (the token's name), exactly.
    pub actor: Option<String>,
    /// The activity happened on or after this date ([`kpi_domain::LedgerEvent::occurred_on`]:
    /// the activity's date, the last day of its fiscal year for kinds placed only in a year,
    /// the decision date of an amendment or a plan change).
    pub occurred_from: Option<NaiveDate>,
    /// The activity happened on or before this date (as `occurred_from`).
    pub occurred_to: Option<NaiveDate>,
    /// Case-insensitive text contained in the title, the actor, the provenance or any text
    /// value of the payload.
    pub text: Option<String>,
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
            && self
                .actor
                .as_deref()
                .is_none_or(|actor| envelope.actor == actor)
            && self
                .occurred_from
                .is_none_or(|from| recorded.event.occurred_on() >= from)
            && self
                .occurred_to
                .is_none_or(|to| recorded.event.occurred_on() <= to)
            && self.text.as_deref().is_none_or(|needle| {
                let needle = needle.to_lowercase();
                let has = |text: &str| text.to_lowercase().contains(&needle);
                recorded.event.title().is_some_and(has)
                    || has(&envelope.actor)
                    || envelope.provenance.as_deref().is_some_and(has)
                    || text_in(&envelope.payload, &has)
            })
    }
}

/// Whether any text value inside `value` (not a key) satisfies `has`.
fn text_in(value: &serde_json::Value, has: &dyn Fn(&str) -> bool) -> bool {
    match value {
        serde_json::Value::String(text) => has(text),
        serde_json::Value::Array(items) => items.iter().any(|item| text_in(item, has)),
        serde_json::Value::Object(fields) => fields.values().any(|field| text_in(field, has)),
        _ => false,
    }
}

/// One page of events in position order, oldest first ([`Ledger::events_within`]) or newest
/// first ([`Ledger::events_newest_first`]).
#[derive(Debug, Clone)]
pub struct EventPage {
    pub events: Vec<(Envelope, RecordedEvent)>,
    /// Whether more matching events follow the last one of this page (with a reading budget:
    /// whether the log goes on past where this page stopped reading).
    pub has_next_page: bool,
    /// The position the next page goes on from (after it oldest first, before it newest
    /// first): the last event listed, or, when a reading budget ran out first, the last
    /// event read.
    pub resume_at: u64,
}

/// Positions read at once when the log is walked backwards (forwards within a window).
const BACKWARD_WINDOW: u64 = 256;

impl Ledger {
    /// Up to `first` events matching `filter` with a position after `after` (0: from the
    /// start).
    pub fn events(
        &self,
        filter: &EventFilter,
        after: u64,
        first: usize,
    ) -> Result<EventPage, LedgerError> {
        self.events_within(filter, after, first, usize::MAX)
    }

    /// [`Ledger::events`], reading at most `budget` events of the log, so that a filter that
    /// matches little costs a bounded amount per page: when the budget runs out first, the
    /// page holds the matches found so far and [`EventPage::resume_at`] says where the
    /// next page goes on.
    pub fn events_within(
        &self,
        filter: &EventFilter,
        after: u64,
        first: usize,
        budget: usize,
    ) -> Result<EventPage, LedgerError> {
        page_of(
            self.store().iter_from(after + 1),
            after,
            filter,
            first,
            budget,
        )
    }

    /// Up to `first` events matching `filter` with a position before `before` (`None`: from
    /// the head), newest first, reading at most `budget` events of the log; the page's
    /// [`EventPage::resume_at`] is the position the next page goes on before. The log is
    /// read in windows of [`BACKWARD_WINDOW`] positions, each walked from its end.
    pub fn events_newest_first(
        &self,
        filter: &EventFilter,
        before: Option<u64>,
        first: usize,
        budget: usize,
    ) -> Result<EventPage, LedgerError> {
        let head = self.store().head().position;
        let end = before.map_or(head + 1, |before| before.min(head + 1));
        let store = self.store().clone();
        let mut window_end = end;
        let windows = std::iter::from_fn(move || {
            if window_end <= 1 {
                return None;
            }
            let start = window_end.saturating_sub(BACKWARD_WINDOW).max(1);
            let window = store.read_from(start, (window_end - start) as usize);
            window_end = start;
            Some(window)
        });
        let newest_first = windows.flat_map(|window| match window {
            Ok(events) => events.into_iter().rev().map(Ok).collect::<Vec<_>>(),
            Err(error) => vec![Err(error)],
        });
        page_of(newest_first, end, filter, first, budget)
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

/// One page from `events` (in the page's order) that the page starts from `start`: up to
/// `first` matching `filter`, reading at most `budget` of them.
fn page_of(
    events: impl Iterator<Item = Result<Envelope, kpi_store::StoreError>>,
    start: u64,
    filter: &EventFilter,
    first: usize,
    budget: usize,
) -> Result<EventPage, LedgerError> {
    let mut page = Vec::new();
    let mut has_next_page = false;
    let mut resume_at = start;
    for (read, envelope) in events.enumerate() {
        let envelope = envelope?;
        if read == budget {
            has_next_page = true;
            break;
        }
        let recorded = recorded_event(&envelope)?;
        if !filter.matches(&envelope, &recorded) {
            resume_at = envelope.position;
            continue;
        }
        if page.len() == first {
            has_next_page = true;
            break;
        }
        resume_at = envelope.position;
        page.push((envelope, recorded));
    }
    Ok(EventPage {
        events: page,
        has_next_page,
        resume_at,
    })
}
