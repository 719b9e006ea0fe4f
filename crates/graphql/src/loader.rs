//! Batched event reads. Drill-downs name events by id in every cell of a table; resolving
//! each id on its own would read the store once per cell and per event. The DataLoader
//! collects the ids every resolver of one answer asks for and reads them in one batch, on
//! one blocking task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::Context;
use kpi_service::Envelope;
use kpi_service::Ledger;
use uuid::Uuid;

use crate::error::{internal, storage_unavailable};
use crate::types::Event;

/// Counts the store reads of the event loader: how many batches, and how many events in
/// them. Cheap to clone; every clone sees the same counts.
#[derive(Debug, Clone, Default)]
pub struct EventLoads {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    batches: AtomicU64,
    events: AtomicU64,
}

impl EventLoads {
    /// Batches read from the store so far.
    pub fn batches(&self) -> u64 {
        self.inner.batches.load(Ordering::Relaxed)
    }

    /// Event ids looked up so far, over all batches.
    pub fn events(&self) -> u64 {
        self.inner.events.load(Ordering::Relaxed)
    }
}

pub(crate) struct EventLoader {
    ledger: Ledger,
    loads: EventLoads,
}

pub(crate) type EventDataLoader = DataLoader<EventLoader>;

pub(crate) fn event_data_loader(ledger: Ledger, loads: EventLoads) -> EventDataLoader {
    DataLoader::new(EventLoader { ledger, loads }, tokio::spawn)
}

/// Why a batch of events could not be read.
#[derive(Debug)]
pub(crate) enum LoadFailure {
    Store(kpi_service::StoreError),
    Task(String),
}

impl From<kpi_service::StoreError> for LoadFailure {
    fn from(error: kpi_service::StoreError) -> Self {
        LoadFailure::Store(error)
    }
}

impl std::fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadFailure::Store(error) => error.fmt(f),
            LoadFailure::Task(error) => write!(f, "the reading task failed: {error}"),
        }
    }
}

impl Loader<Uuid> for EventLoader {
    type Value = Arc<Envelope>;
    type Error = Arc<LoadFailure>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Arc<Envelope>>, Arc<LoadFailure>> {
        self.loads.inner.batches.fetch_add(1, Ordering::Relaxed);
        self.loads
            .inner
            .events
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        let ledger = self.ledger.clone();
        let keys = keys.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut found = HashMap::with_capacity(keys.len());
            for id in keys {
                if let Some(envelope) = ledger.store().get(id)? {
                    found.insert(id, Arc::new(envelope));
                }
            }
            Ok(found)
        })
        .await
        .map_err(|error| LoadFailure::Task(error.to_string()))
        .and_then(|result| result)
        .map_err(Arc::new)
    }
}

pub(crate) fn ledger<'a>(ctx: &'a Context<'_>) -> &'a Ledger {
    ctx.data_unchecked::<Ledger>()
}

/// The events with these ids, in the order given; ids the store does not know are skipped
/// (a projection only names events it has read from the log, so none are expected). The
/// events share one `EventList`, so a field all of them select is read once for the list.
pub(crate) async fn load_events(
    ctx: &Context<'_>,
    ids: &[Uuid],
) -> async_graphql::Result<Vec<Event>> {
    let found = load_envelopes(ctx, ids).await?;
    Ok(Event::list(
        ids.iter().filter_map(|id| found.get(id).cloned()).collect(),
    ))
}

/// The envelopes of these ids, read through the request's loader (batched with every other
/// read of the same moment).
pub(crate) async fn load_envelopes(
    ctx: &Context<'_>,
    ids: &[Uuid],
) -> async_graphql::Result<HashMap<Uuid, Arc<Envelope>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let loader = ctx.data_unchecked::<EventDataLoader>();
    loader
        .load_many(ids.iter().copied())
        .await
        .map_err(|error| match &*error {
            LoadFailure::Store(store) if store.is_storage_failure() => {
                storage_unavailable(store.to_string())
            }
            other => internal(other),
        })
}
