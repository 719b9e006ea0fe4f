use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kpi_domain::{
    AuditFinding, KpiTable, LedgerEvent, PlanDefinition, Projection, RecordedEvent, StreamRule,
    ValidationError,
};
use kpi_store::{
    AppendError, Envelope, EventStore, ExpectedVersion, Head, NewEvent, Occurred, StoreConfig,
    StreamId,
};
use tokio::sync::{broadcast, watch};

use crate::convert::{recorded_event, recorded_event_raw};
use crate::error::{LedgerError, RecordError};

/// Optional facts of one record call.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// Makes a retry harmless: the same key and event return the original envelope.
    pub idempotency_key: Option<String>,
    /// Where the figure was taken from, e.g. "FY2024 report, KPI table".
    pub provenance: Option<String>,
}

/// Sent after the projection has folded events that may have changed a KPI table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableChanged {
    /// The log position the tables now reflect.
    pub position: u64,
}

/// One event of an import (seed file, bulk file), keyed so that re-importing is harmless.
#[derive(Debug, Clone)]
pub struct ImportRecord {
    pub idempotency_key: String,
    pub provenance: Option<String>,
    pub event: LedgerEvent,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Events written by this import.
    pub appended: usize,
    /// Events found already recorded (same idempotency key and content): nothing written.
    pub already_recorded: usize,
}

/// The ledger service: the store plus the live projection that follows it. Cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    store: EventStore,
    projection: RwLock<Projection>,
    projected: watch::Sender<u64>,
    table_changed: broadcast::Sender<TableChanged>,
}

impl Ledger {
    /// Opens (or creates) the store in `dir`, folds the whole log into the projection of
    /// `plans`, and starts following the log. Needs a Tokio runtime.
    pub async fn open(
        dir: &Path,
        store_config: StoreConfig,
        plans: Vec<PlanDefinition>,
    ) -> Result<Ledger, LedgerError> {
        let dir = dir.to_path_buf();
        let (store, projection) = tokio::task::spawn_blocking(move || {
            let store = EventStore::open(&dir, store_config)?;
            let projection = fold(&store, plans, None)?;
            Ok::<_, LedgerError>((store, projection))
        })
        .await
        .expect("opening the ledger panicked")?;
        let position = projection.last_position();
        tracing::info!(position, "projection built from the log");
        let (projected, _) = watch::channel(position);
        let (table_changed, _) = broadcast::channel(64);
        let ledger = Ledger {
            inner: Arc::new(Inner {
                store,
                projection: RwLock::new(projection),
                projected,
                table_changed,
            }),
        };
        tokio::spawn(follow(Arc::downgrade(&ledger.inner), position + 1));
        Ok(ledger)
    }

    pub fn store(&self) -> &EventStore {
        &self.inner.store
    }

    pub fn head(&self) -> Head {
        self.inner.store.head()
    }

    /// Whether the projection reflects every event in the log (`/readyz`).
    pub fn is_caught_up(&self) -> bool {
        *self.inner.projected.borrow() >= self.head().position
    }

    /// Validates `payload` as an event of `event_type` and records it. The error names the
    /// field when the input is at fault; nothing is written then.
    pub async fn record_payload(
        &self,
        actor: &str,
        event_type: &str,
        payload: &serde_json::Value,
        options: RecordOptions,
    ) -> Result<Envelope, RecordError> {
        let event = LedgerEvent::parse(event_type, payload)?;
        self.record(actor, event, options).await
    }

    /// Records one validated event; returns once it is on disk and projected.
    pub async fn record(
        &self,
        actor: &str,
        event: LedgerEvent,
        options: RecordOptions,
    ) -> Result<Envelope, RecordError> {
        if actor.trim().is_empty() {
            return Err(ValidationError::new("actor", "must not be empty").into());
        }
        self.check_amendment_target(&event)?;
        let stream = StreamId::parse(event.stream_id())
            .map_err(|error| ValidationError::new("stream", error.to_string()))?;
        let expected = match event.stream_rule() {
            StreamRule::Any => ExpectedVersion::Any,
            StreamRule::MustBeNew => ExpectedVersion::NoStream,
        };
        let mut new = NewEvent::new(
            event.event_type(),
            Occurred::Date(event.occurred_on()),
            actor,
            event.to_payload(),
        )
        .with_schema_version(event.schema_version());
        new.idempotency_key = options.idempotency_key;
        new.provenance = options.provenance;
        let started = std::time::Instant::now();
        let appended = self.inner.store.append(&stream, expected, vec![new]).await;
        if appended.is_ok() {
            // Names shared with the server's /metrics exporter.
            metrics::counter!("kpi_appends_total").increment(1);
            metrics::histogram!("kpi_append_duration_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        let mut envelopes = match appended {
            Ok(envelopes) => envelopes,
            Err(AppendError::WrongExpectedVersion { .. })
                if event.stream_rule() == StreamRule::MustBeNew =>
            {
                return Err(event.duplicate_error().into());
            }
            Err(error) => return Err(error.into()),
        };
        let envelope = envelopes
            .pop()
            .expect("one event appended, one envelope back");
        self.wait_projected(envelope.position).await?;
        Ok(envelope)
    }

    /// A correction or retraction must name an event that exists, of a suitable kind.
    fn check_amendment_target(&self, event: &LedgerEvent) -> Result<(), RecordError> {
        let Some(target) = event.amendment_target() else {
            return Ok(());
        };
        let envelope = self
            .inner
            .store
            .get(target)
            .map_err(LedgerError::from)?
            .ok_or_else(|| ValidationError::new("target", format!("no event with id {target}")))?;
        event.check_amendment_target(&envelope.event_type)?;
        Ok(())
    }

    /// Appends records idempotently, in file order: a second import writes nothing.
    pub async fn import(
        &self,
        actor: &str,
        records: Vec<ImportRecord>,
    ) -> Result<ImportReport, RecordError> {
        let head_before = self.head().position;
        // Submitting many appends at once lets the store commit them in few flushes; the
        // stream polls them in order, so positions follow the file.
        let results: Vec<Result<Envelope, RecordError>> = futures::stream::iter(records)
            .map(|record| {
                let options = RecordOptions {
                    idempotency_key: Some(record.idempotency_key),
                    provenance: record.provenance,
                };
                self.record(actor, record.event, options)
            })
            .buffered(256)
            .collect()
            .await;
        let mut report = ImportReport::default();
        for result in results {
            if result?.position <= head_before {
                report.already_recorded += 1;
            } else {
                report.appended += 1;
            }
        }
        Ok(report)
    }

    /// Waits until the projection has folded the log up to `position`.
    async fn wait_projected(&self, position: u64) -> Result<(), LedgerError> {
        let mut projected = self.inner.projected.subscribe();
        projected
            .wait_for(|&at| at >= position)
            .await
            .map(|_| ())
            .map_err(|_| LedgerError::ProjectionStopped)
    }

    /// The live projection (read lock held while the guard lives; keep it short).
    pub fn projection(&self) -> RwLockReadGuard<'_, Projection> {
        self.inner
            .projection
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn plans(&self) -> Vec<PlanDefinition> {
        self.projection().plans().to_vec()
    }

    /// A plan's KPI table now, or as recorded up to `as_of`.
    pub async fn table(
        &self,
        plan_id: &str,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<KpiTable, LedgerError> {
        let table = match as_of {
            None => self.projection().table(plan_id),
            Some(at) => self.projection_as_of(at).await?.table(plan_id),
        };
        table.ok_or_else(|| LedgerError::UnknownPlan(plan_id.to_owned()))
    }

    /// The projection of the part of the log recorded up to `at`.
    pub async fn projection_as_of(&self, at: DateTime<Utc>) -> Result<Projection, LedgerError> {
        let store = self.inner.store.clone();
        let plans = self.plans();
        tokio::task::spawn_blocking(move || fold(&store, plans, Some(at)))
            .await
            .expect("as-of fold panicked")
    }

    pub fn audit_findings(&self) -> Vec<AuditFinding> {
        self.projection().audit_findings()
    }

    /// Notified whenever newly projected events may have changed a table.
    pub fn table_changes(&self) -> broadcast::Receiver<TableChanged> {
        self.inner.table_changed.subscribe()
    }

    /// Reads one event by id as a domain event.
    pub fn event(&self, id: uuid::Uuid) -> Result<Option<(Envelope, RecordedEvent)>, LedgerError> {
        match self.inner.store.get(id)? {
            None => Ok(None),
            Some(envelope) => {
                let recorded = recorded_event(&envelope)?;
                Ok(Some((envelope, recorded)))
            }
        }
    }

    /// Stops the store after in-flight appends are committed, and flushes.
    pub async fn close(self) {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner.store.close().await,
            Err(shared) => shared.store.clone().close().await,
        }
    }
}

/// Folds the log from the start, stopping at the first event recorded after `until`.
///
/// Reading and parsing run on a second thread, in batches, while this one folds: on two
/// cores a replay is then bounded by the slower of the two stages rather than their sum.
fn fold(
    store: &EventStore,
    plans: Vec<PlanDefinition>,
    until: Option<DateTime<Utc>>,
) -> Result<Projection, LedgerError> {
    const BATCH: usize = 1024;
    let mut projection = Projection::new(plans);
    projection.reserve(usize::try_from(store.head().position).unwrap_or(0));
    let (batches, received) =
        std::sync::mpsc::sync_channel::<Result<Vec<RecordedEvent>, LedgerError>>(8);
    let reader_store = store.clone();
    let reader = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        for envelope in reader_store.iter_raw_from(1) {
            let recorded = envelope.map_err(LedgerError::from).and_then(|envelope| {
                if until.is_some_and(|at| envelope.recorded_at > at) {
                    Ok(None)
                } else {
                    recorded_event_raw(envelope).map(Some)
                }
            });
            match recorded {
                Ok(Some(recorded)) => batch.push(recorded),
                Ok(None) => break,
                Err(error) => {
                    let _ = batches.send(Err(error));
                    return;
                }
            }
            if batch.len() == BATCH
                && batches
                    .send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))))
                    .is_err()
            {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = batches.send(Ok(batch));
        }
    });
    for batch in received {
        for recorded in batch? {
            projection.apply(&recorded);
        }
    }
    reader.join().expect("the log reader panicked");
    Ok(projection)
}

/// Follows the log from `from` and folds each event into the live projection, in position
/// order. Ends when the ledger is dropped or the store closes.
async fn follow(inner: std::sync::Weak<Inner>, from: u64) {
    let stream = match inner.upgrade() {
        Some(inner) => inner.store.subscribe(from),
        None => return,
    };
    futures::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        let Some(inner) = inner.upgrade() else { return };
        let envelope = match item {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::error!(%error, "projection cannot read the log; it stops following");
                return;
            }
        };
        match recorded_event(&envelope) {
            Ok(recorded) => inner
                .projection
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .apply(&recorded),
            // Recorded events were validated on the way in; one that no longer parses is
            // skipped loudly rather than stopping every later figure.
            Err(error) => tracing::error!(%error, "event skipped by the projection"),
        }
        inner.projected.send_replace(envelope.position);
        let _ = inner.table_changed.send(TableChanged {
            position: envelope.position,
        });
    }
}
