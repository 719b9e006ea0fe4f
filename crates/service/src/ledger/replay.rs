//! The one fold of the log every table comes from, and its two-thread reader.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use kpi_domain::{EventKind, PlanDefinition, PlanRegistry, Projection, RecordedEvent};
use kpi_store::EventStore;

use crate::convert::{recorded_event, recorded_event_raw};
use crate::error::LedgerError;

/// How much of the log a fold reads, and which activities it counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldLimits {
    /// Transaction time: stop at the first event recorded after this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Valid time: count only activities that happened on or before this date.
    pub through: Option<NaiveDate>,
    /// Stop after this log position (the head read when the fold starts, if lower).
    pub position: Option<u64>,
}

/// The one fold of a whole log that every table comes from: the start-up of `serve`, rebuilds,
/// as-of and through tables, `kpi-ledger table` and `kpi-ledger replay`. The plans in force are
/// the configured ones changed by the log's lifecycle events up to the limits (definitions
/// first), then every event is folded under them.
pub fn fold_log(
    store: &EventStore,
    configured: Vec<PlanDefinition>,
    limits: FoldLimits,
) -> Result<(PlanRegistry, Projection), LedgerError> {
    let position = limits
        .position
        .unwrap_or(u64::MAX)
        .min(store.head().position);
    let lifecycle = read_lifecycle(store)?.into_iter().filter(|event| {
        event.position <= position && limits.as_of.is_none_or(|at| event.recorded_at <= at)
    });
    let registry = PlanRegistry::from_log(configured, lifecycle.collect::<Vec<_>>().iter());
    let limits = FoldLimits {
        position: Some(position),
        ..limits
    };
    let projection = fold(store, registry.plans(), limits)?;
    Ok((registry, projection))
}

/// Folds the log from the start under `plans`, within `limits`.
pub(super) fn fold(
    store: &EventStore,
    plans: Vec<PlanDefinition>,
    limits: FoldLimits,
) -> Result<Projection, LedgerError> {
    let mut projection = Projection::through(plans, limits.through);
    projection.reserve(usize::try_from(store.head().position).unwrap_or(0));
    fold_range(
        store,
        &mut projection,
        1,
        limits.position.unwrap_or(u64::MAX),
        limits.as_of,
    )?;
    Ok(projection)
}

/// Folds every event from position `from` up to the head (as it is now) into `projection`.
pub(super) fn fold_onto(
    store: &EventStore,
    projection: &mut Projection,
    from: u64,
    through: Option<u64>,
) -> Result<u64, LedgerError> {
    fold_range(store, projection, from, through.unwrap_or(u64::MAX), None)
}

/// Folds the events from `from` to `through` (or the head, if lower) into `projection`,
/// stopping at the first event recorded after `until`; returns how many it folded.
///
/// On a long range a second thread reads the log in batches while this one folds. Reading
/// costs about as much as parsing, and folding less, so the parsing is shared: the reader
/// parses a batch itself while the folder has batches queued, and otherwise hands it over raw
/// for the folder to parse. On two cores a replay is then bounded by half the total work
/// rather than by the reader's read-plus-parse.
fn fold_range(
    store: &EventStore,
    projection: &mut Projection,
    from: u64,
    through: u64,
    until: Option<DateTime<Utc>>,
) -> Result<u64, LedgerError> {
    const BATCH: usize = 1024;
    let through = through.min(store.head().position);
    if through < from {
        return Ok(0);
    }
    let envelopes = store
        .iter_raw_from(from)
        .take_while(move |envelope| {
            envelope
                .as_ref()
                .map_or(true, |envelope| envelope.position <= through)
        })
        .map(|envelope| envelope.map_err(LedgerError::from))
        .take_while(move |envelope| {
            // The log is in recorded order: the as-of prefix ends at the first later event.
            envelope.as_ref().map_or(true, |envelope| {
                until.is_none_or(|at| envelope.recorded_at <= at)
            })
        });
    let mut folded = 0;
    if through - from < BATCH as u64 * 4 {
        for envelope in envelopes {
            projection.apply(&recorded_event_raw(envelope?)?);
            folded += 1;
        }
        return Ok(folded);
    }
    enum Batch {
        Parsed(Vec<RecordedEvent>),
        Raw(Vec<kpi_store::RawEnvelope>),
    }
    let queued = Arc::new(AtomicU64::new(0));
    let (batches, received) = std::sync::mpsc::sync_channel::<Result<Batch, LedgerError>>(8);
    let reader_queued = queued.clone();
    let reader = std::thread::spawn(move || {
        let send = |batch: Result<Batch, LedgerError>| {
            reader_queued.fetch_add(1, Ordering::Relaxed);
            batches.send(batch).is_ok()
        };
        let mut raw = Vec::with_capacity(BATCH);
        let mut envelopes = envelopes.peekable();
        while let Some(envelope) = envelopes.next() {
            match envelope {
                Ok(envelope) => raw.push(envelope),
                Err(error) => {
                    send(Err(error));
                    return;
                }
            }
            if raw.len() < BATCH && envelopes.peek().is_some() {
                continue;
            }
            let batch = std::mem::replace(&mut raw, Vec::with_capacity(BATCH));
            let batch = if reader_queued.load(Ordering::Relaxed) >= 2 {
                // The folder is behind: parse here.
                match batch.into_iter().map(recorded_event_raw).collect() {
                    Ok(parsed) => Ok(Batch::Parsed(parsed)),
                    Err(error) => Err(error),
                }
            } else {
                Ok(Batch::Raw(batch))
            };
            if !send(batch) {
                return;
            }
        }
    });
    for batch in received {
        queued.fetch_sub(1, Ordering::Relaxed);
        match batch? {
            Batch::Parsed(events) => {
                for recorded in &events {
                    projection.apply(recorded);
                }
                folded += events.len() as u64;
            }
            Batch::Raw(envelopes) => {
                folded += envelopes.len() as u64;
                for envelope in envelopes {
                    projection.apply(&recorded_event_raw(envelope)?);
                }
            }
        }
    }
    reader.join().expect("the log reader panicked");
    Ok(folded)
}

/// The lifecycle events of the log, in position order: fold them with
/// [`PlanRegistry::from_log`] for the plans in force.
pub fn read_lifecycle(store: &EventStore) -> Result<Vec<RecordedEvent>, LedgerError> {
    let mut events = Vec::new();
    for kind in EventKind::ALL
        .into_iter()
        .filter(|kind| kind.is_lifecycle())
    {
        for envelope in store.read_by_type(kind.name(), 1, usize::MAX)? {
            events.push(recorded_event(&envelope)?);
        }
    }
    events.sort_by_key(|event| event.position);
    Ok(events)
}
